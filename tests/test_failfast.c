/*
 * test_failfast.c - fail fast (issue 14, SECURITY.md "Fail fast"): every
 * command checks what it can check cheaply (a checkpoint it needs, the
 * files it is given, the place it writes to) before the long part of its
 * work.  No timing: each ledger here is damaged so that the long part, had
 * it run, would end another, recognisable way (verify prints FAIL findings
 * and exits 1; the check before signing of --as exits 1 "nothing signed";
 * a review prints its findings).  Each test asserts the precondition's
 * exit code and one-line message instead, nothing on stdout, and nothing
 * written.
 */
#define _GNU_SOURCE
#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

/* make_ledger, then two communications (seq 4, 5). */
static void
ledger_of_six(const char *d)
{
    make_ledger(d);
    APPEND(d, "{\"subject\":\"one\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S1");
    APPEND(d, "{\"subject\":\"two\"}", "--as", "author.key", "--kind", "communication", "--study",
           "S1");
}

/* Damages entry 4 so that a verify reports it (FAIL, exit 1). */
static void
damage(const char *d)
{
    flip_signature_bit(d, 4, 7);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "the damage must make verify fail: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "FAIL"), "%s", r.out);
    run_free(&r);
}

/*
 * The refusal: exit `code`, one line on stderr naming the command and holding
 * needle, nothing on stdout (the long part did not run: it prints findings).
 */
static void
refused_first(run_result r, int code, const char *needle)
{
    cr_assert_eq(r.status, code, "want exit %d, got %d: stdout: %s stderr: %s", code, r.status,
                 r.out, r.err);
    cr_assert(strstr(r.err, needle), "want \"%s\" on stderr: %s", needle, r.err);
    cr_assert(strncmp(r.err, "ldg ", 4) == 0, "the line names the command: %s", r.err);
    cr_assert(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "one line: %s", r.err);
    cr_assert_str_empty(r.out, "nothing on stdout: the long part must not have run: %s", r.out);
    run_free(&r);
}

static bool
exists(const char *d, const char *name)
{
    return access(path_in(d, name), F_OK) == 0;
}

/* No file of dir starts with prefix (a temporary file left behind). */
static void
no_file_starting(const char *dir, const char *prefix)
{
    DIR *dd = opendir(dir);
    cr_assert(dd, "%s", dir);
    struct dirent *e;
    while ((e = readdir(dd)))
        cr_assert(strncmp(e->d_name, prefix, strlen(prefix)) != 0, "left behind: %s/%s", dir,
                  e->d_name);
    closedir(dd);
}

/* The ledger stores a checkpoint of `size` entries. */
static bool
checkpoint_stored(const char *d, uint64_t size)
{
    uint8_t k[8];
    void *v = NULL;
    size_t vl;
    seq_key(size, k);
    int rc = lmdb_get_value(d, "checkpoints", k, 8, &v, &vl);
    free(v);
    return rc == 0;
}

/* ------------------------------------------------------------ verify -- */

/* The motivating case: a whole verify, then "the ledger has no checkpoint yet". */
Test(failfast, verify_save_checkpoint_without_a_stored_checkpoint_refused_before_the_run,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen qa");
    damage(d);
    refused_first(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"), 2,
                  "no checkpoint yet");
    cr_assert(!exists(d, "qa.txt"), "nothing written");
    no_file_starting(d, "qa.txt");
}

Test(failfast, verify_save_checkpoint_to_a_file_that_exists_refused_before_the_run,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    write_file(d, "qa.txt", "keep me\n");
    damage(d);
    refused_first(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt"), 2, "already exists");
    char *t = read_in(d, "qa.txt", NULL);
    cr_assert_str_eq(t, "keep me\n", "not replaced");
    free(t);
}

Test(failfast, verify_save_checkpoint_where_no_file_can_be_created_refused_before_the_run,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    damage(d);
    refused_first(LDG(d, NULL, "verify", "--save-checkpoint", "no/such/dir/qa.txt"), 4,
                  "no/such/dir/qa.txt");
    cr_assert(!exists(d, "no"), "nothing created");
}

/* A stored checkpoint that does not check is not worth a run whose end is to save it. */
Test(failfast, verify_save_checkpoint_of_a_bad_newest_checkpoint_refused_before_the_run,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    /* the stored note of size 6, its root replaced by another's (the log key's
       signature then fails) */
    uint8_t k[8];
    void *v = NULL;
    size_t vl;
    seq_key(6, k);
    cr_assert_eq(lmdb_get_value(d, "checkpoints", k, 8, &v, &vl), 0);
    char *note = v, *root = memchr(note, '\n', vl);
    root = memchr(root + 1, '\n', vl - (size_t)(root + 1 - note)) + 1;
    root[0] = root[0] == 'A' ? 'B' : 'A';
    cr_assert_eq(lmdb_put_value(d, "checkpoints", k, 8, v, vl), 0);
    free(v);
    damage(d);
    refused_first(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt"), 1,
                  "the newest checkpoint does not check");
    cr_assert(!exists(d, "qa.txt"), "nothing written");
    no_file_starting(d, "qa.txt");
}

/* A --checkpoint FILE that is not a checkpoint: exit 2 at once, not after the run. */
Test(failfast, verify_checkpoint_file_parsed_before_the_run, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    write_file(d, "held.txt", "this is not a signed note\n");
    damage(d);
    refused_first(LDG(d, NULL, "verify", "--checkpoint", "held.txt"), 2, "held.txt");
}

/* ------------------------------------------------------------ export -- */

Test(failfast, export_output_that_cannot_be_created_refused_before_the_check_before_signing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    damage(d);
    refused_first(LDG(d, NULL, "export", "--format", "jsonl", "--as", "log.key", "-o",
                      "no/such/dir/out.jsonl"),
                  4, "no/such/dir/out.jsonl");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
    cr_assert(!exists(d, "no"), "nothing created");
}

/* A bundle's html pass and walk come after --as too: the output first. */
Test(failfast, export_bundle_output_that_cannot_be_created_refused_first, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    damage(d);
    refused_first(LDG(d, NULL, "export", "--format", "bundle", "--as", "log.key", "-o",
                      "no/such/dir/b.tar"),
                  4, "no/such/dir/b.tar");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
}

Test(failfast, export_checkpoint_file_parsed_before_the_check_before_signing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    write_file(d, "held.txt", "this is not a signed note\n");
    damage(d);
    refused_first(LDG(d, NULL, "export", "--format", "csv", "--as", "log.key", "--checkpoint",
                      "held.txt", "-o", "out.csv"),
                  2, "--checkpoint held.txt");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
    cr_assert(!exists(d, "out.csv"), "nothing written");
    no_file_starting(d, "out.csv");
}

/*
 * --verified FILE signed by the log key alone (saved without --as QA.key): it can
 * never count, which needs no pass over the entries below it (the pass would
 * find the damage: exit 1).
 */
Test(failfast, export_verified_without_any_cosignature_refused_before_the_prefix_run,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "v.txt"), "save without --as");
    damage(d);
    refused_first(LDG(d, NULL, "export", "--format", "jsonl", "--verified", "v.txt", "-o",
                      "out.jsonl"),
                  2, "carries no cosignature");
    cr_assert(!exists(d, "out.jsonl"), "nothing written");
    no_file_starting(d, "out.jsonl");
}

/* The same before the check before signing of --as. */
Test(failfast, export_verified_checked_before_the_check_before_signing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "v.txt"), "save without --as");
    APPEND(d, "{\"subject\":\"three\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1");
    damage(d);
    refused_first(LDG(d, NULL, "export", "--format", "jsonl", "--as", "log.key", "--verified",
                      "v.txt", "-o", "out.jsonl"),
                  2, "carries no cosignature");
    cr_assert(!checkpoint_stored(d, 7), "nothing signed");
    cr_assert(!exists(d, "out.jsonl"), "nothing written");
}

Test(failfast, export_cosigned_by_a_key_never_registered_refused_before_the_key_pass,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "keygen", "--name", "stranger", "--out", "stranger", "--unencrypted"),
       "keygen");
    /* entry 4 no longer decodes: the bundle's key pass, had it run first, ends INTEGRITY */
    uint8_t k[8];
    seq_key(4, k);
    cr_assert_eq(lmdb_put_value(d, "entries", k, sizeof k, "\xc1garbage", 8), 0);
    refused_first(LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key",
                      "--cosign", "stranger.key"),
                  3, "--cosign stranger.key: key stranger is not registered in the ledger");
    cr_assert(!exists(d, "b.tar"), "nothing written");
}

/* ------------------------------------------------------------ review -- */

Test(failfast, review_output_that_cannot_be_created_refused_before_the_review,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    damage(d);
    refused_first(LDG(d, NULL, "review", "-o", "no/such/dir/review.html"), 4,
                  "no/such/dir/review.html");
    cr_assert(!exists(d, "no"), "nothing created");
}

/* ----------------------------------------------------------- publish -- */

Test(failfast, publish_into_a_file_refused_before_the_check_before_signing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    write_file(d, "site", "a file, not a directory\n");
    damage(d);
    refused_first(LDG(d, NULL, "publish", "site", "--as", "log.key"), 4, "site: not a directory");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
    char *t = read_in(d, "site", NULL);
    cr_assert_str_eq(t, "a file, not a directory\n");
    free(t);
}

Test(failfast, publish_where_dir_cannot_be_created_refused_before_the_check_before_signing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    damage(d);
    refused_first(LDG(d, NULL, "publish", "no/such/site", "--as", "log.key"), 4,
                  "no/such/site: cannot create it");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
    cr_assert(!exists(d, "no"), "nothing created");
}

/* DIR locked as a running `ldg publish` holds it: an fcntl lock on DIR/.publish-lock. */
static int
hold_publish_lock(const char *d, const char *site)
{
    char rel[256];
    snprintf(rel, sizeof rel, "%s/.publish-lock", site);
    int fd = open(path_in(d, rel), O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0, "%s", rel);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    cr_assert_eq(fcntl(fd, F_SETLK, &fl), 0, "the test holds the lock");
    return fd;
}

Test(failfast, publish_into_a_dir_another_publish_holds_refused_before_signing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    ok(LDG(d, NULL, "publish", "site", "--as", "log.key"), "a first publish");
    APPEND(d, "{\"subject\":\"three\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1");
    int fd = hold_publish_lock(d, "site");
    damage(d);
    refused_first(LDG(d, NULL, "publish", "site", "--as", "log.key"), 4,
                  "another ldg publish is writing this directory");
    cr_assert(!checkpoint_stored(d, 7), "nothing signed");
    close(fd);
}

/* Another ledger of the same origin (make_ledger's) whose log key signed DIR/checkpoint. */
Test(failfast, publish_into_a_dir_another_log_key_signed_refused_before_signing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    char other[512];
    snprintf(other, sizeof other, "%s/other", d);
    cr_assert_eq(mkdir(other, 0755), 0);
    make_ledger(other);
    /* the other ledger's keys and origin are its own: its tiles go into d/site */
    ok(LDG(other, NULL, "checkpoint", "--as", "log.key"), "the other log's checkpoint");
    char site[600];
    snprintf(site, sizeof site, "%s/site", d);
    ok(LDG(other, NULL, "publish", site), "the other log publishes into d/site");
    ledger_of_six(d);
    damage(d);
    refused_first(LDG(d, NULL, "publish", "site", "--as", "log.key"), 1,
                  "does not verify under this ledger's log key");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
}

/* ------------------------------------------------------------- proof -- */

Test(failfast, proof_as_of_a_record_past_the_head_refused_before_the_check_before_signing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    damage(d);
    refused_first(LDG(d, NULL, "proof", "inclusion", "6", "--format", "tlog-proof", "--as",
                      "log.key"),
                  2, "record 6 is not in a tree of 6 entries");
    cr_assert(!checkpoint_stored(d, 6), "nothing signed");
}

/* A directory cannot be renamed over at the end: said before the review. */
Test(failfast, review_output_that_is_a_directory_refused_before_the_review, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ledger_of_six(d);
    cr_assert_eq(mkdir(path_in(d, "review.html"), 0755), 0);
    damage(d);
    refused_first(LDG(d, NULL, "review", "-o", "review.html"), 4, "review.html");
    no_file_starting(d, "review.html.tmp");
}
