/* SPDX-License-Identifier: MIT */
/*
 * syscall.c - goroutines that block their thread: system calls (Go's
 * entersyscall/exitsyscall), P hand-off, and goroutines wired to a thread
 * (ringo_lock_thread, Go's LockOSThread).
 *
 * ringo_syscall_enter leaves the P in P_SYSCALL with no M: the M keeps a
 * claim (m->oldp) and takes it back on exit with one CAS if nobody else
 * did. sysmon (or a stop-the-world) may CAS P_SYSCALL away and hand the P
 * to another M; then exit looks for an idle P, and failing that queues the
 * goroutine globally and parks the M.
 *
 * A wired M runs only its G. When that G blocks, the M hands its P to
 * someone else (handoffp) and sleeps; whoever next picks the G from a run
 * queue hands its own P to the wired M (startlockedm) and parks instead.
 */
#include "runtime.h"
#include "context.h"
#include "proc.h"

/* ------------------------------------------------------------------ */
/* P hand-off                                                            */

void ringo__handoffp(struct ringo_p *p)
{
	struct ringo__sched *s = &ringo__sched;
	p->m = NULL;
	/* Local or global work: start an M on it right away. */
	if (!ringo__runqempty(p) || atomic_load(&s->runqsize) != 0) {
		ringo__startm(p, false);
		return;
	}
	/* No spinning or idle Ms to notice future work: become the spinner. */
	int32_t zero = 0;
	if (atomic_load(&s->nmspinning) + atomic_load(&s->npidle) == 0 &&
	    atomic_compare_exchange_strong(&s->nmspinning, &zero, 1)) {
		ringo__startm(p, true);
		return;
	}
	ringo__lock(&s->lock);
	if (atomic_load(&s->gcwaiting)) {
		atomic_store(&p->status, P_STOPPED);
		if (--s->stopwait == 0)
			ringo__note_wakeup(&s->stopnote);
		ringo__unlock(&s->lock);
		return;
	}
	if (atomic_load(&s->runqsize) != 0 || atomic_load(&p->timer0_when) != 0 ||
	    ringo__netpoll_pending(p)) {
		/* Queued work, or timers or I/O that need an M asleep on them. */
		ringo__unlock(&s->lock);
		ringo__startm(p, false);
		return;
	}
	ringo__pidleput(p);
	ringo__unlock(&s->lock);
}

/* ------------------------------------------------------------------ */
/* System calls                                                          */

void ringo_syscall_enter(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp)
		return;		/* not a goroutine: nothing to hand off */
	int saved = errno;
	if (atomic_load(&gp->status) != G_RUNNING)
		ringo__fatal("ringo_syscall_enter: goroutine %llu is already in a system call",
				  (unsigned long long)gp->id);
	struct ringo_p *p = m->p;
	atomic_store_explicit(&p->syscalltick,
		atomic_load_explicit(&p->syscalltick, memory_order_relaxed) + 1,
		memory_order_relaxed);
	/* seq_cst, then the look at signal_pending: with signal_m's exchange
	 * and its second look at the status, a Dekker pair. Either it sees
	 * G_SYSCALL and sends nothing, or we see its signal coming and wait
	 * for the handler (which declines now) before making the call: a
	 * signal landing in nanosleep, poll and the like would be an EINTR. */
	atomic_store(&gp->status, G_SYSCALL);
	ringo__preempt_signal_wait(m);
	atomic_fetch_add(&ringo__sched.nsyscall, 1);
	m->oldp = p;
	m->p = NULL;
	p->m = NULL;
	/* release: from here sysmon and stop-the-world may take the P */
	atomic_store_explicit(&p->status, P_SYSCALL, memory_order_release);
	/* Work waits behind us: make sure sysmon is not in a long sleep, or
	 * the hand-off would wait for it. */
	if (!ringo__runqempty(p) || atomic_load_explicit(&ringo__sched.runqsize,
							 memory_order_relaxed) > 0)
		ringo__sysmon_kick();
	if (unlikely(atomic_load(&ringo__sched.gcwaiting))) {
		ringo__lock(&ringo__sched.lock);
		uint32_t st = P_SYSCALL;
		if (atomic_compare_exchange_strong(&p->status, &st, P_STOPPED) &&
		    --ringo__sched.stopwait == 0)
			ringo__note_wakeup(&ringo__sched.stopnote);
		ringo__unlock(&ringo__sched.lock);
	}
	errno = saved;
}

void ringo_syscall_exit(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp || atomic_load(&gp->status) != G_SYSCALL)
		return;
	int saved = errno;
	struct ringo_p *oldp = m->oldp;
	m->oldp = NULL;
	atomic_fetch_sub(&ringo__sched.nsyscall, 1);

	/* Fast path: our P is still waiting for us. */
	uint32_t st = P_SYSCALL;
	if (oldp && atomic_compare_exchange_strong(&oldp->status, &st, P_RUNNING)) {
		ringo__acquirep(m, oldp);
		atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
		errno = saved;
		return;
	}
	/* Any idle P. */
	ringo__lock(&ringo__sched.lock);
	struct ringo_p *p = NULL;
	if (!atomic_load(&ringo__sched.gcwaiting))
		p = ringo__pidleget();
	struct ringo_m *sleeper = p ? p->m : NULL;
	if (p)
		ringo__acquirep(m, p);
	ringo__unlock(&ringo__sched.lock);
	if (p) {
		if (sleeper)
			ringo__netpoll_wake(p);	/* it finds p->m != itself and leaves */
		atomic_store_explicit(&gp->status, G_RUNNING, memory_order_relaxed);
		errno = saved;
		return;
	}
	/* No P: g0 queues us globally and parks this M (finish_switch,
	 * SW_EXITSYSCALL). */
	gp->saved_errno = saved;
	m->prev = gp;
	m->prev_action = SW_EXITSYSCALL;
	m->curg = NULL;
	ringo__switch(m, gp, &m->g0, false);
	m = ringo__getm();
	ringo__finish_switch(m);
	ringo__errno_restore(gp->saved_errno);
}

intptr_t ringo_blocking(intptr_t (*fn)(void *), void *arg)
{
	if (!fn)
		return -EINVAL;
	ringo_syscall_enter();
	intptr_t r = fn(arg);
	ringo_syscall_exit();
	return r;
}

/* ------------------------------------------------------------------ */
/* Wired goroutines                                                      */

int ringo_lock_thread(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp)
		return -EPERM;
	m->lockedg = gp;
	gp->lockedm = m;
	m->locked_count++;
	return 0;
}

void ringo_unlock_thread(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp || m->lockedg != gp || m->locked_count == 0)
		return;
	if (--m->locked_count == 0) {
		m->lockedg = NULL;
		gp->lockedm = NULL;
	}
}

bool ringo__lockedm_wait(struct ringo_m *m)
{
	struct ringo__sched *s = &ringo__sched;
	if (m->p)
		ringo__handoffp(ringo__releasep(m));
	ringo__lock(&s->lock);
	s->nmidlelocked++;
	m->blocked = true;
	for (;;) {
		if (m->nextp) {
			/* The waker took us off nmidlelocked. */
			ringo__acquirep(m, m->nextp);
			m->nextp = NULL;
			m->blocked = false;
			ringo__unlock(&s->lock);
			return true;
		}
		if (atomic_load(&s->exiting)) {
			s->nmidlelocked--;
			m->blocked = false;
			ringo__unlock(&s->lock);
			return false;
		}
		ringo__note_clear(&m->park);
		ringo__unlock(&s->lock);
		ringo__note_sleep(&m->park);
		ringo__lock(&s->lock);
	}
}

void ringo__startlockedm(struct ringo_m *m, struct ringo_g *gp)
{
	struct ringo_m *m2 = gp->lockedm;
	struct ringo_p *p = ringo__releasep(m);
	RINGO_ASSERT(atomic_load(&gp->status) == G_RUNNABLE);
	ringo__lock(&ringo__sched.lock);
	m2->nextp = p;
	ringo__sched.nmidlelocked--;
	ringo__unlock(&ringo__sched.lock);
	ringo__note_wakeup(&m2->park);
	ringo__stopm(m);
}
