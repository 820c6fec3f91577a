/* SPDX-License-Identifier: MIT */
/*
 * context.h - switching between goroutine stacks.
 *
 * ringo__switch() is the only way the runtime moves from one stack to
 * another. In sanitizer builds it announces the switch to ASan (so it knows
 * which stack is current and keeps fake stacks apart) and to TSan (so each
 * goroutine has its own happens-before history).
 */
#ifndef RINGO_CONTEXT_H
#define RINGO_CONTEXT_H

#include "runtime.h"

#ifdef RINGO_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef RINGO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Assembly, context_<arch>.S */
RINGO_HIDDEN void ringo__ctx_switch(void **save_sp, void *new_sp);
RINGO_HIDDEN void ringo__ctx_trampoline(void);

/* Prepare a fresh context on [lo, lo+size) that calls fn(arg) when first
 * switched to. fn must never return. Returns the context's stack pointer. */
static inline void *ringo__ctx_make(char *lo, size_t size, void (*fn)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
	/* After the 6 pops and ret, rsp = top - 16: 16-byte aligned at the
	 * trampoline's call, as the ABI requires. See context_x86_64.S. */
	uint64_t *sp = (uint64_t *)(top - 16 - 64);
	sp[0] = 0x1f80 | ((uint64_t)0x037f << 32);	/* MXCSR default, x87 CW default */
	sp[1] = 0;					/* r15 */
	sp[2] = 0;					/* r14 */
	sp[3] = (uint64_t)(uintptr_t)arg;		/* r13 */
	sp[4] = (uint64_t)(uintptr_t)fn;		/* r12 */
	sp[5] = 0;					/* rbx */
	sp[6] = 0;					/* rbp */
	sp[7] = (uint64_t)(uintptr_t)ringo__ctx_trampoline;
	sp[8] = 0;					/* fake return address for unwinders */
	return sp;
#elif defined(__aarch64__)
	uint64_t *sp = (uint64_t *)(top - 176);
	for (int i = 0; i < 22; i++)
		sp[i] = 0;
	sp[0] = (uint64_t)(uintptr_t)fn;		/* x19 */
	sp[1] = (uint64_t)(uintptr_t)arg;		/* x20 */
	sp[11] = (uint64_t)(uintptr_t)ringo__ctx_trampoline; /* x30 */
	return sp;
#else
#error "ringo: no context switch for this architecture (x86_64 and aarch64 only)"
#endif
}

/* Stack bounds of g for the sanitizer: a goroutine's own stack, or the
 * thread stack for g0. */
static inline void ringo__g_stack_bounds(struct ringo_m *m, struct ringo_g *g,
					  const void **lo, size_t *size)
{
	if (g == &m->g0) {
		*lo = m->g0_stack_lo;
		*size = m->g0_stack_size;
	} else {
		*lo = g->stack.lo;
		*size = g->stack.size;
	}
}

#ifdef RINGO_TSAN
/* Block the asynchronous signals (faults stay deliverable) and run the
 * handlers TSan holds for the current fiber: the pthread_sigmask and
 * clock_gettime interceptors both process pending signals on return. */
static inline void tsan_signals_hold(struct ringo_m *m)
{
	sigset_t async;
	sigfillset(&async);
	sigdelset(&async, SIGSEGV);
	sigdelset(&async, SIGBUS);
	sigdelset(&async, SIGFPE);
	sigdelset(&async, SIGILL);
	sigdelset(&async, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &async, &m->tsan_sigmask);
	(void)ringo__nanotime();
}

/* The incoming side of a switch, on the same thread. */
static inline void tsan_signals_release(void)
{
	pthread_sigmask(SIG_SETMASK, &ringo__getm()->tsan_sigmask, NULL);
}
#endif

/* Switch from the running context `from` to `to`, both on thread m. When
 * `from` is a goroutine that will never run again, pass dying = true so ASan
 * drops its fake stack. Returns when something switches back to `from`
 * (possibly on another thread: re-read ringo__getm() afterwards). */
static inline void ringo__switch(struct ringo_m *m, struct ringo_g *from,
				 struct ringo_g *to, bool dying)
{
#ifdef RINGO_ASAN
	const void *lo;
	size_t size;
	ringo__g_stack_bounds(m, to, &lo, &size);
	__sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake_stack, lo, size);
#endif
#ifdef RINGO_TSAN
	/* A parking goroutine's fiber may make no intercepted call for a
	 * long time: run the handlers of signals that landed on it now,
	 * and let new ones wait in the kernel until the incoming side
	 * unblocks them (see RINGO_TSAN_WAIT_SLICE_NS). */
	tsan_signals_hold(m);
	/* A goroutine's TSan fiber lives only while it runs or is parked
	 * (created here, destroyed by gfput): TSan counts fibers as threads
	 * and dies past 8128 of them, so runnable-but-unstarted and cached
	 * dead Gs must not hold one. */
	if (to != &m->g0 && !to->tsan_fiber)
		to->tsan_fiber = __tsan_create_fiber(0);
	__tsan_switch_to_fiber(to == &m->g0 ? m->tsan_fiber : to->tsan_fiber, 0);
#endif
	(void)m;
	(void)dying;
	ringo__ctx_switch(&from->sp, to->sp);
#ifdef RINGO_ASAN
	__sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
#endif
#ifdef RINGO_TSAN
	tsan_signals_release();
#endif
}

/* First thing a brand-new goroutine does (ASan wants a finish call on the
 * new stack too). */
static inline void ringo__switch_started(void)
{
#ifdef RINGO_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
#ifdef RINGO_TSAN
	tsan_signals_release();
#endif
}

#endif /* RINGO_CONTEXT_H */
