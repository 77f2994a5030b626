#!/usr/bin/env bash
# The scripted busybox session (session.sh) against its expected output (session.expected):
#   tests/busybox/run.sh native            the host runs Debian's x86_64 busybox-static
#   tests/busybox/run.sh riscv64|x86_64    Pagoda runs it: `busybox sh /session.sh` as
#                                          /init's child (scripts/run_linux.sh PROG=busybox)
# Exit 0 when the output matches and the script reported no failure; the output is left in
# $CARGO_TARGET_DIR/busybox/session-WHERE.log. Busybox comes from scripts/busybox.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
where=${1:-}
here=tests/busybox
logdir=${CARGO_TARGET_DIR:-$root/target}/busybox
mkdir -p "$logdir"
log=$logdir/session-$where.log
case $where in
    native)
        bb=$(scripts/busybox.sh x86_64)
        bin=$(mktemp -d)
        trap 'rm -rf "$bin"' EXIT
        "$bb" --install -s "$bin"
        set +e
        env -i HOME=/ TERM=linux PATH="$bin" "$bb" sh "$here/session.sh" </dev/null >"$log" 2>&1
        status=$?
        set -e
        ;;
    riscv64 | x86_64)
        set +e
        BUSYBOX_FILES=$here/session.sh QEMU_TIMEOUT=${QEMU_TIMEOUT:-60} \
            scripts/run_linux.sh "$where" busybox sh /session.sh </dev/null >"$log.raw" 2>&1
        status=$?
        set -e
        # The session's lines: after the kernel's start line, before its status line.
        tr -d '\r' <"$log.raw" | sed -n '/^pagoda-linux: running /,/^pagoda-linux: exit status/p' |
            sed '1d;$d' >"$log"
        ;;
    *) echo "usage: $0 native|riscv64|x86_64" >&2; exit 2 ;;
esac
if ! diff -u "$here/session.expected" "$log"; then
    echo "busybox session ($where): output differs (exit $status)" >&2
    exit 1
fi
[[ $status -eq 0 ]] || { echo "busybox session ($where): exit $status" >&2; exit 1; }
echo "busybox session ($where): $(tail -n 1 "$log" | sed 's/^# //')"
