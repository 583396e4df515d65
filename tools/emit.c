/*
 * emit.c - see emit.h.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "emit.h"

#include <fcntl.h>

#include <stdlib.h>
#include <string.h>

void
em_init(emit *e, FILE *f)
{
    e->f = f;
    e->n = 0;
    e->failed = false;
    e->bytes = 0;
    e->synced = 0;
}

#define EARLY_SYNC (32u << 20)

bool
em_flush(emit *e)
{
    if (e->n && !e->failed && fwrite(e->buf, 1, e->n, e->f) != e->n)
        e->failed = true;
    e->n = 0;
#ifdef __linux__
    /*
     * Start writing the file to disk as it grows, so the fsync before it is
     * published does not wait for all of it (a 1M-record export is 1.6 GB).
     * Not a regular file (a pipe, a terminal): sync_file_range fails; fine.
     */
    if (!e->failed && e->bytes - e->synced >= EARLY_SYNC && fflush(e->f) == 0) {
        sync_file_range(fileno(e->f), (off64_t)e->synced, (off64_t)(e->bytes - e->synced),
                        SYNC_FILE_RANGE_WRITE);
        e->synced = e->bytes;
    }
#endif
    return !e->failed;
}

void
em_raw(emit *e, const char *p, size_t n)
{
    e->bytes += n;
    if (n > sizeof e->buf - e->n) {
        em_flush(e);
        if (n > sizeof e->buf) {
            if (!e->failed && fwrite(p, 1, n, e->f) != n)
                e->failed = true;
            return;
        }
    }
    memcpy(e->buf + e->n, p, n);
    e->n += n;
}

void
em_s(emit *e, const char *s)
{
    em_raw(e, s, strlen(s));
}

void
em_c(emit *e, char c)
{
    if (e->n == sizeof e->buf)
        em_flush(e);
    e->buf[e->n++] = c;
    e->bytes++;
}

void
em_u64(emit *e, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    em_raw(e, t + i, sizeof t - i);
}

void
em_i64(emit *e, int64_t v)
{
    if (v < 0) {
        em_c(e, '-');
        em_u64(e, (uint64_t)0 - (uint64_t)v);
    } else {
        em_u64(e, (uint64_t)v);
    }
}

void
em_html(emit *e, const char *s)
{
    if (s)
        em_escaped(e, s, ESC_HTML);
}

/* ---------------------------------------------------------- escaping -- */

/* The escaping itself is the library's (ldg_escape): one rule for every output. */
static int
em_sink(void *ctx, const void *p, size_t n)
{
    em_raw(ctx, p, n);
    return 0;
}

typedef struct sink {
    char *p; /* a buffer of cap bytes, n used */
    size_t n, cap;
    bool nomem;
} sink;

static int
sk_put(void *ctx, const void *p, size_t n)
{
    sink *k = ctx;
    if (k->nomem)
        return 1;
    if (k->cap - k->n < n + 1) {
        size_t cap = (k->cap + n + 1) * 2;
        char *q = realloc(k->p, cap);
        if (!q) {
            k->nomem = true;
            return 1;
        }
        k->p = q, k->cap = cap;
    }
    memcpy(k->p + k->n, p, n);
    k->n += n;
    k->p[k->n] = '\0';
    return 0;
}

void
em_escaped(emit *e, const char *s, em_mode mode)
{
    ldg_escape(s, (ldg_escape_mode)mode, em_sink, e);
}

char *
em_escape_dup(const char *s, em_mode mode)
{
    sink k = {0};
    sk_put(&k, "", 0);
    if (s)
        ldg_escape(s, (ldg_escape_mode)mode, sk_put, &k);
    if (k.nomem) {
        free(k.p);
        return NULL;
    }
    return k.p;
}

static const char *
em_ring(const char *s, em_mode mode)
{
    static _Thread_local char *ring[16];
    static _Thread_local unsigned next;
    char **slot = &ring[next++ % 16];
    free(*slot);
    *slot = em_escape_dup(s ? s : "", mode);
    return *slot ? *slot : "?";
}

const char *
em_t(const char *s)
{
    return em_ring(s, ESC_TEXT);
}

const char *
em_t_lines(const char *s)
{
    return em_ring(s, ESC_LINES);
}
