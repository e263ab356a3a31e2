#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# qcow2ctl create as a user meets it: bad requests exit non-zero with a
# message saying what to change and leave no file behind; an existing file
# is kept unless --force; out of space and interruption leave nothing that
# passes for an image.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
small=
scratch_cleanup_hook() {
	if [ -n "$small" ]; then
		umount "$small"
	fi
}
cd "$dir" || fail "cd $dir"

# refuse EXIT-CODE MESSAGE-REGEX ARGS...: qcow2ctl create ARGS fails with
# EXIT-CODE, says MESSAGE-REGEX, and img.qcow2 does not exist afterwards.
refuse() {
	local code=$1 msg=$2 out rc
	shift 2
	out=$("$QCOW2CTL" create "$@" 2>&1)
	rc=$?
	[ "$rc" = "$code" ] || fail "create $*: exit $rc, expected $code ($out)"
	grep -qE -- "$msg" <<< "$out" || fail "create $*: message '$out' lacks '$msg'"
	[ ! -e img.qcow2 ] || fail "create $*: left img.qcow2 behind"
}

refuse 2 "use off, metadata, falloc or full" --prealloc=sparse img.qcow2 1G
refuse 2 "power of two from 512 to 2M" --cluster-size=1000 img.qcow2 1G
refuse 2 "power of two from 512 to 2M" --cluster-size=4M img.qcow2 1G
refuse 2 "use 0.10 or 1.1" --compat=1.0 img.qcow2 1G
refuse 2 "use 1, 2, 4, 8, 16, 32 or 64" --refcount-bits=3 img.qcow2 1G
refuse 2 "invalid size" img.qcow2 1Q
refuse 2 "invalid size" img.qcow2 1.5
refuse 2 "Usage" img.qcow2
refuse 2 "Usage" --bogus img.qcow2 1G
refuse 1 "not a multiple of 512" img.qcow2 1000
refuse 1 "use a larger cluster_size" --cluster-size=512 img.qcow2 1T
refuse 1 "needs version 3" --compat=0.10 --refcount-bits=1 img.qcow2 1G
refuse 1 "lazy_refcounts needs version 3" --compat=0.10 --lazy-refcounts img.qcow2 1G
refuse 1 "extended_l2 needs version 3" --compat=0.10 --extended-l2 img.qcow2 1G
refuse 1 "at least 16384 bytes" --extended-l2 --cluster-size=4k img.qcow2 1G
refuse 1 "needs extended_l2" --prealloc=metadata --backing=base.qcow2 img.qcow2 1G
refuse 1 "without a backing file" --backing-format=qcow2 img.qcow2 1G

# Sizes as qemu-img reads them.
for s in "1k 1024" "1.5G 1610612736" "2m 2097152" "0x200 512" "1T 1099511627776" "512b 512"; do
	"$QCOW2CTL" create img.qcow2 "${s% *}" > /dev/null || fail "create size ${s% *}"
	[ "$(qemu-img info --output=json img.qcow2 | jq '."virtual-size"')" = "${s#* }" ] ||
		fail "size ${s% *} is not ${s#* } bytes"
	rm img.qcow2
done

# An existing file is kept without --force, replaced with it.
echo precious > img.qcow2
out=$("$QCOW2CTL" create img.qcow2 1G 2>&1) && fail "overwrote an existing file"
grep -q -- "--force" <<< "$out" || fail "no hint at --force: $out"
[ "$(cat img.qcow2)" = precious ] || fail "existing file changed"
"$QCOW2CTL" create --force img.qcow2 1G > /dev/null || fail "--force failed"
qemu-img check -q img.qcow2 || fail "image made with --force is bad"
rm img.qcow2

# What it prints.
out=$("$QCOW2CTL" create --prealloc=metadata img.qcow2 1G) || fail "create failed"
for w in "size 1 GiB (1073741824 bytes)" "cluster size 65536" "prealloc metadata" "file length 1 GiB (1074135040 bytes)"; do
	grep -q "$w" <<< "$out" || fail "output lacks '$w': $out"
done
rm img.qcow2

# Every option is in the help.
help=$("$QCOW2CTL" create --help) || fail "create --help failed"
for o in --prealloc --cluster-size --compat --refcount-bits --lazy-refcounts \
	 --extended-l2 --backing --backing-format --force; do
	grep -q -- "$o" <<< "$help" || fail "create --help lacks $o"
done
"$QCOW2CTL" --help | grep -q "create" || fail "qcow2ctl --help lacks create"

# Out of space is an error and leaves nothing behind.
small=$dir/small
mkdir "$small"
mount -t tmpfs -o size=8m tmpfs "$small" || fail "tmpfs"
for job in "falloc 1G" "full 1G" "metadata 100G"; do
	mode=${job% *}
	# 100 GiB with 4 KiB clusters has 250 MiB of metadata
	out=$("$QCOW2CTL" create --prealloc=$mode --cluster-size=4k "$small/img.qcow2" ${job#* } 2>&1) &&
		fail "$mode: ${job#* } on 8 MiB succeeded"
	grep -q "No space left on device" <<< "$out" || fail "$mode: message: $out"
	[ ! -e "$small/img.qcow2" ] || fail "$mode: file left behind on ENOSPC"
done

# Interrupted, a long create stops promptly and removes its file. A 4 TiB
# image with 4 KiB clusters has 10 GiB of metadata to write.
for sig in INT TERM; do
	"$QCOW2CTL" create --prealloc=metadata --cluster-size=4k img.qcow2 4T > out 2>&1 &
	pid=$!
	sleep 1
	kill -$sig $pid
	start=$(date +%s%N)
	wait $pid
	rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$rc" -gt 128 ] || fail "SIG$sig: exit $rc: $(cat out)"
	grep -q interrupted out || fail "SIG$sig: message: $(cat out)"
	[ "$ms" -lt 5000 ] || fail "SIG$sig: took $ms ms to stop"
	[ ! -e img.qcow2 ] || fail "SIG$sig: file left behind"
done

# SIGKILL leaves the file (no one is left to remove it), but never a
# complete-looking image: the header is written last.
"$QCOW2CTL" create --prealloc=metadata --cluster-size=4k img.qcow2 4T > /dev/null 2>&1 &
pid=$!
sleep 1
kill -KILL $pid
wait $pid 2>/dev/null
[ -e img.qcow2 ] || fail "SIGKILL: no file (was the create already done?)"
[ "$(head -c 4 img.qcow2 | od -An -tx1 | tr -d ' ')" != 514649fb ] ||
	fail "SIGKILL: the partial image has a qcow2 header"
qemu-img check -f qcow2 img.qcow2 > /dev/null 2>&1 && fail "SIGKILL: partial image passes qemu-img check"
exit $KSFT_PASS
