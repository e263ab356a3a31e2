# SPDX-License-Identifier: GPL-2.0
# Checks of a newly created image against qemu-img, shared by the host unit
# tests (images written by mkimage) and the guest tests (images written by
# the kernel). Source it.

# info_as_qemu QCOW2CTL IMG: prints how "QCOW2CTL info IMG" differs from
# "qemu-img info IMG", in text (qemu-img's lines, before qcow2ctl's own
# section) and in JSON (qemu-img's keys, with its values); nothing if not.
info_as_qemu() {
	local tool=$1 img=$2 ours theirs
	ours=$("$tool" info "$img" 2>&1 | sed '/^qcow2ctl:$/,$d')
	theirs=$(qemu-img info "$img" 2>&1)
	[ "$ours" = "$theirs" ] ||
		echo "info: $(diff <(echo "$theirs") <(echo "$ours") | tr '\n' '|')"
	ours=$("$tool" info --json "$img" 2>&1 | jq -S 'del(."backing-chain",
		."backing-chain-error", ."qcow2-version", ."file-length", ."l1-size",
		."snapshot-count", ."incompatible-features", ."compatible-features",
		."autoclear-features", ."snapshots-error") |
		if .snapshots then .snapshots |= map(del(."disk-size")) else . end')
	theirs=$(qemu-img info --output=json "$img" | jq -S .)
	[ -n "$ours" ] && [ "$ours" = "$theirs" ] ||
		echo "info --json: $(diff <(echo "$theirs") <(echo "$ours") | tr '\n' '|')"
}

# check_new_image IMG SIZE CLUSTER VERSION REFBITS MODE [extl2] [lazy] [backing=NAME]
#
# Prints why IMG is not the image "qcow2ctl create" should make for these
# options and returns 1; prints nothing and returns 0 if it is:
#  - qemu-img check finds nothing (exit 0);
#  - qemu-img info reports the size, cluster size, compat, refcount width,
#    features and backing file asked for;
#  - the file is no longer than qemu-img measure says for the same options;
#  - with preallocation, qemu-img map shows every cluster allocated and the
#    data contiguous in guest order; without, no data at all;
#  - metadata mode leaves the data area a hole, falloc and full allocate it,
#    full with written (not unwritten) extents, in few extents.
check_new_image() {
	local img=$1 size=$2 cs=$3 ver=$4 rb=$5 mode=$6 a
	shift 6
	local extl2=false lazy=false backing= compat=1.1 why=
	local opts="cluster_size=$cs,refcount_bits=$rb"
	[ "$ver" = 2 ] && compat=0.10
	opts+=",compat=$compat"
	for a in "$@"; do
		case $a in
		extl2) opts+=",extended_l2=on"; extl2=true ;;
		lazy) opts+=",lazy_refcounts=on"; lazy=true ;;
		backing=*) backing=${a#backing=} ;;
		esac
	done

	local out
	if ! out=$(qemu-img check -q "$img" 2>&1); then
		echo "qemu-img check: $(head -c 300 <<< "$out")"
		return 1
	fi

	local info key
	info=$(qemu-img info --output=json "$img")
	for key in '."virtual-size"'" $size" '."cluster-size"'" $cs" \
		   '."format-specific".data.compat'" $compat" \
		   '."format-specific".data."refcount-bits"'" $rb"; do
		[ "$(jq -r "${key% *}" <<< "$info")" = "${key##* }" ] ||
			why+=" info ${key% *}=$(jq -r "${key% *}" <<< "$info")"
	done
	if [ "$ver" = 3 ]; then
		[ "$(jq -r '."format-specific".data."extended-l2"' <<< "$info")" = $extl2 ] ||
			why+=" extended-l2"
		[ "$(jq -r '."format-specific".data."lazy-refcounts"' <<< "$info")" = $lazy ] ||
			why+=" lazy-refcounts"
	fi
	if [ -n "$backing" ]; then
		[ "$(jq -r '."backing-filename"' <<< "$info")" = "$backing" ] ||
			why+=" backing-filename"
	fi

	local measure len alloc
	if [ "$mode" = off ]; then
		measure=$(qemu-img measure -O qcow2 --size "$size" -o "$opts" |
			  awk '/required size/ { print $3 }')
	else
		measure=$(qemu-img measure -O qcow2 --size "$size" -o "$opts" |
			  awk '/fully allocated/ { print $4 }')
	fi
	len=$(stat -c %s "$img")
	alloc=$(( $(stat -c %b "$img") * 512 ))
	[ "$len" -le "$measure" ] || why+=" file length $len > qemu-img measure $measure"

	local map first
	map=$(qemu-img map --output=json "$img")
	if [ -n "$backing" ]; then
		:	# unallocated subclusters read through to the backing file
	elif [ "$mode" = off ]; then
		[ "$(jq '[.[] | select(.data)] | length' <<< "$map")" = 0 ] ||
			why+=" an unpreallocated image maps data"
	else
		first=$(jq '.[0].offset' <<< "$map")
		[ "$(jq "all(.[]; .data and .offset == $first + .start)
			 and (map(.length) | add) == $size" <<< "$map")" = true ] ||
			why+=" data not allocated contiguously: $(head -c 200 <<< "$map")"
		case $mode in
		metadata)
			# Only the tables are on disk (and the filesystem block
			# the first data cluster may share with the last one).
			[ "$alloc" -le $((first + 4096)) ] ||
				why+=" not sparse: $alloc bytes allocated"
			;;
		falloc|full)
			[ "$alloc" -ge "$size" ] ||
				why+=" data area not allocated: $alloc bytes allocated"
			;;
		esac
	fi
	if [ "$mode" = full ] || [ "$mode" = falloc ]; then
		local frag unwritten extents
		if frag=$(filefrag -v "$img" 2>/dev/null); then
			unwritten=$(grep -c unwritten <<< "$frag")
			extents=$(grep -cE '^ *[0-9]+:' <<< "$frag")
			[ "$mode" = full ] && [ "$unwritten" != 0 ] &&
				why+=" full: $unwritten unwritten extents (zeros not written)"
			# ext4 extents hold up to 128 MiB: allow a few more.
			[ "$extents" -le $(( size / (128 << 20) + 16 )) ] ||
				why+=" fragmented: $extents extents"
		fi
	fi
	if [ -n "${INFO_TOOL:-}" ]; then
		out=$(info_as_qemu "$INFO_TOOL" "$img")
		[ -z "$out" ] || why+=" qcow2ctl $out"
	fi
	[ -z "$why" ] && return 0
	echo "$why"
	return 1
}
