// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the layout arithmetic of image creation and refcount
 * table growth (qcow2_create_check, qcow2_layout_compute, the metadata
 * and header writers, qcow2_l1_entries_for, qcow2_reftable_grow_plan,
 * qcow2_cluster_bits, qcow2_refcount_order).
 *
 * Input, big-endian: be64 size, u8 cluster_bits, u8 version, u8
 * refcount_order, u8 flags (bit 0 lazy refcounts, bit 1 extended L2), u8
 * preallocation mode, be16 backing name length, u8 backing format length,
 * all unchecked as QCOW2_IOC_CREATE receives them; then for the refcount
 * table growth be64 old table entries, be64 first free cluster, be64
 * cluster needed (cluster_bits and refcount_order folded into the valid
 * range, as the driver has them); then be64 and be64 for
 * qcow2_cluster_bits and qcow2_refcount_order; then u8 N: if not 0, the
 * Nth write of the image and every later one fails.
 *
 * Invariants: a layout that create_check accepts lays its structures out
 * in the documented order, each right after the previous, with counts that
 * cover what they describe (refcount blocks every used cluster, the table
 * every block, the L1 table the size), within QEMU's limits, inside the
 * computed file length, all computed here without overflow; the header it
 * writes decodes, passes qcow2_header_check against that length and says
 * what was asked, with well-formed extensions; small images are written
 * whole and their tables walked: every entry passes the driver's checks,
 * every used cluster has refcount 1 and no other cluster one; a failing
 * write fails the writer with its error, and nothing is written after it
 * (the header last, so a partial image has no magic). A growth plan
 * covers the new table and blocks and the cluster asked for, doubles, and
 * is refused with EFBIG only when no table within the limit could do.
 */
#include "fuzz.h"

typedef unsigned __int128 u128;

/* Images up to this many bytes are written whole and walked. */
#define WALK_MAX (256 << 10)

struct mem {
	u8 *img;
	u64 len;
	u32 writes;
	u32 fail_at;	/* this write and all after it fail; 0: none */
};

static int mem_write(void *ctx, const void *buf, size_t len, u64 pos)
{
	struct mem *m = ctx;

	/* The writers stay inside the layout's clusters. */
	FUZZ_ASSERT((u128)pos + len <= m->len);
	/* ...and stop at the first failure. */
	FUZZ_ASSERT(!m->fail_at || m->writes < m->fail_at);
	if (++m->writes == m->fail_at)
		return -EIO;
	memcpy(m->img + pos, buf, len);
	return 0;
}

static char backing[QCOW2_MAX_BACKING_NAME + 1];
static char backing_fmt[QCOW2_MAX_BACKING_FORMAT + 1];

static u64 ceil_div(u128 a, u32 shift)
{
	u128 v = (a + ((u128)1 << shift) - 1) >> shift;

	FUZZ_ASSERT(v <= ~0ULL);
	return v;
}

/* The header cluster: header, extensions, backing name, as asked. */
static void check_header(const struct qcow2_create_params *p,
			 const struct qcow2_layout *l, const u8 *img)
{
	u64 cs = 1ULL << p->cluster_bits, pos;
	struct qcow2_err err = { { 0 } };
	struct qcow2_header h;
	bool fmt_seen = false;

	FUZZ_ASSERT(qcow2_header_decode(&h, img, cs < 4096 ? cs : 4096, &err) == 0);
	FUZZ_ASSERT(qcow2_header_check(&h, l->file_length, &err) == 0);
	FUZZ_ASSERT(h.version == p->version);
	FUZZ_ASSERT(h.cluster_bits == p->cluster_bits);
	FUZZ_ASSERT(h.size == p->size);
	FUZZ_ASSERT(h.refcount_order == p->refcount_order);
	FUZZ_ASSERT(h.l1_size == l->l1_entries);
	FUZZ_ASSERT(h.l1_table_offset == l->l1_offset);
	FUZZ_ASSERT(h.refcount_table_offset == l->reftable_offset);
	FUZZ_ASSERT(h.refcount_table_clusters == l->reftable_clusters);
	FUZZ_ASSERT(!h.nb_snapshots && !h.crypt_method);
	FUZZ_ASSERT(!!(h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS) ==
		    p->lazy_refcounts);
	FUZZ_ASSERT(!!(h.incompatible_features & QCOW2_INCOMPAT_EXTL2) ==
		    p->extended_l2);
	FUZZ_ASSERT(!!h.backing_file_offset == !!p->backing_len);

	/* Extensions: 8-byte aligned, inside the cluster, then the name. */
	pos = h.header_length;
	for (;;) {
		u32 type, len;

		FUZZ_ASSERT(pos + 8 <= cs);
		type = qcow2_get_be32(img + pos);
		len = qcow2_get_be32(img + pos + 4);
		pos += 8;
		if (type == QCOW2_EXT_END) {
			FUZZ_ASSERT(len == 0);
			break;
		}
		FUZZ_ASSERT(type == QCOW2_EXT_BACKING_FORMAT && !fmt_seen);
		FUZZ_ASSERT(len == p->backing_fmt_len);
		FUZZ_ASSERT(pos + len <= cs);
		FUZZ_ASSERT(!memcmp(img + pos, backing_fmt, len));
		fmt_seen = true;
		pos += (len + 7) & ~7U;
	}
	FUZZ_ASSERT(fmt_seen == !!p->backing_fmt_len);
	if (p->backing_len) {
		FUZZ_ASSERT(h.backing_file_offset >= pos);
		FUZZ_ASSERT(h.backing_file_size == p->backing_len);
		FUZZ_ASSERT(!memcmp(img + h.backing_file_offset, backing,
				    p->backing_len));
	}
}

/* A small image written whole: walk its tables as the driver would. */
static void check_tables(const struct qcow2_create_params *p,
			 const struct qcow2_layout *l, const u8 *img, u64 len)
{
	u32 cb = p->cluster_bits, rb_bits = cb + 3 - p->refcount_order;
	u32 l2_bits = qcow2_l2_bits(cb, p->extended_l2);
	u32 esz = qcow2_l2_entry_bytes(p->extended_l2);
	struct qcow2_err err = { { 0 } };
	u64 i, c;

	for (i = 0; i < (l->reftable_clusters << cb) / 8; i++) {
		u64 e = qcow2_get_be64(img + l->reftable_offset + i * 8);

		FUZZ_ASSERT(e == (i < l->refblocks ?
				  l->refblocks_offset + (i << cb) : 0));
		FUZZ_ASSERT(qcow2_reft_check(e, cb, l->file_length, &err) == 0);
	}
	/* Used clusters, then a stretch of free ones: not all of a wide block. */
	for (c = 0; c < l->refblocks << rb_bits && c < l->used_clusters + 4096;
	     c++)
		FUZZ_ASSERT(qcow2_refcount_get(img + l->refblocks_offset +
					       ((c >> rb_bits) << cb),
					       p->refcount_order,
					       c & ((1ULL << rb_bits) - 1)) ==
			    (c < l->used_clusters));
	for (i = 0; i < l->l1_entries; i++) {
		u64 e = qcow2_get_be64(img + l->l1_offset + i * 8);

		FUZZ_ASSERT(e == (l->l2_tables ? (l->l2_offset + (i << cb)) |
				  QCOW2_OFLAG_COPIED : 0));
		FUZZ_ASSERT(qcow2_l1e_check(e, cb, len, &err) == 0);
	}
	for (c = 0; c < l->l2_tables << l2_bits; c++) {
		const u8 *p2 = img + l->l2_offset + c * esz;
		u64 e = qcow2_get_be64(p2);
		u64 bitmap = p->extended_l2 ? qcow2_get_be64(p2 + 8) : 0;

		FUZZ_ASSERT(qcow2_l2e_check(e, bitmap, p->extended_l2,
					    p->version, cb, len, &err) == 0);
		if (c >= l->data_clusters) {
			FUZZ_ASSERT(!e && !bitmap);
			continue;
		}
		FUZZ_ASSERT(e == ((l->data_offset + (c << cb)) | QCOW2_OFLAG_COPIED));
		/* With a backing file, unwritten subclusters read from it. */
		FUZZ_ASSERT(qcow2_l2e_map(e, bitmap, p->extended_l2, 0) ==
			    (p->backing_len ? QCOW2_MAP_UNALLOCATED : QCOW2_MAP_DATA));
	}
}

static void check_layout(const struct qcow2_create_params *p, u32 fail_at)
{
	struct qcow2_err err = { { 0 } }, err2 = { { 0 } };
	struct qcow2_layout l;
	u32 cb, rb_bits;
	u64 cs, l2_bits;
	u128 off;
	struct qcow2_image_writer w;
	struct mem m;
	int ret, ret2;

	ret = qcow2_create_check(p, &err);
	ret2 = qcow2_layout_compute(p, &l, &err2);
	if (ret) {
		fuzz_refused(ret, &err);
		FUZZ_ASSERT(ret2 == ret);
		return;
	}
	if (ret2) {
		/* Only QEMU's size limits are left to refuse with. */
		fuzz_refused(ret2, &err2);
		FUZZ_ASSERT(ret2 == -EFBIG);
		return;
	}

	/* What create_check promises. */
	cb = p->cluster_bits;
	FUZZ_ASSERT(cb >= QCOW2_MIN_CLUSTER_BITS && cb <= QCOW2_MAX_CLUSTER_BITS);
	FUZZ_ASSERT(p->version == 2 || p->version == 3);
	FUZZ_ASSERT(p->refcount_order <= QCOW2_MAX_REFCOUNT_ORDER);
	if (p->version == 2)
		FUZZ_ASSERT(p->refcount_order == 4 && !p->lazy_refcounts &&
			    !p->extended_l2);
	FUZZ_ASSERT(!p->extended_l2 || cb >= QCOW2_EXTL2_MIN_CLUSTER_BITS);
	FUZZ_ASSERT(p->size % 512 == 0);
	FUZZ_ASSERT(p->prealloc <= QCOW2_PREALLOC_FULL);
	FUZZ_ASSERT(p->backing_len <= QCOW2_MAX_BACKING_NAME);
	FUZZ_ASSERT(p->backing_fmt_len <= QCOW2_MAX_BACKING_FORMAT);
	FUZZ_ASSERT(!p->backing_fmt_len || p->backing_len);
	FUZZ_ASSERT(!p->backing_len || p->prealloc == QCOW2_PREALLOC_OFF ||
		    p->extended_l2);

	/* The counts, recomputed in 128 bits. */
	cs = 1ULL << cb;
	rb_bits = cb + 3 - p->refcount_order;
	l2_bits = qcow2_l2_bits(cb, p->extended_l2);
	FUZZ_ASSERT(l.l1_entries == ceil_div(p->size, cb + l2_bits));
	FUZZ_ASSERT(l.l1_entries * 8 <= QCOW2_MAX_L1_BYTES);
	FUZZ_ASSERT(l.l1_clusters == ceil_div((u128)l.l1_entries * 8, cb));
	if (p->prealloc == QCOW2_PREALLOC_OFF) {
		FUZZ_ASSERT(!l.l2_tables && !l.data_clusters);
	} else {
		FUZZ_ASSERT(l.l2_tables == l.l1_entries);
		FUZZ_ASSERT(l.data_clusters == ceil_div(p->size, cb));
		FUZZ_ASSERT(((u128)l.l2_tables << l2_bits) >= l.data_clusters);
	}
	FUZZ_ASSERT(l.reftable_clusters >= 1 && l.refblocks >= 1);
	FUZZ_ASSERT(((u128)l.reftable_clusters << cb) <= QCOW2_MAX_REFTABLE_BYTES);
	FUZZ_ASSERT((u128)l.used_clusters == (u128)1 + l.reftable_clusters +
		    l.refblocks + l.l1_clusters + l.l2_tables + l.data_clusters);
	FUZZ_ASSERT(((u128)l.used_clusters << cb) <= QCOW2_MAX_HOST_OFFSET);
	/* The blocks count every used cluster; the table holds every block. */
	FUZZ_ASSERT(((u128)l.refblocks << rb_bits) >= l.used_clusters);
	FUZZ_ASSERT(((u128)l.reftable_clusters << cb) / 8 >= l.refblocks);

	/* In file order, each right after the one before. */
	off = cs;
	FUZZ_ASSERT(l.reftable_offset == off);
	off += (u128)l.reftable_clusters << cb;
	FUZZ_ASSERT(l.refblocks_offset == off);
	off += (u128)l.refblocks << cb;
	FUZZ_ASSERT(l.l1_offset == off);
	off += (u128)l.l1_clusters << cb;
	FUZZ_ASSERT(l.l2_offset == off);
	off += (u128)l.l2_tables << cb;
	FUZZ_ASSERT(l.data_offset == off);
	off += (u128)l.data_clusters << cb;
	FUZZ_ASSERT(off == (u128)l.used_clusters << cb);

	/* Every table inside the file. */
	FUZZ_ASSERT(l.file_length == (p->prealloc == QCOW2_PREALLOC_OFF ?
				      l.l1_offset + l.l1_entries * 8 :
				      l.used_clusters << cb));
	FUZZ_ASSERT(l.refblocks_offset + (l.refblocks << cb) <= l.file_length);
	FUZZ_ASSERT(l.l1_offset + l.l1_entries * 8 <= l.file_length);
	FUZZ_ASSERT(l.data_offset + (l.data_clusters << cb) <= l.file_length ||
		    p->prealloc == QCOW2_PREALLOC_OFF);

	/* Write it: whole when small, else the header cluster alone. */
	m.len = (l.used_clusters << cb) <= WALK_MAX ? l.used_clusters << cb : cs;
	m.img = calloc(1, m.len);
	FUZZ_ASSERT(m.img);
	w = (struct qcow2_image_writer) {
		.p = p, .l = &l, .backing = backing, .backing_fmt = backing_fmt,
		.chunk = cs, .write = mem_write, .ctx = &m,
	};
	w.buf = malloc(cs);
	FUZZ_ASSERT(w.buf);
	m.writes = 0;
	m.fail_at = fail_at;
	if (m.len > cs) {
		ret = qcow2_write_metadata(&w);
		FUZZ_ASSERT(ret == (fail_at && m.writes >= fail_at ? -EIO : 0));
	}
	if (!ret) {
		ret = qcow2_write_header(&w);
		FUZZ_ASSERT(ret == (fail_at && m.writes >= fail_at ? -EIO : 0));
	}
	if (!ret) {
		check_header(p, &l, m.img);
		if (m.len > cs)
			check_tables(p, &l, m.img, m.len);
	}
	free(w.buf);
	free(m.img);
}

static void check_grow(u32 cb, u32 order, u64 old, u64 at, u64 need)
{
	const u64 max_entries = QCOW2_MAX_REFTABLE_BYTES / 8;
	u32 rb_bits = cb + 3 - order;
	u64 first = at >> rb_bits, entries, tmax, b = 1, b2;
	struct qcow2_err err = { { 0 } };
	struct qcow2_reftable_grow g;
	u128 end;
	int ret, i;

	ret = qcow2_reftable_grow_plan(cb, order, old, at, need, &g, &err);
	if (ret == -EINVAL) {
		fuzz_refused(ret, &err);
		FUZZ_ASSERT(first < old);
		return;
	}
	if (ret) {
		fuzz_refused(ret, &err);
		FUZZ_ASSERT(ret == -EFBIG && first >= old);
		/*
		 * Refused only if even a table of the largest size leaves no
		 * room: find the blocks such a table needs, and see.
		 */
		tmax = QCOW2_MAX_REFTABLE_BYTES >> cb;
		for (i = 0; i < 64; i++) {
			end = (u128)at + tmax + b;
			if (end > ~0ULL)
				return;
			b2 = ((u64)(end - 1) >> rb_bits) - first + 1;
			if (b2 <= b)
				break;
			b = b2;
		}
		if (i < 64)
			FUZZ_ASSERT(first + b > max_entries ||
				    (need >> rb_bits) >= max_entries);
		return;
	}
	FUZZ_ASSERT(first >= old);
	FUZZ_ASSERT(g.first_block == first);
	FUZZ_ASSERT(g.table_clusters >= 1 && g.blocks >= 1);
	FUZZ_ASSERT(((u128)g.table_clusters << cb) <= QCOW2_MAX_REFTABLE_BYTES);
	entries = (g.table_clusters << cb) / 8;
	end = (u128)at + g.table_clusters + g.blocks;
	FUZZ_ASSERT(g.end == end);
	/* The table points at every new block and at the cluster asked for. */
	FUZZ_ASSERT(first + g.blocks <= entries);
	FUZZ_ASSERT((need >> rb_bits) < entries);
	/* The new blocks count the table and themselves. */
	FUZZ_ASSERT(((g.end - 1) >> rb_bits) < first + g.blocks);
	/* Room to double, up to the limit. */
	FUZZ_ASSERT(entries >= (2 * old < max_entries ? 2 * old : max_entries));
}

static void check_helpers(u64 bytes, u64 bits)
{
	int r = qcow2_cluster_bits(bytes), b;

	if (r >= 0) {
		FUZZ_ASSERT(r >= QCOW2_MIN_CLUSTER_BITS && r <= QCOW2_MAX_CLUSTER_BITS);
		FUZZ_ASSERT(bytes == 1ULL << r);
	} else {
		FUZZ_ASSERT(r == -EINVAL);
		for (b = QCOW2_MIN_CLUSTER_BITS; b <= QCOW2_MAX_CLUSTER_BITS; b++)
			FUZZ_ASSERT(bytes != 1ULL << b);
	}
	r = qcow2_refcount_order(bits);
	if (r >= 0) {
		FUZZ_ASSERT(r <= QCOW2_MAX_REFCOUNT_ORDER);
		FUZZ_ASSERT(bits == 1ULL << r);
	} else {
		FUZZ_ASSERT(r == -EINVAL);
		for (b = 0; b <= QCOW2_MAX_REFCOUNT_ORDER; b++)
			FUZZ_ASSERT(bits != 1ULL << b);
	}
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct qcow2_create_params p = { 0 };
	u32 flags, cb, ext;
	u64 old, at, need, bytes, bits;
	u32 fail_at;

	if (!backing[0]) {
		memset(backing, 'b', QCOW2_MAX_BACKING_NAME);
		memset(backing_fmt, 'f', QCOW2_MAX_BACKING_FORMAT);
	}
	p.size = fuzz_take(&in, 8);
	p.cluster_bits = fuzz_take(&in, 1);
	p.version = fuzz_take(&in, 1);
	p.refcount_order = fuzz_take(&in, 1);
	flags = fuzz_take(&in, 1);
	p.lazy_refcounts = flags & 1;
	p.extended_l2 = flags & 2;
	p.prealloc = fuzz_take(&in, 1);
	p.backing_len = fuzz_take(&in, 2);
	p.backing_fmt_len = fuzz_take(&in, 1);
	old = fuzz_take(&in, 8);
	at = fuzz_take(&in, 8);
	need = fuzz_take(&in, 8);
	bytes = fuzz_take(&in, 8);
	bits = fuzz_take(&in, 8);
	fail_at = fuzz_take(&in, 1);

	check_layout(&p, fail_at);

	cb = fuzz_cluster_bits(p.cluster_bits);
	check_grow(cb, p.refcount_order % (QCOW2_MAX_REFCOUNT_ORDER + 1), old,
		   at, need);
	check_helpers(bytes, bits);
	check_helpers(1ULL << cb, 1ULL << (p.refcount_order % 64));

	/* The L1 size for any virtual size, against a 128-bit computation. */
	ext = p.extended_l2 && cb >= QCOW2_EXTL2_MIN_CLUSTER_BITS;
	FUZZ_ASSERT(qcow2_l1_entries_for(p.size, cb, ext) ==
		    ceil_div(p.size, cb + qcow2_l2_bits(cb, ext)));
	return 0;
}
