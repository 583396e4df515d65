/*
 * cmd_export.c - `ldg export`: inspection-ready copies of the trail
 * (spec/export.md [EXP-1..EXP-12]).
 *
 * Every export is tied to a checkpoint signed by the ledger's log key (the
 * newest stored one, or a fresh one with --as LOG.key) that covers every
 * exported record.  On one read snapshot it recomputes that checkpoint's
 * tree head from every stored entry, checks the signature of every exported
 * record (or, with --verified QA.txt, takes the signatures of the entries a
 * full verify accepted from that checkpoint, re-hashing them against its
 * root [VER-11]) and every body against its commitment.  What does not
 * check is written as such in the export and said on stderr, and the exit
 * status is 1.  Output goes to a temporary file renamed into place at the
 * end: a failed export leaves nothing behind, nor, where the file system
 * has O_TMPFILE, does a killed one.  The JSONL, CSV and bundle formats are
 * written by the library (ldg_export_writer, ldg_bundle_writer); this file
 * keeps the options, the output file, progress and the HTML report.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat AT_EMPTY_PATH */
#include "emit.h"
#include "export_html.h"
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char export_help[] =
    "usage: ldg export --format jsonl|csv|html|bundle [-o OUT] [--study S] [--kind K]\n"
    "                  [--actor A] [--since T] [--until T] [--seq A..B] [--withhold-bodies]\n"
    "                  [--verified QA.txt [--qa QA.pub]...] [--as LOG.key] [--cosign KEY]\n"
    "                  [--jobs N] [--ledger DIR] [--exporter NAME]\n"
    "                  [--checkpoint COSIGNED.txt]\n"
    "Exports the records that match the filters, in sequence order, tied to the newest\n"
    "checkpoint (--as LOG.key makes a fresh one first); every record must be covered by it.\n"
    "  jsonl  one JSON object per record: times, kind, study, actor and roles, meaning,\n"
    "         refs, body (or a withheld marker), hashes, signature and its status\n"
    "  csv    RFC 4180, UTF-8, a header row, one row per record; cells of user text that\n"
    "         begin with = + - @ are neutralised with a leading '\n"
    "JSONL and CSV show the ledger's time of record first, then the claimed time and its\n"
    "offset, claimed - ledger in seconds, and back-dated / forward-dated beyond the\n"
    "tolerance of the study's plan in force (24 h without one); leaf hashes in hex.\n"
    "  html   one self-contained file for screen and print: the verdict and checkpoint,\n"
    "         activity over time and per organisation, threads with response times\n"
    "         against the turnaround of the communication plan in force (a signed plan\n"
    "         record, never an option), and every record with its signature\n"
    "  bundle a tar to carry away: the records with their proofs, the key records, the\n"
    "         checkpoint, report, CSV, JSONL and a manifest, whose SHA-256s the log key\n"
    "         signs in manifest.sig: needs --as LOG.key; --cosign KEY (a key registered in\n"
    "         the ledger) adds the exporter's own signature, and verify-bundle names them\n"
    "Records are selected by decoding the entries, and signers named from the key records\n"
    "replayed from them: the ledger's indexes and key database decide nothing here.\n"
    "--since/--until: ISO 8601 on the host time (inclusive); --seq A..B, A.. or ..B.\n"
    "--study also keeps the key records (key.add, key.revoke, genesis) of everyone who\n"
    "signed in the study's records, and of the admins who signed those.\n"
    "--withhold-bodies leaves bodies out (marked withheld); entries and hashes stay.\n"
    "--verified QA.txt: a checkpoint saved by `ldg verify --save-checkpoint --as QA.key`;\n"
    "the signatures it covers are not checked again, the entries are re-hashed against it;\n"
    "if they do not give its root, every signature is checked and the export exits 1.\n"
    "It must carry a valid cosignature by a key given with --qa QA.pub, or by a key the\n"
    "ledger registers with the role qa (not revoked at its size); else exit 2.\n"
    "--checkpoint FILE: tie the export to FILE, a checkpoint of this ledger signed by its\n"
    "log key (as `verify --checkpoint` checks it; its root is recomputed from the entries),\n"
    "instead of the newest stored one: records past its size are left out.  A bundle keeps\n"
    "FILE verbatim as checkpoint.txt, with the witnesses' cosignatures it carries, for\n"
    "`verify-bundle --witness`.  The tie otherwise keeps the cosignatures stored with it.\n"
    "Exit: 0 exported and everything checked; 1 exported, but something did not check\n"
    "(said on stderr and in the export); 2 bad input; 4 operational error.  The keys, the\n"
    "files named and OUT (created beside its name) are read, checked and opened before\n"
    "--as signs and before any entry is read: a bad one exits at once, nothing written.\n";

enum format { FMT_JSONL, FMT_CSV, FMT_HTML, FMT_BUNDLE };

typedef struct xctx {
    /* the command's: kept when the export is written again */
    enum format fmt;
    bool withhold, tty;
    uint64_t proven; /* signatures below: vouched for by --verified */
    /* from em on, one writing's: export_restart clears them all (XCTX_PASS) */
    emit em;              /* the output */
    uint64_t records;     /* exported */
    uint64_t proven_rows; /* of which LDG_SIG_PROVEN */
    uint64_t bad_sigs;    /* INVALID signatures exported */
    uint64_t mismatch;    /* bodies that do not match their commitment, or missing [VER-8] */
    uint64_t missing;     /* of which missing without an erasure record */
    uint64_t first_bad;
    ldg_export_writer *w;  /* jsonl, csv: the library's writer [EXP-5][EXP-6] */
    ldg_bundle_writer *bw; /* bundle [EXP-8] */
    ldg_err werr;          /* why a writer stopped */
    bool wfailed;
    html_ctx *html;
    emit *spool; /* HTML: the record table, written before the summary above it */
} xctx;
#define XCTX_PASS offsetof(xctx, em)

/* ldg_write_fn into an emit: the output file (synced early as it grows) or standard output. */
static int
write_emit(void *ctx, const void *p, size_t n)
{
    emit *e = ctx;
    em_raw(e, p, n);
    return e->failed;
}

static int
one_record(void *ctx, const ldg_record *r)
{
    xctx *x = ctx;
    x->records++;
    x->proven_rows += r->sig_state == LDG_SIG_PROVEN;
    /* [VER-8] a body missing without an erasure record is a failure, as an altered one */
    bool bad_body = r->body_state == LDG_BODY_MISMATCH || r->body_state == LDG_BODY_WITHHELD;
    if (r->sig_state == LDG_SIG_INVALID || bad_body) {
        if (!x->bad_sigs && !x->mismatch)
            x->first_bad = r->seq;
        x->bad_sigs += r->sig_state == LDG_SIG_INVALID;
        x->mismatch += bad_body;
        x->missing += r->body_state == LDG_BODY_WITHHELD;
    }
    if (x->w) {
        x->wfailed = ldg_export_writer_record(x->w, r, &x->werr) != LDG_OK;
    } else if (x->fmt == FMT_HTML) {
        html_row(x->html, x->spool, r, x->proven);
    } else {
        x->wfailed = ldg_bundle_writer_record(x->bw, r, &x->werr) != LDG_OK;
        html_row(x->html, x->spool, r, x->proven);
    }
    /* a failed write stops the export */
    return x->em.failed || (x->spool && x->spool->failed) || x->wfailed;
}

static void
progress(void *ctx, uint64_t done, uint64_t total)
{
    xctx *x = ctx;
    if (x->tty)
        fprintf(stderr, "\rexport: %llu / %llu entries", (unsigned long long)done,
                (unsigned long long)total);
}

/* "A..B", "A.." or "..B" */
static bool
parse_range(const char *s, ldg_filter *f)
{
    const char *dots = strstr(s, "..");
    if (!dots)
        return false;
    char a[24] = "", b[24] = "";
    size_t al = (size_t)(dots - s), bl = strlen(dots + 2);
    if (al >= sizeof a || bl >= sizeof b || (!al && !bl))
        return false;
    memcpy(a, s, al);
    memcpy(b, dots + 2, bl + 1);
    f->seq_from = 0;
    f->seq_to = UINT64_MAX;
    if ((al && !parse_u64(a, &f->seq_from)) || (bl && !parse_u64(b, &f->seq_to)) ||
        f->seq_from > f->seq_to)
        return false;
    f->has_seq = 1;
    return true;
}

typedef struct known {
    uint8_t pub[LDG_PUB_BYTES];
    const char *id;
    bool found;
} known;

static int
known_key(void *ctx, const ldg_keyinfo *k)
{
    known *kn = ctx;
    kn->found |= memcmp(k->pub, kn->pub, LDG_PUB_BYTES) == 0 && strcmp(k->id, kn->id) == 0;
    return 0;
}

/* k among the keys the ledger's registry lists, active or revoked; err->status on failure. */
static bool
key_ever_registered(ldg_ledger *l, const ldg_key *k, ldg_err *err)
{
    known kn = {.id = ldg_key_name(k)};
    ldg_key_public(k, kn.pub);
    err->status = LDG_OK;
    if (ldg_keys_each(l, known_key, &kn, err) != LDG_OK)
        return false;
    return kn.found;
}

/*
 * The signature lines of a signed note (after its first blank line, each
 * "\u2014 name signature"): one is the log key's, so with fewer than two it
 * carries no cosignature of anyone, which needs no pass over the entries.
 */
static size_t
note_signatures(const char *note, size_t len)
{
    const char *end = note + len, *p = note, *blank = NULL;
    for (; p + 1 < end && !blank; p++)
        if (p[0] == '\n' && p[1] == '\n')
            blank = p + 2;
    size_t n = 0;
    for (p = blank; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if ((size_t)(end - p) > 4 && memcmp(p, "\xe2\x80\x94 ", 4) == 0)
            n++;
        p = nl ? nl + 1 : end;
    }
    return n;
}

/*
 * [EXP-1] The newest stored checkpoint as the tie (no --checkpoint FILE): it
 * must check and, unless --as just made it (fresh), cover every entry the
 * export may hold.  *note is malloc'd.
 */
static int
tie_newest(ldg_ledger *l, bool fresh, const ldg_filter *f, char **note, size_t *notelen,
           ldg_checkpoint *tie)
{
    ldg_err err;
    char why[600];
    uint64_t size;
    uint8_t head[LDG_HASH_BYTES];
    ldg_status s = ldg_checkpoint_latest(l, note, notelen, &err);
    if (s == LDG_E_NOTFOUND)
        return tool_usage("the ledger has no checkpoint to tie the export to: add --as LOG.key "
                          "(or run ldg checkpoint --as LOG.key)");
    if (s != LDG_OK ||
        ldg_checkpoint_check(l, *note, *notelen, NULL, tie, why, sizeof why, &err) != LDG_OK)
        return tool_fail(&err);
    if (why[0])
        return tool_error(EXIT_INTEGRITY, "the ledger's newest checkpoint does not check: %s", why);
    if (ldg_ledger_head(l, &size, head, &err) != LDG_OK)
        return tool_fail(&err);
    /* With --as the fresh checkpoint is the tie: records appended since it are not
       part of the export (they are cut off below), not a reason to refuse it. */
    if (tie->size < size && !fresh && !(f->has_seq && f->seq_to < tie->size))
        return tool_usage("the newest checkpoint covers %llu of the %llu entries: add --as "
                          "LOG.key for a fresh one, or export --seq ..%llu",
                          (unsigned long long)tie->size, (unsigned long long)size,
                          (unsigned long long)(tie->size ? tie->size - 1 : 0));
    return EXIT_OK;
}

/*
 * [EXP-2] Back to before the first record: the rows written so far (some
 * marked proven by a head that did not check) are dropped from the output
 * file, not yet named, and the writers and the report start again.
 */
static int
export_restart(xctx *x, FILE *fo, const char *out, FILE **spool, emit **spool_em)
{
    em_async_end(&x->em);
    ldg_export_writer_free(x->w);
    ldg_bundle_writer_free(x->bw);
    html_free(x->html);
    if (*spool)
        fclose(*spool);
    free(*spool_em);
    *spool = NULL;
    *spool_em = NULL;
    memset((char *)x + XCTX_PASS, 0, sizeof *x - XCTX_PASS);
    if (fflush(fo) != 0 || ftruncate(fileno(fo), 0) != 0 || fseeko(fo, 0, SEEK_SET) != 0)
        return tool_error(EXIT_OPER, "%s: cannot start it again: %s", out, strerror(errno));
    return EXIT_OK;
}

int
cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *format = NULL, *out = NULL, *since = NULL, *until = NULL, *seqs = NULL,
               *verified = NULL, *as = NULL, *passfile = NULL, *jobs = NULL, *turnaround = NULL,
               *exporter = NULL, *cosign = NULL, *qafiles[16], *tiefile = NULL;
    size_t nqa = 0;
    bool withhold = false;
    ldg_filter f = {0};
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir),
                              OPT_VAL("--format", &format),
                              OPT_VAL("-o", &out),
                              OPT_VAL("--output", &out),
                              OPT_VAL("--study", &f.study),
                              OPT_VAL("--kind", &f.kind),
                              OPT_VAL("--actor", &f.actor),
                              OPT_VAL("--since", &since),
                              OPT_VAL("--until", &until),
                              OPT_VAL("--seq", &seqs),
                              OPT_FLAG("--withhold-bodies", &withhold),
                              OPT_VAL("--verified", &verified),
                              OPT_MANY("--qa", qafiles, &nqa, 16),
                              OPT_VAL("--as", &as),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_VAL("--jobs", &jobs),
                              OPT_VAL("--turnaround", &turnaround),
                              OPT_VAL("--exporter", &exporter),
                              OPT_VAL("--cosign", &cosign),
                              OPT_VAL("--checkpoint", &tiefile),
                              OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, export_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    xctx *x = calloc(1, sizeof *x);
    if (!x)
        return tool_error(EXIT_OPER, "out of memory");
    x->withhold = withhold;
    x->tty = isatty(2) == 1;
    ldg_check_opts co = {.on_progress = progress, .progress_ctx = x};
    ldg_err err;
    if (!format)
        rc = tool_usage("--format is required: jsonl, csv, html or bundle");
    else if (strcmp(format, "jsonl") == 0)
        x->fmt = FMT_JSONL;
    else if (strcmp(format, "csv") == 0)
        x->fmt = FMT_CSV;
    else if (strcmp(format, "html") == 0)
        x->fmt = FMT_HTML;
    else if (strcmp(format, "bundle") == 0)
        x->fmt = FMT_BUNDLE;
    else
        rc = tool_usage("--format %s: expected jsonl, csv, html or bundle", format);
    if (rc == EXIT_OK && x->fmt == FMT_BUNDLE && !out && isatty(1))
        rc = tool_usage("--format bundle writes a tar file: give -o OUT or redirect the output");
    if (rc == EXIT_OK && x->fmt == FMT_BUNDLE && !as)
        rc = tool_usage(
            "--format bundle: the log key signs the bundle's manifest: add --as LOG.key");
    if (rc == EXIT_OK && cosign && x->fmt != FMT_BUNDLE)
        rc = tool_usage("--cosign: only a bundle is cosigned (--format bundle)");
    ldg_key *cok = NULL;
    if (rc == EXIT_OK && cosign)
        rc = tool_load_key(cosign, passfile, &cok);
    ldg_key *logkey = NULL; /* --as with a bundle: signs manifest.sig at the end */
    if (rc == EXIT_OK && turnaround)
        rc = tool_usage("--turnaround is gone: a thread's turnaround is the one the study's "
                        "communication plan (a signed plan record) sets, never an export option");
    if (rc == EXIT_OK && jobs)
        rc = opt_jobs(jobs, &co.jobs);
    if (rc == EXIT_OK && seqs && !parse_range(seqs, &f))
        rc = tool_usage("--seq %s: expected A..B, A.. or ..B with A <= B", seqs);
    if (rc == EXIT_OK && since) {
        if (ldg_time_parse(since, &f.since_ns, NULL, &err) != LDG_OK)
            rc = tool_usage("--since: %s", err.msg);
        f.has_since = 1;
    }
    if (rc == EXIT_OK && until) {
        if (ldg_time_parse(until, &f.until_ns, NULL, &err) != LDG_OK)
            rc = tool_usage("--until: %s", err.msg);
        else if (strlen(until) == 10) /* a date alone means the whole day */
            f.until_ns += 86400LL * 1000000000LL - 1;
        f.has_until = 1;
    }
    char *qa = NULL, *qatext[16] = {0};
    size_t qalen = 0;
    if (rc == EXIT_OK && nqa && !verified)
        rc = tool_usage("--qa names a QA key whose cosignature makes --verified count");
    if (rc == EXIT_OK && verified)
        rc = tool_read_file(verified, 65536, &qa, &qalen);
    for (size_t i = 0; i < nqa && rc == EXIT_OK; i++) {
        size_t ql;
        char qn[LDG_NAME_MAX + 1];
        uint8_t qp[LDG_PUB_BYTES];
        if ((rc = tool_read_file(qafiles[i], LDG_VKEY_MAX, &qatext[i], &ql)) == EXIT_OK &&
            ldg_vkey_parse(qatext[i], ql, qn, qp, &err) != LDG_OK)
            rc = tool_usage("--qa %s: %s", qafiles[i], err.msg);
    }
    /*
     * Fail fast (SECURITY.md): the keys, the files named and the output are read, checked
     * and opened before the long part (the check before signing of --as, the passes over
     * the entries), so that a bad one is said at once and nothing is written.
     */
    if (rc == EXIT_OK && as)
        rc = tool_load_key(as, passfile, &logkey);
    char *note = NULL;
    size_t notelen = 0;
    if (rc == EXIT_OK && tiefile)
        rc = tool_read_file(tiefile, 65536, &note, &notelen);
    tool_out tmp = {.fd = -1};
    FILE *fo = stdout;
    if (rc == EXIT_OK && out)
        rc = tool_out_open(out, &tmp, &fo);
    ldg_ledger *l = NULL;
    /* [STO-7] the file's structure is checked before LMDB reads it: damage is a finding */
    if (rc == EXIT_OK &&
        ldg_ledger_open(tool_ledger_dir(dir), (as ? 0 : LDG_OPEN_READONLY) | LDG_OPEN_CHECKED, &l,
                        &err) != LDG_OK)
        rc = err.status == LDG_E_CORRUPT
                 ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s: %s", tool_ledger_dir(dir), err.msg)
                 : tool_fail(&err);
    /*
     * Fail fast: a --cosign key the ledger never registered.  The keys
     * database only refuses here, early; whether the key was registered
     * and not revoked below the checkpoint is decided from the key records
     * the bundle replays (below), as before.
     */
    if (rc == EXIT_OK && cok && !key_ever_registered(l, cok, &err))
        rc = err.status != LDG_OK ? tool_fail(&err)
                                  : tool_error(EXIT_POLICY,
                                               "--cosign %s: key %s is not registered in the "
                                               "ledger (its key registry; ldg verify checks it)",
                                               cosign, ldg_key_name(cok));
    /* [EXP-1] The checkpoint the export is tied to: signed by the log key, covering it all. */
    ldg_checkpoint tie = {0}, qcp = {0};
    char why[600] = "";
    if (rc == EXIT_OK && tiefile) {
        /* [EXP-1] a checkpoint the caller holds (cosigned by witnesses) */
        ldg_status cs = ldg_checkpoint_check(l, note, notelen, NULL, &tie, why, sizeof why, &err);
        if (cs == LDG_E_INPUT)
            rc = tool_usage("--checkpoint %s: %s", tiefile, err.msg);
        else if (cs != LDG_OK)
            rc = tool_fail(&err);
        else if (why[0])
            rc = tool_error(EXIT_INTEGRITY, "--checkpoint %s does not check: %s", tiefile, why);
    }
    /* without --as the tie is the newest stored: checked before the QA run below */
    if (rc == EXIT_OK && !tiefile && !as)
        rc = tie_newest(l, false, &f, &note, &notelen, &tie);
    if (rc == EXIT_OK && qa) {
        if (ldg_checkpoint_check(l, qa, qalen, NULL, &qcp, why, sizeof why, &err) != LDG_OK)
            rc = err.status == LDG_E_INPUT ? tool_usage("%s: %s", verified, err.msg)
                                           : tool_fail(&err);
        else if (why[0])
            rc = tool_error(EXIT_INTEGRITY, "%s: %s", verified, why);
        else if (note_signatures(qa, qalen) < 2)
            rc = tool_usage("%s: the checkpoint carries no cosignature of a QA key: it is "
                            "signed by the log key alone (save it with ldg verify "
                            "--save-checkpoint FILE --as QA.key)",
                            verified);
    }
    if (rc == EXIT_OK && qa) {
        /* [CKP-5][EXP-2] "verified" means verified by QA: a cosignature by a QA key */
        char who[LDG_NAME_MAX + 1];
        uint64_t when;
        if (ldg_checkpoint_qa(l, qa, qalen, (const char *const *)qatext, nqa, co.jobs, who, &when,
                              why, sizeof why, &err) != LDG_OK)
            rc = err.status == LDG_E_INPUT ? tool_usage("%s: %s", verified, err.msg)
                 : err.status == LDG_E_CORRUPT
                     ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s: %s", verified, err.msg)
                     : tool_fail(&err);
        else if (!who[0])
            rc = tool_usage("%s: the checkpoint carries no cosignature of a QA key: %s", verified,
                            why);
        else
            co.proven_size = x->proven = qcp.size;
    }
    /* --as: a fresh checkpoint of the whole ledger, stored, to tie the export to */
    if (rc == EXIT_OK && as) {
        char *made = NULL;
        size_t len;
        /* [CKP-2] signed only after the check before signing found nothing: else exit 1 */
        if (ldg_checkpoint_make(l, logkey, &made, &len, &err) != LDG_OK)
            rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err.msg)
                                             : tool_fail(&err);
        free(made);
    }
    if (x->fmt != FMT_BUNDLE) { /* only a bundle's manifest.sig needs it at the end */
        ldg_key_free(logkey);
        logkey = NULL;
    }
    if (rc == EXIT_OK && !tiefile && as) /* the one --as just made */
        rc = tie_newest(l, true, &f, &note, &notelen, &tie);
    /* [EXP-12] a study's export keeps the key records of the people who signed in it */
    f.keep_signer_keys = f.study != NULL;
    /* Records appended while this runs are past the checkpoint: never part of the export. */
    if (rc == EXIT_OK && (!f.has_seq || f.seq_to >= tie.size)) {
        if (!f.has_seq)
            f.seq_from = 0;
        f.has_seq = 1;
        f.seq_to = tie.size - 1;
    }
    FILE *spool = NULL;
    emit *spool_em = NULL;
    ldg_export_opts eo = {.withhold = withhold, .proven = x->proven};
    char cosigner_who[420] = "";
    uint8_t roots[2][LDG_HASH_BYTES];
    bool root_ok, proven_ok;
    /*
     * [EXP-2] Rows below QA's size say "proven" only if QA's head checks.
     * To a file, the heads may come from the rows' own leaves (proven_late:
     * each entry hashed once); if QA's then does not check, the file is
     * written again from here, every signature checked, before it is named.
     */
    co.proven_root = qcp.root;
    co.proven_late = out != NULL;
write:
    if (rc == EXIT_OK && x->fmt == FMT_BUNDLE) {
        /* [EXP-8] the key records below the checkpoint go in, replayed from the entries */
        if (ldg_bundle_writer_new(l, tie.size, &eo, &x->bw, &err) != LDG_OK)
            rc = tool_fail(&err);
        else if (cok &&
                 !ldg_bundle_writer_registered(x->bw, cok, cosigner_who, sizeof cosigner_who))
            rc = tool_error(EXIT_POLICY,
                            "--cosign %s: key %s is not registered in the ledger below the "
                            "checkpoint, or was revoked",
                            cosign, ldg_key_name(cok));
    }
    if (rc == EXIT_OK && (x->fmt == FMT_HTML || x->fmt == FMT_BUNDLE)) {
        /* pass 1: what the summary above the record table needs */
        if (!(x->html = html_new(withhold)) || !(spool = tmpfile()) ||
            !(spool_em = malloc(sizeof *spool_em)))
            rc = tool_error(EXIT_OPER, "cannot start the report: %s", strerror(errno));
        else if (ldg_log_replayed(l, &f, html_collect, x->html, &err) != LDG_OK)
            rc = tool_fail(&err);
        if (rc == EXIT_OK) {
            em_init(spool_em, spool);
            x->spool = spool_em;
        }
    }
    if (rc == EXIT_OK) {
        em_init(&x->em, fo);
        if ((x->fmt == FMT_JSONL || x->fmt == FMT_CSV) &&
            ldg_export_writer_new(x->fmt == FMT_CSV ? LDG_EXPORT_CSV : LDG_EXPORT_JSONL, &eo,
                                  write_emit, &x->em, &x->w, &err) != LDG_OK)
            rc = tool_fail(&err);
        /* rows are written on a thread of their own while the next are built */
        if (rc == EXIT_OK && x->w)
            em_async(&x->em);
    }
    if (rc == EXIT_OK) {
        co.root_size[0] = tie.size;
        co.root_size[1] = co.proven_size;
        co.writer = x->w; /* JSONL, CSV: rows formatted on every core, written in order */
        if (ldg_log_checked(l, &f, &co, one_record, x, roots, &err) != LDG_OK)
            rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err.msg)
                                             : tool_fail(&err); /* a damaged entry: exit 1 */
        if (x->tty)
            fputs("\r\033[K", stderr);
    }
    root_ok = rc == EXIT_OK && memcmp(roots[0], tie.root, LDG_HASH_BYTES) == 0;
    proven_ok =
        !co.proven_size || (rc == EXIT_OK && memcmp(roots[1], qcp.root, LDG_HASH_BYTES) == 0);
    if (rc == EXIT_OK && !proven_ok && x->proven_rows && out) { /* the heads were folded */
        fprintf(stderr,
                "ldg export: the entries do not give the root of %s: writing the export again, "
                "checking every signature\n",
                verified);
        co.proven_late = 0;
        if ((rc = export_restart(x, fo, out, &spool, &spool_em)) == EXIT_OK)
            goto write;
    }
    if (rc == EXIT_OK && x->em.failed) /* the output itself: say which, and why */
        rc = tool_error(EXIT_OPER, "%s: write failed: %s", out ? out : "standard output",
                        strerror(x->em.err ? x->em.err : EIO));
    if (rc == EXIT_OK && x->wfailed)
        rc = tool_fail(&x->werr);
    if (rc == EXIT_OK && x->w && ldg_export_writer_flush(x->w, &err) != LDG_OK)
        rc = tool_fail(&err);
    if (rc == EXIT_OK && (x->fmt == FMT_HTML || x->fmt == FMT_BUNDLE)) {
        char when[40], filters[1200], who[420];
        int64_t now;
        ldg_time_now(&now, NULL);
        ldg_time_format(now, 0, 1, when);
        snprintf(filters, sizeof filters, "%s%s%s%s%s%s%s%s%s%s%s%s%s%s", f.study ? "study " : "",
                 f.study ? f.study : "", f.kind ? "; kind " : "", f.kind ? f.kind : "",
                 f.actor ? "; actor " : "", f.actor ? f.actor : "", since ? "; since " : "",
                 since ? since : "", until ? "; until " : "", until ? until : "",
                 seqs ? "; records " : "", seqs ? seqs : "", withhold ? "; bodies withheld" : "",
                 !f.study && !f.kind && !f.actor && !since && !until && !seqs && !withhold ? "none"
                                                                                           : "");
        if (exporter) {
            snprintf(who, sizeof who, "%s", exporter);
        } else if (cosigner_who[0]) {
            snprintf(who, sizeof who, "%s", cosigner_who); /* from its signed key record */
        } else {
            char host[128] = "?";
            gethostname(host, sizeof host - 1);
            const char *u = getenv("USER");
            snprintf(who, sizeof who, "%s@%s (login)", u ? u : "?", host);
        }
        html_meta m = {.origin = tie.origin,
                       .exported_at = when,
                       .exporter = who,
                       .filters = filters[0] == ';' ? filters + 2 : filters,
                       .checkpoint = note,
                       .study = f.study,
                       .tie_size = tie.size,
                       .proven = co.proven_size,
                       .root_ok = root_ok,
                       .proven_ok = proven_ok,
                       .withhold = withhold,
                       .bad_sigs = x->bad_sigs,
                       .mismatch = x->mismatch,
                       .first_bad = x->first_bad};
        /* a bundle's report.html goes to a temporary file the bundle writer reads */
        FILE *rf = x->fmt == FMT_BUNDLE ? tmpfile() : NULL;
        emit *to = rf ? malloc(sizeof *to) : &x->em;
        if (to && rf)
            em_init(to, rf);
        if (!to || (x->fmt == FMT_BUNDLE && !rf) || !em_flush(spool_em) ||
            !html_write(x->html, to, &m, spool) || !em_flush(to))
            rc = tool_error(EXIT_OPER, "cannot write the report: %s", strerror(errno));
        /* [EXP-8] the review of the same entries, tied to the same checkpoint */
        FILE *rj = NULL, *rh = NULL;
        int intact = 0;
        if (rc == EXIT_OK && x->fmt == FMT_BUNDLE) {
            ldg_review_opts ro = {.study = f.study,
                                  .upto_size = tie.size,
                                  .since_note = qa,
                                  .since_len = qalen,
                                  .qa = (const char *const *)qatext,
                                  .nqa = nqa,
                                  .jobs = co.jobs};
            memcpy(ro.upto_root, tie.root, LDG_HASH_BYTES);
            if (!(rj = tmpfile()) || !(rh = tmpfile()))
                rc = tool_error(EXIT_OPER, "cannot start the review: %s", strerror(errno));
            else
                rc = review_for_bundle(l, tie.origin, &ro, rj, rh, &intact);
        }
        if (rc == EXIT_OK && x->fmt == FMT_BUNDLE) {
            ldg_bundle_meta bm = {.origin = m.origin,
                                  .exported_at = m.exported_at,
                                  .exporter = m.exporter,
                                  .filters = m.filters,
                                  .checkpoint = note,
                                  .verified = root_ok && proven_ok && !x->bad_sigs &&
                                              !x->mismatch && intact,
                                  .proven = proven_ok ? co.proven_size : 0,
                                  .review_json = rj,
                                  .review_html = rh};
            if (ldg_bundle_writer_finish(x->bw, &bm, rf, logkey, cok, write_emit, &x->em, &err) !=
                LDG_OK)
                rc = tool_fail(&err);
        }
        if (rf) {
            fclose(rf);
            free(to);
        }
        if (rj)
            fclose(rj);
        if (rh)
            fclose(rh);
    }
    bool to_file = fo != stdout;
    if (rc == EXIT_OK && (!em_flush(&x->em) || fflush(fo) != 0 || (to_file && fsync(fileno(fo)))))
        rc = tool_error(EXIT_OPER, "%s: write failed: %s", out ? out : "standard output",
                        strerror(x->em.err ? x->em.err : errno)); /* the writing thread's */
    em_async_end(&x->em); /* before the file is closed, whatever happened */
    if (to_file) {
        if (rc == EXIT_OK)
            rc = tool_out_publish(&tmp, out);
        rc = tool_out_close(&tmp, fo, out, rc);
    }
    /* [EXP-2] What did not check, said loudly: the export is written, marked, status 1. */
    if (rc == EXIT_OK) {
        if (!root_ok)
            rc = tool_error(EXIT_INTEGRITY,
                            "INTEGRITY: the stored entries do not give the root of the "
                            "checkpoint of %llu entries the export is tied to; run ldg verify",
                            (unsigned long long)tie.size);
        if (!proven_ok)
            rc = tool_error(EXIT_INTEGRITY,
                            "INTEGRITY: the first %llu entries changed since %s was verified",
                            (unsigned long long)qcp.size, verified);
        if (x->bad_sigs || x->mismatch) {
            char missing[96] = "";
            if (x->missing)
                snprintf(missing, sizeof missing, " (%llu missing without an erasure record)",
                         (unsigned long long)x->missing);
            rc = tool_error(EXIT_INTEGRITY,
                            "INTEGRITY: %llu invalid signatures and %llu altered bodies%s among "
                            "the exported records (first at #%llu), marked in the export",
                            (unsigned long long)x->bad_sigs,
                            (unsigned long long)(x->mismatch - x->missing), missing,
                            (unsigned long long)x->first_bad);
        }
    }
    ldg_export_writer_free(x->w);
    ldg_bundle_writer_free(x->bw);
    if (spool)
        fclose(spool);
    free(spool_em);
    html_free(x->html);
    free(note);
    free(qa);
    for (size_t i = 0; i < nqa; i++)
        free(qatext[i]);
    ldg_ledger_close(l);
    ldg_key_free(logkey);
    ldg_key_free(cok);
    free(x);
    return rc;
}
