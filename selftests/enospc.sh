#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A full file system under an attached image is an ordinary event: writes
# that need new clusters fail with ENOSPC, reads and rewrites of allocated
# clusters go on working, a detach whose write-back fails returns the
# error and keeps the device, and once space is freed, writes, flushes and
# the detach succeed with nothing lost: qemu-img check is clean and the
# data written before and after the fill reads back. No splat.
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

[ $failed = 0 ] || fail "full file system"
exit $KSFT_PASS
