/* SPDX-License-Identifier: MIT */
/*
 * spawn-million.c - spawn a million goroutines, let every one of them do a
 * little work, wait for all of them, and say how fast that was.
 *
 *   ./examples/spawn-million [count]
 */
#include <ringo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Atomic long finished;
static _Atomic long sum;

static void worker(void *arg)
{
	atomic_fetch_add_explicit(&sum, (long)(intptr_t)arg, memory_order_relaxed);
	atomic_fetch_add_explicit(&finished, 1, memory_order_release);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(void *arg)
{
	long n = *(long *)arg;
	double t0 = now_s();
	for (long i = 0; i < n; i++) {
		int r = ringo_go(worker, (void *)(intptr_t)i);
		if (r < 0) {
			fprintf(stderr, "ringo_go: %d\n", r);
			return 1;
		}
	}
	double t1 = now_s();
	while (atomic_load_explicit(&finished, memory_order_acquire) < n)
		ringo_yield();
	double t2 = now_s();
	printf("spawned %ld goroutines in %.3f s (%.0f ns each), all done after %.3f s on %d threads\n",
	       n, t1 - t0, (t1 - t0) * 1e9 / n, t2 - t0, ringo_maxprocs(0));
	printf("sum of their arguments: %ld (expected %ld)\n", atomic_load(&sum), n * (n - 1) / 2);
	return atomic_load(&sum) == n * (n - 1) / 2 ? 0 : 1;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	if (n <= 0) {
		fprintf(stderr, "usage: %s [count]\n", argv[0]);
		return 2;
	}
	int r = ringo_run(run, &n);
	if (r < 0)
		fprintf(stderr, "ringo_run: %d\n", r);
	return r == 0 ? 0 : 1;
}
