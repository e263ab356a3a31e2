// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/qcow2-control: the misc device through which userspace creates,
 * attaches and detaches images.
 *
 * The node is root-only (0600), like /dev/loop-control: who may open it may
 * turn any file it can open into a block device.
 */
#include "qcow2.h"

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/string.h>
#include <linux/uaccess.h>

static long qcow2_ctl_version(struct qcow2_version __user *uarg)
{
	struct qcow2_version v;

	if (copy_from_user(&v, uarg, sizeof(v)))
		return -EFAULT;
	if (v.flags || memchr_inv(v.reserved, 0, sizeof(v.reserved)))
		return -EINVAL;

	v.abi_version = QCOW2_ABI_VERSION;
	v.features = QCOW2_FEATURES_ALL;
	if (copy_to_user(uarg, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static long qcow2_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case QCOW2_IOC_VERSION:
		return qcow2_ctl_version(argp);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations qcow2_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= qcow2_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice qcow2_misc = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= QCOW2_CONTROL_NAME,
	.fops		= &qcow2_ctl_fops,
	.mode		= 0600,
};

int qcow2_ctl_init(void)
{
	int ret = misc_register(&qcow2_misc);

	if (ret)
		pr_err("cannot register /dev/%s: %d\n", QCOW2_CONTROL_NAME, ret);
	return ret;
}

void qcow2_ctl_exit(void)
{
	misc_deregister(&qcow2_misc);
}
