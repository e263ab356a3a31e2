// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: the control device: opening it (loading the module if needed)
 * and the ioctls every command shares.
 */
#include "qcow2ctl.h"

/* Open the control device, loading the module if it is not there yet. */
int open_control(void)
{
	int fd, status;
	pid_t pid;

	fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		goto out;

	pid = fork();
	if (pid == 0) {
		execlp("modprobe", "modprobe", "-q", "qcow2", (char *)NULL);
		_exit(127);
	}
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)
		fd = open(CONTROL_PATH, O_RDWR | O_CLOEXEC);
	else
		errno = ENOENT;
out:
	if (fd < 0) {
		int err = errno;

		fprintf(stderr, "%s: cannot open %s: %s\n", progname,
			CONTROL_PATH, strerror(err));
		if (err == ENOENT)
			fprintf(stderr, "%s: load the module first (insmod qcow2.ko or modprobe qcow2)\n",
				progname);
		else if (err == EACCES || err == EPERM)
			fprintf(stderr, "%s: %s is for root only\n", progname,
				CONTROL_PATH);
	}
	return fd;
}

int get_version(int fd, struct qcow2_version *v)
{
	memset(v, 0, sizeof(*v));
	if (ioctl(fd, QCOW2_IOC_VERSION, v)) {
		fprintf(stderr, "%s: QCOW2_IOC_VERSION: %s\n", progname,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* Indexes of the attached devices; returns the count or -1. */
int list_devices(int ctl, uint32_t **out)
{
	uint32_t *idx = NULL, room = 0;
	struct qcow2_list l;

	for (;;) {
		memset(&l, 0, sizeof(l));
		l.count = room;
		l.indexes = (uintptr_t)idx;
		if (ioctl(ctl, QCOW2_IOC_LIST, &l)) {
			fprintf(stderr, "%s: QCOW2_IOC_LIST: %s\n", progname,
				strerror(errno));
			free(idx);
			return -1;
		}
		if (l.count <= room)
			break;
		/* More devices than room (some may attach meanwhile). */
		free(idx);
		room = l.count + 8;
		idx = calloc(room, sizeof(*idx));
		if (!idx)
			return -1;
	}
	*out = idx;
	return l.count;
}

int get_status(int ctl, uint32_t index, struct qcow2_status *s)
{
	memset(s, 0, sizeof(*s));
	s->index = index;
	return ioctl(ctl, QCOW2_IOC_STATUS, s);
}

/*
 * Whether the device of status @s shows the file @st: by the identity the
 * module took at attach (@id, QCOW2_FEATURE_IMAGE_ID; 0 if it could not),
 * which holds when the file is renamed or unlinked, or else by what is at
 * the path the module reports now (an identity can go stale: an NFS
 * remount, an overlayfs copy-up).
 */
bool status_is_file(const struct qcow2_status *s, bool id, const struct stat *st)
{
	struct stat now;

	if (id && s->image_ino && s->image_ino == st->st_ino &&
	    makedev(s->image_dev_major, s->image_dev_minor) == st->st_dev)
		return true;
	return !stat(s->path, &now) && now.st_dev == st->st_dev &&
	       now.st_ino == st->st_ino;
}

/* The first device showing the file @st, or -1 (none, or no answer). */
int find_holder(int ctl, const struct stat *st)
{
	struct qcow2_version v;
	struct qcow2_status *s;
	uint32_t *idx;
	int n, i, found = -1;

	if (get_version(ctl, &v))
		return -1;
	n = list_devices(ctl, &idx);
	if (n < 0)
		return -1;
	s = malloc(sizeof(*s));
	for (i = 0; s && i < n && found < 0; i++)
		if (!get_status(ctl, idx[i], s) &&
		    status_is_file(s, v.features & QCOW2_FEATURE_IMAGE_ID, st))
			found = idx[i];
	free(s);
	free(idx);
	return found;
}
