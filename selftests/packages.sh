#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The Debian packages, as installed on the host by scripts/install-test.sh
# (make check runs it first): that install's layer goes over the guest's
# root, as if the guest had rebooted into a system where qcow2-dkms and
# qcow2ctl were installed under another kernel. There, "modprobe qcow2"
# loads the module DKMS built for this kernel (updates/dkms), and the
# packaged qcow2ctl creates, attaches and detaches an image that gets a
# file system; man and bash completion find their files.
. "$(dirname "$0")/lib.sh"

layer=$QCOW2_TOP/build/pkgroot/deb/upper
debug_kernel && skip "packages are built for Debian's kernels, not the debug one"
[ -x "$layer/usr/sbin/qcow2ctl" ] ||
	fail "no installed packages in $layer: run scripts/install-test.sh first"
krel=$(uname -r)

module_unload
scratch_setup
root=/tmp/pkgroot
mounted=()
scratch_cleanup_hook() {
	local i
	[ -d /sys/module/qcow2 ] && chroot "$root" qcow2ctl detach --all 2> /dev/null
	mountpoint -q "$SCRATCH/mnt" && umount "$SCRATCH/mnt"
	rmmod qcow2 2> /dev/null
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount "${mounted[i]}"
	done
}
mkdir -p "$root"
modprobe -q overlay 2> /dev/null	# a module on Debian's kernels
# Read-only: the install's layer over this root.
mount -t overlay overlay -o "lowerdir=$layer:/" "$root" ||
	fail "cannot mount the install's layer over / (overlay)"
mounted+=("$root")
for m in proc sys dev; do
	mount --bind "/$m" "$root/$m" || fail "bind /$m"
	mounted+=("$root/$m")
done
for m in tmp run; do
	mount -t tmpfs tmpfs "$root/$m" || fail "tmpfs $m"
	mounted+=("$root/$m")
done
mkdir -p "$root/run/scratch"
mount --bind "$SCRATCH" "$root/run/scratch" || fail "bind the scratch directory"
mounted+=("$root/run/scratch")
in_root() { chroot "$root" "$@"; }
ls "$root/lib/modules/$krel/updates/dkms/"qcow2.ko* > /dev/null 2>&1 ||
	fail "DKMS built no module for $krel in the package install"

in_root modprobe qcow2 || fail "modprobe qcow2 in the installed system"
version=$(cat "$QCOW2_TOP/VERSION")
[ "$(cat /sys/module/qcow2/version)" = "$version" ] ||
	fail "loaded module version '$(cat /sys/module/qcow2/version)', want $version"
path=$(in_root modinfo -n qcow2)
[[ $path == "/lib/modules/$krel/updates/dkms/qcow2.ko"* ]] ||
	fail "modprobe's qcow2 is $path, not the one DKMS installed"
udev_settle "$CONTROL"
out=$(in_root qcow2ctl version) || fail "qcow2ctl version: $out"
grep -qx "module version: $version" <<< "$out" || fail "qcow2ctl version: $out"

img=/run/scratch/pkg.qcow2
in_root qcow2ctl create --prealloc=metadata "$img" 512M > /dev/null || fail "create"
dev=$(in_root qcow2ctl attach -f --show "$img") || fail "attach -f --show"
udev_settle "$dev"
mkfs.ext4 -q "$dev" || fail "mkfs.ext4 $dev"
mkdir "$SCRATCH/mnt"
mount "$dev" "$SCRATCH/mnt" || fail "mount $dev"
head -c 8M /dev/urandom > "$SCRATCH/data"
cp "$SCRATCH/data" "$SCRATCH/mnt/data" || fail "write a file"
umount "$SCRATCH/mnt" || fail "umount"
in_root qcow2ctl detach "$img" || fail "detach IMAGE"
check_image "$SCRATCH/pkg.qcow2" || fail "qemu-img check after use"
dev=$(in_root qcow2ctl attach -r --show "$img") || fail "attach -r"
udev_settle "$dev"
mount -o ro "$dev" "$SCRATCH/mnt" || fail "mount again"
cmp "$SCRATCH/data" "$SCRATCH/mnt/data" || fail "the file reads back different"
umount "$SCRATCH/mnt"
in_root qcow2ctl detach -D || fail "detach -D"
rmmod qcow2 || fail "rmmod qcow2"

in_root man -P cat qcow2ctl 2> /dev/null | grep -q "qcow2ctl - create qcow2 images" ||
	fail "man qcow2ctl does not show the page"
# bash-completion loads a command's completion when it is first needed.
# (_completion_loader returns 124, "try again", once it has loaded one.)
in_root bash -c '. /usr/share/bash-completion/bash_completion
	_completion_loader qcow2ctl; complete -p qcow2ctl' 2> /dev/null | grep -q _qcow2ctl ||
	fail "bash completion does not load for qcow2ctl"
[ -f "$root/lib/udev/rules.d/60-qcow2.rules" ] || fail "udev rules not installed"
exit 0
