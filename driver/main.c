// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2 block driver: qcow2 image files as block devices.
 */
#include "qcow2.h"

static int __init qcow2_init(void)
{
	int ret = qcow2_dev_init();

	if (ret)
		return ret;
	ret = qcow2_ctl_init();
	if (ret)
		qcow2_dev_exit();
	return ret;
}

/* Detaches every device, writing back its metadata first. */
static void __exit qcow2_exit(void)
{
	qcow2_ctl_exit();
	qcow2_dev_exit();
}

module_init(qcow2_init);
module_exit(qcow2_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("qcow2 image files as block devices");
MODULE_AUTHOR("The qcow2 block driver authors");
MODULE_VERSION(QCOW2_VERSION);
