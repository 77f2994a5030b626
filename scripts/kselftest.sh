#!/usr/bin/env bash
# The Linux kernel's own mm selftests, built at test time from Debian's linux-source-6.12
# package (never committed: neither sources nor binaries).
#
#   scripts/kselftest.sh build ARCH        build the selected tests statically for ARCH
#                                          (x86_64 with gcc, riscv64 with riscv64-linux-gnu-gcc)
#   scripts/kselftest.sh run-native        run the x86_64 builds on this host's kernel and print
#                                          one line per test with its TAP totals (the baseline
#                                          Pagoda is compared with)
#   scripts/kselftest.sh list              the selected tests
#
# Output: target/kselftest/<arch>/<test>. Sources are cached in target/kselftest/src.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests issue 9 names; each builds alone with vm_util.c (and thp_settings.c where used).
TESTS=(map_fixed_noreplace mremap_dontunmap map_populate mdwe_test droppable cow mkdirty
    mseal_test madv_populate mlock2-tests soft-dirty)
VERSION=6.12
OUT=target/kselftest
SRC=$OUT/src/linux-source-$VERSION

fetch_sources() {
    local stamp=$OUT/src/.extracted-1
    [[ -f $stamp ]] && return
    rm -rf "$OUT/src"
    mkdir -p "$OUT/src"
    local deb_dir
    deb_dir=$(mktemp -d)
    # apt-get download needs an up-to-date package list on a fresh machine.
    (cd "$deb_dir" && { apt-get download "linux-source-$VERSION" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get download "linux-source-$VERSION" >/dev/null; }; })
    # Only the selftests, the tools headers and the UAPI headers they include.
    dpkg-deb --fsys-tarfile "$deb_dir"/linux-source-"$VERSION"_*.deb |
        tar -x --wildcards -O "*linux-source-$VERSION.tar.xz" |
        tar -xJ -C "$OUT/src" --wildcards \
            "linux-source-$VERSION/tools/testing/selftests/mm/*" \
            "linux-source-$VERSION/tools/testing/selftests/kselftest*" \
            "linux-source-$VERSION/tools/include/*" \
            "linux-source-$VERSION/tools/arch/x86/include/*" \
            "linux-source-$VERSION/tools/arch/riscv/include/*" \
            "linux-source-$VERSION/mm/gup_test.h"
    rm -rf "$deb_dir"
    # No liburing: an empty local_config.h disables the io_uring parts.
    : >"$SRC/tools/testing/selftests/mm/local_config.h"
    touch "$stamp"
}

compiler() {
    case $1 in
    x86_64) echo gcc ;;
    riscv64) echo riscv64-linux-gnu-gcc ;;
    *)
        echo "unknown arch '$1' (x86_64 or riscv64)" >&2
        exit 2
        ;;
    esac
}

build() {
    local arch=$1 cc
    cc=$(compiler "$arch")
    command -v "$cc" >/dev/null || { echo "$cc missing: scripts/install_deps.sh installs it" >&2; exit 1; }
    fetch_sources
    local dir=$SRC/tools/testing/selftests/mm out
    out=$(realpath -m "$OUT/$arch")
    mkdir -p "$out"
    for t in "${TESTS[@]}"; do
        local extra=()
        grep -q thp_settings "$dir/$t.c" && extra=(thp_settings.c)
        # Some tests define _GNU_SOURCE themselves: keep the compiler's notes in a log.
        (cd "$dir" && "$cc" -static -O2 -D_GNU_SOURCE -I.. -I. -I../../../../tools/include/uapi \
            -o "$out/$t" "$t.c" vm_util.c "${extra[@]}" -lm -lpthread) >"$out/$t.build.log" 2>&1 ||
            { cat "$out/$t.build.log" >&2; echo "build of $t for $arch failed" >&2; exit 1; }
    done
    echo "built ${#TESTS[@]} kselftest mm programs for $arch in $out"
}

run_native() {
    build x86_64 >/dev/null
    local passed=0 failed=0
    for t in "${TESTS[@]}"; do
        local log rc totals
        log=$(mktemp)
        set +e
        timeout 300 "$OUT/x86_64/$t" >"$log" 2>&1
        rc=$?
        set -e
        totals=$(grep -E '^# Totals' "$log" | tail -1 || true)
        case $rc in
        0) echo "PASS kselftest/$t native-x86_64 ${totals:-}"; passed=$((passed + 1)) ;;
        4) echo "SKIP kselftest/$t native-x86_64 ${totals:-(the host kernel lacks it)}"; passed=$((passed + 1)) ;;
        *) echo "FAIL kselftest/$t native-x86_64 (exit $rc) ${totals:-}"; failed=$((failed + 1)) ;;
        esac
        rm -f "$log"
    done
    echo "$passed passed, $failed failed"
    [[ $failed == 0 ]]
}

case ${1:-} in
build) build "${2:?arch}" ;;
run-native) run_native ;;
list) printf '%s\n' "${TESTS[@]}" ;;
*)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
