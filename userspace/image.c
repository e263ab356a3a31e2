// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: an image's header, backing file name and snapshot table.
 *
 * Everything read here comes from a file the user names, possibly made by
 * someone else: every offset and length is checked against the file size
 * and QEMU's limits before it is used, by the same code the kernel runs
 * where there is such code.
 */
#include <stdlib.h>
#include <unistd.h>

#include "image.h"

/* The header and its extensions: what QEMU writes fits in far less. */
#define HEADER_READ	4096

ssize_t image_pread(int fd, void *buf, size_t len, u64 pos)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, (char *)buf + done, len - done, pos + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (!n)
			break;
		done += n;
	}
	return done;
}

int image_read_header(int fd, u64 file_size, struct qcow2_header *h,
		      struct qcow2_backing_name *b, struct qcow2_err *err)
{
	u8 head[HEADER_READ];
	size_t need;
	ssize_t n;
	u8 *buf;
	int ret;

	n = image_pread(fd, head, sizeof(head), 0);
	if (n < 0)
		return qcow2_fail(err, errno, "cannot read the header: %s",
				  strerror(errno));
	ret = qcow2_header_decode(h, head, n, err);
	if (!ret)
		ret = qcow2_header_check(h, file_size, err);
	if (ret)
		return ret;

	/* At most a cluster (qcow2_header_check), 2 MiB. */
	need = qcow2_header_backing_bytes(h);
	if (need <= (size_t)n)
		return qcow2_header_backing(h, head, n, b, err);
	buf = malloc(need);
	if (!buf)
		return qcow2_fail(err, ENOMEM, "out of memory");
	n = image_pread(fd, buf, need, 0);
	if (n < 0)
		ret = qcow2_fail(err, errno, "cannot read the backing file name: %s",
				 strerror(errno));
	else if ((size_t)n < need)
		ret = qcow2_fail(err, EINVAL, "the backing file name lies past the end of the file");
	else
		ret = qcow2_header_backing(h, buf, n, b, err);
	free(buf);
	return ret;
}

/*
 * Read the entry at *@pos of the table that ends at @end (the file's end
 * or QEMU's table size limit, whichever is first) and move *@pos to the
 * next one.
 */
static int read_snapshot(int fd, u64 file_size, u32 cluster_bits, u64 *pos,
			 u64 end, struct image_snapshot *sn, u32 i,
			 struct qcow2_err *err)
{
	u8 head[QCOW2_SNAPSHOT_HEADER_LEN], *rest;
	struct qcow2_snapshot *s = &sn->s;
	u64 at = *pos;
	size_t len;
	ssize_t n;
	int ret;

	if (at > end || end - at < sizeof(head))
		return qcow2_fail(err, EINVAL, "snapshot %u at %llu lies past the end of the table",
				  i + 1, (unsigned long long)at);
	n = image_pread(fd, head, sizeof(head), at);
	if (n != sizeof(head))
		return qcow2_fail(err, n < 0 ? errno : EINVAL,
				  "cannot read snapshot %u at %llu", i + 1,
				  (unsigned long long)at);
	ret = qcow2_snapshot_decode(s, head, cluster_bits, file_size, err);
	if (ret)
		return ret;
	if (end - at < s->entry_len)
		return qcow2_fail(err, EINVAL, "snapshot %u (%u bytes at %llu) lies past the end of the table",
				  i + 1, s->entry_len, (unsigned long long)at);

	/* Extra data, id and name: below 1024 + 2 * 64 KiB (16-bit lengths). */
	len = s->entry_len - QCOW2_SNAPSHOT_HEADER_LEN;
	rest = malloc(len + 1);
	if (!rest)
		return qcow2_fail(err, ENOMEM, "out of memory");
	n = image_pread(fd, rest, len, at + sizeof(head));
	if (n < 0 || (size_t)n != len) {
		free(rest);
		return qcow2_fail(err, n < 0 ? errno : EINVAL,
				  "cannot read snapshot %u at %llu", i + 1,
				  (unsigned long long)at);
	}
	qcow2_snapshot_extra(s, rest);
	sn->id = strndup((char *)rest + s->extra, s->id_len);
	sn->name = strndup((char *)rest + s->extra + s->id_len, s->name_len);
	free(rest);
	if (!sn->id || !sn->name)
		return qcow2_fail(err, ENOMEM, "out of memory");
	/* Entries are padded to 8 bytes. */
	*pos = at + ((s->entry_len + 7ULL) & ~7ULL);
	return 0;
}

int image_read_snapshots(int fd, u64 file_size, const struct qcow2_header *h,
			 struct image_snapshot **out, struct qcow2_err *err)
{
	u64 pos = h->snapshots_offset, end;
	struct image_snapshot *s;
	int ret = 0;
	u32 i;

	*out = NULL;
	if (!h->nb_snapshots)
		return 0;
	/* qcow2_header_check() put the table's start inside the file. */
	end = file_size;
	if (end - pos > QCOW2_MAX_SNAPSHOT_TABLE_BYTES)
		end = pos + QCOW2_MAX_SNAPSHOT_TABLE_BYTES;
	s = calloc(h->nb_snapshots, sizeof(*s));
	if (!s)
		return qcow2_fail(err, ENOMEM, "out of memory");
	for (i = 0; i < h->nb_snapshots && !ret; i++)
		ret = read_snapshot(fd, file_size, h->cluster_bits, &pos, end,
				    &s[i], i, err);
	if (ret) {
		image_free_snapshots(s, h->nb_snapshots);
		return ret;
	}
	*out = s;
	return 0;
}

void image_free_snapshots(struct image_snapshot *s, u32 count)
{
	u32 i;

	if (!s)
		return;
	for (i = 0; i < count; i++) {
		free(s[i].id);
		free(s[i].name);
	}
	free(s);
}
