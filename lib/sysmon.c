/* SPDX-License-Identifier: MIT */
/*
 * sysmon.c - the system monitor (DESIGN.md §6; Go's sysmon): one thread
 * without a P, started by ringo_run, that keeps the scheduler honest.
 * Each round it
 *   - retakes Ps whose M has been in a system call for a whole round
 *     (ringo_syscall_enter ... exit) and hands them to another M, on Go's
 *     conditions: the P has work queued, or no M is spinning or idle to
 *     pick up new work, or the call has lasted more than 10 ms;
 *   - asks a goroutine that has held its P for 10 ms (schedtick unchanged)
 *     to yield: sets its preempt flag and signals its M (preempt.c);
 *   - runs overdue timers of Ps nobody is looking at (in a system call,
 *     idle with no M, or busy in one goroutine); the callbacks run here,
 *     without a P, and ready their goroutines onto the global queue;
 *   - gives back the stack pages of dead Gs cached beyond a warm reserve
 *     that nobody reused for a second (proc.c, ringo__gfree_idle);
 *   - wakes an idle P when the global run queue has work and no M spins,
 *     or when goroutines have waited in a busy P's queue for two rounds
 *     (the wake-up ringo__runqput_ready leaves out; one in runnext alone
 *     only if the P has not switched meanwhile).
 *
 * It is not an M: it runs no goroutines, holds no P and is not counted in
 * sched.mcount, so checkdead()'s arithmetic does not see it.
 *
 * Pacing. Go's: 20 µs between rounds, doubling after 50 rounds that found
 * nothing to do, up to 10 ms. Two things shorten a sleep. While any P runs
 * goroutines sysmon looks at least every SYSMON_BUSY_MAX (1 ms), and it
 * wakes exactly when a goroutine's 10 ms slice ends, so the slice is
 * enforced within about 1 ms (Go's can run to 20 ms). It also wakes for the
 * earliest timer of a P that nobody else will run. And a goroutine that
 * enters a system call while work waits behind it and sysmon is in a long
 * sleep kicks it awake (ringo__sysmon_kick), so the hand-off does not wait
 * out a 10 ms sleep. Sleeps are on a note, so ringo__sysmon_stop returns
 * at once.
 *
 * Everything here reads other Ms' and Ps' state racily, as Go's sysmon
 * does: Ps and Ms are never freed while ringo_run runs, and every action
 * is either a CAS (retake) or harmless when stale (a preempt flag set on a
 * goroutine that already yielded costs one extra yield).
 */
#include "runtime.h"
#include "proc.h"

#include <stdio.h>
#include <sys/prctl.h>

#define SYSMON_MIN_US 20
#define SYSMON_MAX_US 10000
#define SYSMON_BUSY_MAX_NS 1000000	/* look at least this often while Ps run */
#define SYSMON_DEEP_NS 200000		/* a sleep this long may be kicked */
#define FORCE_PREEMPT_NS 10000000	/* Go's forcePreemptNS: the time slice */
#define SYSCALL_RETAKE_NS 10000000	/* retake even with idle Ms after this */
#define TIMER_BACKSTOP_NS 1000000	/* run anyone's timers this overdue */
#define TRIM_BATCH 256			/* dead Gs' stacks trimmed per round */
#define TRIM_WINDOW_NS 1000000000	/* trim dead Gs unused this long */
#define MAXPROCS 1024

/* What sysmon remembers of each P between rounds (sysmon thread only). */
struct pdata {
	uint32_t schedtick;	/* p->schedtick when last seen */
	uint32_t switches;	/* p->schedtick + p->handofftick when last seen */
	int64_t schedwhen;	/* when this tick's goroutine started, at the latest */
	uint32_t syscalltick;	/* p->syscalltick when last seen */
	int64_t syscallwhen;	/* when that system call was first seen */
	bool running;		/* the P was running (or in a syscall) last round */
	bool queued;		/* it had goroutines queued last round */
};

static struct {
	pthread_t thread;
	bool started;			/* [ringo_run's thread] */
	_Atomic bool stop;		/* ringo__sysmon_stop -> sysmon */
	ringo__note_t note;		/* sysmon sleeps here */
	/* Set while sysmon sleeps long; ringo__sysmon_kick clears it with an
	 * exchange, so one kicker pays for the wake-up. */
	_Atomic bool deep;
	struct pdata pd[MAXPROCS];	/* [sysmon thread] */
} sm;

/* sysmon reads other threads' scheduler state without their locks, as Go's
 * does: p->m, m->curg and allp[i] are plain fields their owners
 * write. A stale value costs at most a wasted preempt request, and every
 * action that matters is a CAS or goes through the owner's own checks.
 * These loads, and only these, are kept from ThreadSanitizer (the atomics
 * around them stay instrumented, so its happens-before edges stay). */
#define RACY RINGO_UNINSTRUMENTED
RACY static struct ringo_p *racy_allp(int32_t i) { return ringo__sched.allp[i]; }
RACY static struct ringo_m *racy_pm(struct ringo_p *p) { return p->m; }
RACY static struct ringo_g *racy_curg(struct ringo_m *m) { return m->curg; }
/* The G may have been handed to m a moment ago, with no ordering towards
 * sysmon: look at it and flag it the same way. */
RACY static bool racy_flag_running(struct ringo_g *gp)
{
	if (atomic_load_explicit(&gp->status, memory_order_relaxed) != G_RUNNING)
		return false;
	atomic_store_explicit(&gp->preempt, true, memory_order_relaxed);
	return true;
}

/* Go's preemptone: ask the goroutine running on p to yield. */
static bool preemptone(struct ringo_p *p)
{
	struct ringo_m *m = racy_pm(p);
	if (!m)
		return false;
	struct ringo_g *gp = racy_curg(m);
	if (!gp || !racy_flag_running(gp))
		return false;
	/* Not to a thread asleep in the kernel, nor into a system call
	 * (preempt.c): that would only make calls fail with EINTR. */
	ringo__preempt_m(m);
	return true;
}

/* The runtime is exiting. ringo__begin_exit asked each running goroutine
 * to yield, once; one that an M started right after that look, or whose
 * signal landed outside a safe point, would keep its M, and ringo_run's
 * join of it, forever. Ask again every round until the Ms are gone. Not
 * counted as activity: the usual pacing spaces the signals out. */
static void preempt_for_exit(void)
{
	int32_t n = atomic_load(&ringo__sched.nprocs);
	for (int32_t i = 0; i < n && i < MAXPROCS; i++)
		preemptone(racy_allp(i));
}

/* One pass over the Ps: retake syscalls, preempt long runners, run
 * neglected timers. prev is the previous round's time. Returns how many Ps
 * it retook from system calls; lowers *until to the earliest timer that
 * only sysmon will run, and sets *busy if some P runs goroutines. */
static int retake(int64_t now, int64_t prev, int64_t *until, bool *busy)
{
	struct ringo__sched *s = &ringo__sched;
	int32_t n = atomic_load(&s->nprocs);
	int acted = 0;
	for (int32_t i = 0; i < n && i < MAXPROCS; i++) {
		struct ringo_p *p = racy_allp(i);
		struct pdata *pd = &sm.pd[i];
		uint32_t st = atomic_load_explicit(&p->status, memory_order_acquire);
		bool was_running = pd->running;
		pd->running = st == P_RUNNING;
		if (st != P_RUNNING)
			pd->queued = false;
		bool same_g = false;

		if (st == P_RUNNING) {
			*busy = true;
			uint32_t t = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
			if (!was_running || pd->schedtick != t) {
				/* A new goroutine started since the last round,
				 * and not before it. */
				pd->schedtick = t;
				pd->schedwhen = was_running ? prev : now;
				if (pd->schedwhen < now - SYSMON_BUSY_MAX_NS)
					pd->schedwhen = now - SYSMON_BUSY_MAX_NS;
			} else {
				same_g = true;
				/* Over its slice: ask, and ask again every round
				 * until it yields (a signal that lands in libc is
				 * declined). Not counted as activity: Go's pacing
				 * stays, and a goroutine stuck in libc costs one
				 * signal per round at most. */
				if (now - pd->schedwhen >= FORCE_PREEMPT_NS)
					preemptone(p);
			}
			/* Goroutines queued at two rounds in a row while a P
			 * idles: a goroutine readied into an empty runnext
			 * wakes nobody at once (ringo__runqput_ready), this is
			 * its wake-up when its readier keeps running. runnext
			 * alone counts only if the P switched to no other G
			 * for the round: runnext is what a switch runs next,
			 * so a P that switches is serving it. A producer and
			 * consumer taking turns always have one of them in
			 * runnext, and waking a P for that split them across
			 * cores (chan_buffered_p2 40-53 ns, 8-9 ns together).
			 * Goroutines in the ring wait behind others: two
			 * rounds are enough (100,000 sleepers waking at 2 Ps
			 * need that help). */
			uint32_t sw = t + atomic_load_explicit(&p->handofftick, memory_order_relaxed);
			bool queued = !ringo__runqempty(p);
			if (queued && pd->queued &&
			    (ringo__runqlen(p) > 0 || sw == pd->switches) &&
			    atomic_load_explicit(&s->npidle, memory_order_relaxed) > 0 &&
			    atomic_load_explicit(&s->nmspinning, memory_order_relaxed) == 0) {
				ringo__wakep();
				acted++;
				queued = false;
			}
			pd->queued = queued;
			pd->switches = sw;
		} else if (st == P_SYSCALL) {
			uint32_t t = atomic_load_explicit(&p->syscalltick, memory_order_relaxed);
			if (pd->syscalltick != t || pd->syscallwhen == 0) {
				/* A new system call: give it one round. */
				pd->syscalltick = t;
				pd->syscallwhen = now;
			} else if (!ringo__runqempty(p) ||
				   atomic_load(&s->nmspinning) + atomic_load(&s->npidle) == 0 ||
				   now - pd->syscallwhen > SYSCALL_RETAKE_NS) {
				uint32_t want = P_SYSCALL;
				/* Pairs with the CAS in ringo_syscall_exit and
				 * in stop-the-world: one of us wins the P. */
				if (atomic_compare_exchange_strong(&p->status, &want, P_IDLE)) {
					pd->syscallwhen = 0;
					ringo__handoffp(p);	/* its new M runs its timers */
					acted++;
					continue;
				}
			}
		}
		if (st != P_SYSCALL)
			pd->syscallwhen = 0;

		/* Timers that the P's own M will not run soon. */
		int64_t when = atomic_load_explicit(&p->timer0_when, memory_order_relaxed);
		if (when == 0)
			continue;
		bool nobody = st == P_SYSCALL || (st == P_IDLE && racy_pm(p) == NULL);
		/* A P whose M switches goroutines runs its own timers (in
		 * order, onto its own queue); one that sleeps on them but
		 * missed the deadline by a lot gets help. */
		if (when <= now &&
		    (nobody || same_g ||
		     (st == P_IDLE && now - when >= TIMER_BACKSTOP_NS))) {
			when = ringo__timers_check(p, now);
			if (when < 0)
				continue;
		}
		if (nobody && when < *until)
			*until = when;
	}
	return acted;
}

/* Hook for the netpoller: a P busy running goroutines may have I/O
 * completions nobody reaps until it next looks at its ring. The netpoll
 * code can poll such a P's ring from here (without blocking, and only if
 * it can do so safely from a thread without the P). */
static int netpoll_busy_ps(int64_t now)
{
	(void)now;
	int done = 0;
	int32_t n = atomic_load(&ringo__sched.nprocs);
	for (int32_t i = 0; i < n; i++)
		done += ringo__netpoll_poll_busy(racy_allp(i));
	return done;
}

static void *sysmon_main(void *arg)
{
	(void)arg;
	struct ringo__sched *s = &ringo__sched;
	/* Wake on time: the default 50 µs timer slack is most of a round. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	int64_t delay = SYSMON_MIN_US * 1000LL;
	int idle = 0;
	int64_t trim_window = ringo__nanotime();
	int32_t trim_owed = 0;	/* idle dead Gs still to trim */
	int64_t last = ringo__nanotime();
	for (;;) {
		ringo__note_clear(&sm.note);
		if (atomic_load(&sm.stop))
			break;
		int64_t now = ringo__nanotime();
		atomic_store_explicit(&s->coarse_now, now, memory_order_relaxed);
		int64_t until = INT64_MAX;	/* a neglected timer's deadline */
		bool busy = false;
		int acted = 0;
		if (!atomic_load(&s->exiting)) {
			acted = retake(now, last, &until, &busy);
			if (netpoll_busy_ps(now))
				acted++;	/* helping a busy P: keep looking often */
			/* Work queued globally and nobody looking for it. */
			if (atomic_load_explicit(&s->runqsize, memory_order_relaxed) > 0)
				ringo__wakep();
			/* Dead Gs nobody reused for a whole window: a burst
			 * is over, give its stacks' pages back. */
			if (now - trim_window >= TRIM_WINDOW_NS) {
				trim_owed = ringo__gfree_idle();
				trim_window = now;
			}
			if (trim_owed > 0) {
				int n = ringo__gfree_trim(trim_owed < TRIM_BATCH ? trim_owed : TRIM_BATCH);
				trim_owed = n ? trim_owed - n : 0;
			}
		} else {
			preempt_for_exit();
		}
		last = now;

		if (acted) {
			idle = 0;
			delay = SYSMON_MIN_US * 1000LL;
		} else if (++idle > 50) {
			delay = delay * 2 > SYSMON_MAX_US * 1000LL ? SYSMON_MAX_US * 1000LL : delay * 2;
		}
		int64_t sleep = delay;
		if (busy) {
			if (sleep > SYSMON_BUSY_MAX_NS)
				sleep = SYSMON_BUSY_MAX_NS;
			/* Wake when the oldest running goroutine's slice ends. */
			int32_t n = atomic_load(&s->nprocs);
			for (int32_t i = 0; i < n && i < MAXPROCS; i++) {
				struct pdata *pd = &sm.pd[i];
				if (pd->running && pd->schedwhen) {
					int64_t d = pd->schedwhen + FORCE_PREEMPT_NS - now;
					if (d > 0 && d < sleep)
						sleep = d;
				}
			}
		}
		if (until != INT64_MAX && until - now < sleep)
			sleep = until > now ? until - now : SYSMON_MIN_US * 1000LL;
		bool deep = sleep >= SYSMON_DEEP_NS;
		if (deep)
			atomic_store(&sm.deep, true);
		bool kicked = ringo__note_sleep_until(&sm.note, now + sleep);
		if (deep)
			atomic_store(&sm.deep, false);
		if (kicked) {
			/* Someone needs a quick round (or we are stopping). */
			idle = 0;
			delay = SYSMON_MIN_US * 1000LL;
		}
	}
	return NULL;
}

void ringo__sysmon_kick(void)
{
	/* relaxed load first: the common case is a busy sysmon, and then
	 * this costs one read of a line nobody writes. */
	if (atomic_load_explicit(&sm.deep, memory_order_relaxed) &&
	    atomic_exchange(&sm.deep, false))
		ringo__note_wakeup(&sm.note);
}

void ringo__sysmon_start(void)
{
	for (int i = 0; i < MAXPROCS; i++)
		sm.pd[i] = (struct pdata){ 0 };
	atomic_store(&sm.stop, false);
	atomic_store(&sm.deep, false);
	ringo__note_clear(&sm.note);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
#ifndef RINGO_SANITIZE
	pthread_attr_setstacksize(&attr, 256 * 1024);
#endif
	int r = pthread_create(&sm.thread, &attr, sysmon_main, NULL);
	pthread_attr_destroy(&attr);
	sm.started = r == 0;
	if (r != 0 && ringo__debug.verbose)
		fprintf(stderr, "ringo: no sysmon thread (error %d): no syscall hand-off or preemption\n", r);
}

void ringo__sysmon_stop(void)
{
	if (!sm.started)
		return;
	atomic_store(&sm.stop, true);
	ringo__note_wakeup(&sm.note);
	pthread_join(sm.thread, NULL);
	sm.started = false;
}
