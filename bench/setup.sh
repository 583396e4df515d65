# bench/setup.sh - sourced by bench/run.sh and bench/huge.sh: the ledger both start from,
# made in the current directory.  Needs LDG (the ldg binary), BC (bench_core), LDG_LEDGER
# and note(); sets SEED and FIRST and defines journal_export.
#   - unencrypted keys log, admin, author and qa (dir/NAME.key, dir/NAME.pub);
#   - a ledger of origin bench.example/ledger under the log key, admin registered by init,
#     author registered with roles author,decider (qa is not registered: it cosigns);
#   - SEED communications by the author, seq FIRST .. FIRST+SEED-1, for the refs of the
#     benches' batches (bench_core gen) to point at.
# journal_export N: N journal entries in journald's export format on stdout, one message of a
# bench-like length each, for systemd-journal-remote to seal (the journalctl --verify
# baselines of run.sh and huge.sh).
journal_export() {
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "__CURSOR=s=0;i=%d\n__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n_MACHINE_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=bench\nMESSAGE=communication %d: site 12 confirms 12 open items for visit 31; the CRA will follow up.\nPRIORITY=6\n\n", i, 1700000000000000 + i, i + 1, i }'
}
SEED=1000
note "setup: unencrypted keys, a fresh ledger, $SEED seed records"
for k in log admin author qa; do "$LDG" keygen --name "$k" --out "$k" --unencrypted >/dev/null; done
# quiet unless it fails: init warns that the log key is not named after the origin
"$LDG" init --origin bench.example/ledger --log-key log.key --admin admin.pub \
    --name "Bench Admin" --org "Bench CRO" >/dev/null 2>init.err || { s=$?; cat init.err >&2; exit $s; }
rm -f init.err
"$LDG" key add --as admin.key --pub author.pub --name "Bench Author" --org "Bench CRO" \
    --roles author,decider >/dev/null
FIRST=$("$LDG" log --json | wc -l)           # seq of the first seed record
"$BC" gen "$SEED" 0 0 | sed 's/"kind":"[a-z]*"/"kind":"communication"/; s/"refs":\[[0-9]*\],//; s/"meaning":"[a-z]*",//' \
    > seed.jsonl
"$LDG" append --as author.key --batch seed.jsonl >/dev/null
