#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# durability.sh [-k KERNEL] [SCENARIO...]
#
# Power-loss tests, two guest boots each on one scratch disk: the first
# writes durable records through /dev/qcow2N and is killed without
# detaching (QEMU killed by the host: no sync, no unmount), the second
# checks the image it left
# (selftests/durability/). Scenarios: "idle" (killed after the last record)
# and "run:SECS" (killed SECS seconds into a running workload); default:
# idle run:3 run:8 run:15. Prints TAP.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind=6.12
while getopts "k:" opt; do
	case $opt in
	k) kind=$OPTARG ;;
	*) sed -n '4,12s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- idle run:3 run:8 run:15

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
n=0
for s in "$@"; do
	rm -f "$work/disk"
	n=$((n + 1))
	if ! out=$("$here/run.sh" -q -k "$kind" -d "$work/disk" -x -o "$here/../../build/vm/durability-$kind/$n-write" \
		-c "bash selftests/durability/write.sh $s" 2>&1); then
		echo "not ok - $kind: durability $s: first boot"
		sed 's/^/# /' <<< "$out"
		fail=1
		continue
	fi
	if out=$("$here/run.sh" -k "$kind" -d "$work/disk" -o "$here/../../build/vm/durability-$kind/$n-check" \
		-c "bash selftests/durability/check.sh" 2>&1); then
		echo "ok - $kind: durability $s: $(grep -o '[0-9]* records durable' <<< "$out")"
	else
		echo "not ok - $kind: durability $s"
		sed 's/^/# /' <<< "$out" | tail -n 40
		fail=1
	fi
done
exit $fail
