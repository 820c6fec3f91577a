/* SPDX-License-Identifier: MIT */
/*
 * ctx.c - ringo_ctx: Go's context package (background, with_cancel,
 * with_timeout, with_deadline, with_value) for goroutines in C.
 *
 * Kinds. The background context is a static object: never cancelled, no
 * deadline, no values, a NULL done channel (which blocks forever, like
 * Go's nil channel). A cancel context owns a done channel, an error and a
 * list of hooks (ctx.h): its children and the operations waiting on it.
 * A deadline context is a cancel context with a runtime timer. A value
 * context holds one key/value pair and borrows cancellation from its
 * nearest cancellable ancestor (ctx->cancel).
 *
 * Cancellation. cancel() sets err and closes done exactly once, under the
 * context's lock, then runs every hook: each child cancels itself with the
 * same error (taking its own lock: context locks nest parent before
 * child, never the other way). A context that is cancelled or freed on its
 * own then removes its hook from its parent - after dropping its own lock.
 *
 * Lifetime (so that no order of frees is unsafe). Every context is
 * reference counted: the creator's reference, one per child (a child
 * points at its parent for values and for its parent's lock) and one per
 * armed timer (the timer callback may run on sysmon while the owner frees
 * the context). ringo_ctx_free() = cancel + drop the creator's reference;
 * memory goes when the last reference does. A parent freed before its
 * children is cancelled at once, and released when the last child is.
 *
 * The timer callback runs without a goroutine (g0 or sysmon): cancel()
 * only takes runtime locks, closes a channel (which works without a
 * goroutine) and readies waiters, so it is safe there.
 */
#include "ctx.h"

#include <string.h>

enum {
	CTX_BACKGROUND,
	CTX_CANCEL,	/* with_cancel, with_timeout, with_deadline */
	CTX_VALUE,
};

struct ringo_ctx {
	uint8_t kind;			/* immutable */
	bool has_deadline;		/* immutable */
	_Atomic bool timer_armed;	/* a deadline timer was started [atomic] */
	_Atomic uint32_t refs;		/* see "Lifetime" [atomic] */
	int64_t deadline;		/* effective deadline (abs ns) if has_deadline; immutable */
	struct ringo_ctx *parent;	/* holds a reference; NULL for background; immutable */
	struct ringo_ctx *cancel;	/* nearest cancellable context at or above, or NULL; immutable */

	/* CTX_VALUE */
	const void *key;		/* immutable */
	void *val;			/* immutable */

	/* CTX_CANCEL */
	ringo__lock_t lock;
	_Atomic int err;		/* 0 until cancelled [written under lock; read atomically] */
	ringo_chan *done;		/* closed on cancel [close under lock]; immutable pointer */
	struct ringo__ctx_hook hooks;	/* sentinel of the hook list [lock] */
	struct ringo__ctx_hook node;	/* our hook in our cancellable ancestor [its lock] */
	struct ringo__timer timer;	/* deadline timer [timer.c] */
};

static struct ringo_ctx background = {
	.kind = CTX_BACKGROUND,
	.refs = 1,
};

ringo_ctx *ringo_ctx_background(void)
{
	return &background;
}

/* ------------------------------------------------------------------ */
/* References                                                            */

static void ctx_ref(struct ringo_ctx *c)
{
	if (c->kind != CTX_BACKGROUND)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

/* Drop a reference; free c, and then its parent's reference, when it is
 * the last. A loop rather than recursion: chains may be long. */
static void ctx_unref(struct ringo_ctx *c)
{
	while (c && c->kind != CTX_BACKGROUND) {
		/* acq_rel: the last dropper sees every other owner's writes */
		if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
			return;
		struct ringo_ctx *parent = c->parent;
		RINGO_ASSERT(c->kind != CTX_CANCEL || c->hooks.next == &c->hooks);
		if (c->done)
			ringo_chan_unref(c->done);
		ringo__free(c, sizeof *c);
		c = parent;
	}
}

/* ------------------------------------------------------------------ */
/* Hooks                                                                 */

static void hooks_init(struct ringo__ctx_hook *sentinel)
{
	sentinel->prev = sentinel->next = sentinel;
}

int ringo__ctx_hook_add(ringo_ctx *ctx, struct ringo__ctx_hook *h)
{
	h->prev = h->next = NULL;
	h->owner = NULL;
	struct ringo_ctx *c = ctx ? ctx->cancel : NULL;
	if (!c)
		return 0;	/* never cancelled: nothing to register */
	ringo__lock(&c->lock);
	int err = atomic_load_explicit(&c->err, memory_order_relaxed);
	if (!err) {
		h->owner = c;
		h->prev = c->hooks.prev;
		h->next = &c->hooks;
		c->hooks.prev->next = h;
		c->hooks.prev = h;
	}
	ringo__unlock(&c->lock);
	return err;
}

void ringo__ctx_hook_del(struct ringo__ctx_hook *h)
{
	struct ringo_ctx *c = h->owner;
	if (!c)
		return;
	/* Taking the lock also waits for a cancel() that is running h->fn. */
	ringo__lock(&c->lock);
	if (h->next) {
		h->prev->next = h->next;
		h->next->prev = h->prev;
		h->prev = h->next = NULL;
	}
	ringo__unlock(&c->lock);
}

/* ------------------------------------------------------------------ */
/* Cancellation                                                          */

/* Cancel c with err (first call wins), run its hooks; detach: also
 * remove c from its ancestor (not when the ancestor is the one cancelling
 * us: it has unlinked our hook already). */
static void cancel(struct ringo_ctx *c, int err, bool detach)
{
	ringo__lock(&c->lock);
	if (atomic_load_explicit(&c->err, memory_order_relaxed) == 0) {
		/* release: pairs with the acquire load in ringo_ctx_err;
		 * seq_cst also pairs with the timer_armed check below and
		 * in arm_timer. */
		atomic_store(&c->err, err);
		ringo_chan_close(c->done);
		while (c->hooks.next != &c->hooks) {
			struct ringo__ctx_hook *h = c->hooks.next;
			h->prev->next = h->next;
			h->next->prev = h->prev;
			h->prev = h->next = NULL;
			h->fn(h, err);	/* must not touch h afterwards */
		}
	}
	ringo__unlock(&c->lock);
	if (detach)
		ringo__ctx_hook_del(&c->node);
	/* A pending timer holds a reference: stopping it drops it. If it
	 * is firing right now, its callback drops it instead. */
	if (atomic_load(&c->timer_armed) && ringo__timer_stop(&c->timer))
		ctx_unref(c);
}

/* A parent cancelled: cancel the child it points at with the same error. */
static void child_hook(struct ringo__ctx_hook *h, int err)
{
	struct ringo_ctx *c = (struct ringo_ctx *)(void *)((char *)h - offsetof(struct ringo_ctx, node));
	cancel(c, err, false);
}

static void timer_fired(void *arg, uint64_t seq)
{
	(void)seq;
	struct ringo_ctx *c = arg;
	cancel(c, -ETIMEDOUT, true);
	ctx_unref(c);	/* the reference taken by arm_timer */
}

static void arm_timer(struct ringo_ctx *c, int64_t when)
{
	ctx_ref(c);	/* dropped by timer_fired or by a successful stop */
	c->timer.f = timer_fired;
	c->timer.arg = c;
	atomic_store(&c->timer_armed, true);
	ringo__timer_start(&c->timer, when);
	/* A cancel that ran before timer_armed was set did not stop the
	 * timer: do it for it (seq_cst: one of us sees the other). */
	if (atomic_load(&c->err) != 0 && ringo__timer_stop(&c->timer))
		ctx_unref(c);
}

/* ------------------------------------------------------------------ */
/* Construction                                                          */

static struct ringo_ctx *ctx_new(struct ringo_ctx *parent, int kind)
{
	struct ringo_ctx *c = ringo__alloc(sizeof *c);
	if (!c)
		return NULL;
	c->kind = (uint8_t)kind;
	atomic_init(&c->refs, 1);
	c->parent = parent;
	c->has_deadline = parent->has_deadline;
	c->deadline = parent->deadline;
	c->cancel = parent->cancel;
	if (kind == CTX_CANCEL) {
		c->done = ringo_chan_make(0, 0);
		if (!c->done) {
			ringo__free(c, sizeof *c);
			return NULL;
		}
		c->cancel = c;
		hooks_init(&c->hooks);
		c->node.fn = child_hook;
	}
	ctx_ref(parent);
	return c;
}

/* A cancel context under parent, hooked to parent's cancellation. */
static int new_cancel(ringo_ctx *parent, ringo_ctx **out, struct ringo_ctx **cp)
{
	if (!parent || !out)
		return -EINVAL;
	struct ringo_ctx *c = ctx_new(parent, CTX_CANCEL);
	if (!c)
		return -ENOMEM;
	int err = ringo__ctx_hook_add(parent, &c->node);
	if (err)
		cancel(c, err, false);	/* parent already done: so are we */
	*cp = c;
	*out = c;
	return 0;
}

int ringo_ctx_with_cancel(ringo_ctx *parent, ringo_ctx **out)
{
	struct ringo_ctx *c;
	return new_cancel(parent, out, &c);
}

int ringo_ctx_with_deadline(ringo_ctx *parent, int64_t abs_ns, ringo_ctx **out)
{
	if (parent && parent->has_deadline && parent->deadline <= abs_ns)
		return ringo_ctx_with_cancel(parent, out);	/* the earlier one rules */
	struct ringo_ctx *c;
	int r = new_cancel(parent, out, &c);
	if (r < 0)
		return r;
	c->has_deadline = true;
	c->deadline = abs_ns;
	if (atomic_load(&c->err) != 0)
		return 0;
	if (abs_ns <= ringo__nanotime())
		cancel(c, -ETIMEDOUT, true);	/* already past */
	else
		arm_timer(c, abs_ns);
	return 0;
}

int ringo_ctx_with_timeout(ringo_ctx *parent, int64_t ns, ringo_ctx **out)
{
	int64_t now = ringo__nanotime();
	int64_t when = ns > INT64_MAX - now ? INT64_MAX : now + ns;
	return ringo_ctx_with_deadline(parent, when, out);
}

int ringo_ctx_with_value(ringo_ctx *parent, const void *key, void *val, ringo_ctx **out)
{
	if (!parent || !out)
		return -EINVAL;
	struct ringo_ctx *c = ctx_new(parent, CTX_VALUE);
	if (!c)
		return -ENOMEM;
	c->key = key;
	c->val = val;
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Queries and release                                                   */

void *ringo_ctx_value(ringo_ctx *ctx, const void *key)
{
	for (struct ringo_ctx *c = ctx; c; c = c->parent)
		if (c->kind == CTX_VALUE && c->key == key)
			return c->val;
	return NULL;
}

ringo_chan *ringo_ctx_done(ringo_ctx *ctx)
{
	return ctx && ctx->cancel ? ctx->cancel->done : NULL;
}

int ringo_ctx_err(ringo_ctx *ctx)
{
	/* acquire: pairs with the store in cancel() */
	return ctx && ctx->cancel ? atomic_load_explicit(&ctx->cancel->err, memory_order_acquire) : 0;
}

bool ringo_ctx_deadline(ringo_ctx *ctx, int64_t *abs_ns)
{
	if (!ctx || !ctx->has_deadline)
		return false;
	if (abs_ns)
		*abs_ns = ctx->deadline;
	return true;
}

void ringo_ctx_cancel(ringo_ctx *ctx)
{
	if (ctx && ctx->kind == CTX_CANCEL)
		cancel(ctx, -ECANCELED, true);
}

void ringo_ctx_free(ringo_ctx *ctx)
{
	if (!ctx || ctx->kind == CTX_BACKGROUND)
		return;
	if (ctx->kind == CTX_CANCEL)
		cancel(ctx, -ECANCELED, true);
	ctx_unref(ctx);
}
