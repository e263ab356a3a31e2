#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# durability/write.sh SCENARIO: first boot of a durability test (run by
# selftests/vm/durability.sh). Writes numbered 64 KiB records through
# /dev/qcow2N, each made durable (fsync of the device, or a FUA write)
# before its number is logged, then has the host kill QEMU (run.sh -x) with
# the device still attached:
#   idle     after the last record, with nothing else running
#   run:SECS SECS seconds into the records, with fio writing elsewhere
. "$(dirname "$0")/../lib.sh"

module_load
scratch_mount
dir=/run/scratch/durability
rm -rf "$dir"
mkdir -p "$dir"
img=$dir/img.qcow2
log=$dir/log
"$QCOW2CTL" create "$img" 4G > /dev/null || fail "create"
dev=$(attach "$img") || fail "attach"
: > "$log"
sync

crash() {
	echo "QCOW2-GUEST-CRASH" > /dev/kmsg
	sleep 600
}

case $1 in
idle) records=40 ;;
run:*)
	records=100000
	# Unsynced random writes beside the records, on the same image.
	fio --name=bg --filename="$dev" --ioengine=libaio --direct=1 \
		--rw=randwrite --bsrange=4k-256k --iodepth=16 --offset=3G \
		--size=1G --time_based --runtime=600 > /dev/null 2>&1 &
	(sleep "${1#run:}"; crash) &
	;;
*) fail "unknown scenario $1" ;;
esac

for ((i = 1; i <= records; i++)); do
	off=$(( (i * 67 % 3072) * 1048576 + (i % 7) * 4096 ))
	if ((i % 2)); then
		# Odd records: FUA writes (O_DSYNC on the block device).
		yes "record $i" | head -c 65536 |
			dd of="$dev" bs=64k seek=$off iflag=fullblock \
			oflag=direct,dsync,seek_bytes status=none || fail "record $i"
	else
		yes "record $i" | head -c 65536 |
			dd of="$dev" bs=64k seek=$off iflag=fullblock oflag=direct,seek_bytes conv=fsync \
			status=none || fail "record $i"
	fi
	echo "$i" >> "$log"
	sync "$log"
done
crash
