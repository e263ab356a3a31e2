#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Backing chains and snapshot views: chains qemu-img made (1, 2 and 5
# levels; qcow2 v2 and v3, extended L2, compressed clusters, a raw base
# shorter than the top, a different cluster size per level) read back
# exactly what qemu-img convert gives; writes to the top copy from below,
# concurrently too, and leave every lower level unchanged; ext4 through an
# overlay, committed into its base by qemu-img; backing names the tool must
# open with the user's rights; internal snapshots shown read-only; chains
# that loop, lack a file, lie about a format or go too deep are refused.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
failed=0
CHAIN=$QCOW2_TOP/selftests/attach_chain.py

# Data at a level: patterned writes at offsets that cross clusters, L2
# tables and subclusters, zero writes over some of them, compressed ones.
scribble() { # IMAGE FORMAT SEED SIZE
	local img=$1 fmt=$2 seed=$3 size=$4 cmds
	cmds=$(python3 - "$seed" "$size" "$fmt" <<'PY'
import random, sys
seed, size, fmt = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = random.Random(seed)
for i in range(14):
    ln = r.choice([512, 1536, 2048, 4096, 12288, 65536, 69632, 200704])
    off = r.randrange(0, (size - ln) // 512) * 512
    print("-c 'write -P %d %d %d'" % (r.randrange(1, 255), off, ln))
if fmt == "qcow2":
    for i in range(3):
        ln = r.choice([4096, 65536, 131072])
        off = r.randrange(0, (size - ln) // 512) * 512
        print("-c 'write -z %d %d'" % (off, ln))
PY
)
	eval qemu-io -f "$fmt" $cmds "$img" > /dev/null
}

# A chain from the spec, bottom first: "raw:SIZE" or
# "qcow2:SIZE:OPTIONS"; the images are L0 (top) .. Ln in DIR; prints the
# top's path.
make_chain() { # DIR SPEC...
	local d=$1 i below= fmt size opts img n
	shift
	mkdir -p "$d"
	n=$#
	i=$n
	for spec in "$@"; do
		i=$((i - 1))
		IFS=: read -r fmt size opts <<< "$spec"
		img=$d/L$i.$fmt
		if [ "$fmt" = raw ]; then
			qemu-img create -q -f raw "$img" "$size"
		elif [ -n "$below" ]; then
			qemu-img create -q -f qcow2 -o "${opts:-compat=1.1}" \
				-b "$(basename "$below")" -F "${below##*.}" "$img" "$size"
		else
			qemu-img create -q -f qcow2 -o "${opts:-compat=1.1}" "$img" "$size"
		fi
		# A compressed cluster or two in a level with 64 KiB clusters.
		if [ "$fmt" = qcow2 ] && [[ "$opts" == *cluster_size=64k* ]]; then
			qemu-io -c "write -c -P 0x6c 128k 64k" -c "write -c -P 0x6d 1M 64k" "$img" > /dev/null
		fi
		scribble "$img" "$fmt" "$((i * 7 + n))" "$(numfmt --from=iec "$size")"
		below=$img
	done
	echo "$d/L0.qcow2"
}

expect_raw() { # TOP RAW
	qemu-img convert -O raw "$1" "$2"
}

chain_read() { # NAME SPEC...
	local name=$1 top dev
	shift
	top=$(make_chain "$dir/$name" "$@")
	expect_raw "$top" "$dir/$name/expect.raw"
	dev=$(attach --read-only "$top") || { echo "attach $name"; return 1; }
	if ! cmp "$dev" "$dir/$name/expect.raw"; then
		echo "$name: device differs from qemu-img convert"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	# Every level is shown, with its format.
	if [ "$("$QCOW2CTL" info --json "$dev" | jq '.backing_chain | length')" != $(($# - 1)) ]; then
		echo "$name: info shows a chain of the wrong depth"
		"$QCOW2CTL" info --json "$dev"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	"$QCOW2CTL" detach "$dev"
}

# What runs where: everything in the 6.12 guest of "make check" and in
# "make check-full"; the debug kernel (KASAN makes it three times slower)
# and 6.1 run a stated slice: the 5-level chain (6.1: the 2-level one)
# read and written, a raw block device below, snapshots (6.1: each by
# name, one by id too; debug: that one), who opens what and the bad chains
# (debug: the kernel's refusals and 64 levels; the tool's refusals are the
# same code on every kernel).
full=0
[ "${QCOW2_KIND:-}" = 6.12 ] || [ -n "${QCOW2_FULL:-}" ] && full=1
chains=five
if [ $full = 1 ]; then
	chains="one two five"
elif ! debug_kernel; then
	chains=two
fi

for c in $chains; do
	case $c in
	one) chain_read one "qcow2:8M:compat=1.1" "qcow2:8M:compat=1.1" ;;
	two) chain_read two "raw:8M" "qcow2:8M:compat=1.1,cluster_size=64k,extended_l2=on" \
		"qcow2:8M:compat=0.10,cluster_size=4k" ;;
	five) chain_read five "raw:6M" "qcow2:7M:compat=0.10,cluster_size=4k" \
		"qcow2:8M:compat=1.1,cluster_size=64k,extended_l2=on" \
		"qcow2:8M:compat=1.1,cluster_size=512" \
		"qcow2:8M:compat=1.1,cluster_size=64k" \
		"qcow2:9M:compat=1.1,cluster_size=128k,extended_l2=on" ;;
	esac || failed=1
done
[ $failed = 0 ] && info "ok: chains ($chains) read as qemu-img convert"

# Writes to the top, from several threads at once into the same clusters
# (copy-on-write from below under one lock), the same bytes into a raw
# mirror of the chain.
write_test() { # NAME
	local name=$1 d=$dir/$1 top=$dir/$1/L0.qcow2 dev sums img
	sums=$(cd "$d" && md5sum L[1-9]*)
	cp "$d/expect.raw" "$d/mirror.raw"
	dev=$(attach "$top") || { echo "attach $name read-write"; return 1; }
	python3 - "$dev" "$d/mirror.raw" <<'PY' || { "$QCOW2CTL" detach "$dev"; return 1; }
import mmap, os, random, sys, threading
dev, mirror = sys.argv[1], sys.argv[2]
size = os.path.getsize(mirror)
r = random.Random(5)
# Partial writes of 512 B to 20 KiB at random places, and 4 KiB blocks of
# a few clusters, one block per thread in turn.
jobs = []
for i in range(60):
    ln = r.choice([512, 2048, 4096, 7680, 20480])
    jobs.append((r.randrange(0, (size - ln) // 512) * 512, ln))
for c in range(6):
    base = r.randrange(0, size // 131072) * 131072
    jobs += [(base + 4096 * k, 4096) for k in range(0, 32, 3)]
r.shuffle(jobs)
data = {}
for off, ln in jobs:
    data[(off, ln)] = bytes(r.randrange(256) for _ in range(16)) * (ln // 16)
# Writers touch disjoint ranges at the same time: drop overlaps, keep order.
taken, todo = [], []
for off, ln in jobs:
    if all(off + ln <= a or a + b <= off for a, b in taken):
        taken.append((off, ln))
        todo.append((off, ln))
fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
def worker(part):
    for off, ln in part:
        buf = mmap.mmap(-1, ln)
        buf.write(data[(off, ln)])
        if os.pwrite(fd, buf, off) != ln:
            raise SystemExit("short write")
threads = [threading.Thread(target=worker, args=(todo[t::4],)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
os.fsync(fd)
os.close(fd)
with open(mirror, "r+b") as m:
    for off, ln in todo:
        m.seek(off)
        m.write(data[(off, ln)])
PY
	if ! cmp "$dev" "$d/mirror.raw"; then
		echo "$name: device differs from the mirror after writes"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	"$QCOW2CTL" detach "$dev" || return 1
	for img in "$d"/L*.qcow2; do
		check_image "$img" || { echo "$name: $img fails qemu-img check"; return 1; }
	done
	[ "$(cd "$d" && md5sum L[1-9]*)" = "$sums" ] ||
		{ echo "$name: a lower level changed"; return 1; }
	qemu-img compare -q "$top" "$d/mirror.raw" ||
		{ echo "$name: qemu-img compare of the top and the mirror differ"; return 1; }
}
for c in $([ $full = 1 ] && echo "$chains" || echo "${chains##* }"); do
	write_test $c || failed=1
done
[ $failed = 0 ] && info "ok: writes to the tops of the chains copy from below"

# A raw level that is a block device (a loop device), shorter than the
# overlay: read through, and partial writes copy from it.
blockdev_test() {
	local d=$dir/bdev loopdev dmdev dev out rc=0
	mkdir -p "$d"
	modprobe -q loop 2> /dev/null
	modprobe -q dm-mod 2> /dev/null
	qemu-img create -q -f raw "$d/base.raw" 6M
	qemu-io -f raw -c "write -P 0x42 0 6M" -c "write -P 0x43 1M 4k" "$d/base.raw" > /dev/null
	loopdev=$(losetup -f --show "$d/base.raw") || return 1
	qemu-img create -q -f qcow2 -b "$loopdev" -F raw "$d/top.qcow2" 8M
	qemu-io -c "write -P 0x44 64k 4k" "$d/top.qcow2" > /dev/null
	qemu-img convert -O raw "$d/top.qcow2" "$d/expect.raw"
	# An image alone cannot choose a block device (a host's disk is one
	# name away): the user gives it.
	if out=$("$QCOW2CTL" attach --show "$d/top.qcow2" 2>&1) ||
	   ! grep -q "is a block device, which an image alone cannot choose" <<< "$out"; then
		echo "bdev: named by the image alone: $out"
		[[ $out == /dev/qcow2* ]] && "$QCOW2CTL" detach "$out"
		rc=1
	fi
	if dev=$(attach --backing-chain="$loopdev" "$d/top.qcow2"); then
		cmp "$dev" "$d/expect.raw" || { echo "bdev: device differs"; rc=1; }
		# Copy-on-write from the block device, and past its end.
		printf 'written over a block device' | dd of="$dev" bs=512 seek=2049 conv=notrunc,fsync status=none
		printf 'written over a block device' | dd of="$d/expect.raw" bs=512 seek=2049 conv=notrunc status=none
		printf 'past its end' | dd of="$dev" bs=512 seek=14000 conv=notrunc,fsync status=none
		printf 'past its end' | dd of="$d/expect.raw" bs=512 seek=14000 conv=notrunc status=none
		cmp "$dev" "$d/expect.raw" || { echo "bdev: device differs after writes"; rc=1; }
		"$QCOW2CTL" detach "$dev" || rc=1
		check_image "$d/top.qcow2" || rc=1
		qemu-img compare -q "$d/top.qcow2" "$d/expect.raw" ||
			{ echo "bdev: qemu-img compare differs"; rc=1; }
	else
		echo "bdev: attach over $loopdev"
		rc=1
	fi
	# Read errors of the level are errors, never zeros: a raw level on a
	# device-mapper device whose second half fails, read across the edge
	# (a short read of the block device) and inside the failing half.
	dmsetup create --noudevsync qcow2-test-bdev <<-EOF || { losetup -d "$loopdev"; return 1; }
	0 6144 linear $loopdev 0
	6144 6144 error
	EOF
	dmdev=/dev/dm-$(dmsetup info -c --noheadings -o minor qcow2-test-bdev | tr -d ' ')
	qemu-img create -q -f qcow2 -u -F raw "$d/err.qcow2" 6M -b "$dmdev"
	if dev=$(attach --read-only --backing-chain="$dmdev" "$d/err.qcow2"); then
		dd if="$dev" of=/dev/null bs=64k count=1 status=none ||
			{ echo "bdev: the good half does not read"; rc=1; }
		for skip in 6100 7000; do
			if dd if="$dev" of=/dev/null bs=512 skip=$skip count=100 iflag=direct status=none 2> /dev/null; then
				echo "bdev: a read of failing sectors from $skip succeeded"
				rc=1
			fi
		done
		"$QCOW2CTL" detach "$dev" || rc=1
	else
		echo "bdev: attach over a device-mapper device"
		rc=1
	fi
	dmsetup remove --noudevsync qcow2-test-bdev
	losetup -d "$loopdev"
	return $rc
}
blockdev_test && info "ok: a raw block device as the base" ||
	{ echo "block device as a raw level failed"; failed=1; }

# First writes at a shorter base's end: the cluster it ends in copies its
# last bytes, clusters wholly past it read zeros around the write (they
# take new clusters without copying), and whole-cluster writes there too.
short_base_test() {
	local d=$dir/short dev rc=0
	mkdir -p "$d"
	qemu-img create -q -f raw "$d/base.raw" $((6 * 1048576 + 4096))
	qemu-io -f raw -c "write -P 0x61 0 $((6 * 1048576 + 4096))" "$d/base.raw" > /dev/null
	qemu-img create -q -f qcow2 -b base.raw -F raw "$d/top.qcow2" 8M
	qemu-img convert -O raw "$d/top.qcow2" "$d/expect.raw"
	dev=$(attach "$d/top.qcow2") || return 1
	head -c 4096 /dev/urandom > "$d/p"
	head -c 131072 /dev/urandom > "$d/w"
	# 6 MiB + 8 KiB: in the cluster the base ends in.
	# 6 MiB + 72 KiB, 6 MiB + 200 KiB: in clusters past its end.
	# 7 MiB: two whole clusters past its end.
	for at in 6152 6216 6344; do
		dd if="$d/p" of="$dev" bs=1k seek=$at oflag=direct status=none || rc=1
		dd if="$d/p" of="$d/expect.raw" bs=1k seek=$at conv=notrunc status=none
	done
	dd if="$d/w" of="$dev" bs=1k seek=7168 oflag=direct status=none || rc=1
	dd if="$d/w" of="$d/expect.raw" bs=1k seek=7168 conv=notrunc status=none
	dd if="$dev" bs=1M iflag=direct status=none | cmp - "$d/expect.raw" ||
		{ echo "short base: device differs"; rc=1; }
	"$QCOW2CTL" detach "$dev" || rc=1
	check_image "$d/top.qcow2" || rc=1
	qemu-img compare -q "$d/top.qcow2" "$d/expect.raw" ||
		{ echo "short base: qemu-img compare differs"; rc=1; }
	return $rc
}
short_base_test && info "ok: first writes at and past a shorter base's end" ||
	{ echo "writes at a shorter base's end failed"; failed=1; }

# qcow2ctl create --backing makes overlays that attach read-write.
create_test() {
	local d=$dir/create dev
	mkdir -p "$d"
	qemu-img create -q -f qcow2 "$d/base.qcow2" 4M
	qemu-io -c "write -P 0x71 0 4M" "$d/base.qcow2" > /dev/null
	"$QCOW2CTL" create --backing=base.qcow2 --backing-format=qcow2 \
		"$d/top.qcow2" 4M > /dev/null || return 1
	qemu-img convert -O raw "$d/base.qcow2" "$d/expect.raw"
	dev=$(attach "$d/top.qcow2") || return 1
	printf 'over a base' | dd of="$dev" bs=512 seek=3 conv=notrunc,fsync status=none
	printf 'over a base' | dd of="$d/expect.raw" bs=512 seek=3 conv=notrunc status=none
	if ! cmp "$dev" "$d/expect.raw"; then
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$d/top.qcow2" && qemu-img compare -q "$d/top.qcow2" "$d/expect.raw"
}
create_test && info "ok: qcow2ctl create --backing images attach read-write" ||
	{ echo "an image qcow2ctl created with --backing"; failed=1; }

# fio's verified writes to an overlay over data; the bytes fio did not
# write still read the base's.
fio_test() {
	local d=$dir/fio dev
	mkdir -p "$d"
	qemu-img create -q -f raw "$d/base.raw" 16M
	qemu-io -f raw -c "write -P 0x5a 0 16M" "$d/base.raw" > /dev/null
	qemu-img create -q -f qcow2 -b base.raw -F raw "$d/top.qcow2" 16M
	dev=$(attach "$d/top.qcow2") || return 1
	fio --name=cow --filename="$dev" --rw=randwrite --bs=4k --iodepth=16 \
		--ioengine=libaio --direct=1 --size=8M --io_size=2M \
		--verify=crc32c --verify_fatal=1 --randseed=7 \
		--output="$d/fio.out" > /dev/null 2>&1 ||
		{ cat "$d/fio.out"; "$QCOW2CTL" detach "$dev"; return 1; }
	if ! cmp -i 8M "$dev" "$d/base.raw"; then
		echo "fio: bytes past its range differ from the base"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$d/top.qcow2" || return 1
}
if [ $full = 1 ]; then
	fio_test && info "ok: fio verify over an overlay" ||
		{ echo "fio over an overlay failed"; failed=1; }
fi

# ext4 in a base, changed through an overlay, committed into a copy of the
# base by qemu-img: the copy then holds the changes.
fs_test() {
	local d=$dir/fs dev mnt=$dir/mnt
	mkdir -p "$d" "$mnt"
	qemu-img create -q -f qcow2 "$d/base.qcow2" 64M
	dev=$(attach "$d/base.qcow2") || return 1
	mkfs.ext4 -q -F "$dev" || return 1
	mount "$dev" "$mnt" || return 1
	cp -a /usr/include/linux "$mnt/tree"
	umount "$mnt"
	"$QCOW2CTL" detach "$dev" || return 1
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$d/over.qcow2"
	dev=$(attach "$d/over.qcow2") || return 1
	mount "$dev" "$mnt" || return 1
	diff -r /usr/include/linux "$mnt/tree" > /dev/null ||
		{ umount "$mnt"; "$QCOW2CTL" detach "$dev"; echo "fs: tree differs through the overlay"; return 1; }
	rm -r "$mnt/tree/netfilter"
	echo "changed through the overlay" > "$mnt/tree/new-file"
	cp /usr/include/linux/fs.h "$mnt/tree/fs-copy.h"
	umount "$mnt"
	"$QCOW2CTL" detach "$dev" || return 1
	check_image "$d/over.qcow2" || return 1
	cp "$d/base.qcow2" "$d/copy.qcow2"
	qemu-img rebase -u -b copy.qcow2 -F qcow2 "$d/over.qcow2"
	qemu-img commit -q "$d/over.qcow2" || return 1
	check_image "$d/copy.qcow2" || return 1
	dev=$(attach --read-only "$d/copy.qcow2") || return 1
	mount -o ro "$dev" "$mnt" || return 1
	if [ -e "$mnt/tree/netfilter" ] ||
	   [ "$(cat "$mnt/tree/new-file")" != "changed through the overlay" ] ||
	   ! cmp -s /usr/include/linux/fs.h "$mnt/tree/fs-copy.h"; then
		echo "fs: the committed base lacks the changes"
		umount "$mnt"
		"$QCOW2CTL" detach "$dev"
		return 1
	fi
	umount "$mnt"
	"$QCOW2CTL" detach "$dev"
}
if [ $full = 1 ]; then
	fs_test && info "ok: ext4 through an overlay, committed by qemu-img" ||
		{ echo "ext4 through an overlay failed"; failed=1; }
else
	info "chain one, fio and ext4 through an overlay: in check-full and the 6.12 guest"
fi

# Snapshots: each one shown as qemu-img shows it, by id and by name,
# read-only, and the image's check unchanged.
snap_test() {
	local d=$dir/snap img=$dir/snap/s.qcow2 dev before id name n=0
	mkdir -p "$d"
	qemu-img create -q -f qcow2 "$d/base.qcow2" 8M
	qemu-io -c "write -P 9 0 8M" "$d/base.qcow2" > /dev/null
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$img" 8M
	qemu-io -c "write -P 1 0 1M" "$img" > /dev/null
	qemu-img snapshot -c first "$img"
	qemu-io -c "write -P 2 512k 1M" -c "write -z 3M 64k" "$img" > /dev/null
	qemu-img snapshot -c second "$img"
	qemu-img resize -q "$img" 12M
	qemu-io -c "write -P 3 10M 1M" -c "write -P 4 0 4k" "$img" > /dev/null
	qemu-img snapshot -c third "$img"
	qemu-io -c "write -P 5 0 12M" "$img" > /dev/null
	before=$(qemu-img check "$img" 2>&1)
	while read -r id name; do
		n=$((n + 1))
		qemu-img convert -l "snapshot.name=$name" -O raw "$img" "$d/$name.raw"
		# 6.1 and debug: each by name, one by id too; debug: that one.
		sels="$name $id"
		[ $full = 1 ] || [ $n = 2 ] || sels=$name
		debug_kernel && [ $n != 2 ] && continue
		for sel in $sels; do
			dev=$(attach --snapshot="$sel" "$img") ||
				{ echo "snapshot $sel: attach"; return 1; }
			if ! cmp "$dev" "$d/$name.raw"; then
				echo "snapshot $sel differs from qemu-img convert -l"
				"$QCOW2CTL" detach "$dev"
				return 1
			fi
			if dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct 2> /dev/null ||
			   [ "$(blockdev --getro "$dev")" != 1 ] ||
			   [ "$(cat "/sys/block/${dev#/dev/}/qcow2/snapshot")" != "$id" ]; then
				echo "snapshot $sel: writable, or sysfs does not name it"
				"$QCOW2CTL" detach "$dev"
				return 1
			fi
			"$QCOW2CTL" detach "$dev" || return 1
		done
	done < <(qemu-img info --output=json "$img" | jq -r '.snapshots[] | "\(.id) \(.name)"')
	[ $n = 3 ] || { echo "snapshots: $n of 3 listed"; return 1; }
	[ "$(qemu-img check "$img" 2>&1)" = "$before" ] ||
		{ echo "snapshots: qemu-img check changed"; return 1; }
	if "$QCOW2CTL" attach --snapshot=none "$img" 2> "$d/err"; then
		echo "snapshots: a missing snapshot attached"
		return 1
	fi
}
snap_test || { echo "snapshot views failed"; failed=1; }
[ $failed = 0 ] && info "ok: snapshots shown read-only, as qemu-img convert -l"

# Who opens what: backing names the tool opens with the caller's rights.
security_test() {
	local d=$dir/sec out rc
	mkdir -p "$d"
	chmod 755 "$dir"
	chmod 777 "$d"
	qemu-img create -q -f qcow2 -u -b /etc/shadow -F raw "$d/shadow.qcow2" 1M
	qemu-img create -q -f qcow2 -u -b ../../../../x -F raw "$d/up.qcow2" 1M
	qemu-img create -q -f qcow2 -u -b "nbd://127.0.0.1:1/x" -F raw "$d/nbd.qcow2" 1M
	chown nobody: "$d"/*.qcow2
	chmod 0666 $CONTROL
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$QCOW2CTL" attach --show "$d/shadow.qcow2" 2>&1)
	rc=$?
	if [ $rc = 0 ] || ! grep -q "Permission denied" <<< "$out" ||
	   ! grep -q /etc/shadow <<< "$out"; then
		echo "a non-root user got /etc/shadow opened as a backing file ($rc): $out"
		[ $rc = 0 ] && "$QCOW2CTL" detach "$out"
		chmod 0600 $CONTROL
		return 1
	fi
	# Asked directly, without the chain, the kernel opens nothing.
	out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
		python3 "$CHAIN" "$d/shadow.qcow2" 2>&1)
	chmod 0600 $CONTROL
	[ "$out" = "errno EINVAL" ] ||
		{ echo "kernel asked without a chain: $out"; return 1; }
	for img in up nbd; do
		if out=$("$QCOW2CTL" attach --show "$d/$img.qcow2" 2>&1); then
			"$QCOW2CTL" detach "$out"
			echo "$img.qcow2 attached with an unresolvable backing name"
			return 1
		fi
		grep -q "$img.qcow2" <<< "$out" ||
			{ echo "error does not name the image: $out"; return 1; }
	done
	# Root may read /etc/shadow: the tool opens it, the kernel takes it.
	out=$("$QCOW2CTL" attach --show "$d/shadow.qcow2") ||
		{ echo "root cannot attach over a raw file it can read"; return 1; }
	"$QCOW2CTL" detach "$out"
}
security_test && info "ok: backing files opened with the caller's rights only" ||
	{ echo "security checks failed"; failed=1; }

# One file reached two ways is one file: through overlayfs and by its real
# path, a base under a device's chain cannot also be attached read-write,
# nor can an image be attached over a base attached read-write.
identity_test() {
	local d=$dir/ovl out rc=0 dev
	mkdir -p "$d/lower" "$d/upper" "$d/work" "$d/merged"
	qemu-img create -q -f qcow2 "$d/lower/base.qcow2" 4M
	qemu-io -c "write -P 0x33 0 4M" "$d/lower/base.qcow2" > /dev/null
	qemu-img create -q -f qcow2 -u -b "$d/merged/base.qcow2" -F qcow2 "$d/top.qcow2" 4M
	qemu-img create -q -f qcow2 -u -b "$d/none.raw" -F raw "$d/rawtop.qcow2" 4M
	modprobe -q overlay 2> /dev/null
	if ! mount -t overlay overlay -o "lowerdir=$d/lower,upperdir=$d/upper,workdir=$d/work" \
	     "$d/merged" 2> /dev/null; then
		if debug_kernel; then
			info "identity: no overlayfs in this kernel, skipped"
			return 0
		fi
		echo "identity: cannot mount overlayfs"
		return 1
	fi
	# The refusals must come from the identity check (its log line), not
	# from the image locks, which overlayfs keeps apart from the real file.
	if dev=$(attach --read-only "$d/top.qcow2"); then
		dmesg_mark
		if out=$("$QCOW2CTL" attach --show "$d/lower/base.qcow2" 2>&1) ||
		   ! grep -q "Device or resource busy" <<< "$out" ||
		   ! dmesg_since | grep -q "attach base.qcow2: the image is a backing file as (or under) /dev/qcow2"; then
			echo "identity: a level through overlayfs attached read-write by its real path: $out"
			[[ $out == /dev/qcow2* ]] && "$QCOW2CTL" detach "$out"
			rc=1
		fi
		"$QCOW2CTL" detach "$dev" || rc=1
	else
		echo "identity: attach over a base through overlayfs"
		rc=1
	fi
	if dev=$(attach "$d/lower/base.qcow2"); then
		dmesg_mark
		if out=$("$QCOW2CTL" attach --show --read-only "$d/top.qcow2" 2>&1) ||
		   ! grep -q "Device or resource busy" <<< "$out" ||
		   ! dmesg_since | grep -q "attach top.qcow2: a backing file of the image is attached read-write as (or under) /dev/qcow2"; then
			echo "identity: attached over a base attached read-write by its real path: $out"
			[[ $out == /dev/qcow2* ]] && "$QCOW2CTL" detach "$out"
			rc=1
		fi
		# A device attached read-write as a raw level of another.
		dmesg_mark
		out=$(python3 "$CHAIN" --ro "$d/rawtop.qcow2" raw:"$dev")
		if [ "$out" != "errno EBUSY" ] ||
		   ! dmesg_since | grep -q "attach rawtop.qcow2: a backing file of the image is attached read-write as (or under) /dev/qcow2"; then
			echo "identity: /dev/qcow2 attached read-write taken as a level: $out"
			[[ $out == /dev/qcow2* ]] && "$QCOW2CTL" detach "$out"
			rc=1
		fi
		"$QCOW2CTL" detach "$dev" || rc=1
	else
		echo "identity: attach of the base by its real path"
		rc=1
	fi
	umount "$d/merged" || rc=1
	return $rc
}
identity_test && info "ok: one file through overlayfs and by its path is one file" ||
	{ echo "identity checks failed"; failed=1; }

# Bad chains: clear errors from the tool, errnos and log lines from the
# kernel asked directly.
refuse() { # WHAT EXPECTED-ERRNO ARGS...
	local what=$1 want=$2 out
	shift 2
	dmesg_mark
	out=$(python3 "$CHAIN" "$@")
	if [ "$out" != "errno $want" ]; then
		echo "kernel, $what: $out, not errno $want"
		case $out in /dev/*) "$QCOW2CTL" detach "$out" ;; esac
		return 1
	fi
	dmesg_since | grep -q "qcow2: attach .*: .*" ||
		{ echo "kernel, $what: no log line"; return 1; }
}
bad_chains() {
	local d=$dir/bad i out
	mkdir -p "$d"
	qemu-img create -q -f qcow2 "$d/a.qcow2" 1M
	qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 "$d/b.qcow2"
	qemu-img rebase -q -u -b b.qcow2 -F qcow2 "$d/a.qcow2"
	if ! debug_kernel &&
	   { out=$("$QCOW2CTL" attach --show "$d/b.qcow2" 2>&1) ||
	     ! grep -qi loop <<< "$out"; }; then
		echo "tool, loop: $out"
		return 1
	fi
	refuse loop ELOOP --ro "$d/b.qcow2" qcow2:"$d/a.qcow2" qcow2:"$d/b.qcow2" || return 1
	qemu-img create -q -f raw "$d/r.raw" 1M
	qemu-img create -q -f qcow2 -u -b r.raw -F qcow2 "$d/e.qcow2" 1M
	# The tool's refusals (the host's unit tests hold more of them).
	if ! debug_kernel; then
		qemu-img create -q -f qcow2 -u -b gone.qcow2 -F qcow2 "$d/c.qcow2" 1M
		if out=$("$QCOW2CTL" attach --show "$d/c.qcow2" 2>&1) ||
		   ! grep -q "No such file" <<< "$out"; then
			echo "tool, missing file: $out"
			return 1
		fi
		if out=$("$QCOW2CTL" attach --show "$d/e.qcow2" 2>&1) ||
		   ! grep -q "not a qcow2 image" <<< "$out"; then
			echo "tool, raw named as qcow2: $out"
			return 1
		fi
	fi
	refuse "raw given as qcow2" EINVAL --ro "$d/e.qcow2" qcow2:"$d/r.raw" || return 1
	refuse "format unlike the image's" EINVAL --ro "$d/e.qcow2" raw:"$d/r.raw" || return 1
	refuse "chain too short" EINVAL --ro "$d/b.qcow2" || return 1
	refuse "unknown format" EINVAL --ro "$d/e.qcow2" 7:"$d/r.raw" || return 1
	refuse "O_PATH descriptor" EBADF --opath --ro "$d/e.qcow2" qcow2:"$d/a.qcow2" || return 1
	refuse "too deep" E2BIG --ro --count=65 "$d/e.qcow2" qcow2:"$d/a.qcow2" || return 1
	# A regular file without kiocbs (its read would call a NULL method).
	qemu-img create -q -f qcow2 -u -b r.raw -F raw "$d/m.qcow2" 1M
	refuse "/proc/PID/mem as a level" EINVAL --ro "$d/m.qcow2" raw:/proc/self/mem || return 1
	dmesg_since | grep -q "backing file 1 (mem) is not a regular file or a block device that takes kiocbs" ||
		{ echo "kernel, /proc/PID/mem: refused for another reason"; return 1; }
	refuse "/proc/PID/mem as the image" EINVAL --ro /proc/self/mem || return 1
	# A file that shows kernel state (procfs), given directly.
	refuse "a procfs file as a level" EINVAL --ro "$d/m.qcow2" raw:/proc/version || return 1
	dmesg_since | grep -q "backing file 1 (version) shows kernel state (proc)" ||
		{ echo "kernel, procfs level: refused for another reason"; return 1; }
	refuse "a procfs file as the image" EINVAL --ro /proc/version || return 1
	dmesg_since | grep -q "attach version: the file shows kernel state (proc)" ||
		{ echo "kernel, procfs image: refused for another reason"; return 1; }
	# The reopen skips may_open(): an append-only image stays so.
	qemu-img create -q -f qcow2 "$d/ap.qcow2" 1M
	if chattr +a "$d/ap.qcow2"; then
		dmesg_mark
		out=$(python3 "$CHAIN" --append "$d/ap.qcow2")
		chattr -a "$d/ap.qcow2"
		if [[ $out == /dev/qcow2* ]]; then
			"$QCOW2CTL" detach "$out"
			echo "kernel, append-only image attached read-write: $out"
			return 1
		fi
		[ "$out" = "errno EPERM" ] ||
			{ echo "kernel, append-only image: $out, not EPERM"; return 1; }
		dmesg_since | grep -q "attach ap.qcow2: the file is append-only" ||
			{ echo "kernel, append-only image: refused for another reason"; return 1; }
	else
		echo "chattr +a failed on the scratch file system"
		return 1
	fi
	# 65 levels: the tool says the limit; 64 attach. Each level is a
	# copy of one image, its backing name patched (qemu-img would take
	# most of a minute under TCG to make them).
	qemu-img create -q -f raw "$d/d00" 1M
	qemu-img create -q -f qcow2 -b d00 -F raw "$d/d01"
	qemu-img create -q -f qcow2 -u -b d00 -F qcow2 "$d/tmpl" 1M
	python3 - "$d" <<'PY'
import struct, sys
d = sys.argv[1]
t = bytearray(open(d + "/tmpl", "rb").read())
off, n = struct.unpack_from(">QI", t, 8)
assert t[off:off + n] == b"d00"
for i in range(2, 66):
    t[off:off + n] = b"d%02d" % (i - 1)
    open(d + "/d%02d" % i, "wb").write(t)
PY
	if out=$("$QCOW2CTL" attach --show "$d/d65" 2>&1) || ! grep -q 64 <<< "$out"; then
		echo "tool, 65 levels: $out"
		return 1
	fi
	out=$("$QCOW2CTL" attach --show --read-only "$d/d64") ||
		{ echo "64 levels do not attach"; return 1; }
	[ "$("$QCOW2CTL" info --json "$out" | jq '.backing_chain | length')" = 64 ] ||
		{ "$QCOW2CTL" detach "$out"; echo "64 levels not all shown"; return 1; }
	cmp -n 1M "$out" /dev/zero ||
		{ "$QCOW2CTL" detach "$out"; echo "64 levels do not read zeros"; return 1; }
	"$QCOW2CTL" detach "$out"
}
bad_chains && info "ok: loops, missing files, wrong formats, too deep: refused" ||
	{ echo "bad chains"; failed=1; }

exit $failed
