// SPDX-License-Identifier: GPL-2.0
/*
 * The image file: every byte the driver moves to or from it outside the
 * request path (metadata, copy-on-write, subcluster fills, the header)
 * goes through here, with the same discipline as the request path's
 * kiocbs in io.c: direct I/O when the device uses it, buffered otherwise.
 *
 * Mixing the two on one file loses data. A direct write that completes
 * while the page cache holds a dirty page over the same bytes cannot
 * invalidate that page ("Page cache invalidation failure"), and the later
 * write-back of the page puts old bytes over the new ones. With 512-byte
 * clusters or 2 KiB subclusters, metadata and data share pages, so one
 * discipline per file is the only rule that holds.
 */
#include "qcow2.h"

#include <linux/bvec.h>
#include <linux/cred.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>

/**
 * qcow2_buf_alloc - a buffer for file I/O of @size bytes
 * @size: bytes; the buffer is rounded up to a multiple of 512
 * @gfp: allocation flags
 *
 * Aligned for direct I/O whatever @size: kmalloc() aligns power-of-two
 * sizes to their size, and larger buffers come from the page allocator or
 * vmalloc, page aligned. Free with kvfree().
 */
void *qcow2_buf_alloc(size_t size, gfp_t gfp)
{
	size = round_up(max_t(size_t, size, 1), SECTOR_SIZE);
	if (size <= PAGE_SIZE)
		return kmalloc(roundup_pow_of_two(size), gfp);
	return kvmalloc(round_up(size, PAGE_SIZE), gfp);
}

static bool dio_aligned(u64 pos, size_t len, const void *buf)
{
	return !((pos | len | (unsigned long)buf) & (SECTOR_SIZE - 1));
}

/* Direct I/O needs pages: 6.1 cannot take the pages of a kvec iterator. */
static unsigned int buf_bvecs(void *buf, size_t len, struct bio_vec *bv)
{
	unsigned int n = 0, off, seg;
	u8 *p = buf;

	while (len) {
		off = offset_in_page(p);
		seg = min_t(size_t, len, PAGE_SIZE - off);
		bvec_set_page(&bv[n++], is_vmalloc_addr(p) ? vmalloc_to_page(p) :
				      virt_to_page(p), seg, off);
		p += seg;
		len -= seg;
	}
	return n;
}

/*
 * One synchronous read or write of @len bytes at @pos, aligned for direct
 * I/O when the device uses it. Returns bytes moved or -errno.
 */
static ssize_t file_rw(struct qcow2_dev *q, unsigned int dir, void *buf,
		       size_t len, u64 pos)
{
	struct bio_vec stack[4], *bv = stack;
	unsigned int nr = DIV_ROUND_UP(len, PAGE_SIZE) + 1;
	struct file *file = q->file;
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

	if (nr > ARRAY_SIZE(stack)) {
		bv = kvmalloc_array(nr, sizeof(*bv), GFP_NOIO);
		if (!bv)
			return -ENOMEM;
	}
	nr = buf_bvecs(buf, len, bv);
	iov_iter_bvec(&iter, dir, bv, nr, len);
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = pos;
	if (q->use_dio)
		kiocb.ki_flags |= IOCB_DIRECT;
	if (dir == ITER_SOURCE) {
		file_start_write(file);
		ret = file->f_op->write_iter(&kiocb, &iter);
		file_end_write(file);
	} else {
		ret = file->f_op->read_iter(&kiocb, &iter);
	}
	if (bv != stack)
		kvfree(bv);
	return ret;
}

/*
 * Read all of [@pos, @pos + @len): a read that stops short is asked for
 * the rest, so that an error in the middle is reported as itself; one that
 * returns nothing is an error unless it stopped at the end of the file,
 * past which an image reads as zeros. The file only grows while attached
 * (qcow2_file_resize()), so i_size taken before the read is a bound the
 * end of the file cannot fall below.
 */
static int read_full(struct qcow2_dev *q, void *buf, size_t len, u64 pos)
{
	u64 size = qcow2_file_size(q->file);
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = file_rw(q, ITER_DEST, (u8 *)buf + done, len - done,
			    pos + done);
		if (n < 0)
			return n;
		if (!n) {
			if (pos + done < size)
				return -EIO;
			memset((u8 *)buf + done, 0, len - done);
			break;
		}
		done += n;
	}
	return 0;
}

/* A short write is asked for the rest: the second answer says why. */
static int write_full(struct qcow2_dev *q, const void *buf, size_t len,
		      u64 pos)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = file_rw(q, ITER_SOURCE, (u8 *)buf + done, len - done,
			    pos + done);
		if (n < 0)
			return n;
		if (!n)
			return -EIO;
		done += n;
	}
	return 0;
}

/*
 * I/O the direct path cannot take as it is (header fields, snapshot table
 * entries): through an aligned buffer over the whole sectors. A write
 * reads the sectors first; the caller serialises writes to them.
 */
static int bounce_rw(struct qcow2_dev *q, bool write, void *buf, size_t len,
		     u64 pos)
{
	u64 start = round_down(pos, SECTOR_SIZE);
	size_t blen = round_up(pos + len, SECTOR_SIZE) - start;
	u8 *b = qcow2_buf_alloc(blen, GFP_NOIO);
	int ret;

	if (!b)
		return -ENOMEM;
	ret = read_full(q, b, blen, start);
	if (!ret && write) {
		memcpy(b + (pos - start), buf, len);
		ret = write_full(q, b, blen, start);
	} else if (!ret) {
		memcpy(buf, b + (pos - start), len);
	}
	kvfree(b);
	return ret;
}

int qcow2_read_meta(struct qcow2_dev *q, void *buf, size_t len, u64 pos)
{
	if (q->use_dio && !dio_aligned(pos, len, buf))
		return bounce_rw(q, false, buf, len, pos);
	return read_full(q, buf, len, pos);
}

int qcow2_write_meta(struct qcow2_dev *q, const void *buf, size_t len,
		     u64 pos)
{
	int ret;

	if (q->use_dio && !dio_aligned(pos, len, buf))
		ret = bounce_rw(q, true, (void *)buf, len, pos);
	else
		ret = write_full(q, buf, len, pos);
	if (!ret)
		WRITE_ONCE(q->unsynced, true);
	return ret;
}

/**
 * qcow2_file_sync - vfs_fsync() the image file, for every caller
 * @q: the device
 *
 * The kernel reports a write-back error to an open file once. With
 * buffered I/O the pages it could not write are gone or marked clean by
 * then, so the first report must not be lost whoever syncs: it sticks in
 * @q->wb_err, and every later sync fails with it (qcow2_sync()).
 *
 * With direct I/O a failed sync loses nothing the driver cannot write
 * again (the tables stay dirty, and no guest write was acknowledged as
 * durable), unless the file's page cache recorded an error of its own:
 * a direct write that could not invalidate a stale page over its bytes,
 * or write-back of pages someone else dirtied. That happens when the
 * file system turns sub-block direct writes into buffered ones (XFS does
 * for a reflinked file, even one cp --reflink shared after attach), and
 * such a page written back later puts old bytes over acknowledged ones:
 * it sticks too. Syncs are serialised, so that a sync cannot return 0
 * while another one holds the error it consumed.
 */
int qcow2_file_sync(struct qcow2_dev *q)
{
	struct address_space *mapping = q->file->f_mapping;
	int ret;

	mutex_lock(&q->sync_lock);
	ret = q->wb_err;
	if (ret)
		goto out;
	ret = vfs_fsync(q->file, 0);
	if (q->use_dio && errseq_check(&mapping->wb_err, q->wb_seq)) {
		ret = -EIO;
		pr_err("qcow2%d: the page cache of the image file lost writes (a direct write could not replace a cached page, or write-back failed): writes and flushes fail from now on; detach with --force and run 'qemu-img check'\n",
		       q->index);
	} else if (ret && !q->use_dio) {
		pr_err("qcow2%d: write-back to the image file failed (%d): the page cache may have lost writes, so writes and flushes fail from now on; detach with --force and run 'qemu-img check'\n",
		       q->index, ret);
	} else {
		goto out;
	}
	WRITE_ONCE(q->wb_err, ret);
out:
	mutex_unlock(&q->sync_lock);
	return ret;
}

/* Header fields share sector 0: one writer at a time. */
int qcow2_write_header_field(struct qcow2_dev *q, const void *buf,
			     size_t len, u64 pos)
{
	int ret;

	mutex_lock(&q->hdr_lock);
	ret = qcow2_write_meta(q, buf, len, pos);
	mutex_unlock(&q->hdr_lock);
	return ret;
}

/**
 * qcow2_file_resize - make the image file @size bytes long
 * @q: the device
 * @size: new length; growing leaves a hole
 *
 * Through the file the device holds and with the credentials it was
 * opened with, not by path from a kworker as root: no lookup, no lease
 * break, and the file system's own limits (EFBIG past s_maxbytes) apply.
 */
int qcow2_file_resize(struct qcow2_dev *q, u64 size)
{
	struct file *file = q->file;
	struct inode *inode = file_inode(file);
	const struct cred *old;
	int ret;

	old = override_creds(file->f_cred);
	file_start_write(file);
	inode_lock(inode);
	ret = qcow2_notify_size(file, size);
	inode_unlock(inode);
	file_end_write(file);
	revert_creds(old);
	return ret;
}

/*
 * The image file as it stands is the image: nothing of it may linger in
 * the page cache once the device writes around it.
 */
int qcow2_file_settle(struct qcow2_dev *q)
{
	struct address_space *mapping = q->file->f_mapping;
	int ret;

	ret = filemap_write_and_wait(mapping);
	if (ret || !q->use_dio)
		return ret;
	return invalidate_inode_pages2(mapping);
}

static int punch(struct qcow2_dev *q, u64 pos, u64 len)
{
	const struct cred *old;
	int ret;

	old = override_creds(q->file->f_cred);
	ret = vfs_fallocate(q->file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    pos, len);
	revert_creds(old);
	return ret;
}

/**
 * qcow2_file_punch - give the file system back the clusters at [@pos, @pos + @len)
 * @q: the device
 * @pos: host offset, cluster aligned
 * @len: bytes, whole clusters
 *
 * Only for clusters nothing uses any more: their refcount is 0 and no
 * table on disk names them. Only the file system blocks they cover whole
 * are punched: a file system zeroes a part of a block through the page
 * cache, which would mix buffered writes with the device's direct I/O. So
 * clusters smaller than a block may keep their space (and their data:
 * they are then not reused). What is punched reads as zeros afterwards,
 * and the file keeps its size. Through the file the device holds, with
 * its opener's credentials, as qcow2_file_resize().
 */
int qcow2_file_punch(struct qcow2_dev *q, u64 pos, u64 len)
{
	u64 bs = i_blocksize(file_inode(q->file));
	u64 start = round_up(pos, bs), end = round_down(pos + len, bs);

	return start < end ? punch(q, start, end - start) : 0;
}

/*
 * Whether the image file can punch holes, asked at attach of a writable
 * device: a regular file whose file system takes FALLOC_FL_PUNCH_HOLE for
 * a block past its end (which changes nothing: a hole there already).
 * A block device as the image file would zero the range instead, and a
 * range past its end is an error: it is not asked.
 */
bool qcow2_file_can_punch(struct qcow2_dev *q)
{
	struct inode *inode = file_inode(q->file);
	u64 unit = max_t(u64, q->cluster_size, i_blocksize(inode));

	if (!S_ISREG(inode->i_mode) || !q->file->f_op->fallocate)
		return false;
	return !punch(q, round_up(i_size_read(inode), unit), unit);
}
