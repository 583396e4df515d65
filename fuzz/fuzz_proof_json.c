/*
 * fuzz_proof_json.c - the JSON proofs of `ldg proof` / `ldg verify-proof`
 * [CKP-6] on arbitrary bytes: ldg_proof_json_parse, then the offline checks
 * ldg_proof_verify_inclusion / _consistency on whatever sizes, indexes and
 * paths it accepted.  Properties: a refusal leaves nothing to free and a
 * kind in range; an accepted proof is within the documented bounds, writes
 * back with ldg_proof_json_format, that text parses to the same proof and
 * writes back to itself; the checks never crash and give 0 or 1.
 */
#include "fuzz.h"

#include <string.h>

static int
same(const ldg_proof_json *a, const ldg_proof_json *b)
{
    if (a->kind != b->kind || a->nhashes != b->nhashes ||
        memcmp(a->hashes, b->hashes, a->nhashes * LDG_HASH_BYTES) != 0)
        return 0;
    if (a->kind == LDG_PROOF_CONSISTENCY)
        return a->old_size == b->old_size && a->new_size == b->new_size &&
               memcmp(a->old_root, b->old_root, LDG_HASH_BYTES) == 0 &&
               memcmp(a->new_root, b->new_root, LDG_HASH_BYTES) == 0;
    return a->index == b->index && a->tree_size == b->tree_size &&
           memcmp(a->root, b->root, LDG_HASH_BYTES) == 0 && !a->leaf == !b->leaf &&
           a->leaf_len == b->leaf_len && (!a->leaf || memcmp(a->leaf, b->leaf, a->leaf_len) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    ldg_proof_json p, q;
    ldg_err err;
    ldg_status s = ldg_proof_json_parse((const char *)data, size, &p, &err);
    if (s != LDG_OK) {
        FUZZ_CHECK(s == LDG_E_INPUT && !p.leaf && p.kind >= 0 && p.kind <= 2);
        return 0;
    }
    FUZZ_CHECK(p.nhashes <= LDG_PROOF_MAX);
    const uint8_t(*h)[LDG_HASH_BYTES] = (const uint8_t(*)[LDG_HASH_BYTES])p.hashes;
    if (p.kind == LDG_PROOF_INCLUSION) {
        FUZZ_CHECK(p.tree_size >= 1 && p.tree_size <= INT64_MAX && p.index <= INT64_MAX);
        uint8_t lh[LDG_HASH_BYTES];
        ldgi_leaf_hash(p.leaf ? p.leaf : data, p.leaf ? p.leaf_len : size, lh);
        int v = ldg_proof_verify_inclusion(p.index, p.tree_size, lh, h, p.nhashes, p.root);
        FUZZ_CHECK(v == 0 || v == 1);
        /* A path is only for an index inside the tree. */
        FUZZ_CHECK(!v || p.index < p.tree_size);
    } else {
        FUZZ_CHECK(p.kind == LDG_PROOF_CONSISTENCY);
        FUZZ_CHECK(p.old_size >= 1 && p.old_size <= p.new_size && p.new_size <= INT64_MAX);
        int v = ldg_proof_verify_consistency(p.old_size, p.new_size, p.old_root, p.new_root, h,
                                             p.nhashes);
        FUZZ_CHECK(v == 0 || v == 1);
    }

    char *text, *again;
    size_t len, alen;
    FUZZ_CHECK(ldg_proof_json_format(&p, &text, &len, NULL) == LDG_OK);
    FUZZ_CHECK(strlen(text) == len && !memchr(text, '\n', len));
    if (ldg_proof_json_parse(text, len, &q, &err) != LDG_OK) {
        fprintf(stderr, "written: %s\nrefused: %s\n", text, err.msg);
        FUZZ_CHECK(!"the written proof parses again");
    }
    FUZZ_CHECK(same(&p, &q));
    FUZZ_CHECK(ldg_proof_json_format(&q, &again, &alen, NULL) == LDG_OK);
    FUZZ_CHECK(alen == len && memcmp(again, text, len) == 0);
    free(again);
    free(text);
    ldg_proof_json_clear(&q);
    ldg_proof_json_clear(&p);
    return 0;
}
