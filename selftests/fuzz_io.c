// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_io DEVICE rw|ro: the I/O the image fuzzer does on each attached
 * device, in one process (under the debug kernel every program start costs
 * a good part of a second): read it whole with direct I/O (up to 16 MiB;
 * of a larger one the first and last 4 MiB), then, read-write, write 4 KiB
 * at the start, the middle and the end and flush. Exit 0 if every step
 * succeeded, 1 if any failed (the steps that failed are printed), 2 on a
 * usage error, 3 if a step did not finish within two minutes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CHUNK	(1 << 20)

static int failed;

static void on_alarm(int sig)
{
	static const char msg[] = "hang: a step took more than 120 s\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void step(const char *what, uint64_t off, int ok)
{
	if (!ok) {
		printf("%s at %llu: %s\n", what, (unsigned long long)off, strerror(errno));
		failed = 1;
	}
}

static void read_range(int fd, char *buf, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < CHUNK ? len : CHUNK;

		alarm(120);
		step("read", off, pread(fd, buf, n, off) == (ssize_t)n);
		off += n;
		len -= n;
	}
}

int main(int argc, char **argv)
{
	uint64_t size, at[3];
	char *buf;
	int fd, rw, i;

	if (argc != 3 || (strcmp(argv[2], "rw") && strcmp(argv[2], "ro"))) {
		fprintf(stderr, "usage: fuzz_io DEVICE rw|ro\n");
		return 2;
	}
	rw = !strcmp(argv[2], "rw");
	signal(SIGALRM, on_alarm);
	fd = open(argv[1], (rw ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size)) {
		printf("open: %s\n", strerror(errno));
		return 1;
	}
	if (posix_memalign((void **)&buf, 4096, CHUNK))
		return 2;
	size &= ~4095ULL;
	if (size <= 16 * CHUNK) {
		read_range(fd, buf, 0, size);
	} else {
		read_range(fd, buf, 0, 4 * CHUNK);
		read_range(fd, buf, size - 4 * CHUNK, 4 * CHUNK);
	}
	if (rw && size >= 4096) {
		at[0] = 0;
		at[1] = size / 2 & ~4095ULL;
		at[2] = size - 4096;
		for (i = 0; i < 3; i++) {
			memset(buf, 0x5a + i, 4096);
			alarm(120);
			step("write", at[i], pwrite(fd, buf, 4096, at[i]) == 4096);
		}
		alarm(120);
		step("flush", 0, !fsync(fd));
	}
	return failed;
}
