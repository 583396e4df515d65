/*
 * policy.c - the rules of spec/format.md "Policy" [POL-1..POL-16] and
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
#define KIND(s) s, sizeof s - 1
static const struct {
    const char *name;
    size_t len; /* compared first: verify asks this of every entry */
    unsigned roles;
} user_kinds[] = {
    {KIND("communication"), LDGI_ROLE_AUTHOR},
    {KIND("meeting"), LDGI_ROLE_AUTHOR},
    {KIND("query"), LDGI_ROLE_AUTHOR},
    {KIND("response"), LDGI_ROLE_AUTHOR},
    {KIND("decision"), LDGI_ROLE_DECIDER},
    {KIND("plan"), LDGI_ROLE_DECIDER}, /* [PLAN-1] */
    {KIND("approval"), LDGI_ROLE_APPROVER},
    {KIND("rejection"), LDGI_ROLE_APPROVER},
    {KIND("escalation"), LDGI_ROLE_AUTHOR},
    {KIND("deviation"), LDGI_ROLE_AUTHOR},
    {KIND("action"), LDGI_ROLE_AUTHOR},
    {KIND("document"), LDGI_ROLE_AUTHOR},
    {KIND("correction"), LDGI_ROLE_AUTHOR | LDGI_ROLE_DECIDER | LDGI_ROLE_APPROVER},
    {KIND("erasure"), LDGI_ROLE_ERASER}, /* [POL-11] */
};
#undef KIND

static bool
eq(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static unsigned
user_kind_roles(const char *k, size_t len)
{
    for (size_t i = 0; i < sizeof user_kinds / sizeof user_kinds[0]; i++)
        if (len == user_kinds[i].len && memcmp(k, user_kinds[i].name, len) == 0)
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

/* Content roles: what an admin key may not hold [POL-14]. */
#define CONTENT_ROLES (LDGI_ROLE_AUTHOR | LDGI_ROLE_DECIDER | LDGI_ROLE_APPROVER | LDGI_ROLE_ERASER)

static bool
is_judgement(const ldgi_stmt *s)
{
    return eq(s->kind.p, s->kind.len, "approval") || eq(s->kind.p, s->kind.len, "rejection");
}

ldg_status
ldgi_stmt_duties_ok(const ldgi_stmt *s, char *why, size_t whylen)
{
    ldgi_kindclass kc = ldgi_kind_class(s->kind.p, s->kind.len);
    /* [POL-12] an approval or rejection says what it approves or rejects */
    if (kc == LDGI_KIND_USER && is_judgement(s) && s->nrefs == 0)
        return REFUSE("%s %.*s needs at least one ref: the record it %s",
                      s->kind.p[0] == 'a' ? "an" : "a", (int)s->kind.len, s->kind.p,
                      s->kind.p[0] == 'a' ? "approves" : "rejects");
    /* [POL-14] who keeps the key registry writes no content and attests no verification */
    if ((kc == LDGI_KIND_GENESIS || kc == LDGI_KIND_KEY_ADD) && s->key_full) {
        unsigned r = ldgi_stmt_roles(s);
        if ((r & LDGI_ROLE_ADMIN) && (r & ~LDGI_ROLE_ADMIN))
            return REFUSE("an admin key holds no other role (%s): register a separate key for "
                          "%s",
                          r & CONTENT_ROLES ? "segregation of duties" : "qa attests what admins do",
                          r & CONTENT_ROLES ? "records" : "qa");
    }
    return LDG_OK;
}

/*
 * Unicode code points that say nothing about a name [POL-13]: dropped.  The
 * whole Default_Ignorable_Code_Point property (Unicode 15), so no invisible
 * mark (a left-to-right mark, a bidi override, a variation selector, a tag)
 * makes a second identity of a name that prints the same.
 */
static bool
ignorable(uint32_t c)
{
    return c == 0x00ad || c == 0x034f || c == 0x061c || (c >= 0x115f && c <= 0x1160) ||
           (c >= 0x17b4 && c <= 0x17b5) || (c >= 0x180b && c <= 0x180f) ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
           (c >= 0x2060 && c <= 0x206f) || c == 0x3164 || (c >= 0xfe00 && c <= 0xfe0f) ||
           c == 0xfeff || c == 0xffa0 || (c >= 0xfff0 && c <= 0xfff8) ||
           (c >= 0x1bca0 && c <= 0x1bca3) || (c >= 0x1d173 && c <= 0x1d17a) ||
           (c >= 0xe0000 && c <= 0xe0fff);
}

/* The length of the ignorable code point at p [POL-13], or 0. */
static size_t
invisible(const unsigned char *p, size_t n)
{
    size_t k;
    uint32_t c;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        k = 2, c = p[0] & 0x1fu;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        k = 3, c = p[0] & 0x0fu;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        k = 4, c = p[0] & 0x07u;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3fu);
    }
    return ignorable(c) ? k : 0;
}

/* Unicode White_Space [POL-13]: the length of the one at p, or 0. */
static size_t
white(const unsigned char *p, size_t n)
{
    if (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0d))
        return 1;
    if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return 2;
    if (n < 3)
        return 0;
    if ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||
        (p[0] == 0xe2 && p[1] == 0x80 &&
         (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)) ||
        (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) ||
        (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80))
        return 3;
    return 0;
}

size_t
ldgi_identity_norm(ldgi_str s, char *out)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0, o = 0, k;
    bool space = false;
    while (i < s.len) {
        if ((k = invisible(p + i, s.len - i)) != 0) {
            i += k;
        } else if ((k = white(p + i, s.len - i)) != 0) {
            i += k;
            space = o > 0;
        } else {
            if (space)
                out[o++] = ' ';
            space = false;
            unsigned char c = p[i++];
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        }
    }
    return o;
}

void
ldgi_identity(ldgi_str name, ldgi_str org, uint8_t out[LDG_HASH_BYTES])
{
    /* a shape-checked name and organisation are at most LDG_TEXT_MAX bytes each */
    char buf[2 * LDG_TEXT_MAX + 1];
    name.len = name.len > LDG_TEXT_MAX ? LDG_TEXT_MAX : name.len;
    org.len = org.len > LDG_TEXT_MAX ? LDG_TEXT_MAX : org.len;
    size_t n = ldgi_identity_norm(name, buf);
    buf[n++] = '\0';
    n += ldgi_identity_norm(org, buf + n);
    ldgi_sha256(buf, n, out);
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
            return BAD("%s %.*s record carries no key",
                       memchr("aeiou", s->kind.p[0], 5) ? "an" : "a", (int)s->kind.len, s->kind.p);
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
    /* System kinds [POL-3]: no study; no refs but a key.add's one [POL-15]. */
    if (s->study.len != 0)
        return BAD("a %.*s record must have an empty study", (int)s->kind.len, s->kind.p);
    if (kc == LDGI_KIND_KEY_ADD && s->nrefs > 1)
        return BAD("a key.add record has at most one ref: the key record it supersedes or "
                   "reinstates from");
    if ((s->nrefs != 0 && kc != LDGI_KIND_KEY_ADD) || (s->has_observed && kc == LDGI_KIND_GENESIS))
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

/* The slot of a 32-byte key in one open-addressing table; with insert, a new one if absent. */
static ldgi_regslot *
table_find(ldgi_regslot **slot, size_t *cap_, size_t *n, const uint8_t key[LDG_PUB_BYTES],
           bool insert)
{
    size_t cap0 = *cap_;
    if (insert && (*n + 1) * 2 > cap0) {
        size_t cap = cap0 ? cap0 * 2 : 64;
        ldgi_regslot *ns = ldgi_calloc(cap, sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = 0; i < cap0; i++) {
            if (!(*slot)[i].used)
                continue;
            size_t h;
            memcpy(&h, (*slot)[i].pub, sizeof h);
            for (h %= cap; ns[h].used; h = (h + 1) % cap)
                ;
            ns[h] = (*slot)[i];
        }
        free(*slot);
        *slot = ns;
        *cap_ = cap;
    }
    size_t cap = *cap_;
    if (!cap)
        return NULL;
    ldgi_regslot *t = *slot;
    size_t h;
    memcpy(&h, key, sizeof h);
    for (h %= cap; t[h].used; h = (h + 1) % cap)
        if (memcmp(t[h].pub, key, LDG_PUB_BYTES) == 0)
            return &t[h];
    if (!insert)
        return NULL;
    memset(&t[h], 0, sizeof t[h]);
    t[h].used = true;
    memcpy(t[h].pub, key, LDG_PUB_BYTES);
    (*n)++;
    return &t[h];
}

ldgi_regslot *
ldgi_registry_find(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES], bool insert)
{
    return table_find(&r->slot, &r->cap, &r->n, pub, insert);
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

ldg_status
ldgi_registry_identity(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES],
                       uint8_t id[LDG_HASH_BYTES])
{
    ldgi_regslot *k = ldgi_registry_find(r, pub, false);
    if (!k)
        return LDG_E_NOTFOUND;
    memcpy(id, k->ident, LDG_HASH_BYTES);
    return LDG_OK;
}

void
ldgi_registry_identity_keys(ldgi_registry *r, const uint8_t id[LDG_HASH_BYTES], ldgi_idkey_fn each,
                            void *ectx)
{
    ldgi_regslot *who = table_find(&r->ids, &r->idcap, &r->idn, id, false);
    bool more = who != NULL;
    const uint8_t *pub = who ? who->link : NULL;
    /* a chain of at most r->n keys: bounded even if a table were wrong */
    for (size_t steps = 0; more && steps < r->n; steps++) {
        ldgi_regslot *k = ldgi_registry_find(r, pub, false);
        if (!k)
            break;
        more = each(ectx, k->pub, &k->ks) && k->has_link;
        pub = k->link;
    }
}

void
ldgi_registry_free(ldgi_registry *r)
{
    if (!r)
        return;
    free(r->slot);
    free(r->ids);
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
        memcpy(k->ident, e->ident, LDG_HASH_BYTES);
        /* [POL-15] the keys of one identity, newest first */
        ldgi_regslot *who = table_find(&r->ids, &r->idcap, &r->idn, e->ident, true);
        if (!who)
            return ldgi_fail(err, LDG_E_NOMEM, "key registry: out of memory");
        k = ldgi_registry_find(r, e->pub, false); /* the ids table did not move it, but be sure */
        k->has_link = who->has_link;
        memcpy(k->link, who->link, LDG_PUB_BYTES);
        who->has_link = true;
        memcpy(who->link, e->pub, LDG_PUB_BYTES);
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
    [LDGI_CHECK_JUDGE_REF] = {"duties", "POL-12",
                              "an approval or rejection refs the records it judges, user records "
                              "only"},
    [LDGI_CHECK_OWN_RECORD] = {"duties", "POL-13",
                               "no one approves or rejects a record of their own key or identity"},
    [LDGI_CHECK_ADMIN_ONLY] = {"duties", "POL-14", "an admin key holds no other role"},
    [LDGI_CHECK_IDENTITY] = {"duties", "POL-15",
                             "a second active key of one identity supersedes one, a re-enrolment "
                             "reinstates from a revocation, each with a reason"},
    [LDGI_CHECK_SELF_ENROL] = {"duties", "POL-16",
                               "no admin registers a key of their own identity"},
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

/*
 * [POL-12][POL-13] An approval or rejection names what it judges, and none
 * of it was signed by the judging key or another key of the same identity.
 */
static ldg_status
duties_user(const ldgi_policy_env *env, const ldgi_stmt *st, uint64_t seq, ldgi_policy_fail_fn fail,
            void *fctx, ldg_err *err)
{
    char why[300], hx[17];
    ldg_status s;
    if (!is_judgement(st))
        return LDG_OK;
    if ((s = ldgi_stmt_duties_ok(st, why, sizeof why)) != LDG_OK) {
        fail(fctx, LDGI_CHECK_JUDGE_REF, s, why);
        return LDG_OK;
    }
    const char *verb = st->kind.p[0] == 'a' ? "approves" : "rejects";
    ldgi_refentry re;
    /* [POL-12] what is judged is a user record: never the genesis or a key record */
    for (size_t r = 0; r < st->nrefs; r++) {
        if ((s = env->ref_entry(env->ctx, st->refs[r], seq, &re, err)) == LDG_E_NOTFOUND)
            continue; /* the ref check says it names nothing, or the caller cannot tell */
        if (s != LDG_OK)
            return s;
        if (re.kc != LDGI_KIND_USER &&
            !failed(fail, fctx, LDGI_CHECK_JUDGE_REF, LDG_E_POLICY,
                    "%s %.*s judges user records only: ref %zu names entry %llu, a %s record",
                    st->kind.p[0] == 'a' ? "an" : "a", (int)st->kind.len, st->kind.p, r + 1,
                    (unsigned long long)re.seq,
                    re.kc == LDGI_KIND_GENESIS   ? "genesis"
                    : re.kc == LDGI_KIND_KEY_ADD ? "key.add"
                                                 : "key.revoke"))
            return LDG_OK;
    }
    uint8_t me[LDG_HASH_BYTES], them[LDG_HASH_BYTES];
    bool have_me = (s = env->identity(env->ctx, st->actor, me, err)) == LDG_OK;
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    for (size_t r = 0; r < st->nrefs; r++) {
        if ((s = env->ref_entry(env->ctx, st->refs[r], seq, &re, err)) == LDG_E_NOTFOUND)
            continue; /* the ref check says it names nothing, or the caller cannot tell */
        if (s != LDG_OK)
            return s;
        if (re.kc != LDGI_KIND_USER)
            continue; /* reported above */
        if (memcmp(re.actor, st->actor, LDG_PUB_BYTES) == 0) {
            if (!failed(fail, fctx, LDGI_CHECK_OWN_RECORD, LDG_E_POLICY,
                        "no one %s their own record: ref %zu names entry %llu, signed by this "
                        "same key",
                        verb, r + 1, (unsigned long long)re.seq))
                return LDG_OK;
            continue;
        }
        if (!have_me)
            continue;
        if ((s = env->identity(env->ctx, re.actor, them, err)) != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        short_hex(re.actor, hx);
        if (s == LDG_OK && memcmp(me, them, LDG_HASH_BYTES) == 0 &&
            !failed(fail, fctx, LDGI_CHECK_OWN_RECORD, LDG_E_POLICY,
                    "no one %s their own record: ref %zu names entry %llu, signed by key %s... "
                    "of the same person (printed name and organisation)",
                    verb, r + 1, (unsigned long long)re.seq, hx))
            return LDG_OK;
    }
    return LDG_OK;
}

/* [POL-15] What a key.add finds of its identity's keys registered before it. */
typedef struct idcount {
    uint64_t seq;
    bool admin;    /* the new key holds admin */
    size_t known;  /* keys of the identity registered before seq */
    size_t active; /* ...and not revoked before seq */
    size_t same;   /* ...active, and of the new key's class (admin or not) */
} idcount;

static bool
count_key(void *ectx, const uint8_t pub[LDG_PUB_BYTES], const ldgi_keystate *ks)
{
    (void)pub;
    idcount *c = ectx;
    if (ks->added_seq >= c->seq)
        return true;
    c->known++;
    if (ks->revoked_seq != UINT64_MAX && ks->revoked_seq < c->seq)
        return true;
    c->active++;
    c->same += ((ks->roles & LDGI_ROLE_ADMIN) != 0) == c->admin;
    return true;
}

/*
 * [POL-14][POL-15][POL-16] A key.add: an admin key holds no other role; a
 * person holds one active key of each class (admin, or not) unless the
 * record says which key it supersedes, and a person whose keys are all
 * revoked comes back only by a record that names the revocation it
 * reinstates from; each with a reason.  And no admin registers a key of
 * their own identity: another admin enrols them.
 */
static ldg_status
duties_identity(const ldgi_policy_env *env, const ldgi_stmt *st, uint64_t seq,
                const uint8_t ident[LDG_HASH_BYTES], ldgi_policy_fail_fn fail, void *fctx,
                ldg_err *err)
{
    char why[300];
    ldg_status s;
    if ((s = ldgi_stmt_duties_ok(st, why, sizeof why)) != LDG_OK &&
        !fail(fctx, LDGI_CHECK_ADMIN_ONLY, s, why))
        return LDG_OK;
    idcount c = {.seq = seq, .admin = (ldgi_stmt_roles(st) & LDGI_ROLE_ADMIN) != 0};
    if ((s = env->identity_keys(env->ctx, ident, count_key, &c, err)) != LDG_OK)
        return s;
    int nl = (int)(st->key_name.len > 80 ? 80 : st->key_name.len);
    int ol = (int)(st->key_org.len > 80 ? 80 : st->key_org.len);
    const char *cls = c.admin ? "admin" : "non-admin";
    enum {
        NEW,
        SUPERSEDE,
        REINSTATE
    } mode = c.same                 ? SUPERSEDE
             : c.known && !c.active ? REINSTATE
                                    : NEW;
    if (mode == NEW) {
        if (st->nrefs)
            failed(fail, fctx, LDGI_CHECK_IDENTITY, LDG_E_POLICY,
                   "a key.add for \"%.*s\" (%.*s) supersedes no active %s key and reinstates no "
                   "one: it carries no ref",
                   nl, st->key_name.p, ol, st->key_org.p, cls);
        return LDG_OK;
    }
    if (!st->has_reason || st->nrefs != 1) {
        if (mode == SUPERSEDE)
            failed(fail, fctx, LDGI_CHECK_IDENTITY, LDG_E_POLICY,
                   "\"%.*s\" (%.*s) already holds an active %s key: a second one needs a reason "
                   "and one ref, to the key.add of the key it supersedes (ldg key add "
                   "--supersedes SEQ --reason TEXT)",
                   nl, st->key_name.p, ol, st->key_org.p, cls);
        else
            failed(fail, fctx, LDGI_CHECK_IDENTITY, LDG_E_POLICY,
                   "every key of \"%.*s\" (%.*s) was revoked: a new one needs a reason and one "
                   "ref, to the key.revoke it reinstates from (ldg key add --reinstates SEQ "
                   "--reason TEXT)",
                   nl, st->key_name.p, ol, st->key_org.p);
        return LDG_OK;
    }
    ldgi_refentry re;
    if ((s = env->ref_entry(env->ctx, st->refs[0], seq, &re, err)) == LDG_E_NOTFOUND)
        return LDG_OK; /* the ref check says it names nothing, or the caller cannot tell */
    if (s != LDG_OK)
        return s;
    /* the key the named record is about: of this identity, and as the mode needs it */
    ldgi_keystate ks;
    uint8_t their[LDG_HASH_BYTES];
    bool right = mode == SUPERSEDE ? re.kc == LDGI_KIND_GENESIS || re.kc == LDGI_KIND_KEY_ADD
                                   : re.kc == LDGI_KIND_KEY_REVOKE;
    if (right) {
        if ((s = env->identity(env->ctx, re.key_pub, their, err)) != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        right = s == LDG_OK && memcmp(their, ident, LDG_HASH_BYTES) == 0;
    }
    if (right && mode == SUPERSEDE) {
        if ((s = env->key(env->ctx, re.key_pub, &ks, err)) != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        right = s == LDG_OK && ks.added_seq < seq &&
                (ks.revoked_seq == UINT64_MAX || ks.revoked_seq >= seq) &&
                ((ks.roles & LDGI_ROLE_ADMIN) != 0) == c.admin;
    }
    if (!right && mode == SUPERSEDE)
        failed(fail, fctx, LDGI_CHECK_IDENTITY, LDG_E_POLICY,
               "the ref of a key.add for \"%.*s\" (%.*s) must name the key.add of the active %s "
               "key it supersedes; entry %llu is not one",
               nl, st->key_name.p, ol, st->key_org.p, cls, (unsigned long long)re.seq);
    else if (!right)
        failed(fail, fctx, LDGI_CHECK_IDENTITY, LDG_E_POLICY,
               "the ref of a key.add for \"%.*s\" (%.*s) must name the key.revoke of one of "
               "their keys, which it reinstates from; entry %llu is not one",
               nl, st->key_name.p, ol, st->key_org.p, (unsigned long long)re.seq);
    return LDG_OK;
}

/* A fail callback in between, to learn whether the caller wants more after a check. */
typedef struct relay {
    ldgi_policy_fail_fn fail;
    void *fctx;
    bool stop;
} relay;

static bool
relay_fail(void *ctx, ldgi_check c, ldg_status st, const char *why)
{
    relay *r = ctx;
    if (!r->fail(r->fctx, c, st, why))
        r->stop = true;
    return !r->stop;
}

static ldg_status
duties_key(const ldgi_policy_env *env, const ldgi_stmt *st, uint64_t seq,
           const uint8_t ident[LDG_HASH_BYTES], ldgi_policy_fail_fn fail, void *fctx, ldg_err *err)
{
    relay rl = {fail, fctx, false};
    ldg_status s = duties_identity(env, st, seq, ident, relay_fail, &rl, err);
    if (s != LDG_OK || rl.stop)
        return s;
    /*
     * [POL-16] No one registers a key for themselves: the signing admin key's
     * identity is not the new key's.  (Genesis is signed by the log key and
     * does not come here; a key.revoke may revoke the signer's own key.)
     */
    uint8_t mine[LDG_HASH_BYTES];
    if ((s = env->identity(env->ctx, st->actor, mine, err)) == LDG_E_NOTFOUND)
        return LDG_OK;
    if (s != LDG_OK)
        return s;
    if (memcmp(mine, ident, LDG_HASH_BYTES) == 0)
        failed(fail, fctx, LDGI_CHECK_SELF_ENROL, LDG_E_POLICY,
               "no one registers a key for themselves: the key.add for \"%.*s\" (%.*s) is "
               "signed by an admin key of that same person (printed name and organisation); "
               "another admin must register it",
               (int)(st->key_name.len > 80 ? 80 : st->key_name.len), st->key_name.p,
               (int)(st->key_org.len > 80 ? 80 : st->key_org.len), st->key_org.p);
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
        ldgi_identity(st->key_name, st->key_org, effect->ident);
        /* [POL-14] the first admin key too */
        if ((s = ldgi_stmt_duties_ok(st, why, sizeof why)) != LDG_OK)
            fail(fctx, LDGI_CHECK_ADMIN_ONLY, s, why);
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
        return duties_user(env, st, seq, fail, fctx, err);
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
        ldgi_identity(st->key_name, st->key_org, effect->ident);
    } else {
        if (!known || (sub.revoked_seq != UINT64_MAX && sub.revoked_seq < seq)) {
            failed(fail, fctx, LDGI_CHECK_KEY_RECORD, LDG_E_POLICY, "key.revoke of key %s..., %s",
                   hx, known ? "already revoked" : "which is not registered");
            return LDG_OK;
        }
        effect->op = LDGI_KEY_REVOKE;
    }
    memcpy(effect->pub, st->key_pub, LDG_PUB_BYTES);
    if (kc == LDGI_KIND_KEY_ADD)
        return duties_key(env, st, seq, effect->ident, fail, fctx, err);
    return LDG_OK;
}
