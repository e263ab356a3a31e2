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
		progname, index, strerror(errno),
		errno == EBUSY ? " (mounted or open; --lazy detaches it at the last close)" :
		errno == ENXIO ? " (no such device)" :
		errno == EINVAL || errno == ENOTTY ?
		" (the loaded module does not know this request: is it older than qcow2ctl?)" :
		" (writing back its metadata failed; it stays attached: free space on the\n"
		"image's file system and detach again, or --force to drop what is not written)");
	return -1;
}

int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "lazy", no_argument, NULL, 'l' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false;
	uint32_t index, *idx, flags = 0;
	int c, ctl, n, i, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "alfh", opts, NULL)) != -1) {
		switch (c) {
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
			printf("Usage: %s detach [--lazy|--force] DEVICE|--all\n\n"
			       "Write back the image's metadata, sync it and remove the device.\n"
			       "A device in use is refused, unless --lazy: then it goes at its\n"
			       "last close. If the write-back fails (a full or failing file\n"
			       "system under the image), the device stays attached and the\n"
			       "command fails: free space and detach again. --force detaches\n"
			       "anyway and drops the metadata it could not write: the image\n"
			       "may then lose writes; run 'qemu-img check' on it.\n", progname);
			return 0;
		default:
			return 2;
		}
	}
	if ((all ? argc != optind : argc - optind != 1) ||
	    flags == (QCOW2_DETACH_DEFERRED | QCOW2_DETACH_FORCE)) {
		fprintf(stderr, "Usage: %s detach [--lazy|--force] DEVICE|--all\n", progname);
		return 2;
	}
	if (!all && parse_device(argv[optind], &index)) {
		fprintf(stderr, "%s: '%s' is not a qcow2 device (/dev/qcow2N)\n",
			progname, argv[optind]);
		return 2;
	}
	ctl = open_control();
	if (ctl < 0)
		return 1;
	if (!all) {
		ret = detach_one(ctl, index, flags) ? 1 : 0;
	} else {
		n = list_devices(ctl, &idx);
		if (n < 0)
			ret = 1;
		for (i = 0; i < n; i++)
			if (detach_one(ctl, idx[i], flags))
				ret = 1;
		if (n > 0)
			free(idx);
	}
	close(ctl);
	return ret;
}
