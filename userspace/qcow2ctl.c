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
		"                                header of an image file\n"
		"  version                       ABI version and features of the loaded module\n"
		"  help                          this text\n"
		"\n"
		"If " CONTROL_PATH " does not exist, %s loads the module with\n"
		"\"modprobe qcow2\" first (the control device has a dynamic minor, so no\n"
		"device node exists before the module is loaded).\n",
		progname, progname, progname, progname);
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
	printf("module features: 0x%llx%s%s%s\n", (unsigned long long)v.features,
	       v.features & QCOW2_FEATURE_CREATE ? " create" : "",
	       v.features & QCOW2_FEATURE_ATTACH ? " attach" : "",
	       v.features & QCOW2_FEATURE_COMPRESSED ? " compressed" : "");
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

/* @compressed: the module reports the compression fields. */
static void print_device(const struct qcow2_status *s, bool compressed,
			 bool json)
{
	static const char *const state_names[] = {
		"read-only", "partscan", "autoclear", "direct-io", "corrupt",
		"backing-file", "write-back-error",
	};
	char incompat[256], state[256];

	feature_names(s->incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(s->state, state_names, 7, state, sizeof(state));
	if (!json) {
		printf("device: /dev/" QCOW2_DEVICE_NAME "%u\n", s->index);
		printf("image: %s\n", s->path);
		printf("virtual size: %llu\n", (unsigned long long)s->size);
		printf("cluster size: %u\n", s->cluster_size);
		printf("version: %u\n", s->version);
		printf("refcount bits: %u\n", s->refcount_bits);
		if (compressed && s->version >= 3)
			printf("compression type: %s\n",
			       compression_name(s->compression_type));
		printf("incompatible features: %s\n", *incompat ? incompat : "none");
		printf("state: %s\n", *state ? state : "read-write");
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
		return;
	}
	printf("{\"device\": \"/dev/" QCOW2_DEVICE_NAME "%u\", \"image\": ", s->index);
	json_str(s->path);
	printf(", \"size\": %llu, \"cluster_size\": %u, \"version\": %u, \"refcount_bits\": %u",
	       (unsigned long long)s->size, s->cluster_size, s->version,
	       s->refcount_bits);
	if (compressed && s->version >= 3)
		printf(", \"compression_type\": \"%s\"",
		       compression_name(s->compression_type));
	printf(", \"incompatible_features\": \"%s\", \"state\": \"%s\"", incompat, state);
	printf(", \"l2_cache_size\": %llu, \"refcount_cache_size\": %llu",
	       (unsigned long long)s->l2_cache_size,
	       (unsigned long long)s->refcount_cache_size);
	FIELDS(JSON)
	printf("}\n");
#undef FIELDS
#undef TEXT
#undef JSON
}

/* The header of an image file, read with the driver's own parser. */
static int info_image(const char *path, bool json)
{
	struct qcow2_header h;
	struct qcow2_err err;
	char incompat[256], compat[256], autoclear[256], backing[1024] = "";
	unsigned char buf[4096];
	struct stat st;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "%s: cannot open %s: %s\n", progname, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	memset(buf, 0, sizeof(buf));
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", progname, path,
			strerror(errno));
		return 1;
	}
	if (qcow2_header_decode(&h, buf, n, &err) ||
	    qcow2_header_check(&h, st.st_size, &err)) {
		fprintf(stderr, "%s: %s: %s\n", progname, path, err.msg);
		return 1;
	}
	if (h.backing_file_offset && h.backing_file_offset + h.backing_file_size <= (uint64_t)n)
		snprintf(backing, sizeof(backing), "%.*s", (int)h.backing_file_size,
			 (const char *)buf + h.backing_file_offset);
	feature_names(h.incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(h.compatible_features, compat_names, 1, compat, sizeof(compat));
	feature_names(h.autoclear_features, autoclear_names, 2, autoclear,
		      sizeof(autoclear));
	if (json) {
		printf("{\"image\": ");
		json_str(path);
		printf(", \"version\": %u, \"size\": %llu, \"cluster_size\": %u, \"refcount_bits\": %u, \"l1_size\": %u, \"snapshots\": %u, \"file_length\": %llu",
		       h.version, (unsigned long long)h.size, 1U << h.cluster_bits,
		       1U << h.refcount_order, h.l1_size, h.nb_snapshots,
		       (unsigned long long)st.st_size);
		if (h.version >= 3)
			printf(", \"compression_type\": \"%s\"",
			       compression_name(h.compression_type));
		printf(", \"incompatible_features\": \"%s\", \"compatible_features\": \"%s\", \"autoclear_features\": \"%s\", \"backing_file\": ",
		       incompat, compat, autoclear);
		json_str(backing);
		printf("}\n");
		return 0;
	}
	printf("image: %s\n", path);
	printf("version: %u\n", h.version);
	printf("virtual size: %llu\n", (unsigned long long)h.size);
	printf("cluster size: %u\n", 1U << h.cluster_bits);
	printf("refcount bits: %u\n", 1U << h.refcount_order);
	/* Version 2 has no such field, and qemu-img shows none. */
	if (h.version >= 3)
		printf("compression type: %s\n", compression_name(h.compression_type));
	printf("l1 size: %u\n", h.l1_size);
	printf("snapshots: %u\n", h.nb_snapshots);
	printf("file length: %llu\n", (unsigned long long)st.st_size);
	printf("incompatible features: %s\n", *incompat ? incompat : "none");
	printf("compatible features: %s\n", *compat ? compat : "none");
	printf("autoclear features: %s\n", *autoclear ? autoclear : "none");
	if (*backing)
		printf("backing file: %s\n", backing);
	return 0;
}

static int cmd_info(int argc, char **argv)
{
	struct qcow2_version v;
	struct qcow2_status s;
	bool json = false;
	const char *arg = NULL;
	struct stat st;
	uint32_t index;
	int i, ctl;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!arg)
			arg = argv[i];
		else
			arg = NULL, i = argc + 1;
	}
	if (!arg || i > argc) {
		fprintf(stderr, "Usage: %s info [--json] DEVICE|IMAGE\n", progname);
		return 2;
	}
	/* A file that is not a block device is an image. */
	if (!stat(arg, &st) && !S_ISBLK(st.st_mode))
		return info_image(arg, json);
	if (parse_device(arg, &index)) {
		fprintf(stderr, "%s: '%s' is neither an image file nor a qcow2 device\n",
			progname, arg);
		return 2;
	}
	ctl = open_control();
	if (ctl < 0)
		return 1;
	if (get_version(ctl, &v)) {
		close(ctl);
		return 1;
	}
	if (get_status(ctl, index, &s)) {
		fprintf(stderr, "%s: /dev/" QCOW2_DEVICE_NAME "%u: %s\n", progname,
			index, errno == ENXIO ? "no such device" : strerror(errno));
		close(ctl);
		return 1;
	}
	close(ctl);
	print_device(&s, v.features & QCOW2_FEATURE_COMPRESSED, json);
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
