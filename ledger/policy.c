/*
 * policy.c - the rules of spec/format.md "Policy" [POL-1..POL-10] and
 * [KEY-4]: first those that need only the statement and its signer's roles,
 * then the one policy engine (ldgi_policy_apply) that append, verify and
 * verify-bundle all call with their own view of the ledger's state, and the
 * key registry a verifier rebuilds from the key records [VER-6].
 */
#include "internal.h"

#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [POL-1] user kinds and the role each needs. */
static const struct {
    const char *name;
    unsigned roles;
} user_kinds[] = {
    {"communication", LDGI_ROLE_AUTHOR},
    {"meeting", LDGI_ROLE_AUTHOR},
    {"query", LDGI_ROLE_AUTHOR},
    {"response", LDGI_ROLE_AUTHOR},
    {"decision", LDGI_ROLE_DECIDER},
    {"plan", LDGI_ROLE_DECIDER}, /* [PLAN-1] */
    {"approval", LDGI_ROLE_APPROVER},
    {"rejection", LDGI_ROLE_APPROVER},
    {"escalation", LDGI_ROLE_AUTHOR},
    {"deviation", LDGI_ROLE_AUTHOR},
    {"action", LDGI_ROLE_AUTHOR},
    {"document", LDGI_ROLE_AUTHOR},
    {"correction", LDGI_ROLE_AUTHOR | LDGI_ROLE_DECIDER | LDGI_ROLE_APPROVER},
    {"erasure", LDGI_ROLE_ERASER}, /* [POL-11] */
};

static bool
eq(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static unsigned
user_kind_roles(const char *k, size_t len)
{
    for (size_t i = 0; i < sizeof user_kinds / sizeof user_kinds[0]; i++)
        if (eq(k, len, user_kinds[i].name))
            return user_kinds[i].roles;
    return 0;
}

ldgi_kindclass
ldgi_kind_class(const char *k, size_t len)
{
    if (user_kind_roles(k, len))
        return LDGI_KIND_USER;
    if (eq(k, len, "genesis"))
        return LDGI_KIND_GENESIS;
    if (eq(k, len, "key.add"))
        return LDGI_KIND_KEY_ADD;
    if (eq(k, len, "key.revoke"))
        return LDGI_KIND_KEY_REVOKE;
    return LDGI_KIND_UNKNOWN;
}

bool
ldgi_meaning_valid(const char *m, size_t len)
{
    return eq(m, len, "review") || eq(m, len, "approval") || eq(m, len, "responsibility") ||
           eq(m, len, "authorship");
}

unsigned
ldgi_role_bit(const char *r, size_t len)
{
    if (eq(r, len, "admin"))
        return LDGI_ROLE_ADMIN;
    if (eq(r, len, "author"))
        return LDGI_ROLE_AUTHOR;
    if (eq(r, len, "decider"))
        return LDGI_ROLE_DECIDER;
    if (eq(r, len, "approver"))
        return LDGI_ROLE_APPROVER;
    if (eq(r, len, "eraser"))
        return LDGI_ROLE_ERASER;
    if (eq(r, len, "qa"))
        return LDGI_ROLE_QA;
    return 0;
}

static bool
has_control(ldgi_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static int
str_cmp(ldgi_str a, ldgi_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.p, b.p, n);
    return c ? c : (a.len < b.len ? -1 : a.len > b.len);
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), false)
#define BAD(...) (snprintf(why, whylen, __VA_ARGS__), LDG_E_INPUT)
#define REFUSE(...) (snprintf(why, whylen, __VA_ARGS__), LDG_E_POLICY)

static bool
key_shape_ok(const ldgi_stmt *s, char *why, size_t whylen)
{
    char id[LDG_NAME_MAX + 1];
    if (s->key_id.len == 0 || s->key_id.len > LDG_NAME_MAX || memchr(s->key_id.p, 0, s->key_id.len))
        return WHY("key id must be 1..%u bytes", LDG_NAME_MAX);
    memcpy(id, s->key_id.p, s->key_id.len);
    id[s->key_id.len] = '\0';
    if (!ldgi_key_name_valid(id))
        return WHY("key id \"%s\" is not a valid key name", id);
    if (s->key_name.len == 0 || s->key_name.len > LDG_TEXT_MAX || has_control(s->key_name))
        return WHY("printed name must be 1..%u bytes without control characters", LDG_TEXT_MAX);
    if (s->key_org.len == 0 || s->key_org.len > LDG_TEXT_MAX || has_control(s->key_org))
        return WHY("organisation must be 1..%u bytes without control characters", LDG_TEXT_MAX);
    if (s->nroles == 0)
        return WHY("a key needs at least one role");
    for (size_t i = 0; i < s->nroles; i++) {
        if (!ldgi_role_bit(s->roles[i].p, s->roles[i].len))
            return WHY("unknown role \"%.*s\" (admin, author, decider, approver, eraser, qa)",
                       (int)s->roles[i].len, s->roles[i].p);
        if (i && str_cmp(s->roles[i - 1], s->roles[i]) >= 0)
            return WHY("roles must be sorted and unique");
    }
    return true;
}

bool
ldgi_stmt_is_erasure(const ldgi_stmt *s)
{
    return eq(s->kind.p, s->kind.len, "erasure");
}

bool
ldgi_pub_valid(const uint8_t pub[LDG_PUB_BYTES])
{
    /*
     * A small-order key (the identity, or a point of order 2, 4 or 8) makes
     * signatures that say nothing about who made them; a point off the curve
     * or outside the subgroup is no key at all.
     */
    return crypto_core_ed25519_is_valid_point(pub) == 1;
}

unsigned
ldgi_stmt_roles(const ldgi_stmt *s)
{
    unsigned bits = 0;
    for (size_t i = 0; i < s->nroles; i++)
        bits |= ldgi_role_bit(s->roles[i].p, s->roles[i].len);
    return bits;
}

ldg_status
ldgi_stmt_shape_ok(const ldgi_stmt *s, char *why, size_t whylen)
{
    ldgi_kindclass kc = ldgi_kind_class(s->kind.p, s->kind.len);
    if (kc == LDGI_KIND_UNKNOWN)
        return BAD("unknown kind \"%.*s\"", (int)(s->kind.len > 40 ? 40 : s->kind.len), s->kind.p);
    if (s->has_meaning && !ldgi_meaning_valid(s->meaning.p, s->meaning.len))
        return BAD("meaning \"%.*s\" is not one of review, approval, responsibility, authorship",
                   (int)(s->meaning.len > 40 ? 40 : s->meaning.len), s->meaning.p);
    if (s->time_ns < 0)
        return BAD("the claimed time is before 1970");
    if (s->has_reason && (s->reason.len == 0 || s->reason.len > LDG_TEXT_MAX))
        return BAD("reason must be 1..%u bytes", LDG_TEXT_MAX);
    for (size_t i = 0; s->has_reason && i < s->reason.len; i++) {
        unsigned char c = (unsigned char)s->reason.p[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return BAD("the reason holds a control character (only line breaks are allowed)");
    }
    for (size_t i = 0; i < s->nrefs; i++)
        for (size_t j = 0; j < i; j++)
            if (memcmp(s->refs[i], s->refs[j], LDG_HASH_BYTES) == 0)
                return BAD("ref %zu repeats ref %zu", i + 1, j + 1);
    /* [POL-10] origin: the ledger a statement is meant for (genesis: the one it founds). */
    if (s->has_origin &&
        (s->origin.len == 0 || s->origin.len > LDG_TEXT_MAX || has_control(s->origin)))
        return BAD("origin must be 1..%u bytes without control characters", LDG_TEXT_MAX);
    if (kc == LDGI_KIND_USER) {
        if (s->study.len == 0 || s->study.len > LDG_STUDY_MAX || has_control(s->study))
            return BAD("study must be 1..%u bytes without control characters", LDG_STUDY_MAX);
        if (s->has_key)
            return BAD("a %.*s record carries no key", (int)s->kind.len, s->kind.p);
        if ((eq(s->kind.p, s->kind.len, "approval") || eq(s->kind.p, s->kind.len, "rejection")) &&
            !s->has_meaning)
            return REFUSE("%s %.*s needs a meaning (21 CFR 11.50): review, approval, "
                          "responsibility or authorship",
                          s->kind.p[0] == 'a' ? "an" : "a", (int)s->kind.len, s->kind.p);
        if (eq(s->kind.p, s->kind.len, "correction") && (s->nrefs == 0 || !s->has_reason))
            return REFUSE("a correction needs a ref to the record it corrects and a reason");
        /* [POL-11] one erasure, one record; its legal basis is in the body (append checks). */
        if (ldgi_stmt_is_erasure(s) && (s->nrefs != 1 || !s->has_reason))
            return REFUSE("an erasure needs exactly one ref (the record whose body it erases) "
                          "and a reason");
        return LDG_OK;
    }
    /* System kinds [POL-3]: no study, no refs. */
    if (s->study.len != 0)
        return BAD("a %.*s record must have an empty study", (int)s->kind.len, s->kind.p);
    if (s->nrefs != 0 || (s->has_observed && kc == LDGI_KIND_GENESIS))
        return BAD("a %.*s record has no refs or observed head", (int)s->kind.len, s->kind.p);
    if (!s->has_key)
        return BAD("a %.*s record needs a key", (int)s->kind.len, s->kind.p);
    switch (kc) {
    case LDGI_KIND_GENESIS:
        if (!s->has_origin)
            return BAD("genesis needs an origin of 1..%u bytes", LDG_TEXT_MAX);
        if (!s->key_full)
            return BAD("genesis needs the full first admin key");
        if (!key_shape_ok(s, why, whylen))
            return LDG_E_INPUT;
        if (!(ldgi_stmt_roles(s) & LDGI_ROLE_ADMIN))
            return BAD("the genesis key must hold the admin role");
        return LDG_OK;
    case LDGI_KIND_KEY_ADD:
        if (!s->key_full)
            return BAD("key.add needs id, name, org, pub and roles");
        return key_shape_ok(s, why, whylen) ? LDG_OK : LDG_E_INPUT;
    case LDGI_KIND_KEY_REVOKE:
        if (s->key_full)
            return BAD("key.revoke carries only the key's pub");
        if (!s->has_reason)
            return REFUSE("key.revoke needs a reason");
        return LDG_OK;
    default: return BAD("unknown kind");
    }
}

bool
ldgi_stmt_role_ok(const ldgi_stmt *s, unsigned roles, char *why, size_t whylen)
{
    ldgi_kindclass kc = ldgi_kind_class(s->kind.p, s->kind.len);
    unsigned need = 0;
    if (kc == LDGI_KIND_USER)
        need = user_kind_roles(s->kind.p, s->kind.len);
    else if (kc == LDGI_KIND_KEY_ADD || kc == LDGI_KIND_KEY_REVOKE)
        need = LDGI_ROLE_ADMIN;
    else
        return WHY("%.*s cannot be appended", (int)s->kind.len, s->kind.p);
    if (roles & need)
        return true;
    const char *role = need == LDGI_ROLE_ADMIN      ? "admin"
                       : need == LDGI_ROLE_DECIDER  ? "decider"
                       : need == LDGI_ROLE_APPROVER ? "approver"
                       : need == LDGI_ROLE_AUTHOR   ? "author"
                       : need == LDGI_ROLE_ERASER   ? "eraser"
                                                    : "author, decider or approver";
    return WHY("kind %.*s needs the %s role", (int)s->kind.len, s->kind.p, role);
}

/* ------------------------------------------------------ the registry -- */

ldgi_regslot *
ldgi_registry_find(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES], bool insert)
{
    if (insert && (r->n + 1) * 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        ldgi_regslot *ns = ldgi_calloc(cap, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->slot[i].used)
                continue;
            size_t h;
            memcpy(&h, r->slot[i].pub, sizeof h);
            for (h %= cap; ns[h].used; h = (h + 1) % cap)
                ;
            ns[h] = r->slot[i];
        }
        free(r->slot);
        r->slot = ns;
        r->cap = cap;
    }
    if (!r->cap)
        return NULL;
    size_t h;
    memcpy(&h, pub, sizeof h);
    for (h %= r->cap; r->slot[h].used; h = (h + 1) % r->cap)
        if (memcmp(r->slot[h].pub, pub, LDG_PUB_BYTES) == 0)
            return &r->slot[h];
    if (!insert)
        return NULL;
    r->slot[h].used = true;
    memcpy(r->slot[h].pub, pub, LDG_PUB_BYTES);
    r->n++;
    return &r->slot[h];
}

ldg_status
ldgi_registry_get(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES], ldgi_keystate *ks)
{
    ldgi_regslot *k = ldgi_registry_find(r, pub, false);
    if (!k)
        return LDG_E_NOTFOUND;
    *ks = k->ks;
    return LDG_OK;
}

void
ldgi_registry_free(ldgi_registry *r)
{
    if (!r)
        return;
    free(r->slot);
    memset(r, 0, sizeof *r);
}

ldg_status
ldgi_registry_apply(ldgi_registry *r, const ldgi_key_effect *e, uint64_t seq, ldg_err *err)
{
    if (e->op == LDGI_KEY_NONE)
        return LDG_OK;
    ldgi_regslot *k = ldgi_registry_find(r, e->pub, e->op == LDGI_KEY_ADD);
    if (!k)
        return e->op == LDGI_KEY_ADD ? ldgi_fail(err, LDG_E_NOMEM, "key registry: out of memory")
                                     : LDG_OK;
    if (e->op == LDGI_KEY_ADD) {
        k->ks.added_seq = seq;
        k->ks.revoked_seq = UINT64_MAX;
        k->ks.roles = e->roles;
    } else {
        k->ks.revoked_seq = seq;
    }
    return LDG_OK;
}

/* --------------------------------------------------- the policy engine -- */

const ldgi_check_info ldgi_checks[LDGI_CHECK_COUNT] = {
    [LDGI_CHECK_SHAPE] = {"policy", "POL-1 POL-3 POL-5 POL-6 POL-7 POL-10",
                          "the statement's shape: kind, study, meaning, reason, refs, key map"},
    [LDGI_CHECK_GENESIS] = {"genesis", "POL-4 FMT-9", "a genesis at entry 0 and nowhere else"},
    [LDGI_CHECK_ORIGIN] = {"policy", "POL-10", "signed for this ledger"},
    [LDGI_CHECK_SIGNER] = {"key", "POL-4", "signed by a key registered and not revoked before"},
    [LDGI_CHECK_ROLE] = {"policy", "POL-4 POL-2", "the signer holds a role the kind needs"},
    [LDGI_CHECK_REF] = {"ref", "POL-7", "every ref names an earlier entry"},
    [LDGI_CHECK_OBSERVED] = {"observed", "POL-8", "the observed head is this chain's"},
    [LDGI_CHECK_KEY_RECORD] = {"key", "KEY-4",
                               "a key.add adds a new key that is not the log key; a key.revoke "
                               "revokes an active one"},
};

/* Reports one failed check; false when the caller wants no more. */
static bool failed(ldgi_policy_fail_fn fail, void *fctx, ldgi_check c, ldg_status st,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static bool
failed(ldgi_policy_fail_fn fail, void *fctx, ldgi_check c, ldg_status st, const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return fail(fctx, c, st, why);
}

static void
short_hex(const uint8_t *p, char out[17])
{
    sodium_bin2hex(out, 17, p, 8);
}

/* A key's record as of entry seq: registered by an earlier entry, and revoked when? */
static ldg_status
key_at(const ldgi_policy_env *env, const uint8_t pub[LDG_PUB_BYTES], uint64_t seq, bool *known,
       ldgi_keystate *ks, ldg_err *err)
{
    ldg_status s = env->key(env->ctx, pub, ks, err);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    /* A verifier's registry may hold keys added later (verify-bundle replays them all first). */
    *known = s == LDG_OK && ks->added_seq < seq;
    return LDG_OK;
}

ldg_status
ldgi_policy_apply(const ldgi_policy_env *env, const ldgi_stmt *st, uint64_t seq,
                  ldgi_policy_fail_fn fail, void *fctx, ldgi_key_effect *effect, ldg_err *err)
{
    char why[300], hx[17];
    ldg_status s;
    effect->op = LDGI_KEY_NONE;

    /* [POL-1][POL-3][POL-5][POL-6][POL-7][POL-10]: the statement alone */
    if ((s = ldgi_stmt_shape_ok(st, why, sizeof why)) != LDG_OK) {
        fail(fctx, LDGI_CHECK_SHAPE, s, why);
        return LDG_OK;
    }
    ldgi_kindclass kc = ldgi_kind_class(st->kind.p, st->kind.len);

    /* [POL-4][FMT-9]: entry 0 is the genesis, signed by the log key it pins */
    if (kc == LDGI_KIND_GENESIS) {
        if (seq != 0 || !env->allow_genesis) {
            failed(fail, fctx, LDGI_CHECK_GENESIS, LDG_E_POLICY, "%s",
                   seq != 0 ? "a genesis record after entry 0"
                            : "a genesis record can only be entry 0, written by ldg init");
            return LDG_OK;
        }
        if (memcmp(st->actor, st->key_pub, LDG_PUB_BYTES) == 0 &&
            !failed(fail, fctx, LDGI_CHECK_GENESIS, LDG_E_INPUT,
                    "the first admin key is the log key (they must differ)"))
            return LDG_OK;
        /* [KEY-4] a key must be a usable Ed25519 key */
        if (!ldgi_pub_valid(st->key_pub) &&
            !failed(fail, fctx, LDGI_CHECK_KEY_RECORD, LDG_E_INPUT, "%s",
                    "the first admin key is not a valid Ed25519 public key (small order, or not "
                    "a point of the curve's prime-order subgroup)"))
            return LDG_OK;
        effect->op = LDGI_KEY_ADD;
        memcpy(effect->pub, st->key_pub, LDG_PUB_BYTES);
        effect->roles = (uint8_t)ldgi_stmt_roles(st);
        return LDG_OK;
    }
    if (seq == 0) {
        fail(fctx, LDGI_CHECK_GENESIS, LDG_E_POLICY, "entry 0 is not a genesis record");
        return LDG_OK;
    }

    const uint8_t *logkey = NULL;
    const char *origin = NULL;
    size_t origin_len = 0;
    bool need_ledger = st->has_origin || kc == LDGI_KIND_KEY_ADD;
    if (need_ledger && (s = env->ledger(env->ctx, &logkey, &origin, &origin_len, err)) != LDG_OK)
        return s;

    /* [POL-10] bound to this ledger */
    if (st->has_origin && origin &&
        (st->origin.len != origin_len || memcmp(st->origin.p, origin, origin_len) != 0) &&
        !failed(fail, fctx, LDGI_CHECK_ORIGIN, LDG_E_POLICY,
                "the statement was signed for ledger \"%.*s\", not this one (\"%.*s\")",
                (int)(st->origin.len > 80 ? 80 : st->origin.len), st->origin.p,
                (int)(origin_len > 80 ? 80 : origin_len), origin))
        return LDG_OK;

    /* [POL-4] the signer: registered before, not revoked before, with a role the kind needs */
    ldgi_keystate ks;
    bool known;
    if ((s = key_at(env, st->actor, seq, &known, &ks, err)) != LDG_OK)
        return s;
    short_hex(st->actor, hx);
    if (!known) {
        failed(fail, fctx, LDGI_CHECK_SIGNER, LDG_E_POLICY,
               "signed by key %s..., which is not registered at this point", hx);
        return LDG_OK;
    }
    if (ks.revoked_seq != UINT64_MAX && ks.revoked_seq < seq) {
        failed(fail, fctx, LDGI_CHECK_SIGNER, LDG_E_POLICY,
               "signed by key %s..., revoked at entry %llu", hx,
               (unsigned long long)ks.revoked_seq);
        return LDG_OK;
    }
    if (!ldgi_stmt_role_ok(st, ks.roles, why, sizeof why)) {
        fail(fctx, LDGI_CHECK_ROLE, LDG_E_POLICY, why);
        return LDG_OK;
    }

    /* [POL-7] refs name earlier entries */
    for (size_t r = 0; r < st->nrefs; r++) {
        ldgi_link lk;
        if ((s = env->ref(env->ctx, st->refs[r], seq, r + 1, &lk, err)) != LDG_OK)
            return s;
        short_hex(st->refs[r], hx);
        if (lk == LDGI_LINK_BAD &&
            !failed(fail, fctx, LDGI_CHECK_REF, LDG_E_POLICY,
                    "ref %zu (%s...) names no entry before this one", r + 1, hx))
            return LDG_OK;
    }

    /* [POL-8] the observed head is this chain's */
    if (st->has_observed) {
        static const uint8_t zero[LDG_HASH_BYTES];
        ldgi_link lk;
        if (st->observed_size > seq)
            lk = LDGI_LINK_BAD;
        else if (st->observed_size == 0)
            lk =
                memcmp(st->observed_head, zero, LDG_HASH_BYTES) == 0 ? LDGI_LINK_OK : LDGI_LINK_BAD;
        else if ((s = env->observed(env->ctx, st->observed_size, st->observed_head, seq, &lk,
                                    err)) != LDG_OK)
            return s;
        if (lk == LDGI_LINK_BAD &&
            !failed(fail, fctx, LDGI_CHECK_OBSERVED, LDG_E_POLICY,
                    "the signer observed a chain head (size %llu) that this chain does not have",
                    (unsigned long long)st->observed_size))
            return LDG_OK;
    }

    /* [KEY-4] what a key record may do */
    if (kc != LDGI_KIND_KEY_ADD && kc != LDGI_KIND_KEY_REVOKE)
        return LDG_OK;
    ldgi_keystate sub;
    if ((s = key_at(env, st->key_pub, seq, &known, &sub, err)) != LDG_OK)
        return s;
    short_hex(st->key_pub, hx);
    if (kc == LDGI_KIND_KEY_ADD) {
        if (!ldgi_pub_valid(st->key_pub)) {
            failed(fail, fctx, LDGI_CHECK_KEY_RECORD, LDG_E_POLICY,
                   "key %s... is not a valid Ed25519 public key (small order, or not a point of "
                   "the curve's prime-order subgroup)",
                   hx);
            return LDG_OK;
        }
        if (logkey && memcmp(logkey, st->key_pub, LDG_PUB_BYTES) == 0) {
            fail(fctx, LDGI_CHECK_KEY_RECORD, LDG_E_POLICY,
                 "key.add of the ledger's log key: it signs the genesis and checkpoints, nothing "
                 "else");
            return LDG_OK;
        }
        if (known) {
            failed(fail, fctx, LDGI_CHECK_KEY_RECORD, LDG_E_POLICY,
                   "key %s... is already registered (a revoked key stays revoked)", hx);
            return LDG_OK;
        }
        effect->op = LDGI_KEY_ADD;
        effect->roles = (uint8_t)ldgi_stmt_roles(st);
    } else {
        if (!known || (sub.revoked_seq != UINT64_MAX && sub.revoked_seq < seq)) {
            failed(fail, fctx, LDGI_CHECK_KEY_RECORD, LDG_E_POLICY, "key.revoke of key %s..., %s",
                   hx, known ? "already revoked" : "which is not registered");
            return LDG_OK;
        }
        effect->op = LDGI_KEY_REVOKE;
    }
    memcpy(effect->pub, st->key_pub, LDG_PUB_BYTES);
    return LDG_OK;
}
