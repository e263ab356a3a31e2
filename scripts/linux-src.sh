#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Print a directory holding the few files of Debian's linux-source-6.12 the
# project uses outside a kernel build: the kselftest harness headers and
# checkpatch.pl with its data files. Extracted once into the cache.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

tarball=/usr/src/linux-source-6.12.tar.xz
[ -r "$tarball" ] || die "$tarball missing: run 'make deps'"
ver=$(dpkg-query -W -f '${Version}' linux-source-6.12 | tr -c 'A-Za-z0-9.+\n-' _)
dir=$QCOW2_CACHE/linux-src-$ver
if [ ! -e "$dir/.complete" ]; then
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	tar -xf "$tarball" -C "$dir.tmp" --strip-components=1 \
		linux-source-6.12/tools/testing/selftests/kselftest.h \
		linux-source-6.12/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.12/scripts/checkpatch.pl \
		linux-source-6.12/scripts/spelling.txt \
		linux-source-6.12/scripts/const_structs.checkpatch
	touch "$dir.tmp/.complete"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
fi
echo "$dir"
