#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Compressed clusters: images qemu-img convert -c made (deflate and zstd,
# version 2 and 3, clusters of 512 B to 2 MiB, with and without extended
# L2) read back exactly the raw image; an ext4 tree read, then changed, the
# way QEMU would have changed it; fio's verified writes over compressed
# clusters; snapshots that share them survive; and malformed descriptors
# and data fail the read with EIO, mark the image corrupt and say where.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
failed=0

# A source of random data, text that compresses well and zeros, in pieces
# that do not line up with any cluster size: SIZE bytes into FILE.
make_source() { # FILE SIZE
	python3 - "$1" "$2" <<'PY'
import os, sys
path, size, piece = sys.argv[1], int(sys.argv[2]), 96 * 1024
text = b"".join(b"line %06d of some text that compresses\n" % i for i in range(4000))
with open(path, "wb") as f:
    at, k = 0, 0
    while at < size:
        n = min(piece, size - at)
        kind = k % 4
        if kind == 0:
            f.write(os.urandom(n))
        elif kind == 1:
            f.write(text[:n])
        elif kind == 2:
            f.write(bytes(n))
        else:
            f.write((os.urandom(n // 2) + text[:n - n // 2])[:n])
        at, k = at + n, k + 1
PY
}

status_field() { # DEVICE FIELD
	"$QCOW2CTL" info --json "$1" | jq -r ".$2"
}

# The matrix: every image the device reads back as the raw source.
src=$dir/src.raw
make_source "$src" $((4 * 1024 * 1024))
read_back() { # TYPE COMPAT CLUSTER EXTL2
	local type=$1 compat=$2 cs=$3 extl2=$4 img=$dir/m.qcow2 dev opts
	opts="compat=$compat,cluster_size=$cs"
	[ "$type" = zstd ] && opts="$opts,compression_type=zstd"
	[ "$extl2" = on ] && opts="$opts,extended_l2=on"
	rm -f "$img"
	qemu-img convert -c -f raw -O qcow2 -o "$opts" "$src" "$img" ||
		{ echo "qemu-img convert -c ($opts)"; return 1; }
	dev=$(attach --read-only "$img") || { echo "attach ($opts)"; return 1; }
	if ! cmp "$dev" "$src"; then
		echo "device differs from the source ($opts)"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	[ "$(status_field "$dev" decompressed)" -gt 0 ] ||
		{ echo "nothing was decompressed ($opts)"; "$QCOW2CTL" detach "$dev"; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	info "ok: read back: $opts (${SECONDS}s)"
}
if short_run; then
	matrix="zlib 0.10 4096 off
		zstd 1.1 65536 on"
	debug_kernel || matrix="$matrix
		zlib 1.1 512 off
		zstd 1.1 2097152 off"
else
	matrix=
	for cs in 512 4096 65536 2097152; do
		matrix="$matrix
			zlib 0.10 $cs off
			zlib 1.1 $cs off
			zstd 1.1 $cs off"
		[ $cs -ge 65536 ] && matrix="$matrix
			zlib 1.1 $cs on
			zstd 1.1 $cs on"
	done
fi
while read -r t c s e; do
	[ -n "$t" ] && { read_back "$t" "$c" "$s" "$e" || failed=1; }
done <<< "$matrix"

# Sequential 4 KiB reads of a cluster decompress it once.
seq_once() {
	local img=$dir/q.qcow2 dev n
	rm -f "$img"
	qemu-img convert -c -f raw -O qcow2 "$src" "$img" || return 1
	dev=$(attach --read-only "$img") || return 1
	# [128 KiB, 192 KiB) of the source is text: a compressed cluster.
	dd if="$dev" of=/dev/null bs=4k skip=32 count=16 iflag=direct status=none || return 1
	n=$(status_field "$dev" decompressed)
	"$QCOW2CTL" detach "$dev"
	[ "$n" = 1 ] || { echo "16 reads of one 64 KiB cluster decompressed it $n times"; return 1; }
	info "ok: sequential reads decompress once (${SECONDS}s)"
}
seq_once || failed=1

# qemu-io's "write -c" leaves the file ending inside the last sector of the
# data, which QEMU reads as zeros past the end.
tail_at_eof() {
	local img=$dir/e.qcow2 dev
	rm -f "$img"
	qemu-img create -q -f qcow2 "$img" 1M &&
		qemu-io -c "write -c -P 0x5a 0 64k" "$img" > /dev/null || return 1
	[ $(($(stat -c %s "$img") % 512)) != 0 ] ||
		info "note: the image ends on a sector boundary"
	dev=$(attach --read-only "$img") || return 1
	cmp <(head -c 65536 "$dev") <(head -c 65536 /dev/zero | tr '\0' '\132') ||
		{ echo "data ending inside the file's last sector"; "$QCOW2CTL" detach "$dev"; return 1; }
	"$QCOW2CTL" detach "$dev"
	info "ok: compressed data up to the end of the file (${SECONDS}s)"
}
tail_at_eof || failed=1

# A file system in a compressed image: read-only, every file compared; then
# read-write, files changed, and the image QEMU would have made of the same
# block writes.
fs_tree() {
	local tree=$dir/tree raw=$dir/fs.raw img=$dir/fs.qcow2 copy=$dir/fs-copy.qcow2
	local mnt=$dir/mnt dev after=$dir/after.raw chunk=65536 c out
	mkdir -p "$tree/a/b" "$tree/a/many" "$tree/c" "$mnt"
	for c in $(seq 1 100); do
		seq -f "file $c line %g" 1 $((c * 7)) > "$tree/a/many/f$c"
	done
	head -c 1000000 /dev/urandom > "$tree/a/b/random"
	seq 1 200000 > "$tree/c/numbers"
	: > "$tree/c/empty"
	truncate -s 32M "$raw"
	mkfs.ext4 -q -F -b 4096 -d "$tree" "$raw" || { echo "mkfs.ext4 -d"; return 1; }
	qemu-img convert -c -f raw -O qcow2 "$raw" "$img" && cp "$img" "$copy" || return 1

	dev=$(attach --read-only "$img") || return 1
	mount -o ro "$dev" "$mnt" || { echo "mount read-only"; return 1; }
	out=$(diff -r "$tree" "$mnt" 2>&1 | grep -v lost+found) &&
		{ echo "files differ: $out"; umount "$mnt"; return 1; }
	umount "$mnt" && "$QCOW2CTL" detach "$dev" || return 1

	dev=$(attach "$img") || return 1
	mount "$dev" "$mnt" || { echo "mount read-write"; return 1; }
	echo "appended" >> "$mnt/c/numbers"
	dd if=/dev/urandom of="$mnt/a/b/random" bs=4k seek=100 count=3 conv=notrunc status=none
	head -c 1000000 /dev/urandom > "$mnt/c/new"
	rm -r "$mnt/a/many"
	umount "$mnt" || return 1
	fsck.ext4 -fn "$dev" > /dev/null 2>&1 || { echo "fsck after changes"; return 1; }
	cat "$dev" > "$after" || return 1
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "check after file changes"; return 1; }
	# The same block writes through QEMU, on the copy.
	local cmds=()
	for c in $(cmp -l "$raw" "$after" | awk -v s=$chunk '{ print int(($1 - 1) / s) }' | uniq); do
		dd if="$after" of="$dir/chunk$c" bs=$chunk skip="$c" count=1 status=none || return 1
		cmds+=(-c "write -s $dir/chunk$c $((c * chunk)) $chunk")
	done
	[ ${#cmds[@]} -gt 0 ] || { echo "the file changes wrote nothing"; return 1; }
	qemu-io -f qcow2 "${cmds[@]}" "$copy" > /dev/null || { echo "qemu-io writes"; return 1; }
	out=$(qemu-img compare "$img" "$copy" 2>&1) ||
		{ echo "the device's image and QEMU's differ: $out"; return 1; }
	info "ok: ext4 in a compressed image (${SECONDS}s)"
}
# The 6.12 guest of "make check" and every guest of "make check-full"
# (README).
if [ "${QCOW2_KIND:-}" = 6.12 ] || [ -n "${QCOW2_FULL:-}" ]; then
	fs_tree || failed=1
fi

# fio's verified writes over compressed clusters: all of the first half is
# written, so its clusters are normal ones afterwards and the second
# half's are still compressed.
fio_over() {
	local img=$dir/f.qcow2 raw=$dir/f.raw dev out before after
	command -v fio > /dev/null || { echo "fio not installed"; return 1; }
	# Text: every cluster compresses (QEMU stores one that does not as is).
	seq -f "%012g some text to compress" 1 1000000 | head -c $((8 * 1024 * 1024)) > "$raw"
	qemu-img convert -c -f raw -O qcow2 "$raw" "$img" || return 1
	before=$(qemu-img check --output=json "$img" | jq '."compressed-clusters"')
	[ "$before" = 128 ] || { echo "expected 128 compressed clusters, not $before"; return 1; }
	dev=$(attach "$img") || return 1
	if ! out=$(fio --name=over --filename="$dev" --direct=1 --ioengine=libaio \
		   --rw=randwrite --bs=4k --iodepth=8 --numjobs=4 --size=1M \
		   --offset_increment=1M --verify=crc32c --verify_fatal=1 \
		   --group_reporting 2>&1); then
		echo "fio: $(echo "$out" | tail -n 20)"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "check after fio"; return 1; }
	after=$(qemu-img check --output=json "$img" | jq '."compressed-clusters"')
	[ "$after" = 64 ] || { echo "after writing half: $after compressed clusters, want 64"; return 1; }
	out=$(qemu-img map --output=json "$img" | jq -c \
		'[.[] | select(.start < 4194304 and .data and (has("offset") | not))]')
	[ "$out" = "[]" ] || { echo "written clusters still compressed: $out"; return 1; }
	info "ok: fio verify over compressed clusters (${SECONDS}s)"
}
fio_over || failed=1

# Snapshots of a compressed image keep their content while the device
# writes over the clusters they share.
snapshots() {
	local img=$dir/s.qcow2 raw=$dir/s.raw dev w out
	cp "$src" "$raw"
	qemu-img convert -c -f raw -O qcow2 -o cluster_size=4096 "$raw" "$img" &&
		qemu-img snapshot -c s1 "$img" || return 1
	cp "$raw" "$dir/s1.raw"
	dev=$(attach "$img") || return 1
	# Partial and whole clusters, and a run of clusters.
	for w in "1 1" "16 8" "196 40" "$((4096 + 2)) 138"; do
		set -- $w
		head -c $(($2 * 512)) /dev/urandom > "$dir/w" &&
		dd if="$dir/w" of="$dev" bs=512 seek="$1" oflag=direct conv=notrunc status=none &&
		dd if="$dir/w" of="$raw" bs=512 seek="$1" conv=notrunc status=none || return 1
	done
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$img" || { echo "check after writes with a snapshot"; return 1; }
	out=$(qemu-img compare -f qcow2 -F raw "$img" "$raw" 2>&1) ||
		{ echo "active image: $out"; return 1; }
	qemu-img convert -f qcow2 -O raw -l snapshot.name=s1 "$img" "$dir/out.raw" &&
		out=$(qemu-img compare -f raw -F raw "$dir/out.raw" "$dir/s1.raw" 2>&1) ||
		{ echo "snapshot s1: $out"; return 1; }
	info "ok: snapshots of a compressed image (${SECONDS}s)"
}
snapshots || failed=1

# Malformed descriptors and data. The image has one compressed cluster at
# guest 0 (64 KiB clusters); its L2 entry is replaced by one naming
# PAYLOAD, appended to the file, or by a raw descriptor.
img=$dir/bad.qcow2
l2_entry0() { echo $(( $(peek_be64 "$img" $(peek_be64 "$img" 40)) & 0x00fffffffffffe00 )); }
# crafted TYPE DESCRIPTOR | -p PAYLOAD-FILE: the image, with guest cluster
# 0 made of that descriptor or payload.
crafted() {
	local type=$1 opts= end desc l2
	shift
	# One image of each type, copied for every case.
	if [ ! -e "$dir/base-$type.qcow2" ]; then
		[ "$type" = zstd ] && opts="-o compression_type=zstd"
		qemu-img create -q -f qcow2 $opts "$dir/base-$type.qcow2" 1M &&
			qemu-io -c "write -c -P 0x11 0 64k" "$dir/base-$type.qcow2" > /dev/null ||
			return 1
	fi
	rm -f "$img"
	cp "$dir/base-$type.qcow2" "$img" || return 1
	l2=$(l2_entry0)
	if [ "$1" = -p ]; then
		end=$(( ($(stat -c %s "$img") + 511) / 512 * 512 + 100 ))
		dd if="$2" of="$img" bs=1 seek=$end conv=notrunc status=none || return 1
		desc=$(( 0x4000000000000000 | end |
			 (( ($(stat -c %s "$2") + (end & 511) + 511) / 512 - 1) << 54) ))
	else
		desc=$(( 0x4000000000000000 | $1 ))
	fi
	poke "$img" "$l2" "$(be64 $desc)"
}
# What QEMU reads, the device reads: good WHAT TYPE PAYLOAD EXPECTED.
good() {
	local dev
	crafted "$2" -p "$3" || return 1
	dev=$(attach --read-only "$img") || { echo "attach ($1)"; return 1; }
	cmp <(head -c 65536 "$dev") "$4" || { echo "$1 read back wrong"; "$QCOW2CTL" detach "$dev"; return 1; }
	"$QCOW2CTL" detach "$dev"
	qemu-img convert -O raw "$img" "$dir/q.raw" &&
		cmp <(head -c 65536 "$dir/q.raw") "$4" || { echo "$1: QEMU reads something else"; return 1; }
	info "ok: $1"
}
bad() { # WHAT LOG-PATTERN TYPE [DESCRIPTOR | -p PAYLOAD-FILE]
	local what=$1 pat=$2 dev rc
	shift 2
	crafted "$@" || return 1
	dmesg_mark
	dev=$(attach "$img") || { echo "attach ($what)"; return 1; }
	dd if="$dev" of=/dev/null bs=64k count=1 iflag=direct status=none 2> "$dir/err"
	rc=$?
	[ $rc != 0 ] && grep -q "Input/output error" "$dir/err" ||
		{ echo "read of $what: rc $rc, $(cat "$dir/err")"; "$QCOW2CTL" detach "$dev"; return 1; }
	status_field "$dev" state | grep -q corrupt ||
		{ echo "$what: device not marked corrupt"; "$QCOW2CTL" detach "$dev"; return 1; }
	"$QCOW2CTL" detach "$dev" || return 1
	dmesg_since | grep -q "qcow2[0-9]*: image is corrupt: .*$pat" ||
		{ echo "no log line for $what (/$pat/)"; dmesg_since | tail -n 5; return 1; }
	qemu-img info "$img" | grep -q "corrupt: true" ||
		{ echo "$what: corrupt bit not in the header"; return 1; }
	info "ok: malformed: $what"
}
z=$dir/payload
gz() { gzip -n -c | tail -c +11 | head -c -8; }	# raw deflate
head -c 32768 /dev/urandom | gz > $z; bad "deflate to less than a cluster" \
	"compressed cluster at 0x[0-9a-f]* .*inflates to less than a cluster" zlib -p $z || failed=1
head -c 131072 /dev/zero | gz > $z; bad "deflate to more than a cluster" \
	"inflates to more than a cluster" zlib -p $z || failed=1
head -c 4096 /dev/zero | tr '\0' '\377' > $z; bad "damaged deflate stream" \
	"deflate stream is damaged" zlib -p $z || failed=1
head -c 32768 /dev/urandom | zstd -q -c > $z; bad "zstd to less than a cluster" \
	"decompress.* to less than a cluster" zstd -p $z || failed=1
head -c 131072 /dev/zero | zstd -q -c > $z; bad "zstd to more than a cluster" \
	"decompresses to more than a cluster" zstd -p $z || failed=1
head -c 65536 /dev/urandom | zstd -q --check -c > $z
last=$(($(stat -c %s $z) - 1))	# the last byte is the checksum's: change it
poke $z $last "$(printf '%02x' $(( ($(od -An -tu1 -j $last -N 1 $z) + 1) % 256 )))"
bad "zstd frame with a bad checksum" "checksum does not match" zstd -p $z || failed=1
bad "sectors past the end of the file" "extends past the end of the file" zlib \
	$(( (255 << 54) | 0x50000 )) || failed=1
# The refcount table, cluster 1 in qemu-img's layout.
bad "data in the refcount table" "overlaps metadata" zlib $(( 0x10000 + 200 )) || failed=1
bad "data in the header cluster" "overlaps the header cluster" zlib 200 || failed=1

# Two zstd frames fill the cluster: QEMU reads on until it is full, and so
# does the device; a skippable frame before them yields nothing.
head -c 32768 /dev/urandom > $dir/half1; seq 1 100000 | head -c 32768 > $dir/half2
cat $dir/half1 $dir/half2 > $dir/whole
{ printf '\x50\x2a\x4d\x18\x04\x00\x00\x00skip'
  zstd -q -c < $dir/half1; zstd -q -c < $dir/half2; } > $z
good "zstd: a skippable frame, then two frames" zstd $z $dir/whole || failed=1

# A whole-cluster write over a descriptor on metadata must not drop a
# reference to that metadata: it fails like a read.
overwrite_on_meta() {
	local dev
	crafted zlib $(( 0x10000 + 200 )) || return 1
	dev=$(attach "$img") || return 1
	head -c 65536 /dev/urandom > $dir/w
	if dd if=$dir/w of="$dev" bs=64k count=1 oflag=direct status=none 2> /dev/null; then
		echo "a whole-cluster write over a descriptor on metadata succeeded"
		"$QCOW2CTL" detach "$dev"; return 1
	fi
	status_field "$dev" state | grep -q corrupt ||
		{ echo "descriptor on metadata: not marked corrupt"; "$QCOW2CTL" detach "$dev"; return 1; }
	"$QCOW2CTL" detach "$dev"
	info "ok: whole-cluster write over a descriptor on metadata fails"
}
overwrite_on_meta || failed=1

# A partial write over a compressed cluster decompresses it before the
# metadata lock; the copy under the lock finds it kept.
warm_first() {
	local img=$dir/w.qcow2 dev n h
	rm -f "$img"
	qemu-img create -q -f qcow2 "$img" 1M &&
		qemu-io -c "write -c -P 0x21 0 64k" "$img" > /dev/null || return 1
	dev=$(attach "$img") || return 1
	head -c 4096 /dev/urandom > $dir/w
	dd if=$dir/w of="$dev" bs=4k seek=3 count=1 oflag=direct status=none || return 1
	n=$(status_field "$dev" decompressed) h=$(status_field "$dev" decompressed_hits)
	"$QCOW2CTL" detach "$dev"
	[ "$n" = 1 ] && [ "$h" -ge 1 ] ||
		{ echo "partial write: decompressed $n, kept $h (want 1, at least 1)"; return 1; }
	check_image "$img" || return 1
	qemu-img convert -O raw "$img" "$dir/q.raw" || return 1
	cmp <(head -c 65536 "$dir/q.raw") \
	    <(head -c 12288 /dev/zero | tr '\0' '\041'; cat $dir/w; head -c 49152 /dev/zero | tr '\0' '\041') ||
		{ echo "partial write over a compressed cluster: wrong data"; return 1; }
	info "ok: partial write decompresses before the lock"
}
warm_first || failed=1

# A compression type the driver does not know is refused at attach.
unknown_type() {
	local out
	rm -f "$img"
	qemu-img create -q -f qcow2 -o compression_type=zstd "$img" 1M || return 1
	poke "$img" 104 02
	dmesg_mark
	out=$("$QCOW2CTL" attach "$img" 2>&1) && { echo "attach of compression type 2 succeeded"; return 1; }
	grep -q "Operation not supported" <<< "$out" ||
		{ echo "attach of compression type 2: $out"; return 1; }
	dmesg_since | grep -q "unknown compression type 2" ||
		{ echo "no log line naming compression type 2"; return 1; }
	info "ok: unknown compression type refused"
}
unknown_type || failed=1

[ $failed = 0 ] || fail "compressed clusters"
exit $KSFT_PASS
