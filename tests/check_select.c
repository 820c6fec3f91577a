/* SPDX-License-Identifier: MIT */
/* check_select.c - ringo_select: arguments, non-blocking selects, uniform
 * choice among ready cases, NULL channels, several cases on one channel,
 * 64 channels, closed channels, wake-up by exactly one case, timeouts with
 * ringo_after, the memory model, and a pipeline cancelled through a done
 * channel. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
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

/* ringo_after comes with the timers work (lib/timer.c). A weak reference
 * lets this suite link either way; the timeout case is added only when
 * the library defines it. */
#pragma weak ringo_after

static struct ringo_case recv_case(ringo_chan *c, void *elem)
{
	return (struct ringo_case){ .chan = c, .dir = RINGO_RECV, .elem = elem, .result = 99 };
}

static struct ringo_case send_case(ringo_chan *c, void *elem)
{
	return (struct ringo_case){ .chan = c, .dir = RINGO_SEND, .elem = elem, .result = 99 };
}

/* ---- arguments and calls outside a goroutine ----------------------------- */

START_TEST(test_select_outside_runtime)
{
	ringo_chan *c = ringo_chan_make(sizeof(int), 1);
	int v = 5, w = 0;
	struct ringo_case cs[2] = { send_case(c, &v), recv_case(NULL, &w) };
	/* Blocking needs a goroutine; NOWAIT works anywhere. */
	REQUIRE_EQ(ringo_select(cs, 2, 0), -EPERM);
	REQUIRE_EQ(ringo_select(cs, 2, RINGO_SELECT_NOWAIT), 0);
	REQUIRE_EQ(cs[0].result, 0);
	REQUIRE_EQ(ringo_select(cs, 2, RINGO_SELECT_NOWAIT), -EAGAIN);
	cs[0] = recv_case(c, &w);
	REQUIRE_EQ(ringo_select(cs, 2, RINGO_SELECT_NOWAIT), 0);
	REQUIRE_EQ(cs[0].result, 1);
	REQUIRE_EQ(w, 5);
	ringo_chan_unref(c);
}
END_TEST

static int args_main(void *arg)
{
	(void)arg;
	ringo_chan *c = ringo_chan_make(sizeof(int), 1);
	int v = 0;
	struct ringo_case cs[2] = { recv_case(c, &v), send_case(c, &v) };
	REQUIRE_EQ(ringo_select(cs, -1, 0), -EINVAL);
	REQUIRE_EQ(ringo_select(NULL, 2, 0), -EINVAL);
	REQUIRE_EQ(ringo_select(cs, 2, 0x80), -EINVAL);
	cs[1].dir = 0;
	REQUIRE_EQ(ringo_select(cs, 2, RINGO_SELECT_NOWAIT), -EINVAL);
	cs[1].dir = RINGO_RECV | RINGO_SEND;
	REQUIRE_EQ(ringo_select(cs, 2, RINGO_SELECT_NOWAIT), -EINVAL);
	cs[1] = send_case(c, NULL);	/* no value to send */
	REQUIRE_EQ(ringo_select(cs, 2, RINGO_SELECT_NOWAIT), -EINVAL);
	REQUIRE_EQ(ringo_select(NULL, 0, RINGO_SELECT_NOWAIT), -EAGAIN);
	REQUIRE_EQ(ringo_select(cs, 0, RINGO_SELECT_NOWAIT), -EAGAIN);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_select_args)
{
	RUN(args_main, NULL);
}
END_TEST

/* ---- n == 0 blocks forever -------------------------------------------------- */

static int empty_main(void *arg)
{
	(void)arg;
	ringo_select(NULL, 0, 0);
	ck_abort_msg("an empty select returned");
	return 1;
}

START_TEST(test_select_empty_blocks)
{
	REQUIRE_EQ(ringo_run(empty_main, NULL), -EDEADLK);
}
END_TEST

/* ---- NOWAIT and NULL channels ------------------------------------------------- */

static int nowait_main(void *arg)
{
	(void)arg;
	ringo_chan *a = ringo_chan_make(sizeof(int), 0), *b = ringo_chan_make(sizeof(int), 1);
	int x = 1, y = 0;
	struct ringo_case cs[3] = { recv_case(a, &y), send_case(a, &x), recv_case(b, &y) };
	/* Nothing ready: -EAGAIN, and no result is touched. */
	REQUIRE_EQ(ringo_select(cs, 3, RINGO_SELECT_NOWAIT), -EAGAIN);
	for (int i = 0; i < 3; i++)
		REQUIRE_EQ(cs[i].result, 99);
	/* NULL channels are never chosen, even if they are the only cases. */
	struct ringo_case nil[2] = { recv_case(NULL, &y), send_case(NULL, &x) };
	REQUIRE_EQ(ringo_select(nil, 2, RINGO_SELECT_NOWAIT), -EAGAIN);
	x = 7;
	REQUIRE_EQ(ringo_chan_try_send(b, &x), 0);
	struct ringo_case mix[4] = { recv_case(NULL, &y), send_case(NULL, &x), recv_case(b, &y),
				     recv_case(NULL, &y) };
	REQUIRE_EQ(ringo_select(mix, 4, 0), 2);
	REQUIRE_EQ(mix[2].result, 1);
	REQUIRE_EQ(y, 7);
	/* Send cases to a buffer with room. */
	struct ringo_case snd[2] = { send_case(b, &x), send_case(NULL, &x) };
	for (int i = 0; i < 100; i++) {
		x = i;
		REQUIRE_EQ(ringo_select(snd, 2, RINGO_SELECT_NOWAIT), 0);
		REQUIRE_EQ(snd[0].result, 0);
		REQUIRE_EQ(ringo_select(snd, 2, RINGO_SELECT_NOWAIT), -EAGAIN);
		REQUIRE_EQ(ringo_chan_recv(b, &y), 1);
		REQUIRE_EQ(y, i);
	}
	/* Many cases, none ready: the allocated scratch path. */
	struct ringo_case many[40];
	for (int i = 0; i < 40; i++)
		many[i] = recv_case(i % 3 ? a : NULL, &y);
	REQUIRE_EQ(ringo_select(many, 40, RINGO_SELECT_NOWAIT), -EAGAIN);
	ringo_chan_unref(a);
	ringo_chan_unref(b);
	return 0;
}

START_TEST(test_select_nowait_and_nil)
{
	RUN(nowait_main, NULL);
}
END_TEST

/* ---- uniform choice among ready cases ---------------------------------------- */

static int fair_main(void *arg)
{
	(void)arg;
	ringo_chan *c[2] = { ringo_chan_make(sizeof(int), 1), ringo_chan_make(sizeof(int), 1) };
	int one = 1, v;
	REQUIRE_EQ(ringo_chan_try_send(c[0], &one), 0);
	REQUIRE_EQ(ringo_chan_try_send(c[1], &one), 0);
	struct ringo_case cs[2] = { recv_case(c[0], &v), recv_case(c[1], &v) };
	const int n = 100000;
	int count[2] = { 0, 0 };
	for (int i = 0; i < n; i++) {
		int k = ringo_select(cs, 2, 0);
		REQUIRE(k == 0 || k == 1);
		count[k]++;
		REQUIRE_EQ(ringo_chan_try_send(c[k], &one), 0);	/* ready again */
	}
	REQUIRE_EQ(count[0] + count[1], n);
	REQUIRE_MSG(count[0] >= n * 45 / 100 && count[0] <= n * 55 / 100,
		      "case 0 chosen %d of %d times", count[0], n);
	ringo_chan_unref(c[0]);
	ringo_chan_unref(c[1]);
	return 0;
}

START_TEST(test_select_fair)
{
	RUN(fair_main, NULL);
}
END_TEST

/* ---- blocking selects: woken by a sender, a receiver, or close --------------- */

#define HANDOFF_N 20000

static void counter_sender(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < HANDOFF_N; i++)
		REQUIRE_OK(ringo_chan_send(c, &i));
}

static void counter_receiver(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < HANDOFF_N; i++) {
		int v = -1;
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, i);
	}
}

static int blocking_main(void *arg)
{
	(void)arg;
	ringo_chan *in = ringo_chan_make(sizeof(int), 0), *out = ringo_chan_make(sizeof(int), 0);
	ringo_chan *idle = ringo_chan_make(sizeof(int), 0);	/* never ready */
	REQUIRE_OK(ringo_go(counter_sender, in));
	REQUIRE_OK(ringo_go(counter_receiver, out));
	int next_in = 0, next_out = 0, v = -1, w;
	while (next_in < HANDOFF_N || next_out < HANDOFF_N) {
		w = next_out;
		struct ringo_case cs[4] = {
			recv_case(next_in < HANDOFF_N ? in : NULL, &v),
			send_case(next_out < HANDOFF_N ? out : NULL, &w),
			recv_case(idle, &v),
			send_case(idle, &w),
		};
		int k = ringo_select(cs, 4, 0);
		if (k == 0) {
			REQUIRE_EQ(cs[0].result, 1);
			REQUIRE_EQ(v, next_in);
			next_in++;
		} else {
			REQUIRE_EQ(k, 1);
			REQUIRE_EQ(cs[1].result, 0);
			next_out++;
		}
	}
	ringo_chan_unref(in);
	ringo_chan_unref(out);
	ringo_chan_unref(idle);
	return 0;
}

START_TEST(test_select_blocking_handoff)
{
	RUN(blocking_main, NULL);
}
END_TEST

static void closer(void *arg)
{
	ringo_yield();
	REQUIRE_OK(ringo_chan_close(arg));
	ringo_chan_unref(arg);
}

static int closed_main(void *arg)
{
	(void)arg;
	long v = -1, x = 3;
	/* Ready at once: receive from a closed channel gives 0 and a zeroed
	 * element; a send to one is chosen with -EPIPE (Go panics). */
	ringo_chan *c = ringo_chan_make(sizeof(long), 2);
	REQUIRE_OK(ringo_chan_close(c));
	struct ringo_case r[1] = { recv_case(c, &v) };
	REQUIRE_EQ(ringo_select(r, 1, 0), 0);
	REQUIRE_EQ(r[0].result, 0);
	REQUIRE_EQ(v, 0);
	struct ringo_case s[1] = { send_case(c, &x) };
	REQUIRE_EQ(ringo_select(s, 1, RINGO_SELECT_NOWAIT), 0);
	REQUIRE_EQ(s[0].result, -EPIPE);
	ringo_chan_unref(c);

	/* Blocked, then woken by close. */
	for (int round = 0; round < 200; round++) {
		ringo_chan *a = ringo_chan_make(sizeof(long), 0), *b = ringo_chan_make(sizeof(long), 0);
		ringo_chan_ref(b);
		REQUIRE_OK(ringo_go(closer, b));
		v = -1;
		struct ringo_case cs[2] = { recv_case(a, &v), round % 2 ? send_case(b, &x)
									: recv_case(b, &v) };
		REQUIRE_EQ(ringo_select(cs, 2, 0), 1);
		REQUIRE_EQ(cs[1].result, round % 2 ? -EPIPE : 0);
		if (round % 2 == 0)
			REQUIRE_EQ(v, 0);
		REQUIRE_EQ(cs[0].result, 99);
		/* a's sudog is gone: a later send on a finds no stale waiter. */
		REQUIRE_EQ(ringo_chan_try_send(a, &x), -EAGAIN);
		ringo_chan_unref(a);
		ringo_chan_unref(b);
	}
	return 0;
}

START_TEST(test_select_closed)
{
	RUN(closed_main, NULL);
}
END_TEST

/* ---- the same channel in several cases ------------------------------------------ */

static void same_peer(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < 1000; i++) {
		int v = i;
		if (i % 2) {
			REQUIRE_OK(ringo_chan_send(c, &v));
		} else {
			v = -1;
			REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
			REQUIRE_EQ(v, 7000 + i);
		}
	}
}

static int same_chan_main(void *arg)
{
	(void)arg;
	/* Ready path: a buffered channel named by three cases. */
	ringo_chan *b = ringo_chan_make(sizeof(int), 4);
	int x = 11, y = 0, z = 0;
	struct ringo_case three[3] = { recv_case(b, &y), send_case(b, &x), recv_case(b, &z) };
	REQUIRE_EQ(ringo_select(three, 3, 0), 1);	/* only the send is ready */
	int k = ringo_select(three, 3, 0);		/* now all three are */
	REQUIRE(k >= 0 && k <= 2);
	ringo_chan_unref(b);

	/* Blocking path: an unbuffered channel, receive twice and send in
	 * one select; the peer alternates sending and receiving, so the
	 * select parks with three sudogs on one channel - in both of its
	 * queues - and exactly one case wins each time. */
	ringo_chan *c = ringo_chan_make(sizeof(int), 0);
	REQUIRE_OK(ringo_go(same_peer, c));
	for (int i = 0; i < 1000; i++) {
		int r1 = -1, r2 = -1, s = 7000 + i;
		struct ringo_case cs[3] = { recv_case(c, &r1), send_case(c, &s), recv_case(c, &r2) };
		k = ringo_select(cs, 3, 0);
		if (i % 2) {
			REQUIRE_MSG(k == 0 || k == 2, "round %d chose %d", i, k);
			REQUIRE_EQ(cs[k].result, 1);
			REQUIRE_EQ(k == 0 ? r1 : r2, i);
			REQUIRE_EQ(k == 0 ? r2 : r1, -1);
		} else {
			REQUIRE_EQ(k, 1);
			REQUIRE_EQ(cs[1].result, 0);
		}
	}
	REQUIRE_EQ(ringo_chan_try_send(c, &x), -EAGAIN);	/* no stale sudog */
	REQUIRE_EQ(ringo_chan_try_recv(c, &x), -EAGAIN);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_select_same_channel)
{
	RUN(same_chan_main, NULL);
}
END_TEST

/* ---- a select over 64 channels ------------------------------------------------ */

#define WIDE 64
#define WIDE_ROUNDS 5000

static ringo_chan *wide[WIDE];

static void wide_sender(void *arg)
{
	(void)arg;
	uint32_t x = 12345;
	for (int i = 0; i < WIDE_ROUNDS; i++) {
		x = x * 1103515245 + 12345;
		int k = (int)((x >> 16) % WIDE);
		int v = k * 1000000 + i;
		REQUIRE_OK(ringo_chan_send(wide[k], &v));
	}
}

static int wide_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < WIDE; i++)
		wide[i] = ringo_chan_make(sizeof(int), 0);	/* one ready at a time */
	REQUIRE_OK(ringo_go(wide_sender, NULL));
	int v = -1;
	struct ringo_case cs[WIDE];
	for (int i = 0; i < WIDE; i++)
		cs[i] = recv_case(wide[i], &v);
	uint32_t x = 12345;
	for (int i = 0; i < WIDE_ROUNDS; i++) {
		x = x * 1103515245 + 12345;
		int want = (int)((x >> 16) % WIDE);
		int k = ringo_select(cs, WIDE, 0);
		REQUIRE_EQ(k, want);
		REQUIRE_EQ(cs[k].result, 1);
		REQUIRE_EQ(v, want * 1000000 + i);
	}
	for (int i = 0; i < WIDE; i++)
		ringo_chan_unref(wide[i]);
	return 0;
}

START_TEST(test_select_64)
{
	RUN(wide_main, NULL);
}
END_TEST

/* ---- a selecting goroutine is woken by exactly one case ------------------------ */

#define RACE_SENDERS 4
#define RACE_N 20000

static void race_sender(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < RACE_N; i++)
		REQUIRE_OK(ringo_chan_send(c, &i));
}

static int race_main(void *arg)
{
	(void)arg;
	/* Several senders, each on its own unbuffered channel, race to wake
	 * one selecting receiver. Every value must arrive exactly once and
	 * in order per channel: a lost or doubled wake-up breaks either. */
	ringo_chan *c[RACE_SENDERS];
	int next[RACE_SENDERS] = { 0 };
	for (int i = 0; i < RACE_SENDERS; i++) {
		c[i] = ringo_chan_make(sizeof(int), 0);
		REQUIRE_OK(ringo_go(race_sender, c[i]));
	}
	int v[RACE_SENDERS];
	struct ringo_case cs[RACE_SENDERS];
	for (int i = 0; i < RACE_SENDERS; i++)
		cs[i] = recv_case(c[i], &v[i]);
	for (int got = 0; got < RACE_SENDERS * RACE_N; got++) {
		int k = ringo_select(cs, RACE_SENDERS, 0);
		REQUIRE(k >= 0 && k < RACE_SENDERS);
		REQUIRE_EQ(cs[k].result, 1);
		REQUIRE_EQ(v[k], next[k]);
		if (++next[k] == RACE_N)
			cs[k].chan = NULL;	/* that sender is done */
	}
	for (int i = 0; i < RACE_SENDERS; i++)
		ringo_chan_unref(c[i]);
	return 0;
}

START_TEST(test_select_one_wakeup)
{
	RUN(race_main, NULL);
}
END_TEST

/* ---- selects on both sides of two channels ------------------------------------- */

/* Pushers select over sending on a and on b, pullers over receiving from
 * both: every match wakes a select through a case while its other sudog
 * sits on the other channel, where a second waker may find it and lose
 * the claim. Every value must be received exactly once. */
#define BOTH_PUSHERS 4
#define BOTH_PULLERS 3
#define BOTH_PER_PUSHER 6000
#define BOTH_TOTAL (BOTH_PUSHERS * BOTH_PER_PUSHER)

struct both {
	ringo_chan *a, *b;
	_Atomic int seen[BOTH_TOTAL];
	ringo_waitgroup wg;
};

static struct both both;

static void both_pusher(void *arg)
{
	int base = (int)(intptr_t)arg * BOTH_PER_PUSHER;
	for (int i = 0; i < BOTH_PER_PUSHER; i++) {
		int v = base + i;
		struct ringo_case cs[2] = { send_case(both.a, &v), send_case(both.b, &v) };
		int k = ringo_select(cs, 2, 0);
		REQUIRE(k == 0 || k == 1);
		REQUIRE_EQ(cs[k].result, 0);
	}
	ringo_waitgroup_done(&both.wg);
}

static void both_puller(void *arg)
{
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < n; i++) {
		int va = -1, vb = -1;
		struct ringo_case cs[2] = { recv_case(both.a, &va), recv_case(both.b, &vb) };
		int k = ringo_select(cs, 2, 0);
		REQUIRE(k == 0 || k == 1);
		REQUIRE_EQ(cs[k].result, 1);
		int v = k == 0 ? va : vb;
		REQUIRE(v >= 0 && v < BOTH_TOTAL);
		atomic_fetch_add(&both.seen[v], 1);
	}
	ringo_waitgroup_done(&both.wg);
}

static int both_main(void *arg)
{
	(void)arg;
	both.a = ringo_chan_make(sizeof(int), 0);
	both.b = ringo_chan_make(sizeof(int), 0);
	for (int v = 0; v < BOTH_TOTAL; v++)
		atomic_store(&both.seen[v], 0);
	ringo_waitgroup_add(&both.wg, BOTH_PUSHERS + BOTH_PULLERS);
	for (intptr_t i = 0; i < BOTH_PUSHERS; i++)
		GO_OK(ringo_go(both_pusher, (void *)i));
	for (int i = 0; i < BOTH_PULLERS; i++) {
		/* The pullers' shares add up to BOTH_TOTAL. */
		int n = BOTH_TOTAL / BOTH_PULLERS + (i < BOTH_TOTAL % BOTH_PULLERS);
		GO_OK(ringo_go(both_puller, (void *)(intptr_t)n));
	}
	ringo_waitgroup_wait(&both.wg);
	for (int v = 0; v < BOTH_TOTAL; v++)
		REQUIRE_MSG(atomic_load(&both.seen[v]) == 1, "value %d received %d times", v,
			    atomic_load(&both.seen[v]));
	ringo_chan_unref(both.a);
	ringo_chan_unref(both.b);
	return 0;
}

START_TEST(test_select_both_sides)
{
	for (int round = 0; round < 3; round++)
		RUN(both_main, NULL);
}
END_TEST

/* ---- non-blocking select from a thread with no goroutine and no P ------------- */

#define FOREIGN_N 300

static void *foreign(void *arg)
{
	ringo_chan *c = arg;
	for (int i = 0; i < FOREIGN_N; i++) {
		struct ringo_case cs[2] = { send_case(c, &i), recv_case(NULL, NULL) };
		while (ringo_select(cs, 2, RINGO_SELECT_NOWAIT) == -EAGAIN)
			sched_yield();
		REQUIRE_EQ(cs[0].result, 0);
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
	ringo_chan *c = ringo_chan_make(sizeof(int), 0);
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, foreign, c), 0);
	for (int i = 0; i < FOREIGN_N; i++) {
		int v = -1;
		REQUIRE_EQ(ringo_chan_recv(c, &v), 1);
		REQUIRE_EQ(v, i);
	}
	pthread_join(t, NULL);
	atomic_store(&keeper_stop, 1);
	ringo_chan_unref(c);
	return 0;
}

START_TEST(test_select_foreign_thread)
{
	RUN(foreign_main, NULL);
}
END_TEST

/* ---- the memory model through select ------------------------------------------- */

static long mm_data[4][16];

static void mm_writer(void *arg)
{
	ringo_chan **c = arg;
	for (int i = 0; i < 5000; i++) {
		int k = i % 4;
		for (int j = 0; j < 16; j++)
			mm_data[k][j] = i * 16 + j;
		/* Send the slot index through a select on two channels. */
		struct ringo_case cs[2] = { send_case(c[0], &k), send_case(c[1], &k) };
		int r = ringo_select(cs, 2, 0);
		REQUIRE(r == 0 || r == 1);
		/* Wait for the reader to give the slot back. */
		REQUIRE_EQ(ringo_chan_recv(c[2], NULL), 1);
	}
}

static int mm_main(void *arg)
{
	(void)arg;
	ringo_chan *c[3] = { ringo_chan_make(sizeof(int), 0), ringo_chan_make(sizeof(int), 1),
			     ringo_chan_make(0, 0) };
	REQUIRE_OK(ringo_go(mm_writer, c));
	for (int i = 0; i < 5000; i++) {
		int k = -1;
		struct ringo_case cs[2] = { recv_case(c[0], &k), recv_case(c[1], &k) };
		int r = ringo_select(cs, 2, 0);
		REQUIRE(r == 0 || r == 1);
		REQUIRE_EQ(k, i % 4);
		for (int j = 0; j < 16; j++)
			REQUIRE_EQ(mm_data[k][j], i * 16 + j);
		REQUIRE_OK(ringo_chan_send(c[2], NULL));
	}
	for (int i = 0; i < 3; i++)
		ringo_chan_unref(c[i]);
	return 0;
}

START_TEST(test_select_memory_model)
{
	RUN(mm_main, NULL);
}
END_TEST

/* ---- a pipeline cancelled through a done channel leaks no goroutine ---------- */

struct stage {
	ringo_chan *in, *out, *done;
};

static void gen_stage(void *arg)
{
	struct stage *s = arg;
	for (uint64_t i = 1;; i++) {
		struct ringo_case cs[2] = { send_case(s->out, &i), recv_case(s->done, NULL) };
		if (ringo_select(cs, 2, 0) == 1)
			break;	/* cancelled */
	}
	ringo_chan_unref(s->out);
	ringo_chan_unref(s->done);
	free(s);
}

static void square_stage(void *arg)
{
	struct stage *s = arg;
	for (;;) {
		uint64_t v;	/* squares wrap (well-defined) past the checked ones */
		struct ringo_case rc[2] = { recv_case(s->in, &v), recv_case(s->done, NULL) };
		if (ringo_select(rc, 2, 0) == 1 || rc[0].result == 0)
			break;
		v *= v;
		struct ringo_case sc[2] = { send_case(s->out, &v), recv_case(s->done, NULL) };
		if (ringo_select(sc, 2, 0) == 1)
			break;
	}
	ringo_chan_unref(s->in);
	ringo_chan_unref(s->out);
	ringo_chan_unref(s->done);
	free(s);
}

static struct stage *new_stage(ringo_chan *in, ringo_chan *out, ringo_chan *done)
{
	struct stage *s = malloc(sizeof *s);
	s->in = ringo_chan_ref(in);
	s->out = ringo_chan_ref(out);
	s->done = ringo_chan_ref(done);
	return s;
}

static int pipeline_main(void *arg)
{
	(void)arg;
	int start = ringo_num_goroutine();
	for (int round = 0; round < 20; round++) {
		ringo_chan *done = ringo_chan_make(0, 0);
		ringo_chan *c0 = ringo_chan_make(sizeof(uint64_t), round % 3);
		REQUIRE_OK(ringo_go(gen_stage, new_stage(NULL, c0, done)));
		ringo_chan *in = c0;
		/* Four squaring stages: x^16. */
		for (int k = 0; k < 4; k++) {
			ringo_chan *out = ringo_chan_make(sizeof(uint64_t), (size_t)k % 2);
			REQUIRE_OK(ringo_go(square_stage, new_stage(in, out, done)));
			ringo_chan_unref(in);
			in = out;
		}
		/* Consume a few values: 1, 2^16, 3^16 ... in order. */
		for (uint64_t i = 1; i <= 10; i++) {
			uint64_t v;
			REQUIRE_EQ(ringo_chan_recv(in, &v), 1);
			uint64_t want = i * i;
			want *= want;
			want *= want;
			want *= want;
			REQUIRE_EQ(v, want);
		}
		/* Cancel: closing done wakes every stage wherever it blocks. */
		REQUIRE_OK(ringo_chan_close(done));
		ringo_chan_unref(done);
		ringo_chan_unref(in);
		while (ringo_num_goroutine() != start)
			ringo_yield();
	}
	REQUIRE_EQ(ringo_num_goroutine(), start);
	return 0;
}

START_TEST(test_pipeline_cancel)
{
	RUN(pipeline_main, NULL);
}
END_TEST

/* ---- a select with a ringo_after case times out ---------------------------------- */

static int after_main(void *arg)
{
	(void)arg;
	ringo_chan *never = ringo_chan_make(sizeof(int), 0);
	for (int round = 0; round < 5; round++) {
		int v;
		int64_t fired = 0;
		ringo_chan *timeout = ringo_after(1000000);	/* 1 ms */
		REQUIRE(timeout != NULL);
		struct ringo_case cs[2] = { recv_case(never, &v), recv_case(timeout, &fired) };
		REQUIRE_EQ(ringo_select(cs, 2, 0), 1);
		REQUIRE_EQ(cs[1].result, 1);
		REQUIRE(fired > 0);
		ringo_chan_unref(timeout);
	}
	ringo_chan_unref(never);
	return 0;
}

START_TEST(test_select_after_timeout)
{
	RUN(after_main, NULL);
}
END_TEST

static Suite *select_suite(void)
{
	Suite *s = suite_create("select");
	TCase *tc = tcase_create("select");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_select_outside_runtime);
	tcase_add_test(tc, test_select_args);
	tcase_add_test(tc, test_select_empty_blocks);
	tcase_add_test(tc, test_select_nowait_and_nil);
	tcase_add_test(tc, test_select_fair);
	tcase_add_test(tc, test_select_blocking_handoff);
	tcase_add_test(tc, test_select_closed);
	tcase_add_test(tc, test_select_same_channel);
	tcase_add_test(tc, test_select_64);
	tcase_add_test(tc, test_select_one_wakeup);
	tcase_add_test(tc, test_select_both_sides);
	tcase_add_test(tc, test_select_foreign_thread);
	tcase_add_test(tc, test_select_memory_model);
	tcase_add_test(tc, test_pipeline_cancel);
	/* Skipped until the timers work lands (see the weak reference). */
	if (ringo_after)
		tcase_add_test(tc, test_select_after_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(select_suite);
}
