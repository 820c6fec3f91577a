/* SPDX-License-Identifier: MIT */
/*
 * bench_sched.c - scheduler figures:
 *   cpu_mulchain_ns  not ringo's: how fast this CPU runs today (below)
 *   cpu_ilp_ns       not ringo's: how many instructions a cycle it issues today
 *   yield_ns         two goroutines yielding to each other, maxprocs 1, per switch
 *   spawn_ns         spawn and finish 1,000,000 trivial goroutines, maxprocs 1 (warm)
 *   spawn_p2_ns      the same at maxprocs 2
 *   alive_rss_bytes  RSS per live goroutine with 1,000,000 alive at once
 * Each figure is the median of BENCH_RUNS runs, each in a fresh ringo_run.
 */
#include "bench.h"

#include <ringo.h>
#include <stdatomic.h>

/* ---- the machine's speed -------------------------------------------- */

/* One chain of dependent 64-bit multiply-adds, about four cycles an
 * iteration whatever runs around it: its time says how fast this CPU ran
 * today. The development VM's speed moves between days (1.2 ns an
 * iteration on some, 1.85 on others) and every other figure moves with
 * it, so compare figures only between runs with a similar value. */
#define MULCHAIN_ITERS 50000000L

static double mulchain_ns(void)
{
	double v[BENCH_RUNS];
	volatile uint64_t sink = 3;
	for (int r = 0; r < BENCH_RUNS; r++) {
		uint64_t x = sink;
		int64_t t0 = bench_now_ns();
		for (long i = 0; i < MULCHAIN_ITERS; i++)
			x = x * 6364136223846793005ULL + 1;
		int64_t t1 = bench_now_ns();
		sink = x;
		v[r] = (double)(t1 - t0) / MULCHAIN_ITERS;
	}
	return bench_median(v, BENCH_RUNS);
}

/* Six independent one-cycle chains: bound by how many instructions the
 * core issues a cycle, not by one chain's latency: eight instructions an
 * iteration over four integer units, two cycles where cpu_mulchain_ns
 * takes four. When the host runs something on this core's other hardware
 * thread, this figure rises and cpu_mulchain_ns does not (on one such day
 * both read 1.4 ns, and yield_ns was 23 ns instead of 12). The runtime's
 * hot paths run three or four instructions a cycle and slow down with it. */
#if defined(__x86_64__)
#define ILP_ITERS 50000000L

static double ilp_ns(void)
{
	double v[BENCH_RUNS];
	for (int r = 0; r < BENCH_RUNS; r++) {
		uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6;
		int64_t t0 = bench_now_ns();
		for (long i = 0; i < ILP_ITERS; i++)
			__asm__ volatile("addq $1, %0\n\taddq $3, %1\n\txorq $5, %2\n\t"
					 "addq $7, %3\n\tsubq $9, %4\n\torq $2, %5"
					 : "+r"(a), "+r"(b), "+r"(c), "+r"(d), "+r"(e), "+r"(f));
		int64_t t1 = bench_now_ns();
		v[r] = (double)(t1 - t0) / ILP_ITERS;
	}
	return bench_median(v, BENCH_RUNS);
}
#endif

/* ---- yield ---------------------------------------------------------- */

#define YIELDS 2000000
static _Atomic int stop_yield;

static void yield_partner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop_yield, memory_order_relaxed))
		ringo_yield();
}

static int yield_main(void *arg)
{
	double *out = arg;
	atomic_store(&stop_yield, 0);
	ringo_go(yield_partner, NULL);
	for (int i = 0; i < 10000; i++)
		ringo_yield();
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < YIELDS; i++)
		ringo_yield();
	int64_t t1 = bench_now_ns();
	atomic_store(&stop_yield, 1);
	ringo_yield();
	/* each iteration is two switches: main -> partner -> main */
	*out = (double)(t1 - t0) / (2.0 * YIELDS);
	return 0;
}

/* ---- spawn ---------------------------------------------------------- */

#define SPAWNS 1000000
#define BATCH 1000
static _Atomic long spawned_done;

static void trivial(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&spawned_done, 1, memory_order_relaxed);
}

static void spawn_round(long n)
{
	/* Spawn in batches and wait for each: the warm caches (dead Gs with
	 * their touched stacks) are what a server spawning per connection
	 * sees. */
	for (long i = 0; i < n; i += BATCH) {
		long target = atomic_load(&spawned_done) + BATCH;
		for (int k = 0; k < BATCH; k++)
			ringo_go(trivial, NULL);
		while (atomic_load_explicit(&spawned_done, memory_order_relaxed) < target)
			ringo_yield();
	}
}

static int spawn_main(void *arg)
{
	double *out = arg;
	atomic_store(&spawned_done, 0);
	spawn_round(BATCH * 10);	/* warm up */
	int64_t t0 = bench_now_ns();
	spawn_round(SPAWNS);
	int64_t t1 = bench_now_ns();
	*out = (double)(t1 - t0) / SPAWNS;
	return 0;
}

/* ---- alive RSS ------------------------------------------------------ */

#define ALIVE 1000000
static _Atomic int release_all;
static _Atomic long alive_in, alive_out;

static void alive_worker(void *arg)
{
	(void)arg;
	atomic_fetch_add_explicit(&alive_in, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&release_all, memory_order_relaxed))
		ringo_yield();
	atomic_fetch_add_explicit(&alive_out, 1, memory_order_relaxed);
}

static int alive_main(void *arg)
{
	double *out = arg;
	atomic_store(&release_all, 0);
	atomic_store(&alive_in, 0);
	atomic_store(&alive_out, 0);
	long before = bench_rss_bytes();
	for (long i = 0; i < ALIVE; i++)
		if (ringo_go(alive_worker, NULL) < 0)
			return 1;
	while (atomic_load(&alive_in) < ALIVE)
		ringo_yield();
	long after = bench_rss_bytes();
	atomic_store(&release_all, 1);
	while (atomic_load(&alive_out) < ALIVE)
		ringo_yield();
	*out = (double)(after - before) / ALIVE;
	return 0;
}

static double run_median(int (*fn)(void *), const char *maxprocs, int runs)
{
	double v[BENCH_RUNS];
	setenv("RINGO_MAXPROCS", maxprocs, 1);
	for (int i = 0; i < runs; i++)
		if (ringo_run(fn, &v[i]) != 0)
			v[i] = -1;
	return bench_median(v, runs);
}

int main(void)
{
	bench_report("cpu_mulchain_ns", mulchain_ns());
#if defined(__x86_64__)
	bench_report("cpu_ilp_ns", ilp_ns());
#endif
	bench_report("yield_ns", run_median(yield_main, "1", BENCH_RUNS));
	bench_report("spawn_ns", run_median(spawn_main, "1", BENCH_RUNS));
	bench_report("spawn_p2_ns", run_median(spawn_main, "2", BENCH_RUNS));
	bench_report("alive_rss_bytes", run_median(alive_main, "1", 3));
	return 0;
}
