// SPDX-License-Identifier: GPL-2.0
/*
 * QCOW2_IOC_CREATE called directly: every bad request fails with its errno
 * and leaves the file untouched, and the struct's size versioning works.
 * Successful creates are checked against qemu-img by create_matrix.sh.
 *
 * Expects the module to be loaded and the current directory to be on a
 * filesystem with room for small images (create.sh arranges both).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/qcow2.h>

#include "kselftest_harness.h"

#define CONTROL "/dev/" QCOW2_CONTROL_NAME
#define GiB (1ULL << 30)

FIXTURE(create) {
	int ctl;
	int fd;
	struct qcow2_create arg;
};

FIXTURE_SETUP(create)
{
	self->ctl = open(CONTROL, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->ctl);
	self->fd = open("create_test.img", O_RDWR | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, self->fd);
	memset(&self->arg, 0, sizeof(self->arg));
	self->arg.fd = self->fd;
	self->arg.size = GiB;
}

FIXTURE_TEARDOWN(create)
{
	close(self->fd);
	close(self->ctl);
	unlink("create_test.img");
}

/* The request fails with @err and the file stays empty. */
static int refused(struct __test_metadata *_metadata, int ctl, int fd,
		   struct qcow2_create *arg, int err)
{
	struct stat st;

	EXPECT_EQ(-1, ioctl(ctl, QCOW2_IOC_CREATE, arg));
	EXPECT_EQ(err, errno);
	EXPECT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(0, st.st_size);
	return 0;
}

#define REFUSED(err) refused(_metadata, self->ctl, self->fd, &self->arg, (err))

TEST_F(create, defaults)
{
	unsigned char magic[4];

	ASSERT_EQ(0, ioctl(self->ctl, QCOW2_IOC_CREATE, &self->arg));
	/* 1 GiB with 64 KiB clusters and no preallocation: as qemu-img. */
	EXPECT_EQ(196624, self->arg.file_length);
	ASSERT_EQ(4, pread(self->fd, magic, 4, 0));
	EXPECT_EQ(0, memcmp(magic, "QFI\xfb", 4));
}

TEST_F(create, unknown_flags)
{
	int bit;

	for (bit = 2; bit < 32; bit++) {
		self->arg.flags = 1U << bit;
		REFUSED(EINVAL);
	}
}

TEST_F(create, reserved_nonzero)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(self->arg.reserved); i++) {
		memset(self->arg.reserved, 0, sizeof(self->arg.reserved));
		self->arg.reserved[i] = 1;
		REFUSED(EINVAL);
	}
}

TEST_F(create, cluster_size)
{
	const __u32 bad[] = { 1, 256, 511, 768, 65535, 4U << 20, 1U << 31 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		self->arg.cluster_size = bad[i];
		REFUSED(EINVAL);
	}
}

TEST_F(create, refcount_bits)
{
	const __u32 bad[] = { 3, 5, 12, 128, 1U << 31 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		self->arg.refcount_bits = bad[i];
		REFUSED(EINVAL);
	}
}

TEST_F(create, size_not_multiple_of_512)
{
	self->arg.size = GiB + 1;
	REFUSED(EINVAL);
	self->arg.size = 511;
	REFUSED(EINVAL);
}

TEST_F(create, size_beyond_l1_limit)
{
	/* 512-byte clusters map 32 KiB per L1 entry: 1 TiB needs 32 Mi entries. */
	self->arg.cluster_size = 512;
	self->arg.size = 1024 * GiB;
	REFUSED(EFBIG);
	self->arg.cluster_size = 0;
	self->arg.size = ~0ULL << 9;
	REFUSED(EFBIG);
}

TEST_F(create, version)
{
	self->arg.version = 1;
	REFUSED(EINVAL);
	self->arg.version = 4;
	REFUSED(EINVAL);
}

TEST_F(create, version2_only_options)
{
	self->arg.version = 2;
	self->arg.refcount_bits = 1;
	REFUSED(EINVAL);
	self->arg.refcount_bits = 64;
	REFUSED(EINVAL);
	self->arg.refcount_bits = 0;
	self->arg.flags = QCOW2_CREATE_LAZY_REFCOUNTS;
	REFUSED(EINVAL);
	self->arg.flags = QCOW2_CREATE_EXTENDED_L2;
	REFUSED(EINVAL);
}

TEST_F(create, extended_l2_small_clusters)
{
	self->arg.flags = QCOW2_CREATE_EXTENDED_L2;
	self->arg.cluster_size = 8192;
	REFUSED(EINVAL);
}

TEST_F(create, prealloc_mode)
{
	self->arg.prealloc = 4;
	REFUSED(EINVAL);
	self->arg.prealloc = ~0U;
	REFUSED(EINVAL);
}

TEST_F(create, prealloc_with_backing)
{
	__u32 mode;

	self->arg.backing_file = (uintptr_t)"base.qcow2";
	for (mode = QCOW2_CREATE_PREALLOC_METADATA;
	     mode <= QCOW2_CREATE_PREALLOC_FULL; mode++) {
		self->arg.prealloc = mode;
		REFUSED(EINVAL);
	}
	/* Extended L2 can keep the backing file visible: allowed, as in QEMU. */
	self->arg.prealloc = QCOW2_CREATE_PREALLOC_METADATA;
	self->arg.flags = QCOW2_CREATE_EXTENDED_L2;
	EXPECT_EQ(0, ioctl(self->ctl, QCOW2_IOC_CREATE, &self->arg));
}

TEST_F(create, backing_names)
{
	char name[1025];

	memset(name, 'a', sizeof(name) - 1);
	name[1024] = 0;
	self->arg.backing_file = (uintptr_t)name;
	REFUSED(EINVAL);			/* 1024 bytes: too long */
	self->arg.backing_file = (uintptr_t)"";
	REFUSED(EINVAL);
	self->arg.backing_file = 0;
	self->arg.backing_format = (uintptr_t)"qcow2";
	REFUSED(EINVAL);			/* a format without a file */
	self->arg.backing_file = (uintptr_t)"base";
	self->arg.backing_format = (uintptr_t)"0123456789abcdef";
	REFUSED(EINVAL);			/* 16 bytes: too long */
	self->arg.backing_format = 1;		/* unmapped */
	REFUSED(EFAULT);
	self->arg.backing_format = 0;
	/* 1023 bytes do not fit a 512-byte cluster after the header. */
	name[1023] = 0;
	self->arg.backing_file = (uintptr_t)name;
	self->arg.cluster_size = 512;
	REFUSED(EINVAL);
	self->arg.cluster_size = 0;
	EXPECT_EQ(0, ioctl(self->ctl, QCOW2_IOC_CREATE, &self->arg));
}

TEST_F(create, bad_descriptors)
{
	int fd;

	self->arg.fd = -1;
	REFUSED(EBADF);
	self->arg.fd = 12345;
	REFUSED(EBADF);

	fd = open("create_test.img", O_RDONLY);
	ASSERT_LE(0, fd);
	self->arg.fd = fd;
	REFUSED(EBADF);			/* not open for writing */
	close(fd);

	fd = open(".", O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	self->arg.fd = fd;
	REFUSED(EBADF);			/* a directory cannot be open for writing */
	close(fd);

	fd = open("/dev/null", O_WRONLY);
	ASSERT_LE(0, fd);
	self->arg.fd = fd;
	REFUSED(EINVAL);		/* not a regular file */
	close(fd);

	fd = open("create_test.img", O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	self->arg.fd = fd;
	REFUSED(EINVAL);		/* O_APPEND would misplace every write */
	close(fd);
}

TEST_F(create, file_not_empty)
{
	struct stat st;

	ASSERT_EQ(1, pwrite(self->fd, "x", 1, 4096));
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_CREATE, &self->arg));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, fstat(self->fd, &st));
	EXPECT_EQ(4097, st.st_size);
}

TEST_F(create, bad_pointer)
{
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_CREATE, NULL));
	EXPECT_EQ(EFAULT, errno);
}

/* The struct's size is its version (see uapi/linux/qcow2.h). */
TEST_F(create, struct_size_versions)
{
	struct {
		struct qcow2_create arg;
		__u64 future[4];
	} big;
	const unsigned long big_cmd = _IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 1,
					    typeof(big));
	const unsigned long small_cmd = _IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 1,
					      struct qcow2_version);

	memset(&big, 0, sizeof(big));
	big.arg = self->arg;
	big.future[3] = 1;		/* a field this module does not know */
	EXPECT_EQ(-1, ioctl(self->ctl, big_cmd, &big));
	EXPECT_EQ(EINVAL, errno);
	big.future[3] = 0;		/* unknown but zero: accepted */
	ASSERT_EQ(0, ioctl(self->ctl, big_cmd, &big));
	EXPECT_EQ(196624, big.arg.file_length);

	/* Smaller than the first version: not this command. */
	EXPECT_EQ(-1, ioctl(self->ctl, small_cmd, &self->arg));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_HARNESS_MAIN
