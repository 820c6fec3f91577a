/* SPDX-License-Identifier: MIT */
/*
 * runq.h - the owner's hot operations on a P's local run queue, inline
 * because every goroutine switch uses them. The ring's design and its
 * invariants are described in runq.c.
 */
#ifndef RINGO_RUNQ_H
#define RINGO_RUNQ_H

#define RINGO_RUNQ_MASK (RINGO_RUNQ_SIZE - 1)

/* runq.c: move half the ring and gp to the global queue (ring full). */
RINGO_HIDDEN bool ringo__runqputslow(struct ringo_p *p, struct ringo_g *gp,
				     uint32_t head, uint32_t tail);

/* Only Ps steal, and changing the number of Ps stops the world first: with
 * one P the owner is the queue's only writer and skips the locked
 * instructions (every channel hand-off takes runnext twice). */
static inline bool ringo__runq_unshared(void)
{
	return atomic_load_explicit(&ringo__sched.nprocs, memory_order_relaxed) == 1;
}

static inline bool ringo__runqempty(struct ringo_p *p)
{
	/* Read head, tail, runnext, then tail again: a G moving from runnext to
	 * the ring (runqput kicking it) must not be missed in between. */
	for (;;) {
		uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_acquire);
		struct ringo_g *next = atomic_load_explicit(&p->runnext, memory_order_acquire);
		if (tail == atomic_load_explicit(&p->runqtail, memory_order_acquire))
			return head == tail && next == NULL;
	}
}

static inline uint32_t ringo__runqlen(struct ringo_p *p)
{
	uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_acquire);
	return tail - head;
}

/* Put gp on p's local queue (next: into runnext, kicking the previous
 * runnext to the tail). Returns whether the ring gained a goroutine (not
 * when gp went into an empty runnext). Called only by p's owner. */
static inline bool ringo__runqput(struct ringo_p *p, struct ringo_g *gp, bool next)
{
	if (next) {
		struct ringo_g *old = atomic_load_explicit(&p->runnext, memory_order_relaxed);
		if (ringo__runq_unshared())
			atomic_store_explicit(&p->runnext, gp, memory_order_release);
		else for (;;) {
			/* Thieves CAS runnext too (steal_next), so CAS here. */
			if (atomic_compare_exchange_weak_explicit(&p->runnext, &old, gp,
					memory_order_release, memory_order_relaxed))
				break;
		}
		if (old == NULL)
			return false;
		gp = old;	/* kick the old runnext to the tail */
	}
	for (;;) {
		/* acquire: pairs with the thieves' head CAS, so the slot we
		 * overwrite has really been consumed */
		uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (tail - head < RINGO_RUNQ_SIZE) {
			atomic_store_explicit(&p->runq[tail & RINGO_RUNQ_MASK], gp, memory_order_relaxed);
			/* release: makes the slot visible to consumers */
			atomic_store_explicit(&p->runqtail, tail + 1, memory_order_release);
			return true;
		}
		if (ringo__runqputslow(p, gp, head, tail))
			return true;
	}
}

/* Make gp p's runnext, for a goroutine just readied or spawned, and say
 * whether another P should be woken for it. Not when runnext was empty:
 * the caller usually blocks right after (a channel hand-off, a spawn then
 * an accept) and this P runs gp itself, and waking a P for that costs a
 * system call and a thief bouncing the queue's cache lines between cores.
 * If the caller keeps running instead, the wake-up comes later: when it
 * readies another goroutine (the kicked one lands in the ring), or from
 * sysmon, which wakes an idle P for a queue it sees waiting two rounds in
 * a row. Owner only. */
static inline bool ringo__runqput_ready(struct ringo_p *p, struct ringo_g *gp)
{
	return ringo__runqput(p, gp, true);
}

/* Take runnext if it holds a G: a plain store when the owner is the
 * queue's only user, else a CAS against thieves. */
static inline struct ringo_g *runnext_take(struct ringo_p *p, bool unshared)
{
	struct ringo_g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
	if (next == NULL)
		return NULL;
	if (unshared) {
		atomic_store_explicit(&p->runnext, NULL, memory_order_relaxed);
		return next;
	}
	/* acquire: pairs with the release of whoever put it there */
	if (atomic_compare_exchange_strong_explicit(&p->runnext, &next, NULL,
			memory_order_acquire, memory_order_relaxed))
		return next;
	return NULL;	/* a thief took it */
}

/* Take a G from p's local queue: runnext first. *inherit_time is set when
 * it came from runnext (it shares the time slice of the G that readied it,
 * so a ping-pong pair cannot starve the rest of the queue). Owner only. */
static inline struct ringo_g *ringo__runqget(struct ringo_p *p, bool *inherit_time)
{
	bool unshared = ringo__runq_unshared();
	struct ringo_g *next = runnext_take(p, unshared);
	if (next) {
		if (inherit_time)
			*inherit_time = true;
		return next;
	}
	if (inherit_time)
		*inherit_time = false;
	if (unshared) {
		uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
		if (head == atomic_load_explicit(&p->runqtail, memory_order_relaxed))
			return NULL;
		struct ringo_g *gp = atomic_load_explicit(&p->runq[head & RINGO_RUNQ_MASK],
							  memory_order_relaxed);
		atomic_store_explicit(&p->runqhead, head + 1, memory_order_release);
		return gp;
	}
	for (;;) {
		uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
		uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
		if (tail == head)
			return NULL;
		struct ringo_g *gp = atomic_load_explicit(&p->runq[head & RINGO_RUNQ_MASK],
							  memory_order_relaxed);
		/* acq_rel: the CAS commits the consume against thieves */
		if (atomic_compare_exchange_weak_explicit(&p->runqhead, &head, head + 1,
				memory_order_acq_rel, memory_order_relaxed)) {
			/* With other Ps about, the next G may have last run on
			 * another core: start fetching its line while gp runs. */
			if (tail != head + 1)
				__builtin_prefetch(atomic_load_explicit(
					&p->runq[(head + 1) & RINGO_RUNQ_MASK], memory_order_relaxed));
			return gp;
		}
	}
}

#endif /* RINGO_RUNQ_H */
