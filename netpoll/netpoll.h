/* SPDX-License-Identifier: MIT */
/*
 * netpoll.h - the netpoller's internal types, shared by the files of
 * netpoll/ (never by lib/, which sees only runtime.h's narrow interface).
 *
 *   netpoll.c        the interface to the scheduler; back-end choice
 *   netpoll_uring.c  a ring per P: submit, reap, idle wait, wake, cancel
 *   netpoll_epoll.c  the fallback: non-blocking syscalls, readiness
 *   op.c             each operation described once, and its life
 *   fd.c             per-fd state (Go's pollDesc): deadlines, close
 *   net.c io.c file.c signal.c   the public API on top
 *
 * An operation (struct ringo__op) lives on the stack of the goroutine that
 * waits for it. The lifetime invariant (DESIGN.md §7): that goroutine is
 * never resumed while the kernel may still write to its stack, i.e. before
 * the operation's own final completion has been reaped. Cancellation
 * (deadline, ringo_close, runtime exit) only asks the kernel to finish the
 * operation early; the goroutine still waits for its completion.
 */
#ifndef RINGO_NETPOLL_H
#define RINGO_NETPOLL_H

#include "runtime.h"

#include <liburing.h>
#include <sys/socket.h>

/* Constants that liburing 2.3 (Debian) does not know yet. */
#ifndef IORING_REGISTER_SEND_MSG_RING
#define IORING_REGISTER_SEND_MSG_RING 31	/* Linux 6.13 */
#endif

/* ------------------------------------------------------------------ */
/* Back-ends                                                            */

enum ringo__np_backend {
	NP_NONE = 0,
	NP_URING,
	NP_EPOLL,
};

/* Chosen when the first P of a ringo_run is initialised; fixed until the
 * last P is destroyed. */
RINGO_HIDDEN extern int ringo__np_backend;

static inline bool ringo__np_uring(void)
{
	return likely(ringo__np_backend == NP_URING);
}

/* ------------------------------------------------------------------ */
/* Per-fd state (fd.c)                                                  */

enum ringo__fdkind {
	FDK_OTHER = 0,		/* pipe, tty, eventfd ...: read/write */
	FDK_STREAM,		/* connected stream socket (TCP, unix) */
	FDK_DGRAM,		/* datagram socket (UDP, unix dgram) */
	FDK_LISTENER,		/* listening socket */
	FDK_FILE,		/* regular file or block device: not pollable */
};

enum ringo__dir {
	DIR_NONE = 0,		/* no deadline applies (files, poll, open) */
	DIR_READ = 1,
	DIR_WRITE = 2,
};

struct ringo__op;
struct ringo__accept;

/*
 * The state of one descriptor number, Go's pollDesc. Created the first time
 * ringo uses the number and never freed while the runtime runs (a timer or
 * a late completion may still point at it); ringo_close resets it and bumps
 * seq, so a stale deadline timer recognises itself and does nothing.
 */
struct ringo__fd {
	ringo__lock_t lock;
	ringo__lock_t dlock;		/* serialises deadline setters and close's timer stops */
	int fd;				/* the number (constant) */
	uint32_t seq;			/* generation, bumped by close [lock] */
	uint8_t kind;			/* enum ringo__fdkind [lock; set at open] */
	bool open;			/* registered and not closed [lock] */
	bool closing;			/* ringo_close started: no new operations [lock] */
	bool expired[3];		/* deadline of a direction has passed [lock] */
	_Atomic bool eager_recv;	/* last recv left data behind: skip POLL_FIRST [relaxed hint] */
	bool ep_added;			/* registered with the epoll set [lock] */
	int16_t family;			/* listener: address family, 0 unknown [lock] */
	int32_t nops;			/* operations started and not finished [lock] */
	struct ringo__op *ops;		/* those that wait (kernel or readiness) [lock] */
	struct ringo_g *closer;		/* ringo_close waits here for nops == 0 [lock] */
	_Atomic uint32_t rseq, wseq;	/* epoll: readiness events seen [written under lock] */
	int64_t deadline[3];		/* absolute ns, 0 = none [lock] */
	struct ringo__timer timer[3];	/* deadline timers (READ, WRITE) [dlock] */
	struct ringo__accept *acc;	/* listener state, or NULL [lock] */
};

/* The state of fd, set up on first use (kind from fstat). NULL with *err
 * set (-EBADF, -ENOMEM) on failure. Never blocks on I/O. */
RINGO_HIDDEN struct ringo__fd *ringo__fd_get(int fd, int *err);
/* Register fd as freshly created by ringo (socket, accept, open) with a
 * known kind. */
RINGO_HIDDEN struct ringo__fd *ringo__fd_new(int fd, int kind);
/* Start an operation on pd (pd->lock held): 0, -EBADF (closed or closing)
 * or -ETIMEDOUT (the deadline of dir has passed). */
RINGO_HIDDEN int ringo__fd_check(struct ringo__fd *pd, int dir);
/* An operation that started with ringo__fd_check has finished (pd->lock
 * held). Returns the closer to ready, if this was the last one. */
RINGO_HIDDEN struct ringo_g *ringo__fd_op_done(struct ringo__fd *pd);
/* Set a deadline (abs ns, 0 = none) for dir (DIR_READ, DIR_WRITE). */
RINGO_HIDDEN int ringo__fd_set_deadline(int fd, int dir, int64_t abs_ns);
/* Free every descriptor state at runtime exit (not the descriptors). */
RINGO_HIDDEN void ringo__fd_table_free(void);

/* ------------------------------------------------------------------ */
/* Operations (op.c)                                                    */

enum ringo__opkind {
	OP_READ = 0,	/* read(2) at the file position */
	OP_RECV,	/* recv(2) */
	OP_WRITE,
	OP_SEND,
	OP_READV,
	OP_WRITEV,
	OP_RECVMSG,
	OP_SENDMSG,
	OP_ACCEPT,	/* a goroutine waiting in ringo_accept (no kernel op) */
	OP_ACCEPT_MULTI,/* a listener's multishot accept (in its fd state) */
	OP_CONNECT,
	OP_POLL,
	OP_PREAD,
	OP_PWRITE,
	OP_FSYNC,
	OP_OPENAT,
	OP_NKINDS,
};

/* op->flags: who has seen it, who wants it gone [atomic] */
#define OPF_SUBMITTED	1u	/* the kernel has it (set by the submitter) */
#define OPF_CANCEL	2u	/* cancellation requested (deadline, close) */

struct ringo__netpoll;

struct ringo__op {
	uint8_t kind;			/* enum ringo__opkind */
	uint8_t dir;			/* enum ringo__dir, from the op table */
	int16_t cancel_err;		/* what a cancelled op returns: -EBADF, -ETIMEDOUT [pd lock] */
	_Atomic uint32_t flags;		/* OPF_*; see op.c for the protocol */
	int fd;
	struct ringo__fd *pd;		/* NULL for operations without an fd (open) */
	struct ringo_g *g;		/* the goroutine waiting for it */
	struct ringo__netpoll *np;	/* ring it was queued on (io_uring) */
	struct ringo__op *next, *prev;	/* pd->ops [pd lock] */
	int64_t res;			/* result: bytes, fd, revents, or -errno */
	uint32_t cqe_flags;		/* IORING_CQE_F_* of the final completion */
	/* Arguments (meaning per kind, see the op table in op.c). */
	void *buf;			/* data; iovec array; msghdr; path; sockaddr */
	size_t len;			/* length; iovec count; socklen */
	int64_t off;			/* file offset; open mode; timeout ns (poll) */
	int arg;			/* msg flags; open flags; poll events; fsync flags */
	int dirfd;			/* openat */
	void *arg2;			/* accept: socklen_t *; poll: link timeout */
	uint32_t arg2_events;		/* epoll: events to wait for */
};

struct ringo__opdef {
	const char *wait_reason;	/* shown in goroutine dumps */
	uint8_t dir;			/* deadline that applies */
	uint32_t ep_events;		/* epoll: readiness to wait for on EAGAIN */
	/* io_uring: fill the SQE (user_data is set by the caller). */
	void (*prep)(struct io_uring_sqe *sqe, struct ringo__op *op);
	/* epoll and fallback: one attempt, non-blocking where the fd allows;
	 * -EAGAIN means wait for ep_events. */
	int64_t (*sys)(struct ringo__op *op);
};

RINGO_HIDDEN extern const struct ringo__opdef ringo__opdefs[OP_NKINDS];

/* Run op on the calling goroutine: park until it completes. Returns the
 * result (bytes, fd, ...) or -errno. -EPERM outside a goroutine. */
RINGO_HIDDEN int64_t ringo__op_run(struct ringo__op *op);
/* Finish op early with err (pd->lock held, op on pd->ops): io_uring asks
 * the kernel; a goroutine that waits in user space goes to l. */
struct ringo__glist;
RINGO_HIDDEN void ringo__op_cancel(struct ringo__op *op, int err, struct ringo__glist *l);

/* ------------------------------------------------------------------ */
/* Listener state (io_uring multishot accept; net.c / op.c)             */

struct ringo__accept {
	struct ringo__op op;		/* the multishot accept, OP_ACCEPT_MULTI */
	bool armed;			/* op is with the kernel [pd lock] */
	int err;			/* error that ended the last multishot [pd lock] */
	int *q;				/* accepted, not yet taken [pd lock] */
	uint32_t qhead, qlen, qcap;
};

/* Gs made runnable by a poll, collected before they are readied. */
struct ringo__glist {
	struct ringo_g *head, *tail;
	int n;
};

static inline void ringo__glist_push(struct ringo__glist *l, struct ringo_g *g)
{
	g->schedlink = NULL;
	if (l->tail)
		l->tail->schedlink = g;
	else
		l->head = g;
	l->tail = g;
	l->n++;
}

/* ------------------------------------------------------------------ */
/* Per-P poller state                                                   */

/* user_data values below this are tags, not operations */
#define NP_TAG_WAKE	1	/* MSG_RING doorbell */
#define NP_TAG_CANCEL	2	/* our own ASYNC_CANCEL */
#define NP_TAG_IGNORE	3	/* link timeouts */
#define NP_TAG_MAX	4096

struct ringo__netpoll {
	struct ringo_p *p;
	/* Doorbell (both back-ends). The waker sets wake_pending, then looks
	 * at sleeper and rings the M there; the sleeper publishes itself in
	 * sleeper, then looks at wake_pending (seq_cst both), so one of them
	 * sees the other. Only the P's owner consumes wake_pending, in
	 * findrunnable before it looks for work again: an idle P can be
	 * taken from under its M, and that M must not eat a wake-up meant
	 * for the new owner. One M at a time is published; before blocking
	 * it asks the scheduler whether the P is still its own (the P may
	 * have been taken before it published, with no one to ring). */
	struct ringo_m *_Atomic sleeper;
	_Atomic uint32_t wake_pending;
	_Atomic uint32_t rung;		/* a doorbell CQE is on its way (io_uring) */

	/* io_uring */
	struct io_uring ring;		/* [lock] */
	bool ring_ok;
	_Atomic uint32_t lock;		/* the owner's; sysmon only tries it (poll_busy) */
	_Atomic int64_t inflight;	/* CQEs still expected for operations [atomic] */
	_Atomic uint32_t queued;	/* SQEs not yet submitted [written under lock] */
	int32_t nio_pending;		/* parked on ops, not yet in sched.nio_waiting [lock] */
	_Atomic uint64_t polls;		/* owner's polls, for sysmon [owner writes, relaxed] */
	struct ringo__netpoll *moving;	/* procresize: cancelled ops go there [lock] */
	struct ringo__glist deferred;	/* readied at the owner's next poll [lock] */
	_Atomic int32_t spin_ns;	/* idle spin budget (netpoll_uring.c) [relaxed] */
	/* sysmon's view, written by sysmon only */
	uint64_t sm_polls;		/* polls when it last changed... */
	int64_t sm_since;		/* ...at this time */
	uint32_t sm_tick, sm_status;	/* p->schedtick and status when they last changed... */
	int64_t sm_gsince;		/* ...at this time */
	int64_t sm_kick;		/* last kick of the owner's thread */

};

/* The idle wait's doorbell, shared by the back-ends (netpoll.c). enter
 * publishes me as np's sleeper (false: the P is no longer ours, do not
 * sleep). Between enter and leave, block only if wake_pending is unset and
 * ringo__p_idle_owner still says yes. */
RINGO_HIDDEN bool ringo__np_sleeper_enter(struct ringo__netpoll *np, struct ringo_m *me);
RINGO_HIDDEN void ringo__np_sleeper_leave(struct ringo__netpoll *np, struct ringo_m *me);

/* io_uring back-end (netpoll_uring.c) */
RINGO_HIDDEN int ringo__uring_probe(void);
RINGO_HIDDEN int ringo__uring_global_init(void);
RINGO_HIDDEN void ringo__uring_global_fini(void);
RINGO_HIDDEN int ringo__uring_init(struct ringo__netpoll *np);
RINGO_HIDDEN void ringo__uring_destroy(struct ringo__netpoll *np);
RINGO_HIDDEN int ringo__uring_poll(struct ringo__netpoll *np, bool block, int64_t deadline);
RINGO_HIDDEN void ringo__uring_wake(struct ringo__netpoll *np);
RINGO_HIDDEN void ringo__uring_shutdown(struct ringo__netpoll *np);
RINGO_HIDDEN int ringo__uring_poll_busy(struct ringo__netpoll *np);
RINGO_HIDDEN void ringo__uring_move(struct ringo__netpoll *from, struct ringo__netpoll *to);
RINGO_HIDDEN bool ringo__uring_pending(struct ringo__netpoll *np);
/* The owner's SQE for op (submits early when the SQ is full). */
RINGO_HIDDEN void ringo__uring_queue(struct ringo__netpoll *np, struct ringo__op *op);
/* Queue a poll with a linked timeout. */
RINGO_HIDDEN void ringo__uring_queue_poll(struct ringo__netpoll *np, struct ringo__op *op,
					  struct __kernel_timespec *ts);
/* Ask the kernel to cancel op (any thread). */
RINGO_HIDDEN void ringo__uring_cancel(struct ringo__op *op);
/* Cancel every op on fd in np's ring (any thread). */
RINGO_HIDDEN void ringo__uring_cancel_fd(struct ringo__netpoll *np, int fd);

/* epoll back-end (netpoll_epoll.c) */
RINGO_HIDDEN int ringo__epoll_global_init(void);
RINGO_HIDDEN void ringo__epoll_global_fini(void);
RINGO_HIDDEN int ringo__epoll_init(struct ringo__netpoll *np);
RINGO_HIDDEN void ringo__epoll_destroy(struct ringo__netpoll *np);
RINGO_HIDDEN int ringo__epoll_poll(struct ringo__netpoll *np, bool block, int64_t deadline);
RINGO_HIDDEN void ringo__epoll_wake(struct ringo__netpoll *np);
RINGO_HIDDEN int ringo__epoll_poll_busy(struct ringo__netpoll *np);
/* Add pd's descriptor to the epoll set (pd->lock held). 0 or -errno
 * (-EPERM: not pollable, e.g. a regular file). */
RINGO_HIDDEN int ringo__epoll_add(struct ringo__fd *pd);
RINGO_HIDDEN void ringo__epoll_del(struct ringo__fd *pd);

/* Listeners (net.c): a multishot accept's CQE (reaper context; the op is
 * &pd->acc->op); and freeing a listener's state (pd->lock held). */
RINGO_HIDDEN void ringo__accept_complete(struct ringo__op *op, int res, uint32_t flags,
					 struct ringo__glist *l);
RINGO_HIDDEN void ringo__accept_release(struct ringo__fd *pd);

/* ------------------------------------------------------------------ */
/* Shared helpers (netpoll.c)                                           */

/* Ready the list: onto the current P, or the global queue with to_global
 * (a thread whose P may already belong to another M). */
RINGO_HIDDEN void ringo__glist_ready(struct ringo__glist *l, bool to_global);

/* Goroutines parked on I/O, for the deadlock detector. */
static inline void ringo__nio_add(int64_t n)
{
	/* seq_cst: checkdead reads it under sched.lock with other counters */
	atomic_fetch_add(&ringo__sched.nio_waiting, n);
}

/* The calling goroutine, or NULL (then the API returns -EPERM). */
static inline struct ringo_g *ringo__np_g(void)
{
	return ringo__getg();
}

#endif /* RINGO_NETPOLL_H */
