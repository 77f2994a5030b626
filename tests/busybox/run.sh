#!/usr/bin/env bash
# The scripted busybox session (session.sh) against its expected output (session.expected):
#   tests/busybox/run.sh native            the host runs Debian's x86_64 busybox-static
#   tests/busybox/run.sh riscv64|x86_64    Pagoda runs it: `busybox sh /session.sh` as
#                                          /init's child (scripts/run_linux.sh PROG=busybox)
#   tests/busybox/run.sh console-ARCH      Pagoda runs console.sh with QEMU's stdin on the
#                                          serial port, typing each step's input after its
#                                          READY line; compared with console.expected
#   tests/busybox/run.sh console-native    the same on a pseudo-terminal of the host
#                                          (console_pty.py, python3)
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
    console-native)
        bb=$(scripts/busybox.sh x86_64)
        bin=$(mktemp -d)
        trap 'rm -rf "$bin"' EXIT
        "$bb" --install -s "$bin"
        set +e
        python3 "$here/console_pty.py" "$bb" "$bin" "$here/console.sh" >"$log" 2>&1
        status=$?
        set -e
        expected=$here/console.expected
        ;;
    console-riscv64 | console-x86_64)
        arch=${where#console-}
        # What to type at each READY line (printf escapes: \r is Enter on a terminal).
        declare -A input=(
            [line]='hello console\r'
            [erase]='abx\177c wrong\025right foo.bar\027\027baz\r'
            [noechoe]='ab\177c\025d\r'
            [lnext]='a\026\003\026\rb\r'
            [eof]='two\004\004'
            [raw]='xyz'
            [intr]='\003'
        )
        set +e
        coproc qemu { BUSYBOX_FILES=$here/console.sh QEMU_STDIN=1 QEMU_TIMEOUT=${QEMU_TIMEOUT:-60} \
            scripts/run_linux.sh "$arch" busybox sh /console.sh 2>&1; }
        pid=$qemu_PID
        out=${qemu[0]} in=${qemu[1]}
        : >"$log.raw"
        while IFS= read -r -t 60 line <&"$out"; do
            printf '%s\n' "$line" >>"$log.raw"
            line=${line%$'\r'}
            if [[ $line == "READY "* ]]; then
                # Let the step get to its read (early input would be fine too).
                sleep 0.5
                printf "${input[${line#READY }]}" >&"$in"
            fi
        done
        wait "$pid"
        status=$?
        set -e
        # Erase echoes backspaces: shown as ^H.
        tr -d '\r' <"$log.raw" | sed -n '/^pagoda-linux: running /,/^pagoda-linux: exit status/p' |
            sed '1d;$d' | sed 's/\x08/^H/g' >"$log"
        expected=$here/console.expected
        ;;
    *) echo "usage: $0 native|riscv64|x86_64|console-native|console-riscv64|console-x86_64" >&2; exit 2 ;;
esac
if ! diff -u "${expected:-$here/session.expected}" "$log"; then
    echo "busybox session ($where): output differs (exit $status)" >&2
    exit 1
fi
[[ $status -eq 0 ]] || { echo "busybox session ($where): exit $status" >&2; exit 1; }
case $where in
    console-*) echo "busybox session ($where): $(grep -c '^READY ' "$log") console steps" ;;
    *) echo "busybox session ($where): $(tail -n 1 "$log" | sed 's/^# //')" ;;
esac
