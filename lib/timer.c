/* SPDX-License-Identifier: MIT */
/*
 * timer.c - per-P timer heaps. (Placeholder until the timers issue lands:
 * no timers exist yet, so every heap is empty.)
 */
#include "runtime.h"

int ringo__timers_init(struct ringo_p *p)
{
	p->timers = NULL;
	atomic_store(&p->timer0_when, 0);
	return 0;
}

void ringo__timers_destroy(struct ringo_p *p)
{
	(void)p;
}

int64_t ringo__timers_check(struct ringo_p *p, int64_t now)
{
	(void)p;
	(void)now;
	return -1;
}

int64_t ringo__timers_next(struct ringo_p *p)
{
	(void)p;
	return -1;
}

void ringo__timers_move(struct ringo_p *from, struct ringo_p *to)
{
	(void)from;
	(void)to;
}
