// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the checks of L1, refcount table and L2 entries, and
 * the decoding of L2 entries, the driver runs on every table it reads
 * (driver/dev.c at attach, qcow2_validate_l2 in driver/meta.c).
 *
 * Input: be64 file size, u8 cluster_bits (folded into 9..21, as from a
 * validated header), u8 flags (bit 0: version 3, else 2; bit 1: extended
 * L2), then a table. Every 8-byte word is tried as an L1 and as a refcount
 * table entry; the table is also read as L2 entries, 16 bytes each with
 * extended L2 (entry, then subcluster bitmap).
 *
 * Invariants: an accepted L1 or refcount table entry has its reserved bits
 * clear and names a whole cluster inside the file, past the header
 * cluster and below the host offset limit, or nothing. An accepted L2
 * entry has its reserved bits clear (the zero flag too, in version 2 and
 * with extended L2), a cluster aligned host offset inside the file, and a
 * bitmap whose subclusters are never both allocated and zero, nor
 * allocated without a host cluster, nor set at all for a compressed
 * cluster, whose bitmap the spec reserves. Every subcluster of an accepted
 * entry maps to exactly what the spec says it reads as.
 *
 * Each accepted L2 entry is also discarded and zeroed (qcow2_l2e_unmap(),
 * range, operation and backing file taken from the file size's low bits):
 * the new entry passes the checks, keeps or drops the host cluster as it
 * says, reads zeros where zeros were written, and is unchanged outside the
 * range.
 */
#include "fuzz.h"

static void check_l1e(u64 e, u32 cluster_bits, u64 file_size)
{
	struct qcow2_err err = { { 0 } };
	u64 off = e & QCOW2_L1E_OFFSET_MASK;
	int ret = qcow2_l1e_check(e, cluster_bits, file_size, &err);

	if (ret) {
		fuzz_refused(ret, &err);
		return;
	}
	FUZZ_ASSERT(!(e & QCOW2_L1E_RESERVED_MASK));
	if (off)
		fuzz_table_inside(off, 1ULL << cluster_bits, cluster_bits,
				  file_size);
}

static void check_reft(u64 e, u32 cluster_bits, u64 file_size)
{
	struct qcow2_err err = { { 0 } };
	u64 off = e & QCOW2_REFT_OFFSET_MASK;
	int ret = qcow2_reft_check(e, cluster_bits, file_size, &err);

	if (ret) {
		fuzz_refused(ret, &err);
		return;
	}
	FUZZ_ASSERT(!(e & QCOW2_REFT_RESERVED_MASK));
	if (off)
		fuzz_table_inside(off, 1ULL << cluster_bits, cluster_bits,
				  file_size);
}

static void check_unmap(u64 e, u64 bitmap, bool extl2, u32 version,
			u32 cluster_bits, u64 file_end)
{
	const u64 host = QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED;
	u32 units = extl2 ? QCOW2_SUBCLUSTERS : 1, sc, first, count;
	enum qcow2_unmap_op op = (file_end >> 1) % 3;
	struct qcow2_err err = { { 0 } };
	bool backing = file_end & 1;
	struct qcow2_unmap u;
	enum qcow2_map now;
	int ret;

	first = (file_end >> 3) % units;
	count = 1 + (file_end >> 8) % (units - first);
	ret = qcow2_l2e_unmap(e, bitmap, extl2, version, backing, first,
			      count, op, &u);
	if (ret) {
		/* Only zeros an entry cannot say. */
		FUZZ_ASSERT(ret == -EOPNOTSUPP && op != QCOW2_UNMAP_DISCARD);
		return;
	}
	FUZZ_ASSERT(!qcow2_l2e_check(u.entry, u.bitmap, extl2, version,
				     cluster_bits, file_end, &err));
	FUZZ_ASSERT((u.entry & host) == (u.drop ? 0 : e & host));
	for (sc = 0; sc < units; sc++) {
		now = qcow2_l2e_map(u.entry, u.bitmap, extl2, sc);
		if (sc < first || sc >= first + count ||
		    (op == QCOW2_UNMAP_DISCARD && count < units))
			FUZZ_ASSERT(now == qcow2_l2e_map(e, bitmap, extl2, sc));
		else if (op != QCOW2_UNMAP_DISCARD)
			FUZZ_ASSERT(now == QCOW2_MAP_ZERO ||
				    (now == QCOW2_MAP_UNALLOCATED && !backing));
		else
			FUZZ_ASSERT(now == QCOW2_MAP_ZERO ||
				    now == QCOW2_MAP_UNALLOCATED);
	}
}

static void check_l2e(u64 e, u64 bitmap, bool extl2, u32 version,
		      u32 cluster_bits, u64 file_end)
{
	struct qcow2_err err = { { 0 } };
	u64 off = e & QCOW2_L2E_OFFSET_MASK;
	u32 sc, n = extl2 ? QCOW2_SUBCLUSTERS : 1;
	int ret;

	ret = qcow2_l2e_check(e, bitmap, extl2, version, cluster_bits,
			      file_end, &err);
	if (ret) {
		fuzz_refused(ret, &err);
		return;
	}
	check_unmap(e, bitmap, extl2, version, cluster_bits, file_end);
	if (e & QCOW2_OFLAG_COMPRESSED) {
		/* Compressed clusters have no subclusters: the bitmap is reserved. */
		FUZZ_ASSERT(!extl2 || !bitmap);
		for (sc = 0; sc < n; sc++)
			FUZZ_ASSERT(qcow2_l2e_map(e, bitmap, extl2, sc) ==
				    QCOW2_MAP_COMPRESSED);
		return;
	}
	FUZZ_ASSERT(!(e & QCOW2_L2E_RESERVED_MASK));
	if (version < 3 || extl2)
		FUZZ_ASSERT(!(e & QCOW2_OFLAG_ZERO));
	FUZZ_ASSERT(!(off & ((1ULL << cluster_bits) - 1)));
	FUZZ_ASSERT(!off || off < file_end);
	if (extl2) {
		FUZZ_ASSERT(!(bitmap & (bitmap >> 32) & QCOW2_L2B_ALLOC_ALL));
		FUZZ_ASSERT(off || !(bitmap & QCOW2_L2B_ALLOC_ALL));
	}

	for (sc = 0; sc < n; sc++) {
		enum qcow2_map k = qcow2_l2e_map(e, bitmap, extl2, sc);

		/* Data is read from a host cluster, so there must be one. */
		if (k == QCOW2_MAP_DATA)
			FUZZ_ASSERT(off);
		if (extl2) {
			FUZZ_ASSERT(k == (bitmap & (1ULL << sc) ? QCOW2_MAP_DATA :
					  bitmap & (1ULL << (32 + sc)) ? QCOW2_MAP_ZERO :
					  QCOW2_MAP_UNALLOCATED));
		} else {
			FUZZ_ASSERT(k == (e & QCOW2_OFLAG_ZERO ? QCOW2_MAP_ZERO :
					  off ? QCOW2_MAP_DATA :
					  QCOW2_MAP_UNALLOCATED));
		}
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_in in = { data, size };
	u64 file_size = fuzz_take(&in, 8);
	u32 cluster_bits = fuzz_cluster_bits(fuzz_take(&in, 1));
	u32 flags = fuzz_take(&in, 1);
	u32 version = flags & 1 ? 3 : 2;
	/* Extended L2 exists only in version 3 with clusters of 16 KiB up. */
	bool extl2 = (flags & 2) && version == 3 &&
		     cluster_bits >= QCOW2_EXTL2_MIN_CLUSTER_BITS;
	u32 esz = qcow2_l2_entry_bytes(extl2);
	size_t i;

	for (i = 0; i + 8 <= in.len; i += 8) {
		u64 e = qcow2_get_be64(in.p + i);

		check_l1e(e, cluster_bits, file_size);
		check_reft(e, cluster_bits, file_size);
	}
	for (i = 0; i + esz <= in.len; i += esz)
		check_l2e(qcow2_get_be64(in.p + i),
			  extl2 ? qcow2_get_be64(in.p + i + 8) : 0, extl2,
			  version, cluster_bits, file_size);
	return 0;
}
