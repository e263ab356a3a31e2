#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo proper, run as root on a kernel that can load the module built
# for it: load qcow2.ko, talk to /dev/qcow2-control, unload.

set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ko=$top/build/$(uname -r)/qcow2.ko
ctl=$top/userspace/qcow2ctl

step() { printf '\n$ %s\n' "$*"; "$@"; }

echo "== qcow2 demo on Linux $(uname -r)"
[ -d /sys/module/qcow2 ] && step rmmod qcow2
step insmod "$ko"
step ls -l /dev/qcow2-control
step "$ctl" version
step rmmod qcow2
echo
echo "== demo finished"
