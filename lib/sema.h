/* SPDX-License-Identifier: MIT */
/*
 * sema.h - the runtime semaphore and the notify list (sema.c): how the
 * sync primitives block a goroutine.
 *
 * A semaphore is any uint32 in memory; its value counts wake-ups that
 * nobody has consumed. ringo__semacquire() takes one, parking the caller
 * until one is available; ringo__semrelease() adds one and readies a
 * waiter. Waiters are kept in a global table keyed by the semaphore's
 * address (Go's semtable), so a semaphore costs 4 bytes and no set-up:
 * the all-zero sync types are ready to use.
 *
 * A waiter may be a goroutine (it parks) or a plain thread that is not
 * running a goroutine (it sleeps on a futex note), so the sync types also
 * work from foreign threads - they block that thread while they wait.
 *
 * The notify list is Go's ticket-based list behind sync.Cond: a waiter
 * takes a ticket before it unlocks the user's mutex, so a signal sent
 * between the unlock and the park is never lost.
 */
#ifndef RINGO_SEMA_H
#define RINGO_SEMA_H

#include "runtime.h"

/*
 * A wait record. It lives on the waiter's stack while the waiter blocks,
 * and is owned by the wait queue that holds it (bucket lock, notify list
 * lock, or the owning object's lock) until the waker dequeues it. The
 * waker must not touch it after ringo__sema_wake(): the waiter may have
 * returned.
 */
struct ringo__semwaiter {
	struct ringo_g *g;		/* the parked goroutine, or NULL for a thread */
	ringo__note_t note;		/* a thread sleeps here (g == NULL) */
	uint32_t handoff;		/* 1: the releaser took the count for us */
	const void *addr;		/* semaphore address: the treap key */

	/* Treap links: valid while this waiter heads its address's queue
	 * [bucket lock]. The treap is a binary search tree on addr and a
	 * min-heap on prio. */
	struct ringo__semwaiter *parent, *left, *right;
	uint32_t prio;

	/* FIFO of the other waiters on the same address: the head's
	 * waitlink is the second waiter, waittail the last [bucket lock].
	 * The notify list and the weighted semaphore reuse waitlink as
	 * their queue link. */
	struct ringo__semwaiter *waitlink, *waittail;

	uint32_t ticket;		/* notify list ticket [notify list lock] */
	int64_t n;			/* weighted semaphore: units wanted */
	int result;			/* weighted semaphore: 0 or -errno */
};

/* Take one count from *addr, blocking until there is one. lifo puts the
 * caller at the head of the queue (a mutex waiter that was woken and lost
 * the race goes back first). reason appears in goroutine dumps. */
RINGO_HIDDEN void ringo__semacquire(_Atomic uint32_t *addr, bool lifo,
				    const char *reason);
/* Add one count to *addr and wake the first waiter, if any. handoff: the
 * count goes straight to that waiter (it cannot be stolen by a goroutine
 * arriving meanwhile), and a releasing goroutine yields its P to it
 * (mutex starvation mode). */
RINGO_HIDDEN void ringo__semrelease(_Atomic uint32_t *addr, bool handoff);

/* Block the caller on w until ringo__sema_wake(w). l is held by the caller
 * and released once the caller can no longer miss the wake-up (for a
 * goroutine: after it is off its stack, by the park unlock function). */
RINGO_HIDDEN void ringo__sema_sleep(struct ringo__semwaiter *w, ringo__lock_t *l,
				    const char *reason);
/* Wake w's goroutine or thread. w must already be off every queue; the
 * caller must not touch w afterwards. */
RINGO_HIDDEN void ringo__sema_wake(struct ringo__semwaiter *w);

/* Go's notifyList (sync.Cond). The all-zero value is an empty list.
 * Tickets are compared modulo 2^32. */
struct ringo__notifylist {
	_Atomic uint32_t wait;		/* next ticket to hand out [atomic] */
	_Atomic uint32_t notify;	/* next ticket to notify [lock; read racily] */
	ringo__lock_t lock;
	struct ringo__semwaiter *head, *tail;	/* waiters by arrival [lock] */
};

/* Take a ticket (before unlocking the user's mutex). */
RINGO_HIDDEN uint32_t ringo__notifylist_add(struct ringo__notifylist *l);
/* Block until ticket t has been notified (returns at once if it has). */
RINGO_HIDDEN void ringo__notifylist_wait(struct ringo__notifylist *l, uint32_t t);
/* Notify the oldest unnotified ticket / every ticket handed out so far. */
RINGO_HIDDEN void ringo__notifylist_notify_one(struct ringo__notifylist *l);
RINGO_HIDDEN void ringo__notifylist_notify_all(struct ringo__notifylist *l);

#endif /* RINGO_SEMA_H */
