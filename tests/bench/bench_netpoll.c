/* SPDX-License-Identifier: MIT */
/*
 * bench_netpoll.c - latencies of the netpoller itself (maxprocs 2).
 *
 *   netpoll_pingpong_ns     one byte there and back between two goroutines
 *                           over a loopback TCP connection (a round trip)
 *   netpoll_busy_delay_us   how long a completion waits when the goroutine
 *                           that would run it shares its P with a CPU-bound
 *                           goroutine and the other P is idle: the reader
 *                           parks, the P's M goes on computing, a thread
 *                           writes the byte; measured from the write to the
 *                           reader running (on the idle P). Without help the
 *                           completion would wait for the 10 ms time slice;
 *                           sysmon kicks the busy thread (its task_work) and
 *                           reaps for it (ringo__netpoll_poll_busy).
 * Medians; the io_uring back-end unless RINGO_NETPOLL says otherwise.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <ringo.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int lfd_acc = -1, lfd;

static void acceptor(void *arg)
{
	(void)arg;
	lfd_acc = ringo_accept(lfd, NULL, NULL);
}

static void tcp_pair(int *a, int *b)
{
	lfd = ringo_listen("tcp", "127.0.0.1:0");
	struct sockaddr_in sin;
	socklen_t l = sizeof sin;
	getsockname(lfd, (struct sockaddr *)&sin, &l);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
	lfd_acc = -1;
	ringo_go(acceptor, NULL);
	*a = ringo_dial("tcp", addr);
	while (lfd_acc == -1)
		ringo_yield();
	*b = lfd_acc;
	ringo_close(lfd);
}

/* ---- ping-pong ------------------------------------------------------------ */

#define PINGS 20000

static void ponger(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char c;
	while (ringo_read(fd, &c, 1) == 1 && ringo_write(fd, &c, 1) == 1)
		;
}

static double pingpong(void)
{
	int a, b;
	tcp_pair(&a, &b);
	ringo_go(ponger, (void *)(intptr_t)b);
	char c = 'p';
	int64_t t0 = ringo_now();
	for (int i = 0; i < PINGS; i++)
		if (ringo_write(a, &c, 1) != 1 || ringo_read(a, &c, 1) != 1)
			return -1;
	double ns = (double)(ringo_now() - t0) / PINGS;
	ringo_close(a);
	return ns;
}

/* ---- busy delay ----------------------------------------------------------- */

#define SAMPLES 15
static _Atomic int64_t t_write, t_run;
static _Atomic pid_t reader_tid;
static int wfd;

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void reader(void *arg)
{
	char c;
	atomic_store(&reader_tid, gettid_());
	if (ringo_read((int)(intptr_t)arg, &c, 1) == 1)
		atomic_store(&t_run, ringo_now());
}

static void *writer(void *arg)
{
	(void)arg;
	usleep(3000);	/* well into the computation */
	atomic_store(&t_write, ringo_now());
	(void)!write(wfd, "b", 1);
	return NULL;
}

/* One sample in microseconds, or -1 if the reader did not share the
 * computing goroutine's thread (then it was never held back). */
static double busy_sample(void)
{
	int a, b;
	tcp_pair(&a, &b);
	wfd = b;
	atomic_store(&t_run, 0);
	atomic_store(&reader_tid, 0);
	ringo_go(reader, (void *)(intptr_t)a);
	/* Park: the reader runs on this P, its recv is queued, and the idle
	 * round submits it; then the computation starts on this thread. */
	ringo_sleep(1000000);
	pid_t me = gettid_();
	pthread_t t;
	pthread_create(&t, NULL, writer, NULL);
	int64_t limit = ringo_now() + 200000000;
	volatile uint64_t x = 0;
	while (atomic_load_explicit(&t_run, memory_order_relaxed) == 0 && ringo_now() < limit)
		x++;	/* CPU-bound: no runtime call, no system call */
	pthread_join(t, NULL);
	while (atomic_load(&t_run) == 0)
		ringo_yield();
	double us = (double)(atomic_load(&t_run) - atomic_load(&t_write)) / 1e3;
	ringo_close(a);
	ringo_close(b);
	return atomic_load(&reader_tid) == me ? us : -1;
}

static int bench(void *arg)
{
	(void)arg;
	double v[SAMPLES];
	for (int i = 0; i < 5; i++)
		v[i] = pingpong();
	bench_report("netpoll_pingpong_ns", bench_median(v, 5));
	int n = 0;
	for (int tries = 0; n < SAMPLES && tries < 4 * SAMPLES; tries++) {
		double us = busy_sample();
		if (us >= 0)
			v[n++] = us;
	}
	if (n)
		bench_report("netpoll_busy_delay_us", bench_median(v, n));
	return 0;
}

int main(void)
{
	setenv("RINGO_MAXPROCS", "2", 1);
	return ringo_run(bench, NULL);
}
