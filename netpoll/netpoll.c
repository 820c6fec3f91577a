/* SPDX-License-Identifier: MIT */
/*
 * netpoll.c - the narrow interface between the scheduler and the netpoller
 * (runtime.h, DESIGN.md §7), and the choice of back-end.
 *
 * The back-end is chosen when the first P of a ringo_run is initialised:
 * io_uring if the probe passes (a small ring with our flags, features and
 * every opcode we use), else epoll. RINGO_NETPOLL=uring|epoll forces one
 * (uring fails loudly if unavailable); RINGO_DEBUG set at all prints which
 * one runs. Process-wide state (the fd table, the epoll set) lives from
 * the first P's init to the last P's destroy.
 *
 * Invariant for the deadlock detector: sched.nio_waiting equals the number
 * of goroutines parked in the netpoller (on an operation, a close, an
 * accept queue) plus the signal watcher.
 */
#include "netpoll.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ringo__np_backend;
static int nps;			/* Ps with netpoll state [sched.lock or world stopped] */

static const char *backend_name(int b)
{
	return b == NP_URING ? "io_uring" : b == NP_EPOLL ? "epoll" : "none";
}

static int global_init(void)
{
	const char *env = getenv("RINGO_NETPOLL");
	int want = NP_NONE;
	if (env && *env) {
		if (!strcmp(env, "uring") || !strcmp(env, "io_uring"))
			want = NP_URING;
		else if (!strcmp(env, "epoll"))
			want = NP_EPOLL;
		else
			fprintf(stderr, "ringo: ignoring invalid RINGO_NETPOLL=%s\n", env);
	}
	int b = want;
	int probe = 0;
	if (b != NP_EPOLL) {
		probe = ringo__uring_probe();
		if (probe == 0)
			b = NP_URING;
		else if (want == NP_URING) {
			fprintf(stderr, "ringo: RINGO_NETPOLL=uring but io_uring is unavailable: %s\n",
				strerror(-probe));
			return probe;
		} else
			b = NP_EPOLL;
	}
	int r = b == NP_URING ? ringo__uring_global_init() : ringo__epoll_global_init();
	if (r < 0)
		return r;
	ringo__np_backend = b;
	if (ringo__debug.verbose) {
		if (probe < 0)
			fprintf(stderr, "ringo: netpoll: epoll (io_uring unavailable: %s)\n",
				strerror(-probe));
		else
			fprintf(stderr, "ringo: netpoll: %s\n", backend_name(b));
	}
	return 0;
}

RINGO_HIDDEN void ringo__signal_fini(void);

static void global_fini(void)
{
	ringo__signal_fini();
	ringo__fd_table_free();
	if (ringo__np_backend == NP_URING)
		ringo__uring_global_fini();
	else if (ringo__np_backend == NP_EPOLL)
		ringo__epoll_global_fini();
	ringo__np_backend = NP_NONE;
}

int ringo__netpoll_init(struct ringo_p *p)
{
	if (nps == 0) {
		int r = global_init();
		if (r < 0)
			return r;
	}
	struct ringo__netpoll *np = ringo__alloc(sizeof *np);
	if (!np) {
		if (nps == 0)
			global_fini();
		return -ENOMEM;
	}
	np->p = p;
	int r = ringo__np_uring() ? ringo__uring_init(np) : ringo__epoll_init(np);
	if (r < 0) {
		ringo__free(np, sizeof *np);
		if (nps == 0)
			global_fini();
		return r;
	}
	p->netpoll = np;
	nps++;
	return 0;
}

void ringo__netpoll_destroy(struct ringo_p *p)
{
	struct ringo__netpoll *np = p->netpoll;
	if (!np)
		return;
	if (ringo__np_uring())
		ringo__uring_destroy(np);
	else
		ringo__epoll_destroy(np);
	ringo__free(np, sizeof *np);
	p->netpoll = NULL;
	if (--nps == 0)
		global_fini();
}

int ringo__netpoll_poll(struct ringo_p *p, bool block, int64_t deadline)
{
	if (ringo__np_uring())
		return ringo__uring_poll(p->netpoll, block, deadline);
	return ringo__epoll_poll(p->netpoll, block, deadline);
}

bool ringo__np_sleeper_enter(struct ringo__netpoll *np, struct ringo_m *me)
{
	/* Someone else published: an earlier owner, rung when the P was
	 * taken and on its way out (wait for it, or we might consume its
	 * doorbell), or, when the P is not ours any more, its new owner
	 * asleep on it for good. seq_cst: see the doorbell in netpoll.h. */
	struct ringo_m *old = NULL;
	for (;;) {
		atomic_store(&np->rung, 0);	/* the next waker rings us */
		if (atomic_compare_exchange_strong(&np->sleeper, &old, me))
			return true;
		if (!ringo__p_idle_owner(np->p, me))
			return false;
		sched_yield();
		old = NULL;
	}
}

void ringo__np_sleeper_leave(struct ringo__netpoll *np, struct ringo_m *me)
{
	/* release: pairs with the acquire of an owner waiting for us to
	 * leave before it touches the ring (netpoll_uring.c, ring_lock) */
	atomic_compare_exchange_strong_explicit(&np->sleeper, &me, NULL, memory_order_release,
						memory_order_relaxed);
}

void ringo__netpoll_clear_wake(struct ringo_p *p)
{
	struct ringo__netpoll *np = p->netpoll;
	/* seq_cst exchange: reading the waker's store, we see what it did
	 * before it rang. Loading first keeps the line shared when unset. */
	if (atomic_load(&np->wake_pending))
		atomic_exchange(&np->wake_pending, 0);
}

void ringo__netpoll_wake(struct ringo_p *p)
{
	if (ringo__np_uring())
		ringo__uring_wake(p->netpoll);
	else
		ringo__epoll_wake(p->netpoll);
}

void ringo__netpoll_shutdown(struct ringo_p *p)
{
	if (ringo__np_uring())
		ringo__uring_shutdown(p->netpoll);
}

void ringo__netpoll_move(struct ringo_p *from, struct ringo_p *to)
{
	/* epoll: the waiters are on their descriptors, not on a P. */
	if (ringo__np_uring())
		ringo__uring_move(from->netpoll, to->netpoll);
}

bool ringo__netpoll_pending(struct ringo_p *p)
{
	struct ringo__netpoll *np = p->netpoll;
	if (!np || !ringo__np_uring())
		return false;
	return ringo__uring_pending(np);
}

int ringo__netpoll_poll_busy(struct ringo_p *p)
{
	if (!p->netpoll)
		return 0;
	if (ringo__np_uring())
		return ringo__uring_poll_busy(p->netpoll);
	return ringo__epoll_poll_busy(p->netpoll);
}

void ringo__glist_ready(struct ringo__glist *l, bool to_global)
{
	int n = l->n;
	if (!n)
		return;
	struct ringo_m *m = ringo__getm();
	if (to_global && m && m->p) {
		/* ringo__ready_list puts them on the caller's P when it has
		 * one; this caller's P may belong to another M already. */
		struct ringo_p *p = m->p;
		m->p = NULL;
		ringo__ready_list(l->head, l->n);
		m->p = p;
	} else {
		ringo__ready_list(l->head, l->n);
	}
	/* Only now: in between, the deadlock detector must see them either
	 * waiting on I/O or queued. Uncounted first, sysmon (not an M)
	 * readying a P's completions left a window where every M was idle,
	 * no queue held them and none waited on I/O: a false deadlock. */
	ringo__nio_add(-n);
	l->head = l->tail = NULL;
	l->n = 0;
}
