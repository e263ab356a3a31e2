// SPDX-License-Identifier: GPL-2.0
/*
 * Bounded caches of metadata tables (L2 tables, refcount blocks), one
 * cluster per entry, least recently used out first.
 *
 * Entries are allocated on first use, so an idle device costs the entry
 * headers only. Lookups that miss read the table in without the device's
 * meta_lock and evict a clean entry; only when every evictable entry is
 * dirty does a lookup take meta_lock to write them back and sync them, in
 * the order meta.c enforces.
 *
 * An entry's flags mean what they say: LOADING until it holds its final
 * contents (read and validated, or filled by whoever created it), so no
 * lookup and no write-back sees it half made; dirty while the file does
 * not have its contents; unsynced while the file has them but no sync has
 * covered them yet. Only clean entries (neither) are evicted, and only a
 * sync that succeeds makes an unsynced entry clean: one that fails makes it
 * dirty again, so the next flush writes it again.
 */
#include "qcow2.h"

#include <linux/hash.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

int qcow2_cache_init(struct qcow2_cache *c, struct qcow2_dev *q,
		     const char *name, unsigned int nr,
		     int (*validate)(struct qcow2_dev *q, u64 offset,
				     const void *table, u64 arg))
{
	unsigned int i;

	c->q = q;
	c->name = name;
	c->nr = nr;
	c->validate = validate;
	spin_lock_init(&c->lock);
	init_waitqueue_head(&c->wait);
	INIT_LIST_HEAD(&c->lru);
	atomic64_set(&c->hits, 0);
	atomic64_set(&c->misses, 0);
	c->hash_bits = ilog2(roundup_pow_of_two(nr));
	c->buckets = kvcalloc(1U << c->hash_bits, sizeof(*c->buckets),
			      GFP_KERNEL);
	c->entries = kvcalloc(nr, sizeof(*c->entries), GFP_KERNEL);
	if (!c->buckets || !c->entries) {
		kvfree(c->buckets);
		kvfree(c->entries);
		c->buckets = NULL;
		c->entries = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < 1U << c->hash_bits; i++)
		INIT_HLIST_HEAD(&c->buckets[i]);
	for (i = 0; i < nr; i++) {
		INIT_HLIST_NODE(&c->entries[i].hash);
		list_add_tail(&c->entries[i].lru, &c->lru);
	}
	return 0;
}

/*
 * Dirty entries are thrown away only by a forced detach, which says so;
 * a pinned one would be a reference this driver forgot to drop.
 */
void qcow2_cache_destroy(struct qcow2_cache *c)
{
	unsigned int i;

	if (!c->entries)
		return;
	for (i = 0; i < c->nr; i++) {
		WARN_ON_ONCE(c->entries[i].pins);
		kvfree(c->entries[i].data);
	}
	kvfree(c->entries);
	kvfree(c->buckets);
	c->entries = NULL;
	c->buckets = NULL;
}

static struct hlist_head *bucket(struct qcow2_cache *c, u64 offset)
{
	return &c->buckets[hash_64(offset, c->hash_bits)];
}

static struct qcow2_cache_entry *lookup(struct qcow2_cache *c, u64 offset)
{
	struct qcow2_cache_entry *e;

	hlist_for_each_entry(e, bucket(c, offset), hash)
		if (e->offset == offset)
			return e;
	return NULL;
}

/* A clean, unused entry to take over; *@dirty tells whether writing
 * back and syncing would free one.
 */
static struct qcow2_cache_entry *victim(struct qcow2_cache *c, bool *dirty)
{
	struct qcow2_cache_entry *e;

	*dirty = false;
	list_for_each_entry(e, &c->lru, lru) {
		if (e->pins || e->state == QCOW2_CE_LOADING)
			continue;
		if (!e->dirty && !e->unsynced)
			return e;
		*dirty = true;
	}
	return NULL;
}

static bool settled(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	bool ret;

	spin_lock(&c->lock);
	ret = e->state != QCOW2_CE_LOADING;
	spin_unlock(&c->lock);
	return ret;
}

static bool evictable(struct qcow2_cache *c)
{
	bool dirty, ret;

	spin_lock(&c->lock);
	ret = victim(c, &dirty) || dirty;
	spin_unlock(&c->lock);
	return ret;
}

static int ensure_data(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	unsigned int noio;

	if (e->data)
		return 0;
	/* Called on the I/O path: no reclaim may recurse into block I/O. */
	noio = memalloc_noio_save();
	e->data = qcow2_buf_alloc(c->q->cluster_size, GFP_KERNEL);
	memalloc_noio_restore(noio);
	return e->data ? 0 : -ENOMEM;
}

/*
 * Write back every dirty table and sync, so that the entries become clean
 * and can be evicted. Caller holds meta_lock.
 */
static int make_room(struct qcow2_cache *c)
{
	int ret;

	ret = qcow2_cache_writeback(c);
	if (!ret)
		ret = qcow2_sync(c->q);
	return ret;
}

/*
 * Claim an entry for @offset: the caller holds c->lock, which this drops
 * and takes again while it waits or writes back. Returns with the lock
 * held, and the entry (pinned, LOADING, hashed) or an error: that of the
 * write-back when every entry is dirty and writing them back failed.
 */
static struct qcow2_cache_entry *claim(struct qcow2_cache *c, u64 offset,
				       bool meta_locked, int *err)
{
	struct qcow2_cache_entry *e;
	bool dirty;
	int ret;

	for (;;) {
		e = victim(c, &dirty);
		if (e)
			break;
		spin_unlock(&c->lock);
		if (dirty) {
			if (!meta_locked)
				mutex_lock(&c->q->meta_lock);
			ret = make_room(c);
			if (!meta_locked)
				mutex_unlock(&c->q->meta_lock);
		} else {
			/* Every entry is pinned; pins are short-lived. */
			ret = wait_event_killable(c->wait, evictable(c));
		}
		spin_lock(&c->lock);
		if (ret) {
			*err = ret;
			return NULL;
		}
		/* Someone may have brought the table in meanwhile. */
		if (lookup(c, offset)) {
			*err = -EAGAIN;
			return NULL;
		}
	}
	if (e->state == QCOW2_CE_VALID)
		hlist_del_init(&e->hash);
	e->offset = offset;
	e->state = QCOW2_CE_LOADING;
	e->pins = 1;
	e->dirty = false;
	e->unsynced = false;
	hlist_add_head(&e->hash, bucket(c, offset));
	list_move_tail(&e->lru, &c->lru);
	return e;
}

/* The claimed entry failed to load: give it back. Takes c->lock. */
static void unclaim(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	spin_lock(&c->lock);
	hlist_del_init(&e->hash);
	e->state = QCOW2_CE_FREE;
	e->offset = 0;
	e->pins--;
	list_move(&e->lru, &c->lru);
	wake_up_all(&c->wait);
	spin_unlock(&c->lock);
}

/**
 * qcow2_cache_get - the table at @offset, pinned
 * @c: the cache
 * @offset: host offset of the table, already checked
 * @meta_locked: the caller holds the device's meta_lock
 * @arg: passed to the cache's validator
 * @out: the entry; release with qcow2_cache_put()
 *
 * Reads the table from the image on a miss and runs the cache's validator
 * on it; a table that fails validation is not cached.
 */
int qcow2_cache_get(struct qcow2_cache *c, u64 offset, bool meta_locked,
		    u64 arg, struct qcow2_cache_entry **out)
{
	struct qcow2_cache_entry *e;
	int ret;

again:
	spin_lock(&c->lock);
	e = lookup(c, offset);
	if (e) {
		e->pins++;
		list_move_tail(&e->lru, &c->lru);
		if (e->state == QCOW2_CE_LOADING) {
			spin_unlock(&c->lock);
			wait_event(c->wait, settled(c, e));
			spin_lock(&c->lock);
		}
		if (e->state != QCOW2_CE_VALID || e->offset != offset) {
			/* The load we waited for failed. */
			e->pins--;
			wake_up_all(&c->wait);
			spin_unlock(&c->lock);
			return -EIO;
		}
		spin_unlock(&c->lock);
		atomic64_inc(&c->hits);
		*out = e;
		return 0;
	}
	e = claim(c, offset, meta_locked, &ret);
	spin_unlock(&c->lock);
	if (!e) {
		if (ret == -EAGAIN)
			goto again;
		return ret;
	}

	atomic64_inc(&c->misses);
	ret = ensure_data(c, e);
	if (!ret)
		ret = qcow2_read_meta(c->q, e->data, c->q->cluster_size,
				      offset);
	if (!ret && c->validate)
		ret = c->validate(c->q, offset, e->data, arg);
	if (ret) {
		unclaim(c, e);
		return ret;
	}
	spin_lock(&c->lock);
	e->state = QCOW2_CE_VALID;
	wake_up_all(&c->wait);
	spin_unlock(&c->lock);
	*out = e;
	return 0;
}

/**
 * qcow2_cache_peek - the cached table at @offset, if it is there
 * @c: the cache
 * @offset: host offset of the table
 *
 * Never reads, waits or pins: for the request path's first try. Returns
 * the table's data with c->lock held (the caller reads it and unlocks),
 * or NULL with the lock not held.
 */
const void *qcow2_cache_peek(struct qcow2_cache *c, u64 offset)
{
	struct qcow2_cache_entry *e;

	spin_lock(&c->lock);
	e = lookup(c, offset);
	if (e && e->state == QCOW2_CE_VALID) {
		list_move_tail(&e->lru, &c->lru);
		atomic64_inc(&c->hits);
		return e->data;
	}
	spin_unlock(&c->lock);
	return NULL;
}

/* Drop @e if it is clean and unused; c->lock held. */
static void forget_one(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	if (e->pins || e->state != QCOW2_CE_VALID || e->dirty || e->unsynced)
		return;
	hlist_del_init(&e->hash);
	e->state = QCOW2_CE_FREE;
	e->offset = 0;
	list_move(&e->lru, &c->lru);
}

/*
 * An entry for a table just allocated at @offset, pinned and LOADING: the
 * caller fills it and then publishes it with qcow2_cache_publish(); nothing
 * between the two can fail. Never read from the image.
 * Caller holds meta_lock.
 */
int qcow2_cache_get_new(struct qcow2_cache *c, u64 offset,
			struct qcow2_cache_entry **out)
{
	struct qcow2_cache_entry *e;
	int ret;

	lockdep_assert_held(&c->q->meta_lock);
	spin_lock(&c->lock);
	/*
	 * The allocator hands out only free clusters, and a freed table
	 * leaves the cache (qcow2_cache_forget()). A lookup that raced with
	 * the free may have cached it again from the hole it left: clean and
	 * unused by now (the cluster is reused only once such lookups are
	 * over), it goes. One in use or dirty is a table the image counts
	 * wrong.
	 */
	e = lookup(c, offset);
	if (e)
		forget_one(c, e);
	if (lookup(c, offset)) {
		spin_unlock(&c->lock);
		qcow2_set_corrupt(c->q, "new %s at 0x%llx is already cached",
				  c->name, offset);
		return -EIO;
	}
	e = claim(c, offset, true, &ret);
	spin_unlock(&c->lock);
	if (!e)
		return ret == -EAGAIN ? -EIO : ret;
	ret = ensure_data(c, e);
	if (ret) {
		unclaim(c, e);
		return ret;
	}
	*out = e;
	return 0;
}

/**
 * qcow2_cache_forget - drop the tables cached in [@pos, @pos + @len)
 * @c: the cache
 * @pos: host offset of clusters just freed
 * @len: bytes
 *
 * A table whose cluster was freed may be cached still, clean; when the
 * cluster comes back as a new table, qcow2_cache_get_new() must not find
 * it. An entry in use or dirty is left: a lookup that read the table
 * before it was freed may hold it still (the cluster is not reused before
 * that lookup is over), and a dirty one is a table the image counts wrong,
 * which qcow2_cache_get_new() reports if the cluster comes back as a
 * table.
 * Caller holds meta_lock.
 */
void qcow2_cache_forget(struct qcow2_cache *c, u64 pos, u64 len)
{
	struct qcow2_cache_entry *e;
	unsigned int i;
	u64 off;

	lockdep_assert_held(&c->q->meta_lock);
	spin_lock(&c->lock);
	if (len >> c->q->cluster_bits < c->nr) {
		for (off = pos; off < pos + len; off += c->q->cluster_size) {
			e = lookup(c, off);
			if (e)
				forget_one(c, e);
		}
	} else {
		for (i = 0; i < c->nr; i++) {
			e = &c->entries[i];
			if (e->state == QCOW2_CE_VALID && e->offset >= pos &&
			    e->offset - pos < len)
				forget_one(c, e);
		}
	}
	spin_unlock(&c->lock);
}

/*
 * The new entry holds its contents: visible, and dirty. It stays pinned:
 * the creator's pin is the caller's to put.
 */
void qcow2_cache_publish(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	lockdep_assert_held(&c->q->meta_lock);
	spin_lock(&c->lock);
	e->state = QCOW2_CE_VALID;
	e->dirty = true;
	wake_up_all(&c->wait);
	spin_unlock(&c->lock);
}

void qcow2_cache_put(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	spin_lock(&c->lock);
	e->pins--;
	if (!e->pins)
		wake_up_all(&c->wait);
	spin_unlock(&c->lock);
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, struct qcow2_cache_entry *e)
{
	lockdep_assert_held(&c->q->meta_lock);
	spin_lock(&c->lock);
	e->dirty = true;
	spin_unlock(&c->lock);
}

bool qcow2_cache_dirty(struct qcow2_cache *c)
{
	unsigned int i;
	bool ret = false;

	spin_lock(&c->lock);
	for (i = 0; i < c->nr && !ret; i++)
		ret = c->entries[i].dirty;
	spin_unlock(&c->lock);
	return ret;
}

/*
 * Write every dirty table back; they stay unsynced until qcow2_sync()
 * covers them. Caller holds meta_lock, so no table changes meanwhile; L2
 * tables first make sure what they depend on is on disk.
 */
int qcow2_cache_writeback(struct qcow2_cache *c)
{
	struct qcow2_dev *q = c->q;
	struct qcow2_cache_entry *e;
	unsigned int i;
	int ret;

	lockdep_assert_held(&q->meta_lock);
	if (!qcow2_cache_dirty(c))
		return 0;
	if (c == &q->l2c) {
		ret = qcow2_l2_writeback_prepare(q);
		if (ret)
			return ret;
	}
	for (i = 0; i < c->nr; i++) {
		e = &c->entries[i];
		spin_lock(&c->lock);
		if (!e->dirty || e->state != QCOW2_CE_VALID) {
			spin_unlock(&c->lock);
			continue;
		}
		e->pins++;
		spin_unlock(&c->lock);

		ret = qcow2_write_meta(q, e->data, q->cluster_size, e->offset);
		atomic64_inc(&q->stats.metadata_writes);

		spin_lock(&c->lock);
		if (!ret) {
			e->dirty = false;
			e->unsynced = true;
		}
		e->pins--;
		wake_up_all(&c->wait);
		spin_unlock(&c->lock);
		if (ret) {
			pr_err_ratelimited("qcow2%d: cannot write %s at 0x%llx: %d\n",
					   q->index, c->name, e->offset, ret);
			return ret;
		}
	}
	return 0;
}

/*
 * A sync covered everything written so far (@ok), or failed: then what
 * was written may not be on disk, and must be written again.
 */
void qcow2_cache_synced(struct qcow2_cache *c, bool ok)
{
	unsigned int i;

	spin_lock(&c->lock);
	for (i = 0; i < c->nr; i++) {
		if (!c->entries[i].unsynced)
			continue;
		c->entries[i].unsynced = false;
		if (!ok)
			c->entries[i].dirty = true;
	}
	spin_unlock(&c->lock);
}

/* Memory the cache's tables take now. */
u64 qcow2_cache_bytes(const struct qcow2_cache *c)
{
	unsigned int i;
	u64 n = 0;

	for (i = 0; i < c->nr; i++)
		if (READ_ONCE(c->entries[i].data))
			n += c->q->cluster_size;
	return n;
}
