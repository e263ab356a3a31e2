/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2 block driver: private declarations shared by the driver's files.
 */
#ifndef QCOW2_H
#define QCOW2_H

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/blk-mq.h>
#include <linux/errseq.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/qcow2.h>

#include "compat.h"
#include "qcow2_format.h"

struct qcow2_dev;

/**
 * struct qcow2_cache_entry - one cached metadata table (a cluster)
 * @hash: link in the cache's hash table while @offset is valid
 * @lru: position in the cache's LRU list
 * @data: the table, one cluster, allocated on first use
 * @offset: host offset of the table
 * @pins: users that need the entry to stay (loading, reading, updating)
 * @state: free, being read or filled (invisible), or valid
 * @dirty: the file does not have the entry's contents yet
 * @unsynced: the file has them, but no sync has covered them yet
 */
struct qcow2_cache_entry {
	struct hlist_node hash;
	struct list_head lru;
	void *data;
	u64 offset;
	unsigned int pins;
	enum {
		QCOW2_CE_FREE,
		QCOW2_CE_LOADING,
		QCOW2_CE_VALID,
	} state;
	bool dirty;
	bool unsynced;
};

/**
 * struct qcow2_cache - a bounded cache of L2 tables or refcount blocks
 * @q: the device
 * @name: "L2 table" or "refcount block", for log lines
 * @lock: protects the hash, the LRU, entry states, pins and dirty flags,
 *	and the entries' table contents against torn reads while they change
 * @wait: woken when an entry finishes loading or is unpinned
 * @buckets: hash table of valid and loading entries by offset
 * @hash_bits: log2 of the number of buckets
 * @lru: all entries, least recently used first
 * @entries: @nr entries
 * @nr: capacity in tables
 * @validate: checks a table just read from the image, or NULL; its last
 *	argument is qcow2_cache_get()'s @arg
 * @hits: lookups served from memory
 * @misses: tables read from the image
 *
 * Tables change only under the device's meta_lock, so only holders of it
 * write dirty tables back; lookups without it may still read tables in and
 * evict clean ones, which is what keeps reads of allocated clusters free of
 * the allocation lock.
 */
struct qcow2_cache {
	struct qcow2_dev *q;
	const char *name;
	spinlock_t lock;
	wait_queue_head_t wait;
	struct hlist_head *buckets;
	unsigned int hash_bits;
	struct list_head lru;
	struct qcow2_cache_entry *entries;
	unsigned int nr;
	int (*validate)(struct qcow2_dev *q, u64 offset, const void *table,
			u64 arg);
	atomic64_t hits;
	atomic64_t misses;
};

/* Kinds of metadata clusters in qcow2_dev.meta, for overlap checks. */
enum qcow2_meta_kind {
	QCOW2_META_HEADER = 1,
	QCOW2_META_L1,
	QCOW2_META_L2,
	QCOW2_META_REFTABLE,
	QCOW2_META_REFBLOCK,
	QCOW2_META_SNAPSHOTS,
	QCOW2_META_SNAPSHOT_L1,
};

/* A table of many clusters, [@first, @last], and its kind. */
struct qcow2_meta_range {
	u64 first;
	u64 last;
	enum qcow2_meta_kind kind;
};

/*
 * Where the metadata lay at attach (overlap.c): ranges, sorted, and the
 * single-cluster tables in an open-addressed hash set.
 */
struct qcow2_meta_map {
	struct qcow2_meta_range *range;
	u32 nr_ranges;
	u32 max_ranges;
	u64 *slot;
	u32 slot_bits;
	u64 nr_singles;
	u64 max_singles;
};

/*
 * Clusters whose refcount drop waits for the tables that no longer use
 * them to reach the disk, as runs of contiguous clusters; more runs than
 * this force a metadata flush.
 */
#define QCOW2_PENDING_FREE_MAX	256

/* Bytes a discard or write-zeroes request covers at most (dev.c). */
#define QCOW2_UNMAP_MAX_BYTES	(1U << 30)

/* @count clusters from host offset @offset, each losing one reference. */
struct qcow2_free_run {
	u64 offset;
	u64 count;
};

struct qcow2_stats {
	atomic64_t reads, writes, read_bytes, write_bytes, flushes, errors;
	atomic64_t alloc_clusters, cow_clusters, metadata_writes;
	atomic64_t decompressed, ccache_hits;
	atomic64_t discarded, freed, reused;
};

struct qcow2_ccache;

/* Where a device is in its life; qcow2_devs_lock (dev.c) protects it. */
enum qcow2_dev_state {
	QCOW2_DEV_ATTACHING,	/* its disk may be opened (partition scan) */
	QCOW2_DEV_LIVE,		/* listed, and can be detached */
	QCOW2_DEV_DETACHING,	/* no new opens; going away, or trying to */
};

/**
 * struct qcow2_dev - an attached image
 *
 * Locking: @meta_lock serialises everything that changes metadata
 * (allocation, copy-on-write, refcounts, write-back, syncs, the table
 * write-back state). Lookups of mapped clusters take only the L2 cache's
 * spinlock and read L1 entries with acquire semantics, so they never wait
 * for an allocation. qcow2_devs_lock (dev.c) protects @opens, @state and
 * @autoclear. @hdr_lock serialises writes to the header's first sector;
 * @sync_lock, innermost, serialises syncs of the image file.
 */
struct qcow2_dev {
	int index;
	struct file *file;
	struct qcow2_header h;
	/* The file's device and inode as stat(2) shows them (udev, qcow2ctl). */
	dev_t image_dev;
	u64 image_ino;

	/*
	 * A backing chain is a list of read-only images below the device's
	 * own, each a struct qcow2_dev without a disk (dev.c), or a raw
	 * file. @level is 0 for the device's image; @size is what a level
	 * maps (its virtual size, or a raw file's size rounded up to a
	 * sector): reads past it are zeros.
	 */
	struct qcow2_dev *backing;
	unsigned int level;
	unsigned int depth;	/* levels below the device's image */
	bool raw;
	u64 size;
	u32 snapshot;		/* 1 + table position of the snapshot shown */
	char *snapshot_id;	/* ... and its id */
	char tag[24];		/* "backing file N: " for log lines, or "" */
	char backing_fmt[QCOW2_MAX_BACKING_FORMAT + 1];	/* as the image says */

	/* Geometry, from the validated header. */
	u32 cluster_bits;
	u32 cluster_size;
	u32 l2_bits;		/* log2 of entries per L2 table */
	u32 l2e_shift;		/* log2 of bytes per L2 entry: 3, or 4 */
	u32 sc_bits;		/* log2 of bytes per subcluster */
	u32 rb_bits;		/* log2 of clusters per refcount block */
	bool extl2;
	bool read_only;
	bool partscan;
	bool use_dio;

	/*
	 * Active L1 table and refcount table, in memory, big-endian, in
	 * whole sectors. Per 512 bytes: dirty (not written yet), unsynced
	 * (written, no sync since).
	 */
	__be64 *l1;
	u32 l1_entries;
	unsigned long *l1_dirty;
	unsigned long *l1_unsynced;
	unsigned long *l2_ours;		/* per L1 entry: table changed here */
	__be64 *reftable;
	u64 reft_entries;
	unsigned long *reft_dirty;
	unsigned long *reft_unsynced;
	bool hdr_dirty;		/* refcount table fields, after a move */
	bool hdr_unsynced;
	struct mutex hdr_lock;

	struct mutex meta_lock;
	u64 alloc_next;		/* next cluster the allocator tries */
	u64 attach_end;		/* bytes: the file at attach */
	u64 file_end;		/* bytes: the file at attach, or allocated */
	bool unsynced;		/* written since the last sync */
	int wb_err;		/* a sync lost writes (file.c); sticks */
	errseq_t wb_seq;	/* the file's write-back errors, at attach */
	struct mutex sync_lock;	/* one qcow2_file_sync() at a time */
	void *bounce;		/* a cluster, for copy-on-write */
	struct qcow2_free_run pending_free[QCOW2_PENDING_FREE_MAX];
	unsigned int npending;
	bool can_unmap;		/* discard, write zeroes: holes can be punched */
	struct delayed_work free_work;	/* drops what discards freed */

	/*
	 * Reuse of free clusters (meta.c), under meta_lock: refcount blocks
	 * (by refcount table index) that may count free clusters below
	 * @alloc_next, where to look next, and the run of free clusters
	 * found (holes in the file), handed out before anything else.
	 */
	unsigned long *may_free;
	u64 may_free_bits;
	u64 reuse_next;
	u64 win_next, win_end;
	/*
	 * Requests that may have looked up a mapping, counted per epoch from
	 * before their first lookup until they complete (io.c). A cluster a
	 * discard freed is reused only once every request that could still
	 * reach it has completed: after an epoch flip, when the old epoch's
	 * count drops to zero (reuse_settled()). Never waited for.
	 */
	atomic_t io_active[2];
	unsigned int io_epoch;
	unsigned int settle_ep;
	bool unsettled;		/* clusters freed since the last flip */
	bool settling;		/* ... and the flip's old epoch not empty yet */
	struct qcow2_meta_map meta;	/* metadata at attach */
	unsigned long corrupt;	/* bit 0: found corrupt, writes refused */

	struct qcow2_cache l2c;
	struct qcow2_cache rbc;
	struct qcow2_ccache *ccache;	/* compress.c, made at first use */
	struct mutex ccache_lock;	/* ... by one reader */

	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	struct workqueue_struct *wq;

	unsigned int opens;
	enum qcow2_dev_state state;
	bool autoclear;
	struct work_struct autoclear_work;

	struct qcow2_stats stats;
};

/**
 * struct qcow2_io - one file I/O of a request
 * @iocb: the kiocb submitted to the image file
 * @iter: the request's bytes for this I/O
 * @cmd: the request it belongs to
 * @host: where in the file
 * @isize: the file's size when the I/O was sent; it only grows, so a read
 *	that stops short before it lost bytes
 * @len: bytes asked for
 * @next: the request's next allocated I/O
 */
struct qcow2_io {
	struct kiocb iocb;
	struct iov_iter iter;
	struct qcow2_cmd *cmd;
	u64 host;
	u64 isize;
	size_t len;
	struct qcow2_io *next;
	unsigned long done;	/* ki_complete ran: once, or it is a bug */
};

/**
 * struct qcow2_cmd - per-request data (the blk-mq pdu)
 * @work: runs the request in process context
 * @io: the first file I/O, inline; more are allocated
 * @ios: the allocated ones, a list through qcow2_io.next, or NULL
 * @bvec: the request's pages, when it has several bios
 * @pending: file I/Os in flight plus one for the submitter
 * @error: first error, as a negative errno
 * @fua_done: data complete, the FUA flush is what is left
 */
struct qcow2_cmd {
	struct llist_node node;		/* on its queue's list */
	struct work_struct work;	/* the slow path, one request each */
	struct qcow2_io io;
	struct qcow2_io *ios;
	struct bio_vec *bvec;
	atomic_t pending;
	int error;
	bool fua_done;
	int epoch;		/* counted in io_active[epoch], or -1 */
	bool nowait;		/* sent by the queue's worker, IOCB_NOWAIT */
	bool retry;		/* ... and the file would have blocked */
};

/*
 * One per hardware queue: requests go on @list and one work item sends
 * them all; only those that would block get a work item of their own.
 */
struct qcow2_queue {
	struct qcow2_dev *q;
	struct llist_head list;
	struct work_struct work;
};

/* Bytes in @file: of a block device, the device's (not its /dev node's). */
static inline u64 qcow2_file_size(struct file *file)
{
	return i_size_read(file->f_mapping->host);
}

/* overlap.c: where the metadata lay at attach */
int qcow2_meta_map_init(struct qcow2_meta_map *m, u32 ranges, u64 singles);
void qcow2_meta_map_free(struct qcow2_meta_map *m);
void qcow2_meta_map_add_range(struct qcow2_meta_map *m, u64 first, u64 n,
			      enum qcow2_meta_kind kind);
int qcow2_meta_map_seal(struct qcow2_meta_map *m, u32 cluster_bits,
			struct qcow2_err *err);
int qcow2_meta_map_add(struct qcow2_meta_map *m, u64 cluster,
		       enum qcow2_meta_kind kind, u32 cluster_bits,
		       struct qcow2_err *err);
bool qcow2_meta_map_has(const struct qcow2_meta_map *m, u64 cluster);
u64 qcow2_meta_map_end(const struct qcow2_meta_map *m);

/* ctl.c: /dev/qcow2-control */
int qcow2_ctl_init(void);
void qcow2_ctl_exit(void);
int qcow2_ctl_copy_in(void *karg, size_t ksize, unsigned int cmd,
		      const void __user *uarg);
int qcow2_ctl_copy_out(void __user *uarg, unsigned int cmd, const void *karg,
		       size_t ksize);

/* create.c: QCOW2_IOC_CREATE */
long qcow2_ctl_create(unsigned int cmd, void __user *uarg);

/* dev.c: device lifecycle and the attach/detach/status/list commands */
int qcow2_dev_init(void);
void qcow2_dev_exit(void);
long qcow2_ctl_attach(unsigned int cmd, void __user *uarg);
long qcow2_ctl_detach(unsigned int cmd, void __user *uarg);
long qcow2_ctl_status(unsigned int cmd, void __user *uarg);
long qcow2_ctl_list(unsigned int cmd, void __user *uarg);
long qcow2_ctl_level(unsigned int cmd, void __user *uarg);

/* lock.c: QEMU's image locks */
int qcow2_image_lock(struct file *file, bool write, const char **holder);

/* cache.c: metadata table caches */
int qcow2_cache_init(struct qcow2_cache *c, struct qcow2_dev *q,
		     const char *name, unsigned int nr,
		     int (*validate)(struct qcow2_dev *q, u64 offset,
				     const void *table, u64 arg));
void qcow2_cache_destroy(struct qcow2_cache *c);
const void *qcow2_cache_peek(struct qcow2_cache *c, u64 offset);
int qcow2_cache_get(struct qcow2_cache *c, u64 offset, bool meta_locked,
		    u64 arg, struct qcow2_cache_entry **out);
int qcow2_cache_get_new(struct qcow2_cache *c, u64 offset,
			struct qcow2_cache_entry **out);
void qcow2_cache_forget(struct qcow2_cache *c, u64 pos, u64 len);
void qcow2_cache_publish(struct qcow2_cache *c, struct qcow2_cache_entry *e);
void qcow2_cache_put(struct qcow2_cache *c, struct qcow2_cache_entry *e);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, struct qcow2_cache_entry *e);
bool qcow2_cache_dirty(struct qcow2_cache *c);
int qcow2_cache_writeback(struct qcow2_cache *c);
void qcow2_cache_synced(struct qcow2_cache *c, bool ok);
u64 qcow2_cache_bytes(const struct qcow2_cache *c);

/* compress.c: compressed clusters */
int qcow2_compressed_read(struct qcow2_dev *q, u64 l2e, u32 off, u32 len,
			  struct iov_iter *iter, bool recheck);
int qcow2_compressed_copy(struct qcow2_dev *q, u64 l2e, void *buf);
int qcow2_compressed_check(struct qcow2_dev *q, u64 l2e,
			   struct qcow2_compressed *d);
void qcow2_compressed_warm(struct qcow2_dev *q, u64 l2e);
void qcow2_compressed_forget(struct qcow2_dev *q, u64 l2e);
void qcow2_ccache_destroy(struct qcow2_dev *q);
size_t qcow2_ccache_max_bytes(struct qcow2_dev *q);

/* file.c: I/O on the image file, one discipline for all of it */
void *qcow2_buf_alloc(size_t size, gfp_t gfp);
int qcow2_read_meta(struct qcow2_dev *q, void *buf, size_t len, u64 pos);
int qcow2_write_meta(struct qcow2_dev *q, const void *buf, size_t len,
		     u64 pos);
int qcow2_write_header_field(struct qcow2_dev *q, const void *buf,
			     size_t len, u64 pos);
int qcow2_file_sync(struct qcow2_dev *q);
int qcow2_file_resize(struct qcow2_dev *q, u64 size);
int qcow2_file_settle(struct qcow2_dev *q);
int qcow2_file_punch(struct qcow2_dev *q, u64 pos, u64 len);
bool qcow2_file_can_punch(struct qcow2_dev *q);

/* meta.c: metadata updates in QEMU's order */
int qcow2_sync(struct qcow2_dev *q);
int qcow2_validate_l2(struct qcow2_dev *q, u64 offset, const void *table,
		      u64 l1i);
__printf(2, 3)
void qcow2_set_corrupt(struct qcow2_dev *q, const char *fmt, ...);
bool qcow2_is_corrupt(struct qcow2_dev *q);
int qcow2_l2_writeback_prepare(struct qcow2_dev *q);
int qcow2_flush_metadata(struct qcow2_dev *q);
int qcow2_flush(struct qcow2_dev *q);
void qcow2_trim_reserve(struct qcow2_dev *q);
void qcow2_free_work(struct work_struct *work);
int qcow2_reuse_init(struct qcow2_dev *q);
void qcow2_free_soon(struct qcow2_dev *q);
int qcow2_refcount_update(struct qcow2_dev *q, u64 cluster, s64 delta);
int qcow2_free_later(struct qcow2_dev *q, u64 offset);
int qcow2_free_reserve(struct qcow2_dev *q, unsigned int n);
long qcow2_alloc_clusters(struct qcow2_dev *q, u64 n, u64 *offset);
int qcow2_l2_for_write(struct qcow2_dev *q, u64 l1i,
		       struct qcow2_cache_entry **out);
bool qcow2_overlaps_meta(struct qcow2_dev *q, u64 offset);

/* io.c: the request path */
extern const struct blk_mq_ops qcow2_mq_ops;

/* An L2 entry and its bitmap (0 without extended L2). */
struct qcow2_l2e {
	u64 entry;
	u64 bitmap;
};

static inline void qcow2_l2e_read(const struct qcow2_dev *q, const void *table,
				  u32 i, struct qcow2_l2e *e)
{
	const __be64 *t = table;

	e->entry = be64_to_cpu(t[i << (q->l2e_shift - 3)]);
	e->bitmap = q->extl2 ? be64_to_cpu(t[(i << 1) + 1]) : 0;
}

static inline void qcow2_l2e_write(const struct qcow2_dev *q, void *table,
				   u32 i, const struct qcow2_l2e *e)
{
	__be64 *t = table;

	t[i << (q->l2e_shift - 3)] = cpu_to_be64(e->entry);
	if (q->extl2)
		t[(i << 1) + 1] = cpu_to_be64(e->bitmap);
}

static inline u64 qcow2_l1e(const struct qcow2_dev *q, u64 l1i)
{
	/* Pairs with set_l1e() (meta.c): the table it names is whole. */
	return be64_to_cpu(smp_load_acquire(&q->l1[l1i]));
}

/* Per-piece state of an in-memory table: one bit per 512 bytes. */
static inline unsigned long *qcow2_piece_map(u64 entries)
{
	return bitmap_zalloc(DIV_ROUND_UP(entries, 64) + 1, GFP_KERNEL);
}

static inline u64 qcow2_l1e_offset(const struct qcow2_dev *q, u64 l1i)
{
	return qcow2_l1e(q, l1i) & QCOW2_L1E_OFFSET_MASK;
}

#endif /* QCOW2_H */
