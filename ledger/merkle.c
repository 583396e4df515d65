/*
 * merkle.c - the RFC 6962 / RFC 9162 Merkle tree over the entries (issue 3):
 * tree heads, inclusion and consistency proofs, and their verification.
 * Leaf hash SHA-256(0x00 || entry) [FMT-5], node SHA-256(0x01 || l || r),
 * empty tree SHA-256("").  The algorithms read only perfect subtrees (level
 * k, index j covering leaves [j*2^k, (j+1)*2^k)) through a callback, so a
 * store that keeps those nodes answers any head or proof in O(log n) reads;
 * the ledger stores them in bands of clusters [STO-6] (below).
 */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void
ldgi_node_hash(const uint8_t l[LDG_HASH_BYTES], const uint8_t r[LDG_HASH_BYTES],
               uint8_t out[LDG_HASH_BYTES])
{
    uint8_t m[1 + 2 * LDG_HASH_BYTES];
    m[0] = 0x01; /* RFC 6962 node prefix */
    memcpy(m + 1, l, LDG_HASH_BYTES);
    memcpy(m + 1 + LDG_HASH_BYTES, r, LDG_HASH_BYTES);
    ldgi_sha256(m, sizeof m, out);
}

void
ldgi_node_hash_pair(const uint8_t l1[LDG_HASH_BYTES], const uint8_t r1[LDG_HASH_BYTES],
                    uint8_t o1[LDG_HASH_BYTES], const uint8_t l2[LDG_HASH_BYTES],
                    const uint8_t r2[LDG_HASH_BYTES], uint8_t o2[LDG_HASH_BYTES])
{
    uint8_t a[2 * LDG_HASH_BYTES], b[2 * LDG_HASH_BYTES];
    memcpy(a, l1, LDG_HASH_BYTES);
    memcpy(a + LDG_HASH_BYTES, r1, LDG_HASH_BYTES);
    memcpy(b, l2, LDG_HASH_BYTES);
    memcpy(b + LDG_HASH_BYTES, r2, LDG_HASH_BYTES);
    ldgi_sha256_pair(0x01, a, sizeof a, o1, b, sizeof b, o2); /* RFC 6962 node prefix */
}

void
ldgi_root64(const uint8_t (*leaf)[LDG_HASH_BYTES], uint8_t out[LDG_HASH_BYTES],
            uint8_t (*edge)[LDG_HASH_BYTES])
{
    uint8_t t[32][LDG_HASH_BYTES];
    for (size_t i = 0; i < 32; i += 2)
        ldgi_node_hash_pair(leaf[2 * i], leaf[2 * i + 1], t[i], leaf[2 * i + 2], leaf[2 * i + 3],
                            t[i + 1]);
    if (edge) {
        memcpy(edge[0], leaf[62], LDG_HASH_BYTES);
        memcpy(edge[1], t[30], LDG_HASH_BYTES);
    }
    unsigned level = 2;
    for (size_t w = 32; w > 1; w /= 2, level++) {
        if (w == 2) {
            ldgi_node_hash(t[0], t[1], t[0]);
            break;
        }
        for (size_t i = 0; i < w / 2; i += 2) /* t[i], t[i+1] from t[2i..2i+3]: read first */
            ldgi_node_hash_pair(t[2 * i], t[2 * i + 1], t[i], t[2 * i + 2], t[2 * i + 3], t[i + 1]);
        if (edge) /* the left one of the last two nodes on this level */
            memcpy(edge[level], t[w / 2 - 2], LDG_HASH_BYTES);
    }
    memcpy(out, t[0], LDG_HASH_BYTES);
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t
split_point(uint64_t n)
{
    uint64_t k = 1;
    while (k < (UINT64_C(1) << 63) && k << 1 < n)
        k <<= 1;
    return k;
}

static bool
is_pow2(uint64_t n)
{
    return n && !(n & (n - 1));
}

static unsigned
log2u(uint64_t n)
{
    unsigned l = 0;
    while (n >>= 1)
        l++;
    return l;
}

/* MTH of leaves [lo, hi), hi > lo: one stored node, or a split of the ragged right edge. */
static bool
subtree(uint64_t lo, uint64_t hi, ldgi_node_fn fn, void *ctx, uint8_t out[LDG_HASH_BYTES])
{
    uint64_t n = hi - lo;
    if (is_pow2(n) && lo % n == 0) {
        unsigned level = log2u(n);
        return fn(ctx, level, lo >> level, out);
    }
    uint8_t l[LDG_HASH_BYTES], r[LDG_HASH_BYTES];
    uint64_t k = split_point(n);
    if (!subtree(lo, lo + k, fn, ctx, l) || !subtree(lo + k, hi, fn, ctx, r))
        return false;
    ldgi_node_hash(l, r, out);
    return true;
}

bool
ldgi_merkle_root(uint64_t size, ldgi_node_fn fn, void *ctx, uint8_t root[LDG_HASH_BYTES])
{
    if (size == 0) {
        crypto_hash_sha256(root, NULL, 0);
        return true;
    }
    return subtree(0, size, fn, ctx, root);
}

typedef struct proof {
    uint8_t (*h)[LDG_HASH_BYTES];
    size_t n, max;
} proof;

static bool
push(proof *p, uint64_t lo, uint64_t hi, ldgi_node_fn fn, void *ctx)
{
    return p->n < p->max && subtree(lo, hi, fn, ctx, p->h[p->n++]);
}

/* RFC 6962 2.1.1 PATH(m, D[lo:hi]): the sibling nearest the leaf comes first. */
static bool
path(uint64_t m, uint64_t lo, uint64_t hi, ldgi_node_fn fn, void *ctx, proof *p)
{
    if (hi - lo == 1)
        return true;
    uint64_t k = split_point(hi - lo);
    if (m < lo + k)
        return path(m, lo, lo + k, fn, ctx, p) && push(p, lo + k, hi, fn, ctx);
    return path(m, lo + k, hi, fn, ctx, p) && push(p, lo, lo + k, fn, ctx);
}

size_t
ldgi_merkle_inclusion(uint64_t index, uint64_t size, ldgi_node_fn fn, void *ctx,
                      uint8_t (*out)[LDG_HASH_BYTES], size_t max)
{
    proof p = {out, 0, max};
    if (index >= size || !path(index, 0, size, fn, ctx, &p))
        return SIZE_MAX;
    return p.n;
}

/* RFC 6962 2.1.2 SUBPROOF(m, D[lo:hi], b). */
static bool
subproof(uint64_t m, uint64_t lo, uint64_t hi, bool b, ldgi_node_fn fn, void *ctx, proof *p)
{
    uint64_t n = hi - lo;
    if (m == n)
        return b ? true : push(p, lo, hi, fn, ctx);
    uint64_t k = split_point(n);
    if (m <= k)
        return subproof(m, lo, lo + k, b, fn, ctx, p) && push(p, lo + k, hi, fn, ctx);
    return subproof(m - k, lo + k, hi, false, fn, ctx, p) && push(p, lo, lo + k, fn, ctx);
}

size_t
ldgi_merkle_consistency(uint64_t old_size, uint64_t size, ldgi_node_fn fn, void *ctx,
                        uint8_t (*out)[LDG_HASH_BYTES], size_t max)
{
    proof p = {out, 0, max};
    if (old_size == 0 || old_size > size)
        return SIZE_MAX;
    if (old_size == size)
        return 0;
    return subproof(old_size, 0, size, true, fn, ctx, &p) ? p.n : SIZE_MAX;
}

bool
ldgi_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[LDG_HASH_BYTES],
                             const uint8_t (*path_h)[LDG_HASH_BYTES], size_t len,
                             const uint8_t root[LDG_HASH_BYTES])
{
    /* RFC 9162 2.1.3.2 */
    if (index >= size)
        return false;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[LDG_HASH_BYTES];
    memcpy(r, leaf, LDG_HASH_BYTES);
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ldgi_node_hash(path_h[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ldgi_node_hash(r, path_h[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(r, root, LDG_HASH_BYTES) == 0;
}

bool
ldgi_merkle_verify_consistency(uint64_t old_size, uint64_t size,
                               const uint8_t old_root[LDG_HASH_BYTES],
                               const uint8_t root[LDG_HASH_BYTES],
                               const uint8_t (*proof_h)[LDG_HASH_BYTES], size_t len)
{
    /* RFC 9162 2.1.4.2 */
    if (old_size == 0 || old_size > size)
        return false;
    if (old_size == size)
        return len == 0 && sodium_memcmp(old_root, root, LDG_HASH_BYTES) == 0;
    if (len == 0)
        return false;
    size_t i = 0;
    uint8_t fr[LDG_HASH_BYTES], sr[LDG_HASH_BYTES];
    /* An exact power of two: the old root itself starts the path. */
    const uint8_t *first = is_pow2(old_size) ? old_root : proof_h[i++];
    memcpy(fr, first, LDG_HASH_BYTES);
    memcpy(sr, first, LDG_HASH_BYTES);
    uint64_t fn = old_size - 1, sn = size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (; i < len; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) || fn == sn) {
            ldgi_node_hash(proof_h[i], fr, fr);
            ldgi_node_hash(proof_h[i], sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            ldgi_node_hash(sr, proof_h[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && sodium_memcmp(fr, old_root, LDG_HASH_BYTES) == 0 &&
           sodium_memcmp(sr, root, LDG_HASH_BYTES) == 0;
}

/* ------------------------------------------------- stored nodes [STO-6] -- */

/*
 * The tree is stored in bands of LDGI_TREE_BAND levels.  A band's nodes are
 * grouped by the subtree of the band above them: one record per group (a
 * "cluster": the 16 nodes of its lowest level and the 14 above them, 30 in
 * all), key band (1) || cluster index (8 BE), value the cluster's nodes
 * stored so far, 32 bytes each, in the order the ledger completes them
 * (post-order).  An append then adds hashes at the end of one record (one
 * more every 16 entries, and so on up), and a proof's path through a band
 * is one record: a proof at a million entries reads five records, where one
 * record per node made it read twenty, each by a descent from the root.
 */
void
ldgi_tree_slot(unsigned level, uint64_t index, uint8_t key[LDGI_TREE_KEY_BYTES], unsigned *pos)
{
    unsigned u = level % LDGI_TREE_BAND;
    uint64_t o = index & ((UINT64_C(1) << (LDGI_TREE_BAND - u)) - 1);
    /* the last of the band's lowest-level nodes it covers, then u more completions */
    uint64_t last = ((o + 1) << u) - 1;
    key[0] = (uint8_t)(level / LDGI_TREE_BAND);
    ldgi_be64(key + 1, index >> (LDGI_TREE_BAND - u));
    *pos = (unsigned)(2 * last - (uint64_t)__builtin_popcountll(last) + u);
}

/* A cluster's record as stored: whole hashes, no more than a cluster holds. */
static bool
cluster_ok(size_t vl)
{
    return vl % LDG_HASH_BYTES == 0 && vl <= LDGI_TREE_CLUSTER * LDG_HASH_BYTES;
}

bool
ldgi_tree_node(void *t, unsigned level, uint64_t index, uint8_t out[LDG_HASH_BYTES])
{
    uint8_t k[LDGI_TREE_KEY_BYTES];
    unsigned pos;
    const uint8_t *v;
    size_t vl;
    ldgi_tree_slot(level, index, k, &pos);
    if (ldgi_get(t, LDGI_DB_TREE, k, sizeof k, &v, &vl, NULL) != LDG_OK || !cluster_ok(vl) ||
        (pos + 1) * LDG_HASH_BYTES > vl)
        return false;
    memcpy(out, v + pos * LDG_HASH_BYTES, LDG_HASH_BYTES);
    return true;
}

bool
ldgi_tree_cached(ldgi_txn *t, ldgi_tree_cache *c, unsigned level, uint64_t index,
                 uint8_t out[LDG_HASH_BYTES])
{
    uint8_t k[LDGI_TREE_KEY_BYTES];
    unsigned pos;
    ldgi_tree_slot(level, index, k, &pos);
    ldgi_tree_rec *b = &c->band[level / LDGI_TREE_BAND];
    if (!b->held || memcmp(b->key, k, sizeof k) != 0) {
        const uint8_t *v;
        size_t vl;
        b->n = 0;
        if (ldgi_get(t, LDGI_DB_TREE, k, sizeof k, &v, &vl, NULL) == LDG_OK && cluster_ok(vl)) {
            memcpy(b->h, v, vl);
            b->n = (unsigned)(vl / LDG_HASH_BYTES);
        }
        memcpy(b->key, k, sizeof k);
        b->held = true;
    }
    if (pos >= b->n)
        return false;
    memcpy(out, b->h[pos], LDG_HASH_BYTES);
    return true;
}

static ldg_status
cluster_get(ldgi_txn *t, const uint8_t k[LDGI_TREE_KEY_BYTES], uint8_t (*buf)[LDG_HASH_BYTES],
            unsigned *n, ldg_err *err)
{
    const uint8_t *v;
    size_t vl;
    ldg_status s = ldgi_get(t, LDGI_DB_TREE, k, LDGI_TREE_KEY_BYTES, &v, &vl, err);
    *n = 0;
    if (s == LDG_E_NOTFOUND)
        return LDG_OK;
    if (s != LDG_OK)
        return s;
    if (!cluster_ok(vl))
        return ldgi_fail(err, LDG_E_CORRUPT,
                         "tree record (band %u, %llu) holds %zu bytes; run ldg verify", k[0],
                         (unsigned long long)ldgi_rd64(k + 1), vl);
    memcpy(buf, v, vl);
    *n = (unsigned)(vl / LDG_HASH_BYTES);
    return LDG_OK;
}

ldg_status
ldgi_tree_add(ldgi_txn *t, uint64_t seq, const uint8_t leaf[LDG_HASH_BYTES], ldg_err *err)
{
    uint8_t k[LDGI_TREE_KEY_BYTES], h[LDG_HASH_BYTES], buf[LDGI_TREE_CLUSTER][LDG_HASH_BYTES];
    unsigned level = 0, pos, n;
    uint64_t index = seq;
    memcpy(h, leaf, LDG_HASH_BYTES);
    /* Entry seq completes the subtree of 2^level leaves ending at it while seq+1 is a multiple. */
    for (;;) {
        /* (level, index) is the first node of this band the entry completes: due next in its
         * cluster, and the ones it completes above it in the band follow it there */
        ldgi_tree_slot(level, index, k, &pos);
        ldg_status s = cluster_get(t, k, buf, &n, err);
        if (s != LDG_OK)
            return s;
        if (n != pos)
            return ldgi_fail(err, LDG_E_CORRUPT,
                             "tree record (band %u, %llu) holds %u nodes where %u are due; run "
                             "ldg verify",
                             k[0], (unsigned long long)ldgi_rd64(k + 1), n, pos);
        bool up = false;
        for (;;) {
            memcpy(buf[n++], h, LDG_HASH_BYTES);
            if (!(index & 1) || level == 63)
                break;
            /* the left sibling is in this cluster: the two share a parent */
            unsigned lp;
            ldgi_tree_slot(level, index - 1, k, &lp);
            ldgi_node_hash(buf[lp], h, h);
            index >>= 1;
            if (++level % LDGI_TREE_BAND == 0) {
                up = true; /* the cluster's own root: the first node of the band above */
                break;
            }
        }
        /* k is the cluster's key: every slot worked out above is in it */
        s = ldgi_put(t, LDGI_DB_TREE, k, sizeof k, buf, n * LDG_HASH_BYTES, false, false, err);
        if (s != LDG_OK || !up)
            return s;
    }
}

/*
 * The nodes of one head or proof through one cursor, and the last cluster
 * it read: a path through a band takes its nodes from one record.  The
 * record's bytes stay valid while the read transaction lives.
 */
typedef struct node_reader {
    ldgi_cur *c;
    bool held;
    uint8_t key[LDGI_TREE_KEY_BYTES];
    const uint8_t *v;
    size_t vl;
} node_reader;

static bool
reader_node(void *ctx, unsigned level, uint64_t index, uint8_t out[LDG_HASH_BYTES])
{
    node_reader *r = ctx;
    uint8_t k[LDGI_TREE_KEY_BYTES];
    unsigned pos;
    ldgi_tree_slot(level, index, k, &pos);
    if (!r->held || memcmp(k, r->key, sizeof k) != 0) {
        r->held = false;
        if (ldgi_cur_find(r->c, k, sizeof k, &r->v, &r->vl, NULL) != LDG_OK || !cluster_ok(r->vl))
            return false;
        memcpy(r->key, k, sizeof k);
        r->held = true;
    }
    if ((pos + 1) * LDG_HASH_BYTES > r->vl)
        return false;
    memcpy(out, r->v + pos * LDG_HASH_BYTES, LDG_HASH_BYTES);
    return true;
}

ldg_status
ldgi_tree_drop(ldgi_txn *t, uint64_t seq, ldg_err *err)
{
    /* The nodes entry seq completed are the last of their clusters: cut each one back. */
    uint8_t k[LDGI_TREE_KEY_BYTES], buf[LDGI_TREE_CLUSTER][LDG_HASH_BYTES];
    unsigned level = 0, pos, n;
    uint64_t index = seq;
    for (;;) {
        ldgi_tree_slot(level, index, k, &pos);
        ldg_status s = cluster_get(t, k, buf, &n, err);
        if (s != LDG_OK)
            return s;
        if (n > pos)
            s = pos ? ldgi_put(t, LDGI_DB_TREE, k, sizeof k, buf, pos * LDG_HASH_BYTES, false,
                               false, err)
                    : ldgi_del(t, LDGI_DB_TREE, k, sizeof k, err);
        if (s != LDG_OK)
            return s;
        /* up to the band above, if the entry completed this cluster's root */
        unsigned top = level - level % LDGI_TREE_BAND + LDGI_TREE_BAND;
        while (level < top && (index & 1)) {
            index >>= 1;
            level++;
        }
        if (level < top || level >= 64)
            return LDG_OK;
    }
}

/* Nodes the cluster holds when r (1..16) of its lowest level's nodes are complete. */
static unsigned
cluster_nodes(uint64_t r)
{
    return r >= 16 ? LDGI_TREE_CLUSTER : (unsigned)(2 * r - (uint64_t)__builtin_popcountll(r));
}

ldg_status
ldgi_tree_shape(ldgi_txn *t, uint64_t n, char *why, size_t why_len, ldg_err *err)
{
    uint64_t want = 0, have;
    why[0] = '\0';
    for (unsigned b = 0; b * LDGI_TREE_BAND < 64 && n >> (b * LDGI_TREE_BAND); b++)
        want += ((n >> (b * LDGI_TREE_BAND)) + 15) / 16;
    ldg_status s = ldgi_count(t, LDGI_DB_TREE, &have, err);
    if (s != LDG_OK)
        return s;
    if (have != want) {
        snprintf(why, why_len, "the Merkle tree is stored in %llu records; %llu entries make %llu",
                 (unsigned long long)have, (unsigned long long)n, (unsigned long long)want);
        return LDG_OK;
    }
    /* The last record of each band is the only one that may be partly filled: it must hold
     * exactly what the entries complete, nothing more (the others are full or a node is missing,
     * which the walk over the nodes reports). */
    for (unsigned b = 0; b * LDGI_TREE_BAND < 64 && n >> (b * LDGI_TREE_BAND); b++) {
        uint64_t m = n >> (b * LDGI_TREE_BAND), last = (m - 1) / 16;
        uint8_t k[LDGI_TREE_KEY_BYTES];
        const uint8_t *v;
        size_t vl = 0;
        k[0] = (uint8_t)b;
        ldgi_be64(k + 1, last);
        s = ldgi_get(t, LDGI_DB_TREE, k, sizeof k, &v, &vl, err);
        if (s != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        unsigned nodes = cluster_nodes(m - 16 * last);
        if (vl != (size_t)nodes * LDG_HASH_BYTES) {
            snprintf(why, why_len,
                     "the Merkle tree's record (band %u, %llu) holds %zu bytes; %llu entries "
                     "make %u nodes in it",
                     b, (unsigned long long)last, vl, (unsigned long long)n, nodes);
            return LDG_OK;
        }
    }
    return LDG_OK;
}

/* ------------------------------------------------------------- public -- */

/*
 * Size of the ledger within t (the key of its last entry: no entry is
 * decoded or hashed); LDG_E_NOTFOUND (with a message) if size is past it.
 */
static ldg_status
check_size(ldgi_txn *t, uint64_t size, uint64_t *have_out, ldg_err *err)
{
    uint64_t have;
    ldg_status s = ldgi_entries_size(t, &have, "entries: malformed key; run ldg verify", err);
    if (s == LDG_OK && size > have)
        s = ldgi_fail(err, LDG_E_NOTFOUND, "tree size %llu is past the ledger's %llu entries",
                      (unsigned long long)size, (unsigned long long)have);
    *have_out = have;
    return s;
}

ldg_status
ldg_tree_root(ldg_ledger *l, uint64_t size, uint8_t root[LDG_HASH_BYTES], ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    node_reader r = {0};
    uint64_t have;
    if ((s = check_size(t, size, &have, err)) == LDG_OK &&
        (s = ldgi_cur_open(t, LDGI_DB_TREE, &r.c, err)) == LDG_OK &&
        !ldgi_merkle_root(size, reader_node, &r, root))
        s = ldgi_fail(err, LDG_E_CORRUPT, "a Merkle tree node is missing; run ldg verify");
    ldgi_cur_close(r.c);
    ldgi_txn_abort(t);
    return s;
}

/* A proof read from the stored tree in one snapshot: inclusion of a, or consistency from a. */
static ldg_status
stored_proof(ldg_ledger *l, bool inclusion, uint64_t a, uint64_t size,
             uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES], size_t *n, ldg_err *err)
{
    ldgi_txn *t;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s != LDG_OK)
        return s;
    node_reader r = {0};
    uint64_t have;
    if ((s = check_size(t, size, &have, err)) == LDG_OK &&
        (s = ldgi_cur_open(t, LDGI_DB_TREE, &r.c, err)) == LDG_OK) {
        *n = inclusion ? ldgi_merkle_inclusion(a, size, reader_node, &r, hashes, LDG_PROOF_MAX)
                       : ldgi_merkle_consistency(a, size, reader_node, &r, hashes, LDG_PROOF_MAX);
        if (*n == SIZE_MAX)
            s = ldgi_fail(err, LDG_E_CORRUPT, "a Merkle tree node is missing; run ldg verify");
    }
    ldgi_cur_close(r.c);
    ldgi_txn_abort(t);
    return s;
}

ldg_status
ldg_proof_inclusion(ldg_ledger *l, uint64_t index, uint64_t size,
                    uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES], size_t *n, ldg_err *err)
{
    if (index >= size)
        return ldgi_fail(err, LDG_E_USAGE, "record %llu is not in a tree of %llu entries",
                         (unsigned long long)index, (unsigned long long)size);
    return stored_proof(l, true, index, size, hashes, n, err);
}

ldg_status
ldg_proof_consistency(ldg_ledger *l, uint64_t old_size, uint64_t size,
                      uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES], size_t *n, ldg_err *err)
{
    if (old_size == 0 || old_size > size)
        return ldgi_fail(err, LDG_E_USAGE,
                         "consistency needs 0 < old size <= new size (%llu, %llu)",
                         (unsigned long long)old_size, (unsigned long long)size);
    return stored_proof(l, false, old_size, size, hashes, n, err);
}

int
ldg_proof_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf_hash[LDG_HASH_BYTES],
                           const uint8_t (*hashes)[LDG_HASH_BYTES], size_t n,
                           const uint8_t root[LDG_HASH_BYTES])
{
    return ldgi_merkle_verify_inclusion(index, size, leaf_hash, hashes, n, root);
}

int
ldg_proof_verify_consistency(uint64_t old_size, uint64_t size,
                             const uint8_t old_root[LDG_HASH_BYTES],
                             const uint8_t root[LDG_HASH_BYTES],
                             const uint8_t (*hashes)[LDG_HASH_BYTES], size_t n)
{
    return ldgi_merkle_verify_consistency(old_size, size, old_root, root, hashes, n);
}
