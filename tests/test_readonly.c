/*
 * test_readonly.c - a ledger in a directory its reader may not write (an
 * archived copy, read-only media): verify, log, show and export work;
 * append says why it cannot and writes nothing.  Run as root, the checks
 * are made as user nobody (root ignores file modes); as anyone else, the
 * modes alone do it.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Runs `ldg ARGS` in dir as a user who cannot write it; returns the exit status, output in out. */
static int
as_reader(const char *dir, const char *args, char *out, size_t outlen)
{
    char cmd[4096];
    if (geteuid() == 0)
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && su nobody -s /bin/sh -c \"LDG_LEDGER='%s/ro' '%s' %s\" 2>&1", dir, dir,
                 ldg_bin(), args);
    else
        snprintf(cmd, sizeof cmd, "cd '%s' && LDG_LEDGER='%s/ro' '%s' %s 2>&1", dir, dir, ldg_bin(),
                 args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(readonly, a_ledger_we_may_not_write_verifies_and_exports, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    make_trail(d);
    char cmd[2400];
    /* a copy nobody may write; the test directory itself open to the reader */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cp -r ledger ro && chmod 444 ro/* && chmod 555 ro && chmod 755 . && "
             "mkdir out && chmod 777 out && chmod 644 author.key",
             d);
    cr_assert_eq(system(cmd), 0);
    if (geteuid() == 0)
        cr_assert_eq(system("su nobody -s /bin/sh -c true"), 0,
                     "running as root: the test needs `su nobody` to drop the rights");
    char out[65536];
    int st = as_reader(d, "verify", out, sizeof out);
    cr_assert_eq(st, 0, "verify of a read-only ledger: %s", out);
    cr_assert(strstr(out, "OK:"), "%s", out);
    st = as_reader(d, "log --study HX-301", out, sizeof out);
    cr_assert_eq(st, 0, "%s", out);
    cr_assert(strstr(out, "Visit window"), "%s", out);
    st = as_reader(d, "export --format csv -o out/t.csv", out, sizeof out);
    cr_assert_eq(st, 0, "export of a read-only ledger: %s", out);
    st = as_reader(d, "append --as author.key --kind communication --study HX-301 --body /dev/null",
                   out, sizeof out);
    cr_assert_eq(st, 4, "append cannot write here: %s", out);
    cr_assert(strstr(out, "ldg append: ") && strstr(out, "cannot open ledger"), "%s", out);
    /* nothing changed: the copy still has its 12 entries */
    st = as_reader(d, "verify", out, sizeof out);
    cr_assert(strstr(out, ": 12 entries"), "%s", out);
    /* --as would write a checkpoint: refused the same way, nothing written */
    st = as_reader(d, "export --format csv -o out/u.csv --as log.key", out, sizeof out);
    cr_assert_neq(st, 0, "%s", out);
    char p[1200];
    snprintf(p, sizeof p, "%s/out/u.csv", d);
    cr_assert_eq(access(p, F_OK), -1, "nothing exported");
}
