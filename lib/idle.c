/* SPDX-License-Identifier: MIT */
/*
 * idle.c - the netpoll interface of DESIGN.md §7 without I/O: an idle P's
 * M sleeps on a futex doorbell until its next timer or a wake-up. The
 * io_uring netpoller (netpoll/) replaces this file; the scheduler cannot
 * tell the difference.
 */
#include "runtime.h"

struct ringo__netpoll {
	ringo__note_t doorbell;	/* rung by ringo__netpoll_wake */
};

int ringo__netpoll_init(struct ringo_p *p)
{
	p->netpoll = ringo__alloc(sizeof *p->netpoll);
	return p->netpoll ? 0 : -ENOMEM;
}

void ringo__netpoll_destroy(struct ringo_p *p)
{
	ringo__free(p->netpoll, sizeof *p->netpoll);
	p->netpoll = NULL;
}

int ringo__netpoll_poll(struct ringo_p *p, bool block, int64_t deadline)
{
	if (block) {
		ringo__note_sleep_until(&p->netpoll->doorbell, deadline);
		/* A ring that comes after we looked is kept for the next
		 * sleep: that one returns at once, and the caller re-checks
		 * its state, which is what counts. */
		ringo__note_clear(&p->netpoll->doorbell);
	}
	return 0;
}

void ringo__netpoll_wake(struct ringo_p *p)
{
	ringo__note_wakeup(&p->netpoll->doorbell);
}

void ringo__netpoll_shutdown(struct ringo_p *p)
{
	(void)p;
}
