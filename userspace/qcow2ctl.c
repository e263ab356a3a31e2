// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: the command-line front end of the qcow2 block driver's control
 * device, /dev/qcow2-control.
 *
 * It checks requests with the same format code the kernel uses
 * (driver/qcow2_format.c), so that it can say what to change before it
 * touches any file; the kernel checks everything again.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/qcow2.h>

#include "qcow2_format.h"

#define CONTROL_PATH "/dev/" QCOW2_CONTROL_NAME

static const char *progname = "qcow2ctl";

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
		"  version                       ABI version and features of the loaded module\n"
		"  help                          this text\n"
		"\n"
		"If " CONTROL_PATH " does not exist, %s loads the module with\n"
		"\"modprobe qcow2\" first (the control device has a dynamic minor, so no\n"
		"device node exists before the module is loaded).\n",
		progname, progname, progname);
}

static void create_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s create [OPTIONS] IMAGE SIZE\n"
		"\n"
		"Create the qcow2 image IMAGE of virtual size SIZE. The kernel writes it\n"
		"through its own file I/O: header, refcount table and blocks, L1 table\n"
		"and, with preallocation, every L2 table, then the data clusters\n"
		"contiguous in guest order.\n"
		"\n"
		"SIZE and --cluster-size take qemu-img's suffixes: b, k, M, G, T, P, E\n"
		"(powers of 1024, any case; \"1.5G\" works). SIZE must be a multiple of 512.\n"
		"\n"
		"Options:\n"
		"  --prealloc=MODE        off (default): metadata for an empty image;\n"
		"                         metadata: also every L2 table, so first writes\n"
		"                           need no metadata update; the data area stays a\n"
		"                           hole (the file is sparse);\n"
		"                         falloc: also allocate the data area (fallocate);\n"
		"                         full: also write zeros over the data area\n"
		"  --cluster-size=SIZE    power of two from 512 to 2M (default 64k)\n"
		"  --compat=0.10|1.1      image version 2 or 3 (default 1.1)\n"
		"  --refcount-bits=N      refcount width: 1, 2, 4, ..., 64 (default 16;\n"
		"                         compat 0.10 allows only 16)\n"
		"  --lazy-refcounts       set the lazy refcounts feature (compat 1.1)\n"
		"  --extended-l2          subclusters: 16-byte L2 entries (compat 1.1,\n"
		"                         cluster size at least 16k)\n"
		"  --backing=FILE         backing file name, stored as given; preallocation\n"
		"                         with a backing file needs --extended-l2\n"
		"  --backing-format=FMT   format of the backing file (e.g. qcow2, raw)\n"
		"  --force                overwrite IMAGE if it exists (default: refuse)\n"
		"  -h, --help             this text\n"
		"\n"
		"If the creation fails or is interrupted, the file is removed.\n",
		progname);
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

static int get_version(int fd, struct qcow2_version *v)
{
	memset(v, 0, sizeof(*v));
	if (ioctl(fd, QCOW2_IOC_VERSION, v)) {
		fprintf(stderr, "%s: QCOW2_IOC_VERSION: %s\n", progname,
			strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Parse a size the way qemu-img does: a decimal number with an optional
 * fraction, or a 0x hexadecimal integer, then an optional suffix b, k, M,
 * G, T, P or E (any case, powers of 1024). Returns 0 or -1.
 */
static int parse_size(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t ip = 0, mul = 1;
	double frac = 0, scale = 0.1;
	const char *suffixes = "bkmgtpe";
	const char *sfx;
	bool digits = false;

	while (*p == ' ')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		char *end;

		errno = 0;
		ip = strtoull(p + 2, &end, 16);
		if (errno || end == p + 2)
			return -1;
		p = end;
		digits = true;
	} else {
		for (; *p >= '0' && *p <= '9'; p++, digits = true) {
			if (ip > (UINT64_MAX - 9) / 10)
				return -1;
			ip = ip * 10 + (*p - '0');
		}
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
			if (!p[0])	/* a fraction needs a suffix */
				return -1;
		}
	}
	if (!digits)
		return -1;
	if (*p) {
		char c = *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p;

		sfx = strchr(suffixes, c);
		if (!sfx || p[1])
			return -1;
		mul = 1ULL << (10 * (sfx - suffixes));
	}
	if (ip > (uint64_t)INT64_MAX / mul)
		return -1;
	ip = ip * mul + (uint64_t)(frac * mul);
	if (ip > (uint64_t)INT64_MAX)
		return -1;
	*out = ip;
	return 0;
}

static void human(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	int u = 0;
	double d = v;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.4g %ciB", d, units[u]);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static const char *const prealloc_names[] = {
	[QCOW2_CREATE_PREALLOC_OFF] = "off",
	[QCOW2_CREATE_PREALLOC_METADATA] = "metadata",
	[QCOW2_CREATE_PREALLOC_FALLOC] = "falloc",
	[QCOW2_CREATE_PREALLOC_FULL] = "full",
};

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prealloc", required_argument, NULL, 'p' },
		{ "cluster-size", required_argument, NULL, 'c' },
		{ "compat", required_argument, NULL, 'C' },
		{ "refcount-bits", required_argument, NULL, 'r' },
		{ "lazy-refcounts", no_argument, NULL, 'L' },
		{ "extended-l2", no_argument, NULL, 'X' },
		{ "backing", required_argument, NULL, 'b' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct qcow2_create arg = { .version = 3 };
	struct qcow2_create_params p = { 0 };
	struct qcow2_layout l;
	struct qcow2_version v;
	struct qcow2_err err;
	const char *image, *backing = NULL, *backing_fmt = NULL;
	uint64_t cluster_size = 65536, refcount_bits = 16, size;
	bool force = false;
	struct sigaction sa = { .sa_handler = on_signal };
	char hsize[32], hlen[32], halloc[32];
	struct stat st;
	int opt, ctl, fd, ret, i, e;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			for (i = 0; i < 4 && strcmp(optarg, prealloc_names[i]); i++)
				;
			if (i == 4) {
				fprintf(stderr, "%s: --prealloc=%s: use off, metadata, falloc or full\n",
					progname, optarg);
				return 2;
			}
			arg.prealloc = i;
			break;
		case 'c':
			if (parse_size(optarg, &cluster_size) ||
			    qcow2_cluster_bits(cluster_size) < 0) {
				fprintf(stderr, "%s: --cluster-size=%s: use a power of two from 512 to 2M\n",
					progname, optarg);
				return 2;
			}
			break;
		case 'C':
			if (!strcmp(optarg, "0.10")) {
				arg.version = 2;
			} else if (!strcmp(optarg, "1.1")) {
				arg.version = 3;
			} else {
				fprintf(stderr, "%s: --compat=%s: use 0.10 or 1.1\n",
					progname, optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_size(optarg, &refcount_bits) ||
			    qcow2_refcount_order(refcount_bits) < 0) {
				fprintf(stderr, "%s: --refcount-bits=%s: use 1, 2, 4, 8, 16, 32 or 64\n",
					progname, optarg);
				return 2;
			}
			break;
		case 'L':
			arg.flags |= QCOW2_CREATE_LAZY_REFCOUNTS;
			break;
		case 'X':
			arg.flags |= QCOW2_CREATE_EXTENDED_L2;
			break;
		case 'b':
			backing = optarg;
			break;
		case 'F':
			backing_fmt = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			create_usage(stdout);
			return 0;
		default:
			create_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		create_usage(stderr);
		return 2;
	}
	image = argv[optind];
	if (parse_size(argv[optind + 1], &size)) {
		fprintf(stderr, "%s: invalid size '%s': use a number with an optional suffix b, k, M, G, T, P or E\n",
			progname, argv[optind + 1]);
		return 2;
	}
	arg.size = size;
	arg.cluster_size = cluster_size;
	arg.refcount_bits = refcount_bits;
	arg.backing_file = (uintptr_t)backing;
	arg.backing_format = (uintptr_t)backing_fmt;

	/* The kernel's own checks, here, so nothing is created in vain. */
	p.size = arg.size;
	p.cluster_bits = qcow2_cluster_bits(cluster_size);
	p.version = arg.version;
	p.refcount_order = qcow2_refcount_order(refcount_bits);
	p.lazy_refcounts = arg.flags & QCOW2_CREATE_LAZY_REFCOUNTS;
	p.extended_l2 = arg.flags & QCOW2_CREATE_EXTENDED_L2;
	p.prealloc = arg.prealloc;	/* same values, see qcow2_format.h */
	p.backing_len = backing ? strlen(backing) : 0;
	p.backing_fmt_len = backing_fmt ? strlen(backing_fmt) : 0;
	if ((backing && !*backing) || (backing_fmt && !*backing_fmt)) {
		fprintf(stderr, "%s: --backing and --backing-format need a name\n",
			progname);
		return 1;
	}
	if (qcow2_layout_compute(&p, &l, &err)) {
		fprintf(stderr, "%s: %s\n", progname, err.msg);
		return 1;
	}

	ctl = open_control();
	if (ctl < 0)
		return 1;
	if (get_version(ctl, &v))
		return 1;
	if (!(v.features & QCOW2_FEATURE_CREATE)) {
		fprintf(stderr, "%s: the loaded module cannot create images; load a newer qcow2.ko\n",
			progname);
		return 1;
	}

	fd = open(image, O_WRONLY | O_CREAT | O_CLOEXEC |
		  (force ? O_TRUNC : O_EXCL), 0644);
	if (fd < 0) {
		e = errno;
		fprintf(stderr, "%s: cannot create %s: %s%s\n", progname, image,
			strerror(e), e == EEXIST ? " (use --force to overwrite it)" : "");
		return 1;
	}
	arg.fd = fd;

	/* Interrupted, the ioctl returns EINTR and the file is removed. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	ret = ioctl(ctl, QCOW2_IOC_CREATE, &arg);
	e = errno;
	if (!ret && fstat(fd, &st))
		ret = -1, e = errno;
	close(fd);
	close(ctl);
	if (ret) {
		unlink(image);	/* ours: created, or emptied by --force */
		if (e == EINTR || interrupted) {
			fprintf(stderr, "%s: interrupted; %s removed\n", progname, image);
			return 128 + (interrupted ? interrupted : SIGINT);
		}
		fprintf(stderr, "%s: cannot create %s: %s", progname, image, strerror(e));
		if (e == ENOSPC)
			fprintf(stderr, " (the image needs %" PRIu64 " bytes)", (uint64_t)l.file_length);
		else if (e == EINVAL || e == EOPNOTSUPP || e == EFBIG)
			fprintf(stderr, " (the kernel log says why: dmesg | grep qcow2)");
		fprintf(stderr, "\n");
		return 1;
	}

	human(arg.size, hsize, sizeof(hsize));
	human(arg.file_length, hlen, sizeof(hlen));
	human((uint64_t)st.st_blocks * 512, halloc, sizeof(halloc));
	printf("Created %s: qcow2 version %u (compat %s), size %" PRIu64 " (%s), "
	       "cluster size %" PRIu64 ", refcount bits %" PRIu64 "%s%s, "
	       "prealloc %s, file length %" PRIu64 " (%s, %s on disk)\n",
	       image, arg.version, arg.version == 2 ? "0.10" : "1.1",
	       (uint64_t)arg.size, hsize, cluster_size, refcount_bits,
	       arg.flags & QCOW2_CREATE_LAZY_REFCOUNTS ? ", lazy refcounts" : "",
	       arg.flags & QCOW2_CREATE_EXTENDED_L2 ? ", extended L2" : "",
	       prealloc_names[arg.prealloc], (uint64_t)arg.file_length, hlen, halloc);
	if (backing)
		printf("Backing file: %s%s%s\n", backing, backing_fmt ? ", format " : "",
		       backing_fmt ? backing_fmt : "");
	return 0;
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
	printf("module features: 0x%llx%s\n", (unsigned long long)v.features,
	       v.features & QCOW2_FEATURE_CREATE ? " (create)" : "");
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

	fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", progname,
		argv[1], progname);
	return 2;
}
