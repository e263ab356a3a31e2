#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the kernel's checkpatch.pl over the project's kernel code (the driver,
# the uapi header and the test-only splat module); fails on any warning.
# driver/compat.h is the one place where LINUX_VERSION_CODE belongs, so that
# check is off for it alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cp=$("$QCOW2_TOP/scripts/linux-src.sh")/scripts/checkpatch.pl
cd "$QCOW2_TOP"
opts=(--no-tree --quiet --show-types -f)
files=$(git ls-files 'driver/*.[ch]' 'uapi/*.h' 'selftests/splat/*.c' |
	grep -v '^driver/compat.h$')
rc=0
perl "$cp" "${opts[@]}" $files || rc=1
perl "$cp" "${opts[@]}" --ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON driver/compat.h || rc=1
exit $rc
