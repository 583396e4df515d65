/*
 * buf.c - small shared helpers of libldg: the allocation wrapper (one place
 * for tests to inject failures), a growable byte buffer, UTF-8 validation,
 * and over POSIX threads a parallel-for and a pool of helpers.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Allocation-failure injection: the test hook ldgi_alloc_fail_after(n) makes
 * the allocation n+1 calls from now fail (n < 0: never).  Internal, not
 * exported from the shared library; tests link the static one.
 */
static _Atomic long alloc_countdown = -1;

void
ldgi_alloc_fail_after(long n)
{
    atomic_store(&alloc_countdown, n);
}

static bool
alloc_should_fail(void)
{
    long c = atomic_load(&alloc_countdown);
    if (c < 0)
        return false;
    if (c == 0)
        return true;
    atomic_fetch_sub(&alloc_countdown, 1);
    return false;
}

void *
ldgi_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *
ldgi_calloc(size_t n, size_t m)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, m ? m : 1);
}

void *
ldgi_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *
ldgi_strndup(const char *s, size_t n)
{
    char *d = ldgi_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *
ldgi_strdup(const char *s)
{
    return ldgi_strndup(s, strlen(s));
}

void
ldgi_buf_free(ldgi_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

bool
ldgi_buf_put(ldgi_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return false;
    if (n > SIZE_MAX - b->len) {
        b->oom = true;
        return false;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
        uint8_t *q = ldgi_realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return false;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return true;
}

/* RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF. */
bool
ldgi_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

unsigned
ldgi_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : (n > 256 ? 256u : (unsigned)n);
}

struct pfor {
    size_t n;
    _Atomic size_t next;
    void (*fn)(void *, size_t);
    void *ctx;
};

static void *
pfor_worker(void *arg)
{
    struct pfor *pf = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&pf->next, 1);
        if (i >= pf->n)
            break;
        pf->fn(pf->ctx, i);
    }
    return NULL;
}

void
ldgi_parallel_for(size_t n, unsigned jobs, void (*fn)(void *ctx, size_t i), void *ctx)
{
    struct pfor pf = {.n = n, .fn = fn, .ctx = ctx};
    atomic_init(&pf.next, 0);
    if (jobs == 0)
        jobs = ldgi_ncpu();
    if ((size_t)jobs > n)
        jobs = n ? (unsigned)n : 1;
    pthread_t th[256];
    unsigned started = 0;
    for (unsigned t = 1; t < jobs && t < 256; t++) {
        if (pthread_create(&th[started], NULL, pfor_worker, &pf) == 0)
            started++;
    }
    /* The caller works too, so a failed pthread_create only slows us down. */
    pfor_worker(&pf);
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
}

/*
 * The pool: helpers started once, handed one job at a time.  A job is
 * fn(ctx, who); start() bumps the generation and wakes them, wait() sleeps
 * until the last one is done.  (A thread per job cost a create and a join
 * per window: thousands per million records.)
 */
struct ldgi_pool {
    pthread_mutex_t mu;
    pthread_cond_t go, idle;
    void (*fn)(void *, unsigned);
    void *ctx;
    unsigned gen;  /* bumped by each start */
    unsigned busy; /* helpers not yet done with the job */
    bool stop;
    unsigned n;
    pthread_t th[LDGI_POOL_MAX];
};

struct pool_arg {
    ldgi_pool *p;
    unsigned who;
};

static void *
pool_thread(void *arg)
{
    ldgi_pool *p = ((struct pool_arg *)arg)->p;
    unsigned who = ((struct pool_arg *)arg)->who, seen = 0;
    free(arg);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        void (*fn)(void *, unsigned) = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, who);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ldgi_pool *
ldgi_pool_new(unsigned helpers)
{
    ldgi_pool *p = ldgi_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->idle, NULL);
    while (p->n < helpers && p->n < LDGI_POOL_MAX) {
        struct pool_arg *a = ldgi_malloc(sizeof *a);
        if (!a)
            break;
        *a = (struct pool_arg){p, p->n + 1};
        if (pthread_create(&p->th[p->n], NULL, pool_thread, a) != 0) {
            free(a);
            break;
        }
        p->n++;
    }
    return p;
}

unsigned
ldgi_pool_size(const ldgi_pool *p)
{
    return p ? p->n : 0;
}

void
ldgi_pool_start(ldgi_pool *p, void (*fn)(void *ctx, unsigned who), void *ctx)
{
    if (!p || !p->n)
        return;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->busy = p->n;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
}

void
ldgi_pool_wait(ldgi_pool *p)
{
    if (!p || !p->n)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->busy)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void
ldgi_pool_free(ldgi_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (unsigned t = 0; t < p->n; t++)
        pthread_join(p->th[t], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
