#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Images created by the kernel (qcow2ctl create), held against qemu-img
# (selftests/image_checks.sh) over preallocation mode x cluster size x size,
# with compat and refcount width rotating so that every mode and cluster
# size meets each of them. Images live on ext4 on the scratch disk.
#
# Sizes: 1 MiB, 1 GiB, 1 GiB + 1.5 KiB (a multiple of 512 but of no
# cluster size), 100 GiB (64 KiB and 2 MiB clusters, not "full", which would
# write 100 GiB of zeros), 1 TiB (metadata; 64 KiB and 2 MiB clusters).
# qemu-img check and map walk every cluster, which takes 15 s for 1 GiB of
# 512-byte clusters under TCG: 512-byte clusters meet 1 MiB and 100 MiB +
# 1.5 KiB, and 1 GiB once (metadata).
# make check runs a slice: every mode with 1 MiB of 512-byte clusters,
# 1 MiB and 1 GiB + 1.5 KiB of 64 KiB clusters; the debug kernel every mode
# with 1 MiB + 1.5 KiB of 64 KiB clusters and 1 MiB of 512-byte clusters
# once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/image_checks.sh"
# Every image's qcow2ctl info as qemu-img info, too.
INFO_TOOL=$QCOW2CTL

module_load
scratch_setup
dir=$SCRATCH

M=$((1 << 20))
G=$((1 << 30))
# compat:refcount-bits, in turn
combos=(1.1:16 1.1:1 0.10:16 1.1:64 1.1:4 0.10:16 1.1:32 1.1:2 1.1:8)
n=0
failed=0

# check_one N SIZE CLUSTER MODE [qcow2ctl options...]: create and check
# image N, print its TAP line.
check_one() {
	local n=$1 size=$2 cs=$3 mode=$4 combo compat rb ver img why out
	shift 4
	combo=${combos[$(((n - 1) % ${#combos[@]}))]}
	compat=${combo%:*} rb=${combo#*:}
	# Options only version 3 has take the next version 3 combination.
	[[ " $* " == *" --"[el]* ]] && [ "$compat" = 0.10 ] && compat=1.1 rb=16
	ver=3
	[ "$compat" = 0.10 ] && ver=2
	img=$dir/img.$n.qcow2
	local name="size $size, cluster $cs, $mode, compat $compat, refcount $rb${*:+, $*}"
	local t0=$SECONDS
	if ! out=$("$QCOW2CTL" create --prealloc="$mode" --cluster-size="$cs" \
		   --compat="$compat" --refcount-bits="$rb" "$@" "$img" "$size" 2>&1); then
		why="qcow2ctl create: $out"
	else
		local extra=()
		[[ " $* " == *" --extended-l2 "* ]] && extra+=(extl2)
		[[ " $* " == *" --lazy-refcounts "* ]] && extra+=(lazy)
		why=$(check_new_image "$img" "$size" "$cs" "$ver" "$rb" "$mode" "${extra[@]}")
	fi
	rm -f "$img"
	if [ -n "$why" ]; then
		echo "not ok $n $name: $why"
	else
		echo "ok $n $name ($((SECONDS - t0)) s)"
	fi
}

# Two at a time: the guest has two CPUs and qemu-img check uses one.
one() {
	n=$((n + 1))
	check_one $n "$@" > "$dir/result.$n" &
	while [ "$(jobs -rp | wc -l)" -ge 2 ]; do
		wait -n
	done
}

sizes_for() { # CLUSTER MODE: the sizes that cluster size and mode meet
	case $1 in
	512) echo $M $((100 * M + 1536)) ;;
	4096) echo $M $G $((G + 1536)) ;;
	*) echo $M $G $((G + 1536)); [ "$2" != full ] && echo $((100 * G)) ;;
	esac
}

if debug_kernel; then
	# Every mode once, and the smallest clusters once; small, since "full"
	# writes every byte and qemu-img walks every cluster (five images of
	# 1 GiB took 527 s under KASAN).
	for mode in off metadata falloc full; do
		one $((M + 1536)) 65536 $mode
	done
	one $M 512 metadata
elif short_run; then
	for mode in off metadata falloc full; do
		one $M 512 $mode
		one $M 65536 $mode
		one $((G + 1536)) 65536 $mode
	done
else
	for mode in off metadata falloc full; do
		for cs in 512 4096 65536 2097152; do
			for size in $(sizes_for $cs $mode); do
				one $size $cs $mode
			done
		done
	done
	one $G 512 metadata
	one $((1024 * G)) 65536 metadata
	one $((1024 * G)) 2097152 metadata
	one $G 65536 metadata --extended-l2
	one $G 16384 falloc --extended-l2 --lazy-refcounts
	one $G 65536 off --lazy-refcounts
fi
wait
for i in $(seq $n); do
	cat "$dir/result.$i"
done
grep -q "^not ok" "$dir"/result.* && failed=1
echo "$n images checked"
exit $failed
