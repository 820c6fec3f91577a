/* SPDX-License-Identifier: MIT */
/*
 * stack.c - goroutine stacks: allocation from slabs, guard pages, trimming,
 * and the SIGSEGV handler that turns a guard-page fault into a message.
 *
 * Why slabs and MADV_GUARD_INSTALL. Linux allows vm.max_map_count (65530 by
 * default) mappings per process. A stack of its own mmap with an mprotect
 * guard costs two of them (the guard splits the VMA), so per-stack mappings
 * hit the wall near 32k goroutines; libdill, dsock and srs users all ran
 * into it. So stacks of the default size are carved out of large slabs (one
 * mmap holds SLAB_SLOTS stacks) and each gets its guard from
 * madvise(MADV_GUARD_INSTALL) (Linux 6.13+), which installs PTE markers and
 * does not split the VMA: a million guarded stacks cost a few thousand
 * mappings. On older kernels mprotect(PROT_NONE) guards are used while a
 * mapping budget lasts, then a canary word at the stack's lowest address
 * that the scheduler checks at every switch-out. A spawn that memory could
 * satisfy never fails for want of mappings.
 *
 * A slab, and a stack of any other size (its own mapping, same layout with
 * one slot):
 *
 *   base                                                        base+len
 *   | guard | stack 0        | guard | stack 1        | ... | guard | stack N-1 |
 *            ^lo         hi^   (stacks grow down, towards their guard)
 *
 *   slot i = [base + i*slot_size, base + (i+1)*slot_size), guard at its bottom.
 *
 * A stack of another size costs one mapping (two with an mprotect guard)
 * and is unmapped when freed; spawning a million of those is not the
 * common case this file is built for.
 *
 * Invariants:
 *  - Every mapping is PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|
 *    MAP_NORESERVE: memory is committed only as pages are touched.
 *  - A slot's guard is installed when the slot is first carved and stays
 *    for the slot's life (MADV_DONTNEED leaves guard markers alone); slots
 *    are never returned to the kernel individually, only whole slabs, by
 *    ringo__stack_release_all() when no stack is in use.
 *  - A free slot sits on the free list, its node written at the top of its
 *    own stack; the list, the slab carving and the slab list are protected
 *    by stk.lock. The slab list is also read, without the lock, by the
 *    SIGSEGV handler: a slab is published (release) only once initialised
 *    and its fields never change until release_all.
 *  - st->guard says what protects a stack; for RINGO_GUARD_CANARY the word
 *    RINGO_STACK_CANARY is at st->lo whenever the stack is handed out or
 *    trimmed.
 *  - Only ringo__stack_trim() returns a stack's pages to the kernel; a
 *    freed slot keeps its pages until reused or unmapped.
 */
#include "runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <fcntl.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#ifdef RINGO_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102	/* Linux 6.13; Debian 12's headers lack it */
#endif

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)

#define DEFAULT_STACK_SIZE (256 * KIB)
#define MIN_STACK_SIZE (16 * KIB)	/* smaller requests are rounded up to this */
#define MAX_ENV_STACK_SIZE (1024 * MIB)	/* RINGO_STACKSIZE upper bound */
/*
 * Guard below each stack. More than one page: a frame with a large local
 * array can step over a single page, and below a slab slot's guard lies
 * the top of another goroutine's stack, not unmapped memory. Guards cost
 * address space only (and no mapping with MADV_GUARD_INSTALL). On aarch64
 * GCC's -fstack-clash-protection probes only every 64 KiB, assuming a
 * guard that big (glibc's thread stacks have one there), and takes no
 * other size but 4 KiB: a frame of up to 64 KiB is not probed at all.
 */
#if defined(__aarch64__)
#define GUARD_SIZE (64 * KIB)
#else
#define GUARD_SIZE (16 * KIB)
#endif
#define OVERFLOW_SLOP (64 * KIB)	/* faults this far below a guard are overflows */
#define WARM_SIZE (16 * KIB)		/* top of a stack that trimming keeps */
#define SLAB_SLOTS 64			/* stacks per slab, at most */
#define SLAB_TARGET (32 * MIB)		/* fewer slots per slab for big stacks */
#define ALTSTACK_SIZE (64 * KIB)	/* SIGSEGV handler's stack, per thread */
/* How far below the stack pointer an access may fault before the stack
 * pointer moves: x86_64's red zone; on aarch64, which has none, the reach
 * of a pre-indexed stp (a prologue's "stp x29, x30, [sp, #-N]!"). */
#if defined(__aarch64__)
#define BELOW_SP 512
#else
#define BELOW_SP 128
#endif

size_t ringo__default_stack_size = DEFAULT_STACK_SIZE;

/* A slab: one mapping cut into equal slots. Immutable once published. */
struct slab {
	char *base;		/* start of the mapping */
	size_t len;		/* bytes mapped: nslots * slot_size */
	size_t slot_size;	/* guard + stack */
	size_t stack_size;	/* usable bytes of each stack */
	uint32_t nslots;	/* slots in the slab */
	uint32_t ncarved;	/* slots handed out at least once [stk.lock] */
	uint32_t nmprotect;	/* carved slots guarded by mprotect [stk.lock] */
	struct slab *next;	/* older slab [written once before publishing] */
};

/* A free slab slot's node, written at the top of its own stack. */
struct free_slot {
	struct free_slot *next;	/* next free slot [stk.lock] */
	uint8_t guard;		/* enum ringo__guard installed on the slot */
};

static struct {
	pthread_once_t once;		/* ringo__stack_init */
	size_t page;			/* system page size */
	size_t guard;			/* GUARD_SIZE rounded to pages */
	size_t warm;			/* WARM_SIZE rounded to pages */
	size_t min;			/* MIN_STACK_SIZE rounded to pages */
	enum ringo__guard method;	/* preferred guard (probe or RINGO_STACKGUARD) */
	/* mprotect guards: mappings we may create before falling back to
	 * the canary (max_map_count/2 - 1000), and the count we hold now,
	 * counted generously (a split in the middle of a VMA adds two). */
	long map_budget;
	_Atomic long maps;		/* [atomic] */
	_Atomic long nlive;		/* stacks handed out and not freed [atomic] */

	ringo__lock_t lock;		/* guards free and the carving of slabs */
	struct free_slot *free;		/* free default-size slots [lock] */
	/* All slabs, newest first; the newest is the one being carved.
	 * Written under lock (release), read lock-free by the SIGSEGV
	 * handler (acquire). */
	struct slab *_Atomic slabs;

	struct sigaction old_segv;	/* handler before ours, to chain to */
} stk = { .once = PTHREAD_ONCE_INIT };

/* This thread's alternate signal stack, if we installed it. */
static __thread char *alt_mem;		/* mapping (guard page + stack), or NULL */
static __thread size_t alt_len;		/* its length */
static __thread stack_t alt_old;	/* the alt stack it replaced */

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* ------------------------------------------------------------------ */
/* Async-signal-safe output: no stdio, no malloc.                       */

struct wbuf {
	char b[256];		/* the line */
	size_t n;		/* bytes used */
};

static void wb_str(struct wbuf *w, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max && w->n < sizeof(w->b) - 1; i++)
		w->b[w->n++] = s[i];
}

static void wb_num(struct wbuf *w, uint64_t v, unsigned base)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		wb_str(w, "0x", 2);
	while (i > 0 && w->n < sizeof(w->b) - 1)
		w->b[w->n++] = tmp[--i];
}

/*
 * `ringo: goroutine N stack overflow (stack size S), created at 0xPC by
 * goroutine P, name "NAME"`, the goroutine dump, then abort. g may be NULL
 * when the fault is in a guard of some ringo stack but not the running
 * goroutine's.
 */
static void __attribute__((noreturn))
overflow_abort(const struct ringo_g *g, size_t size, const void *addr)
{
	struct wbuf w = { .n = 0 };

	wb_str(&w, "ringo: goroutine ", SIZE_MAX);
	if (g)
		wb_num(&w, g->id, 10);
	else
		wb_str(&w, "?", 1);
	wb_str(&w, " stack overflow (stack size ", SIZE_MAX);
	wb_num(&w, size, 10);
	wb_str(&w, ")", 1);
	if (g) {
		wb_str(&w, ", created at ", SIZE_MAX);
		wb_num(&w, (uintptr_t)g->create_pc, 16);
		wb_str(&w, " by goroutine ", SIZE_MAX);
		wb_num(&w, g->parent_id, 10);
		if (g->name) {
			wb_str(&w, ", name \"", SIZE_MAX);
			wb_str(&w, g->name, 64);
			wb_str(&w, "\"", 1);
		}
	}
	if (addr) {
		wb_str(&w, ", fault at ", SIZE_MAX);
		wb_num(&w, (uintptr_t)addr, 16);
	}
	w.b[w.n++] = '\n';
	if (!ringo__crash_begin())
		abort();
	for (size_t off = 0; off < w.n;) {
		ssize_t r = write(2, w.b + off, w.n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	ringo__crash_dump();
	abort();
}

void ringo__stack_overflow_fatal(struct ringo_g *g)
{
	overflow_abort(g, g->stack.size, NULL);
}

/* ------------------------------------------------------------------ */
/* Guards                                                               */

/* Reserve n mappings of the mprotect budget; false if it is spent. */
static bool maps_reserve(long n)
{
	long cur = atomic_load_explicit(&stk.maps, memory_order_relaxed);
	do {
		if (cur + n > stk.map_budget)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&stk.maps, &cur, cur + n,
			memory_order_relaxed, memory_order_relaxed));
	return true;
}

static void maps_release(long n)
{
	atomic_fetch_sub_explicit(&stk.maps, n, memory_order_relaxed);
}

/*
 * Protect [g, g+stk.guard), the guard area below a stack, with the best
 * method available. Returns what protects it: MADVISE, MPROTECT (2 mapping
 * counts reserved; free them with maps_release(2) when unmapping), or
 * CANARY when neither could be had (the caller writes the canary).
 */
static enum ringo__guard guard_install(char *g)
{
	if (stk.method == RINGO_GUARD_MADVISE &&
	    madvise(g, stk.guard, MADV_GUARD_INSTALL) == 0)
		return RINGO_GUARD_MADVISE;
	if (stk.method != RINGO_GUARD_CANARY && maps_reserve(2)) {
		if (mprotect(g, stk.guard, PROT_NONE) == 0)
			return RINGO_GUARD_MPROTECT;
		maps_release(2);	/* ENOMEM: out of mappings after all */
	}
	return RINGO_GUARD_CANARY;
}

/* Map len bytes for stacks; NULL on failure. Counts one mapping. */
static char *map_stacks(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	atomic_fetch_add_explicit(&stk.maps, 1, memory_order_relaxed);
	return p;
}

static void unmap_stacks(char *p, size_t len)
{
	/* No ASan unpoisoning needed: ASan's mmap interceptor clears the
	 * shadow of every new mapping. */
	munmap(p, len);
	maps_release(1);
}

/* ------------------------------------------------------------------ */
/* Allocation                                                           */

/* A default-size stack from a slab. */
static int slab_alloc(struct ringo__stack *st)
{
	struct free_slot *f;
	struct slab *s;

	ringo__lock(&stk.lock);
	f = stk.free;
	if (f) {
		stk.free = f->next;
		st->guard = f->guard;
		st->size = ringo__default_stack_size;
		st->lo = (char *)(f + 1) - st->size;
		ringo__unlock(&stk.lock);
#ifdef RINGO_ASAN
		/* Frames that never returned (the last ones of a goroutine)
		 * left poisoned shadow behind; uninstrumented code (libc)
		 * using this memory must not trip over it. A fresh slot
		 * needs nothing: ASan's mmap interceptor cleared its shadow. */
		__asan_unpoison_memory_region(st->lo, st->size);
#endif
		return 0;
	}

	s = atomic_load_explicit(&stk.slabs, memory_order_relaxed);
	if (!s || s->ncarved == s->nslots ||
	    s->stack_size != ringo__default_stack_size) {
		size_t slot = stk.guard + ringo__default_stack_size;
		uint32_t n = SLAB_TARGET / slot;

		n = n < 1 ? 1 : n > SLAB_SLOTS ? SLAB_SLOTS : n;
		s = ringo__alloc(sizeof(*s));
		if (!s || !(s->base = map_stacks(n * slot))) {
			ringo__unlock(&stk.lock);
			ringo__free(s, sizeof(*s));
			return -ENOMEM;
		}
		s->len = n * slot;
		s->slot_size = slot;
		s->stack_size = ringo__default_stack_size;
		s->nslots = n;
		s->next = atomic_load_explicit(&stk.slabs, memory_order_relaxed);
		/* release: pairs with the acquire in slab_near() */
		atomic_store_explicit(&stk.slabs, s, memory_order_release);
	}
	char *slot = s->base + (size_t)s->ncarved++ * s->slot_size;
	st->guard = guard_install(slot);
	s->nmprotect += st->guard == RINGO_GUARD_MPROTECT;
	st->lo = slot + stk.guard;
	st->size = s->stack_size;
	ringo__unlock(&stk.lock);
	return 0;
}

/* A stack of another size: a mapping of its own. */
static int own_alloc(size_t size, struct ringo__stack *st)
{
	char *p = map_stacks(stk.guard + size);

	if (!p)
		return -ENOMEM;
	st->guard = guard_install(p);
	st->lo = p + stk.guard;
	st->size = size;
	return 0;
}

int ringo__stack_alloc(size_t size, struct ringo__stack *st)
{
	int ret;

	ringo__stack_init();
	if (size == 0)
		size = ringo__default_stack_size;
	/* Leave room for the guard and rounding without overflowing. */
	if (size > SIZE_MAX / 2)
		return -ENOMEM;
	size = round_up(size, stk.page);
	if (size < stk.min)
		size = stk.min;

	st->slab = size == ringo__default_stack_size;
	ret = st->slab ? slab_alloc(st) : own_alloc(size, st);
	if (ret)
		return ret;
#ifdef RINGO_ASAN
	/* The address range may have been a stack before (an earlier
	 * ringo_run's slab at the same address, a goroutine abandoned
	 * mid-call): drop whatever shadow its frames left behind. */
	__asan_unpoison_memory_region(st->lo, st->size);
#endif
	if (st->guard == RINGO_GUARD_CANARY)
		*(uint64_t *)(void *)st->lo = RINGO_STACK_CANARY;
#ifdef HAVE_VALGRIND_VALGRIND_H
	st->valgrind_id = VALGRIND_STACK_REGISTER(st->lo, st->lo + st->size);
#endif
	atomic_fetch_add_explicit(&stk.nlive, 1, memory_order_relaxed);
	return 0;
}

void ringo__stack_free(struct ringo__stack *st)
{
	RINGO_ASSERT(st->lo != NULL);
#ifdef HAVE_VALGRIND_VALGRIND_H
	VALGRIND_STACK_DEREGISTER(st->valgrind_id);
#endif
	atomic_fetch_sub_explicit(&stk.nlive, 1, memory_order_relaxed);
	if (!st->slab) {
		if (st->guard == RINGO_GUARD_MPROTECT)
			maps_release(2);
		unmap_stacks(st->lo - stk.guard, stk.guard + st->size);
		st->lo = NULL;
		return;
	}

	/*
	 * Keep the slot (and its guard) for reuse, and its pages too: no
	 * system call here. Rejected: trimming every freed slot - freeing
	 * happens mostly at ringo_run's teardown, just before the whole slab
	 * is unmapped, and each MADV_DONTNEED that drops a page costs a TLB
	 * shootdown IPI to every CPU the process ran on. A caller that frees
	 * stacks in bulk and keeps running trims them first.
	 */
	struct free_slot *f = (struct free_slot *)(void *)(st->lo + st->size) - 1;
#ifdef RINGO_ASAN
	__asan_unpoison_memory_region(f, sizeof(*f));	/* stale frame poison */
#endif
	f->guard = st->guard;
	ringo__lock(&stk.lock);
	f->next = stk.free;
	stk.free = f;
	ringo__unlock(&stk.lock);
	st->lo = NULL;
}

void ringo__stack_trim(struct ringo__stack *st)
{
	/* A canary stack keeps its lowest page: dropping it would zero the
	 * canary, and writing it again would fault the page right back in. */
	size_t keep_lo = st->guard == RINGO_GUARD_CANARY ? stk.page : 0;

	if (st->size <= stk.warm + keep_lo)
		return;
	/* DONTNEED rather than FREE: RSS drops at once. */
	madvise(st->lo + keep_lo, st->size - stk.warm - keep_lo, MADV_DONTNEED);
}

void ringo__stack_release_all(void)
{
	struct slab *s, *next;

	RINGO_ASSERT(atomic_load(&stk.nlive) == 0);
	ringo__lock(&stk.lock);
	s = atomic_exchange_explicit(&stk.slabs, NULL, memory_order_acq_rel);
	stk.free = NULL;
	ringo__unlock(&stk.lock);
	for (; s; s = next) {
		next = s->next;
		/* Each mprotect guard in the slab holds 2 mapping counts. */
		maps_release(2 * (long)s->nmprotect);
		unmap_stacks(s->base, s->len);
		ringo__free(s, sizeof(*s));
	}
}

const char *ringo__stack_guard_name(void)
{
	ringo__stack_init();
	switch (stk.method) {
	case RINGO_GUARD_MADVISE:
		return "madvise-guard";
	case RINGO_GUARD_MPROTECT:
		return "mprotect";
	default:
		return "canary";
	}
}

/* ------------------------------------------------------------------ */
/* The SIGSEGV handler                                                   */

/* The slab whose [base - below, base + len) holds addr, or NULL.
 * Async-signal-safe: reads only published slabs, whose fields do not
 * change. */
static const struct slab *slab_near(uintptr_t addr, uintptr_t below)
{
	/* acquire: pairs with the release in slab_alloc() */
	for (const struct slab *s = atomic_load_explicit(&stk.slabs, memory_order_acquire);
	     s; s = s->next) {
		uintptr_t base = (uintptr_t)s->base;
		if (addr + below >= base && addr < base + s->len)
			return s;
	}
	return NULL;
}

/* The stack pointer of the interrupted code. */
static uintptr_t interrupted_sp(const void *uctx)
{
	const ucontext_t *uc = uctx;
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.sp;
#else
#error "ringo: stack.c knows the signal context of x86_64 and aarch64 only"
#endif
}

/*
 * Runs on the thread's alternate signal stack (the faulting stack may be
 * exhausted), so: no locks, no malloc, no stdio.
 */
static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	struct ringo_g *g = ringo__getg();
	int saved_errno = errno;
	const struct slab *s;

	if (g && g->stack.lo) {
		uintptr_t lo = (uintptr_t)g->stack.lo;
		uintptr_t sp = interrupted_sp(uctx);

		/* The running goroutine ran into its guard: the usual
		 * overflow. A little below the guard counts too: a big frame
		 * can jump over it (into unmapped memory below a stack of
		 * its own mapping). */
		if (addr < lo && lo - addr <= stk.guard + OVERFLOW_SLOP)
			overflow_abort(g, g->stack.size, NULL);
		/* It runs below its stack, in slab memory or just under a
		 * slab: a canary stack has no guard, so its overflow runs on
		 * through the slots below until something faults. (No
		 * goroutine runs on another's slot, and g0 runs on the
		 * thread's stack, never in a slab.) */
		if (sp < lo && slab_near(sp, stk.guard + OVERFLOW_SLOP))
			overflow_abort(g, g->stack.size, si->si_addr);
		/* A frame bigger than the guard and the slop, in code built
		 * without -fstack-clash-protection, jumped clean over both:
		 * the stack pointer is below the stack, and the fault lies
		 * between it (less BELOW_SP) and the stack. */
		if (sp < lo && addr < lo && addr + BELOW_SP >= sp)
			overflow_abort(g, g->stack.size, si->si_addr);
	}
	/* Some ringo stack's guard, though not the running goroutine's. */
	s = slab_near(addr, 0);
	if (s && (addr - (uintptr_t)s->base) % s->slot_size < stk.guard)
		overflow_abort(NULL, s->stack_size, si->si_addr);

	/* Not ours: hand the fault to whoever had SIGSEGV before us. */
	ringo__crash_forward(sig, si, uctx, &stk.old_segv);
	errno = saved_errno;
}

/* ------------------------------------------------------------------ */
/* Per-thread alternate signal stack                                     */

int ringo__stack_thread_init(void)
{
	stack_t cur, ss;

	ringo__stack_init();
	if (alt_mem)
		return 0;
	/* A thread that already has a big enough one (sanitizers install
	 * theirs) keeps it. */
	if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) &&
	    cur.ss_size >= ALTSTACK_SIZE)
		return 0;

	size_t size = round_up(ALTSTACK_SIZE, stk.page);
#ifdef _SC_MINSIGSTKSZ
	long min = sysconf(_SC_MINSIGSTKSZ);	/* grows with the CPU's vector state */
	if (min > 0 && size < 4 * (size_t)min)
		size = round_up(4 * (size_t)min, stk.page);
#endif
	char *p = map_stacks(stk.guard + size);
	if (!p)
		return -ENOMEM;
	if (guard_install(p) == RINGO_GUARD_MPROTECT)
		maps_release(2);	/* a handful of threads: not budgeted */
	ss.ss_sp = p + stk.guard;
	ss.ss_size = size;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, &alt_old) < 0) {
		int err = errno;
		unmap_stacks(p, stk.guard + size);
		return -err;
	}
	alt_mem = p;
	alt_len = stk.guard + size;
	return 0;
}

void ringo__stack_thread_fini(void)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	if (!alt_mem)
		return;
	/* Put back what the thread had (usually nothing). */
	if (!(alt_old.ss_flags & SS_DISABLE))
		ss = alt_old;
	sigaltstack(&ss, NULL);
	unmap_stacks(alt_mem, alt_len);
	alt_mem = NULL;
}

/* ------------------------------------------------------------------ */
/* Process initialisation                                                */

/* RINGO_STACKSIZE: bytes, or with a K or M suffix (KiB, MiB). */
static void parse_stacksize(const char *v)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (end != v && (*end == 'k' || *end == 'K') && n <= SIZE_MAX / KIB)
		n *= KIB, end++;
	else if (end != v && (*end == 'm' || *end == 'M') && n <= SIZE_MAX / MIB)
		n *= MIB, end++;
	if (end == v || *end || errno || v[0] == '-' ||
	    n < MIN_STACK_SIZE || n > MAX_ENV_STACK_SIZE) {
		fprintf(stderr, "ringo: ignoring RINGO_STACKSIZE=\"%s\": want bytes "
			"or a K or M suffix, between 16K and 1024M\n", v);
		return;
	}
	ringo__default_stack_size = round_up((size_t)n, stk.page);
}

/* Can this kernel install guards with madvise? Try it on a scratch page,
 * and check that the guard is there: qemu-user (7.2 at least) answers 0
 * to any madvise advice and does nothing. The kernel's own read of a
 * guarded page (a write() from it into a pipe) fails with EFAULT. */
static bool probe_madvise_guard(void)
{
	void *p = mmap(NULL, 2 * stk.page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int fds[2];
	bool ok;

	if (p == MAP_FAILED)
		return false;
	ok = madvise(p, stk.page, MADV_GUARD_INSTALL) == 0;
	if (ok && pipe2(fds, O_CLOEXEC) == 0) {
		ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
		close(fds[0]);
		close(fds[1]);
	}
	munmap(p, 2 * stk.page);
	return ok;
}

static long read_max_map_count(void)
{
	char buf[32];
	long n = 65530;
	int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		if (r > 0) {
			buf[r] = 0;
			n = strtol(buf, NULL, 10);
		}
		close(fd);
	}
	return n > 0 ? n : 65530;
}

static void stack_init_once(void)
{
	const char *v;
	bool madv;

	stk.page = (size_t)sysconf(_SC_PAGESIZE);
	stk.guard = round_up(GUARD_SIZE, stk.page);
	stk.warm = round_up(WARM_SIZE, stk.page);
	stk.min = round_up(MIN_STACK_SIZE, stk.page);
	ringo__default_stack_size = round_up(ringo__default_stack_size, stk.page);
	if ((v = getenv("RINGO_STACKSIZE")) && *v)
		parse_stacksize(v);

	/* Half the mappings for guards, with a margin for everyone else. */
	stk.map_budget = read_max_map_count() / 2 - 1000;

	madv = probe_madvise_guard();
	stk.method = madv ? RINGO_GUARD_MADVISE : RINGO_GUARD_MPROTECT;
	if ((v = getenv("RINGO_STACKGUARD")) && *v) {
		if (!strcmp(v, "madvise")) {
			if (!madv)
				fprintf(stderr, "ringo: RINGO_STACKGUARD=madvise: the kernel "
					"lacks MADV_GUARD_INSTALL, using mprotect\n");
		} else if (!strcmp(v, "mprotect"))
			stk.method = RINGO_GUARD_MPROTECT;
		else if (!strcmp(v, "canary"))
			stk.method = RINGO_GUARD_CANARY;
		else
			fprintf(stderr, "ringo: ignoring RINGO_STACKGUARD=\"%s\": want "
				"madvise (if the kernel has it), mprotect or canary\n", v);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &stk.old_segv);
	ringo__crash_init();
}

void ringo__stack_init(void)
{
	pthread_once(&stk.once, stack_init_once);
}
