/*
 * cmd_reindex.c - `ldg reindex`: rebuilds the leaf-hash and statement
 * indexes and the stored Merkle tree from the entries [STO-1][STO-6].  They
 * are derived state: the entries, bodies, signatures and checkpoints are not
 * touched, and `ldg verify` checks the result like any other index.  Needed
 * once for a ledger written by ldg before 2026-12-07, whose indexes or tree
 * had another layout.
 */
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>

static const char reindex_help[] =
    "usage: ldg reindex [--ledger DIR]\n"
    "Rebuilds the ledger's leaf-hash and statement indexes and its stored Merkle tree from\n"
    "its entries, in steps of 65,536 entries (bounded memory).  They are derived: no entry,\n"
    "body, signature or checkpoint changes, and ldg verify checks the result.  A ledger\n"
    "written by ldg before 2026-12-07 needs it once (other commands say so); run it while\n"
    "nothing appends.  Stopped half-way, it leaves the ledger asking for ldg reindex\n"
    "again, which starts over.\n"
    "Exit: 0 rebuilt, 1 an entry does not decode (run ldg verify), 2 bad usage, 4 operational.\n";

int
cmd_reindex(int argc, char **argv)
{
    const char *dir = NULL;
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, reindex_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    const char *d = tool_ledger_dir(dir);
    ldg_err err;
    uint64_t n = 0;
    if (ldg_reindex(d, &n, &err) != LDG_OK)
        return tool_fail(&err);
    printf("reindexed %s: %llu entries\n", d, (unsigned long long)n);
    return EXIT_OK;
}
