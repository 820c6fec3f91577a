/* SPDX-License-Identifier: MIT */
/* check_chan.c - channels: rendezvous, buffering and FIFO order, direct
 * hand-off, close, NULL channels, non-blocking operations (also from
 * threads outside the runtime), element sizes, references, preemption,
 * the memory model, and classic programs (prime sieve, many producers and
 * consumers). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

/* ck_assert records a mark point (a write to a file) on every success,
 * which is too slow inside loops of channel operations. These reach
 * Check only when they fail. */
#define REQUIRE(expr)                                                          \
	do {                                                                   \
		if (!(expr))                                                   \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #expr);  \
	} while (0)
#define REQUIRE_MSG(expr, ...)                                                 \
	do {                                                                   \
		if (!(expr))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)
#define REQUIRE_EQ(a, b)                                                       \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_)                                                  \
			ck_abort_msg("%s:%d: %s is %lld, not %lld", __FILE__,  \
				     __LINE__, #a, a_, b_);                     \
	} while (0)
#define REQUIRE_OK(expr) REQUIRE_EQ(expr, 0)

/* Switch to one P, whatever the suite's maxprocs; returns the old value.
 * Used where nothing but the test's main goroutine may run once the
 * goroutines it started have parked (test_wait_parked). */
static int pin_one_p(void)
{
	return ringo_maxprocs(1);
}

/* ---- arguments, lifetimes, calls outside a goroutine ------------------ */

START_TEST(test_outside_runtime)
{
	/* No ringo_run at all: the non-blocking calls still work. */
	ringo_chan *c = ringo_chan_make(sizeof(int), 2);
	REQUIRE(c != NULL);
	int v = 7, w = 0;
	REQUIRE_EQ(ringo_chan_try_send(c, &v), 0);
	REQUIRE_EQ(ringo_chan_len(c), 1);
	REQUIRE_EQ(ringo_chan_try_recv(c, &w), 1);
	REQUIRE_EQ(w, 7);
	REQUIRE_EQ(ringo_chan_try_recv(c, &w), -EAGAIN);
	/* Blocking calls need a goroutine. */
	REQUIRE_EQ(ringo_chan_send(c, &v), -EPERM);
	REQUIRE_EQ(ringo_chan_recv(c, &w), -EPERM);
	REQUIRE_EQ(ringo_chan_send(NULL, &v), -EPERM);
	REQUIRE_EQ(ringo_chan_recv(NULL, &w), -EPERM);
	REQUIRE_EQ(ringo_chan_close(c), 0);
	REQUIRE_EQ(ringo_chan_try_recv(c, &w), 0);
	ringo_chan_unref(c);
}
END_TEST

static int args_main(void *arg)
{
	(void)arg;
	REQUIRE(ringo_chan_make(SIZE_MAX, 2) == NULL);
	REQUIRE(ringo_chan_make(2, SIZE_MAX) == NULL);
	REQUIRE_EQ(ringo_chan_close(NULL), -EINVAL);
	REQUIRE_EQ(ringo_chan_len(NULL), 0);
	REQUIRE_EQ(ringo_chan_cap(NULL), 0);
	REQUIRE(ringo_chan_ref(NULL) == NULL);
	ringo_chan_unref(NULL);
	int v = 1;
	REQUIRE_EQ(ringo_chan_try_send(NULL, &v), -EAGAIN);
	REQUIRE_EQ(ringo_chan_try_recv(NULL, &v), -EAGAIN);

	ringo_chan *c = ringo_chan_make(sizeof(int), 3);
	REQUIRE_EQ(ringo_chan_cap(c), 3);
	REQUIRE_EQ(ringo_chan_len(c), 0);
	REQUIRE_EQ(ringo_chan_send(c, NULL), -EINVAL);	/* no value */
	REQUIRE_EQ(ringo_chan_try_send(c, NULL), -EINVAL);
	/* References: make gives one, each ref one more; the last unref frees
	 * (ASan checks the rest). */
	REQUIRE_EQ(ringo_chan_ref(c), c);
	REQUIRE_EQ(ringo_chan_ref(c), c);
	ringo_chan_unref(c);
	ringo_chan_unref(c);
	REQUIRE_OK(ringo_chan_send(c, &v));
	REQUIRE_EQ(ringo_chan_len(c), 1);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_args)
{
	RUN(args_main, NULL);
}
END_TEST

/* ---- unbuffered: a send completes only when a receiver takes it ------- */

static _Atomic int rv_started, rv_sent;

static void rv_sender(void *arg)
{
	ringo_chan *c = arg;
	int v = 42;
	atomic_store(&rv_started, 1);
	REQUIRE_OK(ringo_chan_send(c, &v));
	atomic_store(&rv_sent, 1);
}

static int rendezvous_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(int), 0);
	REQUIRE_EQ(ringo_chan_cap(c), 0);
	int v = 0;
	REQUIRE_EQ(ringo_chan_try_send(c, &v), -EAGAIN);	/* nobody receives */
	REQUIRE_EQ(ringo_chan_try_recv(c, &v), -EAGAIN);	/* nobody sends */
	for (int round = 0; round < 100; round++) {
		atomic_store(&rv_started, 0);
		atomic_store(&rv_sent, 0);
		REQUIRE_OK(ringo_go(rv_sender, c));
		while (!atomic_load(&rv_started))
			ringo_yield();
		for (int i = 0; i < 50; i++) {
			/* The sender cannot have finished: nobody received. */
			REQUIRE_EQ(atomic_load(&rv_sent), 0);
			REQUIRE_EQ(ringo_chan_len(c), 0);
			ringo_yield();
		}
		v = 0;
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, 42);
		while (!atomic_load(&rv_sent))
			ringo_yield();
	}
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_unbuffered_rendezvous)
{
	RUN(rendezvous_main, NULL);
}
END_TEST

/* ---- buffered: FIFO, len and cap, wrap-around ---------------------------- */

static void fifo_producer(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < 100000; i++)
		REQUIRE_OK(ringo_chan_send(c, &i));
	REQUIRE_OK(ringo_chan_close(c));
}

static int fifo_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(int), 5);
	REQUIRE_EQ(ringo_chan_cap(c), 5);
	int next_in = 0, next_out = 0, v;
	/* Fill and drain in uneven steps so the indices wrap many times. */
	for (int step = 0; step < 200; step++) {
		int puts = 1 + step % 5, gets = 1 + (step * 3) % 5;
		for (int k = 0; k < puts; k++) {
			int r = ringo_chan_try_send(c, &next_in);
			if ((size_t)(next_in - next_out) == 5) {
				REQUIRE_EQ(r, -EAGAIN);
				break;
			}
			REQUIRE_EQ(r, 0);
			next_in++;
			REQUIRE_EQ(ringo_chan_len(c), (size_t)(next_in - next_out));
		}
		for (int k = 0; k < gets && next_out < next_in; k++) {
			REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
			REQUIRE_EQ(v, next_out);
			next_out++;
		}
		REQUIRE_EQ(ringo_chan_len(c), (size_t)(next_in - next_out));
	}
	ringo_chan_unref(c);

	/* Against a concurrent producer: every value, in order. */
	c = ringo_chan_make(sizeof(int), 64);
	ringo_chan_ref(c);
	REQUIRE_OK(ringo_go(fifo_producer, c));
	int expect = 0;
	while (ringo_chan_recv(c, &v) == 1) {
		REQUIRE_EQ(v, expect);
		expect++;
	}
	REQUIRE_EQ(expect, 100000);
	ringo_chan_unref(c);	/* the producer's reference */
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_buffered_fifo)
{
	RUN(fifo_main, NULL);
}
END_TEST

/* ---- a send to a parked receiver goes straight into its destination ---- */

static _Atomic int hd_got;
static int hd_value;

static void hd_receiver(void *arg)
{
	ringo_chan *c = arg;
	int v = -1;
	REQUIRE_OK(ringo_chan_recv(c, &v) == 1 ? 0 : -1);
	hd_value = v;
	atomic_store(&hd_got, 1);
}

static int handoff_main(void *arg)
{
	(void)arg;
	int old = pin_one_p();
	ringo_chan *c = ringo_chan_make(sizeof(int), 4);
	for (int round = 0; round < 100; round++) {
		atomic_store(&hd_got, 0);
		REQUIRE_OK(ringo_go(hd_receiver, c));
		test_wait_parked("chan receive", 1);
		int v = 1000 + round;
		REQUIRE_OK(ringo_chan_send(c, &v));
		/* The value went to the receiver, not into the buffer. */
		REQUIRE_EQ(ringo_chan_len(c), 0);
		while (!atomic_load(&hd_got))
			ringo_yield();
		REQUIRE_EQ(hd_value, 1000 + round);
	}
	ringo_chan_unref(c);
	REQUIRE_EQ(ringo_maxprocs(old), 1);
	return 0;
}

START_TEST(test_send_to_parked_receiver)
{
	RUN(handoff_main, NULL);
}
END_TEST

/* ---- a receive from a full buffer takes the head and moves a blocked
 *      sender's value in ---------------------------------------------------- */

static _Atomic int bs_done;

static void blocked_sender(void *arg)
{
	ringo_chan *c = arg;
	int v = 3;
	REQUIRE_OK(ringo_chan_send(c, &v));
	atomic_store(&bs_done, 1);
}

static int full_buffer_main(void *arg)
{
	(void)arg;
	int old = pin_one_p();
	ringo_chan *c = ringo_chan_make(sizeof(int), 2);
	for (int round = 0; round < 100; round++) {
		atomic_store(&bs_done, 0);
		int v = 1;
		REQUIRE_OK(ringo_chan_send(c, &v));
		v = 2;
		REQUIRE_OK(ringo_chan_send(c, &v));
		REQUIRE_OK(ringo_go(blocked_sender, c));
		test_wait_parked("chan send", 1);	/* the buffer is full */
		REQUIRE_EQ(atomic_load(&bs_done), 0);
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, 1);
		/* The sender's value took the freed slot at once. */
		REQUIRE_EQ(ringo_chan_len(c), 2);
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, 2);
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, 3);
		while (!atomic_load(&bs_done))
			ringo_yield();
	}
	ringo_chan_unref(c);
	REQUIRE_EQ(ringo_maxprocs(old), 1);
	return 0;
}

START_TEST(test_recv_moves_blocked_sender)
{
	RUN(full_buffer_main, NULL);
}
END_TEST

/* ---- close ------------------------------------------------------------------- */

static int close_drain_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(long), 4);
	for (long i = 1; i <= 3; i++)
		REQUIRE_OK(ringo_chan_send(c, &i));
	REQUIRE_OK(ringo_chan_close(c));
	long v = 0, one = 1;
	REQUIRE_EQ(ringo_chan_send(c, &one), -EPIPE);
	REQUIRE_EQ(ringo_chan_try_send(c, &one), -EPIPE);
	REQUIRE_EQ(ringo_chan_close(c), -EPIPE);
	REQUIRE_EQ(ringo_chan_len(c), 3);
	for (long i = 1; i <= 3; i++) {
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, i);
	}
	for (int k = 0; k < 3; k++) {
		v = -1;
		REQUIRE_EQ(ringo_chan_recv(c, &v), 0);
		REQUIRE_EQ(v, 0);	/* zeroed */
		v = -1;
		REQUIRE_EQ(ringo_chan_try_recv(c, &v), 0);
		REQUIRE_EQ(v, 0);
	}
	REQUIRE_EQ(ringo_chan_recv(c, NULL), 0);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_close_drain)
{
	RUN(close_drain_main, NULL);
}
END_TEST

#define WAITERS 16

struct waiter_ctx {
	ringo_chan *c;		/* the channel they block on */
	ringo_chan *results;	/* buffered: each waiter's return value */
	_Atomic int started;
};

static void blocked_receiver(void *arg)
{
	struct waiter_ctx *w = arg;
	long v = -1;
	atomic_fetch_add(&w->started, 1);
	int r = ringo_chan_recv(w->c, &v);
	REQUIRE_EQ(v, 0);	/* zeroed by close */
	REQUIRE_OK(ringo_chan_send(w->results, &r));
}

static void blocked_sender_epipe(void *arg)
{
	struct waiter_ctx *w = arg;
	long v = 5;
	atomic_fetch_add(&w->started, 1);
	int r = ringo_chan_send(w->c, &v);
	REQUIRE_OK(ringo_chan_send(w->results, &r));
}

static int close_wakes_main(void *arg)
{
	void (*fn)(void *) = (void (*)(void *))arg;
	int expect = fn == blocked_receiver ? 0 : -EPIPE;
	for (size_t cap = 0; cap <= 1; cap++) {
		struct waiter_ctx w = { .c = ringo_chan_make(sizeof(long), cap),
					.results = ringo_chan_make(sizeof(int), WAITERS) };
		if (fn == blocked_sender_epipe && cap) {
			long fill = 9;	/* full: senders block */
			REQUIRE_OK(ringo_chan_send(w.c, &fill));
		}
		for (int i = 0; i < WAITERS; i++)
			REQUIRE_OK(ringo_go(fn, &w));
		/* Let every one of them park, then close. */
		test_wait_parked(fn == blocked_receiver ? "chan receive" : "chan send",
				 WAITERS);
		REQUIRE_OK(ringo_chan_close(w.c));
		for (int i = 0; i < WAITERS; i++) {
			int r = 1;
			REQUIRE_EQ(ringo_chan_recv(w.results, &r), 1);
			REQUIRE_EQ(r, expect);
		}
		if (fn == blocked_sender_epipe && cap) {
			long v = 0;	/* the buffered value survives close */
			REQUIRE_EQ(ringo_chan_recv(w.c, &v), 1);
			REQUIRE_EQ(v, 9);
		}
		ringo_chan_unref(w.c);
		ringo_chan_unref(w.results);
	}
	return 0;
}

START_TEST(test_close_wakes_receivers)
{
	RUN(close_wakes_main, (void *)blocked_receiver);
}
END_TEST

START_TEST(test_close_wakes_senders)
{
	RUN(close_wakes_main, (void *)blocked_sender_epipe);
}
END_TEST

/* ---- NULL channels block forever (the deadlock detector reports it) ------- */

static void nil_sender(void *arg)
{
	(void)arg;
	int v = 1;
	ringo_chan_send(NULL, &v);
	ck_abort_msg("send on a NULL channel returned");
}

static void nil_receiver(void *arg)
{
	(void)arg;
	int v;
	ringo_chan_recv(NULL, &v);
	ck_abort_msg("receive on a NULL channel returned");
}

static int nil_main(void *arg)
{
	(void)arg;
	REQUIRE_OK(ringo_go(nil_sender, NULL));
	REQUIRE_OK(ringo_go(nil_receiver, NULL));
	ringo_chan_recv(NULL, NULL);
	ck_abort_msg("receive on a NULL channel returned");
	return 1;
}

START_TEST(test_nil_chan_blocks)
{
	REQUIRE_EQ(ringo_run(nil_main, NULL), -EDEADLK);
}
END_TEST

/* ---- element sizes: zero (signals) and 4 KiB ------------------------------ */

static void signal_sender(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < 1000; i++)
		REQUIRE_OK(ringo_chan_send(c, NULL));
	REQUIRE_OK(ringo_chan_close(c));
}

static int zero_size_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(0, 1000);
	for (int i = 0; i < 1000; i++)
		REQUIRE_OK(ringo_chan_try_send(c, NULL));
	REQUIRE_EQ(ringo_chan_len(c), 1000);
	REQUIRE_EQ(ringo_chan_try_send(c, NULL), -EAGAIN);
	char dummy = 'x';
	for (int i = 0; i < 1000; i++)
		REQUIRE_EQ(ringo_chan_recv(c, i % 2 ? NULL : &dummy), 1);
	REQUIRE_EQ(dummy, 'x');	/* nothing written */
	ringo_chan_unref(c);

	for (size_t cap = 0; cap <= 3; cap += 3) {
		c = ringo_chan_make(0, cap);
		ringo_chan_ref(c);
		REQUIRE_OK(ringo_go(signal_sender, c));
		int n = 0;
		while (ringo_chan_recv(c, NULL) == 1)
			n++;
		REQUIRE_EQ(n, 1000);
		ringo_chan_unref(c);
		ringo_chan_unref(c);
	}
	return 0;
}

START_TEST(test_zero_size)
{
	RUN(zero_size_main, NULL);
}
END_TEST

#define BIG 4096
#define BIG_N 2000

static void fill_big(unsigned char *b, int seq)
{
	for (int i = 0; i < BIG; i++)
		b[i] = (unsigned char)(seq * 31 + i * 7);
}

static void big_sender(void *arg)
{
	ringo_chan *c = arg;
	unsigned char b[BIG];
	for (int s = 0; s < BIG_N; s++) {
		fill_big(b, s);
		REQUIRE_OK(ringo_chan_send(c, b));
	}
	REQUIRE_OK(ringo_chan_close(c));
	ringo_chan_unref(c);
}

static int big_main(void *arg)
{
	(void)arg;
	static const size_t caps[] = { 0, 1, 7 };
	for (unsigned k = 0; k < 3; k++) {
		ringo_chan *c = ringo_chan_make(BIG, caps[k]);
		ringo_chan_ref(c);
		REQUIRE_OK(ringo_go(big_sender, c));
		unsigned char got[BIG], want[BIG];
		int s = 0;
		while (ringo_chan_recv(c, got) == 1) {
			fill_big(want, s++);
			REQUIRE_MSG(memcmp(got, want, BIG) == 0, "element %d corrupted", s - 1);
		}
		REQUIRE_EQ(s, BIG_N);
		for (int i = 0; i < BIG; i++)
			REQUIRE_EQ(got[i], 0);	/* closed: zeroed */
		ringo_chan_unref(c);
	}
	return 0;
}

START_TEST(test_large_elem)
{
	RUN(big_main, NULL);
}
END_TEST

/* ---- non-blocking calls from a thread with no goroutine and no P ----------- */

#define FOREIGN_N 300

struct foreign_ctx {
	ringo_chan *to_g;	/* a goroutine blocks receiving here */
	ringo_chan *from_g;	/* a goroutine blocks sending here */
};

static void *foreign_thread(void *arg)
{
	struct foreign_ctx *f = arg;
	for (int i = 0; i < FOREIGN_N; i++) {
		int v = i;
		while (ringo_chan_try_send(f->to_g, &v) == -EAGAIN)
			sched_yield();
		int r;
		while ((r = ringo_chan_try_recv(f->from_g, &v)) == -EAGAIN)
			sched_yield();
		REQUIRE_EQ(r, 1);
		REQUIRE_EQ(v, -i);
	}
	return NULL;
}

/* The deadlock detector cannot see threads outside the runtime: while
 * main waits only for the foreign thread, keep one goroutine runnable. */
static _Atomic int keeper_stop;

static void keeper(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&keeper_stop, memory_order_relaxed))
		ringo_yield();
}

static int foreign_main(void *arg)
{
	(void)arg;
	REQUIRE_OK(ringo_go(keeper, NULL));
	/* Unbuffered both ways: every try_send that succeeds hands off to a
	 * parked goroutine and readies it from a thread without a P. */
	struct foreign_ctx f = { ringo_chan_make(sizeof(int), 0), ringo_chan_make(sizeof(int), 0) };
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, foreign_thread, &f), 0);
	for (int i = 0; i < FOREIGN_N; i++) {
		int v = -1;
		REQUIRE_EQ(ringo_chan_recv(f.to_g, &v), 1);
		REQUIRE_EQ(v, i);
		v = -i;
		REQUIRE_OK(ringo_chan_send(f.from_g, &v));
	}
	pthread_join(t, NULL);	/* it has finished: its last receive is done */
	atomic_store(&keeper_stop, 1);
	ringo_chan_unref(f.to_g);
	ringo_chan_unref(f.from_g);
	return 0;
}

START_TEST(test_foreign_thread_nonblocking)
{
	RUN(foreign_main, NULL);
}
END_TEST

/* ---- biased channel locks (chanlock.c) ------------------------------------ */

/* With RINGO_DEBUG=chanbias=1 a channel is biased to a P after two
 * operations in a row from it. Each round a fresh channel carries
 * BIAS_ITEMS values from the main goroutine to two receivers at once: a
 * goroutine (same P at maxprocs 1, often the other at 2) and a thread
 * outside the runtime polling with try_recv, whose first look revokes
 * the bias while the owner is mid-stream. A lock that let both in at
 * once would lose, duplicate or reorder values. */
#define BIAS_MAX_ROUNDS 800
#define BIAS_ROUNDS SCALE(BIAS_MAX_ROUNDS, 200)
#define BIAS_ITEMS 200

static ringo_chan *_Atomic bias_chans[BIAS_MAX_ROUNDS];
static _Atomic int bias_rounds_done;
static _Atomic unsigned char bias_seen[BIAS_MAX_ROUNDS * BIAS_ITEMS];

/* Receive until closed; each receiver sees increasing values. */
static long bias_take(ringo_chan *c, bool foreign)
{
	long n = 0;
	int v, last = -1, r, idle = 0;
	while ((r = foreign ? ringo_chan_try_recv(c, &v) : ringo_chan_recv(c, &v)) != 0) {
		if (r == -EAGAIN) {
			if (++idle % 64 == 0)
				sched_yield();	/* poll hard: revoke while the owner runs */
			continue;
		}
		REQUIRE_EQ(r, 1);
		REQUIRE_MSG(v > last, "value %d after %d", v, last);
		REQUIRE(v >= 0 && v < BIAS_MAX_ROUNDS * BIAS_ITEMS);
		atomic_fetch_add_explicit(&bias_seen[v], 1, memory_order_relaxed);
		last = v;
		n++;
	}
	return n;
}

static void *bias_foreign(void *arg)
{
	(void)arg;
	for (int round = 0; round < BIAS_ROUNDS; round++) {
		ringo_chan *c;
		while (!(c = atomic_load(&bias_chans[round])))
			sched_yield();
		bias_take(c, true);
		atomic_store(&bias_rounds_done, round + 1);
	}
	return NULL;
}

static ringo_chan *bias_done;	/* receivers report their counts here */

static void bias_receiver(void *arg)
{
	long n = bias_take(arg, false);
	REQUIRE_OK(ringo_chan_send(bias_done, &n));
}

static int bias_main(void *arg)
{
	(void)arg;
	/* main may wait for the thread alone: keep the deadlock detector,
	 * which cannot see it, from calling that a deadlock */
	atomic_store(&keeper_stop, 0);
	REQUIRE_OK(ringo_go(keeper, NULL));
	memset(bias_chans, 0, sizeof bias_chans);	/* CK_FORK=no runs it twice */
	memset(bias_seen, 0, sizeof bias_seen);
	atomic_store(&bias_rounds_done, 0);
	bias_done = ringo_chan_make(sizeof(long), 1);
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, bias_foreign, NULL), 0);
	for (int round = 0; round < BIAS_ROUNDS; round++) {
		ringo_chan *c = ringo_chan_make(sizeof(int), 4);
		atomic_store(&bias_chans[round], c);
		REQUIRE_OK(ringo_go(bias_receiver, c));
		for (int i = 0; i < BIAS_ITEMS; i++) {
			int v = round * BIAS_ITEMS + i;
			REQUIRE_OK(ringo_chan_send(c, &v));
		}
		REQUIRE_OK(ringo_chan_close(c));
		long n;
		REQUIRE_EQ(ringo_chan_recv(bias_done, &n), 1);
		while (atomic_load(&bias_rounds_done) != round + 1)
			ringo_yield();	/* the thread drains the closed channel */
		for (int i = 0; i < BIAS_ITEMS; i++) {
			int v = round * BIAS_ITEMS + i;
			REQUIRE_MSG(atomic_load(&bias_seen[v]) == 1, "round %d: value %d seen %d times",
				    round, v, atomic_load(&bias_seen[v]));
		}
		ringo_chan_unref(c);
	}
	pthread_join(t, NULL);
	atomic_store(&keeper_stop, 1);
	ringo_chan_unref(bias_done);
	return 0;
}

START_TEST(test_bias_revoked_midstream)
{
	RUN_DEBUG("chanbias=1", bias_main, NULL);
}
END_TEST

/* ---- long loops of channel operations can be stopped (preempt check) ------ */

static _Atomic int spin_stop, spin_running;

static void chan_spinner(void *arg)
{
	ringo_chan *c = arg;
	int v = 0;
	atomic_store(&spin_running, 1);
	/* Never blocks: only the check at the start of each operation lets
	 * the stop-the-world below in. */
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) {
		REQUIRE_OK(ringo_chan_send(c, &v));
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
	}
	atomic_store(&spin_running, 2);
}

static int preempt_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(int), 1);
	atomic_store(&spin_stop, 0);
	atomic_store(&spin_running, 0);
	REQUIRE_OK(ringo_go(chan_spinner, c));
	while (!atomic_load(&spin_running))
		ringo_yield();
	/* A stop-the-world waits for the spinner to yield. */
	for (int i = 0; i < 20; i++)
		REQUIRE_EQ(ringo_maxprocs(2), 2);
	atomic_store(&spin_stop, 1);
	while (atomic_load(&spin_running) != 2)
		ringo_yield();
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_preempt_in_chan_loop)
{
	if (test_maxprocs() < 2)
		return;	/* one P: the spinner would never let main run */
	RUN(preempt_main, NULL);
}
END_TEST

/* ---- the memory model (run under TSan at maxprocs 2) ------------------------ */

#define MM_ROUNDS 20000

struct mm_msg {
	long payload[8];	/* plain memory, written before the send */
};

static struct mm_msg mm_slots[64];

static void mm_writer(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < MM_ROUNDS; i++) {
		struct mm_msg *m = &mm_slots[i % 64];
		for (int k = 0; k < 8; k++)
			m->payload[k] = i + k;
		REQUIRE_OK(ringo_chan_send(c, &m));
	}
}

static long mm_close_data[16];

static void mm_closer(void *arg)
{
	ringo_chan *c = arg;
	for (int k = 0; k < 16; k++)
		mm_close_data[k] = 1000 + k;
	REQUIRE_OK(ringo_chan_close(c));	/* close happens before recv sees it */
}

static int memory_model_main(void *arg)
{
	(void)arg;
	/* Slots are reused every 64 messages and at most 32 are in flight:
	 * the k-th receive happens before the (k+cap)-th send completes, so a
	 * slot is rewritten only after the reader has checked it - ordered by
	 * the channel alone, which TSan verifies. */
	for (size_t cap = 0; cap <= 32; cap += 32) {
		ringo_chan *c = ringo_chan_make(sizeof(struct mm_msg *), cap);
		REQUIRE_OK(ringo_go(mm_writer, c));
		for (int i = 0; i < MM_ROUNDS; i++) {
			struct mm_msg *m;
			REQUIRE_EQ(ringo_chan_recv(c, &m), 1);
			REQUIRE_EQ(m, &mm_slots[i % 64]);
			for (int k = 0; k < 8; k++)
				REQUIRE_EQ(m->payload[k], i + k);
		}
		ringo_chan_unref(c);
	}

	for (int round = 0; round < 200; round++) {
		ringo_chan *c = ringo_chan_make(sizeof(int), round % 2);
		ringo_chan_ref(c);
		REQUIRE_OK(ringo_go(mm_closer, c));
		REQUIRE_EQ(ringo_chan_recv(c, NULL), 0);
		for (int k = 0; k < 16; k++)
			REQUIRE_EQ(mm_close_data[k], 1000 + k);
		/* reset for the next round: the closer of this round is done
		 * writing (close came after its writes) */
		for (int k = 0; k < 16; k++)
			mm_close_data[k] = 0;
		ringo_chan_unref(c);
		ringo_chan_unref(c);
	}
	return 0;
}

START_TEST(test_memory_model)
{
	RUN(memory_model_main, NULL);
}
END_TEST

/* ---- debug builds catch freeing a channel that goroutines wait on ---------- */

static void parked_forever(void *arg)
{
	int v;
	ringo_chan_recv(arg, &v);
}

static int free_with_waiter_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(int), 0);
	pin_one_p();
	REQUIRE_OK(ringo_go(parked_forever, c));
	test_wait_parked("chan receive", 1);
	ringo_chan_unref(c);	/* misuse: fatal in debug builds */
	return 0;
}

START_TEST(test_free_with_waiters)
{
	RUN(free_with_waiter_main, NULL);
}
END_TEST

/* ---- a concurrent prime sieve -------------------------------------------------- */

#define NPRIMES 1000

struct filter {
	ringo_chan *in, *out;
	int prime;
};

static void generate(void *arg)
{
	ringo_chan *out = arg;
	for (int i = 2;; i++)
		if (ringo_chan_send(out, &i) < 0)
			break;	/* closed downstream: stop */
	ringo_chan_unref(out);
}

static void filter(void *arg)
{
	struct filter *f = arg;
	int v;
	while (ringo_chan_recv(f->in, &v) == 1) {
		if (v % f->prime == 0)
			continue;
		if (ringo_chan_send(f->out, &v) < 0)
			break;
	}
	/* Downstream closed: close upstream, so the cancellation travels
	 * back to the generator (ringo lets a receiver close a channel). */
	ringo_chan_close(f->in);
	ringo_chan_unref(f->in);
	ringo_chan_unref(f->out);
	free(f);
}

static int sieve_main(void *arg)
{
	(void)arg;
	int start = ringo_num_goroutine();
	/* The reference: a plain sieve of Eratosthenes. */
	static char composite[8000];
	int want[NPRIMES], n = 0;
	for (int i = 2; n < NPRIMES; i++) {
		if (composite[i])
			continue;
		want[n++] = i;
		for (int j = i * i; j < 8000; j += i)
			composite[j] = 1;
	}
	REQUIRE_EQ(want[NPRIMES - 1], 7919);

	ringo_chan *ch = ringo_chan_make(sizeof(int), 0);
	REQUIRE_OK(ringo_go(generate, ringo_chan_ref(ch)));
	for (int i = 0; i < NPRIMES; i++) {
		int prime;
		REQUIRE_EQ(ringo_chan_recv(ch, &prime), 1);
		REQUIRE_EQ(prime, want[i]);
		struct filter *f = malloc(sizeof *f);
		f->in = ch;	/* our reference moves to the filter */
		f->out = ringo_chan_make(sizeof(int), 0);
		f->prime = prime;
		ch = ringo_chan_ref(f->out);
		REQUIRE_OK(ringo_go(filter, f));
	}
	REQUIRE_EQ(want[NPRIMES - 1], 7919);
	/* Cancel: close the last channel; every filter closes its input in
	 * turn and the generator stops. */
	REQUIRE_OK(ringo_chan_close(ch));
	ringo_chan_unref(ch);
	while (ringo_num_goroutine() != start)
		ringo_yield();
	return 0;
}

START_TEST(test_prime_sieve)
{
	RUN(sieve_main, NULL);
}
END_TEST

/* ---- 8 producers x 8 consumers x 100,000 items through one channel -------- */

#define MP_PRODUCERS 8
#define MP_CONSUMERS 8
#define MP_ITEMS 100000

static _Atomic unsigned char mp_seen[MP_PRODUCERS * MP_ITEMS];

struct mp_ctx {
	ringo_chan *items;	/* the one buffered channel */
	ringo_chan *done;	/* producers report here */
	ringo_chan *counts;	/* consumers report their totals here */
};

static void mp_producer(void *arg)
{
	struct mp_ctx *x = arg;
	static _Atomic int next_id;
	int id = atomic_fetch_add(&next_id, 1) % MP_PRODUCERS;
	for (int i = 0; i < MP_ITEMS; i++) {
		int v = id * MP_ITEMS + i;
		REQUIRE_OK(ringo_chan_send(x->items, &v));
	}
	REQUIRE_OK(ringo_chan_send(x->done, NULL));
}

static void mp_consumer(void *arg)
{
	struct mp_ctx *x = arg;
	long n = 0;
	int v;
	while (ringo_chan_recv(x->items, &v) == 1) {
		REQUIRE(v >= 0 && v < MP_PRODUCERS * MP_ITEMS);
		atomic_fetch_add_explicit(&mp_seen[v], 1, memory_order_relaxed);
		n++;
	}
	REQUIRE_OK(ringo_chan_send(x->counts, &n));
}

static int mpmc_main(void *arg)
{
	(void)arg;
	struct mp_ctx x = { ringo_chan_make(sizeof(int), 128), ringo_chan_make(0, 0),
			    ringo_chan_make(sizeof(long), MP_CONSUMERS) };
	for (int i = 0; i < MP_CONSUMERS; i++)
		REQUIRE_OK(ringo_go(mp_consumer, &x));
	for (int i = 0; i < MP_PRODUCERS; i++)
		REQUIRE_OK(ringo_go(mp_producer, &x));
	for (int i = 0; i < MP_PRODUCERS; i++)
		REQUIRE_EQ(ringo_chan_recv(x.done, NULL), 1);
	REQUIRE_OK(ringo_chan_close(x.items));
	long total = 0;
	for (int i = 0; i < MP_CONSUMERS; i++) {
		long n;
		REQUIRE_EQ(ringo_chan_recv(x.counts, &n), 1);
		total += n;
	}
	REQUIRE_EQ(total, (long)MP_PRODUCERS * MP_ITEMS);
	for (int v = 0; v < MP_PRODUCERS * MP_ITEMS; v++)
		REQUIRE_MSG(atomic_load(&mp_seen[v]) == 1, "item %d seen %d times", v,
			      atomic_load(&mp_seen[v]));
	ringo_chan_unref(x.items);
	ringo_chan_unref(x.done);
	ringo_chan_unref(x.counts);
	return 0;
}

START_TEST(test_mpmc_8x8)
{
	RUN(mpmc_main, NULL);
}
END_TEST

static TCase *new_case(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc = new_case(s, "basic");
	tcase_add_test(tc, test_outside_runtime);
	tcase_add_test(tc, test_args);
	tcase_add_test(tc, test_unbuffered_rendezvous);
	tcase_add_test(tc, test_buffered_fifo);
	tcase_add_test(tc, test_send_to_parked_receiver);
	tcase_add_test(tc, test_recv_moves_blocked_sender);
	tcase_add_test(tc, test_nil_chan_blocks);
	tcase_add_test(tc, test_zero_size);
	tcase_add_test(tc, test_large_elem);
#ifdef RINGO_DEBUG_BUILD
	tcase_add_test_raise_signal(tc, test_free_with_waiters, SIGABRT);
#else
	(void)test_free_with_waiters;	/* a documented misuse: only debug builds catch it */
#endif
	tc = new_case(s, "close");
	tcase_add_test(tc, test_close_drain);
	tcase_add_test(tc, test_close_wakes_receivers);
	tcase_add_test(tc, test_close_wakes_senders);
	tc = new_case(s, "threads");
	tcase_add_test(tc, test_foreign_thread_nonblocking);
	tcase_add_test(tc, test_bias_revoked_midstream);
	tcase_add_test(tc, test_preempt_in_chan_loop);
	tcase_add_test(tc, test_memory_model);
	tc = new_case(s, "programs");
	tcase_add_test(tc, test_prime_sieve);
	tcase_add_test(tc, test_mpmc_8x8);
	return s;
}

int main(void)
{
	return ringo_test_main(chan_suite);
}
