/* SPDX-License-Identifier: MIT */
/*
 * echo-client.c - a load generator for echo servers, written with ringo.
 *
 *   echo-client [-c conns] [-s bytes] [-d seconds] [host:port]
 *
 * Opens conns connections (default 100) to host:port (default
 * 127.0.0.1:7000), then for the given seconds (default 5) each connection
 * keeps one message of the given size (default 64) in flight: write it,
 * read the echo back, check it, again. Prints the echoes per second and
 * the median and 99th percentile round-trip latency, and a last line for
 * scripts:
 *
 *   msgs=N secs=S msgs_per_s=R p50_us=A p99_us=B errors=E
 */
#include <ringo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Latency histogram: 16 linear steps per power of two of nanoseconds. */
#define SUB 16
#define NBUCKET (64 * SUB)
static _Atomic uint64_t hist[NBUCKET];

static int bucket(int64_t ns)
{
	if (ns < SUB)
		return (int)(ns < 0 ? 0 : ns);
	int e = 63 - __builtin_clzll((uint64_t)ns);	/* ns in [2^e, 2^e+1) */
	int sub = (int)((ns >> (e - 4)) & (SUB - 1));	/* next 4 bits */
	return (e - 3) * SUB + sub;
}

static int64_t bucket_mid(int b)
{
	if (b < SUB)
		return b;
	int e = b / SUB + 3, sub = b % SUB;
	return ((int64_t)(SUB + sub) << (e - 4)) + ((int64_t)1 << (e - 4)) / 2;
}

static int64_t percentile(double q, uint64_t total)
{
	uint64_t want = (uint64_t)(q * (double)total), seen = 0;
	for (int b = 0; b < NBUCKET; b++)
		if ((seen += atomic_load(&hist[b])) > want)
			return bucket_mid(b);
	return 0;
}

static const char *addr = "127.0.0.1:7000";
static size_t size = 64;
static int64_t secs = 5, start, end;
static _Atomic long msgs, errors;
static ringo_waitgroup ready, done;
static ringo_chan *go;		/* closed when every connection is up */

static bool read_full(int fd, char *buf, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = ringo_read(fd, buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static void conn(void *arg)
{
	(void)arg;
	char *out = malloc(size), *in = malloc(size);
	memset(out, 'e', size);
	int fd = ringo_dial("tcp", addr);
	long n = 0;
	ringo_waitgroup_done(&ready);
	ringo_chan_recv(go, NULL);	/* end is set once go is closed */
	bool ok = fd >= 0 && ringo_set_deadline(fd, end + 1000000000) == 0;
	while (ok && ringo_now() < end) {
		int64_t t0 = ringo_now();
		ok = ringo_write(fd, out, size) == (ssize_t)size && read_full(fd, in, size) &&
		     memcmp(in, out, size) == 0;
		if (ok) {
			atomic_fetch_add_explicit(&hist[bucket(ringo_now() - t0)], 1,
						  memory_order_relaxed);
			n++;
		}
	}
	if (!ok)
		atomic_fetch_add(&errors, 1);
	if (fd >= 0)
		ringo_close(fd);
	atomic_fetch_add(&msgs, n);
	free(out);
	free(in);
	ringo_waitgroup_done(&done);
}

static int run(void *arg)
{
	int nconns = *(int *)arg;
	go = ringo_chan_make(0, 0);
	ringo_waitgroup_add(&ready, nconns);
	ringo_waitgroup_add(&done, nconns);
	for (int i = 0; i < nconns; i++)
		ringo_go(conn, NULL);
	ringo_waitgroup_wait(&ready);
	printf("echo-client: %d connections to %s, running for %lld s\n", nconns, addr, (long long)secs);
	fflush(stdout);
	start = ringo_now();
	end = start + secs * 1000000000;
	ringo_chan_close(go);	/* everybody starts now */
	ringo_waitgroup_wait(&done);
	double el = (double)(ringo_now() - start) / 1e9;
	uint64_t total = 0;
	for (int b = 0; b < NBUCKET; b++)
		total += atomic_load(&hist[b]);
	long m = atomic_load(&msgs);
	double p50 = (double)percentile(0.50, total) / 1e3, p99 = (double)percentile(0.99, total) / 1e3;
	printf("%d connections, %zu bytes: %.0f msgs/s, p50 %.1f us, p99 %.1f us\n",
	       nconns, size, (double)m / el, p50, p99);
	printf("msgs=%ld secs=%.3f msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f errors=%ld\n",
	       m, el, (double)m / el, p50, p99, atomic_load(&errors));
	ringo_chan_unref(go);
	return atomic_load(&errors) ? 1 : 0;
}

int main(int argc, char **argv)
{
	int nconns = 100, opt;
	while ((opt = getopt(argc, argv, "c:s:d:")) != -1) {
		if (opt == 'c')
			nconns = atoi(optarg);
		else if (opt == 's')
			size = (size_t)atol(optarg);
		else if (opt == 'd')
			secs = atol(optarg);
		else {
			fprintf(stderr, "usage: echo-client [-c conns] [-s bytes] [-d seconds] [host:port]\n");
			return 2;
		}
	}
	if (optind < argc)
		addr = argv[optind];
	if (nconns <= 0 || size == 0 || secs <= 0) {
		fprintf(stderr, "echo-client: conns, bytes and seconds must be positive\n");
		return 2;
	}
	struct rlimit rl;	/* one descriptor per connection */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return ringo_run(run, &nconns);
}
