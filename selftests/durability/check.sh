#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# durability/check.sh: second boot of a durability test. The image the
# first boot left behind when its kernel died passes qemu-img check (leaked
# clusters allowed), every record it logged as durable reads back through
# the device, and the image takes new writes and checks clean after them.
. "$(dirname "$0")/../lib.sh"

module_load
scratch_mount
dir=/run/scratch/durability
img=$dir/img.qcow2
[ -r "$img" ] || fail "no image left by the first boot"
last=$(tail -n 1 "$dir/log")
[ -n "$last" ] || fail "the first boot logged no record"
info "records logged as durable: $last"

out=$(qemu-img check "$img" 2>&1)
rc=$?
[ $rc = 0 ] || [ $rc = 3 ] || { echo "$out" | head -n 40; fail "qemu-img check exit $rc"; }
info "$(grep -E 'leaked|No errors' <<< "$out" | head -n 2)"

dev=$(attach --read-only "$img") || fail "attach read-only"
for ((i = 1; i <= last; i++)); do
	off=$(( (i * 67 % 3072) * 1048576 + (i % 7) * 4096 ))
	yes "record $i" | head -c 65536 > "$dir/expected"
	dd if="$dev" of="$dir/got" bs=64k skip=$off count=1 iflag=direct,skip_bytes \
		status=none || fail "reading record $i"
	cmp -s "$dir/expected" "$dir/got" || fail "record $i lost or damaged"
done
"$QCOW2CTL" detach "$dev" || fail "detach"

# Leaks only: the image takes writes and stays consistent.
qemu-img check -q -r leaks "$img" > /dev/null 2>&1
dev=$(attach "$img") || fail "attach read-write"
dd if=/dev/urandom of="$dev" bs=1M count=4 seek=3500 oflag=direct status=none || fail "new writes"
"$QCOW2CTL" detach "$dev" || fail "detach"
check_image "$img" || fail "check after new writes"
rm -rf "$dir"
echo "ok: $last records durable"
