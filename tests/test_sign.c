/*
 * test_sign.c - building and signing statements [FMT-2][FMT-4][FMT-6], the
 * offline check of a signed statement, and the signed-statement line
 * [FMT-8] (ledger/sign.c, policy.c, body.c): every kind class, every shape
 * and policy refusal with its status, forged and malformed lines, batches
 * signed on several threads, and allocation failure while signing.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ldgi_alloc_fail_after(long n);

static void
setup(void)
{
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
}

TestSuite(sign, .init = setup);

/* ------------------------------------------------------------ helpers -- */

static ldg_key *
gen(const char *name)
{
    ldg_key *k = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_generate(name, &k, &e), LDG_OK, "%s", e.msg);
    return k;
}

static ldg_fields
user_fields(const char *kind)
{
    ldg_fields f = {.kind = kind, .study = "STUDY-1", .has_time = 1,
                    .time_ns = 1700000000123456789LL, .tz_min = 120};
    return f;
}

static ldg_signed *
sign_ok(const ldg_key *k, const ldg_fields *f)
{
    ldg_signed *s = NULL;
    ldg_err e = {0};
    cr_assert_eq(ldg_sign(k, f, &s, &e), LDG_OK, "sign %s: %s", f->kind, e.msg);
    cr_assert_not_null(s);
    cr_assert_eq(ldg_signed_check(s, &e), LDG_OK, "check %s: %s", f->kind, e.msg);
    return s;
}

static ldg_status
sign_status(const ldg_key *k, const ldg_fields *f, ldg_err *e)
{
    ldg_signed *s = NULL;
    memset(e, 0, sizeof *e);
    ldg_status st = ldg_sign(k, f, &s, e);
    if (st != LDG_OK) {
        cr_assert_eq(e->status, st, "err.status matches the return value");
        cr_assert_neq(e->msg[0], '\0', "a refusal says why");
    }
    ldg_signed_free(s);
    return st;
}

static void
decode(const ldg_signed *s, ldgi_stmt *st)
{
    size_t n;
    const uint8_t *p = ldg_signed_statement(s, &n);
    const char *why;
    cr_assert(ldgi_stmt_decode(p, n, st, &why), "decode: %s", why);
}

static bool
str_is(ldgi_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static char *
b64(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/* A signed-statement line from raw parts; malloc'd. */
static char *
make_line(const uint8_t *stmt, size_t sl, const uint8_t *sig, size_t sigl, const uint8_t *salt,
          size_t saltl, const uint8_t *body, size_t bl)
{
    char *a = b64(stmt, sl), *b = b64(sig, sigl), *c = b64(salt, saltl), *d = b64(body, bl);
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 200;
    char *out = malloc(n);
    snprintf(out, n,
             "{\"ldg\":\"signed-statement/v1\",\"statement\":\"%s\",\"signature\":\"%s\","
             "\"salt\":\"%s\",\"body\":\"%s\"}",
             a, b, c, d);
    free(a);
    free(b);
    free(c);
    free(d);
    return out;
}

static ldg_status
from_line(const char *line, ldg_err *e)
{
    ldg_signed *s = NULL;
    memset(e, 0, sizeof *e);
    ldg_status st = ldg_signed_from_line(line, strlen(line), &s, e);
    if (st != LDG_OK)
        cr_assert_null(s, "no handle on failure");
    ldg_signed_free(s);
    return st;
}

/* Statement bytes re-made from st (views may point into other buffers) and signed by k. */
static ldg_signed *
resign(const ldg_key *k, const ldgi_stmt *st, const uint8_t salt[32], const char *body)
{
    ldg_signed *s = calloc(1, sizeof *s);
    ldgi_buf b = {0};
    cr_assert(ldgi_stmt_encode(st, &b));
    s->stmt = b.p;
    s->stmt_len = b.len;
    ldgi_stmt_sign(s->stmt, s->stmt_len, ldgi_key_sk(k), s->sig);
    memcpy(s->salt, salt, 32);
    s->body_len = strlen(body);
    s->body = malloc(s->body_len + 1);
    memcpy(s->body, body, s->body_len + 1);
    return s;
}

/* ------------------------------------------------- every kind class -- */

Test(sign, user_statement_signs_and_checks)
{
    ldg_key *k = gen("author");
    static const uint8_t ref[1][32] = {{1, 2, 3}};
    ldg_fields f = user_fields("communication");
    f.refs = ref;
    f.nrefs = 1;
    f.body = "{\"b\": 2, \"a\": [1, 2.5, \"x\"]}";
    f.body_len = strlen(f.body);
    f.has_observed = 1;
    f.observed_size = 3;
    memset(f.observed_head, 0x99, 32);
    ldg_signed *s = sign_ok(k, &f);
    ldgi_stmt st;
    decode(s, &st);
    uint8_t pub[32];
    ldg_key_public(k, pub);
    cr_assert_arr_eq(st.actor, pub, 32);
    cr_assert(str_is(st.kind, "communication"));
    cr_assert(str_is(st.study, "STUDY-1"));
    cr_assert_eq(st.time_ns, 1700000000123456789LL);
    cr_assert_eq(st.tz_min, 120);
    cr_assert_eq(st.nrefs, 1);
    cr_assert_arr_eq(st.refs[0], ref[0], 32);
    cr_assert(st.has_observed && st.observed_size == 3);
    cr_assert_not(st.has_key || st.has_origin || st.has_meaning || st.has_reason);
    size_t bl;
    const uint8_t *body = ldg_signed_body(s, &bl);
    cr_assert_eq(bl, strlen("{\"a\":[1,2.5,\"x\"],\"b\":2}"));
    cr_assert_eq(memcmp(body, "{\"a\":[1,2.5,\"x\"],\"b\":2}", bl), 0, "canonical body: %.*s",
                 (int)bl, body);
    /* the signature is over domain || 0x00 || statement, by the actor */
    size_t sl;
    const uint8_t *sp = ldg_signed_statement(s, &sl);
    cr_assert(ldgi_stmt_sig_ok(sp, sl, pub, s->sig));
    uint8_t *m = malloc(sizeof LDGI_DOMAIN_STMT + sl);
    memcpy(m, LDGI_DOMAIN_STMT, sizeof LDGI_DOMAIN_STMT);
    memcpy(m + sizeof LDGI_DOMAIN_STMT, sp, sl);
    cr_assert_eq(crypto_sign_ed25519_verify_detached(s->sig, m, sizeof LDGI_DOMAIN_STMT + sl, pub),
                 0, "signature message is \"ldg/statement/v1\" 0x00 statement");
    free(m);
    /* the commitment is SHA-256("ldg/body/v1" 0x00 || salt || body) */
    uint8_t c[32];
    ldgi_body_commit(s->salt, body, bl, c);
    cr_assert_arr_eq(c, st.body, 32);
    ldg_signed_free(s);
    ldg_key_free(k);
}

Test(sign, every_user_kind_signs)
{
    static const char *const kinds[] = {"communication", "meeting", "query", "response",
                                        "decision", "escalation", "deviation", "action",
                                        "document"};
    ldg_key *k = gen("author");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        ldg_fields f = user_fields(kinds[i]);
        ldg_signed_free(sign_ok(k, &f));
    }
    ldg_key_free(k);
}

Test(sign, approval_and_rejection_with_meaning_sign)
{
    ldg_key *k = gen("approver");
    static const char *const meanings[] = {"review", "approval", "responsibility", "authorship"};
    for (size_t i = 0; i < 4; i++) {
        ldg_fields f = user_fields(i % 2 ? "rejection" : "approval");
        f.meaning = meanings[i];
        static const uint8_t judged[1][32] = {{9}}; /* [POL-12] what it judges */
        f.refs = judged;
        f.nrefs = 1;
        ldg_signed *s = sign_ok(k, &f);
        ldgi_stmt st;
        decode(s, &st);
        cr_assert(st.has_meaning && str_is(st.meaning, meanings[i]));
        ldg_signed_free(s);
    }
    ldg_key_free(k);
}

Test(sign, correction_with_ref_and_reason_signs)
{
    ldg_key *k = gen("author");
    static const uint8_t ref[1][32] = {{7}};
    ldg_fields f = user_fields("correction");
    f.refs = ref;
    f.nrefs = 1;
    f.reason = "typo in the dose";
    ldg_signed *s = sign_ok(k, &f);
    ldgi_stmt st;
    decode(s, &st);
    cr_assert(st.has_reason && str_is(st.reason, "typo in the dose"));
    ldg_signed_free(s);
    ldg_key_free(k);
}

Test(sign, genesis_signs_with_origin_and_admin_key)
{
    ldg_key *log = gen("log"), *admin = gen("admin");
    uint8_t ap[32];
    ldg_key_public(admin, ap);
    ldg_fields f = {.kind = "genesis", .study = "", .origin = "test.example/ledger",
                    .key_pub = ap, .key_id = "admin", .key_name = "Ada Admin",
                    .key_org = "Acme CRO", .key_roles = "admin"};
    ldg_signed *s = sign_ok(log, &f);
    ldgi_stmt st;
    decode(s, &st);
    cr_assert(str_is(st.kind, "genesis"));
    cr_assert(st.has_origin && str_is(st.origin, "test.example/ledger"));
    cr_assert(st.has_key && st.key_full);
    cr_assert_arr_eq(st.key_pub, ap, 32);
    cr_assert(str_is(st.key_id, "admin") && str_is(st.key_name, "Ada Admin") &&
              str_is(st.key_org, "Acme CRO"));
    cr_assert_eq(st.nroles, 1);
    cr_assert(str_is(st.roles[0], "admin"));
    ldg_signed_free(s);
    ldg_key_free(log);
    ldg_key_free(admin);
}

Test(sign, key_add_roles_are_sorted_and_deduplicated)
{
    ldg_key *admin = gen("admin"), *n = gen("sam");
    uint8_t np[32];
    ldg_key_public(n, np);
    ldg_fields f = {.kind = "key.add", .study = "", .key_pub = np, .key_id = "sam",
                    .key_name = "Dr Sam Patel", .key_org = "Helix Pharma",
                    .key_roles = " decider, author,author ,decider"};
    ldg_signed *s = sign_ok(admin, &f);
    ldgi_stmt st;
    decode(s, &st);
    cr_assert_eq(st.nroles, 2);
    cr_assert(str_is(st.roles[0], "author") && str_is(st.roles[1], "decider"));
    ldg_signed_free(s);
    ldg_key_free(admin);
    ldg_key_free(n);
}

Test(sign, key_revoke_signs_with_pub_and_reason)
{
    ldg_key *admin = gen("admin"), *n = gen("sam");
    uint8_t np[32];
    ldg_key_public(n, np);
    ldg_fields f = {.kind = "key.revoke", .study = "", .key_pub = np, .reason = "left"};
    ldg_signed *s = sign_ok(admin, &f);
    ldgi_stmt st;
    decode(s, &st);
    cr_assert(st.has_key && !st.key_full);
    cr_assert_arr_eq(st.key_pub, np, 32);
    ldg_signed_free(s);
    ldg_key_free(admin);
    ldg_key_free(n);
}

Test(sign, equal_fields_give_different_salts_and_commitments)
{
    ldg_key *k = gen("author");
    ldg_fields f = user_fields("query");
    ldg_signed *a = sign_ok(k, &f), *b = sign_ok(k, &f);
    cr_assert_arr_neq(a->salt, b->salt, 32);
    ldgi_stmt sa, sb;
    decode(a, &sa);
    decode(b, &sb);
    cr_assert_arr_neq(sa.body, sb.body, 32, "the salted commitment hides equal bodies");
    ldg_signed_free(a);
    ldg_signed_free(b);
    ldg_key_free(k);
}

Test(sign, without_time_uses_the_clock)
{
    ldg_key *k = gen("author");
    ldg_fields f = user_fields("query");
    f.has_time = 0;
    int64_t before, after;
    ldg_time_now(&before, NULL);
    ldg_signed *s = sign_ok(k, &f);
    ldg_time_now(&after, NULL);
    ldgi_stmt st;
    decode(s, &st);
    cr_assert(st.time_ns >= before && st.time_ns <= after);
    ldg_signed_free(s);
    ldg_key_free(k);
}

Test(sign, check_detects_a_signature_by_another_key)
{
    ldg_key *k = gen("author"), *o = gen("author");
    ldg_fields f = user_fields("query");
    ldg_signed *s = sign_ok(k, &f);
    size_t sl;
    const uint8_t *sp = ldg_signed_statement(s, &sl);
    ldgi_stmt_sign(sp, sl, ldgi_key_sk(o), s->sig);
    ldg_err e;
    cr_assert_eq(ldg_signed_check(s, &e), LDG_E_BADSIG);
    ldg_signed_free(s);
    ldg_key_free(k);
    ldg_key_free(o);
}

/* ------------------------------------------------------- line format -- */

Test(sign, signed_line_round_trips)
{
    ldg_key *k = gen("author");
    ldg_fields f = user_fields("meeting");
    f.body = "{\"minutes\":\"ok \\u00e9 \xe2\x9c\x93\"}";
    f.body_len = strlen(f.body);
    ldg_signed *s = sign_ok(k, &f), *t = NULL;
    char *line;
    size_t len;
    ldg_err e;
    cr_assert_eq(ldg_signed_to_line(s, &line, &len, &e), LDG_OK);
    cr_assert_eq(strlen(line), len);
    cr_assert_null(strchr(line, '\n'), "one line");
    cr_assert_eq(strncmp(line, "{\"ldg\":\"signed-statement/v1\",", 29), 0, "%s", line);
    cr_assert_eq(ldg_signed_from_line(line, len, &t, &e), LDG_OK, "%s", e.msg);
    size_t a, b;
    const uint8_t *pa = ldg_signed_statement(s, &a), *pb = ldg_signed_statement(t, &b);
    cr_assert_eq(a, b);
    cr_assert_arr_eq(pa, pb, a);
    pa = ldg_signed_body(s, &a);
    pb = ldg_signed_body(t, &b);
    cr_assert_eq(a, b);
    cr_assert_arr_eq(pa, pb, a);
    cr_assert_arr_eq(s->sig, t->sig, 64);
    cr_assert_arr_eq(s->salt, t->salt, 32);
    /* and the line of the parsed statement is the same line */
    char *again;
    size_t al;
    cr_assert_eq(ldg_signed_to_line(t, &again, &al, &e), LDG_OK);
    cr_assert_str_eq(again, line);
    free(again);
    free(line);
    ldg_signed_free(s);
    ldg_signed_free(t);
    ldg_key_free(k);
}

/* Parts of a fresh valid statement for the line tests. */
typedef struct parts {
    ldg_key *k;
    ldg_signed *s;
    uint8_t *stmt, sig[64], salt[32], *body;
    size_t sl, bl;
} parts;

static parts
fresh_parts(void)
{
    parts p;
    p.k = gen("author");
    ldg_fields f = user_fields("document");
    f.body = "{\"title\":\"protocol v2\"}";
    f.body_len = strlen(f.body);
    p.s = sign_ok(p.k, &f);
    const uint8_t *sp = ldg_signed_statement(p.s, &p.sl), *bp = ldg_signed_body(p.s, &p.bl);
    p.stmt = malloc(p.sl);
    memcpy(p.stmt, sp, p.sl);
    p.body = malloc(p.bl);
    memcpy(p.body, bp, p.bl);
    memcpy(p.sig, p.s->sig, 64);
    memcpy(p.salt, p.s->salt, 32);
    return p;
}

static void
parts_free(parts *p)
{
    free(p->stmt);
    free(p->body);
    ldg_signed_free(p->s);
    ldg_key_free(p->k);
}

static char *
parts_line(const parts *p)
{
    return make_line(p->stmt, p->sl, p->sig, 64, p->salt, 32, p->body, p->bl);
}

Test(sign, from_line_rejects_flipped_signature)
{
    parts p = fresh_parts();
    char *line = parts_line(&p);
    ldg_err e;
    cr_assert_eq(from_line(line, &e), LDG_OK, "control: %s", e.msg);
    free(line);
    for (int i = 0; i < 64; i += 21) {
        p.sig[i] ^= 0x01;
        line = parts_line(&p);
        cr_assert_eq(from_line(line, &e), LDG_E_BADSIG, "signature byte %d: %s", i, e.msg);
        free(line);
        p.sig[i] ^= 0x01;
    }
    parts_free(&p);
}

Test(sign, from_line_rejects_flipped_body_byte)
{
    parts p = fresh_parts();
    ldg_err e;
    for (size_t i = 0; i < p.bl; i++) {
        p.body[i] ^= 0x01;
        char *line = parts_line(&p);
        cr_assert_eq(from_line(line, &e), LDG_E_INPUT, "body byte %zu", i);
        free(line);
        p.body[i] ^= 0x01;
    }
    parts_free(&p);
}

Test(sign, from_line_rejects_flipped_salt_and_statement_bytes)
{
    parts p = fresh_parts();
    ldg_err e;
    p.salt[5] ^= 0x80;
    char *line = parts_line(&p);
    cr_assert_eq(from_line(line, &e), LDG_E_INPUT, "salt");
    free(line);
    p.salt[5] ^= 0x80;
    /* a byte inside the study string: still decodes, so it is the signature that fails */
    long o = -1;
    for (size_t i = 0; i + 7 <= p.sl; i++)
        if (memcmp(p.stmt + i, "STUDY-1", 7) == 0)
            o = (long)i;
    cr_assert(o >= 0);
    p.stmt[o + 6] = '2';
    line = parts_line(&p);
    cr_assert_eq(from_line(line, &e), LDG_E_BADSIG, "statement byte");
    free(line);
    parts_free(&p);
}

Test(sign, from_line_rejects_non_canonical_body_json)
{
    /* correctly committed and signed, but the body is not in canonical JSON form */
    parts p = fresh_parts();
    static const char *const bodies[] = {"{\"title\": \"protocol v2\"}",
                                         "{\"b\":1,\"a\":2}",
                                         "{\"a\":1.0e0}",
                                         " {\"a\":1}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ldgi_stmt st;
        decode(p.s, &st);
        ldgi_body_commit(p.salt, (const uint8_t *)bodies[i], strlen(bodies[i]), st.body);
        ldg_signed *s = resign(p.k, &st, p.salt, bodies[i]);
        ldg_err e;
        cr_assert_eq(ldg_signed_check(s, &e), LDG_E_INPUT, "body %zu", i);
        char *line = make_line(s->stmt, s->stmt_len, s->sig, 64, s->salt, 32, s->body,
                               s->body_len);
        cr_assert_eq(from_line(line, &e), LDG_E_INPUT, "line with body %zu", i);
        free(line);
        ldg_signed_free(s);
    }
    parts_free(&p);
}

Test(sign, from_line_rejects_body_that_is_not_an_object)
{
    parts p = fresh_parts();
    static const char *const bodies[] = {"[1,2]", "\"x\"", "3", "null", "{\"a\":1}{"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ldgi_stmt st;
        decode(p.s, &st);
        ldgi_body_commit(p.salt, (const uint8_t *)bodies[i], strlen(bodies[i]), st.body);
        ldg_signed *s = resign(p.k, &st, p.salt, bodies[i]);
        ldg_err e;
        cr_assert_eq(ldg_signed_check(s, &e), LDG_E_INPUT, "body %zu", i);
        ldg_signed_free(s);
    }
    parts_free(&p);
}

Test(sign, from_line_rejects_missing_extra_and_wrong_fields)
{
    parts p = fresh_parts();
    char *good = parts_line(&p);
    ldg_err e;
    cr_assert_eq(from_line(good, &e), LDG_OK);
    json_error_t je;
    static const char *const fields[] = {"ldg", "statement", "signature", "salt", "body"};
    for (size_t i = 0; i < 5; i++) {
        json_t *o = json_loads(good, 0, &je);
        cr_assert_eq(json_object_del(o, fields[i]), 0);
        char *l = json_dumps(o, JSON_COMPACT);
        cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "without %s", fields[i]);
        free(l);
        /* the same field with a value of the wrong type */
        json_object_set_new(o, fields[i], json_integer(1));
        l = json_dumps(o, JSON_COMPACT);
        cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "%s as a number", fields[i]);
        free(l);
        json_decref(o);
    }
    json_t *o = json_loads(good, 0, &je);
    json_object_set_new(o, "note", json_string("hi"));
    char *l = json_dumps(o, JSON_COMPACT);
    cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "an extra field");
    free(l);
    json_decref(o);
    free(good);
    parts_free(&p);
}

Test(sign, from_line_rejects_wrong_tag)
{
    parts p = fresh_parts();
    char *good = parts_line(&p);
    static const char *const tags[] = {"signed-statement/v2", "Signed-Statement/v1", "",
                                       "signed-statement/v1 "};
    json_error_t je;
    ldg_err e;
    for (size_t i = 0; i < 4; i++) {
        json_t *o = json_loads(good, 0, &je);
        json_object_set_new(o, "ldg", json_string(tags[i]));
        char *l = json_dumps(o, JSON_COMPACT);
        cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "tag \"%s\"", tags[i]);
        free(l);
        json_decref(o);
    }
    free(good);
    parts_free(&p);
}

Test(sign, from_line_rejects_malformed_json_and_base64)
{
    parts p = fresh_parts();
    char *good = parts_line(&p);
    ldg_err e;
    size_t n = strlen(good);
    char *bad = malloc(n + 64);
    /* trailing garbage, a truncated line, not an object, duplicate key */
    snprintf(bad, n + 64, "%s x", good);
    cr_assert_eq(from_line(bad, &e), LDG_E_INPUT, "trailing garbage");
    snprintf(bad, n + 64, "%.*s", (int)(n - 1), good);
    cr_assert_eq(from_line(bad, &e), LDG_E_INPUT, "truncated");
    cr_assert_eq(from_line("[]", &e), LDG_E_INPUT, "array");
    cr_assert_eq(from_line("", &e), LDG_E_INPUT, "empty");
    snprintf(bad, n + 64, "{\"ldg\":\"x\",%s", good + 1);
    cr_assert_eq(from_line(bad, &e), LDG_E_INPUT, "duplicate key");
    free(bad);
    /* signature of 63 bytes, salt of 31, statement not base64 */
    char *l = make_line(p.stmt, p.sl, p.sig, 63, p.salt, 32, p.body, p.bl);
    cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "63-byte signature");
    free(l);
    l = make_line(p.stmt, p.sl, p.sig, 64, p.salt, 31, p.body, p.bl);
    cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "31-byte salt");
    free(l);
    l = strdup(good);
    char *st = strstr(l, "\"statement\":\"") + 13;
    st[3] = '*';
    cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "statement not base64");
    free(l);
    /* salt (32 bytes: one '=' of padding) with non-zero leftover bits */
    l = strdup(good);
    char *sa = strstr(l, "\"salt\":\"") + 8;
    cr_assert_eq(sa[43], '=');
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int v = (int)(strchr(alphabet, sa[42]) - alphabet);
    sa[42] = alphabet[v ^ 1];
    cr_assert_eq(from_line(l, &e), LDG_E_INPUT, "non-canonical base64 in salt");
    free(l);
    free(good);
    parts_free(&p);
}

Test(sign, from_line_rejects_a_statement_with_a_negative_version_without_crash)
{
    /* a hostile line: the statement's "v" is the negative fixint -1 */
    parts p = fresh_parts();
    cr_assert_eq(p.stmt[p.sl - 2], 'v');
    cr_assert_eq(p.stmt[p.sl - 1], 0x01);
    p.stmt[p.sl - 1] = 0xff;
    char *line = parts_line(&p);
    ldg_err e;
    cr_assert_eq(from_line(line, &e), LDG_E_INPUT);
    free(line);
    parts_free(&p);
}

/* ---------------------------------------------- shape and policy -- */

Test(sign, unknown_kind_is_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    static const char *const kinds[] = {"memo", "", "Communication", "key.add ", "genesis2"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        ldg_fields f = user_fields(kinds[i]);
        cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "kind \"%s\"", kinds[i]);
    }
    ldg_fields f = user_fields(NULL);
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_USAGE, "NULL kind");
    ldg_key_free(k);
}

Test(sign, approval_without_meaning_is_policy)
{
    ldg_key *k = gen("a");
    ldg_err e;
    ldg_fields f = user_fields("approval");
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_POLICY);
    cr_assert(strstr(e.msg, "meaning") != NULL, "%s", e.msg);
    f = user_fields("rejection");
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_POLICY);
    ldg_key_free(k);
}

Test(sign, correction_without_ref_or_reason_is_policy)
{
    ldg_key *k = gen("a");
    ldg_err e;
    static const uint8_t ref[1][32] = {{9}};
    ldg_fields f = user_fields("correction");
    f.reason = "why";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_POLICY, "no ref");
    f = user_fields("correction");
    f.refs = ref;
    f.nrefs = 1;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_POLICY, "no reason");
    ldg_key_free(k);
}

Test(sign, bad_meaning_is_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    static const char *const m[] = {"signature", "", "Approval", "review "};
    for (size_t i = 0; i < 4; i++) {
        ldg_fields f = user_fields("approval");
        f.meaning = m[i];
        cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "meaning \"%s\"", m[i]);
    }
    ldg_key_free(k);
}

Test(sign, duplicate_refs_are_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    static const uint8_t refs[3][32] = {{1}, {2}, {1}};
    ldg_fields f = user_fields("response");
    f.refs = refs;
    f.nrefs = 3;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT);
    ldg_key_free(k);
}

Test(sign, refs_limit_is_64)
{
    ldg_key *k = gen("a");
    ldg_err e;
    uint8_t(*refs)[32] = calloc(LDG_REFS_MAX + 1, 32);
    for (size_t i = 0; i <= LDG_REFS_MAX; i++)
        refs[i][0] = (uint8_t)i, refs[i][1] = 0xaa;
    ldg_fields f = user_fields("response");
    f.refs = (const uint8_t(*)[32])refs;
    f.nrefs = LDG_REFS_MAX;
    ldg_signed *s = sign_ok(k, &f);
    ldgi_stmt st;
    decode(s, &st);
    cr_assert_eq(st.nrefs, LDG_REFS_MAX);
    ldg_signed_free(s);
    f.nrefs = LDG_REFS_MAX + 1;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "65 refs");
    free(refs);
    ldg_key_free(k);
}

Test(sign, body_that_is_not_an_object_is_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    static const char *const bodies[] = {"[1,2]", "\"text\"", "3", "null", "true"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        ldg_fields f = user_fields("query");
        f.body = bodies[i];
        f.body_len = strlen(bodies[i]);
        cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "body %s", bodies[i]);
    }
    ldg_key_free(k);
}

Test(sign, invalid_json_body_names_line_and_column)
{
    ldg_key *k = gen("a");
    ldg_err e;
    ldg_fields f = user_fields("query");
    f.body = "{\n  \"a\": 1,\n  \"b\": }\n";
    f.body_len = strlen(f.body);
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT);
    cr_assert(strstr(e.msg, "line 3") != NULL, "%s", e.msg);
    cr_assert(strstr(e.msg, "column") != NULL, "%s", e.msg);
    /* duplicate keys, trailing garbage */
    f.body = "{\"a\":1,\"a\":2}";
    f.body_len = strlen(f.body);
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "duplicate key");
    f.body = "{} {}";
    f.body_len = strlen(f.body);
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "two objects");
    ldg_key_free(k);
}

Test(sign, invalid_utf8_is_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    ldg_fields f = user_fields("query");
    f.body = "{\"a\":\"\xc0\xaf\"}";
    f.body_len = strlen(f.body);
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "body");
    f = user_fields("query");
    f.study = "ST\xff";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "study");
    f = user_fields("correction");
    static const uint8_t ref[1][32] = {{1}};
    f.refs = ref;
    f.nrefs = 1;
    f.reason = "\xed\xa0\x80";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "reason");
    ldg_key_free(k);
}

Test(sign, oversize_body_is_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    size_t n = LDG_BODY_MAX + 1;
    char *b = malloc(n + 1);
    memset(b, ' ', n);
    memcpy(b, "{\"a\":1}", 7);
    b[n] = '\0';
    ldg_fields f = user_fields("query");
    f.body = b;
    f.body_len = n;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT);
    free(b);
    ldg_key_free(k);
}

Test(sign, oversize_statement_is_input)
{
    /* each text field within its limit, the statement over LDGI_STMT_MAX: impossible by
     * the limits alone, so check the limits themselves */
    ldg_key *k = gen("a");
    ldg_err e;
    char *big = malloc(LDG_TEXT_MAX + 2);
    memset(big, 'r', LDG_TEXT_MAX + 1);
    big[LDG_TEXT_MAX + 1] = '\0';
    static const uint8_t ref[1][32] = {{1}};
    ldg_fields f = user_fields("correction");
    f.refs = ref;
    f.nrefs = 1;
    f.reason = big;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "reason over LDG_TEXT_MAX");
    big[LDG_TEXT_MAX] = '\0';
    ldg_signed_free(sign_ok(k, &f));
    char study[LDG_STUDY_MAX + 2];
    memset(study, 's', LDG_STUDY_MAX + 1);
    study[LDG_STUDY_MAX + 1] = '\0';
    f = user_fields("query");
    f.study = study;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "study over LDG_STUDY_MAX");
    study[LDG_STUDY_MAX] = '\0';
    ldg_signed_free(sign_ok(k, &f));
    free(big);
    ldg_key_free(k);
}

Test(sign, claimed_time_before_1970_is_input)
{
    ldg_key *k = gen("a");
    ldg_err e;
    ldg_fields f = user_fields("query");
    f.time_ns = -1;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT);
    f.time_ns = 0;
    ldg_signed_free(sign_ok(k, &f));
    ldg_key_free(k);
}

Test(sign, other_shape_rules_are_input_or_policy)
{
    ldg_key *k = gen("a"), *o = gen("b");
    uint8_t op[32];
    ldg_key_public(o, op);
    ldg_err e;
    ldg_fields f = user_fields("query");
    f.study = "";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "user kind without study");
    f = user_fields("query");
    f.study = "a\nb";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "control character in study");
    f = user_fields("query");
    f.tz_min = 1081;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "tz out of range");
    f = user_fields("query");
    f.key_pub = op;
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "user kind with a key");
    /* [POL-10] any statement may name the ledger it is for; the name must be clean text */
    f = user_fields("query");
    f.origin = "sponsor.example/HX-301";
    cr_assert_eq(sign_status(k, &f, &e), LDG_OK, "user kind bound to a ledger: %s", e.msg);
    f.origin = "bad\norigin";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "origin with a control character");
    f.origin = "";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "empty origin");
    f = user_fields("correction");
    static const uint8_t ref[1][32] = {{1}};
    f.refs = ref;
    f.nrefs = 1;
    f.reason = "";
    cr_assert_eq(sign_status(k, &f, &e), LDG_E_INPUT, "empty reason");

    ldg_fields g = {.kind = "key.add", .study = "", .key_pub = op, .key_id = "b",
                    .key_name = "B", .key_org = "Org", .key_roles = "author"};
    ldg_signed_free(sign_ok(k, &g));
    g.study = "S";
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "key.add with a study");
    g.study = "";
    g.key_roles = "author,wizard";
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "unknown role");
    g.key_roles = "";
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "no role");
    g.key_roles = "author";
    g.key_id = "b b";
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "bad key id");
    g.key_id = "b";
    g.key_name = "";
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "empty printed name");
    g.key_name = "B";
    /* [POL-15] one ref (the key record it supersedes or reinstates from), never two */
    static const uint8_t two[2][32] = {{1}, {2}};
    g.refs = two;
    g.nrefs = 1;
    g.reason = "new device";
    ldg_signed_free(sign_ok(k, &g));
    g.nrefs = 2;
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "key.add with two refs");
    g.nrefs = 0;
    g.reason = NULL;
    g.key_pub = NULL;
    cr_assert_eq(sign_status(k, &g, &e), LDG_E_INPUT, "key.add without a key");

    ldg_fields r = {.kind = "key.revoke", .study = "", .key_pub = op};
    cr_assert_eq(sign_status(k, &r, &e), LDG_E_POLICY, "key.revoke without reason");
    r.reason = "gone";
    r.key_roles = "author";
    cr_assert_eq(sign_status(k, &r, &e), LDG_E_INPUT, "key.revoke with a full key");

    ldg_fields gen0 = {.kind = "genesis", .study = "", .origin = "o", .key_pub = op,
                       .key_id = "b", .key_name = "B", .key_org = "Org",
                       .key_roles = "author"};
    cr_assert_eq(sign_status(k, &gen0, &e), LDG_E_INPUT, "genesis key without admin");
    gen0.key_roles = "admin";
    gen0.origin = NULL;
    cr_assert_eq(sign_status(k, &gen0, &e), LDG_E_INPUT, "genesis without origin");
    ldg_key_free(k);
    ldg_key_free(o);
}

/* ------------------------------------------------------- sign_many -- */

Test(sign, sign_many_reports_the_bad_item_and_returns_no_handles)
{
    ldg_key *k = gen("author");
    enum { N = 12, BAD = 7 };
    ldg_fields f[N];
    for (size_t i = 0; i < N; i++)
        f[i] = user_fields("communication");
    f[BAD].kind = "memo";
    ldg_signed *out[N];
    for (size_t i = 0; i < N; i++)
        out[i] = (ldg_signed *)(uintptr_t)0x1; /* poison: must be overwritten */
    ldg_err e = {0};
    cr_assert_eq(ldg_sign_many(k, f, N, 4, out, &e), LDG_E_INPUT);
    cr_assert_eq(e.index, BAD);
    cr_assert_eq(e.status, LDG_E_INPUT);
    for (size_t i = 0; i < N; i++)
        cr_assert_null(out[i], "out[%zu]", i);
    /* the first bad item wins when there are several */
    f[3].kind = "approval"; /* no meaning: policy */
    cr_assert_eq(ldg_sign_many(k, f, N, 4, out, &e), LDG_E_POLICY);
    cr_assert_eq(e.index, 3);
    ldg_key_free(k);
}

Test(sign, sign_many_signs_every_item_in_order)
{
    ldg_key *k = gen("author");
    enum { N = 40 };
    ldg_fields f[N];
    char studies[N][16];
    for (size_t i = 0; i < N; i++) {
        f[i] = user_fields("query");
        snprintf(studies[i], sizeof studies[i], "S-%zu", i);
        f[i].study = studies[i];
    }
    ldg_signed *out[N];
    ldg_err e;
    cr_assert_eq(ldg_sign_many(k, f, N, 0, out, &e), LDG_OK, "%s", e.msg);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(ldg_signed_check(out[i], &e), LDG_OK, "item %zu: %s", i, e.msg);
        ldgi_stmt st;
        decode(out[i], &st);
        cr_assert(str_is(st.study, studies[i]), "item %zu in its place", i);
        ldg_signed_free(out[i]);
    }
    cr_assert_eq(ldg_sign_many(k, f, 0, 4, out, &e), LDG_OK, "zero items");
    ldg_key_free(k);
}

Test(sign, signing_a_key_record_leaves_the_callers_strtok_state_alone)
{
    /* A library must not use strtok: it clobbers the caller's tokenising and races
     * between ldg_sign_many's threads (items then get another item's roles). */
    ldg_key *admin = gen("admin");
    uint8_t pub[32];
    randombytes_buf(pub, 32);
    ldg_fields f = {.kind = "key.add", .study = "", .key_pub = pub, .key_id = "k",
                    .key_name = "K", .key_org = "O", .key_roles = "author,decider"};
    char mine[] = "first,second,third";
    char *tok = strtok(mine, ",");
    cr_assert_str_eq(tok, "first");
    ldg_signed_free(sign_ok(admin, &f));
    tok = strtok(NULL, ",");
    cr_assert_not_null(tok, "the caller's strtok sequence was ended by ldg_sign");
    cr_assert_str_eq(tok, "second");
    ldg_key_free(admin);
}

Test(sign, sign_many_of_key_records_keeps_each_items_roles)
{
    /* roles are parsed per item; parallel signing must not mix items' role lists */
    ldg_key *admin = gen("admin");
    enum { N = 512 };
    static const char *const rolesets[] = {"eraser,author,decider,approver", "author",
                                           "decider,approver", "admin"};
    static const size_t nroles[] = {4, 1, 2, 1};
    ldg_fields *f = calloc(N, sizeof *f);
    uint8_t(*pubs)[32] = calloc(N, 32);
    for (size_t i = 0; i < N; i++) {
        randombytes_buf(pubs[i], 32);
        f[i] = (ldg_fields){.kind = "key.add", .study = "", .key_pub = pubs[i], .key_id = "k",
                            .key_name = "K", .key_org = "O", .key_roles = rolesets[i % 4]};
    }
    ldg_signed **out = calloc(N, sizeof *out);
    for (int round = 0; round < 4; round++) {
        ldg_err e;
        cr_assert_eq(ldg_sign_many(admin, f, N, 8, out, &e), LDG_OK, "round %d: %s", round,
                     e.msg);
        for (size_t i = 0; i < N; i++) {
            ldgi_stmt st;
            decode(out[i], &st);
            cr_assert_eq(st.nroles, nroles[i % 4], "round %d item %zu", round, i);
            ldg_signed_free(out[i]);
        }
    }
    free(out);
    free(pubs);
    free(f);
    ldg_key_free(admin);
}

/* ------------------------------------------------- allocation failure -- */

Test(sign, allocation_failure_while_signing_never_yields_a_bad_signature)
{
    /* a statement over 1 KiB, so that the signature message is heap-allocated */
    ldg_key *k = gen("author");
    uint8_t(*refs)[32] = calloc(40, 32);
    for (size_t i = 0; i < 40; i++)
        refs[i][0] = (uint8_t)i + 1;
    ldg_fields f = user_fields("response");
    f.refs = (const uint8_t(*)[32])refs;
    f.nrefs = 40;
    bool done = false;
    for (long n = 0; n < 200 && !done; n++) {
        ldg_signed *s = NULL;
        ldg_err e;
        ldgi_alloc_fail_after(n);
        ldg_status st = ldg_sign(k, &f, &s, &e);
        ldgi_alloc_fail_after(-1);
        if (st == LDG_OK) {
            cr_assert_not_null(s);
            cr_assert_eq(ldg_signed_check(s, &e), LDG_OK,
                         "allocation %ld failed, ldg_sign said OK, but: %s", n, e.msg);
            ldg_signed_free(s);
            done = true; /* every allocation has been failed once */
        } else {
            cr_assert_eq(st, LDG_E_NOMEM, "allocation %ld: %s", n, e.msg);
            cr_assert_null(s);
        }
    }
    cr_assert(done);
    free(refs);
    ldg_key_free(k);
}

Test(sign, allocation_failure_while_checking_is_nomem_not_a_verdict)
{
    /* "could not check" must not read as "the statement is bad" */
    ldg_key *k = gen("author");
    uint8_t(*refs)[32] = calloc(40, 32);
    for (size_t i = 0; i < 40; i++)
        refs[i][0] = (uint8_t)i + 1;
    ldg_fields f = user_fields("response");
    f.refs = (const uint8_t(*)[32])refs;
    f.nrefs = 40;
    ldg_signed *s = sign_ok(k, &f);
    bool done = false;
    for (long n = 0; n < 200 && !done; n++) {
        ldg_err e;
        ldgi_alloc_fail_after(n);
        ldg_status st = ldg_signed_check(s, &e);
        ldgi_alloc_fail_after(-1);
        if (st == LDG_OK)
            done = true;
        else
            cr_assert_eq(st, LDG_E_NOMEM, "allocation %ld failed: status %d (%s)", n, st, e.msg);
    }
    cr_assert(done);
    ldg_signed_free(s);
    free(refs);
    ldg_key_free(k);
}
