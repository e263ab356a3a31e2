// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the header parser and validator the driver runs first
 * on every image it attaches (qcow2_load in driver/dev.c).
 *
 * Input: be64 file size, then the image's first bytes. Like the driver,
 * the parser gets min(file size, 4096) of them; they are copied to a
 * buffer of exactly that length, so AddressSanitizer sees any read past
 * what the driver would have read.
 *
 * Invariants: a decoded header is version 2 (with the implicit values of
 * version 3's fields) or 3, and encoding it gives back the bytes of every
 * field it keeps, into a buffer long enough and into no other; a header qcow2_header_check accepts has every offset and
 * size within the bounds the spec and QEMU's limits set, its tables inside
 * the file and apart; a refusal names an errno and a reason.
 */
#include "fuzz.h"

/* What the driver reads of the header cluster. */
#define HEADER_READ 4096
/* The round trip is checked for headers up to this long. */
#define ENCODE_MAX 65536

static u8 encoded[ENCODE_MAX];

static void check_roundtrip(const struct qcow2_header *h, const u8 *buf,
			    size_t len)
{
	struct qcow2_header d;
	struct qcow2_err err = { { 0 } };
	size_t n, kept;

	if (h->version == 3 && h->header_length > ENCODE_MAX)
		return;
	n = qcow2_header_encode(h, encoded, sizeof(encoded));
	FUZZ_ASSERT(n);
	FUZZ_ASSERT(n == (h->version == 2 ? QCOW2_V2_HEADER_LEN :
			  h->header_length > QCOW2_V3_MIN_HEADER_LEN ?
			  h->header_length : QCOW2_V3_MIN_HEADER_LEN));
	/* A buffer one byte short gets nothing. */
	FUZZ_ASSERT(qcow2_header_encode(h, encoded, n - 1) == 0);
	/* Only the compression type byte is kept of what follows byte 104. */
	kept = h->version == 2 ? QCOW2_V2_HEADER_LEN :
	       h->header_length > QCOW2_V3_MIN_HEADER_LEN ?
	       QCOW2_V3_MIN_HEADER_LEN + 1 : QCOW2_V3_MIN_HEADER_LEN;
	FUZZ_ASSERT(kept <= len);
	FUZZ_ASSERT(!memcmp(encoded, buf, kept));
	FUZZ_ASSERT(qcow2_header_decode(&d, encoded, n, &err) == 0);
	FUZZ_ASSERT(!memcmp(&d, h, sizeof(d)));
}

static void check_accepted(const struct qcow2_header *h, u64 file_size)
{
	u64 cs, l1_bytes, rt_bytes, shift;
	unsigned __int128 need;
	bool extl2;

	FUZZ_ASSERT(h->cluster_bits >= QCOW2_MIN_CLUSTER_BITS &&
		    h->cluster_bits <= QCOW2_MAX_CLUSTER_BITS);
	cs = 1ULL << h->cluster_bits;
	if (h->version == 3) {
		FUZZ_ASSERT(h->header_length >= QCOW2_V3_MIN_HEADER_LEN);
		FUZZ_ASSERT(h->header_length % 8 == 0);
		FUZZ_ASSERT(h->header_length <= cs);
	}
	FUZZ_ASSERT(!(h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN));
	FUZZ_ASSERT(!(h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE));
	FUZZ_ASSERT(h->crypt_method == 0);
	FUZZ_ASSERT(h->compression_type <= QCOW2_COMPRESSION_ZSTD);
	FUZZ_ASSERT(!!(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) ==
		    (h->compression_type == QCOW2_COMPRESSION_ZSTD));
	extl2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2;
	FUZZ_ASSERT(!extl2 || h->cluster_bits >= QCOW2_EXTL2_MIN_CLUSTER_BITS);
	FUZZ_ASSERT(h->refcount_order <= QCOW2_MAX_REFCOUNT_ORDER);
	FUZZ_ASSERT(h->size % 512 == 0);

	/* The backing file name lies in the header cluster, after the header. */
	if (h->backing_file_offset) {
		FUZZ_ASSERT(h->backing_file_size <= QCOW2_MAX_BACKING_NAME);
		FUZZ_ASSERT(h->backing_file_offset >= h->header_length);
		FUZZ_ASSERT((unsigned __int128)h->backing_file_offset +
			    h->backing_file_size <= cs);
	}

	/* The L1 table maps the whole virtual size, computed here in 128 bits. */
	l1_bytes = (u64)h->l1_size * 8;
	FUZZ_ASSERT(l1_bytes <= QCOW2_MAX_L1_BYTES);
	shift = h->cluster_bits + qcow2_l2_bits(h->cluster_bits, extl2);
	need = ((unsigned __int128)h->size + (1ULL << shift) - 1) >> shift;
	FUZZ_ASSERT(need <= h->l1_size);
	FUZZ_ASSERT(qcow2_l1_entries_for(h->size, h->cluster_bits, extl2) == need);
	if (h->l1_size)
		fuzz_table_inside(h->l1_table_offset, l1_bytes, h->cluster_bits,
				  file_size);

	FUZZ_ASSERT(h->refcount_table_clusters >= 1);
	rt_bytes = (u64)h->refcount_table_clusters << h->cluster_bits;
	FUZZ_ASSERT(rt_bytes <= QCOW2_MAX_REFTABLE_BYTES);
	fuzz_table_inside(h->refcount_table_offset, rt_bytes, h->cluster_bits,
			  file_size);
	/* Both inside the file (no wrap), so plain sums compare. */
	if (h->l1_size)
		FUZZ_ASSERT(h->l1_table_offset + l1_bytes <= h->refcount_table_offset ||
			    h->refcount_table_offset + rt_bytes <= h->l1_table_offset);

	FUZZ_ASSERT(h->nb_snapshots <= QCOW2_MAX_SNAPSHOTS);
	if (h->nb_snapshots)
		fuzz_table_inside(h->snapshots_offset,
				  (u64)h->nb_snapshots * QCOW2_SNAPSHOT_HEADER_LEN,
				  h->cluster_bits, file_size);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct qcow2_err err = { { 0 } };
	struct qcow2_header h;
	u64 file_size = fuzz_take(&in, 8);
	size_t len = in.len;
	u8 *buf;
	int ret;

	if (len > HEADER_READ)
		len = HEADER_READ;
	if (len > file_size)
		len = file_size;
	buf = malloc(len ? len : 1);
	FUZZ_ASSERT(buf);
	memcpy(buf, in.p, len);

	ret = qcow2_header_decode(&h, buf, len, &err);
	if (ret) {
		fuzz_refused(ret, &err);
		goto out;
	}
	FUZZ_ASSERT(h.magic == QCOW2_MAGIC);
	FUZZ_ASSERT(h.version == 2 || h.version == 3);
	if (h.version == 2) {
		/* Version 3's fields with the values version 2 implies. */
		FUZZ_ASSERT(h.refcount_order == 4);
		FUZZ_ASSERT(h.header_length == QCOW2_V2_HEADER_LEN);
		FUZZ_ASSERT(!h.incompatible_features && !h.compatible_features &&
			    !h.autoclear_features && !h.compression_type);
	}
	check_roundtrip(&h, buf, len);

	ret = qcow2_header_check(&h, file_size, &err);
	if (ret)
		fuzz_refused(ret, &err);
	else
		check_accepted(&h, file_size);
out:
	free(buf);
	return 0;
}
