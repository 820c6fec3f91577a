/* SPDX-License-Identifier: MIT */
/*
 * sched.c - the scheduler: switching goroutines, park/ready, finding work,
 * idle Ps and waking them.
 *
 * Switching. A goroutine gives up its M through switch_out(), which runs
 * on the goroutine's own stack. If the P has local work (runnext, the local
 * ring, or the global queue on every 61st tick) it switches straight to the
 * next goroutine: one context switch per yield or hand-off. Otherwise it
 * switches to the M's g0, which runs findrunnable() on the thread stack
 * (stealing, netpoll, going idle).
 *
 * Whatever must happen to the goroutine that switched out (requeue it,
 * call its park unlock function, free it) cannot happen on its own stack:
 * once it is on a run queue another M may resume it. So it is recorded in
 * m->prev / m->prev_action and carried out by finish_switch(), which the
 * context that was switched *to* calls first thing, on its own stack. This
 * is what makes park's lost-wake-up race disappear (DESIGN.md §4): the
 * unlock function runs only after the parking G is off its stack.
 *
 * Rejected: always going through g0 (Go's mcall) - it costs a second context
 * switch on every yield and channel hand-off.
 *
 * Idle. An M whose P has nothing to do puts the P on sched.pidle with
 * itself attached (p->m) and sleeps in the P's netpoll wait (DESIGN.md §4,
 * §7); wakep() takes the P off the list and rings its doorbell. Ms without
 * a P (back from a syscall, stopped for stop-the-world) sleep on their own
 * note in sched.midle.
 */
#include "runtime.h"
#include "context.h"
#include "proc.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Status helpers                                                       */

static inline void set_status(struct ringo_g *gp, uint32_t st)
{
	/* release: a G seen RUNNABLE/WAITING by another M has saved its state */
	atomic_store_explicit(&gp->status, st, memory_order_release);
}

/* Make gp the running G of m on p. */
static inline void execute_prepare(struct ringo_m *m, struct ringo_p *p,
				   struct ringo_g *gp, bool inherit_time)
{
	RINGO_ASSERT(atomic_load(&gp->status) == G_RUNNABLE);
	gp->m = m;
	m->curg = gp;
	set_status(gp, G_RUNNING);
	_Atomic uint32_t *tick = inherit_time ? &p->handofftick : &p->schedtick;
	atomic_store_explicit(tick, atomic_load_explicit(tick, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* finish_switch: the deferred half of every switch                     */

static inline __attribute__((always_inline)) void finish_switch(struct ringo_m *m)
{
	struct ringo_g *gp = m->prev;
	if (!gp)
		return;
	int action = m->prev_action;
	m->prev = NULL;
	m->prev_action = SW_NONE;
	gp->m = NULL;

	switch (action) {
	case SW_YIELD:
		set_status(gp, G_RUNNABLE);
		ringo__runqput(m->p, gp, false);
		break;
	case SW_PREEMPT:
		/* Preempted Gs go to the global queue, so any P may pick
		 * them up and the local queue's other Gs run first. */
		set_status(gp, G_RUNNABLE);
		ringo__lock(&ringo__sched.lock);
		ringo__globrunqput(gp);
		ringo__unlock(&ringo__sched.lock);
		break;
	case SW_PARK: {
		bool (*unlockf)(struct ringo_g *, void *) = gp->park_unlockf;
		void *arg = gp->park_arg;
		gp->park_unlockf = NULL;
		gp->park_arg = NULL;
		set_status(gp, G_WAITING);
		if (unlockf && !unlockf(gp, arg)) {
			/* Not parked after all: run it next. */
			set_status(gp, G_RUNNABLE);
			ringo__runqput(m->p, gp, true);
		}
		break;
	}
	case SW_EXIT:
		ringo__gfput(m->p, gp);
		break;
	case SW_EXITSYSCALL:
		/* Back from a syscall with no P to run on (m->p is NULL). */
		set_status(gp, G_RUNNABLE);
		ringo__lock(&ringo__sched.lock);
		ringo__globrunqput(gp);
		ringo__unlock(&ringo__sched.lock);
		ringo__wakep();
		break;
	default:
		break;
	}
}

void ringo__finish_switch(struct ringo_m *m)
{
	finish_switch(m);
}

/* ------------------------------------------------------------------ */
/* switch_out: leave the running goroutine                               */

/* Switches between two reads of the clock while a timer is pending. */
#define TIMER_CLOCK_EVERY 16

/* Can the next G be picked on the outgoing G's stack? Not when the world
 * is stopping, the runtime exits, this M is wired to a G, or a timer of
 * this P is due (g0 runs timers).
 *
 * A server nearly always has a timer pending, and reading the clock costs
 * ~27 ns on these VMs (kvm-clock), as much as a channel hand-off. So the
 * clock is read on every TIMER_CLOCK_EVERY-th switch only; in between,
 * sched.coarse_now (set by sysmon each round, at least every 1 ms while
 * Ps run) catches a due timer. A timer thus runs at most 16 switches or
 * one sysmon round late, whichever comes first. */
static inline bool can_switch_direct(struct ringo_m *m, struct ringo_p *p)
{
	if (unlikely(atomic_load_explicit(&ringo__sched.gcwaiting, memory_order_relaxed) ||
		     atomic_load_explicit(&ringo__sched.exiting, memory_order_relaxed) ||
		     m->lockedg != NULL))
		return false;
	int64_t when = atomic_load_explicit(&p->timer0_when, memory_order_relaxed);
	if (when == 0)
		return true;
	if (when <= atomic_load_explicit(&ringo__sched.coarse_now, memory_order_relaxed))
		return false;
	/* Every switch bumps one of the two ticks (execute_prepare). */
	uint32_t ticks = atomic_load_explicit(&p->schedtick, memory_order_relaxed) +
			 atomic_load_explicit(&p->handofftick, memory_order_relaxed);
	return ticks % TIMER_CLOCK_EVERY != 0 || when > ringo__nanotime();
}

/* The local part of findrunnable, cheap enough for the outgoing G's stack:
 * the global queue every 61st tick (fairness), runnext, the local ring. */
static inline struct ringo_g *runq_fast(struct ringo_p *p, bool *inherit_time)
{
	if (unlikely(atomic_load_explicit(&ringo__sched.runqsize, memory_order_relaxed) > 0) &&
	    atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61 == 0) {
		struct ringo_g *gp = ringo__globrunqget(p, 1);
		if (gp) {
			*inherit_time = false;
			return gp;
		}
	}
	struct ringo_g *gp = ringo__runqget(p, inherit_time);
	if (!gp && atomic_load_explicit(&ringo__sched.runqsize, memory_order_relaxed) > 0) {
		/* The outgoing G is not requeued yet, so the local queue is
		 * empty: take a batch from the global queue (a G that keeps
		 * yielding would otherwise starve it). */
		gp = ringo__globrunqget(p, 0);
		*inherit_time = false;
	}
	return gp;
}

/* Switch away from gp (the running G of m). action says what happens to
 * gp once it is off its stack. Returns when gp runs again, maybe on
 * another M. */
void ringo__switch_out(struct ringo_m *m, struct ringo_g *gp, int action)
{
	struct ringo_p *p = m->p;
	struct ringo_g *next = NULL;
	bool inherit = false;

	gp->saved_errno = *m->errno_loc;
	if (unlikely(!ringo__stack_canary_ok(&gp->stack)))
		ringo__stack_overflow_fatal(gp);
	m->prev = gp;
	m->prev_action = action;

	if (likely(can_switch_direct(m, p)))
		next = runq_fast(p, &inherit);
	if (next && unlikely(next->lockedm != NULL && next->lockedm != m)) {
		/* Wired to another M: let g0 hand it over. */
		ringo__runqput(p, next, true);
		next = NULL;
	}
	if (next) {
		execute_prepare(m, p, next, inherit);
		ringo__switch(m, gp, next, action == SW_EXIT);
	} else {
		m->curg = NULL;
		ringo__switch(m, gp, &m->g0, action == SW_EXIT);
	}
	/* Resumed, perhaps on another thread: re-read the M and errno's
	 * address. */
	m = ringo__getm();
	finish_switch(m);
	ringo__errno_restore(gp->saved_errno);
}

/* ------------------------------------------------------------------ */
/* park / ready                                                          */

void ringo__park(bool (*unlockf)(struct ringo_g *, void *), void *arg,
		 const char *reason)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m->curg;
	RINGO_ASSERT(gp != NULL);
	gp->park_unlockf = unlockf;
	gp->park_arg = arg;
	gp->wait_reason = reason;
	gp->wait_since = atomic_load_explicit(&ringo__sched.coarse_now, memory_order_relaxed);
	ringo__switch_out(m, gp, SW_PARK);
}

void ringo__ready(struct ringo_g *gp)
{
	RINGO_ASSERT(atomic_load(&gp->status) == G_WAITING);
	gp->wait_reason = NULL;
	set_status(gp, G_RUNNABLE);
	struct ringo_m *m = ringo__getm();
	if (m && m->p) {
		if (!ringo__runqput_ready(m->p, gp))
			return;	/* runs here next, or sysmon wakes a P for it */
	} else {
		ringo__lock(&ringo__sched.lock);
		ringo__globrunqput(gp);
		ringo__unlock(&ringo__sched.lock);
	}
	ringo__wakep();
}

void ringo__ready_list(struct ringo_g *head, int n)
{
	struct ringo_m *m = ringo__getm();
	if (m && m->p) {
		while (head) {
			struct ringo_g *next = head->schedlink;
			RINGO_ASSERT(atomic_load(&head->status) == G_WAITING);
			head->wait_reason = NULL;
			set_status(head, G_RUNNABLE);
			ringo__runqput(m->p, head, false);
			head = next;
		}
	} else if (head) {
		struct ringo_g *tail = head;
		for (struct ringo_g *g = head; g; g = g->schedlink) {
			g->wait_reason = NULL;
			set_status(g, G_RUNNABLE);
			tail = g;
		}
		ringo__lock(&ringo__sched.lock);
		ringo__globrunqputbatch(head, tail, n);
		ringo__unlock(&ringo__sched.lock);
	}
	for (int i = 0; i < n && i < 2; i++)
		ringo__wakep();
}

void ringo__gosched(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp)
		return;
	atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
	ringo__switch_out(m, gp, SW_YIELD);
}

void ringo__preempt_check(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp || m->locks > 0)
		return;
	if (atomic_load_explicit(&gp->preempt, memory_order_relaxed) ||
	    atomic_load_explicit(&ringo__sched.gcwaiting, memory_order_relaxed)) {
		atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
		ringo__switch_out(m, gp, SW_PREEMPT);
	}
}

/* ------------------------------------------------------------------ */
/* Idle Ps and Ms: sched.lock held for all of these                      */

/* Put p on the idle list. */
void ringo__pidleput(struct ringo_p *p)
{
	RINGO_ASSERT(ringo__runqempty(p));
	atomic_store_explicit(&p->status, P_IDLE, memory_order_relaxed);
	p->link = ringo__sched.pidle;
	ringo__sched.pidle = p;
	atomic_fetch_add_explicit(&ringo__sched.npidle, 1, memory_order_relaxed);
}

/* Take an idle P, preferring one with an M asleep on it. */
struct ringo_p *ringo__pidleget(void)
{
	struct ringo_p *p = ringo__sched.pidle, **pp = &ringo__sched.pidle;
	for (struct ringo_p **q = &ringo__sched.pidle; *q; q = &(*q)->link)
		if ((*q)->m) {
			pp = q;
			p = *q;
			break;
		}
	if (!p)
		return NULL;
	*pp = p->link;
	p->link = NULL;
	atomic_store_explicit(&p->status, P_RUNNING, memory_order_relaxed);
	atomic_fetch_sub_explicit(&ringo__sched.npidle, 1, memory_order_relaxed);
	if (p->m) {
		/* Its M is asleep on it: the waker accounts for the wake-up. */
		ringo__sched.nmidlep--;
	}
	return p;
}

/* Remove a specific P from the idle list; false if it is not there. */
static bool pidle_remove(struct ringo_p *p)
{
	for (struct ringo_p **q = &ringo__sched.pidle; *q; q = &(*q)->link)
		if (*q == p) {
			*q = p->link;
			p->link = NULL;
			atomic_fetch_sub_explicit(&ringo__sched.npidle, 1, memory_order_relaxed);
			return true;
		}
	return false;
}

static void mput(struct ringo_m *m)
{
	m->schedlink = ringo__sched.midle;
	ringo__sched.midle = m;
	ringo__sched.nmidle++;
}

static struct ringo_m *mget(void)
{
	struct ringo_m *m = ringo__sched.midle;
	if (m) {
		ringo__sched.midle = m->schedlink;
		m->schedlink = NULL;
		ringo__sched.nmidle--;
	}
	return m;
}

/* ------------------------------------------------------------------ */
/* Deadlock detection (sched.lock held)                                  */

/* Called when an M is about to sleep with nothing to do. If no M can run
 * anything and nothing outside the Ms (a timer, an I/O completion, a G in
 * a system call) can ever make a G runnable, the program is deadlocked. */
static bool checkdead(void)
{
	struct ringo__sched *s = &ringo__sched;
	if (atomic_load(&s->exiting))
		return false;
	int32_t run = s->mcount - s->nmidle - s->nmidlep - s->nmsys - s->nmidlelocked;
	if (run > 0)
		return false;
	if (ringo__timers_pending() || atomic_load(&s->nio_waiting) > 0 ||
	    atomic_load(&s->nsyscall) > 0 || atomic_load(&s->runqsize) > 0)
		return false;
	int32_t n = atomic_load(&s->nprocs);
	for (int32_t i = 0; i < n; i++)
		if (!ringo__runqempty(s->allp[i]))
			return false;
	return true;
}

static void report_deadlock(void)
{
	static const char msg[] = "ringo: all goroutines are asleep - deadlock!\n\n";
	(void)!write(2, msg, sizeof msg - 1);
	if (ringo__debug.scheddetail) {
		struct ringo__sched *s = &ringo__sched;
		fprintf(stderr, "mcount=%d nmidle=%d nmidlep=%d nmsys=%d locked=%d npidle=%d spinning=%d\n", s->mcount, s->nmidle, s->nmidlep, s->nmsys, s->nmidlelocked, s->npidle, s->nmspinning);
		for (int i = 0; i < s->nprocs; i++) fprintf(stderr, "P%d status=%u m=%p\n", i, s->allp[i]->status, (void*)s->allp[i]->m);
		for (struct ringo_m *m = s->allm; m; m = m->alllink) fprintf(stderr, "M%ld %p p=%p curg=%p spinning=%d\n", (long)m->id, (void*)m, (void*)m->p, (void*)m->curg, m->spinning);
	}
	ringo__dump_all(2, false);
	ringo__begin_exit(-EDEADLK);
}

/* ------------------------------------------------------------------ */
/* Starting and waking Ms                                                 */

/* Get an M to run p (any idle P when p is NULL). spinning: the M is to
 * look for work (nmspinning was already incremented by the caller). */
static void startm(struct ringo_p *p, bool spinning)
{
	ringo__lock(&ringo__sched.lock);
	if (!p) {
		p = ringo__pidleget();
		if (!p) {
			ringo__unlock(&ringo__sched.lock);
			if (spinning)
				atomic_fetch_sub(&ringo__sched.nmspinning, 1);
			return;
		}
	}
	struct ringo_m *m = p->m;
	if (m) {
		/* Its M sleeps in the P's netpoll wait: ring the doorbell. */
		m->spinning = spinning;
		ringo__unlock(&ringo__sched.lock);
		ringo__netpoll_wake(p);
		return;
	}
	m = mget();
	if (m) {
		m->nextp = p;
		m->spinning = spinning;
		ringo__unlock(&ringo__sched.lock);
		ringo__note_wakeup(&m->park);
		return;
	}
	if (atomic_load(&ringo__sched.exiting)) {
		ringo__pidleput(p);
		ringo__unlock(&ringo__sched.lock);
		if (spinning)
			atomic_fetch_sub(&ringo__sched.nmspinning, 1);
		return;
	}
	ringo__unlock(&ringo__sched.lock);
	if (ringo__newm(p, spinning) != 0) {
		/* No thread: give the P back; the work stays queued for the
		 * Ms that exist. */
		ringo__lock(&ringo__sched.lock);
		ringo__pidleput(p);
		ringo__unlock(&ringo__sched.lock);
		if (spinning)
			atomic_fetch_sub(&ringo__sched.nmspinning, 1);
	}
}

void ringo__startm(struct ringo_p *p, bool spinning)
{
	startm(p, spinning);
}

/* Wake an idle P to run queued work, unless an M is already spinning
 * (it will find the work, and wake another when it does). */
void ringo__wakep(void)
{
	if (atomic_load_explicit(&ringo__sched.npidle, memory_order_relaxed) == 0)
		return;
	if (atomic_load_explicit(&ringo__sched.nmspinning, memory_order_relaxed) != 0)
		return;
	int32_t zero = 0;
	/* seq_cst: pairs with the spinning M's decrement-then-recheck in
	 * findrunnable, so either it sees our work or we see it spinning. */
	if (!atomic_compare_exchange_strong(&ringo__sched.nmspinning, &zero, 1))
		return;
	startm(NULL, true);
}

/* The M found work while spinning: stop spinning, and if it was the last
 * spinner, wake another P so that further work is found too. */
static void resetspinning(struct ringo_m *m)
{
	m->spinning = false;
	int32_t n = atomic_fetch_sub(&ringo__sched.nmspinning, 1) - 1;
	RINGO_ASSERT(n >= 0);
	if (n == 0)
		ringo__wakep();
}

/* ------------------------------------------------------------------ */
/* Ms without a P                                                         */

/* Park m (no P) until startm hands it one, or the runtime exits. */
void ringo__stopm(struct ringo_m *m)
{
	RINGO_ASSERT(m->p == NULL);
	ringo__lock(&ringo__sched.lock);
	for (;;) {
		if (atomic_load(&ringo__sched.exiting)) {
			ringo__unlock(&ringo__sched.lock);
			return;
		}
		mput(m);
		if (checkdead()) {
			report_deadlock();	/* unlocks nothing; marks exiting */
			ringo__sched.midle = m->schedlink;
			ringo__sched.nmidle--;
			ringo__unlock(&ringo__sched.lock);
			return;
		}
		ringo__note_clear(&m->park);
		ringo__unlock(&ringo__sched.lock);
		ringo__note_sleep(&m->park);
		ringo__lock(&ringo__sched.lock);
		if (m->nextp) {
			ringo__acquirep(m, m->nextp);
			m->nextp = NULL;
			ringo__unlock(&ringo__sched.lock);
			return;
		}
		/* Woken without a P (exit): take ourselves off the list. */
		for (struct ringo_m **q = &ringo__sched.midle; *q; q = &(*q)->schedlink)
			if (*q == m) {
				*q = m->schedlink;
				ringo__sched.nmidle--;
				break;
			}
	}
}

void ringo__acquirep(struct ringo_m *m, struct ringo_p *p)
{
	m->p = p;
	p->m = m;
	atomic_store_explicit(&p->status, P_RUNNING, memory_order_relaxed);
}

struct ringo_p *ringo__releasep(struct ringo_m *m)
{
	struct ringo_p *p = m->p;
	m->p = NULL;
	if (p)
		p->m = NULL;
	return p;
}

/* Stop-the-world requested: hand our P to the stopper and wait. */
static void gcstopm(struct ringo_m *m)
{
	if (m->spinning) {
		m->spinning = false;
		atomic_fetch_sub(&ringo__sched.nmspinning, 1);
	}
	struct ringo_p *p = ringo__releasep(m);
	ringo__lock(&ringo__sched.lock);
	atomic_store(&p->status, P_STOPPED);
	if (--ringo__sched.stopwait == 0)
		ringo__note_wakeup(&ringo__sched.stopnote);
	ringo__unlock(&ringo__sched.lock);
	ringo__stopm(m);
}

/* ------------------------------------------------------------------ */
/* findrunnable                                                           */

/* Steal from other Ps in random order, a few rounds; also run other Ps'
 * overdue timers. Returns a G or NULL. */
static struct ringo_g *stealwork(struct ringo_m *m, struct ringo_p *p, int64_t *next_timer)
{
	int32_t n = atomic_load(&ringo__sched.nprocs);
	if (n <= 1)
		return NULL;
	for (int round = 0; round < 4; round++) {
		bool last = round == 3;
		uint32_t start = ringo__fastrand() % (uint32_t)n;
		for (int32_t i = 0; i < n; i++) {
			if (atomic_load_explicit(&ringo__sched.gcwaiting, memory_order_relaxed))
				return NULL;
			struct ringo_p *victim = ringo__sched.allp[(start + (uint32_t)i) % (uint32_t)n];
			if (victim == p)
				continue;
			if (last) {
				int64_t when = atomic_load_explicit(&victim->timer0_when,
								    memory_order_relaxed);
				if (when != 0) {
					int64_t w = ringo__timers_check(victim, ringo__nanotime());
					if (w > 0 && (*next_timer < 0 || w < *next_timer))
						*next_timer = w;
					bool inherit;
					struct ringo_g *gp = ringo__runqget(p, &inherit);
					if (gp)
						return gp;
				}
			}
			if (ringo__runqempty(victim))
				continue;
			/* runnext only in the last round: give the victim's M a
			 * chance to run what it just readied (ping-pong pairs). */
			struct ringo_g *gp = ringo__runqsteal(p, victim, last);
			if (gp)
				return gp;
		}
	}
	(void)m;
	return NULL;
}

/* p still idle with m asleep on it, read without sched.lock: p->m is
 * written by takers under the lock. A stale view is m's own last write or
 * a later one, so "taken" is never stale. */
RINGO_UNINSTRUMENTED static bool racy_p_idle_owned(struct ringo_p *p, struct ringo_m *m)
{
	return p->m == m && atomic_load_explicit(&p->status, memory_order_relaxed) == P_IDLE;
}

/* Asked by a back-end between publishing its sleeper and blocking. A
 * taker changes p->m under sched.lock and then rings p's doorbell: either
 * we see it here, or it sees the published sleeper and rings it. The
 * wake-up flag alone does not cover the window between findrunnable's
 * look and the publication: the new owner may go idle on p and consume
 * the flag first, and we would sleep on a P that is not ours, where no
 * later wake-up (not even the exit's) is addressed. */
bool ringo__p_idle_owner(struct ringo_p *p, struct ringo_m *m)
{
	/* Not a plain lock: a stop-the-world holds sched.lock while
	 * procresize moves the ring of a P that goes away, and there waits
	 * for the M asleep on that ring to leave it (netpoll_uring.c,
	 * wait_old_sleeper). This M, about to sleep there, would wait for
	 * the lock forever (check_chan hung so in CI's TSan run). That
	 * holder took p before, so while the lock is busy, p seen taken is
	 * the answer; p seen still ours means another holder, soon gone. */
	while (!ringo__trylock(&ringo__sched.lock)) {
		if (!racy_p_idle_owned(p, m))
			return false;
		sched_yield();
	}
	bool mine = p->m == m && atomic_load(&p->status) == P_IDLE;
	ringo__unlock(&ringo__sched.lock);
	return mine;
}

/* Find a runnable G for m (on g0). Blocks while there is none. Returns
 * NULL when the runtime is exiting. */
static struct ringo_g *findrunnable(struct ringo_m *m, bool *inherit)
{
	struct ringo__sched *s = &ringo__sched;
	struct ringo_g *gp;

top:;
	struct ringo_p *p = m->p;
	RINGO_ASSERT(p != NULL && p->m == m);	/* every way back here owns p */
	*inherit = false;
	if (atomic_load(&s->exiting))
		return NULL;
	if (atomic_load_explicit(&s->gcwaiting, memory_order_acquire)) {
		gcstopm(m);
		if (!m->p)
			return NULL;	/* exiting */
		goto top;
	}

	int64_t next_timer = -1;
	if (atomic_load_explicit(&p->timer0_when, memory_order_relaxed) != 0)
		next_timer = ringo__timers_check(p, ringo__nanotime());

	/* Fairness: every 61st tick look at the global queue first. */
	if (atomic_load_explicit(&p->schedtick, memory_order_relaxed) % 61 == 0 &&
	    atomic_load_explicit(&s->runqsize, memory_order_relaxed) > 0) {
		gp = ringo__globrunqget(p, 1);
		if (gp)
			return gp;
	}
	if ((gp = ringo__runqget(p, inherit)))
		return gp;
	if (atomic_load_explicit(&s->runqsize, memory_order_relaxed) > 0) {
		gp = ringo__globrunqget(p, 0);	/* local queue is empty here */
		if (gp)
			return gp;
	}
	/* Submit this round's I/O and reap completions without blocking. */
	if (ringo__netpoll_poll(p, false, 0) > 0 && (gp = ringo__runqget(p, inherit)))
		return gp;

	/* Steal, with spinning bounded to half the busy Ps. */
	int32_t procs = atomic_load(&s->nprocs);
	if (m->spinning ||
	    2 * atomic_load(&s->nmspinning) < procs - atomic_load(&s->npidle)) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add(&s->nmspinning, 1);
		}
		if ((gp = stealwork(m, p, &next_timer)))
			return gp;
		if (!ringo__runqempty(p))
			goto top;
	}

	/* Nothing: the P goes idle and we sleep on it. */
	ringo__lock(&s->lock);
	if (atomic_load(&s->gcwaiting) || atomic_load(&s->exiting)) {
		ringo__unlock(&s->lock);
		goto top;
	}
	if (atomic_load(&s->runqsize) > 0) {
		struct ringo_g *batches = ringo__globrunqtake(0);
		ringo__unlock(&s->lock);
		return ringo__globrunqload(p, batches);
	}
	ringo__pidleput(p);
	s->nmidlep++;
	ringo__unlock(&s->lock);

	if (m->spinning) {
		/* Stop spinning, then look once more: a G made runnable by
		 * someone who saw us spinning (and so skipped wakep) must not
		 * be stranded. seq_cst pairs with the CAS in ringo__wakep. */
		m->spinning = false;
		atomic_fetch_sub(&s->nmspinning, 1);
		for (int32_t i = 0; i < procs; i++) {
			if (!ringo__runqempty(s->allp[i])) {
				ringo__lock(&s->lock);
				/* Take p back only if nobody took it meanwhile:
				 * a stop-the-world clears p->m (and may put p on
				 * the list again, or remove it for good), a waker
				 * takes it off the list for us. Going on with a p
				 * taken from under us idled it again, counted us
				 * asleep on it and idle at once, and the deadlock
				 * detector saw no M running (check_chan under
				 * TSan, maxprocs 2 -> 1). */
				bool back = p->m == m && pidle_remove(p);
				if (back) {
					s->nmidlep--;
					atomic_store(&p->status, P_RUNNING);
					m->spinning = true;
					atomic_fetch_add(&s->nmspinning, 1);
				}
				ringo__unlock(&s->lock);
				if (back)
					goto top;
				break;	/* taken: the sleep below sees by whom */
			}
		}
	}

	/* Sleep on the P while it is still ours: whoever takes an idle P
	 * makes p->m its new owner (NULL for stop-the-world) and rings the
	 * doorbell. The back-end asks again once it has published itself
	 * (ringo__p_idle_owner): a take after that ends the sleep at once. */
	ringo__lock(&s->lock);
	bool mine = p->m == m && atomic_load(&p->status) == P_IDLE;
	if (mine && checkdead()) {
		report_deadlock();
		mine = false;
	}
	ringo__unlock(&s->lock);
	if (mine) {
		int64_t t = ringo__timers_next(p);
		if (t >= 0 && (next_timer < 0 || t < next_timer))
			next_timer = t;
		ringo__netpoll_poll(p, true, next_timer);
	}

	ringo__lock(&s->lock);
	if (p->m != m) {
		/* Taken while we slept (stop-the-world, an M back from a
		 * syscall): it is not ours any more. */
		m->p = NULL;
		ringo__unlock(&s->lock);
		ringo__stopm(m);
		if (!m->p)
			return NULL;
		goto top;
	}
	/* Still ours: what rang us is seen from top on. */
	ringo__netpoll_clear_wake(p);
	if (atomic_load(&p->status) == P_IDLE) {
		/* Woken by a timer, I/O or exit rather than by wakep (which
		 * would have taken the P off the list for us). */
		bool removed = pidle_remove(p);
		RINGO_ASSERT(removed);
		(void)removed;
		s->nmidlep--;
		atomic_store(&p->status, P_RUNNING);
	}
	ringo__unlock(&s->lock);
	goto top;
}

/* ------------------------------------------------------------------ */
/* The g0 loop                                                            */

/* Run goroutines on m until the runtime exits. Runs on g0. */
void ringo__schedule(struct ringo_m *m)
{
	for (;;) {
		ringo__finish_switch(m);
		if (!m->p && !m->lockedg) {
			ringo__stopm(m);
			if (!m->p)
				return;
		}
		if (m->lockedg) {
			/* Wired M: run only its G (syscall.c hands the P off
			 * while it waits). */
			if (!ringo__lockedm_wait(m))
				return;
			struct ringo_g *gp = m->lockedg;
			execute_prepare(m, m->p, gp, false);
			ringo__switch(m, &m->g0, gp, false);
			continue;
		}
		bool inherit = false;
		struct ringo_g *gp = findrunnable(m, &inherit);
		if (!gp)
			return;
		if (m->spinning)
			resetspinning(m);
		if (unlikely(gp->lockedm != NULL && gp->lockedm != m)) {
			ringo__startlockedm(m, gp);
			continue;
		}
		execute_prepare(m, m->p, gp, inherit);
		ringo__switch(m, &m->g0, gp, false);
	}
}
