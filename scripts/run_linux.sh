#!/usr/bin/env bash
# Runs a Linux program (static, or dynamic: see the packing block) on Pagoda: builds the Linux-personality kernel
# (examples/linux), packs PROG as /init (and ARGS, one per line, as /args) into a newc cpio
# archive, boots it with QEMU -initrd and exits with the program's exit status.
#   scripts/run_linux.sh riscv64|x86_64 PROG [ARGS...]
# The status comes from the kernel's last line `pagoda-linux: exit status N` and is checked
# against QEMU's own status: riscv64 exits with N itself (sifive_test); x86_64's
# isa-debug-exit gives 33 for 0 and (N << 1) | 1 otherwise (16 is sent as 17, and QEMU's
# 8-bit status keeps only N's low 7 bits, hence the printed line). 124: timed out;
# 125: the run did not end with a status line (the kernel failed).
# PROG=busybox runs Debian's busybox-static (fetched by scripts/busybox.sh) with its applet
# links in /bin: `scripts/run_linux.sh x86_64 busybox sh` is a shell on the serial console.
# Environment: QEMU_TIMEOUT (default 60; 0 = none), CARGO_TARGET_DIR, QEMU_STDIN (see
# scripts/qemu.sh; set, and no timeout by default, when stdin is a terminal and PROG is
# busybox); BUSYBOX_FILES: files to add to the root next to /init (PROG=busybox only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [[ $# -lt 2 ]]; then
    echo "usage: $0 riscv64|x86_64 PROG [ARGS...]" >&2
    exit 2
fi
arch=$1 prog=$2
shift 2
case $arch in
    riscv64 | x86_64) ;;
    # QEMU's arm virt board loads -initrd only for Linux Image kernels, not for an ELF.
    aarch64) echo "$0: aarch64: QEMU does not pass -initrd to an ELF kernel" >&2; exit 2 ;;
    *) echo "$0: unknown arch '$arch' (riscv64 or x86_64)" >&2; exit 2 ;;
esac
# PROG=busybox: Debian's busybox-static (scripts/busybox.sh fetches it), packed below.
busybox=""
if [[ $prog == busybox && ! -f $prog ]]; then
    busybox=$(scripts/busybox.sh "$arch")
    prog=$busybox
fi
[[ -f $prog ]] || { echo "$0: no such program: $prog" >&2; exit 2; }
command -v cpio >/dev/null || { echo "$0: cpio missing (scripts/install_deps.sh)" >&2; exit 2; }

kernel=$(scripts/build_example.sh --print-path "$arch" linux)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
if [[ -n $busybox ]]; then
    # /bin/busybox, /init a script that installs the applet links into /bin (busybox's own
    # --install) and runs `busybox ARGS...`; BUSYBOX_FILES: more files for the root (host
    # path, mode 755 for scripts).
    mkdir -p "$work/root/bin"
    cp "$prog" "$work/root/bin/busybox"
    printf '%s\n' '#!/bin/busybox sh' '/bin/busybox --install -s /bin' 'exec /bin/busybox "$@"' \
        >"$work/root/init"
    for f in ${BUSYBOX_FILES:-}; do cp "$f" "$work/root/"; done
else
    cp "$prog" "$work/root/init"
fi
chmod 755 "$work/root/init"
if [[ $# -gt 0 ]]; then printf '%s\n' "$@" >"$work/root/args"; fi
# Dynamic programs: pack the interpreter (PT_INTERP, at its own path) and the DT_NEEDED
# libraries, recursively, at /lib/<triplet>/NAME (the first directory ld.so searches
# without /etc/ld.so.cache). Sources: the host's / for x86_64, Debian's cross sysroot
# /usr/riscv64-linux-gnu for riscv64. Symlinks are dereferenced: the archive holds files.
interp=$(readelf -lW "$prog" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
if [[ -n $interp ]]; then
    case $arch in
        x86_64) sysroot="" libdirs="/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64" ;;
        riscv64) sysroot=/usr/riscv64-linux-gnu libdirs="/usr/riscv64-linux-gnu/lib" ;;
    esac
    dest=/lib/$arch-linux-gnu
    done_libs=" $(basename "$interp") "
    # musl: the loader /lib/ld-musl-<arch>.so.1 is libc.so itself (its NEEDED libc.so needs
    # no file); other libraries come from Debian's musl directory, at /lib (musl's default path).
    if [[ $(basename "$interp") == ld-musl-* ]]; then
        libdirs="$sysroot/lib/$arch-linux-musl $sysroot/usr/lib/$arch-linux-musl"
        dest=/lib
        done_libs+="libc.so "
    fi
    pack_file() { # pack_file SOURCE PATH-IN-ARCHIVE
        mkdir -p "$work/root$(dirname "$2")"
        cp -L "$1" "$work/root$2"
    }
    src=$sysroot$interp
    [[ -f $src ]] || src=$sysroot/lib/$(basename "$interp")
    [[ -f $src ]] || { echo "$0: interpreter $interp not found under ${sysroot:-/}" >&2; exit 2; }
    pack_file "$src" "$interp"
    todo=("$prog")
    while [[ ${#todo[@]} -gt 0 ]]; do
        obj=${todo[0]}
        todo=("${todo[@]:1}")
        for lib in $(readelf -dW "$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
            [[ $done_libs == *" $lib "* ]] && continue
            done_libs+="$lib "
            found=""
            for dir in $libdirs; do [[ -f $dir/$lib ]] && { found=$dir/$lib; break; }; done
            [[ -n $found ]] || { echo "$0: library $lib not found in $libdirs" >&2; exit 2; }
            pack_file "$found" "$dest/$lib"
            todo+=("$found")
        done
    done
fi
(cd "$work/root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc) >"$work/initrd.cpio"

limit=${QEMU_TIMEOUT:-60}
# An interactive shell: the terminal is the console, and there is no time limit.
if [[ -n $busybox && -t 0 ]]; then
    export QEMU_STDIN=${QEMU_STDIN:-1}
    limit=${QEMU_TIMEOUT:-0}
fi
set +e
QEMU_TIMEOUT=$limit scripts/qemu.sh "$arch" "$kernel" -m 256M -initrd "$work/initrd.cpio" |
    tee "$work/log"
qemu=${PIPESTATUS[0]}
set -e
[[ $qemu -eq 124 ]] && { echo "run_linux: timed out" >&2; exit 124; }
line=$(tr -d '\r' <"$work/log" | sed -n 's/^pagoda-linux: exit status \([0-9]*\)$/\1/p' | tail -n 1)
[[ -n $line ]] || { echo "run_linux: no exit status line (QEMU status $qemu)" >&2; exit 125; }
case $arch in
    x86_64) if [[ $line -eq 0 ]]; then want=33; else want=$(( ((line == 16 ? 17 : line) << 1 | 1) & 255 )); fi ;;
    *) want=$line ;;
esac
[[ $qemu -eq $want ]] || { echo "run_linux: QEMU status $qemu does not match exit status $line" >&2; exit 125; }
exit "$line"
