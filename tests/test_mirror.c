/*
 * test_mirror.c - `ldg mirror` (spec/mirror.md [MIR-*]) on the real binary:
 * a published directory mirrored, then incrementally (old full tiles removed
 * from the source: only what is new is read), up to date, with bodies (then
 * `ldg verify` on the copy), a witness quorum, and every fault: a fork, a
 * rollback, a rewritten tile, an altered entry whose tiles were recomputed,
 * a truncated tile set, a wrong log key; over HTTP from nginx, a server that
 * stalls and one that sends endless data.
 */
/* paths here are short temporary directories; a truncated one fails its assertion */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#define _GNU_SOURCE /* memmem */

#include "helpers.h"

#include "internal.h"
#include "ldg.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
append_n(const char *dir, int n, const char *tag)
{
    size_t cap = (size_t)n * 140 + 16;
    char *b = malloc(cap);
    size_t at = 0;
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(b + at, cap - at,
                               "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{\"subject\":"
                               "\"%s %d\"}}\n",
                               tag, i);
    write_file(dir, "batch.jsonl", b);
    free(b);
    must(LDG(dir, NULL, "append", "--as", "author.key", "--batch", "batch.jsonl"), "append");
}

static void
publish(const char *dir, const char *pub)
{
    must(LDG(dir, NULL, "publish", pub, "--as", "log.key"), "publish");
}

static run_result
mirror(const char *dir, const char *from, const char *state)
{
    return LDG(dir, NULL, "mirror", "--from", from, "--trust", "log.pub", "--state", state,
               "--timeout", "2");
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
sh(const char *fmt, ...)
{
    char cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static bool
exists(const char *dir, const char *rel)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return stat(p, &st) == 0;
}

/* Flips byte `at` of file dir/rel (at < 0: from the end). */
static void
flip(const char *dir, const char *rel, long at)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    size_t n;
    char *b = read_file(p, &n);
    cr_assert(b && n > 0, "%s", p);
    size_t i = at < 0 ? n - (size_t)(-at) : (size_t)at;
    b[i] ^= 0x20;
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    fwrite(b, 1, n, f);
    fclose(f);
    free(b);
}

/* The one evidence directory of state, with both notes; returns them (malloc'd). */
static void
evidence(const char *state, char **held, char **fetched)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/evidence", state);
    DIR *d = opendir(p);
    cr_assert(d, "%s exists", p);
    struct dirent *e;
    char name[512] = "";
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            snprintf(name, sizeof name, "%s", e->d_name);
    closedir(d);
    cr_assert(name[0], "an evidence directory in %s", p);
    size_t n;
    snprintf(p, sizeof p, "%s/evidence/%s/held.note", state, name);
    *held = read_file(p, &n);
    snprintf(p, sizeof p, "%s/evidence/%s/fetched.note", state, name);
    *fetched = read_file(p, &n);
    cr_assert(*held && *fetched, "both notes kept in %s/evidence/%s", state, name);
}

static unsigned long
fetched_count(const char *out)
{
    const char *p = strstr(out, "): ");
    return p ? strtoul(p + 3, NULL, 10) : 0;
}

/* A ledger of 4 + n entries published to d/pub and mirrored to d/st. */
static void
mirrored(const char *d, int n)
{
    make_ledger(d);
    append_n(d, n, "one");
    publish(d, "pub");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

TestSuite(mirror, .fini = tmp_cleanup);

Test(mirror, mirrors_then_reads_only_what_is_new_then_is_up_to_date)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 300, "one");
    publish(d, "pub");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mirrored 304 entries (was 0)"), "%s", r.out);
    run_free(&r);
    /* [MIR-3] the next run reads nothing below the held checkpoint's last partial tile */
    sh("rm %s/pub/tile/0/000 %s/pub/tile/entries/000", d, d);
    append_n(d, 300, "two");
    publish(d, "pub");
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mirrored 604 entries (was 304)"), "%s", r.out);
    /* checkpoint, bundles 001 and 002.p/92, tiles 0/001, 0/002.p/92, 1/000.p/2 */
    cr_assert_eq(fetched_count(r.out), 6, "%s", r.out);
    run_free(&r);
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "up to date at size 604"), "%s", r.out);
    run_free(&r);
    /* the held history: both checkpoints, in the mirror's own ledger */
    char ld[4200];
    snprintf(ld, sizeof ld, "%s/st/ledger", d);
    r = LDG(d, NULL, "log", "--ledger", ld, "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    size_t lines = 0;
    for (const char *p = r.out; (p = strchr(p, '\n')); p++)
        lines++;
    cr_assert_eq(lines, 604, "the mirror holds every entry");
    run_free(&r);
}

Test(mirror, with_bodies_the_copy_verifies_and_an_altered_body_is_refused)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 40, "one");
    must(LDG(d, NULL, "publish", "pub", "--as", "log.key", "--with-bodies"), "publish");
    run_result r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
                       "--bodies");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "44 bodies"), "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--ledger", "st/ledger");
    cr_assert_eq(r.status, 0, "ldg verify on the mirrored copy: %s%s", r.out, r.err);
    run_free(&r);
    append_n(d, 10, "two");
    must(LDG(d, NULL, "publish", "pub", "--as", "log.key", "--with-bodies"), "publish");
    flip(d, "pub/body/050", -3);
    r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st", "--bodies");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "entry 50") && strstr(r.err, "commitment"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--ledger", "st/ledger", "--json");
    cr_assert(strstr(r.out, "\"entries\":44"), "nothing committed: %s", r.out);
    run_free(&r);
}

Test(mirror, two_checkpoints_for_one_size_are_a_fork_with_both_notes_kept)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char d2[4200];
    snprintf(d2, sizeof d2, "%s/other", d);
    sh("mkdir %s && cp -a %s/ledger %s/*.key %s/*.pub %s/", d2, d, d, d, d2);
    append_n(d, 20, "one");
    append_n(d2, 20, "another");
    publish(d, "pub");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    /* the same log key signs another history of the same size, published at the same path */
    sh("rm -r %s/pub", d);
    char pubpath[4300];
    snprintf(pubpath, sizeof pubpath, "%s/pub", d);
    must(LDG(d2, NULL, "publish", pubpath, "--as", "log.key"), "publish the other");
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "fork") && strstr(r.err, "evidence kept in"), "%s", r.err);
    run_free(&r);
    char st[4300], *held, *fetched;
    snprintf(st, sizeof st, "%s/st", d);
    evidence(st, &held, &fetched);
    cr_assert(strcmp(held, fetched) != 0, "two different notes");
    cr_assert(strstr(held, "\n24\n") && strstr(fetched, "\n24\n"), "both of size 24");
    free(held);
    free(fetched);
}

Test(mirror, a_rollback_is_caught_and_both_notes_kept)
{
    const char *d = tmp_dir();
    mirrored(d, 20);
    sh("cp -a %s/pub %s/pub.old", d, d);
    append_n(d, 20, "two");
    publish(d, "pub");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    sh("rm -r %s/pub && mv %s/pub.old %s/pub", d, d, d);
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "rollback"), "%s", r.err);
    run_free(&r);
    char st[4300];
    snprintf(st, sizeof st, "%s/st", d);
    char *held, *fetched;
    evidence(st, &held, &fetched);
    cr_assert(strstr(held, "\n44\n") && strstr(fetched, "\n24\n"), "%s / %s", held, fetched);
    free(held);
    free(fetched);
}

Test(mirror, recheck_catches_a_full_tile_rewritten_after_it_was_mirrored)
{
    const char *d = tmp_dir();
    mirrored(d, 600);
    run_result r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
                       "--recheck");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "up to date at size 604") && strstr(r.out, "4 held tiles"), "%s",
              r.out);
    run_free(&r);
    /* a full tile the mirror verified is rewritten (with its bundle, consistently) */
    flip(d, "pub/tile/0/001", 100);
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "an incremental run does not read it: %s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
            "--recheck");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "tile/0/001") && strstr(r.err, "rewritten"), "%s", r.err);
    run_free(&r);
    flip(d, "pub/tile/0/001", 100);
    flip(d, "pub/tile/entries/000", 300);
    r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
            "--recheck");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "tile/entries/000") && strstr(r.err, "rewritten"), "%s", r.err);
    run_free(&r);
}

Test(mirror, a_rewritten_tile_is_caught_and_nothing_committed)
{
    const char *d = tmp_dir();
    mirrored(d, 300);
    append_n(d, 300, "two");
    publish(d, "pub");
    /* tile 0/001 is full now; its first hashes are leaves the mirror verified before */
    flip(d, "pub/tile/0/001", 5);
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "tile/0/001") && strstr(r.err, "rewritten"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "log", "--ledger", "st/ledger", "--json");
    size_t lines = 0;
    for (const char *p = r.out; (p = strchr(p, '\n')); p++)
        lines++;
    cr_assert_eq(lines, 304, "nothing committed");
    run_free(&r);
    /* a first mirror of a tile that does not match its entry bundle */
    flip(d, "pub/tile/0/001", 5);
    flip(d, "pub/tile/0/000", 40);
    r = mirror(d, "pub", "st2");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "tile/0/000") && strstr(r.err, "entry bundles"), "%s", r.err);
    cr_assert(!exists(d, "st2/ledger/data.mdb"), "nothing committed");
    run_free(&r);
}

/*
 * Flips a bit of the signature of the last entry of a bundle, then puts its
 * new leaf hash in the level-0 tile: what an attacker without the log key
 * can do so that tiles and bundles agree.
 */
static void
alter_last_entry(const char *d, const char *bundle, const char *tile)
{
    char p[4200];
    size_t n, tn;
    snprintf(p, sizeof p, "%s/%s", d, bundle);
    uint8_t *b = (uint8_t *)read_file(p, &n);
    size_t at = 0, last = 0, len = 0;
    while (at + 2 <= n) {
        len = (size_t)b[at] << 8 | b[at + 1];
        last = at + 2;
        at += 2 + len;
    }
    uint8_t *sig = memmem(b + last, len, "\xa3sig\xc4\x40", 6);
    cr_assert(sig, "the entry's signature");
    sig[6 + 10] ^= 1;
    FILE *bf = fopen(p, "wb");
    fwrite(b, 1, n, bf);
    fclose(bf);
    uint8_t leaf[33];
    uint8_t *m = malloc(len + 1);
    m[0] = 0;
    memcpy(m + 1, b + last, len);
    crypto_hash_sha256(leaf, m, len + 1);
    free(m);
    snprintf(p, sizeof p, "%s/%s", d, tile);
    uint8_t *t = (uint8_t *)read_file(p, &tn);
    memcpy(t + tn - 32, leaf, 32);
    FILE *f = fopen(p, "wb");
    fwrite(t, 1, tn, f);
    fclose(f);
    free(t);
    free(b);
}

Test(mirror, an_altered_entry_with_recomputed_tiles_does_not_give_the_signed_root)
{
    const char *d = tmp_dir();
    mirrored(d, 20);
    append_n(d, 20, "two");
    publish(d, "pub");
    alter_last_entry(d, "pub/tile/entries/000.p/44", "pub/tile/0/000.p/44");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "root"), "%s", r.err);
    run_free(&r);
    /* an entry altered in its bundle alone: the tile does not match it */
    flip(d, "pub/tile/entries/000.p/44", -200);
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--ledger", "st/ledger", "--json");
    cr_assert(strstr(r.out, "\"entries\":24"), "nothing committed: %s", r.out);
    run_free(&r);
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
    uint8_t m[65];
    m[0] = 1;
    mth(h, k, m + 1);
    mth(h + k, n - k, m + 33);
    crypto_hash_sha256(out, m, sizeof m);
}

/*
 * [MIR-6] A holder of the log key signs a tree whose entry 43 carries a
 * forged signature: tiles, bundles and root agree, the consistency proof
 * holds, and the verify engine refuses the entry.
 */
Test(mirror, an_entry_that_does_not_verify_under_a_signed_root_is_refused)
{
    const char *d = tmp_dir();
    mirrored(d, 20);
    append_n(d, 20, "two");
    publish(d, "pub");
    alter_last_entry(d, "pub/tile/entries/000.p/44", "pub/tile/0/000.p/44");
    char p[4200], b64[64];
    size_t n;
    snprintf(p, sizeof p, "%s/pub/tile/0/000.p/44", d);
    uint8_t *t = (uint8_t *)read_file(p, &n), root[32];
    cr_assert_eq(n, 44 * 32);
    mth((const uint8_t(*)[32])t, 44, root);
    free(t);
    sodium_bin2base64(b64, sizeof b64, root, 32, sodium_base64_VARIANT_ORIGINAL);
    char *note = log_note_by_hand(d, 44, b64);
    write_file(d, "pub/checkpoint", note);
    free(note);
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "bad-entries") && strstr(r.err, "seq 43") &&
                  strstr(r.err, "signature"),
              "%s", r.err);
    cr_assert(strstr(r.err, "evidence kept in"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--ledger", "st/ledger", "--json");
    cr_assert(strstr(r.out, "\"entries\":24"), "nothing committed: %s", r.out);
    run_free(&r);
}

Test(mirror, a_truncated_tile_set_commits_nothing)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 300, "one");
    publish(d, "pub");
    sh("mv %s/pub/tile/entries/001.p/48 %s/saved", d, d);
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 4, "%s", r.err);
    cr_assert(strstr(r.err, "tile/entries/001.p/48") && strstr(r.err, "not served"), "%s", r.err);
    cr_assert(!exists(d, "st/ledger/data.mdb"), "nothing committed");
    run_free(&r);
    sh("mv %s/saved %s/pub/tile/entries/001.p/48", d, d);
    sh("truncate -s 100 %s/pub/tile/0/001.p/48", d);
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "tile/0/001.p/48") && strstr(r.err, "100 bytes"), "%s", r.err);
    cr_assert(!exists(d, "st/ledger/data.mdb"), "nothing committed");
    run_free(&r);
}

Test(mirror, a_checkpoint_not_signed_by_the_trusted_key_or_without_the_quorum_is_refused)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 5, "one");
    publish(d, "pub");
    must(LDG(d, NULL, "keygen", "--name", "witness.example", "--out", "w", "--unencrypted"),
         "keygen");
    run_result r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "admin.pub", "--state", "st");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "checkpoint"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
            "--witness", "w.pub", "--quorum", "1");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "witness policy not met: 0 of 1") &&
                  strstr(r.err, "witness.example: no cosignature"),
              "the one witness-policy message of every verifier [CKP-7]: %s", r.err);
    cr_assert(!exists(d, "st/ledger/data.mdb"), "nothing committed");
    run_free(&r);
    /* cosigned by the witness (tlog-cosignature/v1): accepted */
    char p[4200];
    snprintf(p, sizeof p, "%s/w.key", d);
    cr_assert_eq(ldg_init(NULL), LDG_OK);
    ldg_key *k;
    cr_assert_eq(ldg_key_load(p, NULL, 0, &k, NULL), LDG_OK);
    snprintf(p, sizeof p, "%s/pub/checkpoint", d);
    size_t n, on;
    char *note = read_file(p, &n), *out;
    cr_assert_eq(ldg_checkpoint_cosign(note, n, k, 1700000000, &out, &on, NULL), LDG_OK);
    FILE *f = fopen(p, "wb");
    fwrite(out, 1, on, f);
    fclose(f);
    free(out);
    free(note);
    ldg_key_free(k);
    r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
            "--witness", "w.pub", "--quorum", "1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
            "--quorum", "1");
    cr_assert_eq(r.status, 2, "a quorum without witnesses is bad usage: %s", r.err);
    run_free(&r);
}

/* ----------------------------------------------------------------- HTTP -- */

Test(mirror, over_http_from_nginx_incrementally)
{
    const char *d = tmp_dir();
    char pub[4200], url[200];
    snprintf(pub, sizeof pub, "%s/pub", d);
    make_ledger(d);
    append_n(d, 300, "one");
    publish(d, "pub");
    int port;
    pid_t ng = nginx_start(d, pub, &port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    run_result r = mirror(d, url, "st");
    int s1 = r.status;
    char o1[600];
    snprintf(o1, sizeof o1, "%s%s", r.out, r.err);
    run_free(&r);
    append_n(d, 30, "two");
    publish(d, "pub");
    r = mirror(d, url, "st");
    nginx_stop(ng);
    cr_assert_eq(s1, 0, "%s", o1);
    cr_assert(strstr(o1, "mirrored 304 entries"), "%s", o1);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mirrored 334 entries (was 304)"), "%s", r.out);
    run_free(&r);
}

static int
listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(s, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return s;
}

Test(mirror, a_server_that_stalls_is_given_up_on_within_the_timeout)
{
    const char *d = tmp_dir();
    make_ledger(d);
    int port, s = listener(&port); /* the kernel accepts; nobody ever answers */
    char url[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    time_t t0 = time(NULL);
    run_result r = LDG(d, NULL, "mirror", "--from", url, "--trust", "log.pub", "--state", "st",
                       "--timeout", "1");
    time_t took = time(NULL) - t0;
    close(s);
    cr_assert_eq(r.status, 4, "%s", r.err);
    cr_assert(took <= 4 * test_timeout_scale(), "gave up after %lds", (long)took);
    cr_assert(strstr(r.err, "checkpoint"), "%s", r.err);
    cr_assert(!exists(d, "st/ledger/data.mdb"), "nothing committed");
    run_free(&r);
}

Test(mirror, a_server_sending_endless_data_is_refused_at_the_cap)
{
    const char *d = tmp_dir();
    make_ledger(d);
    int port, s = listener(&port);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        static char junk[65536];
        memset(junk, 'A', sizeof junk);
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c < 0)
                _exit(0);
            const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
            if (write(c, h, strlen(h)) < 0)
                _exit(0);
            while (write(c, junk, sizeof junk) > 0)
                ;
            close(c);
        }
    }
    close(s);
    char url[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    run_result r = LDG(d, NULL, "mirror", "--from", url, "--trust", "log.pub", "--state", "st",
                       "--timeout", "2");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert_eq(r.status, 4, "%s", r.err);
    cr_assert(strstr(r.err, "larger than 65536 bytes"), "%s", r.err);
    run_free(&r);
}

/* ------------------------------------------------------- map growth -- */

static ldg_status
dir_fetch(void *ctx, const char *path, size_t max, uint8_t **out, size_t *len, ldg_err *err)
{
    (void)err;
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", (const char *)ctx, path);
    struct stat st;
    if (stat(p, &st) != 0)
        return LDG_E_NOTFOUND;
    if ((size_t)st.st_size > max)
        return LDG_E_IO;
    *out = (uint8_t *)read_file(p, len);
    return *out ? LDG_OK : LDG_E_IO;
}

/* The mirror's map fills up mid-run: it grows and the run is done again, once, in full. */
Test(mirror, a_full_map_grows_and_the_run_is_redone, .timeout = 120)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 600, "one");
    publish(d, "pub");
    cr_assert_eq(ldg_init(NULL), LDG_OK);
    ldgi_map_initial = 256 * 1024;
    char pub[4200], st[4200], lp[4200];
    snprintf(pub, sizeof pub, "%s/pub", d);
    snprintf(st, sizeof st, "%s/st", d);
    snprintf(lp, sizeof lp, "%s/log.pub", d);
    char *trust = read_file(lp, NULL);
    ldg_mirror_opts o = {.fetch = dir_fetch, .fetch_ctx = pub, .trust = trust, .jobs = 1};
    ldg_mirror_summary sum;
    ldg_err e;
    cr_assert_eq(ldg_mirror(st, &o, &sum, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(sum.outcome, LDG_MIRROR_UPDATED, "%s", sum.why);
    cr_assert_eq(sum.size, 604);
    ldg_mirror_summary_clear(&sum);
    free(trust);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(st, 0, &l, &e), LDG_OK, "%s", e.msg);
    uint64_t size;
    uint8_t head[32];
    cr_assert_eq(ldg_ledger_head(l, &size, head, &e), LDG_OK);
    cr_assert_eq(size, 604);
    ldg_ledger_close(l);
}

/* ------------------------------------------- committed steps [MIR-9] -- */

/* Every record of every database of dir/ledger, in order, as one buffer (malloc'd). */
static char *
dump_state(const char *dir, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/ledger", dir);
    MDB_env *env;
    MDB_txn *txn;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, p, MDB_RDONLY, 0640), 0, "%s", p);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    for (int i = 0; i < LDGI_DB_COUNT; i++) {
        MDB_dbi dbi;
        MDB_cursor *c;
        cr_assert_eq(mdb_dbi_open(txn, ldgi_db_names[i], 0, &dbi), 0, "%s", ldgi_db_names[i]);
        cr_assert_eq(mdb_cursor_open(txn, dbi, &c), 0);
        MDB_val k, v;
        for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            size_t need = n + 2 * sizeof(size_t) + k.mv_size + v.mv_size + 8;
            while (need > cap)
                b = realloc(b, cap *= 2);
            n += (size_t)snprintf(b + n, 8, "%d", i);
            memcpy(b + n, &k.mv_size, sizeof k.mv_size);
            memcpy(b + n + sizeof(size_t), &v.mv_size, sizeof v.mv_size);
            n += 2 * sizeof(size_t);
            memcpy(b + n, k.mv_data, k.mv_size);
            memcpy(b + n + k.mv_size, v.mv_data, v.mv_size);
            n += k.mv_size + v.mv_size;
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    *len = n;
    return b;
}

static void
same_state(const char *d, const char *a, const char *b)
{
    char pa[4200], pb[4200];
    snprintf(pa, sizeof pa, "%s/%s", d, a);
    snprintf(pb, sizeof pb, "%s/%s", d, b);
    size_t la, lb;
    char *x = dump_state(pa, &la), *y = dump_state(pb, &lb);
    cr_assert(la == lb && memcmp(x, y, la) == 0,
              "%s and %s hold different records (%zu and %zu bytes)", a, b, la, lb);
    free(x);
    free(y);
}

typedef struct killer {
    const char *base;
    int bundles, kill_at;
} killer;

/* Serves a directory; SIGKILLs this process as it is asked for entry bundle number kill_at. */
static ldg_status
kill_fetch(void *ctx, const char *path, size_t max, uint8_t **out, size_t *len, ldg_err *err)
{
    killer *k = ctx;
    if (strncmp(path, "tile/entries/", 13) == 0 && ++k->bundles == k->kill_at)
        raise(SIGKILL);
    return dir_fetch((void *)k->base, path, max, out, len, err);
}

/*
 * d/st mirrored from d/pub by the library in a child process, one bundle
 * per committed step, killed (SIGKILL) as it asks for entry bundle kill_at.
 */
static void
mirror_killed(const char *d, int kill_at, bool bodies)
{
    char pub[4200], st[4200], lp[4200];
    snprintf(pub, sizeof pub, "%s/pub", d);
    snprintf(st, sizeof st, "%s/st", d);
    mkdir(st, 0750);
    snprintf(st, sizeof st, "%s/st/ledger", d);
    snprintf(lp, sizeof lp, "%s/log.pub", d);
    char *trust = read_file(lp, NULL);
    cr_assert(trust);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (ldg_init(NULL) != LDG_OK)
            _exit(3);
        ldgi_mirror_step = 1;
        killer k = {.base = pub, .kill_at = kill_at};
        ldg_mirror_opts o = {.fetch = kill_fetch,
                             .fetch_ctx = &k,
                             .trust = trust,
                             .jobs = 1,
                             .bodies = bodies};
        ldg_mirror_summary sum;
        ldg_err e;
        ldg_status s = ldg_mirror(st, &o, &sum, &e);
        _exit(s == LDG_OK ? 2 : 3); /* not killed: the test's mistake */
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    killed_on_purpose(pid);
    cr_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "the mirror was killed (status %d)", ws);
    free(trust);
}

static bool
has_aside(const char *d)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/st/ledger", d);
    DIR *dir = opendir(p);
    bool found_one = false;
    struct dirent *e;
    while (dir && (e = readdir(dir)))
        found_one |= strncmp(e->d_name, ".init-", 6) == 0;
    if (dir)
        closedir(dir);
    return found_one;
}

static uint64_t
state_size(const char *d, const char *state)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s/ledger", d, state);
    ldg_ledger *l;
    ldg_err e;
    cr_assert_eq(ldg_init(NULL), LDG_OK);
    cr_assert_eq(ldg_ledger_open(p, 0, &l, &e), LDG_OK, "%s", e.msg);
    uint64_t size;
    uint8_t head[32];
    cr_assert_eq(ldg_ledger_head(l, &size, head, &e), LDG_OK, "%s", e.msg);
    ldg_ledger_close(l);
    return size;
}

/* A first run killed after some steps: the next run starts again and ends as one never killed. */
Test(mirror, a_first_run_killed_mid_way_is_redone_and_its_leftovers_removed)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 1200, "one"); /* 1,204 entries: 5 bundles */
    publish(d, "pub");
    mirror_killed(d, 3, false); /* two steps committed, in the ledger built aside */
    cr_assert(has_aside(d), "the killed run left its ledger built aside");
    cr_assert(!exists(d, "st/ledger/data.mdb"), "nothing published by a killed first run");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mirrored 1204 entries (was 0)"), "%s", r.out);
    run_free(&r);
    cr_assert(!has_aside(d), "the killed run's leftovers are removed");
    r = mirror(d, "pub", "st2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    same_state(d, "st", "st2");
}

/*
 * An update killed after some steps: entries stored past the held checkpoint
 * count for nothing (the mirror still holds its old checkpoint); the next run
 * drops them, mirrors again, and ends as a run never killed.
 */
Test(mirror, an_update_killed_mid_way_holds_the_old_checkpoint_and_is_redone)
{
    const char *d = tmp_dir();
    mirrored(d, 10); /* st holds 14 */
    run_result r = mirror(d, "pub", "st2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    append_n(d, 1500, "two"); /* 1,514 entries: 6 bundles */
    publish(d, "pub");
    mirror_killed(d, 4, false); /* bundles 0..2 committed: 768 entries stored */
    cr_assert_eq(state_size(d, "st"), 768, "the killed run's steps are stored");
    cr_assert(exists(d, "st/ledger/mirror.pending"), "and marked as not verified");
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mirrored 1514 entries (was 14)"), "held 14, not 768: %s", r.out);
    run_free(&r);
    cr_assert(!exists(d, "st/ledger/mirror.pending"));
    r = mirror(d, "pub", "st2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    same_state(d, "st", "st2");
}

/* An entry a killed run stored, altered before the next run: caught, not kept, not dropped blind. */
Test(mirror, an_unverified_step_altered_after_a_kill_is_caught)
{
    const char *d = tmp_dir();
    mirrored(d, 10);
    append_n(d, 1500, "two");
    publish(d, "pub");
    mirror_killed(d, 4, false);
    char st[4200];
    snprintf(st, sizeof st, "%s/st", d);
    uint8_t k[8];
    void *v;
    size_t vl;
    seq_key(699, k);
    cr_assert_eq(lmdb_get_value(st, "entries", k, 8, &v, &vl), 0);
    seq_key(700, k);
    cr_assert_eq(lmdb_put_value(st, "entries", k, 8, v, vl), 0); /* 700 now holds 699's bytes */
    free(v);
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 4, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "entry 700") && strstr(r.err, "altered"), "%s", r.err);
    run_free(&r);
    seq_key(14, k);
    cr_assert_eq(lmdb_get_value(st, "checkpoints", k, 8, &v, &vl), 0, "14 is still held");
    free(v);
    seq_key(1514, k);
    cr_assert_neq(lmdb_get_value(st, "checkpoints", k, 8, &v, &vl), 0, "1514 is not");
}

/*
 * A run that fails after steps were committed leaves the state exactly as it
 * was: the entries, indexes and key registry its steps changed (a key added,
 * a key revoked) are dropped, and a held body a new erasure erases is still
 * held (its deletion waits for the commit of the erasure).  The next good run
 * holds it all, and the copy verifies.
 */
Test(mirror, a_run_failing_after_committed_steps_leaves_the_state_as_it_was)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_n(d, 10, "one");
    must(LDG(d, NULL, "keygen", "--name", "eraser", "--out", "eraser", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "keygen", "--name", "extra", "--out", "extra", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eraser.pub", "--name", "Erin",
             "--org", "Helix Pharma", "--roles", "eraser"),
         "key add eraser");
    must(LDG(d, NULL, "publish", "pub", "--as", "log.key", "--with-bodies"), "publish");
    run_result r = LDG(d, NULL, "mirror", "--from", "pub", "--trust", "log.pub", "--state", "st",
                       "--bodies");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    char st[4200];
    snprintf(st, sizeof st, "%s/st", d);
    size_t before_len;
    char *before = dump_state(st, &before_len);
    /* after the 15 held: an erasure of held entry 5, a key added, a held key revoked, 1,200 more */
    must(LDG(d, NULL, "erase", "5", "--as", "eraser.key", "--reason", "data subject request",
             "--legal-basis", "GDPR Art. 17(1)(b)"),
         "erase");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "extra.pub", "--name", "Extra",
             "--org", "Acme CRO", "--roles", "author"),
         "key add extra");
    must(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "approver.pub", "--reason",
             "left the study"),
         "revoke");
    append_n(d, 600, "two"); /* 618 entries: bundles 0..2, the last of 106 */
    must(LDG(d, NULL, "publish", "pub", "--as", "log.key", "--with-bodies"), "publish");
    char last[128];
    ldgi_tile_path("entries", 2, 106, last, sizeof last);
    char lastp[300];
    snprintf(lastp, sizeof lastp, "pub/%s", last);
    flip(d, lastp, -40); /* in the last entry's signature: found by the verify engine */

    char pub[4200], lp[4200];
    snprintf(pub, sizeof pub, "%s/pub", d);
    snprintf(lp, sizeof lp, "%s/log.pub", d);
    char *trust = read_file(lp, NULL);
    char sl[4200];
    snprintf(sl, sizeof sl, "%s/st/ledger", d);
    cr_assert_eq(ldg_init(NULL), LDG_OK);
    ldgi_mirror_step = 1;
    ldg_mirror_opts o = {
        .fetch = dir_fetch, .fetch_ctx = pub, .trust = trust, .jobs = 1, .bodies = true};
    ldg_mirror_summary sum;
    ldg_err e;
    cr_assert_eq(ldg_mirror(sl, &o, &sum, &e), LDG_OK, "%s", e.msg);
    cr_assert(sum.outcome != LDG_MIRROR_UPDATED && sum.outcome != LDG_MIRROR_UP_TO_DATE,
              "refused after two committed steps");
    ldg_mirror_summary_clear(&sum);
    size_t after_len;
    char *after = dump_state(st, &after_len);
    cr_assert(after_len == before_len && memcmp(before, after, after_len) == 0,
              "the state is as it was (%zu bytes of records, now %zu)", before_len, after_len);
    cr_assert(!exists(d, "st/ledger/mirror.pending"));
    free(before);
    free(after);

    flip(d, lastp, -40);
    cr_assert_eq(ldg_mirror(sl, &o, &sum, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(sum.outcome, LDG_MIRROR_UPDATED, "%d: %s", sum.outcome, sum.why);
    cr_assert_eq(sum.size, 618);
    ldg_mirror_summary_clear(&sum);
    free(trust);
    r = LDG(d, NULL, "verify", "--ledger", "st/ledger");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "1 bodies erased") || strstr(r.out, "1 body erased"), "%s", r.out);
    run_free(&r);
}

/* Two runs on one state at once: the second is refused, not interleaved with the first. */
Test(mirror, a_second_run_on_a_state_in_use_is_refused)
{
    const char *d = tmp_dir();
    mirrored(d, 10);
    char p[4200];
    snprintf(p, sizeof p, "%s/st/ledger", d);
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    append_n(d, 5, "two");
    publish(d, "pub");
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 4, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "another ldg mirror is running"), "%s", r.err);
    run_free(&r);
    close(fd);
    r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

/* A run killed between its last commit and removing its mark: the next run removes the mark. */
Test(mirror, a_mark_left_by_a_run_killed_after_its_commit_is_removed)
{
    const char *d = tmp_dir();
    mirrored(d, 10);
    char p[4200];
    snprintf(p, sizeof p, "%s/st", d);
    write_file(p, "ledger/mirror.pending", "3\n"); /* the held size before that run */
    run_result r = mirror(d, "pub", "st");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "up to date at size 14"), "%s", r.out);
    run_free(&r);
    cr_assert(!exists(d, "st/ledger/mirror.pending"), "the stale mark is removed");
}
