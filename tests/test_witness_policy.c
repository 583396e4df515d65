/*
 * test_witness_policy.c - verifiers enforce a witness policy (spec/format.md
 * [CKP-7][CKP-8], spec/export.md [EXP-1][EXP-9]): `ldg verify --checkpoint`,
 * `ldg verify-proof` and `ldg verify-bundle` with `--witness W.pub ...
 * [--quorum N]`, run as the real binary.  Cosignatures are made here with the
 * library (ldg_checkpoint_cosign), as a witness would make them.
 */
#include "helpers.h"

#include "ldg.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
lib_init(void)
{
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
}

TestSuite(witness_policy, .init = lib_init);

/* make_trail, three witness keys w1..w3, and the stored checkpoint's note (malloc'd). */
static char *
setup(const char *d)
{
    make_trail(d);
    fixture_begin();
    for (int i = 1; i <= 3; i++) {
        char n[16];
        snprintf(n, sizeof n, "w%d", i);
        must(LDG(d, NULL, "keygen", "--name", n, "--out", n, "--unencrypted"), "keygen");
    }
    fixture_end();
    /* the same head signed again: the stored note, byte for byte (Ed25519 is deterministic) */
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "checkpoint: %s", r.err);
    char *note = strdup(r.out);
    run_free(&r);
    return note;
}

/* note with one more cosignature line by key file KEY, dated ts; malloc'd. */
static char *
cosign(const char *d, const char *note, const char *key, uint64_t ts)
{
    ldg_key *k;
    ldg_err err;
    char *out;
    size_t len;
    cr_assert_eq(ldg_key_load(path_in(d, key), NULL, 0, &k, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldg_checkpoint_cosign(note, strlen(note), k, ts, &out, &len, &err), LDG_OK, "%s",
                 err.msg);
    ldg_key_free(k);
    out[len] = '\0';
    return out;
}

static uint64_t
now(void)
{
    return (uint64_t)time(NULL);
}

/* The last signature line of note (a view; its length in *n, with the LF). */
static const char *
last_line(const char *note, size_t *n)
{
    size_t len = strlen(note);
    const char *p = note + len - 1;
    while (p > note && p[-1] != '\n')
        p--;
    *n = (size_t)(note + len - p);
    return p;
}

static void
assert_has(const char *s, const char *want, const char *what)
{
    cr_assert(strstr(s, want) != NULL, "%s: expected \"%s\" in:\n%s", what, want, s);
}

Test(witness_policy, verify_checkpoint_quorum_met_exit_0, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    char *c2 = cosign(d, c1, "w2.key", now());
    write_file(d, "c.txt", c2);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w1.pub",
                       "--witness", "w2.pub");
    cr_assert_eq(r.status, 0, "both witnesses cosigned: %s%s", r.out, r.err);
    run_free(&r);
    /* any one of two, asked for as a quorum of 1, with w3 silent */
    write_file(d, "c1.txt", c1);
    r = LDG(d, NULL, "verify", "--checkpoint", "c1.txt", "--witness", "w3.pub", "--witness",
            "w1.pub", "--quorum", "1");
    cr_assert_eq(r.status, 0, "quorum 1 met by w1: %s%s", r.out, r.err);
    run_free(&r);
    free(note);
    free(c1);
    free(c2);
    tmp_cleanup();
}

Test(witness_policy, verify_checkpoint_quorum_unmet_names_the_missing_witness, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c.txt", c1);
    /* default quorum: every witness named */
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w1.pub",
                       "--witness", "w2.pub");
    cr_assert_eq(r.status, 1, "w2 did not cosign: %s%s", r.out, r.err);
    assert_has(r.out, "FAIL     ledger  witness: c.txt: witness policy not met: 1 of 2 required",
               "verify");
    assert_has(r.out, "w2: no cosignature", "verify");
    cr_assert(strstr(r.out, "w1:") == NULL, "w1 cosigned, it is not named: %s", r.out);
    run_free(&r);
    /* a checkpoint with no cosignature at all, and --quorum 1 */
    write_file(d, "bare.txt", note);
    r = LDG(d, NULL, "verify", "--checkpoint", "bare.txt", "--witness", "w1.pub", "--quorum", "1");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "0 of 1 required cosignature; w1: no cosignature", "verify");
    run_free(&r);
    free(note);
    free(c1);
    tmp_cleanup();
}

Test(witness_policy, cosignature_by_an_unlisted_key_is_not_counted, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    char *c3 = cosign(d, c1, "w3.key", now()); /* w3 cosigned, but nobody named it */
    write_file(d, "c.txt", c3);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w1.pub",
                       "--witness", "w2.pub", "--quorum", "2");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "1 of 2 required cosignatures; w2: no cosignature", "verify");
    run_free(&r);
    free(note);
    free(c1);
    free(c3);
    tmp_cleanup();
}

Test(witness_policy, forged_cosignature_is_not_counted, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c2 = cosign(d, note, "w2.key", now());
    /* flip one byte of the Ed25519 signature (after key ID and timestamp) */
    size_t n;
    char *line = (char *)last_line(c2, &n);
    char *b64 = strrchr(line, ' ') + 1;
    uint8_t raw[76];
    size_t got;
    cr_assert_eq(sodium_base642bin(raw, sizeof raw, b64, strlen(b64) - 1, NULL, &got, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(got, 76);
    raw[40] ^= 0x01;
    sodium_bin2base64(b64, 104 + 1, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    strcat(c2, "\n");
    write_file(d, "c.txt", c2);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w2.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w2: a cosignature that does not verify", "verify");
    run_free(&r);
    free(note);
    free(c2);
    tmp_cleanup();
}

Test(witness_policy, cosignature_of_another_checkpoint_is_not_counted, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    /* w2 cosigns the head of one more entry; its line is moved onto this checkpoint */
    cr_assert_geq(APPEND(d, "{\"subject\":\"later\"}", "--as", "decider.key", "--kind",
                         "communication", "--study", "HX-301"),
                  0);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *other = cosign(d, r.out, "w2.key", now());
    run_free(&r);
    size_t n;
    const char *line = last_line(other, &n);
    char *moved = malloc(strlen(note) + n + 1);
    sprintf(moved, "%s%.*s", note, (int)n, line);
    write_file(d, "c.txt", moved);
    r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w2.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w2: a cosignature that does not verify", "verify");
    run_free(&r);
    free(note);
    free(other);
    free(moved);
    tmp_cleanup();
}

Test(witness_policy, duplicate_witness_counts_once, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c.txt", c1);
    /* w1 twice and w2: a quorum of 2 is not met by w1 alone */
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w1.pub",
                       "--witness", "w1.pub", "--witness", "w2.pub", "--quorum", "2");
    cr_assert_eq(r.status, 1, "w1 given twice counts once: %s%s", r.out, r.err);
    assert_has(r.out, "1 of 2 required cosignatures; w2: no cosignature", "verify");
    run_free(&r);
    /* w1 twice alone: one distinct key, so a quorum of 2 can never be met: bad usage */
    r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w1.pub", "--witness",
            "w1.pub", "--quorum", "2");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    assert_has(r.err, "only 1 distinct witness key given", "verify");
    run_free(&r);
    /* and with the default quorum (all distinct keys), w1 twice is met by w1 */
    r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "w1.pub", "--witness",
            "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    free(note);
    free(c1);
    tmp_cleanup();
}

Test(witness_policy, log_key_is_never_a_witness, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    /* even a cosignature/v1 line by the log key itself does not make it a witness */
    char *cl = cosign(d, note, "log.key", now());
    write_file(d, "c.txt", cl);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c.txt", "--witness", "log.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "log: the log key itself, never a witness", "verify");
    run_free(&r);
    free(note);
    free(cl);
    tmp_cleanup();
}

Test(witness_policy, cosignature_dated_in_the_future_is_not_counted, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *late = cosign(d, note, "w1.key", now() + 3600);
    write_file(d, "late.txt", late);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "late.txt", "--witness", "w1.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w1: a cosignature dated in the future", "verify");
    run_free(&r);
    /* a minute ahead is clock skew, within LDG_COSIG_FUTURE_S; an old one is fine */
    char *skew = cosign(d, note, "w1.key", now() + 60);
    char *old = cosign(d, note, "w2.key", 1000000000);
    write_file(d, "skew.txt", skew);
    write_file(d, "old.txt", old);
    r = LDG(d, NULL, "verify", "--checkpoint", "skew.txt", "--witness", "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--checkpoint", "old.txt", "--witness", "w2.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    free(note);
    free(late);
    free(skew);
    free(old);
    tmp_cleanup();
}

Test(witness_policy, bad_usage_exits_2, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    write_file(d, "c.txt", note);
    write_file(d, "bad.pub", "not a key\n");
    struct {
        const char *const *argv;
        const char *want;
    } cases[] = {
        {(const char *const[]){"verify", "--checkpoint", "c.txt", "--quorum", "1", NULL},
         "--quorum counts the cosignatures of the --witness keys"},
        {(const char *const[]){"verify", "--checkpoint", "c.txt", "--witness", "w1.pub",
                               "--witness", "w2.pub", "--quorum", "3", NULL},
         "--quorum 3: only 2 distinct witness keys given"},
        {(const char *const[]){"verify", "--checkpoint", "c.txt", "--witness", "w1.pub",
                               "--quorum", "0", NULL},
         "--quorum 0: expected a number from 1"},
        {(const char *const[]){"verify", "--witness", "w1.pub", NULL},
         "--witness names keys whose cosignatures each --checkpoint FILE needs"},
        {(const char *const[]){"verify", "--checkpoint", "c.txt", "--witness", "bad.pub", NULL},
         "--witness bad.pub: verifier key"},
        {(const char *const[]){"verify-proof", "p.json", "--trust", "log.pub", "--quorum", "1",
                               NULL},
         "--quorum counts the cosignatures of the --witness keys"},
        {(const char *const[]){"verify-bundle", "b.tar", "--trust", "log.pub", "--witness",
                               "w1.pub", "--quorum", "2", NULL},
         "--quorum 2: only 1 distinct witness key given"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = ldg_run(d, NULL, cases[i].argv);
        cr_assert_eq(r.status, 2, "case %zu: %s%s", i, r.out, r.err);
        assert_has(r.err, cases[i].want, cases[i].argv[0]);
        run_free(&r);
    }
    /* a consistency proof carries no checkpoint to check */
    run_result r = LDG(d, NULL, "proof", "consistency", "4");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "cons.json", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify-proof", "cons.json", "--trust", "log.pub", "--witness", "w1.pub");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    assert_has(r.err, "carries no checkpoint for --witness", "verify-proof");
    run_free(&r);
    free(note);
    tmp_cleanup();
}

Test(witness_policy, verify_proof_enforces_the_policy, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c1.txt", c1);
    write_file(d, "bare.txt", note);
    run_result r = LDG(d, NULL, "proof", "inclusion", "5");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "p.json", r.out);
    run_free(&r);
    /* JSON inclusion proof, its root from --checkpoint */
    r = LDG(d, NULL, "verify-proof", "p.json", "--trust", "log.pub", "--checkpoint", "c1.txt",
            "--witness", "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify-proof", "p.json", "--trust", "log.pub", "--checkpoint", "bare.txt",
            "--witness", "w1.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "FAILED: bare.txt: witness policy not met: 0 of 1 required cosignature; "
                      "w1: no cosignature",
               "verify-proof");
    run_free(&r);
    /* a tlog-proof carries the stored checkpoint: bare, then with w1's cosignature stored */
    r = LDG(d, NULL, "proof", "inclusion", "5", "--format", "tlog-proof");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "p1.txt", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify-proof", "p1.txt", "--trust", "log.pub", "--witness", "w1.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w1: no cosignature", "verify-proof");
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--add", "c1.txt");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.out, "1 signature line added", "checkpoint --add");
    run_free(&r);
    r = LDG(d, NULL, "proof", "inclusion", "5", "--format", "tlog-proof");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "p2.txt", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify-proof", "p2.txt", "--trust", "log.pub", "--witness", "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify-proof", "p2.txt", "--trust", "log.pub", "--witness", "w1.pub",
            "--witness", "w2.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "1 of 2 required cosignatures; w2: no cosignature", "verify-proof");
    run_free(&r);
    free(note);
    free(c1);
    tmp_cleanup();
}

Test(witness_policy, checkpoint_add_stores_cosignatures_and_signing_again_keeps_them,
     .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c1.txt", c1);
    must(LDG(d, NULL, "checkpoint", "--add", "c1.txt"), "checkpoint --add");
    /* nothing new the second time */
    run_result r = LDG(d, NULL, "checkpoint", "--add", "c1.txt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    assert_has(r.out, "0 signature lines added", "checkpoint --add");
    run_free(&r);
    /* the unchanged head signed again keeps w1's cosignature */
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, c1, "the stored note keeps its cosignature");
    run_free(&r);
    must(LDG(d, NULL, "verify"), "verify after --add");
    /* a note the log key signed for another head of that size: a fork, exit 1, nothing stored */
    char *fork = log_note_by_hand(d, 12, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    write_file(d, "fork.txt", fork);
    r = LDG(d, NULL, "checkpoint", "--add", "fork.txt");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.err, "a fork", "checkpoint --add");
    run_free(&r);
    /* a size the ledger stored no checkpoint for */
    char *other = log_note_by_hand(d, 5, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    write_file(d, "other.txt", other);
    r = LDG(d, NULL, "checkpoint", "--add", "other.txt");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    assert_has(r.err, "no checkpoint of size 5 is stored", "checkpoint --add");
    run_free(&r);
    /* not signed by the log key: a witness's cosigned copy of another log */
    write_file(d, "unsigned.txt", "test.example/ledger\n12\n"
                                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n");
    r = LDG(d, NULL, "checkpoint", "--add", "unsigned.txt");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_str_eq(r.out, c1, "nothing refused was stored");
    run_free(&r);
    free(note);
    free(c1);
    free(fork);
    free(other);
    tmp_cleanup();
}

Test(witness_policy, bundle_tied_to_a_cosigned_checkpoint_passes_verify_bundle_witness,
     .timeout = 90)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    /* without the cosignature stored: the bundle's checkpoint has none */
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "bare.tar", "--as", "log.key"),
         "export");
    run_result r = LDG(d, NULL, "verify-bundle", "bare.tar", "--trust", "log.pub", "--witness",
                       "w1.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "FAIL     bundle  witness: checkpoint.txt: witness policy not met: 0 of 1 "
                      "required cosignature; w1: no cosignature",
               "verify-bundle");
    run_free(&r);
    /* the sponsor's witness w1 cosigned the stored checkpoint; the export keeps it */
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c1.txt", c1);
    must(LDG(d, NULL, "checkpoint", "--add", "c1.txt"), "checkpoint --add");
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key"), "export");
    r = LDG(d, NULL, "verify-bundle", "b.tar", "--trust", "log.pub", "--witness", "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify-bundle", "b.tar", "--trust", "log.pub", "--witness", "w1.pub",
            "--witness", "w2.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "1 of 2 required cosignatures; w2: no cosignature", "verify-bundle");
    run_free(&r);
    /* and still a plain verify-bundle passes: cosignature lines are others' to check */
    must(LDG(d, NULL, "verify-bundle", "b.tar", "--trust", "log.pub"), "verify-bundle");
    free(note);
    free(c1);
    tmp_cleanup();
}

/*
 * [CKP-2][EXP-1] A stored note that carries cosignatures (here put there
 * directly, as a cosigning step would) is kept when the unchanged head is
 * signed again, by `checkpoint --as` or `export --as`: the bundle's
 * checkpoint.txt keeps them.
 */
Test(witness_policy, signing_an_unchanged_head_again_keeps_stored_cosignatures, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    uint8_t k[8];
    seq_key(12, k);
    cr_assert_eq(lmdb_put_value(d, "checkpoints", k, 8, c1, strlen(c1)), 0);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, c1, "checkpoint --as stripped the stored cosignature");
    run_free(&r);
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key"), "export");
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "checkpoints", k, 8, &v, &vl), 0);
    cr_assert(vl == strlen(c1) && memcmp(v, c1, vl) == 0, "export --as stripped it");
    free(v);
    r = LDG(d, NULL, "verify-bundle", "b.tar", "--trust", "log.pub", "--witness", "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    free(note);
    free(c1);
    tmp_cleanup();
}

/* [CKP-7] A witness key may also be given as a C2SP cosigner vkey (type 0x04). */
Test(witness_policy, witness_key_as_a_c2sp_cosigner_vkey, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char name[LDG_NAME_MAX + 1], b64[64], line[256];
    uint8_t pub[LDG_PUB_BYTES], raw[33], h[32];
    ldg_err err;
    cr_assert_eq(ldg_vkey_read(path_in(d, "w1.pub"), name, pub, &err), LDG_OK, "%s", err.msg);
    raw[0] = 0x04;
    memcpy(raw + 1, pub, 32);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, raw, sizeof raw);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    snprintf(line, sizeof line, "%s+%02x%02x%02x%02x+%s\n", name, h[0], h[1], h[2], h[3], b64);
    write_file(d, "w1.vkey", line);
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c1.txt", c1);
    write_file(d, "bare.txt", note);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "c1.txt", "--witness", "w1.vkey");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--checkpoint", "bare.txt", "--witness", "w1.vkey");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w1: no cosignature", "verify");
    run_free(&r);
    /* the same key as an ldg line and as a cosigner vkey: one witness */
    r = LDG(d, NULL, "verify", "--checkpoint", "c1.txt", "--witness", "w1.vkey", "--witness",
            "w1.pub", "--quorum", "2");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    assert_has(r.err, "only 1 distinct witness key", "verify");
    run_free(&r);
    /* a cosigner vkey whose hash is not its name's and key's */
    line[strlen(name) + 1] = line[strlen(name) + 1] == '0' ? '1' : '0';
    write_file(d, "bad.vkey", line);
    r = LDG(d, NULL, "verify", "--checkpoint", "c1.txt", "--witness", "bad.vkey");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    assert_has(r.err, "key hash does not match", "verify");
    run_free(&r);
    free(note);
    free(c1);
    tmp_cleanup();
}

/*
 * [EXP-1] export --checkpoint FILE ties a bundle to a cosigned checkpoint the
 * caller holds, after the ledger grew past it: records past it are left out.
 */
Test(witness_policy, export_checkpoint_ties_a_bundle_to_a_cosigned_checkpoint, .timeout = 90)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *c1 = cosign(d, note, "w1.key", now());
    write_file(d, "c1.txt", c1);
    cr_assert_geq(APPEND(d, "{\"subject\":\"later\"}", "--as", "decider.key", "--kind",
                         "communication", "--study", "HX-301"),
                  0);
    /* --as alone: a fresh checkpoint of 13 entries, which no witness saw */
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "fresh.tar", "--as", "log.key"),
         "export");
    run_result r = LDG(d, NULL, "verify-bundle", "fresh.tar", "--trust", "log.pub", "--witness",
                       "w1.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w1: no cosignature", "verify-bundle");
    run_free(&r);
    /* tied to the cosigned checkpoint of 12 */
    r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key",
            "--checkpoint", "c1.txt");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify-bundle", "b.tar", "--trust", "log.pub", "--witness", "w1.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.out, "checkpoint of 12 entries", "verify-bundle");
    run_free(&r);
    /* a checkpoint the log key signed for another head: nothing exported, exit 1 */
    char *fork = log_note_by_hand(d, 12, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    write_file(d, "fork.txt", fork);
    r = LDG(d, NULL, "export", "--format", "bundle", "-o", "f.tar", "--as", "log.key",
            "--checkpoint", "fork.txt");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.err, "--checkpoint fork.txt does not check", "export");
    run_free(&r);
    cr_assert(access(path_in(d, "f.tar"), F_OK) != 0, "nothing written");
    write_file(d, "junk.txt", "not a checkpoint\n");
    r = LDG(d, NULL, "export", "--format", "jsonl", "--checkpoint", "junk.txt");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    run_free(&r);
    free(note);
    free(c1);
    free(fork);
    tmp_cleanup();
}

/*
 * [CKP-5] Every line of a cosigner must verify: a forged line beside a valid
 * one makes the cosignature not count, for a witness [CKP-7] as for QA
 * (verify --since --qa), instead of the first line deciding.
 */
Test(witness_policy, a_forged_line_beside_a_valid_one_is_not_hidden, .timeout = 60)
{
    const char *d = tmp_dir();
    char *note = setup(d);
    char *good = cosign(d, note, "w3.key", now());
    size_t n;
    const char *line = last_line(good, &n);
    /* the same line with one signature byte flipped, after the valid one */
    char *forged = malloc(strlen(good) + n + 1);
    sprintf(forged, "%s%.*s", good, (int)n, line);
    char *b64 = strrchr(forged, ' ') + 1;
    uint8_t raw[76];
    size_t got;
    cr_assert_eq(sodium_base642bin(raw, sizeof raw, b64, strlen(b64) - 1, NULL, &got, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    raw[50] ^= 0x80;
    sodium_bin2base64(b64, 104 + 1, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    strcat(forged, "\n");
    write_file(d, "good.txt", good);
    write_file(d, "forged.txt", forged);
    /* QA: the valid cosignature alone counts; beside a forged line it does not */
    run_result r = LDG(d, NULL, "verify", "--since", "good.txt", "--qa", "w3.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.out, "re-hashed", "verify --since");
    run_free(&r);
    r = LDG(d, NULL, "verify", "--since", "forged.txt", "--qa", "w3.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.err, "does not count as verified", "verify --since");
    cr_assert(strstr(r.out, "re-hashed") == NULL, "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--checkpoint", "forged.txt", "--witness", "w3.pub");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    assert_has(r.out, "w3: a cosignature that does not verify", "verify");
    run_free(&r);
    free(note);
    free(good);
    free(forged);
    tmp_cleanup();
}

/* [CKP-7] The library function itself: what became of each key, and its refusals. */
Test(witness_policy, library_reports_each_key)
{
    ldg_err err;
    ldg_key *log, *w1, *w2;
    uint8_t lp[LDG_PUB_BYTES];
    cr_assert_eq(ldg_key_generate("log", &log, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldg_key_generate("w1", &w1, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldg_key_generate("w2", &w2, &err), LDG_OK, "%s", err.msg);
    ldg_key_public(log, lp);
    char l_line[LDG_VKEY_MAX], w1_line[LDG_VKEY_MAX], w1b_line[LDG_VKEY_MAX], w2_line[LDG_VKEY_MAX];
    uint8_t p1[LDG_PUB_BYTES], p2[LDG_PUB_BYTES];
    ldg_key_public(w1, p1);
    ldg_key_public(w2, p2);
    cr_assert_eq(ldg_vkey_format("log", lp, l_line, &err), LDG_OK);
    cr_assert_eq(ldg_vkey_format("w1", p1, w1_line, &err), LDG_OK);
    cr_assert_eq(ldg_vkey_format("w1-again", p1, w1b_line, &err), LDG_OK); /* same key */
    cr_assert_eq(ldg_vkey_format("w2", p2, w2_line, &err), LDG_OK);
    const char *text = "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n";
    char *a, *b;
    size_t al, bl;
    /* an unsigned note is enough here: the log's own signature is ldg_checkpoint_parse's */
    cr_assert_eq(ldg_checkpoint_cosign(text, strlen(text), w1, 1700000000, &a, &al, &err), LDG_OK);
    cr_assert_eq(ldg_checkpoint_cosign(a, al, log, 1700000000, &b, &bl, &err), LDG_OK);
    const char *keys[] = {w1_line, w1b_line, w2_line, l_line};
    ldg_witness_check out[4];
    size_t valid;
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, keys, 4, 1, 1700000000, out, &valid, &err),
                 LDG_OK, "%s", err.msg);
    cr_assert_eq(valid, 1);
    cr_assert_eq(out[0].state, LDG_COSIG_VALID);
    cr_assert_eq(out[0].timestamp, 1700000000);
    cr_assert_eq(out[1].state, LDG_COSIG_DUPLICATE);
    cr_assert_eq(out[2].state, LDG_COSIG_NONE);
    cr_assert_eq(out[3].state, LDG_COSIG_LOGKEY);
    /* default quorum: the three distinct keys */
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, keys, 4, 0, 1700000000, out, &valid, &err),
                 LDG_E_BADSIG);
    cr_assert_str_eq(err.msg, "witness policy not met: 1 of 3 required cosignatures; w2: no "
                              "cosignature, log: the log key itself, never a witness");
    /* dated more than LDG_COSIG_FUTURE_S ahead of now */
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, keys, 1, 0,
                                          1700000000 - LDG_COSIG_FUTURE_S - 1, out, &valid, &err),
                 LDG_E_BADSIG);
    cr_assert_eq(out[0].state, LDG_COSIG_FUTURE);
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, keys, 1, 0, 1700000000 - LDG_COSIG_FUTURE_S,
                                          out, &valid, &err),
                 LDG_OK);
    /* refusals */
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, keys, 2, 2, 0, out, &valid, &err),
                 LDG_E_USAGE);
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, keys, 0, 0, 0, out, &valid, &err),
                 LDG_E_USAGE);
    const char *bad[] = {"w1+00000000+AAAA"};
    cr_assert_eq(ldg_checkpoint_witnessed(b, bl, lp, bad, 1, 0, 0, out, &valid, &err),
                 LDG_E_INPUT);
    free(a);
    free(b);
    ldg_key_free(log);
    ldg_key_free(w1);
    ldg_key_free(w2);
}
