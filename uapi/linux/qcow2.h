/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * qcow2 block driver: control interface on /dev/qcow2-control.
 *
 * Every command is an _IOWR/_IOR/_IOW ioctl whose argument size is encoded
 * in the command number, so a caller built against a different layout gets
 * -ENOTTY instead of a misread struct. Every struct has a flags word and
 * reserved space: unknown flags and non-zero reserved fields are refused
 * with -EINVAL, so that later ABI versions can give them a meaning.
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
#define QCOW2_FEATURES_ALL	0ULL

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

#endif /* _UAPI_LINUX_QCOW2_H */
