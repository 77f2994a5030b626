# A scripted busybox shell session: fork, exec, pipes, redirections, here-documents,
# command substitution, background jobs, signals, exit statuses and /proc. Run by
# `busybox sh session.sh` with the busybox applets first in PATH; prints one TAP line per
# check and exits with the number of failures. Deterministic: tests/busybox/run.sh compares
# the output with session.expected, natively and on Pagoda.

n=0
fails=0
# check NAME EXPECTED ACTUAL
check() {
    n=$((n + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        echo "#   expected: '$2'"
        echo "#   got:      '$3'"
        fails=$((fails + 1))
    fi
}

d=$(mktemp -d)
cd "$d" || exit 100

# Processes: fork (subshells keep $$), exec, exit statuses.
check "subshell keeps \$\$" "$$" "$(echo $$)"
check "a child has its own pid" "yes" "$(sh -c 'echo $$' | { read c; [ "$c" != "$$" ] && echo yes; })"
check "exec replaces the shell" "replaced" "$(sh -c 'exec echo replaced; echo not')"
(exit 7)
check "exit status of a subshell" "7" "$?"
sh -c 'kill -TERM $$' 2>/dev/null
check "killed by a signal" "143" "$?"
false | true
check "pipeline status is the last command's" "0" "$?"
check "command not found" "127" "$(nosuchcommand 2>/dev/null; echo $?)"

# Pipes.
check "three-stage pipeline" "c b" "$(echo a b c | tr ' ' '\n' | sort -r | head -n 2 | tr '\n' ' ' | sed 's/ $//')"
check "pipe of 100 kB" "102400" "$(dd if=/dev/zero bs=1024 count=100 2>/dev/null | cat | wc -c | tr -d ' ')"
check "yes | head ends the writer" "3" "$(yes | head -n 3 | wc -l | tr -d ' ')"

# Redirections.
echo one >f
echo two >>f
check "> and >>" "one two" "$(cat f | tr '\n' ' ' | sed 's/ $//')"
check "< into wc" "8" "$(wc -c <f | tr -d ' ')"
read first <f
check "read < file" "one" "$first"
check "2>&1 into a pipe" "1" "$(ls /nonexistent-dir 2>&1 | grep -c nonexistent)"
check "2>/dev/null" "" "$(ls /nonexistent-dir 2>/dev/null)"
exec 3>g
echo via-fd3 >&3
exec 3>&-
check "exec 3> and >&3" "via-fd3" "$(cat g)"
count=0
while read line; do count=$((count + 1)); done <f
check "while read < file" "2" "$count"

# File times.
touch new
check "touch creates a file" "yes" "$([ -f new ] && echo yes)"
touch -d '2001-02-03 04:05:06' f
check "touch -d sets the time" "2001" "$(date -r f +%Y)"
touch -r f new
check "touch -r copies it" "$(stat -c %Y f)" "$(stat -c %Y new)"

# Here-documents and substitution.
name=pagoda
cat >h <<EOF
hello $name
\$literal
EOF
check "here-document expands" "hello pagoda \$literal" "$(cat h | tr '\n' ' ' | sed 's/ $//')"
check "quoted here-document" 'no $name' "$(cat <<'EOF'
no $name
EOF
)"
check "backquotes" "5" "`expr 2 + 3`"
check "nested substitution" "3" "$(echo $(echo $(echo 3)))"
check "arithmetic" "42" "$((6 * 7))"

# Background jobs and signals.
sleep 1 &
pid=$!
check "background job runs" "0" "$(kill -0 $pid 2>/dev/null; echo $?)"
wait $pid
check "wait for a job" "0" "$?"
sh -c 'exit 5' &
wait $!
check "wait reports a job's status" "5" "$?"
sleep 10 &
pid=$!
kill $pid
wait $pid
check "killed background job" "143" "$?"
trap 'got=usr1' USR1
kill -USR1 $$
check "trap runs the handler" "usr1" "$got"
for i in 1 2 3; do sh -c "exit $i" & done
wait
check "wait for every job" "0" "$?"

# /proc.
# started_sleep SECONDS: a background `sleep` that has run execve (its comm says so); $p.
started_sleep() {
    sleep "$1" &
    p=$!
    i=0
    while [ "$(cat /proc/$p/comm 2>/dev/null)" != sleep ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}
check "/proc/self is the caller" "yes" "$(sh -c 'read -r p rest </proc/self/stat; [ "$p" = "$$" ] && echo yes')"
check "/proc/PID/stat names the pid" "$$" "$(cut -d ' ' -f 1 /proc/$$/stat)"
check "/proc/PID/stat state of a sleeper" "S" "$(started_sleep 2; cut -d ' ' -f 3 /proc/$p/stat; kill $p)"
check "/proc/self/maps shows busybox" "yes" "$(grep -q 'busybox$' /proc/self/maps && echo yes)"
check "/proc/self/exe" "busybox" "$(basename $(readlink /proc/self/exe))"
check "/proc/PID/cmdline" "sleep 3" "$(started_sleep 3; tr '\0' ' ' </proc/$p/cmdline | sed 's/ $//'; kill $p)"
check "/proc/PID/status Name" "sleep" "$(started_sleep 3; sed -n 's/^Name:[[:space:]]*//p' /proc/$p/status; kill $p)"
check "/proc/meminfo MemTotal" "1" "$(grep -c '^MemTotal: *[1-9][0-9]* kB$' /proc/meminfo)"
check "ls /proc lists self and the shell" "2" "$(ls /proc | grep -cx -e self -e $$)"
check "ps lists the shell" "1" "$(ps | awk -v p=$$ '$1 == p' | wc -l | tr -d ' ')"
check "free reports memory" "yes" "$(free | awk '$1 == "Mem:" && $2 > 0 { print "yes" }')"

cd / && rm -rf "$d"
echo "# $n checks, $fails failed"
exit $fails
