/* SPDX-License-Identifier: MIT */
/*
 * procresize.c - stopping the world and changing the number of Ps
 * (ringo_maxprocs), as Go's stopTheWorld / procresize / startTheWorld.
 *
 * Stopping: sched.gcwaiting is set; idle Ps and Ps in a system call are
 * taken at once; Ms running Gs see the flag at their next scheduling point
 * (the running G is asked to yield through its preempt flag, and by signal
 * where async preemption exists) and hand their P over in gcstopm. The
 * stopper sleeps on sched.stopnote until sched.stopwait drops to zero.
 *
 * Ps are never freed before ringo_run returns: shrinking marks the extra Ps
 * stopped and moves their work away, so a stale pointer to a P (a timer, an
 * in-flight I/O record) stays valid, and growing again reuses them.
 */
#include "runtime.h"
#include "proc.h"

/* Called from a goroutine. Returns with the world stopped and the caller's
 * P the only one running. */
void ringo__stop_the_world(void)
{
	struct ringo__sched *s = &ringo__sched;
	struct ringo_m *me = ringo__getm();

	ringo__lock(&s->lock);
	/* Only one stopper at a time: wait our turn as a normal G would. */
	while (atomic_load(&s->gcwaiting)) {
		ringo__unlock(&s->lock);
		ringo__preempt_check();
		ringo__gosched();
		ringo__lock(&s->lock);
	}
	me = ringo__getm();
	int32_t n = atomic_load(&s->nprocs);
	s->stopwait = n - 1;	/* everyone but us */
	atomic_store(&s->gcwaiting, true);
	ringo__note_clear(&s->stopnote);
	/* Ps in a system call: take them now. */
	for (int32_t i = 0; i < n; i++) {
		struct ringo_p *p = s->allp[i];
		uint32_t st = P_SYSCALL;
		if (p != me->p && atomic_compare_exchange_strong(&p->status, &st, P_STOPPED))
			s->stopwait--;
	}
	/* Idle Ps: take them; wake an M asleep on one so it can leave it. */
	struct ringo_p *p;
	while ((p = ringo__pidleget())) {
		/* The M asleep on it (if any) must see that it lost it. */
		struct ringo_m *sleeper = p->m;
		p->m = NULL;
		atomic_store(&p->status, P_STOPPED);
		if (sleeper)
			ringo__netpoll_wake(p);
		s->stopwait--;
	}
	bool wait = s->stopwait > 0;
	/* Ask running Gs to yield. */
	for (int32_t i = 0; i < n; i++) {
		struct ringo_p *q = s->allp[i];
		if (q == me->p || atomic_load(&q->status) != P_RUNNING)
			continue;
		struct ringo_m *qm = q->m;
		if (qm && qm->curg) {
			atomic_store(&qm->curg->preempt, true);
			ringo__preempt_m(qm);
		}
	}
	ringo__unlock(&s->lock);

	while (wait) {
		/* Re-ask every 100 µs: a G may have been readied after we
		 * looked, or be between checks. */
		if (ringo__note_sleep_until(&s->stopnote, ringo__nanotime() + 100000))
			break;
		ringo__lock(&s->lock);
		wait = s->stopwait > 0;
		for (int32_t i = 0; wait && i < n; i++) {
			struct ringo_p *q = s->allp[i];
			uint32_t st = P_SYSCALL;
			if (q != me->p && atomic_compare_exchange_strong(&q->status, &st, P_STOPPED))
				if (--s->stopwait == 0)
					wait = false;
			if (atomic_load(&q->status) == P_RUNNING && q != me->p && q->m && q->m->curg) {
				atomic_store(&q->m->curg->preempt, true);
				ringo__preempt_m(q->m);
			}
		}
		ringo__unlock(&s->lock);
	}
	ringo__lock(&s->lock);
	RINGO_ASSERT(s->stopwait == 0);
	ringo__unlock(&s->lock);
}

/* Change the number of Ps to n. sched.lock held, world stopped, caller
 * runs on a P. New Ps are allocated first so that a failure changes
 * nothing. */
int ringo__procresize(int32_t n)
{
	struct ringo__sched *s = &ringo__sched;
	struct ringo_m *me = ringo__getm();
	int32_t old = atomic_load(&s->nprocs);

	for (int32_t i = old; i < n; i++) {
		if (s->allp[i])
			continue;
		int r = ringo__new_p(i, &s->allp[i]);
		if (r < 0)
			return r;
	}
	/* Ps going away: move their Gs, free Gs and timers to survivors. */
	for (int32_t i = n; i < old; i++) {
		struct ringo_p *p = s->allp[i];
		struct ringo_g *gp;
		while ((gp = ringo__runqget(p, NULL)))
			ringo__globrunqputhead(gp);
		ringo__gfree_give(p);
		ringo__timers_move(p, s->allp[0]);
		ringo__netpoll_move(p, s->allp[0]);
		/* Keep the goroutine count exact. */
		atomic_fetch_add(&s->ngoroutines, atomic_exchange(&p->ngoroutines, 0));
		atomic_store(&p->status, P_STOPPED);
	}
	/* The caller's P may be one that goes away: move to P0. */
	if (me->p->id >= n) {
		struct ringo_p *p = me->p;
		ringo__releasep(me);
		atomic_store(&p->status, P_STOPPED);
		ringo__acquirep(me, s->allp[0]);
	}
	atomic_store(&s->nprocs, n);
	return 0;
}

/* Restart the Ps. sched.lock not held. */
void ringo__start_the_world(void)
{
	struct ringo__sched *s = &ringo__sched;
	struct ringo_m *me = ringo__getm();
	struct ringo_p *torun[1025];
	int ntorun = 0;

	ringo__lock(&s->lock);
	int32_t n = atomic_load(&s->nprocs);
	for (int32_t i = 0; i < n; i++) {
		struct ringo_p *p = s->allp[i];
		if (p == me->p)
			continue;
		p->m = NULL;
		if (ringo__runqempty(p) && atomic_load(&p->timer0_when) == 0 &&
		    !ringo__netpoll_pending(p))
			ringo__pidleput(p);
		else {
			atomic_store(&p->status, P_RUNNING);
			torun[ntorun++] = p;
		}
	}
	atomic_store(&s->gcwaiting, false);
	ringo__unlock(&s->lock);
	for (int i = 0; i < ntorun; i++)
		ringo__startm(torun[i], false);
	/* Work in the global queue may need more Ps than those with local work. */
	ringo__wakep();
}

int ringo_maxprocs(int n)
{
	struct ringo__sched *s = &ringo__sched;
	if (n > 1024)
		return -EINVAL;
	if (!ringo__running())
		return n <= 0 ? 0 : -EPERM;
	int old = atomic_load(&s->nprocs);
	if (n <= 0 || n == old)
		return old;
	struct ringo_g *gp = ringo__getg();
	if (!gp)
		return -EPERM;	/* must be called from a goroutine */

	ringo__stop_the_world();
	ringo__lock(&s->lock);
	int r = ringo__procresize(n);
	ringo__unlock(&s->lock);
	ringo__start_the_world();
	return r < 0 ? r : old;
}
