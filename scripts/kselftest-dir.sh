#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print a directory holding the kernel's kselftest_harness.h and
# kselftest.h, extracted once from Debian's linux-source-6.12 into the cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tarball=/usr/src/linux-source-6.12.tar.xz
[ -r "$tarball" ] || die "$tarball missing: apt-get install linux-source-6.12"
ver=$(dpkg-query -W -f '${Version}' linux-source-6.12 | tr -c 'A-Za-z0-9.+\n-' _)
dir=$QCOW2_CACHE/kselftest-$ver
if [ ! -r "$dir/kselftest_harness.h" ]; then
	mkdir -p "$dir.tmp"
	tar -xf "$tarball" -C "$dir.tmp" --strip-components=4 --wildcards \
		'linux-source-6.12/tools/testing/selftests/kselftest.h' \
		'linux-source-6.12/tools/testing/selftests/kselftest_harness.h'
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir"
