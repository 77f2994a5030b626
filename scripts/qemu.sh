#!/usr/bin/env bash
# Runs a Pagoda kernel ELF under QEMU (TCG, serial on stdio) and exits with QEMU's status.
# Usage: scripts/qemu.sh riscv64|x86_64|aarch64 KERNEL.elf [extra QEMU args...]
# Environment: QEMU_TIMEOUT (seconds, default 30; 0 = none); on timeout the status is 124.
# QEMU_ICOUNT=1: instruction-counting guest clock (see below).
# QEMU_STDIN=1: stdin feeds the serial port (an interactive console; Ctrl-C goes to the
# guest, not QEMU: quit with Ctrl-A X); otherwise QEMU gets no stdin.
# An example may need more: for KERNEL.elf named pagoda-<app>, the words in
# examples/<app>/qemu-<arch>.args (if present) are added, e.g. `-m 3G`.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 riscv64|x86_64|aarch64 KERNEL.elf [qemu args...]" >&2
    exit 2
fi
arch=$1
elf=$2
shift 2
[[ -f $elf ]] || { echo "$0: no such file: $elf" >&2; exit 2; }
limit=${QEMU_TIMEOUT:-30}

case $arch in
riscv64)
    cmd=(qemu-system-riscv64 -machine virt -bios default -m 128M -display none
        -serial stdio -monitor none -kernel "$elf")
    ;;
x86_64)
    cmd=(qemu-system-x86_64 -accel tcg -machine q35 -m 128M -display none -serial stdio
        -monitor none -nic none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04
        -kernel "$elf")
    ;;
aarch64)
    # ELF -kernel without firmware: entered at EL1. -semihosting: the kernel exits through
    # SYS_EXIT (success 0, failure its code); EL0 cannot use it (QEMU's default).
    cmd=(qemu-system-aarch64 -machine virt -cpu cortex-a72 -m 128M -display none
        -serial stdio -monitor none -semihosting -kernel "$elf")
    ;;
*)
    echo "$0: unknown arch '$arch' (riscv64, x86_64 or aarch64)" >&2
    exit 2
    ;;
esac

# QEMU_ICOUNT=1: the guest clock counts executed instructions (1 ns each), so timings
# measured inside the guest are instruction counts, independent of the host's load.
if [[ ${QEMU_ICOUNT:-} == 1 ]]; then
    cmd+=(-icount shift=0,align=off,sleep=off)
fi

app=$(basename "$elf")
app=${app#pagoda-}
extra_file="$(dirname "$0")/../examples/$app/qemu-$arch.args"
if [[ -f $extra_file ]]; then
    read -r -a extra <"$extra_file"
    cmd+=("${extra[@]}")
fi

if [[ ${QEMU_STDIN:-} == 1 ]]; then
    for i in "${!cmd[@]}"; do
        [[ ${cmd[$i]} == -serial ]] && cmd[i+1]=chardev:con0
    done
    cmd+=(-chardev stdio,id=con0,signal=off,mux=on)
    # --foreground: QEMU stays in the terminal's process group and may read it.
    exec timeout --foreground --kill-after=5 "$limit" "${cmd[@]}" "$@"
fi
# No stdin for QEMU: the harness runs unattended.
exec timeout --kill-after=5 "$limit" "${cmd[@]}" "$@" </dev/null
