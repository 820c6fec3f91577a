/* SPDX-License-Identifier: MIT */
/*
 * timer.c - per-P timer heaps (DESIGN.md §8), as Go 1.14+: every P keeps a
 * 4-ary min-heap of the timers started on it, ordered by deadline.
 *
 * A timer is a struct ringo__timer embedded in whatever needs one (a
 * sleeping goroutine's stack frame, a ringo_timer, a netpoll deadline, a
 * context); the heap holds (deadline, pointer) pairs and each timer
 * remembers its slot, so start, stop and modify are O(log n) and cost no
 * system call or kernel object: a million pending timers are 16 MB of heap
 * array (plus the timers themselves, 56 bytes each, inside their owners).
 * The deadline is kept in the array (as Go 1.23 does) because the timers
 * live in many goroutines' stacks: comparing through the pointers cost a
 * cache and TLB miss per child at every level of a sift.
 *
 * Most timers are started in deadline order: every goroutine sleeping for
 * the same time, every connection's deadline of the same length. Those go
 * to a queue instead (a ring of the same (deadline, pointer) pairs): a
 * timer whose deadline is not before the queue's last one is appended,
 * the head fires first, and a stopped one leaves a hole (t == NULL) that
 * the head skips, compacted once holes outnumber timers. Adding, firing
 * and stopping are then O(1) and write nothing but the ring. In the heap,
 * every level of a sift rewrites a moved timer's index in its owner's
 * cold stack: with 100,000 sleepers, a cache miss at each of eight levels
 * per wake, a tenth of the CPU time of waking them.
 *
 * Invariants (all under the heap's lock):
 *  - t->p == p  <=>  t is pending on p: in p's heap at heap[t->idx]
 *    (idx >= 0), or in p's queue at q[t->qseq & qmask] (idx == -1); the
 *    entry's when == t->when. t->p == NULL when it is not pending. t->p is
 *    atomic so that stop can find the heap to lock without a lock; it
 *    re-checks after locking (a timer moves only by firing, stop, or
 *    ringo__timers_move).
 *  - The queue's entries from qhead to qtail (sequence numbers, wrapping)
 *    are in nondecreasing order of when, holes included; its first and
 *    last entries are never holes; qlive counts the others.
 *  - p->timer0_when == the earlier of heap[0].when and the queue's first,
 *    or 0 when both are empty. The scheduler reads it without the lock
 *    (can_switch_direct, findrunnable, sysmon): a stale value only makes
 *    it look again or a little late.
 *  - ts->npending == timers pending in ts (heap and queue), plus the
 *    one-shot timer whose callback an M runs for ts until it has readied
 *    its G: the deadlock detector's count (a goroutine asleep on a timer
 *    is not deadlocked). Per P, written under the lock, so that starting
 *    and firing timers on two Ps share no cache line.
 *  - At most one M runs a heap's callbacks at a time (ts->running); the
 *    callback runs with the heap unlocked, and ts->running_timer names the
 *    timer whose callback is in progress, so ringo__timer_sync can wait
 *    for it before its owner frees it. After f returns the heap never
 *    touches the timer again (one-shot owners may free it inside f).
 *
 * Callbacks run on g0 of the M that holds the P (findrunnable, or another
 * P's stealer) or on sysmon with no P at all: they must not block or park.
 * The public API on top (sleep, after, timers, tickers) is in time.c.
 */
#include "runtime.h"

#include <time.h>

#define HEAP_ARITY 4
#define HEAP_MIN_CAP 64

struct heap_entry {
	int64_t when;			/* == t->when */
	struct ringo__timer *t;
};

struct ringo__timers {
	ringo__lock_t lock;
	struct heap_entry *heap;	/* 4-ary min-heap on .when [lock] */
	int32_t len;			/* [lock] */
	int32_t cap;			/* slots allocated [lock] */
	struct heap_entry *q;		/* the queue: a ring of qmask + 1 [lock] */
	uint32_t qmask;			/* slots - 1 (a power of two), or 0 [lock] */
	uint32_t qhead, qtail;		/* first entry's sequence number, last's + 1 [lock] */
	uint32_t qlive;			/* entries that are not holes [lock] */
	_Atomic int64_t npending;	/* see the file comment [written under lock] */
	bool running;			/* an M is running callbacks [lock] */
	/* The timer whose callback runs now, or NULL. Written under lock,
	 * read by ringo__timer_sync without it (acquire pairs with the
	 * release store after f returns). */
	struct ringo__timer *_Atomic running_timer;
};

/* ------------------------------------------------------------------ */
/* The heap (lock held for all of these)                                 */

static inline void heap_set(struct ringo__timers *ts, int32_t i, struct heap_entry e)
{
	ts->heap[i] = e;
	e.t->idx = i;
}

static void siftup(struct ringo__timers *ts, int32_t i)
{
	struct heap_entry e = ts->heap[i];
	while (i > 0) {
		int32_t parent = (i - 1) / HEAP_ARITY;
		if (ts->heap[parent].when <= e.when)
			break;
		heap_set(ts, i, ts->heap[parent]);
		i = parent;
	}
	heap_set(ts, i, e);
}

static void siftdown(struct ringo__timers *ts, int32_t i)
{
	struct heap_entry e = ts->heap[i];
	int32_t n = ts->len;
	for (;;) {
		int32_t c = i * HEAP_ARITY + 1;
		if (c >= n)
			break;
		/* The smallest of up to four children (one cache line). */
		int32_t best = c;
		int32_t end = c + HEAP_ARITY < n ? c + HEAP_ARITY : n;
		for (int32_t j = c + 1; j < end; j++)
			if (ts->heap[j].when < ts->heap[best].when)
				best = j;
		if (ts->heap[best].when >= e.when)
			break;
		heap_set(ts, i, ts->heap[best]);
		i = best;
	}
	heap_set(ts, i, e);
}

static void resize(struct ringo__timers *ts, int32_t cap)
{
	struct heap_entry *h = ringo__alloc(sizeof(*h) * (size_t)cap);
	if (!h)
		ringo__fatal("out of memory for %d timers", (int)cap);
	if (ts->len)
		__builtin_memcpy(h, ts->heap, sizeof(*h) * (size_t)ts->len);
	if (ts->heap)
		ringo__free(ts->heap, sizeof(*h) * (size_t)ts->cap);
	ts->heap = h;
	ts->cap = cap;
}

/* Lock held; the deadlock check reads npending without it. release:
 * whoever sees a fired timer uncounted sees the G its callback readied. */
static inline void pending_add(struct ringo__timers *ts, int64_t d)
{
	atomic_store_explicit(&ts->npending,
			      atomic_load_explicit(&ts->npending, memory_order_relaxed) + d,
			      memory_order_release);
}

/* ------------------------------------------------------------------ */
/* The queue (lock held for all of these)                                */

#define QUEUE_MIN_SLOTS 64

static inline struct heap_entry *qslot(struct ringo__timers *ts, uint32_t seq)
{
	return &ts->q[seq & ts->qmask];
}

static inline bool queue_empty(const struct ringo__timers *ts)
{
	return ts->qhead == ts->qtail;
}

/* Would t (deadline when) keep the queue in order if appended? */
static inline bool queue_takes(struct ringo__timers *ts, int64_t when)
{
	return queue_empty(ts) || qslot(ts, ts->qtail - 1)->when <= when;
}

/* Move the entries to a ring of `slots` (a power of two that holds them),
 * each at the same sequence number: no timer's qseq changes. */
static void queue_resize(struct ringo__timers *ts, uint32_t slots)
{
	struct heap_entry *q = ringo__alloc(sizeof(*q) * slots);
	if (!q)
		ringo__fatal("out of memory for %u timers", (unsigned)slots);
	for (uint32_t seq = ts->qhead; seq != ts->qtail; seq++)
		q[seq & (slots - 1)] = *qslot(ts, seq);
	if (ts->q)
		ringo__free(ts->q, sizeof(*q) * (ts->qmask + 1));
	ts->q = q;
	ts->qmask = slots - 1;
}

static void queue_append(struct ringo__timers *ts, struct ringo__timer *t)
{
	uint32_t n = ts->qtail - ts->qhead;
	if (!ts->q || n == ts->qmask + 1) {
		if (n > UINT32_MAX / 4)
			ringo__fatal("too many timers");
		queue_resize(ts, ts->q ? 2 * (ts->qmask + 1) : QUEUE_MIN_SLOTS);
	}
	t->idx = -1;
	t->qseq = ts->qtail++;
	*qslot(ts, t->qseq) = (struct heap_entry){ t->when, t };
	ts->qlive++;
}

/* Holes left behind by stops: slide the timers toward the head, in order,
 * and give memory back when the ring is mostly empty. */
static void queue_compact(struct ringo__timers *ts)
{
	uint32_t w = ts->qhead;
	for (uint32_t r = ts->qhead; r != ts->qtail; r++) {
		struct heap_entry e = *qslot(ts, r);
		if (!e.t)
			continue;
		e.t->qseq = w;
		*qslot(ts, w++) = e;
	}
	ts->qtail = w;
	uint32_t slots = ts->qmask + 1;
	while (slots > QUEUE_MIN_SLOTS && ts->qlive < slots / 4)
		slots /= 2;
	if (slots != ts->qmask + 1)
		queue_resize(ts, slots);
}

/* Take t (at t->qseq) out of the queue. */
static void queue_remove(struct ringo__timers *ts, struct ringo__timer *t)
{
	RINGO_ASSERT(qslot(ts, t->qseq)->t == t);
	qslot(ts, t->qseq)->t = NULL;
	ts->qlive--;
	/* Neither end is a hole. */
	while (!queue_empty(ts) && !qslot(ts, ts->qhead)->t)
		ts->qhead++;
	while (!queue_empty(ts) && !qslot(ts, ts->qtail - 1)->t)
		ts->qtail--;
	uint32_t span = ts->qtail - ts->qhead, slots = ts->qmask + 1;
	if (span > 2 * ts->qlive + QUEUE_MIN_SLOTS)
		queue_compact(ts);
	else if (slots > QUEUE_MIN_SLOTS && span < slots / 4)
		queue_resize(ts, slots / 2);	/* after a burst */
}

/* ------------------------------------------------------------------ */
/* Heap and queue together                                               */

/* The earliest pending timer's entry, or NULL. */
static inline struct heap_entry *timers_first(struct ringo__timers *ts)
{
	struct heap_entry *h = ts->len ? &ts->heap[0] : NULL;
	struct heap_entry *q = queue_empty(ts) ? NULL : qslot(ts, ts->qhead);
	if (!h)
		return q;
	return q && q->when < h->when ? q : h;
}

static inline int64_t timers_first_when(struct ringo__timers *ts)
{
	struct heap_entry *e = timers_first(ts);
	return e ? e->when : 0;
}

static inline void update_timer0(struct ringo_p *p, struct ringo__timers *ts)
{
	/* Read racily by the scheduler and sysmon; see the file comment. */
	atomic_store_explicit(&p->timer0_when, timers_first_when(ts), memory_order_release);
}

static void heap_add(struct ringo__timers *ts, struct ringo__timer *t)
{
	if (ts->len == ts->cap) {
		if (ts->cap > INT32_MAX / 2)
			ringo__fatal("too many timers");
		resize(ts, ts->cap ? ts->cap * 2 : HEAP_MIN_CAP);
	}
	int32_t i = ts->len++;
	heap_set(ts, i, (struct heap_entry){ t->when, t });
	siftup(ts, i);
}

static void heap_remove(struct ringo__timers *ts, int32_t i)
{
	int32_t last = --ts->len;
	if (i != last) {
		heap_set(ts, i, ts->heap[last]);
		if (i > 0 && ts->heap[i].when < ts->heap[(i - 1) / HEAP_ARITY].when)
			siftup(ts, i);
		else
			siftdown(ts, i);
	}
	ts->heap[last] = (struct heap_entry){ 0, NULL };
	/* Give memory back after a burst (a million deadlines that passed). */
	if (ts->cap > HEAP_MIN_CAP && ts->len < ts->cap / 4)
		resize(ts, ts->cap / 2);
}

/* Make t (t->when set) pending on p: in the queue if it keeps it in
 * order, else in the heap. */
static void timers_add(struct ringo_p *p, struct ringo__timers *ts, struct ringo__timer *t)
{
	if (queue_takes(ts, t->when))
		queue_append(ts, t);
	else
		heap_add(ts, t);
	/* release: pairs with the acquire load in ringo__timer_stop */
	atomic_store_explicit(&t->p, p, memory_order_release);
}

/* Take pending t out of the heap or the queue (t->p is left to the caller). */
static void timers_remove(struct ringo__timers *ts, struct ringo__timer *t)
{
	if (t->idx < 0)
		queue_remove(ts, t);
	else
		heap_remove(ts, t->idx);
}

/* ------------------------------------------------------------------ */
/* Starting and stopping                                                 */

/* Lock the heap that holds t, or return NULL if t is not pending. */
static struct ringo_p *lock_timer_heap(struct ringo__timer *t)
{
	for (;;) {
		/* acquire: pairs with the release store in timers_add */
		struct ringo_p *p = atomic_load_explicit(&t->p, memory_order_acquire);
		if (!p)
			return NULL;
		ringo__lock(&p->timers->lock);
		if (atomic_load_explicit(&t->p, memory_order_relaxed) == p)
			return p;
		/* Fired, stopped or moved meanwhile: look again. */
		ringo__unlock(&p->timers->lock);
	}
}

static void timer_add(struct ringo__timer *t, int64_t when)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_p *p = m && m->p ? m->p : ringo__sched.allp[0];
	struct ringo__timers *ts = p->timers;
	if (when < 1)
		when = 1;	/* 0 is timer0_when's "no timer": it would never fire */
	ringo__lock(&ts->lock);
	RINGO_ASSERT(atomic_load(&t->p) == NULL);
	int64_t first = timers_first_when(ts);
	t->when = when;
	timers_add(p, ts, t);
	pending_add(ts, 1);
	bool earliest = first == 0 || when < first;
	if (earliest)
		update_timer0(p, ts);
	ringo__unlock(&ts->lock);
	/* A heap other than our own P's got an earlier deadline: an M asleep
	 * on that P waits for the old one. Ring it (harmless if it is busy;
	 * sysmon runs overdue timers of busy Ps). */
	if (earliest && (!m || m->p != p))
		ringo__netpoll_wake(p);
}

void ringo__timer_start(struct ringo__timer *t, int64_t when)
{
	RINGO_ASSERT(t->f != NULL);
	timer_add(t, when);
}

bool ringo__timer_stop(struct ringo__timer *t)
{
	struct ringo_p *p = lock_timer_heap(t);
	if (!p)
		return false;
	struct ringo__timers *ts = p->timers;
	timers_remove(ts, t);
	atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
	pending_add(ts, -1);
	update_timer0(p, ts);
	ringo__unlock(&ts->lock);
	return true;
}

bool ringo__timer_modify(struct ringo__timer *t, int64_t when)
{
	bool pending = ringo__timer_stop(t);
	timer_add(t, when);
	return pending;
}

void ringo__timer_sync(struct ringo__timer *t)
{
	struct ringo_p **allp = ringo__sched.allp;
	if (!allp)
		return;
	/* Ps are never freed before ringo_run returns, and allp[i] is only
	 * written during a stop-the-world; Ps beyond nprocs may still finish
	 * a callback started before they were removed, so look at them all. */
	for (int i = 0; i < 1024; i++) {
		struct ringo_p *p = __atomic_load_n(&allp[i], __ATOMIC_ACQUIRE);
		if (!p)
			break;
		struct ringo__timers *ts = p->timers;
		if (!ts)
			continue;
		/* acquire: pairs with the release store after f returns */
		for (int spins = 0; atomic_load_explicit(&ts->running_timer,
						memory_order_acquire) == t; spins++) {
			if (spins < 100) {
				ringo__cpu_relax();
			} else {
				struct timespec ts50 = { 0, 50000 };
				nanosleep(&ts50, NULL);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* The scheduler's view                                                  */

int ringo__timers_init(struct ringo_p *p)
{
	p->timers = ringo__alloc(sizeof *p->timers);
	atomic_store(&p->timer0_when, 0);
	return p->timers ? 0 : -ENOMEM;
}

void ringo__timers_destroy(struct ringo_p *p)
{
	struct ringo__timers *ts = p->timers;
	if (!ts)
		return;
	/* Pending timers are abandoned with the goroutines that own them;
	 * the ones the runtime owns itself (ringo_after) are released. */
	for (int32_t i = 0; i < ts->len; i++) {
		struct ringo__timer *t = ts->heap[i].t;
		atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
		ringo__time_abandon(t);
	}
	for (uint32_t seq = ts->qhead; seq != ts->qtail; seq++) {
		struct ringo__timer *t = qslot(ts, seq)->t;
		if (!t)
			continue;
		atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
		ringo__time_abandon(t);
	}
	if (ts->heap)
		ringo__free(ts->heap, sizeof(*ts->heap) * (size_t)ts->cap);
	if (ts->q)
		ringo__free(ts->q, sizeof(*ts->q) * (ts->qmask + 1));
	ringo__free(ts, sizeof *ts);
	p->timers = NULL;
	atomic_store(&p->timer0_when, 0);
}

bool ringo__timers_pending(void)
{
	struct ringo_p **allp = ringo__sched.allp;
	/* Every P, also those beyond nprocs: one may still be counting a
	 * callback that sysmon runs for it. */
	for (int i = 0; allp && allp[i]; i++) {
		struct ringo__timers *ts = allp[i]->timers;
		/* acquire: pairs with pending_add */
		if (ts && atomic_load_explicit(&ts->npending, memory_order_acquire) > 0)
			return true;
	}
	return false;
}

int64_t ringo__timers_next(struct ringo_p *p)
{
	int64_t when = atomic_load_explicit(&p->timer0_when, memory_order_acquire);
	return when ? when : -1;
}

int64_t ringo__timers_check(struct ringo_p *p, int64_t now)
{
	struct ringo__timers *ts = p->timers;
	int64_t when = atomic_load_explicit(&p->timer0_when, memory_order_acquire);
	if (when == 0)
		return -1;
	if (when > now)
		return when;
	ringo__lock(&ts->lock);
	if (ts->running) {
		/* Another M is running this heap's callbacks (the owner, a
		 * stealer or sysmon): it will run the due ones too. */
		when = timers_first_when(ts);
		ringo__unlock(&ts->lock);
		return when ? when : -1;
	}
	ts->running = true;
	/* Readied goroutines go to this M's P (or, without a P, to the
	 * global queue). Stop while its local queue is half full: a burst of
	 * due timers would otherwise spill the queue into the global one,
	 * behind everything waiting there, and wake-ups would queue behind
	 * work that is not due. The rest stay due: the next switch (or
	 * findrunnable) comes back for them. */
	struct ringo_m *m = ringo__getm();
	struct ringo_p *dst = m ? m->p : NULL;
	struct heap_entry *e;
	while ((e = timers_first(ts)) && e->when <= now &&
	       (!dst || ringo__runqlen(dst) < RINGO_RUNQ_SIZE / 2)) {
		struct ringo__timer *t = e->t;
		void (*f)(void *, uint64_t) = t->f;
		void *arg = t->arg;
		uint64_t seq = t->seq;
		bool t_oneshot = t->period <= 0;
		timers_remove(ts, t);
		if (!t_oneshot) {
			/* Re-arm past now; a ticker that fell behind drops
			 * the ticks it missed. */
			t->when += t->period * (1 + (now - t->when) / t->period);
			timers_add(p, ts, t);
		} else {
			atomic_store_explicit(&t->p, NULL, memory_order_relaxed);
		}
		update_timer0(p, ts);
		atomic_store_explicit(&ts->running_timer, t, memory_order_relaxed);
		ringo__unlock(&ts->lock);
		f(arg, seq);	/* t may be freed by now */
		ringo__lock(&ts->lock);
		if (t_oneshot)
			/* Only now: until f has readied its G, the pending
			 * count is what keeps checkdead from seeing a
			 * deadlock. */
			pending_add(ts, -1);
		/* release: pairs with the acquire load in ringo__timer_sync */
		atomic_store_explicit(&ts->running_timer, NULL, memory_order_release);
	}
	ts->running = false;
	when = timers_first_when(ts);
	ringo__unlock(&ts->lock);
	return when ? when : -1;
}

void ringo__timers_move(struct ringo_p *from, struct ringo_p *to)
{
	struct ringo__timers *src = from->timers, *dst = to->timers;
	if (from == to || !src)
		return;
	/* The only place that holds two heap locks: serialised by the
	 * stop-the-world around procresize, so no order is needed. */
	ringo__lock(&src->lock);
	ringo__lock(&dst->lock);
	int64_t moved = (int64_t)src->len + src->qlive;
	while (src->len > 0) {
		struct ringo__timer *t = src->heap[src->len - 1].t;
		src->heap[--src->len] = (struct heap_entry){ 0, NULL };
		timers_add(to, dst, t);
	}
	for (uint32_t seq = src->qhead; seq != src->qtail; seq++)
		if (qslot(src, seq)->t)
			timers_add(to, dst, qslot(src, seq)->t);
	src->qhead = src->qtail = src->qlive = 0;
	/* A one-shot timer whose callback runs (sysmon's) stays counted
	 * here until it is done. */
	pending_add(dst, moved);
	pending_add(src, -moved);
	if (src->heap) {
		ringo__free(src->heap, sizeof(*src->heap) * (size_t)src->cap);
		src->heap = NULL;
		src->cap = 0;
	}
	if (src->q) {
		ringo__free(src->q, sizeof(*src->q) * (src->qmask + 1));
		src->q = NULL;
		src->qmask = 0;
	}
	update_timer0(from, src);
	update_timer0(to, dst);
	ringo__unlock(&dst->lock);
	ringo__unlock(&src->lock);
}
