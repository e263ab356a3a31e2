#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run_tests.sh TEST...
#
# The guest side of the selftests: runs each test (a script or a program
# under selftests/), prints one TAP line per test with the test's output as
# "# " diagnostics, then unloads every module the tests left loaded and
# reports a module that will not unload as a failure. Exit status is 0 only
# if every test passed or was skipped.
#
# Per-test timeout: QCOW2_TEST_TIMEOUT seconds (default 600, three times
# that in the debug guest, where KASAN slows everything down, and for the
# whole matrices of "make check-full"; 5400 for check-full's replay.sh).

cd "$(dirname "$0")" || exit 1
timeout=${QCOW2_TEST_TIMEOUT:-600}
if [ -z "${QCOW2_TEST_TIMEOUT:-}" ] &&
   { [ "${QCOW2_KIND:-}" = debug ] || [ -n "${QCOW2_FULL:-}" ]; }; then
	timeout=1800
fi
n=0
failed=0

echo "TAP version 13"
echo "# kernel $(uname -r)"
for t in "$@"; do
	n=$((n + 1))
	start=$(date +%s)
	limit=$timeout
	# check-full's crash replay: nine cases, some thirty minutes.
	[ "$t" = replay.sh ] && [ -n "${QCOW2_FULL:-}" ] && limit=5400
	timeout -k 10 "$limit" "./$t" > "/tmp/test.$n.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	sed 's/^/# /' "/tmp/test.$n.log"
	case $rc in
	0) echo "ok $n $t # ${secs}s" ;;
	4) echo "ok $n $t # SKIP" ;;
	124) echo "not ok $n $t # TIMEOUT after ${limit}s"; failed=1 ;;
	*) echo "not ok $n $t # exit $rc"; failed=1 ;;
	esac
done

# A module that cannot be unloaded holds a reference it should not.
for m in qcow2_splat qcow2; do
	[ -d "/sys/module/$m" ] || continue
	n=$((n + 1))
	if rmmod "$m" 2> "/tmp/rmmod.log"; then
		echo "ok $n module $m unloads"
	else
		sed 's/^/# /' /tmp/rmmod.log
		echo "not ok $n module $m unloads"
		failed=1
	fi
done
echo "1..$n"
exit $failed
