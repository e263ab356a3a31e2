#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fio through /dev/qcow2N over a matrix of image options: crc32c-verified
# random writes and mixed read/write (queue depth 32, four jobs), then
# offset-patterned writes that land identically on a raw file; after
# detach, qemu-img check is clean and qemu-img compare finds the image
# equal to the raw file.
. "$(dirname "$0")/lib.sh"

command -v fio > /dev/null || skip "fio not installed"
module_load
scratch_setup
dir=$SCRATCH
MiB=$((1 << 20))

# cluster-size refcount-bits compat prealloc [ext|tiny-cache]: ext for
# extended L2; tiny-cache attaches with the smallest caches (4 tables each),
# so that tables are evicted and written back all the time.
configs=(
	"64k 16 1.1 off"
	"64k 16 1.1 metadata"
	"64k 16 0.10 falloc"
	"512 64 1.1 off tiny-cache"
	"512 1 1.1 metadata"
	"4k 2 1.1 off"
	"4k 16 0.10 metadata"
	"16k 16 1.1 off ext"
	"64k 4 1.1 metadata ext"
	"2M 32 1.1 off"
	"1M 8 1.1 falloc"
)
# The short runs (short_run: every guest in make check, the debug guest
# always; README) take a slice: the smallest clusters with the widest
# refcounts (refcount table growth).
short_run && configs=("${configs[3]}")

fio_common=(--ioengine=libaio --direct=1 --group_reporting --minimal)
# Under KASAN the smallest clusters with the smallest caches took 806 s:
# the debug guest writes a quarter of the data, over the same regions.
wr=4M rw=2M pat=16M
debug_kernel && wr=1M rw=512k pat=4M

failed=0
run() {
	local cs=$1 rb=$2 compat=$3 prealloc=$4 extra=${5:-} img=$dir/f.qcow2
	local raw=$dir/f.raw size=$((96 * MiB)) dev out opts
	opts=(--cluster-size=$cs --refcount-bits=$rb --compat=$compat --prealloc=$prealloc)
	local attach_opts=()
	[ "$extra" = ext ] && opts+=(--extended-l2)
	[ "$extra" = tiny-cache ] && attach_opts=(--l2-cache-size=1 --refcount-cache-size=1)
	local what="${opts[*]} ${attach_opts[*]}"
	rm -f "$img" "$raw"
	"$QCOW2CTL" create "${opts[@]}" "$img" $size > /dev/null ||
		{ echo "create $what failed"; return 1; }
	dev=$(attach "${attach_opts[@]}" "$img") || { echo "attach $what failed"; return 1; }

	# Verified random writes, then a verified mixed workload, each job
	# in its own region, with block sizes that straddle clusters.
	if ! out=$(fio --name=randwrite --filename="$dev" "${fio_common[@]}" \
		--rw=randwrite --bsrange=512-128k --iodepth=32 --numjobs=4 \
		--size=$wr --offset=4M --offset_increment=8M \
		--verify=crc32c --verify_fatal=1 2>&1); then
		echo "fio randwrite ($what): $out" | tail -n 20
		return 1
	fi
	if ! out=$(fio --name=randrw --filename="$dev" "${fio_common[@]}" \
		--rw=randrw --rwmixread=50 --bs=4k --iodepth=32 --numjobs=4 \
		--size=$rw --offset=40M --offset_increment=4M \
		--verify=crc32c --verify_fatal=1 2>&1); then
		echo "fio randrw ($what): $out" | tail -n 20
		return 1
	fi
	# The same writes on the device and on a raw file: contents depend
	# only on the offset (pattern %o) and fio's seeded random sequence.
	truncate -s $size "$raw"
	local t
	for t in "$dev" "$raw"; do
		if ! out=$(fio --name=pattern --filename="$t" "${fio_common[@]}" \
			--rw=randwrite --bsrange=512-256k --iodepth=32 \
			--size=$pat --offset=64M --randrepeat=1 \
			--verify=pattern --verify_pattern=%o --verify_fatal=1 2>&1); then
			echo "fio pattern on $t ($what): $out" | tail -n 20
			return 1
		fi
	done
	# ...and the regions the crc32c jobs wrote, copied over by dd.
	dd if="$dev" of="$raw" bs=1M skip=4 seek=4 count=52 conv=notrunc \
		iflag=direct status=none || { echo "dd ($what) failed"; return 1; }
	"$QCOW2CTL" detach "$dev" || { echo "detach ($what) failed"; return 1; }
	check_image "$img" || { echo "qemu-img check ($what) failed"; return 1; }
	if ! out=$(qemu-img compare -f qcow2 -F raw "$img" "$raw" 2>&1); then
		echo "qemu-img compare ($what): $out"
		return 1
	fi
	info "ok: $what"
}

for c in "${configs[@]}"; do
	run $c || failed=1
done
[ $failed = 0 ] || fail "fio through the device"
exit $KSFT_PASS
