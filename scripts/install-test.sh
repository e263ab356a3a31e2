#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# install-test.sh [OUT]: install what the project ships into copies of this
# machine's root (overlay mounts: the machine itself is not changed) and
# check what the installs leave, printing TAP:
#  - "deb": the packages from scripts/deb.sh, with dpkg -i; qcow2-dkms's
#    postinst has DKMS build and install the module for every kernel with
#    headers (Debian's 6.1 and 6.12 here: this machine's own kernel has
#    none, as in a chroot). The layer the install wrote stays in
#    OUT/deb/upper: selftests/packages.sh, in a guest of each kernel,
#    boots into this root over its own and modprobes and uses what the
#    packages installed;
#  - "dkms-install": make dkms-install and make dkms-uninstall from a copy
#    of the tree, the same for a checkout without packages.
#
# Needs root (mounts, chroot).

set -uo pipefail
. "$(dirname "$0")/lib.sh"

out=${1:-$QCOW2_TOP/build/pkgroot}
version=$(cat "$QCOW2_TOP/VERSION")
[ "$(id -u)" = 0 ] || die "needs root"
# Every mount below lives in a mount namespace of this run's own: killed
# or not, none is left on the host (where a later "rm -r" of OUT could go
# down a bind of /dev).
if [ -z "${QCOW2_INSTALL_TEST_NS:-}" ]; then
	QCOW2_INSTALL_TEST_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
# Left by an older run outside a namespace: never removed through.
if findmnt -rno TARGET | grep -qF "$out/"; then
	die "mounts under $out are left from an earlier run: umount them first"
fi
# A DKMS registration on the host would be copied into the roots, and the
# installs would find qcow2 there already.
if [ -n "$(dkms status qcow2 2> /dev/null)" ]; then
	die "qcow2 is registered with this machine's DKMS: make dkms-uninstall (or remove the package) first"
fi
failed=0
mounts=()

check() { # NAME WHY: one TAP line; an empty WHY passes
	if [ -z "$2" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1 # $2"
		failed=1
	fi
}

cleanup() {
	local i
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount "${mounts[i]}" || umount -l "${mounts[i]}"
	done
	mounts=()
}
trap cleanup EXIT

# root NAME: a writable copy of / in OUT/NAME/root, path in $r (its writes
# go to OUT/NAME/upper), with /proc, /sys and /dev for the tools run inside.
root() {
	local d=$out/$1
	rm -rf --one-file-system "$d"
	mkdir -p "$d/upper" "$d/work" "$d/root"
	r=$d/root
	mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" \
		"$d/root" || return 1
	mounts+=("$d/root")
	for m in proc sys dev dev/pts; do
		mount --bind "/$m" "$d/root/$m" || return 1
		mounts+=("$d/root/$m")
	done
	# The host's /tmp and /run stay out of it.
	for m in tmp run; do
		mount -t tmpfs tmpfs "$d/root/$m" || return 1
		mounts+=("$d/root/$m")
	done
}

rm -rf --one-file-system "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

# --- The Debian packages ------------------------------------------------
debs=$("$QCOW2_TOP/scripts/deb.sh" "$out/debs" 2> "$out/deb.log")
check "make deb builds qcow2-dkms and qcow2ctl, lintian-clean" \
	"$([ "$(wc -l <<< "$debs")" = 2 ] || tail -n 5 "$out/deb.log" | tr '\n' '|')"

root deb || { check "deb: a root to install into" "overlay mount failed"; exit 1; }
mkdir -p "$r/var/tmp/debs"
cp $debs "$r/var/tmp/debs/"
chroot "$r" sh -c 'dpkg -i /var/tmp/debs/*.deb' > "$out/dpkg.log" 2>&1
rc=$?
check "deb: dpkg -i installs both packages" \
	"$([ "$rc" = 0 ] || tail -n 8 "$out/dpkg.log" | tr '\n' '|')"
why=
for krel in $(stock_kernels); do
	mod=$(ls "$r/lib/modules/$krel/updates/dkms/"qcow2.ko* 2> /dev/null | head -1)
	if [ -z "$mod" ]; then
		why+=" no module for $krel;"
		continue
	fi
	v=$(modinfo -F version "$mod" 2> /dev/null)
	[ "$v" = "$version" ] || why+=" $krel: version '$v';"
	chroot "$r" modprobe -S "$krel" --show-depends qcow2 2> /dev/null |
		grep -q "updates/dkms/qcow2.ko" || why+=" $krel: modprobe does not find it;"
done
check "deb: DKMS built and installed the module for every kernel with headers" "$why"
st=$(chroot "$r" dkms status qcow2/"$version" 2>&1)
check "deb: dkms status lists qcow2 $version installed for $(stock_kernels | wc -l) kernels" \
	"$([ "$(grep -c ': installed' <<< "$st")" = "$(stock_kernels | wc -l)" ] || tr '\n' '|' <<< "$st")"
why=
for f in usr/sbin/qcow2ctl usr/share/man/man8/qcow2ctl.8.gz \
	 usr/share/bash-completion/completions/qcow2ctl lib/udev/rules.d/60-qcow2.rules \
	 "usr/src/qcow2-$version/dkms.conf"; do
	[ -e "$r/$f" ] || why+=" /$f missing;"
done
[ "$(chroot "$r" qcow2ctl --version 2>&1)" = "qcow2ctl $version" ] || why+=" qcow2ctl --version;"
chroot "$r" man -w qcow2ctl > /dev/null 2>&1 || why+=" man -w qcow2ctl finds nothing;"
check "deb: the tool, its man page, completion and udev rules are installed" "$why"
cleanup

# --- make dkms-install ----------------------------------------------------
root dkms || { check "dkms-install: a root to install into" "overlay mount failed"; exit 1; }
mkdir -p "$r/var/tmp/src"
"$QCOW2_TOP/scripts/dkms.sh" source "$r/var/tmp/src"
cp -r "$QCOW2_TOP/Makefile" "$QCOW2_TOP/scripts" "$QCOW2_TOP/userspace" "$r/var/tmp/src/"
cp "$QCOW2_TOP/driver/"*.[ch] "$r/var/tmp/src/driver/"
chroot "$r" sh -c 'cd /var/tmp/src && make -s dkms-install KDIR=/nonexistent' \
	> "$out/dkms-install.log" 2>&1
rc=$?
st=$(chroot "$r" dkms status qcow2/"$version" 2>&1)
check "make dkms-install builds and installs for every kernel with headers" \
	"$([ "$rc" = 0 ] && [ "$(grep -c ': installed' <<< "$st")" = "$(stock_kernels | wc -l)" ] &&
	   [ -x "$r/usr/local/sbin/qcow2ctl" ] || { tail -n 5 "$out/dkms-install.log"; echo "$st"; } | tr '\n' '|')"
chroot "$r" sh -c 'cd /var/tmp/src && make -s dkms-uninstall' > "$out/dkms-uninstall.log" 2>&1
rc=$?
st=$(chroot "$r" dkms status 2>&1 | grep qcow2)
check "make dkms-uninstall removes every build, the source and the tool" \
	"$([ "$rc" = 0 ] && [ -z "$st" ] && [ ! -e "$r/usr/src/qcow2-$version" ] &&
	   ! ls "$r"/lib/modules/*/updates/dkms/qcow2.ko* > /dev/null 2>&1 &&
	   [ ! -e "$r/usr/local/sbin/qcow2ctl" ] && [ ! -e "$r/lib/udev/rules.d/60-qcow2.rules" ] ||
	   { tail -n 5 "$out/dkms-uninstall.log"; echo "$st"; } | tr '\n' '|')"
cleanup
rm -rf --one-file-system "$out/dkms" "$out/deb/work"
exit $failed
