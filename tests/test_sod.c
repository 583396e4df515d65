/*
 * test_sod.c - segregation of duties (issue 12, part 4; spec/format.md
 * [POL-12..15]).  append: every rule refuses with exit 3, one line on
 * stderr, nothing written; the allowed forms (an approval of someone
 * else's record, a second key that says what it supersedes, a re-enrolment
 * that names the revocation) append.  verify and verify-bundle: records
 * that break each rule, forged with real keys through the library past the
 * policy (as a host holding the LMDB file could), fail `ldg verify` with
 * the check `duties` at their seq, and verify-bundle reports the same on a
 * bundle the log key's holder signs over them.  The real binary on real
 * LMDB files throughout.
 */
#include "helpers.h"
#include "internal.h" /* the forger's view: encode, sign and store entries past the policy */

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
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

static char *
path_in(const char *d, const char *name)
{
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", d, name);
    return p;
}

/* The head (the last line's seq) as `ldg log` prints it: the ledger's size, cheaply. */
static long
size_of(const char *d)
{
    return ledger_size(d);
}

/*
 * A refusal by policy: exit 3, one line on stderr naming the command and
 * holding `needle`, and the ledger exactly as big as before.
 */
static void
refused(const char *d, run_result r, const char *needle, long size)
{
    cr_assert_eq(r.status, 3, "want exit 3, got %d: %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, needle), "want \"%s\" in: %s", needle, r.err);
    const char *nl = strchr(r.err, '\n');
    cr_assert(nl && nl[1] == '\0', "one line on stderr: %s", r.err);
    cr_assert_eq(strncmp(r.err, "ldg ", 4), 0, "names the command: %s", r.err);
    cr_assert_str_empty(r.out, "nothing printed as appended: %s", r.out);
    run_free(&r);
    cr_assert_eq(size_of(d), size, "nothing written");
}

static long
appended_seq(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s failed (%d): %s", what, r.status, r.err);
    long seq = strtol(r.out, NULL, 10);
    run_free(&r);
    return seq;
}

static void
keygen(const char *d, const char *name)
{
    ok(LDG(d, NULL, "keygen", "--name", name, "--out", name, "--unencrypted"), "keygen");
}

/* ------------------------------------------------- append: [POL-12] -- */

Test(append, an_approval_or_rejection_without_a_ref_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
           "--body", "-"),
       "communication 4");
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--body", "-"),
            "an approval needs at least one ref: the record it approves", 5);
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "rejection", "--meaning",
                "review", "--study", "S1", "--body", "-"),
            "a rejection needs at least one ref: the record it rejects", 5);
    /* in a batch: the line is named, nothing of the batch is written */
    write_file(d, "b.jsonl",
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[4]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\"}\n");
    refused(d, LDG(d, NULL, "append", "--as", "approver.key", "--batch", "b.jsonl"),
            "line 2: an approval needs at least one ref", 5);
    /* signed elsewhere: `ldg sign` refuses it before signing */
    refused(d,
            LDG(d, "{}", "sign", "--as", "approver.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--body", "-"),
            "an approval needs at least one ref", 5);
    /* with a ref (to a user record [POL-12]) it goes through */
    cr_assert_eq(
        appended_seq(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval",
                         "--meaning", "approval", "--study", "S1", "--ref", "4", "--body", "-"),
                     "approval with a ref"),
        5);
}

/* ------------------------------------------------- append: [POL-13] -- */

Test(append, no_one_approves_a_record_of_their_own_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    keygen(d, "chief");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "chief.pub", "--name", "Dana Chief",
           "--org", "Helix Pharma", "--roles", "approver,decider"),
       "key add");
    long dec = appended_seq(LDG(d, "{\"subject\":\"go\"}", "append", "--as", "chief.key", "--kind",
                                "decision", "--study", "S1", "--body", "-"),
                            "decision");
    cr_assert_eq(dec, 5);
    refused(d,
            LDG(d, "{}", "append", "--as", "chief.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--ref", "5", "--body", "-"),
            "no one approves their own record: ref 1 names entry 5, signed by this same key", 6);
    /* every ref counts: one of two refs is their own */
    ok(LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
           "--body", "-"),
       "communication 6");
    refused(d,
            LDG(d, "{}", "append", "--as", "chief.key", "--kind", "rejection", "--meaning",
                "review", "--study", "S1", "--ref", "6", "--ref", "5", "--body", "-"),
            "no one rejects their own record: ref 2 names entry 5", 7);
    /* someone else's record: allowed */
    ok(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning", "approval",
           "--study", "S1", "--ref", "5", "--body", "-"),
       "approval of another person's decision");
    cr_assert_eq(size_of(d), 8);
}

Test(append, no_one_approves_a_record_of_another_key_of_their_identity, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    keygen(d, "quinn2");
    /* Quinn Avery (Helix Pharma, key at 3) again, spelt otherwise: the same person [POL-13] */
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
           "  quinn\xc2\xa0 AVERY ", "--org", "HELIX pharma\xe2\x80\x8b", "--roles",
           "approver,author", "--supersedes", "3", "--reason", "second device for travel"),
       "supersede");
    long c = appended_seq(LDG(d, "{}", "append", "--as", "quinn2.key", "--kind", "communication",
                              "--study", "S1", "--body", "-"),
                          "communication");
    cr_assert_eq(c, 5);
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--ref", "5", "--body", "-"),
            "no one approves their own record: ref 1 names entry 5, signed by key ", 6);
    run_result r = LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                       "approval", "--study", "S1", "--ref", "5", "--body", "-");
    cr_assert(strstr(r.err, "of the same person (printed name and organisation)"), "%s", r.err);
    run_free(&r);
    /* another person of the same organisation may */
    ok(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1", "--ref",
           "5", "--body", "-"),
       "decision");
    ok(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning", "approval",
           "--study", "S1", "--ref", "6", "--body", "-"),
       "approval of the decider's decision");
}

/* ------------------------------------------------- append: [POL-14] -- */

Test(append, an_admin_key_holds_no_other_role, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    keygen(d, "root2");
    static const char *const bad[] = {"admin,author", "admin,approver", "admin,decider",
                                      "admin,eraser", "admin,qa"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(d,
                LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "root2.pub", "--name",
                    "Rob Root", "--org", "Acme CRO", "--roles", bad[i]),
                "an admin key holds no other role", 4);
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "root2.pub", "--name", "Rob Root",
           "--org", "Acme CRO", "--roles", "admin"),
       "an admin key with admin alone");
    /* an admin who also writes records has a second key, of the other class: no supersede */
    keygen(d, "ada2");
    ok(LDG(d, NULL, "key", "add", "--as", "root2.key", "--pub", "ada2.pub", "--name", "Ada Admin",
           "--org", "Acme CRO", "--roles", "author"),
       "Ada Admin's author key beside her admin key");
    cr_assert_eq(size_of(d), 6);
}

/* ------------------------------------------------- append: [POL-15] -- */

Test(append, a_second_active_key_of_one_person_needs_supersedes_and_a_reason, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    keygen(d, "quinn2");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn  Avery", "--org", "helix pharma", "--roles", "approver"),
            "\"Quinn  Avery\" (helix pharma) already holds an active non-admin key: a second one "
            "needs a reason and one ref, to the key.add of the key it supersedes",
            4);
    /* the ref must be the key.add of that person's active key, of the same class */
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "1",
                "--reason", "new laptop"),
            "must name the key.add of the active non-admin key it supersedes; entry 1 is not one",
            4);
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "0",
                "--reason", "new laptop"),
            "entry 0 is not one", 4);
    /* a reason is part of it: the tool asks before anything is signed (policy, exit 3, as for key revoke) */
    run_result r =
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
            "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "3");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "--supersedes needs --reason"), "%s", r.err);
    run_free(&r);
    cr_assert_eq(size_of(d), 4);
    long s = appended_seq(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub",
                              "--name", "Quinn Avery", "--org", "Helix Pharma", "--roles",
                              "approver", "--supersedes", "3", "--reason", "new laptop"),
                          "supersede");
    cr_assert_eq(s, 4);
    /* the record carries the reason and the one ref, to entry 3 */
    r = LDG(d, NULL, "show", "4", "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "reason")), "new laptop");
    json_t *refs = json_object_get(o, "refs");
    cr_assert_eq(json_array_size(refs), 1);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(refs, 0), "seq")), 3);
    json_decref(o);
    run_free(&r);
    /* a new person's key.add names nothing */
    keygen(d, "newbie");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "newbie.pub", "--name",
                "New Bie", "--org", "Acme CRO", "--roles", "author", "--supersedes", "1",
                "--reason", "x"),
            "supersedes no active non-admin key and reinstates no one: it carries no ref", 5);
}

Test(append, a_re_enrolment_needs_reinstates_and_a_reason, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    long rv = appended_seq(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub",
                               "--reason", "left the project"),
                           "revoke");
    cr_assert_eq(rv, 4);
    keygen(d, "carla2");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
                "Carla Rossi", "--org", "Acme CRO", "--roles", "author"),
            "every key of \"Carla Rossi\" (Acme CRO) was revoked: a new one needs a reason and "
            "one ref, to the key.revoke it reinstates from",
            5);
    /* the ref must be a revocation of one of her keys, not of someone else's */
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "decider.pub", "--reason",
           "left too"),
       "revoke 5");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
                "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--reinstates", "5",
                "--reason", "back"),
            "must name the key.revoke of one of their keys, which it reinstates from; entry 5 is "
            "not one",
            6);
    /* the tool reads the record the option names: a key.add is no revocation */
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
                "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--reinstates", "1",
                "--reason", "back"),
            "--reinstates 1: entry 1 is a key.add record, not the key.revoke it reinstates from",
            6);
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
                "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--supersedes", "4",
                "--reason", "back"),
            "--supersedes 4: entry 4 is a key.revoke record, not the key.add of the key it "
            "supersedes",
            6);
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
           "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--reinstates", "4", "--reason",
           "rejoined the study, contract 2026-07"),
       "reinstate");
    ok(LDG(d, "{}", "append", "--as", "carla2.key", "--kind", "communication", "--study", "S1",
           "--body", "-"),
       "she writes again");
    ok(LDG(d, NULL, "verify"), "verify");
}

/* ---------------------------------------- verify and verify-bundle -- */

/*
 * Appends st, signed by k, as the next entry with every index a genuine
 * append writes (and the key registry's row of a key.add), but without the
 * policy: what a host with write access to the LMDB file can do.
 */
static uint64_t
forge(ldg_ledger *l, const ldg_key *k, ldgi_stmt *st)
{
    ldg_err err;
    ldgi_txn *t;
    cr_assert_eq(ldgi_txn_begin(l, true, &t, &err), LDG_OK, "%s", err.msg);
    uint64_t size, last;
    uint8_t prev[32], salt[32], leaf[32], sk8[8], ik[300];
    cr_assert_eq(ldgi_head(t, &size, prev, &last, &err), LDG_OK);
    randombytes_buf(salt, sizeof salt);
    ldg_key_public(k, st->actor);
    ldgi_body_commit(salt, (const uint8_t *)"{}", 2, st->body);
    st->v = 1;
    st->time_ns = (int64_t)last + 1;
    ldgi_buf sb = {0}, eb = {0};
    cr_assert(ldgi_stmt_encode(st, &sb));
    ldgi_entry e = {.v = 1, .seq = size, .stmt = sb.p, .stmt_len = sb.len, .time_ns = last + 1};
    memcpy(e.prev, prev, 32);
    cr_assert(ldgi_stmt_sign(sb.p, sb.len, ldgi_key_sk(k), e.sig));
    cr_assert(ldgi_entry_encode(&e, &eb));
    ldgi_leaf_hash(eb.p, eb.len, leaf);
    ldgi_be64(sk8, size);
    uint8_t body[34];
    memcpy(body, salt, 32);
    memcpy(body + 32, "{}", 2);
    cr_assert_eq(ldgi_put(t, LDGI_DB_ENTRIES, sk8, 8, eb.p, eb.len, true, true, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_BODIES, sk8, 8, body, sizeof body, true, true, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_LEAF, leaf, 32, sk8, 8, true, false, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_COMMIT, st->body, 32, sk8, 8, true, false, &err), LDG_OK);
    size_t n = st->study.len;
    memcpy(ik, st->study.p, n);
    ik[n] = 0;
    memcpy(ik + n + 1, sk8, 8);
    cr_assert_eq(ldgi_put(t, LDGI_DB_STUDY, ik, n + 9, "", 0, false, false, &err), LDG_OK);
    n = st->kind.len;
    memcpy(ik, st->kind.p, n);
    ik[n] = 0;
    memcpy(ik + n + 1, sk8, 8);
    cr_assert_eq(ldgi_put(t, LDGI_DB_KIND, ik, n + 9, "", 0, false, false, &err), LDG_OK);
    memcpy(ik, st->actor, 32);
    memcpy(ik + 32, sk8, 8);
    cr_assert_eq(ldgi_put(t, LDGI_DB_ACTOR, ik, 40, "", 0, false, false, &err), LDG_OK);
    if (st->key_full) {
        ldgi_keystate ks = {
            .added_seq = size, .revoked_seq = UINT64_MAX, .roles = (uint8_t)ldgi_stmt_roles(st)};
        uint8_t kb[LDGI_KEYSTATE_BYTES];
        ldgi_keystate_pack(&ks, kb);
        cr_assert_eq(ldgi_put(t, LDGI_DB_KEYS, st->key_pub, 32, kb, sizeof kb, false, false, &err),
                     LDG_OK);
    }
    cr_assert_eq(ldgi_tree_add(t, size, leaf, &err), LDG_OK, "%s", err.msg);
    bool full;
    cr_assert_eq(ldgi_txn_commit(t, &full, &err), LDG_OK, "%s", err.msg);
    ldgi_buf_free(&sb);
    ldgi_buf_free(&eb);
    return size;
}

static ldgi_str
lit(const char *s)
{
    return (ldgi_str){s, strlen(s)};
}

static ldg_key *
load(const char *d, const char *name)
{
    char f[64];
    snprintf(f, sizeof f, "%s.key", name);
    ldg_key *k;
    ldg_err err;
    cr_assert_eq(ldg_key_load(path_in(d, f), NULL, 0, &k, &err), LDG_OK, "%s", err.msg);
    return k;
}

static void
leaf_of(ldg_ledger *l, uint64_t seq, uint8_t out[32])
{
    ldg_err err;
    cr_assert_eq(ldg_ledger_leaf_hash(l, seq, out, &err), LDG_OK, "%s", err.msg);
}

/* A forged approval of the given refs (n of them) by k. */
static uint64_t
forge_approval(ldg_ledger *l, const ldg_key *k, const uint64_t *refs, size_t n)
{
    ldgi_stmt *st = calloc(1, sizeof *st);
    *st = (ldgi_stmt){.kind = lit("approval"),
                      .study = lit("S1"),
                      .has_meaning = true,
                      .meaning = lit("approval"),
                      .nrefs = n};
    for (size_t i = 0; i < n; i++)
        leaf_of(l, refs[i], st->refs[i]);
    uint64_t s = forge(l, k, st);
    free(st);
    return s;
}

/* A forged key.add of the key `who` by admin; ref: the seq it names, or -1. */
static uint64_t
forge_key_add(const char *d, ldg_ledger *l, const ldg_key *admin, const char *who, const char *name,
              const char *org, const char *roles, long ref)
{
    keygen(d, who);
    ldg_key *k = load(d, who);
    ldgi_stmt *st = calloc(1, sizeof *st);
    *st = (ldgi_stmt){.kind = lit("key.add"),
                      .study = lit(""),
                      .has_key = true,
                      .key_full = true,
                      .key_id = lit(who),
                      .key_name = lit(name),
                      .key_org = lit(org)};
    ldg_key_public(k, st->key_pub);
    char *rs = strdup(roles), *save;
    for (char *r = strtok_r(rs, ",", &save); r; r = strtok_r(NULL, ",", &save))
        st->roles[st->nroles++] = lit(r);
    if (ref >= 0) {
        st->nrefs = 1;
        leaf_of(l, (uint64_t)ref, st->refs[0]);
        st->has_reason = true;
        st->reason = lit("forged");
    }
    uint64_t s = forge(l, admin, st);
    free(st);
    free(rs); /* after forge: the roles pointed into it */
    ldg_key_free(k);
    return s;
}

/* The (seq, check) of every FAIL of a --json run, as "seq:check;" pairs. */
static char *
fails_of(const char *out)
{
    char *acc = calloc(1, 1 << 16), *copy = strdup(out), *save;
    for (char *ln = strtok_r(copy, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(ln, 0, NULL);
        const char *f = json_string_value(json_object_get(o, "finding"));
        if (f && strcmp(f, "FAIL") == 0 && json_is_integer(json_object_get(o, "seq")))
            snprintf(acc + strlen(acc), (1 << 16) - strlen(acc), "%lld:%s;",
                     (long long)json_integer_value(json_object_get(o, "seq")),
                     json_string_value(json_object_get(o, "check")));
        json_decref(o);
    }
    free(copy);
    return acc;
}

/* ------------------------------------------------ bundle rewriting -- */

#define MAXM 16

typedef struct member {
    char name[100];
    char *data;
    size_t len;
} member;

typedef struct tarball {
    member m[MAXM];
    size_t n;
} tarball;

static tarball
tar_load(const char *path)
{
    tarball t = {0};
    size_t len;
    char *p = read_file(path, &len);
    cr_assert_not_null(p, "%s", path);
    for (size_t off = 0; off + 512 <= len;) {
        const char *h = p + off;
        if (!h[0])
            break;
        cr_assert_lt(t.n, MAXM);
        member *m = &t.m[t.n++];
        memcpy(m->name, h, 99);
        m->len = strtoull(h + 124, NULL, 8);
        m->data = malloc(m->len + 1);
        memcpy(m->data, p + off + 512, m->len);
        m->data[m->len] = '\0';
        off += 512 + (m->len + 511) / 512 * 512;
    }
    free(p);
    return t;
}

static void
tar_save(const tarball *t, const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (size_t i = 0; i < t->n; i++) {
        char h[512] = {0};
        memcpy(h, t->m[i].name, strlen(t->m[i].name));
        memcpy(h + 100, "0000644", 7);
        memcpy(h + 108, "0000000", 7);
        memcpy(h + 116, "0000000", 7);
        snprintf(h + 124, 12, "%011zo", t->m[i].len);
        memcpy(h + 136, "00000000000", 11);
        memset(h + 148, ' ', 8);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        unsigned sum = 0;
        for (int k = 0; k < 512; k++)
            sum += (unsigned char)h[k];
        snprintf(h + 148, 8, "%06o", sum);
        h[155] = ' ';
        fwrite(h, 1, 512, f);
        fwrite(t->m[i].data, 1, t->m[i].len, f);
        static const char zero[1024];
        fwrite(zero, 1, (512 - t->m[i].len % 512) % 512, f);
    }
    static const char end[1024];
    fwrite(end, 1, sizeof end, f);
    fclose(f);
}

static member *
get(tarball *t, const char *name)
{
    char full[100];
    snprintf(full, sizeof full, "ldg-bundle/%s", name);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->m[i].name, full) == 0)
            return &t->m[i];
    cr_assert_fail("no %s in the bundle", name);
    return NULL;
}

static void
set(member *m, char *data)
{
    free(m->data);
    m->data = data;
    m->len = strlen(data);
}

/* One evidence line [EXP-8] of entry seq, proven in the tree of size n. */
static char *
evidence(ldg_ledger *l, uint64_t seq, uint64_t n)
{
    ldg_err err;
    ldg_record *r;
    cr_assert_eq(ldg_record_get(l, seq, &r, &err), LDG_OK, "%s", err.msg);
    uint8_t h[LDG_PROOF_MAX][32];
    size_t nh;
    cr_assert_eq(ldg_proof_inclusion(l, seq, n, h, &nh, &err), LDG_OK, "%s", err.msg);
    json_t *hs = json_array();
    char b[8192];
    for (size_t i = 0; i < nh; i++) {
        sodium_bin2base64(b, sizeof b, h[i], 32, sodium_base64_VARIANT_ORIGINAL);
        json_array_append_new(hs, json_string(b));
    }
    sodium_bin2base64(b, sizeof b, r->entry, r->entry_len, sodium_base64_VARIANT_ORIGINAL);
    char salt[64], leaf[64];
    sodium_bin2base64(salt, sizeof salt, r->salt, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(leaf, sizeof leaf, r->leaf_hash, 32, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:I, s:s, s:s, s:{s:I, s:o}, s:s, s:s, s:s}", "seq", (json_int_t)seq,
                          "leaf_hash", leaf, "entry", b, "inclusion", "tree_size", (json_int_t)n,
                          "hashes", hs, "body_status", "ok", "salt", salt, "body", r->body);
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ldg_record_free(r);
    return line;
}

static bool
is_key_record(ldg_ledger *l, uint64_t seq)
{
    ldg_err err;
    ldg_record *r;
    cr_assert_eq(ldg_record_get(l, seq, &r, &err), LDG_OK, "%s", err.msg);
    bool k = strcmp(r->kind, "genesis") == 0 || strncmp(r->kind, "key.", 4) == 0;
    ldg_record_free(r);
    return k;
}

/*
 * The bundle the log key's holder makes of the forged ledger: the genuine
 * bundle `template` (exported before the forgery) with every key record of
 * the first n entries, the user records recs[0..nrecs), a checkpoint of n
 * signed by hand, and manifest.sig signed again by the log key.
 */
static void
forged_bundle(const char *d, ldg_ledger *l, uint64_t n, const uint64_t *recs, size_t nrecs,
              const char *out)
{
    ldg_err err;
    uint8_t root[32];
    cr_assert_eq(ldg_tree_root(l, n, root, &err), LDG_OK);
    char rb[64];
    sodium_bin2base64(rb, sizeof rb, root, 32, sodium_base64_VARIANT_ORIGINAL);
    tarball t = tar_load(path_in(d, "template.tar"));
    set(get(&t, "checkpoint.txt"), log_note_by_hand(d, (unsigned long)n, rb));
    char *kr = calloc(1, 1 << 20), *rr = calloc(1, 1 << 20);
    for (uint64_t s = 0; s < n; s++) {
        if (!is_key_record(l, s))
            continue;
        char *ln = evidence(l, s, n);
        strcat(strcat(kr, ln), "\n");
        free(ln);
    }
    json_t *list = json_array();
    for (size_t i = 0; i < nrecs; i++) {
        char *ln = evidence(l, recs[i], n);
        strcat(strcat(rr, ln), "\n");
        free(ln);
        json_array_append_new(list, json_integer((json_int_t)recs[i]));
    }
    set(get(&t, "keyrecords.jsonl"), kr);
    set(get(&t, "records.jsonl"), rr);
    member *mm = get(&t, "manifest.json");
    json_t *mj = json_loads(mm->data, 0, NULL);
    json_object_set_new(mj, "records", list);
    json_object_set_new(mj, "checkpoint_size", json_integer((json_int_t)n));
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(mj, "files"), i, f)
    {
        member *m = get(&t, json_string_value(json_object_get(f, "path")));
        uint8_t h[32];
        char hex[65];
        crypto_hash_sha256(h, (const unsigned char *)m->data, m->len);
        sodium_bin2hex(hex, sizeof hex, h, 32);
        json_object_set_new(f, "sha256", json_string(hex));
        json_object_set_new(f, "size", json_integer((json_int_t)m->len));
    }
    set(mm, json_dumps(mj, JSON_COMPACT));
    json_decref(mj);
    /* manifest.sig: manifest.json's line first, then the tar's order [EXP-8] */
    ldg_bundle_file files[MAXM];
    size_t nf = 0;
    for (size_t k = 0; k < t.n; k++) {
        const char *name = t.m[k].name + strlen("ldg-bundle/");
        if (strcmp(name, "manifest.sig") == 0)
            continue;
        files[nf].path = name;
        crypto_hash_sha256(files[nf].sha256, (const unsigned char *)t.m[k].data, t.m[k].len);
        nf++;
    }
    for (size_t k = 0; k < nf; k++)
        if (strcmp(files[k].path, "manifest.json") == 0) {
            ldg_bundle_file m0 = files[k];
            memmove(files + 1, files, k * sizeof *files);
            files[0] = m0;
        }
    ldg_key *logk = load(d, "log");
    char *msig;
    size_t msl;
    cr_assert_eq(ldg_bundle_sign("test.example/ledger", files, nf, logk, NULL, &msig, &msl, &err),
                 LDG_OK, "%s", err.msg);
    set(get(&t, "manifest.sig"), msig);
    tar_save(&t, path_in(d, out));
    for (size_t k = 0; k < t.n; k++)
        free(t.m[k].data);
    ldg_key_free(logk);
}

/*
 * Each rule broken by a record forged past append: `ldg verify` fails with
 * `duties` at exactly those seqs, and verify-bundle reports the same of a
 * bundle signed over them.
 */
Test(verify, records_forged_past_append_that_break_each_rule_fail_verify_and_verify_bundle,
     .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d); /* 0 genesis, 1 Carla Rossi author, 2 Dr Sam Patel decider, 3 Quinn Avery */
    ok(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
           "--body", "-"),
       "decision 4");
    ok(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning", "approval",
           "--study", "S1", "--ref", "4", "--body", "-"),
       "approval 5");
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
           "left"),
       "revoke 6");
    ok(LDG(d, NULL, "export", "--format", "bundle", "-o", "template.tar", "--as", "log.key"),
       "a genuine bundle");
    ok(LDG(d, NULL, "verify"), "clean so far");

    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldg_key *admin = load(d, "admin"), *approver = load(d, "approver");
    /* 7 [POL-12]: an approval that refs nothing */
    uint64_t s7 = forge_approval(l, approver, NULL, 0);
    /* 8 [POL-13]: Quinn approves Quinn's own approval (same key) */
    const uint64_t r5 = 5;
    uint64_t s8 = forge_approval(l, approver, &r5, 1);
    /* 9 [POL-14]: an admin key that also authors */
    uint64_t s9 = forge_key_add(d, l, admin, "eve", "Eve Admin", "Acme CRO", "admin,author", -1);
    /* 10 [POL-15]: a second active key of Quinn Avery that names nothing */
    uint64_t s10 =
        forge_key_add(d, l, admin, "quinn2", "QUINN AVERY", " Helix Pharma ", "approver", -1);
    /* 11 [POL-13]: that second key approves Quinn's approval 5 (same identity) */
    ldg_key *quinn2 = load(d, "quinn2");
    uint64_t s11 = forge_approval(l, quinn2, &r5, 1);
    /* 12 [POL-15]: Carla Rossi (revoked at 6) re-enrolled without naming the revocation */
    uint64_t s12 = forge_key_add(d, l, admin, "carla2", "Carla Rossi", "Acme CRO", "author", -1);
    /* 13 [POL-15]: a "supersede" that names the key.add of another person */
    uint64_t s13 = forge_key_add(d, l, admin, "sam2", "Dr Sam Patel", "Helix Pharma", "decider", 1);
    /* 14: the allowed forms, forged the same way, are not reported: a reinstatement of a
       revoked person is fine only with the ref; this one supersedes properly */
    uint64_t s14 = forge_key_add(d, l, admin, "sam3", "Dr Sam Patel", "Helix Pharma", "author", 2);
    cr_assert_eq(s14, 14);
    uint64_t n = 15;

    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *want = fails_of(r.out);
    const uint64_t bad[] = {s7, s8, s9, s10, s11, s12, s13};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char pair[64];
        snprintf(pair, sizeof pair, "%llu:duties;", (unsigned long long)bad[i]);
        cr_assert(strstr(want, pair), "verify reports %s: %s", pair, r.out);
    }
    /* nothing else fails: the forgeries are whole records, only their duties are wrong */
    char *p = want;
    size_t nf = 0;
    while ((p = strstr(p, ":")) != NULL) {
        cr_assert_eq(strncmp(p, ":duties;", 8), 0, "only duties fail: %s", want);
        p++;
        nf++;
    }
    cr_assert_eq(nf, 7, "one finding per forged record, none at 14: %s", want);
    /* the messages say which rule */
    cr_assert(strstr(r.out, "an approval needs at least one ref"), "%s", r.out);
    cr_assert(strstr(r.out, "signed by this same key"), "%s", r.out);
    cr_assert(strstr(r.out, "an admin key holds no other role"), "%s", r.out);
    cr_assert(strstr(r.out, "already holds an active non-admin key"), "%s", r.out);
    cr_assert(strstr(r.out, "of the same person"), "%s", r.out);
    cr_assert(strstr(r.out, "every key of \\\"Carla Rossi\\\" (Acme CRO) was revoked"), "%s",
              r.out);
    cr_assert(strstr(r.out, "must name the key.add of the active non-admin key it supersedes; "
                            "entry 1 is not one"),
              "%s", r.out);
    run_free(&r);
    /* the text form names the check too, exit 1 */
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.out, "duties") || strstr(r.err, "duties"), "%s%s", r.out, r.err);
    run_free(&r);

    /* verify-bundle of the records 4, 5, 7, 8, 11 and every key record: the same findings */
    const uint64_t recs[] = {4, 5, s7, s8, s11};
    forged_bundle(d, l, n, recs, 5, "forged.tar");
    r = LDG(d, NULL, "verify-bundle", "forged.tar", "--trust", "log.pub", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *got = fails_of(r.out);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char pair[64];
        snprintf(pair, sizeof pair, "%llu:duties;", (unsigned long long)bad[i]);
        cr_assert(strstr(got, pair), "verify-bundle reports %s as verify does:\n%s", pair, r.out);
    }
    cr_assert_eq(strlen(got), strlen(want), "and nothing else: %s\nverify: %s", got, want);
    cr_assert(strstr(r.out, "\"unchecked_links\":0"), "every ref was checked: %s", r.out);
    run_free(&r);
    free(got);

    /* without the records they judge, the bundle cannot tell: counted, not guessed */
    const uint64_t only[] = {s8, s11};
    forged_bundle(d, l, n, only, 2, "partial.tar");
    r = LDG(d, NULL, "verify-bundle", "partial.tar", "--trust", "log.pub", "--json");
    got = fails_of(r.out);
    cr_assert_null(strstr(got, "8:duties;"), "entry 5 is not in the bundle: %s", r.out);
    cr_assert_null(strstr(got, "11:duties;"), "entry 5 is not in the bundle: %s", r.out);
    cr_assert(strstr(got, "9:duties;") && strstr(got, "12:duties;"),
              "the key records are all there: %s", r.out);
    const char *u = strstr(r.out, "\"unchecked_links\":");
    cr_assert(u && strtol(u + 18, NULL, 10) >= 2, "the two refs are counted unchecked: %s", r.out);
    run_free(&r);
    free(got);
    free(want);
    ldg_key_free(admin);
    ldg_key_free(approver);
    ldg_key_free(quinn2);
    ldg_ledger_close(l);
}

/* ------------------------------------------- the normal form [POL-13] -- */

Test(identity, the_normal_form_trims_collapses_drops_invisibles_and_folds_ascii)
{
    static const struct {
        const char *in, *want;
    } v[] = {
        {"Quinn Avery", "quinn avery"},
        {"  QUINN \t  avery  ", "quinn avery"},
        {"Quinn\xc2\xa0\xe2\x80\x83"
         "Avery",
         "quinn avery"}, /* NBSP, EM SPACE */
        {"Qu\xe2\x80\x8binn Av\xc2\xad"
         "ery",
         "quinn avery"}, /* ZWSP, soft hyphen */
        {"\xef\xbb\xbf"
         "Quinn \xe2\x80\x8b Avery\xe3\x80\x80",
         "quinn avery"},
        {"\xc3\x89mile \xc3\x89", "\xc3\x89mile \xc3\x89"}, /* no folding beyond ASCII */
        {"Qu\xd0\xb0nn", "qu\xd0\xb0nn"},                   /* a Cyrillic a stays itself */
        {"   ", ""},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[64];
        size_t n = ldgi_identity_norm(lit(v[i].in), out);
        cr_assert_eq(n, strlen(v[i].want), "case %zu: %.*s", i, (int)n, out);
        cr_assert_eq(memcmp(out, v[i].want, n), 0, "case %zu: %.*s", i, (int)n, out);
    }
    uint8_t a[32], b[32], c[32];
    ldgi_identity(lit("Quinn Avery"), lit("Helix Pharma"), a);
    ldgi_identity(lit(" quinn  AVERY"), lit("HELIX\xc2\xa0pharma"), b);
    ldgi_identity(lit("Quinn Avery"), lit("Helix Pharma Ltd"), c);
    cr_assert_eq(memcmp(a, b, 32), 0);
    cr_assert_neq(memcmp(a, c, 32), 0);
    /* the name and the organisation do not run into each other */
    ldgi_identity(lit("Quinn Avery Helix"), lit("Pharma"), c);
    cr_assert_neq(memcmp(a, c, 32), 0);
}

/* ---------------------------------- [POL-12] user records, [POL-16] -- */

Test(append, an_approval_or_rejection_judges_user_records_only, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d); /* 0 genesis, 1..3 key.add */
    ok(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
           "--body", "-"),
       "decision 4");
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--ref", "0", "--body", "-"),
            "an approval judges user records only: ref 1 names entry 0, a genesis record", 5);
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "rejection", "--meaning",
                "review", "--study", "S1", "--ref", "1", "--body", "-"),
            "a rejection judges user records only: ref 1 names entry 1, a key.add record", 5);
    /* beside a user record too: every ref is what is judged */
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--ref", "4", "--ref", "2", "--body", "-"),
            "ref 2 names entry 2, a key.add record", 5);
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
           "left"),
       "revoke 5");
    refused(d,
            LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                "approval", "--study", "S1", "--ref", "5", "--body", "-"),
            "ref 1 names entry 5, a key.revoke record", 6);
    /* in a batch the line is named and nothing of the batch is written */
    write_file(d, "b.jsonl",
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[4]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[3]}\n");
    refused(d, LDG(d, NULL, "append", "--as", "approver.key", "--batch", "b.jsonl"),
            "line 2: an approval judges user records only", 6);
    /* the user record alone: allowed */
    cr_assert_eq(
        appended_seq(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval",
                         "--meaning", "approval", "--study", "S1", "--ref", "4", "--body", "-"),
                     "approval of the decision"),
        6);
}

Test(append, no_one_registers_a_key_for_themselves, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d); /* Ada Admin (Acme CRO) holds the genesis admin key */
    keygen(d, "ada2");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "ada2.pub", "--name",
                "Ada Admin", "--org", "Acme CRO", "--roles", "approver,author,decider,eraser,qa"),
            "no one registers a key for themselves: the key.add for \"Ada Admin\" (Acme CRO) is "
            "signed by an admin key of that same person",
            4);
    /* spelt otherwise, the same person [POL-13] */
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "ada2.pub", "--name",
                " ada\xc2\xa0 ADMIN", "--org", "acme cro", "--roles", "author"),
            "no one registers a key for themselves", 4);
    /* a new admin key of her own, even one that says what it supersedes */
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "ada2.pub", "--name",
                "Ada Admin", "--org", "Acme CRO", "--roles", "admin", "--supersedes", "0",
                "--reason", "new laptop"),
            "another admin must register it", 4);
    /* the allowed form: a second admin, another person, enrols her */
    keygen(d, "rob");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "rob.pub", "--name", "Rob Root",
           "--org", "Acme CRO", "--roles", "admin"),
       "key add 4: a second admin");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "rob.key", "--pub", "ada2.pub", "--name",
                "Rob Root", "--org", "Acme CRO", "--roles", "author"),
            "the key.add for \"Rob Root\" (Acme CRO)", 5);
    cr_assert_eq(appended_seq(LDG(d, NULL, "key", "add", "--as", "rob.key", "--pub", "ada2.pub",
                                  "--name", "Ada Admin", "--org", "Acme CRO", "--roles", "author"),
                              "Rob enrols Ada's author key"),
                 5);
    ok(LDG(d, "{}", "append", "--as", "ada2.key", "--kind", "communication", "--study", "S1",
           "--body", "-"),
       "she writes with it");
    /* revoking one's own key gives no right: allowed */
    cr_assert_eq(appended_seq(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub",
                                  "admin.pub", "--reason", "laptop lost"),
                              "Ada revokes her own admin key"),
                 7);
    ok(LDG(d, NULL, "verify"), "verify");
}

/*
 * [POL-12] refs to system records and [POL-16] a self-enrolment, forged
 * past append: verify and verify-bundle report `duties` there, and not at
 * the allowed forms beside them.
 */
Test(verify, forged_judgements_of_key_records_and_self_enrolments_fail_verify_and_verify_bundle,
     .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d); /* 0 genesis (Ada Admin), 1 Carla Rossi, 2 Dr Sam Patel, 3 Quinn Avery */
    ok(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
           "--body", "-"),
       "decision 4");
    ok(LDG(d, NULL, "export", "--format", "bundle", "-o", "template.tar", "--as", "log.key"),
       "a genuine bundle");
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldg_key *admin = load(d, "admin"), *approver = load(d, "approver");
    /* 5 [POL-12]: an approval of a key.add alone */
    const uint64_t r1 = 1, r40[] = {4, 0};
    uint64_t s5 = forge_approval(l, approver, &r1, 1);
    /* 6 [POL-12]: an approval of the decision and the genesis */
    uint64_t s6 = forge_approval(l, approver, r40, 2);
    /* 7 [POL-16]: Ada Admin mints herself a key with every content role */
    uint64_t s7 = forge_key_add(d, l, admin, "ada2", "Ada Admin", "Acme CRO",
                                "approver,author,decider,eraser,qa", -1);
    /* 8, 9: allowed: a second admin, who supersedes Ada's content key for her */
    uint64_t s8 = forge_key_add(d, l, admin, "rob", "Rob Root", "Acme CRO", "admin", -1);
    ldg_key *rob = load(d, "rob");
    uint64_t s9 = forge_key_add(d, l, rob, "ada3", "ADA  admin", "Acme CRO", "author", (long)s7);
    cr_assert_eq(s9, 9);
    uint64_t n = 10;

    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *want = fails_of(r.out);
    char expect[128];
    snprintf(expect, sizeof expect, "%llu:duties;%llu:duties;%llu:duties;", (unsigned long long)s5,
             (unsigned long long)s6, (unsigned long long)s7);
    cr_assert_str_eq(want, expect, "one duties finding at each forgery, none at %llu, %llu: %s",
                     (unsigned long long)s8, (unsigned long long)s9, r.out);
    cr_assert(strstr(r.out, "an approval judges user records only: ref 1 names entry 1, a key.add "
                            "record"),
              "%s", r.out);
    cr_assert(strstr(r.out, "ref 2 names entry 0, a genesis record"), "%s", r.out);
    cr_assert(strstr(r.out, "no one registers a key for themselves"), "%s", r.out);
    run_free(&r);

    const uint64_t recs[] = {4, s5, s6};
    forged_bundle(d, l, n, recs, 3, "forged.tar");
    r = LDG(d, NULL, "verify-bundle", "forged.tar", "--trust", "log.pub", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *got = fails_of(r.out);
    /* the same findings (the bundle reads its key records first: another order) */
    const uint64_t bad[] = {s5, s6, s7};
    for (size_t i = 0; i < 3; i++) {
        char pair[64];
        snprintf(pair, sizeof pair, "%llu:duties;", (unsigned long long)bad[i]);
        cr_assert(strstr(got, pair), "verify-bundle reports %s as verify does: %s", pair, r.out);
    }
    cr_assert_eq(strlen(got), strlen(want), "and nothing else: %s", r.out);
    cr_assert(strstr(r.out, "no one registers a key for themselves"), "%s", r.out);
    run_free(&r);
    free(got);
    free(want);
    ldg_key_free(admin);
    ldg_key_free(approver);
    ldg_key_free(rob);
    ldg_ledger_close(l);
}

/* Messages that name a kind use "an" before a vowel: "of an approval record". */
Test(append, messages_name_an_approval_or_an_action_with_the_right_article, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
           "--body", "-"),
       "decision 4");
    static const struct {
        const char *key, *kind, *body, *want;
    } v[] = {
        {"approver.key", "approval", "{\"priority\":\"soon\"}",
         "body field \"priority\" of an approval record must be"},
        {"author.key", "action", "{\"status\":\"half\"}",
         "body field \"status\" of an action record must be"},
        {"author.key", "escalation", "{\"priority\":\"soon\"}", "of an escalation record"},
        {"author.key", "communication", "{\"priority\":\"soon\"}", "of a communication record"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        run_result r = LDG(d, v[i].body, "append", "--as", v[i].key, "--kind", v[i].kind,
                           "--meaning", "approval", "--study", "S1", "--ref", "4", "--body", "-");
        if (strcmp(v[i].kind, "approval") != 0) {
            run_free(&r);
            r = LDG(d, v[i].body, "append", "--as", v[i].key, "--kind", v[i].kind, "--study", "S1",
                    "--ref", "4", "--body", "-");
        }
        cr_assert_eq(r.status, 2, "%s: %s", v[i].kind, r.err);
        cr_assert(strstr(r.err, v[i].want), "want \"%s\" in: %s", v[i].want, r.err);
        run_free(&r);
    }
    ok(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning", "approval",
           "--study", "S1", "--ref", "4", "--body", "-"),
       "approval 5");
    keygen(d, "quinn2");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "5",
                "--reason", "new laptop"),
            "--supersedes 5: entry 5 is an approval record, not the key.add", 6);
}
