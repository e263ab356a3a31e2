#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Malformed and unsupported images: attach refuses each with the right
# errno and one log line naming the problem; inconsistencies found during
# I/O fail the request with EIO, set the corrupt bit and refuse later
# writes. No splat (the debug guest runs this whole).
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
img=$dir/bad.qcow2

# peek64 FILE OFFSET: the big-endian u64 there, as 16 hex digits.
peek64() { od -An -tx1 -j $(($2)) -N 8 "$1" | tr -d ' \n'; }

# A 64 MiB image with data in its first and last clusters, made once.
qemu-img create -q -f qcow2 "$dir/base.qcow2" 64M &&
qemu-io -c "write -P 0x5a 0 64k" -c "write -P 0x5a 63M 64k" "$dir/base.qcow2" > /dev/null ||
	fail "making the base image"
fresh() { cp "$dir/base.qcow2" "$img"; }

failed=0
# refused ERRNO-TEXT LOG-TEXT [attach options]: attach must fail so.
refused() {
	local want=$1 log=$2 out
	shift 2
	dmesg_mark
	if out=$("$QCOW2CTL" attach "$@" "$img" 2>&1); then
		echo "attach ($log) succeeded"
		"$QCOW2CTL" detach --all
		failed=1
		return
	fi
	grep -q "$want" <<< "$out" || { echo "attach ($log): '$out', expected $want"; failed=1; }
	dmesg_since | grep -q "attach bad.qcow2: .*$log" ||
		{ echo "no log line '$log': $(dmesg_since | tail -n 3)"; failed=1; }
	info "ok: refused: $log"
}

fresh; poke "$img" 0 00000000
refused "Invalid argument" "bad magic"
fresh; poke "$img" 4 00000007
refused "Operation not supported" "unsupported qcow2 version 7"
fresh; poke "$img" 36 7fffffff
refused "File too large" "L1 table of .* is too large"
fresh; poke "$img" 40 "$(be64 0x100000000)"
refused "Invalid argument" "L1 table .* past the end of the file"
fresh; poke "$img" 48 "$(be64 0x100000000)"
refused "Invalid argument" "refcount table .* past the end of the file"
fresh; poke "$img" 40 "$(peek64 "$img" 48)"
refused "Invalid argument" "overlap"
fresh; poke "$img" 20 00000005
refused "Invalid argument" "cluster_bits 5"
fresh; l1=$((0x$(peek64 "$img" 40))); poke "$img" $l1 "$(be64 0x8000000100000000)"
refused "Invalid argument" "L2 table at 0x100000000 .* past the end of the file"
fresh; l1=$((0x$(peek64 "$img" 40))); poke "$img" $l1 "$(be64 $((0x8000000000000000 | l1)))"
refused "Invalid argument" "an L2 table at .* overlaps the L1 table"
fresh; poke "$img" 72 "$(be64 0x100)"
refused "Operation not supported" "unknown incompatible feature bit 8"
fresh; poke "$img" 72 "$(be64 0x4)"
refused "Operation not supported" "external data file"
fresh; poke "$img" 32 00000001
refused "Operation not supported" "encrypted images are not supported"
fresh; poke "$img" 72 "$(be64 0x2)"
refused "Structure needs cleaning" "marked corrupt"
fresh; poke "$img" 72 "$(be64 0x1)"
refused "Structure needs cleaning" "dirty bit.*qemu-img check -r all"

# The corrupt and dirty bits still allow a read-only attach.
head -c 65536 /dev/zero | tr '\0' 'Z' > "$dir/pattern"
for bits in 0x1 0x2; do
	fresh; poke "$img" 72 "$(be64 $bits)"
	dev=$(attach --read-only "$img") || { echo "read-only attach with incompat $bits"; failed=1; continue; }
	cmp -s -n 65536 "$dev" "$dir/pattern" ||
		{ echo "read-only data with incompat $bits"; failed=1; }
	"$QCOW2CTL" detach "$dev"
done

# Inconsistencies met during I/O: EIO for the request, corrupt bit set,
# writes refused; the rest of the image still reads.
io_corrupt() { # LOG-TEXT L2-ENTRY
	local l1 l2 dev
	fresh
	l1=$((0x$(peek64 "$img" 40)))
	l2=$((0x$(peek64 "$img" $l1) & 0x00fffffffffffe00))
	poke "$img" $((l2 + 8)) "$(be64 $2)"
	dmesg_mark
	dev=$(attach "$img") || { echo "attach for '$1' failed"; failed=1; return; }
	if dd if="$dev" of=/dev/null bs=64k skip=1 count=1 iflag=direct status=none 2> /dev/null; then
		echo "read of a bad L2 table ($1) succeeded"; failed=1
	fi
	dmesg_since | grep -q "qcow20*[0-9]*: image is corrupt: .*$1" ||
		{ echo "no log line '$1': $(dmesg_since | tail -n 3)"; failed=1; }
	[ "$(cat /sys/block/${dev#/dev/}/qcow2/corrupt)" = 1 ] || { echo "not marked corrupt ($1)"; failed=1; }
	if dd if=/dev/zero of="$dev" bs=4k count=1 seek=4000 oflag=direct status=none 2> /dev/null; then
		echo "write after corruption ($1) succeeded"; failed=1
	fi
	"$QCOW2CTL" detach "$dev"
	qemu-img info "$img" | grep -q "corrupt: true" || { echo "corrupt bit not in the header ($1)"; failed=1; }
	info "ok: during I/O: $1"
}
io_corrupt "past the end of the file" $((0x8000000100000000))
io_corrupt "not cluster aligned" $((0x8000000000050200))
# An entry pointing at the refcount table (cluster 1 of qemu-img's layout).
io_corrupt "overlaps metadata" $((0x8000000000010000))
io_corrupt "reserved bits" $((0x8000000000050002))

# A corrupt level below: the read that falls through to it fails with EIO
# and a line naming the level; the image above stays writable.
lower_corrupt() {
	local low=$dir/low.qcow2 l1 l2 dev
	rm -f "$low" "$img"
	qemu-img create -q -f qcow2 "$low" 1M
	qemu-io -c "write -P 0x61 0 128k" "$low" > /dev/null
	qemu-img create -q -f qcow2 -b low.qcow2 -F qcow2 "$img"
	l1=$((0x$(peek64 "$low" 40)))
	l2=$((0x$(peek64 "$low" $l1) & 0x00fffffffffffe00))
	poke "$low" $((l2 + 8)) "$(be64 $((0x8000000100000000)))"
	dmesg_mark
	dev=$(attach "$img") || { echo "attach over a corrupt level"; failed=1; return; }
	if dd if="$dev" of=/dev/null bs=64k skip=1 count=1 iflag=direct status=none 2> /dev/null; then
		echo "read through a corrupt level succeeded"; failed=1
	fi
	dmesg_since | grep -q "qcow2[0-9]*: backing file 1 (.*low.qcow2) is corrupt: .*past the end of the file" ||
		{ echo "no log line for the corrupt level: $(dmesg_since | tail -n 3)"; failed=1; }
	[ "$("$QCOW2CTL" info --json "$dev" | jq -c '[(.state | test("corrupt")), .backing_chain[0].corrupt]')" = "[false,true]" ] ||
		{ echo "info does not show the level corrupt: $("$QCOW2CTL" info "$dev")"; failed=1; }
	dd if=/dev/zero of="$dev" bs=64k count=1 seek=1 oflag=direct status=none ||
		{ echo "the image above a corrupt level refused a write"; failed=1; }
	dd if="$dev" of=/dev/null bs=64k skip=1 count=1 iflag=direct status=none ||
		{ echo "a cluster the image above holds does not read"; failed=1; }
	"$QCOW2CTL" detach "$dev"
	check_image "$img" || failed=1
	info "ok: a corrupt level below fails its reads only"
}
lower_corrupt

# An L2 entry naming the first cluster past the end of the file stays
# refused after the device has allocated that cluster for another write:
# validation is against the file as it was at attach, never against what
# the allocator appended. Two guest offsets never share a cluster.
rm -f "$img"; qemu-img create -q -f qcow2 -o cluster_size=512 "$img" 1M
qemu-io -c "write -P 0x61 0 512" -c "write -P 0x62 0x8000 512" "$img" > /dev/null
next=$(( ($(stat -c %s "$img") + 511) / 512 * 512 ))
l1=$((0x$(peek64 "$img" 40)))
l2=$((0x$(peek64 "$img" $((l1 + 8))) & 0x00fffffffffffe00))
# Entry 1 of L1 entry 1's table maps guest 0x8200.
poke "$img" $((l2 + 8)) "$(be64 $((0x8000000000000000 | next)))"
corruptions() { qemu-img check --output=json "$img" 2>/dev/null | jq '.corruptions // 0'; }
before=$(corruptions)
[ "$before" -ge 1 ] || { echo "qemu-img check does not see the bad entry"; failed=1; }
dmesg_mark
dev=$(attach "$img") || { echo "attach (entry past the end)"; failed=1; }
# A fresh cluster for guest 0x200: the first one past the end of the file.
printf 'X%.0s' $(seq 512) | dd of="$dev" bs=512 seek=1 oflag=direct status=none ||
	{ echo "write allocating past the end of the file"; failed=1; }
if dd if="$dev" of="$dir/r" bs=512 skip=65 count=1 iflag=direct status=none 2> /dev/null; then
	echo "an entry past the end of the file at attach was accepted once the allocator got there"
	failed=1
fi
dmesg_since | grep -q "image is corrupt: .*past the end of the file" ||
	{ echo "no log line for the entry past the end: $(dmesg_since | tail -n 3)"; failed=1; }
[ "$(cat /sys/block/${dev#/dev/}/qcow2/corrupt)" = 1 ] || { echo "not marked corrupt (past the end)"; failed=1; }
cmp -s -n 512 "$dev" <(head -c 512 /dev/zero | tr '\0' '\141') || { echo "guest 0 changed"; failed=1; }
"$QCOW2CTL" detach "$dev"
after=$(corruptions)
[ "$after" -le "$before" ] || { echo "qemu-img check: $before corruptions before, $after after"; failed=1; }
info "ok: an entry past the end stays refused after allocation"

[ $failed = 0 ] || fail "malformed images"
exit $KSFT_PASS
