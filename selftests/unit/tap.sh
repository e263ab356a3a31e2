# SPDX-License-Identifier: GPL-2.0
# What the host tests of qcow2ctl (chain.sh, cli.sh) share. Source it after
# setting Q (the qcow2ctl to run) and failed=0.

# check NAME WHY: one TAP line; an empty WHY passes.
check() {
	if [ -z "$2" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1 # $2"
		failed=1
	fi
}

# oneline TEXT: TEXT on one line, for a TAP diagnostic.
oneline() { tr '\n' '|' <<< "$1"; }

# run ARGS...: qcow2ctl's output (both streams) in $out, its status in $rc.
run() {
	out=$("$Q" "$@" 2>&1)
	rc=$?
}
