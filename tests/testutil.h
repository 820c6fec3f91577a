/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - shared by the Check suites.
 *
 * Every suite runs twice: with RINGO_MAXPROCS=1 and RINGO_MAXPROCS=2
 * (override the list with RINGO_TEST_MAXPROCS="1 2 4"). Each test runs in
 * its own forked process (CK_FORK) under a timeout; CK_TIMEOUT_MULTIPLIER
 * stretches timeouts for sanitizer builds.
 *
 * A test body is a goroutine: RUN(fn, arg) runs fn as goroutine 1 inside
 * ringo_run and asserts that it returned 0.
 */
#ifndef RINGO_TESTUTIL_H
#define RINGO_TESTUTIL_H

#include "config.h"

#include <check.h>
#include <ringo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sanitizer builds exist to find races and memory errors, and are 5-20x
 * slower per goroutine (a TSan fiber costs megabytes): the few tests that
 * exist to show scale run there at a smaller one, chosen to keep what the
 * test is about (e.g. past the 32k-mapping wall). */
#if defined(RINGO_TSAN)
/* TSan also counts every goroutine (a fiber) as a thread and dies past
 * 8128 of them alive at once. */
#define SCALE(full, sanitized) ((sanitized) < 3000 ? (sanitized) : 3000)
#elif defined(RINGO_SANITIZE)
#define SCALE(full, sanitized) (sanitized)
#else
#define SCALE(full, sanitized) (full)
#endif

/* Run fn(arg) as the main goroutine; the test fails unless it returns 0. */
#define RUN(fn, arg)                                                           \
	do {                                                                   \
		int rr_ = ringo_run((fn), (arg));                              \
		ck_assert_msg(rr_ == 0, "ringo_run returned %d", rr_);         \
	} while (0)

/* Inside a goroutine: fail the test (the forked process reports it). */
#define GO_OK(expr)                                                            \
	do {                                                                   \
		int gr_ = (expr);                                              \
		ck_assert_msg(gr_ == 0, "%s returned %d", #expr, gr_);         \
	} while (0)

static inline int test_maxprocs(void)
{
	const char *e = getenv("RINGO_MAXPROCS");
	return e ? atoi(e) : 0;
}

/* main() for a suite: build_suite() is called once per maxprocs value. */
static inline int ringo_test_main(Suite *(*build_suite)(void))
{
	const char *list = getenv("RINGO_TEST_MAXPROCS");
	char buf[64];
	snprintf(buf, sizeof buf, "%s", list && *list ? list : "1 2");
	int failed = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
		setenv("RINGO_MAXPROCS", tok, 1);
		printf("== maxprocs %s ==\n", tok);
		fflush(stdout);
		SRunner *sr = srunner_create(build_suite());
		srunner_set_fork_status(sr, CK_FORK);
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
