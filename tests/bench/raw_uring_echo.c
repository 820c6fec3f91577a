/* SPDX-License-Identifier: MIT */
/*
 * raw_uring_echo.c - the reference the echo benchmark measures ringo
 * against: a minimal single-threaded echo server written directly on
 * liburing, with no runtime at all.
 *
 *   raw_uring_echo [host:port]      (numeric IPv4, default 127.0.0.1:7001)
 *
 * One ring (SUBMIT_ALL | COOP_TASKRUN, as ringo's), a multishot accept,
 * and per connection: recv with IORING_RECVSEND_POLL_FIRST, then send the
 * bytes back, then recv again. One io_uring_enter per loop submits
 * everything the last batch of completions produced and waits for the
 * next. SIGINT/SIGTERM end it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define BUF 2048

struct conn {
	int fd;
	unsigned off, len;	/* bytes of buf still to send */
	char buf[BUF];
};

enum { OP_ACCEPT = 1, OP_RECV, OP_SEND };

static struct io_uring ring;
static volatile sig_atomic_t stop;

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe;
	while (!(sqe = io_uring_get_sqe(&ring)))
		io_uring_submit(&ring);
	return sqe;
}

static void *tag(struct conn *c, int op)
{
	return (void *)((uintptr_t)c | (uintptr_t)op);
}

static void post_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv(sqe, c->fd, c->buf, BUF, 0);
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	io_uring_sqe_set_data(sqe, tag(c, OP_RECV));
}

static void post_send(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_send(sqe, c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, tag(c, OP_SEND));
}

static void post_accept(int lfd)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data(sqe, tag(NULL, OP_ACCEPT));
}

static void drop(struct conn *c)
{
	close(c->fd);
	free(c);
}

static void complete(int lfd, struct io_uring_cqe *cqe)
{
	uintptr_t ud = (uintptr_t)io_uring_cqe_get_data(cqe);
	struct conn *c = (struct conn *)(ud & ~(uintptr_t)7);
	int res = cqe->res;
	switch (ud & 7) {
	case OP_ACCEPT:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			post_accept(lfd);
		if (res < 0)
			break;
		c = aligned_alloc(8, sizeof *c);
		if (!c) {
			close(res);
			break;
		}
		c->fd = res;
		int one = 1;
		setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		post_recv(c);
		break;
	case OP_RECV:
		if (res <= 0) {
			drop(c);
			break;
		}
		c->off = 0;
		c->len = (unsigned)res;
		post_send(c);
		break;
	case OP_SEND:
		if (res < 0) {
			drop(c);
			break;
		}
		c->off += (unsigned)res;
		if (c->off < c->len)
			post_send(c);
		else
			post_recv(c);
		break;
	}
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "127.0.0.1:7001";
	char host[64];
	snprintf(host, sizeof host, "%s", addr);
	char *colon = strrchr(host, ':');
	if (!colon)
		return 2;
	*colon = '\0';
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return 2;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 65535) < 0) {
		perror("raw_uring_echo: bind/listen");
		return 1;
	}
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = 16384;
	int r = io_uring_queue_init_params(4096, &ring, &p);
	if (r < 0) {
		fprintf(stderr, "raw_uring_echo: io_uring: %s\n", strerror(-r));
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	post_accept(lfd);
	printf("raw_uring_echo: listening on %s\n", addr);
	fflush(stdout);
	while (!stop) {
		r = io_uring_submit_and_wait(&ring, 1);
		if (r < 0 && r != -EINTR && r != -EBUSY && r != -ETIME) {
			fprintf(stderr, "raw_uring_echo: %s\n", strerror(-r));
			break;
		}
		unsigned head, n = 0;
		struct io_uring_cqe *cqe;
		io_uring_for_each_cqe(&ring, head, cqe) {
			complete(lfd, cqe);
			n++;
		}
		io_uring_cq_advance(&ring, n);
	}
	io_uring_queue_exit(&ring);
	close(lfd);
	return 0;
}
