/*
 * mirror.c - `ldg mirror`: a sponsor's own, verified copy of a log published
 * as C2SP tlog-tiles (spec/mirror.md).  The published files are hostile
 * input: the checkpoint must verify under the log key the sponsor trusts,
 * every new entry is stored in the mirror's own ldg ledger and checked by the
 * one verify engine, every tile fetched must hold exactly the hashes computed
 * from the entries, and the root of the mirror's tree must be the signed one.
 * The new entries are stored in steps of a bounded size, each its own LMDB
 * write transaction (so memory stays bounded whatever the log's size); they
 * count for nothing until the last transaction, which checks the root and
 * runs the verify engine over all of them, commits the new checkpoint.  A
 * run that fails, or one killed, leaves entries past the held checkpoint: the
 * failed run and, after a kill, the next one drop them [MIR-9].  Network and
 * files are the caller's (a fetch callback).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TILE_W 256u
#define TILE_MAX (TILE_W * LDG_HASH_BYTES)           /* a full hash tile [MIR-2] */
#define BUNDLE_MAX (TILE_W * (2u + 65535u))          /* a full entry bundle */
#define NOTE_MAX 65536u                              /* a checkpoint with its cosignatures */
#define BODYFILE_MAX (LDG_SALT_BYTES + LDG_BODY_MAX) /* body/<N> */

/*
 * [MIR-9] 8 bundles: 2,048 entries per committed step.  LMDB keeps a write
 * transaction's dirty pages in memory; the leaf and commitment indexes are
 * keyed by hashes, so each entry dirties about one page of each, whatever
 * the log's size: 2,048 entries make about 16 MiB.
 */
unsigned ldgi_mirror_step = 8;

#define PENDING_FILE "mirror.pending"

typedef struct mir {
    const ldg_mirror_opts *o;
    ldg_mirror_summary *sum;
    ldg_err *err;
    ldg_ledger *l;
    ldgi_txn *t;
    const char *dir; /* the state's ledger directory (the published one, not the aside) */
    bool fresh;
    bool stepped; /* a step was committed: entries past the held checkpoint are stored */
    uint64_t s0, n;
    uint64_t *erased; /* [MIR-9] held bodies new erasures erase, deleted at the last commit */
    size_t nerased, caperased;
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
    const uint8_t *k, *v;
    size_t kl, vl = 0;
    ldg_status s = ldgi_last(t, LDGI_DB_CHECKPOINTS, &k, &kl, &v, &vl, err);
    if (s == LDG_OK && !(*note = dup_note((const char *)v, vl)))
        s = ldgi_fail(err, LDG_E_NOMEM, "mirror: out of memory");
    *len = vl;
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
        uint64_t deferred;
        s = ldgi_mirror_put(m->t, e, el, body, blen, m->s0, &deferred, why, sizeof why, m->err);
        free(body);
        if (s == LDG_OK && deferred != UINT64_MAX) {
            if (m->nerased == m->caperased) {
                size_t cap = m->caperased ? 2 * m->caperased : 16;
                uint64_t *ne = ldgi_realloc(m->erased, cap * sizeof *ne);
                if (!ne) {
                    s = ldgi_fail(m->err, LDG_E_NOMEM, "mirror: out of memory");
                    goto out;
                }
                m->erased = ne;
                m->caperased = cap;
            }
            m->erased[m->nerased++] = deferred;
        }
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

/* [MIR-9] STATE/ledger/mirror.pending: entries past the held checkpoint may be stored. */
static ldg_status
pending_mark(const char *dir, uint64_t s0, ldg_err *err)
{
    char p[4200], tmp[4300], text[32];
    snprintf(p, sizeof p, "%s/" PENDING_FILE, dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)s0);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    bool ok = fd >= 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, p) == 0;
    int dfd = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    ok = ok && dfd >= 0 && fsync(dfd) == 0;
    if (dfd >= 0)
        close(dfd);
    if (!ok) {
        int e = errno;
        unlink(tmp);
        return ldgi_fail(err, LDG_E_IO, "%s: cannot write: %s", p, strerror(e));
    }
    return LDG_OK;
}

/* The held size the mark names; false when there is none (or it is not one). */
static bool
pending_read(const char *dir, uint64_t *s0)
{
    char p[4200], text[32];
    snprintf(p, sizeof p, "%s/" PENDING_FILE, dir);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 1 || text[n - 1] != '\n')
        return false;
    text[n - 1] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || text[0] < '0' || text[0] > '9')
        return false;
    *s0 = v;
    return true;
}

static void
pending_clear(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/" PENDING_FILE, dir);
    unlink(p);
}

/* [MIR-9] Commits a step's entries (stored, not yet verified) and opens the next step's. */
static ldg_status
step_commit(mir *m, bool *map_full)
{
    *map_full = false;
    ldg_status s;
    if (!m->fresh && !m->stepped && (s = pending_mark(m->dir, m->s0, m->err)) != LDG_OK)
        return s;
    s = ldgi_txn_commit(m->t, map_full, m->err);
    m->t = NULL;
    if (s != LDG_OK)
        return s;
    m->stepped = true;
    return ldgi_txn_begin(m->l, true, &m->t, m->err);
}

/* Entries stored, from the last key (an entry that does not decode is still counted). */
static ldg_status
entries_size(ldgi_txn *t, uint64_t *size, ldg_err *err)
{
    return ldgi_entries_size(t, size, "the mirror's entries database is corrupt", err);
}

/*
 * [MIR-9] Drops the entries past size s0 (what an unfinished run stored),
 * newest first, a step per transaction so memory stays bounded; then the
 * key registry as the first s0 entries built it.
 */
static ldg_status
drop_to(ldg_ledger *l, uint64_t s0, ldg_err *err)
{
    for (;;) {
        ldgi_txn *t;
        ldg_status s = ldgi_txn_begin(l, true, &t, err);
        if (s != LDG_OK)
            return s;
        uint64_t size = 0;
        s = entries_size(t, &size, err);
        uint64_t budget = (uint64_t)(ldgi_mirror_step ? ldgi_mirror_step : 1) * TILE_W;
        while (s == LDG_OK && size > s0 && budget--)
            s = ldgi_mirror_drop(t, --size, err);
        if (s == LDG_OK && size <= s0)
            s = ldgi_mirror_drop_keys(t, s0, err);
        bool map_full = s != LDG_OK && ldgi_txn_map_full(t);
        if (s == LDG_OK) {
            s = ldgi_txn_commit(t, &map_full, err);
            t = NULL;
        }
        ldgi_txn_abort(t);
        if (s == LDG_OK && size <= s0)
            return LDG_OK;
        if (s != LDG_OK && (!map_full || !ldgi_map_grow(l, err)))
            return s;
    }
}

/* Everything after the checkpoint checked: fetch, store and verify what is new. */
static ldg_status
advance(mir *m, const ldg_checkpoint *cp, const char *note, size_t len,
        const uint8_t r0[LDG_HASH_BYTES])
{
    bool bad = false;
    ldg_status s = LDG_OK;
    /*
     * [MIR-3] entry bundles from the one holding entry s0 on, and their level-0
     * tiles; [MIR-9] committed every ldgi_mirror_step bundles.  A step that
     * fills the map is done again in a grown one.
     */
    uint64_t k0 = m->s0 / TILE_W, klast = (m->n - 1) / TILE_W;
    uint64_t step = ldgi_mirror_step ? ldgi_mirror_step : 1, kstep = k0;
    size_t estep = 0;
    for (uint64_t k = k0; k <= klast; k++) {
        uint64_t w = m->n - k * TILE_W < TILE_W ? m->n - k * TILE_W : TILE_W;
        if ((s = take_bundle(m, k, w, &bad)) == LDG_OK && !bad)
            s = check_tile(m, 0, k, w, &bad);
        if (s == LDG_OK && bad)
            return s;
        bool map_full = s != LDG_OK && ldgi_txn_map_full(m->t);
        if (s == LDG_OK && k < klast && k + 1 - kstep == step) {
            s = step_commit(m, &map_full);
            if (s == LDG_OK) {
                kstep = k + 1;
                estep = m->nerased;
                continue;
            }
        }
        if (s == LDG_OK)
            continue;
        if (!map_full)
            return s;
        /* the step again, in a grown map */
        ldgi_txn_abort(m->t);
        m->t = NULL;
        if (!ldgi_map_grow(m->l, m->err))
            return LDG_E_FULL;
        if ((s = ldgi_txn_begin(m->l, true, &m->t, m->err)) != LDG_OK)
            return s;
        m->nerased = estep;
        k = kstep - 1; /* wraps when kstep is 0: the loop's k++ makes it kstep */
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
    /* [MIR-9] held bodies the new erasures erase go in the commit that holds the erasures */
    for (size_t i = 0; i < m->nerased; i++) {
        ldgi_be64(sk, m->erased[i]);
        s = ldgi_del(m->t, LDGI_DB_BODIES, sk, 8, m->err);
        if (s != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
    }
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

/* [MIR-9] One run at a time on a state: an exclusive lock on its ledger directory. */
static ldg_status
lock_state(const char *dir, int *fd, ldg_err *err)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return ldgi_fail(err, LDG_E_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return ldgi_fail(err, LDG_E_IO, "%s: %s", dir, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return e == EWOULDBLOCK ? ldgi_fail(err, LDG_E_IO,
                                            "%s: another ldg mirror is running on this state", dir)
                                : ldgi_fail(err, LDG_E_IO, "%s: cannot lock: %s", dir, strerror(e));
    }
    return LDG_OK;
}

/* [MIR-9] A first run killed left its aside ledger (.init-*): under the lock, nobody's. */
static void
remove_stale_aside(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ".init-", 6) != 0)
            continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        ldgi_ledger_remove_files(p);
        rmdir(p);
    }
    closedir(d);
}

/*
 * [MIR-9] Before a run: entries a killed run stored past the checkpoint held
 * are dropped (never verified, never kept).  Without the mark a killed run
 * leaves, entries past it are not the mirror's: run() refuses the state.
 */
static ldg_status
drop_unfinished(ldg_ledger *l, const char *dir, ldg_err *err)
{
    uint64_t marked;
    if (!pending_read(dir, &marked))
        return LDG_OK;
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    uint64_t held = 0, size = 0;
    ldgi_cur *c;
    if ((s = ldgi_cur_open(t, LDGI_DB_CHECKPOINTS, &c, err)) == LDG_OK) {
        const uint8_t *k, *v;
        size_t kl, vl;
        s = ldgi_cur_last(c, &k, &kl, &v, &vl, err);
        if (s == LDG_OK && kl == 8)
            held = ldgi_rd64(k);
        ldgi_cur_close(c);
    }
    if (s == LDG_OK || s == LDG_E_NOTFOUND)
        s = entries_size(t, &size, err);
    ldgi_txn_abort(t);
    if (s != LDG_OK)
        return s;
    /* killed before its last commit: entries past the mark; after it: the mark alone */
    if (held == marked && size > held && (s = drop_to(l, held, err)) != LDG_OK)
        return s;
    if (held == marked || size == held)
        pending_clear(dir);
    return LDG_OK;
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
    int lockfd = -1;
    if ((s = lock_state(ledger_dir, &lockfd, err)) != LDG_OK)
        return s;
    ldg_ledger *l = NULL;
    bool fresh = false;
    s = ldg_ledger_open(ledger_dir, 0, &l, err);
    if (s == LDG_E_NOTFOUND) {
        fresh = true;
        remove_stale_aside(ledger_dir);
        s = ldgi_ledger_create_env(ledger_dir, &l, err);
    } else if (s == LDG_OK) {
        s = drop_unfinished(l, ledger_dir, err);
        if (s != LDG_OK)
            ldg_ledger_close(l);
    }
    if (s != LDG_OK) {
        close(lockfd);
        return s;
    }
    for (;;) {
        mir m = {.o = o, .sum = sum, .err = err, .l = l, .dir = ledger_dir, .fresh = fresh};
        s = run(&m, l, fresh, tname, tpub);
        bool map_full = m.t && ldgi_txn_map_full(m.t);
        bool done = s == LDG_OK && sum->outcome == LDG_MIRROR_UPDATED;
        if (done) {
            s = ldgi_txn_commit(m.t, &map_full, err);
            m.t = NULL;
        }
        ldgi_txn_abort(m.t);
        free(m.erased);
        bool retry = s != LDG_OK && map_full && ldgi_map_grow(l, err);
        if (s == LDG_OK && done && m.stepped && !fresh)
            pending_clear(ledger_dir);
        /*
         * [MIR-9] A run that did not commit its checkpoint drops what its steps
         * stored (a fresh ledger is dropped whole, unless the run is done again).
         */
        if (!(s == LDG_OK && done) && m.stepped && (!fresh || retry)) {
            ldg_err de;
            ldg_status ds = drop_to(l, m.s0, &de);
            if (ds == LDG_OK && !fresh)
                pending_clear(ledger_dir);
            if (ds != LDG_OK && s == LDG_OK) {
                s = ds;
                if (err)
                    *err = de;
            }
        }
        if (!retry)
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
    close(lockfd);
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
