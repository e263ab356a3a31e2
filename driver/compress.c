// SPDX-License-Identifier: GPL-2.0
/*
 * Compressed clusters: QEMU's "convert -c" writes a cluster as a raw
 * deflate stream (compression type 0) or a zstd frame (type 1) that starts
 * anywhere in the file and ends somewhere inside its last 512-byte sector,
 * where the next one may begin. The device reads them and never writes
 * them: a write over one copies it into a normal cluster (io.c's rmw()).
 *
 * Reads decompress in the request's own work item, so several clusters
 * decompress at once on an unbound workqueue. The device keeps the last
 * few clusters it decompressed, keyed by their L2 entry (which names the
 * data exactly), so that the 4 KiB reads of a sequential scan decompress
 * each cluster once; readers of a cluster being decompressed wait for it
 * rather than decompress it again. Everything here is allocated at the
 * first compressed read, so images without compressed clusters pay
 * nothing: at most QCOW2_CC_BYTES of clusters (never fewer than two) and
 * one decompression context per CPU, up to QCOW2_CC_CTX_MAX, each with
 * room for the largest compressed data a descriptor can name (two
 * clusters) and the library's workspace.
 *
 * Cached data stays right for as long as the host bytes under its
 * descriptor do not change: the driver never writes into a cluster that
 * holds compressed data, and never reuses a freed cluster. An allocator
 * that reuses freed clusters must forget the entries over them.
 */
#include "qcow2.h"

#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#define QCOW2_CC_BYTES		SZ_512K
#define QCOW2_CC_MIN		2U
#define QCOW2_CC_MAX		16U
#define QCOW2_CC_CTX_MAX	4U

enum qcow2_cc_state {
	QCOW2_CC_EMPTY,
	QCOW2_CC_LOADING,	/* its loader is filling @data */
	QCOW2_CC_VALID,
};

/**
 * struct qcow2_cc_slot - one decompressed cluster
 * @key: the compressed L2 entry it holds the data of
 * @data: the cluster
 * @users: readers copying out of @data, and its loader
 * @used: when it was last looked up, for eviction
 * @state: see enum qcow2_cc_state
 */
struct qcow2_cc_slot {
	u64 key;
	u8 *data;
	unsigned int users;
	u64 used;
	enum qcow2_cc_state state;
};

/**
 * struct qcow2_cc_ctx - what one decompression needs
 * @node: on the free list while unused
 * @in: the compressed data, whole sectors: at most two clusters
 * @zs: zlib's stream, with its workspace
 * @dctx: zstd's context, in @ws
 * @ws: the library's workspace
 */
struct qcow2_cc_ctx {
	struct list_head node;
	u8 *in;
	struct z_stream_s zs;
	zstd_dctx *dctx;
	void *ws;
};

/**
 * struct qcow2_ccache - the device's decompressed clusters
 * @lock: protects slots, @clock and the free context list
 * @wait: woken when a slot finishes loading or loses its last user, and
 *	when a context is put back
 * @slot: the slots
 * @nr: how many
 * @ctx: the decompression contexts
 * @nctx: how many
 * @free_ctx: the contexts not in use
 * @clock: lookups so far, for the slots' @used
 */
struct qcow2_ccache {
	spinlock_t lock;
	wait_queue_head_t wait;
	struct qcow2_cc_slot *slot;
	unsigned int nr;
	struct qcow2_cc_ctx *ctx;
	unsigned int nctx;
	struct list_head free_ctx;
	u64 clock;
};

static void ctx_free(struct qcow2_cc_ctx *c)
{
	kvfree(c->in);
	kvfree(c->ws);
}

static int ctx_init(struct qcow2_dev *q, struct qcow2_cc_ctx *c)
{
	size_t wsize;

	c->in = qcow2_buf_alloc(2 * q->cluster_size, GFP_KERNEL);
	if (!c->in)
		return -ENOMEM;
	if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD)
		wsize = zstd_dctx_workspace_bound();
	else
		wsize = zlib_inflate_workspacesize();
	c->ws = kvmalloc(wsize, GFP_KERNEL);
	if (!c->ws)
		return -ENOMEM;
	if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD) {
		c->dctx = zstd_init_dctx(c->ws, wsize);
		if (!c->dctx)
			return -ENOMEM;
	} else {
		c->zs.workspace = c->ws;
	}
	return 0;
}

static void ccache_free(struct qcow2_ccache *cc)
{
	unsigned int i;

	for (i = 0; cc->slot && i < cc->nr; i++)
		kvfree(cc->slot[i].data);
	for (i = 0; cc->ctx && i < cc->nctx; i++)
		ctx_free(&cc->ctx[i]);
	kfree(cc->slot);
	kfree(cc->ctx);
	kfree(cc);
}

/* Bytes the cache of @q takes once made, at most (load_chain()'s budget). */
size_t qcow2_ccache_max_bytes(struct qcow2_dev *q)
{
	unsigned int nr = clamp(QCOW2_CC_BYTES >> q->cluster_bits,
				QCOW2_CC_MIN, QCOW2_CC_MAX);
	unsigned int nctx = min3(num_online_cpus(), nr, QCOW2_CC_CTX_MAX);
	size_t ws = max_t(size_t, zstd_dctx_workspace_bound(),
			  zlib_inflate_workspacesize());

	return (size_t)nr * q->cluster_size +
	       nctx * (2 * (size_t)q->cluster_size + ws);
}

/* The cache, made at the first compressed read of the device. */
static struct qcow2_ccache *ccache(struct qcow2_dev *q)
{
	/* Pairs with the release below: a cache seen is a cache made. */
	struct qcow2_ccache *cc = smp_load_acquire(&q->ccache);
	unsigned int i;
	int ret = -ENOMEM;

	if (cc)
		return cc;
	mutex_lock(&q->ccache_lock);
	cc = q->ccache;
	if (cc)
		goto out;
	/* The caller's NOIO scope keeps reclaim away from this device. */
	cc = kzalloc(sizeof(*cc), GFP_KERNEL);
	if (!cc)
		goto out;
	spin_lock_init(&cc->lock);
	init_waitqueue_head(&cc->wait);
	INIT_LIST_HEAD(&cc->free_ctx);
	cc->nr = clamp(QCOW2_CC_BYTES >> q->cluster_bits, QCOW2_CC_MIN,
		       QCOW2_CC_MAX);
	cc->slot = kcalloc(cc->nr, sizeof(*cc->slot), GFP_KERNEL);
	cc->nctx = min3(num_online_cpus(), cc->nr, QCOW2_CC_CTX_MAX);
	cc->ctx = kcalloc(cc->nctx, sizeof(*cc->ctx), GFP_KERNEL);
	if (!cc->slot || !cc->ctx)
		goto fail;
	for (i = 0; i < cc->nr; i++) {
		cc->slot[i].data = qcow2_buf_alloc(q->cluster_size, GFP_KERNEL);
		if (!cc->slot[i].data)
			goto fail;
	}
	for (i = 0; i < cc->nctx; i++) {
		ret = ctx_init(q, &cc->ctx[i]);
		if (ret)
			goto fail;
		list_add(&cc->ctx[i].node, &cc->free_ctx);
	}
	/* Published whole: readers take it without the mutex. */
	smp_store_release(&q->ccache, cc);
	goto out;
fail:
	ccache_free(cc);
	cc = NULL;
out:
	mutex_unlock(&q->ccache_lock);
	if (!cc)
		pr_err_ratelimited("qcow2%d: %sout of memory for decompressing clusters\n",
				   q->index, q->tag);
	return cc ?: ERR_PTR(ret);
}

void qcow2_ccache_destroy(struct qcow2_dev *q)
{
	if (q->ccache)
		ccache_free(q->ccache);
	q->ccache = NULL;
}

static struct qcow2_cc_ctx *ctx_get(struct qcow2_ccache *cc)
{
	struct qcow2_cc_ctx *c;

	spin_lock(&cc->lock);
	wait_event_cmd(cc->wait, !list_empty(&cc->free_ctx),
		       spin_unlock(&cc->lock), spin_lock(&cc->lock));
	c = list_first_entry(&cc->free_ctx, struct qcow2_cc_ctx, node);
	list_del(&c->node);
	spin_unlock(&cc->lock);
	return c;
}

static void ctx_put(struct qcow2_ccache *cc, struct qcow2_cc_ctx *c)
{
	spin_lock(&cc->lock);
	list_add(&c->node, &cc->free_ctx);
	spin_unlock(&cc->lock);
	wake_up_all(&cc->wait);
}

/*
 * A raw deflate stream must yield exactly @len bytes. QEMU accepts a
 * stream that fills the cluster before its end-of-stream code is read (it
 * knows the data's length only to the sector), so a full cluster is
 * enough, provided the stream has no byte more to give.
 */
static const char *inflate_cluster(struct qcow2_cc_ctx *c, u8 *out, u32 len,
				   const u8 *in, u32 in_len)
{
	struct z_stream_s *zs = &c->zs;
	const char *why = NULL;
	u8 extra;
	int ret;

	/* Any window: QEMU writes 4 KiB ones, other writers may not. */
	if (zlib_inflateInit2(zs, -MAX_WBITS) != Z_OK)
		return "cannot start inflating";
	zs->next_in = in;
	zs->avail_in = in_len;
	zs->next_out = out;
	zs->avail_out = len;
	ret = zlib_inflate(zs, Z_FINISH);
	if (ret != Z_STREAM_END && ret != Z_OK && ret != Z_BUF_ERROR) {
		why = "the deflate stream is damaged";
	} else if (zs->avail_out) {
		why = "the deflate stream inflates to less than a cluster";
	} else if (ret != Z_STREAM_END) {
		zs->next_out = &extra;
		zs->avail_out = 1;
		ret = zlib_inflate(zs, Z_FINISH);
		if (!zs->avail_out)
			why = "the deflate stream inflates to more than a cluster";
		else if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT ||
			 ret == Z_MEM_ERROR || ret == Z_STREAM_ERROR)
			why = "the deflate stream is damaged";
	}
	zlib_inflateEnd(zs);
	return why;
}

/*
 * zstd frames, followed by whatever shares their last sector, must yield
 * exactly @len bytes; each frame's checksum, when it has one, must match.
 * QEMU writes one frame, and reads as many as it takes to fill the
 * cluster (skippable frames yield nothing): so does this. Every frame
 * takes input, so the loop ends.
 */
static const char *unzstd_cluster(struct qcow2_cc_ctx *c, u8 *out, u32 len,
				  const u8 *in, u32 in_len)
{
	size_t frame, n, done = 0, at = 0;

	while (done < len) {
		frame = zstd_find_frame_compressed_size(in + at, in_len - at);
		if (zstd_is_error(frame))
			return done ? "the zstd frames decompress to less than a cluster, or what follows them is damaged" :
				      "no whole zstd frame";
		n = zstd_decompress_dctx(c->dctx, out + done, len - done,
					 in + at, frame);
		if (zstd_is_error(n)) {
			if (zstd_get_error_code(n) == ZSTD_error_dstSize_tooSmall)
				return "the zstd frame decompresses to more than a cluster";
			if (zstd_get_error_code(n) == ZSTD_error_checksum_wrong)
				return "the zstd frame's checksum does not match";
			return "the zstd frame is damaged";
		}
		done += n;
		at += frame;
	}
	return NULL;
}

/**
 * qcow2_compressed_check - decode and check a compressed L2 entry
 * @q: the device
 * @l2e: the entry
 * @d: where its data lies
 *
 * The data must lie inside the file as it was at attach (the device never
 * writes compressed clusters, so no such entry names a cluster appended
 * since), past the header cluster, and on no cluster that held metadata at
 * attach: its refcounts are dropped when it is replaced. A descriptor the
 * image should never hold marks it corrupt.
 */
int qcow2_compressed_check(struct qcow2_dev *q, u64 l2e,
			   struct qcow2_compressed *d)
{
	struct qcow2_err err;
	u64 cl;

	if (qcow2_l2e_compressed(l2e, q->cluster_bits, q->attach_end, d,
				 &err)) {
		qcow2_set_corrupt(q, "%s", err.msg);
		return -EIO;
	}
	for (cl = d->offset >> q->cluster_bits;
	     cl <= (d->offset + d->bytes - 1) >> q->cluster_bits; cl++) {
		if (qcow2_overlaps_meta(q, cl << q->cluster_bits)) {
			qcow2_set_corrupt(q, "compressed cluster at 0x%llx overlaps metadata at 0x%llx",
					  d->offset, cl << q->cluster_bits);
			return -EIO;
		}
	}
	return 0;
}

/*
 * Check the descriptor @l2e, read its data and decompress it into @out.
 * Data that does not decompress to one cluster is -EBADMSG, with *@why
 * saying how; a failed read of the file only fails the request.
 */
static int load(struct qcow2_dev *q, struct qcow2_ccache *cc, u64 l2e,
		u8 *out, const char **why)
{
	struct qcow2_cc_ctx *c;
	struct qcow2_compressed d;
	u64 start;
	int ret;

	*why = NULL;
	ret = qcow2_compressed_check(q, l2e, &d);
	if (ret)
		return ret;

	c = ctx_get(cc);
	start = round_down(d.offset, SECTOR_SIZE);
	ret = qcow2_read_meta(q, c->in, (size_t)d.sectors * SECTOR_SIZE,
			      start);
	if (ret) {
		pr_err_ratelimited("qcow2%d: %scannot read the compressed cluster at 0x%llx: %d\n",
				   q->index, q->tag, d.offset, ret);
		/* ext4 and xfs say EBADMSG for their own bad checksums. */
		if (ret == -EBADMSG)
			ret = -EIO;
	} else if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD) {
		*why = unzstd_cluster(c, out, q->cluster_size,
				      c->in + (d.offset - start), d.bytes);
	} else {
		*why = inflate_cluster(c, out, q->cluster_size,
				       c->in + (d.offset - start), d.bytes);
	}
	ctx_put(cc, c);
	if (*why)
		ret = -EBADMSG;
	if (!ret)
		atomic64_inc(&q->stats.decompressed);
	return ret;
}

/* A slot no one uses, the least recently used one, or NULL. */
static struct qcow2_cc_slot *victim(struct qcow2_ccache *cc)
{
	struct qcow2_cc_slot *s, *best = NULL;
	unsigned int i;

	for (i = 0; i < cc->nr; i++) {
		s = &cc->slot[i];
		if (s->users)
			continue;
		if (s->state == QCOW2_CC_EMPTY)
			return s;
		if (!best || s->used < best->used)
			best = s;
	}
	return best;
}

static struct qcow2_cc_slot *lookup(struct qcow2_ccache *cc, u64 l2e)
{
	unsigned int i;

	for (i = 0; i < cc->nr; i++)
		if (cc->slot[i].state != QCOW2_CC_EMPTY && cc->slot[i].key == l2e)
			return &cc->slot[i];
	return NULL;
}

/*
 * The slot holding the cluster of @l2e, decompressed, with a use the
 * caller drops with slot_put(); or an ERR_PTR.
 */
static struct qcow2_cc_slot *slot_get(struct qcow2_dev *q,
				      struct qcow2_ccache *cc, u64 l2e,
				      const char **why)
{
	struct qcow2_cc_slot *s;
	int ret;

	spin_lock(&cc->lock);
	for (;;) {
		s = lookup(cc, l2e);
		if (s && s->state == QCOW2_CC_VALID) {
			s->users++;
			s->used = ++cc->clock;
			spin_unlock(&cc->lock);
			atomic64_inc(&q->stats.ccache_hits);
			return s;
		}
		if (!s) {
			s = victim(cc);
			if (s)
				break;
		}
		/* Being decompressed by another reader, or no free slot. */
		wait_event_cmd(cc->wait, !s ? !!victim(cc) :
			       s->state != QCOW2_CC_LOADING || s->key != l2e,
			       spin_unlock(&cc->lock), spin_lock(&cc->lock));
	}
	s->key = l2e;
	s->state = QCOW2_CC_LOADING;
	s->users = 1;
	s->used = ++cc->clock;
	spin_unlock(&cc->lock);

	ret = load(q, cc, l2e, s->data, why);

	spin_lock(&cc->lock);
	if (ret) {
		s->state = QCOW2_CC_EMPTY;
		s->users = 0;
	} else {
		s->state = QCOW2_CC_VALID;
	}
	spin_unlock(&cc->lock);
	wake_up_all(&cc->wait);
	return ret ? ERR_PTR(ret) : s;
}

static void slot_put(struct qcow2_ccache *cc, struct qcow2_cc_slot *s)
{
	bool idle;

	spin_lock(&cc->lock);
	idle = !--s->users;
	spin_unlock(&cc->lock);
	if (idle)
		wake_up_all(&cc->wait);
}

/*
 * The slot for @l2e. Data that does not decompress marks the image corrupt,
 * unless @recheck: the caller looked the entry up without the metadata lock,
 * and a write or discard may have freed the data since (its cluster punched,
 * reading zeros); it gets -EBADMSG, looks the entry up again, and asks once
 * more without @recheck if the entry is the same.
 */
static struct qcow2_cc_slot *slot_get_checked(struct qcow2_dev *q, u64 l2e,
					      bool recheck)
{
	struct qcow2_ccache *cc = ccache(q);
	struct qcow2_compressed d;
	struct qcow2_cc_slot *s;
	const char *why = NULL;

	if (IS_ERR(cc))
		return ERR_CAST(cc);
	s = slot_get(q, cc, l2e, &why);
	if (IS_ERR(s) && why && !recheck) {
		qcow2_compressed_check(q, l2e, &d);
		qcow2_set_corrupt(q, "compressed cluster at 0x%llx (%u sectors): %s",
				  d.offset, d.sectors, why);
		return ERR_PTR(-EIO);
	}
	return s;
}

/**
 * qcow2_compressed_read - guest bytes of a compressed cluster
 * @q: the device
 * @l2e: the cluster's L2 entry, compressed
 * @off: offset of the bytes in the cluster
 * @len: how many; they do not cross the cluster's end
 * @iter: where they go, advanced past them
 * @recheck: -EBADMSG for data that does not decompress, rather than
 *	marking the image corrupt: the caller will look @l2e up again
 */
int qcow2_compressed_read(struct qcow2_dev *q, u64 l2e, u32 off, u32 len,
			  struct iov_iter *iter, bool recheck)
{
	struct qcow2_cc_slot *s;
	size_t n;

	s = slot_get_checked(q, l2e, recheck);
	if (IS_ERR(s))
		return PTR_ERR(s);
	n = copy_to_iter(s->data + off, len, iter);
	slot_put(q->ccache, s);
	return n == len ? 0 : -EFAULT;
}

/**
 * qcow2_compressed_copy - a whole compressed cluster, for copy-on-write
 * @q: the device
 * @l2e: the cluster's L2 entry, compressed, looked up under meta_lock
 * @buf: a cluster's worth of room
 */
int qcow2_compressed_copy(struct qcow2_dev *q, u64 l2e, void *buf)
{
	struct qcow2_cc_slot *s;

	s = slot_get_checked(q, l2e, false);
	if (IS_ERR(s))
		return PTR_ERR(s);
	memcpy(buf, s->data, q->cluster_size);
	slot_put(q->ccache, s);
	return 0;
}

/**
 * qcow2_compressed_warm - decompress the cluster of @l2e into the cache
 * @q: the device
 * @l2e: a compressed L2 entry
 *
 * For a write that will copy it: done before the metadata lock, so that
 * allocating writes and flushes do not wait for the decompression (the copy
 * finds it kept, or decompresses it again if it was evicted meanwhile).
 * Errors are the copy's to report.
 */
void qcow2_compressed_warm(struct qcow2_dev *q, u64 l2e)
{
	struct qcow2_ccache *cc = ccache(q);
	struct qcow2_cc_slot *s;
	const char *why;

	if (IS_ERR(cc))
		return;
	s = slot_get(q, cc, l2e, &why);
	if (!IS_ERR(s))
		slot_put(cc, s);
}

/**
 * qcow2_compressed_forget - drop the cached data of @l2e
 * @q: the device
 * @l2e: a compressed L2 entry the image no longer uses here
 *
 * A slot in use stays; its users hold data that was right when they
 * looked it up.
 */
void qcow2_compressed_forget(struct qcow2_dev *q, u64 l2e)
{
	/* Pairs with ccache()'s release. */
	struct qcow2_ccache *cc = smp_load_acquire(&q->ccache);
	struct qcow2_cc_slot *s;

	if (!cc)
		return;
	spin_lock(&cc->lock);
	s = lookup(cc, l2e);
	if (s && s->state == QCOW2_CC_VALID && !s->users)
		s->state = QCOW2_CC_EMPTY;
	spin_unlock(&cc->lock);
}
