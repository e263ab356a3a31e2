# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the project's shell scripts. Source it; do not run it.

QCOW2_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Kernel builds, debug kernels and guest images live outside the checkout so
# that a fresh clone reuses them and "git clean" never throws them away.
QCOW2_CACHE=${QCOW2_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qcow2-kmod}

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit 1; }

# Stock Debian kernels the project supports, newest ABI of each series that
# is installed. Prints one kernel release per line.
stock_kernels() {
	local series rel
	for series in 6.1 6.12; do
		rel=$(ls -1 /lib/modules 2>/dev/null | grep -E "^${series//./\\.}[.-][0-9].*-amd64$" |
			sort -V | tail -n 1)
		[ -n "$rel" ] && echo "$rel"
	done
}

# Headers directory for a kernel release.
kdir_of() {
	if [ -d "/lib/modules/$1/build" ]; then
		echo "/lib/modules/$1/build"
	elif [ -d "/usr/src/linux-headers-$1" ]; then
		echo "/usr/src/linux-headers-$1"
	else
		return 1
	fi
}

# The release a kernel tree or headers directory was built as, i.e. what
# "uname -r" prints when it runs (Debian's include/config/kernel.release
# holds the upstream version instead, so read utsrelease.h).
kernel_release() {
	local h=$1/include/generated/utsrelease.h
	[ -r "$h" ] || die "$1 is not a configured kernel tree or headers directory"
	sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$h"
}

# What counts as a splat in a guest's kernel log (selftests/vm/run.sh,
# selftests/vm/fuzz-images.sh); "BUG <cache> (...)" is SLUB's own report.
splat_re='BUG:|BUG [-a-z0-9_]+ \(|WARNING:|Oops|UBSAN:|general protection fault|Kernel panic|kernel BUG at'
splat_re+='|INFO: task .* blocked for more than|soft lockup|rcu_.* detected stall'
splat_re+='|possible circular locking|possible recursive locking|inconsistent lock state'
splat_re+='|suspicious RCU usage|bad unlock balance|kmemleak: [0-9]+ new suspected'
