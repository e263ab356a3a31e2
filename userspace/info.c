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

/* qemu-img info's "Snapshot list", column for column. */
static void print_snapshots(const struct image_snapshot *sn, uint32_t n)
{
	char vm[32], date[32], clock[32], icount[32];
	uint64_t ms;
	uint32_t i;

	if (!n)
		return;
	printf("Snapshot list:\n");
	printf("%-9s %-17s %7s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
	       "VM CLOCK", "ICOUNT");
	for (i = 0; i < n; i++) {
		size_str(sn[i].s.vm_state_size, vm, sizeof(vm));
		snapshot_date(sn[i].s.date_sec, date, sizeof(date));
		ms = sn[i].s.vm_clock_nsec / 1000000;
		snprintf(clock, sizeof(clock), "%02llu:%02llu:%02llu.%03llu",
			 (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms / 60000 % 60),
			 (unsigned long long)(ms / 1000 % 60),
			 (unsigned long long)(ms % 1000));
		if (sn[i].s.icount == (uint64_t)-1)
			icount[0] = 0;
		else
			snprintf(icount, sizeof(icount), "%llu",
				 (unsigned long long)sn[i].s.icount);
		printf("%-9s %-16s %8s%20s%13s%11s\n", sn[i].id, sn[i].name, vm,
		       date, clock, icount);
	}
}

/* qemu-img info --output=json's snapshot object. */
static void json_snapshot(struct json *j, const struct image_snapshot *sn)
{
	json_object(j, NULL);
	if (sn->s.icount != (uint64_t)-1)
		json_u64(j, "icount", sn->s.icount);
	json_u64(j, "vm-clock-nsec", sn->s.vm_clock_nsec % 1000000000);
	json_string(j, "name", sn->name);
	json_u64(j, "date-sec", sn->s.date_sec);
	json_u64(j, "date-nsec", sn->s.date_nsec);
	json_u64(j, "vm-clock-sec", sn->s.vm_clock_nsec / 1000000000);
	json_string(j, "id", sn->id);
	json_u64(j, "vm-state-size", sn->s.vm_state_size);
	/* Not in qemu-img's output: the virtual size when it was taken. */
	if (snapshot_has_disk_size(sn))
		json_u64(j, "disk-size", sn->s.disk_size);
	json_end(j);
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

static void image_features(const struct qcow2_header *h, char *incompat,
			   char *compat, char *autoclear, size_t len)
{
	feature_names(h->incompatible_features, incompat_names, 5, incompat, len);
	feature_names(h->compatible_features, compat_names, 1, compat, len);
	feature_names(h->autoclear_features, autoclear_names, 2, autoclear, len);
}

/* What qemu-img info prints, then what only qcow2ctl tells. */
static void print_image_text(const struct image_info *i)
{
	const struct qcow2_header *h = &i->h;
	char incompat[256], compat[256], autoclear[256], buf[64];
	bool v3 = h->version >= 3;

	image_features(h, incompat, compat, autoclear, sizeof(incompat));
	printf("image: %s\n", i->path);
	printf("file format: qcow2\n");
	size_exact(h->size, buf, sizeof(buf));
	printf("virtual size: %s\n", buf);
	size_str((uint64_t)i->st.st_blocks * 512, buf, sizeof(buf));
	printf("disk size: %s\n", buf);
	printf("cluster_size: %u\n", 1U << h->cluster_bits);
	if (h->incompatible_features & QCOW2_INCOMPAT_DIRTY)
		printf("cleanly shut down: no\n");
	if (*i->b.name) {
		printf("backing file: %s", i->b.name);
		if (i->chain.full_name && strcmp(i->chain.full_name, i->b.name))
			printf(" (actual path: %s)", i->chain.full_name);
		printf("\n");
	}
	if (*i->b.format)
		printf("backing file format: %s\n", i->b.format);
	if (i->snaps_read)
		print_snapshots(i->snaps, h->nb_snapshots);
	else
		printf("Snapshot list: cannot read: %s\n", i->snap_err.msg);
	printf("Format specific information:\n");
	printf("    compat: %s\n", v3 ? "1.1" : "0.10");
	printf("    compression type: %s\n", compression_name(h->compression_type));
	if (v3)
		printf("    lazy refcounts: %s\n",
		       h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS ?
		       "true" : "false");
	printf("    refcount bits: %u\n", 1U << h->refcount_order);
	if (v3) {
		printf("    corrupt: %s\n",
		       h->incompatible_features & QCOW2_INCOMPAT_CORRUPT ?
		       "true" : "false");
		printf("    extended l2: %s\n",
		       h->incompatible_features & QCOW2_INCOMPAT_EXTL2 ?
		       "true" : "false");
	}
	printf("qcow2ctl:\n");
	printf("    version: %u\n", h->version);
	size_exact(i->st.st_size, buf, sizeof(buf));
	printf("    file length: %s\n", buf);
	printf("    l1 size: %u\n", h->l1_size);
	printf("    snapshots: %u\n", h->nb_snapshots);
	printf("    incompatible features: %s\n", *incompat ? incompat : "none");
	printf("    compatible features: %s\n", *compat ? compat : "none");
	printf("    autoclear features: %s\n", *autoclear ? autoclear : "none");
	chain_print(&i->chain, stdout);
}

/* The resolved chain as an array of {filename, format}. */
static void json_chain(struct json *j, const struct chain *c)
{
	unsigned int n;

	json_array(j, "backing-chain");
	for (n = 0; n < c->count; n++) {
		json_object(j, NULL);
		json_string(j, "filename", c->level[n].path);
		json_string(j, "format", chain_format_name(c->level[n].format));
		json_end(j);
	}
	json_end(j);
	if (c->error)
		json_string(j, "backing-chain-error", c->error);
}

/*
 * qemu-img info --output=json's keys, with its values, then qcow2ctl's
 * own (which qemu-img does not have).
 */
static void print_image_json(const struct image_info *i)
{
	const struct qcow2_header *h = &i->h;
	char incompat[256], compat[256], autoclear[256];
	bool v3 = h->version >= 3;
	struct json j;
	uint32_t n;

	image_features(h, incompat, compat, autoclear, sizeof(incompat));
	json_begin(&j, stdout);
	json_object(&j, NULL);
	if (i->snaps_read && h->nb_snapshots) {
		json_array(&j, "snapshots");
		for (n = 0; n < h->nb_snapshots; n++)
			json_snapshot(&j, &i->snaps[n]);
		json_end(&j);
	}
	if (*i->b.format)
		json_string(&j, "backing-filename-format", i->b.format);
	json_u64(&j, "virtual-size", h->size);
	json_string(&j, "filename", i->path);
	json_u64(&j, "cluster-size", 1U << h->cluster_bits);
	json_string(&j, "format", "qcow2");
	json_u64(&j, "actual-size", (uint64_t)i->st.st_blocks * 512);
	json_object(&j, "format-specific");
	json_string(&j, "type", "qcow2");
	json_object(&j, "data");
	json_string(&j, "compat", v3 ? "1.1" : "0.10");
	json_string(&j, "compression-type", compression_name(h->compression_type));
	if (v3)
		json_bool(&j, "lazy-refcounts",
			  h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
	json_u64(&j, "refcount-bits", 1U << h->refcount_order);
	if (v3) {
		json_bool(&j, "corrupt",
			  h->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
		json_bool(&j, "extended-l2",
			  h->incompatible_features & QCOW2_INCOMPAT_EXTL2);
	}
	json_end(&j);
	json_end(&j);
	if (*i->b.name) {
		if (i->chain.full_name)
			json_string(&j, "full-backing-filename", i->chain.full_name);
		json_string(&j, "backing-filename", i->b.name);
	}
	json_bool(&j, "dirty-flag", h->incompatible_features & QCOW2_INCOMPAT_DIRTY);
	/* qcow2ctl's own. */
	json_u64(&j, "qcow2-version", h->version);
	json_u64(&j, "file-length", i->st.st_size);
	json_u64(&j, "l1-size", h->l1_size);
	json_u64(&j, "snapshot-count", h->nb_snapshots);
	json_string(&j, "incompatible-features", incompat);
	json_string(&j, "compatible-features", compat);
	json_string(&j, "autoclear-features", autoclear);
	json_chain(&j, &i->chain);
	if (!i->snaps_read)
		json_string(&j, "snapshots-error", i->snap_err.msg);
	json_end(&j);
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
		if (!strncmp(err.msg, "not a ", 6))
			fprintf(stderr, "%s: %s is %s (qemu-img info tells what it is)\n",
				progname, path, err.msg);
		else
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
 * @discard: the module reports the discard counters
 * @image_id: the module reports the image file's device and inode
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
	bool image_id;
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

static void print_levels_json(struct json *j, const struct device_info *d)
{
	const struct qcow2_level *lv;
	unsigned int n;

	json_array(j, "backing_chain");
	for (n = 1; n < d->nlevels; n++) {
		lv = &d->level[n];
		json_object(j, NULL);
		json_string(j, "filename", lv->path);
		json_string(j, "format", chain_format_name(lv->format));
		json_u64(j, "size", lv->size);
		if (lv->format == QCOW2_FORMAT_QCOW2) {
			json_u64(j, "version", lv->version);
			json_u64(j, "cluster_size", lv->cluster_size);
		}
		if (d->level_state) {
			json_bool(j, "direct_io", lv->state & QCOW2_STATE_DIRECT_IO);
			json_bool(j, "corrupt", lv->state & QCOW2_STATE_CORRUPT);
		}
		json_end(j);
	}
	json_end(j);
	if (!(d->s.state & QCOW2_STATE_SNAPSHOT) || !d->nlevels)
		return;
	json_object(j, "snapshot");
	json_u64(j, "entry", d->level[0].snapshot);
	if (d->snap) {
		json_string(j, "id", d->snap->id);
		json_string(j, "name", d->snap->name);
	} else {
		json_string(j, "error", d->snap_err.msg);
	}
	json_end(j);
}

static const char *const state_names[] = {
	"read-only", "partscan", "autoclear", "direct-io", "corrupt",
	"backing-file", "write-back-error", "snapshot", "discard",
};

#define COUNTERS(X) X(reads) X(writes) X(read_bytes) X(write_bytes) X(flushes) \
	X(errors) X(alloc_clusters) X(cow_clusters) X(l2_hits) X(l2_misses) \
	X(refcount_hits) X(refcount_misses) X(metadata_writes) X(decompressed) \
	X(decompressed_hits)
#define DISCARD_COUNTERS(X) X(discarded_clusters) X(freed_clusters) \
	X(reused_clusters)

static void print_device_text(const struct device_info *d)
{
	const struct qcow2_status *s = &d->s;
	char incompat[256], state[256], buf[64];

	feature_names(s->incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(s->state, state_names, 9, state, sizeof(state));
	printf("device: /dev/" QCOW2_DEVICE_NAME "%u\n", s->index);
	printf("image: %s\n", s->path);
	if (d->image_id)
		printf("image file: device %u:%u, inode %llu\n",
		       s->image_dev_major, s->image_dev_minor,
		       (unsigned long long)s->image_ino);
	size_exact(s->size, buf, sizeof(buf));
	printf("virtual size: %s\n", buf);
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
	size_exact(s->l2_cache_size, buf, sizeof(buf));
	printf("l2 cache size: %s\n", buf);
	size_exact(s->refcount_cache_size, buf, sizeof(buf));
	printf("refcount cache size: %s\n", buf);
#define TEXT(f) printf("%s: %llu\n", #f, (unsigned long long)s->f);
	COUNTERS(TEXT)
	if (d->discard) {
		DISCARD_COUNTERS(TEXT)
	}
#undef TEXT
}

/* Keys in snake_case, as the sysfs attributes under qcow2/ are named. */
static void print_device_json(const struct device_info *d)
{
	const struct qcow2_status *s = &d->s;
	char incompat[256], state[256], name[32];
	struct json j;

	feature_names(s->incompatible_features, incompat_names, 5, incompat,
		      sizeof(incompat));
	feature_names(s->state, state_names, 9, state, sizeof(state));
	json_begin(&j, stdout);
	json_object(&j, NULL);
	snprintf(name, sizeof(name), "/dev/" QCOW2_DEVICE_NAME "%u", s->index);
	json_string(&j, "device", name);
	json_string(&j, "image", s->path);
	if (d->image_id) {
		snprintf(name, sizeof(name), "%u:%u", s->image_dev_major,
			 s->image_dev_minor);
		json_string(&j, "image_dev", name);
		json_u64(&j, "image_inode", s->image_ino);
	}
	json_u64(&j, "size", s->size);
	json_u64(&j, "cluster_size", s->cluster_size);
	json_u64(&j, "version", s->version);
	json_u64(&j, "refcount_bits", s->refcount_bits);
	if (d->compressed && s->version >= 3)
		json_string(&j, "compression_type",
			    compression_name(s->compression_type));
	json_string(&j, "incompatible_features", incompat);
	json_string(&j, "state", state);
	if (d->levels)
		print_levels_json(&j, d);
	json_u64(&j, "l2_cache_size", s->l2_cache_size);
	json_u64(&j, "refcount_cache_size", s->refcount_cache_size);
#define JSON(f) json_u64(&j, #f, s->f);
	COUNTERS(JSON)
	if (d->discard) {
		DISCARD_COUNTERS(JSON)
	}
#undef JSON
	json_end(&j);
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
	d->image_id = v.features & QCOW2_FEATURE_IMAGE_ID;
	if (d->levels)
		get_levels(ctl, d);
	if (d->nlevels && d->level[0].snapshot)
		get_device_snapshot(d);
	if (json)
		print_device_json(d);
	else
		print_device_text(d);
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
		"  -J, --json                  one JSON object (of an image file: with\n"
		"                              qemu-img info --output=json's keys)\n"
		"      --backing-format=FMT    as for attach (image files only)\n"
		"      --backing-chain=FILE[,FILE...]\n"
		"                              as for attach (image files only)\n"
		"  -h, --help                  this text\n",
		progname);
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
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
	while ((c = getopt_long(argc, argv, "Jh", opts, NULL)) != -1) {
		switch (c) {
		case 'J':
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
	/*
	 * A qcow2 device name is a device (qcow2N names one even when no
	 * such file is here); anything else is an image file.
	 */
	if (!stat(arg, &st) && !S_ISBLK(st.st_mode))
		return info_image(arg, json, &o);
	if (device_arg(arg, &index)) {
		if (!stat(arg, &st))
			fprintf(stderr, "%s: %s is a block device, not a qcow2 device (/dev/qcow2N)\n",
				progname, arg);
		else
			return info_image(arg, json, &o);	/* says why */
		return 1;
	}
	if (chain_opts) {
		fprintf(stderr, "%s: --backing-format and --backing-chain are for image files: a device's chain was fixed when it was attached\n",
			progname);
		return 2;
	}
	return info_device(index, json);
}
