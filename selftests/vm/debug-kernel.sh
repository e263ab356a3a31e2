#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (once) the project's debug kernel from Debian's linux-source-6.12 with
# the fragment in selftests/config, and print the path of the built tree.
#
# The tree is cached under $QCOW2_CACHE, keyed by the source package version,
# the fragment and this recipe; a change of any of them builds a new tree and
# removes the stale ones. Out-of-tree modules build against the result with
# "make -C <tree> M=...".

set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

RECIPE=3
SRC_TAR=/usr/src/linux-source-6.12.tar.xz
FRAGMENT=$QCOW2_TOP/selftests/config

[ -r "$SRC_TAR" ] || die "$SRC_TAR missing: apt-get install linux-source-6.12"
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.12 | tr -c 'A-Za-z0-9.+\n-' _)
hash=$( { echo "recipe $RECIPE"; cat "$FRAGMENT"; } | sha256sum | cut -c1-12)
tree=$QCOW2_CACHE/debug-kernel/linux-$srcver-$hash

mkdir -p "$QCOW2_CACHE/debug-kernel"
exec 9>"$QCOW2_CACHE/debug-kernel/.lock"
flock 9

if [ -e "$tree/.qcow2-built" ]; then
	echo "$tree"
	exit 0
fi

start=$(date +%s)
log "building debug kernel $srcver ($hash) in $tree; this takes a while once"
rm -rf "$tree" "$tree.tmp"
mkdir -p "$tree.tmp"
tar -xf "$SRC_TAR" -C "$tree.tmp" --strip-components=1

(
	cd "$tree.tmp"
	make -s ARCH=x86_64 allnoconfig
	scripts/kconfig/merge_config.sh -m .config "$FRAGMENT" >/dev/null
	make -s olddefconfig

	# A fragment line that did not take (a renamed or dependent option)
	# would silently weaken the debug kernel: refuse it.
	bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=n)
			opt=${line%=n}
			if grep -q "^$opt=" .config; then
				echo "fragment: $line did not take" >&2
				bad=1
			fi ;;
		CONFIG_*)
			if ! grep -qxF "$line" .config; then
				echo "fragment: $line did not take" >&2
				bad=1
			fi ;;
		esac
	done < "$FRAGMENT"
	[ "$bad" = 0 ] || exit 1

	make -j"$(nproc)" -s bzImage modules
) > "$tree.tmp.log" 2>&1 || {
	tail -n 40 "$tree.tmp.log" >&2
	die "debug kernel build failed; full log in $tree.tmp.log"
}

mv "$tree.tmp" "$tree"
mv "$tree.tmp.log" "$tree/build.log"
touch "$tree/.qcow2-built"
# Trees built from an older source or fragment are never used again.
find "$QCOW2_CACHE/debug-kernel" -mindepth 1 -maxdepth 1 -name 'linux-*' \
	! -name "linux-$srcver-$hash" -exec rm -rf {} +
log "debug kernel built in $(( $(date +%s) - start )) s"
echo "$tree"
