#!/usr/bin/env bash
# Runs the x86_64 Linux test programs natively on the host: the host kernel is the reference
# these tests are judged by, so every one must pass here before it may judge Pagoda.
#   tests/linux/run-native.sh [--qemu-user]
# Prints "PASS|FAIL|SKIP native/<test> x86_64" per program and ends with "N passed, M failed";
# exits non-zero if any failed. Build first: tests/linux/build.sh x86_64 (and x86_64 musl).
# --qemu-user also runs the riscv64 builds under qemu-riscv64-static as a smoke check. qemu-user
# emulates the ISA but forwards system calls to this host kernel, so it is no reference for mm
# edge cases; its results are informational and never change the exit status.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dir=$root/target/linux-tests/x86_64
[[ -d $dir ]] || { echo "run-native.sh: no $dir; run tests/linux/build.sh x86_64" >&2; exit 2; }
log=$root/target/linux-tests/logs
mkdir -p "$log"
pass=0 fail=0 skip=0
limit=60

# run LABEL ARCH CMD...: runs one program with a timeout, prints its verdict, sets $verdict.
run() {
    local label=$1 arch=$2 out rc
    shift 2
    out=$log/${label//\//_}-$arch.log
    # Own process group (job control), so leftovers of a timed-out test can be killed.
    set -m
    timeout "$limit" "$@" >"$out" 2>&1 &
    local pid=$!
    wait "$pid"
    rc=$?
    set +m
    kill -KILL -- "-$pid" 2>/dev/null
    case $rc in
        0) verdict=PASS ;;
        4) verdict=SKIP ;;
        *) verdict=FAIL ;;
    esac
    echo "$verdict $label $arch"
    if [[ $verdict == FAIL ]]; then
        grep -E '^not ok|^#   ' "$out" | head -20 | sed 's/^/    /'
        echo "    (exit status $rc; full log: ${out#$root/})"
    fi
}

# The musl builds (tests/linux/build.sh x86_64 musl), when present, as native/<test>-musl.
for bin in "$dir"/* "$dir"-musl/*; do
    [[ -x $bin ]] || continue
    suffix=""
    [[ $bin == "$dir"-musl/* ]] && suffix=-musl
    run "native/$(basename "$bin")$suffix" x86_64 "$bin"
    case $verdict in PASS) pass=$((pass + 1)) ;; SKIP) skip=$((skip + 1)) ;; *) fail=$((fail + 1)) ;; esac
done

if [[ ${1:-} == --qemu-user ]]; then
    rv=$root/target/linux-tests/riscv64
    if command -v qemu-riscv64-static >/dev/null && [[ -d $rv ]]; then
        echo "# qemu-user smoke check of the riscv64 builds (not the reference; informational)"
        qp=0 qf=0 limit=30
        for bin in "$rv"/* "$rv"-musl/*; do
            [[ -x $bin ]] || continue
            suffix=""
            [[ $bin == "$rv"-musl/* ]] && suffix=-musl
            run "qemu-user/$(basename "$bin")$suffix" riscv64 qemu-riscv64-static -L /usr/riscv64-linux-gnu "$bin"
            [[ $verdict == FAIL ]] && qf=$((qf + 1)) || qp=$((qp + 1))
        done
        echo "# qemu-user: $qp passed or skipped, $qf failed (does not affect the result)"
    else
        echo "# qemu-user smoke check skipped: no qemu-riscv64-static or no riscv64 build"
    fi
fi

[[ $skip -gt 0 ]] && echo "$skip skipped"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
