// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl detach: one device or all of them.
 */
#include "qcow2ctl.h"

static int detach_one(int ctl, uint32_t index, uint32_t flags)
{
	struct qcow2_detach d;

	memset(&d, 0, sizeof(d));
	d.index = index;
	d.flags = flags;
	if (!ioctl(ctl, QCOW2_IOC_DETACH, &d))
		return 0;
	fprintf(stderr, "%s: cannot detach /dev/" QCOW2_DEVICE_NAME "%u: %s%s\n",
		progname, index, errno == ENXIO ? "No such device" : strerror(errno),
		errno == EBUSY ? " (mounted or open; --lazy detaches it at the last close)" :
		errno == ENXIO ? " (not attached)" :
		errno == EINVAL || errno == ENOTTY ?
		" (the loaded module does not know this request: is it older than qcow2ctl?)" :
		" (writing back its metadata failed; it stays attached: free space on the\n"
		"image's file system and detach again, or --force to drop what is not written)");
	return -1;
}

static void detach_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s detach [OPTIONS] DEVICE|IMAGE...\n"
		"       %s detach [OPTIONS] --all\n"
		"\n"
		"Write back each device's metadata, sync its image and remove the\n"
		"device. An IMAGE names the device it is attached as. A device in use\n"
		"is refused, unless --lazy: then it goes at its last close. If the\n"
		"write-back fails (a full or failing file system under the image), the\n"
		"device stays attached and the command fails: free space and detach\n"
		"again. --force detaches anyway and drops the metadata it could not\n"
		"write: the image may then lose writes; run 'qemu-img check' on it.\n"
		"\n"
		"Options:\n"
		"  -d, --detach                the DEVICEs that follow (as losetup -d)\n"
		"  -D, -a, --all               every attached device\n"
		"  -l, --lazy                  a device in use goes at its last close\n"
		"  -f, --force                 detach even if the metadata cannot be\n"
		"                              written back\n"
		"  -h, --help                  this text\n",
		progname, progname);
}

/* DEVICE or the image file of one: its index, or -1 (said why). */
static int detach_target(int ctl, const char *arg, uint32_t *index)
{
	struct stat st;
	int holder;

	if (!device_arg(arg, index))
		return 0;
	if (stat(arg, &st)) {
		fprintf(stderr, "%s: %s: %s\n", progname, arg, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "%s: '%s' is neither a qcow2 device (/dev/qcow2N) nor an image file\n",
			progname, arg);
		return -1;
	}
	holder = find_holder(ctl, &st);
	if (holder < 0) {
		fprintf(stderr, "%s: %s is not attached (%s list shows what is)\n",
			progname, arg, progname);
		return -1;
	}
	*index = holder;
	return 0;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "all", no_argument, NULL, 'D' },
		{ "lazy", no_argument, NULL, 'l' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false;
	uint32_t index, *idx, flags = 0;
	int c, ctl, n, i, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "dDalfh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			break;
		case 'D':
		case 'a':
			all = true;
			break;
		case 'l':
			flags |= QCOW2_DETACH_DEFERRED;
			break;
		case 'f':
			flags |= QCOW2_DETACH_FORCE;
			break;
		case 'h':
			detach_usage(stdout);
			return 0;
		default:
			detach_usage(stderr);
			return 2;
		}
	}
	if (all == (argc > optind)) {
		fprintf(stderr, "%s: detach needs DEVICEs or --all, not both (%s detach --help)\n",
			progname, progname);
		return 2;
	}
	if (flags == (QCOW2_DETACH_DEFERRED | QCOW2_DETACH_FORCE)) {
		fprintf(stderr, "%s: --lazy and --force exclude each other\n", progname);
		return 2;
	}
	ctl = open_control();
	if (ctl < 0)
		return 1;
	if (!all) {
		for (i = optind; i < argc; i++)
			if (detach_target(ctl, argv[i], &index) ||
			    detach_one(ctl, index, flags))
				ret = 1;
	} else {
		n = list_devices(ctl, &idx);
		if (n < 0)
			ret = 1;
		for (i = 0; i < n; i++)
			if (detach_one(ctl, idx[i], flags))
				ret = 1;
		if (n >= 0)
			free(idx);
	}
	close(ctl);
	return ret;
}
