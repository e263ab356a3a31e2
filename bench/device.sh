#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fio on /dev/qcow2N against loop over a raw file (direct I/O) and
# qemu-nbd (--cache=none --aio=native) over the same kind of image, in one
# guest: 4k random read and write at queue depth 32, 1 MiB sequential read
# and write at queue depth 8. The images are fallocated (qcow2: --prealloc=
# falloc; raw: fallocate), on ext4 on the guest's scratch disk. Run it in a
# guest: selftests/vm/run.sh -k 6.12 -c bench/device.sh
# RUNTIME (seconds per job, default 10) and SIZE (default 1G) adjust it.
. "$(dirname "$0")/../selftests/lib.sh"

runtime=${RUNTIME:-10}
size=${SIZE:-1G}
module_load
scratch_setup
dir=$SCRATCH
modprobe -q loop
modprobe -q nbd nbds_max=2 || fail "no nbd module"

fallocate -l "$size" "$dir/raw.img" || fail "fallocate"
loopdev=$(losetup --direct-io=on --show -f "$dir/raw.img") || fail "losetup"
"$QCOW2CTL" create --prealloc=falloc "$dir/q.qcow2" "$size" > /dev/null || fail "create"
"$QCOW2CTL" create --prealloc=falloc "$dir/n.qcow2" "$size" > /dev/null || fail "create"
qdev=$(attach "$dir/q.qcow2") || fail "attach"
qemu-nbd --cache=none --aio=native -f qcow2 -c /dev/nbd0 "$dir/n.qcow2" || fail "qemu-nbd"
for i in $(seq 50); do
	[ "$(cat /sys/block/nbd0/size)" != 0 ] && break
	sleep 0.1
done
scratch_cleanup_hook() {
	qemu-nbd -d /dev/nbd0 > /dev/null 2>&1
	losetup -d "$loopdev"
}

# job TARGET RW BS DEPTH: prints IOPS and MiB/s
job() {
	fio --name=b --filename="$1" --ioengine=libaio --direct=1 --rw="$2" \
		--bs="$3" --iodepth="$4" --runtime="$runtime" --time_based \
		--size="$size" --output-format=json 2> /dev/null |
		python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
d = j["read"] if j["read"]["io_bytes"] else j["write"]
print("%.0f %.1f" % (d["iops"], d["bw"] / 1024))'
}

echo "# $(uname -r), fio ${runtime} s per job, $size fallocated images on ext4"
echo "| workload | loop (raw, dio) | /dev/qcow2N | qemu-nbd | qcow2/loop | qcow2/nbd |"
echo "|---|---|---|---|---|---|"
for w in "randread 4k 32" "randwrite 4k 32" "read 1M 8" "write 1M 8"; do
	set -- $w
	l=$(job "$loopdev" $1 $2 $3)
	q=$(job "$qdev" $1 $2 $3)
	n=$(job /dev/nbd0 $1 $2 $3)
	if [ "$2" = 4k ]; then
		unit=IOPS
		lv=${l% *} qv=${q% *} nv=${n% *}
	else
		unit=MiB/s
		lv=${l#* } qv=${q#* } nv=${n#* }
	fi
	printf '| %s %s qd%s | %s %s | %s %s | %s %s | %.2f | %.1f |\n' "$1" "$2" "$3" \
		"$lv" $unit "$qv" $unit "$nv" $unit \
		"$(echo "$qv / $lv" | bc -l)" "$(echo "$qv / $nv" | bc -l)"
done
"$QCOW2CTL" detach "$qdev"
check_image "$dir/q.qcow2" || fail "check after the benchmark"
