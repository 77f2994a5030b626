#!/usr/bin/env bash
# `make bench-linux`: the same static program (benches/linux/mmbench.c) as /init on the
# Linux kernel and on Pagoda, each under the same QEMU machine, side by side.
#   scripts/bench_linux.sh [riscv64] [x86_64]
# The Linux kernels are Debian's own (trixie's linux-image-<arch>, the 6.12 series whose
# sources `make kselftest-native` builds the selftests from), fetched once from
# deb.debian.org into $CARGO_TARGET_DIR/linux-kernel and never committed. Both kernels run
# under TCG, so the figures compare kernels on one emulated machine, not real hardware:
# read the ratio, not the nanoseconds. Two tables: wall time, then guest instructions
# (QEMU -icount: deterministic, unaffected by the host's load). Environment: QEMU_TIMEOUT
# (default 300 s per boot), BENCH_MODES (default "time icount").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/linux_kernel.sh
source scripts/linux_kernel.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timeout_s=${QEMU_TIMEOUT:-300}
arches=("$@")
[[ ${#arches[@]} -gt 0 ]] || arches=(riscv64 x86_64)
for tool in curl xz dpkg-deb cpio; do
    command -v "$tool" >/dev/null || { echo "$0: $tool missing (scripts/install_deps.sh)" >&2; exit 2; }
done

# Boots Linux with `prog` as /init; its output on stdout.
run_on_linux() {
    local arch=$1 prog=$2
    mkdir -p "$work/root-$arch"
    cp "$prog" "$work/root-$arch/init"
    (cd "$work/root-$arch" && echo init | cpio --quiet -o -H newc) >"$work/initrd-$arch.cpio"
    linux_boot "$arch" "$work/initrd-$arch.cpio" "$timeout_s" || true
}

run_on_pagoda() {
    local arch=$1 prog=$2
    QEMU_TIMEOUT=$timeout_s scripts/run_linux.sh "$arch" "$prog" 2>&1 | tr -d '\r' || true
}

# `BENCH name ns` / `SKIP name why` lines of a run, as `name value`.
results() {
    sed -n -e 's/^BENCH \([a-z0-9_]*\) \([0-9]*\)$/\1 \2/p' \
        -e 's/^SKIP \([a-z0-9_]*\) \(.*\)$/\1 skipped (\2)/p' "$1"
}

# Per name, the smallest number among `name value` lines (a name without one keeps its
# first line, e.g. `skipped (...)`), in the order names first appear.
best_of() {
    awk '{ v = $0; sub(/^[^ ]* /, "", v)
           if (!($1 in best)) { order[++n] = $1; best[$1] = v }
           else if (v ~ /^[0-9]+$/ && (best[$1] !~ /^[0-9]+$/ || v + 0 < best[$1] + 0)) best[$1] = v }
         END { for (i = 1; i <= n; i++) print order[i], best[order[i]] }' "$@"
}

# One table: each arch's program on both kernels, the per-row ratio. `mode` is `time`
# (QEMU's clock follows the host's: what a user waits, but shared-machine load shows in it,
# so each side boots BENCH_BOOTS times (default 3), alternating, and a row shows each side's
# best boot) or `icount` (the guest clock counts executed instructions, 1 ns each:
# deterministic, one boot).
table() {
    local mode=$1 boots=1 unit
    [[ $mode == time ]] && boots=${BENCH_BOOTS:-3}
    unit="ns per operation, median of 5 rounds, best of $boots boots"
    [[ $mode == time ]] || unit="guest instructions per operation (QEMU -icount), median of 5"
    export QEMU_ICOUNT=$([[ $mode == icount ]] && echo 1 || echo 0)
    echo "| benchmark ($unit) | arch | Pagoda | Linux 6.12 (Debian) | Linux / Pagoda |"
    echo "|---|---|---:|---:|---:|"
    for arch in "${arches[@]}"; do
        prog=$work/mmbench-$arch
        for ((boot = 1; boot <= boots; boot++)); do
            run_on_linux "$arch" "$prog" >"$work/linux-$arch-$mode-$boot.log"
            run_on_pagoda "$arch" "$prog" >"$work/pagoda-$arch-$mode-$boot.log"
            for side in linux pagoda; do
                grep -q '^BENCH-DONE' "$work/$side-$arch-$mode-$boot.log" ||
                    echo "bench-linux: the $side run on $arch did not finish; its log ends:" \
                        "$(tail -n 3 "$work/$side-$arch-$mode-$boot.log" | tr '\n' ' ')" >&2
                results "$work/$side-$arch-$mode-$boot.log" >"$work/$side-$arch-$mode-$boot.txt"
            done
        done
        for side in linux pagoda; do
            best_of "$work/$side-$arch-$mode-"*.txt >"$work/$side-$arch.txt"
            cat "$work/$side-$arch-$mode-"*.log >"$work/$side-$arch.log"
        done
        while read -r name linux; do
            pagoda=$(awk -v n="$name" '$1 == n { $1 = ""; sub(/^ /, ""); print; exit }' \
                "$work/pagoda-$arch.txt")
            [[ -n $pagoda ]] || pagoda="not run$(sed -n 's/^SKIP all \(.*\)$/ (\1)/p' \
                "$work/pagoda-$arch.log" | head -n 1)"
            ratio=—
            if [[ $pagoda =~ ^[0-9]+$ && $linux =~ ^[0-9]+$ && $pagoda -gt 0 ]]; then
                ratio=$(awk -v l="$linux" -v p="$pagoda" 'BEGIN { printf "%.1f×", l / p }')
            fi
            echo "| $name | $arch | $pagoda | $linux | $ratio |"
        done <"$work/linux-$arch.txt"
    done
}

for arch in "${arches[@]}"; do
    case $arch in
        riscv64) cc=riscv64-linux-gnu-gcc ;;
        x86_64) cc=gcc ;;
        *) echo "$0: unknown arch '$arch' (riscv64 or x86_64)" >&2; exit 2 ;;
    esac
    "$cc" -static -O2 -Wall -Wextra -Werror -o "$work/mmbench-$arch" benches/linux/mmbench.c
done
for mode in ${BENCH_MODES:-time icount}; do
    table "$mode"
    echo
done
