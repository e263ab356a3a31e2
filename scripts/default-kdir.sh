#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print the kernel headers directory "make" builds against by default: the
# running kernel's build directory when it exists, else the newest Debian
# headers installed. Prints nothing if there are none.
. "$(dirname "$0")/lib.sh"

if [ -d "/lib/modules/$(uname -r)/build" ]; then
	echo "/lib/modules/$(uname -r)/build"
	exit 0
fi
newest=$(ls -1d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
[ -n "$newest" ] && echo "$newest"
exit 0
