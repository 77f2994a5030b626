#!/usr/bin/env bash
# Prints the path of Debian's static busybox for ARCH, fetching it on first use into
# $CARGO_TARGET_DIR/busybox/ARCH (default target/busybox/ARCH); never committed.
#   scripts/busybox.sh riscv64|x86_64
# x86_64: `apt-get download busybox-static` (the host's own Debian release). riscv64: the
# host has no riscv64 apt architecture, so the .deb named by Debian trixie's riscv64
# Packages index (riscv64 is a release architecture there) comes from deb.debian.org, as
# scripts/linux_kernel.sh fetches its kernels.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:-}
case $arch in
    x86_64 | riscv64) ;;
    *) echo "usage: $0 riscv64|x86_64" >&2; exit 2 ;;
esac
dir=${CARGO_TARGET_DIR:-$root/target}/busybox/$arch
bin=$dir/busybox
if [[ ! -x $bin ]]; then
    for tool in dpkg-deb curl xz; do
        command -v "$tool" >/dev/null || { echo "$0: $tool missing (scripts/install_deps.sh)" >&2; exit 2; }
    done
    mkdir -p "$dir"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    case $arch in
        x86_64)
            (cd "$work" && apt-get download busybox-static >/dev/null 2>&1) ||
                { echo "$0: apt-get download busybox-static failed" >&2; exit 1; }
            ;;
        riscv64)
            mirror=http://deb.debian.org/debian
            curl -fsS "$mirror/dists/trixie/main/binary-riscv64/Packages.xz" | xz -dc >"$work/Packages"
            file=$(awk '$0 == "Package: busybox-static" { f = 1 }
                f && /^Filename:/ { print $2; exit }' "$work/Packages")
            [[ -n $file ]] || { echo "$0: no busybox-static in Debian's riscv64 index" >&2; exit 1; }
            curl -fsS "$mirror/$file" -o "$work/busybox-static.deb"
            ;;
    esac
    dpkg-deb -x "$work"/*.deb "$work/x"
    src=$work/x/bin/busybox
    [[ -f $src ]] || src=$work/x/usr/bin/busybox
    cp "$src" "$bin.tmp"
    chmod 755 "$bin.tmp"
    mv "$bin.tmp" "$bin"
fi
echo "$bin"
