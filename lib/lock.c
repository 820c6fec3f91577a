/* SPDX-License-Identifier: MIT */
/*
 * lock.c - runtime-internal locks and notes on futexes.
 *
 * These block the thread (M), not the goroutine. They guard short critical
 * sections of the scheduler and are never held across a goroutine switch.
 * While one is held m->locks > 0, which keeps async preemption away.
 *
 * The mutex is the classic three-state futex lock (Drepper, "Futexes are
 * tricky"): 0 unlocked, 1 locked, 2 locked and maybe contended.
 */
#include "runtime.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long futex(_Atomic uint32_t *addr, int op, uint32_t val,
		  const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
}

int64_t ringo__nanotime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ringo__lock(ringo__lock_t *l)
{
	struct ringo_m *m = ringo__getm();
	if (m)
		m->locks++;
	uint32_t c = 0;
	/* acquire: pairs with the release in ringo__unlock */
	if (likely(atomic_compare_exchange_strong_explicit(&l->key, &c, 1,
			memory_order_acquire, memory_order_relaxed)))
		return;
	/* Spin a little: critical sections are short. */
	for (int i = 0; i < 100; i++) {
		ringo__cpu_relax();
		c = 0;
		if (atomic_load_explicit(&l->key, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&l->key, &c, 1,
				memory_order_acquire, memory_order_relaxed))
			return;
	}
	/* Contended: mark 2 and sleep until an unlock wakes us. */
	while (atomic_exchange_explicit(&l->key, 2, memory_order_acquire) != 0)
		futex(&l->key, FUTEX_WAIT, 2, NULL);
}

bool ringo__trylock(ringo__lock_t *l)
{
	uint32_t c = 0;
	/* acquire: pairs with the release in ringo__unlock */
	if (!atomic_compare_exchange_strong_explicit(&l->key, &c, 1, memory_order_acquire,
						     memory_order_relaxed))
		return false;
	struct ringo_m *m = ringo__getm();
	if (m)
		m->locks++;
	return true;
}

void ringo__unlock(ringo__lock_t *l)
{
	/* release: pairs with the acquire in ringo__lock */
	if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
		futex(&l->key, FUTEX_WAKE, 1, NULL);
	struct ringo_m *m = ringo__getm();
	if (m)
		m->locks--;
}

void ringo__note_clear(ringo__note_t *n)
{
	atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void ringo__note_wakeup(ringo__note_t *n)
{
	/* release: pairs with the acquire load in the sleepers */
	atomic_store_explicit(&n->key, 1, memory_order_release);
	futex(&n->key, FUTEX_WAKE, 1, NULL);
}

void ringo__note_sleep(ringo__note_t *n)
{
#ifdef RINGO_TSAN
	/* The timed loop slices its waits (RINGO_TSAN_WAIT_SLICE_NS). */
	ringo__note_sleep_until(n, INT64_MAX);
#else
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
		futex(&n->key, FUTEX_WAIT, 0, NULL);
#endif
}

bool ringo__note_sleep_until(ringo__note_t *n, int64_t abs_ns)
{
	if (abs_ns < 0) {
		ringo__note_sleep(n);
		return true;
	}
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0) {
		int64_t left = abs_ns - ringo__nanotime();
		if (left <= 0)
			return false;
#ifdef RINGO_TSAN
		if (left > RINGO_TSAN_WAIT_SLICE_NS)
			left = RINGO_TSAN_WAIT_SLICE_NS;
#endif
		struct timespec ts = { left / 1000000000, left % 1000000000 };
		futex(&n->key, FUTEX_WAIT, 0, &ts);
	}
	return true;
}
