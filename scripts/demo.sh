#!/usr/bin/env bash
# The ldg demo: a sponsor and a CRO agree a communication plan (a signed
# record), then record a communication -> response -> decision -> approval
# thread; the sponsor's approver signs on "their own machine" (ldg sign) and
# the CRO host appends it; a data query goes unanswered and is escalated.
# QA verifies, runs `ldg review` (which catches the overdue query and the
# open escalation), and exports the trail and an evidence bundle.  Then
# sponsor oversight: the sponsor's witness cosigns the CRO's checkpoints, the
# CRO publishes tiles, the sponsor's mirror verifies them and refuses a rollback.
# The history is six weeks long: libfaketime (make deps installs it) gives
# each phase its host time.  Everything happens in a fresh temporary directory.
set -euo pipefail
LDG=${1:-build/ldg}
START=$PWD
W=$(mktemp -d "${TMPDIR:-/tmp}/ldg-demo.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
printf 'correct horse battery staple\n' > pass.txt
chmod 600 pass.txt # a passphrase file others may read is refused
export LDG_LEDGER="$W/ledger" LDG_PASSPHRASE_FILE="$W/pass.txt"

# The host clock of each phase, days before today (libfaketime, relative).
FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
days_ago() {
    if [ -r "$FT" ]; then
        export LD_PRELOAD=$FT FAKETIME="-${1}d"
        printf '(host clock: %s)\n' "$(date -u -d "-$1 days" +%Y-%m-%dT%H:%MZ)"
    else
        echo "(libfaketime is not installed: every record gets today's time; make demo installs it)"
    fi
}
today() { unset LD_PRELOAD FAKETIME; }

step "keys: log key, admin, CRO author and approver, sponsor decider, approver and QA (encrypted)"
"$LDG" keygen --name demo.example/ledger --out log >/dev/null
"$LDG" keygen --name admin --out admin >/dev/null
"$LDG" keygen --name cro-pm --out cro >/dev/null
"$LDG" keygen --name cro-lead --out crolead >/dev/null
"$LDG" keygen --name sponsor-med --out sponsor >/dev/null
"$LDG" keygen --name sponsor-qa --out approver >/dev/null
"$LDG" keygen --name qa-lead --out qa >/dev/null
ls -l ./*.key ./*.pub | awk '{print $1, $NF}'

step "six weeks ago: init the ledger and register the actors"
days_ago 45
"$LDG" init --origin demo.example/ledger --log-key log.key --admin admin.pub \
    --name "Ada Admin" --org "Acme CRO"
"$LDG" key add --as admin.key --pub cro.pub --name "Carla Rossi" --org "Acme CRO" --roles author
"$LDG" key add --as admin.key --pub crolead.pub --name "Marco Bianchi" --org "Acme CRO" \
    --roles approver
"$LDG" key add --as admin.key --pub sponsor.pub --name "Dr Sam Patel" --org "Helix Pharma" \
    --roles author,decider
QUINN=$("$LDG" key add --as admin.key --pub approver.pub --name "Quinn Avery" \
    --org "Helix Pharma" --roles approver | cut -d' ' -f1)
"$LDG" key add --as admin.key --pub qa.pub --name "Quentin QA" --org "Helix Pharma" --roles qa

step "the communication plan is a signed record: levels, turnaround, escalation, tolerance"
days_ago 44
cat > plan.json <<'PLAN'
{"subject": "Communication plan HX-301 v1", "version": "1",
 "parties": ["Acme CRO", "Helix Pharma"], "accept": ["Acme CRO", "Helix Pharma"],
 "levels": [
   {"id": "operational", "name": "Operational team",
    "members": [{"name": "Carla Rossi", "org": "Acme CRO"}, {"name": "Dr Sam Patel", "org": "Helix Pharma"}]},
   {"id": "jsc", "name": "Joint steering committee",
    "members": [{"name": "Marco Bianchi", "org": "Acme CRO"}, {"name": "Quinn Avery", "org": "Helix Pharma"}]}],
 "turnaround": [{"kind": "query", "hours": 48},
                {"kind": "query", "priority": "urgent", "hours": 24},
                {"kind": "escalation", "hours": 24, "respond": "Helix Pharma"}],
 "escalation": [{"from": "operational", "to": "jsc", "after_hours": 72}],
 "approvals": [{"kind": "decision", "orgs": ["Helix Pharma"]}],
 "tolerance_hours": 24, "gap_days": 30}
PLAN
P=$("$LDG" append --as sponsor.key --kind plan --study HX-301 --body plan.json | cut -d' ' -f1)
echo '{"subject":"Plan v1 accepted for Helix Pharma"}' |
    "$LDG" append --as approver.key --kind approval --meaning approval --study HX-301 \
        --ref "$P" --body - >/dev/null
echo '{"subject":"Plan v1 accepted for Acme CRO"}' |
    "$LDG" append --as crolead.key --kind approval --meaning approval --study HX-301 \
        --ref "$P" --body - >/dev/null
"$LDG" log --study HX-301

step "a thread: communication -> response -> decision"
days_ago 40
echo '{"subject":"Protocol amendment 3: visit window","text":"Site 12 asks to widen visit 4 to +/- 5 days.","level":"operational"}' > c.json
C=$("$LDG" append --as cro.key --kind communication --study HX-301 --body c.json | cut -d' ' -f1)
echo '{"subject":"Re: visit window","text":"Agreed in principle; decision to follow."}' |
    "$LDG" append --as sponsor.key --kind response --study HX-301 --ref "$C" --body - >/dev/null
D=$(echo '{"subject":"Decision: widen visit 4 window to +/- 5 days","rationale":"No safety impact."}' |
    "$LDG" append --as sponsor.key --kind decision --study HX-301 --ref "$C" --body - | cut -d' ' -f1)

step "the sponsor's approver signs on their own machine; the CRO host appends it"
echo '{"subject":"Approved: amendment 3 visit window"}' |
    "$LDG" sign --as approver.key --kind approval --meaning approval --study HX-301 \
        --ref "$D" --observed-from "$LDG_LEDGER" --body - > approval.stmt
"$LDG" append --signed approval.stmt

step "policy at work: the CRO author may not approve (exit 3), nothing is written"
echo '{"subject":"approval by the author"}' > bad.json
set +e
"$LDG" append --as cro.key --kind approval --meaning approval --study HX-301 --ref "$D" \
    --body bad.json
echo "exit status: $?"
set -e

step "a body field ldg understands must have its form: a priority of 5 is refused (exit 2)"
set +e
echo '{"subject":"Lab normal ranges","priority":5}' |
    "$LDG" append --as cro.key --kind query --study HX-301 --body -
echo "exit status: $?"
set -e

step "segregation of duties: no one approves their own record (exit 3)"
echo '{"subject":"approving my own approval"}' > self.json
set +e
"$LDG" append --as approver.key --kind approval --meaning approval --study HX-301 \
    --ref "$("$LDG" log --kind approval --json | tail -n 1 | sed 's/^{"seq":\([0-9]*\).*/\1/')" \
    --body self.json
echo "exit status: $?"
step "...and a second key for Quinn Avery must say which key it supersedes, and why"
"$LDG" keygen --name sponsor-qa2 --out approver2 >/dev/null
"$LDG" key add --as admin.key --pub approver2.pub --name "Quinn Avery" --org "Helix Pharma" \
    --roles approver
echo "exit status: $?"
set -e
"$LDG" key add --as admin.key --pub approver2.pub --name "Quinn Avery" --org "Helix Pharma" \
    --roles approver --supersedes "$QUINN" --reason "new laptop; the old key is revoked next"
"$LDG" key revoke --as admin.key --pub approver.pub --reason "superseded by sponsor-qa2"

step "a month ago: a data query the plan says Helix answers within 48 hours"
days_ago 30
Q=$(echo '{"subject":"Lab normal ranges for site 7","text":"Which ranges apply to the central lab change of 3 March?","level":"operational","priority":"normal","to":"Helix Pharma"}' |
    "$LDG" append --as cro.key --kind query --study HX-301 --body - | cut -d' ' -f1)
echo "query #$Q: no answer comes"
step "four days later, still unanswered: the CRO escalates it to the steering committee"
days_ago 26
echo '{"subject":"Escalated: lab normal ranges for site 7","from_level":"operational","to_level":"jsc","priority":"high"}' |
    "$LDG" append --as cro.key --kind escalation --study HX-301 --ref "$Q" --body -
today

step "QA verifies the whole ledger, and keeps a signed checkpoint outside the host"
"$LDG" checkpoint --as log.key > held-checkpoint.txt   # signed only after the log key's own check
cat held-checkpoint.txt
"$LDG" verify --save-checkpoint qa-checkpoint.txt --as qa.key   # QA cosigns what it verified

step "later: the ledger grew; the held checkpoint proves nothing was rolled back or rewritten"
echo '{"subject":"Site 12 informed"}' |
    "$LDG" append --as cro.key --kind action --study HX-301 --ref "$D" --body - >/dev/null
"$LDG" verify --checkpoint held-checkpoint.txt
"$LDG" verify --since qa-checkpoint.txt   # only what is new is checked in full: QA cosigned the rest

step "QA before the inspection: ldg review reads the verified ledger against the plan (exit 1: findings)"
set +e
"$LDG" review --study HX-301 --since qa-checkpoint.txt --qa qa.pub
echo "exit status: $?"
set -e

step "the trail"
"$LDG" log --study HX-301
"$LDG" show "$D"
step "machine-readable (first record of the study)"
"$LDG" log --study HX-301 --json | sed -n 1p   # sed reads it all: no SIGPIPE

step "exports for the inspection, tied to a fresh checkpoint (kept in ${DEMO_OUT:-./demo-out})"
OUT=${DEMO_OUT:-$START/demo-out}
mkdir -p "$OUT"
rm -f "$OUT"/trail.html "$OUT"/trail.csv "$OUT"/trail.jsonl "$OUT"/evidence.tar "$OUT"/review.html
"$LDG" review --study HX-301 -o "$OUT/review.html" --json >/dev/null || true
"$LDG" export --format html -o "$OUT/trail.html" --study HX-301 --as log.key --exporter "QA demo"
"$LDG" export --format csv -o "$OUT/trail.csv" --study HX-301
"$LDG" export --format jsonl -o "$OUT/trail.jsonl" --study HX-301
ls -l "$OUT"
"$LDG" export --format bundle -o "$OUT/evidence.tar" --study HX-301 --as log.key
echo "open $OUT/trail.html and $OUT/review.html in a browser; trail.csv opens in any spreadsheet"
head -n 3 "$OUT/trail.csv"

step "the auditor, offline, with the log key the sponsor gave them: the bundle checks"
tar tf "$OUT/evidence.tar"
"$LDG" verify-bundle "$OUT/evidence.tar" --trust log.pub

step "sponsor oversight: the sponsor runs a witness (C2SP tlog-witness) that trusts the CRO's log key"
# An air-gapped witness answers on stdin/stdout; `ldg witness serve` is the same over HTTP.
"$LDG" keygen --name helix.example/witness --out witness --unencrypted >/dev/null
"$LDG" witness init --state sponsor-witness --key witness.key
"$LDG" witness add-log --state sponsor-witness --key log.pub --origin demo.example/ledger
WITNESS="witness.pub=exec:$LDG witness add-checkpoint --state $W/sponsor-witness"

step "the CRO's checkpoint is cosigned by the sponsor's witness, then published as C2SP tlog-tiles"
"$LDG" checkpoint --as log.key --witness "$WITNESS"
"$LDG" publish pub          # the newest stored checkpoint, with its cosignature
cp -a pub pub-yesterday     # what the CRO's server held before the next records
ls pub pub/tile

step "the sponsor's mirror checks the log key, the witness's cosignature and every new entry"
"$LDG" mirror --from pub --trust log.pub --witness witness.pub --state sponsor-mirror
echo '{"subject":"Site 7 lab ranges: answer at last","closes":true}' |
    "$LDG" append --as sponsor.key --kind response --study HX-301 --ref "$Q" --body - >/dev/null
"$LDG" checkpoint --as log.key --witness "$WITNESS" >/dev/null
"$LDG" publish pub
"$LDG" mirror --from pub --trust log.pub --witness witness.pub --state sponsor-mirror # what is new

step "the CRO's server is rolled back to yesterday's copy: the sponsor's mirror refuses it (exit 1)"
rm -rf pub && mv pub-yesterday pub
set +e
"$LDG" mirror --from pub --trust log.pub --witness witness.pub --state sponsor-mirror
echo "exit status: $?"
set -e
ls sponsor-mirror/evidence/*
