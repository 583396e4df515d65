/*
 * test_erase.c - "missing is not withheld" [POL-11][VER-8]: a body leaves the
 * ledger only through a signed erasure record appended in the same
 * transaction (`ldg erase`, or `ldg append --signed`/`--batch`); verify
 * reports it ERASED with who, when and why, and a body missing without one,
 * or an erased body put back, as an integrity failure.  Everything runs the
 * real `ldg` binary on real LMDB files.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

/*
 * make_ledger (seq 0..3), then 4: key.add of "Erin Eraser" (Helix Pharma,
 * role eraser), 5..7: communications of study S1 with bodies
 * {"n":N,"subject":"patient N"}.
 */
static void
make_records(const char *d, bool eraser)
{
    fixture_begin();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "eraser", "--out", "eraser", "--unencrypted"), "keygen");
    if (eraser)
        ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eraser.pub", "--name",
               "Erin Eraser", "--org", "Helix Pharma", "--roles", "eraser"),
           "key add eraser");
    else /* the same seqs without the role this change adds (and tests run on the old code) */
        ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eraser.pub", "--name",
               "Erin Eraser", "--org", "Helix Pharma", "--roles", "author"),
           "key add");
    for (int i = 5; i < 8; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"subject\":\"patient %d\",\"n\":%d}", i, i);
        run_result r = LDG(d, body, "append", "--as", "author.key", "--kind", "communication",
                           "--study", "S1", "--body", "-");
        cr_assert_eq(r.status, 0, "append: %s", r.err);
        cr_assert_eq(strtol(r.out, NULL, 10), i);
        run_free(&r);
    }
    fixture_end();
}
#define make_erase_ledger(d) make_records((d), true)

/* The stored body row of seq (salt || body), or NULL when there is none. */
static void *
body_row(const char *d, uint64_t seq, size_t *len)
{
    uint8_t k[8];
    void *v = NULL;
    seq_key(seq, k);
    return lmdb_get_value(d, "bodies", k, 8, &v, len) == 0 ? v : NULL;
}

static bool
has_body(const char *d, uint64_t seq)
{
    size_t n;
    void *v = body_row(d, seq, &n);
    free(v);
    return v != NULL;
}

/* True when `verify --json` output holds a finding of this level, seq and check. */
static bool
has_finding(const char *out, const char *level, long seq, const char *check)
{
    for (const char *p = out; p && *p;) {
        const char *nl = strchr(p, '\n');
        json_t *o = json_loadb(p, nl ? (size_t)(nl - p) : strlen(p), 0, NULL);
        p = nl ? nl + 1 : NULL;
        const char *f = json_string_value(json_object_get(o, "finding"));
        json_t *s = json_object_get(o, "seq");
        const char *c = json_string_value(json_object_get(o, "check"));
        bool hit = f && strcmp(f, level) == 0 && c && strcmp(c, check) == 0 &&
                   (seq < 0 ? json_is_null(s) : json_integer_value(s) == seq);
        json_decref(o);
        if (hit)
            return true;
    }
    return false;
}

/* The last line of `verify --json`: the verdict object (a view into out). */
static json_t *
verdict(const char *out)
{
    const char *last = out, *p;
    while ((p = strchr(last, '\n')) && p[1])
        last = p + 1;
    return json_loads(last, JSON_DISABLE_EOF_CHECK, NULL);
}

static void
erase(const char *d, const char *seq, int want, const char *why)
{
    run_result r = LDG(d, NULL, "erase", seq, "--as", "eraser.key", "--reason",
                       "data subject request 2025-117", "--legal-basis", "GDPR Art. 17(1)(b)");
    cr_assert_eq(r.status, want, "%s: exit %d: %s%s", why, r.status, r.out, r.err);
    run_free(&r);
}

/* Signs a statement as the eraser (ldg sign) into dir/name. */
static void
sign_to(const char *d, const char *name, const char *body, const char *const *args)
{
    const char *argv[32] = {"sign", "--as", "eraser.key", "--body", "-"};
    size_t n = 5;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    run_result r = ldg_run(d, body, argv);
    cr_assert_eq(r.status, 0, "sign: %s", r.err);
    write_file(d, name, r.out);
    run_free(&r);
}
#define SIGN(d, name, body, ...)                                                                   \
    sign_to((d), (name), (body), (const char *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------ verify -- */

/* The old verifier called a deleted row "WITHHELD" and exited 0. */
Test(erase, detects_body_deleted_without_an_erasure_record, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_records(d, false);
    /* the log key signs only a ledger that checks [CKP-2]: the checkpoint comes first */
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    uint8_t k[8];
    seq_key(6, k);
    cr_assert_eq(lmdb_del_key(d, "bodies", k, 8), 0);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "a missing body is an integrity failure: %s", r.out);
    cr_assert(strstr(r.out, "FAIL     #6      body: body missing without an erasure record"), "%s",
              r.out);
    cr_assert_null(strstr(r.out, "WITHHELD"), "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1);
    cr_assert(has_finding(r.out, "FAIL", 6, "body"), "%s", r.out);
    run_free(&r);
    /* show and log say the body is missing, not withheld */
    r = LDG(d, NULL, "show", "6", "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(o, "body_status")), "missing", "%s", r.out);
    json_decref(o);
    run_free(&r);
    /* an export marks it and exits 1, as for an altered body */
    r = LDG(d, NULL, "export", "--format", "jsonl", "-o", "t.jsonl");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "missing"), "%s", r.err);
    run_free(&r);
    char p[600];
    snprintf(p, sizeof p, "%s/t.jsonl", d);
    char *t = read_file(p, NULL);
    cr_assert(t && strstr(t, "\"body_status\":\"missing\""), "%s", t);
    free(t);
}

Test(erase, erase_removes_the_body_and_verify_reports_who_when_and_why, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    run_result r = LDG(d, NULL, "erase", "6", "--as", "eraser.key", "--reason",
                       "data subject request 2025-117", "--legal-basis", "GDPR Art. 17(1)(b)");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(strtol(r.out, NULL, 10), 8, "the erasure is entry 8: %s", r.out);
    run_free(&r);
    cr_assert(!has_body(d, 6), "the body and its salt left the ledger");
    cr_assert(has_body(d, 5) && has_body(d, 7) && has_body(d, 8), "nothing else did");

    r = LDG(d, NULL, "show", "8", "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "erasure");
    cr_assert_str_eq(json_string_value(json_object_get(o, "study")), "S1");
    char when[40];
    snprintf(when, sizeof when, "%.19s", json_string_value(json_object_get(o, "time")));
    json_decref(o);
    run_free(&r);

    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "an erased body is no failure: %s", r.out);
    const char *line = strstr(r.out, "ERASED   #6      body: ");
    cr_assert_not_null(line, "%s", r.out);
    cr_assert(strstr(line, "entry 8"), "which erasure: %s", line);
    cr_assert(strstr(line, "Erin Eraser"), "who: %s", line);
    cr_assert(strstr(line, when), "when (the erasure's host time %s): %s", when, line);
    cr_assert(strstr(line, "data subject request 2025-117"), "why: %s", line);
    cr_assert(strstr(line, "GDPR Art. 17(1)(b)"), "legal basis: %s", line);
    cr_assert(strstr(r.out, "0 failures, 1 bodies erased"), "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 0);
    cr_assert(has_finding(r.out, "ERASED", 6, "body"), "%s", r.out);
    json_t *v = verdict(r.out);
    cr_assert_eq(json_integer_value(json_object_get(v, "erased")), 1, "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(v, "failures")), 0, "%s", r.out);
    json_decref(v);
    run_free(&r);

    r = LDG(d, NULL, "show", "6", "--json");
    o = json_loads(r.out, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(o, "body_status")), "erased");
    cr_assert_eq(json_integer_value(json_object_get(o, "erased_by")), 8, "%s", r.out);
    cr_assert(json_is_null(json_object_get(o, "body")));
    json_decref(o);
    run_free(&r);
    r = LDG(d, NULL, "log");
    cr_assert(strstr(r.out, "[body erased by #8]"), "%s", r.out);
    run_free(&r);
}

Test(erase, detects_an_erased_body_put_back, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    size_t n;
    void *row = body_row(d, 6, &n);
    cr_assert_not_null(row);
    erase(d, "6", 0, "erase");
    uint8_t k[8];
    seq_key(6, k);
    cr_assert_eq(lmdb_put_value(d, "bodies", k, 8, row, n), 0);
    free(row);
    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 6, "erasure"), "%s", r.out);
    cr_assert(strstr(r.out, "body still present after erasure at seq 8"), "%s", r.out);
    cr_assert(!has_finding(r.out, "ERASED", 6, "body"), "%s", r.out);
    run_free(&r);
}

/* The erasure's own body (its legal basis) cannot leave either: nothing erases an erasure. */
Test(erase, detects_the_erasure_record_s_own_body_deleted, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    erase(d, "6", 0, "erase");
    uint8_t k[8];
    seq_key(8, k);
    cr_assert_eq(lmdb_del_key(d, "bodies", k, 8), 0);
    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 8, "body"), "%s", r.out);
    cr_assert(has_finding(r.out, "ERASED", 6, "body"), "%s", r.out);
    run_free(&r);
}

/* An erasure that does not verify explains nothing: the body is missing without one. */
Test(erase, detects_an_erasure_whose_signature_is_broken, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    erase(d, "6", 0, "erase");
    flip_signature_bit(d, 8, 9);
    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 8, "signature"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 6, "body"), "%s", r.out);
    cr_assert(!has_finding(r.out, "ERASED", 6, "body"), "%s", r.out);
    run_free(&r);
}

/* ----------------------------------------------------------- refusals -- */

Test(erase, refuses_erasure_without_the_eraser_role, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    run_result r = LDG(d, NULL, "erase", "6", "--as", "author.key", "--reason", "r",
                       "--legal-basis", "GDPR Art. 17(1)(b)");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "eraser role"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "erase", "6", "--as", "admin.key", "--reason", "r", "--legal-basis", "x");
    cr_assert_eq(r.status, 3, "an admin is no eraser: %d %s", r.status, r.err);
    run_free(&r);
    cr_assert(has_body(d, 6), "a refused erasure leaves the body");
    cr_assert_eq(ledger_size(d), 8, "and writes nothing");
}

Test(erase, refuses_erasure_without_reason_or_legal_basis, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    const char *const *cases[] = {
        (const char *const[]){"erase", "6", "--as", "eraser.key", "--legal-basis", "x", NULL},
        (const char *const[]){"erase", "6", "--as", "eraser.key", "--reason", "", "--legal-basis",
                              "x", NULL},
        (const char *const[]){"erase", "6", "--as", "eraser.key", "--reason", "r", NULL},
        (const char *const[]){"erase", "6", "--as", "eraser.key", "--reason", "r", "--legal-basis",
                              "", NULL},
        (const char *const[]){"erase", "--as", "eraser.key", "--reason", "r", "--legal-basis", "x",
                              NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = ldg_run(d, NULL, cases[i]);
        cr_assert_eq(r.status, 2, "case %zu: usage error: %d %s", i, r.status, r.err);
        cr_assert(strncmp(r.err, "ldg erase: ", 11) == 0 &&
                      strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
                  "one line: %s", r.err);
        run_free(&r);
    }
    /* signed elsewhere: the host applies the same rules (policy, exit 3) */
    SIGN(d, "nobasis.stmt", "{\"subject\":\"x\"}", "--kind", "erasure", "--study", "S1", "--ref",
         "6", "--reason", "r");
    SIGN(d, "emptybasis.stmt", "{\"legal_basis\":\"\"}", "--kind", "erasure", "--study", "S1",
         "--ref", "6", "--reason", "r");
    const char *files[] = {"nobasis.stmt", "emptybasis.stmt"};
    for (size_t i = 0; i < 2; i++) {
        run_result r = LDG(d, NULL, "append", "--signed", files[i]);
        cr_assert_eq(r.status, 3, "%s: %d %s", files[i], r.status, r.err);
        cr_assert(strstr(r.err, "legal_basis"), "%s", r.err);
        run_free(&r);
    }
    /* no reason, or two refs: the signer's own tool refuses to sign it (policy) */
    run_result r = LDG(d, "{\"legal_basis\":\"x\"}", "sign", "--as", "eraser.key", "--kind",
                       "erasure", "--study", "S1", "--ref", "6", "--body", "-");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "erasure needs exactly one ref"), "%s", r.err);
    run_free(&r);
    r = LDG(d, "{\"legal_basis\":\"x\"}", "sign", "--as", "eraser.key", "--kind", "erasure",
            "--study", "S1", "--ref", "6", "--ref", "7", "--reason", "r", "--body", "-");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    run_free(&r);
    cr_assert(has_body(d, 6) && has_body(d, 7));
    cr_assert_eq(ledger_size(d), 8, "nothing written");
}

Test(erase, refuses_erasure_of_a_seq_the_ledger_does_not_hold, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    run_result r =
        LDG(d, NULL, "erase", "99", "--as", "eraser.key", "--reason", "r", "--legal-basis", "x");
    cr_assert_eq(r.status, 2, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "99"), "%s", r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 8);
}

Test(erase, refuses_erasing_twice_a_system_record_or_an_erasure, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    erase(d, "6", 0, "first erasure");
    run_result r =
        LDG(d, NULL, "erase", "6", "--as", "eraser.key", "--reason", "again", "--legal-basis", "x");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "already erased"), "%s", r.err);
    run_free(&r);
    erase(d, "2", 3, "a key.add record");
    erase(d, "0", 3, "the genesis");
    erase(d, "8", 3, "an erasure record");
    /* signed elsewhere: an erasure of a system record, or with another study */
    SIGN(d, "sys.stmt", "{\"legal_basis\":\"x\"}", "--kind", "erasure", "--study", "S1", "--ref",
         "2", "--reason", "r");
    SIGN(d, "study.stmt", "{\"legal_basis\":\"x\"}", "--kind", "erasure", "--study", "S2", "--ref",
         "7", "--reason", "r");
    r = LDG(d, NULL, "append", "--signed", "sys.stmt");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "user record"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "append", "--signed", "study.stmt");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "study"), "%s", r.err);
    run_free(&r);
    cr_assert(has_body(d, 7) && has_body(d, 2) && has_body(d, 8));
    cr_assert_eq(ledger_size(d), 9, "only the first erasure was written");
}

/* --------------------------------------------------------- atomicity -- */

/* [STO-2] A batch whose second statement is refused removes no body at all. */
Test(erase, erasure_and_removal_are_one_transaction, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    SIGN(d, "a.stmt", "{\"legal_basis\":\"GDPR Art. 17(1)(a)\"}", "--kind", "erasure", "--study",
         "S1", "--ref", "5", "--reason", "no longer needed");
    SIGN(d, "b.stmt", "{\"legal_basis\":\"GDPR Art. 17(1)(a)\"}", "--kind", "erasure", "--study",
         "S1", "--ref", "5", "--reason", "twice");
    char p[600];
    snprintf(p, sizeof p, "%s/a.stmt", d);
    char *a = read_file(p, NULL);
    snprintf(p, sizeof p, "%s/b.stmt", d);
    char *b = read_file(p, NULL);
    char *both = malloc(strlen(a) + strlen(b) + 1);
    strcpy(both, a);
    strcat(both, b);
    write_file(d, "both.stmt", both);
    free(a);
    free(b);
    free(both);
    run_result r = LDG(d, NULL, "append", "--signed", "both.stmt");
    cr_assert_eq(r.status, 3, "the second erases a body already gone: %d %s", r.status, r.err);
    cr_assert(strstr(r.err, "record 2"), "names the statement: %s", r.err);
    run_free(&r);
    cr_assert(has_body(d, 5), "the first erasure's removal was rolled back with it");
    cr_assert_eq(ledger_size(d), 8);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "0 bodies erased"), "%s", r.out);
    run_free(&r);
    /* alone, the signed statement erases: the host removes the body as it appends */
    ok(LDG(d, NULL, "append", "--signed", "a.stmt"), "append --signed");
    cr_assert(!has_body(d, 5));
    r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(has_finding(r.out, "ERASED", 5, "body"), "%s", r.out);
    run_free(&r);
}

/* An erasure inside a --batch works as one alone; the body goes with the batch. */
Test(erase, erasure_inside_a_batch_works_as_one_alone, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "clerk", "--out", "clerk", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "clerk.pub", "--name", "Cleo Clerk",
           "--org", "Acme CRO", "--roles", "author,eraser"),
       "key add clerk");
    write_file(d, "b.jsonl",
               "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{\"subject\":\"new\"}}\n"
               "{\"kind\":\"erasure\",\"study\":\"S1\",\"refs\":[7],\"reason\":\"withdrawn "
               "consent\",\"body\":{\"legal_basis\":\"GDPR Art. 17(1)(b)\"}}\n");
    run_result r = LDG(d, NULL, "append", "--as", "clerk.key", "--batch", "b.jsonl");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    cr_assert(!has_body(d, 7) && has_body(d, 9) && has_body(d, 10));
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "ERASED   #7") && strstr(r.out, "Cleo Clerk") &&
                  strstr(r.out, "withdrawn consent"),
              "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------------------ export -- */

Test(erase, exports_show_erased_with_the_erasure_s_seq, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    erase(d, "6", 0, "erase");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "export", "--format", "jsonl", "-o", "t.jsonl"), "export jsonl");
    ok(LDG(d, NULL, "export", "--format", "csv", "-o", "t.csv"), "export csv");
    ok(LDG(d, NULL, "export", "--format", "html", "-o", "t.html"), "export html");
    char p[600];
    snprintf(p, sizeof p, "%s/t.jsonl", d);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t);
    bool seen = false;
    for (char *line = t, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        json_t *o = json_loadb(line, nl ? (size_t)(nl - line) : strlen(line), 0, NULL);
        cr_assert_not_null(o, "%s", line);
        if (json_integer_value(json_object_get(o, "seq")) == 6) {
            seen = true;
            cr_assert_str_eq(json_string_value(json_object_get(o, "body_status")), "erased");
            cr_assert_eq(json_integer_value(json_object_get(o, "erased_by")), 8);
            cr_assert(json_is_null(json_object_get(o, "body")));
        } else {
            cr_assert_null(json_object_get(o, "erased_by"));
        }
        json_decref(o);
    }
    cr_assert(seen, "%s", t);
    cr_assert_null(strstr(t, "patient 6"), "no trace of the erased body");
    free(t);
    snprintf(p, sizeof p, "%s/t.csv", d);
    t = read_file(p, NULL);
    cr_assert(strstr(t, "erased by 8"), "%s", t);
    cr_assert_null(strstr(t, "patient 6"));
    free(t);
    snprintf(p, sizeof p, "%s/t.html", d);
    t = read_file(p, NULL);
    cr_assert(strstr(t, "ERASED") && strstr(t, "body erased by record 8"), "html");
    cr_assert_null(strstr(t, "patient 6"));
    free(t);
    /* withholding stays an exporter's choice, written into the export */
    ok(LDG(d, NULL, "export", "--format", "jsonl", "--withhold-bodies", "-o", "w.jsonl"),
       "export --withhold-bodies");
    snprintf(p, sizeof p, "%s/w.jsonl", d);
    t = read_file(p, NULL);
    cr_assert(strstr(t, "\"body_status\":\"withheld-by-export\""), "%s", t);
    cr_assert(strstr(t, "\"body_status\":\"erased\",\"erased_by\":8"), "%s", t);
    free(t);
    /* a bundle carries the marker; its verifier reports the body absent, not valid */
    ok(LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key"), "export bundle");
    run_result r = LDG(d, NULL, "verify-bundle", "b.tar", "--trust", "log.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "#6      body: body erased in the ledger"), "%s", r.out);
    run_free(&r);
}

/* --------------------------------------------------- verify --since -- */

/*
 * [VER-11] Bodies below the checkpoint are not looked up one by one, but
 * their number is checked: a row deleted below it is found, an erasure after
 * it of a record below it is reported ERASED.
 */
Test(erase, verify_since_detects_a_body_deleted_below_the_checkpoint, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_records(d, false);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen qa");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"),
       "verify --save-checkpoint, cosigned by QA [CKP-5]");
    ok(LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
           "--body", "-"),
       "append after the checkpoint");
    uint8_t k[8];
    seq_key(5, k);
    cr_assert_eq(lmdb_del_key(d, "bodies", k, 8), 0);
    run_result r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub", "--json");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", -1, "body"), "%s", r.out);
    cr_assert(strstr(r.out, "below the checkpoint"), "%s", r.out);
    run_free(&r);
}

Test(erase, verify_since_reports_an_erasure_below_the_checkpoint_and_counts_it, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_erase_ledger(d);
    erase(d, "5", 0, "erase before the checkpoint");
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen qa");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"),
       "verify --save-checkpoint, cosigned by QA [CKP-5]");
    erase(d, "6", 0, "erase below the checkpoint, after it");
    run_result r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub", "--json");
    cr_assert_eq(r.status, 0, "both erasures are counted: %s", r.out);
    cr_assert(has_finding(r.out, "ERASED", 6, "body"), "%s", r.out);
    run_free(&r);
    /* and another body deleted below the checkpoint: the count is one short */
    uint8_t k[8];
    seq_key(7, k);
    cr_assert_eq(lmdb_del_key(d, "bodies", k, 8), 0);
    r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub", "--json");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "below the checkpoint"), "%s", r.out);
    run_free(&r);
}
