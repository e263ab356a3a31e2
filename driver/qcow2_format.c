// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2 on-disk format: header decoding, validation and encoding, and the
 * layout arithmetic shared by image creation and the block driver.
 *
 * Builds in the kernel and in userspace; see qcow2_format.h.
 */
#ifdef __KERNEL__
#include <linux/kernel.h>
#include <linux/string.h>
#endif
#include "qcow2_format.h"

int qcow2_fail(struct qcow2_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

bool qcow2_round_up(u64 v, u32 bits, u64 *out)
{
	u64 mask = (1ULL << bits) - 1;

	if (v > ~0ULL - mask)
		return false;
	*out = (v + mask) & ~mask;
	return true;
}

u64 qcow2_l1_entries_for(u64 size, u32 cluster_bits, bool extended_l2)
{
	/* Guest bytes one L1 entry maps: a cluster per L2 entry. */
	u32 shift = cluster_bits + qcow2_l2_bits(cluster_bits, extended_l2);
	u64 n = size >> shift;

	if (size & ((1ULL << shift) - 1))
		n++;
	return n;
}

int qcow2_header_decode(struct qcow2_header *h, const void *buf, size_t len,
			struct qcow2_err *err)
{
	const u8 *p = buf;

	if (len < QCOW2_V2_HEADER_LEN)
		return qcow2_fail(err, EINVAL, "image too short for a header (%zu bytes)",
				  len);

	memset(h, 0, sizeof(*h));
	h->magic = qcow2_get_be32(p + 0);
	h->version = qcow2_get_be32(p + 4);
	if (h->magic != QCOW2_MAGIC)
		return qcow2_fail(err, EINVAL, "not a qcow2 image (bad magic 0x%08x)",
				  h->magic);
	if (h->version != 2 && h->version != 3)
		return qcow2_fail(err, EOPNOTSUPP, "unsupported qcow2 version %u",
				  h->version);

	h->backing_file_offset = qcow2_get_be64(p + 8);
	h->backing_file_size = qcow2_get_be32(p + 16);
	h->cluster_bits = qcow2_get_be32(p + 20);
	h->size = qcow2_get_be64(p + 24);
	h->crypt_method = qcow2_get_be32(p + 32);
	h->l1_size = qcow2_get_be32(p + 36);
	h->l1_table_offset = qcow2_get_be64(p + 40);
	h->refcount_table_offset = qcow2_get_be64(p + 48);
	h->refcount_table_clusters = qcow2_get_be32(p + 56);
	h->nb_snapshots = qcow2_get_be32(p + 60);
	h->snapshots_offset = qcow2_get_be64(p + 64);

	if (h->version == 2) {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HEADER_LEN;
		return 0;
	}

	if (len < QCOW2_V3_MIN_HEADER_LEN)
		return qcow2_fail(err, EINVAL, "version 3 header truncated (%zu bytes)",
				  len);
	h->incompatible_features = qcow2_get_be64(p + 72);
	h->compatible_features = qcow2_get_be64(p + 80);
	h->autoclear_features = qcow2_get_be64(p + 88);
	h->refcount_order = qcow2_get_be32(p + 96);
	h->header_length = qcow2_get_be32(p + 100);
	/* The compression type byte exists only in headers long enough. */
	if (h->header_length > QCOW2_V3_MIN_HEADER_LEN) {
		if (len <= QCOW2_V3_MIN_HEADER_LEN)
			return qcow2_fail(err, EINVAL,
					  "header_length %u exceeds the %zu bytes read",
					  h->header_length, len);
		h->compression_type = p[104];
	}
	return 0;
}

/*
 * Is [off, off + len) a sane place for a table of @len bytes: cluster
 * aligned, inside the host offset range and inside the file?
 */
static int check_table(const char *what, u64 off, u64 len, u32 cluster_bits,
		       u64 file_size, struct qcow2_err *err)
{
	if (off & ((1ULL << cluster_bits) - 1))
		return qcow2_fail(err, EINVAL, "%s offset 0x%llx is not cluster aligned",
				  what, (unsigned long long)off);
	if (off == 0)
		return qcow2_fail(err, EINVAL, "%s overlaps the header cluster", what);
	if (off >= QCOW2_MAX_HOST_OFFSET || len > QCOW2_MAX_HOST_OFFSET - off)
		return qcow2_fail(err, EINVAL, "%s at 0x%llx (+%llu bytes) is out of range",
				  what, (unsigned long long)off,
				  (unsigned long long)len);
	if (off + len > file_size)
		return qcow2_fail(err, EINVAL,
				  "%s at 0x%llx (+%llu bytes) extends past the end of the file (%llu bytes)",
				  what, (unsigned long long)off,
				  (unsigned long long)len,
				  (unsigned long long)file_size);
	return 0;
}

static bool ranges_overlap(u64 a, u64 alen, u64 b, u64 blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

int qcow2_header_check(const struct qcow2_header *h, u64 file_size,
		       struct qcow2_err *err)
{
	u64 cluster_size, l1_bytes, rt_bytes, unknown, need;
	bool extl2;
	int ret, bit;

	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return qcow2_fail(err, EINVAL, "cluster_bits %u outside %u..%u",
				  h->cluster_bits, QCOW2_MIN_CLUSTER_BITS,
				  QCOW2_MAX_CLUSTER_BITS);
	cluster_size = 1ULL << h->cluster_bits;

	if (h->version == 3) {
		if (h->header_length < QCOW2_V3_MIN_HEADER_LEN ||
		    h->header_length % 8)
			return qcow2_fail(err, EINVAL,
					  "header_length %u is not a multiple of 8 of at least %u",
					  h->header_length, QCOW2_V3_MIN_HEADER_LEN);
		if (h->header_length > cluster_size)
			return qcow2_fail(err, EINVAL,
					  "header_length %u exceeds the cluster size",
					  h->header_length);
	}

	unknown = h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;
	if (unknown) {
		for (bit = 0; !(unknown & (1ULL << bit)); bit++)
			;
		return qcow2_fail(err, EOPNOTSUPP,
				  "unknown incompatible feature bit %d (features 0x%llx)",
				  bit,
				  (unsigned long long)h->incompatible_features);
	}
	if (h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE)
		return qcow2_fail(err, EOPNOTSUPP,
				  "images with an external data file are not supported");
	if (h->crypt_method)
		return qcow2_fail(err, EOPNOTSUPP,
				  "encrypted images are not supported (crypt_method %u)",
				  h->crypt_method);

	if (h->compression_type > QCOW2_COMPRESSION_ZSTD)
		return qcow2_fail(err, EOPNOTSUPP, "unknown compression type %u",
				  h->compression_type);
	if (!!(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION) !=
	    (h->compression_type != QCOW2_COMPRESSION_DEFLATE))
		return qcow2_fail(err, EINVAL,
				  "compression type %u does not match the compression feature bit",
				  h->compression_type);

	extl2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2;
	if (extl2 && h->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
		return qcow2_fail(err, EINVAL,
				  "extended L2 needs clusters of at least %u bytes",
				  1U << QCOW2_EXTL2_MIN_CLUSTER_BITS);

	if (h->refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
		return qcow2_fail(err, EINVAL, "refcount_order %u exceeds %u",
				  h->refcount_order, QCOW2_MAX_REFCOUNT_ORDER);

	if (h->size & 511)
		return qcow2_fail(err, EINVAL,
				  "virtual size %llu is not a multiple of 512",
				  (unsigned long long)h->size);

	if (h->backing_file_offset) {
		if (h->backing_file_size > QCOW2_MAX_BACKING_NAME ||
		    h->backing_file_offset > cluster_size ||
		    h->backing_file_size > cluster_size - h->backing_file_offset)
			return qcow2_fail(err, EINVAL,
					  "backing file name (%u bytes at %llu) is not inside the header cluster",
					  h->backing_file_size,
					  (unsigned long long)h->backing_file_offset);
		if (h->backing_file_offset < h->header_length)
			return qcow2_fail(err, EINVAL,
					  "backing file name overlaps the header");
	}

	/* L1 table: big enough for the virtual size, within QEMU's limit. */
	l1_bytes = (u64)h->l1_size * 8;
	if (l1_bytes > QCOW2_MAX_L1_BYTES)
		return qcow2_fail(err, EFBIG, "L1 table of %u entries is too large",
				  h->l1_size);
	need = qcow2_l1_entries_for(h->size, h->cluster_bits, extl2);
	if (need > h->l1_size)
		return qcow2_fail(err, EINVAL,
				  "L1 table of %u entries is too small for %llu bytes (needs %llu)",
				  h->l1_size, (unsigned long long)h->size,
				  (unsigned long long)need);
	if (h->l1_size) {
		ret = check_table("L1 table", h->l1_table_offset, l1_bytes,
				  h->cluster_bits, file_size, err);
		if (ret)
			return ret;
	}

	if (!h->refcount_table_clusters)
		return qcow2_fail(err, EINVAL, "image has no refcount table");
	rt_bytes = (u64)h->refcount_table_clusters << h->cluster_bits;
	if (rt_bytes > QCOW2_MAX_REFTABLE_BYTES)
		return qcow2_fail(err, EFBIG,
				  "refcount table of %u clusters is too large",
				  h->refcount_table_clusters);
	ret = check_table("refcount table", h->refcount_table_offset, rt_bytes,
			  h->cluster_bits, file_size, err);
	if (ret)
		return ret;

	if (ranges_overlap(h->l1_table_offset, l1_bytes,
			   h->refcount_table_offset, rt_bytes))
		return qcow2_fail(err, EINVAL,
				  "L1 table and refcount table overlap");

	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return qcow2_fail(err, EINVAL, "%u snapshots exceed the limit of %u",
				  h->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
	if (h->nb_snapshots) {
		/* Each snapshot header is at least 40 bytes plus padding. */
		ret = check_table("snapshot table", h->snapshots_offset,
				  (u64)h->nb_snapshots * 40, h->cluster_bits,
				  file_size, err);
		if (ret)
			return ret;
	}
	return 0;
}

size_t qcow2_header_encode(const struct qcow2_header *h, void *buf,
			   size_t len)
{
	size_t n = QCOW2_V2_HEADER_LEN;
	u8 *p = buf;

	/* The fields of version 3 are written whatever header_length says. */
	if (h->version != 2)
		n = h->header_length > QCOW2_V3_MIN_HEADER_LEN ?
		    h->header_length : QCOW2_V3_MIN_HEADER_LEN;
	if (len < n)
		return 0;
	memset(p, 0, n);
	qcow2_put_be32(p + 0, h->magic);
	qcow2_put_be32(p + 4, h->version);
	qcow2_put_be64(p + 8, h->backing_file_offset);
	qcow2_put_be32(p + 16, h->backing_file_size);
	qcow2_put_be32(p + 20, h->cluster_bits);
	qcow2_put_be64(p + 24, h->size);
	qcow2_put_be32(p + 32, h->crypt_method);
	qcow2_put_be32(p + 36, h->l1_size);
	qcow2_put_be64(p + 40, h->l1_table_offset);
	qcow2_put_be64(p + 48, h->refcount_table_offset);
	qcow2_put_be32(p + 56, h->refcount_table_clusters);
	qcow2_put_be32(p + 60, h->nb_snapshots);
	qcow2_put_be64(p + 64, h->snapshots_offset);
	if (h->version == 2)
		return n;
	qcow2_put_be64(p + 72, h->incompatible_features);
	qcow2_put_be64(p + 80, h->compatible_features);
	qcow2_put_be64(p + 88, h->autoclear_features);
	qcow2_put_be32(p + 96, h->refcount_order);
	qcow2_put_be32(p + 100, h->header_length);
	if (n > QCOW2_V3_MIN_HEADER_LEN)
		p[104] = h->compression_type;
	return n;
}
