#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# qcow2ctl loads an installed module when /dev/qcow2-control is missing
# (the dynamic minor rules out autoloading on open of the node).
. "$(dirname "$0")/lib.sh"

module_unload
[ -x "$QCOW2CTL" ] || fail "$QCOW2CTL not built"

# A private module tree holding only qcow2.ko, over the read-only host one.
mount -t tmpfs tmpfs /lib/modules || fail "cannot mount a module tree"
trap 'umount /lib/modules' EXIT
dir=/lib/modules/$(uname -r)/extra
mkdir -p "$dir"
cp "$QCOW2_KO" "$dir/"
depmod -a || fail "depmod failed"

[ ! -e "$CONTROL" ] || fail "$CONTROL exists before the module is loaded"
out=$("$QCOW2CTL" version) || fail "qcow2ctl version failed: $out"
module_loaded || fail "qcow2ctl did not load the module"
grep -q '^module ABI version: 1$' <<< "$out" || fail "unexpected output: $out"
exit $KSFT_PASS
