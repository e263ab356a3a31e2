// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: the command-line front end of the qcow2 block driver's control
 * device, /dev/qcow2-control.
 *
 * It checks requests with the same format code the kernel uses
 * (driver/qcow2_format.c), so that it can say what to change before it
 * touches any file; the kernel checks everything again.
 */
#include "qcow2ctl.h"

const char *progname = "qcow2ctl";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s COMMAND [OPTIONS] [ARGS]\n"
		"\n"
		"Create qcow2 images and manage them as block devices through\n"
		CONTROL_PATH ".\n"
		"\n"
		"Commands:\n"
		"  create [OPTIONS] IMAGE SIZE   create a qcow2 image (in the kernel);\n"
		"                                \"%s create --help\" lists the options\n"
		"  attach [OPTIONS] IMAGE        attach IMAGE as /dev/qcow2N;\n"
		"                                \"%s attach --help\" lists the options\n"
		"  detach [--lazy|--force] DEVICE|--all\n"
		"                                detach /dev/qcow2N (or every device)\n"
		"  list [--json]                 attached devices and their images\n"
		"  info [--json] DEVICE|IMAGE    state and counters of a device, or the\n"
		"                                header, backing chain and snapshots of\n"
		"                                an image file; \"%s info --help\" lists\n"
		"                                the options\n"
		"  version                       ABI version and features of the loaded module\n"
		"  help                          this text\n"
		"\n"
		"If " CONTROL_PATH " does not exist, %s loads the module with\n"
		"\"modprobe qcow2\" first (the control device has a dynamic minor, so no\n"
		"device node exists before the module is loaded).\n",
		progname, progname, progname, progname, progname);
}

static int cmd_version(int argc, char **argv)
{
	struct qcow2_version v;
	int fd;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "%s: version takes no arguments\n", progname);
		return 2;
	}
	fd = open_control();
	if (fd < 0)
		return 1;
	if (get_version(fd, &v)) {
		close(fd);
		return 1;
	}
	close(fd);
	printf("module ABI version: %u\n", v.abi_version);
	printf("qcow2ctl ABI version: %u\n", QCOW2_ABI_VERSION);
	printf("module features: 0x%llx%s%s%s%s%s%s\n",
	       (unsigned long long)v.features,
	       v.features & QCOW2_FEATURE_CREATE ? " create" : "",
	       v.features & QCOW2_FEATURE_ATTACH ? " attach" : "",
	       v.features & QCOW2_FEATURE_COMPRESSED ? " compressed" : "",
	       v.features & QCOW2_FEATURE_BACKING ? " backing" : "",
	       v.features & QCOW2_FEATURE_LEVEL_STATE ? " level-state" : "",
	       v.features & QCOW2_FEATURE_DISCARD ? " discard" : "");
	if (v.abi_version != QCOW2_ABI_VERSION) {
		fprintf(stderr, "%s: module and qcow2ctl ABI versions differ; rebuild both from one tree\n",
			progname);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version"))
		return cmd_version(argc - 1, argv + 1);
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "attach"))
		return cmd_attach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "detach"))
		return cmd_detach(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return cmd_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);

	fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", progname,
		argv[1], progname);
	return 2;
}
