/*
 * read.c - reading records back: one record by sequence number, the
 * filtered log over one consistent snapshot (using the study, kind and actor
 * indexes and a binary search on the never-decreasing host time), and the
 * key registry with each key's printed name, organisation and roles.  For
 * certifying readers (exports, spec/export.md [EXP-4]) the same walk selects
 * by decoding every entry instead of the indexes, and takes each signer from
 * a registry replayed from the signed key records (ldgi_reg) instead of the
 * keys database: both are caches nothing signs.
 */
#include "internal.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
keyinfo_clear(ldg_keyinfo *k)
{
    free(k->name);
    free(k->org);
    free(k->roles);
    free(k->revoke_reason);
    memset(k, 0, sizeof *k);
}

/*
 * A record built by build_record carries its entry, strings, refs, body
 * and (most often) its signer's strings in the same allocation as itself
 * (LDGI_PACKED_*): a long export builds a million records on its helpers
 * and frees them on another thread, where a dozen allocations each cost
 * more than building them.
 */
#define LDGI_PACKED_FIELDS 1u /* entry .. body */
#define LDGI_PACKED_SIGNER 2u /* signer's name, org, roles, revoke_reason */

void
ldg_record_free(ldg_record *r)
{
    if (!r)
        return;
    if (!(r->ldgi_packed & LDGI_PACKED_FIELDS)) {
        free(r->entry);
        free(r->kind);
        free(r->study);
        free(r->meaning);
        free(r->reason);
        free(r->origin);
        free(r->refs);
        free(r->ref_seqs);
        free(r->body);
    }
    keyinfo_clear(&r->key);
    if (!(r->ldgi_packed & LDGI_PACKED_SIGNER))
        keyinfo_clear(&r->signer);
    free(r);
}

static char *
dupstr(ldgi_str s)
{
    return ldgi_strndup(s.p, s.len);
}

static char *
join_roles(const ldgi_stmt *st)
{
    size_t n = 1;
    for (size_t i = 0; i < st->nroles; i++)
        n += st->roles[i].len + 1;
    char *out = ldgi_malloc(n), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < st->nroles; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, st->roles[i].p, st->roles[i].len);
        p += st->roles[i].len;
    }
    *p = '\0';
    return out;
}

/* Fills k from the key fields of a statement (key.add or genesis). */
static bool
keyinfo_from_stmt(const ldgi_stmt *st, ldg_keyinfo *k)
{
    memcpy(k->pub, st->key_pub, LDG_PUB_BYTES);
    if (!st->key_full)
        return true;
    size_t n = st->key_id.len < LDG_NAME_MAX ? st->key_id.len : LDG_NAME_MAX;
    memcpy(k->id, st->key_id.p, n);
    k->id[n] = '\0';
    k->name = dupstr(st->key_name);
    k->org = dupstr(st->key_org);
    k->roles = join_roles(st);
    return k->name && k->org && k->roles;
}

/* ------------------------------------------- the key registry, replayed -- */

/*
 * The registry as the signed key records make it [POL-4..POL-8]: genesis
 * adds the first admin, key.add a key, key.revoke revokes one.  Replayed in
 * seq order from the entries themselves, so nothing in it comes from the
 * keys database.  Policy is not checked here (ldg verify does): a second
 * key.add of a key or a second revocation changes nothing.
 */
struct ldgi_reg {
    ldg_keyinfo *k; /* in order of registration */
    size_t n, cap;
    size_t *slot; /* open addressing over k by pub: index + 1, 0 when empty */
    size_t nslot; /* a power of two, at least twice n */
};

ldgi_reg *
ldgi_reg_new(void)
{
    return ldgi_calloc(1, sizeof(ldgi_reg));
}

void
ldgi_reg_free(ldgi_reg *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        keyinfo_clear(&g->k[i]);
    free(g->k);
    free(g->slot);
    free(g);
}

size_t
ldgi_reg_count(const ldgi_reg *g)
{
    return g->n;
}

const ldg_keyinfo *
ldgi_reg_at(const ldgi_reg *g, size_t i)
{
    return &g->k[i];
}

static size_t
pub_slot(const uint8_t pub[LDG_PUB_BYTES], size_t nslot)
{
    uint64_t h;
    memcpy(&h, pub, sizeof h); /* keys are uniformly random */
    return (size_t)h & (nslot - 1);
}

const ldg_keyinfo *
ldgi_reg_find(const ldgi_reg *g, const uint8_t pub[LDG_PUB_BYTES])
{
    if (!g->nslot)
        return NULL;
    for (size_t i = pub_slot(pub, g->nslot);; i = (i + 1) & (g->nslot - 1)) {
        size_t s = g->slot[i];
        if (!s)
            return NULL;
        if (memcmp(g->k[s - 1].pub, pub, LDG_PUB_BYTES) == 0)
            return &g->k[s - 1];
    }
}

static ldg_status
reg_add(ldgi_reg *g, uint64_t seq, const ldgi_stmt *st, ldg_err *err)
{
    if (ldgi_reg_find(g, st->key_pub))
        return LDG_OK; /* added twice: the first counts; verify reports the second */
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        ldg_keyinfo *k = ldgi_realloc(g->k, cap * sizeof *k);
        if (!k)
            return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        g->k = k;
        g->cap = cap;
    }
    if (2 * (g->n + 1) > g->nslot) {
        size_t nslot = g->nslot ? g->nslot * 2 : 64;
        size_t *slot = ldgi_calloc(nslot, sizeof *slot);
        if (!slot)
            return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        for (size_t i = 0; i < g->n; i++) {
            size_t j = pub_slot(g->k[i].pub, nslot);
            while (slot[j])
                j = (j + 1) & (nslot - 1);
            slot[j] = i + 1;
        }
        free(g->slot);
        g->slot = slot;
        g->nslot = nslot;
    }
    ldg_keyinfo *k = &g->k[g->n];
    memset(k, 0, sizeof *k);
    if (!keyinfo_from_stmt(st, k)) {
        keyinfo_clear(k);
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    }
    k->added_seq = seq;
    size_t j = pub_slot(k->pub, g->nslot);
    while (g->slot[j])
        j = (j + 1) & (g->nslot - 1);
    g->slot[j] = ++g->n;
    return LDG_OK;
}

ldg_status
ldgi_reg_apply(ldgi_reg *g, uint64_t seq, const uint8_t *v, size_t vl, ldg_err *err)
{
    ldgi_entry e;
    ldgi_stmt st;
    const char *why = "?";
    /* most entries are user records: their kind is read without a full decode */
    if (!ldgi_entry_decode_proven(v, vl, &e, &why))
        return ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode (%s); run ldg verify",
                         (unsigned long long)seq, why);
    if (ldgi_stmt_peek(e.stmt, e.stmt_len, &st) &&
        ldgi_kind_class(st.kind.p, st.kind.len) == LDGI_KIND_USER)
        return LDG_OK;
    if (!ldgi_entry_decode(v, vl, &e, &why) || !ldgi_stmt_decode(e.stmt, e.stmt_len, &st, &why))
        return ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode (%s); run ldg verify",
                         (unsigned long long)seq, why ? why : "?");
    ldgi_kindclass kc = ldgi_kind_class(st.kind.p, st.kind.len);
    if (!st.has_key)
        return LDG_OK;
    if (kc == LDGI_KIND_GENESIS || kc == LDGI_KIND_KEY_ADD)
        return st.key_full ? reg_add(g, seq, &st, err) : LDG_OK;
    if (kc != LDGI_KIND_KEY_REVOKE)
        return LDG_OK;
    ldg_keyinfo *k = (ldg_keyinfo *)ldgi_reg_find(g, st.key_pub);
    if (!k || k->revoked)
        return LDG_OK; /* verify reports a revocation of a key never added, or twice */
    k->revoked = 1;
    k->revoked_seq = seq;
    if (st.has_reason && !(k->revoke_reason = dupstr(st.reason)))
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    return LDG_OK;
}

/* The registry's view of a key: the key.add (or genesis) record and any revocation. */
static ldg_status
lookup_key(ldgi_txn *t, const uint8_t pub[LDG_PUB_BYTES], ldg_keyinfo *k, ldg_err *err)
{
    memset(k, 0, sizeof *k);
    memcpy(k->pub, pub, LDG_PUB_BYTES);
    const uint8_t *v, *ev;
    size_t vl, el;
    ldgi_keystate ks;
    ldg_status s = ldgi_get(t, LDGI_DB_KEYS, pub, LDG_PUB_BYTES, &v, &vl, err);
    if (s != LDG_OK)
        return s;
    if (!ldgi_keystate_unpack(v, vl, &ks))
        return ldgi_fail(err, LDG_E_CORRUPT, "key registry entry is corrupt");
    uint8_t sk[8];
    ldgi_be64(sk, ks.added_seq);
    ldgi_entry e;
    ldgi_stmt st;
    const char *why;
    if ((s = ldgi_get(t, LDGI_DB_ENTRIES, sk, 8, &ev, &el, err)) != LDG_OK ||
        !ldgi_entry_decode(ev, el, &e, &why) || !ldgi_stmt_decode(e.stmt, e.stmt_len, &st, &why) ||
        !st.has_key || memcmp(st.key_pub, pub, LDG_PUB_BYTES) != 0)
        return s != LDG_OK ? s
                           : ldgi_fail(err, LDG_E_CORRUPT, "key record %llu is corrupt",
                                       (unsigned long long)ks.added_seq);
    if (!keyinfo_from_stmt(&st, k)) {
        keyinfo_clear(k); /* the strings copied before the one that failed */
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    }
    k->added_seq = ks.added_seq;
    if (ks.revoked_seq != UINT64_MAX) {
        k->revoked = 1;
        k->revoked_seq = ks.revoked_seq;
        ldgi_be64(sk, ks.revoked_seq);
        if (ldgi_get(t, LDGI_DB_ENTRIES, sk, 8, &ev, &el, err) == LDG_OK &&
            ldgi_entry_decode(ev, el, &e, &why) &&
            ldgi_stmt_decode(e.stmt, e.stmt_len, &st, &why) && st.has_reason)
            k->revoke_reason = dupstr(st.reason);
    }
    return LDG_OK;
}

/*
 * The signers looked up last, for a walk over many records: most records
 * come from a handful of keys, and each lookup decodes the key's record.
 */
#define KEYCACHE 8
/*
 * Refs resolved before in this walk: threads keep naming the same records.
 * Kept on top of the transaction's hints (ldgi_leaf_find), which hold the
 * refs found in it and the records the walk itself hashed (ldgi_leaf_note:
 * a reply's ref to a recent record): a hit here costs no hash either (the
 * walk's snapshot does not change, and the entry was proven to hash to the
 * ref when it was found), but it holds four times as many refs, so an old
 * record named again and again stays, and it remembers a ref that names no
 * entry.  On 2026-12-07, with the hints no longer re-hashed, it saved 0.9 %
 * of the instructions of `ldg log` over 501k records whose 150k refs name
 * records anywhere in the ledger (callgrind).
 */
#define REFCACHE 16384
typedef struct keycache {
    bool used[KEYCACHE];
    ldg_keyinfo k[KEYCACHE];
    unsigned next;
    struct {
        uint8_t hash[LDG_HASH_BYTES];
        bool used;
        uint64_t seq;
    } ref[REFCACHE];
    /*
     * The bodies of a walk are read in seq order, most on the leaf page the
     * last one was on: through a cursor, LMDB finds them there without a
     * descent from the root (opened at the first body; NULL: plain gets).
     */
    ldgi_cur *bodies;
    bool bodies_tried;
} keycache;

/* The seq the leaf index gives for a ref, through the walk's cache (kc may be NULL). */
static uint64_t
ref_seq(ldgi_txn *t, keycache *kc, const uint8_t hash[LDG_HASH_BYTES], ldg_err *err)
{
    size_t slot = 0;
    if (kc) {
        /* two ways a set: refs to hashes that share a slot do not evict each other in turn */
        memcpy(&slot, hash, sizeof slot);
        slot = slot % (REFCACHE / 2) * 2;
        for (size_t w = slot; w < slot + 2; w++)
            if (kc->ref[w].used && memcmp(kc->ref[w].hash, hash, LDG_HASH_BYTES) == 0)
                return kc->ref[w].seq;
    }
    uint64_t seq = UINT64_MAX;
    /* the leaf index is a cache: the seq counts only when that entry hashes to the ref */
    if (ldgi_leaf_find(t, hash, UINT64_MAX, &seq, err) != LDG_OK)
        seq = UINT64_MAX;
    if (kc) {
        kc->ref[slot + 1] = kc->ref[slot]; /* the older one moves to the second way */
        memcpy(kc->ref[slot].hash, hash, LDG_HASH_BYTES);
        kc->ref[slot].seq = seq;
        kc->ref[slot].used = true;
    }
    return seq;
}

static bool
keyinfo_copy(ldg_keyinfo *to, const ldg_keyinfo *from)
{
    *to = *from;
    to->name = from->name ? ldgi_strdup(from->name) : NULL;
    to->org = from->org ? ldgi_strdup(from->org) : NULL;
    to->roles = from->roles ? ldgi_strdup(from->roles) : NULL;
    to->revoke_reason = from->revoke_reason ? ldgi_strdup(from->revoke_reason) : NULL;
    if ((from->name && !to->name) || (from->org && !to->org) || (from->roles && !to->roles) ||
        (from->revoke_reason && !to->revoke_reason)) {
        keyinfo_clear(to);
        return false;
    }
    return true;
}

static void
keycache_free(keycache *kc)
{
    for (unsigned i = 0; i < KEYCACHE; i++)
        if (kc->used[i])
            keyinfo_clear(&kc->k[i]);
    ldgi_cur_close(kc->bodies); /* a read-only cursor may outlive its transaction */
    kc->bodies = NULL;
}

/* The stored body of seq, as ldgi_get gives it, through the walk's cursor (kc may be NULL). */
static ldg_status
body_get(ldgi_txn *t, keycache *kc, const uint8_t k[8], const uint8_t **v, size_t *vl, ldg_err *err)
{
    if (kc && !kc->bodies_tried) {
        kc->bodies_tried = true;
        if (ldgi_cur_open(t, LDGI_DB_BODIES, &kc->bodies, NULL) != LDG_OK)
            kc->bodies = NULL;
    }
    if (!kc || !kc->bodies)
        return ldgi_get(t, LDGI_DB_BODIES, k, 8, v, vl, err);
    return ldgi_cur_find_next(kc->bodies, k, 8, v, vl, err);
}

/* lookup_key through the cache (kc may be NULL). */
static ldg_status
lookup_key_cached(ldgi_txn *t, keycache *kc, const uint8_t pub[LDG_PUB_BYTES], ldg_keyinfo *k,
                  ldg_err *err)
{
    if (!kc)
        return lookup_key(t, pub, k, err);
    for (unsigned i = 0; i < KEYCACHE; i++)
        if (kc->used[i] && memcmp(kc->k[i].pub, pub, LDG_PUB_BYTES) == 0)
            return keyinfo_copy(k, &kc->k[i]) ? LDG_OK
                                              : ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldg_status s = lookup_key(t, pub, k, err);
    if (s != LDG_OK)
        return s;
    unsigned i = kc->next++ % KEYCACHE;
    if (kc->used[i])
        keyinfo_clear(&kc->k[i]);
    kc->used[i] = keyinfo_copy(&kc->k[i], k);
    return LDG_OK;
}

/* Decodes one stored entry into a freshly allocated record. */
/*
 * Walks the kind index's erasure records (few: one per erased body) for the
 * one whose statement, read from its entry, names this leaf hash.  The index
 * only says where to look; what counts is the signed statement.
 */
ldg_status
ldgi_erasure_of(ldgi_txn *t, uint64_t seq, const uint8_t leaf[LDG_HASH_BYTES], uint64_t *erasure,
                ldg_err *err)
{
    static const char prefix[] = "erasure"; /* kind || 0x00 || seq(8) [STO-1] */
    const size_t pl = sizeof prefix;        /* with the 0x00 */
    uint8_t from[sizeof prefix + 8];
    memcpy(from, prefix, pl);
    ldgi_be64(from + pl, seq + 1);
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_KIND, &c, err);
    if (s != LDG_OK)
        return s;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st) {
        ldgi_cur_close(c);
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    }
    const uint8_t *k, *v, *ev;
    size_t kl, vl, el;
    for (s = ldgi_cur_seek(c, from, sizeof from, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        if (kl != pl + 8 || memcmp(k, prefix, pl) != 0) {
            s = LDG_E_NOTFOUND;
            break;
        }
        ldgi_entry e;
        const char *why;
        if (ldgi_get(t, LDGI_DB_ENTRIES, k + pl, 8, &ev, &el, NULL) == LDG_OK &&
            ldgi_entry_decode(ev, el, &e, &why) && ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why) &&
            ldgi_stmt_is_erasure(st) && st->nrefs == 1 &&
            memcmp(st->refs[0], leaf, LDG_HASH_BYTES) == 0) {
            *erasure = ldgi_rd64(k + pl);
            break;
        }
    }
    free(st);
    ldgi_cur_close(c);
    return s;
}

/* Copies n bytes of s and a NUL at *p, and moves *p past them. */
static char *
pack(char **p, const char *s, size_t n)
{
    char *out = *p;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
    *p += n + 1;
    return out;
}

static char *
pack_z(char **p, const char *s)
{
    return s ? pack(p, s, strlen(s)) : NULL;
}

static size_t
z_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static ldg_status
build_record(ldgi_txn *t, keycache *kc, const ldgi_reg *reg, unsigned flags, uint64_t proven,
             uint64_t seq, const uint8_t *v, size_t vl, ldg_record **out, ldg_err *err)
{
    ldgi_entry e;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    ldg_record *r = NULL;
    const char *why = NULL;
    ldg_status s = LDG_OK;
    if (!st) {
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        goto fail;
    }
    /*
     * [VER-11] Below a checkpoint a full verify accepted, the caller
     * recomputes its root from these bytes: the canonical re-encoding that
     * verify did need not be done again.
     */
    bool ok = seq < proven ? ldgi_entry_decode_proven(v, vl, &e, &why) &&
                                 ldgi_stmt_decode_proven(e.stmt, e.stmt_len, st, &why)
                           : ldgi_entry_decode(v, vl, &e, &why) &&
                                 ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why);
    if (!ok) {
        s = ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode (%s); run ldg verify",
                      (unsigned long long)seq, why ? why : "?");
        goto fail;
    }
    /* The body (a view into the snapshot) and the signer, found before the one allocation. */
    const uint8_t *bv = NULL;
    size_t bl = 0;
    uint8_t bk[8];
    ldgi_be64(bk, seq);
    ldg_status bs = body_get(t, kc, bk, &bv, &bl, err);
    if (bs != LDG_OK && bs != LDG_E_NOTFOUND) {
        s = bs;
        goto fail;
    }
    bool later = (flags & LDGI_ITER_LEAF_LATER) != 0, copy_body = false;
    uint8_t c[LDG_HASH_BYTES];
    if (bs == LDG_OK && bl >= LDG_SALT_BYTES) {
        if (!later)
            ldgi_body_commit(bv, bv + LDG_SALT_BYTES, bl - LDG_SALT_BYTES, c);
        copy_body = later || sodium_memcmp(c, st->body, LDG_HASH_BYTES) == 0;
    }
    bool genesis = ldgi_kind_class(st->kind.p, st->kind.len) == LDGI_KIND_GENESIS;
    /* the signer as the signed key records say, never the keys database */
    const ldg_keyinfo *ki = !genesis && reg ? ldgi_reg_find(reg, st->actor) : NULL;
    static const char log_name[] = "(ledger log key)";
    size_t need = st->nrefs * (sizeof *r->ref_seqs + LDG_HASH_BYTES) + vl + st->kind.len + 1 +
                  st->study.len + 1 + (st->has_meaning ? st->meaning.len + 1 : 0) +
                  (st->has_reason ? st->reason.len + 1 : 0) +
                  (st->has_origin ? 2 * (st->origin.len + 1) : 0) +
                  (copy_body ? bl - LDG_SALT_BYTES + 1 : 0) + sizeof log_name + 1;
    if (ki)
        need += z_size(ki->name) + z_size(ki->org) + z_size(ki->roles) + z_size(ki->revoke_reason);
    if (!(r = ldgi_calloc(1, sizeof *r + need))) {
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        goto fail;
    }
    r->ldgi_packed = LDGI_PACKED_FIELDS | (genesis || ki ? LDGI_PACKED_SIGNER : 0);
    char *p = (char *)(r + 1); /* sizeof *r keeps the uint64_t alignment */
    r->ref_seqs = (uint64_t *)(void *)p;
    p += st->nrefs * sizeof *r->ref_seqs;
    r->refs = (uint8_t(*)[LDG_HASH_BYTES])(void *)p;
    p += st->nrefs * LDG_HASH_BYTES;
    r->entry = (uint8_t *)p;
    memcpy(p, v, vl);
    p += vl;
    r->entry_len = vl;
    r->kind = pack(&p, st->kind.p, st->kind.len);
    r->study = pack(&p, st->study.p, st->study.len);
    r->meaning = st->has_meaning ? pack(&p, st->meaning.p, st->meaning.len) : NULL;
    r->reason = st->has_reason ? pack(&p, st->reason.p, st->reason.len) : NULL;
    r->origin = st->has_origin ? pack(&p, st->origin.p, st->origin.len) : NULL;

    r->seq = seq;
    r->host_time_ns = e.time_ns;
    r->has_clock = e.has_clock;
    r->clock_ns = e.clock_ns;
    memcpy(r->prev, e.prev, LDG_HASH_BYTES);
    if (!later) {
        ldgi_leaf_hash(v, vl, r->leaf_hash);
        /* a later record's ref to this one is then found without a lookup or a hash */
        ldgi_leaf_note(t, seq, r->leaf_hash);
    }
    memcpy(r->sig, e.sig, LDG_SIG_BYTES);
    memcpy(r->actor, st->actor, LDG_PUB_BYTES);
    r->nrefs = st->nrefs;
    for (size_t i = 0; i < st->nrefs; i++) {
        memcpy(r->refs[i], st->refs[i], LDG_HASH_BYTES);
        r->ref_seqs[i] = ref_seq(t, kc, st->refs[i], err);
    }
    r->time_ns = st->time_ns;
    r->tz_min = st->tz_min;
    r->has_observed = st->has_observed;
    r->observed_size = st->observed_size;
    memcpy(r->observed_head, st->observed_head, LDG_HASH_BYTES);
    memcpy(r->commitment, st->body, LDG_HASH_BYTES);
    if (st->has_key) {
        r->has_key = 1;
        if (!keyinfo_from_stmt(st, &r->key)) {
            s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
            goto fail;
        }
    }
    r->erased_by = UINT64_MAX;
    r->plan_seq = UINT64_MAX;
    r->tolerance_ns = LDG_TOLERANCE_DEFAULT_NS;
    if (bs == LDG_E_NOTFOUND) {
        /* [POL-11] Missing is not withheld: only a signed erasure record explains it. */
        if (later)
            ldgi_leaf_hash(v, vl, r->leaf_hash);
        if ((s = ldgi_erasure_of(t, seq, r->leaf_hash, &r->erased_by, err)) != LDG_OK &&
            s != LDG_E_NOTFOUND)
            goto fail;
        r->body_state = s == LDG_OK ? LDG_BODY_ERASED : LDG_BODY_WITHHELD;
    } else if (!copy_body) {
        r->body_state = LDG_BODY_MISMATCH;
    } else {
        memcpy(r->salt, bv, LDG_SALT_BYTES);
        r->body_len = bl - LDG_SALT_BYTES;
        /* every byte (a body may hold a NUL: the commitment check later sees them all) */
        r->body = pack(&p, (const char *)bv + LDG_SALT_BYTES, r->body_len);
        if (later)
            r->body_state = LDGI_BODY_UNCHECKED; /* ldgi_record_hashes checks it */
    }
    s = LDG_OK;
    if (genesis) {
        /* Genesis is signed by the log key, which is not an actor in the registry. */
        memcpy(r->signer.pub, st->actor, LDG_PUB_BYTES);
        snprintf(r->signer.id, sizeof r->signer.id, "log-key");
        r->signer.name = pack(&p, log_name, sizeof log_name - 1);
        r->signer.org = r->origin ? pack_z(&p, r->origin) : NULL;
        r->signer.roles = pack(&p, "", 0);
    } else if (ki) {
        r->signer = *ki;
        r->signer.name = pack_z(&p, ki->name);
        r->signer.org = pack_z(&p, ki->org);
        r->signer.roles = pack_z(&p, ki->roles);
        r->signer.revoke_reason = pack_z(&p, ki->revoke_reason);
    } else if (reg) {
        memcpy(r->signer.pub, st->actor, LDG_PUB_BYTES); /* unregistered */
    } else {
        s = lookup_key_cached(t, kc, st->actor, &r->signer, err);
        if (s == LDG_E_NOTFOUND)
            s = LDG_OK; /* unregistered signer: verify reports it; the view shows the key only */
        if (s != LDG_OK)
            goto fail;
    }
    free(st);
    *out = r;
    return LDG_OK;
fail:
    free(st);
    ldg_record_free(r);
    return s;
}

void
ldgi_record_hashes(ldg_record *r)
{
    if (r->body_state != LDGI_BODY_UNCHECKED) {
        ldgi_leaf_hash(r->entry, r->entry_len, r->leaf_hash);
        return;
    }
    /* the body as stored: salt || body_len bytes, all copied */
    uint8_t c[LDG_HASH_BYTES];
    ldgi_leaf_and_body(r->entry, r->entry_len, r->leaf_hash, r->salt, (const uint8_t *)r->body,
                       r->body_len, c);
    if (sodium_memcmp(c, r->commitment, LDG_HASH_BYTES) == 0) {
        r->body_state = LDG_BODY_OK;
        return;
    }
    r->body_state = LDG_BODY_MISMATCH;
    if (!(r->ldgi_packed & LDGI_PACKED_FIELDS))
        free(r->body);
    else
        sodium_memzero(r->body, r->body_len);
    r->body = NULL;
    r->body_len = 0;
    sodium_memzero(r->salt, sizeof r->salt);
}

ldg_status
ldg_ledger_origin(ldg_ledger *l, char out[LDG_TEXT_MAX + 1], ldg_err *err)
{
    ldgi_txn *t;
    ldgi_str o;
    uint8_t logkey[LDG_PUB_BYTES];
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    if ((s = ldgi_genesis(t, &o, logkey, err)) == LDG_OK) {
        memcpy(out, o.p, o.len); /* ldgi_genesis bounds it to LDG_TEXT_MAX */
        out[o.len] = '\0';
    }
    ldgi_txn_abort(t);
    return s;
}

ldg_status
ldg_record_get(ldg_ledger *l, uint64_t seq, ldg_record **out, ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    uint8_t k[8];
    const uint8_t *v;
    size_t vl;
    ldgi_be64(k, seq);
    s = ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &v, &vl, err);
    if (s == LDG_E_NOTFOUND)
        s = ldgi_fail(err, s, "no record %llu in %s", (unsigned long long)seq, ldgi_ledger_dir(l));
    else if (s == LDG_OK)
        s = build_record(t, NULL, NULL, 0, 0, seq, v, vl, out, err);
    ldgi_txn_abort(t);
    return s;
}

static bool
actor_matches(const ldg_record *r, const char *a)
{
    if (r->signer.name && strcmp(r->signer.name, a) == 0)
        return true;
    if (strcmp(r->signer.id, a) == 0)
        return true;
    char line[LDG_VKEY_MAX];
    return r->signer.id[0] && ldg_vkey_format(r->signer.id, r->signer.pub, line, NULL) == LDG_OK &&
           strcmp(line, a) == 0;
}

static bool
record_matches(const ldg_record *r, const ldg_filter *f)
{
    if (f->study && strcmp(r->study, f->study) != 0)
        return false;
    if (f->kind && strcmp(r->kind, f->kind) != 0)
        return false;
    if (f->actor && !actor_matches(r, f->actor))
        return false;
    if (f->has_since && (int64_t)r->host_time_ns < f->since_ns)
        return false;
    if (f->has_until && (int64_t)r->host_time_ns > f->until_ns)
        return false;
    if (f->has_seq && (r->seq < f->seq_from || r->seq > f->seq_to))
        return false;
    return true;
}

/* First seq whose host time is >= since: host time never decreases [FMT-3]. */
static ldg_status
seek_time(ldgi_txn *t, uint64_t size, int64_t since, uint64_t *first, ldg_err *err)
{
    uint64_t lo = 0, hi = size;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint8_t k[8];
        const uint8_t *v;
        size_t vl;
        ldgi_entry e;
        const char *why;
        ldgi_be64(k, mid);
        ldg_status s = ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &v, &vl, err);
        if (s != LDG_OK || !ldgi_entry_decode(v, vl, &e, &why)) {
            *first = 0; /* damaged ledger: fall back to a full scan */
            return LDG_OK;
        }
        if ((int64_t)e.time_ns < since)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    return LDG_OK;
}

/*
 * With a registry, the cheap part of the filter (host time, study, kind,
 * actor) on the entry itself, before the record is built: a certifying walk
 * decodes every entry of its range instead of trusting an index.  -1: past
 * --until (host time never decreases), 0: no match, 1: build it and see.
 */
static int
entry_may_match(const uint8_t *v, size_t vl, const ldg_filter *f, const ldgi_reg *reg)
{
    ldgi_entry e;
    ldgi_stmt st;
    const char *why;
    if (!f->has_until && !f->study && !f->kind && !f->actor)
        return 1; /* nothing to look at before the record is built */
    if (!ldgi_entry_decode_proven(v, vl, &e, &why))
        return 1; /* build_record says what is wrong with it */
    if (f->has_until && (int64_t)e.time_ns > f->until_ns)
        return -1;
    if (!f->study && !f->kind && !f->actor)
        return 1;
    if (!ldgi_stmt_decode_proven(e.stmt, e.stmt_len, &st, &why))
        return 1;
    if (f->study &&
        (st.study.len != strlen(f->study) || memcmp(st.study.p, f->study, st.study.len) != 0))
        return 0;
    if (f->kind && (st.kind.len != strlen(f->kind) || memcmp(st.kind.p, f->kind, st.kind.len) != 0))
        return 0;
    if (f->actor && ldgi_kind_class(st.kind.p, st.kind.len) != LDGI_KIND_GENESIS) {
        const ldg_keyinfo *k = ldgi_reg_find(reg, st.actor);
        ldg_record r = {0};
        if (k)
            r.signer = *k;
        else
            memcpy(r.signer.pub, st.actor, LDG_PUB_BYTES);
        return actor_matches(&r, f->actor) ? 1 : 0;
    }
    return 1;
}

/* ------------------------------------------ building on helper threads -- */

/*
 * A walk over many records builds them (decode, copies, ref and body
 * lookups) on helper threads, a window at a time, while the caller hands
 * the window before over in seq order.  Each helper reads through its own
 * twin of the caller's read transaction: the same snapshot, never a newer
 * one (ldgi_txn_twin), and its own caches.  The entries' bytes are read in
 * place, in the map all the snapshot's transactions share.
 */
#define BWIN 1024

typedef struct bitem {
    uint64_t seq;
    const uint8_t *v;
    size_t vl;
    ldg_record *r; /* NULL when building failed: the caller builds it again to say why */
} bitem;

typedef struct bwin {
    bitem it[BWIN];
    size_t n;
    _Atomic size_t next;
} bwin;

struct ldgi_builders {
    ldgi_pool *pool;
    unsigned n; /* helpers, each with its twin and caches */
    ldgi_txn *twin[LDGI_POOL_MAX];
    keycache *kc[LDGI_POOL_MAX];
    bwin win[2];
    /* the window being built, and how */
    bwin *w;
    const ldgi_reg *reg;
    unsigned flags;
    uint64_t proven;
};

ldgi_builders *
ldgi_builders_new(ldgi_txn *t, unsigned helpers, bool *stale)
{
    *stale = false;
    if (helpers == 0)
        return NULL;
    if (helpers > LDGI_POOL_MAX)
        helpers = LDGI_POOL_MAX;
    ldgi_builders *b = ldgi_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    while (b->n < helpers) {
        ldgi_txn *w = ldgi_txn_twin(t);
        keycache *kc = w ? ldgi_calloc(1, sizeof *kc) : NULL;
        if (!kc) {
            ldgi_txn_abort(w);
            *stale = b->n == 0 && !w;
            break;
        }
        b->twin[b->n] = w;
        b->kc[b->n++] = kc;
    }
    if (b->n && (b->pool = ldgi_pool_new(b->n)) != NULL && ldgi_pool_size(b->pool) == b->n)
        return b;
    ldgi_builders_free(b); /* fewer threads than twins, or none: the caller builds alone */
    return NULL;
}

void
ldgi_builders_free(ldgi_builders *b)
{
    if (!b)
        return;
    ldgi_pool_free(b->pool);
    for (unsigned i = 0; i < b->n; i++) {
        keycache_free(b->kc[i]);
        free(b->kc[i]);
        ldgi_txn_abort(b->twin[i]);
    }
    free(b);
}

static void
build_window(ldgi_builders *b, ldgi_txn *t, keycache *kc)
{
    bwin *w = b->w;
    ldg_err e;
    unsigned built = 0;
    for (size_t i; (i = atomic_fetch_add(&w->next, 1)) < w->n;) {
        bitem *x = &w->it[i];
        if (build_record(t, kc, b->reg, b->flags, b->proven, x->seq, x->v, x->vl, &x->r, &e) !=
            LDG_OK)
            x->r = NULL;
        /*
         * Each thread looks at the map budget as it builds, as one thread
         * building alone would: a window's ref lookups fault in pages all
         * over the file (without this, 1.1 GB resident at 10M records).
         */
        if (++built % 16 == 0 && ldgi_mapped_bytes() > LDGI_MAP_BUDGET)
            ldgi_map_release(ldgi_txn_ledger(t));
    }
}

static void
build_some(void *ctx, unsigned who)
{
    ldgi_builders *b = ctx;
    build_window(b, b->twin[who - 1], b->kc[who - 1]);
}

/* Past building: the record's last checks, then to the taker.  Nonzero: the walk stops. */
static int
hand_over(const ldg_filter *f, ldgi_db db, ldg_record *r, ldgi_take_fn take, void *ctx)
{
    if (f->has_until && (int64_t)r->host_time_ns > f->until_ns && db == LDGI_DB_ENTRIES) {
        ldg_record_free(r);
        return 1; /* host time never decreases: nothing later matches */
    }
    if (record_matches(r, f))
        return take(ctx, r); /* r is take's now */
    ldg_record_free(r);
    return 0;
}

/* A walk with builders: the window filling, and the one built before it. */
typedef struct par {
    ldgi_builders *b;
    bwin *fill, *prev;
    ldgi_txn *t;
    keycache *kc;
    const ldg_filter *f;
    ldgi_db db;
    ldgi_take_fn take;
    void *ctx;
    ldg_err *err;
    ldg_status s;
    bool stopped;
} par;

/* Hands w's records over in order; once stopped or failed, frees the rest. */
static void
hand_window(par *p, bwin *w)
{
    ldgi_builders *b = p->b;
    for (size_t i = 0; i < w->n; i++) {
        bitem *x = &w->it[i];
        ldg_record *r = x->r;
        x->r = NULL;
        if (p->stopped || p->s != LDG_OK) {
            ldg_record_free(r);
            continue;
        }
        /* built again here: the same snapshot, so the same outcome, and its reason */
        if (!r && (p->s = build_record(p->t, p->kc, b->reg, b->flags, b->proven, x->seq, x->v,
                                       x->vl, &r, p->err)) != LDG_OK)
            continue;
        if (hand_over(p->f, p->db, r, p->take, p->ctx))
            p->stopped = true;
    }
    w->n = 0;
}

/*
 * The filled window to the helpers; meanwhile the one before is handed
 * over; then the caller helps build.  True: the walk stops (whatever was
 * built is freed).
 */
static bool
turn(par *p)
{
    bwin *w = p->fill;
    atomic_store(&w->next, 0);
    p->b->w = w;
    ldgi_pool_start(p->b->pool, build_some, p->b);
    if (p->prev)
        hand_window(p, p->prev);
    p->prev = NULL;
    if (p->stopped || p->s != LDG_OK)
        atomic_store(&w->next, w->n); /* no more to build */
    build_window(p->b, p->t, p->kc);
    ldgi_pool_wait(p->b->pool);
    p->fill = w == &p->b->win[0] ? &p->b->win[1] : &p->b->win[0];
    p->fill->n = 0;
    if (p->stopped || p->s != LDG_OK) {
        hand_window(p, w); /* frees */
        return true;
    }
    p->prev = w;
    return false;
}

ldg_status
ldgi_log_iter(ldgi_txn *t, const ldg_filter *f, const ldgi_reg *reg, ldgi_take_fn take, void *ctx,
              ldg_err *err)
{
    return ldgi_log_iter_flags(t, f, reg, 0, 0, take, ctx, err);
}

ldg_status
ldgi_log_iter_flags(ldgi_txn *t, const ldg_filter *f, const ldgi_reg *reg, unsigned flags,
                    uint64_t proven, ldgi_take_fn take, void *ctx, ldg_err *err)
{
    return ldgi_log_iter_built(t, NULL, f, reg, flags, proven, take, ctx, err);
}

ldg_status
ldgi_log_iter_built(ldgi_txn *t, ldgi_builders *b, const ldg_filter *f, const ldgi_reg *reg,
                    unsigned flags, uint64_t proven, ldgi_take_fn take, void *ctx, ldg_err *err)
{
    static const ldg_filter none = {0};
    if (!f)
        f = &none;
    ldg_status s = LDG_OK;
    ldgi_cur *c = NULL;
    keycache *kc = ldgi_calloc(1, sizeof *kc);
    if (!kc)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    uint8_t prefix[LDG_STUDY_MAX + 16];
    size_t plen = 0;
    ldgi_db db = LDGI_DB_ENTRIES;
    const char *key = f->study ? f->study : f->kind;
    if (key && !reg && strlen(key) <= LDG_STUDY_MAX) {
        /* Walk the study (or kind) index: keys are text || 0x00 || seq. */
        db = f->study ? LDGI_DB_STUDY : LDGI_DB_KIND;
        plen = strlen(key) + 1;
        memcpy(prefix, key, plen);
    }
    uint64_t start = 0;
    if (db == LDGI_DB_ENTRIES && f->has_since) {
        uint64_t size;
        uint8_t head[LDG_HASH_BYTES];
        if ((s = ldgi_head(t, &size, head, NULL, err)) != LDG_OK ||
            (s = seek_time(t, size, f->since_ns, &start, err)) != LDG_OK)
            goto done;
    }
    if (db == LDGI_DB_ENTRIES && f->has_seq && f->seq_from > start)
        start = f->seq_from;
    if ((s = ldgi_cur_open(t, db, &c, err)) != LDG_OK)
        goto done;
    par p = {b, b ? &b->win[0] : NULL, NULL, t, kc, f, db, take, ctx, err, LDG_OK, false};
    if (b) {
        b->win[0].n = b->win[1].n = 0;
        b->reg = reg;
        b->flags = flags;
        b->proven = proven;
    }
    const uint8_t *k, *v;
    size_t kl, vl;
    uint8_t sk[8];
    if (db == LDGI_DB_ENTRIES) {
        ldgi_be64(sk, start);
        s = ldgi_cur_seek(c, sk, 8, &k, &kl, &v, &vl, err);
    } else {
        s = ldgi_cur_seek(c, prefix, plen, &k, &kl, &v, &vl, err);
    }
    for (; s == LDG_OK; s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        uint64_t seq;
        const uint8_t *ev = v;
        size_t el = vl;
        if (db == LDGI_DB_ENTRIES) {
            if (kl != 8) {
                s = ldgi_fail(err, LDG_E_CORRUPT, "entries: malformed key");
                break;
            }
            seq = ldgi_rd64(k);
        } else {
            if (kl != plen + 8 || memcmp(k, prefix, plen) != 0)
                break; /* past the prefix */
            seq = ldgi_rd64(k + plen);
            if (f->has_seq && seq < f->seq_from)
                continue;
            ldgi_be64(sk, seq);
            if ((s = ldgi_get(t, LDGI_DB_ENTRIES, sk, 8, &ev, &el, err)) != LDG_OK) {
                s = ldgi_fail(err, LDG_E_CORRUPT, "index names missing entry %llu",
                              (unsigned long long)seq);
                break;
            }
        }
        if (f->has_seq && seq > f->seq_to)
            break; /* both walks go in seq order */
        int may = reg ? entry_may_match(ev, el, f, reg) : 1;
        if (may < 0)
            break;
        if (may == 0)
            continue;
        if (b) {
            p.fill->it[p.fill->n++] = (bitem){seq, ev, el, NULL};
            if (p.fill->n == BWIN && turn(&p))
                break;
            continue;
        }
        ldg_record *r;
        if ((s = build_record(t, kc, reg, flags, proven, seq, ev, el, &r, err)) != LDG_OK)
            break;
        if (hand_over(f, db, r, take, ctx))
            break;
    }
    if (s == LDG_E_NOTFOUND)
        s = LDG_OK;
    if (b) {
        if (s != LDG_OK)
            p.stopped = true; /* what is built is freed */
        else if (p.fill->n && !p.stopped && p.s == LDG_OK)
            turn(&p);
        if (p.prev)
            hand_window(&p, p.prev);
        p.fill->n = 0; /* never built: nothing to free */
        if (s == LDG_OK)
            s = p.s;
    }
done:
    ldgi_cur_close(c);
    keycache_free(kc);
    free(kc);
    return s;
}

int
ldgi_each_take(void *ctx, ldg_record *r)
{
    ldgi_each_ctx *e = ctx;
    int stop = e->fn(e->ctx, r);
    ldg_record_free(r);
    return stop;
}

ldg_status
ldg_log_each(ldg_ledger *l, const ldg_filter *f, ldg_record_fn fn, void *ctx, ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    ldgi_each_ctx e = {fn, ctx};
    s = ldgi_log_iter(t, f, NULL, ldgi_each_take, &e, err);
    ldgi_txn_abort(t);
    return s;
}

struct keyref {
    uint64_t added;
    uint8_t pub[LDG_PUB_BYTES];
};

static int
keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    return x->added < y->added ? -1 : x->added > y->added;
}

ldg_status
ldg_keys_each(ldg_ledger *l, ldg_key_fn fn, void *ctx, ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    ldgi_cur *c = NULL;
    struct keyref *refs = NULL;
    size_t n = 0, cap = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    /* The registry is small (one entry per person or system): list it in order of registration. */
    if ((s = ldgi_cur_open(t, LDGI_DB_KEYS, &c, err)) != LDG_OK)
        goto out;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        ldgi_keystate ks;
        if (kl != LDG_PUB_BYTES || !ldgi_keystate_unpack(v, vl, &ks)) {
            s = ldgi_fail(err, LDG_E_CORRUPT, "keys: malformed registry entry");
            goto out;
        }
        if (n == cap) {
            struct keyref *nr = ldgi_realloc(refs, (cap = cap ? cap * 2 : 16) * sizeof *refs);
            if (!nr) {
                s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
                goto out;
            }
            refs = nr;
        }
        refs[n].added = ks.added_seq;
        memcpy(refs[n++].pub, k, LDG_PUB_BYTES);
    }
    if (s != LDG_E_NOTFOUND)
        goto out;
    s = LDG_OK;
    if (n) /* qsort of NULL, even of none, is undefined */
        qsort(refs, n, sizeof *refs, keyref_cmp);
    for (size_t i = 0; i < n; i++) {
        ldg_keyinfo ki;
        if ((s = lookup_key(t, refs[i].pub, &ki, err)) != LDG_OK)
            break;
        int stop = fn(ctx, &ki);
        keyinfo_clear(&ki);
        if (stop)
            break;
    }
out:
    free(refs);
    ldgi_cur_close(c);
    ldgi_txn_abort(t);
    return s;
}
