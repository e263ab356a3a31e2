/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2ctl: reading an image's header, backing file name and snapshot
 * table from a file descriptor, decoded and checked by the driver's own
 * format code (driver/qcow2_format.c).
 */
#ifndef QCOW2CTL_IMAGE_H
#define QCOW2CTL_IMAGE_H

#include <sys/types.h>

#include "qcow2_format.h"

/*
 * Read @len bytes at @pos, retrying short reads; returns the bytes read
 * (fewer only at the end of the file) or -1 with errno set.
 */
ssize_t image_pread(int fd, void *buf, size_t len, u64 pos);

/*
 * Decode and check the header of the image open as @fd, whose file is
 * @file_size bytes long, and what it says of its backing file. 0 or
 * -errno with @err saying why.
 */
int image_read_header(int fd, u64 file_size, struct qcow2_header *h,
		      struct qcow2_backing_name *b, struct qcow2_err *err);

/**
 * struct image_snapshot - one entry of the snapshot table
 * @s: the entry's fields, extra data included
 * @id: its id, NUL-terminated
 * @name: its name (QEMU's "tag"), NUL-terminated
 */
struct image_snapshot {
	struct qcow2_snapshot s;
	char *id;
	char *name;
};

/*
 * Read the snapshot table of the image @fd with the checked header @h:
 * *@out gets an array of @h->nb_snapshots entries, in table order.
 * 0 or -errno with @err saying why (nothing to free then).
 */
int image_read_snapshots(int fd, u64 file_size, const struct qcow2_header *h,
			 struct image_snapshot **out, struct qcow2_err *err);
void image_free_snapshots(struct image_snapshot *s, u32 count);

#endif /* QCOW2CTL_IMAGE_H */
