/* SPDX-License-Identifier: MIT */
/*
 * proc.c - goroutine and thread lifecycle: ringo_run, ringo_go, goexit,
 * the dead-G caches, creating Ms, and tearing the runtime down.
 *
 * Dead Gs keep their (default-size) stack and go to the P's free list, or
 * to the global one when the local list is long; ringo_go takes from these
 * first, so a warm spawn touches no new memory and makes no system call.
 * Every G ever allocated stays on the allg list until ringo_run returns
 * (the goroutine dump walks it), as in Go.
 *
 * ringo_run turns the calling thread into M0. When goroutine 1 returns (or
 * the deadlock detector fires) sched.exiting is set; every M leaves its
 * scheduler loop at its next pass, M0 joins the others, and all runtime
 * memory is released so that ringo_run can be called again.
 */
#include "runtime.h"
#include "context.h"
#include "proc.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ringo__sched ringo__sched;
__thread struct ringo_m *ringo__tls_m __attribute__((tls_model("initial-exec")));

#ifdef RINGO_TSAN
RINGO_UNINSTRUMENTED struct ringo_m *ringo__getm_uninstrumented(void)
{
	return ringo__tls_m;
}
#endif

static _Atomic bool runtime_running;
static struct ringo_g *main_g;

#define MAXPROCS_LIMIT 1024
#define GOID_BATCH 16
#define GFREE_TRIM_THRESHOLD 4096	/* dead Gs kept warm before trimming */

/* ------------------------------------------------------------------ */
/* allg                                                                   */

void ringo__allg_add(struct ringo_g *gp)
{
	ringo__lock(&ringo__sched.allg_lock);
	gp->allprev = NULL;
	gp->alllink = ringo__sched.allg;
	if (ringo__sched.allg)
		ringo__sched.allg->allprev = gp;
	ringo__sched.allg = gp;
	ringo__unlock(&ringo__sched.allg_lock);
}

void ringo__allg_remove(struct ringo_g *gp)
{
	ringo__lock(&ringo__sched.allg_lock);
	if (gp->allprev)
		gp->allprev->alllink = gp->alllink;
	else
		ringo__sched.allg = gp->alllink;
	if (gp->alllink)
		gp->alllink->allprev = gp->allprev;
	ringo__unlock(&ringo__sched.allg_lock);
}

/* ------------------------------------------------------------------ */
/* G allocation and the free caches                                       */

/* A brand-new G with a stack of the given size. */
static struct ringo_g *malg(size_t stack_size, int *err)
{
	struct ringo_g *gp = ringo__alloc_lines(sizeof *gp);	/* line-aligned: see struct ringo_g */
	if (!gp) {
		*err = -ENOMEM;
		return NULL;
	}
	int r = ringo__stack_alloc(stack_size, &gp->stack);
	if (r < 0) {
		ringo__free_lines(gp, sizeof *gp);
		*err = r;
		return NULL;
	}
	atomic_store(&gp->status, G_DEAD);
	ringo__allg_add(gp);
	return gp;
}

/* Release a G for good (non-default stack, or teardown). Not on allg. */
static void gfree_final(struct ringo_g *gp)
{
	ringo__stack_free(&gp->stack);
#ifdef RINGO_TSAN
	if (gp->tsan_fiber)
		__tsan_destroy_fiber(gp->tsan_fiber);
#endif
	if (gp->name)
		ringo__free(gp->name, strlen(gp->name) + 1);
	ringo__free_lines(gp, sizeof *gp);
}

/*
 * The global free lists (warm and cold) are stacks of batches, like the
 * global run queue (runq.c): a batch's Gs are linked by schedlink, its
 * first G holds its length and the next batch. A P hands over or takes a
 * batch in O(1) under gfree_lock; the Gs, last touched on another core,
 * are walked one by one as they are used, after the lock is dropped.
 */

/* Push a batch of n Gs (linked by schedlink, NULL-terminated). */
static void gfree_push(struct ringo_g **list, int32_t *count, struct ringo_g *batch,
		       int32_t n)
{
	batch->batchlen = n;
	batch->batchlink = *list;
	*list = batch;
	*count += n;
}

static struct ringo_g *gfree_pop(struct ringo_g **list, int32_t *count)
{
	struct ringo_g *batch = *list;
	if (batch) {
		*list = batch->batchlink;
		*count -= batch->batchlen;
	}
	return batch;
}

/* Put a dead G on p's free list (called by finish_switch, off its stack). */
void ringo__gfput(struct ringo_p *p, struct ringo_g *gp)
{
	if (gp->name) {
		ringo__free(gp->name, strlen(gp->name) + 1);
		gp->name = NULL;
	}
	gp->fn = NULL;
	gp->arg = NULL;
	gp->lockedm = NULL;
#ifdef RINGO_TSAN
	if (gp->tsan_fiber) {
		__tsan_destroy_fiber(gp->tsan_fiber);
		gp->tsan_fiber = NULL;
	}
#endif
	atomic_store_explicit(&gp->status, G_DEAD, memory_order_relaxed);
	if (gp->stack.size != ringo__default_stack_size) {
		ringo__allg_remove(gp);
		gfree_final(gp);
		return;
	}
	gp->schedlink = p->gfree;
	p->gfree = gp;
	if (++p->gfree_count >= RINGO_GFREE_LOCAL_MAX) {
		/* Keep the newer half (the warmest) and hand the older one
		 * to the global list, for Ps that spawn more than they reap. */
		struct ringo_g *keep = p->gfree;
		for (int32_t i = 1; i < RINGO_GFREE_LOCAL_MAX / 2; i++)
			keep = keep->schedlink;
		struct ringo_g *batch = keep->schedlink;
		keep->schedlink = NULL;
		int32_t n = p->gfree_count - RINGO_GFREE_LOCAL_MAX / 2;
		p->gfree_count = RINGO_GFREE_LOCAL_MAX / 2;
		ringo__lock(&ringo__sched.gfree_lock);
		gfree_push(&ringo__sched.gfree, &ringo__sched.gfree_count, batch, n);
		ringo__unlock(&ringo__sched.gfree_lock);
	}
}

/* Hand all of p's dead Gs to the global list (p is going away). */
void ringo__gfree_give(struct ringo_p *p)
{
	if (!p->gfree)
		return;
	ringo__lock(&ringo__sched.gfree_lock);
	gfree_push(&ringo__sched.gfree, &ringo__sched.gfree_count, p->gfree, p->gfree_count);
	ringo__unlock(&ringo__sched.gfree_lock);
	p->gfree = NULL;
	p->gfree_count = 0;
}

/*
 * Dead Gs that stayed unused on the global list through a whole window
 * (sysmon's, about a second) are the tail of a burst that is over: their
 * stacks' touched pages go back to the kernel (DESIGN.md §5), so the
 * burst's peak memory is not pinned. The list's low-water mark over the
 * window says how many sat idle: gfget lowers it, ringo__gfree_idle reads
 * and restarts it. Gs that a workload cycles through (spawn, die, spawn
 * again) keep their pages, however long the list grows in between: a
 * first touch of a stack page costs microseconds. sysmon trims about
 * max per round, in whole batches from the top of the stack, keeping
 * about GFREE_TRIM_THRESHOLD warm. Not at exit: an madvise per stack
 * costs microseconds there, and a burst of wake-ups fell behind its
 * deadlines paying it.
 */
int32_t ringo__gfree_idle(void)
{
	struct ringo__sched *s = &ringo__sched;
	ringo__lock(&s->gfree_lock);
	int32_t idle = (s->gfree_low < s->gfree_count ? s->gfree_low : s->gfree_count) -
		       GFREE_TRIM_THRESHOLD;
	s->gfree_low = s->gfree_count;
	ringo__unlock(&s->gfree_lock);
	return idle > 0 ? idle : 0;
}

int ringo__gfree_trim(int max)
{
	struct ringo__sched *s = &ringo__sched;
	if (s->gfree_count <= GFREE_TRIM_THRESHOLD)	/* racy peek, as gfget's */
		return 0;
	ringo__lock(&s->gfree_lock);
	int32_t excess = s->gfree_count - GFREE_TRIM_THRESHOLD;
	int32_t want = excess < max ? excess : max;
	struct ringo_g *first = s->gfree, *last = NULL;
	int32_t n = 0;
	while (n < want && s->gfree) {
		last = s->gfree;
		n += last->batchlen;
		s->gfree = last->batchlink;
	}
	s->gfree_count -= n;
	ringo__unlock(&s->gfree_lock);
	if (!n)
		return 0;
	/* Off the list, these are ours alone: trim without the lock. */
	last->batchlink = NULL;
	for (struct ringo_g *b = first; b; b = b->batchlink)
		for (struct ringo_g *g = b; g; g = g->schedlink)
			ringo__stack_trim(&g->stack);
	ringo__lock(&s->gfree_lock);
	last->batchlink = s->gfree_cold;
	s->gfree_cold = first;
	s->gfree_cold_count += n;
	ringo__unlock(&s->gfree_lock);
	return n;
}

/* A dead G with a default stack from p's list, refilled with a batch
 * from the global lists when empty. */
static struct ringo_g *gfget(struct ringo_p *p)
{
	struct ringo__sched *s = &ringo__sched;
	if (!p->gfree && (s->gfree_count > 0 || s->gfree_cold_count > 0)) {
		ringo__lock(&s->gfree_lock);
		struct ringo_g *batch = gfree_pop(&s->gfree, &s->gfree_count);
		if (!batch)	/* warm first: no page faults */
			batch = gfree_pop(&s->gfree_cold, &s->gfree_cold_count);
		if (s->gfree_count < s->gfree_low)
			s->gfree_low = s->gfree_count;
		p->gfree = batch;
		p->gfree_count = batch ? batch->batchlen : 0;
		ringo__unlock(&s->gfree_lock);
	}
	struct ringo_g *gp = p->gfree;
	if (gp) {
		p->gfree = gp->schedlink;
		p->gfree_count--;
#ifdef RINGO_ASAN
		/* The last frames of the dead goroutine never returned and
		 * left poisoned shadow on the stack it hands down. */
		__asan_unpoison_memory_region(gp->stack.lo, gp->stack.size);
#endif
	}
	return gp;
}

static uint64_t new_goid(struct ringo_p *p)
{
	if (!p)
		return atomic_fetch_add(&ringo__sched.goidgen, 1) + 1;
	if (p->goidcache == p->goidcacheend) {
		/* Ids come in batches per P: no shared counter per spawn. */
		p->goidcache = atomic_fetch_add(&ringo__sched.goidgen, GOID_BATCH) + 1;
		p->goidcacheend = p->goidcache + GOID_BATCH;
	}
	return p->goidcache++;
}

/* ------------------------------------------------------------------ */
/* Spawning and exiting                                                   */

/* Start a goroutine. *out (if not NULL) is set before the G can run
 * anywhere, so the caller may remember it race-free. */
static int newproc(void (*fn)(void *), void *arg, size_t stack_size,
		   const char *name, void *pc, struct ringo_g **out)
{
	struct ringo_m *m = ringo__getm();
	if (!atomic_load(&runtime_running) || atomic_load(&ringo__sched.exiting))
		return -EPERM;
	if (m)
		m->locks++;
	struct ringo_p *p = m ? m->p : NULL;
	struct ringo_g *gp = NULL;
	int err = 0;

	if (stack_size == ringo__default_stack_size && p)
		gp = gfget(p);
	if (!gp) {
		gp = malg(stack_size, &err);
		if (!gp) {
			if (m)
				m->locks--;
			return err;
		}
	}
	if (name) {
		size_t len = strlen(name) + 1;
		gp->name = ringo__alloc(len);
		if (gp->name)
			memcpy(gp->name, name, len);
	}
	struct ringo_g *parent = m ? m->curg : NULL;
	gp->id = new_goid(p);
	gp->parent_id = parent ? parent->id : 0;
	gp->fn = fn;
	gp->arg = arg;
	gp->create_pc = pc;
	atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
	gp->saved_errno = 0;
	gp->wait_reason = NULL;
	ringo__ctx_make(&gp->ctx, gp->stack.lo, gp->stack.size, gp);
	/* The G's first instruction pushes on its stack top, whose line and
	 * page translation are cold when the stack last ran long ago: start
	 * that miss now, under the spawner's work (100,000 sleepers at 2 Ps:
	 * oversleep p99 median 2.5 ms with it, 10 ms without). A read, not a
	 * write prefetch, so the line is not taken from the P that will run
	 * it. */
	__builtin_prefetch(gp->stack.lo + gp->stack.size - 64, 0, 3);
	atomic_store_explicit(&gp->status, G_RUNNABLE, memory_order_relaxed);
	if (out)
		*out = gp;

	if (p) {
		atomic_store_explicit(&p->ngoroutines,
			atomic_load_explicit(&p->ngoroutines, memory_order_relaxed) + 1,
			memory_order_relaxed);
		bool wake = ringo__runqput_ready(p, gp);
		m->locks--;
		if (wake)
			ringo__wakep();
		return 0;
	}
	/* A thread outside the runtime (or an M without a P). */
	atomic_fetch_add(&ringo__sched.ngoroutines, 1);
	ringo__lock(&ringo__sched.lock);
	ringo__globrunqput(gp);
	ringo__unlock(&ringo__sched.lock);
	if (m)
		m->locks--;
	ringo__wakep();
	return 0;
}

int ringo_go(void (*fn)(void *), void *arg)
{
	if (!fn)
		return -EINVAL;
	return newproc(fn, arg, ringo__default_stack_size, NULL, __builtin_return_address(0), NULL);
}

int ringo_go_with(const struct ringo_go_attr *attr, void (*fn)(void *), void *arg)
{
	if (!fn)
		return -EINVAL;
	size_t size = ringo__default_stack_size;
	const char *name = NULL;
	if (attr) {
		if (attr->stack_size) {
			if (attr->stack_size < 4096 || attr->stack_size > ((size_t)1 << 40))
				return -EINVAL;
			long pg = sysconf(_SC_PAGESIZE);
			size = (attr->stack_size + (size_t)pg - 1) & ~((size_t)pg - 1);
		}
		name = attr->name;
	}
	return newproc(fn, arg, size, name, __builtin_return_address(0), NULL);
}

/* The first frame of every goroutine (see ringo__ctx_make). */
void ringo__g_entry(void *arg)
{
	struct ringo_g *gp = arg;
	ringo__switch_started();
	ringo__finish_switch(ringo__getm());
	ringo__errno_restore(0);
	gp->fn(gp->arg);
	ringo_exit();
}

void ringo_exit(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp)
		ringo__fatal("ringo_exit called outside a goroutine");
	if (m->lockedg == gp) {
		m->lockedg = NULL;
		gp->lockedm = NULL;
	}
	struct ringo_p *p = m->p;
	atomic_store_explicit(&p->ngoroutines,
		atomic_load_explicit(&p->ngoroutines, memory_order_relaxed) - 1,
		memory_order_relaxed);
	if (gp == main_g) {
		ringo__lock(&ringo__sched.lock);
		ringo__begin_exit(ringo__sched.exit_code);
		ringo__unlock(&ringo__sched.lock);
	}
	ringo__switch_out(m, gp, SW_EXIT);
	__builtin_unreachable();
}

void RINGO_SWITCHING(ringo_yield)(void)
{
	struct ringo_m *m = ringo__getm();
	struct ringo_g *gp = m ? m->curg : NULL;
	if (!gp) {
		sched_yield();
		return;
	}
	atomic_store_explicit(&gp->preempt, false, memory_order_relaxed);
	ringo__switch_out(m, gp, SW_YIELD);
}

uint64_t ringo_id(void)
{
	struct ringo_g *gp = ringo__getg();
	return gp ? gp->id : 0;
}

int ringo_num_goroutine(void)
{
	if (!atomic_load(&runtime_running))
		return 0;
	int64_t n = atomic_load(&ringo__sched.ngoroutines);
	/* The per-P counters are summed racily; allp is stable except
	 * during a stop-the-world, and Ps are never freed before exit. */
	int32_t np = atomic_load(&ringo__sched.nprocs);
	struct ringo_p **allp = ringo__sched.allp;
	for (int32_t i = 0; i < np; i++)
		n += atomic_load_explicit(&allp[i]->ngoroutines, memory_order_relaxed);
	return n < 0 ? 0 : (int)n;
}

/* ------------------------------------------------------------------ */
/* Ms                                                                     */

/* sched.lock held */
static void mcommoninit_locked(struct ringo_m *m)
{
	m->g0.id = 0;
	m->fastrand = (uint64_t)ringo__nanotime() ^ ((uint64_t)(uintptr_t)m << 17) ^ 0x9e3779b97f4a7c15ULL;
	if (!m->fastrand)
		m->fastrand = 1;
	m->id = ringo__sched.mnext++;
	m->alllink = ringo__sched.allm;
	ringo__sched.allm = m;
	ringo__sched.mcount++;
}

static void mcommoninit(struct ringo_m *m)
{
	ringo__lock(&ringo__sched.lock);
	mcommoninit_locked(m);
	ringo__unlock(&ringo__sched.lock);
}

/* Per-thread set-up common to all Ms, on the thread itself. */
static void minit(struct ringo_m *m)
{
	ringo__tls_m = m;
	m->errno_loc = &errno;
	m->tid = (pid_t)syscall(SYS_gettid);
	ringo__stack_thread_init();
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		void *lo;
		size_t size;
		pthread_attr_getstack(&attr, &lo, &size);
		m->g0_stack_lo = lo;
		m->g0_stack_size = size;
		pthread_attr_destroy(&attr);
	}
#ifdef RINGO_TSAN
	m->tsan_fiber = __tsan_get_current_fiber();
#endif
}

static void mexit(struct ringo_m *m)
{
	ringo__lock(&ringo__sched.lock);
	m->exited = true;
	ringo__unlock(&ringo__sched.lock);
	ringo__stack_thread_fini();
	ringo__tls_m = NULL;
}

static void *mstart(void *arg)
{
	struct ringo_m *m = arg;
	minit(m);
	if (m->nextp) {
		ringo__lock(&ringo__sched.lock);
		ringo__acquirep(m, m->nextp);
		m->nextp = NULL;
		ringo__unlock(&ringo__sched.lock);
	}
	if (!m->p)
		ringo__stopm(m);
	if (m->p)
		ringo__schedule(m);
	/* Exiting: give the P back so teardown sees every P unowned. */
	ringo__releasep(m);
	mexit(m);
	return NULL;
}

/* Start a thread to run p. 0, or -EAGAIN/-ENOMEM. */
int ringo__newm(struct ringo_p *p, bool spinning)
{
	struct ringo_m *m = ringo__alloc(sizeof *m);
	if (!m)
		return -ENOMEM;
	m->nextp = p;
	m->spinning = spinning;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
#ifndef RINGO_SANITIZE
	/* g0 runs only the scheduler, timers and poll loops. */
	pthread_attr_setstacksize(&attr, 256 * 1024);
#endif
	/* Created under sched.lock, and not once the runtime exits: teardown
	 * (after exiting is set) then finds every M on allm with its thread
	 * id, and joins it before freeing it. Otherwise an M started by a
	 * late startm could be missed, or read with thread == 0, and run on
	 * freed memory. */
	ringo__lock(&ringo__sched.lock);
	int r = EAGAIN;
	if (!atomic_load(&ringo__sched.exiting)) {
		mcommoninit_locked(m);
		r = pthread_create(&m->thread, &attr, mstart, m);
		if (r != 0) {
			ringo__sched.allm = m->alllink;	/* still the head: we hold the lock */
			ringo__sched.mcount--;
		}
	}
	ringo__unlock(&ringo__sched.lock);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		ringo__free(m, sizeof *m);
		return -r;
	}
	return 0;
}

/* Called with sched.lock held: stop the runtime with this exit code and
 * wake every sleeping M so that it leaves its loop. */
void ringo__begin_exit(int code)
{
	if (atomic_load(&ringo__sched.exiting))
		return;
	ringo__sched.exit_code = code;
	atomic_store(&ringo__sched.exiting, true);
	int32_t n = atomic_load(&ringo__sched.nprocs);
	for (int32_t i = 0; i < n; i++) {
		struct ringo_p *p = ringo__sched.allp[i];
		if (p->m)
			ringo__netpoll_wake(p);
	}
	for (struct ringo_m *m = ringo__sched.midle; m; m = m->schedlink)
		ringo__note_wakeup(&m->park);
	for (struct ringo_m *m = ringo__sched.allm; m; m = m->alllink) {
		if (m->lockedg || m->blocked)
			ringo__note_wakeup(&m->park);
		/* A G that never yields keeps its M: ask it to. */
		struct ringo_g *g = m->curg;
		if (g)
			atomic_store(&g->preempt, true);
		if (m != ringo__getm() && m->curg)
			ringo__preempt_m(m);
	}
	if (ringo__sched.stopwait > 0)
		ringo__note_wakeup(&ringo__sched.stopnote);
}

/* ------------------------------------------------------------------ */
/* ringo_run                                                              */

struct main_args {
	int (*fn)(void *);
	void *arg;
};

static void main_trampoline(void *arg)
{
	struct main_args *a = arg;
	int r = a->fn(a->arg);
	ringo__lock(&ringo__sched.lock);
	ringo__sched.exit_code = r;
	ringo__unlock(&ringo__sched.lock);
}

static int default_maxprocs(void)
{
	const char *env = getenv("RINGO_MAXPROCS");
	if (env && *env) {
		char *end;
		long n = strtol(env, &end, 10);
		if (*end == '\0' && n > 0 && n <= MAXPROCS_LIMIT)
			return (int)n;
		fprintf(stderr, "ringo: ignoring invalid RINGO_MAXPROCS=%s\n", env);
	}
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		int n = CPU_COUNT(&set);
		if (n > 0)
			return n > MAXPROCS_LIMIT ? MAXPROCS_LIMIT : n;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)(n > MAXPROCS_LIMIT ? MAXPROCS_LIMIT : n) : 1;
}

static void teardown(void)
{
	struct ringo__sched *s = &ringo__sched;
	/* Every M but us has left its loop; join them. */
	for (struct ringo_m *m = s->allm; m; m = m->alllink)
		if (!m->is_m0 && m->thread)
			pthread_join(m->thread, NULL);
	ringo__sysmon_stop();
	for (int32_t i = 0; s->allp && s->allp[i]; i++)
		ringo__netpoll_shutdown(s->allp[i]);
	/* Gs: all of them, dead or abandoned. */
	struct ringo_g *g = s->allg;
	while (g) {
		struct ringo_g *next = g->alllink;
		gfree_final(g);
		g = next;
	}
	for (int32_t i = 0; s->allp && s->allp[i]; i++) {
		struct ringo_p *p = s->allp[i];
		ringo__timers_destroy(p);
		ringo__netpoll_destroy(p);
		ringo__free_lines(p, sizeof *p);
	}
	ringo__free(s->allp, sizeof(*s->allp) * (MAXPROCS_LIMIT + 1));
	struct ringo_m *m = s->allm;
	while (m) {
		struct ringo_m *next = m->alllink;
		ringo__free(m, sizeof *m);
		m = next;
	}
	ringo__stack_release_all();
	uint64_t gen = s->run_generation;
	memset(s, 0, sizeof *s);
	s->run_generation = gen;
	main_g = NULL;
}

int ringo__new_p(int32_t id, struct ringo_p **out)
{
	struct ringo_p *p = ringo__alloc_lines(sizeof *p);
	if (!p)
		return -ENOMEM;
	p->id = id;
	atomic_store(&p->status, P_STOPPED);
	int r = ringo__timers_init(p);
	if (r == 0) {
		r = ringo__netpoll_init(p);
		if (r < 0)
			ringo__timers_destroy(p);
	}
	if (r < 0) {
		ringo__free_lines(p, sizeof *p);
		return r;
	}
	*out = p;
	return 0;
}

int ringo_run(int (*main_fn)(void *), void *arg)
{
	if (!main_fn)
		return -EINVAL;
	bool expected = false;
	if (!atomic_compare_exchange_strong(&runtime_running, &expected, true))
		return -EBUSY;

	struct ringo__sched *s = &ringo__sched;
	s->run_generation++;
	s->start_time = ringo__nanotime();
	atomic_store_explicit(&s->coarse_now, s->start_time, memory_order_relaxed);
	ringo__debug_parse();
	ringo__chan_bias_init();
	ringo__stack_init();

	int r = -ENOMEM;
	int nprocs = default_maxprocs();
	s->allp = ringo__alloc(sizeof(*s->allp) * (MAXPROCS_LIMIT + 1));
	struct ringo_m *m0 = ringo__alloc(sizeof *m0);
	struct main_args margs = { main_fn, arg };
	if (!s->allp || !m0)
		goto fail;
	for (int i = 0; i < nprocs; i++) {
		r = ringo__new_p(i, &s->allp[i]);
		if (r < 0)
			goto fail;
	}
	atomic_store(&s->nprocs, nprocs);
	for (int i = nprocs - 1; i >= 1; i--)
		ringo__pidleput(s->allp[i]);

	m0->is_m0 = true;
	m0->thread = pthread_self();
	mcommoninit(m0);
	s->m0 = m0;
	minit(m0);
	ringo__acquirep(m0, s->allp[0]);

	r = newproc(main_trampoline, &margs, ringo__default_stack_size, "main",
		    __builtin_return_address(0), &main_g);
	if (r < 0) {
		ringo__releasep(m0);
		ringo__stack_thread_fini();
		ringo__tls_m = NULL;
		goto fail;
	}

	if (ringo__debug.verbose)
		fprintf(stderr, "ringo: %d procs, stack guard %s\n", nprocs,
			ringo__stack_guard_name());
	ringo__preempt_init();
	ringo__debug_start();
	ringo__sysmon_start();

	ringo__schedule(m0);

	/* Exiting: goroutine 1 returned, or deadlock. */
	ringo__releasep(m0);
	r = s->exit_code;
	ringo__debug_stop();
	ringo__stack_thread_fini();
	ringo__tls_m = NULL;
	teardown();
	atomic_store(&runtime_running, false);
	return r;

fail:
	if (s->allp) {
		for (int i = 0; s->allp[i]; i++) {
			ringo__timers_destroy(s->allp[i]);
			ringo__netpoll_destroy(s->allp[i]);
			ringo__free_lines(s->allp[i], sizeof(struct ringo_p));
		}
		ringo__free(s->allp, sizeof(*s->allp) * (MAXPROCS_LIMIT + 1));
	}
	if (m0)
		ringo__free(m0, sizeof *m0);
	memset(s, 0, sizeof *s);
	atomic_store(&runtime_running, false);
	return r;
}

bool ringo__running(void)
{
	return atomic_load(&runtime_running);
}
