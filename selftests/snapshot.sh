#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Internal snapshots made by qemu-img snapshot -c keep their content while
# the device writes over the clusters and L2 tables they share (copy on
# write), and qemu-img check stays clean. The same writes go to raw files,
# which qemu-img compare holds against the image and each snapshot.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH

# put FILE OFFSET LEN BYTE [FORMAT-FLAGS]
put() {
	head -c "$3" /dev/zero | tr '\0' "\\$(printf '%03o' "$4")" |
		dd of="$1" bs=512 seek=$(($2 / 512)) conv=notrunc ${5:-} status=none
}

failed=0
try() { # CLUSTER qemu-img-options
	local cs=$1 opts=$2 img=$dir/s.qcow2 raw=$dir/s.raw dev out size span
	span=$((cs / 8 * cs))
	size=$((3 * span))
	rm -f "$img" "$raw" "$dir"/s1.raw "$dir"/s2.raw
	qemu-img create -q -f qcow2 -o "cluster_size=$cs,$opts" "$img" $size || return 1
	truncate -s $size "$raw"
	qw() { # qemu-io write to the image and the same bytes to the raw file
		qemu-io -f qcow2 -c "write -P $3 $1 $2" "$img" > /dev/null &&
			put "$raw" $1 $2 $3
	}
	qw 0 $((4 * cs)) 0x11 && qw $((span - cs)) $((2 * cs)) 0x12 || return 1
	qemu-img snapshot -c s1 "$img" && cp "$raw" "$dir/s1.raw" || return 1
	qw $cs $cs 0x21 && qw $((2 * span)) $cs 0x22 || return 1
	qemu-img snapshot -c s2 "$img" && cp "$raw" "$dir/s2.raw" || return 1

	dev=$(attach "$img") || return 1
	local w
	# Partial and whole clusters, shared by one or both snapshots, in
	# shared and unshared L2 tables, and a fresh cluster.
	for w in "512 512 0x31" "$cs $((cs / 2)) 0x32" "$((2 * cs)) $((2 * cs)) 0x33" \
		 "$((span - 512)) 1024 0x34" "$((2 * span + 512)) 512 0x35" \
		 "$((2 * span + 5 * cs)) $cs 0x36"; do
		set -- $w
		put "$dev" $1 $2 $3 oflag=direct && put "$raw" $1 $2 $3 || return 1
	done
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "check after COW ($opts)"; return 1; }
	out=$(qemu-img compare -f qcow2 -F raw "$img" "$raw" 2>&1) ||
		{ echo "active image ($opts): $out"; return 1; }
	for s in s1 s2; do
		qemu-img convert -f qcow2 -O raw -l "snapshot.name=$s" "$img" "$dir/out.raw" &&
		out=$(qemu-img compare -f raw -F raw "$dir/out.raw" "$dir/$s.raw" 2>&1) ||
			{ echo "snapshot $s ($opts): $out"; return 1; }
	done
	info "ok: snapshots, cluster $cs, $opts"
}

# The debug guest runs only the L2 copy under eviction below, the short
# runs the first configuration and that (README).
debug_kernel || try 65536 compat=1.1 || failed=1
if ! short_run; then
	try 4096 compat=0.10 || failed=1
	try 65536 compat=1.1,extended_l2=on || failed=1
	try 512 compat=1.1,refcount_bits=2 || failed=1
fi
# A copy of an L2 table shared with a snapshot is visible only once it
# holds its entries. With the smallest cache every lookup evicts, and a
# write-back in the middle of the copy used to write (and mark clean) the
# copy while it was still zeros; a write that then failed left the L1 entry
# on the zeroed table, and the 2 MiB it maps read as zeros once the copy was
# evicted. The write that fails here goes to a compressed cluster whose
# data is damaged (it must be decompressed to merge the write).
cow_under_eviction() {
	local cs=4096 img=$dir/c.qcow2 raw=$dir/c.raw span=$((512 * 4096)) dev k out
	local l2 coff
	rm -f "$img" "$raw"
	qemu-img create -q -f qcow2 -o cluster_size=$cs "$img" $((16 * span)) &&
		truncate -s $((16 * span)) "$raw" || return 1
	for k in $(seq 0 15); do
		qemu-io -f qcow2 -c "write -P $((k + 1)) $((k * span)) $((64 * cs))" "$img" > /dev/null &&
			put "$raw" $((k * span)) $((64 * cs)) $((k + 1)) || return 1
	done
	# One compressed cluster, in the table of range 5, its deflate data
	# made invalid (a first byte of 0xff is a reserved block type).
	qemu-io -f qcow2 -c "write -c -P 0x55 $((5 * span + 100 * cs)) $cs" "$img" > /dev/null &&
		put "$raw" $((5 * span + 100 * cs)) $cs 0x55 || return 1
	l2=$(( $(peek_be64 "$img" $(( $(peek_be64 "$img" 40) + 5 * 8 ))) & 0x00fffffffffffe00 ))
	coff=$(( $(peek_be64 "$img" $((l2 + 100 * 8))) & ((1 << 58) - 1) ))
	poke "$img" $coff ffffffff
	qemu-img snapshot -c s1 "$img" || return 1
	dev=$(attach --l2-cache-size=1 "$img") || return 1
	for k in 0 1 2; do
		put "$dev" $((k * span + cs)) 512 0x7$k oflag=direct &&
			put "$raw" $((k * span + cs)) 512 0x7$k || return 1
	done
	put "$dev" $((5 * span + 100 * cs)) 512 0x77 oflag=direct 2> /dev/null &&
		{ echo "a write merged into damaged compressed data succeeded"; return 1; }
	# Evict everything, then read every range back (but the damaged cluster).
	for k in $(seq 6 15); do
		dd if="$dev" of=/dev/null bs=4k count=1 skip=$((k * 512)) iflag=direct status=none || return 1
	done
	for k in $(seq 0 15); do
		cmp <(dd if="$dev" bs=256k skip=$((k * 8)) count=1 iflag=direct status=none) \
		    <(dd if="$raw" bs=256k skip=$((k * 8)) count=1 status=none) ||
			{ echo "range $k lost after a failed copy-on-write of an L2 table"; return 1; }
	done
	"$QCOW2CTL" detach "$dev" || return 1
	qemu-img info "$img" | grep -q "corrupt: true" ||
		{ echo "damaged compressed data did not mark the image corrupt"; return 1; }
	check_image "$img" "0 3" || { echo "check after the failed copy-on-write"; return 1; }
	# Repair what the test damaged, as a user would: clear the bit, then
	# write the whole cluster (QEMU does not read what it replaces).
	poke "$img" 72 "$(be64 0)"
	qemu-io -f qcow2 -c "write -P 0x55 $((5 * span + 100 * cs)) $cs" "$img" > /dev/null ||
		return 1
	out=$(qemu-img compare -f qcow2 -F raw "$img" "$raw" 2>&1) ||
		{ echo "after the failed copy-on-write: $out"; return 1; }
	info "ok: L2 table copy under eviction, with a failing write"
}
cow_under_eviction || failed=1

[ $failed = 0 ] || fail "snapshots survive writes through the device"
exit $KSFT_PASS
