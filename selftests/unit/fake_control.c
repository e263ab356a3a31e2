// SPDX-License-Identifier: GPL-2.0
/*
 * fake_control.so: an LD_PRELOAD stand-in for /dev/qcow2-control, so that
 * selftests/unit/chain.sh can run "qcow2ctl attach" and "qcow2ctl info
 * DEVICE" on the host, where the module is not loaded and no guest may
 * run, and check what the tool hands the module: which files, opened how,
 * with which formats and flags. The module's own checks are the guest
 * tests' business.
 *
 * Environment:
 *   FAKE_QCOW2_LOG       the file each QCOW2_IOC_ATTACH is written to
 *   FAKE_QCOW2_FEATURES  the features QCOW2_IOC_VERSION reports (default:
 *                        QCOW2_FEATURES_ALL)
 *   FAKE_QCOW2_ERRNO     QCOW2_IOC_ATTACH fails with this errno (default:
 *                        it attaches /dev/qcow20)
 *   FAKE_QCOW2_LEVELS    the levels of /dev/qcow20 for QCOW2_IOC_STATUS and
 *                        QCOW2_IOC_LEVEL: "FORMAT:PATH,...", the image first
 *   FAKE_QCOW2_SNAPSHOT  level 0's @snapshot (with QCOW2_STATE_SNAPSHOT)
 *   FAKE_QCOW2_CORRUPT   the level QCOW2_IOC_LEVEL reports with QCOW2_STATE_CORRUPT
 *   FAKE_QCOW2_IDENTITY  "MAJOR:MINOR:INODE" QCOW2_IOC_STATUS reports for the
 *                        image (default: stat() of its path now)
 *
 * QCOW2_IOC_LIST reports /dev/qcow20 when FAKE_QCOW2_LEVELS is set, and
 * QCOW2_IOC_DETACH of it is logged to FAKE_QCOW2_LOG.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/qcow2.h>

#define CONTROL_PATH "/dev/" QCOW2_CONTROL_NAME

static int control_fd = -1;

static int real_open(const char *path, int flags, mode_t mode)
{
	static int (*fn)(const char *, int, ...);

	if (!fn)
		fn = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	return fn(path, flags, mode);
}

static int open_common(const char *path, int flags, mode_t mode)
{
	if (strcmp(path, CONTROL_PATH))
		return real_open(path, flags, mode);
	control_fd = real_open("/dev/null", O_RDWR | O_CLOEXEC, 0);
	return control_fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return flags & (O_CREAT | O_TMPFILE) ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open_common(path, flags, mode);
}

/* How @fd is open, and the file: what the module would get. */
static void describe_fd(FILE *log, int fd)
{
	char link[64], path[4096];
	ssize_t n;
	int fl = fcntl(fd, F_GETFL);

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n < 0 ? 0 : n] = 0;
	fprintf(log, "mode=%s%s%s path=%s", fl < 0 ? "closed" :
		(fl & O_ACCMODE) == O_RDONLY ? "ro" : "rw",
		fl >= 0 && (fl & O_NONBLOCK) ? ",nonblock" : "",
		fl >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? ",cloexec" : "",
		path);
}

static int fake_attach(struct qcow2_attach *a)
{
	const struct qcow2_backing *b = (const void *)(uintptr_t)a->backing;
	const char *name = getenv("FAKE_QCOW2_LOG"), *e;
	FILE *log = name ? fopen(name, "w") : NULL;
	uint32_t i;

	if (log) {
		fprintf(log, "attach flags=0x%x backing_count=%u image ", a->flags,
			a->backing_count);
		describe_fd(log, a->fd);
		fprintf(log, "\n");
		for (i = 0; i < a->backing_count && b; i++) {
			fprintf(log, "level %u format=%u reserved=%llu ", i + 1,
				b[i].format, (unsigned long long)b[i].reserved);
			describe_fd(log, b[i].fd);
			fprintf(log, "\n");
		}
		if (a->snapshot)
			fprintf(log, "snapshot %s\n",
				(const char *)(uintptr_t)a->snapshot);
		fclose(log);
	}
	e = getenv("FAKE_QCOW2_ERRNO");
	if (e) {
		errno = atoi(e);
		return -1;
	}
	a->index = 0;
	return 0;
}

/* Level @n of FAKE_QCOW2_LEVELS into @l; the count of levels. */
static unsigned int fake_level(unsigned int n, struct qcow2_level *l)
{
	const char *levels = getenv("FAKE_QCOW2_LEVELS");
	char *copy, *item, *save = NULL;
	unsigned int i = 0;
	struct stat st;

	if (!levels)
		return 0;
	copy = strdup(levels);
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save), i++) {
		if (i != n || !l)
			continue;
		l->format = strncmp(item, "raw:", 4) ? QCOW2_FORMAT_QCOW2 :
						       QCOW2_FORMAT_RAW;
		snprintf(l->path, sizeof(l->path), "%s", strchr(item, ':') + 1);
		if (l->format == QCOW2_FORMAT_QCOW2) {
			l->version = 3;
			l->cluster_size = 65536;
			l->size = 1 << 20;
		} else if (!stat(l->path, &st)) {
			l->size = st.st_size;
		}
	}
	free(copy);
	return i;
}

static int fake_status(struct qcow2_status *s)
{
	struct qcow2_level l = { 0 };
	struct stat st;

	if (s->index || !fake_level(0, &l)) {
		errno = ENXIO;
		return -1;
	}
	s->state = QCOW2_STATE_READ_ONLY;
	if (fake_level(1, NULL) > 1)
		s->state |= QCOW2_STATE_BACKING;
	if (getenv("FAKE_QCOW2_SNAPSHOT"))
		s->state |= QCOW2_STATE_SNAPSHOT;
	s->version = 3;
	s->cluster_size = 65536;
	s->refcount_bits = 16;
	s->size = 1 << 20;
	memcpy(s->path, l.path, sizeof(s->path));
	if (getenv("FAKE_QCOW2_IDENTITY")) {
		unsigned long long ino = 0;

		sscanf(getenv("FAKE_QCOW2_IDENTITY"), "%u:%u:%llu",
		       &s->image_dev_major, &s->image_dev_minor, &ino);
		s->image_ino = ino;
	} else if (!stat(l.path, &st)) {
		s->image_dev_major = major(st.st_dev);
		s->image_dev_minor = minor(st.st_dev);
		s->image_ino = st.st_ino;
	}
	return 0;
}

static int fake_list(struct qcow2_list *l)
{
	uint32_t *idx = (uint32_t *)(uintptr_t)l->indexes;
	uint32_t room = l->count;

	l->count = fake_level(0, NULL) ? 1 : 0;
	if (l->count && room)
		idx[0] = 0;
	return 0;
}

static int fake_detach(struct qcow2_detach *d)
{
	const char *name = getenv("FAKE_QCOW2_LOG");
	FILE *log;

	if (d->index || !fake_level(0, NULL)) {
		errno = ENXIO;
		return -1;
	}
	log = name ? fopen(name, "a") : NULL;
	if (log) {
		fprintf(log, "detach index=%u flags=0x%x\n", d->index, d->flags);
		fclose(log);
	}
	return 0;
}

static int fake_get_level(struct qcow2_level *l)
{
	unsigned int count = fake_level(l->level, l);
	const char *snap = getenv("FAKE_QCOW2_SNAPSHOT");

	if (l->index || !count) {
		errno = ENXIO;
		return -1;
	}
	l->depth = count - 1;
	if (l->level >= count) {
		errno = ENOENT;
		return -1;
	}
	if (!l->level && snap)
		l->snapshot = atoi(snap);
	if (getenv("FAKE_QCOW2_CORRUPT") &&
	    l->level == (unsigned int)atoi(getenv("FAKE_QCOW2_CORRUPT")))
		l->state = QCOW2_STATE_CORRUPT;
	return 0;
}

static int fake_ioctl(unsigned long req, void *arg)
{
	struct qcow2_version *v = arg;
	const char *f;

	switch (req) {
	case QCOW2_IOC_VERSION:
		f = getenv("FAKE_QCOW2_FEATURES");
		v->abi_version = QCOW2_ABI_VERSION;
		v->features = f ? strtoull(f, NULL, 0) : QCOW2_FEATURES_ALL;
		return 0;
	case QCOW2_IOC_ATTACH:
		return fake_attach(arg);
	case QCOW2_IOC_STATUS:
		return fake_status(arg);
	case QCOW2_IOC_LEVEL:
		return fake_get_level(arg);
	case QCOW2_IOC_LIST:
		return fake_list(arg);
	case QCOW2_IOC_DETACH:
		return fake_detach(arg);
	default:
		errno = ENOTTY;
		return -1;
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	static int (*fn)(int, unsigned long, ...);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fd >= 0 && fd == control_fd)
		return fake_ioctl(req, arg);
	if (!fn)
		fn = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return fn(fd, req, arg);
}
