/* SPDX-License-Identifier: MIT */
/*
 * file.c - files through the ring: ringo_open, ringo_pread, ringo_pwrite,
 * ringo_fsync.
 *
 * On io_uring these are ordinary operations (the kernel runs blocking file
 * work on its io-wq threads, and the goroutine parks meanwhile). Under the
 * epoll fallback a regular file is never "ready", so the same operations
 * run as blocking calls through the syscall hand-off (ringo_blocking):
 * the goroutine's thread blocks, its P goes on with other goroutines.
 * Deadlines do not apply to files, as in Go.
 */
#include "netpoll.h"

#include <fcntl.h>
#include <string.h>

#define IO_MAX ((size_t)1 << 30)

int ringo_open(const char *path, int flags, mode_t mode)
{
	if (!ringo__np_g())
		return -EPERM;
	if (!path)
		return -EINVAL;
	struct ringo__op op;
	memset(&op, 0, sizeof op);
	op.kind = OP_OPENAT;
	op.fd = -1;
	op.dirfd = AT_FDCWD;
	op.buf = (void *)path;
	op.arg = flags | O_CLOEXEC;
	op.off = mode;
	return (int)ringo__op_run(&op);
}

static int64_t file_op(int kind, int fd, void *buf, size_t n, int64_t off, int arg)
{
	if (!ringo__np_g())
		return -EPERM;
	int err = 0;
	struct ringo__fd *pd = ringo__fd_get(fd, &err);
	if (!pd)
		return err;
	struct ringo__op op;
	memset(&op, 0, sizeof op);
	op.kind = (uint8_t)kind;
	op.fd = fd;
	op.pd = pd;
	op.buf = buf;
	op.len = n;
	op.off = off;
	op.arg = arg;
	return ringo__op_run(&op);
}

ssize_t ringo_pread(int fd, void *buf, size_t n, off_t off)
{
	if ((!buf && n) || off < 0)
		return ringo__np_g() ? -EINVAL : -EPERM;
	if (n > IO_MAX)
		n = IO_MAX;
	return file_op(OP_PREAD, fd, buf, n, off, 0);
}

ssize_t ringo_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if ((!buf && n) || off < 0)
		return ringo__np_g() ? -EINVAL : -EPERM;
	/* Everything or an error, like Go's WriteAt. */
	size_t done = 0;
	do {
		size_t chunk = n - done > IO_MAX ? IO_MAX : n - done;
		int64_t r = file_op(OP_PWRITE, fd, (char *)buf + done, chunk, off + (off_t)done, 0);
		if (r < 0)
			return r;
		if (r == 0 && chunk)
			return -EIO;
		done += (size_t)r;
	} while (done < n);
	return (ssize_t)n;
}

int ringo_fsync(int fd)
{
	return (int)file_op(OP_FSYNC, fd, NULL, 0, 0, 0);
}
