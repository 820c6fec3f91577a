/* SPDX-License-Identifier: MIT */
/*
 * mutex.c - ringo_mutex: Go's sync.Mutex for goroutines.
 *
 * The state word packs a locked bit, a woken bit (an unlocker has woken a
 * waiter that is now on its way: don't wake another), a starving bit and
 * the number of waiters (state >> 3). The semaphore in the second word is
 * where waiters park (sema.c).
 *
 * Two modes, as in Go:
 *  - Normal: waiters queue FIFO, but a woken waiter competes with the
 *    goroutines that are arriving right now (and are running on a CPU, so
 *    they usually win). A waiter that loses goes back to the head of the
 *    queue (LIFO re-queue). Arrivals spin a little first when spinning can
 *    help: another P is running (so the owner may be about to unlock), and
 *    nothing else waits on our P's run queue.
 *  - Starvation: a waiter that waited more than 1 ms sets the starving
 *    bit. Unlock then hands the mutex straight to the first waiter and
 *    yields to it; arrivals neither take it nor spin but queue at the
 *    tail. The last waiter, or one that waited less than 1 ms, switches
 *    back to normal mode.
 *
 * Invariants: the locked bit is set by whoever owns the mutex, except in
 * starvation mode, where ownership passes with the bit clear and the new
 * owner sets it itself; woken is set by at most one goroutine at a time;
 * the waiter count equals the goroutines between incrementing it and being
 * woken.
 *
 * Memory model: the fast-path CAS acquires and the unlocking decrement
 * releases, so an unlock happens before the next lock returns; the slow
 * paths use sequentially consistent operations on the same words.
 */
#include "sema.h"

#include <unistd.h>

struct mutex {
	_Atomic int32_t state;		/* LOCKED | WOKEN | STARVING | waiters << 3 [atomic] */
	_Atomic uint32_t sema;		/* runtime semaphore of the waiters [atomic; sema.c] */
};
_Static_assert(sizeof(struct mutex) <= sizeof(ringo_mutex) &&
	       _Alignof(struct mutex) <= _Alignof(ringo_mutex),
	       "ringo_mutex too small for its implementation");

#define MUTEX_LOCKED 1
#define MUTEX_WOKEN 2
#define MUTEX_STARVING 4
#define MUTEX_WAITER_SHIFT 3

#define STARVATION_NS 1000000	/* a waiter blocked longer than this starves */
#define ACTIVE_SPIN 4		/* spin rounds before queueing */
#define ACTIVE_SPIN_CNT 30	/* pause instructions per round */

static inline struct mutex *mu(ringo_mutex *m)
{
	return (struct mutex *)(void *)m;
}

/* Online CPUs, read once (a benign race: every reader computes the same). */
static int ncpu(void)
{
	static _Atomic int n;
	int v = atomic_load_explicit(&n, memory_order_relaxed);
	if (v == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		v = c > 0 ? (int)c : 1;
		atomic_store_explicit(&n, v, memory_order_relaxed);
	}
	return v;
}

/* Go's canSpin: spin only if it can help - a multicore machine, other Ps
 * busy (one of them may hold the mutex and be about to release it), and
 * no other goroutine waiting for our P. Threads outside the scheduler do
 * not spin. */
static bool can_spin(int iter)
{
	if (iter >= ACTIVE_SPIN)
		return false;
	struct ringo_m *m = ringo__getm();
	if (!m || !m->curg || !m->p || ncpu() <= 1)
		return false;
	int32_t nprocs = atomic_load_explicit(&ringo__sched.nprocs, memory_order_relaxed);
	int32_t busy_elsewhere = nprocs - 1 -
		atomic_load_explicit(&ringo__sched.npidle, memory_order_relaxed) -
		atomic_load_explicit(&ringo__sched.nmspinning, memory_order_relaxed);
	if (busy_elsewhere <= 0)
		return false;
	return ringo__runqempty(m->p);
}

static void do_spin(void)
{
	for (int i = 0; i < ACTIVE_SPIN_CNT; i++)
		ringo__cpu_relax();
}

static __attribute__((noinline, cold)) void lock_slow(struct mutex *m)
{
	int64_t wait_start = 0;
	bool starving = false;	/* we waited longer than STARVATION_NS */
	bool awoke = false;	/* we were woken and hold the WOKEN bit */
	int iter = 0;

	ringo__preempt_check();
	int32_t old = atomic_load(&m->state);
	for (;;) {
		/* Locked but not starving: spin while it can help. */
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && can_spin(iter)) {
			/* Claim WOKEN so the unlocker does not wake another
			 * waiter while we are about to take it. */
			if (!awoke && !(old & MUTEX_WOKEN) && (old >> MUTEX_WAITER_SHIFT) != 0 &&
			    atomic_compare_exchange_strong(&m->state, &old, old | MUTEX_WOKEN))
				awoke = true;
			do_spin();
			iter++;
			old = atomic_load(&m->state);
			continue;
		}

		int32_t new = old;
		/* Don't take a starving mutex: it belongs to the first waiter. */
		if (!(old & MUTEX_STARVING))
			new |= MUTEX_LOCKED;
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			new += 1 << MUTEX_WAITER_SHIFT;
		/* Switch to starvation mode, but only if it is still locked
		 * (an unlock expects waiters when the starving bit is set). */
		if (starving && (old & MUTEX_LOCKED))
			new |= MUTEX_STARVING;
		if (awoke) {
			if (!(new & MUTEX_WOKEN))
				ringo__fatal("sync: inconsistent mutex state");
			new &= ~MUTEX_WOKEN;
		}

		if (!atomic_compare_exchange_strong(&m->state, &old, new))
			continue;	/* old was reloaded by the failed CAS */
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return;		/* locked it with the CAS */

		/* Queue. A waiter that was already woken once goes back to
		 * the front. */
		bool lifo = wait_start != 0;
		if (!wait_start)
			wait_start = ringo__nanotime();
		ringo__semacquire(&m->sema, lifo, "sync.Mutex.Lock");
		starving = starving || ringo__nanotime() - wait_start > STARVATION_NS;

		old = atomic_load(&m->state);
		if (old & MUTEX_STARVING) {
			/* Handed to us: the unlocker left LOCKED clear and
			 * the waiter count includes us. */
			if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) || (old >> MUTEX_WAITER_SHIFT) == 0)
				ringo__fatal("sync: inconsistent mutex state");
			int32_t delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
			/* Leave starvation mode if we did not starve or are
			 * the last waiter: staying in it with nobody to hand
			 * to would make the next unlock hand off to nobody. */
			if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
				delta -= MUTEX_STARVING;
			atomic_fetch_add(&m->state, delta);
			return;
		}
		awoke = true;
		iter = 0;
	}
}

void ringo_mutex_lock(ringo_mutex *pm)
{
	struct mutex *m = mu(pm);
	int32_t old = 0;
	/* acquire: pairs with the release in ringo_mutex_unlock */
	if (likely(atomic_compare_exchange_strong_explicit(&m->state, &old, MUTEX_LOCKED,
			memory_order_acquire, memory_order_relaxed)))
		return;
	lock_slow(m);
}

int ringo_mutex_trylock(ringo_mutex *pm)
{
	struct mutex *m = mu(pm);
	int32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);
	if (old & (MUTEX_LOCKED | MUTEX_STARVING))
		return -EBUSY;
	/* acquire: pairs with the release in ringo_mutex_unlock. There may
	 * be waiters: we only race the woken one, as a spinner would. */
	if (!atomic_compare_exchange_strong_explicit(&m->state, &old, old | MUTEX_LOCKED,
			memory_order_acquire, memory_order_relaxed))
		return -EBUSY;
	return 0;
}

static __attribute__((noinline, cold)) void unlock_slow(struct mutex *m, int32_t new)
{
	if (!((new + MUTEX_LOCKED) & MUTEX_LOCKED))
		ringo__fatal("sync: unlock of unlocked mutex");

	if (new & MUTEX_STARVING) {
		/* Hand ownership to the first waiter and yield to it. The
		 * LOCKED bit stays clear: the waiter sets it; arrivals see
		 * STARVING and queue. */
		ringo__semrelease(&m->sema, true);
		return;
	}

	int32_t old = new;
	for (;;) {
		/* Nobody to wake, or someone already locked it, woke a
		 * waiter or switched to starvation mode: their turn. */
		if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
		    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
			return;
		new = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
		if (atomic_compare_exchange_strong(&m->state, &old, new)) {
			ringo__semrelease(&m->sema, false);
			return;
		}
	}
}

void ringo_mutex_unlock(ringo_mutex *pm)
{
	struct mutex *m = mu(pm);
	/* release: pairs with the acquiring CAS of the next lock */
	int32_t new = atomic_fetch_sub_explicit(&m->state, MUTEX_LOCKED,
						memory_order_release) - MUTEX_LOCKED;
	if (unlikely(new != 0))
		unlock_slow(m, new);
}
