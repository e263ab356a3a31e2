// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the snapshot table decoder, walked over a table as the
 * driver walks it at attach (load_snapshots in driver/dev.c): decode an
 * entry's first 40 bytes, step over the entry and its padding to 8 bytes,
 * stop at the first refusal.
 *
 * Input: be64 file size, u8 cluster_bits (folded into 9..21: the driver
 * only decodes snapshots of a validated header), then the table. Each
 * entry's 40 bytes are copied to a buffer of exactly 40 bytes, so
 * AddressSanitizer sees a read past them.
 *
 * Invariants: an accepted entry's L1 table is within QEMU's limit and
 * inside the file, cluster aligned, past the header cluster; its length
 * is the 40 bytes plus the extra data, ID and name it declares, the extra
 * data within its limit; a refusal names an errno and a reason.
 */
#include "fuzz.h"

/* More entries than this add nothing the first ones did not reach. */
#define MAX_ENTRIES 64

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_in in = { data, size };
	u64 file_size = fuzz_take(&in, 8);
	u32 cluster_bits = fuzz_cluster_bits(fuzz_take(&in, 1));
	size_t pos = 0;
	int i;

	for (i = 0; i < MAX_ENTRIES &&
	     pos + QCOW2_SNAPSHOT_HEADER_LEN <= in.len; i++) {
		const u8 *p = in.p + pos;
		struct qcow2_err err = { { 0 } };
		struct qcow2_snapshot s;
		u8 *e = malloc(QCOW2_SNAPSHOT_HEADER_LEN);
		u32 extra;
		int ret;

		FUZZ_ASSERT(e);
		memcpy(e, p, QCOW2_SNAPSHOT_HEADER_LEN);
		ret = qcow2_snapshot_decode(&s, e, cluster_bits, file_size, &err);
		free(e);
		if (ret) {
			fuzz_refused(ret, &err);
			break;
		}
		extra = qcow2_get_be32(p + 36);
		FUZZ_ASSERT(extra <= QCOW2_MAX_SNAPSHOT_EXTRA);
		FUZZ_ASSERT(s.entry_len == QCOW2_SNAPSHOT_HEADER_LEN + extra +
			    ((u32)p[12] << 8 | p[13]) + ((u32)p[14] << 8 | p[15]));
		FUZZ_ASSERT(s.l1_table_offset == qcow2_get_be64(p));
		FUZZ_ASSERT(s.l1_size == qcow2_get_be32(p + 8));
		FUZZ_ASSERT((u64)s.l1_size * 8 <= QCOW2_MAX_L1_BYTES);
		if (s.l1_size)
			fuzz_table_inside(s.l1_table_offset, (u64)s.l1_size * 8,
					  cluster_bits, file_size);
		pos += (s.entry_len + 7) & ~7U;
	}
	return 0;
}
