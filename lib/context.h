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
RINGO_HIDDEN void ringo__ctx_trampoline(void);

/* The first function of every goroutine (proc.c). Never returns. */
RINGO_HIDDEN void ringo__g_entry(void *arg);

#if defined(__x86_64__)
/*
 * Prepare a fresh context on [lo, lo+size) that calls ringo__g_entry(arg)
 * when first switched to. The trampoline finds arg in rbp. Nothing is
 * written to the stack: a dead goroutine's stack is reused by whichever P
 * spawns next, and a write here would pull its top line away from the P
 * that will run it.
 */
static inline void ringo__ctx_make(struct ringo__ctx *c, char *lo, size_t size, void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	c->sp = (void *)(top - 16);	/* 16-byte aligned at the trampoline's call */
	c->pc = (void *)ringo__ctx_trampoline;
	c->fp = arg;
	c->mxcsr = 0x1f80;		/* the ABI's defaults */
	c->fpcw = 0x037f;
}

/*
 * Save the running context in *from and resume *to. Only rsp, rbp and the
 * resume address are saved by hand: every other register is declared
 * clobbered, so the compiler keeps nothing live in one across the switch
 * and the caller's own prologue is the only save of callee-saved
 * registers. MXCSR and the x87 control word are saved always and loaded
 * only when they differ (a load costs tens of cycles; they almost never
 * differ). Nothing touches the stack, so the red zone is safe.
 */
static inline __attribute__((always_inline)) void
ringo__ctx_switch(struct ringo__ctx *from, struct ringo__ctx *to)
{
	__asm__ volatile(
		"leaq	.Lringo_resume%=(%%rip), %%rax\n\t"
		"movq	%%rax, 8(%[from])\n\t"
		"movq	%%rsp, 0(%[from])\n\t"
		"movq	%%rbp, 16(%[from])\n\t"
		"stmxcsr 24(%[from])\n\t"
		"fnstcw	28(%[from])\n\t"
		"movl	24(%[from]), %%eax\n\t"
		"cmpl	24(%[to]), %%eax\n\t"
		"jne	.Lringo_fpload%=\n\t"
		"movzwl	28(%[from]), %%eax\n\t"
		"cmpw	28(%[to]), %%ax\n\t"
		"jne	.Lringo_fpload%=\n"
		".Lringo_jump%=:\n\t"
		"movq	0(%[to]), %%rsp\n\t"
		"movq	16(%[to]), %%rbp\n\t"
		"jmpq	*8(%[to])\n"
		".Lringo_fpload%=:\n\t"
		"ldmxcsr 24(%[to])\n\t"
		"fldcw	28(%[to])\n\t"
		"jmp	.Lringo_jump%=\n"
		".Lringo_resume%=:"
		: [from] "+D"(from), [to] "+S"(to)
		:
		: "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11",
		  "r12", "r13", "r14", "r15", "memory", "cc",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
		  "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
}
_Static_assert(__builtin_offsetof(struct ringo__ctx, pc) == 8 &&
	       __builtin_offsetof(struct ringo__ctx, fp) == 16 &&
	       __builtin_offsetof(struct ringo__ctx, mxcsr) == 24 &&
	       __builtin_offsetof(struct ringo__ctx, fpcw) == 28,
	       "ringo__ctx_switch's offsets");
#elif defined(__aarch64__)
RINGO_HIDDEN void ringo__ctx_switch_sp(void **save_sp, void *new_sp);

static inline void ringo__ctx_make(struct ringo__ctx *c, char *lo, size_t size, void *arg)
{
	uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
	uint64_t *sp = (uint64_t *)(top - 176);
	for (int i = 0; i < 22; i++)
		sp[i] = 0;
	sp[0] = (uint64_t)(uintptr_t)ringo__g_entry;	/* x19 */
	sp[1] = (uint64_t)(uintptr_t)arg;		/* x20 */
	sp[11] = (uint64_t)(uintptr_t)ringo__ctx_trampoline; /* x30 */
	c->sp = sp;
}

static inline void ringo__ctx_switch(struct ringo__ctx *from, struct ringo__ctx *to)
{
	ringo__ctx_switch_sp(&from->sp, to->sp);
}
#else
#error "ringo: no context switch for this architecture (x86_64 and aarch64 only)"
#endif

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
	ringo__ctx_switch(&from->ctx, &to->ctx);
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
