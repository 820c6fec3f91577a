/* SPDX-License-Identifier: MIT */
/*
 * check_stack.c - goroutine stacks: overflow is reported, never silent;
 * guarded stacks scale past the 65530-mapping wall; custom sizes work.
 *
 * Every case runs in its own process (CK_FORK). The overflow cases fork
 * once more and run the runtime in a grandchild that must die by SIGABRT
 * after printing `ringo: goroutine N stack overflow (stack size S)`; the
 * parent reads its stderr through a pipe. RINGO_STACKGUARD forces each
 * guard method (madvise-guard, mprotect, canary) so the fallbacks are
 * tested on a kernel that has MADV_GUARD_INSTALL. The suite runs twice, at
 * RINGO_MAXPROCS=1 and 2.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#ifdef RINGO_SANITIZE
/* The crash cases (and under ThreadSanitizer the overflow cases) are
 * defined but not registered in sanitizer builds (see stack_suite). */
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-function"
#endif

#define KIB ((size_t)1024)
#define MIB (1024 * KIB)
#define DEFAULT_STACK (256 * KIB)

/* ------------------------------------------------------------------ */
/* Running the runtime in a child that is expected to die.              */

struct child {
	int status;		/* waitpid status */
	char err[8192];		/* its stderr, NUL-terminated */
};

/*
 * Fork; in the child set the environment (NULL-terminated name, value
 * pairs; a NULL value unsets), send stderr into a pipe and exit with
 * ringo_run(main_fn, arg). The parent collects stderr and the status.
 */
static void run_child(struct child *c, const char *const *env,
		      int (*main_fn)(void *), void *arg)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* don't outlive a timed-out test */
		setrlimit(RLIMIT_CORE, &no_core);	/* it aborts on purpose */
		alarm(60);				/* a hang fails, by SIGALRM */
		for (; env && env[0]; env += 2) {
			if (env[1])
				setenv(env[0], env[1], 1);
			else
				unsetenv(env[0]);
		}
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		_exit(ringo_run(main_fn, arg) & 0xff);
	}
	close(fds[1]);
	/* Read to EOF (the child's death), keeping what fits. */
	size_t n = 0;
	ssize_t r;
	char sink[512];
	for (;;) {
		size_t room = sizeof(c->err) - 1 - n;
		r = room ? read(fds[0], c->err + n, room) : read(fds[0], sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		if (room)
			n += (size_t)r;
	}
	c->err[n] = 0;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &c->status, 0), pid);
}

/* The end of its stderr, short enough for a Check message. */
static const char *err_tail(const struct child *c)
{
	size_t n = strlen(c->err);
	return n > 1500 ? c->err + n - 1500 : c->err;
}

/* The child died by SIGABRT and said exactly this overflow line (the
 * creation site follows it). */
static void assert_overflow(const struct child *c, unsigned long long id, size_t size)
{
	char want[128];

	ck_assert_msg(WIFSIGNALED(c->status) && WTERMSIG(c->status) == SIGABRT,
		      "child did not abort: status 0x%x, stderr:\n%s", c->status, err_tail(c));
	snprintf(want, sizeof(want),
		 "ringo: goroutine %llu stack overflow (stack size %zu), created at 0x",
		 id, size);
	const char *line = strstr(c->err, want);
	ck_assert_msg(line, "want \"%s\" in stderr:\n%s", want, err_tail(c));
	/* Then the goroutine dump, from the main goroutine on. */
	ck_assert_msg(strstr(line, "\ngoroutine 1 "), "no goroutine dump after the overflow line:\n%s",
		      err_tail(c));
}

/* ------------------------------------------------------------------ */
/* Overflowing goroutines                                                */

enum how {
	RECURSE,	/* recurse without bound */
	SMASH,		/* write just past the stack's low end, then yield */
	BIG_FRAME,	/* one frame bigger than the whole stack */
	WIDE_FRAME,	/* near the low end, a 48 KiB frame */
	JUMP,		/* move the stack pointer far below the stack, then push */
};

struct overflow_args {
	enum how how;
	size_t stack_size;	/* 0: ringo_go (the default size) */
	size_t size;		/* the size the stack will have */
	_Atomic bool survived;	/* the goroutine came back: nothing caught it */
};

static volatile unsigned long depth_limit = ~0UL;	/* defeats -Winfinite-recursion */
static volatile uintptr_t smash_floor;			/* SMASH: descend to here */
static volatile bool wide;				/* WIDE_FRAME: not SMASH */

/* A frame of 512 bytes that the compiler cannot fold into a loop: the
 * array is volatile and used after the call returns. */
static unsigned long __attribute__((noinline)) recurse(unsigned long n)
{
	volatile char frame[512];

	frame[0] = (char)n;
	frame[511] = (char)n;
	if (n >= depth_limit)
		return frame[0];
	return recurse(n + 1) + frame[0] + frame[511];
}

/* Fill 8 KiB below the caller's frame, from the lowest byte up. */
static void __attribute__((noinline)) smash(void)
{
	volatile char buf[8192];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = 0x5a;
}

/* A fixed frame of 48 KiB: past a 16 KiB guard, and short of the 64 KiB
 * that aarch64's stack-clash probes leave unprobed. The frame's lowest
 * bytes (the saved frame record) are written first. */
static void __attribute__((noinline)) wide_frame(void)
{
	volatile char buf[48 * 1024];

	buf[0] = 1;
	buf[sizeof(buf) - 1] = 1;
}

/* Descend in small frames until near smash_floor, then smash (or call
 * wide_frame). */
static unsigned long __attribute__((noinline)) descend(unsigned long n)
{
	volatile char frame[256];

	frame[0] = (char)n;
	if ((uintptr_t)__builtin_frame_address(0) > smash_floor)
		return descend(n + 1) + frame[0];
	if (wide)
		wide_frame();
	else
		smash();
	return frame[0];
}

/* A frame four times the stack, written from its low end up as a local
 * array's initialisation might be. Built with -fstack-clash-protection
 * (configure adds it), the frame's pages are probed from the top first,
 * so the guard catches it; without probes the first store could land
 * in another goroutine's stack. */
static unsigned long __attribute__((noinline)) big_frame(size_t stack_size)
{
	size_t n = 4 * stack_size;
	volatile char *frame = __builtin_alloca(n);

	for (size_t i = 0; i < n; i += 4096)
		frame[i] = 1;
	return frame[n / 2];
}

/*
 * What a frame built without probes does when it is bigger than the
 * guard and what lies below: the stack pointer lands far below the stack,
 * in memory that faults (an inaccessible mapping placed there, so that
 * the fault is certain), and the first push faults. The runtime must
 * still call it an overflow: the stack pointer has left the stack.
 */
static void jump_below(size_t stack_size)
{
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t want = (fp - stack_size - 8 * MIB) & ~(uintptr_t)(2 * MIB - 1);
	void *hole = MAP_FAILED;

	for (int i = 0; i < 64 && hole == MAP_FAILED; i++, want -= 2 * MIB) {
		hole = mmap((void *)want, 2 * MIB, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		/* A kernel older than 4.17, or qemu-user, takes the flag
		 * for a hint and maps elsewhere when want is taken. */
		if (hole != MAP_FAILED && hole != (void *)want) {
			munmap(hole, 2 * MIB);
			hole = MAP_FAILED;
		}
	}
	if (hole == MAP_FAILED)
		return;		/* no room below: the test sees it survive */
#if defined(__x86_64__)
	__asm__ volatile("movq %0, %%rsp\n\tpushq $0" : : "r"((char *)hole + MIB) : "memory");
#elif defined(__aarch64__)
	/* As a prologue does: the store comes before sp moves, 176 bytes
	 * below it. */
	__asm__ volatile("mov sp, %0\n\tstp x29, x30, [sp, #-176]!" : : "r"((char *)hole + MIB)
			 : "memory");
#endif
}

static void overflower(void *arg)
{
	struct overflow_args *a = arg;
	uintptr_t top = (uintptr_t)__builtin_frame_address(0);

	fprintf(stderr, "overflowing goroutine %llu\n", (unsigned long long)ringo_id());
	if (a->how == RECURSE) {
		recurse(0);
	} else if (a->how == BIG_FRAME) {
		big_frame(a->size);
	} else if (a->how == JUMP) {
		jump_below(a->size);
	} else {
		/*
		 * The stack's low end lies a little above top - size (only
		 * the entry frames sit between this frame and the stack's
		 * top). Stop 4 KiB above that: smash() then writes from about
		 * 4 KiB below the low end to 4 KiB above it, over the canary
		 * and into the guard - but not past the 16 KiB guard area,
		 * so the canary method sees nothing worse than a smashed
		 * canary. WIDE_FRAME's frame reaches 44 KiB below it.
		 */
		smash_floor = top - a->size + 4 * KIB;
		wide = a->how == WIDE_FRAME;
		descend(0);
		ringo_yield();	/* the canary is checked at switch-out */
	}
	atomic_store(&a->survived, true);
}

static int overflow_main(void *arg)
{
	struct overflow_args *a = arg;
	struct ringo_go_attr attr = { .stack_size = a->stack_size };
	int r = a->stack_size ? ringo_go_with(&attr, overflower, a)
			      : ringo_go(overflower, a);

	if (r < 0)
		return 100 + -r;
	while (!atomic_load(&a->survived))
		ringo_yield();
	return 3;	/* the overflow went unnoticed */
}

static struct child last;	/* the latest check_overflow() child */

/* Run an overflowing goroutine under RINGO_STACKGUARD=guard and check the
 * report. */
static void check_overflow(const char *guard, enum how how, size_t stack_size,
			   const char *stacksize_env, size_t want_size)
{
	struct overflow_args a = { .how = how, .stack_size = stack_size,
				   .size = want_size };
	const char *env[] = { "RINGO_STACKGUARD", guard,
			      "RINGO_STACKSIZE", stacksize_env, NULL };
	struct child *c = &last;
	unsigned long long id;
	const char *line;

	run_child(c, env, overflow_main, &a);
	line = strstr(c->err, "overflowing goroutine ");
	ck_assert_msg(line && sscanf(line, "overflowing goroutine %llu", &id) == 1,
		      "goroutine never ran: status 0x%x, stderr:\n%s", c->status, err_tail(c));
	assert_overflow(c, id, want_size);
}

START_TEST(overflow_recurse_default_guard)
{
	check_overflow(NULL, RECURSE, 0, NULL, DEFAULT_STACK);
}
END_TEST

START_TEST(overflow_recurse_default_guard_own_mapping)
{
	check_overflow(NULL, RECURSE, 64 * KIB, NULL, 64 * KIB);
}
END_TEST

START_TEST(overflow_recurse_mprotect)
{
	check_overflow("mprotect", RECURSE, 0, NULL, DEFAULT_STACK);
}
END_TEST

START_TEST(overflow_recurse_mprotect_own_mapping)
{
	check_overflow("mprotect", RECURSE, 64 * KIB, NULL, 64 * KIB);
}
END_TEST

START_TEST(overflow_smash_default_guard)
{
	check_overflow(NULL, SMASH, 0, NULL, DEFAULT_STACK);
}
END_TEST

START_TEST(overflow_smash_mprotect)
{
	check_overflow("mprotect", SMASH, 64 * KIB, NULL, 64 * KIB);
}
END_TEST

/* The canary is caught at switch-out (not by a fault: the report has no
 * fault address), from a slab slot and from a stack of its own mapping. */
START_TEST(overflow_smash_canary)
{
	check_overflow("canary", SMASH, 0, NULL, DEFAULT_STACK);
	ck_assert_msg(!strstr(last.err, "fault at"), "%s", err_tail(&last));
	check_overflow("canary", SMASH, 64 * KIB, NULL, 64 * KIB);
	ck_assert_msg(!strstr(last.err, "fault at"), "%s", err_tail(&last));
}
END_TEST

/* A frame far bigger than the guard is still an overflow: stack-clash
 * probes walk it into the guard. */
START_TEST(overflow_big_frame)
{
	check_overflow(NULL, BIG_FRAME, 0, NULL, DEFAULT_STACK);
	check_overflow("mprotect", BIG_FRAME, 64 * KIB, NULL, 64 * KIB);
}
END_TEST

/* So is a frame bigger than the guard but smaller than the stack, from a
 * slab slot, whose guard has another goroutine's stack below it: probed
 * on x86_64, caught by the 64 KiB guard on aarch64, where GCC probes
 * no frame under 64 KiB. */
START_TEST(overflow_wide_frame)
{
	check_overflow(NULL, WIDE_FRAME, 0, NULL, DEFAULT_STACK);
	check_overflow("mprotect", WIDE_FRAME, 0, NULL, DEFAULT_STACK);
}
END_TEST

/* Code without probes whose stack pointer jumped clean over the guard:
 * the fault is far below the stack, and still reported as an overflow. */
START_TEST(overflow_jump_over_guard)
{
	check_overflow(NULL, JUMP, 0, NULL, DEFAULT_STACK);
	ck_assert_msg(strstr(last.err, "fault at"), "%s", err_tail(&last));
	check_overflow(NULL, JUMP, 64 * KIB, NULL, 64 * KIB);
}
END_TEST

/* RINGO_STACKSIZE sets the default size; the report names it. */
START_TEST(overflow_stacksize_env)
{
	check_overflow(NULL, RECURSE, 0, "1M", MIB);
	check_overflow(NULL, SMASH, 0, "96K", 96 * KIB);
	check_overflow(NULL, RECURSE, 0, "131072", 128 * KIB);
}
END_TEST

/* A bad RINGO_STACKSIZE is ignored, with one warning line. */
START_TEST(stacksize_env_invalid)
{
	static const char *const bad[] = { "12Q", "-1M", "1K", "", "4G", "0x100000" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char warn[64];

		check_overflow(NULL, RECURSE, 0, bad[i], DEFAULT_STACK);
		snprintf(warn, sizeof(warn), "ringo: ignoring RINGO_STACKSIZE=\"%s\"", bad[i]);
		/* An empty value means unset: no warning. */
		const char *w = strstr(last.err, warn);
		ck_assert_msg((w != NULL) == (*bad[i] != 0) && (!w || !strstr(w + 1, warn)),
			      "RINGO_STACKSIZE=\"%s\": stderr:\n%s", bad[i], err_tail(&last));
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Crashes: one line naming the signal and the goroutine, the dump, and  */
/* death by the signal itself (a core dump where enabled).              */

static volatile int *volatile null_ptr;
static volatile int zero;

enum crash { CRASH_NULL = 1, CRASH_DIVIDE, CRASH_ILLEGAL };

static void crasher(void *arg)
{
	fprintf(stderr, "crashing goroutine %llu\n", (unsigned long long)ringo_id());
	switch ((enum crash)(uintptr_t)arg) {
	case CRASH_NULL:
		*null_ptr = 1;
		break;
	case CRASH_DIVIDE:
		fprintf(stderr, "%d\n", 7 / zero);
		break;
	case CRASH_ILLEGAL:
#if defined(__x86_64__)
		__asm__ volatile("ud2");
#elif defined(__aarch64__)
		__asm__ volatile("udf #0");
#endif
		break;
	}
}

static int crash_main(void *arg)
{
	ringo_go(crasher, arg);
	for (;;)
		ringo_yield();
	return 3;
}

static void check_crash(enum crash how, int want_sig, const char *want_what)
{
	struct child *c = &last;
	unsigned long long id;
	char want[160];

	run_child(c, NULL, crash_main, (void *)(uintptr_t)how);
	const char *line = strstr(c->err, "crashing goroutine ");
	ck_assert_msg(line && sscanf(line, "crashing goroutine %llu", &id) == 1,
		      "goroutine never ran: status 0x%x, stderr:\n%s", c->status, err_tail(c));
	ck_assert_msg(WIFSIGNALED(c->status) && WTERMSIG(c->status) == want_sig,
		      "child did not die of signal %d: status 0x%x, stderr:\n%s", want_sig,
		      c->status, err_tail(c));
	snprintf(want, sizeof want, "ringo: fatal signal %s", want_what);
	line = strstr(c->err, want);
	ck_assert_msg(line, "want \"%s\" in stderr:\n%s", want, err_tail(c));
	const char *eol = strchr(line, '\n');
	ck_assert_msg(eol, "%s", err_tail(c));
	/* The crashing goroutine's backtrace, from the faulting pc on. */
	ck_assert_msg(eol[1] == '\t', "no backtrace after the line: %s", err_tail(c));
	snprintf(want, sizeof want, ", goroutine %llu\n", id);
	ck_assert_msg(strncmp(eol - strlen(want) + 1, want, strlen(want)) == 0,
		      "the line does not end with \"%s\": %s", want, err_tail(c));
	snprintf(want, sizeof want, "\ngoroutine %llu [running]:", id);
	ck_assert_msg(strstr(eol, "\ngoroutine 1 ") && strstr(eol, want),
		      "no goroutine dump after the line:\n%s", err_tail(c));
}

START_TEST(crash_null_pointer)
{
	check_crash(CRASH_NULL, SIGSEGV, "SIGSEGV (address not mapped to object) at address 0x0, pc 0x");
}
END_TEST

/* Only where integer division traps: on aarch64 it yields 0. */
#if defined(__x86_64__)
START_TEST(crash_divide_by_zero)
{
	check_crash(CRASH_DIVIDE, SIGFPE, "SIGFPE (integer divide by zero) at address 0x");
}
END_TEST
#endif

START_TEST(crash_illegal_instruction)
{
	check_crash(CRASH_ILLEGAL, SIGILL, "SIGILL (illegal instruction) at address 0x");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Many goroutines alive at once                                          */

#define MANY SCALE(200000, 40000)	/* both past the 32k mprotect wall */

static _Atomic int started;	/* goroutines that have run */
static _Atomic int finished;	/* goroutines that saw release */
static _Atomic bool release;	/* set by main once all have started */

static void waiter(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	while (!atomic_load(&release))
		ringo_yield();
	atomic_fetch_add(&finished, 1);
}

static int many_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < MANY; i++) {
		GO_OK(ringo_go(waiter, NULL));
	}
	while (atomic_load(&started) < MANY)
		ringo_yield();
	ck_assert_int_ge(ringo_num_goroutine(), MANY);
	atomic_store(&release, true);
	while (atomic_load(&finished) < MANY)
		ringo_yield();
	return 0;
}

static void check_many(const char *guard)
{
	if (guard)
		setenv("RINGO_STACKGUARD", guard, 1);
	atomic_store(&started, 0);
	atomic_store(&finished, 0);
	atomic_store(&release, false);
	RUN(many_main, NULL);
	ck_assert_int_eq(atomic_load(&started), MANY);
	ck_assert_int_eq(atomic_load(&finished), MANY);
}

START_TEST(many_goroutines_default_guard)
{
	check_many(NULL);
}
END_TEST

/* mprotect guards run out of their mapping budget near 16k stacks; the
 * rest get canaries (checked at every switch-out), and nothing fails. */
START_TEST(many_goroutines_mprotect)
{
	check_many("mprotect");
}
END_TEST

/* ------------------------------------------------------------------ */
/* A burst's stack pages go back to the kernel                            */

#define BURST 6000		/* under TSan's 8128 fibers */
#define BURST_TOUCH (64 * KIB)	/* stack each goroutine of the burst dirties */
#define WARM_KEPT 4096		/* dead Gs the runtime keeps warm (proc.c) */
#define WARM_TOP (16 * KIB)	/* top of a trimmed stack that stays (stack.c) */

static _Atomic int burst_started, burst_finished;
static _Atomic bool burst_release;
static char *burst_deep[BURST];	/* where each one's dirtied array was */

static void burst_user(void *arg)
{
	volatile char deep[BURST_TOUCH];

	for (size_t i = 0; i < sizeof deep; i += 512)
		deep[i] = (char)i;
	burst_deep[(intptr_t)arg] = (char *)deep;
	atomic_fetch_add(&burst_started, 1);
	while (!atomic_load(&burst_release))
		ringo_yield();
	atomic_fetch_add(&burst_finished, (int)(deep[512] == (char)512));
}

/* Dead goroutines whose array lost the pages below their stack's warm top.
 * mincore looks at exactly those pages: RSS would also count the
 * sanitizers' shadow and TSan's per-fiber state. */
static int burst_trimmed(void)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char vec[BURST_TOUCH / 4096 + 2];
	int trimmed = 0;
	for (int i = 0; i < BURST; i++) {
		uintptr_t lo = (uintptr_t)burst_deep[i] & ~(uintptr_t)(page - 1);
		size_t len = (uintptr_t)burst_deep[i] + BURST_TOUCH - lo;
		size_t npages = (len + (size_t)page - 1) / (size_t)page;
		ck_assert_int_le(npages, sizeof vec);
		ck_assert_int_eq(mincore((void *)lo, len, vec), 0);
		size_t resident = 0;
		for (size_t k = 0; k < npages; k++)
			resident += vec[k] & 1;
		if (resident * (size_t)page <= WARM_TOP + (size_t)page)
			trimmed++;
	}
	return trimmed;
}

static int burst_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < BURST; i++)
		GO_OK(ringo_go(burst_user, (void *)(intptr_t)i));
	while (atomic_load(&burst_started) < BURST)
		ringo_yield();
	atomic_store(&burst_release, true);
	while (atomic_load(&burst_finished) < BURST)
		ringo_yield();
	/* The dead goroutines' stacks beyond the warm reserve lose what they
	 * touched below their warm top: sysmon trims them once nobody reuses
	 * them. Half of them is plenty to tell trimming from none. */
	while (burst_trimmed() < (BURST - WARM_KEPT) / 2)
		ringo_sleep(10 * 1000000LL);	/* bounded by the test's timeout */
	return 0;
}

START_TEST(burst_pages_returned)
{
	atomic_store(&burst_started, 0);
	atomic_store(&burst_finished, 0);
	atomic_store(&burst_release, false);
	RUN(burst_main, NULL);
	ck_assert_int_eq(atomic_load(&burst_finished), BURST);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Stack sizes                                                            */

static _Atomic bool big_done;

/* Use 1 MiB of stack: every page of it, from the bottom up. */
static void big_user(void *arg)
{
	volatile char big[MIB];

	(void)arg;
	for (size_t i = 0; i < sizeof(big); i += 512)
		big[i] = (char)i;
	for (size_t i = 0; i < sizeof(big); i += 512)
		if (big[i] != (char)i)
			return;
	atomic_store(&big_done, true);
}

static _Atomic int small_done;

static void small_user(void *arg)
{
	(void)arg;
	atomic_fetch_add(&small_done, 1);
}

static int sizes_main(void *arg)
{
	struct ringo_go_attr attr = { .stack_size = 2 * MIB, .name = "big" };
	int r;

	(void)arg;
	GO_OK(ringo_go_with(&attr, big_user, NULL));
	while (!atomic_load(&big_done))
		ringo_yield();

	/* Absurd sizes fail cleanly ... */
	attr.stack_size = SIZE_MAX;
	r = ringo_go_with(&attr, small_user, NULL);
	ck_assert_msg(r == -ENOMEM || r == -EINVAL, "SIZE_MAX: %d", r);
	attr.stack_size = SIZE_MAX / 2 + 1;
	r = ringo_go_with(&attr, small_user, NULL);
	ck_assert_msg(r == -ENOMEM || r == -EINVAL, "SIZE_MAX/2+1: %d", r);

	/* ... and the runtime goes on: a tiny stack (rounded up), an odd
	 * size, the default. */
	attr.stack_size = 4096;
	GO_OK(ringo_go_with(&attr, small_user, NULL));
	attr.stack_size = 100 * KIB + 1;
	GO_OK(ringo_go_with(&attr, small_user, NULL));
	GO_OK(ringo_go(small_user, NULL));
	while (atomic_load(&small_done) < 3)
		ringo_yield();
	return 0;
}

START_TEST(custom_stack_sizes)
{
	RUN(sizes_main, NULL);
	ck_assert(atomic_load(&big_done));
	ck_assert_int_eq(atomic_load(&small_done), 3);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *stack_suite(void)
{
	Suite *s = suite_create("stack");
	TCase *tc;

#ifndef RINGO_TSAN
	/* Under ThreadSanitizer, its own SIGSEGV handler reports the fault
	 * (it intercepts sigaction), so the overflow line is not ours to
	 * test there. */
	tc = tcase_create("overflow");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, overflow_recurse_default_guard);
	tcase_add_test(tc, overflow_recurse_default_guard_own_mapping);
	tcase_add_test(tc, overflow_recurse_mprotect);
	tcase_add_test(tc, overflow_recurse_mprotect_own_mapping);
	tcase_add_test(tc, overflow_smash_default_guard);
	tcase_add_test(tc, overflow_smash_mprotect);
	tcase_add_test(tc, overflow_smash_canary);
#ifdef HAVE_STACK_CLASH_PROTECTION
	tcase_add_test(tc, overflow_big_frame);
	tcase_add_test(tc, overflow_wide_frame);
#endif
	tcase_add_test(tc, overflow_jump_over_guard);
	tcase_add_test(tc, overflow_stacksize_env);
	tcase_add_test(tc, stacksize_env_invalid);
	suite_add_tcase(s, tc);
#endif

#ifndef RINGO_SANITIZE
	/* Under a sanitizer, its own handlers report these faults (the
	 * runtime hands them over untouched). */
	tc = tcase_create("crash");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, crash_null_pointer);
#if defined(__x86_64__)
	tcase_add_test(tc, crash_divide_by_zero);
#endif
	tcase_add_test(tc, crash_illegal_instruction);
	suite_add_tcase(s, tc);
#endif

	tc = tcase_create("many");
	tcase_set_timeout(tc, 240);	/* 200k+ page faults, slow in some VMs */
	tcase_add_test(tc, many_goroutines_default_guard);
	tcase_add_test(tc, many_goroutines_mprotect);
	suite_add_tcase(s, tc);

	tc = tcase_create("trim");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, burst_pages_returned);
	suite_add_tcase(s, tc);

	tc = tcase_create("sizes");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, custom_stack_sizes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(stack_suite);
}
