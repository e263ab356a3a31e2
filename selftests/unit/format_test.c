// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of the shared format code (driver/qcow2_format.c),
 * built with AddressSanitizer and UBSan.
 *
 * With QCOW2_FIXTURES set to a directory of images made by qemu-img (see
 * run.sh), every image there must decode and validate, and its name
 * "vV-cB-rO[-...].qcow2" gives the version, cluster_bits and refcount_order
 * expected. With QCOW2_COMPRESSED set to a directory of images with
 * compressed clusters, each with the guest clusters qemu-img map reports
 * compressed (NAME.map) and its content (NAME.raw), every compressed entry
 * must decode inside the file and deflate ones must inflate to the content.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#include "qcow2_format.h"
#include "kselftest_harness.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

/* The layout qemu-img creates for a 1 GiB image with 64 KiB clusters. */
static void good_header(struct qcow2_header *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = QCOW2_MAGIC;
	h->version = 3;
	h->cluster_bits = 16;
	h->size = GiB;
	h->l1_size = 2;
	h->l1_table_offset = 0x30000;
	h->refcount_table_offset = 0x10000;
	h->refcount_table_clusters = 1;
	h->refcount_order = 4;
	h->header_length = QCOW2_V3_HEADER_LEN;
}

#define FILE_SIZE 0x40000ULL

/* Encode @h, decode it again and validate it against @file_size. */
static int roundtrip(const struct qcow2_header *h, u64 file_size,
		     struct qcow2_err *err)
{
	struct qcow2_header d;
	u8 buf[4096];
	size_t n;
	int ret;

	n = qcow2_header_encode(h, buf, sizeof(buf));
	if (!n)
		return -E2BIG;
	memset(err, 0, sizeof(*err));
	ret = qcow2_header_decode(&d, buf, sizeof(buf), err);
	if (ret)
		return ret;
	return qcow2_header_check(&d, file_size, err);
}

#define EXPECT_REFUSED(h, errnum, needle) do {				\
	struct qcow2_err __e;						\
	EXPECT_EQ(-(errnum), roundtrip(&(h), FILE_SIZE, &__e));		\
	EXPECT_NE(NULL, strstr(__e.msg, (needle)))			\
		TH_LOG("message \"%s\" lacks \"%s\"", __e.msg, (needle)); \
} while (0)

TEST(good_v3_roundtrip)
{
	struct qcow2_header h, d;
	struct qcow2_err err = { { 0 } };
	u8 buf[512];

	good_header(&h);
	h.compatible_features = QCOW2_COMPAT_LAZY_REFCOUNTS;
	h.autoclear_features = 1ULL << 40;
	ASSERT_EQ(QCOW2_V3_HEADER_LEN, qcow2_header_encode(&h, buf, sizeof(buf)));
	ASSERT_EQ(0, qcow2_header_decode(&d, buf, sizeof(buf), &err));
	ASSERT_EQ(0, memcmp(&h, &d, sizeof(h)));
	EXPECT_EQ(0, qcow2_header_check(&d, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
	/* Big-endian on disk. */
	EXPECT_EQ(0, memcmp(buf, "QFI\xfb\0\0\0\3", 8));
	EXPECT_EQ(16, buf[23]);
}

TEST(good_v2_implicit_fields)
{
	struct qcow2_header h, d;
	struct qcow2_err err;
	u8 buf[512];

	good_header(&h);
	h.version = 2;
	ASSERT_EQ(QCOW2_V2_HEADER_LEN, qcow2_header_encode(&h, buf, sizeof(buf)));
	/* Whatever follows a version 2 header is not header. */
	memset(buf + QCOW2_V2_HEADER_LEN, 0xff, sizeof(buf) - QCOW2_V2_HEADER_LEN);
	ASSERT_EQ(0, qcow2_header_decode(&d, buf, sizeof(buf), &err));
	EXPECT_EQ(4, d.refcount_order);
	EXPECT_EQ(QCOW2_V2_HEADER_LEN, d.header_length);
	EXPECT_EQ(0, d.incompatible_features);
	EXPECT_EQ(0, qcow2_header_check(&d, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
}

TEST(bad_magic_and_version)
{
	struct qcow2_header h;

	good_header(&h);
	h.magic = 0x514649fa;
	EXPECT_REFUSED(h, EINVAL, "bad magic");
	good_header(&h);
	h.version = 1;
	EXPECT_REFUSED(h, EOPNOTSUPP, "version 1");
	h.version = 4;
	EXPECT_REFUSED(h, EOPNOTSUPP, "version 4");
}

TEST(truncated)
{
	struct qcow2_header h, d;
	struct qcow2_err err;
	u8 buf[512];

	good_header(&h);
	qcow2_header_encode(&h, buf, sizeof(buf));
	EXPECT_EQ(-EINVAL, qcow2_header_decode(&d, buf, 71, &err));
	EXPECT_EQ(-EINVAL, qcow2_header_decode(&d, buf, 103, &err));
	/* A 104-byte buffer cannot hold the compression type of a 112-byte header. */
	EXPECT_EQ(-EINVAL, qcow2_header_decode(&d, buf, 104, &err));
	EXPECT_EQ(0, qcow2_header_decode(&d, buf, 112, &err));
}

TEST(cluster_bits)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	h.cluster_bits = 8;
	EXPECT_REFUSED(h, EINVAL, "cluster_bits 8");
	h.cluster_bits = 22;
	EXPECT_REFUSED(h, EINVAL, "cluster_bits 22");

	/* 512-byte clusters: tables at cluster-aligned offsets, 1 MiB image. */
	good_header(&h);
	h.cluster_bits = 9;
	h.size = MiB;
	h.l1_size = 32;
	h.refcount_table_offset = 512;
	h.l1_table_offset = 1536;
	h.header_length = 104;
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);

	good_header(&h);
	h.cluster_bits = 21;
	h.refcount_table_offset = 2 * MiB;
	h.l1_table_offset = 4 * MiB;
	h.l1_size = 1;
	EXPECT_EQ(0, roundtrip(&h, 6 * MiB, &err)) TH_LOG("%s", err.msg);
}

TEST(header_length)
{
	struct qcow2_header h;

	good_header(&h);
	h.header_length = 100;
	EXPECT_REFUSED(h, EINVAL, "header_length");
	h.header_length = 108;
	EXPECT_REFUSED(h, EINVAL, "multiple of 8");
	good_header(&h);
	h.cluster_bits = 9;
	h.size = 512;
	h.l1_size = 1;
	h.refcount_table_offset = 512;
	h.l1_table_offset = 1024;
	h.header_length = 520;
	EXPECT_REFUSED(h, EINVAL, "exceeds the cluster size");
}

TEST(incompatible_features)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	h.incompatible_features = 1ULL << 5;
	EXPECT_REFUSED(h, EOPNOTSUPP, "incompatible feature bit 5");
	h.incompatible_features = QCOW2_INCOMPAT_DIRTY | 1ULL << 63;
	EXPECT_REFUSED(h, EOPNOTSUPP, "bit 63");
	h.incompatible_features = QCOW2_INCOMPAT_DATA_FILE;
	EXPECT_REFUSED(h, EOPNOTSUPP, "external data file");

	/* Dirty and corrupt are policy for the caller, not format errors. */
	h.incompatible_features = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
}

TEST(encryption)
{
	struct qcow2_header h;

	good_header(&h);
	h.crypt_method = 1;
	EXPECT_REFUSED(h, EOPNOTSUPP, "encrypted");
	h.crypt_method = 2;
	EXPECT_REFUSED(h, EOPNOTSUPP, "encrypted");
}

TEST(compression_type)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	h.compression_type = QCOW2_COMPRESSION_ZSTD;
	EXPECT_REFUSED(h, EINVAL, "does not match");
	h.incompatible_features = QCOW2_INCOMPAT_COMPRESSION;
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
	h.compression_type = QCOW2_COMPRESSION_DEFLATE;
	EXPECT_REFUSED(h, EINVAL, "does not match");
	h.compression_type = 2;
	EXPECT_REFUSED(h, EOPNOTSUPP, "compression type 2");
}

TEST(extended_l2)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	h.incompatible_features = QCOW2_INCOMPAT_EXTL2;
	h.l1_size = 4;	/* 16-byte entries halve what an L2 table maps */
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
	h.l1_size = 3;
	EXPECT_REFUSED(h, EINVAL, "too small");

	good_header(&h);
	h.incompatible_features = QCOW2_INCOMPAT_EXTL2;
	h.cluster_bits = 13;
	h.size = MiB;
	h.l1_size = 1;
	h.refcount_table_offset = 0x2000;
	h.l1_table_offset = 0x4000;
	EXPECT_REFUSED(h, EINVAL, "extended L2");
	h.cluster_bits = 14;
	h.refcount_table_offset = 0x4000;
	h.l1_table_offset = 0x8000;
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
}

TEST(refcount_order)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	for (h.refcount_order = 0; h.refcount_order <= 6; h.refcount_order++)
		EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
	h.refcount_order = 7;
	EXPECT_REFUSED(h, EINVAL, "refcount_order 7");
}

TEST(virtual_size)
{
	struct qcow2_header h;

	good_header(&h);
	h.size = GiB + 1;
	EXPECT_REFUSED(h, EINVAL, "multiple of 512");
	/* Two L1 entries map 1 GiB; one sector more needs a third. */
	h.size = GiB + 512;
	EXPECT_REFUSED(h, EINVAL, "too small");
	h.size = ~0ULL << 9;
	EXPECT_REFUSED(h, EINVAL, "too small");
}

TEST(l1_table)
{
	struct qcow2_header h;

	good_header(&h);
	h.l1_size = 4 * 1024 * 1024 + 1;	/* 32 MiB + 8 */
	EXPECT_REFUSED(h, EFBIG, "too large");
	good_header(&h);
	h.l1_table_offset = 0x30200;
	EXPECT_REFUSED(h, EINVAL, "not cluster aligned");
	h.l1_table_offset = 0;
	EXPECT_REFUSED(h, EINVAL, "overlaps the header");
	h.l1_table_offset = 0x40000;
	EXPECT_REFUSED(h, EINVAL, "past the end of the file");
	h.l1_table_offset = ~0ULL << 16;
	EXPECT_REFUSED(h, EINVAL, "out of range");
	h.l1_table_offset = QCOW2_MAX_HOST_OFFSET - 0x10000;
	h.l1_size = 8192 + 1;	/* one entry past the last valid offset */
	EXPECT_REFUSED(h, EINVAL, "out of range");
	good_header(&h);
	h.l1_table_offset = 0x10000;
	EXPECT_REFUSED(h, EINVAL, "overlap");
}

TEST(refcount_table)
{
	struct qcow2_header h;

	good_header(&h);
	h.refcount_table_clusters = 0;
	EXPECT_REFUSED(h, EINVAL, "no refcount table");
	h.refcount_table_clusters = 129;	/* 8 MiB + 64 KiB */
	EXPECT_REFUSED(h, EFBIG, "too large");
	h.refcount_table_clusters = 3;
	EXPECT_REFUSED(h, EINVAL, "overlap");
	good_header(&h);
	h.refcount_table_offset = 0x10008;
	EXPECT_REFUSED(h, EINVAL, "not cluster aligned");
	h.refcount_table_offset = 0x50000;
	EXPECT_REFUSED(h, EINVAL, "past the end of the file");
	h.refcount_table_offset = ~0ULL << 16;
	EXPECT_REFUSED(h, EINVAL, "out of range");
}

TEST(backing_file_name)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	h.backing_file_offset = 0x200;
	h.backing_file_size = 1023;
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
	h.backing_file_size = 1024;
	EXPECT_REFUSED(h, EINVAL, "backing file name");
	h.backing_file_size = 16;
	h.backing_file_offset = 0x10000 - 15;
	EXPECT_REFUSED(h, EINVAL, "backing file name");
	h.backing_file_offset = ~0ULL - 4;
	EXPECT_REFUSED(h, EINVAL, "backing file name");
	h.backing_file_offset = 64;
	EXPECT_REFUSED(h, EINVAL, "overlaps the header");
}

TEST(snapshots)
{
	struct qcow2_header h;
	struct qcow2_err err;

	good_header(&h);
	h.nb_snapshots = QCOW2_MAX_SNAPSHOTS + 1;
	EXPECT_REFUSED(h, EINVAL, "snapshots exceed");
	h.nb_snapshots = 1;
	h.snapshots_offset = 0x20000;
	EXPECT_EQ(0, roundtrip(&h, FILE_SIZE, &err)) TH_LOG("%s", err.msg);
	h.snapshots_offset = 0x20001;
	EXPECT_REFUSED(h, EINVAL, "snapshot table offset");
	h.snapshots_offset = 0x40000;
	EXPECT_REFUSED(h, EINVAL, "past the end of the file");
}

TEST(l1_entries_for)
{
	EXPECT_EQ(0, qcow2_l1_entries_for(0, 16, false));
	EXPECT_EQ(1, qcow2_l1_entries_for(512, 16, false));
	EXPECT_EQ(1, qcow2_l1_entries_for(512 * MiB, 16, false));
	EXPECT_EQ(2, qcow2_l1_entries_for(512 * MiB + 512, 16, false));
	EXPECT_EQ(2, qcow2_l1_entries_for(GiB, 16, false));
	EXPECT_EQ(4, qcow2_l1_entries_for(GiB, 16, true));
	EXPECT_EQ(2048, qcow2_l1_entries_for(TiB, 16, false));
	EXPECT_EQ(32, qcow2_l1_entries_for(MiB, 9, false));
	EXPECT_EQ(1, qcow2_l1_entries_for(TiB, 21, false) / 2);
	/* No overflow at the top of the range. */
	EXPECT_EQ(1ULL << 49, qcow2_l1_entries_for(~0ULL, 9, false));
	EXPECT_EQ(1ULL << 26, qcow2_l1_entries_for(~0ULL, 21, true));
}

/* Refcount packing: sub-byte widths from bit 0, wider ones big-endian. */
TEST(refcount_widths)
{
	u8 block[512];
	u32 order;
	u64 i;

	memset(block, 0, sizeof(block));
	qcow2_refcount_set(block, 0, 0, 1);
	qcow2_refcount_set(block, 0, 7, 1);
	EXPECT_EQ(0x81, block[0]);
	qcow2_refcount_set(block, 2, 3, 0xa);
	EXPECT_EQ(0xa0, block[1]);
	qcow2_refcount_set(block, 4, 2, 0x1234);
	EXPECT_EQ(0x12, block[4]);
	EXPECT_EQ(0x34, block[5]);

	for (order = 0; order <= 6; order++) {
		u64 max = order == 6 ? ~0ULL : (1ULL << (1U << order)) - 1;
		u64 n = (sizeof(block) * 8) >> order;

		memset(block, 0, sizeof(block));
		for (i = 0; i < n; i++)
			qcow2_refcount_set(block, order, i, (i * 0x9e3779b97f4a7c15ULL) & max);
		for (i = 0; i < n; i++)
			ASSERT_EQ((i * 0x9e3779b97f4a7c15ULL) & max,
				  qcow2_refcount_get(block, order, i))
				TH_LOG("order %u index %llu", order, (unsigned long long)i);
		/* A refcount block for used clusters holds ones, then zeros. */
		qcow2_build_refblock(block, 9, order, 0, n / 2 + 1);
		for (i = 0; i < n; i++)
			ASSERT_EQ(i <= n / 2, qcow2_refcount_get(block, order, i))
				TH_LOG("order %u index %llu", order, (unsigned long long)i);
	}
}

/*
 * Random corruption of a valid header must never crash the parser (the
 * sanitizers watch) and must never be accepted with its tables outside the
 * file.
 */
TEST(mutated_headers)
{
	struct qcow2_header h, d;
	struct qcow2_err err;
	u8 good[512], buf[512];
	unsigned int i, j, seed = 1;

	good_header(&h);
	qcow2_header_encode(&h, good, sizeof(good));
	for (i = 0; i < 200000; i++) {
		memcpy(buf, good, sizeof(buf));
		for (j = 0; j < 1 + i % 4; j++) {
			seed = seed * 1103515245 + 12345;
			buf[(seed >> 8) % QCOW2_V3_HEADER_LEN] ^= 1u << ((seed >> 4) & 7);
		}
		if (qcow2_header_decode(&d, buf, sizeof(buf), &err) ||
		    qcow2_header_check(&d, FILE_SIZE, &err))
			continue;
		ASSERT_LE(d.refcount_table_offset +
			  ((u64)d.refcount_table_clusters << d.cluster_bits),
			  FILE_SIZE);
		ASSERT_LE(d.l1_table_offset + (u64)d.l1_size * 8, FILE_SIZE);
	}
}

TEST(qemu_img_fixtures)
{
	const char *dir = getenv("QCOW2_FIXTURES");
	struct dirent *de;
	int count = 0;
	DIR *d;

	if (!dir)
		SKIP(return, "QCOW2_FIXTURES not set (selftests/unit/run.sh sets it)");
	d = opendir(dir);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d))) {
		struct qcow2_header h;
		struct qcow2_err err = { { 0 } };
		unsigned int ver, bits, order;
		char path[4096];
		u8 buf[4096];
		struct stat st;
		ssize_t n;
		int fd;

		if (sscanf(de->d_name, "v%u-c%u-r%u", &ver, &bits, &order) != 3)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, fstat(fd, &st));
		n = pread(fd, buf, sizeof(buf), 0);
		close(fd);
		ASSERT_LT(0, n);
		ASSERT_EQ(0, qcow2_header_decode(&h, buf, n, &err))
			TH_LOG("%s: %s", de->d_name, err.msg);
		ASSERT_EQ(0, qcow2_header_check(&h, st.st_size, &err))
			TH_LOG("%s: %s", de->d_name, err.msg);
		EXPECT_EQ(ver, h.version) TH_LOG("%s", de->d_name);
		EXPECT_EQ(bits, h.cluster_bits) TH_LOG("%s", de->d_name);
		EXPECT_EQ(order, h.refcount_order) TH_LOG("%s", de->d_name);
		if (strstr(de->d_name, "-lazy"))
			EXPECT_EQ(QCOW2_COMPAT_LAZY_REFCOUNTS, h.compatible_features);
		if (strstr(de->d_name, "-extl2"))
			EXPECT_TRUE(h.incompatible_features & QCOW2_INCOMPAT_EXTL2);
		if (strstr(de->d_name, "-zstd"))
			EXPECT_EQ(QCOW2_COMPRESSION_ZSTD, h.compression_type);
		if (strstr(de->d_name, "-backing"))
			EXPECT_NE(0, h.backing_file_offset);
		count++;
	}
	closedir(d);
	EXPECT_LT(0, count) TH_LOG("no fixtures in %s", dir);
}

/* Every cluster the grown table and its blocks use must be covered. */
TEST(reftable_grow_plan)
{
	static const u32 cbits[] = { 9, 12, 16, 21 };
	struct qcow2_reftable_grow g;
	struct qcow2_err err;
	u32 ci, order;
	u64 old, at, need, per, c;
	int ret;

	for (ci = 0; ci < ARRAY_SIZE(cbits); ci++) {
		for (order = 0; order <= QCOW2_MAX_REFCOUNT_ORDER; order++) {
			per = 1ULL << (cbits[ci] + 3 - order);
			for (old = 1; old <= 64; old *= 4) {
				at = old * per + (per > 3 ? per - 3 : 0);
				need = at + 5;
				ret = qcow2_reftable_grow_plan(cbits[ci], order, old,
							       at, need, &g, &err);
				ASSERT_EQ(0, ret) TH_LOG("%s", err.msg);
				ASSERT_LE(1, g.blocks);
				ASSERT_EQ(at / per, g.first_block);
				ASSERT_EQ(at + g.table_clusters + g.blocks, g.end);
				/* The table holds an entry for each new block... */
				ASSERT_LE(g.first_block + g.blocks,
					  (g.table_clusters << cbits[ci]) / 8);
				/* ...and for the cluster that asked for it. */
				ASSERT_LT(need / per,
					  (g.table_clusters << cbits[ci]) / 8);
				/* Each cluster of the area is in a new block's range. */
				for (c = at; c < g.end; c++) {
					ASSERT_LE(g.first_block, c / per);
					ASSERT_GT(g.first_block + g.blocks, c / per);
				}
				/* No more than twice the old table, plus what it needs. */
				ASSERT_GE(g.table_clusters, ((2 * old * 8) >> cbits[ci]));
			}
		}
	}
	/* A cluster inside the current table's range is refused. */
	EXPECT_EQ(-EINVAL, qcow2_reftable_grow_plan(16, 4, 4, 0, 1, &g, &err));
	/* So is a table beyond QEMU's limit. */
	EXPECT_EQ(-EFBIG, qcow2_reftable_grow_plan(9, 6, 1ULL << 20, (1ULL << 20) * 64,
						   (1ULL << 20) * 64, &g, &err));
	/*
	 * A table past half the limit still grows, to the limit: doubling
	 * 4 MiB + 512 bytes must not make it refuse what fits in 8 MiB.
	 */
	old = (QCOW2_MAX_REFTABLE_BYTES / 2 + 512) / 8;
	per = 1ULL << (9 + 3 - 6);
	ASSERT_EQ(0, qcow2_reftable_grow_plan(9, 6, old, old * per, old * per,
					      &g, &err)) TH_LOG("%s", err.msg);
	EXPECT_EQ(QCOW2_MAX_REFTABLE_BYTES >> 9, g.table_clusters);
	/* And the last room it has is used before EFBIG. */
	old = QCOW2_MAX_REFTABLE_BYTES / 8 - 1024;
	ASSERT_EQ(0, qcow2_reftable_grow_plan(9, 6, old, old * per, old * per,
					      &g, &err)) TH_LOG("%s", err.msg);
}

TEST(l2_entries)
{
	const u64 end = 1ULL << 30;
	struct qcow2_err err;

	/* Standard entries. */
	EXPECT_EQ(0, qcow2_l2e_check(0, 0, false, 3, 16, end, &err));
	EXPECT_EQ(QCOW2_MAP_UNALLOCATED, qcow2_l2e_map(0, 0, false, 0));
	EXPECT_EQ(0, qcow2_l2e_check(QCOW2_OFLAG_COPIED | 0x50000, 0, false, 3,
				     16, end, &err));
	EXPECT_EQ(QCOW2_MAP_DATA, qcow2_l2e_map(0x50000, 0, false, 0));
	EXPECT_EQ(QCOW2_MAP_ZERO, qcow2_l2e_map(0x50000 | QCOW2_OFLAG_ZERO, 0,
						false, 0));
	EXPECT_EQ(QCOW2_MAP_ZERO, qcow2_l2e_map(QCOW2_OFLAG_ZERO, 0, false, 0));
	EXPECT_EQ(QCOW2_MAP_COMPRESSED,
		  qcow2_l2e_map(QCOW2_OFLAG_COMPRESSED | 0x1234, 0, false, 0));
	/* The zero flag does not exist in version 2. */
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(QCOW2_OFLAG_ZERO, 0, false, 2, 16,
					   end, &err));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(0x58000, 0, false, 3, 16, end, &err));
	EXPECT_NE(NULL, strstr(err.msg, "not cluster aligned"));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(end, 0, false, 3, 16, end, &err));
	EXPECT_NE(NULL, strstr(err.msg, "past the end"));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(0x50000 | (1ULL << 57), 0, false, 3,
					   16, end, &err));
	EXPECT_NE(NULL, strstr(err.msg, "reserved"));

	/* Extended L2 entries: the bitmap decides per subcluster. */
	EXPECT_EQ(0, qcow2_l2e_check(0x50000, 0x5ULL | (0x2ULL << 32), true, 3,
				     16, end, &err));
	EXPECT_EQ(QCOW2_MAP_DATA, qcow2_l2e_map(0x50000, 0x5ULL, true, 0));
	EXPECT_EQ(QCOW2_MAP_UNALLOCATED, qcow2_l2e_map(0x50000, 0x5ULL, true, 1));
	EXPECT_EQ(QCOW2_MAP_ZERO,
		  qcow2_l2e_map(0x50000, 0x2ULL << 32, true, 1));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(0x50000, 0x1ULL | (0x1ULL << 32),
					   true, 3, 16, end, &err));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(0, 0x1ULL, true, 3, 16, end, &err));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(0x50000 | QCOW2_OFLAG_ZERO, 0, true,
					   3, 16, end, &err));
}

/* Discards and writes of zeros, case by case as QEMU makes them. */
TEST(l2_unmap)
{
	const u64 data = QCOW2_OFLAG_COPIED | 0x50000, zeros = 0xffffffffULL << 32;
	const u64 comp = QCOW2_OFLAG_COMPRESSED | 0x1234;
	struct qcow2_unmap u;

	/* Version 3: a discarded cluster reads zeros, its space goes. */
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0, false, 3, false, 0, 1,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_TRUE(u.drop);
	/* Unallocated over nothing stays so; over a backing file, zeros. */
	ASSERT_EQ(0, qcow2_l2e_unmap(0, 0, false, 3, false, 0, 1,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(0, u.entry);
	EXPECT_FALSE(u.drop);
	ASSERT_EQ(0, qcow2_l2e_unmap(0, 0, false, 3, true, 0, 1,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_FALSE(u.drop);
	/* A preallocated zero cluster loses its host cluster. */
	ASSERT_EQ(0, qcow2_l2e_unmap(data | QCOW2_OFLAG_ZERO, 0, false, 3,
				     false, 0, 1, QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_TRUE(u.drop);
	/* Compressed: the references go. */
	ASSERT_EQ(0, qcow2_l2e_unmap(comp, 0, false, 3, false, 0, 1,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_TRUE(u.drop);
	/* Version 2: unallocated, and the backing file shows again. */
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0, false, 2, true, 0, 1,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(0, u.entry);
	EXPECT_TRUE(u.drop);

	/* Zeros with REQ_NOUNMAP keep the host cluster (and COPIED). */
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0, false, 3, true, 0, 1,
				     QCOW2_UNMAP_ZERO_KEEP, &u));
	EXPECT_EQ(data | QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_FALSE(u.drop);
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0, false, 3, true, 0, 1,
				     QCOW2_UNMAP_ZERO, &u));
	EXPECT_EQ(QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_TRUE(u.drop);
	/* but never of compressed data, which cannot be written in place. */
	ASSERT_EQ(0, qcow2_l2e_unmap(comp, 0, false, 3, false, 0, 1,
				     QCOW2_UNMAP_ZERO_KEEP, &u));
	EXPECT_EQ(QCOW2_OFLAG_ZERO, u.entry);
	EXPECT_TRUE(u.drop);
	/* Version 2 has no zero flag. */
	EXPECT_EQ(-EOPNOTSUPP, qcow2_l2e_unmap(data, 0, false, 2, true, 0, 1,
					       QCOW2_UNMAP_ZERO, &u));
	EXPECT_EQ(-EOPNOTSUPP, qcow2_l2e_unmap(data, 0, false, 2, false, 0, 1,
					       QCOW2_UNMAP_ZERO_KEEP, &u));
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0, false, 2, false, 0, 1,
				     QCOW2_UNMAP_ZERO, &u));
	EXPECT_EQ(0, u.entry);
	EXPECT_TRUE(u.drop);

	/* Extended L2: whole clusters as zero bitmaps, parts as bits. */
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0xffULL, true, 3, false, 0, 32,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(0, u.entry);
	EXPECT_EQ(zeros, u.bitmap);
	EXPECT_TRUE(u.drop);
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0xffULL, true, 3, false, 2, 4,
				     QCOW2_UNMAP_ZERO, &u));
	EXPECT_EQ(data, u.entry);
	EXPECT_EQ(0xc3ULL | (0x3cULL << 32), u.bitmap);
	EXPECT_FALSE(u.drop);
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0xffULL, true, 3, false, 2, 4,
				     QCOW2_UNMAP_DISCARD, &u));
	EXPECT_EQ(data, u.entry);
	EXPECT_EQ(0xffULL, u.bitmap);
	EXPECT_FALSE(u.drop);
	ASSERT_EQ(0, qcow2_l2e_unmap(data, 0xffULL, true, 3, false, 0, 32,
				     QCOW2_UNMAP_ZERO_KEEP, &u));
	EXPECT_EQ(data, u.entry);
	EXPECT_EQ(zeros, u.bitmap);
	EXPECT_FALSE(u.drop);
	EXPECT_EQ(-EOPNOTSUPP, qcow2_l2e_unmap(comp, 0, true, 3, false, 0, 4,
					       QCOW2_UNMAP_ZERO, &u));

	/* Ranges outside the cluster's units. */
	EXPECT_EQ(-EINVAL, qcow2_l2e_unmap(data, 0, false, 3, false, 0, 0,
					   QCOW2_UNMAP_ZERO, &u));
	EXPECT_EQ(-EINVAL, qcow2_l2e_unmap(data, 0, false, 3, false, 0, 2,
					   QCOW2_UNMAP_ZERO, &u));
	EXPECT_EQ(-EINVAL, qcow2_l2e_unmap(data, 0, true, 3, false, 31, 2,
					   QCOW2_UNMAP_ZERO, &u));
}

/*
 * Every combination: what comes out is a valid entry, reads what was
 * asked, keeps or drops the host cluster as it says, and leaves the units
 * outside the range as they were.
 */
TEST(l2_unmap_all)
{
	static const u64 entries[] = {
		0, QCOW2_OFLAG_ZERO, 0x50000, QCOW2_OFLAG_COPIED | 0x50000,
		QCOW2_OFLAG_COPIED | 0x50000 | QCOW2_OFLAG_ZERO,
		QCOW2_OFLAG_COMPRESSED | 0x1234,
	};
	static const u64 bitmaps[] = {
		0, 0xffffffffULL, 0xffffffffULL << 32, 0x0f0fULL | (0xf000ULL << 32),
	};
	static const u32 ranges[][2] = {
		{ 0, 32 }, { 0, 1 }, { 31, 1 }, { 3, 17 }, { 0, 31 }, { 1, 31 },
	};
	const u64 end = 1ULL << 30;
	struct qcow2_err err;
	struct qcow2_unmap u;
	unsigned int e, b, r, v, ext, back, op, sc, units, first, count;
	enum qcow2_map was, now;
	unsigned long long l2e, bm, ne, nb, host;
	int ret;

	for (ext = 0; ext < 2; ext++)
	for (v = 2; v <= 3; v++)
	for (e = 0; e < ARRAY_SIZE(entries); e++)
	for (b = 0; b < (ext ? ARRAY_SIZE(bitmaps) : 1); b++)
	for (r = 0; r < (ext ? ARRAY_SIZE(ranges) : 1); r++)
	for (back = 0; back < 2; back++)
	for (op = QCOW2_UNMAP_DISCARD; op <= QCOW2_UNMAP_ZERO_KEEP; op++) {
		if (ext && v < 3)
			continue;
		l2e = entries[e];
		bm = ext ? bitmaps[b] : 0;
		if (qcow2_l2e_check(l2e, bm, ext, v, 16, end, &err))
			continue;
		units = ext ? QCOW2_SUBCLUSTERS : 1;
		first = ext ? ranges[r][0] : 0;
		count = ext ? ranges[r][1] : 1;
		ret = qcow2_l2e_unmap(l2e, bm, ext, v, back, first, count, op,
				      &u);
		if (ret == -EOPNOTSUPP) {
			/* Only zeros the entry cannot say. */
			EXPECT_NE(QCOW2_UNMAP_DISCARD, op);
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("entry %llx bitmap %llx", l2e, bm);
		ne = u.entry;
		nb = u.bitmap;
		EXPECT_EQ(0, qcow2_l2e_check(u.entry, u.bitmap, ext, v, 16, end,
					     &err))
			TH_LOG("%llx/%llx -> %llx/%llx: %s", l2e, bm, ne, nb,
			       err.msg);
		/* The host cluster is kept or dropped, never moved. */
		host = QCOW2_L2E_OFFSET_MASK | QCOW2_OFLAG_COMPRESSED;
		EXPECT_EQ(u.drop ? 0 : l2e & host, ne & host)
			TH_LOG("%llx/%llx -> %llx/%llx, drop %d", l2e, bm, ne,
			       nb, u.drop);
		for (sc = 0; sc < units; sc++) {
			was = qcow2_l2e_map(l2e, bm, ext, sc);
			now = qcow2_l2e_map(u.entry, u.bitmap, ext, sc);
			if (sc < first || sc >= first + count) {
				EXPECT_EQ(was, now);
				continue;
			}
			if (op != QCOW2_UNMAP_DISCARD) {
				EXPECT_TRUE(now == QCOW2_MAP_ZERO ||
					    (now == QCOW2_MAP_UNALLOCATED &&
					     !back))
					TH_LOG("%llx/%llx v%u op %u: unit %u reads %d",
					       l2e, bm, v, op, sc, now);
			} else if (count == units) {
				/* Nothing of the old data shows. */
				EXPECT_TRUE(now == QCOW2_MAP_ZERO ||
					    now == QCOW2_MAP_UNALLOCATED);
			} else {
				EXPECT_EQ(was, now);
			}
		}
	}
}

/* Compressed cluster descriptors, laid out by hand. */
TEST(compressed_descriptor)
{
	const u64 end = 1ULL << 30;
	struct qcow2_compressed c;
	struct qcow2_err err;

	/* 64 KiB clusters: 54 bits of offset, 8 of additional sectors. */
	EXPECT_EQ(54, qcow2_compressed_offset_bits(16));
	ASSERT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 3ULL << 54 |
					  0x50123, 16, end, &c, &err))
		TH_LOG("%s", err.msg);
	EXPECT_EQ(0x50123, c.offset);
	EXPECT_EQ(4, c.sectors);
	EXPECT_EQ(4 * 512 - 0x123, c.bytes);
	/* Sector counts are not offset bits: the largest count, 255 + 1. */
	ASSERT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 0xffULL << 54 |
					  0x50000, 16, end, &c, &err));
	EXPECT_EQ(256, c.sectors);
	EXPECT_EQ(128 * 1024, c.bytes);

	/* 512-byte clusters: 61 bits of offset, one bit of sectors. */
	EXPECT_EQ(61, qcow2_compressed_offset_bits(9));
	ASSERT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 1ULL << 61 |
					  0x7ff, 9, end, &c, &err));
	EXPECT_EQ(0x7ff, c.offset);
	EXPECT_EQ(2, c.sectors);
	EXPECT_EQ(2 * 512 - 0x1ff, c.bytes);
	/* ...whose offset bits 56..60 must be clear. */
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 1ULL << 58 |
						0x800, 9, ~0ULL, &c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "out of range"));
	ASSERT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED |
					  (QCOW2_MAX_HOST_OFFSET - 1), 9, ~0ULL,
					  &c, &err));

	/* 2 MiB clusters: 49 bits of offset; at most two clusters of data. */
	EXPECT_EQ(49, qcow2_compressed_offset_bits(21));
	ASSERT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 0x1fffULL << 49 |
					  0x200000, 21, end, &c, &err));
	EXPECT_EQ(8192, c.sectors);
	EXPECT_EQ(4 * MiB, c.bytes);

	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(0x50000, 16, end, &c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "not compressed"));
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED |
						QCOW2_OFLAG_COPIED | 0x50000,
						16, end, &c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "COPIED"));
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED, 16, end,
						&c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "header cluster"));
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 0xfe00,
						16, end, &c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "header cluster"));

	/*
	 * The end of the file: the data must start inside it, and so must its
	 * last sector, which the file may end inside (qemu-io "write -c").
	 */
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 0x50000,
						16, 0x50000, &c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "past the end of the file"));
	EXPECT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 0x50000, 16,
					  0x50001, &c, &err));
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 0x501f0,
						16, 0x501f0, &c, &err));
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 1ULL << 54 |
						0x50000, 16, 0x50200, &c, &err));
	EXPECT_EQ(0, qcow2_l2e_compressed(QCOW2_OFLAG_COMPRESSED | 1ULL << 54 |
					  0x50000, 16, 0x50201, &c, &err));
	/* ...a compressed entry passes qcow2_l2e_check, which leaves it here. */
	EXPECT_EQ(0, qcow2_l2e_check(QCOW2_OFLAG_COMPRESSED | 0x50000, 0, false, 3,
				     16, end, &err));
}

static u8 *read_whole(const char *path, size_t *len)
{
	struct stat st;
	u8 *buf;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !(buf = malloc(st.st_size + 1)) ||
	    pread(fd, buf, st.st_size, 0) != st.st_size) {
		close(fd);
		return NULL;
	}
	close(fd);
	*len = st.st_size;
	return buf;
}

/* Inflate what QEMU wrote with raw deflate, as QEMU reads it. */
static int inflate_cluster(const u8 *in, size_t in_len, u8 *out,
			   size_t out_len)
{
	z_stream z = { 0 };
	int ret;

	if (inflateInit2(&z, -12) != Z_OK)
		return -1;
	z.next_in = (u8 *)in;
	z.avail_in = in_len;
	z.next_out = out;
	z.avail_out = out_len;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	/* QEMU accepts a stream that stops once it has filled the cluster. */
	return ret == Z_STREAM_END || (ret == Z_BUF_ERROR && !z.avail_out) ?
	       0 : -1;
}

/*
 * Images made by qemu-img convert -c and qemu-io write -c (run.sh): walk
 * every L2 table, decode every compressed entry, and hold the result
 * against the file, qemu-img map and the image's content.
 */
TEST(compressed_fixtures)
{
	const char *dir = getenv("QCOW2_COMPRESSED");
	struct dirent *de;
	int images = 0;
	DIR *d;

	if (!dir)
		SKIP(return, "QCOW2_COMPRESSED not set (selftests/unit/run.sh sets it)");
	d = opendir(dir);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d))) {
		size_t img_len, raw_len, map_len, name_len = strlen(de->d_name);
		u64 cs, esz, l1i, j, guest, mapped = 0, found = 0;
		struct qcow2_err err = { { 0 } };
		char path[4096], *line, *save;
		u8 *img, *raw, *out;
		struct qcow2_header h;
		char *map;
		bool extl2;

		if (name_len < 6 || strcmp(de->d_name + name_len - 6, ".qcow2"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		img = read_whole(path, &img_len);
		ASSERT_NE(NULL, img) TH_LOG("%s", path);
		snprintf(path, sizeof(path), "%s/%.*s.raw", dir,
			 (int)name_len - 6, de->d_name);
		raw = read_whole(path, &raw_len);
		ASSERT_NE(NULL, raw) TH_LOG("%s", path);
		snprintf(path, sizeof(path), "%s/%.*s.map", dir,
			 (int)name_len - 6, de->d_name);
		line = (char *)read_whole(path, &map_len);
		ASSERT_NE(NULL, line) TH_LOG("%s", path);
		/* One guest offset a line; "\nOFFSET\n" finds one whole. */
		map = malloc(map_len + 3);
		ASSERT_NE(NULL, map);
		map[0] = '\n';
		memcpy(map + 1, line, map_len);
		strcpy(map + 1 + map_len, "\n");
		free(line);

		ASSERT_EQ(0, qcow2_header_decode(&h, img, img_len, &err))
			TH_LOG("%s: %s", de->d_name, err.msg);
		ASSERT_EQ(0, qcow2_header_check(&h, img_len, &err))
			TH_LOG("%s: %s", de->d_name, err.msg);
		cs = 1ULL << h.cluster_bits;
		extl2 = h.incompatible_features & QCOW2_INCOMPAT_EXTL2;
		esz = qcow2_l2_entry_bytes(extl2);
		out = malloc(cs);
		ASSERT_NE(NULL, out);

		for (l1i = 0; l1i < h.l1_size; l1i++) {
			u64 l1e = qcow2_get_be64(img + h.l1_table_offset + l1i * 8);
			u64 l2 = l1e & QCOW2_L1E_OFFSET_MASK;

			ASSERT_EQ(0, qcow2_l1e_check(l1e, h.cluster_bits, img_len,
						     &err)) TH_LOG("%s", err.msg);
			if (!l2)
				continue;
			for (j = 0; j < cs / esz; j++) {
				const u8 *e = img + l2 + j * esz;
				u64 l2e = qcow2_get_be64(e);
				u64 bitmap = extl2 ? qcow2_get_be64(e + 8) : 0;
				struct qcow2_compressed c;
				char want[32];

				guest = ((l1i * (cs / esz)) + j) * cs;
				snprintf(want, sizeof(want), "\n%llu\n",
					 (unsigned long long)guest);
				ASSERT_EQ(0, qcow2_l2e_check(l2e, bitmap, extl2,
							     h.version,
							     h.cluster_bits,
							     img_len, &err))
					TH_LOG("%s: %s", de->d_name, err.msg);
				if (!(l2e & QCOW2_OFLAG_COMPRESSED)) {
					/* qemu-img map reports no other cluster compressed. */
					EXPECT_EQ(NULL, strstr(map, want))
						TH_LOG("%s: %llu", de->d_name,
						       (unsigned long long)guest);
					continue;
				}
				found++;
				EXPECT_EQ(0, bitmap);
				EXPECT_NE(NULL, strstr(map, want))
					TH_LOG("%s: guest %llu compressed, not for qemu-img map",
					       de->d_name, (unsigned long long)guest);
				ASSERT_EQ(0, qcow2_l2e_compressed(l2e, h.cluster_bits,
								  img_len, &c, &err))
					TH_LOG("%s: %s", de->d_name, err.msg);
				ASSERT_LT(c.offset, img_len);
				ASSERT_LT((c.offset & ~511ULL) + (c.sectors - 1) * 512ULL,
					  img_len);
				ASSERT_LE(c.bytes, 2 * cs);
				ASSERT_LT(guest, raw_len);
				if (h.compression_type == QCOW2_COMPRESSION_ZSTD) {
					/* A zstd frame starts with its magic. */
					EXPECT_EQ(0, memcmp(img + c.offset,
							    "\x28\xb5\x2f\xfd", 4))
						TH_LOG("%s: guest %llu", de->d_name,
						       (unsigned long long)guest);
					continue;
				}
				ASSERT_EQ(0, inflate_cluster(img + c.offset,
							     c.bytes < img_len - c.offset ?
							     c.bytes : img_len - c.offset,
							     out, cs))
					TH_LOG("%s: guest %llu does not inflate",
					       de->d_name, (unsigned long long)guest);
				EXPECT_EQ(0, memcmp(out, raw + guest,
						    raw_len - guest < cs ?
						    raw_len - guest : cs))
					TH_LOG("%s: guest %llu inflates to other bytes",
					       de->d_name, (unsigned long long)guest);
			}
		}
		for (line = strtok_r(map, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			mapped++;
		EXPECT_EQ(mapped, found) TH_LOG("%s", de->d_name);
		EXPECT_LT(0, found) TH_LOG("%s: no compressed cluster", de->d_name);
		free(out);
		free(map);
		free(raw);
		free(img);
		images++;
	}
	closedir(d);
	EXPECT_LT(0, images) TH_LOG("no images in %s", dir);
}

/*
 * Regressions found by the fuzz targets (selftests/fuzz/). Each input is
 * the target's reproducer, minimized by libFuzzer (-minimize_crash=1), in
 * that target's input layout (the comment at the top of fuzz_TARGET.c).
 */

/*
 * fuzz_entries: a compressed entry of an extended L2 table passed
 * qcow2_l2e_check with a subcluster bitmap, which the check returned
 * before looking at. Compressed clusters have no subclusters: the spec
 * reserves their bitmap and QEMU calls such an entry invalid. Input:
 * be64 file size, cluster_bits 0xff (folded to 17), flags 0xff (version
 * 3, extended L2), the entry (compressed, and COPIED), its bitmap.
 */
TEST(fuzz_entries_compressed_bitmap)
{
	static const u8 in[] = {
		0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	u64 file_size = qcow2_get_be64(in), l2e = qcow2_get_be64(in + 10);
	u64 bitmap = qcow2_get_be64(in + 18);
	struct qcow2_compressed c;
	struct qcow2_err err;

	ASSERT_EQ(26, sizeof(in));
	EXPECT_EQ(-EINVAL, qcow2_l2e_check(l2e, bitmap, true, 3, 17, file_size,
					   &err));
	EXPECT_NE(NULL, strstr(err.msg, "subcluster bitmap"));
	/* Without the bitmap the descriptor is qcow2_l2e_compressed's... */
	EXPECT_EQ(0, qcow2_l2e_check(l2e, 0, true, 3, 17, file_size, &err));
	/* ...which refuses this one for its COPIED flag. */
	EXPECT_EQ(-EINVAL, qcow2_l2e_compressed(l2e, 17, file_size, &c, &err));
	EXPECT_NE(NULL, strstr(err.msg, "COPIED"));
	/* A standard L2 entry has no bitmap to look at. */
	EXPECT_EQ(0, qcow2_l2e_check(l2e, bitmap, false, 3, 17, file_size, &err));
}

TEST_HARNESS_MAIN
