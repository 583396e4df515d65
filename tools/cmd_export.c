/*
 * cmd_export.c - `ldg export`: inspection-ready copies of the trail
 * (spec/export.md [EXP-1..EXP-7]).
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
 * has O_TMPFILE, does a killed one.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat AT_EMPTY_PATH */
#include "emit.h"
#include "export_html.h"
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char export_help[] =
    "usage: ldg export --format jsonl|csv|html|bundle [-o OUT] [--study S] [--kind K]\n"
    "                  [--actor A] [--since T] [--until T] [--seq A..B] [--withhold-bodies]\n"
    "                  [--verified QA.txt [--qa QA.pub]...] [--as LOG.key] [--cosign KEY]\n"
    "                  [--jobs N] [--ledger DIR] [--turnaround HOURS] [--exporter NAME]\n"
    "Exports the records that match the filters, in sequence order, tied to the newest\n"
    "checkpoint (--as LOG.key makes a fresh one first); every record must be covered by it.\n"
    "  jsonl  one JSON object per record: times, kind, study, actor and roles, meaning,\n"
    "         refs, body (or a withheld marker), hashes, signature and its status\n"
    "  csv    RFC 4180, UTF-8, a header row, one row per record; cells of user text that\n"
    "         begin with = + - @ are neutralised with a leading '\n"
    "  html   one self-contained file for screen and print: the verdict and checkpoint,\n"
    "         activity over time and per organisation, threads with response times\n"
    "         against --turnaround (default 48 h), and every record with its signature\n"
    "  bundle a tar to carry away: the records with their proofs, the key records, the\n"
    "         checkpoint, report, CSV, JSONL and a manifest, whose SHA-256s the log key\n"
    "         signs in manifest.sig: needs --as LOG.key; --cosign KEY (a key registered in\n"
    "         the ledger) adds the exporter's own signature, and verify-bundle names them\n"
    "Records are selected by decoding the entries, and signers named from the key records\n"
    "replayed from them: the ledger's indexes and key database decide nothing here.\n"
    "--since/--until: ISO 8601 on the host time (inclusive); --seq A..B, A.. or ..B.\n"
    "--withhold-bodies leaves bodies out (marked withheld); entries and hashes stay.\n"
    "--verified QA.txt: a checkpoint saved by `ldg verify --save-checkpoint --as QA.key`;\n"
    "the signatures it covers are not checked again, the entries are re-hashed against it.\n"
    "It must carry a valid cosignature by a key given with --qa QA.pub, or by a key the\n"
    "ledger registers with the role qa (not revoked at its size); else exit 2.\n"
    "Exit: 0 exported and everything checked; 1 exported, but something did not check\n"
    "(said on stderr and in the export); 2 bad input; 4 operational error.\n";

enum format { FMT_JSONL, FMT_CSV, FMT_HTML, FMT_BUNDLE };

/* Bundle members written while the records stream by, each spooled to a temporary file. */
enum { SP_JSONL, SP_CSV, SP_RECORDS, SP_KEYRECS, SP_SIGS, SP_KEYS, SP_SEQS, SP_HTML, NSP };
typedef struct spoolf {
    FILE *f;
    emit e;
} spoolf;

typedef struct xctx {
    emit em;
    enum format fmt;
    bool withhold, tty;
    uint64_t proven;   /* signatures below: vouched for by --verified */
    uint64_t records;  /* exported */
    uint64_t bad_sigs; /* INVALID signatures exported */
    uint64_t mismatch; /* bodies that do not match their commitment, or missing [VER-8] */
    uint64_t missing;  /* of which missing without an erasure record */
    uint64_t first_bad;
    html_ctx *html;
    emit *spool; /* HTML: the record table, written before the summary above it */
    uint8_t line_pub[LDG_PUB_BYTES]; /* the signer whose verifier-key line is in line */
    char line[LDG_VKEY_MAX];
    /* bundle */
    ldg_ledger *l;
    uint64_t tie_size;
    spoolf *sp; /* NSP spools */
    bool bundle_failed;
    uint8_t logpub[LDG_PUB_BYTES]; /* the genesis' log key */
    bool have_logpub;
    const ldg_key *logkey;   /* --as: the log key, to sign manifest.sig */
    const ldg_key *cosigner; /* --cosign: the exporter's key, to sign manifest.sig */
    bool cosigner_ok;        /* registered below the checkpoint and not revoked there */
    char cosigner_who[420];  /* its printed name and organisation, from its key record */
} xctx;

/* The signer's verifier-key line (NULL if none), kept for the next record by the same key. */
static const char *
signer_line(xctx *x, const ldg_record *r)
{
    if (!r->signer.id[0])
        return NULL;
    if (x->line[0] && memcmp(x->line_pub, r->signer.pub, LDG_PUB_BYTES) == 0 &&
        strncmp(x->line, r->signer.id, strlen(r->signer.id)) == 0 &&
        x->line[strlen(r->signer.id)] == '+')
        return x->line;
    if (ldg_vkey_format(r->signer.id, r->signer.pub, x->line, NULL) != LDG_OK) {
        x->line[0] = '\0';
        return NULL;
    }
    memcpy(x->line_pub, r->signer.pub, LDG_PUB_BYTES);
    return x->line;
}

/* ------------------------------------------------------------ pieces -- */

static const char *
body_status(const xctx *x, const ldg_record *r)
{
    if (r->body_state == LDG_BODY_MISMATCH)
        return "mismatch";
    /* [VER-8] a body the ledger lost without an erasure record is no exporter's choice */
    if (r->body_state == LDG_BODY_WITHHELD)
        return "missing";
    if (r->body_state == LDG_BODY_ERASED)
        return "erased";
    return x->withhold ? "withheld-by-export" : "ok";
}

static const char *
sig_status(const ldg_record *r)
{
    switch (r->sig_state) {
    case LDG_SIG_VALID: return "valid";
    case LDG_SIG_INVALID: return "invalid";
    case LDG_SIG_PROVEN: return "proven";
    default: return "unchecked";
    }
}

/* The key's status when the record was appended: roles are fixed when a key is added. */
static const char *
key_status(const ldg_record *r, char *buf, size_t n)
{
    if (!r->signer.name)
        return "unregistered";
    if (r->signer.revoked && r->signer.revoked_seq < r->seq) {
        snprintf(buf, n, "revoked at #%llu", (unsigned long long)r->signer.revoked_seq);
        return buf;
    }
    return "active";
}

/*
 * The top-level string member `key` of a JSON object text, when it holds no
 * escape: found without parsing the whole body (CSV wants only the subject).
 * *found is false when the scan could not tell (escapes, odd input): then
 * the caller parses.  The body is canonical JSON the library checked.
 */
static char *
quick_member(const char *p, size_t n, const char *key, bool *sure)
{
    size_t kl = strlen(key), depth = 0, i = 0;
    bool expect_key = false;
    *sure = false;
    if (!n || p[0] != '{')
        return NULL;
    for (i = 0; i < n; i++) {
        char c = p[i];
        if (c == '"') {
            size_t j = i + 1;
            bool esc = false;
            while (j < n && p[j] != '"') {
                if (p[j] == '\\') {
                    esc = true;
                    j++;
                }
                j++;
            }
            if (j >= n)
                return NULL;
            if (depth == 1 && expect_key && !esc && j - i - 1 == kl &&
                memcmp(p + i + 1, key, kl) == 0 && j + 1 < n && p[j + 1] == ':') {
                size_t v = j + 2, w = v + 1;
                if (v >= n || p[v] != '"')
                    return (*sure = true, NULL); /* not a string */
                while (w < n && p[w] != '"' && p[w] != '\\')
                    w++;
                if (w >= n || p[w] == '\\')
                    return NULL; /* escapes: let the parser decode them */
                *sure = true;
                return strndup(p + v + 1, w - v - 1);
            }
            expect_key = false;
            i = j;
        } else if (c == '{' || c == '[') {
            depth++;
            expect_key = c == '{' && depth == 1;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            expect_key = true;
        } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            return NULL; /* not the compact canonical form: parse */
        }
    }
    *sure = true; /* scanned it all: no such member */
    return NULL;
}

/* The body's "subject" (else "title"), malloc'd; NULL if none or not shown. */
static char *
subject(const xctx *x, const ldg_record *r)
{
    if (x->withhold || !r->body)
        return NULL;
    bool sure1, sure2;
    char *q = quick_member(r->body, r->body_len, "subject", &sure1);
    if (sure1 && !q)
        q = quick_member(r->body, r->body_len, "title", &sure2);
    else
        sure2 = true;
    if (sure1 && sure2)
        return q;
    free(q);
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *s = b ? json_object_get(b, "subject") : NULL;
    if (!json_is_string(s) && b)
        s = json_object_get(b, "title");
    char *out = json_is_string(s) ? strdup(json_string_value(s)) : NULL;
    json_decref(b);
    return out;
}

/* ------------------------------------------------------ JSONL [EXP-5] -- */

static void
jsonl_record(xctx *x, emit *e, const ldg_record *r)
{
    char t[40], off[8], ks[40];
    em_s(e, "{\"seq\":");
    em_u64(e, r->seq);
    ldg_time_format(r->time_ns, 0, 1, t);
    em_s(e, ",\"time_utc\":");
    em_json_str(e, t);
    ldg_time_format(r->time_ns, r->tz_min, 0, t);
    em_s(e, ",\"time_local\":");
    em_json_str(e, t);
    tool_utc_offset(r->tz_min, off);
    em_s(e, ",\"utc_offset\":");
    em_json_str(e, off);
    ldg_time_format((int64_t)r->host_time_ns, 0, 1, t);
    em_s(e, ",\"host_time_utc\":");
    em_json_str(e, t);
    if (r->has_clock) {
        /* [EXP-5] the host clock read earlier; the ledger's time was held [FMT-3] */
        ldg_time_format((int64_t)r->clock_ns, 0, 1, t);
        em_s(e, ",\"host_clock_utc\":");
        em_json_str(e, t);
    }
    em_s(e, ",\"kind\":");
    em_json_str(e, r->kind);
    em_s(e, ",\"study\":");
    em_json_str(e, r->study);
    em_s(e, ",\"actor\":{\"key_id\":");
    em_json_str(e, r->signer.id[0] ? r->signer.id : NULL);
    em_s(e, ",\"key\":");
    em_json_str(e, signer_line(x, r));
    em_s(e, ",\"pub\":");
    em_json_b64(e, r->actor, LDG_PUB_BYTES);
    em_s(e, ",\"name\":");
    em_json_str(e, r->signer.name);
    em_s(e, ",\"org\":");
    em_json_str(e, r->signer.org);
    em_s(e, ",\"roles\":");
    em_json_str(e, r->signer.roles);
    em_s(e, ",\"key_status\":");
    em_json_str(e, key_status(r, ks, sizeof ks));
    em_s(e, "},\"meaning\":");
    em_json_str(e, r->meaning);
    em_s(e, ",\"reason\":");
    em_json_str(e, r->reason);
    em_s(e, ",\"refs\":[");
    for (size_t i = 0; i < r->nrefs; i++) {
        em_s(e, i ? ",{\"seq\":" : "{\"seq\":");
        if (r->ref_seqs[i] == UINT64_MAX)
            em_s(e, "null");
        else
            em_u64(e, r->ref_seqs[i]);
        em_s(e, ",\"hash\":");
        em_json_b64(e, r->refs[i], LDG_HASH_BYTES);
        em_c(e, '}');
    }
    em_c(e, ']');
    if (r->has_observed) {
        em_s(e, ",\"observed\":{\"size\":");
        em_u64(e, r->observed_size);
        em_s(e, ",\"head\":");
        em_json_b64(e, r->observed_head, LDG_HASH_BYTES);
        em_c(e, '}');
    }
    if (r->has_key) {
        em_s(e, ",\"subject_key\":{\"pub\":");
        em_json_b64(e, r->key.pub, LDG_PUB_BYTES);
        if (r->key.name) {
            em_s(e, ",\"key_id\":");
            em_json_str(e, r->key.id);
            em_s(e, ",\"name\":");
            em_json_str(e, r->key.name);
            em_s(e, ",\"org\":");
            em_json_str(e, r->key.org);
            em_s(e, ",\"roles\":");
            em_json_str(e, r->key.roles);
        }
        em_c(e, '}');
    }
    /* The body is canonical JSON already (checked against its commitment by the library). */
    em_s(e, ",\"body\":");
    if (r->body && !x->withhold)
        em_escaped(e, r->body, ESC_JSON_FIX); /* the same JSON value, no raw bidi or C1 */
    else
        em_s(e, "null");
    em_s(e, ",\"body_status\":");
    em_json_str(e, body_status(x, r));
    if (r->body_state == LDG_BODY_ERASED) {
        em_s(e, ",\"erased_by\":");
        em_u64(e, r->erased_by);
    }
    em_s(e, ",\"commitment\":");
    em_json_b64(e, r->commitment, LDG_HASH_BYTES);
    em_s(e, ",\"leaf_hash\":");
    em_json_b64(e, r->leaf_hash, LDG_HASH_BYTES);
    em_s(e, ",\"prev\":");
    em_json_b64(e, r->prev, LDG_HASH_BYTES);
    em_s(e, ",\"signature\":");
    em_json_b64(e, r->sig, LDG_SIG_BYTES);
    em_s(e, ",\"signature_status\":");
    em_json_str(e, sig_status(r));
    if (r->sig_state == LDG_SIG_PROVEN) {
        em_s(e, ",\"proven_by_checkpoint\":");
        em_u64(e, x->proven);
    }
    em_s(e, ",\"entry\":");
    em_json_b64(e, r->entry, r->entry_len);
    em_s(e, "}\n");
}

/* -------------------------------------------------------- CSV [EXP-6] -- */

static const char csv_header[] =
    "seq,time_utc,time_local,utc_offset,kind,study,name,organisation,role,meaning,subject,"
    "refs,reason,body_status,leaf_hash,signature_status\r\n";

static void
csv_record(xctx *x, emit *e, const ldg_record *r)
{
    char t[40], off[8], sig[80], b64[2 * LDG_HASH_BYTES + 1];
    em_u64(e, r->seq);
    em_c(e, ',');
    ldg_time_format(r->time_ns, 0, 1, t);
    em_csv(e, t, false);
    em_c(e, ',');
    ldg_time_format(r->time_ns, r->tz_min, 0, t);
    em_csv(e, t, false);
    em_c(e, ',');
    tool_utc_offset(r->tz_min, off);
    em_s(e, "UTC"); /* "UTC-05:00": never read as a number or formula */
    em_s(e, off);
    em_c(e, ',');
    em_csv(e, r->kind, true);
    em_c(e, ',');
    em_csv(e, r->study, true);
    em_c(e, ',');
    em_csv(e, r->signer.name ? r->signer.name : "(unregistered key)", true);
    em_c(e, ',');
    em_csv(e, r->signer.org, true);
    em_c(e, ',');
    em_csv(e, r->signer.roles, true);
    em_c(e, ',');
    em_csv(e, r->meaning, true);
    em_c(e, ',');
    char *subj = subject(x, r);
    em_csv(e, subj, true);
    free(subj);
    em_c(e, ',');
    if (r->nrefs) {
        /* "#3 #7": the refs by seq ("#?" for a hash this ledger does not hold) */
        char *refs = malloc(r->nrefs * 24 + 1), *p = refs;
        if (refs) {
            for (size_t i = 0; i < r->nrefs; i++)
                p += r->ref_seqs[i] == UINT64_MAX
                         ? sprintf(p, "%s#?", i ? " " : "")
                         : sprintf(p, "%s#%llu", i ? " " : "", (unsigned long long)r->ref_seqs[i]);
            em_csv(e, refs, false);
            free(refs);
        } else {
            e->failed = true;
        }
    }
    em_c(e, ',');
    em_csv(e, r->reason, true);
    em_c(e, ',');
    if (r->body_state == LDG_BODY_ERASED) {
        char st[48];
        snprintf(st, sizeof st, "erased by %llu", (unsigned long long)r->erased_by);
        em_csv(e, st, false);
    } else {
        em_csv(e, body_status(x, r), false);
    }
    em_c(e, ',');
    sodium_bin2hex(b64, sizeof b64, r->leaf_hash,
                   LDG_HASH_BYTES); /* hex: never read as a formula */
    em_csv(e, b64, false);
    em_c(e, ',');
    if (r->sig_state == LDG_SIG_PROVEN)
        snprintf(sig, sizeof sig, "valid (verified in full up to checkpoint %llu)",
                 (unsigned long long)x->proven);
    else
        snprintf(sig, sizeof sig, "%s",
                 r->sig_state == LDG_SIG_INVALID ? "INVALID" : sig_status(r));
    em_csv(e, sig, false);
    em_raw(e, "\r\n", 2);
}

/* ------------------------------------------------------ bundle [EXP-8] -- */

/*
 * One line of records.jsonl / keyrecords.jsonl: the exact entry bytes, its
 * inclusion proof at the checkpoint's size, and the body as committed (the
 * canonical JSON text as a JSON string) with its salt, or why it is not.
 */
static void
evidence_line(xctx *x, emit *e, const ldg_record *r)
{
    uint8_t h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t n = 0;
    ldg_err err;
    if (ldg_proof_inclusion(x->l, r->seq, x->tie_size, h, &n, &err) != LDG_OK) {
        x->bundle_failed = true;
        tool_fail(&err);
        return;
    }
    em_s(e, "{\"seq\":");
    em_u64(e, r->seq);
    em_s(e, ",\"leaf_hash\":");
    em_json_b64(e, r->leaf_hash, LDG_HASH_BYTES);
    em_s(e, ",\"entry\":");
    em_json_b64(e, r->entry, r->entry_len);
    em_s(e, ",\"inclusion\":{\"tree_size\":");
    em_u64(e, x->tie_size);
    em_s(e, ",\"hashes\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            em_c(e, ',');
        em_json_b64(e, h[i], LDG_HASH_BYTES);
    }
    em_s(e, "]},\"body_status\":");
    em_json_str(e, body_status(x, r));
    if (r->body_state == LDG_BODY_ERASED) {
        em_s(e, ",\"erased_by\":");
        em_u64(e, r->erased_by);
    }
    bool show = r->body && !x->withhold;
    em_s(e, ",\"salt\":");
    if (show)
        em_json_b64(e, r->salt, LDG_SALT_BYTES);
    else
        em_s(e, "null");
    em_s(e, ",\"body\":");
    em_json_str(e, show ? r->body : NULL);
    em_s(e, "}\n");
}

static void
bundle_record(xctx *x, const ldg_record *r)
{
    jsonl_record(x, &x->sp[SP_JSONL].e, r);
    csv_record(x, &x->sp[SP_CSV].e, r);
    evidence_line(x, &x->sp[SP_RECORDS].e, r);
    emit *e = &x->sp[SP_SIGS].e;
    char t[40], b64[2 * LDG_SIG_BYTES + 1];
    em_u64(e, r->seq);
    em_c(e, ',');
    em_csv(e, r->kind, true);
    em_c(e, ',');
    em_csv(e, r->signer.name ? r->signer.name : "(unregistered key)", true);
    em_c(e, ',');
    em_csv(e, r->signer.org, true);
    em_c(e, ',');
    em_csv(e, r->signer.id, true);
    em_c(e, ',');
    em_csv(e, r->meaning, true);
    em_c(e, ',');
    ldg_time_format(r->time_ns, 0, 1, t);
    em_csv(e, t, false);
    em_c(e, ',');
    sodium_bin2hex(b64, sizeof b64, r->sig, LDG_SIG_BYTES);
    em_csv(e, b64, false);
    em_c(e, ',');
    em_csv(e, r->sig_state == LDG_SIG_INVALID ? "INVALID" : sig_status(r), false);
    em_raw(e, "\r\n", 2);
    emit *q = &x->sp[SP_SEQS].e;
    if (x->records > 1)
        em_c(q, ',');
    em_u64(q, r->seq);
}

/* Key records (genesis, key.add, key.revoke) below the checkpoint: the registry's evidence. */
static int
key_record(void *ctx, const ldg_record *r)
{
    xctx *x = ctx;
    if (strcmp(r->kind, "genesis") != 0 && strcmp(r->kind, "key.add") != 0 &&
        strcmp(r->kind, "key.revoke") != 0)
        return 0;
    if (r->seq == 0 && strcmp(r->kind, "genesis") == 0) {
        memcpy(x->logpub, r->actor, LDG_PUB_BYTES);
        x->have_logpub = true;
    }
    bool w = x->withhold;
    x->withhold = false; /* key records carry no trial content: their bodies go in */
    evidence_line(x, &x->sp[SP_KEYRECS].e, r);
    x->withhold = w;
    return x->bundle_failed;
}

static int
key_row(void *ctx, const ldg_keyinfo *k)
{
    xctx *x = ctx;
    if (k->added_seq >= x->tie_size)
        return 0;
    if (x->cosigner && strcmp(k->id, ldg_key_name(x->cosigner)) == 0 &&
        !(k->revoked && k->revoked_seq < x->tie_size)) {
        uint8_t pub[LDG_PUB_BYTES];
        ldg_key_public(x->cosigner, pub);
        if (memcmp(pub, k->pub, LDG_PUB_BYTES) == 0) {
            x->cosigner_ok = true;
            snprintf(x->cosigner_who, sizeof x->cosigner_who, "%.120s (%.120s), key %s",
                     k->name ? k->name : "?", k->org ? k->org : "?", k->id);
        }
    }
    emit *e = &x->sp[SP_KEYS].e;
    char b64[2 * LDG_PUB_BYTES + 1];
    em_csv(e, k->id, true);
    em_c(e, ',');
    em_csv(e, k->name, true);
    em_c(e, ',');
    em_csv(e, k->org, true);
    em_c(e, ',');
    em_csv(e, k->roles, true);
    em_c(e, ',');
    sodium_bin2hex(b64, sizeof b64, k->pub, LDG_PUB_BYTES);
    em_csv(e, b64, false);
    em_c(e, ',');
    em_u64(e, k->added_seq);
    em_c(e, ',');
    if (k->revoked && k->revoked_seq < x->tie_size) {
        em_u64(e, k->revoked_seq);
        em_c(e, ',');
        em_csv(e, k->revoke_reason, true);
    } else {
        em_c(e, ',');
    }
    em_raw(e, "\r\n", 2);
    return 0;
}

/* width-1 octal digits and a NUL; false when v does not fit. */
static bool
octal(char *dst, size_t width, uint64_t v)
{
    dst[width - 1] = '\0';
    for (size_t i = width - 1; i > 0; i--, v >>= 3)
        dst[i - 1] = (char)('0' + (v & 7));
    return v == 0;
}

/* One ustar member: header, data from src (a file) or buf, padding; its SHA-256 in hex. */
static bool
tar_member(emit *out, const char *name, FILE *src, const char *buf, uint64_t len, uint64_t mtime,
           char hex[65])
{
    char h[512];
    memset(h, 0, sizeof h);
    if (strlen(name) >= 100)
        return false;
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    if (!octal(h + 124, 12, len) || !octal(h + 136, 12, mtime))
        return false; /* a member of 8 GiB or more: ustar cannot say its size */
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 265, "ldg", 3);
    memcpy(h + 297, "ldg", 3);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    octal(h + 148, 7, sum);
    h[155] = ' ';
    em_raw(out, h, sizeof h);
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    if (src) {
        rewind(src);
        char chunk[1 << 16];
        uint64_t left = len;
        while (left) {
            size_t want = left < sizeof chunk ? (size_t)left : sizeof chunk;
            if (fread(chunk, 1, want, src) != want)
                return false;
            crypto_hash_sha256_update(&st, (const unsigned char *)chunk, want);
            em_raw(out, chunk, want);
            left -= want;
        }
    } else {
        crypto_hash_sha256_update(&st, (const unsigned char *)buf, len);
        em_raw(out, buf, (size_t)len);
    }
    static const char zero[512];
    if (len % 512)
        em_raw(out, zero, 512 - (size_t)(len % 512));
    uint8_t d[32];
    crypto_hash_sha256_final(&st, d);
    sodium_bin2hex(hex, 65, d, 32);
    return !out->failed;
}

static const char *const members[] = {
    [SP_RECORDS] = "records.jsonl", [SP_KEYRECS] = "keyrecords.jsonl", [SP_JSONL] = "trail.jsonl",
    [SP_CSV] = "trail.csv",         [SP_HTML] = "report.html",         [SP_SIGS] = "signatures.csv",
    [SP_KEYS] = "keys.csv",
};

#define BUNDLE_DIR "ldg-bundle/"

/* The signer name of a checkpoint's signature line ("— NAME base64"). */
static void
note_signer(const char *note, char name[LDG_NAME_MAX + 1])
{
    const char *p = strstr(note, "\n\xe2\x80\x94 ");
    size_t n = 0;
    if (p)
        for (p += 5; p[n] && p[n] != ' ' && n < LDG_NAME_MAX; n++)
            ;
    memcpy(name, p ? p : "", n);
    name[n] = '\0';
}

/* A member as the manifest lists it. */
typedef struct man_file {
    const char *name;
    uint64_t size;
    char hex[65]; /* SHA-256, lowercase hex */
} man_file;

/*
 * [EXP-8] manifest.sig, the last member: the log key (and the exporter's
 * key with --cosign) sign the SHA-256 of manifest.json and of every member
 * it lists, so that nothing verify-bundle calls OK rests on an unsigned file.
 */
static bool
sign_bundle(xctx *x, const char *origin, const man_file *man, size_t nman,
            const char manifest_hex[65], uint64_t mtime)
{
    ldg_bundle_file files[17];
    if (nman + 1 > sizeof files / sizeof files[0])
        return false;
    files[0].path = "manifest.json";
    bool ok =
        sodium_hex2bin(files[0].sha256, LDG_HASH_BYTES, manifest_hex, 64, NULL, NULL, NULL) == 0;
    for (size_t i = 0; ok && i < nman; i++) {
        files[i + 1].path = man[i].name;
        ok = sodium_hex2bin(files[i + 1].sha256, LDG_HASH_BYTES, man[i].hex, 64, NULL, NULL,
                            NULL) == 0;
    }
    char *note = NULL;
    size_t len = 0;
    ldg_err err;
    char hex[65];
    if (ok && ldg_bundle_sign(origin, files, nman + 1, x->logkey, x->cosigner, &note, &len, &err) !=
                  LDG_OK) {
        tool_fail(&err);
        ok = false;
    }
    ok = ok && tar_member(&x->em, BUNDLE_DIR "manifest.sig", NULL, note, len, mtime, hex);
    free(note);
    return ok;
}

/* [EXP-8] The tar: README, checkpoint and log key, the spooled members, the manifest, its
   signature. */
static int
write_bundle(xctx *x, const char *note, const ldg_checkpoint *tie, const html_meta *m,
             uint64_t proven)
{
    for (int i = 0; i < NSP; i++)
        if (!em_flush(&x->sp[i].e) || fflush(x->sp[i].f) != 0)
            return tool_error(EXIT_OPER, "cannot write a temporary file: %s", strerror(errno));
    char name[LDG_NAME_MAX + 1], line[LDG_VKEY_MAX + 1];
    note_signer(note, name);
    if (!name[0] || ldg_vkey_format(name, x->logpub, line, NULL) != LDG_OK)
        return tool_error(EXIT_OPER, "cannot name the log key of the checkpoint");
    strcat(line, "\n");
    int64_t now;
    ldg_time_now(&now, NULL);
    uint64_t mtime = (uint64_t)(now / 1000000000LL);
    size_t rlen = 8192 + strlen(m->filters) + strlen(m->exporter) + strlen(m->origin);
    char *readme = malloc(rlen);
    if (!readme)
        return tool_error(EXIT_OPER, "out of memory");
    char root[64];
    tool_b64(tie->root, LDG_HASH_BYTES, root, sizeof root);
    snprintf(readme, rlen,
             "ldg evidence bundle\n"
             "===================\n\n"
             "Ledger:      %s\n"
             "Exported:    %s\n"
             "Exported by: %s\n"
             "Filters:     %s\n"
             "Records:     %llu\n"
             "Checkpoint:  %llu entries, root %s, signed by the log key \"%s\"\n"
             "Verdict at export: %s\n\n"
             "Certified copy\n--------------\n"
             "%s certifies that the records in this bundle are a true and complete copy of the\n"
             "records of ledger %s that matched the filters above, exported at %s by\n"
             "ldg %s, and that each can be checked independently against the checkpoint.\n\n"
             "What is in it\n-------------\n"
             "README.txt        this file\n"
             "manifest.json     size and SHA-256 of every other file, and the exported records\n"
             "manifest.sig      the SHA-256 of manifest.json and of every other file, signed by\n"
             "                  the log key (and by the exporter's own key when it cosigned)\n"
             "checkpoint.txt    the C2SP signed checkpoint the export is tied to\n"
             "log.pub           the ledger's log key (a signed-note verifier key); check it\n"
             "                  against the one the sponsor and the CRO hold\n"
             "records.jsonl     per exported record: its exact entry bytes, its inclusion proof\n"
             "                  at the checkpoint, its body and salt (or why it is withheld)\n"
             "keyrecords.jsonl  the same for every key record (genesis, key.add, key.revoke)\n"
             "                  below the checkpoint: who could sign what, and when\n"
             "report.html       the trail for people (open in any browser; prints to PDF)\n"
             "trail.csv         the trail for spreadsheets (RFC 4180)\n"
             "trail.jsonl       the trail for programs\n"
             "signatures.csv    every signature: record, signer, meaning, time, value, status\n"
             "keys.csv          the keys' lifecycle: added, revoked, why\n\n"
             "How to verify\n-------------\n"
             "  ldg verify-bundle THIS.tar --trust LOG.pub\n"
             "with LOG.pub the log key obtained from the sponsor or CRO, not from this bundle.\n"
             "Without ldg: spec/export.md of the ldg sources gives the layout [EXP-8] and the\n"
             "algorithm [EXP-9]: manifest.sig under the log key and every file against it; the\n"
             "manifest; the checkpoint's signature; each entry's inclusion proof, statement\n"
             "signature under the key records, chain links and body commitment.\n"
             "%s%llu%s\n",
             em_t(m->origin), m->exported_at, em_t(m->exporter), em_t(m->filters),
             (unsigned long long)x->records, (unsigned long long)tie->size, root, em_t(name),
             m->root_ok && m->proven_ok && !m->bad_sigs && !m->mismatch
                 ? "verified (see report.html)"
                 : "INTEGRITY FAILURES, marked in report.html and the trail files",
             em_t(m->exporter), em_t(m->origin), m->exported_at, ldg_version(),
             proven ? "Signatures of the entries below "
                    : "Every signature was checked at export (",
             (unsigned long long)(proven ? proven : x->records),
             proven ? " were verified in full by QA (a saved checkpoint); the others at export."
                    : " records).");
    man_file man[16];
    size_t nman = 0;
    bool ok = true;
#define MEMBER(nm, src, buf, len)                                                                  \
    do {                                                                                           \
        man[nman].name = (nm);                                                                     \
        man[nman].size = (len);                                                                    \
        ok = ok && tar_member(&x->em, BUNDLE_DIR nm, (src), (buf), (len), mtime, man[nman].hex);   \
        nman++;                                                                                    \
    } while (0)
    MEMBER("README.txt", NULL, readme, strlen(readme));
    MEMBER("checkpoint.txt", NULL, note, strlen(note));
    MEMBER("log.pub", NULL, line, strlen(line));
    static const int order[] = {SP_RECORDS, SP_KEYRECS, SP_HTML, SP_CSV,
                                SP_JSONL,   SP_SIGS,    SP_KEYS};
    for (size_t i = 0; ok && i < sizeof order / sizeof order[0]; i++) {
        char path[64];
        snprintf(path, sizeof path, BUNDLE_DIR "%s", members[order[i]]);
        long len = ftell(x->sp[order[i]].f);
        man[nman].name = members[order[i]];
        man[nman].size = len < 0 ? 0 : (uint64_t)len;
        ok = len >= 0 &&
             tar_member(&x->em, path, x->sp[order[i]].f, NULL, (uint64_t)len, mtime, man[nman].hex);
        nman++;
    }
#undef MEMBER
    free(readme);
    if (!ok)
        return tool_error(EXIT_OPER, "cannot write the bundle: %s", strerror(errno));
    /* manifest.json: built in a temporary file (the record list grows with the export) */
    FILE *mf = tmpfile();
    if (!mf)
        return tool_error(EXIT_OPER, "cannot make a temporary file: %s", strerror(errno));
    emit *me = malloc(sizeof *me);
    if (!me) {
        fclose(mf);
        return tool_error(EXIT_OPER, "out of memory");
    }
    em_init(me, mf);
    em_s(me, "{\"format\":\"ldg-bundle/1\",\"origin\":");
    em_json_str(me, m->origin);
    em_s(me, ",\"checkpoint_size\":");
    em_u64(me, tie->size);
    em_s(me, ",\"exported_at\":");
    em_json_str(me, m->exported_at);
    em_s(me, ",\"exporter\":");
    em_json_str(me, m->exporter);
    em_s(me, ",\"filters\":");
    em_json_str(me, m->filters);
    em_s(me, ",\"files\":[");
    for (size_t i = 0; i < nman; i++) {
        em_s(me, i ? ",{\"path\":" : "{\"path\":");
        em_json_str(me, man[i].name);
        em_s(me, ",\"size\":");
        em_u64(me, man[i].size);
        em_s(me, ",\"sha256\":");
        em_json_str(me, man[i].hex);
        em_c(me, '}');
    }
    em_s(me, "],\"records\":[");
    rewind(x->sp[SP_SEQS].f);
    char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, x->sp[SP_SEQS].f)) > 0)
        em_raw(me, chunk, got);
    em_s(me, "]}\n");
    char hex[65];
    long mlen = em_flush(me) && fflush(mf) == 0 ? ftell(mf) : -1;
    /* [EXP-9] never write a bundle its verifier refuses unread: too many records or bytes */
    uint64_t total = (uint64_t)(mlen > 0 ? mlen : 0) + 3 * 512 + 65536 + 1024;
    for (size_t i = 0; i < nman; i++)
        total += 512 + (man[i].size + 511) / 512 * 512;
    if (mlen > (long)LDG_MANIFEST_MAX || total > LDG_BUNDLE_MAX) {
        fclose(mf);
        free(me);
        return tool_error(
            EXIT_USAGE,
            "--format bundle: the bundle would hold %s (%llu bytes), more than a "
            "verifier reads (a manifest of %u bytes, a bundle of %zu): narrow the "
            "export with --seq, --since/--until or --study",
            mlen > (long)LDG_MANIFEST_MAX ? "a manifest too long for its records"
                                          : "too many bytes",
            (unsigned long long)(mlen > (long)LDG_MANIFEST_MAX ? (uint64_t)mlen : total),
            LDG_MANIFEST_MAX, LDG_BUNDLE_MAX);
    }
    ok = mlen >= 0 &&
         tar_member(&x->em, BUNDLE_DIR "manifest.json", mf, NULL, (uint64_t)mlen, mtime, hex);
    /* the log key vouches only for an export in which everything checked [EXP-8] */
    if (ok && m->root_ok && m->proven_ok && !m->bad_sigs && !m->mismatch)
        ok = sign_bundle(x, m->origin, man, nman, hex, mtime);
    fclose(mf);
    free(me);
    static const char end[1024];
    em_raw(&x->em, end, sizeof end);
    return ok ? EXIT_OK : tool_error(EXIT_OPER, "cannot write the bundle: %s", strerror(errno));
}

/* ------------------------------------------------------------ driver -- */

static int
one_record(void *ctx, const ldg_record *r)
{
    xctx *x = ctx;
    x->records++;
    /* [VER-8] a body missing without an erasure record is a failure, as an altered one */
    bool bad_body = r->body_state == LDG_BODY_MISMATCH || r->body_state == LDG_BODY_WITHHELD;
    if (r->sig_state == LDG_SIG_INVALID || bad_body) {
        if (!x->bad_sigs && !x->mismatch)
            x->first_bad = r->seq;
        x->bad_sigs += r->sig_state == LDG_SIG_INVALID;
        x->mismatch += bad_body;
        x->missing += r->body_state == LDG_BODY_WITHHELD;
    }
    if (x->fmt == FMT_JSONL) {
        jsonl_record(x, &x->em, r);
    } else if (x->fmt == FMT_CSV) {
        csv_record(x, &x->em, r);
    } else if (x->fmt == FMT_HTML) {
        html_row(x->html, x->spool, r, x->proven);
    } else {
        bundle_record(x, r);
        html_row(x->html, x->spool, r, x->proven);
    }
    /* a failed write stops the export */
    return x->em.failed || (x->spool && x->spool->failed) || x->bundle_failed;
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

/*
 * The file being written, beside out.  Where the file system allows it, an
 * anonymous O_TMPFILE that has no name until publish links it in: an export
 * killed (even by SIGKILL) leaves nothing behind.  Elsewhere a mkstemp name,
 * removed on every failure the process lives to see.
 */
typedef struct out_temp {
    int fd;
    char *path; /* the mkstemp name; NULL for an anonymous file */
    char *dir;  /* out's directory, synced after the link */
} out_temp;

static int
open_temp(const char *out, out_temp *t, FILE **f)
{
    *t = (out_temp){.fd = -1};
    const char *slash = strrchr(out, '/');
    size_t dl = slash ? (size_t)(slash - out) + (slash == out) : 1;
    size_t n = strlen(out) + 16;
    if (!(t->dir = malloc(dl + 1)) || !(t->path = malloc(n))) {
        free(t->dir);
        return tool_error(EXIT_OPER, "out of memory");
    }
    memcpy(t->dir, slash ? out : ".", dl);
    t->dir[dl] = '\0';
    mode_t mask = umask(0);
    umask(mask);
#ifdef O_TMPFILE
    t->fd = open(t->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666 & ~mask);
    if (t->fd < 0 && errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL && errno != ENOENT) {
        int e = errno;
        free(t->dir);
        free(t->path);
        return tool_error(EXIT_OPER, "%s: cannot create a file beside it: %s", out, strerror(e));
    }
#endif
    if (t->fd >= 0) {
        free(t->path);
        t->path = NULL;
    } else {
        snprintf(t->path, n, "%s.tmp.XXXXXX", out);
        if ((t->fd = mkstemp(t->path)) < 0 || fchmod(t->fd, 0666 & ~mask) != 0) {
            int e = errno;
            if (t->fd >= 0) {
                close(t->fd);
                unlink(t->path);
            }
            free(t->dir);
            free(t->path);
            return tool_error(EXIT_OPER, "%s: cannot create a file beside it: %s", out,
                              strerror(e));
        }
    }
    if (!(*f = fdopen(t->fd, "w"))) {
        int e = errno;
        close(t->fd);
        if (t->path)
            unlink(t->path);
        free(t->dir);
        free(t->path);
        return tool_error(EXIT_OPER, "%s: %s", out, strerror(e));
    }
    return EXIT_OK;
}

/*
 * Gives the finished, synced file the name out, refusing to replace an
 * existing file, and syncs the directory so the name survives a crash.
 * The stream is still open (an anonymous file is linked through its fd).
 */
static int
publish(const out_temp *t, const char *out)
{
    int r;
    if (t->path) {
        r = link(t->path, out);
    } else {
        char fdpath[40];
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", t->fd);
        r = linkat(AT_FDCWD, fdpath, AT_FDCWD, out, AT_SYMLINK_FOLLOW);
        if (r != 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
            r = linkat(t->fd, "", AT_FDCWD, out, AT_EMPTY_PATH);
    }
    if (r != 0) {
        int e = errno;
        return tool_error(e == EEXIST ? EXIT_USAGE : EXIT_OPER, "%s: %s", out,
                          e == EEXIST ? "already exists; not replaced" : strerror(e));
    }
    int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the export is whole either way; this makes its name durable */
        close(dfd);
    }
    return EXIT_OK;
}

/* Closes the stream and drops the temporary name (and out, if it was published but
   the close failed: nothing is left that the exit status disowns); frees t. */
static int
close_temp(out_temp *t, FILE *f, const char *out, int rc)
{
    if (fclose(f) != 0 && rc == EXIT_OK) {
        rc = tool_error(EXIT_OPER, "%s: write failed: %s", out, strerror(errno));
        unlink(out);
    }
    if (t->path)
        unlink(t->path);
    free(t->path);
    free(t->dir);
    return rc;
}

int
cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *format = NULL, *out = NULL, *since = NULL, *until = NULL, *seqs = NULL,
               *verified = NULL, *as = NULL, *passfile = NULL, *jobs = NULL, *turnaround = NULL,
               *exporter = NULL, *cosign = NULL, *qafiles[16];
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
    if (rc == EXIT_OK && cosign && (rc = tool_load_key(cosign, passfile, &cok)) == EXIT_OK)
        x->cosigner = cok;
    double hours = 48;
    if (rc == EXIT_OK && turnaround) {
        char *end;
        hours = strtod(turnaround, &end);
        if (end == turnaround || *end || !(hours > 0 && hours <= 24 * 366))
            rc = tool_usage("--turnaround %s: expected hours, more than 0 and at most a year",
                            turnaround);
    }
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
    if (rc == EXIT_OK && out && access(out, F_OK) == 0)
        rc = tool_usage("%s: already exists; not replaced", out);
    ldg_ledger *l = NULL;
    /* [STO-7] the file's structure is checked before LMDB reads it: damage is a finding */
    if (rc == EXIT_OK &&
        ldg_ledger_open(tool_ledger_dir(dir), (as ? 0 : LDG_OPEN_READONLY) | LDG_OPEN_CHECKED, &l,
                        &err) != LDG_OK)
        rc = err.status == LDG_E_CORRUPT
                 ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s: %s", tool_ledger_dir(dir), err.msg)
                 : tool_fail(&err);
    /* --as: a fresh checkpoint of the whole ledger, stored, to tie the export to */
    if (rc == EXIT_OK && as) {
        ldg_key *k = NULL;
        char *note = NULL;
        size_t len;
        /* [CKP-2] signed only after the check before signing found nothing: else exit 1 */
        if ((rc = tool_load_key(as, passfile, &k)) == EXIT_OK &&
            ldg_checkpoint_make(l, k, &note, &len, &err) != LDG_OK)
            rc = err.status == LDG_E_CORRUPT ? tool_error(EXIT_INTEGRITY, "INTEGRITY: %s", err.msg)
                                             : tool_fail(&err);
        free(note);
        if (rc == EXIT_OK && x->fmt == FMT_BUNDLE)
            x->logkey = k; /* signs manifest.sig at the end (sign_bundle) */
        else
            ldg_key_free(k);
    }
    /* [EXP-1] The checkpoint the export is tied to: signed by the log key, covering it all. */
    ldg_checkpoint tie = {0}, qcp = {0};
    char *note = NULL;
    size_t notelen = 0;
    uint64_t size = 0;
    uint8_t head[LDG_HASH_BYTES];
    char why[600] = "";
    if (rc == EXIT_OK) {
        ldg_status s = ldg_checkpoint_latest(l, &note, &notelen, &err);
        if (s == LDG_E_NOTFOUND)
            rc = tool_usage("the ledger has no checkpoint to tie the export to: add --as LOG.key "
                            "(or run ldg checkpoint --as LOG.key)");
        else if (s != LDG_OK)
            rc = tool_fail(&err);
        else if (ldg_checkpoint_check(l, note, notelen, NULL, &tie, why, sizeof why, &err) !=
                 LDG_OK)
            rc = tool_fail(&err);
        else if (why[0])
            rc = tool_error(EXIT_INTEGRITY, "the ledger's newest checkpoint does not check: %s",
                            why);
        else if (ldg_ledger_head(l, &size, head, &err) != LDG_OK)
            rc = tool_fail(&err);
        /* With --as the fresh checkpoint is the tie: records appended since it are not
           part of the export (they are cut off below), not a reason to refuse it. */
        else if (tie.size < size && !as && !(f.has_seq && f.seq_to < tie.size))
            rc = tool_usage("the newest checkpoint covers %llu of the %llu entries: add --as "
                            "LOG.key for a fresh one, or export --seq ..%llu",
                            (unsigned long long)tie.size, (unsigned long long)size,
                            (unsigned long long)(tie.size ? tie.size - 1 : 0));
    }
    if (rc == EXIT_OK && qa) {
        if (ldg_checkpoint_check(l, qa, qalen, NULL, &qcp, why, sizeof why, &err) != LDG_OK)
            rc = err.status == LDG_E_INPUT ? tool_usage("%s: %s", verified, err.msg)
                                           : tool_fail(&err);
        else if (why[0])
            rc = tool_error(EXIT_INTEGRITY, "%s: %s", verified, why);
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
    /* Records appended while this runs are past the checkpoint: never part of the export. */
    if (rc == EXIT_OK && (!f.has_seq || f.seq_to >= tie.size)) {
        if (!f.has_seq)
            f.seq_from = 0;
        f.has_seq = 1;
        f.seq_to = tie.size - 1;
    }
    FILE *spool = NULL;
    emit *spool_em = NULL;
    x->l = l;
    x->tie_size = tie.size;
    if (rc == EXIT_OK && x->fmt == FMT_BUNDLE) {
        /* members written while the records stream, spooled: a tar header needs the size */
        if (!(x->sp = calloc(NSP, sizeof *x->sp)))
            rc = tool_error(EXIT_OPER, "out of memory");
        for (int i = 0; rc == EXIT_OK && i < NSP; i++) {
            if (!(x->sp[i].f = tmpfile()))
                rc = tool_error(EXIT_OPER, "cannot make a temporary file: %s", strerror(errno));
            else
                em_init(&x->sp[i].e, x->sp[i].f);
        }
        if (rc == EXIT_OK) {
            em_s(&x->sp[SP_CSV].e, csv_header);
            em_s(&x->sp[SP_SIGS].e,
                 "seq,kind,name,organisation,key_id,meaning,time_utc,signature,status\r\n");
            em_s(&x->sp[SP_KEYS].e, "key_id,name,organisation,roles,pub,added_seq,revoked_seq,"
                                    "revoke_reason\r\n");
            ldg_filter kf = {.has_seq = 1, .seq_from = 0, .seq_to = tie.size - 1};
            if (ldg_log_replayed(l, &kf, key_record, x, &err) != LDG_OK)
                rc = tool_fail(&err);
            else if (x->bundle_failed || !x->have_logpub)
                rc = tool_error(EXIT_OPER, "cannot read the key records for the bundle");
            else if (ldg_keys_replayed(l, tie.size, key_row, x, &err) != LDG_OK)
                rc = tool_fail(&err);
            else if (x->cosigner && !x->cosigner_ok)
                rc = tool_error(EXIT_POLICY,
                                "--cosign %s: key %s is not registered in the ledger below the "
                                "checkpoint, or was revoked",
                                cosign, ldg_key_name(x->cosigner));
        }
    }
    if (rc == EXIT_OK && (x->fmt == FMT_HTML || x->fmt == FMT_BUNDLE)) {
        /* pass 1: what the summary above the record table needs */
        if (!(x->html = html_new(hours, withhold)) || !(spool = tmpfile()) ||
            !(spool_em = malloc(sizeof *spool_em)))
            rc = tool_error(EXIT_OPER, "cannot start the report: %s", strerror(errno));
        else if (ldg_log_replayed(l, &f, html_collect, x->html, &err) != LDG_OK)
            rc = tool_fail(&err);
        if (rc == EXIT_OK) {
            em_init(spool_em, spool);
            x->spool = spool_em;
        }
    }
    out_temp tmp = {.fd = -1};
    FILE *fo = stdout;
    if (rc == EXIT_OK && out)
        rc = open_temp(out, &tmp, &fo);
    uint8_t roots[2][LDG_HASH_BYTES];
    if (rc == EXIT_OK) {
        em_init(&x->em, fo);
        if (x->fmt == FMT_CSV)
            em_s(&x->em, csv_header);
        co.root_size[0] = tie.size;
        co.root_size[1] = co.proven_size;
        if (ldg_log_checked(l, &f, &co, one_record, x, roots, &err) != LDG_OK)
            rc = tool_fail(&err);
        if (x->tty)
            fputs("\r\033[K", stderr);
    }
    bool root_ok = rc == EXIT_OK && memcmp(roots[0], tie.root, LDG_HASH_BYTES) == 0;
    bool proven_ok =
        !co.proven_size || (rc == EXIT_OK && memcmp(roots[1], qcp.root, LDG_HASH_BYTES) == 0);
    if (rc == EXIT_OK && x->bundle_failed)
        rc = EXIT_OPER;
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
        } else if (x->cosigner_ok) {
            snprintf(who, sizeof who, "%s", x->cosigner_who); /* from its signed key record */
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
                       .first_bad = x->first_bad,
                       .turnaround_h = hours};
        emit *to = x->fmt == FMT_BUNDLE ? &x->sp[SP_HTML].e : &x->em;
        if (!em_flush(spool_em) || !html_write(x->html, to, &m, spool))
            rc = tool_error(EXIT_OPER, "cannot write the report: %s", strerror(errno));
        if (rc == EXIT_OK && x->fmt == FMT_BUNDLE)
            rc = write_bundle(x, note, &tie, &m, co.proven_size);
    }
    bool to_file = fo != stdout;
    if (rc == EXIT_OK && (!em_flush(&x->em) || fflush(fo) != 0 || (to_file && fsync(fileno(fo)))))
        rc = tool_error(EXIT_OPER, "%s: write failed: %s", out ? out : "standard output",
                        strerror(errno));
    if (to_file) {
        if (rc == EXIT_OK)
            rc = publish(&tmp, out);
        rc = close_temp(&tmp, fo, out, rc);
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
    for (int i = 0; x->sp && i < NSP; i++)
        if (x->sp[i].f)
            fclose(x->sp[i].f);
    free(x->sp);
    if (spool)
        fclose(spool);
    free(spool_em);
    html_free(x->html);
    free(note);
    free(qa);
    for (size_t i = 0; i < nqa; i++)
        free(qatext[i]);
    ldg_ledger_close(l);
    ldg_key_free((ldg_key *)x->logkey);
    ldg_key_free(cok);
    free(x);
    return rc;
}
