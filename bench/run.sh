#!/usr/bin/env bash
# make bench: measures ldg beside the limits of this machine, measured in the
# same run, and prints each figure as a ratio to its limit.
#   usage: bash bench/run.sh BUILD_DIR        (BUILD_DIR holds ldg and bench/bench_core)
# Environment: BENCH_N (batch records, default 100000), BENCH_SINGLE (single
# appends, default 100), BENCH_WITNESS (witness requests, default 300).  Everything
# happens in a temporary directory under
# ${TMPDIR:-/tmp}, removed on exit.
set -euo pipefail
B=${1:?usage: run.sh BUILD_DIR}
LDG=$B/ldg
BC=$B/bench/bench_core
HERE=$(cd "$(dirname "$0")" && pwd)
N=${BENCH_N:-100000}
[ "$N" -le 100000 ] || { echo "BENCH_N=$N: a batch holds at most 100,000 records" >&2; exit 2; }
NS=${BENCH_SINGLE:-100}
W=$(mktemp -d "${TMPDIR:-/tmp}/ldg-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
unset LDG_PASSPHRASE_FILE
export LDG_LEDGER=$W/ledger
cd "$W"

calc() { awk "BEGIN { printf \"%s\", $1 }"; }
note() { printf '  .. %s\n' "$*" >&2; }

CORES=$(nproc)
CPU=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
read -r DEV FS < <(df -PT "$W" | awk 'NR == 2 { print $1, $2 }')
echo "ldg bench - $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "hardware: nproc=$CORES; cpu: ${CPU:-unknown}; $(uname -sr)"
echo "temp dir: $W on $FS ($DEV); libsodium $(pkg-config --modversion libsodium 2>/dev/null || echo '?')"
# CPU time of the whole machine (steal included) vs our own, to detect other load.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
BUSY0=$(cpu_busy)
T0=$(date +%s%N)
echo

# ------------------------------------------------------------ primitives --
note "primitives (libsodium, LMDB on the ledger's filesystem)"
mkdir "$W/probe"
eval "$("$BC" prims "$W/probe")"
rm -rf "$W/probe"
# The limit of the proof rows: Go's golang.org/x/mod/sumdb/tlog proving from an in-memory
# hash store (bench/tlog_proofs.go), if go and golang-golang-x-mod-dev are installed
# (make deps installs them, as for the interop test).
TLOG=""
if command -v go >/dev/null && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ]; then
    GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$W/gocache GOFLAGS= \
        go build -o "$W/tlog_proofs" "$HERE/tlog_proofs.go" && TLOG=$W/tlog_proofs
fi
# go_proofs SIZE -> "size incl_us cons_us", or "- - -" without Go
go_proofs() { if [ -n "$TLOG" ]; then "$TLOG" "$1" 2000; else echo "- - -"; fi; }

# ----------------------------------------------------------------- setup --
source "$HERE/setup.sh"   # keys, ledger, SEED seed records from seq FIRST
read -r PR_SMALL_N PR_SMALL_I PR_SMALL_C PR_SMALL_IW PR_SMALL_CW < <("$BC" proofs "$LDG_LEDGER" 2000)
read -r _ GO_SMALL_I GO_SMALL_C < <(go_proofs "$PR_SMALL_N")
"$BC" gen "$N" "$FIRST" $((FIRST + SEED - 1)) > batch.jsonl
cp -a "$LDG_LEDGER" "$W/seedled"   # the seeded ledger, for the paired batches at ~1M [13]
BATCH_BYTES=$(wc -c < batch.jsonl)

# ---------------------------------------------------------- batch append --
note "batch append of $N records ($((BATCH_BYTES / 1024)) KiB JSONL)"
read -r APP_S APP_RSS APP_CPU APP_ANON < <("$BC" wall - -- "$LDG" append --as author.key --batch batch.jsonl)
APP_RATE=$(calc "$N / $APP_S")
ENTRIES=$("$LDG" verify --jobs "$CORES" | sed -n 's/.*: \([0-9]*\) entries,.*/\1/p')  # also warms the cache
LEDGER_KIB=$(du -sk "$LDG_LEDGER" | cut -f1)  # the ledger the figures are of, before the ~1M batches grow it

# ---------------------------------------------------------------- verify --
note "verify of $ENTRIES entries, all cores and --jobs 1"
read -r VER_S VER_RSS VER_CPU VER_ANON < <("$BC" wall verify.out -- "$LDG" verify)
grep -q '^OK:' verify.out || { echo "verify did not report OK:" >&2; cat verify.out >&2; exit 1; }
read -r VER1_S VER1_RSS VER1_CPU VER1_ANON < <("$BC" wall - -- "$LDG" verify --jobs 1)
VER_RATE=$(calc "$ENTRIES / $VER_S")
VER1_RATE=$(calc "$ENTRIES / $VER1_S")

# ------------------------------------------------------ incremental verify --
note "incremental verify: checkpoint, save it, append 1 % more, verify --since"
"$LDG" checkpoint --as author.key >/dev/null 2>&1 || true   # refused: not the log key
"$LDG" checkpoint --as log.key >/dev/null
"$LDG" verify --save-checkpoint qa.txt --as qa.key >/dev/null   # QA cosigns [CKP-5]
"$BC" gen $((N / 100)) "$FIRST" $((FIRST + SEED - 1)) > more.jsonl
"$LDG" append --as author.key --batch more.jsonl >/dev/null
read -r SINCE_S SINCE_RSS SINCE_CPU SINCE_ANON < <("$BC" wall since.out -- "$LDG" verify --since qa.txt --qa qa.pub)
grep -q '^OK:' since.out || { echo "verify --since did not report OK:" >&2; cat since.out >&2; exit 1; }
read -r FULL2_S FULL2_RSS FULL2_CPU FULL2_ANON < <("$BC" wall - -- "$LDG" verify)
# ---------------------------------------------------------------- review --
# ldg review: verify --since from the same QA checkpoint, then one decoding walk of every entry.
note "review of the same ledger from the same QA checkpoint (--since)"
read -r REV_S REV_RSS REV_CPU REV_ANON < <("$BC" wall review.out -- "$LDG" review --since qa.txt --qa qa.pub --json --fail-on critical)
grep -q '"summary":"passed"' review.out || { echo "review did not pass:" >&2; tail -n 1 review.out >&2; exit 1; }
# journalctl --verify over a sealed journal of as many entries (hash chain only: no signatures,
# no policy, no body content), if systemd-journal-remote is installed (make bench installs it)
JR=/lib/systemd/systemd-journal-remote
JOURNAL_S=""
if [ -x "$JR" ]; then
    COUNT=$("$LDG" verify | sed -n 's/.*: \([0-9]*\) entries,.*/\1/p')
    journal_export "$COUNT" > j.export
    "$JR" --output="$W/b.journal" --seal=yes --split-mode=none j.export >/dev/null 2>&1
    "$BC" wall - -- journalctl --verify --file="$W/b.journal" >/dev/null   # warm
    read -r JOURNAL_S JOURNAL_RSS JOURNAL_CPU JOURNAL_ANON < <("$BC" wall - -- journalctl --verify --file="$W/b.journal")
fi

# The floor of any re-hashing verification: every entry SHA-256'd as a leaf on one core.
read -r REHASH_S REHASH_N REHASH_BYTES < <("$BC" rehash "$LDG_LEDGER")

# --------------------------------------------------------------- publish --
# The newest stored checkpoint predates the last 1 %: the first publish covers it, then a
# checkpoint of the head and a second publish writes only that 1 % [PUB-5].
note "publish: the ledger as tlog-tiles, first run, then the last 1 %"
read -r PUB1_S PUB1_RSS PUB1_CPU PUB1_ANON < <("$BC" wall - -- "$LDG" publish "$W/pub")
PUB1_N=$(sed -n 2p "$W/pub/checkpoint")
# ldg mirror (spec/mirror.md): the sponsor's copy, every entry checked in full, from the files
note "mirror: a first run of the published tiles, then the last 1 %"
MIRROR=("$LDG" mirror --from "$W/pub" --trust log.pub --state "$W/mirror")
read -r MIR1_S MIR1_RSS MIR1_CPU MIR1_ANON < <("$BC" wall mir1.out -- "${MIRROR[@]}")
grep -q '^mirrored' mir1.out || { echo "mirror did not report mirrored:" >&2; cat mir1.out >&2; exit 1; }
"$LDG" checkpoint --as log.key >/dev/null
read -r PUB2_S PUB2_RSS PUB2_CPU PUB2_ANON < <("$BC" wall - -- "$LDG" publish "$W/pub")
PUB2_N=$(( $(sed -n 2p "$W/pub/checkpoint") - PUB1_N ))
read -r MIR2_S MIR2_RSS MIR2_CPU MIR2_ANON < <("$BC" wall mir2.out -- "${MIRROR[@]}")
grep -q '^mirrored' mir2.out || { echo "mirror did not report mirrored:" >&2; cat mir2.out >&2; exit 1; }
PUB_KIB=$(du -sk "$W/pub" | cut -f1)
rm -rf "$W/pub" "$W/mirror"

# ---------------------------------------------------------------- proofs --
note "proofs: 2000 inclusion and consistency proofs at each size (library calls)"
read -r PR_N PR_I PR_C PR_IW PR_CW < <("$BC" proofs "$LDG_LEDGER" 2000)
read -r _ GO_I GO_C < <(go_proofs "$PR_N")

# ------------------------------------------------------------ log --study --
# ldg log --study S walks the study index (one of the 50 studies gen spreads records over)
# and decodes only those entries; the full log decodes every entry.
note "log: the whole ledger, then one study of 50 (--study HX-301)"
read -r LOG_S LOG_RSS LOG_CPU LOG_ANON < <("$BC" wall log.out -- "$LDG" log)
read -r LOGS_S LOGS_RSS LOGS_CPU LOGS_ANON < <("$BC" wall logs.out -- "$LDG" log --study HX-301)
LOG_N=$(wc -l < log.out)
LOGS_N=$(wc -l < logs.out)
rm -f log.out logs.out

# -------------------------------------------------------- single appends --
note "$NS single appends, one process each"
printf '{"subject":"Protocol amendment 3: visit window","text":"Site 12 asks to widen visit 4 to +/- 5 days; the coordinator reports that 3 subjects would otherwise miss the window."}\n' > body.json
SINGLE=("$LDG" append --as author.key --kind communication --study HX-301 --body body.json)
"$BC" exec-median 5 -- "${SINGLE[@]}" >/dev/null     # warm-up
read -r S_MED S_P90 S_MIN S_MAX < <("$BC" exec-median "$NS" -- "${SINGLE[@]}")
# the same binary started and ended with nothing to do: exec, its libraries linked, exit
read -r BARE_MED _ < <("$BC" exec-median "$NS" -- "$LDG" --version)

# --------------------------------------------------------------- witness --
# ldg witness serve on loopback: the same add-checkpoint (the ledger's head, from old size =
# its size) again and again, each a cosignature and an fsync'd LMDB commit [WIT-3]; curl
# keeps the connection alive.  Serial requests give the latency, 8 at once the rate.
note "witness: add-checkpoint over HTTP on loopback"
WN=${BENCH_WITNESS:-300}
"$LDG" keygen --name bench.example/witness --out witness --unencrypted >/dev/null
"$LDG" witness init --state wstate --key witness.key >/dev/null
"$LDG" witness add-log --state wstate --key log.pub --origin bench.example/ledger
"$LDG" checkpoint --as log.key > wcp.txt
{ printf 'old 0\n\n'; cat wcp.txt; } | "$LDG" witness add-checkpoint --state wstate >/dev/null
{ printf 'old %s\n\n' "$(sed -n 2p wcp.txt)"; cat wcp.txt; } > wreq.txt
"$LDG" witness serve --state wstate --listen 127.0.0.1:0 2> wserve.err &
WPID=$!
for _ in $(seq 1 500); do grep -q 'listening on' wserve.err 2>/dev/null && break; sleep 0.01; done
WPORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' wserve.err)
WURL=http://127.0.0.1:$WPORT/add-checkpoint
WURLS=(); for _ in $(seq 1 "$WN"); do WURLS+=("$WURL"); done
curl -s -o /dev/null --data-binary @wreq.txt "$WURL"     # warm-up
# bodies and the -w lines share stdout: the bodies are cosignature lines ("— ...")
curl -s -w '%{http_code} %{time_total}\n' --data-binary @wreq.txt "${WURLS[@]}" |
    grep -E '^[0-9]{3} [0-9.]+$' > wlat.txt
W_OK=$(grep -c '^200 ' wlat.txt || true)
W_MED=$(awk '{ print $2 * 1000 }' wlat.txt | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }')
W_T0=$(date +%s.%N)
curl -s --no-progress-meter --parallel --parallel-max 8 --data-binary @wreq.txt "${WURLS[@]}" \
    >/dev/null 2>&1
W_T1=$(date +%s.%N)
W_RATE=$(calc "$WN / ($W_T1 - $W_T0)")
kill -TERM "$WPID"; wait "$WPID" || true

# ---------------------------------------------------------------- export --
# Every export is tied to a checkpoint; QA's saved one (--verified) vouches for the signatures
# a full verify accepted, so the export re-hashes instead of re-verifying them.
note "export of $ENTRIES records: JSONL and CSV with --verified, JSONL checking every signature"
"$LDG" checkpoint --as log.key >/dev/null
"$LDG" verify --since qa.txt --qa qa.pub --save-checkpoint qa-now.txt --as qa.key >/dev/null
xport() { # FORMAT OUT [args...] -> "wall_s rss_kib anon_kib"
    local fmt=$1 out=$2; shift 2
    rm -f "$out"
    "$BC" wall - -- "$LDG" export --format "$fmt" -o "$out" "$@" | awk '{ print $1, $2, $4 }'
}
read -r EXJ_S EXJ_RSS EXJ_ANON < <(xport jsonl ex.jsonl --verified qa-now.txt --qa qa.pub)
read -r EXC_S EXC_RSS < <(xport csv ex.csv --verified qa-now.txt --qa qa.pub)
read -r EXF_S EXF_RSS < <(xport jsonl exf.jsonl)
read -r EXS_S EXS_RSS < <(xport jsonl exs.jsonl --verified qa-now.txt --qa qa.pub --study HX-301)
EX_N=$(wc -l < ex.jsonl)
EXS_N=$(wc -l < exs.jsonl)
rm -f ex.jsonl ex.csv exf.jsonl exs.jsonl

PR_BIG=""
if [ "${BENCH_BIG:-1}" != 0 ]; then            # BENCH_BIG=0: stay at 100k (faster)
    note "growing the ledger to ~1M entries for the proofs and the export at 1M"
    for i in 1 2 3 4 5 6 7 8 9; do    # a batch holds at most 100,000 records
        "$BC" gen 100000 "$FIRST" $((FIRST + SEED - 1)) > big.jsonl
        "$LDG" append --as author.key --batch big.jsonl >/dev/null
    done
    rm -f big.jsonl
    read -r PR_BIG_N PR_BIG_I PR_BIG_C PR_BIG_IW PR_BIG_CW < <("$BC" proofs "$LDG_LEDGER" 2000)
    read -r _ GO_BIG_I GO_BIG_C < <(go_proofs "$PR_BIG_N")
    read -r LOGB_S LOGB_RSS LOGB_CPU LOGB_ANON < <("$BC" wall log.out -- "$LDG" log)
    read -r LOGSB_S LOGSB_RSS LOGSB_CPU LOGSB_ANON < <("$BC" wall logs.out -- "$LDG" log --study HX-301)
    LOGB_N=$(wc -l < log.out)
    LOGSB_N=$(wc -l < logs.out)
    rm -f log.out logs.out
    PR_BIG=1
    "$LDG" checkpoint --as log.key >/dev/null
    "$LDG" verify --since qa-now.txt --qa qa.pub --save-checkpoint qa-big.txt --as qa.key >/dev/null
    read -r EXJB_S EXJB_RSS EXJB_ANON < <(xport jsonl ex.jsonl --verified qa-big.txt --qa qa.pub)
    read -r SINCEB_S SINCEB_RSS SINCEB_CPU SINCEB_ANON < <("$BC" wall - -- "$LDG" verify --since qa-big.txt --qa qa.pub)
    read -r REVB_S REVB_RSS REVB_CPU REVB_ANON < <("$BC" wall - -- "$LDG" review --since qa-big.txt --qa qa.pub --json --fail-on critical)
    read -r EXCB_S EXCB_RSS < <(xport csv ex.csv --verified qa-big.txt --qa qa.pub)
    EXB_N=$(wc -l < ex.jsonl)
    EXB_MB=$(( $(stat -c %s ex.jsonl) / 1048576 ))
    rm -f ex.jsonl ex.csv
    # the disk's part: writing and fsyncing as many bytes (export fsyncs before it publishes)
    DD_S=$(TIMEFORMAT=%R; { time dd if=/dev/zero of=dd.out bs=1M count="$EXB_MB" conv=fsync 2>/dev/null; } 2>&1)
    rm -f dd.out
    # [13] Flat cost, paired: one 100k-line batch on a fresh copy of the seeded ledger, then
    # the same on the ledger at ~1M (1.0M, 1.1M, 1.2M), three times in turn.  Each pair's
    # ratio is taken on its own, so the VM's changes of speed between minutes do not land in it.
    note "batch append at ~1M against a first batch, paired, three times"
    "$BC" gen 100000 "$FIRST" $((FIRST + SEED - 1)) > big.jsonl
    FLAT_W=""; FLAT_C=""; FLAT_RATE=""
    for _ in 1 2 3; do
        rm -rf "$W/small"; cp -a "$W/seedled" "$W/small"
        read -r SM_S _ SM_CPU _ < <(LDG_LEDGER=$W/small "$BC" wall - -- "$LDG" append --as author.key --batch big.jsonl)
        read -r BG_S _ BG_CPU _ < <("$BC" wall - -- "$LDG" append --as author.key --batch big.jsonl)
        FLAT_W="$FLAT_W $(calc "$SM_S / $BG_S")"
        FLAT_C="$FLAT_C $(calc "$SM_CPU / $BG_CPU")"
        FLAT_RATE="$FLAT_RATE $(calc "100000 / $BG_S")"
    done
    rm -rf "$W/small" big.jsonl
    median3() { printf '%s\n' $1 | sort -g | sed -n 2p; }
    BIGAPP_RATE=$(median3 "$FLAT_RATE")
fi

# ---------------------------------------------------------------- report --
echo "Primitives, measured now (one core unless said; DESIGN.md figure for comparison)"
printf '  %-40s %14s %14s %7s\n' primitive measured DESIGN.md ratio
prim() {
    if [ "$4" = - ]; then printf '  %-40s %14s %14s %7s\n' "$1" "$2" "$3" -
    else printf '  %-40s %14s %14s %7.2f\n' "$1" "$2" "$3" "$(calc "$4")"; fi
}
prim "Ed25519 sign, 300 B (/s)" "$SIGN_RATE" 39000 "$SIGN_RATE / 39000"
prim "Ed25519 verify, 300 B (/s)" "$VERIFY_RATE" 18000 "$VERIFY_RATE / 18000"
prim "Ed25519 sign, $CORES threads (/s) [1]" "$SIGN_RATE_ALL" "-" "$SIGN_RATE_ALL / ($SIGN_RATE * $CORES)"
prim "Ed25519 verify, $CORES threads (/s) [1]" "$VERIFY_RATE_ALL" "-" "$VERIFY_RATE_ALL / ($VERIFY_RATE * $CORES)"
prim "SHA-256 of 512 B (/s)" "$SHA_RATE" 450000 "$SHA_RATE / 450000"
prim "LMDB fsync'd commit, median (ms)" "$COMMIT_MED_MS" 0.5 "$COMMIT_MED_MS / 0.5"
prim "LMDB fsync'd commit, p90 (ms)" "$COMMIT_P90_MS" "-" -
prim "LMDB puts in one commit (/s) [2]" "$PUTS_RATE" 500000 "$PUTS_RATE / 500000"
echo "  [1] ratio to (one core's rate x $CORES): how far the cores scale together"
echo "  [2] random 32-byte keys, 256-byte values, 100,000 puts, time includes the fsync'd commit"
echo

ROWS=()
row() { # name measured limit-label limit ratio target pass(1/0/-)
    local verdict=info
    [ "$7" = 1 ] && verdict=PASS
    [ "$7" = 0 ] && verdict=MISS
    printf '  %-34s %12s  %-26s %7.2f  %-9s %s\n' "$1" "$2" "$3" "$5" "$6" "$verdict"
    [ "$verdict" = MISS ] && ROWS+=("$1")
    return 0
}
ge() { calc "($1 >= $2) ? 1 : 0"; }
echo "ldg, measured now ($N-record batch, ledger of $ENTRIES entries, $((LEDGER_KIB / 1024)) MiB)"
printf '  %-34s %12s  %-26s %7s  %-9s %s\n' figure measured limit ratio target verdict
r=$(calc "$APP_RATE / $SIGN_RATE")
row "batch append (rec/s)" "$(calc "int($APP_RATE)")" "sign/core $SIGN_RATE" "" "$r" ">= 0.9" "$(ge "$r" 0.9)"
r=$(calc "$APP_RATE / ($SIGN_RATE * $CORES)")
row "batch append (rec/s)" "$(calc "int($APP_RATE)")" "sign x $CORES $(calc "$SIGN_RATE * $CORES")" "" "$r" "-> 1" -
# what the cores gave together, signing alone, in this run: the batch's share of it is the part
# of its CPU that is signing (a VM whose cores scale badly moves the row above, not this one)
r=$(calc "$APP_RATE / $SIGN_RATE_ALL")
row "batch append (rec/s)" "$(calc "int($APP_RATE)")" "sign $CORES thr $SIGN_RATE_ALL" "" "$r" "-" -
r=$(calc "$VER_RATE / ($VERIFY_RATE * $CORES)")
row "verify, all cores (entries/s)" "$(calc "int($VER_RATE)")" "verify x $CORES $(calc "$VERIFY_RATE * $CORES")" "" "$r" ">= 0.85" "$(ge "$r" 0.85)"
r=$(calc "$VER_RATE / $VERIFY_RATE_ALL")
row "verify, all cores (entries/s)" "$(calc "int($VER_RATE)")" "verify $CORES thr $VERIFY_RATE_ALL" "" "$r" "-" -
r=$(calc "$VER1_RATE / $VERIFY_RATE")
row "verify --jobs 1 (entries/s)" "$(calc "int($VER1_RATE)")" "verify/core $VERIFY_RATE" "" "$r" ">= 0.85" "$(ge "$r" 0.85)"
r=$(calc "$S_MED / $COMMIT_MED_MS")
row "single append, median (ms)" "$S_MED" "commit med $COMMIT_MED_MS ms" "" "$r" "<= 3 ms" "$(ge 3 "$S_MED")"
r=$(calc "$S_P90 / $COMMIT_P90_MS")
S_BUDGET=$(calc "$BARE_MED + $COMMIT_MED_MS + 1")
r=$(calc "$S_MED / $S_BUDGET")
row "single append vs budget (ms) [14]" "$S_MED" "start+commit+1 $(calc "int($S_BUDGET * 1000) / 1000") ms" "" "$r" "<= 1" "$(ge 1 "$r")"
row "single append, p90 (ms)" "$S_P90" "commit p90 $COMMIT_P90_MS ms" "" "$r" "-" -
r=$(calc "$VER_RSS / 327680")
row "verify peak RSS (KiB) [3]" "$VER_RSS" "64 MiB + 256 MiB mapped" "" "$r" "<= 1" "$(ge 1 "$r")"
r=$(calc "$VER_ANON / 65536")
row "verify peak anon RSS (KiB) [3]" "$VER_ANON" "64 MiB" "" "$r" "<= 1" "$(ge 1 "$r")"
r=$(calc "$APP_RSS / 65536")
r=$(calc "$FULL2_S / $SINCE_S")
row "verify --since, last 1 % new (s)" "$SINCE_S" "full verify $FULL2_S s" "" "$r" "speed-up" -
if [ -n "$JOURNAL_S" ]; then
    r=$(calc "$JOURNAL_S / $SINCE_S")
    row "verify --since vs journalctl (s)" "$SINCE_S" "journalctl --verify $JOURNAL_S s" "" "$r" ">= 3" "$(ge "$r" 3)"
fi
r=$(calc "$REHASH_S / $CORES / $SINCE_S")
row "verify --since vs re-hash floor [5]" "$SINCE_S" "$((REHASH_BYTES / 1048576)) MiB SHA / $CORES $(calc "$REHASH_S / $CORES") s" "" "$r" "-> 1" -
r=$(calc "$SINCE_S / $REV_S")
row "review vs verify --since (rate)" "$(calc "int($ENTRIES / $REV_S)")" "verify --since $(calc "int($ENTRIES / $SINCE_S)")" "" "$r" ">= 0.50" "$(ge "$r" 0.50)"
row "review peak anon RSS (KiB) [3]" "$REV_ANON" "64 MiB" "" "$(calc "$REV_ANON / 65536")" "<= 1" "$(ge 1 "$(calc "$REV_ANON / 65536")")"
if [ -n "$PR_BIG" ]; then
    r=$(calc "$SINCEB_S / $REVB_S")
    row "review at $EXB_N vs verify --since" "$REVB_S" "verify --since $SINCEB_S s" "" "$r" ">= 0.50" "$(ge "$r" 0.50)"
    row "review peak anon at $EXB_N (KiB)" "$REVB_ANON" "64 MiB" "" "$(calc "$REVB_ANON / 65536")" "<= 1" "$(ge 1 "$(calc "$REVB_ANON / 65536")")"
fi
row "inclusion proof at $PR_SMALL_N (us)" "$PR_SMALL_I" "1 ms" "" "$(calc "$PR_SMALL_I / 1000")" "<= 1" "$(ge 1 "$(calc "$PR_SMALL_I / 1000")")"
row "inclusion proof at $PR_N (us)" "$PR_I" "1 ms" "" "$(calc "$PR_I / 1000")" "<= 1" "$(ge 1 "$(calc "$PR_I / 1000")")"
row "consistency proof at $PR_N (us)" "$PR_C" "1 ms" "" "$(calc "$PR_C / 1000")" "<= 1" "$(ge 1 "$(calc "$PR_C / 1000")")"
if [ -n "$PR_BIG" ]; then
    r=$(median3 "$FLAT_W")
    row "batch append at ~1M (rec/s) [13]" "$(calc "int($BIGAPP_RATE)")" "first batch, paired" "" "$r" ">= 0.8" "$(ge "$r" 0.8)"
    r=$(median3 "$FLAT_C")
    row "  the same, by CPU time [13]" "$(calc "int($BIGAPP_RATE)")" "first batch, paired" "" "$r" "-" -
    r=$(calc "$BIGAPP_RATE / $SIGN_RATE")
    row "batch append at ~1M (rec/s)" "$(calc "int($BIGAPP_RATE)")" "sign/core $SIGN_RATE" "" "$r" ">= 0.9" "$(ge "$r" 0.9)"
    row "inclusion proof at $PR_BIG_N (us)" "$PR_BIG_I" "1 ms" "" "$(calc "$PR_BIG_I / 1000")" "<= 1" "$(ge 1 "$(calc "$PR_BIG_I / 1000")")"
    row "consistency proof at $PR_BIG_N (us)" "$PR_BIG_C" "1 ms" "" "$(calc "$PR_BIG_C / 1000")" "<= 1" "$(ge 1 "$(calc "$PR_BIG_C / 1000")")"
fi
# [9] the same proofs by Go's sumdb/tlog from an in-memory store, measured in this run
goproof() { # name ours go
    if [ "$3" = - ]; then row "$1" "$2" "Go tlog: not installed" "" 0 "<= 2" -; return 0; fi
    local r; r=$(calc "$2 / $3")
    row "$1" "$2" "Go tlog in memory $3 us" "" "$r" "<= 2" "$(ge 2 "$r")"
}
goproof "inclusion at $PR_SMALL_N, warm [9]" "$PR_SMALL_IW" "$GO_SMALL_I"
goproof "inclusion at $PR_N, warm [9]" "$PR_IW" "$GO_I"
goproof "consistency at $PR_N, warm [9]" "$PR_CW" "$GO_C"
goproof "inclusion at $PR_N, cold [9]" "$PR_I" "$GO_I"
if [ -n "$PR_BIG" ]; then
    goproof "inclusion at $PR_BIG_N, warm [9]" "$PR_BIG_IW" "$GO_BIG_I"
    goproof "consistency at $PR_BIG_N, warm [9]" "$PR_BIG_CW" "$GO_BIG_C"
    goproof "inclusion at $PR_BIG_N, cold [9]" "$PR_BIG_I" "$GO_BIG_I"
    goproof "consistency at $PR_BIG_N, cold [9]" "$PR_BIG_C" "$GO_BIG_C"
fi
# [10] log --study: its time over the full log's, against the study's share of the records
SHARE=$(calc "$LOGS_N / $LOG_N")
r=$(calc "$LOGS_S / $LOG_S")
row "log --study, 1 of 50 (s) [10]" "$LOGS_S" "full log $LOG_S s" "" "$r" "~ $(calc "int($SHARE * 1000) / 1000")" -
if [ -n "$PR_BIG" ]; then
    SHAREB=$(calc "$LOGSB_N / $LOGB_N")
    r=$(calc "$LOGSB_S / $LOGB_S")
    row "log --study at $LOGB_N (s) [10]" "$LOGSB_S" "full log $LOGB_S s" "" "$r" "<= 2 x $(calc "int($SHAREB * 1000) / 1000")" "$(ge "$(calc "2 * $SHAREB")" "$r")"
fi
# issue 14, point 6: CSV --verified >= 300,000 rec/s, JSONL >= 200,000 rec/s
r=$(calc "$EX_N / $EXJ_S / 200000")
row "export JSONL --verified (rec/s)" "$(calc "int($EX_N / $EXJ_S)")" "200,000 rec/s" "" "$r" ">= 1" "$(ge "$r" 1)"
r=$(calc "$EX_N / $EXC_S / 300000")
row "export CSV --verified (rec/s)" "$(calc "int($EX_N / $EXC_S)")" "300,000 rec/s" "" "$r" ">= 1" "$(ge "$r" 1)"
r=$(calc "$EX_N / $EXF_S / ($VERIFY_RATE * $CORES)")
row "export JSONL, every sig (rec/s)" "$(calc "int($EX_N / $EXF_S)")" "verify x $CORES $(calc "$VERIFY_RATE * $CORES")" "" "$r" "-" -
r=$(calc "$EXS_S / $EXJ_S")
row "export --study, 1 of 50 (s) [11]" "$EXS_S" "full export $EXJ_S s" "" "$r" "-" -
row "export peak RSS at $EX_N (KiB) [3]" "$EXJ_RSS" "64 MiB + 256 MiB mapped" "" "$(calc "$EXJ_RSS / 327680")" "<= 1" "$(ge 1 "$(calc "$EXJ_RSS / 327680")")"
row "export peak anon at $EX_N (KiB) [3]" "$EXJ_ANON" "64 MiB" "" "$(calc "$EXJ_ANON / 65536")" "<= 1" "$(ge 1 "$(calc "$EXJ_ANON / 65536")")"
if [ -n "$PR_BIG" ]; then
    r=$(calc "$EXB_N / $EXJB_S / 200000")
    row "export JSONL at $EXB_N (rec/s)" "$(calc "int($EXB_N / $EXJB_S)")" "200,000 rec/s" "" "$r" ">= 1" "$(ge "$r" 1)"
    row "  (disk: write+fsync $EXB_MB MiB, s)" "$DD_S" "of export ${EXJB_S} s" "" "$(calc "$DD_S / $EXJB_S")" "-" -
    r=$(calc "$EXB_N / $EXCB_S / 300000")
    row "export CSV at $EXB_N (rec/s)" "$(calc "int($EXB_N / $EXCB_S)")" "300,000 rec/s" "" "$r" ">= 1" "$(ge "$r" 1)"
    r=$(calc "$EXJB_ANON / $EXJ_ANON")
    row "export anon at $EXB_N (KiB) [6]" "$EXJB_ANON" "at $EX_N: $EXJ_ANON" "" "$r" "~ 1" "$(calc "($r < 1.25) ? 1 : 0")"
fi
REHASH_RATE=$(calc "$REHASH_N / $REHASH_S")
r=$(calc "$PUB1_N / $PUB1_S / $REHASH_RATE")
row "publish, first run (entries/s) [7]" "$(calc "int($PUB1_N / $PUB1_S)")" "re-hash/core $(calc "int($REHASH_RATE)")" "" "$r" "-> 1" -
r=$(calc "$PUB2_N / $PUB2_S / $REHASH_RATE")
row "publish, last 1 % (new entries/s)" "$(calc "int($PUB2_N / $PUB2_S)")" "re-hash/core $(calc "int($REHASH_RATE)")" "" "$r" "-" -
r=$(calc "$PUB2_S / $PUB1_S")
row "publish, last 1 % (s)" "$PUB2_S" "first run $PUB1_S s" "" "$r" "~ 0.01" -
# The floor of one add-checkpoint: an fsync'd commit and 3 Ed25519 verifies (the log's
# signature, the held note's log signature and cosignature) and 1 sign; one writer at a time.
W_FLOOR=$(calc "$COMMIT_MED_MS + 3000 / $VERIFY_RATE + 1000 / $SIGN_RATE")
r=$(calc "$W_MED / $W_FLOOR")
row "witness add-checkpoint, median (ms)" "$W_MED" "commit+3 verify+sign $(calc "int($W_FLOOR * 1000) / 1000")" "" "$r" "-" -
r=$(calc "$W_RATE / (1000 / $W_FLOOR)")
row "witness add-checkpoint, 8 at once (req/s)" "$(calc "int($W_RATE)")" "1 / floor $(calc "int(1000 / $W_FLOOR)")" "" "$r" "-" -
[ "$W_OK" = "$WN" ] || echo "  witness: only $W_OK of $WN serial requests answered 200" >&2
r=$(calc "($PUB1_N / $MIR1_S) / ($ENTRIES / $VER_S)")
row "mirror, first run (entries/s) [8]" "$(calc "int($PUB1_N / $MIR1_S)")" "verify $(calc "int($ENTRIES / $VER_S)")" "" "$r" "-> 1" -
r=$(calc "$MIR2_S / $MIR1_S")
row "mirror, last 1 % (s)" "$MIR2_S" "first run $MIR1_S s" "" "$r" "~ 0.01" -
row "mirror peak RSS (KiB) [3]" "$MIR1_RSS" "64 MiB + 256 MiB mapped" "" "$(calc "$MIR1_RSS / 327680")" "-" -
r=$(calc "$MIR1_ANON / 65536")
row "mirror 1st run peak anon (KiB) [12]" "$MIR1_ANON" "64 MiB" "" "$r" "< 1" "$(calc "($r < 1) ? 1 : 0")"
r=$(calc "$MIR2_ANON / 65536")
row "mirror last 1 % peak anon (KiB)" "$MIR2_ANON" "64 MiB" "" "$r" "< 1" "$(calc "($r < 1) ? 1 : 0")"
r=$(calc "$APP_RSS / 65536")
row "batch append peak RSS (KiB)" "$APP_RSS" "64 MiB" "" "$r" "-" -
r=$(calc "$APP_ANON / 65536")
row "batch append peak anon (KiB)" "$APP_ANON" "64 MiB" "" "$r" "-" -
r=$(calc "$VER_CPU / ($VER_S * $CORES)")
row "verify CPU busy (cpu s) [4]" "$VER_CPU" "wall x $CORES $(calc "$VER_S * $CORES")" "" "$r" "-" -
r=$(calc "$APP_CPU / ($APP_S * $CORES)")
row "batch append CPU busy (cpu s) [4]" "$APP_CPU" "wall x $CORES $(calc "$APP_S * $CORES")" "" "$r" "-" -
echo "  [3] RSS: getrusage(RUSAGE_CHILDREN).ru_maxrss (what /usr/bin/time -v reports), which counts"
echo "      the LMDB file pages mapped and touched (long reads keep at most 256 MiB of them mapped);"
echo "      anon: peak RssAnon sampled every 2 ms"
echo "  [4] user+sys CPU of the process over (wall x cores); below 1 = serial phases or waiting"
echo "  [5] floor: SHA-256 of every entry ($REHASH_N, $REHASH_BYTES bytes) on one core by a bare LMDB"
echo "      cursor (two entries at a time, as verify hashes them), $REHASH_S s, over $CORES cores;"
echo "      --since also checks the new 1 % in full"
echo "  [6] memory independent of the ledger's size: peak anonymous memory at ~1M records over that at ~100k"
echo "  [7] publish re-hashes each entry on one core, one at a time (floor: the bare-cursor re-hash [5],"
echo "      two at a time) and writes"
echo "      it twice (bundle) plus 32 B, fsync'd per file; $PUB1_N entries made ${PUB_KIB} KiB of tiles;"
echo "      the last 1 % ($PUB2_N) re-reads at most 255 entries and one tile per level, then fsyncs"
echo "  [8] mirror reads the published files, stores every entry in its own ledger and checks it"
echo "      with the verify engine (all cores); the last 1 % fetches only the tiles of the new"
echo "      entries, but re-hashes the entries it holds (as verify --since does)"
echo "  [9] median of 2000 proofs at the head from the LMDB tree (library calls) over Go's"
echo "      sumdb/tlog ProveRecord/ProveTree of the same indexes from a []Hash (bench/tlog_proofs.go);"
echo "      warm: the same 2000 again in the process, cold: the first 2000 after opening the ledger"
echo "  [10] $LOGS_N of $LOG_N records are in study HX-301; the study index is walked and only"
echo "      those entries read and decoded, each checked to carry the study (SECURITY.md); each"
echo "      costs random reads (entry, body) where the full log reads in order: target 2 x share"
echo "  [11] JSONL --verified of study HX-301 ($EXS_N records): export selects by decoding every"
echo "      entry, not by the index (nothing derived selects what an export contains)"
echo "  [12] the new entries are committed in steps of 2,048 [MIR-9]: LMDB's dirty pages, kept in"
echo "      memory until a commit, stay bounded whatever the log's size (1.1M entries: see the report)"
echo "  [13] the same 100k-line batch on a fresh copy of the seeded ledger and on the ledger at"
echo "      ~1M, in turn, three pairs: the median of the pairs' ratios (wall:${FLAT_W:- -}; CPU:${FLAT_C:- -})"
echo "  [14] issue 14's budget for one append: a bare start of the same binary (ldg --version, median"
echo "      ${BARE_MED} ms: exec, its libraries linked, exit), one fsync'd commit (bench_core), plus 1 ms"
echo
echo "  wall: batch ${APP_S}s, verify ${VER_S}s, verify --jobs 1 ${VER1_S}s;" \
    "single append min ${S_MIN} ms, max ${S_MAX} ms ($NS runs)"
echo "  limits: sign/verify/commit measured above by bench_core in this run; 'x $CORES' = nproc;"
# Other load: machine CPU (incl. steal) during the run minus the CPU of our own children.
times > "$W/times"            # in this shell: a subshell would not see our children
OURS=$(sed -n 2p "$W/times" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } print n }')
OTHER=$(calc "(($(cpu_busy) - $BUSY0) / $(getconf CLK_TCK) - $OURS) / (($(date +%s%N) - $T0) / 1e9 * $CORES)")
OTHER=$(calc "($OTHER < 0) ? 0 : $OTHER")
printf '  other load on the machine during the run: %.0f %% of its CPU (steal included)\n' \
    "$(calc "100 * $OTHER")"
if [ "$(calc "($OTHER > 0.10) ? 1 : 0")" = 1 ]; then
    echo "  WARNING: the machine was busy with other work: figures and limits are disturbed;"
    echo "  rerun on a quiet machine."
fi
if [ ${#ROWS[@]} -gt 0 ]; then
    printf '  MISS: %s\n' "$(printf '%s; ' "${ROWS[@]}" | sed 's/; $//')"
fi
# BENCH_HUGE=1: the same ledger grown for years, to 10M records (bench/huge.sh; README says how long)
if [ "${BENCH_HUGE:-0}" != 0 ]; then
    rm -rf "$W/pub" "$W/mirror"
    bash "$HERE/huge.sh" "$B"
fi
exit 0
