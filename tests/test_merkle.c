/*
 * test_merkle.c - the RFC 6962 / RFC 9162 tree (ledger/merkle.c): the
 * reference data set's tree heads and proofs (cross-checked with an
 * independent implementation), every inclusion and consistency proof of
 * every tree of 1..200 leaves generated and verified, and the negative cases
 * that broke verifiers in peer systems.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#define MAXLEAVES 256

static uint8_t leaves[MAXLEAVES][LDG_HASH_BYTES];
static size_t nleaves;
static unsigned long node_reads;

static void
leaf_of(const uint8_t *d, size_t n, uint8_t out[LDG_HASH_BYTES])
{
    ldgi_leaf_hash(d, n, out);
}

/* Perfect subtree from the leaves, as a store of nodes would answer it. */
static bool
node(void *ctx, unsigned level, uint64_t index, uint8_t out[LDG_HASH_BYTES])
{
    if (ctx)
        node_reads++; /* a read by the algorithm, not this function's own recursion */
    uint64_t lo = index << level, n = (uint64_t)1 << level;
    if (lo + n > nleaves)
        return false;
    if (level == 0) {
        memcpy(out, leaves[lo], LDG_HASH_BYTES);
        return true;
    }
    uint8_t l[LDG_HASH_BYTES], r[LDG_HASH_BYTES];
    node(NULL, level - 1, index * 2, l);
    node(NULL, level - 1, index * 2 + 1, r);
    ldgi_node_hash(l, r, out);
    return true;
}

/* The RFC 6962 reference inputs (certificate-transparency test data). */
static void
reference_leaves(void)
{
    static const uint8_t d1[] = {0x00}, d2[] = {0x10}, d3[] = {0x20, 0x21}, d4[] = {0x30, 0x31},
                         d5[] = {0x40, 0x41, 0x42, 0x43};
    uint8_t d6[8], d7[16];
    for (int i = 0; i < 8; i++)
        d6[i] = (uint8_t)(0x50 + i);
    for (int i = 0; i < 16; i++)
        d7[i] = (uint8_t)(0x60 + i);
    leaf_of(NULL, 0, leaves[0]);
    leaf_of(d1, 1, leaves[1]);
    leaf_of(d2, 1, leaves[2]);
    leaf_of(d3, 2, leaves[3]);
    leaf_of(d4, 2, leaves[4]);
    leaf_of(d5, 4, leaves[5]);
    leaf_of(d6, 8, leaves[6]);
    leaf_of(d7, 16, leaves[7]);
    nleaves = 8;
}

static void
hex(const char *h, uint8_t out[LDG_HASH_BYTES])
{
    size_t n;
    cr_assert_eq(sodium_hex2bin(out, LDG_HASH_BYTES, h, 64, NULL, &n, NULL), 0);
    cr_assert_eq(n, LDG_HASH_BYTES);
}

static void
init(void)
{
    cr_assert_geq(sodium_init(), 0);
}

TestSuite(merkle, .init = init);

Test(merkle, reference_tree_heads_for_0_to_8_leaves)
{
    static const char *const roots[] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
    reference_leaves();
    for (uint64_t n = 0; n <= 8; n++) {
        uint8_t got[LDG_HASH_BYTES], want[LDG_HASH_BYTES];
        hex(roots[n], want);
        cr_assert(ldgi_merkle_root(n, node, NULL, got));
        cr_assert_arr_eq(got, want, LDG_HASH_BYTES, "root of %llu leaves", (unsigned long long)n);
    }
}

static void
expect_proof(size_t got, uint8_t (*h)[LDG_HASH_BYTES], const char *const *want, size_t n,
             const char *what)
{
    cr_assert_eq(got, n, "%s: %zu hashes", what, got);
    for (size_t i = 0; i < n; i++) {
        uint8_t w[LDG_HASH_BYTES];
        hex(want[i], w);
        cr_assert_arr_eq(h[i], w, LDG_HASH_BYTES, "%s: hash %zu", what, i);
    }
}

Test(merkle, reference_inclusion_proofs)
{
    reference_leaves();
    uint8_t h[LDGI_PROOF_MAX][LDG_HASH_BYTES];
    static const char *const p0_8[] = {
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"};
    static const char *const p5_8[] = {
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"};
    static const char *const p2_3[] = {
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"};
    static const char *const p1_5[] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"};
    expect_proof(ldgi_merkle_inclusion(0, 8, node, NULL, h, LDGI_PROOF_MAX), h, p0_8, 3, "0/8");
    expect_proof(ldgi_merkle_inclusion(5, 8, node, NULL, h, LDGI_PROOF_MAX), h, p5_8, 3, "5/8");
    expect_proof(ldgi_merkle_inclusion(2, 3, node, NULL, h, LDGI_PROOF_MAX), h, p2_3, 1, "2/3");
    expect_proof(ldgi_merkle_inclusion(1, 5, node, NULL, h, LDGI_PROOF_MAX), h, p1_5, 3, "1/5");
    cr_assert_eq(ldgi_merkle_inclusion(0, 1, node, NULL, h, LDGI_PROOF_MAX), 0, "one leaf");
}

Test(merkle, reference_consistency_proofs)
{
    reference_leaves();
    uint8_t h[LDGI_PROOF_MAX][LDG_HASH_BYTES];
    static const char *const c1_8[] = {
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"};
    static const char *const c6_8[] = {
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"};
    static const char *const c2_5[] = {
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"};
    static const char *const c3_7[] = {
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e"};
    expect_proof(ldgi_merkle_consistency(1, 8, node, NULL, h, LDGI_PROOF_MAX), h, c1_8, 3, "1->8");
    expect_proof(ldgi_merkle_consistency(6, 8, node, NULL, h, LDGI_PROOF_MAX), h, c6_8, 3, "6->8");
    expect_proof(ldgi_merkle_consistency(2, 5, node, NULL, h, LDGI_PROOF_MAX), h, c2_5, 2, "2->5");
    expect_proof(ldgi_merkle_consistency(3, 7, node, NULL, h, LDGI_PROOF_MAX), h, c3_7, 4, "3->7");
}

static void
synthetic_leaves(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t d[8];
        for (int b = 0; b < 8; b++)
            d[b] = (uint8_t)(i >> (8 * b));
        leaf_of(d, sizeof d, leaves[i]);
    }
    nleaves = n;
}

/*
 * The exhaustive sweeps are quadratic in the size; under memcheck
 * (test_slow) they stop at 70 leaves, still past 64 where a depth-7 tree
 * starts and every shape of a right edge has been seen.
 */
static uint64_t
sweep_max(void)
{
    uint64_t n = test_slow() ? 70 : 200;
    cr_log_info("trees of 1 to %llu leaves", (unsigned long long)n);
    return n;
}

Test(merkle, every_proof_of_every_tree_of_1_to_200_leaves_verifies, .timeout = 120)
{
    const uint64_t max = sweep_max();
    synthetic_leaves(max);
    uint8_t roots[201][LDG_HASH_BYTES], h[LDGI_PROOF_MAX][LDG_HASH_BYTES];
    for (uint64_t n = 1; n <= max; n++)
        cr_assert(ldgi_merkle_root(n, node, NULL, roots[n]));
    for (uint64_t n = 1; n <= max; n++) {
        for (uint64_t i = 0; i < n; i++) {
            size_t len = ldgi_merkle_inclusion(i, n, node, NULL, h, LDGI_PROOF_MAX);
            cr_assert_neq(len, SIZE_MAX);
            cr_assert(ldgi_merkle_verify_inclusion(i, n, leaves[i], (const uint8_t(*)[32])h, len,
                                                   roots[n]),
                      "inclusion %llu in %llu", (unsigned long long)i, (unsigned long long)n);
        }
        for (uint64_t m = 1; m <= n; m++) {
            size_t len = ldgi_merkle_consistency(m, n, node, NULL, h, LDGI_PROOF_MAX);
            cr_assert_neq(len, SIZE_MAX);
            cr_assert(ldgi_merkle_verify_consistency(m, n, roots[m], roots[n],
                                                     (const uint8_t(*)[32])h, len),
                      "consistency %llu -> %llu", (unsigned long long)m, (unsigned long long)n);
        }
    }
}

Test(merkle, heads_and_proofs_read_only_logarithmically_many_nodes)
{
    const uint64_t max = sweep_max();
    synthetic_leaves(max);
    uint8_t h[LDGI_PROOF_MAX][LDG_HASH_BYTES], root[LDG_HASH_BYTES];
    int marker;
    for (uint64_t n = 1; n <= max; n++) {
        unsigned lg = 0;
        while (((uint64_t)1 << lg) < n)
            lg++;
        node_reads = 0;
        cr_assert(ldgi_merkle_root(n, node, &marker, root));
        cr_assert_leq(node_reads, lg + 1, "head of %llu: %lu reads", (unsigned long long)n,
                      node_reads);
        for (uint64_t i = 0; i < n; i++) {
            node_reads = 0;
            cr_assert_neq(ldgi_merkle_inclusion(i, n, node, &marker, h, LDGI_PROOF_MAX), SIZE_MAX);
            cr_assert_leq(node_reads, 2 * lg + 1, "inclusion %llu/%llu: %lu reads",
                          (unsigned long long)i, (unsigned long long)n, node_reads);
        }
        for (uint64_t m = 1; m < n; m++) {
            node_reads = 0;
            cr_assert_neq(ldgi_merkle_consistency(m, n, node, &marker, h, LDGI_PROOF_MAX),
                          SIZE_MAX);
            cr_assert_leq(node_reads, 2 * lg + 2, "consistency %llu->%llu: %lu reads",
                          (unsigned long long)m, (unsigned long long)n, node_reads);
        }
    }
}

/*
 * [STO-6] Where each node is stored: the library's slot against the one
 * tests/helpers.c works out by replaying a cluster (not by the formula),
 * and the spec's vectors.
 */
Test(merkle, the_stored_tree_places_every_node_where_the_spec_says)
{
    for (unsigned level = 0; level < 64; level++)
        for (uint64_t i = 0; i < 600; i++) {
            uint64_t index = level > 50 ? i : (i << 4) + i % 7; /* low bits vary, as do high */
            uint8_t k1[9], k2[9];
            unsigned p1, p2;
            ldgi_tree_slot(level, index, k1, &p1);
            tree_slot(level, index, k2, &p2);
            cr_assert_arr_eq(k1, k2, 9, "key of (%u, %llu)", level, (unsigned long long)index);
            cr_assert_eq(p1, p2, "place of (%u, %llu)", level, (unsigned long long)index);
            cr_assert_lt(p1, LDGI_TREE_CLUSTER);
        }
    static const struct {
        unsigned level;
        uint64_t index;
        uint8_t band;
        uint64_t cluster;
        unsigned pos;
    } v[] = {
        {0, 0, 0, 0, 0},  {0, 1, 0, 0, 1},    {1, 0, 0, 0, 2},  {0, 2, 0, 0, 3},  {2, 0, 0, 0, 6},
        {3, 0, 0, 0, 14}, {0, 15, 0, 0, 26},  {1, 7, 0, 0, 27}, {2, 3, 0, 0, 28}, {3, 1, 0, 0, 29},
        {0, 16, 0, 1, 0}, {4, 0, 1, 0, 0},    {5, 3, 1, 0, 12}, {7, 1, 1, 0, 29}, {8, 5, 2, 0, 8},
        {4, 17, 1, 1, 1}, {63, 0, 15, 0, 14},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t k[9], want[9];
        unsigned pos;
        ldgi_tree_slot(v[i].level, v[i].index, k, &pos);
        want[0] = v[i].band;
        seq_key(v[i].cluster, want + 1);
        cr_assert_arr_eq(k, want, 9, "vector %zu", i);
        cr_assert_eq(pos, v[i].pos, "vector %zu: %u", i, pos);
    }
}

/* Negative cases modelled on real verifier bugs in peer systems. */
Test(merkle, proofs_that_must_fail)
{
    synthetic_leaves(13);
    uint8_t root[LDG_HASH_BYTES], old[LDG_HASH_BYTES], h[LDGI_PROOF_MAX + 1][LDG_HASH_BYTES];
    const uint8_t(*ch)[32] = (const uint8_t(*)[32])h;
    cr_assert(ldgi_merkle_root(13, node, NULL, root));
    cr_assert(ldgi_merkle_root(7, node, NULL, old));
    size_t len = ldgi_merkle_inclusion(5, 13, node, NULL, h, LDGI_PROOF_MAX);
    cr_assert(ldgi_merkle_verify_inclusion(5, 13, leaves[5], ch, len, root), "control");
    cr_assert(!ldgi_merkle_verify_inclusion(5, 13, leaves[5], ch, 0, root), "empty proof");
    cr_assert(!ldgi_merkle_verify_inclusion(5, 13, leaves[5], ch, len - 1, root), "one too few");
    memcpy(h[len], h[0], LDG_HASH_BYTES);
    cr_assert(!ldgi_merkle_verify_inclusion(5, 13, leaves[5], ch, len + 1, root), "one too many");
    cr_assert(!ldgi_merkle_verify_inclusion(4, 13, leaves[5], ch, len, root), "wrong index");
    /* (any size in 9..16 gives index 5 this path's shape: the signed checkpoint, not the
     * path, binds a size to its root) */
    cr_assert(!ldgi_merkle_verify_inclusion(5, 8, leaves[5], ch, len, root), "wrong size");
    cr_assert(!ldgi_merkle_verify_inclusion(5, 0, leaves[5], ch, len, root), "tree size 0");
    cr_assert(!ldgi_merkle_verify_inclusion(13, 13, leaves[5], ch, len, root), "index = size");
    cr_assert(!ldgi_merkle_verify_inclusion(5, 13, leaves[6], ch, len, root), "wrong leaf");
    h[1][7] ^= 1;
    cr_assert(!ldgi_merkle_verify_inclusion(5, 13, leaves[5], ch, len, root), "flipped bit");

    len = ldgi_merkle_consistency(7, 13, node, NULL, h, LDGI_PROOF_MAX);
    cr_assert(ldgi_merkle_verify_consistency(7, 13, old, root, ch, len), "control");
    cr_assert(!ldgi_merkle_verify_consistency(7, 13, old, root, ch, 0), "empty proof");
    cr_assert(!ldgi_merkle_verify_consistency(7, 13, old, root, ch, len - 1), "one too few");
    memcpy(h[len], h[0], LDG_HASH_BYTES);
    cr_assert(!ldgi_merkle_verify_consistency(7, 13, old, root, ch, len + 1), "one too many");
    cr_assert(!ldgi_merkle_verify_consistency(13, 7, root, old, ch, len), "old size > new");
    cr_assert(!ldgi_merkle_verify_consistency(0, 13, old, root, ch, len), "old size 0");
    cr_assert(!ldgi_merkle_verify_consistency(7, 13, root, root, ch, len), "wrong old root");
    cr_assert(!ldgi_merkle_verify_consistency(7, 13, old, old, ch, len), "wrong new root");
    cr_assert(!ldgi_merkle_verify_consistency(13, 13, root, root, ch, 1), "same size, non-empty");
    cr_assert(ldgi_merkle_verify_consistency(13, 13, root, root, ch, 0), "same size, empty");
    cr_assert_eq(ldgi_merkle_consistency(0, 13, node, NULL, h, LDGI_PROOF_MAX), SIZE_MAX);
    cr_assert_eq(ldgi_merkle_consistency(14, 13, node, NULL, h, LDGI_PROOF_MAX), SIZE_MAX);
    cr_assert_eq(ldgi_merkle_inclusion(13, 13, node, NULL, h, LDGI_PROOF_MAX), SIZE_MAX);
}
