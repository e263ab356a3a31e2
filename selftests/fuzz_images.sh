#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz_images.sh FIRST LAST SEEDDIR LOG
#
# The guest side of the image fuzzer (selftests/vm/fuzz-images.sh runs it
# and restarts the guest when it dies). For each N from FIRST to LAST:
# fuzz_mutate makes image N from seed N mod the number of seeds in SEEDDIR;
# the image is attached read-write, or read-only when that is refused, or
# not at all; an attached device is read whole (up to 16 MiB; the first
# and last 4 MiB of a larger one), written a little (4 KiB at the start, middle and end,
# direct, the last with a flush) and detached. One line per image goes to
# LOG, written through before the image is tried ("start N ...") and after
# ("end N OUTCOME ..."), so a guest that dies leaves the number of the
# image that killed it. A splat or a hang is reported in LOG and the image
# kept beside it.
#
# OUTCOME is one of:
#   refused:ERRNO        attach refused, read-write and read-only
#   served[-ro]          every read and write succeeded
#   io-error[-ro][+corrupt]
#                        some I/O failed (with the corrupt bit set or not)
# followed, when it happened, by "detach-failed" (detach refused and then
# forced) and always by the mutation's description.
. "$(dirname "$0")/lib.sh"

first=$1 last=$2 seeddir=$3 log=$4
mapfile -t seeds < <(ls "$seeddir"/*.qcow2 | sort)
[ ${#seeds[@]} -gt 0 ] || fail "no seed images in $seeddir"
module_load
work=$(mktemp -d /tmp/fuzz.XXXXXX)
img=$work/img.qcow2
splat_re='BUG:|WARNING:|Oops|UBSAN:|general protection fault|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|bad unlock balance|blocked for more than|soft lockup'
T="timeout -k 5 120"

logline() { echo "$*" >> "$log"; sync "$log" 2>/dev/null || sync; }
splats() { dmesg | grep -cE "$splat_re"; }
errno_of() { # the strerror text in qcow2ctl's message, as one word
	sed -n 's/.*cannot attach [^:]*: \([^:(]*\).*/\1/p' <<< "$1" | head -n 1 |
		sed 's/ *$//; s/ /_/g'
}

before=$(splats)
for ((n = first; n <= last; n++)); do
	seed=${seeds[n % ${#seeds[@]}]}
	desc=$("$QCOW2_TOP/selftests/fuzz_mutate" "$seed" "$img" "$n") ||
		fail "fuzz_mutate $n failed"
	logline "start $n $(basename "$seed") $desc"
	echo "qcow2-fuzz: image $n: $desc" > /dev/kmsg
	mode=rw
	if ! dev=$($T "$QCOW2CTL" attach --show "$img" 2>&1); then
		mode=ro
		if ! dev=$($T "$QCOW2CTL" attach -r --show "$img" 2>&1); then
			logline "end $n refused:$(errno_of "$dev") $desc"
			continue
		fi
	fi
	[[ $dev == /dev/qcow2* ]] || fail "attach of image $n printed '$dev'"
	ok=1 hung=0
	# io COMMAND...: one I/O step, under a time limit.
	io() {
		$T "$@" status=none 2>/dev/null
		case $? in
		0) ;;
		124|137) hung=1; ok=0 ;;
		*) ok=0 ;;
		esac
	}
	sectors=$(blockdev --getsz "$dev") || ok=0
	mib=$((${sectors:-0} / 2048))
	if [ "$mib" -le 16 ]; then
		io dd if="$dev" of=/dev/null bs=1M iflag=direct
	else
		io dd if="$dev" of=/dev/null bs=1M count=4 iflag=direct
		io dd if="$dev" of=/dev/null bs=1M skip=$((mib - 4)) iflag=direct
	fi
	if [ "$mode" = rw ] && [ "${sectors:-0}" -ge 8 ]; then
		for at in 0 $((sectors / 16)) $((sectors / 8 - 1)); do
			io dd if=/dev/urandom of="$dev" bs=4k count=1 seek="$at" oflag=direct
		done
		io dd if=/dev/urandom of="$dev" bs=4k count=1 oflag=direct conv=fsync,notrunc
	fi
	if [ $hung = 1 ]; then
		logline "hang $n during I/O $desc"
		cp "$img" "$(dirname "$log")/kept-$n.qcow2"
		exit 1
	fi
	outcome=served
	[ $ok = 1 ] || outcome=io-error
	[ "$mode" = ro ] && outcome+=-ro
	"$QCOW2CTL" info "$dev" 2>/dev/null | grep -q '^state:.*corrupt' && outcome+=+corrupt
	if ! $T "$QCOW2CTL" detach "$dev" 2>/dev/null; then
		outcome+=" detach-failed"
		$T "$QCOW2CTL" detach --force "$dev" || {
			logline "hang $n at detach $desc"
			cp "$img" "$(dirname "$log")/kept-$n.qcow2"
			exit 1
		}
	fi
	now=$(splats)
	if [ "$now" != "$before" ]; then
		logline "splat $n $desc"
		cp "$img" "$(dirname "$log")/kept-$n.qcow2"
		before=$now
	fi
	logline "end $n $outcome $desc"
done
rm -rf "$work"
exit 0
