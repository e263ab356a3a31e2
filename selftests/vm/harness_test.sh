#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The harness's own test: guests in which things go wrong on purpose must
# make run.sh fail, each for the reason provoked. A harness that stopped
# noticing splats would otherwise pass every run. Prints TAP.
#
# QCOW2_KERNELS limits the kernels used, as in scripts/check.sh; the
# KASAN, lockdep and kmemleak cases need the debug kernel.

set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

kernels=${QCOW2_KERNELS:-6.1 6.12 debug}
run=$QCOW2_TOP/selftests/vm/run.sh
n=0
failed=0

# expect NAME KERNEL TIMEOUT GUEST-COMMAND PATTERN...: run.sh must fail and
# its output must match every PATTERN (extended regular expressions).
expect() {
	local name=$1 kernel=$2 timeout=$3 cmd=$4 out pat missing=
	shift 4
	n=$((n + 1))
	out=$("$run" -q -k "$kernel" -t "$timeout" -o "$QCOW2_TOP/build/vm/harness-$kernel-$n" \
	      -c "$cmd" 2>&1)
	local rc=$?
	for pat in "$@"; do
		grep -qE -- "$pat" <<< "$out" || missing+=" '$pat'"
	done
	if [ "$rc" != 0 ] && [ -z "$missing" ]; then
		echo "ok $n $name"
	else
		echo "$out" | sed 's/^/# /'
		[ "$rc" = 0 ] && echo "# run.sh passed a guest that should fail"
		[ -n "$missing" ] && echo "# output lacks$missing"
		echo "not ok $n $name"
		failed=1
	fi
}

has() { [[ " $kernels " == *" $1 "* ]]; }

stock=
has 6.1 && stock=6.1
has 6.12 && stock=6.12

if [ -n "$stock" ]; then
	expect "a failing test and a WARNING fail the run" $stock 300 \
		"PROVOKE=warn selftests/run_tests.sh splat/provoke.sh" \
		'^not ok - [0-9.]+: splat/provoke.sh' \
		'kernel log has splats: .*WARNING'

	expect "a double free in a bio cache fails the run (SLUB's checks)" $stock 300 \
		"PROVOKE=slub selftests/run_tests.sh splat/provoke.sh" \
		'kernel log has splats: .*BUG.*bio-qcow2-splat'

	expect "an oops fails the run although the guest never reports back" $stock 300 \
		"PROVOKE=oops selftests/run_tests.sh splat/provoke.sh" \
		'guest died before reporting back' \
		'kernel log has splats: .*Oops.*RIP [a-z_]+\+0x'

	expect "a guest that hangs fails the run at the timeout" $stock 40 \
		"sleep 600" \
		'did not report back within 40 s'
fi

if has debug; then
	# lockdep first: a KASAN report taints the kernel, which turns lockdep off.
	expect "KASAN, lockdep, kmemleak and a pinned module fail the run" debug 1200 \
		"PROVOKE=lockdep,kasan,leak,pin selftests/run_tests.sh splat/provoke.sh" \
		'not ok - debug: module qcow2_splat unloads' \
		'kernel log has splats: .*KASAN' \
		'kernel log has splats: .*lockdep' \
		'kernel log has splats: .*kmemleak'
fi

# And the other side: a guest where nothing goes wrong passes (the debug
# guest's own selftests show that for the debug kernel).
if [ -n "$stock" ]; then
	n=$((n + 1))
	if "$run" -q -k $stock -t 300 -o "$QCOW2_TOP/build/vm/harness-$stock-$n" -c true > /dev/null 2>&1; then
		echo "ok $n a quiet guest passes"
	else
		echo "not ok $n a quiet guest passes"
		failed=1
	fi
fi

echo "1..$n"
exit $failed
