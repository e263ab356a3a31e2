// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU's image locks, taken on an attached image so that QEMU refuses to
 * write an image the driver has attached (and to read one it writes), and
 * the driver refuses an image a QEMU process uses in a conflicting way.
 *
 * QEMU (block/file-posix.c) takes shared OFD locks on single bytes of the
 * image file: byte 100 + n while it uses permission n of its block layer,
 * byte 200 + n while it refuses to share permission n with other users.
 * The permissions (include/block/block-common.h) are bits 0 to 3:
 * consistent read, write, write unchanged, resize. Before it opens an image
 * it asks whether any other open file holds byte 200 + n of a permission
 * it wants, or byte 100 + n of one it refuses to share; either is a
 * conflict. The bytes are locked, never written: the image is unchanged.
 */

#include "qcow2.h"

#define QEMU_LOCK_PERM_BASE	100	/* RAW_LOCK_PERM_BASE */
#define QEMU_LOCK_SHARED_BASE	200	/* RAW_LOCK_SHARED_BASE */
#define QEMU_PERMS		4

#define QEMU_PERM_CONSISTENT_READ	BIT(0)
#define QEMU_PERM_WRITE			BIT(1)
#define QEMU_PERM_WRITE_UNCHANGED	BIT(2)
#define QEMU_PERM_RESIZE		BIT(3)

/* For the log line, what the other user's byte means. */
static const char *const perm_names[QEMU_PERMS] = {
	"consistent read", "write", "write unchanged", "resize",
};

static const char *const unshared_names[QEMU_PERMS] = {
	"deny consistent read", "deny write", "deny write unchanged",
	"deny resize",
};

/*
 * Test byte @off as qemu_lock_fd_test() does: would a write lock on it
 * conflict with a lock of another open file? 0, -EBUSY if so, or the
 * filesystem's error.
 */
static int qemu_lock_test(struct file *file, loff_t off)
{
	struct file_lock fl;
	int ret;

	qcow2_ofd_lock_init(&fl, file, F_WRLCK, off, off);
	ret = vfs_test_lock(file, &fl);
	if (!ret && qcow2_lock_type(&fl) != F_UNLCK)
		ret = -EBUSY;
	/* The conflicting lock's copy may hold a reference (lockd, NFS). */
	locks_release_private(&fl);
	return ret;
}

/*
 * Take byte @off as qemu_lock_fd() does, shared: other users may take it
 * too. -EBUSY if another open file holds it exclusively.
 */
static int qemu_lock_take(struct file *file, loff_t off)
{
	struct file_lock fl;
	int ret;

	qcow2_ofd_lock_init(&fl, file, F_RDLCK, off, off);
	ret = vfs_lock_file(file, F_SETLK, &fl, NULL);
	locks_release_private(&fl);
	return ret == -EAGAIN ? -EBUSY : ret;
}

/*
 * raw_check_lock_bytes(): other users' permissions against what we do not
 * share, then their refusals against the permissions we use.
 */
static int qemu_lock_check(struct file *file, unsigned int perm,
			   unsigned int shared, const char **holder)
{
	int i, ret;

	for (i = 0; i < QEMU_PERMS; i++) {
		if (shared & BIT(i))
			continue;
		ret = qemu_lock_test(file, QEMU_LOCK_PERM_BASE + i);
		if (ret) {
			*holder = perm_names[i];
			return ret;
		}
	}
	for (i = 0; i < QEMU_PERMS; i++) {
		if (!(perm & BIT(i)))
			continue;
		ret = qemu_lock_test(file, QEMU_LOCK_SHARED_BASE + i);
		if (ret) {
			*holder = unshared_names[i];
			return ret;
		}
	}
	return 0;
}

/* raw_apply_lock_bytes() */
static int qemu_lock_apply(struct file *file, unsigned int perm,
			   unsigned int shared, const char **holder)
{
	int i, ret;

	for (i = 0; i < QEMU_PERMS; i++) {
		if (!(perm & BIT(i)))
			continue;
		ret = qemu_lock_take(file, QEMU_LOCK_PERM_BASE + i);
		if (ret) {
			*holder = perm_names[i];
			return ret;
		}
	}
	for (i = 0; i < QEMU_PERMS; i++) {
		if (shared & BIT(i))
			continue;
		ret = qemu_lock_take(file, QEMU_LOCK_SHARED_BASE + i);
		if (ret) {
			*holder = unshared_names[i];
			return ret;
		}
	}
	return 0;
}

/**
 * qcow2_image_lock - take QEMU's locks for the driver's use of an image
 * @file: the driver's own open file of the image
 * @write: the device writes the image
 * @holder: set to the name of a conflicting lock
 *
 * The driver uses the image as QEMU's qcow2 driver uses its image file
 * (block.c, bdrv_default_perms_for_storage()): consistent read, plus write
 * and resize when attached read-write; it shares consistent read and write
 * unchanged, never write or resize, as its caches hold the metadata. So a
 * read-write attach is a QEMU writer: every other QEMU user but one with
 * force-share (-U) conflicts. A read-only attach is a QEMU reader: qemu-img
 * info and check still open the image, QEMU writers do not.
 *
 * The locks belong to @file, so they go when its last reference does
 * (locks_remove_file() in __fput()): detach needs no unlock, and neither
 * does a failed attach.
 *
 * Return: 0, or -EBUSY when another open file of the image holds a
 * conflicting lock. A filesystem that cannot lock does not stop the attach
 * (nor the locks taken before its error): it is logged.
 */
int qcow2_image_lock(struct file *file, bool write, const char **holder)
{
	unsigned int perm = QEMU_PERM_CONSISTENT_READ;
	unsigned int shared = QEMU_PERM_CONSISTENT_READ |
			      QEMU_PERM_WRITE_UNCHANGED;
	int ret;

	if (!IS_ENABLED(CONFIG_FILE_LOCKING))
		return 0;
	if (write)
		perm |= QEMU_PERM_WRITE | QEMU_PERM_RESIZE;

	/*
	 * QEMU takes its locks, then checks: of two users starting together
	 * at least one sees the other. Checking first as well keeps an
	 * attach that will fail from making a QEMU starting meanwhile fail.
	 */
	ret = qemu_lock_check(file, perm, shared, holder);
	if (!ret)
		ret = qemu_lock_apply(file, perm, shared, holder);
	if (!ret)
		ret = qemu_lock_check(file, perm, shared, holder);
	if (ret && ret != -EBUSY) {
		pr_warn("attach %pD: cannot lock the image (%d): QEMU will not see that it is in use\n",
			file, ret);
		ret = 0;
	}
	return ret;
}
