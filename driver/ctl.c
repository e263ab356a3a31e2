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

/*
 * Copy in the argument of command @cmd into @karg (@ksize bytes, the
 * module's version of the struct). The size encoded in @cmd is the
 * caller's version: shorter ones get the missing fields zeroed, longer
 * ones must be zero past what the module knows (see uapi/linux/qcow2.h).
 */
int qcow2_ctl_copy_in(void *karg, size_t ksize, unsigned int cmd,
		      const void __user *uarg)
{
	int ret = copy_struct_from_user(karg, ksize, uarg, _IOC_SIZE(cmd));

	return ret == -E2BIG ? -EINVAL : ret;
}

/* Copy out what the caller's version of the struct has room for. */
int qcow2_ctl_copy_out(void __user *uarg, unsigned int cmd, const void *karg,
		       size_t ksize)
{
	return copy_to_user(uarg, karg, min_t(size_t, ksize, _IOC_SIZE(cmd))) ?
	       -EFAULT : 0;
}

static long qcow2_ctl_version(unsigned int cmd, void __user *uarg)
{
	struct qcow2_version v;
	int ret;

	ret = qcow2_ctl_copy_in(&v, sizeof(v), cmd, uarg);
	if (ret)
		return ret;
	if (v.flags || memchr_inv(v.reserved, 0, sizeof(v.reserved)))
		return -EINVAL;

	v.abi_version = QCOW2_ABI_VERSION;
	v.features = QCOW2_FEATURES_ALL;
	return qcow2_ctl_copy_out(uarg, cmd, &v, sizeof(v));
}

/* The first, smallest size of each command's struct. */
static const size_t qcow2_ctl_min_size[] = {
	[_IOC_NR(QCOW2_IOC_VERSION)] = sizeof(struct qcow2_version),
	[_IOC_NR(QCOW2_IOC_CREATE)] = sizeof(struct qcow2_create),
	[_IOC_NR(QCOW2_IOC_ATTACH)] = sizeof(struct qcow2_attach),
	[_IOC_NR(QCOW2_IOC_DETACH)] = sizeof(struct qcow2_detach),
	[_IOC_NR(QCOW2_IOC_STATUS)] = sizeof(struct qcow2_status),
	[_IOC_NR(QCOW2_IOC_LIST)] = sizeof(struct qcow2_list),
	[_IOC_NR(QCOW2_IOC_LEVEL)] = sizeof(struct qcow2_level),
};

static long qcow2_ctl_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	unsigned int nr = _IOC_NR(cmd);

	if (_IOC_TYPE(cmd) != QCOW2_IOC_TYPE ||
	    _IOC_DIR(cmd) != (_IOC_READ | _IOC_WRITE) ||
	    nr >= ARRAY_SIZE(qcow2_ctl_min_size) ||
	    !qcow2_ctl_min_size[nr] ||
	    _IOC_SIZE(cmd) < qcow2_ctl_min_size[nr])
		return -ENOTTY;

	switch (nr) {
	case _IOC_NR(QCOW2_IOC_VERSION):
		return qcow2_ctl_version(cmd, argp);
	case _IOC_NR(QCOW2_IOC_CREATE):
		return qcow2_ctl_create(cmd, argp);
	case _IOC_NR(QCOW2_IOC_ATTACH):
		return qcow2_ctl_attach(cmd, argp);
	case _IOC_NR(QCOW2_IOC_DETACH):
		return qcow2_ctl_detach(cmd, argp);
	case _IOC_NR(QCOW2_IOC_STATUS):
		return qcow2_ctl_status(cmd, argp);
	case _IOC_NR(QCOW2_IOC_LIST):
		return qcow2_ctl_list(cmd, argp);
	case _IOC_NR(QCOW2_IOC_LEVEL):
		return qcow2_ctl_level(cmd, argp);
	}
	return -ENOTTY;
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
