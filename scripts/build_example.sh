#!/usr/bin/env bash
# Build one example kernel image for one arch.
#   scripts/build_example.sh ARCH APP              build, print nothing but cargo output
#   scripts/build_example.sh --print-path ARCH APP print the ELF path (after building)
#   scripts/build_example.sh --clippy TARGET       clippy every example for TARGET
set -euo pipefail
cd "$(dirname "$0")/.."

arch_of() {
    case "$1" in
        riscv64gc-unknown-none-elf) echo riscv64 ;;
        x86_64-unknown-none) echo x86_64 ;;
        aarch64-unknown-none) echo aarch64 ;;
        *) echo "unknown TARGET '$1'" >&2; exit 2 ;;
    esac
}

target_of() {
    case "$1" in
        riscv64) echo riscv64gc-unknown-none-elf ;;
        x86_64) echo x86_64-unknown-none ;;
        aarch64) echo aarch64-unknown-none ;;
        *) echo "unknown ARCH '$1' (riscv64, x86_64 or aarch64)" >&2; exit 2 ;;
    esac
}

example_pkgs() {
    for manifest in examples/*/Cargo.toml; do
        sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n1
    done
}

target_dir() { echo "${CARGO_TARGET_DIR:-target}"; }

prebuild() { # arch target app
    if [[ -x "examples/$3/prebuild.sh" ]]; then
        "examples/$3/prebuild.sh" "$1" "$2" >&2
    fi
}

build() {
    local arch=$1 app=$2 target
    target=$(target_of "$arch")
    prebuild "$arch" "$target" "$app"
    cargo build --profile kernel -p "pagoda-$app" --target "$target" >&2
}

case "${1:-}" in
    --print-path)
        build "$2" "$3"
        echo "$(target_dir)/$(target_of "$2")/kernel/pagoda-$3"
        ;;
    --clippy)
        arch=$(arch_of "$2")
        for manifest in examples/*/Cargo.toml; do
            prebuild "$arch" "$2" "$(basename "$(dirname "$manifest")")"
        done
        args=()
        for pkg in $(example_pkgs); do args+=(-p "$pkg"); done
        cargo clippy --release --target "$2" "${args[@]}" -- -D warnings
        ;;
    *)
        build "$1" "$2"
        ;;
esac
