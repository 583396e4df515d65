/*
 * checkpoint.c - signed tree heads as C2SP tlog-checkpoint signed notes
 * [CKP-1..3]: "<origin>\n<size>\n<base64 root>\n", a blank line, then
 * "— <key name> <base64(key hash || Ed25519 signature)>\n" lines.  The log
 * key pinned by the genesis signs them; ldg stores each one it makes, and a
 * checkpoint held outside the host proves the ledger only grew.  Cosignatures
 * [CKP-5], the witness policy every verifier applies [CKP-7], and
 * cosignatures stored with the ledger's checkpoints [CKP-8].
 */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIG_PREFIX "\xe2\x80\x94 " /* U+2014 EM DASH, space */
#define NOTE_MAX 8192

/* The genesis' origin (copied) and log key. */
static ldg_status
genesis_of(ldgi_txn *t, char origin[LDG_TEXT_MAX + 1], uint8_t logkey[LDG_PUB_BYTES], ldg_err *err)
{
    ldgi_str o;
    ldg_status s = ldgi_genesis(t, &o, logkey, err);
    if (s == LDG_OK) {
        memcpy(origin, o.p, o.len);
        origin[o.len] = '\0';
    }
    return s;
}

/* The first FAIL finding of the run that decides whether to sign. */
typedef struct first_fail {
    uint64_t n;
    uint64_t seq;
    char check[32];
    char detail[300];
} first_fail;

static void
on_fail(void *ctx, ldg_finding_level lvl, uint64_t seq, const char *check, const char *detail)
{
    first_fail *f = ctx;
    if (lvl != LDG_FINDING_FAIL || f->n++)
        return;
    f->seq = seq;
    snprintf(f->check, sizeof f->check, "%s", check);
    snprintf(f->detail, sizeof f->detail, "%s", detail);
}

/*
 * [CKP-2] The base of the check before signing: the newest stored checkpoint
 * that the log key signed for this origin, no larger than the ledger (such
 * a checkpoint was itself only made after a clean check).  size 0: none.
 */
static ldg_status
sign_base(ldg_ledger *l, const ldg_key *k, uint64_t *size, uint8_t root[LDG_HASH_BYTES],
          ldg_err *err)
{
    char origin[LDG_TEXT_MAX + 1];
    uint8_t logkey[LDG_PUB_BYTES], head[LDG_HASH_BYTES];
    uint64_t n;
    ldgi_txn *t;
    ldgi_cur *c = NULL;
    *size = 0;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    if ((s = genesis_of(t, origin, logkey, err)) != LDG_OK ||
        (s = ldgi_head(t, &n, head, NULL, err)) != LDG_OK)
        goto out;
    if (sodium_memcmp(logkey, k->pub, LDG_PUB_BYTES) != 0) {
        s = ldgi_fail(err, LDG_E_POLICY,
                      "key %s is not this ledger's log key (pinned by its genesis)", k->name);
        goto out;
    }
    const uint8_t *key, *v;
    size_t kl, vl;
    if ((s = ldgi_cur_open(t, LDGI_DB_CHECKPOINTS, &c, err)) != LDG_OK)
        goto out;
    for (s = ldgi_cur_seek(c, NULL, 0, &key, &kl, &v, &vl, err); s == LDG_OK;
         s = ldgi_cur_next(c, &key, &kl, &v, &vl, err)) {
        ldg_checkpoint cp;
        if (ldg_checkpoint_parse((const char *)v, vl, k->name, logkey, &cp, NULL) == LDG_OK &&
            strcmp(cp.origin, origin) == 0 && cp.size <= n && cp.size > *size) {
            *size = cp.size;
            memcpy(root, cp.root, LDG_HASH_BYTES);
        }
    }
    if (s == LDG_E_NOTFOUND)
        s = LDG_OK;
out:
    ldgi_cur_close(c);
    ldgi_txn_abort(t);
    return s;
}

ldg_status
ldg_checkpoint_make(ldg_ledger *l, const ldg_key *k, char **note, size_t *len, ldg_err *err)
{
    /*
     * Nothing derived is trusted [CKP-2]: the head signed is the one the
     * verify engine recomputes from the entries of its one snapshot, after
     * it checked every entry since the last checkpoint in full (signatures,
     * chain, policy, bodies, indexes, tree).  Any FAIL and nothing is signed.
     */
    first_fail ff = {0};
    ldg_verify_opts o = {.on_finding = on_fail, .ctx = &ff};
    ldg_verify_summary sum;
    ldgi_verify_x x = {0};
    ldg_status s = sign_base(l, k, &o.since_size, o.since_root, err);
    if (s != LDG_OK || (s = ldgi_verify_run(l, &o, &sum, &x, err)) != LDG_OK)
        return s;
    if (ff.n) {
        char where[32];
        if (ff.seq == UINT64_MAX)
            snprintf(where, sizeof where, "the ledger");
        else
            snprintf(where, sizeof where, "entry %llu", (unsigned long long)ff.seq);
        return ldgi_fail(err, LDG_E_CORRUPT,
                         "nothing signed: %llu integrity failure%s, the first at %s (%s): %s; "
                         "ldg verify lists them",
                         (unsigned long long)ff.n, ff.n == 1 ? "" : "s", where, ff.check,
                         ff.detail);
    }
    if (!x.have_genesis || sodium_memcmp(x.logkey, k->pub, LDG_PUB_BYTES) != 0)
        return ldgi_fail(err, LDG_E_POLICY,
                         "key %s is not this ledger's log key (pinned by its genesis)", k->name);
    char rb[64], sb[128];
    sodium_bin2base64(rb, sizeof rb, sum.root, LDG_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
    char *text = ldgi_malloc(NOTE_MAX);
    if (!text)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    int tl =
        snprintf(text, NOTE_MAX, "%s\n%llu\n%s\n", x.origin, (unsigned long long)sum.entries, rb);
    uint8_t sig[4 + 64];
    ldgi_key_id(k->name, LDGI_KEYID_NOTE, k->pub, sig);
    crypto_sign_ed25519_detached(sig + 4, NULL, (const uint8_t *)text, (size_t)tl, ldgi_key_sk(k));
    sodium_bin2base64(sb, sizeof sb, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    int nl = snprintf(text + tl, NOTE_MAX - (size_t)tl, "\n" SIG_PREFIX "%s %s\n", k->name, sb);
    size_t total = (size_t)tl + (size_t)nl;
    uint8_t key[8];
    ldgi_be64(key, sum.entries);
    for (;;) {
        ldgi_txn *t;
        bool full;
        if ((s = ldgi_txn_begin(l, true, &t, err)) != LDG_OK)
            break;
        /*
         * [CKP-2] The same head signed again (Ed25519 is deterministic: the same
         * bytes) keeps the note stored at that size, with the cosignatures
         * witnesses or QA added to it [CKP-7]: a fresh signature never strips them.
         */
        const uint8_t *old;
        size_t ol;
        if (ldgi_get(t, LDGI_DB_CHECKPOINTS, key, 8, &old, &ol, NULL) == LDG_OK && ol > total &&
            ol < NOTE_MAX && memcmp(old, text, total) == 0) {
            memcpy(text, old, ol);
            text[ol] = '\0';
            ldgi_txn_abort(t);
            *note = text;
            *len = ol;
            return LDG_OK;
        }
        s = ldgi_put(t, LDGI_DB_CHECKPOINTS, key, 8, text, total, false, false, err);
        if (s == LDG_OK) {
            /* the commit frees t whatever it returns */
            if ((s = ldgi_txn_commit(t, &full, err)) == LDG_OK) {
                *note = text;
                *len = total;
                return LDG_OK;
            }
        } else {
            full = ldgi_txn_map_full(t);
            ldgi_txn_abort(t);
        }
        if (!(full && ldgi_map_grow(l, err)))
            break;
    }
    free(text);
    return s;
}

/*
 * [CKP-5] What needs no pass over the entries: the log key's signature,
 * origin and size (*why when they fail), then the keys the caller names
 * (*who when one cosigned).  *cp is the parsed checkpoint.
 */
static ldg_status
qa_precheck(ldg_ledger *l, const char *note, size_t len, const char *const *qa, size_t nqa,
            ldg_checkpoint *cp, char who[LDG_NAME_MAX + 1], uint64_t *timestamp, char *why,
            size_t whylen, ldg_err *err)
{
    char origin[LDG_TEXT_MAX + 1], name[LDG_NAME_MAX + 1];
    uint8_t logkey[LDG_PUB_BYTES], pub[LDG_PUB_BYTES], head[LDG_HASH_BYTES];
    uint64_t size;
    ldgi_txn *t;
    who[0] = why[0] = '\0';
    *timestamp = 0;
    for (size_t i = 0; i < nqa; i++)
        if (ldg_vkey_parse(qa[i], strlen(qa[i]), name, pub, err) != LDG_OK)
            return err ? err->status : LDG_E_INPUT;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    s = genesis_of(t, origin, logkey, err);
    if (s == LDG_OK)
        s = ldgi_head(t, &size, head, NULL, err);
    ldgi_txn_abort(t);
    if (s != LDG_OK)
        return s;
    if ((s = ldg_checkpoint_parse(note, len, NULL, logkey, cp, err)) == LDG_E_BADSIG) {
        snprintf(why, whylen, "%s", err ? err->msg : "not signed by the log key");
        return LDG_OK;
    }
    if (s != LDG_OK)
        return s;
    if (strcmp(cp->origin, origin) != 0 || cp->size > size || cp->size == 0) {
        snprintf(why, whylen, "the checkpoint is not one of this ledger's heads (origin or size)");
        return LDG_OK;
    }
    /* A QA key the caller names is the caller's own trust: its cosignature is enough. */
    for (size_t i = 0; i < nqa; i++) {
        if (ldg_vkey_parse(qa[i], strlen(qa[i]), name, pub, err) == LDG_OK &&
            ldg_checkpoint_cosigned(note, len, name, pub, timestamp, NULL) == LDG_OK) {
            memcpy(who, name, sizeof name);
            return LDG_OK;
        }
    }
    return LDG_OK;
}

#define NO_QA_WHY                                                                                  \
    "no cosignature by a key given with --qa, nor by a key the ledger registers with the role "    \
    "qa (and does not revoke) below size %llu"

ldg_status
ldg_checkpoint_qa(ldg_ledger *l, const char *note, size_t len, const char *const *qa, size_t nqa,
                  unsigned jobs, char who[LDG_NAME_MAX + 1], uint64_t *timestamp, char *why,
                  size_t whylen, ldg_err *err)
{
    ldg_checkpoint cp;
    ldg_status s = qa_precheck(l, note, len, qa, nqa, &cp, who, timestamp, why, whylen, err);
    if (s != LDG_OK || who[0] || why[0])
        return s;
    /* A registered QA key: as the key records below the checkpoint, recomputed, say. */
    first_fail ff = {0};
    ldg_verify_opts o = {.jobs = jobs, .on_finding = on_fail, .ctx = &ff, .since_size = cp.size};
    memcpy(o.since_root, cp.root, LDG_HASH_BYTES);
    ldg_verify_summary sum;
    ldgi_verify_x x = {.prefix_only = true, .qa_note = note, .qa_len = len};
    if ((s = ldgi_verify_run(l, &o, &sum, &x, err)) != LDG_OK)
        return s;
    if (ff.n) {
        /* a log checkpoint the entries below it no longer give: a rewrite, not a missing QA */
        if (ff.seq == UINT64_MAX)
            return ldgi_fail(err, LDG_E_CORRUPT,
                             "the first %llu entries do not check against the checkpoint (%s: %s)",
                             (unsigned long long)cp.size, ff.check, ff.detail);
        return ldgi_fail(err, LDG_E_CORRUPT,
                         "the first %llu entries do not check against the checkpoint (entry "
                         "%llu, %s: %s)",
                         (unsigned long long)cp.size, (unsigned long long)ff.seq, ff.check,
                         ff.detail);
    }
    if (!x.qa_ok) {
        snprintf(why, whylen, NO_QA_WHY, (unsigned long long)cp.size);
    } else {
        memcpy(who, x.qa_name, sizeof x.qa_name);
        *timestamp = x.qa_time;
    }
    return LDG_OK;
}

ldg_status
ldg_verify_since(ldg_ledger *l, const ldg_verify_opts *o, const char *note, size_t len,
                 const char *const *qa, size_t nqa, ldg_verify_summary *sum,
                 char who[LDG_NAME_MAX + 1], char *why, size_t whylen, int *rewritten, ldg_err *err)
{
    return ldgi_verify_since(l, o, note, len, qa, nqa, sum, who, why, whylen, rewritten, NULL, err);
}

ldg_status
ldgi_verify_since(ldg_ledger *l, const ldg_verify_opts *o, const char *note, size_t len,
                  const char *const *qa, size_t nqa, ldg_verify_summary *sum,
                  char who[LDG_NAME_MAX + 1], char *why, size_t whylen, int *rewritten,
                  const ldgi_verify_x *base, ldg_err *err)
{
    ldgi_verify_x sx = {0}, *px = base ? &sx : NULL;
    if (base) {
        sx.snap = base->snap;
        sx.tie_size = base->tie_size;
        memcpy(sx.tie_root, base->tie_root, LDG_HASH_BYTES);
    }
    ldg_checkpoint cp;
    uint64_t ts;
    ldg_verify_opts full = o ? *o : (ldg_verify_opts){0}, inc = full;
    full.since_size = 0;
    *rewritten = 0;
    ldg_status s = qa_precheck(l, note, len, qa, nqa, &cp, who, &ts, why, whylen, err);
    if (s != LDG_OK)
        return s;
    if (why[0])
        return ldgi_verify_run(l, &full, sum, px, err);
    inc.since_size = cp.size;
    memcpy(inc.since_root, cp.root, LDG_HASH_BYTES);
    if (who[0]) /* a named QA key: the since run checks the root itself [VER-11] */
        return ldgi_verify_run(l, &inc, sum, px, err);
    /* A registered QA key: decided by the same run, once the entries below it went through. */
    ldgi_verify_x x = sx;
    x.qa_gate = true;
    x.qa_note = note;
    x.qa_len = len;
    if ((s = ldgi_verify_run(l, &inc, sum, &x, err)) != LDG_OK || !x.gate_failed) {
        if (s == LDG_OK)
            memcpy(who, x.qa_name, sizeof x.qa_name);
        return s;
    }
    if (x.gate_rewritten) {
        *rewritten = 1;
        snprintf(why, whylen,
                 "the first %llu entries do not give the root of the checkpoint verified "
                 "before, or do not check: changed, removed or rolled back since",
                 (unsigned long long)cp.size);
    } else {
        snprintf(why, whylen, NO_QA_WHY, (unsigned long long)cp.size);
    }
    return ldgi_verify_run(l, &full, sum, px, err);
}

/* ------------------------------------------------------------- parsing -- */

static bool
parse_u64_strict(const char *p, size_t n, uint64_t *v)
{
    if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || x > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            return false;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    *v = x;
    return true;
}

bool
ldgi_b64_exact(const char *p, size_t n, uint8_t *out, size_t want)
{
    size_t got;
    const char *end;
    char again[128];
    if (n >= sizeof again ||
        sodium_base642bin(out, want, p, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != p + n || got != want)
        return false;
    /* canonical text only: re-encode and compare */
    sodium_bin2base64(again, sizeof again, out, want, sodium_base64_VARIANT_ORIGINAL);
    return strlen(again) == n && memcmp(again, p, n) == 0;
}

ldg_status
ldg_checkpoint_parse(const char *note, size_t len, const char *key_name,
                     const uint8_t pub[LDG_PUB_BYTES], ldg_checkpoint *out, ldg_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > NOTE_MAX || !ldgi_utf8_valid((const uint8_t *)note, len))
        return ldgi_fail(err, LDG_E_INPUT, "checkpoint: not a signed note (size or UTF-8)");
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)note[i] < 0x20 && note[i] != '\n') || note[i] == 0x7f)
            return ldgi_fail(err, LDG_E_INPUT, "checkpoint: a control character in the note");
    /* The text ends at the first blank line; signatures follow. */
    const char *sep = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (note[i] == '\n' && note[i + 1] == '\n') {
            sep = note + i + 1;
            break;
        }
    if (!sep || note[len - 1] != '\n')
        return ldgi_fail(err, LDG_E_INPUT,
                         "checkpoint: a signed note is text, a blank line, signature lines");
    size_t tl = (size_t)(sep - note);
    const char *l1 = note, *e1 = memchr(l1, '\n', tl);
    const char *l2 = e1 + 1, *e2 = memchr(l2, '\n', (size_t)(note + tl - l2));
    const char *l3 = e2 ? e2 + 1 : NULL,
               *e3 = l3 ? memchr(l3, '\n', (size_t)(note + tl - l3)) : NULL;
    if (!e1 || !e2 || !e3 || e1 == l1 || (size_t)(e1 - l1) > LDG_TEXT_MAX ||
        !parse_u64_strict(l2, (size_t)(e2 - l2), &out->size) ||
        !ldgi_b64_exact(l3, (size_t)(e3 - l3), out->root, LDG_HASH_BYTES))
        return ldgi_fail(err, LDG_E_INPUT,
                         "checkpoint: expected origin, decimal size and base64 root lines");
    memcpy(out->origin, l1, (size_t)(e1 - l1));
    out->origin[e1 - l1] = '\0';
    /*
     * Signature lines: ours is the one whose key hash matches its name and our
     * public key (key_name, if given, must be that name); the others are other
     * witnesses' cosignatures and are skipped.
     */
    bool found = false, good = true;
    size_t nsig = 0;
    const char *p = sep + 1, *end = note + len;
    while (p < end) {
        if (++nsig > 100)
            return ldgi_fail(err, LDG_E_INPUT, "checkpoint: more than 100 signatures");
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)(eol - p), pl = sizeof SIG_PREFIX - 1;
        const char *sp = ll > pl ? memchr(p + pl, ' ', ll - pl) : NULL;
        if (ll <= pl || memcmp(p, SIG_PREFIX, pl) != 0 || !sp || sp == p + pl)
            return ldgi_fail(err, LDG_E_INPUT, "checkpoint: malformed signature line");
        size_t nl = (size_t)(sp - (p + pl));
        uint8_t sig[4 + 64], want[4];
        const char *b = sp + 1;
        size_t bl = (size_t)(eol - b);
        char name[LDG_NAME_MAX + 1];
        /* Every line must be well formed (a name, base64 of >= 5 bytes), as C2SP says. */
        uint8_t any[256];
        size_t al;
        const char *aend;
        if (nl > LDG_NAME_MAX || memchr(p + pl, '+', nl) ||
            sodium_base642bin(any, sizeof any, b, bl, NULL, &al, &aend,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            aend != b + bl || al < 5)
            return ldgi_fail(err, LDG_E_INPUT, "checkpoint: malformed signature line");
        memcpy(name, p + pl, nl);
        name[nl] = '\0';
        ldgi_key_id(name, LDGI_KEYID_NOTE, pub, want);
        if (al == sizeof sig && memcmp(any, want, 4) == 0 &&
            (!key_name || strcmp(key_name, name) == 0)) {
            /* Our key's line: every one of them must verify (no bad line hidden by a good). */
            memcpy(sig, any, sizeof sig);
            found = true;
            good &=
                ldgi_b64_exact(b, bl, sig, sizeof sig) &&
                crypto_sign_ed25519_verify_detached(sig + 4, (const uint8_t *)note, tl, pub) == 0;
        }
        p = eol + 1;
    }
    if (!found)
        return ldgi_fail(err, LDG_E_BADSIG, "checkpoint: not signed by this ledger's log key");
    if (!good)
        return ldgi_fail(err, LDG_E_BADSIG,
                         "checkpoint: the log key's signature does not verify (altered note)");
    return LDG_OK;
}

ldg_status
ldg_checkpoint_check(ldg_ledger *l, const char *note, size_t len, const char *key_name,
                     ldg_checkpoint *cp, char *why, size_t whylen, ldg_err *err)
{
    char origin[LDG_TEXT_MAX + 1];
    uint8_t logkey[LDG_PUB_BYTES], root[LDG_HASH_BYTES], head[LDG_HASH_BYTES];
    uint64_t size;
    ldgi_txn *t;
    why[0] = '\0';
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    if ((s = genesis_of(t, origin, logkey, err)) != LDG_OK ||
        (s = ldgi_head(t, &size, head, NULL, err)) != LDG_OK)
        goto out;
    s = ldg_checkpoint_parse(note, len, key_name, logkey, cp, err);
    if (s == LDG_E_BADSIG) {
        snprintf(why, whylen, "%s", err ? err->msg : "bad signature");
        s = LDG_OK;
        goto out;
    }
    if (s != LDG_OK)
        goto out;
    if (strcmp(cp->origin, origin) != 0) {
        snprintf(why, whylen, "checkpoint is for origin \"%.80s\", this ledger is \"%.80s\"",
                 cp->origin, origin);
    } else if (cp->size > size) {
        snprintf(why, whylen,
                 "the ledger has %llu entries but a checkpoint signed %llu: rolled back or "
                 "truncated",
                 (unsigned long long)size, (unsigned long long)cp->size);
    } else if (!ldgi_merkle_root(cp->size, ldgi_tree_node, t, root)) {
        snprintf(why, whylen,
                 "the ledger's Merkle tree is damaged (a node is missing): the checkpoint "
                 "cannot be matched");
    } else if (sodium_memcmp(root, cp->root, LDG_HASH_BYTES) != 0) {
        snprintf(why, whylen,
                 "the tree of the first %llu entries has another root than the checkpoint: a "
                 "fork or a rewritten history",
                 (unsigned long long)cp->size);
    }
out:
    ldgi_txn_abort(t);
    return s;
}

/* ------------------------------------------------- tlog-proof [CKP-4] -- */

#define TLOG_PROOF_HEADER "c2sp.org/tlog-proof@v1\n"

ldg_status
ldg_tlog_proof_format(uint64_t index, const uint8_t *extra, size_t extra_len,
                      const uint8_t (*hashes)[LDG_HASH_BYTES], size_t n, const char *note,
                      size_t note_len, char **out, size_t *out_len, ldg_err *err)
{
    size_t cap =
        sizeof TLOG_PROOF_HEADER + 32 + (extra_len / 3 + 2) * 4 + 8 + n * 46 + note_len + 2;
    char *s = ldgi_malloc(cap), *p = s;
    if (!s)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    p += sprintf(p, "%s", TLOG_PROOF_HEADER);
    if (extra) {
        p += sprintf(p, "extra ");
        sodium_bin2base64(p, cap - (size_t)(p - s), extra, extra_len,
                          sodium_base64_VARIANT_ORIGINAL);
        p += strlen(p);
        *p++ = '\n';
    }
    p += sprintf(p, "index %llu\n", (unsigned long long)index);
    for (size_t i = 0; i < n; i++) {
        sodium_bin2base64(p, cap - (size_t)(p - s), hashes[i], LDG_HASH_BYTES,
                          sodium_base64_VARIANT_ORIGINAL);
        p += strlen(p);
        *p++ = '\n';
    }
    *p++ = '\n';
    memcpy(p, note, note_len);
    p += note_len;
    *p = '\0';
    *out = s;
    *out_len = (size_t)(p - s);
    return LDG_OK;
}

void
ldg_tlog_proof_clear(ldg_tlog_proof *p)
{
    free(p->extra);
    memset(p, 0, sizeof *p);
}

ldg_status
ldg_tlog_proof_parse(const char *text, size_t len, ldg_tlog_proof *out, ldg_err *err)
{
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + len;
    size_t hl = sizeof TLOG_PROOF_HEADER - 1;
    if (len < hl || memcmp(p, TLOG_PROOF_HEADER, hl) != 0)
        return ldgi_fail(err, LDG_E_INPUT, "not a tlog-proof (first line c2sp.org/tlog-proof@v1)");
    p += hl;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (eol && (size_t)(eol - p) > 6 && memcmp(p, "extra ", 6) == 0) {
        size_t bl = (size_t)(eol - p) - 6, got;
        const char *bend;
        out->extra = ldgi_malloc(bl / 4 * 3 + 3);
        if (!out->extra)
            return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        if (sodium_base642bin(out->extra, bl / 4 * 3 + 3, p + 6, bl, NULL, &got, &bend,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bend != eol) {
            ldg_tlog_proof_clear(out);
            return ldgi_fail(err, LDG_E_INPUT, "tlog-proof: extra is not base64");
        }
        out->extra_len = got;
        p = eol + 1;
        eol = memchr(p, '\n', (size_t)(end - p));
    }
    if (!eol || (size_t)(eol - p) < 7 || memcmp(p, "index ", 6) != 0 ||
        !parse_u64_strict(p + 6, (size_t)(eol - p) - 6, &out->index)) {
        ldg_tlog_proof_clear(out);
        return ldgi_fail(err, LDG_E_INPUT, "tlog-proof: expected an \"index N\" line");
    }
    p = eol + 1;
    while (p < end && *p != '\n') {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol || out->nhashes == LDG_PROOF_MAX ||
            !ldgi_b64_exact(p, (size_t)(eol - p), out->hashes[out->nhashes], LDG_HASH_BYTES)) {
            ldg_tlog_proof_clear(out);
            return ldgi_fail(err, LDG_E_INPUT, "tlog-proof: a proof line is not a base64 hash");
        }
        out->nhashes++;
        p = eol + 1;
    }
    if (p >= end) {
        ldg_tlog_proof_clear(out);
        return ldgi_fail(err, LDG_E_INPUT, "tlog-proof: no checkpoint after the proof");
    }
    out->note = p + 1;
    out->note_len = (size_t)(end - p - 1);
    return LDG_OK;
}

ldg_status
ldg_checkpoint_stored(ldg_ledger *l, uint64_t size, char **note, size_t *len, ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    uint8_t k[8];
    const uint8_t *v;
    size_t vl;
    ldgi_be64(k, size);
    s = ldgi_get(t, LDGI_DB_CHECKPOINTS, k, 8, &v, &vl, err);
    if (s == LDG_E_NOTFOUND)
        s = ldgi_fail(err, s, "no checkpoint of size %llu is stored (ldg checkpoint makes one)",
                      (unsigned long long)size);
    else if (s == LDG_OK) {
        *note = ldgi_strndup((const char *)v, vl);
        *len = vl;
        if (!*note)
            s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    }
    ldgi_txn_abort(t);
    return s;
}

ldg_status
ldg_checkpoint_latest(ldg_ledger *l, char **note, size_t *len, ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    ldgi_cur *c = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    if ((s = ldgi_cur_open(t, LDGI_DB_CHECKPOINTS, &c, err)) == LDG_OK) {
        s = ldgi_cur_last(c, &k, &kl, &v, &vl, err);
        if (s == LDG_E_NOTFOUND)
            s = ldgi_fail(err, s, "the ledger has no checkpoint yet (ldg checkpoint makes one)");
        else if (s == LDG_OK && !(*note = ldgi_strndup((const char *)v, vl)))
            s = ldgi_fail(err, LDG_E_NOMEM, "out of memory");
        else if (s == LDG_OK)
            *len = vl;
    }
    ldgi_cur_close(c);
    ldgi_txn_abort(t);
    return s;
}

/* -------------------------------------- cosignatures [CKP-5] (C2SP v1) -- */

/* "cosignature/v1\ntime T\n" || note text. */
static uint8_t *
cosign_message(const char *text, size_t tl, uint64_t ts, size_t *ml)
{
    char head[64];
    int hl = snprintf(head, sizeof head, "cosignature/v1\ntime %llu\n", (unsigned long long)ts);
    uint8_t *m = ldgi_malloc((size_t)hl + tl);
    if (m) {
        memcpy(m, head, (size_t)hl);
        memcpy(m + hl, text, tl);
        *ml = (size_t)hl + tl;
    }
    return m;
}

/* Length of the note text (up to and including the LF before the blank line), or 0. */
static size_t
note_text_len(const char *note, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (note[i] == '\n' && note[i + 1] == '\n')
            return i + 1;
    return 0;
}

ldg_status
ldg_checkpoint_cosign(const char *note, size_t len, const ldg_key *k, uint64_t timestamp,
                      char **out, size_t *out_len, ldg_err *err)
{
    size_t tl = note_text_len(note, len), ml;
    if (!tl || note[len - 1] != '\n' || timestamp > INT64_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "cosign: not a signed note");
    uint8_t *m = cosign_message(note, tl, timestamp, &ml), sig[4 + 8 + 64];
    if (!m)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    ldgi_key_id(k->name, LDGI_KEYID_COSIGN, k->pub, sig);
    ldgi_be64(sig + 4, timestamp);
    crypto_sign_ed25519_detached(sig + 12, NULL, m, ml, ldgi_key_sk(k));
    free(m);
    char b[160];
    sodium_bin2base64(b, sizeof b, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = len + strlen(k->name) + sizeof b + 16;
    char *s = ldgi_malloc(cap);
    if (!s)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    memcpy(s, note, len);
    int n = snprintf(s + len, cap - len, SIG_PREFIX "%s %s\n", k->name, b);
    *out = s;
    *out_len = len + (size_t)n;
    return LDG_OK;
}

/*
 * Every line of cosigner (name, pub): the name and the cosignature key ID
 * must match (other lines are other cosigners', ignored as C2SP says), and
 * every such line must verify, as for the log key [CKP-1]: a bad line is not
 * hidden by a good one.  LDG_OK with the newest timestamp, LDG_E_BADSIG, or
 * LDG_E_NOTFOUND when there is no line of that cosigner.
 */
static ldg_status
cosig_scan(const char *note, size_t len, size_t tl, const char *name,
           const uint8_t pub[LDG_PUB_BYTES], uint64_t *timestamp, ldg_err *err)
{
    size_t pl = sizeof SIG_PREFIX - 1, nl = strlen(name);
    uint8_t id[4];
    bool found = false, good = true;
    uint64_t newest = 0;
    ldgi_key_id(name, LDGI_KEYID_COSIGN, pub, id);
    for (const char *p = note + tl + 1, *end = note + len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        uint8_t sig[4 + 8 + 64];
        if ((size_t)(eol - p) > pl + nl + 1 && memcmp(p, SIG_PREFIX, pl) == 0 &&
            memcmp(p + pl, name, nl) == 0 && p[pl + nl] == ' ' &&
            ldgi_b64_exact(p + pl + nl + 1, (size_t)(eol - p) - pl - nl - 1, sig, sizeof sig) &&
            memcmp(sig, id, 4) == 0) {
            uint64_t ts = ldgi_rd64(sig + 4);
            size_t ml;
            uint8_t *m = cosign_message(note, tl, ts, &ml);
            if (!m)
                return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
            bool ok =
                ts <= INT64_MAX && crypto_sign_ed25519_verify_detached(sig + 12, m, ml, pub) == 0;
            free(m);
            found = true;
            good &= ok;
            if (ok && ts > newest)
                newest = ts;
        }
        p = eol + 1;
    }
    if (!found)
        return ldgi_fail(err, LDG_E_NOTFOUND, "no cosignature by %s", name);
    if (!good)
        return ldgi_fail(err, LDG_E_BADSIG, "the cosignature of %s does not verify", name);
    *timestamp = newest;
    return LDG_OK;
}

ldg_status
ldg_checkpoint_cosigned(const char *note, size_t len, const char *name,
                        const uint8_t pub[LDG_PUB_BYTES], uint64_t *timestamp, ldg_err *err)
{
    size_t tl = note_text_len(note, len);
    if (!tl)
        return ldgi_fail(err, LDG_E_INPUT, "not a signed note");
    return cosig_scan(note, len, tl, name, pub, timestamp, err);
}

/* ------------------------------------------- witness policy [CKP-7] -- */

ldg_status
ldg_witness_vkey_parse(const char *line, size_t len, char name[LDG_NAME_MAX + 1],
                       uint8_t pub[LDG_PUB_BYTES], ldg_err *err)
{
    if (len && line[len - 1] == '\n')
        len--;
    /* NAME+HASH+BASE64(0x04 || key): a C2SP cosigner key; anything else is an ldg key line */
    const char *p1 = memchr(line, '+', len);
    const char *p2 = p1 ? memchr(p1 + 1, '+', len - (size_t)(p1 + 1 - line)) : NULL;
    uint8_t raw[33], h[4], want[4];
    size_t nl = p1 ? (size_t)(p1 - line) : 0, hl;
    if (p2 && p2 == p1 + 9 && nl && nl <= LDG_NAME_MAX &&
        ldgi_b64_exact(p2 + 1, len - (size_t)(p2 + 1 - line), raw, sizeof raw) &&
        raw[0] == LDGI_KEYID_COSIGN) {
        memcpy(name, line, nl);
        name[nl] = '\0';
        if (memchr(line, '\0', nl) || !ldgi_key_name_valid(name))
            return ldgi_fail(err, LDG_E_INPUT, "verifier key: invalid key name");
        for (int i = 0; i < 8; i++)
            if (p1[1 + i] >= 'A' && p1[1 + i] <= 'F')
                return ldgi_fail(err, LDG_E_INPUT, "verifier key: key hash must be lower-case hex");
        ldgi_key_id(name, LDGI_KEYID_COSIGN, raw + 1, want);
        if (sodium_hex2bin(h, 4, p1 + 1, 8, NULL, &hl, NULL) != 0 || hl != 4 ||
            memcmp(h, want, 4) != 0)
            return ldgi_fail(err, LDG_E_INPUT,
                             "verifier key: key hash does not match name and key");
        memcpy(pub, raw + 1, LDG_PUB_BYTES);
        return LDG_OK;
    }
    return ldg_vkey_parse(line, len, name, pub, err);
}

/* Does key (name, pub) sign the note text as a signed-note signer (a log), validly? */
static bool
note_signer_of(const char *note, size_t len, const char *name, const uint8_t pub[LDG_PUB_BYTES])
{
    ldg_checkpoint cp;
    return ldg_checkpoint_parse(note, len, name, pub, &cp, NULL) == LDG_OK;
}

static const char *const cosig_why[] = {
    [LDG_COSIG_VALID] = "cosigned",
    [LDG_COSIG_NONE] = "no cosignature",
    [LDG_COSIG_BAD] = "a cosignature that does not verify",
    [LDG_COSIG_FUTURE] = "a cosignature dated in the future",
    [LDG_COSIG_LOGKEY] = "the log key itself, never a witness",
    [LDG_COSIG_DUPLICATE] = "given twice, counted once",
};

const char *
ldg_cosig_state_text(int state)
{
    return state >= 0 && state <= LDG_COSIG_DUPLICATE ? cosig_why[state] : "?";
}

ldg_status
ldg_checkpoint_witnessed(const char *note, size_t len, const uint8_t *logpub,
                         const char *const *keys, size_t nkeys, size_t quorum, uint64_t now,
                         ldg_witness_check *out, size_t *valid, ldg_err *err)
{
    *valid = 0;
    if (nkeys == 0 || nkeys > LDG_WITNESS_KEYS_MAX)
        return ldgi_fail(err, LDG_E_USAGE, "a witness policy names 1 to %d witness keys, not %zu",
                         LDG_WITNESS_KEYS_MAX, nkeys);
    size_t distinct = 0;
    for (size_t i = 0; i < nkeys; i++) {
        ldg_witness_check *w = &out[i];
        memset(w, 0, sizeof *w);
        ldg_err ke;
        if (ldg_witness_vkey_parse(keys[i], strlen(keys[i]), w->name, w->pub, &ke) != LDG_OK)
            return ldgi_fail(err, LDG_E_INPUT, "witness key %zu: %s", i + 1, ke.msg);
        w->state = LDG_COSIG_NONE;
        /* one key, one witness: the same public key under any name counts once [CKP-7] */
        for (size_t j = 0; j < i; j++)
            if (out[j].state != LDG_COSIG_DUPLICATE &&
                sodium_memcmp(out[j].pub, w->pub, LDG_PUB_BYTES) == 0)
                w->state = LDG_COSIG_DUPLICATE;
        if (w->state != LDG_COSIG_DUPLICATE)
            distinct++;
    }
    if (quorum == 0)
        quorum = distinct;
    if (quorum > distinct)
        return ldgi_fail(err, LDG_E_USAGE,
                         "quorum %zu is more than the %zu distinct witness key%s given", quorum,
                         distinct, distinct == 1 ? "" : "s");
    size_t tl = note_text_len(note, len);
    if (!tl || note[len - 1] != '\n')
        return ldgi_fail(err, LDG_E_INPUT, "checkpoint: not a signed note");
    for (size_t i = 0; i < nkeys; i++) {
        ldg_witness_check *w = &out[i];
        if (w->state == LDG_COSIG_DUPLICATE)
            continue;
        /* the log vouches for itself already: its word is never a witness's */
        if ((logpub && sodium_memcmp(logpub, w->pub, LDG_PUB_BYTES) == 0) ||
            note_signer_of(note, len, w->name, w->pub)) {
            w->state = LDG_COSIG_LOGKEY;
            continue;
        }
        ldg_status s = cosig_scan(note, len, tl, w->name, w->pub, &w->timestamp, NULL);
        if (s == LDG_E_NOMEM)
            return ldgi_fail(err, s, "out of memory");
        w->state = s == LDG_OK         ? LDG_COSIG_VALID
                   : s == LDG_E_BADSIG ? LDG_COSIG_BAD
                                       : LDG_COSIG_NONE;
        if (w->state == LDG_COSIG_VALID && w->timestamp > now + LDG_COSIG_FUTURE_S)
            w->state = LDG_COSIG_FUTURE;
        if (w->state == LDG_COSIG_VALID)
            (*valid)++;
    }
    if (*valid >= quorum)
        return LDG_OK;
    /* one line: how many, then every witness that did not count and why */
    char msg[sizeof err->msg];
    size_t n = (size_t)snprintf(msg, sizeof msg,
                                "witness policy not met: %zu of %zu required cosignature%s;",
                                *valid, quorum, quorum == 1 ? "" : "s");
    const char *sep = " ";
    for (size_t i = 0; i < nkeys && n < sizeof msg; i++) {
        int st = out[i].state;
        if (st == LDG_COSIG_VALID || st == LDG_COSIG_DUPLICATE)
            continue;
        n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s: %s", sep, out[i].name, cosig_why[st]);
        sep = ", ";
    }
    return ldgi_fail(err, LDG_E_BADSIG, "%s", msg);
}

/*
 * [CKP-8] Cosignatures gathered elsewhere, merged into the stored note of the
 * same checkpoint: its text must be byte for byte the text of the note the
 * ledger stored at that size (made after a full check [CKP-2]), signed by the
 * log key; the signature lines it has that the stored note lacks are appended.
 */
ldg_status
ldg_checkpoint_add(ldg_ledger *l, const char *note, size_t len, size_t *added, ldg_err *err)
{
    char origin[LDG_TEXT_MAX + 1];
    uint8_t logkey[LDG_PUB_BYTES];
    ldg_checkpoint cp;
    *added = 0;
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    s = genesis_of(t, origin, logkey, err);
    ldgi_txn_abort(t);
    if (s != LDG_OK || (s = ldg_checkpoint_parse(note, len, NULL, logkey, &cp, err)) != LDG_OK)
        return s;
    if (strcmp(cp.origin, origin) != 0)
        return ldgi_fail(err, LDG_E_POLICY,
                         "the checkpoint is for origin \"%.80s\", not this ledger's", cp.origin);
    size_t tl = note_text_len(note, len);
    uint8_t key[8];
    ldgi_be64(key, cp.size);
    char *merged = ldgi_malloc(NOTE_MAX + 1);
    if (!merged)
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    for (;;) {
        bool full;
        const uint8_t *old;
        size_t ol;
        if ((s = ldgi_txn_begin(l, true, &t, err)) != LDG_OK)
            break;
        s = ldgi_get(t, LDGI_DB_CHECKPOINTS, key, 8, &old, &ol, err);
        if (s == LDG_E_NOTFOUND)
            s = ldgi_fail(err, LDG_E_NOTFOUND,
                          "no checkpoint of size %llu is stored: ldg checkpoint --as LOG.key "
                          "makes one, then witnesses cosign it",
                          (unsigned long long)cp.size);
        else if (s == LDG_OK && (ol > NOTE_MAX || note_text_len((const char *)old, ol) != tl ||
                                 memcmp(old, note, tl) != 0))
            /* the log key signed two heads of one size: a fork, kept out */
            s = ldgi_fail(err, LDG_E_CORRUPT,
                          "the log key signed another tree head of size %llu than the one this "
                          "ledger stored: a fork",
                          (unsigned long long)cp.size);
        size_t ml = ol;
        if (s == LDG_OK) {
            memcpy(merged, old, ol);
            for (const char *p = note + tl + 1, *end = note + len; p < end && s == LDG_OK;) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                size_t ll = (size_t)(eol - p) + 1;
                bool have = false;
                for (const char *q = merged + tl + 1; q < merged + ml && !have;) {
                    const char *qe = memchr(q, '\n', (size_t)(merged + ml - q));
                    if (!qe) /* a stored note cut short: its last line is no match */
                        break;
                    have = (size_t)(qe - q) + 1 == ll && memcmp(q, p, ll) == 0;
                    q = qe + 1;
                }
                if (!have && ml + ll > NOTE_MAX)
                    s = ldgi_fail(err, LDG_E_INPUT,
                                  "checkpoint: more than %d bytes with the "
                                  "cosignatures merged",
                                  NOTE_MAX);
                else if (!have) {
                    memcpy(merged + ml, p, ll);
                    ml += ll;
                    (*added)++;
                }
                p = eol + 1;
            }
        }
        ldg_err pe;
        if (s == LDG_OK && *added &&
            ldg_checkpoint_parse(merged, ml, NULL, logkey, &cp, &pe) != LDG_OK)
            s = ldgi_fail(err, LDG_E_INPUT, "checkpoint with the cosignatures merged: %s", pe.msg);
        if (s != LDG_OK || !*added) {
            ldgi_txn_abort(t);
            break;
        }
        s = ldgi_put(t, LDGI_DB_CHECKPOINTS, key, 8, merged, ml, false, false, err);
        if (s == LDG_OK) {
            if ((s = ldgi_txn_commit(t, &full, err)) == LDG_OK)
                break;
        } else {
            full = ldgi_txn_map_full(t);
            ldgi_txn_abort(t);
        }
        *added = 0;
        if (!(full && ldgi_map_grow(l, err)))
            break;
    }
    free(merged);
    return s;
}

/*
 * [CKP-9] Walks the stored notes from `upto` down; the first whose
 * cosignature by the witness verifies gives the size.  Notes are re-checked
 * here, never trusted as stored: a line that does not verify is no hint.
 */
ldg_status
ldg_checkpoint_witness_size(ldg_ledger *l, const char *name, const uint8_t pub[LDG_PUB_BYTES],
                            uint64_t upto, uint64_t *size, ldg_err *err)
{
    *size = 0;
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    ldgi_cur *c = NULL;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint8_t from[8];
    ldgi_be64(from, upto);
    if ((s = ldgi_cur_open(t, LDGI_DB_CHECKPOINTS, &c, err)) == LDG_OK) {
        /* the first key >= upto, or the last; then step back past anything above upto */
        s = ldgi_cur_seek(c, from, 8, &k, &kl, &v, &vl, err);
        if (s == LDG_E_NOTFOUND)
            s = ldgi_cur_last(c, &k, &kl, &v, &vl, err);
        for (; s == LDG_OK; s = ldgi_cur_prev(c, &k, &kl, &v, &vl, err)) {
            uint64_t ts;
            if (kl != 8 || ldgi_rd64(k) > upto)
                continue;
            if (ldg_checkpoint_cosigned((const char *)v, vl, name, pub, &ts, NULL) == LDG_OK) {
                *size = ldgi_rd64(k);
                break;
            }
        }
        if (s == LDG_E_NOTFOUND)
            s = LDG_OK;
    }
    ldgi_cur_close(c);
    ldgi_txn_abort(t);
    return s;
}
