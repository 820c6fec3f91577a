/* SPDX-License-Identifier: MIT */
/*
 * echo-server.c - a goroutine per connection.
 *
 *   echo-server [host:port]       (default 127.0.0.1:7000)
 *
 * SIGINT or SIGTERM: stop accepting, close every connection, say how many
 * were served, exit.
 */
#include <ringo.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define MAXFD 65536
static ringo_mutex mu;		/* guards live, maxfd and stopping */
static bool live[MAXFD], stopping;
static int maxfd;
static long served;
static ringo_waitgroup wg;	/* the acceptor and every connection */

static void handle(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[16384];
	ssize_t n;
	ringo_mutex_lock(&mu);
	bool run = !stopping && fd < MAXFD;
	if (run) {
		live[fd] = true;
		maxfd = fd > maxfd ? fd : maxfd;
	}
	ringo_mutex_unlock(&mu);
	while (run && (n = ringo_read(fd, buf, sizeof buf)) > 0)
		if (ringo_write(fd, buf, (size_t)n) < 0)
			break;
	ringo_mutex_lock(&mu);
	if (run)
		live[fd] = false;
	ringo_mutex_unlock(&mu);
	ringo_close(fd);
	ringo_waitgroup_done(&wg);
}

static void acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	while ((fd = ringo_accept(lfd, NULL, NULL)) >= 0) {
		served++;
		ringo_waitgroup_add(&wg, 1);
		if (ringo_go(handle, (void *)(intptr_t)fd) < 0) {
			ringo_close(fd);
			ringo_waitgroup_done(&wg);
		}
	}
	ringo_waitgroup_done(&wg);	/* ringo_close(lfd) ended the loop */
}

static int serve(void *arg)
{
	const char *addr = arg;
	int lfd = ringo_listen("tcp", addr), signo = 0;
	if (lfd < 0) {
		fprintf(stderr, "echo-server: %s: %s\n", addr, strerror(-lfd));
		return 1;
	}
	ringo_chan *sig = ringo_chan_make(sizeof(int), 1);
	ringo_signal_notify(sig, SIGINT);
	ringo_signal_notify(sig, SIGTERM);
	ringo_waitgroup_add(&wg, 1);
	ringo_go(acceptor, (void *)(intptr_t)lfd);
	printf("echo-server: listening on %s\n", addr);
	fflush(stdout);

	ringo_chan_recv(sig, &signo);
	ringo_close(lfd);				/* stop accepting */
	ringo_mutex_lock(&mu);
	stopping = true;
	for (int fd = 0; fd <= maxfd; fd++)
		if (live[fd])
			ringo_shutdown(fd, SHUT_RDWR);	/* its reader sees the end */
	ringo_mutex_unlock(&mu);
	ringo_waitgroup_wait(&wg);
	printf("echo-server: %s: served %ld connections\n", strsignal(signo), served);
	ringo_signal_stop(sig);
	ringo_chan_unref(sig);
	return 0;
}

int main(int argc, char **argv)
{
	return ringo_run(serve, argc > 1 ? argv[1] : "127.0.0.1:7000");
}
