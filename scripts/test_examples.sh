#!/usr/bin/env bash
# Builds every kernel example (examples/*/Cargo.toml; an example's prebuild.sh, if any, runs
# first) for each architecture in release mode, runs it under QEMU with a timeout and prints
# one line per run:
#   PASS|FAIL <example> <arch> (exit N, Xs)
# A run passes only with BOTH the expected exit status (riscv64: 0, x86_64: 33, aarch64: 0)
# AND a line `PASS <example>` on the serial output. An example that is meant to die (e.g.
# stack_overflow) says so in examples/<name>/expect: a line `exit N` (the code it passes to the
# HAL's exit(false, N); QEMU reports N on riscv64 and aarch64, (N << 1) | 1 on x86_64) and a
# line `line TEXT` (replaces `PASS <example>`: a serial line exactly TEXT).
# Ends with `N passed, M failed`; exits 1 if any failed.
# Usage: scripts/test_examples.sh [--examples|--linux] [riscv64] [x86_64] [aarch64]
#        (default: all three arches; --examples: only the kernel examples, --linux: only the
#        Linux programs, which `make test-linux` runs)
# Environment: EXAMPLE_TIMEOUT (seconds per run, default 30), CARGO_TARGET_DIR.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
only=
case ${1:-} in
--examples | --linux) only=${1#--}; shift ;;
esac
archs=("$@")
[[ ${#archs[@]} -eq 0 ]] && archs=(riscv64 x86_64 aarch64)
target_dir=${CARGO_TARGET_DIR:-$root/target}
limit=${EXAMPLE_TIMEOUT:-30}
passed=0
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

triple_of() {
    case $1 in
    riscv64) echo riscv64gc-unknown-none-elf ;;
    x86_64) echo x86_64-unknown-none ;;
    aarch64) echo aarch64-unknown-none ;;
    *) return 1 ;;
    esac
}

expected_exit() {
    case $1 in
    riscv64) echo 0 ;;
    x86_64) echo 33 ;;
    aarch64) echo 0 ;;
    esac
}

report() { # verdict example arch detail log
    echo "$1 $2 $3 ($4)"
    if [[ $1 == FAIL && -s $5 ]]; then
        tail -n 15 "$5" | sed 's/^/    | /'
    fi
    if [[ $1 == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

examples=()
for manifest in examples/*/Cargo.toml; do
    examples+=("$(dirname "$manifest")")
done

for arch in "${archs[@]}"; do
    [[ $only == linux ]] && continue
    if ! triple=$(triple_of "$arch"); then
        echo "unknown arch '$arch' (riscv64, x86_64 or aarch64)" >&2
        exit 2
    fi
    for dir in "${examples[@]}"; do
        name=$(basename "$dir")
        pkg=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n 1)
        log="$work/$name-$arch.log"
        if [[ -x $dir/prebuild.sh ]] && ! "$dir/prebuild.sh" "$arch" "$triple" >"$log" 2>&1; then
            report FAIL "$name" "$arch" "prebuild failed" "$log"
            continue
        fi
        if ! cargo build --quiet -p "$pkg" --target "$triple" --profile kernel >"$log" 2>&1; then
            report FAIL "$name" "$arch" "build failed" "$log"
            continue
        fi
        elf="$target_dir/$triple/kernel/$pkg"
        start=$(date +%s%N)
        QEMU_TIMEOUT=$limit scripts/qemu.sh "$arch" "$elf" >"$log" 2>&1
        status=$?
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        took=$(printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10)))
        want_status=$(expected_exit "$arch")
        want_line="PASS $name"
        if [[ -f $dir/expect ]]; then
            code=$(sed -n 's/^exit \([0-9]*\)$/\1/p' "$dir/expect")
            want_line=$(sed -n 's/^line //p' "$dir/expect")
            if [[ $arch == x86_64 ]]; then want_status=$(((code << 1) | 1)); else want_status=$code; fi
        fi
        if [[ $status -eq $want_status ]] && tr -d '\r' <"$log" | grep -qxF "$want_line"; then
            report PASS "$name" "$arch" "exit $status, $took" "$log"
        else
            [[ $status -eq 124 ]] && took="$took, timed out"
            report FAIL "$name" "$arch" "exit $status, $took" "$log"
        fi
    done
done

# The first Linux program: tests/linux/hello_static.c built with Debian's static glibc
# toolchains, run as /init through scripts/run_linux.sh: exit status 7 and its output.
for arch in "${archs[@]}"; do
    [[ $only == examples ]] && continue
    case $arch in
    x86_64) cc=gcc ;;
    riscv64) cc=riscv64-linux-gnu-gcc ;;
    *) continue ;;
    esac
    log="$work/linux-hello-$arch.log"
    prog="$work/hello_static-$arch"
    if ! "$cc" -static -O2 -o "$prog" tests/linux/hello_static.c >"$log" 2>&1; then
        report FAIL linux/hello_static "$arch" "build failed" "$log"
        continue
    fi
    start=$(date +%s%N)
    QEMU_TIMEOUT=$limit scripts/run_linux.sh "$arch" "$prog" pagoda >"$log" 2>&1
    status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    took=$(printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10)))
    ok=1
    for want in "hello from Linux userspace" "argc=2 argv[1]=pagoda" "getpid=1" "brk ok" "mmap ok"; do
        tr -d '\r' <"$log" | grep -qxF "$want" || ok=0
    done
    if [[ $status -eq 7 && $ok -eq 1 ]]; then
        report PASS linux/hello_static "$arch" "exit $status, $took" "$log"
    else
        report FAIL linux/hello_static "$arch" "exit $status, $took" "$log"
    fi
done

# Runs the TAP-like Linux test program `prog` (reported as linux/NAME) as /init on ARCH:
# it passes with exit 0 and a `fail:0` totals line.
run_tap() { # name arch prog log
    local name=$1 arch=$2 prog=$3 log=$4 timeout=$((limit * 2)) start status ms took totals
    # signals.c polls /proc/<pid>/stat (absent: it falls back to 2 x 5000 1 ms sleeps,
    # ~14 s, much longer on a loaded machine); sysfuzz kills a child that blocks (e.g. in
    # a CPU-clock sleep) after 10 s.
    case ${name%-musl} in
    signals | sysfuzz) timeout=$((limit * 6)) ;;
    esac
    start=$(date +%s%N)
    QEMU_TIMEOUT=$timeout scripts/run_linux.sh "$arch" "$prog" >"$log" 2>&1
    status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    took=$(printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10)))
    totals=$(tr -d '\r' <"$log" | grep -E '^# Totals: pass:[0-9]+ fail:0 ' | tail -n 1)
    if [[ $status -eq 0 && -n $totals ]]; then
        report PASS "linux/$name" "$arch" "${totals#\# Totals: }, $took" "$log"
    else
        report FAIL "linux/$name" "$arch" "exit $status, $took" "$log"
    fi
}

# Linux test programs (tests/linux/, TAP-like) that pass completely on Pagoda: built like
# tests/linux/build.sh does, run as /init; a run passes with exit 0 and `fail:0` totals.
for arch in "${archs[@]}"; do
    [[ $only == examples ]] && continue
    case $arch in
    x86_64) cc=gcc ;;
    riscv64) cc=riscv64-linux-gnu-gcc ;;
    *) continue ;;
    esac
    for name in files mm_single mm_syscalls file_mmap oom procs preempt signals threads fork_cow pipes shm exec proc sockets stack clones perm sysfuzz thp fpu; do
        log="$work/linux-$name-$arch.log"
        prog="$work/$name-$arch"
        if ! "$cc" -static -O2 -Wall -D_GNU_SOURCE -pthread -o "$prog" "tests/linux/$name.c" >"$log" 2>&1; then
            report FAIL "linux/$name" "$arch" "build failed" "$log"
            continue
        fi
        run_tap "$name" "$arch" "$prog" "$log"
    done
done

# A dynamically linked program (tests/linux/dynamic_hello.c, built as tests/linux/build.sh
# builds it): run_linux.sh packs its interpreter and libc; ld.so, TLS, dlsym and threads
# must work: exit status 0 and a totals line without failures.
for arch in "${archs[@]}"; do
    [[ $only == examples ]] && continue
    case $arch in
    x86_64) cc=gcc ;;
    riscv64) cc=riscv64-linux-gnu-gcc ;;
    *) continue ;;
    esac
    log="$work/linux-dynamic_hello-$arch.log"
    prog="$work/dynamic_hello-$arch"
    if ! "$cc" -O2 -D_GNU_SOURCE -pthread -o "$prog" tests/linux/dynamic_hello.c -ldl >"$log" 2>&1; then
        report FAIL linux/dynamic_hello "$arch" "build failed" "$log"
        continue
    fi
    start=$(date +%s%N)
    QEMU_TIMEOUT=$((limit * 2)) scripts/run_linux.sh "$arch" "$prog" >"$log" 2>&1
    status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    took=$(printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10)))
    totals=$(tr -d '\r' <"$log" | sed -n 's/^# Totals: //p' | tail -n 1)
    if [[ $status -eq 0 && $totals == *" fail:0 "* ]]; then
        report PASS linux/dynamic_hello "$arch" "exit $status, $totals, $took" "$log"
    else
        report FAIL linux/dynamic_hello "$arch" "exit $status, ${totals:-no totals}, $took" "$log"
    fi
done

# The same Linux test programs built against musl (tests/linux/build.sh ARCH musl: musl-gcc
# on x86_64, zig's bundled musl on riscv64; x86_64 also has the dynamic ones, with musl's
# loader): another libc's start-up, stdio, threads and wrappers. Judged like the glibc runs.
for arch in "${archs[@]}"; do
    [[ $only == examples ]] && continue
    [[ $arch == x86_64 || $arch == riscv64 ]] || continue
    log="$work/linux-musl-build-$arch.log"
    if ! tests/linux/build.sh "$arch" musl >"$log" 2>&1; then
        report FAIL linux/musl-build "$arch" "build failed" "$log"
        continue
    fi
    for prog in "target/linux-tests/$arch-musl"/*; do
        name=$(basename "$prog")-musl
        run_tap "$name" "$arch" "$prog" "$work/linux-$name-$arch.log"
    done
done

# A scripted busybox shell session (tests/busybox/session.sh under Debian's busybox-static,
# fetched by scripts/busybox.sh) and the console as a terminal (tests/busybox/console.sh,
# typed at over QEMU's stdin): their output must match tests/busybox/*.expected.
for arch in "${archs[@]}"; do
    [[ $only == examples ]] && continue
    case $arch in
    x86_64 | riscv64) ;;
    *) continue ;;
    esac
    log="$work/linux-busybox-$arch.log"
    start=$(date +%s%N)
    QEMU_TIMEOUT=$limit tests/busybox/run.sh "$arch" >"$log" 2>&1 &&
        QEMU_TIMEOUT=$limit tests/busybox/run.sh "console-$arch" >>"$log" 2>&1
    status=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    took=$(printf '%d.%02ds' $((ms / 1000)) $((ms % 1000 / 10)))
    summary=$(sed -n 's/^busybox session ([a-z0-9_-]*): //p' "$log" | paste -sd ' ' | sed 's/ \([0-9]* console\)/, \1/')
    if [[ $status -eq 0 ]]; then
        report PASS linux/busybox "$arch" "${summary:-exit 0}, $took" "$log"
    else
        report FAIL linux/busybox "$arch" "exit $status, $took" "$log"
    fi
done

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
