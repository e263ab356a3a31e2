// SPDX-License-Identifier: GPL-2.0
/*
 * The request path: map a request's guest range onto extents of the image
 * file, allocate or copy clusters where a write needs it, and send the data
 * to the file through kiocbs, asynchronously with direct I/O when the file
 * allows it (as loop does).
 *
 * Each hardware queue has a worker that takes its requests in batches, as
 * loop's does: one wake-up for many requests. It sends a request itself
 * when the request maps to one host extent through a cached L2 table and
 * the file takes it without blocking (IOCB_NOWAIT); every other request
 * gets a work item of its own in the device's workqueue, where it may wait
 * for a table, for meta_lock or for the file. Requests are never sent from
 * the submitter's context: it may hold locks of a file system on this
 * device, whose classes the image's file system shares.
 *
 * A read or a write to clusters that are already allocated (and, for a
 * write, not shared with a snapshot) only looks up the L2 cache;
 * everything else takes the device's meta_lock. Host-contiguous clusters
 * become one file I/O.
 */
#include "qcow2.h"

#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>

enum qcow2_ext_kind {
	QCOW2_EXT_HOST,		/* read or write the file at @host */
	QCOW2_EXT_ZERO,		/* the guest bytes read as zeros */
	QCOW2_EXT_DONE,		/* already written (copy-on-write) */
	QCOW2_EXT_COMPRESSED,	/* decompress the cluster of L2 entry @host */
	QCOW2_EXT_BACKING,	/* what the levels below hold (map_below()) */
};

/* @img: the level whose file @host is in (map_below()), else unset */
struct qcow2_ext {
	enum qcow2_ext_kind kind;
	u64 host;
	u64 len;
	struct qcow2_dev *img;
};

/* A unit a write cannot take in place: any kind but data. */
#define QCOW2_MAP_SLOW	(-1)

/* Requests whose data goes to the image file: writes, and zeros as data. */
static bool rq_writes(struct request *rq)
{
	return req_op(rq) == REQ_OP_WRITE || req_op(rq) == REQ_OP_WRITE_ZEROES;
}

/* Bytes from @pos to the end of the guest range its L2 table maps. */
static u64 to_table_end(struct qcow2_dev *q, u64 pos)
{
	u64 span = 1ULL << (q->cluster_bits + q->l2_bits);

	return span - (pos & (span - 1));
}

static u64 unit_end(struct qcow2_dev *q, u64 p)
{
	return (p | ((1ULL << q->sc_bits) - 1)) + 1;
}

/*
 * The run of units from @pos (at most @len bytes, inside one L2 table)
 * that map the same way, with contiguous host offsets for data. With
 * @write, data counts only where it may be written in place (the entry has
 * COPIED); every other unit is QCOW2_MAP_SLOW. A compressed cluster is a
 * run of its own, and *@host its L2 entry. Caller holds the cache lock or
 * meta_lock, so entries do not change underneath.
 */
static int scan(struct qcow2_dev *q, const void *table, u64 pos, u64 len,
		bool write, u64 *host, u64 *run)
{
	u64 cmask = q->cluster_size - 1, p = pos, end = pos + len, cend, h;
	int k, k0 = QCOW2_MAP_SLOW;
	struct qcow2_l2e e;

	*host = 0;
	while (p < end) {
		qcow2_l2e_read(q, table, (p >> q->cluster_bits) &
			       ((1U << q->l2_bits) - 1), &e);
		cend = min(end, (p | cmask) + 1);
		if (p == pos && !write && (e.entry & QCOW2_OFLAG_COMPRESSED)) {
			*host = e.entry;
			*run = cend - pos;
			return QCOW2_MAP_COMPRESSED;
		}
		while (p < cend) {
			k = qcow2_l2e_map(e.entry, e.bitmap, q->extl2,
					  (p & cmask) >> q->sc_bits);
			if (write && (k != QCOW2_MAP_DATA ||
				      !(e.entry & QCOW2_OFLAG_COPIED)))
				k = QCOW2_MAP_SLOW;
			h = (e.entry & QCOW2_L2E_OFFSET_MASK) + (p & cmask);
			if (p == pos) {
				k0 = k;
				*host = h;
			} else if (k != k0 || (k == QCOW2_MAP_DATA &&
						h != *host + (p - pos))) {
				goto out;
			}
			p = min(cend, unit_end(q, p));
		}
	}
out:
	*run = p - pos;
	return k0;
}

/*
 * The cache had no room: every table in it is dirty and writing them back
 * failed (a full file system, a failing disk). Read the table for this
 * lookup only, so that reads and rewrites of allocated clusters go on
 * working. (If it was the table itself that could not be read, this
 * reads it again and fails again.)
 */
static int scan_uncached(struct qcow2_dev *q, u64 l1i, u64 l2off, u64 pos,
			 u64 len, bool write, struct qcow2_ext *ext, int *kind)
{
	void *table = qcow2_buf_alloc(q->cluster_size, GFP_NOIO);
	int ret;

	if (!table)
		return -ENOMEM;
	ret = qcow2_read_meta(q, table, q->cluster_size, l2off);
	if (!ret)
		ret = qcow2_validate_l2(q, l2off, table, l1i);
	if (!ret)
		*kind = scan(q, table, pos, len, write, &ext->host, &ext->len);
	kvfree(table);
	return ret;
}

/*
 * scan() over the L2 table at @l2off (for L1 index @l1i), the kind in
 * *@kind; with @nowait, -EAGAIN unless the table is cached.
 */
static int scan_cached(struct qcow2_dev *q, u64 l1i, u64 l2off, u64 pos,
		       u64 len, bool write, bool nowait, struct qcow2_ext *ext,
		       int *kind)
{
	struct qcow2_cache_entry *t;
	const void *table;
	int ret;

	table = qcow2_cache_peek(&q->l2c, l2off);
	if (table) {
		*kind = scan(q, table, pos, len, write, &ext->host, &ext->len);
		spin_unlock(&q->l2c.lock);
		return 0;
	}
	if (nowait)
		return -EAGAIN;
	ret = qcow2_cache_get(&q->l2c, l2off, false, l1i, &t);
	if (ret && !qcow2_is_corrupt(q))
		return scan_uncached(q, l1i, l2off, pos, len, write, ext, kind);
	if (ret)
		return ret;
	spin_lock(&q->l2c.lock);
	*kind = scan(q, t->data, pos, len, write, &ext->host, &ext->len);
	spin_unlock(&q->l2c.lock);
	qcow2_cache_put(&q->l2c, t);
	return 0;
}

/* With @nowait, -EAGAIN where it would wait or fail. */
static int map_read(struct qcow2_dev *q, u64 pos, u64 len, bool nowait,
		    struct qcow2_ext *ext)
{
	u64 l1i = pos >> (q->cluster_bits + q->l2_bits), l2off;
	int k, ret;

	len = min(len, to_table_end(q, pos));
again:
	/* Only a snapshot's L1 table can be shorter than the image. */
	l2off = l1i < q->l1_entries ? qcow2_l1e_offset(q, l1i) : 0;
	if (!l2off) {
		k = QCOW2_MAP_UNALLOCATED;
		ext->len = len;
	} else {
		ret = scan_cached(q, l1i, l2off, pos, len, false, nowait, ext,
				  &k);
		if (ret)
			return ret;
		/*
		 * A table without COPIED is copied before its first change,
		 * and the old one freed, punched and dropped from the cache
		 * once the new one is on disk: a lookup that missed the cache
		 * meanwhile read a hole, not the table. The L1 entry moved
		 * before the punch; when it has, look again.
		 */
		smp_rmb();
		if (qcow2_l1e_offset(q, l1i) != l2off)
			goto again;
	}

	switch (k) {
	case QCOW2_MAP_DATA:
		ext->kind = QCOW2_EXT_HOST;
		return 0;
	case QCOW2_MAP_UNALLOCATED:
		if (q->backing) {
			/* Lower levels' tables may need reading. */
			if (nowait)
				return -EAGAIN;
			ext->kind = QCOW2_EXT_BACKING;
			return 0;
		}
		fallthrough;
	case QCOW2_MAP_ZERO:
		ext->kind = QCOW2_EXT_ZERO;
		return 0;
	default:
		/* Decompression may wait for the file and for the cache. */
		if (nowait)
			return -EAGAIN;
		ext->kind = QCOW2_EXT_COMPRESSED;
		return 0;
	}
}

/*
 * Where [@pos, @pos + @len), which @q does not map, comes from: the first
 * run of it that one level below maps, or that reads as zeros (a zero
 * cluster, past a shorter level's end, below the last level), with
 * ext->img that level. A loop, not a recursion: a chain is up to
 * QCOW2_MAX_BACKING_DEPTH levels deep, and each level shortens the run to
 * what it maps one way, so one lookup per level finds it.
 */
static int map_below(struct qcow2_dev *q, u64 pos, u64 len,
		     struct qcow2_ext *ext)
{
	struct qcow2_dev *lvl;
	int ret;

	for (lvl = q->backing; lvl; lvl = lvl->backing) {
		if (pos >= lvl->size)
			break;
		len = min(len, lvl->size - pos);
		ext->img = lvl;
		if (lvl->raw) {
			ext->kind = QCOW2_EXT_HOST;
			ext->host = pos;
			ext->len = len;
			return 0;
		}
		ret = map_read(lvl, pos, len, false, ext);
		if (ret)
			return ret;
		if (ext->kind != QCOW2_EXT_BACKING)
			return 0;
		len = ext->len;
	}
	ext->kind = QCOW2_EXT_ZERO;
	ext->len = len;
	ext->img = NULL;
	return 0;
}

/*
 * What the levels below @q hold for [@pos, @pos + @len), into @buf, for
 * copy-on-write: synchronously, in the writer's context.
 */
static int read_below(struct qcow2_dev *q, u64 pos, u8 *buf, u64 len)
{
	struct qcow2_ext ext;
	struct iov_iter it;
	struct kvec kv;
	int ret;

	while (len) {
		ret = map_below(q, pos, len, &ext);
		if (ret)
			return ret;
		switch (ext.kind) {
		case QCOW2_EXT_HOST:
			ret = qcow2_read_meta(ext.img, buf, ext.len, ext.host);
			break;
		case QCOW2_EXT_ZERO:
			memset(buf, 0, ext.len);
			break;
		case QCOW2_EXT_COMPRESSED:
			kv.iov_base = buf;
			kv.iov_len = ext.len;
			iov_iter_kvec(&it, ITER_DEST, &kv, 1, ext.len);
			/* Levels below never change: no recheck. */
			ret = qcow2_compressed_read(ext.img, ext.host,
						    pos & (ext.img->cluster_size - 1),
						    ext.len, &it, false);
			break;
		default:
			ret = -EIO;
			break;
		}
		if (ret)
			return ret;
		buf += ext.len;
		pos += ext.len;
		len -= ext.len;
	}
	return 0;
}

/*
 * Can the cluster of @e, at guest offset @pos, take a brand-new host
 * cluster for this write?
 */
static bool fresh(struct qcow2_dev *q, const struct qcow2_l2e *e, u64 pos)
{
	if (e->entry & (QCOW2_OFLAG_COMPRESSED | QCOW2_L2E_OFFSET_MASK))
		return false;
	/* Nothing below, or all of the cluster past the level's end: zeros. */
	if (!q->backing || (pos & ~(q->cluster_size - 1)) >= q->backing->size)
		return true;
	/*
	 * Over a backing file only a cluster that reads zeros everywhere:
	 * one that shows data from below, even if this write covers all of
	 * it, goes through rmw(), which publishes only after its data is
	 * written. Published first, a failed or unfinished data write would
	 * leave zeros where the level's data was.
	 */
	return q->extl2 ? (e->bitmap >> 32) == QCOW2_L2B_ALLOC_ALL :
			  !!(e->entry & QCOW2_OFLAG_ZERO);
}

/*
 * First writes: give the run of fresh clusters from @pos new host clusters,
 * contiguous where the allocator can, and publish them at once, before the
 * data write is sent. A new cluster comes from the end of the file or
 * from a run of free clusters that are holes in the file (meta.c), so it
 * reads as zeros until the data lands (the sync that puts the L2 table on
 * disk covers the punch that made the hole), and zeros is what the cluster read as
 * before (fresh()): a data write that fails, or a crash before it lands,
 * loses nothing the device had shown.
 */
static int alloc_fresh(struct qcow2_dev *q, struct qcow2_cache_entry *t,
		       u64 pos, u64 len, struct qcow2_ext *ext)
{
	u64 cmask = q->cluster_size - 1, p, n = 0, host, i;
	u32 l2i = (pos >> q->cluster_bits) & ((1U << q->l2_bits) - 1);
	struct qcow2_l2e e;
	long got;

	for (p = pos; p < pos + len; p = (p | cmask) + 1, n++) {
		qcow2_l2e_read(q, t->data, l2i + n, &e);
		if (!fresh(q, &e, p))
			break;
	}
	got = qcow2_alloc_clusters(q, n, &host);
	if (got < 0)
		return got;
	spin_lock(&q->l2c.lock);
	for (i = 0; i < got; i++) {
		e.entry = (host + (i << q->cluster_bits)) | QCOW2_OFLAG_COPIED;
		e.bitmap = q->extl2 ? QCOW2_L2B_ALLOC_ALL : 0;
		qcow2_l2e_write(q, t->data, l2i + i, &e);
	}
	spin_unlock(&q->l2c.lock);
	qcow2_cache_mark_dirty(&q->l2c, t);

	ext->kind = QCOW2_EXT_HOST;
	ext->host = host + (pos & cmask);
	ext->len = min(len, ((u64)got << q->cluster_bits) - (pos & cmask));
	return 0;
}

/* The host clusters the compressed data @d touches. */
static unsigned int compressed_clusters(struct qcow2_dev *q,
					const struct qcow2_compressed *d)
{
	return ((d->offset + d->bytes - 1) >> q->cluster_bits) -
	       (d->offset >> q->cluster_bits) + 1;
}

/*
 * Drop the references of the compressed L2 entry @l2e, just replaced, whose
 * data @d passed qcow2_compressed_check(): one on every host cluster the
 * data touches, as QEMU counts them (a host cluster holds the data of
 * several compressed clusters, and a snapshot may share each). The drops
 * wait for the new L2 entry like every other; the caller made room for
 * them in the queue.
 */
static int free_compressed(struct qcow2_dev *q, u64 l2e,
			   const struct qcow2_compressed *d)
{
	u64 cl = d->offset >> q->cluster_bits;
	unsigned int i;
	int ret;

	qcow2_compressed_forget(q, l2e);
	for (i = 0; i < compressed_clusters(q, d); i++) {
		ret = qcow2_free_later(q, (cl + i) << q->cluster_bits);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Every other write that changes the mapping of one cluster: copy-on-write
 * of a cluster shared with a snapshot or compressed, a zero cluster with a
 * host cluster, subclusters not yet allocated, first writes to a cluster
 * that shows a backing file's data. Builds the cluster in the bounce
 * buffer, writes it (synchronously: in an image without a backing file
 * these are rare) and then the L2 entry; the data must reach the disk
 * before the entry does (meta.c's barrier). If anything fails before the
 * entry changes, the cluster reads as it did, except that in a cluster
 * written in place the request's own bytes in units that were data already
 * may hold part of the new data, as after any failed write.
 */
static int rmw(struct qcow2_dev *q, struct qcow2_cache_entry *t, u64 pos,
	       u64 len, struct iov_iter *iter, struct qcow2_ext *ext)
{
	u64 cmask = q->cluster_size - 1, coff = pos & cmask, u, ue, s, se, ws, we;
	u32 l2i = (pos >> q->cluster_bits) & ((1U << q->l2_bits) - 1);
	u64 n = min(len, q->cluster_size - coff), old, target, was, touched;
	bool inplace, need_read = false, compressed, keep;
	struct qcow2_compressed cd = {};
	unsigned int nfree;
	u8 *buf = q->bounce;
	struct iov_iter it = *iter;
	struct qcow2_l2e e;
	long got;
	int k, ret;

	qcow2_l2e_read(q, t->data, l2i, &e);
	compressed = e.entry & QCOW2_OFLAG_COMPRESSED;
	/*
	 * With subclusters over a backing file, only the units the write
	 * touches become data; the others keep falling through.
	 */
	keep = q->extl2 && q->backing && !compressed;
	if (compressed) {
		/*
		 * Never written in place: it may share sectors. Checked even
		 * when the write covers it, since its refcounts drop.
		 */
		ret = qcow2_compressed_check(q, e.entry, &cd);
		if (ret)
			return ret;
		nfree = compressed_clusters(q, &cd);
		if (n < q->cluster_size) {
			ret = qcow2_compressed_copy(q, e.entry, buf);
			if (ret)
				return ret;
		}
		old = 0;
		inplace = false;
		goto merge;
	}
	old = e.entry & QCOW2_L2E_OFFSET_MASK;
	inplace = old && (e.entry & QCOW2_OFLAG_COPIED);
	nfree = old && !inplace;

	for (u = 0; u < q->cluster_size; u = ue) {
		ue = unit_end(q, u);
		if (qcow2_l2e_map(e.entry, e.bitmap, q->extl2,
				  u >> q->sc_bits) == QCOW2_MAP_DATA)
			need_read = true;
	}
	if (need_read) {
		ret = qcow2_read_meta(q, buf, q->cluster_size, old);
		if (ret)
			return ret;
	}
	for (u = 0; u < q->cluster_size; u = ue) {
		ue = unit_end(q, u);
		k = qcow2_l2e_map(e.entry, e.bitmap, q->extl2, u >> q->sc_bits);
		if (k == QCOW2_MAP_DATA)
			continue;
		/* Copy-on-write from below, unless the write covers it all. */
		if (k == QCOW2_MAP_UNALLOCATED && q->backing &&
		    (u < coff || ue > coff + n) &&
		    (!keep || (u < coff + n && ue > coff))) {
			ret = read_below(q, (pos & ~cmask) + u, buf + u, ue - u);
			if (ret)
				return ret;
		} else {
			memset(buf + u, 0, ue - u);
		}
	}
merge:
	if (copy_from_iter(buf + coff, n, &it) != n)
		return -EIO;

	if (inplace) {
		/*
		 * Rewrite only what changes: the units that were not data, and
		 * the request's bytes. Other bytes of data units may be taking
		 * writes right now.
		 */
		target = old;
		ws = 0;
		we = 0;
		for (u = 0; u < q->cluster_size; u = ue) {
			ue = unit_end(q, u);
			s = u;
			se = ue;
			if (qcow2_l2e_map(e.entry, e.bitmap, q->extl2,
					  u >> q->sc_bits) == QCOW2_MAP_DATA) {
				s = max(u, coff);
				se = min(ue, coff + n);
				if (s >= se)
					continue;
			} else if (keep && (ue <= coff || u >= coff + n)) {
				continue;	/* stays what it was */
			}
			if (s == we) {
				we = se;
				continue;
			}
			if (we > ws) {
				ret = qcow2_write_meta(q, buf + ws, we - ws, old + ws);
				if (ret)
					return ret;
			}
			ws = s;
			we = se;
		}
		if (we > ws) {
			ret = qcow2_write_meta(q, buf + ws, we - ws, old + ws);
			if (ret)
				return ret;
		}
	} else {
		/*
		 * Room for the drops first: once the L2 entry changes, the
		 * write is done whatever happens, never half-way.
		 */
		ret = qcow2_free_reserve(q, nfree);
		if (ret)
			return ret;
		got = qcow2_alloc_clusters(q, 1, &target);
		if (got < 0)
			return got;
		ret = qcow2_write_meta(q, buf, q->cluster_size, target);
		if (ret) {
			/*
			 * Nothing names the new cluster: give it back, so
			 * that a full disk leaves no leak (if even that
			 * fails, it leaks, which is harmless).
			 */
			qcow2_refcount_update(q, target >> q->cluster_bits, -1);
			return ret;
		}
	}

	was = e.entry;
	e.entry = target | QCOW2_OFLAG_COPIED;
	if (keep) {
		/* The units touched: allocated now, and no longer zero. */
		touched = GENMASK_ULL((coff + n - 1) >> q->sc_bits,
				      coff >> q->sc_bits);
		e.bitmap = ((e.bitmap | touched) & QCOW2_L2B_ALLOC_ALL) |
			   (e.bitmap & ~(touched << 32) & ~(u64)QCOW2_L2B_ALLOC_ALL);
	} else {
		e.bitmap = q->extl2 ? QCOW2_L2B_ALLOC_ALL : 0;
	}
	spin_lock(&q->l2c.lock);
	qcow2_l2e_write(q, t->data, l2i, &e);
	spin_unlock(&q->l2c.lock);
	qcow2_cache_mark_dirty(&q->l2c, t);
	if (old && !inplace) {
		ret = qcow2_free_later(q, old);
		if (WARN_ON_ONCE(ret))	/* room was made above */
			return ret;
		atomic64_inc(&q->stats.cow_clusters);
	} else if (compressed) {
		ret = free_compressed(q, was, &cd);
		if (WARN_ON_ONCE(ret))
			return ret;
		atomic64_inc(&q->stats.cow_clusters);
	}
	ext->kind = QCOW2_EXT_DONE;
	ext->len = n;
	return 0;
}

/*
 * The L2 entry of the cluster at @pos if a table in the cache says it is
 * compressed, else 0. Never reads or waits.
 */
static u64 cached_compressed(struct qcow2_dev *q, u64 pos)
{
	u64 l1i = pos >> (q->cluster_bits + q->l2_bits), l2off;
	u32 l2i = (pos >> q->cluster_bits) & ((1U << q->l2_bits) - 1);
	const void *table;
	struct qcow2_l2e e;

	l2off = qcow2_l1e_offset(q, l1i);
	if (!l2off)
		return 0;
	table = qcow2_cache_peek(&q->l2c, l2off);
	if (!table)
		return 0;
	qcow2_l2e_read(q, table, l2i, &e);
	spin_unlock(&q->l2c.lock);
	return e.entry & QCOW2_OFLAG_COMPRESSED ? e.entry : 0;
}

/*
 * Whether metadata may change now: not on an image found corrupt, nor
 * after a sync lost writes. Caller holds meta_lock.
 */
static int may_change(struct qcow2_dev *q)
{
	if (qcow2_is_corrupt(q))
		return -EIO;
	return READ_ONCE(q->wb_err);
}

static int write_slow(struct qcow2_dev *q, u64 pos, u64 len,
		      struct iov_iter *iter, struct qcow2_ext *ext)
{
	u64 l1i = pos >> (q->cluster_bits + q->l2_bits);
	u32 l2i = (pos >> q->cluster_bits) & ((1U << q->l2_bits) - 1);
	u64 coff = pos & (q->cluster_size - 1), l2e;
	struct qcow2_cache_entry *t;
	struct qcow2_l2e e;
	int ret;

	/*
	 * A partial write over a compressed cluster merges into its data:
	 * decompress it before taking the lock the copy needs, which
	 * allocating writes and flushes wait for.
	 */
	if (min(len, q->cluster_size - coff) < q->cluster_size &&
	    !qcow2_is_corrupt(q)) {
		l2e = cached_compressed(q, pos);
		if (l2e)
			qcow2_compressed_warm(q, l2e);
	}

	mutex_lock(&q->meta_lock);
	ret = may_change(q);
	if (ret)
		goto out;
	ret = qcow2_l2_for_write(q, l1i, &t);
	if (ret)
		goto out;
	/* Another request may have allocated it while we waited. */
	if (scan(q, t->data, pos, len, true, &ext->host, &ext->len) ==
	    QCOW2_MAP_DATA) {
		ext->kind = QCOW2_EXT_HOST;
	} else {
		qcow2_l2e_read(q, t->data, l2i, &e);
		if (fresh(q, &e, pos))
			ret = alloc_fresh(q, t, pos, len, ext);
		else
			ret = rmw(q, t, pos, len, iter, ext);
	}
	qcow2_cache_put(&q->l2c, t);
out:
	mutex_unlock(&q->meta_lock);
	return ret;
}

/* With @nowait, -EAGAIN unless the clusters take the write in place. */
static int map_write(struct qcow2_dev *q, u64 pos, u64 len, bool nowait,
		     struct iov_iter *iter, struct qcow2_ext *ext)
{
	u64 l1i = pos >> (q->cluster_bits + q->l2_bits), l1e;
	int k, ret;

	len = min(len, to_table_end(q, pos));
	/*
	 * No write reaches a snapshot view (read-only: queue_rq refuses
	 * them), so here the active L1 table maps the whole device.
	 */
	l1e = qcow2_l1e(q, l1i);
	if ((l1e & QCOW2_L1E_OFFSET_MASK) && (l1e & QCOW2_OFLAG_COPIED)) {
		ret = scan_cached(q, l1i, l1e & QCOW2_L1E_OFFSET_MASK, pos, len,
				  true, nowait, ext, &k);
		if (ret)
			return ret;
		if (k == QCOW2_MAP_DATA) {
			ext->kind = QCOW2_EXT_HOST;
			return 0;
		}
	}
	if (nowait)
		return -EAGAIN;
	return write_slow(q, pos, len, iter, ext);
}

/*
 * From before a request's first mapping lookup until it completes, it is
 * counted in the current epoch: freed clusters are not reused while it
 * could still reach one (meta.c, reuse_settled()).
 */
static void cmd_enter(struct qcow2_dev *q, struct qcow2_cmd *cmd)
{
	if (cmd->epoch >= 0)
		return;
	cmd->epoch = READ_ONCE(q->io_epoch);
	atomic_inc(&q->io_active[cmd->epoch]);
	smp_mb__after_atomic();	/* counted before any lookup */
}

static void cmd_exit(struct qcow2_dev *q, struct qcow2_cmd *cmd)
{
	if (cmd->epoch < 0)
		return;
	smp_mb__before_atomic();	/* its I/O is over */
	atomic_dec(&q->io_active[cmd->epoch]);
	cmd->epoch = -1;
}

/* What a request allocated for its file I/O, all of which has ended. */
static void cmd_free(struct qcow2_cmd *cmd)
{
	struct qcow2_io *io, *next;

	for (io = cmd->ios; io; io = next) {
		next = io->next;
		kfree(io);
	}
	cmd->ios = NULL;
	kfree(cmd->bvec);
	cmd->bvec = NULL;
}

/* A request's state before it is sent, or sent again. */
static void cmd_reset(struct qcow2_cmd *cmd)
{
	cmd_free(cmd);
	cmd->io.cmd = NULL;
	cmd->error = 0;
	cmd->fua_done = false;
	cmd->nowait = false;
	cmd->retry = false;
}

static void cmd_put(struct qcow2_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qcow2_dev *q = rq->q->queuedata;
	int left = atomic_dec_return(&cmd->pending);

	/* Below zero, something completed twice: never complete it again. */
	if (WARN_ON_ONCE(left < 0) || left)
		return;
	if (cmd->retry) {
		/* The file would have blocked: start again, allowed to wait. */
		cmd_reset(cmd);
		queue_work(q->wq, &cmd->work);
		return;
	}
	if (!cmd->error && rq_writes(rq) && (rq->cmd_flags & REQ_FUA) &&
	    !cmd->fua_done) {
		/* The data is there; the metadata it needed is next. */
		cmd->fua_done = true;
		queue_work(q->wq, &cmd->work);
		return;
	}
	if (likely(!blk_should_fake_timeout(rq->q)))
		blk_mq_complete_request(rq);
}

/*
 * Whether the file turned a nowait I/O away: it would have blocked, or it
 * stopped short (of the end of the file, for a read).
 */
static bool turned_away(struct qcow2_io *io, long ret)
{
	if (ret == -EAGAIN)
		return true;
	if (ret < 0 || ret >= io->len)
		return false;
	return rq_writes(blk_mq_rq_from_pdu(io->cmd)) ||
	       io->host + ret < io->isize;
}

static void io_complete(struct kiocb *iocb, long ret)
{
	struct qcow2_io *io = container_of(iocb, struct qcow2_io, iocb);
	struct qcow2_cmd *cmd = io->cmd;
	struct request *rq = blk_mq_rq_from_pdu(cmd);

	/* A second completion would end the request under the lower I/O. */
	if (WARN_ON_ONCE(xchg(&io->done, 1)))
		return;
	if (cmd->nowait && turned_away(io, ret)) {
		/*
		 * The whole request again from its work item (rewriting what
		 * was written is harmless). Nothing else ran for it.
		 */
		if (rq_writes(rq))
			kiocb_end_write(iocb);
		cmd->retry = true;
		cmd_put(cmd);
		return;
	}
	if (rq_writes(rq)) {
		kiocb_end_write(iocb);
		if (ret >= 0 && ret != io->len)
			ret = -EIO;
	} else if (ret >= 0 && ret < io->len) {
		/*
		 * Only the end of the file stops a read short of what it
		 * asked for: past it lies a cluster never written (the file
		 * never shrinks while attached). Anywhere else the bytes
		 * left out are lost, not zeros.
		 */
		if (io->host + ret < io->isize) {
			ret = -EIO;
		} else {
			iov_iter_advance(&io->iter, ret);
			iov_iter_zero(io->len - ret, &io->iter);
		}
	}
	if (ret < 0)
		cmpxchg(&cmd->error, 0, (int)ret);
	cmd_put(cmd);
}

/*
 * Freeze protection for an async write, as kiocb_start_write() takes it;
 * the queue's worker must not sleep on a frozen file system.
 */
static bool start_write(struct kiocb *iocb, bool nowait)
{
	struct super_block *sb = file_inode(iocb->ki_filp)->i_sb;

	if (!nowait) {
		kiocb_start_write(iocb);
		return true;
	}
	if (!sb_start_write_trylock(sb))
		return false;
	__sb_writers_release(sb, SB_FREEZE_WRITE);
	return true;
}

/* One file I/O of @cmd to the file of @q, the device's or a level below. */
static int submit(struct qcow2_dev *q, struct qcow2_cmd *cmd,
		  struct iov_iter *iter, u64 host, u64 len)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	bool write = rq_writes(rq);
	struct qcow2_io *io = &cmd->io;
	struct iov_iter it;
	ssize_t ret;

	if (io->cmd) {
		io = kmalloc(sizeof(*io), GFP_NOIO);
		if (!io)
			return -ENOMEM;
		io->next = cmd->ios;
		cmd->ios = io;
	}
	io->cmd = cmd;
	io->host = host;
	io->isize = qcow2_file_size(q->file);
	io->len = len;
	io->done = 0;
	io->iter = *iter;
	iov_iter_truncate(&io->iter, len);
	iov_iter_advance(iter, len);

	memset(&io->iocb, 0, sizeof(io->iocb));
	io->iocb.ki_filp = q->file;
	io->iocb.ki_pos = host;
	io->iocb.ki_ioprio = req_get_ioprio(rq);
	if (q->use_dio) {
		io->iocb.ki_flags = IOCB_DIRECT;
		io->iocb.ki_complete = io_complete;
	}
	if (cmd->nowait)
		io->iocb.ki_flags |= IOCB_NOWAIT;

	atomic_inc(&cmd->pending);
	it = io->iter;
	if (write) {
		if (!start_write(&io->iocb, cmd->nowait)) {
			/* A frozen file system: wait in the request's work. */
			cmd->retry = true;
			cmd_put(cmd);
			return 0;
		}
		ret = q->file->f_op->write_iter(&io->iocb, &it);
	} else {
		ret = q->file->f_op->read_iter(&io->iocb, &it);
	}
	if (ret != -EIOCBQUEUED)
		io_complete(&io->iocb, ret);
	return 0;
}

/* Build an iterator over the request's pages, as loop does. */
static int rq_iter(struct qcow2_cmd *cmd, struct iov_iter *iter)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	unsigned int dir = req_op(rq) == REQ_OP_WRITE ? ITER_SOURCE : ITER_DEST;
	struct req_iterator ri;
	struct bio_vec tmp, *bvec;
	unsigned int offset = 0;
	int nr = 0;

	rq_for_each_bvec(tmp, rq, ri)
		nr++;

	if (rq->bio != rq->biotail) {
		bvec = kmalloc_array(nr, sizeof(*bvec), GFP_NOIO);
		if (!bvec)
			return -ENOMEM;
		cmd->bvec = bvec;
		rq_for_each_bvec(tmp, rq, ri)
			*bvec++ = tmp;
		bvec = cmd->bvec;
	} else {
		offset = rq->bio->bi_iter.bi_bvec_done;
		bvec = __bvec_iter_bvec(rq->bio->bi_io_vec, rq->bio->bi_iter);
	}
	iov_iter_bvec(iter, dir, bvec, nr, blk_rq_bytes(rq));
	iter->iov_offset = offset;
	return 0;
}

static void do_rw(struct qcow2_dev *q, struct qcow2_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	bool write = req_op(rq) == REQ_OP_WRITE;
	u64 pos = blk_rq_pos(rq) << SECTOR_SHIFT, len = blk_rq_bytes(rq);
	u64 stale = 0;	/* compressed entries never are 0 */
	struct qcow2_dev *img;
	struct qcow2_ext ext;
	struct iov_iter iter;
	int ret;

	cmd_enter(q, cmd);
	atomic_set(&cmd->pending, 1);
	ret = rq_iter(cmd, &iter);
	while (!ret && len) {
		ret = write ? map_write(q, pos, len, false, &iter, &ext) :
			      map_read(q, pos, len, false, &ext);
		img = q;
		if (!ret && ext.kind == QCOW2_EXT_BACKING) {
			ret = map_below(q, pos, ext.len, &ext);
			img = ext.img;
		}
		if (ret)
			break;
		switch (ext.kind) {
		case QCOW2_EXT_HOST:
			ret = submit(img, cmd, &iter, ext.host, ext.len);
			break;
		case QCOW2_EXT_ZERO:
			iov_iter_zero(ext.len, &iter);
			break;
		case QCOW2_EXT_DONE:
			iov_iter_advance(&iter, ext.len);
			break;
		case QCOW2_EXT_COMPRESSED:
			/*
			 * Data that does not decompress may have been freed
			 * by a write or discard since the lookup: look again,
			 * and call the same entry twice corrupt.
			 */
			ret = qcow2_compressed_read(img, ext.host,
						    pos & (img->cluster_size - 1),
						    ext.len, &iter,
						    img == q && ext.host != stale);
			if (ret == -EBADMSG) {
				stale = ext.host;
				ret = 0;
				continue;
			}
			break;
		case QCOW2_EXT_BACKING:
			ret = -EIO;	/* map_below() never returns it */
			break;
		}
		pos += ext.len;
		len -= ext.len;
	}
	if (ret)
		cmpxchg(&cmd->error, 0, ret);
	cmd_put(cmd);
}

/* Pages of zeros a write of zeros sends at a time. */
#define QCOW2_ZERO_PAGES	64

/*
 * Zeros written as data over [@pos, @pos + @len), inside the device: the
 * bytes of units a write of zeros covers only in part, and clusters whose
 * L2 entry cannot say zeros. Through the write path, from the zero page;
 * the request's bvec array (freed when it completes) holds the pages.
 */
static int write_zeros(struct qcow2_dev *q, struct qcow2_cmd *cmd, u64 pos,
		       u64 len)
{
	struct qcow2_ext ext;
	struct iov_iter iter;
	unsigned int i;
	u64 n;
	int ret;

	if (!cmd->bvec) {
		cmd->bvec = kmalloc_array(QCOW2_ZERO_PAGES, sizeof(*cmd->bvec),
					  GFP_NOIO);
		if (!cmd->bvec)
			return -ENOMEM;
		for (i = 0; i < QCOW2_ZERO_PAGES; i++)
			bvec_set_page(&cmd->bvec[i], ZERO_PAGE(0), PAGE_SIZE, 0);
	}
	while (len) {
		n = min_t(u64, len, QCOW2_ZERO_PAGES * PAGE_SIZE);
		iov_iter_bvec(&iter, ITER_SOURCE, cmd->bvec, QCOW2_ZERO_PAGES, n);
		while (n) {
			ret = map_write(q, pos, n, false, &iter, &ext);
			if (ret)
				return ret;
			if (ext.kind == QCOW2_EXT_HOST)
				ret = submit(q, cmd, &iter, ext.host, ext.len);
			else if (ext.kind == QCOW2_EXT_DONE)
				iov_iter_advance(&iter, ext.len);
			else
				ret = -EIO;	/* map_write() has no other */
			if (ret)
				return ret;
			pos += ext.len;
			n -= ext.len;
			len -= ext.len;
		}
	}
	return 0;
}

/* Whether zeros must be said at the cluster of @pos: data shows below. */
static bool shows_below(struct qcow2_dev *q, u64 pos)
{
	return q->backing &&
	       (pos & ~((u64)q->cluster_size - 1)) < q->backing->size;
}

/* @op over [@pos, @pos + @len), whole units of one cluster of entry @e. */
static int unmap_entry(struct qcow2_dev *q, const struct qcow2_l2e *e,
		       u64 pos, u64 len, enum qcow2_unmap_op op,
		       struct qcow2_unmap *u)
{
	u32 first = (pos & (q->cluster_size - 1)) >> q->sc_bits;
	int ret;

	ret = qcow2_l2e_unmap(e->entry, e->bitmap, q->extl2, q->h.version,
			      shows_below(q, pos), first, len >> q->sc_bits,
			      op, u);
	/* -EINVAL: a range that is not whole units of one cluster. */
	return WARN_ON_ONCE(ret == -EINVAL) ? -EIO : ret;
}

/*
 * Give the cluster of L2 index @l2i its new entry @u, replacing @e, and
 * queue the drop of the references @e held: they go once the table is on
 * disk (meta.c), and the clusters left unused are punched then.
 */
static int unmap_apply(struct qcow2_dev *q, struct qcow2_cache_entry *t,
		       u32 l2i, const struct qcow2_l2e *e,
		       const struct qcow2_unmap *u)
{
	bool compressed = e->entry & QCOW2_OFLAG_COMPRESSED;
	struct qcow2_compressed cd;
	struct qcow2_l2e ne = { .entry = u->entry, .bitmap = u->bitmap };
	unsigned int nfree = 0;
	int ret;

	if (u->drop) {
		if (compressed) {
			ret = qcow2_compressed_check(q, e->entry, &cd);
			if (ret)
				return ret;
			nfree = compressed_clusters(q, &cd);
		} else {
			nfree = 1;
		}
		/* Room first: once the entry changes, the drops must follow. */
		ret = qcow2_free_reserve(q, nfree);
		if (ret)
			return ret;
	}
	spin_lock(&q->l2c.lock);
	qcow2_l2e_write(q, t->data, l2i, &ne);
	spin_unlock(&q->l2c.lock);
	qcow2_cache_mark_dirty(&q->l2c, t);
	atomic64_inc(&q->stats.discarded);
	if (!u->drop)
		return 0;
	if (compressed)
		ret = free_compressed(q, e->entry, &cd);
	else
		ret = qcow2_free_later(q, e->entry & QCOW2_L2E_OFFSET_MASK);
	WARN_ON_ONCE(ret);	/* room was made above */
	qcow2_free_soon(q);
	return ret;
}

/*
 * A discard or a write of zeros over [@pos, @pos + @len): whole units
 * inside one L2 table. Each cluster's entry changes as qcow2_l2e_unmap()
 * says. Stops before the first cluster whose entry cannot say it, with
 * *@done the bytes handled: the caller writes zeros there. A table shared
 * with a snapshot is copied, and a missing one allocated, only when an
 * entry changes.
 */
static int unmap_table(struct qcow2_dev *q, u64 pos, u64 len,
		       enum qcow2_unmap_op op, u64 *done)
{
	u64 l1i = pos >> (q->cluster_bits + q->l2_bits), l2off, p, n, stop;
	u32 l2i0 = (pos >> q->cluster_bits) & ((1U << q->l2_bits) - 1), i;
	u64 cmask = q->cluster_size - 1;
	struct qcow2_cache_entry *t = NULL;
	struct qcow2_l2e e = {};
	struct qcow2_unmap u;
	bool change = false;
	int ret;

	*done = 0;
	mutex_lock(&q->meta_lock);
	ret = may_change(q);
	if (ret)
		goto out;
	l2off = qcow2_l1e_offset(q, l1i);
	if (l2off) {
		ret = qcow2_cache_get(&q->l2c, l2off, true, l1i, &t);
		if (ret)
			goto out;
	}
	for (p = pos, i = l2i0; p < pos + len; p = (p | cmask) + 1, i++) {
		n = min(pos + len, (p | cmask) + 1) - p;
		/* No table and nothing below: zeros, and no table for them. */
		if (!t && !shows_below(q, p))
			continue;
		if (t)
			qcow2_l2e_read(q, t->data, i, &e);
		ret = unmap_entry(q, &e, p, n, op, &u);
		if (ret == -EOPNOTSUPP)
			break;
		if (ret)
			goto put;
		change |= u.entry != e.entry || u.bitmap != e.bitmap;
	}
	stop = p - pos;
	ret = 0;
	if (!change)
		goto done;
	if (t)
		qcow2_cache_put(&q->l2c, t);
	ret = qcow2_l2_for_write(q, l1i, &t);
	if (ret) {
		t = NULL;
		goto out;
	}
	for (p = pos, i = l2i0; p < pos + stop; p = (p | cmask) + 1, i++) {
		n = min(pos + len, (p | cmask) + 1) - p;
		qcow2_l2e_read(q, t->data, i, &e);
		ret = unmap_entry(q, &e, p, n, op, &u);
		if (!ret && (u.entry != e.entry || u.bitmap != e.bitmap))
			ret = unmap_apply(q, t, i, &e, &u);
		if (ret)
			goto put;
	}
done:
	*done = stop;
put:
	if (t)
		qcow2_cache_put(&q->l2c, t);
out:
	mutex_unlock(&q->meta_lock);
	return ret;
}

/*
 * REQ_OP_DISCARD and REQ_OP_WRITE_ZEROES, as QEMU's qcow2 driver does them
 * (Documentation: "Discard and write zeroes"). A discard changes whole
 * clusters only and leaves the bytes of clusters it covers in part; a
 * write of zeros says zeros in the L2 entries of whole units (clusters, or
 * subclusters) and writes the rest as data. A request that ends at the end
 * of the device covers its last cluster whole.
 */
static void do_unmap(struct qcow2_dev *q, struct qcow2_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	u64 pos = blk_rq_pos(rq) << SECTOR_SHIFT, end = pos + blk_rq_bytes(rq);
	u64 cmask = q->cluster_size - 1, unit, head, tail, p, n, zp, zn, done;
	bool discard = req_op(rq) == REQ_OP_DISCARD;
	enum qcow2_unmap_op op;
	int ret = 0;

	cmd_enter(q, cmd);
	atomic_set(&cmd->pending, 1);
	if (discard)
		op = QCOW2_UNMAP_DISCARD;
	else if (rq->cmd_flags & REQ_NOUNMAP)
		op = QCOW2_UNMAP_ZERO_KEEP;
	else
		op = QCOW2_UNMAP_ZERO;
	unit = discard ? q->cluster_size : 1ULL << q->sc_bits;
	head = round_up(pos, unit);
	tail = end == q->size ? round_up(end, unit) : round_down(end, unit);
	if (head >= tail)
		head = tail = end;
	if (!discard && head > pos)
		ret = write_zeros(q, cmd, pos, head - pos);
	for (p = head; !ret && p < tail; p += n) {
		n = min(tail - p, to_table_end(q, p));
		ret = unmap_table(q, p, n, op, &done);
		if (!ret && done < n) {
			/* A cluster whose entry cannot say it: zeros as data. */
			zp = p + done;
			zn = min(p + n, (zp | cmask) + 1) - zp;
			ret = write_zeros(q, cmd, zp, min(zn, q->size - zp));
			n = done + zn;
		}
		cond_resched();
	}
	if (!ret && !discard && tail < end)
		ret = write_zeros(q, cmd, tail, end - tail);
	if (ret)
		cmpxchg(&cmd->error, 0, ret);
	cmd_put(cmd);
}

static void cmd_work(struct work_struct *work)
{
	struct qcow2_cmd *cmd = container_of(work, struct qcow2_cmd, work);
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	struct qcow2_dev *q = rq->q->queuedata;
	unsigned int noio;
	int ret;

	/* Reclaim must not recurse into this device's I/O. */
	noio = memalloc_noio_save();
	if (req_op(rq) == REQ_OP_FLUSH || cmd->fua_done) {
		ret = qcow2_flush(q);
		if (ret) {
			pr_err_ratelimited("qcow2%d: flush failed: %d\n",
					   q->index, ret);
			cmd->error = ret;
		}
		atomic64_inc(&q->stats.flushes);
		if (likely(!blk_should_fake_timeout(rq->q)))
			blk_mq_complete_request(rq);
	} else if (req_op(rq) == REQ_OP_DISCARD ||
		   req_op(rq) == REQ_OP_WRITE_ZEROES) {
		do_unmap(q, cmd);
	} else {
		do_rw(q, cmd);
	}
	memalloc_noio_restore(noio);
}

/*
 * Send @cmd from the queue's worker if that needs no waiting: one host
 * extent (or zeros) through a cached table, a file that can say it would
 * block. Returns false when @cmd needs its own work item.
 */
static bool send_nowait(struct qcow2_dev *q, struct qcow2_cmd *cmd)
{
	struct request *rq = blk_mq_rq_from_pdu(cmd);
	u64 pos = blk_rq_pos(rq) << SECTOR_SHIFT, len = blk_rq_bytes(rq);
	struct qcow2_ext ext;
	struct iov_iter iter;
	int ret;

	if (!q->use_dio || !(q->file->f_mode & FMODE_NOWAIT))
		return false;
	switch (req_op(rq)) {
	case REQ_OP_READ:
		cmd_enter(q, cmd);
		ret = map_read(q, pos, len, true, &ext);
		break;
	case REQ_OP_WRITE:
		cmd_enter(q, cmd);
		ret = map_write(q, pos, len, true, NULL, &ext);
		break;
	default:
		return false;
	}
	if (ret || ext.len != len || rq_iter(cmd, &iter))
		return false;

	cmd->nowait = true;
	atomic_set(&cmd->pending, 1);
	if (ext.kind == QCOW2_EXT_ZERO)
		iov_iter_zero(len, &iter);
	else
		submit(q, cmd, &iter, ext.host, len);
	cmd_put(cmd);
	return true;
}

static void queue_work_fn(struct work_struct *work)
{
	struct qcow2_queue *hq = container_of(work, struct qcow2_queue, work);
	struct qcow2_cmd *cmd, *next;
	struct llist_node *list;
	unsigned int noio;

	noio = memalloc_noio_save();
	list = llist_reverse_order(llist_del_all(&hq->list));
	llist_for_each_entry_safe(cmd, next, list, node)
		if (!send_nowait(hq->q, cmd))
			queue_work(hq->q->wq, &cmd->work);
	memalloc_noio_restore(noio);
}

static blk_status_t qcow2_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct qcow2_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct qcow2_dev *q = hctx->queue->queuedata;
	struct qcow2_queue *hq = hctx->driver_data;

	blk_mq_start_request(rq);
	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
	case REQ_OP_READ:
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		/* Offered only then (dev.c). */
		if (!q->can_unmap)
			return BLK_STS_NOTSUPP;
		fallthrough;
	case REQ_OP_WRITE:
		if (q->read_only || qcow2_is_corrupt(q) || READ_ONCE(q->wb_err))
			return BLK_STS_IOERR;
		break;
	default:
		WARN_ON_ONCE(1);
		return BLK_STS_IOERR;
	}
	cmd_reset(cmd);
	if (req_op(rq) == REQ_OP_FLUSH)
		queue_work(q->wq, &cmd->work);
	else if (llist_add(&cmd->node, &hq->list))
		queue_work(q->wq, &hq->work);
	return BLK_STS_OK;
}

static void qcow2_complete_rq(struct request *rq)
{
	struct qcow2_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct qcow2_dev *q = rq->q->queuedata;

	cmd_free(cmd);
	cmd_exit(q, cmd);
	if (cmd->error) {
		atomic64_inc(&q->stats.errors);
	} else if (req_op(rq) == REQ_OP_READ) {
		atomic64_inc(&q->stats.reads);
		atomic64_add(blk_rq_bytes(rq), &q->stats.read_bytes);
	} else if (req_op(rq) == REQ_OP_WRITE) {
		atomic64_inc(&q->stats.writes);
		atomic64_add(blk_rq_bytes(rq), &q->stats.write_bytes);
	}
	blk_mq_end_request(rq, errno_to_blk_status(cmd->error));
}

static int qcow2_init_request(struct blk_mq_tag_set *set, struct request *rq,
			      unsigned int hctx_idx, unsigned int numa_node)
{
	struct qcow2_cmd *cmd = blk_mq_rq_to_pdu(rq);

	INIT_WORK(&cmd->work, cmd_work);
	cmd->ios = NULL;
	cmd->bvec = NULL;
	cmd->epoch = -1;
	return 0;
}

static int qcow2_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			   unsigned int hctx_idx)
{
	struct qcow2_queue *hq;

	hq = kzalloc_node(sizeof(*hq), GFP_KERNEL, hctx->numa_node);
	if (!hq)
		return -ENOMEM;
	hq->q = data;
	init_llist_head(&hq->list);
	INIT_WORK(&hq->work, queue_work_fn);
	hctx->driver_data = hq;
	return 0;
}

static void qcow2_exit_hctx(struct blk_mq_hw_ctx *hctx, unsigned int hctx_idx)
{
	struct qcow2_queue *hq = hctx->driver_data;

	/* The queue is quiesced and drained: nothing is on the list. */
	flush_work(&hq->work);
	kfree(hq);
}

const struct blk_mq_ops qcow2_mq_ops = {
	.queue_rq	= qcow2_queue_rq,
	.complete	= qcow2_complete_rq,
	.init_request	= qcow2_init_request,
	.init_hctx	= qcow2_init_hctx,
	.exit_hctx	= qcow2_exit_hctx,
};
