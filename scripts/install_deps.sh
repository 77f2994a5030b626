#!/usr/bin/env bash
# Installs what Pagoda's make targets need and the machine lacks: QEMU for every arch the
# unikernel boots on, the riscv64 UAPI headers and the C toolchains of the Linux test programs
# (Debian packages; zig from PyPI for riscv64 musl), and the pinned Rust
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
# musl builds of the Linux test programs (tests/linux/build.sh ARCH musl): musl-gcc for x86_64;
# riscv64 uses zig's bundled musl (PyPI ziglang, below), which needs pip.
command -v musl-gcc >/dev/null || missing+=(musl-tools)
zig=0.17.1 # pinned: its musl version decides what libc calls the riscv64 musl tests see
have_zig=$(python3 -m ziglang version 2>/dev/null || true)
if [[ $have_zig != "$zig" ]]; then
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
fi
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

# Debian's own python refuses a plain `pip install` (PEP 668): then install for this user.
if [[ $have_zig != "$zig" ]]; then
    echo "installing ziglang==$zig with pip" >&2
    python3 -m pip install -q "ziglang==$zig" 2>/dev/null ||
        python3 -m pip install -q --user --break-system-packages "ziglang==$zig"
fi

# rust-toolchain.toml pins the toolchain, its components and targets; `rustup show` installs
# whatever of it is missing. Older rustup versions skip the targets, so add them explicitly.
rustup show active-toolchain >/dev/null
targets=$(sed -n 's/^targets = \[\(.*\)\]/\1/p' rust-toolchain.toml | tr -d '",')
# shellcheck disable=SC2086
rustup target add $targets >/dev/null 2>&1 || rustup target add $targets
