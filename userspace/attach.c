// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl attach: an image (and its backing chain) as /dev/qcow2N.
 */
#include "qcow2ctl.h"

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
		"  -f, --find                  use the first free device (the default;\n"
		"                              as losetup -f)\n"
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
 * @why: why it did not, if not @decoded
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
	struct qcow2_err why;
	bool show;
};

/* Returns 0, -1 after --help, or the exit status for a bad command line. */
static int attach_parse(int argc, char **argv, struct attach_req *r)
{
	static const struct option opts[] = {
		{ "find", no_argument, NULL, 'f' },
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
	while ((c = getopt_long(argc, argv, "frPh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			break;
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
	bool ro = r->a.flags & QCOW2_ATTACH_READ_ONLY;

	r->a.fd = open(r->image, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (r->a.fd < 0 || fstat(r->a.fd, &r->st)) {
		int e = errno;

		fprintf(stderr, "%s: cannot open %s: %s%s\n", progname, r->image,
			strerror(e),
			e == EACCES && !ro ? " (attach --read-only if you may only read it)" :
			e == EROFS ? " (its file system is read-only: attach --read-only)" : "");
		return -1;
	}
	if (S_ISDIR(r->st.st_mode)) {
		fprintf(stderr, "%s: cannot attach %s: it is a directory\n", progname,
			r->image);
		return -1;
	}
	r->decoded = !image_read_header(r->a.fd, r->st.st_size, &h, &r->b,
					&r->why);
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

/* Whether a device shows the image already; if so, says which. */
static bool attach_in_use(int ctl, const struct attach_req *r)
{
	int holder = find_holder(ctl, &r->st);

	if (holder < 0)
		return false;
	fprintf(stderr, "%s: cannot attach %s: it is in use by /dev/" QCOW2_DEVICE_NAME "%d (%s detach /dev/" QCOW2_DEVICE_NAME "%d first)\n",
		progname, r->image, holder, progname, holder);
	return true;
}

int cmd_attach(int argc, char **argv)
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
	if (ctl < 0 || attach_check_module(ctl, r))
		goto out;
	/* Attached already: say where, before anything else is opened. */
	if (attach_in_use(ctl, r))
		goto out;
	if (attach_chain(r))
		goto out;
	if (ioctl(ctl, QCOW2_IOC_ATTACH, &r->a)) {
		err = errno;
		/*
		 * A header that does not decode went to the module as it is
		 * (its checks are the ones that count): our parser's reason
		 * is the same as its log line, and plainer than an errno.
		 */
		hint = !r->decoded && (err == EINVAL || err == EOPNOTSUPP ||
				       err == EFBIG) ?
		       r->why.msg : attach_hint(err, &r->a);
		/* Attached meanwhile, by someone else: say where. */
		if (err != EBUSY || !attach_in_use(ctl, r))
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
