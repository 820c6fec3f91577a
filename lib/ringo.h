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
 * of cap elements (0 = unbuffered). Returns one reference, or NULL with
 * errno-free failure (out of memory or absurd sizes). */
RINGO_API ringo_chan *ringo_chan_make(size_t elem_size, size_t cap);
RINGO_API ringo_chan *ringo_chan_ref(ringo_chan *c);
RINGO_API void ringo_chan_unref(ringo_chan *c);
/* 0, or -EPIPE if the channel is (or gets) closed. NULL c blocks forever. */
RINGO_API int ringo_chan_send(ringo_chan *c, const void *elem);
/* 1 with a value, 0 if closed and drained (elem zeroed). elem may be NULL. */
RINGO_API int ringo_chan_recv(ringo_chan *c, void *elem);
RINGO_API int ringo_chan_try_send(ringo_chan *c, const void *elem); /* -EAGAIN */
RINGO_API int ringo_chan_try_recv(ringo_chan *c, void *elem);       /* -EAGAIN */
RINGO_API int ringo_chan_close(ringo_chan *c);	/* 0, -EPIPE if already closed */
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

/* Wait until one case can proceed and perform it; returns its index. */
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

/* @@SYNC-API@@ sync primitives and contexts are declared here */

/* ------------------------------------------------------------------ */
/* Network and file I/O through the netpoller (ringo_listen(3) ...)    */

/* @@NET-API@@ the I/O API is declared here */

#ifdef __cplusplus
}
#endif
#endif /* RINGO_H */
