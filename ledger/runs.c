/*
 * runs.c - an external sort of fixed-size records keyed by a 32-byte hash,
 * used by verify [VER-9] to check the hash-keyed indexes and the refs by
 * merging sorted streams instead of looking each hash up: the lookups would
 * touch pages all over the ledger file (random I/O on a cold cache, and a
 * resident set that grows with the ledger), the merge reads everything in
 * order.  Records collect in a bounded buffer; a full buffer is sorted and
 * spilled as a run to an anonymous temporary file; reading merges the runs.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_RECORDS 131072 /* records per in-memory run: 6 MiB */
#define READ_RECORDS 256   /* records buffered per run while merging */

struct ldgi_runs {
    ldgi_rec *buf;
    size_t n;
    FILE *tmp;
    size_t nruns, cap_runs;
    long *run_off;   /* byte offset of each spilled run */
    size_t *run_len; /* records in each spilled run */
    /* merging */
    struct src {
        ldgi_rec *buf;
        size_t have, pos, left; /* buffered, next, not yet read from the run */
        long off;
    } * src;
    size_t nsrc;
    size_t *heap, nheap;
    bool failed;
    bool oom; /* ...because an allocation failed (else the temporary file did) */
};

static int
rec_cmp(const void *a, const void *b)
{
    const ldgi_rec *x = a, *y = b;
    int c = memcmp(x->key, y->key, LDG_HASH_BYTES);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
rec_swap(ldgi_rec *a, ldgi_rec *b)
{
    ldgi_rec t = *a;
    *a = *b;
    *b = t;
}

/*
 * Sorts a[0..n) by (key, seq), in place: the keys are hashes, so an
 * in-place radix partition on a byte (American flag sort) splits the
 * records evenly, and a few levels leave buckets small enough for insertion
 * sort.  Keys that do not split (a hostile ledger can repeat a ref hash)
 * fall to qsort past RADIX_DEPTH levels, so the worst case stays n log n.
 */
#define RADIX_DEPTH 3
#define SMALL 24

static void
rec_sort(ldgi_rec *a, size_t n, unsigned depth)
{
    if (n <= SMALL) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && rec_cmp(&a[j - 1], &a[j]) > 0; j--)
                rec_swap(&a[j - 1], &a[j]);
        return;
    }
    if (depth == RADIX_DEPTH) {
        qsort(a, n, sizeof *a, rec_cmp);
        return;
    }
    size_t count[256] = {0}, next[256], end[256];
    for (size_t i = 0; i < n; i++)
        count[a[i].key[depth]]++;
    for (size_t b = 0, at = 0; b < 256; b++) {
        next[b] = at;
        at += count[b];
        end[b] = at;
    }
    for (size_t b = 0; b < 256; b++)
        while (next[b] < end[b]) {
            unsigned v = a[next[b]].key[depth];
            if (v == b)
                next[b]++;
            else
                rec_swap(&a[next[b]], &a[next[v]++]);
        }
    for (size_t b = 0, at = 0; b < 256; at += count[b], b++)
        if (count[b] > 1)
            rec_sort(a + at, count[b], depth + 1);
}

ldgi_runs *
ldgi_runs_new(void)
{
    ldgi_runs *r = ldgi_calloc(1, sizeof *r);
    if (r && !(r->buf = ldgi_malloc(RUN_RECORDS * sizeof *r->buf))) {
        free(r);
        r = NULL;
    }
    return r;
}

void
ldgi_runs_free(ldgi_runs *r)
{
    if (!r)
        return;
    if (r->tmp)
        fclose(r->tmp);
    for (size_t i = 0; i < r->nsrc; i++)
        free(r->src[i].buf);
    free(r->src);
    free(r->heap);
    free(r->run_off);
    free(r->run_len);
    free(r->buf);
    free(r);
}

static bool
spill(ldgi_runs *r)
{
    if (!r->tmp && !(r->tmp = tmpfile()))
        return false;
    if (r->nruns == r->cap_runs) {
        size_t cap = r->cap_runs ? r->cap_runs * 2 : 16;
        long *o = ldgi_realloc(r->run_off, cap * sizeof *o);
        if (o)
            r->run_off = o;
        size_t *l = o ? ldgi_realloc(r->run_len, cap * sizeof *l) : NULL;
        if (!l)
            return !(r->oom = true);
        r->run_len = l;
        r->cap_runs = cap;
    }
    rec_sort(r->buf, r->n, 0);
    if (fseek(r->tmp, 0, SEEK_END) != 0)
        return false;
    r->run_off[r->nruns] = ftell(r->tmp);
    r->run_len[r->nruns] = r->n;
    if (r->run_off[r->nruns] < 0 || fwrite(r->buf, sizeof *r->buf, r->n, r->tmp) != r->n)
        return false;
    r->nruns++;
    r->n = 0;
    return true;
}

bool
ldgi_runs_add(ldgi_runs *r, const uint8_t key[LDG_HASH_BYTES], uint64_t seq, uint64_t aux)
{
    if (r->failed)
        return false;
    if (r->n == RUN_RECORDS && !spill(r)) {
        r->failed = true;
        return false;
    }
    ldgi_rec *x = &r->buf[r->n++];
    memcpy(x->key, key, LDG_HASH_BYTES);
    x->seq = seq;
    x->aux = aux;
    return true;
}

static bool
src_fill(ldgi_runs *r, struct src *s)
{
    if (s->pos < s->have || s->left == 0)
        return true;
    size_t want = s->left < READ_RECORDS ? s->left : READ_RECORDS;
    if (fseek(r->tmp, s->off, SEEK_SET) != 0 || fread(s->buf, sizeof *s->buf, want, r->tmp) != want)
        return false;
    s->off += (long)(want * sizeof *s->buf);
    s->left -= want;
    s->have = want;
    s->pos = 0;
    return true;
}

static const ldgi_rec *
src_head(const struct src *s)
{
    return s->pos < s->have ? &s->buf[s->pos] : NULL;
}

static bool
heap_less(ldgi_runs *r, size_t a, size_t b)
{
    return rec_cmp(src_head(&r->src[r->heap[a]]), src_head(&r->src[r->heap[b]])) < 0;
}

static void
heap_down(ldgi_runs *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->nheap && heap_less(r, l, m))
            m = l;
        if (l + 1 < r->nheap && heap_less(r, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        size_t t = r->heap[i];
        r->heap[i] = r->heap[m];
        r->heap[m] = t;
        i = m;
    }
}

bool
ldgi_runs_finish(ldgi_runs *r)
{
    if (r->failed)
        return false;
    /* The last, in-memory run is a source of its own; the spilled ones read back in pieces. */
    rec_sort(r->buf, r->n, 0);
    r->src = ldgi_calloc(r->nruns + 1, sizeof *r->src);
    r->heap = ldgi_calloc(r->nruns + 1, sizeof *r->heap);
    if (!r->src || !r->heap)
        return !(r->failed = r->oom = true);
    r->nsrc = r->nruns + 1; /* only now: ldgi_runs_free walks src[0..nsrc) */
    for (size_t i = 0; i < r->nruns; i++) {
        struct src *s = &r->src[i];
        if (!(s->buf = ldgi_malloc(READ_RECORDS * sizeof *s->buf)))
            return !(r->failed = r->oom = true);
        s->off = r->run_off[i];
        s->left = r->run_len[i];
        if (!src_fill(r, s))
            return !(r->failed = true);
    }
    struct src *last = &r->src[r->nruns];
    last->buf = r->buf; /* the last source takes the buffer over */
    last->have = r->n;
    r->buf = NULL;
    for (size_t i = 0; i < r->nsrc; i++)
        if (src_head(&r->src[i]))
            r->heap[r->nheap++] = i;
    for (size_t i = r->nheap; i-- > 0;)
        heap_down(r, i);
    return true;
}

const ldgi_rec *
ldgi_runs_peek(ldgi_runs *r)
{
    return r->nheap ? src_head(&r->src[r->heap[0]]) : NULL;
}

bool
ldgi_runs_next(ldgi_runs *r, ldgi_rec *out)
{
    if (!r->nheap)
        return false;
    struct src *s = &r->src[r->heap[0]];
    *out = s->buf[s->pos++];
    if (!src_fill(r, s))
        r->failed = true;
    if (!src_head(s))
        r->heap[0] = r->heap[--r->nheap];
    heap_down(r, 0);
    return true;
}

bool
ldgi_runs_failed(const ldgi_runs *r)
{
    return r->failed;
}

bool
ldgi_runs_oom(const ldgi_runs *r)
{
    return r->oom;
}
