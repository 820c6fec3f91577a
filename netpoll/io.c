/* SPDX-License-Identifier: MIT */
/*
 * io.c - reading and writing descriptors through the netpoller:
 * ringo_read/write, recv/send, readv/writev, recvmsg/sendmsg, shutdown,
 * poll.
 *
 * Each call fills one struct ringo__op and runs it (op.c); only the
 * "everything or an error" loops of ringo_write and ringo_writev live here,
 * as Go's Write does. Sockets use recv/send (MSG_NOSIGNAL: a reset peer is
 * -EPIPE, never SIGPIPE); other descriptors read/write.
 */
#include "netpoll.h"

#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* One system call moves at most this much (io_uring lengths are 32 bits). */
#define IO_MAX ((size_t)1 << 30)

static inline bool is_socket(const struct ringo__fd *pd)
{
	return pd->kind == FDK_STREAM || pd->kind == FDK_DGRAM || pd->kind == FDK_LISTENER;
}

static int64_t run(struct ringo__fd *pd, int kind, void *buf, size_t len, int flags)
{
	struct ringo__op op;
	memset(&op, 0, sizeof op);
	op.kind = (uint8_t)kind;
	op.fd = pd->fd;
	op.pd = pd;
	op.buf = buf;
	op.len = len;
	op.arg = flags;
	int64_t r = ringo__op_run(&op);
	if (kind == OP_RECV && pd->kind == FDK_STREAM) {
		/* A read that filled its buffer, or that the kernel says left
		 * data behind, is followed by a read that need not wait:
		 * skip POLL_FIRST for it. */
		bool more = r == (int64_t)len || (op.cqe_flags & IORING_CQE_F_SOCK_NONEMPTY);
		atomic_store_explicit(&pd->eager_recv, more, memory_order_relaxed);
	}
	return r;
}

static struct ringo__fd *lookup(int fd, int *err)
{
	if (!ringo__np_g()) {
		*err = -EPERM;
		return NULL;
	}
	return ringo__fd_get(fd, err);
}

ssize_t ringo_read(int fd, void *buf, size_t n)
{
	int err = 0;
	if (!buf && n)
		return ringo__np_g() ? -EINVAL : -EPERM;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (n > IO_MAX)
		n = IO_MAX;
	return run(pd, is_socket(pd) ? OP_RECV : OP_READ, buf, n, 0);
}

ssize_t ringo_write(int fd, const void *buf, size_t n)
{
	int err = 0;
	if (!buf && n)
		return ringo__np_g() ? -EINVAL : -EPERM;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	int kind = is_socket(pd) ? OP_SEND : OP_WRITE;
	size_t done = 0;
	do {
		size_t chunk = n - done > IO_MAX ? IO_MAX : n - done;
		int64_t r = run(pd, kind, (char *)buf + done, chunk, 0);
		if (r < 0)
			return r;
		if (r == 0 && chunk)
			return -EIO;	/* a write that moves nothing would loop forever */
		done += (size_t)r;
	} while (done < n);
	return (ssize_t)n;
}

ssize_t ringo_recv(int fd, void *buf, size_t n, int flags)
{
	int err = 0;
	if (!buf && n)
		return ringo__np_g() ? -EINVAL : -EPERM;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (!is_socket(pd))
		return -ENOTSOCK;
	if (n > IO_MAX)
		n = IO_MAX;
	return run(pd, OP_RECV, buf, n, flags);
}

ssize_t ringo_send(int fd, const void *buf, size_t n, int flags)
{
	int err = 0;
	if (!buf && n)
		return ringo__np_g() ? -EINVAL : -EPERM;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (!is_socket(pd))
		return -ENOTSOCK;
	if (n > IO_MAX)
		n = IO_MAX;
	return run(pd, OP_SEND, (void *)buf, n, flags);
}

static int check_iov(const struct iovec *iov, int iovcnt, size_t *total)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX || (!iov && iovcnt))
		return -EINVAL;
	size_t t = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_base && iov[i].iov_len)
			return -EINVAL;
		t += iov[i].iov_len;
		if (t > SSIZE_MAX)
			return -EINVAL;
	}
	*total = t;
	return 0;
}

ssize_t ringo_readv(int fd, const struct iovec *iov, int iovcnt)
{
	int err = 0;
	size_t total;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if ((err = check_iov(iov, iovcnt, &total)) < 0)
		return err;
	if (is_socket(pd)) {
		struct msghdr msg;
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = (struct iovec *)iov;
		msg.msg_iovlen = (size_t)iovcnt;
		return run(pd, OP_RECVMSG, &msg, 0, 0);
	}
	return run(pd, OP_READV, (void *)iov, (size_t)iovcnt, 0);
}

ssize_t ringo_writev(int fd, const struct iovec *iov, int iovcnt)
{
	int err = 0;
	size_t total;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if ((err = check_iov(iov, iovcnt, &total)) < 0)
		return err;
	/* Partial writes advance through a private copy of the vector. */
	struct iovec small[16], *v = small;
	if (iovcnt > 16) {
		v = ringo__alloc(sizeof *v * (size_t)iovcnt);
		if (!v)
			return -ENOMEM;
	}
	memcpy(v, iov, sizeof *v * (size_t)iovcnt);
	struct iovec *cur = v;
	int left = iovcnt;
	size_t done = 0;
	ssize_t ret = (ssize_t)total;
	while (done < total) {
		while (left && cur->iov_len == 0) {
			cur++;
			left--;
		}
		int64_t r;
		if (is_socket(pd)) {
			struct msghdr msg;
			memset(&msg, 0, sizeof msg);
			msg.msg_iov = cur;
			msg.msg_iovlen = (size_t)left;
			r = run(pd, OP_SENDMSG, &msg, 0, 0);
		} else {
			r = run(pd, OP_WRITEV, cur, (size_t)left, 0);
		}
		if (r <= 0) {
			ret = r < 0 ? r : -EIO;
			break;
		}
		done += (size_t)r;
		while (r > 0 && left) {
			size_t take = (size_t)r < cur->iov_len ? (size_t)r : cur->iov_len;
			cur->iov_base = (char *)cur->iov_base + take;
			cur->iov_len -= take;
			r -= (int64_t)take;
			if (cur->iov_len == 0) {
				cur++;
				left--;
			}
		}
	}
	if (v != small)
		ringo__free(v, sizeof *v * (size_t)iovcnt);
	return ret;
}

ssize_t ringo_recvmsg(int fd, struct msghdr *msg, int flags)
{
	int err = 0;
	if (!msg)
		return ringo__np_g() ? -EINVAL : -EPERM;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (!is_socket(pd))
		return -ENOTSOCK;
	return run(pd, OP_RECVMSG, msg, 0, flags);
}

ssize_t ringo_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	int err = 0;
	if (!msg)
		return ringo__np_g() ? -EINVAL : -EPERM;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (!is_socket(pd))
		return -ENOTSOCK;
	return run(pd, OP_SENDMSG, (void *)msg, 0, flags);
}

int ringo_shutdown(int fd, int how)
{
	int err = 0;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	ringo__lock(&pd->lock);
	err = ringo__fd_check(pd, DIR_NONE);
	ringo__unlock(&pd->lock);
	if (err)
		return err;
	/* Never blocks; waiting readers see end of file, writers EPIPE. */
	return shutdown(fd, how) < 0 ? -errno : 0;
}

static intptr_t blocking_poll(void *arg)
{
	struct ringo__op *op = arg;
	struct pollfd pfd = { .fd = op->fd, .events = (short)op->arg };
	int ms = op->off < 0 ? -1 : (int)((op->off + 999999) / 1000000);
	int r = poll(&pfd, 1, ms);
	return r < 0 ? -errno : r == 0 ? 0 : pfd.revents;
}

int ringo_poll(int fd, int events, int64_t timeout_ns)
{
	int err = 0;
	struct ringo__fd *pd = lookup(fd, &err);
	if (!pd)
		return err;
	if (events & ~(POLLIN | POLLPRI | POLLOUT | POLLRDHUP | POLLERR | POLLHUP | POLLRDNORM |
		       POLLWRNORM | POLLRDBAND | POLLWRBAND))
		return -EINVAL;
	struct ringo__op op;
	memset(&op, 0, sizeof op);
	op.kind = OP_POLL;
	op.fd = fd;
	op.pd = pd;
	op.arg = events;
	op.off = timeout_ns < 0 ? -1 : timeout_ns;
	if (timeout_ns == 0) {
		/* Just looking: poll(2) says it at once. */
		struct pollfd pfd = { .fd = fd, .events = (short)events };
		int r = poll(&pfd, 1, 0);
		return r < 0 ? -errno : r == 0 ? 0 : pfd.revents;
	}
	if (!ringo__np_uring()) {
		/* epoll fallback: no per-call timers there, and descriptors
		 * outside the epoll set (blocking pipes, terminals) cannot
		 * park: a blocking poll through the syscall hand-off. */
		ringo__lock(&pd->lock);
		err = ringo__fd_check(pd, DIR_NONE);
		bool parkable = pd->ep_added;
		ringo__unlock(&pd->lock);
		if (err)
			return err;
		if (parkable && timeout_ns < 0)
			return (int)ringo__op_run(&op);
		if (timeout_ns > (int64_t)INT_MAX * 1000000)
			op.off = (int64_t)INT_MAX * 1000000;
		return (int)ringo_blocking(blocking_poll, &op);
	}
	return (int)ringo__op_run(&op);
}
