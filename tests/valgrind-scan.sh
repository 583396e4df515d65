#!/usr/bin/env bash
# valgrind-scan.sh DIR - the verdict of `make check-valgrind`: reads every
# memcheck log in DIR (one per process, PID.log) and fails, naming the logs,
# if any reports an error (with --errors-for-leak-kinds=definite,indirect a
# definite or indirect leak is one).  A log without "ERROR SUMMARY" is a
# process that did not finish under memcheck: a fork that went on to exec a
# program we do not trace (sh, cp), or one a test killed on purpose; those
# are counted apart, and fail the target only if it is an `ldg` that died of
# something other than the tests' own SIGKILL (there is none outside
# test_crash, which check-valgrind leaves out).
set -euo pipefail
dir=${1:?usage: valgrind-scan.sh DIR}
checked=0 bad=() unfinished=0 ldg_unfinished=()
shopt -s nullglob
for f in "$dir"/*.log; do
    if line=$(grep -m1 'ERROR SUMMARY:' "$f"); then
        checked=$((checked + 1))
        n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' <<<"$line")
        [ "${n:-1}" = 0 ] || bad+=("$f")
    else
        unfinished=$((unfinished + 1))
        grep -Eq "^==[0-9]+== Command: .*/ldg( |\$)" "$f" && ldg_unfinished+=("$f")
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
     "($unfinished forks that exec'd untraced programs)"
