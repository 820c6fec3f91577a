/* SPDX-License-Identifier: MIT */
/*
 * group.c - ringo_group: golang.org/x/sync/errgroup.
 *
 * A wait group counts the goroutines started by ringo_group_go; the first
 * non-zero result is kept (compare-and-swap from 0) and cancels the
 * group's context, so the others can give up early. A limit is a
 * weighted semaphore of that size: go takes one unit before it spawns and
 * the goroutine gives it back when it finishes.
 *
 * Invariants: limit changes only while no goroutine of the group is
 * active; a goroutine touches the group last through ringo_waitgroup_done
 * (the waiter may reuse or free the group right after).
 *
 * Memory model: everything a goroutine of the group did happens before
 * ringo_group_wait returns (the wait group), and the first error's store
 * happens before the cancellation it causes is observed.
 */
#include "runtime.h"

#include <string.h>

struct group {
	ringo_waitgroup wg;		/* goroutines started and not finished */
	ringo_sem sem;			/* limit slots, if limit > 0 */
	ringo_ctx *ctx;			/* the group's own context, or NULL; owner: wait */
	_Atomic int err;		/* first non-zero result [atomic, CAS from 0] */
	int limit;			/* 0: unlimited [changed only when active == 0] */
	_Atomic int32_t active;		/* goroutines started and not finished [atomic] */
};
_Static_assert(sizeof(struct group) <= sizeof(ringo_group) &&
	       _Alignof(struct group) <= _Alignof(ringo_group),
	       "ringo_group too small for its implementation");

/* What a goroutine of the group needs (ringo_go passes one pointer). */
struct task {
	struct group *g;
	int (*fn)(ringo_ctx *, void *);
	void *arg;
	bool limited;			/* holds one unit of g->sem */
};

static inline struct group *gr(ringo_group *g)
{
	return (struct group *)(void *)g;
}

int ringo_group_init(ringo_group *pg, ringo_ctx *parent)
{
	if (!pg || !parent)
		return -EINVAL;
	memset(pg, 0, sizeof *pg);
	return ringo_ctx_with_cancel(parent, &gr(pg)->ctx);
}

ringo_ctx *ringo_group_ctx(ringo_group *pg)
{
	struct group *g = gr(pg);
	return g->ctx ? g->ctx : ringo_ctx_background();
}

int ringo_group_set_limit(ringo_group *pg, int n)
{
	struct group *g = gr(pg);
	if (n == 0)
		return -EINVAL;
	if (atomic_load(&g->active) != 0)
		return -EBUSY;
	g->limit = n < 0 ? 0 : n;
	if (g->limit)
		ringo_sem_init(&g->sem, g->limit);
	return 0;
}

static void finish(struct group *g, bool limited)
{
	if (limited)
		ringo_sem_release(&g->sem, 1);
	atomic_fetch_sub(&g->active, 1);
	ringo_waitgroup_done(&g->wg);	/* last touch of g */
}

static void task_main(void *arg)
{
	struct task t = *(struct task *)arg;
	ringo__free(arg, sizeof t);
	struct group *g = t.g;
	int r = t.fn(g->ctx ? g->ctx : ringo_ctx_background(), t.arg);
	if (r != 0) {
		int zero = 0;
		if (atomic_compare_exchange_strong(&g->err, &zero, r) && g->ctx)
			ringo_ctx_cancel(g->ctx);
	}
	finish(g, t.limited);
}

static int spawn(struct group *g, int (*fn)(ringo_ctx *, void *), void *arg, bool limited)
{
	struct task *t = ringo__alloc(sizeof *t);
	if (!t) {
		if (limited)
			ringo_sem_release(&g->sem, 1);
		return -ENOMEM;
	}
	*t = (struct task){ .g = g, .fn = fn, .arg = arg, .limited = limited };
	atomic_fetch_add(&g->active, 1);
	ringo_waitgroup_add(&g->wg, 1);
	int r = ringo_go(task_main, t);
	if (r < 0) {
		ringo__free(t, sizeof *t);
		finish(g, limited);
	}
	return r;
}

int ringo_group_go(ringo_group *pg, int (*fn)(ringo_ctx *, void *), void *arg)
{
	struct group *g = gr(pg);
	if (!fn)
		return -EINVAL;
	if (g->limit) {
		int r = ringo_sem_acquire(&g->sem, 1);
		if (r < 0)
			return r;
	}
	return spawn(g, fn, arg, g->limit != 0);
}

int ringo_group_try_go(ringo_group *pg, int (*fn)(ringo_ctx *, void *), void *arg)
{
	struct group *g = gr(pg);
	if (!fn)
		return -EINVAL;
	if (g->limit && ringo_sem_try_acquire(&g->sem, 1) < 0)
		return -EAGAIN;
	return spawn(g, fn, arg, g->limit != 0);
}

int ringo_group_wait(ringo_group *pg)
{
	struct group *g = gr(pg);
	ringo_waitgroup_wait(&g->wg);
	int err = atomic_load(&g->err);
	ringo_ctx_free(g->ctx);	/* cancels it, as errgroup's Wait does */
	memset(pg, 0, sizeof *pg);	/* back to the zero value */
	return err;
}
