#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# One I/O discipline per image file: when the device uses direct I/O, every
# byte it moves (data, metadata, copy-on-write of clusters and L2 tables
# shared with a snapshot, fills of subclusters, the header) goes around the
# page cache. Mixed with buffered metadata writes, a direct write over a
# page that is dirty in the cache cannot invalidate it, and its later
# write-back puts old bytes over new data. So: after crc32c-verified fio
# workloads and discards, the image file has no page in the cache while
# attached (fincore), the kernel never logs a page cache invalidation failure, and
# qemu-img check is clean afterwards.
. "$(dirname "$0")/lib.sh"

command -v fio > /dev/null || skip "fio not installed"
command -v fincore > /dev/null || skip "fincore not installed (util-linux-extra)"
module_load
scratch_setup
dir=$SCRATCH
img=$dir/p.qcow2
KiB=1024
MiB=$((1 << 20))

cached_pages() { fincore --noheadings --output PAGES "$1" | tr -d ' '; }

failed=0
bad() { echo "$*"; failed=1; }

# CLUSTER SNAPSHOT(yes|no) EXTL2(yes|no): the image is made by qemu-img and
# qemu-io through the page cache first; attach must write back and drop
# those pages before its first direct I/O.
run() {
	local cs=$1 snap=$2 ext=$3 size=$((32 * MiB)) opts dev n pages what
	what="${cs}-byte clusters, snapshot $snap, extended L2 $ext"
	opts="cluster_size=$cs"
	[ "$ext" = yes ] && opts+=",extended_l2=on"
	rm -f "$img"
	qemu-img create -q -f qcow2 -o "$opts" "$img" $size || { bad "create ($what)"; return; }
	# Scattered partial writes: with extended L2 they leave clusters
	# with unallocated subclusters, which the device later fills in place.
	for n in 0 3 17 40 77 100 130; do
		qemu-io -f qcow2 -c "write -P 0x$((n % 7 + 1))1 $((n * 97 * KiB)) 2k" "$img" > /dev/null ||
			{ bad "qemu-io ($what)"; return; }
	done
	if [ "$snap" = yes ]; then
		qemu-img snapshot -c s1 "$img" || { bad "snapshot ($what)"; return; }
	fi
	[ "$(cached_pages "$img")" != 0 ] || info "note: nothing cached before attach ($what)"

	dmesg_mark
	dev=$(attach "$img") || { bad "attach ($what)"; return; }
	n=${dev#/dev/qcow2}
	[ "$(cat /sys/block/qcow2$n/qcow2/direct_io)" = 1 ] ||
		{ bad "no direct I/O on the scratch file system ($what)"; "$QCOW2CTL" detach "$dev"; return; }
	pages=$(cached_pages "$img")
	[ "$pages" = 0 ] || bad "$pages pages of the image cached right after attach ($what)"

	# Random writes of 512 bytes to 64 KiB, verified, over the whole
	# image: fresh clusters, shared clusters and tables (copy on write),
	# partial subclusters (fills); metadata written back at each flush.
	if ! fio --name=pc --filename="$dev" --ioengine=libaio --direct=1 \
		--rw=randwrite --bsrange=512-64k --iodepth=16 --size=$size \
		--number_ios=$IOS --fsync=64 --verify=crc32c --verify_fatal=1 \
		--minimal > "$dir/fio.log" 2>&1; then
		tail -n 20 "$dir/fio.log"
		bad "fio ($what)"
	fi
	# Discards free clusters, punched out of the file at the flush: only
	# the file system blocks they cover whole, since a file system zeroes
	# a part of a block through the page cache.
	blkdiscard -o $((5 * MiB + 1536)) -l $((3 * MiB + 2560)) "$dev" &&
		blkdiscard -o $((19 * MiB)) -l $((7 * MiB - 512)) "$dev" ||
		bad "blkdiscard on ext4 ($what)"
	dev_fsync "$dev" || bad "flush ($what)"
	pages=$(cached_pages "$img")
	[ "$pages" = 0 ] || bad "$pages pages of the image cached while attached ($what)"
	[ "$(cat /sys/block/qcow2$n/qcow2/freed_clusters)" -gt 0 ] ||
		bad "the discards freed nothing ($what)"
	"$QCOW2CTL" detach "$dev" || bad "detach ($what)"
	if dmesg_since | grep -q "Page cache invalidation failure"; then
		dmesg_since | grep -A3 "Page cache invalidation failure" | head -n 8
		bad "page cache invalidation failure ($what)"
	fi
	check_image "$img" || bad "qemu-img check ($what)"
	[ "$snap" = yes ] && { qemu-img snapshot -l "$img" | grep -q s1 || bad "snapshot lost ($what)"; }
	info "ok: $what"
}

# Discards of clusters smaller than the file system's block on xfs, which
# zeroes a part of a block it is asked to punch through the page cache and
# leaves the page there (ext4 zeroes it through the page cache too, but
# left no page cached in our runs on 6.12): only whole blocks may be
# punched.
scratch_cleanup_hook() { small_fs_cleanup; }
punch_xfs() {
	local img dev n i pages
	small_fs xfs 320M "" 512 xfs
	img=$SMALL_MNT/x.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=512 "$img" 16M ||
		{ bad "create on xfs"; return; }
	dev=$(attach "$img") || { bad "attach on xfs"; return; }
	n=${dev#/dev/qcow2}
	# 1536 bytes every 10752: runs of 3 clusters, most not block aligned.
	for i in $(seq 0 99); do
		dd if="$SCRATCH/pat" of="$dev" bs=1536 count=1 seek=$((i * 7)) \
			oflag=direct status=none || { bad "write on xfs"; break; }
	done
	blkdiscard -o 0 -l $((1536 * 7 * 100)) "$dev" || bad "blkdiscard on xfs"
	dev_fsync "$dev" || bad "flush on xfs"
	i=$(cat /sys/block/qcow2$n/qcow2/freed_clusters)
	[ "$i" = 300 ] || bad "the discards on xfs freed $i clusters, not 300"
	pages=$(cached_pages "$img")
	[ "$pages" = 0 ] || bad "$pages pages of the image cached after discards on xfs"
	"$QCOW2CTL" detach "$dev" || bad "detach on xfs"
	check_image "$img" || bad "qemu-img check on xfs"
	small_fs_cleanup
	info "ok: discards of 512-byte clusters on xfs"
}

head -c 1536 /dev/urandom > "$SCRATCH/pat"
punch_xfs

IOS=1500
# The short runs (short_run: every guest in make check, the debug guest,
# where KASAN makes fio about ten times slower, always; README) take the
# smallest clusters and the subcluster fills with a snapshot, with fewer
# writes.
if debug_kernel; then
	IOS=150
	run 65536 yes yes
elif short_run; then
	IOS=300
	run 512 no no
	run 65536 yes yes
else
	run 512 no no
	run 2048 yes no
	run 4096 yes no
	run 65536 no yes
	run 65536 yes yes
fi

[ $failed = 0 ] || fail "page cache discipline"
exit $KSFT_PASS
