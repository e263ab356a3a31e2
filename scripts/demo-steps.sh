#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo proper, run as root on a kernel that can load the module built
# for it: load qcow2.ko, create a metadata-preallocated image in the kernel,
# attach it, make a filesystem on it, mount it, write, unmount, detach, and
# check the image with qemu-img; unload.

set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ko=$top/build/$(uname -r)/qcow2.ko
ctl=$top/userspace/qcow2ctl
dir=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-demo.XXXXXX")
mnt=$dir/mnt
mkdir "$mnt"
cleanup() {
	umount "$mnt" 2> /dev/null || :
	if [ -e /dev/qcow2-control ]; then "$ctl" detach --all 2> /dev/null || :; fi
	rm -rf "$dir"
}
trap cleanup EXIT

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
printf '\n$ dev=$(%s attach --show %s)\n' "$ctl" "$dir/demo.qcow2"
dev=$("$ctl" attach --show "$dir/demo.qcow2")
echo "$dev"
step mkfs.ext4 -q "$dev"
step mount "$dev" "$mnt"
step cp -a "$top/driver" "$mnt/"
step dd if=/dev/urandom of="$mnt/random" bs=1M count=64 status=none conv=fsync
step df -h "$mnt"
step "$ctl" list
step umount "$mnt"
step "$ctl" info "$dev"
step "$ctl" detach "$dev"
step qemu-img check "$dir/demo.qcow2"
step du -h "$dir/demo.qcow2"
step rmmod qcow2
echo
echo "== demo finished"
