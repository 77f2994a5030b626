#!/usr/bin/env bash
# `make test-linux`: static Linux programs on Pagoda's examples/linux kernel under QEMU, on
# riscv64 and x86_64 — the project's own programs (tests/linux, as
# `scripts/test_examples.sh --linux` runs them) and the kernel's mm selftests
# (`scripts/kselftest.sh run-qemu pagoda`, built from Debian's linux-source-6.12).
# One line per test and arch:
#   PASS <name> <arch> (...)   exit 0 and a totals line without failures or errors
#   SKIP <name> <arch> (...)   exit 4: the test found what it needs missing
#   FAIL <name> <arch> (...)   anything else (a timeout included)
#   XFAIL <name> <arch> (...)  a failing selftest listed with its reason in
#                              scripts/kselftest.sh PAGODA_XFAILS (an open gap)
# then `K skipped, X known failures` and, last, `N passed, M failed`. Exits 1 if any failed.
# Usage: scripts/test_linux.sh [ARCH...]        (default: riscv64 x86_64)
# Environment: EXAMPLE_TIMEOUT (scripts/test_examples.sh), KSELFTEST_LIMIT (seconds per
# selftest, default 60).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
archs=("$@")
[[ ${#archs[@]} -gt 0 ]] || archs=(riscv64 x86_64)
start=$SECONDS
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Both runners print verdict lines (plus indented details for failures) and their own
# summary; keep the verdicts and details, count them here.
{
    scripts/test_examples.sh --linux "${archs[@]}"
    for arch in "${archs[@]}"; do
        scripts/kselftest.sh run-qemu pagoda "$arch" ||
            true # its failures are in its lines; a build failure prints no PASS line
    done
} 2>&1 | tee "$out" | grep --line-buffered -E '^(PASS|SKIP|FAIL|XFAIL) |^    ' || true

passed=$(grep -c '^PASS ' "$out")
failed=$(grep -c '^FAIL ' "$out")
skipped=$(grep -c '^SKIP ' "$out")
xfailed=$(grep -c '^XFAIL ' "$out")
# A runner that died before its verdicts (a build error) must not look like success.
want=$(($(scripts/kselftest.sh list | wc -l) * ${#archs[@]}))
got=$(grep -cE '^(PASS|SKIP|FAIL|XFAIL) kselftest/' "$out")
if [[ $got -lt $want ]]; then
    echo "FAIL kselftest ($got of $want verdicts):"
    grep -vE '^(PASS|SKIP|FAIL|XFAIL) |^    ' "$out" | tail -n 20 | sed 's/^/    | /'
    failed=$((failed + 1))
fi
echo "$skipped skipped, $xfailed known failures (XFAIL: open gaps, see scripts/kselftest.sh) ($((SECONDS - start)) s)"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
