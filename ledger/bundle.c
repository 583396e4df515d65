/*
 * bundle.c - `ldg verify-bundle`: checks an evidence bundle offline
 * (spec/export.md [EXP-8]).  The bundle is hostile input: every length is
 * checked against what remains, every member is looked at once, and
 * nothing in it is trusted that the trusted log key does not vouch for:
 * the manifest (sizes, SHA-256), the checkpoint's signature, each entry's
 * inclusion proof at the checkpoint, the key records replayed into a
 * registry, each record's statement signature under the key registered at
 * that point, chain links between consecutive records, and bodies against
 * their signed commitments.
 */
#include "internal.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_PREFIX "ldg-bundle/"
#define MAX_KEYS 100000

enum {
    M_README,
    M_MANIFEST,
    M_CHECKPOINT,
    M_LOGPUB,
    M_RECORDS,
    M_KEYRECS,
    M_HTML,
    M_CSV,
    M_JSONL,
    M_SIGS,
    M_KEYS,
    NMEMBERS
};
static const char *const member_names[NMEMBERS] = {
    "README.txt",    "manifest.json",    "checkpoint.txt", "log.pub",
    "records.jsonl", "keyrecords.jsonl", "report.html",    "trail.csv",
    "trail.jsonl",   "signatures.csv",   "keys.csv"};

typedef struct member {
    const uint8_t *p;
    size_t n;
    bool present, listed;
} member;

typedef struct bkey {
    uint8_t pub[LDG_PUB_BYTES];
    uint64_t added, revoked; /* revoked: UINT64_MAX when not */
    unsigned roles;
} bkey;

typedef struct bstate {
    member m[NMEMBERS];
    ldg_finding_fn fn;
    void *ctx;
    ldg_bundle_summary *sum;
    ldg_checkpoint cp;
    uint8_t logpub[LDG_PUB_BYTES];
    bkey *keys;
    size_t nkeys;
    uint64_t *listed; /* the manifest's record list, ascending */
    size_t nlisted;
} bstate;

static void
finding(bstate *b, ldg_finding_level lvl, uint64_t seq, const char *check, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (lvl == LDG_FINDING_FAIL)
        b->sum->failures++;
    else
        b->sum->withheld++;
    if (b->fn)
        b->fn(b->ctx, lvl, seq, check, msg);
}

/* ------------------------------------------------------------- tar -- */

static bool
octal_field(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    size_t i = 0;
    while (i < n && p[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (x >> 60)
            return false;
        x = x * 8 + (uint64_t)(p[i] - '0');
    }
    for (; i < n; i++)
        if (p[i] != '\0' && p[i] != ' ')
            return false;
    *v = x;
    return digits > 0;
}

/* Splits the tar into the known members; false (with a finding) when it is not one. */
static bool
read_tar(bstate *b, const uint8_t *t, size_t len)
{
    size_t off = 0;
    for (;;) {
        if (len - off < 512) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle",
                    "the tar ends without its end-of-archive blocks (truncated)");
            return false;
        }
        const uint8_t *h = t + off;
        bool zero = true;
        for (size_t i = 0; i < 512 && zero; i++)
            zero = h[i] == 0;
        if (zero)
            return true;
        uint64_t sum_field, size;
        unsigned sum = 0;
        for (size_t i = 0; i < 512; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (!octal_field(h + 148, 8, &sum_field) || sum_field != sum) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle",
                    "a tar header at byte %zu is damaged (checksum)", off);
            return false;
        }
        if (!octal_field(h + 124, 12, &size) || (h[156] != '0' && h[156] != '\0') ||
            h[345] != '\0' || memchr(h, '\0', 100) == NULL) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle",
                    "the tar member at byte %zu is not a plain file with a short name", off);
            return false;
        }
        off += 512;
        if (size > len - off) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle",
                    "the tar member at byte %zu runs past the end (truncated)", off - 512);
            return false;
        }
        const char *name = (const char *)h;
        int which = -1;
        if (strncmp(name, DIR_PREFIX, strlen(DIR_PREFIX)) == 0)
            for (int i = 0; i < NMEMBERS; i++)
                if (strcmp(name + strlen(DIR_PREFIX), member_names[i]) == 0)
                    which = i;
        if (which < 0) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle",
                    "the bundle holds a file it should not: %.99s", name);
        } else if (b->m[which].present) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle", "%s appears twice",
                    member_names[which]);
        } else {
            b->m[which].present = true;
            b->m[which].p = t + off;
            b->m[which].n = (size_t)size;
        }
        size_t padded = (size_t)size + (512 - size % 512) % 512;
        if (padded > len - off) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle", "the last tar member is truncated");
            return false;
        }
        off += padded;
    }
}

/* -------------------------------------------------------- manifest -- */

static int
cmp_u64(const void *a, const void *c)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)c;
    return (x > y) - (x < y);
}

static bool
check_manifest(bstate *b)
{
    member *mm = &b->m[M_MANIFEST];
    if (!mm->present) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest", "manifest.json is missing");
        return false;
    }
    if (mm->n > LDG_MANIFEST_MAX) { /* refused before jansson builds a tree of it */
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                "manifest.json is %zu bytes, over the limit of %u", mm->n, LDG_MANIFEST_MAX);
        return false;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)mm->p, mm->n, JSON_REJECT_DUPLICATES, &je);
    json_t *files = j ? json_object_get(j, "files") : NULL;
    json_t *recs = j ? json_object_get(j, "records") : NULL;
    const char *fmt = j ? json_string_value(json_object_get(j, "format")) : NULL;
    if (!j || !fmt || strcmp(fmt, "ldg-bundle/1") != 0 || !json_is_array(files) ||
        !json_is_array(recs)) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                "manifest.json is not an ldg-bundle/1 manifest%s%s", j ? "" : ": ",
                j ? "" : je.text);
        json_decref(j);
        return false;
    }
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *hex = json_string_value(json_object_get(f, "sha256"));
        json_t *size = json_object_get(f, "size");
        int which = -1;
        for (int k = 0; path && k < NMEMBERS; k++)
            if (k != M_MANIFEST && strcmp(path, member_names[k]) == 0)
                which = k;
        if (which < 0 || !hex || !json_is_integer(size)) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                    "manifest.json lists a file the bundle cannot have: %.80s",
                    path ? path : "(no path)");
            continue;
        }
        member *m = &b->m[which];
        if (m->listed) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest", "%s is listed twice", path);
            continue;
        }
        m->listed = true;
        if (!m->present) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                    "%s is listed in the manifest but missing from the bundle", path);
            continue;
        }
        uint8_t d[LDG_HASH_BYTES];
        char got[65];
        ldgi_sha256(m->p, m->n, d);
        sodium_bin2hex(got, sizeof got, d, sizeof d);
        if ((json_int_t)m->n != json_integer_value(size) || strcmp(got, hex) != 0)
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                    "%s does not match its size and SHA-256 in the manifest (altered)", path);
    }
    for (int k = 0; k < NMEMBERS; k++)
        if (k != M_MANIFEST && b->m[k].present && !b->m[k].listed)
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                    "%s is in the bundle but not in the manifest", member_names[k]);
        else if (k != M_MANIFEST && !b->m[k].present && !b->m[k].listed)
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest", "%s is missing", member_names[k]);
    b->nlisted = json_array_size(recs);
    b->listed = ldgi_calloc(b->nlisted ? b->nlisted : 1, sizeof *b->listed);
    bool ok = b->listed != NULL;
    json_array_foreach(recs, i, f)
    {
        if (!ok)
            break;
        if (!json_is_integer(f) || json_integer_value(f) < 0) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                    "the manifest's record list holds something that is not a record number");
            ok = false;
            break;
        }
        b->listed[i] = (uint64_t)json_integer_value(f);
    }
    if (ok) {
        qsort(b->listed, b->nlisted, sizeof *b->listed, cmp_u64);
        for (i = 1; i < b->nlisted; i++)
            if (b->listed[i] == b->listed[i - 1])
                finding(b, LDG_FINDING_FAIL, b->listed[i], "manifest",
                        "the manifest lists this record twice");
    }
    json_decref(j);
    return ok;
}

/* ---------------------------------------------------------- records -- */

static bkey *
key_find(bstate *b, const uint8_t pub[LDG_PUB_BYTES])
{
    for (size_t i = 0; i < b->nkeys; i++)
        if (memcmp(b->keys[i].pub, pub, LDG_PUB_BYTES) == 0)
            return &b->keys[i];
    return NULL;
}

static bool
b64_field(json_t *o, const char *k, uint8_t *out, size_t max, size_t *n)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s && sodium_base642bin(out, max, s, strlen(s), NULL, n, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0;
}

typedef struct line_ctx {
    uint64_t last_seq;
    bool have_last;
    uint8_t last_leaf[LDG_HASH_BYTES];
} line_ctx;

/*
 * One evidence line: the entry, its proof at the checkpoint, its statement
 * and signature; for key records the registry is updated, for records the
 * signer is checked against it.  Returns false on a line that cannot be
 * read at all (reported).
 */
static bool
check_line(bstate *b, const char *file, size_t lineno, const char *text, size_t n, bool keyrec,
           line_ctx *lc, uint8_t *entry)
{
    if (n > LDG_BUNDLE_LINE_MAX) { /* longer than any evidence line: not handed to jansson */
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle",
                "%s line %zu is %zu bytes, longer than a record can be (%u)", file, lineno, n,
                LDG_BUNDLE_LINE_MAX);
        return false;
    }
    json_error_t je;
    json_t *o = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    json_t *jseq = o ? json_object_get(o, "seq") : NULL;
    if (!json_is_integer(jseq) || json_integer_value(jseq) < 0) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "bundle", "%s line %zu is not a record", file,
                lineno);
        json_decref(o);
        return false;
    }
    uint64_t seq = (uint64_t)json_integer_value(jseq);
    size_t elen;
    uint8_t leaf[LDG_HASH_BYTES];
    ldgi_entry e;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    const char *why = NULL;
    if (!st) {
        json_decref(o);
        return false;
    }
    if (!b64_field(o, "entry", entry, LDGI_ENTRY_MAX, &elen) ||
        !ldgi_entry_decode(entry, elen, &e, &why) ||
        !ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why)) {
        finding(b, LDG_FINDING_FAIL, seq, "encoding", "%s: the entry does not decode (%s)", file,
                why ? why : "not base64");
        goto done;
    }
    ldgi_leaf_hash(entry, elen, leaf);
    if (e.seq != seq)
        finding(b, LDG_FINDING_FAIL, seq, "seq", "the entry says seq %llu",
                (unsigned long long)e.seq);
    /* the inclusion proof ties the exact bytes to the signed checkpoint */
    json_t *inc = json_object_get(o, "inclusion");
    json_t *hs = json_object_get(inc, "hashes");
    uint8_t h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t nh = json_array_size(hs), k;
    bool proof = json_is_array(hs) && nh <= LDG_PROOF_MAX &&
                 json_integer_value(json_object_get(inc, "tree_size")) == (json_int_t)b->cp.size;
    for (k = 0; proof && k < nh; k++) {
        const char *s = json_string_value(json_array_get(hs, k));
        size_t got;
        proof = s &&
                sodium_base642bin(h[k], LDG_HASH_BYTES, s, strlen(s), NULL, &got, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0 &&
                got == LDG_HASH_BYTES;
    }
    if (!proof || seq >= b->cp.size ||
        !ldg_proof_verify_inclusion(seq, b->cp.size, leaf, (const uint8_t(*)[LDG_HASH_BYTES])h, nh,
                                    b->cp.root))
        finding(b, LDG_FINDING_FAIL, seq, "proof",
                "the entry is not in the checkpoint's tree (altered, from another ledger, or a "
                "wrong proof)");
    if (!ldgi_stmt_sig_ok(e.stmt, e.stmt_len, st->actor, e.sig))
        finding(b, LDG_FINDING_FAIL, seq, "signature",
                "signature does not verify under the statement's key");
    if (st->has_origin && (st->origin.len != strlen(b->cp.origin) ||
                           memcmp(st->origin.p, b->cp.origin, st->origin.len) != 0))
        finding(b, LDG_FINDING_FAIL, seq, "policy",
                "the statement was signed for another ledger than the checkpoint's");
    if (lc->have_last && seq <= lc->last_seq)
        finding(b, LDG_FINDING_FAIL, seq, "bundle", "%s is not in increasing seq order", file);
    if (lc->have_last && seq == lc->last_seq + 1 &&
        memcmp(e.prev, lc->last_leaf, LDG_HASH_BYTES) != 0)
        finding(b, LDG_FINDING_FAIL, seq, "prev",
                "prev does not match the leaf hash of entry %llu (chain broken)",
                (unsigned long long)lc->last_seq);
    lc->have_last = true;
    lc->last_seq = seq;
    memcpy(lc->last_leaf, leaf, LDG_HASH_BYTES);
    ldgi_kindclass kc = ldgi_kind_class(st->kind.p, st->kind.len);
    char w[300];
    if (keyrec) {
        b->sum->key_records++;
        if (seq == 0) {
            if (kc != LDGI_KIND_GENESIS || memcmp(st->actor, b->logpub, LDG_PUB_BYTES) != 0)
                finding(b, LDG_FINDING_FAIL, seq, "genesis",
                        "entry 0 is not a genesis signed by the trusted log key");
        } else if (kc != LDGI_KIND_KEY_ADD && kc != LDGI_KIND_KEY_REVOKE) {
            finding(b, LDG_FINDING_FAIL, seq, "keys", "keyrecords.jsonl holds a %.*s record",
                    (int)(st->kind.len > 40 ? 40 : st->kind.len), st->kind.p);
            goto done;
        } else {
            bkey *signer = key_find(b, st->actor);
            if (!signer || signer->added >= seq ||
                (signer->revoked != UINT64_MAX && signer->revoked < seq) ||
                !ldgi_stmt_role_ok(st, signer->roles, w, sizeof w))
                finding(b, LDG_FINDING_FAIL, seq, "key",
                        "the key record is not signed by a key allowed to at that point");
        }
        if (kc == LDGI_KIND_GENESIS || kc == LDGI_KIND_KEY_ADD) {
            if (key_find(b, st->key_pub)) {
                finding(b, LDG_FINDING_FAIL, seq, "keys", "key added twice");
            } else if (b->nkeys < MAX_KEYS) {
                bkey *nk = realloc(b->keys, (b->nkeys + 1) * sizeof *nk);
                if (nk) {
                    b->keys = nk;
                    nk = &b->keys[b->nkeys++];
                    memcpy(nk->pub, st->key_pub, LDG_PUB_BYTES);
                    nk->added = seq;
                    nk->revoked = UINT64_MAX;
                    nk->roles = ldgi_stmt_roles(st);
                }
            }
        } else if (kc == LDGI_KIND_KEY_REVOKE) {
            bkey *rk = key_find(b, st->key_pub);
            if (!rk || rk->revoked != UINT64_MAX)
                finding(b, LDG_FINDING_FAIL, seq, "keys", "revocation of a key %s",
                        rk ? "already revoked" : "never added");
            else
                rk->revoked = seq;
        }
        goto done;
    }
    b->sum->records++;
    if (!bsearch(&seq, b->listed, b->nlisted, sizeof *b->listed, cmp_u64))
        finding(b, LDG_FINDING_FAIL, seq, "manifest",
                "the record is not in the manifest's list (added to the bundle)");
    if (kc == LDGI_KIND_USER) {
        bkey *signer = key_find(b, st->actor);
        if (!signer)
            finding(b, LDG_FINDING_FAIL, seq, "key",
                    "signed by a key that no key record of the bundle adds");
        else if (signer->added >= seq || (signer->revoked != UINT64_MAX && signer->revoked < seq))
            finding(b, LDG_FINDING_FAIL, seq, "key",
                    "signed by a key not registered at that point (added at %llu%s)",
                    (unsigned long long)signer->added,
                    signer->revoked != UINT64_MAX ? ", revoked before" : "");
        else if (!ldgi_stmt_role_ok(st, signer->roles, w, sizeof w))
            finding(b, LDG_FINDING_FAIL, seq, "policy", "%s", w);
    }
    /* the body against the commitment the signer signed */
    const char *bs = json_string_value(json_object_get(o, "body_status"));
    const char *body = json_string_value(json_object_get(o, "body"));
    uint8_t salt[LDG_SALT_BYTES];
    size_t sl;
    if (bs && strcmp(bs, "ok") == 0) {
        uint8_t c[LDG_HASH_BYTES];
        if (!body || !b64_field(o, "salt", salt, sizeof salt, &sl) || sl != LDG_SALT_BYTES) {
            finding(b, LDG_FINDING_FAIL, seq, "body", "the body or its salt is missing");
        } else {
            ldgi_body_commit(salt, (const uint8_t *)body, strlen(body), c);
            if (sodium_memcmp(c, st->body, LDG_HASH_BYTES) != 0)
                finding(b, LDG_FINDING_FAIL, seq, "body",
                        "the body does not match the signed commitment (altered)");
        }
    } else if (bs && (strcmp(bs, "withheld") == 0 || strcmp(bs, "withheld-by-export") == 0)) {
        finding(b, LDG_FINDING_WITHHELD, seq, "body", "body withheld%s: not in the bundle",
                strcmp(bs, "withheld") == 0 ? " in the ledger" : " from this export");
    } else {
        finding(b, LDG_FINDING_FAIL, seq, "body",
                "the exporter found the body altered (body_status %.20s)", bs ? bs : "missing");
    }
done:
    free(st);
    json_decref(o);
    return true;
}

static void
check_lines(bstate *b, int which, bool keyrec)
{
    member *m = &b->m[which];
    if (!m->present)
        return;
    uint8_t *entry = ldgi_malloc(LDGI_ENTRY_MAX);
    if (!entry)
        return;
    line_ctx lc = {0};
    const char *p = (const char *)m->p, *end = p + m->n;
    for (size_t lineno = 1; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        check_line(b, member_names[which], lineno, p, n, keyrec, &lc, entry);
        p += n + 1;
    }
    free(entry);
}

ldg_status
ldg_bundle_verify(const uint8_t *tar, size_t len, const char *trust_line, ldg_finding_fn fn,
                  void *ctx, ldg_bundle_summary *sum, ldg_err *err)
{
    memset(sum, 0, sizeof *sum);
    bstate *b = ldgi_calloc(1, sizeof *b);
    if (!b)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    b->fn = fn;
    b->ctx = ctx;
    b->sum = sum;
    ldg_status s = LDG_OK;
    char name[LDG_NAME_MAX + 1];
    if (trust_line &&
        ldg_vkey_parse(trust_line, strlen(trust_line), name, b->logpub, err) != LDG_OK) {
        s = LDG_E_INPUT;
        goto out;
    }
    if (!read_tar(b, tar, len) || !check_manifest(b))
        goto out;
    /* the log key: the trusted one, or (said plainly by the caller) the bundle's own */
    char bname[LDG_NAME_MAX + 1];
    uint8_t bpub[LDG_PUB_BYTES];
    ldg_err e2;
    member *lp = &b->m[M_LOGPUB];
    bool have_b =
        lp->present && lp->n < LDG_VKEY_MAX &&
        ldg_vkey_parse((const char *)lp->p, lp->n && lp->p[lp->n - 1] == '\n' ? lp->n - 1 : lp->n,
                       bname, bpub, &e2) == LDG_OK;
    if (!trust_line) {
        if (!have_b) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                    "no --trust key and no readable log.pub in the bundle");
            goto out;
        }
        memcpy(name, bname, sizeof name);
        memcpy(b->logpub, bpub, LDG_PUB_BYTES);
        sum->trusted_from_bundle = 1;
    } else if (have_b && (strcmp(bname, name) != 0 || memcmp(bpub, b->logpub, LDG_PUB_BYTES))) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                "the bundle's log.pub is not the trusted log key");
    }
    member *cm = &b->m[M_CHECKPOINT];
    if (!cm->present ||
        ldg_checkpoint_parse((const char *)cm->p, cm->n, name, b->logpub, &b->cp, &e2) != LDG_OK) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "checkpoint",
                "checkpoint.txt is not a checkpoint signed by the trusted log key \"%s\"%s%s", name,
                cm->present ? ": " : "", cm->present ? e2.msg : "");
        goto out;
    }
    sum->cp = b->cp;
    check_lines(b, M_KEYRECS, true);
    if (!key_find(b, b->logpub) && b->nkeys == 0)
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "keys", "the bundle holds no genesis");
    check_lines(b, M_RECORDS, false);
    if (sum->records != b->nlisted)
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                "the manifest lists %zu records; records.jsonl holds %llu (removed or added)",
                b->nlisted, (unsigned long long)sum->records);
out:
    free(b->keys);
    free(b->listed);
    free(b);
    return s;
}
