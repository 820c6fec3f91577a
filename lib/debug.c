/* SPDX-License-Identifier: MIT */
/*
 * debug.c - what the runtime tells humans: fatal errors, the goroutine
 * dump (deadlock, SIGQUIT, ringo_dump), RINGO_DEBUG settings, and Go's
 * schedtrace lines.
 *
 * The dump reads scheduler state without stopping the world: it is a
 * snapshot that may be slightly inconsistent for goroutines that run while
 * it prints, exactly like Go's. Backtraces walk frame pointers on the saved
 * stack of goroutines that are switched out; a running goroutine's stack
 * belongs to its thread and is not touched.
 */
#include "runtime.h"
#include "proc.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ringo__debug ringo__debug;

/* ------------------------------------------------------------------ */
/* RINGO_DEBUG=name=value,name=value                                     */

void ringo__debug_parse(void)
{
	memset(&ringo__debug, 0, sizeof ringo__debug);
	ringo__debug.chanbias = -1;
	const char *env = getenv("RINGO_DEBUG");
	if (!env || !*env)
		return;
	ringo__debug.verbose = true;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", env);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		long v = 1;
		if (eq) {
			*eq = '\0';
			v = strtol(eq + 1, NULL, 10);
		}
		if (!strcmp(tok, "schedtrace"))
			ringo__debug.schedtrace_ms = v;
		else if (!strcmp(tok, "scheddetail"))
			ringo__debug.scheddetail = v != 0;
		else if (!strcmp(tok, "asyncpreemptoff"))
			ringo__debug.asyncpreemptoff = v != 0;
		else if (!strcmp(tok, "chanbias"))
			ringo__debug.chanbias = v < 0 ? 0 : v;
		else if (strcmp(tok, "1") != 0)
			fprintf(stderr, "ringo: unknown RINGO_DEBUG setting '%s'\n", tok);
	}
}

/* ------------------------------------------------------------------ */
/* Fatal errors                                                          */

/* `ringo: fatal error: ...`, then the goroutine dump (as Go's throw
 * prints every goroutine), then abort. One thread reports; another that
 * fails meanwhile waits for it (crash.c). */
void ringo__fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(buf, sizeof buf, "ringo: fatal error: ");
	n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	if (ringo__crash_begin()) {
		(void)!write(2, buf, (size_t)n);
		ringo__crash_dump();
	}
	abort();
}

/* ------------------------------------------------------------------ */
/* The goroutine dump                                                    */

const char *ringo__gstatus_name(uint32_t st)
{
	static const char *const names[] = {
		[G_IDLE] = "idle", [G_RUNNABLE] = "runnable", [G_RUNNING] = "running",
		[G_SYSCALL] = "syscall", [G_WAITING] = "waiting", [G_DEAD] = "dead",
	};
	return st < sizeof names / sizeof names[0] ? names[st] : "?";
}

static void print_pc(int fd, const char *prefix, void *pc)
{
	Dl_info info;
	if (pc && dladdr(pc, &info) && info.dli_sname)
		dprintf(fd, "%s%s+0x%lx (%p)\n", prefix, info.dli_sname,
			(unsigned long)((char *)pc - (char *)info.dli_saddr), pc);
	else if (pc && dladdr(pc, &info) && info.dli_fname)
		dprintf(fd, "%s%s+0x%lx (%p)\n", prefix, info.dli_fname,
			(unsigned long)((char *)pc - (char *)info.dli_fbase), pc);
	else
		dprintf(fd, "%s%p\n", prefix, pc);
}

/* Print pc, then walk the frame-pointer chain from fp, reading only
 * aligned frames inside [lo, hi) that move up the stack: code built
 * without frame pointers leaves anything in the register. */
static void walk_frames(int fd, void *pc, void *const *fp, const char *lo, const char *hi)
{
	for (int depth = 0; depth < 32 && pc; depth++) {
		print_pc(fd, "\t", pc);
		if ((const char *)fp < lo || (const char *)fp + 16 > hi ||
		    ((uintptr_t)fp & 7))
			break;
		pc = fp[1];
		if ((void *const *)fp[0] <= fp)
			break;
		fp = (void *const *)fp[0];
	}
}

/* Walk the frame-pointer chain of a switched-out goroutine. */
static void backtrace_g(int fd, struct ringo_g *gp)
{
	const char *lo = gp->stack.lo, *hi = gp->stack.lo + gp->stack.size;
	const char *sp = gp->ctx.sp;
	if (!sp || sp < lo || sp >= hi)
		return;
#if defined(__x86_64__)
	/* See ringo__ctx_switch in context.h. */
	void *const *fp = gp->ctx.fp;
	void *pc = gp->ctx.pc;
#elif defined(__aarch64__)
	/* See context_aarch64.S: x29 at sp+80, x30 at sp+88. */
	void *const *fp = *(void *const *const *)(sp + 80);
	void *pc = *(void *const *)(sp + 88);
#endif
	walk_frames(fd, pc, fp, lo, hi);
}

void ringo__backtrace_running(int fd, const struct ringo_g *gp, void *pc, void *fp)
{
	const char *lo = gp->stack.lo, *hi = gp->stack.lo + gp->stack.size;
	walk_frames(fd, pc, fp, lo, hi);
}

static void dump_g(int fd, struct ringo_g *gp, int64_t now)
{
	uint32_t st = atomic_load(&gp->status);
	if (st == G_DEAD || st == G_IDLE)
		return;
	char state[128];
	if (st == G_WAITING && gp->wait_reason) {
		int64_t waited = gp->wait_since ? (now - gp->wait_since) / 1000000 : 0;
		if (waited >= 60000)
			snprintf(state, sizeof state, "%s, %lld minutes", gp->wait_reason,
				 (long long)(waited / 60000));
		else
			snprintf(state, sizeof state, "%s, %lld ms", gp->wait_reason,
				 (long long)waited);
	} else {
		snprintf(state, sizeof state, "%s", ringo__gstatus_name(st));
	}
	if (gp->name)
		dprintf(fd, "goroutine %llu \"%s\" [%s]:\n", (unsigned long long)gp->id,
			gp->name, state);
	else
		dprintf(fd, "goroutine %llu [%s]:\n", (unsigned long long)gp->id, state);
	if (st == G_RUNNING || st == G_SYSCALL) {
		struct ringo_m *m = gp->m;
		if (m)
			dprintf(fd, "\t(on thread %d)\n", (int)m->tid);
	} else {
		backtrace_g(fd, gp);
	}
	char created[64];
	if (gp->parent_id)
		snprintf(created, sizeof created, "created by goroutine %llu at ",
			 (unsigned long long)gp->parent_id);
	else
		snprintf(created, sizeof created, "created at ");
	print_pc(fd, created, gp->create_pc);
	dprintf(fd, "\n");
}

void ringo__dump_all(int fd, bool best_effort)
{
	int64_t now = ringo__nanotime();	/* same clock as g->wait_since */
	/* allg_lock ranks after sched.lock: always safe to take, except in
	 * a crash or a signal handler, where this very thread may hold it
	 * (or a thread the crash stopped): there, try it for a second and
	 * then walk without it. That walk may read a G with a stack size of
	 * its own that exits meanwhile and is freed: acceptable only in a
	 * process about to die. */
	bool locked = true;
	if (!best_effort) {
		ringo__lock(&ringo__sched.allg_lock);
	} else {
		struct timespec ms = { 0, 1000000 };
		for (int i = 0; !(locked = ringo__trylock(&ringo__sched.allg_lock)) && i < 1000; i++)
			nanosleep(&ms, NULL);
	}
	/* allg is newest first; print oldest first, like Go. */
	struct ringo_g *last = ringo__sched.allg;
	while (last && last->alllink)
		last = last->alllink;
	for (struct ringo_g *gp = last; gp; gp = gp->allprev)
		dump_g(fd, gp, now);
	if (locked)
		ringo__unlock(&ringo__sched.allg_lock);
}

int ringo_dump(int fd)
{
	if (fd < 0)
		return -EBADF;
	if (!ringo__running())
		return -EPERM;
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	/* From a goroutine, stop the world first (as Go's runtime.Stack
	 * does for all goroutines): no G changes state or stack under the
	 * walk. Other threads get a best-effort dump. */
	bool stw = ringo__getg() != NULL;
	if (stw)
		ringo__stop_the_world();
	ringo__dump_all(fd, false);
	if (stw)
		ringo__start_the_world();
	return 0;
}

/* ------------------------------------------------------------------ */
/* schedtrace                                                            */

void ringo__schedtrace(bool detail)
{
	struct ringo__sched *s = &ringo__sched;
	char line[4096];
	int64_t ms = (ringo__nanotime() - s->start_time) / 1000000;
	ringo__lock(&s->lock);
	int32_t np = atomic_load(&s->nprocs);
	int n = snprintf(line, sizeof line,
		"SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
		"idlethreads=%d runqueue=%d [", (long long)ms, np, atomic_load(&s->npidle),
		s->mcount, atomic_load(&s->nmspinning), s->nmidle + s->nmidlep,
		atomic_load(&s->runqsize));
	for (int32_t i = 0; i < np && n < (int)sizeof line - 16; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, i ? " %u" : "%u",
			      ringo__runqlen(s->allp[i]));
	snprintf(line + n, sizeof line - (size_t)n, "]\n");
	(void)!write(2, line, strlen(line));
	if (detail) {
		for (int32_t i = 0; i < np; i++) {
			struct ringo_p *p = s->allp[i];
			dprintf(2, "  P%d: status=%u schedtick=%u syscalltick=%u m=%lld runqsize=%u gfreecnt=%d\n",
				p->id, atomic_load(&p->status), atomic_load(&p->schedtick),
				atomic_load(&p->syscalltick), p->m ? (long long)p->m->id : -1LL,
				ringo__runqlen(p), p->gfree_count);
		}
		for (struct ringo_m *m = s->allm; m; m = m->alllink) {
			if (m->exited)
				continue;
			struct ringo_g *cg = m->curg;
			dprintf(2, "  M%lld: p=%d curg=%lld locks=%d spinning=%s blocked=%s lockedg=%lld\n",
				(long long)m->id, m->p ? m->p->id : -1,
				cg ? (long long)cg->id : -1LL, m->locks,
				m->spinning ? "true" : "false", m->blocked ? "true" : "false",
				m->lockedg ? (long long)m->lockedg->id : -1LL);
		}
		ringo__lock(&s->allg_lock);
		for (struct ringo_g *gp = s->allg; gp; gp = gp->alllink) {
			uint32_t st = atomic_load(&gp->status);
			if (st == G_DEAD)
				continue;
			struct ringo_m *gm = gp->m;
			dprintf(2, "  G%llu: status=%u(%s) m=%lld lockedm=%lld\n",
				(unsigned long long)gp->id, st,
				gp->wait_reason ? gp->wait_reason : "",
				gm ? (long long)gm->id : -1LL,
				gp->lockedm ? (long long)gp->lockedm->id : -1LL);
		}
		ringo__unlock(&s->allg_lock);
	}
	ringo__unlock(&s->lock);
}

/* The schedtrace printer is its own small thread: it holds no P and takes
 * sched.lock only while it reads. */
static pthread_t trace_thread;
static bool trace_running;
static ringo__note_t trace_stop;

static void *trace_main(void *arg)
{
	(void)arg;
	int64_t period = ringo__debug.schedtrace_ms * 1000000;
	int64_t next = ringo__nanotime() + period;
	while (!ringo__note_sleep_until(&trace_stop, next)) {
		ringo__schedtrace(ringo__debug.scheddetail);
		next += period;
	}
	return NULL;
}

/* SIGQUIT: dump every goroutine and exit with status 2, as Go does. Only
 * installed when the application left SIGQUIT at its default. */
static struct sigaction old_quit;
static bool quit_installed;

static void sigquit_handler(int sig)
{
	(void)sig;
	static const char msg[] = "SIGQUIT: quit\n\n";
	(void)!write(2, msg, sizeof msg - 1);
	ringo__dump_all(2, true);
	_exit(2);
}

void ringo__debug_start(void)
{
	struct sigaction cur;
	if (sigaction(SIGQUIT, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
	    !(cur.sa_flags & SA_SIGINFO)) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = sigquit_handler;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGQUIT, &sa, &old_quit) == 0)
			quit_installed = true;
	}
	if (ringo__debug.schedtrace_ms > 0) {
		ringo__note_clear(&trace_stop);
		trace_running = pthread_create(&trace_thread, NULL, trace_main, NULL) == 0;
	}
}

void ringo__debug_stop(void)
{
	if (trace_running) {
		ringo__note_wakeup(&trace_stop);
		pthread_join(trace_thread, NULL);
		trace_running = false;
	}
	if (quit_installed) {
		sigaction(SIGQUIT, &old_quit, NULL);
		quit_installed = false;
	}
}
