/* SPDX-License-Identifier: MIT */
/*
 * ringo.h - Go's concurrency runtime for C on Linux.
 *
 * The one public header. Every exported name starts with ringo_; every call
 * that can fail returns a negative errno value (never sets errno, because a
 * goroutine may resume on another thread). Times and durations are int64_t
 * nanoseconds of CLOCK_MONOTONIC. See ringo(7) for the model.
 */
#ifndef RINGO_H
#define RINGO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGO_VERSION_MAJOR 0
#define RINGO_VERSION_MINOR 1
#define RINGO_VERSION_PATCH 0

#if defined(__GNUC__)
#define RINGO_API __attribute__((visibility("default")))
#else
#define RINGO_API
#endif

/* ------------------------------------------------------------------ */
/* Runtime core: goroutines and the scheduler (ringo_run(3), ringo_go(3)) */

/* Attributes for ringo_go_with(). A zeroed struct means the defaults. */
struct ringo_go_attr {
	size_t stack_size;	/* bytes of stack; 0 = default (256 KiB or RINGO_STACKSIZE) */
	const char *name;	/* shown in goroutine dumps; copied, may be NULL */
};

/* Start the runtime and run main_fn(arg) as goroutine 1. Returns main_fn's
 * return value when it returns, -EDEADLK if every goroutine blocked forever,
 * -EBUSY if the runtime is already running, -ENOMEM, -EAGAIN (no thread). */
RINGO_API int ringo_run(int (*main_fn)(void *), void *arg);

RINGO_API int ringo_go(void (*fn)(void *), void *arg);
RINGO_API int ringo_go_with(const struct ringo_go_attr *attr,
			    void (*fn)(void *), void *arg);
RINGO_API void ringo_yield(void);
RINGO_API void ringo_exit(void) __attribute__((noreturn));
RINGO_API uint64_t ringo_id(void);
RINGO_API int ringo_maxprocs(int n);
RINGO_API int ringo_num_goroutine(void);
RINGO_API int ringo_dump(int fd);

/* ------------------------------------------------------------------ */
/* Syscalls, preemption, locked threads (ringo_syscall_enter(3) ...)   */

RINGO_API void ringo_syscall_enter(void);
RINGO_API void ringo_syscall_exit(void);
RINGO_API intptr_t ringo_blocking(intptr_t (*fn)(void *), void *arg);
RINGO_API void ringo_preempt_point(void);
RINGO_API int ringo_lock_thread(void);
RINGO_API void ringo_unlock_thread(void);

/* ------------------------------------------------------------------ */
/* Channels and select (ringo_chan_make(3), ringo_select(3))           */

typedef struct ringo_chan ringo_chan;

/* Make a channel of elements of elem_size bytes (0 allowed) with a buffer
 * of cap elements (0 = unbuffered). Returns one reference, or NULL (out of
 * memory, or elem_size * cap overflows). The last ringo_chan_unref frees
 * it; hold a reference while using or blocking on it. */
RINGO_API ringo_chan *ringo_chan_make(size_t elem_size, size_t cap);
RINGO_API ringo_chan *ringo_chan_ref(ringo_chan *c);	/* returns c */
RINGO_API void ringo_chan_unref(ringo_chan *c);
/* 0, or -EPIPE if the channel is (or gets) closed (Go panics). NULL c
 * blocks forever. Goroutines only (-EPERM elsewhere). */
RINGO_API int ringo_chan_send(ringo_chan *c, const void *elem);
/* 1 with a value, 0 if closed and drained (elem zeroed). elem may be NULL.
 * NULL c blocks forever. Goroutines only (-EPERM elsewhere). */
RINGO_API int ringo_chan_recv(ringo_chan *c, void *elem);
/* Never block: -EAGAIN instead. Any thread, goroutine or not. */
RINGO_API int ringo_chan_try_send(ringo_chan *c, const void *elem);
RINGO_API int ringo_chan_try_recv(ringo_chan *c, void *elem);
/* 0; -EPIPE if already closed, -EINVAL for NULL (Go panics). Wakes every
 * blocked receiver (0) and sender (-EPIPE). Any thread. */
RINGO_API int ringo_chan_close(ringo_chan *c);
RINGO_API size_t ringo_chan_len(ringo_chan *c);
RINGO_API size_t ringo_chan_cap(ringo_chan *c);

enum ringo_case_dir {
	RINGO_RECV = 1,
	RINGO_SEND = 2,
};

/* One case of ringo_select(). */
struct ringo_case {
	ringo_chan *chan;	/* NULL: never ready */
	int dir;		/* RINGO_RECV or RINGO_SEND */
	void *elem;		/* value to send, or where to receive (may be NULL) */
	int result;		/* out, chosen case only: recv 1/0 (value/closed), send 0/-EPIPE */
};

#define RINGO_SELECT_NOWAIT 1	/* like a default: case; -EAGAIN if none ready */

/* Wait until one case can proceed and perform it (uniformly at random
 * among the ready ones); returns its index. n == 0 blocks forever. */
RINGO_API int ringo_select(struct ringo_case *cases, int n, int flags);

/* ------------------------------------------------------------------ */
/* Timers (ringo_sleep(3), ringo_timer_new(3), ringo_ticker_new(3))    */

/* CLOCK_MONOTONIC now, in nanoseconds. */
RINGO_API int64_t ringo_now(void);
/* Park the calling goroutine for at least ns nanoseconds (<= 0: yield).
 * Returns 0. */
RINGO_API int ringo_sleep(int64_t ns);
/* A channel (elements: int64_t, the ringo_now() of firing) that receives
 * once, ns from now (time.After). The caller owns one reference. NULL on
 * out-of-memory. */
RINGO_API ringo_chan *ringo_after(int64_t ns);

typedef struct ringo_timer ringo_timer;
/* time.NewTimer (fn == NULL: fires by sending on ringo_timer_chan) or
 * time.AfterFunc (fn != NULL: fn(arg) runs in a new goroutine). */
RINGO_API ringo_timer *ringo_timer_new(int64_t ns, void (*fn)(void *), void *arg);
RINGO_API ringo_chan *ringo_timer_chan(ringo_timer *t);	/* NULL for fn timers */
/* true if the call stopped a pending timer, false if it had already fired
 * or been stopped (Go's return values). */
RINGO_API bool ringo_timer_stop(ringo_timer *t);
RINGO_API bool ringo_timer_reset(ringo_timer *t, int64_t ns);
RINGO_API void ringo_timer_free(ringo_timer *t);	/* stops it first */

typedef struct ringo_ticker ringo_ticker;
/* time.NewTicker: sends ringo_now() every period ns on a channel of
 * capacity 1; ticks a slow reader misses are dropped. */
RINGO_API ringo_ticker *ringo_ticker_new(int64_t period);
RINGO_API ringo_chan *ringo_ticker_chan(ringo_ticker *t);
RINGO_API int ringo_ticker_reset(ringo_ticker *t, int64_t period);
RINGO_API void ringo_ticker_stop(ringo_ticker *t);
RINGO_API void ringo_ticker_free(ringo_ticker *t);	/* stops it first */

/* ------------------------------------------------------------------ */
/* sync: mutex, rwmutex, waitgroup, once, cond, sem; contexts          */

/*
 * The sync types are plain structs whose all-zero value is ready to use
 * (the RINGO_*_INIT initializers spell that out); they need no destroy
 * call, embed in user structs, and must not be copied once used. Their
 * fields are private. They block goroutines, not threads; called from a
 * thread that is not running a goroutine they block that thread.
 */

/* Mutual exclusion lock (ringo_mutex_lock(3)); Go's sync.Mutex. */
typedef struct ringo_mutex {
	uint32_t private_[2];
} ringo_mutex;
#define RINGO_MUTEX_INIT { { 0, 0 } }

RINGO_API void ringo_mutex_lock(ringo_mutex *m);
RINGO_API int ringo_mutex_trylock(ringo_mutex *m);	/* 0, or -EBUSY */
RINGO_API void ringo_mutex_unlock(ringo_mutex *m);

/* Reader/writer lock (ringo_rwmutex_lock(3)); a waiting writer blocks new
 * readers. */
typedef struct ringo_rwmutex {
	uint32_t private_[6];
} ringo_rwmutex;
#define RINGO_RWMUTEX_INIT { { 0 } }

RINGO_API void ringo_rwmutex_rlock(ringo_rwmutex *rw);
RINGO_API int ringo_rwmutex_tryrlock(ringo_rwmutex *rw);	/* 0, or -EBUSY */
RINGO_API void ringo_rwmutex_runlock(ringo_rwmutex *rw);
RINGO_API void ringo_rwmutex_lock(ringo_rwmutex *rw);
RINGO_API int ringo_rwmutex_trylock(ringo_rwmutex *rw);	/* 0, or -EBUSY */
RINGO_API void ringo_rwmutex_unlock(ringo_rwmutex *rw);

/* Wait for a collection of goroutines (ringo_waitgroup_add(3)). */
typedef struct ringo_waitgroup {
	uint64_t private_[2];
} ringo_waitgroup;
#define RINGO_WAITGROUP_INIT { { 0 } }

RINGO_API void ringo_waitgroup_add(ringo_waitgroup *wg, int delta);
RINGO_API void ringo_waitgroup_done(ringo_waitgroup *wg);
RINGO_API void ringo_waitgroup_wait(ringo_waitgroup *wg);

/* Run a function exactly once (ringo_once_do(3)). */
typedef struct ringo_once {
	uint32_t private_[3];
} ringo_once;
#define RINGO_ONCE_INIT { { 0 } }

RINGO_API void ringo_once_do(ringo_once *o, void (*fn)(void *), void *arg);

/* Condition variable (ringo_cond_wait(3)). */
typedef struct ringo_cond {
	uint64_t private_[4];
} ringo_cond;
#define RINGO_COND_INIT { { 0 } }

RINGO_API void ringo_cond_wait(ringo_cond *c, ringo_mutex *m);
RINGO_API void ringo_cond_signal(ringo_cond *c);
RINGO_API void ringo_cond_broadcast(ringo_cond *c);

/* Contexts (ringo_ctx_with_cancel(3)): cancellation, deadlines and values
 * carried across goroutines; Go's context package. */
typedef struct ringo_ctx ringo_ctx;

RINGO_API ringo_ctx *ringo_ctx_background(void);
RINGO_API int ringo_ctx_with_cancel(ringo_ctx *parent, ringo_ctx **out);
RINGO_API int ringo_ctx_with_timeout(ringo_ctx *parent, int64_t ns, ringo_ctx **out);
RINGO_API int ringo_ctx_with_deadline(ringo_ctx *parent, int64_t abs_ns, ringo_ctx **out);
RINGO_API int ringo_ctx_with_value(ringo_ctx *parent, const void *key, void *val,
				   ringo_ctx **out);
RINGO_API void *ringo_ctx_value(ringo_ctx *ctx, const void *key);
RINGO_API ringo_chan *ringo_ctx_done(ringo_ctx *ctx);
RINGO_API int ringo_ctx_err(ringo_ctx *ctx);	/* 0, -ECANCELED, -ETIMEDOUT */
RINGO_API bool ringo_ctx_deadline(ringo_ctx *ctx, int64_t *abs_ns);
RINGO_API void ringo_ctx_cancel(ringo_ctx *ctx);
RINGO_API void ringo_ctx_free(ringo_ctx *ctx);

/* Weighted semaphore (ringo_sem_acquire(3)); golang.org/x/sync/semaphore.
 * The zero value has size 0: set the size with ringo_sem_init() or
 * RINGO_SEM_INIT(n). */
typedef struct ringo_sem {
	int64_t private_[5];
} ringo_sem;
#define RINGO_SEM_INIT(n) { { (n) } }

RINGO_API int ringo_sem_init(ringo_sem *s, int64_t n);
RINGO_API int ringo_sem_acquire(ringo_sem *s, int64_t n);
RINGO_API int ringo_sem_acquire_ctx(ringo_sem *s, int64_t n, ringo_ctx *ctx);
RINGO_API int ringo_sem_try_acquire(ringo_sem *s, int64_t n);	/* -EAGAIN */
RINGO_API int ringo_sem_release(ringo_sem *s, int64_t n);

/* Goroutine groups (ringo_group_go(3)); golang.org/x/sync/errgroup. The
 * zero value is a group without a context and without a limit. */
typedef struct ringo_group {
	uint64_t private_[12];
} ringo_group;
#define RINGO_GROUP_INIT { { 0 } }

RINGO_API int ringo_group_init(ringo_group *g, ringo_ctx *parent);
RINGO_API ringo_ctx *ringo_group_ctx(ringo_group *g);
RINGO_API int ringo_group_set_limit(ringo_group *g, int n);
RINGO_API int ringo_group_go(ringo_group *g, int (*fn)(ringo_ctx *, void *), void *arg);
RINGO_API int ringo_group_try_go(ringo_group *g, int (*fn)(ringo_ctx *, void *),
				 void *arg);	/* -EAGAIN at the limit */
RINGO_API int ringo_group_wait(ringo_group *g);

/* ------------------------------------------------------------------ */
/* Network and file I/O through the netpoller (ringo_listen(3) ...)    */

/*
 * Goroutines that do I/O park in the netpoller (io_uring, or epoll where
 * io_uring is unavailable) instead of blocking their thread. Every call
 * must run in a goroutine (-EPERM otherwise) and returns -errno on
 * failure. Descriptors used here must be closed with ringo_close(), which
 * first wakes every goroutine blocked on the descriptor (they get -EBADF).
 */

/* Sockets (ringo_listen(3), ringo_accept(3), ringo_dial(3)). network is
 * "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6" with address "host:port"
 * ("[::1]:80", ":8080", a name, port 0 for any), or "unix"/"unixgram"
 * with a path ("@name": abstract). Returns a descriptor. */
RINGO_API int ringo_listen(const char *network, const char *address);
RINGO_API int ringo_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen);
RINGO_API int ringo_dial(const char *network, const char *address);
RINGO_API int ringo_dial_timeout(const char *network, const char *address,
				 int64_t timeout_ns);

/* Reading and writing (ringo_read(3)). ringo_write and ringo_writev write
 * everything or fail, like Go's Write; the others behave like the system
 * calls of the same name. End of stream is 0. */
RINGO_API ssize_t ringo_read(int fd, void *buf, size_t n);
RINGO_API ssize_t ringo_write(int fd, const void *buf, size_t n);
RINGO_API ssize_t ringo_recv(int fd, void *buf, size_t n, int flags);
RINGO_API ssize_t ringo_send(int fd, const void *buf, size_t n, int flags);
RINGO_API ssize_t ringo_readv(int fd, const struct iovec *iov, int iovcnt);
RINGO_API ssize_t ringo_writev(int fd, const struct iovec *iov, int iovcnt);
RINGO_API ssize_t ringo_recvmsg(int fd, struct msghdr *msg, int flags);
RINGO_API ssize_t ringo_sendmsg(int fd, const struct msghdr *msg, int flags);
RINGO_API int ringo_shutdown(int fd, int how);
RINGO_API int ringo_close(int fd);

/* Deadlines (ringo_set_deadline(3)): absolute ringo_now() times; 0 clears,
 * a time in the past fails pending and future calls with -ETIMEDOUT until
 * the deadline is moved. */
RINGO_API int ringo_set_deadline(int fd, int64_t abs_ns);
RINGO_API int ringo_set_read_deadline(int fd, int64_t abs_ns);
RINGO_API int ringo_set_write_deadline(int fd, int64_t abs_ns);

/* Readiness, for foreign libraries that do their own I/O (ringo_poll(3)):
 * POLLIN/POLLOUT/... events; returns the revents, 0 on timeout (timeout_ns
 * < 0 waits forever, 0 only looks). */
RINGO_API int ringo_poll(int fd, int events, int64_t timeout_ns);

/* Files through the ring (ringo_open(3)). ringo_pwrite writes everything
 * or fails. */
RINGO_API int ringo_open(const char *path, int flags, mode_t mode);
RINGO_API ssize_t ringo_pread(int fd, void *buf, size_t n, off_t off);
RINGO_API ssize_t ringo_pwrite(int fd, const void *buf, size_t n, off_t off);
RINGO_API int ringo_fsync(int fd);

/* Signals as channel sends (ringo_signal_notify(3)): each signo that
 * arrives is sent, as an int, to c without blocking (give c a buffer). */
RINGO_API int ringo_signal_notify(ringo_chan *c, int signo);
RINGO_API int ringo_signal_stop(ringo_chan *c);

#ifdef __cplusplus
}
#endif
#endif /* RINGO_H */
