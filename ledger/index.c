/*
 * index.c - the keys of the two hash-keyed indexes and the lookup through
 * the leaf-hash one [STO-1].
 *
 * A random 32-byte key sends every insert to a random page of its B-tree, so
 * a batch into a big ledger would rewrite most of the index: append cost
 * would grow with the ledger.  Both keys therefore start with something that
 * grows with the ledger: the leaf-hash index with the entry's epoch (seq >>
 * LDGI_LEAF_EPOCH_BITS), the statement index with the statement's claimed
 * time.  A batch then writes near the end of each B-tree, whatever its size.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

unsigned ldgi_leaf_epoch_bits = LDGI_LEAF_EPOCH_BITS;

void
ldgi_leaf_key(uint8_t out[LDGI_LEAF_KEY_BYTES], const uint8_t leaf[LDG_HASH_BYTES], uint64_t seq)
{
    uint64_t e = seq >> ldgi_leaf_epoch_bits;
    out[0] = (uint8_t)(e >> 24);
    out[1] = (uint8_t)(e >> 16);
    out[2] = (uint8_t)(e >> 8);
    out[3] = (uint8_t)e;
    memcpy(out + 4, leaf, LDG_HASH_BYTES);
}

void
ldgi_commit_key(uint8_t out[LDGI_COMMIT_KEY_BYTES], int64_t claimed_ns,
                const uint8_t commit[LDG_HASH_BYTES])
{
    /* Offset binary, so that keys sort in time order across 1970. */
    ldgi_be64(out, (uint64_t)claimed_ns ^ (UINT64_C(1) << 63));
    memcpy(out + 8, commit, LDG_HASH_BYTES);
}

/*
 * A transaction's cache of found leaf hashes: sets of two ways, HINT_FEW of
 * them at first (3 KiB: a single append looks one hash up, where the whole
 * table, an mmap of its own, cost more than the lookup), then LEAF_HINTS / 2
 * from the HINT_FEW-th hint put, those held carried over.  Freed with the
 * transaction.
 */
#define LEAF_HINTS 4096 /* slots of the grown cache (192 KiB) */
#define HINT_FEW 32     /* sets of the first one */

typedef struct hint_table {
    uint32_t sets, puts;
    ldgi_leaf_hint h[]; /* 2 * sets */
} hint_table;

static hint_table *
hint_table_new(uint32_t sets)
{
    hint_table *ht = ldgi_calloc(1, sizeof *ht + 2 * (size_t)sets * sizeof ht->h[0]);
    if (ht)
        ht->sets = sets;
    return ht;
}

/* The set of ht where `hash` goes (its two ways). */
static ldgi_leaf_hint *
table_set(hint_table *ht, const uint8_t hash[LDG_HASH_BYTES])
{
    /* two ways a set: hashes that share a slot no longer evict each other in turn */
    uint32_t slot;
    memcpy(&slot, hash, sizeof slot);
    return &ht->h[slot % ht->sets * 2];
}

/* Into a set: the new one takes the first way, the one there the second. */
static void
set_put(ldgi_leaf_hint *set, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq)
{
    set[1] = set[0];
    ldgi_leaf_hint_set(set, hash, seq);
}

/*
 * LDG_OK if the entry at seq, below `before`, hashes to `hash` in t;
 * LDG_E_NOTFOUND if not (a stale or wrong hint); another status if t fails.
 */
static ldg_status
hinted(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, uint64_t before, ldg_err *err)
{
    uint8_t at[LDG_HASH_BYTES];
    if (seq >= before)
        return LDG_E_NOTFOUND;
    ldg_status s = ldgi_leaf_at(t, seq, at, err);
    if (s != LDG_OK)
        return s;
    return memcmp(at, hash, LDG_HASH_BYTES) == 0 ? LDG_OK : LDG_E_NOTFOUND;
}

/* The set of the transaction's hints where `hash` goes; NULL without memory. */
static ldgi_leaf_hint *
hint_set(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES])
{
    hint_table *ht = *ldgi_txn_hints(t);
    if (!ht && (ht = hint_table_new(HINT_FEW)) != NULL)
        *ldgi_txn_hints(t) = ht;
    return ht ? table_set(ht, hash) : NULL;
}

/* A hint into t's cache, which it grows at the HINT_FEW-th (on no memory it stays as it is). */
static void
hint_put(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq)
{
    ldgi_leaf_hint *set = hint_set(t, hash);
    if (!set)
        return;
    set_put(set, hash, seq);
    hint_table *ht = *ldgi_txn_hints(t);
    if (ht->sets != HINT_FEW || ++ht->puts < HINT_FEW)
        return;
    hint_table *big = hint_table_new(LEAF_HINTS / 2);
    if (!big)
        return;
    /* the second ways first, so that each first way stays the newer of the two */
    for (int w = 1; w >= 0; w--)
        for (uint32_t i = 0; i < ht->sets; i++)
            if (ht->h[2 * i + w].used)
                set_put(table_set(big, ht->h[2 * i + w].hash), ht->h[2 * i + w].hash,
                        ht->h[2 * i + w].seq);
    free(ht);
    *ldgi_txn_hints(t) = big;
}

ldg_status
ldgi_leaf_find(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES], uint64_t before, uint64_t *seq,
               ldg_err *err)
{
    ldg_status s;
    if (before == UINT64_MAX && (s = ldgi_count(t, LDGI_DB_ENTRIES, &before, err)) != LDG_OK)
        return s;
    if (before == 0)
        return LDG_E_NOTFOUND;
    uint8_t k[LDGI_LEAF_KEY_BYTES], at[LDG_HASH_BYTES];
    /*
     * First where this transaction found the hash before (a batch of
     * replies refs the same records again), or a walk in it hashed the
     * entry (ldgi_leaf_note).  A slot is filled only once the entry's
     * bytes, read in this transaction, hashed to `hash`.  No
     * transaction rewrites an entry (they are put with MDB_APPEND), and the
     * one delete (ldgi_mirror_drop) empties the slots, so within it those
     * bytes still hash to it and are not hashed again; the entry must still
     * lie below `before`.  The slots are freed with the transaction.
     */
    ldgi_leaf_hint *h = hint_set(t, hash);
    for (int w = 0; h && w < 2; w++)
        if (h[w].used && h[w].seq < before && memcmp(h[w].hash, hash, LDG_HASH_BYTES) == 0) {
            *seq = h[w].seq;
            return LDG_OK;
        }
    /* Then where the handle last read that hash (a ref given as a seq, resolved by the caller). */
    uint64_t at_seq;
    if (ldgi_leaf_seen_get(ldgi_txn_ledger(t), hash, &at_seq) &&
        (s = hinted(t, hash, at_seq, before, err)) != LDG_E_NOTFOUND) {
        if (s == LDG_OK)
            hint_put(t, hash, *seq = at_seq);
        return s;
    }
    /* Newest epoch first: a ref most often names a recent entry. */
    for (uint64_t e = (before - 1) >> ldgi_leaf_epoch_bits;; e--) {
        const uint8_t *v;
        size_t vl;
        ldgi_leaf_key(k, hash, e << ldgi_leaf_epoch_bits);
        s = ldgi_get(t, LDGI_DB_LEAF, k, sizeof k, &v, &vl, err);
        if (s != LDG_OK && s != LDG_E_NOTFOUND)
            return s;
        /* The index is derived: the seq counts only when that entry hashes to the ref. */
        if (s == LDG_OK && vl == 8 && ldgi_rd64(v) < before &&
            ldgi_rd64(v) >> ldgi_leaf_epoch_bits == e) {
            s = ldgi_leaf_at(t, ldgi_rd64(v), at, err);
            if (s != LDG_OK && s != LDG_E_NOTFOUND)
                return s;
            if (s == LDG_OK && memcmp(at, hash, LDG_HASH_BYTES) == 0) {
                hint_put(t, hash, *seq = ldgi_rd64(v));
                return LDG_OK;
            }
        }
        if (e == 0)
            return LDG_E_NOTFOUND;
    }
}

/*
 * Whether entry `seq` hashes to `hash` (an observed head [POL-8]), through
 * the same hints as ldgi_leaf_find: LDG_OK, LDG_E_NOTFOUND, or an error.
 */
ldg_status
ldgi_leaf_is(ldgi_txn *t, uint64_t seq, const uint8_t hash[LDG_HASH_BYTES], ldg_err *err)
{
    /* a hint of this transaction was filled from these very bytes (ldgi_leaf_find) */
    ldgi_leaf_hint *h = hint_set(t, hash);
    for (int w = 0; h && w < 2; w++)
        if (h[w].used && h[w].seq == seq && memcmp(h[w].hash, hash, LDG_HASH_BYTES) == 0)
            return LDG_OK;
    ldg_status s = hinted(t, hash, seq, UINT64_MAX, err);
    if (s == LDG_OK)
        hint_put(t, hash, seq);
    return s;
}

void
ldgi_leaf_note(ldgi_txn *t, uint64_t seq, const uint8_t hash[LDG_HASH_BYTES])
{
    /* as a hint ldgi_leaf_find fills: these bytes, read in t, hashed to `hash` */
    hint_put(t, hash, seq);
}

/*
 * `ldg reindex` [STO-1]: rebuilds the two hash-keyed indexes and the stored
 * Merkle tree [STO-6] from `entries` (they are derived: nothing signed
 * changes), and retires the databases of the earlier layouts (`leaf`,
 * `commit`: keyed by the hash alone, before 2026-12; `tree`: a record per
 * node).  A step of REINDEX_STEP entries per write transaction keeps the
 * memory bounded; the old databases are emptied in the last step and
 * removed after it, so a run stopped half-way leaves a ledger that asks for
 * `ldg reindex` again, which starts over.
 */
#define REINDEX_STEP 65536

/* The ledger's databases (at their LDGI_DB_* numbers), then the old ones. */
enum { RX_OLD = LDGI_DB_COUNT, RX_COUNT = LDGI_ENV_DBS };

/* Indexes entries [from, from + REINDEX_STEP) in t; *next: where the next step starts. */
static ldg_status
reindex_step(ldgi_txn *t, uint64_t from, uint64_t *next, ldg_err *err)
{
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(t, LDGI_DB_ENTRIES, &c, err);
    if (s != LDG_OK)
        return s;
    ldgi_stmt *st = ldgi_malloc(sizeof *st);
    if (!st) {
        ldgi_cur_close(c);
        return ldgi_fail(err, LDG_E_NOMEM, "reindex: out of memory");
    }
    uint8_t from_k[8], leaf[LDG_HASH_BYTES], lk[LDGI_LEAF_KEY_BYTES], ck[LDGI_COMMIT_KEY_BYTES];
    const uint8_t *k, *v;
    size_t kl, vl, n = 0;
    ldgi_be64(from_k, from);
    *next = from;
    for (s = ldgi_cur_seek(c, from_k, 8, &k, &kl, &v, &vl, err); s == LDG_OK && n < REINDEX_STEP;
         s = ldgi_cur_next(c, &k, &kl, &v, &vl, err), n++) {
        ldgi_entry e;
        const char *why;
        uint64_t seq = kl == 8 ? ldgi_rd64(k) : UINT64_MAX;
        if (seq != *next) {
            s = ldgi_fail(err, LDG_E_CORRUPT,
                          "reindex: entry %llu is missing or out of order; run "
                          "ldg verify",
                          (unsigned long long)*next);
            break;
        }
        if (!ldgi_entry_decode(v, vl, &e, &why) ||
            !ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why)) {
            s = ldgi_fail(err, LDG_E_CORRUPT,
                          "reindex: entry %llu does not decode (%s); run ldg "
                          "verify",
                          (unsigned long long)seq, why ? why : "?");
            break;
        }
        ldgi_leaf_hash(v, vl, leaf);
        ldgi_leaf_key(lk, leaf, seq);
        ldgi_commit_key(ck, st->time_ns, st->body);
        uint8_t sk[8];
        ldgi_be64(sk, seq);
        if ((s = ldgi_put(t, LDGI_DB_LEAF, lk, sizeof lk, sk, 8, false, false, err)) != LDG_OK)
            break;
        /* a replay (only a tampered ledger has one) keeps its first copy, as append would */
        s = ldgi_put(t, LDGI_DB_COMMIT, ck, sizeof ck, sk, 8, true, false, err);
        if (s != LDG_OK && s != LDG_E_EXISTS)
            break;
        if ((s = ldgi_tree_add(t, seq, leaf, err)) != LDG_OK)
            break;
        *next = seq + 1;
    }
    free(st);
    ldgi_cur_close(c);
    return s == LDG_E_NOTFOUND ? LDG_OK : s;
}

/*
 * Runs one write transaction of the rebuild: first (the new databases
 * emptied), a step from *at, or (at == total) the old databases emptied;
 * redone in a bigger map when the map is full.
 */
static ldg_status
reindex_txn(ldg_ledger *l, bool first, uint64_t *at, uint64_t *total, ldg_err *err)
{
    for (;;) {
        ldgi_txn *t;
        ldg_status s = ldgi_txn_begin(l, true, &t, err);
        if (s != LDG_OK)
            return s;
        uint64_t next = *at;
        if (first && ((s = ldgi_drop(t, LDGI_DB_LEAF, false, err)) != LDG_OK ||
                      (s = ldgi_drop(t, LDGI_DB_COMMIT, false, err)) != LDG_OK ||
                      (s = ldgi_drop(t, LDGI_DB_TREE, false, err)) != LDG_OK ||
                      (s = ldgi_count(t, LDGI_DB_ENTRIES, total, err)) != LDG_OK)) {
            ldgi_txn_abort(t);
            return s;
        }
        if (*at < *total)
            s = reindex_step(t, *at, &next, err);
        else
            for (int i = RX_OLD; s == LDG_OK && i < RX_COUNT; i++)
                s = ldgi_drop(t, (ldgi_db)i, false, err);
        bool map_full = ldgi_txn_map_full(t);
        if (s == LDG_OK)
            s = ldgi_txn_commit(t, &map_full, err);
        else
            ldgi_txn_abort(t);
        if (s == LDG_OK) {
            *at = next;
            return s;
        }
        if (!map_full || !ldgi_map_grow(l, err))
            return s;
    }
}

ldg_status
ldg_reindex(const char *dir, uint64_t *entries, ldg_err *err)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &sb) != 0)
        return ldgi_fail(err, LDG_E_NOTFOUND, "%s: nothing here (no data.mdb)", dir);
    ldg_ledger *l;
    /* create: the new databases may not exist yet (nor, in a current ledger, the old ones) */
    const char *rx_names[RX_COUNT]; /* outlives the handle, closed below */
    for (int i = 0; i < LDGI_DB_COUNT; i++)
        rx_names[i] = ldgi_db_names[i];
    for (int i = 0; i < LDGI_OLD_DB_COUNT; i++)
        rx_names[RX_OLD + i] = ldgi_old_db_names[i];
    ldg_status s = ldgi_env_open(dir, rx_names, RX_COUNT, true, &l, err);
    if (s != LDG_OK)
        return s;
    uint64_t total = 0, at = 0;
    s = reindex_txn(l, true, &at, &total, err);
    while (s == LDG_OK && at < total)
        s = reindex_txn(l, false, &at, &total, err);
    if (s == LDG_OK) /* the old indexes, emptied: then gone, in a transaction that frees pages */
        s = reindex_txn(l, false, &at, &total, err);
    ldgi_txn *t;
    if (s == LDG_OK && (s = ldgi_txn_begin(l, true, &t, err)) == LDG_OK) {
        /* removing a database closes its handle: never in a transaction that may be redone */
        for (int i = RX_OLD; s == LDG_OK && i < RX_COUNT; i++)
            s = ldgi_drop(t, (ldgi_db)i, true, err);
        if (s == LDG_OK)
            s = ldgi_txn_commit(t, NULL, err);
        else
            ldgi_txn_abort(t);
    }
    ldg_ledger_close(l);
    if (s == LDG_OK && entries)
        *entries = total;
    return s;
}
