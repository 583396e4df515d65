/*
 * publish.c - `ldg publish`: the ledger as C2SP tlog-tiles static files
 * (spec/publish.md [PUB-1..8]): `checkpoint`, hash tiles tile/<L>/<N>[.p/<W>]
 * of height 8 and entry bundles tile/entries/<N>[.p/<W>], plus body/<N>
 * files for a private mirror.  Every hash written is computed here from
 * entry bytes re-hashed in one snapshot, or read back from tiles this
 * directory already published and proven by the root of the checkpoint it
 * published (signed by the log key) [PUB-3]; nothing is taken from the
 * ledger's tree database.  New files are staged, made durable, then moved
 * into place; the checkpoint is written last [PUB-4].
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TILE_W 256u
#define LEVELS 8 /* 256^8 = 2^64 leaves */
#define PATH_MAX_ 4200
#define NOTE_FILE_MAX 65536u
#define TMPDIR ".publish-tmp"
#define STATE_FILE ".publish-state"
#define LOCK_FILE ".publish-lock"

typedef struct staged {
    char *tmp, *final;
} staged;

typedef struct level {
    uint64_t tile;                     /* index of the tile being filled */
    unsigned n;                        /* hashes in it so far */
    uint8_t h[TILE_W][LDG_HASH_BYTES]; /* its hashes */
} level;

typedef struct pub {
    ldg_ledger *l;
    const char *dir;
    const ldg_publish_opts *o;
    ldg_publish_summary *sum;
    ldg_err *err;
    level lv[LEVELS];
    ldgi_buf bundle; /* entry bundle of the level-0 tile being filled */
    staged *st;
    size_t nst, capst;
    unsigned long tmpno;
    int retry; /* the incremental pass could not use what DIR holds: run again from 0 */
    char tmpdir[PATH_MAX_ - 64];
} pub;

/* ---------------------------------------------------------------- paths -- */

/* [PUB-1] N as 3-digit path elements, all but the last prefixed with "x": x001/x234/067. */
void
ldgi_index_path(uint64_t n, char *out, size_t cap)
{
    unsigned g[8];
    int k = 0;
    do {
        g[k++] = (unsigned)(n % 1000);
        n /= 1000;
    } while (n);
    size_t at = 0;
    out[0] = '\0';
    for (int i = k - 1; i >= 0 && at < cap; i--)
        at += (size_t)snprintf(out + at, cap - at, "%s%s%03u", i == k - 1 ? "" : "/", i ? "x" : "",
                               g[i]);
}

void
ldgi_tile_path(const char *kind, uint64_t n, unsigned w, char *out, size_t cap)
{
    char ix[64];
    ldgi_index_path(n, ix, sizeof ix);
    if (w < TILE_W)
        snprintf(out, cap, "tile/%s/%s.p/%u", kind, ix, w);
    else
        snprintf(out, cap, "tile/%s/%s", kind, ix);
}

/* ------------------------------------------------------------- file I/O -- */

static ldg_status
io_fail(pub *p, const char *what, const char *path)
{
    int e = errno;
    return ldgi_fail(p->err, e == ENOSPC || e == EDQUOT ? LDG_E_FULL : LDG_E_IO, "%s %s: %s", what,
                     path, strerror(e));
}

static ldg_status
fsync_path(pub *p, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(p, "open", path);
    int rc = fsync(fd);
    close(fd);
    return rc == 0 ? LDG_OK : io_fail(p, "fsync", path);
}

/* mkdir -p of the parent directories of DIR/rel (rel relative). */
static ldg_status
mkdirs(pub *p, const char *rel)
{
    char path[PATH_MAX_];
    int n = snprintf(path, sizeof path, "%s/%s", p->dir, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return ldgi_fail(p->err, LDG_E_USAGE, "publish: path too long");
    size_t base = strlen(p->dir) + 1;
    for (char *s = path + base; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            ldg_status st = io_fail(p, "mkdir", path);
            return st;
        }
        *s = '/';
    }
    return LDG_OK;
}

/* Writes data to a new file and fsyncs it. */
static ldg_status
write_file(pub *p, const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return io_fail(p, "create", path);
    const uint8_t *d = data;
    while (len) {
        ssize_t w = write(fd, d, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ldg_status s = io_fail(p, "write", path);
            close(fd);
            return s;
        }
        d += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        ldg_status s = io_fail(p, "fsync", path);
        close(fd);
        return s;
    }
    if (close(fd) != 0)
        return io_fail(p, "close", path);
    p->sum->bytes += (uint64_t)(d - (const uint8_t *)data);
    return LDG_OK;
}

/*
 * Reads DIR/rel into a malloc'd buffer of at most max bytes: LDG_OK,
 * LDG_E_NOTFOUND when absent, LDG_E_CORRUPT when larger than max.
 */
static ldg_status
read_file(pub *p, const char *rel, size_t max, uint8_t **out, size_t *len)
{
    char path[PATH_MAX_];
    snprintf(path, sizeof path, "%s/%s", p->dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return LDG_E_NOTFOUND;
        return io_fail(p, "open", path);
    }
    uint8_t *b = ldgi_malloc(max + 1);
    if (!b) {
        close(fd);
        return ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, b + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ldg_status s = io_fail(p, "read", path);
            close(fd);
            free(b);
            return s;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max)
            break;
    }
    close(fd);
    if (n > max) {
        free(b);
        return ldgi_fail(p->err, LDG_E_CORRUPT, "%s: larger than the %zu bytes expected", path,
                         max);
    }
    *out = b;
    *len = n;
    return LDG_OK;
}

/*
 * [PUB-2] One file of the published tree.  A file already there must hold
 * exactly these bytes (a published file is never rewritten: other bytes
 * mean someone rewrote published history); a new one is written to the
 * staging directory, fsynced, and moved into place only when the whole
 * publish has checked.
 */
static ldg_status
emit(pub *p, const char *rel, const void *data, size_t len, uint64_t *written)
{
    uint8_t *old;
    size_t ol;
    ldg_status s = read_file(p, rel, len, &old, &ol);
    if (s == LDG_OK) {
        bool same = ol == len && memcmp(old, data, len) == 0;
        free(old);
        if (same) {
            p->sum->kept++;
            return LDG_OK;
        }
        return ldgi_fail(p->err, LDG_E_CORRUPT,
                         "%s/%s already exists with other bytes: published history was rewritten "
                         "(ldg publish never rewrites a published file)",
                         p->dir, rel);
    }
    if (s != LDG_E_NOTFOUND) {
        if (s == LDG_E_CORRUPT)
            return ldgi_fail(p->err, LDG_E_CORRUPT,
                             "%s/%s already exists with other bytes: published history was "
                             "rewritten (ldg publish never rewrites a published file)",
                             p->dir, rel);
        return s;
    }
    if (p->nst == p->capst) {
        size_t nc = p->capst ? 2 * p->capst : 64;
        staged *ns = ldgi_realloc(p->st, nc * sizeof *ns);
        if (!ns)
            return ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
        p->st = ns;
        p->capst = nc;
    }
    char tmp[PATH_MAX_];
    snprintf(tmp, sizeof tmp, "%s/%lu", p->tmpdir, ++p->tmpno);
    staged *e = &p->st[p->nst];
    e->tmp = ldgi_strdup(tmp);
    e->final = ldgi_strdup(rel);
    if (!e->tmp || !e->final) {
        free(e->tmp);
        free(e->final);
        return ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
    }
    p->nst++;
    if ((s = write_file(p, tmp, data, len)) != LDG_OK)
        return s;
    (*written)++;
    return LDG_OK;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * [PUB-4] Moves every staged file into place, then fsyncs each directory
 * that gained an entry (and those above it, which may be new): after this,
 * everything the new checkpoint covers is durable.
 */
static ldg_status
commit_staged(pub *p)
{
    ldg_status s = LDG_OK;
    char **dirs = ldgi_calloc(p->nst ? p->nst : 1, sizeof *dirs);
    size_t nd = 0;
    if (!dirs)
        return ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
    for (size_t i = 0; i < p->nst && s == LDG_OK; i++) {
        char path[PATH_MAX_];
        snprintf(path, sizeof path, "%s/%s", p->dir, p->st[i].final);
        if ((s = mkdirs(p, p->st[i].final)) != LDG_OK)
            break;
        if (rename(p->st[i].tmp, path) != 0) {
            s = io_fail(p, "rename to", path);
            break;
        }
        char *slash = strrchr(path, '/');
        *slash = '\0';
        if (nd == 0 || strcmp(dirs[nd - 1], path) != 0) {
            if (!(dirs[nd] = ldgi_strdup(path)))
                s = ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
            else
                nd++;
        }
    }
    if (s == LDG_OK && nd) {
        qsort(dirs, nd, sizeof *dirs, cmp_str);
        size_t base = strlen(p->dir);
        for (size_t i = 0; i < nd && s == LDG_OK; i++) {
            if (i && strcmp(dirs[i], dirs[i - 1]) == 0)
                continue;
            /* the directory and each one above it up to DIR: any may be new */
            char path[PATH_MAX_];
            snprintf(path, sizeof path, "%s", dirs[i]);
            for (;;) {
                if ((s = fsync_path(p, path)) != LDG_OK || strlen(path) <= base)
                    break;
                char *slash = strrchr(path, '/');
                if (!slash)
                    break;
                *slash = '\0';
                if (i + 1 < nd && strncmp(dirs[i + 1], path, strlen(path)) == 0 &&
                    dirs[i + 1][strlen(path)] == '/')
                    break; /* the next one walks up from here */
            }
        }
    }
    for (size_t i = 0; i < nd; i++)
        free(dirs[i]);
    free(dirs);
    return s;
}

/* Replaces DIR/name with data atomically and durably (temp, fsync, rename, fsync DIR). */
static ldg_status
replace_file(pub *p, const char *name, const void *data, size_t len)
{
    char tmp[PATH_MAX_], path[PATH_MAX_];
    snprintf(tmp, sizeof tmp, "%s/%lu", p->tmpdir, ++p->tmpno);
    snprintf(path, sizeof path, "%s/%s", p->dir, name);
    ldg_status s = write_file(p, tmp, data, len);
    if (s != LDG_OK)
        return s;
    if (rename(tmp, path) != 0)
        return io_fail(p, "rename to", path);
    return fsync_path(p, p->dir);
}

/* Empties the staging directory (left over by a killed run) and makes sure it exists. */
static ldg_status
clean_tmpdir(pub *p)
{
    snprintf(p->tmpdir, sizeof p->tmpdir, "%s/" TMPDIR, p->dir);
    if (mkdir(p->tmpdir, 0755) != 0 && errno != EEXIST)
        return io_fail(p, "mkdir", p->tmpdir);
    DIR *dh = opendir(p->tmpdir);
    if (!dh)
        return io_fail(p, "open", p->tmpdir);
    ldg_status s = LDG_OK;
    struct dirent *de;
    while (s == LDG_OK && (de = readdir(dh)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[PATH_MAX_ + 256];
        snprintf(path, sizeof path, "%s/%s", p->tmpdir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT)
            s = io_fail(p, "remove", path);
    }
    closedir(dh);
    return s;
}

/* ----------------------------------------------------------------- tree -- */

/* RFC 6962 hash of n hashes (n >= 1), in place over a scratch copy. */
static void
mth(const uint8_t (*h)[LDG_HASH_BYTES], size_t n, uint8_t out[LDG_HASH_BYTES])
{
    if (n == 1) {
        memcpy(out, h[0], LDG_HASH_BYTES);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[LDG_HASH_BYTES], r[LDG_HASH_BYTES];
    mth(h, k, l);
    mth(h + k, n - k, r);
    ldgi_node_hash(l, r, out);
}

/*
 * [PUB-6] The root of the tree whose right edge the level buffers hold: the
 * partial tile of each level, highest first, split into perfect subtrees
 * (largest first), folded from the right.  Empty tree: SHA-256("").
 */
static void
root_now(const pub *p, uint8_t out[LDG_HASH_BYTES])
{
    uint8_t parts[LEVELS * 9][LDG_HASH_BYTES];
    size_t np = 0;
    for (int L = LEVELS - 1; L >= 0; L--) {
        const level *v = &p->lv[L];
        size_t at = 0;
        for (unsigned bit = TILE_W / 2; bit; bit >>= 1)
            if (v->n & bit) {
                mth((const uint8_t(*)[LDG_HASH_BYTES])v->h + at, bit, parts[np++]);
                at += bit;
            }
    }
    if (np == 0) {
        ldgi_sha256("", 0, out);
        return;
    }
    memcpy(out, parts[np - 1], LDG_HASH_BYTES);
    for (size_t i = np - 1; i-- > 0;)
        ldgi_node_hash(parts[i], out, out);
}

/* Writes the level-L tile being filled (w hashes); with w full, also the bundle at L 0. */
static ldg_status
emit_tile(pub *p, int L)
{
    level *v = &p->lv[L];
    char kind[16], rel[256];
    snprintf(kind, sizeof kind, "%d", L);
    ldgi_tile_path(kind, v->tile, v->n, rel, sizeof rel);
    ldg_status s = emit(p, rel, v->h, (size_t)v->n * LDG_HASH_BYTES, &p->sum->tiles);
    if (s == LDG_OK && L == 0) {
        ldgi_tile_path("entries", v->tile, v->n, rel, sizeof rel);
        s = emit(p, rel, p->bundle.p, p->bundle.len, &p->sum->bundles);
    }
    return s;
}

/* Adds one hash at level L; a tile that fills is written and its root goes up a level. */
static ldg_status
push(pub *p, int L, const uint8_t h[LDG_HASH_BYTES])
{
    level *v = &p->lv[L];
    memcpy(v->h[v->n++], h, LDG_HASH_BYTES);
    if (v->n < TILE_W)
        return LDG_OK;
    ldg_status s = emit_tile(p, L);
    if (s != LDG_OK)
        return s;
    uint8_t r[LDG_HASH_BYTES];
    mth((const uint8_t(*)[LDG_HASH_BYTES])v->h, TILE_W, r);
    v->n = 0;
    v->tile++;
    if (L == 0)
        p->bundle.len = 0;
    if (L + 1 >= LEVELS)
        return ldgi_fail(p->err, LDG_E_USAGE, "publish: tree too large");
    return push(p, L + 1, r);
}

/* --------------------------------------------------------------- bodies -- */

/* [PUB-7] body/<N>: salt || canonical body, checked against the statement's commitment. */
static ldg_status
emit_body(pub *p, ldgi_txn *t, uint64_t seq, const uint8_t *entry, size_t elen)
{
    ldgi_entry e;
    ldgi_stmt st;
    const char *why;
    if (!ldgi_entry_decode_proven(entry, elen, &e, &why) ||
        (!ldgi_stmt_peek(e.stmt, e.stmt_len, &st) &&
         !ldgi_stmt_decode_proven(e.stmt, e.stmt_len, &st, &why)))
        return ldgi_fail(p->err, LDG_E_CORRUPT, "entry %llu does not decode; run ldg verify",
                         (unsigned long long)seq);
    uint8_t k[8];
    ldgi_be64(k, seq);
    const uint8_t *v;
    size_t vl;
    ldg_status s = ldgi_get(t, LDGI_DB_BODIES, k, 8, &v, &vl, p->err);
    char ix[64], rel[96];
    ldgi_index_path(seq, ix, sizeof ix);
    snprintf(rel, sizeof rel, "body/%s", ix);
    if (s == LDG_E_NOTFOUND) {
        uint8_t leaf[LDG_HASH_BYTES];
        uint64_t by;
        ldgi_leaf_hash(entry, elen, leaf);
        if ((s = ldgi_erasure_of(t, seq, leaf, &by, p->err)) == LDG_OK)
            return LDG_OK; /* erased: never published (and removed by the erasure, below) */
        if (s == LDG_E_NOTFOUND)
            return ldgi_fail(p->err, LDG_E_CORRUPT,
                             "entry %llu: body missing without an erasure record; run ldg verify",
                             (unsigned long long)seq);
        return s;
    }
    if (s != LDG_OK)
        return s;
    uint8_t c[LDG_HASH_BYTES];
    if (vl < LDG_SALT_BYTES)
        return ldgi_fail(p->err, LDG_E_CORRUPT, "entry %llu: stored body too short",
                         (unsigned long long)seq);
    ldgi_body_commit(v, v + LDG_SALT_BYTES, vl - LDG_SALT_BYTES, c);
    if (sodium_memcmp(c, st.body, LDG_HASH_BYTES) != 0)
        return ldgi_fail(p->err, LDG_E_CORRUPT,
                         "entry %llu: stored body does not match its commitment; run ldg verify",
                         (unsigned long long)seq);
    return emit(p, rel, v, vl, &p->sum->bodies);
}

/* [PUB-7] An erasure record among the new entries: its target's body file goes. */
static ldg_status
erase_body(pub *p, ldgi_txn *t, uint64_t seq, const uint8_t *entry, size_t elen)
{
    ldgi_entry e;
    const char *why;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st)
        return ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
    ldg_status s = LDG_OK;
    if (!ldgi_entry_decode_proven(entry, elen, &e, &why))
        s = ldgi_fail(p->err, LDG_E_CORRUPT, "entry %llu does not decode; run ldg verify",
                      (unsigned long long)seq);
    else if (ldgi_stmt_peek(e.stmt, e.stmt_len, st) && ldgi_stmt_is_erasure(st) &&
             ldgi_stmt_decode_proven(e.stmt, e.stmt_len, st, &why) && st->nrefs == 1) {
        uint64_t target;
        char w[200];
        s = ldgi_erasure_target(t, st, &target, w, sizeof w, p->err);
        if (s == LDG_E_POLICY)
            s = ldgi_fail(p->err, LDG_E_CORRUPT, "entry %llu: %s; run ldg verify",
                          (unsigned long long)seq, w);
        if (s == LDG_OK) {
            char ix[64], path[PATH_MAX_];
            ldgi_index_path(target, ix, sizeof ix);
            snprintf(path, sizeof path, "%s/body/%s", p->dir, ix);
            if (unlink(path) == 0) {
                p->sum->bodies_removed++;
                char *slash = strrchr(path, '/');
                *slash = '\0';
                s = fsync_path(p, path);
            } else if (errno != ENOENT) {
                s = io_fail(p, "remove", path);
            }
        }
    }
    free(st);
    return s;
}

/* ---------------------------------------------------------------- state -- */

/*
 * [PUB-5] The checkpoint DIR publishes now (size 0 when none): it must be
 * signed by this ledger's log key for its origin.  Another origin is a
 * usage error (DIR belongs to another log); a bad or missing signature is
 * an integrity failure.
 */
static ldg_status
published(pub *p, const char *origin, const uint8_t logkey[LDG_PUB_BYTES], ldg_checkpoint *cp,
          uint8_t **note, size_t *nl)
{
    memset(cp, 0, sizeof *cp);
    *note = NULL;
    *nl = 0;
    uint8_t *b;
    size_t len;
    ldg_status s = read_file(p, "checkpoint", NOTE_FILE_MAX, &b, &len);
    if (s == LDG_E_NOTFOUND)
        return LDG_OK;
    if (s != LDG_OK)
        return s;
    const char *nlp = memchr(b, '\n', len);
    size_t ol = nlp ? (size_t)(nlp - (const char *)b) : len;
    if (ol != strlen(origin) || memcmp(b, origin, ol) != 0) {
        free(b);
        return ldgi_fail(p->err, LDG_E_INPUT,
                         "%s/checkpoint is not this ledger's (origin %s): DIR publishes another "
                         "log",
                         p->dir, origin);
    }
    ldg_err e2;
    if (ldg_checkpoint_parse((const char *)b, len, NULL, logkey, cp, &e2) != LDG_OK) {
        free(b);
        return ldgi_fail(p->err, LDG_E_CORRUPT,
                         "%s/checkpoint does not verify under this ledger's log key (%s): the "
                         "published checkpoint was altered",
                         p->dir, e2.msg);
    }
    *note = b;
    *nl = len;
    return LDG_OK;
}

/* [PUB-5] The bodies watermark from DIR/.publish-state, believed only when its size matches. */
static uint64_t
state_bodies(pub *p, uint64_t size)
{
    uint8_t *b;
    size_t len;
    if (read_file(p, STATE_FILE, 256, &b, &len) != LDG_OK)
        return 0;
    b[len] = '\0';
    unsigned long long sz, bs;
    int ok = sscanf((const char *)b, "ldg-publish v1 size %llu bodies %llu", &sz, &bs) == 2;
    free(b);
    return ok && sz == size && bs <= sz ? (uint64_t)bs : 0;
}

/* The newest checkpoint stored in the ledger that the log key signed for this origin. */
static ldg_status
newest_stored(ldgi_txn *t, const char *origin, const uint8_t logkey[LDG_PUB_BYTES], uint64_t n,
              char **note, size_t *nl, ldg_err *err)
{
    ldgi_cur *c;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint64_t best = 0;
    *note = NULL;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_CHECKPOINTS, &c, err);
    if (s != LDG_OK)
        return s;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err)) {
        ldg_checkpoint cp;
        if (ldg_checkpoint_parse((const char *)v, vl, NULL, logkey, &cp, NULL) == LDG_OK &&
            strcmp(cp.origin, origin) == 0 && cp.size <= n && cp.size >= best) {
            char *d = ldgi_malloc(vl + 1);
            if (!d) {
                s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
                break;
            }
            memcpy(d, v, vl);
            d[vl] = '\0';
            free(*note);
            *note = d;
            *nl = vl;
            best = cp.size;
        }
    }
    ldgi_cur_close(c);
    if (s == LDG_E_NOTFOUND)
        s = LDG_OK;
    if (s == LDG_OK && !*note)
        s = ldgi_fail(err, LDG_E_NOTFOUND,
                      "the ledger holds no checkpoint signed by its log key: give --as LOG.key "
                      "to sign one");
    return s;
}

/* ------------------------------------------------------------------ run -- */

/*
 * One pass from base (0: everything) to cp->size over snapshot t.  The
 * level buffers start with the hashes left of base that its tiles need:
 * level 0 from the entries themselves, higher levels from the partial tiles
 * DIR published at base (proven below by old->root).  Sets p->retry and
 * returns LDG_E_NOTFOUND when an incremental base cannot be used (the
 * caller then runs again from 0, which names what differs).
 */
static ldg_status
run_pass(pub *p, ldgi_txn *t, uint64_t base, const ldg_checkpoint *old, const ldg_checkpoint *cp,
         uint64_t bodies_from)
{
    ldg_status s = LDG_OK;
    memset(p->lv, 0, sizeof p->lv);
    p->bundle.len = 0;
    uint64_t div = 1;
    for (int L = 0; L < LEVELS; L++, div *= TILE_W) {
        uint64_t c = base / div; /* hashes at level L left of base */
        p->lv[L].tile = c / TILE_W;
        unsigned w = (unsigned)(c % TILE_W);
        if (L == 0 || w == 0)
            continue;
        char kind[16], rel[256];
        snprintf(kind, sizeof kind, "%d", L);
        ldgi_tile_path(kind, c / TILE_W, w, rel, sizeof rel);
        uint8_t *b;
        size_t len;
        s = read_file(p, rel, (size_t)w * LDG_HASH_BYTES, &b, &len);
        if (s == LDG_E_NOTFOUND || s == LDG_E_CORRUPT ||
            (s == LDG_OK && len != (size_t)w * LDG_HASH_BYTES)) {
            if (s == LDG_OK)
                free(b);
            p->retry = 1; /* a published tile is gone or damaged: recompute from 0 */
            return LDG_E_NOTFOUND;
        }
        if (s != LDG_OK)
            return s;
        memcpy(p->lv[L].h, b, len);
        p->lv[L].n = w;
        free(b);
        if (div > UINT64_MAX / TILE_W)
            break;
    }
    ldgi_cur *c = NULL;
    const uint8_t *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    uint64_t first = base / TILE_W * TILE_W, seq = first;
    uint8_t key[8];
    ldgi_be64(key, first);
    if (old->size && old->size == first) {
        /* the old right edge is all preloaded: check it now, before anything is staged */
        uint8_t r[LDG_HASH_BYTES];
        root_now(p, r);
        if (sodium_memcmp(r, old->root, LDG_HASH_BYTES) != 0)
            return p->retry = 1, LDG_E_NOTFOUND;
    }
    if (seq < cp->size) {
        if ((s = ldgi_cur_open(t, LDGI_DB_ENTRIES, &c, p->err)) != LDG_OK)
            return s;
        s = ldgi_cur_seek(c, key, 8, &k, &kl, &v, &vl, p->err);
    }
    for (; s == LDG_OK && seq < cp->size; seq++) {
        if (seq > first && (s = ldgi_cur_next(c, &k, &kl, &v, &vl, p->err)) != LDG_OK)
            break;
        if (kl != 8 || ldgi_rd64(k) != seq) {
            s = ldgi_fail(p->err, LDG_E_CORRUPT, "entry %llu is missing; run ldg verify",
                          (unsigned long long)seq);
            break;
        }
        if (vl > 0xffffu) {
            s = ldgi_fail(p->err, LDG_E_CORRUPT,
                          "entry %llu is %zu bytes, over the 65,535 an entry bundle can frame "
                          "[FMT-3]",
                          (unsigned long long)seq, vl);
            break;
        }
        uint8_t h[LDG_HASH_BYTES], len2[2] = {(uint8_t)(vl >> 8), (uint8_t)vl};
        ldgi_leaf_hash(v, vl, h);
        if (!ldgi_buf_put(&p->bundle, len2, 2) || !ldgi_buf_put(&p->bundle, v, vl)) {
            s = ldgi_fail(p->err, LDG_E_NOMEM, "out of memory");
            break;
        }
        if (seq >= old->size && (s = erase_body(p, t, seq, v, vl)) != LDG_OK)
            break;
        if (p->o->with_bodies && seq >= bodies_from && (s = emit_body(p, t, seq, v, vl)) != LDG_OK)
            break;
        if ((s = push(p, 0, h)) != LDG_OK)
            break;
        if (seq + 1 == old->size) {
            uint8_t r[LDG_HASH_BYTES];
            root_now(p, r);
            if (sodium_memcmp(r, old->root, LDG_HASH_BYTES) != 0) {
                if (base) {
                    p->retry = 1;
                    s = LDG_E_NOTFOUND;
                    break;
                }
                char rb[64];
                sodium_bin2base64(rb, sizeof rb, old->root, LDG_HASH_BYTES,
                                  sodium_base64_VARIANT_ORIGINAL);
                s = ldgi_fail(p->err, LDG_E_CORRUPT,
                              "%s/checkpoint (size %llu, root %s) is not this ledger's history at "
                              "that size: a fork, or the ledger was rewritten",
                              p->dir, (unsigned long long)old->size, rb);
                break;
            }
            /*
             * From 0, the partial tiles of DIR's checkpoint are published
             * history too: each must hold these bytes (a missing one is put back).
             */
            for (int L = 0; base == 0 && L < LEVELS && s == LDG_OK; L++)
                if (p->lv[L].n)
                    s = emit_tile(p, L);
            if (s != LDG_OK)
                break;
        }
    }
    ldgi_cur_close(c);
    if (s == LDG_E_NOTFOUND && !p->retry)
        s = ldgi_fail(p->err, LDG_E_CORRUPT, "entry %llu is missing; run ldg verify",
                      (unsigned long long)seq);
    if (s != LDG_OK)
        return s;

    /* bodies below the re-hashed range that the last publish did not write */
    for (uint64_t b = bodies_from; p->o->with_bodies && b < first && s == LDG_OK; b++) {
        uint8_t bk[8];
        ldgi_be64(bk, b);
        if ((s = ldgi_get(t, LDGI_DB_ENTRIES, bk, 8, &v, &vl, p->err)) == LDG_OK)
            s = emit_body(p, t, b, v, vl);
    }
    if (s != LDG_OK)
        return s;
    uint8_t r[LDG_HASH_BYTES];
    root_now(p, r);
    if (sodium_memcmp(r, cp->root, LDG_HASH_BYTES) != 0) {
        if (base)
            return p->retry = 1, LDG_E_NOTFOUND;
        return ldgi_fail(p->err, LDG_E_CORRUPT,
                         "the entries do not give the root of the checkpoint of size %llu signed "
                         "by the log key: nothing published; run ldg verify",
                         (unsigned long long)cp->size);
    }
    /* the right edge: each level's partial tile holding new hashes */
    div = 1;
    for (int L = 0; L < LEVELS && s == LDG_OK; L++, div *= TILE_W) {
        if (p->lv[L].n && (base == 0 || cp->size / div > old->size / div))
            s = emit_tile(p, L);
        if (div > UINT64_MAX / TILE_W)
            break;
    }
    return s;
}

static void
drop_staged(pub *p)
{
    for (size_t i = 0; i < p->nst; i++) {
        unlink(p->st[i].tmp);
        free(p->st[i].tmp);
        free(p->st[i].final);
    }
    p->nst = 0;
}

/* The arguments both entry points refuse alike. */
static ldg_status
dir_args(const ldg_ledger *l, const char *dir, ldg_err *err)
{
    if (!l || !dir || !*dir)
        return ldgi_fail(err, LDG_E_USAGE, "publish: missing ledger or directory");
    if (strlen(dir) > PATH_MAX_ - 400)
        return ldgi_fail(err, LDG_E_USAGE, "publish: directory name too long");
    return LDG_OK;
}

/* The ledger's origin (NUL-terminated), log key and size: the genesis entry and the last key. */
static ldg_status
ledger_state(ldgi_txn *t, char origin[LDG_TEXT_MAX + 1], uint8_t logkey[LDG_PUB_BYTES],
             uint64_t *n, ldg_err *err)
{
    ldgi_str og;
    ldg_status s = ldgi_genesis(t, &og, logkey, err);
    if (s == LDG_OK)
        s = ldgi_entries_size(t, n, "entries: malformed key; run ldg verify", err);
    if (s == LDG_OK) {
        memcpy(origin, og.p, og.len);
        origin[og.len] = '\0';
    }
    return s;
}

/* [PUB-5] DIR already publishes more than there is to publish now: never published over. */
static ldg_status
rolled_back(const char *dir, uint64_t published_size, uint64_t size, const char *what,
            ldg_err *err)
{
    return ldgi_fail(err, LDG_E_CORRUPT,
                     "%s/checkpoint already publishes %llu entries, more than the %llu %s: the "
                     "ledger was rolled back, or DIR is another ledger's",
                     dir, (unsigned long long)published_size, (unsigned long long)size, what);
}

ldg_status
ldg_publish_precheck(ldg_ledger *l, const char *dir, ldg_err *err)
{
    ldg_status s = dir_args(l, dir, err);
    if (s != LDG_OK)
        return s;
    pub p = {.l = l, .dir = dir, .err = err};
    /* Another publisher's lock, looked at without taking it (F_GETLK): nothing is created. */
    char lockpath[PATH_MAX_];
    snprintf(lockpath, sizeof lockpath, "%s/" LOCK_FILE, dir);
    int lockfd = open(lockpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (lockfd >= 0) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(lockfd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
            s = ldgi_fail(err, LDG_E_IO, "%s: another ldg publish is writing this directory", dir);
        close(lockfd);
    }
    if (s != LDG_OK)
        return s;
    ldgi_txn *t = NULL;
    uint8_t logkey[LDG_PUB_BYTES];
    uint64_t n;
    char origin[LDG_TEXT_MAX + 1];
    if ((s = ldgi_txn_begin(l, false, &t, err)) != LDG_OK)
        return s;
    s = ledger_state(t, origin, logkey, &n, err);
    ldgi_txn_abort(t);
    ldg_checkpoint old;
    uint8_t *oldnote = NULL;
    size_t oldl;
    if (s == LDG_OK && (s = published(&p, origin, logkey, &old, &oldnote, &oldl)) == LDG_OK &&
        old.size > n)
        s = rolled_back(dir, old.size, n, "the ledger holds", err);
    free(oldnote);
    return s;
}

ldg_status
ldg_publish(ldg_ledger *l, const char *dir, const ldg_publish_opts *o, ldg_publish_summary *sum,
            ldg_err *err)
{
    ldg_publish_opts none = {0};
    ldg_publish_summary dummy;
    ldg_status s = dir_args(l, dir, err);
    if (s != LDG_OK)
        return s;
    if (!o)
        o = &none;
    if (!sum)
        sum = &dummy;
    memset(sum, 0, sizeof *sum);
    pub *p = ldgi_calloc(1, sizeof *p);
    if (!p)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    p->l = l;
    p->dir = dir;
    p->o = o;
    p->sum = sum;
    p->err = err;
    int lockfd = -1;
    ldgi_txn *t = NULL;
    char *note = NULL;
    uint8_t *oldnote = NULL;
    size_t nl = 0, oldl = 0;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        s = io_fail(p, "mkdir", dir);
        goto out;
    }
    char lockpath[PATH_MAX_];
    snprintf(lockpath, sizeof lockpath, "%s/" LOCK_FILE, dir);
    if ((lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
        s = io_fail(p, "open", lockpath);
        goto out;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(lockfd, F_SETLK, &fl) != 0) {
        s = ldgi_fail(err, LDG_E_IO, "%s: another ldg publish is writing this directory", dir);
        goto out;
    }
    if ((s = clean_tmpdir(p)) != LDG_OK || (s = ldgi_txn_begin(l, false, &t, err)) != LDG_OK)
        goto out;

    uint8_t logkey[LDG_PUB_BYTES];
    uint64_t n;
    char origin[LDG_TEXT_MAX + 1];
    if ((s = ledger_state(t, origin, logkey, &n, err)) != LDG_OK)
        goto out;

    /* [PUB-3] what is published: the given note (ldg_checkpoint_make's), or the newest stored */
    if (o->note) {
        if (!(note = ldgi_malloc(o->note_len + 1))) {
            s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
            goto out;
        }
        memcpy(note, o->note, o->note_len);
        note[o->note_len] = '\0';
        nl = o->note_len;
    } else if ((s = newest_stored(t, origin, logkey, n, &note, &nl, err)) != LDG_OK) {
        goto out;
    }
    ldg_checkpoint cp, old;
    if ((s = ldg_checkpoint_parse(note, nl, NULL, logkey, &cp, err)) != LDG_OK) {
        s = ldgi_fail(err, LDG_E_USAGE, "the checkpoint to publish is not the log key's");
        goto out;
    }
    if (strcmp(cp.origin, origin) != 0 || cp.size > n || cp.size == 0) {
        s = ldgi_fail(err, LDG_E_USAGE, "the checkpoint to publish is not for this ledger");
        goto out;
    }
    if ((s = published(p, origin, logkey, &old, &oldnote, &oldl)) != LDG_OK)
        goto out;
    if (old.size > cp.size) {
        s = rolled_back(dir, old.size, cp.size, "of the checkpoint to publish", err);
        goto out;
    }
    sum->old_size = old.size;
    sum->size = cp.size;
    uint64_t prev_bodies = state_bodies(p, old.size);
    uint64_t bodies_from = prev_bodies;
    /* [PUB-5] incremental from what DIR published; from 0 when its tiles do not prove out */
    s = run_pass(p, t, old.size, &old, &cp, bodies_from);
    if (s == LDG_E_NOTFOUND && p->retry) {
        p->retry = 0;
        drop_staged(p);
        uint64_t keep = sum->bytes;
        memset(sum, 0, sizeof *sum);
        sum->bytes = keep;
        sum->old_size = old.size;
        sum->size = cp.size;
        sum->full = 1;
        s = run_pass(p, t, 0, &old, &cp, bodies_from);
    }
    if (s != LDG_OK)
        goto out;
    ldgi_txn_abort(t);
    t = NULL;
    /* [PUB-4] tiles, bundles and bodies durable first; the checkpoint last */
    if ((s = commit_staged(p)) != LDG_OK)
        goto out;
    if (!(oldnote && oldl == nl && memcmp(oldnote, note, nl) == 0)) {
        if ((s = replace_file(p, "checkpoint", note, nl)) != LDG_OK)
            goto out;
        sum->checkpoint_written = 1;
    }
    char state[128];
    int sl = snprintf(state, sizeof state, "ldg-publish v1 size %llu bodies %llu\n",
                      (unsigned long long)cp.size,
                      (unsigned long long)(o->with_bodies ? cp.size : prev_bodies));
    s = replace_file(p, STATE_FILE, state, (size_t)sl);
out:
    ldgi_txn_abort(t);
    drop_staged(p);
    free(p->st);
    ldgi_buf_free(&p->bundle);
    if (lockfd >= 0)
        close(lockfd);
    free(note);
    free(oldnote);
    free(p);
    return s;
}
