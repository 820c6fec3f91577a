/* SPDX-License-Identifier: MIT */
/*
 * runtime.h - the runtime's core types (G, M, P, sched) and the internal
 * interface between lib/ files and netpoll/.
 *
 * Who owns what (as Go's runtime2.go):
 *  - A G's saved context and stack belong to whoever set its status: a
 *    RUNNABLE G is owned by the run queue that holds it, a RUNNING G by its M,
 *    a WAITING G by the wait queue it parked on (channel, semaphore, timer,
 *    netpoll record) until ringo__ready() hands it back.
 *  - A P is owned by exactly one M while RUNNING or SYSCALL; an IDLE P sits on
 *    sched.pidle, possibly with its M asleep on it (p->m != NULL: wakep wakes
 *    that M rather than starting another).
 *  - Fields marked [sched.lock] are protected by sched.lock; [owner] only by
 *    the M that owns the P / runs the G; [atomic] are accessed atomically.
 *
 * Lock order: sched.lock before allg_lock; channel locks (address order)
 * before sema bucket locks; no runtime lock is ever held across a switch.
 */
#ifndef RINGO_RUNTIME_H
#define RINGO_RUNTIME_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>

#include "ringo.h"
#include "config.h"

#define RINGO_HIDDEN __attribute__((visibility("hidden")))

/* The body of a public function that can switch goroutines. On x86_64
 * the public symbol is a stub in context_x86_64.S that calls this body
 * and returns to its caller by an indirect jump instead of a ret (why:
 * there); elsewhere the body is the public function. */
#if defined(__x86_64__)
#define RINGO_SWITCHING(name) RINGO_HIDDEN ringo__body_##name
#else
#define RINGO_SWITCHING(name) name
#endif

/* A function whose loads ThreadSanitizer does not see: the racy peeks at
 * other threads' scheduler state that sysmon, the netpoller and preemption
 * make on purpose (a stale value costs a wasted action). Out of line, and
 * for GCC noipa: IPA-SRA would move the load into the instrumented
 * caller. */
#if defined(__clang__)
#define RINGO_UNINSTRUMENTED __attribute__((noinline, no_sanitize("thread")))
#else
#define RINGO_UNINSTRUMENTED __attribute__((noipa, no_sanitize("thread")))
#endif
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ */
/* Assertions and fatal errors (debug.c)                               */

/* `ringo: fatal error: ...` and the goroutine dump, then abort. */
RINGO_HIDDEN void ringo__fatal(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

#ifdef RINGO_DEBUG_BUILD
#define RINGO_ASSERT(c)                                                        \
	do {                                                                   \
		if (unlikely(!(c)))                                            \
			ringo__fatal("assertion failed: %s (%s:%d)", #c,       \
				     __FILE__, __LINE__);                      \
	} while (0)
#else
#define RINGO_ASSERT(c) ((void)0)
#endif

/* ------------------------------------------------------------------ */
/* Allocation: the runtime's own memory comes from jemalloc (mallocx).  */

RINGO_HIDDEN void *ringo__alloc(size_t size);	/* zeroed; NULL on ENOMEM */
RINGO_HIDDEN void ringo__free(void *p, size_t size);
/* The same, aligned to RINGO_CACHELINE (for structures laid out in lines). */
RINGO_HIDDEN void *ringo__alloc_lines(size_t size);
RINGO_HIDDEN void ringo__free_lines(void *p, size_t size);

/* ------------------------------------------------------------------ */
/* Runtime-internal locks (lock.c): futex mutexes that block the M.     */
/* Held only for short critical sections, never across a switch. While  */
/* one is held m->locks > 0, so async preemption leaves the M alone.    */

typedef struct {
	_Atomic uint32_t key;	/* 0 unlocked, 1 locked, 2 locked with waiters */
} ringo__lock_t;

RINGO_HIDDEN void ringo__lock(ringo__lock_t *l);
/* Take l if it is free; never waits. */
RINGO_HIDDEN bool ringo__trylock(ringo__lock_t *l);
RINGO_HIDDEN void ringo__unlock(ringo__lock_t *l);

/* A note is a one-shot wake-up (Go's note): one sleeper, one waker. */
typedef struct {
	_Atomic uint32_t key;	/* 0 clear, 1 woken */
} ringo__note_t;

RINGO_HIDDEN void ringo__note_clear(ringo__note_t *n);
RINGO_HIDDEN void ringo__note_wakeup(ringo__note_t *n);
RINGO_HIDDEN void ringo__note_sleep(ringo__note_t *n);
/* Sleep until woken or until abs_ns (CLOCK_MONOTONIC; <0 = forever).
 * Returns true if woken. */
RINGO_HIDDEN bool ringo__note_sleep_until(ringo__note_t *n, int64_t abs_ns);

RINGO_HIDDEN int64_t ringo__nanotime(void);

#ifdef RINGO_TSAN
/* ThreadSanitizer runs a signal's handler late: at the next intercepted
 * call made by the fiber the signal landed on (at once only if that fiber
 * is inside an intercepted blocking call such as epoll_wait). A goroutine
 * waiting in ringo_signal_notify must still hear of its signal, so:
 * a switch keeps signals blocked from before the outgoing fiber's last
 * intercepted call until the incoming side runs (context.h), and a futex
 * or io_uring_enter wait, which is a raw system call, lasts at most this
 * long and is followed by an intercepted call (ringo__nanotime). */
#define RINGO_TSAN_WAIT_SLICE_NS 10000000
#endif

/* ------------------------------------------------------------------ */
/* Stacks (stack.c)                                                      */

enum ringo__guard {
	RINGO_GUARD_NONE = 0,
	RINGO_GUARD_MADVISE,	/* MADV_GUARD_INSTALL (Linux 6.13+) */
	RINGO_GUARD_MPROTECT,	/* PROT_NONE page: costs a mapping split */
	RINGO_GUARD_CANARY,	/* canary word checked at every switch-out */
};

struct ringo__stack {
	char *lo;		/* lowest usable byte (just above the guard) */
	size_t size;		/* usable bytes; hi = lo + size */
	uint8_t guard;		/* enum ringo__guard */
	uint8_t slab;		/* carved out of a shared slab (not munmap'able alone) */
	unsigned valgrind_id;	/* VALGRIND_STACK_REGISTER id (valgrind builds) */
};

#define RINGO_STACK_CANARY 0x52494e474f21ca11ULL /* "RINGO!" */

RINGO_HIDDEN extern size_t ringo__default_stack_size;
/* 0 or -ENOMEM. size is rounded up to pages. */
RINGO_HIDDEN int ringo__stack_alloc(size_t size, struct ringo__stack *st);
RINGO_HIDDEN void ringo__stack_free(struct ringo__stack *st);
/* Return the touched pages of a cached stack, above a warm area, to the
 * kernel (a system call: not for hot paths). */
RINGO_HIDDEN void ringo__stack_trim(struct ringo__stack *st);
/* Per-thread: alternate signal stack so the SIGSEGV handler can run on a
 * goroutine whose stack overflowed. Called by every M at start. */
RINGO_HIDDEN int ringo__stack_thread_init(void);
RINGO_HIDDEN void ringo__stack_thread_fini(void);
RINGO_HIDDEN void ringo__stack_init(void);	/* once per process */
RINGO_HIDDEN void ringo__stack_release_all(void); /* at ringo_run exit */
RINGO_HIDDEN const char *ringo__stack_guard_name(void);
/* Print `ringo: goroutine N stack overflow ...` for g and abort (the
 * scheduler calls it when ringo__stack_canary_ok fails at switch-out). */
struct ringo_g;
RINGO_HIDDEN void ringo__stack_overflow_fatal(struct ringo_g *g)
	__attribute__((noreturn));

/* Crash reports (crash.c). Handlers for SIGBUS, SIGFPE and SIGILL where
 * they were at their default, once per process. */
RINGO_HIDDEN void ringo__crash_init(void);
/* The first crashing thread gets true and reports; any other waits for
 * it to end the process (false after five seconds). */
RINGO_HIDDEN bool ringo__crash_begin(void);
/* The goroutine dump that ends every crash report. */
RINGO_HIDDEN void ringo__crash_dump(void);
/* A fault that is not a stack overflow: hand it to the handler that was
 * there before ours (old); with none, report it if this thread is an M
 * and let the default action end the process. */
RINGO_HIDDEN void ringo__crash_forward(int sig, siginfo_t *si, void *uctx,
				       const struct sigaction *old);

static inline bool ringo__stack_canary_ok(const struct ringo__stack *st)
{
	return st->guard != RINGO_GUARD_CANARY ||
	       *(const uint64_t *)(const void *)st->lo == RINGO_STACK_CANARY;
}

/* ------------------------------------------------------------------ */
/* G: a goroutine                                                        */

enum ringo__gstatus {
	G_IDLE = 0,	/* just allocated, not yet initialised */
	G_RUNNABLE,	/* on a run queue; not executing; stack owned by the queue */
	G_RUNNING,	/* executing on an M that owns a P */
	G_SYSCALL,	/* executing a blocking call; has an M, maybe no P */
	G_WAITING,	/* parked; owned by whatever will ready it */
	G_DEAD,		/* finished; on a free list or unused */
};

struct ringo_m;
struct ringo_p;
struct ringo__sudog;

/* A switched-out context (context.h). On x86_64 the switch is inline
 * assembly that declares every other register clobbered, so the compiler
 * saves only what is live, once; the frame pointer, the resume address and
 * the FP control words are kept here. */
struct ringo__ctx {
	void *sp;			/* stack pointer */
#if defined(__x86_64__)
	void *pc;			/* where it resumes */
	void *fp;			/* rbp (cannot be an asm clobber) */
	uint32_t mxcsr;			/* SSE control and status */
	uint16_t fpcw;			/* x87 control word */
#endif
};

struct ringo_g {
	struct ringo__ctx ctx;		/* saved context while switched out [owner] */
	struct ringo__stack stack;	/* [owner] */
	struct ringo_m *m;		/* M running it, or NULL [owner] */
	struct ringo_g *schedlink;	/* run/free queue link [queue owner] */
	struct ringo_g *batchlink;	/* first G of a batch: the next batch [queue owner] */
	_Atomic uint32_t status;	/* enum ringo__gstatus [atomic] */
	_Atomic bool preempt;		/* please yield at the next safe point [atomic] */
	int saved_errno;		/* errno while switched out [owner] */
	int32_t batchlen;		/* first G of a batch: its length [queue owner] */
	char *name;			/* ringo_go_with name (jemalloc copy) or NULL */
	void (*fn)(void *);		/* entry function and argument */
	void *arg;
	struct ringo_m *lockedm;	/* ringo_lock_thread: the only M to run it */
	/* The fields above are all that a goroutine which runs and exits
	 * without blocking touches; the ones below are written by its
	 * spawner alone and stay in the spawner's cache when another P
	 * runs it (spawn_p2_ns). On x86_64 the split falls exactly at the
	 * G's third cache line (it is allocated line-aligned; checked
	 * below); aarch64's smaller ctx puts it 24 bytes earlier. */
	uint64_t id;			/* unique; 0 for g0 */
	const char *wait_reason;	/* why it is G_WAITING (static string) */
	void *create_pc;		/* return address of the ringo_go call */
	uint64_t parent_id;		/* goroutine that created it */
	int64_t wait_since;		/* when it parked (sched.coarse_now) */

	/* Parking hand-off: set by ringo__park, run on g0 after the switch. */
	bool (*park_unlockf)(struct ringo_g *, void *);
	void *park_arg;

	/* Channel/semaphore wait state, owned by the wait queue while parked. */
	struct ringo__sudog *waiting;	/* sudogs this G waits on (select: several) */
	void *param;			/* value passed by the waker (e.g. the sudog that fired) */
	_Atomic uint32_t select_done;	/* select: one case has won [atomic] */
	int64_t timer_when;		/* scratch for sleeps */
	void *netpoll_wait;		/* the netpoll wait record the G is parked on */

	struct ringo_g *alllink;	/* all Gs list [sched.allg_lock] */
	struct ringo_g *allprev;

	/* Sanitizer fiber state (only used in sanitizer builds). */
	void *asan_fake_stack;
	void *tsan_fiber;
};

/* ------------------------------------------------------------------ */
/* P: a processor, the right to run Go code                              */

enum ringo__pstatus {
	P_IDLE = 0,	/* on sched.pidle, no G running */
	P_RUNNING,	/* owned by an M running Gs or the scheduler */
	P_SYSCALL,	/* its M is in a blocking call; sysmon may retake it */
	P_STOPPED,	/* stopped for stop-the-world, or beyond maxprocs */
	P_DEAD,
};

#define RINGO_RUNQ_SIZE 256	/* must be a power of two */
#define RINGO_GFREE_LOCAL_MAX 64

struct ringo__timers;		/* timer.c */
struct ringo__netpoll;		/* netpoll/ */

/* Shared structures keep fields written by different threads on
 * different lines of this size (struct ringo_p, struct ringo__sched). */
#define RINGO_CACHELINE 64
#if defined(__x86_64__)
_Static_assert(__builtin_offsetof(struct ringo_g, id) == 2 * RINGO_CACHELINE,
	       "struct ringo_g: a short-lived goroutine's fields fill its first two lines");
#endif

struct ringo_p {
	int32_t id;
	_Atomic uint32_t status;	/* enum ringo__pstatus [atomic; sched.lock for idle list] */
	struct ringo_m *m;		/* owning M, or the M asleep on an idle P */
	struct ringo_p *link;		/* sched.pidle link [sched.lock] */
	_Atomic uint32_t syscalltick;	/* bumped on every syscall [owner; sysmon reads] */
	struct ringo__timers *timers;	/* timer heap (timer.c) */
	struct ringo__netpoll *netpoll;	/* this P's ring (netpoll/) */
	_Atomic int64_t timer0_when;	/* earliest timer deadline, 0 = none [timers lock; read racily] */

	/* Written by the owner at every switch or spawn, on a line of their
	 * own: a thief reading or stealing from the run queue below takes
	 * the queue's lines, and owner-only fields that shared them (gfree
	 * beside runnext) made each spawn at 2 Ps wait for them to come
	 * back. The struct is allocated line-aligned (ringo__alloc_lines). */
	/* Every switch to a G bumps one of these: schedtick when a new time
	 * slice starts, handofftick when the G inherits the slice (runnext). */
	_Alignas(RINGO_CACHELINE) _Atomic uint32_t schedtick; /* [owner; sysmon reads] */
	_Atomic uint32_t handofftick;	/* [owner; sysmon reads] */
	int32_t gfree_count;
	struct ringo_g *gfree;		/* dead Gs with default-size stacks [owner] */
	_Atomic int64_t ngoroutines;	/* goroutines created minus died here [owner; summed racily] */
	uint64_t goidcache, goidcacheend; /* batch of goroutine ids [owner] */

	/* Local run queue: a lock-free ring. Only the owner writes tail
	 * (store-release pairs with the thief's load-acquire); owner and
	 * thieves CAS head (acq_rel). runnext is the G to run next; beside
	 * head instead of after the ring, chan_buffered_p2 measured ~5%
	 * slower. */
	_Alignas(RINGO_CACHELINE) _Atomic uint32_t runqhead;
	_Atomic uint32_t runqtail;
	struct ringo_g *_Atomic runq[RINGO_RUNQ_SIZE];
	struct ringo_g *_Atomic runnext;
};

/* ------------------------------------------------------------------ */
/* M: an OS thread                                                       */

struct ringo_m {
	int64_t id;
	pid_t tid;
	pthread_t thread;
	struct ringo_g g0;		/* scheduler context on the thread's own stack */
	struct ringo_g *curg;		/* G running on it, or NULL */
	struct ringo_p *p;		/* P held, or NULL */
	struct ringo_p *nextp;		/* P handed over when woken [sched.lock] */
	struct ringo_p *oldp;		/* P held before a syscall */
	int32_t locks;			/* runtime critical sections; > 0 forbids preemption */
	bool spinning;			/* looking for work without having found any */
	bool blocked;			/* parked on park note */
	bool is_m0;			/* the thread that called ringo_run */
	bool exited;			/* left the scheduler for good [sched.lock] */
	struct ringo_g *prev;		/* G that just switched out, for finish_switch */
	int prev_action;		/* what finish_switch does with it (sched.c) */
	struct ringo_g *lockedg;	/* ringo_lock_thread: the G wired to this M */
	uint32_t locked_count;		/* ringo_lock_thread nesting depth */
	ringo__note_t park;		/* sleeps here when idle */
	ringo__note_t np_note;		/* netpoll (epoll): sleeps here idle on a P */
	struct ringo_m *schedlink;	/* sched.midle link [sched.lock] */
	struct ringo_m *alllink;	/* all Ms [sched.lock] */
	_Atomic uint32_t signal_pending;/* async preemption: a SIGURG is in flight */
	uint64_t fastrand;
	void *tsan_fiber;		/* TSan fiber of g0 */
#ifdef RINGO_TSAN
	sigset_t tsan_sigmask;		/* mask to restore after a switch (context.h) */
#endif
	int *errno_loc;			/* this thread's errno (&errno on it) */
	const void *g0_stack_lo;	/* g0's stack, for ASan switches */
	size_t g0_stack_size;
};

/* ------------------------------------------------------------------ */
/* sched: the global state                                               */

/* Fields are grouped by who writes them, each group on its own cache line:
 * every switch reads the flags of the first group, and a write to anything
 * sharing their line (a lock, a counter bumped per I/O) would make that
 * read miss on every other P. */
struct ringo__sched {
	/* Read on every switch: flags written rarely, and runqsize, written
	 * whenever the global queue changes (which is when a switch must
	 * see it; on the lock's line every lock taken would evict it). */
	_Atomic bool gcwaiting;		/* stop the world [lock] */
	_Atomic bool exiting;		/* ringo_run is ending [lock] */
	_Atomic int32_t nprocs;		/* allp[0..nprocs) [lock; stable between stop-the-worlds] */
	_Atomic int32_t runqsize;	/* global run queue length: written under lock, read racily */
	struct ringo_p **allp;
	uint64_t run_generation;	/* bumped by every ringo_run */

	/* Global run queue, idle Ps and Ms [lock]. */
	_Alignas(RINGO_CACHELINE) ringo__lock_t lock;
	struct ringo_g *runqhead;	/* global run queue, in batches (runq.c) */
	struct ringo_g *runqlastbatch;	/* first G of the last batch */
	struct ringo_g *runqtail;	/* last G */
	struct ringo_p *pidle;
	struct ringo_m *midle;
	int32_t nmidle;
	int32_t nmidlelocked;		/* idle Ms that are locked to a G */
	int32_t nmidlep;		/* Ms asleep on an idle P (in its netpoll wait) */
	int32_t mcount;			/* Ms created (threads) [lock] */
	int32_t nmsys;			/* Ms that never run Gs (sysmon) [lock] */
	struct ringo_m *allm;		/* [lock] */
	int64_t mnext;			/* next M id [lock] */
	int32_t stopwait;		/* stop the world [lock] */
	ringo__note_t stopnote;
	int exit_code;			/* [lock] */
	struct ringo_m *m0;
	int64_t start_time;

	/* Read by wakep on every ready [atomic]. */
	_Alignas(RINGO_CACHELINE) _Atomic int32_t npidle;
	_Atomic int32_t nmspinning;

	/* Goroutine ids and the all-Gs list. */
	_Alignas(RINGO_CACHELINE) _Atomic uint64_t goidgen;
	_Atomic int32_t ngoroutines;	/* live user goroutines not counted by a P */
	ringo__lock_t allg_lock;
	struct ringo_g *allg;		/* [allg_lock] */

	/* Dead Gs with default stacks [gfree_lock]: warm ones (their stack
	 * pages still mapped in), and cold ones sysmon has trimmed. Both
	 * are stacks of batches (proc.c). */
	_Alignas(RINGO_CACHELINE) ringo__lock_t gfree_lock;
	struct ringo_g *gfree;
	int32_t gfree_count;
	struct ringo_g *gfree_cold;
	int32_t gfree_cold_count;
	int32_t gfree_low;		/* gfree_count's low-water mark this trim window */

	/* Things other than Gs that can make a G runnable again: in-flight
	 * I/O and Gs in system calls (pending timers are counted per P,
	 * ringo__timers_pending). The deadlock check reads them. [atomic] */
	_Alignas(RINGO_CACHELINE) _Atomic int64_t nio_waiting;
	_Atomic int32_t nsyscall;	/* Gs in ringo_syscall_enter */

	/* sysmon's latest reading of ringo__nanotime(), at most its longest
	 * sleep (10 ms) old: for stamps that need no precision (how long a
	 * goroutine has waited, in dumps), without a clock read on hot paths. */
	_Alignas(RINGO_CACHELINE) _Atomic int64_t coarse_now;
};

RINGO_HIDDEN extern struct ringo__sched ringo__sched;

/* Debug settings from RINGO_DEBUG (debug.c). */
struct ringo__debug {
	int64_t schedtrace_ms;	/* schedtrace=MS */
	bool scheddetail;	/* scheddetail=1 */
	bool asyncpreemptoff;	/* asyncpreemptoff=1 */
	int64_t chanbias;	/* chanbias=N: streak that biases a channel; -1 default */
	bool verbose;		/* RINGO_DEBUG set at all: say which back-ends run */
};
RINGO_HIDDEN extern struct ringo__debug ringo__debug;
RINGO_HIDDEN void ringo__debug_parse(void);

/* ------------------------------------------------------------------ */
/* The current M. Goroutines migrate between threads, so the address of */
/* a thread-local must never be cached across a switch: the initial-exec */
/* model makes every access a fresh %fs-relative load on x86_64. On     */
/* aarch64 GCC reads the thread pointer (tpidr_el0) once per function   */
/* and keeps it in a callee-saved register across calls, switches       */
/* included: ringo__getm reads it itself, each time.                    */

RINGO_HIDDEN extern __thread struct ringo_m *ringo__tls_m
	__attribute__((tls_model("initial-exec")));

#ifdef RINGO_TSAN
/* ThreadSanitizer instruments each access with its address, and GCC keeps
 * the thread pointer (%fs:0) it forms that address from across calls,
 * switches included: a goroutine that moved to another thread reported
 * reads of its old thread's ringo__tls_m (the load itself stays fresh),
 * racing with that thread's exit. Read out of line, uninstrumented. */
RINGO_HIDDEN struct ringo_m *ringo__getm_uninstrumented(void);
static inline struct ringo_m *ringo__getm(void)
{
	return ringo__getm_uninstrumented();
}
#elif defined(__aarch64__)
static inline struct ringo_m *ringo__getm(void)
{
	char *tp;
	__asm__ volatile("mrs	%0, tpidr_el0" : "=r"(tp));
	/* The variable's offset from the thread pointer is the same on
	 * every thread: the compiler folds it to the GOT's constant. */
	return *(struct ringo_m **)(tp + ((char *)&ringo__tls_m -
					  (char *)__builtin_thread_pointer()));
}
#else
static inline struct ringo_m *ringo__getm(void)
{
	return ringo__tls_m;
}
#endif

/* errno across a switch. glibc declares __errno_location() const, so the
 * compiler may keep errno's address in a register across a call that
 * switches goroutines - and threads. After a switch, errno's address must
 * be fetched afresh: from the M (a fresh %fs-relative load), which keeps
 * its thread's errno address (m->errno_loc). (User code has the same
 * hazard; see ringo(7).) */
static inline void ringo__errno_restore(int e)
{
	*ringo__getm()->errno_loc = e;
}

/* The running goroutine, or NULL when called outside one. */
static inline struct ringo_g *ringo__getg(void)
{
	struct ringo_m *m = ringo__getm();
	return m ? m->curg : NULL;
}

/* Runtime critical sections: no preemption while m->locks > 0. */
static inline void ringo__cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

static inline struct ringo_m *ringo__acquirem(void)
{
	struct ringo_m *m = ringo__getm();
	m->locks++;
	return m;
}
static inline void ringo__releasem(struct ringo_m *m)
{
	m->locks--;
}

/* ------------------------------------------------------------------ */
/* Scheduler interface (sched.c, proc.c, runq.c)                         */

/* Park the running G: switch to g0, then call unlockf(g, arg) there. If it
 * returns true the G stays G_WAITING until ringo__ready(g); if false the G
 * runs again at once. unlockf may be NULL (always park). reason is shown in
 * dumps. Must not be called with a runtime lock held unless unlockf
 * releases it. */
RINGO_HIDDEN void ringo__park(bool (*unlockf)(struct ringo_g *, void *),
			      void *arg, const char *reason);
/* Make a G_WAITING G runnable: into the current P's runnext (or the
 * global queue when the caller holds no P), then wake an idle P if work
 * is waiting and nobody spins. Callable from any thread. */
RINGO_HIDDEN void ringo__ready(struct ringo_g *gp);
/* Ready a list of Gs linked by schedlink (netpoll completions). */
RINGO_HIDDEN void ringo__ready_list(struct ringo_g *head, int n);
/* Yield the P at a safe point when the preempt flag is set. */
RINGO_HIDDEN void ringo__preempt_check(void);
RINGO_HIDDEN void ringo__wakep(void);
RINGO_HIDDEN void ringo__gosched(void);

/* run queues (runq.c; the owner's hot operations are inline in runq.h,
 * included at the end of this header) */
RINGO_HIDDEN struct ringo_g *ringo__runqsteal(struct ringo_p *p, struct ringo_p *victim,
					       bool steal_next);
/* global queue; the puts and take are called with sched.lock held */
RINGO_HIDDEN void ringo__globrunqput(struct ringo_g *gp);
RINGO_HIDDEN void ringo__globrunqputhead(struct ringo_g *gp);
RINGO_HIDDEN void ringo__globrunqputbatch(struct ringo_g *head, struct ringo_g *tail, int32_t n);
RINGO_HIDDEN struct ringo_g *ringo__globrunqtake(int32_t max);
/* ... and these two without it */
RINGO_HIDDEN struct ringo_g *ringo__globrunqload(struct ringo_p *p, struct ringo_g *batches);
RINGO_HIDDEN struct ringo_g *ringo__globrunqget(struct ringo_p *p, int32_t max);

/* xorshift64*, per M: cheap, good enough for steal order and select's
 * shuffle. */
static inline uint32_t ringo__fastrand(void)
{
	struct ringo_m *m = ringo__getm();
	uint64_t x = m->fastrand;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->fastrand = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ------------------------------------------------------------------ */
/* Timers (timer.c)                                                      */

/* A runtime timer, embedded in whatever needs one (sleeping G, ringo_timer,
 * a netpoll deadline, a context). It lives on the heap of one P at a time.
 * f(arg, seq) runs on the M that runs the P's timers (g0, or sysmon with no
 * P): it must not block or park; it may call ringo__ready() and the
 * non-blocking channel operations. */
struct ringo__timer {
	int64_t when;			/* deadline, CLOCK_MONOTONIC ns [heap lock] */
	int64_t period;			/* > 0: re-arm every period ns [heap lock] */
	void (*f)(void *arg, uint64_t seq);
	void *arg;
	uint64_t seq;			/* passed to f: lets owners drop stale firings */
	struct ringo_p *_Atomic p;	/* P whose timers hold it, NULL if not pending */
	int32_t idx;			/* index in that P's heap, or -1 when in its
					 * deadline-ordered queue [heap lock] */
	uint32_t qseq;			/* its place in that queue [heap lock] */
};

/* Arm t to fire at `when` (abs ns) on the current P's heap (or P0's when
 * called without a P). t must not be pending. */
RINGO_HIDDEN void ringo__timer_start(struct ringo__timer *t, int64_t when);
/* Disarm t. true if it was pending (and so will not fire). After it
 * returns, f is not running for this arming unless it already started. */
RINGO_HIDDEN bool ringo__timer_stop(struct ringo__timer *t);
/* Stop (if pending) and start again at `when`. true if it was pending. */
RINGO_HIDDEN bool ringo__timer_modify(struct ringo__timer *t, int64_t when);
/* Wait until no callback of t is running (one may have started before a
 * stop that returned false). Call after stopping t and before freeing it;
 * never from t's own callback. */
RINGO_HIDDEN void ringo__timer_sync(struct ringo__timer *t);

/* The scheduler's view: */

RINGO_HIDDEN int ringo__timers_init(struct ringo_p *p);
RINGO_HIDDEN void ringo__timers_destroy(struct ringo_p *p);
/* Run p's due timers. Returns the earliest pending deadline, or -1. */
RINGO_HIDDEN int64_t ringo__timers_check(struct ringo_p *p, int64_t now);
/* Is any timer pending on any P (or firing)? The deadlock check. */
RINGO_HIDDEN bool ringo__timers_pending(void);
/* Earliest pending deadline of p without running anything, or -1. */
RINGO_HIDDEN int64_t ringo__timers_next(struct ringo_p *p);
/* Move timers of a P being destroyed to another (procresize). */
RINGO_HIDDEN void ringo__timers_move(struct ringo_p *from, struct ringo_p *to);
/* Runtime exit (timers_destroy): release a still-pending timer that the
 * runtime owns itself (a ringo_after timer); others are left alone. */
RINGO_HIDDEN void ringo__time_abandon(struct ringo__timer *t);

/* ------------------------------------------------------------------ */
/* Netpoll (netpoll/): the narrow interface of DESIGN.md §7.            */
/* Until netpoll/ exists these are implemented in lib/idle.c on futexes. */

RINGO_HIDDEN int ringo__netpoll_init(struct ringo_p *p);
RINGO_HIDDEN void ringo__netpoll_destroy(struct ringo_p *p);
/* Submit queued operations and reap completions, readying their Gs.
 * If block, also wait until a completion, ringo__netpoll_wake(p) or
 * deadline (abs ns; -1 forever). Called by the M that owns p. Returns the
 * number of Gs made runnable. */
RINGO_HIDDEN int ringo__netpoll_poll(struct ringo_p *p, bool block, int64_t deadline);
/* Make a P blocked in ringo__netpoll_poll return. Any thread. */
RINGO_HIDDEN void ringo__netpoll_wake(struct ringo_p *p);
/* p's owner, back from a wait and about to look for work again: consume
 * the wake-up that may have ended it (a later one ends the next wait). */
RINGO_HIDDEN void ringo__netpoll_clear_wake(struct ringo_p *p);
/* The scheduler's answer to a back-end about to block (lib/sched.c): is p
 * still m's idle P? Asked after the sleeper has published itself, so that
 * a P taken since findrunnable's own look is never slept on. */
RINGO_HIDDEN bool ringo__p_idle_owner(struct ringo_p *p, struct ringo_m *m);
/* Runtime shutdown: cancel and reap everything in flight on p. */
RINGO_HIDDEN void ringo__netpoll_shutdown(struct ringo_p *p);
/* Has p operations in flight (or queued)? Then p must not sit idle without
 * an M in its netpoll wait: handoffp and start_the_world start one. */
RINGO_HIDDEN bool ringo__netpoll_pending(struct ringo_p *p);
/* procresize, world stopped: from goes away; its operations in flight move
 * to to's ring (cancelled and queued again; the goroutines stay parked). */
RINGO_HIDDEN void ringo__netpoll_move(struct ringo_p *from, struct ringo_p *to);
/* sysmon, every round, for every P (no P held): help a P that is busy
 * running one goroutine - reap completions it leaves in its ring onto the
 * global queue, kick the thread that holds its completions back. Cheap when
 * there is nothing to do. Returns how much it did (0: nothing). */
RINGO_HIDDEN int ringo__netpoll_poll_busy(struct ringo_p *p);

/* ------------------------------------------------------------------ */
/* Preemption and sysmon (preempt.c, sysmon.c)                           */

RINGO_HIDDEN void ringo__sysmon_start(void);
RINGO_HIDDEN void ringo__sysmon_stop(void);
/* Wake sysmon if it sleeps long (ringo_syscall_enter, when work waits). */
RINGO_HIDDEN void ringo__sysmon_kick(void);
RINGO_HIDDEN void ringo__chan_bias_init(void);	/* chanlock.c: membarrier, streak */
RINGO_HIDDEN void ringo__preempt_init(void);	/* install SIGURG handler */
/* Ask m's thread, by SIGURG, to preempt its goroutine if that goroutine's
 * preempt flag is set and it is at a safe point. No-op when async
 * preemption is off; never signals a goroutine in a system call or a
 * thread asleep in the kernel. Any thread (sysmon, stop-the-world, exit). */
RINGO_HIDDEN void ringo__preempt_m(struct ringo_m *m);	/* send SIGURG */
/* The same signal only to make m's thread enter the kernel (netpoll: run
 * its io_uring task_work), also when async preemption is off. */
RINGO_HIDDEN void ringo__kick_m(struct ringo_m *m);
RINGO_HIDDEN void ringo__preempt_signal_wait(struct ringo_m *m);	/* m is ours */
/* Is asynchronous preemption on for this run (x86_64, not TSan, not
 * RINGO_DEBUG=asyncpreemptoff=1)? */
RINGO_HIDDEN bool ringo__preempt_async_on(void);

/* ------------------------------------------------------------------ */
/* Debug output (debug.c)                                                */

/* Every goroutine; best_effort in crashes and signal handlers (never
 * waits long for allg_lock, which this thread may hold). */
RINGO_HIDDEN void ringo__dump_all(int fd, bool best_effort);
/* The backtrace of gp, running on this thread, from a signal context's
 * pc and frame pointer (crash reports). */
RINGO_HIDDEN void ringo__backtrace_running(int fd, const struct ringo_g *gp, void *pc, void *fp);
RINGO_HIDDEN void ringo__schedtrace(bool detail);
RINGO_HIDDEN const char *ringo__gstatus_name(uint32_t st);

/* sysmon: how many warm dead Gs beyond the warm reserve stayed unused
 * since the last call (and start a new window); trim up to max of them
 * (proc.c). Returns how many. */
RINGO_HIDDEN int32_t ringo__gfree_idle(void);
RINGO_HIDDEN int ringo__gfree_trim(int max);

/* allg list (proc.c) */
RINGO_HIDDEN void ringo__allg_add(struct ringo_g *gp);
RINGO_HIDDEN void ringo__allg_remove(struct ringo_g *gp);

#include "runq.h"

#endif /* RINGO_RUNTIME_H */
