#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Ask the module directly: QCOW2_IOC_ATTACH with a backing chain given as
descriptors, bypassing qcow2ctl's resolution, so that a test can hand the
kernel chains the tool would refuse.

usage: attach_chain.py [--ro] [--snapshot=NAME] [--opath] [--count=N]
                       [--append] IMAGE [FORMAT:PATH ...]

FORMAT is qcow2, raw or a number (sent as is). --opath opens the backing
files O_PATH; --count sends N as backing_count whatever the list holds;
--append opens a read-write image O_APPEND too.
Prints /dev/qcow2N and exits 0, or prints "errno NAME" and exits 1.
"""
import ctypes
import errno
import fcntl
import os
import struct
import sys

IOC_ATTACH = (3 << 30) | (80 << 16) | (ord("q") << 8) | 0x42
READ_ONLY, SNAPSHOT = 1 << 0, 1 << 3
FORMATS = {"qcow2": 1, "raw": 2}


def main(argv):
    ro, snap, opath, count, append = False, None, False, None, False
    args = []
    for a in argv:
        if a == "--ro":
            ro = True
        elif a.startswith("--snapshot="):
            snap = a.split("=", 1)[1].encode()
        elif a == "--opath":
            opath = True
        elif a == "--append":
            append = True
        elif a.startswith("--count="):
            count = int(a.split("=", 1)[1])
        else:
            args.append(a)
    image, levels = args[0], args[1:]
    fd = os.open(image, os.O_RDONLY if ro or snap else
                 os.O_RDWR | (os.O_APPEND if append else 0))
    fds = []
    for lv in levels:
        fmt, path = lv.split(":", 1)
        fds.append((os.open(path, os.O_PATH if opath else os.O_RDONLY),
                    FORMATS.get(fmt) or int(fmt)))
    arr = (ctypes.c_uint8 * max(16 * len(fds), 16))()
    for i, (bfd, fmt) in enumerate(fds):
        struct.pack_into("=iIQ", arr, 16 * i, bfd, fmt, 0)
    sbuf = ctypes.create_string_buffer(snap) if snap is not None else None
    flags = (READ_ONLY if ro or snap else 0) | (SNAPSHOT if snap else 0)
    n = len(fds) if count is None else count
    arg = bytearray(struct.pack(
        "=iIIIQQQIIQ24x", fd, flags, 0, 0, 0, 0,
        ctypes.addressof(arr) if n else 0, n, 0,
        ctypes.addressof(sbuf) if sbuf is not None else 0))
    ctl = os.open("/dev/qcow2-control", os.O_RDWR)
    try:
        fcntl.ioctl(ctl, IOC_ATTACH, arg)
    except OSError as e:
        print("errno " + errno.errorcode.get(e.errno, str(e.errno)))
        return 1
    print("/dev/qcow2%d" % struct.unpack_from("=I", arg, 8)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
