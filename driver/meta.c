// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata updates: cluster allocation, refcounts, L2 table allocation and
 * copy-on-write, refcount table growth, and write-back in the order that
 * keeps the image consistent whenever power is lost.
 *
 * The order is QEMU's:
 *  - a refcount block reaches the disk before the refcount table entry
 *    that points at it, and refcounts before the L2 tables that use the
 *    clusters they count;
 *  - data copied on write reaches the disk before the L2 entry that points
 *    at it;
 *  - an L2 table reaches the disk before the L1 entry that points at it,
 *    and the L1 table before the header (refcount table growth);
 *  - a refcount drops only once no table on disk uses the cluster.
 * "Reaches the disk" means written and then synced (vfs_fsync). Between
 * any two steps a crash leaves at most clusters with a refcount nothing
 * uses (leaks), never a used cluster counted as free.
 *
 * New clusters are taken from the end of the image and never reused while
 * attached, so a cluster handed out reads as zeros until written.
 */
#include "qcow2.h"

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>

int qcow2_read_meta(struct qcow2_dev *q, void *buf, size_t len, u64 pos)
{
	loff_t p = pos;
	ssize_t n = kernel_read(q->file, buf, len, &p);

	if (n < 0)
		return n;
	/* Past the end of the file an image reads as zeros. */
	if (n < len)
		memset((u8 *)buf + n, 0, len - n);
	return 0;
}

int qcow2_write_meta(struct qcow2_dev *q, const void *buf, size_t len,
		     u64 pos)
{
	loff_t p = pos;
	ssize_t n = kernel_write(q->file, buf, len, &p);

	if (n < 0)
		return n;
	if (n != len)
		return -EIO;
	q->unsynced = true;
	return 0;
}

int qcow2_sync(struct qcow2_dev *q)
{
	int ret = vfs_fsync(q->file, 0);

	if (!ret)
		q->unsynced = false;
	return ret;
}

/* Make everything written so far durable before what comes next. */
static int sync_barrier(struct qcow2_dev *q)
{
	return q->unsynced ? qcow2_sync(q) : 0;
}

bool qcow2_is_corrupt(struct qcow2_dev *q)
{
	return test_bit(0, &q->corrupt);
}

/*
 * The image contradicts itself: say where, set the corrupt bit in the
 * header (as QEMU does, so that no tool trusts it before a check), and
 * refuse writes from now on.
 */
void qcow2_set_corrupt(struct qcow2_dev *q, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;
	__be64 bits;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_err_ratelimited("qcow2%d: image is corrupt: %pV; writes are refused from now on, run 'qemu-img check' on it\n",
			   q->index, &vaf);
	va_end(args);

	if (test_and_set_bit(0, &q->corrupt) || q->read_only ||
	    q->h.version < 3)
		return;
	bits = cpu_to_be64(q->h.incompatible_features | QCOW2_INCOMPAT_CORRUPT);
	/* Past the check above only once; a failure here changes nothing. */
	if (!qcow2_write_meta(q, &bits, sizeof(bits), 72))
		vfs_fsync(q->file, 0);
}

bool qcow2_overlaps_meta(struct qcow2_dev *q, u64 offset)
{
	return xa_load(&q->meta, offset >> q->cluster_bits);
}

/* The L2 cache's validator: every entry checked before any is used. */
int qcow2_validate_l2(struct qcow2_dev *q, u64 offset, const void *table)
{
	u64 file_end = READ_ONCE(q->file_end), host;
	struct qcow2_l2e e;
	struct qcow2_err err;
	u32 i;

	for (i = 0; i < 1U << q->l2_bits; i++) {
		qcow2_l2e_read(q, table, i, &e);
		if (qcow2_l2e_check(e.entry, e.bitmap, q->extl2, q->h.version,
				    q->cluster_bits, file_end, &err))
			goto bad;
		host = e.entry & QCOW2_L2E_OFFSET_MASK;
		if (host && !(e.entry & QCOW2_OFLAG_COMPRESSED) &&
		    qcow2_overlaps_meta(q, host)) {
			snprintf(err.msg, sizeof(err.msg),
				 "host cluster 0x%llx overlaps metadata", host);
			goto bad;
		}
	}
	return 0;
bad:
	qcow2_set_corrupt(q, "L2 table at 0x%llx, entry %u: %s", offset, i,
			  err.msg);
	return -EIO;
}

static void mark_range(unsigned long *map, u64 first_entry, u64 n)
{
	u64 i;

	for (i = first_entry / 64; i <= (first_entry + n - 1) / 64; i++)
		__set_bit(i, map);
}

/* Write the 512-byte pieces of an in-memory table that changed. */
static int write_table_dirty(struct qcow2_dev *q, const __be64 *table,
			     u64 entries, unsigned long *map, u64 offset)
{
	unsigned long bit, nbits = DIV_ROUND_UP(entries, 64);
	size_t len;
	int ret;

	for_each_set_bit(bit, map, nbits) {
		len = min_t(u64, 512, (entries - bit * 64) * 8);
		ret = qcow2_write_meta(q, table + bit * 64, len,
				       offset + bit * 512);
		if (ret)
			return ret;
		__clear_bit(bit, map);
		atomic64_inc(&q->stats.metadata_writes);
	}
	return 0;
}

/* Refcount blocks, then the refcount table entries that point at them. */
static int flush_refcounts(struct qcow2_dev *q)
{
	int ret;

	ret = qcow2_cache_writeback(&q->rbc);
	if (ret)
		return ret;
	if (find_first_bit(q->reft_dirty, DIV_ROUND_UP(q->reft_entries, 64)) >=
	    DIV_ROUND_UP(q->reft_entries, 64))
		return 0;
	ret = sync_barrier(q);
	if (ret)
		return ret;
	return write_table_dirty(q, q->reftable, q->reft_entries, q->reft_dirty,
				 q->h.refcount_table_offset);
}

/* What an L2 table depends on must be on disk before it is written. */
int qcow2_l2_writeback_prepare(struct qcow2_dev *q)
{
	int ret;

	lockdep_assert_held(&q->meta_lock);
	ret = flush_refcounts(q);
	return ret ? ret : sync_barrier(q);
}

/*
 * Write back every dirty table in order, then drop the refcounts of
 * clusters that the tables now on disk no longer use.
 */
int qcow2_flush_metadata(struct qcow2_dev *q)
{
	unsigned int i, n;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	ret = qcow2_cache_writeback(&q->l2c);
	if (ret)
		return ret;
	if (find_first_bit(q->l1_dirty, DIV_ROUND_UP(q->l1_entries, 64)) <
	    DIV_ROUND_UP(q->l1_entries, 64)) {
		ret = sync_barrier(q);
		if (!ret)
			ret = write_table_dirty(q, q->l1, q->l1_entries,
						q->l1_dirty,
						q->h.l1_table_offset);
		if (ret)
			return ret;
	}
	if (q->npending) {
		ret = sync_barrier(q);
		if (ret)
			return ret;
		n = q->npending;
		q->npending = 0;
		for (i = 0; i < n; i++) {
			ret = qcow2_refcount_update(q, q->pending_free[i] >>
						    q->cluster_bits, -1);
			if (ret)
				return ret;
		}
	}
	return flush_refcounts(q);
}

/* REQ_OP_FLUSH, FUA, detach: metadata in order, then the whole file. */
int qcow2_flush(struct qcow2_dev *q)
{
	int ret;

	if (q->read_only)
		return 0;
	mutex_lock(&q->meta_lock);
	ret = qcow2_flush_metadata(q);
	if (!ret)
		ret = qcow2_sync(q);
	mutex_unlock(&q->meta_lock);
	return ret;
}

static u64 refcount_max(struct qcow2_dev *q)
{
	u32 bits = 1U << q->h.refcount_order;

	return bits == 64 ? U64_MAX : (1ULL << bits) - 1;
}

/* Add @delta to the refcount of cluster @cluster. */
int qcow2_refcount_update(struct qcow2_dev *q, u64 cluster, s64 delta)
{
	u64 r = cluster >> q->rb_bits, idx, v, off = 0;
	struct qcow2_cache_entry *e;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	if (r < q->reft_entries)
		off = be64_to_cpu(q->reftable[r]) & QCOW2_REFT_OFFSET_MASK;
	if (!off) {
		qcow2_set_corrupt(q, "cluster 0x%llx is in use but has no refcount block",
				  cluster << q->cluster_bits);
		return -EIO;
	}
	ret = qcow2_cache_get(&q->rbc, off, true, &e);
	if (ret)
		return ret;
	idx = cluster & ((1ULL << q->rb_bits) - 1);
	v = qcow2_refcount_get(e->data, q->h.refcount_order, idx);
	if ((delta < 0 && v < (u64)-delta) ||
	    (delta > 0 && refcount_max(q) - v < (u64)delta)) {
		qcow2_cache_put(&q->rbc, e);
		qcow2_set_corrupt(q, "refcount %llu of cluster 0x%llx cannot change by %lld",
				  v, cluster << q->cluster_bits, delta);
		return -EIO;
	}
	qcow2_refcount_set(e->data, q->h.refcount_order, idx, v + delta);
	qcow2_cache_mark_dirty(&q->rbc, e);
	qcow2_cache_put(&q->rbc, e);
	return 0;
}

/* Drop the refcount of the cluster at @offset once the tables no longer
 * using it are on disk.
 */
int qcow2_free_later(struct qcow2_dev *q, u64 offset)
{
	int ret;

	if (q->npending == QCOW2_PENDING_FREE_MAX) {
		ret = qcow2_flush_metadata(q);
		if (ret)
			return ret;
	}
	q->pending_free[q->npending++] = offset;
	return 0;
}

/*
 * Keep the file longer than what is allocated. A direct write past i_size
 * extends the file, and ext4 and xfs run such writes synchronously under
 * the exclusive inode lock, one at a time: first writes at the end of the
 * image would crawl. Inside i_size they run like writes into a sparse raw
 * file. So the file grows ahead of the allocator by a sparse truncate, in
 * steps of an eighth of its size (1 to 128 MiB). fallocate() would keep
 * the clusters together too, but then every first write splits an
 * unwritten extent: measured slower (bench/results.md). The reserve reads
 * as zeros, as a fresh cluster must (alloc_fresh()), costs no space, and
 * is cut off at detach. Best effort: without it writes extend the file.
 */
static void reserve_ahead(struct qcow2_dev *q, u64 end)
{
	u64 have = i_size_read(file_inode(q->file)), want;

	if (end <= have)
		return;
	want = clamp_t(u64, have / 8, SZ_1M, SZ_128M);
	want = round_up(max(end, have + want), q->cluster_size);
	vfs_truncate(&q->file->f_path, want);
}

/* At detach: give back the reserve nothing was allocated in. */
void qcow2_trim_reserve(struct qcow2_dev *q)
{
	int ret;

	if (i_size_read(file_inode(q->file)) <= q->file_end)
		return;
	ret = vfs_truncate(&q->file->f_path, q->file_end);
	if (!ret)
		ret = vfs_fsync(q->file, 0);
	if (ret)
		pr_warn("qcow2%d: could not trim the file to %llu bytes (%d)\n",
			q->index, q->file_end, ret);
}

static void note_allocated(struct qcow2_dev *q, u64 next)
{
	reserve_ahead(q, next << q->cluster_bits);
	q->alloc_next = next;
	if (next << q->cluster_bits > q->file_end)
		WRITE_ONCE(q->file_end, next << q->cluster_bits);
}

static int meta_insert(struct qcow2_dev *q, u64 cluster, u64 n,
		       enum qcow2_meta_kind kind)
{
	u64 i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = xa_insert(&q->meta, cluster + i, xa_mk_value(kind),
				GFP_KERNEL);
		if (ret)
			return ret == -EBUSY ? -EIO : ret;
	}
	return 0;
}

/* A refcount block for range @r, placed at cluster @c inside it. */
static int new_refblock(struct qcow2_dev *q, u64 r, u64 c)
{
	struct qcow2_cache_entry *e;
	int ret;

	ret = qcow2_cache_get_new(&q->rbc, c << q->cluster_bits, &e);
	if (ret)
		return ret;
	qcow2_refcount_set(e->data, q->h.refcount_order,
			   c & ((1ULL << q->rb_bits) - 1), 1);
	qcow2_cache_put(&q->rbc, e);
	ret = meta_insert(q, c, 1, QCOW2_META_REFBLOCK);
	if (ret)
		return ret;
	q->reftable[r] = cpu_to_be64(c << q->cluster_bits);
	mark_range(q->reft_dirty, r, 1);
	note_allocated(q, c + 1);
	atomic64_inc(&q->stats.alloc_clusters);
	return 0;
}

/*
 * Move the refcount table to a bigger one at cluster @c, with new refcount
 * blocks that count it and themselves; the header switches to it only when
 * both are on disk.
 */
static int grow_reftable(struct qcow2_dev *q, u64 c)
{
	u64 old_off = q->h.refcount_table_offset, i, k, first, n;
	u32 old_clusters = q->h.refcount_table_clusters;
	size_t rb_size = q->cluster_size;
	struct qcow2_reftable_grow g;
	unsigned long *dirty = NULL;
	struct qcow2_err err;
	__be64 *table = NULL, *old;
	u8 hdr[12], *block = NULL;
	int ret;

	ret = qcow2_reftable_grow_plan(q->cluster_bits, q->h.refcount_order,
				       q->reft_entries, c, c, &g, &err);
	if (ret) {
		pr_err_ratelimited("qcow2%d: cannot grow the refcount table: %s\n",
				   q->index, err.msg);
		return ret;
	}
	if ((g.end << q->cluster_bits) >= QCOW2_MAX_HOST_OFFSET)
		return -ENOSPC;
	/* The new table copies the old one: its blocks must be on disk. */
	ret = flush_refcounts(q);
	if (ret)
		return ret;

	n = (g.table_clusters << q->cluster_bits) / 8;
	table = kvzalloc(n * 8, GFP_KERNEL);
	dirty = bitmap_zalloc(DIV_ROUND_UP(n, 64), GFP_KERNEL);
	block = kvmalloc(rb_size, GFP_KERNEL);
	ret = -ENOMEM;
	if (!table || !dirty || !block)
		goto out;
	memcpy(table, q->reftable, q->reft_entries * 8);
	for (k = 0; k < g.blocks; k++) {
		first = (g.first_block + k) << q->rb_bits;
		table[g.first_block + k] =
			cpu_to_be64((c + g.table_clusters + k) << q->cluster_bits);
		memset(block, 0, rb_size);
		for (i = max(first, c); i < min(first + (1ULL << q->rb_bits), g.end); i++)
			qcow2_refcount_set(block, q->h.refcount_order, i - first, 1);
		ret = qcow2_write_meta(q, block, rb_size,
				       (c + g.table_clusters + k) << q->cluster_bits);
		if (ret)
			goto out;
	}
	ret = qcow2_write_meta(q, table, n * 8, c << q->cluster_bits);
	if (!ret)
		ret = sync_barrier(q);
	if (ret)
		goto out;

	qcow2_put_be64(hdr, c << q->cluster_bits);
	qcow2_put_be32(hdr + 8, g.table_clusters);
	ret = qcow2_write_meta(q, hdr, sizeof(hdr), 48);
	if (!ret)
		ret = sync_barrier(q);
	if (ret)
		goto out;

	/* The header points at the new table now. */
	old = q->reftable;
	q->reftable = table;
	q->reft_entries = n;
	bitmap_free(q->reft_dirty);
	q->reft_dirty = dirty;
	table = old;
	dirty = NULL;
	q->h.refcount_table_offset = c << q->cluster_bits;
	q->h.refcount_table_clusters = g.table_clusters;
	note_allocated(q, g.end);
	atomic64_add(g.end - c, &q->stats.alloc_clusters);
	for (i = 0; i < old_clusters; i++)
		xa_erase(&q->meta, (old_off >> q->cluster_bits) + i);
	ret = meta_insert(q, c, g.table_clusters, QCOW2_META_REFTABLE);
	if (!ret)
		ret = meta_insert(q, c + g.table_clusters, g.blocks,
				  QCOW2_META_REFBLOCK);
	/* Nothing on disk uses the old table any more. */
	for (i = 0; !ret && i < old_clusters; i++)
		ret = qcow2_refcount_update(q, (old_off >> q->cluster_bits) + i,
					    -1);
out:
	kvfree(table);
	bitmap_free(dirty);
	kvfree(block);
	return ret;
}

/**
 * qcow2_alloc_clusters - allocate up to @n contiguous clusters
 * @q: the device
 * @n: clusters wanted, at least 1
 * @offset: host offset of the first
 *
 * Returns the number allocated (at least 1, fewer when a refcount block
 * boundary or a cluster in use is in the way) or -errno. The clusters get
 * refcount 1 in the cache.
 */
long qcow2_alloc_clusters(struct qcow2_dev *q, u64 n, u64 *offset)
{
	struct qcow2_cache_entry *e;
	u64 c, r, off, idx, avail, i;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	for (;;) {
		c = q->alloc_next;
		if ((c + n) << q->cluster_bits >= QCOW2_MAX_HOST_OFFSET)
			return -ENOSPC;
		r = c >> q->rb_bits;
		if (r >= q->reft_entries) {
			ret = grow_reftable(q, c);
			if (ret)
				return ret;
			continue;
		}
		off = be64_to_cpu(q->reftable[r]) & QCOW2_REFT_OFFSET_MASK;
		if (!off) {
			ret = new_refblock(q, r, c);
			if (ret)
				return ret;
			continue;
		}
		ret = qcow2_cache_get(&q->rbc, off, true, &e);
		if (ret)
			return ret;
		idx = c & ((1ULL << q->rb_bits) - 1);
		avail = min(n, (1ULL << q->rb_bits) - idx);
		for (i = 0; i < avail; i++)
			if (qcow2_refcount_get(e->data, q->h.refcount_order,
					       idx + i))
				break;
		if (!i) {
			/* In use, though past the end of the image: skip. */
			qcow2_cache_put(&q->rbc, e);
			q->alloc_next = c + 1;
			continue;
		}
		avail = i;
		for (i = 0; i < avail; i++)
			qcow2_refcount_set(e->data, q->h.refcount_order,
					   idx + i, 1);
		qcow2_cache_mark_dirty(&q->rbc, e);
		qcow2_cache_put(&q->rbc, e);
		note_allocated(q, c + avail);
		atomic64_add(avail, &q->stats.alloc_clusters);
		*offset = c << q->cluster_bits;
		return avail;
	}
}

/**
 * qcow2_l2_for_write - the L2 table for L1 index @l1i, ours to change
 * @q: the device
 * @l1i: L1 index
 * @out: the table, pinned
 *
 * Allocates a table when there is none, and copies one shared with a
 * snapshot (no COPIED flag in the L1 entry): the copy keeps the entries
 * as they are, since the data clusters are now used by both tables and
 * their refcounts already say so.
 */
int qcow2_l2_for_write(struct qcow2_dev *q, u64 l1i,
		       struct qcow2_cache_entry **out)
{
	u64 l1e = be64_to_cpu(q->l1[l1i]), old = l1e & QCOW2_L1E_OFFSET_MASK;
	struct qcow2_cache_entry *ne, *oe;
	u64 noff;
	long n;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	if (old && (l1e & QCOW2_OFLAG_COPIED))
		return qcow2_cache_get(&q->l2c, old, true, out);

	n = qcow2_alloc_clusters(q, 1, &noff);
	if (n < 0)
		return n;
	ret = meta_insert(q, noff >> q->cluster_bits, 1, QCOW2_META_L2);
	if (ret)
		return ret;
	ret = qcow2_cache_get_new(&q->l2c, noff, &ne);
	if (ret)
		return ret;
	if (old) {
		ret = qcow2_cache_get(&q->l2c, old, true, &oe);
		if (ret) {
			qcow2_cache_put(&q->l2c, ne);
			return ret;
		}
		memcpy(ne->data, oe->data, q->cluster_size);
		qcow2_cache_put(&q->l2c, oe);
		ret = qcow2_free_later(q, old);
		if (ret) {
			qcow2_cache_put(&q->l2c, ne);
			return ret;
		}
		atomic64_inc(&q->stats.cow_clusters);
	}
	WRITE_ONCE(q->l1[l1i], cpu_to_be64(noff | QCOW2_OFLAG_COPIED));
	mark_range(q->l1_dirty, l1i, 1);
	*out = ne;
	return 0;
}
