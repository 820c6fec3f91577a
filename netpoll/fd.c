/* SPDX-License-Identifier: MIT */
/*
 * fd.c - per-descriptor state (Go's pollDesc): which operations wait on a
 * descriptor, its deadlines, and closing it safely.
 *
 * The table maps a descriptor number to its struct ringo__fd: a lazily
 * allocated two-level array, so a lookup is two loads and no lock. States
 * are never freed while the runtime runs (a deadline timer or a late
 * completion may still point at one); ringo_close resets the state for the
 * next descriptor that gets the number.
 *
 * Invariants, all under pd->lock:
 *  - an operation starts only while the fd is open, not closing, and the
 *    deadline of its direction has not passed (ringo__fd_check);
 *  - pd->nops counts operations started and not finished; pd->ops lists
 *    those that wait (for the kernel, or for readiness under epoll);
 *  - ringo_close sets closing, cancels every waiting operation, waits for
 *    nops to reach zero, and only then calls close(2) - so no goroutine
 *    stays blocked and no completion can land on a reused number.
 * A deadline that passes marks its direction expired and cancels that
 * direction's operations; they return -ETIMEDOUT, and so does every new one
 * until the deadline is moved (Go's semantics).
 */
#include "netpoll.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#define FD_CHUNK 1024		/* states per second-level array */
#define FD_CHUNKS 4096		/* descriptors up to 4M */

static struct ringo__fd *_Atomic *_Atomic fdtab[FD_CHUNKS];

static void deadline_fire(void *arg, uint64_t dir);

static struct ringo__fd *fd_slot(int fd)
{
	if (fd < 0 || fd >= FD_CHUNK * FD_CHUNKS)
		return NULL;
	struct ringo__fd *_Atomic *chunk =
		atomic_load_explicit(&fdtab[fd / FD_CHUNK], memory_order_acquire);
	if (!chunk) {
		struct ringo__fd *_Atomic *fresh = ringo__alloc(sizeof(*fresh) * FD_CHUNK);
		if (!fresh)
			return NULL;
		/* acq_rel: publishes the zeroed chunk; pairs with the acquire
		 * loads above. The loser frees its copy. */
		if (atomic_compare_exchange_strong_explicit(&fdtab[fd / FD_CHUNK], &chunk, fresh,
							    memory_order_acq_rel, memory_order_acquire))
			chunk = fresh;
		else
			ringo__free(fresh, sizeof(*fresh) * FD_CHUNK);
	}
	struct ringo__fd *pd = atomic_load_explicit(&chunk[fd % FD_CHUNK], memory_order_acquire);
	if (!pd) {
		struct ringo__fd *fresh = ringo__alloc(sizeof *fresh);
		if (!fresh)
			return NULL;
		fresh->fd = fd;
		for (int d = DIR_READ; d <= DIR_WRITE; d++) {
			fresh->timer[d].f = deadline_fire;
			fresh->timer[d].arg = fresh;
			fresh->timer[d].seq = (uint64_t)d;
		}
		/* acq_rel: as for the chunk */
		if (atomic_compare_exchange_strong_explicit(&chunk[fd % FD_CHUNK], &pd, fresh,
							    memory_order_acq_rel, memory_order_acquire))
			pd = fresh;
		else
			ringo__free(fresh, sizeof *fresh);
	}
	return pd;
}

/* What kind of descriptor fd is: -errno (EBADF) or enum ringo__fdkind. */
static int detect_kind(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode)) {
		int type = 0, acc = 0;
		socklen_t l = sizeof type;
		(void)getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
		l = sizeof acc;
		(void)getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l);
		if (acc)
			return FDK_LISTENER;
		return type == SOCK_DGRAM ? FDK_DGRAM : FDK_STREAM;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
		return FDK_FILE;
	return FDK_OTHER;
}

/* Make pd the state of a live descriptor of the given kind (pd->lock). */
static void fd_open(struct ringo__fd *pd, int kind)
{
	pd->kind = (uint8_t)kind;
	pd->open = true;
	pd->closing = false;
	atomic_store_explicit(&pd->eager_recv, false, memory_order_relaxed);
	pd->family = 0;
	for (int d = 0; d < 3; d++) {
		pd->expired[d] = false;
		pd->deadline[d] = 0;
	}
	if (!ringo__np_uring() && kind != FDK_FILE) {
		/* epoll: sockets made non-blocking; other descriptors (pipes,
		 * ttys) only if they already are - a blocking one runs its
		 * calls through the syscall hand-off. */
		int fl = fcntl(pd->fd, F_GETFL);
		if (fl >= 0 && !(fl & O_NONBLOCK) && kind != FDK_OTHER)
			fl = fcntl(pd->fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : fl | O_NONBLOCK;
		if (fl >= 0 && (fl & O_NONBLOCK))
			(void)ringo__epoll_add(pd);
	}
}

struct ringo__fd *ringo__fd_get(int fd, int *err)
{
	struct ringo__fd *pd = fd_slot(fd);
	if (!pd) {
		*err = fd < 0 ? -EBADF : -ENOMEM;
		return NULL;
	}
	if (likely(pd->open))	/* racy fast path; checked again under the lock by users */
		return pd;
	ringo__lock(&pd->lock);
	if (!pd->open) {
		int kind = detect_kind(fd);
		if (kind < 0) {
			ringo__unlock(&pd->lock);
			*err = kind;
			return NULL;
		}
		fd_open(pd, kind);
	}
	ringo__unlock(&pd->lock);
	return pd;
}

struct ringo__fd *ringo__fd_new(int fd, int kind)
{
	struct ringo__fd *pd = fd_slot(fd);
	if (!pd)
		return NULL;
	ringo__lock(&pd->lock);
	fd_open(pd, kind);
	ringo__unlock(&pd->lock);
	return pd;
}

int ringo__fd_check(struct ringo__fd *pd, int dir)
{
	if (!pd->open || pd->closing)
		return -EBADF;
	if (dir != DIR_NONE && pd->expired[dir])
		return -ETIMEDOUT;
	return 0;
}

struct ringo_g *ringo__fd_op_done(struct ringo__fd *pd)
{
	RINGO_ASSERT(pd->nops > 0);
	if (--pd->nops == 0 && pd->closer) {
		struct ringo_g *g = pd->closer;
		pd->closer = NULL;
		return g;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Deadlines                                                              */

/* The deadline of dir passed (pd->lock held): fail what waits. */
static void expire(struct ringo__fd *pd, int dir, struct ringo__glist *l)
{
	pd->expired[dir] = true;
	for (struct ringo__op *op = pd->ops, *next; op; op = next) {
		next = op->next;
		if (op->dir == dir)
			ringo__op_cancel(op, -ETIMEDOUT, l);
	}
}

/* Timer callback (g0 or sysmon; must not block). Stateless: it acts only
 * if the deadline it was armed for is still the one set and has passed,
 * so a deadline that moved or a descriptor closed meanwhile is left be. */
static void deadline_fire(void *arg, uint64_t dir)
{
	struct ringo__fd *pd = arg;
	struct ringo__glist l = { 0 };
	ringo__lock(&pd->lock);
	int64_t d = pd->deadline[dir];
	if (pd->open && !pd->closing && d != 0 && d <= ringo__nanotime() && !pd->expired[dir])
		expire(pd, (int)dir, &l);
	ringo__unlock(&pd->lock);
	ringo__glist_ready(&l, false);
}

int ringo__fd_set_deadline(int fd, int dirs, int64_t abs_ns)
{
	if (!ringo__np_g())
		return -EPERM;
	int err = 0;
	struct ringo__fd *pd = ringo__fd_get(fd, &err);
	if (!pd)
		return err;
	struct ringo__glist l = { 0 };
	bool arm[3] = { false, false, false };
	ringo__lock(&pd->dlock);
	ringo__lock(&pd->lock);
	if (!pd->open || pd->closing) {
		ringo__unlock(&pd->lock);
		ringo__unlock(&pd->dlock);
		return -EBADF;
	}
	int64_t now = ringo__nanotime();
	for (int d = DIR_READ; d <= DIR_WRITE; d++) {
		if (!(dirs & d))
			continue;
		bool past = abs_ns < 0 || (abs_ns > 0 && abs_ns <= now);
		pd->deadline[d] = abs_ns < 0 ? -1 : abs_ns;
		if (past) {
			if (!pd->expired[d])
				expire(pd, d, &l);
		} else {
			pd->expired[d] = false;
			arm[d] = abs_ns > 0;
		}
	}
	ringo__unlock(&pd->lock);
	/* The timers outside pd->lock: timer.c may run deadline_fire with
	 * its own lock held, which then takes pd->lock. dlock keeps two
	 * setters from arming the timer out of order. */
	for (int d = DIR_READ; d <= DIR_WRITE; d++) {
		if (!(dirs & d))
			continue;
		if (arm[d])
			ringo__timer_modify(&pd->timer[d], abs_ns);
		else
			ringo__timer_stop(&pd->timer[d]);
	}
	ringo__unlock(&pd->dlock);
	ringo__glist_ready(&l, false);
	return 0;
}

int ringo_set_deadline(int fd, int64_t abs_ns)
{
	return ringo__fd_set_deadline(fd, DIR_READ | DIR_WRITE, abs_ns);
}

int ringo_set_read_deadline(int fd, int64_t abs_ns)
{
	return ringo__fd_set_deadline(fd, DIR_READ, abs_ns);
}

int ringo_set_write_deadline(int fd, int64_t abs_ns)
{
	return ringo__fd_set_deadline(fd, DIR_WRITE, abs_ns);
}

/* ------------------------------------------------------------------ */
/* Close                                                                  */

static bool closer_park(struct ringo_g *g, void *arg)
{
	struct ringo__fd *pd = arg;
	(void)g;
	/* Still holding pd->lock from ringo_close: the last operation's
	 * completion takes it to find the closer, so it cannot miss us. */
	ringo__nio_add(1);
	ringo__unlock(&pd->lock);
	return true;
}

int ringo_close(int fd)
{
	struct ringo_g *g = ringo__np_g();
	if (!g)
		return -EPERM;
	int err = 0;
	struct ringo__fd *pd = ringo__fd_get(fd, &err);
	if (!pd)
		return err;
	struct ringo__glist l = { 0 };
	ringo__lock(&pd->lock);
	if (!pd->open || pd->closing) {
		ringo__unlock(&pd->lock);
		return -EBADF;
	}
	pd->closing = true;
	for (struct ringo__op *op = pd->ops, *next; op; op = next) {
		next = op->next;
		ringo__op_cancel(op, -EBADF, &l);
	}
	ringo__unlock(&pd->lock);
	/* Ready the waiters outside pd->lock: readying may reap this P's
	 * ring, whose completions take pd->lock. */
	ringo__glist_ready(&l, false);

	ringo__lock(&pd->lock);
	if (pd->nops > 0) {
		pd->closer = g;
		ringo__park(closer_park, pd, "IO wait (close)");
		ringo__lock(&pd->lock);
	}
	RINGO_ASSERT(pd->nops == 0 && !pd->ops);
	ringo__unlock(&pd->lock);

	ringo__lock(&pd->dlock);
	ringo__timer_stop(&pd->timer[DIR_READ]);
	ringo__timer_stop(&pd->timer[DIR_WRITE]);
	ringo__unlock(&pd->dlock);

	ringo__lock(&pd->lock);
	if (pd->ep_added)
		ringo__epoll_del(pd);
	ringo__accept_release(pd);
	/* close(2) under the lock: a new descriptor with this number cannot
	 * start an operation before the state is reset. */
	int r = close(fd);
	r = r < 0 && errno != EINTR ? -errno : 0;
	pd->open = false;
	pd->closing = false;
	pd->ep_added = false;
	atomic_store_explicit(&pd->eager_recv, false, memory_order_relaxed);
	pd->seq++;
	for (int d = 0; d < 3; d++) {
		pd->expired[d] = false;
		pd->deadline[d] = 0;
	}
	ringo__unlock(&pd->lock);
	return r;
}

/* ------------------------------------------------------------------ */
/* Runtime exit                                                           */

void ringo__fd_table_free(void)
{
	for (int c = 0; c < FD_CHUNKS; c++) {
		struct ringo__fd *_Atomic *chunk = atomic_load(&fdtab[c]);
		if (!chunk)
			continue;
		for (int i = 0; i < FD_CHUNK; i++) {
			struct ringo__fd *pd = atomic_load(&chunk[i]);
			if (!pd)
				continue;
			ringo__accept_release(pd);
			ringo__free(pd, sizeof *pd);
		}
		ringo__free(chunk, sizeof(*chunk) * FD_CHUNK);
		atomic_store(&fdtab[c], NULL);
	}
}
