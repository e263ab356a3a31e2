#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side tests of the format code, printing TAP:
#  - format_test: the header parser against hand-made, mutated and
#    qemu-img-made headers; the compressed cluster decoder against
#    qemu-img-made compressed images;
#  - the image layout of QCOW2_IOC_CREATE, written by mkimage with the same
#    code the kernel runs, held against qemu-img check, info, map and measure
#    over a matrix of options;
#  - args_test: qcow2ctl's size, device and JSON string handling;
#  - chain.sh: qcow2ctl's backing chains and snapshot lists, against
#    qemu-img's, and what its attach hands the module (a fake one).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A fixture that cannot be made ends the run (check.sh reports the exit
# status): a missing one would only shrink what format_test covers.
set -e

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

# Compressed clusters, as qemu-img convert -c writes them from a file of
# mixed data (zero clusters, text, incompressible bytes, a few bytes in an
# otherwise empty cluster), with each cluster size's own descriptor width
# and both compression types; and as qemu-io write -c leaves them, with the
# file ending inside the last compressed sector. NAME.map lists the guest
# offsets of the clusters qemu-img map reports compressed (data, but no
# host offset), NAME.raw is the image's content.
comp=$tmp/compressed
mkdir "$comp"
src=$tmp/mixed.raw
put() { # offset: stdin at that byte offset of $src
	dd of="$src" bs=1 seek="$1" conv=notrunc status=none
}
truncate -s $((3 << 20)) "$src"
# perl's own generator: the same bytes on every machine.
noise() { perl -e "srand($1); print pack('C*', map { int rand 256 } 1..$2)"; }
# (head closes the pipe on seq: not a failure.)
{ seq 1 40000 || :; } | head -c $((160 << 10)) | put $((64 << 10))
noise 1 $((300 << 10)) | put $((512 << 10))
seq 1 300 | put $((1 << 20))
seq 7 3 90000 | head -c $((700 << 10)) | put $((1536 << 10))
noise 2 1000 | put $(((3 << 20) - 1000))
cmp_img() { # name options
	qemu-img convert -q -c -f raw -O qcow2 -o "$2" "$src" "$comp/$1.qcow2"
}
cmp_img zlib-c16 compat=1.1
cmp_img zstd-c16 compression_type=zstd
cmp_img zlib-c9 cluster_size=512
cmp_img zstd-c12 cluster_size=4096,compression_type=zstd
cmp_img zlib-c21 cluster_size=2M
cmp_img zlib-c16-extl2 extended_l2=on
cmp_img zlib-c16-v2 compat=0.10
qemu-img create -q -f qcow2 "$comp/qemuio-c16.qcow2" 1M
qemu-io -f qcow2 -c 'write -c -P 0x11 0 64k' -c 'write -c -P 0x22 64k 64k' \
	"$comp/qemuio-c16.qcow2" > /dev/null
for img in "$comp"/*.qcow2; do
	n=${img%.qcow2}
	qemu-img convert -f qcow2 -O raw "$img" "$n.raw"
	cs=$(qemu-img info --output=json "$img" | jq '.["cluster-size"]')
	qemu-img map -f qcow2 --output=json "$img" |
		jq -r ".[] | select(.data and (has(\"offset\") | not)) |
			range(.start; .start + .length; $cs)" > "$n.map"
done

qemu-img create -q -f qcow2 "$tmp/base.qcow2" 1G
set +e

failed=0
QCOW2_FIXTURES=$fixtures QCOW2_COMPRESSED=$comp "$here/format_test" || failed=1
"$here/args_test" || failed=1
. "$here/../image_checks.sh"
# layout SIZE CLUSTER VERSION REFBITS MODE [extl2] [lazy] [backing=] [format=]
layout() {
	local name="layout: $*" img=$tmp/img.qcow2 why INFO_TOOL=
	# qcow2ctl info held against qemu-img info too (image_checks.sh), on
	# a representative of each option: 1 GiB with 16-bit refcounts in
	# each cluster size and mode, version 2, and every layout with more
	# options. (Each comparison costs most of a second here.)
	if { [ "$1" = $((1 << 30)) ] && [ "$4" = 16 ]; } || [ "$3" = 2 ] || [ $# -gt 5 ]; then
		INFO_TOOL=$here/qcow2ctl
	fi
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

"$here/chain.sh" || failed=1
"$here/cli.sh" || failed=1

exit $failed
