/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - the runtime's own allocations (Gs, sudogs, channels, timers,
 * bookkeeping) come from jemalloc's non-standard API, sized deallocation
 * included. Sanitizer builds use the libc (sanitizer) allocator instead, so
 * ASan sees every runtime object's bounds and lifetime.
 */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>
#ifndef RINGO_SANITIZE
#include <jemalloc/jemalloc.h>
#endif

#ifdef RINGO_SANITIZE
#define ALIGN_LINES 0	/* free() takes both calloc's and aligned_alloc's */
#else
#define ALIGN_LINES MALLOCX_ALIGN(RINGO_CACHELINE)
#endif

void *ringo__alloc(size_t size)
{
#ifdef RINGO_SANITIZE
	return calloc(1, size);
#else
	return mallocx(size ? size : 1, MALLOCX_ZERO);
#endif
}

/* flags: the jemalloc flags the block was allocated with (sdallocx wants
 * them to find its size class). */
static void free_flags(void *p, size_t size, int flags)
{
	if (!p)
		return;
#ifdef RINGO_DEBUG_BUILD
	memset(p, 0xdb, size);	/* poison: a use after free shows up as 0xdbdb... */
#endif
#ifdef RINGO_SANITIZE
	(void)size;
	(void)flags;
	free(p);
#else
	sdallocx(p, size ? size : 1, flags);
#endif
}

void ringo__free(void *p, size_t size)
{
	free_flags(p, size, 0);
}

/* For structures laid out in cache lines (_Alignas(RINGO_CACHELINE)):
 * without the flag jemalloc promises only the alignment of the size
 * class, and the lines would straddle. */
void *ringo__alloc_lines(size_t size)
{
#ifdef RINGO_SANITIZE
	size_t len = (size + RINGO_CACHELINE - 1) & ~(size_t)(RINGO_CACHELINE - 1);
	void *p = aligned_alloc(RINGO_CACHELINE, len ? len : RINGO_CACHELINE);
	if (p)
		memset(p, 0, len);
	return p;
#else
	return mallocx(size ? size : 1, MALLOCX_ZERO | ALIGN_LINES);
#endif
}

void ringo__free_lines(void *p, size_t size)
{
	free_flags(p, size, ALIGN_LINES);
}
