/* SPDX-License-Identifier: MIT */
/*
 * netpoll_uring.c - the io_uring back-end: a ring per P.
 *
 * Ownership. The ring of a P is used by the M that holds the P:
 * goroutines queue SQEs as they park (in the park unlock function, so that
 * no completion can ready a goroutine that is still on its stack), and the
 * whole round goes to the kernel in one io_uring_enter when the P looks for
 * work; it reaps the CQ then too. The owner does all of this under
 * np->lock, a spin lock that nobody else ever waits for: sysmon only tries
 * it (ringo__netpoll_poll_busy), to submit and reap for a P whose M has not
 * polled for a long time - a P that never runs out of goroutines (a
 * long computation, a yield or channel ping-pong loop) would otherwise
 * hold its queued operations and its completions forever. Hand-off of the
 * P between Ms (sched.lock, status CAS) orders the owners.
 * Lock order: np->lock before pd->lock; nothing is readied under np->lock
 * (readying may ring a doorbell through the caller's own ring).
 *
 * Facts of this kernel that shape the code (DESIGN.md §7, re-measured):
 *  - A completion runs as task_work of the thread that SUBMITTED the
 *    operation. With COOP_TASKRUN that thread is not interrupted: it runs
 *    the work at its next kernel entry (a sleeping thread is woken for it).
 *    So an M that runs a CPU-bound goroutine holds back the completions of
 *    everything it submitted. TASKRUN_FLAG makes that visible in the SQ
 *    flags (IORING_SQ_TASKRUN); sysmon looks at it and kicks such an M
 *    with a signal (ringo__netpoll_poll_busy). We never let liburing act on
 *    the flag for us: its peek/wait helpers would enter the kernel on
 *    behalf of whatever thread happens to reap, which does not help when
 *    the work belongs to another thread (the "misleading" of DESIGN §7).
 *  - SINGLE_ISSUER / DEFER_TASKRUN would pin a ring to one thread and
 *    break P hand-off; SQPOLL costs CPU. Not used.
 *  - close(fd) cancels nothing: ringo_close cancels (fd.c) before closing.
 *  - Waking a thread blocked in io_uring_enter: a MSG_RING CQE from the
 *    waker's own ring, or IORING_REGISTER_SEND_MSG_RING (no ring needed,
 *    Linux 6.13), or a lock-protected spare ring on older kernels. An
 *    eventfd poll was rejected: its completion is task_work of whichever
 *    thread armed it and can be very late.
 *
 * Cancellation races. A canceller (deadline timer, ringo_close) may find an
 * operation that is queued but not yet submitted: a cancel by user_data
 * would miss it. Both sides therefore mark op->flags with one atomic RMW:
 * the submitter sets OPF_SUBMITTED after io_uring_enter consumed the SQE,
 * the canceller sets OPF_CANCEL; whoever comes second issues the kernel
 * cancel. The submitter holds np->lock while it walks the batch, so the
 * operations it touches cannot complete (and their stacks be reused) under
 * it.
 */
#include "netpoll.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SQ_ENTRIES 256
#define CQ_ENTRIES 8192
/* A scheduling round takes at most half a local run queue of completions,
 * as the epoll back-end takes 128 events: the goroutines fit in the P's
 * queue, where they stay near the ring that serves them, instead of
 * spilling half the queue into the global one (a lock, and goroutines
 * moved to other Ps). The rest wait in the CQ for the next round. */
#define REAP_ROUND (RINGO_RUNQ_SIZE / 2)
#define REAP_ALL UINT_MAX
/* Bounds of the idle spin's budget (idle_spin). */
#define IDLE_SPIN_MAX_NS 20000
#define IDLE_SPIN_MIN_NS 2000

static const unsigned ring_flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
				   IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_CQSIZE;
static const unsigned ring_features = IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL |
				      IORING_FEAT_EXT_ARG | IORING_FEAT_CQE_SKIP;

/* Process-wide state for one ringo_run. */
static struct {
	bool send_msg_ring;		/* IORING_REGISTER_SEND_MSG_RING works */
	ringo__lock_t wake_lock;	/* guards wake_ring */
	struct io_uring wake_ring;	/* doorbell for threads without a P (old kernels) */
	bool wake_ring_ok;
} U;

static int ring_setup(struct io_uring *r, unsigned sq, unsigned cq)
{
	struct io_uring_params params;
	memset(&params, 0, sizeof params);
	params.flags = ring_flags;
	params.cq_entries = cq;
	int ret = io_uring_queue_init_params(sq, r, &params);
	if (ret < 0)
		return ret;
	if ((params.features & ring_features) != ring_features) {
		io_uring_queue_exit(r);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Probe and process-wide set-up                                        */

static const uint8_t needed_ops[] = {
	IORING_OP_READ, IORING_OP_WRITE, IORING_OP_RECV, IORING_OP_SEND,
	IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_RECVMSG, IORING_OP_SENDMSG,
	IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_POLL_ADD, IORING_OP_LINK_TIMEOUT,
	IORING_OP_ASYNC_CANCEL, IORING_OP_MSG_RING, IORING_OP_OPENAT, IORING_OP_FSYNC,
};

/* Can we run on io_uring? 0, or -errno (ENOSYS old kernel or gVisor, EPERM
 * io_uring_disabled or seccomp, EOPNOTSUPP missing features). Creates a
 * small ring, checks features and every opcode, multishot accept (5.19)
 * and synchronous cancel (6.0). */
int ringo__uring_probe(void)
{
	struct io_uring r;
	int ret = ring_setup(&r, 8, 16);
	if (ret < 0)
		return ret;
	struct io_uring_probe *pr = io_uring_get_probe_ring(&r);
	if (!pr) {
		io_uring_queue_exit(&r);
		return -EOPNOTSUPP;
	}
	for (size_t i = 0; i < sizeof needed_ops; i++)
		if (!io_uring_opcode_supported(pr, needed_ops[i]))
			ret = -EOPNOTSUPP;
	io_uring_free_probe(pr);
	/* Synchronous cancel of nothing: -ENOENT where it exists. */
	struct io_uring_sync_cancel_reg reg;
	memset(&reg, 0, sizeof reg);
	reg.addr = NP_TAG_IGNORE;
	if (ret == 0 && io_uring_register_sync_cancel(&r, &reg) != -ENOENT)
		ret = -EOPNOTSUPP;
	io_uring_queue_exit(&r);
	return ret;
}

/* Does IORING_REGISTER_SEND_MSG_RING post into a ring? */
static bool probe_send_msg_ring(void)
{
	struct io_uring r;
	if (ring_setup(&r, 8, 16) < 0)
		return false;
	struct io_uring_sqe sqe;
	memset(&sqe, 0, sizeof sqe);
	io_uring_prep_msg_ring(&sqe, r.ring_fd, 0, NP_TAG_WAKE, 0);
	long ret = syscall(__NR_io_uring_register, -1, IORING_REGISTER_SEND_MSG_RING, &sqe, 1);
	bool ok = ret >= 0 && io_uring_cq_ready(&r) == 1;
	io_uring_queue_exit(&r);
	return ok;
}

int ringo__uring_global_init(void)
{
	memset(&U, 0, sizeof U);
	U.send_msg_ring = probe_send_msg_ring();
	if (!U.send_msg_ring) {
		int ret = ring_setup(&U.wake_ring, 8, 16);
		if (ret < 0)
			return ret;
		U.wake_ring_ok = true;
	}
	return 0;
}

void ringo__uring_global_fini(void)
{
	if (U.wake_ring_ok)
		io_uring_queue_exit(&U.wake_ring);
	memset(&U, 0, sizeof U);
}

int ringo__uring_init(struct ringo__netpoll *np)
{
	int ret = ring_setup(&np->ring, SQ_ENTRIES, CQ_ENTRIES);
	if (ret < 0)
		return ret;
	np->ring_ok = true;
	atomic_store_explicit(&np->spin_ns, IDLE_SPIN_MAX_NS, memory_order_relaxed);
	return 0;
}

void ringo__uring_destroy(struct ringo__netpoll *np)
{
	if (np->ring_ok)
		io_uring_queue_exit(&np->ring);
	np->ring_ok = false;
}

/* ------------------------------------------------------------------ */
/* The ring lock: the owner takes it; sysmon only tries.                */

/* The P was idle and taken from under the M that slept in its ring; that
 * M was sent a doorbell CQE and is on its way out. If we reaped first, the
 * CQE would be gone and it would sleep on. Wait for it to leave. */
static void __attribute__((noinline)) wait_old_sleeper(struct ringo__netpoll *np)
{
	struct ringo_m *me = ringo__getm();
	struct ringo_m *s;
	/* acquire: pairs with the sleeper's release store of NULL */
	while ((s = atomic_load_explicit(&np->sleeper, memory_order_acquire)) && s != me)
		sched_yield();
}

static inline void ring_lock(struct ringo__netpoll *np)
{
	if (unlikely(atomic_load_explicit(&np->sleeper, memory_order_relaxed) != NULL))
		wait_old_sleeper(np);
	/* acquire: pairs with the release in ring_unlock */
	while (atomic_exchange_explicit(&np->lock, 1, memory_order_acquire))
		ringo__cpu_relax();	/* sysmon holds it for one submit or reap */
}

static inline bool ring_trylock(struct ringo__netpoll *np)
{
	return !atomic_load_explicit(&np->sleeper, memory_order_acquire) &&
	       !atomic_load_explicit(&np->lock, memory_order_relaxed) &&
	       !atomic_exchange_explicit(&np->lock, 1, memory_order_acquire);
}

static inline void ring_unlock(struct ringo__netpoll *np)
{
	atomic_store_explicit(&np->lock, 0, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* Completions                                                            */

/* np->queued mirrors io_uring_sq_ready() for other threads (sysmon,
 * handoffp), which must not read liburing's plain SQ fields. relaxed: a
 * stale value delays help by a round, and the ring lock orders the rest. */
static inline void note_queued(struct ringo__netpoll *np)
{
	atomic_store_explicit(&np->queued, io_uring_sq_ready(&np->ring), memory_order_relaxed);
}

/* The number of CQEs waiting, for any thread (liburing's io_uring_cq_ready
 * reads the head with a plain load). acquire: pairs with the kernel's
 * release of the tail. */
static inline unsigned cq_waiting(struct ringo__netpoll *np)
{
	return __atomic_load_n(np->ring.cq.ktail, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(np->ring.cq.khead, __ATOMIC_RELAXED);
}

static inline unsigned sq_flags(struct ringo__netpoll *np)
{
	return __atomic_load_n(np->ring.sq.kflags, __ATOMIC_RELAXED);
}

static void queue_locked(struct ringo__netpoll *np, struct ringo__op *op, struct ringo__glist *l);

/* np is going away (procresize) and cancelled op only to move it: queue it
 * again on np->moving, unless somebody else wants it cancelled too (then it
 * completes with -ECANCELED as usual). The goroutine stays parked. */
static bool move_op(struct ringo__netpoll *np, struct ringo__op *op)
{
	struct ringo__netpoll *to = np->moving;
	struct ringo__fd *pd = op->pd;
	if (pd)
		ringo__lock(&pd->lock);	/* cancellers set OPF_CANCEL under it */
	bool move = !(atomic_load(&op->flags) & OPF_CANCEL);
	if (move) {
		atomic_store(&op->flags, 0);
		struct ringo__glist l = { 0 };	/* to's SQ has room: it was submitted */
		ring_lock(to);
		if (op->kind == OP_POLL && op->off >= 0) {
			/* Its linked timeout starts over. */
			struct io_uring_sqe *prev;
			queue_locked(to, op, &l);
			prev = &to->ring.sq.sqes[(to->ring.sq.sqe_tail - 1) & *to->ring.sq.kring_mask];
			prev->flags |= IOSQE_IO_LINK;
			struct io_uring_sqe *sqe = io_uring_get_sqe(&to->ring);
			if (sqe) {
				io_uring_prep_link_timeout(sqe, op->arg2, 0);
				io_uring_sqe_set_data64(sqe, NP_TAG_IGNORE);
				note_queued(to);
			} else {
				prev->flags &= ~IOSQE_IO_LINK;
			}
		} else {
			queue_locked(to, op, &l);
		}
		to->nio_pending--;	/* its goroutine was counted when it parked */
		ring_unlock(to);
		RINGO_ASSERT(l.n == 0);
	}
	if (pd)
		ringo__unlock(&pd->lock);
	return move;
}

/* One CQE. Gs to make runnable go to l (readied by the caller once the
 * CQ lock is released: readying may submit a doorbell). */
static void complete(struct ringo__netpoll *np, uint64_t ud, int res, uint32_t flags,
		     struct ringo__glist *l)
{
	if (ud < NP_TAG_MAX)
		return;		/* doorbell, our own cancel, link timeout */
	struct ringo__op *op = (struct ringo__op *)(uintptr_t)ud;
	if (op->kind == OP_ACCEPT_MULTI) {
		if (!(flags & IORING_CQE_F_MORE))
			atomic_fetch_sub_explicit(&np->inflight, 1, memory_order_relaxed);
		ringo__accept_complete(op, res, flags, l);
		return;
	}
	atomic_fetch_sub_explicit(&np->inflight, 1, memory_order_relaxed);
	if (unlikely(np->moving) && res == -ECANCELED && move_op(np, op))
		return;
	op->res = res;
	op->cqe_flags = flags;
	struct ringo_g *g = op->g, *closer = NULL;
	struct ringo__fd *pd = op->pd;
	if (pd) {
		ringo__lock(&pd->lock);
		if (op->prev)
			op->prev->next = op->next;
		else
			pd->ops = op->next;
		if (op->next)
			op->next->prev = op->prev;
		closer = ringo__fd_op_done(pd);
		ringo__unlock(&pd->lock);
	}
	/* From here op may be gone as soon as g runs. */
	ringo__glist_push(l, g);
	if (closer)
		ringo__glist_push(l, closer);
}

/* Reap up to max CQEs (np->lock held); returns how many. */
static int reap_locked(struct ringo__netpoll *np, struct ringo__glist *l, unsigned max)
{
	struct io_uring *r = &np->ring;
	unsigned head, n = 0;
	struct io_uring_cqe *cqe;
	io_uring_for_each_cqe(r, head, cqe) {
		if (n == max)
			break;
		complete(np, cqe->user_data, cqe->res, cqe->flags, l);
		n++;
	}
	if (n)
		io_uring_cq_advance(r, n);	/* release: the kernel may reuse the slots */
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* Submission (np->lock held)                                            */

static void queue_cancel(struct ringo__netpoll *np, uint64_t ud);

/* Submit everything queued. Gs completed while making room go to l. */
static void submit_locked(struct ringo__netpoll *np, struct ringo__glist *l)
{
	struct io_uring *r = &np->ring;
	for (;;) {
		if (io_uring_sq_ready(r) == 0)
			return;
		unsigned from = *r->sq.khead;
		int ret = io_uring_submit(r);
		if (ret == -EINTR)
			continue;
		if (ret == -EBUSY || ret == -EAGAIN) {
			/* CQ backed up (NODROP keeps the overflow): make room. */
			if (reap_locked(np, l, REAP_ALL) == 0)
				io_uring_get_events(r);	/* flush the kernel's overflow list */
			continue;
		}
		if (ret == -EBADR)
			ringo__fatal("io_uring: completions were lost (EBADR)");
		if (ret < 0)
			ringo__fatal("io_uring_submit: %s", strerror(-ret));
		note_queued(np);
		/* The batch [from, from + ret) is the kernel's now. */
		unsigned mask = *r->sq.kring_mask;
		bool cancels = false;
		for (unsigned i = from; i != from + (unsigned)ret; i++) {
			uint64_t ud = r->sq.sqes[i & mask].user_data;
			if (ud < NP_TAG_MAX)
				continue;
			struct ringo__op *op = (struct ringo__op *)(uintptr_t)ud;
			/* acq_rel: pairs with the canceller's fetch_or in
			 * ringo__uring_cancel; the second of the two cancels. */
			uint32_t old = atomic_fetch_or_explicit(&op->flags, OPF_SUBMITTED,
								memory_order_acq_rel);
			if (old & OPF_CANCEL) {
				queue_cancel(np, ud);
				cancels = true;
			}
		}
		if (!cancels)
			return;
	}
}

/* A free SQE (np->lock held), submitting the batch early if the SQ is
 * full. */
static struct io_uring_sqe *get_sqe(struct ringo__netpoll *np, struct ringo__glist *l)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&np->ring)))
		submit_locked(np, l);
	return sqe;
}

static void queue_cancel(struct ringo__netpoll *np, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&np->ring);
	if (!sqe) {
		/* Inside submit_locked: the SQ cannot be full right after a
		 * submit consumed it, but be safe and use the syscall. */
		struct io_uring_sync_cancel_reg reg;
		memset(&reg, 0, sizeof reg);
		reg.addr = ud;
		io_uring_register_sync_cancel(&np->ring, &reg);
		return;
	}
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, NP_TAG_CANCEL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void queue_locked(struct ringo__netpoll *np, struct ringo__op *op, struct ringo__glist *l)
{
	struct io_uring_sqe *sqe = get_sqe(np, l);
	ringo__opdefs[op->kind].prep(sqe, op);
	io_uring_sqe_set_data(sqe, op);
	op->np = np;
	atomic_fetch_add_explicit(&np->inflight, 1, memory_order_relaxed);
	if (op->kind != OP_ACCEPT_MULTI)
		np->nio_pending++;	/* a goroutine parks on it */
	note_queued(np);
}

/* Publish the goroutines parked on np's operations in sched.nio_waiting:
 * one atomic add per round instead of one per operation (two Ps would
 * bounce its cache line). Done before the M can go idle - the deadlock
 * detector only looks when every M is idle - and by sysmon before it
 * readies anything (np->lock held). */
static inline void flush_nio(struct ringo__netpoll *np)
{
	if (np->nio_pending) {
		ringo__nio_add(np->nio_pending);
		np->nio_pending = 0;
	}
}

void ringo__uring_queue(struct ringo__netpoll *np, struct ringo__op *op)
{
	struct ringo__glist l = { 0 };
	ring_lock(np);
	queue_locked(np, op, &l);
	ring_unlock(np);
	ringo__glist_ready(&l, false);
}

void ringo__uring_queue_poll(struct ringo__netpoll *np, struct ringo__op *op,
			     struct __kernel_timespec *ts)
{
	struct ringo__glist l = { 0 };
	ring_lock(np);
	if (ts && io_uring_sq_space_left(&np->ring) < 2)
		submit_locked(np, &l);
	queue_locked(np, op, &l);
	if (ts) {
		struct io_uring_sqe *prev = &np->ring.sq.sqes[(np->ring.sq.sqe_tail - 1) &
							      *np->ring.sq.kring_mask];
		prev->flags |= IOSQE_IO_LINK;
		struct io_uring_sqe *sqe = get_sqe(np, &l);
		/* The kernel copies *ts when it takes the SQE; ts lives on the
		 * waiting goroutine's stack, which is parked until then. */
		io_uring_prep_link_timeout(sqe, ts, 0);
		io_uring_sqe_set_data64(sqe, NP_TAG_IGNORE);
		note_queued(np);
	}
	ring_unlock(np);
	ringo__glist_ready(&l, false);
}

/* ------------------------------------------------------------------ */
/* Cancellation (any thread)                                             */

void ringo__uring_cancel(struct ringo__op *op)
{
	/* acq_rel: pairs with the submitter's fetch_or in submit_locked. */
	uint32_t old = atomic_fetch_or_explicit(&op->flags, OPF_CANCEL, memory_order_acq_rel);
	if (!(old & OPF_SUBMITTED) || (old & OPF_CANCEL))
		return;		/* the submitter will cancel it; or done already */
	struct io_uring_sync_cancel_reg reg;
	memset(&reg, 0, sizeof reg);
	reg.addr = (uint64_t)(uintptr_t)op;
	/* Zero timeout: ask, do not wait (the waiter waits for the CQE). */
	io_uring_register_sync_cancel(&op->np->ring, &reg);
}

void ringo__uring_cancel_fd(struct ringo__netpoll *np, int fd)
{
	struct io_uring_sync_cancel_reg reg;
	memset(&reg, 0, sizeof reg);
	reg.fd = fd;
	reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
	io_uring_register_sync_cancel(&np->ring, &reg);
}

/* ------------------------------------------------------------------ */
/* Poll, wait, wake                                                       */

/* Does this thread have task_work queued for np's ring? (It is almost
 * always the owner's own: it submitted the round.) */
static inline bool taskrun_pending(struct ringo__netpoll *np)
{
	return sq_flags(np) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

/* Before sleeping in the ring, look for a while without a system call:
 * the reply of a request this P just sent (a loopback round trip is ~10
 * µs), a doorbell, or this thread's task_work. On these VMs a thread that
 * blocks lets its vCPU halt, and waking it costs tens of µs - more than
 * the round trip. Returns true when the caller should not block.
 *
 * The spin is adaptive, as an adaptive mutex's: np->spin_ns (2-20 µs)
 * halves after a spin that found nothing and grows to twice what a
 * successful spin took. Request/response traffic (each reply within a few µs) keeps a
 * full spin; a P whose work arrives at random (an echo server at light
 * load: half the 20 µs spins found nothing, the other half took 17 µs on
 * average) stops burning CPU that another thread could use. */
static bool idle_spin_found(struct ringo__netpoll *np)
{
	if (atomic_load(&np->wake_pending))
		return true;	/* findrunnable takes it */
	if (cq_waiting(np) > 0)
		return true;
	if (taskrun_pending(np)) {
		/* Run it: its completions land in the CQ. Only waits, like
		 * the blocking enter below. */
		io_uring_enter2(np->ring.ring_fd, 0, 0, IORING_ENTER_GETEVENTS, NULL, 0);
		return true;
	}
	return false;
}

static bool idle_spin(struct ringo__netpoll *np, int64_t deadline)
{
	/* relaxed: a heuristic; two Ms may spin on one P around a hand-off */
	int32_t budget = atomic_load_explicit(&np->spin_ns, memory_order_relaxed);
	int64_t start = ringo__nanotime(), now = start, end = start + budget;
	if (deadline >= 0 && deadline < end)
		end = deadline;
	do {
		for (int i = 0; i < 64; i++) {
			if (idle_spin_found(np)) {
				/* Grow only: work that was already there
				 * says nothing about how long the next will
				 * take to come. */
				int64_t want = 2 * (ringo__nanotime() - start);
				if (want > IDLE_SPIN_MAX_NS)
					want = IDLE_SPIN_MAX_NS;
				if (want > budget)
					atomic_store_explicit(&np->spin_ns, (int32_t)want,
							      memory_order_relaxed);
				return true;
			}
			ringo__cpu_relax();
		}
		now = ringo__nanotime();
	} while (now < end);
	/* A spin cut short by a timer deadline says nothing about the I/O. */
	if (now - start >= budget && budget / 2 >= IDLE_SPIN_MIN_NS)
		atomic_store_explicit(&np->spin_ns, budget / 2, memory_order_relaxed);
	return false;
}

int ringo__uring_poll(struct ringo__netpoll *np, bool block, int64_t deadline)
{
	struct io_uring *r = &np->ring;
	if (!block) {
		struct ringo__glist l = { 0 };
		/* relaxed: only sysmon reads it, to see that we are at it */
		atomic_store_explicit(&np->polls, atomic_load_explicit(&np->polls,
				      memory_order_relaxed) + 1, memory_order_relaxed);
		ring_lock(np);
		if (unlikely(np->deferred.n)) {
			l = np->deferred;	/* completed while a P went away */
			np->deferred = (struct ringo__glist){ 0 };
		}
		if (io_uring_sq_ready(r))
			submit_locked(np, &l);	/* also runs our task_work */
		else if (taskrun_pending(np))
			io_uring_get_events(r);
		reap_locked(np, &l, REAP_ROUND);
		flush_nio(np);
		ring_unlock(np);
		int n = l.n;
		if (n)
			ringo__glist_ready(&l, false);
		return n;
	}

	/* The P is on the idle list: from here another M may take it (and
	 * its SQ and CQ), so this thread only waits. findrunnable reclaims
	 * the P and then reaps with a non-blocking poll. */
	if (idle_spin(np, deadline))
		return 0;
	struct __kernel_timespec ts;
	struct io_uring_getevents_arg arg;
	memset(&arg, 0, sizeof arg);
#ifdef RINGO_TSAN
	int64_t slice_end = ringo__nanotime() + RINGO_TSAN_WAIT_SLICE_NS;
	if (deadline < 0 || deadline > slice_end)
		deadline = slice_end;
#endif
	if (deadline >= 0) {
		int64_t left = deadline - ringo__nanotime();
		if (left <= 0)
			return 0;
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		arg.ts = (uint64_t)(uintptr_t)&ts;
	}
	struct ringo_m *me = ringo__getm();
	if (!ringo__np_sleeper_enter(np, me))
		return 0;
	/* seq_cst load after the store to sleeper: see the doorbell in
	 * netpoll.h. */
	if (!atomic_load(&np->wake_pending) && ringo__p_idle_owner(np->p, me)) {
		/* Returns when a CQE is in the ring (a completion or the
		 * doorbell), at the deadline, or on a signal. Completions of
		 * operations this thread submitted on other rings run here as
		 * task_work. */
		io_uring_enter2(r->ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
				(sigset_t *)&arg, sizeof arg);
	}
	ringo__np_sleeper_leave(np, me);
	return 0;
}

/* Post the doorbell CQE into np's ring. */
static void ring_doorbell(struct ringo__netpoll *np)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_p *own = m ? m->p : NULL;
	if (own && own->netpoll && own->netpoll != np && own->netpoll->ring_ok) {
		/* From our own ring: the doorbell rides with our batch. */
		struct ringo__netpoll *me = own->netpoll;
		struct ringo__glist l = { 0 };
		ring_lock(me);
		struct io_uring_sqe *sqe = get_sqe(me, &l);
		io_uring_prep_msg_ring(sqe, np->ring.ring_fd, 0, NP_TAG_WAKE, 0);
		io_uring_sqe_set_data64(sqe, NP_TAG_WAKE);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		submit_locked(me, &l);
		ring_unlock(me);
		ringo__glist_ready(&l, false);
		return;
	}
	struct io_uring_sqe sqe;
	memset(&sqe, 0, sizeof sqe);
	io_uring_prep_msg_ring(&sqe, np->ring.ring_fd, 0, NP_TAG_WAKE, 0);
	if (U.send_msg_ring) {
		syscall(__NR_io_uring_register, -1, IORING_REGISTER_SEND_MSG_RING, &sqe, 1);
		return;
	}
	/* Old kernel, no P: a spare ring shared under a lock. */
	ringo__lock(&U.wake_lock);
	struct io_uring_sqe *s = io_uring_get_sqe(&U.wake_ring);
	if (s) {
		*s = sqe;
		io_uring_sqe_set_data64(s, NP_TAG_WAKE);
		s->flags |= IOSQE_CQE_SKIP_SUCCESS;
		io_uring_submit(&U.wake_ring);
	}
	/* Failed doorbells post CQEs here; nobody needs them. */
	unsigned head, n = 0;
	struct io_uring_cqe *cqe;
	io_uring_for_each_cqe(&U.wake_ring, head, cqe)
		n++;
	io_uring_cq_advance(&U.wake_ring, n);
	ringo__unlock(&U.wake_lock);
}

void ringo__uring_wake(struct ringo__netpoll *np)
{
	/* seq_cst: see ringo__uring_poll. A sleeper that has not published
	 * itself yet finds wake_pending and does not sleep; one that has
	 * gets one doorbell CQE (rung dedups concurrent wakers). */
	atomic_store(&np->wake_pending, 1);
	if (atomic_load(&np->sleeper) && !atomic_exchange(&np->rung, 1))
		ring_doorbell(np);
}

/* ------------------------------------------------------------------ */
/* sysmon's help for a busy P                                             */

/* Called by sysmon (no P) every round for every P. A P whose M does not
 * come back to its ring leaves what it queued unsubmitted and what
 * completed unreaped. Two cases, two patiences:
 *  - one goroutine has run for HELP_LONG_G_NS (a computation; or the M is
 *    in a system call) and another P is idle: kick the M with a signal if
 *    completions wait as
 *    its task_work (the SIGURG handler returns at once when no preemption
 *    was asked for, but the kernel runs the work on the way), and submit
 *    and reap for it, readying the goroutines onto the global queue, where
 *    an idle P finds them. This bounds netpoll_busy_delay.
 *  - the P switches goroutines but has not polled for HELP_STALE_NS (it
 *    never runs out of them: a yield or channel loop, or a very long
 *    round of a loaded server): submit and reap for it. Long rounds are
 *    normal under load; helping then would only fight the owner for its
 *    ring lock and push its goroutines through the global queue, so this
 *    waits a whole time slice.
 * Returns what it did for the P (Gs readied + submits; kicks do not
 * count); 0 when it left the P alone. */
/* sysmon reads the owner's P and M without their locks, as Go's does (and
 * lib/sysmon.c): a stale value costs a useless kick at most. Kept from
 * ThreadSanitizer, these loads only. */
#define RACY RINGO_UNINSTRUMENTED
RACY static struct ringo_m *racy_pm(struct ringo_p *p) { return p->m; }
RACY static struct ringo_g *racy_curg(struct ringo_m *m) { return m->curg; }
RACY static int racy_deferred(struct ringo__netpoll *np) { return np->deferred.n; }

/* Operations in flight, queued, or goroutines waiting to be readied (any
 * thread: handoffp, start_the_world). */
bool ringo__uring_pending(struct ringo__netpoll *np)
{
	return atomic_load_explicit(&np->inflight, memory_order_relaxed) > 0 ||
	       atomic_load_explicit(&np->queued, memory_order_relaxed) > 0 || racy_deferred(np) > 0;
}

#define HELP_LONG_G_NS 500000
#define HELP_STALE_NS 10000000
int ringo__uring_poll_busy(struct ringo__netpoll *np)
{
	struct ringo_p *p = np->p;
	uint32_t st = atomic_load_explicit(&p->status, memory_order_relaxed);
	if ((st != P_RUNNING && st != P_SYSCALL) || !np->ring_ok)
		return 0;	/* idle: its M waits in the ring and sees everything */
	int64_t now = ringo__nanotime();
	uint64_t polls = atomic_load_explicit(&np->polls, memory_order_relaxed);
	uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
	if (polls != np->sm_polls) {
		np->sm_polls = polls;	/* the owner is at it */
		np->sm_since = now;
	}
	if (tick != np->sm_tick || st != np->sm_status) {
		np->sm_tick = tick;	/* another goroutine, or a system call */
		np->sm_status = st;
		np->sm_gsince = now;
	}
	/* Quick help only pays when another P is idle and can run what it
	 * readies; otherwise the owner gets to it as soon as it runs (a thread
	 * that the kernel descheduled also looks like a long goroutine). */
	bool long_g = now - np->sm_gsince >= HELP_LONG_G_NS &&
		      atomic_load_explicit(&ringo__sched.npidle, memory_order_relaxed) > 0;
	if (now - np->sm_since < (long_g ? HELP_LONG_G_NS : HELP_STALE_NS))
		return 0;
	int done = 0;

	if (long_g && st == P_RUNNING && (sq_flags(np) & IORING_SQ_TASKRUN) &&
	    now - np->sm_kick >= HELP_LONG_G_NS) {
		struct ringo_m *m = racy_pm(p);
		if (m && racy_curg(m)) {
			/* Not counted as done: the kicked thread runs the
			 * work itself, nothing needs sysmon back soon. */
			ringo__kick_m(m);	/* also when async preemption is off */
			np->sm_kick = now;
		}
	}

	/* Racy looks at the owner's SQ and the shared CQ: a stale answer only
	 * delays the help by a round. */
	bool sq = atomic_load_explicit(&np->queued, memory_order_relaxed) > 0;
	if ((sq || cq_waiting(np) > 0 || racy_deferred(np)) && ring_trylock(np)) {
		struct ringo__glist l = np->deferred;
		np->deferred = (struct ringo__glist){ 0 };
		if (sq && io_uring_sq_ready(&np->ring) > 0) {
			submit_locked(np, &l);
			done++;
		}
		reap_locked(np, &l, REAP_ALL);
		flush_nio(np);
		ring_unlock(np);
		done += l.n;
		ringo__glist_ready(&l, true);
	}
	return done;
}

/* ------------------------------------------------------------------ */
/* A P going away (procresize)                                           */

/* The world is stopped (sched.lock held) and from's P is being stopped for
 * good: nobody would ever reap its ring again. Cancel what is in flight
 * there and queue it again on to's ring (the owner of to submits it at its
 * next round); the goroutines of what completes for real meanwhile are
 * readied by to's owner at its next poll. */
void ringo__uring_move(struct ringo__netpoll *from, struct ringo__netpoll *to)
{
	if (!from->ring_ok || from == to)
		return;
	struct io_uring *r = &from->ring;
	struct ringo__glist l = { 0 };
	ring_lock(from);
	from->moving = to;
	submit_locked(from, &l);
	while (atomic_load(&from->inflight) > 0) {
		struct io_uring_sync_cancel_reg reg;
		memset(&reg, 0, sizeof reg);
		reg.flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
		io_uring_register_sync_cancel(r, &reg);
		/* The cancels complete as task_work of the threads that
		 * submitted: stopped Ms sleep interruptibly and run it. */
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 1000 * 1000 };
		struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };
		io_uring_enter2(r->ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
				(sigset_t *)&arg, sizeof arg);
		reap_locked(from, &l, REAP_ALL);
	}
	reap_locked(from, &l, REAP_ALL);	/* doorbells and the like */
	flush_nio(from);
	from->moving = NULL;
	ring_unlock(from);
	/* The caller holds sched.lock, and readying may need it: to's owner
	 * readies these at its next poll. */
	if (l.n) {
		ring_lock(to);
		if (to->deferred.tail)
			to->deferred.tail->schedlink = l.head;
		else
			to->deferred.head = l.head;
		to->deferred.tail = l.tail;
		to->deferred.n += l.n;
		ring_unlock(to);
	}
}

/* ------------------------------------------------------------------ */
/* Runtime exit                                                           */

/* Every M but the caller has exited (their operations the kernel cancels
 * or finishes without them). Cancel what is left and reap until nothing
 * can write into a goroutine's stack any more. The goroutines are
 * abandoned: nothing is readied. */
void ringo__uring_shutdown(struct ringo__netpoll *np)
{
	if (!np->ring_ok)
		return;
	struct io_uring *r = &np->ring;
	struct ringo__glist l = { 0 };
	ring_lock(np);
	submit_locked(np, &l);
	int64_t start = ringo__nanotime();
	bool warned = false;
	while (atomic_load(&np->inflight) > 0) {
		struct io_uring_sync_cancel_reg reg;
		memset(&reg, 0, sizeof reg);
		reg.flags = IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL;
		io_uring_register_sync_cancel(r, &reg);
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
		struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&ts };
		io_uring_enter2(r->ring_fd, 0, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
				(sigset_t *)&arg, sizeof arg);
		reap_locked(np, &l, REAP_ALL);
		if (!warned && ringo__nanotime() - start > 5000000000LL) {
			fprintf(stderr, "ringo: netpoll: still waiting for %lld I/O operations to finish\n",
				(long long)atomic_load(&np->inflight));
			warned = true;
		}
	}
	ring_unlock(np);
	/* l holds abandoned goroutines: leave them be. */
}
