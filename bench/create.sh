#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Time to create metadata-preallocated images: qcow2ctl create (in the
# kernel) against qemu-img create -o preallocation=metadata, on ext4 on the
# guest's scratch disk, the median of RUNS runs each (default 3). Run it in
# a guest: selftests/vm/run.sh -k 6.12 -c bench/create.sh
#
# Each create includes its fsync; the page cache is dropped between runs.
. "$(dirname "$0")/../selftests/lib.sh"

runs=${RUNS:-3}
module_load
scratch_setup
dir=$SCRATCH

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

secs() { # COMMAND...: wall seconds of COMMAND, which must succeed
	local t0 t1
	sync
	echo 3 > /proc/sys/vm/drop_caches
	t0=$(date +%s%N)
	"$@" > /dev/null || fail "$* failed"
	sync
	t1=$(date +%s%N)
	echo "scale=3; ($t1 - $t0) / 1000000000" | bc
}

echo "| image | qcow2ctl create (s) | qemu-img create (s) |"
echo "|---|---|---|"
for size in 64G 1T; do
	k=$(for i in $(seq "$runs"); do
		secs "$QCOW2CTL" create --prealloc=metadata "$dir/k.qcow2" $size
		rm -f "$dir/k.qcow2"
	done | median)
	q=$(for i in $(seq "$runs"); do
		secs qemu-img create -q -f qcow2 -o preallocation=metadata "$dir/q.qcow2" $size
		rm -f "$dir/q.qcow2"
	done | median)
	echo "| $size, 64 KiB clusters, metadata | $k | $q |"
done
