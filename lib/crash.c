/* SPDX-License-Identifier: MIT */
/*
 * crash.c - what a crash on a runtime thread leaves behind.
 *
 * A goroutine that dereferences a bad pointer, divides by zero or runs an
 * illegal instruction dies of it as it would without ringo: the signal's
 * default action ends the process (with a core dump where enabled). First
 * the runtime prints one line naming the signal, the address, the
 * instruction and the goroutine, then the goroutine dump, as Go does.
 * Stack overflows (stack.c) print their own line and the same dump.
 *
 * Only hardware faults on a thread that runs goroutines (an M) are
 * reported, and only where the signal's disposition was the default when
 * the runtime started: an application's or a sanitizer's handler gets the
 * fault untouched, and so does every other thread.
 *
 * The report runs in the signal handler, on the thread's alternate stack.
 * It is best effort, like Go's crash output: the dump reads scheduler
 * state without stopping anything, and it formats with snprintf and
 * dladdr, which are not async-signal-safe (the process is about to die of
 * the fault either way).
 */
#include "runtime.h"
#include "proc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* The fatal signals reported besides SIGSEGV (stack.c owns that one). */
static const int crash_signals[] = { SIGBUS, SIGFPE, SIGILL };
#define NCRASH (sizeof crash_signals / sizeof crash_signals[0])

static struct sigaction crash_old[NCRASH];	/* to chain to */
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;
static _Atomic int crashing;			/* a report has begun */

static void write_all(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t r = write(2, s, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		s += r;
		n -= (size_t)r;
	}
}

bool ringo__crash_begin(void)
{
	if (atomic_exchange(&crashing, 1) == 0)
		return true;
	/* Another thread is reporting: give it five seconds to finish
	 * and end the process, then die anyway. */
	struct timespec ms = { 0, 1000000 };
	for (int i = 0; i < 5000; i++)
		nanosleep(&ms, NULL);
	return false;
}

void ringo__crash_dump(void)
{
	if (!ringo__running())
		return;
	write_all("\n", 1);
	ringo__dump_all(2, true);
}

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	}
	return "signal";
}

static const char *signal_what(int sig, int code)
{
	switch (sig) {
	case SIGSEGV:
		return code == SEGV_ACCERR ? "invalid permissions for mapped object"
					   : "address not mapped to object";
	case SIGBUS:
		return code == BUS_ADRALN ? "invalid address alignment"
		       : code == BUS_ADRERR ? "nonexistent physical address"
					    : "object-specific hardware error";
	case SIGFPE:
		return code == FPE_INTDIV ? "integer divide by zero"
		       : code == FPE_INTOVF ? "integer overflow"
					    : "floating-point exception";
	case SIGILL:
		return "illegal instruction";
	}
	return "fault";
}

static void *interrupted_pc(const void *uctx)
{
	const ucontext_t *uc = uctx;
#if defined(__x86_64__)
	return (void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (void *)uc->uc_mcontext.pc;
#else
#error "ringo: crash.c knows the signal context of x86_64 and aarch64 only"
#endif
}

static void *interrupted_fp(const void *uctx)
{
	const ucontext_t *uc = uctx;
#if defined(__x86_64__)
	return (void *)uc->uc_mcontext.gregs[REG_RBP];
#elif defined(__aarch64__)
	return (void *)uc->uc_mcontext.regs[29];
#endif
}

/* `ringo: fatal signal SIGSEGV (address not mapped to object) at address
 * 0x0, pc 0x... (fn+0x1f), goroutine 7`, the goroutine's backtrace (as
 * far as frame pointers go) and the dump. */
static void crash_report(int sig, const siginfo_t *si, const void *uctx)
{
	char line[512];
	void *pc = interrupted_pc(uctx);
	int n = snprintf(line, sizeof line, "ringo: fatal signal %s (%s) at address 0x%lx, pc 0x%lx",
			 signal_name(sig), signal_what(sig, si->si_code),
			 (unsigned long)si->si_addr, (unsigned long)pc);
	Dl_info info;
	if (pc && dladdr(pc, &info) && info.dli_sname)
		n += snprintf(line + n, sizeof line - (size_t)n, " (%s+0x%lx)", info.dli_sname,
			      (unsigned long)((char *)pc - (char *)info.dli_saddr));
	struct ringo_g *g = ringo__getg();
	struct ringo_m *m = ringo__getm();
	if (g)
		n += snprintf(line + n, sizeof line - (size_t)n, ", goroutine %llu",
			      (unsigned long long)g->id);
	else
		n += snprintf(line + n, sizeof line - (size_t)n,
			      ", in the scheduler of thread %d", (int)m->tid);
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	write_all(line, (size_t)n);
	if (g && g->stack.lo)
		ringo__backtrace_running(2, g, pc, interrupted_fp(uctx));
	ringo__crash_dump();
}

void ringo__crash_forward(int sig, siginfo_t *si, void *uctx, const struct sigaction *old)
{
	bool dfl_or_ign = old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN;
	if (!dfl_or_ign && (old->sa_flags & SA_SIGINFO)) {
		old->sa_sigaction(sig, si, uctx);
		return;
	}
	if (!dfl_or_ign) {
		old->sa_handler(sig);
		return;
	}
	if (si->si_code <= 0) {
		/* Sent with kill() or raise(), not a fault: what it would
		 * have done without us (nothing if ignored). */
		if (old->sa_handler == SIG_IGN)
			return;
	} else if (ringo__getm() && ringo__crash_begin()) {
		crash_report(sig, si, uctx);
	}
	/* The default action: uninstall ourselves. A fault re-executes the
	 * instruction and faults again; a signal sent with kill() is raised
	 * again (blocked until we return). */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void crash_handler(int sig, siginfo_t *si, void *uctx)
{
	int saved_errno = errno;
	for (size_t i = 0; i < NCRASH; i++)
		if (crash_signals[i] == sig)
			ringo__crash_forward(sig, si, uctx, &crash_old[i]);
	errno = saved_errno;
}

static void crash_init_once(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCRASH; i++) {
		struct sigaction cur;
		/* Only over the default: a handler the application (or a
		 * sanitizer) installed stays in charge. */
		if (sigaction(crash_signals[i], NULL, &cur) == 0 && cur.sa_handler == SIG_DFL &&
		    !(cur.sa_flags & SA_SIGINFO))
			sigaction(crash_signals[i], &sa, &crash_old[i]);
	}
}

void ringo__crash_init(void)
{
	pthread_once(&crash_once, crash_init_once);
}
