#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests/fuzz/run.sh [-t SECONDS] [TARGET...]
#
# The libFuzzer targets of the format code (selftests/fuzz/fuzz_*.c), one
# TAP line each. Builds them into build/fuzz/ if needed and makes their
# seed corpus from qemu-img's images (corpus.sh).
#
# Without -t, the regression run of "make check": each target runs
# deterministically (-seed=1) for a fixed number of inputs, its seeds
# first, then mutations of them; what it finds new is thrown away, so every
# run is the same run. About a minute on the project's 2-core machine.
#
# With -t SECONDS ("make fuzz"), each target runs that long, one after the
# other, and keeps what it finds new in build/fuzz/corpus-TARGET/, so that
# the next run starts from there; the executions per target are printed at
# the end.
#
# A crash, a sanitizer report or a violated invariant is "not ok" with the
# reproducer, written to build/fuzz/artifacts-TARGET/crash-*, and its stack.
# Reproduce it with: build/fuzz/fuzz_TARGET build/fuzz/artifacts-TARGET/crash-*
# TARGET... limits the run to those targets (header, snapshot, entries,
# refcount, layout, compressed).

set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/fuzz

time=
if [ "${1:-}" = -t ]; then
	time=${2:?usage: run.sh [-t SECONDS] [TARGET...]}
	shift 2
fi

# Inputs per target in the regression run, seeds included: 9 to 11 s each
# on the project's 2-core machine with a TCG guest beside it, as in
# "make check" (README, "How long").
declare -A runs=(
	[header]=2000000 [snapshot]=1500000 [entries]=150000
	[refcount]=40000 [layout]=100000 [compressed]=500000
)
# The longest input each target reads (4 KiB tables and their parameters).
declare -A max_len=(
	[header]=4104 [snapshot]=8201 [entries]=4106
	[refcount]=4105 [layout]=65 [compressed]=4105
)
targets=(header snapshot entries refcount layout compressed)
[ $# -gt 0 ] && targets=("$@")

mkdir -p "$out"
if ! make -s -C "$top" fuzz-build > "$out/build.log" 2>&1 ||
   ! "$top/selftests/fuzz/corpus.sh" "$out" > "$out/corpus.log" 2>&1; then
	echo "1..1"
	echo "not ok - fuzz targets and seed corpus"
	cat "$out/build.log" "$out/corpus.log" 2>/dev/null | tail -n 40 | sed 's/^/# /'
	exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
# Stacks with function names and lines: llvm-14's symbolizer, which is
# not on PATH unless Debian's "llvm" package is installed too.
sym=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$sym" ] && export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$sym}

echo "1..${#targets[@]}"
failed=0 summary=
for t in "${targets[@]}"; do
	log=$out/fuzz_$t.log
	seeds=$out/seeds-$t
	mkdir -p "$out/artifacts-$t"
	if [ -n "$time" ]; then
		corpus=$out/corpus-$t
		mkdir -p "$corpus"
		args=(-max_total_time="$time" "$corpus" "$seeds")
	else
		# New inputs go to a scratch directory, thrown away.
		corpus=$out/scratch-$t
		rm -rf "$corpus"
		mkdir -p "$corpus"
		args=(-seed=1 -runs="${runs[$t]}" "$corpus" "$seeds")
	fi
	start=$(date +%s)
	"$out/fuzz_$t" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/artifacts-$t/" -print_final_stats=1 \
		"${args[@]}" > "$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	[ -z "$time" ] && rm -rf "$corpus"
	if [ $rc = 0 ]; then
		echo "ok - $t # ${execs:-?} inputs in $secs s, $(ls "$seeds" | wc -l) seeds"
	else
		failed=1
		repro=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
		if [ -n "$repro" ]; then
			repro="reproducer ${repro#"$top"/}"
		else
			repro="exit status $rc, no reproducer"
		fi
		echo "not ok - $t # $repro, log ${log#"$top"/}"
		# The report: what was violated, and the stack of the project's
		# own code, without libFuzzer's progress lines and frames.
		grep -E 'invariant violated|ERROR:|runtime error|allocated by|freed by|SUMMARY|^ *#[0-9]+ .*(selftests|driver)/' "$log" |
			sed "s|$top/||g; s/^/# /" | head -n 40
	fi
	summary+=$(printf '%-12s %12s executions in %5s s, corpus %s\n' "$t" \
		"${execs:-?}" "$secs" "$(ls "$corpus" 2>/dev/null | wc -l)")
	summary+=$'\n'
done
if [ -n "$time" ]; then
	echo "# executions per target ($time s each):"
	printf '%s' "$summary" | sed 's/^/#   /'
fi
exit $failed
