// SPDX-License-Identifier: GPL-2.0
/*
 * The control device's ABI: who may open it, what the version ioctl
 * answers, and how unknown commands, flags and reserved fields are refused.
 *
 * Expects the module to be loaded (ctl_test.sh loads it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <linux/fs.h>
#include <linux/qcow2.h>

#include "kselftest_harness.h"

#define CONTROL "/dev/" QCOW2_CONTROL_NAME

FIXTURE(ctl) {
	int fd;
};

FIXTURE_SETUP(ctl)
{
	self->fd = open(CONTROL, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", CONTROL, strerror(errno));
}

FIXTURE_TEARDOWN(ctl)
{
	close(self->fd);
}

TEST_F(ctl, version)
{
	struct qcow2_version v = { 0 };

	ASSERT_EQ(0, ioctl(self->fd, QCOW2_IOC_VERSION, &v));
	EXPECT_EQ(QCOW2_ABI_VERSION, v.abi_version);
	EXPECT_EQ(QCOW2_FEATURES_ALL, v.features);
	/* Input-only fields come back as they went in. */
	EXPECT_EQ(0, v.flags);
}

TEST_F(ctl, version_unknown_flags)
{
	struct qcow2_version v = { 0 };
	int bit;

	for (bit = 0; bit < 32; bit++) {
		v.flags = 1U << bit;
		EXPECT_EQ(-1, ioctl(self->fd, QCOW2_IOC_VERSION, &v));
		EXPECT_EQ(EINVAL, errno) TH_LOG("flag bit %d", bit);
	}
}

TEST_F(ctl, version_reserved_nonzero)
{
	struct qcow2_version v;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(v.reserved); i++) {
		memset(&v, 0, sizeof(v));
		v.reserved[i] = 1ULL << (i * 9 % 64);
		EXPECT_EQ(-1, ioctl(self->fd, QCOW2_IOC_VERSION, &v));
		EXPECT_EQ(EINVAL, errno) TH_LOG("reserved[%u]", i);
	}
}

TEST_F(ctl, version_bad_pointer)
{
	EXPECT_EQ(-1, ioctl(self->fd, QCOW2_IOC_VERSION, NULL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(ctl, unknown_commands)
{
	struct qcow2_version v = { 0 };
	const unsigned long cmds[] = {
		/* Unused numbers of ours, in every direction. */
		_IO(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 0x3f),
		_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 0x3f, struct qcow2_version),
		/* Our number with a wrong size or direction. */
		_IOWR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 0, __u64),
		_IOR(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 0, struct qcow2_version),
		_IOW(QCOW2_IOC_TYPE, QCOW2_IOC_BASE + 0, struct qcow2_version),
		/* Other drivers' commands. */
		0x4C00,		/* LOOP_SET_FD */
		BLKGETSIZE64,
		FIONREAD + 0x1000,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], &v));
		EXPECT_EQ(ENOTTY, errno) TH_LOG("command 0x%lx", cmds[i]);
	}
}

TEST(node_is_root_only)
{
	struct stat st;

	ASSERT_EQ(0, stat(CONTROL, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(10, major(st.st_rdev));	/* MISC_MAJOR */
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
}

TEST(non_root_open_refused)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(2);
		fd = open(CONTROL, O_RDWR);
		if (fd >= 0)
			_exit(3);
		_exit(errno == EACCES || errno == EPERM ? 0 : 4);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 2 cannot drop privileges, 3 open succeeded, 4 wrong errno");
}

TEST_HARNESS_MAIN
