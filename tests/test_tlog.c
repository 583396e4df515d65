/*
 * test_tlog.c - the ledger as a transparency log through the real binary:
 * `ldg checkpoint` signed notes, `ldg verify --checkpoint` against held
 * checkpoints (rollback, fork, altered note), the stored checkpoints, and
 * `ldg proof inclusion|consistency` JSON checked with the offline verifiers.
 */
#define _GNU_SOURCE /* memmem */
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <ldg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

static void
communications(const char *d, const char *ledger, int n)
{
    for (int i = 0; i < n; i++)
        ok(LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication", "--study",
               "S1", "--ledger", ledger),
           "append");
}

/* Runs `ldg checkpoint` and saves the note to dir/name. */
static void
checkpoint_to(const char *d, const char *ledger, const char *name)
{
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--ledger", ledger);
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, name, r.out);
    run_free(&r);
}

static void
expect_verify(const char *d, const char *ledger, const char *cp, int code, const char *needle)
{
    run_result r = LDG(d, NULL, "verify", "--ledger", ledger, "--checkpoint", cp);
    cr_assert_eq(r.status, code, "verify exit %d: %s%s", r.status, r.out, r.err);
    if (needle)
        cr_assert(strstr(r.out, needle) || strstr(r.err, needle), "\"%s\" in: %s%s", needle,
                  r.out, r.err);
    run_free(&r);
}

Test(tlog, a_checkpoint_is_a_c2sp_signed_note_of_the_tree_head, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 3);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char origin[64], root[64], dash[8], name[32], sig[128];
    unsigned long long size;
    cr_assert_eq(sscanf(r.out, "%63[^\n]\n%llu\n%63[^\n]\n\n%7s %31s %127s", origin, &size, root,
                        dash, name, sig),
                 6, "%s", r.out);
    cr_assert_str_eq(origin, "test.example/ledger");
    cr_assert_eq(size, 7);
    cr_assert_str_eq(dash, "\xe2\x80\x94");
    cr_assert_str_eq(name, "log");
    run_free(&r);
    /* the root is the one verify recomputes */
    r = LDG(d, NULL, "verify", "--json");
    cr_assert(strstr(r.out, root), "root %s in %s", root, r.out);
    run_free(&r);
}

Test(tlog, only_the_log_key_signs_checkpoints, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "admin.key");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "not this ledger's log key"), "%s", r.err);
    run_free(&r);
}

Test(tlog, a_held_checkpoint_passes_while_the_ledger_only_grows, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    checkpoint_to(d, "ledger", "cp.txt");
    expect_verify(d, "ledger", "cp.txt", 0, "OK:");
    communications(d, "ledger", 5);
    expect_verify(d, "ledger", "cp.txt", 0, "OK:");
}

Test(tlog, rollback_to_an_older_copy_is_caught_by_a_held_checkpoint, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r '%s/ledger' '%s/old'", d, d);
    cr_assert_eq(system(cmd), 0);
    communications(d, "ledger", 2);
    checkpoint_to(d, "ledger", "cp.txt");
    /* the old copy verifies on its own... */
    ok(LDG(d, NULL, "verify", "--ledger", "old"), "verify old alone");
    /* ...but not against a checkpoint held outside */
    expect_verify(d, "old", "cp.txt", 1, "rolled back or truncated");
}

Test(tlog, a_fork_under_the_same_origin_is_caught_by_a_held_checkpoint, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r '%s/ledger' '%s/fork'", d, d);
    cr_assert_eq(system(cmd), 0);
    communications(d, "ledger", 2);
    communications(d, "fork", 3);
    checkpoint_to(d, "ledger", "cp.txt");
    ok(LDG(d, NULL, "verify", "--ledger", "fork"), "the fork verifies on its own");
    expect_verify(d, "fork", "cp.txt", 1, "fork or a rewritten history");
}

Test(tlog, an_altered_or_malformed_checkpoint_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 1);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0);
    char *note = strdup(r.out);
    run_free(&r);
    /* the size line says 4 instead of 5: the signature no longer verifies */
    char *size = strstr(note, "\n5\n");
    cr_assert_not_null(size, "%s", note);
    size[1] = '4';
    write_file(d, "altered.txt", note);
    expect_verify(d, "ledger", "altered.txt", 1, "does not verify");
    write_file(d, "junk.txt", "not a checkpoint\n");
    expect_verify(d, "ledger", "junk.txt", 2, "junk.txt");
    /* a note signed by another key under the log key's name */
    size[1] = '5';
    char *sig = strstr(note, "\xe2\x80\x94 log ");
    cr_assert_not_null(sig);
    /* inside the key hash, and still base64: a flipped bit could leave the alphabet (A^1 = @)
       and make the line malformed instead, one key in ten */
    char *c = &sig[sizeof "\xe2\x80\x94 log " + 2];
    *c = *c == 'B' ? 'C' : 'B';
    write_file(d, "otherkey.txt", note);
    expect_verify(d, "ledger", "otherkey.txt", 1, "not signed by this ledger's log key");
    free(note);
}

Test(tlog, the_ledger_checks_its_own_stored_checkpoints, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 2);
    checkpoint_to(d, "ledger", "cp.txt");
    ok(LDG(d, NULL, "verify"), "clean");
    /* the host rewrites its stored copy (size 6) with a root of another tree */
    uint8_t k[8];
    seq_key(6, k);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "checkpoints", k, 8, &v, &vl), 0);
    char *p = memchr(v, '\n', vl);
    p = memchr(p + 1, '\n', vl - (size_t)(p + 1 - (char *)v));
    p[1] = p[1] == 'A' ? 'B' : 'A';
    cr_assert_eq(lmdb_put_value(d, "checkpoints", k, 8, v, vl), 0);
    free(v);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "checkpoint"), "%s", r.out);
    run_free(&r);
}

static void
b64dec(const char *s, uint8_t *out, size_t want)
{
    size_t n;
    cr_assert_eq(sodium_base642bin(out, want, s, strlen(s), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0, "%s", s);
    cr_assert_eq(n, want);
}

Test(tlog, proofs_are_rfc9162_json_that_verify_offline, .fini = tmp_cleanup)
{
    cr_assert_geq(sodium_init(), 0);
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 9);
    run_result r = LDG(d, NULL, "proof", "inclusion", "6", "--size", "11");
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(o, "index")), 6);
    cr_assert_eq(json_integer_value(json_object_get(o, "tree_size")), 11);
    uint8_t root[32], leaf_hash[32], h[LDG_PROOF_MAX][32], entry[70000];
    b64dec(json_string_value(json_object_get(o, "root")), root, 32);
    b64dec(json_string_value(json_object_get(o, "leaf_hash")), leaf_hash, 32);
    const char *leaf = json_string_value(json_object_get(o, "leaf"));
    size_t el;
    cr_assert_eq(sodium_base642bin(entry + 1, sizeof entry - 1, leaf, strlen(leaf), NULL, &el, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    entry[0] = 0x00;
    uint8_t lh[32];
    crypto_hash_sha256(lh, entry, el + 1);
    cr_assert_arr_eq(lh, leaf_hash, 32, "leaf_hash = SHA-256(0x00 || leaf)");
    json_t *hs = json_object_get(o, "hashes");
    size_t n = json_array_size(hs);
    for (size_t i = 0; i < n; i++)
        b64dec(json_string_value(json_array_get(hs, i)), h[i], 32);
    cr_assert(ldg_proof_verify_inclusion(6, 11, leaf_hash, (const uint8_t(*)[32])h, n, root));
    cr_assert(!ldg_proof_verify_inclusion(7, 11, leaf_hash, (const uint8_t(*)[32])h, n, root));
    json_decref(o);
    run_free(&r);

    r = LDG(d, NULL, "proof", "consistency", "4", "13");
    cr_assert_eq(r.status, 0, "%s", r.err);
    o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s", r.out);
    uint8_t r0[32], r1[32];
    b64dec(json_string_value(json_object_get(o, "old_root")), r0, 32);
    b64dec(json_string_value(json_object_get(o, "new_root")), r1, 32);
    hs = json_object_get(o, "hashes");
    n = json_array_size(hs);
    for (size_t i = 0; i < n; i++)
        b64dec(json_string_value(json_array_get(hs, i)), h[i], 32);
    cr_assert(ldg_proof_verify_consistency(4, 13, r0, r1, (const uint8_t(*)[32])h, n));
    cr_assert(!ldg_proof_verify_consistency(4, 13, r1, r0, (const uint8_t(*)[32])h, n));
    json_decref(o);
    run_free(&r);

    r = LDG(d, NULL, "proof", "inclusion", "20");
    cr_assert_eq(r.status, 2, "past the end is bad input: %s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "proof", "consistency", "9", "5");
    cr_assert_eq(r.status, 2, "old > new is bad input: %s", r.err);
    run_free(&r);
}

/* ------------------------------------------------------ verify-proof -- */

static int
vp(const char *d, const char *const *extra_args, const char *proof, const char *trust)
{
    const char *argv[12] = {"verify-proof", proof, "--trust", trust};
    int n = 4;
    for (; extra_args && *extra_args; extra_args++)
        argv[n++] = *extra_args;
    argv[n] = NULL;
    run_result r = ldg_run(d, NULL, argv);
    int st = r.status;
    if (st == 0)
        cr_assert(strncmp(r.out, "OK: ", 4) == 0, "%s", r.out);
    if (st == 1)
        cr_assert(strncmp(r.out, "FAILED: ", 8) == 0, "%s", r.out);
    run_free(&r);
    return st;
}

static void
save(const char *d, run_result r, const char *name)
{
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, name, r.out);
    run_free(&r);
}

Test(tlog, a_tlog_proof_verifies_offline_against_the_trusted_log_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 6);
    /* no checkpoint of that size stored yet: the tlog-proof cannot be made */
    run_result r = LDG(d, NULL, "proof", "inclusion", "5", "--format", "tlog-proof");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "no checkpoint of size 10"), "%s", r.err);
    run_free(&r);
    /* with a fresh checkpoint signed by the log key */
    save(d,
         LDG(d, NULL, "proof", "inclusion", "5", "--format", "tlog-proof", "--as", "log.key"),
         "p.tlog-proof");
    cr_assert_eq(vp(d, NULL, "p.tlog-proof", "log.pub"), 0);
    cr_assert_eq(vp(d, NULL, "p.tlog-proof", "admin.pub"), 1, "another key's trust fails");
    /* the stored checkpoint serves later proofs of that size */
    save(d, LDG(d, NULL, "proof", "inclusion", "2", "--format", "tlog-proof", "--size", "10"),
         "q.tlog-proof");
    cr_assert_eq(vp(d, NULL, "q.tlog-proof", "log.pub"), 0);
    /* the entry of another record, or another index, is not in that tree */
    char path[600];
    snprintf(path, sizeof path, "%s/p.tlog-proof", d);
    char *t = read_file(path, NULL);
    char *ix = strstr(t, "\nindex 5\n");
    cr_assert_not_null(ix);
    ix[7] = '6';
    write_file(d, "bad.tlog-proof", t);
    cr_assert_eq(vp(d, NULL, "bad.tlog-proof", "log.pub"), 1);
    free(t);
    write_file(d, "junk.tlog-proof", "c2sp.org/tlog-proof@v1\nindex x\n");
    cr_assert_eq(vp(d, NULL, "junk.tlog-proof", "log.pub"), 2);
}

Test(tlog, a_json_proof_is_bound_to_a_signed_root_only_with_a_checkpoint, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 3);
    checkpoint_to(d, "ledger", "cp7.txt");
    communications(d, "ledger", 2);
    checkpoint_to(d, "ledger", "cp9.txt");
    save(d, LDG(d, NULL, "proof", "inclusion", "5", "--size", "7"), "p7.json");
    cr_assert_eq(vp(d, NULL, "p7.json", "log.pub"), 2, "an unsigned root cannot satisfy --trust");
    const char *with7[] = {"--checkpoint", "cp7.txt", NULL};
    const char *with9[] = {"--checkpoint", "cp9.txt", NULL};
    cr_assert_eq(vp(d, with7, "p7.json", "log.pub"), 0);
    cr_assert_eq(vp(d, with9, "p7.json", "log.pub"), 1, "a checkpoint of another size");
    cr_assert_eq(vp(d, with7, "p7.json", "admin.pub"), 1, "a checkpoint not by the trusted key");
    save(d, LDG(d, NULL, "proof", "consistency", "7", "9"), "c.json");
    cr_assert_eq(vp(d, NULL, "c.json", "log.pub"), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/c.json", d);
    char *t = read_file(path, NULL);
    char *h = strstr(t, "\"hashes\":[\"");
    cr_assert_not_null(h);
    h[11] = h[11] == 'A' ? 'B' : 'A';
    write_file(d, "c-bad.json", t);
    free(t);
    cr_assert_eq(vp(d, NULL, "c-bad.json", "log.pub"), 1);
}

/* A JSON proof is read by ldg_proof_json_parse [CKP-6]: ambiguity and damage are bad input. */
Test(tlog, a_json_proof_with_two_roots_or_a_damaged_leaf_is_bad_input, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 3);
    checkpoint_to(d, "ledger", "cp7.txt");
    save(d, LDG(d, NULL, "proof", "inclusion", "5"), "p7.json");
    const char *with7[] = {"--checkpoint", "cp7.txt", NULL};
    cr_assert_eq(vp(d, with7, "p7.json", "log.pub"), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/p7.json", d);
    char *t = read_file(path, NULL), *end = strrchr(t, '}');
    cr_assert_not_null(end);
    /* a second root after the hashes: which one would a reader believe? */
    char two[8192];
    snprintf(two, sizeof two, "%.*s,\"root\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}\n",
             (int)(end - t), t);
    write_file(d, "two-roots.json", two);
    run_result r = LDG(d, NULL, "verify-proof", "two-roots.json", "--trust", "log.pub",
                       "--checkpoint", "cp7.txt");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "duplicate"), "%s", r.err);
    cr_assert_eq(r.out[0], '\0', "no verdict printed: %s", r.out);
    run_free(&r);
    /* a leaf that is not base64 is refused even when --leaf FILE would replace it */
    char *leaf = strstr(t, "\"leaf\":\"");
    cr_assert_not_null(leaf);
    leaf[8] = '*';
    write_file(d, "bad-leaf.json", t);
    write_file(d, "entry.bin", "x");
    r = LDG(d, NULL, "verify-proof", "bad-leaf.json", "--trust", "log.pub", "--checkpoint",
            "cp7.txt", "--leaf", "entry.bin");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "leaf is not base64"), "%s", r.err);
    run_free(&r);
    free(t);
}

/* ------------------------------------------------ incremental verify -- */

Test(tlog, verify_since_a_saved_checkpoint_checks_only_new_signatures, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 6);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "keygen", "--name", "qa.example", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"),
       "verify --save-checkpoint");
    communications(d, "ledger", 3);
    run_result r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "13 entries, 3 signatures checked"), "%s", r.out);
    cr_assert(strstr(r.out, "the first 10 re-hashed against qa.txt"), "%s", r.out);
    run_free(&r);
    /* an entry below the checkpoint is altered where only its signature would show it */
    flip_signature_bit(d, 6, 4);
    r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub");
    cr_assert_eq(r.status, 1, "the checkpoint's root catches it: %s", r.out);
    cr_assert(strstr(r.out, "checkpoint verified before"), "%s", r.out);
    run_free(&r);
}

Test(tlog, save_checkpoint_refuses_a_ledger_that_does_not_verify, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    uint8_t k[8];
    seq_key(2, k);
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, "\xdf\xff\xff\xff\xff", 5), 0);
    run_result r = LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt");
    cr_assert_eq(r.status, 1, "%s", r.out);
    run_free(&r);
    char p[600];
    snprintf(p, sizeof p, "%s/qa.txt", d);
    cr_assert_null(read_file(p, NULL), "nothing saved from a failed verify");
}

/* [CKP-5] the saved checkpoint carries the QA key's C2SP cosignature. */
Test(tlog, save_checkpoint_as_qa_adds_a_cosignature_that_verifies, .fini = tmp_cleanup)
{
    cr_assert_geq(sodium_init(), 0);
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa.example", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    run_result r = LDG(d, NULL, "verify", "--as", "qa.key");
    cr_assert_eq(r.status, 2, "--as alone is a usage error: %s", r.err);
    run_free(&r);
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"), "save");
    char p[600], name[LDG_NAME_MAX + 1];
    uint8_t qa[32], admin[32];
    ldg_err e;
    snprintf(p, sizeof p, "%s/qa.pub", d);
    cr_assert_eq(ldg_vkey_read(p, name, qa, &e), LDG_OK);
    snprintf(p, sizeof p, "%s/admin.pub", d);
    cr_assert_eq(ldg_vkey_read(p, name, admin, &e), LDG_OK);
    snprintf(p, sizeof p, "%s/qa.txt", d);
    size_t len;
    char *note = read_file(p, &len);
    cr_assert_not_null(note);
    uint64_t ts;
    cr_assert_eq(ldg_checkpoint_cosigned(note, len, "qa.example", qa, &ts, &e), LDG_OK, "%s",
                 e.msg);
    cr_assert_gt(ts, 1700000000);
    cr_assert_eq(ldg_checkpoint_cosigned(note, len, "qa.example", admin, &ts, &e),
                 LDG_E_NOTFOUND, "another key's cosignature is not there");
    note[2] ^= 1; /* the origin line: the log's signature and the cosignature both break */
    cr_assert_eq(ldg_checkpoint_cosigned(note, len, "qa.example", qa, &ts, &e), LDG_E_BADSIG);
    free(note);
    /* the cosigned file is still a checkpoint the ledger checks against */
    expect_verify(d, "ledger", "qa.txt", 0, "OK:");
}

/* ------------------------------------------------------ review fixes -- */

Test(tlog, a_damaged_tree_is_an_integrity_failure_for_held_checkpoints, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 4);
    checkpoint_to(d, "ledger", "cp.txt");
    /* level 3, index 0: the node over entries 0..7, and what was stored after it */
    cr_assert_eq(tree_node_cut(d, 3, 0), 0);
    expect_verify(d, "ledger", "cp.txt", 1, "damaged");
    run_result r = LDG(d, NULL, "verify", "--since", "cp.txt");
    cr_assert_eq(r.status, 1, "falls back to a full verify and fails: %s%s", r.out, r.err);
    run_free(&r);
}

/* Leaf hashes of a ledger's first n entries, read through the library. */
static uint8_t (*leaf_hashes(ldg_ledger *l, uint64_t n))[LDG_HASH_BYTES]
{
    uint8_t(*lh)[LDG_HASH_BYTES] = malloc(n * LDG_HASH_BYTES);
    ldg_err e;
    for (uint64_t i = 0; i < n; i++) {
        ldg_record *r;
        cr_assert_eq(ldg_record_get(l, i, &r, &e), LDG_OK, "%s", e.msg);
        memcpy(lh[i], r->leaf_hash, LDG_HASH_BYTES);
        ldg_record_free(r);
    }
    return lh;
}

/*
 * Proofs from the stored tree of a ledger of 700 entries, where the reader
 * takes the lower levels in blocks of 8 nodes (levels 0, 3 and 6) and reads
 * the rest one by one: each inclusion proof at sizes around the block edges,
 * and each consistency proof to them, verifies against the tree's root.
 */
Test(tlog, proofs_from_the_stored_tree_verify_at_every_block_edge, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char path[600];
    snprintf(path, sizeof path, "%s/batch.jsonl", d);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 696; i++)
        fprintf(f, "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{\"n\":%d}}\n", i);
    fclose(f);
    ok(LDG(d, NULL, "append", "--as", "author.key", "--batch", "batch.jsonl"), "batch");
    snprintf(path, sizeof path, "%s/ledger", d);
    ldg_ledger *l;
    ldg_err e;
    cr_assert_eq(ldg_ledger_open(path, LDG_OPEN_READONLY, &l, &e), LDG_OK, "%s", e.msg);
    uint64_t n;
    uint8_t head[LDG_HASH_BYTES], root[LDG_HASH_BYTES], old_root[LDG_HASH_BYTES];
    cr_assert_eq(ldg_ledger_head(l, &n, head, &e), LDG_OK);
    cr_assert_eq(n, 700);
    uint8_t(*lh)[LDG_HASH_BYTES] = leaf_hashes(l, n);
    static const uint64_t sizes[] = {1,   2,   7,   8,   9,   15,  16,  17,  63,  64,  65,
                                     71,  72,  127, 128, 129, 511, 512, 513, 519, 520, 575,
                                     576, 577, 639, 640, 641, 695, 696, 697, 699, 700};
    uint8_t h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t len;
    unsigned proofs = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        uint64_t size = sizes[si];
        cr_assert_eq(ldg_tree_root(l, size, root, &e), LDG_OK, "%s", e.msg);
        for (uint64_t i = 0; i < size; i++) {
            cr_assert_eq(ldg_proof_inclusion(l, i, size, h, &len, &e), LDG_OK, "%s", e.msg);
            cr_assert(ldg_proof_verify_inclusion(i, size, lh[i],
                                                 (const uint8_t(*)[LDG_HASH_BYTES])h, len, root),
                      "inclusion of %llu at %llu", (unsigned long long)i,
                      (unsigned long long)size);
            proofs++;
        }
        for (uint64_t old = 1; old <= size; old += old < 80 ? 1 : 7) {
            cr_assert_eq(ldg_tree_root(l, old, old_root, &e), LDG_OK, "%s", e.msg);
            cr_assert_eq(ldg_proof_consistency(l, old, size, h, &len, &e), LDG_OK, "%s", e.msg);
            cr_assert(ldg_proof_verify_consistency(old, size, old_root, root,
                                                   (const uint8_t(*)[LDG_HASH_BYTES])h, len),
                      "consistency %llu -> %llu", (unsigned long long)old,
                      (unsigned long long)size);
            proofs++;
        }
    }
    cr_assert_gt(proofs, 10000);
    free(lh);
    ldg_ledger_close(l);
}

/*
 * `proof --as` promises a checked proof: the path it reads from the stored
 * tree must lead to the root it just signed.  The check before signing starts
 * from the newest stored checkpoint and does not re-read the nodes below it,
 * so a node there rewritten (the sibling of record 3's leaf) reaches the
 * proof; it is caught there: exit 1, one line, no proof printed.  A record
 * whose path does not pass through the node still gets its proof.
 */
Test(tlog, proof_as_refuses_a_path_through_a_rewritten_tree_node, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    communications(d, "ledger", 4);
    checkpoint_to(d, "ledger", "cp8.txt");
    communications(d, "ledger", 1);
    uint8_t h[32]; /* level 0, index 2 */
    cr_assert_eq(tree_node_get(d, 0, 2, h), 0);
    h[7] ^= 0x01;
    cr_assert_eq(tree_node_put(d, 0, 2, h), 0);
    run_result r =
        LDG(d, NULL, "proof", "inclusion", "3", "--format", "tlog-proof", "--as", "log.key");
    cr_assert_eq(r.status, 1, "exit %d: %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, "gives no proof of record 3"), "caught by the proof's check: %s",
              r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    cr_assert_str_empty(r.out, "no proof printed: %s", r.out);
    run_free(&r);
    save(d, LDG(d, NULL, "proof", "inclusion", "8", "--format", "tlog-proof", "--as", "log.key"),
         "p8.tlog-proof");
    cr_assert_eq(vp(d, NULL, "p8.tlog-proof", "log.pub"), 0);
}

Test(tlog, signature_lines_are_held_to_the_signed_note_rules, .fini = tmp_cleanup)
{
    cr_assert_geq(sodium_init(), 0);
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0);
    char *note = strdup(r.out);
    run_free(&r);
    char p[600], name[LDG_NAME_MAX + 1];
    uint8_t pub[32];
    ldg_err e;
    ldg_checkpoint cp;
    snprintf(p, sizeof p, "%s/log.pub", d);
    cr_assert_eq(ldg_vkey_read(p, name, pub, &e), LDG_OK);
    cr_assert_eq(ldg_checkpoint_parse(note, strlen(note), NULL, pub, &cp, &e), LDG_OK, "%s",
                 e.msg);
    char *sig = strstr(note, "\xe2\x80\x94 ");
    size_t text = (size_t)(sig - note), sl = strlen(sig);
    char buf[4096];
    /* a bad line by the log key before a good one: rejected, not hidden */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s", sig);
    char *b64 = strrchr(bad, ' ') + 1;
    b64[10] = b64[10] == 'A' ? 'B' : 'A';
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)text, note, bad, sig);
    cr_assert_eq(ldg_checkpoint_parse(buf, strlen(buf), NULL, pub, &cp, &e), LDG_E_BADSIG,
                 "%s", e.msg);
    /* a malformed line of someone else's */
    snprintf(buf, sizeof buf, "%.*s%s\xe2\x80\x94 witness notbase64!\n", (int)text, note, sig);
    cr_assert_eq(ldg_checkpoint_parse(buf, strlen(buf), NULL, pub, &cp, &e), LDG_E_INPUT);
    /* a carriage return in the text */
    snprintf(buf, sizeof buf, "%s", note);
    buf[1] = '\r';
    cr_assert_eq(ldg_checkpoint_parse(buf, strlen(buf), NULL, pub, &cp, &e), LDG_E_INPUT);
    (void)sl;
    free(note);
}
