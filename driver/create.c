// SPDX-License-Identifier: GPL-2.0
/*
 * QCOW2_IOC_CREATE: write a new qcow2 image into an empty file, through the
 * kernel's own file I/O.
 *
 * The layout (qcow2_layout_compute()) puts the header cluster, refcount
 * table, refcount blocks, L1 table and L2 tables first and the data
 * clusters after them, contiguous and in guest order. With preallocation,
 * every L2 entry already points at its data cluster with COPIED set, so a
 * first write to the image needs no metadata update at all.
 *
 * The header is written last, after everything else is on disk: an image
 * whose creation failed or was interrupted has no qcow2 magic, so it can
 * never pass for a complete image.
 */
#include "qcow2.h"

#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

/* Metadata and zeroes are written in chunks of this size (or a cluster). */
#define QCOW2_CREATE_CHUNK	(1U << 20)

#define create_err(file, fmt, ...) \
	pr_err("create %pD: " fmt "\n", file, ##__VA_ARGS__)

/* qcow2_image_writer's write: all of @buf at @pos, stopping for signals. */
static int qcow2_create_write_fn(void *ctx, const void *buf, size_t len,
				 u64 pos)
{
	struct file *file = ctx;
	loff_t off = pos;

	while (len) {
		ssize_t n;

		if (signal_pending(current))
			return -EINTR;
		n = kernel_write(file, buf, len, &off);
		if (n < 0)
			return n;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= n;
		cond_resched();
	}
	return 0;
}

/* Make the data area zeros on disk, written a chunk at a time. */
static int qcow2_zero_data(struct qcow2_image_writer *w)
{
	u64 off = w->l->data_offset;
	u64 end = off + (w->l->data_clusters << w->p->cluster_bits);
	int ret;

	memset(w->buf, 0, w->chunk);
	for (; off < end; off += w->chunk) {
		ret = qcow2_create_write_fn(w->ctx, w->buf,
					    min_t(u64, w->chunk, end - off), off);
		if (ret)
			return ret;
	}
	return 0;
}

static int qcow2_create_write(struct qcow2_image_writer *w)
{
	const struct qcow2_layout *l = w->l;
	u64 data_len = l->data_clusters << w->p->cluster_bits;
	struct file *file = w->ctx;
	int ret;

	ret = qcow2_write_metadata(w);
	if (ret) {
		if (ret != -EINTR)
			create_err(file, "writing metadata failed: %d", ret);
		return ret;
	}

	/*
	 * Allocating the data area in one call lets the filesystem lay it out
	 * in few extents; "full" then writes the zeros into them.
	 */
	if (data_len && w->p->prealloc >= QCOW2_PREALLOC_FALLOC) {
		ret = vfs_fallocate(file, 0, l->data_offset, data_len);
		if (ret == -EOPNOTSUPP && w->p->prealloc == QCOW2_PREALLOC_FULL)
			ret = 0;
		if (ret) {
			create_err(file, "cannot allocate %llu bytes of data: %d%s",
				   data_len, ret, ret == -EOPNOTSUPP ?
				   " (the filesystem cannot fallocate; use full preallocation)" : "");
			return ret;
		}
		if (w->p->prealloc == QCOW2_PREALLOC_FULL) {
			ret = qcow2_zero_data(w);
			if (ret) {
				if (ret != -EINTR)
					create_err(file, "writing zeros failed: %d", ret);
				return ret;
			}
		}
	}

	/* The rest of the file's length is a hole: sparse, never written. */
	ret = vfs_truncate(&file->f_path, l->file_length);
	if (!ret)
		ret = vfs_fsync(file, 0);
	if (ret) {
		create_err(file, "cannot set the file length or sync: %d", ret);
		return ret;
	}

	ret = qcow2_write_header(w);
	if (!ret)
		ret = vfs_fsync(file, 0);
	if (ret && ret != -EINTR)
		create_err(file, "writing the header failed: %d", ret);
	return ret;
}

/* A user string of at most @max bytes, or NULL for a null pointer. */
static char *qcow2_user_string(u64 uptr, size_t max)
{
	char *s;

	if (!uptr)
		return NULL;
	s = strndup_user(u64_to_user_ptr(uptr), max + 1);
	if (!IS_ERR(s) && !*s) {
		kfree(s);
		return ERR_PTR(-EINVAL);
	}
	return s;
}

static int qcow2_create_params_from(const struct qcow2_create *arg,
				    struct file *file,
				    struct qcow2_create_params *p)
{
	u32 cluster_size = arg->cluster_size ?: 65536;
	u32 refcount_bits = arg->refcount_bits ?: 16;
	int ret;

	if (arg->flags & ~QCOW2_CREATE_FLAGS_ALL) {
		create_err(file, "unknown flags 0x%x",
			   arg->flags & ~QCOW2_CREATE_FLAGS_ALL);
		return -EINVAL;
	}
	if (memchr_inv(arg->reserved, 0, sizeof(arg->reserved))) {
		create_err(file, "reserved fields must be zero");
		return -EINVAL;
	}
	ret = qcow2_cluster_bits(cluster_size);
	if (ret < 0) {
		create_err(file, "cluster_size %u is not a power of two from 512 to 2097152",
			   cluster_size);
		return ret;
	}
	p->cluster_bits = ret;
	ret = qcow2_refcount_order(refcount_bits);
	if (ret < 0) {
		create_err(file, "refcount_bits %u is not a power of two from 1 to 64",
			   refcount_bits);
		return ret;
	}
	p->refcount_order = ret;
	if (arg->prealloc > QCOW2_CREATE_PREALLOC_FULL) {
		create_err(file, "unknown prealloc mode %u", arg->prealloc);
		return -EINVAL;
	}
	p->prealloc = arg->prealloc;	/* same values, see qcow2_format.h */
	p->size = arg->size;
	p->version = arg->version ?: 3;
	p->lazy_refcounts = arg->flags & QCOW2_CREATE_LAZY_REFCOUNTS;
	p->extended_l2 = arg->flags & QCOW2_CREATE_EXTENDED_L2;
	return 0;
}

/* The image file must be an empty regular file open for writing. */
static int qcow2_create_check_file(struct file *file)
{
	struct inode *inode = file_inode(file);

	if (!(file->f_mode & FMODE_WRITE)) {
		create_err(file, "file is not open for writing");
		return -EBADF;
	}
	if (!S_ISREG(inode->i_mode)) {
		create_err(file, "not a regular file");
		return -EINVAL;
	}
	if (file->f_flags & O_APPEND) {
		create_err(file, "file is open with O_APPEND");
		return -EINVAL;
	}
	if (i_size_read(inode)) {
		create_err(file, "file is not empty (%lld bytes)",
			   i_size_read(inode));
		return -EINVAL;
	}
	return 0;
}

long qcow2_ctl_create(unsigned int cmd, void __user *uarg)
{
	struct qcow2_create arg;
	struct qcow2_create_params p = { 0 };
	struct qcow2_layout l;
	struct qcow2_image_writer w;
	struct qcow2_err err;
	char *backing = NULL, *backing_fmt = NULL;
	struct file *file;
	int ret;

	ret = qcow2_ctl_copy_in(&arg, sizeof(arg), cmd, uarg);
	if (ret)
		return ret;
	file = fget(arg.fd);
	if (!file)
		return -EBADF;

	ret = qcow2_create_params_from(&arg, file, &p);
	if (ret)
		goto out_file;
	ret = qcow2_create_check_file(file);
	if (ret)
		goto out_file;

	backing = qcow2_user_string(arg.backing_file, QCOW2_MAX_BACKING_NAME);
	backing_fmt = qcow2_user_string(arg.backing_format,
					QCOW2_MAX_BACKING_FORMAT);
	if (IS_ERR(backing) || IS_ERR(backing_fmt)) {
		ret = PTR_ERR(IS_ERR(backing) ? backing : backing_fmt);
		if (ret == -EINVAL)
			create_err(file, "backing file name (at most %u bytes) or format (at most %u bytes) is empty or too long",
				   QCOW2_MAX_BACKING_NAME,
				   QCOW2_MAX_BACKING_FORMAT);
		goto out_strings;
	}
	p.backing_len = backing ? strlen(backing) : 0;
	p.backing_fmt_len = backing_fmt ? strlen(backing_fmt) : 0;

	ret = qcow2_layout_compute(&p, &l, &err);
	if (ret) {
		create_err(file, "%s", err.msg);
		goto out_strings;
	}
	if (l.file_length > file_inode(file)->i_sb->s_maxbytes) {
		create_err(file, "image of %llu bytes is larger than the filesystem allows",
			   l.file_length);
		ret = -EFBIG;
		goto out_strings;
	}

	w = (struct qcow2_image_writer) {
		.p = &p,
		.l = &l,
		.backing = backing,
		.backing_fmt = backing_fmt,
		.chunk = max_t(size_t, QCOW2_CREATE_CHUNK, 1U << p.cluster_bits),
		.write = qcow2_create_write_fn,
		.ctx = file,
	};
	w.buf = kvmalloc(w.chunk, GFP_KERNEL);
	if (!w.buf) {
		ret = -ENOMEM;
		goto out_strings;
	}
	ret = qcow2_create_write(&w);
	kvfree(w.buf);
	if (ret)
		goto out_strings;

	arg.file_length = l.file_length;
	ret = qcow2_ctl_copy_out(uarg, cmd, &arg, sizeof(arg));
out_strings:
	if (!IS_ERR_OR_NULL(backing))
		kfree(backing);
	if (!IS_ERR_OR_NULL(backing_fmt))
		kfree(backing_fmt);
out_file:
	fput(file);
	return ret;
}
