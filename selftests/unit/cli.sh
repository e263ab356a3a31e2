#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side test of qcow2ctl's command line, printing TAP:
#  - the man page renders without warnings and names every option each
#    command's --help lists, and the bash completion offers them all;
#  - one version everywhere (VERSION, dkms.conf, the man page, the Debian
#    changelog, qcow2ctl -V);
#  - exit codes, and errors that name the file and the cause in plain words
#    (a missing file, no permission, not qcow2, a directory);
#  - attach --find --show, "is in use by", list's columns and options
#    (-O, -n, -r, -J, -j, -b, DEVICE), detach's (-d, -D, IMAGE), with
#    fake_control.so standing in for the module.
#
# Runs the sanitized build, selftests/unit/qcow2ctl (make unit-build).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
Q=${QCOW2CTL:-$here/qcow2ctl}
FAKE=$here/fake_control.so
export ASAN_OPTIONS=verify_asan_link_order=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
failed=0

. "$here/tap.sh"
fake() { # ARGS...: run, with the fake module
	out=$(LD_PRELOAD=$FAKE "$Q" "$@" 2>&1)
	rc=$?
}
expect() { # NAME RC TEXT: the last run's status and output
	check "$1" "$([ "$rc" = "$2" ] && grep -qF -- "$3" <<< "$out" ||
		echo "status $rc (want $2), output: $(oneline "$out")")"
}

# --- The man page and the completion against --help --------------------
man_page=$top/userspace/man/qcow2ctl.8
completion=$top/userspace/completion/qcow2ctl
warn=$(MANWIDTH=80 man --warnings -l "$man_page" 2>&1 > "$tmp/man.txt")
check "man page renders without warnings" \
	"$([ -s "$tmp/man.txt" ] && [ -z "$warn" ] || oneline "$warn")"

# The options a --help text lists: -x and --long at the start of a line
# or after a comma.
help_opts() {
	grep -oE '^ +(-[A-Za-z]|--[a-z0-9-]+)(, *(-[A-Za-z]|--[a-z0-9-]+))*' |
		tr ',' '\n' | tr -d ' ' | sort -u
}

# What the completion offers after "qcow2ctl WORDS... CUR".
complete_words() {
	bash -c '
		. /usr/share/bash-completion/bash_completion
		. "$1"
		shift
		COMP_WORDS=(qcow2ctl "$@")
		COMP_CWORD=$#
		COMP_LINE="qcow2ctl $*"
		COMP_POINT=${#COMP_LINE}
		_qcow2ctl qcow2ctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
		printf "%s\n" "${COMPREPLY[@]}"
	' sh "$completion" "$@" 2> /dev/null | sed 's/=$//'
}

for cmd in "" create attach detach list info; do
	if [ -z "$cmd" ]; then
		help=$("$Q" --help)
		words=()
	else
		help=$("$Q" "$cmd" --help)
		words=("$cmd")
	fi
	opts=$(help_opts <<< "$help")
	[ -n "$opts" ] || { check "${cmd:-qcow2ctl}: --help lists options" "none found"; continue; }
	missing=
	for o in $opts; do
		# As the page renders it: the option word, standing alone.
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" "$tmp/man.txt" || missing+=" $o"
	done
	check "man page names every option of ${cmd:-qcow2ctl} --help" \
		"$([ -z "$missing" ] || echo "missing:$missing")"
	offered=$(complete_words "${words[@]}" -)
	[ -z "$cmd" ] && offered+=$'\n'$(complete_words --)
	missing=
	for o in $opts; do
		grep -qxF -- "$o" <<< "$offered" || missing+=" $o"
	done
	check "completion offers every option of ${cmd:-qcow2ctl} --help" \
		"$([ -z "$missing" ] || echo "missing:$missing; offered: $(oneline "$offered")")"
done
offered=$(complete_words "")
check "completion offers the commands" \
	"$(for c in create attach detach list info version; do grep -qx "$c" <<< "$offered" || echo -n "$c "; done)"
offered=$(complete_words list -O NAME,SI)
check "completion offers --output's columns" \
	"$([ "$offered" = "NAME,SIZE" ] || oneline "$offered")"
mkdir "$tmp/imgs"
touch "$tmp/imgs/one.qcow2" "$tmp/imgs/two.qcow2"
offered=$(cd "$tmp" && complete_words attach imgs/o)
check "completion offers image files" \
	"$([ "$offered" = "imgs/one.qcow2" ] || oneline "$offered")"

# --- One version everywhere ---------------------------------------------
version=$(cat "$top/VERSION")
why=
[ "$("$Q" --version)" = "qcow2ctl $version" ] || why+=" qcow2ctl --version: $("$Q" --version);"
[ "$("$Q" -V)" = "qcow2ctl $version" ] || why+=" -V;"
grep -qx "PACKAGE_VERSION=\"$version\"" "$top/dkms.conf" || why+=" dkms.conf;"
grep -q "^\.TH QCOW2CTL 8 .* \"qcow2 $version\"" "$man_page" || why+=" man page;"
[ "$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version 2> /dev/null)" = "$version" ] ||
	why+=" debian/changelog;"
check "one version ($version) everywhere" "$why"

# DKMS builds only for kernels driver/compat.h covers (6.1 on); others are
# skipped, not failed. The same extended regex DKMS matches the release with.
excl=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL="\(.*\)"$/\1/p' "$top/dkms.conf")
why=
for k in 6.1.0-57-amd64 6.12.117+deb12-amd64 6.19.0 7.0.1 10.2.0; do
	[[ $k =~ $excl ]] || why+=" $k refused;"
done
for k in 5.10.0-33-amd64 6.0.12 4.19.0 3.16.0; do
	[[ $k =~ $excl ]] && why+=" $k accepted;"
done
check "dkms.conf builds for 6.1 and later only" "$([ -n "$excl" ] || echo "no BUILD_EXCLUSIVE_KERNEL")$why"

# --- Exit codes and errors without a module ------------------------------
run bogus
expect "an unknown command is a usage error" 2 "unknown command 'bogus'"
run list --bogus
expect "an unknown option is a usage error" 2 "Usage: qcow2ctl list"
run detach
expect "detach without a device is a usage error" 2 "detach needs DEVICEs or --all"
run detach --lazy --force /dev/qcow20
expect "detach --lazy --force is a usage error" 2 "exclude each other"
run attach
expect "attach without an image is a usage error" 2 "Usage: qcow2ctl attach"
run info
expect "info without an argument is a usage error" 2 "Usage: qcow2ctl info"
run list -O NAME,BOGUS
expect "list: an unknown column is a usage error" 2 "unknown column 'BOGUS'"

run info "$tmp/none.qcow2"
expect "info: a missing file, in plain words" 1 "cannot open $tmp/none.qcow2: No such file or directory"
fake attach "$tmp/none.qcow2"
expect "attach: a missing file, in plain words" 1 "cannot open $tmp/none.qcow2: No such file or directory"
head -c 65536 /dev/urandom > "$tmp/raw.img"
printf 'ZZZZ' | dd of="$tmp/raw.img" bs=1 conv=notrunc status=none
run info "$tmp/raw.img"
expect "info: not qcow2, in plain words" 1 "$tmp/raw.img is not a qcow2 image (bad magic 0x5a5a5a5a)"
fake attach "$tmp/imgs"
expect "attach: a directory" 1 "cannot open $tmp/imgs: Is a directory"
fake attach -r "$tmp/imgs"
expect "attach -r: a directory" 1 "cannot attach $tmp/imgs: it is a directory"
qemu-img create -q -f qcow2 "$tmp/img.qcow2" 64G
chmod 600 "$tmp/img.qcow2"
if command -v setpriv > /dev/null && [ "$(id -u)" = 0 ]; then
	asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	out=$(asnobody "$Q" info "$tmp/img.qcow2" 2>&1); rc=$?
	expect "info: no permission, in plain words" 1 "cannot open $tmp/img.qcow2: Permission denied"
	chmod 644 "$tmp/img.qcow2"
	out=$(LD_PRELOAD=$FAKE asnobody "$Q" attach "$tmp/img.qcow2" 2>&1); rc=$?
	expect "attach: no write permission says what to do" 1 \
		"cannot open $tmp/img.qcow2: Permission denied (attach --read-only if you may only read it)"
else
	echo "ok - info: no permission, in plain words # SKIP not root"
	echo "ok - attach: no write permission says what to do # SKIP not root"
fi
chmod 644 "$tmp/img.qcow2"
run info "$tmp/img.qcow2"
expect "info: sizes in units with the bytes beside them" 0 "virtual size: 64 GiB (68719476736 bytes)"

# --- With a fake module: attach, list, detach ----------------------------
export FAKE_QCOW2_LOG=$tmp/fake.log
fake attach -f --show "$tmp/img.qcow2"
check "attach -f --show prints the device" "$([ "$rc" = 0 ] && [ "$out" = /dev/qcow20 ] || echo "status $rc: $out")"

# /dev/qcow20 shows img.qcow2 from here on.
export FAKE_QCOW2_LEVELS="qcow2:$tmp/img.qcow2"
ln "$tmp/img.qcow2" "$tmp/other-name.qcow2"
fake attach "$tmp/other-name.qcow2"
expect "attach: an attached image names its device" 1 \
	"cannot attach $tmp/other-name.qcow2: it is in use by /dev/qcow20 (qcow2ctl detach /dev/qcow20 first)"

fake list
want="NAME        SIZE RO PARTSCAN AUTOCLEAR DIO IMAGE
/dev/qcow20   1M  1        0         0   0 $tmp/img.qcow2"
check "list: losetup's default columns" "$([ "$rc" = 0 ] && [ "$out" = "$want" ] || oneline "$out")"
fake list -n -O NAME,IMAGE
check "list -n -O NAME,IMAGE" "$([ "$out" = "/dev/qcow20 $tmp/img.qcow2" ] || oneline "$out")"
fake list -O +CLUSTER,VERSION -b
check "list -O +COLS adds to the defaults; -b gives bytes" \
	"$(grep -qE "^/dev/qcow20 +1048576 +1 +0 +0 +0 $tmp/img.qcow2 +65536 +3$" <<< "$out" || oneline "$out")"
fake list --output-all -J
check "list --output-all -J: every column, as JSON" \
	"$(jq -e --arg img "$tmp/img.qcow2" '.qcow2devices | length == 1 and
		(.[0] | .name == "/dev/qcow20" and .size == 1048576 and .ro == true and
		 .partscan == false and .image == $img and .cluster == 65536 and
		 .version == 3 and (."image-ino" | type) == "number" and
		 (keys | length) == 14)' <<< "$out" > /dev/null || oneline "$out")"
fake list -j "$tmp/other-name.qcow2" -n -O NAME
check "list -j IMAGE finds the device under another name of the file" \
	"$([ "$rc" = 0 ] && [ "$out" = /dev/qcow20 ] || oneline "$out")"
# Renamed since the attach (the module reports the old path): found by
# the identity the module took; a module without identities (no
# QCOW2_FEATURE_IMAGE_ID, 0x40) falls back to the path, which then misses
# it, but finds a file by its path.
mv "$tmp/other-name.qcow2" "$tmp/renamed.qcow2"
ident="$(stat -c '%Hd:%Ld:%i' "$tmp/renamed.qcow2")"
FAKE_QCOW2_LEVELS="qcow2:$tmp/gone.qcow2" FAKE_QCOW2_IDENTITY=$ident fake list -j "$tmp/renamed.qcow2" -n -O NAME
check "list -j finds a renamed image by the identity the module reports" \
	"$([ "$rc" = 0 ] && [ "$out" = /dev/qcow20 ] || oneline "$out")"
FAKE_QCOW2_FEATURES=0x3f FAKE_QCOW2_LEVELS="qcow2:$tmp/gone.qcow2" FAKE_QCOW2_IDENTITY=$ident \
	fake list -j "$tmp/renamed.qcow2" -n -O NAME
check "list -j without identities cannot know a renamed image" \
	"$([ "$rc" = 0 ] && [ -z "$out" ] || oneline "$out")"
FAKE_QCOW2_FEATURES=0x3f fake list -j "$tmp/renamed.qcow2" -n -O NAME,IMAGE-INO -J
check "list -j without identities matches by path; IMAGE-INO is null" \
	"$(jq -e '.qcow2devices == [{"name": "/dev/qcow20", "image-ino": null}]' <<< "$out" > /dev/null ||
	   oneline "$out")"
FAKE_QCOW2_IDENTITY="1:2:3" fake list -j "$tmp/renamed.qcow2" -n -O NAME
check "list -j falls back to the path when the identity is stale" \
	"$([ "$rc" = 0 ] && [ "$out" = /dev/qcow20 ] || oneline "$out")"
mv "$tmp/renamed.qcow2" "$tmp/other-name.qcow2"

fake list -j "$tmp/raw.img"
check "list -j IMAGE of a file not attached lists nothing" \
	"$([ "$rc" = 0 ] && [ -z "$out" ] || oneline "$out")"
fake list -j "$tmp/none.qcow2"
expect "list -j of a missing file" 1 "$tmp/none.qcow2: No such file or directory"
fake list /dev/qcow21
expect "list DEVICE that is not attached" 1 "/dev/qcow21: not attached"
if [ "$(id -u)" = 0 ]; then
	# A block device node that is not a qcow2 device (loop's major).
	mknod "$tmp/blk" b 7 0
	fake list "$tmp/blk"
	expect "list of another block device names the problem" 2 "'$tmp/blk' is not a qcow2 device name"
	fake detach "$tmp/blk"
	expect "detach of another block device names the problem" 1 \
		"'$tmp/blk' is neither a qcow2 device (/dev/qcow2N) nor an image file"
	fake info "$tmp/blk"
	expect "info of another block device names the problem" 1 "$tmp/blk is a block device, not a qcow2 device"
	rm "$tmp/blk"
else
	echo "ok - list of another block device names the problem # SKIP not root"
	echo "ok - detach of another block device names the problem # SKIP not root"
	echo "ok - info of another block device names the problem # SKIP not root"
fi

# A name with a space and a newline, in each output form.
odd="$tmp/a b"$'\n'"c.qcow2"
cp "$tmp/img.qcow2" "$odd"
FAKE_QCOW2_LEVELS="qcow2:$odd" fake list -r -n -O NAME,IMAGE
check "list --raw escapes spaces and newlines" \
	"$([ "$out" = "/dev/qcow20 $tmp/a\\x20b\\x0ac.qcow2" ] || oneline "$out")"
FAKE_QCOW2_LEVELS="qcow2:$odd" fake list -n -O IMAGE
check "list escapes newlines in a table" \
	"$([ "$out" = "$tmp/a b\\x0ac.qcow2" ] || oneline "$out")"
FAKE_QCOW2_LEVELS="qcow2:$odd" fake list -J
check "list -J keeps the name as it is" \
	"$(jq -e --arg img "$odd" '.qcow2devices[0].image == $img' <<< "$out" > /dev/null || oneline "$out")"

: > "$FAKE_QCOW2_LOG"
fake detach "$tmp/other-name.qcow2"
check "detach IMAGE detaches its device" \
	"$([ "$rc" = 0 ] && grep -qx "detach index=0 flags=0x0" "$FAKE_QCOW2_LOG" || echo "status $rc: $(oneline "$out")")"
: > "$FAKE_QCOW2_LOG"
fake detach -d /dev/qcow20
check "detach -d DEVICE" "$([ "$rc" = 0 ] && grep -qx "detach index=0 flags=0x0" "$FAKE_QCOW2_LOG" || echo "status $rc: $out")"
: > "$FAKE_QCOW2_LOG"
fake detach -D --lazy
check "detach -D --lazy" "$([ "$rc" = 0 ] && grep -qx "detach index=0 flags=0x1" "$FAKE_QCOW2_LOG" || echo "status $rc: $out")"
fake detach "$tmp/raw.img"
expect "detach of an image not attached" 1 "$tmp/raw.img is not attached"
fake detach /dev/qcow27
expect "detach of a device not attached" 1 "cannot detach /dev/qcow27: No such device (not attached)"

exit $failed
