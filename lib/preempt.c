/* SPDX-License-Identifier: MIT */
/* preempt.c - cooperative preemption (async preemption lands with issue 5). */
#include "runtime.h"

void ringo__preempt_init(void)
{
}

void ringo__preempt_m(struct ringo_m *m)
{
	(void)m;
}

void ringo_preempt_point(void)
{
	ringo__preempt_check();
}
