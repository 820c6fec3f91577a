/* SPDX-License-Identifier: MIT */
/*
 * netpoll_epoll.c - the fallback back-end, for kernels and sandboxes
 * without io_uring (ENOSYS: old kernels, gVisor; EPERM: the
 * io_uring_disabled sysctl, Docker's default seccomp profile), or when
 * RINGO_NETPOLL=epoll asks for it.
 *
 * As Go's netpoll_epoll.go: one epoll set for the process, every socket
 * registered once, edge-triggered, for input and output. A goroutine tries
 * its system call first (op.c) and parks only on EAGAIN; an event bumps
 * the descriptor's readiness sequence and readies the goroutines waiting
 * for that direction, which try again.
 *
 * At most one idle M blocks in epoll_wait at a time (the poller); the other
 * idle Ms sleep on their own note (m->np_note). ringo__netpoll_wake wakes
 * the M that sleeps on the P, and writes the eventfd too when that M is
 * the poller. A P that is
 * looking for work polls without blocking; sysmon polls when nobody has for
 * a while (every P busy), as Go's sysmon does.
 */
#include "netpoll.h"

#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVENTS 128

static struct {
	int epfd;
	int evfd;				/* wakes the poller */
	struct ringo__netpoll *_Atomic poller;	/* the M blocked in epoll_wait, by its P */
	_Atomic int64_t lastpoll;		/* when anyone last polled */
} E = { -1, -1, NULL, 0 };

int ringo__epoll_global_init(void)
{
	E.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (E.epfd < 0)
		return -errno;
	E.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (E.evfd < 0) {
		int e = -errno;
		close(E.epfd);
		E.epfd = -1;
		return e;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(E.epfd, EPOLL_CTL_ADD, E.evfd, &ev) < 0) {
		int e = -errno;
		ringo__epoll_global_fini();
		return e;
	}
	atomic_store(&E.poller, NULL);
	atomic_store(&E.lastpoll, ringo__nanotime());
	return 0;
}

void ringo__epoll_global_fini(void)
{
	if (E.evfd >= 0)
		close(E.evfd);
	if (E.epfd >= 0)
		close(E.epfd);
	E.evfd = E.epfd = -1;
}

int ringo__epoll_init(struct ringo__netpoll *np)
{
	(void)np;
	return 0;
}

void ringo__epoll_destroy(struct ringo__netpoll *np)
{
	(void)np;
}

int ringo__epoll_add(struct ringo__fd *pd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.ptr = pd };
	int r = epoll_ctl(E.epfd, EPOLL_CTL_ADD, pd->fd, &ev);
	if (r < 0 && errno == EEXIST)
		r = epoll_ctl(E.epfd, EPOLL_CTL_MOD, pd->fd, &ev);
	if (r < 0)
		return -errno;
	pd->ep_added = true;
	return 0;
}

void ringo__epoll_del(struct ringo__fd *pd)
{
	(void)epoll_ctl(E.epfd, EPOLL_CTL_DEL, pd->fd, NULL);
	pd->ep_added = false;
}

#define READ_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLPRI)
#define ANY_ERROR (EPOLLHUP | EPOLLERR)

/* Deliver events: bump sequences, collect the goroutines to retry. Only
 * the blocking poller drains the wake-up eventfd (it is level-triggered):
 * a non-blocking poll on another M that ate it would leave the poller
 * asleep. */
static void handle(struct epoll_event *evs, int n, struct ringo__glist *l, bool poller)
{
	for (int i = 0; i < n; i++) {
		struct ringo__fd *pd = evs[i].data.ptr;
		if (!pd) {
			uint64_t v;
			if (poller)
				(void)!read(E.evfd, &v, sizeof v);
			continue;
		}
		uint32_t e = evs[i].events;
		bool rd = e & (READ_EVENTS | ANY_ERROR);
		bool wr = e & (EPOLLOUT | ANY_ERROR);
		ringo__lock(&pd->lock);
		/* release: pairs with the acquire in op.c's ep_seq */
		if (rd)
			atomic_fetch_add_explicit(&pd->rseq, 1, memory_order_release);
		if (wr)
			atomic_fetch_add_explicit(&pd->wseq, 1, memory_order_release);
		for (struct ringo__op *op = pd->ops, *next; op; op = next) {
			next = op->next;
			uint32_t want = op->arg2_events;
			if ((rd && (want & READ_EVENTS)) || (wr && (want & EPOLLOUT)) ||
			    (want & e & ANY_ERROR)) {
				if (op->prev)
					op->prev->next = op->next;
				else
					pd->ops = op->next;
				if (op->next)
					op->next->prev = op->prev;
				op->next = op->prev = NULL;
				op->res = -EAGAIN;	/* try again */
				ringo__glist_push(l, op->g);
			}
		}
		ringo__unlock(&pd->lock);
	}
}

static int poll_now(struct ringo__glist *l)
{
	struct epoll_event evs[EVENTS];
	int n = epoll_wait(E.epfd, evs, EVENTS, 0);
	atomic_store_explicit(&E.lastpoll, ringo__nanotime(), memory_order_relaxed);
	if (n > 0)
		handle(evs, n, l, false);
	return n;
}

int ringo__epoll_poll(struct ringo__netpoll *np, bool block, int64_t deadline)
{
	struct ringo__glist l = { 0 };
	if (!block) {
		if (atomic_load_explicit(&ringo__sched.nio_waiting, memory_order_relaxed) == 0)
			return 0;	/* nobody waits for readiness */
		poll_now(&l);
		int n = l.n;
		ringo__glist_ready(&l, false);
		return n;
	}

	struct ringo_m *me = ringo__getm();
	ringo__note_clear(&me->np_note);
	if (!ringo__np_sleeper_enter(np, me))
		return 0;
	struct ringo__netpoll *none = NULL;
	bool poller = atomic_compare_exchange_strong(&E.poller, &none, np);
	/* seq_cst load after the store to sleeper: see the doorbell in
	 * netpoll.h. */
	if (!atomic_load(&np->wake_pending) && ringo__p_idle_owner(np->p, me)) {
		if (poller) {
			int ms = -1;
			if (deadline >= 0) {
				int64_t left = deadline - ringo__nanotime();
				ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
			}
			struct epoll_event evs[EVENTS];
			int n = epoll_wait(E.epfd, evs, EVENTS, ms);
			atomic_store_explicit(&E.lastpoll, ringo__nanotime(), memory_order_relaxed);
			if (n > 0)
				handle(evs, n, &l, true);
		} else {
			/* Our own M's note: a new owner of the P cannot clear it. */
			ringo__note_sleep_until(&me->np_note, deadline);
		}
	}
	ringo__np_sleeper_leave(np, me);
	if (poller)
		atomic_store(&E.poller, NULL);
	/* The P is on the idle list and may be someone else's already:
	 * the goroutines go to the global queue. */
	ringo__glist_ready(&l, true);
	return 0;
}

void ringo__epoll_wake(struct ringo__netpoll *np)
{
	atomic_store(&np->wake_pending, 1);
	struct ringo_m *s = atomic_load(&np->sleeper);
	if (!s)
		return;
	/* s may have left and sleep elsewhere by now: a spurious wake-up,
	 * which costs it one look around. */
	ringo__note_wakeup(&s->np_note);
	if (atomic_load(&E.poller) == np) {
		uint64_t one = 1;
		(void)!write(E.evfd, &one, sizeof one);
	}
}

/* sysmon: if every P is busy and no M is blocked in epoll_wait, poll for
 * them now and then (once per round, through P0's call). */
int ringo__epoll_poll_busy(struct ringo__netpoll *np)
{
	if (np->p->id != 0 || atomic_load(&E.poller) != NULL ||
	    atomic_load_explicit(&ringo__sched.nio_waiting, memory_order_relaxed) == 0)
		return 0;
	if (ringo__nanotime() - atomic_load_explicit(&E.lastpoll, memory_order_relaxed) < 1000000)
		return 0;
	struct ringo__glist l = { 0 };
	poll_now(&l);
	int n = l.n;
	ringo__glist_ready(&l, true);
	return n;
}
