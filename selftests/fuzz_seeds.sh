#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz_seeds.sh DIR: the seed images of the image fuzzer, made by qemu-img
# and qemu-io with every option the format has (versions 2 and 3, cluster
# sizes 512 B to 2 MiB, refcount widths 1 to 64, lazy refcounts, extended
# L2, metadata preallocation, an internal snapshot, compressed clusters
# of both types, a backing file), each with data written so that its L1,
# L2 and refcount tables are in use. Small virtual sizes, so that a guest
# reads a whole device in a moment. Only the snapshot table's time stamps
# differ from one run to the next; an image that needs keeping is kept as
# it was, not made again.
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
rm -f ./*.qcow2 ./*.raw

io() { qemu-io -f qcow2 "$@" > /dev/null; }
# data IMAGE: writes of several patterns and sizes over the image.
data() {
	io -c "write -P 0x11 0 64k" -c "write -P 0x22 1M 4k" -c "write -P 0x33 3M 130k" \
		-c "write -z 5M 64k" -c "write -P 0x44 $(($2 - 8192)) 8k" "$1"
}
mk() { # mk NAME SIZE OPTIONS
	qemu-img create -q -f qcow2 -o "$3" "$1.qcow2" "$2"
	data "$1.qcow2" "$2"
}

S=$((16 << 20))
qemu-img create -q -f qcow2 -o compat=1.1 empty.qcow2 $S
mk v3-64k $S compat=1.1
mk v2-64k $S compat=0.10
mk v3-512 $((8 << 20)) cluster_size=512
mk v3-4k-r1 $S cluster_size=4096,refcount_bits=1
mk v3-64k-r64 $S refcount_bits=64
mk v3-64k-r2 $S refcount_bits=2
mk v3-32k-extl2 $S cluster_size=32768,extended_l2=on
mk v3-64k-lazy $S lazy_refcounts=on
mk v3-2m $((32 << 20)) cluster_size=2M
mk v3-prealloc $S preallocation=metadata
mk v3-snapshot $S compat=1.1
qemu-img snapshot -c s1 v3-snapshot.qcow2
io -c "write -P 0x55 0 32k" -c "write -P 0x66 3M 4k" v3-snapshot.qcow2

# Compressed clusters from a raw file of mixed contents.
python3 -c 'import random, sys; random.seed(1); sys.stdout.buffer.write(random.randbytes(2 << 20))' > mixed.raw
python3 -c 'import sys; sys.stdout.write("qcow2 fuzz seed text\n" * 99864)' >> mixed.raw
truncate -s $S mixed.raw
qemu-img convert -q -c -f raw -O qcow2 mixed.raw v3-zlib.qcow2
qemu-img convert -q -c -f raw -O qcow2 -o compression_type=zstd mixed.raw v3-zstd.qcow2
qemu-img convert -q -c -f raw -O qcow2 -o compat=0.10 mixed.raw v2-zlib.qcow2
rm -f mixed.raw

# An overlay on a raw base, named relative to it.
truncate -s $S base.raw
qemu-img create -q -f qcow2 -b base.raw -F raw overlay.qcow2
io -c "write -P 0x77 64k 64k" overlay.qcow2
ls ./*.qcow2 | wc -l
