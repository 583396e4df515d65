#!/usr/bin/env bash
# Interop: ldg's checkpoint, verifier key and proofs checked by Go's
# golang.org/x/mod/sumdb/{note,tlog} (Debian golang-golang-x-mod-dev), built
# offline in GOPATH mode.  Usage: run.sh BUILD_DIR
set -euo pipefail
B=$(cd "$1" && pwd)
LDG=$B/ldg
HERE=$(cd "$(dirname "$0")" && pwd)
command -v go >/dev/null || { echo "interop: go is not installed (make deps installs it)" >&2; exit 1; }
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] ||
    { echo "interop: golang-golang-x-mod-dev is not installed (make deps installs it)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/ldg-interop.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
export LDG_LEDGER=$W/ledger
for k in log admin author; do "$LDG" keygen --name "interop.example/$k" --out "$k" --unencrypted >/dev/null; done
"$LDG" init --origin interop.example/ledger --log-key log.key --admin admin.pub >/dev/null
"$LDG" key add --as admin.key --pub author.pub --name "I. Author" --org Interop --roles author >/dev/null
for i in $(seq 1 21); do
    echo "{\"subject\":\"record $i\"}" | "$LDG" append --as author.key --kind communication --study S --body - >/dev/null
done
"$LDG" checkpoint --as log.key > cp.txt
SIZE=$(sed -n 2p cp.txt)
INCL=()
for idx in 0 1 5 7 8 13 $((SIZE - 1)); do
    "$LDG" proof inclusion "$idx" > "incl-$idx.json"; INCL+=("incl-$idx.json")
    "$LDG" proof inclusion "$idx" --size $((idx + 1)) > "inclsmall-$idx.json"; INCL+=("inclsmall-$idx.json")
done
CONS=()
for old in 1 2 3 7 8 9 16 $SIZE; do
    "$LDG" proof consistency "$old" > "cons-$old.json"; CONS+=("cons-$old.json")
done
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$B/gocache GOFLAGS=
go run "$HERE/interop.go" log.pub cp.txt "${INCL[@]}" -- "${CONS[@]}"
# and it must be able to fail: a checkpoint with a byte changed is refused
sed 's/^interop.example\/ledger$/interop.example\/ledgeR/' cp.txt > bad.txt
if go run "$HERE/interop.go" log.pub bad.txt 2>/dev/null; then
    echo "interop: an altered checkpoint passed Go's verifier" >&2; exit 1
fi
echo "interop: an altered checkpoint is refused by Go's verifier, as it must be"

# ldg publish: Go's sumdb/note opens the published checkpoint and sumdb/tlog
# reads the tiles (TileHashReader checks each against the signed tree hash)
# and proves entries taken from the entry bundles.  600 more entries make
# full tiles, a level-1 tile and partial ones.
for i in $(seq 1 600); do echo '{"kind":"communication","study":"S","body":{"subject":"bulk '$i'"}}'; done > bulk.jsonl
"$LDG" append --as author.key --batch bulk.jsonl >/dev/null
"$LDG" publish pub --as log.key >/dev/null
PSIZE=$(sed -n 2p pub/checkpoint)
go run "$HERE/tiles.go" log.pub pub 0 1 255 256 300 511 512 $((PSIZE - 1))
# and it must be able to fail: one byte of a full hash tile changed
cp -a pub bad-pub
# (the byte is flipped, not overwritten: a fixed value is already there one time in 256)
B=$(od -An -tu1 -j100 -N1 bad-pub/tile/0/001 | tr -d ' ')
printf "\\$(printf %03o $((B ^ 0xff)))" | dd of=bad-pub/tile/0/001 bs=1 seek=100 conv=notrunc 2>/dev/null
cmp -s pub/tile/0/001 bad-pub/tile/0/001 && { echo "interop: the tile byte did not change" >&2; exit 1; }
if go run "$HERE/tiles.go" log.pub bad-pub 300 2>/dev/null; then
    echo "interop: an altered hash tile passed Go's TileHashReader" >&2; exit 1
fi
echo "interop: an altered hash tile is refused by Go's TileHashReader, as it must be"

# A witness's cosignature (spec/witness.md), checked by a second implementation.
"$LDG" keygen --name interop.example/witness --out witness --unencrypted >/dev/null
"$LDG" witness init --state wstate --key witness.key >/dev/null
"$LDG" witness add-log --state wstate --key log.pub --origin interop.example/ledger
{ printf 'old 0\n\n'; cat cp.txt; } | "$LDG" witness add-checkpoint --state wstate > resp.txt
[ "$(head -n 1 resp.txt)" = "200 OK" ] || { echo "interop: the witness refused: $(cat resp.txt)" >&2; exit 1; }
{ cat cp.txt; sed '1,/^$/d' resp.txt; } > cosigned.txt
go run "$HERE/interop.go" cosignature log.pub witness.pub cosigned.txt
# and it must be able to fail: the cosignature's timestamp changed by one second
python3 - cosigned.txt > badcos.txt <<'PY'
import base64, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
name, b64 = lines[-2].rsplit(" ", 1)
raw = bytearray(base64.b64decode(b64)); raw[11] ^= 1
lines[-2] = name + " " + base64.b64encode(bytes(raw)).decode()
sys.stdout.write("\n".join(lines))
PY
if go run "$HERE/interop.go" cosignature log.pub witness.pub badcos.txt 2>/dev/null; then
    echo "interop: an altered cosignature passed Go's verifier" >&2; exit 1
fi
echo "interop: an altered cosignature is refused by Go's verifier, as it must be"
