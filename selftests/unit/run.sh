#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the host-side unit tests of the format code, with a fresh set of
# images made by qemu-img as fixtures. Prints TAP.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

fixtures=$(mktemp -d)
trap 'rm -rf "$fixtures"' EXIT
mk() { # name options size
	qemu-img create -q -f qcow2 -o "$2" "$fixtures/$1.qcow2" "$3"
}
mk v2-c16-r4 compat=0.10 1G
mk v3-c16-r4 compat=1.1 1G
mk v3-c9-r4 cluster_size=512 1M
mk v3-c21-r4 cluster_size=2M 100G
mk v3-c16-r0 refcount_bits=1 1G
mk v3-c16-r6 refcount_bits=64 1G
mk v3-c16-r4-lazy lazy_refcounts=on 1G
mk v3-c16-r4-extl2 extended_l2=on 1G
mk v3-c16-r4-zstd compression_type=zstd 1G
mk v3-c16-r4-prealloc preallocation=metadata 64M
mk v3-c12-r4-odd cluster_size=4096 1000000512
mk base compat=1.1 1G
qemu-img create -q -f qcow2 -b "$fixtures/base.qcow2" -F qcow2 \
	"$fixtures/v3-c16-r4-backing.qcow2"

QCOW2_FIXTURES=$fixtures "$here/format_test"
