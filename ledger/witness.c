/*
 * witness.c - a C2SP tlog-witness over its own LMDB environment
 * (spec/witness.md [WIT-1..5]): the state (witness key, trusted log keys
 * per origin, the latest checkpoint cosigned per origin, evidence) and
 * add-checkpoint, whose check of the old size and recording of the new
 * checkpoint are one write transaction.  Checkpoints are parsed and their
 * signatures checked by checkpoint.c [CKP-1], cosigned as [CKP-5] says,
 * proofs checked by merkle.c (RFC 9162).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define NOTE_MAX 8192              /* as checkpoint.c: the longest note it parses */
#define COSIG_LINE_MAX 320         /* "— NAME base64(76 bytes)\n" */
#define EVIDENCE_MAGIC "ldg-witness-evidence/v1\n"

/* [WIT-1] The databases of a witness's environment. */
#define WDB_META ((ldgi_db)0) /* "key" -> verifier-key line, LF, key file path */
#define WDB_LOGS ((ldgi_db)1) /* origin -> trusted verifier-key lines, each LF-ended */
#define WDB_CHECKPOINTS                                                                            \
    ((ldgi_db)2)                  /* origin -> the latest checkpoint cosigned, cosignature last */
#define WDB_EVIDENCE ((ldgi_db)3) /* origin || 0x00 || SHA-256 -> an evidence record */
#define WDB_COUNT 4
static const char *const wdb_names[WDB_COUNT] = {"witness", "logs", "checkpoints", "evidence"};
#define META_KEY "key"

struct ldg_witness {
    ldg_ledger *env;
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    char path[4096];
};

static bool
origin_valid(const char *o, size_t n)
{
    if (n == 0 || n > LDG_WITNESS_ORIGIN_MAX || !ldgi_utf8_valid((const uint8_t *)o, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)o[i] < 0x20 || o[i] == 0x7f)
            return false;
    return true;
}

/* The meta record: the witness key's verifier-key line, LF, the key file path. */
static ldg_status
meta_load(ldg_witness *w, ldg_err *err)
{
    ldgi_txn *t;
    const uint8_t *v;
    size_t vl;
    ldg_status s = ldgi_txn_begin(w->env, false, &t, err);
    if (s != LDG_OK)
        return s;
    s = ldgi_get(t, WDB_META, META_KEY, sizeof META_KEY - 1, &v, &vl, err);
    if (s == LDG_E_NOTFOUND)
        s = ldgi_fail(err, s, "%s: no witness here (ldg witness init makes one)",
                      ldgi_ledger_dir(w->env));
    else if (s == LDG_OK) {
        const uint8_t *nl = memchr(v, '\n', vl);
        size_t pl = nl ? vl - (size_t)(nl - v) - 1 : 0;
        if (!nl || pl == 0 || pl >= sizeof w->path ||
            ldg_vkey_parse((const char *)v, (size_t)(nl - v), w->name, w->pub, NULL) != LDG_OK)
            s = ldgi_fail(err, LDG_E_CORRUPT, "%s: the witness record is damaged",
                          ldgi_ledger_dir(w->env));
        else {
            memcpy(w->path, nl + 1, pl);
            w->path[pl] = '\0';
        }
    }
    ldgi_txn_abort(t);
    return s;
}

/* Runs put(ctx, t) in a write transaction, growing the map when it fills. */
static ldg_status
write_txn(ldg_ledger *env, ldg_status (*put)(void *ctx, ldgi_txn *t, ldg_err *err), void *ctx,
          ldg_err *err)
{
    for (;;) {
        ldgi_txn *t;
        bool full = false;
        ldg_status s = ldgi_txn_begin(env, true, &t, err);
        if (s != LDG_OK)
            return s;
        s = put(ctx, t, err);
        if (s == LDG_OK) {
            if ((s = ldgi_txn_commit(t, &full, err)) == LDG_OK)
                return LDG_OK;
        } else {
            full = ldgi_txn_map_full(t);
            ldgi_txn_abort(t);
        }
        if (!(full && ldgi_map_grow(env, err)))
            return s;
    }
}

typedef struct create_ctx {
    const char *meta;
    size_t len;
} create_ctx;

static ldg_status
create_put(void *ctx, ldgi_txn *t, ldg_err *err)
{
    create_ctx *c = ctx;
    ldg_status s =
        ldgi_put(t, WDB_META, META_KEY, sizeof META_KEY - 1, c->meta, c->len, true, false, err);
    if (s == LDG_E_EXISTS)
        s = ldgi_fail(err, s, "a witness already exists here");
    return s;
}

ldg_status
ldg_witness_create(const char *dir, const char *key_name, const uint8_t pub[LDG_PUB_BYTES],
                   const char *key_path, ldg_err *err)
{
    char line[LDG_VKEY_MAX];
    size_t pl = strlen(key_path);
    if (pl == 0 || pl >= 4096 || memchr(key_path, '\n', pl))
        return ldgi_fail(err, LDG_E_USAGE, "witness key path: empty, too long or has a newline");
    ldg_status s = ldg_vkey_format(key_name, pub, line, err);
    if (s != LDG_OK)
        return s;
    size_t ll = strlen(line);
    char *meta = ldgi_malloc(ll + 1 + pl);
    if (!meta)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    memcpy(meta, line, ll);
    meta[ll] = '\n';
    memcpy(meta + ll + 1, key_path, pl);
    ldg_ledger *env;
    if ((s = ldgi_env_open(dir, wdb_names, WDB_COUNT, true, &env, err)) == LDG_OK) {
        create_ctx c = {meta, ll + 1 + pl};
        s = write_txn(env, create_put, &c, err);
        if (s == LDG_E_EXISTS)
            ldgi_fail(err, s, "%s: a witness already exists here", dir);
        ldg_ledger_close(env);
    }
    free(meta);
    return s;
}

ldg_status
ldg_witness_open(const char *dir, ldg_witness **out, ldg_err *err)
{
    ldg_witness *w = ldgi_calloc(1, sizeof *w);
    if (!w)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldg_status s = ldgi_env_open(dir, wdb_names, WDB_COUNT, false, &w->env, err);
    if (s == LDG_E_NOTFOUND)
        s = ldgi_fail(err, s, "%s: no witness here (ldg witness init makes one)", dir);
    if (s == LDG_OK && (s = meta_load(w, err)) == LDG_OK) {
        *out = w;
        return LDG_OK;
    }
    ldg_witness_close(w);
    return s;
}

void
ldg_witness_close(ldg_witness *w)
{
    if (!w)
        return;
    ldg_ledger_close(w->env);
    free(w);
}

const char *
ldg_witness_key_name(const ldg_witness *w)
{
    return w->name;
}

void
ldg_witness_key_public(const ldg_witness *w, uint8_t pub[LDG_PUB_BYTES])
{
    memcpy(pub, w->pub, LDG_PUB_BYTES);
}

const char *
ldg_witness_key_path(const ldg_witness *w)
{
    return w->path;
}

/* ------------------------------------------------------------ logs -- */

#define KEYS_MAX 16 /* trusted keys per origin */

typedef struct addlog_ctx {
    const char *origin;
    size_t olen;
    const char *line; /* the new key's verifier-key line */
} addlog_ctx;

/* [WIT-1] logs: origin -> its trusted keys, one verifier-key line each, each ended by LF. */
static ldg_status
addlog_put(void *ctx, ldgi_txn *t, ldg_err *err)
{
    addlog_ctx *a = ctx;
    const uint8_t *v = NULL;
    size_t vl = 0, ll = strlen(a->line);
    ldg_status s = ldgi_get(t, WDB_LOGS, a->origin, a->olen, &v, &vl, err);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    size_t count = 0;
    for (size_t i = 0; s == LDG_OK && i < vl; count++) {
        const uint8_t *nl = memchr(v + i, '\n', vl - i);
        size_t n = nl ? (size_t)(nl - (v + i)) : vl - i;
        if (n == ll && memcmp(v + i, a->line, ll) == 0)
            return ldgi_fail(err, LDG_E_EXISTS, "log %s: key %s is already trusted", a->origin,
                             a->line);
        i += n + 1;
    }
    if (count >= KEYS_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "log %s: already %d trusted keys, the most", a->origin,
                         KEYS_MAX);
    char *nv = ldgi_malloc(vl + ll + 1);
    if (!nv)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    if (vl)
        memcpy(nv, v, vl);
    memcpy(nv + vl, a->line, ll);
    nv[vl + ll] = '\n';
    s = ldgi_put(t, WDB_LOGS, a->origin, a->olen, nv, vl + ll + 1, false, false, err);
    free(nv);
    return s;
}

ldg_status
ldg_witness_add_log(ldg_witness *w, const char *origin, const char *key_name,
                    const uint8_t pub[LDG_PUB_BYTES], ldg_err *err)
{
    char line[LDG_VKEY_MAX];
    size_t olen = strlen(origin);
    if (!origin_valid(origin, olen))
        return ldgi_fail(err, LDG_E_INPUT,
                         "origin: 1 to %u bytes of UTF-8 without control characters",
                         LDG_WITNESS_ORIGIN_MAX);
    ldg_status s = ldg_vkey_format(key_name, pub, line, err);
    if (s != LDG_OK)
        return s;
    addlog_ctx a = {origin, olen, line};
    return write_txn(w->env, addlog_put, &a, err);
}

/* The keys of one logs value: lines[] point into a copy (*buf) so they can be NUL-ended. */
static size_t
split_keys(const uint8_t *v, size_t vl, char *buf, const char *lines[KEYS_MAX])
{
    size_t n = 0;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    for (char *p = buf; *p && n < KEYS_MAX;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lines[n++] = p;
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

/* The held checkpoint: its size and root, from a note the witness cosigned itself. */
typedef struct held {
    bool present;
    uint64_t size;
    uint8_t root[LDG_HASH_BYTES];
    const char *note; /* view into the transaction */
    size_t len;
} held;

/*
 * Nothing derived is trusted: the size and root held for an origin are read
 * from the stored note, which must carry a log signature under one of keys
 * and the witness's own cosignature; else the state was altered (not by
 * this witness): LDG_E_CORRUPT.
 */
static ldg_status
held_load(ldg_witness *w, ldgi_txn *t, const char *origin, size_t olen, const char *const *keys,
          size_t nkeys, held *h, ldg_err *err)
{
    const uint8_t *v;
    size_t vl;
    memset(h, 0, sizeof *h);
    ldgi_sha256("", 0, h->root); /* the empty tree's head: size 0 */
    ldg_status s = ldgi_get(t, WDB_CHECKPOINTS, origin, olen, &v, &vl, err);
    if (s == LDG_E_NOTFOUND)
        return LDG_OK;
    if (s != LDG_OK)
        return s;
    ldg_checkpoint cp;
    uint64_t ts;
    bool ok = false;
    for (size_t i = 0; i < nkeys && !ok; i++) {
        char name[LDG_NAME_MAX + 1];
        uint8_t pub[LDG_PUB_BYTES];
        ok = ldg_vkey_parse(keys[i], strlen(keys[i]), name, pub, NULL) == LDG_OK &&
             ldg_checkpoint_parse((const char *)v, vl, name, pub, &cp, NULL) == LDG_OK;
    }
    if (!ok || strlen(cp.origin) != olen || memcmp(cp.origin, origin, olen) != 0 ||
        ldg_checkpoint_cosigned((const char *)v, vl, w->name, w->pub, &ts, NULL) != LDG_OK)
        return ldgi_fail(err, LDG_E_CORRUPT,
                         "log %.*s: the checkpoint held is not one this witness cosigned "
                         "(state altered)",
                         (int)olen, origin);
    h->present = true;
    h->size = cp.size;
    memcpy(h->root, cp.root, LDG_HASH_BYTES);
    h->note = (const char *)v;
    h->len = vl;
    return LDG_OK;
}

typedef struct each_ctx {
    ldg_witness *w;
    ldg_witness_log_fn fn;
    void *ctx;
} each_ctx;

ldg_status
ldg_witness_logs_each(ldg_witness *w, ldg_witness_log_fn fn, void *ctx, ldg_err *err)
{
    ldgi_txn *t;
    ldgi_cur *c = NULL;
    ldg_status s = ldgi_txn_begin(w->env, false, &t, err);
    if (s != LDG_OK)
        return s;
    const uint8_t *k, *v;
    size_t kl, vl;
    char *buf = NULL;
    if ((s = ldgi_cur_open(t, WDB_LOGS, &c, err)) != LDG_OK)
        goto out;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        char origin[LDG_WITNESS_ORIGIN_MAX + 1];
        const char *keys[KEYS_MAX];
        if (kl > LDG_WITNESS_ORIGIN_MAX || !(buf = ldgi_malloc(vl + 1))) {
            s = buf ? ldgi_fail(err, LDG_E_CORRUPT, "logs: an origin is too long")
                    : ldgi_fail(err, LDG_E_NOMEM, "out of memory");
            goto out;
        }
        memcpy(origin, k, kl);
        origin[kl] = '\0';
        size_t n = split_keys(v, vl, buf, keys);
        held h;
        if ((s = held_load(w, t, origin, kl, keys, n, &h, err)) != LDG_OK)
            goto out;
        ldg_witness_log lg = {.origin = origin,
                              .nkeys = n,
                              .keys = keys,
                              .size = h.size,
                              .note = h.present ? h.note : NULL,
                              .note_len = h.len};
        memcpy(lg.root, h.root, LDG_HASH_BYTES);
        int stop = fn(ctx, &lg);
        free(buf);
        buf = NULL;
        if (stop)
            break;
    }
    if (s == LDG_E_NOTFOUND || s == LDG_OK)
        s = LDG_OK;
out:
    free(buf);
    ldgi_cur_close(c);
    ldgi_txn_abort(t);
    return s;
}

/* ------------------------------------------------------------ evidence -- */

static const char *const ev_names[] = {"", "fork", "rollback", "inconsistent"};

static bool
parse_dec(const char *p, size_t n, uint64_t *v)
{
    if (n == 0 || n > 19 || (n > 1 && p[0] == '0'))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    *v = x;
    return true;
}

/* One "NAME VALUE\n" header line of an evidence record; advances *p. */
static bool
ev_field(const char **p, const char *end, const char *name, const char **val, size_t *vl)
{
    size_t nl = strlen(name);
    const char *eol = memchr(*p, '\n', (size_t)(end - *p));
    if (!eol || (size_t)(eol - *p) <= nl + 1 || memcmp(*p, name, nl) != 0 || (*p)[nl] != ' ')
        return false;
    *val = *p + nl + 1;
    *vl = (size_t)(eol - *val);
    *p = eol + 1;
    return true;
}

/* [WIT-5] Parses a stored evidence record (the format ev_record writes). */
static bool
ev_parse(const uint8_t *v, size_t vl, ldg_witness_evidence *e)
{
    const char *p = (const char *)v, *end = p + vl, *f;
    size_t fl, ml = sizeof EVIDENCE_MAGIC - 1;
    uint64_t x, hl, rl;
    memset(e, 0, sizeof *e);
    if (vl < ml || memcmp(p, EVIDENCE_MAGIC, ml) != 0)
        return false;
    p += ml;
    if (!ev_field(&p, end, "kind", &f, &fl))
        return false;
    for (int k = 1; k <= 3; k++)
        if (strlen(ev_names[k]) == fl && memcmp(f, ev_names[k], fl) == 0)
            e->kind = k;
    if (!e->kind || !ev_field(&p, end, "status", &f, &fl) || !parse_dec(f, fl, &x) || x > 999)
        return false;
    e->status = (int)x;
    if (!ev_field(&p, end, "time", &f, &fl) || !parse_dec(f, fl, &e->time) ||
        !ev_field(&p, end, "held", &f, &fl) || !parse_dec(f, fl, &hl) ||
        !ev_field(&p, end, "request", &f, &fl) || !parse_dec(f, fl, &rl) || p >= end ||
        *p++ != '\n' || hl > (size_t)(end - p) || rl != (size_t)(end - p) - hl)
        return false;
    e->held = hl ? p : NULL;
    e->held_len = hl;
    e->request = p + hl;
    e->request_len = rl;
    e->record = (const char *)v;
    e->record_len = vl;
    return true;
}

ldg_status
ldg_witness_evidence_each(ldg_witness *w, ldg_witness_evidence_fn fn, void *ctx, ldg_err *err)
{
    ldgi_txn *t;
    ldgi_cur *c = NULL;
    ldg_status s = ldgi_txn_begin(w->env, false, &t, err);
    if (s != LDG_OK)
        return s;
    const uint8_t *k, *v;
    size_t kl, vl;
    if ((s = ldgi_cur_open(t, WDB_EVIDENCE, &c, err)) != LDG_OK)
        goto out;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        char origin[LDG_WITNESS_ORIGIN_MAX + 1];
        ldg_witness_evidence e;
        /* key: origin || 0x00 || SHA-256 of the record from its kind line on, time left out */
        if (kl < 1 + LDG_HASH_BYTES || kl - 1 - LDG_HASH_BYTES > LDG_WITNESS_ORIGIN_MAX ||
            !ev_parse(v, vl, &e)) {
            s = ldgi_fail(err, LDG_E_CORRUPT, "evidence: a damaged record");
            goto out;
        }
        memcpy(origin, k, kl - 1 - LDG_HASH_BYTES);
        origin[kl - 1 - LDG_HASH_BYTES] = '\0';
        e.origin = origin;
        if (fn(ctx, &e))
            break;
    }
    if (s == LDG_E_NOTFOUND || s == LDG_OK)
        s = LDG_OK;
out:
    ldgi_cur_close(c);
    ldgi_txn_abort(t);
    return s;
}

/* [WIT-5] Keeps a refused request as evidence (once: the key is its content's hash). */
static ldg_status
ev_put(ldgi_txn *t, const char *origin, size_t olen, int kind, int status, uint64_t time,
       const held *h, const char *req, size_t len, ldg_err *err)
{
    char head[256];
    size_t hl = h->present ? h->len : 0;
    int n = snprintf(head, sizeof head,
                     EVIDENCE_MAGIC "kind %s\nstatus %d\ntime %llu\nheld %zu\n"
                                    "request %zu\n\n",
                     ev_names[kind], status, (unsigned long long)time, hl, len);
    size_t total = (size_t)n + hl + len;
    uint8_t *rec = ldgi_malloc(total), key[LDG_WITNESS_ORIGIN_MAX + 1 + LDG_HASH_BYTES];
    if (!rec)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    memcpy(rec, head, (size_t)n);
    if (hl)
        memcpy(rec + n, h->note, hl);
    memcpy(rec + n + hl, req, len);
    /* The same refusal seen twice is kept once: the hash leaves the time out. */
    ldgi_sha256_ctx sc;
    ldgi_sha256_init(&sc);
    ldgi_sha256_update(&sc, ev_names[kind], strlen(ev_names[kind]) + 1);
    ldgi_sha256_update(&sc, rec + n, hl + len);
    memcpy(key, origin, olen);
    key[olen] = 0;
    ldgi_sha256_final(&sc, key + olen + 1);
    ldg_status s =
        ldgi_put(t, WDB_EVIDENCE, key, olen + 1 + LDG_HASH_BYTES, rec, total, true, false, NULL);
    free(rec);
    if (s == LDG_E_EXISTS)
        return LDG_OK;
    return s == LDG_OK ? LDG_OK : ldgi_fail(err, s, "evidence: cannot store the refused request");
}

/* ------------------------------------------------- add-checkpoint [WIT-3] -- */

typedef struct request {
    uint64_t old;
    size_t nproof;
    uint8_t proof[LDG_WITNESS_PROOF_MAX][LDG_HASH_BYTES];
    const char *note;
    size_t note_len;
} request;

static void respond(ldg_witness_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
respond(ldg_witness_response *r, int status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    va_start(ap, fmt);
    int n = vsnprintf(r->body, sizeof r->body - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof r->body - 2)
        n = (int)sizeof r->body - 2;
    r->body[n++] = '\n';
    r->body[n] = '\0';
    r->body_len = (size_t)n;
}

/* [WIT-2] The request's framing: "old N", up to 63 base64 hashes, an empty line, the note. */
static bool
parse_request(const char *p, size_t len, request *q, ldg_witness_response *r)
{
    const char *end = p + len, *eol = memchr(p, '\n', len);
    if (!eol || (size_t)(eol - p) < 5 || memcmp(p, "old ", 4) != 0 ||
        !parse_dec(p + 4, (size_t)(eol - p) - 4, &q->old)) {
        respond(r, 400, "the first line must be \"old SIZE\" (decimal, no leading zeros)");
        return false;
    }
    p = eol + 1;
    q->nproof = 0;
    while (p < end && *p != '\n') {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (q->nproof == LDG_WITNESS_PROOF_MAX) {
            respond(r, 400, "more than %u consistency proof lines", LDG_WITNESS_PROOF_MAX);
            return false;
        }
        if (!eol || !ldgi_b64_exact(p, (size_t)(eol - p), q->proof[q->nproof], LDG_HASH_BYTES)) {
            respond(r, 400, "proof line %zu: not the base64 of a 32-byte hash", q->nproof + 1);
            return false;
        }
        q->nproof++;
        p = eol + 1;
    }
    if (p >= end) {
        respond(r, 400, "no empty line and checkpoint after the proof");
        return false;
    }
    q->note = p + 1;
    q->note_len = (size_t)(end - q->note);
    if (q->note_len + COSIG_LINE_MAX > NOTE_MAX) {
        respond(r, 400, "the checkpoint is longer than %d bytes", NOTE_MAX - COSIG_LINE_MAX);
        return false;
    }
    return true;
}

/*
 * The note to keep: the request's, without any signature line in the
 * witness's name (a line someone else put there must not shadow ours), and
 * our cosignature line.
 */
static char *
kept_note(const char *note, size_t len, const char *name, const char *line, size_t ll, size_t *out)
{
    char *s = ldgi_malloc(len + ll);
    if (!s)
        return NULL;
    size_t n = 0, pl = sizeof SIG_PREFIX - 1, nl = strlen(name);
    bool sigs = false;
    for (const char *p = note, *end = note + len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t l = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);
        bool ours = sigs && l > pl + nl + 1 && memcmp(p, SIG_PREFIX, pl) == 0 &&
                    memcmp(p + pl, name, nl) == 0 && p[pl + nl] == ' ';
        if (l == 1 && *p == '\n')
            sigs = true;
        if (!ours) {
            memcpy(s + n, p, l);
            n += l;
        }
        p += l;
    }
    memcpy(s + n, line, ll);
    *out = n + ll;
    return s;
}

typedef struct add_ctx {
    ldg_witness *w;
    const ldg_key *k;
    const char *req;
    size_t len;
    uint64_t ts;
    request q;
    ldg_witness_response *r;
} add_ctx;

/* The whole decision, inside one write transaction; LDG_E_EXISTS: nothing to commit. */
static ldg_status
add_decide(void *ctx, ldgi_txn *t, ldg_err *err)
{
    add_ctx *a = ctx;
    request *q = &a->q;
    ldg_witness_response *r = a->r;
    /* The origin is the note's first line [WIT-3]. */
    const char *nl = memchr(q->note, '\n', q->note_len);
    size_t olen = nl ? (size_t)(nl - q->note) : 0;
    char origin[LDG_WITNESS_ORIGIN_MAX + 1];
    const uint8_t *v;
    size_t vl;
    if (!nl || !origin_valid(q->note, olen)) {
        respond(r, olen > LDG_WITNESS_ORIGIN_MAX ? 404 : 400,
                olen > LDG_WITNESS_ORIGIN_MAX ? "unknown log origin" : "no origin line");
        return LDG_E_EXISTS;
    }
    memcpy(origin, q->note, olen);
    origin[olen] = '\0';
    ldg_status s = ldgi_get(t, WDB_LOGS, origin, olen, &v, &vl, err);
    if (s == LDG_E_NOTFOUND) {
        respond(r, 404, "unknown log origin");
        return LDG_E_EXISTS;
    }
    if (s != LDG_OK)
        return s;
    char *buf = ldgi_malloc(vl + 1);
    if (!buf)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    const char *keys[KEYS_MAX];
    size_t nkeys = split_keys(v, vl, buf, keys);
    /* [WIT-3] a signature by a key trusted for the origin; others are ignored */
    ldg_checkpoint cp;
    bool trusted = false;
    for (size_t i = 0; i < nkeys && !trusted; i++) {
        char name[LDG_NAME_MAX + 1];
        uint8_t pub[LDG_PUB_BYTES];
        if (ldg_vkey_parse(keys[i], strlen(keys[i]), name, pub, NULL) != LDG_OK)
            continue;
        ldg_err e2;
        ldg_status ps = ldg_checkpoint_parse(q->note, q->note_len, name, pub, &cp, &e2);
        if (ps == LDG_E_INPUT) {
            free(buf);
            respond(r, 400, "%s", e2.msg);
            return LDG_E_EXISTS;
        }
        trusted = ps == LDG_OK;
    }
    held h;
    if (trusted)
        s = held_load(a->w, t, origin, olen, keys, nkeys, &h, err);
    free(buf);
    if (!trusted) {
        respond(r, 403, "no signature by a key this witness trusts for the origin verifies");
        return LDG_E_EXISTS;
    }
    if (s != LDG_OK)
        return s;
    /* [WIT-5] what a validly signed checkpoint shows, whatever the old size says */
    int ev = 0;
    if (cp.size < h.size)
        ev = LDG_WITNESS_EV_ROLLBACK;
    else if (cp.size == h.size && sodium_memcmp(cp.root, h.root, LDG_HASH_BYTES) != 0)
        ev = LDG_WITNESS_EV_FORK;
    if (q->old > cp.size) {
        respond(r, 400, "old size %llu is above the checkpoint's size %llu",
                (unsigned long long)q->old, (unsigned long long)cp.size);
    } else if (q->old != h.size) {
        r->status = 409;
        r->content_type = "text/x.tlog.size";
        r->body_len =
            (size_t)snprintf(r->body, sizeof r->body, "%llu\n", (unsigned long long)h.size);
    } else if (cp.size == h.size && ev == LDG_WITNESS_EV_FORK) {
        respond(r, 409, "a different root at the size this witness holds: a fork");
    } else if (q->old == 0 && q->nproof != 0) {
        respond(r, 400, "from old size 0 the consistency proof must be empty");
    } else if (q->old != 0 &&
               !ldg_proof_verify_consistency(q->old, cp.size, h.root, cp.root,
                                             (const uint8_t(*)[32])q->proof, q->nproof)) {
        ev = LDG_WITNESS_EV_INCONSISTENT;
        respond(r, 422, "the consistency proof from size %llu does not verify",
                (unsigned long long)q->old);
    } else {
        /* [WIT-4] cosign, keep it as the latest, answer with the line */
        char *cos;
        size_t cl;
        if ((s = ldg_checkpoint_cosign(q->note, q->note_len, a->k, a->ts, &cos, &cl, err)) !=
            LDG_OK)
            return s;
        size_t ll = cl - q->note_len, kl;
        char *keep = kept_note(q->note, q->note_len, a->w->name, cos + q->note_len, ll, &kl);
        if (!keep) {
            free(cos);
            return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        }
        s = ldgi_put(t, WDB_CHECKPOINTS, origin, olen, keep, kl, false, false, err);
        free(keep);
        if (s == LDG_OK && ll < sizeof r->body) {
            r->status = 200;
            r->content_type = "text/plain; charset=utf-8";
            memcpy(r->body, cos + q->note_len, ll);
            r->body[ll] = '\0';
            r->body_len = ll;
        }
        free(cos);
        return s;
    }
    if (!ev)
        return LDG_E_EXISTS;
    r->evidence = ev;
    return ev_put(t, origin, olen, ev, r->status, a->ts, &h, a->req, a->len, err);
}

ldg_status
ldg_witness_add_checkpoint(ldg_witness *w, const ldg_key *k, const char *req, size_t len,
                           uint64_t timestamp, ldg_witness_response *out, ldg_err *err)
{
    memset(out, 0, sizeof *out);
    if (strcmp(k->name, w->name) != 0 || sodium_memcmp(k->pub, w->pub, LDG_PUB_BYTES) != 0)
        return ldgi_fail(err, LDG_E_USAGE, "key %s is not this witness's key (%s)", k->name,
                         w->name);
    if (timestamp > INT64_MAX)
        return ldgi_fail(err, LDG_E_USAGE, "cosignature time past 2^63 - 1");
    add_ctx *a = ldgi_malloc(sizeof *a);
    if (!a)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    *a = (add_ctx){.w = w, .k = k, .req = req, .len = len, .ts = timestamp, .r = out};
    ldg_status s = LDG_OK;
    if (len > LDG_WITNESS_REQUEST_MAX)
        respond(out, 413, "the request is longer than %u bytes", LDG_WITNESS_REQUEST_MAX);
    else if (parse_request(req, len, &a->q, out)) {
        s = write_txn(w->env, add_decide, a, err);
        if (s == LDG_E_EXISTS) /* decided without a write: nothing was committed */
            s = LDG_OK;
    }
    free(a);
    if (s != LDG_OK)
        memset(out, 0, sizeof *out);
    return s;
}
