/*
 * test_tamper_matrix.c - one byte at a time, an attacker with write access
 * changes the LMDB file under a small ledger; `ldg verify --checkpoint QA`
 * (the real binary) must report an integrity failure (exit 1) for every
 * change to the ledger's live data, and never crash or hang.
 *
 * The positions are a seeded sample of the bytes that hold live data: both
 * meta pages, and, in every page reachable from the current meta (branch,
 * leaf and overflow pages of every database but LMDB's free list), the page
 * header, the node pointers and the nodes; never the free gap inside a
 * page, nor pages of older snapshots.  Each position is XORed with a random
 * non-zero byte, then restored.
 *
 * "Changes live data" is decided independently of ldg: a child process
 * opens the mutated file with LMDB and digests every database (names, keys,
 * values, in cursor order), and looks every key up again by mdb_get.  A
 * different digest, a lookup that disagrees with the walk, or a file LMDB
 * cannot read (or that crashes the child) is a change.  A mutation that
 * leaves the digest equal (LMDB's own statistics and map size in the meta,
 * padding) must still not crash verify; its verdict is counted, not
 * asserted.
 *
 * LDG_TAMPER_SEED and LDG_TAMPER_N change the seed and the number of
 * positions per test (4 tests; default 1,300 each, 5,200 in all; SLOW_N
 * each under memcheck, where every verify costs about a second).
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SLOW_N = 30 };

/* ------------------------------------------- LMDB's page layout (64-bit) -- */

enum {
    PAGEHDRSZ = 16,  /* pgno(8) pad(2) flags(2) lower(2) upper(2) | pages(4) */
    NODESZ = 8,      /* lo(2) hi(2) flags(2) ksize(2), then key, then data */
    META_SIZE = 136, /* magic version address mapsize dbs[2] last_pg txnid */
    DB_SIZE = 48,    /* pad(4) flags(2) depth(2) branch leaf overflow entries root */
    P_BRANCH = 0x01,
    P_LEAF = 0x02,
    P_OVERFLOW = 0x04,
    P_LEAF2 = 0x20,
    F_BIGDATA = 0x01,
    F_SUBDATA = 0x02,
    F_DUPDATA = 0x04,
};

static uint16_t
u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t
u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

typedef struct span {
    size_t off, len;
} span;

typedef struct walk {
    const uint8_t *file;
    size_t size, psize;
    span *spans;
    size_t nspans, cap;
    uint64_t pages; /* branch + leaf + overflow pages found under the main DB */
    uint64_t stat_pages; /* the same, as the metas' database records count them */
} walk;

static void
add_span(walk *w, size_t off, size_t len)
{
    cr_assert_leq(off + len, w->size, "live span past the end of the file");
    if (w->nspans == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->spans = realloc(w->spans, w->cap * sizeof *w->spans);
        cr_assert_not_null(w->spans);
    }
    w->spans[w->nspans++] = (span){off, len};
}

static void walk_tree(walk *w, uint64_t pgno, int depth);

/* A database record (MDB_db): its pages are counted in the statistics, then walked. */
static void
walk_db(walk *w, const uint8_t *db)
{
    w->stat_pages += u64(db + 8) + u64(db + 16) + u64(db + 24);
    uint64_t root = u64(db + 40);
    if (root != UINT64_MAX)
        walk_tree(w, root, 0);
}

static void
walk_tree(walk *w, uint64_t pgno, int depth)
{
    cr_assert_lt(depth, 16, "B-tree deeper than 16");
    cr_assert_lt(pgno, w->size / w->psize, "page %llu past the end", (unsigned long long)pgno);
    size_t base = pgno * w->psize;
    const uint8_t *p = w->file + base;
    uint16_t flags = u16(p + 10), lower = u16(p + 12), upper = u16(p + 14);
    cr_assert(flags & (P_BRANCH | P_LEAF), "page %llu is neither branch nor leaf",
              (unsigned long long)pgno);
    cr_assert(!(flags & P_LEAF2), "ldg uses no DUPFIXED database");
    cr_assert(lower >= PAGEHDRSZ && lower <= upper && upper <= w->psize);
    w->pages++;
    add_span(w, base, lower);
    add_span(w, base + upper, w->psize - upper);
    for (size_t i = 0; i < (size_t)(lower - PAGEHDRSZ) / 2; i++) {
        const uint8_t *n = p + u16(p + PAGEHDRSZ + 2 * i);
        uint16_t nflags = u16(n + 4), ksize = u16(n + 6);
        if (flags & P_BRANCH) {
            walk_tree(w, u16(n) | (uint64_t)u16(n + 2) << 16 | (uint64_t)nflags << 32, depth + 1);
            continue;
        }
        cr_assert(!(nflags & F_DUPDATA), "ldg uses no DUPSORT database");
        const uint8_t *data = n + NODESZ + ksize;
        if (nflags & F_BIGDATA) {
            uint64_t ov = u64(data);
            size_t dsize = u16(n) | (size_t)u16(n + 2) << 16;
            const uint8_t *op = w->file + ov * w->psize;
            cr_assert(u16(op + 10) & P_OVERFLOW, "node's overflow page is not one");
            uint32_t npages = (uint32_t)(op[12] | op[13] << 8 | op[14] << 16 | (uint32_t)op[15] << 24);
            cr_assert_eq(npages, (PAGEHDRSZ + dsize + w->psize - 1) / w->psize);
            w->pages += npages;
            add_span(w, ov * w->psize, PAGEHDRSZ + dsize);
        } else if (nflags & F_SUBDATA) {
            walk_db(w, data);
        }
    }
}

/*
 * The live bytes of an LMDB file: both meta pages (the older one too: made
 * current, it must change nothing), then every page the current meta's main
 * database reaches.  Cross-checked against the page counts LMDB keeps.
 */
static walk
live_spans(const uint8_t *file, size_t size)
{
    walk w = {.file = file, .size = size};
    w.psize = (uint32_t)(file[PAGEHDRSZ + 24] | file[PAGEHDRSZ + 25] << 8 |
                         file[PAGEHDRSZ + 26] << 16 | (uint32_t)file[PAGEHDRSZ + 27] << 24);
    cr_assert(w.psize >= 512 && w.psize <= 65536 && size % w.psize == 0, "page size %zu", w.psize);
    const uint8_t *m0 = file + PAGEHDRSZ, *m1 = file + w.psize + PAGEHDRSZ;
    const uint8_t *cur = u64(m1 + 128) > u64(m0 + 128) ? m1 : m0;
    add_span(&w, 0, PAGEHDRSZ + META_SIZE);
    add_span(&w, w.psize, PAGEHDRSZ + META_SIZE);
    walk_db(&w, cur + 24 + DB_SIZE);
    cr_assert_eq(w.pages, w.stat_pages, "walked %llu pages, LMDB's statistics say %llu",
                 (unsigned long long)w.pages, (unsigned long long)w.stat_pages);
    return w;
}

/* ----------------------------------------- LMDB's own view of the data -- */

static void
digest_db(MDB_txn *txn, MDB_dbi dbi, crypto_generichash_state *h)
{
    MDB_cursor *c;
    MDB_val k, v, again;
    if (mdb_cursor_open(txn, dbi, &c) != 0)
        _exit(3);
    int rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t lens[2] = {k.mv_size, v.mv_size};
        crypto_generichash_update(h, (const uint8_t *)lens, sizeof lens);
        crypto_generichash_update(h, k.mv_data, k.mv_size);
        crypto_generichash_update(h, v.mv_data, v.mv_size);
        /* a lookup must find what the walk found: separator keys are data too */
        if (mdb_get(txn, dbi, &k, &again) != 0 || again.mv_size != v.mv_size ||
            memcmp(again.mv_data, v.mv_data, v.mv_size) != 0)
            _exit(4);
    }
    if (rc != MDB_NOTFOUND)
        _exit(5);
    mdb_cursor_close(c);
}

/*
 * In a child (LMDB may crash on a damaged page): the digest of every
 * database under the main one.  false when the child could not read it all.
 */
static bool
lmdb_digest(const char *ledger, uint8_t out[32])
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(fd[0]);
        alarm(20);
        /* a crash here is an answer (LMDB cannot read it), not a finding: no sanitizer report */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi main_db;
        MDB_cursor *c;
        MDB_val k, v;
        /*
         * The map size is set here, as ldg sets its own: the meta's map size is
         * a setting every opener may override, not data (left to LMDB, a
         * mutated one asks for a map no machine has and reads as damage).
         */
        if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 64) != 0 ||
            mdb_env_set_mapsize(env, (size_t)1 << 30) != 0 ||
            mdb_env_open(env, ledger, MDB_RDONLY | MDB_NOLOCK, 0) != 0 ||
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
            mdb_dbi_open(txn, NULL, 0, &main_db) != 0 || mdb_cursor_open(txn, main_db, &c) != 0)
            _exit(2);
        crypto_generichash_state h;
        crypto_generichash_init(&h, NULL, 0, 32);
        int rc;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            char name[256];
            if (k.mv_size >= sizeof name || memchr(k.mv_data, 0, k.mv_size))
                _exit(6);
            memcpy(name, k.mv_data, k.mv_size);
            name[k.mv_size] = 0;
            MDB_dbi dbi;
            if (mdb_dbi_open(txn, name, 0, &dbi) != 0)
                _exit(7);
            crypto_generichash_update(&h, (const uint8_t *)name, k.mv_size + 1);
            digest_db(txn, dbi, &h);
        }
        if (rc != MDB_NOTFOUND)
            _exit(8);
        uint8_t d[32];
        crypto_generichash_final(&h, d, 32);
        _exit(write(fd[1], d, 32) == 32 ? 0 : 9);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], out, 32);
    close(fd[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return got == 32 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* ---------------------------------------------------- verify, guarded -- */

/*
 * `ldg verify --jobs 1 --checkpoint qa.txt` on dir/ledger with a 60 s limit.
 * Returns its exit status, 128+signal if it died, or -1 if it hung; the
 * first line of its stderr goes to why.
 */
static int
verify_guarded(const char *dir, char *why, size_t whylen)
{
    char errpath[4096], ledger[4096];
    snprintf(errpath, sizeof errpath, "%s/verify.err", dir);
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int out = open("/dev/null", O_WRONLY);
        int err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0 || chdir(dir) != 0)
            _exit(126);
        dup2(out, 1);
        dup2(err, 2);
        setenv("LDG_LEDGER", ledger, 1);
        execl(ldg_bin(), "ldg", "verify", "--jobs", "1", "--checkpoint", "qa.txt", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    pid_t r = 0;
    const long limit_ms = (long)(60000 * test_timeout_scale());
    for (long ms = 0; ms < limit_ms && (r = waitpid(pid, &st, WNOHANG)) == 0; ms++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (r == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        snprintf(why, whylen, "hung");
        return -1;
    }
    size_t n = 0;
    char *text = read_file(errpath, &n);
    snprintf(why, whylen, "%.*s", (int)strcspn(text, "\n"), text);
    free(text);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---------------------------------------------------------- the matrix -- */

/*
 * The trail (12 entries: key records, a thread, a correction, a
 * revocation), 40 more communications with bodies of growing size (some
 * large enough for overflow pages), a checkpoint QA keeps (qa.txt), and the
 * same checkpoint stored again: that last transaction changes nothing, so
 * the older meta, made current by a mutation, shows the same data.
 */
static void
make_matrix_ledger(const char *d)
{
    fixture_begin();
    make_trail(d);
    for (int i = 0; i < 40; i++) {
        size_t n = 40 + (size_t)i * i * 4;
        char *body = malloc(n + 64), *pad = malloc(n + 1);
        cr_assert(body && pad);
        memset(pad, 'a' + i % 26, n);
        pad[n] = 0;
        snprintf(body, n + 64, "{\"subject\":\"note %d\",\"text\":\"%s\"}", i, pad);
        APPEND(d, body, "--as", "decider.key", "--kind", "communication", "--study",
               i % 3 ? "HX-301" : "HX-302");
        free(body);
        free(pad);
    }
    run_result a = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(a.status, 0, "%s", a.err);
    write_file(d, "qa.txt", a.out);
    run_result b = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_assert_str_eq(a.out, b.out, "a checkpoint of the same tree is the same note");
    run_free(&a);
    run_free(&b);
    fixture_end();
}

static uint64_t rng_state;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A failing ledger is kept as $TMPDIR/ldg-tamper-OFFSET-XOR (the test's own directory goes). */
static void
keep_evidence(const char *d, size_t off, uint8_t x)
{
    const char *base = getenv("TMPDIR");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s/ldg-tamper-%zu-%02x'", d, base ? base : "/tmp", off,
             x);
    if (system(cmd) != 0)
        cr_log_warn("could not keep the ledger: %s", cmd);
}

static void
matrix(unsigned part)
{
    const char *d = tmp_dir();
    make_matrix_ledger(d);
    char why[512];
    cr_assert_eq(verify_guarded(d, why, sizeof why), 0, "the untouched ledger verifies: %s", why);

    char path[4200], ledger[4096];
    snprintf(ledger, sizeof ledger, "%s/ledger", d);
    snprintf(path, sizeof path, "%s/data.mdb", ledger);
    size_t size = 0;
    uint8_t *file = (uint8_t *)read_file(path, &size);
    walk w = live_spans(file, size);
    size_t live = 0;
    for (size_t i = 0; i < w.nspans; i++)
        live += w.spans[i].len;
    uint8_t want[32], got[32];
    cr_assert(lmdb_digest(ledger, want), "LMDB reads the untouched ledger");

    const char *s = getenv("LDG_TAMPER_SEED"), *n_env = getenv("LDG_TAMPER_N");
    uint64_t seed = s ? strtoull(s, NULL, 0) : 0x1d6a7e5;
    long n = n_env ? strtol(n_env, NULL, 10) : test_slow() ? SLOW_N : 1300;
    rng_state = seed * 4 + part + 1;
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    long changed = 0, caught = 0, structural = 0, same = 0, same_flagged = 0, unreadable = 0;
    for (long i = 0; i < n; i++) {
        size_t at = (size_t)(rng() % live), off = 0;
        for (size_t j = 0; j < w.nspans; j++) {
            if (at < w.spans[j].len) {
                off = w.spans[j].off + at;
                break;
            }
            at -= w.spans[j].len;
        }
        uint8_t x = (uint8_t)(rng() % 255 + 1), b = (uint8_t)(file[off] ^ x);
        cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
        bool readable = lmdb_digest(ledger, got);
        bool differs = !readable || memcmp(got, want, 32) != 0;
        int st = verify_guarded(d, why, sizeof why);
        if (st < 0 || st >= 128 || (differs && st != 1))
            keep_evidence(d, off, x);
        cr_assert_eq(pwrite(fd, &file[off], 1, (off_t)off), 1);
        cr_assert(st >= 0 && st < 128,
                  "verify %s with byte %zu (page %zu, offset %zu) XOR 0x%02x: %s",
                  st < 0 ? "hung" : "crashed", off, off / w.psize, off % w.psize, x, why);
        if (differs) {
            changed++;
            unreadable += !readable;
            cr_expect_eq(st, 1,
                         "byte %zu (page %zu, offset %zu) XOR 0x%02x changes live data%s, "
                         "verify exits %d: %s",
                         off, off / w.psize, off % w.psize, x,
                         readable ? "" : " (LMDB cannot read it)", st, why);
            caught += st == 1;
            structural += st == 1 && strstr(why, "the ledger file is damaged") != NULL;
        } else {
            same++;
            same_flagged += st != 0;
            cr_expect(st == 0 || st == 1,
                      "byte %zu XOR 0x%02x changes no data, verify exits %d: %s", off, x, st,
                      why);
        }
    }
    close(fd);
    cr_log_info("tamper matrix part %u (seed 0x%llx): %zu live bytes in a %zu-byte file; %ld "
                "mutations, %ld changed live data (%ld unreadable to LMDB), %ld caught (%ld by the "
                "structure check); %ld changed none (%ld of those still flagged)",
                part, (unsigned long long)seed, live, size, n, changed, unreadable, caught,
                structural, same, same_flagged);
    printf("tamper matrix part %u: %ld mutations, %ld changed live data (%ld unreadable to LMDB), "
           "%ld caught (%ld by the structure check, %ld by the record checks), %ld changed "
           "none (%ld flagged)\n",
           part, n, changed, unreadable, caught, structural, caught - structural, same,
           same_flagged);
    cr_assert_eq(caught, changed);
    cr_assert_gt(changed, n / 2, "most positions in live bytes change live data");
    cr_assert_eq(verify_guarded(d, why, sizeof why), 0, "restored, the ledger verifies again: %s",
                 why);
    free(w.spans);
    free(file);
}

Test(tamper_matrix, part_0, .fini = tmp_cleanup, .timeout = 900) { matrix(0); }
Test(tamper_matrix, part_1, .fini = tmp_cleanup, .timeout = 900) { matrix(1); }
Test(tamper_matrix, part_2, .fini = tmp_cleanup, .timeout = 900) { matrix(2); }
Test(tamper_matrix, part_3, .fini = tmp_cleanup, .timeout = 900) { matrix(3); }

/* ------------------------------------ a key outside its parent's bounds -- */

/* The node at index i of the page at base, and its key. */
static const uint8_t *
node_key_at(const uint8_t *file, size_t base, size_t i, size_t *off)
{
    const uint8_t *p = file + base;
    *off = base + u16(p + PAGEHDRSZ + 2 * i) + NODESZ;
    return file + *off;
}

static size_t
nkeys_of(const uint8_t *file, size_t base)
{
    return (size_t)(u16(file + base + 12) - PAGEHDRSZ) / 2;
}

/*
 * The structure check [STO-7] compares a page's keys with its parent's
 * separators only at the page's first and last key (the order inside the
 * page covers the rest).  Those two comparisons must hold: in the entries
 * database, the last key of one leaf raised to the next leaf's first key
 * (still in order inside its page), or that first key lowered to the one
 * before it, is reported as damage, before LMDB reads the file.
 */
Test(tamper_matrix, a_key_outside_its_parents_separators_is_damage, .fini = tmp_cleanup,
     .timeout = 120)
{
    const char *d = tmp_dir();
    make_matrix_ledger(d);
    char why[512], path[4200];
    cr_assert_eq(verify_guarded(d, why, sizeof why), 0, "the untouched ledger verifies: %s", why);
    snprintf(path, sizeof path, "%s/ledger/data.mdb", d);
    size_t size = 0;
    uint8_t *file = (uint8_t *)read_file(path, &size);
    size_t psize = (uint32_t)(file[PAGEHDRSZ + 24] | file[PAGEHDRSZ + 25] << 8 |
                              file[PAGEHDRSZ + 26] << 16 | (uint32_t)file[PAGEHDRSZ + 27] << 24);
    const uint8_t *m0 = file + PAGEHDRSZ, *m1 = file + psize + PAGEHDRSZ;
    const uint8_t *cur = u64(m1 + 128) > u64(m0 + 128) ? m1 : m0;

    /* the entries database's record, in the main database's root leaf */
    size_t base = u64(cur + 24 + DB_SIZE + 40) * psize, off = 0;
    cr_assert(u16(file + base + 10) & P_LEAF, "the main database is one leaf");
    const uint8_t *rec = NULL;
    for (size_t i = 0; i < nkeys_of(file, base) && !rec; i++) {
        const uint8_t *k = node_key_at(file, base, i, &off);
        if (u16(k - NODESZ + 6) == 7 && memcmp(k, "entries", 7) == 0)
            rec = k + 7;
    }
    cr_assert_not_null(rec, "the main database lists the entries");
    /* down the leftmost branch to the last level of branches */
    size_t parent = u64(rec + 40) * psize;
    cr_assert(u16(file + parent + 10) & P_BRANCH, "the entries fill more than one leaf");
    for (;;) {
        size_t first;
        const uint8_t *n = node_key_at(file, parent, 0, &first) - NODESZ;
        size_t child = (u16(n) | (size_t)u16(n + 2) << 16 | (size_t)u16(n + 4) << 32) * psize;
        if (u16(file + child + 10) & P_LEAF)
            break;
        parent = child;
    }
    cr_assert_geq(nkeys_of(file, parent), 2);
    size_t leaf[2];
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *n = node_key_at(file, parent, i, &off) - NODESZ;
        leaf[i] = (u16(n) | (size_t)u16(n + 2) << 16 | (size_t)u16(n + 4) << 32) * psize;
    }
    size_t last_off, first_off;
    const uint8_t *last = node_key_at(file, leaf[0], nkeys_of(file, leaf[0]) - 1, &last_off);
    const uint8_t *first = node_key_at(file, leaf[1], 0, &first_off);
    cr_assert_eq(u16(last - NODESZ + 6), 8);
    cr_assert_eq(u16(first - NODESZ + 6), 8);
    uint8_t was_last[8], was_first[8];
    memcpy(was_last, last, 8);
    memcpy(was_first, first, 8);

    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    struct {
        size_t off;
        const uint8_t *to, *was;
    } cases[] = {{last_off, was_first, was_last}, {first_off, was_last, was_first}};
    for (size_t c = 0; c < 2; c++) {
        cr_assert_eq(pwrite(fd, cases[c].to, 8, (off_t)cases[c].off), 8);
        int st = verify_guarded(d, why, sizeof why);
        cr_assert_eq(pwrite(fd, cases[c].was, 8, (off_t)cases[c].off), 8);
        cr_expect_eq(st, 1, "case %zu: verify exits %d: %s", c, st, why);
        cr_expect(strstr(why, "the ledger file is damaged") && strstr(why, "keys are out of order"),
                  "case %zu: %s", c, why);
    }
    close(fd);
    cr_assert_eq(verify_guarded(d, why, sizeof why), 0, "restored, the ledger verifies: %s", why);
    free(file);
}
