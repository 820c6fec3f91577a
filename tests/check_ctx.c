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

static Suite *ctx_suite(void)
{
	Suite *s = suite_create("ctx");
	return s;
}

int main(void)
{
	return ringo_test_main(ctx_suite);
}
