#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side tests of the format code, printing TAP:
#  - format_test: the header parser against hand-made, mutated and
#    qemu-img-made headers;
#  - the image layout of QCOW2_IOC_CREATE, written by mkimage with the same
#    code the kernel runs, held against qemu-img check, info, map and measure
#    over a matrix of options.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# qemu-img's images as fixtures for the header parser.
fixtures=$tmp/fixtures
mkdir "$fixtures"
mk() { # name options size
	qemu-img create -q -f qcow2 -o "$2" "$fixtures/$1.qcow2" "$3"
}
mk v2-c16-r4 compat=0.10 1G
mk v3-c16-r4 compat=1.1 1G
mk v3-c9-r4 cluster_size=512 1M
mk v3-c21-r4 cluster_size=2M 100G
mk v3-c16-r0 refcount_bits=1 1G
mk v3-c16-r6 refcount_bits=64 1G
mk v3-c16-r4-lazy lazy_refcounts=on 1G
mk v3-c16-r4-extl2 extended_l2=on 1G
mk v3-c16-r4-zstd compression_type=zstd 1G
mk v3-c16-r4-prealloc preallocation=metadata 64M
mk v3-c12-r4-odd cluster_size=4096 1000000512
mk base compat=1.1 1G
qemu-img create -q -f qcow2 -b "$fixtures/base.qcow2" -F qcow2 \
	"$fixtures/v3-c16-r4-backing.qcow2"

QCOW2_FIXTURES=$fixtures "$here/format_test"

qemu-img create -q -f qcow2 "$tmp/base.qcow2" 1G

failed=0
. "$here/../image_checks.sh"
# layout SIZE CLUSTER VERSION REFBITS MODE [extl2] [lazy] [backing=] [format=]
layout() {
	local name="layout: $*" img=$tmp/img.qcow2 why
	if ! "$here/mkimage" "$img" "$@" > /dev/null; then
		why="mkimage failed"
	else
		why=$(check_new_image "$img" "$@")
	fi
	if [ -z "$why" ]; then
		echo "ok - $name"
	else
		echo "not ok - $name # $why"
		failed=1
	fi
}

G=$((1 << 30))
for cs in 512 4096 65536 2097152; do
	for rb in 1 16 64; do
		for mode in off metadata; do
			for size in $((1 << 20)) $G $((G + 512 * 3)); do
				layout $size $cs 3 $rb $mode
			done
		done
	done
	layout $G $cs 2 16 metadata
	layout $((G + 512)) $cs 2 16 off
done
layout $((100 * G)) 4096 3 16 off
for cs in 65536 2097152; do
	layout $((100 * G)) $cs 3 16 metadata
	layout $((100 * G)) $cs 3 16 off
done
layout $((1024 * G)) 65536 3 16 metadata
layout $((1024 * G)) 2097152 3 1 metadata
layout $G 16384 3 16 metadata extl2
layout $G 65536 3 64 metadata extl2 lazy
layout $G 2097152 3 16 off extl2
layout $G 65536 3 16 off lazy
layout $G 65536 3 16 off backing=base.qcow2 format=qcow2
layout $G 65536 2 16 off backing=base.qcow2
layout $G 65536 3 16 metadata extl2 backing=base.qcow2 format=qcow2

exit $failed
