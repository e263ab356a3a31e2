#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [options] [--] [TEST...]
#
# Boot a guest kernel under QEMU (TCG), load the module built for it, run
# the selftests inside it and print TAP. The run fails when a test fails,
# when the guest does not report back in time, when a module does not
# unload, and when the guest's kernel log shows a splat (KASAN, UBSAN,
# lockdep, kmemleak, WARNING, BUG, Oops, panic, hung task, soft lockup).
#
# Options:
#   -k KERNEL   6.1, 6.12 (Debian's stock kernels) or debug (the project's
#               KASAN + lockdep kernel, built on first use); default 6.12
#   -t SECONDS  time the whole guest run may take (default 3600; 5400 for
#               the debug kernel and with QCOW2_FULL=1)
#   -m MEMORY   guest memory (default 2G, 4G for debug)
#   -o DIR      where the logs go (default build/vm/KERNEL)
#   -c COMMAND  run COMMAND in the guest instead of the test runner
#   -q          print only the TAP result lines
#   -d DISK     use DISK (a raw file, created sparse if missing) as the
#               scratch disk, and keep it: a second run sees what the first
#               left (selftests/vm/durability.sh)
#   -x          power loss: when the guest prints QCOW2-GUEST-CRASH to its
#               kernel log, QEMU is killed; the guest must not report back
# TEST names a selftest (see selftests/Makefile); default: all of them.

set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

kind=6.12
append=
timeout=
mem=
out=
cmd=
quiet=0
disk=
crash=0
while getopts "k:t:m:o:c:qd:x" opt; do
	case $opt in
	k) kind=$OPTARG ;;
	t) timeout=$OPTARG ;;
	m) mem=$OPTARG ;;
	o) out=$OPTARG ;;
	c) cmd=$OPTARG ;;
	q) quiet=1 ;;
	d) disk=$OPTARG ;;
	x) crash=1 ;;
	*) sed -n '4,27s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

case $kind in
debug)
	tree=$("$QCOW2_TOP/selftests/vm/debug-kernel.sh")
	kdir=$tree
	image=$tree/arch/x86/boot/bzImage
	: "${timeout:=5400}" "${mem:=4G}"
	;;
6.1|6.12)
	krel=$(stock_kernels | grep -E "^${kind//./\\.}[.-]" || true)
	[ -n "$krel" ] || die "no Debian $kind kernel installed (make deps)"
	kdir=$(kdir_of "$krel") || die "no headers for $krel (make deps)"
	image=/boot/vmlinuz-$krel
	# make check runs this guest beside the debug guest, and
	# check-full the whole matrices: give them longer.
	if [ -n "${QCOW2_FULL:-}" ]; then
		: "${timeout:=5400}"
	fi
	: "${timeout:=3600}" "${mem:=2G}"
	# SLUB's consistency checks and red zones on the bio caches, the
	# ones the driver's requests and its image file's I/O share with the
	# rest of the kernel: a double free or an overrun of a bio is
	# reported where it happens, with its stack, instead of as a crash in
	# some later allocation (an unexplained oops in stop 19 looked so).
	append="slub_debug=FZ,bio-*"
	;;
*)
	die "unknown kernel '$kind': use 6.1, 6.12 or debug"
	;;
esac
krel=$(kernel_release "$kdir")
[ -r "$image" ] || die "cannot read kernel image $image"

# The modules for this kernel only: "make module" would also repoint the
# top-level qcow2.ko link, which a run for another kernel may be doing at
# the same moment (make check runs two at once).
"$QCOW2_TOP/scripts/build-module.sh" "$kdir" > /dev/null
"$QCOW2_TOP/scripts/build-module.sh" "$kdir" selftests/splat > /dev/null
make -s -C "$QCOW2_TOP" tools >&2

if [ -z "$cmd" ]; then
	[ $# -gt 0 ] || set -- $(make -s -C "$QCOW2_TOP/selftests" list)
	cmd="selftests/run_tests.sh $*"
fi

out=${out:-$QCOW2_TOP/build/vm/$kind}
rm -rf "$out"
mkdir -p "$out/share"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The initramfs: static busybox, /init, and the modules needed to reach
# the host's root over 9p (built in on the debug kernel).
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,modules}
cp /bin/busybox "$ird/bin/busybox"
cp "$QCOW2_TOP/selftests/vm/init" "$ird/init"
chmod 755 "$ird/init"
: > "$ird/modules/order"
if [ -d "/lib/modules/$krel" ]; then
	for m in virtio_pci 9pnet_virtio 9p virtio_blk; do
		modprobe -S "$krel" --show-depends "$m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
	while read -r ko; do
		name=${ko##*/}
		case $name in
		*.ko.xz) xz -dc "$ko" > "$ird/modules/${name%.xz}"; name=${name%.xz} ;;
		*.ko.zst) zstd -qdc "$ko" > "$ird/modules/${name%.zst}"; name=${name%.zst} ;;
		*) cp "$ko" "$ird/modules/$name" ;;
		esac
		echo "$name" >> "$ird/modules/order"
	done
fi
{
	printf 'QCOW2_TOP=%q\n' "$QCOW2_TOP"
	printf 'QCOW2_KIND=%q\n' "$kind"
	printf 'QCOW2_FULL=%q\n' "${QCOW2_FULL:-}"
	printf 'QCOW2_CMD=%q\n' "$cmd"
} > "$ird/qcow2-guest.env"
(cd "$ird" && find . | cpio -o -H newc --quiet) | gzip -1 > "$work/initramfs.gz"

# A sparse scratch disk for tests that want a real filesystem under their
# images (selftests/lib.sh formats and mounts it on demand). Zeros the
# guest writes stay holes on the host (detect-zeroes), so a test may write
# gigabytes of zeros without filling the host's disk.
keep_disk=$disk
if [ -z "$disk" ]; then
	disk=$work/scratch.img
	truncate -s 256G "$disk"
elif [ ! -e "$disk" ]; then
	truncate -s 256G "$disk"
fi

console=$out/console.log
# la57=off: with 5-level paging, an interrupt taken early in the debug
# kernel's boot trips a KASAN wild-memory-access (seen in about one boot in
# three); the driver gains nothing from 5-level paging.
# watchdog_thresh=30: a soft lockup is reported after 60 s, not 20. Two TCG
# guests of two vCPUs each on a two-core host (check-full's lanes) starve
# each other's vCPU threads: stress.sh's memory pressure in both at once
# gave 24-26 s "soft lockups" in clear_page_erms, in three check-full runs,
# with every check of the test passing. A real lockup does not end, and
# hung tasks are still reported after 120 s.
# rcupdate.rcu_cpu_stall_timeout=60: the same starvation, seen by RCU. Its
# default of 21 s fired in stop 26's CI (make check's two lanes, nothing
# else running): "rcu_preempt kthread starved for 5260 jiffies", the
# kthread runnable on a CPU that was in fio's clear_page_erms under
# stress.sh's memory pressure, "All QSes seen". It now reports stalls after
# 60 s, as the soft lockup detector does.
boot() {
	set +e
	timeout -k 10 "$timeout" qemu-system-x86_64 \
		-accel tcg -cpu max,la57=off -smp 2 -m "$mem" \
		-nodefaults -display none -no-reboot \
		-serial "file:$console" \
		-kernel "$image" -initrd "$work/initramfs.gz" \
		-append "console=ttyS0 loglevel=5 panic=-1 oops=panic watchdog_thresh=30 rcupdate.rcu_cpu_stall_timeout=60 $append" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$QCOW2_TOP,mount_tag=qcow2top,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$out/share,mount_tag=qcow2out,security_model=none" \
		-drive "file=$disk,format=raw,if=virtio,cache=none,aio=threads,discard=unmap,detect-zeroes=unmap" \
		> "$out/qemu.log" 2>&1 &
	qpid=$!
	if [ "$crash" = 1 ]; then
		# Power loss: kill QEMU the moment the guest asks for it. The
		# guest's page cache and everything not yet sent to the virtio
		# disk are lost.
		while kill -0 $qpid 2> /dev/null; do
			if grep -aq 'QCOW2-GUEST-CRASH' "$console" 2> /dev/null; then
				pkill -KILL -P $qpid qemu-system || true
				break
			fi
			sleep 0.2
		done
	fi
	wait $qpid
	qrc=$?
	set -e
}

start=$(date +%s)
boot
# Under multi-threaded TCG a stock kernel has been seen (once in some
# hundreds of boots) to die of an "int3" oops while patching its own code
# during boot, long before any module or test runs. Such a boot says
# nothing about the driver: it is kept as console.boot1.log, reported, and
# the guest boots once more. A death after the tests began is never retried.
if [ "$qrc" != 124 ] && [ "$qrc" != 137 ] &&
   ! grep -aq 'qcow2-guest: running tests' "$console" &&
   ! grep -aq 'QCOW2-GUEST-DONE' "$console"; then
	mv "$console" "$out/console.boot1.log"
	echo "# $kind: the kernel died while booting, before the tests began" \
	     "(qemu exit $qrc; $out/console.boot1.log); booting again"
	grep -aE -m 3 'Oops|BUG:|panic' "$out/console.boot1.log" | sed 's/^/# boot1: /' || true
	rm -rf "$out/share"
	mkdir -p "$out/share"
	[ -n "$keep_disk" ] || { rm -f "$disk"; truncate -s 256G "$disk"; }
	boot
fi
elapsed=$(( $(date +%s) - start ))

fail=0
result() { # result OK|FAIL DESCRIPTION
	if [ "$1" = OK ]; then
		echo "ok - $kind: $2"
	else
		echo "not ok - $kind: $2"
		fail=1
	fi
}

# The guest's own output: the test runner's TAP, with its diagnostics.
if [ -r "$out/share/output.log" ]; then
	if [ "$quiet" = 1 ]; then
		grep -E '^(not )?ok ' "$out/share/output.log" |
			sed -E "s/^(not )?ok [0-9]+ /\\1ok - $kind: /" || true
	else
		sed -E "s/^(not )?ok [0-9]+ /\\1ok - $kind: /" "$out/share/output.log"
	fi
fi

marker=$(grep -a -o 'QCOW2-GUEST-DONE rc=[0-9]*' "$console" | tail -n 1 || true)
if [ "$crash" = 1 ]; then
	if grep -aq 'QCOW2-GUEST-CRASH' "$console" && [ -z "$marker" ]; then
		result OK "guest died as planned after $elapsed s"
	else
		result FAIL "guest did not die as planned (qemu exit $qrc)"
		tail -n 50 "$console" | sed 's/^/# console: /' || true
	fi
elif [ -z "$marker" ]; then
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		result FAIL "guest did not report back within $timeout s"
	else
		result FAIL "guest died before reporting back (qemu exit $qrc)"
	fi
	tail -n 50 "$console" | sed 's/^/# console: /' || true
else
	grc=${marker##*rc=}
	result OK "guest reported back in $elapsed s"
	[ "$grc" = 0 ] || result FAIL "guest command exited with status $grc"
fi

# Splats, from the console (survives a panic) and the guest's dmesg (has
# the messages below the console log level), plus kmemleak's report.
cat "$console" "$out/share/dmesg.log" > "$out/kernel.log" 2>/dev/null || true
kinds=()
grep -aEq 'BUG: KASAN|KASAN: ' "$out/kernel.log" && kinds+=(KASAN)
grep -aEq 'UBSAN:' "$out/kernel.log" && kinds+=(UBSAN)
grep -aEq 'possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|bad unlock balance' \
	"$out/kernel.log" && kinds+=(lockdep)
if grep -aq 'unreferenced object' "$out/share/kmemleak.log" 2>/dev/null ||
   grep -aEq 'kmemleak: [0-9]+ new suspected' "$out/kernel.log"; then
	kinds+=(kmemleak)
fi
grep -aEq 'WARNING:|cut here' "$out/kernel.log" && kinds+=(WARNING)
grep -aEq 'BUG:|BUG [-a-z0-9_]+ \(|kernel BUG at' "$out/kernel.log" && kinds+=(BUG)
grep -aEq 'Oops|general protection fault|Kernel panic' "$out/kernel.log" && kinds+=(Oops)
grep -aEq 'blocked for more than|soft lockup|detected stall' "$out/kernel.log" && kinds+=(hang)
if [ ${#kinds[@]} -eq 0 ]; then
	result OK "kernel log free of splats"
else
	# The first splat and where it struck, in the result line itself:
	# a summary of the run may keep nothing else of the log.
	first=$( { grep -aE -m 1 "$splat_re" "$out/kernel.log" || true; } |
		sed -E 's/^\[ *[0-9.]+\] //' | cut -c1-120)
	rip=$( { grep -a -m 1 'RIP: 0010:' "$out/kernel.log" || true; } |
		sed -E 's/^.*RIP: 0010://' | cut -c1-60)
	result FAIL "kernel log has splats: ${kinds[*]} (${first}${rip:+; RIP $rip})"
	{ grep -aE -A 12 "$splat_re" "$out/kernel.log" || true; } |
		head -n 120 | sed 's/^/# splat: /'
	{ grep -a -A 12 'unreferenced object' "$out/share/kmemleak.log" 2>/dev/null || true; } |
		head -n 60 | sed 's/^/# kmemleak: /'
fi

if grep -qE '^not ok ' "$out/share/output.log" 2>/dev/null; then
	fail=1
fi
echo "# logs in $out"
exit $fail
