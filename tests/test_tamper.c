/*
 * test_tamper.c - an attacker with write access to the LMDB files changes
 * stored bytes; `ldg verify` (the real binary) must exit 1 and name the
 * record at fault and the check that failed.  Entries are canonical msgpack
 * maps {prev, seq, sig, stmt, time, v}; bodies are stored under the
 * entry's 8-byte BE seq as 32-byte salt || body JSON.
 */
#include "forge.h"
#include "helpers.h"
#include "ldg.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers -- */

/*
 * A ledger with 10 entries: genesis, three key.add (seq 1..3), then six
 * communications by the author (seq 4..9), each its own transaction so host
 * times differ, each with a body {"subject":"record N","n":N}.
 */
static void
make_tamper_ledger(const char *d)
{
    fixture_begin(); /* the tampering and the verify after it are what is tested */
    make_ledger(d);
    for (int i = 4; i < 10; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"subject\":\"record %d\",\"n\":%d}", i, i);
        run_result r = LDG(d, body, "append", "--as", "author.key", "--kind", "communication",
                           "--study", "S1", "--body", "-");
        cr_assert_eq(r.status, 0, "append: %s", r.err);
        cr_assert_eq(strtol(r.out, NULL, 10), i);
        run_free(&r);
    }
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "the untampered ledger verifies: %s", r.out);
    run_free(&r);
    fixture_end();
}

static uint8_t *
get_entry(const char *d, uint64_t seq, size_t *len)
{
    uint8_t k[8];
    void *v;
    seq_key(seq, k);
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, len), 0, "entry %llu",
                 (unsigned long long)seq);
    return v;
}

static void
put_entry(const char *d, uint64_t seq, const void *v, size_t len)
{
    uint8_t k[8];
    seq_key(seq, k);
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, v, len), 0);
}

/* Offset of the first (last if `last`) occurrence of pat in p, or -1. */
static long
find_bytes(const uint8_t *p, size_t n, const uint8_t *pat, size_t m, bool last)
{
    long at = -1;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(p + i, pat, m) == 0) {
            at = (long)i;
            if (!last)
                break;
        }
    return at;
}

static uint64_t
rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * The body of entry seq: its key in the bodies database (the 8-byte seq) and
 * value (salt || canonical JSON, malloc'd).  Returns false if there is none.
 */
static bool
find_body(const char *d, uint64_t seq, uint8_t key[8], uint8_t **val, size_t *vl)
{
    void *v;
    seq_key(seq, key);
    if (lmdb_get_value(d, "bodies", key, 8, &v, vl) != 0)
        return false;
    cr_assert_geq(*vl, 32, "a stored body starts with its 32-byte salt");
    *val = v;
    return true;
}

/* Runs verify --json; returns the result (caller frees). */
static run_result
verify_json(const char *d)
{
    return LDG(d, NULL, "verify", "--json");
}

/*
 * True if the verify --json output holds a finding of `level` at seq with
 * check `check` (seq < 0: the ledger as a whole, "seq":null; check NULL: any).
 */
static bool
has_finding(const char *out, const char *level, long seq, const char *check)
{
    char *copy = strdup(out);
    bool hit = false;
    char *save;
    for (char *line = strtok_r(copy, "\n", &save); line && !hit;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "verify --json printed a line that is not JSON: %s", line);
        json_t *f = json_object_get(o, "finding");
        if (json_is_string(f) && strcmp(json_string_value(f), level) == 0) {
            json_t *s = json_object_get(o, "seq");
            bool seq_ok = seq < 0 ? json_is_null(s)
                                  : json_is_integer(s) && json_integer_value(s) == seq;
            const char *c = json_string_value(json_object_get(o, "check"));
            hit = seq_ok && c && (!check || strcmp(c, check) == 0);
        }
        json_decref(o);
    }
    free(copy);
    return hit;
}

static const char *
verdict_line(const char *out)
{
    const char *v = strstr(out, "{\"verdict\"");
    cr_assert_not_null(v, "verify --json prints a verdict: %s", out);
    return v;
}

/* verify (text and --json) exits 1 with a FAILED summary; returns the JSON output. */
static run_result
verify_fails(const char *d)
{
    run_result t = LDG(d, NULL, "verify");
    cr_assert_eq(t.status, 1, "verify must exit 1: %d\n%s%s", t.status, t.out, t.err);
    cr_assert(strstr(t.out, "FAILED: ") != NULL, "summary line: %s", t.out);
    cr_assert(strstr(t.out, "\nOK") == NULL && strncmp(t.out, "OK", 2) != 0, "%s", t.out);
    run_free(&t);
    run_result r = verify_json(d);
    cr_assert_eq(r.status, 1, "verify --json must exit 1: %s%s", r.out, r.err);
    cr_assert(strstr(verdict_line(r.out), "\"verdict\":\"failed\""), "%s", r.out);
    return r;
}

/* The text form names the seq: "FAIL     #7      check: ..." */
static void
text_names(const char *d, long seq, const char *check)
{
    run_result t = LDG(d, NULL, "verify");
    char want[64];
    snprintf(want, sizeof want, "#%-6ld %s:", seq, check);
    bool hit = false;
    for (const char *p = t.out; (p = strstr(p, "FAIL")) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *w = strstr(p, want);
        if (w && (!eol || w < eol)) {
            hit = true;
            break;
        }
    }
    cr_assert(hit, "verify should print a FAIL line with \"%s\":\n%s", want, t.out);
    run_free(&t);
}

/* ------------------------------------------------------------- bodies -- */

Test(tamper, flipped_byte_in_a_body_fails_body_check_at_that_seq, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t key[8], *v;
    size_t vl;
    cr_assert(find_body(d, 6, key, &v, &vl), "body of #6");
    cr_assert(vl > 32 && memcmp(v + 32, "{\"", 2) == 0, "body JSON after the salt");
    uint8_t *digit = memchr(v + 32, '6', vl - 32); /* "n":6 -> "n":7 */
    cr_assert_not_null(digit);
    *digit = '7';
    cr_assert_eq(lmdb_put_value(d, "bodies", key, 8, v, vl), 0);
    free(v);

    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "body"), "%s", r.out);
    cr_assert(!has_finding(r.out, "FAIL", 5, NULL) && !has_finding(r.out, "FAIL", 7, NULL),
              "only #6 is at fault: %s", r.out);
    run_free(&r);
    text_names(d, 6, "body");

    /* show never presents the altered content as the record's body */
    r = LDG(d, NULL, "show", "6", "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s%s", r.out, r.err);
    cr_assert(json_is_null(json_object_get(o, "body")), "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "body_status")), "mismatch");
    json_decref(o);
    run_free(&r);
}

/* Missing is not withheld [VER-8]: a body gone without an erasure record is a failure. */
Test(tamper, deleted_body_fails_at_its_seq_and_show_says_missing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t key[8], *v;
    size_t vl;
    cr_assert(find_body(d, 7, key, &v, &vl));
    free(v);
    cr_assert_eq(lmdb_del_key(d, "bodies", key, 8), 0);

    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "a body missing without an erasure record fails: %s", r.out);
    cr_assert(strstr(r.out, "FAIL     #7      body: body missing without an erasure record"),
              "%s", r.out);
    cr_assert(strstr(r.out, "1 failures"), "%s", r.out);
    run_free(&r);
    r = verify_json(d);
    cr_assert_eq(r.status, 1);
    cr_assert(has_finding(r.out, "FAIL", 7, "body"), "%s", r.out);
    cr_assert(!has_finding(r.out, "WITHHELD", 7, NULL), "%s", r.out);
    cr_assert(strstr(verdict_line(r.out), "\"withheld\":0"), "%s", r.out);
    run_free(&r);

    r = LDG(d, NULL, "show", "7");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "MISSING"), "%s", r.out);
    cr_assert(!strstr(r.out, "record 7"), "no content shown: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "show", "7", "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o);
    cr_assert(json_is_null(json_object_get(o, "body")), "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "body_status")), "missing");
    json_decref(o);
    run_free(&r);
    r = LDG(d, NULL, "log");
    cr_assert(strstr(r.out, "[BODY MISSING: run ldg verify]"), "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------------------ entries -- */

Test(tamper, flipped_byte_in_the_statement_fails_at_that_seq_and_breaks_prev_of_the_next,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 5, &n);
    static const uint8_t stmt_key[] = {0xa4, 's', 't', 'm', 't'};
    long at = find_bytes(e, n, stmt_key, sizeof stmt_key, false);
    cr_assert(at > 0);
    size_t off = (size_t)at + sizeof stmt_key;
    size_t slen;
    if (e[off] == 0xc4) {
        slen = e[off + 1];
        off += 2;
    } else {
        cr_assert_eq(e[off], 0xc5);
        slen = (size_t)e[off + 1] << 8 | e[off + 2];
        off += 3;
    }
    /* flip a byte inside the statement's "study" value: still decodes, signature breaks */
    static const uint8_t study_val[] = {0xa2, 'S', '1'};
    long s = find_bytes(e + off, slen, study_val, sizeof study_val, false);
    cr_assert(s >= 0, "statement holds study S1");
    e[off + (size_t)s + 2] ^= 0x01; /* "S1" -> "S0" */
    put_entry(d, 5, e, n);
    free(e);

    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5, "signature") ||
                  has_finding(r.out, "FAIL", 5, "statement") ||
                  has_finding(r.out, "FAIL", 5, "encoding"),
              "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 6, "prev"), "%s", r.out);
    run_free(&r);
    text_names(d, 6, "prev");
}

Test(tamper, flipped_byte_in_the_statement_structure_fails_at_that_seq, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 5, &n);
    static const uint8_t stmt_key[] = {0xa4, 's', 't', 'm', 't'};
    long at = find_bytes(e, n, stmt_key, sizeof stmt_key, false);
    cr_assert(at > 0);
    size_t off = (size_t)at + sizeof stmt_key + (e[at + 5] == 0xc4 ? 2 : 3);
    e[off] ^= 0xff; /* the statement's map header */
    put_entry(d, 5, e, n);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5, "statement") ||
                  has_finding(r.out, "FAIL", 5, "signature") ||
                  has_finding(r.out, "FAIL", 5, "encoding"),
              "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 6, "prev"), "%s", r.out);
    run_free(&r);
}

Test(tamper, flipped_byte_in_the_signature_fails_signature_at_that_seq, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 5, &n);
    static const uint8_t sig_key[] = {0xa3, 's', 'i', 'g', 0xc4, 0x40};
    long at = find_bytes(e, n, sig_key, sizeof sig_key, false);
    cr_assert(at > 0);
    e[(size_t)at + sizeof sig_key + 10] ^= 0x20;
    put_entry(d, 5, e, n);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5, "signature"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 6, "prev"), "the leaf of #5 changed: %s", r.out);
    run_free(&r);
    text_names(d, 5, "signature");
}

Test(tamper, signature_moved_from_another_record_fails_signature_at_the_target,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    static const uint8_t sig_key[] = {0xa3, 's', 'i', 'g', 0xc4, 0x40};
    size_t na, nb;
    uint8_t *a = get_entry(d, 4, &na), *b = get_entry(d, 8, &nb);
    long sa = find_bytes(a, na, sig_key, sizeof sig_key, false);
    long sb = find_bytes(b, nb, sig_key, sizeof sig_key, false);
    cr_assert(sa > 0 && sb > 0);
    memcpy(b + sb + sizeof sig_key, a + sa + sizeof sig_key, 64);
    put_entry(d, 8, b, nb);
    free(a);
    free(b);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "signature"), "%s", r.out);
    cr_assert(!has_finding(r.out, "FAIL", 4, NULL), "the source record is intact: %s", r.out);
    run_free(&r);
    text_names(d, 8, "signature");
}

Test(tamper, removed_entry_in_the_middle_is_reported_missing_and_chain_broken,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t k[8];
    seq_key(6, k);
    cr_assert_eq(lmdb_del_key(d, "entries", k, 8), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "seq"), "#6 named missing: %s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 7, "prev"), "chain broken at #7: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify");
    cr_assert(strstr(r.out, "#6") && strstr(r.out, "missing"), "%s", r.out);
    run_free(&r);
}

/*
 * Truncating the tail (removing the last entries) leaves a shorter chain that
 * is internally consistent: verify alone cannot prove the ledger was longer.
 * That needs a checkpoint held outside the host (DESIGN.md, trust model;
 * issue 3).  A naive truncation that only deletes from the entries database
 * still leaves the removed entry in the leaf/study/kind/actor indexes and its
 * body in the bodies database, and verify reports those.
 */
Test(tamper, truncated_tail_leaves_index_and_body_counts_that_verify_reports,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t k[8];
    seq_key(9, k);
    cr_assert_eq(lmdb_del_key(d, "entries", k, 8), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", -1, "index"), "index count mismatch: %s", r.out);
    cr_assert(has_finding(r.out, "FAIL", -1, "body"), "body count mismatch: %s", r.out);
    cr_assert(strstr(verdict_line(r.out), "\"entries\":9"), "%s", r.out);
    run_free(&r);
}

Test(tamper, swapped_entries_fail_at_both_seqs, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t na, nb;
    uint8_t *a = get_entry(d, 5, &na), *b = get_entry(d, 7, &nb);
    put_entry(d, 5, b, nb);
    put_entry(d, 7, a, na);
    free(a);
    free(b);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5, NULL), "#5 named: %s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 7, NULL), "#7 named: %s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 5, "seq") || has_finding(r.out, "FAIL", 5, "prev"),
              "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 7, "seq") || has_finding(r.out, "FAIL", 7, "prev"),
              "%s", r.out);
    run_free(&r);
}

Test(tamper, backdated_host_time_of_the_last_entry_fails_time_check, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 9, &n);
    static const uint8_t time_key[] = {0xa4, 't', 'i', 'm', 'e', 0xcf};
    long at = find_bytes(e, n, time_key, sizeof time_key, true); /* the entry's, after stmt */
    static const uint8_t v_key[] = {0xa1, 'v'};
    cr_assert(at > 0 && (size_t)at + sizeof time_key + 8 + sizeof v_key <= n);
    cr_assert(memcmp(e + at + sizeof time_key + 8, v_key, sizeof v_key) == 0,
              "the last time key is the entry's, just before v");
    uint8_t *t = e + at + sizeof time_key;
    uint64_t ns = rd64(t) - 3600ull * 1000000000ull; /* one hour earlier */
    for (int i = 7; i >= 0; i--, ns >>= 8)
        t[i] = (uint8_t)ns;
    put_entry(d, 9, e, n);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 9, "time"), "%s", r.out);
    cr_assert(!has_finding(r.out, "FAIL", 9, "signature"), "the statement is intact: %s", r.out);
    run_free(&r);
    text_names(d, 9, "time");
}

Test(tamper, hostile_entry_value_fails_encoding_without_crash_or_hang, .fini = tmp_cleanup,
     .timeout = 30)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    static const uint8_t hostile[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    put_entry(d, 6, hostile, sizeof hostile);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "encoding"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 7, "prev"), "%s", r.out);
    run_free(&r);
    /* readers survive it too */
    r = LDG(d, NULL, "show", "6");
    cr_assert(r.status < 128, "show crashed: %d", r.status);
    cr_assert_neq(r.status, 0, "show must not present a record that does not decode");
    run_free(&r);
    r = LDG(d, NULL, "log");
    cr_assert(r.status < 128, "log crashed: %d", r.status);
    run_free(&r);
}

Test(tamper, truncated_entry_value_fails_encoding, .fini = tmp_cleanup, .timeout = 30)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 6, &n);
    put_entry(d, 6, e, n / 2);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "encoding"), "%s", r.out);
    run_free(&r);
}

/* --------------------------------------------------- keys and indexes -- */

/* The public key a key record (seq, as text) adds, from `ldg show --json`. */
static void
subject_key_pub(const char *d, const char *seq, uint8_t pub[32])
{
    run_result r = LDG(d, NULL, "show", seq, "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s", r.out);
    const char *b64 =
        json_string_value(json_object_get(json_object_get(o, "subject_key"), "pub"));
    cr_assert_not_null(b64, "show %s --json names the subject key's pub: %s", seq, r.out);
    size_t pl;
    cr_assert_eq(sodium_base642bin(pub, 32, b64, strlen(b64), NULL, &pl, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(pl, 32);
    json_decref(o);
    run_free(&r);
}

Test(tamper, extra_garbage_key_in_the_keys_database_is_a_keys_finding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    static const char garbage[] = "not a public key";
    static const uint8_t val[17] = {0};
    cr_assert_eq(lmdb_put_value(d, "keys", garbage, sizeof garbage - 1, val, sizeof val), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", -1, "keys"), "%s", r.out);
    run_free(&r);
}

Test(tamper, extra_unrecorded_key_with_admin_role_is_a_keys_finding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    /* a 32-byte key registered with every role, by no key record */
    uint8_t pub[32], val[17] = {0};
    memset(pub, 0x42, sizeof pub);
    memset(val + 8, 0xff, 8); /* revoked_seq = none */
    val[16] = 0x0f;
    cr_assert_eq(lmdb_put_value(d, "keys", pub, 32, val, sizeof val), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", -1, "keys"), "%s", r.out);
    run_free(&r);
}

Test(tamper, altered_roles_in_the_keys_database_are_a_keys_finding_at_the_key_record,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    /* the author's key (added at #1) is given every role */
    uint8_t pub[32];
    subject_key_pub(d, "1", pub);
    run_result r;
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "keys", pub, 32, &v, &vl), 0);
    cr_assert_eq(vl, 17);
    ((uint8_t *)v)[16] = 0x0f;
    cr_assert_eq(lmdb_put_value(d, "keys", pub, 32, v, vl), 0);
    free(v);
    r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 1, "keys"), "%s", r.out);
    run_free(&r);
}

Test(tamper, removed_study_index_entry_is_an_index_finding_at_that_seq, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t k[3 + 8] = {'S', '1', 0};
    seq_key(8, k + 3);
    cr_assert_eq(lmdb_del_key(d, "study", k, sizeof k), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "index"), "%s", r.out);
    run_free(&r);
}

Test(tamper, body_moved_to_another_commitment_is_a_body_finding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    /* #5's body is replaced by #4's (salt and all): a body moved between records */
    uint8_t k4[8], k5[8], *v4, *v5;
    size_t l4, l5;
    cr_assert(find_body(d, 4, k4, &v4, &l4));
    cr_assert(find_body(d, 5, k5, &v5, &l5));
    cr_assert_eq(lmdb_put_value(d, "bodies", k5, 8, v4, l4), 0);
    free(v4);
    free(v5);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5, "body"), "%s", r.out);
    run_free(&r);
}

Test(tamper, trailing_bytes_after_an_entry_fail_encoding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 6, &n);
    e = realloc(e, n + 1);
    e[n] = 0xc0; /* msgpack nil after the map */
    put_entry(d, 6, e, n + 1);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "encoding"), "%s", r.out);
    run_free(&r);
}

Test(tamper, non_canonical_integer_in_an_entry_fails_encoding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 6, &n);
    /* "seq": positive fixint 6 re-encoded as uint8 0xcc 0x06 (same value, longer form) */
    static const uint8_t seq_key6[] = {0xa3, 's', 'e', 'q', 0x06};
    long at = find_bytes(e, n, seq_key6, sizeof seq_key6, false);
    cr_assert(at > 0);
    uint8_t *f = malloc(n + 1);
    memcpy(f, e, (size_t)at + 4);
    f[at + 4] = 0xcc;
    f[at + 5] = 0x06;
    memcpy(f + at + 6, e + at + 5, n - (size_t)at - 5);
    put_entry(d, 6, f, n + 1);
    free(e);
    free(f);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "encoding"), "%s", r.out);
    run_free(&r);
}

Test(tamper, entries_key_that_is_not_8_bytes_fails_encoding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 9, &n);
    static const uint8_t k9[9] = {0, 0, 0, 0, 0, 0, 0, 9, 0}; /* sorts after entry 9 */
    cr_assert_eq(lmdb_put_value(d, "entries", k9, sizeof k9, e, n), 0);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 10, "encoding"), "%s", r.out);
    run_free(&r);
}

Test(tamper, entry_appended_past_the_end_by_copying_the_last_fails_at_the_new_seq,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t n;
    uint8_t *e = get_entry(d, 9, &n);
    put_entry(d, 10, e, n);
    free(e);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 10, "seq"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 10, "prev"), "%s", r.out);
    run_free(&r);
}

Test(tamper, removed_key_registry_entry_is_a_keys_finding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    run_result r = LDG(d, NULL, "show", "2", "--json");
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o, "%s", r.out);
    const char *b64 =
        json_string_value(json_object_get(json_object_get(o, "subject_key"), "pub"));
    cr_assert_not_null(b64);
    uint8_t pub[32];
    size_t pl;
    cr_assert_eq(sodium_base642bin(pub, 32, b64, strlen(b64), NULL, &pl, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    json_decref(o);
    run_free(&r);
    cr_assert_eq(lmdb_del_key(d, "keys", pub, 32), 0);
    r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 2, "keys") || has_finding(r.out, "FAIL", -1, "keys"),
              "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------------------- replay -- */

/*
 * [POL-9] does not depend on bodies: once a signed statement is in the
 * ledger, appending it again is refused even after its body was removed.
 */
Test(tamper, replay_after_the_body_was_withheld_is_still_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, "{\"subject\":\"once\"}", "sign", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "once.stmt", r.out);
    run_free(&r);
    r = LDG(d, NULL, "append", "--signed", "once.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(strtol(r.out, NULL, 10), 4);
    run_free(&r);
    uint8_t key[8], *v;
    size_t vl;
    cr_assert(find_body(d, 4, key, &v, &vl));
    free(v);
    cr_assert_eq(lmdb_del_key(d, "bodies", key, 8), 0);

    r = LDG(d, NULL, "append", "--signed", "once.stmt");
    cr_assert_eq(r.status, 3, "a replay is refused by policy: %d %s", r.status, r.err);
    cr_assert(strstr(r.err, "replay"), "%s", r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 5, "nothing was written");
}

/*
 * An attacker who copies entry 4 to the end and re-chains it (a statement
 * appended twice) is caught by the statement index, even with bodies gone.
 */
Test(tamper, duplicated_statement_is_reported_as_replay_even_without_bodies,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    size_t len;
    uint8_t *e = get_entry(d, 4, &len);
    put_entry(d, 10, e, len);
    free(e);
    uint8_t key[8], *v;
    size_t vl;
    cr_assert(find_body(d, 4, key, &v, &vl));
    free(v);
    cr_assert_eq(lmdb_del_key(d, "bodies", key, 8), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 10, "replay"), "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------ verify --since -- */

/* QA's step [VER-11]: a checkpoint of the ledger as it is, verified in full, saved as qa.txt. */
static void
qa_saves_checkpoint(const char *d)
{
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    /* [CKP-5] a checkpoint counts as verified with the cosignature of a QA key */
    r = LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key");
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
}

/* verify --since qa.txt exits 1; returns its --json output. */
static run_result
since_fails(const char *d)
{
    run_result r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub", "--json");
    cr_assert_eq(r.status, 1, "verify --since must exit 1: %s%s", r.out, r.err);
    cr_assert(strstr(verdict_line(r.out), "\"verdict\":\"failed\""), "%s", r.out);
    return r;
}

static void
since_ok(const char *d, const char *expect)
{
    run_result r = LDG(d, NULL, "verify", "--since", "qa.txt", "--qa", "qa.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, expect), "want \"%s\" in: %s", expect, r.out);
    run_free(&r);
}

/* Refs, corrections and an observed head that reach below the checkpoint are found there. */
Test(tamper, since_new_records_that_refer_below_the_checkpoint_verify, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    qa_saves_checkpoint(d);
    run_result r = LDG(d, "{\"subject\":\"decided\"}", "append", "--as", "decider.key", "--kind",
                       "decision", "--study", "S1", "--ref", "4", "--ref", "9", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, "{\"subject\":\"ok\"}", "sign", "--as", "approver.key", "--kind", "approval",
            "--meaning", "approval", "--study", "S1", "--ref", "10", "--ref", "5",
            "--observed-from", "ledger", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "s.stmt", r.out);
    run_free(&r);
    r = LDG(d, NULL, "append", "--signed", "s.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    since_ok(d, "12 entries, 2 signatures checked, 0 failures");
}

/* An earlier statement appended again after the checkpoint: found from the earlier entries. */
Test(tamper, since_replay_of_a_statement_below_the_checkpoint_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    qa_saves_checkpoint(d);
    size_t len;
    uint8_t *e = get_entry(d, 4, &len);
    put_entry(d, 10, e, len);
    free(e);
    run_result r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 10, "replay"), "%s", r.out);
    run_free(&r);
}

static void append_many(const char *d, int count);

/*
 * The same with more wants after the checkpoint than verify holds in memory
 * (393,216: 6,200 statements of 64 refs each), so that the entries below it
 * go through the sorted runs, where their statements were only peeked (no
 * claimed time): the replay's first copy is read again.
 */
Test(tamper, since_replay_below_the_checkpoint_is_caught_through_the_runs, .fini = tmp_cleanup,
     .timeout = 300)
{
    if (strstr(ldg_bin(), "ldg-vg"))
        cr_skip_test("396,800 refs under memcheck: the same code as the case above with fewer");
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    qa_saves_checkpoint(d);
    append_many(d, 100); /* seqs 10..109 */
    size_t cap = 6200 * 400 + 1, n = 0;
    char *text = malloc(cap);
    cr_assert(text);
    for (int i = 0; i < 6200; i++) {
        n += (size_t)snprintf(text + n, cap - n, "{\"kind\":\"communication\",\"study\":\"S1\",\"refs\":[");
        for (int r = 0; r < 64; r++)
            n += (size_t)snprintf(text + n, cap - n, "%s%d", r ? "," : "", 10 + r);
        n += (size_t)snprintf(text + n, cap - n, "]}\n");
    }
    run_result r = LDG(d, text, "append", "--as", "author.key", "--batch", "-");
    free(text);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    size_t len;
    uint8_t *e = get_entry(d, 4, &len);
    put_entry(d, 10 + 100 + 6200, e, len);
    free(e);
    r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 10 + 100 + 6200, "replay"), "%.2000s", r.out);
    run_free(&r);
}

/*
 * With 5,000 entries after the checkpoint (about 10,000 wants), the filter
 * that turns away earlier entries no want has is 2^18 bits, indexed by
 * more than the first two bytes of a key: the replay's earlier copy must
 * still get through it to the wants.
 */
Test(tamper, since_replay_below_the_checkpoint_is_caught_past_a_large_want_filter,
     .fini = tmp_cleanup, .timeout = 120)
{
    if (strstr(ldg_bin(), "ldg-vg"))
        cr_skip_test("5,000 records under memcheck: the same code as the 10-record case");
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    qa_saves_checkpoint(d);
    append_many(d, 5000);
    /* seven refs below the checkpoint: each must be let through to be met */
    run_result r = LDG(d, "{\"subject\":\"refs\"}", "append", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--ref", "3", "--ref", "4", "--ref", "5",
                       "--ref", "6", "--ref", "7", "--ref", "8", "--ref", "9", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    since_ok(d, "5011 entries, 5001 signatures checked, 0 failures");
    size_t len;
    uint8_t *e = get_entry(d, 4, &len);
    put_entry(d, 10 + 5001, e, len);
    free(e);
    r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 10 + 5001, "replay"), "%.2000s", r.out);
    run_free(&r);
}

/* A key revoked below the checkpoint stays revoked, whatever the host's key table says now. */
Test(tamper, since_key_revoked_below_the_checkpoint_is_still_revoked, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    run_result r = LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub",
                       "--reason", "left the project");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    qa_saves_checkpoint(d);
    /* the host un-revokes the key in its table, appends as the author, and puts the table back */
    uint8_t pub[32];
    subject_key_pub(d, "1", pub);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "keys", pub, 32, &v, &vl), 0);
    cr_assert_eq(vl, 17);
    uint8_t saved[17], *kv = v;
    memcpy(saved, kv, 17);
    memset(kv + 8, 0xff, 8);
    cr_assert_eq(lmdb_put_value(d, "keys", pub, 32, kv, 17), 0);
    free(v);
    r = LDG(d, "{\"subject\":\"late\"}", "append", "--as", "author.key", "--kind",
            "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "the doctored table lets it in: %s", r.err);
    run_free(&r);
    cr_assert_eq(lmdb_put_value(d, "keys", pub, 32, saved, 17), 0);
    r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 11, "key"), "%s", r.out);
    cr_assert(strstr(r.out, "revoked at entry 10"), "the revocation is the reason: %s", r.out);
    run_free(&r);
}

/* ------------------------------------------- refs and observed heads -- */

/* Leaf hash of entry seq, from `ldg show --json`. */
static void
leaf_hash_of(const char *d, const char *ledger, long seq, uint8_t out[32])
{
    char s[32];
    snprintf(s, sizeof s, "%ld", seq);
    run_result r = LDG(d, NULL, "show", s, "--json", "--ledger", ledger);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o);
    const char *b = json_string_value(json_object_get(o, "leaf_hash"));
    size_t n;
    cr_assert_eq(sodium_base642bin(out, 32, b, strlen(b), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(n, 32);
    json_decref(o);
    run_free(&r);
}

/* Appends `count` communications to dir/ledger in one batch. */
static void
append_many(const char *d, int count)
{
    char *text = malloc((size_t)count * 80 + 1);
    size_t n = 0;
    for (int i = 0; i < count; i++)
        n += (size_t)sprintf(text + n, "{\"kind\":\"communication\",\"study\":\"S1\"}\n");
    run_result r = LDG(d, text, "append", "--as", "author.key", "--batch", "-");
    free(text);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

/*
 * Two ledgers, A and B, share their first 4 entries (B is a copy of A) and
 * then diverge at seq 4.  A statement signed against A (a ref to A's entry 4,
 * or having observed A at size 5) is slipped into B by a host that doctored
 * B's leaf index so that append accepted it, then removed the doctored
 * record.  Verify must catch it from the entries alone.
 */
static void
diverged_pair(const char *d, uint8_t a4[32])
{
    make_ledger(d);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r '%s/ledger' '%s/ledger-b'", d, d);
    cr_assert_eq(system(cmd), 0);
    run_result r = LDG(d, "{\"subject\":\"only in A\"}", "append", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, "{\"subject\":\"only in B\"}", "append", "--as", "author.key", "--kind",
            "communication", "--study", "S1", "--body", "-", "--ledger", "ledger-b");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    leaf_hash_of(d, "ledger", 4, a4);
}

/* lmdb_* helpers work on dir/ledger: point them at B by swapping names. */
static void
swap_ledgers(const char *d)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cd '%s' && mv ledger ledger-a && mv ledger-b ledger", d);
    cr_assert_eq(system(cmd), 0);
}

/*
 * A host that lets in what append refuses: the decider's decision, with a
 * ref or an observed head from ledger A, written into B past the policy
 * (append itself looks both up in the entries, not in an index it could be
 * lied to by).
 */
static void
forged_decision(const char *d, const uint8_t *ref, uint64_t observed_size, const uint8_t *head)
{
    ldg_ledger *l;
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldg_key *k = load_key(d, "decider");
    ldgi_stmt *st = calloc(1, sizeof *st);
    cr_assert(st);
    st->kind = str_lit("decision");
    st->study = str_lit("S1");
    if (ref) {
        memcpy(st->refs[0], ref, 32);
        st->nrefs = 1;
    }
    if (head) {
        st->has_observed = true;
        st->observed_size = observed_size;
        memcpy(st->observed_head, head, 32);
    }
    forge_record(l, k, st, NULL);
    free(st);
    ldg_key_free(k);
    ldg_ledger_close(l);
}

Test(tamper, ref_let_in_through_a_doctored_leaf_index_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    uint8_t a4[32];
    diverged_pair(d, a4);
    swap_ledgers(d);
    append_many(d, 3);
    qa_saves_checkpoint(d);
    forged_decision(d, a4, 0, NULL);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "ref"), "%s", r.out);
    run_free(&r);
    r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "ref"), "%s", r.out);
    run_free(&r);
    /* the host adds a leaf index record that names entry 4: still caught, and the index too */
    uint8_t k[8], lk[36];
    seq_key(4, k);
    leaf_index_key(a4, 4, lk);
    cr_assert_eq(lmdb_put_value(d, LEAF_DB, lk, 36, k, 8), 0);
    r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "ref"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", -1, "index"), "%s", r.out);
    run_free(&r);
}

/*
 * Around the runs over 16,500 entries (the batch that makes them, the full
 * verifies) of the far-back cases.  Under memcheck they run the plain
 * binary: each signs or checks 16,500 signatures, a minute or more of
 * memcheck's time, and together they were over a third of its time for
 * this suite.  The run that stays under memcheck there is verify --since,
 * which reaches the same end-of-run merge that decides a far-back head.
 * The ASan and plain builds run every command as it is.
 */
static bool
heavy_begin(void)
{
    bool vg = strstr(ldg_bin(), "ldg-vg") != NULL;
    if (vg)
        fixture_begin();
    return vg;
}

static void
heavy_end(bool vg)
{
    if (vg)
        fixture_end();
}

static void
observed_case(bool far)
{
    const char *d = tmp_dir();
    uint8_t a4[32];
    diverged_pair(d, a4);
    swap_ledgers(d);
    /* far: past the window of recent leaf hashes, so the end-of-run merge decides */
    int more = far ? 16500 : 3;
    bool heavy = far && heavy_begin();
    append_many(d, more);
    qa_saves_checkpoint(d); /* and B verifies before */
    heavy_end(heavy);
    /* a decision that observed A's chain of 5 entries */
    forged_decision(d, NULL, 5, a4);
    heavy = far && heavy_begin();
    run_result r = verify_fails(d);
    heavy_end(heavy);
    cr_assert(has_finding(r.out, "FAIL", 5 + more, "observed"), "%s", r.out);
    run_free(&r);
    r = since_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5 + more, "observed"), "%s", r.out);
    run_free(&r);
}

Test(tamper, observed_head_of_another_history_is_caught_recent, .fini = tmp_cleanup)
{
    observed_case(false);
}

Test(tamper, observed_head_of_another_history_is_caught_far_back, .fini = tmp_cleanup,
     .timeout = 60)
{
    observed_case(true);
}

/* The same far-back observed head, genuine, passes: the merge accepts what is true. */
Test(tamper, genuine_observed_head_far_back_verifies, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d);
    /* a decision: an approval may not judge the key record at 3 [POL-12] */
    run_result r = LDG(d, "{\"subject\":\"decided\"}", "sign", "--as", "decider.key", "--kind",
                       "decision", "--study", "S1", "--observed-from", "ledger", "--ref", "3",
                       "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "s.stmt", r.out);
    run_free(&r);
    bool heavy = heavy_begin();
    append_many(d, 16500);
    qa_saves_checkpoint(d);
    heavy_end(heavy);
    r = LDG(d, NULL, "append", "--signed", "s.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    heavy = heavy_begin();
    r = LDG(d, NULL, "verify");
    heavy_end(heavy);
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
    /* below the checkpoint, the observed head and the ref are found among the earlier entries */
    since_ok(d, "16505 entries, 1 signatures checked, 0 failures");
}

/* ------------------------------------------------------ review fixes -- */

/* Index records carry no data; hidden bytes in one are reported. */
Test(tamper, data_hidden_in_an_index_record_is_an_index_finding, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t k[3 + 8] = {'S', '1', 0}; /* study || 0x00 || seq */
    seq_key(6, k + 3);
    cr_assert_eq(lmdb_put_value(d, "study", k, sizeof k, "hidden", 6), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 6, "index"), "%s", r.out);
    run_free(&r);
}

/*
 * `log --study` / `--kind` walk an index, a view that trusts it to select:
 * a tampered index may hide records from the view, never add one.  Each
 * entry it names is decoded and must carry that study (kind) itself.
 */
Test(tamper, log_through_a_tampered_index_shows_only_records_that_carry_the_study,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t k[3 + 8] = {'S', '2', 0}; /* study || 0x00 || seq: #6 (of S1) filed under S2 */
    seq_key(6, k + 3);
    cr_assert_eq(lmdb_put_value(d, "study", k, sizeof k, "", 0), 0);
    uint8_t kk[9 + 8] = "decision"; /* kind || 0x00 || seq: #7 (a communication) */
    seq_key(7, kk + 9);
    cr_assert_eq(lmdb_put_value(d, "kind", kk, sizeof kk, "", 0), 0);
    uint8_t k1[3 + 8] = {'S', '1', 0}; /* and #8 taken out of S1's */
    seq_key(8, k1 + 3);
    cr_assert_eq(lmdb_del_key(d, "study", k1, sizeof k1), 0);
    run_result r = LDG(d, NULL, "log", "--study", "S2", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_empty(r.out, "an entry of S1 shown as S2's: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "log", "--kind", "decision", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_empty(r.out, "a communication shown as a decision: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "log", "--study", "S1", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    int n = 0;
    for (const char *p = r.out; (p = strstr(p, "\"study\":\"S1\"")); p++)
        n++;
    cr_assert_eq(n, 5, "#4..#9 but #8, hidden by the index: %s", r.out);
    cr_assert_null(strstr(r.out, "\"seq\":8,"), "%s", r.out);
    run_free(&r);
    /* verify checks the indexes against the entries */
    r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "index"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", -1, "index"), "the kind index's count: %s", r.out);
    run_free(&r);
}

/* The one-line log never shows an altered body as if nothing were wrong. */
Test(tamper, log_marks_a_body_that_does_not_match, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t key[8], *v;
    size_t vl;
    cr_assert(find_body(d, 6, key, &v, &vl));
    v[vl - 2] ^= 1; /* inside the JSON: "n":6 -> "n":7 */
    cr_assert_eq(lmdb_put_value(d, "bodies", key, 8, v, vl), 0);
    free(v);
    run_result r = LDG(d, NULL, "log");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *line = strstr(r.out, "#6 ");
    cr_assert_not_null(line, "%s", r.out);
    const char *eol = strchr(line, '\n');
    const char *mark = strstr(line, "BODY DOES NOT MATCH");
    cr_assert(mark && (!eol || mark < eol), "%s", r.out);
    cr_assert(!strstr(line, "record 6") || strstr(line, "record 6") > eol, "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------------- Merkle tree -- */

/* [VER-10] a stored tree node that is changed or removed is reported. */
Test(tamper, altered_or_removed_merkle_tree_nodes_are_tree_findings, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    uint8_t h[32]; /* level 1, index 2: the node over entries 4 and 5 */
    cr_assert_eq(tree_node_get(d, 1, 2, h), 0);
    h[0] ^= 1;
    cr_assert_eq(tree_node_put(d, 1, 2, h), 0);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 5, "tree"), "%s", r.out);
    run_free(&r);

    /* level 0, index 8: the leaf of entry 8, and what the ledger completed after it */
    cr_assert_eq(tree_node_cut(d, 0, 8), 0);
    r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 8, "tree"), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", -1, "tree"), "the record is short: %s", r.out);
    run_free(&r);
}

/* ------------------------------------- substituted and replayed records -- */

/* Copies entry seq and its body from ledger directory `from` into d's ledger. */
static void
transplant(const char *from, const char *d, uint64_t seq)
{
    size_t n, bl;
    uint8_t *e = get_entry(from, seq, &n), key[8], *body;
    put_entry(d, seq, e, n);
    if (find_body(from, seq, key, &body, &bl)) {
        cr_assert_eq(lmdb_put_value(d, "bodies", key, 8, body, bl), 0);
        free(body);
    }
    free(e);
}

/*
 * 21 CFR 11.70: a record re-signed by another registered key.  A twin of the
 * ledger, copied before seq 9, gets the same record signed by the decider
 * (who may write it); that entry and its body then replace the author's.
 * The entry alone is caught at seq 9; the twin's whole file in place of the
 * ledger is a consistent ledger, which only the checkpoint QA kept catches.
 */
Test(tamper, record_re_signed_by_another_registered_key_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    for (int i = 4; i < 9; i++)
        APPEND(d, "{\"subject\":\"visit\"}", "--as", "author.key", "--kind", "communication",
               "--study", "S1");
    char cmd[16800], twin[4200];
    snprintf(twin, sizeof twin, "%s/twin", d);
    snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -r '%s/ledger' '%s/ledger'", twin, d, twin);
    cr_assert_eq(system(cmd), 0);
    const char *body = "{\"subject\":\"Site 12 visit window agreed\"}";
    cr_assert_eq(APPEND(d, body, "--as", "author.key", "--kind", "communication", "--study", "S1"),
                 9);
    run_result r = LDG(d, body, "append", "--as", "decider.key", "--kind", "communication",
                       "--study", "S1", "--body", "-", "--ledger", "twin/ledger");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(strtol(r.out, NULL, 10), 9);
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "qa.txt", r.out);
    run_free(&r);

    /* the entry and body alone: the leaf, actor and tree records still say the author's */
    snprintf(cmd, sizeof cmd, "cp -r '%s/ledger' '%s/kept'", d, d);
    cr_assert_eq(system(cmd), 0);
    transplant(twin, d, 9);
    r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 9, NULL), "%s", r.out);
    run_free(&r);

    /* the twin's whole file: consistent in itself, another history than the one QA holds */
    snprintf(cmd, sizeof cmd,
             "cp '%s/ledger/data.mdb' '%s/kept/data.mdb' && rm -rf '%s/ledger' && mv '%s/kept' "
             "'%s/ledger'",
             twin, d, d, d, d);
    cr_assert_eq(system(cmd), 0);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "the twin is a consistent ledger: %s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--checkpoint", "qa.txt");
    cr_assert_eq(r.status, 1, "QA's checkpoint tells the histories apart: %s%s", r.out, r.err);
    run_free(&r);
}

/* An entry of another ledger (its own genesis, keys and origin) replayed into this one. */
Test(tamper, entry_replayed_from_another_ledger_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    char other[4200], cmd[4400];
    snprintf(other, sizeof other, "%s/other", d);
    snprintf(cmd, sizeof cmd, "mkdir '%s'", other);
    cr_assert_eq(system(cmd), 0);
    make_ledger(other);
    for (int i = 4; i < 11; i++)
        APPEND(other, "{\"subject\":\"elsewhere\"}", "--as", "author.key", "--kind",
               "communication", "--study", "S1");
    /* in place of seq 9, and past the end at seq 10 */
    transplant(other, d, 9);
    transplant(other, d, 10);
    run_result r = verify_fails(d);
    cr_assert(has_finding(r.out, "FAIL", 9, NULL), "%s", r.out);
    cr_assert(has_finding(r.out, "FAIL", 10, NULL), "%s", r.out);
    run_free(&r);
}

/*
 * [KEY-4] A key.add of a small-order public key (the identity point here),
 * as a ledger written before append refused it would hold: verify names it.
 */
Test(tamper, detects_key_add_of_a_small_order_public_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_tamper_ledger(d);
    char name[LDG_NAME_MAX + 1], path[700];
    uint8_t pub[LDG_PUB_BYTES];
    ldg_err e;
    snprintf(path, sizeof path, "%s/approver.pub", d);
    cr_assert_eq(ldg_vkey_read(path, name, pub, &e), LDG_OK, "%s", e.msg);
    size_t n;
    uint8_t *v = get_entry(d, 3, &n);
    long at = find_bytes(v, n, pub, sizeof pub, false);
    cr_assert(at > 0, "entry 3 registers the approver");
    static const uint8_t identity[LDG_PUB_BYTES] = {0x01};
    memcpy(v + at, identity, sizeof identity);
    put_entry(d, 3, v, n);
    free(v);
    run_result r = verify_fails(d);
    bool hit = false;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
        hit |= strstr(line, "\"seq\":3") && strstr(line, "\"check\":\"key\"") &&
               strstr(line, "not a valid Ed25519 public key");
    cr_assert(hit, "a key finding at #3: %s", r.out);
    run_free(&r);
}
