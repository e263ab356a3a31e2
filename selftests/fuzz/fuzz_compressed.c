// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the compressed cluster descriptor decoder,
 * qcow2_l2e_compressed, over L2 entries.
 *
 * Input: be64 file size, u8 cluster_bits (folded into 9..21, as from a
 * validated header), then 8-byte L2 entries.
 *
 * Invariants: an accepted descriptor is a compressed entry without COPIED
 * whose data starts past the header cluster and inside the file, below the
 * host offset limit, whose last sector starts inside the file, whose
 * sectors and bytes are what the spec's fields say (at most two clusters'
 * worth), and which encodes back to the same entry; the rest of the format
 * code agrees that it is compressed. A refusal names an errno and a reason.
 */
#include "fuzz.h"

static void check_entry(u64 e, u32 cluster_bits, u64 file_size)
{
	u32 x = 62 - (cluster_bits - 8);
	struct qcow2_err err = { { 0 } };
	struct qcow2_compressed c;
	u64 sectors;
	int ret;

	ret = qcow2_l2e_compressed(e, cluster_bits, file_size, &c, &err);
	if (ret) {
		fuzz_refused(ret, &err);
		return;
	}
	FUZZ_ASSERT(qcow2_compressed_offset_bits(cluster_bits) == x);
	FUZZ_ASSERT(e & QCOW2_OFLAG_COMPRESSED);
	FUZZ_ASSERT(!(e & QCOW2_OFLAG_COPIED));
	FUZZ_ASSERT(c.offset == (e & ((1ULL << x) - 1)));
	FUZZ_ASSERT(c.offset >= 1ULL << cluster_bits);
	FUZZ_ASSERT(c.offset < QCOW2_MAX_HOST_OFFSET);
	FUZZ_ASSERT(c.offset < file_size);
	sectors = ((e & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED)) >> x) + 1;
	FUZZ_ASSERT(c.sectors == sectors);
	FUZZ_ASSERT(c.sectors <= 1U << (cluster_bits - 8));
	FUZZ_ASSERT(c.bytes == c.sectors * 512 - (c.offset & 511));
	FUZZ_ASSERT(c.bytes >= 1 && c.bytes <= 2U << cluster_bits);
	/* The last sector starts inside the file (the file may end in it). */
	FUZZ_ASSERT((c.offset & ~511ULL) + (u64)(c.sectors - 1) * 512 < file_size);
	FUZZ_ASSERT((QCOW2_OFLAG_COMPRESSED | (u64)(c.sectors - 1) << x |
		     c.offset) == e);
	FUZZ_ASSERT(qcow2_l2e_map(e, 0, false, 0) == QCOW2_MAP_COMPRESSED);
	FUZZ_ASSERT(qcow2_l2e_check(e, 0, false, 3, cluster_bits, file_size,
				    &err) == 0);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_in in = { data, size };
	u64 file_size = fuzz_take(&in, 8);
	u32 cluster_bits = fuzz_cluster_bits(fuzz_take(&in, 1));
	size_t i;

	for (i = 0; i + 8 <= in.len; i += 8)
		check_entry(qcow2_get_be64(in.p + i), cluster_bits, file_size);
	return 0;
}
