#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "make bench": boot a guest (Debian's 6.12 kernel; BENCH_KERNEL=6.1 for
# the other), run bench/guest.sh in it and write bench/results.md and
# bench/results.png from its figures. The raw figures stay in
# build/bench/KERNEL/bench.tsv. See bench/guest.sh for the knobs
# (BENCH_RUNS, BENCH_RUNTIME, ...); BENCH_RESULTS=DIR writes the report
# elsewhere (a narrowed run should not replace the published one).

set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
cd "$QCOW2_TOP"

kernel=${BENCH_KERNEL:-6.12}
results=${BENCH_RESULTS:-bench}
scripts/deps.sh
make -s qcow2ctl

env=
for v in BENCH_RUNS BENCH_RUNTIME BENCH_SIZE BENCH_STATES BENCH_WORKLOADS \
	 BENCH_TARGETS BENCH_PARTS BENCH_CSIZE BENCH_CHSIZE; do
	[ -n "${!v:-}" ] && env+="$v=$(printf %q "${!v}") "
done
out=build/bench/$kernel
mkdir -p build/bench
log "benchmark in a Debian $kernel guest (about 45 minutes with the defaults)"
selftests/vm/run.sh -k "$kernel" -t 10800 -m 2G -o "$out" \
	-c "${env}bench/guest.sh" > "$out.log" 2>&1 || {
	cat "$out.log" >&2
	die "the benchmark guest failed (logs in $out)"
}
cp "$out/share/bench.tsv" "$out/bench.tsv"
mkdir -p "$results"
bench/report.sh "$out/bench.tsv" "$results/results.md" "$results/results.png"
log "wrote $results/results.md and $results/results.png"
