/* SPDX-License-Identifier: MIT */
/* check_net.c - the netpoller and the socket API on real loopback sockets:
 * echo at scale with every byte verified, partial writes, accept storms,
 * deadlines, close from another goroutine, refused and timed-out dials,
 * half-close, unix and UDP sockets, readiness, bad arguments, signals as
 * channel sends, and the lifetime of a cancelled read's stack buffer (run
 * it under ASan).
 *
 * The whole suite runs on both back-ends (io_uring, then epoll), each at
 * maxprocs 1 and 2; RINGO_TEST_NETPOLL="uring" picks one. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

/* Listen on loopback, port chosen by the kernel; addr gets "127.0.0.1:N". */
static int listen_local(const char *net, char *addr, size_t n)
{
	int lfd = ringo_listen(net, "127.0.0.1:0");
	ck_assert_msg(lfd >= 0, "listen: %s", strerror(-lfd));
	struct sockaddr_in sin;
	socklen_t l = sizeof sin;
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &l), 0);
	snprintf(addr, n, "127.0.0.1:%d", ntohs(sin.sin_port));
	return lfd;
}

/* Read exactly n bytes (0 at a clean end of stream before any byte). */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = ringo_read(fd, (char *)buf + got, n - got);
		if (r < 0)
			return r;
		if (r == 0)
			return (ssize_t)got;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Connected TCP pair a (dialled) and b (accepted). */
struct pair_accept {
	int lfd;
	_Atomic int fd;
};
static void pair_accept(void *arg)
{
	struct pair_accept *pa = arg;
	atomic_store(&pa->fd, ringo_accept(pa->lfd, NULL, NULL));
}
static void tcp_pair(int *a, int *b)
{
	char addr[64];
	struct pair_accept pa = { listen_local("tcp", addr, sizeof addr), -1 };
	GO_OK(ringo_go(pair_accept, &pa));
	*a = ringo_dial("tcp", addr);
	ck_assert_msg(*a >= 0, "dial: %s", strerror(-*a));
	while (atomic_load(&pa.fd) == -1)
		ringo_yield();
	ck_assert_msg(atomic_load(&pa.fd) >= 0, "accept: %s", strerror(-atomic_load(&pa.fd)));
	*b = atomic_load(&pa.fd);
	ck_assert_int_eq(ringo_close(pa.lfd), 0);
}

/* The echo server: a goroutine per connection. */
struct echo_server {
	int lfd;
	_Atomic int served;
	ringo_waitgroup done;
};

static void echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	for (;;) {
		ssize_t n = ringo_read(fd, buf, sizeof buf);
		if (n <= 0 || ringo_write(fd, buf, (size_t)n) < 0)
			break;
	}
	ringo_close(fd);
}

static void echo_accept(void *arg)
{
	struct echo_server *es = arg;
	for (;;) {
		int c = ringo_accept(es->lfd, NULL, NULL);
		if (c < 0)
			break;
		atomic_fetch_add(&es->served, 1);
		GO_OK(ringo_go(echo_conn, (void *)(intptr_t)c));
	}
	ringo_waitgroup_done(&es->done);
}

static void echo_start(struct echo_server *es, const char *net, char *addr, size_t n)
{
	memset(es, 0, sizeof *es);
	es->lfd = listen_local(net, addr, n);
	ringo_waitgroup_add(&es->done, 1);
	GO_OK(ringo_go(echo_accept, es));
}

static void echo_stop(struct echo_server *es)
{
	ck_assert_int_eq(ringo_close(es->lfd), 0);
	ringo_waitgroup_wait(&es->done);
}

/* ---- 1,000 connections x 100 messages, every byte verified -------------- */

#define NCONN 1000
#define NMSG 100
static char echo_addr[64];
static ringo_waitgroup clients_done;
static _Atomic long bytes_ok, client_errors;

static void echo_client(void *arg)
{
	int idx = (int)(intptr_t)arg;
	unsigned char out[512], in[512];
	int fd = ringo_dial("tcp", echo_addr);
	if (fd < 0) {
		atomic_fetch_add(&client_errors, 1);
		goto out;
	}
	for (int m = 0; m < NMSG; m++) {
		size_t len = 1 + (size_t)(idx * 7 + m * 13) % sizeof out;
		for (size_t i = 0; i < len; i++)
			out[i] = (unsigned char)(idx ^ (m * 31) ^ (int)i);
		if (ringo_write(fd, out, len) != (ssize_t)len ||
		    read_full(fd, in, len) != (ssize_t)len || memcmp(in, out, len) != 0) {
			atomic_fetch_add(&client_errors, 1);
			break;
		}
		atomic_fetch_add(&bytes_ok, (long)len);
	}
	ringo_close(fd);
out:
	ringo_waitgroup_done(&clients_done);
}

static long expected_bytes(void)
{
	long t = 0;
	for (int idx = 0; idx < NCONN; idx++)
		for (int m = 0; m < NMSG; m++)
			t += 1 + (idx * 7 + m * 13) % 512;
	return t;
}

static int echo_many(void *arg)
{
	(void)arg;
	struct echo_server es;
	echo_start(&es, "tcp", echo_addr, sizeof echo_addr);
	atomic_store(&bytes_ok, 0);
	atomic_store(&client_errors, 0);
	ringo_waitgroup_add(&clients_done, NCONN);
	for (int i = 0; i < NCONN; i++)
		GO_OK(ringo_go(echo_client, (void *)(intptr_t)i));
	ringo_waitgroup_wait(&clients_done);
	ck_assert_int_eq(atomic_load(&client_errors), 0);
	ck_assert_int_eq(atomic_load(&bytes_ok), expected_bytes());
	ck_assert_int_eq(atomic_load(&es.served), NCONN);
	echo_stop(&es);
	return 0;
}

START_TEST(test_echo_many)
{
	RUN(echo_many, NULL);
}
END_TEST

/* ---- a 16 MiB write completes through partial writes ------------------- */

#define BIG (16u << 20)
static _Atomic long big_verified;

static inline unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 31 + 7 + (i >> 13));
}

static void big_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static unsigned char buf[3000];	/* odd size: many small reads */
	size_t off = 0;
	long ok = 0;
	for (;;) {
		ssize_t n = ringo_read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			ok += buf[i] == pattern(off + (size_t)i);
		off += (size_t)n;
	}
	atomic_store(&big_verified, ok);
	ringo_write(fd, "k", 1);
	ringo_close(fd);
}

static int big_write(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	atomic_store(&big_verified, -1);
	GO_OK(ringo_go(big_reader, (void *)(intptr_t)b));
	unsigned char *buf = malloc(BIG);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < BIG; i++)
		buf[i] = pattern(i);
	ck_assert_int_eq(ringo_write(a, buf, BIG), (ssize_t)BIG);
	ck_assert_int_eq(ringo_shutdown(a, SHUT_WR), 0);
	char k = 0;
	ck_assert_int_eq(ringo_read(a, &k, 1), 1);
	ck_assert_int_eq(k, 'k');
	ck_assert_int_eq(atomic_load(&big_verified), (long)BIG);
	ck_assert_int_eq(ringo_close(a), 0);
	free(buf);
	return 0;
}

START_TEST(test_big_write)
{
	RUN(big_write, NULL);
}
END_TEST

/* ---- many clients connecting at once ----------------------------------- */

#define STORM 300
static _Atomic int storm_ok;

static void storm_client(void *arg)
{
	(void)arg;
	int fd = ringo_dial("tcp", echo_addr);
	char c;
	if (fd >= 0 && ringo_write(fd, "s", 1) == 1 && ringo_read(fd, &c, 1) == 1 && c == 's')
		atomic_fetch_add(&storm_ok, 1);
	if (fd >= 0)
		ringo_close(fd);
	ringo_waitgroup_done(&clients_done);
}

static int accept_storm(void *arg)
{
	(void)arg;
	struct echo_server es;
	echo_start(&es, "tcp", echo_addr, sizeof echo_addr);
	atomic_store(&storm_ok, 0);
	ringo_waitgroup_add(&clients_done, STORM);
	for (int i = 0; i < STORM; i++)
		GO_OK(ringo_go(storm_client, NULL));
	ringo_waitgroup_wait(&clients_done);
	ck_assert_int_eq(atomic_load(&storm_ok), STORM);
	ck_assert_int_eq(atomic_load(&es.served), STORM);
	echo_stop(&es);
	return 0;
}

START_TEST(test_accept_storm)
{
	RUN(accept_storm, NULL);
}
END_TEST

/* ---- deadlines ----------------------------------------------------------- */

static int deadlines(void *arg)
{
	(void)arg;
	int a, b;
	char c;
	tcp_pair(&a, &b);
	/* A read that waits past its deadline fails... */
	ck_assert_int_eq(ringo_set_read_deadline(a, ringo_now() + 30 * 1000000), 0);
	ck_assert_int_eq(ringo_read(a, &c, 1), -ETIMEDOUT);
	/* ...and so does every read until the deadline moves. */
	ck_assert_int_eq(ringo_read(a, &c, 1), -ETIMEDOUT);
	ck_assert_int_eq(ringo_write(a, "w", 1), 1);	/* writes are not affected */
	ck_assert_int_eq(ringo_read(b, &c, 1), 1);
	ck_assert_int_eq(ringo_set_read_deadline(a, 0), 0);
	ck_assert_int_eq(ringo_write(b, "x", 1), 1);
	ck_assert_int_eq(ringo_read(a, &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	/* A deadline in the past fails at once; a later one lets data in. */
	ck_assert_int_eq(ringo_set_deadline(a, ringo_now() - 1), 0);
	ck_assert_int_eq(ringo_read(a, &c, 1), -ETIMEDOUT);
	ck_assert_int_eq(ringo_write(a, "w", 1), -ETIMEDOUT);
	ck_assert_int_eq(ringo_set_deadline(a, ringo_now() + 10 * 1000000000LL), 0);
	ck_assert_int_eq(ringo_write(b, "y", 1), 1);
	ck_assert_int_eq(ringo_read(a, &c, 1), 1);
	ck_assert_int_eq(c, 'y');
	/* A write that cannot finish (nobody reads b) times out. */
	size_t big = 64u << 20;
	char *buf = calloc(1, big);
	ck_assert_int_eq(ringo_set_write_deadline(a, ringo_now() + 50 * 1000000), 0);
	ck_assert_int_eq(ringo_write(a, buf, big), -ETIMEDOUT);
	free(buf);
	ck_assert_int_eq(ringo_close(a), 0);
	ck_assert_int_eq(ringo_close(b), 0);
	ck_assert_int_eq(ringo_set_deadline(a, 0), -EBADF);
	return 0;
}

START_TEST(test_deadlines)
{
	RUN(deadlines, NULL);
}
END_TEST

/* ---- ringo_close from another goroutine wakes reader and writer -------- */

static _Atomic long close_read_res, close_write_res;
static ringo_waitgroup blocked_done;

static void blocked_reader(void *arg)
{
	char c;
	atomic_store(&close_read_res, ringo_read((int)(intptr_t)arg, &c, 1));
	ringo_waitgroup_done(&blocked_done);
}

static void blocked_writer(void *arg)
{
	size_t big = 64u << 20;
	char *buf = calloc(1, big);
	atomic_store(&close_write_res, ringo_write((int)(intptr_t)arg, buf, big));
	free(buf);
	ringo_waitgroup_done(&blocked_done);
}

static int close_wakes(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	ringo_waitgroup_add(&blocked_done, 2);
	GO_OK(ringo_go(blocked_reader, (void *)(intptr_t)a));
	GO_OK(ringo_go(blocked_writer, (void *)(intptr_t)a));
	test_wait_parked("IO wait (recv)", 1);
	test_wait_parked("IO wait (send)", 1);
	ck_assert_int_eq(ringo_close(a), 0);
	ringo_waitgroup_wait(&blocked_done);
	ck_assert_int_eq(atomic_load(&close_read_res), -EBADF);
	ck_assert_int_eq(atomic_load(&close_write_res), -EBADF);
	/* The number is free: using it again is EBADF, closing twice too. */
	char c;
	ck_assert_int_eq(ringo_read(a, &c, 1), -EBADF);
	ck_assert_int_eq(ringo_close(a), -EBADF);
	ck_assert_int_eq(ringo_close(b), 0);
	return 0;
}

START_TEST(test_close_wakes)
{
	RUN(close_wakes, NULL);
}
END_TEST

/* ---- dials that fail ----------------------------------------------------- */

static int dial_refused(void *arg)
{
	(void)arg;
	char addr[64];
	int lfd = listen_local("tcp", addr, sizeof addr);
	ck_assert_int_eq(ringo_close(lfd), 0);
	ck_assert_int_eq(ringo_dial("tcp", addr), -ECONNREFUSED);
	ck_assert_int_eq(ringo_dial_timeout("tcp", addr, 1000000000), -ECONNREFUSED);
	return 0;
}

START_TEST(test_dial_refused)
{
	RUN(dial_refused, NULL);
}
END_TEST

/* A listener whose accept queue is full drops new SYNs: the dial waits
 * until its timeout. */
static int dial_timeout(void *arg)
{
	(void)arg;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof sin;
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, l), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &l), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sin.sin_port));
	int fds[16], n = 0, r = 0;
	for (n = 0; n < 16; n++) {
		r = ringo_dial_timeout("tcp", addr, 100 * 1000000);
		if (r < 0)
			break;
		fds[n] = r;
	}
	ck_assert_int_eq(r, -ETIMEDOUT);
	ck_assert_int_lt(n, 16);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(ringo_close(fds[i]), 0);
	close(lfd);
	return 0;
}

START_TEST(test_dial_timeout)
{
	RUN(dial_timeout, NULL);
}
END_TEST

/* ---- half-close ---------------------------------------------------------- */

static void half_server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[64];
	size_t total = 0;
	ssize_t n;
	while ((n = ringo_read(fd, buf, sizeof buf)) > 0)
		total += (size_t)n;
	/* End of stream seen; the other direction still works. */
	char reply[32];
	int len = snprintf(reply, sizeof reply, "got %zu", total);
	ringo_write(fd, reply, (size_t)len);
	ringo_close(fd);
}

static int half_close(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	GO_OK(ringo_go(half_server, (void *)(intptr_t)b));
	ck_assert_int_eq(ringo_write(a, "hello, world", 12), 12);
	ck_assert_int_eq(ringo_shutdown(a, SHUT_WR), 0);
	char buf[64];
	ssize_t n = read_full(a, buf, sizeof buf);
	ck_assert_int_eq(n, 6);
	ck_assert(!memcmp(buf, "got 12", 6));
	ck_assert_int_eq(ringo_read(a, buf, 1), 0);
	ck_assert_int_eq(ringo_write(a, "x", 1), -EPIPE);
	ck_assert_int_eq(ringo_shutdown(a, 42), -EINVAL);
	ck_assert_int_eq(ringo_close(a), 0);
	return 0;
}

START_TEST(test_half_close)
{
	RUN(half_close, NULL);
}
END_TEST

/* ---- unix sockets -------------------------------------------------------- */

static void unix_echo_once(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	int c = ringo_accept(lfd, NULL, NULL);
	if (c >= 0)
		echo_conn((void *)(intptr_t)c);
}

static void unix_roundtrip(const char *path)
{
	int lfd = ringo_listen("unix", path);
	ck_assert_msg(lfd >= 0, "listen %s: %s", path, strerror(-lfd));
	GO_OK(ringo_go(unix_echo_once, (void *)(intptr_t)lfd));
	int fd = ringo_dial("unix", path);
	ck_assert_msg(fd >= 0, "dial %s: %s", path, strerror(-fd));
	char buf[16];
	for (int i = 0; i < 100; i++) {
		ck_assert_int_eq(ringo_write(fd, "unix!", 5), 5);
		ck_assert_int_eq(read_full(fd, buf, 5), 5);
		ck_assert(!memcmp(buf, "unix!", 5));
	}
	ck_assert_int_eq(ringo_close(fd), 0);
	ck_assert_int_eq(ringo_close(lfd), 0);
}

static int unix_sockets(void *arg)
{
	(void)arg;
	char path[108];
	snprintf(path, sizeof path, "/tmp/ringo-check-net-%d.sock", (int)getpid());
	unlink(path);
	unix_roundtrip(path);
	unlink(path);
	snprintf(path, sizeof path, "@ringo-check-net-%d", (int)getpid());
	unix_roundtrip(path);
	return 0;
}

START_TEST(test_unix)
{
	RUN(unix_sockets, NULL);
}
END_TEST

/* ---- UDP ----------------------------------------------------------------- */

static void udp_server(void *arg)
{
	int fd = (int)(intptr_t)arg;
	for (int i = 0; i < 10; i++) {
		char buf[64];
		struct sockaddr_storage from;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from,
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = ringo_recvmsg(fd, &msg, 0);
		if (n < 0)
			return;
		iov.iov_len = (size_t)n;
		ringo_sendmsg(fd, &msg, 0);
	}
}

static int udp_roundtrip(void *arg)
{
	(void)arg;
	char addr[64];
	int s = listen_local("udp", addr, sizeof addr);
	GO_OK(ringo_go(udp_server, (void *)(intptr_t)s));
	int c = ringo_dial("udp", addr);
	ck_assert_msg(c >= 0, "dial udp: %s", strerror(-c));
	for (int i = 0; i < 10; i++) {
		char msg[32], buf[64];
		int len = snprintf(msg, sizeof msg, "datagram %d", i);
		ck_assert_int_eq(ringo_send(c, msg, (size_t)len, 0), len);
		ck_assert_int_eq(ringo_recv(c, buf, sizeof buf, 0), len);
		ck_assert(!memcmp(buf, msg, (size_t)len));
	}
	ck_assert_int_eq(ringo_close(c), 0);
	ck_assert_int_eq(ringo_close(s), 0);
	return 0;
}

START_TEST(test_udp)
{
	RUN(udp_roundtrip, NULL);
}
END_TEST

/* ---- IPv6 (skipped where loopback has no ::1) ---------------------------- */

static int ipv6(void *arg)
{
	(void)arg;
	int lfd = ringo_listen("tcp6", "[::1]:0");
	if (lfd == -EADDRNOTAVAIL || lfd == -EAFNOSUPPORT)
		return 0;
	ck_assert_msg(lfd >= 0, "listen tcp6: %s", strerror(-lfd));
	struct sockaddr_in6 sin6;
	socklen_t l = sizeof sin6;
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin6, &l), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "[::1]:%d", ntohs(sin6.sin6_port));
	GO_OK(ringo_go(unix_echo_once, (void *)(intptr_t)lfd));
	int fd = ringo_dial("tcp", addr);
	ck_assert_msg(fd >= 0, "dial %s: %s", addr, strerror(-fd));
	char buf[4];
	ck_assert_int_eq(ringo_write(fd, "six", 3), 3);
	ck_assert_int_eq(read_full(fd, buf, 3), 3);
	ck_assert(!memcmp(buf, "six", 3));
	ck_assert_int_eq(ringo_close(fd), 0);
	ck_assert_int_eq(ringo_close(lfd), 0);
	return 0;
}

START_TEST(test_ipv6)
{
	RUN(ipv6, NULL);
}
END_TEST

/* ---- readiness ----------------------------------------------------------- */

static int poll_ready(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	ck_assert_int_eq(ringo_poll(a, POLLIN, 0), 0);
	ck_assert_int_eq(ringo_poll(a, POLLIN, 20 * 1000000), 0);	/* times out */
	ck_assert(ringo_poll(a, POLLOUT, -1) & POLLOUT);
	ck_assert_int_eq(ringo_write(b, "p", 1), 1);
	ck_assert(ringo_poll(a, POLLIN, -1) & POLLIN);
	ck_assert(ringo_poll(a, POLLIN, 0) & POLLIN);
	ck_assert_int_eq(ringo_poll(a, 0x40000000, -1), -EINVAL);
	ck_assert_int_eq(ringo_close(a), 0);
	ck_assert_int_eq(ringo_close(b), 0);
	return 0;
}

/* A descriptor ringo did not make and that stays blocking (a pipe, as a
 * foreign library would hand us): waiting without a timeout must wait,
 * on either back-end. The writer's delay only makes the wait likely to
 * be a real one; the result is the same either way. */
static void *late_writer(void *arg)
{
	struct timespec ts = { 0, 20 * 1000000 };
	nanosleep(&ts, NULL);
	ck_assert_int_eq(write(*(int *)arg, "w", 1), 1);
	return NULL;
}

static int poll_blocking_pipe(void *arg)
{
	(void)arg;
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(ringo_poll(p[0], POLLIN, 0), 0);
	ck_assert_int_eq(ringo_poll(p[0], POLLIN, 5 * 1000000), 0);	/* times out */
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, late_writer, &p[1]), 0);
	ck_assert(ringo_poll(p[0], POLLIN, -1) & POLLIN);
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
	return 0;
}

START_TEST(test_poll)
{
	RUN(poll_ready, NULL);
	RUN(poll_blocking_pipe, NULL);
}
END_TEST

/* ---- arguments ------------------------------------------------------------ */

static int bad_args(void *arg)
{
	(void)arg;
	ck_assert_int_eq(ringo_listen("sctp", "127.0.0.1:0"), -EINVAL);
	ck_assert_int_eq(ringo_listen(NULL, "127.0.0.1:0"), -EINVAL);
	ck_assert_int_eq(ringo_listen("tcp", "127.0.0.1"), -EINVAL);
	ck_assert_int_eq(ringo_listen("tcp", "::1:80"), -EINVAL);
	ck_assert_int_eq(ringo_listen("tcp", NULL), -EINVAL);
	ck_assert_int_eq(ringo_dial("tcp", "127.0.0.1:"), -EINVAL);
	ck_assert_int_eq(ringo_dial_timeout("tcp", "127.0.0.1:1", -1), -EINVAL);
	ck_assert_int_eq(ringo_listen("unix", ""), -EINVAL);
	int a, b;
	tcp_pair(&a, &b);
	ck_assert_int_eq(ringo_read(a, NULL, 1), -EINVAL);
	ck_assert_int_eq(ringo_write(a, NULL, 1), -EINVAL);
	ck_assert_int_eq(ringo_readv(a, NULL, 1), -EINVAL);
	ck_assert_int_eq(ringo_recvmsg(a, NULL, 0), -EINVAL);
	ck_assert_int_eq(ringo_accept(a, NULL, NULL), -EINVAL);	/* not a listener */
	ck_assert_int_eq(ringo_read(-1, &a, 1), -EBADF);
	ck_assert_int_eq(ringo_close(-1), -EBADF);
	/* readv/writev move everything across several buffers */
	struct iovec out[3] = { { "ab", 2 }, { "", 0 }, { "cdef", 4 } };
	ck_assert_int_eq(ringo_writev(a, out, 3), 6);
	char x[3], y[3];
	struct iovec in[2] = { { x, 3 }, { y, 3 } };
	ssize_t got = 0;
	while (got < 6) {
		ssize_t n = ringo_readv(b, in, 2);
		ck_assert_int_gt(n, 0);
		got += n;
		if (got < 6) {
			/* rare: the bytes arrived in two segments */
			in[0].iov_base = (char *)in[0].iov_base + n;
			in[0].iov_len -= (size_t)n;
		}
	}
	ck_assert(!memcmp(x, "abc", 3) && !memcmp(y, "def", 3));
	ck_assert_int_eq(ringo_close(a), 0);
	ck_assert_int_eq(ringo_close(b), 0);
	return 0;
}

START_TEST(test_bad_args)
{
	char c;
	ck_assert_int_eq(ringo_listen("tcp", "127.0.0.1:0"), -EPERM);
	ck_assert_int_eq(ringo_dial("tcp", "127.0.0.1:1"), -EPERM);
	ck_assert_int_eq(ringo_read(0, &c, 1), -EPERM);
	ck_assert_int_eq(ringo_write(1, &c, 1), -EPERM);
	ck_assert_int_eq(ringo_close(0), -EPERM);
	ck_assert_int_eq(ringo_set_deadline(0, 0), -EPERM);
	ck_assert_int_eq(ringo_poll(0, POLLIN, 0), -EPERM);
	RUN(bad_args, NULL);
}
END_TEST

/* ---- lifetime: a cancelled read never writes into a reused stack -------- */

/* The reader's buffer is on its stack. Its deadline cancels the read; it
 * returns, and other goroutines reuse the stack and fill it with a
 * pattern. Then the data arrives: it must be read by a fresh read (the
 * cancelled one consumed nothing) and the reused stacks must be intact.
 * Under ASan a write into a dead frame also shows up as an error. */
static _Atomic long lifetime_res;
static _Atomic int stack_damage;
static ringo_waitgroup reusers_done;

static __attribute__((noinline)) void stack_reader(void *arg)
{
	volatile char buf[256];
	memset((char *)buf, 0, sizeof buf);
	int fd = (int)(intptr_t)arg;
	ringo_set_read_deadline(fd, ringo_now() + 20 * 1000000);
	atomic_store(&lifetime_res, ringo_read(fd, (char *)buf, sizeof buf));
}

static __attribute__((noinline)) void stack_reuser(void *arg)
{
	volatile unsigned char frame[4096];
	(void)arg;
	for (size_t i = 0; i < sizeof frame; i++)
		frame[i] = (unsigned char)(0xa5 ^ i);
	/* Let the data arrive while we sit on the stack. */
	for (int k = 0; k < 50; k++)
		ringo_yield();
	for (size_t i = 0; i < sizeof frame; i++)
		if (frame[i] != (unsigned char)(0xa5 ^ i))
			atomic_fetch_add(&stack_damage, 1);
	ringo_waitgroup_done(&reusers_done);
}

static int lifetime(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	atomic_store(&lifetime_res, 1);
	GO_OK(ringo_go(stack_reader, (void *)(intptr_t)a));
	while (atomic_load(&lifetime_res) == 1)
		ringo_yield();
	ck_assert_int_eq(atomic_load(&lifetime_res), -ETIMEDOUT);
	/* The reader is gone; its stack goes to the next goroutines. */
	const int nreuse = 64;
	ringo_waitgroup_add(&reusers_done, nreuse);
	for (int i = 0; i < nreuse; i++)
		GO_OK(ringo_go(stack_reuser, NULL));
	char data[256];
	memset(data, 'D', sizeof data);
	ck_assert_int_eq(ringo_write(b, data, sizeof data), (ssize_t)sizeof data);
	ringo_waitgroup_wait(&reusers_done);
	ck_assert_int_eq(atomic_load(&stack_damage), 0);
	ck_assert_int_eq(ringo_set_read_deadline(a, 0), 0);
	char got[256];
	ck_assert_int_eq(read_full(a, got, sizeof got), (ssize_t)sizeof got);
	ck_assert(!memcmp(got, data, sizeof got));
	ck_assert_int_eq(ringo_close(a), 0);
	ck_assert_int_eq(ringo_close(b), 0);
	return 0;
}

START_TEST(test_lifetime)
{
	RUN(lifetime, NULL);
}
END_TEST

/* ---- runtime exit with I/O in flight -------------------------------------- */

static void forever_reader(void *arg)
{
	char buf[64];
	ringo_read((int)(intptr_t)arg, buf, sizeof buf);
}

static int exit_inflight(void *arg)
{
	(void)arg;
	int a, b;
	tcp_pair(&a, &b);
	for (int i = 0; i < 8; i++)
		GO_OK(ringo_go(forever_reader, (void *)(intptr_t)a));
	test_wait_parked("IO wait (recv)", 1);
	return 0;	/* the runtime cancels and reaps the reads before freeing stacks */
}

START_TEST(test_exit_inflight)
{
	RUN(exit_inflight, NULL);
	RUN(exit_inflight, NULL);	/* and runs again afterwards */
}
END_TEST

/* ---- signals as channel sends ---------------------------------------------- */

static void *late_kill(void *arg)
{
	(void)arg;
	usleep(2000);	/* the stimulus, not a synchronisation */
	kill(getpid(), SIGUSR1);
	return NULL;
}

static int signals(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(int), 4);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(ringo_signal_notify(c, SIGURG), -EINVAL);
	ck_assert_int_eq(ringo_signal_notify(c, SIGKILL), -EINVAL);
	ck_assert_int_eq(ringo_signal_notify(NULL, SIGUSR1), -EINVAL);
	ck_assert_int_eq(ringo_signal_notify(c, 0), -EINVAL);
	ck_assert_int_eq(ringo_signal_notify(c, SIGUSR1), 0);
	ck_assert_int_eq(ringo_signal_notify(c, SIGUSR1), 0);	/* once is enough */
	ck_assert_int_eq(ringo_signal_notify(c, SIGUSR2), 0);
	int s = 0;
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	ck_assert_int_eq(ringo_chan_recv(c, &s), 1);
	ck_assert_int_eq(s, SIGUSR1);
	ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
	ck_assert_int_eq(ringo_chan_recv(c, &s), 1);
	ck_assert_int_eq(s, SIGUSR2);
	/* Waiting for a signal with nothing else to run is not a deadlock,
	 * and the signal arrives whichever thread it lands on, whatever that
	 * thread is doing (under TSan, that once lost it: context.h). */
	for (int i = 0; i < 50; i++) {
		pthread_t t;
		ck_assert_int_eq(pthread_create(&t, NULL, late_kill, NULL), 0);
		ck_assert_int_eq(ringo_chan_recv(c, &s), 1);
		ck_assert_int_eq(s, SIGUSR1);
		pthread_join(t, NULL);
	}
	ck_assert_int_eq(ringo_signal_stop(c), 0);
	ck_assert_int_eq(ringo_chan_len(c), 0);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_signals)
{
	RUN(signals, NULL);
	/* The handlers are gone with the runtime: the default action is back. */
	struct sigaction sa;
	ck_assert_int_eq(sigaction(SIGUSR1, NULL, &sa), 0);
	ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
}
END_TEST

/* ---- Ps go away while their rings hold operations ------------------------ */

#define SHRINK_READERS 32
static _Atomic int shrink_ok;
static ringo_waitgroup shrink_done, shrink_parked;

static void shrink_reader(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8];
	ringo_waitgroup_done(&shrink_parked);
	if (read_full(fd, buf, 5) == 5 && !memcmp(buf, "after", 5))
		atomic_fetch_add(&shrink_ok, 1);
	ringo_waitgroup_done(&shrink_done);
}

static void spin_a_while(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		ringo_yield();
}

static int maxprocs_shrink(void *arg)
{
	(void)arg;
	if (ringo_maxprocs(0) < 2)
		return 0;	/* nothing to shrink */
	int a[SHRINK_READERS], b[SHRINK_READERS];
	atomic_store(&shrink_ok, 0);
	ringo_waitgroup_add(&shrink_done, SHRINK_READERS);
	ringo_waitgroup_add(&shrink_parked, SHRINK_READERS);
	for (int i = 0; i < SHRINK_READERS; i++) {
		tcp_pair(&a[i], &b[i]);
		GO_OK(ringo_go(shrink_reader, (void *)(intptr_t)a[i]));
		GO_OK(ringo_go(spin_a_while, NULL));	/* spread the readers over the Ps */
	}
	ringo_waitgroup_wait(&shrink_parked);
	test_wait_parked("IO wait (recv)", 1);
	/* Every P but one goes away with reads in flight on its ring... */
	ck_assert_int_eq(ringo_maxprocs(1), 2);
	for (int i = 0; i < SHRINK_READERS; i++)
		ck_assert_int_eq(ringo_write(b[i], "after", 5), 5);
	/* ...and the reads still complete, with the data. */
	ringo_waitgroup_wait(&shrink_done);
	ck_assert_int_eq(atomic_load(&shrink_ok), SHRINK_READERS);
	ck_assert_int_eq(ringo_maxprocs(2), 1);
	for (int i = 0; i < SHRINK_READERS; i++) {
		ck_assert_int_eq(ringo_close(a[i]), 0);
		ck_assert_int_eq(ringo_close(b[i]), 0);
	}
	return 0;
}

START_TEST(test_maxprocs_shrink)
{
	RUN(maxprocs_shrink, NULL);
}
END_TEST

/* ---- a goroutine waiting for I/O is not a deadlock ----------------------- */

static int late_fd;

static void *late_write(void *arg)
{
	(void)arg;
	usleep(20000);	/* the stimulus, not a synchronisation */
	(void)!write(late_fd, "z", 1);
	return NULL;
}

static void io_waiter(void *arg)
{
	ringo_chan *c = arg;
	int fds[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
	late_fd = fds[1];
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, late_write, NULL), 0);
	char z = 0;
	ck_assert_int_eq(ringo_read(fds[0], &z, 1), 1);
	pthread_join(t, NULL);
	ck_assert_int_eq(ringo_close(fds[0]), 0);
	close(fds[1]);
	ringo_chan_send(c, &z);
}

static int not_deadlocked(void *arg)
{
	(void)arg;
	/* main waits on a channel, the only other goroutine on a read that a
	 * thread outside the runtime completes: nobody may call it a deadlock */
	ringo_chan *c = ringo_chan_make(1, 0);
	GO_OK(ringo_go(io_waiter, c));
	char z = 0;
	ck_assert_int_eq(ringo_chan_recv(c, &z), 1);
	ck_assert_int_eq(z, 'z');
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_not_deadlocked)
{
	RUN(not_deadlocked, NULL);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("net");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_echo_many);
	tcase_add_test(tc, test_big_write);
	tcase_add_test(tc, test_accept_storm);
	tcase_add_test(tc, test_deadlines);
	tcase_add_test(tc, test_close_wakes);
	tcase_add_test(tc, test_dial_refused);
	tcase_add_test(tc, test_dial_timeout);
	tcase_add_test(tc, test_half_close);
	tcase_add_test(tc, test_unix);
	tcase_add_test(tc, test_udp);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_poll);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_lifetime);
	tcase_add_test(tc, test_exit_inflight);
	tcase_add_test(tc, test_signals);
	tcase_add_test(tc, test_maxprocs_shrink);
	tcase_add_test(tc, test_not_deadlocked);
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
	const char *only = getenv("RINGO_TEST_NETPOLL");
	const char *backends[] = { "uring", "epoll" };
	int failed = 0;
	for (int i = 0; i < 2; i++) {
		if (only && *only && strcmp(only, backends[i]))
			continue;
		setenv("RINGO_NETPOLL", backends[i], 1);
		printf("== netpoll %s ==\n", backends[i]);
		fflush(stdout);
		failed |= ringo_test_main(net_suite);
	}
	return failed;
}
