/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2ctl: resolving an image's backing chain.
 *
 * The kernel never opens a path an image names: a name in a file someone
 * else may have written would otherwise let them make the kernel open any
 * file. qcow2ctl resolves the names as QEMU does, opens every level itself,
 * read-only and with the user's own rights, and hands the module the
 * descriptors (struct qcow2_backing).
 */
#ifndef QCOW2CTL_CHAIN_H
#define QCOW2CTL_CHAIN_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include <linux/qcow2.h>

#include "qcow2_format.h"

/**
 * struct chain_opts - what the user says about a chain
 * @format: --backing-format: QCOW2_FORMAT_* of every level whose image
 *	names no backing format; 0 when not given
 * @files: --backing-chain: the files of the first @nfiles levels, used
 *	instead of the names the images store
 * @nfiles: entries in @files
 */
struct chain_opts {
	unsigned int format;
	const char *files[QCOW2_MAX_BACKING_DEPTH];
	unsigned int nfiles;
};

/**
 * struct chain_level - one level below the image, open
 * @fd: the file, open O_RDONLY
 * @format: QCOW2_FORMAT_*
 * @path: the file opened: the stored name resolved, or a --backing-chain file
 * @name: the backing file name as the level above stores it
 * @given: @path came from --backing-chain
 * @st: the file's status, for loop detection
 * @h: the header of a qcow2 level
 * @b: what a qcow2 level says of its own backing file
 */
struct chain_level {
	int fd;
	unsigned int format;
	char *path;
	char *name;
	bool given;
	struct stat st;
	struct qcow2_header h;
	struct qcow2_backing_name b;
};

/**
 * struct chain - an image's backing chain, as far as it resolved
 * @level: @count levels, the image's backing file first
 * @count: levels resolved and open
 * @full_name: the path the image's own backing file name resolves to, as
 *	qemu-img's "full-backing-filename" (even if it cannot be opened);
 *	NULL without a backing file
 * @error: why the chain did not resolve whole; NULL when it did
 * @error_name: the stored name of the level that failed (level @count + 1),
 *	NULL if the failure is not one level's
 */
struct chain {
	struct chain_level *level;
	unsigned int count;
	char *full_name;
	char *error;
	char *error_name;
};

/* "qcow2" or "raw" to QCOW2_FORMAT_*, anything else to 0. */
unsigned int chain_format(const char *name);
const char *chain_format_name(unsigned int format);

/*
 * Add the comma-separated files of a --backing-chain argument (modified in
 * place) to @o. Returns 0, or -1 with a message printed.
 */
int chain_add_files(struct chain_opts *o, char *list);

/*
 * Resolve the chain below the image @image, whose file has the status @st
 * and which names the backing file @b (the name may be empty: no chain).
 * Returns 0 when the chain resolved whole, -1 otherwise with @c->error
 * set; either way @c holds the levels opened and needs chain_free().
 */
int chain_resolve(struct chain *c, const char *image, const struct stat *st,
		  const struct qcow2_backing_name *b,
		  const struct chain_opts *o);

/* The levels as struct qcow2_attach @backing wants them. */
void chain_to_attach(const struct chain *c, struct qcow2_backing *out);

/*
 * One line per level, "backing file [N]: PATH (format FMT)", then the
 * level that did not resolve, if any, with the reason.
 */
void chain_print(const struct chain *c, FILE *f);

void chain_free(struct chain *c);

#endif /* QCOW2CTL_CHAIN_H */
