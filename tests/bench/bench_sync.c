/* SPDX-License-Identifier: MIT */
/*
 * bench_sync.c - sync figures:
 *   mutex_uncontended_ns        lock + unlock by one goroutine, per pair
 *   mutex_uncontended_parallel_ns  Go's BenchmarkMutexUncontended: one goroutine
 *                               per P (maxprocs 2), each with its own padded
 *                               mutex; wall time per lock + unlock pair
 *   mutex_contended_ns          4 goroutines x 1M lock/inc/unlock, maxprocs 2, per op
 *   pthread_mutex_contended_ns  the same with 4 pthreads and a pthread_mutex_t
 *   waitgroup_fanout_ns         spawn 1000 goroutines that call done, wait; per goroutine
 *   waitgroup_fanout_p2_ns      the same at maxprocs 2
 * Each figure is the median of BENCH_RUNS runs, each in a fresh ringo_run.
 */
#include "bench.h"

#include <pthread.h>
#include <ringo.h>

/* ---- uncontended ------------------------------------------------------ */

#define UNCONTENDED 20000000

static int uncontended_main(void *arg)
{
	double *out = arg;
	ringo_mutex m = RINGO_MUTEX_INIT;
	for (int i = 0; i < 100000; i++) {
		ringo_mutex_lock(&m);
		ringo_mutex_unlock(&m);
	}
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < UNCONTENDED; i++) {
		ringo_mutex_lock(&m);
		ringo_mutex_unlock(&m);
	}
	*out = (double)(bench_now_ns() - t0) / UNCONTENDED;
	return 0;
}

/* Go's methodology (RunParallel): throughput of all Ps together. */
#define PAR_G 2
struct padded_mutex {
	ringo_mutex m;
	char pad[128 - sizeof(ringo_mutex)];
} __attribute__((aligned(128)));
static struct padded_mutex par_mu[PAR_G];
static ringo_waitgroup par_wg;

static void par_worker(void *arg)
{
	ringo_mutex *m = &par_mu[(intptr_t)arg].m;
	for (int i = 0; i < UNCONTENDED; i++) {
		ringo_mutex_lock(m);
		ringo_mutex_unlock(m);
	}
	ringo_waitgroup_done(&par_wg);
}

static int parallel_main(void *arg)
{
	double *out = arg;
	int64_t t0 = bench_now_ns();
	ringo_waitgroup_add(&par_wg, PAR_G);
	for (intptr_t i = 0; i < PAR_G; i++)
		ringo_go(par_worker, (void *)i);
	ringo_waitgroup_wait(&par_wg);
	*out = (double)(bench_now_ns() - t0) / ((double)PAR_G * UNCONTENDED);
	return 0;
}

/* ---- contended ---------------------------------------------------------- */

#define WORKERS 4
#define OPS 1000000
static ringo_mutex cmu;
static long counter;
static ringo_waitgroup wg;

static void contender(void *arg)
{
	(void)arg;
	for (int i = 0; i < OPS; i++) {
		ringo_mutex_lock(&cmu);
		counter++;
		ringo_mutex_unlock(&cmu);
	}
	ringo_waitgroup_done(&wg);
}

static int contended_main(void *arg)
{
	double *out = arg;
	counter = 0;
	int64_t t0 = bench_now_ns();
	ringo_waitgroup_add(&wg, WORKERS);
	for (int i = 0; i < WORKERS; i++)
		ringo_go(contender, NULL);
	ringo_waitgroup_wait(&wg);
	*out = (double)(bench_now_ns() - t0) / ((double)WORKERS * OPS);
	return counter == (long)WORKERS * OPS ? 0 : 1;
}

static pthread_mutex_t pmu = PTHREAD_MUTEX_INITIALIZER;
static long pcounter;

static void *pcontender(void *arg)
{
	(void)arg;
	for (int i = 0; i < OPS; i++) {
		pthread_mutex_lock(&pmu);
		pcounter++;
		pthread_mutex_unlock(&pmu);
	}
	return NULL;
}

static double pthread_contended(void)
{
	pthread_t t[WORKERS];
	pcounter = 0;
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, pcontender, NULL);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	return (double)(bench_now_ns() - t0) / ((double)WORKERS * OPS);
}

/* ---- wait group fan-out ------------------------------------------------- */

#define FANOUT 1000
#define FANOUT_ROUNDS 500

static void fan_done(void *arg)
{
	ringo_waitgroup_done(arg);
}

static void fanout_round(void)
{
	ringo_waitgroup fwg = RINGO_WAITGROUP_INIT;
	ringo_waitgroup_add(&fwg, FANOUT);
	for (int i = 0; i < FANOUT; i++)
		ringo_go(fan_done, &fwg);
	ringo_waitgroup_wait(&fwg);
}

static int fanout_main(void *arg)
{
	double *out = arg;
	for (int r = 0; r < 10; r++)
		fanout_round();	/* warm the goroutine caches */
	int64_t t0 = bench_now_ns();
	for (int r = 0; r < FANOUT_ROUNDS; r++)
		fanout_round();
	*out = (double)(bench_now_ns() - t0) / ((double)FANOUT * FANOUT_ROUNDS);
	return 0;
}

/* ------------------------------------------------------------------------- */

static double run_median(int (*fn)(void *), const char *maxprocs)
{
	double v[BENCH_RUNS];
	setenv("RINGO_MAXPROCS", maxprocs, 1);
	for (int i = 0; i < BENCH_RUNS; i++)
		if (ringo_run(fn, &v[i]) != 0)
			v[i] = -1;
	return bench_median(v, BENCH_RUNS);
}

int main(void)
{
	bench_report("mutex_uncontended_ns", run_median(uncontended_main, "1"));
	bench_report("mutex_uncontended_parallel_ns", run_median(parallel_main, "2"));
	bench_report("mutex_contended_ns", run_median(contended_main, "2"));
	double v[BENCH_RUNS];
	for (int i = 0; i < BENCH_RUNS; i++)
		v[i] = pthread_contended();
	bench_report("pthread_mutex_contended_ns", bench_median(v, BENCH_RUNS));
	bench_report("waitgroup_fanout_ns", run_median(fanout_main, "1"));
	bench_report("waitgroup_fanout_p2_ns", run_median(fanout_main, "2"));
	return 0;
}
