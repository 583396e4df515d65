/*
 * cmd_verify.c - `ldg verify`: runs the library's full verification and
 * reports every finding with the record's seq and reason, then one summary
 * line.  Exit 0 clean, 1 on any integrity failure, 4 when it could not check.
 */
#include "tool.h"

#include "emit.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char verify_help[] =
    "usage: ldg verify [--jobs N] [--json] [--checkpoint FILE]... [--ledger DIR]\n"
    "                  [--witness W.pub]... [--quorum N]\n"
    "Re-derives everything from the stored bytes: encoding and canonical form, sequence,\n"
    "hash chain, host time order, every signature under the keys valid at that point,\n"
    "policy (with segregation of duties, check \"duties\"), observed heads, bodies against\n"
    "their commitments (a body erased by a signed erasure record is reported ERASED with\n"
    "who, when and why; a body missing without one is an integrity failure), the secondary\n"
    "indexes and the Merkle tree.  Signature checks run on N threads (default: all cores).\n"
    "Each --checkpoint FILE, a checkpoint kept outside the host, must be signed by the\n"
    "ledger's log key, and the ledger must have only grown since: fewer entries (rollback,\n"
    "truncation) or another root at that size (fork, rewrite) is an integrity failure.\n"
    "Exit 0 when clean, 1 on any integrity failure, 2 for an unreadable checkpoint file,\n"
    "4 if it could not check.\n"
    "--witness W.pub [--quorum N]: W.pub, a verifier-key line (ldg's, or a C2SP cosigner\n"
    "vkey of type 0x04).  Each --checkpoint must also carry valid C2SP\n"
    "tlog-cosignatures by N distinct witness keys among those given (default: all of them;\n"
    "a key given twice counts once, the log key never counts, a cosignature dated more than\n"
    "10 minutes ahead of this host's clock does not count); else a FAIL naming each witness\n"
    "that did not cosign validly (exit 1).  --quorum without --witness, or above the number\n"
    "of distinct witness keys: exit 2.\n"
    "--since FILE [--qa QA.pub]...: a checkpoint saved and cosigned by QA (below); the\n"
    "entries it covers are re-hashed against its root (no signature checks but the key\n"
    "records'), the rest checked in full.  It counts only with a valid cosignature by a key\n"
    "given with --qa or registered in the ledger with the role qa (not revoked at its size);\n"
    "without one, verify says so on stderr and checks everything in full.\n"
    "--save-checkpoint FILE [--as QA.key]: after a clean run, write the ledger's newest\n"
    "checkpoint (for the next --since), with --as cosigned by the QA key (C2SP\n"
    "tlog-cosignature), so the file itself says who verified it, and when.  Checked before\n"
    "the run: the ledger stores a checkpoint (exit 2 if none) that checks (exit 1), and FILE\n"
    "does not exist (exit 2) and can be created (exit 4); it is named only after a clean run.\n"
    "Every file and key given is read and checked before the run, bad input exiting at once.\n";

struct vctx {
    bool json;
    bool tty;
};

static void
on_finding(void *ctx, ldg_finding_level lvl, uint64_t seq, const char *check, const char *detail)
{
    struct vctx *c = ctx;
    const char *level = lvl == LDG_FINDING_FAIL     ? "FAIL"
                        : lvl == LDG_FINDING_ERASED ? "ERASED"
                        : lvl == LDG_FINDING_WARN   ? "WARN"
                                                    : "WITHHELD";
    if (c->tty)
        fputs("\r\033[K", stderr);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:o, s:s, s:o}", "finding", level, "seq",
                              seq == UINT64_MAX ? json_null() : json_integer((json_int_t)seq),
                              "check", check, "detail", tool_json_text(detail));
        char *s = tool_json_dumps(o);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else if (seq == UINT64_MAX) {
        printf("%-8s ledger  %s: %s\n", level, em_t(check), em_t(detail));
    } else {
        printf("%-8s #%-6llu %s: %s\n", level, (unsigned long long)seq, em_t(check), em_t(detail));
    }
}

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct vctx *c = ctx;
    if (c->tty)
        fprintf(stderr, "\rverify: %llu / %llu records", (unsigned long long)done,
                (unsigned long long)total);
}

int
cmd_verify(int argc, char **argv)
{
    const char *dir = NULL;
    struct vctx c = {false, isatty(2) == 1};
    ldg_verify_opts o = {.on_finding = on_finding, .on_progress = on_progress, .ctx = &c};
    const char *jobs = NULL, *cpfiles[64], *since = NULL, *save = NULL, *as = NULL,
               *passfile = NULL, *qafiles[16];
    size_t ncp = 0, nqa = 0;
    tool_witnesses wit = {0};
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir),
                              OPT_VAL("--jobs", &jobs),
                              OPT_FLAG("--json", &c.json),
                              OPT_MANY("--checkpoint", cpfiles, &ncp, 64),
                              OPT_VAL("--since", &since),
                              OPT_VAL("--save-checkpoint", &save),
                              OPT_VAL("--as", &as),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_MANY("--qa", qafiles, &nqa, 16),
                              OPT_WITNESSES(&wit),
                              OPT_END};
    int prc = opt_parse(argc, argv, 1, specs, verify_help, NULL, 0);
    if (prc != EXIT_OK || (prc = opt_jobs(jobs, &o.jobs)) != EXIT_OK)
        return prc < 0 ? EXIT_OK : prc;
    if (as && !save)
        return tool_usage("--as cosigns the checkpoint --save-checkpoint writes");
    if (nqa && !since)
        return tool_usage("--qa names a QA key whose cosignature makes --since count");
    if (wit.n && !ncp)
        return tool_usage("--witness names keys whose cosignatures each --checkpoint FILE needs");
    if ((prc = tool_witnesses_load(&wit)) != EXIT_OK) {
        tool_witnesses_free(&wit);
        return prc;
    }
    /* The QA key first: a passphrase prompt belongs before a long run, not after. */
    ldg_key *qa = NULL;
    if (as && (prc = tool_load_key(as, passfile, &qa)) != EXIT_OK)
        return prc;
    /* Checkpoints held outside the host: read them all before anything is checked. */
    char *cptext[64] = {0};
    size_t cplen[64];
    int rc = EXIT_OK;
    for (size_t i = 0; i < ncp && rc == EXIT_OK; i++)
        rc = tool_read_file(cpfiles[i], 65536, &cptext[i], &cplen[i]);
    char *sincetext = NULL, *qatext[16] = {0};
    size_t sincelen = 0;
    if (rc == EXIT_OK && since)
        rc = tool_read_file(since, 65536, &sincetext, &sincelen);
    for (size_t i = 0; i < nqa && rc == EXIT_OK; i++) {
        size_t ql;
        char qn[LDG_NAME_MAX + 1];
        uint8_t qp[LDG_PUB_BYTES];
        ldg_err qe;
        if ((rc = tool_read_file(qafiles[i], LDG_VKEY_MAX, &qatext[i], &ql)) == EXIT_OK &&
            ldg_vkey_parse(qatext[i], ql, qn, qp, &qe) != LDG_OK)
            rc = tool_usage("--qa %s: %s", qafiles[i], qe.msg);
    }
    /* Fail fast: the file --save-checkpoint writes is opened now, and named only when whole. */
    tool_out tmp = {.fd = -1};
    FILE *fo = NULL;
    if (rc == EXIT_OK && save)
        rc = tool_out_open(save, &tmp, &fo);
    ldg_ledger *l = NULL;
    ldg_verify_summary sum;
    ldg_err err;
    ldg_status s = LDG_OK;
    /* [STO-7] the file's structure is checked before LMDB reads it: damage is a finding */
    if (rc == EXIT_OK)
        s = ldg_ledger_open(tool_ledger_dir(dir), LDG_OPEN_READONLY | LDG_OPEN_CHECKED, &l, &err);
    if (s != LDG_OK && s != LDG_E_CORRUPT)
        rc = tool_fail(&err);
    /*
     * Fail fast: what needs no pass over the entries is checked before the run.  Each
     * held checkpoint is parsed and checked now [CKP-3][CKP-7] (a bad file: exit 2 at
     * once); what it finds is reported after the run's findings, as before.
     */
    ldg_status cpst[64];
    char cpwhy[64][600], cpwwhy[64][600];
    int cpwrc[64];
    for (size_t i = 0; i < ncp && rc == EXIT_OK && s == LDG_OK; i++) {
        ldg_checkpoint cp;
        cpst[i] = ldg_checkpoint_check(l, cptext[i], cplen[i], NULL, &cp, cpwhy[i], sizeof cpwhy[i],
                                       &err);
        if (cpst[i] == LDG_E_INPUT)
            rc = tool_usage("%s: %s", cpfiles[i], err.msg);
        else if (cpst[i] != LDG_OK)
            s = cpst[i];
        /* [CKP-7] the witness policy: N distinct witnesses saw this very checkpoint */
        cpwrc[i] =
            cpst[i] == LDG_OK && wit.n
                ? tool_witnesses_check(&wit, cptext[i], cplen[i], NULL, cpwwhy[i], sizeof cpwwhy[i])
                : EXIT_OK;
        if (cpwrc[i] != EXIT_OK && cpwrc[i] != EXIT_INTEGRITY)
            rc = cpwrc[i];
    }
    /* --save-checkpoint saves the newest stored checkpoint: there must be one, and it must check */
    if (rc == EXIT_OK && s == LDG_OK && save) {
        char *note = NULL, why[600];
        size_t nl;
        ldg_checkpoint cp;
        if (ldg_checkpoint_latest(l, &note, &nl, &err) != LDG_OK)
            rc = tool_error(tool_exit_code(err.status), "--save-checkpoint %s: %s", save, err.msg);
        else if (ldg_checkpoint_check(l, note, nl, NULL, &cp, why, sizeof why, &err) != LDG_OK)
            rc = tool_fail(&err);
        else if (why[0])
            rc = tool_error(EXIT_INTEGRITY, "the newest checkpoint does not check: %s", why);
        free(note);
    }
    char since_why[600] = "", qa_who[LDG_NAME_MAX + 1] = "";
    uint64_t since_size = 0;
    if (rc == EXIT_OK && since) {
        /* [VER-11] a checkpoint verified before proves the entries below its size */
        ldg_checkpoint cp;
        ldg_status cs = ldg_checkpoint_check(l, sincetext, sincelen, NULL, &cp, since_why,
                                             sizeof since_why, &err);
        if (cs == LDG_E_INPUT)
            rc = tool_usage("%s: %s", since, err.msg);
        else if (cs != LDG_OK)
            s = cs;
        else if (!since_why[0])
            since_size = cp.size;
    }
    if (rc == EXIT_OK && s == LDG_OK && since_size) {
        /* [CKP-5] verified means verified by QA: the checkpoint counts only if QA cosigned it */
        char why[600];
        int rewritten;
        s = ldg_verify_since(l, &o, sincetext, sincelen, (const char *const *)qatext, nqa, &sum,
                             qa_who, why, sizeof why, &rewritten, &err);
        if (s == LDG_E_INPUT)
            rc = tool_usage("%s: %s", since, err.msg);
        else if (s == LDG_OK && rewritten)
            snprintf(since_why, sizeof since_why, "%s", why);
        else if (s == LDG_OK && !qa_who[0])
            fprintf(stderr,
                    "ldg verify: %s does not count as verified: %s; verified everything in "
                    "full\n",
                    since, why);
        else if (s == LDG_OK)
            o.since_size = since_size;
    } else if (rc == EXIT_OK && s == LDG_OK) {
        s = ldg_verify_run(l, &o, &sum, &err);
    }
    if (rc == EXIT_OK && s == LDG_OK && since_why[0]) {
        char detail[800];
        snprintf(detail, sizeof detail, "%s: %s (verified everything in full)", since, since_why);
        on_finding(&c, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint", detail);
        sum.failures++;
    }
    if (c.tty)
        fputs("\r\033[K", stderr);
    /* [CKP-3] each held checkpoint: signed by the log key, and the ledger only grew. */
    for (size_t i = 0; i < ncp && rc == EXIT_OK && s == LDG_OK; i++) {
        char detail[800];
        if (cpwhy[i][0]) {
            snprintf(detail, sizeof detail, "%s: %.599s", cpfiles[i], cpwhy[i]);
            on_finding(&c, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint", detail);
            sum.failures++;
        }
        if (cpwrc[i] == EXIT_INTEGRITY) {
            snprintf(detail, sizeof detail, "%s: %.599s", cpfiles[i], cpwwhy[i]);
            on_finding(&c, LDG_FINDING_FAIL, UINT64_MAX, "witness", detail);
            sum.failures++;
        }
    }
    /* Only a clean ledger's checkpoint is worth keeping as the base of the next --since. */
    if (rc == EXIT_OK && s == LDG_OK && save && sum.failures == 0) {
        char *note = NULL, *cosigned = NULL;
        size_t nl;
        ldg_checkpoint cp;
        char why[600];
        if (ldg_checkpoint_latest(l, &note, &nl, &err) != LDG_OK) {
            rc = tool_fail(&err);
        } else if (ldg_checkpoint_check(l, note, nl, NULL, &cp, why, sizeof why, &err) != LDG_OK) {
            rc = tool_fail(&err);
        } else if (why[0]) {
            rc = tool_error(EXIT_INTEGRITY, "the newest checkpoint does not check: %s", why);
        } else if (cp.size > sum.entries ||
                   (cp.size == sum.entries && memcmp(cp.root, sum.root, LDG_HASH_BYTES) != 0)) {
            /* Made while this run read its snapshot: it covers entries nobody verified here. */
            rc = tool_error(EXIT_OPER,
                            "a checkpoint of %llu entries was made during this run of %llu; run "
                            "verify again to save one",
                            (unsigned long long)cp.size, (unsigned long long)sum.entries);
        } else if (qa) {
            /* [CKP-5] the file itself says who verified this tree head, and when */
            if (ldg_checkpoint_cosign(note, nl, qa, (uint64_t)time(NULL), &cosigned, &nl, &err) !=
                LDG_OK)
                rc = tool_fail(&err);
            free(note);
            note = cosigned;
        }
        if (rc == EXIT_OK &&
            (fwrite(note, 1, nl, fo) != nl || fflush(fo) != 0 || fsync(fileno(fo)) != 0))
            rc = tool_error(EXIT_OPER, "%s: write failed: %s", save, strerror(errno));
        if (rc == EXIT_OK)
            rc = tool_out_publish(&tmp, save);
        free(note);
    }
    if (fo) /* not published: the file beside it goes */
        rc = tool_out_close(&tmp, fo, save, rc);
    ldg_ledger_close(l);
    ldg_key_free(qa);
    for (size_t i = 0; i < ncp; i++)
        free(cptext[i]);
    for (size_t i = 0; i < nqa; i++)
        free(qatext[i]);
    free(sincetext);
    tool_witnesses_free(&wit);
    if (rc != EXIT_OK)
        return rc;
    if (s == LDG_E_CORRUPT) {
        if (c.json) {
            json_t *j =
                json_pack("{s:s, s:o, s:o}", "verdict", "failed", "ledger",
                          tool_json_text(tool_ledger_dir(dir)), "damaged", tool_json_text(err.msg));
            char *t = tool_json_dumps(j);
            if (t)
                puts(t);
            free(t);
            json_decref(j);
        } else {
            printf("FAILED: %s: %s\n", em_t(tool_ledger_dir(dir)), em_t(err.msg));
        }
        return tool_error(EXIT_INTEGRITY, "INTEGRITY: %s: %s", tool_ledger_dir(dir), err.msg);
    }
    if (s != LDG_OK)
        return tool_error(EXIT_OPER, "could not check %s: %s", tool_ledger_dir(dir), err.msg);
    char head[64], root[64];
    tool_b64(sum.head, LDG_HASH_BYTES, head, sizeof head);
    tool_b64(sum.root, LDG_HASH_BYTES, root, sizeof root);
    bool ok = sum.failures == 0;
    if (c.json) {
        json_t *j =
            json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "verdict",
                      ok ? "ok" : "failed", "ledger", tool_json_text(tool_ledger_dir(dir)),
                      "entries", (json_int_t)sum.entries, "signatures", (json_int_t)sum.signatures,
                      "failures", (json_int_t)sum.failures, "withheld", (json_int_t)sum.withheld,
                      "erased", (json_int_t)sum.erased, "head", head, "root", root);
        /* [VER-11] how many entries were re-hashed against the --since checkpoint only */
        if (j && o.since_size) {
            json_object_set_new(j, "rehashed", json_integer((json_int_t)o.since_size));
            json_object_set_new(j, "cosigned_by", tool_json_text(qa_who));
        }
        if (j)
            json_object_set_new(j, "warnings", json_integer((json_int_t)sum.warnings));
        char *t = tool_json_dumps(j);
        if (t)
            puts(t);
        free(t);
        json_decref(j);
    } else {
        printf("%s: %s: %llu entries, %llu signatures checked, %llu failures, %llu bodies "
               "erased; head %s; tree root %s",
               ok ? "OK" : "FAILED", em_t(tool_ledger_dir(dir)), (unsigned long long)sum.entries,
               (unsigned long long)sum.signatures, (unsigned long long)sum.failures,
               (unsigned long long)sum.erased, head, root);
        if (o.since_size) {
            char *safe = tool_printable(since);
            printf("; the first %llu re-hashed against %s (their signatures, bodies and "
                   "indexes were checked by the verify that saved it, cosigned by QA key %s)",
                   (unsigned long long)o.since_size, safe ? safe : "the --since checkpoint",
                   em_t(qa_who));
            free(safe);
        }
        if (sum.warnings)
            printf("; %llu warnings (WARN above: not failures, but QA must see them)",
                   (unsigned long long)sum.warnings);
        putchar('\n');
    }
    return ok ? EXIT_OK : EXIT_INTEGRITY;
}
