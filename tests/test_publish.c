/*
 * test_publish.c - `ldg publish DIR` (spec/publish.md [PUB-1..9]) on the
 * real binary: the C2SP tlog-tiles layout, every hash tile and entry bundle
 * recomputed here from the entries and the root from the published tiles
 * equal to the signed checkpoint's, incremental runs that leave full tiles
 * untouched, a rewritten tile refused, a publish killed at every rename
 * then resumed, the entry size cap [FMT-10], and the tiles served by nginx.
 */
/* paths here are short temporary directories; a truncated one fails its assertion */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "helpers.h"

#include "ldg.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W 256u

static void
idx_path(uint64_t n, char *out, size_t cap)
{
    char g[8][8];
    int k = 0;
    do {
        snprintf(g[k++], sizeof g[0], "%03u", (unsigned)(n % 1000));
        n /= 1000;
    } while (n);
    out[0] = '\0';
    for (int i = k - 1; i >= 0; i--) {
        strncat(out, i == k - 1 ? "" : "/", cap - strlen(out) - 1);
        strncat(out, i ? "x" : "", cap - strlen(out) - 1);
        strncat(out, g[i], cap - strlen(out) - 1);
    }
}

static void
tpath(const char *pub, const char *kind, uint64_t n, unsigned w, char *out, size_t cap)
{
    char ix[64];
    idx_path(n, ix, sizeof ix);
    if (w < W)
        snprintf(out, cap, "%s/tile/%s/%s.p/%u", pub, kind, ix, w);
    else
        snprintf(out, cap, "%s/tile/%s/%s", pub, kind, ix);
}

static void
node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    uint8_t m[65];
    m[0] = 1;
    memcpy(m + 1, l, 32);
    memcpy(m + 33, r, 32);
    crypto_hash_sha256(out, m, sizeof m);
}

static void
mth(const uint8_t (*h)[32], size_t n, uint8_t out[32])
{
    if (n == 1) {
        memcpy(out, h[0], 32);
        return;
    }
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t a[32], b[32];
    mth(h, k, a);
    mth(h + k, n - k, b);
    node(a, b, out);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *b = malloc(1 << 24);
    *len = fread(b, 1, 1 << 24, f);
    fclose(f);
    return b;
}

/* The published checkpoint, checked under dir/log.pub: size and root. */
static void
published_cp(const char *dir, const char *pub, uint64_t *size, uint8_t root[32])
{
    char p[4200], name[LDG_NAME_MAX + 1];
    uint8_t key[LDG_PUB_BYTES];
    snprintf(p, sizeof p, "%s/log.pub", dir);
    cr_assert_eq(ldg_vkey_read(p, name, key, NULL), LDG_OK);
    snprintf(p, sizeof p, "%s/checkpoint", pub);
    size_t len;
    uint8_t *note = slurp(p, &len);
    cr_assert(note, "%s exists", p);
    ldg_checkpoint cp;
    ldg_err e;
    cr_assert_eq(ldg_checkpoint_parse((char *)note, len, name, key, &cp, &e), LDG_OK, "%s", e.msg);
    *size = cp.size;
    memcpy(root, cp.root, 32);
    free(note);
}

/*
 * [PUB-6] Everything a reader checks, for the tree of `size`: each level's
 * tiles (full ones, and the partial one of that size) exist with 32-byte
 * hashes; every full tile hashes to its entry in the level above; every
 * entry bundle splits into 2-byte-framed entries whose leaf hashes are the
 * level-0 tile; and the root folded from the partial tiles is `root`.
 */
static void
check_tree(const char *pub, uint64_t size, const uint8_t root[32])
{
    uint8_t parts[80][32];
    size_t np = 0;
    uint64_t div = 1;
    int levels = 0;
    while (size / div) {
        levels++;
        div *= W;
    }
    div = 1;
    for (int L = 0; L < levels; L++, div *= W) {
        uint64_t c = size / div;
        char kind[8];
        snprintf(kind, sizeof kind, "%d", L);
        for (uint64_t t = 0; t * W < c; t++) {
            unsigned w = c - t * W >= W ? W : (unsigned)(c - t * W);
            char p[4200];
            tpath(pub, kind, t, w, p, sizeof p);
            size_t len;
            uint8_t *h = slurp(p, &len);
            cr_assert(h, "%s exists", p);
            cr_assert_eq(len, (size_t)w * 32, "%s: %zu bytes", p, len);
            if (L == 0) {
                char q[4200];
                tpath(pub, "entries", t, w, q, sizeof q);
                size_t bl;
                uint8_t *b = slurp(q, &bl);
                cr_assert(b, "%s exists", q);
                size_t at = 0;
                for (unsigned i = 0; i < w; i++) {
                    cr_assert_leq(at + 2, bl, "%s: entry %u framed", q, i);
                    size_t el = (size_t)b[at] << 8 | b[at + 1];
                    cr_assert_leq(at + 2 + el, bl);
                    uint8_t lh[32], m[70000];
                    m[0] = 0;
                    memcpy(m + 1, b + at + 2, el);
                    crypto_hash_sha256(lh, m, el + 1);
                    cr_assert_eq(memcmp(lh, h + 32 * i, 32), 0, "%s: leaf %u", q, i);
                    at += 2 + el;
                }
                cr_assert_eq(at, bl, "%s: nothing after the last entry", q);
                free(b);
            }
            if (w == W) {
                /* its root is entry t of the level above (a partial or full tile there) */
                uint64_t c1 = size / (div * W);
                uint64_t t1 = t / W;
                unsigned w1 = c1 - t1 * W >= W ? W : (unsigned)(c1 - t1 * W);
                char up[8], q[4200];
                snprintf(up, sizeof up, "%d", L + 1);
                tpath(pub, up, t1, w1, q, sizeof q);
                size_t ul;
                uint8_t *u = slurp(q, &ul), r[32];
                cr_assert(u, "%s exists", q);
                mth((const uint8_t(*)[32])h, W, r);
                cr_assert_eq(memcmp(r, u + 32 * (t % W), 32), 0, "%s: root of %s", q, p);
                free(u);
            } else {
                size_t at = 0;
                for (unsigned bit = W / 2; bit; bit >>= 1)
                    if (w & bit) {
                        mth((const uint8_t(*)[32])h + at, bit, parts[np++]);
                        at += bit;
                    }
            }
            free(h);
        }
    }
    /* parts were collected level 0 first: fold highest level first */
    uint8_t acc[32];
    cr_assert_gt(np, 0);
    /* order: highest level's parts first, each level's largest first */
    uint8_t ordered[80][32];
    size_t no = 0, start = np;
    (void)start;
    {
        /* rebuild the order: levels were visited 0..top; regroup by recomputation */
        size_t idx[16][2], nl = 0, at = 0;
        uint64_t d = 1;
        for (int L = 0; L < levels; L++, d *= W) {
            unsigned w = (unsigned)((size / d) % W), cnt = 0;
            for (unsigned bit = W / 2; bit; bit >>= 1)
                cnt += (w & bit) ? 1 : 0;
            idx[nl][0] = at;
            idx[nl][1] = cnt;
            nl++;
            at += cnt;
        }
        for (size_t L = nl; L-- > 0;)
            for (size_t i = 0; i < idx[L][1]; i++)
                memcpy(ordered[no++], parts[idx[L][0] + i], 32);
    }
    memcpy(acc, ordered[no - 1], 32);
    for (size_t i = no - 1; i-- > 0;)
        node(ordered[i], acc, acc);
    cr_assert_eq(memcmp(acc, root, 32), 0, "the root from the tiles is the checkpoint's");
}

static void
check_published(const char *dir, const char *pub, uint64_t want)
{
    uint64_t size;
    uint8_t root[32];
    published_cp(dir, pub, &size, root);
    if (want)
        cr_assert_eq(size, want, "checkpoint size %llu", (unsigned long long)size);
    check_tree(pub, size, root);
}

/* n communication records by the author, one batch. */
static void
append_n(const char *dir, int n)
{
    size_t cap = (size_t)n * 120 + 16;
    char *b = malloc(cap);
    size_t at = 0;
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(b + at, cap - at,
                               "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{\"subject\":"
                               "\"note %d\"}}\n",
                               i);
    write_file(dir, "batch.jsonl", b);
    free(b);
    run_result r = LDG(dir, NULL, "append", "--as", "author.key", "--batch", "batch.jsonl");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

static run_result
publish(const char *dir, const char *pub)
{
    return LDG(dir, NULL, "publish", pub, "--as", "log.key");
}

static const char *
pubdir(const char *dir)
{
    static char p[4200];
    snprintf(p, sizeof p, "%s/pub", dir);
    return p;
}

static void
st(const char *pub, const char *rel, struct stat *s)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", pub, rel);
    cr_assert_eq(stat(p, s), 0, "%s exists", p);
}

static bool
memmem_ok(const uint8_t *h, size_t hl, const char *n)
{
    size_t nl = strlen(n);
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return true;
    return false;
}

static bool
exists(const char *pub, const char *rel)
{
    char p[4200];
    struct stat s;
    snprintf(p, sizeof p, "%s/%s", pub, rel);
    return stat(p, &s) == 0;
}

TestSuite(publish, .timeout = 60, .fini = tmp_cleanup);

Test(publish, layout_tiles_and_bundles_recompute_to_the_signed_root)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 600); /* 604 entries: tiles 0/000, 0/001, 0/002.p/92; 1/000.p/2 */
    run_result r = publish(d, pubdir(d));
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "published 604 entries (was 0)"), "%s", r.out);
    run_free(&r);
    const char *p = pubdir(d);
    cr_assert(exists(p, "checkpoint"));
    cr_assert(exists(p, "tile/0/000") && exists(p, "tile/0/001") && exists(p, "tile/0/002.p/92"));
    cr_assert(exists(p, "tile/entries/000") && exists(p, "tile/entries/001") &&
              exists(p, "tile/entries/002.p/92"));
    cr_assert(exists(p, "tile/1/000.p/2"));
    cr_assert(!exists(p, "tile/2") && !exists(p, "body"), "no level 2, no bodies by default");
    check_published(d, p, 604);
    /* the checkpoint published is the one the ledger stored, signed by the log key */
    run_result v = LDG(d, NULL, "verify", "--checkpoint", "pub/checkpoint");
    cr_assert_eq(v.status, 0, "%s", v.err);
    run_free(&v);
    /* entry 300 in its bundle is `ldg show 300 --json`'s leaf */
    run_result s = LDG(d, NULL, "show", "300", "--json");
    cr_assert_eq(s.status, 0);
    char *lf = strstr(s.out, "\"leaf\":\"");
    cr_assert(lf);
    lf += 8;
    *strchr(lf, '"') = '\0';
    uint8_t leaf[70000];
    size_t ll;
    cr_assert_eq(sodium_base642bin(leaf, sizeof leaf, lf, strlen(lf), NULL, &ll, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    char q[4200];
    snprintf(q, sizeof q, "%s/tile/entries/001", p);
    size_t bl, at = 0;
    uint8_t *b = slurp(q, &bl);
    for (int i = 0; i < 300 - 256; i++)
        at += 2 + ((size_t)b[at] << 8 | b[at + 1]);
    cr_assert_eq((size_t)b[at] << 8 | b[at + 1], ll);
    cr_assert_eq(memcmp(b + at + 2, leaf, ll), 0, "entry 300's bytes");
    free(b);
    run_free(&s);
}

Test(publish, incremental_writes_only_what_is_new_and_never_touches_full_tiles)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    append_n(d, 600);
    run_result r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    struct stat t0, t1, e0, cp0;
    st(p, "tile/0/000", &t0);
    st(p, "tile/0/001", &t1);
    st(p, "tile/entries/000", &e0);
    st(p, "checkpoint", &cp0);
    sleep(1); /* mtimes would show a rewrite */
    /* nothing new: nothing written */
    r = LDG(d, NULL, "publish", "pub");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "0 tiles, 0 entry bundles"), "%s", r.out);
    run_free(&r);
    append_n(d, 300); /* 904: 0/002 fills, 0/003.p/136, 1/000.p/3 */
    r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "published 904 entries (was 604): 3 tiles, 2 entry bundles"), "%s",
              r.out);
    run_free(&r);
    struct stat a;
    st(p, "tile/0/000", &a);
    cr_assert(a.st_ino == t0.st_ino && a.st_mtime == t0.st_mtime, "tile/0/000 untouched");
    st(p, "tile/0/001", &a);
    cr_assert(a.st_ino == t1.st_ino && a.st_mtime == t1.st_mtime, "tile/0/001 untouched");
    st(p, "tile/entries/000", &a);
    cr_assert(a.st_ino == e0.st_ino && a.st_mtime == e0.st_mtime);
    st(p, "checkpoint", &a);
    cr_assert(a.st_ino != cp0.st_ino, "the checkpoint was replaced (rename)");
    cr_assert(exists(p, "tile/0/002.p/92"), "the old partial stays for older checkpoints");
    cr_assert(exists(p, "tile/0/003.p/136") && exists(p, "tile/1/000.p/3"));
    check_published(d, p, 904);
}

Test(publish, a_rewritten_published_tile_stops_publish_before_the_checkpoint)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    append_n(d, 600);
    run_result r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    char cpath[4200];
    snprintf(cpath, sizeof cpath, "%s/checkpoint", p);
    size_t l0;
    char *before = read_file(cpath, &l0);
    append_n(d, 300);
    /* someone already put a full tile 0/002 there with other bytes */
    char bogus[8193];
    memset(bogus, 'A', 8192);
    bogus[8192] = '\0';
    char dirp[4200];
    snprintf(dirp, sizeof dirp, "%s/tile/0", p);
    write_file(dirp, "002", bogus);
    r = publish(d, p);
    cr_assert_eq(r.status, 1, "exit 1: %s", r.err);
    cr_assert(strstr(r.err, "tile/0/002 already exists with other bytes"), "%s", r.err);
    run_free(&r);
    size_t l1;
    char *after = read_file(cpath, &l1);
    cr_assert(l0 == l1 && memcmp(before, after, l0) == 0, "the checkpoint did not move");
    cr_assert(!exists(p, "tile/0/003"), "nothing new became visible");
    free(after);
    /* a level-1 partial the last publish wrote, altered: the run from 0 names it */
    write_file(dirp, "002", "x");
    snprintf(dirp, sizeof dirp, "%s/tile/0/002", p);
    unlink(dirp);
    snprintf(dirp, sizeof dirp, "%s/tile/1/000.p", p);
    char bad[65];
    memset(bad, 'B', 64);
    bad[64] = '\0';
    write_file(dirp, "2", bad);
    r = publish(d, p);
    cr_assert_eq(r.status, 1, "exit 1: %s", r.err);
    cr_assert(strstr(r.err, "tile/1/000.p/2 already exists with other bytes"), "%s", r.err);
    run_free(&r);
    after = read_file(cpath, &l1);
    cr_assert(l0 == l1 && memcmp(before, after, l0) == 0, "the checkpoint did not move");
    free(after);
    free(before);
}

static void
sh(const char *cmd)
{
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(publish, killed_at_every_rename_keeps_the_old_checkpoint_true_and_resumes)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    append_n(d, 600);
    run_result r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    append_n(d, 300);
    /* leftovers of an earlier killed run in the staging directory go */
    char junk[4200];
    snprintf(junk, sizeof junk, "%s/.publish-tmp", p);
    write_file(junk, "99", "junk");
    /* the new checkpoint, signed once; each run below publishes the stored one */
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    char cmd[9000], base[4200];
    snprintf(base, sizeof base, "%s/base", d);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", p, base);
    sh(cmd);
    int killed = 0;
    for (long n = 1; n < 40; n++) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", p, base, p);
        sh(cmd);
        fault_on("LDG_FAULT_KILL_RENAME", n);
        r = LDG(d, NULL, "publish", "pub");
        fault_off();
        int st_ = r.status;
        run_free(&r);
        if (st_ == 0)
            break;
        cr_assert_eq(st_, 128 + SIGKILL, "killed at rename %ld (status %d)", n, st_);
        killed++;
        /* whatever checkpoint is there, its tiles are all there and lead to its root */
        check_published(d, p, 0);
        r = LDG(d, NULL, "publish", "pub");
        cr_assert_eq(r.status, 0, "resumed after a kill at rename %ld: %s", n, r.err);
        run_free(&r);
        check_published(d, p, 904);
    }
    cr_assert_eq(killed, 7, "5 files, the checkpoint and the state were each cut off (%d)",
                 killed);
    cr_assert(!exists(p, ".publish-tmp/99"), "the staging directory was emptied");
}

Test(publish, one_publisher_at_a_time)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    /* no checkpoint stored and no --as: nothing to publish */
    run_result n = LDG(d, NULL, "publish", "pub");
    cr_assert_eq(n.status, 2, "%s", n.err);
    cr_assert(strstr(n.err, "no checkpoint signed by its log key"), "%s", n.err);
    run_free(&n);
    mkdir(p, 0755);
    char lp[4200];
    snprintf(lp, sizeof lp, "%s/.publish-lock", p);
    int fd = open(lp, O_RDWR | O_CREAT, 0644);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    cr_assert_eq(fcntl(fd, F_SETLK, &fl), 0);
    run_result r = publish(d, p);
    cr_assert_eq(r.status, 4, "%s", r.err);
    cr_assert(strstr(r.err, "another ldg publish is writing this directory"), "%s", r.err);
    cr_assert(!exists(p, "checkpoint"));
    run_free(&r);
    close(fd);
    r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    check_published(d, p, 4);
}

Test(publish, refuses_another_logs_directory_and_a_forged_checkpoint)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    run_result r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "publish", "pub", "--as", "author.key");
    cr_assert_eq(r.status, 3, "only the log key signs what is published: %s", r.err);
    run_free(&r);
    write_file(p, "checkpoint", "other.example/log\n4\nAAAA\n\n\xe2\x80\x94 x AAAA\n");
    r = publish(d, p);
    cr_assert_eq(r.status, 2, "another log's directory: %s", r.err);
    cr_assert(strstr(r.err, "another log"), "%s", r.err);
    run_free(&r);
    write_file(p, "checkpoint",
               "test.example/ledger\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
               "\xe2\x80\x94 log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n");
    r = publish(d, p);
    cr_assert_eq(r.status, 1, "a checkpoint the log key did not sign: %s", r.err);
    run_free(&r);
    /* signed by the log key, but another history at size 4: a fork */
    char *fork = log_note_by_hand(d, 4, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    write_file(p, "checkpoint", fork);
    free(fork);
    APPEND(d, "{}", "--as", "author.key", "--kind", "communication", "--study", "S1");
    r = publish(d, p);
    cr_assert_eq(r.status, 1, "a fork: %s", r.err);
    cr_assert(strstr(r.err, "is not this ledger's history at that size"), "%s", r.err);
    run_free(&r);
}

Test(publish, with_bodies_writes_salt_and_body_and_erasure_removes_it)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_trail(d);
    run_result r = LDG(d, NULL, "publish", "pub", "--as", "log.key", "--with-bodies");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    check_published(d, p, 0);
    /* body/004 = salt || canonical body; its commitment is entry 4's */
    char q[4200];
    snprintf(q, sizeof q, "%s/body/004", p);
    size_t bl;
    uint8_t *b = slurp(q, &bl);
    cr_assert(b && bl > 32, "%s", q);
    run_result s = LDG(d, NULL, "show", "4", "--json");
    cr_assert_eq(s.status, 0);
    uint8_t tag[12 + 70000], c[32];
    memcpy(tag, "ldg/body/v1", 11);
    tag[11] = 0;
    memcpy(tag + 12, b, bl);
    crypto_hash_sha256(c, tag, 12 + bl);
    char *lf = strstr(s.out, "\"leaf\":\"");
    cr_assert(lf);
    lf += 8;
    *strchr(lf, '"') = '\0';
    uint8_t leaf[70000];
    size_t ll;
    cr_assert_eq(sodium_base642bin(leaf, sizeof leaf, lf, strlen(lf), NULL, &ll, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    bool found = false;
    for (size_t i = 0; i + 32 <= ll && !found; i++)
        found = memcmp(leaf + i, c, 32) == 0;
    cr_assert(found, "SHA-256(\"ldg/body/v1\" 0x00 body/004) is entry 4's body commitment");
    cr_assert(memmem_ok(b + 32, bl - 32, "Visit window for visit 4"), "the body follows the salt");
    run_free(&s);
    free(b);
    /* an erasure record: the next publish removes the body file */
    write_file(d, "eraser.sh", "");
    r = LDG(d, NULL, "keygen", "--name", "eraser", "--out", "eraser", "--unencrypted");
    run_free(&r);
    r = LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eraser.pub", "--name", "E Raser",
            "--org", "Acme CRO", "--roles", "eraser");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "erase", "5", "--as", "eraser.key", "--reason", "GDPR request",
            "--legal-basis", "GDPR Art. 17");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    cr_assert(exists(p, "body/005"));
    r = LDG(d, NULL, "publish", "pub", "--as", "log.key", "--with-bodies");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "1 bodies removed"), "%s", r.out);
    run_free(&r);
    cr_assert(!exists(p, "body/005"), "the erased body left the mirror");
    cr_assert(exists(p, "body/004"));
    check_published(d, p, 0);
}

Test(publish, the_largest_entry_publishes_and_a_statement_over_the_cap_is_refused)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    /* a key.add with every text field at its limit [FMT-10] */
    char *big = malloc(LDG_TEXT_MAX + 1);
    memset(big, 'n', LDG_TEXT_MAX);
    big[LDG_TEXT_MAX] = '\0';
    run_result r = LDG(d, NULL, "keygen", "--name", "kxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "--out",
                       "big", "--unencrypted");
    run_free(&r);
    r = LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "big.pub", "--name", big, "--org",
            big, "--roles", "approver,author,decider,eraser,qa", "--reason", big);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    check_published(d, p, 5);
    char q[4200];
    snprintf(q, sizeof q, "%s/tile/entries/000.p/5", p);
    size_t bl;
    uint8_t *eb = slurp(q, &bl);
    cr_assert(eb && bl > 3 * LDG_TEXT_MAX, "entry 4 (%zu bytes of bundle) is in the bundle", bl);
    free(eb);
    free(big);
    /* a statement one byte over the cap: refused at append, naming the limit */
    char *stmt = calloc(1, 65280);
    memset(stmt, 0x80, 65280);
    size_t cap = 65280 / 3 * 4 + 8;
    char *b64 = malloc(cap);
    sodium_bin2base64(b64, cap, (uint8_t *)stmt, 65280, sodium_base64_VARIANT_ORIGINAL);
    char *line = malloc(cap + 512);
    snprintf(line, cap + 512,
             "{\"ldg\":\"signed-statement/v1\",\"statement\":\"%s\",\"signature\":\"%s\","
             "\"salt\":\"%s\",\"body\":\"e30=\"}\n",
             b64,
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
             "A==",
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    write_file(d, "over.stmt", line);
    r = LDG(d, NULL, "append", "--signed", "over.stmt");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "over 65279 bytes"), "names the limit: %s", r.err);
    run_free(&r);
    free(line);
    free(b64);
    free(stmt);
}

Test(publish, init_warns_when_the_log_key_name_is_not_the_origin)
{
    const char *d = tmp_dir();
    run_result r = LDG(d, NULL, "keygen", "--name", "log", "--out", "log", "--unencrypted");
    run_free(&r);
    r = LDG(d, NULL, "keygen", "--name", "admin", "--out", "admin", "--unencrypted");
    run_free(&r);
    r = LDG(d, NULL, "init", "--origin", "example.org/trial", "--log-key", "log.key", "--admin",
            "admin.pub", "--ledger", "a");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "warning: the log key is named log but the origin is "
                            "example.org/trial"),
              "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "keygen", "--name", "example.org/trial", "--out", "ok", "--unencrypted");
    run_free(&r);
    r = LDG(d, NULL, "init", "--origin", "example.org/trial", "--log-key", "ok.key", "--admin",
            "admin.pub", "--ledger", "b");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(r.err[0], '\0', "no warning when they match: %s", r.err);
    run_free(&r);
}

/* ------------------------------------------------------------ nginx -- */

Test(publish, served_by_nginx_the_fetched_files_are_the_published_ones)
{
    const char *d = tmp_dir(), *p = pubdir(d);
    make_ledger(d);
    append_n(d, 300);
    run_result r = publish(d, p);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    int port;
    pid_t pid = nginx_start(d, p, &port);
    const char *rels[] = {"checkpoint", "tile/0/000", "tile/0/001.p/48", "tile/1/000.p/1",
                          "tile/entries/000", "tile/entries/001.p/48"};
    int ok = 0;
    for (int tries = 0; tries < 100 && !ok; tries++) {
        char cmd[9000];
        snprintf(cmd, sizeof cmd, "curl -sf -o '%s/got' 'http://127.0.0.1:%d/checkpoint'", d,
                 port);
        ok = system(cmd) == 0;
        if (!ok)
            nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    for (size_t i = 0; ok && i < sizeof rels / sizeof rels[0]; i++) {
        char cmd[9000], want[4200], got[4200];
        snprintf(cmd, sizeof cmd, "curl -sf -o '%s/got' 'http://127.0.0.1:%d/%s'", d, port,
                 rels[i]);
        int rc = system(cmd);
        snprintf(want, sizeof want, "%s/%s", p, rels[i]);
        snprintf(got, sizeof got, "%s/got", d);
        size_t wl = 0, gl = 0;
        uint8_t *w = slurp(want, &wl), *g = rc == 0 ? slurp(got, &gl) : NULL;
        if (!(w && g && wl == gl && memcmp(w, g, wl) == 0))
            ok = -1 - (int)i;
        free(w);
        free(g);
    }
    nginx_stop(pid);
    cr_assert_eq(ok, 1, "nginx on 127.0.0.1:%d served every file as published (%d)", port, ok);
}
