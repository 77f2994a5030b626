#!/usr/bin/env bash
# Installs what Pagoda's make targets need and the machine lacks: QEMU for every arch the
# unikernel boots on and the riscv64 UAPI headers (Debian packages), and the pinned Rust
# toolchain with its bare-metal targets. Idempotent: a machine that has everything pays two `command -v` checks and one
# `rustup` query. Used by `make run`, `make test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu binary → Debian package that ships it.
declare -A qemu_pkg=(
    [qemu-system-riscv64]=qemu-system-misc
    [qemu-system-x86_64]=qemu-system-x86
    [qemu-system-aarch64]=qemu-system-arm
)
missing=()
for bin in "${!qemu_pkg[@]}"; do
    command -v "$bin" >/dev/null || missing+=("${qemu_pkg[$bin]}")
done
# riscv64 UAPI headers: the Linux layer's ABI tests check structure layouts against them.
[[ -d /usr/riscv64-linux-gnu/include/asm ]] || missing+=(linux-libc-dev-riscv64-cross)
# Compilers for the Linux test programs (tests/linux/build.sh): static glibc for the host and
# the riscv64 cross toolchain with its static libc.
command -v gcc >/dev/null || missing+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
command -v riscv64-linux-gnu-gcc >/dev/null || missing+=(gcc-riscv64-linux-gnu)
[[ -f /usr/riscv64-linux-gnu/lib/libc.a ]] || missing+=(libc6-dev-riscv64-cross)
# initramfs archives for scripts/run_linux.sh (`cpio -o -H newc`).
command -v cpio >/dev/null || missing+=(cpio)
# Fetching Debian's Linux kernels for `make bench-linux` (scripts/bench_linux.sh).
command -v curl >/dev/null || missing+=(curl)
command -v xz >/dev/null || missing+=(xz-utils)
# The busybox tests (tests/busybox/run.sh): Debian's busybox-static (scripts/busybox.sh,
# curl and xz as above) and a pseudo-terminal for the native console run.
command -v dpkg-deb >/dev/null || missing+=(dpkg)
command -v python3 >/dev/null || missing+=(python3)
if [[ ${#missing[@]} -gt 0 ]]; then
    SUDO=""
    [[ $(id -u) == 0 ]] || SUDO=sudo
    echo "installing ${missing[*]} with apt-get" >&2
    $SUDO apt-get update -q >/dev/null
    # --no-install-recommends avoids ~50 GUI packages (see shared notes on QEMU).
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# rust-toolchain.toml pins the toolchain, its components and targets; `rustup show` installs
# whatever of it is missing. Older rustup versions skip the targets, so add them explicitly.
rustup show active-toolchain >/dev/null
targets=$(sed -n 's/^targets = \[\(.*\)\]/\1/p' rust-toolchain.toml | tr -d '",')
# shellcheck disable=SC2086
rustup target add $targets >/dev/null 2>&1 || rustup target add $targets
