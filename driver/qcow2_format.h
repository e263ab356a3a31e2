/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2 on-disk format: constants, decoded header, validation and layout
 * arithmetic.
 *
 * This file and qcow2_format.c build both in the kernel and in userspace
 * (userspace/kerncompat.h supplies the kernel types there), so the parser
 * that guards the kernel against hostile images is unit-tested and fuzzed
 * on the host. Keep kernel-only calls out of both.
 */
#ifndef QCOW2_FORMAT_H
#define QCOW2_FORMAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/compiler.h>
#else
#include "kerncompat.h"
#endif

#define QCOW2_MAGIC			0x514649fbU	/* "QFI\xfb" */

#define QCOW2_V2_HEADER_LEN		72
#define QCOW2_V3_MIN_HEADER_LEN		104
/* What QEMU writes for version 3: up to and including compression_type. */
#define QCOW2_V3_HEADER_LEN		112

#define QCOW2_MIN_CLUSTER_BITS		9
#define QCOW2_MAX_CLUSTER_BITS		21
/* Extended L2 entries describe 32 subclusters of at least 512 bytes. */
#define QCOW2_EXTL2_MIN_CLUSTER_BITS	14
#define QCOW2_MAX_REFCOUNT_ORDER	6

/* Implementation limits QEMU enforces; images beyond them do not exist. */
#define QCOW2_MAX_L1_BYTES		(32ULL << 20)
#define QCOW2_MAX_REFTABLE_BYTES	(8ULL << 20)
#define QCOW2_MAX_SNAPSHOTS		65536U
/* The snapshot table: 1 KiB per snapshot at most, as QEMU has it. */
#define QCOW2_MAX_SNAPSHOT_TABLE_BYTES	(1024ULL * QCOW2_MAX_SNAPSHOTS)
#define QCOW2_MAX_BACKING_NAME		1023U
/* Host offsets are stored in bits 9..55 of table entries. */
#define QCOW2_MAX_HOST_OFFSET		(1ULL << 56)

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY		(1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT		(1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE	(1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION	(1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2		(1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN		(QCOW2_INCOMPAT_DIRTY | \
					 QCOW2_INCOMPAT_CORRUPT | \
					 QCOW2_INCOMPAT_DATA_FILE | \
					 QCOW2_INCOMPAT_COMPRESSION | \
					 QCOW2_INCOMPAT_EXTL2)

/* Compatible feature bits. */
#define QCOW2_COMPAT_LAZY_REFCOUNTS	(1ULL << 0)

/* Autoclear feature bits. */
#define QCOW2_AUTOCLEAR_BITMAPS		(1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW	(1ULL << 1)

#define QCOW2_COMPRESSION_DEFLATE	0
#define QCOW2_COMPRESSION_ZSTD		1

/* L1 entry: bits 9..55 offset of an L2 table, bit 63 COPIED. */
#define QCOW2_L1E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_L1E_RESERVED_MASK		0x7f000000000001ffULL

/*
 * Standard L2 entry: bit 63 COPIED, bit 62 compressed, bits 9..55 host
 * offset, bit 0 reads-as-zero (version 3).
 */
#define QCOW2_OFLAG_COPIED		(1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED		(1ULL << 62)
#define QCOW2_OFLAG_ZERO		(1ULL << 0)
#define QCOW2_L2E_OFFSET_MASK		0x00fffffffffffe00ULL
#define QCOW2_L2E_RESERVED_MASK		0x3f000000000001feULL

/* Refcount table entry: bits 9..63 offset of a refcount block. */
#define QCOW2_REFT_OFFSET_MASK		0xfffffffffffffe00ULL
#define QCOW2_REFT_RESERVED_MASK	0x00000000000001ffULL

/**
 * struct qcow2_header - the image header, decoded to CPU byte order
 *
 * Version 2 images get the values version 3 defines as their implicit
 * ones (refcount_order 4, header_length 72, no feature bits), so that
 * code after decoding never asks which version it reads.
 */
struct qcow2_header {
	u32 magic;
	u32 version;
	u64 backing_file_offset;
	u32 backing_file_size;
	u32 cluster_bits;
	u64 size;
	u32 crypt_method;
	u32 l1_size;
	u64 l1_table_offset;
	u64 refcount_table_offset;
	u32 refcount_table_clusters;
	u32 nb_snapshots;
	u64 snapshots_offset;
	u64 incompatible_features;
	u64 compatible_features;
	u64 autoclear_features;
	u32 refcount_order;
	u32 header_length;
	u8 compression_type;
};

/**
 * struct qcow2_err - why a format check failed
 * @msg: one line for the log, without the device name or a newline
 *
 * The format code cannot log (it also runs in userspace) and does not know
 * which device it checks, so it hands the reason back to the caller.
 */
struct qcow2_err {
	char msg[160];
};

__printf(3, 4)
int qcow2_fail(struct qcow2_err *err, int errnum, const char *fmt, ...);

static inline u32 qcow2_get_be32(const void *p)
{
	const u8 *b = p;

	return (u32)b[0] << 24 | (u32)b[1] << 16 | (u32)b[2] << 8 | b[3];
}

static inline u64 qcow2_get_be64(const void *p)
{
	const u8 *b = p;

	return (u64)qcow2_get_be32(b) << 32 | qcow2_get_be32(b + 4);
}

static inline void qcow2_put_be32(void *p, u32 v)
{
	u8 *b = p;

	b[0] = v >> 24;
	b[1] = v >> 16;
	b[2] = v >> 8;
	b[3] = v;
}

static inline void qcow2_put_be64(void *p, u64 v)
{
	qcow2_put_be32(p, v >> 32);
	qcow2_put_be32((u8 *)p + 4, v);
}

/* Layout arithmetic; every function is exact for the whole u64 range. */

/* Bytes in one L2 entry: 8, or 16 with extended L2. */
static inline u32 qcow2_l2_entry_bytes(bool extended_l2)
{
	return extended_l2 ? 16 : 8;
}

/* log2 of the entries in one L2 table. */
static inline u32 qcow2_l2_bits(u32 cluster_bits, bool extended_l2)
{
	return cluster_bits - (extended_l2 ? 4 : 3);
}

/* L1 entries needed to map @size bytes of guest data. */
u64 qcow2_l1_entries_for(u64 size, u32 cluster_bits, bool extended_l2);

/* Header extension types. */
#define QCOW2_EXT_END			0x00000000U
#define QCOW2_EXT_BACKING_FORMAT	0xe2792acaU
/* QEMU keeps the backing format in a 16-byte buffer with its NUL. */
#define QCOW2_MAX_BACKING_FORMAT	15U

/* The values are those of QCOW2_CREATE_PREALLOC_* in the ioctl ABI. */
enum qcow2_prealloc {
	QCOW2_PREALLOC_OFF = 0,		/* header, refcounts and L1 only */
	QCOW2_PREALLOC_METADATA = 1,	/* also every L2 table; data area a hole */
	QCOW2_PREALLOC_FALLOC = 2,	/* also the data area, fallocated */
	QCOW2_PREALLOC_FULL = 3,	/* also the data area, written as zeros */
};

/**
 * struct qcow2_create_params - what an image to be created looks like
 * @size: virtual size in bytes
 * @cluster_bits: log2 of the cluster size
 * @version: 2 or 3
 * @refcount_order: log2 of the refcount width in bits
 * @lazy_refcounts: set the lazy refcounts compatible bit (version 3)
 * @extended_l2: 16-byte L2 entries with subclusters (version 3)
 * @prealloc: how much of the image is allocated at creation
 * @backing_len: length of the backing file name, 0 for none
 * @backing_fmt_len: length of the backing format name, 0 for none
 */
struct qcow2_create_params {
	u64 size;
	u32 cluster_bits;
	u32 version;
	u32 refcount_order;
	bool lazy_refcounts;
	bool extended_l2;
	enum qcow2_prealloc prealloc;
	u32 backing_len;
	u32 backing_fmt_len;
};

/**
 * struct qcow2_layout - where a new image puts its structures
 *
 * In file order: the header cluster, the refcount table, the refcount
 * blocks, the L1 table, the L2 tables, then the data clusters in guest
 * order, so that a guest-sequential range is host-sequential. Every
 * cluster in [0, @used_clusters) has refcount 1, every other 0.
 * Offsets are in bytes, counts in clusters unless named otherwise.
 */
struct qcow2_layout {
	u64 l1_entries;
	u64 reftable_offset;
	u64 reftable_clusters;
	u64 refblocks_offset;
	u64 refblocks;
	u64 l1_offset;
	u64 l1_clusters;
	u64 l2_offset;
	u64 l2_tables;
	u64 data_offset;
	u64 data_clusters;
	u64 used_clusters;
	u64 file_length;
};

/* log2 of @bytes if it is a valid cluster size, else -EINVAL. */
int qcow2_cluster_bits(u64 bytes);
/* log2 of @bits if it is a valid refcount width, else -EINVAL. */
int qcow2_refcount_order(u64 bits);

int qcow2_create_check(const struct qcow2_create_params *p,
		       struct qcow2_err *err);
int qcow2_layout_compute(const struct qcow2_create_params *p,
			 struct qcow2_layout *l, struct qcow2_err *err);

/*
 * Fill refcount block @index (one cluster at @buf) for an image whose
 * clusters [0, used) have refcount 1.
 */
void qcow2_build_refblock(void *buf, u32 cluster_bits, u32 refcount_order,
			  u64 index, u64 used);
/**
 * struct qcow2_image_writer - writes a new image's metadata
 * @p: the image's parameters
 * @l: its layout
 * @backing: backing file name (@p->backing_len bytes) or NULL
 * @backing_fmt: backing format name (@p->backing_fmt_len bytes) or NULL
 * @buf: scratch buffer of @chunk bytes
 * @chunk: a multiple of the cluster size; clusters are written this many
 *	bytes at a time
 * @write: writes @len bytes at @pos, all of them, or returns -errno
 * @ctx: passed to @write
 *
 * The same code writes images in the kernel (create.c) and in the host
 * unit tests, which check its output with qemu-img.
 */
struct qcow2_image_writer {
	const struct qcow2_create_params *p;
	const struct qcow2_layout *l;
	const char *backing;
	const char *backing_fmt;
	u8 *buf;
	size_t chunk;
	int (*write)(void *ctx, const void *buf, size_t len, u64 pos);
	void *ctx;
};

/* Write the refcount table and blocks, and the L1 and L2 tables. */
int qcow2_write_metadata(struct qcow2_image_writer *w);
/* Write the header cluster; last, so a partial image has no magic. */
int qcow2_write_header(struct qcow2_image_writer *w);

/* Refcount @index of a refcount block, for any width. */
u64 qcow2_refcount_get(const void *block, u32 refcount_order, u64 index);
void qcow2_refcount_set(void *block, u32 refcount_order, u64 index, u64 value);

/*
 * Extended L2 entries add a 64-bit bitmap: bit n says subcluster n is
 * allocated, bit 32 + n that it reads as zeros.
 */
#define QCOW2_SUBCLUSTERS		32
#define QCOW2_L2B_ALLOC_ALL		0x00000000ffffffffULL

/* What the guest bytes of one (sub)cluster read as. */
enum qcow2_map {
	QCOW2_MAP_UNALLOCATED,	/* the backing file's, or zeros without one */
	QCOW2_MAP_ZERO,		/* zeros, whatever the host cluster holds */
	QCOW2_MAP_DATA,		/* the host cluster */
	QCOW2_MAP_COMPRESSED,	/* a compressed cluster */
};

/*
 * Decode subcluster @sc (0 without extended L2) of the L2 entry @l2e with
 * bitmap @bitmap. The entry must have passed qcow2_l2e_check().
 */
static inline enum qcow2_map qcow2_l2e_map(u64 l2e, u64 bitmap, bool extl2,
					   u32 sc)
{
	if (l2e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_MAP_COMPRESSED;
	if (extl2) {
		if (bitmap & (1ULL << sc))
			return QCOW2_MAP_DATA;
		if (bitmap & (1ULL << (32 + sc)))
			return QCOW2_MAP_ZERO;
		return QCOW2_MAP_UNALLOCATED;
	}
	if (l2e & QCOW2_OFLAG_ZERO)
		return QCOW2_MAP_ZERO;
	return l2e & QCOW2_L2E_OFFSET_MASK ? QCOW2_MAP_DATA :
					     QCOW2_MAP_UNALLOCATED;
}

/*
 * Check an L2 entry read from an image before anything uses it: reserved
 * bits clear, host cluster aligned and below @file_end, bitmap consistent.
 * Of a compressed entry only the bitmap is checked (it must be 0); its
 * descriptor is left to qcow2_l2e_compressed(), for the code that reads it.
 */
int qcow2_l2e_check(u64 l2e, u64 bitmap, bool extl2, u32 version,
		    u32 cluster_bits, u64 file_end, struct qcow2_err *err);

/*
 * A compressed cluster descriptor (bits 0..61 of an L2 entry with
 * QCOW2_OFLAG_COMPRESSED): its low 62 - (cluster_bits - 8) bits are the
 * host byte offset of the compressed data, the bits above them up to 61
 * the number of 512-byte sectors it takes beyond the one holding that
 * offset. The wider the cluster, the more sectors its data may need.
 */
static inline u32 qcow2_compressed_offset_bits(u32 cluster_bits)
{
	return 62 - (cluster_bits - 8);
}

/**
 * struct qcow2_compressed - where the data of a compressed cluster lies
 * @offset: host byte offset of its first byte, aligned to nothing
 * @sectors: the 512-byte sectors it touches, from the one holding @offset
 * @bytes: from @offset to the end of the last of those sectors
 *
 * The data ends somewhere inside the last sector (decompression stops when
 * it has produced a cluster), where the next compressed cluster may begin.
 * The file itself may end inside that sector too: qemu-io's "write -c"
 * leaves it so, and QEMU reads the missing tail as zeros.
 */
struct qcow2_compressed {
	u64 offset;
	u32 sectors;
	u32 bytes;
};

/*
 * Decode the compressed L2 entry @l2e of an image with @cluster_bits (a
 * validated header's) and check it: COPIED clear (a compressed cluster is
 * never written in place), the data past the header cluster, below the
 * host offset limit, and no sector of it past the end of the file.
 */
int qcow2_l2e_compressed(u64 l2e, u32 cluster_bits, u64 file_end,
			 struct qcow2_compressed *c, struct qcow2_err *err);

/*
 * Is @magic (statfs f_type, super_block s_magic) that of a file system whose
 * files show kernel state, not stored data (procfs, sysfs, ...)? Such a file
 * is never an image or a backing file: the module and qcow2ctl both refuse it.
 */
bool qcow2_kernel_state_fs(u64 magic);

/* What is asked of the guest range an L2 entry maps (qcow2_l2e_unmap()). */
enum qcow2_unmap_op {
	QCOW2_UNMAP_DISCARD,	/* REQ_OP_DISCARD: contents undefined after */
	QCOW2_UNMAP_ZERO,	/* REQ_OP_WRITE_ZEROES: zeros, space may go */
	QCOW2_UNMAP_ZERO_KEEP,	/* ... with REQ_NOUNMAP: zeros, space stays */
};

/**
 * struct qcow2_unmap - the new L2 entry of one cluster
 * @entry: the new entry
 * @bitmap: the new subcluster bitmap (0 without extended L2)
 * @drop: the reference the old entry held on its host cluster (or, for a
 *	compressed entry, on the clusters its data touches) goes
 */
struct qcow2_unmap {
	u64 entry;
	u64 bitmap;
	bool drop;
};

/*
 * The L2 entry after a discard or a write of zeros to units @first to
 * @first + @count - 1 of one cluster (units: the QCOW2_SUBCLUSTERS
 * subclusters with extended L2, else the one cluster), following QEMU's
 * qcow2 driver:
 *  - a discard of a whole cluster makes it read zeros (version 3) or be
 *    unallocated (version 2, where it then shows the backing file again),
 *    and drops its host cluster; one that reads zeros already without a
 *    host cluster, or is unallocated with nothing below, stays as it is;
 *    a discard of part of a cluster changes nothing;
 *  - a write of zeros makes the units read zeros; a whole cluster gives up
 *    its host cluster unless @op is QCOW2_UNMAP_ZERO_KEEP (a compressed
 *    cluster always does), units of a cluster keep it.
 * Bytes that do not fill a unit are the caller's (a discard leaves them, a
 * write of zeros writes them). The entry must have passed qcow2_l2e_check().
 * Returns 0 with *@out filled in (equal to the old entry when nothing
 * changes), -EINVAL for a range outside the units, or -EOPNOTSUPP when an
 * L2 entry cannot say it and the caller must write zeros instead: zeros
 * over subclusters of a compressed cluster; zeros in version 2 where a
 * backing file would show through, or where the host cluster must stay.
 */
int qcow2_l2e_unmap(u64 l2e, u64 bitmap, bool extl2, u32 version,
		    bool backing, u32 first, u32 count, enum qcow2_unmap_op op,
		    struct qcow2_unmap *out);

/**
 * struct qcow2_reftable_grow - where a grown refcount table goes
 * @table_clusters: size of the new table, which starts at cluster @at
 * @first_block: refcount table index of the first new refcount block
 * @blocks: new refcount blocks, right after the table
 * @end: the first cluster after them
 *
 * The new blocks count the new table and themselves, and cover every
 * cluster up to @end, so the image is consistent the moment the header
 * points at the new table.
 */
struct qcow2_reftable_grow {
	u64 table_clusters;
	u64 first_block;
	u64 blocks;
	u64 end;
};

/*
 * Plan a refcount table that covers cluster @need, placed from cluster
 * @at on, for an image whose table has @old_entries entries and whose
 * clusters from @at on are all free and past every existing block.
 */
int qcow2_reftable_grow_plan(u32 cluster_bits, u32 refcount_order,
			     u64 old_entries, u64 at, u64 need,
			     struct qcow2_reftable_grow *g,
			     struct qcow2_err *err);

/*
 * Check an L1 entry (@what "L1") or a refcount table entry (@what
 * "refcount table") read from an image: reserved bits clear, the table it
 * points at cluster aligned and inside the file. 0 entries are valid.
 */
int qcow2_l1e_check(u64 l1e, u32 cluster_bits, u64 file_size,
		    struct qcow2_err *err);
int qcow2_reft_check(u64 rte, u32 cluster_bits, u64 file_size,
		     struct qcow2_err *err);

/* A snapshot table entry: 40 bytes, then extra data, ID and name. */
#define QCOW2_SNAPSHOT_HEADER_LEN	40
#define QCOW2_MAX_SNAPSHOT_EXTRA	1024U

/**
 * struct qcow2_snapshot - what the driver needs of a snapshot table entry
 * @l1_table_offset: the snapshot's L1 table
 * @l1_size: its entries
 * @entry_len: bytes of the entry, without the padding to a multiple of 8
 *	that follows it (and that the last entry may lack at the end of the file)
 */
/*
 * A snapshot table entry: 40 bytes, then @extra bytes of extra data, then
 * the id (@id_len bytes) and the name (@name_len bytes), no NULs.
 */
struct qcow2_snapshot {
	u64 l1_table_offset;
	u32 l1_size;
	u32 entry_len;
	u32 extra;
	u32 id_len;
	u32 name_len;
	u32 date_sec;
	u32 date_nsec;
	u64 vm_clock_nsec;
	u64 vm_state_size;	/* from the extra data if it has the field */
	u64 disk_size;		/* from the extra data; 0 if it lacks it */
	u64 icount;		/* from the extra data; (u64)-1 if it lacks it */
};

/* Where the id starts, from the start of the entry. */
static inline u32 qcow2_snapshot_id_pos(const struct qcow2_snapshot *s)
{
	return QCOW2_SNAPSHOT_HEADER_LEN + s->extra;
}

/*
 * Fill in what the extra data says (@extra points at @s->extra bytes):
 * the large VM state size and the virtual disk size, when present.
 */
void qcow2_snapshot_extra(struct qcow2_snapshot *s, const void *extra);

/* Decode and check the first QCOW2_SNAPSHOT_HEADER_LEN bytes of an entry. */
int qcow2_snapshot_decode(struct qcow2_snapshot *s, const void *buf,
			  u32 cluster_bits, u64 file_size,
			  struct qcow2_err *err);

int qcow2_header_decode(struct qcow2_header *h, const void *buf, size_t len,
			struct qcow2_err *err);
/**
 * struct qcow2_backing_name - what an image says about its backing file
 * @name: the backing file name, NUL-terminated; "" without one
 * @format: the backing format extension, NUL-terminated; "" without one
 */
struct qcow2_backing_name {
	char name[QCOW2_MAX_BACKING_NAME + 1];
	char format[QCOW2_MAX_BACKING_FORMAT + 1];
};

/* An empty name is no backing file, as QEMU reads it. */
static inline bool qcow2_has_backing(const struct qcow2_header *h)
{
	return h->backing_file_offset && h->backing_file_size;
}

/*
 * Bytes from the start of the file qcow2_header_backing() needs: the
 * header, its extensions and the backing file name; 0 without a backing
 * file. At most one cluster (qcow2_header_check()).
 */
u64 qcow2_header_backing_bytes(const struct qcow2_header *h);

/*
 * Decode the backing file name and format of a checked header @h from the
 * first @len bytes of the image, @len >= qcow2_header_backing_bytes(@h).
 */
int qcow2_header_backing(const struct qcow2_header *h, const void *buf,
			 size_t len, struct qcow2_backing_name *b,
			 struct qcow2_err *err);

int qcow2_header_check(const struct qcow2_header *h, u64 file_size,
		       struct qcow2_err *err);
size_t qcow2_header_encode(const struct qcow2_header *h, void *buf,
			   size_t len);

#endif /* QCOW2_FORMAT_H */
