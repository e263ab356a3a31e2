// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit tests of qcow2ctl's argument parsing and output helpers
 * (userspace/args.c, userspace/output.c), built with AddressSanitizer and
 * UBSan. Sizes follow qemu-img's rules; the cases with a comment naming
 * qemu-img were checked against "qemu-img create -f raw F SIZE".
 */
#include "qcow2ctl.h"
#include "kselftest_harness.h"

const char *progname = "args_test";

static int size_of(const char *s, uint64_t *v)
{
	*v = 0xdeadbeef;
	return parse_size(s, v);
}

TEST(sizes_plain_and_suffixes)
{
	uint64_t v;

	ASSERT_EQ(0, size_of("0", &v));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, size_of("512", &v));
	ASSERT_EQ(512, v);
	ASSERT_EQ(0, size_of("512b", &v));
	ASSERT_EQ(512, v);
	ASSERT_EQ(0, size_of("64k", &v));
	ASSERT_EQ(65536, v);
	ASSERT_EQ(0, size_of("64K", &v));
	ASSERT_EQ(65536, v);
	ASSERT_EQ(0, size_of("2M", &v));
	ASSERT_EQ(2ULL << 20, v);
	ASSERT_EQ(0, size_of("10g", &v));
	ASSERT_EQ(10ULL << 30, v);
	ASSERT_EQ(0, size_of("3T", &v));
	ASSERT_EQ(3ULL << 40, v);
	ASSERT_EQ(0, size_of("1P", &v));
	ASSERT_EQ(1ULL << 50, v);
	ASSERT_EQ(0, size_of("7E", &v));
	ASSERT_EQ(7ULL << 60, v);
	ASSERT_EQ(0, size_of("0x1000", &v));
	ASSERT_EQ(4096, v);
	ASSERT_EQ(0, size_of("0x10k", &v));	/* qemu-img: deprecated, 16384 */
	ASSERT_EQ(16384, v);
	ASSERT_EQ(0, size_of(" 5M", &v));	/* qemu-img skips leading blanks */
	ASSERT_EQ(5ULL << 20, v);
}

TEST(sizes_fractions)
{
	uint64_t v;

	ASSERT_EQ(0, size_of("1.5G", &v));	/* qemu-img: 1610612736 */
	ASSERT_EQ(1610612736ULL, v);
	ASSERT_EQ(0, size_of("0.5k", &v));
	ASSERT_EQ(512, v);
	ASSERT_EQ(0, size_of("2.25M", &v));
	ASSERT_EQ(2359296, v);
	/* A fraction needs a unit: "1.5" bytes is not a size (qemu-img). */
	ASSERT_EQ(-1, size_of("1.5", &v));
	ASSERT_EQ(0xdeadbeef, v);
}

TEST(sizes_refused)
{
	static const char *const bad[] = {
		"", " ", "k", "-1", "+1", "1x", "1kb" /* qemu-img */, "1 k", "0x",
		"0xg", "1.5.5G", "12q", "1e3",
		"8E",				/* 8 EiB: past INT64_MAX (qemu-img) */
		"9223372036854775808",		/* INT64_MAX + 1 */
		"99999999999999999999",		/* past UINT64_MAX */
		"0x10000000000000000",		/* likewise, in hex */
	};
	unsigned int i;
	uint64_t v;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-1, size_of(bad[i], &v)) {
			TH_LOG("\"%s\" parsed as %llu", bad[i], (unsigned long long)v);
		}
		EXPECT_EQ(0xdeadbeef, v);
	}
	ASSERT_EQ(0, size_of("9223372036854775807", &v));
	ASSERT_EQ((uint64_t)INT64_MAX, v);
}

TEST(devices)
{
	uint32_t i;

	ASSERT_EQ(0, parse_device("/dev/qcow23", &i));
	ASSERT_EQ(3, i);
	ASSERT_EQ(0, parse_device("qcow217", &i));
	ASSERT_EQ(17, i);
	ASSERT_EQ(0, parse_device("0", &i));
	ASSERT_EQ(0, i);
	ASSERT_NE(0, parse_device("", &i));
	ASSERT_NE(0, parse_device("/dev/qcow2", &i));
	ASSERT_NE(0, parse_device("/dev/sda", &i));
	ASSERT_NE(0, parse_device("qcow2x", &i));
	ASSERT_NE(0, parse_device("qcow21x", &i));
	ASSERT_NE(0, parse_device("99999999999", &i));
}

/* Checked against qemu-img info's "virtual size" and "disk size". */
TEST(size_units_as_qemu_img)
{
	char b[64];

	size_str(0, b, sizeof(b));
	ASSERT_STREQ("0 B", b);
	size_str(999, b, sizeof(b));
	ASSERT_STREQ("999 B", b);
	/* From 1000 on, the next unit: never four digits before the point. */
	size_str(1000, b, sizeof(b));
	ASSERT_STREQ("0.977 KiB", b);
	size_str(1024, b, sizeof(b));
	ASSERT_STREQ("1 KiB", b);
	size_str(1536, b, sizeof(b));
	ASSERT_STREQ("1.5 KiB", b);
	size_str(204 << 10, b, sizeof(b));
	ASSERT_STREQ("204 KiB", b);
	size_str(64ULL << 30, b, sizeof(b));
	ASSERT_STREQ("64 GiB", b);
	size_str((1ULL << 30) + 512 * 3, b, sizeof(b));
	ASSERT_STREQ("1 GiB", b);
	size_str(UINT64_MAX, b, sizeof(b));
	ASSERT_STREQ("16 EiB", b);
	size_exact(64ULL << 30, b, sizeof(b));
	ASSERT_STREQ("64 GiB (68719476736 bytes)", b);
	size_exact(1000, b, sizeof(b));
	ASSERT_STREQ("0.977 KiB (1000 bytes)", b);
}

/* lsblk's column form. */
TEST(size_columns)
{
	char b[32];

	size_short(0, b, sizeof(b));
	ASSERT_STREQ("0B", b);
	size_short(1023, b, sizeof(b));
	ASSERT_STREQ("1023B", b);
	size_short(1024, b, sizeof(b));
	ASSERT_STREQ("1K", b);
	size_short(1536, b, sizeof(b));
	ASSERT_STREQ("1.5K", b);
	size_short(64ULL << 30, b, sizeof(b));
	ASSERT_STREQ("64G", b);
	/* 1.96G rounds to 2G, not "1.10G". */
	size_short((2ULL << 30) - (40ULL << 20), b, sizeof(b));
	ASSERT_STREQ("2G", b);
	size_short(UINT64_MAX, b, sizeof(b));
	ASSERT_STREQ("16E", b);
}

TEST(escaped_names)
{
	char b[64];

	ASSERT_STREQ("/img/a b.qcow2", escape_name("/img/a b.qcow2", false, b, sizeof(b)));
	ASSERT_STREQ("/img/a\\x20b.qcow2", escape_name("/img/a b.qcow2", true, b, sizeof(b)));
	ASSERT_STREQ("new\\x0aline\\x5c", escape_name("new\nline\\", false, b, sizeof(b)));
	/* Cut short, never overrun. */
	escape_name("\n\n\n\n\n\n", false, b, 12);
	ASSERT_STREQ("\\x0a\\x0a", b);
}

/* What @fn writes with a JSON writer, as a string. */
static char *json_text(void (*fn)(struct json *j, const void *arg), const void *arg)
{
	static char out[1024];
	char *buf = NULL;
	size_t len = 0;
	struct json j;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	json_begin(&j, f);
	fn(&j, arg);
	fclose(f);
	snprintf(out, sizeof(out), "%s", buf);
	free(buf);
	return out;
}

static void one_string(struct json *j, const void *arg)
{
	json_object(j, NULL);
	json_string(j, "s", arg);
	json_end(j);
}

static const char *json_of(const char *s)
{
	const char *t = json_text(one_string, s);
	static char v[512];
	size_t n;

	/* {\n    "s": VALUE\n}\n */
	if (!t || strncmp(t, "{\n    \"s\": ", 11))
		return "(bad document)";
	n = strlen(t + 11);
	if (n < 3)
		return "(bad document)";
	snprintf(v, sizeof(v), "%.*s", (int)(n - 3), t + 11);
	return v;
}

TEST(json_strings)
{
	ASSERT_STREQ("\"plain.qcow2\"", json_of("plain.qcow2"));
	ASSERT_STREQ("\"a \\\"quoted\\\" name\"", json_of("a \"quoted\" name"));
	ASSERT_STREQ("\"back\\\\slash\"", json_of("back\\slash"));
	ASSERT_STREQ("\"new\\u000aline\\u0009tab\\u001b\\u007f\"",
		     json_of("new\nline\ttab\x1b\x7f"));
	ASSERT_STREQ("\"\"", json_of(""));
	/* UTF-8 passes; bytes that are not UTF-8 become U+FFFD. */
	ASSERT_STREQ("\"\xc3\x9c" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9\"", json_of("\xc3\x9c" "n\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9"));
	ASSERT_STREQ("\"\xf0\x9f\x98\x80\"", json_of("\xf0\x9f\x98\x80"));
	ASSERT_STREQ("\"a\\ufffdb\"", json_of("a\xff" "b"));
	ASSERT_STREQ("\"\\ufffd\\ufffd\"", json_of("\xc0\xaf"));		/* overlong */
	ASSERT_STREQ("\"\\ufffd\\ufffd\\ufffd\"", json_of("\xed\xa0\x80"));	/* surrogate */
	ASSERT_STREQ("\"\\ufffd\\ufffd\"", json_of("\xe2\x82"));		/* cut short */
}

static void nested(struct json *j, const void *arg)
{
	(void)arg;
	json_object(j, NULL);
	json_array(j, "devices");
	json_object(j, NULL);
	json_string(j, "name", "/dev/qcow20");
	json_u64(j, "size", 1ULL << 30);
	json_bool(j, "ro", true);
	json_end(j);
	json_object(j, NULL);
	json_end(j);
	json_end(j);
	json_array(j, "empty");
	json_end(j);
	json_u64(j, "max", UINT64_MAX);
	json_bool(j, "no", false);
	json_end(j);
}

/* Commas, nesting and indentation, as qemu-img's JSON looks. */
TEST(json_documents)
{
	ASSERT_STREQ("{\n"
		     "    \"devices\": [\n"
		     "        {\n"
		     "            \"name\": \"/dev/qcow20\",\n"
		     "            \"size\": 1073741824,\n"
		     "            \"ro\": true\n"
		     "        },\n"
		     "        {}\n"
		     "    ],\n"
		     "    \"empty\": [],\n"
		     "    \"max\": 18446744073709551615,\n"
		     "    \"no\": false\n"
		     "}\n", json_text(nested, NULL));
}

TEST_HARNESS_MAIN
