#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# corpus.sh OUT: the fuzz targets' seed corpus. Makes images with qemu-img
# and qemu-io with every option the format has (both versions, every
# cluster size, every refcount width, lazy refcounts, extended L2, both
# compression types, metadata preallocation, a backing file, data written
# so that L1, L2 and refcount tables are populated, internal snapshots,
# compressed clusters), in OUT/images/, and cuts each target's seeds out of
# them with OUT/seeds (selftests/fuzz/seeds.c) into OUT/seeds-TARGET/.
#
# Deterministic: the same script, extractor and qemu-img make the same
# seeds (the snapshot times, the one varying field, are zeroed), and
# while those three are unchanged a second run does nothing.

set -euo pipefail
trap 'echo "corpus.sh: line $LINENO failed" >&2' ERR
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: corpus.sh OUT}
ex=$out/seeds
stamp=$(cat "$0" "$here/seeds.c" <(qemu-img --version) | sha256sum)
if [ "$(cat "$out/seeds.stamp" 2>/dev/null)" = "$stamp" ]; then
	exit 0
fi
rm -rf "$out/images" "$out"/seeds-*/ "$out/seeds.stamp"
mkdir -p "$out/images"
for t in header snapshot entries refcount layout compressed; do
	mkdir "$out/seeds-$t"
done
dir=$out/images

# Data at both ends of the first L2 table's reach and across a cluster
# boundary, zeroed clusters (the v3 zero flag, or the zero bits of
# extended L2), a partial subcluster, a discard.
WRITES=(-c 'write -P 0xa5 0 3k' -c 'write -P 0x5a 62k 5k'
	-c 'write -P 0x11 1m 512' -c 'write -z 2m 128k'
	-c 'write -P 0x22 3m 1k' -c 'discard 3m 1k'
	-c 'write -P 0x33 4m 64k')

# img NAME PREALLOC OPTIONS SIZE [qemu-io ARGS...]: create, write, extract.
img() {
	local name=$1 prealloc=$2 opts=$3 size=$4 f=$dir/$1.qcow2
	shift 4
	qemu-img create -q -f qcow2 -o "$opts" "$f" "$size"
	[ $# -eq 0 ] || qemu-io -f qcow2 "$@" "$f" > /dev/null
	"$ex" "$f" "$out" "$name" "$prealloc"
}

# Every cluster size, both versions.
for cs in 512 1024 2048 4096 8192 16384 32768 65536 131072 262144 524288 \
	  1048576 2097152; do
	img "v3-c$cs" 0 "cluster_size=$cs" 64M "${WRITES[@]}"
done
img v2-c512 0 compat=0.10,cluster_size=512 16M "${WRITES[@]}"
img v2-c65536 0 compat=0.10 1G "${WRITES[@]}"
img v2-c65536-empty 0 compat=0.10 100G

# Every refcount width, with small clusters so that blocks fill.
for rb in 1 2 4 8 16 32 64; do
	img "v3-c512-r$rb" 0 "cluster_size=512,refcount_bits=$rb" 16M "${WRITES[@]}"
	img "v3-c65536-r$rb" 0 "refcount_bits=$rb" 1G "${WRITES[@]}"
done

img v3-lazy 0 lazy_refcounts=on 1G "${WRITES[@]}"
for cs in 16384 65536 2097152; do
	img "v3-c$cs-extl2" 0 "extended_l2=on,cluster_size=$cs" 64M "${WRITES[@]}"
done
img v3-zstd 0 compression_type=zstd 1G "${WRITES[@]}" \
	-c 'write -c -P 0x44 8m 64k'
img v3-zlib-qemuio 0 compat=1.1 1G -c 'write -c -P 0x44 0 64k' \
	-c 'write -c -P 0x55 64k 64k'

# Metadata preallocation.
img v3-c512-prealloc 1 cluster_size=512,preallocation=metadata 1M
img v3-prealloc 1 preallocation=metadata 256M "${WRITES[@]}"
img v3-extl2-prealloc 1 extended_l2=on,preallocation=metadata 64M
img v2-prealloc 1 compat=0.10,preallocation=metadata 64M

# A backing file (named relative to the image, so that the seeds do not
# depend on where the checkout is), and subclusters over it.
qemu-img create -q -f qcow2 "$dir/base.qcow2" 64M
qemu-io -f qcow2 -c 'write -P 0x77 0 8m' "$dir/base.qcow2" > /dev/null
img v3-backing 0 "backing_file=base.qcow2,backing_fmt=qcow2" 64M \
	-c 'write -P 0x66 64k 4k'
img v3-backing-extl2 0 \
	"backing_file=base.qcow2,backing_fmt=qcow2,extended_l2=on" 64M \
	-c 'write -P 0x66 64k 4k' -c 'write -z 128k 4k'
img v2-backing 0 "compat=0.10,backing_file=base.qcow2,backing_fmt=qcow2" 64M \
	-c 'write -P 0x66 64k 4k'

# Internal snapshots, with copy-on-write after each.
snap() { # NAME OPTIONS
	local f=$dir/$1.qcow2
	qemu-img create -q -f qcow2 -o "$2" "$f" 64M
	qemu-io -f qcow2 "${WRITES[@]}" "$f" > /dev/null
	qemu-img snapshot -c first "$f"
	qemu-io -f qcow2 -c 'write -P 0x99 0 8k' "$f" > /dev/null
	qemu-img snapshot -c "a second snapshot with a longer name" "$f"
	qemu-io -f qcow2 -c 'write -P 0x98 1m 8k' "$f" > /dev/null
	"$ex" "$f" "$out" "$1" 0
}
snap v3-snapshots compat=1.1
snap v2-snapshots compat=0.10
snap v3-c512-snapshots cluster_size=512
snap v3-extl2-snapshots extended_l2=on

# Compressed clusters from a file of mixed data.
raw=$dir/mixed.raw
truncate -s 4M "$raw"
# (No "head": under pipefail the writer it cuts off fails the script.)
seq 1 34000 | dd of="$raw" bs=64k seek=1 conv=notrunc status=none
perl -e 'srand(1); print pack("C*", map { int rand 256 } 1..300000)' |
	dd of="$raw" bs=64k seek=8 conv=notrunc status=none
seq 1 300 | dd of="$raw" bs=64k seek=20 conv=notrunc status=none
conv() { # NAME OPTIONS
	qemu-img convert -q -c -f raw -O qcow2 -o "$2" "$raw" "$dir/$1.qcow2"
	"$ex" "$dir/$1.qcow2" "$out" "$1" 0
}
conv convert-zlib compat=1.1
conv convert-zstd compression_type=zstd
conv convert-c512 cluster_size=512
conv convert-c4096-zstd cluster_size=4096,compression_type=zstd
conv convert-c2m cluster_size=2M
conv convert-extl2 extended_l2=on
conv convert-v2 compat=0.10

echo "$stamp" > "$out/seeds.stamp"
