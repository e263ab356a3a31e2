// SPDX-License-Identifier: GPL-2.0
/*
 * seeds: cut the fuzz targets' seeds out of an image qemu-img made, in the
 * input layout each target reads (see the comment at the top of each
 * selftests/fuzz/fuzz_*.c):
 *
 *   seeds IMAGE OUTDIR NAME PREALLOC
 *
 * writes OUTDIR/seeds-header/NAME (file size, header cluster),
 * seeds-snapshot/NAME (the snapshot table), seeds-entries/NAME-l1, -reft,
 * -l2-N (tables, with the image's cluster_bits, version and extended L2),
 * seeds-refcount/NAME-rb-N (refcount blocks with the refcount order),
 * seeds-compressed/NAME-l2-N (L2 tables), seeds-layout/NAME (the image's
 * creation parameters, PREALLOC being the mode it was made with, and a
 * refcount table growth at its end). Tables are cut to their first 4 KiB:
 * more entries of the same kind add nothing for the fuzzer but time.
 *
 * The snapshot table's times (bytes 16..31 of each entry) are zeroed, so
 * that the seeds do not change from one run of corpus.sh to the next.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcow2_format.h"

#define CUT 4096

static int fd;
static u64 file_size;
static const char *outdir, *name;

static void die(const char *what)
{
	fprintf(stderr, "seeds: %s: %s\n", name, what);
	exit(1);
}

/* Up to @len bytes of the image at @pos; what lies past its end reads 0. */
static void read_at(void *buf, size_t len, u64 pos)
{
	ssize_t n = pos < file_size ? pread(fd, buf, len, pos) : 0;

	if (n < 0)
		die("read failed");
	memset((u8 *)buf + n, 0, len - n);
}

static void put_be(u8 **p, u64 v, int bytes)
{
	while (bytes--)
		*(*p)++ = v >> (8 * bytes);
}

static void write_seed(const char *target, const char *suffix, const u8 *buf,
		       size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seeds-%s/%s%s", outdir, target, name,
		 suffix);
	f = fopen(path, "w");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		die(path);
}

/* A seed of @pre (the parameters) then @len bytes of the image at @pos. */
static void table_seed(const char *target, const char *suffix, const u8 *pre,
		       size_t pre_len, u64 pos, u64 len)
{
	u8 buf[64 + CUT];

	if (len > CUT)
		len = CUT;
	memcpy(buf, pre, pre_len);
	read_at(buf + pre_len, len, pos);
	write_seed(target, suffix, buf, pre_len + len);
}

/* Length of the backing format extension's name, 0 without one. */
static u32 backing_fmt_len(const struct qcow2_header *h, const u8 *cluster,
			   u64 len)
{
	u64 pos = h->header_length;

	while (pos + 8 <= len) {
		u32 type = qcow2_get_be32(cluster + pos);
		u32 elen = qcow2_get_be32(cluster + pos + 4);

		if (type == QCOW2_EXT_END)
			break;
		if (type == QCOW2_EXT_BACKING_FORMAT)
			return elen;
		pos += 8 + (((u64)elen + 7) & ~7ULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	u8 hdr[CUT], pre[64], *p, snap[2 * CUT];
	u64 cs, l1e, l2, rte, pos;
	struct qcow2_header h;
	struct qcow2_err err;
	struct stat st;
	u32 i, n, flags;
	char suffix[32];
	bool extl2;

	if (argc != 5) {
		fprintf(stderr, "usage: seeds IMAGE OUTDIR NAME PREALLOC\n");
		return 2;
	}
	outdir = argv[2];
	name = argv[3];
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die("cannot open the image");
	file_size = st.st_size;
	read_at(hdr, sizeof(hdr), 0);
	if (qcow2_header_decode(&h, hdr, sizeof(hdr), &err) ||
	    qcow2_header_check(&h, file_size, &err))
		die(err.msg);
	cs = 1ULL << h.cluster_bits;
	extl2 = h.incompatible_features & QCOW2_INCOMPAT_EXTL2;

	/* The header cluster as the driver reads it: 4 KiB at most. */
	p = pre;
	put_be(&p, file_size, 8);
	table_seed("header", "", pre, p - pre, 0, cs);

	if (h.nb_snapshots) {
		n = file_size - h.snapshots_offset < sizeof(snap) - 9 ?
		    file_size - h.snapshots_offset : sizeof(snap) - 9;
		p = snap;
		put_be(&p, file_size, 8);
		put_be(&p, h.cluster_bits, 1);
		read_at(p, n, h.snapshots_offset);
		for (i = 0, pos = 0; i < h.nb_snapshots &&
		     pos + QCOW2_SNAPSHOT_HEADER_LEN <= n; i++) {
			struct qcow2_snapshot s;

			if (qcow2_snapshot_decode(&s, p + pos, h.cluster_bits,
						  file_size, &err))
				die(err.msg);
			memset(p + pos + 16, 0, 16);
			pos += (s.entry_len + 7) & ~7U;
		}
		write_seed("snapshot", "", snap, 9 + n);
	}

	/* Tables: file size, cluster_bits, version and extended L2. */
	flags = (h.version == 3) | (extl2 << 1);
	p = pre;
	put_be(&p, file_size, 8);
	put_be(&p, h.cluster_bits, 1);
	put_be(&p, flags, 1);
	table_seed("entries", "-l1", pre, p - pre, h.l1_table_offset,
		   (u64)h.l1_size * 8);
	table_seed("entries", "-reft", pre, p - pre, h.refcount_table_offset,
		   (u64)h.refcount_table_clusters << h.cluster_bits);
	for (i = 0, n = 0; i < h.l1_size && n < 2; i++) {
		u8 e[8];

		read_at(e, 8, h.l1_table_offset + (u64)i * 8);
		l1e = qcow2_get_be64(e);
		l2 = l1e & QCOW2_L1E_OFFSET_MASK;
		if (!l2)
			continue;
		snprintf(suffix, sizeof(suffix), "-l2-%u", n++);
		table_seed("entries", suffix, pre, 10, l2, cs);
		table_seed("compressed", suffix, pre, 9, l2, cs);
	}
	for (i = 0, n = 0; n < 2 && i < cs / 8; i++) {
		u8 e[8];

		read_at(e, 8, h.refcount_table_offset + (u64)i * 8);
		rte = qcow2_get_be64(e) & QCOW2_REFT_OFFSET_MASK;
		if (!rte)
			continue;
		p = pre;
		put_be(&p, h.refcount_order, 1);
		put_be(&p, 0x51f15eedULL * (n + 1), 8);
		snprintf(suffix, sizeof(suffix), "-rb-%u", n++);
		table_seed("refcount", suffix, pre, p - pre, rte, cs);
	}

	/* How it was created, and a refcount table growth at its end. */
	p = pre;
	put_be(&p, h.size, 8);
	put_be(&p, h.cluster_bits, 1);
	put_be(&p, h.version, 1);
	put_be(&p, h.refcount_order, 1);
	put_be(&p, (!!(h.compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS)) |
		   extl2 << 1, 1);
	put_be(&p, atoi(argv[4]), 1);
	put_be(&p, h.backing_file_offset ? h.backing_file_size : 0, 2);
	put_be(&p, h.backing_file_offset ?
		   backing_fmt_len(&h, hdr, cs < CUT ? cs : CUT) : 0, 1);
	put_be(&p, ((u64)h.refcount_table_clusters << h.cluster_bits) / 8, 8);
	put_be(&p, (file_size + cs - 1) >> h.cluster_bits, 8);
	put_be(&p, ((file_size + cs - 1) >> h.cluster_bits) + 1, 8);
	put_be(&p, cs, 8);
	put_be(&p, 1ULL << h.refcount_order, 8);
	write_seed("layout", "", pre, p - pre);
	close(fd);
	return 0;
}
