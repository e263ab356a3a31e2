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

TEST(human_units)
{
	char b[32];

	human(0, b, sizeof(b));
	ASSERT_STREQ("0 B", b);
	human(1023, b, sizeof(b));
	ASSERT_STREQ("1023 B", b);
	human(1024, b, sizeof(b));
	ASSERT_STREQ("1 KiB", b);
	human(1536, b, sizeof(b));
	ASSERT_STREQ("1.5 KiB", b);
	human(64ULL << 30, b, sizeof(b));
	ASSERT_STREQ("64 GiB", b);
	human(UINT64_MAX, b, sizeof(b));
	ASSERT_STREQ("16 EiB", b);
}

/* What json_str() prints for @s. */
static char *json_of(const char *s)
{
	static char out[256];
	FILE *f = tmpfile();
	size_t n;

	if (!f)
		return NULL;
	fflush(stdout);
	int saved = dup(1);

	dup2(fileno(f), 1);
	json_str(s);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	fclose(f);
	return out;
}

TEST(json_strings)
{
	ASSERT_STREQ("\"plain.qcow2\"", json_of("plain.qcow2"));
	ASSERT_STREQ("\"a \\\"quoted\\\" name\"", json_of("a \"quoted\" name"));
	ASSERT_STREQ("\"back\\\\slash\"", json_of("back\\slash"));
	ASSERT_STREQ("\"new\\u000aline\\u0009tab\\u001b\"", json_of("new\nline\ttab\x1b"));
	ASSERT_STREQ("\"\"", json_of(""));
}

TEST_HARNESS_MAIN
