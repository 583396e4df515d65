/*
 * append.c - appending signed statements to the chain [FMT-3][FMT-5][STO-2]
 * under the policy rules that need ledger state [POL-4..POL-9]: the signer's
 * key is registered, not revoked and holds the role; refs and the observed
 * head name entries that exist; a statement is appended once.  One write
 * transaction per call, all or nothing, synced before success.
 */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
short_hex(const uint8_t *p, char out[17])
{
    sodium_bin2hex(out, 17, p, 8);
}

ldg_status
ldgi_leaf_at(ldgi_txn *t, uint64_t seq, uint8_t out[LDG_HASH_BYTES], ldg_err *err)
{
    uint8_t k[8];
    const uint8_t *v;
    size_t vl;
    ldgi_be64(k, seq);
    ldg_status s = ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &v, &vl, err);
    if (s == LDG_E_NOTFOUND)
        return ldgi_fail(err, s, "no entry %llu", (unsigned long long)seq);
    if (s != LDG_OK)
        return s;
    ldgi_leaf_hash(v, vl, out);
    return LDG_OK;
}

/*
 * The statement of entry seq, decoded into st (views into the map, valid while t lives).
 * Nothing here proves that the entry is the one a caller wanted: that is the caller's.
 */
static ldg_status
stmt_at(ldgi_txn *t, uint64_t seq, ldgi_stmt *st, ldg_err *err)
{
    uint8_t k[8];
    const uint8_t *v;
    size_t vl;
    ldgi_entry e;
    const char *why;
    ldgi_be64(k, seq);
    ldg_status s = ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &v, &vl, err);
    if (s != LDG_OK)
        return s;
    if (!ldgi_entry_decode(v, vl, &e, &why) || !ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why))
        return LDG_E_NOTFOUND; /* the entry's own check reports it */
    return LDG_OK;
}

ldg_status
ldgi_ref_entry(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES], uint64_t before, ldgi_refentry *out,
               ldg_err *err)
{
    uint64_t seq;
    ldg_status s = ldgi_leaf_find(t, hash, before, &seq, err);
    if (s != LDG_OK)
        return s;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    /*
     * The index is derived, but ldgi_leaf_find counts its seq only when the
     * bytes stored there, read in this transaction, hash to the ref: stmt_at
     * decodes those very bytes (nothing is written in between), so they are
     * not hashed again.
     */
    if ((s = stmt_at(t, seq, st, err)) == LDG_OK) {
        out->seq = seq;
        out->kc = ldgi_kind_class(st->kind.p, st->kind.len);
        memcpy(out->actor, st->actor, LDG_PUB_BYTES);
        memset(out->key_pub, 0, LDG_PUB_BYTES);
        if (st->has_key)
            memcpy(out->key_pub, st->key_pub, LDG_PUB_BYTES);
    }
    free(st);
    return s;
}

ldg_status
ldgi_entries_size(ldgi_txn *t, uint64_t *n, const char *malformed, ldg_err *err)
{
    *n = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    ldg_status s = ldgi_last(t, LDGI_DB_ENTRIES, &k, &kl, &v, &vl, err);
    if (s == LDG_OK && kl == 8)
        *n = ldgi_rd64(k) + 1;
    else if (s == LDG_OK)
        s = ldgi_fail(err, LDG_E_CORRUPT, "%s", malformed);
    else if (s == LDG_E_NOTFOUND)
        s = LDG_OK;
    return s;
}

ldg_status
ldgi_head(ldgi_txn *t, uint64_t *size, uint8_t head[LDG_HASH_BYTES], uint64_t *last_time,
          ldg_err *err)
{
    const uint8_t *k, *v;
    size_t kl, vl;
    ldg_status s = ldgi_last(t, LDGI_DB_ENTRIES, &k, &kl, &v, &vl, err);
    if (s == LDG_E_NOTFOUND) {
        *size = 0;
        memset(head, 0, LDG_HASH_BYTES);
        if (last_time)
            *last_time = 0;
        return LDG_OK;
    }
    if (s == LDG_OK) {
        ldgi_entry e;
        const char *why;
        if (kl != 8 || !ldgi_entry_decode(v, vl, &e, &why)) {
            s = ldgi_fail(err, LDG_E_CORRUPT, "last entry does not decode; run ldg verify");
        } else {
            *size = ldgi_rd64(k) + 1;
            ldgi_leaf_hash(v, vl, head);
            if (last_time)
                *last_time = e.time_ns;
        }
    }
    return s;
}

/* Key composed of a text, 0x00 and the seq (study and kind indexes). */
static size_t
text_key(uint8_t *out, const char *p, size_t n, uint64_t seq)
{
    memcpy(out, p, n);
    out[n] = 0;
    ldgi_be64(out + n + 1, seq);
    return n + 9;
}

/* Item i of a batch (numbered from 1 in messages when there is more than one). */
static ldg_status
refuse(ldg_err *err, bool many, size_t i, ldg_status s, const char *msg)
{
    if (many)
        return ldgi_fail_at(err, (long)i, s, "record %zu: %s", i + 1, msg);
    return ldgi_fail_at(err, (long)i, s, "%s", msg);
}

/*
 * The ledger's origin and log key, from its genesis, read once per
 * transaction; the origin is a view into the map, valid while it lives.
 */
typedef struct origin_cache {
    bool known;
    ldgi_str origin;
    uint8_t logkey[LDG_PUB_BYTES];
} origin_cache;

static ldg_status
ledger_origin(ldgi_txn *t, origin_cache *oc, ldg_err *err)
{
    if (oc->known)
        return LDG_OK;
    ldg_status s = ldgi_genesis(t, &oc->origin, oc->logkey, err);
    oc->known = s == LDG_OK;
    return s;
}

ldg_status
ldgi_genesis(ldgi_txn *t, ldgi_str *origin, uint8_t logkey[LDG_PUB_BYTES], ldg_err *err)
{
    uint8_t zero[8] = {0};
    const uint8_t *g;
    size_t gl;
    ldgi_entry e;
    const char *why;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldg_status s = ldgi_get(t, LDGI_DB_ENTRIES, zero, 8, &g, &gl, err);
    if (s == LDG_OK &&
        (!ldgi_entry_decode(g, gl, &e, &why) || !ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why) ||
         ldgi_kind_class(st->kind.p, st->kind.len) != LDGI_KIND_GENESIS || !st->has_origin ||
         st->origin.len == 0 || st->origin.len > LDG_TEXT_MAX))
        s = ldgi_fail(err, LDG_E_CORRUPT,
                      "the genesis entry does not decode or has no valid origin; run ldg verify");
    else if (s == LDG_E_NOTFOUND)
        s = ldgi_fail(err, LDG_E_CORRUPT, "the ledger has no genesis entry; run ldg verify");
    if (s == LDG_OK) {
        *origin = st->origin; /* points into the map, not into st */
        memcpy(logkey, st->actor, LDG_PUB_BYTES);
    }
    free(st);
    return s;
}

/*
 * The policy engine's view of the ledger at append: the host's own
 * databases inside the write transaction (the key registry, the leaf-hash
 * index, the genesis).  They are derived state, trusted here only to refuse
 * early: whatever a doctored index lets in, verify finds [VER-6][VER-7].
 */
typedef struct append_env {
    ldgi_txn *t;
    origin_cache oc;
} append_env;

static ldg_status
env_key(void *ctx, const uint8_t pub[LDG_PUB_BYTES], ldgi_keystate *ks, ldg_err *err)
{
    const uint8_t *v;
    size_t vl;
    ldg_status s = ldgi_get(((append_env *)ctx)->t, LDGI_DB_KEYS, pub, LDG_PUB_BYTES, &v, &vl, err);
    if (s != LDG_OK)
        return s;
    if (!ldgi_keystate_unpack(v, vl, ks)) {
        char hx[17];
        short_hex(pub, hx);
        return ldgi_fail(err, LDG_E_CORRUPT, "key registry entry for %s is corrupt", hx);
    }
    return LDG_OK;
}

ldg_status
ldgi_erasure_target(ldgi_txn *t, const ldgi_stmt *st, uint64_t *target, char *why, size_t wl,
                    ldg_err *err)
{
    const uint8_t *v;
    size_t vl;
    char hx[17];
    short_hex(st->refs[0], hx);
    /* The leaf index is derived: ldgi_leaf_find counts an entry only if it hashes to the ref. */
    ldg_status s = ldgi_leaf_find(t, st->refs[0], UINT64_MAX, target, err);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    if (s != LDG_OK)
        return snprintf(why, wl, "the erasure's ref (%s...) names no entry in this ledger", hx),
               LDG_E_POLICY;
    uint8_t k[8];
    ldgi_be64(k, *target);
    if ((s = ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &v, &vl, err)) != LDG_OK)
        return s;
    ldgi_stmt *ts = ldgi_malloc(sizeof *ts);
    if (!ts)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldgi_entry e;
    const char *dwhy;
    unsigned long long ts_seq = (unsigned long long)*target;
    s = LDG_OK;
    if (!ldgi_entry_decode(v, vl, &e, &dwhy) || !ldgi_stmt_decode(e.stmt, e.stmt_len, ts, &dwhy))
        s = ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode; run ldg verify", ts_seq);
    else if (ldgi_kind_class(ts->kind.p, ts->kind.len) != LDGI_KIND_USER)
        s = (snprintf(why, wl,
                      "entry %llu is a %.*s record: only a user record's body can be erased",
                      ts_seq, (int)ts->kind.len, ts->kind.p),
             LDG_E_POLICY);
    else if (ldgi_stmt_is_erasure(ts))
        s = (snprintf(why, wl, "entry %llu is an erasure record: an erasure cannot be erased",
                      ts_seq),
             LDG_E_POLICY);
    else if (ts->study.len != st->study.len || memcmp(ts->study.p, st->study.p, st->study.len))
        s = (snprintf(why, wl,
                      "the erasure is for study \"%.*s\" but entry %llu is of study \"%.*s\"",
                      (int)(st->study.len > 80 ? 80 : st->study.len), st->study.p, ts_seq,
                      (int)(ts->study.len > 80 ? 80 : ts->study.len), ts->study.p),
             LDG_E_POLICY);
    free(ts);
    return s;
}

/*
 * [POL-11] An erasure: its body names a legal basis, and the body it erases
 * is still in the ledger (so a record is erased once).  *target: its seq.
 */
static ldg_status
check_erasure(ldgi_txn *t, const ldgi_stmt *st, const ldg_signed *sg, uint64_t *target, char *why,
              size_t wl, ldg_err *err)
{
    if (!ldgi_body_legal_basis(sg->body, sg->body_len, NULL, 0))
        return snprintf(why, wl,
                        "an erasure's body needs a non-empty \"legal_basis\" (e.g. \"GDPR Art. "
                        "17(1)(b)\")"),
               LDG_E_POLICY;
    ldg_status s = ldgi_erasure_target(t, st, target, why, wl, err);
    if (s != LDG_OK)
        return s;
    const uint8_t *v;
    size_t vl;
    uint8_t k[8];
    ldgi_be64(k, *target);
    s = ldgi_get(t, LDGI_DB_BODIES, k, 8, &v, &vl, err);
    if (s == LDG_E_NOTFOUND)
        return snprintf(why, wl,
                        "the body of entry %llu is not in the ledger (already erased, or missing)",
                        (unsigned long long)*target),
               LDG_E_POLICY;
    return s;
}

static ldg_status
env_ledger(void *ctx, const uint8_t **logkey, const char **origin, size_t *origin_len, ldg_err *err)
{
    append_env *a = ctx;
    ldg_status s = ledger_origin(a->t, &a->oc, err);
    if (s != LDG_OK)
        return s;
    *logkey = a->oc.logkey;
    *origin = a->oc.origin.p;
    *origin_len = a->oc.origin.len;
    return LDG_OK;
}

/* The entry below `before` whose leaf hash is `hash`, through the leaf index: UINT64_MAX if none.
 */
static ldg_status
leaf_seq(append_env *a, const uint8_t hash[LDG_HASH_BYTES], uint64_t before, uint64_t *seq,
         ldg_err *err)
{
    ldg_status s = ldgi_leaf_find(a->t, hash, before, seq, err);
    if (s == LDG_E_NOTFOUND) {
        *seq = UINT64_MAX;
        return LDG_OK;
    }
    return s;
}

static ldg_status
env_ref(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, size_t r, ldgi_link *out,
        ldg_err *err)
{
    (void)r;
    uint64_t at;
    ldg_status s = leaf_seq(ctx, hash, seq, &at, err);
    *out = s == LDG_OK && at < seq ? LDGI_LINK_OK : LDGI_LINK_BAD;
    return s;
}

static ldg_status
env_observed(void *ctx, uint64_t size, const uint8_t head[LDG_HASH_BYTES], uint64_t seq,
             ldgi_link *out, ldg_err *err)
{
    /*
     * [POL-8] the head is entry size - 1's leaf hash: that entry's bytes, no
     * index; hashed once a transaction (a batch's statements observe one head)
     */
    ldg_status s =
        size - 1 < seq ? ldgi_leaf_is(((append_env *)ctx)->t, size - 1, head, err) : LDG_E_NOTFOUND;
    *out = s == LDG_OK ? LDGI_LINK_OK : LDGI_LINK_BAD;
    return s == LDG_E_NOTFOUND ? LDG_OK : s;
}

static ldg_status
env_ref_entry(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, ldgi_refentry *out,
              ldg_err *err)
{
    return ldgi_ref_entry(((append_env *)ctx)->t, hash, seq, out, err);
}

/*
 * [POL-13] A key's identity at append: the printed name and organisation
 * of the key record at its added seq (the registry holds no names), which
 * must be that key's record.
 */
static ldg_status
key_identity(ldgi_txn *t, const uint8_t pub[LDG_PUB_BYTES], const ldgi_keystate *ks,
             uint8_t id[LDG_HASH_BYTES], ldg_err *err)
{
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldg_status s = stmt_at(t, ks->added_seq, st, err);
    if (s == LDG_OK && (!st->key_full || memcmp(st->key_pub, pub, LDG_PUB_BYTES) != 0))
        s = LDG_E_NOTFOUND;
    if (s == LDG_E_NOTFOUND) {
        char hx[17];
        short_hex(pub, hx);
        s = ldgi_fail(err, LDG_E_CORRUPT,
                      "the key registry says key %s was added at entry %llu, which does not add "
                      "it; run ldg verify",
                      hx, (unsigned long long)ks->added_seq);
    } else if (s == LDG_OK) {
        ldgi_identity(st->key_name, st->key_org, id);
    }
    free(st);
    return s;
}

static ldg_status
env_identity(void *ctx, const uint8_t pub[LDG_PUB_BYTES], uint8_t id[LDG_HASH_BYTES], ldg_err *err)
{
    ldgi_keystate ks;
    ldg_status s = env_key(ctx, pub, &ks, err);
    return s == LDG_OK ? key_identity(((append_env *)ctx)->t, pub, &ks, id, err) : s;
}

/* [POL-15] Every registered key whose record names this identity: a scan, for a key.add only. */
static ldg_status
env_identity_keys(void *ctx, const uint8_t id[LDG_HASH_BYTES], ldgi_idkey_fn each, void *ectx,
                  ldg_err *err)
{
    ldgi_txn *t = ((append_env *)ctx)->t;
    ldgi_cur *c;
    const uint8_t *k, *v;
    size_t kl, vl;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_KEYS, &c, err);
    if (s != LDG_OK)
        return s;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        ldgi_keystate ks;
        uint8_t pub[LDG_PUB_BYTES], kid[LDG_HASH_BYTES];
        if (kl != LDG_PUB_BYTES || !ldgi_keystate_unpack(v, vl, &ks)) {
            s = ldgi_fail(err, LDG_E_CORRUPT, "the key registry is corrupt; run ldg verify");
            break;
        }
        memcpy(pub, k, LDG_PUB_BYTES); /* k lives only until the cursor moves */
        if ((s = key_identity(t, pub, &ks, kid, err)) != LDG_OK)
            break;
        if (memcmp(kid, id, LDG_HASH_BYTES) == 0 && !each(ectx, pub, &ks))
            break;
    }
    ldgi_cur_close(c);
    return s == LDG_E_NOTFOUND ? LDG_OK : s;
}

typedef struct first_refusal {
    ldg_status status; /* LDG_OK while nothing failed */
    char why[400];
} first_refusal;

static bool
refusal(void *ctx, ldgi_check c, ldg_status status, const char *why)
{
    (void)c;
    first_refusal *f = ctx;
    f->status = status;
    snprintf(f->why, sizeof f->why, "%s", why);
    return false; /* the first refusal refuses the statement */
}

/*
 * [KIND-1] The known body fields of a user record have their documented
 * form, whoever signed it and wherever: bad input (LDG_E_INPUT), not policy.
 */
static ldg_status
body_fields(const ldgi_stmt *st, const ldg_signed *sg, bool many, size_t i, ldg_err *err)
{
    char kind[64];
    if (sg->fields_ok) /* signed in this process by ldg_sign, which checked them */
        return LDG_OK;
    if (st->kind.len >= sizeof kind || ldgi_kind_class(st->kind.p, st->kind.len) != LDGI_KIND_USER)
        return LDG_OK; /* system records, and kinds the policy refuses */
    memcpy(kind, st->kind.p, st->kind.len);
    kind[st->kind.len] = '\0';
    ldg_err e = {0};
    ldg_status s = ldg_body_fields_check(kind, (const char *)sg->body, sg->body_len, &e);
    if (s == LDG_E_INPUT)
        return refuse(err, many, i, s, e.msg);
    if (s != LDG_OK)
        return ldgi_fail(err, s, "%s", e.msg);
    return LDG_OK;
}

/* The key registry follows the engine's verdict on a key record [KEY-4]. */
static ldg_status
write_key_state(ldgi_txn *t, const ldgi_key_effect *eff, uint64_t seq, ldg_err *err)
{
    uint8_t buf[LDGI_KEYSTATE_BYTES];
    ldgi_keystate ks;
    if (eff->op == LDGI_KEY_ADD) {
        ks.added_seq = seq;
        ks.revoked_seq = UINT64_MAX;
        ks.roles = eff->roles;
    } else if (eff->op == LDGI_KEY_REVOKE) {
        const uint8_t *v;
        size_t vl;
        ldg_status s = ldgi_get(t, LDGI_DB_KEYS, eff->pub, LDG_PUB_BYTES, &v, &vl, err);
        if (s != LDG_OK || !ldgi_keystate_unpack(v, vl, &ks))
            return s != LDG_OK ? s : ldgi_fail(err, LDG_E_CORRUPT, "key registry is corrupt");
        ks.revoked_seq = seq;
    } else {
        return LDG_OK;
    }
    ldgi_keystate_pack(&ks, buf);
    return ldgi_put(t, LDGI_DB_KEYS, eff->pub, LDG_PUB_BYTES, buf, sizeof buf, false, false, err);
}

ldg_status
ldgi_append_txn(ldgi_txn *t, ldg_signed *const *sv, size_t n, size_t base, ldg_appended *out,
                bool allow_genesis, ldg_err *err)
{
    bool many = n > 1 || base > 0;
    append_env ae = {.t = t};
    ldgi_policy_env env = {.ctx = &ae,
                           .key = env_key,
                           .ledger = env_ledger,
                           .ref = env_ref,
                           .observed = env_observed,
                           .allow_genesis = allow_genesis,
                           .ref_entry = env_ref_entry,
                           .identity = env_identity,
                           .identity_keys = env_identity_keys};
    ldgi_key_effect eff;
    uint64_t size, last_time;
    uint8_t prev[LDG_HASH_BYTES];
    ldg_status s = ldgi_head(t, &size, prev, &last_time, err);
    if (s != LDG_OK)
        return s;
    int64_t now;
    ldg_time_now(&now, NULL);
    /*
     * Host time never decreases [FMT-3]; when the clock reads earlier than the
     * last entry (set back, or that entry's time jumped ahead), the time is
     * held and what the clock read is recorded beside it, never hidden.
     */
    uint64_t clock = now > 0 ? (uint64_t)now : 0;
    bool held = clock < last_time;
    uint64_t host_time = held ? last_time : clock;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    ldgi_buf eb = {0}, bb = {0};
    uint8_t *ik = ldgi_malloc(LDG_STUDY_MAX + 64);
    if (!st || !ik) {
        s = ldgi_fail(err, LDG_E_NOMEM, "append: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const ldg_signed *sg = sv[i];
        uint64_t seq = size + i, erased = UINT64_MAX;
        const char *dwhy = NULL;
        char why[300];
        if (!ldgi_stmt_decode(sg->stmt, sg->stmt_len, st, &dwhy)) {
            snprintf(why, sizeof why, "statement does not decode: %s", dwhy ? dwhy : "?");
            s = refuse(err, many, base + i, LDG_E_INPUT, why);
            goto done;
        }
        if ((s = body_fields(st, sg, many, base + i, err)) != LDG_OK)
            goto done;
        first_refusal fr = {.status = LDG_OK};
        if ((s = ldgi_policy_apply(&env, st, seq, refusal, &fr, &eff, err)) != LDG_OK)
            goto done;
        if (fr.status == LDG_OK && ldgi_stmt_is_erasure(st)) {
            s = check_erasure(t, st, sg, &erased, fr.why, sizeof fr.why, err);
            if (s == LDG_E_POLICY || s == LDG_E_INPUT)
                fr.status = s;
            else if (s != LDG_OK)
                goto done;
        }
        if (fr.status != LDG_OK) {
            s = refuse(err, many, base + i, fr.status, fr.why);
            goto done;
        }
        ldgi_entry e = {.v = LDGI_FORMAT_VERSION,
                        .seq = seq,
                        .stmt = sg->stmt,
                        .stmt_len = sg->stmt_len,
                        .time_ns = host_time,
                        .has_clock = held,
                        .clock_ns = clock};
        memcpy(e.prev, prev, LDG_HASH_BYTES);
        memcpy(e.sig, sg->sig, LDG_SIG_BYTES);
        eb.len = 0;
        if (!ldgi_entry_encode(&e, &eb)) {
            s = ldgi_fail(err, LDG_E_NOMEM, "append: out of memory");
            goto done;
        }
        uint8_t leaf[LDG_HASH_BYTES], sk[8], lk[LDGI_LEAF_KEY_BYTES], ck[LDGI_COMMIT_KEY_BYTES];
        ldgi_leaf_hash(eb.p, eb.len, leaf);
        ldgi_be64(sk, seq);
        bb.len = 0;
        ldgi_buf_put(&bb, sg->salt, LDG_SALT_BYTES);
        if (!ldgi_buf_put(&bb, sg->body, sg->body_len)) {
            s = ldgi_fail(err, LDG_E_NOMEM, "append: out of memory");
            goto done;
        }
        if ((s = ldgi_put(t, LDGI_DB_ENTRIES, sk, 8, eb.p, eb.len, true, true, err)) != LDG_OK)
            goto done;
        /* [POL-9] a statement is appended once: its commitment (salted, so unique per
         * signing) indexes its one entry, whether or not the body is kept. */
        ldgi_commit_key(ck, st->time_ns, st->body);
        s = ldgi_put(t, LDGI_DB_COMMIT, ck, sizeof ck, sk, 8, true, false, err);
        if (s == LDG_E_EXISTS) {
            s = refuse(err, many, base + i, LDG_E_POLICY,
                       "this signed statement is already in the ledger (a replay)");
            goto done;
        }
        /* Bodies are keyed by seq, so readers stream them in order with the entries. */
        if (s != LDG_OK ||
            (s = ldgi_put(t, LDGI_DB_BODIES, sk, 8, bb.p, bb.len, true, true, err)) != LDG_OK)
            goto done;
        ldgi_leaf_key(lk, leaf, seq);
        if ((s = ldgi_put(t, LDGI_DB_LEAF, lk, sizeof lk, sk, 8, true, false, err)) ||
            (s = ldgi_put(t, LDGI_DB_STUDY, ik, text_key(ik, st->study.p, st->study.len, seq), "",
                          0, false, false, err)) ||
            (s = ldgi_put(t, LDGI_DB_KIND, ik, text_key(ik, st->kind.p, st->kind.len, seq), "", 0,
                          false, false, err)))
            goto done;
        memcpy(ik, st->actor, LDG_PUB_BYTES);
        ldgi_be64(ik + LDG_PUB_BYTES, seq);
        if ((s = ldgi_put(t, LDGI_DB_ACTOR, ik, LDG_PUB_BYTES + 8, "", 0, false, false, err)) ||
            (s = write_key_state(t, &eff, seq, err)))
            goto done;
        if (erased != UINT64_MAX) {
            /* [POL-11] the body (salt and text) goes in the transaction that records why. */
            ldgi_be64(sk, erased);
            if ((s = ldgi_del(t, LDGI_DB_BODIES, sk, 8, err)) != LDG_OK)
                goto done;
        }
        if (out) {
            out[i].seq = seq;
            memcpy(out[i].leaf_hash, leaf, LDG_HASH_BYTES);
        }
        /* The Merkle tree grows in the same transaction as the chain. */
        if ((s = ldgi_tree_add(t, seq, leaf, err)) != LDG_OK)
            goto done;
        memcpy(prev, leaf, LDG_HASH_BYTES);
    }
done:
    free(st);
    free(ik);
    ldgi_buf_free(&eb);
    ldgi_buf_free(&bb);
    return s;
}

static ldg_status
append_with_growth(ldg_ledger *l, ldg_signed *const *s, size_t n, ldg_appended *out,
                   bool allow_genesis, ldg_err *err)
{
    for (;;) {
        ldgi_txn *t;
        ldg_status st = ldgi_txn_begin(l, true, &t, err);
        if (st != LDG_OK)
            return st;
        st = ldgi_append_txn(t, s, n, 0, out, allow_genesis, err);
        bool map_full;
        if (st == LDG_OK) {
            if ((st = ldgi_txn_commit(t, &map_full, err)) == LDG_OK)
                return LDG_OK;
        } else {
            map_full = ldgi_txn_map_full(t);
            ldgi_txn_abort(t);
        }
        /* A full map is not a failure while it can grow: redo the whole transaction. */
        if (!map_full || !ldgi_map_grow(l, err))
            return st;
    }
}

ldg_status
ldg_append(ldg_ledger *l, ldg_signed *const *s, size_t n, ldg_appended *out, ldg_err *err)
{
    if (!l || (!s && n))
        return ldgi_fail(err, LDG_E_USAGE, "append: no ledger or statements");
    if (n == 0)
        return LDG_OK;
    return append_with_growth(l, s, n, out, false, err);
}

ldg_status
ldg_ledger_create(const char *dir, const char *origin, const ldg_key *logkey,
                  const uint8_t admin_pub[LDG_PUB_BYTES], const char *admin_id,
                  const char *admin_name, const char *admin_org, ldg_err *err)
{
    ldg_fields f = {.kind = "genesis",
                    .study = "",
                    .origin = origin,
                    .key_pub = admin_pub,
                    .key_id = admin_id,
                    .key_name = admin_name,
                    .key_org = admin_org,
                    .key_roles = "admin"};
    ldg_signed *g;
    ldg_status s = ldg_sign(logkey, &f, &g, err);
    if (s != LDG_OK)
        return s;
    ldg_ledger *l;
    s = ldgi_ledger_create_env(dir, &l, err);
    if (s == LDG_OK) {
        ldg_appended a;
        s = append_with_growth(l, &g, 1, &a, true, err);
        s = ldgi_ledger_create_finish(l, dir, s, err); /* no ledger without its genesis */
    }
    ldg_signed_free(g);
    return s;
}

ldg_status
ldg_ledger_head(ldg_ledger *l, uint64_t *size, uint8_t head[LDG_HASH_BYTES], ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    s = ldgi_head(t, size, head, NULL, err);
    ldgi_txn_abort(t);
    return s;
}

ldg_status
ldg_ledger_leaf_hash(ldg_ledger *l, uint64_t seq, uint8_t hash[LDG_HASH_BYTES], ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    s = ldgi_leaf_at(t, seq, hash, err);
    ldgi_txn_abort(t);
    if (s == LDG_OK)
        ldgi_leaf_seen_put(l, hash, seq); /* a hint for the ref that will name it */
    return s;
}

/* ------------------------------------------------------------ batches -- */

/* A part added to a batch: the caller's arrays, kept to redo the transaction. */
typedef struct batch_part {
    ldg_signed *const *s;
    size_t n;
    ldg_appended *out;
} batch_part;

struct ldg_batch {
    ldg_ledger *l;
    ldgi_txn *t;
    batch_part *parts;
    size_t nparts, cap, n; /* n: statements in all parts */
};

ldg_status
ldg_batch_begin(ldg_ledger *l, ldg_batch **out, ldg_err *err)
{
    ldg_batch *b = ldgi_calloc(1, sizeof *b);
    if (!b)
        return ldgi_fail(err, LDG_E_NOMEM, "batch: out of memory");
    b->l = l;
    ldg_status s = ldgi_txn_begin(l, true, &b->t, err);
    if (s != LDG_OK) {
        free(b);
        return s;
    }
    *out = b;
    return LDG_OK;
}

/*
 * After the map grew: a new transaction, every earlier part appended again
 * (with its caller's out[] refilled: seqs and leaf hashes may differ from the
 * aborted attempt, whose host time and head are gone).
 */
static ldg_status
batch_redo(ldg_batch *b, ldg_err *err)
{
    ldg_status st = ldgi_txn_begin(b->l, true, &b->t, err);
    size_t base = 0;
    for (size_t i = 0; st == LDG_OK && i < b->nparts; i++) {
        st = ldgi_append_txn(b->t, b->parts[i].s, b->parts[i].n, base, b->parts[i].out, false, err);
        base += b->parts[i].n;
    }
    if (st != LDG_OK && b->t) {
        ldgi_txn_abort(b->t);
        b->t = NULL;
    }
    return st;
}

ldg_status
ldg_batch_add(ldg_batch *b, ldg_signed *const *s, size_t n, ldg_appended *out, ldg_err *err)
{
    if (!b->t)
        return ldgi_fail(err, LDG_E_USAGE, "batch: already failed; abort it");
    if (b->nparts == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        batch_part *p = ldgi_realloc(b->parts, cap * sizeof *p);
        if (!p)
            return ldgi_fail(err, LDG_E_NOMEM, "batch: out of memory");
        b->parts = p;
        b->cap = cap;
    }
    for (;;) {
        ldg_status st = ldgi_append_txn(b->t, s, n, b->n, out, false, err);
        if (st == LDG_OK) {
            b->parts[b->nparts++] = (batch_part){s, n, out};
            b->n += n;
            return LDG_OK;
        }
        bool map_full = ldgi_txn_map_full(b->t);
        ldgi_txn_abort(b->t);
        b->t = NULL;
        if (!map_full || !ldgi_map_grow(b->l, err))
            return st;
        if ((st = batch_redo(b, err)) != LDG_OK)
            return st;
    }
}

ldg_status
ldg_batch_commit(ldg_batch *b, ldg_err *err)
{
    ldg_status s = b->t ? LDG_OK : ldgi_fail(err, LDG_E_USAGE, "batch: already failed; abort it");
    while (s == LDG_OK) {
        bool map_full;
        s = ldgi_txn_commit(b->t, &map_full, err);
        b->t = NULL;
        /* the commit filled the map: grow it and write every part again */
        if (s == LDG_OK || !map_full || !ldgi_map_grow(b->l, err) ||
            (s = batch_redo(b, err)) != LDG_OK)
            break;
    }
    ldg_batch_abort(b);
    return s;
}

void
ldg_batch_abort(ldg_batch *b)
{
    if (!b)
        return;
    ldgi_txn_abort(b->t);
    free(b->parts);
    free(b);
}

/*
 * [MIR-5] One entry a mirror fetched, stored as its own: the same records
 * and indexes an append writes, from the entry's own bytes (its seq, prev
 * and host time must continue the head; its policy is the one engine's,
 * against the registry the mirrored key records built).  Signatures, bodies
 * and the tree are checked afterwards by the verify engine over the same
 * transaction.  LDG_E_CORRUPT or LDG_E_POLICY with why when the entry does
 * not fit; other statuses: could not store.
 */
ldg_status
ldgi_mirror_put(ldgi_txn *t, const uint8_t *entry, size_t len, const uint8_t *body, size_t blen,
                uint64_t keep_below, uint64_t *deferred, char *why, size_t wl, ldg_err *err)
{
    *deferred = UINT64_MAX;
    append_env ae = {.t = t};
    uint64_t size, last_time;
    uint8_t prev[LDG_HASH_BYTES];
    ldg_status s = ldgi_head(t, &size, prev, &last_time, err);
    if (s != LDG_OK)
        return s;
    ldgi_policy_env env = {.ctx = &ae,
                           .key = env_key,
                           .ledger = env_ledger,
                           .ref = env_ref,
                           .observed = env_observed,
                           .allow_genesis = size == 0,
                           .ref_entry = env_ref_entry,
                           .identity = env_identity,
                           .identity_keys = env_identity_keys};
    ldgi_entry e;
    const char *dwhy = NULL;
    if (!ldgi_entry_decode(entry, len, &e, &dwhy)) {
        snprintf(why, wl, "entry does not decode: %s", dwhy ? dwhy : "?");
        return LDG_E_CORRUPT;
    }
    if (e.seq != size) {
        snprintf(why, wl, "entry says seq %llu at position %llu", (unsigned long long)e.seq,
                 (unsigned long long)size);
        return LDG_E_CORRUPT;
    }
    if (sodium_memcmp(e.prev, prev, LDG_HASH_BYTES) != 0) {
        snprintf(why, wl, "prev is not the leaf hash of the entry before (chain broken)");
        return LDG_E_CORRUPT;
    }
    if (size > 0 && e.time_ns < last_time) {
        snprintf(why, wl, "host time goes back from the entry before");
        return LDG_E_CORRUPT;
    }
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    uint8_t *ik = ldgi_malloc(LDG_STUDY_MAX + 64);
    if (!st || !ik) {
        s = ldgi_fail(err, LDG_E_NOMEM, "mirror: out of memory");
        goto done;
    }
    if (!ldgi_stmt_decode(e.stmt, e.stmt_len, st, &dwhy)) {
        snprintf(why, wl, "statement does not decode: %s", dwhy ? dwhy : "?");
        s = LDG_E_CORRUPT;
        goto done;
    }
    ldgi_key_effect eff;
    first_refusal fr = {.status = LDG_OK};
    if ((s = ldgi_policy_apply(&env, st, size, refusal, &fr, &eff, err)) != LDG_OK)
        goto done;
    uint64_t erased = UINT64_MAX;
    if (fr.status == LDG_OK && ldgi_stmt_is_erasure(st)) {
        s = ldgi_erasure_target(t, st, &erased, fr.why, sizeof fr.why, err);
        if (s == LDG_E_POLICY || s == LDG_E_INPUT)
            fr.status = LDG_E_POLICY;
        else if (s != LDG_OK)
            goto done;
    }
    if (fr.status != LDG_OK) {
        snprintf(why, wl, "refused by policy: %s", fr.why);
        s = LDG_E_POLICY;
        goto done;
    }
    if (body) {
        uint8_t c[LDG_HASH_BYTES];
        if (blen < LDG_SALT_BYTES) {
            snprintf(why, wl, "body file is truncated");
            s = LDG_E_CORRUPT;
            goto done;
        }
        ldgi_body_commit(body, body + LDG_SALT_BYTES, blen - LDG_SALT_BYTES, c);
        if (sodium_memcmp(c, st->body, LDG_HASH_BYTES) != 0) {
            snprintf(why, wl, "body file does not match the signed commitment");
            s = LDG_E_CORRUPT;
            goto done;
        }
    }
    uint8_t leaf[LDG_HASH_BYTES], sk[8], lk[LDGI_LEAF_KEY_BYTES], ck[LDGI_COMMIT_KEY_BYTES];
    ldgi_leaf_hash(entry, len, leaf);
    ldgi_be64(sk, size);
    if ((s = ldgi_put(t, LDGI_DB_ENTRIES, sk, 8, entry, len, true, true, err)) != LDG_OK)
        goto done;
    ldgi_commit_key(ck, st->time_ns, st->body);
    s = ldgi_put(t, LDGI_DB_COMMIT, ck, sizeof ck, sk, 8, true, false, err);
    if (s == LDG_E_EXISTS) {
        snprintf(why, wl,
                 "refused by policy: the signed statement is already in the log (a "
                 "replay)");
        s = LDG_E_POLICY;
        goto done;
    }
    if (s != LDG_OK ||
        (body && (s = ldgi_put(t, LDGI_DB_BODIES, sk, 8, body, blen, true, true, err)) != LDG_OK))
        goto done;
    ldgi_leaf_key(lk, leaf, size);
    if ((s = ldgi_put(t, LDGI_DB_LEAF, lk, sizeof lk, sk, 8, true, false, err)) ||
        (s = ldgi_put(t, LDGI_DB_STUDY, ik, text_key(ik, st->study.p, st->study.len, size), "", 0,
                      false, false, err)) ||
        (s = ldgi_put(t, LDGI_DB_KIND, ik, text_key(ik, st->kind.p, st->kind.len, size), "", 0,
                      false, false, err)))
        goto done;
    memcpy(ik, st->actor, LDG_PUB_BYTES);
    ldgi_be64(ik + LDG_PUB_BYTES, size);
    if ((s = ldgi_put(t, LDGI_DB_ACTOR, ik, LDG_PUB_BYTES + 8, "", 0, false, false, err)) ||
        (s = write_key_state(t, &eff, size, err)))
        goto done;
    /* [MIR-9] a body held before this run goes only with the commit that holds the erasure */
    if (erased != UINT64_MAX && erased < keep_below) {
        *deferred = erased;
    } else if (erased != UINT64_MAX) {
        ldgi_be64(sk, erased);
        s = ldgi_del(t, LDGI_DB_BODIES, sk, 8, err);
        if (s == LDG_E_NOTFOUND)
            s = LDG_OK;
        if (s != LDG_OK)
            goto done;
    }
    s = ldgi_tree_add(t, size, leaf, err);
done:
    free(st);
    free(ik);
    return s;
}

/* A delete of a row that may already be gone (a tampered or half-written head). */
static ldg_status
del_opt(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, ldg_err *err)
{
    ldg_status s = ldgi_del(t, db, k, kl, err);
    return s == LDG_E_NOTFOUND ? LDG_OK : s;
}

ldg_status
ldgi_mirror_drop(ldgi_txn *t, uint64_t seq, ldg_err *err)
{
    uint8_t sk[8], leaf[LDG_HASH_BYTES];
    const uint8_t *v;
    size_t vl;
    ldgi_be64(sk, seq);
    ldg_status s = ldgi_get(t, LDGI_DB_ENTRIES, sk, 8, &v, &vl, err);
    if (s != LDG_OK)
        return s;
    /* a copy: the view ends with the first delete */
    uint8_t *entry = ldgi_malloc(vl ? vl : 1);
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    uint8_t *ik = ldgi_malloc(LDG_STUDY_MAX + 64);
    if (!entry || !st || !ik) {
        s = ldgi_fail(err, LDG_E_NOMEM, "mirror: out of memory");
        goto done;
    }
    memcpy(entry, v, vl);
    ldgi_entry e;
    const char *dwhy = NULL;
    if (!ldgi_entry_decode(entry, vl, &e, &dwhy) ||
        !ldgi_stmt_decode(e.stmt, e.stmt_len, st, &dwhy)) {
        s = ldgi_fail(err, LDG_E_CORRUPT,
                      "entry %llu, past the checkpoint the mirror holds, does not decode (%s): "
                      "the state is damaged",
                      (unsigned long long)seq, dwhy ? dwhy : "?");
        goto done;
    }
    ldgi_leaf_hash(entry, vl, leaf);
    /*
     * Its rows are found from its bytes: bytes changed since it was stored
     * would leave the rows of the ones stored behind, so they must still be
     * the ones the leaf and commitment indexes and the tree name.
     */
    const uint8_t *lv, *cv;
    size_t lvl, cvl;
    uint8_t node[LDG_HASH_BYTES], lk[LDGI_LEAF_KEY_BYTES], ck[LDGI_COMMIT_KEY_BYTES];
    ldgi_leaf_key(lk, leaf, seq);
    ldgi_commit_key(ck, st->time_ns, st->body);
    if ((s = ldgi_get(t, LDGI_DB_LEAF, lk, sizeof lk, &lv, &lvl, err)) == LDG_OK &&
        (s = ldgi_get(t, LDGI_DB_COMMIT, ck, sizeof ck, &cv, &cvl, err)) == LDG_OK &&
        (lvl != 8 || ldgi_rd64(lv) != seq || cvl != 8 || ldgi_rd64(cv) != seq ||
         !ldgi_tree_node(t, 0, seq, node) || sodium_memcmp(node, leaf, LDG_HASH_BYTES) != 0))
        s = LDG_E_NOTFOUND;
    if (s == LDG_E_NOTFOUND) {
        s = ldgi_fail(err, LDG_E_CORRUPT,
                      "entry %llu, past the checkpoint the mirror holds, is not the one stored "
                      "(its indexes name other bytes): the state was altered",
                      (unsigned long long)seq);
        goto done;
    }
    if (s == LDG_OK)
        s = ldgi_del(t, LDGI_DB_COMMIT, ck, sizeof ck, err);
    if (s == LDG_OK)
        s = ldgi_del(t, LDGI_DB_LEAF, lk, sizeof lk, err);
    if (s == LDG_OK)
        s = del_opt(t, LDGI_DB_STUDY, ik, text_key(ik, st->study.p, st->study.len, seq), err);
    if (s == LDG_OK)
        s = del_opt(t, LDGI_DB_KIND, ik, text_key(ik, st->kind.p, st->kind.len, seq), err);
    if (s == LDG_OK) {
        memcpy(ik, st->actor, LDG_PUB_BYTES);
        ldgi_be64(ik + LDG_PUB_BYTES, seq);
        s = del_opt(t, LDGI_DB_ACTOR, ik, LDG_PUB_BYTES + 8, err);
    }
    if (s == LDG_OK)
        s = del_opt(t, LDGI_DB_BODIES, sk, 8, err);
    if (s == LDG_OK)
        s = ldgi_tree_drop(t, seq, err);
    if (s == LDG_OK) {
        /* the transaction's found leaf hashes may name it: they go with it (ldgi_leaf_find) */
        free(*ldgi_txn_hints(t));
        *ldgi_txn_hints(t) = NULL;
        s = ldgi_del(t, LDGI_DB_ENTRIES, sk, 8, err);
    }
done:
    free(entry);
    free(st);
    free(ik);
    return s;
}

ldg_status
ldgi_mirror_drop_keys(ldgi_txn *t, uint64_t from, ldg_err *err)
{
    /* the registry is small (one row per key record): the rows to change, then the changes */
    typedef struct {
        uint8_t pub[LDG_PUB_BYTES];
        ldgi_keystate ks;
    } change;
    change *ch = NULL;
    size_t n = 0, cap = 0;
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_KEYS, &c, err);
    if (s != LDG_OK)
        return s;
    const uint8_t *k, *v;
    size_t kl, vl;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        ldgi_keystate ks;
        if (kl != LDG_PUB_BYTES || !ldgi_keystate_unpack(v, vl, &ks)) {
            s = ldgi_fail(err, LDG_E_CORRUPT, "key registry is corrupt");
            break;
        }
        if (ks.added_seq < from && (ks.revoked_seq == UINT64_MAX || ks.revoked_seq < from))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            change *nc = ldgi_realloc(ch, cap * sizeof *ch);
            if (!nc) {
                s = ldgi_fail(err, LDG_E_NOMEM, "mirror: out of memory");
                break;
            }
            ch = nc;
        }
        memcpy(ch[n].pub, k, LDG_PUB_BYTES);
        ch[n++].ks = ks;
    }
    ldgi_cur_close(c);
    if (s == LDG_E_NOTFOUND)
        s = LDG_OK;
    for (size_t i = 0; s == LDG_OK && i < n; i++) {
        if (ch[i].ks.added_seq >= from) {
            s = ldgi_del(t, LDGI_DB_KEYS, ch[i].pub, LDG_PUB_BYTES, err);
        } else {
            uint8_t buf[LDGI_KEYSTATE_BYTES];
            ch[i].ks.revoked_seq = UINT64_MAX;
            ldgi_keystate_pack(&ch[i].ks, buf);
            s = ldgi_put(t, LDGI_DB_KEYS, ch[i].pub, LDG_PUB_BYTES, buf, sizeof buf, false, false,
                         err);
        }
    }
    free(ch);
    return s;
}
