/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * qcow2 block driver: control interface on /dev/qcow2-control.
 *
 * Every command is an _IOWR ioctl whose argument size is encoded in the
 * command number, and that size is the struct's version: a struct only ever
 * grows at its end. The module accepts any size from the first version of
 * a struct on: fields a shorter (older) caller does not know read as zero,
 * and bytes a longer (newer) caller passes beyond what the module knows
 * must be zero. A size below the first version is -ENOTTY.
 *
 * Every struct has a flags word and reserved space: unknown flags and
 * non-zero reserved fields are refused with -EINVAL, so that later ABI
 * versions can give them a meaning.
 */
#ifndef _UAPI_LINUX_QCOW2_H
#define _UAPI_LINUX_QCOW2_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define QCOW2_CONTROL_NAME	"qcow2-control"

/* Bumped on every incompatible change of this file. */
#define QCOW2_ABI_VERSION	1

/*
 * 'q' 0x20-0x7f is unassigned in Documentation/userspace-api/ioctl/
 * ioctl-number.rst ('q' 0x00-0x1f is serio, 0x80-0xff telephony).
 */
#define QCOW2_IOC_TYPE		'q'
#define QCOW2_IOC_BASE		0x40

/*
 * Features reported by QCOW2_IOC_VERSION. A bit is defined here when the
 * module implements what it names; userspace checks the bit before it
 * relies on the operation, and can then tell "module too old" apart from
 * "bad request".
 */
#define QCOW2_FEATURE_CREATE	(1ULL << 0)	/* QCOW2_IOC_CREATE */
/* QCOW2_IOC_ATTACH, _DETACH, _STATUS and _LIST */
#define QCOW2_FEATURE_ATTACH	(1ULL << 1)
/*
 * Devices read compressed clusters and write over them; struct
 * qcow2_status reports compression_type, decompressed and
 * decompressed_hits (zero from modules without this bit).
 */
#define QCOW2_FEATURE_COMPRESSED	(1ULL << 2)
/*
 * Backing chains (struct qcow2_attach @backing), views of an internal
 * snapshot (%QCOW2_ATTACH_SNAPSHOT) and %QCOW2_IOC_LEVEL.
 */
#define QCOW2_FEATURE_BACKING	(1ULL << 3)
/*
 * struct qcow2_level @state is filled in (older modules leave it zero, so
 * a zero there means "not reported" without this bit).
 */
#define QCOW2_FEATURE_LEVEL_STATE	(1ULL << 4)
/*
 * Devices take discard and write-zeroes requests where the image file can
 * punch holes (%QCOW2_STATE_DISCARD), and reuse free clusters; struct
 * qcow2_status reports discarded_clusters, freed_clusters and
 * reused_clusters.
 */
#define QCOW2_FEATURE_DISCARD	(1ULL << 5)
/*
 * struct qcow2_status @image_dev_major, @image_dev_minor and @image_ino are
 * filled in: which file the image is, as stat(2) on it says.
 */
#define QCOW2_FEATURE_IMAGE_ID	(1ULL << 6)
#define QCOW2_FEATURES_ALL	(QCOW2_FEATURE_CREATE | QCOW2_FEATURE_ATTACH | \
				 QCOW2_FEATURE_COMPRESSED | \
				 QCOW2_FEATURE_BACKING | \
				 QCOW2_FEATURE_LEVEL_STATE | \
				 QCOW2_FEATURE_DISCARD | \
				 QCOW2_FEATURE_IMAGE_ID)

/**
 * struct qcow2_version - argument of %QCOW2_IOC_VERSION
 * @abi_version: out: %QCOW2_ABI_VERSION of the running module.
 * @flags: in: no flag is defined yet; must be 0.
 * @features: out: mask of QCOW2_FEATURE_* bits the module implements.
 * @reserved: in: must be zero.
 */
struct qcow2_version {
	__u32 abi_version;
	__u32 flags;
	__u64 features;
	__u64 reserved[6];
};

#define QCOW2_IOC_VERSION	_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 0, \
				      struct qcow2_version)

/* struct qcow2_create flags */
#define QCOW2_CREATE_LAZY_REFCOUNTS	(1U << 0)	/* version 3 only */
#define QCOW2_CREATE_EXTENDED_L2	(1U << 1)	/* version 3, clusters >= 16 KiB */
#define QCOW2_CREATE_FLAGS_ALL		(QCOW2_CREATE_LAZY_REFCOUNTS | \
					 QCOW2_CREATE_EXTENDED_L2)

/* struct qcow2_create prealloc */
#define QCOW2_CREATE_PREALLOC_OFF	0	/* metadata for an empty image */
#define QCOW2_CREATE_PREALLOC_METADATA	1	/* every L2 table; data a hole */
#define QCOW2_CREATE_PREALLOC_FALLOC	2	/* and the data area fallocated */
#define QCOW2_CREATE_PREALLOC_FULL	3	/* and the data area zeroed on disk */

/**
 * struct qcow2_create - argument of %QCOW2_IOC_CREATE
 * @fd: in: the image file: a regular file, open for writing, empty.
 * @flags: in: QCOW2_CREATE_* flags.
 * @size: in: virtual size in bytes, a multiple of 512.
 * @cluster_size: in: bytes, a power of two from 512 to 2 MiB; 0 for 64 KiB.
 * @version: in: 2 (compat 0.10) or 3 (compat 1.1); 0 for 3.
 * @refcount_bits: in: a power of two from 1 to 64 (version 2: 16 only);
 *	0 for 16.
 * @prealloc: in: QCOW2_CREATE_PREALLOC_*.
 * @backing_file: in: pointer to the NUL-terminated backing file name
 *	(at most 1023 bytes), 0 for none. Stored as given, not opened.
 * @backing_format: in: pointer to the NUL-terminated backing format name
 *	(at most 15 bytes), 0 for none; needs @backing_file.
 * @file_length: out: length of the image file created.
 * @reserved: in: must be zero.
 */
struct qcow2_create {
	__s32 fd;
	__u32 flags;
	__u64 size;
	__u32 cluster_size;
	__u32 version;
	__u32 refcount_bits;
	__u32 prealloc;
	__u64 backing_file;
	__u64 backing_format;
	__u64 file_length;
	__u64 reserved[8];
};

#define QCOW2_IOC_CREATE	_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 1, \
				      struct qcow2_create)

/* Block devices are /dev/qcow2N; each has 15 partition minors. */
#define QCOW2_DEVICE_NAME	"qcow2"
#define QCOW2_MAX_DEVICES	4096

/* struct qcow2_attach flags */
#define QCOW2_ATTACH_READ_ONLY	(1U << 0)	/* refuse writes */
#define QCOW2_ATTACH_PARTSCAN	(1U << 1)	/* scan the partition table */
#define QCOW2_ATTACH_INDEX	(1U << 2)	/* use @index, not the first free */
/* show the internal snapshot @snapshot names; needs READ_ONLY */
#define QCOW2_ATTACH_SNAPSHOT	(1U << 3)
#define QCOW2_ATTACH_FLAGS_ALL	(QCOW2_ATTACH_READ_ONLY | \
				 QCOW2_ATTACH_PARTSCAN | \
				 QCOW2_ATTACH_INDEX | \
				 QCOW2_ATTACH_SNAPSHOT)

/* Formats of the levels of a backing chain. */
#define QCOW2_FORMAT_QCOW2	1
#define QCOW2_FORMAT_RAW	2

/* Levels below an image, at most. */
#define QCOW2_MAX_BACKING_DEPTH	64

/*
 * Bytes of a snapshot id or name given to %QCOW2_IOC_ATTACH, at most (the
 * format allows 65535; a snapshot with a longer id and name cannot be
 * shown).
 */
#define QCOW2_MAX_SNAPSHOT_NAME	1023

/**
 * struct qcow2_backing - one level of a backing chain
 * @fd: in: the file, open for reading: a regular file, or a block device
 *	for a raw level. The caller opened it, with its own rights; the
 *	module never opens a path an image names.
 * @format: in: QCOW2_FORMAT_*: what the level above says it is (its
 *	backing format), or what the user said.
 * @reserved: in: must be zero.
 */
struct qcow2_backing {
	__s32 fd;
	__u32 format;
	__u64 reserved;
};

/**
 * struct qcow2_attach - argument of %QCOW2_IOC_ATTACH
 * @fd: in: the image, a regular file open for reading, and for writing
 *	unless %QCOW2_ATTACH_READ_ONLY is set. The module takes its own
 *	reference; the caller may close @fd afterwards.
 * @flags: in: QCOW2_ATTACH_* flags.
 * @index: in: the device number wanted, with %QCOW2_ATTACH_INDEX;
 *	out: the device number given, for /dev/qcow2<index>.
 * @reserved0: in: must be zero.
 * @l2_cache_size: in: bytes of L2 tables cached, 0 for the default
 *	(enough to map 32 GiB with 64 KiB clusters).
 * @refcount_cache_size: in: bytes of refcount blocks cached, 0 for the
 *	default (a quarter of the L2 cache).
 * @backing: in: pointer to @backing_count struct qcow2_backing, the
 *	image's backing file first, then its backing file, and so on; 0 for
 *	none. The chain must be whole: exactly as many levels as the images
 *	name, at most %QCOW2_MAX_BACKING_DEPTH. Every level is held
 *	read-only (and locked against writers) while the device exists; each
 *	L2 cache has @l2_cache_size bytes.
 * @backing_count: in: levels in @backing.
 * @reserved1: in: must be zero.
 * @snapshot: in: with %QCOW2_ATTACH_SNAPSHOT, pointer to the id or name
 *	(NUL-terminated, at most %QCOW2_MAX_SNAPSHOT_NAME bytes) of the
 *	internal snapshot the device shows, read-only; ids are matched first,
 *	as QEMU does. 0 otherwise.
 * @reserved: in: must be zero.
 */
struct qcow2_attach {
	__s32 fd;
	__u32 flags;
	__u32 index;
	__u32 reserved0;
	__u64 l2_cache_size;
	__u64 refcount_cache_size;
	__u64 backing;
	__u32 backing_count;
	__u32 reserved1;
	__u64 snapshot;
	__u64 reserved[3];
};

#define QCOW2_IOC_ATTACH	_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 2, \
				      struct qcow2_attach)

/* struct qcow2_detach flags */
#define QCOW2_DETACH_DEFERRED	(1U << 0)	/* if open, at the last close */
/* even if writing back metadata fails: what was not written is lost */
#define QCOW2_DETACH_FORCE	(1U << 1)
#define QCOW2_DETACH_FLAGS_ALL	(QCOW2_DETACH_DEFERRED | QCOW2_DETACH_FORCE)

/**
 * struct qcow2_detach - argument of %QCOW2_IOC_DETACH
 * @index: in: the device number.
 * @flags: in: QCOW2_DETACH_* flags. Without %QCOW2_DETACH_DEFERRED an
 *	open device is -EBUSY; with it, the device detaches at its last
 *	close (like loop's autoclear) and the call returns 0.
 * @reserved: in: must be zero.
 *
 * Detaching writes back every cached metadata update and syncs the image
 * file before the device goes away.
 */
struct qcow2_detach {
	__u32 index;
	__u32 flags;
	__u64 reserved[3];
};

#define QCOW2_IOC_DETACH	_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 3, \
				      struct qcow2_detach)

/* struct qcow2_status state bits */
#define QCOW2_STATE_READ_ONLY	(1U << 0)	/* attached read-only */
#define QCOW2_STATE_PARTSCAN	(1U << 1)
#define QCOW2_STATE_AUTOCLEAR	(1U << 2)	/* detaches at last close */
#define QCOW2_STATE_DIRECT_IO	(1U << 3)	/* data I/O bypasses the page cache */
#define QCOW2_STATE_CORRUPT	(1U << 4)	/* found corrupt: writes refused */
#define QCOW2_STATE_BACKING	(1U << 5)	/* image names a backing file */
/* buffered I/O: a sync of the image file failed; writes and flushes fail */
#define QCOW2_STATE_WB_ERROR	(1U << 6)
/* shows an internal snapshot (struct qcow2_level @snapshot) */
#define QCOW2_STATE_SNAPSHOT	(1U << 7)
/* takes discard and write-zeroes requests (the image file can punch holes) */
#define QCOW2_STATE_DISCARD	(1U << 8)

#define QCOW2_PATH_MAX		4096

/**
 * struct qcow2_status - argument of %QCOW2_IOC_STATUS
 * @index: in: the device number.
 * @flags: in: no flag is defined yet; must be 0.
 * @state: out: QCOW2_STATE_* bits.
 * @version: out: qcow2 version of the image, 2 or 3.
 * @cluster_size: out: bytes.
 * @refcount_bits: out: width of a refcount.
 * @size: out: virtual size in bytes.
 * @incompatible_features: out: the image's feature bits, as in its header.
 * @compatible_features: out: as in the header.
 * @autoclear_features: out: as in the header.
 * @l2_cache_size: out: bytes the L2 table cache may use.
 * @refcount_cache_size: out: bytes the refcount block cache may use.
 * @reads: out: read requests completed.
 * @writes: out: write requests completed.
 * @read_bytes: out: bytes read.
 * @write_bytes: out: bytes written.
 * @flushes: out: flushes, FUA writes included.
 * @errors: out: requests failed.
 * @alloc_clusters: out: clusters allocated (data and metadata).
 * @cow_clusters: out: clusters copied on write (shared with a snapshot).
 * @l2_hits: out: L2 lookups served from the cache.
 * @l2_misses: out: L2 tables read from the image.
 * @refcount_hits: out: refcount block lookups served from the cache.
 * @refcount_misses: out: refcount blocks read from the image.
 * @metadata_writes: out: metadata tables written back.
 * @compression_type: out: what the image's compressed clusters hold, as its
 *	header says: 0 deflate (zlib), 1 zstd.
 * @pad: out: zero.
 * @decompressed: out: compressed clusters decompressed.
 * @decompressed_hits: out: reads of compressed clusters (and copies of one
 *	for a write over it) served from the clusters decompressed before.
 * @discarded_clusters: out: clusters a discard or a write of zeros unmapped
 *	or made read zeros (modules with %QCOW2_FEATURE_DISCARD; else 0).
 * @freed_clusters: out: host clusters whose last reference went (by a
 *	discard, a write of zeros or a copy-on-write): given back, and punched
 *	out of the image file when it can (modules with %QCOW2_FEATURE_DISCARD).
 * @reused_clusters: out: free clusters inside the image file handed out
 *	again (modules with %QCOW2_FEATURE_DISCARD).
 * @image_dev_major: out: major number of the image file's st_dev, as
 *	stat(2) reports it at attach (modules with %QCOW2_FEATURE_IMAGE_ID;
 *	0 with @image_ino 0 when the file system could not say, or from older
 *	modules).
 * @image_dev_minor: out: its minor number.
 * @image_ino: out: the image file's inode number, as stat(2) reports it.
 * @path: out: path of the image file, NUL-terminated (as d_path() has it:
 *	" (deleted)" appended when it was unlinked).
 */
struct qcow2_status {
	__u32 index;
	__u32 flags;
	__u32 state;
	__u32 version;
	__u32 cluster_size;
	__u32 refcount_bits;
	__u64 size;
	__u64 incompatible_features;
	__u64 compatible_features;
	__u64 autoclear_features;
	__u64 l2_cache_size;
	__u64 refcount_cache_size;
	__u64 reads;
	__u64 writes;
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 flushes;
	__u64 errors;
	__u64 alloc_clusters;
	__u64 cow_clusters;
	__u64 l2_hits;
	__u64 l2_misses;
	__u64 refcount_hits;
	__u64 refcount_misses;
	__u64 metadata_writes;
	__u32 compression_type;
	__u32 pad;
	__u64 decompressed;
	__u64 decompressed_hits;
	__u64 discarded_clusters;
	__u64 freed_clusters;
	__u64 reused_clusters;
	__u32 image_dev_major;
	__u32 image_dev_minor;
	__u64 image_ino;
	char path[QCOW2_PATH_MAX];
};

#define QCOW2_IOC_STATUS	_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 4, \
				      struct qcow2_status)

/**
 * struct qcow2_list - argument of %QCOW2_IOC_LIST
 * @count: in: room in @indexes, in entries; out: devices attached (may
 *	exceed the room given: call again with more).
 * @flags: in: no flag is defined yet; must be 0.
 * @indexes: in: pointer to an array of __u32 filled with the device
 *	numbers in increasing order; may be 0 when @count is 0.
 * @reserved: in: must be zero.
 */
struct qcow2_list {
	__u32 count;
	__u32 flags;
	__u64 indexes;
	__u64 reserved[4];
};

#define QCOW2_IOC_LIST		_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 5, \
				      struct qcow2_list)

/**
 * struct qcow2_level - argument of %QCOW2_IOC_LEVEL: one level of a device
 * @index: in: the device number.
 * @level: in: 0 for the image, 1 for its backing file, and so on.
 * @flags: in: no flag is defined yet; must be 0.
 * @format: out: QCOW2_FORMAT_*.
 * @depth: out: levels below the image (0 without a backing file).
 * @version: out: qcow2 version, 2 or 3; 0 for raw.
 * @size: out: virtual size in bytes (of a raw level: its file's size,
 *	rounded up to a multiple of 512).
 *	Reads past the end of a level that is shorter than the device read
 *	zeros.
 * @cluster_size: out: bytes; 0 for raw.
 * @snapshot: out: for level 0 of a device attached with
 *	%QCOW2_ATTACH_SNAPSHOT, 1 + the position of the snapshot shown in the
 *	image's snapshot table; else 0.
 * @state: in: ignored by modules with %QCOW2_FEATURE_LEVEL_STATE (older
 *	ones, where it was reserved, require 0); out: %QCOW2_STATE_DIRECT_IO
 *	and %QCOW2_STATE_CORRUPT (a level found corrupt fails the reads that
 *	reach it), as in struct qcow2_status, for this level, or 0 from
 *	modules without %QCOW2_FEATURE_LEVEL_STATE.
 * @reserved1: in: must be zero; out: zero.
 * @reserved: in: must be zero; out: zero.
 * @path: out: path of the level's file, as in struct qcow2_status.
 *
 * A @level beyond @depth is -ENOENT (and @depth is still filled in).
 */
struct qcow2_level {
	__u32 index;
	__u32 level;
	__u32 flags;
	__u32 format;
	__u32 depth;
	__u32 version;
	__u64 size;
	__u32 cluster_size;
	__u32 snapshot;
	__u32 state;
	__u32 reserved1;
	__u64 reserved[3];
	char path[QCOW2_PATH_MAX];
};

#define QCOW2_IOC_LEVEL		_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 6, \
				      struct qcow2_level)

#endif /* _UAPI_LINUX_QCOW2_H */
