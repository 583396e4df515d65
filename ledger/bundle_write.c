/*
 * bundle_write.c - writes the evidence bundle of spec/export.md [EXP-8]:
 * a ustar archive of README.txt, checkpoint.txt, log.pub, the members
 * written while the exported records stream by (records.jsonl,
 * keyrecords.jsonl, trail.csv, trail.jsonl, signatures.csv, keys.csv, and
 * the caller's report.html), manifest.json and manifest.sig.  The members
 * are the ones ldg_bundle_verify (bundle.c) reads: their names are defined
 * here once for both.  Members grow with the export, so they are spooled
 * to anonymous temporary files until the tar header can say their size.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ldgi_bundle_members[LDGI_NMEMBERS] = {
    [LDGI_M_README] = "README.txt",
    [LDGI_M_MANIFEST] = "manifest.json",
    [LDGI_M_CHECKPOINT] = "checkpoint.txt",
    [LDGI_M_LOGPUB] = "log.pub",
    [LDGI_M_RECORDS] = "records.jsonl",
    [LDGI_M_KEYRECS] = "keyrecords.jsonl",
    [LDGI_M_HTML] = "report.html",
    [LDGI_M_CSV] = "trail.csv",
    [LDGI_M_JSONL] = "trail.jsonl",
    [LDGI_M_SIGS] = "signatures.csv",
    [LDGI_M_KEYS] = "keys.csv",
    [LDGI_M_REVIEW_JSON] = "review.json",
    [LDGI_M_REVIEW_HTML] = "review.html",
    [LDGI_M_SIG] = "manifest.sig",
};

/* Members written while the records stream by, each spooled to a temporary file. */
enum { SP_JSONL, SP_CSV, SP_RECORDS, SP_KEYRECS, SP_SIGS, SP_KEYS, SP_SEQS, NSP };
static const int sp_member[NSP] = {
    [SP_JSONL] = LDGI_M_JSONL,
    [SP_CSV] = LDGI_M_CSV,
    [SP_RECORDS] = LDGI_M_RECORDS,
    [SP_KEYRECS] = LDGI_M_KEYRECS,
    [SP_SIGS] = LDGI_M_SIGS,
    [SP_KEYS] = LDGI_M_KEYS,
    [SP_SEQS] = -1,
};

typedef struct spool {
    FILE *f;
    ldgi_emit e;
} spool;

typedef struct keyrow {
    uint8_t pub[LDG_PUB_BYTES];
    char id[LDG_NAME_MAX + 1];
    char who[420];
    bool active; /* registered below the tie and not revoked there */
} keyrow;

struct ldg_bundle_writer {
    ldg_ledger *l;
    uint64_t tie_size;
    ldg_export_opts o;
    uint64_t records;
    spool sp[NSP];
    ldg_export_writer *jsonl, *csv;
    uint8_t logpub[LDG_PUB_BYTES]; /* the genesis' log key */
    bool have_logpub;
    ldg_status failed; /* the first failure while replaying the key records */
    ldg_err ferr;
    keyrow *keys;
    size_t nkeys, capkeys;
};

static int
spool_write(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) != n;
}

/*
 * One line of records.jsonl / keyrecords.jsonl: the exact entry bytes, its
 * inclusion proof at the checkpoint's size, and the body as committed (the
 * canonical JSON text as a JSON string) with its salt, or why it is not.
 */
static ldg_status
evidence_line(ldg_bundle_writer *bw, ldgi_emit *e, const ldg_record *r, bool withhold, ldg_err *err)
{
    uint8_t h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t n = 0;
    ldg_status s = ldg_proof_inclusion(bw->l, r->seq, bw->tie_size, h, &n, err);
    if (s != LDG_OK)
        return s;
    ldgi_em_s(e, "{\"seq\":");
    ldgi_em_u64(e, r->seq);
    ldgi_em_s(e, ",\"leaf_hash\":");
    ldgi_em_json_b64(e, r->leaf_hash, LDG_HASH_BYTES);
    ldgi_em_s(e, ",\"entry\":");
    ldgi_em_json_b64(e, r->entry, r->entry_len);
    ldgi_em_s(e, ",\"inclusion\":{\"tree_size\":");
    ldgi_em_u64(e, bw->tie_size);
    ldgi_em_s(e, ",\"hashes\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ldgi_em_c(e, ',');
        ldgi_em_json_b64(e, h[i], LDG_HASH_BYTES);
    }
    ldgi_em_s(e, "]},\"body_status\":");
    ldgi_em_json_str(e, ldgi_export_body_status(withhold, r));
    if (r->body_state == LDG_BODY_ERASED) {
        ldgi_em_s(e, ",\"erased_by\":");
        ldgi_em_u64(e, r->erased_by);
    }
    bool show = r->body && !withhold;
    ldgi_em_s(e, ",\"salt\":");
    if (show)
        ldgi_em_json_b64(e, r->salt, LDG_SALT_BYTES);
    else
        ldgi_em_s(e, "null");
    ldgi_em_s(e, ",\"body\":");
    ldgi_em_json_str(e, show ? r->body : NULL);
    ldgi_em_s(e, "}\n");
    return e->failed ? ldgi_fail(err, LDG_E_IO, "bundle: cannot write a temporary file") : LDG_OK;
}

/* Key records (genesis, key.add, key.revoke) below the checkpoint: the registry's evidence. */
static int
key_record(void *ctx, const ldg_record *r)
{
    ldg_bundle_writer *bw = ctx;
    if (strcmp(r->kind, "genesis") != 0 && strcmp(r->kind, "key.add") != 0 &&
        strcmp(r->kind, "key.revoke") != 0)
        return 0;
    if (r->seq == 0 && strcmp(r->kind, "genesis") == 0) {
        memcpy(bw->logpub, r->actor, LDG_PUB_BYTES);
        bw->have_logpub = true;
    }
    /* key records carry no trial content: their bodies go in */
    bw->failed = evidence_line(bw, &bw->sp[SP_KEYRECS].e, r, false, &bw->ferr);
    return bw->failed != LDG_OK;
}

static int
key_row(void *ctx, const ldg_keyinfo *k)
{
    ldg_bundle_writer *bw = ctx;
    if (k->added_seq >= bw->tie_size)
        return 0;
    bool revoked = k->revoked && k->revoked_seq < bw->tie_size;
    if (bw->nkeys == bw->capkeys) {
        size_t cap = bw->capkeys ? bw->capkeys * 2 : 16;
        keyrow *nk = ldgi_realloc(bw->keys, cap * sizeof *nk);
        if (!nk) {
            bw->failed = ldgi_fail(&bw->ferr, LDG_E_NOMEM, "out of memory");
            return 1;
        }
        bw->keys = nk, bw->capkeys = cap;
    }
    keyrow *kr = &bw->keys[bw->nkeys++];
    memcpy(kr->pub, k->pub, LDG_PUB_BYTES);
    snprintf(kr->id, sizeof kr->id, "%s", k->id);
    snprintf(kr->who, sizeof kr->who, "%.120s (%.120s), key %s", k->name ? k->name : "?",
             k->org ? k->org : "?", k->id);
    kr->active = !revoked;
    ldgi_emit *e = &bw->sp[SP_KEYS].e;
    ldgi_em_csv(e, k->id, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, k->name, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, k->org, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, k->roles, true);
    ldgi_em_c(e, ',');
    ldgi_em_hex(e, k->pub, LDG_PUB_BYTES);
    ldgi_em_c(e, ',');
    ldgi_em_u64(e, k->added_seq);
    ldgi_em_c(e, ',');
    if (revoked) {
        ldgi_em_u64(e, k->revoked_seq);
        ldgi_em_c(e, ',');
        ldgi_em_csv(e, k->revoke_reason, true);
    } else {
        ldgi_em_c(e, ',');
    }
    ldgi_em_raw(e, "\r\n", 2);
    return 0;
}

void
ldg_bundle_writer_free(ldg_bundle_writer *bw)
{
    if (!bw)
        return;
    for (int i = 0; i < NSP; i++)
        if (bw->sp[i].f)
            fclose(bw->sp[i].f);
    ldg_export_writer_free(bw->jsonl);
    ldg_export_writer_free(bw->csv);
    free(bw->keys);
    free(bw);
}

ldg_status
ldg_bundle_writer_new(ldg_ledger *l, uint64_t tie_size, const ldg_export_opts *o,
                      ldg_bundle_writer **out, ldg_err *err)
{
    *out = NULL;
    if (!tie_size)
        return ldgi_fail(err, LDG_E_USAGE, "bundle: no checkpoint size to tie it to");
    ldg_bundle_writer *bw = ldgi_calloc(1, sizeof *bw);
    if (!bw)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    bw->l = l;
    bw->tie_size = tie_size;
    if (o)
        bw->o = *o;
    ldg_status s = LDG_OK;
    for (int i = 0; s == LDG_OK && i < NSP; i++) {
        if (!(bw->sp[i].f = tmpfile()))
            s = ldgi_fail(err, LDG_E_IO, "cannot make a temporary file: %s", strerror(errno));
        else
            ldgi_em_init(&bw->sp[i].e, spool_write, bw->sp[i].f);
    }
    if (s == LDG_OK)
        s = ldg_export_writer_new(LDG_EXPORT_JSONL, &bw->o, spool_write, bw->sp[SP_JSONL].f,
                                  &bw->jsonl, err);
    if (s == LDG_OK)
        s = ldg_export_writer_new(LDG_EXPORT_CSV, &bw->o, spool_write, bw->sp[SP_CSV].f, &bw->csv,
                                  err);
    if (s == LDG_OK) {
        ldgi_em_s(&bw->sp[SP_SIGS].e,
                  "seq,kind,name,organisation,key_id,meaning,time_utc,signature,status\r\n");
        ldgi_em_s(&bw->sp[SP_KEYS].e, "key_id,name,organisation,roles,pub,added_seq,revoked_seq,"
                                      "revoke_reason\r\n");
        ldg_filter kf = {.has_seq = 1, .seq_from = 0, .seq_to = tie_size - 1};
        s = ldg_log_replayed(l, &kf, key_record, bw, err);
        if (s == LDG_OK && bw->failed != LDG_OK) {
            s = bw->failed;
            if (err)
                *err = bw->ferr;
        } else if (s == LDG_OK && !bw->have_logpub) {
            s = ldgi_fail(err, LDG_E_CORRUPT, "bundle: the ledger has no genesis record");
        }
    }
    if (s == LDG_OK && (s = ldg_keys_replayed(l, tie_size, key_row, bw, err)) == LDG_OK &&
        bw->failed != LDG_OK) {
        s = bw->failed;
        if (err)
            *err = bw->ferr;
    }
    if (s != LDG_OK) {
        ldg_bundle_writer_free(bw);
        return s;
    }
    *out = bw;
    return LDG_OK;
}

int
ldg_bundle_writer_registered(const ldg_bundle_writer *bw, const ldg_key *k, char *who,
                             size_t wholen)
{
    uint8_t pub[LDG_PUB_BYTES];
    ldg_key_public(k, pub);
    for (size_t i = 0; i < bw->nkeys; i++) {
        const keyrow *kr = &bw->keys[i];
        if (kr->active && strcmp(kr->id, ldg_key_name(k)) == 0 &&
            memcmp(pub, kr->pub, LDG_PUB_BYTES) == 0) {
            if (who && wholen)
                snprintf(who, wholen, "%s", kr->who);
            return 1;
        }
    }
    return 0;
}

ldg_status
ldg_bundle_writer_record(ldg_bundle_writer *bw, const ldg_record *r, ldg_err *err)
{
    bw->records++;
    ldg_status s;
    if ((s = ldg_export_writer_record(bw->jsonl, r, err)) != LDG_OK ||
        (s = ldg_export_writer_record(bw->csv, r, err)) != LDG_OK ||
        (s = evidence_line(bw, &bw->sp[SP_RECORDS].e, r, bw->o.withhold, err)) != LDG_OK)
        return s;
    ldgi_emit *e = &bw->sp[SP_SIGS].e;
    char t[40];
    ldgi_em_u64(e, r->seq);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->kind, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->signer.name ? r->signer.name : "(unregistered key)", true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->signer.org, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->signer.id, true);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->meaning, true);
    ldgi_em_c(e, ',');
    ldg_time_format(r->time_ns, 0, 1, t);
    ldgi_em_csv(e, t, false);
    ldgi_em_c(e, ',');
    ldgi_em_hex(e, r->sig, LDG_SIG_BYTES);
    ldgi_em_c(e, ',');
    ldgi_em_csv(e, r->sig_state == LDG_SIG_INVALID ? "INVALID" : ldgi_export_sig_status(r), false);
    ldgi_em_raw(e, "\r\n", 2);
    ldgi_emit *q = &bw->sp[SP_SEQS].e;
    if (bw->records > 1)
        ldgi_em_c(q, ',');
    ldgi_em_u64(q, r->seq);
    return e->failed || q->failed
               ? ldgi_fail(err, LDG_E_IO, "bundle: cannot write a temporary file")
               : LDG_OK;
}

/* ------------------------------------------------------------ the tar -- */

/* width-1 octal digits and a NUL; false when v does not fit. */
static bool
octal(char *dst, size_t width, uint64_t v)
{
    dst[width - 1] = '\0';
    for (size_t i = width - 1; i > 0; i--, v >>= 3)
        dst[i - 1] = (char)('0' + (v & 7));
    return v == 0;
}

/* One ustar member: header, data from src (a file) or buf, padding; its SHA-256. */
static bool
tar_member(ldgi_emit *out, const char *member, FILE *src, const char *buf, uint64_t len,
           uint64_t mtime, uint8_t sha[LDG_HASH_BYTES])
{
    char h[512], name[128];
    memset(h, 0, sizeof h);
    snprintf(name, sizeof name, LDGI_BUNDLE_DIR "%s", member);
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
    ldgi_em_raw(out, h, sizeof h);
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
            ldgi_em_raw(out, chunk, want);
            left -= want;
        }
    } else {
        crypto_hash_sha256_update(&st, (const unsigned char *)buf, len);
        ldgi_em_raw(out, buf, (size_t)len);
    }
    static const char zero[512];
    if (len % 512)
        ldgi_em_raw(out, zero, 512 - (size_t)(len % 512));
    crypto_hash_sha256_final(&st, sha);
    return !out->failed;
}

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

static int
buf_sink(void *ctx, const void *p, size_t n)
{
    return !ldgi_buf_put(ctx, p, n);
}

/* s escaped for people (one line, no control or invisible characters), malloc'd; NULL: no memory.
 */
static char *
text(const char *s)
{
    ldgi_buf b = {0};
    if (ldg_escape(s ? s : "", LDG_ESC_TEXT, buf_sink, &b) != 0 || !ldgi_buf_put(&b, "", 1)) {
        ldgi_buf_free(&b);
        return NULL;
    }
    return (char *)b.p;
}

/* A member as the manifest lists it. */
typedef struct man_file {
    const char *name;
    uint64_t size;
    uint8_t sha[LDG_HASH_BYTES];
} man_file;

/*
 * [EXP-8] manifest.sig, the last member: the log key (and the exporter's
 * key with a cosigner) sign the SHA-256 of manifest.json and of every member
 * it lists, so that nothing verify-bundle calls OK rests on an unsigned file.
 */
static ldg_status
sign_bundle(ldgi_emit *out, const char *origin, const man_file *man, size_t nman,
            const uint8_t manifest_sha[LDG_HASH_BYTES], uint64_t mtime, const ldg_key *logkey,
            const ldg_key *cosigner, ldg_err *err)
{
    ldg_bundle_file files[LDGI_NMEMBERS];
    if (nman + 1 > sizeof files / sizeof files[0])
        return ldgi_fail(err, LDG_E_USAGE, "bundle: too many members");
    files[0].path = ldgi_bundle_members[LDGI_M_MANIFEST];
    memcpy(files[0].sha256, manifest_sha, LDG_HASH_BYTES);
    for (size_t i = 0; i < nman; i++) {
        files[i + 1].path = man[i].name;
        memcpy(files[i + 1].sha256, man[i].sha, LDG_HASH_BYTES);
    }
    char *note = NULL;
    size_t len = 0;
    uint8_t sha[LDG_HASH_BYTES];
    ldg_status s = ldg_bundle_sign(origin, files, nman + 1, logkey, cosigner, &note, &len, err);
    if (s == LDG_OK &&
        !tar_member(out, ldgi_bundle_members[LDGI_M_SIG], NULL, note, len, mtime, sha))
        s = ldgi_fail(err, LDG_E_IO, "cannot write the bundle");
    free(note);
    return s;
}

static ldg_status
readme(const ldg_bundle_writer *bw, const ldg_bundle_meta *m, const char *logname,
       const uint8_t root[LDG_HASH_BYTES], char **out, ldg_err *err)
{
    char *origin = text(m->origin), *exporter = text(m->exporter), *filters = text(m->filters),
         *name = text(logname), b64[64];
    sodium_bin2base64(b64, sizeof b64, root, LDG_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
    size_t rlen = 8192 + (filters ? strlen(filters) : 0) + (exporter ? strlen(exporter) : 0) +
                  2 * (origin ? strlen(origin) : 0) + (name ? strlen(name) : 0);
    char *r = origin && exporter && filters && name ? ldgi_malloc(rlen) : NULL;
    if (r) {
        snprintf(
            r, rlen,
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
            "keys.csv          the keys' lifecycle: added, revoked, why\n"
            "review.json       `ldg review --json` of the same checkpoint's entries: findings\n"
            "                  (rule, severity, records, why) and KPIs, for a dashboard\n"
            "review.html       that review for people: what an inspector will find\n\n"
            "How to verify\n-------------\n"
            "  ldg verify-bundle THIS.tar --trust LOG.pub\n"
            "with LOG.pub the log key obtained from the sponsor or CRO, not from this bundle.\n"
            "Without ldg: spec/export.md of the ldg sources gives the layout [EXP-8] and the\n"
            "algorithm [EXP-9]: manifest.sig under the log key and every file against it; the\n"
            "manifest; the checkpoint's signature; each entry's inclusion proof, statement\n"
            "signature under the key records, chain links and body commitment.\n"
            "%s%llu%s\n",
            origin, m->exported_at, exporter, filters, (unsigned long long)bw->records,
            (unsigned long long)bw->tie_size, b64, name,
            m->verified ? "verified (see report.html)"
                        : "INTEGRITY FAILURES, marked in report.html and the trail files",
            exporter, origin, m->exported_at, ldg_version(),
            m->proven ? "Signatures of the entries below "
                      : "Every signature was checked at export (",
            (unsigned long long)(m->proven ? m->proven : bw->records),
            m->proven ? " were verified in full by QA (a saved checkpoint); the others at export."
                      : " records).");
    }
    free(origin);
    free(exporter);
    free(filters);
    free(name);
    *out = r;
    return r ? LDG_OK : ldgi_fail(err, LDG_E_NOMEM, "out of memory");
}

/* manifest.json [EXP-8], in a temporary file (the record list grows with the export). */
static ldg_status
manifest(ldg_bundle_writer *bw, const ldg_bundle_meta *m, const man_file *man, size_t nman,
         FILE **out, long *len, ldg_err *err)
{
    FILE *mf = tmpfile();
    if (!mf)
        return ldgi_fail(err, LDG_E_IO, "cannot make a temporary file: %s", strerror(errno));
    ldgi_emit *me = ldgi_malloc(sizeof *me);
    if (!me) {
        fclose(mf);
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    }
    ldgi_em_init(me, spool_write, mf);
    ldgi_em_s(me, "{\"format\":\"ldg-bundle/1\",\"origin\":");
    ldgi_em_json_str(me, m->origin);
    ldgi_em_s(me, ",\"checkpoint_size\":");
    ldgi_em_u64(me, bw->tie_size);
    ldgi_em_s(me, ",\"exported_at\":");
    ldgi_em_json_str(me, m->exported_at);
    ldgi_em_s(me, ",\"exporter\":");
    ldgi_em_json_str(me, m->exporter);
    ldgi_em_s(me, ",\"filters\":");
    ldgi_em_json_str(me, m->filters);
    ldgi_em_s(me, ",\"files\":[");
    for (size_t i = 0; i < nman; i++) {
        ldgi_em_s(me, i ? ",{\"path\":" : "{\"path\":");
        ldgi_em_json_str(me, man[i].name);
        ldgi_em_s(me, ",\"size\":");
        ldgi_em_u64(me, man[i].size);
        ldgi_em_s(me, ",\"sha256\":\"");
        ldgi_em_hex(me, man[i].sha, LDG_HASH_BYTES);
        ldgi_em_s(me, "\"}");
    }
    ldgi_em_s(me, "],\"records\":[");
    rewind(bw->sp[SP_SEQS].f);
    char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, bw->sp[SP_SEQS].f)) > 0)
        ldgi_em_raw(me, chunk, got);
    ldgi_em_s(me, "]}\n");
    *len = ldgi_em_flush(me) && fflush(mf) == 0 ? ftell(mf) : -1;
    free(me);
    if (*len < 0) {
        fclose(mf);
        return ldgi_fail(err, LDG_E_IO, "cannot write a temporary file: %s", strerror(errno));
    }
    *out = mf;
    return LDG_OK;
}

ldg_status
ldg_bundle_writer_finish(ldg_bundle_writer *bw, const ldg_bundle_meta *m, FILE *report,
                         const ldg_key *logkey, const ldg_key *cosigner, ldg_write_fn fn, void *ctx,
                         ldg_err *err)
{
    ldg_status s;
    if ((s = ldg_export_writer_flush(bw->jsonl, err)) != LDG_OK ||
        (s = ldg_export_writer_flush(bw->csv, err)) != LDG_OK)
        return s;
    for (int i = 0; i < NSP; i++)
        if (!ldgi_em_flush(&bw->sp[i].e) || fflush(bw->sp[i].f) != 0)
            return ldgi_fail(err, LDG_E_IO, "cannot write a temporary file: %s", strerror(errno));
    if (!m || !m->checkpoint || !m->origin || !m->exported_at || !m->exporter || !m->filters ||
        !report || !m->review_json || !m->review_html)
        return ldgi_fail(err, LDG_E_USAGE, "bundle: the export's description is incomplete");
    ldg_checkpoint cp;
    char name[LDG_NAME_MAX + 1], line[LDG_VKEY_MAX + 1];
    note_signer(m->checkpoint, name);
    if (!name[0] ||
        ldg_checkpoint_parse(m->checkpoint, strlen(m->checkpoint), name, bw->logpub, &cp, err) !=
            LDG_OK ||
        cp.size != bw->tie_size || ldg_vkey_format(name, bw->logpub, line, NULL) != LDG_OK)
        return ldgi_fail(err, LDG_E_USAGE,
                         "bundle: the checkpoint is not the log key's of %llu entries",
                         (unsigned long long)bw->tie_size);
    strcat(line, "\n");
    /* [EXP-9] never write a bundle its verifier refuses unread: too many records or bytes */
    man_file man[LDGI_NMEMBERS] = {0}; /* the first manifest is only for its length */
    size_t nman = 0;
    static const int order[] = {LDGI_M_README,  LDGI_M_CHECKPOINT,  LDGI_M_LOGPUB,
                                LDGI_M_RECORDS, LDGI_M_KEYRECS,     LDGI_M_HTML,
                                LDGI_M_CSV,     LDGI_M_JSONL,       LDGI_M_SIGS,
                                LDGI_M_KEYS,    LDGI_M_REVIEW_JSON, LDGI_M_REVIEW_HTML};
    char *rd = NULL;
    if ((s = readme(bw, m, name, cp.root, &rd, err)) != LDG_OK)
        return s;
    FILE *src[LDGI_NMEMBERS] = {0};
    const char *buf[LDGI_NMEMBERS] = {0};
    buf[LDGI_M_README] = rd;
    buf[LDGI_M_CHECKPOINT] = m->checkpoint;
    buf[LDGI_M_LOGPUB] = line;
    src[LDGI_M_HTML] = report;
    src[LDGI_M_REVIEW_JSON] = m->review_json;
    src[LDGI_M_REVIEW_HTML] = m->review_html;
    for (int i = 0; i < NSP; i++)
        if (sp_member[i] >= 0)
            src[sp_member[i]] = bw->sp[i].f;
    bool ok = true;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int k = order[i];
        man[nman].name = ldgi_bundle_members[k];
        if (src[k]) {
            if (fflush(src[k]) != 0 || fseek(src[k], 0, SEEK_END) != 0)
                ok = false;
            long len = ftell(src[k]);
            ok = ok && len >= 0;
            man[nman].size = len < 0 ? 0 : (uint64_t)len;
        } else {
            man[nman].size = strlen(buf[k]);
        }
        nman++;
    }
    FILE *mf = NULL;
    long mlen = -1;
    if (!ok)
        s = ldgi_fail(err, LDG_E_IO, "cannot read a temporary file: %s", strerror(errno));
    else
        s = manifest(bw, m, man, nman, &mf, &mlen, err); /* sizes now; hashes follow */
    uint64_t total = (uint64_t)(mlen > 0 ? mlen : 0) + 3 * 512 + 65536 + 1024;
    for (size_t i = 0; i < nman; i++)
        total += 512 + (man[i].size + 511) / 512 * 512;
    if (s == LDG_OK && (mlen > (long)LDG_MANIFEST_MAX || total > LDG_BUNDLE_MAX))
        s = ldgi_fail(err, LDG_E_USAGE,
                      "--format bundle: the bundle would hold %s (%llu bytes), more than a "
                      "verifier reads (a manifest of %u bytes, a bundle of %zu): narrow the "
                      "export with --seq, --since/--until or --study",
                      mlen > (long)LDG_MANIFEST_MAX ? "a manifest too long for its records"
                                                    : "too many bytes",
                      (unsigned long long)(mlen > (long)LDG_MANIFEST_MAX ? (uint64_t)mlen : total),
                      LDG_MANIFEST_MAX, LDG_BUNDLE_MAX);
    if (mf)
        fclose(mf);
    ldgi_emit *out = s == LDG_OK ? ldgi_malloc(sizeof *out) : NULL;
    if (s == LDG_OK && !out)
        s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    if (s != LDG_OK) {
        free(rd);
        free(out);
        return s;
    }
    ldgi_em_init(out, fn, ctx);
    int64_t now;
    ldg_time_now(&now, NULL);
    uint64_t mtime = (uint64_t)(now / 1000000000LL);
    for (size_t i = 0; ok && i < nman; i++) {
        int k = order[i];
        ok =
            tar_member(out, ldgi_bundle_members[k], src[k], buf[k], man[i].size, mtime, man[i].sha);
    }
    free(rd);
    /* the manifest again, now with every member's SHA-256 */
    uint8_t msha[LDG_HASH_BYTES];
    if (ok && (s = manifest(bw, m, man, nman, &mf, &mlen, err)) == LDG_OK) {
        ok = tar_member(out, ldgi_bundle_members[LDGI_M_MANIFEST], mf, NULL, (uint64_t)mlen, mtime,
                        msha);
        fclose(mf);
        /* the log key vouches only for an export in which everything checked [EXP-8] */
        if (ok && m->verified)
            s = sign_bundle(out, m->origin, man, nman, msha, mtime, logkey, cosigner, err);
    }
    static const char end[1024];
    ldgi_em_raw(out, end, sizeof end);
    if (s == LDG_OK && (!ldgi_em_flush(out) || !ok))
        s = ldgi_fail(err, LDG_E_IO, "cannot write the bundle: %s", strerror(errno));
    free(out);
    return s;
}
