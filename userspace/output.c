// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: output: sizes in binary units, escaped names, and a JSON
 * writer that keeps its commas and indentation straight.
 */
#include "qcow2ctl.h"

/* The binary unit of @v: the exponent of 1024 shown, and the unit letter. */
static int unit_of(uint64_t v)
{
	int u = 0;

	/*
	 * As qemu-img: a unit once the value reaches 1000 of the one below,
	 * so that no more than three digits stand before the point.
	 */
	while (u < 6 && v >= 1000ULL << (10 * u))
		u++;
	return u;
}

/* "64 GiB", "1.5 KiB", "512 B": three significant digits, as qemu-img. */
void size_str(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {
		"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
	};
	int u = unit_of(v);

	snprintf(buf, len, "%0.3g %s", (double)v / (double)(1ULL << (10 * u)),
		 units[u]);
}

/* "64 GiB (68719476736 bytes)", as qemu-img info shows a virtual size. */
void size_exact(uint64_t v, char *buf, size_t len)
{
	char h[32];

	size_str(v, h, sizeof(h));
	snprintf(buf, len, "%s (%" PRIu64 " bytes)", h, v);
}

/* "64G", "1.5G", "512B": lsblk's column form, one decimal at most. */
void size_short(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	int u = 0;
	uint64_t whole, tenths;

	while (u < 6 && v >= 1024ULL << (10 * u))
		u++;
	if (!u) {
		snprintf(buf, len, "%" PRIu64 "B", v);
		return;
	}
	whole = v >> (10 * u);
	/* The first decimal, rounded; a round up may carry into the whole. */
	tenths = ((v & ((1ULL << (10 * u)) - 1)) * 10 + (1ULL << (10 * u)) / 2) >>
		 (10 * u);
	if (tenths == 10) {
		whole++;
		tenths = 0;
	}
	if (tenths)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%c", whole, tenths,
			 units[u]);
	else
		snprintf(buf, len, "%" PRIu64 "%c", whole, units[u]);
}

/*
 * @s with every byte that would break a line of a table (control bytes,
 * backslash; and the space too when @raw, where spaces separate the
 * columns) as \xNN, as util-linux tools print names. Returns @buf.
 */
const char *escape_name(const char *s, bool raw, char *buf, size_t len)
{
	size_t at = 0;

	for (; *s && at + 5 < len; s++) {
		unsigned char c = *s;

		if (c < 0x20 || c == 0x7f || c == '\\' || (raw && c == ' '))
			at += snprintf(buf + at, len - at, "\\x%02x", c);
		else
			buf[at++] = c;
	}
	buf[at] = 0;
	return buf;
}

/* The length of the UTF-8 sequence at @s, or 0 if it is not valid. */
static int utf8_len(const unsigned char *s)
{
	uint32_t cp;
	int n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/*
 * @s as a JSON string literal. A file name need not be UTF-8: a byte that
 * is not part of a valid sequence becomes U+FFFD, so that the output stays
 * JSON any parser reads.
 */
static void json_quote(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int n;

	putc('"', f);
	while (*p) {
		if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(f, "\\u%04x", *p++);
		} else if ((n = utf8_len(p))) {
			fwrite(p, 1, n, f);
			p += n;
		} else {
			fputs("\\ufffd", f);
			p++;
		}
	}
	putc('"', f);
}

void json_begin(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

/* The comma, newline and indentation before a value, and its key. */
static void json_member(struct json *j, const char *key)
{
	int i;

	if (!j->first[j->depth])
		putc(',', j->f);
	if (j->depth)
		putc('\n', j->f);
	j->first[j->depth] = false;
	for (i = 0; i < j->depth; i++)
		fputs("    ", j->f);
	if (key) {
		json_quote(j->f, key);
		fputs(": ", j->f);
	}
}

static void json_open(struct json *j, const char *key, char c)
{
	json_member(j, key);
	putc(c, j->f);
	/* Deeper than any output of the tool: a bug, caught by the tests. */
	if (j->depth + 1 >= JSON_MAX_DEPTH)
		abort();
	j->closer[j->depth] = c == '{' ? '}' : ']';
	j->first[++j->depth] = true;
}

void json_object(struct json *j, const char *key)
{
	json_open(j, key, '{');
}

void json_array(struct json *j, const char *key)
{
	json_open(j, key, '[');
}

/* Close the innermost object or array; a newline after the outermost. */
void json_end(struct json *j)
{
	bool empty = j->first[j->depth];
	int i;

	if (!j->depth)
		abort();
	j->depth--;
	if (!empty) {
		putc('\n', j->f);
		for (i = 0; i < j->depth; i++)
			fputs("    ", j->f);
	}
	putc(j->closer[j->depth], j->f);
	if (!j->depth)
		putc('\n', j->f);
}

void json_string(struct json *j, const char *key, const char *v)
{
	json_member(j, key);
	json_quote(j->f, v);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_member(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	json_member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	json_member(j, key);
	fputs("null", j->f);
}
