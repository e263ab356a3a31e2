#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# QCOW2_IOC_CREATE called directly (create_test.c): errnos of every bad
# request, then the log line each of them left.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
cd "$dir" || fail "cd $dir"
before=$(dmesg | wc -l)
"$QCOW2_TOP/selftests/create_test" || fail "create_test failed"

# One line per refused request, naming the file and what to change.
log=$(dmesg | tail -n +$((before + 1)))
for what in "unknown flags" "reserved fields" "cluster_size" "refcount_bits" \
	    "not a multiple of 512" "L1 entries" "version 4" "needs version 3" \
	    "extended_l2 needs a cluster_size" "unknown prealloc mode" \
	    "preallocation with a backing file needs extended_l2" \
	    "backing format given without a backing file" "do not fit in one cluster" \
	    "not open for writing" "not a regular file" "O_APPEND" "not empty"; do
	grep -q "qcow2: create .*$what" <<< "$log" || fail "no log line for '$what'"
done
exit $KSFT_PASS
