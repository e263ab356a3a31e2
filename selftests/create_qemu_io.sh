#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# qemu-io writes patterns into images the kernel created, at offsets that
# cross cluster and L2-table boundaries, and reads them back; qemu-img check
# stays clean, and what was never written reads as zeros.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH

failed=0
try() { # CLUSTER ENTRY-BYTES qcow2ctl-options...
	local cs=$1 esz=$2 img=$dir/io.qcow2 out
	shift 2
	local span=$(( cs / esz * cs ))	# guest bytes one L2 table maps
	local size=$(( 4 * span ))
	"$QCOW2CTL" create "$@" "$img" $size > /dev/null || { failed=1; return; }
	local cmds=(
		-c "write -P 0x11 0 512"
		-c "write -P 0x22 $((2 * cs - 256)) 512"
		-c "write -P 0x33 $((span - cs / 2)) $cs"
		-c "write -P 0x44 $((2 * span - 4096)) 8192"
		-c "write -P 0x55 $((size - 512)) 512"
	)
	local reads=(
		-c "read -P 0x11 0 512"
		-c "read -P 0x22 $((2 * cs - 256)) 512"
		-c "read -P 0x33 $((span - cs / 2)) $cs"
		-c "read -P 0x44 $((2 * span - 4096)) 8192"
		-c "read -P 0x55 $((size - 512)) 512"
		-c "read -P 0 $((3 * span)) $cs"
	)
	if ! out=$(qemu-io -f qcow2 "${cmds[@]}" "$img" 2>&1); then
		echo "qemu-io write ($*): $out"
		failed=1
	elif ! out=$(qemu-io -f qcow2 "${reads[@]}" "$img" 2>&1) ||
	     grep -q "Pattern verification failed" <<< "$out"; then
		echo "qemu-io read back ($*): $out"
		failed=1
	elif ! out=$(qemu-img check "$img" 2>&1); then
		echo "qemu-img check after writes ($*): $out"
		failed=1
	else
		echo "ok: $*"
	fi
	rm -f "$img"
}

try 65536 8 --prealloc=metadata
try 65536 8 --prealloc=off
try 512 8 --prealloc=metadata --cluster-size=512 --refcount-bits=1
try 4096 8 --prealloc=falloc --cluster-size=4096 --refcount-bits=64
try 4096 8 --prealloc=full --cluster-size=4096 --compat=0.10
try 2097152 8 --prealloc=metadata --cluster-size=2M --refcount-bits=2
try 65536 16 --prealloc=metadata --extended-l2
try 32768 16 --prealloc=off --extended-l2 --cluster-size=32k --refcount-bits=8
exit $failed
