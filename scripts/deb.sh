#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deb.sh [OUT]: build the Debian packages qcow2-dkms and qcow2ctl from the
# working tree with Debian's own tooling (dpkg-buildpackage, debhelper and
# dh-dkms) in OUT (default build/deb), and run lintian over them: any error
# or warning fails. Prints the paths of the two .deb files.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=${1:-$QCOW2_TOP/build/deb}
version=$(cat "$QCOW2_TOP/VERSION")
for tool in dpkg-buildpackage dh dh_dkms lintian; do
	command -v "$tool" > /dev/null || die "$tool is missing (make deps)"
done

rm -rf "$out"
src=$out/qcow2-$version
mkdir -p "$src"
out=$(cd "$out" && pwd)
src=$out/qcow2-$version
# The tree as git sees it (committed or not), without build outputs; a
# file deleted but not yet committed is listed, and left out.
(cd "$QCOW2_TOP" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -rd '' f; do
		[ -e "$f" ] && printf '%s\0' "$f"
	done | xargs -0 cp --parents -t "$src") ||
	die "cannot copy the source tree"

log "dpkg-buildpackage in $src"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	die "dpkg-buildpackage failed (log: $out/build.log)"
fi
debs=("$out"/qcow2-dkms_"$version"_all.deb "$out"/qcow2ctl_"$version"_*.deb)
for d in "${debs[@]}"; do
	[ -f "$d" ] || die "no package $d"
done

log "lintian"
changes=$(ls "$out"/qcow2_"$version"_*.changes)
if ! lintian --fail-on error,warning "$changes" > "$out/lintian.log" 2>&1; then
	cat "$out/lintian.log" >&2
	die "lintian reports errors or warnings (log: $out/lintian.log)"
fi
printf '%s\n' "${debs[@]}"
