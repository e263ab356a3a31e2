/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel types and annotations the shared format code uses, for
 * building it in userspace (unit tests, fuzzers, qcow2ctl).
 */
#ifndef QCOW2_KERNCOMPAT_H
#define QCOW2_KERNCOMPAT_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define __printf(a, b) __attribute__((format(printf, a, b)))

#endif /* QCOW2_KERNCOMPAT_H */
