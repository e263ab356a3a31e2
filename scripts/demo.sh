#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "make demo": install what is missing, build, and run the project's main
# job (scripts/demo-steps.sh) on this machine if its kernel can load the
# module, else in a guest of Debian's 6.12 kernel.

set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$QCOW2_TOP"

scripts/deps.sh
if [ -e /proc/modules ] && [ "$(id -u)" = 0 ] &&
   [ -d "/lib/modules/$(uname -r)/build" ]; then
	make -s KDIR="/lib/modules/$(uname -r)/build" all
	exec scripts/demo-steps.sh
fi

log "this kernel cannot load modules; running the demo in a guest (Debian 6.12)"
make -s qcow2ctl
# The image goes on ext4 on the guest's scratch disk, as it would on a host.
selftests/vm/run.sh -k 6.12 \
	-c '. selftests/lib.sh && scratch_mount && TMPDIR=/run/scratch scripts/demo-steps.sh'
