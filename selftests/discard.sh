#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Discard and write-zeroes through /dev/qcow2N, as QEMU's qcow2 driver does
# them. A writable device whose image file can punch holes advertises both
# (discard granularity: the cluster size); a read-only one neither, and
# refuses them. Whole clusters a discard covers read zeros (version 3: the
# zero flag) or become unallocated (version 2), and clusters a write of
# zeros covers become zero clusters, keeping their host cluster only for
# REQ_NOUNMAP (BLKZEROOUT); the partial clusters at the edges keep their
# data (discard) or are written with zeros (write-zeroes). Host clusters
# whose last reference goes are freed once the L2 tables that dropped them
# are on disk (by the next flush at the latest) and punched out of the
# image file, so its allocated blocks drop: after fstrim and with
# "mount -o discard" on ext4 and xfs, by at least 90 % of the files
# removed. Clusters shared with a snapshot only lose the image's reference.
# A raw file given the same writes, punches and zeroings is what
# qemu-img compare finds, fio's verified trim workloads pass, the
# discarded_clusters and freed_clusters counters count exactly, and
# qemu-img check stays clean.
. "$(dirname "$0")/lib.sh"

for t in blkdiscard fstrim fallocate jq; do
	command -v $t > /dev/null || skip "$t not installed"
done
module_load
scratch_setup
dir=$SCRATCH
mnt=$dir/mnt
mkdir -p "$mnt"
scratch_cleanup_hook() { mountpoint -q "$mnt" && umount "$mnt"; }
MiB=$((1 << 20))
cs=65536	# qcow2ctl create's default cluster size

# The bytes every write takes: random, made once (urandom is slow in TCG).
pat=$dir/pattern
head -c 64M /dev/urandom > "$pat" || fail "pattern file"

# attr DEVICE NAME: /sys/block/qcow2N/qcow2/NAME; queue DEVICE NAME: the
# queue limit NAME.
attr() { cat "/sys/block/${1#/dev/}/qcow2/$2"; }
queue() { cat "/sys/block/${1#/dev/}/queue/$2"; }

# alloc FILE: the bytes its file system holds for FILE.
alloc() { echo $(($(stat -c '%b * %B' "$1"))); }

# since DEVICE: remember its discarded_clusters and freed_clusters.
# rose DEVICE NAME WANT [WHY]: the counter NAME rose by exactly WANT since
# (">=N": by N or more).
declare -A base
since() {
	base[discarded_clusters]=$(attr "$1" discarded_clusters) &&
		base[freed_clusters]=$(attr "$1" freed_clusters) && return 0
	echo "no discarded_clusters or freed_clusters in /sys/block/${1#/dev/}/qcow2"
	return 1
}
rose() {
	local now got
	now=$(attr "$1" "$2") || return 1
	got=$((now - ${base[$2]}))
	case $3 in
	">="*) [ "$got" -ge "${3#>=}" ] ;;
	*) [ "$got" = "$3" ] ;;
	esac && return 0
	echo "$2 rose by $got, expected $3${4:+: $4}"
	return 1
}

# put TARGET OFFSET LENGTH [PATTERN-OFFSET]: the pattern's bytes from
# PATTERN-OFFSET (default OFFSET) written at OFFSET; direct I/O to a device.
put() {
	local oflag=seek_bytes
	[ -b "$1" ] && oflag+=,direct
	dd if="$pat" of="$1" bs=64k iflag=skip_bytes,count_bytes oflag=$oflag \
		skip="${4:-$2}" seek="$2" count="$3" conv=notrunc status=none
}

# same DEVICE FILE WHAT: the device reads FILE (direct reads: not what
# its page cache holds).
same() {
	local out
	out=$(dd if="$1" bs=1M iflag=direct status=none | cmp - "$2" 2>&1) && return 0
	echo "$3: the device differs from $(basename "$2"): $out"
	return 1
}

# shrank IMAGE BEFORE BYTES WHAT: the image file holds at least BYTES less
# than BEFORE (the freed clusters were punched out of it).
shrank() {
	local now
	now=$(alloc "$1")
	[ $(($2 - now)) -ge "$3" ] && return 0
	echo "$4: the image file holds $now bytes, $(($2 - now)) less than before; expected at least $3 less"
	return 1
}

# map_is IMAGE OFFSET LENGTH KIND: every extent qemu-img map shows in
# [OFFSET, OFFSET + LENGTH) is of KIND: data; zero (reads zeros, no host
# cluster: what a version 3 discard leaves); zero-alloc (reads zeros, the
# host cluster kept: a write of zeros with REQ_NOUNMAP); unallocated (what
# a version 2 discard leaves).
map_is() {
	local filter out
	case $4 in
	data) filter='.data and has("offset")' ;;
	zero) filter='.present and .zero and (.data | not) and (has("offset") | not)' ;;
	zero-alloc) filter='.present and .zero and (.data | not) and has("offset")' ;;
	unallocated) filter='(.present | not) and (.data | not)' ;;
	esac
	out=$(qemu-img map -f qcow2 --output=json "$1" |
		jq -c --argjson lo "$2" --argjson hi $(($2 + $3)) \
			'[.[] | select(.start < $hi and .start + .length > $lo)]') ||
		{ echo "qemu-img map $1 failed"; return 1; }
	jq -e "length > 0 and all(.[]; $filter)" <<< "$out" > /dev/null && return 0
	echo "qemu-img map of [$2, $(($2 + $3))) is not all $4: $out"
	return 1
}

# detach_check DEVICE IMAGE RAW WHAT: detach, qemu-img check clean, and
# the image holds what RAW holds.
detach_check() {
	local out
	"$QCOW2CTL" detach "$1" || { echo "$4: detach failed"; return 1; }
	check_image "$2" || { echo "$4: qemu-img check"; return 1; }
	out=$(qemu-img compare -f qcow2 -F raw "$2" "$3" 2>&1) ||
		{ echo "$4: qemu-img compare: $out"; return 1; }
}

# discard_all DEVICE DISCARDED FREED WHAT: blkdiscard of the whole device
# and a flush discard and free exactly DISCARDED and FREED clusters.
discard_all() {
	since "$1" || return 1
	blkdiscard "$1" || { echo "$4: blkdiscard failed"; return 1; }
	dev_fsync "$1" || return 1
	rose "$1" discarded_clusters "$2" "$4" && rose "$1" freed_clusters "$3" "$4"
}

# After a failed case: nothing mounted, nothing attached.
reset() {
	mountpoint -q "$mnt" && umount "$mnt"
	"$QCOW2CTL" detach --all 2> /dev/null
	return 0
}
failed=0
run() {
	"$@" && return 0
	failed=1
	reset
}

# Whole clusters of a version 3 image: write zeros with REQ_NOUNMAP
# (blkdiscard -z: BLKZEROOUT) keeps the host clusters, write zeros that may
# unmap (fallocate --punch-hole on the device) and discard free them, and
# a discard of the whole device frees every host cluster left.
whole_clusters() {
	local img=$dir/w.qcow2 raw=$dir/w.raw size=$((64 * MiB)) dev b out k
	rm -f "$img" "$raw"
	"$QCOW2CTL" create "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	if [ "$(queue "$dev" discard_granularity)" != $cs ] ||
	   [ "$(queue "$dev" discard_max_bytes)" -lt $cs ] ||
	   [ "$(queue "$dev" write_zeroes_max_bytes)" -lt $cs ] ||
	   [ "$(attr "$dev" discard)" != 1 ]; then
		echo "a writable device over ext4 does not advertise discard and write-zeroes:" \
		     "granularity $(queue "$dev" discard_granularity)," \
		     "discard_max_bytes $(queue "$dev" discard_max_bytes)," \
		     "write_zeroes_max_bytes $(queue "$dev" write_zeroes_max_bytes)," \
		     "qcow2/discard $(attr "$dev" discard)"
		return 1
	fi
	put "$dev" 0 $((16 * MiB)) && put "$raw" 0 $((16 * MiB)) && dev_fsync "$dev" ||
		return 1

	since "$dev" || return 1
	blkdiscard -z -o $((4 * MiB)) -l $((4 * MiB)) "$dev" ||
		{ echo "blkdiscard -z failed"; return 1; }
	fallocate -z -o $((4 * MiB)) -l $((4 * MiB)) "$raw"
	same "$dev" "$raw" "after blkdiscard -z" || return 1
	rose "$dev" discarded_clusters 64 "blkdiscard -z of 4 MiB" || return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 0 "BLKZEROOUT (REQ_NOUNMAP) keeps the host clusters" ||
		return 1

	since "$dev" || return 1
	b=$(alloc "$img")
	fallocate -p -o $((8 * MiB)) -l $((4 * MiB)) "$dev" ||
		{ echo "fallocate --punch-hole on the device failed"; return 1; }
	fallocate -p -o $((8 * MiB)) -l $((4 * MiB)) "$raw"
	same "$dev" "$raw" "after fallocate --punch-hole" || return 1
	rose "$dev" discarded_clusters 64 "write zeroes over 4 MiB" || return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 64 "write zeroes without REQ_NOUNMAP" || return 1
	shrank "$img" "$b" $((4 * MiB * 9 / 10)) "write zeroes of 4 MiB" || return 1

	since "$dev" || return 1
	b=$(alloc "$img")
	blkdiscard -o $((12 * MiB)) -l $((2 * MiB)) "$dev" ||
		{ echo "blkdiscard failed"; return 1; }
	fallocate -p -o $((12 * MiB)) -l $((2 * MiB)) "$raw"
	rose "$dev" discarded_clusters 32 "discard of 2 MiB" || return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 32 "discard of 2 MiB, flushed" || return 1
	shrank "$img" "$b" $((2 * MiB * 9 / 10)) "discard of 2 MiB" || return 1
	same "$dev" "$raw" "after blkdiscard" || return 1

	detach_check "$dev" "$img" "$raw" "discards of whole clusters" || return 1
	map_is "$img" 0 $((4 * MiB)) data &&
		map_is "$img" $((4 * MiB)) $((4 * MiB)) zero-alloc &&
		map_is "$img" $((8 * MiB)) $((6 * MiB)) zero &&
		map_is "$img" $((14 * MiB)) $((2 * MiB)) data &&
		map_is "$img" $((16 * MiB)) $((48 * MiB)) unallocated || return 1

	# All of it: the data clusters and the zero clusters that kept
	# theirs (160 clusters) go; zero and unallocated ones stay as they are.
	dev=$(attach "$img") || return 1
	b=$(alloc "$img")
	discard_all "$dev" 160 160 "discard of the whole device" || return 1
	shrank "$img" "$b" $((6 * MiB * 9 / 10)) "discard of the whole device" || return 1
	rm "$raw"
	truncate -s $size "$raw"
	same "$dev" "$raw" "after a discard of the whole device" || return 1
	detach_check "$dev" "$img" "$raw" "discard of the whole device" || return 1
	map_is "$img" 0 $((16 * MiB)) zero &&
		map_is "$img" $((16 * MiB)) $((48 * MiB)) unallocated || return 1
	# qcow2ctl info says the same as sysfs.
	dev=$(attach "$img") || return 1
	blkdiscard -o 0 -l $MiB "$dev" && dev_fsync "$dev" || return 1
	out=$("$QCOW2CTL" info --json "$dev") || { echo "qcow2ctl info failed"; return 1; }
	for k in discarded_clusters freed_clusters reused_clusters; do
		[ "$(jq -r .$k <<< "$out")" = "$(attr "$dev" $k)" ] ||
			{ echo "qcow2ctl info: $k $(jq -r .$k <<< "$out"), sysfs $(attr "$dev" $k)"; return 1; }
	done
	jq -r .state <<< "$out" | grep -qw discard ||
		{ echo "qcow2ctl info: state $(jq -r .state <<< "$out") lacks discard"; return 1; }
	"$QCOW2CTL" info "$dev" | grep -q '^discarded_clusters: [0-9]' ||
		{ echo "qcow2ctl info prints no discarded_clusters"; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	info "ok: whole clusters: blkdiscard -z, fallocate --punch-hole, blkdiscard (${SECONDS}s)"
}

# Requests that start or end inside a cluster: write zeros writes the
# edges with zeros, a discard leaves them (and a discard of part of one
# cluster changes nothing), and a discard of the last cluster of an image
# whose size is not a multiple of the cluster size covers it whole.
unaligned() {
	local img=$dir/u.qcow2 raw=$dir/u.raw size=$((32 * cs + 4096)) dev
	rm -f "$img" "$raw"
	"$QCOW2CTL" create "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	put "$dev" 0 $size && put "$raw" 0 $size && dev_fsync "$dev" || return 1

	# Clusters 2 and 3 whole, the end of 1 and the start of 4.
	since "$dev" || return 1
	blkdiscard -z -o $((cs + 4096)) -l $((3 * cs)) "$dev" ||
		{ echo "unaligned blkdiscard -z failed"; return 1; }
	fallocate -z -o $((cs + 4096)) -l $((3 * cs)) "$raw"
	same "$dev" "$raw" "after an unaligned blkdiscard -z" || return 1
	rose "$dev" discarded_clusters 2 "unaligned blkdiscard -z over two whole clusters" ||
		return 1

	# Clusters 9 and 10 whole, 512 bytes of 8 and of 11.
	fallocate -p -o $((8 * cs + cs - 512)) -l $((2 * cs + 1024)) "$dev" ||
		{ echo "unaligned fallocate --punch-hole on the device failed"; return 1; }
	fallocate -p -o $((8 * cs + cs - 512)) -l $((2 * cs + 1024)) "$raw"
	same "$dev" "$raw" "after an unaligned fallocate --punch-hole" || return 1
	rose "$dev" discarded_clusters 4 "write zeroes over two more whole clusters" ||
		return 1

	# Clusters 17 and 18 whole; 16 and 19 keep all their bytes.
	blkdiscard -o $((16 * cs + 4096)) -l $((3 * cs)) "$dev" ||
		{ echo "unaligned blkdiscard failed"; return 1; }
	fallocate -p -o $((17 * cs)) -l $((2 * cs)) "$raw"
	same "$dev" "$raw" "after an unaligned blkdiscard (edges must keep their data)" ||
		return 1
	rose "$dev" discarded_clusters 6 "unaligned blkdiscard over two whole clusters" ||
		return 1
	# Part of one cluster: nothing.
	blkdiscard -o $((24 * cs + 4096)) -l 8192 "$dev" ||
		{ echo "blkdiscard of part of a cluster failed"; return 1; }
	same "$dev" "$raw" "after a discard of part of a cluster" || return 1
	rose "$dev" discarded_clusters 6 "a discard of part of a cluster" || return 1
	# The last cluster, 4 KiB of it inside the device: whole.
	blkdiscard -o $((32 * cs)) -l 4096 "$dev" ||
		{ echo "blkdiscard of the last cluster failed"; return 1; }
	fallocate -p -o $((32 * cs)) -l 4096 "$raw"
	rose "$dev" discarded_clusters 7 "a discard of the device's partial last cluster" ||
		return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 5 "clusters 9, 10, 17, 18 and 32" || return 1
	same "$dev" "$raw" "after the unaligned requests" || return 1

	detach_check "$dev" "$img" "$raw" "unaligned requests" || return 1
	map_is "$img" $cs $cs data && map_is "$img" $((2 * cs)) $((2 * cs)) zero-alloc &&
		map_is "$img" $((4 * cs)) $cs data && map_is "$img" $((8 * cs)) $cs data &&
		map_is "$img" $((9 * cs)) $((2 * cs)) zero && map_is "$img" $((11 * cs)) $cs data &&
		map_is "$img" $((16 * cs)) $cs data && map_is "$img" $((17 * cs)) $((2 * cs)) zero &&
		map_is "$img" $((19 * cs)) $cs data && map_is "$img" $((24 * cs)) $cs data &&
		map_is "$img" $((32 * cs)) 4096 zero || return 1
	info "ok: unaligned write zeroes and discards (${SECONDS}s)"
}

# Version 2 has no zero flag: a discard leaves the clusters unallocated
# (zeros, there being no backing file); a write of zeros that must keep
# the host clusters writes zeros.
version2() {
	local img=$dir/v2.qcow2 raw=$dir/v2.raw size=$((16 * MiB)) dev b
	rm -f "$img" "$raw"
	"$QCOW2CTL" create --compat=0.10 "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	[ "$(attr "$dev" version)" = 2 ] || { echo "not a version 2 image"; return 1; }
	[ "$(queue "$dev" discard_granularity)" = $cs ] ||
		{ echo "version 2: discard_granularity $(queue "$dev" discard_granularity)"; return 1; }
	put "$dev" 0 $((4 * MiB)) && put "$raw" 0 $((4 * MiB)) && dev_fsync "$dev" ||
		return 1
	since "$dev" || return 1
	b=$(alloc "$img")
	blkdiscard -o $MiB -l $((2 * MiB)) "$dev" || { echo "blkdiscard failed"; return 1; }
	fallocate -p -o $MiB -l $((2 * MiB)) "$raw"
	rose "$dev" discarded_clusters 32 "version 2 discard of 2 MiB" || return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 32 "version 2 discard of 2 MiB" || return 1
	shrank "$img" "$b" $((2 * MiB * 9 / 10)) "version 2 discard of 2 MiB" || return 1
	blkdiscard -z -o $((3 * MiB + 4096)) -l $((2 * cs)) "$dev" ||
		{ echo "version 2 blkdiscard -z failed"; return 1; }
	fallocate -z -o $((3 * MiB + 4096)) -l $((2 * cs)) "$raw"
	same "$dev" "$raw" "version 2, after the discard and blkdiscard -z" || return 1
	detach_check "$dev" "$img" "$raw" "version 2" || return 1
	map_is "$img" 0 $MiB data && map_is "$img" $MiB $((2 * MiB)) unallocated &&
		map_is "$img" $((3 * MiB + 4 * cs)) $((MiB - 4 * cs)) data || return 1
	info "ok: version 2 discard (${SECONDS}s)"
}

# Over a backing file, QEMU's rules: on version 3 a discarded cluster reads
# zeros (the zero flag hides what lies below), on version 2 the backing
# file's data again. A compressed cluster gives up its host cluster. A
# detach right after the discards, before the work that frees clusters a
# short while after a burst, still frees them all: qemu-img check finds no
# leak, and the image reads what a raw file that took the same writes does.
chain() {
	local lower=$dir/cb.raw img=$dir/c.qcow2 raw=$dir/c.raw v dev a b
	rm -f "$lower"
	put "$lower" 0 $((8 * MiB)) || return 1
	for v in 1.1 0.10; do
		rm -f "$img" "$raw"
		qemu-img create -q -f qcow2 -o compat=$v -b "$lower" -F raw "$img" $((8 * MiB)) &&
			qemu-io -f qcow2 -c "write -P 0x5a 1M 1M" -c "write -c -P 0x6b 4M 64k" \
				-c "write -P 0x7c 6M 1M" "$img" > /dev/null || return 1
		cp "$lower" "$raw" &&
			qemu-io -f raw -c "write -P 0x5a 1M 1M" -c "write -P 0x6b 4M 64k" \
				-c "write -P 0x7c 6M 1M" "$raw" > /dev/null || return 1
		dev=$(attach "$img") || return 1
		a=$(alloc "$img")
		since "$dev" || return 1
		blkdiscard -o $MiB -l $MiB "$dev" && blkdiscard -o $((4 * MiB)) -l $cs "$dev" &&
			blkdiscard -o $((6 * MiB)) -l $((512 * 1024)) "$dev" ||
			{ echo "compat $v: blkdiscard over a backing file failed"; return 1; }
		rose "$dev" discarded_clusters 25 "compat $v over a backing file" || return 1
		"$QCOW2CTL" detach "$dev" || { echo "compat $v: detach right after discards"; return 1; }
		if [ $v = 1.1 ]; then
			qemu-io -f raw -c "write -z 1M 1M" -c "write -z 4M 64k" \
				-c "write -z 6M 512k" "$raw" > /dev/null || return 1
		else
			dd if="$lower" of="$raw" bs=64k skip=16 seek=16 count=16 conv=notrunc status=none &&
				dd if="$lower" of="$raw" bs=64k skip=64 seek=64 count=1 conv=notrunc status=none &&
				dd if="$lower" of="$raw" bs=64k skip=96 seek=96 count=8 conv=notrunc status=none ||
				return 1
		fi
		check_image "$img" || { echo "compat $v: qemu-img check after discards"; return 1; }
		b=$(qemu-img compare -f qcow2 -F raw "$img" "$raw" 2>&1) ||
			{ echo "compat $v over a backing file: qemu-img compare: $b"; return 1; }
		shrank "$img" "$a" $((MiB * 3 / 2 * 9 / 10)) "compat $v over a backing file" || return 1
	done
	info "ok: discards over a backing file, a compressed cluster, detach at once (${SECONDS}s)"
}

# sieve TARGET FIRST STEP COUNT LENGTH: COUNT ranges of LENGTH bytes at
# FIRST, FIRST + STEP, ...: one BLKDISCARD each on a device, a punched
# hole in a file.
sieve() {
	python3 - "$@" <<'PY'
import ctypes, fcntl, os, stat, struct, sys
path = sys.argv[1]
first, step, count, length = map(int, sys.argv[2:])
fd = os.open(path, os.O_WRONLY)
blk = stat.S_ISBLK(os.fstat(fd).st_mode)
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
BLKDISCARD = 0x1277
PUNCH = 0x01 | 0x02	# FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
for k in range(count):
    off = first + k * step
    if blk:
        fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", off, length))
    elif libc.fallocate(fd, PUNCH, off, length):
        raise OSError(ctypes.get_errno(), "fallocate")
os.close(fd)
PY
}

# The raw-file oracle: the same writes, discards, zeroings and flushes go
# to the device and to a raw file (a discard there: a punched hole), and
# qemu-img compare finds them identical. Discards are of whole clusters
# (partial ones leave data that a hole would not); writes of zeros go
# anywhere, 512-byte aligned.
oracle() { # CLUSTER-SIZE [qcow2ctl create options]
	local c=$1 n=1024 img=$dir/o.qcow2 raw=$dir/o.raw log=$dir/o.log
	local size dev b op off len src
	shift
	size=$((n * c))
	rm -f "$img" "$raw" "$log"
	"$QCOW2CTL" create --cluster-size=$c "$@" "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	[ "$(queue "$dev" discard_granularity)" = "$c" ] ||
		{ echo "discard_granularity $(queue "$dev" discard_granularity), not the cluster size $c"; return 1; }
	put "$dev" 0 $size && put "$raw" 0 $size && dev_fsync "$dev" || return 1

	# Every other cluster, one discard each: more runs of clusters to
	# free than the queue of pending frees holds (QCOW2_PENDING_FREE_MAX,
	# 256), so it fills and some are freed before the device is flushed.
	since "$dev" || return 1
	b=$(alloc "$img")
	sieve "$dev" 0 $((2 * c)) 300 "$c" && sieve "$raw" 0 $((2 * c)) 300 "$c" ||
		{ echo "300 discards of one cluster failed"; return 1; }
	rose "$dev" discarded_clusters 300 "every other cluster" || return 1
	rose "$dev" freed_clusters ">=1" "a full queue of pending frees is flushed" ||
		return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 300 "every other cluster, flushed" || return 1
	shrank "$img" "$b" $((300 * c * 9 / 10)) "300 discarded clusters" || return 1
	same "$dev" "$raw" "after discarding every other cluster" || return 1

	# Then a deterministic mix.
	python3 - "$size" "$c" > "$dir/o.ops" <<'PY' || return 1
import random, sys
size, c = int(sys.argv[1]), int(sys.argv[2])
r = random.Random(15)
pat = 64 << 20
for _ in range(60):
    k = r.randrange(10)
    if k < 4:
        n = r.randint(1, 8) * c
        print("write", r.randrange((size - n) // 4096 + 1) * 4096, n,
              r.randrange((pat - n) // 4096 + 1) * 4096)
    elif k < 6:
        n = r.randint(1, 32) * c
        print("discard", r.randrange((size - n) // c + 1) * c, n)
    elif k < 9:
        n = r.randint(1, 3 * c // 512) * 512
        print(("zero", "punch", "zeroout")[k - 6],
              r.randrange((size - n) // 512 + 1) * 512, n)
    else:
        print("flush")
PY
	while read -r op off len src; do
		echo "$op $off $len $src" >> "$log"
		case $op in
		write) put "$dev" "$off" "$len" "$src" && put "$raw" "$off" "$len" "$src" ;;
		discard) blkdiscard -o "$off" -l "$len" "$dev" &&
			 fallocate -p -o "$off" -l "$len" "$raw" ;;
		zero) fallocate -z -o "$off" -l "$len" "$dev" &&
		      fallocate -z -o "$off" -l "$len" "$raw" ;;
		punch) fallocate -p -o "$off" -l "$len" "$dev" &&
		       fallocate -p -o "$off" -l "$len" "$raw" ;;
		zeroout) blkdiscard -z -o "$off" -l "$len" "$dev" &&
			 fallocate -z -o "$off" -l "$len" "$raw" ;;
		flush) dev_fsync "$dev" ;;
		esac || { echo "$op $off $len failed"; return 1; }
	done < "$dir/o.ops"
	dev_fsync "$dev" || return 1
	if ! same "$dev" "$raw" "oracle, cluster $c${*:+ $*}"; then
		echo "the operations (the first differing byte is in a range one of them covers):"
		cat "$log"
		return 1
	fi
	detach_check "$dev" "$img" "$raw" "oracle, cluster $c${*:+ $*}" || return 1
	info "ok: raw-file oracle, cluster $c${*:+ $*} (${SECONDS}s)"
}

# fio: random trims of written clusters (which then read zeros), and
# trim-then-write with crc32c verification, with fio's own check that
# blocks it trims after writing them read zeros where this fio has it.
fio_trim() {
	local img=$dir/fio.qcow2 size=$fio_size dev out
	local common=(--ioengine=libaio --direct=1 --bs=64k --iodepth=16 --minimal)
	local trimverify=()
	if fio --cmdhelp=trim_verify_zero 2>&1 | grep -q '^ *trim_verify_zero:'; then
		trimverify=(--trim_percentage=50 --trim_backlog=16 --trim_verify_zero=1)
	else
		info "note: this fio has no trim_verify_zero"
	fi
	rm -f "$img"
	"$QCOW2CTL" create "$img" $((2 * size)) > /dev/null || return 1
	dev=$(attach "$img") || return 1
	out=$(fio --name=fill --filename="$dev" "${common[@]}" --rw=write \
		--size=$((2 * size)) 2>&1) || { echo "fio fill: $out" | tail -n 20; return 1; }
	dev_fsync "$dev" || return 1
	since "$dev" || return 1
	out=$(fio --name=randtrim --filename="$dev" "${common[@]}" --rw=randtrim \
		--size=$size 2>&1) || { echo "fio randtrim: $out" | tail -n 20; return 1; }
	rose "$dev" discarded_clusters $((size / cs)) "fio randtrim over every cluster" ||
		return 1
	dd if="$dev" bs=1M count=$((size / MiB)) iflag=direct status=none |
		cmp -n $size - /dev/zero ||
		{ echo "clusters fio trimmed do not read zeros"; return 1; }
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters $((size / cs)) "fio randtrim, flushed" || return 1
	out=$(fio --name=trimwrite --filename="$dev" "${common[@]}" --rw=trimwrite \
		--offset=$size --size=$size --verify=crc32c --verify_fatal=1 \
		"${trimverify[@]}" 2>&1) ||
		{ echo "fio trimwrite: $out" | tail -n 20; return 1; }
	dev_fsync "$dev" || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "qemu-img check after fio"; return 1; }
	map_is "$img" 0 "$size" zero || return 1
	info "ok: fio randtrim and trimwrite ${trimverify[*]} (${SECONDS}s)"
}

# A snapshot shares every cluster: a discard of the whole device only drops
# the image's references (nothing freed, nothing punched), the snapshot
# keeps its content, and the image reads zeros.
snapshot() {
	local img=$dir/s.qcow2 raw=$dir/s.raw s1=$dir/s1.raw out=$dir/out.raw
	local size=$((32 * MiB)) dev b
	rm -f "$img" "$raw" "$s1" "$out"
	"$QCOW2CTL" create "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	put "$dev" 0 $((8 * MiB)) && put "$raw" 0 $((8 * MiB)) || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	qemu-img snapshot -c s1 "$img" || return 1
	qemu-img convert -f qcow2 -O raw -l snapshot.name=s1 "$img" "$s1" || return 1
	cmp "$s1" "$raw" || { echo "snapshot s1 is not what was written"; return 1; }

	dev=$(attach "$img") || return 1
	b=$(alloc "$img")
	discard_all "$dev" 128 0 "discard of 8 MiB whose clusters a snapshot shares" || return 1
	[ "$(alloc "$img")" -ge "$b" ] ||
		{ echo "the image file shrank: clusters a snapshot uses were punched"; return 1; }
	rm "$raw"
	truncate -s $size "$raw"
	same "$dev" "$raw" "after a discard over a snapshot" || return 1
	# New data after it, in fresh clusters.
	put "$dev" $((2 * MiB)) $MiB $((40 * MiB)) && put "$raw" $((2 * MiB)) $MiB $((40 * MiB)) ||
		return 1
	dev_fsync "$dev" || return 1
	rose "$dev" freed_clusters 0 "writes after the discard" || return 1
	detach_check "$dev" "$img" "$raw" "discard over a snapshot" || return 1
	qemu-img convert -f qcow2 -O raw -l snapshot.name=s1 "$img" "$out" || return 1
	cmp "$out" "$s1" || { echo "snapshot s1 changed after a discard of the image"; return 1; }
	# The snapshot through the device: read-only, so neither is offered.
	dev=$(attach --snapshot=s1 "$img") || return 1
	same "$dev" "$s1" "snapshot s1 through the device" || return 1
	[ "$(queue "$dev" discard_max_bytes)" = 0 ] && [ "$(queue "$dev" write_zeroes_max_bytes)" = 0 ] ||
		{ echo "a snapshot's device advertises discard or write-zeroes"; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "qemu-img check after reading the snapshot"; return 1; }
	info "ok: discard over a snapshot (${SECONDS}s)"
}

# mkfs.ext4 over old data: with -E nodiscard nothing is given back (its
# journal is zeroed with write-zeroes that keep the clusters); by
# default mkfs discards the whole device first, and the image gives back at
# least 90 % of the data it held. Then a write of zeros through the file
# system (fallocate -z inside a file, which ext4 may turn into zeroouts of
# the device) reads zeros there and the file's data elsewhere.
mkfs_zero() {
	local img=$dir/m.qcow2 dev a0 a1 out k f
	rm -f "$img"
	"$QCOW2CTL" create "$img" $((512 * MiB)) > /dev/null || return 1
	dev=$(attach "$img") || return 1
	for k in 0 1 2 3; do
		put "$dev" $((k * 64 * MiB)) $((64 * MiB)) 0 || return 1
	done
	dev_fsync "$dev" || return 1
	since "$dev" || return 1
	mkfs.ext4 -q -F -E nodiscard "$dev" || { echo "mkfs.ext4 -E nodiscard failed"; return 1; }
	dev_fsync "$dev" || return 1
	a0=$(alloc "$img")
	# It still zeroes its journal, with REQ_NOUNMAP: nothing is freed.
	rose "$dev" freed_clusters 0 "mkfs.ext4 -E nodiscard" || return 1
	[ "$a0" -ge $((256 * MiB)) ] ||
		{ echo "mkfs.ext4 -E nodiscard: the image holds only $a0 bytes"; return 1; }
	mkfs.ext4 -q -F "$dev" || { echo "mkfs.ext4 failed"; return 1; }
	dev_fsync "$dev" || return 1
	a1=$(alloc "$img")
	[ $((a0 - a1)) -ge $((256 * MiB * 9 / 10)) ] ||
		{ echo "mkfs.ext4 (discarding) gave back $((a0 - a1)) of the 256 MiB written"; return 1; }
	rose "$dev" freed_clusters ">=$((256 * MiB * 9 / 10 / cs))" "mkfs.ext4's discard" ||
		return 1
	mount "$dev" "$mnt" || { echo "mount after mkfs failed"; return 1; }
	f=$mnt/z
	head -c $((8 * MiB)) "$pat" > "$f" && sync || return 1
	fallocate -z -o $MiB -l $((4 * MiB)) "$f" && sync ||
		{ echo "fallocate -z in ext4 failed"; return 1; }
	dev_fsync "$dev" ro || return 1
	echo 3 > /proc/sys/vm/drop_caches
	cmp -n $MiB "$f" "$pat" && cmp -i $MiB -n $((4 * MiB)) "$f" /dev/zero &&
		cmp -i $((5 * MiB)) -n $((3 * MiB)) "$f" "$pat" ||
		{ echo "a file after fallocate -z of its middle reads wrong"; return 1; }
	umount "$mnt" || return 1
	out=$(e2fsck -fn "$dev" 2>&1) || { echo "e2fsck after fallocate -z: $out" | tail -n 20; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || return 1
	info "ok: mkfs.ext4 with and without discard, fallocate -z in ext4 (${SECONDS}s)"
}

# end_offset IMAGE: qemu-img check's "Image end offset": the end of the
# last cluster with a refcount.
end_offset() {
	qemu-img check "$1" 2>&1 | sed -n 's/^Image end offset: //p'
}

# Freed clusters are handed out again before the file grows: after a
# discard, in the same attach (once no request that could reach them is
# left) and after a re-attach, and holes qemu-img left. Only free clusters
# that are holes in the file are reused: the bytes around a partial write
# read zeros, never what the cluster held, and a free cluster that still
# holds data is left alone.
reuse() {
	local img=$dir/re.qcow2 raw=$dir/re.raw size=$((64 * MiB)) dev e1 e2 k b
	rm -f "$img" "$raw"
	"$QCOW2CTL" create "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	put "$dev" 0 $((32 * MiB)) && put "$raw" 0 $((32 * MiB)) && dev_fsync "$dev" ||
		return 1
	blkdiscard -o 0 -l $((16 * MiB)) "$dev" && fallocate -p -o 0 -l $((16 * MiB)) "$raw" ||
		{ echo "blkdiscard failed"; return 1; }
	dev_fsync "$dev" || return 1
	# The first allocation after the frees still counts itself among the
	# requests that could reach them, and takes a cluster from the end.
	b=$(attr "$dev" reused_clusters)
	put "$dev" $((56 * MiB)) $cs && put "$raw" $((56 * MiB)) $cs || return 1
	k=$(($(attr "$dev" reused_clusters) - b))
	[ $k = 0 ] || {
		echo "the first write after a discard reused $k clusters, while a request" \
		     "that could still reach them (itself) was in flight"
		return 1
	}
	# Partial writes into clusters that will be reused: 4 KiB at 12 KiB
	# into clusters 600, 610 and 620 of the device (below the 8 MiB next).
	for k in 600 610 620; do
		put "$dev" $((k * cs + 12288)) 4096 $((k * 4096)) &&
			put "$raw" $((k * cs + 12288)) 4096 $((k * 4096)) || return 1
	done
	put "$dev" $((40 * MiB)) $((8 * MiB)) $MiB && put "$raw" $((40 * MiB)) $((8 * MiB)) $MiB ||
		return 1
	dev_fsync "$dev" || return 1
	k=$(($(attr "$dev" reused_clusters) - b))
	[ $k = 131 ] || { echo "writes after a discard reused $k clusters, not 131"; return 1; }
	same "$dev" "$raw" "writes into reused clusters (zeros around partial ones)" || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	e1=$(end_offset "$img")
	# After a re-attach: the rest of the discarded 16 MiB.
	dev=$(attach "$img") || return 1
	put "$dev" $((48 * MiB)) $((16 * MiB)) && put "$raw" $((48 * MiB)) $((16 * MiB)) ||
		return 1
	dev_fsync "$dev" || return 1
	k=$(attr "$dev" reused_clusters)
	[ "$k" -ge 100 ] || { echo "writes after a re-attach reused $k clusters"; return 1; }
	detach_check "$dev" "$img" "$raw" "reuse" || return 1
	e2=$(end_offset "$img")
	[ "$e2" -le $((e1 + 16 * MiB - 100 * cs)) ] ||
		{ echo "the image grew from $e1 to $e2 bytes: freed clusters were not reused"; return 1; }

	# Holes qemu-img made, and one free cluster that holds data (written
	# into the file after qemu-img freed it): that one is never reused, so
	# its bytes stay and the image grows by one cluster.
	rm -f "$img"
	qemu-img create -q -f qcow2 "$img" $size || return 1
	qemu-io -c "write -P 7 0 32M" "$img" > /dev/null || return 1
	b=$(qemu-img map -f qcow2 --output=json "$img" |
		jq '[.[] | select(.start <= 6553600 and .start + .length > 6553600)][0] | .offset + 6553600 - .start') ||
		return 1
	qemu-io -c "discard 0 16M" "$img" > /dev/null || return 1
	head -c $cs "$pat" | dd of="$img" bs=$cs seek=$((b / cs)) conv=notrunc status=none ||
		return 1
	e1=$(end_offset "$img")
	dev=$(attach "$img") || return 1
	put "$dev" $((32 * MiB)) $((16 * MiB)) || return 1
	dev_fsync "$dev" || return 1
	k=$(attr "$dev" reused_clusters)
	[ "$k" = 255 ] ||
		{ echo "16 MiB over 256 holes and one free cluster with data reused $k, not 255"; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || return 1
	e2=$(end_offset "$img")
	[ "$e2" = $((e1 + cs)) ] ||
		{ echo "the image grew from $e1 to $e2, not by one cluster"; return 1; }
	cmp -s <(head -c $cs "$pat") <(dd if="$img" bs=$cs skip=$((b / cs)) count=1 status=none) ||
		{ echo "the free cluster at $b that held data was reused or punched"; return 1; }
	qemu-io -c "read -P 7 16M 16M" "$img" | grep -q '^read' &&
		! qemu-io -c "read -P 7 16M 16M" "$img" | grep -q 'Pattern verification failed' ||
		{ echo "data qemu-img wrote changed"; return 1; }
	info "ok: freed clusters reused (${SECONDS}s)"
}

# L2 tables without COPIED but with refcount 1 (an image another tool left
# so) are copied before their first change and the old ones freed and
# punched: the image stays consistent, and the next attach hands their
# clusters out again (this one keeps clusters that held metadata at attach
# out of the allocator's way).
uncopied() {
	# 4 KiB clusters: one L2 table maps 2 MiB.
	local img=$dir/u.qcow2 raw=$dir/u.raw size=$((8 * MiB)) t=$((2 * MiB)) dev l1 i e e1 e2
	rm -f "$img" "$raw"
	qemu-img create -q -f qcow2 -o cluster_size=4096 "$img" $size || return 1
	truncate -s $size "$raw"
	for i in 0 1 2; do
		qemu-io -f qcow2 -c "write -P 0x3$i $((i * t)) 8k" "$img" > /dev/null &&
			qemu-io -f raw -c "write -P 0x3$i $((i * t)) 8k" "$raw" > /dev/null ||
			return 1
	done
	l1=$(peek_be64 "$img" 40)
	for i in 0 1; do
		e=$(peek_be64 "$img" $((l1 + i * 8)))
		poke "$img" $((l1 + i * 8)) "$(be64 $((e & ~(1 << 63))))"
	done
	dev=$(attach "$img") || return 1
	put "$dev" 512 1024 0 && put "$raw" 512 1024 0 && dev_fsync "$dev" &&
		put "$dev" $((t + 512)) 1024 0 && put "$raw" $((t + 512)) 1024 0 &&
		dev_fsync "$dev" || return 1
	[ "$(attr "$dev" corrupt)" = 0 ] || { echo "copying tables without COPIED: corrupt"; return 1; }
	[ "$(attr "$dev" freed_clusters)" = 2 ] ||
		{ echo "copying two tables freed $(attr "$dev" freed_clusters) clusters, not 2"; return 1; }
	same "$dev" "$raw" "tables without COPIED, copied" || return 1
	detach_check "$dev" "$img" "$raw" "tables without COPIED" || return 1
	e1=$(end_offset "$img")
	# A new table and a data cluster: where the old tables were.
	dev=$(attach "$img") || return 1
	put "$dev" $((3 * t)) 4096 0 && put "$raw" $((3 * t)) 4096 0 && dev_fsync "$dev" ||
		return 1
	[ "$(attr "$dev" reused_clusters)" = 2 ] ||
		{ echo "a new table and cluster reused $(attr "$dev" reused_clusters) freed tables, not 2"; return 1; }
	detach_check "$dev" "$img" "$raw" "freed tables reused" || return 1
	e2=$(end_offset "$img")
	[ "$e2" = "$e1" ] || { echo "the image grew from $e1 to $e2 over freed tables"; return 1; }
	info "ok: tables without COPIED copied, their clusters reused (${SECONDS}s)"
}

# Read-only: neither advertised, and every way in is refused.
read_only() {
	local img=$dir/r.qcow2 raw=$dir/r.raw size=$((16 * MiB)) dev
	rm -f "$img" "$raw"
	"$QCOW2CTL" create "$img" $size > /dev/null || return 1
	truncate -s $size "$raw"
	dev=$(attach "$img") || return 1
	put "$dev" 0 $((4 * MiB)) && put "$raw" 0 $((4 * MiB)) || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	dev=$(attach --read-only "$img") || return 1
	if [ "$(queue "$dev" discard_max_bytes)" != 0 ] ||
	   [ "$(queue "$dev" write_zeroes_max_bytes)" != 0 ] ||
	   [ "$(attr "$dev" discard)" != 0 ]; then
		echo "a read-only device advertises discard_max_bytes $(queue "$dev" discard_max_bytes)," \
		     "write_zeroes_max_bytes $(queue "$dev" write_zeroes_max_bytes)," \
		     "qcow2/discard $(attr "$dev" discard)"
		return 1
	fi
	since "$dev" || return 1
	blkdiscard -o 0 -l $MiB "$dev" 2> /dev/null &&
		{ echo "blkdiscard succeeded on a read-only device"; return 1; }
	blkdiscard -z -o 0 -l $MiB "$dev" 2> /dev/null &&
		{ echo "blkdiscard -z succeeded on a read-only device"; return 1; }
	fallocate -p -o 0 -l $MiB "$dev" 2> /dev/null &&
		{ echo "fallocate --punch-hole succeeded on a read-only device"; return 1; }
	rose "$dev" discarded_clusters 0 "a read-only device" || return 1
	same "$dev" "$raw" "a read-only device after refused discards" || return 1
	detach_check "$dev" "$img" "$raw" "read-only" || return 1
	info "ok: read-only: no discard, no write-zeroes (${SECONDS}s)"
}

# A file system: FILES files of 64 MiB written, synced, removed, and the
# space given back by fstrim or by online discard (mount -o discard: at
# the journal commit, which sync forces; xfs issues them in the background,
# hence the wait): the image file's allocated bytes drop by at least 90 %
# of the files. The file system stays whole (fsck) and a file written
# after it reads back after a re-attach.
fs_trim() { # FS fstrim|online FILES
	local fs=$1 how=$2 files=$3 img=$dir/fs.qcow2 dev k b0 b1 want opts=() out
	rm -f "$img"
	"$QCOW2CTL" create "$img" 4G > /dev/null || return 1
	dev=$(attach "$img") || return 1
	case $fs in
	ext4) mkfs.ext4 -q -F "$dev" ;;
	xfs) mkfs.xfs -q -f "$dev" ;;
	esac || { echo "mkfs.$fs failed"; return 1; }
	[ "$how" = online ] && opts=(-o discard)
	mount -t "$fs" "${opts[@]}" "$dev" "$mnt" || { echo "mount $fs ${opts[*]} failed"; return 1; }
	sync
	dev_fsync "$dev" ro || return 1
	b0=$(alloc "$img")
	for k in $(seq "$files"); do
		cp "$pat" "$mnt/f$k" || { echo "writing to $fs failed"; return 1; }
	done
	sync
	dev_fsync "$dev" ro || return 1
	b1=$(alloc "$img")
	want=$((files * 64 * MiB))
	[ $((b1 - b0)) -ge $((want * 9 / 10)) ] ||
		{ echo "$fs: $files files of 64 MiB took only $((b1 - b0)) bytes of the image file"; return 1; }
	since "$dev" || return 1
	rm "$mnt"/f*
	# Blocks freed by a transaction not yet committed are not free for
	# fstrim, and online discard happens at the commit: sync first.
	sync
	if [ "$how" = fstrim ]; then
		out=$(fstrim -v "$mnt" 2>&1) || { echo "fstrim $fs: $out"; return 1; }
		info "$fs: $out"
	fi
	for _ in $(seq 30); do
		sync
		dev_fsync "$dev" ro || return 1
		[ $((b1 - $(alloc "$img"))) -ge $((want * 9 / 10)) ] && break
		sleep 1
	done
	shrank "$img" "$b1" $((want * 9 / 10)) "$fs, $how discard of $files files of 64 MiB" ||
		return 1
	rose "$dev" discarded_clusters ">=$((want * 9 / 10 / cs))" "$fs, $how" &&
		rose "$dev" freed_clusters ">=$((want * 9 / 10 / cs))" "$fs, $how" || return 1
	cp "$pat" "$mnt/after" && sync || { echo "writing to $fs after the discards failed"; return 1; }
	umount "$mnt" || return 1
	case $fs in
	ext4) out=$(e2fsck -fn "$dev" 2>&1) ;;
	xfs) out=$(xfs_repair -n "$dev" 2>&1) ;;
	esac || { echo "$fs check after $how discard: $out" | tail -n 20; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "qemu-img check after $fs $how"; return 1; }
	dev=$(attach "$img") || return 1
	mount -t "$fs" -o ro "$dev" "$mnt" || { echo "mount $fs again failed"; return 1; }
	cmp "$pat" "$mnt/after" || { echo "$fs: the file written after the discards differs"; return 1; }
	umount "$mnt" || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || return 1
	rm -f "$img"
	info "ok: $fs, $how discard of $files files of 64 MiB (${SECONDS}s)"
}

modprobe -q xfs 2>/dev/null
# Slices (README): "make check-full" runs everything on the stock kernels
# with 1 GiB of files per file system, and every case on the debug kernel
# with 256 MiB; "make check" runs everything in the 6.12 guest (xfs with
# 256 MiB), and in the 6.1 and debug guests the cases that reach the
# driver's request path and the kernel's discard and punch paths (ext4 with
# fstrim over 256 MiB, 128 MiB in the debug guest; whole clusters,
# unaligned requests, a snapshot, reuse, read-only), not the oracle,
# version 2, fio and mkfs workloads over the same code.
files=16 fio_size=$((64 * MiB)) all=1
debug_kernel && files=4 fio_size=$((16 * MiB))
if [ -z "${QCOW2_FULL:-}" ] && [ "${QCOW2_KIND:-}" != 6.12 ]; then
	files=4 all=
	debug_kernel && files=2
fi
run fs_trim ext4 fstrim $files
if [ -n "$all" ]; then
	if short_run; then
		run fs_trim xfs online 4
	else
		run fs_trim xfs online $files
		run fs_trim ext4 online $files
		run fs_trim xfs fstrim $files
	fi
fi
run whole_clusters
run unaligned
[ -n "$all" ] && run version2
run chain
[ -n "$all" ] && run oracle $cs
if ! short_run; then
	run oracle 4096 --compat=0.10
	run oracle 16384 --extended-l2
fi
if [ -z "$all" ]; then
	:
elif command -v fio > /dev/null; then
	run fio_trim
else
	info "note: fio not installed: its trim workloads did not run"
fi
run snapshot
run reuse
run uncopied
[ -n "$all" ] && run mkfs_zero
run read_only

[ $failed = 0 ] || fail "discard and write-zeroes"
exit $KSFT_PASS
