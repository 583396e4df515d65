/*
 * cmd_tree.c - the transparency-log commands: `ldg checkpoint` (a signed
 * tree head, C2SP tlog-checkpoint) and `ldg proof inclusion|consistency`
 * (RFC 9162 proofs in JSON, DESIGN.md "Proofs").
 */
#include "tool.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char checkpoint_help[] =
    "usage: ldg checkpoint --as LOG.key [--ledger DIR] [--passphrase-file F]\n"
    "Signs the current tree head with the ledger's log key as a C2SP tlog-checkpoint\n"
    "signed note, stores it in the ledger and prints it.  Keep it outside the host: `ldg\n"
    "verify --checkpoint FILE` later proves the ledger only grew since.  Any key other than\n"
    "the log key pinned by the genesis is refused (exit 3).\n";

static const char proof_help[] =
    "usage: ldg proof inclusion SEQ [--size N] [--ledger DIR]\n"
    "       ldg proof consistency OLD_SIZE [NEW_SIZE] [--ledger DIR]\n"
    "Prints an RFC 9162 proof as JSON (hashes base64, leaf's sibling first):\n"
    "  {\"index\",\"tree_size\",\"root\",\"leaf\",\"leaf_hash\",\"hashes\"}\n"
    "  {\"old_size\",\"old_root\",\"new_size\",\"new_root\",\"hashes\"}\n"
    "The tree size defaults to the ledger's current size.\n";

int
cmd_checkpoint(int argc, char **argv)
{
    const char *as = NULL, *dir = NULL, *passfile = NULL;
    const opt_spec specs[] = {OPT_VAL("--as", &as), OPT_VAL("--ledger", &dir),
                              OPT_VAL("--passphrase-file", &passfile), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, checkpoint_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!as)
        return tool_usage("--as LOG.key is required");
    ldg_ledger *l;
    if ((rc = tool_open_ledger(dir, 0, &l)) != EXIT_OK)
        return rc;
    ldg_key *k = NULL;
    char *note = NULL;
    size_t len;
    ldg_err err;
    if ((rc = tool_load_key(as, passfile, &k)) == EXIT_OK) {
        if (ldg_checkpoint_make(l, k, &note, &len, &err) != LDG_OK)
            rc = tool_fail(&err);
        else
            fwrite(note, 1, len, stdout);
    }
    free(note);
    ldg_key_free(k);
    ldg_ledger_close(l);
    return rc;
}

static json_t *
b64j(const uint8_t *p, size_t n)
{
    size_t cap = n / 3 * 4 + 8;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    tool_b64(p, n, s, cap);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static json_t *
hashes_json(uint8_t (*h)[LDG_HASH_BYTES], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, b64j(h[i], LDG_HASH_BYTES));
    return a;
}

static int
print_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return tool_error(EXIT_OPER, "out of memory");
    puts(s);
    free(s);
    return EXIT_OK;
}

static int
proof_inclusion(ldg_ledger *l, const char *seqs, const char *sizes)
{
    uint64_t seq, size;
    uint8_t head[LDG_HASH_BYTES], root[LDG_HASH_BYTES], h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t n;
    ldg_err err;
    if (!parse_u64(seqs, &seq))
        return tool_usage("expected a record number: ldg proof inclusion SEQ");
    if (sizes && !parse_u64(sizes, &size))
        return tool_usage("--size takes a tree size");
    if (!sizes && ldg_ledger_head(l, &size, head, &err) != LDG_OK)
        return tool_fail(&err);
    ldg_record *r;
    if (ldg_tree_root(l, size, root, &err) != LDG_OK ||
        ldg_proof_inclusion(l, seq, size, h, &n, &err) != LDG_OK ||
        ldg_record_get(l, seq, &r, &err) != LDG_OK)
        return tool_fail(&err);
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer((json_int_t)seq));
    json_object_set_new(o, "tree_size", json_integer((json_int_t)size));
    json_object_set_new(o, "root", b64j(root, LDG_HASH_BYTES));
    json_object_set_new(o, "leaf", b64j(r->entry, r->entry_len));
    json_object_set_new(o, "leaf_hash", b64j(r->leaf_hash, LDG_HASH_BYTES));
    json_object_set_new(o, "hashes", hashes_json(h, n));
    ldg_record_free(r);
    return print_json(o);
}

static int
proof_consistency(ldg_ledger *l, const char *olds, const char *news)
{
    uint64_t old, size;
    uint8_t head[LDG_HASH_BYTES], r0[LDG_HASH_BYTES], r1[LDG_HASH_BYTES],
        h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t n;
    ldg_err err;
    if (!parse_u64(olds, &old))
        return tool_usage("expected a tree size: ldg proof consistency OLD_SIZE [NEW_SIZE]");
    if (news && !parse_u64(news, &size))
        return tool_usage("NEW_SIZE must be a tree size");
    if (!news && ldg_ledger_head(l, &size, head, &err) != LDG_OK)
        return tool_fail(&err);
    if (ldg_proof_consistency(l, old, size, h, &n, &err) != LDG_OK ||
        ldg_tree_root(l, old, r0, &err) != LDG_OK || ldg_tree_root(l, size, r1, &err) != LDG_OK)
        return tool_fail(&err);
    json_t *o = json_object();
    json_object_set_new(o, "old_size", json_integer((json_int_t)old));
    json_object_set_new(o, "old_root", b64j(r0, LDG_HASH_BYTES));
    json_object_set_new(o, "new_size", json_integer((json_int_t)size));
    json_object_set_new(o, "new_root", b64j(r1, LDG_HASH_BYTES));
    json_object_set_new(o, "hashes", hashes_json(h, n));
    return print_json(o);
}

int
cmd_proof(int argc, char **argv)
{
    if (argc < 2 || opt_flag(argv, 1, "--help")) {
        fputs(proof_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    bool incl = strcmp(argv[1], "inclusion") == 0;
    if (!incl && strcmp(argv[1], "consistency") != 0)
        return tool_usage("unknown proof \"%s\" (inclusion, consistency)", argv[1]);
    tool_cmd = incl ? "proof inclusion" : "proof consistency";
    const char *dir = NULL, *size = NULL, *pos[2] = {NULL, NULL};
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir), OPT_VAL("--size", &size), OPT_END};
    int rc = opt_parse(argc, argv, 2, specs, proof_help, pos, incl ? 1 : 2);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!pos[0])
        return tool_usage(incl ? "expected a record number: ldg proof inclusion SEQ"
                               : "expected a tree size: ldg proof consistency OLD_SIZE");
    if (!incl && size)
        return tool_usage("--size belongs to ldg proof inclusion");
    ldg_ledger *l;
    if ((rc = tool_open_ledger(dir, LDG_OPEN_READONLY, &l)) != EXIT_OK)
        return rc;
    rc = incl ? proof_inclusion(l, pos[0], size) : proof_consistency(l, pos[0], pos[1]);
    ldg_ledger_close(l);
    return rc;
}
