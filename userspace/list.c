// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl list: the attached devices and their images, in columns as
 * losetup --list shows loop devices.
 */
#include "qcow2ctl.h"

/**
 * struct row - one device, as the columns see it
 * @s: its status
 * @majmin: its own MAJ:MIN, from sysfs ("" if unknown)
 * @id: the module reports the image's device and inode
 */
struct row {
	struct qcow2_status s;
	char majmin[32];
	bool id;
};

enum col_type { COL_STR, COL_NUM, COL_BOOL };

/**
 * struct column - what a column shows
 * @name: its heading (lower case: its JSON key)
 * @type: how JSON writes it, and how a table aligns it
 * @help: one line for --help
 * @fmt: its text for @r into @buf; for COL_NUM and COL_BOOL also @num
 */
struct column {
	const char *name;
	enum col_type type;
	const char *help;
	void (*fmt)(const struct row *r, char *buf, size_t len, uint64_t *num);
};

static void fmt_bool(bool v, char *buf, size_t len, uint64_t *num)
{
	snprintf(buf, len, "%d", v);
	*num = v;
}

#define STATE_COL(fn, bit)						\
static void fn(const struct row *r, char *buf, size_t len, uint64_t *num) \
{									\
	fmt_bool(r->s.state & (bit), buf, len, num);			\
}
STATE_COL(col_ro, QCOW2_STATE_READ_ONLY)
STATE_COL(col_partscan, QCOW2_STATE_PARTSCAN)
STATE_COL(col_autoclear, QCOW2_STATE_AUTOCLEAR)
STATE_COL(col_dio, QCOW2_STATE_DIRECT_IO)
STATE_COL(col_discard, QCOW2_STATE_DISCARD)
STATE_COL(col_corrupt, QCOW2_STATE_CORRUPT)

static void col_name(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	(void)num;
	snprintf(buf, len, "/dev/" QCOW2_DEVICE_NAME "%u", r->s.index);
}

static void col_size(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	*num = r->s.size;
	size_short(r->s.size, buf, len);
}

static void col_image(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	(void)num;
	snprintf(buf, len, "%s", r->s.path);
}

static void col_majmin(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	(void)num;
	snprintf(buf, len, "%s", r->majmin);
}

static void col_image_majmin(const struct row *r, char *buf, size_t len,
			     uint64_t *num)
{
	(void)num;
	if (r->id)
		snprintf(buf, len, "%u:%u", r->s.image_dev_major,
			 r->s.image_dev_minor);
	else
		buf[0] = 0;
}

static void col_image_ino(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	*num = r->s.image_ino;
	if (r->id)
		snprintf(buf, len, "%llu", (unsigned long long)r->s.image_ino);
	else
		buf[0] = 0;
}

static void col_cluster(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	*num = r->s.cluster_size;
	snprintf(buf, len, "%u", r->s.cluster_size);
}

static void col_version(const struct row *r, char *buf, size_t len, uint64_t *num)
{
	*num = r->s.version;
	snprintf(buf, len, "%u", r->s.version);
}

static const struct column columns[] = {
	{ "NAME", COL_STR, "device name", col_name },
	{ "SIZE", COL_NUM, "virtual size (bytes with --json or --bytes)", col_size },
	{ "RO", COL_BOOL, "read-only device", col_ro },
	{ "PARTSCAN", COL_BOOL, "partitions scanned", col_partscan },
	{ "AUTOCLEAR", COL_BOOL, "detached at the last close", col_autoclear },
	{ "DIO", COL_BOOL, "direct I/O to the image file", col_dio },
	{ "DISCARD", COL_BOOL, "takes discard and write-zeroes requests", col_discard },
	{ "CORRUPT", COL_BOOL, "found corrupt: writes refused", col_corrupt },
	{ "IMAGE", COL_STR, "image file", col_image },
	{ "MAJ:MIN", COL_STR, "the device's major:minor", col_majmin },
	{ "IMAGE-MAJ:MIN", COL_STR, "the image file's st_dev (stat(2)), as major:minor", col_image_majmin },
	{ "IMAGE-INO", COL_NUM, "inode number of the image file", col_image_ino },
	{ "CLUSTER", COL_NUM, "cluster size in bytes", col_cluster },
	{ "VERSION", COL_NUM, "qcow2 version of the image", col_version },
};

#define NCOLS (sizeof(columns) / sizeof(columns[0]))
static const char *const default_cols[] = {
	"NAME", "SIZE", "RO", "PARTSCAN", "AUTOCLEAR", "DIO", "IMAGE",
};

static const struct column *column_named(const char *name)
{
	size_t i;

	for (i = 0; i < NCOLS; i++)
		if (!strcasecmp(columns[i].name, name))
			return &columns[i];
	return NULL;
}

/**
 * struct list_opts - the command line of list
 * @cols: the columns, in order
 * @ncols: how many
 * @assoc: only devices of this image file (--associated)
 * @assoc_st: its status
 * @devices: only these devices (DEVICE arguments), @ndevices of them
 */
struct list_opts {
	const struct column *cols[NCOLS * 4];
	size_t ncols;
	bool headings, raw, json, bytes;
	const char *assoc;
	struct stat assoc_st;
	uint32_t *devices;
	int ndevices;
};

/* --output=LIST: comma-separated names; a leading + adds to the defaults. */
static int parse_columns(struct list_opts *o, const char *arg)
{
	char *copy, *name, *save = NULL;
	int ret = 0;

	if (*arg == '+')
		arg++;
	else
		o->ncols = 0;
	copy = strdup(arg);
	if (!copy)
		return -1;
	for (name = strtok_r(copy, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		const struct column *c = column_named(name);

		if (!c) {
			fprintf(stderr, "%s: unknown column '%s' (%s list --help lists them)\n",
				progname, name, progname);
			ret = -1;
			break;
		}
		if (o->ncols == sizeof(o->cols) / sizeof(o->cols[0])) {
			fprintf(stderr, "%s: too many columns\n", progname);
			ret = -1;
			break;
		}
		o->cols[o->ncols++] = c;
	}
	free(copy);
	if (!ret && !o->ncols) {
		fprintf(stderr, "%s: --output needs at least one column\n", progname);
		ret = -1;
	}
	return ret;
}

static void list_usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s list [OPTIONS] [DEVICE...]\n"
		"\n"
		"List attached devices (all of them, or the DEVICEs named) and their\n"
		"images, as losetup --list lists loop devices.\n"
		"\n"
		"Options:\n"
		"  -a, --all                   list every device (the default)\n"
		"  -j, --associated=IMAGE      only the devices attached to IMAGE (the\n"
		"                              same file, under any name)\n"
		"  -O, --output=LIST           the columns to show, comma-separated;\n"
		"                              +LIST adds them to the default ones\n"
		"      --output-all            every column\n"
		"  -n, --noheadings            no heading line\n"
		"  -r, --raw                   columns separated by one space, names\n"
		"                              escaped (\\x20 for a space)\n"
		"  -J, --json                  JSON: {\"qcow2devices\": [...]}\n"
		"  -b, --bytes                 sizes in bytes\n"
		"  -h, --help                  this text\n"
		"\n"
		"Columns (default: NAME,SIZE,RO,PARTSCAN,AUTOCLEAR,DIO,IMAGE):\n",
		progname);
	for (i = 0; i < NCOLS; i++)
		fprintf(f, "  %-14s %s\n", columns[i].name, columns[i].help);
}

/* Returns 0, -1 after --help, or the exit status for a bad command line. */
static int list_parse(int argc, char **argv, struct list_opts *o)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "associated", required_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'O' },
		{ "output-all", no_argument, NULL, 'A' },
		{ "noheadings", no_argument, NULL, 'n' },
		{ "raw", no_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'J' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;
	int c;

	o->headings = true;
	for (i = 0; i < sizeof(default_cols) / sizeof(default_cols[0]); i++)
		o->cols[o->ncols++] = column_named(default_cols[i]);
	optind = 1;
	while ((c = getopt_long(argc, argv, "aj:O:nrJbh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			break;
		case 'j':
			o->assoc = optarg;
			break;
		case 'O':
			if (parse_columns(o, optarg))
				return 2;
			break;
		case 'A':
			for (o->ncols = 0; o->ncols < NCOLS; o->ncols++)
				o->cols[o->ncols] = &columns[o->ncols];
			break;
		case 'n':
			o->headings = false;
			break;
		case 'r':
			o->raw = true;
			break;
		case 'J':
			o->json = true;
			break;
		case 'b':
			o->bytes = true;
			break;
		case 'h':
			list_usage(stdout);
			return -1;
		default:
			fprintf(stderr, "Usage: %s list [OPTIONS] [DEVICE...] (%s list --help)\n",
				progname, progname);
			return 2;
		}
	}
	if (o->assoc && stat(o->assoc, &o->assoc_st)) {
		fprintf(stderr, "%s: %s: %s\n", progname, o->assoc, strerror(errno));
		return 1;
	}
	if (optind < argc) {
		o->devices = calloc(argc - optind, sizeof(*o->devices));
		if (!o->devices)
			return 1;
		for (; optind < argc; optind++) {
			if (device_arg(argv[optind], &o->devices[o->ndevices])) {
				fprintf(stderr, "%s: '%s' is not a qcow2 device name (/dev/qcow2N)\n",
					progname, argv[optind]);
				return 2;
			}
			o->ndevices++;
		}
	}
	return 0;
}

/* The row of device @index, or -1 when it is not attached (any more). */
static int get_row(int ctl, uint32_t index, bool id, struct row *r)
{
	char path[64];
	FILE *f;

	if (get_status(ctl, index, &r->s))
		return -1;
	r->id = id;
	r->majmin[0] = 0;
	snprintf(path, sizeof(path), "/sys/block/" QCOW2_DEVICE_NAME "%u/dev", index);
	f = fopen(path, "re");
	if (f) {
		if (fgets(r->majmin, sizeof(r->majmin), f))
			r->majmin[strcspn(r->majmin, "\n")] = 0;
		fclose(f);
	}
	return 0;
}

static bool wanted(const struct list_opts *o, const struct row *r)
{
	int i;

	if (o->assoc && !status_is_file(&r->s, r->id, &o->assoc_st))
		return false;
	if (!o->ndevices)
		return true;
	for (i = 0; i < o->ndevices; i++)
		if (o->devices[i] == r->s.index)
			return true;
	return false;
}

static void print_json(const struct list_opts *o, struct row *rows, int n)
{
	struct json j;
	char buf[QCOW2_PATH_MAX + 64], key[32];
	uint64_t num;
	size_t c, k;
	int i;

	json_begin(&j, stdout);
	json_object(&j, NULL);
	json_array(&j, "qcow2devices");
	for (i = 0; i < n; i++) {
		json_object(&j, NULL);
		for (c = 0; c < o->ncols; c++) {
			const struct column *col = o->cols[c];

			for (k = 0; col->name[k] && k < sizeof(key) - 1; k++)
				key[k] = col->name[k] >= 'A' && col->name[k] <= 'Z' ?
					 col->name[k] - 'A' + 'a' : col->name[k];
			key[k] = 0;
			num = 0;
			col->fmt(&rows[i], buf, sizeof(buf), &num);
			if (col->type == COL_BOOL)
				json_bool(&j, key, num);
			else if (col->type == COL_NUM && *buf)
				json_u64(&j, key, num);
			else if (col->type == COL_NUM || !*buf)
				json_null(&j, key);	/* not known */
			else
				json_string(&j, key, buf);
		}
		json_end(&j);
	}
	json_end(&j);
	json_end(&j);
}

/* The text of cell (@i, @c), escaped as the output mode wants. */
static void cell(const struct list_opts *o, const struct row *r,
		 const struct column *col, char *out, size_t len)
{
	char buf[QCOW2_PATH_MAX + 64];
	uint64_t num = 0;

	col->fmt(r, buf, sizeof(buf), &num);
	if (o->bytes && col->fmt == col_size)
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)num);
	escape_name(buf, o->raw, out, len);
}

static void print_table(const struct list_opts *o, struct row *rows, int n)
{
	size_t width[NCOLS * 4] = { 0 }, c, w;
	/* Escaping can make a path up to four times longer. */
	static char buf[QCOW2_PATH_MAX * 4 + 64];
	int i;

	if (!n)
		return;
	for (c = 0; c < o->ncols; c++) {
		width[c] = o->headings ? strlen(o->cols[c]->name) : 0;
		for (i = 0; i < n; i++) {
			cell(o, &rows[i], o->cols[c], buf, sizeof(buf));
			w = strlen(buf);
			if (w > width[c])
				width[c] = w;
		}
	}
	for (i = o->headings ? -1 : 0; i < n; i++) {
		for (c = 0; c < o->ncols; c++) {
			const struct column *col = o->cols[c];
			bool last = c + 1 == o->ncols;

			if (i < 0)
				snprintf(buf, sizeof(buf), "%s", col->name);
			else
				cell(o, &rows[i], col, buf, sizeof(buf));
			if (o->raw)
				printf("%s%s", c ? " " : "", buf);
			else if (col->type != COL_STR)
				printf("%s%*s", c ? " " : "", (int)width[c], buf);
			else
				printf("%s%-*s", c ? " " : "", last ? 0 : (int)width[c], buf);
		}
		putchar('\n');
	}
}

int cmd_list(int argc, char **argv)
{
	struct list_opts o = { 0 };
	struct qcow2_version v;
	struct row *rows = NULL;
	uint32_t *idx = NULL;
	int ctl = -1, n, i, shown = 0, ret;

	ret = list_parse(argc, argv, &o);
	if (ret) {
		ret = ret < 0 ? 0 : ret;
		goto out;
	}
	ret = 1;
	ctl = open_control();
	if (ctl < 0 || get_version(ctl, &v))
		goto out;
	n = list_devices(ctl, &idx);
	if (n < 0)
		goto out;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		goto out;
	for (i = 0; i < n; i++) {
		/* Detached meanwhile: not listed. */
		if (get_row(ctl, idx[i], v.features & QCOW2_FEATURE_IMAGE_ID,
			    &rows[shown]))
			continue;
		if (wanted(&o, &rows[shown]))
			shown++;
	}
	if (o.json)
		print_json(&o, rows, shown);
	else
		print_table(&o, rows, shown);
	ret = 0;
	/* As losetup: a device named that is not attached is an error. */
	for (i = 0; i < o.ndevices; i++) {
		int k;

		for (k = 0; k < shown && rows[k].s.index != o.devices[i]; k++)
			;
		if (k == shown && !o.assoc) {
			fprintf(stderr, "%s: /dev/" QCOW2_DEVICE_NAME "%u: not attached\n",
				progname, o.devices[i]);
			ret = 1;
		}
	}
out:
	if (ctl >= 0)
		close(ctl);
	free(rows);
	free(idx);
	free(o.devices);
	return ret;
}
