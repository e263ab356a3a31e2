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
#define QCOW2_FEATURES_ALL	QCOW2_FEATURE_CREATE

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

#endif /* _UAPI_LINUX_QCOW2_H */
