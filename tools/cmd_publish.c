/*
 * cmd_publish.c - `ldg publish DIR`: the ledger as C2SP tlog-tiles static
 * files for any web server (spec/publish.md).  The library does the work;
 * this is options and the one-line report.
 */
#include "tool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char publish_help[] =
    "usage: ldg publish DIR [--ledger L] [--as LOG.key [--passphrase-file F]] [--with-bodies]\n"
    "Writes the ledger into DIR as C2SP tlog-tiles static files, for any web server, object\n"
    "store or CDN: DIR/checkpoint, hash tiles DIR/tile/<L>/<N>[.p/<W>] and entry bundles\n"
    "DIR/tile/entries/<N>[.p/<W>] (spec/publish.md).  Incremental: only what is new since\n"
    "DIR's own checkpoint is written.  A published file is never rewritten: one that exists\n"
    "with other bytes stops the run (exit 1, someone rewrote published history).  New files\n"
    "are made durable first and DIR/checkpoint is replaced last, so a reader never sees a\n"
    "checkpoint ahead of its tiles, even if publish is killed; run it again to resume.\n"
    "--as LOG.key      sign a checkpoint of the current head first, as `ldg checkpoint --as`\n"
    "                  does (it verifies the entries since the last one); without it, the\n"
    "                  newest checkpoint the ledger holds that its log key signed is published\n"
    "--with-bodies     also write body/<N> (salt and body) for a private mirror; never for a\n"
    "                  public directory: entry bundles carry only the body commitments\n"
    "Every tile is computed from entries re-hashed now and must lead to the root of the\n"
    "checkpoint signed by the log key, or nothing new becomes visible (exit 1).\n"
    "Exit status: 0 published, 1 integrity failure, 2 bad usage or DIR is another log's,\n"
    "3 --as is not the log key, 4 I/O error or another publish holds DIR.  DIR must be a\n"
    "directory ldg can write in, or one it can create; that, another publish holding DIR\n"
    "and DIR's own checkpoint (another log's, or ahead of the ledger) are checked before\n"
    "--as reads its key and signs (nothing signed).\n";

/*
 * Fail fast (SECURITY.md): DIR is a directory this process may write in, or one it
 * may create, before --as checks the ledger for signing.  Exit 4 as publish's own
 * I/O failure would be; the lock and the published checkpoint are publish's to check.
 */
static int
dir_usable(const char *d)
{
    struct stat st;
    if (stat(d, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return tool_error(EXIT_OPER, "%s: not a directory: nothing published", d);
        if (access(d, W_OK | X_OK) != 0)
            return tool_error(EXIT_OPER, "%s: cannot write in it: %s; nothing published", d,
                              strerror(errno));
        return EXIT_OK;
    }
    if (errno != ENOENT)
        return tool_error(EXIT_OPER, "%s: %s; nothing published", d, strerror(errno));
    /* publish makes DIR itself (one level): its parent must be a writable directory */
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/')
        n--;
    while (n > 0 && d[n - 1] != '/')
        n--;
    char *parent = n ? strndup(d, n) : strdup(".");
    if (!parent)
        return tool_error(EXIT_OPER, "out of memory");
    const char *why = NULL;
    if (stat(parent, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "its parent is not a directory";
    else if (access(parent, W_OK | X_OK) != 0)
        why = strerror(errno);
    free(parent);
    int rc = EXIT_OK;
    if (why)
        rc = tool_error(EXIT_OPER, "%s: cannot create it: %s; nothing published", d, why);
    return rc;
}

int
cmd_publish(int argc, char **argv)
{
    const char *as = NULL, *ledger = NULL, *passfile = NULL, *pos[1] = {NULL};
    bool bodies = false;
    const opt_spec specs[] = {OPT_VAL("--as", &as), OPT_VAL("--ledger", &ledger),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_FLAG("--with-bodies", &bodies), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, publish_help, pos, 1);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!pos[0] || !*pos[0])
        return tool_usage("expected a directory: ldg publish DIR");
    if ((rc = dir_usable(pos[0])) != EXIT_OK)
        return rc;
    ldg_ledger *l;
    if ((rc = tool_open_ledger(ledger, 0, &l)) != EXIT_OK)
        return rc;
    ldg_err err;
    ldg_publish_opts o = {.with_bodies = bodies};
    char *note = NULL;
    if (as) {
        ldg_key *k = NULL;
        size_t nl;
        /* DIR's lock and published checkpoint, before the key is read and the head signed */
        if (ldg_publish_precheck(l, pos[0], &err) != LDG_OK)
            rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err.msg)
                                             : tool_fail(&err);
        if (rc == EXIT_OK && (rc = tool_load_key(as, passfile, &k)) == EXIT_OK &&
            ldg_checkpoint_make(l, k, &note, &nl, &err) != LDG_OK)
            rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err.msg)
                                             : tool_fail(&err);
        ldg_key_free(k);
        o.note = note;
        o.note_len = note ? nl : 0;
    }
    ldg_publish_summary sum;
    if (rc == EXIT_OK && ldg_publish(l, pos[0], &o, &sum, &err) != LDG_OK)
        rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err.msg)
                                         : tool_fail(&err);
    if (rc == EXIT_OK)
        printf("published %llu entries (was %llu): %llu tiles, %llu entry bundles, %llu bodies "
               "written, %llu bodies removed, %llu files kept%s\n",
               (unsigned long long)sum.size, (unsigned long long)sum.old_size,
               (unsigned long long)sum.tiles, (unsigned long long)sum.bundles,
               (unsigned long long)sum.bodies, (unsigned long long)sum.bodies_removed,
               (unsigned long long)sum.kept,
               sum.full ? "; DIR's tiles did not prove out, recomputed from entry 0" : "");
    free(note);
    ldg_ledger_close(l);
    return rc;
}
