#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-module.sh KDIR [SUBDIR]
#
# Build the out-of-tree module in SUBDIR of the checkout (default: the top,
# i.e. qcow2.ko) against the kernel tree or headers in KDIR, in
# build/<kernelrelease>/, and print the path of that directory.
#
# Each kernel gets its own directory, a mirror of the sources made of
# symlinks, so builds for several kernels never share object files. The
# build uses W=1 and fails on any compiler warning.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

kdir=${1:?usage: build-module.sh KDIR [SUBDIR]}
sub=${2:-.}
krel=$(kernel_release "$kdir")

src=$QCOW2_TOP/${sub#.}
out=$QCOW2_TOP/build/$krel/${sub#.}
src=${src%/} out=${out%/}
mkdir -p "$out"

# Mirror Kbuild and the source directories as symlinks; drop links whose
# target went away so a removed source file is not built from a stale link.
find "$out" -type l ! -exec test -e {} \; -delete
for f in Kbuild VERSION driver uapi; do
	[ -e "$src/$f" ] || continue
	if [ -d "$src/$f" ]; then
		(cd "$src" && find "$f" -type f \( -name '*.c' -o -name '*.h' \)) |
		while read -r file; do
			mkdir -p "$out/$(dirname "$file")"
			ln -sfn "$src/$file" "$out/$file"
		done
	else
		ln -sfn "$src/$f" "$out/$f"
	fi
done
[ "$sub" = . ] || for file in "$src"/*.c "$src"/*.h; do
	[ -e "$file" ] && ln -sfn "$file" "$out/${file##*/}"
done

logf=$out/build.log
if ! make -C "$kdir" M="$out" W=1 modules > "$logf" 2>&1; then
	cat "$logf" >&2
	die "build against $krel failed"
fi
if grep -E 'warning:|error:' "$logf" >&2; then
	die "build against $krel has warnings (W=1)"
fi
echo "$out"
