/*
 * test_spec_vectors.c - the worked example of spec/format.md, rebuilt from
 * its fixed inputs and compared byte for byte: body commitment [FMT-6],
 * statement [FMT-1][FMT-2], signature [FMT-4], entry [FMT-3], leaf hash
 * [FMT-5], signed-statement line [FMT-8] and verifier-key line [KEY-2].  Then
 * the non-canonical and hostile inputs the spec lists, which the decoders must
 * refuse [FMT-1].  The hex below is the hex of the spec; a last test checks
 * that the spec still holds it.
 */
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- vectors (spec text) -- */

static const char COMMIT_HEX[] = "30451eaf47b1113d6718450570f26a884376bf6eed9b51ada6a40d6382f67617";

static const char STMT_HEX[] = "8aa56163746f72c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d"
                               "5f1ddc8664125531b8a4626f6479c42030451eaf47b1113d6718450570f26a88"
                               "4376bf6eed9b51ada6a40d6382f67617a46b696e64a8617070726f76616ca76d"
                               "65616e696e67a8617070726f76616ca86f627365727665649205c4205a5a5a5a"
                               "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5aa4726566"
                               "7391c4205a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
                               "5a5a5a5aa57374756479ab4f4e432d323032352d3031a474696d65cf182ca137"
                               "067ee9d6a2747ad1fed4a17601";

static const char SIG_HEX[] = "4783702a0f113c21187223d1ae7f375ceea6cfa2d4dfb623677c5cbfca434b67"
                              "a8b2b29c41fca15145163b33fe7cfe9703d85562827b16bd0bf6847b275b2e09";

static const char ENTRY_HEX[] = "86a470726576c4205a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
                                "5a5a5a5a5a5a5a5aa373657105a3736967c4404783702a0f113c21187223d1ae"
                                "7f375ceea6cfa2d4dfb623677c5cbfca434b67a8b2b29c41fca15145163b33fe"
                                "7cfe9703d85562827b16bd0bf6847b275b2e09a473746d74c4ed8aa56163746f"
                                "72c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc866412"
                                "5531b8a4626f6479c42030451eaf47b1113d6718450570f26a884376bf6eed9b"
                                "51ada6a40d6382f67617a46b696e64a8617070726f76616ca76d65616e696e67"
                                "a8617070726f76616ca86f627365727665649205c4205a5a5a5a5a5a5a5a5a5a"
                                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5aa47265667391c4205a5a"
                                "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5aa573"
                                "74756479ab4f4e432d323032352d3031a474696d65cf182ca137067ee9d6a274"
                                "7ad1fed4a17601a474696d65cf182ca1388c064140a17601";

/* [FMT-3] the same entry with the host time held: clock 1741944419000000000 first. */
static const char HELD_ENTRY_HEX[] =
    "87a5636c6f636bcf182ca13848f81e00a470726576c4205a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5aa373657105a3736967"
    "c4404783702a0f113c21187223d1ae7f375ceea6cfa2d4dfb623677c5cbfca43"
    "4b67a8b2b29c41fca15145163b33fe7cfe9703d85562827b16bd0bf6847b275b"
    "2e09a473746d74c4ed8aa56163746f72c42003a107bff3ce10be1d70dd18e74b"
    "c09967e4d6309ba50d5f1ddc8664125531b8a4626f6479c42030451eaf47b111"
    "3d6718450570f26a884376bf6eed9b51ada6a40d6382f67617a46b696e64a861"
    "7070726f76616ca76d65616e696e67a8617070726f76616ca86f627365727665"
    "649205c4205a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5aa47265667391c4205a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    "5a5a5a5a5a5a5a5a5a5a5a5a5aa57374756479ab4f4e432d323032352d3031a4"
    "74696d65cf182ca137067ee9d6a2747ad1fed4a17601a474696d65cf182ca138"
    "8c064140a17601";
static const char HELD_LEAF_HEX[] =
    "66e6ccd5ff1d6bf4030065c5b71529ce520250cb1fb8c1f84d87d9685acbd8b5";

static const char LEAF_HEX[] = "bea896178b4987deb28aa75f0582f203167f167901e63e1ceddad00136ab386b";

static const char LINE[] =
    "{\"ldg\":\"signed-statement/v1\",\"statement\":\"iqVhY3RvcsQgA6EHv/POEL4dcN0Y50vAmWfk1j"
    "CbpQ1fHdyGZBJVMbikYm9kecQgMEUer0exET1nGEUFcPJqiEN2v27tm1GtpqQNY4L2dheka2luZKhhcH"
    "Byb3ZhbKdtZWFuaW5nqGFwcHJvdmFsqG9ic2VydmVkkgXEIFpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWl"
    "paWlpaWlpapHJlZnORxCBaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWqVzdHVkeatPTkMtMj"
    "AyNS0wMaR0aW1lzxgsoTcGfunWonR60f7UoXYB\",\"signature\":\"R4NwKg8RPCEYciPRrn83XO6mz6L"
    "U37YjZ3xcv8pDS2eosrKcQfyhUUUWOzP+fP6XA9hVYoJ7Fr0L9oR7J1suCQ==\",\"salt\":\"QEFCQ0RFR"
    "kdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=\",\"body\":\"eyJzdWJqZWN0IjoiUHJvdG9jb2wgdjIifQ="
    "=\"}";

static const char VKEY_LINE[] = "alice+db500c1f+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
static const char BODY[] = "{\"subject\":\"Protocol v2\"}";
static const int64_t STMT_TIME = 1741944413589793238LL; /* 2025-03-14T04:26:53.589793238-05:00 */
static const int32_t STMT_TZ = -300;
static const uint64_t HOST_TIME = 1741944420125000000ULL; /* 2025-03-14T09:27:00.125Z */

/* Offsets in the statement and entry, from the annotated listings of the spec. */
#define ST_TIME 0xd6 /* "time" pair, 14 bytes */
#define ST_TZ 0xe4   /* "tz" pair, 6 bytes */
#define ST_TZV 0xe7  /* tz value d1 fe d4 */
#define ST_V 0xea    /* "v" pair, 3 bytes */
#define EN_SEQV 0x2c /* seq value 05 */
#define EN_TIME 0x167
#define EN_V 0x175

/* ------------------------------------------------------------ helpers -- */

static void
setup(void)
{
    cr_assert_eq(ldg_init(NULL), LDG_OK);
}

TestSuite(spec_vectors, .init = setup);

/* Hex text to bytes; the caller frees. */
static uint8_t *
unhex(const char *hx, size_t *n)
{
    size_t cap = strlen(hx) / 2;
    uint8_t *p = malloc(cap + 1);
    cr_assert(p);
    cr_assert_eq(sodium_hex2bin(p, cap, hx, strlen(hx), NULL, n, NULL), 0, "bad hex in test");
    cr_assert_eq(*n, cap);
    return p;
}

/* Compares bytes against hex, showing both in hex when they differ. */
static void
assert_hex(const uint8_t *p, size_t n, const char *want, const char *what)
{
    char *got = malloc(2 * n + 1);
    cr_assert(got);
    sodium_bin2hex(got, 2 * n + 1, p, n);
    cr_expect_str_eq(got, want, "%s differs from spec/format.md", what);
    free(got);
}

/* The fixed inputs of the worked example. */
typedef struct example {
    uint8_t pk[32], sk[64], salt[32], entry4[32], commit[32], sig[64], leaf[32];
    ldgi_stmt st;
    ldgi_buf stmt, entry;
} example;

static void
build(example *x)
{
    memset(x, 0, sizeof *x);
    uint8_t seed[32];
    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)i;             /* 00 01 .. 1f */
        x->salt[i] = (uint8_t)(0x40 + i); /* 40 41 .. 5f */
        x->entry4[i] = 0x5a;              /* stand-in leaf hash of entry 4 */
    }
    cr_assert_eq(crypto_sign_seed_keypair(x->pk, x->sk, seed), 0);
    ldgi_body_commit(x->salt, (const uint8_t *)BODY, strlen(BODY), x->commit);

    ldgi_stmt *s = &x->st;
    s->v = 1;
    memcpy(s->actor, x->pk, 32);
    memcpy(s->body, x->commit, 32);
    s->kind = (ldgi_str){"approval", 8};
    s->has_meaning = true;
    s->meaning = (ldgi_str){"approval", 8};
    s->has_observed = true;
    s->observed_size = 5;
    memcpy(s->observed_head, x->entry4, 32);
    s->nrefs = 1;
    memcpy(s->refs[0], x->entry4, 32);
    s->study = (ldgi_str){"ONC-2025-01", 11};
    s->time_ns = STMT_TIME;
    s->tz_min = STMT_TZ;
    cr_assert(ldgi_stmt_encode(s, &x->stmt));

    ldgi_stmt_sign(x->stmt.p, x->stmt.len, x->sk, x->sig);

    ldgi_entry e = {
        .v = 1, .seq = 5, .stmt = x->stmt.p, .stmt_len = x->stmt.len, .time_ns = HOST_TIME};
    memcpy(e.prev, x->entry4, 32);
    memcpy(e.sig, x->sig, 64);
    cr_assert(ldgi_entry_encode(&e, &x->entry));
    ldgi_leaf_hash(x->entry.p, x->entry.len, x->leaf);
}

static void
unbuild(example *x)
{
    ldgi_buf_free(&x->stmt);
    ldgi_buf_free(&x->entry);
}

/* p[0..off) || insert || p[off+cut..n): a variant of a vector. */
static uint8_t *
splice(const uint8_t *p, size_t n, size_t off, size_t cut, const char *insert_hex, size_t *outn)
{
    size_t il = 0;
    uint8_t *ins = insert_hex[0] ? unhex(insert_hex, &il) : NULL;
    uint8_t *out = malloc(n - cut + il + 1);
    cr_assert(out);
    memcpy(out, p, off);
    if (il)
        memcpy(out + off, ins, il);
    memcpy(out + off + il, p + off + cut, n - off - cut);
    *outn = n - cut + il;
    free(ins);
    return out;
}

/* Swaps the adjacent regions [a, b) and [b, c). */
static uint8_t *
swap_regions(const uint8_t *p, size_t n, size_t a, size_t b, size_t c)
{
    uint8_t *out = malloc(n);
    cr_assert(out);
    memcpy(out, p, n);
    memcpy(out + a, p + b, c - b);
    memcpy(out + a + (c - b), p + a, b - a);
    return out;
}

static void
refuse_stmt(const uint8_t *p, size_t n, const char *what)
{
    ldgi_stmt s;
    const char *why = NULL;
    cr_expect_not(ldgi_stmt_decode(p, n, &s, &why), "statement decoder accepted %s", what);
    cr_expect(why != NULL, "no reason given for refusing %s", what);
}

static void
refuse_entry(const uint8_t *p, size_t n, const char *what)
{
    ldgi_entry e;
    const char *why = NULL;
    cr_expect_not(ldgi_entry_decode(p, n, &e, &why), "entry decoder accepted %s", what);
    cr_expect(why != NULL, "no reason given for refusing %s", what);
}

/* ------------------------------------------------- the worked example -- */

Test(spec_vectors, body_commitment_matches_spec)
{
    example x;
    build(&x);
    assert_hex(x.commit, 32, COMMIT_HEX, "body commitment [FMT-6]");
    /* The same, from the definition: SHA-256("ldg/body/v1" || 0x00 || salt || body). */
    uint8_t m[12 + 32 + sizeof BODY], h[32];
    memcpy(m, "ldg/body/v1", 12); /* with its NUL */
    memcpy(m + 12, x.salt, 32);
    memcpy(m + 44, BODY, strlen(BODY));
    crypto_hash_sha256(h, m, 44 + strlen(BODY));
    assert_hex(h, 32, COMMIT_HEX, "SHA-256 of the commitment input");
    unbuild(&x);
}

Test(spec_vectors, statement_bytes_match_spec)
{
    example x;
    build(&x);
    assert_hex(x.stmt.p, x.stmt.len, STMT_HEX, "statement [FMT-2]");

    /* The spec's bytes decode to the same fields and re-encode to themselves. */
    size_t n;
    uint8_t *p = unhex(STMT_HEX, &n);
    ldgi_stmt s;
    const char *why = NULL;
    cr_assert(ldgi_stmt_decode(p, n, &s, &why), "spec statement refused: %s", why ? why : "?");
    cr_expect_eq(s.v, 1);
    cr_expect_eq(memcmp(s.actor, x.pk, 32), 0);
    cr_expect_eq(memcmp(s.body, x.commit, 32), 0);
    cr_expect(s.kind.len == 8 && memcmp(s.kind.p, "approval", 8) == 0);
    cr_expect(s.has_meaning && s.meaning.len == 8 && memcmp(s.meaning.p, "approval", 8) == 0);
    cr_expect(s.has_observed && s.observed_size == 5);
    cr_expect_eq(memcmp(s.observed_head, x.entry4, 32), 0);
    cr_expect(!s.has_key && !s.has_origin && !s.has_reason);
    cr_expect_eq(s.nrefs, 1);
    cr_expect_eq(memcmp(s.refs[0], x.entry4, 32), 0);
    cr_expect(s.study.len == 11 && memcmp(s.study.p, "ONC-2025-01", 11) == 0);
    cr_expect_eq(s.time_ns, STMT_TIME);
    cr_expect_eq(s.tz_min, STMT_TZ);
    ldgi_buf b = {0};
    cr_assert(ldgi_stmt_encode(&s, &b));
    assert_hex(b.p, b.len, STMT_HEX, "re-encoded statement");
    ldgi_buf_free(&b);
    free(p);
    unbuild(&x);
}

Test(spec_vectors, signature_matches_spec)
{
    example x;
    build(&x);
    assert_hex(x.sig, 64, SIG_HEX, "signature [FMT-4]");
    cr_expect(ldgi_stmt_sig_ok(x.stmt.p, x.stmt.len, x.pk, x.sig));

    /* The message is "ldg/statement/v1" || 0x00 || statement, checked with plain libsodium. */
    size_t ml = 17 + x.stmt.len;
    uint8_t *m = malloc(ml);
    cr_assert(m);
    memcpy(m, "ldg/statement/v1", 17); /* with its NUL */
    memcpy(m + 17, x.stmt.p, x.stmt.len);
    cr_expect_eq(crypto_sign_verify_detached(x.sig, m, ml, x.pk), 0);
    /* Without the domain prefix it is not a valid signature. */
    cr_expect_neq(crypto_sign_verify_detached(x.sig, x.stmt.p, x.stmt.len, x.pk), 0);
    free(m);

    /* Any flipped statement byte breaks it. */
    for (size_t i = 0; i < x.stmt.len; i++) {
        x.stmt.p[i] ^= 0x01;
        cr_expect_not(ldgi_stmt_sig_ok(x.stmt.p, x.stmt.len, x.pk, x.sig),
                      "signature still verifies with byte %zu flipped", i);
        x.stmt.p[i] ^= 0x01;
    }
    unbuild(&x);
}

Test(spec_vectors, entry_bytes_match_spec)
{
    example x;
    build(&x);
    assert_hex(x.entry.p, x.entry.len, ENTRY_HEX, "entry [FMT-3]");

    size_t n;
    uint8_t *p = unhex(ENTRY_HEX, &n);
    ldgi_entry e;
    const char *why = NULL;
    cr_assert(ldgi_entry_decode(p, n, &e, &why), "spec entry refused: %s", why ? why : "?");
    cr_expect_eq(e.v, 1);
    cr_expect_eq(e.seq, 5);
    cr_expect_eq(e.time_ns, HOST_TIME);
    cr_expect_eq(memcmp(e.prev, x.entry4, 32), 0);
    cr_expect_eq(memcmp(e.sig, x.sig, 64), 0);
    cr_expect_eq(e.stmt_len, x.stmt.len);
    cr_expect_eq(memcmp(e.stmt, x.stmt.p, x.stmt.len), 0);
    free(p);
    unbuild(&x);
}

Test(spec_vectors, leaf_hash_matches_spec)
{
    example x;
    build(&x);
    assert_hex(x.leaf, 32, LEAF_HEX, "leaf hash [FMT-5]");
    /* From the definition: SHA-256(0x00 || entry). */
    uint8_t *m = malloc(1 + x.entry.len), h[32];
    cr_assert(m);
    m[0] = 0x00;
    memcpy(m + 1, x.entry.p, x.entry.len);
    crypto_hash_sha256(h, m, 1 + x.entry.len);
    assert_hex(h, 32, LEAF_HEX, "SHA-256(0x00 || entry)");
    free(m);
    unbuild(&x);
}

Test(spec_vectors, verifier_key_line_matches_spec)
{
    example x;
    build(&x);
    char line[LDG_VKEY_MAX];
    ldg_err err;
    cr_assert_eq(ldg_vkey_format("alice", x.pk, line, &err), LDG_OK);
    cr_expect_str_eq(line, VKEY_LINE, "verifier-key line [KEY-2]");
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[32];
    cr_assert_eq(ldg_vkey_parse(VKEY_LINE, strlen(VKEY_LINE), name, pub, &err), LDG_OK, "%s",
                 err.msg);
    cr_expect_str_eq(name, "alice");
    cr_expect_eq(memcmp(pub, x.pk, 32), 0);
    unbuild(&x);
}

Test(spec_vectors, signed_statement_line_matches_spec)
{
    example x;
    build(&x);
    ldg_signed s = {.stmt = x.stmt.p,
                    .stmt_len = x.stmt.len,
                    .body = (uint8_t *)BODY,
                    .body_len = strlen(BODY)};
    memcpy(s.sig, x.sig, 64);
    memcpy(s.salt, x.salt, 32);
    char *line;
    size_t len;
    ldg_err err;
    cr_assert_eq(ldg_signed_to_line(&s, &line, &len, &err), LDG_OK);
    cr_expect_eq(len, strlen(LINE));
    cr_expect_str_eq(line, LINE, "signed-statement line [FMT-8]");
    free(line);

    ldg_signed *back;
    cr_assert_eq(ldg_signed_from_line(LINE, strlen(LINE), &back, &err), LDG_OK, "%s", err.msg);
    size_t n;
    const uint8_t *p = ldg_signed_statement(back, &n);
    assert_hex(p, n, STMT_HEX, "statement read back from the line");
    ldg_signed_free(back);
    unbuild(&x);
}

/* -------------------------------------- non-canonical and hostile input -- */

Test(spec_vectors, statement_decoder_refuses_noncanonical_forms)
{
    size_t n, m;
    uint8_t *p = unhex(STMT_HEX, &n), *q;
    cr_assert_eq(n, 237);

    q = splice(p, n, n - 1, 1, "cc01", &m);
    refuse_stmt(q, m, "v as uint8 (cc 01)");
    free(q);

    q = splice(p, n, 0, 1, "8b", &m);
    refuse_stmt(q, m, "a map header declaring 11 pairs for 10");
    free(q);
    q = splice(p, n, 0, 1, "de000a", &m);
    refuse_stmt(q, m, "a map16 header for 10 pairs");
    free(q);

    q = swap_regions(p, n, ST_TIME, ST_TZ, ST_V);
    refuse_stmt(q, n, "tz before time (keys out of order)");
    free(q);

    q = splice(p, n, ST_TZV, 3, "d2fffffed4", &m);
    refuse_stmt(q, m, "tz -300 as int32");
    free(q);

    q = splice(p, n, n, 0, "00", &m);
    refuse_stmt(q, m, "a trailing byte");
    free(q);

    for (size_t k = 0; k < n; k++)
        refuse_stmt(p, k, "a truncated statement");
    free(p);
}

Test(spec_vectors, entry_decoder_refuses_noncanonical_forms)
{
    size_t n, m;
    uint8_t *p = unhex(ENTRY_HEX, &n), *q;
    cr_assert_eq(n, 376);

    q = splice(p, n, EN_SEQV, 1, "cc05", &m);
    refuse_entry(q, m, "seq as uint8 (cc 05)");
    free(q);

    q = swap_regions(p, n, EN_TIME, EN_V, n);
    refuse_entry(q, n, "v before time (keys out of order)");
    free(q);

    q = splice(p, n, n, 0, "00", &m);
    refuse_entry(q, m, "a trailing byte");
    free(q);

    for (size_t k = 0; k < n; k++)
        refuse_entry(p, k, "a truncated entry");
    free(p);
}

Test(spec_vectors, held_entry_encodes_decodes_and_hashes_as_the_spec_says)
{
    size_t n, hn;
    uint8_t *p = unhex(ENTRY_HEX, &n), *h = unhex(HELD_ENTRY_HEX, &hn);
    ldgi_entry e;
    const char *why;
    cr_assert(ldgi_entry_decode(p, n, &e, &why), "%s", why);
    cr_assert_not(e.has_clock, "the worked example held nothing");
    e.has_clock = true;
    e.clock_ns = 1741944419000000000ull;
    ldgi_buf b = {0};
    cr_assert(ldgi_entry_encode(&e, &b));
    assert_hex(b.p, b.len, HELD_ENTRY_HEX, "the held entry");
    ldgi_entry d;
    cr_assert(ldgi_entry_decode(h, hn, &d, &why), "%s", why);
    cr_assert(d.has_clock && d.clock_ns == 1741944419000000000ull);
    cr_assert_eq(d.time_ns, e.time_ns);
    uint8_t leaf[32];
    ldgi_leaf_hash(h, hn, leaf);
    assert_hex(leaf, 32, HELD_LEAF_HEX, "the held entry's leaf hash");
    /* clock at or after time is no held time; 7 pairs need the clock */
    d.clock_ns = d.time_ns;
    b.len = 0;
    cr_assert(ldgi_entry_encode(&d, &b));
    refuse_entry(b.p, b.len, "clock not before time");
    uint8_t *q = malloc(n);
    memcpy(q, p, n);
    q[0] = 0x87;
    refuse_entry(q, n, "seven pairs without clock");
    free(q);
    ldgi_buf_free(&b);
    free(p);
    free(h);
}

/*
 * A negative integer where only non-negative ones are allowed (seq, v, observed
 * size) must be refused, not dereference the NULL signed-value pointer of rd_uint.
 */
Test(spec_vectors, decoders_refuse_negative_unsigned_fields)
{
    size_t n, m;
    uint8_t *p = unhex(ENTRY_HEX, &n), *q;
    q = splice(p, n, EN_SEQV, 1, "ff", &m);
    refuse_entry(q, m, "seq -1 (negative fixint)");
    free(q);
    q = splice(p, n, EN_SEQV, 1, "d0ff", &m);
    refuse_entry(q, m, "seq -1 (int8)");
    free(q);
    free(p);

    p = unhex(STMT_HEX, &n);
    q = splice(p, n, n - 1, 1, "ff", &m);
    refuse_stmt(q, m, "v -1");
    free(q);
    free(p);
}

Test(spec_vectors, decoders_refuse_hostile_counts)
{
    static const char *const hostile[] = {
        "dfffffffff",                 /* map32 of 2^32-1 pairs in 0 bytes */
        "ddffffffff",                 /* array32 */
        "deffff",                     /* map16 */
        "86a470726576c6ffffffff0000", /* entry: prev as bin32 of 4 GiB in 2 bytes */
        "81a56163746f72c4ff",         /* statement: actor as bin8 of 255 in 0 bytes */
        "81a86163746f72",             /* a key string longer than the input */
        "81a472656673ddffffffff",     /* refs as array32 of 2^32-1 in 0 bytes */
    };
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        size_t n;
        uint8_t *p = unhex(hostile[i], &n);
        refuse_stmt(p, n, hostile[i]);
        refuse_entry(p, n, hostile[i]);
        free(p);
    }
}

/* ----------------------------------------------- the spec holds them -- */

static char *
read_spec(void)
{
    /* Tests run from the repository root; also try next to this file. */
    char alt[4096];
    const char *f = __FILE__, *slash = strrchr(f, '/');
    snprintf(alt, sizeof alt, "%.*s/../spec/format.md", slash ? (int)(slash - f) : 1,
             slash ? f : ".");
    const char *paths[] = {"spec/format.md", alt};
    for (size_t i = 0; i < 2; i++) {
        FILE *fp = fopen(paths[i], "rb");
        if (!fp)
            continue;
        size_t cap = 1 << 20, n = 0;
        char *buf = malloc(cap), *out = malloc(cap);
        cr_assert(buf && out);
        n = fread(buf, 1, cap - 1, fp);
        fclose(fp);
        /* Drop all whitespace, so hex split over lines reads as one string. */
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (buf[j] != ' ' && buf[j] != '\n' && buf[j] != '\r' && buf[j] != '\t')
                out[k++] = buf[j];
        out[k] = '\0';
        free(buf);
        return out;
    }
    return NULL;
}

Test(spec_vectors, spec_text_holds_these_vectors)
{
    char *spec = read_spec();
    if (!spec)
        cr_skip_test("spec/format.md not found from the working directory");
    const char *const vec[] = {COMMIT_HEX, STMT_HEX,       SIG_HEX,      ENTRY_HEX,
                               LEAF_HEX,   HELD_ENTRY_HEX, HELD_LEAF_HEX, VKEY_LINE};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
        cr_expect(strstr(spec, vec[i]) != NULL, "spec/format.md lacks %.40s...", vec[i]);
    /* The line is wrapped at 100 characters in the spec; without whitespace it is whole. */
    char *line = malloc(strlen(LINE) + 1), *w = line;
    cr_assert(line);
    for (const char *c = LINE; *c; c++)
        if (*c != ' ')
            *w++ = *c;
    *w = '\0';
    cr_expect(strstr(spec, line) != NULL, "spec/format.md lacks the signed-statement line");
    free(line);
    free(spec);
}
