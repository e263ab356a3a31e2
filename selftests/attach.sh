#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The attach/detach/status/list ioctls (attach_test), then qcow2ctl's
# attach, list, info and detach, the sysfs attributes, and eight devices
# under fio at once.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
(cd "$dir" && "$QCOW2_TOP/selftests/attach_test") || fail "attach_test"

img=$dir/a.qcow2
"$QCOW2CTL" create --cluster-size=4k "$img" 1G > /dev/null || fail "create"
dev=$(attach --partscan "$img") || fail "qcow2ctl attach"
n=${dev#/dev/qcow2}
sys=/sys/block/qcow2$n/qcow2
[ "$(cat $sys/image)" = "$img" ] || fail "sysfs image: $(cat $sys/image)"
[ "$(cat $sys/cluster_size)" = 4096 ] || fail "sysfs cluster_size"
[ "$(cat $sys/version)" = 3 ] || fail "sysfs version"
[ "$(cat $sys/read_only)" = 0 ] || fail "sysfs read_only"
[ "$(cat $sys/partscan)" = 1 ] || fail "sysfs partscan"
[ "$(cat /sys/block/qcow2$n/size)" = $((1 << 21)) ] || fail "capacity"
[ "$(cat /sys/block/qcow2$n/queue/logical_block_size)" = 512 ] || fail "logical block size"
[ "$(cat /sys/block/qcow2$n/queue/minimum_io_size)" = 4096 ] || fail "io_min"
[ "$(cat /sys/block/qcow2$n/queue/optimal_io_size)" = 4096 ] || fail "io_opt"
grep -q "write back" /sys/block/qcow2$n/queue/write_cache || fail "write cache not advertised"
[ "$(cat /sys/block/qcow2$n/queue/fua)" = 1 ] || fail "FUA not advertised"
# One hardware queue per online CPU, as at attach.
[ "$(ls -d /sys/block/qcow2$n/mq/* | wc -l)" = "$(getconf _NPROCESSORS_ONLN)" ] ||
	fail "not one hardware queue per CPU"

out=$("$QCOW2CTL" list) || fail "list"
grep -q "^$dev .*$img\$" <<< "$out" || fail "list: $out"
out=$("$QCOW2CTL" list --json) || fail "list --json"
python3 -c 'import json,sys; d=json.load(sys.stdin)["qcow2devices"]; assert d[0]["name"]==sys.argv[1] and d[0]["image"]==sys.argv[2] and d[0]["size"]==1<<30' \
	"$dev" "$img" <<< "$out" || fail "list --json: $out"
out=$("$QCOW2CTL" info --json "$dev") || fail "info --json"
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["cluster_size"]==4096 and d["errors"]==0' <<< "$out" ||
	fail "info --json: $out"
"$QCOW2CTL" info "$img" | grep -q "^virtual size: 1 GiB (1073741824 bytes)$" || fail "info on the image file"

# A partition table shows up as partitions.
printf 'label: dos\n,100M\n,\n' | sfdisk -q "$dev" || fail "sfdisk"
sleep 1
[ -b "${dev}p1" ] && [ -b "${dev}p2" ] || fail "no partitions after sfdisk: $(ls /dev/qcow2*)"
"$QCOW2CTL" detach "$dev" || fail "detach"
check_image "$img" || fail "check after partitioning"
# An existing partition table is scanned as the device appears: the
# partitions are there when attach returns, and the device can be opened
# while it appears (the scan opens it; so does udev).
dev=$(attach --partscan "$img") || fail "attach --partscan of a partitioned image"
[ -b "${dev}p1" ] && [ -b "${dev}p2" ] ||
	fail "--partscan did not scan the partition table at attach: $(ls /dev/qcow2*)"
[ "$(cat /sys/block/${dev#/dev/}/${dev#/dev/}p1/size)" = $((100 << 11)) ] || fail "size of p1"
"$QCOW2CTL" detach "$dev" || fail "detach after --partscan"

# First writes grow the file ahead of the allocator (sparse, at least
# 1 MiB); detach gives back what was not used: the file then ends where the
# image's last cluster does.
img=$dir/grow.qcow2
"$QCOW2CTL" create "$img" 1G > /dev/null || fail "create grow.qcow2"
before=$(stat -c %s "$img")
dev=$(attach "$img") || fail "attach grow.qcow2"
dd if=/dev/urandom of="$dev" bs=64k count=4 oflag=direct status=none || fail "first writes"
during=$(stat -c %s "$img")
[ "$during" -ge $((before + (1 << 20))) ] || fail "file did not grow ahead: $before -> $during bytes"
"$QCOW2CTL" detach "$dev" || fail "detach grow.qcow2"
check_image "$img" || fail "check grow.qcow2"
end=$(qemu-img check --output=json "$img" | jq '."image-end-offset"')
[ "$(stat -c %s "$img")" = "$end" ] ||
	fail "after detach the file is $(stat -c %s "$img") bytes, the image ends at $end"
[ "$end" -lt "$during" ] || fail "nothing given back at detach ($during -> $end bytes)"

# A crash leaves the reserve behind: a hole past the image's last cluster.
# The next read-write attach gives it back; data there is left alone.
truncate -s +64M "$img"
dev=$(attach "$img") || fail "attach with a stale reserve"
[ "$(stat -c %s "$img")" = "$end" ] ||
	fail "stale reserve not given back at attach: $(stat -c %s "$img") bytes, image ends at $end"
"$QCOW2CTL" detach "$dev" || fail "detach after giving back the reserve"
check_image "$img" || fail "check after giving back the reserve"
head -c 65536 /dev/urandom >> "$img"
truncate -s +1M "$img"
size=$(stat -c %s "$img")
dev=$(attach "$img") || fail "attach with data past the image's end"
[ "$(stat -c %s "$img")" = "$size" ] || fail "data past the image's end was cut off"
"$QCOW2CTL" detach "$dev" || fail "detach with data past the image's end"

# A file that ends inside its last data cluster (another tool wrote it
# short): a write into that cluster past the old end is kept at detach,
# reads back after a new attach, and QEMU reads it too.
img=$dir/short.qcow2
qemu-img create -q -f qcow2 "$img" 1M || fail "create short.qcow2"
qemu-io -f qcow2 -c "write -P 0x55 0 64k" "$img" > /dev/null || fail "qemu-io short.qcow2"
size=$(stat -c %s "$img")
truncate -s $((size - 32768)) "$img"
head -c 4096 /dev/zero | tr '\0' '\146' > "$dir/p"
dev=$(attach "$img") || fail "attach short.qcow2"
dd if="$dir/p" of="$dev" bs=4k seek=15 oflag=direct status=none || fail "write past the short end"
dev_fsync "$dev" || fail "flush short.qcow2"
"$QCOW2CTL" detach "$dev" || fail "detach short.qcow2"
[ "$(stat -c %s "$img")" -ge "$size" ] ||
	fail "detach cut the last cluster: $(stat -c %s "$img") bytes, $size needed"
dev=$(attach --read-only "$img") || fail "attach short.qcow2 again"
cmp <(dd if="$dev" bs=4k skip=15 count=1 iflag=direct status=none) "$dir/p" ||
	fail "the write past the short end did not survive detach"
"$QCOW2CTL" detach "$dev" || fail "detach short.qcow2 again"
qemu-io -f qcow2 -r -c "read -P 0x66 60k 4k" "$img" | grep -q "read 4096/4096" ||
	fail "qemu-io does not read the write past the short end"

# Eight devices at once, each under fio with verification.
if command -v fio > /dev/null; then
	devs=()
	for i in $(seq 8); do
		"$QCOW2CTL" create "$dir/m$i.qcow2" 64M > /dev/null || fail "create m$i"
		devs+=("$(attach "$dir/m$i.qcow2")") || fail "attach m$i"
	done
	[ "$("$QCOW2CTL" list --json | jq '.qcow2devices | length')" = 8 ] ||
		fail "list does not show eight devices"
	# 8 MiB each; 1 MiB in the debug guest, where KASAN slows fio tenfold
	# (ATTACH_FIO_SIZE sets it).
	per=8M
	debug_kernel && per=1M
	per=${ATTACH_FIO_SIZE:-$per}
	pids=()
	for d in "${devs[@]}"; do
		fio --name=m --filename="$d" --ioengine=libaio --direct=1 --rw=randwrite \
			--bs=4k --iodepth=16 --size=$per --verify=crc32c --verify_fatal=1 \
			--minimal > /dev/null 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "fio on one of eight devices failed"
	done
	"$QCOW2CTL" detach --all || fail "detach --all"
	for i in $(seq 8); do
		check_image "$dir/m$i.qcow2" || fail "check m$i"
	done
fi
[ -z "$("$QCOW2CTL" list)" ] || fail "devices left after detach --all"
exit $KSFT_PASS
