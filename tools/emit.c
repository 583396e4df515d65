/*
 * emit.c - see emit.h.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "emit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>

#include <stdlib.h>
#include <string.h>

void
em_init(emit *e, FILE *f)
{
    e->f = f;
    e->n = 0;
    e->failed = false;
    e->err = 0;
    e->bytes = 0;
    e->synced = 0;
    e->w = NULL;
}

#define EARLY_SYNC (32u << 20)

/*
 * Once `written` is EARLY_SYNC past *synced, hands that much to the disk.
 * With `dropped` (the writing thread's), what was handed over the time
 * before is waited for and dropped from the page cache.
 */
static void
early_sync(emit *e, uint64_t written, uint64_t *synced, uint64_t *dropped)
{
#ifdef __linux__
    /*
     * Start writing the file to disk as it grows, so the fsync before it is
     * published does not wait for all of it (a 1M-record export is 1.6 GB).
     * Not a regular file (a pipe, a terminal): sync_file_range fails; fine.
     */
    if (written - *synced < EARLY_SYNC || fflush(e->f) != 0)
        return;
    int fd = fileno(e->f);
    /*
     * A long export is written once and not read back here.  Kept in the
     * page cache, its pages (19 GB of JSONL at 10M records) push the
     * ledger's out; and pages taken fresh from free memory cost the kernel
     * far more than reused ones (on the bench machine, dd of 700 MB: 3.4 s
     * against 0.2 s).  Dropped once on disk, they are reused.
     */
    if (dropped && *synced > *dropped &&
        sync_file_range(fd, (off64_t)*dropped, (off64_t)(*synced - *dropped),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) == 0 &&
        posix_fadvise(fd, (off_t)*dropped, (off_t)(*synced - *dropped), POSIX_FADV_DONTNEED) ==
            0)
        *dropped = *synced;
    sync_file_range(fd, (off64_t)*synced, (off64_t)(written - *synced), SYNC_FILE_RANGE_WRITE);
    *synced = written;
#else
    (void)e, (void)written, (void)synced, (void)dropped;
#endif
}

/* On the writing thread: one piece to the file. */
static void
put_out(emit *e, const char *p, size_t n, uint64_t *written, uint64_t *synced, uint64_t *dropped)
{
    if (!n || e->failed)
        return;
    if (fwrite(p, 1, n, e->f) != n) {
        e->err = errno;
        e->failed = true;
        return;
    }
    *written += n;
    early_sync(e, *written, synced, dropped);
}

/* ------------------------------------------------ the writing thread -- */

#define CHUNK (1u << 20)
#define CHUNKS 4

/*
 * A ring of CHUNKS pieces: the caller fills cur; the thread writes the
 * `queued` pieces before it, oldest first.  Bytes reach the file in the
 * order they were emitted, whatever the threads do.
 */
struct em_writer {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t filled, freed;
    char *chunk[CHUNKS];
    size_t len[CHUNKS];
    unsigned cur;    /* the caller's */
    size_t n;        /* bytes in it */
    unsigned queued; /* handed to the thread, not yet written */
    bool stop;
    uint64_t written, synced, dropped; /* the thread's */
};

static void *
writer_thread(void *arg)
{
    emit *e = arg;
    struct em_writer *w = e->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queued && !w->stop)
            pthread_cond_wait(&w->filled, &w->mu);
        if (!w->queued)
            break; /* stopped, and nothing left */
        unsigned i = (w->cur + CHUNKS - w->queued) % CHUNKS;
        pthread_mutex_unlock(&w->mu);
        put_out(e, w->chunk[i], w->len[i], &w->written, &w->synced, &w->dropped);
        pthread_mutex_lock(&w->mu);
        w->queued--;
        pthread_cond_signal(&w->freed);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* The caller's piece to the thread (waits for a free one); wait: until all are written. */
static void
hand_on(struct em_writer *w, bool wait)
{
    pthread_mutex_lock(&w->mu);
    if (w->n) {
        while (w->queued == CHUNKS - 1)
            pthread_cond_wait(&w->freed, &w->mu);
        w->len[w->cur] = w->n;
        w->queued++;
        w->cur = (w->cur + 1) % CHUNKS;
        w->n = 0;
        pthread_cond_signal(&w->filled);
    }
    while (wait && w->queued)
        pthread_cond_wait(&w->freed, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void
async_raw(emit *e, const char *p, size_t n)
{
    struct em_writer *w = e->w;
    while (n) {
        size_t k = CHUNK - w->n < n ? CHUNK - w->n : n;
        memcpy(w->chunk[w->cur] + w->n, p, k);
        w->n += k;
        p += k;
        n -= k;
        if (w->n == CHUNK)
            hand_on(w, false);
    }
}

static void
writer_free(struct em_writer *w)
{
    for (unsigned i = 0; i < CHUNKS; i++)
        free(w->chunk[i]);
    free(w);
}

bool
em_async(emit *e)
{
    if (e->w)
        return true;
    em_flush(e); /* what came before goes first */
    struct em_writer *w = calloc(1, sizeof *w);
    if (!w)
        return false;
    for (unsigned i = 0; i < CHUNKS; i++)
        if (!(w->chunk[i] = malloc(CHUNK))) {
            writer_free(w);
            return false;
        }
    w->written = e->bytes;
    w->synced = w->dropped = e->synced;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->filled, NULL);
    pthread_cond_init(&w->freed, NULL);
    e->w = w;
    if (pthread_create(&w->th, NULL, writer_thread, e) != 0) {
        e->w = NULL;
        pthread_cond_destroy(&w->filled);
        pthread_cond_destroy(&w->freed);
        pthread_mutex_destroy(&w->mu);
        writer_free(w);
        return false;
    }
    return true;
}

void
em_async_end(emit *e)
{
    struct em_writer *w = e->w;
    if (!w)
        return;
    hand_on(w, true);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->filled);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    e->synced = w->synced;
    pthread_cond_destroy(&w->filled);
    pthread_cond_destroy(&w->freed);
    pthread_mutex_destroy(&w->mu);
    writer_free(w);
    e->w = NULL;
}

bool
em_flush(emit *e)
{
    if (e->w) {
        hand_on(e->w, true);
        return !e->failed;
    }
    if (e->n && !e->failed && fwrite(e->buf, 1, e->n, e->f) != e->n) {
        e->err = errno;
        e->failed = true;
    }
    e->n = 0;
    uint64_t written = e->bytes; /* all emitted so far, but a piece em_raw is about to write */
    if (!e->failed)
        early_sync(e, written, &e->synced, NULL);
    return !e->failed;
}

void
em_raw(emit *e, const char *p, size_t n)
{
    e->bytes += n;
    if (e->w) {
        async_raw(e, p, n);
        return;
    }
    if (n > sizeof e->buf - e->n) {
        em_flush(e);
        if (n > sizeof e->buf) {
            if (!e->failed && fwrite(p, 1, n, e->f) != n) {
                e->err = errno;
                e->failed = true;
            }
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
    if (e->w) {
        e->bytes++;
        async_raw(e, &c, 1);
        return;
    }
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
