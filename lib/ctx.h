/* SPDX-License-Identifier: MIT */
/*
 * ctx.h - the runtime's view of contexts (ctx.c): cancellation hooks.
 *
 * A hook is a callback registered with a context and run when it is
 * cancelled. Child contexts register one with their nearest cancellable
 * ancestor; blocking operations that take a context (ringo_sem_acquire_ctx)
 * register one to wake their waiter. This is Go's context.AfterFunc turned
 * inward: no goroutine and no channel per wait.
 */
#ifndef RINGO_CTX_H
#define RINGO_CTX_H

#include "runtime.h"

struct ringo__ctx_hook {
	/* Runs once, on the cancelling thread (a goroutine, or g0/sysmon
	 * for a deadline), with the context's lock held: it must not block
	 * or park and must not call back into that context. It may take
	 * locks ranked below context locks (objects' own runtime locks,
	 * channel locks) and ready goroutines. err is the context's error. */
	void (*fn)(struct ringo__ctx_hook *h, int err);
	struct ringo__ctx_hook *prev, *next;	/* in owner's list; NULL when not [owner lock] */
	struct ringo_ctx *owner;	/* context it was added to, or NULL [set once by add] */
};

/* Register h with ctx's nearest cancellable context. Returns 0 (h will run
 * on cancellation; if ctx can never be cancelled it is not registered at
 * all), or ctx's error if it is already cancelled (h is not registered). */
RINGO_HIDDEN int ringo__ctx_hook_add(ringo_ctx *ctx, struct ringo__ctx_hook *h);
/* Unregister h if it has not run. When this returns h->fn is not running
 * and will not run, so h's memory may go. */
RINGO_HIDDEN void ringo__ctx_hook_del(struct ringo__ctx_hook *h);

#endif /* RINGO_CTX_H */
