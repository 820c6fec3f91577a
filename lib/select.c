/* SPDX-License-Identifier: MIT */
/*
 * select.c - ringo_select, with the algorithm of Go's selectgo:
 *
 *  0. Sort the cases with a channel by channel address into a lock order
 *     (deadlock freedom: every select and close takes channel locks in
 *     increasing address order; a channel named by several cases is
 *     locked once).
 *  1. With every channel locked, take a ready case, chosen uniformly
 *     among the ready ones. (Before that, one case chosen uniformly among
 *     those that look ready without any lock is tried under its own
 *     channel's lock alone: the fast pass.) None and RINGO_SELECT_NOWAIT:
 *     -EAGAIN.
 *  2. Queue a sudog on every channel (in lock order, linked from
 *     g->waiting) and park; the park unlock function releases the locks.
 *  3. Woken by the one waker that won g->select_done (chan.h), remove
 *     the other sudogs, each under its own channel's lock, and report the
 *     case the waker filled in (g->param points to its sudog).
 *
 * Go shuffles the cases into a random poll order and takes the first
 * ready one; a single pass with reservoir sampling (keep the k-th ready
 * case with probability 1/k) gives the same uniform choice without the
 * shuffle, and draws a random number only when two cases are ready.
 *
 * The sudogs and the lock order live on the goroutine's stack for up to
 * SELECT_STACK_CASES cases, else in one allocation. They are safe on
 * the stack for the same reason as a plain receive's sudog: the parked
 * goroutine only runs again once readied, by a waker that took a channel
 * lock the unlock function had already released; pass 3 takes the lock
 * of every other channel in turn, so the goroutine cannot return while
 * the unlock function still holds one - and that reads a sudog only
 * while the sudog's channel is still locked.
 *
 * Cases with a NULL channel are left out: they are never chosen. Where
 * Go panics (send on a closed channel) the case is chosen with result
 * -EPIPE.
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

/* Fill lockorder with the indices of the nn cases that have a channel,
 * sorted by channel address, without allocating: insertion as they are
 * found for the common small selects, heap sort (O(n log n)) beyond. */
static void build_lockorder(const struct ringo_case *cases, int n, uint16_t *lockorder, int nn)
{
	int j = 0;
	if (nn <= SELECT_STACK_CASES) {
		for (int i = 0; i < n; i++) {
			uintptr_t a = case_addr(cases, (uint16_t)i);
			if (!a)
				continue;
			int k = j++;
			for (; k > 0 && case_addr(cases, lockorder[k - 1]) > a; k--)
				lockorder[k] = lockorder[k - 1];
			lockorder[k] = (uint16_t)i;
		}
		return;
	}
	for (int i = 0; i < n; i++)
		if (cases[i].chan)
			lockorder[j++] = (uint16_t)i;
	for (int root = nn / 2 - 1; root >= 0; root--)
		sift_down(cases, lockorder, root, nn);
	for (int end = nn - 1; end > 0; end--) {
		uint16_t t = lockorder[0];
		lockorder[0] = lockorder[end];
		lockorder[end] = t;
		sift_down(cases, lockorder, 0, end);
	}
}

/* Lock (unlock) the channels in lock order, each once. */
static inline __attribute__((always_inline)) void
sellock(const struct ringo_case *cases, const uint16_t *lockorder, int n)
{
	struct ringo_chan *last = NULL;
	for (int i = 0; i < n; i++) {
		struct ringo_chan *c = cases[lockorder[i]].chan;
		if (c != last)
			ringo__chan_lock(c);
		last = c;
	}
}

static inline __attribute__((always_inline)) void
selunlock(const struct ringo_case *cases, const uint16_t *lockorder, int n)
{
	struct ringo_chan *last = NULL;
	for (int i = 0; i < n; i++) {
		struct ringo_chan *c = cases[lockorder[i]].chan;
		if (c != last)
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

/* Could case cs go ahead now? With its channel locked, a yes is exact but
 * for a receive from (send to) an unbuffered channel whose queued senders
 * (receivers) are all selects already claimed by another case: then
 * select_try fails, having dropped those sudogs. Without the lock (the
 * fast pass) only a hint, checked again under the lock. */
static inline bool case_ready(const struct ringo_case *cs)
{
	const struct ringo_chan *c = cs->chan;
	if (RINGO_CHAN_PEEK(c->closed))
		return true;
	if (cs->dir == RINGO_RECV)
		return RINGO_CHAN_PEEK(c->sendq.first) || RINGO_CHAN_PEEK(c->qcount) > 0;
	return RINGO_CHAN_PEEK(c->recvq.first) || RINGO_CHAN_PEEK(c->qcount) < c->dataqsiz;
}

/* Keep the nready-th ready case seen in a pass? (Reservoir sampling: with
 * probability 1/nready, which leaves every ready case equally likely.) */
static inline bool reservoir_keep(uint32_t nready)
{
	return nready == 1 || rand_below(nready) == 0;
}

/* Perform case cs if it can go ahead; its channel is locked. Sets
 * cs->result and *wake (the G to ready after unlocking, if any). */
static bool select_try(struct ringo_case *cs, struct ringo_g **wake)
{
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
			return false;
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
			return false;
		}
	}
	return true;
}

/* Pass 1: with every channel locked, perform a ready case chosen
 * uniformly among the ready ones. Returns its index (result set, *wake
 * the G to ready after unlocking, if any) or -1. */
static int select_poll(struct ringo_case *cases, const uint16_t *lockorder, int n,
		       struct ringo_g **wake)
{
	for (;;) {
		int pick = -1;
		uint32_t nready = 0;
		for (int i = 0; i < n; i++)
			if (case_ready(&cases[lockorder[i]]) && reservoir_keep(++nready))
				pick = lockorder[i];
		if (pick < 0)
			return -1;
		if (select_try(&cases[pick], wake))
			return pick;
		/* Only claimed selects' sudogs were queued there, and they are
		 * gone now: look again. */
	}
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
					     .is_select = true, .casei = lockorder[i] };
		*link = sg;
		link = &sg->waitlink;
		ringo__waitq_enqueue(cs->dir == RINGO_RECV ? &cs->chan->recvq : &cs->chan->sendq, sg);
	}
	*link = NULL;
	gp->param = NULL;
	ringo__park(select_park_commit, NULL, "select");

	/* Pass 3. The waker that claimed us filled in its case (and took
	 * that sudog off its queue); the other sudogs may still be queued.
	 * Each is removed under its own channel's lock: the locks need not
	 * be held together (Go relocks them all), because no waker can
	 * claim us meanwhile: g->select_done stays set until every sudog is
	 * off its queue. The fired channel is not locked again unless
	 * another case names it too. */
	struct ringo__sudog *fired = gp->param;
	if (unlikely(fired < sgs || fired >= sgs + n))
		ringo__fatal("select: woken without a case (param %p)", (void *)fired);
	struct ringo_chan *locked = NULL;
	for (int i = 0; i < n; i++) {
		struct ringo__sudog *sg = &sgs[i];
		if (sg == fired)
			continue;
		if (sg->c != locked) {	/* sgs are in lock order: duplicates are adjacent */
			if (locked)
				ringo__chan_unlock(locked);
			locked = sg->c;
			ringo__chan_lock(locked);
		}
		ringo__waitq_remove(cases[sg->casei].dir == RINGO_RECV ? &locked->recvq
								       : &locked->sendq, sg);
	}
	if (locked)
		ringo__chan_unlock(locked);
	/* relaxed: a waker only reaches select_done through one of our
	 * sudogs, under its channel's lock; those are all off their queues
	 * now, and the next select's sudogs are published under channel
	 * locks taken after this store. */
	atomic_store_explicit(&gp->select_done, 0, memory_order_relaxed);
	gp->param = NULL;
	gp->waiting = NULL;
	struct ringo_case *cs = &cases[fired->casei];
	if (cs->dir == RINGO_RECV)
		cs->result = fired->success ? 1 : 0;
	else
		cs->result = fired->success ? 0 : -EPIPE;
	return fired->casei;
}

/* Passes 1 to 3, with every channel locked: when the fast pass found
 * nothing (the usual way to block) or its look was stale. Out of line, so
 * that a select that finds its case ready runs only the short front. */
static int __attribute__((noinline))
select_locked(struct ringo_g *gp, struct ringo_case *cases, int n, int nn, bool block)
{
	/* Scratch: the lock order and (blocking) the sudogs. */
	uint16_t lockorder_stack[SELECT_STACK_CASES];
	struct ringo__sudog sgs_stack[SELECT_STACK_CASES];
	uint16_t *lockorder = lockorder_stack;
	struct ringo__sudog *sgs = sgs_stack;
	void *heap = NULL;
	size_t heap_size = 0;
	if (unlikely(nn > SELECT_STACK_CASES)) {
		size_t sgs_size = block ? (size_t)nn * sizeof *sgs : 0;
		heap_size = sgs_size + (size_t)nn * sizeof *lockorder;
		heap = ringo__alloc(heap_size);
		if (!heap)
			return -ENOMEM;
		sgs = heap;
		lockorder = (uint16_t *)((char *)heap + sgs_size);
	}
	build_lockorder(cases, n, lockorder, nn);

	struct ringo_g *wake = NULL;
	sellock(cases, lockorder, nn);
	int ret = select_poll(cases, lockorder, nn, &wake);
	if (ret >= 0) {
		selunlock(cases, lockorder, nn);
		if (wake)
			ringo__ready(wake);
	} else if (!block) {
		selunlock(cases, lockorder, nn);
		ret = -EAGAIN;
	} else {
		ret = select_block(gp, cases, lockorder, nn, sgs);
	}
	if (unlikely(heap != NULL))
		ringo__free(heap, heap_size);
	return ret;
}

int ringo_select(struct ringo_case *cases, int n, int flags)
{
	bool block = !(flags & RINGO_SELECT_NOWAIT);
	if (unlikely(n < 0 || n > SELECT_MAX_CASES || (n > 0 && !cases) ||
		     (flags & ~RINGO_SELECT_NOWAIT)))
		return -EINVAL;

	/* Check every case (nothing has happened yet if one is invalid),
	 * count the ones with a channel, and pick one uniformly among those
	 * that look ready without a lock. */
	int nn = 0, pick = -1;
	uint32_t nready = 0;
	for (int i = 0; i < n; i++) {
		const struct ringo_case *cs = &cases[i];
		if (unlikely((cs->dir != RINGO_RECV && cs->dir != RINGO_SEND) ||
			     (cs->dir == RINGO_SEND && cs->chan && !cs->elem &&
			      cs->chan->elemsize)))
			return -EINVAL;
		if (!cs->chan)
			continue;
		nn++;
		if (case_ready(cs) && reservoir_keep(++nready))
			pick = i;
	}
	struct ringo_g *gp = ringo__getg();
	if (block) {
		if (unlikely(!gp))
			return -EPERM;
		ringo__chan_preempt_check(gp);
	}
	if (unlikely(nn == 0)) {
		if (!block)
			return -EAGAIN;
		ringo__block_forever(n == 0 ? "select (no cases)" : "select");
	}

	/* The fast pass: try the picked case under its own channel's lock
	 * alone. A select that finds a partner waiting (half of all selects
	 * in a ping-pong) takes one lock instead of all of them. When the
	 * look was stale, pass 1 decides, with every lock held. */
	struct ringo_g *wake = NULL;
	if (pick >= 0) {
		struct ringo_chan *c = cases[pick].chan;
		ringo__chan_lock(c);
		bool done = select_try(&cases[pick], &wake);
		ringo__chan_unlock(c);
		if (done) {
			if (wake)
				ringo__ready(wake);
			return pick;
		}
	}

	return select_locked(gp, cases, n, nn, block);
}
