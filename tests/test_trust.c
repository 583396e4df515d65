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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            uint8_t k[9] = {(uint8_t)level};
            seq_key(i, k + 1);
            void *v;
            size_t vl;
            cr_assert_eq(lmdb_get_value(twin, "tree", k, 9, &v, &vl), 0, "node %u/%u", level, i);
            cr_assert_eq(lmdb_put_value(d, "tree", k, 9, v, vl), 0);
            free(v);
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
    cr_assert(strstr(r.out, forged_root) == NULL, "the log key signed the forged root:\n%s",
              r.out);
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
Test(checkpoint, refuses_to_sign_a_history_rewritten_below_the_last_checkpoint,
     .fini = tmp_cleanup, .timeout = 60)
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
    cr_assert(strstr(r.out, forged_root) == NULL, "the log key signed the forged root:\n%s",
              r.out);
    cr_assert_eq(r.status, 1, "%d %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, "nothing signed") && strstr(r.err, "the ledger (checkpoint)"),
              "%s", r.err);
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
    uint8_t k[9] = {0};
    seq_key(5, k + 1);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "tree", k, 9, &v, &vl), 0);
    ((uint8_t *)v)[3] ^= 0x40;
    cr_assert_eq(lmdb_put_value(d, "tree", k, 9, v, vl), 0);
    free(v);
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
