# SPDX-License-Identifier: GPL-2.0
# Shared helpers of the guest-side selftests. Source it from a test script.
#
# Exit codes follow kselftest: 0 pass, 1 fail, 4 skip.

QCOW2_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4
QCOW2_KO=$QCOW2_TOP/build/$(uname -r)/qcow2.ko
QCOW2CTL=$QCOW2_TOP/userspace/qcow2ctl
CONTROL=/dev/qcow2-control

fail() { echo "FAIL: $*" >&2; exit $KSFT_FAIL; }
skip() { echo "SKIP: $*" >&2; exit $KSFT_SKIP; }
info() { echo "$*" >&2; }

module_loaded() { [ -d /sys/module/qcow2 ]; }

module_load() {
	module_loaded && return 0
	[ -r "$QCOW2_KO" ] || fail "$QCOW2_KO not built for $(uname -r)"
	insmod "$QCOW2_KO" "$@" || fail "insmod $QCOW2_KO failed"
	udev_settle "$CONTROL"
}

module_unload() {
	module_loaded || return 0
	rmmod qcow2 || fail "rmmod qcow2 failed"
}

# There is no udev in the guest; devtmpfs creates nodes synchronously with
# device_add(), so this only guards against a missing node.
udev_settle() {
	local i
	for i in $(seq 50); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	fail "$1 did not appear"
}

kmemleak_available() { [ -w /sys/kernel/debug/kmemleak ]; }

kmemleak_clear() {
	kmemleak_available && echo clear > /sys/kernel/debug/kmemleak
	return 0
}

# Scan for leaks and fail the test if any object is reported.
kmemleak_check() {
	local report
	kmemleak_available || return 0
	sleep 6		# kmemleak ignores objects younger than 5 s
	echo scan > /sys/kernel/debug/kmemleak
	echo scan > /sys/kernel/debug/kmemleak
	report=$(cat /sys/kernel/debug/kmemleak)
	if [ -n "$report" ]; then
		echo "$report" | head -n 60 >&2
		fail "kmemleak reports leaks"
	fi
}

# Mount the guest's scratch disk (a virtio disk, formatted ext4 unless it
# holds one from an earlier boot: see run.sh -d) on /run/scratch.
scratch_mount() {
	local mnt=/run/scratch
	mountpoint -q $mnt && return 0
	[ -b /dev/vda ] || fail "no scratch disk (/dev/vda)"
	modprobe -q ext4 2>/dev/null	# built in on the debug kernel
	if ! dumpe2fs -h /dev/vda > /dev/null 2>&1; then
		mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 /dev/vda ||
			fail "mkfs.ext4 /dev/vda failed"
	fi
	mkdir -p $mnt
	mount -o discard /dev/vda $mnt || fail "mount /dev/vda failed"
}

# Make a fresh directory on the scratch disk, put its path in SCRATCH and
# remove it when the test exits.
scratch_setup() {
	scratch_mount
	SCRATCH=$(mktemp -d /run/scratch/test.XXXXXX) || fail "mktemp on /run/scratch failed"
	trap 'cleanup_scratch' EXIT
}

# Tests add their own clean-up to this hook, run before SCRATCH goes.
scratch_cleanup_hook() { :; }

cleanup_scratch() {
	local m
	cd /
	scratch_cleanup_hook
	# Whatever a failed test left: mounts on its devices, then the devices.
	for m in $(awk -v d="$SCRATCH" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m"
	done
	[ -e "$CONTROL" ] && "$QCOW2CTL" detach --all 2>/dev/null
	rm -rf "$SCRATCH"
}

# attach [qcow2ctl attach options] IMAGE: print the device attached.
attach() {
	local dev
	dev=$("$QCOW2CTL" attach --show "$@") || return 1
	udev_settle "$dev"
	echo "$dev"
}

# check_image IMAGE [ALLOWED-EXIT-CODES]: qemu-img check, exit 0 (or one
# of the codes given, e.g. "0 3" to allow leaks).
check_image() {
	local out rc allowed=${2:-0}
	out=$(qemu-img check "$1" 2>&1)
	rc=$?
	if ! grep -qw -- "$rc" <<< "$allowed"; then
		echo "$out" | head -n 30 >&2
		echo "qemu-img check $1: exit $rc" >&2
		return 1
	fi
}

# The kernel log since the last dmesg_mark (the log itself is kept: the
# harness scans all of it for splats).
dmesg_mark() {
	DMESG_MARK="qcow2-selftest mark $$.$RANDOM"
	echo "$DMESG_MARK" > /dev/kmsg
}
dmesg_since() { dmesg | sed -n "/$DMESG_MARK/,\$p"; }

# Whether this guest runs the debug kernel: slow, so some matrices run a
# stated slice there (see README).
debug_kernel() { [ "${QCOW2_KIND:-}" = debug ]; }
