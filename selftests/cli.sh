#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# qcow2ctl against the module, as losetup users meet it, and what udev and
# lsblk see of a device:
#  - attach -f --show; an image attached already is refused naming its
#    device, under any name of the file; list -j IMAGE, -O, -J; detach
#    IMAGE, -d, -D; info DEVICE's sizes and identity;
#  - the image's identity (device and inode, as stat(2) says) in sysfs, in
#    info, and in the change uevent of the attach;
#  - the udev rules: a /dev/disk/by-qcow2-inode/ link to the device, gone
#    after the detach (systemd-udevd, run for the test);
#  - lsblk -o NAME,SIZE,RO.
. "$(dirname "$0")/lib.sh"

# The guest runs the tests in a chroot; udev's tools would refuse to act.
export SYSTEMD_IGNORE_CHROOT=1
module_load
scratch_setup
udevd_pid=
monitor_pid=
scratch_cleanup_hook() {
	[ -n "$monitor_pid" ] && kill "$monitor_pid" 2> /dev/null
	if [ -n "$udevd_pid" ]; then
		udevadm control --exit 2> /dev/null || kill "$udevd_pid" 2> /dev/null
		rm -f /run/udev/rules.d/60-qcow2.rules
	fi
}
cd "$SCRATCH" || fail "cd $SCRATCH"

"$QCOW2CTL" create a.qcow2 256M > /dev/null || fail "create a.qcow2"
"$QCOW2CTL" create b.qcow2 64M > /dev/null || fail "create b.qcow2"
ln a.qcow2 a-link.qcow2

# The change uevent of an attach carries the image's identity.
udevadm monitor --kernel --property --subsystem-match=block > uevents 2>&1 &
monitor_pid=$!
sleep 1
dev=$("$QCOW2CTL" attach -f --show a.qcow2) || fail "attach -f --show"
[[ $dev == /dev/qcow2[0-9]* ]] || fail "attach -f --show printed '$dev'"
udev_settle "$dev"
n=${dev#/dev/}
sleep 1
kill "$monitor_pid"
wait "$monitor_pid" 2> /dev/null
monitor_pid=
ino=$(stat -c %i a.qcow2)
fsdev="$(stat -c %Hd a.qcow2):$(stat -c %Ld a.qcow2)"
awk -v RS= -v n="$n" -v ino="$ino" -v d="$fsdev" '
	index($0, "ACTION=change") && index($0, "DEVNAME=/dev/" n "\n") &&
	index($0, "QCOW2_IMAGE_INODE=" ino "\n") && index($0, "QCOW2_IMAGE_DEV=" d "\n") { found = 1 }
	END { exit !found }' uevents ||
	fail "no change uevent with QCOW2_IMAGE_DEV=$fsdev QCOW2_IMAGE_INODE=$ino for $n: $(cat uevents)"

# The identity in sysfs and in info.
[ "$(cat /sys/block/$n/qcow2/image_inode)" = "$ino" ] ||
	fail "sysfs image_inode $(cat /sys/block/$n/qcow2/image_inode), stat $ino"
[ "$(cat /sys/block/$n/qcow2/image_dev)" = "$fsdev" ] ||
	fail "sysfs image_dev $(cat /sys/block/$n/qcow2/image_dev), stat $fsdev"
out=$("$QCOW2CTL" info --json "$dev") || fail "info --json $dev"
jq -e --arg d "$fsdev" --argjson i "$ino" '.image_dev == $d and .image_inode == $i and .size == 268435456' \
	<<< "$out" > /dev/null || fail "info --json: $out"
"$QCOW2CTL" info "$dev" | grep -qx "virtual size: 256 MiB (268435456 bytes)" ||
	fail "info $dev: $("$QCOW2CTL" info "$dev")"

# Attached already, under any name of the file: refused, naming the device.
out=$("$QCOW2CTL" attach a-link.qcow2 2>&1) && fail "attached a-link.qcow2 twice"
grep -qF "it is in use by $dev" <<< "$out" || fail "attach of an attached image: $out"

# list: -j finds the device under another name; columns; JSON.
dev2=$("$QCOW2CTL" attach -r --show b.qcow2) || fail "attach -r b.qcow2"
udev_settle "$dev2"
[ "$("$QCOW2CTL" list -n -O NAME -j a-link.qcow2)" = "$dev" ] ||
	fail "list -j a-link.qcow2: $("$QCOW2CTL" list -j a-link.qcow2)"
out=$("$QCOW2CTL" list -n -r -O NAME,SIZE,RO,IMAGE-INO,MAJ:MIN)
want="$dev 256M 0 $ino $(cat /sys/block/$n/dev)
$dev2 64M 1 $(stat -c %i b.qcow2) $(cat /sys/block/${dev2#/dev/}/dev)"
[ "$out" = "$want" ] || fail "list -n -r -O: '$out', want '$want'"
out=$("$QCOW2CTL" list -J) || fail "list -J"
jq -e --arg a "$SCRATCH/a.qcow2" --arg d "$dev" \
	'.qcow2devices | length == 2 and .[0].name == $d and .[0].image == $a and
	 .[0].size == 268435456 and .[0].ro == false and .[1].ro == true' <<< "$out" > /dev/null ||
	fail "list -J: $out"

# lsblk sees the devices as they are.
out=$(lsblk -n -o NAME,SIZE,RO "$dev" "$dev2" | tr -s ' ')
want="$n 256M 0
${dev2#/dev/} 64M 1"
[ "$out" = "$want" ] || fail "lsblk -o NAME,SIZE,RO: '$out', want '$want'"

# detach by image name (another name of the file), then -d, then -D.
"$QCOW2CTL" detach a-link.qcow2 || fail "detach a-link.qcow2"
[ ! -e "/sys/block/$n" ] || fail "$dev still there after detach IMAGE"
out=$("$QCOW2CTL" detach a.qcow2 2>&1) && fail "detached a.qcow2 twice"
grep -qF "is not attached" <<< "$out" || fail "detach of a detached image: $out"
"$QCOW2CTL" detach -d "$dev2" || fail "detach -d $dev2"
dev=$(attach a.qcow2) || fail "attach a.qcow2 again"
dev2=$(attach b.qcow2) || fail "attach b.qcow2 again"
"$QCOW2CTL" detach -D || fail "detach -D"
out=$("$QCOW2CTL" list 2>&1) || fail "list after detach -D: $out"
[ -z "$out" ] || fail "devices left after detach -D: $out"

# udev: the rules make a by-qcow2-inode link, and it goes with the device.
udevd=$(command -v systemd-udevd || echo /lib/systemd/systemd-udevd)
[ -x "$udevd" ] || fail "no systemd-udevd (make deps installs udev)"
mkdir -p /run/udev/rules.d
cp "$QCOW2_TOP/userspace/udev/60-qcow2.rules" /run/udev/rules.d/
"$udevd" --resolve-names=never > udevd.log 2>&1 &
udevd_pid=$!
for i in $(seq 60); do
	udevadm control --ping --timeout=5 2> /dev/null && break
	kill -0 "$udevd_pid" 2> /dev/null || fail "systemd-udevd exited: $(cat udevd.log)"
	sleep 0.5
done
udevadm control --ping --timeout=5 || fail "systemd-udevd does not answer: $(cat udevd.log)"
dev=$(attach a.qcow2) || fail "attach under udev"
udevadm settle --timeout=60 || fail "udevadm settle timed out"
link=/dev/disk/by-qcow2-inode/$fsdev-$ino
[ "$(readlink -f "$link")" = "$dev" ] ||
	fail "$link -> '$(readlink -f "$link")', want $dev; $(ls -l /dev/disk/by-qcow2-inode 2>&1)"
props=$(udevadm info -q property "$dev")
grep -qx "QCOW2_IMAGE=$SCRATCH/a.qcow2" <<< "$props" || fail "udev properties: $props"
# The link names the device for qcow2ctl too.
[ "$("$QCOW2CTL" list -n -O NAME "$link")" = "$dev" ] || fail "list $link"
"$QCOW2CTL" detach "$link" || fail "detach by the udev link"
udevadm settle --timeout=60
[ ! -e "$link" ] || fail "$link left after the detach"
exit 0
