/*
 * test_concurrency.c - 8 processes append at once (single appends and
 * batches) while verify, export and log run throughout on the same ledger.
 * Every reader run must see a consistent ledger (verify clean, every log
 * line whole JSON, every export published whole); afterwards nothing
 * acknowledged is lost, seqs are contiguous, and the chain verifies.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WRITERS 8
#define SINGLES 15 /* single appends per writer */
#define BATCH 300  /* then one batch per writer */
/* Under memcheck (test_slow) every ldg start costs about a second: fewer, same shape. */
#define SLOW_SINGLES 3
#define SLOW_BATCH 30

static size_t
count_lines(const char *path)
{
    char *t = read_file(path, NULL);
    size_t n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

Test(concurrency, eight_writers_and_three_readers_see_a_consistent_ledger, .fini = tmp_cleanup,
     .timeout = 600)
{
    const char *d = tmp_dir();
    make_ledger(d);
    const char *bin = ldg_bin();
    const int singles = test_slow() ? SLOW_SINGLES : SINGLES;
    const int batch = test_slow() ? SLOW_BATCH : BATCH;
    pid_t w[WRITERS], rd[3];
    char script[3000], p[1200];
    for (int i = 0; i < WRITERS; i++) {
        snprintf(p, sizeof p, "%s/w%d.jsonl", d, i);
        FILE *f = fopen(p, "w");
        cr_assert_not_null(f);
        for (int k = 0; k < batch; k++)
            fprintf(f,
                    "{\"kind\":\"communication\",\"study\":\"W%d\",\"body\":{\"m\":\"w%d-b%d\"}}\n",
                    i, i, k);
        fclose(f);
        snprintf(script, sizeof script,
                 "k=0; while [ $k -lt %d ]; do k=$((k+1)); "
                 "echo \"{\\\"m\\\":\\\"w%d-s$k\\\"}\" | '%s' append --as author.key --kind "
                 "communication --study W%d --body - >> acks%d.txt || exit 1; done; "
                 "'%s' append --as author.key --batch w%d.jsonl >> acks%d.txt",
                 singles, i, bin, i, i, bin, i, i);
        w[i] = spawn_sh(d, script);
    }
    /* readers, until the writers are done: every run must succeed */
    snprintf(script, sizeof script,
             "n=0; while :; do n=$((n+1)); '%s' verify > v.out 2>&1 || "
             "{ cp v.out verify-failed.txt; exit 1; }; [ -e stop ] && break; done; echo $n > "
             "verify-runs",
             bin);
    rd[0] = spawn_sh(d, script);
    snprintf(script, sizeof script,
             "n=0; while :; do n=$((n+1)); '%s' log --json > l.out 2> l.err || "
             "{ cp l.err log-failed.txt; exit 1; }; cp l.out last-log.jsonl; [ -e stop ] && break; "
             "done; "
             "echo $n > log-runs",
             bin);
    rd[1] = spawn_sh(d, script);
    snprintf(script, sizeof script,
             "n=0; while :; do n=$((n+1)); rm -f e.jsonl; '%s' export --format "
             "jsonl -o e.jsonl --as log.key > x.out 2>&1 || { cp x.out export-failed.txt; "
             "exit 1; }; cp e.jsonl last-export.jsonl; [ -e stop ] && break; done; "
             "echo $n > export-runs",
             bin);
    rd[2] = spawn_sh(d, script);
    for (int i = 0; i < WRITERS; i++) {
        int st;
        waitpid(w[i], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer %d failed (status %d)", i, st);
    }
    write_file(d, "stop", "");
    for (int i = 0; i < 3; i++) {
        int st;
        waitpid(rd[i], &st, 0);
        snprintf(p, sizeof p, "%s/%s", d,
                 i == 0   ? "verify-failed.txt"
                 : i == 1 ? "log-failed.txt"
                          : "export-failed.txt");
        char *why = read_file(p, NULL);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader %d saw a bad state: %s", i,
                  why ? why : "?");
        free(why);
    }
    /* the last log and export the readers saw are whole JSON Lines */
    const char *seen[] = {"last-log.jsonl", "last-export.jsonl"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", d, seen[i]);
        char *t = read_file(p, NULL);
        cr_assert_not_null(t, "%s: the reader never finished a run", seen[i]);
        for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *o = json_loads(line, 0, NULL);
            cr_assert_not_null(o, "%s holds a broken line", seen[i]);
            json_decref(o);
        }
        free(t);
    }
    /* nothing lost: every writer's records are there, all acknowledged, seqs contiguous */
    size_t acks = 0;
    for (int i = 0; i < WRITERS; i++) {
        snprintf(p, sizeof p, "%s/acks%d.txt", d, i);
        size_t n = count_lines(p);
        cr_assert_eq(n, (size_t)(singles + batch), "writer %d: %zu acknowledgements", i, n);
        acks += n;
        char study[16];
        snprintf(study, sizeof study, "W%d", i);
        run_result r = LDG(d, NULL, "log", "--study", study, "--json");
        size_t m = 0;
        for (char *q = r.out; *q; q++)
            m += *q == '\n';
        cr_assert_eq(m, (size_t)(singles + batch), "writer %d: %zu records in its study", i, m);
        run_free(&r);
    }
    run_result r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 0, "%s", r.out);
    char want[64];
    snprintf(want, sizeof want, "\"entries\":%zu", acks + 4);
    cr_assert(strstr(r.out, want), "4 + %zu entries, contiguous (verify checks seqs): %s", acks,
              r.out);
    run_free(&r);
    snprintf(p, sizeof p, "%s/verify-runs", d);
    char *runs = read_file(p, NULL);
    if (runs)
        runs[strcspn(runs, "\n")] = '\0';
    cr_log_info("%d writers, %zu records; verify ran %s times meanwhile", WRITERS, acks,
                runs ? runs : "?");
    free(runs);
}
