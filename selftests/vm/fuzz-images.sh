#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz-images.sh [-k KERNEL] [-n COUNT] [-f FIRST]
#
# Mutated images against the driver, in a guest (default: the debug kernel,
# KASAN + lockdep + kmemleak). Makes the seed images (the images the
# libFuzzer targets' corpus is cut from: selftests/fuzz/corpus.sh) and
# boots a guest that tries images FIRST to
# FIRST+COUNT-1 (selftests/fuzz_images.sh: attach read-write or read-only,
# read whole, write a little, flush, detach). A guest that dies (or hangs)
# is booted again at the next image; the image it died on is kept in
# build/fuzz-images/kept/. Prints TAP: the harness's own lines for each
# boot (splats, unloads), then one line with how many images ran and the
# outcome of each class (refused at attach, by errno; served; I/O error,
# with the corrupt bit or not); any death, hang or splat fails it.

set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

kind=debug
count=200
first=0
while getopts "k:n:f:" opt; do
	case $opt in
	k) kind=$OPTARG ;;
	n) count=$OPTARG ;;
	f) first=$OPTARG ;;
	*) sed -n '4,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
top=$QCOW2_TOP
base=$top/build/fuzz-images
rm -rf "$base"
mkdir -p "$base/kept"
make -s -C "$top" build/fuzz/seeds && "$top/selftests/fuzz/corpus.sh" "$top/build/fuzz" ||
	die "making the seed images failed"
ln -s "$top/build/fuzz/images" "$base/seeds"
last=$((first + count - 1))
# keep N LOG: image N made again on the host (same seed, same number).
keep() {
	local seed
	seed=$(grep "^start $1 " "$2" | awk '{ print $3 }')
	"$top/selftests/fuzz_mutate" "$base/seeds/$seed" "$base/kept/$1.qcow2" "$1" > /dev/null
}
results=$base/results
: > "$results"
boots=0
fail=0
next=$first
while [ "$next" -le "$last" ]; do
	boots=$((boots + 1))
	out=$top/build/vm/fuzz-images-$kind
	# A run of some hundred images takes minutes on the debug kernel.
	"$top/selftests/vm/run.sh" -q -k "$kind" -o "$out" -t $((600 + (last - next) * 20)) \
		-c "selftests/fuzz_images.sh $next $last '$base/seeds' /run/qcow2-out/fuzz.log" \
		> "$base/boot$boots.tap" 2>&1
	# The harness's verdicts on this boot (splats, the command's status)
	# count, except that a guest which died on an image is expected to
	# have died: that is reported below, per image.
	log=$out/share/fuzz.log
	[ -r "$log" ] || { echo "not ok - fuzz-images: boot $boots wrote no log"; fail=1; break; }
	cat "$log" >> "$results"
	died=$(awk '$1 == "start" { s = $2 } $1 == "end" && $2 == s { s = "" } END { print s }' "$log")
	grep -E '^(not )?ok ' "$base/boot$boots.tap" | sed "s/ - /&fuzz-images boot $boots: /" |
		{ if [ -n "$died" ]; then sed 's/^not ok/ok/; s/$/ # the guest died on image '"$died"', reported below/'; else cat; fi; }
	# A splat belongs to the image whose "qcow2-fuzz: image N" line came
	# last before it in the kernel log (also in a boot that died later:
	# an earlier image's splat is kept too).
	awk -v re="$splat_re" '
		/qcow2-fuzz: image [0-9]+/ { sub(/.*qcow2-fuzz: image /, ""); img = $1 + 0; next }
		$0 ~ re && img != "" && !seen[img]++ { print img }' "$out/kernel.log" |
	while read -r s; do
		grep "^start $s " "$log" | sed 's/^start/splat/' >> "$results"
		keep "$s" "$log"
	done
	if [ -n "$died" ]; then
		echo "$died" >> "$base/died"
		grep "^start $died " "$log" | sed 's/^start/died on/' >> "$results"
		cp "$out/console.log" "$base/kept/console-$died.log"
		keep "$died" "$log"
		next=$((died + 1))
		continue
	fi
	ended=$(awk '$1 == "end" { e = $2 } END { print e }' "$log")
	[ "$ended" = "$last" ] || { echo "not ok - fuzz-images: boot $boots stopped after image ${ended:-none}"; fail=1; break; }
	next=$((last + 1))
done

total=$(grep -c '^end ' "$results")
classes=$(awk '$1 == "end" { n[$3]++ } END { for (c in n) printf "%s %d, ", c, n[c] }' "$results" | sed 's/, $//')
bad=$(grep -cE '^(died on|hang|splat) ' "$results")
grep -q '^hang ' "$results" &&
	grep '^hang ' "$results" | awk '{ print $2 }' | while read -r h; do keep "$h" "$results"; done
echo "# $total images (from $(ls "$base/seeds"/*.qcow2 | wc -l) seeds), $boots boots: $classes"
# Outcomes as well as survival: a mutated image is refused only for what
# the attach ioctl documents for a bad image (EINVAL, EOPNOTSUPP, EFBIG;
# EUCLEAN read-write only, and then it attaches read-only), and some stay
# whole enough to be served: an attach that failed for every image (a
# leaked device, ENOMEM) would otherwise pass as "refused".
others=$(awk '$1 == "end" && $3 ~ /^refused:/ && $3 !~ /^refused:(Invalid_argument|Operation_not_supported|File_too_large)$/ { print $2 ": " $3 }' "$results")
if [ -n "$others" ]; then
	echo "$others" | head -n 20 | sed 's/^/# refused for another reason: image /'
	echo "not ok - fuzz-images: $(wc -l <<< "$others") images refused with an errno the attach ioctl does not document for a bad image"
	fail=1
fi
served=$(awk '$1 == "end" && $3 ~ /^served/ { n++ } END { print n + 0 }' "$results")
if [ "$served" -lt $((total / 20)) ]; then
	echo "not ok - fuzz-images: only $served of $total images served (at least one in twenty expected)"
	fail=1
fi
if [ "$bad" != 0 ]; then
	grep -E '^(died on|hang|splat) ' "$results" | sed 's/^/# /'
	echo "not ok - fuzz-images: $bad images killed the guest, hung or left a splat (kept in $base/kept)"
	fail=1
elif [ $fail = 0 ]; then
	echo "ok - fuzz-images: $total mutated images on $kind, none killed the guest, hung or left a splat"
fi
exit $fail
