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
#include <time.h>
#include <unistd.h>

#include <linux/qcow2.h>

#include "chain.h"
#include "image.h"
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

/* --backing-format=FMT into @o; says why it is refused. */
static int parse_format_opt(const char *arg, struct chain_opts *o)
{
	o->format = chain_format(arg);
	if (o->format)
		return 0;
	fprintf(stderr, "%s: --backing-format=%s: use qcow2 or raw (the formats the module reads)\n",
		progname, arg);
	return -1;
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

static void attach_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s attach [OPTIONS] IMAGE\n"
		"\n"
		"Attach the qcow2 image IMAGE as the block device /dev/qcow2N. The\n"
		"image is opened here, read-write unless --read-only, so the file's\n"
		"permissions decide who may write it.\n"
		"\n"
		"If IMAGE has a backing file, %s resolves the chain as QEMU does (a\n"
		"relative name is relative to the directory of the image naming it)\n"
		"and opens every backing file itself, read-only, with your rights;\n"
		"the module never opens a file an image names. Each backing file's\n"
		"format comes from the image above it (qemu-img create -F), or from\n"
		"--backing-format; it is never guessed. \"%s info IMAGE\" shows the\n"
		"chain an attach would use.\n"
		"\n"
		"Options:\n"
		"  -r, --read-only             attach read-only\n"
		"  -P, --partscan              scan the image's partition table\n"
		"      --show                  print the device name\n"
		"      --index=N               attach as /dev/qcow2N (default: first free)\n"
		"      --l2-cache-size=SIZE    L2 table cache of the image and of each\n"
		"                              qcow2 backing file (default 4M: maps 32G\n"
		"                              of 64k clusters)\n"
		"      --refcount-cache-size=SIZE\n"
		"                              refcount block cache (default: L2 cache / 4)\n"
		"      --backing-format=FMT    qcow2 or raw: the format of every backing\n"
		"                              file whose image names none (an image that\n"
		"                              names another one is an error)\n"
		"      --backing-chain=FILE[,FILE...]\n"
		"                              use these files as the first backing files,\n"
		"                              in order, instead of the names the images\n"
		"                              store (images that moved); deeper levels\n"
		"                              resolve by name; may be repeated\n"
		"      --snapshot=ID|NAME      show the internal snapshot with this id\n"
		"                              (or else name) instead of the current\n"
		"                              state; implies --read-only\n"
		"  -h, --help                  this text\n",
		progname, progname, progname);
}

/* errno of a refused attach, in words; the kernel log has the details. */
static const char *attach_hint(int err, const struct qcow2_attach *a)
{
	bool chain = a->backing_count;

	switch (err) {
	case EUCLEAN:
		return "the image needs repair or a read-only attach";
	case EOPNOTSUPP:
		return chain ? "the image or a backing file uses a feature the driver does not support" :
			       "the image uses a feature the driver does not support";
	case EINVAL:
		return chain ? "the image or a backing file is not valid qcow2 (or a bad request)" :
			       "the image is not valid qcow2 (or a bad request)";
	case EBUSY:
		return chain ? "the image is attached already, or it or a backing file is in use (by QEMU, or a device attached read-write)" :
			       "the image is attached already, or in use by QEMU";
	case EEXIST:
		return "that device number is taken";
	case EBADF:
		return "a file is not open for the access asked";
	case ENOENT:
		return a->flags & QCOW2_ATTACH_SNAPSHOT ?
		       "the image has no snapshot with that id or name (qcow2ctl info IMAGE lists them)" :
		       NULL;
	case ELOOP:
		return "the backing chain loops (a file appears twice in it)";
	case E2BIG:
		return "the backing chain is deeper than the module allows";
	default:
		return NULL;
	}
}

/**
 * struct attach_req - an attach as the command line asks for it
 * @a: the ioctl's argument, filled in step by step
 * @o: --backing-format and --backing-chain
 * @chain: the backing chain, resolved
 * @backing: @chain as the ioctl wants it
 * @image: the image's path
 * @st: its status
 * @b: what it says of its backing file, if @decoded
 * @decoded: its header decoded and checked
 * @show: print the device name
 */
struct attach_req {
	struct qcow2_attach a;
	struct chain_opts o;
	struct chain chain;
	struct qcow2_backing backing[QCOW2_MAX_BACKING_DEPTH];
	const char *image;
	struct stat st;
	struct qcow2_backing_name b;
	bool decoded;
	bool show;
};

/* Returns 0, -1 after --help, or the exit status for a bad command line. */
static int attach_parse(int argc, char **argv, struct attach_req *r)
{
	static const struct option opts[] = {
		{ "read-only", no_argument, NULL, 'r' },
		{ "partscan", no_argument, NULL, 'P' },
		{ "show", no_argument, NULL, 's' },
		{ "index", required_argument, NULL, 'i' },
		{ "l2-cache-size", required_argument, NULL, 'l' },
		{ "refcount-cache-size", required_argument, NULL, 'c' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "backing-chain", required_argument, NULL, 'B' },
		{ "snapshot", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct qcow2_attach *a = &r->a;
	uint64_t v;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "rPh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			a->flags |= QCOW2_ATTACH_READ_ONLY;
			break;
		case 'P':
			a->flags |= QCOW2_ATTACH_PARTSCAN;
			break;
		case 's':
			r->show = true;
			break;
		case 'i':
			errno = 0;
			a->index = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg ||
			    a->index >= QCOW2_MAX_DEVICES) {
				fprintf(stderr, "%s: bad --index '%s'\n",
					progname, optarg);
				return 2;
			}
			a->flags |= QCOW2_ATTACH_INDEX;
			break;
		case 'l':
		case 'c':
			if (parse_size(optarg, &v)) {
				fprintf(stderr, "%s: bad cache size '%s'\n",
					progname, optarg);
				return 2;
			}
			if (c == 'l')
				a->l2_cache_size = v;
			else
				a->refcount_cache_size = v;
			break;
		case 'F':
			if (parse_format_opt(optarg, &r->o))
				return 2;
			break;
		case 'B':
			if (chain_add_files(&r->o, optarg))
				return 2;
			break;
		case 'S':
			if (!*optarg || strlen(optarg) > QCOW2_MAX_SNAPSHOT_NAME) {
				fprintf(stderr, "%s: --snapshot needs an id or a name of at most %u bytes\n",
					progname, QCOW2_MAX_SNAPSHOT_NAME);
				return 2;
			}
			/* A snapshot is history: the module refuses writes to it. */
			a->flags |= QCOW2_ATTACH_READ_ONLY | QCOW2_ATTACH_SNAPSHOT;
			a->snapshot = (uintptr_t)optarg;
			break;
		case 'h':
			attach_usage(stdout);
			return -1;
		default:
			attach_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		attach_usage(stderr);
		return 2;
	}
	r->image = argv[optind];
	return 0;
}

/*
 * Open the image and read what it says of its backing file. An image
 * whose header does not decode goes to the module as it is, chainless:
 * the module refuses it and its log says why, as it always has.
 */
static int attach_open(struct attach_req *r)
{
	struct qcow2_header h;
	struct qcow2_err err;
	bool ro = r->a.flags & QCOW2_ATTACH_READ_ONLY;

	r->a.fd = open(r->image, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (r->a.fd < 0 || fstat(r->a.fd, &r->st)) {
		fprintf(stderr, "%s: cannot open %s: %s\n", progname, r->image,
			strerror(errno));
		return -1;
	}
	r->decoded = !image_read_header(r->a.fd, r->st.st_size, &h, &r->b, &err);
	return 0;
}

/*
 * Check the module knows what the request needs, so that an old module is
 * told apart from a bad image: its -EINVAL would say "not valid qcow2".
 */
static int attach_check_module(int ctl, const struct attach_req *r)
{
	bool backing = r->decoded && *r->b.name;
	struct qcow2_version v;

	if (!backing && !(r->a.flags & QCOW2_ATTACH_SNAPSHOT))
		return 0;
	if (get_version(ctl, &v))
		return -1;
	if (v.features & QCOW2_FEATURE_BACKING)
		return 0;
	fprintf(stderr, "%s: cannot attach %s: the loaded module is too old for %s; load a newer qcow2.ko\n",
		progname, r->image, backing ? "backing files" : "snapshots");
	return -1;
}

/* Open the backing chain and hand it to the ioctl's argument. */
static int attach_chain(struct attach_req *r)
{
	if (!r->decoded)
		return 0;
	if (chain_resolve(&r->chain, r->image, &r->st, &r->b, &r->o)) {
		fprintf(stderr, "%s: cannot attach %s: %s\n", progname, r->image,
			r->chain.error);
		return -1;
	}
	chain_to_attach(&r->chain, r->backing);
	r->a.backing_count = r->chain.count;
	if (r->chain.count)
		r->a.backing = (uintptr_t)r->backing;
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	struct attach_req *r;
	const char *hint;
	int ctl = -1, err, ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return 1;
	r->a.fd = -1;
	ret = attach_parse(argc, argv, r);
	if (ret) {
		ret = ret < 0 ? 0 : ret;	/* < 0: --help */
		goto out;
	}
	ret = 1;
	if (attach_open(r))
		goto out;
	ctl = open_control();
	if (ctl < 0 || attach_check_module(ctl, r) || attach_chain(r))
		goto out;
	if (ioctl(ctl, QCOW2_IOC_ATTACH, &r->a)) {
		err = errno;
		hint = attach_hint(err, &r->a);
		fprintf(stderr, "%s: cannot attach %s: %s%s%s (the kernel log says why: dmesg)\n",
			progname, r->image, strerror(err),
			hint ? ": " : "", hint ? hint : "");
		goto out;
	}
	ret = 0;
	if (r->show)
		printf("/dev/" QCOW2_DEVICE_NAME "%u\n", r->a.index);
out:
	/* The module holds its own references to every file. */
	if (ctl >= 0)
		close(ctl);
	if (r->a.fd >= 0)
		close(r->a.fd);
	chain_free(&r->chain);
	free(r);
	return ret;
}

/* "/dev/qcow2N", "qcow2N" or "N" to N. */
static int parse_device(const char *s, uint32_t *index)
{
	unsigned long v;
	char *end;

	if (!strncmp(s, "/dev/", 5))
		s += 5;
	if (!strncmp(s, QCOW2_DEVICE_NAME, strlen(QCOW2_DEVICE_NAME)))
		s += strlen(QCOW2_DEVICE_NAME);
	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= QCOW2_MAX_DEVICES)
		return -1;
	*index = v;
	return 0;
}

/* Indexes of the attached devices; returns the count or -1. */
static int list_devices(int ctl, uint32_t **out)
{
	uint32_t *idx = NULL, room = 0;
	struct qcow2_list l;

	for (;;) {
		memset(&l, 0, sizeof(l));
		l.count = room;
		l.indexes = (uintptr_t)idx;
		if (ioctl(ctl, QCOW2_IOC_LIST, &l)) {
			fprintf(stderr, "%s: QCOW2_IOC_LIST: %s\n", progname,
				strerror(errno));
			free(idx);
			return -1;
		}
		if (l.count <= room)
			break;
		/* More devices than room (some may attach meanwhile). */
		free(idx);
		room = l.count + 8;
		idx = calloc(room, sizeof(*idx));
		if (!idx)
			return -1;
	}
	*out = idx;
	return l.count;
}

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

static int cmd_detach(int argc, char **argv)
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

static int get_status(int ctl, uint32_t index, struct qcow2_status *s)
{
	memset(s, 0, sizeof(*s));
	s->index = index;
	return ioctl(ctl, QCOW2_IOC_STATUS, s);
}

/* A JSON string literal of @s. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int cmd_list(int argc, char **argv)
{
	struct qcow2_status *s;
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	uint32_t *idx;
	int ctl, n, i, shown = 0;
	char size[32];

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "Usage: %s list [--json]\n", progname);
		return 2;
	}
	ctl = open_control();
	if (ctl < 0)
		return 1;
	n = list_devices(ctl, &idx);
	if (n < 0) {
		close(ctl);
		return 1;
	}
	s = malloc(sizeof(*s));
	if (!s) {
		close(ctl);
		free(idx);
		return 1;
	}
	if (json)
		printf("[");
	else if (n)
		printf("%-14s %10s %-3s %s\n", "DEVICE", "SIZE", "RO", "IMAGE");
	for (i = 0; i < n; i++) {
		/* Detached meanwhile: not listed. */
		if (get_status(ctl, idx[i], s))
			continue;
		if (json) {
			printf("%s\n  {\"device\": \"/dev/" QCOW2_DEVICE_NAME "%u\", \"image\": ",
			       shown ? "," : "", idx[i]);
			json_str(s->path);
			printf(", \"size\": %llu, \"read_only\": %s, \"cluster_size\": %u, \"version\": %u}",
			       (unsigned long long)s->size,
			       s->state & QCOW2_STATE_READ_ONLY ? "true" : "false",
			       s->cluster_size, s->version);
		} else {
			human(s->size, size, sizeof(size));
			printf("/dev/" QCOW2_DEVICE_NAME "%-4u %10s %-3s %s\n",
			       idx[i], size,
			       s->state & QCOW2_STATE_READ_ONLY ? "1" : "0",
			       s->path);
		}
		shown++;
	}
	if (json)
		printf("%s]\n", shown ? "\n" : "");
	free(s);
	free(idx);
	close(ctl);
	return 0;
}

static const char *const incompat_names[] = {
	"dirty", "corrupt", "external-data-file", "compression-type",
	"extended-l2",
};

/* Feature bit names, comma-separated, into @buf. */
static void feature_names(uint64_t bits, const char *const *names, int n,
			  char *buf, size_t len)
{
	size_t at = 0;
	int i;

	buf[0] = 0;
	for (i = 0; i < 64 && at < len; i++) {
		if (!(bits & (1ULL << i)))
			continue;
		if (i < n)
			at += snprintf(buf + at, len - at, "%s%s", at ? "," : "",
				       names[i]);
		else
			at += snprintf(buf + at, len - at, "%sbit%d", at ? "," : "", i);
	}
}

static const char *const compat_names[] = { "lazy-refcounts" };

/* As qemu-img info names them. */
static const char *compression_name(unsigned int type)
{
	return type == 0 ? "zlib" : type == 1 ? "zstd" : "unknown";
}
static const char *const autoclear_names[] = { "bitmaps", "data-file-raw" };

/* A snapshot's date as qemu-img info shows it: local time. */
static void snapshot_date(uint32_t sec, char *buf, size_t len)
{
	time_t t = sec;
	struct tm tm;

	if (!localtime_r(&t, &tm) ||
	    !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%u", sec);
}

/* The extra data holds the disk size from QEMU 4.2 on. */
static bool snapshot_has_disk_size(const struct image_snapshot *sn)
{
	return sn->s.extra >= 16;
}

/*
 * qemu-img info's "Snapshot list", with the disk size where qemu-img shows
 * the VM clock and instruction count (struct qcow2_snapshot has neither).
 */
static void print_snapshots(const struct image_snapshot *sn, uint32_t n)
{
	char vm[32], date[32], disk[32];
	uint32_t i;

	if (!n)
		return;
	printf("Snapshot list:\n");
	printf("%-9s %-17s %7s %19s %12s\n", "ID", "TAG", "VM SIZE", "DATE",
	       "DISK SIZE");
	for (i = 0; i < n; i++) {
		human(sn[i].s.vm_state_size, vm, sizeof(vm));
		snapshot_date(sn[i].s.date_sec, date, sizeof(date));
		if (snapshot_has_disk_size(&sn[i]))
			snprintf(disk, sizeof(disk), "%llu",
				 (unsigned long long)sn[i].s.disk_size);
		else
			snprintf(disk, sizeof(disk), "-");
		printf("%-9s %-17s %7s %19s %12s\n", sn[i].id, sn[i].name, vm,
		       date, disk);
	}
}

/* qemu-img info --output=json's snapshot object, without the VM clock. */
static void json_snapshot(const struct image_snapshot *sn)
{
	printf("{\"id\": ");
	json_str(sn->id);
	printf(", \"name\": ");
	json_str(sn->name);
	printf(", \"vm-state-size\": %llu, \"date-sec\": %u",
	       (unsigned long long)sn->s.vm_state_size, sn->s.date_sec);
	if (snapshot_has_disk_size(sn))
		printf(", \"disk-size\": %llu",
		       (unsigned long long)sn->s.disk_size);
	printf("}");
}

/**
 * struct image_info - what "info IMAGE" shows
 * @path: the image file
 * @st: its status
 * @h: its header
 * @b: what it says of its backing file
 * @chain: its backing chain, as attach would open it
 * @snaps: its snapshot table, @h.nb_snapshots entries, if @snaps_read
 * @snaps_read: the snapshot table was read whole
 * @snap_err: why it was not
 */
struct image_info {
	const char *path;
	struct stat st;
	struct qcow2_header h;
	struct qcow2_backing_name b;
	struct chain chain;
	struct image_snapshot *snaps;
	bool snaps_read;
	struct qcow2_err snap_err;
};

static void print_image_text(const struct image_info *i)
{
	const struct qcow2_header *h = &i->h;
	char incompat[256], compat[256], autoclear[256];

	feature_names(h->incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(h->compatible_features, compat_names, 1, compat, sizeof(compat));
	feature_names(h->autoclear_features, autoclear_names, 2, autoclear,
		      sizeof(autoclear));
	printf("image: %s\n", i->path);
	printf("version: %u\n", h->version);
	printf("virtual size: %llu\n", (unsigned long long)h->size);
	printf("cluster size: %u\n", 1U << h->cluster_bits);
	printf("refcount bits: %u\n", 1U << h->refcount_order);
	/* Version 2 has no such field, and qemu-img shows none. */
	if (h->version >= 3)
		printf("compression type: %s\n", compression_name(h->compression_type));
	printf("l1 size: %u\n", h->l1_size);
	printf("snapshots: %u\n", h->nb_snapshots);
	printf("file length: %llu\n", (unsigned long long)i->st.st_size);
	printf("incompatible features: %s\n", *incompat ? incompat : "none");
	printf("compatible features: %s\n", *compat ? compat : "none");
	printf("autoclear features: %s\n", *autoclear ? autoclear : "none");
	if (*i->b.name)
		printf("backing file: %s\n", i->b.name);
	if (*i->b.format)
		printf("backing file format: %s\n", i->b.format);
	chain_print(&i->chain, stdout);
	if (i->snaps_read)
		print_snapshots(i->snaps, h->nb_snapshots);
	else
		printf("snapshot list: cannot read: %s\n", i->snap_err.msg);
}

/* The resolved chain as an array of {filename, format}. */
static void json_chain(const struct chain *c)
{
	unsigned int n;

	printf(", \"backing_chain\": [");
	for (n = 0; n < c->count; n++) {
		printf("%s{\"filename\": ", n ? ", " : "");
		json_str(c->level[n].path);
		printf(", \"format\": \"%s\"}",
		       chain_format_name(c->level[n].format));
	}
	printf("]");
	if (c->error) {
		printf(", \"backing_chain_error\": ");
		json_str(c->error);
	}
}

/* qemu-img's keys for the backing file, where qemu-img has them. */
static void json_backing(const struct image_info *i)
{
	printf(", \"backing_file\": ");
	json_str(i->b.name);
	if (!*i->b.name)
		return;
	printf(", \"backing-filename\": ");
	json_str(i->b.name);
	if (*i->b.format) {
		printf(", \"backing-filename-format\": ");
		json_str(i->b.format);
	}
	if (i->chain.full_name) {
		printf(", \"full-backing-filename\": ");
		json_str(i->chain.full_name);
	}
}

static void print_image_json(const struct image_info *i)
{
	const struct qcow2_header *h = &i->h;
	char incompat[256], compat[256], autoclear[256];
	uint32_t n;

	feature_names(h->incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(h->compatible_features, compat_names, 1, compat, sizeof(compat));
	feature_names(h->autoclear_features, autoclear_names, 2, autoclear,
		      sizeof(autoclear));
	printf("{\"image\": ");
	json_str(i->path);
	printf(", \"version\": %u, \"size\": %llu, \"cluster_size\": %u, \"refcount_bits\": %u, \"l1_size\": %u, \"snapshot_count\": %u, \"file_length\": %llu",
	       h->version, (unsigned long long)h->size, 1U << h->cluster_bits,
	       1U << h->refcount_order, h->l1_size, h->nb_snapshots,
	       (unsigned long long)i->st.st_size);
	if (h->version >= 3)
		printf(", \"compression_type\": \"%s\"",
		       compression_name(h->compression_type));
	printf(", \"incompatible_features\": \"%s\", \"compatible_features\": \"%s\", \"autoclear_features\": \"%s\"",
	       incompat, compat, autoclear);
	json_backing(i);
	json_chain(&i->chain);
	if (i->snaps_read) {
		printf(", \"snapshots\": [");
		for (n = 0; n < h->nb_snapshots; n++) {
			printf("%s", n ? ", " : "");
			json_snapshot(&i->snaps[n]);
		}
		printf("]");
	} else {
		printf(", \"snapshots_error\": ");
		json_str(i->snap_err.msg);
	}
	printf("}\n");
}

/*
 * The header of an image file, read with the driver's own parser, the
 * backing chain attach would open and the snapshot table. A chain or a
 * table that cannot be read is shown with the reason, and is no failure:
 * info is how one finds out what is wrong.
 */
static int info_image(const char *path, bool json, const struct chain_opts *o)
{
	struct image_info *i;
	struct qcow2_err err;
	int fd, ret = 1;

	i = calloc(1, sizeof(*i));
	if (!i)
		return 1;
	i->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &i->st)) {
		fprintf(stderr, "%s: cannot open %s: %s\n", progname, path,
			strerror(errno));
		goto out;
	}
	if (image_read_header(fd, i->st.st_size, &i->h, &i->b, &err)) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, err.msg);
		goto out;
	}
	chain_resolve(&i->chain, path, &i->st, &i->b, o);
	i->snaps_read = !image_read_snapshots(fd, i->st.st_size, &i->h,
					      &i->snaps, &i->snap_err);
	if (json)
		print_image_json(i);
	else
		print_image_text(i);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	chain_free(&i->chain);
	image_free_snapshots(i->snaps, i->h.nb_snapshots);
	free(i);
	return ret;
}

/**
 * struct device_info - what "info DEVICE" shows
 * @s: the device's status
 * @compressed: the module reports the compression fields
 * @levels: the module reports the levels (QCOW2_FEATURE_BACKING)
 * @level_state: the module fills in struct qcow2_level @state
 *	(QCOW2_FEATURE_LEVEL_STATE)
 * @level: @nlevels levels, [0] the image, if @levels
 * @nlevels: entries in @level
 * @snap: the snapshot shown, when the device shows one and its entry
 *	could be read (else @snap_err says why)
 * @snap_err: why @snap is NULL
 */
struct device_info {
	struct qcow2_status s;
	bool compressed;
	bool levels;
	bool level_state;
	bool discard;
	struct qcow2_level *level;
	unsigned int nlevels;
	struct image_snapshot *snap;
	struct qcow2_err snap_err;
};

/* Every level of the device, from the image down; a failure leaves none. */
static void get_levels(int ctl, struct device_info *d)
{
	struct qcow2_level *lv;
	unsigned int n, depth = 0;

	d->level = calloc(QCOW2_MAX_BACKING_DEPTH + 1, sizeof(*d->level));
	if (!d->level)
		return;
	for (n = 0; n <= depth && n <= QCOW2_MAX_BACKING_DEPTH; n++) {
		lv = &d->level[n];
		lv->index = d->s.index;
		lv->level = n;
		if (ioctl(ctl, QCOW2_IOC_LEVEL, lv))
			break;
		depth = lv->depth;
	}
	d->nlevels = n;
	/* -ENOENT before the depth: detached and attached again meanwhile. */
	if (n <= depth) {
		fprintf(stderr, "%s: QCOW2_IOC_LEVEL %u of /dev/" QCOW2_DEVICE_NAME "%u: %s\n",
			progname, n, d->s.index, strerror(errno));
		d->nlevels = 0;
	}
}

/*
 * The snapshot a device shows, from the image's own table: the module
 * reports only its position. The image is opened by the path the module
 * reports, which may be gone (unlinked) since the attach.
 */
static void get_device_snapshot(struct device_info *d)
{
	const struct qcow2_level *top = &d->level[0];
	struct image_snapshot *table;
	struct qcow2_backing_name b;
	struct qcow2_header h;
	struct stat st;
	int fd;

	fd = open(top->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		qcow2_fail(&d->snap_err, errno, "cannot open %s: %s", top->path,
			   strerror(errno));
		goto out;
	}
	if (image_read_header(fd, st.st_size, &h, &b, &d->snap_err) ||
	    image_read_snapshots(fd, st.st_size, &h, &table, &d->snap_err))
		goto out;
	if (top->snapshot > h.nb_snapshots) {
		qcow2_fail(&d->snap_err, ENOENT, "the image has %u snapshots now",
			   h.nb_snapshots);
		image_free_snapshots(table, h.nb_snapshots);
		goto out;
	}
	/* Keep the entry shown; free the others. */
	d->snap = malloc(sizeof(*d->snap));
	if (d->snap) {
		*d->snap = table[top->snapshot - 1];
		table[top->snapshot - 1].id = NULL;
		table[top->snapshot - 1].name = NULL;
	}
	image_free_snapshots(table, h.nb_snapshots);
out:
	if (fd >= 0)
		close(fd);
}

static void print_level_text(const struct qcow2_level *lv, bool state)
{
	printf("backing file [%u]: %s (format %s", lv->level, lv->path,
	       chain_format_name(lv->format));
	if (lv->format == QCOW2_FORMAT_QCOW2)
		printf(", version %u, virtual size %llu, cluster size %u",
		       lv->version, (unsigned long long)lv->size,
		       lv->cluster_size);
	else
		printf(", size %llu", (unsigned long long)lv->size);
	printf("%s)\n", state && (lv->state & QCOW2_STATE_CORRUPT) ?
	       ", corrupt: its reads fail" : "");
}

static void print_levels_text(const struct device_info *d)
{
	unsigned int n;

	for (n = 1; n < d->nlevels; n++)
		print_level_text(&d->level[n], d->level_state);
	if (!(d->s.state & QCOW2_STATE_SNAPSHOT) || !d->nlevels)
		return;
	if (d->snap)
		printf("snapshot: id %s, name '%s' (entry %u of the table)\n",
		       d->snap->id, d->snap->name, d->level[0].snapshot);
	else
		printf("snapshot: entry %u of the table (%s)\n",
		       d->level[0].snapshot, d->snap_err.msg);
}

static void print_levels_json(const struct device_info *d)
{
	const struct qcow2_level *lv;
	unsigned int n;

	printf(", \"backing_chain\": [");
	for (n = 1; n < d->nlevels; n++) {
		lv = &d->level[n];
		printf("%s{\"filename\": ", n > 1 ? ", " : "");
		json_str(lv->path);
		printf(", \"format\": \"%s\", \"size\": %llu",
		       chain_format_name(lv->format),
		       (unsigned long long)lv->size);
		if (lv->format == QCOW2_FORMAT_QCOW2)
			printf(", \"version\": %u, \"cluster_size\": %u",
			       lv->version, lv->cluster_size);
		if (d->level_state)
			printf(", \"direct_io\": %s, \"corrupt\": %s",
			       lv->state & QCOW2_STATE_DIRECT_IO ?
			       "true" : "false",
			       lv->state & QCOW2_STATE_CORRUPT ?
			       "true" : "false");
		printf("}");
	}
	printf("]");
	if (!(d->s.state & QCOW2_STATE_SNAPSHOT) || !d->nlevels)
		return;
	printf(", \"snapshot\": {\"entry\": %u", d->level[0].snapshot);
	if (d->snap) {
		printf(", \"id\": ");
		json_str(d->snap->id);
		printf(", \"name\": ");
		json_str(d->snap->name);
	} else {
		printf(", \"error\": ");
		json_str(d->snap_err.msg);
	}
	printf("}");
}

static void print_device(const struct device_info *d, bool json)
{
	static const char *const state_names[] = {
		"read-only", "partscan", "autoclear", "direct-io", "corrupt",
		"backing-file", "write-back-error", "snapshot", "discard",
	};
	const struct qcow2_status *s = &d->s;
	char incompat[256], state[256];

	feature_names(s->incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(s->state, state_names, 9, state, sizeof(state));
	if (!json) {
		printf("device: /dev/" QCOW2_DEVICE_NAME "%u\n", s->index);
		printf("image: %s\n", s->path);
		printf("virtual size: %llu\n", (unsigned long long)s->size);
		printf("cluster size: %u\n", s->cluster_size);
		printf("version: %u\n", s->version);
		printf("refcount bits: %u\n", s->refcount_bits);
		if (d->compressed && s->version >= 3)
			printf("compression type: %s\n",
			       compression_name(s->compression_type));
		printf("incompatible features: %s\n", *incompat ? incompat : "none");
		printf("state: %s\n", *state ? state : "read-write");
		if (d->levels)
			print_levels_text(d);
		printf("l2 cache size: %llu\n", (unsigned long long)s->l2_cache_size);
		printf("refcount cache size: %llu\n",
		       (unsigned long long)s->refcount_cache_size);
	}
#define FIELDS(X) X(reads) X(writes) X(read_bytes) X(write_bytes) X(flushes) \
	X(errors) X(alloc_clusters) X(cow_clusters) X(l2_hits) X(l2_misses) \
	X(refcount_hits) X(refcount_misses) X(metadata_writes) X(decompressed) \
	X(decompressed_hits)
#define TEXT(f) printf("%s: %llu\n", #f, (unsigned long long)s->f);
#define JSON(f) printf(", \"%s\": %llu", #f, (unsigned long long)s->f);
	if (!json) {
		FIELDS(TEXT)
		if (d->discard) {
			TEXT(discarded_clusters)
			TEXT(freed_clusters)
			TEXT(reused_clusters)
		}
		return;
	}
	printf("{\"device\": \"/dev/" QCOW2_DEVICE_NAME "%u\", \"image\": ", s->index);
	json_str(s->path);
	printf(", \"size\": %llu, \"cluster_size\": %u, \"version\": %u, \"refcount_bits\": %u",
	       (unsigned long long)s->size, s->cluster_size, s->version,
	       s->refcount_bits);
	if (d->compressed && s->version >= 3)
		printf(", \"compression_type\": \"%s\"",
		       compression_name(s->compression_type));
	printf(", \"incompatible_features\": \"%s\", \"state\": \"%s\"", incompat, state);
	if (d->levels)
		print_levels_json(d);
	printf(", \"l2_cache_size\": %llu, \"refcount_cache_size\": %llu",
	       (unsigned long long)s->l2_cache_size,
	       (unsigned long long)s->refcount_cache_size);
	FIELDS(JSON)
	if (d->discard) {
		JSON(discarded_clusters)
		JSON(freed_clusters)
		JSON(reused_clusters)
	}
	printf("}\n");
#undef FIELDS
#undef TEXT
#undef JSON
}

static int info_device(uint32_t index, bool json)
{
	struct qcow2_version v;
	struct device_info *d;
	int ctl, ret = 1;

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	ctl = open_control();
	if (ctl < 0 || get_version(ctl, &v))
		goto out;
	if (get_status(ctl, index, &d->s)) {
		fprintf(stderr, "%s: /dev/" QCOW2_DEVICE_NAME "%u: %s\n", progname,
			index, errno == ENXIO ? "no such device" : strerror(errno));
		goto out;
	}
	d->compressed = v.features & QCOW2_FEATURE_COMPRESSED;
	d->levels = v.features & QCOW2_FEATURE_BACKING;
	d->level_state = v.features & QCOW2_FEATURE_LEVEL_STATE;
	d->discard = v.features & QCOW2_FEATURE_DISCARD;
	if (d->levels)
		get_levels(ctl, d);
	if (d->nlevels && d->level[0].snapshot)
		get_device_snapshot(d);
	print_device(d, json);
	ret = 0;
out:
	if (ctl >= 0)
		close(ctl);
	if (d->snap)
		image_free_snapshots(d->snap, 1);
	free(d->level);
	free(d);
	return ret;
}

static void info_usage(FILE *f)
{
	fprintf(f,
		"Usage: %s info [OPTIONS] DEVICE|IMAGE\n"
		"\n"
		"Of a device (/dev/qcow2N): its state, caches, counters, the levels of\n"
		"its backing chain and the snapshot it shows. Of an image file: its\n"
		"header, the backing chain an attach would open (or why it would\n"
		"fail) and its snapshot table.\n"
		"\n"
		"Options:\n"
		"      --json                  one JSON object\n"
		"      --backing-format=FMT    as for attach (image files only)\n"
		"      --backing-chain=FILE[,FILE...]\n"
		"                              as for attach (image files only)\n"
		"  -h, --help                  this text\n",
		progname);
}

static int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "backing-chain", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct chain_opts o = { 0 };
	bool json = false, chain_opts = false;
	const char *arg;
	struct stat st;
	uint32_t index;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'F':
			if (parse_format_opt(optarg, &o))
				return 2;
			chain_opts = true;
			break;
		case 'B':
			if (chain_add_files(&o, optarg))
				return 2;
			chain_opts = true;
			break;
		case 'h':
			info_usage(stdout);
			return 0;
		default:
			info_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		info_usage(stderr);
		return 2;
	}
	arg = argv[optind];
	/* A file that is not a block device is an image. */
	if (!stat(arg, &st) && !S_ISBLK(st.st_mode))
		return info_image(arg, json, &o);
	if (parse_device(arg, &index)) {
		fprintf(stderr, "%s: '%s' is neither an image file nor a qcow2 device\n",
			progname, arg);
		return 2;
	}
	if (chain_opts) {
		fprintf(stderr, "%s: --backing-format and --backing-chain are for image files: a device's chain was fixed when it was attached\n",
			progname);
		return 2;
	}
	return info_device(index, json);
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
