/* SPDX-License-Identifier: MIT */
/* check_sched.c - the G/M/P scheduler: spawning, yielding, stealing,
 * queues overflowing, maxprocs, deadlock detection, errno and the FP
 * control words, re-running. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <fenv.h>
#ifdef __x86_64__
#include <immintrin.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- spawn and join 1,000,000 goroutines ------------------------------ */

static _Atomic long done_count;

static void count_one(void *arg)
{
	(void)arg;
	atomic_fetch_add(&done_count, 1);
}

static int spawn_million(void *arg)
{
	(void)arg;
	const long n = SCALE(1000000, 100000);
	atomic_store(&done_count, 0);
	/* Join as we go: every 256 spawns, let the spawned run. Stacks are
	 * then reused warm instead of a million being faulted in at once
	 * (check_stack.c keeps 200,000 alive at once). */
	for (long i = 0; i < n; i++) {
		GO_OK(ringo_go(count_one, NULL));
		if (i % 256 == 255)
			ringo_yield();
	}
	while (atomic_load(&done_count) < n)
		ringo_yield();
	ck_assert_int_eq(atomic_load(&done_count), n);
	/* Every goroutine has counted itself; the last ones may still be
	 * on their way out on the other P (whose thread the kernel may have
	 * descheduled). Only main is left once they are: a goroutine that
	 * never leaves fails the test by its timeout. */
	while (ringo_num_goroutine() != 1)
		ringo_yield();
	ck_assert_int_eq(ringo_num_goroutine(), 1);
	return 0;
}

START_TEST(test_spawn_million)
{
	RUN(spawn_million, NULL);
}
END_TEST

/* ---- yields interleave fairly at maxprocs 1 ---------------------------- */

#define YIELDERS 4
#define ROUNDS 1000
static int trace[YIELDERS * ROUNDS];
static _Atomic int trace_len;
static _Atomic int yielders_done;

static void yielder(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		trace[atomic_fetch_add(&trace_len, 1)] = id;
		ringo_yield();
	}
	atomic_fetch_add(&yielders_done, 1);
}

static int yield_fair(void *arg)
{
	(void)arg;
	atomic_store(&trace_len, 0);
	atomic_store(&yielders_done, 0);
	for (int i = 0; i < YIELDERS; i++)
		GO_OK(ringo_go(yielder, (void *)(intptr_t)i));
	while (atomic_load(&yielders_done) < YIELDERS)
		ringo_yield();
	ck_assert_int_eq(atomic_load(&trace_len), YIELDERS * ROUNDS);
	if (test_maxprocs() == 1) {
		/* One P: round robin. In every window of YIELDERS consecutive
		 * entries (after the start-up) each goroutine appears once. */
		for (int w = YIELDERS; w + YIELDERS <= YIELDERS * ROUNDS - YIELDERS; w += YIELDERS) {
			int seen = 0;
			for (int k = 0; k < YIELDERS; k++)
				seen |= 1 << trace[w + k];
			ck_assert_msg(seen == (1 << YIELDERS) - 1,
				      "window at %d not round-robin", w);
		}
	}
	return 0;
}

START_TEST(test_yield_fair)
{
	RUN(yield_fair, NULL);
}
END_TEST

/* ---- maxprocs 2: two CPU-bound goroutines on two threads at once -------- */

static _Atomic int spinners_in;
static _Atomic pid_t spinner_tid[2];
static _Atomic int spinners_out;

static void spinner(void *arg)
{
	int id = (int)(intptr_t)arg;
	atomic_store(&spinner_tid[id], (pid_t)syscall(SYS_gettid));
	atomic_fetch_add(&spinners_in, 1);
	/* Busy-wait without yielding until both are in: without preemption,
	 * possible only if they run on two threads at once. */
	while (atomic_load(&spinners_in) < 2)
		;
	atomic_fetch_add(&spinners_out, 1);
}

/* The busy-wait can also end without parallelism: when the second
 * spinner's thread gets no CPU for 10 ms (a loaded machine), sysmon
 * preempts the first, and the second may then run on the first's thread.
 * So the pair is tried again, and the test fails only if no attempt ran
 * the two on different threads. */
static int parallel(void *arg)
{
	(void)arg;
	for (int attempt = 0; attempt < 20; attempt++) {
		atomic_store(&spinners_in, 0);
		atomic_store(&spinners_out, 0);
		GO_OK(ringo_go(spinner, (void *)0));
		GO_OK(ringo_go(spinner, (void *)1));
		while (atomic_load(&spinners_out) < 2)
			ringo_yield();
		if (atomic_load(&spinner_tid[0]) != atomic_load(&spinner_tid[1]))
			return 0;
	}
	ck_abort_msg("two spinners never ran on two threads at once");
	return 0;
}

START_TEST(test_parallel)
{
	if (test_maxprocs() < 2)
		return;	/* needs two Ps */
	RUN(parallel, NULL);
}
END_TEST

/* ---- a goroutine readied by one that keeps running runs elsewhere ------ */

/* A goroutine readied into an empty runnext wakes no P at once: its readier
 * usually blocks next and runs it itself. When the readier keeps running
 * instead, sysmon wakes an idle P for it. Here the readier spins in plain
 * C with asynchronous preemption off, so its P never switches: the readied
 * goroutine runs only if that wake-up comes. */

static _Atomic int readied_ran;

static void readied(void *arg)
{
	ringo_chan *c = arg;
	ck_assert_int_eq(ringo_chan_recv(c, NULL), 1);
	atomic_store(&readied_ran, 1);
}

static int readier_spins(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		ringo_chan *c = ringo_chan_make(0, 1);
		ck_assert_ptr_nonnull(c);
		atomic_store(&readied_ran, 0);
		GO_OK(ringo_go(readied, c));
		test_wait_parked("chan receive", 1);
		ck_assert_int_eq(ringo_chan_send(c, NULL), 0);
		/* Nothing from here on switches (ringo_now only reads the
		 * clock). The bound only turns a missing wake-up into a
		 * failure instead of a hang. */
		int64_t give_up = ringo_now() + 10 * 1000000000LL;
		while (!atomic_load(&readied_ran))
			ck_assert_msg(ringo_now() < give_up,
				      "round %d: the readied goroutine never ran", round);
		ringo_chan_unref(c);
	}
	return 0;
}

START_TEST(test_readied_runs_beside_readier)
{
	if (test_maxprocs() < 2)
		return;	/* needs a second P */
	RUN_DEBUG("asyncpreemptoff=1", readier_spins, NULL);
}
END_TEST

/* ---- a goroutine spawning 10,000 overflows into the global queue -------- */

#define OVERFLOW_N 10000
static _Atomic int ran[OVERFLOW_N];

static void mark(void *arg)
{
	atomic_fetch_add(&ran[(intptr_t)arg], 1);
	atomic_fetch_add(&done_count, 1);
}

static int overflow(void *arg)
{
	(void)arg;
	atomic_store(&done_count, 0);
	for (int i = 0; i < OVERFLOW_N; i++)
		atomic_store(&ran[i], 0);
	for (intptr_t i = 0; i < OVERFLOW_N; i++)
		GO_OK(ringo_go(mark, (void *)i));
	while (atomic_load(&done_count) < OVERFLOW_N)
		ringo_yield();
	for (int i = 0; i < OVERFLOW_N; i++)
		ck_assert_msg(atomic_load(&ran[i]) == 1, "goroutine %d ran %d times", i,
			      atomic_load(&ran[i]));
	return 0;
}

START_TEST(test_overflow_global)
{
	RUN(overflow, NULL);
}
END_TEST

/* ---- the global queue's batches (runq.c) ------------------------------ */

/* A thread outside the runtime spawns goroutines (each goes to the global
 * queue alone, merging into batches) and closes a channel that more than
 * a batch's worth of goroutines wait on (readied as one list, without a
 * P). Every goroutine must run exactly once, whatever mix of whole
 * batches, split batches and steals the Ps take them in. */
#define GLOBAL_WAITERS 600	/* more than GBATCH_MAX (129) */
#define GLOBAL_SPAWNS 1000
static _Atomic int global_seen[GLOBAL_WAITERS + GLOBAL_SPAWNS];
static _Atomic int global_arrived;
static _Atomic int foreign_errors;
static ringo_chan *global_gate;

static void global_waiter(void *arg)
{
	atomic_fetch_add(&global_arrived, 1);
	if (ringo_chan_recv(global_gate, NULL) != 0)
		atomic_fetch_add(&foreign_errors, 1);
	atomic_fetch_add(&global_seen[(intptr_t)arg], 1);
	atomic_fetch_add(&done_count, 1);
}

static void global_spawned(void *arg)
{
	atomic_fetch_add(&global_seen[(intptr_t)arg], 1);
	atomic_fetch_add(&done_count, 1);
}

static void *foreign_spawner(void *arg)
{
	(void)arg;
	for (intptr_t i = 0; i < GLOBAL_SPAWNS; i++)
		if (ringo_go(global_spawned, (void *)(GLOBAL_WAITERS + i)) != 0)
			atomic_fetch_add(&foreign_errors, 1);
	if (ringo_chan_close(global_gate) != 0)
		atomic_fetch_add(&foreign_errors, 1);
	return NULL;
}

static int global_batches(void *arg)
{
	(void)arg;
	const int total = GLOBAL_WAITERS + GLOBAL_SPAWNS;
	atomic_store(&done_count, 0);
	atomic_store(&global_arrived, 0);
	atomic_store(&foreign_errors, 0);
	for (int i = 0; i < total; i++)
		atomic_store(&global_seen[i], 0);
	global_gate = ringo_chan_make(0, 0);
	ck_assert_ptr_nonnull(global_gate);
	for (intptr_t i = 0; i < GLOBAL_WAITERS; i++)
		GO_OK(ringo_go(global_waiter, (void *)i));
	/* Most will be parked by the close; any that is not yet just sees
	 * the channel closed, which is as correct. */
	while (atomic_load(&global_arrived) < GLOBAL_WAITERS)
		ringo_yield();
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, foreign_spawner, NULL), 0);
	while (atomic_load(&done_count) < total)
		ringo_yield();
	ringo_syscall_enter();
	pthread_join(t, NULL);
	ringo_syscall_exit();
	ck_assert_int_eq(atomic_load(&foreign_errors), 0);
	ck_assert_int_eq(atomic_load(&done_count), total);
	for (int i = 0; i < total; i++)
		ck_assert_int_eq(atomic_load(&global_seen[i]), 1);
	while (ringo_num_goroutine() != 1)
		ringo_yield();
	ringo_chan_unref(global_gate);
	return 0;
}

START_TEST(test_global_batches)
{
	for (int round = 0; round < 5; round++)
		RUN(global_batches, NULL);
}
END_TEST

/* ---- ids are unique ------------------------------------------------------ */

#define IDS_N 20000
static _Atomic uint64_t ids[IDS_N];

static void record_id(void *arg)
{
	atomic_store(&ids[(intptr_t)arg], ringo_id());
	atomic_fetch_add(&done_count, 1);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int unique_ids(void *arg)
{
	(void)arg;
	atomic_store(&done_count, 0);
	ck_assert_uint_eq(ringo_id(), 1);	/* main is goroutine 1 */
	for (intptr_t i = 0; i < IDS_N; i++)
		GO_OK(ringo_go(record_id, (void *)i));
	while (atomic_load(&done_count) < IDS_N)
		ringo_yield();
	static uint64_t sorted[IDS_N];
	for (int i = 0; i < IDS_N; i++)
		sorted[i] = atomic_load(&ids[i]);
	qsort(sorted, IDS_N, sizeof sorted[0], cmp_u64);
	ck_assert_uint_gt(sorted[0], 1);
	for (int i = 1; i < IDS_N; i++)
		ck_assert_uint_ne(sorted[i], sorted[i - 1]);
	return 0;
}

START_TEST(test_unique_ids)
{
	RUN(unique_ids, NULL);
}
END_TEST

/* ---- maxprocs changes under load without losing a goroutine ----------- */

#define LOAD_N 2000
#define LOAD_YIELDS 200

static void busy_yielder(void *arg)
{
	(void)arg;
	for (int i = 0; i < LOAD_YIELDS; i++)
		ringo_yield();
	atomic_fetch_add(&done_count, 1);
}

static int maxprocs_under_load(void *arg)
{
	(void)arg;
	atomic_store(&done_count, 0);
	int start = ringo_maxprocs(0);
	ck_assert_int_eq(start, test_maxprocs());
	for (int i = 0; i < LOAD_N; i++)
		GO_OK(ringo_go(busy_yielder, NULL));
	static const int sizes[] = { 3, 1, 4, 2, 1, 2 };
	int prev = start;
	for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		ck_assert_int_eq(ringo_maxprocs(sizes[k]), prev);
		ck_assert_int_eq(ringo_maxprocs(0), sizes[k]);
		prev = sizes[k];
		for (int i = 0; i < 50; i++)
			ringo_yield();
	}
	while (atomic_load(&done_count) < LOAD_N)
		ringo_yield();
	ck_assert_int_eq(atomic_load(&done_count), LOAD_N);
	ck_assert_int_eq(ringo_maxprocs(-1), 2);
	ck_assert_int_eq(ringo_maxprocs(100000), -EINVAL);
	return 0;
}

START_TEST(test_maxprocs_under_load)
{
	RUN(maxprocs_under_load, NULL);
}
END_TEST

/* ---- shrinking while the leaving P's M goes to sleep ------------------ */

/* ringo_maxprocs(1) stops the world and, holding sched.lock, moves the
 * ring of the P that goes away, waiting for the M idle on that ring to
 * leave it. That M may be just about to sleep there, asking whether the
 * P is still its own: it used to wait for sched.lock for that, and both
 * waited forever. Each round gives the second P's M a goroutine to wake
 * for, so that it is going idle again when the next shrink comes. */
#define SHRINK_ROUNDS 3000

static void idle_soon(void *arg)
{
	(void)arg;
	atomic_fetch_add(&done_count, 1);
}

static int shrink_while_idling(void *arg)
{
	(void)arg;
	atomic_store(&done_count, 0);
	int old = ringo_maxprocs(0);
	for (int i = 0; i < SHRINK_ROUNDS; i++) {
		ck_assert_int_ge(ringo_maxprocs(2), 1);
		GO_OK(ringo_go(idle_soon, NULL));
		GO_OK(ringo_go(idle_soon, NULL));
		ringo_yield();
		ck_assert_int_eq(ringo_maxprocs(1), 2);
	}
	ck_assert_int_eq(ringo_maxprocs(old), 1);
	while (atomic_load(&done_count) < 2 * SHRINK_ROUNDS)
		ringo_yield();
	ck_assert_int_eq(atomic_load(&done_count), 2 * SHRINK_ROUNDS);
	return 0;
}

START_TEST(test_maxprocs_shrink_while_idling)
{
	RUN(shrink_while_idling, NULL);
}
END_TEST

/* ---- deadlock detection --------------------------------------------------- */

static void recv_nil(void *arg)
{
	(void)arg;
	int v;
	ringo_chan_recv(NULL, &v);	/* a NULL channel blocks forever */
}

static int deadlock_main(void *arg)
{
	(void)arg;
	GO_OK(ringo_go(recv_nil, NULL));
	int v;
	ringo_chan_recv(NULL, &v);
	return 0;
}

START_TEST(test_deadlock)
{
	int r = ringo_run(deadlock_main, NULL);
	ck_assert_int_eq(r, -EDEADLK);
	/* And the runtime is usable again afterwards. */
	RUN(unique_ids, NULL);
}
END_TEST

/* ---- errno survives a yield ------------------------------------------------ */

/* glibc declares __errno_location() const, so a compiler may keep errno's
 * address in a register across a call that switches threads (ringo(7),
 * THREAD-LOCAL STATE). Code that must see errno after a switch reads it
 * through a fresh call, as these accessors do. */
static __attribute__((noinline)) void set_errno(int e)
{
	errno = e;
}

static __attribute__((noinline)) int get_errno(void)
{
	return errno;
}

static void errno_other(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		set_errno(1000 + i);
		ringo_yield();
		ck_assert_int_eq(get_errno(), 1000 + i);
	}
	atomic_fetch_add(&done_count, 1);
}

static int errno_main(void *arg)
{
	(void)arg;
	atomic_store(&done_count, 0);
	for (int i = 0; i < 8; i++)
		GO_OK(ringo_go(errno_other, NULL));
	for (int i = 0; i < 100; i++) {
		set_errno(ENOTTY);
		ringo_yield();
		ck_assert_int_eq(get_errno(), ENOTTY);
	}
	while (atomic_load(&done_count) < 8)
		ringo_yield();
	return 0;
}

START_TEST(test_errno)
{
	RUN(errno_main, NULL);
}
END_TEST

/* ---- floating-point control words are per goroutine ------------------------ */

/* The rounding mode lives in MXCSR (SSE) and the x87 control word; the
 * switch keeps both per goroutine, loading them only when they differ
 * (ringo__ctx_switch), and a new goroutine starts with the defaults. On
 * aarch64 it lives in FPCR alone, which the switch keeps too. */
static const int fp_modes[4] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO };

/* The vector unit's rounding mode, read from the register itself. */
static int sse_round(void)
{
#if defined(__x86_64__)
	static const int from_bits[4] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO };
	return from_bits[(_mm_getcsr() >> 13) & 3];
#elif defined(__aarch64__)
	static const int from_bits[4] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO };
	uint64_t fpcr;
	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	return from_bits[(fpcr >> 22) & 3];	/* RMode */
#endif
}

static void fp_other(void *arg)
{
	int mode = fp_modes[(intptr_t)arg % 4];
	/* A new goroutine starts with the ABI's defaults, whatever the one
	 * before it on this thread had. */
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
	ck_assert_int_eq(sse_round(), FE_TONEAREST);
	ck_assert_int_eq(fesetround(mode), 0);
	volatile double one = 1.0, three = 3.0;
	double third = one / three;
	for (int i = 0; i < 1000; i++) {
		ringo_yield();
		ck_assert_int_eq(fegetround(), mode);	/* x87 control word */
		ck_assert_int_eq(sse_round(), mode);	/* MXCSR */
		ck_assert(one / three == third);
	}
	atomic_fetch_add(&done_count, 1);
}

static int fp_main(void *arg)
{
	(void)arg;
	atomic_store(&done_count, 0);
	for (intptr_t i = 0; i < 8; i++)
		GO_OK(ringo_go(fp_other, (void *)i));
	while (atomic_load(&done_count) < 8) {
		ringo_yield();
		ck_assert_int_eq(fegetround(), FE_TONEAREST);
		ck_assert_int_eq(sse_round(), FE_TONEAREST);
	}
	return 0;
}

START_TEST(test_fp_control)
{
	RUN(fp_main, NULL);
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
}
END_TEST

/* ---- ringo_run twice, return values, bad arguments ------------------------- */

static int return_42(void *arg)
{
	(void)arg;
	return 42;
}

static int nested_run(void *arg)
{
	(void)arg;
	ck_assert_int_eq(ringo_run(return_42, NULL), -EBUSY);
	ck_assert_int_eq(ringo_go(NULL, NULL), -EINVAL);
	struct ringo_go_attr bad = { .stack_size = 1 };
	ck_assert_int_eq(ringo_go_with(&bad, count_one, NULL), -EINVAL);
	return 0;
}

START_TEST(test_run_twice)
{
	ck_assert_int_eq(ringo_run(return_42, NULL), 42);
	ck_assert_int_eq(ringo_run(return_42, NULL), 42);
	RUN(nested_run, NULL);
	ck_assert_int_eq(ringo_run(NULL, NULL), -EINVAL);
	ck_assert_int_eq(ringo_go(count_one, NULL), -EPERM);
	ck_assert_int_eq(ringo_num_goroutine(), 0);
}
END_TEST

static Suite *sched_suite(void)
{
	Suite *s = suite_create("sched");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_spawn_million);
	tcase_add_test(tc, test_yield_fair);
	tcase_add_test(tc, test_parallel);
	tcase_add_test(tc, test_readied_runs_beside_readier);
	tcase_add_test(tc, test_overflow_global);
	tcase_add_test(tc, test_global_batches);
	tcase_add_test(tc, test_unique_ids);
	tcase_add_test(tc, test_maxprocs_under_load);
	tcase_add_test(tc, test_maxprocs_shrink_while_idling);
	tcase_add_test(tc, test_deadlock);
	tcase_add_test(tc, test_errno);
	tcase_add_test(tc, test_fp_control);
	tcase_add_test(tc, test_run_twice);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(sched_suite);
}
