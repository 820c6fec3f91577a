/* SPDX-License-Identifier: MIT */
/*
 * bench_timer.c - timers, preemption and system-call hand-off:
 *   sleep_oversleep_p99_us     100,000 goroutines sleep 10 ms; p99 of wake - deadline
 *                              (default maxprocs; Go 1.19 here: 25.6 ms with 2 Ps)
 *   sleep_oversleep_p1_p99_us  the same at maxprocs 1 (Go 1.19: 59.8 ms)
 *   preempt_latency_p50_us     maxprocs 1, one goroutine spinning in its own code:
 *   preempt_latency_p99_us       how long a goroutine made ready (by a plain
 *                                thread's channel send) waits before it runs
 *   syscall_handoff_us         maxprocs 1: from a goroutine entering a blocking
 *                              read (ringo_syscall_enter) until another goroutine
 *                              of the same P runs (median)
 *   timer_reset_1m_pending_ns  ringo_timer_reset (stop + start) of one timer
 *                              among 1,000,000 pending ones
 * The sleep figures are the median of BENCH_RUNS rounds in one run (warm
 * goroutine stacks); the others pool their samples.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <ringo.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#define MS 1000000LL

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double percentile(int64_t *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof *v, cmp_i64);
	int i = (int)(p * (n - 1) + 0.5);
	return (double)v[i];
}

/* ---- sleep oversleep ------------------------------------------------------ */

#define SLEEPERS 100000
static int64_t late[SLEEPERS];
static ringo_waitgroup sleep_wg;

static void sleeper(void *arg)
{
	int i = (int)(intptr_t)arg;
	int64_t deadline = ringo_now() + 10 * MS;
	ringo_sleep(10 * MS);
	late[i] = ringo_now() - deadline;
	ringo_waitgroup_done(&sleep_wg);
}

static int sleep_main(void *arg)
{
	double *out = arg;
	double p99[BENCH_RUNS + 1];
	for (int r = 0; r <= BENCH_RUNS; r++) {	/* round 0 warms the stacks */
		ringo_waitgroup_add(&sleep_wg, SLEEPERS);
		for (int i = 0; i < SLEEPERS; i++)
			if (ringo_go(sleeper, (void *)(intptr_t)i) < 0)
				return 1;
		ringo_waitgroup_wait(&sleep_wg);
		p99[r] = percentile(late, SLEEPERS, 0.99) / 1000.0;
	}
	*out = bench_median(p99 + 1, BENCH_RUNS);
	return 0;
}

/* ---- preemption latency ---------------------------------------------------- */

#define PREEMPT_SAMPLES 300
static _Atomic int spin_stop;
static _Atomic long spin_count;
static ringo_chan *wake_chan;
static int64_t preempt_wait[PREEMPT_SAMPLES];

static void spinner(void *arg)
{
	(void)arg;
	/* No runtime call: only preemption takes the P away. */
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
		atomic_fetch_add_explicit(&spin_count, 1, memory_order_relaxed);
}

/* A plain thread sends the time at random moments (1-20 ms apart). */
static void *waker(void *arg)
{
	(void)arg;
	uint64_t r = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < PREEMPT_SAMPLES; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		struct timespec ts = { 0, (long)(MS + r % (19 * MS)) };
		nanosleep(&ts, NULL);
		/* The clock is read at the attempt that succeeds: while the
		 * receiver has not taken the last one yet, it is not waiting
		 * and nothing is ready (the first attempt's time would add
		 * the previous sample's wait to this one). */
		int64_t now;
		do
			now = ringo_now();
		while (ringo_chan_try_send(wake_chan, &now) == -EAGAIN && sched_yield() == 0);
	}
	return NULL;
}

static int preempt_main(void *arg)
{
	double *out = arg;
	atomic_store(&spin_stop, 0);
	wake_chan = ringo_chan_make(sizeof(int64_t), 1);
	ringo_go(spinner, NULL);
	pthread_t t;
	pthread_create(&t, NULL, waker, NULL);
	for (int i = 0; i < PREEMPT_SAMPLES; i++) {
		int64_t sent;
		ringo_chan_recv(wake_chan, &sent);
		preempt_wait[i] = ringo_now() - sent;
	}
	atomic_store(&spin_stop, 1);
	pthread_join(t, NULL);
	ringo_chan_unref(wake_chan);
	out[0] = percentile(preempt_wait, PREEMPT_SAMPLES, 0.50) / 1000.0;
	out[1] = percentile(preempt_wait, PREEMPT_SAMPLES, 0.99) / 1000.0;
	return 0;
}

/* ---- syscall hand-off ------------------------------------------------------- */

#define HANDOFFS 300
static int hpipe[2];
static _Atomic int64_t entered;	/* when the reader entered its call */
static int64_t handoff[HANDOFFS];
static _Atomic int other_go;

static void blocked_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < HANDOFFS; i++) {
		char c;
		atomic_store(&other_go, 1);	/* the other goroutine may measure */
		atomic_store(&entered, ringo_now());
		ringo_syscall_enter();
		ssize_t n = read(hpipe[0], &c, 1);
		ringo_syscall_exit();
		if (n != 1)
			return;
	}
}

static void other(void *arg)
{
	(void)arg;
	for (int i = 0; i < HANDOFFS; i++) {
		/* Wait (yielding) until the reader is about to block. */
		while (!atomic_load(&other_go))
			ringo_yield();
		atomic_store(&other_go, 0);
		/* We run again only once the reader's P was handed over (or
		 * before it blocked: then the measurement starts later). */
		ringo_yield();
		handoff[i] = ringo_now() - atomic_load(&entered);
		if (write(hpipe[1], "x", 1) != 1)
			return;
	}
}

static ringo_waitgroup ho_wg;

static void run_and_done(void *arg)
{
	((void (*)(void *))arg)(NULL);
	ringo_waitgroup_done(&ho_wg);
}

static int handoff_main(void *arg)
{
	double *out = arg;
	if (pipe(hpipe) != 0)
		return 1;
	atomic_store(&other_go, 0);
	ringo_waitgroup_add(&ho_wg, 2);
	ringo_go(run_and_done, (void *)other);
	ringo_go(run_and_done, (void *)blocked_reader);
	ringo_waitgroup_wait(&ho_wg);
	close(hpipe[0]);
	close(hpipe[1]);
	*out = percentile(handoff, HANDOFFS, 0.50) / 1000.0;
	return 0;
}

/* ---- timer start/stop with a million pending ----------------------------------- */

#define PENDING 1000000
#define OPS 1000000

static int heap_main(void *arg)
{
	double *out = arg;
	ringo_timer **tms = malloc(sizeof *tms * PENDING);
	uint64_t r = 88172645463325252ULL;
	for (int i = 0; i < PENDING; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		tms[i] = ringo_timer_new(3600 * 1000 * MS + (int64_t)(r % (3600 * 1000 * MS)),
					 NULL, NULL);
	}
	ringo_timer *t = tms[0];
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < OPS; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		ringo_timer_reset(t, 3600 * 1000 * MS + (int64_t)(r % (3600 * 1000 * MS)));
	}
	int64_t t1 = bench_now_ns();
	for (int i = 0; i < PENDING; i++)
		ringo_timer_free(tms[i]);
	free(tms);
	*out = (double)(t1 - t0) / OPS;
	return 0;
}

int main(void)
{
	double v, pl[2];
	const char *mp = getenv("RINGO_MAXPROCS");
	char *saved = mp ? strdup(mp) : NULL;

	if (saved)
		setenv("RINGO_MAXPROCS", saved, 1);
	else
		unsetenv("RINGO_MAXPROCS");
	if (ringo_run(sleep_main, &v) == 0)
		bench_report("sleep_oversleep_p99_us", v);
	setenv("RINGO_MAXPROCS", "1", 1);
	if (ringo_run(sleep_main, &v) == 0)
		bench_report("sleep_oversleep_p1_p99_us", v);
	if (ringo_run(preempt_main, pl) == 0) {
		bench_report("preempt_latency_p50_us", pl[0]);
		bench_report("preempt_latency_p99_us", pl[1]);
	}
	if (ringo_run(handoff_main, &v) == 0)
		bench_report("syscall_handoff_us", v);
	if (ringo_run(heap_main, &v) == 0)
		bench_report("timer_reset_1m_pending_ns", v);
	free(saved);
	return 0;
}
