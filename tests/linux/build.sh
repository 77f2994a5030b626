#!/usr/bin/env bash
# Builds every Linux test program for ARCH (x86_64 | riscv64), statically by default.
#   tests/linux/build.sh ARCH [static|dynamic|musl]
# static: every program, plus the dynamic programs (DYNAMIC below) as <name>-dyn;
# dynamic: every program linked dynamically. Output: target/linux-tests/<arch>/.
# musl: every program statically linked against musl, into target/linux-tests/<arch>-musl/;
# x86_64 (musl-gcc) also builds the DYNAMIC programs against musl's libc.so (its own loader).
# riscv64 uses zig's bundled musl (python3 -m ziglang cc), which links dynamically only
# against a symbol stub of libc.so: there is no real riscv64 musl libc.so to run, so riscv64
# gets static builds only. zig's cache lives in target/zig-cache (ZIG_GLOBAL_CACHE_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
arch=${1:?usage: build.sh x86_64|riscv64 [static|dynamic|musl]}
mode=${2:-static}
flags=(-O2 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -pthread)
out=target/linux-tests/$arch
case $mode in
    static) link=-static ;;
    dynamic) link="" ;;
    musl) link=-static out=$out-musl ;;
    *) echo "build.sh: unknown mode $mode" >&2; exit 2 ;;
esac
case $arch-$mode in
    x86_64-musl)
        cc=(musl-gcc)
        # musl-gcc sees only musl's headers; the tests also include Linux UAPI headers
        # (linux/futex.h, ...): offer exactly those from linux-libc-dev, nothing of glibc's.
        uapi=target/linux-tests/musl-uapi
        mkdir -p "$uapi"
        ln -sfn /usr/include/linux "$uapi/linux"
        ln -sfn /usr/include/asm-generic "$uapi/asm-generic"
        ln -sfn /usr/include/x86_64-linux-gnu/asm "$uapi/asm"
        flags+=(-isystem "$uapi")
        ;;
    riscv64-musl)
        cc=(python3 -m ziglang cc -target riscv64-linux-musl)
        export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$PWD/target/zig-cache}
        export ZIG_LOCAL_CACHE_DIR=${ZIG_LOCAL_CACHE_DIR:-$ZIG_GLOBAL_CACHE_DIR}
        ;;
    x86_64-*) cc=(gcc) ;;
    riscv64-*) cc=(riscv64-linux-gnu-gcc) ;;
    *) echo "build.sh: unknown arch $arch" >&2; exit 2 ;;
esac
if [[ ${cc[0]} == python3 ]]; then
    python3 -m ziglang version >/dev/null 2>&1 ||
        { echo "build.sh: python3 -m ziglang missing (scripts/install_deps.sh)" >&2; exit 2; }
else
    command -v "${cc[0]}" >/dev/null || { echo "build.sh: ${cc[0]} missing (scripts/install_deps.sh)" >&2; exit 2; }
fi
mkdir -p "$out"
# The musl directory is this mode's alone: no binary of an earlier build may stay behind.
[[ $mode == musl ]] && rm -f "$out"/*
# Programs that also get a dynamic build in static mode (checks ld.so start-up).
DYNAMIC="dynamic_hello exec"
dynamic_ok=1
[[ $arch-$mode == riscv64-musl ]] && dynamic_ok=0
for src in tests/linux/*.c; do
    name=$(basename "$src" .c)
    # hello_static exits 7 by design (not a TAP test): scripts/run_linux.sh builds it.
    [[ $name == hello_static ]] && continue
    # dynamic_hello only makes sense dynamically linked.
    if [[ $name == dynamic_hello ]]; then
        [[ $dynamic_ok == 1 ]] && "${cc[@]}" "${flags[@]}" -o "$out/$name" "$src" -ldl
        continue
    fi
    "${cc[@]}" "${flags[@]}" $link -o "$out/$name" "$src"
    if [[ $mode != dynamic && $dynamic_ok == 1 && " $DYNAMIC " == *" $name "* ]]; then
        "${cc[@]}" "${flags[@]}" -o "$out/$name-dyn" "$src"
    fi
done
echo "built $(ls "$out" | wc -l) programs in $out ($mode)"
