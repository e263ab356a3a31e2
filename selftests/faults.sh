#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Faults under the image's file system (the device-mapper error target
# over parts of the image file): read errors inside an L2 table, a refcount
# block and a data cluster give the reader EIO, never zeros, and nothing of
# the failed read is kept; write errors during a flush fail that flush and
# the next one, and once the fault is gone a flush succeeds, the detach
# writes everything back, qemu-img check finds no corruption and every
# write acknowledged by a successful flush reads back. With buffered I/O (a
# file system that cannot take 512-byte direct I/O) a failed sync sticks:
# later flushes and writes fail, reads still work, and only a forced detach
# ends it. So does, with direct I/O, a write-back error of the image file's
# page cache (another writer of the file). No splat.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
scratch_cleanup_hook() { small_fs_cleanup; }
MASK=$((0x00fffffffffffe00))
failed=0
bad() { echo "$*"; failed=1; }

# Offsets in the image file: the L2 table of L1 entry 0, the first
# refcount block, and the data cluster of guest offset $1.
l2_of() { echo $(($(peek_be64 "$1" "$(peek_be64 "$1" 40)") & MASK)); }
rb_of() { echo $(($(peek_be64 "$1" "$(peek_be64 "$1" 48)") & MASK)); }
data_of() { echo $(($(peek_be64 "$1" $(($(l2_of "$1") + $2 / 65536 * 8))) & MASK)); }

# What qemu-img and the page cache know goes to the disk, and the cache
# forgets it: the faults must be met by the driver's own I/O.
settle() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# qread IMAGE OFFSET PATTERN: the 64 KiB at OFFSET hold PATTERN (qemu-io).
qread() {
	qemu-io -f qcow2 -c "read -P $3 $2 64k" "$1" | grep -q "read 65536/65536" ||
		bad "qemu-io: no pattern $3 at $2"
}

# read_fails DEV OFFSET WHAT: a direct read of 64 KiB there fails with EIO.
read_fails() {
	local out
	if out=$(dd if="$1" of="$SCRATCH/r" bs=64k skip=$(($2 / 65536)) count=1 iflag=direct 2>&1); then
		if cmp -s -n 65536 "$SCRATCH/r" /dev/zero; then
			bad "$3: read returned zeros instead of an error"
		else
			bad "$3: read succeeded"
		fi
	else
		grep -q "Input/output error" <<< "$out" || bad "$3: '$out', not EIO"
	fi
}

# fail_range FILE OFFSET LEN: I/O to those bytes of FILE fails from now on.
fail_range() {
	local r
	mapfile -t r < <(file_sectors "$1" "$2" "$3")
	dm_fail "${r[@]}"
}

small_fs faults 256M dm
img=$SMALL_MNT/f.qcow2
# One L2 table maps the first 512 MiB; the entry of 300 MiB lies in its
# second half.
qemu-img create -q -f qcow2 "$img" 512M || fail "create"
qemu-io -f qcow2 -c "write -P 0x11 0 64k" -c "write -P 0x22 300M 64k" "$img" > /dev/null ||
	fail "qemu-io"
settle
l2=$(l2_of "$img")
rb=$(rb_of "$img")
d300=$(data_of "$img" $((300 << 20)))

# A read error in the second half of the L2 table: the table is not
# half-read as zeros (which would make 300 MiB read as unallocated).
fail_range "$img" $((l2 + 32768)) 32768
dev=$(attach --read-only "$img") || fail "attach"
read_fails "$dev" $((300 << 20)) "L2 table read error"
dm_heal
cmp -n 65536 <(dd if="$dev" bs=64k skip=4800 count=1 iflag=direct status=none) \
	<(head -c 65536 /dev/zero | tr '\0' '\042') || bad "300 MiB after the L2 fault healed"
"$QCOW2CTL" detach "$dev" || bad "detach after the L2 read fault"
info "ok: read error in an L2 table"

# A read error in a data cluster.
fail_range "$img" "$d300" 65536
dev=$(attach --read-only "$img") || fail "attach"
read_fails "$dev" $((300 << 20)) "data read error"
dm_heal
"$QCOW2CTL" detach "$dev" || bad "detach after the data read fault"
info "ok: read error in a data cluster"

# A read error in the refcount block: the write that needs it fails, and
# works once the fault is gone. (Attach reads it too, to find where to
# allocate: with the fault there it fails.)
fail_range "$img" "$rb" 65536
dmesg_mark
"$QCOW2CTL" attach "$img" 2>/dev/null && bad "attach with an unreadable refcount block succeeded"
dmesg_since | grep -q "cannot read the refcount block" || bad "no log line for the unreadable refcount block"
dm_heal
dev=$(attach "$img") || fail "attach"
fail_range "$img" "$rb" 65536
if dd if=/dev/zero of="$dev" bs=64k seek=1600 count=1 oflag=direct status=none 2>/dev/null; then
	bad "a write needing an unreadable refcount block succeeded"
fi
dm_heal
head -c 65536 /dev/zero | tr '\0' '\063' |
	dd iflag=fullblock of="$dev" bs=64k seek=1600 oflag=direct status=none || bad "write after the refcount fault healed"
"$QCOW2CTL" detach "$dev" || bad "detach after the refcount read fault"
check_image "$img" "0 3" || bad "check after the refcount read fault"
qread "$img" $((100 << 20)) 0x33
info "ok: read error in a refcount block"

# Write errors while a flush writes the L2 table back: that flush and the
# next fail; after the fault, a flush and the detach succeed, and what the
# first successful flush covered reads back with the rest.
dev=$(attach "$img") || fail "attach"
head -c 65536 /dev/zero | tr '\0' '\104' |
	dd iflag=fullblock of="$dev" bs=64k seek=16 oflag=direct status=none || bad "write at 1 MiB"
dev_fsync "$dev" || bad "flush before the fault"
head -c 65536 /dev/zero | tr '\0' '\105' |
	dd iflag=fullblock of="$dev" bs=64k seek=32 oflag=direct status=none || bad "write at 2 MiB"
fail_range "$img" "$l2" 65536
dev_fsync "$dev" 2>/dev/null && bad "a flush that could not write the L2 table succeeded"
dev_fsync "$dev" 2>/dev/null && bad "the flush after a failed one succeeded"
dm_heal
dev_fsync "$dev" || bad "flush after the write fault healed"
"$QCOW2CTL" detach "$dev" || bad "detach after the write fault"
check_image "$img" "0 3" || bad "check after the write fault"
qread "$img" 0 0x11
qread "$img" $((1 << 20)) 0x44
qread "$img" $((2 << 20)) 0x45
qread "$img" $((300 << 20)) 0x22
info "ok: write error during a flush"
# The debug guest stops here (README): KASAN makes the rest too slow.
if debug_kernel; then
	small_fs_cleanup
	[ $failed = 0 ] || fail "faults under the image"
	exit $KSFT_PASS
fi

# A failing copy-on-write: the cluster at 0 is shared with a snapshot, and
# reading it for a partial write fails. The write fails, nothing changes;
# once the fault is gone the copy succeeds and the snapshot keeps its data.
qemu-img snapshot -c s1 "$img" || fail "snapshot"
settle
d0=$(data_of "$img" 0)
fail_range "$img" "$d0" 65536
dev=$(attach "$img") || fail "attach (copy-on-write)"
head -c 4096 /dev/zero | tr '\0' '\107' > "$SCRATCH/w"
dd if="$SCRATCH/w" of="$dev" bs=4k oflag=direct status=none 2>/dev/null &&
	bad "a copy-on-write that could not read its source succeeded"
dm_heal
dd if="$SCRATCH/w" of="$dev" bs=4k oflag=direct status=none || bad "copy-on-write after the fault healed"
"$QCOW2CTL" detach "$dev" || bad "detach after the copy-on-write fault"
check_image "$img" "0 3" || bad "check after the copy-on-write fault"
qemu-io -f qcow2 -c "read -P 0x47 0 4k" -c "read -P 0x11 4k 60k" "$img" | grep -c "^read" |
	grep -qx 2 || bad "active image after the copy-on-write"
qemu-img convert -f qcow2 -O raw -l snapshot.name=s1 "$img" "$SCRATCH/s1.raw" &&
	cmp -n 65536 "$SCRATCH/s1.raw" <(head -c 65536 /dev/zero | tr '\0' '\021') ||
	bad "the snapshot lost its data"
rm -f "$SCRATCH/s1.raw"
info "ok: failing copy-on-write"

# A write-back error in the image file's page cache while it is attached
# with direct I/O: another process rewrites bytes of it through the page
# cache (here the same bytes, so that nothing changes), and that write-back
# fails. The device cannot know what such a page will later put over its
# own writes: the error sticks as with buffered I/O.
dev=$(attach "$img") || fail "attach (page cache error)"
[ "$(cat /sys/block/${dev#/dev/}/qcow2/direct_io)" = 1 ] || bad "no direct I/O on 512-byte sectors"
dev_fsync "$dev" || bad "flush before the page cache error"
dd if="$img" of="$SCRATCH/same" bs=4k skip=$((d300 / 4096)) count=1 status=none ||
	fail "read of the image file"
fail_range "$img" "$d300" 65536
dmesg_mark
dd if="$SCRATCH/same" of="$img" bs=4k seek=$((d300 / 4096)) conv=notrunc,fsync status=none 2>/dev/null &&
	bad "a buffered write-back under the fault succeeded"
dm_heal
dev_fsync "$dev" 2>/dev/null && bad "a flush after the image file's page cache lost writes succeeded"
dev_fsync "$dev" 2>/dev/null && bad "the second flush after the page cache error succeeded"
dmesg_since | grep -q "page cache of the image file lost writes" || bad "no log line for the page cache error"
"$QCOW2CTL" info "$dev" | grep -q "write-back-error" || bad "info does not show the page cache error"
dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none 2>/dev/null &&
	bad "a write after the page cache error succeeded"
"$QCOW2CTL" detach "$dev" 2>/dev/null && bad "detach succeeded after the page cache error"
"$QCOW2CTL" detach --force "$dev" || bad "forced detach (page cache error)"
check_image "$img" "0 3" || bad "check after the page cache error"
qread "$img" $((300 << 20)) 0x22
info "ok: write-back error in the image file's page cache"
small_fs_cleanup

# Buffered I/O (4 KiB sectors under the file system: no 512-byte direct
# I/O): a failed sync leaves pages the kernel will not write again, so
# the error sticks.
small_fs faultsb 256M dm 4096
img=$SMALL_MNT/b.qcow2
qemu-img create -q -f qcow2 "$img" 512M || fail "create (buffered)"
qemu-io -f qcow2 -c "write -P 0x11 0 64k" "$img" > /dev/null || fail "qemu-io (buffered)"
settle
l2=$(l2_of "$img")
dev=$(attach "$img") || fail "attach (buffered)"
[ "$(cat /sys/block/${dev#/dev/}/qcow2/direct_io)" = 0 ] || bad "direct I/O on 4 KiB sectors"
head -c 65536 /dev/zero | tr '\0' '\106' |
	dd iflag=fullblock of="$dev" bs=64k seek=16 oflag=direct status=none || bad "write at 1 MiB (buffered)"
fail_range "$img" "$l2" 65536
dmesg_mark
dev_fsync "$dev" 2>/dev/null && bad "a flush that could not write the L2 table succeeded (buffered)"
dm_heal
dev_fsync "$dev" 2>/dev/null && bad "the flush after a failed sync succeeded (buffered)"
dmesg_since | grep -q "write-back to the image file failed" || bad "no log line for the failed sync"
"$QCOW2CTL" info "$dev" | grep -q "write-back-error" || bad "info does not show the write-back error"
dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none 2>/dev/null &&
	bad "a write after a failed sync succeeded (buffered)"
dd if="$dev" of=/dev/null bs=64k count=1 iflag=direct status=none || bad "read after a failed sync"
"$QCOW2CTL" detach "$dev" 2>/dev/null && bad "detach succeeded after a failed sync"
"$QCOW2CTL" detach --force "$dev" || bad "forced detach"
dmesg_since | grep -q "forced detach" || bad "no log line for the forced detach"
check_image "$img" "0 3" || bad "check after the forced detach"
info "ok: buffered I/O, failed sync"

[ $failed = 0 ] || fail "faults under the image"
exit $KSFT_PASS
