// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: the command-line front end of the qcow2 block driver's control
 * device, /dev/qcow2-control.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/qcow2.h>

#define CONTROL_PATH "/dev/" QCOW2_CONTROL_NAME

static const char *progname = "qcow2ctl";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s COMMAND [ARGS]\n"
		"\n"
		"Manage qcow2 images as block devices through " CONTROL_PATH ".\n"
		"\n"
		"Commands:\n"
		"  version     print the ABI version and features of the loaded module\n"
		"  help        print this text\n"
		"\n"
		"If " CONTROL_PATH " does not exist, %s loads the module with\n"
		"\"modprobe qcow2\" first (the control device has a dynamic minor, so no\n"
		"device node exists before the module is loaded).\n",
		progname, progname);
}

/* Open the control device, loading the module if it is not there yet. */
static int open_control(void)
{
	int fd, status;
	pid_t pid;

	fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		goto out;

	pid = fork();
	if (pid == 0) {
		execlp("modprobe", "modprobe", "-q", "qcow2", (char *)NULL);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);
	else
		errno = ENOENT;
out:
	if (fd < 0) {
		int err = errno;

		fprintf(stderr, "%s: cannot open %s: %s\n", progname,
			CONTROL_PATH, strerror(err));
		if (err == ENOENT)
			fprintf(stderr, "%s: load the module first (insmod qcow2.ko or modprobe qcow2)\n",
				progname);
		else if (err == EACCES || err == EPERM)
			fprintf(stderr, "%s: %s is for root only\n", progname,
				CONTROL_PATH);
	}
	return fd;
}

static int cmd_version(int argc, char **argv)
{
	struct qcow2_version v = { 0 };
	int fd;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "%s: version takes no arguments\n", progname);
		return 2;
	}
	fd = open_control();
	if (fd < 0)
		return 1;
	if (ioctl(fd, QCOW2_IOC_VERSION, &v)) {
		fprintf(stderr, "%s: QCOW2_IOC_VERSION: %s\n", progname,
			strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	printf("module ABI version: %u\n", v.abi_version);
	printf("qcow2ctl ABI version: %u\n", QCOW2_ABI_VERSION);
	printf("module features: 0x%llx\n", (unsigned long long)v.features);
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

	fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", progname,
		argv[1], progname);
	return 2;
}
