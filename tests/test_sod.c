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
#include "forge.h" /* the forger's view: encode, sign and store entries past the policy */

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers -- */

/* The head (the last line's seq) as `ldg log` prints it: the ledger's size, cheaply. */
static long
size_of(const char *d)
{
    return ledger_size(d);
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
    must(LDG(d, NULL, "keygen", "--name", name, "--out", name, "--unencrypted"), "keygen");
}

/* ------------------------------------------------- append: [POL-12] -- */

Test(append, an_approval_or_rejection_without_a_ref_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    must(LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
             "--body", "-"),
         "communication 4");
    policy_refused_cleanly(d,
                           LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval",
                               "--meaning", "approval", "--study", "S1", "--body", "-"),
                           "an approval needs at least one ref: the record it approves", 5);
    policy_refused_cleanly(d,
                           LDG(d, "{}", "append", "--as", "approver.key", "--kind", "rejection",
                               "--meaning", "review", "--study", "S1", "--body", "-"),
                           "a rejection needs at least one ref: the record it rejects", 5);
    /* in a batch: the line is named, nothing of the batch is written */
    write_file(d, "b.jsonl",
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[4]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\"}\n");
    policy_refused_cleanly(d, LDG(d, NULL, "append", "--as", "approver.key", "--batch", "b.jsonl"),
                           "line 2: an approval needs at least one ref", 5);
    /* signed elsewhere: `ldg sign` refuses it before signing */
    policy_refused_cleanly(d,
                           LDG(d, "{}", "sign", "--as", "approver.key", "--kind", "approval",
                               "--meaning", "approval", "--study", "S1", "--body", "-"),
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
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "chief.pub", "--name",
             "Dana Chief", "--org", "Helix Pharma", "--roles", "approver,decider"),
         "key add");
    long dec = appended_seq(LDG(d, "{\"subject\":\"go\"}", "append", "--as", "chief.key", "--kind",
                                "decision", "--study", "S1", "--body", "-"),
                            "decision");
    cr_assert_eq(dec, 5);
    policy_refused_cleanly(
        d,
        LDG(d, "{}", "append", "--as", "chief.key", "--kind", "approval", "--meaning", "approval",
            "--study", "S1", "--ref", "5", "--body", "-"),
        "no one approves their own record: ref 1 names entry 5, signed by this same key", 6);
    /* every ref counts: one of two refs is their own */
    must(LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
             "--body", "-"),
         "communication 6");
    policy_refused_cleanly(d,
                           LDG(d, "{}", "append", "--as", "chief.key", "--kind", "rejection",
                               "--meaning", "review", "--study", "S1", "--ref", "6", "--ref", "5",
                               "--body", "-"),
                           "no one rejects their own record: ref 2 names entry 5", 7);
    /* someone else's record: allowed */
    must(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
             "approval", "--study", "S1", "--ref", "5", "--body", "-"),
         "approval of another person's decision");
    cr_assert_eq(size_of(d), 8);
}

Test(append, no_one_approves_a_record_of_another_key_of_their_identity, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    keygen(d, "quinn2");
    /* Quinn Avery (Helix Pharma, key at 3) again, spelt otherwise: the same person [POL-13] */
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
             "  quinn\xc2\xa0 AVERY ", "--org", "HELIX pharma\xe2\x80\x8b", "--roles",
             "approver,author", "--supersedes", "3", "--reason", "second device for travel"),
         "supersede");
    long c = appended_seq(LDG(d, "{}", "append", "--as", "quinn2.key", "--kind", "communication",
                              "--study", "S1", "--body", "-"),
                          "communication");
    cr_assert_eq(c, 5);
    policy_refused_cleanly(
        d,
        LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
            "approval", "--study", "S1", "--ref", "5", "--body", "-"),
        "no one approves their own record: ref 1 names entry 5, signed by key ", 6);
    run_result r = LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                       "approval", "--study", "S1", "--ref", "5", "--body", "-");
    cr_assert(strstr(r.err, "of the same person (printed name and organisation)"), "%s", r.err);
    run_free(&r);
    /* another person of the same organisation may */
    must(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
             "--ref", "5", "--body", "-"),
         "decision");
    must(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
             "approval", "--study", "S1", "--ref", "6", "--body", "-"),
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
        policy_refused_cleanly(d,
                               LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "root2.pub",
                                   "--name", "Rob Root", "--org", "Acme CRO", "--roles", bad[i]),
                               "an admin key holds no other role", 4);
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "root2.pub", "--name", "Rob Root",
             "--org", "Acme CRO", "--roles", "admin"),
         "an admin key with admin alone");
    /* an admin who also writes records has a second key, of the other class: no supersede */
    keygen(d, "ada2");
    must(LDG(d, NULL, "key", "add", "--as", "root2.key", "--pub", "ada2.pub", "--name", "Ada Admin",
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
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
            "Quinn  Avery", "--org", "helix pharma", "--roles", "approver"),
        "\"Quinn  Avery\" (helix pharma) already holds an active non-admin key: a second one "
        "needs a reason and one ref, to the key.add of the key it supersedes",
        4);
    /* the ref must be the key.add of that person's active key, of the same class */
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
            "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "1",
            "--reason", "new laptop"),
        "must name the key.add of the active non-admin key it supersedes; entry 1 is not one", 4);
    policy_refused_cleanly(d,
                           LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub",
                               "--name", "Quinn Avery", "--org", "Helix Pharma", "--roles",
                               "approver", "--supersedes", "0", "--reason", "new laptop"),
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
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "newbie.pub", "--name", "New Bie",
            "--org", "Acme CRO", "--roles", "author", "--supersedes", "1", "--reason", "x"),
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
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
            "Carla Rossi", "--org", "Acme CRO", "--roles", "author"),
        "every key of \"Carla Rossi\" (Acme CRO) was revoked: a new one needs a reason and "
        "one ref, to the key.revoke it reinstates from",
        5);
    /* the ref must be a revocation of one of her keys, not of someone else's */
    must(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "decider.pub", "--reason",
             "left too"),
         "revoke 5");
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
            "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--reinstates", "5",
            "--reason", "back"),
        "must name the key.revoke of one of their keys, which it reinstates from; entry 5 is "
        "not one",
        6);
    /* the tool reads the record the option names: a key.add is no revocation */
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
            "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--reinstates", "1",
            "--reason", "back"),
        "--reinstates 1: entry 1 is a key.add record, not the key.revoke it reinstates from", 6);
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
            "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--supersedes", "4",
            "--reason", "back"),
        "--supersedes 4: entry 4 is a key.revoke record, not the key.add of the key it "
        "supersedes",
        6);
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "carla2.pub", "--name",
             "Carla Rossi", "--org", "Acme CRO", "--roles", "author", "--reinstates", "4",
             "--reason", "rejoined the study, contract 2026-07"),
         "reinstate");
    must(LDG(d, "{}", "append", "--as", "carla2.key", "--kind", "communication", "--study", "S1",
             "--body", "-"),
         "she writes again");
    must(LDG(d, NULL, "verify"), "verify");
}

/* ---------------------------------------- verify and verify-bundle -- */

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
    *st = (ldgi_stmt){.kind = str_lit("approval"),
                      .study = str_lit("S1"),
                      .has_meaning = true,
                      .meaning = str_lit("approval"),
                      .nrefs = n};
    for (size_t i = 0; i < n; i++)
        leaf_of(l, refs[i], st->refs[i]);
    uint64_t s = forge_record(l, k, st, NULL);
    free(st);
    return s;
}

/* A forged key.add of the key `who` by admin; ref: the seq it names, or -1. */
static uint64_t
forge_key_add(const char *d, ldg_ledger *l, const ldg_key *admin, const char *who, const char *name,
              const char *org, const char *roles, long ref)
{
    keygen(d, who);
    ldg_key *k = load_key(d, who);
    ldgi_stmt *st = calloc(1, sizeof *st);
    *st = (ldgi_stmt){.kind = str_lit("key.add"),
                      .study = str_lit(""),
                      .has_key = true,
                      .key_full = true,
                      .key_id = str_lit(who),
                      .key_name = str_lit(name),
                      .key_org = str_lit(org)};
    ldg_key_public(k, st->key_pub);
    char *rs = strdup(roles), *save;
    for (char *r = strtok_r(rs, ",", &save); r; r = strtok_r(NULL, ",", &save))
        st->roles[st->nroles++] = str_lit(r);
    if (ref >= 0) {
        st->nrefs = 1;
        leaf_of(l, (uint64_t)ref, st->refs[0]);
        st->has_reason = true;
        st->reason = str_lit("forged");
    }
    uint64_t s = forge_record(l, admin, st, NULL);
    free(st);
    free(rs); /* after forge: the roles pointed into it */
    ldg_key_free(k);
    return s;
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
    must(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
             "--body", "-"),
         "decision 4");
    must(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
             "approval", "--study", "S1", "--ref", "4", "--body", "-"),
         "approval 5");
    must(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
             "left"),
         "revoke 6");
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "template.tar", "--as", "log.key"),
         "a genuine bundle");
    must(LDG(d, NULL, "verify"), "clean so far");

    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldg_key *admin = load_key(d, "admin"), *approver = load_key(d, "approver");
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
    ldg_key *quinn2 = load_key(d, "quinn2");
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
    char *want = verify_failures(r.out);
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
    bundle_forge(d, l, n, recs, 5, "template.tar", "forged.tar");
    r = LDG(d, NULL, "verify-bundle", "forged.tar", "--trust", "log.pub", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *got = verify_failures(r.out);
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
    bundle_forge(d, l, n, only, 2, "template.tar", "partial.tar");
    r = LDG(d, NULL, "verify-bundle", "partial.tar", "--trust", "log.pub", "--json");
    got = verify_failures(r.out);
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
        size_t n = ldgi_identity_norm(str_lit(v[i].in), out);
        cr_assert_eq(n, strlen(v[i].want), "case %zu: %.*s", i, (int)n, out);
        cr_assert_eq(memcmp(out, v[i].want, n), 0, "case %zu: %.*s", i, (int)n, out);
    }
    uint8_t a[32], b[32], c[32];
    ldgi_identity(str_lit("Quinn Avery"), str_lit("Helix Pharma"), a);
    ldgi_identity(str_lit(" quinn  AVERY"), str_lit("HELIX\xc2\xa0pharma"), b);
    ldgi_identity(str_lit("Quinn Avery"), str_lit("Helix Pharma Ltd"), c);
    cr_assert_eq(memcmp(a, b, 32), 0);
    cr_assert_neq(memcmp(a, c, 32), 0);
    /* the name and the organisation do not run into each other */
    ldgi_identity(str_lit("Quinn Avery Helix"), str_lit("Pharma"), c);
    cr_assert_neq(memcmp(a, c, 32), 0);
}

/* ---------------------------------- [POL-12] user records, [POL-16] -- */

Test(append, an_approval_or_rejection_judges_user_records_only, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d); /* 0 genesis, 1..3 key.add */
    must(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
             "--body", "-"),
         "decision 4");
    policy_refused_cleanly(
        d,
        LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
            "approval", "--study", "S1", "--ref", "0", "--body", "-"),
        "an approval judges user records only: ref 1 names entry 0, a genesis record", 5);
    policy_refused_cleanly(
        d,
        LDG(d, "{}", "append", "--as", "approver.key", "--kind", "rejection", "--meaning", "review",
            "--study", "S1", "--ref", "1", "--body", "-"),
        "a rejection judges user records only: ref 1 names entry 1, a key.add record", 5);
    /* beside a user record too: every ref is what is judged */
    policy_refused_cleanly(d,
                           LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval",
                               "--meaning", "approval", "--study", "S1", "--ref", "4", "--ref", "2",
                               "--body", "-"),
                           "ref 2 names entry 2, a key.add record", 5);
    must(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
             "left"),
         "revoke 5");
    policy_refused_cleanly(d,
                           LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval",
                               "--meaning", "approval", "--study", "S1", "--ref", "5", "--body",
                               "-"),
                           "ref 1 names entry 5, a key.revoke record", 6);
    /* in a batch the line is named and nothing of the batch is written */
    write_file(d, "b.jsonl",
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[4]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[3]}\n");
    policy_refused_cleanly(d, LDG(d, NULL, "append", "--as", "approver.key", "--batch", "b.jsonl"),
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
    policy_refused_cleanly(
        d,
        LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "ada2.pub", "--name", "Ada Admin",
            "--org", "Acme CRO", "--roles", "approver,author,decider,eraser,qa"),
        "no one registers a key for themselves: the key.add for \"Ada Admin\" (Acme CRO) is "
        "signed by an admin key of that same person",
        4);
    /* spelt otherwise, the same person [POL-13] */
    policy_refused_cleanly(d,
                           LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "ada2.pub",
                               "--name", " ada\xc2\xa0 ADMIN", "--org", "acme cro", "--roles",
                               "author"),
                           "no one registers a key for themselves", 4);
    /* a new admin key of her own, even one that says what it supersedes */
    policy_refused_cleanly(d,
                           LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "ada2.pub",
                               "--name", "Ada Admin", "--org", "Acme CRO", "--roles", "admin",
                               "--supersedes", "0", "--reason", "new laptop"),
                           "another admin must register it", 4);
    /* the allowed form: a second admin, another person, enrols her */
    keygen(d, "rob");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "rob.pub", "--name", "Rob Root",
             "--org", "Acme CRO", "--roles", "admin"),
         "key add 4: a second admin");
    policy_refused_cleanly(d,
                           LDG(d, NULL, "key", "add", "--as", "rob.key", "--pub", "ada2.pub",
                               "--name", "Rob Root", "--org", "Acme CRO", "--roles", "author"),
                           "the key.add for \"Rob Root\" (Acme CRO)", 5);
    cr_assert_eq(appended_seq(LDG(d, NULL, "key", "add", "--as", "rob.key", "--pub", "ada2.pub",
                                  "--name", "Ada Admin", "--org", "Acme CRO", "--roles", "author"),
                              "Rob enrols Ada's author key"),
                 5);
    must(LDG(d, "{}", "append", "--as", "ada2.key", "--kind", "communication", "--study", "S1",
             "--body", "-"),
         "she writes with it");
    /* revoking one's own key gives no right: allowed */
    cr_assert_eq(appended_seq(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub",
                                  "admin.pub", "--reason", "laptop lost"),
                              "Ada revokes her own admin key"),
                 7);
    must(LDG(d, NULL, "verify"), "verify");
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
    must(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
             "--body", "-"),
         "decision 4");
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "template.tar", "--as", "log.key"),
         "a genuine bundle");
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldg_key *admin = load_key(d, "admin"), *approver = load_key(d, "approver");
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
    ldg_key *rob = load_key(d, "rob");
    uint64_t s9 = forge_key_add(d, l, rob, "ada3", "ADA  admin", "Acme CRO", "author", (long)s7);
    cr_assert_eq(s9, 9);
    uint64_t n = 10;

    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *want = verify_failures(r.out);
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
    bundle_forge(d, l, n, recs, 3, "template.tar", "forged.tar");
    r = LDG(d, NULL, "verify-bundle", "forged.tar", "--trust", "log.pub", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *got = verify_failures(r.out);
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
    must(LDG(d, "{}", "append", "--as", "decider.key", "--kind", "decision", "--study", "S1",
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
    must(LDG(d, "{}", "append", "--as", "approver.key", "--kind", "approval", "--meaning",
             "approval", "--study", "S1", "--ref", "4", "--body", "-"),
         "approval 5");
    keygen(d, "quinn2");
    policy_refused_cleanly(d,
                           LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub",
                               "--name", "Quinn Avery", "--org", "Helix Pharma", "--roles",
                               "approver", "--supersedes", "5", "--reason", "new laptop"),
                           "--supersedes 5: entry 5 is an approval record, not the key.add", 6);
}
