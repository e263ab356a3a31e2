/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the libFuzzer targets of the format code share: reading fixed-width
 * fields off the front of the input, and the invariant checks that make
 * libFuzzer report a violation as a crash, with its reproducer.
 *
 * Each target's input starts with the few parameters the function under
 * test takes from elsewhere in the image (the file size, cluster_bits,
 * version, ...), big-endian, then the bytes it parses. selftests/fuzz/seeds.c
 * writes seeds in the same layout from images qemu-img made.
 */
#ifndef QCOW2_FUZZ_H
#define QCOW2_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#include "qcow2_format.h"

/*
 * A violated invariant aborts: libFuzzer catches the signal, prints the
 * stack and writes the input as build/fuzz/artifacts-TARGET/crash-*.
 */
#define FUZZ_ASSERT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "invariant violated at %s:%d: %s\n",	\
			__FILE__, __LINE__, #cond);			\
		abort();						\
	}								\
} while (0)

struct fuzz_in {
	const u8 *p;
	size_t len;
};

/*
 * The next @bytes bytes as a big-endian number; what the input lacks
 * reads as zeros, so every input is valid and short ones still fuzz.
 */
static inline u64 fuzz_take(struct fuzz_in *in, unsigned int bytes)
{
	u64 v = 0;

	while (bytes--) {
		v <<= 8;
		if (in->len) {
			v |= *in->p++;
			in->len--;
		}
	}
	return v;
}

/*
 * cluster_bits as the functions that get a validated header see it: the
 * value itself when it is valid, else folded into 9..21.
 */
static inline u32 fuzz_cluster_bits(u64 v)
{
	if (v >= QCOW2_MIN_CLUSTER_BITS && v <= QCOW2_MAX_CLUSTER_BITS)
		return v;
	return QCOW2_MIN_CLUSTER_BITS +
	       v % (QCOW2_MAX_CLUSTER_BITS - QCOW2_MIN_CLUSTER_BITS + 1);
}

/* A refusal must give one of the errnos the callers expect, and a reason. */
static inline void fuzz_refused(int ret, const struct qcow2_err *err)
{
	FUZZ_ASSERT(ret == -EINVAL || ret == -EOPNOTSUPP || ret == -EFBIG);
	FUZZ_ASSERT(err->msg[0] != 0);
	FUZZ_ASSERT(memchr(err->msg, 0, sizeof(err->msg)) != NULL);
}

/*
 * A table of @len bytes at @off, as check_table() promises it: cluster
 * aligned, past the header cluster, below the host offset limit and inside
 * the file, computed without the wrap-around it guards against.
 */
static inline void fuzz_table_inside(u64 off, u64 len, u32 cluster_bits,
				     u64 file_size)
{
	unsigned __int128 end = (unsigned __int128)off + len;

	FUZZ_ASSERT(!(off & ((1ULL << cluster_bits) - 1)));
	FUZZ_ASSERT(off >= 1ULL << cluster_bits);
	FUZZ_ASSERT(end <= QCOW2_MAX_HOST_OFFSET);
	FUZZ_ASSERT(end <= file_size);
}

#endif /* QCOW2_FUZZ_H */
