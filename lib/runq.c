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
 *  - the global queue is only changed with sched.lock held.
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

/* ---- global queue ------------------------------------------------------
 *
 * The global queue is a FIFO of batches. The Gs of a batch are linked by
 * schedlink (the last one's is NULL); the first G of each batch holds the
 * batch's length (batchlen) and the first G of the next batch (batchlink).
 * A taker detaches whole batches in O(1) under sched.lock and walks them
 * only after dropping it: the walk is a cache miss per G that last ran on
 * another core, and with a walk inside the lock the other P's M slept on
 * it (spawn_p2 spent a quarter of its time there).
 *
 * Invariants [sched.lock]: runqsize is the sum of the batches' lengths;
 * no batch is empty; runqlastbatch and runqtail are the first and last G
 * of the last batch (NULL when empty). Batches hold at most GBATCH_MAX Gs
 * but those readied in one list without a P (a close with many waiters),
 * which a taker splits.
 */

#define GBATCH_MAX (RINGO_RUNQ_SIZE / 2 + 1)	/* runqputslow's batch */

/* Append the chain head..tail (linked by schedlink) as a batch of n. */
void ringo__globrunqputbatch(struct ringo_g *head, struct ringo_g *tail, int32_t n)
{
	struct ringo__sched *s = &ringo__sched;
	RINGO_ASSERT(n >= 1);
	tail->schedlink = NULL;
	head->batchlink = NULL;
	head->batchlen = n;
	if (s->runqlastbatch)
		s->runqlastbatch->batchlink = head;
	else
		s->runqhead = head;
	s->runqlastbatch = head;
	s->runqtail = tail;
	atomic_fetch_add_explicit(&s->runqsize, n, memory_order_relaxed);
}

/* Append one G, to the last batch while it has room. */
void ringo__globrunqput(struct ringo_g *gp)
{
	struct ringo__sched *s = &ringo__sched;
	struct ringo_g *last = s->runqlastbatch;
	if (!last || last->batchlen == GBATCH_MAX) {
		ringo__globrunqputbatch(gp, gp, 1);
		return;
	}
	gp->schedlink = NULL;
	s->runqtail->schedlink = gp;
	s->runqtail = gp;
	last->batchlen++;
	atomic_fetch_add_explicit(&s->runqsize, 1, memory_order_relaxed);
}

/* Put one G at the front, into the first batch while it has room. */
void ringo__globrunqputhead(struct ringo_g *gp)
{
	struct ringo__sched *s = &ringo__sched;
	struct ringo_g *first = s->runqhead;
	if (!first || first->batchlen == GBATCH_MAX) {
		gp->schedlink = NULL;
		gp->batchlen = 1;
		gp->batchlink = first;
		s->runqhead = gp;
		if (!first) {
			s->runqlastbatch = gp;
			s->runqtail = gp;
		}
	} else {
		gp->schedlink = first;
		gp->batchlen = first->batchlen + 1;
		gp->batchlink = first->batchlink;
		s->runqhead = gp;
		if (s->runqlastbatch == first)
			s->runqlastbatch = gp;
	}
	atomic_fetch_add_explicit(&s->runqsize, 1, memory_order_relaxed);
}

/* Detach a fair share of the global queue (at most max Gs if max > 0):
 * the first batch whole (its first G alone when max is 1), then more
 * whole batches while they fit in size/nprocs + 1. Whole batches keep
 * this O(1) per batch; the share can exceed the fair one by up to a
 * batch, which the other Ps win back by stealing. Returns the detached
 * batches, linked by batchlink, or NULL. */
struct ringo_g *ringo__globrunqtake(int32_t max)
{
	struct ringo__sched *s = &ringo__sched;
	int32_t size = atomic_load_explicit(&s->runqsize, memory_order_relaxed);
	if (size == 0)
		return NULL;
	int32_t fair = size / atomic_load_explicit(&s->nprocs, memory_order_relaxed) + 1;
	int32_t limit = max > 0 && max < GBATCH_MAX ? max : GBATCH_MAX;

	struct ringo_g *first = s->runqhead;
	struct ringo_g *last = first;
	int32_t taken = 0;
	if (first->batchlen > limit) {
		/* Split off the front: a walk of limit Gs, so of one but
		 * for the rare batch over GBATCH_MAX. */
		struct ringo_g *cut = first;
		for (int32_t i = 1; i < limit; i++)
			cut = cut->schedlink;
		struct ringo_g *rest = cut->schedlink;
		cut->schedlink = NULL;
		rest->batchlen = first->batchlen - limit;
		rest->batchlink = first->batchlink;
		first->batchlen = limit;
		s->runqhead = rest;
		if (s->runqlastbatch == first)
			s->runqlastbatch = rest;
		taken = limit;
	} else {
		taken = first->batchlen;
		while (last->batchlink && taken + last->batchlink->batchlen <= fair &&
		       taken + last->batchlink->batchlen <= limit) {
			last = last->batchlink;
			taken += last->batchlen;
		}
		s->runqhead = last->batchlink;
		if (!s->runqhead)
			s->runqlastbatch = s->runqtail = NULL;
	}
	last->batchlink = NULL;
	atomic_fetch_sub_explicit(&s->runqsize, taken, memory_order_relaxed);
	return first;
}

/* Queue all but the first G of batches from globrunqtake on p's local
 * queue (sched.lock not held); return the first, to run. Each link is
 * read before its G is queued: once queued, a thief may run it. */
struct ringo_g *ringo__globrunqload(struct ringo_p *p, struct ringo_g *batches)
{
	if (!batches)
		return NULL;
	struct ringo_g *gp = batches;
	struct ringo_g *g = gp->schedlink, *nextbatch = gp->batchlink;
	for (;;) {
		while (g) {
			struct ringo_g *next = g->schedlink;
			ringo__runqput(p, g, false);
			g = next;
		}
		if (!nextbatch)
			return gp;
		g = nextbatch;
		nextbatch = nextbatch->batchlink;
	}
}

/* Take a fair share of the global queue (at most max if max > 0): one to
 * return, the rest into p's local queue. Takes sched.lock. */
struct ringo_g *ringo__globrunqget(struct ringo_p *p, int32_t max)
{
	ringo__lock(&ringo__sched.lock);
	struct ringo_g *batches = ringo__globrunqtake(max);
	ringo__unlock(&ringo__sched.lock);
	return ringo__globrunqload(p, batches);
}
