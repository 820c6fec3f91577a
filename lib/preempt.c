/* SPDX-License-Identifier: MIT */
/*
 * preempt.c - preemption (DESIGN.md §6), cooperative and asynchronous, as
 * Go 1.14+.
 *
 * Cooperative: gp->preempt asks the running goroutine to yield; every
 * runtime call that can switch checks it (ringo__preempt_check in sched.c),
 * and so does ringo_preempt_point(), which costs a few loads.
 *
 * Asynchronous (x86_64): sysmon, stop-the-world and runtime exit call
 * ringo__preempt_m(m), which sends SIGURG to m's thread unless a signal is
 * already in flight (m->signal_pending: one per M, cleared by the handler
 * when it declines, or by ringo__preempt_park when it accepts). The
 * handler never switches stacks. It preempts only at a safe point:
 *   - the thread is an M (ringo__tls_m), holds no runtime lock
 *     (m->locks == 0) and runs a goroutine (curg, G_RUNNING, with a P) that
 *     was asked to yield;
 *   - the interrupted pc is in the main executable's text, and its sp on
 *     that goroutine's own stack with room to spare. libc, jemalloc,
 *     liburing and libringo itself keep locks and per-thread state that a
 *     migration would break, and a user's signal handler runs on its own
 *     stack; none of those is a safe point.
 * Then it rewrites the signal context to inject a call of
 * ringo__preempt_trampoline (preempt_x86_64.S), which saves every register
 * and the vector state, calls ringo__preempt_park to yield, and on resume
 * returns to the interrupted instruction. Anywhere else it only leaves the
 * preempt flag set for the next cooperative check, and sysmon tries again
 * next round.
 *
 * Off: RINGO_DEBUG=asyncpreemptoff=1; ThreadSanitizer builds (TSan defers
 * signals to its own safe points and runs the handler on a context that is
 * not the interrupted one); aarch64 (no trampoline yet: cooperative only);
 * and when libringo is linked statically into the executable (its own code
 * would then look like a safe point).
 *
 * EINTR. The handler is installed with SA_RESTART, so the kernel restarts
 * interrupted read(), write(), wait(), futex and the like (golang/go#38033
 * was Go 1.14 shipping without that care). Calls that the kernel never
 * restarts after a handler - nanosleep, clock_nanosleep, poll, select,
 * epoll_wait, sigtimedwait and socket calls with a timeout (see signal(7))
 * - can still see EINTR if their thread is signalled; that is why no
 * signal is sent to a thread whose goroutine is in ringo_syscall_enter
 * (its P is in a syscall, sysmon does not preempt it), and why ringo's
 * own blocking calls retry.
 */
#include "runtime.h"
#include "proc.h"

#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>

/* Where the call can be injected: x86_64, and not under TSan (it defers
 * signals to its own safe points and hands the handler a context that is
 * not the interrupted one). Elsewhere the handler is still installed (it
 * chains, and ringo__kick_m works) but never preempts. */
#if defined(__x86_64__) && !defined(RINGO_TSAN)
#include <cpuid.h>
#include <ucontext.h>
#define HAVE_ASYNC_PREEMPT 1
#endif

/* Read by preempt_x86_64.S: keep the layout. */
struct ringo__xsave_info {
	uint32_t size;		/* bytes to reserve for the save area */
	uint32_t use_xsave;	/* 1: XSAVE/XRSTOR; 0: FXSAVE/FXRSTOR */
	uint32_t mask_lo;	/* XCR0: every enabled state component */
	uint32_t mask_hi;
};
RINGO_HIDDEN struct ringo__xsave_info ringo__xsave_info;
RINGO_HIDDEN void ringo__preempt_trampoline(void);
RINGO_HIDDEN void ringo__preempt_park(void);

#define MAX_TEXT 8

static struct {
	bool installed;			/* SIGURG handler in place (once per process) */
	struct sigaction old;		/* the application's previous SIGURG action */
	_Atomic bool enabled;		/* async preemption on for this ringo_run */
	pid_t pid;
	int ntext;
	uintptr_t text_lo[MAX_TEXT], text_hi[MAX_TEXT];	/* executable's code */
	bool static_link;		/* libringo is part of the executable */
} pre;

/* Bytes the injected call may need below the interrupted sp: red zone,
 * return address, saved registers, the save area and the C frames of
 * ringo__preempt_park and the switch. */
#define INJECT_MARGIN (128 + 8 + 128 + 64 + 8192)

/* ------------------------------------------------------------------ */
/* Cooperative                                                           */

void ringo_preempt_point(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (likely(!gp || (!atomic_load_explicit(&gp->preempt, memory_order_relaxed) &&
			   !atomic_load_explicit(&ringo__sched.gcwaiting, memory_order_relaxed))))
		return;
	ringo__preempt_check();
}

/* ------------------------------------------------------------------ */
/* Asynchronous                                                          */

/* Called by the trampoline on the preempted goroutine's stack. */
void ringo__preempt_park(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m->curg;
	/* release: pairs with the exchange in ringo__preempt_m; from here
	 * another signal may come (and will find us in libringo: declined). */
	atomic_store_explicit(&m->signal_pending, 0, memory_order_release);
	atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
	ringo__switch_out(m, gp, SW_PREEMPT);
}

#ifdef HAVE_ASYNC_PREEMPT
static bool in_exec_text(uintptr_t pc)
{
	for (int i = 0; i < pre.ntext; i++)
		if (pc >= pre.text_lo[i] && pc < pre.text_hi[i])
			return true;
	return false;
}

/* Is the interrupted context a safe point of a goroutine asked to yield?
 * If so, inject the call. Async-signal-safe: loads, stores, no locks. */
__attribute__((no_sanitize("address", "undefined")))
static bool try_inject(struct ringo_m *m, ucontext_t *uc)
{
	if (!atomic_load_explicit(&pre.enabled, memory_order_relaxed) || m->locks > 0 || !m->p)
		return false;
	struct ringo_g *gp = m->curg;
	if (!gp || atomic_load_explicit(&gp->status, memory_order_relaxed) != G_RUNNING)
		return false;
	if (!atomic_load_explicit(&gp->preempt, memory_order_relaxed) &&
	    !atomic_load_explicit(&ringo__sched.gcwaiting, memory_order_relaxed))
		return false;	/* a stale signal: this G was not asked */
	greg_t *gr = uc->uc_mcontext.gregs;
	uintptr_t pc = (uintptr_t)gr[REG_RIP], sp = (uintptr_t)gr[REG_RSP];
	if (!in_exec_text(pc))
		return false;
	uintptr_t lo = (uintptr_t)gp->stack.lo, hi = lo + gp->stack.size;
	if (sp > hi || sp < lo + INJECT_MARGIN + ringo__xsave_info.size)
		return false;	/* not on its stack (a signal handler?), or too deep */
	sp -= 128;		/* step over the red zone */
	sp -= 8;
	*(uintptr_t *)sp = pc;	/* the trampoline "returns" there */
	gr[REG_RSP] = (greg_t)sp;
	gr[REG_RIP] = (greg_t)(uintptr_t)ringo__preempt_trampoline;
	return true;
}

#endif /* HAVE_ASYNC_PREEMPT */

static void chain(int sig, siginfo_t *si, void *ctx)
{
	if (pre.old.sa_flags & SA_SIGINFO) {
		if (pre.old.sa_sigaction)
			pre.old.sa_sigaction(sig, si, ctx);
	} else if (pre.old.sa_handler != SIG_DFL && pre.old.sa_handler != SIG_IGN) {
		pre.old.sa_handler(sig);
	}
	/* SIG_DFL for SIGURG is to ignore it. */
}

__attribute__((no_sanitize("address", "undefined")))
static void sigurg(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;
	struct ringo_m *m = ringo__tls_m;
	bool ours = m && si->si_code == SI_TKILL && si->si_pid == pre.pid &&
		atomic_load_explicit(&m->signal_pending, memory_order_acquire);
	if (ours) {
#ifdef HAVE_ASYNC_PREEMPT
		bool injected = try_inject(m, ctx);
#else
		bool injected = false;
#endif
		if (!injected)
			/* Declined: the preempt flag stays for the next
			 * cooperative check; sysmon may signal again. */
			atomic_store_explicit(&m->signal_pending, 0, memory_order_release);
	} else {
		chain(sig, si, ctx);
	}
	errno = saved;
}

#ifdef HAVE_ASYNC_PREEMPT
static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	int *nobj = arg;
	uintptr_t self = (uintptr_t)&ringo__preempt_init;
	bool first = (*nobj)++ == 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (first && pre.ntext < MAX_TEXT) {
			pre.text_lo[pre.ntext] = lo;
			pre.text_hi[pre.ntext] = hi;
			pre.ntext++;
			if (self >= lo && self < hi)
				pre.static_link = true;
		}
	}
	return first ? 0 : 1;	/* the executable is the first object */
}

static void init_xsave(void)
{
	unsigned a, b, c, d;
	struct ringo__xsave_info *x = &ringo__xsave_info;
	x->use_xsave = 0;
	x->size = 512 + 64;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_XSAVE) && (c & bit_OSXSAVE)) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		__cpuid_count(0xd, 0, a, b, c, d);
		if (b >= 576) {
			x->mask_lo = lo;
			x->mask_hi = hi;
			x->size = b + 64;	/* ebx: size for the components XCR0 enables */
			x->use_xsave = 1;
		}
	}
}
#endif /* HAVE_ASYNC_PREEMPT */

void ringo__preempt_init(void)
{
	if (!pre.installed) {
#ifdef HAVE_ASYNC_PREEMPT
		init_xsave();
		int nobj = 0;
		dl_iterate_phdr(find_text, &nobj);
#endif
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = sigurg;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigfillset(&sa.sa_mask);
		if (sigaction(SIGURG, &sa, &pre.old) == 0)
			pre.installed = true;
	}
	pre.pid = getpid();
	const char *why = NULL;
#ifndef HAVE_ASYNC_PREEMPT
#ifdef RINGO_TSAN
	why = "ThreadSanitizer build";
#else
	why = "not implemented on this architecture";
#endif
#endif
	if (!why && ringo__debug.asyncpreemptoff)
		why = "asyncpreemptoff=1";
	if (!why && pre.static_link)
		why = "libringo is linked into the executable";
	if (!why && (!pre.installed || pre.ntext == 0))
		why = "no SIGURG handler";
	atomic_store(&pre.enabled, why == NULL);
	if (ringo__debug.verbose)
		fprintf(stderr, "ringo: async preemption %s%s\n", why ? "off: " : "on",
			why ? why : "");
}

bool ringo__preempt_async_on(void)
{
	return atomic_load_explicit(&pre.enabled, memory_order_relaxed);
}

/* Other threads' M and G fields are read here without their locks (the
 * callers are sysmon, stop-the-world, exit): a stale value costs a signal
 * that the handler declines. The status load is seq_cst: signal_m's
 * second look pairs with ringo_syscall_enter (see there). */
#define RACY RINGO_UNINSTRUMENTED
RACY static bool racy_running(struct ringo_m *m)
{
	struct ringo_g *gp = m->curg;
	return gp && atomic_load(&gp->status) == G_RUNNING;
}
RACY static pid_t racy_tid(struct ringo_m *m) { return m->exited ? 0 : m->tid; }

/* Is thread tid asleep in the kernel (state S or D)? fd is left open for
 * the caller to close after signalling: the signal follows the look as
 * closely as possible. */
static bool asleep_in_kernel(pid_t tid, int *fdp)
{
	char path[64], buf[128];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	int fd = *fdp = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "tid (comm) S ...": the state follows the last ')' */
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

/* Send SIGURG to m's thread if it runs a goroutine in its own code.
 *  - Never to a goroutine in a system call (ringo_syscall_enter): it runs
 *    no code of ours, and a signal would make the calls the kernel does
 *    not restart after a handler (nanosleep, poll, epoll_wait ...) fail
 *    with EINTR. The status is looked at again after signal_pending is
 *    set, and ringo_syscall_enter waits out a signal already decided on
 *    (ringo__preempt_signal_wait), so none can land in the call.
 *  - Nor to a thread asleep in the kernel: a goroutine that blocks without
 *    ringo_syscall_enter cannot be preempted there (its pc is in libc),
 *    and the same EINTR applies. The state is read from /proc and the
 *    signal sent at once; the window in which the thread can still enter
 *    such a call is small, not empty (ringo_preempt_point(3) says so).
 * Three or four system calls: this is for goroutines past their slice. */
static void signal_m(struct ringo_m *m)
{
	if (!m || m == ringo__tls_m || !racy_running(m))
		return;
	/* acq_rel: pairs with the handler's or ringo__preempt_park's clear;
	 * only one SIGURG in flight per M. */
	if (atomic_exchange(&m->signal_pending, 1))
		return;
	int saved = errno;
	pid_t tid = racy_tid(m);
	int fd = -1;
	/* The second look, after the exchange (seq_cst): pairs with
	 * ringo_syscall_enter's store of G_SYSCALL and its wait. */
	bool sent = tid > 0 && racy_running(m) && !asleep_in_kernel(tid, &fd) &&
		    syscall(SYS_tgkill, pre.pid, tid, SIGURG) == 0;
	if (fd >= 0)
		close(fd);
	if (!sent)
		atomic_store(&m->signal_pending, 0);
	errno = saved;
}

/* Called by m itself, its goroutine just marked G_SYSCALL (seq_cst): if
 * signal_m saw it running, the signal is on its way or being decided on;
 * wait until the handler has declined it or signal_m sent none. Usually
 * short: a tgkill is delivered at once to a running thread. Longer when
 * sysmon lost its CPU between its look and the tgkill (yield to it), or
 * when this thread blocks SIGURG: then the signal waits in the kernel and
 * cannot interrupt the call; the handler clears signal_pending once the
 * thread unblocks it. */
void ringo__preempt_signal_wait(struct ringo_m *m)
{
	for (int spins = 0; unlikely(atomic_load(&m->signal_pending)); spins++) {
#ifdef RINGO_TSAN
		/* TSan runs a deferred handler on leaving an intercepted call */
		ringo__nanotime();
#endif
		if (spins < 1000) {
			ringo__cpu_relax();
			continue;
		}
		sigset_t cur;
		if (pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGURG))
			return;
		sched_yield();
	}
}

void ringo__preempt_m(struct ringo_m *m)
{
	if (atomic_load_explicit(&pre.enabled, memory_order_relaxed))
		signal_m(m);
}

void ringo__kick_m(struct ringo_m *m)
{
	if (pre.installed)
		signal_m(m);
}
