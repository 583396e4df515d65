/*
 * codec.c - the canonical msgpack encoding of statements and entries
 * [FMT-1..5], the signature message [FMT-4], the leaf hash [FMT-5] and the
 * body commitment [FMT-6].
 *
 * Encoding goes through msgpack-c's packer, which always picks the smallest
 * form.  Decoding is our own: a bounded cursor that checks every declared
 * length against the bytes that remain (msgpack-c's unpacker would allocate
 * whatever a hostile count asks for), followed by a re-encode and byte
 * comparison, so exactly one encoding of each value is accepted.
 */
#include "internal.h"

#include <msgpack.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>

/* ------------------------------------------------------------ hashing -- */

void
ldgi_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[LDG_HASH_BYTES])
{
    ldgi_sha256_ctx st;
    const uint8_t zero = 0x00; /* RFC 6962 leaf prefix */
    ldgi_sha256_init(&st);
    ldgi_sha256_update(&st, &zero, 1);
    ldgi_sha256_update(&st, entry, len);
    ldgi_sha256_final(&st, out);
}

void
ldgi_leaf_hash_pair(const uint8_t *a, size_t na, uint8_t oa[LDG_HASH_BYTES], const uint8_t *b,
                    size_t nb, uint8_t ob[LDG_HASH_BYTES])
{
    ldgi_sha256_pair(0x00, a, na, oa, b, nb, ob); /* RFC 6962 leaf prefix */
}

/* [FMT-6] What a body commitment hashes before the body: the domain, then the salt. */
#define BODY_PREFIX (sizeof LDGI_DOMAIN_BODY + LDG_SALT_BYTES)

static void
body_prefix(uint8_t pre[BODY_PREFIX], const uint8_t salt[LDG_SALT_BYTES])
{
    memcpy(pre, LDGI_DOMAIN_BODY, sizeof LDGI_DOMAIN_BODY);
    memcpy(pre + sizeof LDGI_DOMAIN_BODY, salt, LDG_SALT_BYTES);
}

void
ldgi_body_commit(const uint8_t salt[LDG_SALT_BYTES], const uint8_t *body, size_t len,
                 uint8_t out[LDG_HASH_BYTES])
{
    uint8_t pre[BODY_PREFIX];
    body_prefix(pre, salt);
    ldgi_sha256_ctx st;
    ldgi_sha256_init(&st);
    ldgi_sha256_update(&st, pre, sizeof pre);
    ldgi_sha256_update(&st, body, len);
    ldgi_sha256_final(&st, out);
}

void
ldgi_leaf_and_body(const uint8_t *entry, size_t elen, uint8_t leaf[LDG_HASH_BYTES],
                   const uint8_t salt[LDG_SALT_BYTES], const uint8_t *body, size_t blen,
                   uint8_t commit[LDG_HASH_BYTES])
{
    const uint8_t zero = 0x00; /* RFC 6962 leaf prefix */
    uint8_t pre[BODY_PREFIX];
    body_prefix(pre, salt);
    ldgi_sha256_pair_pre(&zero, 1, entry, elen, leaf, pre, sizeof pre, body, blen, commit);
}

/*
 * The signed message is domain || 0x00 || statement, built on the stack: a
 * statement is at most LDGI_STMT_MAX bytes, and no allocation means no
 * failure a caller could mistake for a bad signature.
 */
#define SIG_MSG_MAX (sizeof LDGI_DOMAIN_STMT + LDGI_STMT_MAX)

static size_t
sig_message(uint8_t m[SIG_MSG_MAX], const uint8_t *stmt, size_t len)
{
    size_t dl = sizeof LDGI_DOMAIN_STMT; /* includes the 0x00 */
    memcpy(m, LDGI_DOMAIN_STMT, dl);
    memcpy(m + dl, stmt, len);
    return dl + len;
}

bool
ldgi_stmt_sign(const uint8_t *stmt, size_t len, const uint8_t sk[64], uint8_t sig[64])
{
    uint8_t m[SIG_MSG_MAX];
    if (len > LDGI_STMT_MAX) {
        memset(sig, 0, 64);
        return false;
    }
    crypto_sign_ed25519_detached(sig, NULL, m, sig_message(m, stmt, len), sk);
    return true;
}

bool
ldgi_stmt_sig_ok(const uint8_t *stmt, size_t len, const uint8_t pub[32], const uint8_t sig[64])
{
    uint8_t m[SIG_MSG_MAX];
    if (len > LDGI_STMT_MAX)
        return false;
    return crypto_sign_ed25519_verify_detached(sig, m, sig_message(m, stmt, len), pub) == 0;
}

/* ----------------------------------------------------------- encoding -- */

static int
buf_write(void *data, const char *p, size_t n)
{
    return ldgi_buf_put(data, p, n) ? 0 : -1;
}

static void
pk_str(msgpack_packer *pk, const char *p, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, p, n);
}

static void
pk_key(msgpack_packer *pk, const char *k)
{
    pk_str(pk, k, strlen(k));
}

static void
pk_bin(msgpack_packer *pk, const uint8_t *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

static void
pk_int(msgpack_packer *pk, int64_t v)
{
    /* Canonical: non-negative integers in the smallest unsigned form. */
    if (v >= 0)
        msgpack_pack_uint64(pk, (uint64_t)v);
    else
        msgpack_pack_int64(pk, v);
}

static void
stmt_pack(const void *obj, msgpack_packer *pk)
{
    const ldgi_stmt *s = obj;
    size_t n = 8 + s->has_key + s->has_meaning + s->has_observed + s->has_origin + s->has_reason;
    msgpack_pack_map(pk, n);
    /* Keys in bytewise order [FMT-2]. */
    pk_key(pk, "actor");
    pk_bin(pk, s->actor, LDG_PUB_BYTES);
    pk_key(pk, "body");
    pk_bin(pk, s->body, LDG_HASH_BYTES);
    if (s->has_key) {
        pk_key(pk, "key");
        if (s->key_full) {
            msgpack_pack_map(pk, 5);
            pk_key(pk, "id");
            pk_str(pk, s->key_id.p, s->key_id.len);
            pk_key(pk, "name");
            pk_str(pk, s->key_name.p, s->key_name.len);
            pk_key(pk, "org");
            pk_str(pk, s->key_org.p, s->key_org.len);
            pk_key(pk, "pub");
            pk_bin(pk, s->key_pub, LDG_PUB_BYTES);
            pk_key(pk, "roles");
            msgpack_pack_array(pk, s->nroles);
            for (size_t i = 0; i < s->nroles; i++)
                pk_str(pk, s->roles[i].p, s->roles[i].len);
        } else {
            msgpack_pack_map(pk, 1);
            pk_key(pk, "pub");
            pk_bin(pk, s->key_pub, LDG_PUB_BYTES);
        }
    }
    pk_key(pk, "kind");
    pk_str(pk, s->kind.p, s->kind.len);
    if (s->has_meaning) {
        pk_key(pk, "meaning");
        pk_str(pk, s->meaning.p, s->meaning.len);
    }
    if (s->has_observed) {
        pk_key(pk, "observed");
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint64(pk, s->observed_size);
        pk_bin(pk, s->observed_head, LDG_HASH_BYTES);
    }
    if (s->has_origin) {
        pk_key(pk, "origin");
        pk_str(pk, s->origin.p, s->origin.len);
    }
    if (s->has_reason) {
        pk_key(pk, "reason");
        pk_str(pk, s->reason.p, s->reason.len);
    }
    pk_key(pk, "refs");
    msgpack_pack_array(pk, s->nrefs);
    for (size_t i = 0; i < s->nrefs; i++)
        pk_bin(pk, s->refs[i], LDG_HASH_BYTES);
    pk_key(pk, "study");
    pk_str(pk, s->study.p, s->study.len);
    pk_key(pk, "time");
    pk_int(pk, s->time_ns);
    pk_key(pk, "tz");
    pk_int(pk, s->tz_min);
    pk_key(pk, "v");
    msgpack_pack_uint64(pk, s->v);
}

static void
entry_pack(const void *obj, msgpack_packer *pk)
{
    const ldgi_entry *e = obj;
    msgpack_pack_map(pk, 6 + (e->has_clock ? 1 : 0));
    if (e->has_clock) {
        pk_key(pk, "clock");
        msgpack_pack_uint64(pk, e->clock_ns);
    }
    pk_key(pk, "prev");
    pk_bin(pk, e->prev, LDG_HASH_BYTES);
    pk_key(pk, "seq");
    msgpack_pack_uint64(pk, e->seq);
    pk_key(pk, "sig");
    pk_bin(pk, e->sig, LDG_SIG_BYTES);
    pk_key(pk, "stmt");
    pk_bin(pk, e->stmt, e->stmt_len);
    pk_key(pk, "time");
    msgpack_pack_uint64(pk, e->time_ns);
    pk_key(pk, "v");
    msgpack_pack_uint64(pk, e->v);
}

bool
ldgi_stmt_encode(const ldgi_stmt *s, ldgi_buf *b)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write);
    stmt_pack(s, &pk);
    return !b->oom;
}

bool
ldgi_entry_encode(const ldgi_entry *e, ldgi_buf *b)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, buf_write);
    entry_pack(e, &pk);
    return !b->oom;
}

/* ----------------------------------------------------------- decoding -- */

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
    const char *why;
    bool proven; /* bytes known to have passed full decoding: UTF-8 is not re-validated */
} rd;

static bool
rd_fail(rd *r, const char *why)
{
    if (!r->why)
        r->why = why;
    return false;
}

static bool
rd_bytes(rd *r, size_t k, const uint8_t **out)
{
    if (k > r->n - r->i)
        return rd_fail(r, "truncated");
    *out = r->p + r->i;
    r->i += k;
    return true;
}

static bool
rd_be(rd *r, size_t k, uint64_t *v)
{
    const uint8_t *q;
    if (!rd_bytes(r, k, &q))
        return false;
    uint64_t x = 0;
    for (size_t j = 0; j < k; j++)
        x = (x << 8) | q[j];
    *v = x;
    return true;
}

static bool
rd_u8(rd *r, uint8_t *c)
{
    const uint8_t *q;
    if (!rd_bytes(r, 1, &q))
        return false;
    *c = *q;
    return true;
}

/* Container header: declared count must fit in the bytes left (each item >= 1 byte). */
static bool
rd_container(rd *r, bool map, size_t *count)
{
    uint8_t c;
    uint64_t v;
    if (!rd_u8(r, &c))
        return false;
    if (map && (c & 0xF0) == 0x80) {
        v = c & 0x0F;
    } else if (!map && (c & 0xF0) == 0x90) {
        v = c & 0x0F;
    } else if (c == (map ? 0xde : 0xdc)) {
        if (!rd_be(r, 2, &v))
            return false;
    } else if (c == (map ? 0xdf : 0xdd)) {
        if (!rd_be(r, 4, &v))
            return false;
    } else {
        return rd_fail(r, map ? "expected a map" : "expected an array");
    }
    if (v > (r->n - r->i) / (map ? 2 : 1))
        return rd_fail(r, "declared count exceeds the bytes left");
    *count = (size_t)v;
    return true;
}

/* The length of a str8/16/32 or bin8/16/32 whose first type byte is `base`. */
static bool
rd_len(rd *r, uint8_t c, uint8_t base, uint64_t *len)
{
    return rd_be(r, (size_t)1 << (c - base), len);
}

static bool
rd_str(rd *r, ldgi_str *s)
{
    uint8_t c;
    uint64_t len;
    if (!rd_u8(r, &c))
        return false;
    if ((c & 0xE0) == 0xA0)
        len = c & 0x1F;
    else if (c < 0xd9 || c > 0xdb)
        return rd_fail(r, "expected a string");
    else if (!rd_len(r, c, 0xd9, &len))
        return false;
    const uint8_t *q;
    if (!rd_bytes(r, (size_t)len, &q))
        return false;
    if (!r->proven && !ldgi_utf8_valid(q, (size_t)len))
        return rd_fail(r, "string is not valid UTF-8");
    s->p = (const char *)q;
    s->len = (size_t)len;
    return true;
}

static bool
rd_bin(rd *r, const uint8_t **out, size_t *outlen)
{
    uint8_t c;
    uint64_t len;
    if (!rd_u8(r, &c))
        return false;
    if (c < 0xc4 || c > 0xc6)
        return rd_fail(r, "expected binary data");
    if (!rd_len(r, c, 0xc4, &len))
        return false;
    *outlen = (size_t)len;
    return rd_bytes(r, (size_t)len, out);
}

static bool
rd_bin_fixed(rd *r, uint8_t *out, size_t want)
{
    const uint8_t *q;
    size_t len;
    if (!rd_bin(r, &q, &len))
        return false;
    if (len != want)
        return rd_fail(r, "binary field has the wrong length");
    memcpy(out, q, want);
    return true;
}

/*
 * Reads any msgpack integer form.  Exactly one of out (signed) and uout
 * (unsigned) is non-NULL; a value that does not fit the caller's type fails.
 * Which form was used is checked later by the re-encode comparison.
 */
static bool
rd_int(rd *r, int64_t *out, uint64_t *uout)
{
    uint8_t c;
    uint64_t v;
    bool neg = false; /* v holds a two's-complement int64 */
    if (!rd_u8(r, &c))
        return false;
    if (c <= 0x7f) {
        v = c;
    } else if (c >= 0xe0) {
        v = (uint64_t)(int64_t)(int8_t)c;
        neg = true;
    } else if (c >= 0xcc && c <= 0xcf) {
        if (!rd_be(r, (size_t)1 << (c - 0xcc), &v))
            return false;
    } else if (c >= 0xd0 && c <= 0xd3) {
        size_t k = (size_t)1 << (c - 0xd0);
        if (!rd_be(r, k, &v))
            return false;
        if (k < 8 && (v >> (8 * k - 1)) & 1)
            v |= ~(uint64_t)0 << (8 * k); /* sign-extend */
        neg = (int64_t)v < 0;
    } else {
        return rd_fail(r, "expected an integer");
    }
    if (uout) {
        if (neg)
            return rd_fail(r, "expected a non-negative integer");
        *uout = v;
        return true;
    }
    if (!neg && v > INT64_MAX)
        return rd_fail(r, "integer out of range");
    *out = (int64_t)v;
    return true;
}

static bool
rd_uint(rd *r, uint64_t *v)
{
    return rd_int(r, NULL, v);
}

static bool
rd_sint(rd *r, int64_t *v)
{
    return rd_int(r, v, NULL);
}

static bool
str_is(ldgi_str s, const char *k)
{
    /* byte by byte: the keys are short, and most candidates differ at the first */
    for (size_t i = 0; i < s.len; i++)
        if (!k[i] || k[i] != s.p[i])
            return false;
    return k[s.len] == '\0';
}

/* Keys must appear in the order given, each at most once; optional keys may be absent. */
typedef struct keyorder {
    const char *const *names;
    size_t count, next;
} keyorder;

static int
key_index(rd *r, keyorder *ko, ldgi_str k)
{
    for (size_t j = ko->next; j < ko->count; j++) {
        if (str_is(k, ko->names[j])) {
            ko->next = j + 1;
            return (int)j;
        }
    }
    rd_fail(r, "unknown, repeated or out-of-order key");
    return -1;
}

static bool
decode_key(rd *r, ldgi_stmt *s)
{
    static const char *const names[] = {"id", "name", "org", "pub", "roles"};
    keyorder ko = {names, 5, 0};
    size_t n;
    if (!rd_container(r, true, &n))
        return false;
    bool seen[5] = {0};
    for (size_t i = 0; i < n; i++) {
        ldgi_str k;
        if (!rd_str(r, &k))
            return false;
        int j = key_index(r, &ko, k);
        if (j < 0)
            return false;
        seen[j] = true;
        bool ok = true;
        switch (j) {
        case 0: ok = rd_str(r, &s->key_id); break;
        case 1: ok = rd_str(r, &s->key_name); break;
        case 2: ok = rd_str(r, &s->key_org); break;
        case 3: ok = rd_bin_fixed(r, s->key_pub, LDG_PUB_BYTES); break;
        case 4: {
            size_t nr;
            if (!rd_container(r, false, &nr))
                return false;
            if (nr > LDGI_ROLES_MAX)
                return rd_fail(r, "too many roles");
            s->nroles = nr;
            for (size_t q = 0; q < nr && ok; q++)
                ok = rd_str(r, &s->roles[q]);
            break;
        }
        }
        if (!ok)
            return false;
    }
    if (!seen[3])
        return rd_fail(r, "key without pub");
    bool any = seen[0] || seen[1] || seen[2] || seen[4];
    bool all = seen[0] && seen[1] && seen[2] && seen[4];
    if (any && !all)
        return rd_fail(r, "key must have pub alone, or id, name, org, pub and roles");
    s->key_full = all;
    s->has_key = true;
    return true;
}

/*
 * A packer sink that compares what the encoder writes with the bytes given,
 * so the canonical check needs no allocation (and cannot fail for want of
 * memory, which a caller would mistake for a verdict on the bytes).
 */
typedef struct cmp_sink {
    ldgi_buf b; /* b.p = expected bytes, b.len = position, b.cap = total */
    bool differ;
} cmp_sink;

static int
cmp_write(void *data, const char *p, size_t n)
{
    cmp_sink *c = data;
    if (c->differ || n > c->b.cap - c->b.len || memcmp(c->b.p + c->b.len, p, n) != 0)
        c->differ = true;
    else
        c->b.len += n;
    return 0;
}

static bool
recheck(const uint8_t *p, size_t n, bool ok, void (*enc)(const void *, msgpack_packer *),
        const void *obj, const char **why)
{
    if (!ok)
        return false;
    cmp_sink c = {{(uint8_t *)p, 0, n, false}, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c, cmp_write);
    enc(obj, &pk);
    bool same = !c.differ && c.b.len == n;
    if (!same)
        *why = "not in canonical form";
    return same;
}

static bool
stmt_decode(const uint8_t *p, size_t n, ldgi_stmt *s, const char **why, bool canon)
{
    static const char *const names[] = {"actor",    "body",   "key",    "kind", "meaning",
                                        "observed", "origin", "reason", "refs", "study",
                                        "time",     "tz",     "v"};
    enum { ACTOR, BODY, KEY, KIND, MEANING, OBSERVED, ORIGIN, REASON, REFS, STUDY, TIME, TZ, V };
    memset(s, 0, offsetof(ldgi_stmt, refs)); /* the refs past nrefs are never read */
    rd r = {p, n, 0, NULL, !canon};
    keyorder ko = {names, 13, 0};
    size_t count;
    bool ok = n <= LDGI_STMT_MAX ? rd_container(&r, true, &count) : rd_fail(&r, "too large");
    unsigned seen = 0;
    for (size_t i = 0; ok && i < count; i++) {
        ldgi_str k;
        int j;
        if (!rd_str(&r, &k) || (j = key_index(&r, &ko, k)) < 0) {
            ok = false;
            break;
        }
        seen |= 1u << j;
        switch (j) {
        case ACTOR: ok = rd_bin_fixed(&r, s->actor, LDG_PUB_BYTES); break;
        case BODY: ok = rd_bin_fixed(&r, s->body, LDG_HASH_BYTES); break;
        case KEY: ok = decode_key(&r, s); break;
        case KIND: ok = rd_str(&r, &s->kind); break;
        case MEANING:
            ok = rd_str(&r, &s->meaning);
            s->has_meaning = true;
            break;
        case OBSERVED: {
            size_t two;
            ok = rd_container(&r, false, &two) &&
                 (two == 2 || rd_fail(&r, "observed must be [size, head]")) &&
                 rd_uint(&r, &s->observed_size) &&
                 rd_bin_fixed(&r, s->observed_head, LDG_HASH_BYTES);
            s->has_observed = true;
            break;
        }
        case ORIGIN:
            ok = rd_str(&r, &s->origin);
            s->has_origin = true;
            break;
        case REASON:
            ok = rd_str(&r, &s->reason);
            s->has_reason = true;
            break;
        case REFS: {
            size_t nr;
            ok = rd_container(&r, false, &nr);
            if (ok && nr > LDG_REFS_MAX)
                ok = rd_fail(&r, "too many refs");
            s->nrefs = nr;
            for (size_t q = 0; ok && q < nr; q++)
                ok = rd_bin_fixed(&r, s->refs[q], LDG_HASH_BYTES);
            break;
        }
        case STUDY: ok = rd_str(&r, &s->study); break;
        case TIME: ok = rd_sint(&r, &s->time_ns); break;
        case TZ: {
            int64_t tz;
            ok = rd_sint(&r, &tz);
            if (ok && (tz < -1080 || tz > 1080))
                ok = rd_fail(&r, "tz out of range");
            s->tz_min = (int32_t)tz;
            break;
        }
        case V: ok = rd_uint(&r, &s->v); break;
        }
    }
    unsigned required = 1u << ACTOR | 1u << BODY | 1u << KIND | 1u << REFS | 1u << STUDY |
                        1u << TIME | 1u << TZ | 1u << V;
    if (ok && (seen & required) != required)
        ok = rd_fail(&r, "missing required field");
    if (ok && r.i != n)
        ok = rd_fail(&r, "trailing bytes");
    if (ok && s->v != LDGI_FORMAT_VERSION)
        ok = rd_fail(&r, "unsupported statement version");
    *why = r.why;
    return canon ? recheck(p, n, ok, stmt_pack, s, why) : ok;
}

bool
ldgi_stmt_decode(const uint8_t *p, size_t n, ldgi_stmt *s, const char **why)
{
    return stmt_decode(p, n, s, why, true);
}

bool
ldgi_stmt_peek(const uint8_t *p, size_t n, ldgi_stmt *s)
{
    /* canonical layout: map, "actor" bin8(32), "body" bin8(32), then "kind" str (no "key") */
    static const uint8_t actor[] = {0xa5, 'a', 'c', 't', 'o', 'r', 0xc4, 0x20};
    static const uint8_t body[] = {0xa4, 'b', 'o', 'd', 'y', 0xc4, 0x20};
    static const uint8_t kind[] = {0xa4, 'k', 'i', 'n', 'd'};
    size_t i = 1;
    if (n < 1 + sizeof actor + 32 + sizeof body + 32 + sizeof kind + 1 || (p[0] & 0xf0) != 0x80 ||
        memcmp(p + i, actor, sizeof actor) != 0)
        return false;
    i += sizeof actor;
    memcpy(s->actor, p + i, LDG_PUB_BYTES);
    i += LDG_PUB_BYTES;
    if (memcmp(p + i, body, sizeof body) != 0)
        return false;
    i += sizeof body;
    memcpy(s->body, p + i, LDG_HASH_BYTES);
    i += LDG_HASH_BYTES;
    if (memcmp(p + i, kind, sizeof kind) != 0)
        return false;
    i += sizeof kind;
    size_t len;
    if ((p[i] & 0xe0) == 0xa0) {
        len = p[i] & 0x1f;
        i += 1;
    } else if (p[i] == 0xd9 && i + 1 < n) {
        len = p[i + 1];
        i += 2;
    } else {
        return false;
    }
    if (len > n - i)
        return false;
    s->kind.p = (const char *)p + i;
    s->kind.len = len;
    s->has_key = false;
    s->nrefs = 0;
    return true;
}

bool
ldgi_stmt_decode_proven(const uint8_t *p, size_t n, ldgi_stmt *s, const char **why)
{
    return stmt_decode(p, n, s, why, false);
}

static bool
entry_decode(const uint8_t *p, size_t n, ldgi_entry *e, const char **why, bool canon)
{
    static const char *const names[] = {"clock", "prev", "seq", "sig", "stmt", "time", "v"};
    memset(e, 0, sizeof *e);
    rd r = {p, n, 0, NULL, !canon};
    keyorder ko = {names, 7, 0};
    size_t count;
    bool ok = n <= LDGI_ENTRY_MAX ? rd_container(&r, true, &count) : rd_fail(&r, "too large");
    if (ok && count != 6 && count != 7)
        ok = rd_fail(&r, "entry must have 6 fields, or 7 with clock");
    for (size_t i = 0; ok && i < count; i++) {
        ldgi_str k;
        int j;
        if (!rd_str(&r, &k) || (j = key_index(&r, &ko, k)) < 0) {
            ok = false;
            break;
        }
        switch (j) {
        case 0:
            ok = rd_uint(&r, &e->clock_ns);
            e->has_clock = true;
            break;
        case 1: ok = rd_bin_fixed(&r, e->prev, LDG_HASH_BYTES); break;
        case 2: ok = rd_uint(&r, &e->seq); break;
        case 3: ok = rd_bin_fixed(&r, e->sig, LDG_SIG_BYTES); break;
        case 4: ok = rd_bin(&r, &e->stmt, &e->stmt_len); break;
        case 5: ok = rd_uint(&r, &e->time_ns); break;
        case 6: ok = rd_uint(&r, &e->v); break;
        }
    }
    /* keys are in order and unique, so 7 is all of them and 6 without clock is the rest */
    if (ok && count == 6 && e->has_clock)
        ok = rd_fail(&r, "entry must have 6 fields, or 7 with clock");
    if (ok && e->has_clock && e->clock_ns >= e->time_ns)
        ok = rd_fail(&r, "clock must be earlier than time (it records a held host time)");
    if (ok && r.i != n)
        ok = rd_fail(&r, "trailing bytes");
    if (ok && e->v != LDGI_FORMAT_VERSION)
        ok = rd_fail(&r, "unsupported entry version");
    *why = r.why;
    return canon ? recheck(p, n, ok, entry_pack, e, why) : ok;
}

bool
ldgi_entry_decode(const uint8_t *p, size_t n, ldgi_entry *e, const char **why)
{
    return entry_decode(p, n, e, why, true);
}

bool
ldgi_entry_decode_proven(const uint8_t *p, size_t n, ldgi_entry *e, const char **why)
{
    return entry_decode(p, n, e, why, false);
}
