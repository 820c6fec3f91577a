/* SPDX-License-Identifier: MIT */
/* check_preempt.c - preemption: a spinning goroutine cannot hog its P;
 * registers, flags and the vector state survive thousands of asynchronous
 * preemptions bit for bit; code in libc is never preempted (only at the
 * loop's ringo_preempt_point); no spurious EINTR; the runtime exits past a
 * spinner; asyncpreemptoff=1 leaves the cooperative checks; the
 * application's own SIGURG handler still runs. */
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#define MS 1000000LL

/* The async-preemption tests need the signal path: x86_64, not TSan. */
static bool async_available(void)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
	return false;
#endif
#endif
	return true;
#else
	return false;
#endif
}

/* ---- a spinning goroutine does not hog its P ------------------------------ */

static _Atomic long counter;	/* relaxed: only its changes matter */
static _Atomic int stop_spin;

/* The whole loop is in this executable's text: no runtime call at all. */
static void spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop_spin, memory_order_relaxed))
		atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

#define ROUNDS 30

static int spin_main(void *arg)
{
	(void)arg;
	atomic_store(&stop_spin, 0);
	atomic_store(&counter, 0);
	int nspin = ringo_maxprocs(0);	/* one spinner per P */
	for (int i = 0; i < nspin; i++)
		GO_OK(ringo_go(spinner, NULL));
	/* Each yield hands the P to a spinner; we only run again when a
	 * spinner is preempted. Count the rounds in which it spun. */
	int spun = 0;
	for (int i = 0; i < ROUNDS; i++) {
		long before = atomic_load(&counter);
		ringo_yield();
		if (atomic_load(&counter) != before)
			spun++;
	}
	while (atomic_load(&counter) == 0)
		ringo_yield();
	atomic_store(&stop_spin, 1);
	/* With one P every yield of main runs a spinner until it is
	 * preempted; with more, main may get a P back while the spinners'
	 * threads wait for a CPU (make -j2 check), and what proves
	 * preemption is that the loop ends at all. */
	if (nspin == 1)
		ck_assert_int_ge(spun, ROUNDS / 2);
	return 0;
}

START_TEST(test_spin_preempted)
{
	if (!async_available())
		return;
	RUN(spin_main, NULL);
}
END_TEST

/* ---- a goroutine wired to its thread is preempted and stays there ------------ */

static _Atomic int locked_moved, locked_done;

static void locked_spinner(void *arg)
{
	(void)arg;
	ringo_lock_thread();
	pid_t tid = (pid_t)syscall(SYS_gettid);
	long last = -1;
	int checks = 0;
	while (!atomic_load_explicit(&stop_spin, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
		/* Look at the thread now and then, in our own code. */
		if (++last % 4096 == 0) {
			checks++;
			if ((pid_t)syscall(SYS_gettid) != tid)
				atomic_fetch_add(&locked_moved, 1);
		}
	}
	ringo_unlock_thread();
	atomic_store(&locked_done, checks);
}

static int locked_spin_main(void *arg)
{
	(void)arg;
	ringo_maxprocs(1);
	atomic_store(&stop_spin, 0);
	atomic_store(&counter, 0);
	atomic_store(&locked_moved, 0);
	atomic_store(&locked_done, 0);
	GO_OK(ringo_go(locked_spinner, NULL));
	int spun = 0;
	for (int i = 0; i < 10; i++) {
		long before = atomic_load(&counter);
		ringo_yield();	/* back only if the wired spinner was preempted */
		spun += atomic_load(&counter) != before;
	}
	atomic_store(&stop_spin, 1);
	while (atomic_load(&locked_done) == 0)
		ringo_yield();
	ck_assert_int_ge(spun, 5);
	ck_assert_int_eq(atomic_load(&locked_moved), 0);
	return 0;
}

START_TEST(test_locked_spinner)
{
	if (!async_available())
		return;
	RUN(locked_spin_main, NULL);
}
END_TEST

/* ---- the runtime exits while a goroutine spins ------------------------------- */

static int exit_main(void *arg)
{
	(void)arg;
	atomic_store(&stop_spin, 0);
	GO_OK(ringo_go(spinner, NULL));
	GO_OK(ringo_go(spinner, NULL));
	ringo_yield();
	return 3;	/* the spinners never stop by themselves */
}

START_TEST(test_exit_past_spinner)
{
	if (!async_available())
		return;
	ck_assert_int_eq(ringo_run(exit_main, NULL), 3);
}
END_TEST

/* ---- cooperative only: asyncpreemptoff=1 ------------------------------------- */

static void polite_spinner(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop_spin, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
		ringo_preempt_point();
	}
}

static int coop_main(void *arg)
{
	(void)arg;
	atomic_store(&stop_spin, 0);
	atomic_store(&counter, 0);
	int n = ringo_maxprocs(0);
	for (int i = 0; i < n; i++)
		GO_OK(ringo_go(polite_spinner, NULL));
	/* Every P has a spinner: main runs again only because they yield
	 * at their preemption points. With one P each yield of main runs a
	 * spinner until it is asked to yield, so the count moves every time;
	 * with more, main may get a P back without that, and what proves the
	 * point is that the loop ends at all. */
	int spun = 0;
	for (int i = 0; i < 10; i++) {
		long before = atomic_load(&counter);
		ringo_yield();
		spun += atomic_load(&counter) != before;
	}
	while (atomic_load(&counter) == 0)
		ringo_yield();	/* and the spinners do run */
	atomic_store(&stop_spin, 1);
	if (n == 1)
		ck_assert_int_ge(spun, 5);
	return 0;
}

START_TEST(test_asyncpreemptoff)
{
	RUN_DEBUG("asyncpreemptoff=1", coop_main, NULL);
}
END_TEST

/* ---- registers survive asynchronous preemption bit for bit -------------------- */

/* Kernels with many live registers and no calls: all of the state is in
 * registers while they are preempted. Each returns a hash of its result
 * bits. The same code runs on a plain thread for the reference. */

static volatile long fp_iters = 1000000;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

__attribute__((noinline)) static uint64_t k_int(long n)
{
	uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i9 = 9, j = 10,
		 k = 11, l = 12;
	for (long i = 0; i < n; i++) {
		a = a * 6364136223846793005ULL + b;
		b ^= a >> 17;
		c += b < a ? d : e;	/* flags live across the compare */
		d = (d << 7 | d >> 57) ^ c;
		e += d * 3;
		f ^= e + (uint64_t)i;
		g = g * 31 + f;
		h ^= g >> 3;
		i9 += h < g;
		j ^= i9 * 0x9e3779b97f4a7c15ULL;
		k += j >> 11;
		l = (l ^ k) * 5 + a;
	}
	uint64_t r[12] = { a, b, c, d, e, f, g, h, i9, j, k, l };
	return mix(0xcbf29ce484222325ULL, r, sizeof r);
}

__attribute__((noinline)) static uint64_t k_sse(long n)
{
	double x[16];
	for (int i = 0; i < 16; i++)
		x[i] = 1.0 + i / 7.0;
	double a0 = x[0], a1 = x[1], a2 = x[2], a3 = x[3], a4 = x[4], a5 = x[5], a6 = x[6],
	       a7 = x[7], a8 = x[8], a9 = x[9], a10 = x[10], a11 = x[11], a12 = x[12];
	for (long i = 0; i < n; i++) {
		a0 = a0 * 1.0000001 + 1e-9;
		a1 = a1 / 1.0000003 + a0 * 1e-12;
		a2 = a2 * 0.9999999 + a1 * 1e-7;
		a3 = a3 + a2 / 1e9;
		a4 = a4 * 1.0000002 - a3 * 1e-10;
		a5 = a5 + a4 * 1e-11 - 1e-13;
		a6 = a6 * 0.99999995 + a5 * 1e-8;
		a7 = a7 + a6 / 3e9;
		a8 = a8 * 1.00000001 + a7 * 1e-12;
		a9 = a9 - a8 * 1e-12 + 1e-10;
		a10 = a10 * 1.0000000005 + a9 * 1e-11;
		a11 = a11 + a10 / 7e10;
		a12 = a12 * 0.9999999995 + a11 * 1e-9;
	}
	double r[13] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12 };
	return mix(0xcbf29ce484222325ULL, r, sizeof r);
}

/* The same under a non-default rounding mode (MXCSR is per thread). */
__attribute__((noinline)) static uint64_t k_sse_round(long n)
{
	fesetround(FE_TOWARDZERO);
	uint64_t h = k_sse(n);
	fesetround(FE_TONEAREST);
	return h;
}

#ifdef __x86_64__
__attribute__((noinline)) static uint64_t k_x87(long n)
{
	long double a = 1.0L, b = 1.5L, c = 2.0L, d = 2.5L, e = 3.0L, f = 3.5L;
	for (long i = 0; i < n; i++) {
		a = a * 1.0000001L + 1e-12L;
		b = b / 1.0000001L + a * 1e-15L;
		c = c + b * 1e-13L;
		d = d * 0.9999999L + c * 1e-14L;
		e = e - d * 1e-15L + 1e-13L;
		f = f * 1.00000001L + e * 1e-16L;
	}
	long double r[6] = { a, b, c, d, e, f };
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < 6; i++)
		h = mix(h, &r[i], 10);	/* the 80 significant bits */
	return h;
}

__attribute__((noinline, target("avx2,fma"))) static uint64_t k_avx2(long n)
{
	__m256d m = _mm256_set1_pd(1.0000001), c = _mm256_set1_pd(1e-9);
	__m256d v[12];
	for (int i = 0; i < 12; i++)
		v[i] = _mm256_set_pd(i + 1.0, i + 1.25, i + 1.5, i + 1.75);
	__m256d v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3], v4 = v[4], v5 = v[5], v6 = v[6],
		v7 = v[7], v8 = v[8], v9 = v[9], v10 = v[10], v11 = v[11];
	for (long i = 0; i < n; i++) {
		v0 = _mm256_fmadd_pd(v0, m, c);
		v1 = _mm256_fmadd_pd(v1, m, v0);
		v2 = _mm256_fnmadd_pd(v2, c, v1);
		v3 = _mm256_fmadd_pd(v3, m, v2);
		v4 = _mm256_fmsub_pd(v4, m, c);
		v5 = _mm256_fmadd_pd(v5, c, v4);
		v6 = _mm256_fmadd_pd(v6, m, v5);
		v7 = _mm256_fnmadd_pd(v7, c, v6);
		v8 = _mm256_fmadd_pd(v8, m, c);
		v9 = _mm256_fmadd_pd(v9, c, v8);
		v10 = _mm256_fmsub_pd(v10, m, v9);
		v11 = _mm256_fmadd_pd(v11, c, v10);
		v0 = _mm256_mul_pd(v0, _mm256_set1_pd(0.99999999));
	}
	__m256d r[12] = { v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11 };
	return mix(0xcbf29ce484222325ULL, r, sizeof r);
}

/* AVX-512: 28 live zmm registers, including zmm16-31 that only XSAVE's
 * Hi16_ZMM component holds. */
__attribute__((noinline, target("avx512f"))) static uint64_t k_avx512(long n)
{
	__m512d m = _mm512_set1_pd(1.0000001), c = _mm512_set1_pd(1e-9);
	__m512d v[28];
	for (int i = 0; i < 28; i++)
		v[i] = _mm512_set1_pd(1.0 + i / 16.0);
#define S(i) __m512d r##i = v[i];
	S(0) S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10) S(11) S(12) S(13)
	S(14) S(15) S(16) S(17) S(18) S(19) S(20) S(21) S(22) S(23) S(24) S(25) S(26) S(27)
#undef S
	for (long i = 0; i < n; i++) {
#define F(i, j) r##i = _mm512_fmadd_pd(r##i, m, r##j);
		F(0, 27) F(1, 0) F(2, 1) F(3, 2) F(4, 3) F(5, 4) F(6, 5) F(7, 6) F(8, 7)
		F(9, 8) F(10, 9) F(11, 10) F(12, 11) F(13, 12) F(14, 13) F(15, 14)
		F(16, 15) F(17, 16) F(18, 17) F(19, 18) F(20, 19) F(21, 20) F(22, 21)
		F(23, 22) F(24, 23) F(25, 24) F(26, 25) F(27, 26)
#undef F
		r0 = _mm512_mul_pd(r0, c);
		r14 = _mm512_mul_pd(r14, c);
	}
	__m512d out[28] = { r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13,
			    r14, r15, r16, r17, r18, r19, r20, r21, r22, r23, r24, r25, r26, r27 };
	return mix(0xcbf29ce484222325ULL, out, sizeof out);
}
#endif

enum { K_INT, K_SSE, K_SSE_ROUND, K_X87, K_AVX2, K_AVX512, NKERNELS };

static bool kernel_supported(int k)
{
#ifdef __x86_64__
	if (k == K_AVX2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	if (k == K_AVX512)
		return __builtin_cpu_supports("avx512f");
	return true;
#else
	return k == K_INT || k == K_SSE || k == K_SSE_ROUND;
#endif
}

static uint64_t run_kernel(int k, long n)
{
	switch (k) {
	case K_INT: return k_int(n);
	case K_SSE: return k_sse(n);
	case K_SSE_ROUND: return k_sse_round(n);
#ifdef __x86_64__
	case K_X87: return k_x87(n);
	case K_AVX2: return k_avx2(n);
	case K_AVX512: return k_avx512(n);
#endif
	default: return 0;
	}
}

static uint64_t expected[NKERNELS];
static _Atomic uint64_t got_hash[NKERNELS];
static _Atomic int kernels_left;

static void *reference_thread(void *arg)
{
	(void)arg;
	for (int k = 0; k < NKERNELS; k++)
		if (kernel_supported(k))
			expected[k] = run_kernel(k, fp_iters);
	return NULL;
}

#define PASSES 2
#define STW_ROUNDS 1000
static _Atomic int kernels_stop;

/* Runs its kernel again and again, at least PASSES times and until the
 * main goroutine has forced its stop-the-worlds, so that every one of
 * them lands while kernels run, however slow the machine. */
static void kernel_g(void *arg)
{
	int k = (int)(intptr_t)arg;
	uint64_t first = 0;
	bool mismatch = false;
	for (int pass = 0; pass < PASSES || !atomic_load(&kernels_stop); pass++) {
		uint64_t r = run_kernel(k, fp_iters);
		if (pass == 0)
			first = r;
		else if (r != first)
			mismatch = true;
	}
	atomic_store(&got_hash[k], mismatch ? 0 : first);
	atomic_fetch_sub(&kernels_left, 1);
}

static int fp_main(void *arg)
{
	(void)arg;
	/* Two Ps at least: this goroutine forces stop-the-worlds, each of
	 * which must preempt the kernel goroutines (they make no runtime
	 * call) through the signal, while sysmon slices them too. */
	int old = ringo_maxprocs(2);
	atomic_store(&kernels_left, 0);
	atomic_store(&kernels_stop, 0);
	for (int k = 0; k < NKERNELS; k++) {
		if (!kernel_supported(k))
			continue;
		atomic_fetch_add(&kernels_left, 1);
		GO_OK(ringo_go(kernel_g, (void *)(intptr_t)k));
	}
	for (int i = 0; i < STW_ROUNDS / 2; i++) {
		ringo_maxprocs(3);
		ringo_maxprocs(2);
	}
	atomic_store(&kernels_stop, 1);
	while (atomic_load(&kernels_left) > 0)
		ringo_yield();
	ringo_maxprocs(old);
	for (int k = 0; k < NKERNELS; k++)
		if (kernel_supported(k))
			ck_assert_msg(atomic_load(&got_hash[k]) == expected[k],
				      "kernel %d: %llx != %llx", k,
				      (unsigned long long)atomic_load(&got_hash[k]),
				      (unsigned long long)expected[k]);
	return 0;
}

START_TEST(test_registers_exact)
{
	if (!async_available())
		return;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, reference_thread, NULL), 0);
	pthread_join(t, NULL);
	RUN(fp_main, NULL);
}
END_TEST

/* ---- libc is not a safe point -------------------------------------------------- */

#define CMP_BYTES (8 << 20)
static unsigned char *buf_a, *buf_b;
static _Atomic uint64_t cmp_gid;
static _Atomic long cmp_loops;
static volatile int cmp_sink;
static volatile int at_point;	/* the spinner is in ringo_preempt_point */

static void memcmp_spinner(void *arg)
{
	(void)arg;
	atomic_store(&cmp_gid, ringo_id());
	while (!atomic_load_explicit(&stop_spin, memory_order_relaxed)) {
		cmp_sink += memcmp(buf_a, buf_b, CMP_BYTES);
		atomic_fetch_add_explicit(&cmp_loops, 1, memory_order_relaxed);
		at_point = 1;
		ringo_preempt_point();
		at_point = 0;
	}
}

/* Where was the spinner stopped? The dump walks its saved frame chain
 * (through the trampoline's frame, whose return address is the interrupted
 * pc); the first frame outside libringo is the code it was running: the
 * loop (after ringo_preempt_point, or an asynchronous stop in the loop's
 * own few instructions), never libc. Returns 0 for this executable, 1 for
 * any other object, -1 if the goroutine is not in the dump. */
static int classify(const char *dump, uint64_t gid)
{
	char hdr[64];
	snprintf(hdr, sizeof hdr, "goroutine %llu ", (unsigned long long)gid);
	const char *p = strstr(dump, hdr);
	if (!p)
		return -1;
	p = strchr(p, '\n');
	Dl_info self, lib, info;
	dladdr((void *)classify, &self);
	dladdr((void *)ringo_yield, &lib);
	while (p && p[1] == '\t') {
		p += 2;
		const char *end = strchr(p, '\n');
		if (!end)
			break;
		const char *paren = memrchr(p, '(', (size_t)(end - p));
		void *pc = NULL;
		if (paren)
			sscanf(paren, "(%p)", &pc);
		if (pc && dladdr(pc, &info) && info.dli_fbase != lib.dli_fbase)
			return info.dli_fbase == self.dli_fbase ? 0 : 1;
		p = end;
	}
	return -1;
}

static int memcmp_main(void *arg)
{
	(void)arg;
	ringo_maxprocs(1);	/* the spinner runs only when we do not */
	buf_a = malloc(CMP_BYTES);
	buf_b = malloc(CMP_BYTES);
	memset(buf_a, 7, CMP_BYTES);
	memset(buf_b, 7, CMP_BYTES);
	atomic_store(&stop_spin, 0);
	atomic_store(&cmp_loops, 0);
	GO_OK(ringo_go(memcmp_spinner, NULL));
	int fd = memfd_create("dump", 0);
	ck_assert_int_ge(fd, 0);
	char *text = malloc(1 << 20);
	int in_libc = 0, coop = 0, seen = 0;
	for (int i = 0; i < 20; i++) {
		ringo_yield();	/* back only once the spinner was stopped */
		ck_assert_int_eq(ftruncate(fd, 0), 0);
		lseek(fd, 0, SEEK_SET);
		ck_assert_int_eq(ringo_dump(fd), 0);
		ssize_t n = pread(fd, text, (1 << 20) - 1, 0);
		ck_assert_int_gt(n, 0);
		text[n] = '\0';
		int where = classify(text, atomic_load(&cmp_gid));
		if (where < 0) {
			if (getenv("CHECK_DEBUG"))
				fprintf(stderr, "%s\n---\n", text);
			continue;	/* not started yet */
		}
		seen++;
		in_libc += where == 1;
		coop += at_point;
	}
	atomic_store(&stop_spin, 1);
	ringo_yield();
	ck_assert_int_eq(in_libc, 0);
	ck_assert_int_ge(seen, 10);
	ck_assert_int_ge(coop, 1);
	close(fd);
	free(text);
	return 0;
}

START_TEST(test_libc_not_preempted)
{
	if (!async_available())
		return;
	RUN(memcmp_main, NULL);
	free(buf_a);
	free(buf_b);
}
END_TEST

/* ---- the runtime exits while a goroutine loops in libc ------------------------- */

/* The exit asks each running goroutine to yield with one signal. A
 * goroutine that spends nearly all its time in libc declines nearly every
 * signal (libc is not a safe point), so the runtime must keep asking until
 * one lands in the loop's own instructions: without that the exit waits
 * for this M forever. */

static _Atomic int libc_looping;

static void libc_looper(void *arg)
{
	(void)arg;
	static char page[4096];
	/* Through a volatile pointer: a memset the compiler inlines would
	 * run in this executable, where every signal is accepted. */
	void *(*volatile set)(void *, int, size_t) = memset;
	atomic_store(&libc_looping, 1);
	for (unsigned i = 0;; i++)
		set(page, (int)i, sizeof page);
}

static int exit_libc_main(void *arg)
{
	(void)arg;
	atomic_store(&libc_looping, 0);
	GO_OK(ringo_go(libc_looper, NULL));
	/* Let the other P take it; return once it loops there. */
	while (!atomic_load(&libc_looping))
		ringo_yield();
	return 3;
}

START_TEST(test_exit_past_libc_loop)
{
	if (!async_available() || test_maxprocs() < 2)
		return;	/* needs the looper running on another P at exit */
	ck_assert_int_eq(ringo_run(exit_libc_main, NULL), 3);
}
END_TEST

/* ---- no spurious EINTR ----------------------------------------------------------- */

static int epipe[2];
static _Atomic int eintr_seen, reads_done;

/* A plain thread feeds the pipe slowly: the reader blocks in read()
 * without telling the runtime, so it holds its P past its slice and is
 * asked to yield again and again meanwhile. */
static void *slow_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		struct timespec ts = { 0, 2 * MS };
		nanosleep(&ts, NULL);
		if (write(epipe[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

static void raw_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		char c;
		ssize_t n = read(epipe[0], &c, 1);
		if (n < 0 && errno == EINTR)
			atomic_fetch_add(&eintr_seen, 1);
		/* Spin in our own code between reads: the preemption
		 * signal lands here, not only in the kernel. */
		for (volatile int j = 0; j < 200000; j++)
			;
	}
	/* And sleeps and reads the runtime knows about. */
	for (int i = 0; i < 50; i++) {
		ringo_syscall_enter();
		struct timespec ts = { 0, 300000 };
		int r = nanosleep(&ts, NULL);
		ringo_syscall_exit();
		if (r != 0 && errno == EINTR)
			atomic_fetch_add(&eintr_seen, 1);
		for (volatile int j = 0; j < 200000; j++)
			;
	}
	atomic_fetch_add(&reads_done, 1);
}

/* Spin in this executable's code for spin_ns, then nanosleep sleep_ns
 * inside ringo_syscall_enter/exit: nanosleep's result. */
static int spin_then_sleep_in_syscall(int64_t spin_ns, long sleep_ns)
{
	int64_t until = ringo_now() + spin_ns;
	while (ringo_now() < until)
		;
	ringo_syscall_enter();
	struct timespec ts = { 0, sleep_ns };
	int rc = nanosleep(&ts, NULL);
	ringo_syscall_exit();
	return rc;
}

/* Runs just past its slice, then enters a system call: sysmon decides to
 * signal it at about the moment it marks itself in the call. Before
 * ringo_syscall_enter waited for a signal on its way, about one sleep in
 * ten here failed with EINTR. */
static void slice_then_syscall(void *arg)
{
	(void)arg;
	unsigned r = 12345;
	for (int i = 0; i < 150; i++) {
		r = r * 1103515245 + 12345;
		if (spin_then_sleep_in_syscall(10 * MS + (r >> 8) % 200000, 50000) != 0 &&
		    errno == EINTR)
			atomic_fetch_add(&eintr_seen, 1);
	}
	atomic_fetch_add(&reads_done, 1);
}

static int eintr_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(pipe(epipe), 0);
	atomic_store(&eintr_seen, 0);
	atomic_store(&reads_done, 0);
	atomic_store(&stop_spin, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, slow_writer, NULL), 0);
	GO_OK(ringo_go(raw_reader, NULL));
	GO_OK(ringo_go(slice_then_syscall, NULL));
	/* Other goroutines want the P, so the reader is preempted. */
	int n = ringo_maxprocs(0);
	for (int i = 0; i < n; i++)
		GO_OK(ringo_go(spinner, NULL));
	while (atomic_load(&reads_done) < 2)
		ringo_sleep(MS);
	atomic_store(&stop_spin, 1);
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&eintr_seen), 0);
	close(epipe[0]);
	close(epipe[1]);
	return 0;
}

/* A goroutine that blocks SIGURG in its thread and runs past its slice:
 * sysmon's signal waits in the kernel, and ringo_syscall_enter must not
 * wait for it to be handled. */
static void sigurg_blocked(void *arg)
{
	(void)arg;
	ck_assert_int_eq(ringo_lock_thread(), 0);
	sigset_t urg, old;
	sigemptyset(&urg);
	sigaddset(&urg, SIGURG);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &urg, &old), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(spin_then_sleep_in_syscall(30 * MS, 100000), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	ringo_unlock_thread();
	atomic_fetch_add(&reads_done, 1);
}

static int blocked_main(void *arg)
{
	(void)arg;
	atomic_store(&reads_done, 0);
	GO_OK(ringo_go(sigurg_blocked, NULL));
	/* No spinner: sysmon signals a goroutine past its slice anyway, and
	 * without asynchronous preemption (TSan) one would hog the P. */
	while (atomic_load(&reads_done) < 1)
		ringo_sleep(MS);
	return 0;
}

START_TEST(test_syscall_sigurg_blocked)
{
	RUN(blocked_main, NULL);
}
END_TEST

START_TEST(test_no_eintr)
{
	if (!async_available())
		return;	/* no preemption signals to interrupt anything */
	RUN(eintr_main, NULL);
}
END_TEST

/* ---- the application's SIGURG handler still runs ----------------------------- */

static _Atomic int app_sigurg;

static void app_handler(int sig)
{
	(void)sig;
	atomic_fetch_add(&app_sigurg, 1);
}

static int chain_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(kill(getpid(), SIGURG), 0);
	/* Process-directed: delivered to some thread soon. */
	while (atomic_load(&app_sigurg) == 0)
		ringo_yield();
	/* And preemption still works. */
	return async_available() ? spin_main(NULL) : 0;
}

START_TEST(test_sigurg_chain)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = app_handler;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGURG, &sa, NULL), 0);
	RUN(chain_main, NULL);
	ck_assert_int_eq(atomic_load(&app_sigurg), 1);
}
END_TEST

static Suite *preempt_suite(void)
{
	Suite *s = suite_create("preempt");
	TCase *tc = tcase_create("preempt");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_spin_preempted);
	tcase_add_test(tc, test_exit_past_spinner);
	tcase_add_test(tc, test_exit_past_libc_loop);
	tcase_add_test(tc, test_locked_spinner);
	tcase_add_test(tc, test_asyncpreemptoff);
	tcase_add_test(tc, test_registers_exact);
	tcase_add_test(tc, test_libc_not_preempted);
	tcase_add_test(tc, test_no_eintr);
	tcase_add_test(tc, test_syscall_sigurg_blocked);
	tcase_add_test(tc, test_sigurg_chain);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(preempt_suite);
}
