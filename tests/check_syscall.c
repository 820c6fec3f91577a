/* SPDX-License-Identifier: MIT */
/* check_syscall.c - system calls hand their P off (ringo_syscall_enter,
 * ringo_syscall_exit, ringo_blocking), and goroutines wired to a thread
 * (ringo_lock_thread) keep it across yields, sleeps, blocking calls and
 * channel waits. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- a blocked read does not stop the P ---------------------------------- */

#define YIELDS 1000
static int pipefd[2];
static _Atomic int yields_done;		/* the yielder's progress */
static _Atomic int yields_at_wake;	/* its progress when the read returned */
static _Atomic int reader_done, yielder_done;
static char got;
static uint64_t reader_id_after;

static void reader(void *arg)
{
	(void)arg;
	uint64_t id = ringo_id();
	char buf = 0;
	ringo_syscall_enter();
	ssize_t n = read(pipefd[0], &buf, 1);
	ringo_syscall_exit();
	ck_assert_int_eq(n, 1);
	got = buf;
	atomic_store(&yields_at_wake, atomic_load(&yields_done));
	reader_id_after = ringo_id() == id ? id : 0;
	atomic_store(&reader_done, 1);
}

static void yielder(void *arg)
{
	(void)arg;
	/* At maxprocs 1 this can only run while the reader is blocked if the
	 * reader's P was handed to another thread. */
	for (int i = 0; i < YIELDS; i++) {
		ringo_yield();
		atomic_fetch_add(&yields_done, 1);
	}
	/* Only now let the reader go. */
	ck_assert_int_eq(atomic_load(&reader_done), 0);
	ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
	atomic_store(&yielder_done, 1);
}

static int handoff_main(void *arg)
{
	(void)arg;
	ck_assert_int_eq(pipe(pipefd), 0);
	atomic_store(&yields_done, 0);
	atomic_store(&reader_done, 0);
	atomic_store(&yielder_done, 0);
	GO_OK(ringo_go(reader, NULL));
	ringo_yield();			/* let the reader block first */
	GO_OK(ringo_go(yielder, NULL));
	while (!atomic_load(&reader_done) || !atomic_load(&yielder_done))
		ringo_yield();
	ck_assert_int_eq(got, 'x');
	ck_assert_int_eq(atomic_load(&yields_at_wake), YIELDS);
	ck_assert_uint_ne(reader_id_after, 0);
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

START_TEST(test_syscall_handoff)
{
	RUN(handoff_main, NULL);
}
END_TEST

/* ---- many blocked goroutines, each resumes correctly ---------------------- */

#define BLOCKERS 16
static int bpipes[BLOCKERS][2];
static _Atomic int blockers_ok, blockers_in;

static intptr_t blocking_read(void *arg)
{
	int i = (int)(intptr_t)arg;
	int v = -1;
	atomic_fetch_add(&blockers_in, 1);
	if (read(bpipes[i][0], &v, sizeof v) != sizeof v)
		return -1;
	return v;
}

static void blocker(void *arg)
{
	int i = (int)(intptr_t)arg;
	volatile int canary = i * 7919;	/* on this goroutine's stack */
	intptr_t r = ringo_blocking(blocking_read, arg);
	if (r == i * 3 && canary == i * 7919)
		atomic_fetch_add(&blockers_ok, 1);
}

static int many_blocked(void *arg)
{
	(void)arg;
	atomic_store(&blockers_ok, 0);
	atomic_store(&blockers_in, 0);
	for (int i = 0; i < BLOCKERS; i++) {
		ck_assert_int_eq(pipe(bpipes[i]), 0);
		GO_OK(ringo_go(blocker, (void *)(intptr_t)i));
	}
	/* Each blocker is in its read before we write (this goroutine keeps
	 * running meanwhile: the Ps are handed off). */
	while (atomic_load(&blockers_in) < BLOCKERS)
		ringo_yield();
	for (int i = 0; i < BLOCKERS; i++) {
		int v = i * 3;
		ck_assert_int_eq(write(bpipes[i][1], &v, sizeof v), (ssize_t)sizeof v);
	}
	while (atomic_load(&blockers_ok) < BLOCKERS)
		ringo_yield();
	for (int i = 0; i < BLOCKERS; i++) {
		close(bpipes[i][0]);
		close(bpipes[i][1]);
	}
	ck_assert_int_eq(ringo_blocking(NULL, NULL), -EINVAL);
	return 0;
}

START_TEST(test_many_blocked)
{
	RUN(many_blocked, NULL);
}
END_TEST

/* ---- the runtime exits after Ps changed hands under their idle Ms --------- */

/* Each blocker's return takes an idle P, often from under an M that is
 * about to sleep on it. If that M slept on anyway, nothing would ever ring
 * it (the P's new owner consumes the wake-up), and ringo_run would wait
 * for it at exit for good: this test would time out. The window is the
 * M's own, so threads outside the runtime keep the CPUs busy to widen it
 * (the kernel switches the M out there). */
#define EXIT_RUNS 100
#define HOGS 2
static _Atomic int hogs_stop;

static void *cpu_hog(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&hogs_stop, memory_order_relaxed))
		;
	return NULL;
}

START_TEST(test_exit_after_handoffs)
{
	pthread_t hog[HOGS];
	atomic_store(&hogs_stop, 0);
	for (int i = 0; i < HOGS; i++)
		ck_assert_int_eq(pthread_create(&hog[i], NULL, cpu_hog, NULL), 0);
	for (int run = 0; run < EXIT_RUNS; run++)
		ck_assert_int_eq(ringo_run(many_blocked, NULL), 0);
	atomic_store(&hogs_stop, 1);
	for (int i = 0; i < HOGS; i++)
		pthread_join(hog[i], NULL);
}
END_TEST

/* ---- errno survives the exit path ------------------------------------------ */

static int errno_main(void *arg)
{
	(void)arg;
	int fds[2];
	ck_assert_int_eq(pipe2(fds, O_NONBLOCK), 0);
	for (int i = 0; i < 1000; i++) {
		char c;
		ringo_syscall_enter();
		ssize_t n = read(fds[0], &c, 1);
		ringo_syscall_exit();
		ck_assert_int_eq(n, -1);
		ck_assert_int_eq(errno, EAGAIN);
		if (i % 10 == 0)
			ringo_yield();
	}
	close(fds[0]);
	close(fds[1]);
	/* Outside a goroutine they do nothing. */
	return 0;
}

START_TEST(test_syscall_errno)
{
	RUN(errno_main, NULL);
	ringo_syscall_enter();
	ringo_syscall_exit();
}
END_TEST

/* ---- a long syscall in a program with nothing else is not a deadlock ------ */

static intptr_t nap(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 20 * MS };
	while (nanosleep(&ts, &ts) != 0)
		;
	return 5;
}

static intptr_t nap_short(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 200000 };
	while (nanosleep(&ts, &ts) != 0)
		;
	return 5;
}

static int nap_main(void *arg)
{
	(void)arg;
	return (int)ringo_blocking(nap, NULL);
}

START_TEST(test_syscall_not_deadlock)
{
	ck_assert_int_eq(ringo_run(nap_main, NULL), 5);
}
END_TEST

/* ---- locked threads ----------------------------------------------------------- */

static _Atomic int locked_ok;

static void locked_worker(void *arg)
{
	(void)arg;
	GO_OK(ringo_lock_thread());
	pid_t tid = gettid_();
	int moved = 0;
	for (int i = 0; i < 200; i++) {
		if (i % 3 == 0)
			ringo_yield();
		else if (i % 3 == 1)
			ringo_sleep(10000);
		else
			moved += ringo_blocking(nap_short, NULL) != 5;
		if (gettid_() != tid)
			moved++;
		if (i == 100) {
			/* Nested lock/unlock keeps it wired. */
			GO_OK(ringo_lock_thread());
			ringo_unlock_thread();
		}
	}
	ringo_unlock_thread();
	if (!moved)
		atomic_fetch_add(&locked_ok, 1);
}

/* A locked goroutine blocked on channels: the partner answers each ping.
 * The partner gets its own references (it outlives the worker's frame). */
struct pingpong {
	ringo_chan *ping, *pong;
};

static void pong(void *arg)
{
	struct pingpong *pp = arg;
	int v;
	while (ringo_chan_recv(pp->ping, &v) == 1)
		ringo_chan_send(pp->pong, &v);
	ringo_chan_unref(pp->ping);
	ringo_chan_unref(pp->pong);
	free(pp);
}

static void locked_chan_worker(void *arg)
{
	(void)arg;
	ringo_chan *ping = ringo_chan_make(sizeof(int), 0);
	ringo_chan *pongc = ringo_chan_make(sizeof(int), 0);
	struct pingpong *pp = malloc(sizeof *pp);
	pp->ping = ringo_chan_ref(ping);
	pp->pong = ringo_chan_ref(pongc);
	GO_OK(ringo_lock_thread());
	pid_t tid = gettid_();
	GO_OK(ringo_go(pong, pp));
	int moved = 0, bad = 0;
	for (int i = 0; i < 500; i++) {
		int v = i, w = -1;
		ringo_chan_send(ping, &v);
		ringo_chan_recv(pongc, &w);
		bad += w != i;
		moved += gettid_() != tid;
	}
	ringo_unlock_thread();
	ringo_chan_close(ping);
	if (!moved && !bad)
		atomic_fetch_add(&locked_ok, 1);
	ringo_chan_unref(ping);
	ringo_chan_unref(pongc);
}

static _Atomic int spin_stop;

static void other_work(void *arg)
{
	(void)arg;
	while (!atomic_load(&spin_stop))
		ringo_yield();
}

static int locked_main(void *arg)
{
	(void)arg;
	atomic_store(&locked_ok, 0);
	atomic_store(&spin_stop, 0);
	/* A goroutine that keeps the run queues busy meanwhile. */
	GO_OK(ringo_go(other_work, NULL));
	for (int i = 0; i < 3; i++)
		GO_OK(ringo_go(locked_worker, NULL));
	GO_OK(ringo_go(locked_chan_worker, NULL));
	while (atomic_load(&locked_ok) < 4)
		ringo_sleep(MS);
	atomic_store(&spin_stop, 1);
	ck_assert_int_eq(ringo_lock_thread(), 0);
	ringo_unlock_thread();
	ringo_unlock_thread();	/* not locked: no-op */
	return 0;
}

START_TEST(test_lock_thread)
{
	RUN(locked_main, NULL);
	ck_assert_int_eq(ringo_lock_thread(), -EPERM);
	ringo_unlock_thread();
}
END_TEST

static Suite *syscall_suite(void)
{
	Suite *s = suite_create("syscall");
	TCase *tc = tcase_create("syscall");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_syscall_handoff);
	tcase_add_test(tc, test_many_blocked);
	tcase_add_test(tc, test_exit_after_handoffs);
	tcase_add_test(tc, test_syscall_errno);
	tcase_add_test(tc, test_syscall_not_deadlock);
	tcase_add_test(tc, test_lock_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ringo_test_main(syscall_suite);
}
