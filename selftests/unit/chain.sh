#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side test of qcow2ctl's backing chains and snapshot lists
# (userspace/chain.c and image.c), printing TAP:
#  - info IMAGE on chains qemu-img makes (1, 2, 5, 64 and 65 levels, a raw
#    base, relative names), held against qemu-img info --backing-chain,
#    which resolves the same names; every refusal: a loop, a missing or
#    unreadable file, a level named qcow2 that is raw, no backing format,
#    a format mismatch, an unsupported format, a protocol name, a level on
#    procfs, a block device the image alone names; and
#    --backing-chain for images that moved;
#  - snapshot lists against qemu-img info --output=json, and damaged tables;
#  - attach and info DEVICE with fake_control.so standing in for the control
#    device: which files the tool hands the module, opened how, with which
#    formats and flags, and what it refuses before the module sees anything.
#
# Runs the sanitized build, selftests/unit/qcow2ctl (make unit-build).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
Q=${QCOW2CTL:-$here/qcow2ctl}
FAKE=$here/fake_control.so
. "$here/../image_checks.sh"
# fake_control.so comes before the sanitizer runtime in the link order.
export ASAN_OPTIONS=verify_asan_link_order=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Readable by nobody, for the permission case.
chmod 755 "$tmp"
d=$tmp/img
mkdir "$d"
failed=0
. "$here/tap.sh"

# mk IMAGE [BACKING FORMAT]: a 1 MiB qcow2 image naming BACKING as it is
# given (-u: qemu-img does not open it, so broken chains can be made).
mk() {
	if [ $# = 1 ]; then
		qemu-img create -q -f qcow2 "$1" 1M
	else
		qemu-img create -q -f qcow2 -u -b "$2" -F "$3" "$1" 1M
	fi || { echo "Bail out! qemu-img create $*"; exit 1; }
}

levels() { grep '^backing file \[' <<< "$out"; }

# expect_chain NAME EXPECTED INFO-ARGS...: info succeeds and prints exactly
# the "backing file [N]" lines EXPECTED.
expect_chain() {
	local name=$1 want=$2 why=
	shift 2
	run info "$@"
	if [ "$rc" != 0 ]; then
		why="exit status $rc: $(oneline "$out")"
	elif [ "$(levels)" != "$want" ]; then
		why="got '$(oneline "$(levels)")', expected '$(oneline "$want")'"
	fi
	check "$name" "$why"
}

# same_as_qemu NAME IMAGE: the chain info --json resolves is the one
# qemu-img info --backing-chain opens, file names and formats alike.
same_as_qemu() {
	local name=$1 img=$2 ours theirs
	ours=$("$Q" info --json "$img" | jq -c '[."backing-chain"[] | [.filename, .format]]')
	theirs=$(qemu-img info --backing-chain --output=json "$img" |
		 jq -c '.[1:] | [.[] | [.filename, .format]]')
	if [ -z "$ours" ] || [ "$ours" != "$theirs" ]; then
		check "$name" "qcow2ctl '$ours', qemu-img '$theirs'"
	else
		check "$name" ""
	fi
}

# same_keys NAME IMAGE: qemu-img's backing keys, as qemu-img has them.
same_keys() {
	local keys='[."backing-filename", ."backing-filename-format", ."full-backing-filename"]'
	local ours theirs
	ours=$("$Q" info --json "$2" | jq -c "$keys")
	theirs=$(qemu-img info --output=json "$2" | jq -c "$keys")
	[ -n "$ours" ] && [ "$ours" = "$theirs" ]
	check "$1" "$([ $? = 0 ] || echo "qcow2ctl '$ours', qemu-img '$theirs'")"
}

# Chains of 1, 2 and 5 qcow2 levels, and a raw base.
mk "$d/l5.qcow2"
for i in 4 3 2 1 0; do
	mk "$d/l$i.qcow2" "l$((i + 1)).qcow2" qcow2
done
expect_chain "one level" "backing file [1]: $d/l5.qcow2 (format qcow2)" "$d/l4.qcow2"
expect_chain "two levels" "backing file [1]: $d/l4.qcow2 (format qcow2)
backing file [2]: $d/l5.qcow2 (format qcow2)" "$d/l3.qcow2"
want=
for i in 1 2 3 4 5; do
	want+="backing file [$i]: $d/l$i.qcow2 (format qcow2)"$'\n'
done
expect_chain "five levels" "${want%$'\n'}" "$d/l0.qcow2"
same_as_qemu "five levels: the files qemu-img opens" "$d/l0.qcow2"
same_keys "five levels: qemu-img's backing keys" "$d/l0.qcow2"
expect_chain "no backing file: no levels" "" "$d/l5.qcow2"

truncate -s 1M "$d/base.raw"
mk "$d/onraw.qcow2" base.raw raw
mk "$d/onraw2.qcow2" onraw.qcow2 qcow2
expect_chain "raw base" "backing file [1]: $d/onraw.qcow2 (format qcow2)
backing file [2]: $d/base.raw (format raw)" "$d/onraw2.qcow2"
same_as_qemu "raw base: the files qemu-img opens" "$d/onraw2.qcow2"

# Relative names are relative to the directory of the image that names
# them, never to the working directory: decoys there would be taken by a
# resolver that got it wrong (they are raw files, not qcow2).
mkdir -p "$d/rel/a" "$d/rel/b"
mk "$d/rel/b/base.qcow2"
mk "$d/rel/b/mid.qcow2" base.qcow2 qcow2
mk "$d/rel/a/top.qcow2" ../b/mid.qcow2 qcow2
truncate -s 1M "$d/rel/a/base.qcow2" "$d/mid.qcow2" "$tmp/base.qcow2"
mkdir -p "$tmp/b" && truncate -s 1M "$tmp/b/mid.qcow2"
(
	cd "$d/rel/a" || exit 1
	expect_chain "relative names, run in the image's directory" \
		"backing file [1]: ../b/mid.qcow2 (format qcow2)
backing file [2]: ../b/base.qcow2 (format qcow2)" top.qcow2
	same_as_qemu "relative names, run in the image's directory: as qemu-img" top.qcow2
	same_keys "relative names: qemu-img's backing keys" top.qcow2
	exit $failed
) || failed=1
(
	cd "$tmp" || exit 1
	expect_chain "relative names, run elsewhere" \
		"backing file [1]: img/rel/a/../b/mid.qcow2 (format qcow2)
backing file [2]: img/rel/a/../b/base.qcow2 (format qcow2)" img/rel/a/top.qcow2
	same_as_qemu "relative names, run elsewhere: as qemu-img" img/rel/a/top.qcow2
	exit $failed
) || failed=1
mk "$d/file.qcow2" "file:$d/l5.qcow2" qcow2
expect_chain "file: prefix of an absolute name stripped" \
	"backing file [1]: $d/l5.qcow2 (format qcow2)" "$d/file.qcow2"
# QEMU opens a relative file: name from its working directory: refused.
mk "$d/filerel.qcow2" file:l5.qcow2 qcow2
expect_chain "relative file: name refused" \
	"backing file [1]: file:l5.qcow2 (unresolved: backing file name 'file:l5.qcow2' of $d/filerel.qcow2 is relative to the working directory of whoever opens it: give the file with --backing-chain)" \
	"$d/filerel.qcow2"

# Refusals: info still succeeds and says which level and why.
mk "$d/A.qcow2" B.qcow2 qcow2
mk "$d/B.qcow2" A.qcow2 qcow2
expect_chain "loop A -> B -> A" "backing file [1]: $d/B.qcow2 (format qcow2)
backing file [2]: A.qcow2 (unresolved: backing chain loops: $d/A.qcow2 appears twice)" "$d/A.qcow2"
mk "$d/T.qcow2" X.qcow2 qcow2
mk "$d/X.qcow2" Y.qcow2 qcow2
mk "$d/Y.qcow2" X.qcow2 qcow2
expect_chain "loop below the image: T -> X -> Y -> X" "backing file [1]: $d/X.qcow2 (format qcow2)
backing file [2]: $d/Y.qcow2 (format qcow2)
backing file [3]: X.qcow2 (unresolved: backing chain loops: $d/X.qcow2 appears twice)" "$d/T.qcow2"
mk "$d/C.qcow2"
qemu-img rebase -q -u -b C.qcow2 -F qcow2 "$d/C.qcow2"
expect_chain "loop: an image that names itself" \
	"backing file [1]: C.qcow2 (unresolved: backing chain loops: $d/C.qcow2 appears twice)" "$d/C.qcow2"
ln "$d/l5.qcow2" "$d/hard.qcow2"
qemu-img rebase -q -u -b hard.qcow2 -F qcow2 "$d/l5.qcow2"
expect_chain "loop through a hard link" "backing file [1]: hard.qcow2 (unresolved: backing chain loops: $d/hard.qcow2 appears twice)" \
	"$d/l5.qcow2"
qemu-img rebase -q -u -b "" "$d/l5.qcow2"
run info --json "$d/A.qcow2"
jq -e '."backing-chain-error" | test("loops")' <<< "$out" > /dev/null
check "loop: info --json has backing-chain-error" "$([ $? = 0 ] || echo "$out")"

mk "$d/missing.qcow2" gone.qcow2 qcow2
expect_chain "missing file" \
	"backing file [1]: gone.qcow2 (unresolved: cannot open backing file $d/gone.qcow2 (named by $d/missing.qcow2): No such file or directory)" \
	"$d/missing.qcow2"
mk "$d/named-qcow2.qcow2" base.raw qcow2
expect_chain "a level named qcow2 that is raw" \
	"backing file [1]: base.raw (unresolved: $d/base.raw is named as qcow2 by $d/named-qcow2.qcow2 but is not a qcow2 image: not a qcow2 image (bad magic 0x00000000))" \
	"$d/named-qcow2.qcow2"
mk "$d/vmdk.qcow2" x.vmdk vmdk
expect_chain "unsupported backing format" \
	"backing file [1]: x.vmdk (unresolved: backing format 'vmdk' of $d/vmdk.qcow2 is not supported (qcow2 and raw are))" \
	"$d/vmdk.qcow2"
mk "$d/dir.qcow2" rel raw
expect_chain "a directory as a raw level" \
	"backing file [1]: rel (unresolved: backing file $d/rel (named by $d/dir.qcow2) is not a regular file or a block device)" \
	"$d/dir.qcow2"
mkfifo "$d/fifo"
mk "$d/fifo.qcow2" fifo raw
expect_chain "a FIFO as a raw level (no hang)" \
	"backing file [1]: fifo (unresolved: backing file $d/fifo (named by $d/fifo.qcow2) is not a regular file or a block device)" \
	"$d/fifo.qcow2"

for name in nbd:localhost:10809 'json:{"file.filename":"/etc/shadow"}' nbd+unix:///x?socket=/s; do
	mk "$d/proto.qcow2" "$name" raw
	expect_chain "protocol name $name refused" \
		"backing file [1]: $name (unresolved: backing file name '$name' of $d/proto.qcow2 has a protocol prefix: only local files can be backing files (write a file name with a ':' as ./NAME or file:/ABSOLUTE/PATH))" \
		"$d/proto.qcow2"
	same_keys "protocol name $name: qemu-img's backing keys" "$d/proto.qcow2"
done
truncate -s 1M "$d/a:b.raw"
mk "$d/colon.qcow2" ./a:b.raw raw
expect_chain "./a:b is a file, not a protocol" \
	"backing file [1]: $d/./a:b.raw (format raw)" "$d/colon.qcow2"

# No backing format: qemu-img cannot make such an image any more; mkimage
# writes one with the shared format code.
"$here/mkimage" "$d/nofmt.qcow2" 1048576 65536 3 16 off backing=l5.qcow2 > /dev/null ||
	{ echo "Bail out! mkimage"; exit 1; }
mk "$d/over-nofmt.qcow2" nofmt.qcow2 qcow2
expect_chain "no backing format, no --backing-format" \
	"backing file [1]: l5.qcow2 (unresolved: $d/nofmt.qcow2 names no format for its backing file 'l5.qcow2': pass --backing-format=qcow2 or --backing-format=raw (a format is never guessed from a file's content))" \
	"$d/nofmt.qcow2"
expect_chain "no backing format, --backing-format=qcow2" \
	"backing file [1]: $d/l5.qcow2 (format qcow2)" --backing-format=qcow2 "$d/nofmt.qcow2"
expect_chain "no backing format, --backing-format=raw" \
	"backing file [1]: $d/l5.qcow2 (format raw)" --backing-format=raw "$d/nofmt.qcow2"
expect_chain "no backing format one level down" \
	"backing file [1]: $d/nofmt.qcow2 (format qcow2)
backing file [2]: $d/l5.qcow2 (format qcow2)" --backing-format=qcow2 "$d/over-nofmt.qcow2"
expect_chain "--backing-format contradicting the image" \
	"backing file [1]: l5.qcow2 (unresolved: --backing-format=raw contradicts $d/l4.qcow2, which names qcow2 as the format of its backing file 'l5.qcow2')" \
	--backing-format=raw "$d/l4.qcow2"
expect_chain "--backing-format agreeing with the image" \
	"backing file [1]: $d/l5.qcow2 (format qcow2)" --backing-format=qcow2 "$d/l4.qcow2"
run info --backing-format=vmdk "$d/l4.qcow2"
check "--backing-format=vmdk is a usage error" "$([ "$rc" = 2 ] || echo "status $rc: $out")"

# --backing-chain: the images moved, their names are stale.
mkdir "$d/moved"
mk "$d/moved/base.qcow2"
mk "$d/moved/mid.qcow2" base.qcow2 qcow2
mk "$d/stale.qcow2" /nonexistent/mid.qcow2 qcow2
expect_chain "--backing-chain: stale name without it" \
	"backing file [1]: /nonexistent/mid.qcow2 (unresolved: cannot open backing file /nonexistent/mid.qcow2 (named by $d/stale.qcow2): No such file or directory)" \
	"$d/stale.qcow2"
expect_chain "--backing-chain: one file, the next level by name from its directory" \
	"backing file [1]: $d/moved/mid.qcow2 (format qcow2, given by --backing-chain)
backing file [2]: $d/moved/base.qcow2 (format qcow2)" \
	--backing-chain="$d/moved/mid.qcow2" "$d/stale.qcow2"
expect_chain "--backing-chain: every level, repeated option" \
	"backing file [1]: $d/moved/mid.qcow2 (format qcow2, given by --backing-chain)
backing file [2]: $d/l5.qcow2 (format qcow2, given by --backing-chain)" \
	--backing-chain="$d/moved/mid.qcow2" --backing-chain="$d/l5.qcow2" "$d/stale.qcow2"
run info --backing-chain="$d/moved/mid.qcow2,$d/moved/base.qcow2,$d/l5.qcow2" "$d/stale.qcow2"
grep -qx "backing chain: unresolved: --backing-chain gives 3 files, but the backing chain of $d/stale.qcow2 has 2 levels" <<< "$out"
check "--backing-chain: more files than levels" "$([ $? = 0 ] && [ "$rc" = 0 ] || oneline "$out")"
expect_chain "--backing-chain: the format still comes from the image" \
	"backing file [1]: /nonexistent/mid.qcow2 (unresolved: $d/base.raw is named as qcow2 by $d/stale.qcow2 but is not a qcow2 image: not a qcow2 image (bad magic 0x00000000))" \
	--backing-chain="$d/base.raw" "$d/stale.qcow2"
run info --backing-chain=a,,b "$d/stale.qcow2"
check "--backing-chain: an empty name is a usage error" "$([ "$rc" = 2 ] || echo "status $rc")"

# 64 levels below an image are the most the module takes.
mkdir "$d/deep"
mk "$d/deep/l65.qcow2"
for ((i = 64; i >= 0; i--)); do
	mk "$d/deep/l$i.qcow2" "l$((i + 1)).qcow2" qcow2
done
run info "$d/deep/l1.qcow2"
check "64 levels" "$([ "$rc" = 0 ] && [ "$(levels | wc -l)" = 64 ] &&
	[ "$(levels | tail -n 1)" = "backing file [64]: $d/deep/l65.qcow2 (format qcow2)" ] ||
	echo "status $rc, $(levels | wc -l) levels, last: $(levels | tail -n 1)")"
run info "$d/deep/l0.qcow2"
check "65 levels refused" "$([ "$rc" = 0 ] && [ "$(levels | wc -l)" = 65 ] &&
	[ "$(levels | tail -n 1)" = "backing file [65]: l65.qcow2 (unresolved: backing chain of $d/deep/l0.qcow2 is deeper than 64 levels)" ] ||
	echo "status $rc, $(levels | wc -l) levels, last: $(levels | tail -n 1)")"

# A backing file the user may not read: opened with the user's rights.
mkdir "$d/perm"
mk "$d/perm/base.qcow2"
mk "$d/perm/top.qcow2" base.qcow2 qcow2
chmod 755 "$d" "$d/perm"
chmod 644 "$d/perm/top.qcow2"
chmod 600 "$d/perm/base.qcow2"
as_user=()
if [ "$(id -u)" = 0 ]; then
	command -v setpriv > /dev/null &&
		as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
	chmod 000 "$d/perm/base.qcow2"
	as_user=(env)
fi
if [ ${#as_user[@]} = 0 ]; then
	echo "ok - unreadable backing file # SKIP no setpriv to drop root"
else
	out=$("${as_user[@]}" "$Q" info "$d/perm/top.qcow2" 2>&1)
	rc=$?
	want="backing file [1]: base.qcow2 (unresolved: cannot open backing file $d/perm/base.qcow2 (named by $d/perm/top.qcow2): Permission denied)"
	check "unreadable backing file" "$([ "$rc" = 0 ] && [ "$(levels)" = "$want" ] || oneline "$out")"
fi

# Snapshot lists, against qemu-img's.
snaps='[(.snapshots // [])[] | [.id, .name, ."vm-state-size", ."date-sec"]]'
mk "$d/snap.qcow2"
for name in first "with spaces" x "a much longer name: 0123456789abcdefghijklmnopqrstuvwxyz" Ünïcødé 7; do
	qemu-img snapshot -c "$name" "$d/snap.qcow2"
done
qemu-img snapshot -d x "$d/snap.qcow2"
for img in "$d/snap.qcow2" "$d/l5.qcow2"; do
	ours=$("$Q" info --json "$img" | jq -c "$snaps")
	theirs=$(qemu-img info --output=json "$img" | jq -c "$snaps")
	check "snapshots of ${img##*/} as qemu-img lists them" \
		"$([ -n "$ours" ] && [ "$ours" = "$theirs" ] || echo "qcow2ctl '$ours', qemu-img '$theirs'")"
done
run info "$d/snap.qcow2"
n=$(sed -n '/^Snapshot list:/,$p' <<< "$out" | grep -cE '^[0-9]+ ')
check "snapshots: text list" "$([ "$n" = 5 ] &&
	grep -qE '^2 +with spaces +0 B [0-9-]+ [0-9:]+ +00:00:00.000 +0$' <<< "$out" || oneline "$out")"

# qemu-img's own text and JSON (image_checks.sh), for images made by the kernel's create
# code (mkimage) with every option, and by qemu-img with what create does
# not make (zstd, snapshots, a dirty or corrupt image, a relative backing
# file name): info prints qemu-img info's lines, then its own; --json has
# qemu-img's keys with qemu-img's values (the disk usage aside: "actual-size"
# and "disk size" follow the file's blocks, which both read the same).
as_qemu() { # NAME IMAGE
	check "info as qemu-img: $1" "$(info_as_qemu "$Q" "$2")"
}
MKIMAGE=$here/mkimage
mkimg() { # NAME ARGS...: an image made by the kernel's create code
	local n=$1
	shift
	"$MKIMAGE" "$d/mk-$n.qcow2" "$@" > /dev/null || echo "Bail out! mkimage $*"
	as_qemu "create $n ($*)" "$d/mk-$n.qcow2"
}
mkimg v3 $((1 << 30)) 65536 3 16 off
mkimg v2 $((1 << 30)) 65536 2 16 off
mkimg prealloc $((1 << 30)) 65536 3 16 metadata
mkimg c512-r1 $((1 << 20)) 512 3 1 metadata
mkimg c2M-r64 $((100 << 30)) 2097152 3 64 off
mkimg odd-size $(((1 << 30) + 1536)) 4096 3 16 off
mkimg extl2-lazy $((1 << 30)) 65536 3 16 metadata extl2 lazy
qemu-img create -q -f qcow2 "$d/mk-base.qcow2" 1G
mkimg backing $((1 << 30)) 65536 3 16 off backing="$d/mk-base.qcow2" format=qcow2
mkimg backing-v2 $((1 << 30)) 65536 2 16 off backing="$d/mk-base.qcow2"
(cd "$d" && "$MKIMAGE" mk-rel.qcow2 $((1 << 30)) 65536 3 16 off backing=mk-base.qcow2 format=qcow2 > /dev/null)
as_qemu "relative backing name" "$d/mk-rel.qcow2"
qemu-img create -q -f qcow2 -o compression_type=zstd "$d/zstd.qcow2" 1G
as_qemu "zstd" "$d/zstd.qcow2"
as_qemu "snapshots" "$d/snap.qcow2"
qemu-img create -q -f qcow2 -o lazy_refcounts=on "$d/dirty.qcow2" 1M
# (qemu-io kills itself: the shell's report of it is not wanted.)
sh -c 'qemu-io -c "write 0 64k" -c "sigraise 9" "$1"' sh "$d/dirty.qcow2" > /dev/null 2>&1
as_qemu "dirty (lazy refcounts, killed)" "$d/dirty.qcow2"
cp "$d/mk-v3.qcow2" "$d/corrupt.qcow2"
# incompatible_features, 64 bits at 72: the corrupt bit.
printf '\x00\x00\x00\x00\x00\x00\x00\x02' | dd of="$d/corrupt.qcow2" bs=1 seek=72 conv=notrunc status=none
as_qemu "marked corrupt" "$d/corrupt.qcow2"

# Damaged tables: the reason is shown, info does not fail or overread.
be16() { printf "\\x$(printf %02x $(($1 >> 8)))\\x$(printf %02x $(($1 & 255)))"; }
peek64() { echo $((0x$(od -An -tx1 -j "$2" -N 8 "$1" | tr -d ' \n'))); }
mk "$d/snap1.qcow2"
qemu-img snapshot -c one "$d/snap1.qcow2"
off=$(peek64 "$d/snap1.qcow2" 64)
cp "$d/snap1.qcow2" "$d/extra.qcow2"
# extra_data_size, a 32-bit field at 36 of the entry: 5000 > 1024.
printf '\x00\x00\x13\x88' | dd of="$d/extra.qcow2" bs=1 seek=$((off + 36)) conv=notrunc status=none
run info --json "$d/extra.qcow2"
check "damaged snapshot table: extra data too large" \
	"$([ "$rc" = 0 ] && jq -e '."snapshots-error" == "snapshot extra data of 5000 bytes exceeds 1024" and (has("snapshots") | not)' <<< "$out" > /dev/null || echo "status $rc: $out")"
cp "$d/snap1.qcow2" "$d/short.qcow2"
truncate -s $((off + 48)) "$d/short.qcow2"
run info "$d/short.qcow2"
check "damaged snapshot table: entry past the end of the file" \
	"$([ "$rc" = 0 ] && grep -qx "Snapshot list: cannot read: snapshot 1 ([0-9]* bytes at $off) lies past the end of the table" <<< "$out" || oneline "$out")"
cp "$d/snap1.qcow2" "$d/longname.qcow2"
be16 65535 | dd of="$d/longname.qcow2" bs=1 seek=$((off + 14)) conv=notrunc status=none
run info "$d/longname.qcow2"
check "damaged snapshot table: name length past the end" \
	"$([ "$rc" = 0 ] && grep -q "^Snapshot list: cannot read: snapshot 1 (.* bytes at $off) lies past the end of the table" <<< "$out" || oneline "$out")"

# attach, with the control device faked: what reaches the module.
log=$tmp/attach.log
# attach_run ARGS...: qcow2ctl attach under the fake; $out, $rc, $got (the
# request the module received, or "" if none reached it).
attach_run() {
	rm -f "$log"
	out=$(LD_PRELOAD=$FAKE FAKE_QCOW2_LOG=$log "$Q" attach "$@" 2>&1)
	rc=$?
	got=$(cat "$log" 2>/dev/null)
}
expect_attach() { # NAME EXPECTED ARGS...
	local name=$1 want=$2
	shift 2
	attach_run "$@"
	check "$name" "$([ "$rc" = 0 ] && [ "$got" = "$want" ] ||
		echo "status $rc: $(oneline "$out"); got '$(oneline "$got")', expected '$(oneline "$want")'")"
}
expect_attach "attach: a qcow2 chain with a raw base" \
	"attach flags=0x0 backing_count=2 image mode=rw,cloexec path=$d/onraw2.qcow2
level 1 format=1 reserved=0 mode=ro,cloexec path=$d/onraw.qcow2
level 2 format=2 reserved=0 mode=ro,cloexec path=$d/base.raw" "$d/onraw2.qcow2"
expect_attach "attach: read-only, five levels" \
	"attach flags=0x1 backing_count=5 image mode=ro,cloexec path=$d/l0.qcow2
$(for i in 1 2 3 4 5; do echo "level $i format=1 reserved=0 mode=ro,cloexec path=$d/l$i.qcow2"; done)" \
	-r "$d/l0.qcow2"
expect_attach "attach: no backing file" \
	"attach flags=0x0 backing_count=0 image mode=rw,cloexec path=$d/l5.qcow2" "$d/l5.qcow2"
expect_attach "attach: --snapshot implies read-only" \
	"attach flags=0x9 backing_count=0 image mode=ro,cloexec path=$d/snap.qcow2
snapshot with spaces" --snapshot="with spaces" "$d/snap.qcow2"
expect_attach "attach: --backing-chain and --backing-format" \
	"attach flags=0x1 backing_count=1 image mode=ro,cloexec path=$d/nofmt.qcow2
level 1 format=2 reserved=0 mode=ro,cloexec path=$d/base.raw" \
	-r --backing-format=raw --backing-chain="$d/base.raw" "$d/nofmt.qcow2"
(
	cd "$d/rel/a" || exit 1
	expect_attach "attach: relative names" \
		"attach flags=0x0 backing_count=2 image mode=rw,cloexec path=$d/rel/a/top.qcow2
level 1 format=1 reserved=0 mode=ro,cloexec path=$d/rel/b/mid.qcow2
level 2 format=1 reserved=0 mode=ro,cloexec path=$d/rel/b/base.qcow2" top.qcow2
	exit $failed
) || failed=1

# refused_attach NAME MESSAGE ARGS...: exit 1, MESSAGE on stderr, and
# nothing reached the module.
refused_attach() {
	local name=$1 want=$2
	shift 2
	attach_run "$@"
	check "$name" "$([ "$rc" = 1 ] && [ -z "$got" ] && [ "$out" = "$want" ] ||
		echo "status $rc: '$(oneline "$out")', module got '$(oneline "$got")'")"
}
refused_attach "attach: missing backing file" \
	"qcow2ctl: cannot attach $d/missing.qcow2: cannot open backing file $d/gone.qcow2 (named by $d/missing.qcow2): No such file or directory" \
	"$d/missing.qcow2"
refused_attach "attach: loop" \
	"qcow2ctl: cannot attach $d/A.qcow2: backing chain loops: $d/A.qcow2 appears twice" -r "$d/A.qcow2"
refused_attach "attach: no backing format" \
	"qcow2ctl: cannot attach $d/nofmt.qcow2: $d/nofmt.qcow2 names no format for its backing file 'l5.qcow2': pass --backing-format=qcow2 or --backing-format=raw (a format is never guessed from a file's content)" \
	"$d/nofmt.qcow2"
refused_attach "attach: 65 levels" \
	"qcow2ctl: cannot attach $d/deep/l0.qcow2: backing chain of $d/deep/l0.qcow2 is deeper than 64 levels" \
	-r "$d/deep/l0.qcow2"
FAKE_QCOW2_FEATURES=3 refused_attach "attach: module without backing files" \
	"qcow2ctl: cannot attach $d/l4.qcow2: the loaded module is too old for backing files; load a newer qcow2.ko" \
	"$d/l4.qcow2"
export FAKE_QCOW2_FEATURES=3
refused_attach "attach: module without snapshots" \
	"qcow2ctl: cannot attach $d/snap.qcow2: the loaded module is too old for snapshots; load a newer qcow2.ko" \
	--snapshot=first "$d/snap.qcow2"
expect_attach "attach: module without backing files, image without one" \
	"attach flags=0x0 backing_count=0 image mode=rw,cloexec path=$d/l5.qcow2" "$d/l5.qcow2"
unset FAKE_QCOW2_FEATURES
# What an image alone may not choose: a file showing kernel state, never;
# a block device, only given with --backing-chain as well.
mk "$d/kcore.qcow2" /proc/version raw
refused_attach "attach: a level on procfs" \
	"qcow2ctl: cannot attach $d/kcore.qcow2: backing file /proc/version (named by $d/kcore.qcow2) shows kernel state, not stored data: it cannot be a backing file" \
	-r "$d/kcore.qcow2"
if command -v strace > /dev/null; then
	opened=$(LD_PRELOAD=$FAKE strace -f -qq -e trace=open,openat "$Q" attach -r "$d/kcore.qcow2" 2>&1 >/dev/null |
		grep -c '"/proc/version"')
	check "attach: a level on procfs is refused before it is opened" \
		"$([ "$opened" = 0 ] || echo "opened $opened times")"
else
	echo "ok - attach: a level on procfs is refused before it is opened # SKIP no strace"
fi
# A loop device: opening it has no side effects (a disk or a CD drive
# might spin up).
bdev=$(find /dev -maxdepth 1 -type b -readable -name 'loop[0-9]*' 2> /dev/null | sort | head -n 1)
if [ -n "$bdev" ]; then
	mk "$d/onbdev.qcow2" "$bdev" raw
	refused_attach "attach: a block device named by an image alone" \
		"qcow2ctl: cannot attach $d/onbdev.qcow2: backing file $bdev (named by $d/onbdev.qcow2) is a block device, which an image alone cannot choose: give it with --backing-chain if it is the one you mean" \
		-r "$d/onbdev.qcow2"
	expect_attach "attach: a block device given with --backing-chain" \
		"attach flags=0x1 backing_count=1 image mode=ro,cloexec path=$d/onbdev.qcow2
level 1 format=2 reserved=0 mode=ro,cloexec path=$bdev" \
		-r --backing-chain="$bdev" "$d/onbdev.qcow2"
else
	echo "ok - attach: a block device named by an image alone # SKIP no readable loop device"
	echo "ok - attach: a block device given with --backing-chain # SKIP no readable loop device"
fi
# A header the format code refuses goes to the module, whose log says why.
cp "$d/l4.qcow2" "$d/badmagic.qcow2"
printf 'XXXX' | dd of="$d/badmagic.qcow2" bs=1 conv=notrunc status=none
expect_attach "attach: a bad header is left to the module" \
	"attach flags=0x0 backing_count=0 image mode=rw,cloexec path=$d/badmagic.qcow2" "$d/badmagic.qcow2"

# hint NAME ERRNO TEXT ARGS...: the module's errno explained.
hint() {
	local name=$1 e=$2 want=$3
	shift 3
	out=$(LD_PRELOAD=$FAKE FAKE_QCOW2_ERRNO=$e "$Q" attach "$@" 2>&1)
	rc=$?
	check "$name" "$([ "$rc" = 1 ] && grep -qF "$want" <<< "$out" || echo "status $rc: $out")"
}
hint "attach: ENOENT with --snapshot" 2 \
	"No such file or directory: the image has no snapshot with that id or name (qcow2ctl info IMAGE lists them)" \
	--snapshot=nonesuch "$d/snap.qcow2"
hint "attach: ELOOP" 40 "the backing chain loops" "$d/l4.qcow2"
run attach --snapshot= "$d/snap.qcow2"
check "attach: empty --snapshot is a usage error" "$([ "$rc" = 2 ] || echo "status $rc")"

# info DEVICE, with the levels the fake reports.
dev_info() { # ARGS...
	out=$(LD_PRELOAD=$FAKE "$Q" info "$@" 2>&1)
	rc=$?
}
export FAKE_QCOW2_LEVELS="qcow2:$d/snap.qcow2,qcow2:$d/l5.qcow2,raw:$d/base.raw"
FAKE_QCOW2_SNAPSHOT=2 dev_info /dev/qcow20
want="state: read-only,backing-file,snapshot
backing file [1]: $d/l5.qcow2 (format qcow2, version 3, virtual size 1048576, cluster size 65536)
backing file [2]: $d/base.raw (format raw, size 1048576)
snapshot: id 2, name 'with spaces' (entry 2 of the table)"
check "info DEVICE: levels and the snapshot shown" \
	"$([ "$rc" = 0 ] && [ "$(grep -E '^(state|backing file|snapshot):? ' <<< "$out")" = "$want" ] || oneline "$out")"
FAKE_QCOW2_CORRUPT=1 dev_info /dev/qcow20
check "info DEVICE: a level found corrupt" \
	"$([ "$rc" = 0 ] && grep -qxF "backing file [1]: $d/l5.qcow2 (format qcow2, version 3, virtual size 1048576, cluster size 65536, corrupt: its reads fail)" <<< "$out" || oneline "$out")"
FAKE_QCOW2_CORRUPT=2 FAKE_QCOW2_SNAPSHOT=4 dev_info --json qcow20
check "info DEVICE --json: levels and the snapshot shown" \
	"$([ "$rc" = 0 ] && jq -e --arg d "$d" '.backing_chain == [
		{"filename": "\($d)/l5.qcow2", "format": "qcow2", "size": 1048576, "version": 3, "cluster_size": 65536,
		 "direct_io": false, "corrupt": false},
		{"filename": "\($d)/base.raw", "format": "raw", "size": 1048576, "direct_io": false, "corrupt": true}] and
		.snapshot == {"entry": 4, "id": "5", "name": "Ünïcødé"}' <<< "$out" > /dev/null || echo "$out")"
FAKE_QCOW2_SNAPSHOT=9 dev_info --json qcow20
check "info DEVICE --json: a snapshot the table no longer has" \
	"$([ "$rc" = 0 ] && jq -e '.snapshot == {"entry": 9, "error": "the image has 5 snapshots now"}' <<< "$out" > /dev/null || echo "$out")"
FAKE_QCOW2_FEATURES=15 FAKE_QCOW2_CORRUPT=1 dev_info /dev/qcow20
check "info DEVICE: no level state from a module without it" \
	"$([ "$rc" = 0 ] && grep -qxF "backing file [1]: $d/l5.qcow2 (format qcow2, version 3, virtual size 1048576, cluster size 65536)" <<< "$out" || oneline "$out")"
FAKE_QCOW2_FEATURES=15 FAKE_QCOW2_CORRUPT=2 dev_info --json qcow20
check "info DEVICE --json: no level state from a module without it" \
	"$([ "$rc" = 0 ] && jq -e '(.backing_chain | length) == 2 and
		all(.backing_chain[]; has("direct_io") or has("corrupt") | not)' <<< "$out" > /dev/null || echo "$out")"
FAKE_QCOW2_FEATURES=7 dev_info --json qcow20
check "info DEVICE --json: no levels from a module without them" \
	"$([ "$rc" = 0 ] && jq -e 'has("backing_chain") or has("snapshot") | not' <<< "$out" > /dev/null || echo "$out")"
dev_info --backing-format=raw /dev/qcow20
check "info DEVICE: --backing-format is a usage error" "$([ "$rc" = 2 ] || echo "status $rc: $out")"
unset FAKE_QCOW2_LEVELS

exit $failed
