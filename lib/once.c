/* SPDX-License-Identifier: MIT */
/*
 * once.c - ringo_once: Go's sync.Once.
 *
 * done is set, with release ordering, only after fn has returned; a caller
 * that sees it set (acquire) returns at once and sees everything fn did.
 * Everyone else serialises on the mutex, so callers that arrive while fn
 * runs wait for it to finish instead of returning early.
 *
 * Rejected: a bare compare-and-swap on done (the first caller runs fn, the
 * others return) - the others would return before fn completed.
 */
#include "sema.h"

struct once {
	_Atomic uint32_t done;	/* 1 once fn has returned [atomic; written under m] */
	ringo_mutex m;		/* serialises the slow path */
};
_Static_assert(sizeof(struct once) <= sizeof(ringo_once) &&
	       _Alignof(struct once) <= _Alignof(ringo_once),
	       "ringo_once too small for its implementation");

static __attribute__((noinline)) void once_slow(struct once *o, void (*fn)(void *),
						void *arg)
{
	ringo_mutex_lock(&o->m);
	if (atomic_load_explicit(&o->done, memory_order_relaxed) == 0) {
		fn(arg);
		/* release: pairs with the acquire load in ringo_once_do */
		atomic_store_explicit(&o->done, 1, memory_order_release);
	}
	ringo_mutex_unlock(&o->m);
}

void ringo_once_do(ringo_once *po, void (*fn)(void *), void *arg)
{
	struct once *o = (struct once *)(void *)po;
	/* acquire: pairs with the release store after fn returned */
	if (likely(atomic_load_explicit(&o->done, memory_order_acquire) != 0))
		return;
	once_slow(o, fn, arg);
}
