/* SPDX-License-Identifier: MIT */
/*
 * chan.h - channel internals shared by chan.c and select.c: the channel
 * (hchan), the wait record of a blocked goroutine (sudog) and the wait
 * queues, as in Go's chan.go and runtime2.go.
 *
 * Invariants (c->lock held):
 *  - At least one of c->sendq and c->recvq is empty, except for an
 *    unbuffered channel with a single goroutine blocked in a select that
 *    both sends and receives on it: its two sudogs sit in both queues, and
 *    they can never match each other.
 *  - For a buffered channel: qcount > 0 implies recvq is empty; qcount <
 *    dataqsiz implies sendq is empty.
 *  - A sudog in a queue belongs to a goroutine that is parked (or about to
 *    be, with the channel lock still held by its unlock function), so a
 *    sudog and the memory its elem points to may live on that goroutine's
 *    stack: nobody else runs on it until the goroutine is readied, and the
 *    waker touches neither after readying it.
 *  - Only the goroutine that dequeues a sudog readies its G; a select's G
 *    is claimed by the first dequeuer through g->select_done, so it is
 *    readied exactly once however many of its cases become ready.
 *
 * Lock order: channel locks in increasing address order (select.c), then
 * sched.lock (a parking goroutine holds its channel locks through the
 * switch, which may take the global run queue) and the sema bucket locks.
 * Timer callbacks (ringo_after, tickers) send with their heap unlocked.
 * Wakers call ringo__ready only after unlocking.
 */
#ifndef RINGO_CHAN_H
#define RINGO_CHAN_H

#include "runtime.h"

#include <string.h>

/* A goroutine waiting on a channel: one per blocked send/recv, one per
 * case of a blocked select. */
struct ringo__sudog {
	struct ringo_g *g;		/* the waiting goroutine [immutable while queued] */
	struct ringo__sudog *next;	/* wait queue links [c->lock] */
	struct ringo__sudog *prev;	/* [c->lock] */
	void *elem;			/* send: the value; recv: destination or NULL [c->lock] */
	struct ringo_chan *c;		/* the channel it waits on [immutable while queued] */
	struct ringo__sudog *waitlink;	/* g->waiting list, select's lock order [owner G] */
	bool is_select;			/* part of a select: claim g->select_done first */
	bool success;			/* woken by a value passing, not by close [c->lock] */
	uint16_t casei;			/* select: the case it stands for [immutable] */
};

struct ringo__waitq {
	struct ringo__sudog *first;	/* [c->lock] */
	struct ringo__sudog *last;	/* [c->lock] */
};

/* The channel. The buffer of dataqsiz elements follows the struct in the
 * same allocation. */
struct ringo_chan {
	_Atomic uint32_t lock;		/* 0 free, 1 held (ringo__chan_lock);
					 * protects every field below but refs */
	_Atomic uint32_t held;		/* 1 while the bias P holds the channel
					 * [written only by the thread running that P] */
	_Atomic uintptr_t bias;		/* RINGO_CHAN_UNBIASED, the P biased to, or
					 * | RINGO_CHAN_BIAS_REVOKED (chanlock.c) [written under lock] */
	uint32_t closed;		/* [lock] */
	uint16_t bias_streak;		/* bias_candidate's operations in a row [lock] */
	uint16_t bias_misses;		/* streaks broken so far [lock] */
	uintptr_t bias_candidate;	/* the P on a streak [lock] */
	size_t qcount;			/* elements in the buffer [lock] */
	size_t dataqsiz;		/* buffer capacity [immutable] */
	size_t elemsize;		/* [immutable] */
	size_t sendx;			/* next slot to fill [lock] */
	size_t recvx;			/* next slot to take [lock] */
	struct ringo__waitq recvq;	/* blocked receivers [lock] */
	struct ringo__waitq sendq;	/* blocked senders [lock] */
	_Atomic size_t refs;		/* references [atomic] */
	char buf[];			/* dataqsiz * elemsize bytes */
};

/* The fields select's unlocked peek reads (closed, qcount, the wait
 * queues' first) are written, always under the lock, with relaxed atomic
 * stores: plain moves on x86_64, and not a data race for the peek's
 * relaxed loads. Reads under the lock stay plain. */
#define RINGO_CHAN_PEEKED_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define RINGO_CHAN_PEEK(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------ */
/* Locking                                                               */
/*
 * A channel lock is a test-and-test-and-set spin lock, unlocked with a
 * plain release store. Every channel operation takes it, so its cost is
 * the cost of a channel: a locked instruction is ~6 ns here, and the futex
 * lock (ringo__lock) needs a second one in unlock to learn whether to wake
 * a sleeper. Rejected for that reason. A spin lock is sound here because
 * the critical sections are a few dozen instructions, never block in the
 * kernel and are never preempted (m->locks > 0 keeps async preemption
 * away); a contender spins, then yields the CPU (the holder's thread may
 * have been descheduled by the kernel). The park path holds the lock
 * across the switch until the unlock function runs: still a short, bounded
 * section.
 *
 * A channel that one P has used for a long streak is biased to that P:
 * goroutines running on it take the channel with two plain stores and no
 * locked instruction (c->held), and anyone else first revokes the bias,
 * for good. Only one thread runs a P at a time, and a holder is never
 * switched out (m->locks), so c->held needs no atomic read-modify-write;
 * the revoker's membarrier(2) stands in for the fence the owner's side
 * leaves out. The protocol, its proof and the streak rules: chanlock.c.
 */

/* c->bias: a P's address (line-aligned), or one of these. */
#define RINGO_CHAN_UNBIASED ((uintptr_t)1)	/* new: counting streaks */
#define RINGO_CHAN_BIAS_REVOKED ((uintptr_t)2)	/* or'ed in for good */

RINGO_HIDDEN void ringo__chan_lock_slow(struct ringo_chan *c);
RINGO_HIDDEN void ringo__chan_bias_account(struct ringo_chan *c, uintptr_t self);

/* The bias value of this thread: its P, or 0 without one (never a bias:
 * c->bias is never 0). */
static inline uintptr_t ringo__chan_self(const struct ringo_m *m)
{
	return m ? (uintptr_t)m->p : 0;
}

static inline void ringo__chan_lock(struct ringo_chan *c)
{
	struct ringo_m *m = ringo__getm();
	if (m)
		m->locks++;
	uintptr_t self = ringo__chan_self(m);
	if (atomic_load_explicit(&c->bias, memory_order_relaxed) == self) {
		/* The owner's side of the Dekker pair: announce, then look
		 * again. The compiler keeps the order; a revoker's membarrier
		 * makes the CPU keep it (chanlock.c). */
		atomic_store_explicit(&c->held, 1, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
		if (likely(atomic_load_explicit(&c->bias, memory_order_acquire) == self))
			return;
		atomic_store_explicit(&c->held, 0, memory_order_release);	/* revoked: back off */
	}
	uint32_t free = 0;
	/* acquire: pairs with the release store in ringo__chan_unlock */
	if (unlikely(!atomic_compare_exchange_strong_explicit(&c->lock, &free, 1,
			memory_order_acquire, memory_order_relaxed)))
		ringo__chan_lock_slow(c);
	if (unlikely(!(atomic_load_explicit(&c->bias, memory_order_relaxed) &
		       RINGO_CHAN_BIAS_REVOKED)))
		ringo__chan_bias_account(c, self);
}

static inline void ringo__chan_unlock(struct ringo_chan *c)
{
	struct ringo_m *m = ringo__getm();
	/* c->held is set and this thread runs the bias P (revoked or not):
	 * only its own ringo__chan_lock can have set it. (held first: it is
	 * 0 on every channel never biased.) Nothing of c is touched after
	 * the releasing store: c may be freed by then. */
	if (atomic_load_explicit(&c->held, memory_order_relaxed) &&
	    (atomic_load_explicit(&c->bias, memory_order_relaxed) & ~RINGO_CHAN_BIAS_REVOKED) ==
		    ringo__chan_self(m))
		/* release: pairs with a revoker's acquiring wait */
		atomic_store_explicit(&c->held, 0, memory_order_release);
	else
		/* release: pairs with the acquiring CAS of the next holder */
		atomic_store_explicit(&c->lock, 0, memory_order_release);
	if (m)
		m->locks--;
}

/* Cooperative preemption point at the start of every channel operation:
 * a flag test, the call only when a yield is asked for. */
static inline void ringo__chan_preempt_check(struct ringo_g *gp)
{
	if (unlikely(atomic_load_explicit(&gp->preempt, memory_order_relaxed) ||
		     atomic_load_explicit(&ringo__sched.gcwaiting, memory_order_relaxed)))
		ringo__preempt_check();
}

/* ------------------------------------------------------------------ */
/* Wait queues (c->lock held)                                            */

static inline void ringo__waitq_enqueue(struct ringo__waitq *q, struct ringo__sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->last;
	if (q->last)
		q->last->next = sg;
	else
		RINGO_CHAN_PEEKED_SET(q->first, sg);
	q->last = sg;
}

/* Take the first sudog whose goroutine can still be woken through it. A
 * select's sudog is skipped (and dropped) when another case of the same
 * select has already claimed its G: that G is about to wake, relock its
 * channels and remove its remaining sudogs itself. */
static inline struct ringo__sudog *ringo__waitq_dequeue(struct ringo__waitq *q)
{
	for (;;) {
		struct ringo__sudog *sg = q->first;
		if (!sg)
			return NULL;
		RINGO_CHAN_PEEKED_SET(q->first, sg->next);
		if (sg->next) {
			sg->next->prev = NULL;
			sg->next = NULL;
		} else {
			q->last = NULL;
		}
		if (sg->is_select) {
			uint32_t zero = 0;
			/* acq_rel: pairs with the other wakers' CAS on the
			 * same G (only one wins). The reset to 0 in select's
			 * pass 3 comes after all its sudogs left their queues
			 * (select.c). */
			if (!atomic_compare_exchange_strong_explicit(&sg->g->select_done,
					&zero, 1, memory_order_acq_rel, memory_order_relaxed))
				continue;
		}
		return sg;
	}
}

/* Remove sg from q if it is still there (a select's losing cases). A
 * dequeued sudog has prev == next == NULL and is not q->first. */
static inline void ringo__waitq_remove(struct ringo__waitq *q, struct ringo__sudog *sg)
{
	struct ringo__sudog *x = sg->prev, *y = sg->next;
	if (x)
		x->next = y;
	else if (q->first == sg)
		RINGO_CHAN_PEEKED_SET(q->first, y);
	else
		return;		/* already dequeued by a waker that lost the claim */
	if (y)
		y->prev = x;
	else
		q->last = x;
	sg->next = sg->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* Moving values (c->lock held)                                          */

static inline void ringo__elem_copy(void *dst, const void *src, size_t n)
{
	/* The common sizes as single moves; memcpy for the rest. */
	switch (n) {
	case 0:
		return;
	case 4:
		memcpy(dst, src, 4);
		return;
	case 8:
		memcpy(dst, src, 8);
		return;
	case 16:
		memcpy(dst, src, 16);
		return;
	default:
		memcpy(dst, src, n);
	}
}

static inline char *ringo__chan_slot(struct ringo_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

/* Append to the buffer; qcount < dataqsiz. */
static inline void ringo__chan_buf_put(struct ringo_chan *c, const void *elem)
{
	ringo__elem_copy(ringo__chan_slot(c, c->sendx), elem, c->elemsize);
	if (++c->sendx == c->dataqsiz)
		c->sendx = 0;
	RINGO_CHAN_PEEKED_SET(c->qcount, c->qcount + 1);
}

/* Take the head of the buffer into elem (NULL: discard); qcount > 0. */
static inline void ringo__chan_buf_get(struct ringo_chan *c, void *elem)
{
	if (elem)
		ringo__elem_copy(elem, ringo__chan_slot(c, c->recvx), c->elemsize);
	if (++c->recvx == c->dataqsiz)
		c->recvx = 0;
	RINGO_CHAN_PEEKED_SET(c->qcount, c->qcount - 1);
}

/* Hand a value to the blocked receiver sg (dequeued from c->recvq).
 * Returns its G, to be readied once c is unlocked. */
RINGO_HIDDEN struct ringo_g *ringo__chan_send_direct(struct ringo_chan *c,
		struct ringo__sudog *sg, const void *elem);
/* Complete a receive from the blocked sender sg (dequeued from c->sendq):
 * unbuffered, take its value; buffered (so full), take the head and move
 * its value into the freed slot. Returns its G, to be readied once c is
 * unlocked. */
RINGO_HIDDEN struct ringo_g *ringo__chan_recv_direct(struct ringo_chan *c,
		struct ringo__sudog *sg, void *elem);

/* Park the calling goroutine forever (operations on a NULL channel). */
RINGO_HIDDEN void ringo__block_forever(const char *reason) __attribute__((noreturn));

#endif /* RINGO_CHAN_H */
