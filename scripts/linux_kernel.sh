# shellcheck shell=bash
# Debian's Linux kernel under QEMU, for the scripts that compare Pagoda with Linux
# (scripts/bench_linux.sh, scripts/kselftest.sh run-qemu linux). Sourced, not run:
#   source scripts/linux_kernel.sh
#   linux_kernel_image ARCH            prints the path of the cached kernel image
#   linux_boot ARCH INITRD TIMEOUT     boots it with INITRD (newc cpio), console on stdout
# The kernels are Debian trixie's own (linux-image-<arch>, the 6.12 series whose sources
# scripts/kselftest.sh builds the selftests from), fetched once from deb.debian.org into
# $CARGO_TARGET_DIR/linux-kernel (default target/linux-kernel) and never committed.
# ARCH is riscv64 or x86_64; the machines are scripts/qemu.sh's (riscv64 virt with OpenSBI,
# x86_64 q35 under TCG) with LINUX_MEM memory (default 256M).

linux_kernel_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
linux_kernel_mirror=http://deb.debian.org/debian

# The path of Debian's kernel image for `arch`, downloading it on first use: the
# `linux-image-<debarch>` metapackage names the versioned image package, whose file the
# Packages index gives (old versions leave the pool, so the index is read each time the
# cache is empty).
linux_kernel_image() {
    local arch=$1 debarch dir work index meta file
    case $arch in
        riscv64) debarch=riscv64 ;;
        x86_64) debarch=amd64 ;;
        *) echo "linux_kernel: unknown arch '$arch' (riscv64 or x86_64)" >&2; return 2 ;;
    esac
    dir=${CARGO_TARGET_DIR:-$linux_kernel_root/target}/linux-kernel/$debarch
    if ! compgen -G "$dir/vmlinu*" >/dev/null; then
        local tool
        for tool in curl xz dpkg-deb; do
            command -v "$tool" >/dev/null ||
                { echo "linux_kernel: $tool missing (scripts/install_deps.sh)" >&2; return 2; }
        done
        mkdir -p "$dir"
        work=$(mktemp -d)
        index=$work/Packages-$debarch
        curl -fsS "$linux_kernel_mirror/dists/trixie/main/binary-$debarch/Packages.xz" |
            xz -dc >"$index" || { rm -rf "$work"; return 1; }
        meta=$(awk -v p="linux-image-$debarch" '$0 == "Package: " p { f = 1 }
            f && /^Depends:/ { print $2; exit }' "$index")
        file=$(awk -v p="$meta" '$0 == "Package: " p { f = 1 }
            f && /^Filename:/ { print $2; exit }' "$index")
        if [[ -z $file ]]; then
            echo "linux_kernel: no $meta in Debian's $debarch index" >&2
            rm -rf "$work"
            return 1
        fi
        echo "linux_kernel: fetching $meta" >&2
        if ! curl -fsS "$linux_kernel_mirror/$file" -o "$work/image.deb" ||
            ! dpkg-deb --fsys-tarfile "$work/image.deb" |
            tar -x -C "$work" --wildcards './boot/vmlinu*'; then
            rm -rf "$work"
            return 1
        fi
        mv "$work"/boot/vmlinu* "$dir/"
        rm -rf "$work"
    fi
    compgen -G "$dir/vmlinu*" | head -n 1
}

# Boots Debian's kernel for `arch` with `initrd`; the console (carriage returns removed) on
# stdout. The status is timeout's (124 when `timeout_s` passed) or QEMU's.
linux_boot() {
    local arch=$1 initrd=$2 timeout_s=$3 kernel machine
    kernel=$(linux_kernel_image "$arch") || return
    case $arch in
        riscv64) machine=(qemu-system-riscv64 -machine virt -bios default) ;;
        x86_64) machine=(qemu-system-x86_64 -accel tcg -machine q35 -nic none) ;;
    esac
    # QEMU_ICOUNT=1: the guest clock counts instructions (as scripts/qemu.sh).
    [[ ${QEMU_ICOUNT:-} != 1 ]] || machine+=(-icount shift=0,align=off,sleep=off)
    timeout --kill-after=5 "$timeout_s" "${machine[@]}" -m "${LINUX_MEM:-256M}" \
        -display none -serial stdio -monitor none -no-reboot \
        -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 quiet panic=-1" </dev/null | tr -d '\r'
    return "${PIPESTATUS[0]}"
}
