// SPDX-License-Identifier: GPL-2.0
/*
 * replay_log: replays a dm-log-writes log onto a device, entry by entry,
 * and runs a check at every crash point.
 *
 *   replay_log --log LOG --list
 *   replay_log --log LOG --replay DEV [--check flush|mark|flush,mark]
 *              [--start-mark M]
 *              [--end-mark M] [--exec CMD] [--keep-going]
 *              [--snapshot COW --mount DIR --fstype TYPE]
 *
 * Written from the log format of the kernel's dm-log-writes target
 * (Documentation/admin-guide/device-mapper/log-writes.rst and the comments
 * of drivers/md/dm-log-writes.c): a super block at byte 0, then for each
 * entry one sector holding the entry header (and, for a mark, its name),
 * followed by the data the write carried, "sectorsize" bytes per sector.
 * The target logs a write only once the flush that covers it (or, for a
 * FUA write, the write itself) has completed, so the state after each
 * FLUSH or FUA entry is what a power cut at that moment leaves on disk.
 *
 * Marks are logged at once, writes not yet flushed are not: the state
 * after a mark is what was on disk when the mark was sent. A workload
 * that marks each write it was told is durable can be held to that at the
 * mark: a flush acknowledged before it reached the disk shows there, and
 * only there (the next FLUSH entry brings the write in after the mark).
 *
 * At each crash point (after every FLUSH or FUA entry with --check flush,
 * after every mark with --check mark, both with --check flush,mark), once
 * past --start-mark, DEV is synced and CMD runs under /bin/sh with, in its
 * environment, LW_ENTRY (the index of the entry just applied), LW_POINT
 * (the crash point's number, from 1), LW_KIND ("flush" or "mark": what
 * made the point) and LW_MARK (the name of the last mark replayed, empty
 * before the first). A failing CMD ends the replay (exit 1) unless
 * --keep-going. Discarded ranges are replayed as zeros.
 *
 * With --snapshot, DEV must be a block device: at each point the tool puts
 * a transient device-mapper snapshot over it (COW, a block device, holds
 * what the check writes), mounts that on DIR (the file system's journal
 * recovery runs there, not on DEV) and runs CMD with LW_MNT=DIR; then it
 * unmounts and drops the snapshot, so the replay goes on from the state
 * the log left. A mount that fails fails the point. Doing this here, with
 * the ioctls and mount(2), rather than in CMD saves four program starts
 * per point, which under an emulated CPU is most of a point's cost.
 *
 * The log is input like any other: every size and offset in it is checked
 * against the log's own size before use.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/dm-ioctl.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define LW_FLUSH	(1 << 0)
#define LW_FUA		(1 << 1)
#define LW_DISCARD	(1 << 2)
#define LW_MARK		(1 << 3)
#define LW_METADATA	(1 << 4)
#define LW_KNOWN	(LW_FLUSH | LW_FUA | LW_DISCARD | LW_MARK | LW_METADATA)

#define LW_MAGIC	0x6a736677736872ULL
#define LW_VERSION	1

/* The on-disk structures, little endian. */
struct lw_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct lw_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
} __attribute__((packed));

/* One write of the target is one bio: far below this. */
#define LW_MAX_DATA	(256ULL << 20)

struct log {
	int fd;
	uint64_t size;		/* bytes in the log file or device */
	uint64_t nr_entries;
	uint32_t sectorsize;
	uint64_t pos;		/* byte offset of the next entry */
	uint64_t index;		/* its index */
	void *buf;		/* data of the current entry */
	size_t buf_size;
};

struct entry {
	uint64_t index;
	uint64_t sector;	/* in the log's sectorsize units */
	uint64_t nr_sectors;
	uint64_t flags;
	char mark[512];
	const void *data;	/* nr_sectors * sectorsize bytes, or NULL */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "replay_log: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* A short read is an error: the log ends where its super block says. */
static void read_exact(int fd, void *buf, size_t len, uint64_t off, const char *what)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("reading %s at %" PRIu64 ": %s", what, off + done, strerror(errno));
		if (n == 0)
			die("%s at %" PRIu64 " is past the end of the log", what, off + done);
		done += n;
	}
}

static void write_exact(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("writing the replay device at %" PRIu64 ": %s", off + done,
			    n < 0 ? strerror(errno) : "short write");
		done += n;
	}
}

static uint64_t fd_size(int fd, const char *name)
{
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st))
		die("%s: %s", name, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &size))
			die("%s: BLKGETSIZE64: %s", name, strerror(errno));
		return size;
	}
	return st.st_size;
}

static void log_open(struct log *lg, const char *path)
{
	struct lw_super sb;

	lg->fd = open(path, O_RDONLY);
	if (lg->fd < 0)
		die("%s: %s", path, strerror(errno));
	lg->size = fd_size(lg->fd, path);
	read_exact(lg->fd, &sb, sizeof(sb), 0, "the super block");
	if (le64toh(sb.magic) != LW_MAGIC)
		die("%s: not a dm-log-writes log (magic %#" PRIx64 ")", path, le64toh(sb.magic));
	if (le64toh(sb.version) != LW_VERSION)
		die("%s: log version %" PRIu64 ", only %d is known", path,
		    le64toh(sb.version), LW_VERSION);
	lg->sectorsize = le32toh(sb.sectorsize);
	if (lg->sectorsize < 512 || lg->sectorsize > 65536 ||
	    (lg->sectorsize & (lg->sectorsize - 1)))
		die("%s: sector size %u is not a power of two in 512..65536", path,
		    lg->sectorsize);
	lg->nr_entries = le64toh(sb.nr_entries);
	/* Each entry takes at least one sector after the super block's. */
	if (lg->nr_entries > lg->size / lg->sectorsize)
		die("%s: %" PRIu64 " entries cannot fit in %" PRIu64 " bytes", path,
		    lg->nr_entries, lg->size);
	lg->pos = lg->sectorsize;
	lg->index = 0;
	lg->buf = NULL;
	lg->buf_size = 0;
}

/* Reads the next entry; false at the end of the log. */
static bool log_next(struct log *lg, struct entry *e)
{
	unsigned char *hdr = alloca(lg->sectorsize);
	struct lw_entry le;
	uint64_t data_len, bytes;

	if (lg->index >= lg->nr_entries)
		return false;
	read_exact(lg->fd, hdr, lg->sectorsize, lg->pos, "an entry header");
	memcpy(&le, hdr, sizeof(le));
	e->index = lg->index;
	e->sector = le64toh(le.sector);
	e->nr_sectors = le64toh(le.nr_sectors);
	e->flags = le64toh(le.flags);
	data_len = le64toh(le.data_len);
	e->mark[0] = 0;
	e->data = NULL;
	if (e->flags & ~(uint64_t)LW_KNOWN)
		die("entry %" PRIu64 ": unknown flags %#" PRIx64, e->index, e->flags);
	lg->pos += lg->sectorsize;

	if (e->flags & LW_MARK) {
		if (data_len >= sizeof(e->mark) || data_len > lg->sectorsize - sizeof(le))
			die("entry %" PRIu64 ": mark of %" PRIu64 " bytes", e->index, data_len);
		memcpy(e->mark, hdr + sizeof(le), data_len);
		e->mark[data_len] = 0;
		e->nr_sectors = 0;
	} else if (data_len) {
		/* Inline data of other entries: no kernel writes it today. */
		die("entry %" PRIu64 ": inline data in a non-mark entry", e->index);
	} else if (!(e->flags & LW_DISCARD) && e->nr_sectors) {
		if (e->nr_sectors > LW_MAX_DATA / lg->sectorsize)
			die("entry %" PRIu64 ": %" PRIu64 " sectors", e->index, e->nr_sectors);
		bytes = e->nr_sectors * lg->sectorsize;
		if (bytes > lg->size || lg->pos > lg->size - bytes)
			die("entry %" PRIu64 ": data past the end of the log", e->index);
		if (bytes > lg->buf_size) {
			free(lg->buf);
			lg->buf = malloc(bytes);
			if (!lg->buf)
				die("out of memory for %" PRIu64 " bytes", bytes);
			lg->buf_size = bytes;
		}
		read_exact(lg->fd, lg->buf, bytes, lg->pos, "entry data");
		e->data = lg->buf;
		lg->pos += bytes;
	}
	lg->index++;
	return true;
}

static void print_entry(const struct entry *e)
{
	printf("%" PRIu64 " %s%s%s%s%s %" PRIu64 " %" PRIu64 "%s%s\n", e->index,
	       e->flags & LW_FLUSH ? "F" : "", e->flags & LW_FUA ? "U" : "",
	       e->flags & LW_DISCARD ? "D" : "", e->flags & LW_MARK ? "M" : "",
	       e->flags & (LW_FLUSH | LW_FUA | LW_DISCARD | LW_MARK) ? "" : "W",
	       e->sector, e->nr_sectors, e->mark[0] ? " " : "", e->mark);
}

/* Zeros over a discarded range: what the device reads there is undefined,
 * and zeros are one of the things it may read. */
static void zero_range(int fd, bool blk, uint64_t off, uint64_t len)
{
	static const char zeros[65536];
	uint64_t range[2] = { off, len };

	if (blk && !ioctl(fd, BLKZEROOUT, range))
		return;
	if (!blk && !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len))
		return;
	while (len) {
		size_t n = len < sizeof(zeros) ? len : sizeof(zeros);

		write_exact(fd, zeros, n, off);
		off += n;
		len -= n;
	}
}

static int run_check(const char *cmd, const struct entry *e, uint64_t point,
		     const char *mark)
{
	char buf[32];
	int status;

	snprintf(buf, sizeof(buf), "%" PRIu64, e->index);
	setenv("LW_ENTRY", buf, 1);
	setenv("LW_KIND", e->flags & LW_MARK ? "mark" : "flush", 1);
	snprintf(buf, sizeof(buf), "%" PRIu64, point);
	setenv("LW_POINT", buf, 1);
	setenv("LW_MARK", mark, 1);
	fflush(stdout);
	status = system(cmd);
	if (status == -1)
		die("cannot run the check: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}


#define SNAP_NAME "replay-log-snapshot"

/* One device-mapper ioctl on @io (already filled with @extra bytes after it). */
static int dm_ioctl(unsigned long cmd, struct dm_ioctl *io, size_t extra, const char *name)
{
	int fd, ret;

	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = sizeof(*io) + extra;
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "%s", name);
	fd = open("/dev/mapper/control", O_RDWR);
	if (fd < 0)
		die("/dev/mapper/control: %s", strerror(errno));
	ret = ioctl(fd, cmd, io);
	close(fd);
	return ret;
}

/*
 * A transient snapshot of @origin (@sectors long) with @cow as its
 * exception store; returns its device node in @node.
 */
static void snapshot_create(const char *origin, const char *cow, uint64_t sectors,
			    char *node, size_t node_len)
{
	struct {
		struct dm_ioctl io;
		struct dm_target_spec spec;
		char params[512];
	} __attribute__((aligned(8))) t;
	struct dm_ioctl io;

	memset(&io, 0, sizeof(io));
	if (dm_ioctl(DM_DEV_CREATE, &io, 0, SNAP_NAME))
		die("creating the snapshot device: %s", strerror(errno));
	memset(&t, 0, sizeof(t));
	t.io.target_count = 1;
	t.spec.sector_start = 0;
	t.spec.length = sectors;
	snprintf(t.spec.target_type, sizeof(t.spec.target_type), "snapshot");
	/* Transient (N): nothing of an earlier point's store is read back. */
	snprintf(t.params, sizeof(t.params), "%s %s N 8", origin, cow);
	t.spec.next = sizeof(t.spec) + sizeof(t.params);
	if (dm_ioctl(DM_TABLE_LOAD, &t.io, sizeof(t.spec) + sizeof(t.params), SNAP_NAME))
		die("loading the snapshot table '%s': %s", t.params, strerror(errno));
	memset(&io, 0, sizeof(io));
	if (dm_ioctl(DM_DEV_SUSPEND, &io, 0, SNAP_NAME))	/* resume */
		die("activating the snapshot: %s", strerror(errno));
	/* devtmpfs makes the node with the disk; no udev here. */
	snprintf(node, node_len, "/dev/dm-%u", minor(io.dev));
}

static void snapshot_remove(void)
{
	struct dm_ioctl io;
	int i;

	memset(&io, 0, sizeof(io));
	/* A just-unmounted device can stay busy for a moment. */
	for (i = 0; dm_ioctl(DM_DEV_REMOVE, &io, 0, SNAP_NAME); i++) {
		if (errno != EBUSY || i == 50)
			die("removing the snapshot: %s", strerror(errno));
		usleep(100000);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: replay_log --log LOG --list\n"
		"       replay_log --log LOG --replay DEV [--check flush|mark|flush,mark]\n"
		"                  [--start-mark M] [--end-mark M] [--exec CMD] [--keep-going]\n"
		"                  [--snapshot COW --mount DIR --fstype TYPE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "replay", required_argument, NULL, 'r' },
		{ "list", no_argument, NULL, 'L' },
		{ "check", required_argument, NULL, 'c' },
		{ "start-mark", required_argument, NULL, 's' },
		{ "end-mark", required_argument, NULL, 'e' },
		{ "exec", required_argument, NULL, 'x' },
		{ "keep-going", no_argument, NULL, 'k' },
		{ "snapshot", required_argument, NULL, 'S' },
		{ "mount", required_argument, NULL, 'm' },
		{ "fstype", required_argument, NULL, 't' },
		{ }
	};
	const char *log_path = NULL, *dev_path = NULL, *cmd = NULL;
	const char *start_mark = NULL, *end_mark = NULL;
	const char *cow = NULL, *mnt = NULL, *fstype = NULL;
	bool list = false, keep_going = false, on_marks = false, on_flush = true;
	bool started, blk;
	uint64_t points = 0, failed = 0, applied = 0, dev_size = 0;
	char last_mark[512] = "";
	struct log lg;
	struct entry e;
	struct stat st;
	int opt, fd = -1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': log_path = optarg; break;
		case 'r': dev_path = optarg; break;
		case 'L': list = true; break;
		case 'c':
			on_flush = !strcmp(optarg, "flush") || !strcmp(optarg, "flush,mark");
			on_marks = !strcmp(optarg, "mark") || !strcmp(optarg, "flush,mark");
			if (!on_flush && !on_marks)
				usage();
			break;
		case 's': start_mark = optarg; break;
		case 'e': end_mark = optarg; break;
		case 'x': cmd = optarg; break;
		case 'k': keep_going = true; break;
		case 'S': cow = optarg; break;
		case 'm': mnt = optarg; break;
		case 't': fstype = optarg; break;
		default: usage();
		}
	}
	if (!log_path || optind != argc || list == !!dev_path ||
	    !!cow != !!mnt || !!cow != !!fstype)
		usage();
	log_open(&lg, log_path);

	if (list) {
		while (log_next(&lg, &e))
			print_entry(&e);
		return 0;
	}

	fd = open(dev_path, O_WRONLY);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", dev_path, strerror(errno));
	blk = S_ISBLK(st.st_mode);
	if (blk)
		dev_size = fd_size(fd, dev_path);
	else if (cow)
		die("%s: --snapshot needs a block device", dev_path);
	if (mnt)
		setenv("LW_MNT", mnt, 1);
	started = !start_mark;
	while (log_next(&lg, &e)) {
		uint64_t off = e.sector * lg.sectorsize;
		uint64_t len = e.nr_sectors * lg.sectorsize;
		bool point;

		if (e.nr_sectors && !(e.flags & LW_MARK)) {
			/* A discard carries no data: its length is checked here alone. */
			if (e.sector > UINT64_MAX / lg.sectorsize ||
			    e.nr_sectors > UINT64_MAX / lg.sectorsize ||
			    len > UINT64_MAX - off || off + len > (uint64_t)INT64_MAX ||
			    (blk && (off > dev_size || len > dev_size - off)))
				die("entry %" PRIu64 ": sectors %" PRIu64 "+%" PRIu64
				    " are outside %s", e.index, e.sector, e.nr_sectors, dev_path);
			if (e.flags & LW_DISCARD)
				zero_range(fd, blk, off, len);
			else
				write_exact(fd, e.data, len, off);
		}
		applied++;
		if (e.flags & LW_MARK)
			snprintf(last_mark, sizeof(last_mark), "%s", e.mark);

		point = (on_marks && (e.flags & LW_MARK)) ||
			(on_flush && (e.flags & (LW_FLUSH | LW_FUA)));
		if (started && point && cmd) {
			int rc;

			if (fsync(fd))
				die("fsync %s: %s", dev_path, strerror(errno));
			points++;
			if (cow) {
				char node[64];

				snapshot_create(dev_path, cow, dev_size / 512, node, sizeof(node));
				if (mount(node, mnt, fstype, 0, NULL)) {
					printf("crash point %" PRIu64 " (entry %" PRIu64
					       "): mounting %s failed: %s\n", points, e.index,
					       fstype, strerror(errno));
					rc = 32;
				} else {
					rc = run_check(cmd, &e, points, last_mark);
					if (umount(mnt))
						die("umount %s: %s", mnt, strerror(errno));
				}
				snapshot_remove();
			} else {
				rc = run_check(cmd, &e, points, last_mark);
			}
			if (rc) {
				printf("crash point %" PRIu64 " (entry %" PRIu64 ", after mark '%s'): check failed (%d)\n",
				       points, e.index, last_mark, rc);
				failed++;
				if (!keep_going)
					break;
			}
		}
		if ((e.flags & LW_MARK) && start_mark && !strcmp(e.mark, start_mark))
			started = true;
		if ((e.flags & LW_MARK) && end_mark && !strcmp(e.mark, end_mark))
			break;
	}
	if (fsync(fd))
		die("fsync %s: %s", dev_path, strerror(errno));
	if (start_mark && !started)
		die("mark '%s' is not in the log", start_mark);
	printf("replayed %" PRIu64 " of %" PRIu64 " entries, %" PRIu64
	       " crash points checked, %" PRIu64 " failed\n",
	       applied, lg.nr_entries, points, failed);
	return failed ? 1 : 0;
}
