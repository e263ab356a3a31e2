#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo proper, run as root on a kernel that can load the module built
# for it: load qcow2.ko, create a metadata-preallocated image in the kernel,
# check it with qemu-img, unload.

set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ko=$top/build/$(uname -r)/qcow2.ko
ctl=$top/userspace/qcow2ctl
dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-demo.XXXXXX")
trap 'rm -rf "$dir"' EXIT

step() { printf '\n$ %s\n' "$*"; "$@"; }

echo "== qcow2 demo on Linux $(uname -r)"
if [ -d /sys/module/qcow2 ]; then
	step rmmod qcow2
fi
step insmod "$ko"
step ls -l /dev/qcow2-control
step "$ctl" version
step "$ctl" create --prealloc=metadata "$dir/demo.qcow2" 64G
step du -h --apparent-size "$dir/demo.qcow2"
step du -h "$dir/demo.qcow2"
step qemu-img check "$dir/demo.qcow2"
step qemu-img info "$dir/demo.qcow2"
step rmmod qcow2
echo
echo "== demo finished"
