/*
 * export_write.c - the JSONL [EXP-5] and CSV [EXP-6] trails of spec/export.md,
 * one record at a time, and the subject of a record as every display picks
 * it.  The records come from the checked walk of export.c (which also sets
 * the plan in force and its tolerance on each); the bundle writer
 * (bundle_write.c) writes its trail.jsonl and trail.csv through the same
 * code.
 */
#include "internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ldg_export_writer {
    int format;
    ldg_export_opts o;
    ldgi_linecache lc;
    ldgi_emit em;
    /* a row formatted ahead (ldgi_export_row), for the next call with this record */
    const ldg_record *pre_r;
    const char *pre;
    size_t pre_n;
};

/* The signer's verifier-key line (NULL if none), kept for the next record by the same key. */
static const char *
signer_line(ldgi_linecache *w, const ldg_record *r)
{
    if (!r->signer.id[0])
        return NULL;
    if (w->line[0] && memcmp(w->line_pub, r->signer.pub, LDG_PUB_BYTES) == 0 &&
        strncmp(w->line, r->signer.id, strlen(r->signer.id)) == 0 &&
        w->line[strlen(r->signer.id)] == '+')
        return w->line;
    if (ldg_vkey_format(r->signer.id, r->signer.pub, w->line, NULL) != LDG_OK) {
        w->line[0] = '\0';
        return NULL;
    }
    memcpy(w->line_pub, r->signer.pub, LDG_PUB_BYTES);
    return w->line;
}

const char *
ldgi_export_body_status(int withhold, const ldg_record *r)
{
    if (r->body_state == LDG_BODY_MISMATCH)
        return "mismatch";
    /* [VER-8] a body the ledger lost without an erasure record is no exporter's choice */
    if (r->body_state == LDG_BODY_WITHHELD)
        return "missing";
    if (r->body_state == LDG_BODY_ERASED)
        return "erased";
    return withhold ? "withheld-by-export" : "ok";
}

const char *
ldgi_export_sig_status(const ldg_record *r)
{
    switch (r->sig_state) {
    case LDG_SIG_VALID: return "valid";
    case LDG_SIG_INVALID: return "invalid";
    case LDG_SIG_PROVEN: return "proven";
    default: return "unchecked";
    }
}

/* The key's status when the record was appended: roles are fixed when a key is added. */
static const char *
key_status(const ldg_record *r, char *buf, size_t n)
{
    if (!r->signer.name)
        return "unregistered";
    if (r->signer.revoked && r->signer.revoked_seq < r->seq) {
        snprintf(buf, n, "revoked at #%llu", (unsigned long long)r->signer.revoked_seq);
        return buf;
    }
    return "active";
}

/* "+HH:MM" / "-HH:MM" */
static void
utc_offset(int32_t tz_min, char out[8])
{
    int a = tz_min < 0 ? -tz_min : tz_min, h = a / 60 % 100, m = a % 60;
    /* digit by digit: once or twice a record, where snprintf shows in a profile */
    out[0] = tz_min < 0 ? '-' : '+';
    out[1] = (char)('0' + h / 10);
    out[2] = (char)('0' + h % 10);
    out[3] = ':';
    out[4] = (char)('0' + m / 10);
    out[5] = (char)('0' + m % 10);
    out[6] = '\0';
}

/*
 * [EXP-10] The claimed time against the ledger's time of record: claimed -
 * ledger in nanoseconds, and the flag when it is beyond the tolerance of
 * the plan in force (NULL within it).
 */
static int64_t
skew_ns(const ldg_record *r)
{
    /* host times are below 2^63 (the format keeps them so); saturate anyway */
    int64_t host = r->host_time_ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)r->host_time_ns;
    if ((r->time_ns < 0 && host > INT64_MAX + r->time_ns))
        return INT64_MIN;
    return r->time_ns - host;
}

const char *
ldgi_time_flag(const ldg_record *r)
{
    int64_t d = skew_ns(r), tol = r->tolerance_ns < 0 ? 0 : r->tolerance_ns;
    if (d < -tol)
        return "back-dated";
    if (d > tol)
        return "forward-dated";
    return NULL;
}

/* Whole seconds, truncated toward zero. */
static int64_t
skew_s(const ldg_record *r)
{
    return skew_ns(r) / 1000000000LL;
}

/*
 * The top-level string member `key` of a JSON object text, when it holds no
 * escape: found without parsing the whole body (a CSV row wants only the
 * subject).  *sure is false when the scan could not tell (escapes, odd
 * input): then the caller parses.  The body is canonical JSON the library
 * checked.
 */
static char *
quick_member(const char *p, size_t n, const char *key, bool *sure)
{
    size_t kl = strlen(key), depth = 0, i = 0;
    bool expect_key = false;
    *sure = false;
    if (!n || p[0] != '{')
        return NULL;
    for (i = 0; i < n; i++) {
        char c = p[i];
        if (c == '"') {
            size_t j = i + 1;
            bool esc = false;
            while (j < n && p[j] != '"') {
                if (p[j] == '\\') {
                    esc = true;
                    j++;
                }
                j++;
            }
            if (j >= n)
                return NULL;
            if (depth == 1 && expect_key && !esc && j - i - 1 == kl &&
                memcmp(p + i + 1, key, kl) == 0 && j + 1 < n && p[j + 1] == ':') {
                size_t v = j + 2, x = v + 1;
                if (v >= n || p[v] != '"')
                    return (*sure = true, NULL); /* not a string */
                while (x < n && p[x] != '"' && p[x] != '\\')
                    x++;
                if (x >= n || p[x] == '\\')
                    return NULL; /* escapes: let the parser decode them */
                *sure = true;
                return ldgi_strndup(p + v + 1, x - v - 1);
            }
            expect_key = false;
            i = j;
        } else if (c == '{' || c == '[') {
            depth++;
            expect_key = c == '{' && depth == 1;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            return NULL; /* not the compact canonical form: parse */
        }
    }
    *sure = true; /* scanned it all: no such member */
    return NULL;
}

char *
ldg_record_subject(const ldg_record *r)
{
    if (!r || !r->body)
        return NULL;
    bool sure1, sure2;
    char *q = quick_member(r->body, r->body_len, "subject", &sure1);
    if (sure1 && !q)
        q = quick_member(r->body, r->body_len, "title", &sure2);
    else
        sure2 = true;
    if (sure1 && sure2)
        return q;
    free(q);
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *s = b ? json_object_get(b, "subject") : NULL;
    if (!json_is_string(s) && b)
        s = json_object_get(b, "title");
    char *out = json_is_string(s) ? ldgi_strdup(json_string_value(s)) : NULL;
    json_decref(b);
    return out;
}

/* ------------------------------------------------------ JSONL [EXP-5] -- */

static void
jsonl_record(const ldg_export_opts *o, ldgi_linecache *lc, ldgi_emit *e, const ldg_record *r)
{
    char t[40], host[40], off[8], ks[40];
    ldgi_em_s(e, "{\"seq\":");
    ldgi_em_u64(e, r->seq);
    /* [EXP-10] the ledger's time of record first */
    ldg_time_format((int64_t)r->host_time_ns, 0, 1, host);
    ldgi_em_s(e, ",\"ledger_time_utc\":");
    ldgi_em_json_str(e, host);
    ldg_time_format(r->time_ns, 0, 1, t);
    ldgi_em_s(e, ",\"time_utc\":");
    ldgi_em_json_str(e, t);
    ldg_time_format(r->time_ns, r->tz_min, 0, t);
    ldgi_em_s(e, ",\"time_local\":");
    ldgi_em_json_str(e, t);
    utc_offset(r->tz_min, off);
    ldgi_em_s(e, ",\"utc_offset\":");
    ldgi_em_json_str(e, off);
    ldgi_em_s(e, ",\"host_time_utc\":"); /* the same time, under its older name */
    ldgi_em_json_str(e, host);
    if (r->has_clock) {
        /* [EXP-5] the host clock read earlier; the ledger's time was held [FMT-3] */
        ldg_time_format((int64_t)r->clock_ns, 0, 1, t);
        ldgi_em_s(e, ",\"host_clock_utc\":");
        ldgi_em_json_str(e, t);
    }
    ldgi_em_s(e, ",\"claimed_minus_ledger_s\":");
    ldgi_em_i64(e, skew_s(r));
    ldgi_em_s(e, ",\"time_flag\":");
    ldgi_em_json_str(e, ldgi_time_flag(r));
    ldgi_em_s(e, ",\"tolerance_s\":");
    ldgi_em_i64(e, r->tolerance_ns / 1000000000LL);
    ldgi_em_s(e, ",\"plan_seq\":");
    if (r->plan_seq == UINT64_MAX)
        ldgi_em_s(e, "null");
    else
        ldgi_em_u64(e, r->plan_seq);
    ldgi_em_s(e, ",\"kind\":");
    ldgi_em_json_str(e, r->kind);
    ldgi_em_s(e, ",\"study\":");
    ldgi_em_json_str(e, r->study);
    ldgi_em_s(e, ",\"actor\":{\"key_id\":");
    ldgi_em_json_str(e, r->signer.id[0] ? r->signer.id : NULL);
    ldgi_em_s(e, ",\"key\":");
    ldgi_em_json_str(e, signer_line(lc, r));
    ldgi_em_s(e, ",\"pub\":");
    ldgi_em_json_b64(e, r->actor, LDG_PUB_BYTES);
    ldgi_em_s(e, ",\"name\":");
    ldgi_em_json_str(e, r->signer.name);
    ldgi_em_s(e, ",\"org\":");
    ldgi_em_json_str(e, r->signer.org);
    ldgi_em_s(e, ",\"roles\":");
    ldgi_em_json_str(e, r->signer.roles);
    ldgi_em_s(e, ",\"key_status\":");
    ldgi_em_json_str(e, key_status(r, ks, sizeof ks));
    ldgi_em_s(e, "},\"meaning\":");
    ldgi_em_json_str(e, r->meaning);
    ldgi_em_s(e, ",\"reason\":");
    ldgi_em_json_str(e, r->reason);
    ldgi_em_s(e, ",\"refs\":[");
    for (size_t i = 0; i < r->nrefs; i++) {
        ldgi_em_s(e, i ? ",{\"seq\":" : "{\"seq\":");
        if (r->ref_seqs[i] == UINT64_MAX)
            ldgi_em_s(e, "null");
        else
            ldgi_em_u64(e, r->ref_seqs[i]);
        ldgi_em_s(e, ",\"hash\":");
        ldgi_em_json_b64(e, r->refs[i], LDG_HASH_BYTES);
        ldgi_em_c(e, '}');
    }
    ldgi_em_c(e, ']');
    if (r->has_observed) {
        ldgi_em_s(e, ",\"observed\":{\"size\":");
        ldgi_em_u64(e, r->observed_size);
        ldgi_em_s(e, ",\"head\":");
        ldgi_em_json_b64(e, r->observed_head, LDG_HASH_BYTES);
        ldgi_em_c(e, '}');
    }
    if (r->has_key) {
        ldgi_em_s(e, ",\"subject_key\":{\"pub\":");
        ldgi_em_json_b64(e, r->key.pub, LDG_PUB_BYTES);
        if (r->key.name) {
            ldgi_em_s(e, ",\"key_id\":");
            ldgi_em_json_str(e, r->key.id);
            ldgi_em_s(e, ",\"name\":");
            ldgi_em_json_str(e, r->key.name);
            ldgi_em_s(e, ",\"org\":");
            ldgi_em_json_str(e, r->key.org);
            ldgi_em_s(e, ",\"roles\":");
            ldgi_em_json_str(e, r->key.roles);
        }
        ldgi_em_c(e, '}');
    }
    /* The body is canonical JSON already (checked against its commitment by the library). */
    ldgi_em_s(e, ",\"body\":");
    if (r->body && !o->withhold)
        ldgi_em_escaped(e, r->body, LDG_ESC_JSON_FIX); /* the same JSON value, no raw bidi or C1 */
    else
        ldgi_em_s(e, "null");
    ldgi_em_s(e, ",\"body_status\":");
    ldgi_em_json_str(e, ldgi_export_body_status(o->withhold, r));
    if (r->body_state == LDG_BODY_ERASED) {
        ldgi_em_s(e, ",\"erased_by\":");
        ldgi_em_u64(e, r->erased_by);
    }
    ldgi_em_s(e, ",\"commitment\":");
    ldgi_em_json_b64(e, r->commitment, LDG_HASH_BYTES);
    ldgi_em_s(e, ",\"leaf_hash\":");
    ldgi_em_json_b64(e, r->leaf_hash, LDG_HASH_BYTES);
    ldgi_em_s(e, ",\"leaf_hash_hex\":\"");
    ldgi_em_hex(e, r->leaf_hash, LDG_HASH_BYTES);
    ldgi_em_s(e, "\",\"prev\":");
    ldgi_em_json_b64(e, r->prev, LDG_HASH_BYTES);
    ldgi_em_s(e, ",\"signature\":");
    ldgi_em_json_b64(e, r->sig, LDG_SIG_BYTES);
    ldgi_em_s(e, ",\"signature_status\":");
    ldgi_em_json_str(e, ldgi_export_sig_status(r));
    if (r->sig_state == LDG_SIG_PROVEN) {
        ldgi_em_s(e, ",\"proven_by_checkpoint\":");
        ldgi_em_u64(e, o->proven);
    }
    ldgi_em_s(e, ",\"entry\":");
    ldgi_em_json_b64(e, r->entry, r->entry_len);
    ldgi_em_s(e, "}\n");
}

/* -------------------------------------------------------- CSV [EXP-6] -- */

static void
csv_record(const ldg_export_opts *o, ldgi_emit *e, const ldg_record *r)
{
    char t[40], off[8];
    ldgi_em_u64(e, r->seq);
    ldgi_em_c(e, ',');
    /* [EXP-10] the ledger's time of record first, then the claimed time */
    ldg_time_format((int64_t)r->host_time_ns, 0, 1, t);
    ldgi_em_csv(e, t, false);
    ldgi_em_c(e, ',');
    ldg_time_format(r->time_ns, 0, 1, t);
    ldgi_em_csv(e, t, false);
    ldgi_em_c(e, ',');
    ldg_time_format(r->time_ns, r->tz_min, 0, t);
    ldgi_em_csv(e, t, false);
    ldgi_em_c(e, ',');
    utc_offset(r->tz_min, off);
    ldgi_em_s(e, "UTC"); /* "UTC-05:00": never read as a number or formula */
    ldgi_em_s(e, off);
    ldgi_em_c(e, ',');
    ldgi_em_i64(e, skew_s(r)); /* a bare number: a spreadsheet may sort and sum it */
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, ldgi_time_flag(r), false);
    ldgi_em_c(e, ',');
    ldgi_em_i64(e, r->tolerance_ns / 1000000000LL);
    ldgi_em_c(e, ',');
    if (r->plan_seq != UINT64_MAX)
        ldgi_em_u64(e, r->plan_seq);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->kind, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->study, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->signer.name ? r->signer.name : "(unregistered key)", true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->signer.org, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->signer.roles, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->meaning, true);
    ldgi_em_c(e, ',');
    char *subj = o->withhold ? NULL : ldg_record_subject(r);
    ldgi_em_csv(e, subj, true);
    free(subj);
    ldgi_em_c(e, ',');
    if (r->nrefs) {
        /* "#3 #7": the refs by seq ("#?" for a hash this ledger does not hold) */
        char *refs = ldgi_malloc(r->nrefs * 24 + 1), *p = refs;
        if (refs) {
            for (size_t i = 0; i < r->nrefs; i++)
                p += r->ref_seqs[i] == UINT64_MAX
                         ? sprintf(p, "%s#?", i ? " " : "")
                         : sprintf(p, "%s#%llu", i ? " " : "", (unsigned long long)r->ref_seqs[i]);
            ldgi_em_csv(e, refs, false);
            free(refs);
        } else {
            e->failed = true;
        }
    }
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->reason, true);
    ldgi_em_c(e, ',');
    if (r->body_state == LDG_BODY_ERASED) {
        char st[48];
        snprintf(st, sizeof st, "erased by %llu", (unsigned long long)r->erased_by);
        ldgi_em_csv(e, st, false);
    } else {
        ldgi_em_csv(e, ldgi_export_body_status(o->withhold, r), false);
    }
    ldgi_em_c(e, ',');
    ldgi_em_hex(e, r->leaf_hash, LDG_HASH_BYTES); /* hex: never read as a formula */
    ldgi_em_c(e, ',');
    if (r->sig_state == LDG_SIG_PROVEN) { /* a cell without , " or an edge space: never quoted */
        ldgi_em_s(e, "valid (verified in full up to checkpoint ");
        ldgi_em_u64(e, o->proven);
        ldgi_em_c(e, ')');
    } else {
        ldgi_em_csv(e, r->sig_state == LDG_SIG_INVALID ? "INVALID" : ldgi_export_sig_status(r),
                    false);
    }
    ldgi_em_raw(e, "\r\n", 2);
}

/* ------------------------------------------------------------ writer -- */

ldg_status
ldg_export_writer_new(int format, const ldg_export_opts *o, ldg_write_fn fn, void *ctx,
                      ldg_export_writer **out, ldg_err *err)
{
    *out = NULL;
    if ((format != LDG_EXPORT_JSONL && format != LDG_EXPORT_CSV) || !fn)
        return ldgi_fail(err, LDG_E_USAGE, "export writer: unknown format %d", format);
    ldg_export_writer *w = ldgi_calloc(1, sizeof *w);
    if (!w)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    w->format = format;
    if (o)
        w->o = *o;
    ldgi_em_init(&w->em, fn, ctx);
    if (format == LDG_EXPORT_CSV)
        ldgi_em_s(&w->em, LDG_EXPORT_CSV_HEADER);
    *out = w;
    return LDG_OK;
}

ldg_status
ldg_export_writer_record(ldg_export_writer *w, const ldg_record *r, ldg_err *err)
{
    if (w->pre_r == r) /* formatted ahead, on a helper thread */
        ldgi_em_raw(&w->em, w->pre, w->pre_n);
    else if (w->format == LDG_EXPORT_JSONL)
        jsonl_record(&w->o, &w->lc, &w->em, r);
    else
        csv_record(&w->o, &w->em, r);
    return w->em.failed ? ldgi_fail(err, LDG_E_IO, "export: write failed") : LDG_OK;
}

static int
row_sink(void *ctx, const void *p, size_t n)
{
    ldgi_rowbuf *b = ctx;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n)
            cap *= 2;
        char *np = ldgi_realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

bool
ldgi_export_row(const ldg_export_writer *w, ldgi_linecache *lc, ldgi_emit *e, const ldg_record *r,
                ldgi_rowbuf *out)
{
    out->n = 0;
    ldgi_em_init(e, row_sink, out);
    if (w->format == LDG_EXPORT_JSONL)
        jsonl_record(&w->o, lc, e, r);
    else
        csv_record(&w->o, e, r);
    return ldgi_em_flush(e);
}

void
ldgi_export_pending(ldg_export_writer *w, const ldg_record *r, const char *p, size_t n)
{
    w->pre_r = r;
    w->pre = p;
    w->pre_n = n;
}

ldg_status
ldg_export_writer_flush(ldg_export_writer *w, ldg_err *err)
{
    return ldgi_em_flush(&w->em) ? LDG_OK : ldgi_fail(err, LDG_E_IO, "export: write failed");
}

void
ldg_export_writer_free(ldg_export_writer *w)
{
    free(w);
}
