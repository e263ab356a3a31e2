// SPDX-License-Identifier: GPL-2.0
/*
 * The attach, detach, status and list commands: what they return, and how
 * they refuse bad requests. Runs in a scratch directory (attach.sh).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/qcow2.h>

#include "kselftest_harness.h"

#define CONTROL "/dev/" QCOW2_CONTROL_NAME

/* Create IMAGE of @size bytes with the kernel's create; return its fd. */
static int make_image(int ctl, const char *path, __u64 size)
{
	struct qcow2_create c = { .size = size };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	c.fd = fd;
	if (ioctl(ctl, QCOW2_IOC_CREATE, &c)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int attach(int ctl, int fd, __u32 flags, __u32 index, __u32 *out)
{
	struct qcow2_attach a = { .fd = fd, .flags = flags, .index = index };
	int ret = ioctl(ctl, QCOW2_IOC_ATTACH, &a);

	if (!ret && out)
		*out = a.index;
	return ret ? -errno : 0;
}

static int detach(int ctl, __u32 index, __u32 flags)
{
	struct qcow2_detach d = { .index = index, .flags = flags };

	return ioctl(ctl, QCOW2_IOC_DETACH, &d) ? -errno : 0;
}

static int status(int ctl, __u32 index, struct qcow2_status *s)
{
	memset(s, 0, sizeof(*s));
	s->index = index;
	return ioctl(ctl, QCOW2_IOC_STATUS, s) ? -errno : 0;
}

FIXTURE(dev) {
	int ctl;
	int fd;
	int fd2;
};

FIXTURE_SETUP(dev)
{
	self->ctl = open(CONTROL, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->ctl);
	self->fd = make_image(self->ctl, "a.qcow2", 64 << 20);
	ASSERT_LE(0, self->fd);
	self->fd2 = make_image(self->ctl, "b.qcow2", 32 << 20);
	ASSERT_LE(0, self->fd2);
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
	close(self->fd2);
	close(self->ctl);
	unlink("a.qcow2");
	unlink("b.qcow2");
}

TEST_F(dev, attach_status_list_detach)
{
	struct qcow2_status s;
	struct stat st;
	struct qcow2_list l = { 0 };
	__u32 idx, ids[4] = { 0 };

	ASSERT_EQ(0, attach(self->ctl, self->fd, 0, 0, &idx));
	ASSERT_EQ(0, status(self->ctl, idx, &s));
	EXPECT_EQ(64 << 20, s.size);
	EXPECT_EQ(65536, s.cluster_size);
	EXPECT_EQ(3, s.version);
	EXPECT_EQ(16, s.refcount_bits);
	EXPECT_EQ(0, s.state & (QCOW2_STATE_READ_ONLY | QCOW2_STATE_CORRUPT));
	EXPECT_EQ(4 << 20, s.l2_cache_size);
	EXPECT_EQ(1 << 20, s.refcount_cache_size);
	EXPECT_NE(NULL, strstr(s.path, "/a.qcow2")) TH_LOG("path %s", s.path);
	/* The image's identity: what fstat() of the file says. */
	ASSERT_EQ(0, fstat(self->fd, &st));
	EXPECT_EQ(st.st_ino, s.image_ino);
	EXPECT_EQ(major(st.st_dev), s.image_dev_major);
	EXPECT_EQ(minor(st.st_dev), s.image_dev_minor);
	/* Out-only fields that were reserved: must be zero on input. */
	memset(&s, 0, sizeof(s));
	s.index = idx;
	s.image_ino = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_STATUS, &s));
	EXPECT_EQ(EINVAL, errno);
	memset(&s, 0, sizeof(s));
	s.index = idx;
	s.image_dev_minor = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_STATUS, &s));
	EXPECT_EQ(EINVAL, errno);

	ASSERT_EQ(0, ioctl(self->ctl, QCOW2_IOC_LIST, &l));
	EXPECT_EQ(1, l.count);
	l.indexes = (uintptr_t)ids;
	l.count = 4;
	ASSERT_EQ(0, ioctl(self->ctl, QCOW2_IOC_LIST, &l));
	EXPECT_EQ(1, l.count);
	EXPECT_EQ(idx, ids[0]);

	ASSERT_EQ(0, detach(self->ctl, idx, 0));
	EXPECT_EQ(-ENXIO, status(self->ctl, idx, &s));
	EXPECT_EQ(-ENXIO, detach(self->ctl, idx, 0));
	l.count = 4;
	ASSERT_EQ(0, ioctl(self->ctl, QCOW2_IOC_LIST, &l));
	EXPECT_EQ(0, l.count);
}

TEST_F(dev, wanted_index)
{
	__u32 idx;

	ASSERT_EQ(0, attach(self->ctl, self->fd, QCOW2_ATTACH_INDEX, 7, &idx));
	EXPECT_EQ(7, idx);
	EXPECT_EQ(-EEXIST, attach(self->ctl, self->fd2, QCOW2_ATTACH_INDEX, 7, NULL));
	EXPECT_EQ(-EINVAL, attach(self->ctl, self->fd2, QCOW2_ATTACH_INDEX,
				  QCOW2_MAX_DEVICES, NULL));
	/* An index without the flag is a mistake, not a wish. */
	EXPECT_EQ(-EINVAL, attach(self->ctl, self->fd2, 0, 3, NULL));
	EXPECT_EQ(0, access("/sys/block/qcow27/qcow2/cluster_size", R_OK));
	EXPECT_EQ(0, detach(self->ctl, 7, 0));
}

TEST_F(dev, same_image_twice)
{
	__u32 idx;
	int fd;

	ASSERT_EQ(0, attach(self->ctl, self->fd, 0, 0, &idx));
	/* Through another open file of the same image too. */
	fd = open("a.qcow2", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EBUSY, attach(self->ctl, fd, QCOW2_ATTACH_READ_ONLY, 0, NULL));
	EXPECT_EQ(-EBUSY, attach(self->ctl, self->fd, 0, 0, NULL));
	close(fd);
	EXPECT_EQ(0, detach(self->ctl, idx, 0));
}

TEST_F(dev, bad_requests)
{
	struct qcow2_attach a = { .fd = self->fd };
	struct qcow2_status s;
	int dirfd, ro;

	a.flags = 1U << 31;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = 0;
	a.reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.reserved[2] = 0;
	a.reserved1 = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.reserved1 = 0;
	/* A snapshot view is read-only, and names its snapshot. */
	a.flags = QCOW2_ATTACH_SNAPSHOT;
	a.snapshot = (uintptr_t)"1";
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = QCOW2_ATTACH_SNAPSHOT | QCOW2_ATTACH_READ_ONLY;
	a.snapshot = 0;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = QCOW2_ATTACH_SNAPSHOT | QCOW2_ATTACH_READ_ONLY;
	a.snapshot = (uintptr_t)"";
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	/* An image without snapshots has none to show. */
	a.snapshot = (uintptr_t)"1";
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(ENOENT, errno);
	a.flags = 0;
	a.snapshot = 0;
	/* A count without an array, an array without a count. */
	a.backing_count = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.backing_count = 0;
	a.backing = (uintptr_t)&s;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.backing = 0;

	EXPECT_EQ(-EBADF, attach(self->ctl, -1, 0, 0, NULL));
	dirfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dirfd);
	EXPECT_EQ(-EINVAL, attach(self->ctl, dirfd, QCOW2_ATTACH_READ_ONLY, 0, NULL));
	close(dirfd);
	/* Read-write needs a file open for writing. */
	ro = open("a.qcow2", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ro);
	EXPECT_EQ(-EBADF, attach(self->ctl, ro, 0, 0, NULL));
	close(ro);

	EXPECT_EQ(-ENXIO, detach(self->ctl, 4000, 0));
	EXPECT_EQ(-EINVAL, detach(self->ctl, 0, 1U << 7));
	memset(&s, 0, sizeof(s));
	s.flags = 1;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_STATUS, &s));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, cache_sizes)
{
	struct qcow2_attach a = { .fd = self->fd };
	struct qcow2_status s;

	/* Asked sizes round to tables, with at least four of each. */
	a.l2_cache_size = 8 * 65536;
	a.refcount_cache_size = 1;
	ASSERT_EQ(0, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	ASSERT_EQ(0, status(self->ctl, a.index, &s));
	EXPECT_EQ(8 * 65536, s.l2_cache_size);
	EXPECT_EQ(4 * 65536, s.refcount_cache_size);
	EXPECT_EQ(0, detach(self->ctl, a.index, 0));
	/* Beyond 1 GiB is refused. */
	a.index = 0;
	a.l2_cache_size = 2ULL << 30;
	EXPECT_EQ(-1, ioctl(self->ctl, QCOW2_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, read_only)
{
	struct qcow2_status s;
	char name[32], buf[512] = { 1 };
	__u32 idx;
	int ro, bd;

	ro = open("a.qcow2", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, attach(self->ctl, ro, QCOW2_ATTACH_READ_ONLY, 0, &idx));
	close(ro);
	ASSERT_EQ(0, status(self->ctl, idx, &s));
	EXPECT_TRUE(s.state & QCOW2_STATE_READ_ONLY);
	snprintf(name, sizeof(name), "/dev/qcow2%u", idx);
	bd = open(name, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, bd);
	EXPECT_EQ(512, pread(bd, buf, 512, 0));
	EXPECT_EQ(0, buf[0]);
	close(bd);
	/* The block layer refuses to open a read-only disk for writing. */
	bd = open(name, O_WRONLY | O_CLOEXEC);
	if (bd >= 0) {
		EXPECT_EQ(-1, pwrite(bd, buf, 512, 0));
		close(bd);
	} else {
		EXPECT_TRUE(errno == EACCES || errno == EROFS) TH_LOG("%s", strerror(errno));
	}
	EXPECT_EQ(0, detach(self->ctl, idx, 0));
}

TEST_F(dev, busy_and_deferred_detach)
{
	struct qcow2_status s;
	char name[32];
	__u32 idx;
	int bd, i;

	ASSERT_EQ(0, attach(self->ctl, self->fd, 0, 0, &idx));
	snprintf(name, sizeof(name), "/dev/qcow2%u", idx);
	bd = open(name, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, bd);
	EXPECT_EQ(-EBUSY, detach(self->ctl, idx, 0));
	EXPECT_EQ(0, detach(self->ctl, idx, QCOW2_DETACH_DEFERRED));
	ASSERT_EQ(0, status(self->ctl, idx, &s));
	EXPECT_TRUE(s.state & QCOW2_STATE_AUTOCLEAR);
	close(bd);
	/* The detach runs in a worker after the last close. */
	for (i = 0; i < 100 && !status(self->ctl, idx, &s); i++)
		usleep(50000);
	EXPECT_EQ(-ENXIO, status(self->ctl, idx, &s));
	/* Gone from status first; the image is free once teardown ends. */
	for (i = 0; i < 100 && attach(self->ctl, self->fd, 0, 0, &idx) == -EBUSY; i++)
		usleep(50000);
	ASSERT_GT(100, i);
	/* A device not open goes at once even when deferred is asked. */
	EXPECT_EQ(0, detach(self->ctl, idx, QCOW2_DETACH_DEFERRED));
	EXPECT_EQ(-ENXIO, status(self->ctl, idx, &s));
}

TEST_HARNESS_MAIN
