// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: reading and writing refcounts in a refcount block, for
 * every refcount width (qcow2_refcount_get/set, used by the allocator and
 * the refcount updates of the driver).
 *
 * Input: u8 refcount_order (folded into 0..6, as from a validated header),
 * be64 a seed for the values written, then the block, at most 4 KiB, in a
 * buffer of exactly its length, so AddressSanitizer sees any access past
 * it.
 *
 * Invariants: every refcount reads as the spec lays it out (widths below
 * 8 bits packed from bit 0 of each byte, wider ones big-endian), computed
 * here bit by bit; writing a value and reading it back gives the value
 * masked to the width; a write changes no other refcount (each read back
 * right after the next write, and all of them once every one is written).
 */
#include "fuzz.h"

#define MAX_BLOCK 4096

/* Refcount @index, read bit by bit or byte by byte as the spec lays it out. */
static u64 spec_get(const u8 *b, u32 order, u64 index)
{
	u32 width = 1U << order, i;
	u64 v = 0;

	if (width < 8) {
		for (i = 0; i < width; i++) {
			u64 bit = index * width + i;

			v |= (u64)((b[bit / 8] >> (bit % 8)) & 1) << i;
		}
		return v;
	}
	for (i = 0; i < width / 8; i++)
		v = v << 8 | b[index * (width / 8) + i];
	return v;
}

/* A value of up to 64 bits for entry @i, wider than the width at times. */
static u64 value_for(u64 seed, u64 i)
{
	u64 v = (seed ^ i) * 0x9e3779b97f4a7c15ULL;

	return v ^ (v >> 29);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_in in = { data, size };
	u32 order = fuzz_take(&in, 1) % (QCOW2_MAX_REFCOUNT_ORDER + 1);
	u64 seed = fuzz_take(&in, 8);
	u64 mask = order == 6 ? ~0ULL : (1ULL << (1U << order)) - 1;
	size_t len = in.len < MAX_BLOCK ? in.len : MAX_BLOCK;
	u64 n = (u64)len * 8 >> order, i;
	u8 *block;

	block = malloc(len ? len : 1);
	FUZZ_ASSERT(block);
	memcpy(block, in.p, len);

	for (i = 0; i < n; i++) {
		u64 v = qcow2_refcount_get(block, order, i);

		FUZZ_ASSERT(v == spec_get(in.p, order, i));
		FUZZ_ASSERT(v <= mask);
	}
	for (i = 0; i < n; i++) {
		u64 v = value_for(seed, i);

		qcow2_refcount_set(block, order, i, v);
		FUZZ_ASSERT(qcow2_refcount_get(block, order, i) == (v & mask));
		FUZZ_ASSERT(spec_get(block, order, i) == (v & mask));
		if (i)
			FUZZ_ASSERT(qcow2_refcount_get(block, order, i - 1) ==
				    (value_for(seed, i - 1) & mask));
		if (i + 1 < n)
			FUZZ_ASSERT(qcow2_refcount_get(block, order, i + 1) ==
				    spec_get(in.p, order, i + 1));
	}
	for (i = 0; i < n; i++)
		FUZZ_ASSERT(qcow2_refcount_get(block, order, i) ==
			    (value_for(seed, i) & mask));
	free(block);
	return 0;
}
