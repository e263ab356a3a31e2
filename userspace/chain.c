// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2ctl: resolving an image's backing chain, level by level, the way
 * QEMU resolves it, and opening every level read-only with the user's own
 * rights (see chain.h for why the kernel does not).
 *
 * Each level's format comes from the level above (its backing format
 * extension) or from the user; it is never probed from the file's
 * content, as QEMU no longer does either: a raw file whose guest wrote a
 * qcow2 header into it would otherwise be read as that qcow2 image, with
 * whatever backing file that header names.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "chain.h"
#include "image.h"

unsigned int chain_format(const char *name)
{
	if (!strcmp(name, "qcow2"))
		return QCOW2_FORMAT_QCOW2;
	if (!strcmp(name, "raw"))
		return QCOW2_FORMAT_RAW;
	return 0;
}

const char *chain_format_name(unsigned int format)
{
	return format == QCOW2_FORMAT_QCOW2 ? "qcow2" :
	       format == QCOW2_FORMAT_RAW ? "raw" : "unknown";
}

int chain_add_files(struct chain_opts *o, char *list)
{
	char *file;

	while ((file = strsep(&list, ","))) {
		if (!*file) {
			fprintf(stderr, "qcow2ctl: --backing-chain: an empty file name\n");
			return -1;
		}
		if (o->nfiles == QCOW2_MAX_BACKING_DEPTH) {
			fprintf(stderr, "qcow2ctl: --backing-chain: more than %u files\n",
				QCOW2_MAX_BACKING_DEPTH);
			return -1;
		}
		o->files[o->nfiles++] = file;
	}
	return 0;
}

__printf(2, 3)
static int fail(struct chain *c, const char *fmt, ...)
{
	va_list ap;

	free(c->error);
	va_start(ap, fmt);
	if (vasprintf(&c->error, fmt, ap) < 0)
		c->error = NULL;
	va_end(ap);
	if (!c->error)
		c->error = strdup("out of memory");
	return -1;
}

/*
 * QEMU's path_has_protocol(): a ':' before any '/' makes "nbd:host:port",
 * "json:{...}" or "https://..." a protocol, which QEMU would connect to;
 * "./a:b" is a file.
 */
static bool has_protocol(const char *name)
{
	return name[strcspn(name, ":/")] == ':';
}

/*
 * QEMU's path_combine(): a relative name is relative to the directory of
 * the image that names it, not to the working directory, so a chain
 * resolves the same from anywhere. The result is relative when @above is.
 */
static char *combine(const char *above, const char *name)
{
	const char *slash = strrchr(above, '/');
	char *path;

	if (name[0] == '/' || !slash)
		return strdup(name);
	if (asprintf(&path, "%.*s%s", (int)(slash + 1 - above), above, name) < 0)
		return NULL;
	return path;
}

/*
 * "file:" names the local file after it, as QEMU's file driver reads it
 * (level_path() takes only absolute ones).
 */
static const char *strip_file(const char *name)
{
	return strncmp(name, "file:", 5) ? name : name + 5;
}

/*
 * What qemu-img calls the full backing filename of @above's @name: a name
 * with a protocol (file: too) as it is.
 */
static char *full_name(const char *above, const char *name)
{
	if (has_protocol(name))
		return strdup(name);
	return combine(above, name);
}

/* The format of the level @b names, from @above's extension or the user. */
static int level_format(struct chain *c, const struct chain_opts *o,
			const char *above, const struct qcow2_backing_name *b,
			unsigned int *format)
{
	unsigned int named = *b->format ? chain_format(b->format) : 0;

	if (*b->format && !named)
		return fail(c, "backing format '%s' of %s is not supported (qcow2 and raw are)",
			    b->format, above);
	if (named && o->format && named != o->format)
		return fail(c, "--backing-format=%s contradicts %s, which names %s as the format of its backing file '%s'",
			    chain_format_name(o->format), above, b->format,
			    b->name);
	*format = named ? named : o->format;
	if (!*format)
		return fail(c, "%s names no format for its backing file '%s': pass --backing-format=qcow2 or --backing-format=raw (a format is never guessed from a file's content)",
			    above, b->name);
	return 0;
}

/* Where level @i (0 for the image's backing file) is: given, or named. */
static int level_path(struct chain *c, struct chain_level *lv,
		      const struct chain_opts *o, const char *above,
		      const struct qcow2_backing_name *b, unsigned int i)
{
	if (i < o->nfiles) {
		lv->given = true;
		lv->path = strdup(o->files[i]);
	} else if (strncmp(b->name, "file:", 5) && has_protocol(b->name)) {
		return fail(c, "backing file name '%s' of %s has a protocol prefix: only local files can be backing files (write a file name with a ':' as ./NAME or file:/ABSOLUTE/PATH)",
			    b->name, above);
	} else if (!strncmp(b->name, "file:", 5) && b->name[5] != '/') {
		/*
		 * QEMU opens a relative file: name from its working
		 * directory, not the image's: which file that is depends on
		 * where QEMU ran.
		 */
		return fail(c, "backing file name '%s' of %s is relative to the working directory of whoever opens it: give the file with --backing-chain",
			    b->name, above);
	} else {
		lv->path = combine(above, strip_file(b->name));
	}
	if (!lv->path)
		return fail(c, "out of memory");
	return 0;
}

/* "named by IMAGE" or "given by --backing-chain", for messages. */
static const char *origin(const struct chain_level *lv, const char *above,
			  char *buf, size_t len)
{
	if (lv->given)
		snprintf(buf, len, "given by --backing-chain for the backing file of %s",
			 above);
	else
		snprintf(buf, len, "named by %s", above);
	return buf;
}

static bool right_type(const struct stat *st, unsigned int format)
{
	if (format == QCOW2_FORMAT_RAW && S_ISBLK(st->st_mode))
		return true;
	return S_ISREG(st->st_mode);
}

/*
 * Whoever made an image chose its backing names, and the device shows the
 * backing file's bytes to whoever may read it: an image may name a block
 * device only if the user gives it with --backing-chain too (a host's disk
 * is one name away), and nothing may be a file that shows kernel state.
 */
static int check_policy(struct chain *c, const struct chain_level *lv,
			const struct stat *st, const char *by)
{
	struct statfs sfs;
	int ret;

	if (S_ISBLK(st->st_mode) && !lv->given)
		return fail(c, "backing file %s (%s) is a block device, which an image alone cannot choose: give it with --backing-chain if it is the one you mean",
			    lv->path, by);
	/* By name before the open (opening some such files changes state). */
	ret = lv->fd >= 0 ? fstatfs(lv->fd, &sfs) : statfs(lv->path, &sfs);
	if (!ret && qcow2_kernel_state_fs(sfs.f_type))
		return fail(c, "backing file %s (%s) shows kernel state, not stored data: it cannot be a backing file",
			    lv->path, by);
	return 0;
}

/*
 * Open the level read-only. The type is checked before the open too: a
 * name may point at a FIFO (the open would hang) or a character device
 * (opening a tape rewinds it); O_NONBLOCK and the fstat() close the race.
 */
static int open_level(struct chain *c, struct chain_level *lv,
		      const char *above)
{
	char by[4200];
	struct stat st;
	int flags;

	origin(lv, above, by, sizeof(by));
	if (!stat(lv->path, &st)) {
		if (!right_type(&st, lv->format))
			goto bad_type;
		if (check_policy(c, lv, &st, by))
			return -1;
	}
	lv->fd = open(lv->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (lv->fd < 0)
		return fail(c, "cannot open backing file %s (%s): %s", lv->path,
			    by, strerror(errno));
	if (fstat(lv->fd, &lv->st))
		return fail(c, "cannot stat backing file %s (%s): %s", lv->path,
			    by, strerror(errno));
	st = lv->st;
	if (!right_type(&st, lv->format))
		goto bad_type;
	if (check_policy(c, lv, &st, by))
		return -1;
	flags = fcntl(lv->fd, F_GETFL);
	if (flags < 0 || fcntl(lv->fd, F_SETFL, flags & ~O_NONBLOCK))
		return fail(c, "%s: fcntl: %s", lv->path, strerror(errno));
	return 0;

bad_type:
	return fail(c, "backing file %s (%s) is not a regular file%s", lv->path,
		    by, lv->format == QCOW2_FORMAT_RAW ? " or a block device" :
		    " (qcow2 levels must be)");
}

/* The same file twice: by inode, so hard links and symlinks count too. */
static int check_loop(struct chain *c, const struct stat *top,
		      const struct chain_level *lv)
{
	unsigned int i;
	bool same = lv->st.st_dev == top->st_dev &&
		    lv->st.st_ino == top->st_ino;

	for (i = 0; i < c->count && !same; i++)
		same = lv->st.st_dev == c->level[i].st.st_dev &&
		       lv->st.st_ino == c->level[i].st.st_ino;
	if (same)
		return fail(c, "backing chain loops: %s appears twice", lv->path);
	return 0;
}

static int read_level(struct chain *c, struct chain_level *lv,
		      const char *above)
{
	struct qcow2_err err;

	if (lv->format != QCOW2_FORMAT_QCOW2)
		return 0;
	if (image_read_header(lv->fd, lv->st.st_size, &lv->h, &lv->b, &err))
		return fail(c, "%s is named as qcow2 by %s but is not a qcow2 image: %s",
			    lv->path, above, err.msg);
	return 0;
}

/* Level @c->count, the backing file @b names, @above the image naming it. */
static int resolve_level(struct chain *c, const struct stat *top,
			 const char *above, const struct qcow2_backing_name *b,
			 const struct chain_opts *o)
{
	struct chain_level *lv = &c->level[c->count];

	lv->fd = -1;
	lv->name = strdup(b->name);
	if (!lv->name)
		return fail(c, "out of memory");
	if (level_format(c, o, above, b, &lv->format) ||
	    level_path(c, lv, o, above, b, c->count) ||
	    open_level(c, lv, above) || check_loop(c, top, lv) ||
	    read_level(c, lv, above))
		return -1;
	return 0;
}

/* Close and forget a level that failed half-way. */
static void drop_level(struct chain_level *lv)
{
	if (lv->fd >= 0)
		close(lv->fd);
	free(lv->path);
	free(lv->name);
	memset(lv, 0, sizeof(*lv));
}

int chain_resolve(struct chain *c, const char *image, const struct stat *st,
		  const struct qcow2_backing_name *b,
		  const struct chain_opts *o)
{
	const char *above = image;

	memset(c, 0, sizeof(*c));
	c->level = calloc(QCOW2_MAX_BACKING_DEPTH, sizeof(*c->level));
	if (!c->level)
		return fail(c, "out of memory");
	if (*b->name) {
		c->full_name = full_name(image, b->name);
		if (!c->full_name)
			return fail(c, "out of memory");
	}
	while (*b->name) {
		if (c->count == QCOW2_MAX_BACKING_DEPTH) {
			c->error_name = strdup(b->name);
			return fail(c, "backing chain of %s is deeper than %u levels",
				    image, QCOW2_MAX_BACKING_DEPTH);
		}
		if (resolve_level(c, st, above, b, o)) {
			c->error_name = strdup(b->name);
			drop_level(&c->level[c->count]);
			return -1;
		}
		above = c->level[c->count].path;
		b = &c->level[c->count].b;
		c->count++;
	}
	if (o->nfiles > c->count)
		return fail(c, "--backing-chain gives %u files, but the backing chain of %s has %u level%s",
			    o->nfiles, image, c->count, c->count == 1 ? "" : "s");
	return 0;
}

void chain_to_attach(const struct chain *c, struct qcow2_backing *out)
{
	unsigned int i;

	for (i = 0; i < c->count; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].fd = c->level[i].fd;
		out[i].format = c->level[i].format;
	}
}

void chain_print(const struct chain *c, FILE *f)
{
	unsigned int i;

	for (i = 0; i < c->count; i++)
		fprintf(f, "backing file [%u]: %s (format %s%s)\n", i + 1,
			c->level[i].path, chain_format_name(c->level[i].format),
			c->level[i].given ? ", given by --backing-chain" : "");
	if (c->error && c->error_name)
		fprintf(f, "backing file [%u]: %s (unresolved: %s)\n",
			c->count + 1, c->error_name, c->error);
	else if (c->error)
		fprintf(f, "backing chain: unresolved: %s\n", c->error);
}

void chain_free(struct chain *c)
{
	unsigned int i;

	for (i = 0; c->level && i < c->count; i++)
		drop_level(&c->level[i]);
	free(c->level);
	free(c->full_name);
	free(c->error);
	free(c->error_name);
	memset(c, 0, sizeof(*c));
}
