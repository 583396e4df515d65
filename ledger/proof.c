/*
 * proof.c - RFC 9162 proofs as JSON [CKP-6], what `ldg proof` prints and
 * `ldg verify-proof` reads: {"index","tree_size","root","leaf","leaf_hash",
 * "hashes"} for inclusion, {"old_size","old_root","new_size","new_root",
 * "hashes"} for consistency, hashes in standard base64 with padding.  The
 * proof is checked by ldg_proof_verify_*; this file only reads and writes
 * the text, as the fuzz target (fuzz/fuzz_proof_json.c) checks.
 */
#include "internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void
ldg_proof_json_clear(ldg_proof_json *p)
{
    if (!p)
        return;
    free(p->leaf);
    memset(p, 0, sizeof *p);
}

/* Decodes base64 text of exactly want bytes (want 0: any length, allocated). */
static bool
b64_decode(json_t *v, uint8_t *out, size_t want, uint8_t **alloc, size_t *got)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v), *end;
    size_t n = json_string_length(v), len;
    if (alloc) {
        size_t cap = n / 4 * 3 + 3;
        if (!(out = *alloc = ldgi_malloc(cap)))
            return false;
        want = cap;
    }
    if (sodium_base642bin(out, want, s, n, NULL, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + n || (!alloc && len != want))
        return false;
    if (got)
        *got = len;
    return true;
}

static bool
hashes_decode(json_t *o, ldg_proof_json *p)
{
    json_t *a = json_object_get(o, "hashes");
    if (!json_is_array(a) || json_array_size(a) > LDG_PROOF_MAX)
        return false;
    p->nhashes = json_array_size(a);
    for (size_t i = 0; i < p->nhashes; i++)
        if (!b64_decode(json_array_get(a, i), p->hashes[i], LDG_HASH_BYTES, NULL, NULL))
            return false;
    return true;
}

/* A JSON integer from 0 (or 1) to INT64_MAX. */
static bool
size_of(json_t *o, const char *k, uint64_t min, uint64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static ldg_status
parse_object(json_t *o, ldg_proof_json *p, ldg_err *err)
{
    if (json_is_integer(json_object_get(o, "index"))) {
        p->kind = LDG_PROOF_INCLUSION;
        if (!size_of(o, "index", 0, &p->index) || !size_of(o, "tree_size", 1, &p->tree_size) ||
            !b64_decode(json_object_get(o, "root"), p->root, LDG_HASH_BYTES, NULL, NULL) ||
            !hashes_decode(o, p))
            return ldgi_fail(err, LDG_E_INPUT, "malformed inclusion proof");
        json_t *leaf = json_object_get(o, "leaf");
        /* Optional (ldg verify-proof --leaf FILE); leaf_hash is informative, recomputed. */
        if (leaf && !json_is_null(leaf) && !b64_decode(leaf, NULL, 0, &p->leaf, &p->leaf_len)) {
            if (json_is_string(leaf) && !p->leaf)
                return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
            return ldgi_fail(err, LDG_E_INPUT, "leaf is not base64");
        }
        return LDG_OK;
    }
    if (json_is_integer(json_object_get(o, "old_size"))) {
        p->kind = LDG_PROOF_CONSISTENCY;
        if (!size_of(o, "old_size", 1, &p->old_size) ||
            !size_of(o, "new_size", p->old_size, &p->new_size) ||
            !b64_decode(json_object_get(o, "old_root"), p->old_root, LDG_HASH_BYTES, NULL, NULL) ||
            !b64_decode(json_object_get(o, "new_root"), p->new_root, LDG_HASH_BYTES, NULL, NULL) ||
            !hashes_decode(o, p))
            return ldgi_fail(err, LDG_E_INPUT, "malformed consistency proof");
        return LDG_OK;
    }
    return ldgi_fail(err, LDG_E_INPUT, "not a proof (no index or old_size)");
}

ldg_status
ldg_proof_json_parse(const char *text, size_t len, ldg_proof_json *out, ldg_err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je = {0}; /* jansson may fail before it sets the code json_error_code reads */
    /* No duplicate members: a second "root" must not hide behind the first. */
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    /* jansson leaves the error empty when its first allocation fails. */
    if (!o && (json_error_code(&je) == json_error_out_of_memory || !je.text[0]))
        return ldgi_fail(err, LDG_E_NOMEM, "out of memory");
    if (!o)
        return ldgi_fail(err, LDG_E_INPUT, "neither a tlog-proof nor a JSON proof (line %d: %s)",
                         je.line, je.text);
    ldg_status s = json_is_object(o)
                       ? parse_object(o, out, err)
                       : ldgi_fail(err, LDG_E_INPUT,
                                   "neither a tlog-proof nor a JSON proof (not a JSON object)");
    json_decref(o);
    if (s != LDG_OK) {
        int kind = out->kind;
        ldg_proof_json_clear(out);
        out->kind = kind;
    }
    return s;
}

/* ------------------------------------------------------------- writing -- */

static json_t *
b64_json(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = ldgi_malloc(cap);
    if (!s)
        return NULL;
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* Sets o[k] = v, taking v; false when v is NULL or jansson is out of memory. */
static bool
put(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

ldg_status
ldg_proof_json_format(const ldg_proof_json *p, char **out, size_t *out_len, ldg_err *err)
{
    *out = NULL;
    *out_len = 0;
    bool incl = p->kind == LDG_PROOF_INCLUSION;
    if ((!incl && p->kind != LDG_PROOF_CONSISTENCY) || p->nhashes > LDG_PROOF_MAX ||
        (incl && (p->index > INT64_MAX || p->tree_size > INT64_MAX || p->tree_size < 1)) ||
        (!incl && (p->new_size > INT64_MAX || p->old_size < 1 || p->new_size < p->old_size)))
        return ldgi_fail(err, LDG_E_USAGE, "proof: not a proof that can be written");
    json_t *o = json_object(), *h = json_array();
    bool ok = o && h;
    if (incl) {
        ok = ok && put(o, "index", json_integer((json_int_t)p->index)) &&
             put(o, "tree_size", json_integer((json_int_t)p->tree_size)) &&
             put(o, "root", b64_json(p->root, LDG_HASH_BYTES));
        if (p->leaf) {
            uint8_t lh[LDG_HASH_BYTES];
            ldgi_leaf_hash(p->leaf, p->leaf_len, lh);
            ok = ok && put(o, "leaf", b64_json(p->leaf, p->leaf_len)) &&
                 put(o, "leaf_hash", b64_json(lh, LDG_HASH_BYTES));
        }
    } else {
        ok = ok && put(o, "old_size", json_integer((json_int_t)p->old_size)) &&
             put(o, "old_root", b64_json(p->old_root, LDG_HASH_BYTES)) &&
             put(o, "new_size", json_integer((json_int_t)p->new_size)) &&
             put(o, "new_root", b64_json(p->new_root, LDG_HASH_BYTES));
    }
    for (size_t i = 0; ok && i < p->nhashes; i++)
        ok = json_array_append_new(h, b64_json(p->hashes[i], LDG_HASH_BYTES)) == 0;
    if (ok) {
        ok = json_object_set(o, "hashes", h) == 0;
        *out = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        ok = *out != NULL;
    }
    json_decref(h);
    json_decref(o);
    if (!ok)
        return ldgi_fail(err, LDG_E_NOMEM, "proof: out of memory");
    *out_len = strlen(*out);
    return LDG_OK;
}
