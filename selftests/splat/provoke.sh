#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Only for the harness's own test (selftests/vm/harness_test.sh): loads the
# splat module with the provocations in $PROVOKE, then fails on purpose so
# that the runner's failure path is exercised too.
. "$(dirname "$0")/../lib.sh"

ko=$QCOW2_TOP/build/$(uname -r)/selftests/splat/qcow2_splat.ko
insmod "$ko" provoke="${PROVOKE:-warn}" || fail "insmod $ko"
fail "failing on purpose"
