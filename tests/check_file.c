/* SPDX-License-Identifier: MIT */
/* check_file.c - files and pipes through the netpoller: ringo_open,
 * ringo_pread/pwrite/fsync on a temporary file, reads and writes at the
 * file position, many goroutines reading one file at once, pipes (blocking
 * and not), bad arguments. On io_uring and on epoll (where files run
 * through the syscall hand-off), maxprocs 1 and 2. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

static char tmpl[64];

static int temp_file(void)
{
	snprintf(tmpl, sizeof tmpl, "/tmp/ringo-check-file-%d-XXXXXX", (int)getpid());
	int fd = mkstemp(tmpl);
	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = ringo_open(tmpl, O_RDWR | O_TRUNC, 0600);
	ck_assert_msg(fd >= 0, "ringo_open: %s", strerror(-fd));
	return fd;
}

static inline unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + (i >> 9));
}

/* ---- pread / pwrite / fsync ------------------------------------------------ */

#define FSIZE (1u << 20)
#define FOFF 4096

static int rw_file(void *arg)
{
	(void)arg;
	int fd = temp_file();
	unsigned char *out = malloc(FSIZE), *in = malloc(FSIZE);
	for (size_t i = 0; i < FSIZE; i++)
		out[i] = pat(i);
	ck_assert_int_eq(ringo_pwrite(fd, out, FSIZE, FOFF), (ssize_t)FSIZE);
	ck_assert_int_eq(ringo_fsync(fd), 0);
	memset(in, 0, FSIZE);
	size_t got = 0;
	while (got < FSIZE) {
		ssize_t n = ringo_pread(fd, in + got, FSIZE - got, FOFF + (off_t)got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert(!memcmp(in, out, FSIZE));
	/* The hole before FOFF reads as zeros; past the end is end of file. */
	unsigned char hole[FOFF];
	ck_assert_int_eq(ringo_pread(fd, hole, sizeof hole, 0), (ssize_t)sizeof hole);
	for (size_t i = 0; i < sizeof hole; i++)
		ck_assert_int_eq(hole[i], 0);
	ck_assert_int_eq(ringo_pread(fd, in, 16, FOFF + FSIZE), 0);
	/* read/write use and move the file position. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_int_eq(ringo_write(fd, "head", 4), 4);
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 4);
	ck_assert_int_eq(lseek(fd, FOFF, SEEK_SET), FOFF);
	ck_assert_int_eq(ringo_read(fd, in, 8), 8);
	ck_assert(!memcmp(in, out, 8));
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), FOFF + 8);
	ck_assert_int_eq(ringo_pread(fd, in, 4, 0), 4);
	ck_assert(!memcmp(in, "head", 4));
	ck_assert_int_eq(ringo_close(fd), 0);
	unlink(tmpl);
	free(out);
	free(in);
	return 0;
}

START_TEST(test_rw_file)
{
	RUN(rw_file, NULL);
}
END_TEST

/* ---- many goroutines read one file --------------------------------------- */

#define READERS 64
#define CHUNK 8192
static int shared_fd;
static _Atomic int readers_ok;
static ringo_waitgroup readers_done;

static void chunk_reader(void *arg)
{
	size_t k = (size_t)(intptr_t)arg;
	unsigned char buf[CHUNK];
	ssize_t n = ringo_pread(shared_fd, buf, CHUNK, (off_t)(k * CHUNK));
	bool ok = n == CHUNK;
	for (size_t i = 0; ok && i < CHUNK; i++)
		ok = buf[i] == pat(k * CHUNK + i);
	if (ok)
		atomic_fetch_add(&readers_ok, 1);
	ringo_waitgroup_done(&readers_done);
}

static int many_readers(void *arg)
{
	(void)arg;
	shared_fd = temp_file();
	unsigned char *out = malloc(READERS * CHUNK);
	for (size_t i = 0; i < READERS * CHUNK; i++)
		out[i] = pat(i);
	ck_assert_int_eq(ringo_pwrite(shared_fd, out, READERS * CHUNK, 0), READERS * CHUNK);
	atomic_store(&readers_ok, 0);
	ringo_waitgroup_add(&readers_done, READERS);
	for (int k = 0; k < READERS; k++)
		GO_OK(ringo_go(chunk_reader, (void *)(intptr_t)k));
	ringo_waitgroup_wait(&readers_done);
	ck_assert_int_eq(atomic_load(&readers_ok), READERS);
	ck_assert_int_eq(ringo_close(shared_fd), 0);
	unlink(tmpl);
	free(out);
	return 0;
}

START_TEST(test_many_readers)
{
	RUN(many_readers, NULL);
}
END_TEST

/* ---- pipes --------------------------------------------------------------- */

static void pipe_writer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[1000];
	for (int i = 0; i < 100; i++) {
		memset(buf, 'a' + i % 26, sizeof buf);
		if (ringo_write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			break;
	}
	ringo_close(fd);
}

static void pipe_roundtrip(int flags)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | flags), 0);
	GO_OK(ringo_go(pipe_writer, (void *)(intptr_t)p[1]));
	char buf[777];
	size_t total = 0;
	ssize_t n;
	while ((n = ringo_read(p[0], buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			ck_assert_int_eq(buf[i], 'a' + (int)((total + (size_t)i) / 1000) % 26);
		total += (size_t)n;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(total, 100000);
	ck_assert_int_eq(ringo_close(p[0]), 0);
}

static int pipes(void *arg)
{
	(void)arg;
	pipe_roundtrip(O_NONBLOCK);
	pipe_roundtrip(0);	/* blocking pipe: the syscall hand-off under epoll */
	return 0;
}

START_TEST(test_pipes)
{
	RUN(pipes, NULL);
}
END_TEST

/* ---- arguments ------------------------------------------------------------ */

static int file_args(void *arg)
{
	(void)arg;
	char path[80];
	snprintf(path, sizeof path, "/tmp/ringo-check-file-%d-missing/none", (int)getpid());
	ck_assert_int_eq(ringo_open(path, O_RDONLY, 0), -ENOENT);
	ck_assert_int_eq(ringo_open(NULL, O_RDONLY, 0), -EINVAL);
	int fd = temp_file();
	char c;
	ck_assert_int_eq(ringo_pread(fd, NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ringo_pread(fd, &c, 1, -1), -EINVAL);
	ck_assert_int_eq(ringo_pwrite(fd, NULL, 1, 0), -EINVAL);
	ck_assert_int_eq(ringo_pread(fd, &c, 1, 0), 0);
	ck_assert_int_eq(ringo_close(fd), 0);
	ck_assert_int_eq(ringo_pread(fd, &c, 1, 0), -EBADF);
	ck_assert_int_eq(ringo_fsync(fd), -EBADF);
	unlink(tmpl);
	return 0;
}

START_TEST(test_file_args)
{
	char c;
	ck_assert_int_eq(ringo_open("/dev/null", O_RDONLY, 0), -EPERM);
	ck_assert_int_eq(ringo_pread(0, &c, 1, 0), -EPERM);
	ck_assert_int_eq(ringo_fsync(0), -EPERM);
	RUN(file_args, NULL);
}
END_TEST

static Suite *file_suite(void)
{
	Suite *s = suite_create("file");
	TCase *tc = tcase_create("file");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rw_file);
	tcase_add_test(tc, test_many_readers);
	tcase_add_test(tc, test_pipes);
	tcase_add_test(tc, test_file_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *only = getenv("RINGO_TEST_NETPOLL");
	const char *backends[] = { "uring", "epoll" };
	int failed = 0;
	for (int i = 0; i < 2; i++) {
		if (only && *only && strcmp(only, backends[i]))
			continue;
		setenv("RINGO_NETPOLL", backends[i], 1);
		printf("== netpoll %s ==\n", backends[i]);
		fflush(stdout);
		failed |= ringo_test_main(file_suite);
	}
	return failed;
}
