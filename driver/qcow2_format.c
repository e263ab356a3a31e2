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
#include <linux/magic.h>

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

u64 qcow2_header_backing_bytes(const struct qcow2_header *h)
{
	if (!qcow2_has_backing(h))
		return 0;
	return h->backing_file_offset + h->backing_file_size;
}

/*
 * The extensions lie between the header and the backing file name, each a
 * type, a length and data padded to 8 bytes, until an end marker. Only the
 * backing format matters here; the walk checks every length it passes, as
 * QEMU does, and a name with a NUL byte in it is refused (QEMU would cut
 * it there, and open another file than the name says).
 */
int qcow2_header_backing(const struct qcow2_header *h, const void *buf,
			 size_t len, struct qcow2_backing_name *b,
			 struct qcow2_err *err)
{
	u64 end = h->backing_file_offset, pos = h->header_length, dlen;
	const u8 *p = buf;
	u32 type;

	memset(b, 0, sizeof(*b));
	if (!qcow2_has_backing(h))
		return 0;
	if (len < qcow2_header_backing_bytes(h))
		return qcow2_fail(err, EINVAL, "backing file name lies past the %zu bytes read",
				  len);
	while (pos + 8 <= end) {
		type = qcow2_get_be32(p + pos);
		dlen = qcow2_get_be32(p + pos + 4);
		if (type == QCOW2_EXT_END)
			break;
		if (dlen > end - pos - 8)
			return qcow2_fail(err, EINVAL,
					  "header extension 0x%08x at %llu (%llu bytes) runs into the backing file name",
					  type, (unsigned long long)pos,
					  (unsigned long long)dlen);
		if (type == QCOW2_EXT_BACKING_FORMAT) {
			if (dlen > QCOW2_MAX_BACKING_FORMAT || !dlen ||
			    memchr(p + pos + 8, 0, dlen))
				return qcow2_fail(err, EINVAL,
						  "backing format extension of %llu bytes is not a format name",
						  (unsigned long long)dlen);
			memcpy(b->format, p + pos + 8, dlen);
		}
		pos += 8 + ((dlen + 7) & ~7ULL);
	}
	if (memchr(p + h->backing_file_offset, 0, h->backing_file_size))
		return qcow2_fail(err, EINVAL, "backing file name has a NUL byte");
	memcpy(b->name, p + h->backing_file_offset, h->backing_file_size);
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

int qcow2_cluster_bits(u64 bytes)
{
	int bits;

	for (bits = QCOW2_MIN_CLUSTER_BITS; bits <= QCOW2_MAX_CLUSTER_BITS; bits++)
		if (bytes == 1ULL << bits)
			return bits;
	return -EINVAL;
}

int qcow2_refcount_order(u64 bits)
{
	int order;

	for (order = 0; order <= QCOW2_MAX_REFCOUNT_ORDER; order++)
		if (bits == 1ULL << order)
			return order;
	return -EINVAL;
}

static u32 round8(u32 v)
{
	return (v + 7) & ~7U;
}

/* Bytes the first cluster needs: header, extensions, backing file name. */
static u64 header_cluster_bytes(const struct qcow2_create_params *p)
{
	u64 n = p->version == 2 ? QCOW2_V2_HEADER_LEN : QCOW2_V3_HEADER_LEN;

	if (p->backing_fmt_len)
		n += 8 + round8(p->backing_fmt_len);
	return n + 8 + p->backing_len;	/* end-of-extensions marker */
}

int qcow2_create_check(const struct qcow2_create_params *p,
		       struct qcow2_err *err)
{
	u64 l1;

	if (p->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    p->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return qcow2_fail(err, EINVAL,
				  "cluster_size must be a power of two from 512 bytes to 2 MiB");
	if (p->version != 2 && p->version != 3)
		return qcow2_fail(err, EINVAL,
				  "version %u: must be 2 (compat 0.10) or 3 (compat 1.1)",
				  p->version);
	if (p->refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
		return qcow2_fail(err, EINVAL,
				  "refcount_bits must be a power of two from 1 to 64");
	if (p->version == 2) {
		if (p->refcount_order != 4)
			return qcow2_fail(err, EINVAL,
					  "refcount_bits %u needs version 3 (compat 1.1); version 2 has only 16",
					  1U << p->refcount_order);
		if (p->lazy_refcounts)
			return qcow2_fail(err, EINVAL,
					  "lazy_refcounts needs version 3 (compat 1.1)");
		if (p->extended_l2)
			return qcow2_fail(err, EINVAL,
					  "extended_l2 needs version 3 (compat 1.1)");
	}
	if (p->extended_l2 && p->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
		return qcow2_fail(err, EINVAL,
				  "extended_l2 needs a cluster_size of at least %u bytes",
				  1U << QCOW2_EXTL2_MIN_CLUSTER_BITS);
	if (p->size & 511)
		return qcow2_fail(err, EINVAL, "size %llu is not a multiple of 512",
				  (unsigned long long)p->size);
	l1 = qcow2_l1_entries_for(p->size, p->cluster_bits, p->extended_l2);
	if (l1 > QCOW2_MAX_L1_BYTES / 8)
		return qcow2_fail(err, EFBIG,
				  "size %llu needs %llu L1 entries, over the limit of %llu; use a larger cluster_size",
				  (unsigned long long)p->size,
				  (unsigned long long)l1,
				  QCOW2_MAX_L1_BYTES / 8);
	if (p->prealloc > QCOW2_PREALLOC_FULL)
		return qcow2_fail(err, EINVAL, "unknown preallocation mode %u",
				  p->prealloc);
	if (p->backing_len > QCOW2_MAX_BACKING_NAME)
		return qcow2_fail(err, EINVAL,
				  "backing file name longer than %u bytes",
				  QCOW2_MAX_BACKING_NAME);
	if (p->backing_fmt_len > QCOW2_MAX_BACKING_FORMAT)
		return qcow2_fail(err, EINVAL,
				  "backing format name longer than %u bytes",
				  QCOW2_MAX_BACKING_FORMAT);
	if (p->backing_fmt_len && !p->backing_len)
		return qcow2_fail(err, EINVAL,
				  "backing format given without a backing file");
	if (p->backing_len && p->prealloc != QCOW2_PREALLOC_OFF &&
	    !p->extended_l2)
		return qcow2_fail(err, EINVAL,
				  "preallocation with a backing file needs extended_l2: preallocated standard L2 entries would hide the backing file");
	if (header_cluster_bytes(p) > 1ULL << p->cluster_bits)
		return qcow2_fail(err, EINVAL,
				  "header and backing file name (%llu bytes) do not fit in one cluster of %u bytes",
				  (unsigned long long)header_cluster_bytes(p),
				  1U << p->cluster_bits);
	return 0;
}

/* Clusters needed for @bytes. */
static u64 clusters_of(u64 bytes, u32 cluster_bits)
{
	return (bytes >> cluster_bits) +
	       !!(bytes & ((1ULL << cluster_bits) - 1));
}

int qcow2_layout_compute(const struct qcow2_create_params *p,
			 struct qcow2_layout *l, struct qcow2_err *err)
{
	u32 cb = p->cluster_bits;
	/* log2 of the refcounts one refcount block holds */
	u32 rb_bits = cb + 3 - p->refcount_order;
	u64 fixed, rb = 1, rt = 1, rb_need, rt_need, max_clusters;
	int ret;

	ret = qcow2_create_check(p, err);
	if (ret)
		return ret;

	memset(l, 0, sizeof(*l));
	l->l1_entries = qcow2_l1_entries_for(p->size, cb, p->extended_l2);
	l->l1_clusters = clusters_of(l->l1_entries * 8, cb);
	if (p->prealloc != QCOW2_PREALLOC_OFF) {
		l->l2_tables = l->l1_entries;
		l->data_clusters = clusters_of(p->size, cb);
	}

	/*
	 * The refcount blocks must count every used cluster, themselves and
	 * the refcount table included, and the table must point at every
	 * block: grow both until they cover what they describe. Both only
	 * grow, so this ends, after two or three rounds in practice.
	 */
	fixed = 1 + l->l1_clusters + l->l2_tables + l->data_clusters;
	for (;;) {
		u64 used = fixed + rt + rb;

		rb_need = clusters_of(used, rb_bits);
		rt_need = clusters_of(rb_need * 8, cb);
		if (rb_need <= rb && rt_need <= rt)
			break;
		if (rb_need > rb)
			rb = rb_need;
		if (rt_need > rt)
			rt = rt_need;
	}
	if (rt << cb > QCOW2_MAX_REFTABLE_BYTES)
		return qcow2_fail(err, EFBIG,
				  "refcount table of %llu clusters exceeds the limit of %llu bytes; use a larger cluster_size or narrower refcount_bits",
				  (unsigned long long)rt, QCOW2_MAX_REFTABLE_BYTES);

	l->reftable_clusters = rt;
	l->refblocks = rb;
	l->used_clusters = fixed + rt + rb;
	max_clusters = QCOW2_MAX_HOST_OFFSET >> cb;
	if (l->used_clusters > max_clusters)
		return qcow2_fail(err, EFBIG,
				  "image of %llu clusters exceeds the qcow2 limit of %llu",
				  (unsigned long long)l->used_clusters,
				  (unsigned long long)max_clusters);

	l->reftable_offset = 1ULL << cb;
	l->refblocks_offset = l->reftable_offset + (rt << cb);
	l->l1_offset = l->refblocks_offset + (rb << cb);
	l->l2_offset = l->l1_offset + (l->l1_clusters << cb);
	l->data_offset = l->l2_offset + (l->l2_tables << cb);
	if (p->prealloc != QCOW2_PREALLOC_OFF)
		l->file_length = l->used_clusters << cb;
	else
		/* Like QEMU: the file ends where the L1 table does. */
		l->file_length = l->l1_offset + l->l1_entries * 8;
	return 0;
}

/*
 * Fill @buf (one cluster) with the image's first cluster: the header, the
 * backing format extension and the backing file name.
 */
static void build_header_cluster(void *buf, const struct qcow2_create_params *p,
				 const struct qcow2_layout *l,
				 const char *backing, const char *backing_fmt)
{
	struct qcow2_header h = {
		.magic = QCOW2_MAGIC,
		.version = p->version,
		.cluster_bits = p->cluster_bits,
		.size = p->size,
		.l1_size = l->l1_entries,
		.l1_table_offset = l->l1_offset,
		.refcount_table_offset = l->reftable_offset,
		.refcount_table_clusters = l->reftable_clusters,
		.refcount_order = p->refcount_order,
	};
	u8 *b = buf, *e;

	if (p->version == 3) {
		h.header_length = QCOW2_V3_HEADER_LEN;
		if (p->extended_l2)
			h.incompatible_features |= QCOW2_INCOMPAT_EXTL2;
		if (p->lazy_refcounts)
			h.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
	}
	memset(b, 0, 1U << p->cluster_bits);
	e = b + qcow2_header_encode(&h, b, 1U << p->cluster_bits);
	if (p->backing_fmt_len) {
		qcow2_put_be32(e, QCOW2_EXT_BACKING_FORMAT);
		qcow2_put_be32(e + 4, p->backing_fmt_len);
		memcpy(e + 8, backing_fmt, p->backing_fmt_len);
		e += 8 + round8(p->backing_fmt_len);
	}
	e += 8;		/* QCOW2_EXT_END: type 0, length 0 */
	if (p->backing_len) {
		memcpy(e, backing, p->backing_len);
		h.backing_file_offset = e - b;
		h.backing_file_size = p->backing_len;
		qcow2_header_encode(&h, b, 1U << p->cluster_bits);
	}
}

u64 qcow2_refcount_get(const void *block, u32 refcount_order, u64 index)
{
	const u8 *b = block;
	u64 v = 0;
	u32 i;

	if (refcount_order < 3) {
		u64 bit = index << refcount_order;

		return (b[bit >> 3] >> (bit & 7)) &
		       ((1U << (1U << refcount_order)) - 1);
	}
	b += index << (refcount_order - 3);
	for (i = 0; i < 1U << (refcount_order - 3); i++)
		v = v << 8 | b[i];
	return v;
}

void qcow2_refcount_set(void *block, u32 refcount_order, u64 index, u64 value)
{
	u8 *b = block;
	int i;

	if (refcount_order < 3) {
		u64 bit = index << refcount_order;
		u8 mask = ((1U << (1U << refcount_order)) - 1) << (bit & 7);

		b[bit >> 3] = (b[bit >> 3] & ~mask) |
			      ((value << (bit & 7)) & mask);
		return;
	}
	b += index << (refcount_order - 3);
	for (i = (1 << (refcount_order - 3)) - 1; i >= 0; i--, value >>= 8)
		b[i] = value;
}

void qcow2_build_refblock(void *buf, u32 cluster_bits, u32 refcount_order,
			  u64 index, u64 used)
{
	u32 per_bits = cluster_bits + 3 - refcount_order;
	u64 first = index << per_bits, n, i;
	u8 *b = buf;

	memset(b, 0, 1U << cluster_bits);
	if (used <= first)
		return;
	n = used - first;
	if (n > 1ULL << per_bits)
		n = 1ULL << per_bits;

	if (refcount_order >= 3) {
		/* Big-endian 1: only the last byte of each entry is set. */
		u32 bytes = 1U << (refcount_order - 3);

		for (i = 0; i < n; i++)
			b[(i + 1) * bytes - 1] = 1;
		return;
	}
	/* Sub-byte widths: whole bytes of ones, then the remainder. */
	i = n >> (3 - refcount_order);
	memset(b, refcount_order == 0 ? 0xff : refcount_order == 1 ? 0x55 : 0x11, i);
	for (i <<= 3 - refcount_order; i < n; i++)
		qcow2_refcount_set(b, refcount_order, i, 1);
}

/*
 * Fill L2 table @index (one cluster at @buf) of a preallocated image: each
 * entry maps its guest cluster to the data area, COPIED set. With extended
 * L2 the subclusters are marked allocated, or left unallocated when a
 * backing file provides their content.
 */
static void build_l2(void *buf, const struct qcow2_create_params *p,
		     const struct qcow2_layout *l, u64 index)
{
	u32 cb = p->cluster_bits;
	u32 esz = qcow2_l2_entry_bytes(p->extended_l2);
	u32 l2_bits = qcow2_l2_bits(cb, p->extended_l2);
	u64 first = index << l2_bits, n, i;
	/*
	 * Subclusters read from the backing file while unallocated; without
	 * one, marking them allocated spares first writes a bitmap update.
	 */
	u64 bitmap = p->backing_len ? 0 : 0xffffffffULL;
	u8 *b = buf;

	memset(b, 0, 1U << cb);
	if (first >= l->data_clusters)
		return;
	n = l->data_clusters - first;
	if (n > 1ULL << l2_bits)
		n = 1ULL << l2_bits;
	for (i = 0; i < n; i++) {
		qcow2_put_be64(b + i * esz, (l->data_offset + ((first + i) << cb)) |
			       QCOW2_OFLAG_COPIED);
		if (p->extended_l2)
			qcow2_put_be64(b + i * esz + 8, bitmap);
	}
}

typedef void (*fill_fn)(const struct qcow2_image_writer *w, void *cluster,
			u64 index);

/* Write @count clusters at @offset, cluster i filled by @fill(i). */
static int write_clusters(struct qcow2_image_writer *w, u64 offset, u64 count,
			  fill_fn fill)
{
	u32 cb = w->p->cluster_bits;
	u64 per_chunk = w->chunk >> cb, i, j, n;
	int ret;

	for (i = 0; i < count; i += n) {
		n = count - i < per_chunk ? count - i : per_chunk;
		for (j = 0; j < n; j++)
			fill(w, w->buf + (j << cb), i + j);
		ret = w->write(w->ctx, w->buf, n << cb, offset + (i << cb));
		if (ret)
			return ret;
	}
	return 0;
}

/* A table of 8-byte entries, entry i = base + (i << cluster_bits) | flags. */
static void fill_pointers(const struct qcow2_image_writer *w, void *cluster,
			  u64 index, u64 count, u64 base, u64 flags)
{
	u32 cb = w->p->cluster_bits;
	u64 first = index << (cb - 3), i;

	memset(cluster, 0, 1U << cb);
	for (i = 0; i < 1ULL << (cb - 3) && first + i < count; i++)
		qcow2_put_be64((u8 *)cluster + i * 8,
			       (base + ((first + i) << cb)) | flags);
}

static void fill_reftable(const struct qcow2_image_writer *w, void *cluster,
			  u64 index)
{
	fill_pointers(w, cluster, index, w->l->refblocks,
		      w->l->refblocks_offset, 0);
}

static void fill_refblock(const struct qcow2_image_writer *w, void *cluster,
			  u64 index)
{
	qcow2_build_refblock(cluster, w->p->cluster_bits,
			     w->p->refcount_order, index,
			     w->l->used_clusters);
}

static void fill_l1(const struct qcow2_image_writer *w, void *cluster,
		    u64 index)
{
	fill_pointers(w, cluster, index, w->l->l2_tables, w->l->l2_offset,
		      QCOW2_OFLAG_COPIED);
}

static void fill_l2(const struct qcow2_image_writer *w, void *cluster,
		    u64 index)
{
	build_l2(cluster, w->p, w->l, index);
}

int qcow2_write_metadata(struct qcow2_image_writer *w)
{
	const struct qcow2_layout *l = w->l;
	int ret;

	ret = write_clusters(w, l->reftable_offset, l->reftable_clusters,
			     fill_reftable);
	if (!ret)
		ret = write_clusters(w, l->refblocks_offset, l->refblocks,
				     fill_refblock);
	/* Without L2 tables the L1 table is all zeros: left a hole. */
	if (!ret && l->l2_tables)
		ret = write_clusters(w, l->l1_offset, l->l1_clusters, fill_l1);
	if (!ret)
		ret = write_clusters(w, l->l2_offset, l->l2_tables, fill_l2);
	return ret;
}

int qcow2_write_header(struct qcow2_image_writer *w)
{
	build_header_cluster(w->buf, w->p, w->l, w->backing, w->backing_fmt);
	return w->write(w->ctx, w->buf, 1U << w->p->cluster_bits, 0);
}

int qcow2_l2e_check(u64 l2e, u64 bitmap, bool extl2, u32 version,
		    u32 cluster_bits, u64 file_end, struct qcow2_err *err)
{
	u64 off = l2e & QCOW2_L2E_OFFSET_MASK;
	u64 reserved = QCOW2_L2E_RESERVED_MASK;

	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		/* No subclusters: the spec reserves the bitmap, QEMU refuses it. */
		if (extl2 && bitmap)
			return qcow2_fail(err, EINVAL,
					  "compressed L2 entry 0x%llx has a subcluster bitmap (0x%llx)",
					  (unsigned long long)l2e,
					  (unsigned long long)bitmap);
		return 0;
	}
	/* Bit 0 means "zero" only in version 3 without extended L2. */
	if (version < 3 || extl2)
		reserved |= QCOW2_OFLAG_ZERO;
	if (l2e & reserved)
		return qcow2_fail(err, EINVAL, "L2 entry 0x%llx has reserved bits set",
				  (unsigned long long)l2e);
	if (off & ((1ULL << cluster_bits) - 1))
		return qcow2_fail(err, EINVAL,
				  "host cluster 0x%llx is not cluster aligned",
				  (unsigned long long)off);
	if (off && off >= file_end)
		return qcow2_fail(err, EINVAL,
				  "host cluster 0x%llx is past the end of the file (%llu bytes)",
				  (unsigned long long)off,
				  (unsigned long long)file_end);
	if (!extl2)
		return 0;
	if (bitmap & (bitmap >> 32) & QCOW2_L2B_ALLOC_ALL)
		return qcow2_fail(err, EINVAL,
				  "subcluster bitmap 0x%llx marks subclusters both allocated and zero",
				  (unsigned long long)bitmap);
	if (!off && (bitmap & QCOW2_L2B_ALLOC_ALL))
		return qcow2_fail(err, EINVAL,
				  "subcluster bitmap 0x%llx marks subclusters allocated without a host cluster",
				  (unsigned long long)bitmap);
	return 0;
}

/* Not in uapi/linux/magic.h; stable since the file systems came. */
#define QCOW2_CONFIGFS_MAGIC	0x62656570
#define QCOW2_FUSECTL_MAGIC	0x65735543

bool qcow2_kernel_state_fs(u64 magic)
{
	switch (magic) {
	case PROC_SUPER_MAGIC:
	case SYSFS_MAGIC:
	case DEBUGFS_MAGIC:
	case TRACEFS_MAGIC:
	case SECURITYFS_MAGIC:
	case BPF_FS_MAGIC:
	case CGROUP_SUPER_MAGIC:
	case CGROUP2_SUPER_MAGIC:
	case EFIVARFS_MAGIC:
	case PSTOREFS_MAGIC:
	case SELINUX_MAGIC:
	case SMACK_MAGIC:
	case BINFMTFS_MAGIC:
	case RDTGROUP_SUPER_MAGIC:
	case NSFS_MAGIC:
	case QCOW2_CONFIGFS_MAGIC:
	case QCOW2_FUSECTL_MAGIC:
		return true;
	}
	return false;
}

int qcow2_l2e_unmap(u64 l2e, u64 bitmap, bool extl2, u32 version,
		    bool backing, u32 first, u32 count, enum qcow2_unmap_op op,
		    struct qcow2_unmap *out)
{
	u32 units = extl2 ? QCOW2_SUBCLUSTERS : 1;
	bool compressed = l2e & QCOW2_OFLAG_COMPRESSED;
	bool host = compressed || (l2e & QCOW2_L2E_OFFSET_MASK);
	bool keep = op == QCOW2_UNMAP_ZERO_KEEP && host && !compressed;
	u64 zeros = QCOW2_L2B_ALLOC_ALL << 32, mask;

	out->entry = l2e;
	out->bitmap = bitmap;
	out->drop = false;
	if (!count || first >= units || count > units - first)
		return -EINVAL;
	if (first || count < units) {
		/* Part of a cluster: only subclusters can say it. */
		if (op == QCOW2_UNMAP_DISCARD)
			return 0;
		if (!extl2 || compressed)
			return -EOPNOTSUPP;
		mask = (((1ULL << count) - 1) << first) & QCOW2_L2B_ALLOC_ALL;
		out->bitmap = (bitmap & ~mask) | (mask << 32);
		return 0;
	}
	if (version < 3) {
		/* Unallocated is the only other state: zeros only alone. */
		if (op != QCOW2_UNMAP_DISCARD && (backing || keep))
			return -EOPNOTSUPP;
		out->entry = 0;
		out->drop = host;
		return 0;
	}
	if (op == QCOW2_UNMAP_DISCARD && !host && !backing)
		return 0;	/* reads zeros and stays so */
	out->drop = host && !keep;
	if (extl2) {
		out->entry = keep ? l2e : 0;
		out->bitmap = zeros;
		return 0;
	}
	out->entry = keep ? l2e | QCOW2_OFLAG_ZERO : QCOW2_OFLAG_ZERO;
	return 0;
}

int qcow2_l2e_compressed(u64 l2e, u32 cluster_bits, u64 file_end,
			 struct qcow2_compressed *c, struct qcow2_err *err)
{
	u32 x = qcow2_compressed_offset_bits(cluster_bits);
	u64 desc = l2e & ~(QCOW2_OFLAG_COPIED | QCOW2_OFLAG_COMPRESSED);
	u64 off = desc & ((1ULL << x) - 1);
	u64 last;
	u32 sectors;

	if (!(l2e & QCOW2_OFLAG_COMPRESSED))
		return qcow2_fail(err, EINVAL, "L2 entry 0x%llx is not compressed",
				  (unsigned long long)l2e);
	if (l2e & QCOW2_OFLAG_COPIED)
		return qcow2_fail(err, EINVAL,
				  "compressed L2 entry 0x%llx has the COPIED flag set",
				  (unsigned long long)l2e);
	/* With small clusters the offset field reaches past bit 55. */
	if (off >= QCOW2_MAX_HOST_OFFSET)
		return qcow2_fail(err, EINVAL,
				  "compressed cluster at 0x%llx is out of range",
				  (unsigned long long)off);
	if (off < 1ULL << cluster_bits)
		return qcow2_fail(err, EINVAL,
				  "compressed cluster at 0x%llx overlaps the header cluster",
				  (unsigned long long)off);
	/*
	 * The data must start inside the file and so must its last sector;
	 * the file may end inside that sector (see struct qcow2_compressed).
	 * At most 2^(cluster_bits - 8) sectors, two clusters' worth: no
	 * overflow, as off < 2^56.
	 */
	sectors = (desc >> x) + 1;
	last = (off & ~511ULL) + (u64)(sectors - 1) * 512;
	if (off >= file_end || last >= file_end)
		return qcow2_fail(err, EINVAL,
				  "compressed cluster at 0x%llx (%u sectors) extends past the end of the file (%llu bytes)",
				  (unsigned long long)off, sectors,
				  (unsigned long long)file_end);
	c->offset = off;
	c->sectors = sectors;
	c->bytes = sectors * 512 - (off & 511);
	return 0;
}

int qcow2_reftable_grow_plan(u32 cluster_bits, u32 refcount_order,
			     u64 old_entries, u64 at, u64 need,
			     struct qcow2_reftable_grow *g,
			     struct qcow2_err *err)
{
	u32 rb_bits = cluster_bits + 3 - refcount_order;
	u64 first = at >> rb_bits, t = 1, b = 1, entries, t2, b2, last;

	if (first < old_entries)
		return qcow2_fail(err, EINVAL,
				  "cluster 0x%llx is inside the current refcount table",
				  (unsigned long long)at);
	/* Both counts only grow, and are bounded, so this ends. */
	for (;;) {
		last = (at + t + b - 1) >> rb_bits;
		b2 = last - first + 1;
		entries = last + 1;
		if ((need >> rb_bits) + 1 > entries)
			entries = (need >> rb_bits) + 1;
		if (first + b > entries)
			entries = first + b;
		if (entries * 8 > QCOW2_MAX_REFTABLE_BYTES)
			return qcow2_fail(err, EFBIG,
					  "a refcount table of %llu entries exceeds the limit",
					  (unsigned long long)entries);
		/*
		 * Room to double, so that growth is rare; no further than
		 * the limit, which a table of more than half of it would
		 * otherwise pass before it had to.
		 */
		if (2 * old_entries > entries)
			entries = 2 * old_entries < QCOW2_MAX_REFTABLE_BYTES / 8 ?
				  2 * old_entries : QCOW2_MAX_REFTABLE_BYTES / 8;
		t2 = (entries * 8 + (1ULL << cluster_bits) - 1) >> cluster_bits;
		if (t2 <= t && b2 <= b)
			break;
		if (t2 > t)
			t = t2;
		if (b2 > b)
			b = b2;
	}
	g->table_clusters = t;
	g->first_block = first;
	g->blocks = b;
	g->end = at + t + b;
	return 0;
}

int qcow2_l1e_check(u64 l1e, u32 cluster_bits, u64 file_size,
		    struct qcow2_err *err)
{
	u64 off = l1e & QCOW2_L1E_OFFSET_MASK;

	if (l1e & QCOW2_L1E_RESERVED_MASK)
		return qcow2_fail(err, EINVAL, "L1 entry 0x%llx has reserved bits set",
				  (unsigned long long)l1e);
	if (!off)
		return 0;
	return check_table("L2 table", off, 1ULL << cluster_bits, cluster_bits,
			   file_size, err);
}

int qcow2_reft_check(u64 rte, u32 cluster_bits, u64 file_size,
		     struct qcow2_err *err)
{
	u64 off = rte & QCOW2_REFT_OFFSET_MASK;

	if (rte & QCOW2_REFT_RESERVED_MASK)
		return qcow2_fail(err, EINVAL,
				  "refcount table entry 0x%llx has reserved bits set",
				  (unsigned long long)rte);
	if (!off)
		return 0;
	return check_table("refcount block", off, 1ULL << cluster_bits,
			   cluster_bits, file_size, err);
}

int qcow2_snapshot_decode(struct qcow2_snapshot *s, const void *buf,
			  u32 cluster_bits, u64 file_size,
			  struct qcow2_err *err)
{
	const u8 *p = buf;
	u32 id_len = (u32)p[12] << 8 | p[13];
	u32 name_len = (u32)p[14] << 8 | p[15];
	u32 extra = qcow2_get_be32(p + 36);
	u64 len;

	s->l1_table_offset = qcow2_get_be64(p);
	s->l1_size = qcow2_get_be32(p + 8);
	s->id_len = id_len;
	s->name_len = name_len;
	s->extra = extra;
	s->date_sec = qcow2_get_be32(p + 16);
	s->date_nsec = qcow2_get_be32(p + 20);
	s->vm_clock_nsec = qcow2_get_be64(p + 24);
	s->vm_state_size = qcow2_get_be32(p + 32);
	s->disk_size = 0;
	s->icount = (u64)-1;
	if (extra > QCOW2_MAX_SNAPSHOT_EXTRA)
		return qcow2_fail(err, EINVAL, "snapshot extra data of %u bytes exceeds %u",
				  extra, QCOW2_MAX_SNAPSHOT_EXTRA);
	len = QCOW2_SNAPSHOT_HEADER_LEN + (u64)extra + id_len + name_len;
	s->entry_len = len;
	if ((u64)s->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return qcow2_fail(err, EFBIG, "snapshot L1 table of %u entries is too large",
				  s->l1_size);
	if (!s->l1_size)
		return 0;
	return check_table("snapshot L1 table", s->l1_table_offset,
			   (u64)s->l1_size * 8, cluster_bits, file_size, err);
}

void qcow2_snapshot_extra(struct qcow2_snapshot *s, const void *extra)
{
	const u8 *p = extra;

	if (s->extra >= 8)
		s->vm_state_size = qcow2_get_be64(p);
	if (s->extra >= 16)
		s->disk_size = qcow2_get_be64(p + 8);
	if (s->extra >= 24)
		s->icount = qcow2_get_be64(p + 16);
}
