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
		"  create [OPTIONS] IMAGE SIZE   create a qcow2 image (in the kernel)\n"
		"  attach [OPTIONS] IMAGE        attach IMAGE as /dev/qcow2N\n"
		"  detach [OPTIONS] DEVICE|IMAGE...|--all\n"
		"                                detach devices, writing back their\n"
		"                                metadata first\n"
		"  list [OPTIONS] [DEVICE...]    attached devices and their images\n"
		"  info [OPTIONS] DEVICE|IMAGE   state and counters of a device; what\n"
		"                                qemu-img info says of an image file,\n"
		"                                with its backing chain\n"
		"  version                       versions of qcow2ctl and of the loaded\n"
		"                                module, and the module's features\n"
		"  help                          this text\n"
		"\n"
		"\"%s COMMAND --help\" lists a command's options; qcow2ctl(8) has it all.\n"
		"\n"
		"Options:\n"
		"  -h, --help                    this text\n"
		"  -V, --version                 qcow2ctl's version\n"
		"\n"
		"If " CONTROL_PATH " does not exist, %s loads the module with\n"
		"\"modprobe qcow2\" first.\n"
		"\n"
		"Exit status: 0 success, 1 failure, 2 a bad command line.\n",
		progname, progname, progname);
}

/* The loaded module's MODULE_VERSION, or why it is not known. */
static const char *module_version(char *buf, size_t len)
{
	FILE *f = fopen("/sys/module/qcow2/version", "re");
	bool ok = f && fgets(buf, len, f);

	if (f)
		fclose(f);
	if (!ok)
		return "unknown (a module older than 0.16.0)";
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int cmd_version(int argc, char **argv)
{
	struct qcow2_version v;
	char mv[64];
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
	printf("qcow2ctl version: %s\n", QCOW2_VERSION);
	printf("module version: %s\n", module_version(mv, sizeof(mv)));
	printf("module ABI version: %u\n", v.abi_version);
	printf("qcow2ctl ABI version: %u\n", QCOW2_ABI_VERSION);
	printf("module features: 0x%llx%s%s%s%s%s%s%s\n",
	       (unsigned long long)v.features,
	       v.features & QCOW2_FEATURE_CREATE ? " create" : "",
	       v.features & QCOW2_FEATURE_ATTACH ? " attach" : "",
	       v.features & QCOW2_FEATURE_COMPRESSED ? " compressed" : "",
	       v.features & QCOW2_FEATURE_BACKING ? " backing" : "",
	       v.features & QCOW2_FEATURE_LEVEL_STATE ? " level-state" : "",
	       v.features & QCOW2_FEATURE_DISCARD ? " discard" : "",
	       v.features & QCOW2_FEATURE_IMAGE_ID ? " image-id" : "");
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
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("%s %s\n", progname, QCOW2_VERSION);
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
