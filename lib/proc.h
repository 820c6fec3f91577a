/* SPDX-License-Identifier: MIT */
/*
 * proc.h - scheduler internals shared by sched.c, proc.c, procresize.c and
 * syscall.c (not by channels, sync or netpoll: they use runtime.h's
 * park/ready interface).
 */
#ifndef RINGO_PROC_H
#define RINGO_PROC_H

#include "runtime.h"

/* What finish_switch() does with the G that switched out (m->prev_action). */
enum {
	SW_NONE = 0,
	SW_YIELD,	/* back on the local run queue, at the tail */
	SW_PREEMPT,	/* onto the global run queue */
	SW_PARK,	/* G_WAITING, then its unlock function */
	SW_EXIT,	/* dead: into the free cache */
	SW_EXITSYSCALL,	/* back from a syscall with no P: onto the global queue */
};

RINGO_HIDDEN void ringo__switch_out(struct ringo_m *m, struct ringo_g *gp, int action);
RINGO_HIDDEN void ringo__finish_switch(struct ringo_m *m);
RINGO_HIDDEN void ringo__schedule(struct ringo_m *m);

/* sched.lock held */
RINGO_HIDDEN void ringo__pidleput(struct ringo_p *p);
RINGO_HIDDEN struct ringo_p *ringo__pidleget(void);

RINGO_HIDDEN void ringo__startm(struct ringo_p *p, bool spinning);
RINGO_HIDDEN void ringo__stopm(struct ringo_m *m);
RINGO_HIDDEN void ringo__acquirep(struct ringo_m *m, struct ringo_p *p);
RINGO_HIDDEN struct ringo_p *ringo__releasep(struct ringo_m *m);
/* Give p to an M that can use it, or put it on the idle list. */
RINGO_HIDDEN void ringo__handoffp(struct ringo_p *p);

/* proc.c */
RINGO_HIDDEN int ringo__newm(struct ringo_p *p, bool spinning);
RINGO_HIDDEN void ringo__gfput(struct ringo_p *p, struct ringo_g *gp);
RINGO_HIDDEN void ringo__gfree_give(struct ringo_p *p);
RINGO_HIDDEN void ringo__begin_exit(int code);	/* sched.lock held */
RINGO_HIDDEN int ringo__new_p(int32_t id, struct ringo_p **out);
RINGO_HIDDEN bool ringo__running(void);

/* debug.c: schedtrace thread and SIGQUIT handler for one ringo_run */
RINGO_HIDDEN void ringo__debug_start(void);
RINGO_HIDDEN void ringo__debug_stop(void);

/* syscall.c: Ms wired to a G (ringo_lock_thread) */
/* m->lockedg is not running: give the P away and sleep until the G is
 * runnable and a P is handed back. false when the runtime exits. */
RINGO_HIDDEN bool ringo__lockedm_wait(struct ringo_m *m);
/* gp is wired to another M: hand it our P and park ourselves. */
RINGO_HIDDEN void ringo__startlockedm(struct ringo_m *m, struct ringo_g *gp);

/* procresize.c */
RINGO_HIDDEN void ringo__stop_the_world(void);
RINGO_HIDDEN void ringo__start_the_world(void);
RINGO_HIDDEN int ringo__procresize(int32_t n);	/* sched.lock held, world stopped */

#endif /* RINGO_PROC_H */
