#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# QEMU's image locks: an image a QEMU process has open is refused by
# attach (EBUSY, one log line naming the lock), and an attached image is
# refused by QEMU with its own lock error wherever QEMU would refuse a
# QEMU user of the same kind: a read-write attach is a writer, a read-only
# attach a reader. qemu-img info -U still reads; detach frees the image.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
img=$SCRATCH/vm.qcow2
name=${img##*/}
qemu-img create -q -f qcow2 "$img" 64M || fail "qemu-img create"

failed=0
bad() { echo "$*"; failed=1; }

# qemu_hold [qemu-io options]: a qemu-io that keeps the image open, reading
# commands from a fifo, until qemu_release. Returns once it holds its locks
# (QEMU takes byte 100, consistent read, for readers and writers alike).
qemu_hold() {
	local ino i
	rm -f "$SCRATCH/fifo"
	mkfifo "$SCRATCH/fifo" || fail "mkfifo"
	qemu-io "$@" "$img" < "$SCRATCH/fifo" > "$SCRATCH/qemu-io.out" 2>&1 &
	QEMU_PID=$!
	exec 7> "$SCRATCH/fifo"
	ino=$(stat -c %i "$img")
	for i in $(seq 300); do
		grep -q ":$ino 100 " /proc/locks && return 0
		kill -0 $QEMU_PID 2> /dev/null || break
		sleep 0.1
	done
	fail "qemu-io $* did not open the image: $(cat "$SCRATCH/qemu-io.out")"
}

qemu_release() {
	echo quit >&7
	exec 7>&-
	wait $QEMU_PID || bad "qemu-io holding the image exited $?: $(cat "$SCRATCH/qemu-io.out")"
	QEMU_PID=
}

scratch_cleanup_hook() {
	[ -n "${QEMU_PID:-}" ] && kill $QEMU_PID 2> /dev/null
	return 0
}

# refused HOLDER [attach options]: attach must fail with EBUSY and log
# which lock it found.
refused() {
	local holder=$1 out
	shift
	dmesg_mark
	if out=$("$QCOW2CTL" attach "$@" "$img" 2>&1); then
		bad "attach $* beside a QEMU user succeeded"
		"$QCOW2CTL" detach --all
		return
	fi
	if ! grep -q "Device or resource busy" <<< "$out"; then
		bad "attach $*: '$out', expected EBUSY"
	elif ! dmesg_since | grep -q "attach $name: image is in use by another process ($holder lock held): "; then
		bad "attach $*: no log line for the $holder lock: $(dmesg_since | tail -n 3)"
	else
		info "ok: attach${*:+ $*} refused: $holder lock"
	fi
}

# qemu_runs WANT-RC WANT-TEXT COMMAND...: exit status and message of a QEMU
# tool run on the image.
qemu_runs() {
	local want_rc=$1 want=$2 out rc
	shift 2
	out=$("$@" "$img" 2>&1)
	rc=$?
	if [ $rc != "$want_rc" ]; then
		bad "$*: exit $rc, expected $want_rc: $out"
	elif ! grep -qF -- "$want" <<< "$out"; then
		bad "$*: '$out', expected '$want'"
	else
		info "ok: $* (exit $rc: $want)"
	fi
}

write_lock='Failed to get "write" lock'
shared_write_lock='Failed to get shared "write" lock'

# (a) A QEMU writer: both kinds of attach are refused.
qemu_hold
refused write
refused write --read-only
qemu_release

# Under KASAN a QEMU tool takes about 40 s to start: the debug guest checks
# each direction once (the kernel's side of the locks is the same code for
# every case) and goes to the detach.
if ! debug_kernel; then
	# A QEMU reader: a read-only attach shares the image with it, a
	# read-write attach is refused.
	qemu_hold -r
	refused "deny write"
	dev=$(attach --read-only "$img") || bad "read-only attach beside qemu-io -r"
	[ -n "$dev" ] && "$QCOW2CTL" detach "$dev"
	qemu_release
fi

# (b) Attached read-write: the device is a writer.
dev=$(attach "$img") || fail "attach"
qemu_runs 1 "$write_lock" qemu-io -c "write 0 4k"
if ! debug_kernel; then
	qemu_runs 1 "$shared_write_lock" qemu-img check
	qemu_runs 1 "$shared_write_lock" qemu-img info
	qemu_runs 0 "file format: qcow2" qemu-img info -U
fi
"$QCOW2CTL" detach "$dev" || fail "detach"

if ! debug_kernel; then
	# (c) Attached read-only: the device is a reader.
	dev=$(attach --read-only "$img") || fail "read-only attach"
	qemu_runs 0 "file format: qcow2" qemu-img info
	qemu_runs 0 "No errors were found on the image." qemu-img check
	qemu_runs 1 "$write_lock" qemu-io -c "write 0 4k"
	"$QCOW2CTL" detach "$dev" || fail "detach (read-only)"
fi

# (d) Detached: QEMU writes again, and the image is intact.
qemu_runs 0 "wrote 4096/4096 bytes at offset 0" qemu-io -c "write -P 0xa5 0 4k"
check_image "$img" || bad "qemu-img check after detach"

[ $failed = 0 ] || fail "image locks"
exit $KSFT_PASS
