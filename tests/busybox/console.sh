# The console as a terminal: tests/busybox/run.sh console-ARCH boots this script with QEMU's
# stdin on the serial port and types each step's input once the step's READY line is out
# (input that comes early waits in the terminal; the echo shows when it arrived, so every
# step makes its settings before its READY line). Cooked lines with echo, erase and kill
# editing, end of file, a raw read with VMIN, ^C to the foreground group. Natively
# (console-native) the same steps run on a pseudo-terminal, whose line discipline is the
# same N_TTY: the output must not differ.
trap 'echo "SIGINT trapped"' INT
echo "READY line"
read a
echo "line: $a"
echo "READY erase"
read b
echo "erase: $b"
stty -echoe -echok
echo "READY noechoe"
read b
echo "noechoe: $b"
stty sane
echo "READY lnext"
read -r b
printf 'lnext: %s\n' "$b" | od -An -c
echo "READY eof"
cat
echo "cat ended: $?"
stty -icanon -echo min 3 time 0
echo "READY raw"
dd bs=8 count=1 2>/dev/null | od -An -c
stty sane
sh -c 'echo "READY intr"; exec sleep 30'
echo "sleep status: $?"
# Job control: a background job that reads the terminal is stopped by SIGTTIN.
set -m
cat &
i=0
until jobs | grep -q Stopped || [ $i -ge 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
jobs
kill -KILL %1
sleep 0.5
jobs
set +m
# Pagoda's console or, natively, a pseudo-terminal.
case $(tty) in
    /dev/console | /dev/pts/*) echo "tty: a terminal" ;;
    *) echo "tty: $(tty)" ;;
esac
