/*
 * verify.c - `ldg verify`: re-derives everything from the stored bytes
 * [VER-1..VER-9] and treats them as hostile.  Entries stream through in
 * chunks from one read snapshot; for each chunk, worker threads decode,
 * hash and check signatures (phase A, stateless) while the calling thread
 * applies the sequential checks to the previous chunk (phase B: chain, time,
 * key registry at that point, policy, refs, observed head, bodies, indexes).
 * Memory is two chunks plus the key registry, whatever the ledger's size.
 */
#include "internal.h"

#include <stdatomic.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 1024

/*
 * verify --since [VER-11]: what the entries after the checkpoint need from
 * the entries before it.  Each is a ref (aux = ref number), an observed head
 * (aux = OBSERVED | the seq it must be) or a commitment (aux = WANT_COMMIT),
 * sorted by key; the earlier entries are looked up in it as they stream by.
 */
#define OBSERVED (UINT64_C(1) << 63)    /* aux flag of a refs record: an observed head */
#define WANT_COMMIT (UINT64_C(1) << 62) /* aux flag of a want: a later statement's commitment */
/* aux of a commitment record below --since: its statement was only peeked, its time unread */
#define TIME_UNKNOWN UINT64_MAX
/*
 * More wants than this (24 MiB of them), and the earlier entries go through
 * the sorted runs instead.  Room for the 1 % new of a ledger of ten million
 * and more: 100,000 statements, each a commitment, an observed head and a
 * ref or two.
 */
#define WANTS_MAX 393216
#define SUFFIX_MAX WANTS_MAX /* entries after --since: each wants at least its commitment */

typedef struct wantrec {
    uint8_t key[LDG_HASH_BYTES];
    uint64_t seq; /* the later entry that wants it */
    uint64_t aux;
    uint64_t t; /* a commitment's: the statement's claimed time (offset binary) [POL-9] */
    bool met;
} wantrec;

typedef struct item {
    uint64_t key_seq;
    bool key_ok;
    const uint8_t *p;
    size_t n;
    uint8_t leaf[LDG_HASH_BYTES];
    bool entry_ok, stmt_ok, sig_ok;
    bool wanted; /* below --since, and a later entry wants its leaf hash or commitment */
    const char *why;
    ldgi_entry e;
    ldgi_stmt st;
} item;

#define TBLOCK 64 /* leaves of a subtree phase A hashes into its root (ldgi_root64) */

typedef struct chunk {
    item it[CHUNK];
    size_t n;
    /*
     * In a chunk wholly below --since, phase A takes TBLOCK items at a
     * time, and where they are TBLOCK consecutive seqs from a multiple of
     * TBLOCK, hashes their subtree's root: phase B then folds one node into
     * the tree for them instead of one per entry.
     */
    bool by_block;
    uint8_t root[CHUNK / TBLOCK][LDG_HASH_BYTES];
    uint8_t edge[CHUNK / TBLOCK][6][LDG_HASH_BYTES]; /* what the fold leaves on levels 0..5 */
    bool root_ok[CHUNK / TBLOCK];
    _Atomic size_t next;  /* next item for phase A */
    uint64_t since;       /* entries below this are proven by a checkpoint: no signature check */
    const wantrec *wants; /* sorted; read-only while phase A runs */
    size_t nwants;
    const uint64_t *filter; /* bit (first key bytes, masked) set for each want */
    uint32_t filter_mask;   /* the filter's bits - 1 */

} chunk;

/*
 * [POL-9] A replay is the same statement again: the same commitment and the
 * same claimed time, the two halves of the statement index's key.
 */
static uint64_t
claimed_key(const ldgi_stmt *st)
{
    return (uint64_t)st->time_ns ^ (UINT64_C(1) << 63);
}

/* ------------------------------------------------ phase A: stateless -- */

static int
want_cmp(const void *a, const void *b)
{
    const wantrec *x = a, *y = b;
    int c = memcmp(x->key, y->key, LDG_HASH_BYTES);
    if (c)
        return c;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->aux < y->aux ? -1 : x->aux > y->aux;
}

/*
 * A bit per want, at its key's first bytes: most keys no want has are
 * turned away at once, without a binary search of the wants.  Sixteen bits
 * a want (at least 2^16, at most 2^24 bits: 2 MiB) let about one key in
 * sixteen through to the search; the keys are SHA-256 outputs, so their
 * first bytes are as good an index as any.
 */
#define FILTER_BITS_MIN (UINT32_C(1) << 16)
#define FILTER_BITS_MAX (UINT32_C(1) << 24)

static uint32_t
filter_bit(const uint8_t key[LDG_HASH_BYTES], uint32_t mask)
{
    return ((uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 | key[3]) &
           mask;
}

static bool
filtered(const uint64_t *f, uint32_t mask, const uint8_t key[LDG_HASH_BYTES])
{
    uint32_t b = filter_bit(key, mask);
    return f && (f[b / 64] >> (b % 64) & 1);
}

/* Index of the first want with this key, or n. */
static size_t
want_first(const wantrec *w, size_t n, const uint8_t key[LDG_HASH_BYTES])
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (memcmp(w[mid].key, key, LDG_HASH_BYTES) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && memcmp(w[lo].key, key, LDG_HASH_BYTES) == 0 ? lo : n;
}

/* Item i of c, its leaf hash already in x->leaf. */
static void
phase_a_one(void *ctx, size_t i)
{
    item *x = &((chunk *)ctx)->it[i];
    x->why = NULL;
    chunk *c = ctx;
    if (x->key_seq < c->since) {
        /*
         * [VER-11] Below the checkpoint: its root, recomputed from these
         * bytes, proves them the bytes an earlier full verify accepted.
         */
        x->entry_ok = ldgi_entry_decode_proven(x->p, x->n, &x->e, &x->why);
        x->stmt_ok =
            x->entry_ok && (ldgi_stmt_peek(x->e.stmt, x->e.stmt_len, &x->st) ||
                            ldgi_stmt_decode_proven(x->e.stmt, x->e.stmt_len, &x->st, &x->why));
        x->sig_ok = x->stmt_ok;
        x->wanted = (filtered(c->filter, c->filter_mask, x->leaf) &&
                     want_first(c->wants, c->nwants, x->leaf) < c->nwants) ||
                    (x->stmt_ok && filtered(c->filter, c->filter_mask, x->st.body) &&
                     want_first(c->wants, c->nwants, x->st.body) < c->nwants);
        return;
    }
    x->entry_ok = ldgi_entry_decode(x->p, x->n, &x->e, &x->why);
    x->stmt_ok = x->entry_ok && ldgi_stmt_decode(x->e.stmt, x->e.stmt_len, &x->st, &x->why);
    x->sig_ok = x->stmt_ok && ldgi_stmt_sig_ok(x->e.stmt, x->e.stmt_len, x->st.actor, x->e.sig);
}

/* Leaf hashes of items [lo, hi), two at a time (ldgi_sha256_pair), then the rest of phase A. */
static void
phase_a_run(chunk *c, size_t lo, size_t hi)
{
    size_t i = lo;
    for (; i + 1 < hi; i += 2) {
        item *x = &c->it[i];
        ldgi_leaf_hash_pair(x[0].p, x[0].n, x[0].leaf, x[1].p, x[1].n, x[1].leaf);
    }
    if (i < hi)
        ldgi_leaf_hash(c->it[i].p, c->it[i].n, c->it[i].leaf);
    for (i = lo; i < hi; i++)
        phase_a_one(c, i);
}

/* Are items [lo, lo+TBLOCK) the whole subtree of TBLOCK leaves from a multiple of TBLOCK? */
static bool
whole_subtree(const chunk *c, size_t lo)
{
    const item *x = &c->it[lo];
    if (lo + TBLOCK > c->n || !x->key_ok || x->key_seq % TBLOCK)
        return false;
    for (size_t i = 1; i < TBLOCK; i++)
        if (!x[i].key_ok || x[i].key_seq != x->key_seq + i)
            return false;
    return true;
}

/* Takes items of c until none is left; run by the helpers and by the caller. */
static void
phase_a(chunk *c)
{
    if (!c->by_block) {
        /* two at a time: each item may cost a signature check, so the claims stay small */
        for (size_t i; (i = atomic_fetch_add(&c->next, 2)) < c->n;)
            phase_a_run(c, i, i + 2 < c->n ? i + 2 : c->n);
        return;
    }
    size_t blocks = (c->n + TBLOCK - 1) / TBLOCK;
    for (size_t b; (b = atomic_fetch_add(&c->next, 1)) < blocks;) {
        size_t lo = b * TBLOCK, hi = lo + TBLOCK < c->n ? lo + TBLOCK : c->n;
        phase_a_run(c, lo, hi);
        c->root_ok[b] = whole_subtree(c, lo);
        if (c->root_ok[b]) {
            uint8_t leaf[TBLOCK][LDG_HASH_BYTES];
            for (size_t i = 0; i < TBLOCK; i++)
                memcpy(leaf[i], c->it[lo + i].leaf, LDG_HASH_BYTES);
            ldgi_root64((const uint8_t(*)[LDG_HASH_BYTES])leaf, c->root[b], c->edge[b]);
        }
    }
}

/*
 * The helper threads (an ldgi_pool), started once per run: each chunk's
 * start() hands them the chunk, finish() has the caller join in and waits
 * until every helper is done with it.  (A thread per chunk cost a create
 * and a join a thousand times per million entries.)
 */
static void
phase_a_job(void *ctx, unsigned who)
{
    (void)who;
    phase_a(ctx);
}

/* --------------------------------------------- phase B: sequential ---- */

#define MAP_CHECK_EVERY 64 /* entries between looks at the mapped size */
#define RECENT 16384       /* leaf hashes kept for observed-head checks (512 KiB) */
#define VCURS 64           /* cursors per value index (check_indexes): a power of two */

typedef struct vstate {
    ldg_ledger *l;
    unsigned since_check;
    ldgi_txn *t;
    ldgi_cur *bodies; /* check_body's, opened at its first body: bodies are read in seq order */
    ldgi_cur *vcur[3][VCURS]; /* check_indexes': study, kind, actor; by a hash of the value */
    ldgi_cur *ccur;           /* check_indexes': the statement index */
    const ldg_verify_opts *o;
    ldg_verify_summary *sum;
    ldg_err *err;
    ldgi_registry reg;
    uint64_t expect; /* next seq expected */
    uint8_t prev[LDG_HASH_BYTES];
    uint64_t last_time;
    int64_t now;        /* the verifier's clock [VER-4] */
    bool held_run;      /* the entry before held its host time (clock behind) */
    bool future_warned; /* a host time after the verifier's clock was reported */
    bool have_genesis;
    uint8_t logkey[LDG_PUB_BYTES];
    char origin[LDG_TEXT_MAX];
    size_t origin_len;
    uint8_t *ik;
    uint8_t (*recent)[LDG_HASH_BYTES]; /* leaf hash of entry s at [s % RECENT] */
    ldgi_runs *leafs;                  /* (leaf hash, seq) of every entry */
    ldgi_runs *commits;                /* (body commitment, seq) of every statement */
    ldgi_runs *refs;                   /* (ref hash, referrer seq, ref number | OBSERVED|size-1) */
    ldgi_runs *erasures;               /* (seq(8) of a record, seq, MISSING or ERASURE) [VER-8] */
    uint64_t missing;                  /* bodies not found, from --since on */
    uint64_t erased_below;             /* erasure records that erase a body below --since */
    uint8_t frontier[64][LDG_HASH_BYTES]; /* left subtrees awaiting their right sibling */
    ldgi_tree_cache tree;                 /* the stored records the fold compares against */
    uint64_t o_since;                     /* opts->since_size, or 0 */
    bool since_seen;                      /* the tree of o_since entries was recomputed */
    uint8_t since_root[LDG_HASH_BYTES];   /* ...and this is its head */
    bool tie_seen;                        /* x->tie_size entries went into the tree */
    bool fast; /* --since with wants: the earlier entries stay out of the sorted runs */
    uint64_t *filter;
    uint32_t filter_mask;
    wantrec *wants; /* what the later entries need from the earlier ones */
    size_t nwants;
    ldgi_verify_x *x; /* the library's own callers: signing, QA checks */
    struct qacand {
        uint8_t pub[LDG_PUB_BYTES];
        uint64_t seq, ts;
        char name[LDG_NAME_MAX + 1];
    } qa[16]; /* registered QA keys below --since whose cosignature of x->qa_note verifies */
    size_t nqa;
    bool gate;     /* x->qa_gate, not yet passed: findings are held back */
    uint64_t held; /* findings held back before the gate */
    bool stopped;  /* the gate failed: the run ended there */
} vstate;

static ldg_status
runs_failed(vstate *v)
{
    if (ldgi_runs_oom(v->leafs) || ldgi_runs_oom(v->commits) || ldgi_runs_oom(v->refs) ||
        ldgi_runs_oom(v->erasures))
        return ldgi_fail(v->err, LDG_E_NOMEM, "verify: out of memory");
    return ldgi_fail(v->err, LDG_E_IO, "verify: cannot write its temporary sort file (%s)",
                     "check $TMPDIR and free space");
}

static void
finding(vstate *v, ldg_finding_level lvl, uint64_t seq, const char *check, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    if (v->gate) {
        /*
         * Below a checkpoint that may not count: a failure is reported by the
         * full run; a WARN there was reported by the verify QA cosigned.
         */
        if (lvl == LDG_FINDING_FAIL)
            v->held++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (lvl == LDG_FINDING_FAIL)
        v->sum->failures++;
    else if (lvl == LDG_FINDING_WARN)
        v->sum->warnings++;
    else if (lvl == LDG_FINDING_ERASED)
        v->sum->erased++;
    else
        v->sum->withheld++;
    if (v->o && v->o->on_finding)
        v->o->on_finding(v->o->ctx, lvl, seq, check, msg);
}

/*
 * The value at exactly key k of db, through *c (opened at its first use,
 * closed with the run): a walk that reads keys mostly in turn tries the key
 * after the cursor's first, then seeks (ldgi_cur_find_next).
 */
static ldg_status
walk_find(vstate *v, ldgi_cur **c, ldgi_db db, const uint8_t *k, size_t kl, const uint8_t **val,
          size_t *vl)
{
    ldg_status s = *c ? LDG_OK : ldgi_cur_open(v->t, db, c, v->err);
    return s == LDG_OK ? ldgi_cur_find_next(*c, k, kl, val, vl, v->err) : s;
}

/*
 * Looks up key k, which must exist in index db (study, kind or actor: the
 * value, then the seq), with no data; reports on mismatch.  One value's keys
 * follow the ledger in seq order, so the cursor this value hashes to
 * usually stands on the key before k, and the lookup is one step instead
 * of a descent from the root (at ten million entries, four pages and their
 * binary searches, five times an entry).  It is the same exact lookup: when
 * the step does not land on k (two values share the cursor, or k is
 * missing), the cursor seeks k.  LDG_OK, or the error that stopped it.
 */
static ldg_status
index_has(vstate *v, unsigned which, ldgi_db db, const uint8_t *k, size_t kl, size_t vlen,
          uint64_t seq, const char *what)
{
    uint32_t h = 2166136261u; /* FNV-1a of the value */
    for (size_t i = 0; i < vlen; i++)
        h = (h ^ k[i]) * 16777619u;
    const uint8_t *val;
    size_t vl;
    ldg_status s = walk_find(v, &v->vcur[which][h & (VCURS - 1)], db, k, kl, &val, &vl);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    if (s == LDG_E_NOTFOUND)
        finding(v, LDG_FINDING_FAIL, seq, "index", "the %s index has no entry for this record",
                what);
    else if (vl != 0)
        finding(v, LDG_FINDING_FAIL, seq, "index", "the %s index record carries %zu bytes of data",
                what, vl);
    return LDG_OK;
}

/*
 * A hash-keyed index [STO-1] maps this record's key to its seq: looked up,
 * not merged, since the keys follow the ledger (their number: check_totals).
 * The statement index maps a replay's key to the first copy (merge_commits
 * reports the replay), so an earlier seq counts when that entry's statement
 * has the same key.  Through cursor *c (walk_find) when the keys mostly
 * follow the ledger, else from the root (c NULL).  LDG_OK, or the error
 * that stopped it (never a finding).
 */
static ldg_status
hash_index_maps(vstate *v, ldgi_db db, ldgi_cur **c, const uint8_t *k, size_t kl, uint64_t seq,
                const char *what)
{
    const uint8_t *val;
    size_t vl;
    ldg_status s =
        c ? walk_find(v, c, db, k, kl, &val, &vl) : ldgi_get(v->t, db, k, kl, &val, &vl, v->err);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    if (s == LDG_OK && vl == 8 && ldgi_rd64(val) == seq)
        return LDG_OK;
    if (s == LDG_OK && vl == 8 && ldgi_rd64(val) < seq && db == LDGI_DB_COMMIT) {
        uint64_t at = ldgi_rd64(val);
        uint8_t sk[8], ck[LDGI_COMMIT_KEY_BYTES];
        const uint8_t *ev;
        size_t el;
        ldgi_entry e;
        const char *why;
        ldgi_be64(sk, at);
        s = ldgi_get(v->t, LDGI_DB_ENTRIES, sk, 8, &ev, &el, v->err);
        if (s != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        ldgi_stmt *st = s == LDG_OK ? ldgi_malloc(sizeof *st) : NULL;
        if (s == LDG_OK && !st) /* out of memory is no finding about the ledger */
            return ldgi_fail(v->err, LDG_E_NOMEM, "verify: out of memory");
        bool same = st && ldgi_entry_decode(ev, el, &e, &why) &&
                    ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why) &&
                    (ldgi_commit_key(ck, st->time_ns, st->body), memcmp(ck, k, kl) == 0);
        free(st);
        if (same)
            return LDG_OK;
    }
    finding(v, LDG_FINDING_FAIL, seq, "index",
            "the %s index does not map this record's %s to its seq", what,
            db == LDGI_DB_LEAF ? "leaf hash" : "commitment");
    return LDG_OK;
}

static ldg_status
check_indexes(vstate *v, const item *x, uint64_t seq)
{
    const ldgi_stmt *st = &x->st;
    uint8_t hk[LDGI_COMMIT_KEY_BYTES];
    ldgi_leaf_key(hk, x->leaf, seq);
    /* leaf hashes are random within an epoch: each looked up from the root */
    ldg_status s =
        hash_index_maps(v, LDGI_DB_LEAF, NULL, hk, LDGI_LEAF_KEY_BYTES, seq, "leaf-hash");
    if (s != LDG_OK)
        return s;
    /*
     * The statement index is keyed by claimed time first: as signers' clocks
     * run forward, this entry's key is usually the one after the last one's.
     */
    ldgi_commit_key(hk, st->time_ns, st->body);
    s = hash_index_maps(v, LDGI_DB_COMMIT, &v->ccur, hk, LDGI_COMMIT_KEY_BYTES, seq, "statement");
    if (s != LDG_OK)
        return s;
    size_t n = st->study.len;
    memcpy(v->ik, st->study.p, n);
    v->ik[n] = 0;
    ldgi_be64(v->ik + n + 1, seq);
    if ((s = index_has(v, 0, LDGI_DB_STUDY, v->ik, n + 9, n, seq, "study")) != LDG_OK)
        return s;
    n = st->kind.len;
    memcpy(v->ik, st->kind.p, n);
    v->ik[n] = 0;
    ldgi_be64(v->ik + n + 1, seq);
    if ((s = index_has(v, 1, LDGI_DB_KIND, v->ik, n + 9, n, seq, "kind")) != LDG_OK)
        return s;
    memcpy(v->ik, st->actor, LDG_PUB_BYTES);
    ldgi_be64(v->ik + LDG_PUB_BYTES, seq);
    return index_has(v, 2, LDGI_DB_ACTOR, v->ik, LDG_PUB_BYTES + 8, LDG_PUB_BYTES, seq, "actor");
}

/* Records of v->erasures: a body found missing, and an erasure record naming it. */
#define MISSING 0
#define ERASURE 1

/* A record of v->erasures: keyed by the seq of the record whose body it is about. */
static bool
erasure_add(vstate *v, uint64_t record, uint64_t seq, uint64_t aux)
{
    uint8_t key[LDG_HASH_BYTES] = {0};
    ldgi_be64(key, record);
    return ldgi_runs_add(v->erasures, key, seq, aux);
}

static ldg_status
check_body(vstate *v, const ldgi_stmt *st, uint64_t seq)
{
    const uint8_t *b;
    size_t bl;
    uint8_t k[8];
    ldgi_be64(k, seq);
    ldg_status s = walk_find(v, &v->bodies, LDGI_DB_BODIES, k, 8, &b, &bl);
    if (s == LDG_E_NOTFOUND) {
        /*
         * Missing is not withheld [VER-8]: the erasure record that explains
         * it comes later, so the two are paired by the final merge.
         */
        v->missing++;
        return erasure_add(v, seq, seq, MISSING) ? LDG_OK : runs_failed(v);
    }
    if (s != LDG_OK)
        return s;
    uint8_t c[LDG_HASH_BYTES];
    if (bl < LDG_SALT_BYTES) {
        finding(v, LDG_FINDING_FAIL, seq, "body", "stored body is truncated");
        return LDG_OK;
    }
    ldgi_body_commit(b, b + LDG_SALT_BYTES, bl - LDG_SALT_BYTES, c);
    if (sodium_memcmp(c, st->body, LDG_HASH_BYTES) != 0)
        finding(v, LDG_FINDING_FAIL, seq, "body",
                "body does not match the signed commitment (altered or swapped body)");
    else if (ldgi_stmt_is_erasure(st) &&
             !ldgi_body_legal_basis(b + LDG_SALT_BYTES, bl - LDG_SALT_BYTES, NULL, 0))
        finding(v, LDG_FINDING_FAIL, seq, "policy",
                "the erasure's body names no legal basis (\"legal_basis\")");
    return LDG_OK;
}

/*
 * [POL-11] An erasure record at seq: the record it names must be a user
 * record of its study; the pairing with the missing body is merged at the
 * end (merge_erasures).  Only a valid erasure (no failure of its own:
 * signature, key, role, legal basis) explains a missing body.
 */
static ldg_status
check_erasure(vstate *v, const ldgi_stmt *st, uint64_t seq, bool valid)
{
    if (st->nrefs != 1)
        return LDG_OK; /* check_policy reported it */
    char why[300];
    uint64_t target;
    ldg_err e;
    ldg_status s = ldgi_erasure_target(v->t, st, &target, why, sizeof why, &e);
    if (s == LDG_E_POLICY || s == LDG_E_CORRUPT) {
        finding(v, LDG_FINDING_FAIL, seq, "policy", "%s", s == LDG_E_POLICY ? why : e.msg);
        return LDG_OK;
    }
    if (s != LDG_OK) {
        if (v->err)
            *v->err = e;
        return s;
    }
    if (target >= seq) {
        finding(v, LDG_FINDING_FAIL, seq, "policy", "the erasure names a later entry");
        return LDG_OK;
    }
    if (!valid)
        return LDG_OK;
    if (target < v->o_since)
        v->erased_below++;
    return erasure_add(v, target, seq, ERASURE) ? LDG_OK : runs_failed(v);
}

/*
 * [CKP-5] A key registered below the checkpoint with the qa role: does its
 * cosignature of the checkpoint verify?  (Whether a later entry below it
 * revokes the key is looked up once the prefix has been replayed.)
 */
static void
qa_candidate(vstate *v, const ldgi_stmt *st, uint64_t seq)
{
    if (!v->x || !v->x->qa_note || seq >= v->o_since || v->nqa == sizeof v->qa / sizeof v->qa[0] ||
        !(ldgi_stmt_roles(st) & LDGI_ROLE_QA) || st->key_id.len > LDG_NAME_MAX)
        return;
    struct qacand *q = &v->qa[v->nqa];
    memcpy(q->name, st->key_id.p, st->key_id.len);
    q->name[st->key_id.len] = '\0';
    memcpy(q->pub, st->key_pub, LDG_PUB_BYTES);
    q->seq = seq;
    if (ldg_checkpoint_cosigned(v->x->qa_note, v->x->qa_len, q->name, q->pub, &q->ts, NULL) ==
        LDG_OK)
        v->nqa++;
}

/* After the prefix: the first candidate still registered, not revoked below the checkpoint. */
static void
qa_decide(vstate *v)
{
    for (size_t i = 0; v->x && i < v->nqa; i++) {
        ldgi_regslot *k = ldgi_registry_find(&v->reg, v->qa[i].pub, false);
        if (k && k->ks.added_seq == v->qa[i].seq && (k->ks.roles & LDGI_ROLE_QA) &&
            (k->ks.revoked_seq == UINT64_MAX || k->ks.revoked_seq >= v->o_since)) {
            v->x->qa_ok = true;
            memcpy(v->x->qa_name, v->qa[i].name, sizeof v->x->qa_name);
            v->x->qa_time = v->qa[i].ts;
            return;
        }
    }
}

/*
 * [CKP-5] The QA gate, once every entry below the checkpoint went through:
 * they must give its root without a finding, and a registered QA key must
 * have cosigned it.  false: the run stops here (the caller verifies in full).
 */
static bool
gate_pass(vstate *v, const uint8_t want_root[LDG_HASH_BYTES])
{
    v->gate = false;
    bool same = v->since_seen && sodium_memcmp(v->since_root, want_root, LDG_HASH_BYTES) == 0;
    if (same && !v->held)
        qa_decide(v);
    if (same && !v->held && v->x->qa_ok)
        return true;
    v->x->gate_failed = v->stopped = true;
    v->x->gate_rewritten = !same || v->held;
    return false;
}

/* ------------------------------------------- the policy engine's view -- */

/* What the engine asks of the state verify rebuilt from the entries [VER-6]. */
static ldg_status
env_key(void *ctx, const uint8_t pub[LDG_PUB_BYTES], ldgi_keystate *ks, ldg_err *err)
{
    (void)err;
    return ldgi_registry_get(&((vstate *)ctx)->reg, pub, ks);
}

static ldg_status
env_ledger(void *ctx, const uint8_t **logkey, const char **origin, size_t *origin_len, ldg_err *err)
{
    (void)err;
    vstate *v = ctx;
    *logkey = v->have_genesis ? v->logkey : NULL;
    *origin = v->have_genesis ? v->origin : NULL;
    *origin_len = v->origin_len;
    return LDG_OK;
}

/* Refs are joined with the leaf hashes computed from the entries at the end [VER-7]. */
static ldg_status
env_ref(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, size_t r, ldgi_link *out,
        ldg_err *err)
{
    (void)err;
    vstate *v = ctx;
    *out = LDGI_LINK_OK; /* below --since: proven by the checkpoint [VER-11] */
    if (seq < v->o_since)
        return LDG_OK;
    if (!ldgi_runs_add(v->refs, hash, seq, r))
        return runs_failed(v);
    *out = LDGI_LINK_LATER;
    return LDG_OK;
}

static ldg_status
env_observed(void *ctx, uint64_t size, const uint8_t head[LDG_HASH_BYTES], uint64_t seq,
             ldgi_link *out, ldg_err *err)
{
    (void)err;
    vstate *v = ctx;
    if (seq < v->o_since) {
        *out = LDGI_LINK_OK;
    } else if (seq - (size - 1) < RECENT) {
        /* Most heads are recent: compare with the leaf hash we computed. */
        *out = memcmp(v->recent[(size - 1) % RECENT], head, LDG_HASH_BYTES) == 0 ? LDGI_LINK_OK
                                                                                 : LDGI_LINK_BAD;
    } else {
        /* An older head is joined with the computed leaf hashes at the end. */
        if (!ldgi_runs_add(v->refs, head, seq, OBSERVED | (size - 1)))
            return runs_failed(v);
        *out = LDGI_LINK_LATER;
    }
    return LDG_OK;
}

/*
 * [POL-13][POL-15] The entry a ref names, read from the snapshot and proven
 * by its re-hashed bytes: the leaf index only finds it.  An index that
 * hides it leaves the rule undecided here, and is itself reported [VER-9].
 */
static ldg_status
env_ref_entry(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, ldgi_refentry *out,
              ldg_err *err)
{
    return ldgi_ref_entry(((vstate *)ctx)->t, hash, seq, out, err);
}

static ldg_status
env_identity(void *ctx, const uint8_t pub[LDG_PUB_BYTES], uint8_t id[LDG_HASH_BYTES], ldg_err *err)
{
    (void)err;
    return ldgi_registry_identity(&((vstate *)ctx)->reg, pub, id);
}

static ldg_status
env_identity_keys(void *ctx, const uint8_t id[LDG_HASH_BYTES], ldgi_idkey_fn each, void *ectx,
                  ldg_err *err)
{
    (void)err;
    ldgi_registry_identity_keys(&((vstate *)ctx)->reg, id, each, ectx);
    return LDG_OK;
}

typedef struct policy_fail {
    vstate *v;
    uint64_t seq;
} policy_fail;

static bool
policy_finding(void *ctx, ldgi_check c, ldg_status status, const char *why)
{
    (void)status;
    policy_fail *pf = ctx;
    finding(pf->v, LDG_FINDING_FAIL, pf->seq, ldgi_checks[c].name, "%s", why);
    return true; /* a verifier reports every finding */
}

/* Registry and policy at this point of history: the one engine [POL-*][KEY-4][VER-6]. */
static ldg_status
check_policy(vstate *v, const ldgi_stmt *st, uint64_t seq)
{
    ldgi_policy_env env = {.ctx = v,
                           .key = env_key,
                           .ledger = env_ledger,
                           .ref = env_ref,
                           .observed = env_observed,
                           .allow_genesis = true,
                           .ref_entry = env_ref_entry,
                           .identity = env_identity,
                           .identity_keys = env_identity_keys};
    policy_fail pf = {v, seq};
    ldgi_key_effect eff;
    ldg_status s = ldgi_policy_apply(&env, st, seq, policy_finding, &pf, &eff, v->err);
    if (s != LDG_OK)
        return s;
    if (seq == 0 && eff.op == LDGI_KEY_ADD) {
        /* the genesis pins the log key and the origin [FMT-9] */
        v->have_genesis = true;
        memcpy(v->logkey, st->actor, LDG_PUB_BYTES);
        memcpy(v->origin, st->origin.p, st->origin.len); /* shape-checked: <= LDG_TEXT_MAX */
        v->origin_len = st->origin.len;
    }
    if ((s = ldgi_registry_apply(&v->reg, &eff, seq, v->err)) != LDG_OK)
        return s;
    if (eff.op == LDGI_KEY_ADD)
        qa_candidate(v, st, seq);
    return LDG_OK;
}

/* Nanoseconds as a rough human span: "3.2 s", "41 min", "172 years". */
static void
span(uint64_t ns, char out[32])
{
    double s = (double)ns / 1e9;
    if (s < 120)
        snprintf(out, 32, "%.1f s", s);
    else if (s < 7200)
        snprintf(out, 32, "%.0f min", s / 60);
    else if (s < 3 * 86400)
        snprintf(out, 32, "%.0f h", s / 3600);
    else if (s < 730 * 86400)
        snprintf(out, 32, "%.0f days", s / 86400);
    else
        snprintf(out, 32, "%.0f years", s / (365.2425 * 86400));
}

/*
 * The host clock [VER-4][FMT-3]: a held host time must say so truthfully,
 * and QA is told where the host clock ran behind the ledger's time (one
 * WARN per run of held entries, past a second) and where a host time lies
 * after the verifier's own clock (once): a clock that jumped ahead leaves
 * both, and neither is hidden by the never-decreasing host time.
 */
#define CLOCK_SLACK_NS 1000000000ull     /* a held time under a second behind: NTP, not news */
#define FUTURE_SLACK_NS 86400000000000ll /* a day: clocks of honest hosts differ less */

static void
check_clock(vstate *v, const ldgi_entry *e, uint64_t seq)
{
    char a[40], b[40], d[32];
    if (e->has_clock) {
        /* a held time is the time before it, and the clock read earlier than that */
        if (seq == 0 || e->time_ns != v->last_time || e->clock_ns >= v->last_time)
            finding(v, LDG_FINDING_FAIL, seq, "time",
                    "the entry says its host time was held, but %s",
                    seq == 0 || e->time_ns != v->last_time
                        ? "its time is not the time of the entry before it"
                        : "its clock reading is not earlier than that time");
        else if (!v->held_run && v->last_time - e->clock_ns > CLOCK_SLACK_NS) {
            ldg_time_format((int64_t)e->clock_ns, 0, 1, a);
            ldg_time_format((int64_t)e->time_ns, 0, 1, b);
            span(v->last_time - e->clock_ns, d);
            finding(v, LDG_FINDING_WARN, seq, "clock",
                    "the host clock read %s, %s behind the ledger's time %s: host time held from "
                    "this entry until the clock catches up (an earlier host time jumped ahead, or "
                    "the clock was set back)",
                    a, d, b);
        }
        v->held_run = true;
    } else {
        v->held_run = false;
    }
    if (!v->future_warned && (int64_t)e->time_ns > v->now &&
        (uint64_t)((int64_t)e->time_ns - v->now) > (uint64_t)FUTURE_SLACK_NS) {
        v->future_warned = true;
        ldg_time_format((int64_t)e->time_ns, 0, 1, a);
        ldg_time_format(v->now, 0, 1, b);
        span((uint64_t)((int64_t)e->time_ns - v->now), d);
        finding(v, LDG_FINDING_WARN, seq, "time",
                "host time %s is %s after this verifier's clock (%s): the host clock jumped "
                "ahead, and every later entry keeps at least this time",
                a, d, b);
    }
}

/*
 * Recomputes the Merkle tree as the leaves stream in [VER-10]: node is the
 * root of the perfect subtree of 2^level0 leaves ending at entry seq; every
 * perfect subtree it completes is compared with the stored node.
 */
static void
tree_fold(vstate *v, uint64_t seq, unsigned level0, const uint8_t node[LDG_HASH_BYTES],
          bool compare)
{
    uint8_t h[LDG_HASH_BYTES], stored[LDG_HASH_BYTES];
    memcpy(h, node, LDG_HASH_BYTES);
    uint64_t index = seq >> level0;
    for (unsigned level = level0;; level++) {
        /* A bad node is reported; the recomputed hash goes on up, so one bad node is one finding.
         */
        if (compare && (!ldgi_tree_cached(v->t, &v->tree, level, index, stored) ||
                        sodium_memcmp(stored, h, LDG_HASH_BYTES) != 0))
            finding(v, LDG_FINDING_FAIL, seq, "tree",
                    "the stored Merkle tree node (level %u, index %llu) is missing or wrong", level,
                    (unsigned long long)index);
        if (!(index & 1) || level == 63) {
            memcpy(v->frontier[level], h, LDG_HASH_BYTES);
            break;
        }
        ldgi_node_hash(v->frontier[level], h, h);
        index >>= 1;
    }
}

/*
 * Item i of c (entry seq) into the tree.  In a subtree of TBLOCK entries
 * below --since whose root phase A hashed, nothing until its last entry,
 * then the levels below the root as a leaf-by-leaf fold leaves them, and
 * the root folded in: the same frontier as TBLOCK calls of the fold, with
 * no node hash here.  Not where a held checkpoint's size falls inside the
 * subtree (its root is taken from the frontier there).
 */
static void
check_tree(vstate *v, const chunk *c, size_t i, uint64_t seq, const uint8_t leaf[LDG_HASH_BYTES],
           bool compare)
{
    size_t b = i / TBLOCK;
    if (!compare && c->by_block && c->root_ok[b]) {
        uint64_t lo = c->it[b * TBLOCK].key_seq, tie = v->x ? v->x->tie_size : 0;
        if (!(tie > lo && tie < lo + TBLOCK)) {
            if (i % TBLOCK == TBLOCK - 1) {
                for (unsigned k = 0; k < 6; k++)
                    memcpy(v->frontier[k], c->edge[b][k], LDG_HASH_BYTES);
                tree_fold(v, seq, 6, c->root[b], false);
            }
            return;
        }
    }
    tree_fold(v, seq, 0, leaf, compare);
}

/* The tree head of the entries seen, from the frontier. */
static void
tree_root(vstate *v, uint64_t n, uint8_t root[LDG_HASH_BYTES])
{
    bool have = false;
    for (unsigned k = 0; k < 64; k++) {
        if (!(n >> k & 1))
            continue;
        if (!have)
            memcpy(root, v->frontier[k], LDG_HASH_BYTES);
        else
            ldgi_node_hash(v->frontier[k], root, root);
        have = true;
    }
    if (!have)
        crypto_hash_sha256(root, NULL, 0);
}

/* An earlier entry, below --since, that later ones refer to, observed or repeat [VER-11]. */
static void
meet_wants(vstate *v, const item *x, uint64_t seq)
{
    for (size_t i = want_first(v->wants, v->nwants, x->leaf);
         i < v->nwants && memcmp(v->wants[i].key, x->leaf, LDG_HASH_BYTES) == 0; i++) {
        wantrec *w = &v->wants[i];
        if (w->aux & WANT_COMMIT)
            continue;
        if (w->aux & OBSERVED)
            w->met |= (w->aux & ~OBSERVED) == seq;
        else
            w->met |= seq < w->seq;
    }
    if (!x->stmt_ok)
        return;
    size_t first = want_first(v->wants, v->nwants, x->st.body);
    if (first == v->nwants)
        return;
    /* The claimed time too (a peeked statement has only actor, commitment and kind). */
    ldgi_stmt *full = ldgi_malloc(sizeof *full);
    const char *why;
    bool timed = full && ldgi_stmt_decode_proven(x->e.stmt, x->e.stmt_len, full, &why);
    for (size_t i = first;
         timed && i < v->nwants && memcmp(v->wants[i].key, x->st.body, LDG_HASH_BYTES) == 0; i++) {
        wantrec *w = &v->wants[i];
        if (!(w->aux & WANT_COMMIT) || w->met || w->t != claimed_key(full))
            continue;
        w->met = true;
        finding(v, LDG_FINDING_FAIL, w->seq, "replay",
                "the same signed statement is entry %llu: a statement is appended once",
                (unsigned long long)seq);
    }
    free(full);
}

/* A ref or observed head of a later entry that an entry below --since satisfied. */
static bool
want_met(const vstate *v, const ldgi_rec *r)
{
    if (!v->fast)
        return false;
    wantrec k;
    memcpy(k.key, r->key, LDG_HASH_BYTES);
    k.seq = r->seq;
    k.aux = r->aux;
    const wantrec *w = bsearch(&k, v->wants, v->nwants, sizeof *v->wants, want_cmp);
    return w && w->met;
}

/* The head of the first --since entries, once they have all gone into the tree. */
static void
since_capture(vstate *v, uint64_t seq)
{
    if (v->o_since && seq + 1 == v->o_since) {
        tree_root(v, v->o_since, v->since_root);
        v->since_seen = true;
    }
    if (v->x && v->x->tie_size && seq + 1 == v->x->tie_size) {
        uint8_t root[LDG_HASH_BYTES];
        tree_root(v, seq + 1, root);
        v->tie_seen = true;
        if (sodium_memcmp(root, v->x->tie_root, LDG_HASH_BYTES) != 0)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "the first %llu entries do not give the root of the checkpoint held",
                    (unsigned long long)v->x->tie_size);
    }
}

static ldg_status
phase_b(vstate *v, chunk *c)
{
    for (size_t i = 0; i < c->n; i++) {
        item *x = &c->it[i];
        if (v->gate && x->key_ok && x->key_seq >= v->o_since && !gate_pass(v, v->o->since_root))
            return LDG_OK; /* stopped: nothing more is read */
        if (!x->key_ok) {
            finding(v, LDG_FINDING_FAIL, v->expect, "encoding", "an entries key is not 8 bytes");
            continue;
        }
        uint64_t seq = x->key_seq;
        if (seq != v->expect) {
            if (seq > v->expect)
                finding(v, LDG_FINDING_FAIL, v->expect, "seq",
                        "entries %llu..%llu are missing (removed)", (unsigned long long)v->expect,
                        (unsigned long long)seq - 1);
            else
                finding(v, LDG_FINDING_FAIL, seq, "seq", "entry key out of order");
            v->expect = seq;
        }
        v->expect = seq + 1;
        v->sum->entries++;
        /*
         * [VER-11] An entry below --since is proven unchanged by the
         * checkpoint's root, recomputed here from its bytes: only what the
         * later entries depend on is taken from it (chain, time, key
         * registry, leaf hash for refs, commitment for replays).
         */
        bool old = seq < v->o_since, fast_old = old && v->fast;
        if (!fast_old && !ldgi_runs_add(v->leafs, x->leaf, seq, 0))
            return runs_failed(v);
        check_tree(v, c, i, seq, x->leaf, !old);
        since_capture(v, seq);
        if (!x->entry_ok) {
            finding(v, LDG_FINDING_FAIL, seq, "encoding", "entry does not decode: %s",
                    x->why ? x->why : "?");
            memcpy(v->prev, x->leaf, LDG_HASH_BYTES);
            memcpy(v->recent[seq % RECENT], x->leaf, LDG_HASH_BYTES);
            continue;
        }
        if (x->e.seq != seq)
            finding(v, LDG_FINDING_FAIL, seq, "seq", "entry says seq %llu",
                    (unsigned long long)x->e.seq);
        if (memcmp(x->e.prev, v->prev, LDG_HASH_BYTES) != 0)
            finding(v, LDG_FINDING_FAIL, seq, "prev",
                    "prev hash does not match the leaf hash of entry %llu (chain broken)",
                    (unsigned long long)(seq ? seq - 1 : 0));
        if (x->e.time_ns < v->last_time)
            finding(v, LDG_FINDING_FAIL, seq, "time", "host time goes backwards");
        check_clock(v, &x->e, seq);
        v->last_time = x->e.time_ns > v->last_time ? x->e.time_ns : v->last_time;
        memcpy(v->prev, x->leaf, LDG_HASH_BYTES);
        memcpy(v->recent[seq % RECENT], x->leaf, LDG_HASH_BYTES);
        if (!x->stmt_ok) {
            finding(v, LDG_FINDING_FAIL, seq, "statement", "statement does not decode: %s",
                    x->why ? x->why : "?");
            continue;
        }
        if (seq >= v->o_since)
            v->sum->signatures++;
        uint64_t fails = v->sum->failures; /* an erasure with a failure of its own erases nothing */
        if (!x->sig_ok)
            finding(v, LDG_FINDING_FAIL, seq, "signature",
                    "signature does not verify under the statement's key");
        if (fast_old && x->wanted)
            meet_wants(v, x, seq);
        if (!fast_old &&
            !ldgi_runs_add(v->commits, x->st.body, seq, old ? TIME_UNKNOWN : claimed_key(&x->st)))
            return runs_failed(v);
        ldg_status s;
        if (old) {
            ldgi_kindclass kc = ldgi_kind_class(x->st.kind.p, x->st.kind.len);
            bool keyrec =
                kc == LDGI_KIND_GENESIS || kc == LDGI_KIND_KEY_ADD || kc == LDGI_KIND_KEY_REVOKE;
            /*
             * The registry at the checkpoint rests on its key records: their
             * signatures are checked again (a handful of entries), so a
             * checkpoint signed over a history nobody verified cannot smuggle
             * in a key, a QA key above all [CKP-5].
             */
            if (keyrec && !ldgi_stmt_sig_ok(x->e.stmt, x->e.stmt_len, x->st.actor, x->e.sig))
                finding(v, LDG_FINDING_FAIL, seq, "signature",
                        "signature does not verify under the statement's key");
            if (keyrec && (s = check_policy(v, &x->st, seq)) != LDG_OK)
                return s;
            /* [VER-11] each erasure below the checkpoint took one body below it */
            v->erased_below += ldgi_stmt_is_erasure(&x->st);
        } else if ((s = check_policy(v, &x->st, seq)) != LDG_OK ||
                   (s = check_body(v, &x->st, seq)) ||
                   (ldgi_stmt_is_erasure(&x->st) &&
                    (s = check_erasure(v, &x->st, seq, v->sum->failures == fails))) ||
                   (s = check_indexes(v, x, seq))) {
            return s;
        }
        /*
         * The entries and bodies stream through, so the mapped part of the
         * file grows with the ledger.  Past a budget, drop the mappings (the
         * pages stay in the page cache): the resident set stays bounded
         * whatever the ledger's size [VER-1].
         */
        if (++v->since_check == MAP_CHECK_EVERY) {
            v->since_check = 0;
            if (ldgi_mapped_bytes() > LDGI_MAP_BUDGET)
                ldgi_map_release(v->l);
        }
    }
    return LDG_OK;
}

/* Fills c with the next entries from the cursor; false at the end. */
static ldg_status
collect(ldgi_cur *cur, bool *first, chunk *c, uint64_t limit, ldg_err *err)
{
    c->n = 0;
    while (c->n < CHUNK) {
        const uint8_t *k, *val;
        size_t kl, vl;
        ldg_status s = *first ? ldgi_cur_seek(cur, NULL, 0, &k, &kl, &val, &vl, err)
                              : ldgi_cur_next(cur, &k, &kl, &val, &vl, err);
        *first = false;
        if (s == LDG_E_NOTFOUND)
            break;
        if (s != LDG_OK)
            return s;
        if (kl == 8 && ldgi_rd64(k) >= limit)
            break; /* prefix_only: the entries from the checkpoint on are not read */
        item *x = &c->it[c->n++];
        x->key_ok = kl == 8;
        x->key_seq = kl == 8 ? ldgi_rd64(k) : 0;
        x->p = val;
        x->n = vl;
    }
    return LDG_OK;
}

/* Starts the helpers on phase A of c; the caller joins in at finish(). */
static void
start(ldgi_pool *p, chunk *c)
{
    atomic_store(&c->next, 0);
    c->by_block = c->since > 0;
    for (size_t i = 0; i < c->n && c->by_block; i++)
        c->by_block = c->it[i].key_seq < c->since;
    if (c->n >= 2)
        ldgi_pool_start(p, phase_a_job, c); /* nothing without helpers */
}

/* The caller works through what is left of c's phase A, then waits for the helpers. */
static void
finish(ldgi_pool *p, chunk *c)
{
    phase_a(c);
    ldgi_pool_wait(p); /* at once when start() handed nothing over */
}

static int
key_cmp(const ldgi_rec *a, const ldgi_rec *b)
{
    return memcmp(a->key, b->key, LDG_HASH_BYTES);
}

static void
mapped_check(vstate *v, size_t *count)
{
    if (++*count % 512 == 0 && ldgi_mapped_bytes() > LDGI_MAP_BUDGET)
        ldgi_map_release(v->l);
}

/*
 * The leaf hashes computed from the entries and the refs and older observed
 * heads, each sorted by hash, merged in one pass [VER-7]: a ref must name an
 * earlier entry, an observed head the entry before that size.  (The leaf-hash
 * index is checked record by record: check_indexes.)
 */
static ldg_status
merge_leafs(vstate *v)
{
    ldgi_rec l, r;
    size_t count = 0;
    for (;;) {
        const ldgi_rec *pl = ldgi_runs_peek(v->leafs), *pr = ldgi_runs_peek(v->refs);
        if (!pl && !pr)
            break;
        /* The smaller key of the two streams. */
        const ldgi_rec *k = !pl || (pr && key_cmp(pr, pl) < 0) ? pr : pl;
        uint8_t key[LDG_HASH_BYTES];
        memcpy(key, k->key, LDG_HASH_BYTES);
        uint64_t lowest = UINT64_MAX;
        uint64_t seqs[4];
        size_t nseq = 0;
        while ((pl = ldgi_runs_peek(v->leafs)) && memcmp(pl->key, key, LDG_HASH_BYTES) == 0) {
            ldgi_runs_next(v->leafs, &l);
            if (nseq < 4)
                seqs[nseq++] = l.seq;
            lowest = l.seq < lowest ? l.seq : lowest;
        }
        while ((pr = ldgi_runs_peek(v->refs)) && memcmp(pr->key, key, LDG_HASH_BYTES) == 0) {
            ldgi_runs_next(v->refs, &r);
            if (r.aux & OBSERVED) {
                uint64_t want = r.aux & ~OBSERVED;
                bool ok = false;
                for (size_t i = 0; i < nseq; i++)
                    ok |= seqs[i] == want;
                if (!ok && !want_met(v, &r))
                    finding(v, LDG_FINDING_FAIL, r.seq, "observed",
                            "the signer observed a chain head (size %llu) that this chain does "
                            "not have",
                            (unsigned long long)want + 1);
            } else if (lowest >= r.seq && !want_met(v, &r)) {
                finding(v, LDG_FINDING_FAIL, r.seq, "ref", "ref %llu names no earlier entry",
                        (unsigned long long)r.aux);
            }
        }
        mapped_check(v, &count);
    }
    if (ldgi_runs_failed(v->leafs) || ldgi_runs_failed(v->refs))
        return runs_failed(v);
    return LDG_OK;
}

#define GROUP_MAX ((size_t)1 << 20) /* statements of one commitment that are told apart */

static int
by_time(const void *a, const void *b)
{
    const ldgi_rec *x = a, *y = b;
    if (x->aux != y->aux)
        return x->aux < y->aux ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The claimed time (claimed_key) of entry seq's statement, read again; TIME_UNKNOWN if none. */
static uint64_t
claimed_of(vstate *v, uint64_t seq)
{
    uint8_t k[8];
    const uint8_t *val;
    size_t vl;
    ldgi_entry e;
    const char *why;
    ldgi_be64(k, seq);
    uint64_t t = TIME_UNKNOWN;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (st && ldgi_get(v->t, LDGI_DB_ENTRIES, k, 8, &val, &vl, NULL) == LDG_OK &&
        ldgi_entry_decode_proven(val, vl, &e, &why) &&
        ldgi_stmt_decode_proven(e.stmt, e.stmt_len, st, &why))
        t = claimed_key(st);
    free(st);
    return t;
}

/*
 * The statements' commitments, sorted, with their claimed times [POL-9]: a
 * second statement with the same commitment and the same claimed time is a
 * replay of the first.  Statements of one commitment (one, unless a
 * statement was replayed or a salt reused) are sorted by time; one below
 * --since, whose time was not read in the pass, is read again.  (The
 * statement index: check_indexes.)
 */
static ldg_status
merge_commits(vstate *v)
{
    ldgi_rec x, *g = NULL;
    size_t count = 0, cap = 0;
    ldg_status s = LDG_OK;
    while (s == LDG_OK && ldgi_runs_next(v->commits, &x)) {
        size_t n = 0;
        bool over = false;
        for (bool more = true; more;) {
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 16;
                ldgi_rec *ng = n < GROUP_MAX ? ldgi_realloc(g, nc * sizeof *ng) : NULL;
                if (!ng && n < GROUP_MAX) {
                    s = ldgi_fail(v->err, LDG_E_NOMEM, "verify: out of memory");
                    break;
                }
                if (ng) {
                    g = ng;
                    cap = nc;
                }
            }
            if (n < GROUP_MAX)
                g[n++] = x;
            else
                over = true;
            const ldgi_rec *p = ldgi_runs_peek(v->commits);
            more = p && key_cmp(p, &x) == 0 && ldgi_runs_next(v->commits, &x);
        }
        if (over)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "replay",
                    "more than %zu statements share one commitment: only the first were compared",
                    GROUP_MAX);
        if (s == LDG_OK && n > 1) {
            for (size_t i = 0; i < n; i++)
                if (g[i].aux == TIME_UNKNOWN)
                    g[i].aux = claimed_of(v, g[i].seq);
            qsort(g, n, sizeof *g, by_time);
            for (size_t i = 1, first = 0; i < n; i++) {
                if (g[i].aux != g[first].aux || g[i].aux == TIME_UNKNOWN)
                    first = i;
                else
                    finding(v, LDG_FINDING_FAIL, g[i].seq, "replay",
                            "the same signed statement is entry %llu: a statement is appended once",
                            (unsigned long long)g[first].seq);
            }
        }
        mapped_check(v, &count);
    }
    free(g);
    if (s == LDG_OK && ldgi_runs_failed(v->commits))
        s = runs_failed(v);
    return s;
}

/*
 * Who erased, when and why, for an ERASED finding [VER-8]: read again from
 * the erasure's entry and body (signed, checked earlier in this pass) and the
 * key record that registered its signer.  Erasures are few: one lookup each.
 */
static ldg_status
erasure_detail(vstate *v, uint64_t eseq, char *out, size_t outlen)
{
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st)
        return ldgi_fail(v->err, LDG_E_NOMEM, "verify: out of memory");
    char who[200] = "an unknown signer", when[40] = "?", reason[300] = "?", basis[300] = "?";
    const uint8_t *val;
    size_t vl;
    uint8_t k[8];
    ldgi_entry e;
    const char *why;
    ldgi_be64(k, eseq);
    ldg_status s = ldgi_get(v->t, LDGI_DB_ENTRIES, k, 8, &val, &vl, v->err);
    if (s == LDG_OK && ldgi_entry_decode(val, vl, &e, &why) &&
        ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why)) {
        ldg_time_format((int64_t)e.time_ns, 0, 1, when);
        if (st->has_reason)
            snprintf(reason, sizeof reason, "%.*s", (int)st->reason.len, st->reason.p);
        ldgi_regslot *ks = ldgi_registry_find(&v->reg, st->actor, false);
        if (ks) {
            uint64_t added = ks->ks.added_seq;
            sodium_bin2hex(who, 17, st->actor, 8);
            ldgi_be64(k, added);
            if ((s = ldgi_get(v->t, LDGI_DB_ENTRIES, k, 8, &val, &vl, v->err)) == LDG_OK &&
                ldgi_entry_decode(val, vl, &e, &why) &&
                ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why) && st->key_full)
                snprintf(who, sizeof who, "%.*s (%.*s)",
                         (int)(st->key_name.len > 80 ? 80 : st->key_name.len), st->key_name.p,
                         (int)(st->key_id.len > 80 ? 80 : st->key_id.len), st->key_id.p);
        }
        ldgi_be64(k, eseq);
        if (s == LDG_OK || s == LDG_E_NOTFOUND)
            s = ldgi_get(v->t, LDGI_DB_BODIES, k, 8, &val, &vl, v->err);
        if (s == LDG_OK && vl >= LDG_SALT_BYTES)
            ldgi_body_legal_basis(val + LDG_SALT_BYTES, vl - LDG_SALT_BYTES, basis, sizeof basis);
    }
    free(st);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    snprintf(out, outlen, "body erased by entry %llu: by %s at %s; reason: %s; legal basis: %s",
             (unsigned long long)eseq, who, when, reason, basis);
    return LDG_OK;
}

/*
 * [VER-8] Missing bodies and erasure records, both keyed by the record's
 * seq, merged: a body missing with an erasure is ERASED, without one a
 * failure; an erasure whose body is still there, or a second erasure of one
 * record, a failure.
 */
static ldg_status
merge_erasures(vstate *v)
{
    ldgi_rec r;
    size_t count = 0;
    ldg_status s = LDG_OK;
    while (s == LDG_OK && ldgi_runs_next(v->erasures, &r)) {
        uint64_t seq = ldgi_rd64(r.key), first = UINT64_MAX;
        bool missing = r.aux == MISSING;
        if (!missing)
            first = r.seq;
        const ldgi_rec *p;
        while ((p = ldgi_runs_peek(v->erasures)) && memcmp(p->key, r.key, LDG_HASH_BYTES) == 0) {
            ldgi_rec x;
            ldgi_runs_next(v->erasures, &x);
            if (x.aux == MISSING)
                continue;
            if (first == UINT64_MAX)
                first = x.seq;
            else
                finding(v, LDG_FINDING_FAIL, x.seq, "erasure",
                        "erases the body of entry %llu again (erased at seq %llu)",
                        (unsigned long long)seq, (unsigned long long)first);
        }
        if (first == UINT64_MAX && v->x && v->x->withheld_ok) {
            v->sum->withheld++; /* [MIR-6] a mirror without bodies */
            continue;
        }
        if (first == UINT64_MAX) {
            finding(v, LDG_FINDING_FAIL, seq, "body", "body missing without an erasure record");
            continue;
        }
        if (!missing && seq < v->o_since) {
            /* [VER-11] a body below --since was not looked up in the pass */
            const uint8_t *val;
            size_t vl;
            uint8_t k[8];
            ldgi_be64(k, seq);
            s = ldgi_get(v->t, LDGI_DB_BODIES, k, 8, &val, &vl, v->err);
            if (s != LDG_OK && s != LDG_E_NOTFOUND)
                break;
            missing = s == LDG_E_NOTFOUND;
            s = LDG_OK;
        }
        if (!missing) {
            finding(v, LDG_FINDING_FAIL, seq, "erasure",
                    "body still present after erasure at seq %llu", (unsigned long long)first);
            continue;
        }
        char detail[1200];
        if ((s = erasure_detail(v, first, detail, sizeof detail)) != LDG_OK)
            break;
        finding(v, LDG_FINDING_ERASED, seq, "body", "%s", detail);
        mapped_check(v, &count);
    }
    if (s == LDG_OK && ldgi_runs_failed(v->erasures))
        s = runs_failed(v);
    return s;
}

/*
 * [CKP-2] Every checkpoint the ledger stored: signed by the genesis' log
 * key, for this origin, and the tree of that size has that root.
 */
static ldg_status
check_checkpoints(vstate *v)
{
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(v->t, LDGI_DB_CHECKPOINTS, &c, v->err);
    if (s != LDG_OK)
        return s;
    const uint8_t *k, *val;
    size_t kl, vl;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &val, &vl, v->err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &val, &vl, v->err)) {
        ldg_checkpoint cp;
        ldg_err e;
        uint8_t root[LDG_HASH_BYTES];
        uint64_t size = kl == 8 ? ldgi_rd64(k) : UINT64_MAX;
        if (!v->have_genesis ||
            ldg_checkpoint_parse((const char *)val, vl, NULL, v->logkey, &cp, &e) != LDG_OK)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "stored checkpoint of size %llu: %s", (unsigned long long)size,
                    v->have_genesis ? e.msg : "no genesis");
        else if (cp.size != size || strlen(cp.origin) != v->origin_len ||
                 memcmp(cp.origin, v->origin, v->origin_len) != 0)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "stored checkpoint of size %llu names size %llu or another origin",
                    (unsigned long long)size, (unsigned long long)cp.size);
        else if (cp.size > v->sum->entries ||
                 !ldgi_merkle_root(cp.size, ldgi_tree_node, v->t, root) ||
                 sodium_memcmp(root, cp.root, LDG_HASH_BYTES) != 0)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "the ledger's own checkpoint of size %llu does not match its tree: it was "
                    "rolled back, truncated or rewritten",
                    (unsigned long long)cp.size);
    }
    ldgi_cur_close(c);
    return s == LDG_E_NOTFOUND ? LDG_OK : s;
}

/* Bodies of the entries whose bodies were checked: all, or from --since on [VER-11]. */
static ldg_status
count_bodies(vstate *v, uint64_t *n)
{
    if (!v->o_since || v->o_since >= v->sum->entries)
        return v->o_since ? (*n = 0, LDG_OK) : ldgi_count(v->t, LDGI_DB_BODIES, n, v->err);
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(v->t, LDGI_DB_BODIES, &c, v->err);
    if (s != LDG_OK)
        return s;
    uint8_t from[8];
    ldgi_be64(from, v->o_since);
    const uint8_t *k, *val;
    size_t kl, vl;
    *n = 0;
    size_t count = 0;
    for (s = ldgi_cur_seek(c, from, 8, &k, &kl, &val, &vl, v->err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &val, &vl, v->err)) {
        ++*n;
        mapped_check(v, &count);
    }
    ldgi_cur_close(c);
    return s == LDG_E_NOTFOUND ? LDG_OK : s;
}

/* Cross-checks that need the whole pass: index sizes and the stored key registry. */
static ldg_status
check_totals(vstate *v)
{
    static const struct {
        ldgi_db db;
        const char *name;
    } idx[] = {{LDGI_DB_STUDY, "study"}, {LDGI_DB_KIND, "kind"}, {LDGI_DB_ACTOR, "actor"}};
    uint64_t n;
    ldg_status s;
    for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++) {
        if ((s = ldgi_count(v->t, idx[i].db, &n, v->err)) != LDG_OK)
            return s;
        if (n != v->sum->entries)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "index",
                    "the %s index has %llu entries for %llu records", idx[i].name,
                    (unsigned long long)n, (unsigned long long)v->sum->entries);
    }
    static const struct {
        ldgi_db db;
        const char *name;
    } hidx[] = {{LDGI_DB_LEAF, "leaf-hash"}, {LDGI_DB_COMMIT, "statement"}};
    for (size_t i = 0; i < sizeof hidx / sizeof hidx[0]; i++) {
        /* Each record's key was looked up: with the right size, nothing else is in them. */
        if ((s = ldgi_count(v->t, hidx[i].db, &n, v->err)) != LDG_OK)
            return s;
        if (n != v->sum->entries)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "index",
                    "the %s index has %llu entries for %llu records", hidx[i].name,
                    (unsigned long long)n, (unsigned long long)v->sum->entries);
    }
    char why[256];
    if ((s = ldgi_tree_shape(v->t, v->sum->entries, why, sizeof why, v->err)) != LDG_OK)
        return s;
    if (why[0])
        finding(v, LDG_FINDING_FAIL, UINT64_MAX, "tree", "%s", why);
    if ((s = count_bodies(v, &n)) != LDG_OK)
        return s;
    uint64_t checked = v->sum->entries > v->o_since ? v->sum->entries - v->o_since : 0;
    if (n + v->missing != checked)
        finding(v, LDG_FINDING_FAIL, UINT64_MAX, "body",
                "%llu stored bodies for %llu records with %llu missing (bodies for no record)",
                (unsigned long long)n, (unsigned long long)checked, (unsigned long long)v->missing);
    if (v->o_since && v->o_since <= v->sum->entries && !(v->x && v->x->withheld_ok)) {
        /*
         * [VER-11] Bodies below the checkpoint are not looked up one by one,
         * but their number is known: one each, less one per erasure of one.
         */
        uint64_t all;
        if ((s = ldgi_count(v->t, LDGI_DB_BODIES, &all, v->err)) != LDG_OK)
            return s;
        uint64_t below = all - n, expect = v->o_since - v->erased_below;
        if (all < n || below != expect)
            finding(v, LDG_FINDING_FAIL, UINT64_MAX, "body",
                    "%llu stored bodies below the checkpoint's %llu entries, %llu erased: a body "
                    "was removed or put back without an erasure record (ldg verify without "
                    "--since names it)",
                    (unsigned long long)below, (unsigned long long)v->o_since,
                    (unsigned long long)v->erased_below);
    }
    if ((s = ldgi_count(v->t, LDGI_DB_KEYS, &n, v->err)) != LDG_OK)
        return s;
    if (n != v->reg.n)
        finding(v, LDG_FINDING_FAIL, UINT64_MAX, "keys",
                "the key registry holds %llu keys; the key records add %zu", (unsigned long long)n,
                v->reg.n);
    for (size_t i = 0; i < v->reg.cap; i++) {
        ldgi_regslot *k = &v->reg.slot[i];
        if (!k->used)
            continue;
        const uint8_t *val;
        size_t vl;
        ldgi_keystate ks;
        s = ldgi_get(v->t, LDGI_DB_KEYS, k->pub, LDG_PUB_BYTES, &val, &vl, v->err);
        if (s != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        if (s == LDG_E_NOTFOUND || !ldgi_keystate_unpack(val, vl, &ks) ||
            ks.added_seq != k->ks.added_seq || ks.revoked_seq != k->ks.revoked_seq ||
            ks.roles != k->ks.roles)
            finding(v, LDG_FINDING_FAIL, k->ks.added_seq, "keys",
                    "the stored key registry disagrees with the key records");
    }
    return LDG_OK;
}

static bool
want_add(vstate *v, size_t *cap, const uint8_t key[LDG_HASH_BYTES], uint64_t seq, uint64_t aux,
         uint64_t t)
{
    if (v->nwants == WANTS_MAX)
        return false;
    if (v->nwants == *cap) {
        size_t nc = *cap ? (*cap > WANTS_MAX / 2 ? WANTS_MAX : *cap * 2) : 1024;
        wantrec *nw = ldgi_realloc(v->wants, nc * sizeof *nw);
        if (!nw)
            return false;
        v->wants = nw;
        *cap = nc;
    }
    wantrec *w = &v->wants[v->nwants++];
    memcpy(w->key, key, LDG_HASH_BYTES);
    w->seq = seq;
    w->aux = aux;
    w->t = t;
    w->met = false;
    return true;
}

/*
 * [VER-11] Before the pass, reads the entries from --since on for what they
 * need from the earlier ones: then the earlier entries are only hashed and
 * looked up in that list, not sorted and merged.  Entries that do not
 * decode are skipped here (the pass reports them).  Too many later entries,
 * or no memory, and the pass runs the ordinary way (v->fast stays false).
 */
static ldg_status
collect_wants(vstate *v, uint64_t total)
{
    if (!v->o_since || total < v->o_since || total - v->o_since > SUFFIX_MAX)
        return LDG_OK;
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(v->t, LDGI_DB_ENTRIES, &c, v->err);
    if (s != LDG_OK)
        return s;
    uint8_t from[8];
    ldgi_be64(from, v->o_since);
    const uint8_t *k, *val;
    size_t kl, vl, cap = 0, seen = 0;
    bool room = true;
    for (s = ldgi_cur_seek(c, from, 8, &k, &kl, &val, &vl, v->err); s == LDG_OK && room;
         s = ldgi_cur_next(c, &k, &kl, &val, &vl, v->err)) {
        ldgi_entry e;
        ldgi_stmt st;
        const char *why;
        if (kl != 8 || !ldgi_entry_decode(val, vl, &e, &why) ||
            !ldgi_stmt_decode(e.stmt, e.stmt_len, &st, &why))
            continue;
        uint64_t seq = ldgi_rd64(k);
        mapped_check(v, &seen);
        room = want_add(v, &cap, st.body, seq, WANT_COMMIT, claimed_key(&st));
        for (size_t r = 0; room && r < st.nrefs; r++)
            room = want_add(v, &cap, st.refs[r], seq, r + 1, 0);
        if (room && st.has_observed && st.observed_size && st.observed_size - 1 < v->o_since)
            room = want_add(v, &cap, st.observed_head, seq, OBSERVED | (st.observed_size - 1), 0);
    }
    ldgi_cur_close(c);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    if (!room) {
        free(v->wants);
        v->wants = NULL;
        v->nwants = 0;
        return LDG_OK;
    }
    uint32_t bits = FILTER_BITS_MIN;
    while (bits < FILTER_BITS_MAX && bits / 16 < v->nwants)
        bits *= 2;
    v->filter_mask = bits - 1;
    if (!(v->filter = ldgi_calloc(bits / 64, sizeof *v->filter))) {
        free(v->wants);
        v->wants = NULL;
        v->nwants = 0;
        return LDG_OK;
    }
    for (size_t i = 0; i < v->nwants; i++) {
        uint32_t b = filter_bit(v->wants[i].key, v->filter_mask);
        v->filter[b / 64] |= UINT64_C(1) << (b % 64);
    }
    if (v->nwants) /* qsort of NULL, even of none, is undefined */
        qsort(v->wants, v->nwants, sizeof *v->wants, want_cmp);
    v->fast = true;
    return LDG_OK;
}

ldg_status
ldg_verify_run(ldg_ledger *l, const ldg_verify_opts *o, ldg_verify_summary *sum, ldg_err *err)
{
    return ldgi_verify_run(l, o, sum, NULL, err);
}

ldg_status
ldgi_verify_run(ldg_ledger *l, const ldg_verify_opts *o, ldg_verify_summary *sum, ldgi_verify_x *x,
                ldg_err *err)
{
    memset(sum, 0, sizeof *sum);
    vstate v = {.l = l, .o = o, .sum = sum, .err = err, .x = x};
    if (o && o->now_ns)
        v.now = o->now_ns;
    else
        ldg_time_now(&v.now, NULL);
    if (x) {
        x->have_genesis = x->qa_ok = x->gate_failed = x->gate_rewritten = false;
        x->origin[0] = x->qa_name[0] = '\0';
        x->qa_time = 0;
    }
    chunk *c[3] = {ldgi_calloc(1, sizeof(chunk)), ldgi_calloc(1, sizeof(chunk)),
                   ldgi_calloc(1, sizeof(chunk))};
    v.ik = ldgi_malloc(LDG_STUDY_MAX + 64);
    v.recent = ldgi_calloc(RECENT, LDG_HASH_BYTES);
    v.leafs = ldgi_runs_new();
    v.commits = ldgi_runs_new();
    v.refs = ldgi_runs_new();
    v.erasures = ldgi_runs_new();
    ldgi_cur *cur = NULL;
    ldg_status s;
    uint64_t total = 0;
    uint8_t head[LDG_HASH_BYTES];
    ldgi_pool *workers = NULL;
    if (!c[0] || !c[1] || !c[2] || !v.ik || !v.recent || !v.leafs || !v.commits || !v.refs ||
        !v.erasures) {
        s = ldgi_fail(err, LDG_E_NOMEM, "verify: out of memory");
        goto out;
    }
    unsigned jobs = o && o->jobs ? o->jobs : ldgi_ncpu();
    v.o_since = o ? o->since_size : 0;
    bool prefix = x && x->prefix_only && v.o_since;
    v.gate = x && x->qa_gate && x->qa_note && v.o_since && !prefix;
    uint64_t limit = prefix ? v.o_since : UINT64_MAX;
    c[0]->since = c[1]->since = c[2]->since = v.o_since;
    workers = ldgi_pool_new(jobs - 1); /* NULL (out of memory): the caller works alone */
    if (x && x->snap)
        v.t = x->snap; /* the caller reads the same snapshot afterwards (ldg review) */
    else if ((s = ldgi_txn_begin(l, false, &v.t, err)) != LDG_OK)
        goto out;
    if (ldgi_head(v.t, &total, head, NULL, NULL) != LDG_OK)
        total = 0;
    if (prefix)
        v.fast = true; /* nothing after the prefix wants anything from it */
    else if ((s = collect_wants(&v, total)) != LDG_OK)
        goto out;
    for (int i = 0; i < 3; i++) {
        c[i]->wants = v.wants;
        c[i]->nwants = v.nwants;
        c[i]->filter = v.filter;
        c[i]->filter_mask = v.filter_mask;
    }
    if ((s = ldgi_cur_open(v.t, LDGI_DB_ENTRIES, &cur, err)) != LDG_OK)
        goto out;
    bool first = true;
    if ((s = collect(cur, &first, c[0], limit, err)) != LDG_OK)
        goto out;
    if (c[0]->n == 0) {
        finding(&v, LDG_FINDING_FAIL, UINT64_MAX, "genesis", "the ledger has no entries");
        goto totals;
    }
    /*
     * Pipeline over three chunks: while the helpers run phase A of the next
     * chunk, the caller reads the one after from the cursor and runs phase B
     * of this one, then helps finish the next one's phase A.  So `jobs`
     * threads stay busy and no core is oversubscribed.
     */
    start(workers, c[0]);
    finish(workers, c[0]);
    if ((s = collect(cur, &first, c[1], limit, err)) != LDG_OK)
        goto out;
    start(workers, c[1]);
    for (int k = 0;; k = (k + 1) % 3) {
        chunk *now = c[k], *next = c[(k + 1) % 3], *after = c[(k + 2) % 3];
        after->n = 0;
        s = next->n ? collect(cur, &first, after, limit, err) : LDG_OK;
        if (s == LDG_OK)
            s = phase_b(&v, now);
        finish(workers, next);
        if (s != LDG_OK || v.stopped)
            goto out;
        if (o && o->on_progress)
            o->on_progress(o->ctx, sum->entries, total);
        if (next->n == 0)
            break;
        start(workers, after);
    }
totals:
    if (v.gate && !gate_pass(&v, o->since_root))
        goto out;
    if (prefix) {
        if (!v.since_seen || sodium_memcmp(v.since_root, o->since_root, LDG_HASH_BYTES) != 0)
            finding(&v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "the first %llu entries do not give the root of the checkpoint",
                    (unsigned long long)v.o_since);
        memcpy(sum->head, v.prev, LDG_HASH_BYTES);
        tree_root(&v, sum->entries, sum->root);
        goto done;
    }
    if (!ldgi_runs_finish(v.leafs) || !ldgi_runs_finish(v.refs) || !ldgi_runs_finish(v.commits) ||
        !ldgi_runs_finish(v.erasures)) {
        s = runs_failed(&v);
        goto out;
    }
    if ((s = merge_leafs(&v)) != LDG_OK || (s = merge_commits(&v)) != LDG_OK ||
        (s = merge_erasures(&v)) != LDG_OK || (s = check_checkpoints(&v)) != LDG_OK)
        goto out;
    if (v.o_since) {
        /* [VER-11] the unsigned-checked prefix must be exactly what the checkpoint signed */
        if (!v.since_seen || sodium_memcmp(v.since_root, o->since_root, LDG_HASH_BYTES) != 0)
            finding(&v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "the first %llu entries do not give the root of the checkpoint verified "
                    "before: changed, removed or rolled back since",
                    (unsigned long long)v.o_since);
    }
    s = check_totals(&v);
    memcpy(sum->head, v.prev, LDG_HASH_BYTES);
    tree_root(&v, sum->entries, sum->root);
done:
    if (x && x->tie_size && !v.tie_seen && !v.stopped)
        finding(&v, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                "the ledger holds %llu entries, fewer than the %llu of the checkpoint held",
                (unsigned long long)sum->entries, (unsigned long long)x->tie_size);
    if (x && v.have_genesis) {
        x->have_genesis = true;
        memcpy(x->origin, v.origin, v.origin_len);
        x->origin[v.origin_len] = '\0';
        memcpy(x->logkey, v.logkey, LDG_PUB_BYTES);
    }
    qa_decide(&v);
out:
    ldgi_pool_free(workers);
    ldgi_cur_close(cur);
    ldgi_cur_close(v.bodies);
    ldgi_cur_close(v.ccur);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < VCURS; j++)
            ldgi_cur_close(v.vcur[i][j]);
    if (!(x && x->snap))
        ldgi_txn_abort(v.t);
    ldgi_registry_free(&v.reg);
    free(v.wants);
    free(v.filter);
    free(v.ik);
    free(v.recent);
    ldgi_runs_free(v.leafs);
    ldgi_runs_free(v.commits);
    ldgi_runs_free(v.refs);
    ldgi_runs_free(v.erasures);
    free(c[0]);
    free(c[1]);
    free(c[2]);
    return s;
}
