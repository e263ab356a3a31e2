#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mkfs.ext4 and mkfs.xfs on /dev/qcow2N, mount, copy a directory tree,
# unmount, detach, qemu-img check, attach again and compare the tree.
# Detach of a mounted device is EBUSY.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
src=$QCOW2_TOP/driver
mnt=$dir/mnt
mkdir -p "$mnt"

failed=0
try() { # FS PREALLOC
	local fs=$1 img=$dir/fs.qcow2 dev out
	rm -f "$img"
	"$QCOW2CTL" create --prealloc="$2" "$img" 2G > /dev/null || return 1
	dev=$(attach "$img") || return 1
	case $fs in
	ext4) mkfs.ext4 -q -F "$dev" ;;
	xfs) mkfs.xfs -q -f "$dev" ;;
	esac || { echo "mkfs.$fs failed"; return 1; }
	mount -t "$fs" "$dev" "$mnt" || { echo "mount $fs failed"; return 1; }
	cp -a "$src" "$mnt/tree" && cp -a /usr/share/doc/fio "$mnt/doc" ||
		{ echo "copy to $fs failed"; return 1; }
	if out=$("$QCOW2CTL" detach "$dev" 2>&1) || ! grep -q "Device or resource busy" <<< "$out"; then
		echo "detach of a mounted device: '$out', expected EBUSY"
		return 1
	fi
	umount "$mnt" || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "check after $fs failed"; return 1; }
	dev=$(attach "$img") || return 1
	mount -t "$fs" -o ro "$dev" "$mnt" || { echo "remount $fs failed"; return 1; }
	diff -r "$src" "$mnt/tree" && diff -r /usr/share/doc/fio "$mnt/doc" ||
		{ echo "tree differs after re-attach ($fs)"; umount "$mnt"; return 1; }
	umount "$mnt"
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || return 1
	info "ok: $fs on a $2 image"
}

modprobe -q xfs 2>/dev/null
try ext4 metadata || failed=1
# The debug guest runs ext4 only (README).
debug_kernel || try xfs off || failed=1
[ $failed = 0 ] || fail "filesystems on the device"
exit $KSFT_PASS
