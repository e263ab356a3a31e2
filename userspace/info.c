// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl info: an image file's header, backing chain and snapshots, or
 * an attached device's state and counters.
 */
#include "qcow2ctl.h"

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

int cmd_info(int argc, char **argv)
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
