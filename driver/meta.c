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
 * New clusters come from runs of free clusters inside the file that are
 * holes in it, or from the end of the image, so a cluster handed out reads
 * as zeros until written (reuse_find()). Clusters whose last reference goes
 * are punched out of the file once their refcount dropped (drop_run()):
 * the L2 change that freed them is on disk by then, so no table names them.
 */
#include "qcow2.h"

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>

/* Forget or redo the write-back state of the in-memory tables. */
static void tables_synced(struct qcow2_dev *q, bool ok)
{
	unsigned long l1n = BITS_TO_LONGS(DIV_ROUND_UP(q->l1_entries, 64));
	unsigned long rtn = BITS_TO_LONGS(DIV_ROUND_UP(q->reft_entries, 64));
	unsigned long i;

	qcow2_cache_synced(&q->l2c, ok);
	qcow2_cache_synced(&q->rbc, ok);
	if (!ok) {
		for (i = 0; i < l1n; i++)
			q->l1_dirty[i] |= q->l1_unsynced[i];
		for (i = 0; i < rtn; i++)
			q->reft_dirty[i] |= q->reft_unsynced[i];
		if (q->hdr_unsynced)
			q->hdr_dirty = true;
	}
	memset(q->l1_unsynced, 0, l1n * sizeof(long));
	memset(q->reft_unsynced, 0, rtn * sizeof(long));
	q->hdr_unsynced = false;
}

/**
 * qcow2_sync - make everything written to the image file so far durable
 * @q: the device
 *
 * What a failed sync covered is unknown afterwards, so every table written
 * since the last good one is dirty again and the next flush writes it
 * again. With direct I/O that is all it takes: the data the device wrote
 * went around the page cache, and a retry can succeed (QEMU's cache=none
 * behaves so too). With buffered I/O the kernel has already dropped or
 * marked clean the pages it could not write, and reports that once: the
 * error sticks, writes and flushes fail from then on, and only a forced
 * detach ends it. Caller holds meta_lock.
 */
int qcow2_sync(struct qcow2_dev *q)
{
	int ret;

	lockdep_assert_held(&q->meta_lock);
	ret = qcow2_file_sync(q);
	tables_synced(q, !ret);
	if (!ret)
		WRITE_ONCE(q->unsynced, false);
	return ret;
}

/* Make everything written so far durable before what comes next. */
static int sync_barrier(struct qcow2_dev *q)
{
	return READ_ONCE(q->unsynced) ? qcow2_sync(q) : 0;
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
	if (q->level)
		pr_err_ratelimited("qcow2%d: backing file %u (%pD) is corrupt: %pV; run 'qemu-img check' on it\n",
				   q->index, q->level, q->file, &vaf);
	else
		pr_err_ratelimited("qcow2%d: image is corrupt: %pV; writes are refused from now on, run 'qemu-img check' on it\n",
				   q->index, &vaf);
	va_end(args);

	if (test_and_set_bit(0, &q->corrupt) || q->read_only ||
	    q->h.version < 3)
		return;
	bits = cpu_to_be64(q->h.incompatible_features | QCOW2_INCOMPAT_CORRUPT);
	/*
	 * Past the check above only once. Writes are refused from now on
	 * whether or not the bit reaches the disk.
	 */
	if (!qcow2_write_header_field(q, &bits, sizeof(bits), 72))
		qcow2_file_sync(q);
}

bool qcow2_overlaps_meta(struct qcow2_dev *q, u64 offset)
{
	return qcow2_meta_map_has(&q->meta, offset >> q->cluster_bits);
}

/**
 * qcow2_validate_l2 - the L2 cache's validator
 * @q: the device
 * @offset: where the table was read from
 * @table: the table
 * @l1i: the L1 index it maps
 *
 * Every entry is checked before any is used. A table this device never
 * changed may only name clusters inside the file as it was at attach: the
 * clusters appended since are the allocator's, and an entry that already
 * named one would share it with whatever the allocator gave it to. A table
 * the device changed (and wrote back, and evicted) may name those too.
 */
int qcow2_validate_l2(struct qcow2_dev *q, u64 offset, const void *table,
		      u64 l1i)
{
	u64 file_end, host;
	struct qcow2_l2e e;
	struct qcow2_err err;
	u32 i;

	file_end = l1i < q->l1_entries && test_bit(l1i, q->l2_ours) ?
		   READ_ONCE(q->file_end) : q->attach_end;
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

/*
 * Write the 512-byte pieces of an in-memory table that changed; they stay
 * unsynced until qcow2_sync() covers them. The tables are allocated and
 * read in whole sectors, so every piece is a whole sector.
 */
static int write_table_dirty(struct qcow2_dev *q, const __be64 *table,
			     u64 entries, unsigned long *map,
			     unsigned long *unsynced, u64 offset)
{
	unsigned long bit, nbits = DIV_ROUND_UP(entries, 64);
	int ret;

	for_each_set_bit(bit, map, nbits) {
		ret = qcow2_write_meta(q, table + bit * 64, 512,
				       offset + bit * 512);
		if (ret)
			return ret;
		__clear_bit(bit, map);
		__set_bit(bit, unsynced);
		atomic64_inc(&q->stats.metadata_writes);
	}
	return 0;
}

/* The refcount table fields of the header, after the table moved. */
static int write_reftable_fields(struct qcow2_dev *q)
{
	u8 hdr[12];
	int ret;

	qcow2_put_be64(hdr, q->h.refcount_table_offset);
	qcow2_put_be32(hdr + 8, q->h.refcount_table_clusters);
	ret = qcow2_write_header_field(q, hdr, sizeof(hdr), 48);
	if (!ret) {
		q->hdr_dirty = false;
		q->hdr_unsynced = true;
	}
	return ret;
}

/*
 * Refcount blocks, then the refcount table entries that point at them. The
 * header must name the table first (a table move whose sync failed).
 */
static int flush_refcounts(struct qcow2_dev *q)
{
	int ret;

	if (q->hdr_dirty) {
		ret = write_reftable_fields(q);
		if (!ret)
			ret = qcow2_sync(q);
		if (ret)
			return ret;
	}
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
				 q->reft_unsynced, q->h.refcount_table_offset);
}

/* What an L2 table depends on must be on disk before it is written. */
int qcow2_l2_writeback_prepare(struct qcow2_dev *q)
{
	int ret;

	lockdep_assert_held(&q->meta_lock);
	ret = flush_refcounts(q);
	return ret ? ret : sync_barrier(q);
}

static u64 refcount_max(struct qcow2_dev *q)
{
	u32 bits = 1U << q->h.refcount_order;

	return bits == 64 ? U64_MAX : (1ULL << bits) - 1;
}

/* Add @delta to the refcount of cluster @cluster; the new one in *@now. */
static int refcount_change(struct qcow2_dev *q, u64 cluster, s64 delta,
			   u64 *now)
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
	ret = qcow2_cache_get(&q->rbc, off, true, 0, &e);
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
	*now = v + delta;
	qcow2_refcount_set(e->data, q->h.refcount_order, idx, *now);
	qcow2_cache_mark_dirty(&q->rbc, e);
	qcow2_cache_put(&q->rbc, e);
	return 0;
}

int qcow2_refcount_update(struct qcow2_dev *q, u64 cluster, s64 delta)
{
	u64 now;

	return refcount_change(q, cluster, delta, &now);
}

/*
 * Clusters nothing uses any more, [@pos, @pos + @n clusters): punched out
 * of the file when it can, so that the space goes back to its file system
 * (the file's size stays), and forgotten by the table caches. A punch that
 * fails leaves the space allocated and the image as consistent as before;
 * the clusters then hold data, and are not reused (reuse_find()).
 */
static void give_back(struct qcow2_dev *q, u64 pos, u64 n)
{
	u64 c = pos >> q->cluster_bits, r;
	int ret;

	atomic64_add(n, &q->stats.freed);
	qcow2_cache_forget(&q->l2c, pos, n << q->cluster_bits);
	qcow2_cache_forget(&q->rbc, pos, n << q->cluster_bits);
	/* Reusable once no request that could reach them is left. */
	for (r = c >> q->rb_bits; r <= (c + n - 1) >> q->rb_bits; r++)
		if (r < q->may_free_bits)
			__set_bit(r, q->may_free);
	q->reuse_next = min(q->reuse_next, c);
	q->unsettled = true;
	if (!q->can_unmap)
		return;
	ret = qcow2_file_punch(q, pos, n << q->cluster_bits);
	if (ret)
		pr_warn_ratelimited("qcow2%d: cannot punch %llu clusters at 0x%llx out of the image file (%d): the space stays allocated\n",
				    q->index, n, pos, ret);
}

/*
 * Drop one reference of each cluster of @r, the tables that used them
 * being on disk. @r advances past every drop made, so that a failed one
 * is retried by the next flush, never applied twice. The clusters left
 * without a reference are punched, each run of them at once.
 */
static int drop_run(struct qcow2_dev *q, struct qcow2_free_run *r)
{
	u64 hole = 0, holes = 0, left;
	int ret = 0;

	while (r->count) {
		ret = refcount_change(q, r->offset >> q->cluster_bits, -1, &left);
		if (ret)
			break;
		if (!left) {
			if (holes && hole + (holes << q->cluster_bits) != r->offset) {
				give_back(q, hole, holes);
				holes = 0;
			}
			if (!holes)
				hole = r->offset;
			holes++;
		}
		r->offset += q->cluster_size;
		r->count--;
		cond_resched();
	}
	if (holes)
		give_back(q, hole, holes);
	return ret;
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
						q->l1_dirty, q->l1_unsynced,
						q->h.l1_table_offset);
		if (ret)
			return ret;
	}
	if (q->npending) {
		ret = sync_barrier(q);
		if (ret)
			return ret;
		n = q->npending;
		for (i = 0; i < n; i++) {
			ret = drop_run(q, &q->pending_free[i]);
			if (ret)
				break;
		}
		memmove(q->pending_free, q->pending_free + i,
			(n - i) * sizeof(q->pending_free[0]));
		q->npending = n - i;
		if (ret)
			return ret;
	}
	return flush_refcounts(q);
}

/*
 * REQ_OP_FLUSH, FUA, detach: metadata in order, then the whole file. It
 * succeeds only when everything written before it is on disk.
 */
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

/*
 * What discards and writes of zeros freed goes back to the file system
 * soon, without waiting for the next flush: a short while after the first
 * of a burst, the tables go to disk, the refcounts drop and the clusters
 * left unused are punched, for the whole burst at once (one write-back
 * and sync of the tables, where a flush after each discard would cost one
 * per request: fstrim sends thousands). A burst that frees more than
 * QCOW2_PENDING_FREE_MAX separate runs flushes each time the list fills.
 */
#define QCOW2_FREE_DELAY	(HZ / 10)

void qcow2_free_soon(struct qcow2_dev *q)
{
	queue_delayed_work(q->wq, &q->free_work, QCOW2_FREE_DELAY);
}

void qcow2_free_work(struct work_struct *work)
{
	struct qcow2_dev *q = container_of(to_delayed_work(work),
					   struct qcow2_dev, free_work);
	unsigned int noio = memalloc_noio_save();
	int ret = 0;

	mutex_lock(&q->meta_lock);
	/* A corrupt image is not written; a failed sync has said so already. */
	if (q->npending && !qcow2_is_corrupt(q) && !READ_ONCE(q->wb_err))
		ret = qcow2_flush_metadata(q);
	mutex_unlock(&q->meta_lock);
	memalloc_noio_restore(noio);
	if (ret)
		pr_warn_ratelimited("qcow2%d: cannot give back discarded clusters now (%d): the next flush tries again\n",
				    q->index, ret);
}

/*
 * Room for @n more clusters in the pending-free queue, so that queuing them
 * after an L2 or L1 entry changed cannot fail half-way. A metadata flush
 * that succeeds empties the queue.
 */
int qcow2_free_reserve(struct qcow2_dev *q, unsigned int n)
{
	if (n <= QCOW2_PENDING_FREE_MAX - q->npending)
		return 0;
	return qcow2_flush_metadata(q);
}

/*
 * Drop a reference of the cluster at @offset once the tables no longer
 * using it are on disk. A cluster right after the last one queued joins
 * its run: a discard of many clusters takes one entry.
 */
int qcow2_free_later(struct qcow2_dev *q, u64 offset)
{
	struct qcow2_free_run *r;
	int ret;

	if (q->npending) {
		r = &q->pending_free[q->npending - 1];
		if (offset == r->offset + (r->count << q->cluster_bits)) {
			r->count++;
			return 0;
		}
	}
	if (q->npending == QCOW2_PENDING_FREE_MAX) {
		ret = qcow2_flush_metadata(q);
		if (ret)
			return ret;
	}
	r = &q->pending_free[q->npending++];
	r->offset = offset;
	r->count = 1;
	return 0;
}

/*
 * Keep the file longer than what is allocated. A direct write past i_size
 * extends the file, and ext4 and xfs run such writes synchronously under
 * the exclusive inode lock, one at a time: first writes at the end of the
 * image would crawl. Inside i_size they run like writes into a sparse raw
 * file. So the file grows ahead of the allocator by a sparse resize, in
 * steps of an eighth of its size (1 to 128 MiB). fallocate() would keep
 * the clusters together too, but then every first write splits an
 * unwritten extent: measured slower (bench/results.md). The reserve reads
 * as zeros, as a fresh cluster must (alloc_fresh()), costs no space, and
 * is cut off at detach (and at the next attach after a crash).
 *
 * Every allocated cluster is inside i_size, and i_size never shrinks while
 * attached: so a short read inside i_size is an error, never a hole.
 */
static int reserve_ahead(struct qcow2_dev *q, u64 end)
{
	u64 have = i_size_read(file_inode(q->file)), want;
	int ret;

	if (end <= have)
		return 0;
	want = clamp_t(u64, have / 8, SZ_1M, SZ_128M);
	want = round_up(max(end, have + want), q->cluster_size);
	ret = qcow2_file_resize(q, want);
	/* Near the file system's size limit: no more than needed. */
	if (ret && want > end)
		ret = qcow2_file_resize(q, end);
	if (ret)
		pr_err_ratelimited("qcow2%d: cannot extend the image file to %llu bytes: %d\n",
				   q->index, end, ret);
	return ret;
}

/*
 * At detach: give back the reserve nothing was allocated in. A file that
 * ended inside its last cluster at attach may have had that cluster
 * written past its old end since (its L2 entry was valid: the cluster
 * began inside the file): what holds data up to the cluster's end stays.
 */
void qcow2_trim_reserve(struct qcow2_dev *q)
{
	u64 end = q->file_end, last = round_up(end, q->cluster_size);
	loff_t data;
	int ret;

	if (i_size_read(file_inode(q->file)) <= end)
		return;
	if (last != end) {
		data = vfs_llseek(q->file, end, SEEK_DATA);
		if (data != -ENXIO && (data < 0 || data < last))
			end = last;
		if (i_size_read(file_inode(q->file)) <= end)
			return;
	}
	ret = qcow2_file_resize(q, end);
	if (!ret)
		ret = qcow2_file_sync(q);
	if (ret)
		pr_warn("qcow2%d: could not trim the file to %llu bytes (%d)\n",
			q->index, end, ret);
}

/* Clusters up to @next are handed out; reserve_ahead() made room. */
static void note_allocated(struct qcow2_dev *q, u64 next)
{
	q->alloc_next = next;
	if (next << q->cluster_bits > q->file_end)
		WRITE_ONCE(q->file_end, next << q->cluster_bits);
}

/*
 * Clusters the allocator takes from the end lie past everything the image
 * held at attach, so they need no overlap check: no table this device did
 * not write may name them (qcow2_validate_l2()). Free clusters it reuses
 * are checked against the metadata the device knows (reuse_find()); a
 * table that names a cluster its refcount calls free is the image's own
 * inconsistency, which `qemu-img check` reports and QEMU would not see
 * either.
 */

/* A refcount block for range @r, placed at cluster @c inside it. */
static int new_refblock(struct qcow2_dev *q, u64 r, u64 c)
{
	struct qcow2_cache_entry *e;
	int ret;

	ret = reserve_ahead(q, (c + 1) << q->cluster_bits);
	if (ret)
		return ret;
	ret = qcow2_cache_get_new(&q->rbc, c << q->cluster_bits, &e);
	if (ret)
		return ret;
	memset(e->data, 0, q->cluster_size);
	qcow2_refcount_set(e->data, q->h.refcount_order,
			   c & ((1ULL << q->rb_bits) - 1), 1);
	qcow2_cache_publish(&q->rbc, e);
	qcow2_cache_put(&q->rbc, e);
	q->reftable[r] = cpu_to_be64(c << q->cluster_bits);
	mark_range(q->reft_dirty, r, 1);
	note_allocated(q, c + 1);
	atomic64_inc(&q->stats.alloc_clusters);
	return 0;
}

/*
 * Move the refcount table to a bigger one at cluster @c, with new refcount
 * blocks that count it and themselves; the header switches to it only when
 * both are on disk. If the sync after the header update fails, the header
 * on disk may name either table; both are whole, and flush_refcounts()
 * writes the header again before anything that needs the new one.
 */
static int grow_reftable(struct qcow2_dev *q, u64 c)
{
	u64 old_off = q->h.refcount_table_offset, i, k, first, n;
	u32 old_clusters = q->h.refcount_table_clusters;
	size_t rb_size = q->cluster_size;
	struct qcow2_reftable_grow g;
	unsigned long *dirty = NULL, *unsynced = NULL, *grown = NULL;
	struct qcow2_err err;
	__be64 *table = NULL;
	u8 *block = NULL;
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
	ret = reserve_ahead(q, g.end << q->cluster_bits);
	if (ret)
		return ret;
	/* The new table copies the old one: its blocks must be on disk. */
	ret = flush_refcounts(q);
	if (ret)
		return ret;

	n = (g.table_clusters << q->cluster_bits) / 8;
	table = qcow2_buf_alloc(n * 8, GFP_KERNEL);
	dirty = qcow2_piece_map(n);
	unsynced = qcow2_piece_map(n);
	block = qcow2_buf_alloc(rb_size, GFP_KERNEL);
	grown = bitmap_zalloc(n, GFP_KERNEL);
	ret = -ENOMEM;
	if (!table || !dirty || !unsynced || !block || !grown)
		goto out;
	memset(table, 0, n * 8);
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

	if (q->may_free) {
		bitmap_copy(grown, q->may_free, q->may_free_bits);
		swap(q->may_free, grown);
		q->may_free_bits = n;
	}
	swap(q->reftable, table);
	swap(q->reft_dirty, dirty);
	swap(q->reft_unsynced, unsynced);
	q->reft_entries = n;
	q->h.refcount_table_offset = c << q->cluster_bits;
	q->h.refcount_table_clusters = g.table_clusters;
	note_allocated(q, g.end);
	atomic64_add(g.end - c, &q->stats.alloc_clusters);
	/*
	 * A header write that failed may still have reached the disk, so
	 * there is no going back to the old table: the new one is whole and
	 * synced, and flush_refcounts() writes the header again before
	 * anything depends on it. The old table's clusters then leak.
	 */
	ret = write_reftable_fields(q);
	if (ret)
		q->hdr_dirty = true;
	if (!ret)
		ret = sync_barrier(q);
	if (ret)
		goto out;
	/* Nothing on disk uses the old table any more. */
	for (i = 0; !ret && i < old_clusters; i++)
		ret = qcow2_refcount_update(q, (old_off >> q->cluster_bits) + i,
					    -1);
out:
	kvfree(table);
	bitmap_free(dirty);
	bitmap_free(unsynced);
	bitmap_free(grown);
	kvfree(block);
	return ret;
}

/*
 * Cluster reuse. Clusters free inside the file (refcount 0 below
 * alloc_next: freed by discards while attached, or holes the image had)
 * are handed out before the file grows. A bitmap with one bit per refcount
 * block says which blocks may still count free clusters; at attach every
 * block's bit is set and nothing is read: the allocator reads a block when
 * it gets to it, looking at no more than QCOW2_REUSE_SCAN blocks and
 * QCOW2_REUSE_ENTRIES refcounts per allocation, and clears the bit of a
 * block with nothing reusable left. So the first allocations after attach
 * read the refcount blocks once, a few at a time (an image of 1 TiB in
 * 64 KiB clusters with 16-bit refcounts has 512), and the bitmap costs one
 * bit per refcount table entry.
 *
 * Only free clusters that are holes in the file are reused: they read as
 * zeros, as the end of the file does, so a first write may publish one
 * before its data lands (alloc_fresh() in io.c), and the bytes a partial
 * write leaves out read zeros, never what the cluster held. Clusters this
 * device frees are punched (give_back()); a free cluster that still holds
 * data (a punch failed, or could not cover it: clusters smaller than the
 * file system's block, or an image whose refcounts say free where a table
 * still points) is left alone, never punched here: no data goes unless a
 * discard said so.
 *
 * A cluster a discard freed may still be the target of a request that
 * looked its mapping up before the discard changed it: a write landing
 * after the punch would put stale data into the cluster's next user. Such
 * clusters are reused only once every request that could have seen the
 * old mapping has completed (reuse_settled()); until then the allocator
 * takes clusters from the end, never waiting.
 */
#define QCOW2_REUSE_SCAN	2
#define QCOW2_REUSE_ENTRIES	SZ_64K

int qcow2_reuse_init(struct qcow2_dev *q)
{
	q->may_free = bitmap_zalloc(max_t(u64, q->reft_entries, 1), GFP_KERNEL);
	if (!q->may_free)
		return -ENOMEM;
	q->may_free_bits = q->reft_entries;
	bitmap_fill(q->may_free, q->may_free_bits);
	q->reuse_next = 1;	/* cluster 0 is the header's */
	return 0;
}

/*
 * Whether every request that could have looked up a mapping that a
 * discard has since removed has completed. The L2 entries changed (under
 * meta_lock) before the clusters were freed; a request counts itself in
 * io_active[] and then (full barrier) looks mappings up. So when, after
 * the flip and a full barrier, the old epoch's count reads zero, every
 * request that counted itself in it has completed, and every request
 * whose count this missed will find the new entries. The flip waits
 * until the other epoch is empty, so that no request counted there long
 * ago is forgotten.
 */
static bool reuse_settled(struct qcow2_dev *q)
{
	if (q->settling) {
		smp_mb();	/* pairs with cmd_exit()'s, after the I/O */
		if (atomic_read(&q->io_active[q->settle_ep]))
			return false;
		q->settling = false;
	}
	if (!q->unsettled)
		return true;
	smp_mb();	/* the entries changed before the counts are read */
	if (atomic_read(&q->io_active[!q->io_epoch]))
		return false;
	q->settle_ep = q->io_epoch;
	WRITE_ONCE(q->io_epoch, !q->io_epoch);
	q->unsettled = false;
	smp_mb();	/* the flip before the old epoch's count */
	if (atomic_read(&q->io_active[q->settle_ep])) {
		q->settling = true;
		return false;
	}
	return true;
}

/*
 * The first cluster at or after @c, below @end, whose refcount is zero
 * (@free) or not, skipping clusters that hold metadata the allocator must
 * not hand out.
 */
static u64 next_free(struct qcow2_dev *q, const void *block, u64 c, u64 end,
		     bool free)
{
	u64 mask = (1ULL << q->rb_bits) - 1;
	bool is_free;

	for (; c < end; c++) {
		is_free = !qcow2_refcount_get(block, q->h.refcount_order,
					      c & mask) &&
			  !qcow2_overlaps_meta(q, c << q->cluster_bits);
		if (is_free == free)
			break;
	}
	return c;
}

/*
 * Of the free clusters [@c, @end), how many from @c on are holes in the
 * file; 0 when @c holds data, and *@skip is then the first cluster after
 * that data. A file system that cannot tell says data.
 */
static u64 holes_at(struct qcow2_dev *q, u64 c, u64 end, u64 *skip)
{
	loff_t data, hole;

	data = vfs_llseek(q->file, c << q->cluster_bits, SEEK_DATA);
	if (data == -ENXIO)
		return end - c;
	if (data >= 0 && data >> q->cluster_bits > c)
		return min_t(u64, data >> q->cluster_bits, end) - c;
	hole = data < 0 ? data :
	       vfs_llseek(q->file, c << q->cluster_bits, SEEK_HOLE);
	*skip = hole < 0 ? end :
		clamp_t(u64, DIV_ROUND_UP_ULL(hole, q->cluster_size), c + 1, end);
	return 0;
}

/*
 * Find the next run of free clusters below alloc_next that are holes in
 * the file: the allocator's window.
 */
static bool reuse_find(struct qcow2_dev *q)
{
	u64 end = min(q->alloc_next, (u64)i_size_read(file_inode(q->file)) >>
		      q->cluster_bits), r, off, c, first, last, stop, top, n;
	u64 budget = QCOW2_REUSE_ENTRIES;
	unsigned int rounds = QCOW2_REUSE_SCAN;
	struct qcow2_cache_entry *e;

	if (!q->may_free || q->reuse_next >= end || !reuse_settled(q))
		return false;
	top = min(q->may_free_bits, ((end - 1) >> q->rb_bits) + 1);
	while (rounds && budget && q->reuse_next < end) {
		r = find_next_bit(q->may_free, top, q->reuse_next >> q->rb_bits);
		if (r >= top) {
			q->reuse_next = end;
			break;
		}
		first = max(q->reuse_next, r << q->rb_bits);
		last = min(end, (r + 1) << q->rb_bits);
		off = be64_to_cpu(q->reftable[r]) & QCOW2_REFT_OFFSET_MASK;
		if (!off) {
			/* No block: nothing there was ever allocated. */
			__clear_bit(r, q->may_free);
			q->reuse_next = last;
			continue;
		}
		rounds--;
		stop = min(last, first + budget);
		budget -= stop - first;
		if (qcow2_cache_get(&q->rbc, off, true, 0, &e))
			return false;
		first = next_free(q, e->data, first, stop, true);
		c = next_free(q, e->data, first, stop, false);
		qcow2_cache_put(&q->rbc, e);
		if (first == stop) {
			q->reuse_next = stop;
			if (stop == last)
				__clear_bit(r, q->may_free);
			continue;
		}
		n = holes_at(q, first, c, &q->reuse_next);
		if (!n) {
			if (q->reuse_next == last)
				__clear_bit(r, q->may_free);
			continue;
		}
		/* The rest of the block is looked at again after this run. */
		q->reuse_next = first + n;
		q->win_next = first;
		q->win_end = first + n;
		return true;
	}
	return false;
}

/* Up to @n clusters of the window, refcount 1 each. */
static long reuse_take(struct qcow2_dev *q, u64 n, u64 *offset)
{
	u64 c = q->win_next, r = c >> q->rb_bits, off, i;
	struct qcow2_cache_entry *e;
	int ret;

	n = min(n, q->win_end - c);
	off = be64_to_cpu(q->reftable[r]) & QCOW2_REFT_OFFSET_MASK;
	ret = qcow2_cache_get(&q->rbc, off, true, 0, &e);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		qcow2_refcount_set(e->data, q->h.refcount_order,
				   (c + i) & ((1ULL << q->rb_bits) - 1), 1);
	qcow2_cache_mark_dirty(&q->rbc, e);
	qcow2_cache_put(&q->rbc, e);
	q->win_next = c + n;
	atomic64_add(n, &q->stats.alloc_clusters);
	atomic64_add(n, &q->stats.reused);
	*offset = c << q->cluster_bits;
	return n;
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
	u64 c, r, off, idx, avail, i, span;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	if (q->win_next < q->win_end || reuse_find(q))
		return reuse_take(q, n, offset);
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
		ret = qcow2_cache_get(&q->rbc, off, true, 0, &e);
		if (ret)
			return ret;
		idx = c & ((1ULL << q->rb_bits) - 1);
		span = (1ULL << q->rb_bits) - idx;
		for (i = 0; i < span; i++)
			if (!qcow2_refcount_get(e->data, q->h.refcount_order,
						idx + i))
				break;
		if (i) {
			/*
			 * In use, though past the end of the image: skip the
			 * run. An image can claim many such clusters; each
			 * block is looked at once.
			 */
			qcow2_cache_put(&q->rbc, e);
			q->alloc_next = c + i;
			cond_resched();
			continue;
		}
		avail = min(n, span);
		for (i = 0; i < avail; i++)
			if (qcow2_refcount_get(e->data, q->h.refcount_order,
					       idx + i))
				break;
		avail = i;
		ret = reserve_ahead(q, (c + avail) << q->cluster_bits);
		if (ret) {
			qcow2_cache_put(&q->rbc, e);
			return ret;
		}
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

static void set_l1e(struct qcow2_dev *q, u64 l1i, u64 l1e)
{
	/* Whoever reads the entry (qcow2_l1e()) finds the table whole. */
	smp_store_release(&q->l1[l1i], cpu_to_be64(l1e));
	mark_range(q->l1_dirty, l1i, 1);
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
 * their refcounts already say so. A new table is visible (to lookups and
 * to write-back) only once it holds all of its entries; if anything fails
 * before, the L1 entry still names the old table and the new cluster is
 * at worst leaked.
 */
int qcow2_l2_for_write(struct qcow2_dev *q, u64 l1i,
		       struct qcow2_cache_entry **out)
{
	u64 l1e = be64_to_cpu(q->l1[l1i]), old = l1e & QCOW2_L1E_OFFSET_MASK;
	struct qcow2_cache_entry *ne, *oe = NULL;
	u64 noff;
	long n;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	if (old && (l1e & QCOW2_OFLAG_COPIED)) {
		ret = qcow2_cache_get(&q->l2c, old, true, l1i, out);
		/*
		 * Validated as the image had it; from now on its entries may
		 * name clusters the allocator hands out.
		 */
		if (!ret)
			set_bit(l1i, q->l2_ours);
		return ret;
	}

	if (old) {
		/* The old table's drop, queued once the L1 entry moved. */
		ret = qcow2_free_reserve(q, 1);
		if (ret)
			return ret;
		ret = qcow2_cache_get(&q->l2c, old, true, l1i, &oe);
		if (ret)
			return ret;
	}
	n = qcow2_alloc_clusters(q, 1, &noff);
	ret = n < 0 ? n : qcow2_cache_get_new(&q->l2c, noff, &ne);
	if (ret)
		goto put_old;
	if (oe)
		memcpy(ne->data, oe->data, q->cluster_size);
	else
		memset(ne->data, 0, q->cluster_size);
	qcow2_cache_publish(&q->l2c, ne);
	set_bit(l1i, q->l2_ours);
	set_l1e(q, l1i, noff | QCOW2_OFLAG_COPIED);
	if (oe) {
		qcow2_cache_put(&q->l2c, oe);
		oe = NULL;
		atomic64_inc(&q->stats.cow_clusters);
		ret = qcow2_free_later(q, old);
		/* Room was made above. */
		if (WARN_ON_ONCE(ret)) {
			qcow2_cache_put(&q->l2c, ne);
			return ret;
		}
	}
	*out = ne;
	return 0;

put_old:
	if (oe)
		qcow2_cache_put(&q->l2c, oe);
	return ret;
}
