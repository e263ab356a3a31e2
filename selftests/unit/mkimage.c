// SPDX-License-Identifier: GPL-2.0
/*
 * mkimage: write a new image with the shared format code on the host,
 * exactly as QCOW2_IOC_CREATE lays it out, so that selftests/unit/run.sh
 * can hold the layout against qemu-img without booting a guest. The data
 * area is left a hole (falloc and full differ only in kernel file I/O).
 *
 *   mkimage FILE SIZE CLUSTER_SIZE VERSION REFCOUNT_BITS off|metadata
 *           [extl2] [lazy] [backing=NAME] [format=FMT]
 *
 * Prints the layout as "name value" lines.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include "qcow2_format.h"

static int write_fn(void *ctx, const void *buf, size_t len, u64 pos)
{
	int fd = *(int *)ctx;

	while (len) {
		ssize_t n = pwrite(fd, buf, len, pos);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (const char *)buf + n;
		len -= n;
		pos += n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct qcow2_create_params p = { 0 };
	struct qcow2_image_writer w = { 0 };
	struct qcow2_layout l;
	struct qcow2_err err;
	const char *backing = NULL, *fmt = NULL;
	int fd, i, ret;

	if (argc < 7) {
		fprintf(stderr, "usage: see the comment at the top of mkimage.c\n");
		return 2;
	}
	p.size = strtoull(argv[2], NULL, 0);
	p.cluster_bits = qcow2_cluster_bits(strtoull(argv[3], NULL, 0));
	p.version = strtoul(argv[4], NULL, 0);
	p.refcount_order = qcow2_refcount_order(strtoull(argv[5], NULL, 0));
	p.prealloc = strcmp(argv[6], "metadata") ? QCOW2_PREALLOC_OFF :
						   QCOW2_PREALLOC_METADATA;
	for (i = 7; i < argc; i++) {
		if (!strcmp(argv[i], "extl2"))
			p.extended_l2 = true;
		else if (!strcmp(argv[i], "lazy"))
			p.lazy_refcounts = true;
		else if (!strncmp(argv[i], "backing=", 8))
			backing = argv[i] + 8;
		else if (!strncmp(argv[i], "format=", 7))
			fmt = argv[i] + 7;
	}
	p.backing_len = backing ? strlen(backing) : 0;
	p.backing_fmt_len = fmt ? strlen(fmt) : 0;

	ret = qcow2_layout_compute(&p, &l, &err);
	if (ret) {
		printf("error %d %s\n", -ret, err.msg);
		return 1;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	w.p = &p;
	w.l = &l;
	w.backing = backing;
	w.backing_fmt = fmt;
	w.chunk = (1U << p.cluster_bits) > (1U << 20) ? 1U << p.cluster_bits : 1U << 20;
	w.buf = malloc(w.chunk);
	w.write = write_fn;
	w.ctx = &fd;
	if (!w.buf || qcow2_write_metadata(&w) || ftruncate(fd, l.file_length) ||
	    qcow2_write_header(&w) || close(fd)) {
		perror("writing the image");
		return 1;
	}
	free(w.buf);
	printf("file_length %" PRIu64 "\n", (uint64_t)l.file_length);
	printf("data_offset %" PRIu64 "\n", (uint64_t)l.data_offset);
	printf("data_clusters %" PRIu64 "\n", (uint64_t)l.data_clusters);
	printf("l2_tables %" PRIu64 "\n", (uint64_t)l.l2_tables);
	printf("refblocks %" PRIu64 "\n", (uint64_t)l.refblocks);
	printf("reftable_clusters %" PRIu64 "\n", (uint64_t)l.reftable_clusters);
	return 0;
}
