#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A full file system under an attached image is an ordinary event: writes
# that need new clusters fail with ENOSPC, reads and rewrites of allocated
# clusters go on working, a detach whose write-back fails returns the
# error and keeps the device, and once space is freed, writes, flushes and
# the detach succeed with nothing lost: qemu-img check is clean and the
# data written before and after the fill reads back. Over a backing file,
# failed first writes leave the base's data showing and leak nothing.
# No splat.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
scratch_cleanup_hook() { small_fs_cleanup; }
small_fs full 64M
img=$SMALL_MNT/i.qcow2
failed=0
bad() { echo "$*"; failed=1; }

# 4 KiB clusters: every new L2 table needs a block of its own.
"$QCOW2CTL" create --cluster-size=4k "$img" 1G > /dev/null || fail "create"
head -c 4M /dev/urandom > "$SCRATCH/a"
head -c 1M /dev/urandom > "$SCRATCH/b"
head -c 2M /dev/urandom > "$SCRATCH/c"
dev=$(attach "$img") || fail "attach"
dd if="$SCRATCH/a" of="$dev" bs=1M oflag=direct status=none || fail "first write"
dev_fsync "$dev" || fail "first flush"

# Leave about 6 MiB free, then fill it through the device from 600 MiB on
# (L2 tables not allocated yet there).
avail=$(df -B1 --output=avail "$SMALL_MNT" | tail -n 1)
fallocate -l $((avail - (6 << 20))) "$SMALL_MNT/filler" || fail "fallocate filler"
if out=$(dd if=/dev/urandom of="$dev" bs=1M seek=600 count=32 oflag=direct 2>&1); then
	bad "writes went on past a full file system"
else
	grep -q "No space left on device" <<< "$out" || bad "the full disk gave '$out', not ENOSPC"
fi

# Allocated clusters still read, and take rewrites in place.
cmp -n 4M "$dev" "$SCRATCH/a" || bad "data written before the fill does not read back"
dd if="$SCRATCH/b" of="$dev" bs=1M seek=1 oflag=direct conv=notrunc status=none ||
	bad "rewrite of allocated clusters on a full disk"
dd if="$SCRATCH/b" of="$SCRATCH/a" bs=1M seek=1 conv=notrunc status=none

# The new L2 tables cannot be written back: detach fails, the device stays.
dmesg_mark
if "$QCOW2CTL" detach "$dev" 2> "$SCRATCH/detach.err"; then
	bad "detach succeeded with metadata that cannot be written"
else
	grep -q "stays attached" "$SCRATCH/detach.err" || bad "detach error: $(cat "$SCRATCH/detach.err")"
	dmesg_since | grep -q "cannot detach: writing back metadata failed" ||
		bad "no log line for the failed detach"
fi
[ -b "$dev" ] && "$QCOW2CTL" list | grep -q "^$dev " || bad "the device did not stay attached"
dev_fsync "$dev" && bad "a flush succeeded on a full disk"

# Space comes back: writes, flushes and the detach succeed.
rm "$SMALL_MNT/filler"
dd if="$SCRATCH/c" of="$dev" bs=1M seek=700 oflag=direct status=none ||
	bad "write after space was freed"
dev_fsync "$dev" || bad "flush after space was freed"
cmp -n 4M "$dev" "$SCRATCH/a" || bad "data before the fill lost"
"$QCOW2CTL" detach "$dev" || bad "detach after space was freed"
check_image "$img" || bad "qemu-img check after the fill"
# qemu_cmp MIB-OFFSET FILE: what qemu-img reads there is FILE. (qemu-img
# dd counts the skipped blocks in count.)
qemu_cmp() {
	local n=$(($(stat -c %s "$2") >> 20))
	rm -f "$SCRATCH/out"
	qemu-img dd -f qcow2 -O raw if="$img" of="$SCRATCH/out" bs=1M skip=$1 count=$(($1 + n)) &&
		cmp "$SCRATCH/out" "$2"
}
qemu_cmp 0 "$SCRATCH/a" || bad "qemu-img reads other data before 4 MiB"
qemu_cmp 700 "$SCRATCH/c" || bad "qemu-img reads other data at 700 MiB"

# An overlay on the full file system over a base outside it: first writes
# that cover whole clusters showing the base's data fail, and those
# clusters go on showing the base (an L2 entry published before its data
# landed would show zeros there), and the failed writes leak nothing.
head -c 8M /dev/urandom > "$SCRATCH/base.raw"
qemu-img convert -q -f raw -O qcow2 "$SCRATCH/base.raw" "$SCRATCH/base.qcow2" ||
	fail "base image"
rm -f "$img"
qemu-img create -q -f qcow2 -b "$SCRATCH/base.qcow2" -F qcow2 "$img" ||
	fail "overlay"
dev=$(attach "$img") || fail "attach the overlay"
# The first cluster, with the base's own bytes: the L2 table exists.
dd if="$SCRATCH/base.raw" of="$dev" bs=64k count=1 oflag=direct status=none ||
	fail "first write to the overlay"
dev_fsync "$dev" || fail "flush of the overlay"
avail=$(df -B1 --output=avail "$SMALL_MNT" | tail -n 1)
fallocate -l $((avail - (1 << 20))) "$SMALL_MNT/filler" || fail "fallocate filler"
dd if=/dev/zero of="$SMALL_MNT/filler2" bs=4k oflag=direct status=none 2>/dev/null
if out=$(dd if=/dev/urandom of="$dev" bs=1M seek=1 count=2 oflag=direct 2>&1); then
	bad "whole-cluster writes over the base went on past a full file system"
else
	grep -q "No space left on device" <<< "$out" ||
		bad "the full disk under the overlay gave '$out', not ENOSPC"
fi
# Direct reads: the device's page cache must not answer for it.
dev_cmp_base() {
	dd if="$dev" bs=1M count=8 iflag=direct status=none | cmp - "$SCRATCH/base.raw"
}
dev_cmp_base || bad "failed first writes over the base changed what the device shows"
rm -f "$SMALL_MNT/filler" "$SMALL_MNT/filler2"
dev_fsync "$dev" || bad "flush of the overlay after space was freed"
dev_cmp_base || bad "after space came back the overlay does not show the base"
"$QCOW2CTL" detach "$dev" || bad "detach of the overlay"
check_image "$img" || bad "qemu-img check of the overlay after failed first writes"
qemu-img compare -q "$img" "$SCRATCH/base.raw" ||
	bad "qemu-img compare: the overlay does not read as its base"

[ $failed = 0 ] || fail "full file system"
exit $KSFT_PASS
