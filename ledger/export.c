/*
 * export.c - the records of an export, checked: one read snapshot; first
 * the tree heads the export is tied to, recomputed from every stored entry
 * (so a changed byte anywhere below the checkpoint shows), then the
 * filtered records in sequence order, their signatures checked on all
 * cores a batch at a time.  A batch is bounded in records and bytes, so
 * memory does not grow with the ledger.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 512
#define BATCH_BYTES (8u << 20)
#define MAX_THREADS 64

typedef struct checker {
    ldg_record *r[BATCH];
    size_t n, bytes;
    _Atomic size_t next;
    uint64_t proven;
    unsigned jobs;
    ldg_record_fn fn;
    void *ctx;
    int stop;
    const ldg_check_opts *o;
    uint64_t total;
    ldg_ledger *l;
} checker;

#define MAP_BUDGET (24u << 20) /* bytes of the ledger file kept mapped, as verify does */

static void
check_one(ldg_record *r, uint64_t proven)
{
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

static void *
check_some(void *arg)
{
    checker *ch = arg;
    for (size_t i; (i = atomic_fetch_add(&ch->next, 1)) < ch->n;)
        check_one(ch->r[i], ch->proven);
    return NULL;
}

/* Checks the batch on up to jobs threads, hands the records over in order, frees them. */
static void
flush(checker *ch)
{
    if (!ch->n)
        return;
    atomic_store(&ch->next, 0);
    pthread_t th[MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 1; t < ch->jobs && t <= MAX_THREADS && ch->n > 16; t++)
        if (pthread_create(&th[started], NULL, check_some, ch) == 0)
            started++;
    check_some(ch);
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    uint64_t last = ch->r[ch->n - 1]->seq;
    for (size_t i = 0; i < ch->n; i++) {
        if (!ch->stop)
            ch->stop = ch->fn(ch->ctx, ch->r[i]);
        ldg_record_free(ch->r[i]);
    }
    if (ch->o->on_progress)
        ch->o->on_progress(ch->o->progress_ctx, last + 1, ch->total);
    ch->n = ch->bytes = 0;
}

static int
take(void *ctx, ldg_record *r)
{
    checker *ch = ctx;
    ch->r[ch->n++] = r;
    ch->bytes += r->entry_len + r->body_len;
    /*
     * Records are copies: the file's pages can leave our mappings at any
     * time.  Looked at every 16 records: a record touches several pages,
     * and the kernel maps whole (large) page-cache folios around a fault.
     */
    if (ch->n % 16 == 0 && ldgi_mapped_bytes() > MAP_BUDGET)
        ldgi_map_release(ch->l);
    if (ch->n == BATCH || ch->bytes >= BATCH_BYTES)
        flush(ch);
    return ch->stop;
}

/* The RFC 6962 heads of the first want[i] stored entries, from their bytes [VER-10]. */
static ldg_status
heads(ldg_ledger *l, ldgi_txn *t, const uint64_t want[2], uint8_t roots[2][LDG_HASH_BYTES],
      ldg_err *err)
{
    uint64_t upto = want[0] > want[1] ? want[0] : want[1];
    if (!upto)
        return LDG_OK;
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_ENTRIES, &c, err);
    if (s != LDG_OK)
        return s;
    uint8_t frontier[64][LDG_HASH_BYTES];
    const uint8_t *k, *v;
    size_t kl, vl;
    uint64_t n = 0;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK && n < upto;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        uint8_t h[LDG_HASH_BYTES];
        ldgi_leaf_hash(v, vl, h);
        unsigned level = 0;
        for (uint64_t i = n; i & 1; i >>= 1, level++)
            ldgi_node_hash(frontier[level], h, h);
        memcpy(frontier[level], h, LDG_HASH_BYTES);
        n++;
        if ((n & 4095) == 0 && ldgi_mapped_bytes() > MAP_BUDGET)
            ldgi_map_release(l);
        for (int w = 0; w < 2; w++) {
            if (want[w] != n)
                continue;
            bool have = false;
            for (unsigned b = 0; b < 64; b++) {
                if (!(n >> b & 1))
                    continue;
                if (!have)
                    memcpy(roots[w], frontier[b], LDG_HASH_BYTES);
                else
                    ldgi_node_hash(frontier[b], roots[w], roots[w]);
                have = true;
            }
        }
    }
    ldgi_cur_close(c);
    if (s != LDG_OK && s != LDG_E_NOTFOUND)
        return s;
    if (n < upto)
        return ldgi_fail(err, LDG_E_INPUT, "the ledger has %llu entries, not %llu",
                         (unsigned long long)n, (unsigned long long)upto);
    return LDG_OK;
}

ldg_status
ldg_log_checked(ldg_ledger *l, const ldg_filter *f, const ldg_check_opts *o, ldg_record_fn fn,
                void *ctx, uint8_t roots[2][LDG_HASH_BYTES], ldg_err *err)
{
    static const ldg_check_opts none = {0};
    if (!o)
        o = &none;
    checker *ch = ldgi_calloc(1, sizeof *ch);
    if (!ch)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ch->proven = o->proven_size;
    ch->jobs = o->jobs ? o->jobs : ldgi_ncpu();
    ch->fn = fn;
    ch->ctx = ctx;
    ch->o = o;
    ch->l = l;
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK) {
        free(ch);
        return s;
    }
    uint8_t head[LDG_HASH_BYTES];
    if ((s = ldgi_head(t, &ch->total, head, NULL, err)) == LDG_OK &&
        (s = heads(l, t, o->root_size, roots, err)) == LDG_OK) {
        s = ldgi_log_iter(t, f, take, ch, err);
        if (s == LDG_OK)
            flush(ch); /* what is left */
    }
    for (size_t i = 0; i < ch->n; i++)
        ldg_record_free(ch->r[i]);
    ldgi_txn_abort(t);
    free(ch);
    return s;
}
