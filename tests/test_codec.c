/*
 * test_codec.c - the canonical msgpack codec of statements and entries
 * [FMT-1..FMT-5] (ledger/codec.c): round trips of every field, refusal of
 * every non-canonical encoding, hostile inputs that must fail without
 * crashing or allocating what they ask for, UTF-8 and size caps.
 *
 * Non-canonical inputs are made by byte surgery on a canonical encoding:
 * find a key, splice its value, and check that the decoder refuses.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) ((ldgi_str){(lit), sizeof(lit) - 1})

static void
setup(void)
{
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
}

TestSuite(codec, .init = setup);

/* ------------------------------------------------------------ helpers -- */

/* A minimal user statement: no optional field. */
static ldgi_stmt
base_stmt(void)
{
    ldgi_stmt s;
    memset(&s, 0, sizeof s);
    s.v = 1;
    memset(s.actor, 0x11, sizeof s.actor);
    memset(s.body, 0x22, sizeof s.body);
    s.kind = S("communication");
    s.study = S("S-1");
    s.time_ns = 1700000000123456789LL;
    s.tz_min = 60;
    return s;
}

/* A statement with every optional field present. */
static ldgi_stmt
full_stmt(void)
{
    ldgi_stmt s = base_stmt();
    s.kind = S("key.add");
    s.has_key = true;
    s.key_full = true;
    memset(s.key_pub, 0x33, sizeof s.key_pub);
    s.key_id = S("alice");
    s.key_name = S("Alice Example");
    s.key_org = S("Acme CRO");
    s.nroles = 2;
    s.roles[0] = S("admin");
    s.roles[1] = S("author");
    s.has_meaning = true;
    s.meaning = S("review");
    s.has_observed = true;
    s.observed_size = 5;
    memset(s.observed_head, 0x44, sizeof s.observed_head);
    s.has_origin = true;
    s.origin = S("test.example/ledger");
    s.has_reason = true;
    s.reason = S("because");
    s.nrefs = 3;
    for (size_t i = 0; i < s.nrefs; i++)
        memset(s.refs[i], 0x50 + (int)i, LDG_HASH_BYTES);
    return s;
}

/* Encodes s; the caller frees *out. */
static size_t
enc(const ldgi_stmt *s, uint8_t **out)
{
    ldgi_buf b = {0};
    cr_assert(ldgi_stmt_encode(s, &b), "encode");
    *out = b.p;
    return b.len;
}

static size_t
enc_entry(const ldgi_entry *e, uint8_t **out)
{
    ldgi_buf b = {0};
    cr_assert(ldgi_entry_encode(e, &b), "encode entry");
    *out = b.p;
    return b.len;
}

/* Decodes from an exact-size heap copy, so that any over-read is a real one. */
static bool
dec(const uint8_t *p, size_t n, ldgi_stmt *s, const char **why)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    *why = NULL;
    bool ok = ldgi_stmt_decode(copy, n, s, why);
    if (!ok)
        cr_assert_not_null(*why, "a refusal says why");
    free(copy);
    return ok;
}

static bool
dec_ok(const uint8_t *p, size_t n)
{
    ldgi_stmt s;
    const char *why;
    return dec(p, n, &s, &why);
}

static bool
dec_entry(const uint8_t *p, size_t n, ldgi_entry *e)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    const char *why = NULL;
    bool ok = ldgi_entry_decode(copy, n, e, &why);
    if (!ok)
        cr_assert_not_null(why, "a refusal says why");
    free(copy);
    return ok;
}

static bool
str_eq(ldgi_str a, ldgi_str b)
{
    return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static void
assert_stmt_eq(const ldgi_stmt *a, const ldgi_stmt *b)
{
    cr_assert_eq(a->v, b->v);
    cr_assert_arr_eq(a->actor, b->actor, LDG_PUB_BYTES);
    cr_assert_arr_eq(a->body, b->body, LDG_HASH_BYTES);
    cr_assert_eq(a->has_key, b->has_key);
    if (a->has_key) {
        cr_assert_arr_eq(a->key_pub, b->key_pub, LDG_PUB_BYTES);
        cr_assert_eq(a->key_full, b->key_full);
        if (a->key_full) {
            cr_assert(str_eq(a->key_id, b->key_id));
            cr_assert(str_eq(a->key_name, b->key_name));
            cr_assert(str_eq(a->key_org, b->key_org));
            cr_assert_eq(a->nroles, b->nroles);
            for (size_t i = 0; i < a->nroles; i++)
                cr_assert(str_eq(a->roles[i], b->roles[i]), "role %zu", i);
        }
    }
    cr_assert(str_eq(a->kind, b->kind));
    cr_assert_eq(a->has_meaning, b->has_meaning);
    if (a->has_meaning)
        cr_assert(str_eq(a->meaning, b->meaning));
    cr_assert_eq(a->has_observed, b->has_observed);
    if (a->has_observed) {
        cr_assert_eq(a->observed_size, b->observed_size);
        cr_assert_arr_eq(a->observed_head, b->observed_head, LDG_HASH_BYTES);
    }
    cr_assert_eq(a->has_origin, b->has_origin);
    if (a->has_origin)
        cr_assert(str_eq(a->origin, b->origin));
    cr_assert_eq(a->has_reason, b->has_reason);
    if (a->has_reason)
        cr_assert(str_eq(a->reason, b->reason));
    cr_assert_eq(a->nrefs, b->nrefs);
    for (size_t i = 0; i < a->nrefs; i++)
        cr_assert_arr_eq(a->refs[i], b->refs[i], LDG_HASH_BYTES, "ref %zu", i);
    cr_assert(str_eq(a->study, b->study));
    cr_assert_eq(a->time_ns, b->time_ns);
    cr_assert_eq(a->tz_min, b->tz_min);
}

/* encode -> decode -> compare fields -> re-encode gives the same bytes. */
static void
round_trip(const ldgi_stmt *s)
{
    uint8_t *p;
    size_t n = enc(s, &p);
    ldgi_stmt d;
    const char *why;
    cr_assert(dec(p, n, &d, &why), "decode: %s", why);
    /* views must point into the encoded bytes, so decode p itself for the re-encode */
    cr_assert(ldgi_stmt_decode(p, n, &d, &why), "decode: %s", why);
    assert_stmt_eq(s, &d);
    uint8_t *q;
    size_t m = enc(&d, &q);
    cr_assert_eq(m, n);
    cr_assert_arr_eq(p, q, n);
    free(p);
    free(q);
}

/* Offset of the fixstr key `k` (its header byte) in p; -1 if absent. */
static long
key_at(const uint8_t *p, size_t n, const char *k)
{
    size_t kl = strlen(k);
    for (size_t i = 0; i + 1 + kl <= n; i++)
        if (p[i] == (0xa0 | kl) && memcmp(p + i + 1, k, kl) == 0)
            return (long)i;
    return -1;
}

/* Offset of the value that follows key k. */
static size_t
val_at(const uint8_t *p, size_t n, const char *k)
{
    long o = key_at(p, n, k);
    cr_assert(o >= 0, "key %s not found", k);
    return (size_t)o + 1 + strlen(k);
}

/* New buffer: p with [off, off+del) replaced by ins. */
static uint8_t *
splice(const uint8_t *p, size_t n, size_t off, size_t del, const void *ins, size_t il,
       size_t *outn)
{
    cr_assert(off + del <= n);
    uint8_t *q = malloc(n - del + il + 1);
    memcpy(q, p, off);
    memcpy(q + off, ins, il);
    memcpy(q + off + il, p + off + del, n - off - del);
    *outn = n - del + il;
    return q;
}

/* Replaces the value of key k (of length oldlen bytes) by ins, and says whether it decodes. */
static bool
decodes_with_value(const ldgi_stmt *s, const char *k, size_t oldlen, const void *ins, size_t il)
{
    uint8_t *p;
    size_t n = enc(s, &p), m;
    uint8_t *q = splice(p, n, val_at(p, n, k), oldlen, ins, il, &m);
    bool ok = dec_ok(q, m);
    free(p);
    free(q);
    return ok;
}

/* ---------------------------------------------------------- round trips -- */

Test(codec, minimal_statement_round_trips)
{
    ldgi_stmt s = base_stmt();
    round_trip(&s);
}

Test(codec, statement_with_every_optional_field_round_trips)
{
    ldgi_stmt s = full_stmt();
    round_trip(&s);
}

Test(codec, each_optional_field_alone_round_trips)
{
    for (int which = 0; which < 6; which++) {
        ldgi_stmt s = base_stmt();
        switch (which) {
        case 0:
            s.has_key = true;
            memset(s.key_pub, 0x33, sizeof s.key_pub);
            break;
        case 1:
            s.has_meaning = true;
            s.meaning = S("approval");
            break;
        case 2:
            s.has_observed = true;
            s.observed_size = 0;
            break;
        case 3:
            s.has_origin = true;
            s.origin = S("o");
            break;
        case 4:
            s.has_reason = true;
            s.reason = S("r");
            break;
        case 5:
            s.nrefs = 1;
            memset(s.refs[0], 0x66, LDG_HASH_BYTES);
            break;
        }
        round_trip(&s);
    }
}

Test(codec, key_with_pub_only_round_trips)
{
    ldgi_stmt s = base_stmt();
    s.kind = S("key.revoke");
    s.study = S("");
    s.has_key = true;
    memset(s.key_pub, 0x77, sizeof s.key_pub);
    s.has_reason = true;
    s.reason = S("left the company");
    round_trip(&s);
}

Test(codec, negative_time_and_negative_tz_round_trip)
{
    static const int64_t times[] = {-1, -32, -33, -128, -129, -32768, -32769, -2147483648LL,
                                    -2147483649LL, -1234567890123456789LL, INT64_MIN};
    static const int32_t tzs[] = {-1, -5, -32, -33, -60, -330, -1080};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        ldgi_stmt s = base_stmt();
        s.time_ns = times[i];
        s.tz_min = tzs[i % (sizeof tzs / sizeof tzs[0])];
        round_trip(&s);
    }
}

Test(codec, integer_boundaries_round_trip)
{
    static const int64_t times[] = {0, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
                                    4294967296LL, INT64_MAX};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        ldgi_stmt s = full_stmt();
        s.time_ns = times[i];
        s.observed_size = (uint64_t)times[i];
        s.tz_min = (int32_t)(i % 2 ? 1080 : 0);
        round_trip(&s);
    }
    ldgi_stmt s = full_stmt();
    s.observed_size = UINT64_MAX;
    round_trip(&s);
}

Test(codec, max_refs_round_trip)
{
    ldgi_stmt s = base_stmt();
    s.nrefs = LDG_REFS_MAX;
    for (size_t i = 0; i < s.nrefs; i++) {
        memset(s.refs[i], (int)i, LDG_HASH_BYTES);
        s.refs[i][31] = 0xee;
    }
    round_trip(&s);
}

Test(codec, max_roles_round_trip)
{
    ldgi_stmt s = full_stmt();
    static const char *const r[LDGI_ROLES_MAX] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    s.nroles = LDGI_ROLES_MAX;
    for (size_t i = 0; i < s.nroles; i++)
        s.roles[i] = (ldgi_str){r[i], 1};
    round_trip(&s);
    s.nroles = 0; /* an empty role list is a codec matter, not a policy one */
    round_trip(&s);
}

Test(codec, multibyte_utf8_strings_round_trip)
{
    ldgi_stmt s = full_stmt();
    s.study = S("Z\xc3\xbcrich-\xe7\xa0\x94\xe7\xa9\xb6-\xf0\x9f\x98\x80");
    s.key_name = S("Ren\xc3\xa9" "e \xc3\x98stergaard");
    round_trip(&s);
}

Test(codec, long_strings_use_str16_and_str32_and_round_trip)
{
    size_t lens[] = {31, 32, 255, 256, 65535, 65536};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char *r = malloc(lens[i]);
        memset(r, 'x', lens[i]);
        ldgi_stmt s = base_stmt();
        s.has_reason = true;
        s.reason = (ldgi_str){r, lens[i]};
        uint8_t *p;
        size_t n = enc(&s, &p);
        if (n <= LDGI_STMT_MAX) {
            ldgi_stmt d;
            const char *why;
            cr_assert(ldgi_stmt_decode(p, n, &d, &why), "len %zu: %s", lens[i], why);
            cr_assert_eq(d.reason.len, lens[i]);
        }
        free(p);
        free(r);
    }
}

Test(codec, entry_round_trips)
{
    ldgi_stmt s = full_stmt();
    uint8_t *sp;
    size_t sn = enc(&s, &sp);
    uint64_t seqs[] = {0, 1, 127, 128, 65536, (uint64_t)1 << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        ldgi_entry e = {.v = 1, .seq = seqs[i], .stmt = sp, .stmt_len = sn,
                        .time_ns = 1700000000000000000ULL + i};
        memset(e.prev, 0xab, sizeof e.prev);
        memset(e.sig, 0xcd, sizeof e.sig);
        uint8_t *p;
        size_t n = enc_entry(&e, &p);
        ldgi_entry d;
        const char *why;
        cr_assert(ldgi_entry_decode(p, n, &d, &why), "seq %llu: %s",
                  (unsigned long long)seqs[i], why);
        cr_assert_eq(d.v, 1);
        cr_assert_eq(d.seq, seqs[i]);
        cr_assert_eq(d.time_ns, e.time_ns);
        cr_assert_arr_eq(d.prev, e.prev, LDG_HASH_BYTES);
        cr_assert_arr_eq(d.sig, e.sig, LDG_SIG_BYTES);
        cr_assert_eq(d.stmt_len, sn);
        cr_assert_arr_eq(d.stmt, sp, sn);
        cr_assert(d.stmt >= p && d.stmt + d.stmt_len <= p + n, "stmt is a view into the entry");
        free(p);
    }
    free(sp);
}

Test(codec, leaf_hash_is_sha256_of_zero_byte_and_entry)
{
    /* RFC 6962 leaf: SHA-256(0x00 || entry).  Known answer for the empty entry. */
    uint8_t h[LDG_HASH_BYTES];
    ldgi_leaf_hash((const uint8_t *)"", 0, h);
    static const uint8_t want[32] = {0x6e, 0x34, 0x0b, 0x9c, 0xff, 0xb3, 0x7a, 0x98,
                                     0x9c, 0xa5, 0x44, 0xe6, 0xbb, 0x78, 0x0a, 0x2c,
                                     0x78, 0x90, 0x1d, 0x3f, 0xb3, 0x37, 0x38, 0x76,
                                     0x85, 0x11, 0xa3, 0x06, 0x17, 0xaf, 0xa0, 0x1d};
    cr_assert_arr_eq(h, want, 32);
}

/*
 * ldgi_leaf_and_body (export's checks) gives what ldgi_leaf_hash and
 * ldgi_body_commit give one by one, for entries and bodies of lengths
 * around the block edges the two prefixes (1 and 44 bytes) move.
 */
Test(codec, leaf_and_body_hashed_at_once_as_one_by_one)
{
    static uint8_t buf[2][700];
    uint8_t salt[LDG_SALT_BYTES];
    randombytes_buf(buf, sizeof buf);
    randombytes_buf(salt, sizeof salt);
    for (size_t n = 0; n <= 300; n++) {
        size_t el = 400 - n, bl = n * 2;
        uint8_t l1[32], c1[32], l2[32], c2[32];
        ldgi_leaf_hash(buf[0], el, l1);
        ldgi_body_commit(salt, buf[1], bl, c1);
        ldgi_leaf_and_body(buf[0], el, l2, salt, bl ? buf[1] : NULL, bl, c2);
        cr_assert_arr_eq(l2, l1, 32, "leaf hash, entry of %zu, body of %zu", el, bl);
        cr_assert_arr_eq(c2, c1, 32, "commitment, entry of %zu, body of %zu", el, bl);
    }
}

/* ------------------------------------------------------ non-canonical -- */

Test(codec, canonical_encoding_is_accepted_by_the_surgery_baseline)
{
    /* The splice helpers are only meaningful if an identity splice decodes. */
    ldgi_stmt s = full_stmt();
    uint8_t one = 0x01;
    cr_assert(decodes_with_value(&s, "v", 1, &one, 1));
    uint8_t five = 0x05;
    uint8_t *p;
    size_t n = enc(&s, &p);
    size_t o = val_at(p, n, "observed");
    cr_assert_eq(p[o], 0x92);
    cr_assert_eq(p[o + 1], five, "observed size 5 is the single byte 0x05");
    free(p);
}

Test(codec, rejects_integer_in_wider_form_than_needed)
{
    ldgi_stmt s = full_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    /* observed: [0x05, bin] -> [0xcc 0x05, bin] */
    size_t o = val_at(p, n, "observed") + 1;
    static const uint8_t cc05[] = {0xcc, 0x05}, cd05[] = {0xcd, 0x00, 0x05};
    uint8_t *q = splice(p, n, o, 1, cc05, 2, &m);
    cr_assert_not(dec_ok(q, m), "0xcc 0x05 for 5");
    free(q);
    q = splice(p, n, o, 1, cd05, 3, &m);
    cr_assert_not(dec_ok(q, m), "0xcd 0x00 0x05 for 5");
    free(q);
    free(p);

    static const uint8_t v_cc[] = {0xcc, 0x01};
    cr_assert_not(decodes_with_value(&s, "v", 1, v_cc, 2), "v as 0xcc 0x01");
    static const uint8_t tz_cc[] = {0xcc, 0x3c}, tz_d0[] = {0xd0, 0x3c},
                         tz_d1[] = {0xd1, 0x00, 0x3c};
    cr_assert_not(decodes_with_value(&s, "tz", 1, tz_cc, 2), "tz 60 as uint8");
    cr_assert_not(decodes_with_value(&s, "tz", 1, tz_d0, 2), "tz 60 as int8");
    cr_assert_not(decodes_with_value(&s, "tz", 1, tz_d1, 3), "tz 60 as int16");
}

Test(codec, rejects_negative_integer_in_wider_form_than_needed)
{
    ldgi_stmt s = base_stmt();
    s.tz_min = -5; /* canonical: negative fixint 0xfb */
    static const uint8_t d0fb[] = {0xd0, 0xfb}, d1[] = {0xd1, 0xff, 0xfb};
    cr_assert_not(decodes_with_value(&s, "tz", 1, d0fb, 2));
    cr_assert_not(decodes_with_value(&s, "tz", 1, d1, 3));
    s.tz_min = -60; /* canonical: 0xd0 0xc4 */
    static const uint8_t d1c4[] = {0xd1, 0xff, 0xc4}, d2[] = {0xd2, 0xff, 0xff, 0xff, 0xc4};
    cr_assert_not(decodes_with_value(&s, "tz", 2, d1c4, 3));
    cr_assert_not(decodes_with_value(&s, "tz", 2, d2, 5));
}

Test(codec, rejects_map_keys_out_of_order)
{
    ldgi_stmt s = base_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p);
    /* swap the "refs" and "study" key/value pairs */
    size_t r = (size_t)key_at(p, n, "refs"), st = (size_t)key_at(p, n, "study"),
           t = (size_t)key_at(p, n, "time");
    cr_assert(r < st && st < t);
    uint8_t *q = malloc(n);
    memcpy(q, p, r);
    memcpy(q + r, p + st, t - st);
    memcpy(q + r + (t - st), p + r, st - r);
    memcpy(q + t, p + t, n - t);
    cr_assert_not(dec_ok(q, n));
    free(q);
    free(p);
}

Test(codec, rejects_out_of_order_keys_inside_the_key_map)
{
    ldgi_stmt s = full_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p);
    size_t a = (size_t)key_at(p, n, "id"), b = (size_t)key_at(p, n, "name"),
           c = (size_t)key_at(p, n, "org");
    uint8_t *q = malloc(n);
    memcpy(q, p, a);
    memcpy(q + a, p + b, c - b);
    memcpy(q + a + (c - b), p + a, b - a);
    memcpy(q + c, p + c, n - c);
    cr_assert_not(dec_ok(q, n));
    free(q);
    free(p);
}

Test(codec, rejects_duplicate_key)
{
    ldgi_stmt s = base_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    cr_assert_eq(p[0], 0x88, "8 fields");
    size_t st = (size_t)key_at(p, n, "study"), t = (size_t)key_at(p, n, "time");
    /* study twice in a row, map count 9 */
    uint8_t *q = splice(p, n, t, 0, p + st, t - st, &m);
    q[0] = 0x89;
    cr_assert_not(dec_ok(q, m));
    free(q);
    /* v twice at the end */
    static const uint8_t v2[] = {0xa1, 'v', 0x01};
    q = splice(p, n, n, 0, v2, 3, &m);
    q[0] = 0x89;
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, rejects_unknown_key)
{
    ldgi_stmt s = base_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    static const uint8_t zz[] = {0xa2, 'z', 'z', 0x01};
    uint8_t *q = splice(p, n, n, 0, zz, sizeof zz, &m); /* after "v": sorts last */
    q[0] = 0x89;
    cr_assert_not(dec_ok(q, m));
    free(q);
    static const uint8_t extra[] = {0xa5, 'c', 'l', 'a', 'i', 'm', 0x01}; /* between body, kind */
    q = splice(p, n, (size_t)key_at(p, n, "kind"), 0, extra, sizeof extra, &m);
    q[0] = 0x89;
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, rejects_trailing_bytes)
{
    ldgi_stmt s = full_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    static const uint8_t tails[][2] = {{0xc0, 0}, {0x00, 0}, {0x01, 0x02}};
    for (size_t i = 0; i < 3; i++) {
        uint8_t *q = splice(p, n, n, 0, tails[i], i == 2 ? 2 : 1, &m);
        cr_assert_not(dec_ok(q, m), "tail %zu", i);
        free(q);
    }
    free(p);
}

Test(codec, rejects_str8_for_a_short_string)
{
    ldgi_stmt s = base_stmt();
    static const uint8_t d9[] = {0xd9, 0x03, 'S', '-', '1'}, da[] = {0xda, 0x00, 0x03, 'S', '-', '1'};
    cr_assert_not(decodes_with_value(&s, "study", 4, d9, sizeof d9));
    cr_assert_not(decodes_with_value(&s, "study", 4, da, sizeof da));
    /* a map key in str8 form */
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    static const uint8_t kind8[] = {0xd9, 0x04, 'k', 'i', 'n', 'd'};
    uint8_t *q = splice(p, n, (size_t)key_at(p, n, "kind"), 5, kind8, sizeof kind8, &m);
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, rejects_wrong_bin_length_for_a_hash)
{
    ldgi_stmt s = full_stmt();
    uint8_t b[40];
    memset(b, 0x11, sizeof b);
    /* actor: 31 and 33 bytes instead of 32 */
    b[0] = 0xc4;
    b[1] = 31;
    cr_assert_not(decodes_with_value(&s, "actor", 34, b, 33));
    b[1] = 33;
    cr_assert_not(decodes_with_value(&s, "actor", 34, b, 35));
    /* body commitment and observed head likewise */
    b[1] = 31;
    cr_assert_not(decodes_with_value(&s, "body", 34, b, 33));
    uint8_t obs[40] = {0x92, 0x05, 0xc4, 33};
    cr_assert_not(decodes_with_value(&s, "observed", 36, obs, 37));
    /* a ref of 0 bytes */
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    size_t r = val_at(p, n, "refs");
    cr_assert_eq(p[r], 0x93);
    static const uint8_t empty[] = {0xc4, 0x00};
    uint8_t *q = splice(p, n, r + 1, 34, empty, 2, &m);
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, rejects_bin16_for_a_32_byte_hash)
{
    ldgi_stmt s = base_stmt();
    uint8_t b[35] = {0xc5, 0x00, 0x20};
    memset(b + 3, 0x11, 32);
    cr_assert_not(decodes_with_value(&s, "actor", 34, b, sizeof b));
}

Test(codec, rejects_map16_header_for_a_small_map)
{
    ldgi_stmt s = base_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    static const uint8_t de[] = {0xde, 0x00, 0x08};
    uint8_t *q = splice(p, n, 0, 1, de, 3, &m);
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, rejects_missing_required_field)
{
    static const char *const req[] = {"actor", "body", "kind", "refs", "study", "time", "tz", "v"};
    ldgi_stmt s = base_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p);
    for (size_t i = 0; i < 8; i++) {
        size_t a = (size_t)key_at(p, n, req[i]);
        size_t b = i + 1 < 8 ? (size_t)key_at(p, n, req[i + 1]) : n;
        size_t m;
        uint8_t *q = splice(p, n, a, b - a, "", 0, &m);
        q[0] = 0x87;
        cr_assert_not(dec_ok(q, m), "without %s", req[i]);
        free(q);
    }
    free(p);
}

Test(codec, rejects_partial_key_map)
{
    /* pub with only some of id, name, org, roles */
    ldgi_stmt s = full_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    size_t k = val_at(p, n, "key");
    cr_assert_eq(p[k], 0x85);
    size_t id = (size_t)key_at(p, n, "id"), name = (size_t)key_at(p, n, "name");
    uint8_t *q = splice(p, n, id, name - id, "", 0, &m);
    q[k] = 0x84;
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, rejects_unsupported_version_and_tz_out_of_range)
{
    ldgi_stmt s = base_stmt();
    s.v = 2;
    uint8_t *p;
    size_t n = enc(&s, &p);
    cr_assert_not(dec_ok(p, n), "v 2");
    free(p);
    s = base_stmt();
    s.tz_min = 1081;
    n = enc(&s, &p);
    cr_assert_not(dec_ok(p, n), "tz 1081");
    free(p);
    s.tz_min = -1081;
    n = enc(&s, &p);
    cr_assert_not(dec_ok(p, n), "tz -1081");
    free(p);
}

Test(codec, rejects_wrong_value_types)
{
    ldgi_stmt s = base_stmt();
    static const uint8_t nil = 0xc0, t = 0xc3, arr[] = {0x90}, str[] = {0xa1, 'x'};
    cr_assert_not(decodes_with_value(&s, "kind", 14, &nil, 1), "kind nil");
    cr_assert_not(decodes_with_value(&s, "time", 9, &t, 1), "time true");
    cr_assert_not(decodes_with_value(&s, "study", 4, arr, 1), "study array");
    cr_assert_not(decodes_with_value(&s, "refs", 1, str, 2), "refs string");
    static const uint8_t f64[] = {0xcb, 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_not(decodes_with_value(&s, "tz", 1, f64, sizeof f64), "tz float");
}

Test(codec, decoded_statement_always_re_encodes_to_its_input)
{
    /* Canonical form [FMT-1]: whatever single-bit flip decodes must be the one encoding. */
    ldgi_stmt s = full_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p);
    uint8_t *q = malloc(n);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(q, p, n);
            q[i] ^= (uint8_t)(1u << bit);
            ldgi_stmt d;
            const char *why;
            if (!ldgi_stmt_decode(q, n, &d, &why))
                continue;
            uint8_t *r;
            size_t rn = enc(&d, &r);
            cr_assert_eq(rn, n, "byte %zu bit %d", i, bit);
            cr_assert_arr_eq(r, q, n, "byte %zu bit %d", i, bit);
            free(r);
        }
    }
    free(q);
    free(p);
}

Test(codec, rejects_non_canonical_entry)
{
    ldgi_stmt s = base_stmt();
    uint8_t *sp;
    size_t sn = enc(&s, &sp);
    ldgi_entry e = {.v = 1, .seq = 5, .stmt = sp, .stmt_len = sn, .time_ns = 7};
    uint8_t *p;
    size_t n = enc_entry(&e, &p), m;
    ldgi_entry d;
    cr_assert(dec_entry(p, n, &d));
    static const uint8_t cc05[] = {0xcc, 0x05};
    uint8_t *q = splice(p, n, val_at(p, n, "seq"), 1, cc05, 2, &m);
    cr_assert_not(dec_entry(q, m, &d), "seq 0xcc 0x05");
    free(q);
    static const uint8_t cf07[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 7};
    q = splice(p, n, val_at(p, n, "time"), 1, cf07, sizeof cf07, &m);
    cr_assert_not(dec_entry(q, m, &d), "time as uint64");
    free(q);
    /* stmt bin of < 256 bytes in bin16 form */
    size_t so = val_at(p, n, "stmt");
    cr_assert_eq(p[so], 0xc4);
    uint8_t c5[3] = {0xc5, 0x00, p[so + 1]};
    q = splice(p, n, so, 2, c5, 3, &m);
    cr_assert_not(dec_entry(q, m, &d), "stmt as bin16");
    free(q);
    /* trailing byte */
    q = splice(p, n, n, 0, "\x00", 1, &m);
    cr_assert_not(dec_entry(q, m, &d), "trailing");
    free(q);
    /* a missing field (5 of 6) */
    size_t a = (size_t)key_at(p, n, "time"), b = (size_t)key_at(p, n, "v");
    q = splice(p, n, a, b - a, "", 0, &m);
    q[0] = 0x85;
    cr_assert_not(dec_entry(q, m, &d), "without time");
    free(q);
    /* an unknown seventh field */
    static const uint8_t zz[] = {0xa2, 'z', 'z', 0x00};
    q = splice(p, n, n, 0, zz, sizeof zz, &m);
    q[0] = 0x87;
    cr_assert_not(dec_entry(q, m, &d), "seven fields");
    free(q);
    /* version 2 */
    e.v = 2;
    free(p);
    n = enc_entry(&e, &p);
    cr_assert_not(dec_entry(p, n, &d), "entry v 2");
    free(p);
    free(sp);
}

/* ------------------------------------------------------------ hostile -- */

Test(codec, hostile_container_headers_fail_without_allocating)
{
    static const uint8_t inputs[][6] = {
        {0xdf, 0xff, 0xff, 0xff, 0xff}, {0xdd, 0xff, 0xff, 0xff, 0xff},
        {0xde, 0xff, 0xff},             {0xdc, 0xff, 0xff},
        {0xdb, 0xff, 0xff, 0xff, 0xff}, {0xc6, 0xff, 0xff, 0xff, 0xff},
        {0x8f},                         {0xc1},
        {0x80},                         {0x9f},
    };
    static const size_t lens[] = {5, 5, 3, 3, 5, 5, 1, 1, 1, 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        cr_assert_not(dec_ok(inputs[i], lens[i]), "input %zu", i);
        ldgi_entry e;
        cr_assert_not(dec_entry(inputs[i], lens[i], &e), "entry input %zu", i);
    }
    cr_assert_not(dec_ok((const uint8_t *)"", 0), "empty input");
}

Test(codec, hostile_counts_inside_a_statement_fail)
{
    ldgi_stmt s = full_stmt();
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bin32[] = {0xc6, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t bin32_32[] = {0xc6, 0x00, 0x00, 0x00, 0x20};
    cr_assert_not(decodes_with_value(&s, "refs", 1 + 3 * 34, arr32, 5), "refs array32");
    cr_assert_not(decodes_with_value(&s, "key", 1, map32, 5), "key map32");
    cr_assert_not(decodes_with_value(&s, "study", 4, str32, 5), "study str32");
    cr_assert_not(decodes_with_value(&s, "actor", 2, bin32, 5), "actor bin32 huge");
    cr_assert_not(decodes_with_value(&s, "actor", 2, bin32_32, 5), "actor bin32 for 32 bytes");
    static const uint8_t roles32[] = {0xdd, 0x00, 0x00, 0x01, 0x00};
    cr_assert_not(decodes_with_value(&s, "roles", 1, roles32, 5), "roles array32 of 256");
}

Test(codec, negative_integer_in_the_version_field_fails_without_crash)
{
    ldgi_stmt s = base_stmt();
    static const uint8_t fixneg = 0xff, i8[] = {0xd0, 0x80}, i64[] = {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_not(decodes_with_value(&s, "v", 1, &fixneg, 1), "v = -1 (fixint)");
    cr_assert_not(decodes_with_value(&s, "v", 1, i8, 2), "v = -128 (int8)");
    cr_assert_not(decodes_with_value(&s, "v", 1, i64, sizeof i64), "v = INT64_MIN");
}

Test(codec, unsigned_field_in_signed_form_fails_without_crash)
{
    /* observed size 5 written as int8 0xd0 0x05: non-canonical, and an unsigned field */
    ldgi_stmt s = full_stmt();
    static const uint8_t d005[] = {0xd0, 0x05};
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    uint8_t *q = splice(p, n, val_at(p, n, "observed") + 1, 1, d005, 2, &m);
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, negative_observed_size_fails_without_crash)
{
    ldgi_stmt s = full_stmt();
    static const uint8_t fixneg = 0xe0;
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    uint8_t *q = splice(p, n, val_at(p, n, "observed") + 1, 1, &fixneg, 1, &m);
    cr_assert_not(dec_ok(q, m));
    free(q);
    free(p);
}

Test(codec, negative_entry_seq_fails_without_crash)
{
    ldgi_stmt s = base_stmt();
    uint8_t *sp;
    size_t sn = enc(&s, &sp);
    ldgi_entry e = {.v = 1, .seq = 5, .stmt = sp, .stmt_len = sn, .time_ns = 7};
    uint8_t *p;
    size_t n = enc_entry(&e, &p), m;
    static const uint8_t neg[] = {0xd1, 0xff, 0x00};
    uint8_t *q = splice(p, n, val_at(p, n, "seq"), 1, neg, sizeof neg, &m);
    ldgi_entry d;
    cr_assert_not(dec_entry(q, m, &d));
    free(q);
    free(p);
    free(sp);
}

Test(codec, every_truncation_of_a_valid_statement_fails)
{
    ldgi_stmt s = full_stmt();
    uint8_t *p;
    size_t n = enc(&s, &p);
    cr_assert(dec_ok(p, n));
    for (size_t i = 0; i < n; i++)
        cr_assert_not(dec_ok(p, i), "prefix of %zu of %zu bytes decoded", i, n);
    free(p);
}

Test(codec, every_truncation_of_a_valid_entry_fails)
{
    ldgi_stmt s = full_stmt();
    uint8_t *sp;
    size_t sn = enc(&s, &sp);
    ldgi_entry e = {.v = 1, .seq = 42, .stmt = sp, .stmt_len = sn, .time_ns = 1};
    uint8_t *p;
    size_t n = enc_entry(&e, &p);
    ldgi_entry d;
    cr_assert(dec_entry(p, n, &d));
    for (size_t i = 0; i < n; i++)
        cr_assert_not(dec_entry(p, i, &d), "prefix of %zu of %zu bytes decoded", i, n);
    free(p);
    free(sp);
}

/* --------------------------------------------------------------- UTF-8 -- */

Test(codec, rejects_invalid_utf8_in_a_string)
{
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xc3",             /* truncated sequence */
        "a\x80z",           /* lone continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ldgi_stmt s = full_stmt();
        s.study = (ldgi_str){bad[i], strlen(bad[i])};
        uint8_t *p;
        size_t n = enc(&s, &p);
        cr_assert_not(dec_ok(p, n), "study case %zu", i);
        free(p);
        s = full_stmt();
        s.key_name = (ldgi_str){bad[i], strlen(bad[i])};
        n = enc(&s, &p);
        cr_assert_not(dec_ok(p, n), "key name case %zu", i);
        free(p);
    }
}

Test(codec, utf8_validator_accepts_boundaries_and_rejects_the_rest)
{
    static const char *const good[] = {"", "a", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
                                       "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
                                       "\xed\x9f\xbf", "\xee\x80\x80"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(ldgi_utf8_valid((const uint8_t *)good[i], strlen(good[i])), "good %zu", i);
    static const char *const bad[] = {"\xc1\xbf", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80",
                                      "\xed\xbf\xbf", "\xe2\x82", "\xf0\x9f\x98"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ldgi_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])), "bad %zu", i);
}

/* ----------------------------------------------------------- size caps -- */

static ldgi_stmt
stmt_with_reason(char *r, size_t len)
{
    ldgi_stmt s = base_stmt();
    s.has_reason = true;
    s.reason = (ldgi_str){r, len};
    return s;
}

Test(codec, statement_size_cap_is_exact)
{
    char *r = malloc(LDGI_STMT_MAX);
    memset(r, 'x', LDGI_STMT_MAX);
    uint8_t *p;
    ldgi_stmt s = stmt_with_reason(r, 1000);
    size_t over = enc(&s, &p) - 1000; /* bytes besides the reason, str16 form */
    free(p);
    size_t len = LDGI_STMT_MAX - over;
    s = stmt_with_reason(r, len);
    size_t n = enc(&s, &p);
    cr_assert_eq(n, LDGI_STMT_MAX);
    cr_assert(dec_ok(p, n), "a statement of exactly LDGI_STMT_MAX bytes decodes");
    free(p);
    s = stmt_with_reason(r, len + 1);
    n = enc(&s, &p);
    cr_assert_eq(n, LDGI_STMT_MAX + 1);
    cr_assert_not(dec_ok(p, n), "one byte over the cap is refused");
    free(p);
    free(r);
}

Test(codec, entry_size_cap_is_exact)
{
    uint8_t *blob = calloc(1, LDGI_ENTRY_MAX);
    ldgi_entry e = {.v = 1, .seq = 1, .stmt = blob, .stmt_len = 65000, .time_ns = 1};
    uint8_t *p;
    size_t over = enc_entry(&e, &p) - e.stmt_len; /* bin16 form: every entry fits 2 bytes */
    free(p);
    e.stmt_len = LDGI_ENTRY_MAX - over;
    cr_assert_eq(LDGI_ENTRY_MAX, 65535, "an entry fits a C2SP entry bundle's 2-byte length");
    cr_assert_geq(e.stmt_len, LDGI_STMT_MAX, "the largest statement fits the largest entry");
    size_t n = enc_entry(&e, &p);
    cr_assert_eq(n, LDGI_ENTRY_MAX);
    ldgi_entry d;
    cr_assert(dec_entry(p, n, &d), "an entry of exactly LDGI_ENTRY_MAX bytes decodes");
    free(p);
    e.stmt_len++;
    n = enc_entry(&e, &p);
    cr_assert_not(dec_entry(p, n, &d), "one byte over the cap is refused");
    free(p);
    free(blob);
}

Test(codec, rejects_more_than_max_refs)
{
    ldgi_stmt s = base_stmt();
    s.nrefs = LDG_REFS_MAX;
    for (size_t i = 0; i < s.nrefs; i++)
        memset(s.refs[i], (int)i + 1, LDG_HASH_BYTES);
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    size_t r = val_at(p, n, "refs");
    cr_assert_eq(p[r], 0xdc);
    cr_assert_eq(p[r + 2], LDG_REFS_MAX);
    uint8_t extra[34] = {0xc4, 0x20};
    memset(extra + 2, 0xfe, 32);
    uint8_t *q = splice(p, n, r + 3, 0, extra, sizeof extra, &m);
    q[r + 2] = LDG_REFS_MAX + 1;
    cr_assert_not(dec_ok(q, m), "65 refs");
    free(q);
    free(p);
}

Test(codec, rejects_more_than_max_roles)
{
    ldgi_stmt s = full_stmt();
    s.nroles = 1;
    s.roles[0] = S("a");
    uint8_t *p;
    size_t n = enc(&s, &p), m;
    size_t r = val_at(p, n, "roles");
    cr_assert_eq(p[r], 0x91);
    uint8_t more[2 * LDGI_ROLES_MAX];
    for (size_t i = 0; i < LDGI_ROLES_MAX; i++) {
        more[2 * i] = 0xa1;
        more[2 * i + 1] = (uint8_t)('b' + i);
    }
    uint8_t *q = splice(p, n, r + 3, 0, more, sizeof more, &m);
    q[r] = 0x90 | (LDGI_ROLES_MAX + 1);
    cr_assert_not(dec_ok(q, m), "9 roles");
    free(q);
    free(p);
}

/* ------------------------------------------ the canonical body [FMT-6] -- */

/* ldgi_body_text of text's parse, which must also be what jansson 2.14's json_dumps writes. */
static char *
canon_both(const char *text, size_t len)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(j, "%.*s: %s", (int)len, text, je.text);
    size_t n = 0;
    char *ours = ldgi_body_text(j, &n);
    char *theirs = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    cr_assert_not_null(ours);
    cr_assert_not_null(theirs);
    cr_assert_eq(n, strlen(ours));
    cr_assert_str_eq(ours, theirs, "input %.*s", (int)len, text);
    free(theirs);
    return ours;
}

static void
canon_is(const char *text, const char *want)
{
    char *got = canon_both(text, strlen(text));
    cr_assert_str_eq(got, want, "input %s", text);
    free(got);
}

/* The examples and rules of spec/format.md [FMT-6], one by one. */
Test(codec, the_canonical_body_text_is_the_one_the_spec_spells_out)
{
    canon_is("{ \"b\" : 1 , \"a\" : [ true , false , null ] }",
             "{\"a\":[true,false,null],\"b\":1}");
    canon_is("{\"ab\":1,\"b\":2,\"a\":3,\"\":4}", "{\"\":4,\"a\":3,\"ab\":1,\"b\":2}");
    canon_is("{\"\xc3\xa9\":1,\"z\":2,\"\\u00e9t\\u00e9\":3}",
             "{\"z\":2,\"\xc3\xa9\":1,\"\xc3\xa9t\xc3\xa9\":3}");
    canon_is("{\"o\":{\"y\":{},\"x\":[]}}", "{\"o\":{\"x\":[],\"y\":{}}}");
    canon_is("{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0001 \\u001f \\u007f \\u00e9 "
             "\\ud83d\\ude00\"}",
             "{\"s\":\"\\\" \\\\ / \\b \\f \\n \\r \\t \\u0001 \\u001F \x7f \xc3\xa9 "
             "\xf0\x9f\x98\x80\"}");
    canon_is("{\"k\\n\\u0002\":0}", "{\"k\\n\\u0002\":0}");
    canon_is("{\"i\":[0,-0,1,-1,9223372036854775807,-9223372036854775808]}",
             "{\"i\":[0,0,1,-1,9223372036854775807,-9223372036854775808]}");
    canon_is("{\"r\":[1e2,0.1,1.5e-7,-0.0,1.0,2.5,1e22,1e300,5e-324,-1.7976931348623157e308]}",
             "{\"r\":[100.0,0.10000000000000001,1.4999999999999999e-7,-0.0,1.0,2.5,1e22,"
             "1.0000000000000001e300,4.9406564584124654e-324,-1.7976931348623157e308]}");
    canon_is("{\"r\":[123456789012345678901234567890.0,1e-5,1E+5,0.000001]}",
             "{\"r\":[1.2345678901234568e29,1.0000000000000001e-5,100000.0,"
             "9.9999999999999995e-7]}");
    canon_is("{}", "{}");
}

static uint64_t canon_rng = 0x2545f4914f6cdd1dULL;

static uint64_t
crnd(void)
{
    canon_rng ^= canon_rng << 13;
    canon_rng ^= canon_rng >> 7;
    canon_rng ^= canon_rng << 17;
    return canon_rng;
}

/* Appends a random JSON string (names share prefixes; controls, escapes, UTF-8). */
static void
rnd_string(ldgi_buf *b)
{
    /* no \\u0000: the parser refuses a NUL */
    static const char *const bits[] = {"a",
                                       "ab",
                                       "b",
                                       "\\\"",
                                       "\\\\",
                                       "\\/",
                                       "\\n",
                                       "\\u0002",
                                       "\\u001f",
                                       "\\u007f",
                                       "\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\\ud83d\\ude00",
                                       "\\u00E9",
                                       " ",
                                       "~",
                                       "\x7f"};
    cr_assert(ldgi_buf_put(b, "\"", 1));
    for (uint64_t n = crnd() % 5; n; n--) {
        const char *p = bits[crnd() % (sizeof bits / sizeof bits[0])];
        cr_assert(ldgi_buf_put(b, p, strlen(p)));
    }
    cr_assert(ldgi_buf_put(b, "\"", 1));
}

static void
rnd_value(ldgi_buf *b, int depth)
{
    char t[64];
    unsigned pick = (unsigned)(crnd() % (depth > 4 ? 6 : 8));
    switch (pick) {
    case 0: snprintf(t, sizeof t, "%lld", (long long)crnd() >> (crnd() % 64)); break;
    case 1: {
        double d;
        uint64_t u;
        do {
            u = crnd();
            memcpy(&d, &u, sizeof d);
        } while (d != d || d - d != 0); /* finite */
        snprintf(t, sizeof t, "%.*g", (int)(crnd() % 19) + 1, d);
        break;
    }
    case 2: snprintf(t, sizeof t, "%s", crnd() % 2 ? "true" : crnd() % 2 ? "false" : "null"); break;
    case 3:
        snprintf(t, sizeof t, "%llu.%llue%d", (unsigned long long)(crnd() % 1000),
                 (unsigned long long)(crnd() % 100), (int)(crnd() % 60) - 30);
        break;
    case 4:
    case 5: rnd_string(b); return;
    case 6: {
        cr_assert(ldgi_buf_put(b, "[", 1));
        for (uint64_t n = crnd() % 4, i = 0; i < n; i++) {
            if (i)
                cr_assert(ldgi_buf_put(b, ",", 1));
            rnd_value(b, depth + 1);
        }
        cr_assert(ldgi_buf_put(b, "]", 1));
        return;
    }
    default: {
        /* names unique: a counter after a random string prefix */
        cr_assert(ldgi_buf_put(b, "{", 1));
        for (uint64_t n = crnd() % 7, i = 0; i < n; i++) {
            if (i)
                cr_assert(ldgi_buf_put(b, ",", 1));
            ldgi_buf s = {0};
            rnd_string(&s);
            snprintf(t, sizeof t, "%.*s%llu\":", (int)s.len - 1, (const char *)s.p,
                     (unsigned long long)(crnd() % 3 ? i : 1000 + i));
            cr_assert(ldgi_buf_put(b, t, strlen(t)));
            ldgi_buf_free(&s);
            rnd_value(b, depth + 1);
        }
        cr_assert(ldgi_buf_put(b, "}", 1));
        return;
    }
    }
    cr_assert(ldgi_buf_put(b, t, strlen(t)));
}

/* Random bodies: ldg's writer and jansson's json_dumps give the same bytes. */
Test(codec, the_canonical_body_text_is_jansson_2_14s_on_random_bodies)
{
    int objects = 0;
    for (int i = 0; i < 3000; i++) {
        ldgi_buf b = {0};
        cr_assert(ldgi_buf_put(&b, "{\"v\":", 5));
        rnd_value(&b, 0);
        cr_assert(ldgi_buf_put(&b, "}", 1));
        char *c = canon_both((const char *)b.p, b.len);
        objects += strchr(c + 1, '{') != NULL;
        free(c);
        ldgi_buf_free(&b);
    }
    cr_assert_gt(objects, 250, "nested objects were tried (%d)", objects);
}

/* As deep as the parser goes: 2,048 levels, the number innermost among them [FMT-6]. */
Test(codec, the_canonical_body_text_of_the_deepest_body_is_jansson_2_14s)
{
    ldgi_buf b = {0};
    for (int i = 0; i < 2046; i++)
        cr_assert(ldgi_buf_put(&b, i % 2 ? "[" : "{\"k\":", i % 2 ? 1 : 5));
    cr_assert(ldgi_buf_put(&b, "[1.5]", 5));
    for (int i = 2045; i >= 0; i--)
        cr_assert(ldgi_buf_put(&b, i % 2 ? "]" : "}", 1));
    char *c = canon_both((const char *)b.p, b.len);
    cr_assert_eq(strlen(c), b.len);
    free(c);
    ldgi_buf_free(&b);
}

/*
 * A program that links libldg may set a locale with a decimal comma: the
 * canonical text keeps its decimal point (printf's is the locale's).  The
 * locale is compiled for the test (localedef, from Debian's locales).
 */
Test(codec, the_canonical_body_text_keeps_its_decimal_point_under_a_decimal_comma,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1", d);
    cr_assert_eq(system(cmd), 0, "localedef de_DE (Debian package locales, make deps)");
    cr_assert_eq(setenv("LOCPATH", d, 1), 0);
    locale_t de = newlocale(LC_ALL_MASK, "de_DE.UTF-8", (locale_t)0);
    cr_assert_not_null(de);
    locale_t was = uselocale(de);
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 1.5);
    cr_assert_str_eq(probe, "1,5", "the locale is in force");
    const char *in = "{\"r\":[1.5,0.1,1e22,-2.5e-7]}";
    char *c = canon_both(in, strlen(in));
    uselocale(was);
    freelocale(de);
    unsetenv("LOCPATH");
    cr_assert_str_eq(c, "{\"r\":[1.5,0.10000000000000001,1e22,-2.4999999999999999e-7]}");
    free(c);
}
