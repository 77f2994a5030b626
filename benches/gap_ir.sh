#!/bin/sh
# Instructions per call of the adversarial free-area rows (benches/benches/memory_set/gap.rs),
# counted by callgrind inside `ir_calls` only (building the layout is not counted), and of a
# map + unmap of one page past the last area (`*_map_end`: what keeping the index costs).
# Usage: benches/gap_ir.sh   (needs valgrind; builds the memory_set bench in release mode)
set -e
cd "$(dirname "$0")/.."
bin=$(cargo bench -p pagoda-bench --bench memory_set --no-run --message-format=json 2>/dev/null |
	sed -n 's/.*"executable":"\([^"]*memory_set[^"]*\)".*/\1/p' | tail -1)
out=$(mktemp)
printf '| row | n = 1000 | n = 10000 | n = 100000 |\n|---|---:|---:|---:|\n'
for row in ours_down ours_up ours_place anchor_up ours_map_end anchor_map_end; do
	line="| $row |"
	for n in 1000 10000 100000; do
		calls=1000
		case $row in anchor_*) calls=$((20000000 / n)) ;; esac
		PAGODA_GAP_IR=$row:$n:$calls valgrind --tool=callgrind --callgrind-out-file="$out" \
			--toggle-collect='*ir_calls*' "$bin" >/dev/null 2>&1
		ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out")
		line="$line $((ir / calls)) |"
	done
	echo "$line"
done
rm -f "$out"
