/*
 * cmd_tree.c - the transparency-log commands: `ldg checkpoint` (a signed
 * tree head, C2SP tlog-checkpoint) and `ldg proof inclusion|consistency`
 * (RFC 9162 proofs in JSON [CKP-6], written and read by the library).
 */
#include "tool.h"

#include "emit.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char checkpoint_help[] =
    "usage: ldg checkpoint --as LOG.key [--ledger DIR] [--passphrase-file F]\n"
    "Signs the current tree head with the ledger's log key as a C2SP tlog-checkpoint\n"
    "signed note, stores it in the ledger and prints it.  Keep it outside the host: `ldg\n"
    "verify --checkpoint FILE` later proves the ledger only grew since.  Any key other than\n"
    "the log key pinned by the genesis is refused (exit 3).\n"
    "Before signing, it verifies every entry since the newest stored checkpoint of the log\n"
    "key (all of them if there is none) as `ldg verify --since` does, and signs the tree head\n"
    "it recomputed from the entries, never the stored tree.  Any integrity failure and\n"
    "nothing is signed: exit 1, naming the first entry and check that failed.  Signing an\n"
    "unchanged head again keeps the cosignatures stored with it.\n"
    "\n"
    "usage: ldg checkpoint --as LOG.key --witness W.pub=URL|W.pub=exec:COMMAND ...\n"
    "                      [--quorum N] [--timeout S] [--ledger DIR] [--passphrase-file F]\n"
    "Then asks each witness (C2SP tlog-witness, spec/witness.md [WIT-8]) to cosign it:\n"
    "W.pub is the witness's key (a cosignature that does not verify under it is never\n"
    "stored); URL its submission prefix (POST URL/add-checkpoint, libcurl); exec:COMMAND a\n"
    "program and its arguments split at spaces, no shell, given the request on stdin and\n"
    "answering on stdout as `ldg witness add-checkpoint` does (locally, or over ssh).  The\n"
    "request starts from the size that witness last cosigned (read from the stored notes);\n"
    "a 409 naming another size is resent once from it.  The cosignatures that verify are\n"
    "stored with the checkpoint and the stored note is printed.  One line on stderr per\n"
    "witness that refused and why, then \"K of M witnesses cosigned size N (quorum Q)\".\n"
    "--quorum N: cosignatures needed (default: every witness).  --timeout S: seconds per\n"
    "witness (default 30).  Exit 0 quorum met; 1 a witness saw another history (a fork, a\n"
    "larger size, a bad proof), whatever the quorum; 4 quorum not met otherwise (the\n"
    "log-signed checkpoint is stored all the same); 2 bad usage, nothing signed.\n"
    "\n"
    "usage: ldg checkpoint --add COSIGNED.txt [--ledger DIR]\n"
    "Stores the cosignatures (C2SP tlog-cosignature lines of witnesses or QA) of a\n"
    "checkpoint the ledger made: its text must be byte for byte that of the stored\n"
    "checkpoint of its size, signed by the log key; the signature lines the stored one lacks\n"
    "are added to it, so that exports tied to it carry them.  The cosignatures are checked\n"
    "by each verifier against the witnesses it names (--witness).  Exit 0 stored (or\n"
    "nothing new); 1 when the log key signed another head of that size (a fork); 2 bad\n"
    "input, no such stored checkpoint, or not signed by the log key.\n";

static const char proof_help[] =
    "usage: ldg proof inclusion SEQ [--size N] [--format json|tlog-proof] [--as LOG.key]\n"
    "                           [--ledger DIR]\n"
    "       ldg proof consistency OLD_SIZE [NEW_SIZE] [--ledger DIR]\n"
    "Prints an RFC 9162 proof as JSON (hashes base64, leaf's sibling first):\n"
    "  {\"index\",\"tree_size\",\"root\",\"leaf\",\"leaf_hash\",\"hashes\"}\n"
    "  {\"old_size\",\"old_root\",\"new_size\",\"new_root\",\"hashes\"}\n"
    "The tree size defaults to the ledger's current size.  --format tlog-proof writes a C2SP\n"
    "tlog-proof (the entry's bytes as extra, the path, and a checkpoint of that size: the\n"
    "stored one, or a fresh one signed with --as LOG.key) that ldg verify-proof, or any\n"
    "tlog-proof verifier, checks offline.  --as signs only the current head, after checking\n"
    "the ledger as ldg checkpoint does (exit 1 if it does not verify), so it refuses --size\n"
    "and a SEQ past the head (exit 2) before that check.\n";

static const char verify_proof_help[] =
    "usage: ldg verify-proof PROOF --trust LOG.pub [--leaf FILE] [--checkpoint FILE]\n"
    "                        [--witness W.pub]... [--quorum N]\n"
    "Checks a proof offline, without the ledger.  A tlog-proof: the checkpoint it carries must\n"
    "be signed by the trusted log key, and the entry (its bytes from the proof, or --leaf\n"
    "FILE) must be in that tree.  A JSON inclusion proof: the entry must be in the tree of\n"
    "its root, and --checkpoint FILE must show that root signed by the log key.  A\n"
    "JSON consistency proof: the old tree must be a prefix of the new.\n"
    "--witness W.pub [--quorum N]: the checkpoint must also carry valid C2SP\n"
    "tlog-cosignatures by N distinct witness keys among those given (default: all; as\n"
    "`ldg verify --witness` counts them), else exit 1 naming the witnesses that did not\n"
    "cosign validly; exit 2 for --quorum without --witness, a quorum above the distinct\n"
    "keys, or --witness with a consistency proof (it carries no checkpoint).\n"
    "Exit 0 when the proof holds, 1 when it does not, 2 for unreadable input.\n";

/* [CKP-2] A ledger that does not verify gets nothing signed: an integrity failure, exit 1. */
static int
checkpoint_fail(const ldg_err *err)
{
    if (err->status == LDG_E_CORRUPT)
        return tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err->msg);
    return tool_fail(err);
}

/* [CKP-8] ldg checkpoint --add FILE: cosignatures merged into the stored note. */
static int
checkpoint_add(const char *dir, const char *file)
{
    char *text = NULL;
    size_t len, added = 0;
    ldg_err err;
    ldg_ledger *l = NULL;
    int rc = tool_read_file(file, 65536, &text, &len);
    if (rc == EXIT_OK)
        rc = tool_open_ledger(dir, 0, &l);
    if (rc == EXIT_OK && ldg_checkpoint_add(l, text, len, &added, &err) != LDG_OK)
        rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "%s: %s", file, err.msg)
             : err.status == LDG_E_BADSIG || err.status == LDG_E_INPUT ||
                     err.status == LDG_E_NOTFOUND || err.status == LDG_E_POLICY
                 ? tool_usage("%s: %s", file, err.msg)
                 : tool_fail(&err);
    if (rc == EXIT_OK)
        printf("%zu signature line%s added to the stored checkpoint\n", added,
               added == 1 ? "" : "s");
    ldg_ledger_close(l);
    free(text);
    return rc;
}

int
cmd_checkpoint(int argc, char **argv)
{
    const char *as = NULL, *dir = NULL, *passfile = NULL, *add = NULL, *quorum = NULL,
               *timeout = NULL;
    const char *wit[LDG_WITNESS_KEYS_MAX];
    size_t nwit = 0;
    const opt_spec specs[] = {OPT_VAL("--as", &as),
                              OPT_VAL("--ledger", &dir),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_VAL("--add", &add),
                              OPT_MANY("--witness", wit, &nwit, LDG_WITNESS_KEYS_MAX),
                              OPT_VAL("--quorum", &quorum),
                              OPT_VAL("--timeout", &timeout),
                              OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, checkpoint_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (add && (as || nwit || quorum || timeout))
        return tool_usage("--add stores cosignatures of a checkpoint already made: no --as, "
                          "--witness, --quorum or --timeout");
    if (add)
        return checkpoint_add(dir, add);
    if (!as)
        return tool_usage("--as LOG.key is required");
    ldg_ledger *l;
    if ((rc = tool_open_ledger(dir, 0, &l)) != EXIT_OK)
        return rc;
    ldg_key *k = NULL;
    char *note = NULL, *stored = NULL;
    size_t len, slen;
    ldg_err err;
    uint8_t logpub[LDG_PUB_BYTES];
    collect_plan plan = {0};
    if ((rc = tool_load_key(as, passfile, &k)) == EXIT_OK) {
        /* [WIT-8] the witnesses are read before anything is signed: bad usage writes nothing */
        ldg_key_public(k, logpub);
        rc = collect_parse(wit, nwit, quorum, timeout, logpub, &plan);
    }
    if (rc == EXIT_OK) {
        if (ldg_checkpoint_make(l, k, &note, &len, &err) != LDG_OK)
            rc = checkpoint_fail(&err);
        else if (!nwit)
            fputs(em_t_lines(note), stdout);
        else {
            rc = collect_run(l, logpub, note, len, &plan, &stored, &slen);
            if (stored)
                fputs(em_t_lines(stored), stdout);
        }
    }
    collect_free(&plan);
    free(stored);
    free(note);
    ldg_key_free(k);
    ldg_ledger_close(l);
    return rc;
}

/* Prints a proof as one line of JSON [CKP-6]. */
static int
print_proof(const ldg_proof_json *p)
{
    char *text;
    size_t len;
    ldg_err err;
    if (ldg_proof_json_format(p, &text, &len, &err) != LDG_OK)
        return tool_fail(&err);
    printf("%s\n", text);
    free(text);
    return EXIT_OK;
}

static int
proof_inclusion(ldg_ledger *l, const char *seqs, const char *sizes, const char *format,
                const char *as, const char *passfile)
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
    bool tlog = strcmp(format, "tlog-proof") == 0;
    char *note = NULL;
    size_t nl = 0;
    int rc = EXIT_OK;
    ldg_checkpoint signed_cp;
    bool have_signed = false;
    if (tlog && as) {
        /*
         * [CKP-4] --as signs only a head the check before signing recomputed
         * from the entries [CKP-2]: the ledger's current one.  The proof is
         * then made for the size that was signed, and checked against it.
         */
        ldg_key *k = NULL;
        uint64_t cur;
        uint8_t pub[LDG_PUB_BYTES];
        if (ldg_ledger_head(l, &cur, head, &err) != LDG_OK)
            rc = tool_fail(&err);
        else if (cur != size)
            rc = tool_usage("--as signs the current head (%llu entries); drop --size",
                            (unsigned long long)cur);
        /* fail fast: a record past the head gets no proof; say so before the check */
        else if (seq >= size)
            rc = tool_usage("record %llu is not in a tree of %llu entries: nothing signed",
                            (unsigned long long)seq, (unsigned long long)size);
        else if ((rc = tool_load_key(as, passfile, &k)) == EXIT_OK &&
                 ldg_checkpoint_make(l, k, &note, &nl, &err) != LDG_OK)
            rc = checkpoint_fail(&err);
        if (rc == EXIT_OK) {
            ldg_key_public(k, pub);
            if (ldg_checkpoint_parse(note, nl, NULL, pub, &signed_cp, &err) != LDG_OK)
                rc = tool_fail(&err);
            else if (signed_cp.size != size)
                rc = tool_error(EXIT_OPER,
                                "the ledger grew to %llu entries while it was checked for "
                                "signing; run again",
                                (unsigned long long)signed_cp.size);
            else
                have_signed = true;
        }
        ldg_key_free(k);
    } else if (tlog && ldg_checkpoint_stored(l, size, &note, &nl, &err) != LDG_OK) {
        rc = tool_fail(&err);
    }
    ldg_record *r = NULL;
    if (rc == EXIT_OK && (ldg_tree_root(l, size, root, &err) != LDG_OK ||
                          ldg_proof_inclusion(l, seq, size, h, &n, &err) != LDG_OK ||
                          ldg_record_get(l, seq, &r, &err) != LDG_OK))
        rc = tool_fail(&err);
    if (rc == EXIT_OK && have_signed) {
        /* the path comes from the stored tree: it must lead to the root that was signed */
        uint8_t lh[LDG_HASH_BYTES];
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const uint8_t *)"", 1);
        crypto_hash_sha256_update(&st, r->entry, r->entry_len);
        crypto_hash_sha256_final(&st, lh);
        if (!ldg_proof_verify_inclusion(seq, size, lh, (const uint8_t(*)[LDG_HASH_BYTES])h, n,
                                        signed_cp.root))
            rc = tool_error(EXIT_INTEGRITY,
                            "INTEGRITY: the stored Merkle tree gives no proof of record %llu "
                            "under the head just signed; run ldg verify",
                            (unsigned long long)seq);
    }
    if (rc != EXIT_OK) {
        free(note);
        ldg_record_free(r);
        return rc;
    }
    if (tlog) {
        char *text = NULL;
        size_t tl;
        if (ldg_tlog_proof_format(seq, r->entry, r->entry_len, (const uint8_t(*)[LDG_HASH_BYTES])h,
                                  n, note, nl, &text, &tl, &err) != LDG_OK)
            rc = tool_fail(&err);
        if (rc == EXIT_OK)
            fputs(em_t_lines(text), stdout);
        free(text);
        free(note);
        ldg_record_free(r);
        return rc;
    }
    ldg_proof_json pj = {.kind = LDG_PROOF_INCLUSION,
                         .index = seq,
                         .tree_size = size,
                         .leaf = r->entry,
                         .leaf_len = r->entry_len,
                         .nhashes = n};
    memcpy(pj.root, root, LDG_HASH_BYTES);
    memcpy(pj.hashes, h, n * LDG_HASH_BYTES);
    rc = print_proof(&pj);
    ldg_record_free(r);
    return rc;
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
    ldg_proof_json pj = {
        .kind = LDG_PROOF_CONSISTENCY, .old_size = old, .new_size = size, .nhashes = n};
    memcpy(pj.old_root, r0, LDG_HASH_BYTES);
    memcpy(pj.new_root, r1, LDG_HASH_BYTES);
    memcpy(pj.hashes, h, n * LDG_HASH_BYTES);
    return print_proof(&pj);
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
    const char *dir = NULL, *size = NULL, *pos[2] = {NULL, NULL}, *format = "json", *as = NULL,
               *passfile = NULL;
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir),
                              OPT_VAL("--size", &size),
                              OPT_VAL("--format", &format),
                              OPT_VAL("--as", &as),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_END};
    int rc = opt_parse(argc, argv, 2, specs, proof_help, pos, incl ? 1 : 2);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!pos[0])
        return tool_usage(incl ? "expected a record number: ldg proof inclusion SEQ"
                               : "expected a tree size: ldg proof consistency OLD_SIZE");
    if (!incl && (size || as || strcmp(format, "json") != 0))
        return tool_usage("--size, --format and --as belong to ldg proof inclusion");
    if (strcmp(format, "json") != 0 && strcmp(format, "tlog-proof") != 0)
        return tool_usage("--format is json or tlog-proof");
    if (as && strcmp(format, "tlog-proof") != 0)
        return tool_usage("--as signs the checkpoint of a tlog-proof: add --format tlog-proof");
    ldg_ledger *l;
    if ((rc = tool_open_ledger(dir, as ? 0 : LDG_OPEN_READONLY, &l)) != EXIT_OK)
        return rc;
    rc = incl ? proof_inclusion(l, pos[0], size, format, as, passfile)
              : proof_consistency(l, pos[0], pos[1]);
    ldg_ledger_close(l);
    return rc;
}

/* ------------------------------------------------------- verify-proof -- */

/*
 * What verify-proof reads, capped before it is parsed (spec/format.md
 * Limits): a proof is at most about 92 KB (an entry in base64, 64 hashes, a
 * checkpoint note), a leaf file one entry, a checkpoint a short note.
 */
#define PROOF_FILE_MAX (256u * 1024u)
#define LEAF_FILE_MAX (64u * 1024u + 256u)
#define NOTE_FILE_MAX 65536u

static void
leaf_hash_of(const uint8_t *p, size_t n, uint8_t out[LDG_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    const uint8_t zero = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    crypto_hash_sha256_update(&st, p, n);
    crypto_hash_sha256_final(&st, out);
}

static int verdict(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
verdict(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[1024]; /* names files, origins and keys: escaped as one line */
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("%s%s\n", ok ? "OK: " : "FAILED: ", em_t(msg));
    return ok ? EXIT_OK : EXIT_INTEGRITY;
}

int
cmd_verify_proof(int argc, char **argv)
{
    const char *trust = NULL, *leaf_file = NULL, *cp_file = NULL, *pos[1] = {NULL};
    tool_witnesses wit = {0};
    const opt_spec specs[] = {OPT_VAL("--trust", &trust), OPT_VAL("--leaf", &leaf_file),
                              OPT_VAL("--checkpoint", &cp_file), OPT_WITNESSES(&wit), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, verify_proof_help, pos, 1);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!pos[0] || !trust)
        return tool_usage("usage: ldg verify-proof PROOF --trust LOG.pub");
    char wwhy[600];
    if ((rc = tool_witnesses_load(&wit)) != EXIT_OK) {
        tool_witnesses_free(&wit);
        return rc;
    }
    char name[LDG_NAME_MAX + 1], *text = NULL, *leaf = NULL, *cptext = NULL;
    uint8_t pub[LDG_PUB_BYTES], lh[LDG_HASH_BYTES];
    size_t len, leaf_len = 0, cplen = 0;
    ldg_err err;
    if (ldg_vkey_read(trust, name, pub, &err) != LDG_OK) {
        tool_witnesses_free(&wit);
        return tool_fail(&err);
    }
    if ((rc = tool_read_file(pos[0], PROOF_FILE_MAX, &text, &len)) != EXIT_OK)
        goto out;
    if (leaf_file && (rc = tool_read_file(leaf_file, LEAF_FILE_MAX, &leaf, &leaf_len)) != EXIT_OK)
        goto out;
    if (cp_file && (rc = tool_read_file(cp_file, NOTE_FILE_MAX, &cptext, &cplen)) != EXIT_OK)
        goto out;
    if (strncmp(text, "c2sp.org/tlog-proof@v1\n", 23) == 0) {
        ldg_tlog_proof p;
        ldg_checkpoint cp;
        if (ldg_tlog_proof_parse(text, len, &p, &err) != LDG_OK) {
            rc = tool_usage("%s: %s", pos[0], err.msg);
            goto out;
        }
        ldg_status cs = ldg_checkpoint_parse(p.note, p.note_len, name, pub, &cp, &err);
        if (cs == LDG_E_INPUT) {
            rc = tool_usage("%s: %s", pos[0], err.msg);
        } else if (cs != LDG_OK) {
            rc = verdict(false, "%s: %s", pos[0], err.msg);
        } else if (!leaf && !p.extra) {
            rc = tool_usage("%s carries no entry bytes: give --leaf FILE", pos[0]);
        } else if (wit.n && (rc = tool_witnesses_check(&wit, p.note, p.note_len, pub, wwhy,
                                                       sizeof wwhy)) != EXIT_OK) {
            /* [CKP-7] a checkpoint no quorum of witnesses saw may be a split view */
            if (rc == EXIT_INTEGRITY)
                rc = verdict(false, "%s: %s", pos[0], wwhy);
        } else {
            leaf_hash_of(leaf ? (const uint8_t *)leaf : p.extra, leaf ? leaf_len : p.extra_len, lh);
            bool in = ldg_proof_verify_inclusion(p.index, cp.size, lh,
                                                 (const uint8_t(*)[LDG_HASH_BYTES])p.hashes,
                                                 p.nhashes, cp.root);
            rc = in ? verdict(true, "record %llu is in %s at tree size %llu, signed by %s",
                              (unsigned long long)p.index, cp.origin, (unsigned long long)cp.size,
                              name)
                    : verdict(false,
                              "record %llu is not in the tree the checkpoint signs "
                              "(%s, size %llu)",
                              (unsigned long long)p.index, cp.origin, (unsigned long long)cp.size);
        }
        ldg_tlog_proof_clear(&p);
        goto out;
    }
    ldg_proof_json pj;
    char root_b64[64];
    if (ldg_proof_json_parse(text, len, &pj, &err) != LDG_OK) {
        rc = tool_error(tool_exit_code(err.status), "%s: %s", pos[0], err.msg);
        goto out;
    }
    const uint8_t(*h)[LDG_HASH_BYTES] = (const uint8_t(*)[LDG_HASH_BYTES])pj.hashes;
    if (pj.kind == LDG_PROOF_INCLUSION) {
        long long i = (long long)pj.index, sz = (long long)pj.tree_size;
        tool_b64(pj.root, LDG_HASH_BYTES, root_b64, sizeof root_b64);
        ldg_checkpoint cp;
        if (pj.leaf || leaf)
            leaf_hash_of(leaf ? (const uint8_t *)leaf : pj.leaf, leaf ? leaf_len : pj.leaf_len, lh);
        if (!pj.leaf && !leaf) {
            rc = tool_usage("%s: no leaf in the proof: give --leaf FILE", pos[0]);
        } else if (!ldg_proof_verify_inclusion(pj.index, pj.tree_size, lh, h, pj.nhashes,
                                               pj.root)) {
            rc = verdict(false, "record %lld is not in the tree of root %s", i, root_b64);
        } else if (cptext) {
            ldg_status cs = ldg_checkpoint_parse(cptext, cplen, name, pub, &cp, &err);
            if (cs == LDG_E_INPUT)
                rc = tool_usage("%s: %s", cp_file, err.msg);
            else if (cs != LDG_OK)
                rc = verdict(false, "%s: %s", cp_file, err.msg);
            else if (cp.size != pj.tree_size || sodium_memcmp(cp.root, pj.root, 32) != 0)
                rc = verdict(false,
                             "the proof's tree (size %lld) is not the one %s signs "
                             "(size %llu)",
                             sz, cp_file, (unsigned long long)cp.size);
            else if (wit.n && (rc = tool_witnesses_check(&wit, cptext, cplen, pub, wwhy,
                                                         sizeof wwhy)) != EXIT_OK) {
                if (rc == EXIT_INTEGRITY)
                    rc = verdict(false, "%s: %s", cp_file, wwhy);
            } else
                rc = verdict(true, "record %lld is in %s at tree size %lld, signed by %s", i,
                             cp.origin, sz, name);
        } else {
            /* --trust was given and cannot be applied: an unsigned root proves nothing */
            rc = tool_usage("%s holds for root %s, but a JSON root is not signed: give "
                            "--checkpoint FILE to check it against %s",
                            pos[0], root_b64, trust);
        }
    } else if (wit.n) {
        rc = tool_usage("%s is a consistency proof: it carries no checkpoint for --witness to "
                        "check",
                        pos[0]);
    } else {
        bool ok = ldg_proof_verify_consistency(pj.old_size, pj.new_size, pj.old_root, pj.new_root,
                                               h, pj.nhashes);
        rc = verdict(ok, "the tree of %lld entries %s a prefix of the tree of %lld",
                     (long long)pj.old_size, ok ? "is" : "is NOT", (long long)pj.new_size);
    }
    ldg_proof_json_clear(&pj);
out:
    free(text);
    free(leaf);
    free(cptext);
    tool_witnesses_free(&wit);
    return rc;
}
