/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2 block driver: private declarations shared by the driver's files.
 */
#ifndef QCOW2_H
#define QCOW2_H

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/types.h>
#include <linux/qcow2.h>

#include "compat.h"
#include "qcow2_format.h"

/* ctl.c: /dev/qcow2-control */
int qcow2_ctl_init(void);
void qcow2_ctl_exit(void);
int qcow2_ctl_copy_in(void *karg, size_t ksize, unsigned int cmd,
		      const void __user *uarg);
int qcow2_ctl_copy_out(void __user *uarg, unsigned int cmd, const void *karg,
		       size_t ksize);

/* create.c: QCOW2_IOC_CREATE */
long qcow2_ctl_create(unsigned int cmd, void __user *uarg);

#endif /* QCOW2_H */
