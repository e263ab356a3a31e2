#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Images written by qemu-io read back exactly through /dev/qcow2N, and what
# the device writes reads back exactly through qemu-io: patterns at offsets
# that cross cluster and L2-table boundaries, zero clusters, qemu-img's
# own preallocation, version 2 and extended L2.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH

# expect DEV OFFSET LEN BYTE: the device holds LEN bytes of BYTE at OFFSET.
expect() {
	local got
	got=$(dd if="$1" bs=512 skip=$(($2 / 512)) count=$(($3 / 512)) \
		iflag=direct status=none | od -An -v -tx1 | tr -s ' \n' '\n' |
		grep -v '^$' | sort -u | tr '\n' ' ')
	[ "$got" = "$(printf '%02x ' "$4")" ] && return 0
	echo "at $2 (+$3): bytes $got, expected $(printf '%02x' "$4")"
	return 1
}

# put DEV OFFSET LEN BYTE
put() {
	head -c "$3" /dev/zero | tr '\0' "\\$(printf '%03o' "$4")" |
		dd of="$1" bs=512 seek=$(($2 / 512)) oflag=direct status=none
}

failed=0
try() { # CLUSTER ENTRY-BYTES qemu-img-options
	local cs=$1 esz=$2 opts=$3 img=$dir/io.qcow2 dev out
	local span=$((cs / esz * cs)) size
	# Sector-aligned, across the first L2 table boundary.
	local a=$((cs / 2 > 512 ? cs / 2 : 512)) l=$((cs > 1024 ? cs : 1024))
	size=$((4 * span))
	[ $size -lt $((64 << 20)) ] && size=$((64 << 20))
	rm -f "$img"
	qemu-img create -q -f qcow2 -o "cluster_size=$cs,$opts" "$img" $size || return 1
	# A pattern per boundary: inside the first cluster, across two
	# clusters, across two L2 tables, zeroes over data, the last sector.
	out=$(qemu-io -f qcow2 \
		-c "write -P 0x11 0 512" \
		-c "write -P 0x22 $((2 * cs - 512)) 1024" \
		-c "write -P 0x33 $((span - a)) $l" \
		-c "write -P 0x44 $((span + 3 * cs)) $((2 * cs))" \
		-c "write -z $((span + 3 * cs)) $cs" \
		-c "write -P 0x55 $((size - 512)) 512" "$img" 2>&1) ||
		{ echo "qemu-io ($opts): $out"; return 1; }
	dev=$(attach "$img") || return 1
	expect "$dev" 0 512 0x11 &&
	{ [ $cs -lt 2048 ] || expect "$dev" 512 512 0; } &&
	expect "$dev" $((2 * cs - 512)) 1024 0x22 &&
	expect "$dev" $((span - a)) $l 0x33 &&
	expect "$dev" $((span + 3 * cs)) $cs 0 &&
	expect "$dev" $((span + 4 * cs)) $cs 0x44 &&
	expect "$dev" $((size - 512)) 512 0x55 &&
	expect "$dev" $((2 * span)) $cs 0 ||
		{ echo "reading qemu-io's writes ($opts, cluster $cs) failed"; return 1; }

	# The device writes over the same boundaries; qemu-io reads.
	put "$dev" $((cs / 2 > 512 ? cs / 2 : 512)) 512 0x66 &&
	put "$dev" $((span - 1024)) 2048 0x77 ||
		{ echo "device writes ($opts) failed"; return 1; }
	# A partial write into the zero cluster, for clusters that have room
	# for zeros on both sides of it.
	local zero_fill=()
	if [ $cs -ge 2048 ]; then
		put "$dev" $((span + 3 * cs + 512)) 1024 0x88 || return 1
		zero_fill=(-c "read -P 0 $((span + 3 * cs)) 512"
			   -c "read -P 0x88 $((span + 3 * cs + 512)) 1024"
			   -c "read -P 0 $((span + 3 * cs + 1536)) 512")
	fi
	put "$dev" $((3 * span - cs)) $((2 * cs)) 0x99 ||
		{ echo "device writes ($opts) failed"; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "check ($opts, cluster $cs)"; return 1; }
	out=$(qemu-io -f qcow2 \
		-c "read -P 0x11 0 512" \
		-c "read -P 0x66 $((cs / 2 > 512 ? cs / 2 : 512)) 512" \
		-c "read -P 0x77 $((span - 1024)) 2048" \
		"${zero_fill[@]}" \
		-c "read -P 0x44 $((span + 4 * cs)) $cs" \
		-c "read -P 0x99 $((3 * span - cs)) $((2 * cs))" \
		-c "read -P 0x55 $((size - 512)) 512" "$img" 2>&1)
	if [ $? != 0 ] || grep -q "verification failed" <<< "$out"; then
		echo "qemu-io read back ($opts, cluster $cs): $out"
		return 1
	fi
	info "ok: cluster $cs, $opts"
}

try 65536 8 compat=1.1 || failed=1
try 65536 16 compat=1.1,extended_l2=on || failed=1
# The debug guest runs the two above only; the stock guests in make check
# add the smallest clusters with the widest refcounts and a version 2
# image; make check-full runs every configuration (README).
if ! debug_kernel; then
	try 512 8 compat=1.1,refcount_bits=64 || failed=1
	try 4096 8 compat=0.10 || failed=1
fi
if ! short_run; then
	try 65536 8 compat=1.1,preallocation=metadata || failed=1
	try 2097152 8 compat=1.1,refcount_bits=1 || failed=1
	try 32768 16 compat=1.1,extended_l2=on,preallocation=metadata || failed=1
fi
[ $failed = 0 ] || fail "qemu-io interoperability"
exit $KSFT_PASS
