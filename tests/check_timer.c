/* SPDX-License-Identifier: MIT */
/* check_timer.c - timers: sleep (never early, 100,000 sleepers, not a
 * deadlock), ringo_after, ringo_timer stop/reset return values, AfterFunc
 * timers, tickers (ticks, drops), a million pending timers, select with a
 * timeout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#define MS 1000000LL
#define SEC (1000 * MS)

/* ---- sleep never returns early ------------------------------------------ */

static _Atomic int early, slept;

static void sleeper(void *arg)
{
	int64_t ns = (int64_t)(intptr_t)arg;
	int64_t t0 = ringo_now();
	if (ringo_sleep(ns) != 0 || ringo_now() - t0 < ns)
		atomic_fetch_add(&early, 1);
	atomic_fetch_add(&slept, 1);
}

static int sleep_not_early(void *arg)
{
	(void)arg;
	atomic_store(&early, 0);
	atomic_store(&slept, 0);
	/* Durations from 1 µs to 20 ms, many sharing a deadline. */
	int n = 0;
	for (int r = 0; r < 10; r++)
		for (int64_t ns = 1000; ns <= 20 * MS; ns *= 3, n++)
			GO_OK(ringo_go(sleeper, (void *)(intptr_t)(ns + r)));
	for (int i = 0; i < 20; i++) {
		int64_t t0 = ringo_now();
		ringo_sleep(100000);
		ck_assert_int_ge(ringo_now() - t0, 100000);
	}
	while (atomic_load(&slept) < n)
		ringo_sleep(MS);
	ck_assert_int_eq(atomic_load(&early), 0);
	ck_assert_int_eq(ringo_sleep(0), 0);
	ck_assert_int_eq(ringo_sleep(-5), 0);
	return 0;
}

START_TEST(test_sleep_not_early)
{
	RUN(sleep_not_early, NULL);
}
END_TEST

/* ---- 100,000 goroutines sleeping 10 ms all wake ------------------------- */

#define SLEEPERS SCALE(100000, 20000)	/* see testutil.h */
static _Atomic int woke;

static void sleep10(void *arg)
{
	(void)arg;
	ringo_sleep(10 * MS);
	atomic_fetch_add(&woke, 1);
}

static int many_sleepers(void *arg)
{
	(void)arg;
	atomic_store(&woke, 0);
	int bad = 0;
	for (int i = 0; i < SLEEPERS; i++)
		bad += ringo_go(sleep10, NULL) != 0;
	ck_assert_int_eq(bad, 0);
	while (atomic_load(&woke) < SLEEPERS)
		ringo_sleep(MS);
	ck_assert_int_eq(atomic_load(&woke), SLEEPERS);
	return 0;
}

START_TEST(test_many_sleepers)
{
	RUN(many_sleepers, NULL);
}
END_TEST

/* ---- a sleeping program is not deadlocked -------------------------------- */

static int only_sleep(void *arg)
{
	(void)arg;
	/* Nothing else runs: every P is idle while main sleeps. */
	ringo_sleep(30 * MS);
	return 7;
}

START_TEST(test_sleep_not_deadlock)
{
	ck_assert_int_eq(ringo_run(only_sleep, NULL), 7);
}
END_TEST

/* ---- sleep outside a goroutine -------------------------------------------- */

START_TEST(test_sleep_thread)
{
	int64_t t0 = ringo_now();
	errno = 1234;
	ck_assert_int_eq(ringo_sleep(2 * MS), 0);
	ck_assert_int_eq(errno, 1234);
	ck_assert_int_ge(ringo_now() - t0, 2 * MS);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t mono = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	ck_assert_int_ge(ringo_now(), mono);
}
END_TEST

/* ---- ringo_after ------------------------------------------------------------- */

static int after_main(void *arg)
{
	(void)arg;
	int64_t t0 = ringo_now();
	ringo_chan *c = ringo_after(5 * MS);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(ringo_chan_cap(c), 1);
	int64_t v = 0;
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
	ck_assert_int_ge(v, t0 + 5 * MS);	/* the firing time, never early */
	ck_assert_int_ge(ringo_now(), v);
	ck_assert_int_eq(ringo_chan_try_recv(c, &v), -EAGAIN);	/* once */
	ringo_chan_unref(c);
	/* Zero and negative durations fire at once. */
	for (int64_t ns = -1; ns <= 0; ns++) {
		c = ringo_after(ns);
		ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
		ringo_chan_unref(c);
	}
	/* One left pending when the runtime exits: released then. */
	c = ringo_after(3600 * 1000 * MS);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_after)
{
	RUN(after_main, NULL);
	ck_assert_ptr_null(ringo_after(MS));	/* runtime not running */
}
END_TEST

/* ---- a timer fires while its P only switches between goroutines ------------ */

/* Two goroutines yield to each other at maxprocs 1, so the P always has
 * the other to switch to and never passes through its g0 loop, and each
 * switch starts a new time slice, so sysmon sees the P switching and
 * leaves its timers to it. They then run only when a switch finds one
 * due (sched.c, can_switch_direct, which reads the clock on a fraction of
 * the switches): were that check missing, the loop below would never end
 * and the test would time out. */
static _Atomic int yielder_stop;

static void yielder(void *arg)
{
	(void)arg;
	while (!atomic_load(&yielder_stop))
		ringo_yield();
}

static int timer_while_switching_main(void *arg)
{
	(void)arg;
	int old = ringo_maxprocs(1);
	atomic_store(&yielder_stop, 0);
	GO_OK(ringo_go(yielder, NULL));
	for (int round = 0; round < 3; round++) {
		int64_t t0 = ringo_now();
		ringo_chan *after = ringo_after(2 * MS);
		while (ringo_chan_len(after) == 0)
			ringo_yield();
		int64_t when = 0;
		ck_assert_int_eq(ringo_chan_recv(after, &when), 1);
		ck_assert_int_ge(when, t0 + 2 * MS);	/* never early */
		ringo_chan_unref(after);
	}
	atomic_store(&yielder_stop, 1);
	ringo_maxprocs(old);
	return 0;
}

START_TEST(test_timer_while_switching)
{
	RUN(timer_while_switching_main, NULL);
}
END_TEST

/* ---- ringo_timer: stop and reset return Go's values -------------------------- */

#define HOUR (3600 * 1000 * MS)

/* Wait (without a clock) until the timer has put its value in the channel. */
static void wait_fired(ringo_chan *c)
{
	while (ringo_chan_len(c) == 0)
		ringo_yield();
}

static int stop_reset_main(void *arg)
{
	(void)arg;
	int64_t v;
	/* Pending: stop stops it; then there is nothing left to stop. */
	ringo_timer *tm = ringo_timer_new(HOUR, NULL, NULL);
	ck_assert_ptr_nonnull(tm);
	ringo_chan *c = ringo_timer_chan(tm);
	ck_assert_ptr_nonnull(c);
	ck_assert(ringo_timer_stop(tm));
	ck_assert(!ringo_timer_stop(tm));
	ck_assert(!ringo_timer_reset(tm, HOUR));	/* was stopped */
	ck_assert(ringo_timer_reset(tm, HOUR));		/* was pending */
	ck_assert(ringo_timer_stop(tm));
	ringo_timer_free(tm);

	/* Fired and received: stop and reset report false. */
	tm = ringo_timer_new(MS, NULL, NULL);
	c = ringo_timer_chan(tm);
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
	ck_assert(!ringo_timer_stop(tm));
	ck_assert(!ringo_timer_reset(tm, MS));
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);	/* fires again */
	ringo_timer_free(tm);

	/* Fired, value not received yet: stop discards it and reports that
	 * it stopped a delivery (Go 1.23); nothing stale is received. */
	tm = ringo_timer_new(0, NULL, NULL);
	c = ringo_timer_chan(tm);
	wait_fired(c);
	ck_assert(ringo_timer_stop(tm));
	ck_assert_int_eq(ringo_chan_try_recv(c, &v), -EAGAIN);
	ck_assert(!ringo_timer_stop(tm));
	/* The same through reset: the stale value goes, the new one comes
	 * after the new deadline. */
	ck_assert(!ringo_timer_reset(tm, 0));
	wait_fired(c);
	int64_t t0 = ringo_now();
	ck_assert(ringo_timer_reset(tm, 3 * MS));
	ck_assert_int_eq(ringo_chan_try_recv(c, &v), -EAGAIN);
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
	ck_assert_int_ge(v, t0 + 3 * MS);
	ringo_timer_free(tm);

	/* A pending timer can be freed. */
	ringo_timer_free(ringo_timer_new(HOUR, NULL, NULL));
	ringo_timer_free(NULL);
	ck_assert(!ringo_timer_stop(NULL));
	ck_assert(!ringo_timer_reset(NULL, 1));
	ck_assert_ptr_null(ringo_timer_chan(NULL));
	return 0;
}

START_TEST(test_timer_stop_reset)
{
	RUN(stop_reset_main, NULL);
	ck_assert_ptr_null(ringo_timer_new(MS, NULL, NULL));	/* not running */
}
END_TEST

/* ---- AfterFunc timers ------------------------------------------------------------ */

static _Atomic int func_runs;
static _Atomic uint64_t func_gid;

static void timer_func(void *arg)
{
	ck_assert_ptr_eq(arg, &func_runs);
	atomic_store(&func_gid, ringo_id());
	atomic_fetch_add(&func_runs, 1);
}

static int afterfunc_main(void *arg)
{
	(void)arg;
	atomic_store(&func_runs, 0);
	ringo_timer *tm = ringo_timer_new(MS, timer_func, &func_runs);
	ck_assert_ptr_nonnull(tm);
	ck_assert_ptr_null(ringo_timer_chan(tm));
	while (atomic_load(&func_runs) == 0)
		ringo_yield();
	ck_assert_uint_ne(atomic_load(&func_gid), ringo_id());	/* its own goroutine */
	ck_assert(!ringo_timer_stop(tm));		/* already ran */
	ck_assert(!ringo_timer_reset(tm, 0));		/* runs again */
	while (atomic_load(&func_runs) == 1)
		ringo_yield();
	ck_assert(!ringo_timer_reset(tm, HOUR));
	ck_assert(ringo_timer_stop(tm));		/* stopped in time */
	ringo_timer_free(tm);
	ck_assert_int_eq(atomic_load(&func_runs), 2);
	return 0;
}

START_TEST(test_afterfunc)
{
	RUN(afterfunc_main, NULL);
}
END_TEST

/* ---- tickers ---------------------------------------------------------------------- */

static int ticker_main(void *arg)
{
	(void)arg;
	ck_assert_ptr_null(ringo_ticker_new(0));
	ck_assert_ptr_null(ringo_ticker_new(-1));
	int64_t period = 2 * MS, t0 = ringo_now(), v, prev = t0;
	ringo_ticker *tk = ringo_ticker_new(period);
	ck_assert_ptr_nonnull(tk);
	ringo_chan *c = ringo_ticker_chan(tk);
	ck_assert_uint_eq(ringo_chan_cap(c), 1);
	for (int i = 1; i <= 5; i++) {
		ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
		ck_assert_int_ge(v, t0 + i * period);	/* never early */
		ck_assert_int_gt(v, prev);
		prev = v;
	}
	/* A slow reader: 15 periods pass, one tick waits, the rest dropped. */
	ringo_sleep(15 * period);
	ck_assert_uint_eq(ringo_chan_len(c), 1);
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
	int64_t late = ringo_now();
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
	ck_assert_int_gt(v, late - period);	/* a new tick, not a backlog */
	/* Stop: nothing more, not even a tick that was already waiting. */
	ringo_sleep(2 * period);
	ringo_ticker_stop(tk);
	ck_assert_int_eq(ringo_chan_try_recv(c, &v), -EAGAIN);
	ringo_sleep(3 * period);
	ck_assert_int_eq(ringo_chan_try_recv(c, &v), -EAGAIN);
	/* Reset restarts it with the new period. */
	ck_assert_int_eq(ringo_ticker_reset(tk, 0), -EINVAL);
	int64_t t1 = ringo_now();
	ck_assert_int_eq(ringo_ticker_reset(tk, MS), 0);
	ck_assert_int_eq(ringo_chan_recv(c, &v), 1);
	ck_assert_int_ge(v, t1 + MS);
	ringo_ticker_free(tk);
	ringo_ticker_free(NULL);
	ringo_ticker_stop(NULL);
	ck_assert_int_eq(ringo_ticker_reset(NULL, MS), -EINVAL);
	ck_assert_ptr_null(ringo_ticker_chan(NULL));
	return 0;
}

START_TEST(test_ticker)
{
	RUN(ticker_main, NULL);
}
END_TEST

/* ---- timers fire in deadline order, never early ------------------------------------ */

#define ORDERED 2000

struct ordered {
	ringo_timer *tm;
	int64_t deadline;	/* at the latest (the clock read after creating it) */
	int64_t earliest;	/* its deadline is no earlier than this */
	int64_t fired;
};
static struct ordered ord[ORDERED];

static int cmp_deadline(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	return x->deadline < y->deadline ? -1 : x->deadline > y->deadline;
}

/* The deadline pattern: timers started in deadline order go to a P's
 * queue, the others to its heap; either way they fire in order. */
enum order_pattern {
	ORDER_RANDOM,		/* both, mixed */
	ORDER_RISING,		/* all queued */
	ORDER_FALLING,		/* all in the heap but the first */
	ORDER_SAWTOOTH,		/* rising runs that restart lower */
};

static int64_t order_ns(enum order_pattern pat, int i, uint64_t *r)
{
	*r ^= *r << 13, *r ^= *r >> 7, *r ^= *r << 17;
	switch (pat) {
	case ORDER_RISING:
		return 5 * MS + (int64_t)i * (30 * MS) / ORDERED;
	case ORDER_FALLING:
		return 35 * MS - (int64_t)i * (30 * MS) / ORDERED;
	case ORDER_SAWTOOTH:
		return 5 * MS + (int64_t)(i % 100) * (30 * MS) / 100 + (int64_t)(*r % MS);
	default:
		return (int64_t)(*r % (40 * MS));
	}
}

static int order_main(void *arg)
{
	enum order_pattern pat = (enum order_pattern)(intptr_t)arg;
	int old = ringo_maxprocs(1);	/* one P: one heap and queue */
	uint64_t r = 88172645463325252ULL;
	for (int i = 0; i < ORDERED; i++) {
		int64_t ns = order_ns(pat, i, &r);
		ord[i].earliest = ringo_now() + ns;
		ord[i].tm = ringo_timer_new(ns, NULL, NULL);
		ord[i].deadline = ringo_now() + ns;
		ck_assert_ptr_nonnull(ord[i].tm);
	}
	for (int i = 0; i < ORDERED; i++) {
		ck_assert_int_eq(ringo_chan_recv(ringo_timer_chan(ord[i].tm), &ord[i].fired), 1);
		ringo_timer_free(ord[i].tm);
	}
	qsort(ord, ORDERED, sizeof ord[0], cmp_deadline);
	int early = 0, inverted = 0;
	for (int i = 0; i < ORDERED; i++) {
		early += ord[i].fired < ord[i].earliest;
		/* A timer whose deadline is surely earlier fired no later. */
		for (int j = 0; j < i && ord[j].deadline < ord[i].earliest; j++)
			inverted += ord[j].fired > ord[i].fired;
	}
	ck_assert_int_eq(early, 0);
	ck_assert_int_eq(inverted, 0);
	ringo_maxprocs(old);
	return 0;
}

START_TEST(test_fire_order)
{
	RUN(order_main, (void *)(intptr_t)ORDER_RANDOM);
	RUN(order_main, (void *)(intptr_t)ORDER_RISING);
	RUN(order_main, (void *)(intptr_t)ORDER_FALLING);
	RUN(order_main, (void *)(intptr_t)ORDER_SAWTOOTH);
}
END_TEST

/* ---- stopping queued timers ------------------------------------------------------- */

#define QUEUED 20000
#define QUEUED_FIRE 2000	/* the first ones, which fire */
static _Atomic int queued_fired;
static _Atomic int queued_wrong;	/* a stopped timer fired */

static void queued_fire(void *arg)
{
	if ((uintptr_t)arg & 1)
		atomic_fetch_add(&queued_wrong, 1);
	atomic_fetch_add(&queued_fired, 1);
}

/* Timers started in deadline order (the queue), stopped in patterns that
 * leave holes at its head, its tail and its middle: every stop of a
 * pending timer says so, every other timer fires exactly once, and none
 * that was stopped fires. */
static int queued_main(void *arg)
{
	(void)arg;
	int old = ringo_maxprocs(1);
	ringo_timer **tms = malloc(sizeof *tms * QUEUED);
	ck_assert_ptr_nonnull(tms);
	atomic_store(&queued_fired, 0);
	atomic_store(&queued_wrong, 0);
	/* The first QUEUED_FIRE rise from 1 s by 10 µs a timer (all queued;
	 * the second leaves time to stop them under a sanitizer) and fire,
	 * but for every third, the first 100 and the last 100 (holes at the
	 * head, the middle and what becomes the tail). The rest, an hour
	 * off, are all stopped: first three in four, from the tail (holes
	 * that outnumber the timers: compaction moves the others), then the
	 * fourth ones. An odd arg marks a timer that is stopped. */
	int stopped_want = 0;
	for (int i = 0; i < QUEUED; i++) {
		bool stop = i >= QUEUED_FIRE || i % 3 == 0 || i < 100 || i >= QUEUED_FIRE - 100;
		int64_t ns = i < QUEUED_FIRE ? SEC + (int64_t)i * 10000 : HOUR + i;
		stopped_want += stop;
		tms[i] = ringo_timer_new(ns, queued_fire, (void *)(uintptr_t)stop);
		ck_assert_ptr_nonnull(tms[i]);
	}
	int stopped = 0;
	for (int i = QUEUED - 1; i >= QUEUED_FIRE; i--)
		if (i % 4 != 0)
			stopped += ringo_timer_stop(tms[i]);
	for (int i = 0; i < QUEUED_FIRE; i++)
		if (i % 3 == 0 || i < 100 || i >= QUEUED_FIRE - 100)
			stopped += ringo_timer_stop(tms[i]);
	for (int i = QUEUED - 1; i >= QUEUED_FIRE; i--)
		if (i % 4 == 0)
			stopped += ringo_timer_stop(tms[i]);
	ck_assert_int_eq(stopped, stopped_want);
	for (int64_t give_up = ringo_now() + 10 * SEC;
	     atomic_load(&queued_fired) < QUEUED - stopped_want && ringo_now() < give_up;)
		ringo_sleep(MS);
	ringo_sleep(5 * MS);	/* nothing more fires */
	ck_assert_int_eq(atomic_load(&queued_fired), QUEUED - stopped_want);
	ck_assert_int_eq(atomic_load(&queued_wrong), 0);
	/* Fired ones are no longer pending. */
	for (int i = 0; i < QUEUED; i++) {
		ck_assert(!ringo_timer_stop(tms[i]));
		ringo_timer_free(tms[i]);
	}
	free(tms);
	ringo_maxprocs(old);
	return 0;
}

START_TEST(test_stop_queued)
{
	RUN(queued_main, NULL);
}
END_TEST

/* ---- a million pending timers ---------------------------------------------------- */

#define MILLION 1000000

static void never(void *arg)
{
	(void)arg;
	ck_abort_msg("a stopped timer ran");
}

static int million_main(void *arg)
{
	(void)arg;
	ringo_timer **tms = malloc(sizeof *tms * MILLION);
	uint64_t r = 2463534242ULL;
	int64_t t0 = ringo_now();
	for (int i = 0; i < MILLION; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		tms[i] = ringo_timer_new(HOUR + (int64_t)(r % HOUR), never, NULL);
		if (!tms[i])
			ck_abort_msg("ringo_timer_new failed at %d", i);
	}
	int64_t t1 = ringo_now();
	/* Stop them in a shuffled order: each one was pending. */
	for (int i = MILLION - 1; i > 0; i--) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		int j = (int)(r % (uint64_t)(i + 1));
		ringo_timer *x = tms[i];
		tms[i] = tms[j];
		tms[j] = x;
	}
	int stopped = 0;
	for (int i = 0; i < MILLION; i++) {
		stopped += ringo_timer_stop(tms[i]);
		ringo_timer_free(tms[i]);
	}
	ck_assert_int_eq(stopped, MILLION);
	if (getenv("CHECK_VERBOSE"))
		printf("1M timers: %.0f ns/start\n", (double)(t1 - t0) / MILLION);
	free(tms);
	return 0;
}

START_TEST(test_million_timers)
{
	RUN(million_main, NULL);
}
END_TEST

/* ---- select with a timeout ----------------------------------------------------------- */

static int select_main(void *arg)
{
	(void)arg;
	ringo_chan *never_ready = ringo_chan_make(sizeof(int), 0);
	int x = 0;
	int64_t v = 0, t0 = ringo_now();
	ringo_chan *timeout = ringo_after(5 * MS);
	struct ringo_case cases[2] = {
		{ .chan = never_ready, .dir = RINGO_RECV, .elem = &x },
		{ .chan = timeout, .dir = RINGO_RECV, .elem = &v },
	};
	ck_assert_int_eq(ringo_select(cases, 2, 0), 1);
	ck_assert_int_eq(cases[1].result, 1);
	ck_assert_int_ge(v, t0 + 5 * MS);
	ringo_chan_unref(timeout);

	/* A ready case wins over a timeout that has not fired. */
	ringo_chan *ready = ringo_chan_make(sizeof(int), 1);
	int one = 1;
	ck_assert_int_eq(ringo_chan_send(ready, &one), 0);
	timeout = ringo_after(HOUR);
	cases[0].chan = ready;
	cases[1].chan = timeout;
	ck_assert_int_eq(ringo_select(cases, 2, 0), 0);
	ck_assert_int_eq(x, 1);
	ringo_chan_unref(timeout);
	ringo_chan_unref(ready);
	ringo_chan_unref(never_ready);
	return 0;
}

START_TEST(test_select_timeout)
{
	RUN(select_main, NULL);
}
END_TEST

/* ---- timers outlive a run --------------------------------------------------------- */

static ringo_timer *kept;
static ringo_ticker *kept_ticker;

static int keep_main(void *arg)
{
	(void)arg;
	kept = ringo_timer_new(HOUR, NULL, NULL);
	kept_ticker = ringo_ticker_new(HOUR);
	return 0;
}

START_TEST(test_timer_outlives_run)
{
	RUN(keep_main, NULL);
	/* The runtime is gone: the timer is no longer pending. */
	ck_assert(!ringo_timer_stop(kept));
	ck_assert(!ringo_timer_reset(kept, MS));
	ringo_timer_free(kept);
	ck_assert_int_eq(ringo_ticker_reset(kept_ticker, MS), -EPERM);
	ringo_ticker_free(kept_ticker);
}
END_TEST

/* ---- timers survive a change of maxprocs -------------------------------------- */

#define RESIZE_SLEEPERS 64
static _Atomic int resize_woke;

static void resize_sleeper(void *arg)
{
	(void)arg;
	ringo_sleep(20 * MS);
	atomic_fetch_add(&resize_woke, 1);
}

static int resize_main(void *arg)
{
	(void)arg;
	int old = ringo_maxprocs(2);
	for (int round = 0; round < 2; round++) {
		atomic_store(&resize_woke, 0);
		for (int i = 0; i < RESIZE_SLEEPERS; i++)
			GO_OK(ringo_go(resize_sleeper, NULL));
		ringo_yield();
		/* Shrink (the timers of P1 move to P0), then grow again. */
		ringo_maxprocs(round == 0 ? 1 : 2);
		while (atomic_load(&resize_woke) < RESIZE_SLEEPERS)
			ringo_yield();
	}
	ringo_maxprocs(old);
	return 0;
}

START_TEST(test_timers_resize)
{
	RUN(resize_main, NULL);
}
END_TEST

/* ---- pending timers and the deadlock detector -------------------------------- */

static ringo_chan *late_chan;

static void late_send(void *arg)
{
	(void)arg;
	int v = 1;
	ringo_chan_send(late_chan, &v);
}

static int deadlock_timers_main(void *arg)
{
	(void)arg;
	/* Blocked, but an AfterFunc timer will unblock us: not a deadlock. */
	late_chan = ringo_chan_make(sizeof(int), 0);
	ringo_timer *tm = ringo_timer_new(20 * MS, late_send, NULL);
	int v = 0;
	ck_assert_int_eq(ringo_chan_recv(late_chan, &v), 1);
	ringo_timer_free(tm);
	/* A stopped timer does not count: this is a deadlock. */
	tm = ringo_timer_new(HOUR, NULL, NULL);
	ck_assert(ringo_timer_stop(tm));
	ringo_timer_free(tm);
	ringo_chan_recv(late_chan, &v);
	return 0;	/* not reached */
}

START_TEST(test_deadlock_timers)
{
	ck_assert_int_eq(ringo_run(deadlock_timers_main, NULL), -EDEADLK);
}
END_TEST

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("sleep");
	tcase_set_timeout(tc, 60);	/* 100,000 fresh stacks fault in slowly on VMs */
	tcase_add_test(tc, test_sleep_not_early);
	tcase_add_test(tc, test_many_sleepers);
	tcase_add_test(tc, test_sleep_not_deadlock);
	tcase_add_test(tc, test_sleep_thread);
	suite_add_tcase(s, tc);
	tc = tcase_create("timers");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_after);
	tcase_add_test(tc, test_timer_while_switching);
	tcase_add_test(tc, test_timer_stop_reset);
	tcase_add_test(tc, test_afterfunc);
	tcase_add_test(tc, test_ticker);
	tcase_add_test(tc, test_fire_order);
	tcase_add_test(tc, test_stop_queued);
	tcase_add_test(tc, test_million_timers);
	tcase_add_test(tc, test_select_timeout);
	tcase_add_test(tc, test_timer_outlives_run);
	tcase_add_test(tc, test_timers_resize);
	tcase_add_test(tc, test_deadlock_timers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(timer_suite);
}
