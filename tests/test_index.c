/*
 * test_index.c - the hash-keyed indexes [STO-1]: keys that follow the
 * ledger (epoch || leaf hash, claimed time || commitment), so that an append
 * writes near the end of each B-tree; lookups of a leaf hash across epochs;
 * verify's record-by-record check of both [VER-9]; and `ldg reindex` for a
 * ledger of the layout before 2026-12.  Real binary, real LMDB files.
 */
#include "forge.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers -- */

/* Entry seq's leaf hash and statement; st points into the returned bytes (free them after). */
static void *
entry_stmt(const char *d, uint64_t seq, uint8_t leaf[32], ldgi_stmt *st)
{
    uint8_t k[8];
    void *v;
    size_t vl;
    seq_key(seq, k);
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, &vl), 0, "entry %llu",
                 (unsigned long long)seq);
    ldgi_entry e;
    const char *why;
    cr_assert(ldgi_entry_decode(v, vl, &e, &why), "%s", why);
    cr_assert(ldgi_stmt_decode(e.stmt, e.stmt_len, st, &why), "%s", why);
    ldgi_leaf_hash(v, vl, leaf);
    return v;
}

/* The spec's key of the statement index: time with its top bit flipped, BE, then the commitment. */
static void
commit_key_by_spec(const ldgi_stmt *st, uint8_t out[40])
{
    uint64_t t = (uint64_t)st->time_ns ^ (UINT64_C(1) << 63);
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)t;
        t >>= 8;
    }
    memcpy(out + 8, st->body, 32);
}

static long
verify_status(const char *d, char **out)
{
    run_result r = LDG(d, NULL, "verify", "--json");
    long st = r.status;
    if (out)
        *out = strdup(r.out);
    run_free(&r);
    return st;
}

/* Rewrites dir/ledger's indexes into the layout before 2026-12, as an older ldg wrote them. */
static void
to_old_layout(const char *d)
{
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi nl, nc, ol, oc;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    cr_assert_eq(mdb_env_open(env, path_in(d, "ledger"), 0, 0640), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
    cr_assert_eq(mdb_dbi_open(t, "leaf-by-epoch", 0, &nl), 0);
    cr_assert_eq(mdb_dbi_open(t, "commit-by-time", 0, &nc), 0);
    cr_assert_eq(mdb_dbi_open(t, "leaf", MDB_CREATE, &ol), 0);
    cr_assert_eq(mdb_dbi_open(t, "commit", MDB_CREATE, &oc), 0);
    MDB_dbi from[2] = {nl, nc}, to[2] = {ol, oc};
    size_t skip[2] = {4, 8};
    for (int i = 0; i < 2; i++) {
        MDB_cursor *c;
        MDB_val k, v;
        cr_assert_eq(mdb_cursor_open(t, from[i], &c), 0);
        for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            MDB_val ok = {k.mv_size - skip[i], (uint8_t *)k.mv_data + skip[i]};
            cr_assert_eq(mdb_put(t, to[i], &ok, &v, 0), 0);
        }
        mdb_cursor_close(c);
        cr_assert_eq(mdb_drop(t, from[i], 1), 0);
    }
    cr_assert_eq(mdb_txn_commit(t), 0);
    mdb_env_close(env);
}

static bool
has_db(const char *d, const char *name)
{
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, path_in(d, "ledger"), MDB_RDONLY, 0640), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
    bool has = mdb_dbi_open(t, name, 0, &dbi) == 0;
    mdb_txn_abort(t);
    mdb_env_close(env);
    return has;
}

static char g_findings[4096];

static void
collect_finding(void *ctx, ldg_finding_level level, uint64_t seq, const char *check,
                const char *detail)
{
    (void)ctx;
    if (level != LDG_FINDING_FAIL)
        return;
    size_t n = strlen(g_findings);
    snprintf(g_findings + n, sizeof g_findings - n, "%llu %s: %s\n", (unsigned long long)seq, check,
             detail);
}

/* -------------------------------------------------------------- tests -- */

Test(index, keys_follow_the_ledger_as_the_spec_says, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    long n = ledger_size(d);
    cr_assert_gt(n, 10);
    for (long s = 0; s < n; s++) {
        uint8_t leaf[32], lk[36], ck[40], k8[8];
        ldgi_stmt *st = calloc(1, sizeof *st);
        void *bytes = entry_stmt(d, (uint64_t)s, leaf, st);
        seq_key((uint64_t)s, k8);
        leaf_index_key(leaf, (uint64_t)s, lk);
        void *v;
        size_t vl;
        cr_assert_eq(lmdb_get_value(d, LEAF_DB, lk, 36, &v, &vl), 0, "leaf key of %ld", s);
        cr_assert(vl == 8 && memcmp(v, k8, 8) == 0, "leaf key of %ld maps to its seq", s);
        free(v);
        commit_key_by_spec(st, ck);
        cr_assert_eq(lmdb_get_value(d, "commit-by-time", ck, 40, &v, &vl), 0, "commit key of %ld",
                     s);
        cr_assert(vl == 8 && memcmp(v, k8, 8) == 0, "commit key of %ld maps to its seq", s);
        free(v);
        free(st);
        free(bytes);
    }
}

/*
 * A ref is looked up epoch by epoch, newest first: with 4-entry epochs (the
 * library's test knob; make_ledger's 4 key records fill epoch 0 either way),
 * records forged past the policy land in three more epochs, and every one is
 * found from every later size, none from an earlier one.
 */
Test(index, a_leaf_hash_is_found_in_any_epoch, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldgi_leaf_epoch_bits = 2;
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldg_key *k = load_key(d, "author");
    for (int i = 0; i < 12; i++) {
        ldgi_stmt *st = calloc(1, sizeof *st);
        st->kind = str_lit("communication");
        st->study = str_lit("S1");
        forge_record(l, k, st, NULL);
        free(st);
    }
    ldgi_txn *t;
    cr_assert_eq(ldgi_txn_begin(l, false, &t, &err), LDG_OK);
    for (uint64_t s = 4; s < 16; s++) {
        uint8_t leaf[32];
        uint64_t at = 0;
        cr_assert_eq(ldgi_leaf_at(t, s, leaf, &err), LDG_OK);
        cr_assert_eq(ldgi_leaf_find(t, leaf, UINT64_MAX, &at, &err), LDG_OK, "entry %llu",
                     (unsigned long long)s);
        cr_assert_eq(at, s);
        cr_assert_eq(ldgi_leaf_find(t, leaf, s + 1, &at, &err), LDG_OK);
        cr_assert_eq(ldgi_leaf_find(t, leaf, s, &at, &err), LDG_E_NOTFOUND,
                     "entry %llu is not below itself", (unsigned long long)s);
    }
    uint8_t none[32] = {1};
    uint64_t at;
    cr_assert_eq(ldgi_leaf_find(t, none, UINT64_MAX, &at, &err), LDG_E_NOTFOUND);
    ldgi_txn_abort(t);
    /* and the whole ledger verifies with these keys */
    ldg_verify_summary sum;
    ldg_verify_opts o = {.jobs = 1, .on_finding = collect_finding};
    cr_assert_eq(ldg_verify_run(l, &o, &sum, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(sum.entries, 16);
    cr_assert_eq(sum.failures, 0, "%s", g_findings);
    ldg_key_free(k);
    ldg_ledger_close(l);
    ldgi_leaf_epoch_bits = LDGI_LEAF_EPOCH_BITS;
}

/*
 * A transaction's cache of found leaf hashes starts small and grows at its
 * 32nd hint: what it held before is carried over.  The hashes here are made
 * up, one to a set of either size (their first bytes are 0, 1, 2...), and
 * the index has none of them, so each is found from the cache or not at all.
 */
Test(index, the_hints_a_transaction_holds_outlive_the_growth_of_its_cache, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    ldgi_txn *t;
    cr_assert_eq(ldgi_txn_begin(l, false, &t, &err), LDG_OK);
    uint64_t n;
    cr_assert_eq(ldgi_count(t, LDGI_DB_ENTRIES, &n, &err), LDG_OK);
    cr_assert_gt(n, 1);
    enum { NOTES = 200 };
    for (uint32_t i = 0; i < NOTES; i++) {
        uint8_t h[32];
        memset(h, 0xA5, sizeof h);
        memcpy(h, &i, sizeof i);
        ldgi_leaf_note(t, i % n, h);
        if (i != 5)
            continue;
        uint64_t at = UINT64_MAX;
        memset(h, 0xA5, sizeof h);
        uint32_t j = 3;
        memcpy(h, &j, sizeof j);
        cr_assert_eq(ldgi_leaf_find(t, h, UINT64_MAX, &at, &err), LDG_OK, "before the growth");
        cr_assert_eq(at, 3 % n);
    }
    for (uint32_t i = 0; i < NOTES; i++) {
        uint8_t h[32];
        uint64_t at = UINT64_MAX;
        memset(h, 0xA5, sizeof h);
        memcpy(h, &i, sizeof i);
        cr_assert_eq(ldgi_leaf_find(t, h, UINT64_MAX, &at, &err), LDG_OK, "hint %u", i);
        cr_assert_eq(at, i % n);
    }
    uint8_t none[32];
    uint64_t at;
    memset(none, 0xA5, sizeof none);
    memset(none, 0xFF, 4);
    cr_assert_eq(ldgi_leaf_find(t, none, UINT64_MAX, &at, &err), LDG_E_NOTFOUND);
    ldgi_txn_abort(t);
    ldg_ledger_close(l);
}

/*
 * A ref resolved from its seq (ldg_ledger_leaf_hash, as the tools do for
 * `--ref SEQ` and batch refs) is found again at that seq, without the
 * lookup in every epoch that grows with the ledger; but the seq is only a
 * hint: it counts when the entry there hashes to the ref, below `before`.
 */
Test(index, a_ref_resolved_from_its_seq_is_found_there_and_only_if_it_hashes, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    uint8_t leaf[32], lk[36];
    ldgi_stmt *st = calloc(1, sizeof *st);
    void *bytes = entry_stmt(d, 6, leaf, st);
    free(st);
    free(bytes);
    /* the index loses entry 6: a search of the epochs cannot find it any more */
    leaf_index_key(leaf, 6, lk);
    cr_assert_eq(lmdb_del_key(d, LEAF_DB, lk, 36), 0);
    ldg_ledger *l;
    ldgi_txn *t;
    uint64_t at = 0;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldgi_txn_begin(l, false, &t, &err), LDG_OK);
    cr_assert_eq(ldgi_leaf_find(t, leaf, UINT64_MAX, &at, &err), LDG_E_NOTFOUND);
    ldgi_txn_abort(t);
    /* resolved from seq 6, it is found there, from the entry's own bytes */
    uint8_t got[32];
    cr_assert_eq(ldg_ledger_leaf_hash(l, 6, got, &err), LDG_OK, "%s", err.msg);
    cr_assert(memcmp(got, leaf, 32) == 0);
    cr_assert_eq(ldgi_txn_begin(l, false, &t, &err), LDG_OK);
    cr_assert_eq(ldgi_leaf_find(t, leaf, UINT64_MAX, &at, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(at, 6);
    cr_assert_eq(ldgi_leaf_find(t, leaf, 6, &at, &err), LDG_E_NOTFOUND,
                 "entry 6 is not below itself, hint or not");
    ldgi_txn_abort(t);
    /* a hint whose entry does not hash to the ref is no answer */
    uint8_t fake[32];
    memcpy(fake, leaf, 32);
    fake[31] ^= 1;
    ldgi_leaf_seen_put(l, fake, 6);
    ldgi_leaf_seen_put(l, leaf, 7); /* and one that moved: 6 is found by its own hint no more */
    cr_assert_eq(ldgi_txn_begin(l, false, &t, &err), LDG_OK);
    cr_assert_eq(ldgi_leaf_find(t, fake, UINT64_MAX, &at, &err), LDG_E_NOTFOUND);
    cr_assert_eq(ldgi_leaf_find(t, leaf, UINT64_MAX, &at, &err), LDG_E_NOTFOUND);
    ldgi_txn_abort(t);
    ldg_ledger_close(l);
    /* through the binary: a ref given as a seq is resolved from the entries, a hash must be found
     */
    char hx[65];
    for (int i = 0; i < 32; i++)
        snprintf(hx + 2 * i, 3, "%02x", leaf[i]);
    run_result r = LDG(d, "{}", "append", "--as", "decider.key", "--kind", "response", "--study",
                       "HX-301", "--ref", "6", "--body", "-");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    r = LDG(d, "{}", "append", "--as", "decider.key", "--kind", "response", "--study", "HX-301",
            "--ref", hx, "--body", "-");
    cr_assert_eq(r.status, 3, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "names no entry") || strstr(r.err, "no entry"), "%s", r.err);
    run_free(&r);
}

/*
 * A leaf hash found in a transaction is taken again from the transaction's
 * own hints without hashing the entry again: only below `before`, and not
 * once the entry is dropped in that transaction (the mirror's drop of
 * entries past its checkpoint, the one delete of an entry).
 */
Test(index, a_ref_found_in_a_transaction_is_not_taken_again_once_its_entry_is_dropped,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    ldgi_txn *t;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldgi_txn_begin(l, true, &t, &err), LDG_OK, "%s", err.msg);
    uint64_t n = 0, at = 0;
    cr_assert_eq(ldgi_entries_size(t, &n, "corrupt", &err), LDG_OK);
    cr_assert(n > 2);
    uint8_t leaf[32];
    cr_assert_eq(ldgi_leaf_at(t, n - 2, leaf, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldgi_leaf_find(t, leaf, UINT64_MAX, &at, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(at, n - 2);
    cr_assert_eq(ldgi_leaf_find(t, leaf, n - 2, &at, &err), LDG_E_NOTFOUND,
                 "found in this transaction, but not below itself");
    cr_assert_eq(ldgi_leaf_find(t, leaf, n, &at, &err), LDG_OK, "%s", err.msg);
    /* not the last: the ledger's size, and so `before`, stays n */
    cr_assert_eq(ldgi_mirror_drop(t, n - 2, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(ldgi_leaf_find(t, leaf, UINT64_MAX, &at, &err), LDG_E_NOTFOUND,
                 "a dropped entry is found no more, though this transaction found it before");
    ldgi_txn_abort(t);
    ldg_ledger_close(l);
}

/* The seq `ldg log` (walk) or `ldg show` gives for record seq's first ref, -1 for none. */
static long
shown_ref_seq(const char *d, uint64_t seq, bool walk)
{
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)seq);
    run_result r = walk ? LDG(d, NULL, "log", "--json") : LDG(d, NULL, "show", s, "--json");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    long got = -2;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "%s", line);
        if (json_integer_value(json_object_get(o, "seq")) == (json_int_t)seq) {
            json_t *at = json_object_get(json_array_get(json_object_get(o, "refs"), 0), "seq");
            got = json_is_null(at) ? -1 : (long)json_integer_value(at);
        }
        json_decref(o);
    }
    run_free(&r);
    cr_assert_neq(got, -2, "record %llu not shown", (unsigned long long)seq);
    return got;
}

/*
 * A walk notes the leaf hash it computed from each entry's bytes
 * (ldgi_leaf_note), and a later record's ref to that entry is resolved from
 * it: without the index, but never from anything but those bytes.
 */
Test(index, a_walk_resolves_a_ref_from_the_hash_it_computed_and_from_nothing_else,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d); /* #7 refs #6 */
    uint8_t leaf[32], lk[36];
    ldgi_stmt *st = calloc(1, sizeof *st);
    free(entry_stmt(d, 6, leaf, st));
    free(st);
    leaf_index_key(leaf, 6, lk);
    void *k6;
    size_t k6l;
    cr_assert_eq(lmdb_get_value(d, LEAF_DB, lk, 36, &k6, &k6l), 0);
    cr_assert_eq(lmdb_del_key(d, LEAF_DB, lk, 36), 0);
    /* show looks the ref up, and the index lost it; log hashed #6 on its way to #7 */
    cr_assert_eq(shown_ref_seq(d, 7, false), -1);
    cr_assert_eq(shown_ref_seq(d, 7, true), 6);

    /* #6 altered: the walk's hash of it is not #7's ref, nor is the entry the index names */
    cr_assert_eq(lmdb_put_value(d, LEAF_DB, lk, 36, k6, k6l), 0);
    free(k6);
    cr_assert_eq(shown_ref_seq(d, 7, true), 6, "index restored");
    uint8_t k[8];
    void *v;
    size_t vl;
    seq_key(6, k);
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, &vl), 0);
    ldgi_entry e;
    const char *why;
    cr_assert(ldgi_entry_decode(v, vl, &e, &why), "%s", why);
    uint8_t *sig = NULL;
    for (size_t i = 0; !sig && i + sizeof e.sig <= vl; i++)
        if (memcmp((uint8_t *)v + i, e.sig, sizeof e.sig) == 0)
            sig = (uint8_t *)v + i;
    cr_assert_not_null(sig);
    sig[10] ^= 0x01; /* still decodes; #7's prev still names the original */
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, v, vl), 0);
    free(v);
    cr_assert_eq(shown_ref_seq(d, 7, true), -1);
    cr_assert_eq(shown_ref_seq(d, 7, false), -1);
}

Test(index, a_missing_or_extra_index_record_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    char *out;
    cr_assert_eq(verify_status(d, &out), 0, "%s", out);
    free(out);
    uint8_t leaf[32], lk[36], ck[40];
    ldgi_stmt *st = calloc(1, sizeof *st);
    void *bytes = entry_stmt(d, 6, leaf, st);
    leaf_index_key(leaf, 6, lk);
    commit_key_by_spec(st, ck);
    cr_assert_eq(lmdb_del_key(d, LEAF_DB, lk, 36), 0);
    cr_assert_eq(verify_status(d, &out), 1);
    cr_assert(strstr(out, "\"seq\":6,\"check\":\"index\",\"detail\":\"the leaf-hash index does "
                          "not map this record's leaf hash to its seq\""),
              "%s", out);
    free(out);
    /* back, and a statement record mapped to another entry */
    uint8_t k6[8], k5[8];
    seq_key(6, k6);
    seq_key(5, k5);
    cr_assert_eq(lmdb_put_value(d, LEAF_DB, lk, 36, k6, 8), 0);
    cr_assert_eq(lmdb_put_value(d, "commit-by-time", ck, 40, k5, 8), 0);
    cr_assert_eq(verify_status(d, &out), 1);
    cr_assert(strstr(out, "\"seq\":6,\"check\":\"index\",\"detail\":\"the statement index does "
                          "not map this record's commitment to its seq\""),
              "%s", out);
    free(out);
    /* back, and one record too many */
    cr_assert_eq(lmdb_put_value(d, "commit-by-time", ck, 40, k6, 8), 0);
    ck[39] ^= 1;
    cr_assert_eq(lmdb_put_value(d, "commit-by-time", ck, 40, k6, 8), 0);
    cr_assert_eq(verify_status(d, &out), 1);
    cr_assert(strstr(out, "the statement index has 13 entries for 12 records"), "%s", out);
    free(out);
    free(st);
    free(bytes);
}

/*
 * verify looks each study, kind and actor index record up through a cursor
 * per value, and values whose hashes meet share one: HX-102, HX-159 and
 * HX-195 share one of its 64 (FNV-1a, low 6 bits).  Records of the three
 * studies interleaved, by two actors: a record taken out of each index in
 * the middle of its value's run is found missing at its own seq, and no
 * other is, wherever the shared cursor stood.  A lookup that took the key
 * the cursor stepped to for the one it wanted would pass the removed ones.
 * The statement index, keyed by claimed time, has a cursor too: here the
 * claims run back every other record, and one record taken out of it is
 * found at its seq alone.
 */
Test(index, each_value_index_record_is_looked_up_wherever_the_cursor_stands, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    fixture_begin();
    make_ledger(d);
    const char *study[3] = {"HX-102", "HX-159", "HX-195"};
    const char *as[2] = {"author.key", "decider.key"};
    long first = 0;
    for (int i = 0; i < 12; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"subject\":\"record %d\"}", i);
        /* claimed times that run back by turns: the statement index's cursor must seek back */
        char when[40];
        snprintf(when, sizeof when, "2026-03-%02dT09:00:00+01:00", i % 2 ? 20 - i : 10 + i);
        long seq = APPEND(d, body, "--as", as[i % 2], "--kind", "communication", "--study",
                          study[i % 3], "--time", when);
        cr_assert_gt(seq, 0);
        first = i ? first : seq;
    }
    fixture_end();
    char *out;
    cr_assert_eq(verify_status(d, &out), 0, "%s", out);
    free(out);
    /* study: HX-159's third record; kind: the seventh; actor: the ninth */
    uint8_t leaf[32], k[64];
    uint64_t s_study = (uint64_t)first + 7, s_kind = (uint64_t)first + 6,
             s_actor = (uint64_t)first + 8;
    ldgi_stmt *st = calloc(1, sizeof *st);
    void *bytes = entry_stmt(d, s_study, leaf, st);
    cr_assert(st->study.len == 6 && memcmp(st->study.p, "HX-159", 6) == 0);
    memcpy(k, "HX-159", 6);
    k[6] = 0;
    seq_key(s_study, k + 7);
    cr_assert_eq(lmdb_del_key(d, "study", k, 15), 0);
    memcpy(k, "communication", 13);
    k[13] = 0;
    seq_key(s_kind, k + 14);
    cr_assert_eq(lmdb_del_key(d, "kind", k, 22), 0);
    free(bytes);
    bytes = entry_stmt(d, s_actor, leaf, st);
    memcpy(k, st->actor, 32);
    seq_key(s_actor, k + 32);
    cr_assert_eq(lmdb_del_key(d, "actor", k, 40), 0);
    /* statement: the fifth record's, claimed before the fourth's */
    uint64_t s_commit = (uint64_t)first + 4;
    free(bytes);
    bytes = entry_stmt(d, s_commit, leaf, st);
    commit_key_by_spec(st, k);
    cr_assert_eq(lmdb_del_key(d, "commit-by-time", k, 40), 0);
    cr_assert_eq(verify_status(d, &out), 1);
    char want[160];
    snprintf(want, sizeof want,
             "\"seq\":%llu,\"check\":\"index\",\"detail\":\"the statement index does not map",
             (unsigned long long)s_commit);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert_eq(str_count(out, "does not map"), 1, "%s", out);
    snprintf(want, sizeof want,
             "\"seq\":%llu,\"check\":\"index\",\"detail\":\"the study index has no entry",
             (unsigned long long)s_study);
    cr_assert(strstr(out, want), "%s", out);
    snprintf(want, sizeof want,
             "\"seq\":%llu,\"check\":\"index\",\"detail\":\"the kind index has no entry",
             (unsigned long long)s_kind);
    cr_assert(strstr(out, want), "%s", out);
    snprintf(want, sizeof want,
             "\"seq\":%llu,\"check\":\"index\",\"detail\":\"the actor index has no entry",
             (unsigned long long)s_actor);
    cr_assert(strstr(out, want), "%s", out);
    /* those three, and the totals' count of each index, one short */
    cr_assert_eq(str_count(out, "has no entry for this record"), 3, "%s", out);
    free(out);
    free(st);
    free(bytes);
}

/* make_trail, verified: root gets the "tree root ..." end of the summary, to compare after. */
static void
trail_root(const char *d, char *root, size_t n)
{
    make_trail(d);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    const char *at = strstr(r.out, "tree root ");
    cr_assert(at);
    snprintf(root, n, "%s", at);
    run_free(&r);
}

Test(index, an_old_ledger_is_refused_then_reindexed, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    char before[200];
    trail_root(d, before, sizeof before);
    run_result r;
    to_old_layout(d);
    cr_assert(has_db(d, "leaf") && !has_db(d, LEAF_DB));
    /* every command says what to do, in one line, and writes nothing */
    r = LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
            "--body", "-");
    cr_assert_neq(r.status, 0);
    cr_assert(strstr(r.err, "ldg reindex") && !strchr(strchr(r.err, '\n') + 1, '\n'), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify");
    cr_assert_neq(r.status, 0);
    cr_assert(strstr(r.err, "ldg reindex"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "reindex");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, ": 12 entries"), "%s", r.out);
    run_free(&r);
    cr_assert(!has_db(d, "leaf") && !has_db(d, "commit") && has_db(d, LEAF_DB));
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, before), "nothing signed changed: %s", r.out);
    run_free(&r);
    /* and it appends again; a second reindex changes nothing */
    APPEND(d, "{\"subject\":\"after reindex\"}", "--as", "decider.key", "--kind", "communication",
           "--study", "S1");
    r = LDG(d, NULL, "reindex");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    cr_assert_eq(verify_status(d, NULL), 0);
}

/* Rewrites dir/ledger's tree (n entries) as ldg before 2026-12-07 stored it: a record per node. */
static void
to_tree_per_node(const char *d, uint64_t n)
{
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi old, cur;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    cr_assert_eq(mdb_env_open(env, path_in(d, "ledger"), 0, 0640), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &t), 0);
    cr_assert_eq(mdb_dbi_open(t, "tree", MDB_CREATE, &old), 0);
    cr_assert_eq(mdb_dbi_open(t, TREE_DB, 0, &cur), 0);
    for (unsigned level = 0; n >> level; level++)
        for (uint64_t i = 0; i < n >> level; i++) {
            uint8_t k[9], rk[9];
            unsigned pos;
            tree_slot(level, i, rk, &pos);
            MDB_val key = {9, rk}, v;
            cr_assert_eq(mdb_get(t, cur, &key, &v), 0);
            cr_assert_geq(v.mv_size, (pos + 1) * 32);
            k[0] = (uint8_t)level;
            seq_key(i, k + 1);
            MDB_val ok = {9, k}, ov = {32, (uint8_t *)v.mv_data + pos * 32};
            cr_assert_eq(mdb_put(t, old, &ok, &ov, 0), 0);
        }
    cr_assert_eq(mdb_drop(t, cur, 1), 0);
    cr_assert_eq(mdb_txn_commit(t), 0);
    mdb_env_close(env);
}

/* [STO-6] A ledger whose tree has a record per node is refused until reindexed, like [STO-1]. */
Test(index, a_tree_with_a_record_per_node_is_refused_then_reindexed, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    char before[200];
    trail_root(d, before, sizeof before);
    run_result r;
    to_tree_per_node(d, 12);
    cr_assert(has_db(d, "tree") && !has_db(d, TREE_DB));
    r = LDG(d, NULL, "proof", "inclusion", "3");
    cr_assert_eq(r.status, 4, "%d %s", r.status, r.err);
    cr_assert(strstr(r.err, "ldg reindex") && strstr(r.err, "Merkle tree") &&
                  !strchr(strchr(r.err, '\n') + 1, '\n'),
              "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "reindex");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    cr_assert(!has_db(d, "tree") && has_db(d, TREE_DB));
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, before), "nothing signed changed: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "proof", "inclusion", "3");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

/* RFC 6962 MTH of leaves [lo, hi), from the leaf hashes alone. */
static void
ref_mth(const uint8_t (*leaf)[32], uint64_t lo, uint64_t hi, uint8_t out[32])
{
    if (hi - lo == 1) {
        memcpy(out, leaf[lo], 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < hi - lo)
        k *= 2;
    uint8_t m[65];
    m[0] = 1;
    ref_mth(leaf, lo, lo + k, m + 1);
    ref_mth(leaf, lo + k, hi, m + 33);
    crypto_hash_sha256(out, m, sizeof m);
}

static void
tree_is(ldgi_txn *t, const uint8_t (*leaf)[32], uint64_t n)
{
    char why[256];
    uint8_t want[32], got[32];
    ldg_err err;
    cr_assert_eq(ldgi_tree_shape(t, n, why, sizeof why, &err), LDG_OK);
    cr_assert_str_empty(why, "at %llu: %s", (unsigned long long)n, why);
    ref_mth(leaf, 0, n, want);
    cr_assert(ldgi_merkle_root(n, ldgi_tree_node, t, got));
    cr_assert_arr_eq(got, want, 32, "root at %llu", (unsigned long long)n);
}

/*
 * [STO-6] The tree across three bands (entries past 256): every head and
 * proof from the stored records against heads worked out from the leaves
 * alone, then the undo of the last entries (the mirror's) back below a
 * band's boundary, and the same entries stored again.
 */
Test(index, the_stored_tree_across_bands_gives_every_head_and_proof, .fini = tmp_cleanup,
     .timeout = 120)
{
    const char *d = tmp_dir();
    make_ledger(d);
    enum { N = 300 };
    char *text = malloc(N * 96);
    cr_assert_not_null(text);
    size_t at = 0;
    for (int k = 0; k < N; k++)
        at += (size_t)sprintf(
            text + at, "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":{\"n\":%d}}\n", k);
    write_file(d, "b.jsonl", text);
    free(text);
    run_result r = LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    uint64_t n = (uint64_t)ledger_size(d);
    cr_assert_gt(n, 256);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path_in(d, "ledger"), 0, &l, &err), LDG_OK, "%s", err.msg);
    uint8_t(*leaf)[32] = calloc(n, 32);
    ldgi_txn *t;
    cr_assert_eq(ldgi_txn_begin(l, true, &t, &err), LDG_OK);
    for (uint64_t s = 0; s < n; s++)
        cr_assert_eq(ldgi_leaf_at(t, s, leaf[s], &err), LDG_OK);
    for (uint64_t m = 1; m <= n; m++) {
        uint8_t root[32];
        cr_assert(ldgi_merkle_root(m, ldgi_tree_node, t, root));
        uint8_t want[32];
        ref_mth(leaf, 0, m, want);
        cr_assert_arr_eq(root, want, 32, "head at %llu", (unsigned long long)m);
    }
    /* undo down to 250 (band 2's first node, over 0..255, goes), then store them again */
    for (uint64_t s = n; s-- > 250;) {
        cr_assert_eq(ldgi_tree_drop(t, s, &err), LDG_OK, "%s", err.msg);
        tree_is(t, leaf, s);
    }
    for (uint64_t s = 250; s < n; s++) {
        cr_assert_eq(ldgi_tree_add(t, s, leaf[s], &err), LDG_OK, "%s", err.msg);
        tree_is(t, leaf, s + 1);
    }
    /* a node stored twice is refused, not appended after the others */
    cr_assert_eq(ldgi_tree_add(t, n - 1, leaf[n - 1], &err), LDG_E_CORRUPT);
    ldgi_txn_abort(t);

    uint8_t h[LDG_PROOF_MAX][32], root[32], old_root[32];
    size_t len;
    for (uint64_t size = 1; size <= n; size += size < 20 ? 1 : 13) {
        cr_assert_eq(ldg_tree_root(l, size, root, &err), LDG_OK, "%s", err.msg);
        for (uint64_t i = 0; i < size; i++) {
            cr_assert_eq(ldg_proof_inclusion(l, i, size, h, &len, &err), LDG_OK, "%s", err.msg);
            cr_assert(
                ldg_proof_verify_inclusion(i, size, leaf[i], (const uint8_t(*)[32])h, len, root),
                "inclusion %llu in %llu", (unsigned long long)i, (unsigned long long)size);
            if (i == 0)
                continue;
            cr_assert_eq(ldg_tree_root(l, i, old_root, &err), LDG_OK);
            cr_assert_eq(ldg_proof_consistency(l, i, size, h, &len, &err), LDG_OK);
            cr_assert(
                ldg_proof_verify_consistency(i, size, old_root, root, (const uint8_t(*)[32])h, len),
                "consistency %llu to %llu", (unsigned long long)i, (unsigned long long)size);
        }
    }
    free(leaf);
    ldg_ledger_close(l);
}

/*
 * [POL-13] A ref is resolved through the leaf-hash index, which is derived:
 * the host points the leaf hash of the approver's own approval (7) at
 * another signer's decision (6).  ldgi_leaf_find's re-hash of the entry the
 * index names is then all that keeps an approval of one's own record out
 * (nothing hashes the referenced entry again after it): the ref is refused
 * as naming nothing, and verify reports the index.
 */
Test(index, a_leaf_index_that_names_another_entry_lets_no_own_approval_in, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    long size = ledger_size(d);
    policy_refused(d,
                   LDG(d, NULL, "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                       "approval", "--study", "HX-301", "--ref", "7"),
                   "no one approves their own record: ref 1 names entry 7", size);
    uint8_t leaf[32], lk[36], k6[8];
    ldgi_stmt *st = calloc(1, sizeof *st);
    void *bytes = entry_stmt(d, 7, leaf, st);
    leaf_index_key(leaf, 7, lk);
    seq_key(6, k6);
    cr_assert_eq(lmdb_put_value(d, LEAF_DB, lk, 36, k6, 8), 0);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, leaf, 32);
    policy_refused(d,
                   LDG(d, NULL, "append", "--as", "approver.key", "--kind", "approval", "--meaning",
                       "approval", "--study", "HX-301", "--ref", hex),
                   "names no entry before this one", size);
    char *out;
    cr_assert_eq(verify_status(d, &out), 1);
    cr_assert(strstr(out, "\"seq\":7,\"check\":\"index\""), "%s", out);
    free(out);
    free(st);
    free(bytes);
}
