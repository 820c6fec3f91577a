/* SPDX-License-Identifier: MIT */
/*
 * check_sync.c - mutex, rwmutex, waitgroup, once, cond and the weighted
 * semaphore: mutual exclusion by exact counts, Go's fairness guarantees
 * (mutex starvation mode, writer preference, FIFO semaphore), the memory
 * model (plain variables read after the synchronising call, so TSan
 * checks the happens-before edges), and the fatal errors in a forked
 * child. Each suite runs at maxprocs 1 and 2 (testutil.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

/* Run fn(arg) in n goroutines and wait for all of them. */
struct spawn_arg {
	void (*fn)(void *);
	void *arg;
	ringo_waitgroup *wg;
};

static void spawn_trampoline(void *p)
{
	struct spawn_arg *a = p;
	a->fn(a->arg);
	ringo_waitgroup_done(a->wg);
}

static void run_n(int n, void (*fn)(void *), void *const *args)
{
	ringo_waitgroup wg = RINGO_WAITGROUP_INIT;
	struct spawn_arg *a = calloc((size_t)n, sizeof *a);
	ck_assert_ptr_nonnull(a);
	ringo_waitgroup_add(&wg, n);
	for (int i = 0; i < n; i++) {
		a[i] = (struct spawn_arg){ fn, args ? args[i] : NULL, &wg };
		GO_OK(ringo_go(spawn_trampoline, &a[i]));
	}
	ringo_waitgroup_wait(&wg);
	free(a);
}

/* Fork; the child runs fn in ringo_run with stderr on a pipe. Assert the
 * child aborted and that its stderr contains msg, then the dump. */
static void expect_fatal(int (*fn)(void *), const char *msg)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		ringo_run(fn, NULL);
		_exit(0);	/* not reached if the fatal error fired */
	}
	close(p[1]);
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t r;
	while (len < sizeof buf - 1 && (r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(p[0]);
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		      "child did not abort (status %#x), stderr: %s", st, buf);
	const char *line = strstr(buf, msg);
	ck_assert_msg(line != NULL, "stderr lacks '%s': %s", msg, buf);
	/* Then the goroutine dump, from the main goroutine on. */
	ck_assert_msg(strstr(line, "\ngoroutine 1 ") != NULL, "no goroutine dump: %s", buf);
}

/* ---- mutex: 4 goroutines x 1M increments --------------------------------- */

#define MU_WORKERS 4
#define MU_ITERS 1000000
static ringo_mutex count_mu = RINGO_MUTEX_INIT;
static long count;		/* plain: protected by count_mu */

static void mu_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < MU_ITERS; i++) {
		ringo_mutex_lock(&count_mu);
		count++;
		/* Now and then hold it across a switch, so that the others
		 * queue even at maxprocs 1. */
		if (i % 4096 == 0)
			ringo_yield();
		ringo_mutex_unlock(&count_mu);
	}
}

static int mutex_count(void *arg)
{
	(void)arg;
	count = 0;
	run_n(MU_WORKERS, mu_worker, NULL);
	ringo_mutex_lock(&count_mu);
	ck_assert_int_eq(count, (long)MU_WORKERS * MU_ITERS);
	ringo_mutex_unlock(&count_mu);
	return 0;
}

START_TEST(test_mutex_count)
{
	RUN(mutex_count, NULL);
}
END_TEST

/* ---- mutex: trylock, and a plain thread sharing the mutex ------------------ */

#define THREAD_ITERS 200000
static ringo_mutex mixed_mu;
static long mixed_count;	/* plain: protected by mixed_mu */

static void *thread_locker(void *arg)
{
	(void)arg;
	for (int i = 0; i < THREAD_ITERS; i++) {
		ringo_mutex_lock(&mixed_mu);
		mixed_count++;
		ringo_mutex_unlock(&mixed_mu);
	}
	return NULL;
}

static void goroutine_locker(void *arg)
{
	(void)arg;
	for (int i = 0; i < THREAD_ITERS; i++) {
		ringo_mutex_lock(&mixed_mu);
		mixed_count++;
		if (i % 1024 == 0)
			ringo_yield();
		ringo_mutex_unlock(&mixed_mu);
	}
}

static int mutex_mixed(void *arg)
{
	(void)arg;
	ringo_mutex m = RINGO_MUTEX_INIT;
	ck_assert_int_eq(ringo_mutex_trylock(&m), 0);
	ck_assert_int_eq(ringo_mutex_trylock(&m), -EBUSY);
	ringo_mutex_unlock(&m);
	ck_assert_int_eq(ringo_mutex_trylock(&m), 0);
	ringo_mutex_unlock(&m);

	/* A thread outside the scheduler blocks its thread on the same
	 * mutex the goroutines park on. The deadlock detector cannot see
	 * that thread, so main waits for it in a system call (counted as
	 * a possible source of wake-ups) while the goroutines run. */
	pthread_t t;
	ringo_waitgroup wg = RINGO_WAITGROUP_INIT;
	struct spawn_arg a = { goroutine_locker, NULL, &wg };
	mixed_count = 0;
	ringo_waitgroup_add(&wg, 2);
	GO_OK(ringo_go(spawn_trampoline, &a));
	GO_OK(ringo_go(spawn_trampoline, &a));
	ck_assert_int_eq(pthread_create(&t, NULL, thread_locker, NULL), 0);
	ringo_syscall_enter();
	pthread_join(t, NULL);
	ringo_syscall_exit();
	ringo_waitgroup_wait(&wg);
	ck_assert_int_eq(mixed_count, 3L * THREAD_ITERS);
	return 0;
}

START_TEST(test_mutex_mixed)
{
	RUN(mutex_mixed, NULL);
}
END_TEST

/* ---- mutex: starvation mode ---------------------------------------------- */

/* A hog re-locks in a loop; a waiter must get in within a bounded number
 * of the hog's iterations (starvation mode hands it over after 1 ms).
 * Without it the waiter loses every race: when the hog yields while
 * holding the lock (at maxprocs 1), the waiter always finds it held. The
 * bounds are orders of magnitude above 1 ms worth of iterations. The
 * tight hog only checks for preemption (ringo_preempt_point), as hot
 * loops should: the waiter needs a P to run on. */
#define HOG_MAX_YIELD 1000000L
#define HOG_MAX_TIGHT 50000000L
static ringo_mutex starve_mu;
static long hog_iters;			/* protected by starve_mu */
static _Atomic long hog_pub;		/* hog_iters, published for the waiter */
static _Atomic int hog_stop;
static _Atomic int hog_gave_up;
static long waiter_waited;		/* hog iterations while the waiter waited */
static ringo_waitgroup starve_wg;

static void hog(void *arg)
{
	bool yield_inside = arg != NULL;
	while (!atomic_load_explicit(&hog_stop, memory_order_relaxed)) {
		ringo_mutex_lock(&starve_mu);
		long n = ++hog_iters;
		atomic_store_explicit(&hog_pub, n, memory_order_relaxed);
		if (yield_inside)
			ringo_yield();
		ringo_mutex_unlock(&starve_mu);
		if (!yield_inside)
			ringo_preempt_point();
		if (n >= (yield_inside ? HOG_MAX_YIELD : HOG_MAX_TIGHT)) {
			atomic_store(&hog_gave_up, 1);	/* the waiter starved */
			break;
		}
	}
	ringo_waitgroup_done(&starve_wg);
}

static void starved(void *arg)
{
	(void)arg;
	long before = atomic_load(&hog_pub);
	ringo_mutex_lock(&starve_mu);
	waiter_waited = hog_iters - before;
	ringo_mutex_unlock(&starve_mu);
	atomic_store(&hog_stop, 1);
	ringo_waitgroup_done(&starve_wg);
}

static void starvation_round(bool yield_inside)
{
	hog_iters = 0;
	atomic_store(&hog_pub, 0);
	atomic_store(&hog_stop, 0);
	atomic_store(&hog_gave_up, 0);
	waiter_waited = -1;
	ringo_waitgroup_add(&starve_wg, 2);
	GO_OK(ringo_go(hog, yield_inside ? (void *)1 : NULL));
	while (atomic_load(&hog_pub) < 1000)
		ringo_yield();
	GO_OK(ringo_go(starved, NULL));
	ringo_waitgroup_wait(&starve_wg);
	ck_assert_msg(!atomic_load(&hog_gave_up),
		      "waiter starved: %ld hog iterations", waiter_waited);
	if (getenv("RINGO_TEST_VERBOSE"))
		printf("starvation: waiter got in after %ld hog iterations\n", waiter_waited);
}

static int mutex_starvation(void *arg)
{
	(void)arg;
	starvation_round(true);
	/* A hog that never yields can only be overtaken from another P
	 * (until the hog is preempted). */
	if (ringo_maxprocs(0) > 1)
		starvation_round(false);
	return 0;
}

START_TEST(test_mutex_starvation)
{
	RUN(mutex_starvation, NULL);
}
END_TEST

/* ---- mutex: fatal unlock of an unlocked mutex ---------------------------- */

static int unlock_unlocked(void *arg)
{
	(void)arg;
	ringo_mutex m = RINGO_MUTEX_INIT;
	ringo_mutex_unlock(&m);
	return 0;
}

START_TEST(test_mutex_unlock_unlocked)
{
	expect_fatal(unlock_unlocked, "sync: unlock of unlocked mutex");
}
END_TEST

/* ---- rwmutex: readers share, a writer gets in while readers keep coming --- */

#define READERS 4
#define READER_MAX 1000000
static ringo_rwmutex rw;
static _Atomic int readers_in;
static _Atomic int readers_max;
static _Atomic long reader_iters;
static _Atomic int writer_done;
static long rw_value;			/* written under the write lock */
static long reader_saw_value;		/* last value a reader saw */
static long writer_got_after;		/* reader iterations while the writer waited */

static void rw_reader(void *arg)
{
	(void)arg;
	for (long i = 0; i < READER_MAX && !atomic_load(&writer_done); i++) {
		ringo_rwmutex_rlock(&rw);
		int in = atomic_fetch_add(&readers_in, 1) + 1;
		int mx = atomic_load(&readers_max);
		while (in > mx && !atomic_compare_exchange_weak(&readers_max, &mx, in))
			;
		(void)rw_value;	/* a read racing the writer would be a TSan report */
		ringo_yield();	/* hold it across a switch: readers overlap */
		atomic_fetch_sub(&readers_in, 1);
		ringo_rwmutex_runlock(&rw);
		atomic_fetch_add(&reader_iters, 1);
	}
	/* The writer's unlock happens before this rlock returns. */
	ringo_rwmutex_rlock(&rw);
	reader_saw_value = rw_value;
	ringo_rwmutex_runlock(&rw);
}

static void rw_writer(void *arg)
{
	(void)arg;
	while (atomic_load(&reader_iters) < 100)
		ringo_yield();
	long before = atomic_load(&reader_iters);
	ringo_rwmutex_lock(&rw);
	writer_got_after = atomic_load(&reader_iters) - before;
	ck_assert_int_eq(atomic_load(&readers_in), 0);
	rw_value = 42;
	ringo_rwmutex_unlock(&rw);
	atomic_store(&writer_done, 1);
}

/* Readers and the writer run together. */
static void rw_any(void *arg)
{
	if (arg)
		rw_writer(NULL);
	else
		rw_reader(NULL);
}

static int rwmutex_fair(void *arg)
{
	(void)arg;
	void *args[READERS + 1] = { 0 };
	args[READERS] = (void *)1;
	run_n(READERS + 1, rw_any, args);
	ck_assert_int_eq(atomic_load(&writer_done), 1);
	ck_assert_msg(writer_got_after < 10000, "writer waited %ld reader iterations",
		      writer_got_after);
	ck_assert_int_eq(reader_saw_value, 42);
	if (ringo_maxprocs(0) == 1)
		ck_assert_int_ge(atomic_load(&readers_max), 2);

	/* try variants */
	ringo_rwmutex r = RINGO_RWMUTEX_INIT;
	ck_assert_int_eq(ringo_rwmutex_tryrlock(&r), 0);
	ck_assert_int_eq(ringo_rwmutex_tryrlock(&r), 0);
	ck_assert_int_eq(ringo_rwmutex_trylock(&r), -EBUSY);
	ringo_rwmutex_runlock(&r);
	ringo_rwmutex_runlock(&r);
	ck_assert_int_eq(ringo_rwmutex_trylock(&r), 0);
	ck_assert_int_eq(ringo_rwmutex_tryrlock(&r), -EBUSY);
	ck_assert_int_eq(ringo_rwmutex_trylock(&r), -EBUSY);
	ringo_rwmutex_unlock(&r);
	ringo_rwmutex_lock(&r);
	ringo_rwmutex_unlock(&r);
	return 0;
}

START_TEST(test_rwmutex_fair)
{
	RUN(rwmutex_fair, NULL);
}
END_TEST

/* ---- waitgroup: reuse across rounds, many waiters ------------------------- */

#define WG_ROUNDS 50
#define WG_WORKERS 16
#define WG_WAITERS 8
static ringo_waitgroup round_wg, waiters_wg;
static int wg_results[WG_WORKERS];	/* plain: written by workers, read after wait */
static int wg_round;			/* plain: written by main between rounds */
static _Atomic int wg_waiters_ok;

static void wg_worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	ringo_yield();
	wg_results[i] = wg_round;
	ringo_waitgroup_done(&round_wg);
}

static void wg_waiter(void *arg)
{
	(void)arg;
	ringo_waitgroup_wait(&round_wg);
	/* Every done happened before our wait returned. */
	int ok = 1;
	for (int i = 0; i < WG_WORKERS; i++)
		ok &= wg_results[i] == wg_round;
	atomic_fetch_add(&wg_waiters_ok, ok);
	ringo_waitgroup_done(&waiters_wg);
}

static int waitgroup_rounds(void *arg)
{
	(void)arg;
	atomic_store(&wg_waiters_ok, 0);
	for (int r = 1; r <= WG_ROUNDS; r++) {
		wg_round = r;
		ringo_waitgroup_add(&round_wg, WG_WORKERS);
		ringo_waitgroup_add(&waiters_wg, WG_WAITERS);
		for (int i = 0; i < WG_WAITERS; i++)
			GO_OK(ringo_go(wg_waiter, NULL));
		for (int i = 0; i < WG_WORKERS; i++)
			GO_OK(ringo_go(wg_worker, (void *)(intptr_t)i));
		ringo_waitgroup_wait(&round_wg);
		for (int i = 0; i < WG_WORKERS; i++)
			ck_assert_int_eq(wg_results[i], r);
		/* Reuse only once every waiter of this round has returned. */
		ringo_waitgroup_wait(&waiters_wg);
		ck_assert_int_eq(atomic_load(&wg_waiters_ok), r * WG_WAITERS);
	}
	/* Waiting on a zero group returns at once. */
	ringo_waitgroup_wait(&round_wg);
	return 0;
}

START_TEST(test_waitgroup_rounds)
{
	RUN(waitgroup_rounds, NULL);
}
END_TEST

static int negative_waitgroup(void *arg)
{
	(void)arg;
	ringo_waitgroup wg = RINGO_WAITGROUP_INIT;
	ringo_waitgroup_add(&wg, 1);
	ringo_waitgroup_done(&wg);
	ringo_waitgroup_done(&wg);
	return 0;
}

START_TEST(test_waitgroup_negative)
{
	expect_fatal(negative_waitgroup, "sync: negative WaitGroup counter");
}
END_TEST

/* ---- once: 64 concurrent callers ----------------------------------------- */

#define ONCE_CALLERS 64
static ringo_once once = RINGO_ONCE_INIT;
static int once_runs;		/* plain: written by fn only */
static int once_value;
static _Atomic int once_ok;

static void once_fn(void *arg)
{
	once_runs++;
	ringo_yield();		/* let the others arrive while fn runs */
	once_value = *(int *)arg;
}

static void once_caller(void *arg)
{
	(void)arg;
	static int v = 42;
	ringo_once_do(&once, once_fn, &v);
	/* fn completed before once_do returned, for every caller. */
	atomic_fetch_add(&once_ok, once_value == 42 && once_runs == 1);
}

static int once_many(void *arg)
{
	(void)arg;
	run_n(ONCE_CALLERS, once_caller, NULL);
	ck_assert_int_eq(once_runs, 1);
	ck_assert_int_eq(atomic_load(&once_ok), ONCE_CALLERS);
	ringo_once_do(&once, once_fn, NULL);	/* done: fn is not called */
	ck_assert_int_eq(once_runs, 1);
	return 0;
}

START_TEST(test_once)
{
	RUN(once_many, NULL);
}
END_TEST

/* ---- cond: signal wakes one, broadcast wakes all ------------------------- */

#define COND_N 8
static ringo_mutex cmu;
static ringo_cond cv;
static int cwaiting, cwoken;	/* protected by cmu */

static void cond_waiter(void *arg)
{
	(void)arg;
	ringo_mutex_lock(&cmu);
	cwaiting++;
	ringo_cond_wait(&cv, &cmu);
	cwoken++;
	ringo_mutex_unlock(&cmu);
}

static int locked_read(int *p)
{
	ringo_mutex_lock(&cmu);
	int v = *p;
	ringo_mutex_unlock(&cmu);
	return v;
}

static void wait_for(int *p, int v)
{
	while (locked_read(p) != v)
		ringo_yield();
}

/* Yield a while: a goroutine woken by mistake would run meanwhile. */
static void settle(void)
{
	for (int i = 0; i < 200; i++)
		ringo_yield();
}

static int cond_signal_broadcast(void *arg)
{
	(void)arg;
	cwaiting = cwoken = 0;
	/* A signal with nobody waiting is lost, as in Go. */
	ringo_cond_signal(&cv);
	ringo_cond_broadcast(&cv);

	for (int i = 0; i < COND_N; i++)
		GO_OK(ringo_go(cond_waiter, NULL));
	/* cwaiting is counted under cmu before wait takes its ticket and
	 * unlocks: once it is COND_N every waiter holds a ticket. */
	wait_for(&cwaiting, COND_N);
	settle();
	ck_assert_int_eq(locked_read(&cwoken), 0);
	for (int k = 1; k <= COND_N / 2; k++) {
		ringo_mutex_lock(&cmu);
		ringo_cond_signal(&cv);
		ringo_mutex_unlock(&cmu);
		wait_for(&cwoken, k);
		settle();
		ck_assert_int_eq(locked_read(&cwoken), k);	/* exactly one */
	}
	ringo_cond_broadcast(&cv);	/* without the lock: allowed */
	wait_for(&cwoken, COND_N);
	settle();
	ck_assert_int_eq(locked_read(&cwoken), COND_N);
	return 0;
}

START_TEST(test_cond_signal_broadcast)
{
	RUN(cond_signal_broadcast, NULL);
}
END_TEST

/* A bounded buffer with two conditions: every item arrives exactly once. */
#define BB_CAP 4
#define BB_PRODUCERS 4
#define BB_ITEMS 20000
static ringo_mutex bb_mu;
static ringo_cond bb_not_empty, bb_not_full;
static long bb_buf[BB_CAP];
static int bb_len, bb_head;
static long bb_sum;
static int bb_taken;

static void bb_producer(void *arg)
{
	long base = (long)(intptr_t)arg * BB_ITEMS;
	for (long i = 1; i <= BB_ITEMS; i++) {
		ringo_mutex_lock(&bb_mu);
		while (bb_len == BB_CAP)
			ringo_cond_wait(&bb_not_full, &bb_mu);
		bb_buf[(bb_head + bb_len++) % BB_CAP] = base + i;
		ringo_cond_signal(&bb_not_empty);
		ringo_mutex_unlock(&bb_mu);
	}
}

static void bb_consumer(void *arg)
{
	(void)arg;
	for (;;) {
		ringo_mutex_lock(&bb_mu);
		while (bb_len == 0 && bb_taken < BB_PRODUCERS * BB_ITEMS)
			ringo_cond_wait(&bb_not_empty, &bb_mu);
		if (bb_taken == BB_PRODUCERS * BB_ITEMS) {
			ringo_cond_broadcast(&bb_not_empty);	/* let the others finish */
			ringo_mutex_unlock(&bb_mu);
			return;
		}
		bb_sum += bb_buf[bb_head];
		bb_head = (bb_head + 1) % BB_CAP;
		bb_len--;
		bb_taken++;
		if (bb_taken == BB_PRODUCERS * BB_ITEMS)
			ringo_cond_broadcast(&bb_not_empty);
		ringo_cond_signal(&bb_not_full);
		ringo_mutex_unlock(&bb_mu);
	}
}

static void bb_any(void *arg)
{
	intptr_t i = (intptr_t)arg;
	if (i < BB_PRODUCERS)
		bb_producer((void *)i);
	else
		bb_consumer(NULL);
}

static int cond_bounded_buffer(void *arg)
{
	(void)arg;
	void *args[2 * BB_PRODUCERS];
	for (intptr_t i = 0; i < 2 * BB_PRODUCERS; i++)
		args[i] = (void *)i;
	run_n(2 * BB_PRODUCERS, bb_any, args);
	long n = (long)BB_PRODUCERS * BB_ITEMS;
	ck_assert_int_eq(bb_taken, n);
	ck_assert_int_eq(bb_sum, n * (n + 1) / 2);
	return 0;
}

START_TEST(test_cond_bounded_buffer)
{
	RUN(cond_bounded_buffer, NULL);
}
END_TEST

/* ---- weighted semaphore -------------------------------------------------- */

static ringo_sem fair_sem = RINGO_SEM_INIT(10);
static _Atomic int fair_seq;
static int big_order;			/* written by big, read after the wait group */
static _Atomic int small_acquired;
static _Atomic int small_min_order;

static void sem_big(void *arg)
{
	(void)arg;
	GO_OK(ringo_sem_acquire(&fair_sem, 10));
	big_order = atomic_fetch_add(&fair_seq, 1);
	ringo_yield();
	GO_OK(ringo_sem_release(&fair_sem, 10));
}

static void sem_small(void *arg)
{
	(void)arg;
	GO_OK(ringo_sem_acquire(&fair_sem, 1));
	int o = atomic_fetch_add(&fair_seq, 1);
	atomic_fetch_add(&small_acquired, 1);
	int m = atomic_load(&small_min_order);
	while (o < m && !atomic_compare_exchange_weak(&small_min_order, &m, o))
		;
	ringo_yield();
	GO_OK(ringo_sem_release(&fair_sem, 1));
}

static int sem_fifo(void *arg)
{
	(void)arg;
	ringo_waitgroup wg = RINGO_WAITGROUP_INIT;
	struct spawn_arg big = { sem_big, NULL, &wg }, small[8];
	atomic_store(&small_min_order, 1 << 30);

	GO_OK(ringo_sem_acquire(&fair_sem, 5));
	ringo_waitgroup_add(&wg, 1);
	GO_OK(ringo_go(spawn_trampoline, &big));
	/* Once big is queued, nobody may barge past it: try fails even
	 * though 5 units are free. */
	while (ringo_sem_try_acquire(&fair_sem, 1) == 0) {
		GO_OK(ringo_sem_release(&fair_sem, 1));
		ringo_yield();
	}
	for (int i = 0; i < 8; i++) {
		small[i] = (struct spawn_arg){ sem_small, NULL, &wg };
		ringo_waitgroup_add(&wg, 1);
		GO_OK(ringo_go(spawn_trampoline, &small[i]));
	}
	settle();
	ck_assert_int_eq(atomic_load(&small_acquired), 0);
	GO_OK(ringo_sem_release(&fair_sem, 5));
	ringo_waitgroup_wait(&wg);
	ck_assert_int_eq(big_order, 0);
	ck_assert_int_eq(atomic_load(&small_acquired), 8);
	ck_assert_int_eq(atomic_load(&small_min_order), 1);
	ck_assert_int_eq(ringo_sem_try_acquire(&fair_sem, 10), 0);
	GO_OK(ringo_sem_release(&fair_sem, 10));
	return 0;
}

START_TEST(test_sem_fifo)
{
	RUN(sem_fifo, NULL);
}
END_TEST

#define SEM_SIZE 7
#define SEM_WORKERS 8
#define SEM_ITERS 5000
static ringo_sem stress_sem;
static _Atomic int64_t sem_held;
static _Atomic int sem_over;

static void sem_stress_worker(void *arg)
{
	unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
	for (int i = 0; i < SEM_ITERS; i++) {
		x = x * 1103515245u + 12345u;
		int64_t n = 1 + (int64_t)((x >> 16) % SEM_SIZE);
		GO_OK(ringo_sem_acquire(&stress_sem, n));
		if (atomic_fetch_add(&sem_held, n) + n > SEM_SIZE)
			atomic_store(&sem_over, 1);
		if (i % 7 == 0)
			ringo_yield();
		atomic_fetch_sub(&sem_held, n);
		GO_OK(ringo_sem_release(&stress_sem, n));
	}
}

static int sem_stress(void *arg)
{
	(void)arg;
	ringo_sem zero = { { 0 } };
	ck_assert_int_eq(ringo_sem_acquire(&zero, 0), 0);
	ck_assert_int_eq(ringo_sem_acquire(&zero, 1), -EINVAL);
	ck_assert_int_eq(ringo_sem_init(&stress_sem, -1), -EINVAL);
	ck_assert_int_eq(ringo_sem_init(&stress_sem, SEM_SIZE), 0);
	ck_assert_int_eq(ringo_sem_acquire(&stress_sem, SEM_SIZE + 1), -EINVAL);
	ck_assert_int_eq(ringo_sem_acquire(&stress_sem, -1), -EINVAL);
	ck_assert_int_eq(ringo_sem_try_acquire(&stress_sem, SEM_SIZE + 1), -EINVAL);
	ck_assert_int_eq(ringo_sem_release(&stress_sem, -1), -EINVAL);
	ck_assert_int_eq(ringo_sem_try_acquire(&stress_sem, SEM_SIZE), 0);
	ck_assert_int_eq(ringo_sem_try_acquire(&stress_sem, 1), -EAGAIN);
	GO_OK(ringo_sem_release(&stress_sem, SEM_SIZE));

	void *args[SEM_WORKERS];
	for (intptr_t i = 0; i < SEM_WORKERS; i++)
		args[i] = (void *)i;
	run_n(SEM_WORKERS, sem_stress_worker, args);
	ck_assert_int_eq(atomic_load(&sem_over), 0);
	ck_assert_int_eq(ringo_sem_try_acquire(&stress_sem, SEM_SIZE), 0);
	GO_OK(ringo_sem_release(&stress_sem, SEM_SIZE));
	return 0;
}

START_TEST(test_sem_stress)
{
	RUN(sem_stress, NULL);
}
END_TEST

static int sem_over_release(void *arg)
{
	(void)arg;
	ringo_sem s = RINGO_SEM_INIT(3);
	ringo_sem_acquire(&s, 2);
	ringo_sem_release(&s, 3);
	return 0;
}

START_TEST(test_sem_over_release)
{
	expect_fatal(sem_over_release, "sync: semaphore released more than held");
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

static Suite *sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("sync");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mutex_count);
	tcase_add_test(tc, test_mutex_mixed);
	tcase_add_test(tc, test_mutex_starvation);
	tcase_add_test(tc, test_mutex_unlock_unlocked);
	tcase_add_test(tc, test_rwmutex_fair);
	tcase_add_test(tc, test_waitgroup_rounds);
	tcase_add_test(tc, test_waitgroup_negative);
	tcase_add_test(tc, test_once);
	tcase_add_test(tc, test_cond_signal_broadcast);
	tcase_add_test(tc, test_cond_bounded_buffer);
	tcase_add_test(tc, test_sem_fifo);
	tcase_add_test(tc, test_sem_stress);
	tcase_add_test(tc, test_sem_over_release);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(sync_suite);
}
