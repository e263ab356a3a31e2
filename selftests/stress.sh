#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stress: many devices, control operations under load, memory pressure and
# the image on other file systems. Every fio job verifies what it writes
# (crc32c, verify_fatal) and must have read some of it back; every image is
# clean to qemu-img check after its detach; the driver must log no warning
# or error; run.sh fails the run on any splat in the guest's log. Parts
# (STRESS_PARTS; by default "1 4 5" in make check and "1 3 4 5" in make
# check-full; part 2 runs inside part 1):
#
# 1. Eight devices at once, images on the scratch disk's ext4, all under
#    one fio (libaio, direct, random writes of 512 B to 64 KiB, queue depth
#    4, one more thread per device than the guest has CPUs, each in a
#    16 MiB region of its own, verify_backlog 16) for 60 s (300 s with
#    QCOW2_FULL=1): fresh and --prealloc=metadata images with 64 KiB,
#    16 KiB and 4 KiB clusters, two with extended L2, a version 2 image made
#    by qemu-img, and one whose first 4 MiB of each region a qemu-img
#    internal snapshot holds (copy on write; the snapshot must keep them).
# 2. Meanwhile: a plain detach of a device in use fails with EBUSY and
#    qcow2ctl's hint, and the device keeps working (a pattern written and
#    read back); detach --lazy of another is accepted at once, the device
#    stays while open and goes at its last close; every 4 s rmmod qcow2
#    fails "in use" (the module stays) and the busy device refuses a
#    detach again; and other images go through attach, a check that the
#    pattern of their previous cycle is still there, a new pattern written
#    and read back, detach and qemu-img check, in a loop (at least 2).
#    Holder processes keep the busy and the lazy device open: fio closes
#    and reopens its files between passes.
# 3. Memory pressure on two fresh 4 KiB-cluster images attached with the
#    smallest caches the driver accepts: any non-zero --l2-cache-size or
#    --refcount-cache-size below four clusters is rounded up to four tables
#    (QCOW2_MIN_CACHE_TABLES in driver/dev.c; 0 means the default), 16 KiB
#    here, which the test checks. An L2 table maps 2 MiB and fio writes
#    several regions far apart, so requests evict tables all the time:
#    dirty ones are written back and synced before their slot is reused,
#    evicted ones read in again (l2_misses must exceed 10 on each: the
#    tables of a fresh image are made, not read, so each miss is a table
#    read back after its eviction).
#    - Global pressure, on the first device (direct fio): huge pages
#      reserved for hugetlbfs (or a file on a tmpfs) hold all the memory
#      available but 160 MiB, stress-ng --vm
#      maps, writes and unmaps 2 x 48 MiB over and over, and a reader
#      keeps filling the page cache from a sparse file, so free memory
#      sits at the watermarks and reclaim runs all the time (no swap: it
#      takes page cache). This is what reaches the driver: everything it
#      allocates while serving a request (a cache entry's table buffer,
#      the bio_vec array of a multi-bio request, each further file I/O, a
#      table read outside the cache) and everything the image's file
#      system allocates under it runs in the driver's workqueue inside
#      memalloc_noio_save(), i.e. GFP_NOIO, and must be met from what
#      reclaim that cannot start I/O frees. Those allocations are the
#      kworkers', charged to no memory cgroup, so only global pressure
#      reaches them. Asserted: reclaim ran (pgscan/pgsteal/allocstall in
#      /proc/vmstat grew); reported: how many direct reclaims ran with a
#      qcow2 function on the stack (the vmscan tracepoint, where tracefs
#      exists: usually none, kswapd keeps up).
#    - A memory cgroup (cgroup v2, mounted if need be) with memory.max
#      16 MiB around buffered fio on the second device: its page cache of
#      /dev/qcow2N is charged to the cgroup, so the cgroup's reclaim must
#      have dirty pages written back through the driver, and the verify
#      pass (after fio drops the cache) reads everything back through it.
#      Asserted: the cgroup hit memory.max, and nothing was OOM-killed.
# 4. The image on xfs (the driver does direct I/O on the file) and on ext4
#    mounted data=journal, which takes no direct I/O (STATX_DIOALIGN says
#    so): the driver must do buffered I/O there, and qcow2ctl info (no
#    "direct-io" state) and sysfs (direct_io 0) must say so. fio verify on
#    both, detach, qemu-img check. With part 3, both devices run in its
#    fio, under its global pressure: the buffered one has the driver's
#    kworkers allocate the image file's page cache under GFP_NOIO.
# 5. The image on NFS: the kernel's NFS server and client over loopback in
#    the guest (NFSv4.2 only, so no rpcbind, statd or lockd; exportfs,
#    rpc.mountd and rpc.nfsd from nfs-kernel-server, /var/lib/nfs on a
#    tmpfs as the guest's root is read-only). Create, attach, fio verify,
#    detach and qemu-img check all go through NFS; the mode the driver
#    chose is printed (buffered: NFS reports no STATX_DIOALIGN). A kernel
#    without nfsd or the NFSv4 client (the debug kernel) skips this part
#    and says so.
#
# Part 4 runs inside part 3, or without it in one fio with part 5. fio
# runs 60 + 15 + 12 s in the short runs (short_run in lib.sh: make check,
# the debug kernel), 300 + 90 + 90 s with QCOW2_FULL=1 (the memory
# cgroup's fio: one verified pass, six in the full run). Measured on the
# project's 2-core machine (2026-11-30): 171 s in a 6.12 guest with the
# machine nearly idle, 218 to 273 s with one or two other guests running,
# 215 s in a 6.1 guest beside two others, 422 s in the debug guest.
. "$(dirname "$0")/lib.sh"

command -v fio > /dev/null || skip "fio not installed"
command -v jq > /dev/null || skip "jq not installed"
module_load
scratch_setup
cd "$SCRATCH" || fail "cd $SCRATCH"	# fio and stress-ng may write files here

MiB=$((1 << 20))
JOBS=$(($(nproc) + 1))		# more fio jobs than CPUs
# Each job has a region of its own (fio verification needs that), spread
# over the 1 GiB images: across L2 tables and refcount blocks.
STRIDE=$((1000 / JOBS))M
if short_run; then
	MAIN_SECS=60 MEM_SECS=15 MEM_LOOPS=1 FS_SECS=12
else
	MAIN_SECS=300 MEM_SECS=90 MEM_LOOPS=6 FS_SECS=90
fi
# Part 3's memory pressure runs in check-full only: it takes a minute and
# a half, and it is what starves two TCG guests' vCPUs on two cores the
# most (the stalls in run.sh's notes).
if [ -n "${QCOW2_FULL:-}" ]; then
	PARTS=${STRESS_PARTS:-1 3 4 5}
else
	PARTS=${STRESS_PARTS:-1 4 5}
fi

failed=0
bad() { echo "FAIL: [${SECONDS}s] $*"; failed=1; }
note() { info "  [${SECONDS}s] $*"; }	# what ran, when (since the test began)
part_on() { grep -qw "$1" <<< "$PARTS"; }

BG_PIDS=()		# killed by the clean-up if the test stops early
MOUNTS=()		# unmounted by the clean-up, last first
LOOPS=()
NFS_UP=0
CGROUP=
scratch_cleanup_hook() {
	local p i
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2> /dev/null
	done
	wait 2> /dev/null
	"$QCOW2CTL" detach --all 2> /dev/null
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTS[i]}" 2> /dev/null
	done
	[ "$NFS_UP" = 1 ] && nfs_stop
	for p in "${LOOPS[@]}"; do
		losetup -d "$p" 2> /dev/null
	done
	[ -n "$CGROUP" ] && rmdir "$CGROUP" 2> /dev/null
	[ "$HOLD_HUGE" = 1 ] && echo 0 > /proc/sys/vm/nr_hugepages
	return 0
}

# The driver logs nothing above notice level while all goes well: a
# warning or error of its own (a failed flush, write-back, trim; corruption
# found) fails the test.
dmesg_mark
driver_quiet() {
	local lines
	dmesg | grep -q "$DMESG_MARK" ||
		{ bad "the kernel log lost the test's start mark: cannot tell what the driver logged"; return; }
	lines=$(dmesg -r | sed -n "/$DMESG_MARK/,\$p" | grep -E '^<[0-4]>' |
		grep -E 'qcow2' | head -n 20)
	[ -z "$lines" ] || bad "the driver logged warnings or errors: $lines"
}

# A part that cannot run: the debug kernel may lack what it needs (NFS,
# the memory controller); Debian's kernels and scripts/deps.sh have it all,
# so there the part's absence fails the test.
absent() { # WHAT
	if debug_kernel; then
		note "SKIP $*"
	else
		bad "cannot run $*"
	fi
}

qinfo() { # DEV FIELD: a field of qcow2ctl info --json
	"$QCOW2CTL" info --json "$1" | jq -r ".$2"
}
qstate() { # DEV: its state flags, as qcow2ctl info prints them
	local s
	s=$(qinfo "$1" state)
	echo "${s:-read-write}"
}

# fio_start RUN SECONDS LABEL=DEV... [-- fio options]: one fio process
# (threads) in the background, with a job of JOBS threads on each DEV:
# crc32c-verified random writes, a region of 16 MiB per thread, STRIDE
# apart; verify_backlog reads back every 16 blocks written, so verification
# goes on for the whole run. The options after -- override these. FIO_CG,
# when set, is the cgroup fio runs in. The JSON report goes to $W/RUN.json.
declare -A FIO_PID
fio_start() {
	local run=$1 secs=$2 jobs=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		jobs+=(--name="${1%%=*}" --filename="${1#*=}" --new_group)
		shift
	done
	[ "${1:-}" = -- ] && shift
	# A shell that joins the cgroup, leaves the OOM protection of the
	# test, and becomes fio.
	sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs" || exit 1
		echo 0 > /proc/self/oom_score_adj
		shift
		exec "$@"' sh "${FIO_CG:-}" \
		fio --thread --ioengine=libaio --direct=1 \
		--rw=randwrite --bsrange=512-64k --iodepth=4 --numjobs=$JOBS \
		--size=16M --offset=4M --offset_increment=$STRIDE \
		--time_based --runtime="$secs" \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --verify_backlog=16 \
		--verify_state_save=0 --group_reporting \
		--output-format=json --output="$W/$run.json" \
		"$@" "${jobs[@]}" > "$W/$run.err" 2>&1 &
	FIO_PID[$run]=$!
	BG_PIDS+=("$!")
}

# fio_result RUN: wait for it; it must have exited 0, and each job must
# have written and read back (verified) some of what it wrote.
fio_result() {
	local run=$1 rc n e w r njobs=0
	wait "${FIO_PID[$run]}"
	rc=$?
	[ $rc = 0 ] || bad "fio $run: exit $rc: $(grep -v 'multiple writers may overwrite' "$W/$run.err" | tail -n 15)"
	while read -r n e w r; do
		njobs=$((njobs + 1))
		if [ "$e" != 0 ] || [ "$w" = 0 ] || [ "$r" = 0 ]; then
			bad "fio $n: error $e, wrote $w bytes, read back and verified $r"
		else
			note "fio $n: wrote $((w / MiB)) MiB, read back and verified $((r / MiB)) MiB"
		fi
	done < <(sed -n '/^{/,$p' "$W/$run.json" 2> /dev/null |
		jq -r '.jobs[] | "\(.jobname) \(.error) \(.write.io_bytes) \(.read.io_bytes)"' 2> /dev/null)
	[ $njobs -gt 0 ] || bad "fio $run: no report"
}

# check_images IMAGE...: qemu-img check on all of them at once; each
# must be clean.
check_images() {
	local img pids=() i=0
	for img in "$@"; do
		check_image "$img" > "$img.check" 2>&1 &
		pids+=("$!")
	done
	for img in "$@"; do
		wait "${pids[i]}" || bad "qemu-img check ${img##*/}: $(cat "$img.check")"
		rm -f "$img.check"
		i=$((i + 1))
	done
}

# holder DEV: a process that keeps DEV open until killed, as a mounted
# file system would. fio closes and reopens its files between passes, so
# only a holder makes "in use" certain at the moment of a detach.
holder() {
	local i
	# shellcheck disable=SC2217
	sleep 100000 < "$1" &
	HOLDER=$!
	BG_PIDS+=("$HOLDER")
	for i in $(seq 100); do
		[ "$(readlink /proc/$HOLDER/fd/0 2> /dev/null)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "holder of $1 did not open it"
}

# pattern_rw DEV OFFSET FILE: write FILE at OFFSET (bytes, 512-aligned,
# not cluster-aligned) with direct I/O and read it back.
pattern_rw() {
	dd if="$3" of="$1" bs=64k oflag=direct,seek_bytes seek="$2" status=none ||
		{ echo "write at $2 failed"; return 1; }
	pattern_cmp "$@"
}
pattern_cmp() {
	cmp <(dd if="$1" bs=64k iflag=direct,skip_bytes,count_bytes skip="$2" \
		count="$(stat -c %s "$3")" status=none) "$3" ||
		{ echo "$1 at $2 does not read back what was written"; return 1; }
}

gone() { # DEV: the device disappears within 20 s
	local i
	for i in $(seq 200); do
		[ -e "/sys/block/${1#/dev/}" ] || return 0
		sleep 0.1
	done
	return 1
}

CYCLE_KINDS=("" "--cluster-size=4k --prealloc=metadata" "--cluster-size=16k --extended-l2")
# The attach/detach cycles of part 2, in the background until $W/stop
# exists: three images in turn ($W/cyc0-2.qcow2, CYCLE_KINDS), each attached, checked for the pattern the
# previous cycle left, given a new one at another offset, read back,
# detached and checked by qemu-img. The count goes to $W/cycle.count, the
# first failure to $W/cycle.err.
cycle_loop() {
	local n=0 i img dev off prev=() msg
	while [ ! -e "$W/stop" ]; do
		i=$((n % 3))
		img=$W/cyc$i.qcow2
		dev=$(attach "$img") || { echo "cycle $n: attach $img failed" > "$W/cycle.err"; return 1; }
		if [ -n "${prev[i]:-}" ] && ! msg=$(pattern_cmp "$dev" "${prev[i]}" "$W/cyc$i.pat"); then
			echo "cycle $n: the previous cycle's pattern is lost: $msg" > "$W/cycle.err"
			return 1
		fi
		off=$(( ((n * 37) % 200 + 1) * MiB + 1536 ))
		head -c $((256 << 10)) /dev/urandom > "$W/cyc$i.pat"
		if ! msg=$(pattern_rw "$dev" $off "$W/cyc$i.pat"); then
			echo "cycle $n: $msg" > "$W/cycle.err"
			return 1
		fi
		prev[i]=$off
		if ! msg=$("$QCOW2CTL" detach "$dev" 2>&1); then
			echo "cycle $n: detach $dev: $msg" > "$W/cycle.err"
			return 1
		fi
		if ! msg=$(check_image "$img" 2>&1); then
			echo "cycle $n: $msg" > "$W/cycle.err"
			return 1
		fi
		n=$((n + 1))
		echo $n > "$W/cycle.count"
	done
}

# control_loop BUSY: in the background until $W/stop exists, every 4 s:
# rmmod qcow2 must fail ("in use") and leave the module loaded, and a plain
# detach of BUSY (in use) must fail with EBUSY. One line per attempt in
# $W/control.log: "rmmod refused", "detach refused", or what went wrong.
control_loop() {
	local out rc i pause
	# A sleep without a process (read times out on a pipe nobody writes):
	# under TCG with fio on both CPUs every fork and exec counts.
	exec {pause}<> <(:)
	while :; do
		for i in 1 2 3 4; do
			[ -e "$W/stop" ] && return 0
			read -r -t 1 -u $pause
		done
		out=$(rmmod qcow2 2>&1)
		rc=$?
		if [ $rc != 0 ] && [[ $out == *"Module qcow2 is in use"* ]] && module_loaded; then
			echo "rmmod refused"
		else
			echo "rmmod: exit $rc: $out"
			[ $rc = 0 ] && return 1
		fi
		out=$("$QCOW2CTL" detach "$1" 2>&1)
		rc=$?
		if [ $rc = 1 ] && [[ $out == *"Device or resource busy"* ]]; then
			echo "detach refused"
		else
			echo "detach $1: exit $rc: $out"
		fi
	done >> "$W/control.log"
}

part1() {
	W=$SCRATCH/main
	mkdir -p "$W"
	local i img dev names=() devs=() what=() busy lazy out rc r s name w how
	local busy_holder lazy_holder cyc ctl regions=() jobargs=() lines=()
	# NAME|WHAT|how to create it (q: qcow2ctl create, i: qemu-img create -o)
	local spec=(
		"fresh64k|fresh, 64 KiB clusters (detach refused while in use)|q"
		"fresh4k|fresh, 4 KiB clusters|q --cluster-size=4k"
		"meta64k|--prealloc=metadata, 64 KiB clusters|q --prealloc=metadata"
		"meta4k|--prealloc=metadata, 4 KiB clusters (detached --lazy while in use)|q --prealloc=metadata --cluster-size=4k"
		"extl2|extended L2, 64 KiB clusters|q --extended-l2"
		"extl2meta16k|extended L2, 16 KiB clusters, --prealloc=metadata|q --extended-l2 --cluster-size=16k --prealloc=metadata"
		"v2|qemu-img, compat 0.10, 64 KiB clusters|i compat=0.10"
		"snap|qemu-img, an internal snapshot holds the first 4 MiB of each fio region (copy on write)|i compat=1.1"
	)
	for s in "${spec[@]}"; do
		IFS='|' read -r name w how <<< "$s"
		img=$W/$name.qcow2
		# shellcheck disable=SC2086
		case $how in
		q*) "$QCOW2CTL" create ${how#q} "$img" 1G > /dev/null || fail "create $name" ;;
		i*) qemu-img create -q -f qcow2 -o "${how#i }" "$img" 1G || fail "qemu-img create $name" ;;
		esac
		names+=("$name")
		what+=("$w")
	done
	# The snapshot holds 0x5a at the start of every region fio writes.
	truncate -s 1G "$W/snap.expect"
	for ((i = 0; i < JOBS; i++)); do
		r=$((4 * MiB + i * ${STRIDE%M} * MiB))
		regions+=(-c "write -P 0x5a $r 4M")
		head -c $((4 * MiB)) /dev/zero | tr '\0' '\132' |
			dd of="$W/snap.expect" bs=1M seek=$((r / MiB)) conv=notrunc status=none
	done
	qemu-io -f qcow2 "${regions[@]}" "$W/snap.qcow2" > /dev/null || fail "qemu-io snap.qcow2"
	qemu-img snapshot -c base "$W/snap.qcow2" || fail "qemu-img snapshot"
	for i in 0 1 2; do
		# shellcheck disable=SC2086
		"$QCOW2CTL" create ${CYCLE_KINDS[i]} "$W/cyc$i.qcow2" 256M > /dev/null ||
			fail "create cyc$i"
	done

	for i in "${!names[@]}"; do
		dev=$(attach "$W/${names[i]}.qcow2") || fail "attach ${names[i]}"
		devs+=("$dev")
		note "$dev: ${what[i]}"
	done
	busy=${devs[0]}
	lazy=${devs[3]}
	holder "$busy"
	busy_holder=$HOLDER
	holder "$lazy"
	lazy_holder=$HOLDER

	for i in "${!names[@]}"; do
		jobargs+=("${names[i]}=${devs[i]}")
	done
	wait $FIO_WARM
	fio_start main $MAIN_SECS "${jobargs[@]}"
	note "fio on all eight: $JOBS jobs each, $MAIN_SECS s, random writes of 512 B-64 KiB, queue depth 4, crc32c, verify_backlog 16"
	# The attach/detach cycles, and the rmmod and detach attempts, for as
	# long as fio runs.
	: > "$W/cycle.err"
	: > "$W/control.log"
	echo 0 > "$W/cycle.count"
	cycle_loop &
	cyc=$!
	BG_PIDS+=("$cyc")
	control_loop "$busy" &
	ctl=$!
	BG_PIDS+=("$ctl")

	# Once fio writes to them: a plain detach of the busy device is
	# refused with EBUSY and qcow2ctl says what to do, and the device
	# keeps working; detach --lazy of the other is accepted at once.
	for dev in "${devs[@]}"; do
		for i in $(seq 600); do
			# writes completed, and requests in flight
			read -r _ _ _ _ r _ _ _ w _ < "/sys/block/${dev#/dev/}/stat"
			[ $((r + w)) -gt 0 ] && break
			sleep 0.1
		done
	done
	note "fio is writing to all eight devices"
	out=$("$QCOW2CTL" detach "$busy" 2>&1)
	rc=$?
	if [ $rc = 1 ] && grep -q "cannot detach $busy: Device or resource busy (mounted or open; --lazy detaches it at the last close)" <<< "$out"; then
		note "detach $busy (in use): exit 1: $out"
	else
		bad "detach of $busy in use: exit $rc, '$out'"
	fi
	grep -qw autoclear <<< "$(qinfo "$busy" state)" && bad "$busy marked autoclear by a plain detach"
	head -c $((256 << 10)) /dev/urandom > "$W/busy.pat"
	if out=$(pattern_rw "$busy" $((1000 * MiB + 512)) "$W/busy.pat"); then
		note "$busy still works: 256 KiB written at 1000 MiB + 512 and read back"
	else
		bad "$busy after the refused detach: $out"
	fi
	if out=$("$QCOW2CTL" detach --lazy "$lazy" 2>&1); then
		note "detach --lazy $lazy (in use): exit 0, state now $(qstate "$lazy")"
		grep -qw autoclear <<< "$(qinfo "$lazy" state)" || bad "$lazy: no autoclear after --lazy"
	else
		bad "detach --lazy $lazy: $out"
	fi

	fio_result main
	note "fio done"
	touch "$W/stop"
	wait "$cyc" || bad "attach/detach cycles: $(cat "$W/cycle.err")"
	wait "$ctl" || bad "rmmod qcow2 succeeded with devices attached"
	note "rmmod qcow2 under load: $(grep -c '^rmmod' "$W/control.log") attempts, $(grep -c '^rmmod refused' "$W/control.log") refused with 'in use' (module refcnt $(cat /sys/module/qcow2/refcnt))"
	note "plain detach of $busy under load: $(grep -c '^detach' "$W/control.log") more attempts, $(grep -c '^detach refused' "$W/control.log") refused with EBUSY"
	mapfile -t lines < <(grep -v refused "$W/control.log")
	for r in "${lines[@]}"; do
		bad "under load: $r"
	done
	[ "$(grep -c '^rmmod refused' "$W/control.log")" -ge 3 ] || bad "fewer than 3 rmmod attempts under load"
	note "attach/write/read/detach/qemu-img check cycles under load: $(cat "$W/cycle.count")"
	[ "$(cat "$W/cycle.count")" -ge 2 ] || bad "fewer than 2 attach/detach cycles under load"

	# The lazily detached device stays while its holder has it open and
	# goes at the last close.
	[ -e "/sys/block/${lazy#/dev/}" ] || bad "$lazy went while still open"
	kill "$lazy_holder"
	wait "$lazy_holder" 2> /dev/null
	if gone "$lazy"; then
		note "$lazy went at its last close"
	else
		bad "$lazy still there after its last close"
	fi
	"$QCOW2CTL" list | grep -q "^$lazy " && bad "$lazy still listed"

	kill "$busy_holder"
	wait "$busy_holder" 2> /dev/null
	out=$(pattern_cmp "$busy" $((1000 * MiB + 512)) "$W/busy.pat") || bad "$busy: $out"
	r=$(qinfo "${devs[7]}" cow_clusters)
	note "snapshot image: $r clusters copied on write"
	[ "${r:-0}" -gt 0 ] || bad "no copy-on-write on the snapshot image"
	for i in "${!devs[@]}"; do
		[ "${devs[i]}" = "$lazy" ] && continue
		out=$("$QCOW2CTL" detach "${devs[i]}" 2>&1) || bad "detach ${devs[i]}: $out"
	done
	lines=()
	for i in "${names[@]}"; do
		lines+=("$W/$i.qcow2")
	done
	check_images "${lines[@]}"
	note "qemu-img check of all eight done"
	if qemu-img convert -f qcow2 -O raw -l snapshot.name=base "$W/snap.qcow2" "$W/snap.raw"; then
		out=$(qemu-img compare -f raw -F raw "$W/snap.raw" "$W/snap.expect" 2>&1) ||
			bad "the snapshot lost its content: $out"
	else
		bad "qemu-img convert of the snapshot failed"
	fi
	rm -f "$W"/*.raw "$W"/*.expect
}

# Direct reclaim entered from the driver's own code: the tracepoint
# vmscan:mm_vmscan_direct_reclaim_begin with a stack trace, where tracefs
# is (not in the debug kernel). reclaim_trace on|off|count.
TRACE=/sys/kernel/tracing
reclaim_trace() {
	local ev=$TRACE/events/vmscan/mm_vmscan_direct_reclaim_begin
	case $1 in
	on)
		mountpoint -q $TRACE || mount -t tracefs tracefs $TRACE 2> /dev/null
		[ -w $ev/enable ] || return 1
		echo 4096 > $TRACE/buffer_size_kb
		: > $TRACE/trace
		echo stacktrace > $ev/trigger && echo 1 > $ev/enable
		;;
	off)
		[ -w $ev/enable ] || return 0
		echo 0 > $ev/enable
		echo '!stacktrace' > $ev/trigger
		;;
	count)
		# An event line, then its stack as "=> function" lines.
		awk '/mm_vmscan_direct_reclaim_begin/ { n++; cur = n }
			/^ *=> .*\[qcow2\]/ && cur { hit[cur] = 1 }
			END { c = 0; for (i in hit) c++; print n + 0, c }' $TRACE/trace
		;;
	esac
}

# hold_start KB: take KB of memory away from everything else: huge pages
# reserved for hugetlbfs (instant: nothing is zeroed), and a file on a
# tmpfs (fallocate zeroes it: slow under TCG) for what they do not cover.
# No swap: neither can be reclaimed. hold_end gives it back.
HOLD_HUGE=0
hold_start() {
	local kb=$1 n=0
	if [ -w /proc/sys/vm/nr_hugepages ] &&
	   grep -q '^Hugepagesize: *2048 kB' /proc/meminfo; then
		HOLD_HUGE=1
		echo $((kb / 2048)) > /proc/sys/vm/nr_hugepages
		n=$(cat /proc/sys/vm/nr_hugepages)
		kb=$((kb - n * 2048))
	fi
	HOLD_DESC="$((n * 2))M of huge pages"
	[ $kb -gt $((32 * 1024)) ] || return 0
	mkdir -p "$SCRATCH/hold"
	mount -t tmpfs -o size=$((kb + 1024))k tmpfs "$SCRATCH/hold" || fail "tmpfs for the hold"
	MOUNTS+=("$SCRATCH/hold")
	fallocate -l ${kb}k "$SCRATCH/hold/f" || fail "fallocate ${kb}k on tmpfs"
	HOLD_DESC+=" and ${kb}k on a tmpfs"
}
hold_end() {
	[ "$HOLD_HUGE" = 1 ] && echo 0 > /proc/sys/vm/nr_hugepages
	HOLD_HUGE=0
	if mountpoint -q "$SCRATCH/hold"; then
		umount "$SCRATCH/hold" || bad "umount the tmpfs hold"
		unset 'MOUNTS[-1]'
	fi
}

part3() {
	W=$SCRATCH/mem
	mkdir -p "$W"
	local i dev devs=() img=() out r pids=() vm0 vm1 st0 st1 avail events
	local tr=0 ev qc cg=/sys/fs/cgroup
	local vmkeys='allocstall_[a-z0-9]+|pgscan_kswapd|pgscan_direct|pgsteal_kswapd|pgsteal_direct'
	vmsum() { # PATTERN: the sum of those /proc/vmstat counters
		grep -E "^($1) " /proc/vmstat | awk '{ s += $2 } END { print s + 0 }'
	}

	vm0=$(vmsum "$vmkeys")
	st0=$(vmsum 'allocstall_[a-z0-9]+')
	reclaim_trace on && tr=1
	CGROUP=
	mountpoint -q $cg || mount -t cgroup2 none $cg 2> /dev/null
	if grep -qw memory $cg/cgroup.controllers 2> /dev/null; then
		echo +memory > $cg/cgroup.subtree_control
		CGROUP=$cg/qcow2-stress.$$
		mkdir "$CGROUP" || fail "mkdir $CGROUP"
		echo 16M > "$CGROUP/memory.max" || fail "memory.max"
	else
		absent "part 3, memory cgroup: this kernel has no cgroup v2 memory controller"
	fi

	# Fresh images (every first write allocates: L2 and refcount updates)
	# with 4 KiB clusters, attached with caches of four tables: an L2 table
	# maps 2 MiB, a refcount block 8 MiB of file with 16-bit refcounts and
	# 2 MiB with 64-bit ones.
	img=("$W/m0.qcow2")
	"$QCOW2CTL" create --cluster-size=4k "${img[0]}" 1G > /dev/null || fail "create m0"
	if [ -n "$CGROUP" ]; then
		img+=("$W/m1.qcow2")
		"$QCOW2CTL" create --cluster-size=4k --refcount-bits=64 "${img[1]}" 1G > /dev/null ||
			fail "create m1"
	fi
	for i in "${!img[@]}"; do
		dev=$(attach --l2-cache-size=1 --refcount-cache-size=1 "${img[i]}") ||
			fail "attach m$i with the smallest caches"
		devs+=("$dev")
		out="$(qinfo "$dev" l2_cache_size) $(qinfo "$dev" refcount_cache_size)"
		r=$((4 * $(qinfo "$dev" cluster_size)))
		[ "$out" = "$r $r" ] || bad "$dev: caches of $out bytes, not four tables ($r bytes) each"
	done
	# Part 4's devices, when it runs too, join the global pressure: the
	# image on ext4 data=journal has the driver do buffered I/O, so that
	# its kworkers allocate the image file's page cache under GFP_NOIO.
	FS_JOBS=() FS_DEVS=() FS_IMGS=()
	if part_on 4; then
		part4_setup
		P4_DONE=1
	fi
	note "${devs[0]}: fresh, 4 KiB clusters, 16-bit refcounts, caches of 4 tables (16 KiB each): direct fio under global pressure"
	[ -n "$CGROUP" ] &&
		note "${devs[1]}: fresh, 4 KiB clusters, 64-bit refcounts, caches of 4 tables: buffered fio in a 16 MiB memory cgroup"

	# Global pressure: a hold of all the memory available but 160 MiB;
	# stress-ng --vm maps, writes and unmaps 2 x 48 MiB over and over; a
	# reader keeps filling the page cache from a sparse file. Free memory
	# stays at the watermarks, and reclaim (of page cache) runs all the
	# time.
	# Fewer pages to move (and no dirty ones) for the huge pages.
	sync
	echo 3 > /proc/sys/vm/drop_caches
	avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
	hold_start $((avail - 160 * 1024))
	note "held: $HOLD_DESC (MemAvailable was ${avail} kB, now $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) kB)"
	if command -v stress-ng > /dev/null; then
		stress-ng --vm 2 --vm-bytes 48M --vm-method write64 --vm-madvise nohugepage \
			--timeout $((MEM_SECS + 120))s > "$W/stress-ng.log" 2>&1 &
		pids+=($!)
		BG_PIDS+=($!)
		note "stress-ng --vm 2 --vm-bytes 48M: mmap, write, munmap, again"
	else
		absent "part 3, stress-ng: not installed (scripts/deps.sh installs it)"
	fi
	truncate -s 4G "$W/cache.fill"
	(
		trap 'kill $c 2> /dev/null; exit 0' TERM
		while :; do
			cat "$W/cache.fill" > /dev/null &
			c=$!
			wait $c
		done
	) &
	pids+=($!)
	BG_PIDS+=($!)
	# Started after the stress: the OOM killer, if it comes, takes a
	# stress-ng worker (stress-ng restarts it), not the test.
	echo -1000 > /proc/$$/oom_score_adj

	fio_start mem-direct $MEM_SECS "mem-direct=${devs[0]}" "${FS_JOBS[@]}"
	# In the memory cgroup (fio itself takes about 9 MiB of its 16:
	# anon and its shared memory), each thread writes 4 MiB (two L2
	# tables), then fio drops the device's page cache (BLKFLSBUF) and
	# reads it all back through the driver; six times in the full run.
	# Not time_based: a pass cut short by the time limit never verifies.
	[ -n "$CGROUP" ] &&
		FIO_CG=$CGROUP fio_start mem-buffered 0 "mem-buffered=${devs[1]}" -- \
			--direct=0 --size=4M --verify_backlog=0 --time_based=0 --loops=$MEM_LOOPS

	sleep $((MEM_SECS / 2))
	note "mid-run: $(awk '/^(MemFree|MemAvailable|Cached):/ { printf "%s %d MiB ", $1, $2 / 1024 }' /proc/meminfo)"
	[ -n "$CGROUP" ] &&
		note "mid-run memory cgroup: $(awk '$1 ~ /^(anon|shmem|file|file_dirty|file_writeback)$/ { printf "%s %d KiB ", $1, $2 / 1024 }' "$CGROUP/memory.stat")"
	fio_result mem-direct
	if [ -n "$CGROUP" ]; then
		fio_result mem-buffered
		events=$(tr '\n' ' ' < "$CGROUP/memory.events")
		note "memory cgroup: peak $(cat "$CGROUP/memory.peak" 2> /dev/null || echo ?) bytes, events: $events"
		[ "$(awk '$1 == "max" { print $2 }' "$CGROUP/memory.events")" -gt 0 ] ||
			bad "the memory cgroup never reached memory.max: $events"
		[ "$(awk '$1 == "oom_kill" { print $2 }' "$CGROUP/memory.events")" = 0 ] ||
			bad "OOM kills in the memory cgroup: $events"
	fi
	vm1=$(vmsum "$vmkeys")
	st1=$(vmsum 'allocstall_[a-z0-9]+')
	kill "${pids[@]}" 2> /dev/null
	wait "${pids[@]}" 2> /dev/null
	hold_end
	echo 0 > /proc/$$/oom_score_adj
	[ -r "$W/stress-ng.log" ] &&
		note "stress-ng: $(grep -hE 'successful|unsuccessful|killed|OOM|out of memory' "$W/stress-ng.log" | tr '\n' ' ')"
	note "global OOM kills: $(dmesg | sed -n "/$DMESG_MARK/,\$p" | grep -c 'Out of memory: Killed process')"
	note "reclaim during the run: $((vm1 - vm0)) (pages scanned and stolen, and stalls: $vmkeys), of which $((st1 - st0)) direct reclaim stalls"
	[ $((vm1 - vm0)) -gt 0 ] || bad "no reclaim happened under the pressure"
	if [ $tr = 1 ]; then
		reclaim_trace off
		read -r ev qc < <(reclaim_trace count)
		note "direct reclaims traced: $ev, $qc of them from the driver's code (a qcow2 function on the stack)"
	fi
	for dev in "${devs[@]}"; do
		note "$dev: l2_misses $(qinfo "$dev" l2_misses), refcount_misses $(qinfo "$dev" refcount_misses), metadata_writes $(qinfo "$dev" metadata_writes)"
		# A fresh image's tables are made, not read: every miss is a
		# table read back after its eviction.
		[ "$(qinfo "$dev" l2_misses)" -gt 10 ] || bad "$dev: the 4-table L2 cache hardly evicted"
		out=$("$QCOW2CTL" detach "$dev" 2>&1) || bad "detach $dev: $out"
	done
	for dev in "${FS_DEVS[@]}"; do
		out=$("$QCOW2CTL" detach "$dev" 2>&1) || bad "detach $dev: $out"
	done
	check_images "${img[@]}" "${FS_IMGS[@]}"
	[ ${#FS_DEVS[@]} -gt 0 ] && fs_drop
	[ -n "$CGROUP" ] && rmdir "$CGROUP"
	CGROUP=
	rm -f "${img[@]}" "$W/cache.fill"
}

# fs_make NAME MKFS-COMMAND [MOUNT-OPTIONS]: a file system of its own on a
# loop device over a sparse 2 GiB file on the scratch disk, mounted on
# $SCRATCH/NAME.
fs_make() {
	local name=$1 mkfs=$2 opts=${3:-} loop
	modprobe -q loop 2> /dev/null
	truncate -s 2G "$SCRATCH/$name.fs" || fail "truncate $name.fs"
	loop=$(losetup -f --show --direct-io=on "$SCRATCH/$name.fs") || fail "losetup $name.fs"
	LOOPS+=("$loop")
	$mkfs "$loop" > /dev/null 2>&1 || fail "$mkfs $loop"
	mkdir -p "$SCRATCH/$name"
	mount ${opts:+-o "$opts"} "$loop" "$SCRATCH/$name" || fail "mount $name ($opts)"
	MOUNTS+=("$SCRATCH/$name")
}

# fs_drop: unmount what fs_make made and remove it.
fs_drop() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTS[i]}" || bad "umount ${MOUNTS[i]}"
	done
	MOUNTS=()
	for i in "${LOOPS[@]}"; do
		losetup -d "$i"
	done
	LOOPS=()
	rm -f "$SCRATCH"/*.fs
}

# mode DEV: "direct" or "buffered", as qcow2ctl info and sysfs say; they
# must agree.
io_mode() {
	local state sys
	state=$(qinfo "$1" state)
	sys=$(cat "/sys/block/${1#/dev/}/qcow2/direct_io")
	if grep -qw direct-io <<< "$state"; then
		[ "$sys" = 1 ] || bad "$1: info says direct-io, sysfs direct_io $sys"
		echo direct
	else
		[ "$sys" = 0 ] || bad "$1: info says buffered (state '$state'), sysfs direct_io $sys"
		echo buffered
	fi
}

# Parts 4 and 5 set up their devices, then one fio run writes them all
# at once: the image on xfs, on ext4 data=journal and on NFS.
FS_JOBS=()		# LABEL=DEV for fio_start
FS_DEVS=()
FS_IMGS=()		# checked by qemu-img after the detach
P4_DONE=0		# part 4 ran inside part 3

part4_setup() {
	local x j mx mj
	fs_make xfs "mkfs.xfs -q -f"
	fs_make extj "mkfs.ext4 -q -F" data=journal
	grep -q " $SCRATCH/extj ext4 .*data=journal" /proc/mounts ||
		bad "ext4 not mounted data=journal: $(grep " $SCRATCH/extj " /proc/mounts)"
	"$QCOW2CTL" create "$SCRATCH/xfs/x.qcow2" 1G > /dev/null || fail "create on xfs"
	"$QCOW2CTL" create --cluster-size=4k "$SCRATCH/extj/j.qcow2" 1G > /dev/null ||
		fail "create on ext4 data=journal"
	x=$(attach "$SCRATCH/xfs/x.qcow2") || fail "attach on xfs"
	j=$(attach "$SCRATCH/extj/j.qcow2") || fail "attach on ext4 data=journal"
	mx=$(io_mode "$x")
	mj=$(io_mode "$j")
	note "$x: image on xfs, 64 KiB clusters: $mx I/O (state: $(qstate "$x"))"
	note "$j: image on ext4 data=journal, 4 KiB clusters: $mj I/O (state: $(qstate "$j"))"
	[ "$mx" = direct ] || bad "$x: image on xfs not in direct I/O mode"
	[ "$mj" = buffered ] || bad "$j: image on ext4 data=journal not in buffered mode"
	FS_JOBS+=("xfs=$x" "ext4-journal=$j")
	FS_DEVS+=("$x" "$j")
	FS_IMGS+=("$SCRATCH/xfs/x.qcow2" "$SCRATCH/extj/j.qcow2")
}

# The kernel's NFS server, NFSv4 only (no rpcbind, statd or lockd needed),
# exporting $SCRATCH/export to 127.0.0.1 as its NFSv4 root; the client
# mounts it on $SCRATCH/nfs.
NFS_VARLIB=/var/lib/nfs
nfs_start() {
	local t
	ip link set lo up || { info "ip link set lo up failed"; return 1; }
	mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd ||
		{ info "cannot mount the nfsd file system"; return 1; }
	# exportfs and rpc.mountd keep their tables here, and the server its
	# client records (v4recovery): the guest's /var is read-only.
	mount -t tmpfs -o mode=755 tmpfs $NFS_VARLIB || { info "cannot mount a tmpfs on $NFS_VARLIB"; return 1; }
	NFS_UP=1
	mkdir -p $NFS_VARLIB/v4recovery $NFS_VARLIB/sm
	touch $NFS_VARLIB/etab $NFS_VARLIB/rmtab $NFS_VARLIB/state
	mkdir -p "$SCRATCH/export" "$SCRATCH/nfs"
	# fsid=0: the export is the NFSv4 root itself. Otherwise rpc.mountd
	# makes a pseudo root of "/", which it cannot export from 9p.
	exportfs -o rw,sync,no_root_squash,no_subtree_check,insecure,fsid=0 \
		"127.0.0.1:$SCRATCH/export" || { info "exportfs failed"; return 1; }
	rpc.mountd -F -N 3 -u > "$SCRATCH/mountd.log" 2>&1 &
	NFS_MOUNTD=$!
	BG_PIDS+=($!)
	# A short grace period, ended at once below where the kernel can.
	echo 10 > /proc/fs/nfsd/nfsv4gracetime
	echo 10 > /proc/fs/nfsd/nfsv4leasetime
	rpc.nfsd -N 3 --no-udp 4 || { info "rpc.nfsd failed"; return 1; }
	[ -w /proc/fs/nfsd/v4_end_grace ] && echo Y > /proc/fs/nfsd/v4_end_grace 2> /dev/null
	t=$(date +%s)
	mount -t nfs4 -o vers=4.2 127.0.0.1:/ "$SCRATCH/nfs" ||
		{ info "mount -t nfs4 failed; rpc.mountd: $(tail -n 5 "$SCRATCH/mountd.log")"; return 1; }
	note "NFSv4.2 server and client up over loopback (mount took $(($(date +%s) - t)) s)"
}

nfs_stop() {
	mountpoint -q "$SCRATCH/nfs" && umount "$SCRATCH/nfs"
	rpc.nfsd 0 2> /dev/null
	exportfs -ua 2> /dev/null
	[ -n "${NFS_MOUNTD:-}" ] && kill "$NFS_MOUNTD" 2> /dev/null && wait "$NFS_MOUNTD" 2> /dev/null
	NFS_MOUNTD=
	umount /proc/fs/nfsd 2> /dev/null
	umount $NFS_VARLIB 2> /dev/null
	NFS_UP=0
}

part5_setup() {
	local n img m
	modprobe -q nfsd 2> /dev/null
	modprobe -q nfsv4 2> /dev/null
	if ! grep -qw nfsd /proc/filesystems || ! grep -qw nfs4 /proc/filesystems; then
		absent "part 5 (NFS): this kernel ($(uname -r)) has no NFS server (nfsd) or NFSv4 client (nfs4) in /proc/filesystems, even after modprobe nfsd nfsv4"
		return 0
	fi
	for n in rpc.nfsd rpc.mountd exportfs mount.nfs4 ip; do
		if ! command -v $n > /dev/null; then
			absent "part 5 (NFS): $n not installed (nfs-kernel-server, nfs-common, iproute2: scripts/deps.sh)"
			return 0
		fi
	done
	nfs_start || fail "NFS set-up failed"
	img=$SCRATCH/nfs/n.qcow2
	"$QCOW2CTL" create "$img" 1G > /dev/null || fail "create on NFS"
	n=$(attach "$img") || fail "attach on NFS"
	m=$(io_mode "$n")
	note "$n: image on NFSv4.2 (loopback), 64 KiB clusters: $m I/O (state: $(qstate "$n"))"
	FS_JOBS+=("nfs=$n")
	FS_DEVS+=("$n")
	# Through NFS, and the file as the server has it.
	FS_IMGS+=("$img" "$SCRATCH/export/n.qcow2")
}

part45() {
	W=$SCRATCH/fs
	mkdir -p "$W"
	local d out
	FS_JOBS=() FS_DEVS=() FS_IMGS=()
	part_on 4 && [ "$P4_DONE" = 0 ] && part4_setup
	part_on 5 && part5_setup
	[ ${#FS_JOBS[@]} -gt 0 ] || return 0
	fio_start fs $FS_SECS "${FS_JOBS[@]}"
	fio_result fs
	for d in "${FS_DEVS[@]}"; do
		out=$("$QCOW2CTL" detach "$d" 2>&1) || bad "detach $d: $out"
	done
	check_images "${FS_IMGS[@]}"
	note "qemu-img check of ${#FS_IMGS[@]} images done"
	if [ "$NFS_UP" = 1 ]; then
		rm -f "$SCRATCH/nfs/n.qcow2"
		nfs_stop
	fi
	fs_drop
}

# What parts 4 and 5 load over 9p, in the background from the start of
# part 3 on (part 3 mostly waits).
preload() {
	(
		modprobe -q loop
		part_on 4 && modprobe -q xfs
		part_on 5 && modprobe -q nfsd && modprobe -q nfsv4
	) > /dev/null 2>&1 &
	PRELOAD=$!
}
PRELOAD=
# fio's 80 MB of libraries, read over 9p the first time, while part 1
# sets up.
fio --version > /dev/null 2>&1 &
FIO_WARM=$!

info "kernel $(uname -r), $(nproc) CPUs, $(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo) MiB; parts: $PARTS"
for p in 1 3 45; do
	case $p in
	1) part_on 1 || continue
	   label="1+2"
	   info "part 1+2: eight devices under fio; busy and lazy detach, rmmod and attach/detach cycles under load" ;;
	3) part_on 3 || continue
	   preload
	   label=3
	   if part_on 4; then
		wait $PRELOAD
		label="3+4"
		info "part 3+4: memory pressure with the smallest caches; the images on xfs and on ext4 data=journal under the same pressure"
	   else
		info "part 3: memory pressure with the smallest caches"
	   fi ;;
	45) { part_on 4 && [ "$P4_DONE" = 0 ]; } || part_on 5 || continue
	   [ -n "$PRELOAD" ] || preload
	   wait $PRELOAD
	   label=5
	   part_on 4 && [ "$P4_DONE" = 0 ] && label="4+5"
	   part_on 5 || label=4
	   info "part $label: the image on other file systems (4: xfs, ext4 data=journal; 5: NFS)" ;;
	esac
	start=$(date +%s)
	part$p
	info "part $label: $(($(date +%s) - start)) s"
done
driver_quiet
[ -z "$("$QCOW2CTL" list)" ] || bad "devices left: $("$QCOW2CTL" list)"
[ $failed = 0 ] || fail "stress"
exit $KSFT_PASS
