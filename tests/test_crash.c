/*
 * test_crash.c - crash safety (issue 5): appending processes (single
 * appends and batches), checkpoints and exports run at once and are killed
 * with SIGKILL at a random moment, round after round, on one real ledger.
 * After every round: the ledger opens and `ldg verify` is clean; every
 * record whose append was acknowledged (its seq printed) is there with its
 * content; a batch is all there or not at all; an export file, if it
 * exists, is whole, and a killed export left no temporary file behind
 * (where the file system has O_TMPFILE).
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20
#define BATCH 2000

static void
kill_all(pid_t *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kill(-pids[i], SIGKILL);
    for (size_t i = 0; i < n; i++)
        waitpid(pids[i], NULL, 0);
}

/* Whether files in d can be made nameless (then a killed export leaves nothing). */
static bool
has_tmpfile(const char *d)
{
    int fd = open(d, O_TMPFILE | O_WRONLY, 0600);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Entries of d whose name begins with prefix. */
static int
count_prefixed(const char *d, const char *prefix)
{
    DIR *dir = opendir(d);
    cr_assert_not_null(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dir);
    return n;
}

/* Number of records of study, each of which must carry a mark beginning with prefix. */
static long
count_marked(const char *d, const char *study, const char *prefix)
{
    run_result r = LDG(d, NULL, "log", "--study", study, "--json");
    cr_assert_eq(r.status, 0, "log: %s", r.err);
    long n = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o);
        const char *m = json_string_value(json_object_get(json_object_get(o, "body"), "m"));
        cr_assert(m && strncmp(m, prefix, strlen(prefix)) == 0, "%s", line);
        n++;
        json_decref(o);
    }
    run_free(&r);
    return n;
}

/* Each acknowledged "MARK SEQ LEAF" line: that seq holds that mark. */
static size_t
check_acks(const char *d, const char *file)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", d, file);
    char *t = read_file(p, NULL);
    if (!t)
        return 0;
    size_t n = 0;
    for (char *save, *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char mark[64], seq[32], leaf[64];
        if (sscanf(line, "%63s %31s %63s", mark, seq, leaf) != 3)
            continue; /* a line cut by the kill was never a whole acknowledgement */
        run_result r = LDG(d, NULL, "show", seq, "--json");
        cr_assert_eq(r.status, 0, "acknowledged #%s (%s) is gone: %s", seq, mark, r.err);
        json_t *o = json_loads(r.out, 0, NULL);
        cr_assert_not_null(o);
        const char *m = json_string_value(json_object_get(json_object_get(o, "body"), "m"));
        cr_assert(m && strcmp(m, mark) == 0, "#%s holds %s, not the acknowledged %s", seq,
                  m ? m : "(none)", mark);
        cr_assert_str_eq(json_string_value(json_object_get(o, "leaf_hash")), leaf);
        json_decref(o);
        run_free(&r);
        n++;
    }
    free(t);
    return n;
}

Test(crash, sigkill_at_random_moments_never_loses_or_half_writes, .fini = tmp_cleanup,
     .timeout = 600)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    srand((unsigned)time(NULL));
    /*
     * The kill lands 5 ms to `span` after the start.  span is 250 ms, or 25
     * single appends where one takes longer (a sanitizer build, a busy CI
     * host), so that some appends are acknowledged in every kind of build.
     */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    APPEND(d, "{\"m\":\"timing\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S0");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long one_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    long span_us = one_us * 25 > 250000 ? one_us * 25 : 250000;
    const char *bin = ldg_bin();
    size_t acked = 0, whole_batches = 0, cut_batches = 0;
    bool nameless = has_tmpfile(d);
    for (int round = 0; round < ROUNDS; round++) {
        char batch[64], script[4][2400];
        snprintf(batch, sizeof batch, "%s/b%d.jsonl", d, round);
        FILE *f = fopen(batch, "w");
        cr_assert_not_null(f);
        for (int i = 0; i < BATCH; i++)
            fprintf(f,
                    "{\"kind\":\"communication\",\"study\":\"B%d\",\"body\":{\"m\":\"b%d-%d\"}}\n",
                    round, round, i);
        fclose(f);
        /* single appends: each acknowledgement tagged with the mark it appended */
        snprintf(script[0], sizeof script[0],
                 "i=0; while :; do i=$((i+1)); m=s%d-$i; "
                 "echo \"{\\\"m\\\":\\\"$m\\\"}\" | '%s' append --as author.key --kind "
                 "communication --study S1 --body - | sed \"s/^/$m /\" >> acks-s%d.txt; done",
                 round, bin, round);
        /* a batch: its seqs printed only once the whole batch is committed */
        snprintf(script[1], sizeof script[1],
                 "'%s' append --as author.key --batch b%d.jsonl > acks-b%d.raw", bin, round, round);
        snprintf(script[2], sizeof script[2],
                 "while :; do '%s' checkpoint --as log.key > /dev/null; done", bin);
        snprintf(script[3], sizeof script[3],
                 "while :; do rm -f x%d.jsonl; '%s' export --format jsonl -o x%d.jsonl --as "
                 "log.key 2>/dev/null; done",
                 round, bin, round);
        pid_t pids[4];
        for (int k = 0; k < 4; k++)
            pids[k] = spawn_sh(d, script[k]);
        long at_us = 5000 + rand() % span_us;
        struct timespec nap = {at_us / 1000000, (at_us % 1000000) * 1000L};
        nanosleep(&nap, NULL);
        kill_all(pids, 4);

        /* the ledger opens and verifies */
        r = LDG(d, NULL, "verify");
        cr_assert_eq(r.status, 0, "round %d: verify after SIGKILL: %s%s", round, r.out, r.err);
        run_free(&r);
        /* every acknowledged single append is there, with its content */
        char name[64];
        snprintf(name, sizeof name, "acks-s%d.txt", round);
        acked += check_acks(d, name);
        /* the batch: all or nothing, and if its seqs were printed, there */
        char marked[16], study[16];
        snprintf(marked, sizeof marked, "b%d-", round);
        snprintf(study, sizeof study, "B%d", round);
        long mine = count_marked(d, study, marked);
        cr_assert(mine == 0 || mine == BATCH, "round %d: %ld of the batch's %d records", round,
                  mine, BATCH);
        whole_batches += mine == BATCH;
        cut_batches += mine == 0;
        char p[1200];
        snprintf(p, sizeof p, "%s/acks-b%d.raw", d, round);
        char *raw = read_file(p, NULL);
        size_t lines = 0;
        for (char *q = raw; q && (q = strchr(q, '\n')); q++)
            lines++;
        cr_assert(lines == 0 || lines == BATCH || mine == BATCH,
                  "round %d: %zu acknowledgements of a batch not all there", round, lines);
        if (lines)
            cr_assert_eq(mine, BATCH, "round %d: acknowledged batch missing", round);
        free(raw);
        /* an export file, if one was published, is whole */
        snprintf(p, sizeof p, "%s/x%d.jsonl", d, round);
        size_t len;
        char *x = read_file(p, &len);
        if (x) {
            cr_assert(len > 0 && x[len - 1] == '\n', "round %d: a published export is cut", round);
            for (char *line = strtok(x, "\n"); line; line = strtok(NULL, "\n")) {
                json_t *o = json_loads(line, 0, NULL);
                cr_assert_not_null(o, "round %d: a published export holds a broken line", round);
                json_decref(o);
            }
            free(x);
        }
        char tmpname[64];
        snprintf(tmpname, sizeof tmpname, "x%d.jsonl.tmp.", round);
        if (nameless)
            cr_assert_eq(count_prefixed(d, tmpname), 0,
                         "round %d: a killed export left its temporary file", round);
    }
    cr_log_info("kills 5 ms to %ld ms in (one append: %ld ms)", span_us / 1000, one_us / 1000);
    cr_log_info("%d rounds: %zu acknowledged single appends checked; batches: %zu whole, %zu "
                "killed before their commit (none of them visible)",
                ROUNDS, acked, whole_batches, cut_batches);
    cr_assert_gt(acked, 0, "the kills left time for some appends");
    if (!nameless)
        cr_log_warn("no O_TMPFILE here: a killed export may leave OUT.tmp.* (not checked)");
}

static void
must_run(run_result r)
{
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

/*
 * Issue 11: `ldg init` killed at any moment leaves either no ledger (and a
 * fresh init then succeeds, whatever temporary directory the killed one
 * left) or a whole one that verifies clean; never a data.mdb without its
 * genesis, which verify calls damaged and which blocks every later init.
 */
Test(crash, init_killed_at_any_moment_leaves_no_ledger_or_a_whole_one, .fini = tmp_cleanup,
     .timeout = 120)
{
    const char *d = tmp_dir();
    fixture_begin();
    must_run(LDG(d, NULL, "keygen", "--name", "log", "--out", "log", "--unencrypted"));
    must_run(LDG(d, NULL, "keygen", "--name", "admin", "--out", "admin", "--unencrypted"));
    fixture_end();
    /* How long one init takes here: kill times spread over 0..1.5 of it. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char script[1400];
    snprintf(script, sizeof script,
             "exec '%s' init --ledger L0 --origin o --log-key log.key --admin admin.pub "
             ">/dev/null 2>&1",
             ldg_bin());
    pid_t p0 = spawn_sh(d, script);
    int st;
    waitpid(p0, &st, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a plain init works");
    long span_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    srand((unsigned)time(NULL));
    int killed = 0, rounds = test_slow() ? 10 : 60;
    for (int i = 1; i <= rounds; i++) {
        char dir[32];
        snprintf(dir, sizeof dir, "L%d", i);
        snprintf(script, sizeof script,
                 "exec '%s' init --ledger %s --origin o --log-key log.key --admin admin.pub "
                 ">/dev/null 2>&1",
                 ldg_bin(), dir);
        pid_t pid = spawn_sh(d, script);
        usleep((useconds_t)(rand() % (span_us * 3 / 2 + 1)));
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        killed += WIFSIGNALED(st);
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/data.mdb", d, dir);
        if (access(path, F_OK) != 0) {
            run_result r = LDG(d, NULL, "init", "--ledger", dir, "--origin", "o", "--log-key",
                               "log.key", "--admin", "admin.pub");
            cr_assert_eq(r.status, 0, "round %d: init after a killed init: %s", i, r.err);
            run_free(&r);
        }
        run_result r = LDG(d, NULL, "verify", "--ledger", dir);
        cr_assert_eq(r.status, 0, "round %d: verify after a killed init: %s%s", i, r.out, r.err);
        run_free(&r);
    }
    cr_assert(killed > 0, "some init was killed before it finished (%d rounds)", rounds);
}

/* A temporary directory an interrupted init left, with a partial data.mdb, blocks nothing. */
Test(crash, leftover_init_directory_does_not_block_init, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    fixture_begin();
    must_run(LDG(d, NULL, "keygen", "--name", "log", "--out", "log", "--unencrypted"));
    must_run(LDG(d, NULL, "keygen", "--name", "admin", "--out", "admin", "--unencrypted"));
    fixture_end();
    char p[1200];
    snprintf(p, sizeof p, "%s/ledger", d);
    cr_assert_eq(mkdir(p, 0750), 0);
    snprintf(p, sizeof p, "%s/ledger/.init-Ab12Cd", d);
    cr_assert_eq(mkdir(p, 0700), 0);
    write_file(p, "data.mdb", "half an LMDB file");
    run_result r = LDG(d, NULL, "init", "--origin", "o", "--log-key", "log.key", "--admin",
                       "admin.pub");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
}
