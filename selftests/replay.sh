#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Crash replay at every flush. The image's file system sits on a
# dm-log-writes device; a workload through /dev/qcow2N allocates clusters
# and L2 tables, grows the refcount table (512-byte clusters), copies on
# write over an internal snapshot and fills subclusters (extended L2), each
# record made durable by fsync or a FUA write and then acknowledged by a
# mark in the log. replay_log (the project's own, selftests/replay_log.c)
# then rebuilds the file system on a second device entry by entry and, at
# every FLUSH or FUA entry after the image was created (each moment a power
# cut could leave exactly that on disk) and at every mark (what was on disk
# when the record was acknowledged), mounts a throw-away snapshot of it
# (journal recovery), runs qemu-img check (no corruption; leaked clusters
# are allowed) and compares the image's contents, read by qemu-img, with
# every record acknowledged before that point (replay_records.c). At a
# FLUSH point the record in flight may be old or new, sector by sector; at
# a mark no record is in flight, and the internal snapshot, once taken,
# must hold exactly the records written before it.
#
# "make check" runs two cases (ext4 with a fresh 64 KiB image, xfs with a
# metadata-preallocated 4 KiB one) of 4 + 2 records; check-full runs all
# nine cases of 6 + 3 records on 6.12. Of the records before the snapshot,
# the second and fifth make an earlier one read zeros (a discard or a
# write of zeros that may unmap, of whole clusters; a write of zeros that
# keeps them, of its sectors): the clusters freed are punched and reused. REPLAY_CASES="N..." picks cases by number,
# REPLAY_RECORDS="A B" the records before and after the snapshot.
here=$(cd "$(dirname "$0")" && pwd)

# One crash point, run by replay_log with the file system as it would be
# after a power cut there mounted on $LW_MNT; REPLAY_WORK comes from the
# case that replays.
if [ "${1:-}" = point ]; then
	# qemu-img's own snapshot creation is not what is under test, and a
	# power cut inside it leaves refcounts raised before the L2 entries'
	# COPIED flags are cleared, which qemu-img check counts as errors
	# (QEMU's cache writes refcount blocks before the L2 tables that
	# depend on them). Those points are counted, not checked.
	if [ "$LW_MARK" = qemu-snapshot ]; then
		echo "$LW_POINT" >> "$REPLAY_WORK/skipped"
		exit 0
	fi
	[ -n "${REPLAY_PROFILE:-}" ] && set -x && PS4='+ $EPOCHREALTIME '
	img=$LW_MNT/img.qcow2
	at="point $LW_POINT ($LW_KIND, entry $LW_ENTRY, after mark $LW_MARK)"
	# rN: record N acknowledged; rNs: the snapshot taken after it;
	# dm-log-writes-end, the target's own last mark: all of them.
	case $LW_MARK in
	r[0-9]*) acked=${LW_MARK#r} acked=${acked%s} ;;
	dm-log-writes-end) acked=$(wc -l < "$REPLAY_WORK/journal") ;;
	*) echo "$at: a mark the workload did not write"; exit 1 ;;
	esac
	exact=
	[ "$LW_KIND" = mark ] && exact=--exact
	[ -e "$img" ] || { echo "$at: the image is gone"; exit 1; }
	out=$(qemu-img check "$img" 2>&1)
	case $? in
	0) ;;
	3) echo "$LW_POINT" >> "$REPLAY_WORK/leaky" ;;
	*) echo "$at: qemu-img check:"; echo "$out" | grep -v '^Leaked' | head -n 20
	   cp --sparse=always "$img" "$REPLAY_WORK/failed-point.qcow2"
	   exit 1 ;;
	esac
	rm -f "$REPLAY_WORK/raw"
	if ! out=$(qemu-img convert -O raw "$img" "$REPLAY_WORK/raw" 2>&1); then
		echo "$at: qemu-img convert: $out"
		exit 1
	fi
	if ! out=$("$here/replay_records" verify "$REPLAY_WORK/raw" \
			"$REPLAY_WORK/journal" "$acked" $exact); then
		echo "$at: $out"
		cp --sparse=always "$img" "$REPLAY_WORK/failed-point.qcow2"
		exit 1
	fi
	# The snapshot holds what was there when it was taken, whatever was
	# written over it since (copy-on-write, never in place).
	if [ -n "$exact" ] && [ -n "${REPLAY_SNAP:-}" ] &&
	   { [ "$LW_MARK" = "r${REPLAY_SNAP}s" ] || [ "$acked" -gt "$REPLAY_SNAP" ]; }; then
		rm -f "$REPLAY_WORK/raw"
		if ! out=$(qemu-img convert -l snapshot.name=s1 -O raw "$img" "$REPLAY_WORK/raw" 2>&1) ||
		   ! out=$("$here/replay_records" verify "$REPLAY_WORK/raw" \
				"$REPLAY_WORK/journal" "$REPLAY_SNAP" --exact); then
			echo "$at: snapshot s1: $out"
			cp --sparse=always "$img" "$REPLAY_WORK/failed-point.qcow2"
			exit 1
		fi
		echo "$LW_POINT" >> "$REPLAY_WORK/snapshot-checked"
	fi
	exit 0
fi

. "$here/lib.sh"

# Under KASAN a crash point costs some ten seconds: the stock kernels
# replay (the driver code is the same), the debug kernel runs the rest.
debug_kernel && skip "crash replay runs on the stock kernels only"
module_load
for m in dm-mod dm-log-writes dm-snapshot loop ext4 xfs; do
	modprobe -q "$m" 2>/dev/null
done
# Debian's kernels have both targets: their absence is a failure.
grep -qw log-writes <(dmsetup targets) || fail "no dm-log-writes target"
grep -qw snapshot <(dmsetup targets) || fail "no dm-snapshot target"
command -v mkfs.xfs > /dev/null || fail "no mkfs.xfs"

failed=0
total_points=0
bad() { echo "$*"; failed=1; }

# The logs, file systems and snapshots live in the guest's memory (tmpfs).
top=$(mktemp -d /tmp/replay.XXXXXX)
# unloop DIR: detach the loop devices over the files in DIR.
unloop() {
	local f
	for f in "$1"/*; do
		losetup -j "$f" | cut -d: -f1 | xargs -r losetup -d
	done
}
cleanup() {
	cd /
	"$QCOW2CTL" detach --all 2>/dev/null
	umount "$top"/*/mnt "$top"/*/chk 2>/dev/null
	dmsetup remove --noudevsync replay-log-snapshot 2>/dev/null
	dmsetup remove --noudevsync qcow2-replay-log 2>/dev/null
	for d in "$top"/*; do unloop "$d"; done
	rm -rf "$top"
}
trap cleanup EXIT

loop_of() { # loop_of FILE: a loop device over it
	losetup -f --show "$1" || fail "losetup $1"
}

# replay_case N FS CLUSTER REFBITS EXTL2 PREALLOC VSIZE MAXLEN PREFILL A B:
# a fresh file system FS on a dm-log-writes device, an image with those
# options, PREFILL records (not checked: they bring the image near a
# refcount table growth), then A records of up to MAXLEN bytes over the
# empty rest, an internal snapshot (unless REFBITS is 1, too narrow for a
# shared cluster) and B records of which half rewrite earlier ones; then
# the replay, checking every point after the prefill.
replay_case() {
	local n=$1 fs=$2 cs=$3 rb=$4 extl2=$5 pre=$6 vsize=$7 max=$8 np=$9 na=${10} nb=${11}
	local lie=${12:-}
	local name="case $n: $fs, cluster $cs, refcount bits $rb, extl2 $extl2, prealloc $pre"
	local work=$top/$n lw_base lw_log lw dev opts out points rc align=4096
	mkdir -p "$work/mnt" "$work/chk"
	# Sub-4k records where clusters are smaller than a page.
	[ "$cs" -lt 4096 ] && align=512
	truncate -s 512M "$work/base"
	truncate -s 2G "$work/log"
	truncate -s 512M "$work/cow"
	case $fs in
	ext4) mkfs.ext4 -q -F -b 4096 "$work/base" || fail "mkfs.ext4" ;;
	xfs) mkfs.xfs -q -f "$work/base" || fail "mkfs.xfs" ;;
	esac
	# The replay starts from the file system as mkfs left it.
	cp --sparse=always "$work/base" "$work/replay"

	lw_base=$(loop_of "$work/base")
	lw_log=$(loop_of "$work/log")
	dmsetup create --noudevsync qcow2-replay-log \
		--table "0 $(blockdev --getsz "$lw_base") log-writes $lw_base $lw_log" ||
		fail "dmsetup create log-writes"
	lw=/dev/dm-$(dmsetup info -c --noheadings -o minor qcow2-replay-log | tr -d ' ')
	udev_settle "$lw"
	mount -t "$fs" "$lw" "$work/mnt" || fail "mount $lw"

	opts=(--cluster-size="$cs" --refcount-bits="$rb" --prealloc="$pre")
	[ "$extl2" = on ] && opts+=(--extended-l2)
	"$QCOW2CTL" create "${opts[@]}" "$work/mnt/img.qcow2" "$vsize" > /dev/null ||
		fail "$name: qcow2ctl create"
	dev=$(attach "$work/mnt/img.qcow2") || fail "$name: attach"
	records() {
		"$here/replay_records" write "$dev" "$work/journal" --dm qcow2-replay-log \
			--span "$vsize" --align $align --min $align --seed "$n" "$@" > /dev/null ||
			fail "$name: records $*"
	}
	if [ "$np" != 0 ]; then
		# Up to 96 KiB short of the file size the refcount table
		# covers: the checked records then grow it. (The file's
		# allocated blocks, not its size: while attached, the driver
		# keeps the file longer than what it allocated.)
		local h=$work/mnt/img.qcow2 rt0 limit
		rt0=$(peek_be32 "$h" 56)
		limit=$(( rt0 * cs / 8 * (cs * 8 / rb) * cs - 98304 ))
		while [ $(($(stat -c %b "$h") * 512)) -lt "$limit" ]; do
			records --count "$np" --max 65536
		done
	fi
	sync -f "$work/mnt"
	np=0
	[ -e "$work/journal" ] && np=$(wc -l < "$work/journal")
	dmsetup message qcow2-replay-log 0 mark "r$np" || fail "dmsetup message"
	# Records 2, 5...: an earlier record made to read zeros (discard,
	# write zeroes: replay_records.c); clusters freed are punched, and
	# reused by the second write after them
	# (the first still counts itself among the requests that could reach
	# them: meta.c).
	if [ -n "$lie" ]; then
		records --count "$na" --max "$max" $lie
	else
		records --count "$na" --max "$max" --discard 3 --cluster "$cs"
		# Without preallocation the fourth record takes a new cluster.
		if [ "$pre" = off ] && [ "$na" -ge 4 ] &&
		   [ "$(cat "/sys/block/${dev#/dev/}/qcow2/reused_clusters")" = 0 ]; then
			bad "$name: no cluster a discard freed was reused"
		fi
	fi
	"$QCOW2CTL" detach "$dev" || fail "$name: detach"
	snap=
	if [ "$rb" != 1 ] && [ "$nb" != 0 ]; then
		snap=$((np + na))
		dmsetup message qcow2-replay-log 0 mark qemu-snapshot || fail "dmsetup message"
		qemu-img snapshot -c s1 "$work/mnt/img.qcow2" || fail "$name: qemu-img snapshot"
		sync -f "$work/mnt"
		dmsetup message qcow2-replay-log 0 mark "r${snap}s" || fail "dmsetup message"
		dev=$(attach "$work/mnt/img.qcow2") || fail "$name: attach again"
		records --count "$nb" --max "$max" --overwrite 50
		"$QCOW2CTL" detach "$dev" || fail "$name: detach"
	fi
	check_image "$work/mnt/img.qcow2" 0 || bad "$name: qemu-img check after the workload"
	if [ "$np" != 0 ] && [ "$(peek_be32 "$work/mnt/img.qcow2" 56)" -le "$rt0" ]; then
		bad "$name: the refcount table did not grow"
	fi
	umount "$work/mnt" || fail "umount"
	dmsetup remove --noudevsync qcow2-replay-log || fail "dmsetup remove"

	export REPLAY_WORK=$work REPLAY_SNAP=$snap
	out=$("$here/replay_log" --log "$lw_log" --replay "$(loop_of "$work/replay")" \
		--snapshot "$(loop_of "$work/cow")" --mount "$work/chk" --fstype "$fs" \
		--start-mark "r$np" --check flush,mark --exec "$here/replay.sh point")
	rc=$?
	if [ -n "$lie" ]; then
		# The tests of the test: records acknowledged without a flush
		# must be found missing at the first point after their mark;
		# records acknowledged before their flush, at their mark (the
		# flush after it brings them in).
		local want="wanted record" how="without a flush"
		if [ "$lie" = --sync-after-mark ]; then
			want="(mark, .*wanted record" how="before their flush"
		fi
		if [ $rc = 1 ] && grep -q -- "$want" <<< "$out"; then
			echo "$name, records acknowledged $how: found missing, as they must be:"
			grep -m 2 "wanted record" <<< "$out"
		else
			bad "$name: records acknowledged $how were not found missing"
			echo "$out" | head -n 20
		fi
		unloop "$work"
		rm -rf "$work"
		return
	fi
	echo "$out" | grep -v '^records ' | head -n 40
	points=$(sed -n 's/.* \([0-9]*\) crash points checked.*/\1/p' <<< "$out")
	total_points=$((total_points + ${points:-0}))
	if [ $rc != 0 ]; then
		bad "$name: replay failed"
		# The image at the failed point, for the host (run.sh's share).
		[ -e "$work/failed-point.qcow2" ] && [ -d /run/qcow2-out ] &&
			cp --sparse=always "$work/failed-point.qcow2" "/run/qcow2-out/replay-case$n.qcow2" &&
			echo "image at the failed point: build/vm/<kernel>/share/replay-case$n.qcow2"
	elif [ -n "$snap" ] && [ ! -s "$work/snapshot-checked" ]; then
		bad "$name: the snapshot was checked at no point"
	elif [ "${points:-0}" -lt $((na + nb)) ]; then
		# At least one flush or FUA per record: fewer means the
		# workload's durability did not reach the log.
		bad "$name: only ${points:-0} crash points for $((na + nb)) records"
	else
		echo "$name: $points crash points, $(cat "$work/leaky" 2>/dev/null | wc -l) with leaked clusters," \
			"$(cat "$work/skipped" 2>/dev/null | wc -l) inside qemu-img snapshot (not checked)," \
			"$(cat "$work/snapshot-checked" 2>/dev/null | wc -l) also checking the snapshot;" \
			"no corruption, no acknowledged record lost"
	fi
	unloop "$work"
	rm -rf "$work"
}

G=$((1 << 30))
M=$((1 << 20))
# N FS CLUSTER REFBITS EXTL2 PREALLOC VSIZE MAXLEN PREFILL. Case 5's
# prefill (in steps of PREFILL records) leaves the file just under the
# 2 MiB its first refcount table (one 512-byte cluster of 64-bit entries)
# covers, so the checked records grow the table; case 7's 1-bit
# refcounts cannot share a cluster, so it takes no snapshot.
cases=(
	"1 ext4 65536 16 off off $((4 * G)) 131072 0"
	"2 xfs 4096 16 off metadata $((256 * M)) 65536 0"
	"3 ext4 65536 16 off metadata $((4 * G)) 131072 0"
	"4 ext4 4096 16 off off $((256 * M)) 65536 0"
	"5 ext4 512 64 off off $((64 * M)) 65536 8"
	"6 xfs 65536 16 on off $((1 * G)) 65536 0"
	"7 xfs 65536 1 off metadata $((1 * G)) 131072 0"
	"8 xfs 512 16 off metadata $((32 * M)) 16384 0"
	"9 ext4 65536 64 on metadata $((1 * G)) 32768 0"
)
# Records per case before and after the snapshot: every one brings some
# ten crash points (each metadata update of the driver is a sync of the
# image file, each sync a journal commit of the file system below).
# check-full replays all nine on 6.12; on 6.1 the two of make check, which
# cover both file systems below (the driver code replayed is the same).
if short_run || [[ $(uname -r) == 6.1.* ]]; then
	pick=${REPLAY_CASES:-1 2} na=4 nb=2
else
	pick=${REPLAY_CASES:-1 2 3 4 5 6 7 8 9} na=6 nb=3
fi
[ -n "${REPLAY_RECORDS:-}" ] && read -r na nb <<< "$REPLAY_RECORDS"
# Every run first shows that the replay sees a lost record, and one whose
# flush was acknowledged before it reached the disk.
replay_case 0 ext4 65536 16 off off $((1 * G)) 65536 0 2 0 --no-sync
replay_case 0 ext4 65536 16 off off $((1 * G)) 65536 0 2 0 --sync-after-mark
for c in "${cases[@]}"; do
	read -r n fs cs rb extl2 pre vsize max np <<< "$c"
	grep -qw "$n" <<< "$pick" || continue
	replay_case "$n" "$fs" "$cs" "$rb" "$extl2" "$pre" "$vsize" "$max" "$np" "$na" "$nb"
done
echo "crash points checked in all: $total_points"
exit $failed
