/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2ctl: what its parts share. Each command lives in its own file
 * (create.c, attach.c, detach.c, list.c, info.c); args.c parses arguments,
 * output.c formats sizes and JSON, control.c talks to the control device.
 */
#ifndef QCOW2CTL_H
#define QCOW2CTL_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/qcow2.h>

#include "chain.h"
#include "image.h"
#include "qcow2_format.h"

#define CONTROL_PATH "/dev/" QCOW2_CONTROL_NAME

extern const char *progname;

/* args.c */
int parse_size(const char *s, uint64_t *out);
int parse_format_opt(const char *arg, struct chain_opts *o);
int parse_device(const char *s, uint32_t *index);
int device_arg(const char *s, uint32_t *index);

/* output.c */
void size_str(uint64_t v, char *buf, size_t len);
void size_exact(uint64_t v, char *buf, size_t len);
void size_short(uint64_t v, char *buf, size_t len);
const char *escape_name(const char *s, bool raw, char *buf, size_t len);

#define JSON_MAX_DEPTH 8

/**
 * struct json - a JSON document being written, indented as qemu-img does
 * @f: where it goes
 * @depth: objects and arrays open
 * @first: per depth, no member written yet
 * @closer: per depth, what closes the object or array opened there
 */
struct json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH];
	char closer[JSON_MAX_DEPTH];
};

/* @key is NULL for a member of an array, or for the document itself. */
void json_begin(struct json *j, FILE *f);
void json_object(struct json *j, const char *key);
void json_array(struct json *j, const char *key);
void json_end(struct json *j);
void json_string(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);

/* control.c */
int open_control(void);
int get_version(int fd, struct qcow2_version *v);
int list_devices(int ctl, uint32_t **out);
int get_status(int ctl, uint32_t index, struct qcow2_status *s);
bool status_is_file(const struct qcow2_status *s, bool id, const struct stat *st);
int find_holder(int ctl, const struct stat *st);

/* The commands: each returns the exit status. */
int cmd_create(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif /* QCOW2CTL_H */
