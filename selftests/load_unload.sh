#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Load and unload the module 10 times (4 in the debug guest, 50 in make
# check-full); the control
# device must come and go with it, and nothing may leak (kmemleak, where
# the kernel has it).
. "$(dirname "$0")/lib.sh"

module_unload
kmemleak_clear
# A cycle takes 1.5 to 5 s under TCG, 14 s under KASAN: short runs cycle
# 10 times, the debug guest 4.
cycles=50
short_run && cycles=10
debug_kernel && cycles=4
for i in $(seq $cycles); do
	module_load
	[ -c "$CONTROL" ] || fail "cycle $i: $CONTROL missing after load"
	grep -qw qcow2-control /proc/misc || fail "cycle $i: not in /proc/misc"
	module_unload
	[ ! -e /sys/module/qcow2 ] || fail "cycle $i: module still present"
	[ ! -e "$CONTROL" ] || fail "cycle $i: $CONTROL left after unload"
done
kmemleak_check
kmemleak_available || info "kmemleak not in this kernel; leak scan skipped"
exit $KSFT_PASS
