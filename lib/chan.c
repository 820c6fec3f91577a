/* SPDX-License-Identifier: MIT */
/*
 * chan.c - channels: make, send, receive, close, lifetime (DESIGN.md §9),
 * with the algorithm of Go's chan.go.
 *
 * Every operation takes the channel lock once. Under it a send first looks
 * for a blocked receiver and copies the value straight into that
 * receiver's destination (on the receiver's stack: it is parked), then for
 * room in the buffer; a receive first looks for a blocked sender (with a
 * full buffer it takes the head and moves the sender's value into the
 * freed slot, so FIFO order holds), then at the buffer. Only when neither
 * can proceed does the goroutine queue a sudog - on its own stack - and
 * park; the lock is held across the switch and released by the park
 * unlock function, so a waker can only find the sudog once the goroutine
 * is off its stack (no lost wake-up). Wakers ready the goroutine after
 * unlocking and never touch the sudog again.
 *
 * Non-blocking operations (try_send, try_recv, select with NOWAIT) never
 * park, and work with no current goroutine and no P (timers fire on g0 or
 * on sysmon; ringo__ready works there too). Blocking ones need a
 * goroutine: -EPERM outside one.
 *
 * ringo returns errors where Go panics: send on a closed channel and
 * closing twice give -EPIPE, close(NULL) -EINVAL.
 *
 * The memory model: a send happens before the matching receive completes
 * and a close before a receive that observes it - both through the
 * channel lock (acquire/release), or, for a parked goroutine, the lock
 * plus the run-queue hand-off in ringo__ready.
 */
#include "chan.h"

#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ */
/* Make, references                                                      */

ringo_chan *ringo_chan_make(size_t elem_size, size_t cap)
{
	size_t bufsize;
	if (__builtin_mul_overflow(elem_size, cap, &bufsize) ||
	    bufsize > (size_t)PTRDIFF_MAX - sizeof(struct ringo_chan))
		return NULL;
	struct ringo_chan *c = ringo__alloc(sizeof *c + bufsize);
	if (!c)
		return NULL;
	c->elemsize = elem_size;
	c->dataqsiz = cap;
	atomic_init(&c->refs, 1);
	atomic_init(&c->bias, RINGO_CHAN_UNBIASED);
	return c;
}

ringo_chan *ringo_chan_ref(ringo_chan *c)
{
	if (c)
		/* relaxed: a new reference is made from an existing one */
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void ringo_chan_unref(ringo_chan *c)
{
	if (!c)
		return;
	/* acq_rel: every use through this reference happens before the
	 * free (release), and the freeing holder sees every other holder's
	 * uses (acquire). Not release plus an acquire fence: TSan does not
	 * model fences. */
	size_t old = atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel);
	RINGO_ASSERT(old != 0);
	if (old != 1)
		return;
#ifdef RINGO_DEBUG_BUILD
	ringo__chan_lock(c);
	bool waiters = c->recvq.first || c->sendq.first;
	ringo__chan_unlock(c);
	if (waiters)
		ringo__fatal("channel %p freed by its last ringo_chan_unref "
			     "while goroutines are blocked on it", (void *)c);
#endif
	ringo__free(c, sizeof *c + c->elemsize * c->dataqsiz);
}

size_t ringo_chan_len(ringo_chan *c)
{
	if (!c)
		return 0;
	ringo__chan_lock(c);
	size_t n = c->qcount;
	ringo__chan_unlock(c);
	return n;
}

size_t ringo_chan_cap(ringo_chan *c)
{
	return c ? c->dataqsiz : 0;
}

/* ------------------------------------------------------------------ */
/* Hand-off to a parked goroutine (c->lock held)                         */

struct ringo_g *ringo__chan_send_direct(struct ringo_chan *c, struct ringo__sudog *sg,
					const void *elem)
{
	if (sg->elem)
		ringo__elem_copy(sg->elem, elem, c->elemsize);
	sg->success = true;
	struct ringo_g *gp = sg->g;
	gp->param = sg;
	return gp;
}

struct ringo_g *ringo__chan_recv_direct(struct ringo_chan *c, struct ringo__sudog *sg,
					void *elem)
{
	if (c->dataqsiz == 0) {
		if (elem)
			ringo__elem_copy(elem, sg->elem, c->elemsize);
	} else {
		/* Full buffer: take the head, put the sender's value in the
		 * freed slot, which becomes the tail. */
		RINGO_ASSERT(c->qcount == c->dataqsiz);
		char *slot = ringo__chan_slot(c, c->recvx);
		if (elem)
			ringo__elem_copy(elem, slot, c->elemsize);
		ringo__elem_copy(slot, sg->elem, c->elemsize);
		if (++c->recvx == c->dataqsiz)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	sg->success = true;
	struct ringo_g *gp = sg->g;
	gp->param = sg;
	return gp;
}

/* ------------------------------------------------------------------ */
/* Parking                                                               */

/* Runs on the next goroutine's (or g0's) stack once the parking G is off
 * its own: only now may a waker find its sudog. */
static bool chan_park_commit(struct ringo_g *gp, void *arg)
{
	(void)gp;
	ringo__chan_unlock(arg);
	return true;
}

void ringo__block_forever(const char *reason)
{
	for (;;)
		ringo__park(NULL, NULL, reason);
}

/* Queue a sudog on q, park until a waker (or close) takes it. Called with
 * c->lock held; returns with it released. true if a value passed. */
static bool chan_block(struct ringo_g *gp, struct ringo_chan *c, struct ringo__waitq *q,
		       void *elem, const char *reason)
{
	struct ringo__sudog sg = { .g = gp, .elem = elem, .c = c };
	gp->waiting = &sg;
	gp->param = NULL;
	ringo__waitq_enqueue(q, &sg);
	ringo__park(chan_park_commit, c, reason);
	/* Woken by whoever dequeued sg; it wrote sg.success before
	 * ringo__ready, which orders it before our resumption. c may be
	 * gone already: do not touch it. */
	RINGO_ASSERT(gp->param == &sg);
	gp->waiting = NULL;
	gp->param = NULL;
	return sg.success;
}

/* ------------------------------------------------------------------ */
/* Send                                                                  */

static inline __attribute__((always_inline)) int
chan_send(struct ringo_chan *c, const void *elem, bool block)
{
	struct ringo_g *gp = ringo__getg();
	if (block) {
		if (unlikely(!gp))
			return -EPERM;
		ringo__chan_preempt_check(gp);
		if (unlikely(!c))
			ringo__block_forever("chan send (nil chan)");
	} else if (unlikely(!c)) {
		return -EAGAIN;
	}
	if (unlikely(!elem && c->elemsize))
		return -EINVAL;

	ringo__chan_lock(c);
	if (unlikely(c->closed)) {
		ringo__chan_unlock(c);
		return -EPIPE;
	}
	struct ringo__sudog *sg = ringo__waitq_dequeue(&c->recvq);
	if (sg) {
		struct ringo_g *wake = ringo__chan_send_direct(c, sg, elem);
		ringo__chan_unlock(c);
		ringo__ready(wake);
		return 0;
	}
	if (c->qcount < c->dataqsiz) {
		ringo__chan_buf_put(c, elem);
		ringo__chan_unlock(c);
		return 0;
	}
	if (!block) {
		ringo__chan_unlock(c);
		return -EAGAIN;
	}
	return chan_block(gp, c, &c->sendq, (void *)elem, "chan send") ? 0 : -EPIPE;
}

int ringo_chan_send(ringo_chan *c, const void *elem)
{
	return chan_send(c, elem, true);
}

int ringo_chan_try_send(ringo_chan *c, const void *elem)
{
	return chan_send(c, elem, false);
}

/* ------------------------------------------------------------------ */
/* Receive                                                               */

static inline __attribute__((always_inline)) int
chan_recv(struct ringo_chan *c, void *elem, bool block)
{
	struct ringo_g *gp = ringo__getg();
	if (block) {
		if (unlikely(!gp))
			return -EPERM;
		ringo__chan_preempt_check(gp);
		if (unlikely(!c))
			ringo__block_forever("chan receive (nil chan)");
	} else if (unlikely(!c)) {
		return -EAGAIN;
	}

	ringo__chan_lock(c);
	struct ringo__sudog *sg = ringo__waitq_dequeue(&c->sendq);
	if (sg) {
		struct ringo_g *wake = ringo__chan_recv_direct(c, sg, elem);
		ringo__chan_unlock(c);
		ringo__ready(wake);
		return 1;
	}
	if (c->qcount > 0) {
		ringo__chan_buf_get(c, elem);
		ringo__chan_unlock(c);
		return 1;
	}
	if (c->closed) {
		/* Closed and drained (close emptied sendq). */
		ringo__chan_unlock(c);
		if (elem && c->elemsize)
			memset(elem, 0, c->elemsize);
		return 0;
	}
	if (!block) {
		ringo__chan_unlock(c);
		return -EAGAIN;
	}
	return chan_block(gp, c, &c->recvq, elem, "chan receive") ? 1 : 0;
}

int ringo_chan_recv(ringo_chan *c, void *elem)
{
	return chan_recv(c, elem, true);
}

int ringo_chan_try_recv(ringo_chan *c, void *elem)
{
	return chan_recv(c, elem, false);
}

/* ------------------------------------------------------------------ */
/* Close                                                                 */

int ringo_chan_close(ringo_chan *c)
{
	if (!c)
		return -EINVAL;
	ringo__chan_lock(c);
	if (c->closed) {
		ringo__chan_unlock(c);
		return -EPIPE;
	}
	RINGO_CHAN_PEEKED_SET(c->closed, 1);

	/* Collect every waiter (receivers get a zeroed value, senders
	 * -EPIPE); ready them only after unlocking. Their sudogs may vanish
	 * the moment they run, so keep the Gs, not the sudogs. */
	struct ringo_g *head = NULL, **tail = &head;
	int n = 0;
	struct ringo__sudog *sg;
	while ((sg = ringo__waitq_dequeue(&c->recvq))) {
		if (sg->elem && c->elemsize)
			memset(sg->elem, 0, c->elemsize);
		sg->success = false;
		sg->g->param = sg;
		*tail = sg->g;
		tail = &sg->g->schedlink;
		n++;
	}
	while ((sg = ringo__waitq_dequeue(&c->sendq))) {
		sg->success = false;
		sg->g->param = sg;
		*tail = sg->g;
		tail = &sg->g->schedlink;
		n++;
	}
	*tail = NULL;
	ringo__chan_unlock(c);
	if (n)
		ringo__ready_list(head, n);
	return 0;
}
