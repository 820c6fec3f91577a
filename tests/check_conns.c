/* SPDX-License-Identifier: MIT */
/* check_conns.c - 10,000 TCP connections held open at once, each one
 * echoing a byte, on io_uring and epoll, maxprocs 1 and 2.
 *
 * The clients run in a forked child process (its own runtime), so each
 * process needs a little over 10,000 descriptors: the test raises
 * RLIMIT_NOFILE to its hard limit and is skipped (exit 77) where that is
 * not enough. The clients wait for each other after their echo, so all
 * 10,000 connections are open together; the server checks that exactly
 * that many were open at its peak. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NCONNS SCALE(10000, 10000)	/* 3,000 under TSan (testutil.h) */

static char addr[64];
static int lfd;

/* ---- the clients (child process) ------------------------------------------ */

static ringo_waitgroup echoed, closed;
static _Atomic int client_bad;

/* The first client failure, for the report: which step, what it returned. */
static void client_failed(const char *step, long r)
{
	if (atomic_fetch_add(&client_bad, 1) == 0)
		fprintf(stderr, "client: %s returned %ld (%s)\n", step, r,
			r < 0 ? strerror((int)-r) : "short or wrong byte");
}

static void client(void *arg)
{
	(void)arg;
	int fd = ringo_dial("tcp", addr);
	char c = 'x';
	long r;
	if (fd < 0)
		client_failed("dial", fd);
	else if ((r = ringo_write(fd, &c, 1)) != 1)
		client_failed("write", r);
	else if ((r = ringo_read(fd, &c, 1)) != 1 || c != 'x')
		client_failed("read", r);
	/* A barrier: nobody closes before everybody has echoed. */
	ringo_waitgroup_done(&echoed);
	ringo_waitgroup_wait(&echoed);
	if (fd >= 0)
		ringo_close(fd);
	ringo_waitgroup_done(&closed);
}

static int clients(void *arg)
{
	(void)arg;
	ringo_waitgroup_add(&echoed, NCONNS);
	ringo_waitgroup_add(&closed, NCONNS);
	for (int i = 0; i < NCONNS; i++)
		if (ringo_go(client, NULL) < 0)
			return 2;
	ringo_waitgroup_wait(&closed);
	return atomic_load(&client_bad) ? 1 : 0;
}

/* ---- the server (this process) --------------------------------------------- */

static _Atomic int active, peak, served, server_bad;
static ringo_waitgroup conns_done;

static void conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	int now = atomic_fetch_add(&active, 1) + 1;
	int p = atomic_load(&peak);
	while (now > p && !atomic_compare_exchange_weak(&peak, &p, now))
		;
	char c;
	if (ringo_read(fd, &c, 1) != 1 || ringo_write(fd, &c, 1) != 1 || ringo_read(fd, &c, 1) != 0)
		atomic_fetch_add(&server_bad, 1);
	atomic_fetch_sub(&active, 1);
	ringo_close(fd);
	ringo_waitgroup_done(&conns_done);
}

static int server(void *arg)
{
	(void)arg;
	ringo_waitgroup_add(&conns_done, NCONNS);
	for (int i = 0; i < NCONNS; i++) {
		int c = ringo_accept(lfd, NULL, NULL);
		ck_assert_msg(c >= 0, "accept: %s", strerror(-c));
		atomic_fetch_add(&served, 1);
		GO_OK(ringo_go(conn, (void *)(intptr_t)c));
	}
	ringo_waitgroup_wait(&conns_done);
	ck_assert_int_eq(ringo_close(lfd), 0);
	return 0;
}

START_TEST(test_10k)
{
	/* The listener exists before the fork, so the clients can dial at once. */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof sin;
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, l), 0);
	ck_assert_int_eq(listen(lfd, 4096), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &l), 0);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(lfd);
		_exit(ringo_run(clients, NULL));
	}
	RUN(server, NULL);
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "clients failed (status %d)", st);
	ck_assert_int_eq(atomic_load(&served), NCONNS);
	ck_assert_int_eq(atomic_load(&server_bad), 0);
	ck_assert_int_eq(atomic_load(&peak), NCONNS);
}
END_TEST

static Suite *conns_suite(void)
{
	Suite *s = suite_create("conns");
	TCase *tc = tcase_create("conns");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_10k);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < NCONNS + 256) {
		printf("RLIMIT_NOFILE is %llu, need %d: skipped\n",
		       (unsigned long long)rl.rlim_cur, NCONNS + 256);
		return 77;
	}
	const char *only = getenv("RINGO_TEST_NETPOLL");
	const char *backends[] = { "uring", "epoll" };
	int failed = 0;
	for (int i = 0; i < 2; i++) {
		if (only && *only && strcmp(only, backends[i]))
			continue;
		setenv("RINGO_NETPOLL", backends[i], 1);
		printf("== netpoll %s ==\n", backends[i]);
		fflush(stdout);
		failed |= ringo_test_main(conns_suite);
	}
	return failed;
}
