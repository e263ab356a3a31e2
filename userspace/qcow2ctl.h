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

/* output.c */
void human(uint64_t v, char *buf, size_t len);
void json_str(const char *s);

/* control.c */
int open_control(void);
int get_version(int fd, struct qcow2_version *v);
int list_devices(int ctl, uint32_t **out);
int get_status(int ctl, uint32_t index, struct qcow2_status *s);

/* The commands: each returns the exit status. */
int cmd_create(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_detach(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif /* QCOW2CTL_H */
