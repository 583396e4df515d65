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
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
