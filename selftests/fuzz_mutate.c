// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_mutate SEED-IMAGE OUT-IMAGE N
 *
 * Writes OUT-IMAGE, a copy of the qcow2 image SEED-IMAGE with one to three
 * mutations chosen by the number N alone (the same N always gives the same
 * image, so a guest that dies on an image lets the host make it again),
 * and prints one line saying what was changed, led by the classes of the
 * mutations ("header", "l1", "l2", "reftable", "refblock", "snapshot",
 * "extension", "flips").
 *
 * The mutations aim where a parser is weakest: header fields and table
 * entries get boundary values (0, all ones, the file's size and just past
 * it, unaligned offsets, offsets of other metadata, reserved bits, flag
 * combinations); the snapshot table and header extensions get bad sizes;
 * and any metadata cluster may get random bit flips. Tables are found by
 * reading the seed's header and tables the plain way, independently of
 * the driver's format code, and only entries that lie inside the file are
 * touched. Of a seed longer than 64 MiB (metadata preallocation makes a
 * sparse file of the virtual size) only the first 64 MiB can be mutated;
 * the rest is copied as it is, holes kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MUTABLE	(64ULL << 20)

static unsigned char *img;
static uint64_t img_size, rnd;	/* img_size: the bytes in img[] */
static uint32_t cluster_bits = 16;
static char desc[1024];
static size_t desc_len;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_mutate: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	if (desc_len >= sizeof(desc) - 1)
		return;
	va_start(ap, fmt);
	desc_len += vsnprintf(desc + desc_len, sizeof(desc) - desc_len, fmt, ap);
	va_end(ap);
	if (desc_len > sizeof(desc) - 1)
		desc_len = sizeof(desc) - 1;
}

static uint64_t next(void)
{
	uint64_t z = (rnd += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return n ? next() % n : 0; }

static uint64_t get(uint64_t off, int bytes)
{
	uint64_t v = 0;
	int i;

	if (off > img_size || bytes > (int)(img_size - off))
		return 0;
	for (i = 0; i < bytes; i++)
		v = v << 8 | img[off + i];
	return v;
}

static void put(uint64_t off, int bytes, uint64_t v)
{
	int i;

	if (off > img_size || bytes > (int)(img_size - off))
		return;
	for (i = bytes - 1; i >= 0; i--, v >>= 8)
		img[off + i] = v;
}

/* A metadata region of the seed, in bytes of the file. */
struct region {
	const char *kind;
	uint64_t off, len;
};

static struct region regions[4096];
static int nregions;

static void add_region(const char *kind, uint64_t off, uint64_t len)
{
	if (nregions == (int)(sizeof(regions) / sizeof(regions[0])) || !len ||
	    off >= img_size)
		return;
	if (len > img_size - off)
		len = img_size - off;
	regions[nregions++] = (struct region){ kind, off, len };
}

static uint64_t cluster(void) { return 1ULL << cluster_bits; }

/* Something a field or entry of @bytes bytes might be set to. */
static uint64_t interesting(int bytes, uint64_t cur, bool offset)
{
	uint64_t max = bytes == 8 ? UINT64_MAX : (1ULL << (8 * bytes)) - 1;
	struct region *r;

	switch (below(offset ? 12 : 8)) {
	case 0: return 0;
	case 1: return max;
	case 2: return max >> 1;
	case 3: return cur + 1 + below(3);
	case 4: return cur - 1 - below(3);
	case 5: return 1ULL << below(8 * bytes);
	case 6: return next() & max;
	case 7: return cur ^ (1ULL << below(8 * bytes));
	case 8: return img_size & max;			/* just at the end */
	case 9: return (img_size + cluster()) & max;	/* past it */
	case 10: return (cur | 1) & max;		/* unaligned */
	default:
		/* The start of some other metadata: overlaps. */
		if (!nregions)
			return 0;
		r = &regions[below(nregions)];
		return r->off & max;
	}
}

/* The header's fields: byte offset, width, whether it holds an offset. */
static const struct { const char *name; int off, bytes; bool offset; } fields[] = {
	{ "version", 4, 4, false },
	{ "backing_file_offset", 8, 8, true },
	{ "backing_file_size", 16, 4, false },
	{ "cluster_bits", 20, 4, false },
	{ "size", 24, 8, false },
	{ "crypt_method", 32, 4, false },
	{ "l1_size", 36, 4, false },
	{ "l1_table_offset", 40, 8, true },
	{ "refcount_table_offset", 48, 8, true },
	{ "refcount_table_clusters", 56, 4, false },
	{ "nb_snapshots", 60, 4, false },
	{ "snapshots_offset", 64, 8, true },
	{ "incompatible_features", 72, 8, false },
	{ "compatible_features", 80, 8, false },
	{ "autoclear_features", 88, 8, false },
	{ "refcount_order", 96, 4, false },
	{ "header_length", 100, 4, false },
	{ "compression_type", 104, 1, false },
};

static void mutate_header(void)
{
	int f = below(sizeof(fields) / sizeof(fields[0]));
	uint64_t cur, v;

	/* Version 2 has no fields from offset 72 on. */
	if (fields[f].off >= 72 && get(4, 4) < 3)
		f = below(12);
	cur = get(fields[f].off, fields[f].bytes);
	v = interesting(fields[f].bytes, cur, fields[f].offset);
	if (v == cur)
		v ^= 1ULL << below(8 * fields[f].bytes);
	/* Feature bits: one bit at a time is the likelier bug. */
	if (fields[f].off >= 72 && fields[f].off < 96 && below(2))
		v = cur ^ (1ULL << below(64));
	put(fields[f].off, fields[f].bytes, v);
	say("header %s %#" PRIx64 "->%#" PRIx64 "; ", fields[f].name, cur, v);
}

/* An 8-byte entry of a table of @kind: biased to entries in use. */
static void mutate_entry(const char *kind)
{
	static const uint64_t flags[] = {
		1ULL << 63, 1ULL << 62, 1ULL << 0, 0x3f00000000000000ULL, 0x1fe,
		(1ULL << 63) | (1ULL << 62),
	};
	struct region *pick = NULL;
	uint64_t off, cur, v;
	int tries;

	for (tries = 0; tries < 64 && !pick; tries++) {
		struct region *r = &regions[below(nregions)];

		if (!strcmp(r->kind, kind))
			pick = r;
	}
	if (!pick)
		return;
	/* Mostly an entry in use: most of a table is zeros. */
	off = pick->off + below(pick->len / 8) * 8;
	if (below(8)) {
		uint64_t used = 0, k;

		for (k = 0; k < pick->len / 8; k++)
			used += !!get(pick->off + k * 8, 8);
		if (used) {
			used = below(used);
			for (k = 0; k < pick->len / 8; k++) {
				if (get(pick->off + k * 8, 8) && !used--) {
					off = pick->off + k * 8;
					break;
				}
			}
		}
	}
	cur = get(off, 8);
	switch (below(4)) {
	case 0:
		v = cur ^ flags[below(sizeof(flags) / sizeof(flags[0]))];
		break;
	case 1:
		/* Same flags, another offset. */
		v = (cur & 0xff000000000001ffULL) |
		    (interesting(8, cur, true) & 0x00fffffffffffe00ULL);
		break;
	case 2: {
		/* Another entry's value: two references to one cluster. */
		uint64_t o = pick->off + below(pick->len / 8) * 8;

		v = get(o, 8);
		break;
	}
	default:
		v = interesting(8, cur, true);
	}
	if (v == cur)
		v ^= 1ULL << below(64);
	put(off, 8, v);
	say("%s entry at %#" PRIx64 " %#" PRIx64 "->%#" PRIx64 "; ", kind, off, cur, v);
}

static void mutate_snapshot(void)
{
	static const struct { const char *name; int off, bytes; bool offset; } sf[] = {
		{ "l1_table_offset", 0, 8, true }, { "l1_size", 8, 4, false },
		{ "id_str_size", 12, 2, false }, { "name_size", 14, 2, false },
		{ "vm_state_size", 32, 4, false }, { "extra_data_size", 36, 4, false },
	};
	uint64_t base = get(64, 8), cur, v;
	int f = below(sizeof(sf) / sizeof(sf[0]));

	if (!get(60, 4) || !base || base >= img_size) {
		mutate_header();
		return;
	}
	cur = get(base + sf[f].off, sf[f].bytes);
	v = interesting(sf[f].bytes, cur, sf[f].offset);
	put(base + sf[f].off, sf[f].bytes, v);
	say("snapshot 0 %s %#" PRIx64 "->%#" PRIx64 "; ", sf[f].name, cur, v);
}

static void mutate_extension(void)
{
	uint64_t off = get(4, 4) >= 3 ? get(100, 4) : 72, end = cluster(), cur, v;
	int n = 0;

	if (off < 72 || off >= end || end > img_size) {
		mutate_header();
		return;
	}
	/* The n-th extension, or the end marker after the last. */
	while (off + 8 <= end && get(off, 4) && below(2)) {
		uint64_t len = get(off + 4, 4);

		if (len > end - off - 8)
			break;
		off += 8 + ((len + 7) & ~7ULL);
		n++;
	}
	if (off + 8 > end)
		return;
	if (below(2)) {
		static const uint32_t types[] = {
			0xe2792aca, 0x6803f857, 0x23852875, 0x0537be77, 0x44415441,
			0x4353cafe, 0x12345678,
		};
		cur = get(off, 4);
		v = types[below(sizeof(types) / sizeof(types[0]))];
		put(off, 4, v);
		say("extension %d type %#" PRIx64 "->%#" PRIx64 "; ", n, cur, v);
	} else {
		cur = get(off + 4, 4);
		v = interesting(4, cur, false);
		put(off + 4, 4, v);
		say("extension %d length %#" PRIx64 "->%#" PRIx64 "; ", n, cur, v);
	}
}

static void mutate_flips(void)
{
	struct region *r = &regions[below(nregions)];
	int i, n = 1 + below(8);

	say("flips %d in %s at %#" PRIx64 "; ", n, r->kind, r->off);
	for (i = 0; i < n; i++)
		img[r->off + below(r->len)] ^= 1 << below(8);
}

/* The seed's metadata, read the plain way. */
static void find_regions(void)
{
	uint64_t l1 = get(40, 8), l1n = get(36, 4), rt = get(48, 8);
	uint64_t rtn = get(56, 4) << cluster_bits, i, e;

	add_region("header", 0, cluster());
	add_region("l1", l1, l1n * 8);
	add_region("reftable", rt, rtn);
	if (get(60, 4))
		add_region("snapshot", get(64, 8), cluster());
	for (i = 0; i < l1n && l1 + i * 8 + 8 <= img_size; i++) {
		e = get(l1 + i * 8, 8) & 0x00fffffffffffe00ULL;
		if (e)
			add_region("l2", e, cluster());
	}
	for (i = 0; i < rtn / 8 && rt + i * 8 + 8 <= img_size; i++) {
		e = get(rt + i * 8, 8) & ~0x1ffULL;
		if (e)
			add_region("refblock", e, cluster());
	}
}

int main(int argc, char **argv)
{
	static const char *const classes[] = {
		"header", "l1", "l2", "reftable", "refblock", "snapshot", "extension", "flips",
	};
	uint64_t n, file_size, data, hole;
	struct stat st;
	int fd, out, i, count;

	if (argc != 4)
		die("usage: fuzz_mutate SEED-IMAGE OUT-IMAGE N");
	n = strtoull(argv[3], NULL, 0);
	rnd = n * 0x2545f4914f6cdd1dULL + 1;
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", argv[1], strerror(errno));
	file_size = st.st_size;
	if (file_size < 512)
		die("%s: a seed of %" PRIu64 " bytes", argv[1], file_size);
	img_size = file_size < MAX_MUTABLE ? file_size : MAX_MUTABLE;
	img = malloc(img_size);
	if (!img || pread(fd, img, img_size, 0) != (ssize_t)img_size)
		die("%s: cannot read it", argv[1]);
	cluster_bits = get(20, 4);
	if (cluster_bits < 9 || cluster_bits > 21)
		die("%s: cluster_bits %u", argv[1], cluster_bits);
	find_regions();

	count = 1 + below(3);
	for (i = 0; i < count; i++) {
		switch (below(8)) {
		case 0: mutate_header(); break;
		case 1: mutate_entry(classes[1]); break;
		case 2: mutate_entry(classes[2]); break;
		case 3: mutate_entry(classes[3]); break;
		case 4: mutate_entry(classes[4]); break;
		case 5: mutate_snapshot(); break;
		case 6: mutate_extension(); break;
		default: mutate_flips(); break;
		}
	}
	if (!desc_len)
		say("nothing applicable; ");

	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0)
		die("%s: %s", argv[2], strerror(errno));
	/* Zeros stay holes, as in the seed: a guest's tmpfs holds the copy. */
	for (data = 0; data < img_size; data += 4096) {
		size_t len = img_size - data < 4096 ? img_size - data : 4096;
		static const unsigned char zero[4096];

		if (!memcmp(img + data, zero, len))
			continue;
		if (pwrite(out, img + data, len, data) != (ssize_t)len)
			die("%s: %s", argv[2], strerror(errno));
	}
	/* The rest of a long seed: its data extents only. */
	for (data = img_size; (off_t)(data = lseek(fd, data, SEEK_DATA)) >= 0; data = hole) {
		hole = lseek(fd, data, SEEK_HOLE);
		while (data < hole) {
			char buf[65536];
			ssize_t len = pread(fd, buf, hole - data < sizeof(buf) ? hole - data : sizeof(buf), data);

			if (len <= 0 || pwrite(out, buf, len, data) != len)
				die("copying %s: %s", argv[1], len ? strerror(errno) : "short read");
			data += len;
		}
	}
	if (ftruncate(out, file_size) || close(out))
		die("%s: %s", argv[2], strerror(errno));
	close(fd);
	desc[desc_len >= 2 ? desc_len - 2 : 0] = 0;
	printf("%s\n", desc);
	return 0;
}
