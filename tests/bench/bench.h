/* SPDX-License-Identifier: MIT */
/*
 * bench.h - helpers for tests/bench: time a run several times, print the
 * median as one "name value unit" line (the unit is the name's suffix:
 * _ns, _us, _bytes, _per_s ...).
 */
#ifndef RINGO_BENCH_H
#define RINGO_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_RUNS 5

static inline int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Print "name value unit", unit taken from the name's last '_' suffix. */
static inline void bench_report(const char *name, double value)
{
	const char *u = strrchr(name, '_');
	u = u ? u + 1 : "";
	if (value >= 100)
		printf("%s %.0f %s\n", name, value, u);
	else
		printf("%s %.2f %s\n", name, value, u);
	fflush(stdout);
}

/* Resident set size of this process in bytes (from /proc/self/statm). */
static inline long bench_rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss * 4096;
}

#endif
