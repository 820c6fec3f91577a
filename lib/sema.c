/* SPDX-License-Identifier: MIT */
/*
 * sema.c - the runtime semaphore table (Go's semtable) and the notify
 * list behind ringo_cond.
 *
 * The table is a fixed array of buckets hashed by semaphore address. Each
 * bucket holds, under its lock, a treap (a binary search tree on the
 * address that is also a heap on a random priority, so it stays balanced)
 * with one node per address that has waiters; the node is the first
 * waiter, and the others hang off it in a FIFO list. One bucket can
 * therefore hold the waiters of many hot semaphores without a linear scan:
 * Go moved from a list to this treap after programs with thousands of
 * contended mutexes sharing buckets slowed down (golang/go#17953).
 *
 * Invariants:
 *  - bucket.nwait >= the number of waiters queued in the bucket; a
 *    releaser that sees nwait == 0 after incrementing the semaphore may
 *    skip the lock. The waiter increments nwait *before* its last check of
 *    the semaphore and the releaser increments the semaphore *before* it
 *    reads nwait (both sequentially consistent), so one of the two always
 *    sees the other: no lost wake-up.
 *  - A waiter is off every queue before it is woken, and the waker never
 *    touches the wait record after waking it (it lives on the waiter's
 *    stack).
 *  - The bucket lock is released by the park unlock function, after the
 *    waiter is off its stack: a releaser can only find the waiter once it
 *    is safe to ready it.
 *
 * Hand-off: when a mutex is in starvation mode its unlock passes the count
 * straight to the first waiter (handoff = 1: the waiter does not compete
 * for it again) and yields its P, so the waiter runs next on this P
 * instead of after the releaser's time slice.
 */
#include "sema.h"

#include <string.h>

/* A prime number of buckets, as Go: addresses of neighbouring objects
 * spread well. */
#define SEMTABLE_SIZE 251

struct semroot {
	ringo__lock_t lock;
	_Atomic uint32_t nwait;		/* queued waiters (see the invariant) [atomic] */
	uint32_t rand;			/* xorshift state for treap priorities [lock] */
	struct ringo__semwaiter *treap;	/* [lock] */
} __attribute__((aligned(RINGO_CACHELINE)));	/* one cache line per bucket */

static struct semroot semtable[SEMTABLE_SIZE];

static inline struct semroot *semroot_for(const void *addr)
{
	return &semtable[((uintptr_t)addr >> 3) % SEMTABLE_SIZE];
}

static uint32_t root_rand(struct semroot *root)
{
	uint32_t x = root->rand;
	if (!x)
		x = (uint32_t)((uintptr_t)root >> 6) | 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	root->rand = x;
	return x;
}

/* Take one count if there is one. seq_cst: see the nwait invariant; the
 * successful CAS also acquires the releaser's increment. */
static inline bool cansemacquire(_Atomic uint32_t *addr)
{
	uint32_t v = atomic_load(addr);
	while (v != 0)
		if (atomic_compare_exchange_weak(addr, &v, v - 1))
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* The treap (bucket lock held for all of these)                         */

static void set_child(struct semroot *root, struct ringo__semwaiter *parent,
		      struct ringo__semwaiter *old, struct ringo__semwaiter *new)
{
	if (!parent)
		root->treap = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/* x's right child takes x's place; x becomes its left child. */
static void rotate_left(struct semroot *root, struct ringo__semwaiter *x)
{
	struct ringo__semwaiter *p = x->parent, *y = x->right, *b = y->left;
	y->left = x;
	x->parent = y;
	x->right = b;
	if (b)
		b->parent = x;
	y->parent = p;
	set_child(root, p, x, y);
}

/* y's left child takes y's place; y becomes its right child. */
static void rotate_right(struct semroot *root, struct ringo__semwaiter *y)
{
	struct ringo__semwaiter *p = y->parent, *x = y->left, *b = x->right;
	x->right = y;
	y->parent = x;
	y->left = b;
	if (b)
		b->parent = y;
	x->parent = p;
	set_child(root, p, y, x);
}

/* Queue w (whose g is set) as a waiter on addr: at the tail of the
 * address's FIFO, or at its head if lifo. */
static void queue(struct semroot *root, const void *addr,
		  struct ringo__semwaiter *w, bool lifo)
{
	w->addr = addr;
	w->left = w->right = w->parent = NULL;
	w->waitlink = w->waittail = NULL;

	struct ringo__semwaiter *last = NULL, **pt = &root->treap;
	for (struct ringo__semwaiter *t = *pt; t; t = *pt) {
		if (t->addr == addr) {
			if (lifo) {
				/* w replaces t as the node; t becomes second. */
				*pt = w;
				w->prio = t->prio;
				w->parent = t->parent;
				w->left = t->left;
				w->right = t->right;
				if (w->left)
					w->left->parent = w;
				if (w->right)
					w->right->parent = w;
				w->waitlink = t;
				w->waittail = t->waittail ? t->waittail : t;
				t->parent = t->left = t->right = NULL;
				t->waittail = NULL;
			} else {
				if (t->waittail)
					t->waittail->waitlink = w;
				else
					t->waitlink = w;
				t->waittail = w;
			}
			return;
		}
		last = t;
		pt = (uintptr_t)addr < (uintptr_t)t->addr ? &t->left : &t->right;
	}

	/* A new address: a leaf, then rotated up to restore the heap order. */
	w->prio = root_rand(root) | 1;
	w->parent = last;
	*pt = w;
	while (w->parent && w->parent->prio > w->prio) {
		if (w->parent->left == w)
			rotate_right(root, w->parent);
		else
			rotate_left(root, w->parent);
	}
}

/* Remove and return the first waiter on addr, or NULL. */
static struct ringo__semwaiter *dequeue(struct semroot *root, const void *addr)
{
	struct ringo__semwaiter **ps = &root->treap, *s;
	for (s = *ps; s; s = *ps) {
		if (s->addr == addr)
			break;
		ps = (uintptr_t)addr < (uintptr_t)s->addr ? &s->left : &s->right;
	}
	if (!s)
		return NULL;

	struct ringo__semwaiter *t = s->waitlink;
	if (t) {
		/* The second waiter takes s's place in the tree. */
		*ps = t;
		t->prio = s->prio;
		t->parent = s->parent;
		t->left = s->left;
		t->right = s->right;
		if (t->left)
			t->left->parent = t;
		if (t->right)
			t->right->parent = t;
		t->waittail = t->waitlink ? s->waittail : NULL;
	} else {
		/* Rotate s down to a leaf, then cut it off. */
		while (s->left || s->right) {
			if (!s->right || (s->left && s->left->prio < s->right->prio))
				rotate_right(root, s);
			else
				rotate_left(root, s);
		}
		set_child(root, s->parent, s, NULL);
	}
	s->parent = s->left = s->right = NULL;
	s->waitlink = s->waittail = NULL;
	s->addr = NULL;
	return s;
}

/* ------------------------------------------------------------------ */
/* Blocking and waking                                                   */

/* Park unlock function: the G is off its stack, so wakers may find it. */
static bool unlock_after_park(struct ringo_g *g, void *lock)
{
	(void)g;
	ringo__unlock(lock);
	return true;
}

void ringo__sema_sleep(struct ringo__semwaiter *w, ringo__lock_t *l,
		       const char *reason)
{
	if (w->g) {
		RINGO_ASSERT(w->g == ringo__getg());
		ringo__park(unlock_after_park, l, reason);
	} else {
		/* A thread outside the scheduler: block it. The note pairs
		 * with ringo__note_wakeup in ringo__sema_wake. */
		ringo__unlock(l);
		ringo__note_sleep(&w->note);
	}
}

void ringo__sema_wake(struct ringo__semwaiter *w)
{
	struct ringo_g *g = w->g;
	if (g)
		ringo__ready(g);	/* the run queue publishes our writes to g */
	else
		ringo__note_wakeup(&w->note);
}

/* ------------------------------------------------------------------ */
/* Acquire and release                                                   */

void ringo__semacquire(_Atomic uint32_t *addr, bool lifo, const char *reason)
{
	if (cansemacquire(addr))
		return;

	struct ringo__semwaiter w;
	memset(&w, 0, sizeof w);
	w.g = ringo__getg();
	struct semroot *root = semroot_for(addr);
	for (;;) {
		ringo__lock(&root->lock);
		/* Announce ourselves before the last look (pairs with the
		 * releaser's increment-then-read of nwait). */
		atomic_fetch_add(&root->nwait, 1);
		if (cansemacquire(addr)) {
			atomic_fetch_sub(&root->nwait, 1);
			ringo__unlock(&root->lock);
			return;
		}
		queue(root, addr, &w, lifo);
		ringo__sema_sleep(&w, &root->lock, reason);
		/* Woken: either handed the count, or compete for it. */
		if (w.handoff || cansemacquire(addr))
			return;
		ringo__note_clear(&w.note);
	}
}

void ringo__semrelease(_Atomic uint32_t *addr, bool handoff)
{
	struct semroot *root = semroot_for(addr);
	atomic_fetch_add(addr, 1);	/* pairs with the waiter's nwait increment */
	if (atomic_load(&root->nwait) == 0)
		return;

	ringo__lock(&root->lock);
	if (atomic_load(&root->nwait) == 0) {
		/* Someone else woke the waiters first. */
		ringo__unlock(&root->lock);
		return;
	}
	struct ringo__semwaiter *w = dequeue(root, addr);
	if (w)
		atomic_fetch_sub(&root->nwait, 1);
	ringo__unlock(&root->lock);
	if (!w)
		return;

	/* Hand the count over before waking (the waiter reads handoff after
	 * it runs again; ready/note publish the write). */
	bool handed = handoff && cansemacquire(addr);
	bool yield = handed && w->g != NULL;
	if (handed)
		w->handoff = 1;
	ringo__sema_wake(w);	/* w is the waiter's from here on */
	if (yield) {
		/* Let the waiter run now on this P, from runnext. */
		struct ringo_m *m = ringo__getm();
		if (m && m->curg && m->locks == 0)
			ringo__gosched();
	}
}

/* ------------------------------------------------------------------ */
/* Notify list                                                           */

/* a < b modulo 2^32: tickets wrap. */
static inline bool ticket_less(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

uint32_t ringo__notifylist_add(struct ringo__notifylist *l)
{
	/* Taken with the user's mutex held; notify_* read it (seq_cst). */
	return atomic_fetch_add(&l->wait, 1);
}

void ringo__notifylist_wait(struct ringo__notifylist *l, uint32_t t)
{
	ringo__lock(&l->lock);
	if (ticket_less(t, atomic_load_explicit(&l->notify, memory_order_relaxed))) {
		/* Already notified between add and now: the lock orders the
		 * notifier's writes before our return. */
		ringo__unlock(&l->lock);
		return;
	}
	struct ringo__semwaiter w;
	memset(&w, 0, sizeof w);
	w.g = ringo__getg();
	w.ticket = t;
	if (l->tail)
		l->tail->waitlink = &w;
	else
		l->head = &w;
	l->tail = &w;
	ringo__sema_sleep(&w, &l->lock, "sync.Cond.Wait");
}

void ringo__notifylist_notify_all(struct ringo__notifylist *l)
{
	/* Fast path: nobody took a ticket since the last notification. */
	if (atomic_load(&l->wait) == atomic_load(&l->notify))
		return;

	ringo__lock(&l->lock);
	struct ringo__semwaiter *s = l->head;
	l->head = l->tail = NULL;
	atomic_store(&l->notify, atomic_load(&l->wait));
	ringo__unlock(&l->lock);

	while (s) {
		struct ringo__semwaiter *next = s->waitlink;
		s->waitlink = NULL;
		ringo__sema_wake(s);
		s = next;
	}
}

void ringo__notifylist_notify_one(struct ringo__notifylist *l)
{
	if (atomic_load(&l->wait) == atomic_load(&l->notify))
		return;

	ringo__lock(&l->lock);
	uint32_t t = atomic_load_explicit(&l->notify, memory_order_relaxed);
	if (t == atomic_load(&l->wait)) {
		ringo__unlock(&l->lock);
		return;
	}
	atomic_store(&l->notify, t + 1);
	/* Ticket t's owner may not have queued yet (it is between add and
	 * wait): then it will see notify > t in wait and not block. */
	for (struct ringo__semwaiter *p = NULL, *s = l->head; s; p = s, s = s->waitlink) {
		if (s->ticket == t) {
			struct ringo__semwaiter *n = s->waitlink;
			if (p)
				p->waitlink = n;
			else
				l->head = n;
			if (!n)
				l->tail = p;
			ringo__unlock(&l->lock);
			s->waitlink = NULL;
			ringo__sema_wake(s);
			return;
		}
	}
	ringo__unlock(&l->lock);
}
