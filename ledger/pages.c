/*
 * pages.c - the structure of the LMDB data file, checked by ldg itself
 * before LMDB reads it [STO-7].
 *
 * LMDB trusts its file: a node offset, a key size or a page number changed
 * by one byte sends it reading outside the page, and the reader crashes.  A
 * verifier must not (DESIGN.md), so `ldg verify` and `ldg export` first walk
 * every page of the snapshot they will read, with bounds checked here, and
 * report any damage as an integrity failure before LMDB touches the page.
 *
 * Checked, for the current meta (the one with the larger txnid, as LMDB
 * picks) and every page it reaches: the page's own number, its type for its
 * depth, the header's bounds, every node inside its page, keys in strictly
 * increasing order and inside the bounds their parent's separators give,
 * overflow runs inside the file, no page reached twice, every database's
 * flags and statistics (depth, page counts, entries), and the named
 * databases being exactly ldg's.  LMDB's free list is walked the same way;
 * a page both free and in use is damage (the next write would overwrite
 * live data).  Layout: LMDB 0.9 on a 64-bit little-endian host (lmdb.h and
 * mdb.c, "Page and node layout"); the constants below are LMDB's.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    PAGEHDR = 16, /* pgno(8) pad(2) flags(2) lower(2) upper(2), or pages(4) */
    NODEHDR = 8,  /* lo(2) hi(2) flags(2) ksize(2), then key, then data */
    DBREC = 48,   /* pad(4) flags(2) depth(2) branch leaf overflow entries root (8 each) */
    META_MAGIC = 0xBEEFC0DE,
    META_VERSION = 1,
    P_BRANCH = 0x01,
    P_LEAF = 0x02,
    P_OVERFLOW = 0x04,
    P_META = 0x08,
    F_BIGDATA = 0x01,
    F_SUBDATA = 0x02,
    MDB_INTEGERKEY = 0x08,
    KEY_MAX = 511,  /* LMDB's default largest key */
    DEPTH_MAX = 32, /* LMDB's cursor stack */
};
#define P_INVALID UINT64_MAX
#define FREE_LIST_MAX (64u << 20) /* bytes of one free-list record we are willing to read */

static uint16_t
rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t
rd64le(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/*
 * What the walks of one check share: the page bitmaps, and the named
 * databases the main one lists, walked by two threads at once (the walk
 * waits on reads, not on arithmetic).
 */
typedef struct shared {
    uint8_t recs[LDGI_DB_COUNT][DBREC];
    const char *names[LDGI_DB_COUNT];
    size_t nrecs;
    size_t next; /* atomic: the next database to walk */
    bool failed; /* atomic: one walk failed; the others stop */
    pthread_mutex_t lock;
    ldg_status status;
    ldg_err err;
} shared;

typedef struct walker {
    int fd;
    uint64_t npages; /* pages the meta says are in use: last_pg + 1 */
    size_t psize;
    uint8_t *bufs;  /* one page per tree level */
    uint8_t *used;  /* one bit per page reached (set atomically) */
    uint8_t *freed; /* one bit per page on the free list; NULL until the free list's walk */
    shared *sh;
    const char *db; /* the database being walked, for messages */
    bool intkey;    /* keys are native integers (the free list) */
    bool main;      /* the main database: its records are the named databases */
    uint64_t branch, leaf, overflow, entries;
    ldg_err *err;
} walker;

static ldg_status
damaged(walker *w, uint64_t pgno, const char *why)
{
    return ldgi_fail(w->err, LDG_E_CORRUPT,
                     "the ledger file is damaged: database %s, page %llu: %s", w->db,
                     (unsigned long long)pgno, why);
}

/* n bytes at page pgno + off; a short read (the file is shorter than its meta says) is damage. */
static ldg_status
read_at(walker *w, uint64_t pgno, size_t off, void *buf, size_t n)
{
    ssize_t got = pread(w->fd, buf, n, (off_t)(pgno * w->psize + off));
    if (got == (ssize_t)n)
        return LDG_OK;
    if (got < 0)
        return ldgi_fail(w->err, LDG_E_IO, "data.mdb: page %llu: %s", (unsigned long long)pgno,
                         strerror(errno));
    return damaged(w, pgno, "the file ends inside the page");
}

/* LMDB's default order: bytes, then length; or native integers for INTEGERKEY. */
static int
key_cmp(const walker *w, const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    if (w->intkey && al == 8 && bl == 8) {
        uint64_t x = rd64le(a), y = rd64le(b);
        return x < y ? -1 : x > y;
    }
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* false when the page was reached before, or is on the free list */
static bool
mark(walker *w, uint64_t pgno)
{
    uint8_t bit = (uint8_t)(1u << (pgno & 7));
    return !(w->freed && (w->freed[pgno >> 3] & bit)) &&
           !(__atomic_fetch_or(&w->used[pgno >> 3], bit, __ATOMIC_RELAXED) & bit);
}

typedef struct bound {
    const uint8_t *k;
    size_t kl;
} bound;

static ldg_status walk_db(walker *w, const uint8_t *rec, const char *name, bool intkey, bool main);

/* The node at index i of page p: its offset, bounds-checked against the page. */
static ldg_status
node_at(walker *w, uint64_t pgno, const uint8_t *p, size_t i, const uint8_t **node)
{
    uint16_t off = rd16(p + PAGEHDR + 2 * i);
    if (off < rd16(p + 14) || (size_t)off + NODEHDR > w->psize ||
        (size_t)off + NODEHDR + rd16(p + off + 6) > w->psize)
        return damaged(w, pgno, "a node lies outside its page");
    if (rd16(p + off + 6) > KEY_MAX)
        return damaged(w, pgno, "a key is longer than LMDB allows");
    *node = p + off;
    return LDG_OK;
}

/* Pages a free-list record names: inside the file, listed once, and not in use. */
static ldg_status
free_pages(walker *w, uint64_t pgno, const uint8_t *data, size_t dsize)
{
    uint64_t n = dsize >= 8 ? rd64le(data) : 0;
    if (dsize % 8 || n == 0 || n != dsize / 8 - 1)
        return damaged(w, pgno, "a free-list record has the wrong size");
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t pg = rd64le(data + 8 * i);
        uint8_t bit = (uint8_t)(1u << (pg & 7));
        if (pg < 2 || pg >= w->npages)
            return damaged(w, pgno, "a free page lies outside the file");
        if (w->used[pg >> 3] & bit)
            return damaged(w, pg, "a page in use is also on the free list");
        if (w->freed[pg >> 3] & bit)
            return damaged(w, pg, "a page is on the free list twice");
        w->freed[pg >> 3] |= bit;
    }
    return LDG_OK;
}

/* A free-list record kept on overflow pages: read whole, then checked. */
static ldg_status
free_pages_overflow(walker *w, uint64_t ov, size_t dsize)
{
    if (dsize > FREE_LIST_MAX)
        return damaged(w, ov, "a free-list record is implausibly large");
    uint8_t *data = ldgi_malloc(dsize ? dsize : 1);
    if (!data)
        return ldgi_fail(w->err, LDG_E_NOMEM, "out of memory");
    ldg_status s = read_at(w, ov, PAGEHDR, data, dsize);
    if (s == LDG_OK)
        s = free_pages(w, ov, data, dsize);
    free(data);
    return s;
}

/* A named database the main one lists: one of ldg's, listed once; walked later. */
static ldg_status
named_db(walker *w, uint64_t pgno, const uint8_t *n, const uint8_t *rec)
{
    size_t ksize = rd16(n + 6), i;
    for (i = 0; i < LDGI_DB_COUNT; i++)
        if (strlen(ldgi_db_names[i]) == ksize && memcmp(ldgi_db_names[i], n + NODEHDR, ksize) == 0)
            break;
    for (size_t j = 0; i == LDGI_DB_COUNT && j < LDGI_OLD_DB_COUNT; j++)
        if (strlen(ldgi_old_db_names[j]) == ksize &&
            memcmp(ldgi_old_db_names[j], n + NODEHDR, ksize) == 0)
            return ldgi_fail(w->err, LDG_E_IO, LDGI_OLD_LAYOUT); /* [STO-1]: to do, not damage */
    if (i == LDGI_DB_COUNT)
        return damaged(w, pgno, "the main database names a database ldg does not have");
    shared *sh = w->sh;
    if (sh->nrecs == LDGI_DB_COUNT)
        return damaged(w, pgno, "the main database lists a database twice");
    memcpy(sh->recs[sh->nrecs], rec, DBREC);
    sh->names[sh->nrecs++] = ldgi_db_names[i];
    return LDG_OK;
}

static ldg_status
leaf_data(walker *w, uint64_t pgno, const uint8_t *p, const uint8_t *n)
{
    uint16_t nflags = rd16(n + 4), ksize = rd16(n + 6);
    size_t dsize = rd16(n) | (size_t)rd16(n + 2) << 16;
    const uint8_t *data = n + NODEHDR + ksize;
    size_t room = w->psize - (size_t)(data - p);
    if (nflags & ~(F_BIGDATA | F_SUBDATA) || nflags == (F_BIGDATA | F_SUBDATA))
        return damaged(w, pgno, "a node has flags ldg never writes");
    if (w->main != !!(nflags & F_SUBDATA))
        return damaged(w, pgno,
                       w->main ? "a record of the main database is not a database"
                               : "a value claims to be a database");
    if (nflags & F_BIGDATA) {
        if (room < 8)
            return damaged(w, pgno, "an overflow reference lies outside its page");
        uint64_t ov = rd64le(data), n_ov = (PAGEHDR + dsize + w->psize - 1) / w->psize;
        if (ov < 2 || ov >= w->npages || n_ov > w->npages - ov)
            return damaged(w, pgno, "an overflow run lies outside the file");
        uint8_t oh[PAGEHDR];
        ldg_status s = read_at(w, ov, 0, oh, sizeof oh);
        if (s != LDG_OK)
            return s;
        if (rd64le(oh) != ov || rd16(oh + 10) != P_OVERFLOW || rd32(oh + 12) != n_ov)
            return damaged(w, ov, "an overflow page's header does not match its reference");
        for (uint64_t i = 0; i < n_ov; i++)
            if (!mark(w, ov + i))
                return damaged(w, ov + i, "a page is reached twice, or is also free");
        w->overflow += n_ov;
        return w->freed ? free_pages_overflow(w, ov, dsize) : LDG_OK;
    }
    if (dsize > room)
        return damaged(w, pgno, "a value lies outside its page");
    if (w->freed)
        return free_pages(w, pgno, data, dsize);
    if (nflags & F_SUBDATA) {
        if (dsize != DBREC || ksize == 0)
            return damaged(w, pgno, "a database record has the wrong size");
        return named_db(w, pgno, n, data);
    }
    return LDG_OK;
}

static uint64_t
child_of(const uint8_t *n)
{
    return rd16(n) | (uint64_t)rd16(n + 2) << 16 | (uint64_t)rd16(n + 4) << 32;
}

static ldg_status
walk_page(walker *w, uint64_t pgno, unsigned level, unsigned depth, bound lo, bound hi)
{
    if (pgno < 2 || pgno >= w->npages)
        return damaged(w, pgno, "a page number lies outside the file");
    if (w->sh && __atomic_load_n(&w->sh->failed, __ATOMIC_RELAXED))
        return LDG_E_CORRUPT; /* another walk failed: its message is the one reported */
    if (!mark(w, pgno))
        return damaged(w, pgno, "a page is reached twice, or is also free");
    bool leaf = level == depth;
    uint8_t *p = w->bufs + (size_t)level * w->psize;
    ldg_status s = read_at(w, pgno, 0, p, w->psize);
    if (s != LDG_OK)
        return s;
    uint16_t flags = rd16(p + 10), lower = rd16(p + 12), upper = rd16(p + 14);
    if (rd64le(p) != pgno)
        return damaged(w, pgno, "the page carries another page's number");
    if (flags != (leaf ? P_LEAF : P_BRANCH))
        return damaged(w, pgno,
                       leaf ? "a page at leaf depth is not a leaf"
                            : "a page above leaf depth is not a branch");
    if (lower < PAGEHDR + 2 || lower % 2 || lower > upper || upper > w->psize)
        return damaged(w, pgno, "the page header's bounds are impossible");
    size_t nkeys = (size_t)(lower - PAGEHDR) / 2;
    if (!leaf && nkeys < 2 && level > 1)
        return damaged(w, pgno, "a branch page has a single child");
    leaf ? w->leaf++ : w->branch++;
    /*
     * A branch's first key is never read: its child holds everything below
     * the second.  The keys read must increase strictly, and lie in [lo, hi):
     * with the order checked key by key, the bounds need checking only at
     * the first key read (against lo) and the last (against hi, before any
     * child is walked).
     */
    size_t first = leaf ? 0 : 1;
    if (hi.k && nkeys > first) {
        const uint8_t *n;
        if ((s = node_at(w, pgno, p, nkeys - 1, &n)) != LDG_OK)
            return s;
        if (key_cmp(w, n + NODEHDR, rd16(n + 6), hi.k, hi.kl) >= 0)
            return damaged(w, pgno, "keys are out of order");
    }
    const uint8_t *prev = NULL;
    size_t prevl = 0;
    for (size_t i = 0; i < nkeys; i++) {
        const uint8_t *n;
        if ((s = node_at(w, pgno, p, i, &n)) != LDG_OK)
            return s;
        const uint8_t *k = n + NODEHDR;
        size_t kl = rd16(n + 6);
        if (i >= first) {
            if (prev ? key_cmp(w, prev, prevl, k, kl) >= 0
                     : lo.k && key_cmp(w, k, kl, lo.k, lo.kl) < 0)
                return damaged(w, pgno, "keys are out of order");
            prev = k;
            prevl = kl;
        }
        if (leaf) {
            w->entries++;
            if ((s = leaf_data(w, pgno, p, n)) != LDG_OK)
                return s;
            continue;
        }
        bound clo = i > 0 ? (bound){k, kl} : lo, chi = hi;
        if (i + 1 < nkeys) {
            const uint8_t *nx;
            if ((s = node_at(w, pgno, p, i + 1, &nx)) != LDG_OK)
                return s;
            chi = (bound){nx + NODEHDR, rd16(nx + 6)};
        }
        if ((s = walk_page(w, child_of(n), level + 1, depth, clo, chi)) != LDG_OK)
            return s;
    }
    return LDG_OK;
}

/*
 * One database record (MDB_db) and its tree; main: the main database, whose
 * records are the named databases.  Counts are the tree's own.
 */
static ldg_status
walk_db(walker *w, const uint8_t *rec, const char *name, bool intkey, bool main)
{
    w->db = name;
    w->intkey = intkey;
    w->main = main;
    w->branch = w->leaf = w->overflow = w->entries = 0;
    uint16_t flags = rd16(rec + 4), depth = rd16(rec + 6);
    uint64_t root = rd64le(rec + 40);
    if (flags != (intkey ? MDB_INTEGERKEY : 0) || depth > DEPTH_MAX ||
        (root == P_INVALID) != (depth == 0))
        return damaged(w, root, "the database record is impossible");
    ldg_status s = LDG_OK;
    if (root != P_INVALID &&
        (s = walk_page(w, root, 1, depth, (bound){NULL, 0}, (bound){NULL, 0})) != LDG_OK)
        return s;
    if (w->branch != rd64le(rec + 8) || w->leaf != rd64le(rec + 16) ||
        w->overflow != rd64le(rec + 24) || w->entries != rd64le(rec + 32))
        return damaged(w, root, "the database's page or entry counts do not match its tree");
    return LDG_OK;
}

static ldg_status
meta_check(const uint8_t *m, uint64_t file_pages, size_t psize, unsigned which, ldg_err *err)
{
    const uint8_t *mm = m + PAGEHDR;
    const char *why = NULL;
    if (rd64le(m) != which || rd16(m + 10) != P_META)
        why = "it is not marked as a meta page";
    else if (rd32(mm) != META_MAGIC || rd32(mm + 4) != META_VERSION)
        why = "it is not an LMDB 0.9 meta page";
    else if (rd32(mm + 24) != psize)
        why = "its page size differs";
    else if (rd64le(mm + 120) < 2 || rd64le(mm + 120) >= file_pages)
        why = "its last page lies outside the file";
    if (!why)
        return LDG_OK;
    return ldgi_fail(err, LDG_E_CORRUPT, "the ledger file is damaged: meta page %u: %s", which,
                     why);
}

/* Meta page which (0 or 1) read into m; the file's page size and length in pages. */
static ldg_status
meta_read(int fd, unsigned which, uint8_t m[PAGEHDR + 136], size_t *psize, uint64_t *pages,
          ldg_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ldgi_fail(err, LDG_E_IO, "data.mdb: %s", strerror(errno));
    uint8_t m0[PAGEHDR + 136];
    if (pread(fd, m0, sizeof m0, 0) != (ssize_t)sizeof m0)
        return ldgi_fail(err, LDG_E_CORRUPT,
                         "the ledger file is damaged: shorter than a meta page");
    size_t ps = rd32(m0 + PAGEHDR + 24);
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) || (long)ps != sysconf(_SC_PAGESIZE) ||
        (uint64_t)st.st_size < 2 * ps)
        return ldgi_fail(err, LDG_E_CORRUPT,
                         "the ledger file is damaged: meta page 0: impossible page size");
    *psize = ps;
    *pages = (uint64_t)st.st_size / ps;
    if (pread(fd, m, PAGEHDR + 136, (off_t)(which * ps)) != PAGEHDR + 136)
        return ldgi_fail(err, LDG_E_IO, "data.mdb: cannot read meta page %u", which);
    return LDG_OK;
}

ldg_status
ldgi_pages_metas(int fd, ldg_err *err)
{
    size_t psize;
    uint64_t pages;
    ldg_status s = LDG_OK;
    for (unsigned i = 0; i < 2 && s == LDG_OK; i++) {
        uint8_t m[PAGEHDR + 136];
        /* a writer may be writing this meta right now: a failure must hold on a second look */
        for (int look = 0; look < 2; look++) {
            if (look)
                nanosleep(&(struct timespec){0, 20000000}, NULL);
            s = meta_read(fd, i, m, &psize, &pages, err);
            if (s == LDG_OK)
                s = meta_check(m, pages, psize, i, err);
            if (s != LDG_E_CORRUPT)
                break;
        }
    }
    return s;
}

/* Pages a database record claims (unchecked yet: this only orders the walks). */
static uint64_t
claimed_pages(const uint8_t *rec)
{
    uint64_t n = rd64le(rec + 8), l = rd64le(rec + 16), o = rd64le(rec + 24);
    return n > UINT64_MAX / 4 || l > UINT64_MAX / 4 || o > UINT64_MAX / 4 ? UINT64_MAX / 4
                                                                          : n + l + o;
}

/*
 * The biggest databases first, so that the two walks end together rather
 * than one walking the entries alone at the end.  Only the order changes:
 * each database is walked, and its counts checked, as before.
 */
static void
by_size(shared *sh)
{
    for (size_t i = 1; i < sh->nrecs; i++)
        for (size_t j = i; j > 0 && claimed_pages(sh->recs[j]) > claimed_pages(sh->recs[j - 1]);
             j--) {
            uint8_t rec[DBREC];
            const char *name = sh->names[j];
            memcpy(rec, sh->recs[j], DBREC);
            memcpy(sh->recs[j], sh->recs[j - 1], DBREC);
            memcpy(sh->recs[j - 1], rec, DBREC);
            sh->names[j] = sh->names[j - 1];
            sh->names[j - 1] = name;
        }
}

/* Walks named databases until none is left; the first failure is kept in sh. */
static void *
drain(void *arg)
{
    const walker *base = arg;
    shared *sh = base->sh;
    ldg_err err;
    walker w = *base;
    w.err = &err;
    ldg_status s = LDG_OK;
    if (!(w.bufs = ldgi_malloc((DEPTH_MAX + 1) * w.psize)))
        s = ldgi_fail(&err, LDG_E_NOMEM, "out of memory");
    while (s == LDG_OK) {
        size_t i = __atomic_fetch_add(&sh->next, 1, __ATOMIC_RELAXED);
        if (i >= sh->nrecs || __atomic_load_n(&sh->failed, __ATOMIC_RELAXED))
            break;
        s = walk_db(&w, sh->recs[i], sh->names[i], false, false);
    }
    if (s != LDG_OK) {
        pthread_mutex_lock(&sh->lock);
        if (!__atomic_load_n(&sh->failed, __ATOMIC_RELAXED)) {
            sh->status = s;
            sh->err = err;
            __atomic_store_n(&sh->failed, true, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&sh->lock);
    }
    free(w.bufs);
    return NULL;
}

ldg_status
ldgi_pages_check(int fd, uint64_t txnid, bool *stale, ldg_err *err)
{
    /*
     * The meta of this snapshot is the one whose txnid is txnid: the other
     * is older, or a commit in progress (its meta is written before readers
     * are told of it).  Neither: two commits since txnid began; begin again.
     */
    size_t psize;
    uint64_t file_pages;
    uint8_t m[PAGEHDR + 136];
    unsigned which;
    ldg_status s = LDG_OK;
    *stale = true;
    for (which = 0; which < 2 && *stale; which++) {
        if ((s = meta_read(fd, which, m, &psize, &file_pages, err)) != LDG_OK)
            return s;
        *stale = rd64le(m + PAGEHDR + 128) != txnid;
    }
    if (*stale)
        return LDG_OK;
    if ((s = meta_check(m, file_pages, psize, which - 1, err)) != LDG_OK)
        return s;
    const uint8_t *cur = m + PAGEHDR;
    uint64_t npages = rd64le(cur + 120) + 1;
    shared sh = {.nrecs = 0};
    walker w = {.fd = fd, .npages = npages, .psize = psize, .sh = &sh, .err = err};
    uint8_t *freed = ldgi_calloc(1, (size_t)(npages + 7) / 8);
    w.used = ldgi_calloc(1, (size_t)(npages + 7) / 8);
    w.bufs = ldgi_malloc((DEPTH_MAX + 1) * psize);
    if (!freed || !w.used || !w.bufs) {
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&sh.lock, NULL);
    w.used[0] = 3; /* the metas */
    s = walk_db(&w, cur + 24 + DBREC, "(main)", false, true);
    if (s == LDG_OK) {
        by_size(&sh);
        pthread_t helper;
        bool two = sh.nrecs > 1 && pthread_create(&helper, NULL, drain, &w) == 0;
        drain(&w);
        if (two)
            pthread_join(helper, NULL);
        if (sh.failed) {
            s = sh.status;
            *err = sh.err;
        }
    }
    /* then the free list, whose records must name no page in use */
    w.freed = freed;
    if (s == LDG_OK)
        s = walk_db(&w, cur + 24, "(free list)", true, false);
    pthread_mutex_destroy(&sh.lock);
out:
    free(w.bufs);
    free(w.used);
    free(freed);
    return s;
}
