#!/usr/bin/env bash
# BENCH_HUGE=1 make bench (or: bash bench/huge.sh BUILD_DIR): the cost of a ledger that has
# grown for years.  Grows a fresh ledger in 100,000-record batches to HUGE_N records (default
# 10,000,000: about 11 GB of disk), and prints, beside limits measured in the same run:
#   - batch append rate at ~100k, ~1M and HUGE_N over the rate on an empty ledger (>= 0.8)
#     and over one core's sign rate (>= 0.9), and a plot of the rate against the size;
#   - a single append at HUGE_N over the same on a small ledger;
#   - peak anonymous memory of every batch (the bound of SECURITY.md);
#   - verify at HUGE_N (time, rate over Ed25519 verify on all cores, anonymous memory),
#     verify --since of 1 % new, proofs, and CSV/JSONL export rates.
# Environment: HUGE_N (records), HUGE_DIR (where the ledger grows; default a temporary
# directory under ${TMPDIR:-/tmp}, removed on exit).
set -euo pipefail
B=${1:?usage: huge.sh BUILD_DIR}
LDG=$B/ldg
BC=$B/bench/bench_core
HERE=$(cd "$(dirname "$0")" && pwd)
HN=${HUGE_N:-10000000}
STEP=100000
W=${HUGE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ldg-huge.XXXXXX")}
[ -n "${HUGE_DIR:-}" ] || trap 'rm -rf "$W"' EXIT
mkdir -p "$W"
unset LDG_PASSPHRASE_FILE
export LDG_LEDGER=$W/ledger
cd "$W"
calc() { awk "BEGIN { printf \"%s\", $1 }"; }
note() { printf '  .. %s\n' "$*" >&2; }
ge() { calc "($1 >= $2) ? 1 : 0"; }
CORES=$(nproc)
T0=$(date +%s)

note "primitives"
mkdir -p "$W/probe"
eval "$("$BC" prims "$W/probe")"
rm -rf "$W/probe"

source "$HERE/setup.sh"   # keys, ledger, SEED seed records from seq FIRST
printf '{"subject":"Protocol amendment 3: visit window","text":"Site 12 asks to widen visit 4."}\n' > body.json
SINGLE=("$LDG" append --as author.key --kind communication --study HX-301 --body body.json)
"$BC" exec-median 5 -- "${SINGLE[@]}" >/dev/null
read -r S0_MED _ < <("$BC" exec-median 30 -- "${SINGLE[@]}")

# ------------------------------------------------------------------ grow --
note "growing to $HN records in batches of $STEP (each line refs one of the seed records)"
: > rates.txt            # entries-before rate anon-kib
N=$("$LDG" verify --jobs "$CORES" | sed -n 's/.*: \([0-9]*\) entries,.*/\1/p')
APP_ANON_MAX=0
while [ "$N" -lt "$HN" ]; do
    "$BC" gen "$STEP" "$FIRST" $((FIRST + SEED - 1)) > batch.jsonl
    read -r S _ _ ANON < <("$BC" wall - -- "$LDG" append --as author.key --batch batch.jsonl)
    echo "$N $(calc "$STEP / $S") $ANON" >> rates.txt
    [ "$ANON" -gt "$APP_ANON_MAX" ] && APP_ANON_MAX=$ANON
    N=$((N + STEP))
    if [ $((N / STEP % 10)) = 0 ]; then
        note "$N records, $(calc "int($STEP / $S)") rec/s"
        # a log checkpoint now and then, as a host would make: each verifies only what is new
        "$LDG" checkpoint --as log.key >/dev/null
    fi
done
rm -f batch.jsonl
read -r S1_MED _ < <("$BC" exec-median 30 -- "${SINGLE[@]}")
# the rate at a size: the median of the 5 batches that start nearest to it
rate_at() { sort -n -k1,1 rates.txt | awk -v at="$1" '{ d = $1 - at; if (d < 0) d = -d; print d, $2 }' |
    sort -n | head -n 5 | awk '{ print $2 }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
EMPTY_RATE=$(head -n 1 rates.txt | awk '{ print $2 }')
R100K=$(rate_at 100000)
R1M=$(rate_at 1000000)
RHUGE=$(rate_at $((HN - STEP)))

# ---------------------------------------------------------------- verify --
note "verify of $N records (QA's full run, which cosigns the checkpoint)"
"$LDG" checkpoint --as log.key >/dev/null
read -r VER_S _ _ VER_ANON < <("$BC" wall verify.out -- "$LDG" verify --save-checkpoint qa.txt --as qa.key)
grep -q '^OK:' verify.out || { echo "verify did not report OK:" >&2; tail -n 3 verify.out >&2; exit 1; }
"$BC" gen $((N / 100 < STEP ? N / 100 : STEP)) "$FIRST" $((FIRST + SEED - 1)) > more.jsonl
MORE=$(wc -l < more.jsonl)
"$LDG" append --as author.key --batch more.jsonl >/dev/null
read -r SINCE_S _ _ SINCE_ANON < <("$BC" wall since.out -- "$LDG" verify --since qa.txt --qa qa.pub)
grep -q '^OK:' since.out || { echo "verify --since did not report OK:" >&2; cat since.out >&2; exit 1; }
read -r PR_N PR_I PR_C PR_IW PR_CW < <("$BC" proofs "$LDG_LEDGER" 2000)

# journalctl --verify over sealed journals of as many entries as the ledger holds (as in
# run.sh; journald rotates a file every ~175,000 entries, so the journal is a directory)
JR=/lib/systemd/systemd-journal-remote
JOURNAL_S=""
if [ -x "$JR" ]; then
    note "a sealed journal of $N entries for journalctl --verify"
    mkdir -p "$W/journal"
    journal_export "$N" |
        "$JR" --output="$W/journal/b.journal" --seal=yes --split-mode=none - >/dev/null 2>&1
    read -r JOURNAL_S _ < <("$BC" wall - -- journalctl --verify --directory="$W/journal" 2>/dev/null)
    rm -rf "$W/journal"
    "$BC" wall - -- "$LDG" verify --since qa.txt --qa qa.pub >/dev/null   # the ledger back in the cache
    read -r SINCE_S _ _ SINCE_ANON < <("$BC" wall since.out -- "$LDG" verify --since qa.txt --qa qa.pub)
fi

# ---------------------------------------------------------------- export --
note "exports of $N records (CSV and JSONL, --verified)"
"$LDG" checkpoint --as log.key >/dev/null
"$LDG" verify --since qa.txt --qa qa.pub --save-checkpoint qa-now.txt --as qa.key >/dev/null
ENTRIES=$("$LDG" verify --since qa-now.txt --qa qa.pub | sed -n 's/.*: \([0-9]*\) entries,.*/\1/p')
read -r EXC_S EXC_RSS _ EXC_ANON < <("$BC" wall - -- "$LDG" export --format csv -o ex.csv --verified qa-now.txt --qa qa.pub)
rm -f ex.csv
read -r EXJ_S EXJ_RSS _ EXJ_ANON < <("$BC" wall - -- "$LDG" export --format jsonl -o ex.jsonl --verified qa-now.txt --qa qa.pub)
EXJ_MB=$(( $(stat -c %s ex.jsonl) / 1048576 ))
rm -f ex.jsonl
# the disk's part: writing and fsyncing as many bytes as the JSONL export (it fsyncs before it
# publishes the file)
DD_S=$(TIMEFORMAT=%R; { time dd if=/dev/zero of=dd.out bs=1M count="$EXJ_MB" conv=fsync 2>/dev/null; } 2>&1)
rm -f dd.out

# ---------------------------------------------------------------- report --
row() { # name measured limit-label ratio target pass(1/0/-)
    local verdict=info
    [ "$6" = 1 ] && verdict=PASS
    [ "$6" = 0 ] && verdict=MISS
    printf '  %-36s %12s  %-30s %7.2f  %-8s %s\n' "$1" "$2" "$3" "$4" "$5" "$verdict"
}
echo
echo "ldg at scale, measured now: $N records, $(du -sm "$LDG_LEDGER" | cut -f1) MiB, grown in $STEP-record batches in $(( $(date +%s) - T0 )) s"
printf '  %-36s %12s  %-30s %7s  %-8s %s\n' figure measured limit ratio target verdict
for at in 100000 1000000 $((HN - STEP)); do
    r=$(rate_at "$at")
    row "batch append at ~$at (rec/s)" "$(calc "int($r)")" "empty ledger $(calc "int($EMPTY_RATE)")" "$(calc "$r / $EMPTY_RATE")" ">= 0.8" "$(ge "$(calc "$r / $EMPTY_RATE")" 0.8)"
    row "batch append at ~$at (rec/s)" "$(calc "int($r)")" "sign/core $SIGN_RATE" "$(calc "$r / $SIGN_RATE")" ">= 0.9" "$(ge "$(calc "$r / $SIGN_RATE")" 0.9)"
done
row "batch append peak anon (KiB)" "$APP_ANON_MAX" "256 MiB (SECURITY.md)" "$(calc "$APP_ANON_MAX / 262144")" "<= 1" "$(ge 1 "$(calc "$APP_ANON_MAX / 262144")")"
BUDGET=$(calc "$S0_MED + 1")
row "single append at $N (ms)" "$S1_MED" "small ledger $S0_MED ms + 1 ms" "$(calc "$S1_MED / $BUDGET")" "<= 1" "$(ge 1 "$(calc "$S1_MED / $BUDGET")")"
VR=$(calc "$N / $VER_S")
row "verify at $N (s)" "$VER_S" "5 minutes" "$(calc "$VER_S / 300")" "<= 1" "$(ge 1 "$(calc "$VER_S / 300")")"
row "verify at $N (entries/s)" "$(calc "int($VR)")" "verify $CORES thr $VERIFY_RATE_ALL" "$(calc "$VR / $VERIFY_RATE_ALL")" ">= 0.9" "$(ge "$(calc "$VR / $VERIFY_RATE_ALL")" 0.9)"
row "verify peak anon at $N (KiB)" "$VER_ANON" "64 MiB" "$(calc "$VER_ANON / 65536")" "<= 1" "$(ge 1 "$(calc "$VER_ANON / 65536")")"
row "verify --since, $MORE new (s)" "$SINCE_S" "full verify $VER_S s" "$(calc "$SINCE_S / $VER_S")" "~ 0.01" -
[ -n "$JOURNAL_S" ] &&
    row "verify --since vs journalctl (s)" "$SINCE_S" "journalctl --verify $JOURNAL_S s" "$(calc "$JOURNAL_S / $SINCE_S")" ">= 3" "$(ge "$(calc "$JOURNAL_S / $SINCE_S")" 3)"
row "verify --since peak anon (KiB)" "$SINCE_ANON" "64 MiB" "$(calc "$SINCE_ANON / 65536")" "<= 1" "$(ge 1 "$(calc "$SINCE_ANON / 65536")")"
row "inclusion proof at $PR_N, warm (us)" "$PR_IW" "1 ms" "$(calc "$PR_IW / 1000")" "-" -
row "consistency proof at $PR_N, warm (us)" "$PR_CW" "1 ms" "$(calc "$PR_CW / 1000")" "-" -
r=$(calc "$ENTRIES / $EXC_S / 300000")
row "export CSV --verified (rec/s)" "$(calc "int($ENTRIES / $EXC_S)")" "300,000 rec/s" "$r" ">= 1" "$(ge "$r" 1)"
r=$(calc "$ENTRIES / $EXJ_S / 200000")
row "export JSONL --verified (rec/s)" "$(calc "int($ENTRIES / $EXJ_S)")" "200,000 rec/s" "$r" ">= 1" "$(ge "$r" 1)"
row "  (disk: write+fsync $EXJ_MB MiB, s)" "$DD_S" "of JSONL export $EXJ_S s" "$(calc "$DD_S / $EXJ_S")" "-" -
row "export peak anon (KiB)" "$EXJ_ANON" "64 MiB" "$(calc "$EXJ_ANON / 65536")" "<= 1" "$(ge 1 "$(calc "$EXJ_ANON / 65536")")"
echo
echo "batch append rate against ledger size (each # = 1,000 rec/s; one line per 500,000 records)"
awk -v step=500000 '{ b = int($1 / step); s[b] += $2; c[b]++ } END {
    for (i = 0; i in c; i++) { r = s[i] / c[i]; bar = ""; for (j = 0; j < r / 1000; j++) bar = bar "#";
        printf "  %6.1fM %7d |%s\n", i * step / 1e6, r, bar } }' rates.txt
