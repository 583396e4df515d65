/*
 * policy.c - the rules of spec/format.md "Policy" [POL-1..POL-9] that depend
 * only on a statement and its signer's roles.  The rules that need ledger
 * state (key registered and not revoked, refs and observed head exist) are
 * applied by append.c and verify.c with the same helpers.
 */
#include "internal.h"

#include <stdio.h>
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
    {"approval", LDGI_ROLE_APPROVER},
    {"rejection", LDGI_ROLE_APPROVER},
    {"escalation", LDGI_ROLE_AUTHOR},
    {"deviation", LDGI_ROLE_AUTHOR},
    {"action", LDGI_ROLE_AUTHOR},
    {"document", LDGI_ROLE_AUTHOR},
    {"correction", LDGI_ROLE_AUTHOR | LDGI_ROLE_DECIDER | LDGI_ROLE_APPROVER},
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
            return WHY("unknown role \"%.*s\" (admin, author, decider, approver, qa)",
                       (int)s->roles[i].len, s->roles[i].p);
        if (i && str_cmp(s->roles[i - 1], s->roles[i]) >= 0)
            return WHY("roles must be sorted and unique");
    }
    return true;
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
                                                    : "author, decider or approver";
    return WHY("kind %.*s needs the %s role", (int)s->kind.len, s->kind.p, role);
}
