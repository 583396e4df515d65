/*
 * cmd_erase.c - `ldg erase SEQ`: signs an erasure record [POL-11] (one ref,
 * the record whose body it erases; a reason; the legal basis in its body)
 * and appends it; the library removes the body and its salt in the same
 * write transaction, all or nothing.  Statements signed elsewhere go through
 * `ldg append --signed` the same way.
 */
#include "tool.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char erase_help[] =
    "usage: ldg erase SEQ --as KEY --reason TEXT --legal-basis TEXT [--ledger DIR]\n"
    "                 [--passphrase-file F]\n"
    "Erases the body of record SEQ for data protection (GDPR Art. 17, ICH E6(R3) 4.2.2): signs\n"
    "an erasure record by KEY (role eraser) naming SEQ, with the reason and, in its body,\n"
    "{\"legal_basis\": TEXT}, and appends it; the body and its salt leave the ledger in the same\n"
    "transaction.  The entry, its signature and every proof stay; ldg verify reports the body\n"
    "ERASED with who, when and why.  Only a user record's body can be erased, once; the\n"
    "erasure carries the record's study.  Prints the erasure's seq and leaf hash.\n"
    "Exit: 0 erased, 2 bad input (no such SEQ, missing --reason or --legal-basis), 3 refused\n"
    "by policy (no eraser role, system or erasure record, body already gone), 4 operational;\n"
    "nothing is written unless everything is.\n";

int
cmd_erase(int argc, char **argv)
{
    const char *as = NULL, *reason = NULL, *basis = NULL, *dir = NULL, *passfile = NULL,
               *seqs = NULL;
    const opt_spec specs[] = {OPT_VAL("--as", &as),
                              OPT_VAL("--reason", &reason),
                              OPT_VAL("--legal-basis", &basis),
                              OPT_VAL("--ledger", &dir),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, erase_help, &seqs, 1);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    uint64_t seq;
    if (!seqs || !parse_u64(seqs, &seq))
        return tool_usage("give the SEQ of the record whose body to erase");
    if (!as)
        return tool_usage("--as KEY is required (a key with the eraser role)");
    if (!reason || !*reason)
        return tool_usage("--reason TEXT is required: why the body is erased");
    if (!basis || !*basis)
        return tool_usage("--legal-basis TEXT is required, e.g. \"GDPR Art. 17(1)(b)\"");
    ldg_ledger *l;
    if ((rc = tool_open_ledger(dir, 0, &l)) != EXIT_OK)
        return rc;
    ldg_record *r = NULL;
    ldg_key *k = NULL;
    ldg_signed *s = NULL;
    char *body = NULL;
    ldg_err err;
    if (ldg_record_get(l, seq, &r, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    if (!r->study[0]) {
        /* [POL-11] the erasure statement would need the record's study; say why instead */
        rc = tool_error(EXIT_POLICY,
                        "entry %llu is a %s record: only a user record's body can be erased",
                        (unsigned long long)seq, r->kind);
        goto out;
    }
    char subject[64];
    snprintf(subject, sizeof subject, "Erasure of the body of record %llu",
             (unsigned long long)seq);
    json_t *b = json_pack("{s:s, s:I, s:s}", "legal_basis", basis, "erases", (json_int_t)seq,
                          "subject", subject);
    body = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(b);
    if (!body) {
        rc = tool_error(EXIT_OPER, "out of memory");
        goto out;
    }
    const uint8_t(*refs)[LDG_HASH_BYTES] = (const uint8_t(*)[LDG_HASH_BYTES])r->leaf_hash;
    ldg_fields f = {.kind = "erasure",
                    .study = r->study,
                    .nrefs = 1,
                    .refs = refs,
                    .reason = reason,
                    .body = body,
                    .body_len = strlen(body)};
    char origin[LDG_TEXT_MAX + 1];
    if ((rc = tool_bind(l, &f, true, origin)) != EXIT_OK ||
        (rc = tool_load_key(as, passfile, &k)) != EXIT_OK)
        goto out;
    ldg_appended a;
    if (ldg_sign(k, &f, &s, &err) != LDG_OK || ldg_append(l, &s, 1, &a, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    char b64[64];
    tool_b64(a.leaf_hash, LDG_HASH_BYTES, b64, sizeof b64);
    printf("%llu %s\n", (unsigned long long)a.seq, b64);
out:
    ldg_signed_free(s);
    ldg_key_free(k);
    ldg_record_free(r);
    free(body);
    ldg_ledger_close(l);
    return rc;
}
