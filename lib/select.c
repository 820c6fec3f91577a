/* SPDX-License-Identifier: MIT */
/*
 * select.c - ringo_select, with the algorithm of Go's selectgo:
 *
 *  0. Shuffle the cases with a channel into a random poll order (so a
 *     case is chosen uniformly among the ready ones) and sort them by
 *     channel address into a lock order (deadlock freedom: every select
 *     and close takes channel locks in increasing address order; a
 *     channel named by several cases is locked once).
 *  1. With every channel locked, take the first ready case in poll order.
 *     (Before that, the case that first looks ready without any lock is
 *     tried under its own channel's lock alone: select_fast.)
 *     None and RINGO_SELECT_NOWAIT: -EAGAIN.
 *  2. Queue a sudog on every channel (in lock order, linked from
 *     g->waiting) and park; the park unlock function releases the locks.
 *  3. Woken by the one waker that won g->select_done (chan.h), relock
 *     the channels, remove the other sudogs and report the case the waker
 *     filled in (g->param points to its sudog).
 *
 * The sudogs, poll order and lock order live on the goroutine's stack for
 * up to SELECT_STACK_CASES cases, else in one allocation. They are safe on
 * the stack for the same reason as a plain receive's sudog: the parked
 * goroutine only runs again once readied, by a waker that took a channel
 * lock the unlock function had already released; pass 3 needs the locks
 * of all the other channels, so the goroutine cannot return while the
 * unlock function still holds one - and it reads a sudog only while that
 * sudog's channel is still locked.
 *
 * Cases with a NULL channel are left out of both orders: they are never
 * chosen. Where Go panics (send on a closed channel) the case is chosen
 * with result -EPIPE.
 */
#include "chan.h"

#include <stdint.h>

#define SELECT_STACK_CASES 8
#define SELECT_MAX_CASES 65536	/* indices fit in uint16_t, as in Go */

/* A random number for the shuffle, also on threads without an M
 * (sysmon, timer callbacks on foreign threads). */
static uint32_t select_rand(void)
{
	if (likely(ringo__getm() != NULL))
		return ringo__fastrand();
	static __thread uint64_t x;
	if (!x)
		x = (uint64_t)ringo__nanotime() ^ (uint64_t)(uintptr_t)&x ^ 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [0, n) (Lemire's multiply-shift; the bias is negligible). */
static inline uint32_t rand_below(uint32_t n)
{
	return (uint32_t)(((uint64_t)select_rand() * n) >> 32);
}

static inline uintptr_t case_addr(const struct ringo_case *cases, uint16_t i)
{
	return (uintptr_t)cases[i].chan;
}

static void sift_down(const struct ringo_case *cases, uint16_t *order, int root, int n)
{
	for (;;) {
		int child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n &&
		    case_addr(cases, order[child]) < case_addr(cases, order[child + 1]))
			child++;
		if (case_addr(cases, order[root]) >= case_addr(cases, order[child]))
			return;
		uint16_t t = order[root];
		order[root] = order[child];
		order[child] = t;
		root = child;
	}
}

/* Sort order[0..n) by channel address without allocating: insertion sort
 * for the common small selects, heap sort (O(n log n)) beyond. */
static void sort_by_chan(const struct ringo_case *cases, uint16_t *order, int n)
{
	if (n <= SELECT_STACK_CASES) {
		for (int i = 1; i < n; i++) {
			uint16_t v = order[i];
			int j = i;
			for (; j > 0 && case_addr(cases, order[j - 1]) > case_addr(cases, v); j--)
				order[j] = order[j - 1];
			order[j] = v;
		}
		return;
	}
	for (int root = n / 2 - 1; root >= 0; root--)
		sift_down(cases, order, root, n);
	for (int end = n - 1; end > 0; end--) {
		uint16_t t = order[0];
		order[0] = order[end];
		order[end] = t;
		sift_down(cases, order, 0, end);
	}
}

/* Lock (unlock) the channels in lock order, each once; skip one channel
 * (NULL: none). */
static inline __attribute__((always_inline)) void
sellock(const struct ringo_case *cases, const uint16_t *lockorder, int n,
	const struct ringo_chan *skip)
{
	struct ringo_chan *last = NULL;
	for (int i = 0; i < n; i++) {
		struct ringo_chan *c = cases[lockorder[i]].chan;
		if (c != last && c != skip)
			ringo__chan_lock(c);
		last = c;
	}
}

static inline __attribute__((always_inline)) void
selunlock(const struct ringo_case *cases, const uint16_t *lockorder, int n,
	  const struct ringo_chan *skip)
{
	struct ringo_chan *last = NULL;
	for (int i = 0; i < n; i++) {
		struct ringo_chan *c = cases[lockorder[i]].chan;
		if (c != last && c != skip)
			ringo__chan_unlock(c);
		last = c;
	}
}

/* Park unlock function: release the channels through the sudog list (in
 * lock order). Each sudog is read while its own channel is still locked;
 * after the last unlock nothing of the goroutine is touched (it may be
 * running again already). */
static bool select_park_commit(struct ringo_g *gp, void *arg)
{
	(void)arg;
	struct ringo_chan *last = NULL;
	for (struct ringo__sudog *sg = gp->waiting; sg;) {
		struct ringo_chan *c = sg->c;
		struct ringo__sudog *next = sg->waitlink;
		if (last && c != last)
			ringo__chan_unlock(last);
		last = c;
		sg = next;
	}
	if (last)
		ringo__chan_unlock(last);
	return true;
}

/* Pass 1: with every channel locked, perform the first ready case in poll
 * order. Returns its index (result set, *wake the G to ready after
 * unlocking, if any) or -1. */
static int select_poll(struct ringo_case *cases, const uint16_t *pollorder, int n,
		       struct ringo_g **wake)
{
	for (int i = 0; i < n; i++) {
		int k = pollorder[i];
		struct ringo_case *cs = &cases[k];
		struct ringo_chan *c = cs->chan;
		struct ringo__sudog *sg;
		if (cs->dir == RINGO_RECV) {
			if ((sg = ringo__waitq_dequeue(&c->sendq))) {
				*wake = ringo__chan_recv_direct(c, sg, cs->elem);
				cs->result = 1;
			} else if (c->qcount > 0) {
				ringo__chan_buf_get(c, cs->elem);
				cs->result = 1;
			} else if (c->closed) {
				if (cs->elem && c->elemsize)
					memset(cs->elem, 0, c->elemsize);
				cs->result = 0;
			} else {
				continue;
			}
		} else {
			if (c->closed) {
				cs->result = -EPIPE;
			} else if ((sg = ringo__waitq_dequeue(&c->recvq))) {
				*wake = ringo__chan_send_direct(c, sg, cs->elem);
				cs->result = 0;
			} else if (c->qcount < c->dataqsiz) {
				ringo__chan_buf_put(c, cs->elem);
				cs->result = 0;
			} else {
				continue;
			}
		}
		return k;
	}
	return -1;
}

/* Could case cs go ahead now? Read without the channel lock, so only a
 * hint: a yes is checked again under the lock. */
static inline bool case_maybe_ready(const struct ringo_case *cs)
{
	struct ringo_chan *c = cs->chan;
	if (RINGO_CHAN_PEEK(c->closed))
		return true;
	if (cs->dir == RINGO_RECV)
		return RINGO_CHAN_PEEK(c->sendq.first) || RINGO_CHAN_PEEK(c->qcount) > 0;
	return RINGO_CHAN_PEEK(c->recvq.first) || RINGO_CHAN_PEEK(c->qcount) < c->dataqsiz;
}

/* The fast pass: the first case in poll order that looks ready is tried
 * under its own channel's lock alone. A select that finds a partner
 * waiting (half of all selects in a ping-pong) then takes one lock instead
 * of all of them. The choice is still uniform among the ready cases: the
 * poll order is random. Returns -1 when nothing looked ready or the look
 * was stale; pass 1 decides then, with every lock held. */
static int select_fast(struct ringo_case *cases, const uint16_t *pollorder, int n,
		       struct ringo_g **wake)
{
	for (int i = 0; i < n; i++) {
		struct ringo_case *cs = &cases[pollorder[i]];
		if (!case_maybe_ready(cs))
			continue;
		ringo__chan_lock(cs->chan);
		int k = select_poll(cases, &pollorder[i], 1, wake);
		ringo__chan_unlock(cs->chan);
		return k;
	}
	return -1;
}

/* Passes 2 and 3: enqueue, park, and on wake dequeue from the others. All
 * channels locked on entry, unlocked on return. */
static int select_block(struct ringo_g *gp, struct ringo_case *cases,
			const uint16_t *lockorder, int n, struct ringo__sudog *sgs)
{
	struct ringo__sudog **link = &gp->waiting;
	for (int i = 0; i < n; i++) {
		struct ringo_case *cs = &cases[lockorder[i]];
		struct ringo__sudog *sg = &sgs[i];
		*sg = (struct ringo__sudog){ .g = gp, .elem = cs->elem, .c = cs->chan,
					     .is_select = true };
		*link = sg;
		link = &sg->waitlink;
		ringo__waitq_enqueue(cs->dir == RINGO_RECV ? &cs->chan->recvq : &cs->chan->sendq, sg);
	}
	*link = NULL;
	gp->param = NULL;
	ringo__park(select_park_commit, NULL, "select");

	/* Pass 3. The waker that claimed us filled in its case (and took
	 * that sudog off its queue); the other sudogs may still be queued.
	 * The fired channel need not be locked again unless another case
	 * names it too: nothing of ours is left on it. (Go relocks it; the
	 * saved lock is a third of a blocking two-case select's atomics.) */
	struct ringo__sudog *fired = gp->param;
	if (unlikely(fired < sgs || fired >= sgs + n))
		ringo__fatal("select: woken without a case (param %p)", (void *)fired);
	ptrdiff_t f = fired - sgs;
	const struct ringo_chan *skip = fired->c;
	if ((f > 0 && sgs[f - 1].c == skip) || (f + 1 < n && sgs[f + 1].c == skip))
		skip = NULL;	/* sgs are in lock order: duplicates are adjacent */
	sellock(cases, lockorder, n, skip);
	/* relaxed: every waker that can still see one of our sudogs CASes
	 * under a lock we now hold, and the sudogs leave their queues
	 * before those locks are released. */
	atomic_store_explicit(&gp->select_done, 0, memory_order_relaxed);
	gp->param = NULL;
	gp->waiting = NULL;
	int casi = -1;
	for (int i = 0; i < n; i++) {
		struct ringo__sudog *sg = &sgs[i];
		struct ringo_case *cs = &cases[lockorder[i]];
		if (sg == fired) {
			casi = lockorder[i];
			if (cs->dir == RINGO_RECV)
				cs->result = sg->success ? 1 : 0;
			else
				cs->result = sg->success ? 0 : -EPIPE;
		} else {
			ringo__waitq_remove(cs->dir == RINGO_RECV ? &cs->chan->recvq
								  : &cs->chan->sendq, sg);
		}
	}
	selunlock(cases, lockorder, n, skip);
	RINGO_ASSERT(casi >= 0);
	return casi;
}

int ringo_select(struct ringo_case *cases, int n, int flags)
{
	bool block = !(flags & RINGO_SELECT_NOWAIT);
	if (unlikely(n < 0 || n > SELECT_MAX_CASES || (n > 0 && !cases) ||
		     (flags & ~RINGO_SELECT_NOWAIT)))
		return -EINVAL;

	/* Scratch: poll order, lock order, and (blocking) the sudogs. */
	uint16_t order_stack[2 * SELECT_STACK_CASES];
	struct ringo__sudog sgs_stack[SELECT_STACK_CASES];
	uint16_t *pollorder = order_stack;
	struct ringo__sudog *sgs = sgs_stack;
	void *heap = NULL;
	size_t heap_size = 0;
	if (unlikely(n > SELECT_STACK_CASES)) {
		size_t sgs_size = block ? (size_t)n * sizeof *sgs : 0;
		heap_size = sgs_size + 2 * (size_t)n * sizeof *pollorder;
		heap = ringo__alloc(heap_size);
		if (!heap)
			return -ENOMEM;
		sgs = heap;
		pollorder = (uint16_t *)((char *)heap + sgs_size);
	}
	uint16_t *lockorder = pollorder + (n > SELECT_STACK_CASES ? n : SELECT_STACK_CASES);

	/* Check every case, and build a random poll order over the cases
	 * with a channel (inside-out Fisher-Yates) and the same cases in
	 * lock order. Nothing has happened yet if a case is invalid. */
	int nn = 0;
	int ret;
	for (int i = 0; i < n; i++) {
		struct ringo_case *cs = &cases[i];
		if (unlikely((cs->dir != RINGO_RECV && cs->dir != RINGO_SEND) ||
			     (cs->dir == RINGO_SEND && cs->chan && !cs->elem &&
			      cs->chan->elemsize))) {
			ret = -EINVAL;
			goto out;
		}
		if (!cs->chan)
			continue;
		uint32_t j = rand_below((uint32_t)nn + 1);
		pollorder[nn] = pollorder[j];
		pollorder[j] = (uint16_t)i;
		lockorder[nn] = (uint16_t)i;
		nn++;
	}
	struct ringo_g *gp = ringo__getg();
	if (block) {
		if (unlikely(!gp)) {
			ret = -EPERM;
			goto out;
		}
		ringo__chan_preempt_check(gp);
	}
	if (unlikely(nn == 0)) {
		if (!block) {
			ret = -EAGAIN;
			goto out;
		}
		ringo__free(heap, heap_size);
		ringo__block_forever(n == 0 ? "select (no cases)" : "select");
	}
	struct ringo_g *wake = NULL;
	ret = select_fast(cases, pollorder, nn, &wake);
	if (ret >= 0) {
		if (wake)
			ringo__ready(wake);
		goto out;
	}
	sort_by_chan(cases, lockorder, nn);

	sellock(cases, lockorder, nn, NULL);
	ret = select_poll(cases, pollorder, nn, &wake);
	if (ret >= 0) {
		selunlock(cases, lockorder, nn, NULL);
		if (wake)
			ringo__ready(wake);
	} else if (!block) {
		selunlock(cases, lockorder, nn, NULL);
		ret = -EAGAIN;
	} else {
		ret = select_block(gp, cases, lockorder, nn, sgs);
	}
out:
	if (unlikely(heap != NULL))
		ringo__free(heap, heap_size);
	return ret;
}
