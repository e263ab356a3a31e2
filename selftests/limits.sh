#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What an image says bounds attach's memory and time only up to a stated
# limit: 1024 snapshots whose L1 tables are 32 MiB each (QEMU's cap) of
# 512-byte clusters, 64 Mi clusters of metadata in a sparse file, attach in
# bounded time with little kernel memory, since the driver records metadata
# as ranges, not clusters; images past QEMU's caps
# (snapshot count, snapshot L1 size, snapshot table size) are refused with
# a log line naming the limit.
. "$(dirname "$0")/lib.sh"

module_load
scratch_setup
dir=$SCRATCH
img=$dir/l.qcow2
failed=0
bad() { echo "$*"; failed=1; }

# craft IMAGE SNAPSHOTS L1-ENTRIES [NAME-BYTES [CLUSTER-BITS]]: a 1 MiB
# image with SNAPSHOTS snapshots, each naming an L1 table of L1-ENTRIES
# entries of its own in the sparse end of the file, IDs and names of
# NAME-BYTES bytes each (default 1), clusters of 2^CLUSTER-BITS bytes
# (default 16).
craft() {
	python3 - "$@" <<'PY'
import struct, sys
path, n, l1n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
nlen = int(sys.argv[4]) if len(sys.argv) > 4 else 1
cbits = int(sys.argv[5]) if len(sys.argv) > 5 else 16
C = 1 << cbits
entry_len = (40 + 2 * nlen + 7) // 8 * 8
table_clusters = (n * entry_len + C - 1) // C
l1_base = (4 + table_clusters) * C
l1_bytes = (l1n * 8 + C - 1) // C * C
l1_size = -(-(1 << 20) // (C * C // 8))
with open(path, "wb") as f:
    hdr = struct.pack(">IIQIIQIIQQIIQQQQII", 0x514649fb, 3, 0, 0, cbits, 1 << 20,
                      0, l1_size, 3 * C, 1 * C, 1, n, 4 * C, 0, 0, 0, 4, 104)
    f.write(hdr)
    f.seek(1 * C)
    f.write(struct.pack(">Q", 2 * C))
    f.seek(2 * C)
    f.write(b"\0\1" * (4 + table_clusters))
    f.seek(4 * C)
    for i in range(n):
        e = struct.pack(">QIHHIIQII", l1_base + i * l1_bytes, l1n, nlen, nlen,
                        0, 0, 0, 0, 0) + b"1" * nlen + b"s" * nlen
        f.write(e + b"\0" * (entry_len - len(e)))
    f.truncate(l1_base + n * l1_bytes)
PY
}

# Kernel memory in use, in KiB, with the page cache dropped.
used_kib() {
	sync; echo 3 > /proc/sys/vm/drop_caches
	awk '/^MemTotal:/ { t = $2 } /^MemFree:/ { f = $2 } /^Buffers:/ { b = $2 }
	     /^Cached:/ { c = $2 } END { print t - f - b - c }' /proc/meminfo
}

craft "$img" 1024 $((4 << 20)) 1 9 || fail "crafting the image"
before=$(used_kib)
start=$(date +%s%N)
dev=$(attach "$img") || fail "attach of 1024 snapshots with 32 MiB L1 tables"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grew=$(( $(used_kib) - before ))
info "1024 snapshots with 32 MiB L1 tables of 512-byte clusters ($(du -k "$img" | cut -f1) KiB on disk," \
	"$(( $(stat -c %s "$img") >> 30 )) GiB long): attach in $ms ms, $grew KiB of memory"
[ "$grew" -lt $((16 << 10)) ] || bad "attach took $grew KiB of memory (bound: 16 MiB)"
# The snapshot L1 tables are metadata: an L2 entry may not point into one.
"$QCOW2CTL" detach "$dev" || bad "detach"

# refused ERRNO-TEXT LOG-TEXT: attach of $img must fail so.
refused() {
	local out
	dmesg_mark
	if out=$("$QCOW2CTL" attach "$img" 2>&1); then
		bad "attach ($2) succeeded"
		"$QCOW2CTL" detach --all
		return
	fi
	grep -q "$1" <<< "$out" || bad "attach ($2): '$out', expected $1"
	dmesg_since | grep -q "attach l.qcow2: .*$2" || bad "no log line '$2': $(dmesg_since | tail -n 2)"
	info "ok: refused: $2"
}
rm -f "$img"; craft "$img" 65537 0
refused "Invalid argument" "65537 snapshots exceed the limit of 65536"
rm -f "$img"; craft "$img" 1 $(((4 << 20) + 1))
refused "File too large" "snapshot L1 table of 4194305 entries is too large"
# 520 entries of 128 KiB (IDs and names of 64 KiB - 1): past QEMU's
# 64 MiB for the whole table.
rm -f "$img"; craft "$img" 520 0 65535
refused "File too large" "snapshot table exceeds the limit of 67108864 bytes"

[ $failed = 0 ] || fail "attach limits"
exit $KSFT_PASS
