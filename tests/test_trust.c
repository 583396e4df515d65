/*
 * test_trust.c - nothing derived is trusted (issue 11, parts 2 and 4).
 *
 * checkpoint: the log key signs only a head recomputed from the entries of
 * one snapshot, after every entry since the last log-signed checkpoint was
 * verified in full [CKP-2]; a tree database doctored to launder a forged
 * history gets nothing signed.  qa: `verify --since` and `export --verified`
 * count a checkpoint as verified only with the cosignature of a QA key
 * [CKP-5][VER-11][EXP-2].  Every case runs the real binary on real LMDB files.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <ldg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers -- */

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s failed (%d): %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

/* `ldg sign` a communication by the author into dir/name (a statement to append later). */
static void
sign_stmt(const char *d, const char *name, const char *subject)
{
    char body[128];
    snprintf(body, sizeof body, "{\"subject\":\"%s\"}", subject);
    run_result r = LDG(d, body, "sign", "--as", "author.key", "--kind", "communication", "--study",
                       "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "sign: %s", r.err);
    write_file(d, name, r.out);
    run_free(&r);
}

static void
append_signed(const char *d, const char *ledger, const char *stmt)
{
    ok(LDG(d, NULL, "append", "--signed", stmt, "--ledger", ledger), "append --signed");
}

/* The tree root `ldg verify --json` recomputes for the ledger at d/ledger_dir. */
static char *
verified_root(const char *d, const char *ledger)
{
    run_result r = LDG(d, NULL, "verify", "--json", "--ledger", ledger);
    cr_assert_eq(r.status, 0, "%s verifies: %s", ledger, r.out);
    const char *v = strstr(r.out, "{\"verdict\"");
    cr_assert_not_null(v, "%s", r.out);
    json_t *o = json_loads(v, 0, NULL);
    cr_assert_not_null(o);
    char *root = strdup(json_string_value(json_object_get(o, "root")));
    json_decref(o);
    run_free(&r);
    return root;
}

static void
copy_ledger(const char *d, const char *to)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s' && cp -r '%s/ledger' '%s/%s/ledger'", d, to, d, d,
             to);
    cr_assert_eq(system(cmd), 0);
}

/*
 * The genuine ledger at d/ledger and a forgery at d/twin/ledger of the same
 * size.  Both: genesis, three key.add, communications 4 and 5.  Genuine:
 * the approver's rejection at 6, then the statements s7 and s8 at 7 and 8.
 * Forgery: the rejection removed, s7 and s8 re-chained at 6 and 7, and s9
 * (the next statement handed to the host) at 8.  No actor key is needed:
 * every statement in the forgery was really signed.  With `checkpoint_at`,
 * a log checkpoint is made of the genuine ledger of that size.
 */
static void
genuine_and_forged(const char *d, long checkpoint_at)
{
    fixture_begin();
    make_ledger(d);
    APPEND(d, "{\"subject\":\"protocol v2 draft\"}", "--as", "author.key", "--kind",
           "communication", "--study", "S1");
    APPEND(d, "{\"subject\":\"protocol v2 for approval\"}", "--as", "author.key", "--kind",
           "communication", "--study", "S1");
    if (checkpoint_at == 6)
        ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    copy_ledger(d, "twin");
    cr_assert_eq(APPEND(d, "{\"subject\":\"protocol v2 rejected: dosing table wrong\"}", "--as",
                        "approver.key", "--kind", "rejection", "--meaning", "review", "--study",
                        "S1", "--ref", "5"),
                 6);
    sign_stmt(d, "s7.stmt", "protocol v2 sent to sites");
    sign_stmt(d, "s8.stmt", "sites acknowledged");
    sign_stmt(d, "s9.stmt", "first patient in");
    append_signed(d, "ledger", "s7.stmt");
    if (checkpoint_at == 8)
        ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    append_signed(d, "ledger", "s8.stmt");
    append_signed(d, "twin/ledger", "s7.stmt");
    append_signed(d, "twin/ledger", "s8.stmt");
    append_signed(d, "twin/ledger", "s9.stmt");
    cr_assert_eq(ledger_size(d), 9);
    fixture_end();
}

/* Copies every Merkle tree node of a 9-entry ledger from d/twin/ledger into d/ledger. */
static void
copy_tree_nodes(const char *d, const char *twin)
{
    static const unsigned count[] = {9, 4, 2, 1};
    for (unsigned level = 0; level < 4; level++)
        for (unsigned i = 0; i < count[level]; i++) {
            uint8_t h[32];
            cr_assert_eq(tree_node_get(twin, level, i, h), 0, "node %u/%u", level, i);
            cr_assert_eq(tree_node_put(d, level, i, h), 0);
        }
}

static bool
checkpoint_stored(const char *d, uint64_t size)
{
    uint8_t k[8];
    void *v;
    size_t vl;
    seq_key(size, k);
    if (lmdb_get_value(d, "checkpoints", k, 8, &v, &vl) != 0)
        return false;
    free(v);
    return true;
}

/* ---------------------------------------------- part 2: checkpoint [CKP-2] -- */

/*
 * The laundering: the host writes the forgery's tree nodes over the genuine
 * ledger's (entries untouched) and lets the daily `ldg checkpoint` run.
 * Before the fix the log key signed the forgery's root, read from the tree;
 * the host put its tree back and deleted that note, and the signed root
 * vouched for the forged copy anywhere.  Now nothing is signed, exit 1,
 * naming the first entry whose stored node is not the recomputed one.
 */
Test(checkpoint, refuses_to_sign_a_laundered_tree_and_names_the_entry, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    genuine_and_forged(d, 6);
    char twin[4200];
    snprintf(twin, sizeof twin, "%s/twin", d);
    char *forged_root = verified_root(d, "twin/ledger");
    char *genuine_root = verified_root(d, "ledger");
    cr_assert_str_neq(forged_root, genuine_root);
    copy_tree_nodes(d, twin);

    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert(strstr(r.out, forged_root) == NULL, "the log key signed the forged root:\n%s", r.out);
    cr_assert_eq(r.status, 1, "an integrity failure: %d %s%s", r.status, r.out, r.err);
    cr_assert_str_empty(r.out, "nothing is printed: %s", r.out);
    cr_assert(strstr(r.err, "nothing signed") && strstr(r.err, "entry 6 (tree)"),
              "one line naming the entry and check: %s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    run_free(&r);
    cr_assert(!checkpoint_stored(d, 9), "no checkpoint of the forged size was stored");
    free(forged_root);
    free(genuine_root);
}

/*
 * The whole forgery in place (entries, tree and indexes consistent, as a
 * careful host would write them), beside the genuine ledger's stored
 * checkpoint that covers the rejection: the check from that checkpoint
 * sees another history below it, and nothing is signed.
 */
Test(checkpoint, refuses_to_sign_a_history_rewritten_below_the_last_checkpoint, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    genuine_and_forged(d, 8);
    uint8_t k[8];
    void *note;
    size_t nl;
    seq_key(8, k);
    cr_assert_eq(lmdb_get_value(d, "checkpoints", k, 8, &note, &nl), 0);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s/twin/ledger/data.mdb' '%s/ledger/data.mdb'", d, d);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(lmdb_put_value(d, "checkpoints", k, 8, note, nl), 0);
    free(note);
    char *forged_root = verified_root(d, "twin/ledger");

    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert(strstr(r.out, forged_root) == NULL, "the log key signed the forged root:\n%s", r.out);
    cr_assert_eq(r.status, 1, "%d %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, "nothing signed") && strstr(r.err, "the ledger (checkpoint)"), "%s",
              r.err);
    run_free(&r);
    cr_assert(!checkpoint_stored(d, 9));
    free(forged_root);
}

/*
 * A tree node rewritten alone, no checkpoint stored (the full check): not
 * `ldg checkpoint`, `export --as` nor `proof --as` signs anything.
 */
Test(checkpoint, refuses_to_sign_over_a_rewritten_tree_node_on_every_path, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    for (int i = 4; i < 8; i++)
        APPEND(d, "{\"subject\":\"visit\"}", "--as", "author.key", "--kind", "communication",
               "--study", "S1");
    uint8_t h[32];
    cr_assert_eq(tree_node_get(d, 0, 5, h), 0);
    h[3] ^= 0x40;
    cr_assert_eq(tree_node_put(d, 0, 5, h), 0);
    const char *const cmds[][8] = {
        {"checkpoint", "--as", "log.key"},
        {"export", "--format", "jsonl", "--as", "log.key", "-o", "out.jsonl"},
        {"proof", "inclusion", "4", "--format", "tlog-proof", "--as", "log.key"},
    };
    for (size_t i = 0; i < 3; i++) {
        const char *const *c = cmds[i];
        run_result r = ldg_run(d, NULL, c);
        cr_assert_eq(r.status, 1, "%s: %d %s%s", c[0], r.status, r.out, r.err);
        cr_assert(strstr(r.err, "entry 5 (tree)"), "%s: %s", c[0], r.err);
        cr_assert(strstr(r.out, "\xe2\x80\x94 log ") == NULL, "%s signed: %s", c[0], r.out);
        run_free(&r);
        cr_assert(!checkpoint_stored(d, 8), "%s stored a checkpoint", c[0]);
    }
}

/* The head signed is the one verify recomputes; a second checkpoint builds on the first. */
Test(checkpoint, signs_the_head_verify_recomputes, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d, "{\"subject\":\"a\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S1");
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *root = verified_root(d, "ledger");
    cr_assert(strstr(r.out, root), "%s vs %s", r.out, root);
    run_free(&r);
    free(root);
    APPEND(d, "{\"subject\":\"b\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S1");
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    root = verified_root(d, "ledger");
    cr_assert(strstr(r.out, "\n6\n") && strstr(r.out, root), "%s", r.out);
    run_free(&r);
    free(root);
    cr_assert(checkpoint_stored(d, 5) && checkpoint_stored(d, 6));
}

/* ------------------------------------------- part 4: QA cosignatures [CKP-5] -- */

/* The root `ldg verify --json` recomputes, whatever its verdict. */
static char *
recomputed_root(const char *d)
{
    run_result r = LDG(d, NULL, "verify", "--json");
    const char *v = strstr(r.out, "{\"verdict\"");
    cr_assert_not_null(v, "%s", r.out);
    json_t *o = json_loads(v, 0, NULL);
    cr_assert_not_null(o);
    char *root = strdup(json_string_value(json_object_get(o, "root")));
    json_decref(o);
    run_free(&r);
    return root;
}

/*
 * The host holds the log key (the daily checkpoint runs there) and signs a
 * checkpoint of whatever it likes by hand: a C2SP note [CKP-1] with the
 * seed of the unencrypted key file [KEY-3].  Writes it to dir/name.
 */
static void
log_sign_by_hand(const char *d, const char *name, unsigned long size, const char *root)
{
    char *note = log_note_by_hand(d, size, root);
    write_file(d, name, note);
    free(note);
}

static void
leaf_of(const void *entry, size_t n, uint8_t out[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"", 1);
    crypto_hash_sha256_update(&st, entry, n);
    crypto_hash_sha256_final(&st, out);
}

/*
 * A careful host, after putting its own entry 5 (of 6) in place: the leaf
 * index and the tree nodes over it, (0,5) and (1,2), made to match, so that
 * nothing but the signature itself is wrong.
 */
static void
rewrite_derived_of_entry_5(const char *d, const uint8_t old_leaf[32])
{
    uint8_t k5[8], leaf[32], n4[32], node[32], buf[65];
    size_t el;
    void *e;
    seq_key(5, k5);
    cr_assert_eq(lmdb_get_value(d, "entries", k5, 8, &e, &el), 0);
    leaf_of(e, el, leaf);
    free(e);
    uint8_t lk[36];
    leaf_index_key(old_leaf, 5, lk);
    cr_assert_eq(lmdb_del_key(d, LEAF_DB, lk, 36), 0);
    leaf_index_key(leaf, 5, lk);
    cr_assert_eq(lmdb_put_value(d, LEAF_DB, lk, 36, k5, 8), 0);
    cr_assert_eq(tree_node_put(d, 0, 5, leaf), 0);
    cr_assert_eq(tree_node_get(d, 0, 4, n4), 0);
    buf[0] = 1;
    memcpy(buf + 1, n4, 32);
    memcpy(buf + 33, leaf, 32);
    crypto_hash_sha256(node, buf, 65);
    cr_assert_eq(tree_node_put(d, 1, 2, node), 0);
}

/* verify --since FILE [extra...]: not counted as verified, said on stderr, checked in full. */
static void
since_not_counted(const char *d, const char *file, int want_status)
{
    run_result r = LDG(d, NULL, "verify", "--since", file);
    cr_assert_eq(r.status, want_status, "%d %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, "does not count as verified") && strstr(r.err, "in full"),
              "said on stderr: %s", r.err);
    cr_assert(strstr(r.out, "re-hashed") == NULL, "nothing taken on trust: %s", r.out);
    cr_assert(strstr(r.out, " 0 signatures checked") == NULL, "%s", r.out);
    run_free(&r);
}

/* export --verified FILE: refused, exit 2, nothing written. */
static void
export_verified_refused(const char *d, const char *file)
{
    run_result r = LDG(d, NULL, "export", "--format", "csv", "-o", "x.csv", "--verified", file);
    cr_assert_eq(r.status, 2, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "carries no cosignature of a QA key"), "%s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    run_free(&r);
    char p[4200];
    snprintf(p, sizeof p, "%s/x.csv", d);
    cr_assert_eq(access(p, F_OK), -1, "nothing written");
}

/*
 * The attack: the host appends an approval whose signature does not verify
 * (here: a real one, altered) and gets the log key to sign the ledger as it
 * now is.  Before, `verify --since` said OK with 0 signatures checked and
 * the CSV of `export --verified` said "valid (verified in full)".
 */
Test(qa, refuses_to_count_a_log_checkpoint_without_a_qa_cosignature, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d, "{\"subject\":\"protocol v2\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1");
    APPEND(d, "{\"subject\":\"approved\"}", "--as", "approver.key", "--kind", "approval",
           "--meaning", "approval", "--study", "S1", "--ref", "4");
    uint8_t k5[8], old_leaf[32];
    size_t el;
    void *e;
    seq_key(5, k5);
    cr_assert_eq(lmdb_get_value(d, "entries", k5, 8, &e, &el), 0);
    leaf_of(e, el, old_leaf);
    free(e);
    flip_signature_bit(d, 5, 17);
    rewrite_derived_of_entry_5(d, old_leaf);
    char *root = recomputed_root(d);
    log_sign_by_hand(d, "cp.txt", 6, root);
    free(root);
    /* ...and stores it where `ldg checkpoint` would have */
    char p[4200];
    size_t nl;
    snprintf(p, sizeof p, "%s/cp.txt", d);
    char *note = read_file(p, &nl);
    uint8_t k6[8];
    seq_key(6, k6);
    cr_assert_eq(lmdb_put_value(d, "checkpoints", k6, 8, note, nl), 0);
    free(note);
    run_result r = LDG(d, NULL, "verify", "--checkpoint", "cp.txt", "--json");
    cr_assert(strstr(r.out, "\"check\":\"checkpoint\"") == NULL, "a genuine log signature: %s",
              r.out);
    run_free(&r);
    since_not_counted(d, "cp.txt", 1);
    r = LDG(d, NULL, "verify", "--since", "cp.txt");
    cr_assert(strstr(r.out, "#5") && strstr(r.out, "signature"), "the full check finds it: %s",
              r.out);
    run_free(&r);
    export_verified_refused(d, "cp.txt");
}

/* QA's cosignature by a key the ledger registers without the role qa does not count. */
Test(qa, refuses_a_cosignature_by_a_registered_key_without_the_qa_role, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Quality Q",
           "--org", "Helix Pharma", "--roles", "approver"),
       "key add");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "cp.txt", "--as", "qa.key"), "save");
    since_not_counted(d, "cp.txt", 0);
    export_verified_refused(d, "cp.txt");
    /* the host gives the key the role in its key table: the key records say otherwise */
    uint8_t pub[32];
    char p[4200], name[LDG_NAME_MAX + 1];
    ldg_err e;
    snprintf(p, sizeof p, "%s/qa.pub", d);
    cr_assert_eq(ldg_vkey_read(p, name, pub, &e), LDG_OK);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "keys", pub, 32, &v, &vl), 0);
    cr_assert_eq(vl, 17);
    ((uint8_t *)v)[16] |= 0x20;
    cr_assert_eq(lmdb_put_value(d, "keys", pub, 32, v, vl), 0);
    free(v);
    since_not_counted(d, "cp.txt", 1); /* and the full check reports the doctored table */
    export_verified_refused(d, "cp.txt");
}

/* A QA key revoked below the checkpoint's size cosigns in vain. */
Test(qa, refuses_a_cosignature_by_a_qa_key_revoked_before_the_checkpoint, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Quality Q",
           "--org", "Helix Pharma", "--roles", "qa"),
       "key add");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "before.txt", "--as", "qa.key"), "save");
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "qa.pub", "--reason",
           "left the company"),
       "revoke");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "after.txt", "--as", "qa.key"), "save");
    since_not_counted(d, "after.txt", 0);
    export_verified_refused(d, "after.txt");
    /* cosigned while the key was valid: a later revocation does not undo it */
    run_result r = LDG(d, NULL, "verify", "--since", "before.txt");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "the first 5 re-hashed") && strstr(r.out, "QA key qa"), "%s", r.out);
    run_free(&r);
}

/* The happy paths: a QA key named with --qa, and one the ledger registers with the role qa. */
Test(qa, counts_a_checkpoint_cosigned_by_a_named_or_registered_qa_key, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa-outside", "--out", "outside", "--unencrypted"),
       "keygen");
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Quality Q",
           "--org", "Helix Pharma", "--roles", "qa"),
       "key add");
    for (int i = 0; i < 3; i++)
        APPEND(d, "{\"subject\":\"visit\"}", "--as", "author.key", "--kind", "communication",
               "--study", "S1");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "named.txt", "--as", "outside.key"), "save");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "reg.txt", "--as", "qa.key"), "save");
    APPEND(d, "{\"subject\":\"later\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S1");
    /* not registered: counts only when the caller names it */
    since_not_counted(d, "named.txt", 0);
    run_result r = LDG(d, NULL, "verify", "--since", "named.txt", "--qa", "outside.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "9 entries, 1 signatures checked") &&
                  strstr(r.out, "cosigned by QA key qa-outside"),
              "%s", r.out);
    cr_assert_str_empty(r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--since", "reg.txt");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "9 entries, 1 signatures checked") &&
                  strstr(r.out, "cosigned by QA key qa)"),
              "%s", r.out);
    run_free(&r);
    const char *files[][3] = {{"named.txt", "--qa", "outside.pub"}, {"reg.txt", NULL, NULL}};
    for (int i = 0; i < 2; i++) {
        r = files[i][1] ? LDG(d, NULL, "export", "--format", "csv", "-o", "v.csv", "--verified",
                              files[i][0], "--as", "log.key", files[i][1], files[i][2])
                        : LDG(d, NULL, "export", "--format", "csv", "-o", "v.csv", "--verified",
                              files[i][0], "--as", "log.key");
        cr_assert_eq(r.status, 0, "%s: %s", files[i][0], r.err);
        run_free(&r);
        char p[4200];
        snprintf(p, sizeof p, "%s/v.csv", d);
        char *t = read_file(p, NULL);
        cr_assert(t && strstr(t, "valid (verified in full up to checkpoint 8)"), "%.300s", t);
        free(t);
        unlink(p);
    }
}

/* The QA key cosigns only after a clean run: a ledger with a FAIL gets no file, no cosignature. */
Test(qa, cosigns_nothing_after_a_verify_that_failed, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    flip_signature_bit(d, 3, 0);
    run_result r = LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    run_free(&r);
    char p[4200];
    snprintf(p, sizeof p, "%s/qa.txt", d);
    cr_assert_eq(access(p, F_OK), -1, "nothing cosigned");
}

/*
 * A QA key smuggled into the history a log checkpoint signs: its key.add
 * carries a signature no admin made (the leaf and tree records fixed up to
 * match), and the smuggler cosigns with it.  The key records below the
 * checkpoint are signature-checked, so the checkpoint is a rewritten
 * history, not QA's word: verify --since fails (and checks in full),
 * export --verified exits 1.
 */
Test(qa, refuses_a_qa_key_smuggled_in_by_a_key_record_nobody_signed, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d, "{\"subject\":\"protocol v2\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1");
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Quality Q",
           "--org", "Helix Pharma", "--roles", "qa"),
       "key add");
    uint8_t k5[8], old_leaf[32];
    size_t el;
    void *e;
    seq_key(5, k5);
    cr_assert_eq(lmdb_get_value(d, "entries", k5, 8, &e, &el), 0);
    leaf_of(e, el, old_leaf);
    free(e);
    flip_signature_bit(d, 5, 33);
    rewrite_derived_of_entry_5(d, old_leaf);
    char *root = recomputed_root(d);
    log_sign_by_hand(d, "log.txt", 6, root);
    free(root);
    /* the smuggler cosigns with the key it smuggled in */
    char p[4200];
    size_t nl, cl;
    snprintf(p, sizeof p, "%s/log.txt", d);
    char *note = read_file(p, &nl), *cos;
    ldg_key *qa;
    ldg_err err;
    snprintf(p, sizeof p, "%s/qa.key", d);
    cr_assert_eq(ldg_key_load(p, NULL, 0, &qa, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldg_checkpoint_cosign(note, nl, qa, 1767225600, &cos, &cl, &err), LDG_OK);
    ldg_key_free(qa);
    cos[cl] = '\0';
    write_file(d, "cp.txt", cos);
    uint8_t k6[8];
    seq_key(6, k6);
    cr_assert_eq(lmdb_put_value(d, "checkpoints", k6, 8, note, nl), 0);
    free(note);
    free(cos);

    run_result r = LDG(d, NULL, "verify", "--since", "cp.txt");
    cr_assert_eq(r.status, 1, "%d %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "re-hashed") == NULL, "%s", r.out);
    cr_assert(strstr(r.out, "#5      signature:") && strstr(r.out, "ledger  checkpoint: cp.txt"),
              "the key record and the checkpoint are named: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "export", "--format", "csv", "-o", "x.csv", "--verified", "cp.txt");
    cr_assert_eq(r.status, 1, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "INTEGRITY") && strstr(r.err, "entry 5, signature"), "%s", r.err);
    run_free(&r);
    snprintf(p, sizeof p, "%s/x.csv", d);
    cr_assert_eq(access(p, F_OK), -1, "nothing written");
}

/* An entry below a checkpoint a registered QA key cosigned, altered since: a FAIL, not a shrug. */
Test(qa, detects_an_entry_altered_below_a_registered_qa_checkpoint, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Quality Q",
           "--org", "Helix Pharma", "--roles", "qa"),
       "key add");
    APPEND(d, "{\"subject\":\"visit\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S1");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "cp.txt", "--as", "qa.key"), "save");
    flip_signature_bit(d, 5, 9);
    run_result r = LDG(d, NULL, "verify", "--since", "cp.txt");
    cr_assert_eq(r.status, 1, "%d %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "#5      signature:") && strstr(r.out, "ledger  checkpoint: cp.txt"),
              "%s", r.out);
    cr_assert(strstr(r.out, "re-hashed") == NULL, "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "export", "--format", "csv", "-o", "x.csv", "--verified", "cp.txt", "--seq",
            "..4");
    cr_assert_eq(r.status, 1, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "INTEGRITY: cp.txt: the first 6 entries do not check"), "%s", r.err);
    run_free(&r);
}

/* The "tree root X;" of a verify summary line, or "" when it has none. */
static void
root_of(const char *out, char root[64])
{
    const char *p = strstr(out, "tree root ");
    size_t n = p ? strcspn(p + 10, ";\n") : 0;
    snprintf(root, 64, "%.*s", (int)(n < 63 ? n : 63), p ? p + 10 : "");
}

/*
 * verify --since takes the entries below the checkpoint in chunks of 1,024;
 * where a chunk lies wholly below it, its helpers hash each run of 64
 * entries into their subtree's root, and the tree is folded one node a run.
 * Over 1,300 entries that path must give the checkpoint's root and the head
 * a full verify gives, and an entry altered inside such a run must still
 * break the checkpoint.
 */
Test(qa, verify_since_over_whole_subtrees_gives_the_full_verify_root, .fini = tmp_cleanup,
     .timeout = 120)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Quality Q",
           "--org", "Helix Pharma", "--roles", "qa"),
       "key add");
    enum { N = 1300 };
    char *text = malloc(N * 96);
    cr_assert_not_null(text);
    size_t at = 0;
    for (int k = 0; k < N; k++)
        at += (size_t)sprintf(text + at,
                              "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{\"subject\":"
                              "\"note %d\"}}\n",
                              k);
    write_file(d, "b.jsonl", text);
    ok(LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), "batch");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "cp.txt", "--as", "qa.key"), "save");
    write_file(d, "c.jsonl",
               "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{}}\n"
               "{\"kind\":\"communication\",\"study\":\"S2\",\"body\":{}}\n");
    ok(LDG(d, NULL, "append", "--as", "author.key", "--batch", "c.jsonl"), "more");
    free(text);

    run_result full = LDG(d, NULL, "verify");
    cr_assert_eq(full.status, 0, "%s%s", full.out, full.err);
    run_result since = LDG(d, NULL, "verify", "--since", "cp.txt");
    cr_assert_eq(since.status, 0, "%s%s", since.out, since.err);
    cr_assert(strstr(since.out, "re-hashed against cp.txt") != NULL, "%s", since.out);
    char a[64], b[64];
    root_of(full.out, a);
    root_of(since.out, b);
    cr_assert(a[0] && strcmp(a, b) == 0, "full %s, since %s", full.out, since.out);
    run_free(&full);
    run_free(&since);

    /* entry 100 lies in the run 64..127 of the first chunk: its leaf changes, so must the root */
    flip_signature_bit(d, 100, 3);
    since = LDG(d, NULL, "verify", "--since", "cp.txt");
    cr_assert_eq(since.status, 1, "%d %s%s", since.status, since.out, since.err);
    cr_assert(strstr(since.out, "do not give the root of the checkpoint") != NULL, "%s", since.out);
    run_free(&since);
}
