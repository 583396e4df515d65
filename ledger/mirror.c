/*
 * mirror.c - `ldg mirror`: a sponsor's own, verified copy of a log published
 * as C2SP tlog-tiles (spec/mirror.md).  The published files are hostile
 * input: the checkpoint must verify under the log key the sponsor trusts,
 * every new entry is stored in the mirror's own ldg ledger and checked by the
 * one verify engine, every tile fetched must hold exactly the hashes computed
 * from the entries, and the root of the mirror's tree must be the signed one.
 * Everything happens in one LMDB write transaction, committed only when all
 * of it held.  Network and files are the caller's (a fetch callback).
 */
#include "internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TILE_W 256u
#define TILE_MAX (TILE_W * LDG_HASH_BYTES)           /* a full hash tile [MIR-2] */
#define BUNDLE_MAX (TILE_W * (2u + 65535u))          /* a full entry bundle */
#define NOTE_MAX 65536u                              /* a checkpoint with its cosignatures */
#define BODYFILE_MAX (LDG_SALT_BYTES + LDG_BODY_MAX) /* body/<N> */

typedef struct mir {
    const ldg_mirror_opts *o;
    ldg_mirror_summary *sum;
    ldg_err *err;
    ldg_ledger *l;
    ldgi_txn *t;
    uint64_t s0, n;
    char first_fail[600];
    bool have_fail;
} mir;

static ldg_status
fetch(mir *m, const char *path, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    ldg_status s = m->o->fetch(m->o->fetch_ctx, path, max, out, len, m->err);
    if (s == LDG_OK && *len > max) {
        free(*out);
        *out = NULL;
        return ldgi_fail(m->err, LDG_E_IO, "%s: more than %zu bytes: refused", path, max);
    }
    if (s == LDG_OK) {
        m->sum->fetches++;
        m->sum->bytes += *len;
    } else if (s == LDG_E_NOTFOUND) {
        ldgi_fail(m->err, LDG_E_NOTFOUND,
                  "%s: not served, though the checkpoint needs it (an incomplete tile set; "
                  "nothing committed)",
                  path);
    } else if (s != LDG_E_IO && s != LDG_E_NOMEM) {
        s = LDG_E_IO;
    }
    return s;
}

/* Records a finding outcome: the run stops, nothing is committed. */
static ldg_status found(mir *m, ldg_mirror_outcome what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ldg_status
found(mir *m, ldg_mirror_outcome what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->sum->why, sizeof m->sum->why, fmt, ap);
    va_end(ap);
    m->sum->outcome = what;
    return LDG_OK;
}

static char *
dup_note(const char *p, size_t n)
{
    char *d = ldgi_malloc(n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/* The newest checkpoint the mirror holds, in t (LDG_E_NOTFOUND: none). */
static ldg_status
held_note(ldgi_txn *t, char **note, size_t *len, ldg_err *err)
{
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_CHECKPOINTS, &c, err);
    if (s != LDG_OK)
        return s;
    const uint8_t *k, *v;
    size_t kl, vl;
    s = ldgi_cur_last(c, &k, &kl, &v, &vl, err);
    if (s == LDG_OK && !(*note = dup_note((const char *)v, vl)))
        s = ldgi_fail(err, LDG_E_NOMEM, "mirror: out of memory");
    *len = vl;
    ldgi_cur_close(c);
    return s;
}

/* [MIR-4] Hash tile (level L, index k, width w) must hold exactly the mirror's own nodes. */
static ldg_status
check_tile(mir *m, unsigned L, uint64_t k, uint64_t w, bool *bad)
{
    char path[128], lv[8];
    snprintf(lv, sizeof lv, "%u", L);
    ldgi_tile_path(lv, k, w, path, sizeof path);
    uint8_t *b;
    size_t bl;
    ldg_status s = fetch(m, path, TILE_MAX, &b, &bl);
    if (s != LDG_OK)
        return s;
    m->sum->tiles++;
    *bad = true;
    if (bl != w * LDG_HASH_BYTES) {
        found(m, LDG_MIRROR_BAD_TILES, "%s: %zu bytes, not %llu (a truncated or padded tile)", path,
              bl, (unsigned long long)(w * LDG_HASH_BYTES));
        free(b);
        return LDG_OK;
    }
    uint64_t held = (m->s0 >> (8 * L)); /* nodes of this level the mirror verified before */
    for (uint64_t j = 0; j < w; j++) {
        uint8_t h[LDG_HASH_BYTES];
        uint64_t idx = k * TILE_W + j;
        if (!ldgi_tree_node(m->t, 8 * L, idx, h)) {
            free(b);
            return ldgi_fail(m->err, LDG_E_CORRUPT,
                             "the mirror's tree node (%u, %llu) is missing; run ldg verify on it",
                             8 * L, (unsigned long long)idx);
        }
        if (sodium_memcmp(h, b + j * LDG_HASH_BYTES, LDG_HASH_BYTES) != 0) {
            if (idx < held)
                found(m, LDG_MIRROR_REWRITTEN,
                      "%s: hash %llu differs from the one the mirror verified before (a "
                      "rewritten tile)",
                      path, (unsigned long long)j);
            else
                found(m, LDG_MIRROR_BAD_TILES,
                      "%s: hash %llu is not the one computed from the entry bundles", path,
                      (unsigned long long)j);
            free(b);
            return LDG_OK;
        }
    }
    free(b);
    *bad = false;
    return LDG_OK;
}

/* [MIR-3] Entry bundle k of width w: held entries byte for byte, new ones stored. */
static ldg_status
take_bundle(mir *m, uint64_t k, uint64_t w, bool *bad)
{
    char path[128];
    ldgi_tile_path("entries", k, w, path, sizeof path);
    uint8_t *b;
    size_t bl;
    ldg_status s = fetch(m, path, BUNDLE_MAX, &b, &bl);
    if (s != LDG_OK)
        return s;
    m->sum->bundles++;
    *bad = true;
    size_t at = 0;
    for (uint64_t j = 0; j < w; j++) {
        uint64_t seq = k * TILE_W + j;
        if (bl - at < 2) {
            found(m, LDG_MIRROR_BAD_TILES, "%s: ends after %llu of its %llu entries", path,
                  (unsigned long long)j, (unsigned long long)w);
            goto out;
        }
        size_t el = (size_t)b[at] << 8 | b[at + 1];
        at += 2;
        if (bl - at < el) {
            found(m, LDG_MIRROR_BAD_TILES, "%s: entry %llu is cut short", path,
                  (unsigned long long)seq);
            goto out;
        }
        const uint8_t *e = b + at;
        at += el;
        if (seq < m->s0) {
            uint8_t sk[8];
            const uint8_t *v;
            size_t vl;
            ldgi_be64(sk, seq);
            if ((s = ldgi_get(m->t, LDGI_DB_ENTRIES, sk, 8, &v, &vl, m->err)) != LDG_OK)
                goto out;
            if (vl != el || memcmp(v, e, el) != 0) {
                found(m, LDG_MIRROR_REWRITTEN,
                      "%s: entry %llu differs from the one the mirror verified before (a "
                      "rewritten entry bundle)",
                      path, (unsigned long long)seq);
                goto out;
            }
            continue;
        }
        uint8_t *body = NULL;
        size_t blen = 0;
        if (m->o->bodies) {
            char ix[64], bp[96];
            ldgi_index_path(seq, ix, sizeof ix);
            snprintf(bp, sizeof bp, "body/%s", ix);
            s = m->o->fetch(m->o->fetch_ctx, bp, BODYFILE_MAX, &body, &blen, m->err);
            if (s == LDG_E_NOTFOUND) {
                body = NULL;
            } else if (s != LDG_OK) {
                goto out;
            } else if (blen > BODYFILE_MAX) {
                free(body);
                s = ldgi_fail(m->err, LDG_E_IO, "%s: more than %u bytes: refused", bp,
                              (unsigned)BODYFILE_MAX);
                goto out;
            } else {
                m->sum->fetches++;
                m->sum->bytes += blen;
                m->sum->bodies++;
            }
            s = LDG_OK;
        }
        char why[500];
        s = ldgi_mirror_put(m->t, e, el, body, blen, why, sizeof why, m->err);
        free(body);
        if (s == LDG_E_CORRUPT || s == LDG_E_POLICY) {
            s = LDG_OK;
            found(m, LDG_MIRROR_BAD_ENTRIES, "entry %llu (%s): %s", (unsigned long long)seq, path,
                  why);
            goto out;
        }
        if (s != LDG_OK)
            goto out;
    }
    if (at != bl) {
        found(m, LDG_MIRROR_BAD_TILES, "%s: %zu bytes after its %llu entries", path, bl - at,
              (unsigned long long)w);
        goto out;
    }
    *bad = false;
out:
    free(b);
    return s;
}

static void
on_finding(void *ctx, ldg_finding_level level, uint64_t seq, const char *check, const char *detail)
{
    mir *m = ctx;
    if (level == LDG_FINDING_FAIL && !m->have_fail) {
        m->have_fail = true;
        if (seq == UINT64_MAX)
            snprintf(m->first_fail, sizeof m->first_fail, "%s: %s", check, detail);
        else
            snprintf(m->first_fail, sizeof m->first_fail, "entry %llu: %s: %s",
                     (unsigned long long)seq, check, detail);
    }
    if (m->o->on_finding)
        m->o->on_finding(m->o->ctx, level, seq, check, detail);
}

/*
 * [MIR-4] --recheck: every full tile and entry bundle the held checkpoint
 * covers, fetched again and compared with what the mirror verified (its own
 * entries and tree): a full tile is immutable [PUB-2], so any difference is
 * a rewrite.  Partial tiles are not looked at (an operator may delete them).
 */
static ldg_status
recheck(mir *m, bool *bad)
{
    ldg_status s = LDG_OK;
    for (uint64_t k = 0; k < m->s0 / TILE_W; k++) {
        if ((s = take_bundle(m, k, TILE_W, bad)) != LDG_OK || *bad)
            return s;
        if ((s = check_tile(m, 0, k, TILE_W, bad)) != LDG_OK || *bad)
            return s;
        m->sum->rechecked += 2;
    }
    for (unsigned L = 1; L < 8; L++) {
        uint64_t had = m->s0 >> (8 * L);
        for (uint64_t k = 0; k < had / TILE_W; k++) {
            if ((s = check_tile(m, L, k, TILE_W, bad)) != LDG_OK || *bad)
                return s;
            m->sum->rechecked++;
        }
    }
    return LDG_OK;
}

/* Everything after the checkpoint checked: fetch, store and verify what is new. */
static ldg_status
advance(mir *m, const ldg_checkpoint *cp, const char *note, size_t len,
        const uint8_t r0[LDG_HASH_BYTES])
{
    bool bad = false;
    ldg_status s = LDG_OK;
    /* [MIR-3] entry bundles from the one holding entry s0 on, and their level-0 tiles */
    for (uint64_t k = m->s0 / TILE_W; !bad && k <= (m->n - 1) / TILE_W; k++) {
        uint64_t w = m->n - k * TILE_W < TILE_W ? m->n - k * TILE_W : TILE_W;
        if ((s = take_bundle(m, k, w, &bad)) != LDG_OK || bad)
            return s;
        if ((s = check_tile(m, 0, k, w, &bad)) != LDG_OK || bad)
            return s;
    }
    /* [MIR-4] hash tiles of the levels above, where they changed */
    for (unsigned L = 1; L < 8; L++) {
        uint64_t had = m->s0 >> (8 * L), now = m->n >> (8 * L);
        if (now == 0 || now == had)
            break;
        for (uint64_t k = had / TILE_W; k <= (now - 1) / TILE_W; k++) {
            uint64_t w = now - k * TILE_W < TILE_W ? now - k * TILE_W : TILE_W;
            if ((s = check_tile(m, L, k, w, &bad)) != LDG_OK || bad)
                return s;
        }
    }
    /* [MIR-5] the signed root, and consistency with the checkpoint held */
    uint8_t root[LDG_HASH_BYTES];
    if (!ldgi_merkle_root(m->n, ldgi_tree_node, m->t, root))
        return ldgi_fail(m->err, LDG_E_CORRUPT, "the mirror's tree is missing a node");
    if (sodium_memcmp(root, cp->root, LDG_HASH_BYTES) != 0)
        return found(m, m->s0 ? LDG_MIRROR_FORK : LDG_MIRROR_BAD_TILES,
                     "the entries published%s do not give the root the checkpoint of size %llu "
                     "signs (altered entries, or a log forked from the one held)",
                     m->s0 ? ", after the ones held," : "", (unsigned long long)m->n);
    if (m->s0) {
        uint8_t(*proof)[LDG_HASH_BYTES] = ldgi_malloc(LDGI_PROOF_MAX * LDG_HASH_BYTES);
        if (!proof)
            return ldgi_fail(m->err, LDG_E_NOMEM, "mirror: out of memory");
        size_t np =
            ldgi_merkle_consistency(m->s0, m->n, ldgi_tree_node, m->t, proof, LDGI_PROOF_MAX);
        bool ok = np != SIZE_MAX &&
                  ldgi_merkle_verify_consistency(m->s0, m->n, r0, cp->root,
                                                 (const uint8_t(*)[LDG_HASH_BYTES])proof, np);
        free(proof);
        if (!ok)
            return found(m, LDG_MIRROR_FORK,
                         "no consistency proof from the checkpoint held (size %llu) to the new "
                         "one (size %llu)",
                         (unsigned long long)m->s0, (unsigned long long)m->n);
    }
    /* [MIR-6] the new checkpoint joins the history; the verify engine checks everything new */
    uint8_t sk[8];
    ldgi_be64(sk, m->n);
    if ((s = ldgi_put(m->t, LDGI_DB_CHECKPOINTS, sk, 8, note, len, false, false, m->err)) != LDG_OK)
        return s;
    ldg_verify_opts vo = {
        .jobs = m->o->jobs, .on_finding = on_finding, .ctx = m, .since_size = m->s0};
    memcpy(vo.since_root, r0, LDG_HASH_BYTES);
    ldgi_verify_x x = {.snap = m->t, .tie_size = m->n, .withheld_ok = !m->o->bodies};
    memcpy(x.tie_root, cp->root, LDG_HASH_BYTES);
    ldg_verify_summary vs;
    memset(&vs, 0, sizeof vs);
    if ((s = ldgi_verify_run(m->l, &vo, &vs, &x, m->err)) != LDG_OK)
        return s;
    m->sum->failures = vs.failures;
    m->sum->withheld = vs.withheld;
    if (vs.failures)
        return found(m, LDG_MIRROR_BAD_ENTRIES, "%llu verify failure%s; the first: %s",
                     (unsigned long long)vs.failures, vs.failures == 1 ? "" : "s",
                     m->have_fail ? m->first_fail : "?");
    m->sum->outcome = LDG_MIRROR_UPDATED;
    return LDG_OK;
}

static ldg_status
run(mir *m, ldg_ledger *l, bool fresh, const char *tname, const uint8_t tpub[LDG_PUB_BYTES])
{
    const ldg_mirror_opts *o = m->o;
    ldg_mirror_summary *sum = m->sum;
    ldg_status s = ldgi_txn_begin(l, true, &m->t, m->err);
    if (s != LDG_OK)
        return s;
    ldg_checkpoint held = {0};
    uint8_t r0[LDG_HASH_BYTES] = {0};
    if (!fresh) {
        s = held_note(m->t, &sum->held_note, &sum->held_len, m->err);
        if (s == LDG_E_NOTFOUND)
            s = ldgi_fail(m->err, LDG_E_CORRUPT,
                          "the mirror's ledger holds no checkpoint: not a "
                          "mirror's state");
        if (s != LDG_OK)
            return s;
        if (ldg_checkpoint_parse(sum->held_note, sum->held_len, tname, tpub, &held, NULL) != LDG_OK)
            return ldgi_fail(m->err, LDG_E_CORRUPT,
                             "the checkpoint the mirror holds does not verify under the trusted "
                             "log key (another log's state, or --trust changed)");
        uint64_t size;
        uint8_t head[LDG_HASH_BYTES];
        if ((s = ldgi_head(m->t, &size, head, NULL, m->err)) != LDG_OK)
            return s;
        if (size != held.size)
            return ldgi_fail(m->err, LDG_E_CORRUPT,
                             "the mirror's ledger holds %llu entries, its newest checkpoint %llu: "
                             "not a mirror's state (appended to?)",
                             (unsigned long long)size, (unsigned long long)held.size);
        m->s0 = held.size;
        memcpy(r0, held.root, LDG_HASH_BYTES);
    }
    sum->old_size = m->s0;
    uint8_t *nb;
    size_t nl;
    if ((s = fetch(m, "checkpoint", NOTE_MAX, &nb, &nl)) != LDG_OK)
        return s;
    sum->fetched_note = dup_note((const char *)nb, nl);
    sum->fetched_len = nl;
    free(nb);
    if (!sum->fetched_note)
        return ldgi_fail(m->err, LDG_E_NOMEM, "mirror: out of memory");
    /* [MIR-2] the checkpoint: the log key's, this origin, the witnesses' quorum */
    ldg_checkpoint cp;
    ldg_err pe;
    if (ldg_checkpoint_parse(sum->fetched_note, nl, tname, tpub, &cp, &pe) != LDG_OK)
        return found(m, LDG_MIRROR_BAD_CHECKPOINT, "checkpoint: %s", pe.msg);
    sum->size = cp.size;
    if (!fresh && strcmp(cp.origin, held.origin) != 0)
        return found(m, LDG_MIRROR_BAD_CHECKPOINT,
                     "checkpoint: origin is not the one of the checkpoint held");
    /* [CKP-7] the one witness-policy check every verifier uses */
    if (o->nwitness) {
        ldg_witness_check *wc = ldgi_calloc(o->nwitness, sizeof *wc);
        if (!wc)
            return ldgi_fail(m->err, LDG_E_NOMEM, "mirror: out of memory");
        int64_t now;
        ldg_time_now(&now, NULL);
        size_t good = 0;
        ldg_err we;
        ldg_status ws =
            ldg_checkpoint_witnessed(sum->fetched_note, nl, tpub, o->witness, o->nwitness,
                                     o->quorum, (uint64_t)(now / 1000000000), wc, &good, &we);
        free(wc);
        if (ws == LDG_E_USAGE || ws == LDG_E_INPUT)
            return ldgi_fail(m->err, ws, "--witness: %s", we.msg);
        if (ws != LDG_OK)
            return found(m, LDG_MIRROR_BAD_CHECKPOINT, "checkpoint: %s", we.msg);
    }
    if (cp.size == 0)
        return found(m, LDG_MIRROR_BAD_CHECKPOINT, "checkpoint: an empty log has no genesis");
    /* [MIR-3] against the checkpoint held */
    if (cp.size < m->s0)
        return found(m, LDG_MIRROR_ROLLBACK,
                     "the published checkpoint has size %llu, smaller than the %llu held (a "
                     "rollback)",
                     (unsigned long long)cp.size, (unsigned long long)m->s0);
    if (cp.size == m->s0 && sodium_memcmp(cp.root, r0, LDG_HASH_BYTES) != 0)
        return found(m, LDG_MIRROR_FORK,
                     "two checkpoints signed for size %llu with different roots (a fork)",
                     (unsigned long long)cp.size);
    if (o->recheck) {
        bool bad = false;
        if ((s = recheck(m, &bad)) != LDG_OK || bad)
            return s;
    }
    if (cp.size == m->s0) {
        sum->outcome = LDG_MIRROR_UP_TO_DATE;
        return LDG_OK;
    }
    m->n = cp.size;
    return advance(m, &cp, sum->fetched_note, nl, r0);
}

ldg_status
ldg_mirror(const char *ledger_dir, const ldg_mirror_opts *o, ldg_mirror_summary *sum, ldg_err *err)
{
    if (!sum)
        return ldgi_fail(err, LDG_E_USAGE, "mirror: no summary");
    memset(sum, 0, sizeof *sum);
    if (!ledger_dir || !o || !o->fetch || !o->trust)
        return ldgi_fail(err, LDG_E_USAGE, "mirror: no state, fetcher or trusted key");
    if (o->quorum > o->nwitness)
        return ldgi_fail(err, LDG_E_USAGE, "mirror: quorum %zu of %zu witnesses", o->quorum,
                         o->nwitness);
    char tname[LDG_NAME_MAX + 1];
    uint8_t tpub[LDG_PUB_BYTES];
    ldg_status s = ldg_vkey_parse(o->trust, strlen(o->trust), tname, tpub, err);
    if (s != LDG_OK)
        return ldgi_fail(err, LDG_E_INPUT, "--trust: %s", err ? err->msg : "bad key");
    ldg_ledger *l = NULL;
    bool fresh = false;
    s = ldg_ledger_open(ledger_dir, 0, &l, err);
    if (s == LDG_E_NOTFOUND) {
        fresh = true;
        s = ldgi_ledger_create_env(ledger_dir, &l, err);
    }
    if (s != LDG_OK)
        return s;
    for (;;) {
        mir m = {.o = o, .sum = sum, .err = err, .l = l};
        s = run(&m, l, fresh, tname, tpub);
        bool map_full = m.t && ldgi_txn_map_full(m.t);
        if (s == LDG_OK && sum->outcome == LDG_MIRROR_UPDATED) {
            s = ldgi_txn_commit(m.t, &map_full, err);
            m.t = NULL;
        }
        ldgi_txn_abort(m.t);
        /* A full map is not a failure while it can grow: the whole run again. */
        if (s == LDG_OK || !map_full || !ldgi_map_grow(l, err))
            break;
        ldg_mirror_summary_clear(sum);
        memset(sum, 0, sizeof *sum);
    }
    if (fresh) {
        ldg_status ok = s == LDG_OK && sum->outcome == LDG_MIRROR_UPDATED ? LDG_OK
                        : s != LDG_OK                                     ? s
                                                                          : LDG_E_CORRUPT;
        ldg_status f = ldgi_ledger_create_finish(l, ledger_dir, ok, err);
        if (s == LDG_OK && ok == LDG_OK)
            s = f;
    } else {
        ldg_ledger_close(l);
    }
    return s;
}

void
ldg_mirror_summary_clear(ldg_mirror_summary *sum)
{
    if (!sum)
        return;
    free(sum->held_note);
    free(sum->fetched_note);
    sum->held_note = sum->fetched_note = NULL;
}
