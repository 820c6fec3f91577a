/* SPDX-License-Identifier: MIT */
/*
 * op.c - every I/O operation described once, and the life of one.
 *
 * The table says, per kind: the wait reason shown in dumps, which deadline
 * applies, how to fill an io_uring SQE, and how to make one attempt with a
 * plain system call (the epoll back-end; -EAGAIN means "wait for these
 * epoll events and try again"). The API files (io.c, net.c, file.c) only
 * fill a struct ringo__op and call ringo__op_run.
 *
 * io_uring. The goroutine parks; the unlock function (on another stack,
 * after the goroutine is off its own) checks the fd is open and its
 * deadline not passed, links the op on the fd's list and queues the SQE on
 * the current P's ring. The completion, reaped by whoever holds that P's
 * CQ, unlinks it and readies the goroutine. A cancelled op still ends with
 * its own CQE (-ECANCELED, or the real result, which wins): the goroutine
 * never runs while the kernel may write to its stack.
 *
 * epoll. Start (count the op on the fd), try the call, and on EAGAIN park
 * until the fd's readiness sequence moves past the one seen before the
 * call (so an event between the call and the park is not lost); then try
 * again. Descriptors that epoll cannot watch (regular files) and blocking
 * descriptors not made by ringo run the call through ringo_blocking.
 */
#include "netpoll.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The table                                                              */

static inline int64_t sysret(ssize_t r)
{
	return r < 0 ? -errno : r;
}

/* read / recv */
static void prep_read(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_read(s, op->fd, op->buf, (unsigned)op->len, (uint64_t)-1);
}
static int64_t sys_read(struct ringo__op *op)
{
	return sysret(read(op->fd, op->buf, op->len));
}
static void prep_recv(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_recv(s, op->fd, op->buf, op->len, op->arg);
	/* Most reads wait for data: arm the poll first, skip the try. */
	if (!(op->arg & MSG_DONTWAIT) &&
	    !(op->pd && atomic_load_explicit(&op->pd->eager_recv, memory_order_relaxed)))
		s->ioprio |= IORING_RECVSEND_POLL_FIRST;
}
static int64_t sys_recv(struct ringo__op *op)
{
	return sysret(recv(op->fd, op->buf, op->len, op->arg | MSG_DONTWAIT));
}

/* write / send: sockets always send with MSG_NOSIGNAL (EPIPE, no SIGPIPE) */
static void prep_write(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_write(s, op->fd, op->buf, (unsigned)op->len, (uint64_t)-1);
}
static int64_t sys_write(struct ringo__op *op)
{
	return sysret(write(op->fd, op->buf, op->len));
}
static void prep_send(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_send(s, op->fd, op->buf, op->len, op->arg | MSG_NOSIGNAL);
}
static int64_t sys_send(struct ringo__op *op)
{
	return sysret(send(op->fd, op->buf, op->len, op->arg | MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* vectors (buf = const struct iovec *, len = count) */
static void prep_readv(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_readv(s, op->fd, op->buf, (unsigned)op->len, (uint64_t)-1);
}
static int64_t sys_readv(struct ringo__op *op)
{
	return sysret(readv(op->fd, op->buf, (int)op->len));
}
static void prep_writev(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_writev(s, op->fd, op->buf, (unsigned)op->len, (uint64_t)-1);
}
static int64_t sys_writev(struct ringo__op *op)
{
	return sysret(writev(op->fd, op->buf, (int)op->len));
}

/* messages (buf = struct msghdr *) */
static void prep_recvmsg(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_recvmsg(s, op->fd, op->buf, (unsigned)op->arg);
	if (!(op->arg & MSG_DONTWAIT))
		s->ioprio |= IORING_RECVSEND_POLL_FIRST;
}
static int64_t sys_recvmsg(struct ringo__op *op)
{
	return sysret(recvmsg(op->fd, op->buf, op->arg | MSG_DONTWAIT));
}
static void prep_sendmsg(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_sendmsg(s, op->fd, op->buf, (unsigned)(op->arg | MSG_NOSIGNAL));
}
static int64_t sys_sendmsg(struct ringo__op *op)
{
	return sysret(sendmsg(op->fd, op->buf, op->arg | MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* accept (epoll only; io_uring listeners use the multishot accept) */
static int64_t sys_accept(struct ringo__op *op)
{
	return sysret(accept4(op->fd, op->buf, op->arg2, SOCK_NONBLOCK | SOCK_CLOEXEC));
}
static void prep_accept_multi(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_multishot_accept(s, op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* connect (buf = sockaddr, len = its length). epoll: connect once, then
 * wait for writability and read SO_ERROR (op->arg counts the attempts). */
static void prep_connect(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_connect(s, op->fd, op->buf, (socklen_t)op->len);
}
static int64_t sys_connect(struct ringo__op *op)
{
	if (op->arg++ == 0) {
		int r = connect(op->fd, op->buf, (socklen_t)op->len);
		if (r == 0)
			return 0;
		return errno == EINPROGRESS || errno == EINTR ? -EAGAIN : -errno;
	}
	int err = 0;
	socklen_t l = sizeof err;
	if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return -errno;
	if (err)
		return -err;
	struct sockaddr_storage ss;
	l = sizeof ss;
	if (getpeername(op->fd, (struct sockaddr *)&ss, &l) < 0)
		return errno == ENOTCONN ? -EAGAIN : -errno;
	return 0;
}

/* poll (arg = events; off = timeout ns, < 0 none) */
static void prep_poll(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_poll_add(s, op->fd, (unsigned)op->arg);
}
static int64_t sys_poll(struct ringo__op *op)
{
	struct pollfd pfd = { .fd = op->fd, .events = (short)op->arg };
	int r = poll(&pfd, 1, 0);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EAGAIN;
	return pfd.revents;
}

/* files */
static void prep_pread(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_read(s, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
}
static int64_t sys_pread(struct ringo__op *op)
{
	return sysret(pread(op->fd, op->buf, op->len, op->off));
}
static void prep_pwrite(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_write(s, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
}
static int64_t sys_pwrite(struct ringo__op *op)
{
	return sysret(pwrite(op->fd, op->buf, op->len, op->off));
}
static void prep_fsync(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_fsync(s, op->fd, op->arg ? IORING_FSYNC_DATASYNC : 0);
}
static int64_t sys_fsync(struct ringo__op *op)
{
	return sysret(op->arg ? fdatasync(op->fd) : fsync(op->fd));
}
static void prep_openat(struct io_uring_sqe *s, struct ringo__op *op)
{
	io_uring_prep_openat(s, op->dirfd, op->buf, op->arg, (mode_t)op->off);
}
static int64_t sys_openat(struct ringo__op *op)
{
	return sysret(openat(op->dirfd, op->buf, op->arg, (mode_t)op->off));
}

#define IN (EPOLLIN | EPOLLRDHUP)
#define OUT EPOLLOUT

const struct ringo__opdef ringo__opdefs[OP_NKINDS] = {
	[OP_READ]	  = { "IO wait (read)",    DIR_READ,  IN,  prep_read,    sys_read },
	[OP_RECV]	  = { "IO wait (recv)",    DIR_READ,  IN,  prep_recv,    sys_recv },
	[OP_WRITE]	  = { "IO wait (write)",   DIR_WRITE, OUT, prep_write,   sys_write },
	[OP_SEND]	  = { "IO wait (send)",    DIR_WRITE, OUT, prep_send,    sys_send },
	[OP_READV]	  = { "IO wait (readv)",   DIR_READ,  IN,  prep_readv,   sys_readv },
	[OP_WRITEV]	  = { "IO wait (writev)",  DIR_WRITE, OUT, prep_writev,  sys_writev },
	[OP_RECVMSG]	  = { "IO wait (recvmsg)", DIR_READ,  IN,  prep_recvmsg, sys_recvmsg },
	[OP_SENDMSG]	  = { "IO wait (sendmsg)", DIR_WRITE, OUT, prep_sendmsg, sys_sendmsg },
	[OP_ACCEPT]	  = { "IO wait (accept)",  DIR_READ,  IN,  NULL,         sys_accept },
	[OP_ACCEPT_MULTI] = { "accept",            DIR_NONE,  0,   prep_accept_multi, NULL },
	[OP_CONNECT]	  = { "IO wait (connect)", DIR_WRITE, OUT, prep_connect, sys_connect },
	[OP_POLL]	  = { "IO wait (poll)",    DIR_NONE,  0,   prep_poll,    sys_poll },
	[OP_PREAD]	  = { "IO wait (pread)",   DIR_NONE,  0,   prep_pread,   sys_pread },
	[OP_PWRITE]	  = { "IO wait (pwrite)",  DIR_NONE,  0,   prep_pwrite,  sys_pwrite },
	[OP_FSYNC]	  = { "IO wait (fsync)",   DIR_NONE,  0,   prep_fsync,   sys_fsync },
	[OP_OPENAT]	  = { "IO wait (open)",    DIR_NONE,  0,   prep_openat,  sys_openat },
};

/* ------------------------------------------------------------------ */
/* Shared pieces                                                          */

static void link_op(struct ringo__fd *pd, struct ringo__op *op)
{
	op->prev = NULL;
	op->next = pd->ops;
	if (pd->ops)
		pd->ops->prev = op;
	pd->ops = op;
}

static void unlink_op(struct ringo__fd *pd, struct ringo__op *op)
{
	if (op->prev)
		op->prev->next = op->next;
	else
		pd->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->next = op->prev = NULL;
}

/* ------------------------------------------------------------------ */
/* io_uring                                                               */

/* Park unlock function: arm op. Runs on the M that owns the P, after the
 * goroutine switched out. */
static bool uring_arm(struct ringo_g *g, void *arg)
{
	struct ringo__op *op = arg;
	struct ringo__fd *pd = op->pd;
	(void)g;
	if (pd) {
		ringo__lock(&pd->lock);
		int err = ringo__fd_check(pd, op->dir);
		if (err) {
			ringo__unlock(&pd->lock);
			op->res = err;
			return false;	/* run on at once */
		}
		link_op(pd, op);
		pd->nops++;
		ringo__unlock(&pd->lock);
	}
	/* Counted in sched.nio_waiting by the ring, once per round. */
	struct ringo__netpoll *np = ringo__getm()->p->netpoll;
	if (op->kind == OP_POLL && op->off >= 0)
		ringo__uring_queue_poll(np, op, op->arg2);
	else
		ringo__uring_queue(np, op);
	return true;
}

static int64_t uring_run(struct ringo__op *op)
{
	struct __kernel_timespec ts;
	if (op->kind == OP_POLL && op->off >= 0) {
		ts.tv_sec = op->off / 1000000000;
		ts.tv_nsec = op->off % 1000000000;
		op->arg2 = &ts;
	}
	ringo__park(uring_arm, op, ringo__opdefs[op->kind].wait_reason);
	/* Completed (or refused by uring_arm). op->cancel_err is stable: it
	 * was written under pd->lock before the completion unlinked op. */
	if (op->res == -ECANCELED && op->cancel_err)
		return op->cancel_err;
	if (op->kind == OP_POLL && op->res == -ECANCELED && op->off >= 0)
		return 0;	/* the linked timeout fired */
	return op->res;
}

/* ------------------------------------------------------------------ */
/* epoll                                                                  */

struct ep_wait {
	struct ringo__op *op;
	uint32_t seq;
};

static inline uint32_t ep_seq(struct ringo__fd *pd, uint32_t events)
{
	/* acquire: pairs with the release increment in ringo__epoll's
	 * event handler; a later event moves it past what we saw. */
	return events & EPOLLOUT ? atomic_load_explicit(&pd->wseq, memory_order_acquire)
				 : atomic_load_explicit(&pd->rseq, memory_order_acquire);
}

static bool ep_arm(struct ringo_g *g, void *arg)
{
	struct ep_wait *w = arg;
	struct ringo__op *op = w->op;
	struct ringo__fd *pd = op->pd;
	(void)g;
	ringo__lock(&pd->lock);
	int err = ringo__fd_check(pd, op->dir);
	if (err || ep_seq(pd, (uint32_t)op->arg2_events) != w->seq) {
		ringo__unlock(&pd->lock);
		op->res = err ? err : -EAGAIN;
		return false;
	}
	op->res = -EAGAIN;	/* an event leaves it; close or deadline set an error */
	link_op(pd, op);
	ringo__nio_add(1);
	ringo__unlock(&pd->lock);
	return true;
}

static intptr_t blocking_sys(void *arg)
{
	struct ringo__op *op = arg;
	return (intptr_t)ringo__opdefs[op->kind].sys(op);
}

static int64_t epoll_run(struct ringo__op *op)
{
	const struct ringo__opdef *d = &ringo__opdefs[op->kind];
	struct ringo__fd *pd = op->pd;
	int64_t r;
	if (!pd)
		return (int64_t)ringo_blocking(blocking_sys, op);

	ringo__lock(&pd->lock);
	int err = ringo__fd_check(pd, op->dir);
	if (err) {
		ringo__unlock(&pd->lock);
		return err;
	}
	pd->nops++;
	bool pollable = pd->ep_added;
	ringo__unlock(&pd->lock);

	op->arg2_events = op->kind == OP_POLL ? (uint32_t)op->arg : d->ep_events;
	if (!pollable) {
		r = (int64_t)ringo_blocking(blocking_sys, op);
	} else {
		for (;;) {
			struct ep_wait w = { op, ep_seq(pd, (uint32_t)op->arg2_events) };
			r = d->sys(op);
			if (r != -EAGAIN && r != -EWOULDBLOCK)
				break;
			if (op->kind == OP_POLL && op->off == 0)
				return 0;	/* a zero timeout: just looking */
			ringo__park(ep_arm, &w, d->wait_reason);
			if (op->res != -EAGAIN) {
				r = op->res;	/* closed, deadline, poll timeout */
				break;
			}
		}
	}
	struct ringo__glist l = { 0 };
	ringo__lock(&pd->lock);
	struct ringo_g *closer = ringo__fd_op_done(pd);
	ringo__unlock(&pd->lock);
	if (closer) {
		ringo__glist_push(&l, closer);
		ringo__glist_ready(&l, false);
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* The entry points                                                       */

int64_t ringo__op_run(struct ringo__op *op)
{
	if (!ringo__np_g())
		return -EPERM;
	op->dir = ringo__opdefs[op->kind].dir;
	op->g = ringo__np_g();
	op->res = 0;
	op->cancel_err = 0;
	op->next = op->prev = NULL;
	atomic_store_explicit(&op->flags, 0, memory_order_relaxed);
	if (ringo__np_uring())
		return uring_run(op);
	return epoll_run(op);
}

/* Cancel op, which waits on pd->ops (pd->lock held): io_uring asks the
 * kernel (the goroutine then waits for the op's CQE); epoll takes the
 * waiter off the list and readies it with err (via l). */
void ringo__op_cancel(struct ringo__op *op, int err, struct ringo__glist *l)
{
	if (ringo__np_uring()) {
		if (op->kind == OP_ACCEPT) {
			/* A goroutine waiting for the accept queue: no kernel op. */
			unlink_op(op->pd, op);
			op->res = err;
			ringo__glist_push(l, op->g);
			return;
		}
		if (!op->cancel_err)
			op->cancel_err = (int16_t)err;
		ringo__uring_cancel(op);
		return;
	}
	unlink_op(op->pd, op);
	op->res = err;
	ringo__glist_push(l, op->g);
}
