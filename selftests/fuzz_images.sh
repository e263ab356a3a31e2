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
# and last 4 MiB of a larger one), written a little (4 KiB at the start,
# middle and end, direct) and flushed (fuzz_io.c), and detached. One line
# per image goes to LOG, written through before the image is tried ("start N ...") and after
# ("end N OUTCOME ..."), so a guest that dies leaves the number of the
# image that killed it. A hang is reported in LOG ("hang N ...").
#
# OUTCOME is one of:
#   refused:ERRNO        attach refused, read-write and read-only
#   refused-by-tool      qcow2ctl refused the image's backing chain (a
#                        mutated name or format): the kernel was not asked
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
bin=$QCOW2_TOP/selftests
# The seeds with a backing file name base.qcow2 beside them: the images
# made of them find it, and reads fall through to it (never written).
[ -e "$seeddir/base.qcow2" ] && cp "$seeddir/base.qcow2" "$work/"

# LOG is on the uncached 9p share: each line reaches the host as it is
# written. Under the debug kernel every program start costs a good part of
# a second, so each image runs five: the mutator, attach, the I/O
# (fuzz_io), info and detach. Splats are matched to images on the host,
# by the "qcow2-fuzz: image N" line before them in the kernel log.
errno_of() { # the strerror text in qcow2ctl's message, as one word
	local e=${1#*cannot attach }
	e=${e#*: }
	e=${e%% (*}
	e=${e%%:*}
	echo "${e// /_}"
}

for ((n = first; n <= last; n++)); do
	seed=${seeds[n % ${#seeds[@]}]}
	desc=$("$bin/fuzz_mutate" "$seed" "$img" "$n") || fail "fuzz_mutate $n failed"
	echo "start $n ${seed##*/} $desc" >> "$log"
	echo "qcow2-fuzz: image $n" > /dev/kmsg
	mode=rw
	if ! dev=$("$QCOW2CTL" attach --show "$img" 2>&1); then
		mode=ro
		if ! dev=$("$QCOW2CTL" attach -r --show "$img" 2>&1); then
			# Only the kernel's refusals point to its log.
			if [[ $dev == *"the kernel log says why"* ]]; then
				echo "end $n refused:$(errno_of "$dev") $desc" >> "$log"
			else
				echo "end $n refused-by-tool $desc" >> "$log"
			fi
			continue
		fi
	fi
	[[ $dev == /dev/qcow2* ]] || fail "attach of image $n printed '$dev'"
	out=$("$bin/fuzz_io" "$dev" "$mode")
	case $? in
	0) outcome=served ;;
	1) outcome=io-error ;;
	*) echo "hang $n during I/O: $out; $desc" >> "$log"; exit 1 ;;
	esac
	[ "$mode" = ro ] && outcome+=-ro
	info=$("$QCOW2CTL" info "$dev" 2>/dev/null)
	re=$'(^|\n)state:[^\n]*corrupt'
	[[ $info =~ $re ]] && outcome+=+corrupt
	if ! "$QCOW2CTL" detach "$dev" 2>/dev/null; then
		outcome+=" detach-failed"
		"$QCOW2CTL" detach --force "$dev" || { echo "hang $n at detach; $desc" >> "$log"; exit 1; }
	fi
	echo "end $n $outcome $desc" >> "$log"
done
echo "qcow2-fuzz: done" > /dev/kmsg
rm -rf "$work"
exit 0
