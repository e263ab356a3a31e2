// SPDX-License-Identifier: GPL-2.0
/*
 * Attached images: validation at attach, the /dev/qcow2N gendisk, sysfs
 * attributes, detach (now, or at the last close), and the attach, detach,
 * status and list commands of /dev/qcow2-control.
 */
#include "qcow2.h"

#include <linux/blkdev.h>
#include <linux/cpumask.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/* Minors per device: the disk and 15 partitions. */
#define QCOW2_PART_SHIFT	4

/* Defaults: L2 tables to map 32 GiB of 64 KiB clusters, a quarter of
 * that for refcount blocks (QEMU's ratio); never fewer than 4 tables.
 */
#define QCOW2_DEFAULT_L2_CACHE		(4ULL << 20)
#define QCOW2_MIN_CACHE_TABLES		4
#define QCOW2_MAX_CACHE_BYTES		(1ULL << 30)

/* Metadata and caches of a backing chain's levels, together (load_chain()). */
#define QCOW2_MAX_CHAIN_BYTES		(1ULL << 30)

static int qcow2_major;
static DEFINE_MUTEX(qcow2_devs_lock);
static DEFINE_IDR(qcow2_devs);
/* Runs deferred detaches; drained before the module goes. */
static struct workqueue_struct *qcow2_autoclear_wq;

static u64 clusters_for(struct qcow2_dev *q, u64 bytes)
{
	return DIV_ROUND_UP(bytes, q->cluster_size);
}

/* Check each entry of @table with @check; count those that name a table. */
static int check_table_entries(struct qcow2_dev *q, const __be64 *table,
			       u64 entries,
			       int (*check)(u64 e, u32 cluster_bits,
					    u64 file_size,
					    struct qcow2_err *err),
			       u64 mask, u64 file_size, u64 *used,
			       struct qcow2_err *err)
{
	u64 i, e;
	int ret;

	for (i = 0; i < entries; i++) {
		e = be64_to_cpu(table[i]);
		ret = check(e, q->cluster_bits, file_size, err);
		if (ret)
			return ret;
		if (e & mask)
			(*used)++;
		if (!(i & 65535))
			cond_resched();
	}
	return 0;
}

/* Record the tables @table's entries name as metadata of @kind. */
static int map_children(struct qcow2_dev *q, const __be64 *table, u64 entries,
			u64 mask, enum qcow2_meta_kind kind,
			struct qcow2_err *err)
{
	u64 i, off;
	int ret;

	for (i = 0; i < entries; i++) {
		off = be64_to_cpu(table[i]) & mask;
		if (!off)
			continue;
		ret = qcow2_meta_map_add(&q->meta, off >> q->cluster_bits, kind,
					 q->cluster_bits, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* The L1 table of @q->l1_entries entries at @l1_off: the active one, or a snapshot's. */
static int load_l1(struct qcow2_dev *q, u64 l1_off, u64 file_size, u64 *used,
		   struct qcow2_err *err)
{
	size_t bytes = round_up((u64)q->l1_entries * 8, SECTOR_SIZE);
	int ret;

	/*
	 * Whole sectors, read whole: the L1 table's clusters are its own,
	 * so the bytes past its last entry are written back as they were.
	 */
	q->l1 = qcow2_buf_alloc(bytes, GFP_KERNEL);
	q->l1_dirty = qcow2_piece_map(q->l1_entries);
	q->l1_unsynced = qcow2_piece_map(q->l1_entries);
	q->l2_ours = bitmap_zalloc(q->l1_entries + 1, GFP_KERNEL);
	if (!q->l1 || !q->l1_dirty || !q->l1_unsynced || !q->l2_ours)
		return qcow2_fail(err, ENOMEM, "out of memory for the L1 table");
	memset(q->l1, 0, bytes);
	if (!q->l1_entries)
		return 0;
	ret = qcow2_read_meta(q, q->l1, bytes, l1_off);
	if (ret)
		return qcow2_fail(err, -ret, "cannot read the L1 table");
	return check_table_entries(q, q->l1, q->l1_entries, qcow2_l1e_check,
				   QCOW2_L1E_OFFSET_MASK, file_size, used, err);
}

static int load_reftable(struct qcow2_dev *q, u64 file_size, u64 *used,
			 struct qcow2_err *err)
{
	int ret;

	q->reft_entries = ((u64)q->h.refcount_table_clusters <<
			   q->cluster_bits) / 8;
	q->reftable = qcow2_buf_alloc(q->reft_entries * 8, GFP_KERNEL);
	q->reft_dirty = qcow2_piece_map(q->reft_entries);
	q->reft_unsynced = qcow2_piece_map(q->reft_entries);
	if (!q->reftable || !q->reft_dirty || !q->reft_unsynced)
		return qcow2_fail(err, ENOMEM, "out of memory for the refcount table");
	ret = qcow2_read_meta(q, q->reftable, q->reft_entries * 8,
			      q->h.refcount_table_offset);
	if (ret)
		return qcow2_fail(err, -ret, "cannot read the refcount table");
	return check_table_entries(q, q->reftable, q->reft_entries,
				   qcow2_reft_check, QCOW2_REFT_OFFSET_MASK,
				   file_size, used, err);
}

/* A window onto the snapshot table: entries are read 64 KiB at a time. */
#define QCOW2_SNAPSHOT_WINDOW	SZ_64K

static int window_at(struct qcow2_dev *q, u8 *win, u64 *wstart, u64 pos,
		     const u8 **p)
{
	int ret;

	if (pos < *wstart ||
	    pos + QCOW2_SNAPSHOT_HEADER_LEN > *wstart + QCOW2_SNAPSHOT_WINDOW) {
		*wstart = round_down(pos, SECTOR_SIZE);
		ret = qcow2_read_meta(q, win, QCOW2_SNAPSHOT_WINDOW, *wstart);
		if (ret)
			return ret;
	}
	*p = win + (pos - *wstart);
	return 0;
}

/*
 * Snapshot L1 tables are metadata: no data write may land on them. Only
 * the 40 bytes that locate each entry's L1 table and the entry's length
 * are read; the table's size is capped as QEMU caps it.
 */
static int load_snapshots(struct qcow2_dev *q, u64 file_size,
			  struct qcow2_err *err)
{
	u64 pos = q->h.snapshots_offset, start = pos, wstart = U64_MAX;
	struct qcow2_snapshot s;
	const u8 *p;
	u8 *win;
	u32 i;
	int ret = 0;

	if (!q->h.nb_snapshots)
		return 0;
	win = qcow2_buf_alloc(QCOW2_SNAPSHOT_WINDOW, GFP_KERNEL);
	if (!win)
		return qcow2_fail(err, ENOMEM, "out of memory");
	for (i = 0; i < q->h.nb_snapshots; i++) {
		if (pos + QCOW2_SNAPSHOT_HEADER_LEN > file_size) {
			ret = qcow2_fail(err, EINVAL,
					 "snapshot table runs past the end of the file");
			break;
		}
		ret = window_at(q, win, &wstart, pos, &p);
		if (ret) {
			qcow2_fail(err, -ret, "cannot read the snapshot table");
			break;
		}
		ret = qcow2_snapshot_decode(&s, p, q->cluster_bits, file_size,
					    err);
		if (ret)
			break;
		qcow2_meta_map_add_range(&q->meta,
					 s.l1_table_offset >> q->cluster_bits,
					 clusters_for(q, (u64)s.l1_size * 8),
					 QCOW2_META_SNAPSHOT_L1);
		if (pos + s.entry_len > file_size) {
			ret = qcow2_fail(err, EINVAL,
					 "snapshot table runs past the end of the file");
			break;
		}
		pos += round_up(s.entry_len, 8);
		if (pos - start > QCOW2_MAX_SNAPSHOT_TABLE_BYTES) {
			ret = qcow2_fail(err, EFBIG,
					 "snapshot table exceeds the limit of %llu bytes",
					 QCOW2_MAX_SNAPSHOT_TABLE_BYTES);
			break;
		}
		cond_resched();
	}
	kvfree(win);
	if (!ret)
		qcow2_meta_map_add_range(&q->meta, start >> q->cluster_bits,
					 clusters_for(q, pos - (start & ~(u64)(q->cluster_size - 1))),
					 QCOW2_META_SNAPSHOTS);
	return ret;
}

/*
 * Where the metadata is: the tables of many clusters as ranges, checked
 * against each other; then every L2 table and refcount block, checked
 * against those and each other (overlap.c).
 */
static int load_meta_map(struct qcow2_dev *q, u64 file_size, u64 used,
			 struct qcow2_err *err)
{
	int ret;

	if (qcow2_meta_map_init(&q->meta, 4 + q->h.nb_snapshots, used))
		return qcow2_fail(err, ENOMEM, "out of memory for the metadata map");
	qcow2_meta_map_add_range(&q->meta, 0, 1, QCOW2_META_HEADER);
	qcow2_meta_map_add_range(&q->meta,
				 q->h.l1_table_offset >> q->cluster_bits,
				 clusters_for(q, (u64)q->h.l1_size * 8),
				 QCOW2_META_L1);
	qcow2_meta_map_add_range(&q->meta,
				 q->h.refcount_table_offset >> q->cluster_bits,
				 q->h.refcount_table_clusters,
				 QCOW2_META_REFTABLE);
	ret = load_snapshots(q, file_size, err);
	if (!ret)
		ret = qcow2_meta_map_seal(&q->meta, q->cluster_bits, err);
	if (!ret)
		ret = map_children(q, q->reftable, q->reft_entries,
				   QCOW2_REFT_OFFSET_MASK, QCOW2_META_REFBLOCK,
				   err);
	if (!ret)
		ret = map_children(q, q->l1, q->l1_entries,
				   QCOW2_L1E_OFFSET_MASK, QCOW2_META_L2, err);
	return ret;
}

/* Bytes of a snapshot table entry, at most: header, extra data, id, name. */
#define QCOW2_SNAPSHOT_ENTRY_MAX	(QCOW2_SNAPSHOT_HEADER_LEN + \
					 QCOW2_MAX_SNAPSHOT_EXTRA + 2 * 65535)

/*
 * Find the snapshot whose id is @want, or else whose name is (QEMU's
 * order), and make its L1 table and disk size the ones the device shows.
 * Every entry passed is decoded and checked; the walk stops at the limit
 * load_snapshots() applies to the table's size, whichever runs first.
 */
static int select_snapshot(struct qcow2_dev *q, const char *want,
			   u64 file_size, u64 *l1_off, struct qcow2_err *err)
{
	size_t wlen = strlen(want), span;
	u64 pos, start;
	struct qcow2_snapshot s;
	const u8 *p, *str;
	u32 i, pass, len;
	u8 *buf;
	int ret = 0;

	buf = qcow2_buf_alloc(QCOW2_SNAPSHOT_ENTRY_MAX + 2 * SECTOR_SIZE,
			      GFP_KERNEL);
	if (!buf)
		return qcow2_fail(err, ENOMEM, "out of memory");
	for (pass = 0; pass < 2; pass++) {
		pos = q->h.snapshots_offset;
		for (i = 0; i < q->h.nb_snapshots; i++) {
			start = round_down(pos, SECTOR_SIZE);
			p = buf + (pos - start);
			if (pos + QCOW2_SNAPSHOT_HEADER_LEN > file_size) {
				ret = qcow2_fail(err, EINVAL,
						 "snapshot table runs past the end of the file");
				goto out;
			}
			/* The fixed part, then all of the entry it describes. */
			span = pos - start + QCOW2_SNAPSHOT_HEADER_LEN;
			ret = qcow2_read_meta(q, buf, round_up(span, SECTOR_SIZE),
					      start);
			if (!ret) {
				ret = qcow2_snapshot_decode(&s, p, q->cluster_bits,
							    file_size, err);
				if (ret)
					goto out;
				if (pos + s.entry_len > file_size) {
					ret = qcow2_fail(err, EINVAL,
							 "snapshot table runs past the end of the file");
					goto out;
				}
				span = pos - start + s.entry_len;
				ret = qcow2_read_meta(q, buf,
						      round_up(span, SECTOR_SIZE),
						      start);
			}
			if (ret) {
				qcow2_fail(err, -ret, "cannot read the snapshot table");
				goto out;
			}
			str = p + qcow2_snapshot_id_pos(&s);
			len = s.id_len;
			if (pass) {
				str += s.id_len;
				len = s.name_len;
			}
			if (len == wlen && !memcmp(str, want, wlen))
				goto found;
			pos += round_up(s.entry_len, 8);
			if (pos - q->h.snapshots_offset >
			    QCOW2_MAX_SNAPSHOT_TABLE_BYTES) {
				ret = qcow2_fail(err, EFBIG,
						 "snapshot table exceeds the limit of %llu bytes",
						 QCOW2_MAX_SNAPSHOT_TABLE_BYTES);
				goto out;
			}
			cond_resched();
		}
	}
	ret = qcow2_fail(err, ENOENT, "no snapshot has the id or name '%*pE'",
			 (int)min_t(size_t, wlen, 64), want);
	goto out;

found:
	/*
	 * The device keeps the image's size, as QEMU shows a snapshot
	 * (qemu-img convert -l, qemu-nbd -l): what the snapshot's L1 table
	 * does not reach (the image grew since) is unallocated, map_read().
	 */
	q->l1_entries = s.l1_size;
	*l1_off = s.l1_table_offset;
	q->snapshot = i + 1;
	q->snapshot_id = kmemdup_nul(p + qcow2_snapshot_id_pos(&s), s.id_len,
				     GFP_KERNEL);
	if (!q->snapshot_id)
		ret = qcow2_fail(err, ENOMEM, "out of memory");
out:
	kvfree(buf);
	return ret;
}

/* The image's backing format, into @q->backing_fmt ("" if it names none). */
static int load_backing_name(struct qcow2_dev *q, struct qcow2_err *err)
{
	u64 n = qcow2_header_backing_bytes(&q->h);
	struct qcow2_backing_name *b;
	u8 *buf;
	int ret;

	if (!n)
		return 0;
	buf = qcow2_buf_alloc(n, GFP_KERNEL);
	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!buf || !b) {
		ret = qcow2_fail(err, ENOMEM, "out of memory");
		goto out;
	}
	ret = qcow2_read_meta(q, buf, round_up(n, SECTOR_SIZE), 0);
	if (ret) {
		qcow2_fail(err, -ret, "cannot read the header");
		goto out;
	}
	ret = qcow2_header_backing(&q->h, buf, n, b, err);
	if (!ret)
		strscpy(q->backing_fmt, b->format, sizeof(q->backing_fmt));
out:
	kfree(b);
	kvfree(buf);
	return ret;
}

static unsigned int cache_tables(struct qcow2_dev *q, u64 bytes)
{
	return max_t(u64, QCOW2_MIN_CACHE_TABLES, bytes >> q->cluster_bits);
}

/*
 * Read and check everything the driver keeps in memory: the header, the L1
 * and refcount tables, the snapshot table. Nothing is written.
 */
static int qcow2_load(struct qcow2_dev *q, const struct qcow2_attach *a,
		      const char *snapshot, struct qcow2_err *err)
{
	u64 file_size = i_size_read(file_inode(q->file)), l2_bytes, rb_bytes;
	u64 used = 0, l1_off;
	size_t len = min_t(u64, file_size, 4096);
	u8 *buf;
	int ret;

	buf = qcow2_buf_alloc(4096, GFP_KERNEL);
	if (!buf)
		return qcow2_fail(err, ENOMEM, "out of memory");
	ret = qcow2_read_meta(q, buf, 4096, 0);
	if (ret)
		qcow2_fail(err, -ret, "cannot read the header");
	else
		ret = qcow2_header_decode(&q->h, buf, len, err);
	kvfree(buf);
	if (ret)
		return ret;
	ret = qcow2_header_check(&q->h, file_size, err);
	if (ret)
		return ret;
	if (!q->read_only &&
	    (q->h.incompatible_features & QCOW2_INCOMPAT_CORRUPT))
		return qcow2_fail(err, EUCLEAN,
				  "image is marked corrupt: repair it with 'qemu-img check -r all', or attach it read-only");
	if (!q->read_only && (q->h.incompatible_features & QCOW2_INCOMPAT_DIRTY))
		return qcow2_fail(err, EUCLEAN,
				  "image has the dirty bit set (lazy refcounts not written back): run 'qemu-img check -r all' on it first, or attach it read-only");

	q->cluster_bits = q->h.cluster_bits;
	q->cluster_size = 1U << q->cluster_bits;
	q->extl2 = q->h.incompatible_features & QCOW2_INCOMPAT_EXTL2;
	q->l2_bits = qcow2_l2_bits(q->cluster_bits, q->extl2);
	q->l2e_shift = q->extl2 ? 4 : 3;
	q->sc_bits = q->extl2 ? q->cluster_bits - 5 : q->cluster_bits;
	q->rb_bits = q->cluster_bits + 3 - q->h.refcount_order;
	q->attach_end = file_size;
	q->file_end = file_size;
	q->alloc_next = DIV_ROUND_UP(file_size, q->cluster_size);
	q->size = q->h.size;
	q->l1_entries = q->h.l1_size;
	l1_off = q->h.l1_table_offset;

	ret = load_backing_name(q, err);
	if (!ret && snapshot)
		ret = select_snapshot(q, snapshot, file_size, &l1_off, err);
	if (!ret)
		ret = load_reftable(q, file_size, &used, err);
	if (!ret)
		ret = load_l1(q, l1_off, file_size, &used, err);
	if (!ret)
		ret = load_meta_map(q, file_size, used, err);
	if (ret)
		return ret;

	l2_bytes = a->l2_cache_size ?: QCOW2_DEFAULT_L2_CACHE;
	rb_bytes = a->refcount_cache_size ?: l2_bytes / 4;
	/* A level below never reads a refcount block after attach. */
	if (q->level)
		rb_bytes = 0;
	if (l2_bytes > QCOW2_MAX_CACHE_BYTES || rb_bytes > QCOW2_MAX_CACHE_BYTES)
		return qcow2_fail(err, EINVAL, "cache size above the limit of %llu bytes",
				  QCOW2_MAX_CACHE_BYTES);
	ret = qcow2_cache_init(&q->l2c, q, "L2 table",
			       cache_tables(q, l2_bytes), qcow2_validate_l2);
	if (!ret)
		ret = qcow2_cache_init(&q->rbc, q, "refcount block",
				       cache_tables(q, rb_bytes), NULL);
	if (!ret && !q->read_only) {
		q->bounce = qcow2_buf_alloc(q->cluster_size, GFP_KERNEL);
		if (!q->bounce)
			ret = -ENOMEM;
	}
	if (ret)
		return qcow2_fail(err, -ret, "out of memory for the caches");
	return 0;
}

/*
 * All I/O to the image goes around the page cache when the file system
 * says (STATX_DIOALIGN, as loop asks) that the file takes direct I/O in
 * 512-byte units, offsets, lengths and memory: the smallest unit of a
 * qcow2 image. Otherwise all of it is buffered, never a mix (file.c): a
 * file system that does not say may turn direct I/O it cannot do into
 * buffered I/O behind the driver's back (btrfs with checksums does).
 */
static bool can_use_dio(struct file *file)
{
	struct kstat st;

	if (!(file->f_mode & FMODE_CAN_ODIRECT))
		return false;
	if (vfs_getattr(&file->f_path, &st, STATX_DIOALIGN,
			AT_STATX_SYNC_AS_STAT) ||
	    !(st.result_mask & STATX_DIOALIGN))
		return false;
	return st.dio_offset_align && st.dio_offset_align <= SECTOR_SIZE &&
	       st.dio_mem_align && st.dio_mem_align <= SECTOR_SIZE;
}

static void qcow2_autoclear_work(struct work_struct *work);

static void qcow2_free_one(struct qcow2_dev *q)
{
	qcow2_ccache_destroy(q);
	qcow2_cache_destroy(&q->l2c);
	qcow2_cache_destroy(&q->rbc);
	qcow2_meta_map_free(&q->meta);
	bitmap_free(q->may_free);
	kvfree(q->l1);
	bitmap_free(q->l1_dirty);
	bitmap_free(q->l1_unsynced);
	bitmap_free(q->l2_ours);
	kvfree(q->reftable);
	bitmap_free(q->reft_dirty);
	bitmap_free(q->reft_unsynced);
	kvfree(q->bounce);
	kfree(q->snapshot_id);
	/*
	 * A kernel thread's fput() (the autoclear worker's) leaves the
	 * release to a later work item, with the file's locks: release our
	 * own file now, so that they go with the device (a qemu-img commit
	 * right after the last close must not find them). A task's fput()
	 * runs before it returns to user space.
	 */
	if (q->file && (current->flags & PF_KTHREAD))
		__fput_sync(q->file);
	else if (q->file)
		fput(q->file);
	kfree(q);
}

/* An image and its backing chain. */
static void qcow2_free(struct qcow2_dev *q)
{
	struct qcow2_dev *next;

	for (; q; q = next) {
		next = q->backing;
		qcow2_free_one(q);
	}
}

static struct qcow2_dev *qcow2_dev_alloc(bool ro)
{
	struct qcow2_dev *q = kzalloc(sizeof(*q), GFP_KERNEL);

	if (!q)
		return NULL;
	q->index = -1;
	q->read_only = ro;
	mutex_init(&q->meta_lock);
	mutex_init(&q->hdr_lock);
	mutex_init(&q->sync_lock);
	mutex_init(&q->ccache_lock);
	INIT_WORK(&q->autoclear_work, qcow2_autoclear_work);
	INIT_DELAYED_WORK(&q->free_work, qcow2_free_work);
	return q;
}

/*
 * Our own open file of what @file names: its flags and position are the
 * driver's, and the open is checked against the rights of whoever opened
 * @file.
 */
static struct file *reopen(struct file *file, bool ro)
{
	return dentry_open(&file->f_path, (ro ? O_RDONLY : O_RDWR) | O_LARGEFILE,
			   file->f_cred);
}

static const char *const format_names[] = {
	[QCOW2_FORMAT_QCOW2] = "qcow2",
	[QCOW2_FORMAT_RAW] = "raw",
};

/*
 * What two descriptors must not share: the inode that holds a file's data.
 * Under overlayfs that is the upper or lower file's inode, not the
 * overlay's (a file reached through the merged directory and by its real
 * path is one file); for a block device, the disk's inode, not the node's
 * (two nodes may name one disk). Asked at each check: a copy-up changes
 * it.
 */
static struct inode *file_identity(struct file *file)
{
	if (S_ISBLK(file_inode(file)->i_mode))
		return file->f_mapping->host;
	return d_real_inode(file->f_path.dentry);
}

/*
 * File systems whose files show kernel state, not stored data: never an
 * image or a backing file. A raw level shows its bytes to whoever may read
 * the device, some of these files (/proc/kcore) open only for their
 * opener's capabilities, which an attach has, and writes to them change
 * the kernel. @file's real inode decides, not an overlay's.
 */
static const char *kernel_state_fs(struct file *file)
{
	const struct super_block *sb = file_identity(file)->i_sb;

	return qcow2_kernel_state_fs(sb->s_magic) ? sb->s_type->name : NULL;
}

/*
 * Level @level of a backing chain, below @above, from the caller's
 * descriptor @b. A qcow2 level is checked as an image of its own, loaded
 * read-only; a raw level is a regular file or a block device. Both are
 * locked as QEMU locks a backing file: readers welcome, writers not.
 */
static int open_level(struct qcow2_dev *top, struct qcow2_dev *above,
		      const struct qcow2_backing *b, unsigned int level,
		      const struct qcow2_attach *a, struct qcow2_dev **out,
		      struct qcow2_err *err)
{
	const char *holder, *fmt = format_names[b->format];
	struct qcow2_dev *q, *o;
	struct file *file;
	umode_t mode;
	int ret;

	if (above->backing_fmt[0] && strcmp(above->backing_fmt, fmt))
		return qcow2_fail(err, EINVAL,
				  "backing file %u is given as %s, but the image above says %*pE",
				  level, fmt, (int)strlen(above->backing_fmt),
				  above->backing_fmt);
	file = fget(b->fd);
	if (!file)
		return qcow2_fail(err, EBADF, "backing file %u: bad file descriptor",
				  level);
	mode = file_inode(file)->i_mode;
	ret = 0;
	if (!(file->f_mode & FMODE_READ))
		ret = qcow2_fail(err, EBADF, "backing file %u (%pD) is not open for reading",
				 level, file);
	else if ((!S_ISREG(mode) &&
		  !(S_ISBLK(mode) && b->format == QCOW2_FORMAT_RAW)) ||
		 !file->f_op->read_iter)
		ret = qcow2_fail(err, EINVAL,
				 "backing file %u (%pD) is not a regular file%s that takes kiocbs",
				 level, file,
				 b->format == QCOW2_FORMAT_RAW ? " or a block device" : "");
	else if (kernel_state_fs(file))
		ret = qcow2_fail(err, EINVAL,
				 "backing file %u (%pD) shows kernel state (%s), not stored data",
				 level, file, kernel_state_fs(file));
	/* Before any lock: a loop through the top would look like a writer. */
	for (o = top; !ret && o; o = o->backing) {
		if (file_identity(o->file) == file_identity(file))
			ret = qcow2_fail(err, ELOOP,
					 "backing chain loops: level %u is the same file as level %u",
					 level, o->level);
	}
	q = ret ? NULL : qcow2_dev_alloc(true);
	if (!ret && !q)
		ret = qcow2_fail(err, ENOMEM, "out of memory");
	if (ret) {
		fput(file);
		return ret;
	}
	*out = q;
	q->level = level;
	snprintf(q->tag, sizeof(q->tag), "backing file %u: ", level);
	q->file = reopen(file, true);
	if (IS_ERR(q->file)) {
		ret = PTR_ERR(q->file);
		q->file = NULL;
		ret = qcow2_fail(err, -ret, "backing file %u (%pD): cannot reopen it",
				 level, file);
		goto out;
	}
	q->use_dio = can_use_dio(q->file);
	ret = qcow2_image_lock(q->file, false, &holder);
	if (ret) {
		qcow2_fail(err, -ret, "backing file %u (%pD) is in use by a writer (%s lock held)",
			   level, file, holder);
		goto out;
	}
	ret = qcow2_file_settle(q);
	if (ret) {
		qcow2_fail(err, -ret, "backing file %u (%pD): cannot write back or drop its cached pages",
			   level, file);
		goto out;
	}
	if (b->format == QCOW2_FORMAT_RAW) {
		q->raw = true;
		q->size = round_up(qcow2_file_size(q->file), SECTOR_SIZE);
		goto out;
	}
	ret = qcow2_load(q, a, NULL, err);
	if (ret) {
		char msg[sizeof(err->msg)];

		strscpy(msg, err->msg, sizeof(msg));
		qcow2_fail(err, -ret, "backing file %u (%pD): %s", level, file,
			   msg);
	}
out:
	fput(file);
	return ret;
}

/*
 * What a level's metadata takes in memory for as long as it is attached,
 * as its images say: L1 and refcount tables and the metadata map.
 */
static u64 level_meta_bytes(const struct qcow2_dev *q)
{
	if (q->raw)
		return 0;
	return round_up((u64)q->l1_entries * 8, SECTOR_SIZE) +
	       q->reft_entries * 8 +
	       (u64)q->meta.max_ranges * sizeof(*q->meta.range) +
	       (q->meta.slot ? (8ULL << q->meta.slot_bits) : 0);
}

/*
 * ... and what its caches may take once filled: L2 tables and their
 * entries, the refcount cache's entries (a level never fills it), the
 * compressed-cluster cache.
 */
static u64 level_cache_bytes(struct qcow2_dev *q)
{
	if (q->raw)
		return 0;
	return (u64)q->l2c.nr * (q->cluster_size +
				 sizeof(struct qcow2_cache_entry) + 8) +
	       (u64)q->rbc.nr * (sizeof(struct qcow2_cache_entry) + 8) +
	       qcow2_ccache_max_bytes(q);
}

/*
 * The chain below @q, from the caller's descriptors: exactly as many
 * levels as the images name, no file twice (a loop), at most
 * QCOW2_MAX_BACKING_DEPTH, and the memory the levels may take (their
 * metadata, and their caches once full) together within
 * QCOW2_MAX_CHAIN_BYTES: one image alone may take about 106 MiB of
 * metadata at QEMU's limits, and 64 of them must not multiply that.
 */
static int load_chain(struct qcow2_dev *q, const struct qcow2_attach *a,
		      struct qcow2_err *err)
{
	struct qcow2_dev *above = q, *lvl;
	u64 meta = level_meta_bytes(q);
	struct qcow2_backing *bv;
	u32 n = a->backing_count, i;
	int ret = 0;

	if (!qcow2_has_backing(&q->h)) {
		if (n)
			return qcow2_fail(err, EINVAL,
					  "the image has no backing file, but %u were given",
					  n);
		return 0;
	}
	if (!n)
		return qcow2_fail(err, EINVAL,
				  "the image has a backing file, and no backing chain was given (qcow2ctl attach opens it)");
	if (n > QCOW2_MAX_BACKING_DEPTH)
		return qcow2_fail(err, E2BIG, "backing chain of %u levels exceeds the limit of %u",
				  n, QCOW2_MAX_BACKING_DEPTH);
	bv = memdup_array_user(u64_to_user_ptr(a->backing), n, sizeof(*bv));
	if (IS_ERR(bv))
		return qcow2_fail(err, -PTR_ERR(bv), "cannot read the backing chain");
	for (i = 0; i < n; i++) {
		if (bv[i].reserved || bv[i].format < QCOW2_FORMAT_QCOW2 ||
		    bv[i].format > QCOW2_FORMAT_RAW) {
			ret = qcow2_fail(err, EINVAL,
					 "backing file %u: unknown format %u or reserved bits set",
					 i + 1, bv[i].format);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (above->raw || !qcow2_has_backing(&above->h)) {
			ret = qcow2_fail(err, EINVAL,
					 "level %u has no backing file, but the chain given has %u levels",
					 i, n);
			goto out;
		}
		lvl = NULL;
		if (fatal_signal_pending(current)) {
			ret = qcow2_fail(err, EINTR, "interrupted");
			goto out;
		}
		ret = open_level(q, above, &bv[i], i + 1, a, &lvl, err);
		if (lvl)
			above->backing = lvl;
		if (ret)
			goto out;
		meta += level_meta_bytes(lvl) + level_cache_bytes(lvl);
		if (meta > QCOW2_MAX_CHAIN_BYTES) {
			ret = qcow2_fail(err, EFBIG,
					 "backing chain's metadata and caches exceed the limit of %llu bytes at level %u (a smaller L2 cache size may help)",
					 QCOW2_MAX_CHAIN_BYTES, i + 1);
			goto out;
		}
		above = lvl;
	}
	if (!above->raw && qcow2_has_backing(&above->h))
		ret = qcow2_fail(err, EINVAL,
				 "backing file %u names a backing file, but the chain given ends there",
				 n);
	q->depth = n;
out:
	kfree(bv);
	return ret;
}

/* The image file's path, as d_path() gives it, into @buf. */
static const char *image_path(struct qcow2_dev *q, char *buf, int len)
{
	char *p = d_path(&q->file->f_path, buf, len);

	return IS_ERR(p) ? "(unknown)" : p;
}

/*
 * The image's device and inode as userspace sees them (st_dev and st_ino
 * of stat(2): on overlayfs or btrfs they are not the inode's own), for
 * udev's links and qcow2ctl's "is in use by". Information only: if the
 * file system cannot say, both stay 0 ("unknown") and the attach goes on.
 */
static void image_identify(struct qcow2_dev *q)
{
	struct kstat st;

	if (vfs_getattr_nosec(&q->file->f_path, &st, STATX_INO,
			      AT_STATX_SYNC_AS_STAT))
		return;
	q->image_dev = st.dev;
	q->image_ino = st.ino;
}

/*
 * Tell udev what the device shows, as loop does once it has a file: a
 * change event after the disk is added, carrying the image's identity
 * (the attributes under qcow2/ say the same, for rules run later).
 */
static void announce(struct qcow2_dev *q)
{
	char dev[40], ino[40];
	char *envp[3];

	snprintf(dev, sizeof(dev), "QCOW2_IMAGE_DEV=%u:%u",
		 MAJOR(q->image_dev), MINOR(q->image_dev));
	snprintf(ino, sizeof(ino), "QCOW2_IMAGE_INODE=%llu", q->image_ino);
	envp[0] = dev;
	envp[1] = ino;
	envp[2] = NULL;
	kobject_uevent_env(&disk_to_dev(q->disk)->kobj, KOBJ_CHANGE, envp);
}

static struct qcow2_dev *dev_of(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t image_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	char *tmp = kmalloc(PATH_MAX, GFP_KERNEL);
	ssize_t ret;

	if (!tmp)
		return -ENOMEM;
	ret = sysfs_emit(buf, "%s\n", image_path(dev_of(dev), tmp, PATH_MAX));
	kfree(tmp);
	return ret;
}

/* The path of level 1, like loop's attribute; empty without one. */
static ssize_t backing_file_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct qcow2_dev *q = dev_of(dev);
	char *tmp;
	ssize_t ret;

	if (!q->backing)
		return sysfs_emit(buf, "\n");
	tmp = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!tmp)
		return -ENOMEM;
	ret = sysfs_emit(buf, "%s\n", image_path(q->backing, tmp, PATH_MAX));
	kfree(tmp);
	return ret;
}

/* Every level's path, one per line, as far as a page holds them. */
static ssize_t backing_chain_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct qcow2_dev *q = dev_of(dev);
	char *tmp = kmalloc(PATH_MAX, GFP_KERNEL);
	const char *path;
	int len = 0;

	if (!tmp)
		return -ENOMEM;
	for (q = q->backing; q; q = q->backing) {
		path = image_path(q, tmp, PATH_MAX);
		if (len + strlen(path) + 2 > PAGE_SIZE)
			break;
		len += sysfs_emit_at(buf, len, "%s\n", path);
	}
	kfree(tmp);
	return len;
}

static ssize_t snapshot_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	struct qcow2_dev *q = dev_of(dev);

	/* The id is the image's: escaped, so that it stays one line. */
	return sysfs_emit(buf, "%*pE\n",
			  q->snapshot_id ? (int)strlen(q->snapshot_id) : 0,
			  q->snapshot_id ?: "");
}

#define QCOW2_ATTR(name, fmt, expr)					\
static ssize_t name##_show(struct device *dev,				\
			   struct device_attribute *attr, char *buf)	\
{									\
	struct qcow2_dev *q = dev_of(dev);				\
									\
	return sysfs_emit(buf, fmt "\n", expr);				\
}									\
static DEVICE_ATTR_RO(name)

/* The image file's st_dev, as stat(2) reports it, as MAJ:MIN. */
static ssize_t image_dev_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	struct qcow2_dev *q = dev_of(dev);

	return sysfs_emit(buf, "%u:%u\n", MAJOR(q->image_dev),
			  MINOR(q->image_dev));
}

static DEVICE_ATTR_RO(image);
static DEVICE_ATTR_RO(image_dev);
static DEVICE_ATTR_RO(backing_file);
static DEVICE_ATTR_RO(backing_chain);
static DEVICE_ATTR_RO(snapshot);
QCOW2_ATTR(backing_depth, "%u", q->depth);
QCOW2_ATTR(cluster_size, "%u", q->cluster_size);
QCOW2_ATTR(version, "%u", q->h.version);
QCOW2_ATTR(read_only, "%d", q->read_only);
QCOW2_ATTR(corrupt, "%d", qcow2_is_corrupt(q));
QCOW2_ATTR(direct_io, "%d", q->use_dio);
QCOW2_ATTR(partscan, "%d", q->partscan);
QCOW2_ATTR(autoclear, "%d", READ_ONCE(q->autoclear));
QCOW2_ATTR(refcount_bits, "%u", 1U << q->h.refcount_order);
QCOW2_ATTR(l2_cache_size, "%llu", (u64)q->l2c.nr << q->cluster_bits);
QCOW2_ATTR(refcount_cache_size, "%llu", (u64)q->rbc.nr << q->cluster_bits);
QCOW2_ATTR(discard, "%d", q->can_unmap);
QCOW2_ATTR(discarded_clusters, "%llu", (u64)atomic64_read(&q->stats.discarded));
QCOW2_ATTR(freed_clusters, "%llu", (u64)atomic64_read(&q->stats.freed));
QCOW2_ATTR(reused_clusters, "%llu", (u64)atomic64_read(&q->stats.reused));
QCOW2_ATTR(image_inode, "%llu", q->image_ino);

static struct attribute *qcow2_attrs[] = {
	&dev_attr_image.attr,
	&dev_attr_image_dev.attr,
	&dev_attr_image_inode.attr,
	&dev_attr_cluster_size.attr,
	&dev_attr_version.attr,
	&dev_attr_read_only.attr,
	&dev_attr_corrupt.attr,
	&dev_attr_direct_io.attr,
	&dev_attr_partscan.attr,
	&dev_attr_autoclear.attr,
	&dev_attr_refcount_bits.attr,
	&dev_attr_l2_cache_size.attr,
	&dev_attr_refcount_cache_size.attr,
	&dev_attr_discard.attr,
	&dev_attr_discarded_clusters.attr,
	&dev_attr_freed_clusters.attr,
	&dev_attr_reused_clusters.attr,
	&dev_attr_backing_file.attr,
	&dev_attr_backing_chain.attr,
	&dev_attr_backing_depth.attr,
	&dev_attr_snapshot.attr,
	NULL,
};

static const struct attribute_group qcow2_attr_group = {
	.name	= "qcow2",
	.attrs	= qcow2_attrs,
};

static const struct attribute_group *qcow2_attr_groups[] = {
	&qcow2_attr_group,
	NULL,
};

int qcow2_open_disk(struct gendisk *disk)
{
	struct qcow2_dev *q = disk->private_data;
	int ret = 0;

	mutex_lock(&qcow2_devs_lock);
	/* While attaching too: add_disk() scans partitions, udev probes. */
	if (q->state == QCOW2_DEV_DETACHING)
		ret = -ENXIO;
	else
		q->opens++;
	mutex_unlock(&qcow2_devs_lock);
	return ret;
}

void qcow2_release_disk(struct gendisk *disk)
{
	struct qcow2_dev *q = disk->private_data;

	mutex_lock(&qcow2_devs_lock);
	if (!--q->opens && q->autoclear && q->state == QCOW2_DEV_LIVE) {
		/* del_gendisk() needs the open_mutex we are called under. */
		q->state = QCOW2_DEV_DETACHING;
		queue_work(qcow2_autoclear_wq, &q->autoclear_work);
	}
	mutex_unlock(&qcow2_devs_lock);
}

static const struct block_device_operations qcow2_fops = {
	.owner		= THIS_MODULE,
	.open		= qcow2_bdev_open,
	.release	= qcow2_bdev_release,
};

/*
 * Detach a device marked detaching (no opens, none allowed). Everything
 * cached goes to the image and is synced first, while the device still
 * stands: if that fails the device stays attached and the error is
 * returned, so that the user can free space (or fix the file system) and
 * detach again. @force drops what could not be written, and says so.
 */
static int qcow2_destroy(struct qcow2_dev *q, bool force)
{
	int ret = 0;

	/* Nothing is open: no discard can queue it again. */
	cancel_delayed_work_sync(&q->free_work);
	if (!q->read_only) {
		ret = qcow2_flush(q);
		if (ret && !force) {
			pr_err("qcow2%d: cannot detach: writing back metadata failed (%d); the device stays attached: free space or fix the image's file system, then detach again (--force drops the unwritten metadata)\n",
			       q->index, ret);
			mutex_lock(&qcow2_devs_lock);
			q->state = QCOW2_DEV_LIVE;
			q->autoclear = false;
			mutex_unlock(&qcow2_devs_lock);
			return ret;
		}
		if (ret)
			pr_err("qcow2%d: forced detach: metadata not written back (%d) is dropped; the image may have lost writes: run 'qemu-img check' on it\n",
			       q->index, ret);
	}
	del_gendisk(q->disk);
	if (!q->read_only && !ret)
		qcow2_trim_reserve(q);
	/* No timer of it may fire into the workqueue about to go. */
	cancel_delayed_work_sync(&q->free_work);
	destroy_workqueue(q->wq);
	put_disk(q->disk);
	blk_mq_free_tag_set(&q->tag_set);
	pr_info("qcow2%d: detached\n", q->index);

	mutex_lock(&qcow2_devs_lock);
	idr_remove(&qcow2_devs, q->index);
	mutex_unlock(&qcow2_devs_lock);
	qcow2_free(q);
	/* Taken at attach: the module stays while anything is attached. */
	module_put(THIS_MODULE);
	return 0;
}

static void qcow2_autoclear_work(struct work_struct *work)
{
	qcow2_destroy(container_of(work, struct qcow2_dev, autoclear_work),
		      false);
}

static int qcow2_add_disk(struct qcow2_dev *q)
{
	struct qcow2_limits lim = {
		.logical_block_size	= SECTOR_SIZE,
		.physical_block_size	= min_t(u32, q->cluster_size, PAGE_SIZE),
		.io_min			= q->cluster_size,
		.io_opt			= q->cluster_size,
		.max_hw_sectors		= 2048,
	};
	struct gendisk *disk;
	int ret;

	/*
	 * Discard and write-zeroes free clusters, and what is freed is
	 * punched out of the file: offered only when the file can take it.
	 * A request covers at most QCOW2_UNMAP_MAX_BYTES; meta_lock is held
	 * for one L2 table's part of it at a time (io.c).
	 */
	if (q->can_unmap) {
		lim.max_discard_sectors = QCOW2_UNMAP_MAX_BYTES >> SECTOR_SHIFT;
		lim.discard_granularity = q->cluster_size;
		lim.max_write_zeroes_sectors = QCOW2_UNMAP_MAX_BYTES >> SECTOR_SHIFT;
	}
	q->tag_set.ops = &qcow2_mq_ops;
	q->tag_set.nr_hw_queues = num_online_cpus();
	q->tag_set.queue_depth = 128;
	q->tag_set.numa_node = NUMA_NO_NODE;
	q->tag_set.cmd_size = sizeof(struct qcow2_cmd);
	q->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	q->tag_set.driver_data = q;
	ret = blk_mq_alloc_tag_set(&q->tag_set);
	if (ret)
		return ret;

	q->wq = alloc_workqueue("qcow2-%d", WQ_UNBOUND | WQ_MEM_RECLAIM, 0,
				q->index);
	if (!q->wq) {
		ret = -ENOMEM;
		goto free_tags;
	}
	disk = qcow2_alloc_disk(&q->tag_set, &lim, q);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto free_wq;
	}
	WRITE_ONCE(q->disk, disk);	/* chain_has_disk() */
	disk->major = qcow2_major;
	disk->first_minor = q->index << QCOW2_PART_SHIFT;
	disk->minors = 1 << QCOW2_PART_SHIFT;
	disk->fops = &qcow2_fops;
	disk->private_data = q;
	if (!q->partscan)
		disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, QCOW2_DEVICE_NAME "%d",
		 q->index);
	set_capacity(disk, q->size >> SECTOR_SHIFT);
	set_disk_ro(disk, q->read_only);
	ret = device_add_disk(NULL, disk, qcow2_attr_groups);
	if (ret)
		goto put_disk;
	return 0;

put_disk:
	WRITE_ONCE(q->disk, NULL);
	put_disk(disk);
free_wq:
	destroy_workqueue(q->wq);
free_tags:
	blk_mq_free_tag_set(&q->tag_set);
	return ret;
}

/*
 * Whether @file is the file of a level of @chain, from level @from on
 * (0: the image itself).
 */
static bool chain_has(struct qcow2_dev *chain, unsigned int from,
		      struct file *file)
{
	struct inode *inode = file_identity(file);

	for (; chain; chain = chain->backing)
		if (chain->level >= from && file_identity(chain->file) == inode)
			return true;
	return false;
}

/*
 * Whether a level of @chain is the disk of device @q (/dev/qcow2N). Under
 * qcow2_devs_lock; a device detaching may have put its disk already, and
 * has no openers that could have passed it.
 */
static bool chain_has_disk(struct qcow2_dev *chain, struct qcow2_dev *q)
{
	struct gendisk *disk = READ_ONCE(q->disk);	/* set while attaching */
	struct inode *inode;

	if (q->state == QCOW2_DEV_DETACHING || !disk)
		return false;
	for (chain = chain->backing; chain; chain = chain->backing) {
		inode = file_inode(chain->file);
		if (S_ISBLK(inode->i_mode) &&
		    I_BDEV(chain->file->f_mapping->host)->bd_disk == disk)
			return true;
	}
	return false;
}

/* Refcount blocks read at attach to find the last cluster in use. */
#define QCOW2_TAIL_SCAN_BLOCKS	64

/*
 * Where the allocator starts: past the end of the file, and past the last
 * cluster with a refcount (an image may count clusters in use beyond its
 * end; the allocator must never meet them, or it would walk them with
 * meta_lock held). That cluster is found by reading refcount blocks from
 * the last one down, at most QCOW2_TAIL_SCAN_BLOCKS of them whatever the
 * image says; beyond that bound the allocator starts past everything any
 * refcount block covers, where nothing can be in use. *@end is the
 * cluster after the last one in use, or 0 if the bound was reached.
 */
static int find_alloc_start(struct qcow2_dev *q, u64 *end)
{
	u64 top = q->reft_entries, r, off, i, from;
	unsigned int reads = 0;
	bool bounded = false;
	void *block;
	int ret = 0;

	*end = 0;
	while (top && !(be64_to_cpu(q->reftable[top - 1]) & QCOW2_REFT_OFFSET_MASK))
		top--;
	block = qcow2_buf_alloc(q->cluster_size, GFP_KERNEL);
	if (!block)
		return -ENOMEM;
	for (r = top; !*end && r--;) {
		off = be64_to_cpu(q->reftable[r]) & QCOW2_REFT_OFFSET_MASK;
		if (!off)
			continue;
		if (reads++ == QCOW2_TAIL_SCAN_BLOCKS) {
			bounded = true;
			break;
		}
		ret = qcow2_read_meta(q, block, q->cluster_size, off);
		if (ret) {
			pr_err("qcow2%d: cannot read the refcount block at 0x%llx: %d\n",
			       q->index, off, ret);
			break;
		}
		for (i = 1ULL << q->rb_bits; i--;) {
			if (qcow2_refcount_get(block, q->h.refcount_order, i)) {
				*end = (r << q->rb_bits) + i + 1;
				break;
			}
		}
		cond_resched();
	}
	kvfree(block);
	if (ret)
		return ret;
	/* Not found within the bound: past all that any block covers. */
	from = bounded ? top << q->rb_bits : *end;
	q->alloc_next = min(max(q->alloc_next, from),
			    QCOW2_MAX_HOST_OFFSET >> q->cluster_bits);
	return 0;
}

/*
 * The file grows ahead of the allocator (meta.c) and detach cuts the
 * reserve off; after a crash it is still there, a hole past the last
 * cluster with a refcount. The next read-write attach gives it back, but
 * only if nothing but a hole lies there: data past that point (written
 * before its refcount reached the disk) stays, leaked, for 'qemu-img
 * check -r leaks' to find. Every table the image names lies before the
 * new end, so the allocator, which starts there, never hands one out.
 */
static void trim_stale_reserve(struct qcow2_dev *q, u64 end)
{
	u64 size = i_size_read(file_inode(q->file));
	loff_t data;
	int ret;

	if (!end)
		return;
	end = max(end, qcow2_meta_map_end(&q->meta)) << q->cluster_bits;
	if (end >= size)
		return;
	data = vfs_llseek(q->file, end, SEEK_DATA);
	if (data != -ENXIO)
		return;
	ret = qcow2_file_resize(q, end);
	if (!ret)
		ret = qcow2_file_sync(q);
	if (ret) {
		pr_warn("qcow2%d: could not give back the %llu unused bytes at the end of the file (%d)\n",
			q->index, size - end, ret);
		return;
	}
	pr_info("qcow2%d: gave back %llu unused bytes at the end of the file (left by a crash)\n",
		q->index, size - end);
	q->attach_end = end;
	q->file_end = end;
	q->alloc_next = end >> q->cluster_bits;
}

/* The header update a read-write attach makes before any I/O. */
static int clear_autoclear(struct qcow2_dev *q)
{
	__be64 v = 0;
	int ret;

	if (q->h.version < 3 || !q->h.autoclear_features)
		return 0;
	/*
	 * The driver maintains none of the autoclear features (bitmaps);
	 * clearing them tells other tools their data is stale.
	 */
	ret = qcow2_write_header_field(q, &v, sizeof(v), 88);
	if (!ret) {
		mutex_lock(&q->meta_lock);
		ret = qcow2_sync(q);
		mutex_unlock(&q->meta_lock);
	}
	if (!ret) {
		pr_info("qcow2%d: cleared autoclear feature bits 0x%llx\n",
			q->index, q->h.autoclear_features);
		q->h.autoclear_features = 0;
	}
	return ret;
}

static int qcow2_attach(struct file *file, struct qcow2_attach *a,
			const char *snapshot)
{
	bool ro = a->flags & QCOW2_ATTACH_READ_ONLY;
	struct qcow2_err err = { .msg = "" };
	struct qcow2_dev *q, *other;
	const char *holder;
	int ret, id;
	u64 end;

	/* /proc/PID/mem is a regular file, without kiocbs (as loop checks). */
	if (!S_ISREG(file_inode(file)->i_mode) || !file->f_op->read_iter ||
	    (!ro && !file->f_op->write_iter)) {
		pr_err("attach %pD: not a regular file that takes kiocbs\n", file);
		return -EINVAL;
	}
	if (!(file->f_mode & FMODE_READ) ||
	    (!ro && !(file->f_mode & FMODE_WRITE))) {
		pr_err("attach %pD: file not open for %s\n", file,
		       ro ? "reading" : "reading and writing");
		return -EBADF;
	}
	if (kernel_state_fs(file)) {
		pr_err("attach %pD: the file shows kernel state (%s), not stored data\n",
		       file, kernel_state_fs(file));
		return -EINVAL;
	}
	/* The reopen below skips may_open(): refuse what it would. */
	if (!ro && IS_APPEND(file_inode(file))) {
		pr_err("attach %pD: the file is append-only\n", file);
		return -EPERM;
	}

	q = qcow2_dev_alloc(ro);
	if (!q)
		return -ENOMEM;
	q->partscan = a->flags & QCOW2_ATTACH_PARTSCAN;
	q->file = reopen(file, ro);
	if (IS_ERR(q->file)) {
		ret = PTR_ERR(q->file);
		q->file = NULL;
		pr_err("attach %pD: cannot reopen the file: %d\n", file, ret);
		goto free;
	}
	q->use_dio = can_use_dio(q->file);
	image_identify(q);
	ret = qcow2_image_lock(q->file, !ro, &holder);
	if (ret) {
		pr_err("attach %pD: image is in use by another process (%s lock held): stop it (QEMU, qemu-nbd, qemu-img) or detach the device that has it, then attach again\n",
		       file, holder);
		goto free;
	}
	/* What the page cache holds of the file goes to it, and goes. */
	ret = qcow2_file_settle(q);
	if (ret) {
		pr_err("attach %pD: cannot write back or drop the file's cached pages (%d): is it mapped by another process?\n",
		       file, ret);
		goto free;
	}
	/* Write-back errors of the file count from here (qcow2_file_sync()). */
	q->wb_seq = filemap_sample_wb_err(q->file->f_mapping);

	ret = qcow2_load(q, a, snapshot, &err);
	if (!ret)
		ret = load_chain(q, a, &err);
	if (ret) {
		pr_err("attach %pD: %s\n", file, err.msg);
		goto free;
	}

	mutex_lock(&qcow2_devs_lock);
	/*
	 * Two writers of one image would corrupt it, and a writer under a
	 * reader's caches would change what they say: checked here too, for
	 * file systems without the locks of qcow2_image_lock().
	 */
	idr_for_each_entry(&qcow2_devs, other, id) {
		const char *why = NULL;

		if (file_identity(other->file) == file_identity(q->file))
			why = "the image is attached";
		else if (!ro && chain_has(other, 1, q->file))
			why = "the image is a backing file";
		else if (!other->read_only &&
			 (chain_has(q, 1, other->file) ||
			  chain_has_disk(q, other)))
			why = "a backing file of the image is attached read-write";
		if (why) {
			mutex_unlock(&qcow2_devs_lock);
			pr_err("attach %pD: %s as (or under) /dev/qcow2%d\n",
			       file, why, id);
			ret = -EBUSY;
			goto free;
		}
	}
	if (a->flags & QCOW2_ATTACH_INDEX) {
		ret = a->index < QCOW2_MAX_DEVICES ?
		      idr_alloc(&qcow2_devs, q, a->index, a->index + 1,
				GFP_KERNEL) : -EINVAL;
		if (ret == -ENOSPC)
			ret = -EEXIST;
	} else {
		ret = idr_alloc(&qcow2_devs, q, 0, QCOW2_MAX_DEVICES,
				GFP_KERNEL);
	}
	if (ret < 0) {
		mutex_unlock(&qcow2_devs_lock);
		goto free;
	}
	for (other = q; other; other = other->backing)
		other->index = ret;
	/* Not visible to status, list and detach until it is whole. */
	q->state = QCOW2_DEV_ATTACHING;
	mutex_unlock(&qcow2_devs_lock);

	if (!ro) {
		ret = clear_autoclear(q);
		if (ret) {
			pr_err("attach %pD: cannot update the header: %d\n",
			       file, ret);
			goto unindex;
		}
		ret = find_alloc_start(q, &end);
		if (ret) {
			pr_err("attach %pD: cannot find where to allocate: %d\n",
			       file, ret);
			goto unindex;
		}
		trim_stale_reserve(q, end);
		q->can_unmap = qcow2_file_can_punch(q);
		ret = q->can_unmap ? qcow2_reuse_init(q) : 0;
		if (ret)
			goto unindex;
	}
	ret = qcow2_add_disk(q);
	if (ret)
		goto unindex;

	/* Pinned while attached: unloading would drop its metadata. */
	__module_get(THIS_MODULE);
	/* Before it is live: a detach could free the disk after that. */
	announce(q);
	mutex_lock(&qcow2_devs_lock);
	q->state = QCOW2_DEV_LIVE;
	mutex_unlock(&qcow2_devs_lock);
	a->index = q->index;
	pr_info("qcow2%d: attached %pD (%llu bytes, %u-byte clusters, version %u%s%s%s%*pE)\n",
		q->index, file, q->size, q->cluster_size, q->h.version,
		ro ? ", read-only" : "", q->use_dio ? ", direct I/O" : "",
		q->snapshot ? ", snapshot " : "",
		q->snapshot ? (int)strlen(q->snapshot_id) : 0,
		q->snapshot ? q->snapshot_id : "");
	for (other = q->backing; other; other = other->backing)
		pr_info("qcow2%d: backing file %u: %pD (%s, %llu bytes%s)\n",
			q->index, other->level, other->file,
			other->raw ? "raw" : "qcow2", other->size,
			other->use_dio ? ", direct I/O" : "");
	return 0;

unindex:
	mutex_lock(&qcow2_devs_lock);
	idr_remove(&qcow2_devs, q->index);
	mutex_unlock(&qcow2_devs_lock);
free:
	qcow2_free(q);
	return ret;
}

long qcow2_ctl_attach(unsigned int cmd, void __user *uarg)
{
	bool want_snap;
	struct qcow2_attach a;
	char *snapshot = NULL;
	struct file *file;
	int ret;

	ret = qcow2_ctl_copy_in(&a, sizeof(a), cmd, uarg);
	if (ret)
		return ret;
	want_snap = a.flags & QCOW2_ATTACH_SNAPSHOT;
	if ((a.flags & ~QCOW2_ATTACH_FLAGS_ALL) || a.reserved0 ||
	    a.reserved1 || memchr_inv(a.reserved, 0, sizeof(a.reserved)))
		return -EINVAL;
	if (!(a.flags & QCOW2_ATTACH_INDEX) && a.index)
		return -EINVAL;
	if (want_snap != !!a.snapshot ||
	    (want_snap && !(a.flags & QCOW2_ATTACH_READ_ONLY)) ||
	    (!a.backing_count != !a.backing))
		return -EINVAL;
	if (want_snap) {
		snapshot = strndup_user(u64_to_user_ptr(a.snapshot),
					QCOW2_MAX_SNAPSHOT_NAME + 1);
		if (IS_ERR(snapshot))
			return PTR_ERR(snapshot);
		if (!*snapshot) {
			kfree(snapshot);
			return -EINVAL;
		}
	}

	file = fget(a.fd);
	if (!file) {
		kfree(snapshot);
		return -EBADF;
	}
	ret = qcow2_attach(file, &a, snapshot);
	fput(file);
	kfree(snapshot);
	if (ret)
		return ret;
	return qcow2_ctl_copy_out(uarg, cmd, &a, sizeof(a));
}

long qcow2_ctl_detach(unsigned int cmd, void __user *uarg)
{
	struct qcow2_detach d;
	struct qcow2_dev *q;
	int ret;

	ret = qcow2_ctl_copy_in(&d, sizeof(d), cmd, uarg);
	if (ret)
		return ret;
	if ((d.flags & ~QCOW2_DETACH_FLAGS_ALL) ||
	    memchr_inv(d.reserved, 0, sizeof(d.reserved)))
		return -EINVAL;

	if ((d.flags & QCOW2_DETACH_DEFERRED) && (d.flags & QCOW2_DETACH_FORCE))
		return -EINVAL;

	mutex_lock(&qcow2_devs_lock);
	q = idr_find(&qcow2_devs, d.index);
	if (!q || q->state != QCOW2_DEV_LIVE) {
		mutex_unlock(&qcow2_devs_lock);
		return -ENXIO;
	}
	if (q->opens) {
		ret = -EBUSY;
		if (d.flags & QCOW2_DETACH_DEFERRED) {
			q->autoclear = true;
			ret = 0;
		}
		mutex_unlock(&qcow2_devs_lock);
		return ret;
	}
	q->state = QCOW2_DEV_DETACHING;
	mutex_unlock(&qcow2_devs_lock);
	return qcow2_destroy(q, d.flags & QCOW2_DETACH_FORCE);
}

long qcow2_ctl_status(unsigned int cmd, void __user *uarg)
{
	struct qcow2_status *s;
	struct qcow2_dev *q;
	const char *path;
	int ret;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	ret = qcow2_ctl_copy_in(s, sizeof(*s), cmd, uarg);
	if (ret)
		goto out;
	ret = -EINVAL;
	/* Out-only fields that were reserved (in: zero) before. */
	if (s->flags || s->image_dev_major || s->image_dev_minor ||
	    s->image_ino)
		goto out;

	mutex_lock(&qcow2_devs_lock);
	q = idr_find(&qcow2_devs, s->index);
	if (!q || q->state != QCOW2_DEV_LIVE) {
		mutex_unlock(&qcow2_devs_lock);
		ret = -ENXIO;
		goto out;
	}
	s->state = (q->read_only ? QCOW2_STATE_READ_ONLY : 0) |
		   (q->partscan ? QCOW2_STATE_PARTSCAN : 0) |
		   (q->autoclear ? QCOW2_STATE_AUTOCLEAR : 0) |
		   (q->use_dio ? QCOW2_STATE_DIRECT_IO : 0) |
		   (qcow2_is_corrupt(q) ? QCOW2_STATE_CORRUPT : 0) |
		   (q->backing ? QCOW2_STATE_BACKING : 0) |
		   (READ_ONCE(q->wb_err) ? QCOW2_STATE_WB_ERROR : 0) |
		   (q->snapshot ? QCOW2_STATE_SNAPSHOT : 0) |
		   (q->can_unmap ? QCOW2_STATE_DISCARD : 0);
	s->version = q->h.version;
	s->cluster_size = q->cluster_size;
	s->refcount_bits = 1U << q->h.refcount_order;
	s->size = q->size;
	s->incompatible_features = q->h.incompatible_features |
		(qcow2_is_corrupt(q) && q->h.version >= 3 ?
		 QCOW2_INCOMPAT_CORRUPT : 0);
	s->compatible_features = q->h.compatible_features;
	s->autoclear_features = q->h.autoclear_features;
	s->l2_cache_size = (u64)q->l2c.nr << q->cluster_bits;
	s->refcount_cache_size = (u64)q->rbc.nr << q->cluster_bits;
	s->reads = atomic64_read(&q->stats.reads);
	s->writes = atomic64_read(&q->stats.writes);
	s->read_bytes = atomic64_read(&q->stats.read_bytes);
	s->write_bytes = atomic64_read(&q->stats.write_bytes);
	s->flushes = atomic64_read(&q->stats.flushes);
	s->errors = atomic64_read(&q->stats.errors);
	s->alloc_clusters = atomic64_read(&q->stats.alloc_clusters);
	s->cow_clusters = atomic64_read(&q->stats.cow_clusters);
	s->l2_hits = atomic64_read(&q->l2c.hits);
	s->l2_misses = atomic64_read(&q->l2c.misses);
	s->refcount_hits = atomic64_read(&q->rbc.hits);
	s->refcount_misses = atomic64_read(&q->rbc.misses);
	s->metadata_writes = atomic64_read(&q->stats.metadata_writes);
	s->compression_type = q->h.compression_type;
	s->pad = 0;
	s->decompressed = atomic64_read(&q->stats.decompressed);
	s->decompressed_hits = atomic64_read(&q->stats.ccache_hits);
	s->discarded_clusters = atomic64_read(&q->stats.discarded);
	s->freed_clusters = atomic64_read(&q->stats.freed);
	s->reused_clusters = atomic64_read(&q->stats.reused);
	s->image_dev_major = MAJOR(q->image_dev);
	s->image_dev_minor = MINOR(q->image_dev);
	s->image_ino = q->image_ino;
	path = image_path(q, s->path, sizeof(s->path));
	if (path != s->path)
		memmove(s->path, path, strlen(path) + 1);
	mutex_unlock(&qcow2_devs_lock);
	ret = qcow2_ctl_copy_out(uarg, cmd, s, sizeof(*s));
out:
	kfree(s);
	return ret;
}

long qcow2_ctl_level(unsigned int cmd, void __user *uarg)
{
	struct qcow2_level *l;
	struct qcow2_dev *q;
	const char *path;
	u32 i;
	int ret;

	l = kzalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		return -ENOMEM;
	ret = qcow2_ctl_copy_in(l, sizeof(*l), cmd, uarg);
	if (ret)
		goto out;
	l->state = 0;		/* output only */
	ret = -EINVAL;
	if (l->flags || l->reserved1 ||
	    memchr_inv(l->reserved, 0, sizeof(l->reserved)))
		goto out;

	mutex_lock(&qcow2_devs_lock);
	q = idr_find(&qcow2_devs, l->index);
	if (!q || q->state != QCOW2_DEV_LIVE) {
		mutex_unlock(&qcow2_devs_lock);
		ret = -ENXIO;
		goto out;
	}
	l->depth = q->depth;
	for (i = 0; q && i < l->level; i++)
		q = q->backing;
	ret = -ENOENT;
	if (q) {
		l->format = q->raw ? QCOW2_FORMAT_RAW : QCOW2_FORMAT_QCOW2;
		l->version = q->raw ? 0 : q->h.version;
		l->cluster_size = q->raw ? 0 : q->cluster_size;
		l->size = q->size;
		l->snapshot = q->snapshot;
		l->state = (q->use_dio ? QCOW2_STATE_DIRECT_IO : 0) |
			   (qcow2_is_corrupt(q) ? QCOW2_STATE_CORRUPT : 0);
		path = image_path(q, l->path, sizeof(l->path));
		if (path != l->path)
			memmove(l->path, path, strlen(path) + 1);
		ret = 0;
	}
	mutex_unlock(&qcow2_devs_lock);
	if (!ret || ret == -ENOENT) {
		int cret = qcow2_ctl_copy_out(uarg, cmd, l, sizeof(*l));

		if (cret)
			ret = cret;
	}
out:
	kfree(l);
	return ret;
}

long qcow2_ctl_list(unsigned int cmd, void __user *uarg)
{
	struct qcow2_list l;
	struct qcow2_dev *q;
	u32 *idx, n = 0;
	int ret, id;

	ret = qcow2_ctl_copy_in(&l, sizeof(l), cmd, uarg);
	if (ret)
		return ret;
	if (l.flags || memchr_inv(l.reserved, 0, sizeof(l.reserved)))
		return -EINVAL;
	idx = kvmalloc_array(QCOW2_MAX_DEVICES, sizeof(*idx), GFP_KERNEL);
	if (!idx)
		return -ENOMEM;
	mutex_lock(&qcow2_devs_lock);
	idr_for_each_entry(&qcow2_devs, q, id)
		if (q->state == QCOW2_DEV_LIVE)
			idx[n++] = id;
	mutex_unlock(&qcow2_devs_lock);

	ret = 0;
	if (min(n, l.count) &&
	    copy_to_user(u64_to_user_ptr(l.indexes), idx,
			 min(n, l.count) * sizeof(*idx)))
		ret = -EFAULT;
	kvfree(idx);
	if (ret)
		return ret;
	l.count = n;
	return qcow2_ctl_copy_out(uarg, cmd, &l, sizeof(l));
}

int qcow2_dev_init(void)
{
	qcow2_autoclear_wq = alloc_workqueue("qcow2-autoclear", 0, 0);
	if (!qcow2_autoclear_wq)
		return -ENOMEM;
	qcow2_major = register_blkdev(0, QCOW2_DEVICE_NAME);
	if (qcow2_major < 0) {
		destroy_workqueue(qcow2_autoclear_wq);
		return qcow2_major;
	}
	return 0;
}

/* Module unload: nothing is attached (each device holds the module). */
void qcow2_dev_exit(void)
{
	destroy_workqueue(qcow2_autoclear_wq);
	idr_destroy(&qcow2_devs);
	unregister_blkdev(qcow2_major, QCOW2_DEVICE_NAME);
}
