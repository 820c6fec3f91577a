/* SPDX-License-Identifier: MIT */
/* check_ctx.c - contexts and goroutine groups (being written). */
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
