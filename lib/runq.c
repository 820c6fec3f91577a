/* SPDX-License-Identifier: MIT */
/*
 * runq.c - the per-P local run queues and the global run queue.
 *
 * A local queue is a 256-slot ring (Go's runq). Only the owning P's M
 * writes runqtail; the owner and thieves (other Ms stealing work) advance
 * runqhead with a CAS. runnext holds the G to run next, ahead of the ring:
 * a G readied by the running one goes there so that ping-pong pairs keep
 * running on one P, back to back.
 *
 * The owner's hot operations (runqput, runqget, runqempty) are inline, in
 * runq.h; this file has the slow paths, stealing and the global queue.
 *
 * Invariants:
 *  - runqtail - runqhead <= RINGO_RUNQ_SIZE (read with acquire, the owner
 *    alone advances tail);
 *  - a G is in at most one queue; G_RUNNABLE while it is;
 *  - the global queue is only touched with sched.lock held.
 */
#include "runtime.h"

/* Move half of the local queue plus gp to the global queue, in one batch
 * under sched.lock. Called by the owner when the ring is full. Returns
 * false if a thief took items meanwhile (the caller retries the ring). */
bool ringo__runqputslow(struct ringo_p *p, struct ringo_g *gp, uint32_t head, uint32_t tail)
{
	struct ringo_g *batch[RINGO_RUNQ_SIZE / 2 + 1];
	uint32_t n = (tail - head) / 2;

	for (uint32_t i = 0; i < n; i++)
		batch[i] = atomic_load_explicit(&p->runq[(head + i) & RINGO_RUNQ_MASK],
						memory_order_relaxed);
	/* acq_rel: the slots read above are ours only if no thief moved head */
	if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &head, head + n,
			memory_order_acq_rel, memory_order_relaxed))
		return false;
	batch[n] = gp;
	/* Shuffle nothing: keeping order keeps FIFO-ish fairness. */
	for (uint32_t i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	ringo__lock(&ringo__sched.lock);
	ringo__globrunqputbatch(batch[0], batch[n], (int32_t)n + 1);
	ringo__unlock(&ringo__sched.lock);
	return true;
}

/* Grab half of victim's queue into batch (at most RINGO_RUNQ_SIZE/2).
 * With steal_next, runnext may be taken too when the ring is empty. */
/* A running P's runnext was usually readied by a goroutine about to block,
 * and its owner will run it within microseconds: stealing it would bounce
 * a ping-pong pair between Ps. Give the owner 3 µs (Go's grace) and say
 * whether next is still there. */
static bool runnext_grace(struct ringo_p *victim, struct ringo_g *next)
{
	int64_t until = ringo__nanotime() + 3000;
	do {
		for (int i = 0; i < 64; i++) {
			if (atomic_load_explicit(&victim->runnext, memory_order_relaxed) != next)
				return false;
			ringo__cpu_relax();
		}
	} while (ringo__nanotime() < until);
	return true;
}

static uint32_t runqgrab(struct ringo_p *victim, struct ringo_g **batch, bool steal_next)
{
	for (;;) {
		uint32_t head = atomic_load_explicit(&victim->runqhead, memory_order_acquire);
		/* acquire: pairs with the owner's store-release of tail */
		uint32_t tail = atomic_load_explicit(&victim->runqtail, memory_order_acquire);
		uint32_t n = tail - head;
		n = n - n / 2;
		if (n == 0) {
			if (!steal_next)
				return 0;
			struct ringo_g *next = atomic_load_explicit(&victim->runnext,
								    memory_order_acquire);
			if (next == NULL)
				return 0;
			if (atomic_load_explicit(&victim->status, memory_order_relaxed) == P_RUNNING &&
			    !runnext_grace(victim, next))
				continue;	/* its owner took it */
			if (atomic_compare_exchange_strong_explicit(&victim->runnext, &next, NULL,
					memory_order_acq_rel, memory_order_relaxed)) {
				batch[0] = next;
				return 1;
			}
			continue;
		}
		if (n > RINGO_RUNQ_SIZE / 2)	/* read inconsistent head and tail */
			continue;
		for (uint32_t i = 0; i < n; i++)
			batch[i] = atomic_load_explicit(&victim->runq[(head + i) & RINGO_RUNQ_MASK],
							memory_order_relaxed);
		/* acq_rel: commits the steal; the owner may have consumed some */
		if (atomic_compare_exchange_strong_explicit(&victim->runqhead, &head, head + n,
				memory_order_acq_rel, memory_order_relaxed))
			return n;
	}
}

/* Steal half of victim's queue into p's (which must be empty) and return
 * one G to run. Called by p's owner. */
struct ringo_g *ringo__runqsteal(struct ringo_p *p, struct ringo_p *victim, bool steal_next)
{
	struct ringo_g *batch[RINGO_RUNQ_SIZE / 2];
	uint32_t n = runqgrab(victim, batch, steal_next);
	if (n == 0)
		return NULL;
	struct ringo_g *gp = batch[--n];
	if (n == 0)
		return gp;
	uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++)
		atomic_store_explicit(&p->runq[(tail + i) & RINGO_RUNQ_MASK], batch[i],
				      memory_order_relaxed);
	/* release: publishes the stolen slots */
	atomic_store_explicit(&p->runqtail, tail + n, memory_order_release);
	return gp;
}

/* ---- global queue: sched.lock held ---------------------------------- */

void ringo__globrunqput(struct ringo_g *gp)
{
	gp->schedlink = NULL;
	if (ringo__sched.runqtail)
		ringo__sched.runqtail->schedlink = gp;
	else
		ringo__sched.runqhead = gp;
	ringo__sched.runqtail = gp;
	atomic_fetch_add_explicit(&ringo__sched.runqsize, 1, memory_order_relaxed);
}

void ringo__globrunqputhead(struct ringo_g *gp)
{
	gp->schedlink = ringo__sched.runqhead;
	ringo__sched.runqhead = gp;
	if (!ringo__sched.runqtail)
		ringo__sched.runqtail = gp;
	atomic_fetch_add_explicit(&ringo__sched.runqsize, 1, memory_order_relaxed);
}

void ringo__globrunqputbatch(struct ringo_g *head, struct ringo_g *tail, int32_t n)
{
	tail->schedlink = NULL;
	if (ringo__sched.runqtail)
		ringo__sched.runqtail->schedlink = head;
	else
		ringo__sched.runqhead = head;
	ringo__sched.runqtail = tail;
	atomic_fetch_add_explicit(&ringo__sched.runqsize, n, memory_order_relaxed);
}

/* Take a fair share of the global queue (at most max if max > 0): one to
 * return, the rest into p's local queue. */
struct ringo_g *ringo__globrunqget(struct ringo_p *p, int32_t max)
{
	int32_t size = atomic_load_explicit(&ringo__sched.runqsize, memory_order_relaxed);
	if (size == 0)
		return NULL;
	int32_t n = size / atomic_load_explicit(&ringo__sched.nprocs, memory_order_relaxed) + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > RINGO_RUNQ_SIZE / 2)
		n = RINGO_RUNQ_SIZE / 2;
	atomic_fetch_sub_explicit(&ringo__sched.runqsize, n, memory_order_relaxed);

	struct ringo_g *gp = ringo__sched.runqhead;
	ringo__sched.runqhead = gp->schedlink;
	if (!ringo__sched.runqhead)
		ringo__sched.runqtail = NULL;
	while (--n > 0) {
		struct ringo_g *g1 = ringo__sched.runqhead;
		ringo__sched.runqhead = g1->schedlink;
		if (!ringo__sched.runqhead)
			ringo__sched.runqtail = NULL;
		ringo__runqput(p, g1, false);
	}
	return gp;
}
