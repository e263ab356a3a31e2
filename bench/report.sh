#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# report.sh RAW.tsv MARKDOWN PNG: the medians of bench/guest.sh's figures as
# a Markdown table (with ratios and the targets of issue 5) and a bar chart
# of every device's throughput relative to loop's.

set -euo pipefail
raw=$1 md=$2 png=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

infos() { awk -F'\t' -v k="$1" '$1 == "info" && $2 == k { print $3 }' "$raw"; }

# Medians: one line per state/workload/target with the IOPS and MiB/s of
# the run whose IOPS is the median (so the two numbers belong together).
awk -F'\t' '$1 == "fio" { print $2, $3, $4, $6, $7 }' "$raw" |
	sort -k1,1 -k2,2 -k3,3 -k4,4g |
	awk '{ k = $1 " " $2 " " $3; n[k]++; v[k, n[k]] = $4 " " $5 }
	     END { for (k in n) print k, v[k, int((n[k] + 1) / 2)], n[k] }' > "$tmp/med"

fig() { # STATE WORKLOAD TARGET: "IOPS MiB/s RUNS" or nothing
	awk -v s="$1" -v w="$2" -v t="$3" '$1 == s && $2 == w && $3 == t { print $4, $5, $6 }' "$tmp/med"
}

{
	echo "# Benchmark results"
	echo
	echo "Made by \`make bench\` on $(infos date): Debian guest kernel $(infos kernel),"
	echo "QEMU TCG with $(infos cpus) vCPUs on this project's 2-core machine, images on ext4 on a"
	echo "virtio disk (cache=none). $(infos fio), $(infos qemu | sed 's/ (.*//')."
	echo "Every figure is the median of $(infos runs) runs of $(infos runtime) s (fio, libaio, direct=1) on $(infos size) images."
	echo
	echo "- **loop**: \`losetup --direct-io=on\` over a raw file (fresh: sparse; prealloc: fallocated; full: written)."
	echo "- **qcow2**: \`/dev/qcow2N\` over a qcow2 image (fresh: empty; prealloc: \`qcow2ctl create --prealloc=metadata\`;"
	echo "  falloc, when measured: \`--prealloc=falloc\`; full: every cluster written)."
	echo "- **nbd**: \`qemu-nbd --cache=none --aio=native\` over the same kind of qcow2 image."
	echo "- Fresh and prealloc images are made anew for each job; their write jobs stop after one pass, so every"
	echo "  write is a first write. 4k workloads are in IOPS, 1 MiB workloads in MiB/s."
	echo "- Targets (issue 5): on prealloc and full images 0.9x loop or better; fresh random writes 0.8x loop (sparse"
	echo "  raw) or better; everything 4x qemu-nbd or better."
	echo
	echo "- loop / nbd is the ceiling for qcow2 / nbd where loop, doing the same file I/O without any mapping,"
	echo "  is the fastest a driver of this kind can be."
	echo
	echo "| image | workload | loop | /dev/qcow2N | qemu-nbd | qcow2 / loop | qcow2 / nbd | loop / nbd | targets |"
	echo "|---|---|---|---|---|---|---|---|---|"
} > "$md"
: > "$tmp/chart.dat"

for state in fresh prealloc falloc full; do
	for w in randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 \
		 randrw-4k-4x32 read-1m-qd8 write-1m-qd8; do
		l=$(fig $state $w loop) q=$(fig $state $w qcow2) n=$(fig $state $w nbd)
		[ -n "$q" ] || continue
		case $w in
		*-4k-*) col=1 unit=IOPS ;;
		*) col=2 unit=MiB/s ;;
		esac
		awk -v s=$state -v w=$w -v c=$col -v u="$unit" \
		    -v l="$l" -v q="$q" -v n="$n" -v dat="$tmp/chart.dat" '
		function val(x,  a) { if (x == "") return ""; split(x, a, " "); return a[c] + 0 }
		function show(x) { return x == "" ? "-" : sprintf(u == "IOPS" ? "%.0f %s" : "%.1f %s", x, u) }
		function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
		BEGIN {
			L = val(l); Q = val(q); N = val(n)
			miss = ""
			need = ""
			if (s != "fresh") need = 0.9
			else if (w ~ /write|randrw/) need = 0.8
			if (need != "" && L != "" && Q / L < need) miss = miss sprintf(" <%.1fx loop", need)
			if (N != "" && Q / N < 4) miss = miss " <4x nbd"
			verdict = (L == "" && N == "") ? "-" : (miss == "" ? "met" : "missed:" miss)
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s, w, show(L), show(Q), show(N),
			       ratio(Q, L), ratio(Q, N), ratio(L, N), verdict
			if (L != "" && L > 0 && N != "")
				printf "\"%s %s\" %.3f %.3f\n", s, w, Q / L, N / L >> dat
		}' >> "$md"
	done
done

if grep -q '^create' "$raw"; then
	{
		echo
		echo "## Creating metadata-preallocated images"
		echo
		echo "Median wall time of $(infos runs) runs, fsync included, page cache dropped before each, 64 KiB clusters."
		echo
		echo "| size | \`qcow2ctl create --prealloc=metadata\` | \`qemu-img create -o preallocation=metadata\` | qemu-img / qcow2ctl |"
		echo "|---|---|---|---|"
	} >> "$md"
	for s in 64G 1T; do
		k=$(awk -F'\t' -v s=$s '$1 == "create" && $2 == s && $3 == "qcow2ctl" { print $5 }' "$raw" |
			sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		m=$(awk -F'\t' -v s=$s '$1 == "create" && $2 == s && $3 == "qemu-img" { print $5 }' "$raw" |
			sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		[ -n "$k" ] && [ -n "$m" ] &&
			awk -v s=$s -v k="$k" -v m="$m" 'BEGIN { printf "| %s | %.2f s | %.2f s | %.1f |\n", s, k, m, m / k }' >> "$md"
	done
fi

if grep -q '^mem' "$raw"; then
	mem() { awk -F'\t' -v w="$1" -v t="$2" '$1 == "mem" && $2 == w && $3 == t { printf "%.1f MiB", $4 / 1048576 }' "$raw"; }
	{
		echo
		echo "## Memory per attached device"
		echo
		echo "64 GiB metadata-preallocated image, 64 KiB clusters, default caches (L2 4 MiB, refcounts 1 MiB)."
		echo "/dev/qcow2N: growth of the kernel memory /proc/meminfo attributes (SUnreclaim, VmallocUsed, PageTables,"
		echo "KernelStack, Percpu) with 8 devices attached, divided by 8; blk-mq's request pools (page allocations those"
		echo "counters leave out) are not in it. qemu-nbd: the server's resident size (shared libraries included)."
		echo "\"L2 cache full\": after reading one block in every 512 MiB (every L2 table)."
		echo
		echo "| | /dev/qcow2N (kernel) | qemu-nbd (process) |"
		echo "|---|---|---|"
		echo "| attached, idle | $(mem idle qcow2) | $(mem idle nbd) |"
		echo "| L2 cache full | $(mem cache-full qcow2) | $(mem cache-full nbd) |"
	} >> "$md"
fi

if grep -q '^cfio' "$raw"; then
	awk -F'\t' '$1 == "cfio" { print $2, $3, $4, $6, $7 }' "$raw" |
		sort -k1,1 -k2,2 -k3,3 -k4,4g |
		awk '{ k = $1 " " $2 " " $3; n[k]++; v[k, n[k]] = $4 " " $5 }
		     END { for (k in n) print k, v[k, int((n[k] + 1) / 2)], n[k] }' > "$tmp/cmed"
	cfig() { awk -v s="$1" -v w="$2" -v t="$3" '$1 == s && $2 == w && $3 == t { print $4, $5 }' "$tmp/cmed"; }
	{
		echo
		echo "## Compressed images"
		echo
		echo "$(($(infos compressed-source) >> 20)) MiB of the guest's /usr (programs, libraries, text) converted"
		echo "with \`qemu-img convert -c\` (64 KiB clusters): zlib $(($(infos compressed-zlib) >> 20)) MiB,"
		echo "zstd $(($(infos compressed-zstd) >> 20)) MiB. /dev/qcow2N and qemu-nbd read the compressed image, loop the raw"
		echo "source (nothing to decompress: the ceiling). read-4k-qd1 is a sequential scan in 4 KiB reads."
		echo "Target (issue 13): /dev/qcow2N at least as fast as qemu-nbd on every row."
		echo
		echo "| type | workload | loop (raw) | /dev/qcow2N | qemu-nbd | qcow2 / nbd | qcow2 / loop | target |"
		echo "|---|---|---|---|---|---|---|---|"
	} >> "$md"
	for type in zlib zstd; do
		for w in read-4k-qd1 randread-4k-qd1 randread-4k-qd32 read-1m-qd8; do
			l=$(cfig $type $w loop) q=$(cfig $type $w qcow2) n=$(cfig $type $w nbd)
			[ -n "$q" ] || continue
			case $w in
			*-4k-*) col=1 unit=IOPS ;;
			*) col=2 unit=MiB/s ;;
			esac
			awk -v s=$type -v w=$w -v c=$col -v u="$unit" -v l="$l" -v q="$q" -v n="$n" '
			function val(x,  a) { if (x == "") return ""; split(x, a, " "); return a[c] + 0 }
			function show(x) { return x == "" ? "-" : sprintf(u == "IOPS" ? "%.0f %s" : "%.1f %s", x, u) }
			function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
			BEGIN {
				L = val(l); Q = val(q); N = val(n)
				verdict = N == "" ? "-" : (Q >= N ? "met" : "missed: <1x nbd")
				printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", s, w, show(L), show(Q), show(N),
				       ratio(Q, N), ratio(Q, L), verdict
			}' >> "$md"
		done
	done
fi

if grep -q '^chfio' "$raw"; then
	awk -F'\t' '$1 == "chfio" { print $2, $3, $4, $6, $7 }' "$raw" |
		sort -k1,1 -k2,2 -k3,3 -k4,4g |
		awk '{ k = $1 " " $2 " " $3; n[k]++; v[k, n[k]] = $4 " " $5 }
		     END { for (k in n) print k, v[k, int((n[k] + 1) / 2)], n[k] }' > "$tmp/chmed"
	chfig() { awk -v w="$1" -v t="$2" '$1 == "chain" && $2 == w && $3 == t { print $4, $5 }' "$tmp/chmed"; }
	{
		echo
		echo "## A backing chain of three levels"
		echo
		echo "$(($(infos chain-size) >> 20)) MiB of the guest's /usr in a qcow2 base, two qcow2 overlays above it each"
		echo "holding a third of the clusters (256 KiB extents), 64 KiB clusters. /dev/qcow2N and qemu-nbd read the"
		echo "top of the chain, loop a raw copy of it (the ceiling: one file, no lookups). randwrite-4k-qd32 writes"
		echo "to a new empty overlay over the three levels, made anew for each run: first writes, each copying its"
		echo "cluster from below (loop has no such row)."
		echo
		echo "| workload | loop (flat raw) | /dev/qcow2N | qemu-nbd | qcow2 / nbd | qcow2 / loop |"
		echo "|---|---|---|---|---|---|"
	} >> "$md"
	for w in randread-4k-qd1 randread-4k-qd32 read-1m-qd8 randwrite-4k-qd32; do
		l=$(chfig $w loop) q=$(chfig $w qcow2) n=$(chfig $w nbd)
		[ -n "$q" ] || continue
		case $w in
		*-4k-*) col=1 unit=IOPS ;;
		*) col=2 unit=MiB/s ;;
		esac
		awk -v w=$w -v c=$col -v u="$unit" -v l="$l" -v q="$q" -v n="$n" '
		function val(x,  a) { if (x == "") return ""; split(x, a, " "); return a[c] + 0 }
		function show(x) { return x == "" ? "-" : sprintf(u == "IOPS" ? "%.0f %s" : "%.1f %s", x, u) }
		function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
		BEGIN {
			L = val(l); Q = val(q); N = val(n)
			printf "| %s | %s | %s | %s | %s | %s |\n", w, show(L), show(Q), show(N), ratio(Q, N), ratio(Q, L)
		}' >> "$md"
	done
fi

if grep -q '^dtime' "$raw"; then
	# Medians of the times and of the reuse rows.
	awk -F'\t' '$1 == "dtime" { print $2, $3, $5 } $1 == "dfio" { print $2, $4, $6 }' "$raw" |
		sort -k1,1 -k2,2 -k3,3g |
		awk '{ k = $1 " " $2; n[k]++; v[k, n[k]] = $3 }
		     END { for (k in n) print k, v[k, int((n[k] + 1) / 2)] }' > "$tmp/dmed"
	dfig() { awk -v w="$1" -v t="$2" '$1 == w && $2 == t { print $3 }' "$tmp/dmed"; }
	{
		echo
		echo "## Discard and reuse"
		echo
		echo "A device of $(infos size) over a fresh image (loop: a sparse raw file; qemu-nbd with --discard=unmap)."
		echo "fstrim: ext4, $(infos dfiles) files of 256 KiB written and deleted, then fstrim and a flush. blkdiscard: the"
		echo "whole device with 1 GiB written, then a flush. reuse: 4 KiB random writes, queue depth 32, one pass"
		echo "over 1 GiB that was written and discarded (every write takes a freed cluster). Times: lower is better."
		echo
		echo "| what | loop | /dev/qcow2N | qemu-nbd | qcow2 vs nbd | qcow2 vs loop |"
		echo "|---|---|---|---|---|---|"
	} >> "$md"
	for w in fstrim blkdiscard reuse; do
		l=$(dfig $w loop) q=$(dfig $w qcow2) n=$(dfig $w nbd)
		[ -n "$q" ] || continue
		# Times: speed-up is the other's time over ours; IOPS: ours over theirs.
		awk -v w=$w -v l="$l" -v q="$q" -v n="$n" '
		function show(x) { return x == "" ? "-" : (w == "reuse" ? sprintf("%.0f IOPS", x) : sprintf("%.2f s", x)) }
		function ratio(a, b) { if (a == "" || b == "" || a == 0 || b == 0) return "-"
			return sprintf("%.2fx", w == "reuse" ? a / b : b / a) }
		BEGIN { printf "| %s | %s | %s | %s | %s | %s |\n", w == "reuse" ? "reuse randwrite-4k-qd32" : w,
			show(l), show(q), show(n), ratio(q, n), ratio(q, l) }' >> "$md"
	done
fi

if [ -r "$here/notes.md" ]; then
	{ echo; cat "$here/notes.md"; } >> "$md"
fi

# The chart shows the rows that have all three targets.
if [ -s "$tmp/chart.dat" ]; then
	gnuplot -e "datafile='$tmp/chart.dat'; outfile='$png'; subtitle='$(infos kernel), $(infos date), median of $(infos runs)'" \
		"$here/chart.gp"
fi
