#!/usr/bin/env bash
# Builds every Linux test program for ARCH (x86_64 | riscv64), statically by default.
#   tests/linux/build.sh ARCH [static|dynamic]
# static: every program, plus the dynamic programs (DYNAMIC below) as <name>-dyn;
# dynamic: every program linked dynamically. Output: target/linux-tests/<arch>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${1:?usage: build.sh x86_64|riscv64 [static|dynamic]}
mode=${2:-static}
case $arch in
    x86_64) cc=gcc ;;
    riscv64) cc=riscv64-linux-gnu-gcc ;;
    *) echo "build.sh: unknown arch $arch" >&2; exit 2 ;;
esac
case $mode in
    static) link=-static ;;
    dynamic) link="" ;;
    *) echo "build.sh: unknown mode $mode" >&2; exit 2 ;;
esac
command -v "$cc" >/dev/null || { echo "build.sh: $cc missing (scripts/install_deps.sh)" >&2; exit 2; }
out=target/linux-tests/$arch
mkdir -p "$out"
# Programs that also get a dynamic build in static mode (checks ld.so start-up).
DYNAMIC="dynamic_hello exec"
flags=(-O2 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -pthread)
for src in tests/linux/*.c; do
    name=$(basename "$src" .c)
    # hello_static exits 7 by design (not a TAP test): scripts/run_linux.sh builds it.
    [[ $name == hello_static ]] && continue
    # dynamic_hello only makes sense dynamically linked.
    if [[ $name == dynamic_hello ]]; then
        "$cc" "${flags[@]}" -o "$out/$name" "$src" -ldl
        continue
    fi
    "$cc" "${flags[@]}" $link -o "$out/$name" "$src"
    if [[ $mode == static && " $DYNAMIC " == *" $name "* ]]; then
        "$cc" "${flags[@]}" -o "$out/$name-dyn" "$src"
    fi
done
echo "built $(ls "$out" | wc -l) programs in $out ($mode)"
