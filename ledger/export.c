/*
 * export.c - the records of an export, checked: one read snapshot; first
 * a walk that replays the key registry from the signed key records; then
 * the filtered records in sequence order, selected by decoding every entry of
 * the range (no index) [EXP-4], their signatures checked on all cores a
 * batch at a time.  The tree heads the export is tied to are recomputed
 * from every stored entry below them (so a changed byte anywhere below the
 * checkpoint shows): by the first walk, or, when the records are every one
 * of those entries, from the records' own leaf hashes (headfold).  A batch
 * is bounded in records and bytes, so memory does not grow with the
 * ledger.  The same first walk notes every plan record
 * [PLAN-3]: each record handed out carries the plan in force in its study
 * and that plan's claimed-time tolerance [EXP-11], whatever the filters.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 512
#define BATCH_BYTES (8u << 20)
#define ROW_KEEP (16u << 10) /* a row buffer larger than this is freed after its batch */
#define HBLOCK_BITS 6        /* ldgi_root64's: a block of 64 leaves hashed as one subtree */
#define HBLOCK (1u << HBLOCK_BITS)

/* Records waiting for their signatures to be checked, and the threads checking them. */
typedef struct batch {
    ldg_record *r[BATCH];
    ldgi_rowbuf row[BATCH]; /* with a writer: each record's row, formatted ahead */
    bool row_ok[BATCH];
    const ldg_export_writer *w;
    ldg_record *dead[BATCH]; /* handed over last time: freed by whoever checks this batch next */
    size_t ndead;
    _Atomic size_t dnext;
    size_t n, bytes;
    _Atomic size_t next;
    uint64_t proven;
    ldgi_pool *pool; /* its helpers (NULL: none), started once per export */
    bool posted;     /* the helpers have this batch */
} batch;

/*
 * Two batches in flight: while helper threads check the signatures of the
 * batch just filled, the caller hands over the one before (formatting is
 * the caller's), then helps with what is left.
 */
typedef struct checker {
    batch b[2];
    batch *cur, *prev; /* filling; being checked (or NULL) */
    unsigned jobs;
    ldg_record_fn fn;
    void *ctx;
    int stop;
    const ldg_check_opts *o;
    uint64_t total;
    ldg_ledger *l;
    struct plans *pl; /* [EXP-11] the plan records, for the plan in force */
    bool nomem;
    struct headfold *hf; /* the heads from the records' own leaves (NULL: heads() hashed them) */
} checker;

/*
 * [EXP-11] The plan records among the entries walked, in seq order, found
 * by decoding the entries (never an index), each with the tolerance its
 * body sets (the default when the body is absent, does not match its
 * commitment or is not a plan ldg_plan_parse accepts).  Then, as records
 * go by in seq order, the plan in force per study: the latest plan of that
 * study before the record.
 */
typedef struct plan_at {
    uint64_t seq;
    int64_t tol;
    char *study;
    ldg_plan *plan; /* parsed; NULL when its body cannot say */
} plan_at;

typedef struct plans {
    plan_at *v;
    size_t n, cap;
    size_t next;   /* the first plan not yet in force */
    plan_at **cur; /* per study, the plan in force so far */
    size_t ncur, capcur;
} plans;

static void
plans_free(plans *pl)
{
    if (!pl)
        return;
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->v[i].study);
        ldg_plan_free(pl->v[i].plan);
    }
    free(pl->v);
    free(pl->cur);
    free(pl);
}

/* The plan a plan record's body sets (*out NULL when it cannot say: absent, altered, malformed). */
static ldg_status
plan_load(ldgi_txn *t, uint64_t seq, const uint8_t commitment[LDG_HASH_BYTES], ldg_plan **out,
          ldg_err *err)
{
    *out = NULL;
    uint8_t bk[8];
    const uint8_t *bv;
    size_t bl;
    ldgi_be64(bk, seq);
    ldg_status s = ldgi_get(t, LDGI_DB_BODIES, bk, 8, &bv, &bl, err);
    if (s == LDG_E_NOTFOUND)
        return LDG_OK; /* withheld or erased */
    if (s != LDG_OK)
        return s;
    uint8_t c[LDG_HASH_BYTES];
    if (bl < LDG_SALT_BYTES)
        return LDG_OK;
    ldgi_body_commit(bv, bv + LDG_SALT_BYTES, bl - LDG_SALT_BYTES, c);
    if (sodium_memcmp(c, commitment, LDG_HASH_BYTES) != 0)
        return LDG_OK; /* does not match what was signed: it sets nothing */
    ldg_err perr;
    if (ldg_plan_parse((const char *)bv + LDG_SALT_BYTES, bl - LDG_SALT_BYTES, out, &perr) !=
        LDG_OK)
        *out = NULL;
    return LDG_OK;
}

/* Notes entry seq when it is a plan record. */
static ldg_status
plan_note(plans *pl, ldgi_txn *t, uint64_t seq, const uint8_t *v, size_t vl, ldg_err *err)
{
    ldgi_entry e;
    ldgi_stmt st;
    const char *why = "?";
    if (!ldgi_entry_decode_proven(v, vl, &e, &why))
        return ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode (%s); run ldg verify",
                         (unsigned long long)seq, why);
    if (ldgi_stmt_peek(e.stmt, e.stmt_len, &st) &&
        !(st.kind.len == 4 && memcmp(st.kind.p, "plan", 4) == 0))
        return LDG_OK;
    if (!ldgi_entry_decode(v, vl, &e, &why) || !ldgi_stmt_decode(e.stmt, e.stmt_len, &st, &why))
        return ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode (%s); run ldg verify",
                         (unsigned long long)seq, why ? why : "?");
    if (!(st.kind.len == 4 && memcmp(st.kind.p, "plan", 4) == 0))
        return LDG_OK;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 8;
        plan_at *nv = ldgi_realloc(pl->v, cap * sizeof *nv);
        if (!nv)
            return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        pl->v = nv, pl->cap = cap;
    }
    plan_at *a = &pl->v[pl->n];
    a->seq = seq;
    if (!(a->study = ldgi_strndup(st.study.p, st.study.len)))
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldg_status s = plan_load(t, seq, st.body, &a->plan, err);
    if (s != LDG_OK) {
        free(a->study);
        return s;
    }
    a->tol = a->plan ? a->plan->tolerance_ns : LDG_TOLERANCE_DEFAULT_NS;
    pl->n++;
    return LDG_OK;
}

/* Sets r's plan in force and tolerance [EXP-11]; records come in seq order. */
static int
plan_in_force(plans *pl, ldg_record *r)
{
    for (; pl->next < pl->n && pl->v[pl->next].seq < r->seq; pl->next++) {
        plan_at *a = &pl->v[pl->next];
        size_t i = 0;
        while (i < pl->ncur && strcmp(pl->cur[i]->study, a->study) != 0)
            i++;
        if (i == pl->ncur) {
            if (pl->ncur == pl->capcur) {
                size_t cap = pl->capcur ? pl->capcur * 2 : 8;
                plan_at **nc = ldgi_realloc(pl->cur, cap * sizeof *nc);
                if (!nc)
                    return -1;
                pl->cur = nc, pl->capcur = cap;
            }
            pl->ncur++;
        }
        pl->cur[i] = a;
    }
    for (size_t i = 0; i < pl->ncur; i++)
        if (strcmp(pl->cur[i]->study, r->study) == 0) {
            r->plan_seq = pl->cur[i]->seq;
            r->tolerance_ns = pl->cur[i]->tol;
            r->plan = pl->cur[i]->plan;
            break;
        }
    return 0;
}

/*
 * [EXP-12] The key records a study-filtered export keeps: those that add or
 * revoke a key that signed a selected record, and, in turn, those of the
 * keys that signed these (the admins, back to the genesis), from the
 * registry replayed from the entries.  Then merged into the records handed
 * out, in seq order.
 */
typedef struct signer_keys {
    uint8_t (*pub)[LDG_PUB_BYTES]; /* signers seen */
    size_t npub, cappub;
    uint64_t *seq; /* key records to keep, sorted */
    size_t nseq, capseq;
    bool nomem;
} signer_keys;

static void
signer_keys_free(signer_keys *sk)
{
    free(sk->pub);
    free(sk->seq);
}

/* Adds pub to the signers seen; 1 when it is new, 0 when known, -1 out of memory. */
static int
sk_add_pub(signer_keys *sk, const uint8_t pub[LDG_PUB_BYTES])
{
    for (size_t i = 0; i < sk->npub; i++)
        if (memcmp(sk->pub[i], pub, LDG_PUB_BYTES) == 0)
            return 0;
    if (sk->npub == sk->cappub) {
        size_t cap = sk->cappub ? sk->cappub * 2 : 16;
        uint8_t(*np)[LDG_PUB_BYTES] = ldgi_realloc(sk->pub, cap * sizeof *np);
        if (!np)
            return -1;
        sk->pub = np, sk->cappub = cap;
    }
    memcpy(sk->pub[sk->npub++], pub, LDG_PUB_BYTES);
    return 1;
}

static bool
sk_add_seq(signer_keys *sk, uint64_t seq)
{
    for (size_t i = 0; i < sk->nseq; i++)
        if (sk->seq[i] == seq)
            return true;
    if (sk->nseq == sk->capseq) {
        size_t cap = sk->capseq ? sk->capseq * 2 : 16;
        uint64_t *ns = ldgi_realloc(sk->seq, cap * sizeof *ns);
        if (!ns)
            return false;
        sk->seq = ns, sk->capseq = cap;
    }
    sk->seq[sk->nseq++] = seq;
    return true;
}

static int
sk_collect(void *ctx, ldg_record *r)
{
    signer_keys *sk = ctx;
    if (sk_add_pub(sk, r->actor) < 0)
        sk->nomem = true;
    ldg_record_free(r);
    return sk->nomem;
}

static int
seq_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The signer of entry seq. */
static ldg_status
entry_actor(ldgi_txn *t, uint64_t seq, uint8_t pub[LDG_PUB_BYTES], ldg_err *err)
{
    uint8_t k[8];
    const uint8_t *v;
    size_t vl;
    ldgi_be64(k, seq);
    ldg_status s = ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &v, &vl, err);
    if (s != LDG_OK)
        return s;
    ldgi_entry e;
    ldgi_stmt st;
    const char *why = "?";
    if (!ldgi_entry_decode(v, vl, &e, &why) || !ldgi_stmt_decode(e.stmt, e.stmt_len, &st, &why))
        return ldgi_fail(err, LDG_E_CORRUPT, "entry %llu does not decode (%s); run ldg verify",
                         (unsigned long long)seq, why ? why : "?");
    memcpy(pub, st.actor, LDG_PUB_BYTES);
    return LDG_OK;
}

static ldg_status
signer_keys_find(ldgi_txn *t, ldgi_builders *b, const ldg_filter *f, const ldgi_reg *reg,
                 signer_keys *sk, ldg_err *err)
{
    ldg_status s = ldgi_log_iter_built(t, b, f, reg, LDGI_ITER_LEAF_LATER, 0, sk_collect, sk, err);
    if (s == LDG_OK && sk->nomem)
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    /* each signer's key records; their signers join the list as it is walked */
    for (size_t i = 0; s == LDG_OK && i < sk->npub; i++) {
        const ldg_keyinfo *k = ldgi_reg_find(reg, sk->pub[i]);
        if (!k)
            continue; /* an unregistered key, or the log key (it signs the genesis) */
        uint64_t kr[2] = {k->added_seq, k->revoked ? k->revoked_seq : UINT64_MAX};
        for (int j = 0; s == LDG_OK && j < 2; j++) {
            if (kr[j] == UINT64_MAX)
                continue;
            uint8_t by[LDG_PUB_BYTES];
            if (!sk_add_seq(sk, kr[j]))
                s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
            else if ((s = entry_actor(t, kr[j], by, err)) == LDG_OK && sk_add_pub(sk, by) < 0)
                s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        }
    }
    if (s == LDG_OK && sk->nseq)
        qsort(sk->seq, sk->nseq, sizeof *sk->seq, seq_cmp);
    return s;
}

/* Hands the kept key records and the selected records to take, merged in seq order. */
typedef struct merger {
    ldgi_txn *t;
    const ldgi_reg *reg;
    const signer_keys *sk;
    size_t next;
    ldgi_take_fn take;
    void *ctx;
    unsigned flags;
    uint64_t proven;
    bool stopped;
    ldg_status s;
    ldg_err *err;
} merger;

static int
merge_through(void *ctx, ldg_record *r)
{
    merger *m = ctx;
    int stop = m->take(m->ctx, r);
    if (stop)
        m->stopped = true;
    return stop;
}

/* The kept key records below `below` not handed out yet. */
static bool
merge_until(merger *m, uint64_t below)
{
    while (!m->stopped && m->s == LDG_OK && m->next < m->sk->nseq && m->sk->seq[m->next] < below) {
        uint64_t seq = m->sk->seq[m->next++];
        ldg_filter one = {.has_seq = 1, .seq_from = seq, .seq_to = seq};
        m->s =
            ldgi_log_iter_flags(m->t, &one, m->reg, m->flags, m->proven, merge_through, m, m->err);
    }
    return !m->stopped && m->s == LDG_OK;
}

static int
merge_take(void *ctx, ldg_record *r)
{
    merger *m = ctx;
    while (m->next < m->sk->nseq && m->sk->seq[m->next] == r->seq)
        m->next++; /* selected anyway */
    if (!merge_until(m, r->seq)) {
        ldg_record_free(r);
        return 1;
    }
    return merge_through(m, r);
}

/*
 * ldgi_log_iter_flags, and with f->keep_signer_keys and a study the key records of
 * [EXP-12] merged in.
 */
static ldg_status
log_iter_keeping(ldgi_txn *t, ldgi_builders *b, const ldg_filter *f, const ldgi_reg *reg,
                 unsigned flags, uint64_t proven, ldgi_take_fn take, void *ctx, ldg_err *err)
{
    if (!f || !f->keep_signer_keys || !f->study)
        return ldgi_log_iter_built(t, b, f, reg, flags, proven, take, ctx, err);
    signer_keys sk = {0};
    ldg_status s = signer_keys_find(t, b, f, reg, &sk, err);
    merger m = {t, reg, &sk, 0, take, ctx, flags, proven, false, LDG_OK, err};
    if (s == LDG_OK)
        s = ldgi_log_iter_built(t, b, f, reg, flags, proven, merge_take, &m, err);
    if (s == LDG_OK && m.s == LDG_OK)
        merge_until(&m, UINT64_MAX);
    if (s == LDG_OK)
        s = m.s;
    signer_keys_free(&sk);
    return s;
}

/*
 * On a helper: the record's leaf hash from its entry bytes and its body
 * against its commitment (the walk leaves both to us, LDGI_ITER_LEAF_LATER),
 * and its signature unless proven.
 */
static void
check_one(ldg_record *r, uint64_t proven)
{
    ldgi_record_hashes(r);
    if (r->seq < proven) {
        r->sig_state = LDG_SIG_PROVEN;
        return;
    }
    ldgi_entry e;
    const char *why;
    bool ok = ldgi_entry_decode(r->entry, r->entry_len, &e, &why) &&
              ldgi_stmt_sig_ok(e.stmt, e.stmt_len, r->actor, r->sig);
    r->sig_state = ok ? LDG_SIG_VALID : LDG_SIG_INVALID;
}

/* The scratch a thread formats rows in. */
typedef struct rowscratch {
    ldgi_linecache lc;
    ldgi_emit em;
} rowscratch;

static void *
check_some(void *arg)
{
    batch *b = arg;
    for (size_t i; (i = atomic_fetch_add(&b->dnext, 1)) < b->ndead;)
        ldg_record_free(b->dead[i]);
    rowscratch *rs = b->w ? ldgi_malloc(sizeof *rs) : NULL; /* none: the callback formats */
    if (rs)
        rs->lc.line[0] = '\0';
    for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;) {
        check_one(b->r[i], b->proven);
        /* after the checks: the row shows their outcome */
        b->row_ok[i] = rs && ldgi_export_row(b->w, &rs->lc, &rs->em, b->r[i], &b->row[i]);
    }
    free(rs);
    return NULL;
}

static void
check_job(void *arg, unsigned who)
{
    (void)who;
    check_some(arg);
}

/* Hands b's checks to its helpers (none when one job or few records). */
static void
start(batch *b)
{
    atomic_store(&b->next, 0);
    b->posted = b->n > 16 && ldgi_pool_size(b->pool);
    if (b->posted)
        ldgi_pool_start(b->pool, check_job, b);
}

/* Waits until b's helpers are done with it. */
static void
settle(batch *b)
{
    if (b->posted)
        ldgi_pool_wait(b->pool);
    b->posted = false;
}

/*
 * [EXP-2] When the records are every entry below the largest size whose
 * head is wanted, in seq order, the heads come from the leaf hashes the
 * helpers computed for the records' rows (LDGI_ITER_LEAF_LATER), folded in
 * as each batch is handed over, instead of from a walk of their own that
 * would hash every entry a second time.  64 leaves go in as the root of
 * their subtree, unless a wanted size falls among them.  A record out of
 * order, or a walk that stops early, leaves the fold unfinished: the heads
 * are then recomputed by heads() after all (never taken as they stand).
 */
typedef struct headfold {
    uint64_t want[2], upto; /* upto: the larger of want[] */
    uint64_t n;             /* leaves folded: records 0..n-1 */
    bool broken;            /* a record that is not the next entry */
    uint8_t frontier[64][LDG_HASH_BYTES];
    uint8_t (*roots)[LDG_HASH_BYTES];
    uint8_t block[HBLOCK][LDG_HASH_BYTES]; /* the leaves of a block not folded yet */
    size_t nblock;
} headfold;

static void headfold_add(headfold *hf, const batch *b);

/* Helps finish b's checks, waits for its helpers, hands its records over in order, frees them. */
static void
finish(checker *ch, batch *b)
{
    check_some(b);
    settle(b);
    if (!b->n)
        return;
    uint64_t last = b->r[b->n - 1]->seq;
    if (ch->hf)
        headfold_add(ch->hf, b);
    ldg_export_writer *w = ch->o->writer;
    for (size_t i = 0; i < b->n; i++) {
        if (!ch->stop) {
            if (w && b->row_ok[i])
                ldgi_export_pending(w, b->r[i], b->row[i].p, b->row[i].n);
            ch->stop = ch->fn(ch->ctx, b->r[i]);
            if (w)
                ldgi_export_pending(w, NULL, NULL, 0);
        }
        b->dead[i] = b->r[i]; /* freed on the helpers, with this batch's next checks */
        b->row_ok[i] = false;
        if (b->row[i].cap > ROW_KEEP) { /* an odd large row: not kept for the next batch */
            free(b->row[i].p);
            b->row[i] = (ldgi_rowbuf){0};
        }
    }
    b->ndead = b->n;
    atomic_store(&b->dnext, 0);
    if (ch->o->on_progress)
        ch->o->on_progress(ch->o->progress_ctx, last + 1, ch->total);
    b->n = b->bytes = 0;
}

/* The filled batch goes to the helpers; the one before is finished and handed over. */
static void
flush(checker *ch)
{
    batch *full = ch->cur;
    start(full);
    if (ch->prev)
        finish(ch, ch->prev);
    ch->prev = full;
    ch->cur = full == &ch->b[0] ? &ch->b[1] : &ch->b[0];
}

/* Everything still in flight, in order. */
static void
drain(checker *ch)
{
    if (ch->cur->n)
        start(ch->cur);
    if (ch->prev)
        finish(ch, ch->prev);
    finish(ch, ch->cur);
    ch->prev = NULL;
}

/* On an error: waits for any helper still running, frees what was not handed over. */
static void
discard(checker *ch)
{
    for (int k = 0; k < 2; k++) {
        batch *b = &ch->b[k];
        settle(b);
        for (size_t i = 0; i < b->n; i++)
            ldg_record_free(b->r[i]);
        b->n = 0;
        for (size_t i = atomic_load(&b->dnext); i < b->ndead; i++)
            ldg_record_free(b->dead[i]);
        b->ndead = 0;
        for (size_t i = 0; i < BATCH; i++)
            free(b->row[i].p);
    }
}

static int
take(void *ctx, ldg_record *r)
{
    checker *ch = ctx;
    if (plan_in_force(ch->pl, r) != 0) {
        ldg_record_free(r);
        ch->nomem = true;
        return 1;
    }
    batch *b = ch->cur;
    b->r[b->n++] = r;
    b->bytes += r->entry_len + r->body_len;
    /*
     * Records are copies: the file's pages can leave our mappings at any
     * time.  Looked at every 16 records: a record touches several pages,
     * and the kernel maps whole (large) page-cache folios around a fault.
     */
    if (b->n % 16 == 0 && ldgi_mapped_bytes() > LDGI_MAP_BUDGET)
        ldgi_map_release(ch->l);
    if (b->n == BATCH || b->bytes >= BATCH_BYTES)
        flush(ch);
    return ch->stop;
}

/*
 * The leaf hashes of a run of consecutive entries, computed on all cores
 * while the caller replays their key and plan records: the entries are
 * read in place (pointers into the snapshot's map, valid while it lives).
 * The helpers take HBLOCK leaves at a time and hash each whole block into
 * the root of its perfect subtree too, so that the caller, who folds the
 * chunk into the tree in order, adds one node for most blocks instead of
 * one per leaf (a chunk starts at a multiple of HCHUNK, so a whole block
 * is a perfect subtree of the RFC 6962 tree).
 */
#define HCHUNK 2048

typedef struct hchunk {
    const uint8_t *p[HCHUNK];
    size_t len[HCHUNK];
    uint8_t h[HCHUNK][LDG_HASH_BYTES];
    uint8_t root[HCHUNK / HBLOCK][LDG_HASH_BYTES]; /* of each whole block */
    bool plain[HCHUNK]; /* when no leaf is hashed: plain_record's answer, found by the helpers */
    size_t n;
    _Atomic size_t next;
} hchunk;

static void
hash_some(void *arg, unsigned who)
{
    (void)who;
    hchunk *c = arg;
    size_t blocks = (c->n + HBLOCK - 1) / HBLOCK;
    for (size_t b; (b = atomic_fetch_add(&c->next, 1)) < blocks;) {
        size_t lo = b * HBLOCK, hi = lo + HBLOCK < c->n ? lo + HBLOCK : c->n;
        size_t i = lo;
        for (; i + 1 < hi; i += 2)
            ldgi_leaf_hash_pair(c->p[i], c->len[i], c->h[i], c->p[i + 1], c->len[i + 1],
                                c->h[i + 1]);
        if (i < hi)
            ldgi_leaf_hash(c->p[i], c->len[i], c->h[i]);
        if (hi - lo == HBLOCK)
            ldgi_root64((const uint8_t(*)[LDG_HASH_BYTES])c->h[lo], c->root[b], NULL);
    }
}

/*
 * Adds the root of a perfect subtree of 2^level leaves to the frontier of a
 * tree of *n leaves (*n a multiple of 2^level): frontier[b] holds the root
 * of the perfect subtree for bit b of *n.
 */
static void
push(uint8_t frontier[64][LDG_HASH_BYTES], uint64_t *n, const uint8_t node[LDG_HASH_BYTES],
     unsigned level)
{
    uint8_t h[LDG_HASH_BYTES];
    unsigned at = level;
    memcpy(h, node, LDG_HASH_BYTES);
    for (uint64_t i = *n >> level; i & 1; i >>= 1, at++)
        ldgi_node_hash(frontier[at], h, h);
    memcpy(frontier[at], h, LDG_HASH_BYTES);
    *n += (uint64_t)1 << level;
}

/* The root of the tree of n leaves whose frontier this is. */
static void
frontier_root(const uint8_t frontier[64][LDG_HASH_BYTES], uint64_t n, uint8_t root[LDG_HASH_BYTES])
{
    bool have = false;
    for (unsigned b = 0; b < 64; b++) {
        if (!(n >> b & 1))
            continue;
        if (!have)
            memcpy(root, frontier[b], LDG_HASH_BYTES);
        else
            ldgi_node_hash(frontier[b], root, root);
        have = true;
    }
}

/* Whether a wanted size falls inside the HBLOCK leaves after the first n (not at their ends). */
static bool
want_inside(const uint64_t want[2], uint64_t n)
{
    uint64_t end = n + HBLOCK;
    return (want[0] > n && want[0] < end) || (want[1] > n && want[1] < end);
}

/* push(), then the heads of want[] the tree has just reached. */
static void
push_taking(uint8_t frontier[64][LDG_HASH_BYTES], uint64_t *n, const uint8_t node[LDG_HASH_BYTES],
            unsigned level, const uint64_t want[2], uint8_t roots[][LDG_HASH_BYTES])
{
    push(frontier, n, node, level);
    for (int w = 0; w < 2; w++)
        if (want[w] == *n)
            frontier_root((const uint8_t(*)[LDG_HASH_BYTES])frontier, *n, roots[w]);
}

/*
 * Adds the chunk's leaves, in order, to the frontier; the heads of want[]
 * as they are reached.  A whole block goes in as its subtree's root unless
 * a wanted size falls inside it.
 */
static void
fold(hchunk *c, uint8_t frontier[64][LDG_HASH_BYTES], uint64_t *n, const uint64_t want[2],
     uint8_t roots[2][LDG_HASH_BYTES])
{
    for (size_t j = 0; j < c->n;) {
        if (j % HBLOCK == 0 && j + HBLOCK <= c->n && *n % HBLOCK == 0 && !want_inside(want, *n)) {
            push_taking(frontier, n, c->root[j / HBLOCK], HBLOCK_BITS, want, roots);
            j += HBLOCK;
        } else {
            push_taking(frontier, n, c->h[j++], 0, want, roots);
        }
    }
}

static void
headfold_add(headfold *hf, const batch *b)
{
    for (size_t i = 0; i < b->n && !hf->broken; i++) {
        uint64_t at = hf->n + hf->nblock; /* the entry this record must be */
        if (at >= hf->upto)
            return; /* past the largest head wanted */
        if (b->r[i]->seq != at) {
            hf->broken = true;
            return;
        }
        memcpy(hf->block[hf->nblock++], b->r[i]->leaf_hash, LDG_HASH_BYTES);
        if (hf->nblock == HBLOCK && !want_inside(hf->want, hf->n)) {
            /* hf->n is a multiple of 64 here: the block is a perfect subtree */
            uint8_t root[LDG_HASH_BYTES];
            ldgi_root64((const uint8_t(*)[LDG_HASH_BYTES])hf->block, root, NULL);
            push_taking(hf->frontier, &hf->n, root, HBLOCK_BITS, hf->want, hf->roots);
            hf->nblock = 0;
        } else if (hf->nblock == HBLOCK || at + 1 == hf->upto) {
            /* a wanted size falls among them, or the last: one leaf at a time */
            for (size_t k = 0; k < hf->nblock; k++)
                push_taking(hf->frontier, &hf->n, hf->block[k], 0, hf->want, hf->roots);
            hf->nblock = 0;
        }
    }
}

/*
 * A user record that is no plan: ldgi_reg_apply and plan_note would decode
 * and peek at it as here, and let it pass (most entries: looked at once).
 */
static bool
plain_record(const uint8_t *v, size_t vl)
{
    ldgi_entry e;
    ldgi_stmt st;
    const char *why;
    return ldgi_entry_decode_proven(v, vl, &e, &why) && ldgi_stmt_peek(e.stmt, e.stmt_len, &st) &&
           ldgi_kind_class(st.kind.p, st.kind.len) == LDGI_KIND_USER &&
           !(st.kind.len == 4 && memcmp(st.kind.p, "plan", 4) == 0);
}

/*
 * When the walk hashes nothing (the heads come from the records' leaves),
 * the helpers find the plain records instead, HBLOCK at a time, and the
 * caller decodes only the others.
 */
static void
classify_some(void *arg, unsigned who)
{
    (void)who;
    hchunk *c = arg;
    size_t blocks = (c->n + HBLOCK - 1) / HBLOCK;
    for (size_t b; (b = atomic_fetch_add(&c->next, 1)) < blocks;)
        for (size_t i = b * HBLOCK; i < c->n && i < (b + 1) * HBLOCK; i++)
            c->plain[i] = plain_record(c->p[i], c->len[i]);
}

/*
 * One walk over the first stored entries: the RFC 6962 heads of the first
 * want[i] of them, from their bytes [VER-10], and the key records of the
 * first reg_upto replayed into reg (NULL: none), their plan records noted
 * in pl (NULL: none).  A chunk at a time: helpers hash its leaves while
 * the caller replays its key and plan records in seq order, then helps
 * hash and folds the leaves into the tree in seq order.
 */
static ldg_status
heads(ldg_ledger *l, ldgi_txn *t, const uint64_t want[2], uint8_t roots[2][LDG_HASH_BYTES],
      ldgi_reg *reg, uint64_t reg_upto, plans *pl, unsigned jobs, ldg_err *err)
{
    uint64_t upto = want[0] > want[1] ? want[0] : want[1];
    bool hash = upto > 0; /* no head wanted: the walk replays keys and plans only */
    if (reg && reg_upto > upto)
        upto = reg_upto;
    if (!upto)
        return LDG_OK;
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_ENTRIES, &c, err);
    if (s != LDG_OK)
        return s;
    hchunk *hc = ldgi_malloc(sizeof *hc);
    if (!hc) {
        ldgi_cur_close(c);
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    }
    bool classify = !hash && (reg || pl) && jobs > 1; /* the helpers find the plain records */
    ldgi_pool *hp =
        (hash || classify) && jobs > 1 ? ldgi_pool_new(jobs - 1) : NULL; /* NULL: alone */
    uint8_t frontier[64][LDG_HASH_BYTES];
    const uint8_t *k, *v;
    size_t kl, vl;
    uint64_t n = 0, seen = 0;
    s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err);
    while (s == LDG_OK && seen < upto) {
        /* the next chunk of entries, in place; the cursor never steps past the last wanted */
        hc->n = 0;
        while (s == LDG_OK && seen < upto && hc->n < HCHUNK) {
            hc->p[hc->n] = v;
            hc->len[hc->n++] = vl;
            if (++seen < upto)
                s = ldgi_cur_next(c, &k, &kl, &v, &vl, err);
        }
        if (s != LDG_OK && s != LDG_E_NOTFOUND)
            break;
        atomic_store(&hc->next, 0);
        bool posted = (hash || classify) && hc->n > 64 && ldgi_pool_size(hp);
        bool classified = posted && classify;
        if (posted)
            ldgi_pool_start(hp, classified ? classify_some : hash_some, hc);
        if (classified) {
            classify_some(hc, 0);
            ldgi_pool_wait(hp);
            posted = false;
        }
        ldg_status rs = LDG_OK;
        uint64_t first = n;
        for (size_t j = 0; rs == LDG_OK && j < hc->n; j++) {
            uint64_t seq = first + j;
            if (seq >= reg_upto || (!reg && !pl) ||
                (classified ? hc->plain[j] : plain_record(hc->p[j], hc->len[j])))
                continue;
            if (reg && seq < reg_upto &&
                (rs = ldgi_reg_apply(reg, seq, hc->p[j], hc->len[j], err)) != LDG_OK)
                break;
            if (pl && seq < reg_upto &&
                (rs = plan_note(pl, t, seq, hc->p[j], hc->len[j], err)) != LDG_OK)
                break;
        }
        if (hash)
            hash_some(hc, 0);
        if (posted)
            ldgi_pool_wait(hp);
        if (rs != LDG_OK) {
            s = rs;
            break;
        }
        if (hash)
            fold(hc, frontier, &n, want, roots);
        else
            n += hc->n;
        if (ldgi_mapped_bytes() > LDGI_MAP_BUDGET)
            ldgi_map_release(l);
    }
    ldgi_pool_free(hp);
    free(hc);
    ldgi_cur_close(c);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    if (n < upto && (want[0] > n || want[1] > n))
        return ldgi_fail(err, LDG_E_INPUT, "the ledger has %llu entries, not %llu",
                         (unsigned long long)n, (unsigned long long)upto);
    return LDG_OK;
}

/* Whether f selects every entry of the first upto (so the records' leaves give their heads). */
static bool
every_entry(const ldg_filter *f, uint64_t upto)
{
    return !f || (!f->study && !f->kind && !f->actor && !f->has_since && !f->has_until &&
                  (!f->has_seq || (f->seq_from == 0 && f->seq_to >= upto - 1)));
}

/* The entries whose key records decide the signers of f's records: all up to its last. */
static uint64_t
replay_size(const ldg_filter *f, uint64_t size)
{
    return f && f->has_seq && f->seq_to < size ? f->seq_to + 1 : size;
}

ldg_status
ldg_log_checked(ldg_ledger *l, const ldg_filter *f, const ldg_check_opts *o, ldg_record_fn fn,
                void *ctx, uint8_t roots[2][LDG_HASH_BYTES], ldg_err *err)
{
    static const ldg_check_opts none = {0};
    if (!o)
        o = &none;
    if (o->proven_size && (!o->proven_root || o->root_size[1] != o->proven_size))
        return ldgi_fail(err, LDG_E_INPUT,
                         "records proven by a checkpoint need its root, and root_size[1] its size");
    checker *ch = ldgi_calloc(1, sizeof *ch);
    if (!ch)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ch->b[0].proven = ch->b[1].proven = o->proven_size;
    ch->b[0].w = ch->b[1].w = o->writer;
    ch->cur = &ch->b[0];
    ch->jobs = o->jobs ? o->jobs : ldgi_ncpu();
    ch->fn = fn;
    ch->ctx = ctx;
    ch->o = o;
    ch->l = l;
    ldgi_txn *t;
    ldgi_builders *b = NULL;
    ldg_status s;
    /*
     * The helpers that build records read through twins of t: begun now, in
     * the same instant, so a commit in between is rare; after one, t is
     * begun again (a twin never reads a newer snapshot than t).
     */
    for (int tries = 0;; tries++) {
        if ((s = ldgi_txn_begin(l, false, &t, err)) != LDG_OK) {
            free(ch);
            return s;
        }
        bool stale;
        b = ldgi_builders_new(t, ch->jobs - 1, &stale);
        if (b || !stale || tries == 2)
            break;
        ldgi_txn_abort(t);
    }
    for (int k = 0; k < 2 && ch->jobs > 1; k++)
        ch->b[k].pool = ldgi_pool_new(ch->jobs - 1); /* NULL: the caller checks alone */
    uint8_t head[LDG_HASH_BYTES];
    ldgi_reg *reg = ldgi_reg_new();
    ch->pl = ldgi_calloc(1, sizeof *ch->pl);
    if (!reg || !ch->pl)
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    if (s == LDG_OK)
        s = ldgi_head(t, &ch->total, head, NULL, err);
    /*
     * [EXP-2] The heads from the records' own leaves when the records are
     * every entry they cover (and the ledger stores at least that many:
     * else heads() says so before any record); from a walk of their own
     * otherwise.
     */
    static const uint64_t no_roots[2] = {0, 0};
    uint64_t upto = o->root_size[0] > o->root_size[1] ? o->root_size[0] : o->root_size[1], stored;
    ldg_err ce;
    if (s == LDG_OK && upto && every_entry(f, upto) && (!o->proven_size || o->proven_late) &&
        ldgi_count(t, LDGI_DB_ENTRIES, &stored, &ce) == LDG_OK && stored >= upto &&
        (ch->hf = ldgi_calloc(1, sizeof *ch->hf)) != NULL) {
        memcpy(ch->hf->want, o->root_size, sizeof ch->hf->want);
        ch->hf->upto = upto;
        ch->hf->roots = roots;
    }
    if (s == LDG_OK && (s = heads(l, t, ch->hf ? no_roots : o->root_size, roots, reg,
                                  replay_size(f, ch->total), ch->pl, ch->jobs, err)) == LDG_OK) {
        /*
         * [VER-11][EXP-2] The root of the first proven_size, recomputed: when
         * known now and not the checkpoint's, nothing is proven by it.
         */
        uint64_t proven = o->proven_size;
        if (proven && !ch->hf && memcmp(roots[1], o->proven_root, LDG_HASH_BYTES) != 0)
            proven = ch->b[0].proven = ch->b[1].proven = 0;
        s = log_iter_keeping(t, b, f, reg, LDGI_ITER_LEAF_LATER, proven, take, ch, err);
        if (s == LDG_OK && ch->nomem)
            s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        if (s == LDG_OK)
            drain(ch); /* what is left */
        /* a fold left unfinished (a record out of order, a walk stopped): the heads walked for */
        if (s == LDG_OK && ch->hf && (ch->hf->broken || ch->hf->n != ch->hf->upto))
            s = heads(l, t, o->root_size, roots, NULL, 0, NULL, ch->jobs, err);
    }
    discard(ch);
    ldgi_pool_free(ch->b[0].pool);
    ldgi_pool_free(ch->b[1].pool);
    ldgi_builders_free(b);
    ldgi_txn_abort(t);
    ldgi_reg_free(reg);
    plans_free(ch->pl);
    free(ch->hf);
    free(ch);
    return s;
}

/*
 * A read snapshot, its size and an empty registry for ldg_log_replayed and
 * ldg_keys_replayed.  On failure *t and *reg may be NULL or live: the
 * caller aborts and frees both (each accepts NULL).
 */
static ldg_status
replay_begin(ldg_ledger *l, ldgi_txn **t, ldgi_reg **reg, uint64_t *size, ldg_err *err)
{
    uint8_t head[LDG_HASH_BYTES];
    *reg = NULL;
    ldg_status s = ldgi_txn_begin(l, false, t, err);
    if (s != LDG_OK) {
        *t = NULL;
        return s;
    }
    if (!(*reg = ldgi_reg_new()))
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    return ldgi_head(*t, size, head, NULL, err);
}

/* The key records of the first `upto` entries, replayed into reg (no tree heads wanted). */
static ldg_status
replay_keys(ldg_ledger *l, ldgi_txn *t, ldgi_reg *reg, uint64_t upto, plans *pl, ldg_err *err)
{
    static const uint64_t no_roots[2] = {0, 0};
    uint8_t roots[2][LDG_HASH_BYTES];
    return heads(l, t, no_roots, roots, reg, upto, pl, 1, err);
}

/* ldg_log_replayed's hand-off: the plan in force set, then the caller's function. */
typedef struct replay_ctx {
    plans *pl;
    ldg_record_fn fn;
    void *ctx;
    bool nomem;
} replay_ctx;

static int
replay_take(void *ctx, ldg_record *r)
{
    replay_ctx *rc = ctx;
    int stop = 1;
    if (plan_in_force(rc->pl, r) != 0)
        rc->nomem = true;
    else
        stop = rc->fn(rc->ctx, r);
    ldg_record_free(r);
    return stop;
}

ldg_status
ldg_log_replayed(ldg_ledger *l, const ldg_filter *f, ldg_record_fn fn, void *ctx, ldg_err *err)
{
    static const ldg_filter none = {0};
    if (!f)
        f = &none;
    ldgi_txn *t;
    ldgi_reg *reg;
    uint64_t size;
    ldg_status s = replay_begin(l, &t, &reg, &size, err);
    replay_ctx rc = {ldgi_calloc(1, sizeof(plans)), fn, ctx, false};
    if (s == LDG_OK && !rc.pl)
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    if (s == LDG_OK && (s = replay_keys(l, t, reg, replay_size(f, size), rc.pl, err)) == LDG_OK)
        s = log_iter_keeping(t, NULL, f, reg, 0, 0, replay_take, &rc, err);
    if (s == LDG_OK && rc.nomem)
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldgi_txn_abort(t);
    ldgi_reg_free(reg);
    plans_free(rc.pl);
    return s;
}

ldg_status
ldg_keys_replayed(ldg_ledger *l, uint64_t upto, ldg_key_fn fn, void *ctx, ldg_err *err)
{
    ldgi_txn *t;
    ldgi_reg *reg;
    uint64_t size;
    ldg_status s = replay_begin(l, &t, &reg, &size, err);
    if (s == LDG_OK &&
        (s = replay_keys(l, t, reg, upto < size ? upto : size, NULL, err)) == LDG_OK) {
        ldgi_txn_abort(t); /* the registry is a copy: the snapshot is not needed any more */
        t = NULL;
        for (size_t i = 0; i < ldgi_reg_count(reg); i++)
            if (fn(ctx, ldgi_reg_at(reg, i)))
                break;
    }
    ldgi_txn_abort(t);
    ldgi_reg_free(reg);
    return s;
}
