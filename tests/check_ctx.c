/* SPDX-License-Identifier: MIT */
/*
 * check_ctx.c - contexts (cancellation trees, deadlines, values, the
 * lifetime rules), the weighted semaphore's cancellable acquire, and
 * goroutine groups. Run at maxprocs 1 and 2 (testutil.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>

#define MS 1000000LL

/* done is closed: a receive returns 0 at once. */
static bool is_closed(ringo_chan *done)
{
	return done && ringo_chan_try_recv(done, NULL) == 0;
}

/* ---- background ---------------------------------------------------------- */

static int background(void *arg)
{
	(void)arg;
	ringo_ctx *bg = ringo_ctx_background();
	ringo_ctx *c = NULL;
	int64_t d;
	ck_assert_ptr_nonnull(bg);
	ck_assert_ptr_null(ringo_ctx_done(bg));
	ck_assert_int_eq(ringo_ctx_err(bg), 0);
	ck_assert(!ringo_ctx_deadline(bg, &d));
	ck_assert_ptr_null(ringo_ctx_value(bg, &d));
	ringo_ctx_cancel(bg);		/* no-ops */
	ringo_ctx_free(bg);
	ringo_ctx_free(NULL);
	ck_assert_int_eq(ringo_ctx_err(bg), 0);
	ck_assert_int_eq(ringo_ctx_with_cancel(NULL, &c), -EINVAL);
	ck_assert_int_eq(ringo_ctx_with_cancel(bg, NULL), -EINVAL);
	ck_assert_int_eq(ringo_ctx_with_timeout(NULL, MS, &c), -EINVAL);
	ck_assert_int_eq(ringo_ctx_with_value(NULL, &d, NULL, &c), -EINVAL);
	return 0;
}

START_TEST(test_background)
{
	RUN(background, NULL);
}
END_TEST

/* ---- cancellation trees -------------------------------------------------- */

/*        root
 *       /    \
 *      c1     v (value)
 *      |      |
 *      g1     gv
 */
static long tree_msg;			/* plain: written before cancel */
static _Atomic int tree_woken;

static void done_waiter(void *arg)
{
	ringo_ctx *c = arg;
	ck_assert_int_eq(ringo_chan_recv(ringo_ctx_done(c), NULL), 0);
	/* cancel happens before done's receive returns */
	ck_assert_int_eq(tree_msg, 7);
	ck_assert_int_eq(ringo_ctx_err(c), -ECANCELED);
	atomic_fetch_add(&tree_woken, 1);
}

static int cancel_tree(void *arg)
{
	(void)arg;
	static int key;
	ringo_ctx *root, *c1, *g1, *v, *gv;
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &root));
	GO_OK(ringo_ctx_with_cancel(root, &c1));
	GO_OK(ringo_ctx_with_cancel(c1, &g1));
	GO_OK(ringo_ctx_with_value(root, &key, (void *)0x1234, &v));
	GO_OK(ringo_ctx_with_cancel(v, &gv));
	ringo_ctx *all[] = { root, c1, g1, v, gv };

	ck_assert_ptr_eq(ringo_ctx_done(v), ringo_ctx_done(root));
	ck_assert_ptr_eq(ringo_ctx_value(gv, &key), (void *)0x1234);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(ringo_ctx_err(all[i]), 0);
		ck_assert_ptr_nonnull(ringo_ctx_done(all[i]));
		ck_assert(!is_closed(ringo_ctx_done(all[i])));
	}

	atomic_store(&tree_woken, 0);
	for (int i = 0; i < 5; i++)
		GO_OK(ringo_go(done_waiter, all[i]));
	for (int i = 0; i < 10; i++)
		ringo_yield();

	tree_msg = 7;
	ringo_ctx_cancel(root);
	for (int i = 0; i < 5; i++) {
		ck_assert_int_eq(ringo_ctx_err(all[i]), -ECANCELED);
		ck_assert(is_closed(ringo_ctx_done(all[i])));
	}
	while (atomic_load(&tree_woken) < 5)
		ringo_yield();

	/* done was closed once, by the cancel: closing it again fails, and
	 * cancelling again changes nothing. */
	ck_assert_int_eq(ringo_chan_close(ringo_ctx_done(c1)), -EPIPE);
	ringo_ctx_cancel(root);
	ringo_ctx_cancel(g1);
	ck_assert_int_eq(ringo_ctx_err(g1), -ECANCELED);

	/* A child of a cancelled parent is born cancelled. */
	ringo_ctx *late;
	GO_OK(ringo_ctx_with_cancel(g1, &late));
	ck_assert_int_eq(ringo_ctx_err(late), -ECANCELED);
	ck_assert(is_closed(ringo_ctx_done(late)));
	ringo_ctx_free(late);

	for (int i = 4; i >= 0; i--)
		ringo_ctx_free(all[i]);
	return 0;
}

START_TEST(test_cancel_tree)
{
	RUN(cancel_tree, NULL);
}
END_TEST

/* Many goroutines cancel the same tree at once: every context ends with
 * one error and one closed done. */
#define RACERS 16
static ringo_ctx *race_ctx[3];
static ringo_waitgroup race_wg;

static void racer(void *arg)
{
	intptr_t i = (intptr_t)arg;
	ringo_yield();
	ringo_ctx_cancel(race_ctx[i % 3]);
	ringo_waitgroup_done(&race_wg);
}

static int cancel_race(void *arg)
{
	(void)arg;
	for (int round = 0; round < 200; round++) {
		GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &race_ctx[0]));
		GO_OK(ringo_ctx_with_cancel(race_ctx[0], &race_ctx[1]));
		GO_OK(ringo_ctx_with_cancel(race_ctx[1], &race_ctx[2]));
		ringo_waitgroup_add(&race_wg, RACERS);
		for (intptr_t i = 0; i < RACERS; i++)
			GO_OK(ringo_go(racer, (void *)i));
		ringo_waitgroup_wait(&race_wg);
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(ringo_ctx_err(race_ctx[i]), -ECANCELED);
			ck_assert_int_eq(ringo_chan_close(ringo_ctx_done(race_ctx[i])), -EPIPE);
		}
		/* Free in an odd order: the parent first. */
		ringo_ctx_free(race_ctx[0]);
		ringo_ctx_free(race_ctx[2]);
		ringo_ctx_free(race_ctx[1]);
	}
	return 0;
}

START_TEST(test_cancel_race)
{
	RUN(cancel_race, NULL);
}
END_TEST

/* ---- detaching and freeing ------------------------------------------------ */

static int detach(void *arg)
{
	(void)arg;
	ringo_ctx *parent, *child, *other;
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &parent));
	GO_OK(ringo_ctx_with_cancel(parent, &child));
	GO_OK(ringo_ctx_with_cancel(parent, &other));

	/* Cancelling a child leaves the parent and siblings alone. */
	ringo_ctx_cancel(child);
	ck_assert_int_eq(ringo_ctx_err(child), -ECANCELED);
	ck_assert_int_eq(ringo_ctx_err(parent), 0);
	ck_assert_int_eq(ringo_ctx_err(other), 0);
	ck_assert(!is_closed(ringo_ctx_done(parent)));
	ringo_ctx_free(child);		/* detached: the parent forgets it */

	/* Freeing a parent before its child cancels the child, which stays
	 * usable until it is freed itself. */
	ringo_ctx_free(parent);
	ck_assert_int_eq(ringo_ctx_err(other), -ECANCELED);
	ck_assert(is_closed(ringo_ctx_done(other)));
	ringo_ctx *grand;
	GO_OK(ringo_ctx_with_cancel(other, &grand));
	ck_assert_int_eq(ringo_ctx_err(grand), -ECANCELED);
	ringo_ctx_free(other);
	ringo_ctx_free(grand);

	/* Many children created and freed: the parent's list does not
	 * grow (ASan would see a leak or a use after free otherwise). */
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &parent));
	for (int i = 0; i < 10000; i++) {
		GO_OK(ringo_ctx_with_cancel(parent, &child));
		ringo_ctx_free(child);
	}
	ck_assert_int_eq(ringo_ctx_err(parent), 0);
	ringo_ctx_free(parent);
	return 0;
}

START_TEST(test_detach)
{
	RUN(detach, NULL);
}
END_TEST

/* ---- values ---------------------------------------------------------------- */

static int values(void *arg)
{
	(void)arg;
	static int k1, k2, k3;
	ringo_ctx *a, *b, *c, *cc;
	GO_OK(ringo_ctx_with_value(ringo_ctx_background(), &k1, "one", &a));
	GO_OK(ringo_ctx_with_value(a, &k2, "two", &b));
	GO_OK(ringo_ctx_with_cancel(b, &cc));
	GO_OK(ringo_ctx_with_value(cc, &k1, "shadow", &c));
	ck_assert_str_eq(ringo_ctx_value(c, &k1), "shadow");
	ck_assert_str_eq(ringo_ctx_value(c, &k2), "two");
	ck_assert_str_eq(ringo_ctx_value(b, &k1), "one");
	ck_assert_ptr_null(ringo_ctx_value(c, &k3));
	ck_assert_ptr_null(ringo_ctx_value(NULL, &k1));
	/* Value contexts borrow their ancestors' cancellation. */
	ck_assert_ptr_null(ringo_ctx_done(b));
	ck_assert_ptr_eq(ringo_ctx_done(c), ringo_ctx_done(cc));
	ringo_ctx_cancel(c);		/* a value context cannot cancel */
	ck_assert_int_eq(ringo_ctx_err(cc), 0);
	ringo_ctx_cancel(cc);
	ck_assert_int_eq(ringo_ctx_err(c), -ECANCELED);
	ringo_ctx_free(a);		/* any order */
	ringo_ctx_free(c);
	ringo_ctx_free(cc);
	ringo_ctx_free(b);
	return 0;
}

START_TEST(test_values)
{
	RUN(values, NULL);
}
END_TEST

/* ---- deadlines ------------------------------------------------------------ */

static int timeout(void *arg)
{
	(void)arg;
	ringo_ctx *c, *child, *v;
	int64_t d, t0 = ringo_now();
	GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), 2 * MS, &c));
	int64_t t1 = ringo_now();
	GO_OK(ringo_ctx_with_cancel(c, &child));
	GO_OK(ringo_ctx_with_value(child, &d, NULL, &v));
	ck_assert(ringo_ctx_deadline(c, &d));
	ck_assert(d >= t0 + 2 * MS && d <= t1 + 2 * MS);
	ck_assert(ringo_ctx_deadline(v, &d));	/* inherited */

	/* Block on the grandchild's done until the timer fires. */
	ck_assert_int_eq(ringo_chan_recv(ringo_ctx_done(v), NULL), 0);
	ck_assert(ringo_now() >= d);
	ck_assert_int_eq(ringo_ctx_err(c), -ETIMEDOUT);
	ck_assert_int_eq(ringo_ctx_err(child), -ETIMEDOUT);
	ck_assert_int_eq(ringo_ctx_err(v), -ETIMEDOUT);
	ck_assert(is_closed(ringo_ctx_done(c)));
	ringo_ctx_free(v);
	ringo_ctx_free(child);
	ringo_ctx_free(c);

	/* Cancelled before the deadline: -ECANCELED, and the timer goes. */
	GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), 3600 * 1000 * MS, &c));
	ringo_ctx_cancel(c);
	ck_assert_int_eq(ringo_ctx_err(c), -ECANCELED);
	ringo_ctx_free(c);
	return 0;
}

START_TEST(test_timeout)
{
	RUN(timeout, NULL);
}
END_TEST

static int deadline_past(void *arg)
{
	(void)arg;
	ringo_ctx *c, *parent, *child;
	int64_t d;
	/* Already past: done at creation. */
	GO_OK(ringo_ctx_with_deadline(ringo_ctx_background(), ringo_now() - 1, &c));
	ck_assert_int_eq(ringo_ctx_err(c), -ETIMEDOUT);
	ck_assert(is_closed(ringo_ctx_done(c)));
	ringo_ctx_free(c);
	GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), 0, &c));
	ck_assert_int_eq(ringo_ctx_err(c), -ETIMEDOUT);
	ringo_ctx_free(c);
	GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), -5 * MS, &c));
	ck_assert_int_eq(ringo_ctx_err(c), -ETIMEDOUT);
	ringo_ctx_free(c);

	/* The earlier deadline rules: a child cannot extend its parent's. */
	GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), 3600 * 1000 * MS, &parent));
	int64_t pd;
	ck_assert(ringo_ctx_deadline(parent, &pd));
	GO_OK(ringo_ctx_with_deadline(parent, pd + 1000 * MS, &child));
	ck_assert(ringo_ctx_deadline(child, &d));
	ck_assert(d == pd);
	ringo_ctx_free(child);
	GO_OK(ringo_ctx_with_deadline(parent, pd - 1000 * MS, &child));
	ck_assert(ringo_ctx_deadline(child, &d));
	ck_assert(d == pd - 1000 * MS);
	ringo_ctx_free(parent);
	ck_assert_int_eq(ringo_ctx_err(child), -ECANCELED);
	ringo_ctx_free(child);
	return 0;
}

START_TEST(test_deadline_past)
{
	RUN(deadline_past, NULL);
}
END_TEST

/* Contexts freed while their timers are about to fire (or firing on
 * another M): the reference the timer holds keeps them alive. ASan and
 * TSan builds check this one. */
static int timer_free_race(void *arg)
{
	(void)arg;
	ringo_ctx *keep[64];
	int nkeep = 0, fired = 0;
	for (int i = 0; i < 20000; i++) {
		ringo_ctx *c;
		GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), (i % 50) * 1000, &c));
		if (i % 3 == 0) {
			ringo_ctx_free(c);
		} else if (nkeep < 64) {
			keep[nkeep++] = c;
		} else {
			for (int k = 0; k < nkeep; k++) {
				fired += ringo_ctx_err(keep[k]) == -ETIMEDOUT;
				ringo_ctx_free(keep[k]);
			}
			nkeep = 0;
			ringo_ctx_free(c);
			ringo_yield();
		}
	}
	for (int k = 0; k < nkeep; k++) {
		ck_assert_int_eq(ringo_chan_recv(ringo_ctx_done(keep[k]), NULL), 0);
		ck_assert_int_eq(ringo_ctx_err(keep[k]), -ETIMEDOUT);
		ringo_ctx_free(keep[k]);
	}
	(void)fired;
	return 0;
}

START_TEST(test_timer_free_race)
{
	RUN(timer_free_race, NULL);
}
END_TEST

/* ---- semaphore acquire with a context -------------------------------------- */

static ringo_sem csem;
static _Atomic int csem_stage;
static int csem_result[2];

struct csem_arg {
	int idx;
	int64_t n;
	ringo_ctx *ctx;
	ringo_waitgroup *wg;
};

static void csem_acquirer(void *p)
{
	struct csem_arg *a = p;
	atomic_fetch_add(&csem_stage, 1);
	csem_result[a->idx] = ringo_sem_acquire_ctx(&csem, a->n, a->ctx);
	ringo_waitgroup_done(a->wg);
}

static int sem_ctx(void *arg)
{
	(void)arg;
	ringo_ctx *ca, *cb, *ct;
	ringo_waitgroup wg = RINGO_WAITGROUP_INIT;
	GO_OK(ringo_sem_init(&csem, 3));

	/* An already cancelled context fails even with units free. */
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &ca));
	ringo_ctx_cancel(ca);
	ck_assert_int_eq(ringo_sem_acquire_ctx(&csem, 1, ca), -ECANCELED);
	ringo_ctx_free(ca);
	ck_assert_int_eq(ringo_sem_acquire_ctx(&csem, 4, ringo_ctx_background()), -EINVAL);

	/* 2 of 3 held. A wants 2 (queued first), B wants 1 and queues
	 * behind A although 1 is free. Cancelling A lets B in. */
	GO_OK(ringo_sem_acquire(&csem, 2));
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &ca));
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &cb));
	struct csem_arg a = { 0, 2, ca, &wg }, b = { 1, 1, cb, &wg };
	atomic_store(&csem_stage, 0);
	csem_result[0] = csem_result[1] = 99;
	ringo_waitgroup_add(&wg, 1);
	GO_OK(ringo_go(csem_acquirer, &a));
	while (ringo_sem_try_acquire(&csem, 1) == 0) {	/* until A is queued */
		GO_OK(ringo_sem_release(&csem, 1));
		ringo_yield();
	}
	ringo_waitgroup_add(&wg, 1);
	GO_OK(ringo_go(csem_acquirer, &b));
	while (atomic_load(&csem_stage) < 2)
		ringo_yield();
	for (int i = 0; i < 100; i++)
		ringo_yield();
	ringo_ctx_cancel(ca);
	ringo_waitgroup_wait(&wg);
	ck_assert_int_eq(csem_result[0], -ECANCELED);
	ck_assert_int_eq(csem_result[1], 0);
	GO_OK(ringo_sem_release(&csem, 1));	/* B's */
	GO_OK(ringo_sem_release(&csem, 2));	/* ours */
	ck_assert_int_eq(ringo_sem_try_acquire(&csem, 3), 0);

	/* A deadline while queued: -ETIMEDOUT, and nothing is held. */
	GO_OK(ringo_ctx_with_timeout(ringo_ctx_background(), 1 * MS, &ct));
	ck_assert_int_eq(ringo_sem_acquire_ctx(&csem, 1, ct), -ETIMEDOUT);
	ringo_ctx_free(ct);
	GO_OK(ringo_sem_release(&csem, 3));
	ck_assert_int_eq(ringo_sem_try_acquire(&csem, 3), 0);
	GO_OK(ringo_sem_release(&csem, 3));
	ringo_ctx_free(ca);
	ringo_ctx_free(cb);
	return 0;
}

START_TEST(test_sem_ctx)
{
	RUN(sem_ctx, NULL);
}
END_TEST

/* ---- groups --------------------------------------------------------------- */

static _Atomic int group_ran;

static int group_ok(ringo_ctx *ctx, void *arg)
{
	(void)arg;
	ck_assert_ptr_nonnull(ctx);
	atomic_fetch_add(&group_ran, 1);
	return 0;
}

static int group_fails(ringo_ctx *ctx, void *arg)
{
	(void)ctx;
	ringo_yield();
	return (int)(intptr_t)arg;
}

static int group_waits_for_cancel(ringo_ctx *ctx, void *arg)
{
	(void)arg;
	ck_assert_int_eq(ringo_chan_recv(ringo_ctx_done(ctx), NULL), 0);
	atomic_fetch_add(&group_ran, 1);
	return ringo_ctx_err(ctx);
}

static _Atomic int lim_active, lim_max;
static ringo_chan *lim_gate;

static int group_limited(ringo_ctx *ctx, void *arg)
{
	(void)ctx;
	(void)arg;
	int a = atomic_fetch_add(&lim_active, 1) + 1;
	int m = atomic_load(&lim_max);
	while (a > m && !atomic_compare_exchange_weak(&lim_max, &m, a))
		;
	ringo_chan_recv(lim_gate, NULL);	/* held until the gate closes */
	atomic_fetch_sub(&lim_active, 1);
	return 0;
}

static int groups(void *arg)
{
	(void)arg;
	/* The zero value: no context, no limit. */
	ringo_group g = RINGO_GROUP_INIT;
	atomic_store(&group_ran, 0);
	ck_assert_ptr_eq(ringo_group_ctx(&g), ringo_ctx_background());
	for (int i = 0; i < 10; i++)
		GO_OK(ringo_group_go(&g, group_ok, NULL));
	ck_assert_int_eq(ringo_group_wait(&g), 0);
	ck_assert_int_eq(atomic_load(&group_ran), 10);
	ck_assert_int_eq(ringo_group_go(&g, NULL, NULL), -EINVAL);

	/* The first error wins and cancels the others' context. */
	atomic_store(&group_ran, 0);
	GO_OK(ringo_group_init(&g, ringo_ctx_background()));
	ringo_ctx *gctx = ringo_group_ctx(&g);
	ck_assert_int_eq(ringo_ctx_err(gctx), 0);
	for (int i = 0; i < 5; i++)
		GO_OK(ringo_group_go(&g, group_waits_for_cancel, NULL));
	GO_OK(ringo_group_go(&g, group_fails, (void *)(intptr_t)-EIO));
	ck_assert_int_eq(ringo_group_wait(&g), -EIO);
	ck_assert_int_eq(atomic_load(&group_ran), 5);
	ck_assert_int_eq(ringo_group_init(&g, NULL), -EINVAL);

	/* A parent's cancellation reaches the group. */
	ringo_ctx *parent;
	GO_OK(ringo_ctx_with_cancel(ringo_ctx_background(), &parent));
	GO_OK(ringo_group_init(&g, parent));
	atomic_store(&group_ran, 0);
	GO_OK(ringo_group_go(&g, group_waits_for_cancel, NULL));
	ringo_ctx_cancel(parent);
	ck_assert_int_eq(ringo_group_wait(&g), -ECANCELED);
	ringo_ctx_free(parent);

	/* A limit: never more than 2 at once; try_go says -EAGAIN. */
	lim_gate = ringo_chan_make(0, 0);
	ck_assert_ptr_nonnull(lim_gate);
	atomic_store(&lim_active, 0);
	atomic_store(&lim_max, 0);
	ck_assert_int_eq(ringo_group_set_limit(&g, 0), -EINVAL);
	GO_OK(ringo_group_set_limit(&g, 2));
	GO_OK(ringo_group_go(&g, group_limited, NULL));
	GO_OK(ringo_group_try_go(&g, group_limited, NULL));
	ck_assert_int_eq(ringo_group_try_go(&g, group_limited, NULL), -EAGAIN);
	ck_assert_int_eq(ringo_group_set_limit(&g, 5), -EBUSY);
	ringo_chan_close(lim_gate);
	for (int i = 0; i < 20; i++)
		GO_OK(ringo_group_go(&g, group_limited, NULL));
	ck_assert_int_eq(ringo_group_wait(&g), 0);
	ck_assert_int_le(atomic_load(&lim_max), 2);
	ringo_chan_unref(lim_gate);
	return 0;
}

START_TEST(test_groups)
{
	RUN(groups, NULL);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

static Suite *ctx_suite(void)
{
	Suite *s = suite_create("ctx");
	TCase *tc = tcase_create("ctx");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_background);
	tcase_add_test(tc, test_cancel_tree);
	tcase_add_test(tc, test_cancel_race);
	tcase_add_test(tc, test_detach);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_deadline_past);
	tcase_add_test(tc, test_timer_free_race);
	tcase_add_test(tc, test_sem_ctx);
	tcase_add_test(tc, test_groups);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(ctx_suite);
}
