#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian 12 packages the project needs to build, test and run
# its demo. As root it installs what is missing; otherwise it prints the
# apt-get line to run and fails.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

packages=(
	# building the module, the tools and the debug kernel
	gcc make libc6-dev bc flex bison libelf-dev libssl-dev dwarves kmod
	cpio xz-utils perl
	# the host unit tests inflate qemu-img's compressed clusters, and
	# trace qcow2ctl's opens
	zlib1g-dev strace
	# the fuzz targets: libFuzzer and the sanitizers' runtime, and the
	# symbolizer for their stacks
	clang-14 libclang-rt-14-dev llvm-14
	# the kernels the module is tested on, their headers, and the source
	# of the debug kernel and of the kselftest harness
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64 linux-source-6.12
	# guests and the qcow2 oracle
	qemu-system-x86 qemu-utils busybox-static
	# what the tests run inside the guests
	fio e2fsprogs xfsprogs util-linux util-linux-extra fdisk jq dmsetup
	python3 zstd
	# stress.sh: memory pressure, and an NFS server and client in the guest
	stress-ng nfs-kernel-server iproute2
	# packaging: DKMS and its debhelper add-on, the Debian package
	# tooling and its checker; man renders the man page, udev's rules
	# make the /dev/disk links, bash-completion loads the completion
	dkms dh-dkms debhelper dpkg-dev fakeroot lintian man-db udev
	bash-completion
	# make bench: its chart, and perf for profiles in the guest
	gnuplot-nox fonts-dejavu-core linux-perf
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	log "missing packages; as root run:"
	echo "apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi
log "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
