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
#include <sys/mman.h>
#include <unistd.h>

/*
 * Every assertion that passes records a mark point, the location a crash
 * report names, and Check takes a pthread mutex for it. Check is linked
 * into the test executable, so asynchronous preemption may stop a
 * goroutine in there with the mutex held. Another goroutine on the same
 * thread that then asserts blocks the thread on the mutex, and at
 * maxprocs 1 the holder never runs again (ringo.7, "Thread locks"): a
 * test hung that way under load. Goroutines record no mark points;
 * failures still report their file and line, and the runtime reports its
 * own faults with a goroutine dump.
 */
static inline void ringo_test_mark_point(const char *file, int line)
{
	if (ringo_id() == 0)
		_mark_point(file, line);
}
#define _mark_point(file, line) ringo_test_mark_point(file, line)

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

/* RUN with RINGO_DEBUG set to settings for this run only. */
#define RUN_DEBUG(settings, fn, arg)                                           \
	do {                                                                   \
		setenv("RINGO_DEBUG", (settings), 1);                          \
		RUN(fn, arg);                                                  \
		unsetenv("RINGO_DEBUG");                                       \
	} while (0)

/* Inside a goroutine: fail the test (the forked process reports it). */
#define GO_OK(expr)                                                            \
	do {                                                                   \
		int gr_ = (expr);                                              \
		ck_assert_msg(gr_ == 0, "%s returned %d", #expr, gr_);         \
	} while (0)

/* How many goroutines wait with this reason (as ringo_dump(3) shows it,
 * "chan receive", "IO wait (recv)" ...)? From a goroutine the dump stops
 * the world, so the answer is exact at that moment. */
static inline int test_waiting(const char *reason)
{
	int fd = memfd_create("dump", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ringo_dump(fd), 0);
	off_t len = lseek(fd, 0, SEEK_END);
	char *buf = malloc((size_t)len + 1);
	ck_assert_int_eq(pread(fd, buf, (size_t)len, 0), len);
	buf[len] = '\0';
	char pat[64];
	snprintf(pat, sizeof pat, "[%s", reason);
	size_t plen = strlen(pat);
	int n = 0;
	for (const char *s = buf; (s = strstr(s, pat)); s += plen)
		if (s[plen] == ']' || s[plen] == ',')
			n++;
	free(buf);
	close(fd);
	return n;
}

/* Yield until at least n goroutines wait with this reason: how a test
 * knows that what it started has parked, without sleeping. */
static inline void test_wait_parked(const char *reason, int n)
{
	while (test_waiting(reason) < n)
		ringo_yield();
}

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
