// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl create: a new image, written by the kernel.
 */
#include "qcow2ctl.h"

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

int cmd_create(int argc, char **argv)
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
	char hsize[64], hlen[64], halloc[32];
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

	size_exact(arg.size, hsize, sizeof(hsize));
	size_exact(arg.file_length, hlen, sizeof(hlen));
	size_str((uint64_t)st.st_blocks * 512, halloc, sizeof(halloc));
	printf("Created %s: qcow2 version %u (compat %s), size %s, "
	       "cluster size %" PRIu64 ", refcount bits %" PRIu64 "%s%s, "
	       "prealloc %s, file length %s, %s on disk\n",
	       image, arg.version, arg.version == 2 ? "0.10" : "1.1",
	       hsize, cluster_size, refcount_bits,
	       arg.flags & QCOW2_CREATE_LAZY_REFCOUNTS ? ", lazy refcounts" : "",
	       arg.flags & QCOW2_CREATE_EXTENDED_L2 ? ", extended L2" : "",
	       prealloc_names[arg.prealloc], hlen, halloc);
	if (backing)
		printf("Backing file: %s%s%s\n", backing, backing_fmt ? ", format " : "",
		       backing_fmt ? backing_fmt : "");
	return 0;
}
