/*
 * store.c - libldg's storage over LMDB [STO-1..STO-5]: one environment per
 * ledger directory (DIR/data.mdb), named databases for entries, bodies, the
 * key registry and the secondary indexes, one write transaction per append,
 * fsync'd at commit (never MDB_NOSYNC, MDB_NOMETASYNC or MDB_WRITEMAP), and a
 * map that grows instead of failing.  The only file that includes <lmdb.h>.
 */
#define _DEFAULT_SOURCE /* madvise */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAP_INITIAL (1ull << 30) /* 1 GiB of address space; the file grows as needed */
#define MAP_MAX (1ull << 42)     /* 4 TiB */

size_t ldgi_map_initial = MAP_INITIAL;
size_t ldgi_map_max = MAP_MAX;

const char *const ldgi_db_names[LDGI_DB_COUNT] = {
    "entries", "bodies", "leaf-by-epoch",  "study",      "kind",
    "actor",   "keys",   "commit-by-time", "tree-bands", "checkpoints"};

/* `leaf` and `commit` keyed by the hash alone (before 2026-12); `tree` a record per node. */
const char *const ldgi_old_db_names[LDGI_OLD_DB_COUNT] = {"leaf", "commit", "tree"};

struct ldg_ledger {
    MDB_env *env;
    MDB_dbi dbi[LDGI_ENV_DBS];
    const char *const *names; /* of dbi[0..ndb): ldgi_db_names, or another env's [WIT-1] */
    size_t ndb;
    bool readonly;
    /*
     * A resize failed after LMDB had unmapped the old map: the environment
     * has no map and must not be used again (LMDB would dereference it).
     */
    bool unmapped;
    /*
     * LMDB may change the map size only while this process has no
     * transaction open: every transaction holds this lock shared, a resize
     * takes it exclusive.
     */
    pthread_rwlock_t resize;
    /*
     * ldgi_leaf_seen: where this handle last read each of a few leaf hashes
     * (ldg_ledger_leaf_hash), a hint for the lookups of the refs that name
     * them; behind a lock, as tools resolve refs on several threads.
     */
    pthread_mutex_t seen_lock;
    ldgi_leaf_hint *seen;
    char dir[4096];
};

struct ldgi_txn {
    ldg_ledger *l;
    MDB_txn *txn;
    bool map_full; /* a put hit MDB_MAP_FULL: the map may grow, the disk is not full */
    void *hints;   /* ldgi_txn_hints: the transaction's own, freed with it */
};

struct ldgi_cur {
    ldgi_txn *t;
    MDB_cursor *c;
};

void
ldgi_be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t
ldgi_rd64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void
ldgi_keystate_pack(const ldgi_keystate *k, uint8_t out[LDGI_KEYSTATE_BYTES])
{
    ldgi_be64(out, k->added_seq);
    ldgi_be64(out + 8, k->revoked_seq);
    out[16] = k->roles;
}

bool
ldgi_keystate_unpack(const uint8_t *p, size_t n, ldgi_keystate *k)
{
    if (n != LDGI_KEYSTATE_BYTES)
        return false;
    k->added_seq = ldgi_rd64(p);
    k->revoked_seq = ldgi_rd64(p + 8);
    k->roles = p[16];
    return true;
}

static ldg_status
mdb_fail(ldg_err *err, int rc, const char *what, const char *where)
{
    ldg_status s;
    switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC: s = LDG_E_FULL; break;
    case ENOMEM: s = LDG_E_NOMEM; break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: s = LDG_E_CORRUPT; break;
    case MDB_NOTFOUND: s = LDG_E_NOTFOUND; break;
    case MDB_KEYEXIST: s = LDG_E_EXISTS; break;
    default: s = LDG_E_IO;
    }
    return ldgi_fail(err, s, "%s: %s: %s", where, what, mdb_strerror(rc));
}

/* [STO-7] both meta pages, before LMDB reads them (it sizes its map from them). */
static ldg_status
metas_before_open(const char *dir, ldg_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ldgi_fail(err, errno == ENOENT ? LDG_E_NOTFOUND : LDG_E_IO, "%s: %s", path,
                         strerror(errno));
    ldg_status s = ldgi_pages_metas(fd, err);
    close(fd);
    return s;
}

/*
 * [STO-7] The structure of the snapshot txn reads, checked before LMDB reads
 * any page of it.  A writer may commit between the transaction's start and
 * the check's look at the metas: then begin again.
 */
static int
begin_checked(ldg_ledger *l, MDB_txn **txn, ldg_status *s, ldg_err *err)
{
    mdb_filehandle_t fd;
    int rc = mdb_env_get_fd(l->env, &fd);
    for (int tries = 0; rc == 0 && tries < 100; tries++) {
        if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn)) != 0)
            break;
        bool stale;
        *s = ldgi_pages_check(fd, mdb_txn_id(*txn), &stale, err);
        if (*s == LDG_OK && !stale)
            return 0;
        mdb_txn_abort(*txn);
        *txn = NULL;
        if (*s != LDG_OK)
            return 0;
    }
    if (rc == 0)
        *s = ldgi_fail(err, LDG_E_IO, "%s: the ledger changed under every structure check", l->dir);
    return rc;
}

/*
 * A ledger of an earlier layout [STO-1]: `leaf` and `commit` keyed by the
 * hash alone (before 2026-12), or `tree` with a record per node [STO-6].
 */
static bool
old_layout(const char *dir, bool readonly)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    bool old = false;
    if (mdb_env_create(&env) != 0)
        return false;
    mdb_env_set_maxdbs(env, LDGI_ENV_DBS);
    if (mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS | (readonly ? MDB_NOLOCK : 0), 0640) == 0 &&
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        for (int i = 0; !old && i < LDGI_OLD_DB_COUNT; i++)
            old = mdb_dbi_open(txn, ldgi_old_db_names[i], 0, &dbi) == 0;
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    return old;
}

static ldg_status
env_open_dbs(const char *dir, const char *const *names, size_t ndb, bool readonly, bool create,
             bool check, ldg_ledger **out, ldg_err *err)
{
    if (check) {
        ldg_status ms = metas_before_open(dir, err);
        if (ms != LDG_OK)
            return ms;
    }
    ldg_ledger *l = ldgi_calloc(1, sizeof *l);
    if (!l)
        return ldgi_fail(err, LDG_E_NOMEM, "%s: out of memory", dir);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->names = names;
    l->ndb = ndb;
    l->readonly = readonly;
    pthread_rwlock_init(&l->resize, NULL);
    pthread_mutex_init(&l->seen_lock, NULL);
    int rc = mdb_env_create(&l->env);
    if (rc != 0) {
        free(l);
        return mdb_fail(err, rc, "cannot create environment", dir);
    }
    mdb_env_set_maxdbs(l->env, LDGI_ENV_DBS);
    mdb_env_set_mapsize(l->env, ldgi_map_initial);
    /* MDB_NOTLS: read transactions belong to handles, not threads. */
    unsigned flags = MDB_NOTLS | (readonly ? MDB_RDONLY : 0);
    rc = mdb_env_open(l->env, dir, flags, 0640);
    if ((rc == EACCES || rc == EROFS) && readonly) {
        /*
         * A ledger we may only read (an archived copy, read-only media, a
         * directory of another user): LMDB cannot take its reader lock, so
         * read without it.  Nobody can write through this directory either;
         * an owner who can must not append while such a reader runs.
         */
        mdb_env_close(l->env);
        if ((rc = mdb_env_create(&l->env)) == 0) {
            mdb_env_set_maxdbs(l->env, LDGI_ENV_DBS);
            mdb_env_set_mapsize(l->env, ldgi_map_initial);
            rc = mdb_env_open(l->env, dir, flags | MDB_NOLOCK, 0640);
        }
    }
    if (rc != 0) {
        mdb_env_close(l->env);
        free(l);
        return mdb_fail(err, rc, "cannot open ledger", dir);
    }
    MDB_txn *txn = NULL;
    ldg_status cs = LDG_OK;
    if (check)
        rc = begin_checked(l, &txn, &cs, err);
    else
        rc = mdb_txn_begin(l->env, NULL, readonly ? MDB_RDONLY : 0, &txn);
    if (cs != LDG_OK) {
        mdb_env_close(l->env);
        free(l);
        return cs;
    }
    for (size_t i = 0; rc == 0 && i < ndb; i++)
        rc = mdb_dbi_open(txn, names[i], create ? MDB_CREATE : 0, &l->dbi[i]);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc != 0) {
        mdb_env_close(l->env);
        free(l);
        if (rc == MDB_NOTFOUND && names == ldgi_db_names && old_layout(dir, readonly))
            return ldgi_fail(err, LDG_E_IO, "%s: " LDGI_OLD_LAYOUT, dir);
        if (rc == MDB_NOTFOUND)
            return ldgi_fail(err, LDG_E_NOTFOUND, "%s: not an ldg ledger (databases missing)", dir);
        return mdb_fail(err, rc, "cannot open databases", dir);
    }
    *out = l;
    return LDG_OK;
}

static ldg_status
env_open(const char *dir, bool readonly, bool create, bool check, ldg_ledger **out, ldg_err *err)
{
    return env_open_dbs(dir, ldgi_db_names, LDGI_DB_COUNT, readonly, create, check, out, err);
}

ldg_status
ldgi_env_open(const char *dir, const char *const *names, size_t n, bool create, ldg_ledger **out,
              ldg_err *err)
{
    if (n > LDGI_ENV_DBS)
        return ldgi_fail(err, LDG_E_USAGE, "%s: too many databases", dir);
    if (create && mkdir(dir, 0750) != 0 && errno != EEXIST)
        return ldgi_fail(err, LDG_E_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (!create && stat(path, &st) != 0)
        return ldgi_fail(err, LDG_E_NOTFOUND, "%s: nothing here (no data.mdb)", dir);
    return env_open_dbs(dir, names, n, false, create, false, out, err);
}

ldg_status
ldg_ledger_open(const char *dir, unsigned flags, ldg_ledger **out, ldg_err *err)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) != 0)
        return ldgi_fail(err, LDG_E_NOTFOUND, "%s: no ledger here (no data.mdb; run ldg init)",
                         dir);
    return env_open(dir, flags & LDG_OPEN_READONLY, false, flags & LDG_OPEN_CHECKED, out, err);
}

void
ldg_ledger_close(ldg_ledger *l)
{
    if (!l)
        return;
    mdb_env_close(l->env);
    pthread_rwlock_destroy(&l->resize);
    pthread_mutex_destroy(&l->seen_lock);
    free(l->seen);
    free(l);
}

ldg_status
ldgi_ledger_create_env(const char *dir, ldg_ledger **out, ldg_err *err)
{
    char path[4200];
    struct stat st;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return ldgi_fail(err, LDG_E_IO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ldgi_fail(err, LDG_E_IO, "%s: not a directory", dir);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (lstat(path, &st) == 0)
        return ldgi_fail(err, LDG_E_EXISTS, "%s: a ledger already exists here", dir);
    /*
     * [STO-2] Built aside, published by ldgi_ledger_create_finish: a killed
     * init leaves only this directory, which no later command looks at.
     */
    char tmp[4096]; /* as ldg_ledger's dir */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.init-XXXXXX", dir) >= sizeof tmp)
        return ldgi_fail(err, LDG_E_INPUT, "%s: path too long", dir);
    if (!mkdtemp(tmp))
        return ldgi_fail(err, LDG_E_IO, "%s: cannot create a temporary directory: %s", dir,
                         strerror(errno));
    ldg_status s = env_open(tmp, false, true, false, out, err);
    if (s != LDG_OK) {
        ldgi_ledger_remove_files(tmp);
        rmdir(tmp);
    }
    return s;
}

ldg_status
ldgi_ledger_create_finish(ldg_ledger *l, const char *dir, ldg_status ok, ldg_err *err)
{
    char tmp[sizeof l->dir], from[4200], to[4200];
    snprintf(tmp, sizeof tmp, "%s", l->dir);
    ldg_ledger_close(l);
    ldg_status s = ok;
    if (s == LDG_OK) {
        snprintf(from, sizeof from, "%s/data.mdb", tmp);
        snprintf(to, sizeof to, "%s/data.mdb", dir);
        /* The genesis commit was synced; link(2) never replaces: of two inits, one wins. */
        if (link(from, to) != 0) {
            s = errno == EEXIST
                    ? ldgi_fail(err, LDG_E_EXISTS, "%s: a ledger already exists here", dir)
                    : ldgi_fail(err, LDG_E_IO, "%s: %s", to, strerror(errno));
        } else {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd < 0 || fsync(dfd) != 0)
                s = ldgi_fail(err, LDG_E_IO, "%s: cannot sync the directory: %s", dir,
                              strerror(errno));
            if (dfd >= 0)
                close(dfd);
        }
    }
    ldgi_ledger_remove_files(tmp);
    rmdir(tmp);
    return s;
}

void
ldgi_ledger_remove_files(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
}

const char *
ldgi_ledger_dir(const ldg_ledger *l)
{
    return l->dir;
}

static int statm_fd = -1;
static pthread_once_t statm_once = PTHREAD_ONCE_INIT;
static long page_size;

static void
statm_open(void)
{
    statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    page_size = sysconf(_SC_PAGESIZE);
}

/*
 * What stayed mapped after the last ldgi_map_release: the program and its
 * libraries (tens of MiB with libcurl and GnuTLS), never released.  Counted
 * from there, the budget is the ledger's pages, as callers mean it;
 * counted from zero, a scan hovered at the budget and released (and
 * re-read /proc/self/maps) every few hundred records.
 */
static _Atomic size_t mapped_floor;
static _Atomic bool floor_known;

/*
 * The file-backed pages we have mapped: the third field of /proc/self/statm
 * ("shared").  Called every few records by long scans, so the file stays
 * open and is read with one pread, parsed by hand.
 */
static size_t
statm_shared(void)
{
    pthread_once(&statm_once, statm_open);
    if (statm_fd < 0)
        return 0;
    char buf[128];
    ssize_t n = pread(statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = buf;
    unsigned long v = 0;
    for (int field = 0; field < 3; field++) {
        while (*p == ' ')
            p++;
        v = 0;
        while (*p >= '0' && *p <= '9')
            v = v * 10 + (unsigned long)(*p++ - '0');
    }
    return (size_t)v * (size_t)page_size;
}

size_t
ldgi_mapped_bytes(void)
{
    size_t now = statm_shared(), floor = mapped_floor;
    return now > floor ? now - floor : 0;
}

void
ldgi_map_release(ldg_ledger *l)
{
    /*
     * The map is read-only and shared: dropping our mappings of its pages is
     * safe at any time (a later access faults the same bytes back in from the
     * page cache, and LMDB never rewrites pages a live reader can see).  It
     * keeps a long scan's resident set bounded instead of growing with the
     * ledger.  LMDB does not tell where it mapped the file, so we look in
     * /proc/self/maps; where that is missing, this does nothing.
     */
    char path[4200], real[PATH_MAX], line[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/data.mdb", l->dir);
    if (!realpath(path, real))
        return;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) < 2 || at == 0)
            continue;
        char *name = line + at;
        name[strcspn(name, "\n")] = '\0';
        if (strcmp(name, real) == 0 && hi > lo)
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    fclose(f);
    /*
     * The least left after any release: what other threads fault back in
     * while this one releases (an export's builders) is the ledger's, not
     * the program's, and would otherwise raise the floor and the budget.
     */
    size_t now = statm_shared();
    if (!atomic_exchange(&floor_known, true) || now < mapped_floor)
        mapped_floor = now;
}

bool
ldgi_txn_map_full(const ldgi_txn *t)
{
    return t->map_full;
}

bool
ldgi_map_grow(ldg_ledger *l, ldg_err *err)
{
    MDB_envinfo info;
    if (mdb_env_info(l->env, &info) != 0)
        return false;
    size_t cur = info.me_mapsize;
    if (cur >= ldgi_map_max) {
        ldgi_fail(err, LDG_E_FULL, "%s: the ledger's map is full at its limit of %zu MiB", l->dir,
                  cur >> 20);
        return false;
    }
    size_t want = cur > ldgi_map_max / 2 ? ldgi_map_max : cur * 2;
    /*
     * LMDB unmaps the old map before it maps the new one, and a failed
     * mapping leaves the environment with none.  Reserve the address space
     * first (nothing is committed): where even that is refused, the map is
     * full for now and the old one stays usable.
     */
    void *probe = mmap(NULL, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED) {
        ldgi_fail(err, LDG_E_FULL,
                  "%s: the ledger's map is full at %zu MiB and cannot grow to %zu MiB: %s", l->dir,
                  cur >> 20, want >> 20, strerror(errno));
        return false;
    }
    munmap(probe, want);
    pthread_rwlock_wrlock(&l->resize); /* waits for this process's other transactions */
    int rc = mdb_env_set_mapsize(l->env, want);
    if (rc != 0)
        l->unmapped = true;
    pthread_rwlock_unlock(&l->resize);
    if (rc != 0)
        mdb_fail(err, rc, "cannot grow the map; close and reopen the ledger", l->dir);
    return rc == 0;
}

ldg_status
ldgi_txn_begin(ldg_ledger *l, bool write, ldgi_txn **out, ldg_err *err)
{
    if (write && l->readonly)
        return ldgi_fail(err, LDG_E_USAGE, "%s: ledger opened read-only", l->dir);
    if (l->unmapped)
        return ldgi_fail(err, LDG_E_IO, "%s: the map could not be resized; close and reopen",
                         l->dir);
    ldgi_txn *t = ldgi_calloc(1, sizeof *t);
    if (!t)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    t->l = l;
    t->map_full = false;
    int rc;
    for (int tries = 0;; tries++) {
        pthread_rwlock_rdlock(&l->resize);
        rc = mdb_txn_begin(l->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
        if (rc == 0)
            break;
        pthread_rwlock_unlock(&l->resize);
        /* Another process grew the map: adopt its size (no transaction of ours open). */
        if (rc != MDB_MAP_RESIZED || tries == 3)
            break;
        pthread_rwlock_wrlock(&l->resize);
        int r2 = mdb_env_set_mapsize(l->env, 0);
        pthread_rwlock_unlock(&l->resize);
        if (r2 != 0)
            break;
    }
    if (rc != 0) {
        free(t);
        return mdb_fail(err, rc,
                        write ? "cannot begin write transaction" : "cannot begin read transaction",
                        l->dir);
    }
    *out = t;
    return LDG_OK;
}

ldg_status
ldgi_txn_commit(ldgi_txn *t, bool *map_full, ldg_err *err)
{
    int rc = mdb_txn_commit(t->txn); /* fsync'd: the env has no NOSYNC flags */
    if (map_full) /* the commit itself takes pages (the free list's): it can fill the map */
        *map_full = rc == MDB_MAP_FULL;
    ldg_ledger *l = t->l;
    pthread_rwlock_unlock(&l->resize);
    free(t->hints);
    free(t);
    return rc ? mdb_fail(err, rc, "commit failed", l->dir) : LDG_OK;
}

void
ldgi_txn_abort(ldgi_txn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    pthread_rwlock_unlock(&t->l->resize);
    free(t->hints);
    free(t);
}

ldgi_txn *
ldgi_txn_twin(ldgi_txn *t)
{
    ldgi_txn *w = ldgi_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->l = t->l;
    pthread_rwlock_rdlock(&t->l->resize); /* a read lock more on this thread: the caller's */
    if (mdb_txn_begin(t->l->env, NULL, MDB_RDONLY, &w->txn) != 0) {
        pthread_rwlock_unlock(&t->l->resize);
        free(w);
        return NULL; /* whatever it is (a map grown elsewhere too): no twin, no retry */
    }
    if (mdb_txn_id(w->txn) != mdb_txn_id(t->txn)) {
        ldgi_txn_abort(w); /* a commit came between: another snapshot */
        return NULL;
    }
    return w;
}

ldg_ledger *
ldgi_txn_ledger(const ldgi_txn *t)
{
    return t->l;
}

void **
ldgi_txn_hints(ldgi_txn *t)
{
    return &t->hints;
}

void
ldgi_leaf_seen_put(ldg_ledger *l, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq)
{
    uint32_t slot;
    memcpy(&slot, hash, sizeof slot);
    pthread_mutex_lock(&l->seen_lock);
    if (!l->seen)
        l->seen = ldgi_calloc(LDGI_SEEN_SLOTS, sizeof *l->seen);
    if (l->seen)
        ldgi_leaf_hint_set(&l->seen[slot % LDGI_SEEN_SLOTS], hash, seq);
    pthread_mutex_unlock(&l->seen_lock);
}

bool
ldgi_leaf_seen_get(ldg_ledger *l, const uint8_t hash[LDG_HASH_BYTES], uint64_t *seq)
{
    uint32_t slot;
    memcpy(&slot, hash, sizeof slot);
    bool hit = false;
    pthread_mutex_lock(&l->seen_lock);
    if (l->seen) {
        const ldgi_leaf_hint *h = &l->seen[slot % LDGI_SEEN_SLOTS];
        if ((hit = h->used && memcmp(h->hash, hash, LDG_HASH_BYTES) == 0))
            *seq = h->seq;
    }
    pthread_mutex_unlock(&l->seen_lock);
    return hit;
}

ldg_status
ldgi_get(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, const uint8_t **v, size_t *vl,
         ldg_err *err)
{
    MDB_val key = {kl, (void *)k}, val;
    int rc = mdb_get(t->txn, t->l->dbi[db], &key, &val);
    if (rc == MDB_NOTFOUND)
        return LDG_E_NOTFOUND;
    if (rc != 0)
        return mdb_fail(err, rc, t->l->names[db], t->l->dir);
    *v = val.mv_data;
    *vl = val.mv_size;
    return LDG_OK;
}

ldg_status
ldgi_put(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, const void *v, size_t vl, bool noover,
         bool append, ldg_err *err)
{
    MDB_val key = {kl, (void *)k}, val = {vl, (void *)v};
    unsigned flags = (noover ? MDB_NOOVERWRITE : 0) | (append ? MDB_APPEND : 0);
    int rc = mdb_put(t->txn, t->l->dbi[db], &key, &val, flags);
    if (rc == MDB_MAP_FULL)
        t->map_full = true;
    if (rc == MDB_KEYEXIST)
        return ldgi_fail(err, LDG_E_EXISTS, "%s: key exists", t->l->names[db]);
    return rc ? mdb_fail(err, rc, t->l->names[db], t->l->dir) : LDG_OK;
}

ldg_status
ldgi_del(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, ldg_err *err)
{
    MDB_val key = {kl, (void *)k};
    int rc = mdb_del(t->txn, t->l->dbi[db], &key, NULL);
    if (rc == MDB_NOTFOUND)
        return LDG_E_NOTFOUND;
    if (rc == MDB_MAP_FULL)
        t->map_full = true;
    return rc ? mdb_fail(err, rc, t->l->names[db], t->l->dir) : LDG_OK;
}

ldg_status
ldgi_drop(ldgi_txn *t, ldgi_db db, bool remove, ldg_err *err)
{
    int rc = mdb_drop(t->txn, t->l->dbi[db], remove ? 1 : 0);
    return rc ? mdb_fail(err, rc, t->l->names[db], t->l->dir) : LDG_OK;
}

ldg_status
ldgi_count(ldgi_txn *t, ldgi_db db, uint64_t *n, ldg_err *err)
{
    MDB_stat st;
    int rc = mdb_stat(t->txn, t->l->dbi[db], &st);
    if (rc != 0)
        return mdb_fail(err, rc, t->l->names[db], t->l->dir);
    *n = st.ms_entries;
    return LDG_OK;
}

ldg_status
ldgi_cur_open(ldgi_txn *t, ldgi_db db, ldgi_cur **out, ldg_err *err)
{
    ldgi_cur *c = ldgi_malloc(sizeof *c);
    if (!c)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    c->t = t;
    int rc = mdb_cursor_open(t->txn, t->l->dbi[db], &c->c);
    if (rc != 0) {
        free(c);
        return mdb_fail(err, rc, t->l->names[db], t->l->dir);
    }
    *out = c;
    return LDG_OK;
}

static ldg_status
cur_get(ldgi_cur *c, MDB_val *k, MDB_cursor_op op, const uint8_t **key, size_t *keyl,
        const uint8_t **v, size_t *vl, ldg_err *err)
{
    MDB_val val;
    int rc = mdb_cursor_get(c->c, k, &val, op);
    if (rc == MDB_NOTFOUND)
        return LDG_E_NOTFOUND;
    if (rc != 0)
        return mdb_fail(err, rc, "cursor", c->t->l->dir);
    *key = k->mv_data;
    *keyl = k->mv_size;
    *v = val.mv_data;
    *vl = val.mv_size;
    return LDG_OK;
}

ldg_status
ldgi_cur_seek(ldgi_cur *c, const void *kp, size_t kl, const uint8_t **key, size_t *keyl,
              const uint8_t **v, size_t *vl, ldg_err *err)
{
    MDB_val k = {kl, (void *)kp};
    return cur_get(c, &k, kp ? MDB_SET_RANGE : MDB_FIRST, key, keyl, v, vl, err);
}

ldg_status
ldgi_cur_find(ldgi_cur *c, const void *kp, size_t kl, const uint8_t **v, size_t *vl, ldg_err *err)
{
    const uint8_t *key = NULL;
    size_t keyl = 0;
    ldg_status s = ldgi_cur_seek(c, kp, kl, &key, &keyl, v, vl, err);
    if (s == LDG_OK && (keyl != kl || memcmp(key, kp, kl) != 0))
        s = LDG_E_NOTFOUND; /* landed on the next key: kp has none */
    return s;
}

ldg_status
ldgi_cur_find_next(ldgi_cur *c, const void *kp, size_t kl, const uint8_t **v, size_t *vl,
                   ldg_err *err)
{
    MDB_val k;
    const uint8_t *key = NULL;
    size_t keyl = 0;
    /* a miss (a gap, the end, a cursor not yet placed) costs one step, then the seek */
    if (cur_get(c, &k, MDB_NEXT, &key, &keyl, v, vl, NULL) == LDG_OK && keyl == kl &&
        memcmp(key, kp, kl) == 0)
        return LDG_OK;
    return ldgi_cur_find(c, kp, kl, v, vl, err);
}

ldg_status
ldgi_cur_next(ldgi_cur *c, const uint8_t **key, size_t *keyl, const uint8_t **v, size_t *vl,
              ldg_err *err)
{
    MDB_val k;
    return cur_get(c, &k, MDB_NEXT, key, keyl, v, vl, err);
}

ldg_status
ldgi_cur_last(ldgi_cur *c, const uint8_t **key, size_t *keyl, const uint8_t **v, size_t *vl,
              ldg_err *err)
{
    MDB_val k;
    return cur_get(c, &k, MDB_LAST, key, keyl, v, vl, err);
}

ldg_status
ldgi_last(ldgi_txn *t, ldgi_db db, const uint8_t **key, size_t *keyl, const uint8_t **v, size_t *vl,
          ldg_err *err)
{
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, db, &c, err);
    if (s != LDG_OK)
        return s;
    s = ldgi_cur_last(c, key, keyl, v, vl, err);
    ldgi_cur_close(c); /* the bytes stay: LMDB keeps them until t writes to db or ends */
    return s;
}

ldg_status
ldgi_cur_prev(ldgi_cur *c, const uint8_t **key, size_t *keyl, const uint8_t **v, size_t *vl,
              ldg_err *err)
{
    MDB_val k;
    return cur_get(c, &k, MDB_PREV, key, keyl, v, vl, err);
}

void
ldgi_cur_close(ldgi_cur *c)
{
    if (!c)
        return;
    mdb_cursor_close(c->c);
    free(c);
}
