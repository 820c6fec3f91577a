/* SPDX-License-Identifier: MIT */
/*
 * time.c - the public time API on the per-P timer heaps of timer.c:
 * ringo_now, ringo_sleep, ringo_after, ringo_timer (time.Timer and
 * time.AfterFunc) and ringo_ticker (time.Ticker).
 *
 * Channel timers send the firing time (int64_t, ringo_now()) on a channel
 * of capacity 1 with ringo_chan_try_send from the timer callback, which
 * runs without a goroutine (g0 or sysmon): a value nobody has received yet
 * makes the next one be dropped, which is how a ticker drops the ticks a
 * slow reader misses. AfterFunc timers start a goroutine for fn.
 *
 * Stop and reset follow Go 1.23: after ringo_timer_stop/reset or
 * ringo_ticker_stop/reset returns, no value prepared before the call is
 * received. Each object has a lock and a generation: stop and reset bump
 * the generation and discard a value still in the channel, all under the
 * lock; the callback sends only under the lock and only if the firing's
 * generation (passed as the timer's seq) is still current. So a firing
 * that raced with stop either delivered before it (and was discarded) or
 * finds itself stale. A value discarded this way counts as "stopped
 * before delivery": the call returns true, as Go 1.23's does.
 *
 * Lifetimes: a ringo_timer/ringo_ticker is freed by its owner; free stops
 * it and waits out a callback in flight (ringo__timer_sync). A ringo_after
 * timer owns itself: its callback sends, drops its channel reference and
 * frees it; if the runtime exits first, ringo__time_abandon frees it.
 *
 * Lock order: object lock, then the heap lock (stop/start) or the channel
 * lock (send, drain). The callback takes the object lock with no heap lock
 * held (timer.c runs callbacks unlocked).
 */
#include "runtime.h"
#include "proc.h"	/* ringo__running */

#include <time.h>

/* ------------------------------------------------------------------ */
/* ringo_now, ringo_sleep                                                */

int64_t ringo_now(void)
{
	return ringo__nanotime();
}

static void sleep_fire(void *arg, uint64_t seq)
{
	(void)seq;
	struct ringo_g *gp = arg;
	struct ringo_m *m = ringo__getm();
	if (m && m->p) {
		ringo__ready(gp);	/* onto this P's runnext, as Go */
		return;
	}
	/* No P: sysmon runs the timers of a P that is busy in one goroutine.
	 * ringo__ready would queue the sleeper at the global queue's tail,
	 * behind everything not yet started; it is due now, so it goes to
	 * the head, as it would have gone to runnext. */
	RINGO_ASSERT(atomic_load(&gp->status) == G_WAITING);
	gp->wait_reason = NULL;
	/* release: pairs with the acquire of whoever takes it off the queue */
	atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_release);
	ringo__lock(&ringo__sched.lock);
	ringo__globrunqputhead(gp);
	ringo__unlock(&ringo__sched.lock);
	ringo__wakep();
}

/* Park's unlock function: arm the timer only now that the G is off its
 * stack, so the callback cannot ready a G that is still running. */
static bool sleep_arm(struct ringo_g *gp, void *arg)
{
	(void)gp;
	struct ringo__timer *t = arg;
	ringo__timer_start(t, t->when);
	return true;
}

static int64_t deadline_after(int64_t ns)
{
	int64_t when;
	if (ns < 0)
		ns = 0;
	if (__builtin_add_overflow(ringo__nanotime(), ns, &when))
		when = INT64_MAX;
	return when;
}

int ringo_sleep(int64_t ns)
{
	struct ringo_g *gp = ringo__getg();
	if (!gp) {
		/* Not a goroutine: sleep the thread, restarting after signals. */
		if (ns <= 0)
			return 0;
		int saved = errno;
		struct timespec ts = { ns / 1000000000, ns % 1000000000 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		errno = saved;
		return 0;
	}
	if (ns <= 0) {
		ringo_yield();
		return 0;
	}
	/* The timer lives on this goroutine's stack until it fires. */
	struct ringo__timer t = { .when = deadline_after(ns), .f = sleep_fire, .arg = gp };
	ringo__park(sleep_arm, &t, "sleep");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Channel helpers                                                       */

static void send_now(ringo_chan *c)
{
	int64_t now = ringo__nanotime();
	(void)ringo_chan_try_send(c, &now);	/* full: the value is dropped */
}

/* Discard a value nobody received. true if there was one. */
static bool drain(ringo_chan *c)
{
	int64_t v;
	return ringo_chan_try_recv(c, &v) == 1;
}

/* ------------------------------------------------------------------ */
/* ringo_after                                                           */

struct after {
	struct ringo__timer t;
	ringo_chan *c;		/* our reference (the caller has another) */
};

/* Also recognised by timer.c when the runtime exits with it pending. */
static void after_fire(void *arg, uint64_t seq)
{
	(void)seq;
	struct after *a = arg;
	send_now(a->c);
	ringo_chan_unref(a->c);
	ringo__free(a, sizeof *a);	/* timer.c never touches t after f */
}

void ringo__time_abandon(struct ringo__timer *t)
{
	if (t->f == after_fire) {
		struct after *a = t->arg;
		ringo_chan_unref(a->c);
		ringo__free(a, sizeof *a);
	}
}

ringo_chan *ringo_after(int64_t ns)
{
	if (!ringo__running())
		return NULL;
	struct after *a = ringo__alloc(sizeof *a);
	if (!a)
		return NULL;
	a->c = ringo_chan_make(sizeof(int64_t), 1);
	if (!a->c) {
		ringo__free(a, sizeof *a);
		return NULL;
	}
	ringo_chan *user = ringo_chan_ref(a->c);
	a->t.f = after_fire;
	a->t.arg = a;
	ringo__timer_start(&a->t, deadline_after(ns));
	return user;
}

/* ------------------------------------------------------------------ */
/* ringo_timer                                                           */

struct ringo_timer {
	struct ringo__timer t;	/* t.seq: generation of the current arming */
	ringo__lock_t lock;	/* orders stop/reset against the callback */
	uint64_t gen;		/* [lock] */
	ringo_chan *c;		/* NULL for AfterFunc timers [immutable] */
	void (*fn)(void *);	/* [immutable] */
	void *arg;		/* [immutable] */
};

static void timer_fire(void *arg, uint64_t seq)
{
	struct ringo_timer *tm = arg;
	ringo__lock(&tm->lock);
	if (seq != tm->gen) {
		ringo__unlock(&tm->lock);	/* stopped or reset meanwhile */
		return;
	}
	if (tm->c) {
		send_now(tm->c);
		ringo__unlock(&tm->lock);
		return;
	}
	ringo__unlock(&tm->lock);
	/* AfterFunc: fn runs in its own goroutine. It fails only when the
	 * runtime is exiting, and then nothing would run it anyway. */
	(void)ringo_go(tm->fn, tm->arg);
}

/* Arm tm at now + ns with a new generation. tm->lock held. */
static void timer_arm(struct ringo_timer *tm, int64_t ns)
{
	tm->t.seq = ++tm->gen;
	ringo__timer_start(&tm->t, deadline_after(ns));
}

/* Disarm tm and discard an undelivered value. tm->lock held. Returns
 * whether a delivery was prevented. */
static bool timer_disarm(struct ringo_timer *tm)
{
	tm->gen++;	/* a firing in flight is stale from here */
	bool pending = ringo__timer_stop(&tm->t);
	if (tm->c && drain(tm->c))
		pending = true;
	return pending;
}

ringo_timer *ringo_timer_new(int64_t ns, void (*fn)(void *), void *arg)
{
	if (!ringo__running())
		return NULL;
	struct ringo_timer *tm = ringo__alloc(sizeof *tm);
	if (!tm)
		return NULL;
	if (!fn) {
		tm->c = ringo_chan_make(sizeof(int64_t), 1);
		if (!tm->c) {
			ringo__free(tm, sizeof *tm);
			return NULL;
		}
	}
	tm->fn = fn;
	tm->arg = arg;
	tm->t.f = timer_fire;
	tm->t.arg = tm;
	ringo__lock(&tm->lock);
	timer_arm(tm, ns);
	ringo__unlock(&tm->lock);
	return tm;
}

ringo_chan *ringo_timer_chan(ringo_timer *tm)
{
	return tm ? tm->c : NULL;
}

bool ringo_timer_stop(ringo_timer *tm)
{
	if (!tm)
		return false;
	ringo__lock(&tm->lock);
	bool pending = timer_disarm(tm);
	ringo__unlock(&tm->lock);
	return pending;
}

bool ringo_timer_reset(ringo_timer *tm, int64_t ns)
{
	if (!tm || !ringo__running())
		return false;
	ringo__lock(&tm->lock);
	bool pending = timer_disarm(tm);
	timer_arm(tm, ns);
	ringo__unlock(&tm->lock);
	return pending;
}

void ringo_timer_free(ringo_timer *tm)
{
	if (!tm)
		return;
	ringo_timer_stop(tm);
	ringo__timer_sync(&tm->t);	/* a callback that started may still run */
	if (tm->c)
		ringo_chan_unref(tm->c);
	ringo__free(tm, sizeof *tm);
}

/* ------------------------------------------------------------------ */
/* ringo_ticker                                                          */

struct ringo_ticker {
	struct ringo__timer t;	/* periodic; t.seq: current generation */
	ringo__lock_t lock;	/* as ringo_timer's */
	uint64_t gen;		/* [lock] */
	ringo_chan *c;		/* capacity 1 [immutable] */
};

static void ticker_fire(void *arg, uint64_t seq)
{
	struct ringo_ticker *tk = arg;
	ringo__lock(&tk->lock);
	if (seq == tk->gen)
		send_now(tk->c);	/* a tick the reader has not taken: dropped */
	ringo__unlock(&tk->lock);
}

/* tk->lock held */
static void ticker_disarm(struct ringo_ticker *tk)
{
	tk->gen++;
	ringo__timer_stop(&tk->t);
	drain(tk->c);
}

/* tk->lock held, tk disarmed */
static void ticker_arm(struct ringo_ticker *tk, int64_t period)
{
	tk->t.period = period;
	tk->t.seq = ++tk->gen;
	ringo__timer_start(&tk->t, deadline_after(period));
}

ringo_ticker *ringo_ticker_new(int64_t period)
{
	if (period <= 0 || !ringo__running())
		return NULL;
	struct ringo_ticker *tk = ringo__alloc(sizeof *tk);
	if (!tk)
		return NULL;
	tk->c = ringo_chan_make(sizeof(int64_t), 1);
	if (!tk->c) {
		ringo__free(tk, sizeof *tk);
		return NULL;
	}
	tk->t.f = ticker_fire;
	tk->t.arg = tk;
	ringo__lock(&tk->lock);
	ticker_arm(tk, period);
	ringo__unlock(&tk->lock);
	return tk;
}

ringo_chan *ringo_ticker_chan(ringo_ticker *tk)
{
	return tk ? tk->c : NULL;
}

int ringo_ticker_reset(ringo_ticker *tk, int64_t period)
{
	if (!tk || period <= 0)
		return -EINVAL;
	if (!ringo__running())
		return -EPERM;
	ringo__lock(&tk->lock);
	ticker_disarm(tk);
	ticker_arm(tk, period);
	ringo__unlock(&tk->lock);
	return 0;
}

void ringo_ticker_stop(ringo_ticker *tk)
{
	if (!tk)
		return;
	ringo__lock(&tk->lock);
	ticker_disarm(tk);
	ringo__unlock(&tk->lock);
}

void ringo_ticker_free(ringo_ticker *tk)
{
	if (!tk)
		return;
	ringo_ticker_stop(tk);
	ringo__timer_sync(&tk->t);
	ringo_chan_unref(tk->c);
	ringo__free(tk, sizeof *tk);
}
