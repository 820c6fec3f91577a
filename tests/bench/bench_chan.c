/* SPDX-License-Identifier: MIT */
/*
 * bench_chan.c - channel and select figures (issue 3):
 *   chan_pingpong_ns      two goroutines bouncing a value over two unbuffered
 *                         channels, per round trip (maxprocs 1; _p2: maxprocs 2)
 *   chan_pingpong_timer_ns  the same at maxprocs 1 with a timer pending (an
 *                         hour away): a server nearly always has one, and a
 *                         switch must not read the clock each time for it
 *   chan_buffered_ns      producer -> consumer through a channel of capacity
 *                         1024, per item (maxprocs 1; _p2: maxprocs 2)
 *   select_pingpong_ns    ping-pong with each side in a two-case select,
 *                         per round trip (maxprocs 1; _p2: maxprocs 2)
 *   parked_rss_bytes      RSS per goroutine with 1,000,000 goroutines each
 *                         blocked receiving on its own channel (channel included)
 * Each figure is the median of BENCH_RUNS runs, each in a fresh ringo_run.
 * An argument selects the figures whose names contain it.
 */
#include "bench.h"

#include <ringo.h>
#include <stdatomic.h>

/* ---- ping-pong --------------------------------------------------------- */

#define PINGPONG_N 1000000

struct pair {
	ringo_chan *ping, *pong, *quit;
	ringo_chan *done;	/* the partner has finished with the channels */
};

static void pong_side(void *arg)
{
	struct pair *p = arg;
	long v;
	while (ringo_chan_recv(p->ping, &v) == 1)
		ringo_chan_send(p->pong, &v);
	ringo_chan_close(p->done);
}

static double pingpong_round(struct pair *p, long n)
{
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		long v = i;
		ringo_chan_send(p->ping, &v);
		ringo_chan_recv(p->pong, &v);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static int pingpong_main(void *arg)
{
	double *out = arg;
	struct pair p = { ringo_chan_make(sizeof(long), 0), ringo_chan_make(sizeof(long), 0),
			  NULL, ringo_chan_make(0, 0) };
	ringo_go(pong_side, &p);
	pingpong_round(&p, PINGPONG_N / 10);	/* warm up */
	*out = pingpong_round(&p, PINGPONG_N);
	ringo_chan_close(p.ping);
	ringo_chan_recv(p.done, NULL);
	ringo_chan_unref(p.ping);
	ringo_chan_unref(p.pong);
	ringo_chan_unref(p.done);
	return 0;
}

static int pingpong_timer_main(void *arg)
{
	ringo_timer *tm = ringo_timer_new(3600 * 1000000000LL, NULL, NULL);
	if (!tm)
		return 1;
	int ret = pingpong_main(arg);
	ringo_timer_stop(tm);
	ringo_timer_free(tm);
	return ret;
}

/* ---- select ping-pong ------------------------------------------------------ */

static void select_pong_side(void *arg)
{
	struct pair *p = arg;
	long v;
	for (;;) {
		struct ringo_case rc[2] = {
			{ .chan = p->ping, .dir = RINGO_RECV, .elem = &v },
			{ .chan = p->quit, .dir = RINGO_RECV },
		};
		if (ringo_select(rc, 2, 0) != 0)
			break;
		struct ringo_case sc[2] = {
			{ .chan = p->pong, .dir = RINGO_SEND, .elem = &v },
			{ .chan = p->quit, .dir = RINGO_RECV },
		};
		if (ringo_select(sc, 2, 0) != 0)
			break;
	}
	ringo_chan_close(p->done);
}

static double select_round(struct pair *p, long n)
{
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		long v = i;
		struct ringo_case sc[2] = {
			{ .chan = p->ping, .dir = RINGO_SEND, .elem = &v },
			{ .chan = p->quit, .dir = RINGO_RECV },
		};
		ringo_select(sc, 2, 0);
		struct ringo_case rc[2] = {
			{ .chan = p->pong, .dir = RINGO_RECV, .elem = &v },
			{ .chan = p->quit, .dir = RINGO_RECV },
		};
		ringo_select(rc, 2, 0);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

static int select_main(void *arg)
{
	double *out = arg;
	struct pair p = { ringo_chan_make(sizeof(long), 0), ringo_chan_make(sizeof(long), 0),
			  ringo_chan_make(0, 0), ringo_chan_make(0, 0) };
	ringo_go(select_pong_side, &p);
	select_round(&p, PINGPONG_N / 10);
	*out = select_round(&p, PINGPONG_N);
	ringo_chan_close(p.quit);
	ringo_chan_recv(p.done, NULL);
	ringo_chan_unref(p.ping);
	ringo_chan_unref(p.pong);
	ringo_chan_unref(p.quit);
	ringo_chan_unref(p.done);
	return 0;
}

/* ---- buffered producer -> consumer ------------------------------------------ */

#define BUFFERED_N 5000000

static void producer(void *arg)
{
	ringo_chan *c = arg;
	for (long i = 0; i < BUFFERED_N; i++)
		ringo_chan_send(c, &i);
	ringo_chan_close(c);
}

static int buffered_main(void *arg)
{
	double *out = arg;
	ringo_chan *c = ringo_chan_make(sizeof(long), 1024);
	int64_t t0 = bench_now_ns();
	ringo_go(producer, c);
	long v, n = 0;
	while (ringo_chan_recv(c, &v) == 1)
		n++;
	*out = (double)(bench_now_ns() - t0) / (double)n;
	ringo_chan_unref(c);
	return n == BUFFERED_N ? 0 : 1;
}

/* ---- parked goroutines ---------------------------------------------------------- */

#define PARKED 1000000
static _Atomic long parked_in;

static void parked_worker(void *arg)
{
	ringo_chan *c = arg;
	atomic_fetch_add_explicit(&parked_in, 1, memory_order_relaxed);
	ringo_chan_recv(c, NULL);
	ringo_chan_unref(c);
}

static int parked_main(void *arg)
{
	double *out = arg;
	static ringo_chan *chans[PARKED];
	atomic_store(&parked_in, 0);
	memset(chans, 0, sizeof chans);	/* touch the array before measuring */
	long before = bench_rss_bytes();
	for (long i = 0; i < PARKED; i++) {
		chans[i] = ringo_chan_make(0, 0);
		if (!chans[i] || ringo_go(parked_worker, ringo_chan_ref(chans[i])) < 0)
			return 1;
	}
	while (atomic_load(&parked_in) < PARKED)
		ringo_yield();
	for (int i = 0; i < 100; i++)
		ringo_yield();	/* let the last ones park */
	long after = bench_rss_bytes();
	*out = (double)(after - before) / PARKED;
	for (long i = 0; i < PARKED; i++) {
		ringo_chan_close(chans[i]);
		ringo_chan_unref(chans[i]);
	}
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

/* Optional argument: run only the figures whose name contains it. */
static const char *only;

static void figure(const char *name, int (*fn)(void *), const char *maxprocs, int runs)
{
	if (!only || strstr(name, only))
		bench_report(name, run_median(fn, maxprocs, runs));
}

int main(int argc, char **argv)
{
	only = argc > 1 ? argv[1] : NULL;
	figure("chan_pingpong_ns", pingpong_main, "1", BENCH_RUNS);
	figure("chan_pingpong_p2_ns", pingpong_main, "2", BENCH_RUNS);
	figure("chan_pingpong_timer_ns", pingpong_timer_main, "1", BENCH_RUNS);
	figure("chan_buffered_ns", buffered_main, "1", BENCH_RUNS);
	figure("chan_buffered_p2_ns", buffered_main, "2", BENCH_RUNS);
	figure("select_pingpong_ns", select_main, "1", BENCH_RUNS);
	figure("select_pingpong_p2_ns", select_main, "2", BENCH_RUNS);
	/* One run: the figure hardly varies, and each run faults in a
	 * million fresh stack pages. */
	figure("parked_rss_bytes", parked_main, "1", 1);
	return 0;
}
