"""Runs `BUSYBOX sh tests/busybox/console.sh` on a pseudo-terminal (Linux's own N_TTY line
discipline) and types each step's input after its READY line, as tests/busybox/run.sh does
with Pagoda's serial console; prints the session as run.sh logs it.
Usage: python3 console_pty.py BUSYBOX APPLET_DIR SCRIPT"""
import os
import pty
import select
import signal
import sys
import time

# The same input as run.sh's console steps.
INPUT = {
    "line": b"hello console\r",
    "erase": b"abx\x7fc wrong\x15right foo.bar\x17\x17baz\r",
    "noechoe": b"ab\x7fc\x15d\r",
    "lnext": b"a\x16\x03\x16\rb\r",
    "eof": b"two\x04\x04",
    "raw": b"xyz",
    "intr": b"\x03",
}


def main():
    busybox, bindir, script = sys.argv[1:4]
    pid, fd = pty.fork()
    if pid == 0:
        # A shell started with a signal ignored may not trap it (POSIX), and an ignored
        # disposition survives exec: a run from a background job (SIGINT and SIGQUIT
        # ignored) would then type ^C at a sleep that cannot hear it. Start as a login
        # terminal does, with the default actions.
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_DFL)
        os.execve(busybox, [busybox, "sh", script], {"PATH": bindir, "TERM": "linux", "HOME": "/"})
    out, pending = b"", b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the shell is gone
            break
        if not data:
            break
        out += data
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if line.startswith(b"READY "):
                time.sleep(0.5)
                os.write(fd, INPUT[line[6:].decode()])
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace").replace("\r", "").replace("\x08", "^H"))
    sys.exit(os.waitstatus_to_exitcode(status))


main()
