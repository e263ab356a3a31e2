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

# Whether this guest runs the stated slice of the longer matrices: every
# guest in "make check" (one representative of each code path; the host's
# unit tests hold the whole layout matrix against qemu-img), the debug
# kernel always. "make check-full" (QCOW2_FULL=1) runs the whole matrices on
# the stock kernels. See README.
short_run() {
	debug_kernel || [ -z "${QCOW2_FULL:-}" ]
}

# small_fs NAME SIZE [dm [SECTOR [FS]]]: a file system of its own for one
# test, small enough to fill: ext4 (no reserved blocks; or FS: xfs, at
# least 300 MiB) on a loop device (of SECTOR-byte sectors, default 512)
# over a file on the scratch disk,
# mounted on $SCRATCH/NAME; with "dm", through a dm-linear device that
# dm_fail can turn partly into errors. Sets SMALL_MNT, SMALL_LOOP and
# SMALL_DEV. small_fs_cleanup undoes it (tests call it from
# scratch_cleanup_hook).
small_fs() {
	local name=$1 size=$2 dm=${3:-} sector=${4:-512} fs=${5:-ext4}
	modprobe -q loop 2>/dev/null
	truncate -s "$size" "$SCRATCH/$name.fs" || fail "truncate $name.fs"
	SMALL_LOOP=$(losetup -f --show --sector-size "$sector" "$SCRATCH/$name.fs") ||
		fail "losetup $name.fs"
	SMALL_DEV=$SMALL_LOOP
	SMALL_DM=
	if [ "$dm" = dm ]; then
		modprobe -q dm-mod 2>/dev/null
		SMALL_DM=qcow2-test-$$
		SMALL_SECTORS=$(blockdev --getsz "$SMALL_LOOP")
		# No udev in the guests: the node devtmpfs makes, by minor.
		dmsetup create --noudevsync "$SMALL_DM" \
			--table "0 $SMALL_SECTORS linear $SMALL_LOOP 0" ||
			fail "dmsetup create"
		SMALL_DEV=/dev/dm-$(dmsetup info -c --noheadings -o minor "$SMALL_DM" | tr -d ' ')
		udev_settle "$SMALL_DEV"
	fi
	case $fs in
	ext4) mkfs.ext4 -q -F -m 0 -b 4096 "$SMALL_DEV" ;;
	xfs) modprobe -q xfs 2>/dev/null; mkfs.xfs -q -f "$SMALL_DEV" ;;
	esac || fail "mkfs.$fs on $SMALL_DEV"
	SMALL_MNT=$SCRATCH/$name
	mkdir -p "$SMALL_MNT"
	mount "$SMALL_DEV" "$SMALL_MNT" || fail "mount $SMALL_DEV"
}

small_fs_cleanup() {
	[ -n "${SMALL_LOOP:-}" ] || return 0
	"$QCOW2CTL" detach --all 2>/dev/null || "$QCOW2CTL" detach --force --all 2>/dev/null
	umount "$SMALL_MNT" 2>/dev/null
	[ -n "$SMALL_DM" ] && dmsetup remove --noudevsync "$SMALL_DM" 2>/dev/null
	losetup -d "$SMALL_LOOP" 2>/dev/null
	SMALL_LOOP=
}

# file_sectors FILE OFFSET LEN: the sectors of SMALL_DEV that hold bytes
# [OFFSET, OFFSET+LEN) of FILE, as "START COUNT" lines (from filefrag);
# mapfile them into an array for dm_fail.
file_sectors() {
	local file=$1 off=$(($2 / 512)) end=$((($2 + $3) / 512))
	filefrag -e -b512 "$file" | awk -v off=$off -v end=$end -F'[:. ]+' '
		/^ *[0-9]+:/ {
			ls = $3; le = $4 + 1; ps = $5
			s = ls > off ? ls : off; e = le < end ? le : end
			if (s < e) print ps + (s - ls), e - s
		}'
}

# dm_fail "START COUNT"...: from now on I/O to those sectors of SMALL_DEV
# fails (the device-mapper error target); dm_heal undoes it. The file
# system is not frozen for the switch (--nolockfs): the image's own I/O
# must see the error, not wait behind a freeze.
dm_fail() {
	local table="" pos=0 start count
	[ $# -gt 0 ] || fail "dm_fail: no sectors (is the file range allocated?)"
	while read -r start count; do
		[ "$start" -gt "$pos" ] && table+="$pos $((start - pos)) linear $SMALL_LOOP $pos"$'\n'
		table+="$start $count error"$'\n'
		pos=$((start + count))
	done < <(printf '%s\n' "$@" | sort -n)
	[ "$pos" -lt "$SMALL_SECTORS" ] &&
		table+="$pos $((SMALL_SECTORS - pos)) linear $SMALL_LOOP $pos"$'\n'
	dm_load "$table"
}

dm_heal() { dm_load "0 $SMALL_SECTORS linear $SMALL_LOOP 0"; }

dm_load() {
	printf '%s' "$1" | dmsetup load "$SMALL_DM" || fail "dmsetup load"
	dmsetup suspend --noudevsync --nolockfs "$SMALL_DM" || fail "dmsetup suspend"
	dmsetup resume --noudevsync "$SMALL_DM" || fail "dmsetup resume"
}

# dev_fsync DEV [ro]: fsync(2) on a block device sends it a flush; the
# exit status says whether the flush succeeded. With "ro" through a
# read-only open: for a mounted device, which a kernel booted with
# bdev_allow_write_mounted=0 refuses to open for writing.
dev_fsync() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY if sys.argv[2:] == ["ro"] else os.O_WRONLY)
try:
    os.fsync(fd)
except OSError as e:
    print(e, file=sys.stderr)
    sys.exit(1)' "$@"
}

# Image surgery: be64 N (16 hex digits), peek_be64 FILE OFFSET (the
# big-endian u64 there, in decimal; peek_be32 likewise), poke FILE OFFSET HEX (write the bytes).
be64() { printf '%016x' $(($1)); }
peek_be64() { echo $((0x$(od -An -tx1 -j $(($2)) -N 8 "$1" | tr -d ' \n'))); }
peek_be32() { echo $((0x$(od -An -tx1 -j $(($2)) -N 4 "$1" | tr -d ' \n'))); }
poke() {
	printf "$(sed 's/../\\x&/g' <<< "$3")" |
		dd of="$1" bs=1 seek=$(($2)) conv=notrunc status=none
}
