/* SPDX-License-Identifier: MIT */
/*
 * cond.c - ringo_cond: Go's sync.Cond on the ticket-based notify list.
 *
 * wait takes a ticket while the caller still holds the mutex, unlocks,
 * then blocks until its ticket is notified: a signal sent after the ticket
 * was taken always reaches this waiter (or one that arrived earlier), even
 * if it comes before the waiter has parked. signal notifies the oldest
 * outstanding ticket, broadcast all of them.
 *
 * Memory model: a signal or broadcast happens before the wait it wakes
 * returns (the notify list lock, or the ready of the parked goroutine,
 * orders them); wait then relocks the mutex as usual.
 */
#include "sema.h"

_Static_assert(sizeof(struct ringo__notifylist) <= sizeof(ringo_cond) &&
	       _Alignof(struct ringo__notifylist) <= _Alignof(ringo_cond),
	       "ringo_cond too small for its implementation");

static inline struct ringo__notifylist *nl(ringo_cond *c)
{
	return (struct ringo__notifylist *)(void *)c;
}

void ringo_cond_wait(ringo_cond *c, ringo_mutex *m)
{
	uint32_t t = ringo__notifylist_add(nl(c));
	ringo_mutex_unlock(m);
	ringo__notifylist_wait(nl(c), t);
	ringo_mutex_lock(m);
}

void ringo_cond_signal(ringo_cond *c)
{
	ringo__notifylist_notify_one(nl(c));
}

void ringo_cond_broadcast(ringo_cond *c)
{
	ringo__notifylist_notify_all(nl(c));
}
