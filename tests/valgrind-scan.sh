#!/usr/bin/env bash
# valgrind-scan.sh DIR - the verdict of `make check-valgrind`: reads every
# memcheck log in DIR (one per process, PID.log) and fails, naming the logs,
# if any reports an error (with --errors-for-leak-kinds=definite,indirect a
# definite or indirect leak is one).  A log without "ERROR SUMMARY" is a
# process that did not finish under memcheck: a fork that went on to exec a
# program we do not trace (sh, cp), or one a test killed on purpose; those
# are counted apart, and fail the target only if it is an `ldg` that died of
# something other than the tests' own SIGKILL.  A test that kills an ldg on
# purpose notes its pid in DIR/killed/ (tests/killed.h, from tests/helpers.c;
# a process that kills itself through tests/fault.c notes its own, and memcheck,
# which runs its leak check as such a process dies, may report what it held as
# lost: only leaks are forgiven there);
# a fork of an ldg that exec'd a program (checkpoint --witness exec:) logs
# its parent's command line under its own pid, with that parent's Parent PID
# line naming an ldg whose own log is in DIR.
set -euo pipefail
dir=${1:?usage: valgrind-scan.sh DIR}
checked=0 bad=() unfinished=0 killed=0 ldg_unfinished=()
shopt -s nullglob
for f in "$dir"/*.log; do
    pid=$(basename "$f" .log)
    if line=$(grep -m1 'ERROR SUMMARY:' "$f"); then
        checked=$((checked + 1))
        n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' <<<"$line")
        if [ "${n:-1}" != 0 ] && [ -e "$dir/killed/$pid" ] &&
            ! grep -Eq "== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination overlap|Argument .* of function)" "$f"; then
            # a process that SIGKILLed itself on purpose (tests/fault.c): memcheck ran its
            # leak check as it died, and what the dying calls held shows as lost
            killed=$((killed + 1))
        elif [ "${n:-1}" != 0 ]; then
            bad+=("$f")
        fi
    else
        unfinished=$((unfinished + 1))
        ppid=$(sed -n 's/^==[0-9]*== Parent PID: \([0-9]*\).*/\1/p' "$f" | head -n 1)
        cmd=$(grep -m1 "== Command: " "$f" | sed 's/^==[0-9]*== //')
        if [ -e "$dir/killed/$pid" ]; then
            killed=$((killed + 1))
        elif [ -n "$ppid" ] && [ -f "$dir/$ppid.log" ] &&
            [ "$(grep -m1 "== Command: " "$dir/$ppid.log" | sed 's/^==[0-9]*== //')" = "$cmd" ]; then
            :   # a fork of that ldg, which exec'd an untraced program
        elif grep -Eq "^==[0-9]+== Command: .*/ldg( |\$)" "$f"; then
            ldg_unfinished+=("$f")
        fi
    fi
done
if [ "$checked" = 0 ]; then
    echo "valgrind: no process finished under memcheck (no logs in $dir?)"
    exit 1
fi
if [ "${#bad[@]}" -gt 0 ] || [ "${#ldg_unfinished[@]}" -gt 0 ]; then
    for f in "${bad[@]}"; do echo "valgrind: errors in $f"; done
    for f in "${ldg_unfinished[@]}"; do echo "valgrind: ldg did not finish: $f"; done
    echo "valgrind: ${#bad[@]} of $checked processes with errors, ${#ldg_unfinished[@]} ldg unfinished"
    exit 1
fi
echo "valgrind: $checked processes checked, 0 errors, 0 definite or indirect leaks" \
     "($unfinished unfinished: $killed killed by a test on purpose, the rest forks that" \
     "exec'd untraced programs)"
