/* SPDX-License-Identifier: MIT */
/*
 * rwmutex.c - ringo_rwmutex: Go's sync.RWMutex.
 *
 * reader_count is the number of readers holding or waiting for the lock,
 * minus MAX_READERS while a writer is pending: a reader that makes it
 * negative knows a writer is there and parks on reader_sem, so a steady
 * stream of readers cannot starve a writer. The writer, having taken w
 * (which orders writers among themselves) and subtracted MAX_READERS,
 * waits on writer_sem for the readers that were already in: it adds their
 * number to reader_wait, and each of them decrements it on the way out;
 * the one that brings it to zero wakes the writer. Unlock adds MAX_READERS
 * back and wakes the readers that queued meanwhile, before it releases w,
 * so readers waiting get in before the next writer.
 *
 * Memory model: a writer's unlock happens before any later rlock or lock
 * returns; a reader's runlock happens before the next lock returns. The
 * fast paths are sequentially consistent read-modify-writes on
 * reader_count (pairing with the writer's own), and the slow paths go
 * through the semaphores.
 */
#include "sema.h"

#define MAX_READERS (1 << 30)

struct rwmutex {
	ringo_mutex w;			/* held by the writer, pending or active */
	_Atomic uint32_t writer_sem;	/* writer waits for departing readers [sema.c] */
	_Atomic uint32_t reader_sem;	/* readers wait for the writer [sema.c] */
	_Atomic int32_t reader_count;	/* readers in, minus MAX_READERS if a writer is [atomic] */
	_Atomic int32_t reader_wait;	/* readers the pending writer waits for [atomic] */
};
_Static_assert(sizeof(struct rwmutex) <= sizeof(ringo_rwmutex) &&
	       _Alignof(struct rwmutex) <= _Alignof(ringo_rwmutex),
	       "ringo_rwmutex too small for its implementation");

static inline struct rwmutex *rwm(ringo_rwmutex *rw)
{
	return (struct rwmutex *)(void *)rw;
}

void ringo_rwmutex_rlock(ringo_rwmutex *prw)
{
	struct rwmutex *rw = rwm(prw);
	/* Pairs with the writer's subtraction in lock and addition in
	 * unlock; a negative result means a writer is pending. */
	if (atomic_fetch_add(&rw->reader_count, 1) + 1 < 0)
		ringo__semacquire(&rw->reader_sem, false, "sync.RWMutex.RLock");
}

int ringo_rwmutex_tryrlock(ringo_rwmutex *prw)
{
	struct rwmutex *rw = rwm(prw);
	int32_t c = atomic_load(&rw->reader_count);
	do {
		if (c < 0)
			return -EBUSY;	/* a writer is pending or active */
	} while (!atomic_compare_exchange_weak(&rw->reader_count, &c, c + 1));
	return 0;
}

static __attribute__((noinline, cold)) void runlock_slow(struct rwmutex *rw, int32_t r)
{
	if (r + 1 == 0 || r + 1 == -MAX_READERS)
		ringo__fatal("sync: runlock of unlocked rwmutex");
	/* A writer is pending: the last reader it waits for wakes it. */
	if (atomic_fetch_sub(&rw->reader_wait, 1) - 1 == 0)
		ringo__semrelease(&rw->writer_sem, false);
}

void ringo_rwmutex_runlock(ringo_rwmutex *prw)
{
	struct rwmutex *rw = rwm(prw);
	int32_t r = atomic_fetch_sub(&rw->reader_count, 1) - 1;
	if (r < 0)
		runlock_slow(rw, r);
}

void ringo_rwmutex_lock(ringo_rwmutex *prw)
{
	struct rwmutex *rw = rwm(prw);
	ringo_mutex_lock(&rw->w);	/* first, exclude other writers */
	/* Announce the writer; r is the number of readers still in. */
	int32_t r = atomic_fetch_sub(&rw->reader_count, MAX_READERS);
	if (r != 0 && atomic_fetch_add(&rw->reader_wait, r) + r != 0)
		ringo__semacquire(&rw->writer_sem, false, "sync.RWMutex.Lock");
}

int ringo_rwmutex_trylock(ringo_rwmutex *prw)
{
	struct rwmutex *rw = rwm(prw);
	if (ringo_mutex_trylock(&rw->w) != 0)
		return -EBUSY;
	int32_t zero = 0;
	if (!atomic_compare_exchange_strong(&rw->reader_count, &zero, -MAX_READERS)) {
		ringo_mutex_unlock(&rw->w);
		return -EBUSY;
	}
	return 0;
}

void ringo_rwmutex_unlock(ringo_rwmutex *prw)
{
	struct rwmutex *rw = rwm(prw);
	/* Let readers in again; r counts those that queued meanwhile. */
	int32_t r = atomic_fetch_add(&rw->reader_count, MAX_READERS) + MAX_READERS;
	if (r >= MAX_READERS)
		ringo__fatal("sync: unlock of unlocked rwmutex");
	for (int32_t i = 0; i < r; i++)
		ringo__semrelease(&rw->reader_sem, false);
	ringo_mutex_unlock(&rw->w);
}
