/* SPDX-License-Identifier: MIT */
/*
 * waitgroup.c - ringo_waitgroup: Go's sync.WaitGroup.
 *
 * One 64-bit word holds the counter (high half) and the number of waiters
 * (low half), so add and wait agree on both with single atomic operations.
 * When add brings the counter to zero with waiters present, nobody can be
 * adding or waiting concurrently (that would be misuse), so it resets the
 * word to zero and releases the semaphore once per waiter. The group is
 * then ready for the next round, even before the waiters have run.
 *
 * Memory model: every done (add) is a sequentially consistent RMW on
 * state; wait returns either after reading counter 0 from that word
 * (acquire) or after the semaphore released by the last done, so
 * everything before each done happens before wait returns.
 */
#include "sema.h"

struct waitgroup {
	_Atomic uint64_t state;		/* counter << 32 | waiters [atomic] */
	_Atomic uint32_t sema;		/* waiters park here [sema.c] */
};
_Static_assert(sizeof(struct waitgroup) <= sizeof(ringo_waitgroup) &&
	       _Alignof(struct waitgroup) <= _Alignof(ringo_waitgroup),
	       "ringo_waitgroup too small for its implementation");

static inline struct waitgroup *wgi(ringo_waitgroup *wg)
{
	return (struct waitgroup *)(void *)wg;
}

void ringo_waitgroup_add(ringo_waitgroup *pwg, int delta)
{
	struct waitgroup *wg = wgi(pwg);
	uint64_t state = atomic_fetch_add(&wg->state, (uint64_t)(int64_t)delta << 32) +
			 ((uint64_t)(int64_t)delta << 32);
	int32_t v = (int32_t)(state >> 32);
	uint32_t w = (uint32_t)state;
	if (v < 0)
		ringo__fatal("sync: negative WaitGroup counter");
	if (w != 0 && delta > 0 && v == delta)
		ringo__fatal("sync: WaitGroup misuse: add called concurrently with wait");
	if (v > 0 || w == 0)
		return;
	/* Counter 0 with waiters: nobody may touch the group now but us. */
	if (atomic_load(&wg->state) != state)
		ringo__fatal("sync: WaitGroup misuse: add called concurrently with wait");
	atomic_store(&wg->state, 0);
	for (; w != 0; w--)
		ringo__semrelease(&wg->sema, false);
}

void ringo_waitgroup_done(ringo_waitgroup *wg)
{
	ringo_waitgroup_add(wg, -1);
}

void ringo_waitgroup_wait(ringo_waitgroup *pwg)
{
	struct waitgroup *wg = wgi(pwg);
	uint64_t state = atomic_load(&wg->state);	/* acquire: pairs with add */
	for (;;) {
		if ((int32_t)(state >> 32) == 0)
			return;
		/* Count ourselves as a waiter, then park. */
		if (atomic_compare_exchange_weak(&wg->state, &state, state + 1)) {
			ringo__semacquire(&wg->sema, false, "sync.WaitGroup.Wait");
			if (atomic_load(&wg->state) != 0)
				ringo__fatal("sync: WaitGroup is reused before previous wait has returned");
			return;
		}
	}
}
