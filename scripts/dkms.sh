#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms.sh install [KERNEL...]   copy the module's source to
#                               /usr/src/qcow2-VERSION, add it to DKMS and
#                               build and install it for each KERNEL
#                               (default: every kernel whose headers are
#                               installed); new kernels get it from DKMS's
#                               own hooks from then on
# dkms.sh uninstall             remove every build and the source
# dkms.sh source DIR            the tree DKMS builds from, in DIR (the
#                               Debian package installs the same)
#
# scripts/install-test.sh tests both installs in copies of the root.
#
# The version is the one in VERSION; dkms.conf must say the same.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

version=$(cat "$QCOW2_TOP/VERSION")
name=qcow2

conf_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$QCOW2_TOP/dkms.conf")
[ "$conf_version" = "$version" ] ||
	die "dkms.conf says version '$conf_version', VERSION says '$version'"

# source DIR: the files DKMS needs, and only those.
source_tree() {
	local dir=$1
	mkdir -p "$dir"
	(cd "$QCOW2_TOP" &&
	 cp --parents Kbuild VERSION dkms.conf driver/*.c driver/*.h uapi/linux/qcow2.h "$dir")
}

# The qcow2-dkms package owns this source: apt, not make, removes it.
owned_by_package() {
	if command -v dpkg-query > /dev/null && dpkg-query -S "$1" > /dev/null 2>&1; then
		die "$1 belongs to the qcow2-dkms package: use apt to install or remove it"
	fi
}

# Kernels whose headers are installed.
kernels_with_headers() {
	local d
	for d in /lib/modules/*/build; do
		[ -e "$d/Makefile" ] && basename "$(dirname "$d")"
	done
}

cmd=${1:-}
shift || true
case $cmd in
install)
	[ "$(id -u)" = 0 ] || die "dkms-install needs root"
	command -v dkms > /dev/null || die "dkms is not installed (apt-get install dkms)"
	src=/usr/src/$name-$version
	owned_by_package "$src"
	# Installed before (the same version, maybe other code): DKMS would
	# keep the old build ("already installed"), so it goes first.
	# (Not "| grep -q": with pipefail, dkms's SIGPIPE would fail it.)
	if [ -n "$(dkms status -m "$name" -v "$version")" ]; then
		dkms remove -m "$name" -v "$version" --all
	fi
	rm -rf "$src"
	source_tree "$src"
	dkms add -m "$name" -v "$version"
	[ $# -gt 0 ] || set -- $(kernels_with_headers)
	[ $# -gt 0 ] || die "no kernel headers installed: install linux-headers-\$(uname -r)"
	for k in "$@"; do
		log "building and installing $name $version for $k"
		rc=0
		dkms install -m "$name" -v "$version" -k "$k" || rc=$?
		case $rc in
		0) ;;
		77) log "skipped $k: the driver needs 6.1 or later (dkms.conf BUILD_EXCLUSIVE_KERNEL)" ;;
		*) die "dkms install for $k failed" ;;
		esac
	done
	;;
uninstall)
	[ "$(id -u)" = 0 ] || die "dkms-uninstall needs root"
	owned_by_package "/usr/src/$name-$version"
	if [ -n "$(dkms status -m "$name" -v "$version")" ]; then
		dkms remove -m "$name" -v "$version" --all
	fi
	rm -rf "/usr/src/$name-$version"
	;;
source)
	source_tree "${1:?usage: dkms.sh source DIR}"
	;;
*)
	sed -n '4,14s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
