// SPDX-License-Identifier: GPL-2.0
/*
 * replay_records: the workload and the oracle of the crash-replay test
 * (replay.sh).
 *
 *   replay_records write DEV JOURNAL --count N --span BYTES [--dm NAME]
 *                  [--min BYTES] [--max BYTES] [--align BYTES]
 *                  [--overwrite PERCENT] [--discard K --cluster BYTES]
 *                  [--seed S] [--no-sync | --sync-after-mark]
 *   replay_records verify RAW JOURNAL ACKED [--exact]
 *
 * "write" appends N records to DEV: record i is one direct write of whole
 * 512-byte sectors, each sector stamped with i and its own sector number
 * and filled from a generator seeded by both, so any sector read back says
 * which record put it there and where it was meant to go. Every record is
 * made durable before the next starts: odd records by an O_DSYNC write
 * (FUA), even ones by fsync (a flush). Once it is durable, the record is
 * acknowledged by a mark "r<i>" in the dm-log-writes log of the device
 * NAME (when given). The journal (offset and length of every record,
 * written before the record is) carries over from run to run: numbering
 * continues, and --overwrite makes that share of the records rewrite the
 * place of an earlier one (copy-on-write over a snapshot, rewrites of
 * allocated clusters). --discard K makes records 2, 2 + K, 2 + 2K... of the
 * run make a range around an earlier record read zeros, then flush: the
 * first a discard (BLKDISCARD; even seeds: a write of zeros that may unmap,
 * fallocate PUNCH_HOLE on the device) of the whole clusters (of --cluster
 * bytes) around it, the second a write of zeros that keeps the clusters
 * (BLKZEROOUT: REQ_NOUNMAP) over its sectors and the one after them, the
 * third the other of the first two, and so on: their sectors read zeros
 * from then on, and the clusters freed are given back and reused by later
 * records.
 * --no-sync acknowledges records that were never made
 * durable, --sync-after-mark acknowledges each record before its flush
 * (as a driver that completed a flush early would): the tests of the test,
 * whose replay must find the records missing.
 *
 * "verify" checks a raw copy of the device's contents at a crash point
 * where records 1..ACKED were acknowledged: each sector holds what the last
 * acknowledged record wrote there, or zeros if none did or a discard came
 * last; only record ACKED+1, in flight at the crash, may have left its own
 * sectors old or new (zeros, for a discard), sector by sector. Nothing else may be anywhere. --exact allows no
 * record in flight (the state at a mark, or an internal snapshot taken
 * after record ACKED).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR		512
#define REC_MAGIC	0x51524543u	/* "QREC" */

struct record {
	uint64_t off;
	uint64_t len;
	bool discard;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "replay_records: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The contents record @rec gives sector @sector. */
static void fill_sector(void *buf, uint32_t rec, uint64_t sector)
{
	uint64_t s = ((uint64_t)rec << 40) ^ sector, *p = buf;
	uint32_t *h = buf;
	unsigned int i;

	for (i = 0; i < SECTOR / 8; i++)
		p[i] = splitmix(&s);
	h[0] = REC_MAGIC;
	h[1] = rec;
	memcpy(&p[1], &sector, sizeof(sector));
}

/* Room for record @i in @r, of @cap entries. */
static struct record *grow(struct record *r, uint32_t *cap, uint32_t i)
{
	if (i < *cap)
		return r;
	*cap = *cap ? *cap * 2 : 256;
	r = realloc(r, *cap * sizeof(*r));
	if (!r)
		die("out of memory");
	return r;
}

/*
 * Records 1..n of a journal; records[0] is unused. *@cap: the entries
 * the array has.
 */
static struct record *load_journal(const char *path, uint32_t *n,
				   uint32_t *cap)
{
	struct record *r = NULL;
	uint32_t i;
	uint64_t off, len;
	char kind;
	FILE *f;

	*n = 0;
	*cap = 0;
	f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return grow(NULL, cap, 0);
		die("%s: %s", path, strerror(errno));
	}
	while (fscanf(f, "%" SCNu32 " %" SCNu64 " %" SCNu64 " %c", &i, &off, &len,
		      &kind) == 4) {
		if (i != *n + 1 || off % SECTOR || len % SECTOR || !len ||
		    (kind != 'w' && kind != 'd'))
			die("%s: bad record line %" PRIu32, path, i);
		r = grow(r, cap, i);
		r[i].off = off;
		r[i].len = len;
		r[i].discard = kind == 'd';
		*n = i;
	}
	if (!feof(f))
		die("%s: unreadable line after record %" PRIu32, path, *n);
	fclose(f);
	return grow(r, cap, 0);
}

/* "dmsetup message NAME 0 mark MARK", without a process per record. */
static void dm_mark(const char *name, const char *mark)
{
	char buf[sizeof(struct dm_ioctl) + sizeof(struct dm_target_msg) + 64]
		__attribute__((aligned(8)));
	struct dm_ioctl *io = (struct dm_ioctl *)buf;
	struct dm_target_msg *msg = (struct dm_target_msg *)(buf + sizeof(*io));
	int fd;

	memset(buf, 0, sizeof(buf));
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = sizeof(buf);
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "%s", name);
	msg->sector = 0;
	snprintf(msg->message, 64, "mark %s", mark);
	fd = open("/dev/mapper/control", O_RDWR);
	if (fd < 0)
		die("/dev/mapper/control: %s", strerror(errno));
	if (ioctl(fd, DM_TARGET_MSG, buf))
		die("mark %s on %s: %s", mark, name, strerror(errno));
	close(fd);
}

static void do_write(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "span", required_argument, NULL, 's' },
		{ "dm", required_argument, NULL, 'd' },
		{ "min", required_argument, NULL, 'a' },
		{ "max", required_argument, NULL, 'b' },
		{ "align", required_argument, NULL, 'g' },
		{ "overwrite", required_argument, NULL, 'o' },
		{ "discard", required_argument, NULL, 'D' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-sync", no_argument, NULL, 'N' },
		{ "sync-after-mark", no_argument, NULL, 'M' },
		{ }
	};
	uint64_t span = 0, min = 4096, max = 65536, align = 4096, seed = 1, rnd;
	uint64_t cluster = 0;
	uint32_t count = 0, overwrite = 0, discard = 0, n, i, first, cap;
	const char *dm = NULL, *dev, *journal;
	struct record *r;
	int fd, fd_sync, opt, sync = 1, late = 0;
	FILE *jf;
	char *buf;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 's': span = strtoull(optarg, NULL, 0); break;
		case 'd': dm = optarg; break;
		case 'a': min = strtoull(optarg, NULL, 0); break;
		case 'b': max = strtoull(optarg, NULL, 0); break;
		case 'g': align = strtoull(optarg, NULL, 0); break;
		case 'o': overwrite = strtoul(optarg, NULL, 0); break;
		case 'D': discard = strtoul(optarg, NULL, 0); break;
		case 'c': cluster = strtoull(optarg, NULL, 0); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'N': sync = 0; break;
		case 'M': late = 1; break;
		default: exit(2);
		}
	}
	if (argc - optind != 2 || !count || !align || align % SECTOR || min % align ||
	    max % align || !min || min > max || span < max || span % align ||
	    (discard && (!cluster || cluster % SECTOR || span % cluster)))
		die("usage: write DEV JOURNAL --count N --span BYTES (sizes in whole aligned sectors)");
	dev = argv[optind];
	journal = argv[optind + 1];

	r = load_journal(journal, &n, &cap);
	first = n + 1;
	jf = fopen(journal, "a");
	if (!jf)
		die("%s: %s", journal, strerror(errno));
	fd = open(dev, O_WRONLY | O_DIRECT);
	fd_sync = open(dev, O_WRONLY | O_DIRECT | (sync && !late ? O_DSYNC : 0));
	if (fd < 0 || fd_sync < 0)
		die("%s: %s", dev, strerror(errno));
	if (posix_memalign((void **)&buf, 4096, max))
		die("out of memory");
	rnd = seed ^ ((uint64_t)first << 32);

	for (i = first; i < first + count; i++) {
		uint64_t off, len, s, range[2];
		bool dis = false;

		if (discard && n && (i - first) % discard == 1) {
			static const unsigned int order[2][3] = { { 2, 1, 0 }, { 0, 1, 2 } };
			const struct record *o = &r[1 + splitmix(&rnd) % n];
			unsigned int how = order[seed % 2][(i - first) / discard % 3];
			int err;

			if (how != 1) {
				/* The whole clusters around it. */
				off = o->off / cluster * cluster;
				len = (o->off + o->len + cluster - 1) / cluster * cluster - off;
			} else {
				off = o->off;
				len = o->len + (o->off + o->len < span ? SECTOR : 0);
			}
			fprintf(jf, "%" PRIu32 " %" PRIu64 " %" PRIu64 " d\n", i, off, len);
			if (fflush(jf) || fsync(fileno(jf)))
				die("%s: %s", journal, strerror(errno));
			range[0] = off;
			range[1] = len;
			if (how == 0)
				err = ioctl(fd, BLKDISCARD, range);
			else if (how == 1)
				err = ioctl(fd, BLKZEROOUT, range);
			else
				err = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						off, len);
			if (err)
				die("record %" PRIu32 ": %s of %" PRIu64 " at %" PRIu64 ": %s", i,
				    how == 0 ? "discard" : how == 1 ? "BLKZEROOUT" : "punch",
				    len, off, strerror(errno));
			if (sync && !late && fsync(fd))
				die("record %" PRIu32 ": fsync: %s", i, strerror(errno));
			dis = true;
			goto ack;
		}
		len = min + splitmix(&rnd) % ((max - min) / align + 1) * align;
		if (n && splitmix(&rnd) % 100 < overwrite) {
			/* Over an earlier record, from its start. */
			const struct record *o = &r[1 + splitmix(&rnd) % n];

			off = o->off;
			if (off + len > span)
				len = span - off;
		} else {
			off = splitmix(&rnd) % ((span - len) / align + 1) * align;
		}
		for (s = 0; s < len / SECTOR; s++)
			fill_sector(buf + s * SECTOR, i, off / SECTOR + s);
		/* The journal knows a record before the device does. */
		fprintf(jf, "%" PRIu32 " %" PRIu64 " %" PRIu64 " w\n", i, off, len);
		if (fflush(jf) || fsync(fileno(jf)))
			die("%s: %s", journal, strerror(errno));

		if (pwrite(i % 2 ? fd_sync : fd, buf, len, off) != (ssize_t)len)
			die("record %" PRIu32 ": write of %" PRIu64 " at %" PRIu64 ": %s", i,
			    len, off, strerror(errno));
		if (sync && !late && !(i % 2) && fsync(fd))
			die("record %" PRIu32 ": fsync: %s", i, strerror(errno));
ack:
		/* Later records of this run may rewrite or discard it. */
		r = grow(r, &cap, i);
		r[i].off = off;
		r[i].len = len;
		r[i].discard = dis;
		n = i;
		if (dm) {
			char mark[24];

			snprintf(mark, sizeof(mark), "r%" PRIu32, i);
			dm_mark(dm, mark);
		}
		if (late && fsync(fd))
			die("record %" PRIu32 ": fsync: %s", i, strerror(errno));
	}
	fclose(jf);
	close(fd);
	close(fd_sync);
	printf("wrote records %" PRIu32 "..%" PRIu32 "\n", first, first + count - 1);
}

static int do_verify(int argc, char **argv)
{
	uint64_t nsect, s, data, hole, size, errors = 0, checked = 0;
	uint32_t n, acked, i, *owner, cap;
	const struct record *r, *fl = NULL;
	unsigned char *seen;
	char got[SECTOR], want[SECTOR], old[SECTOR];
	struct stat st;
	int fd;

	if (argc != 5 && !(argc == 6 && !strcmp(argv[5], "--exact")))
		die("usage: verify RAW JOURNAL ACKED [--exact]");
	r = load_journal(argv[3], &n, &cap);
	acked = strtoul(argv[4], NULL, 0);
	if (acked > n)
		die("%" PRIu32 " records acknowledged, the journal has %" PRIu32, acked, n);
	if (acked < n && argc == 5)
		fl = &r[acked + 1];
	fd = open(argv[2], O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		die("%s: %s", argv[2], strerror(errno));
	size = st.st_size;
	nsect = size / SECTOR;

	owner = calloc(nsect, sizeof(*owner));
	seen = calloc(nsect / 8 + 1, 1);
	if (!owner || !seen)
		die("out of memory for %" PRIu64 " sectors", nsect);
	for (i = 1; i <= n; i++) {
		if (r[i].off + r[i].len > size)
			die("record %" PRIu32 " ends past the image's %" PRIu64 " bytes", i, size);
		if (i > acked)
			continue;
		for (s = r[i].off / SECTOR; s < (r[i].off + r[i].len) / SECTOR; s++)
			owner[s] = r[i].discard ? 0 : i;
	}

#define REPORT(...) do { if (errors++ < 10) printf(__VA_ARGS__); } while (0)
	/* Everything outside holes, sector by sector. */
	for (data = 0; (data = lseek(fd, data, SEEK_DATA)) != (uint64_t)-1; data = hole) {
		hole = lseek(fd, data, SEEK_HOLE);
		data &= ~(uint64_t)(SECTOR - 1);
		for (s = data / SECTOR; s < (hole + SECTOR - 1) / SECTOR && s < nsect; s++) {
			bool in_flight = fl && s >= fl->off / SECTOR &&
					 s < (fl->off + fl->len) / SECTOR;
			uint32_t rec, where[3];

			if (pread(fd, got, SECTOR, s * SECTOR) != SECTOR)
				die("%s: read at sector %" PRIu64 " failed", argv[2], s);
			seen[s / 8] |= 1 << (s % 8);
			checked++;
			memset(old, 0, SECTOR);
			if (owner[s])
				fill_sector(old, owner[s], s);
			if (!memcmp(got, old, SECTOR))
				continue;
			if (in_flight) {
				memset(want, 0, SECTOR);
				if (!fl->discard)
					fill_sector(want, acked + 1, s);
				if (!memcmp(got, want, SECTOR))
					continue;
			}
			memcpy(where, got, sizeof(where));
			rec = where[0] == REC_MAGIC ? where[1] : 0;
			if (rec) {
				uint64_t at;

				memcpy(&at, got + 8, sizeof(at));
				REPORT("sector %" PRIu64 ": holds record %" PRIu32 "'s sector %" PRIu64
				       "; wanted %s %" PRIu32 "%s\n", s, rec, at,
				       owner[s] ? "record" : "zeros, record", owner[s],
				       in_flight ? " or the record in flight" : "");
			} else {
				REPORT("sector %" PRIu64 ": holds unknown bytes; wanted %s %" PRIu32 "%s\n",
				       s, owner[s] ? "record" : "zeros, record", owner[s],
				       in_flight ? " or the record in flight" : "");
			}
		}
	}
	/*
	 * A hole reads zeros: only sectors no acknowledged record wrote, or
	 * that the discard in flight covers.
	 */
	for (s = 0; s < nsect; s++) {
		if (fl && fl->discard && s >= fl->off / SECTOR &&
		    s < (fl->off + fl->len) / SECTOR)
			continue;
		if (owner[s] && !(seen[s / 8] & (1 << (s % 8))))
			REPORT("sector %" PRIu64 ": reads zeros (a hole); wanted record %" PRIu32 "\n",
			       s, owner[s]);
	}
	printf("records 1..%" PRIu32 " of %" PRIu32 " acknowledged: %" PRIu64
	       " sectors with data checked, %" PRIu64 " wrong\n", acked, n, checked, errors);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "write")) {
		do_write(argc - 1, argv + 1);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "verify"))
		return do_verify(argc, argv);
	fprintf(stderr, "usage: replay_records write|verify ...\n");
	return 2;
}
