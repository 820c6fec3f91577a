/* SPDX-License-Identifier: MIT */
/*
 * wsem.c - ringo_sem: a weighted semaphore (golang.org/x/sync/semaphore).
 *
 * size units in all; acquire(n) takes n of them. Waiters queue strictly
 * FIFO and a release grants units only from the head of the queue: when
 * the head asks for more than is free, later (smaller) requests wait too,
 * so a large request is never starved by a stream of small ones. An
 * arriving acquire takes units directly only when nobody is queued.
 *
 * The queue and the counters are protected by a runtime lock that is held
 * only for list and counter updates (and across the park, released by the
 * park unlock function). A waiter's record lives on its stack; it is off
 * the queue, with its result set, before it is woken.
 *
 * Cancellation (acquire_ctx) uses a context hook (ctx.h) registered
 * before the waiter queues: the hook takes the waiter off the queue with
 * the context's error, unless a release granted it first - whichever does
 * it under the lock decides. Lock order: context lock, then this lock.
 *
 * Memory model: a release happens before an acquire that it satisfies
 * returns (the lock orders them).
 */
#include "ctx.h"
#include "sema.h"

#include <string.h>

#define PENDING 1	/* waiter result while queued */

struct wsem {
	int64_t size;			/* capacity; set by init only */
	int64_t cur;			/* units held [lock] */
	ringo__lock_t lock;
	struct ringo__semwaiter *head, *tail;	/* FIFO via waitlink [lock] */
};
_Static_assert(sizeof(struct wsem) <= sizeof(ringo_sem) &&
	       _Alignof(struct wsem) <= _Alignof(ringo_sem),
	       "ringo_sem too small for its implementation");
_Static_assert(offsetof(struct wsem, size) == 0, "RINGO_SEM_INIT sets the first word");

/* A waiter that can be cancelled. */
struct sem_wait {
	struct ringo__semwaiter w;
	struct ringo__ctx_hook hook;
	struct wsem *s;
};

static inline struct wsem *ws(ringo_sem *s)
{
	return (struct wsem *)(void *)s;
}

int ringo_sem_init(ringo_sem *ps, int64_t n)
{
	if (!ps || n < 0)
		return -EINVAL;
	memset(ps, 0, sizeof *ps);
	ws(ps)->size = n;
	return 0;
}

/* Grant units to the head of the queue while they fit. Returns the
 * granted waiters (chained by waitlink) for the caller to wake once it
 * has dropped the lock. [lock held] */
static struct ringo__semwaiter *grant(struct wsem *s)
{
	struct ringo__semwaiter *woken = NULL, **tail = &woken;
	struct ringo__semwaiter *w;
	while ((w = s->head) && s->size - s->cur >= w->n) {
		s->cur += w->n;
		s->head = w->waitlink;
		if (!s->head)
			s->tail = NULL;
		w->waitlink = NULL;
		w->result = 0;
		*tail = w;
		tail = &w->waitlink;
	}
	return woken;
}

static void wake_all(struct ringo__semwaiter *w)
{
	while (w) {
		struct ringo__semwaiter *next = w->waitlink;
		ringo__sema_wake(w);	/* w is gone after this */
		w = next;
	}
}

/* Context hook: cancel a queued waiter. */
static void cancel_hook(struct ringo__ctx_hook *h, int err)
{
	struct sem_wait *sw = (struct sem_wait *)(void *)((char *)h - offsetof(struct sem_wait, hook));
	struct wsem *s = sw->s;
	struct ringo__semwaiter *woken = NULL;

	ringo__lock(&s->lock);
	if (sw->w.result != PENDING) {
		ringo__unlock(&s->lock);	/* granted first: the acquirer sorts it out */
		return;
	}
	struct ringo__semwaiter **pp = &s->head, *prev = NULL;
	while (*pp != &sw->w) {
		prev = *pp;
		pp = &(*pp)->waitlink;
	}
	*pp = sw->w.waitlink;
	if (s->tail == &sw->w)
		s->tail = prev;
	sw->w.waitlink = NULL;
	sw->w.result = err;
	/* If it was the head, the ones behind it may fit now. */
	if (!prev)
		woken = grant(s);
	ringo__unlock(&s->lock);
	ringo__sema_wake(&sw->w);
	wake_all(woken);
}

static int acquire(struct wsem *s, int64_t n, ringo_ctx *ctx)
{
	if (n < 0 || n > s->size)
		return -EINVAL;

	ringo__lock(&s->lock);
	if (s->size - s->cur >= n && !s->head && !ringo_ctx_err(ctx)) {
		s->cur += n;
		ringo__unlock(&s->lock);
		return 0;
	}
	ringo__unlock(&s->lock);

	struct sem_wait sw;
	memset(&sw, 0, sizeof sw);
	sw.w.g = ringo__getg();
	sw.w.n = n;
	sw.w.result = PENDING;
	sw.s = s;
	sw.hook.fn = cancel_hook;
	/* Register before queueing, outside our lock (lock order). */
	int err = ringo__ctx_hook_add(ctx, &sw.hook);
	if (err)
		return err;

	ringo__lock(&s->lock);
	if (s->size - s->cur >= n && !s->head) {
		s->cur += n;	/* freed up meanwhile */
		ringo__unlock(&s->lock);
		ringo__ctx_hook_del(&sw.hook);
		return 0;
	}
	if (s->tail)
		s->tail->waitlink = &sw.w;
	else
		s->head = &sw.w;
	s->tail = &sw.w;
	ringo__sema_sleep(&sw.w, &s->lock, "sync.Semaphore.Acquire");

	/* Off the queue: granted (0) or cancelled (-errno). */
	ringo__ctx_hook_del(&sw.hook);
	if (sw.w.result == 0 && (err = ringo_ctx_err(ctx)) != 0) {
		/* Granted, but the context is done: honour the context, as
		 * x/sync does, so a cancelled caller never holds units. */
		ringo_sem_release((ringo_sem *)(void *)s, n);
		return err;
	}
	return sw.w.result;
}

int ringo_sem_acquire(ringo_sem *s, int64_t n)
{
	return acquire(ws(s), n, NULL);
}

int ringo_sem_acquire_ctx(ringo_sem *s, int64_t n, ringo_ctx *ctx)
{
	return acquire(ws(s), n, ctx);
}

int ringo_sem_try_acquire(ringo_sem *ps, int64_t n)
{
	struct wsem *s = ws(ps);
	if (n < 0 || n > s->size)
		return -EINVAL;
	int r = -EAGAIN;
	ringo__lock(&s->lock);
	if (s->size - s->cur >= n && !s->head) {
		s->cur += n;
		r = 0;
	}
	ringo__unlock(&s->lock);
	return r;
}

int ringo_sem_release(ringo_sem *ps, int64_t n)
{
	struct wsem *s = ws(ps);
	if (n < 0)
		return -EINVAL;
	ringo__lock(&s->lock);
	s->cur -= n;
	if (s->cur < 0) {
		ringo__unlock(&s->lock);
		ringo__fatal("sync: semaphore released more than held");
	}
	struct ringo__semwaiter *woken = grant(s);
	ringo__unlock(&s->lock);
	wake_all(woken);
	return 0;
}
