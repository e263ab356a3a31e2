#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The measuring half of "make bench", run inside a guest by bench/run.sh.
# Every figure goes to $BENCH_OUT as one tab-separated line; bench/report.sh
# turns them into bench/results.md and the chart.
#
#   fio STATE WORKLOAD TARGET RUN IOPS MiB/s
#   cfio TYPE WORKLOAD TARGET RUN IOPS MiB/s   (compressed images)
#   chfio chain WORKLOAD TARGET RUN IOPS MiB/s (a 3-level backing chain)
#   dtime WHAT TARGET RUN SECONDS                (discard: fstrim, blkdiscard)
#   dfio reuse WORKLOAD TARGET RUN IOPS MiB/s    (writes after a discard)
#   create SIZE TOOL RUN SECONDS
#   mem WHAT TARGET BYTES
#   info KEY VALUE
#
# Targets: loop (losetup --direct-io=on over a raw file), qcow2 (this
# driver) and nbd (qemu-nbd --cache=none --aio=native over the same qcow2
# image). Image states: fresh (an empty image; raw: a sparse file), prealloc
# (qcow2ctl create --prealloc=metadata; raw: fallocated) and full (every
# byte written once; raw: the same); on request also falloc (qcow2ctl
# create --prealloc=falloc; raw: fallocated), the like-for-like comparison
# of prealloc. Fresh and preallocated images are made anew for every fio
# job, so each job's writes are first writes.
#
# Compressed images (part "compressed"): BENCH_CSIZE (512M) of programs,
# libraries and text from the guest's /usr, converted with qemu-img
# convert -c (zlib, then zstd; 64 KiB clusters); qcow2 and nbd read that
# image, loop the raw source (the ceiling: the same bytes, nothing to
# decompress).
#
# A backing chain (part "chain"): BENCH_CHSIZE (1G) of the same kind of
# data in a qcow2 base, two qcow2 overlays above it each holding a third of
# the clusters in 256 KiB extents; qcow2 and nbd read the top, loop a raw
# copy of it (the ceiling). First writes (4 KiB, queue depth 32) go to a
# new empty overlay on top of the three levels, made anew for each job, so
# each write copies its cluster from below.
#
# Discard (part "discard"), on a device of BENCH_SIZE over a fresh image
# (loop: a sparse raw file, which loop punches; qemu-nbd with
# --discard=unmap): fstrim of an ext4 file system from which BENCH_DFILES
# (2000) files of 256 KiB were deleted; blkdiscard of the whole device with
# 1 GiB written; and 4 KiB random writes (queue depth 32, one pass) over
# 1 GiB that was written and then discarded, so that every write takes a
# cluster the discard freed. Each time includes a flush afterwards: that is
# when the driver gives the clusters back.
#
# BENCH_RUNS (3), BENCH_RUNTIME (seconds per fio job, 3), BENCH_SIZE (8G),
# BENCH_STATES, BENCH_WORKLOADS, BENCH_TARGETS and BENCH_PARTS ("fio create
# mem compressed chain discard") narrow a run down. BENCH_PARTS=profile runs the first state,
# workload and target under "perf record -a -g" and prints where the time
# went (the kernel's symbols and the driver's, by self time and by caller).
. "$(dirname "$0")/../selftests/lib.sh"

runs=${BENCH_RUNS:-3}
runtime=${BENCH_RUNTIME:-3}
size=${BENCH_SIZE:-8G}
states=${BENCH_STATES:-fresh prealloc full}
targets=${BENCH_TARGETS:-loop qcow2 nbd}
parts=${BENCH_PARTS:-fio create mem compressed chain discard}
dfiles=${BENCH_DFILES:-2000}
csize=${BENCH_CSIZE:-512M}
chsize=${BENCH_CHSIZE:-1G}
out=${BENCH_OUT:-/run/qcow2-out/bench.tsv}

# name: fio --rw, --bs, --iodepth, --numjobs
declare -A wl=(
	[randread-4k-qd1]="randread 4k 1 1"
	[randread-4k-qd32]="randread 4k 32 1"
	[randwrite-4k-qd1]="randwrite 4k 1 1"
	[randwrite-4k-qd32]="randwrite 4k 32 1"
	[randrw-4k-4x32]="randrw 4k 32 4"
	[read-1m-qd8]="read 1M 8 1"
	[read-4k-qd1]="read 4k 1 1"
	[write-1m-qd8]="write 1M 8 1"
)
workloads=${BENCH_WORKLOADS:-randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 randrw-4k-4x32 read-1m-qd8 write-1m-qd8}

module_load
scratch_setup
dir=$SCRATCH
modprobe -q loop
modprobe -q nbd nbds_max=4 || fail "no nbd module"

emit() { local IFS=$'\t'; echo "$*" >> "$out"; }

: > "$out"
emit info kernel "$(uname -r)"
emit info date "$(date -u +%Y-%m-%d)"
emit info fio "$(fio --version)"
emit info qemu "$(qemu-img --version | head -n 1)"
emit info runtime "$runtime"
emit info size "$size"
emit info runs "$runs"
emit info cpus "$(nproc)"

loopdev=
nbdpid=$dir/nbd.pid
qdev=

nbd_stop() {
	local i pid
	[ -e "$nbdpid" ] || return 0
	pid=$(cat "$nbdpid")
	qemu-nbd -d /dev/nbd0 > /dev/null 2>&1
	# The server flushes and closes the image after the disconnect.
	for i in $(seq 100); do
		kill -0 "$pid" 2> /dev/null || break
		sleep 0.1
	done
	rm -f "$nbdpid"
}

scratch_cleanup_hook() {
	nbd_stop
	[ -n "$loopdev" ] && losetup -d "$loopdev" 2> /dev/null
	return 0
}

# start TARGET IMAGE: attach IMAGE; the device in DEV.
start() {
	local i
	case $1 in
	loop)
		loopdev=$(losetup --direct-io=on --show -f "$2") || fail "losetup $2"
		DEV=$loopdev
		;;
	qcow2)
		qdev=$(attach "$2") || fail "attach $2"
		DEV=$qdev
		;;
	nbd)
		qemu-nbd --cache=none --aio=native -f qcow2 --pid-file="$nbdpid" \
			${NBD_DISCARD:+--discard=unmap} -c /dev/nbd0 "$2" ||
			fail "qemu-nbd -c $2"
		for i in $(seq 100); do
			[ "$(cat /sys/block/nbd0/size)" != 0 ] && break
			sleep 0.1
		done
		DEV=/dev/nbd0
		;;
	esac
}

stop() {
	case $1 in
	loop) losetup -d "$loopdev" || fail "losetup -d"; loopdev= ;;
	qcow2) "$QCOW2CTL" detach "$qdev" || fail "detach $qdev"; qdev= ;;
	nbd) nbd_stop ;;
	esac
}

# image STATE TARGET: make the file TARGET uses in STATE; its path in IMG.
# Fresh and preallocated files are new each time; full ones are kept.
image() {
	local f
	case $2 in
	loop) f=$dir/$1.raw ;;
	*) f=$dir/$1.qcow2 ;;
	esac
	case $1-$2 in
	full-*)
		[ -e "$f" ] || fail "$f missing"
		;;
	fresh-loop)
		rm -f "$f"
		truncate -s "$size" "$f" || fail "truncate"
		;;
	prealloc-loop|falloc-loop)
		rm -f "$f"
		fallocate -l "$size" "$f" || fail "fallocate"
		;;
	fresh-*)
		rm -f "$f"
		"$QCOW2CTL" create "$f" "$size" > /dev/null || fail "create"
		;;
	prealloc-*)
		rm -f "$f"
		"$QCOW2CTL" create --prealloc=metadata "$f" "$size" > /dev/null ||
			fail "create"
		;;
	falloc-*)
		rm -f "$f"
		"$QCOW2CTL" create --prealloc=falloc "$f" "$size" > /dev/null ||
			fail "create"
		;;
	esac
	IMG=$f
}

# fio_job DEVICE WORKLOAD TIMEBASED [SIZE]: print "IOPS MiB/s" (reads and
# writes together). Without TIMEBASED a job stops after one pass over the
# device, so a first-write job never writes a block twice.
fio_job() {
	local -a w=(${wl[$2]}) tb=()
	local size=${4:-$size}
	[ "$3" = 1 ] && tb=(--time_based)
	fio --name=bench --filename="$1" --ioengine=libaio --direct=1 \
		--rw="${w[0]}" --bs="${w[1]}" --iodepth="${w[2]}" \
		--numjobs="${w[3]}" --group_reporting --runtime="$runtime" \
		"${tb[@]}" --size="$size" --randrepeat=0 --output-format=json \
		2> /dev/null |
		jq -r '.jobs[0] | "\(.read.iops + .write.iops) \((.read.bw + .write.bw) / 1024)"'
}

# Writes every byte of each target's full-state file once.
prepare_full() {
	local t
	rm -f "$dir/full.raw" "$dir/full.qcow2"
	truncate -s "$size" "$dir/full.raw"
	"$QCOW2CTL" create "$dir/full.qcow2" "$size" > /dev/null || fail "create"
	for t in loop qcow2; do
		if [ $t = loop ]; then
			start loop "$dir/full.raw"
		else
			start qcow2 "$dir/full.qcow2"
		fi
		fio --name=fill --filename="$DEV" --ioengine=libaio --direct=1 \
			--rw=write --bs=1M --iodepth=8 --size="$size" > /dev/null ||
			fail "filling $DEV"
		stop $t
	done
}

run_fio() {
	local state t w r res tb
	for state in $states; do
		[ "$state" = full ] && prepare_full
		for r in $(seq "$runs"); do
			for w in $workloads; do
				for t in $targets; do
					image "$state" $t
					start $t "$IMG"
					tb=1
					[ "$state" != full ] && [[ $w == *write* ]] && tb=0
					res=$(fio_job "$DEV" "$w" $tb)
					[ -n "$res" ] || fail "fio $state $w $t"
					stop $t
					emit fio "$state" "$w" "$t" "$r" ${res}
					info "$state $w $t run $r: $res"
				done
			done
		done
		if [ "$state" = full ]; then
			check_image "$dir/full.qcow2" || fail "full.qcow2 after the benchmark"
			rm -f "$dir/full.raw" "$dir/full.qcow2"
		fi
	done
	rm -f "$dir"/fresh.* "$dir"/prealloc.* "$dir"/falloc.*
}

# Wall seconds of a command, its fsync included, page cache dropped first.
secs() {
	local t0 t1
	sync
	echo 3 > /proc/sys/vm/drop_caches
	t0=$(date +%s%N)
	"$@" > /dev/null || fail "$* failed"
	sync
	t1=$(date +%s%N)
	echo "scale=3; ($t1 - $t0) / 1000000000" | bc
}

run_create() {
	local s r
	for s in 64G 1T; do
		for r in $(seq "$runs"); do
			emit create $s qcow2ctl "$r" \
				"$(secs "$QCOW2CTL" create --prealloc=metadata "$dir/k.qcow2" $s)"
			rm -f "$dir/k.qcow2"
			emit create $s qemu-img "$r" \
				"$(secs qemu-img create -q -f qcow2 -o preallocation=metadata "$dir/q.qcow2" $s)"
			rm -f "$dir/q.qcow2"
		done
	done
}

# Kernel memory the kernel's own counters attribute (bytes): unreclaimable
# slab and large kmallocs, vmalloc, page tables, stacks, per-CPU. Page cache
# and the free-page count move by megabytes on their own; these do not.
kmem() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
	sleep 1
	awk '/^(SUnreclaim|VmallocUsed|PageTables|KernelStack|Percpu):/ { t += $2 }
	     END { print 1024 * t }' /proc/meminfo
}

# Touch one block in every 512 MiB (one L2 table's reach with 64 KiB
# clusters) of a 64 GiB image: the L2 cache fills to its limit.
touch_tables() {
	local off
	for off in $(seq 0 512 65535); do
		dd if="$1" of=/dev/null bs=4k count=1 skip=$((off * 256)) \
			iflag=direct status=none || fail "reading $1"
	done
}

# Memory of N attached devices over 64 GiB preallocated images, idle and
# with their L2 caches full, per device; qemu-nbd's resident size over the
# same image and reads for comparison.
run_mem() {
	local n=8 i base idle busy devs=() rss
	for i in $(seq $n); do
		"$QCOW2CTL" create --prealloc=metadata "$dir/m$i.qcow2" 64G > /dev/null ||
			fail "create"
	done
	base=$(kmem)
	for i in $(seq $n); do
		start qcow2 "$dir/m$i.qcow2"
		devs+=("$DEV")
	done
	idle=$(kmem)
	for i in "${devs[@]}"; do
		touch_tables "$i"
	done
	busy=$(kmem)
	emit mem idle qcow2 $(( (idle - base) / n ))
	emit mem cache-full qcow2 $(( (busy - base) / n ))
	"$QCOW2CTL" detach --all || fail "detach"
	qdev=

	start nbd "$dir/m1.qcow2"
	emit mem idle nbd $(( $(ps -o rss= -p "$(cat "$nbdpid")") * 1024 ))
	touch_tables /dev/nbd0
	rss=$(ps -o rss= -p "$(cat "$nbdpid")")
	emit mem cache-full nbd $(( rss * 1024 ))
	stop nbd
	rm -f "$dir"/m*.qcow2
}

run_compressed() {
	local src=$dir/c.raw img=$dir/c.qcow2 type r w t res opts
	# What a distribution's image holds, more or less.
	tar -cf - /usr/lib /usr/share /usr/bin 2> /dev/null | head -c "$csize" > "$src"
	truncate -s "$csize" "$src"
	for type in zlib zstd; do
		opts=
		[ $type = zstd ] && opts="-o compression_type=zstd"
		rm -f "$img"
		qemu-img convert -c -f raw -O qcow2 $opts "$src" "$img" ||
			fail "qemu-img convert -c ($type)"
		emit info "compressed-$type" "$(stat -c %s "$img")"
		for r in $(seq "$runs"); do
			for w in read-4k-qd1 randread-4k-qd1 randread-4k-qd32 read-1m-qd8; do
				for t in loop qcow2 nbd; do
					if [ $t = loop ]; then
						start loop "$src"
					else
						start $t "$img"
					fi
					res=$(fio_job "$DEV" $w 1 "$csize")
					[ -n "$res" ] || fail "fio $type $w $t"
					stop $t
					emit cfio $type $w $t "$r" ${res}
					info "$type $w $t run $r: $res"
				done
			done
		done
		check_image "$img" || fail "$img after the benchmark"
	done
	emit info compressed-source "$(stat -c %s "$src")"
	rm -f "$src" "$img"
}

# Write a third of IMAGE's clusters (of SIZE bytes), in 256 KiB extents
# chosen by SEED, with qemu-io.
chain_level() { # IMAGE SIZE SEED
	local cmds
	cmds=$(python3 - "$2" "$3" <<'PY'
import random, sys
size, r = int(sys.argv[1]), random.Random(int(sys.argv[2]))
ext = 256 * 1024
for i in sorted(r.sample(range(size // ext), size // ext // 3)):
    print("-c 'write -P %d %d %d'" % (i % 250 + 1, i * ext, ext))
PY
)
	eval qemu-io $cmds "$1" > /dev/null || fail "qemu-io over $1"
}

run_chain() {
	local src=$dir/ch.raw flat=$dir/ch-flat.raw bytes r w t res img
	tar -cf - /usr/lib /usr/share /usr/bin 2> /dev/null | head -c "$chsize" > "$src"
	truncate -s "$chsize" "$src"
	bytes=$(stat -c %s "$src")
	qemu-img convert -f raw -O qcow2 "$src" "$dir/ch0.qcow2" || fail "chain base"
	rm -f "$src"
	qemu-img create -q -f qcow2 -b ch0.qcow2 -F qcow2 "$dir/ch1.qcow2"
	chain_level "$dir/ch1.qcow2" "$bytes" 1
	qemu-img create -q -f qcow2 -b ch1.qcow2 -F qcow2 "$dir/ch2.qcow2"
	chain_level "$dir/ch2.qcow2" "$bytes" 2
	qemu-img convert -O raw "$dir/ch2.qcow2" "$flat" || fail "chain flat copy"
	for r in $(seq "$runs"); do
		for w in randread-4k-qd1 randread-4k-qd32 read-1m-qd8 randwrite-4k-qd32; do
			for t in loop qcow2 nbd; do
				img=$dir/ch2.qcow2
				if [[ $w == *write* ]]; then
					[ $t = loop ] && continue
					img=$dir/ch3.qcow2
					rm -f "$img"
					qemu-img create -q -f qcow2 -b ch2.qcow2 -F qcow2 "$img"
				fi
				if [ $t = loop ]; then
					start loop "$flat"
				else
					start $t "$img"
				fi
				res=$(fio_job "$DEV" $w 1 "$bytes")
				[ -n "$res" ] || fail "fio chain $w $t"
				stop $t
				emit chfio chain $w $t "$r" ${res}
				info "chain $w $t run $r: $res"
			done
		done
	done
	check_image "$dir/ch3.qcow2" || fail "the written overlay after the benchmark"
	emit info chain-size "$bytes"
	rm -f "$dir"/ch*.qcow2 "$flat"
}

# seconds COMMAND...: run it, then flush the device; print the seconds.
seconds() {
	local t0=$EPOCHREALTIME
	"$@" > /dev/null || fail "$*"
	sync "$DEV" || fail "flush $DEV"
	echo "$EPOCHREALTIME $t0" | awk '{ printf "%.2f", $1 - $2 }'
}

run_discard() {
	local r t k res mnt=$dir/dmnt one=$dir/one
	local NBD_DISCARD=1
	mkdir -p "$mnt"
	head -c 256K /dev/urandom > "$one"
	for r in $(seq "$runs"); do
		for t in loop qcow2 nbd; do
			image fresh $t
			start $t "$IMG"
			mkfs.ext4 -q -E nodiscard "$DEV" || fail "mkfs.ext4 on $t"
			mount "$DEV" "$mnt" || fail "mount $t"
			mkdir "$mnt/d"
			for k in $(seq "$dfiles"); do
				cp "$one" "$mnt/d/$k"
			done
			sync
			rm -r "$mnt/d"
			sync
			res=$(seconds fstrim "$mnt")
			emit dtime fstrim $t "$r" "$res"
			info "fstrim $t run $r: $res s"
			umount "$mnt" || fail "umount $t"
			fio_job "$DEV" write-1m-qd8 0 1G > /dev/null
			res=$(seconds blkdiscard "$DEV")
			emit dtime blkdiscard $t "$r" "$res"
			info "blkdiscard $t run $r: $res s"
			fio_job "$DEV" write-1m-qd8 0 1G > /dev/null
			sync "$DEV"
			blkdiscard -o 0 -l 1G "$DEV" || fail "blkdiscard 1G $t"
			sync "$DEV"
			res=$(fio_job "$DEV" randwrite-4k-qd32 0 1G)
			[ -n "$res" ] || fail "fio reuse $t"
			emit dfio reuse randwrite-4k-qd32 $t "$r" ${res}
			info "reuse randwrite-4k-qd32 $t run $r: $res"
			stop $t
			[ $t != loop ] && { check_image "$IMG" || fail "$IMG after the discard benchmark"; }
			rm -f "$IMG"
		done
	done
	emit info dfiles "$dfiles"
}

run_profile() {
	local state=${states%% *} w=${workloads%% *} t=${targets%% *} tb=1
	local data=$dir/perf.data
	command -v perf > /dev/null || fail "perf is not installed (linux-perf)"
	[ "$state" = full ] && prepare_full
	image "$state" "$t"
	start "$t" "$IMG"
	[ "$state" != full ] && [[ $w == *write* ]] && tb=0
	perf record -q -a -g -e cpu-clock -o "$data" -- \
		bash -c "$(declare -p wl runtime size); $(declare -f fio_job); fio_job $DEV $w $tb" >&2 ||
		fail "perf record"
	stop "$t"
	echo "# profile: $state $w $t, $(uname -r)"
	perf report -i "$data" --no-children --sort symbol --stdio -g none \
		--percent-limit 0.7 2> /dev/null | grep -v '^$'
	echo "# by caller, the driver's and the file system's share"
	perf report -i "$data" --children --sort symbol --stdio -g none \
		--percent-limit 2 2> /dev/null | grep -v '^$' | head -n 60
}

for p in $parts; do
	case $p in
	fio) run_fio ;;
	profile) run_profile ;;
	create) run_create ;;
	mem) run_mem ;;
	compressed) run_compressed ;;
	chain) run_chain ;;
	discard) run_discard ;;
	*) fail "unknown part $p" ;;
	esac
done
info "bench: done"
