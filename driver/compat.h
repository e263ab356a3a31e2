/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels the driver supports (Debian's 6.1 and
 * 6.12), each with the version that introduced it, so that the rest of the
 * driver is written against one API.
 */
#ifndef QCOW2_COMPAT_H
#define QCOW2_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/version.h>

/* Linux 6.3: struct file_lock and its functions moved to <linux/filelock.h>. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#include <linux/filelock.h>
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "qcow2 needs Linux 6.1 or later"
#endif

/**
 * struct qcow2_limits - the queue limits the driver sets
 * @logical_block_size: bytes
 * @physical_block_size: bytes
 * @io_min: bytes
 * @io_opt: bytes
 * @max_hw_sectors: 512-byte sectors per request
 * @max_discard_sectors: per discard request; 0: no discard
 * @discard_granularity: bytes
 * @max_write_zeroes_sectors: per write-zeroes request; 0: none
 */
struct qcow2_limits {
	unsigned int logical_block_size;
	unsigned int physical_block_size;
	unsigned int io_min;
	unsigned int io_opt;
	unsigned int max_hw_sectors;
	unsigned int max_discard_sectors;
	unsigned int discard_granularity;
	unsigned int max_write_zeroes_sectors;
};

/*
 * Allocate a blk-mq disk with the limits @l, a volatile write cache and
 * FUA: flush and FUA both reach the image file's disk.
 *
 * Linux 6.9: blk_mq_alloc_disk() takes the queue_limits.
 * Linux 6.11: the write cache and FUA are queue_limits features.
 */
static inline struct gendisk *qcow2_alloc_disk(struct blk_mq_tag_set *set,
					       const struct qcow2_limits *l,
					       void *queuedata)
{
	struct gendisk *disk;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size	= l->logical_block_size,
		.physical_block_size	= l->physical_block_size,
		.io_min			= l->io_min,
		.io_opt			= l->io_opt,
		.max_hw_sectors		= l->max_hw_sectors,
		.max_hw_discard_sectors	= l->max_discard_sectors,
		.discard_granularity	= l->discard_granularity,
		.max_write_zeroes_sectors = l->max_write_zeroes_sectors,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
		.features		= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA,
#endif
	};

	disk = blk_mq_alloc_disk(set, &lim, queuedata);
	if (IS_ERR(disk))
		return disk;
#else
	disk = blk_mq_alloc_disk(set, queuedata);
	if (IS_ERR(disk))
		return disk;
	blk_queue_logical_block_size(disk->queue, l->logical_block_size);
	blk_queue_physical_block_size(disk->queue, l->physical_block_size);
	blk_queue_io_min(disk->queue, l->io_min);
	blk_queue_io_opt(disk->queue, l->io_opt);
	blk_queue_max_hw_sectors(disk->queue, l->max_hw_sectors);
	blk_queue_max_discard_sectors(disk->queue, l->max_discard_sectors);
	disk->queue->limits.discard_granularity = l->discard_granularity;
	blk_queue_max_write_zeroes_sectors(disk->queue,
					   l->max_write_zeroes_sectors);
#endif
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 11, 0)
	blk_queue_write_cache(disk->queue, true, true);
#endif
	return disk;
}

/*
 * Linux 6.5: block_device_operations.open takes the gendisk and a
 * blk_mode_t, and .release no longer gets the mode. The driver implements
 * qcow2_open_disk() and qcow2_release_disk(); these adapt them.
 */
int qcow2_open_disk(struct gendisk *disk);
void qcow2_release_disk(struct gendisk *disk);

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
static inline int qcow2_bdev_open(struct gendisk *disk, blk_mode_t mode)
{
	return qcow2_open_disk(disk);
}

static inline void qcow2_bdev_release(struct gendisk *disk)
{
	qcow2_release_disk(disk);
}
#else
static inline int qcow2_bdev_open(struct block_device *bdev, fmode_t mode)
{
	return qcow2_open_disk(bdev->bd_disk);
}

static inline void qcow2_bdev_release(struct gendisk *disk, fmode_t mode)
{
	qcow2_release_disk(disk);
}
#endif

/*
 * Set the size of @file's inode (the caller holds the inode lock and
 * freeze protection) as ftruncate() does, through the file's mount.
 *
 * Linux 6.3: notify_change() takes the mount's idmap, not its user
 * namespace.
 */
static inline int qcow2_notify_size(struct file *file, loff_t size)
{
	struct iattr ia = {
		.ia_valid	= ATTR_SIZE | ATTR_FILE,
		.ia_size	= size,
		.ia_file	= file,
	};

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	return notify_change(file_mnt_idmap(file), file->f_path.dentry, &ia,
			     NULL);
#else
	return notify_change(file_mnt_user_ns(file), file->f_path.dentry, &ia,
			     NULL);
#endif
}

/*
 * A request for an OFD lock of type @type (F_RDLCK, F_WRLCK, F_UNLCK) on
 * bytes @start to @end of @file, as fcntl(F_OFD_SETLK/GETLK) builds it: the
 * open file owns the lock, so only another open file conflicts with it, and
 * __fput() of @file drops it.
 *
 * Linux 6.9: owner, flags, type, pid and file moved from struct file_lock
 * into its struct file_lock_core c.
 */
static inline void qcow2_ofd_lock_init(struct file_lock *fl, struct file *file,
				       int type, loff_t start, loff_t end)
{
	locks_init_lock(fl);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	fl->c.flc_owner = file;
	fl->c.flc_flags = FL_POSIX | FL_OFDLCK;
	fl->c.flc_type = type;
	fl->c.flc_pid = current->tgid;
	fl->c.flc_file = file;
#else
	fl->fl_owner = file;
	fl->fl_flags = FL_POSIX | FL_OFDLCK;
	fl->fl_type = type;
	fl->fl_pid = current->tgid;
	fl->fl_file = file;
#endif
	fl->fl_start = start;
	fl->fl_end = end;
}

/* The type vfs_test_lock() left: F_UNLCK when nothing conflicts. */
static inline int qcow2_lock_type(const struct file_lock *fl)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	return fl->c.flc_type;
#else
	return fl->fl_type;
#endif
}

#endif /* QCOW2_COMPAT_H */
