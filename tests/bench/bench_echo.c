/* SPDX-License-Identifier: MIT */
/*
 * bench_echo.c - the echo benchmark (issue 6): examples/echo-server (ringo,
 * a goroutine per connection) against tests/bench/raw_uring_echo (a
 * single-threaded loop on liburing, the limit), both driven by
 * examples/echo-client with 64-byte messages, one in flight per
 * connection. Run from the top build directory (make bench does).
 *
 * Throughput on a shared two-core machine moves by up to 2x between runs,
 * so the servers alternate within one run (A B A B A B) and the medians are
 * compared. Per server and connection count it prints
 *   echo_msgs_per_s_<N>c, echo_p99_us_<N>c,
 *   echo_server_cpu_us_per_msg_<N>c  (the server's own CPU time, from
 *     /proc/PID/task/any/schedstat, over the echoes completed),
 *   syscalls_per_msg_<N>c  (perf stat of raw_syscalls:sys_enter on the
 *     server during the timed window of a separate run; skipped without
 *     perf),
 * and the same with the raw_uring_ prefix, plus echo_cpu_ratio_<N>c (ringo
 * over raw; the target is <= 1.1).
 *
 * Default: 100 and 1,000 connections, 2 s per point, 3 rounds (about a
 * minute). RINGO_BENCH_FULL=1: 100, 1,000 and 10,000 connections, 5 s per
 * point (the matrix, a few minutes). RINGO_BENCH_SECS overrides
 * the seconds per point.
 */
#include <stdbool.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 3

struct server {
	const char *name;	/* prefix of the figures */
	const char *path;	/* program, relative to the build directory */
};

static const struct server servers[2] = {
	{ "echo", "./examples/echo-server" },
	{ "raw_uring", "./tests/bench/raw_uring_echo" },
};

struct sample {
	double msgs_per_s, p99_us, cpu_us_per_msg;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *name, int conns, double v, const char *unit)
{
	printf("%s_%dc %.*f %s\n", name, conns, v >= 100 ? 0 : 2, v, unit);
	fflush(stdout);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* A port nobody listens on right now. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof sin;
	bind(fd, (struct sockaddr *)&sin, l);
	getsockname(fd, (struct sockaddr *)&sin, &l);
	close(fd);
	return ntohs(sin.sin_port);
}

static bool accepting(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return ok;
}

static pid_t spawn(char *const argv[], int out_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		if (out_fd < 0)
			dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static pid_t start_server(const struct server *s, char *addr, size_t n)
{
	int port = free_port();
	snprintf(addr, n, "127.0.0.1:%d", port);
	char *argv[] = { (char *)s->path, addr, NULL };
	pid_t pid = spawn(argv, -1);
	for (int i = 0; i < 500 && !accepting(port); i++)
		sleep_ms(10);
	return pid;
}

static void stop(pid_t pid, int sig)
{
	kill(pid, sig);
	int st;
	waitpid(pid, &st, 0);
}

/* CPU time of every thread of pid, in ns (schedstat's first field). */
static int64_t cpu_ns(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	int64_t total = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char f[320];
		snprintf(f, sizeof f, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		FILE *fp = fopen(f, "r");
		long long ns = 0;
		if (fp && fscanf(fp, "%lld", &ns) == 1)
			total += ns;
		if (fp)
			fclose(fp);
	}
	if (d)
		closedir(d);
	return total;
}

/* perf stat counting the server's system calls, or -1 without perf. */
static pid_t start_perf(pid_t server, const char *out)
{
	if (access("/usr/bin/perf", X_OK) != 0)
		return -1;
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)server);
	char *argv[] = { "/usr/bin/perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter",
			 "-o", (char *)out, "-p", pid, NULL };
	return spawn(argv, -1);
}

static long perf_count(const char *out)
{
	FILE *fp = fopen(out, "r");
	char line[512];
	long n = -1;
	while (fp && fgets(line, sizeof line, fp))
		if (strstr(line, "raw_syscalls:sys_enter") && line[0] >= '0' && line[0] <= '9')
			n = atol(line);
	if (fp)
		fclose(fp);
	return n;
}

/* One client run against addr. Fills *smp; with perf_out, counts the
 * server's system calls in the timed window into *syscalls. */
static bool run_client(pid_t server, const char *addr, int conns, int secs, struct sample *smp,
		       const char *perf_out, long *syscalls)
{
	char c[16], d[16];
	snprintf(c, sizeof c, "%d", conns);
	snprintf(d, sizeof d, "%d", secs);
	int pfd[2];
	if (pipe(pfd) < 0)
		return false;
	char *argv[] = { "./examples/echo-client", "-c", c, "-s", "64", "-d", d, (char *)addr, NULL };
	pid_t cl = spawn(argv, pfd[1]);
	close(pfd[1]);
	FILE *fp = fdopen(pfd[0], "r");
	char line[512];
	int64_t cpu0 = 0;
	pid_t perf = -1;
	long msgs = -1;
	double mps = 0, p99 = 0;
	while (fgets(line, sizeof line, fp)) {
		if (strstr(line, "running for")) {
			/* The timed window starts: every connection is up. */
			cpu0 = cpu_ns(server);
			if (perf_out)
				perf = start_perf(server, perf_out);
		}
		char *m = strstr(line, "msgs=");
		if (m == line)
			sscanf(line, "msgs=%ld secs=%*f msgs_per_s=%lf p50_us=%*f p99_us=%lf", &msgs, &mps, &p99);
	}
	int64_t cpu1 = cpu_ns(server);
	fclose(fp);
	int st;
	waitpid(cl, &st, 0);
	if (perf > 0) {
		stop(perf, SIGINT);
		*syscalls = perf_count(perf_out);
	}
	if (msgs <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return false;
	smp->msgs_per_s = mps;
	smp->p99_us = p99;
	smp->cpu_us_per_msg = (double)(cpu1 - cpu0) / 1e3 / (double)msgs;
	if (syscalls && *syscalls >= 0)
		*syscalls = (long)((double)*syscalls / (double)msgs * 1000);	/* per 1000 msgs */
	return true;
}

int main(void)
{
	for (int i = 0; i < 2; i++)
		if (access(servers[i].path, X_OK) != 0 || access("./examples/echo-client", X_OK) != 0) {
			fprintf(stderr, "bench_echo: run from the top build directory (%s missing)\n",
				servers[i].path);
			return 1;
		}
	signal(SIGPIPE, SIG_IGN);
	bool full = getenv("RINGO_BENCH_FULL") && *getenv("RINGO_BENCH_FULL") == '1';
	int secs = full ? 5 : 2;
	if (getenv("RINGO_BENCH_SECS"))
		secs = atoi(getenv("RINGO_BENCH_SECS"));
	int points[3] = { 100, 1000, 10000 };
	int npoints = full ? 3 : 2;
	char perf_out[64];
	snprintf(perf_out, sizeof perf_out, "/tmp/ringo-bench-perf-%d.txt", (int)getpid());

	for (int pi = 0; pi < npoints; pi++) {
		int conns = points[pi];
		double v[2][3][ROUNDS];
		int got[2] = { 0, 0 };
		for (int r = 0; r < ROUNDS; r++)
			for (int s = 0; s < 2; s++) {	/* A B A B A B */
				char addr[64];
				pid_t srv = start_server(&servers[s], addr, sizeof addr);
				struct sample smp;
				if (run_client(srv, addr, conns, secs, &smp, NULL, NULL)) {
					v[s][0][got[s]] = smp.msgs_per_s;
					v[s][1][got[s]] = smp.p99_us;
					v[s][2][got[s]] = smp.cpu_us_per_msg;
					got[s]++;
				}
				stop(srv, SIGTERM);
			}
		double cpu[2] = { 0, 0 };
		for (int s = 0; s < 2; s++) {
			if (!got[s]) {
				fprintf(stderr, "bench_echo: %s failed at %d connections\n", servers[s].name, conns);
				continue;
			}
			char name[64];
			snprintf(name, sizeof name, "%s_msgs_per_s", servers[s].name);
			report(name, conns, median(v[s][0], got[s]), "msgs/s");
			snprintf(name, sizeof name, "%s_p99_us", servers[s].name);
			report(name, conns, median(v[s][1], got[s]), "us");
			snprintf(name, sizeof name, "%s_server_cpu_us_per_msg", servers[s].name);
			cpu[s] = median(v[s][2], got[s]);
			report(name, conns, cpu[s], "us");
		}
		if (cpu[0] > 0 && cpu[1] > 0)
			report("echo_cpu_ratio", conns, cpu[0] / cpu[1], "x");
		/* System calls: a separate run per server, perf attached to the
		 * timed window only (its probes cost CPU). */
		for (int s = 0; s < 2 && conns <= 1000; s++) {
			char addr[64];
			pid_t srv = start_server(&servers[s], addr, sizeof addr);
			struct sample smp;
			long per1000 = -1;
			if (run_client(srv, addr, conns, secs, &smp, perf_out, &per1000) && per1000 >= 0) {
				char name[64];
				snprintf(name, sizeof name, "%s%ssyscalls_per_msg", s ? servers[s].name : "",
					 s ? "_" : "");
				report(name, conns, (double)per1000 / 1000, "syscalls");
			}
			stop(srv, SIGTERM);
			unlink(perf_out);
		}
	}
	return 0;
}
