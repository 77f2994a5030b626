#!/usr/bin/env bash
# Builds the user program the `user` kernel example embeds, for one architecture.
#   examples/user/prebuild.sh ARCH TARGET     e.g. riscv64 riscv64gc-unknown-none-elf
# Writes ${CARGO_TARGET_DIR:-target}/user-prog/<ARCH>.elf and prints its absolute path (the
# only line on stdout; cargo's output goes to stderr). The kernel example's build script
# reads that file and hands its path to the code as PAGODA_USER_ELF.
#
# The program gets its own target dir and explicit rustflags, so neither invalidates the
# kernel build's cache: x86_64-unknown-none defaults to the kernel code model, but a
# program at 0x40_0000 needs the small one (and a static, non-PIE link).
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -ne 2 ]]; then
    echo "usage: $0 ARCH TARGET" >&2
    exit 2
fi
arch=$1 target=$2
case "$arch/$target" in
    riscv64/riscv64gc-unknown-none-elf) flags=() ;;
    x86_64/x86_64-unknown-none) flags=(-C relocation-model=static -C code-model=small) ;;
    aarch64/aarch64-unknown-none) flags=() ;;
    *) echo "$0: unsupported ARCH/TARGET '$arch/$target'" >&2; exit 2 ;;
esac

out_dir="${CARGO_TARGET_DIR:-target}/user-prog"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

# CARGO_ENCODED_RUSTFLAGS outranks RUSTFLAGS and config rustflags: exactly these flags.
encoded=$(IFS=$'\x1f'; echo "${flags[*]:-}")
CARGO_ENCODED_RUSTFLAGS="$encoded" CARGO_TARGET_DIR="$out_dir" \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release -p pagoda-user-prog --target "$target" >&2

elf="$out_dir/$arch.elf"
cp "$out_dir/$target/release/pagoda-user-prog" "$elf.tmp"
mv -f "$elf.tmp" "$elf"
echo "$elf"
