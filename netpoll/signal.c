/* SPDX-License-Identifier: MIT */
/*
 * signal.c - signals as channel sends (Go's os/signal.Notify and Stop).
 *
 * ringo_signal_notify(c, signo) installs a handler for signo that only
 * counts the signal and writes to an eventfd (both async-signal-safe). A
 * watcher goroutine, started with the first notification, reads that
 * eventfd through the netpoller and sends each signal number (an int) to
 * every channel registered for it, without blocking: like Go, a signal
 * that finds the channel's buffer full is dropped, so give the channel a
 * buffer. While the watcher waits it counts as a goroutine blocked on I/O,
 * so a program that waits for a signal is not "deadlocked"; when the last
 * notification is stopped the watcher exits and the handlers are restored.
 *
 * ringo owns SIGURG (preemption) and the synchronous fault signals; those,
 * and signals that cannot be caught, are refused with -EINVAL.
 */
#include "netpoll.h"

#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NSIG_MAX 65

struct sigwatch {
	ringo_chan *c;
	struct sigwatch *next;
};

static struct {
	ringo__lock_t lock;
	struct sigwatch *watch[NSIG_MAX];	/* channels per signal [lock] */
	struct sigaction old[NSIG_MAX];		/* disposition before us [lock] */
	bool installed[NSIG_MAX];		/* our handler is in place [lock] */
	int nwatch;				/* registrations [lock] */
	bool watcher;				/* the watcher goroutine runs [lock] */
	uint64_t gen;				/* ringo_run generation of this state */
} S;

static _Atomic uint32_t pending[NSIG_MAX];	/* counted by the handler */
static _Atomic int sigfd = -1;			/* eventfd the handler writes */

static void handler(int signo)
{
	int saved = errno;
	/* relaxed: the eventfd write and read order the watcher after us */
	atomic_fetch_add_explicit(&pending[signo], 1, memory_order_relaxed);
	int fd = atomic_load_explicit(&sigfd, memory_order_relaxed);
	if (fd >= 0) {
		uint64_t one = 1;
		(void)!write(fd, &one, sizeof one);
	}
	errno = saved;
}

static bool refused(int signo)
{
	return signo <= 0 || signo >= NSIG_MAX || signo == SIGKILL || signo == SIGSTOP ||
	       signo == SIGURG || signo == SIGSEGV || signo == SIGBUS || signo == SIGFPE ||
	       signo == SIGILL || signo == SIGTRAP;
}

/* A new ringo_run: forget the state of an earlier one. */
static void reset_if_stale(void)
{
	if (S.gen != ringo__sched.run_generation) {
		memset(S.watch, 0, sizeof S.watch);
		memset(S.installed, 0, sizeof S.installed);
		S.nwatch = 0;
		S.watcher = false;
		S.gen = ringo__sched.run_generation;
	}
}

static void watcher(void *arg)
{
	int fd = (int)(intptr_t)arg;
	for (;;) {
		uint64_t v;
		ssize_t r = ringo_read(fd, &v, sizeof v);
		if (r < 0 && r != -EAGAIN && r != -EINTR)
			break;
		ringo__lock(&S.lock);
		if (S.nwatch == 0) {
			S.watcher = false;
			atomic_store(&sigfd, -1);
			ringo__unlock(&S.lock);
			break;
		}
		for (int s = 1; s < NSIG_MAX; s++) {
			uint32_t n = atomic_exchange_explicit(&pending[s], 0, memory_order_relaxed);
			for (; n; n--)
				for (struct sigwatch *w = S.watch[s]; w; w = w->next) {
					int signo = s;
					(void)ringo_chan_try_send(w->c, &signo);
				}
		}
		ringo__unlock(&S.lock);
	}
	ringo_close(fd);
}

int ringo_signal_notify(ringo_chan *c, int signo)
{
	if (!ringo__np_g())
		return -EPERM;
	if (!c || refused(signo))
		return -EINVAL;
	struct sigwatch *w = ringo__alloc(sizeof *w);
	if (!w)
		return -ENOMEM;
	ringo__lock(&S.lock);
	reset_if_stale();
	for (struct sigwatch *x = S.watch[signo]; x; x = x->next)
		if (x->c == c) {
			ringo__unlock(&S.lock);
			ringo__free(w, sizeof *w);
			return 0;	/* already registered */
		}
	if (!S.watcher) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			int e = -errno;
			ringo__unlock(&S.lock);
			ringo__free(w, sizeof *w);
			return e;
		}
		int r = ringo_go(watcher, (void *)(intptr_t)fd);
		if (r < 0) {
			close(fd);
			ringo__unlock(&S.lock);
			ringo__free(w, sizeof *w);
			return r;
		}
		atomic_store(&sigfd, fd);
		S.watcher = true;
	}
	if (!S.installed[signo]) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = handler;
		sa.sa_flags = SA_RESTART | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		if (sigaction(signo, &sa, &S.old[signo]) < 0) {
			int e = -errno;
			ringo__unlock(&S.lock);
			ringo__free(w, sizeof *w);
			return e;
		}
		S.installed[signo] = true;
	}
	w->c = ringo_chan_ref(c);
	w->next = S.watch[signo];
	S.watch[signo] = w;
	S.nwatch++;
	ringo__unlock(&S.lock);
	return 0;
}

int ringo_signal_stop(ringo_chan *c)
{
	if (!ringo__np_g())
		return -EPERM;
	if (!c)
		return -EINVAL;
	struct sigwatch *gone = NULL;
	ringo__lock(&S.lock);
	reset_if_stale();
	for (int s = 1; s < NSIG_MAX; s++) {
		for (struct sigwatch **pw = &S.watch[s]; *pw;) {
			struct sigwatch *w = *pw;
			if (w->c != c) {
				pw = &w->next;
				continue;
			}
			*pw = w->next;
			w->next = gone;
			gone = w;
			S.nwatch--;
		}
		if (!S.watch[s] && S.installed[s]) {
			sigaction(s, &S.old[s], NULL);
			S.installed[s] = false;
		}
	}
	int fd = atomic_load(&sigfd);
	if (S.nwatch == 0 && fd >= 0) {
		uint64_t one = 1;
		(void)!write(fd, &one, sizeof one);	/* the watcher sees none left and exits */
	}
	ringo__unlock(&S.lock);
	while (gone) {
		struct sigwatch *next = gone->next;
		ringo_chan_unref(gone->c);
		ringo__free(gone, sizeof *gone);
		gone = next;
	}
	return 0;
}

/* Runtime exit: put the old handlers back and drop the channels. */
RINGO_HIDDEN void ringo__signal_fini(void);
void ringo__signal_fini(void)
{
	ringo__lock(&S.lock);
	if (S.gen == ringo__sched.run_generation) {
		for (int s = 1; s < NSIG_MAX; s++) {
			if (S.installed[s])
				sigaction(s, &S.old[s], NULL);
			S.installed[s] = false;
			while (S.watch[s]) {
				struct sigwatch *w = S.watch[s];
				S.watch[s] = w->next;
				ringo_chan_unref(w->c);
				ringo__free(w, sizeof *w);
			}
		}
		S.nwatch = 0;
		S.watcher = false;
	}
	int fd = atomic_exchange(&sigfd, -1);
	if (fd >= 0)
		close(fd);	/* the watcher was abandoned with the runtime */
	ringo__unlock(&S.lock);
}
