#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "make check": install what is missing, build for every supported kernel,
# run the unit tests on the host and the selftests in a guest of each
# kernel, test the harness itself, and end with one line
# "N passed, N failed, N skipped". Exit status 0 only if nothing failed.
#
# QCOW2_KERNELS limits the guest kernels (default "6.1 6.12 debug").
# QCOW2_FULL=1 ("make check-full") runs every test whole on both stock
# kernels, every test (in its slices) on the debug kernel and every
# durability case; "make check" runs the stated slices (README).

set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$QCOW2_TOP" || exit 1

kernels=${QCOW2_KERNELS:-6.1 6.12 debug}
logdir=$QCOW2_TOP/build/check
rm -rf "$logdir"
mkdir -p "$logdir"
results=$logdir/results
: > "$results"
t0=$(date +%s)
lane=main

# section NAME: a heading with the time since the start; each lane also
# notes when its sections begin, for the table of section times at the end.
section() {
	local now=$(( $(date +%s) - t0 ))
	printf '\n=== %s (%d s)\n' "$*" "$now"
	echo "$now|$*" >> "$logdir/sections.$lane"
}

# section_times LANE: how long each of a lane's sections took, up to its last one.
section_times() {
	local prev= name= at
	while IFS='|' read -r at what; do
		[ -n "$prev" ] && printf '  %-50s %5d s\n' "$name" $((at - prev))
		prev=$at name="$1: $what"
	done < "$logdir/sections.$1"
}

# record ok|not ok|skip NAME
record() {
	echo "$1|$2" >> "$results"
	case $1 in
	ok) echo "ok - $2" ;;
	skip) echo "ok - $2 # SKIP" ;;
	*) echo "not ok - $2" ;;
	esac
}

# step NAME COMMAND...: one result for one command; its output goes to a log.
step() {
	local name=$1 log
	shift
	log=$logdir/$(echo "$name" | tr -c 'A-Za-z0-9.\n-' _).log
	if "$@" > "$log" 2>&1; then
		record ok "$name"
	else
		record "not ok" "$name"
		tail -n 30 "$log" | sed 's/^/# /'
	fi
}

# tap PREFIX COMMAND...: one result per top-level TAP line the command
# prints; its whole output is kept in a log and shown for failures.
tap() {
	local prefix=$1 log line name rc
	shift
	log=$logdir/$(echo "$prefix $lane $*" | tr -c 'A-Za-z0-9.\n-' _ | cut -c1-100).tap
	"$@" > "$log" 2>&1
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*) name=${line#ok }; record skip "$prefix: ${name%% # SKIP*}" ;;
		"ok "*) name=${line#ok }; record ok "$prefix: ${name%% # *}" ;;
		"not ok "*) name=${line#not ok }; record "not ok" "$prefix: ${name%% # *}" ;;
		esac
	done < <(grep -E '^(not )?ok ' "$log" | sed -E 's/^((not )?ok) ([0-9]+|-) /\1 /')
	# A command that failed without a failing TAP line still fails.
	if [ "$rc" != 0 ] && ! grep -qE '^not ok ' "$log"; then
		record "not ok" "$prefix: exited with status $rc"
	fi
	if [ "$rc" != 0 ]; then
		grep -vE '^ok ' "$log" | tail -n 60 | sed 's/^/# /'
	fi
	# A boot that died before any test ran is retried once (run.sh): say so.
	grep -a 'died while booting' "$log" || true
}

section "packages"
step "Debian packages installed" scripts/deps.sh
if ! tail -n 1 "$results" | grep -q '^ok|'; then
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

section "builds"
step "userspace builds (-Werror)" make -s tools
step "checkpatch clean" scripts/checkpatch.sh
stock=()
for k in $kernels; do
	[ "$k" = debug ] && continue
	stock+=("$k")
	krel=$(stock_kernels | grep -E "^${k//./\\.}[.-]")
	kdir=$(kdir_of "$krel") || { record "not ok" "headers for $k"; continue; }
	step "qcow2.ko builds for $krel with W=1, no warnings" \
		scripts/build-module.sh "$kdir"
	step "test modules build for $krel" \
		scripts/build-module.sh "$kdir" selftests/splat
done

# The rest runs in two lanes side by side: a TCG guest keeps about one of
# the two CPUs busy, so the debug kernel's build and guest (the longest
# lane) overlap the unit tests and the stock kernels' guests. The debug lane prints and
# records into files of its own, shown when it has finished.
debug_lane() {
	local kdir krel
	lane=debug
	results=$logdir/results.debug
	: > "$results"
	section "debug kernel (built once, then cached) and modules"
	# The one slow step of a cold run, then cached.
	step "debug kernel built from linux-source-6.12" selftests/vm/debug-kernel.sh
	kdir=$(selftests/vm/debug-kernel.sh 2>/dev/null) || return 0
	krel=$(kernel_release "$kdir")
	step "qcow2.ko builds for $krel with W=1, no warnings" \
		scripts/build-module.sh "$kdir"
	step "test modules build for $krel" \
		scripts/build-module.sh "$kdir" selftests/splat
	section "selftests in the debug guest"
	local tests=()
	# The tests that reach driver code (selftests/Makefile, DEBUG_PROGS);
	# check-full runs all of them.
	[ -z "${QCOW2_FULL:-}" ] &&
		read -ra tests <<< "$(make -s -C selftests list-debug)"
	tap "guest" selftests/vm/run.sh -q -k debug "${tests[@]}"
	# Mutated images under KASAN, lockdep and kmemleak: some four
	# seconds each; check-full tries more.
	section "image fuzzing in the debug guest"
	local images=200
	[ -n "${QCOW2_FULL:-}" ] && images=600
	tap "fuzz-images" selftests/vm/fuzz-images.sh -k debug -n $images
	# The stock kernels' cases too: with the debug kernel cached this
	# lane ends some ten minutes before the main lane (README, How long).
	section "the harness's own test, debug and stock kernels"
	QCOW2_KERNELS="debug ${stock[*]}" tap "harness" selftests/vm/harness_test.sh
	section "debug lane done"
}

dpid=
if [[ " $kernels " == *" debug "* ]]; then
	section "debug lane started (shown when done)"
	debug_lane > "$logdir/debug-lane.out" 2>&1 &
	dpid=$!
fi

section "unit tests (host)"
tap "unit" selftests/unit/run.sh

# Before the guests: selftests/packages.sh boots into what this installs.
section "packages: make deb, lintian, install with DKMS (host)"
tap "install" scripts/install-test.sh

section "fuzzing regression (host)"
tap "fuzz" selftests/fuzz/run.sh

for k in "${stock[@]}"; do
	section "selftests in the $k guest"
	tests=()
	# 6.1 runs the tests that reach what differs between the kernels
	# (selftests/Makefile, COMPAT_PROGS); 6.12 those the debug guest, of
	# the same source, does not run (STOCK_PROGS), or all of them without
	# a debug guest; check-full runs all of them.
	if [ -z "${QCOW2_FULL:-}" ]; then
		if [ "$k" = 6.1 ]; then
			read -ra tests <<< "$(make -s -C selftests list-compat)"
		elif [ "$k" = 6.12 ] && [ -n "$dpid" ]; then
			read -ra tests <<< "$(make -s -C selftests list-stock)"
		fi
	fi
	tap "guest" selftests/vm/run.sh -q -k "$k" "${tests[@]}"
done

for k in "${stock[@]}"; do
	# Two boots per case; 6.1 runs two of the four cases in "make check"
	# (README).
	cases=
	[ "$k" = 6.1 ] && [ -z "${QCOW2_FULL:-}" ] && cases="idle run:8"
	section "durability in $k guests"
	tap "durability" selftests/vm/durability.sh -k "$k" $cases
done

if [ ${#stock[@]} -gt 0 ] && [ -z "$dpid" ]; then
	section "the harness's own test, stock kernels"
	QCOW2_KERNELS="${stock[*]}" tap "harness" selftests/vm/harness_test.sh
fi

if [ -n "$dpid" ]; then
	section "waiting for the debug lane"
	wait "$dpid"
	cat "$logdir/debug-lane.out"
	cat "$logdir/results.debug" >> "$results"
fi

section "done"
echo "Section times (the two lanes overlap):"
section_times main
[ -n "$dpid" ] && section_times debug

pass=$(grep -c '^ok|' "$results")
fail=$(grep -c '^not ok|' "$results")
skip=$(grep -c '^skip|' "$results")
if [ "$fail" != 0 ]; then
	echo "Failed:"
	grep '^not ok|' "$results" | cut -d'|' -f2 | sed 's/^/  /'
fi
echo "logs in $logdir; $(( $(date +%s) - t0 )) s"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
