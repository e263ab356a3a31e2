// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: arguments: sizes with qemu-img's suffixes, device names,
 * backing formats.
 */
#include "qcow2ctl.h"

/*
 * Parse a size the way qemu-img does: a decimal number with an optional
 * fraction, or a 0x hexadecimal integer, then an optional suffix b, k, M,
 * G, T, P or E (any case, powers of 1024). Returns 0 or -1.
 */
int parse_size(const char *s, uint64_t *out)
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
int parse_format_opt(const char *arg, struct chain_opts *o)
{
	o->format = chain_format(arg);
	if (o->format)
		return 0;
	fprintf(stderr, "%s: --backing-format=%s: use qcow2 or raw (the formats the module reads)\n",
		progname, arg);
	return -1;
}

/* "/dev/qcow2N", "qcow2N" or "N" to N. */
int parse_device(const char *s, uint32_t *index)
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

/*
 * A device named on the command line: "/dev/qcow2N", "qcow2N", "N", or
 * any path to the device node (a /dev/disk/by-qcow2-inode/ link, say).
 * Partitions name their disk. 0, or -1 if @s names no qcow2 device.
 */
int device_arg(const char *s, uint32_t *index)
{
	char *real;
	int ret;
	struct stat st;

	if (!parse_device(s, index))
		return 0;
	if (stat(s, &st) || !S_ISBLK(st.st_mode))
		return -1;
	real = realpath(s, NULL);
	if (!real)
		return -1;
	ret = -1;
	/* Nodes live in /dev; qcow2NpM, a partition, names the disk qcow2N. */
	if (!strncmp(real, "/dev/", 5)) {
		real[5 + strcspn(real + 5, "p")] = 0;
		ret = parse_device(real, index);
	}
	free(real);
	return ret;
}
