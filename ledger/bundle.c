/*
 * bundle.c - evidence bundles (spec/export.md [EXP-8], [EXP-9]): the
 * signed manifest note `manifest.sig` an export writes, and `ldg
 * verify-bundle`, which checks a bundle offline.  The bundle is hostile
 * input: every length is checked against what remains, every member is
 * looked at once, and nothing in it is trusted that the trusted log key
 * does not vouch for: manifest.sig's signature by the log key and every
 * member's SHA-256 against it, the manifest (sizes, SHA-256, the record
 * list), the checkpoint's signature, each entry's inclusion proof at the
 * checkpoint, the key records replayed into a registry, each record's
 * statement signature under the key registered at that point, chain links
 * between consecutive records, bodies against their signed commitments, and
 * an exporter's cosignature on manifest.sig under the key records.
 */
#include "internal.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR_PREFIX LDGI_BUNDLE_DIR
#define MAX_KEYS 100000

/* The members, as bundle_write.c writes them: one list for the writer and the reader. */
enum {
    M_README = LDGI_M_README,
    M_MANIFEST = LDGI_M_MANIFEST,
    M_CHECKPOINT = LDGI_M_CHECKPOINT,
    M_LOGPUB = LDGI_M_LOGPUB,
    M_RECORDS = LDGI_M_RECORDS,
    M_KEYRECS = LDGI_M_KEYRECS,
    M_HTML = LDGI_M_HTML,
    M_CSV = LDGI_M_CSV,
    M_JSONL = LDGI_M_JSONL,
    M_SIGS = LDGI_M_SIGS,
    M_KEYS = LDGI_M_KEYS,
    M_SIG = LDGI_M_SIG,
    NMEMBERS = LDGI_NMEMBERS
};
#define member_names ldgi_bundle_members

#define NOTE_HEADER "ldg-bundle-manifest/v1" /* first line of manifest.sig [EXP-8] */
#define SIG_PREFIX "\xe2\x80\x94 "           /* U+2014 EM DASH, space: a signed-note line */
#define NOTE_MAX 16384
#define COSIG_MAX 8

typedef struct member {
    const uint8_t *p;
    size_t n;
    bool present, listed;
    bool signed_; /* manifest.sig names it */
    uint8_t sig_sha[LDG_HASH_BYTES];
} member;

/* An entry the bundle holds: its leaf hash, and whether it came from keyrecords.jsonl. */
typedef struct bleaf {
    uint8_t leaf[LDG_HASH_BYTES];
    uint64_t seq;
    bool keyrec;
    ldgi_refentry who; /* its signer, kind and key, for [POL-13][POL-15] */
} bleaf;

/* The entries the bundle holds, found by leaf hash and by seq (open addressing). */
typedef struct bleaves {
    bleaf *v;
    size_t n, cap;
    size_t *by_leaf, *by_seq; /* 1-based indexes into v; 0 = empty */
    size_t slots;
} bleaves;

/* A ref or observed head to resolve once every line was read. */
typedef struct blink {
    uint8_t hash[LDG_HASH_BYTES];
    uint64_t seq;  /* the entry that refers */
    uint64_t want; /* observed: the seq the head must be; UINT64_MAX for a ref */
} blink;

/* A key the bundle's key records add, with the names they give it (for the cosigner). */
typedef struct bkey {
    uint8_t pub[LDG_PUB_BYTES];
    char *id, *name, *org; /* signed-note name, printed name, organisation */
} bkey;

/* A signature line of manifest.sig that is not the log key's: an exporter's, checked later. */
typedef struct cosig {
    char name[LDG_NAME_MAX + 1];
    uint8_t blob[4 + LDG_SIG_BYTES]; /* key hash || signature */
} cosig;

typedef struct bstate {
    member m[NMEMBERS];
    ldg_finding_fn fn;
    void *ctx;
    ldg_bundle_summary *sum;
    ldg_checkpoint cp;
    uint8_t logpub[LDG_PUB_BYTES];
    ldgi_registry reg; /* replayed from keyrecords.jsonl [VER-6] */
    bkey *keys;        /* the keys those records add, with their names */
    size_t nkeys;
    bleaves leaves;
    blink *links;
    size_t nlinks, caplinks;
    bool oom;
    uint64_t *listed; /* the manifest's record list, ascending */
    size_t nlisted;
    const char *note_text; /* manifest.sig's signed text, once its log key signature checked */
    size_t note_tl;
    cosig cos[COSIG_MAX];
    size_t ncos;
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
            if (k != M_MANIFEST && k != M_SIG && strcmp(path, member_names[k]) == 0)
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
        if (k == M_MANIFEST || k == M_SIG)
            continue;
        else if (b->m[k].present && !b->m[k].listed)
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                    "%s is in the bundle but not in the manifest", member_names[k]);
        else if (!b->m[k].present && !b->m[k].listed)
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
        if (b->nlisted) /* qsort of NULL, even of none, is undefined */
            qsort(b->listed, b->nlisted, sizeof *b->listed, cmp_u64);
        for (i = 1; i < b->nlisted; i++)
            if (b->listed[i] == b->listed[i - 1])
                finding(b, LDG_FINDING_FAIL, b->listed[i], "manifest",
                        "the manifest lists this record twice");
    }
    json_decref(j);
    return ok;
}

/* ---------------------------------------------- manifest.sig [EXP-8] -- */

static int
member_index(const char *p, size_t n)
{
    for (int k = 0; k < NMEMBERS; k++)
        if (strlen(member_names[k]) == n && memcmp(member_names[k], p, n) == 0)
            return k;
    return -1;
}

/* Appends the signed-note line of k over text[0..tl) [CKP-1]. */
static void
note_sign_line(char *out, size_t cap, size_t *at, const char *text, size_t tl, const ldg_key *k)
{
    uint8_t sig[4 + LDG_SIG_BYTES];
    char b[128];
    ldgi_key_id(k->name, LDGI_KEYID_NOTE, k->pub, sig);
    crypto_sign_ed25519_detached(sig + 4, NULL, (const uint8_t *)text, tl, ldgi_key_sk(k));
    sodium_bin2base64(b, sizeof b, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(out + *at, cap - *at, SIG_PREFIX "%s %s\n", k->name, b);
    *at += n > 0 && (size_t)n < cap - *at ? (size_t)n : 0;
}

ldg_status
ldg_bundle_sign(const char *origin, const ldg_bundle_file *files, size_t n, const ldg_key *logkey,
                const ldg_key *cosigner, char **note, size_t *len, ldg_err *err)
{
    *note = NULL;
    size_t ol = origin ? strlen(origin) : 0;
    if (!ol || ol > LDG_TEXT_MAX || memchr(origin, '\n', ol) || !logkey || n < 1 || n >= NMEMBERS ||
        strcmp(files[0].path, "manifest.json") != 0)
        return ldgi_fail(err, LDG_E_USAGE,
                         "bundle manifest note: an origin and manifest.json first are required");
    bool seen[NMEMBERS] = {false};
    for (size_t i = 0; i < n; i++) {
        int k = files[i].path ? member_index(files[i].path, strlen(files[i].path)) : -1;
        if (k < 0 || k == M_SIG || seen[k])
            return ldgi_fail(err, LDG_E_USAGE, "bundle manifest note: %s is not a bundle member",
                             files[i].path ? files[i].path : "(null)");
        seen[k] = true;
    }
    char *t = ldgi_malloc(NOTE_MAX + LDG_TEXT_MAX);
    if (!t)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    size_t cap = NOTE_MAX + LDG_TEXT_MAX, at = 0;
    at += (size_t)snprintf(t, cap, NOTE_HEADER "\n%s\n", origin);
    for (size_t i = 0; i < n; i++) {
        char b[64];
        sodium_bin2base64(b, sizeof b, files[i].sha256, LDG_HASH_BYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        at += (size_t)snprintf(t + at, cap - at, "%s %s\n", b, files[i].path);
    }
    size_t tl = at;
    t[at++] = '\n';
    note_sign_line(t, cap, &at, t, tl, logkey);
    if (cosigner)
        note_sign_line(t, cap, &at, t, tl, cosigner);
    t[at] = '\0';
    *note = t;
    *len = at;
    return LDG_OK;
}

/*
 * manifest.sig: a signed note by the log key (logname, logpub) naming the
 * SHA-256 of every other member.  Once its signature checks, each member
 * is compared with it; other signature lines are kept for check_cosigs.
 */
static void
check_note(bstate *b, const char *logname, const uint8_t logpub[LDG_PUB_BYTES])
{
    member *m = &b->m[M_SIG];
    if (!m->present) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                "manifest.sig is missing: nothing binds the bundle's files to the log key");
        return;
    }
    const char *note = (const char *)m->p;
    size_t len = m->n, tl = 0;
    for (size_t i = 0; i + 1 < len && !tl; i++)
        if (note[i] == '\n' && note[i + 1] == '\n')
            tl = i + 1;
    bool ok = tl && len <= NOTE_MAX && note[len - 1] == '\n' &&
              ldgi_utf8_valid((const uint8_t *)note, len);
    bool found = false, good = true;
    for (const char *p = note + tl + 1, *end = note + len; ok && p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)(eol - p), pl = sizeof SIG_PREFIX - 1;
        const char *sp = ll > pl ? memchr(p + pl, ' ', ll - pl) : NULL;
        size_t nl = sp ? (size_t)(sp - (p + pl)) : 0;
        uint8_t blob[4 + LDG_SIG_BYTES], want[4];
        char name[LDG_NAME_MAX + 1];
        if (ll <= pl || memcmp(p, SIG_PREFIX, pl) != 0 || !nl || nl > LDG_NAME_MAX ||
            memchr(p + pl, '+', nl) ||
            !ldgi_b64_exact(sp + 1, (size_t)(eol - sp - 1), blob, sizeof blob)) {
            ok = false;
            break;
        }
        memcpy(name, p + pl, nl);
        name[nl] = '\0';
        ldgi_key_id(name, LDGI_KEYID_NOTE, logpub, want);
        if (strcmp(name, logname) == 0 && memcmp(blob, want, 4) == 0) {
            found = true; /* every line of the log key must verify */
            good &= crypto_sign_ed25519_verify_detached(blob + 4, (const uint8_t *)note, tl,
                                                        logpub) == 0;
        } else if (b->ncos == COSIG_MAX) {
            ok = false;
        } else {
            memcpy(b->cos[b->ncos].name, name, nl + 1);
            memcpy(b->cos[b->ncos++].blob, blob, sizeof blob);
        }
        p = eol + 1;
    }
    if (!ok) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                "manifest.sig is not a signed note (text, a blank line, signature lines)");
        return;
    }
    if (!found || !good) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                "manifest.sig is not signed by the trusted log key \"%s\"%s: nothing binds the "
                "bundle's files to it",
                logname, found ? " (the signature does not verify: altered)" : "");
        return;
    }
    /* the text: header, origin, then "<base64 SHA-256> <member>" lines */
    const char *p = note, *end = note + tl;
    const char *e1 = memchr(p, '\n', tl);
    size_t hl = strlen(NOTE_HEADER), ol = strlen(b->cp.origin);
    if ((size_t)(e1 - p) != hl || memcmp(p, NOTE_HEADER, hl) != 0) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                "manifest.sig is not an " NOTE_HEADER " note");
        return;
    }
    p = e1 + 1;
    const char *e2 = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
    if (!e2 || (size_t)(e2 - p) != ol || memcmp(p, b->cp.origin, ol) != 0) {
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                "manifest.sig was signed for another ledger than the checkpoint's");
        return;
    }
    for (p = e2 + 1; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        int k = sp ? member_index(sp + 1, (size_t)(eol - sp - 1)) : -1;
        uint8_t h[LDG_HASH_BYTES];
        if (k < 0 || k == M_SIG || b->m[k].signed_ ||
            !ldgi_b64_exact(p, (size_t)(sp - p), h, sizeof h)) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                    "manifest.sig names a file twice, or one a bundle cannot have");
            return;
        }
        b->m[k].signed_ = true;
        memcpy(b->m[k].sig_sha, h, sizeof h);
        p = eol + 1;
    }
    uint64_t before = b->sum->failures;
    for (int k = 0; k < NMEMBERS; k++) {
        member *x = &b->m[k];
        uint8_t d[LDG_HASH_BYTES];
        if (k == M_SIG)
            continue;
        if (!x->signed_) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                    "%s is not named in manifest.sig: nothing authenticates it", member_names[k]);
            continue;
        }
        if (!x->present)
            continue; /* said by the manifest check */
        ldgi_sha256(x->p, x->n, d);
        if (sodium_memcmp(d, x->sig_sha, LDG_HASH_BYTES) != 0)
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                    "%s is not the file the log key signed in manifest.sig (altered)",
                    member_names[k]);
    }
    b->note_text = note;
    b->note_tl = tl;
    b->sum->manifest_signed = b->sum->failures == before;
}

/* The other signature lines of manifest.sig: an exporter's key, as the key records say. */
static void
check_cosigs(bstate *b)
{
    for (size_t i = 0; b->note_text && i < b->ncos; i++) {
        cosig *c = &b->cos[i];
        bkey *k = NULL;
        const ldgi_regslot *reg;
        for (size_t j = 0; j < b->nkeys && !k; j++) {
            uint8_t id[4];
            ldgi_key_id(c->name, LDGI_KEYID_NOTE, b->keys[j].pub, id);
            if (b->keys[j].id && strcmp(b->keys[j].id, c->name) == 0 && memcmp(id, c->blob, 4) == 0)
                k = &b->keys[j];
        }
        if (!k) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                    "manifest.sig is also signed by \"%s\", a key no key record of the bundle adds",
                    c->name);
        } else if (crypto_sign_ed25519_verify_detached(c->blob + 4, (const uint8_t *)b->note_text,
                                                       b->note_tl, k->pub) != 0) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                    "the exporter's signature of %s on manifest.sig does not verify (altered)",
                    c->name);
        } else if (!(reg = ldgi_registry_find(&b->reg, k->pub, false)) ||
                   reg->ks.added_seq >= b->cp.size ||
                   (reg->ks.revoked_seq != UINT64_MAX && reg->ks.revoked_seq < b->cp.size)) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest.sig",
                    "manifest.sig is cosigned by %s, a key not registered at the checkpoint",
                    c->name);
        } else if (!b->sum->cosigned) {
            b->sum->cosigned = 1;
            snprintf(b->sum->cosigner_id, sizeof b->sum->cosigner_id, "%s", k->id);
            snprintf(b->sum->cosigner_name, sizeof b->sum->cosigner_name, "%s",
                     k->name ? k->name : "");
            snprintf(b->sum->cosigner_org, sizeof b->sum->cosigner_org, "%s", k->org ? k->org : "");
        }
    }
}

/* ---------------------------------------------------------- records -- */

static size_t
slot_of(const uint8_t *p, size_t slots)
{
    size_t h;
    memcpy(&h, p, sizeof h);
    return h % slots;
}

static bleaf *
leaf_by_hash(bleaves *t, const uint8_t leaf[LDG_HASH_BYTES])
{
    if (!t->slots)
        return NULL;
    for (size_t h = slot_of(leaf, t->slots); t->by_leaf[h]; h = (h + 1) % t->slots)
        if (memcmp(t->v[t->by_leaf[h] - 1].leaf, leaf, LDG_HASH_BYTES) == 0)
            return &t->v[t->by_leaf[h] - 1];
    return NULL;
}

static bleaf *
leaf_by_seq(bleaves *t, uint64_t seq)
{
    if (!t->slots)
        return NULL;
    uint8_t k[8];
    memcpy(k, &seq, sizeof k);
    for (size_t h = slot_of(k, t->slots); t->by_seq[h]; h = (h + 1) % t->slots)
        if (t->v[t->by_seq[h] - 1].seq == seq)
            return &t->v[t->by_seq[h] - 1];
    return NULL;
}

static void
leaf_index(bleaves *t, size_t i)
{
    size_t h;
    uint8_t k[8];
    memcpy(k, &t->v[i].seq, sizeof k);
    for (h = slot_of(t->v[i].leaf, t->slots); t->by_leaf[h]; h = (h + 1) % t->slots)
        ;
    t->by_leaf[h] = i + 1;
    for (h = slot_of(k, t->slots); t->by_seq[h]; h = (h + 1) % t->slots)
        ;
    t->by_seq[h] = i + 1;
}

/* Remembers an entry of the bundle (the first line of a seq wins); false when out of memory. */
static bool
leaf_add(bleaves *t, const uint8_t leaf[LDG_HASH_BYTES], uint64_t seq, bool keyrec,
         const ldgi_stmt *st)
{
    if (leaf_by_seq(t, seq))
        return true;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        bleaf *nv = ldgi_realloc(t->v, cap * sizeof *nv);
        size_t *bl = ldgi_calloc(cap * 2, sizeof *bl), *bs = ldgi_calloc(cap * 2, sizeof *bs);
        if (!nv || !bl || !bs) {
            if (nv)
                t->v = nv;
            free(bl);
            free(bs);
            return false;
        }
        t->v = nv;
        t->cap = cap;
        free(t->by_leaf);
        free(t->by_seq);
        t->by_leaf = bl;
        t->by_seq = bs;
        t->slots = cap * 2;
        for (size_t i = 0; i < t->n; i++)
            leaf_index(t, i);
    }
    memcpy(t->v[t->n].leaf, leaf, LDG_HASH_BYTES);
    t->v[t->n].seq = seq;
    t->v[t->n].keyrec = keyrec;
    ldgi_refentry *w = &t->v[t->n].who;
    w->seq = seq;
    w->kc = ldgi_kind_class(st->kind.p, st->kind.len);
    memcpy(w->actor, st->actor, LDG_PUB_BYTES);
    memset(w->key_pub, 0, LDG_PUB_BYTES);
    if (st->has_key)
        memcpy(w->key_pub, st->key_pub, LDG_PUB_BYTES);
    leaf_index(t, t->n++);
    return true;
}

static void
leaves_free(bleaves *t)
{
    free(t->v);
    free(t->by_leaf);
    free(t->by_seq);
}

/* ----------------------------------------- the policy engine's view -- */

/* The registry the key records of the bundle give; the engine reads it as of each seq. */
static ldg_status
env_key(void *ctx, const uint8_t pub[LDG_PUB_BYTES], ldgi_keystate *ks, ldg_err *err)
{
    (void)err;
    return ldgi_registry_get(&((bstate *)ctx)->reg, pub, ks);
}

/* The trusted log key and the checkpoint's origin stand for the ledger's genesis. */
static ldg_status
env_ledger(void *ctx, const uint8_t **logkey, const char **origin, size_t *origin_len, ldg_err *err)
{
    (void)err;
    bstate *b = ctx;
    *logkey = b->logpub;
    *origin = b->cp.origin;
    *origin_len = strlen(b->cp.origin);
    return LDG_OK;
}

static ldg_status
link_later(bstate *b, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, uint64_t want,
           ldgi_link *out)
{
    *out = LDGI_LINK_LATER;
    if (b->nlinks == b->caplinks) {
        size_t cap = b->caplinks ? b->caplinks * 2 : 64;
        blink *nl = ldgi_realloc(b->links, cap * sizeof *nl);
        if (!nl) {
            b->oom = true;
            return LDG_OK;
        }
        b->links = nl;
        b->caplinks = cap;
    }
    blink *l = &b->links[b->nlinks++];
    memcpy(l->hash, hash, LDG_HASH_BYTES);
    l->seq = seq;
    l->want = want;
    return LDG_OK;
}

/* Refs and observed heads are resolved once every line was read: they may name later lines. */
static ldg_status
env_ref(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, size_t r, ldgi_link *out,
        ldg_err *err)
{
    (void)r;
    (void)err;
    return link_later(ctx, hash, seq, UINT64_MAX, out);
}

static ldg_status
env_observed(void *ctx, uint64_t size, const uint8_t head[LDG_HASH_BYTES], uint64_t seq,
             ldgi_link *out, ldg_err *err)
{
    (void)err;
    return link_later(ctx, head, seq, size - 1, out);
}

/*
 * [POL-13][POL-15] The entry a ref names, among the lines read so far (key
 * records first, then records in increasing seq: an earlier entry the
 * bundle holds was read).  One it does not hold cannot be judged here: the
 * ref is counted with the unchecked links (resolve_links), not guessed.
 */
static ldg_status
env_ref_entry(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, ldgi_refentry *out,
              ldg_err *err)
{
    (void)err;
    const bleaf *t = leaf_by_hash(&((bstate *)ctx)->leaves, hash);
    if (!t || t->seq >= seq)
        return LDG_E_NOTFOUND;
    *out = t->who;
    return LDG_OK;
}

static ldg_status
env_identity(void *ctx, const uint8_t pub[LDG_PUB_BYTES], uint8_t id[LDG_HASH_BYTES], ldg_err *err)
{
    (void)err;
    return ldgi_registry_identity(&((bstate *)ctx)->reg, pub, id);
}

static ldg_status
env_identity_keys(void *ctx, const uint8_t id[LDG_HASH_BYTES], ldgi_idkey_fn each, void *ectx,
                  ldg_err *err)
{
    (void)err;
    ldgi_registry_identity_keys(&((bstate *)ctx)->reg, id, each, ectx);
    return LDG_OK;
}

typedef struct line_fail {
    bstate *b;
    uint64_t seq;
} line_fail;

static bool
policy_finding(void *ctx, ldgi_check c, ldg_status status, const char *why)
{
    (void)status;
    line_fail *lf = ctx;
    finding(lf->b, LDG_FINDING_FAIL, lf->seq, ldgi_checks[c].name, "%s", why);
    return true; /* report every finding, as verify does */
}

/* Keeps the names a key record gives its key: the cosigner is named from them. */
static bool
key_named(bstate *b, const ldgi_stmt *st)
{
    bkey *nk = realloc(b->keys, (b->nkeys + 1) * sizeof *nk);
    if (!nk)
        return false;
    b->keys = nk;
    nk = &b->keys[b->nkeys];
    memcpy(nk->pub, st->key_pub, LDG_PUB_BYTES);
    nk->id = ldgi_strndup(st->key_id.p, st->key_id.len);
    nk->name = ldgi_strndup(st->key_name.p, st->key_name.len);
    nk->org = ldgi_strndup(st->key_org.p, st->key_org.len);
    b->nkeys++;
    return nk->id && nk->name && nk->org;
}

/* The policy at seq, by the one engine verify and append use [VER-6]. */
static void
check_policy(bstate *b, const ldgi_stmt *st, uint64_t seq, bool keyrec)
{
    ldgi_policy_env env = {.ctx = b,
                           .key = env_key,
                           .ledger = env_ledger,
                           .ref = env_ref,
                           .observed = env_observed,
                           .allow_genesis = true,
                           .ref_entry = env_ref_entry,
                           .identity = env_identity,
                           .identity_keys = env_identity_keys};
    line_fail lf = {b, seq};
    ldgi_key_effect eff;
    ldg_err e;
    if (ldgi_policy_apply(&env, st, seq, policy_finding, &lf, &eff, &e) != LDG_OK) {
        b->oom = true;
        return;
    }
    /* keyrecords.jsonl replays the registry; a key record met again in records.jsonl is not */
    if (!keyrec || eff.op == LDGI_KEY_NONE)
        return;
    if (b->reg.n >= MAX_KEYS && eff.op == LDGI_KEY_ADD)
        finding(b, LDG_FINDING_FAIL, seq, "keys", "more than %d keys", MAX_KEYS);
    else if (ldgi_registry_apply(&b->reg, &eff, seq, &e) != LDG_OK)
        b->oom = true;
    else if (eff.op == LDGI_KEY_ADD && !key_named(b, st))
        b->oom = true;
}

/* Every ref and observed head, against the entries the bundle holds [POL-7][POL-8]. */
static void
resolve_links(bstate *b)
{
    for (size_t i = 0; i < b->nlinks; i++) {
        const blink *l = &b->links[i];
        if (l->want == UINT64_MAX) {
            const bleaf *t = leaf_by_hash(&b->leaves, l->hash);
            if (!t)
                b->sum->unchecked++;
            else if (t->seq >= l->seq)
                finding(b, LDG_FINDING_FAIL, l->seq, "ref",
                        "a ref names entry %llu, which is not before this one",
                        (unsigned long long)t->seq);
            continue;
        }
        const bleaf *t = leaf_by_seq(&b->leaves, l->want);
        if (!t)
            b->sum->unchecked++;
        else if (memcmp(t->leaf, l->hash, LDG_HASH_BYTES) != 0)
            finding(b, LDG_FINDING_FAIL, l->seq, "observed",
                    "the signer observed a chain head (size %llu) that this chain does not have",
                    (unsigned long long)l->want + 1);
    }
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
    const bleaf *seen = leaf_by_seq(&b->leaves, seq);
    bool again = !keyrec && seen && seen->keyrec; /* a key record also exported as a record */
    if (!leaf_add(&b->leaves, leaf, seq, keyrec, st))
        b->oom = true;
    if (keyrec) {
        b->sum->key_records++;
        if (kc != LDGI_KIND_GENESIS && kc != LDGI_KIND_KEY_ADD && kc != LDGI_KIND_KEY_REVOKE) {
            finding(b, LDG_FINDING_FAIL, seq, "keys", "keyrecords.jsonl holds a %.*s record",
                    (int)(st->kind.len > 40 ? 40 : st->kind.len), st->kind.p);
            goto done;
        }
        /* the bundle's trust anchor: the genesis is the trusted log key's */
        if (seq == 0 && memcmp(st->actor, b->logpub, LDG_PUB_BYTES) != 0)
            finding(b, LDG_FINDING_FAIL, seq, "genesis",
                    "entry 0 is not a genesis signed by the trusted log key");
        check_policy(b, st, seq, true);
        goto done;
    }
    b->sum->records++;
    if (!bsearch(&seq, b->listed, b->nlisted, sizeof *b->listed, cmp_u64))
        finding(b, LDG_FINDING_FAIL, seq, "manifest",
                "the record is not in the manifest's list (added to the bundle)");
    if (!again)
        check_policy(b, st, seq, false);
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
    } else if (bs && strcmp(bs, "erased") == 0) {
        /* [POL-11] erased in the ledger by a signed erasure record: absent, never valid */
        finding(b, LDG_FINDING_WITHHELD, seq, "body",
                "body erased in the ledger: not in the bundle");
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
    return ldg_bundle_verify_witnessed(tar, len, trust_line, NULL, fn, ctx, sum, err);
}

ldg_status
ldg_bundle_verify_witnessed(const uint8_t *tar, size_t len, const char *trust_line,
                            const ldg_witness_policy *wp, ldg_finding_fn fn, void *ctx,
                            ldg_bundle_summary *sum, ldg_err *err)
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
    if (wp) {
        /* [EXP-9] 4b: the checkpoint.txt the bundle is tied to, seen by a quorum of witnesses */
        ldg_witness_check wc[LDG_WITNESS_KEYS_MAX];
        size_t valid;
        ldg_status ws = ldg_checkpoint_witnessed((const char *)cm->p, cm->n, b->logpub, wp->keys,
                                                 wp->nkeys, wp->quorum, wp->now, wc, &valid, &e2);
        if (ws == LDG_E_BADSIG) {
            finding(b, LDG_FINDING_FAIL, UINT64_MAX, "witness", "checkpoint.txt: %s", e2.msg);
        } else if (ws != LDG_OK) {
            s = ldgi_fail(err, ws, "%s", e2.msg);
            goto out;
        }
    }
    check_note(b, name, b->logpub);
    check_lines(b, M_KEYRECS, true);
    if (b->reg.n == 0)
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "keys", "the bundle holds no genesis");
    check_cosigs(b);
    check_lines(b, M_RECORDS, false);
    resolve_links(b);
    if (b->oom) {
        s = ldgi_fail(err, LDG_E_NOMEM, "verify-bundle: out of memory");
        goto out;
    }
    if (sum->records != b->nlisted)
        finding(b, LDG_FINDING_FAIL, UINT64_MAX, "manifest",
                "the manifest lists %zu records; records.jsonl holds %llu (removed or added)",
                b->nlisted, (unsigned long long)sum->records);
out:
    ldgi_registry_free(&b->reg);
    leaves_free(&b->leaves);
    free(b->links);
    for (size_t i = 0; i < b->nkeys; i++) {
        free(b->keys[i].id);
        free(b->keys[i].name);
        free(b->keys[i].org);
    }
    free(b->keys);
    free(b->listed);
    free(b);
    return s;
}
