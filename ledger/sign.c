/*
 * sign.c - building and signing statements [FMT-2][FMT-4] and the
 * signed-statement line format that carries them from a signer's machine to
 * the ledger host [FMT-8].  Nothing here needs a ledger: a sponsor's
 * approver signs on their own machine and never hands over a secret key.
 */
#include "internal.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ldg_signed_free(ldg_signed *s)
{
    if (!s)
        return;
    free(s->stmt);
    free(s->body);
    free(s);
}

const uint8_t *
ldg_signed_statement(const ldg_signed *s, size_t *len)
{
    *len = s->stmt_len;
    return s->stmt;
}

const uint8_t *
ldg_signed_body(const ldg_signed *s, size_t *len)
{
    *len = s->body_len;
    return s->body;
}

static ldgi_str
mkstr(const char *p)
{
    ldgi_str s = {p ? p : "", p ? strlen(p) : 0};
    return s;
}

static bool
text_ok(const char *p)
{
    return !p || ldgi_utf8_valid((const uint8_t *)p, strlen(p));
}

static int
role_cmp(const void *a, const void *b)
{
    const ldgi_str *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    return c ? c : (x->len < y->len ? -1 : x->len > y->len);
}

/* Splits "a, b,c" into sorted, de-duplicated views into buf. */
static ldg_status
parse_roles(char *buf, ldgi_stmt *s, ldg_err *err)
{
    s->nroles = 0;
    /* Not strtok: ldg_sign runs on many threads at once (ldg_sign_many). */
    for (char *tok = buf, *next; tok; tok = next) {
        char *comma = strchr(tok, ',');
        next = comma ? comma + 1 : NULL;
        if (comma)
            *comma = '\0';
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n && tok[n - 1] == ' ')
            n--;
        if (!n)
            continue;
        if (!ldgi_role_bit(tok, n))
            return ldgi_fail(
                err, LDG_E_INPUT,
                "unknown role \"%.*s\": roles are admin, author, decider, approver, eraser, qa",
                (int)(n > 40 ? 40 : n), tok);
        bool dup = false;
        for (size_t i = 0; i < s->nroles; i++)
            dup |= s->roles[i].len == n && memcmp(s->roles[i].p, tok, n) == 0;
        if (dup)
            continue;
        if (s->nroles == LDGI_ROLES_MAX)
            return ldgi_fail(err, LDG_E_INPUT, "too many roles");
        s->roles[s->nroles].p = tok;
        s->roles[s->nroles].len = n;
        s->nroles++;
    }
    qsort(s->roles, s->nroles, sizeof s->roles[0], role_cmp);
    return LDG_OK;
}

ldg_status
ldg_sign(const ldg_key *k, const ldg_fields *f, ldg_signed **out, ldg_err *err)
{
    if (!k || !f || !out || !f->kind)
        return ldgi_fail(err, LDG_E_USAGE, "sign: missing key, fields or kind");
    if (ldgi_kind_class(f->kind, strlen(f->kind)) == LDGI_KIND_UNKNOWN)
        return ldgi_fail(err, LDG_E_INPUT,
                         "unknown kind \"%.40s\" (communication, meeting, query, response, "
                         "decision, approval, rejection, escalation, deviation, action, document, "
                         "correction, plan)",
                         f->kind);
    if (!text_ok(f->study) || !text_ok(f->reason) || !text_ok(f->meaning) ||
        !text_ok(f->key_name) || !text_ok(f->key_org) || !text_ok(f->origin))
        return ldgi_fail(err, LDG_E_INPUT, "a text field is not valid UTF-8");
    if (f->nrefs > LDG_REFS_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "%zu refs, more than the limit of %u", f->nrefs,
                         LDG_REFS_MAX);
    if (f->study && strlen(f->study) > LDG_STUDY_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "study is over %u bytes", LDG_STUDY_MAX);
    if ((f->reason && strlen(f->reason) > LDG_TEXT_MAX) ||
        (f->key_name && strlen(f->key_name) > LDG_TEXT_MAX) ||
        (f->key_org && strlen(f->key_org) > LDG_TEXT_MAX) ||
        (f->origin && strlen(f->origin) > LDG_TEXT_MAX))
        return ldgi_fail(err, LDG_E_INPUT, "a text field is over %u bytes", LDG_TEXT_MAX);

    ldg_signed *sg = ldgi_calloc(1, sizeof *sg);
    ldgi_stmt *st = ldgi_calloc(1, sizeof *st);
    char *roles = NULL;
    ldg_status rc = LDG_OK;
    if (!sg || !st) {
        rc = ldgi_fail(err, LDG_E_NOMEM, "sign: out of memory");
        goto fail;
    }
    char *body;
    size_t blen;
    ldg_err memo;
    if (ldgi_body_memo_take(f->kind, f->body, f->body_len, &memo)) {
        /* ldg_input_parse's canonical text and fields verdict, on this thread (body.c) */
        if (!(body = ldgi_malloc(f->body_len + 1))) {
            rc = ldgi_fail(err, LDG_E_NOMEM, "body: out of memory");
            goto fail;
        }
        memcpy(body, f->body, f->body_len);
        body[f->body_len] = '\0';
        sg->body = (uint8_t *)body;
        sg->body_len = blen = f->body_len;
        if ((rc = memo.status) != LDG_OK) {
            ldgi_fail(err, rc, "%s", memo.msg);
            goto fail;
        }
    } else {
        rc = ldgi_body_canonical(f->body ? f->body : "{}", f->body ? f->body_len : 2, &body, &blen,
                                 err);
        if (rc != LDG_OK)
            goto fail;
        sg->body = (uint8_t *)body;
        sg->body_len = blen;
        /* [KIND-1] a signer learns of a wrong known field now, not at the host */
        if ((rc = ldg_body_fields_check(f->kind, body, blen, err)) != LDG_OK)
            goto fail;
    }
    sg->fields_ok = true;
    randombytes_buf(sg->salt, LDG_SALT_BYTES);

    st->v = LDGI_FORMAT_VERSION;
    memcpy(st->actor, k->pub, LDG_PUB_BYTES);
    ldgi_body_commit(sg->salt, sg->body, sg->body_len, st->body);
    st->kind = mkstr(f->kind);
    st->study = mkstr(f->study);
    st->nrefs = f->nrefs;
    for (size_t i = 0; i < f->nrefs; i++)
        memcpy(st->refs[i], f->refs[i], LDG_HASH_BYTES);
    if (f->meaning) {
        st->has_meaning = true;
        st->meaning = mkstr(f->meaning);
    }
    if (f->reason) {
        st->has_reason = true;
        st->reason = mkstr(f->reason);
    }
    if (f->origin) {
        st->has_origin = true;
        st->origin = mkstr(f->origin);
    }
    if (f->has_time) {
        st->time_ns = f->time_ns;
        st->tz_min = f->tz_min;
    } else {
        ldg_time_now(&st->time_ns, &st->tz_min);
    }
    if (st->tz_min < -1080 || st->tz_min > 1080) {
        rc = ldgi_fail(err, LDG_E_INPUT, "UTC offset out of range");
        goto fail;
    }
    if (f->has_observed) {
        st->has_observed = true;
        st->observed_size = f->observed_size;
        memcpy(st->observed_head, f->observed_head, LDG_HASH_BYTES);
    }
    if (f->key_pub) {
        st->has_key = true;
        memcpy(st->key_pub, f->key_pub, LDG_PUB_BYTES);
        if (f->key_id || f->key_name || f->key_org || f->key_roles) {
            st->key_full = true;
            st->key_id = mkstr(f->key_id);
            st->key_name = mkstr(f->key_name);
            st->key_org = mkstr(f->key_org);
            roles = ldgi_strdup(f->key_roles ? f->key_roles : "");
            if (!roles) {
                rc = ldgi_fail(err, LDG_E_NOMEM, "sign: out of memory");
                goto fail;
            }
            if ((rc = parse_roles(roles, st, err)) != LDG_OK)
                goto fail;
        }
    }
    char why[256];
    rc = ldgi_stmt_shape_ok(st, why, sizeof why);
    if (rc == LDG_OK) /* [POL-12][POL-14]: what needs no ledger, refused before signing */
        rc = ldgi_stmt_duties_ok(st, why, sizeof why);
    if (rc != LDG_OK) {
        ldgi_fail(err, rc, "%s", why);
        goto fail;
    }
    ldgi_buf b = {0};
    if (!ldgi_stmt_encode(st, &b)) {
        ldgi_buf_free(&b);
        rc = ldgi_fail(err, LDG_E_NOMEM, "sign: out of memory");
        goto fail;
    }
    if (b.len > LDGI_STMT_MAX) {
        ldgi_buf_free(&b);
        rc = ldgi_fail(err, LDG_E_INPUT, "statement is over %u bytes", LDGI_STMT_MAX);
        goto fail;
    }
    sg->stmt = b.p;
    sg->stmt_len = b.len;
    if (!ldgi_stmt_sign(sg->stmt, sg->stmt_len, ldgi_key_sk(k), sg->sig)) {
        rc = ldgi_fail(err, LDG_E_INPUT, "statement is over %u bytes", LDGI_STMT_MAX);
        goto fail;
    }
    free(roles);
    free(st);
    *out = sg;
    return LDG_OK;
fail:
    free(roles);
    free(st);
    ldg_signed_free(sg);
    return rc;
}

struct many {
    const ldg_key *k;
    const ldg_fields *f;
    ldg_signed **out;
    ldg_status *st;
    pthread_mutex_t mu;
    size_t first_bad;
    ldg_err first_err;
};

static void
sign_one(void *ctx, size_t i)
{
    struct many *m = ctx;
    ldg_err e;
    m->st[i] = ldg_sign(m->k, &m->f[i], &m->out[i], &e);
    if (m->st[i] != LDG_OK) {
        pthread_mutex_lock(&m->mu);
        if (i < m->first_bad) {
            m->first_bad = i;
            m->first_err = e;
        }
        pthread_mutex_unlock(&m->mu);
    }
}

ldg_status
ldg_sign_many(const ldg_key *k, const ldg_fields *f, size_t n, unsigned jobs, ldg_signed **out,
              ldg_err *err)
{
    struct many m = {.k = k, .f = f, .out = out, .first_bad = SIZE_MAX};
    m.st = ldgi_calloc(n, sizeof *m.st);
    if (!m.st)
        return ldgi_fail(err, LDG_E_NOMEM, "sign: out of memory");
    pthread_mutex_init(&m.mu, NULL);
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    ldgi_parallel_for(n, jobs, sign_one, &m);
    pthread_mutex_destroy(&m.mu);
    free(m.st);
    if (m.first_bad == SIZE_MAX)
        return LDG_OK;
    for (size_t i = 0; i < n; i++) {
        ldg_signed_free(out[i]);
        out[i] = NULL;
    }
    return ldgi_fail_at(err, (long)m.first_bad, m.first_err.status, "record %zu: %s",
                        m.first_bad + 1, m.first_err.msg);
}

ldg_status
ldg_signed_check(const ldg_signed *s, ldg_err *err)
{
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    const char *why = NULL;
    char w[256];
    ldg_status rc = LDG_OK;
    uint8_t c[LDG_HASH_BYTES];
    if (!ldgi_stmt_decode(s->stmt, s->stmt_len, st, &why)) {
        rc = ldgi_fail(err, LDG_E_INPUT, "statement does not decode: %s", why ? why : "?");
    } else if ((rc = ldgi_stmt_shape_ok(st, w, sizeof w)) != LDG_OK) {
        ldgi_fail(err, rc, "%s", w);
    } else if (!ldgi_stmt_sig_ok(s->stmt, s->stmt_len, st->actor, s->sig)) {
        rc = ldgi_fail(err, LDG_E_BADSIG, "signature does not verify");
    } else {
        ldgi_body_commit(s->salt, s->body, s->body_len, c);
        if (sodium_memcmp(c, st->body, LDG_HASH_BYTES) != 0)
            rc = ldgi_fail(err, LDG_E_INPUT, "body does not match the statement's commitment");
    }
    if (rc == LDG_OK) {
        char *canon;
        size_t cl;
        rc = ldgi_body_canonical((const char *)s->body, s->body_len, &canon, &cl, err);
        if (rc == LDG_OK) {
            if (cl != s->body_len || memcmp(canon, s->body, cl) != 0)
                rc = ldgi_fail(err, LDG_E_INPUT, "body is not in canonical JSON form");
            free(canon);
        }
    }
    free(st);
    return rc;
}

/* ---------------------------------------------------- line format [FMT-8] -- */

static char *
b64_new(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = ldgi_malloc(cap);
    if (s)
        sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

ldg_status
ldg_signed_to_line(const ldg_signed *s, char **line, size_t *len, ldg_err *err)
{
    char *a = b64_new(s->stmt, s->stmt_len), *b = b64_new(s->sig, LDG_SIG_BYTES),
         *c = b64_new(s->salt, LDG_SALT_BYTES), *d = b64_new(s->body, s->body_len);
    ldg_status rc = LDG_OK;
    if (!a || !b || !c || !d) {
        rc = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    } else {
        size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + 96;
        char *out = ldgi_malloc(n);
        if (!out) {
            rc = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        } else {
            int w = snprintf(out, n,
                             "{\"ldg\":\"signed-statement/v1\",\"statement\":\"%s\","
                             "\"signature\":\"%s\",\"salt\":\"%s\",\"body\":\"%s\"}",
                             a, b, c, d);
            *line = out;
            *len = (size_t)w;
        }
    }
    free(a);
    free(b);
    free(c);
    free(d);
    return rc;
}

static bool
field_b64(json_t *o, const char *k, uint8_t **out, size_t *outlen, size_t exact, size_t max)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t sl = json_string_length(v);
    size_t cap = sl / 4 * 3 + 3;
    if (sl / 4 * 3 > max + 2) /* padding makes up at most 2 bytes */
        return false;
    uint8_t *buf = ldgi_malloc(cap);
    if (!buf)
        return false;
    size_t n;
    const char *end;
    if (sodium_base642bin(buf, cap, s, sl, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + sl || (exact && n != exact) || n > max) {
        free(buf);
        return false;
    }
    *out = buf;
    *outlen = n;
    return true;
}

/* The bytes a base64 JSON string would decode to (0 when not a string). */
static size_t
b64_len(json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t sl = json_string_length(v);
    size_t pad = sl >= 1 && s[sl - 1] == '=' ? (sl >= 2 && s[sl - 2] == '=' ? 2 : 1) : 0;
    return sl / 4 * 3 - (sl / 4 * 3 >= pad ? pad : 0);
}

ldg_status
ldg_signed_from_line(const char *line, size_t len, ldg_signed **out, ldg_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return ldgi_fail(err, LDG_E_INPUT, "signed statement: JSON column %d: %s", je.column,
                         je.text);
    ldg_status rc = LDG_OK;
    ldg_signed *s = ldgi_calloc(1, sizeof *s);
    uint8_t *sig = NULL, *salt = NULL;
    size_t n;
    json_t *tag = json_object_get(o, "ldg");
    if (!s) {
        rc = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    } else if (!json_is_object(o) || json_object_size(o) != 5 || !json_is_string(tag) ||
               strcmp(json_string_value(tag), "signed-statement/v1") != 0) {
        rc = ldgi_fail(err, LDG_E_INPUT,
                       "not a signed statement (expected {\"ldg\":\"signed-statement/v1\", "
                       "statement, signature, salt, body})");
    } else if (b64_len(json_object_get(o, "statement")) > LDGI_STMT_MAX) {
        rc = ldgi_fail(err, LDG_E_INPUT,
                       "signed statement: the statement is over %u bytes, the limit that keeps "
                       "every entry within a C2SP entry bundle (spec/format.md Limits)",
                       LDGI_STMT_MAX);
    } else if (!field_b64(o, "statement", &s->stmt, &s->stmt_len, 0, LDGI_STMT_MAX) ||
               !field_b64(o, "signature", &sig, &n, LDG_SIG_BYTES, LDG_SIG_BYTES) ||
               !field_b64(o, "salt", &salt, &n, LDG_SALT_BYTES, LDG_SALT_BYTES) ||
               !field_b64(o, "body", &s->body, &s->body_len, 0, LDG_BODY_MAX)) {
        rc = ldgi_fail(err, LDG_E_INPUT,
                       "signed statement: a field is missing, not base64, or the wrong size");
    } else {
        memcpy(s->sig, sig, LDG_SIG_BYTES);
        memcpy(s->salt, salt, LDG_SALT_BYTES);
        rc = ldg_signed_check(s, err);
    }
    free(sig);
    free(salt);
    json_decref(o);
    if (rc != LDG_OK) {
        ldg_signed_free(s);
        return rc;
    }
    *out = s;
    return LDG_OK;
}
