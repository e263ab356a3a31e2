/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels the driver supports (Debian's 6.1 and
 * 6.12), each with the version that introduced it, so that the rest of the
 * driver is written against one API.
 */
#ifndef QCOW2_COMPAT_H
#define QCOW2_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "qcow2 needs Linux 6.1 or later"
#endif

#endif /* QCOW2_COMPAT_H */
