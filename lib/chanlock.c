/* SPDX-License-Identifier: MIT */
/*
 * chanlock.c - the channel lock's slow paths: contention, and the bias
 * that lets one P take a channel without a locked instruction.
 *
 * A locked read-modify-write costs ~6 ns on these machines; a buffered
 * send and its receive are two of them, most of a 15 ns budget, and a
 * ping-pong round trip is four. Yet most channels are used by goroutines
 * on one P at a time: a pipeline at maxprocs 1, or a producer and its
 * consumer that stay together. So after CHAN_BIAS_STREAK operations in a
 * row from one P, the channel is biased to it:
 *
 *   owner (the thread running P)       revoker (any other thread)
 *   held = 1                           lock c->lock
 *   compiler barrier                   bias |= REVOKED
 *   bias == self? in : held = 0,       membarrier(PRIVATE_EXPEDITED)
 *                 take c->lock         wait for held == 0 (acquire)
 *
 * This is Dekker's mutual exclusion with the owner's store-load fence
 * moved to the revoker: membarrier makes every running thread of the
 * process execute a full barrier before it returns (a thread not running
 * passes one when it is switched in). So either the owner's held = 1 was
 * visible before that barrier, and the revoker waits for the owner's
 * release store of held = 0, or the owner's second look at bias comes
 * after it and sees REVOKED, and the owner backs off to c->lock, which
 * the revoker holds. Once revoked a channel stays revoked: everyone
 * takes c->lock, and at most one membarrier (1.3-5.6 us measured) is
 * ever paid per channel - amortised over the streak of 4096 operations
 * that earned the bias, at most ~1.4 ns each.
 *
 * held is written only by the thread running the bias P, and a P runs on
 * one thread at a time; its holder is never switched out (m->locks > 0
 * holds off async preemption; a parking holder's unlock function runs on
 * the same M before anything else). Its owner's critical sections are
 * ordered after the revoker's by c->lock; the revoker's after the owner's
 * by the release/acquire pair on held. The revoker's wait keeps the lock
 * order (chan.h): it holds only channels below c, and an owner holding
 * c waits only for channels above it.
 *
 * A channel whose streaks keep breaking (CHAN_BIAS_MAX_MISSES of them)
 * is never biased: its operations skip this accounting altogether.
 * Threads without a P (sysmon, foreign threads) always take c->lock, and
 * revoke when they find a bias. Without membarrier (old kernels,
 * seccomp, valgrind) nothing is ever biased. RINGO_DEBUG=chanbias=N
 * sets the streak; 0 turns biasing off.
 */
#include "chan.h"

#include <linux/membarrier.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHAN_BIAS_STREAK 4096
#define CHAN_BIAS_MAX_MISSES 1024

/* Operations in a row from one P that bias a channel to it; 0: never.
 * Set by ringo_run before any goroutine runs, read racily after. */
static _Atomic uint32_t bias_streak;

void ringo__chan_bias_init(void)
{
	static int registered;	/* 0 not tried, 1 yes, -1 unavailable */
	if (!registered)
		registered = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
				     0, 0) == 0 ? 1 : -1;
	int64_t n = ringo__debug.chanbias;
	if (n < 0)
		n = CHAN_BIAS_STREAK;
	if (n > UINT16_MAX)
		n = UINT16_MAX;	/* c->bias_streak's range */
	atomic_store_explicit(&bias_streak, registered > 0 ? (uint32_t)n : 0,
			      memory_order_relaxed);
	if (ringo__debug.verbose) {
		if (registered < 0)
			fprintf(stderr, "ringo: channel bias off (no membarrier)\n");
		else if (n == 0)
			fprintf(stderr, "ringo: channel bias off\n");
		else
			fprintf(stderr, "ringo: channel bias after %u operations\n", (unsigned)n);
	}
}

/* Contended: spin on a plain read, then yield (chan.h). */
void ringo__chan_lock_slow(struct ringo_chan *c)
{
	for (unsigned spins = 0;; spins++) {
		uint32_t free = 0;
		/* test before test-and-set: spin on a shared cache line */
		if (atomic_load_explicit(&c->lock, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(&c->lock, &free, 1,
				memory_order_acquire, memory_order_relaxed))
			return;
		if (spins < 100)
			ringo__cpu_relax();
		else
			sched_yield();	/* the holder's thread may be descheduled */
	}
}

/* c is biased to another P: take the bias away for good. Called with
 * c->lock held, so no other revoker runs, and the owner, should it lose
 * the race for held, waits on c->lock. */
static void chan_bias_revoke(struct ringo_chan *c, uintptr_t b)
{
	atomic_store_explicit(&c->bias, b | RINGO_CHAN_BIAS_REVOKED, memory_order_relaxed);
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
		ringo__fatal("membarrier failed after registration: %s", strerror(errno));
	/* acquire: pairs with the owner's release of held; its critical
	 * section happens before ours */
	for (unsigned spins = 0; atomic_load_explicit(&c->held, memory_order_acquire); spins++) {
		if (spins < 100)
			ringo__cpu_relax();
		else
			sched_yield();	/* the owner's thread may be descheduled */
	}
}

/* Taken through c->lock while c is not revoked (chan.h): revoke another
 * P's bias, or count this operation towards a streak of self's. */
void ringo__chan_bias_account(struct ringo_chan *c, uintptr_t self)
{
	uintptr_t b = atomic_load_explicit(&c->bias, memory_order_relaxed);
	if (b != RINGO_CHAN_UNBIASED) {
		/* The bias P's own thread takes the fast path unless it saw
		 * the bias revoked, so this is someone else. */
		RINGO_ASSERT(b != self);
		chan_bias_revoke(c, b);
		return;
	}
	uint32_t streak = atomic_load_explicit(&bias_streak, memory_order_relaxed);
	if (self == c->bias_candidate && self != 0) {
		RINGO_ASSERT(!(self & (RINGO_CHAN_UNBIASED | RINGO_CHAN_BIAS_REVOKED)));
		if (++c->bias_streak >= streak && streak != 0)
			atomic_store_explicit(&c->bias, self, memory_order_relaxed);
		return;
	}
	c->bias_candidate = self;
	c->bias_streak = 1;
	if (++c->bias_misses >= CHAN_BIAS_MAX_MISSES || streak == 0)
		atomic_store_explicit(&c->bias, RINGO_CHAN_UNBIASED | RINGO_CHAN_BIAS_REVOKED,
				      memory_order_relaxed);
}
