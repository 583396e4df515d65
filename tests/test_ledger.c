/*
 * test_ledger.c - the ledger through the library API, on real LMDB files in
 * a temporary directory (ledger/append.c, read.c, store.c, verify.c):
 * create, open, append, head, leaf hashes, records, the filtered log, the
 * key registry, all-or-nothing batches [STO-2], the policy rules that need
 * ledger state [POL-4..POL-9], a clean verify, and allocation-failure
 * injection during append (every failure is an error status and leaves the
 * ledger verifiable and unchanged).
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

void ldgi_alloc_fail_after(long n);

/* ------------------------------------------------------------ fixture -- */

static struct {
    const char *dir;
    char path[700];
    ldg_key *log, *admin, *author, *approver, *outsider;
    ldg_ledger *l;
    int64_t t; /* claimed times, increasing */
} F;

static ldg_key *
gen(const char *name)
{
    ldg_key *k = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_generate(name, &k, &e), LDG_OK, "%s", e.msg);
    return k;
}

static ldg_signed *
sgn(const ldg_key *k, ldg_fields f)
{
    if (!f.has_time) {
        f.has_time = 1;
        f.time_ns = F.t += 1000000000LL;
        f.tz_min = 60;
    }
    ldg_signed *s = NULL;
    ldg_err e;
    cr_assert_eq(ldg_sign(k, &f, &s, &e), LDG_OK, "sign %s: %s", f.kind, e.msg);
    return s;
}

/* One ref, to entry seq: what an approval judges [POL-12]; refs must outlive f. */
static void
ref_to(ldg_fields *f, uint8_t refs[1][LDG_HASH_BYTES], uint64_t seq)
{
    ldg_err e;
    cr_assert_eq(ldg_ledger_leaf_hash(F.l, seq, refs[0], &e), LDG_OK, "%s", e.msg);
    f->refs = (const uint8_t(*)[LDG_HASH_BYTES])refs;
    f->nrefs = 1;
}

static uint64_t
size_now(void)
{
    uint64_t n;
    uint8_t h[LDG_HASH_BYTES];
    ldg_err e;
    cr_assert_eq(ldg_ledger_head(F.l, &n, h, &e), LDG_OK, "%s", e.msg);
    return n;
}

/* Signs and appends one statement; returns its seq. */
static uint64_t
put(const ldg_key *k, ldg_fields f, ldg_appended *out)
{
    ldg_signed *s = sgn(k, f);
    ldg_appended a;
    ldg_err e;
    cr_assert_eq(ldg_append(F.l, &s, 1, &a, &e), LDG_OK, "append %s: %s", f.kind, e.msg);
    ldg_signed_free(s);
    if (out)
        *out = a;
    return a.seq;
}

static ldg_status
put_status(const ldg_key *k, ldg_fields f, ldg_err *e)
{
    ldg_signed *s = sgn(k, f);
    ldg_appended a;
    memset(e, 0, sizeof *e);
    ldg_status st = ldg_append(F.l, &s, 1, &a, e);
    ldg_signed_free(s);
    return st;
}

static ldg_fields
key_add(const ldg_key *k, const char *name, const char *org, const char *roles)
{
    static uint8_t pubs[8][LDG_PUB_BYTES];
    static int i;
    i = (i + 1) % 8;
    ldg_key_public(k, pubs[i]);
    return (ldg_fields){.kind = "key.add", .study = "", .key_pub = pubs[i],
                        .key_id = ldg_key_name(k), .key_name = name, .key_org = org,
                        .key_roles = roles};
}

static ldg_fields
note(const char *kind, const char *study)
{
    return (ldg_fields){.kind = kind, .study = study};
}

static void
fx_up(void)
{
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
    F.dir = tmp_dir();
    snprintf(F.path, sizeof F.path, "%s/ledger", F.dir);
    F.t = 1700000000000000000LL;
    F.log = gen("log");
    F.admin = gen("admin");
    F.author = gen("author");
    F.approver = gen("approver");
    F.outsider = gen("outsider");
    uint8_t ap[LDG_PUB_BYTES];
    ldg_key_public(F.admin, ap);
    cr_assert_eq(ldg_ledger_create(F.path, "test.example/ledger", F.log, ap, "admin",
                                   "Ada Admin", "Acme CRO", &e),
                 LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_ledger_open(F.path, 0, &F.l, &e), LDG_OK, "%s", e.msg);
    put(F.admin, key_add(F.author, "Carla Rossi", "Acme CRO", "author"), NULL);
    put(F.admin, key_add(F.approver, "Quinn Avery", "Helix Pharma", "approver"), NULL);
    cr_assert_eq(size_now(), 3);
}

static void
fx_down(void)
{
    ldgi_alloc_fail_after(-1);
    ldg_ledger_close(F.l);
    ldg_key_free(F.log);
    ldg_key_free(F.admin);
    ldg_key_free(F.author);
    ldg_key_free(F.approver);
    ldg_key_free(F.outsider);
    memset(&F, 0, sizeof F);
    tmp_cleanup();
}

TestSuite(ledger, .init = fx_up, .fini = fx_down);

typedef struct findings {
    int n;
    char first[600];
    long origin_at; /* seq of a "signed for ledger" policy finding, or 0 */
} findings;

static void
on_finding(void *ctx, ldg_finding_level lvl, uint64_t seq, const char *check, const char *detail)
{
    findings *f = ctx;
    if (f->n++ == 0)
        snprintf(f->first, sizeof f->first, "level %d seq %llu %s: %s", lvl,
                 (unsigned long long)seq, check, detail);
    if (strcmp(check, "policy") == 0 && strstr(detail, "signed for ledger"))
        f->origin_at = (long)seq;
}

/* Runs verify; asserts no finding, and entries == expected size. */
static void
verify_clean(uint64_t expect)
{
    findings fd = {0};
    ldg_verify_opts o = {.jobs = 2, .on_finding = on_finding, .ctx = &fd};
    ldg_verify_summary sum;
    ldg_err e;
    cr_assert_eq(ldg_verify_run(F.l, &o, &sum, &e), LDG_OK, "verify: %s", e.msg);
    cr_assert_eq(sum.failures, 0, "%llu failures; first: %s", (unsigned long long)sum.failures,
                 fd.first);
    cr_assert_eq(sum.withheld, 0);
    cr_assert_eq(fd.n, 0, "%s", fd.first);
    cr_assert_eq(sum.entries, expect);
    cr_assert_eq(sum.signatures, expect);
    uint64_t n;
    uint8_t h[LDG_HASH_BYTES];
    cr_assert_eq(ldg_ledger_head(F.l, &n, h, &e), LDG_OK);
    cr_assert_eq(n, expect);
    cr_assert_arr_eq(sum.head, h, LDG_HASH_BYTES);
}

/* ------------------------------------------------- create, open, head -- */

Test(ledger, create_writes_genesis_pinning_origin_log_key_and_admin)
{
    ldg_record *r = NULL;
    ldg_err e;
    cr_assert_eq(ldg_record_get(F.l, 0, &r, &e), LDG_OK, "%s", e.msg);
    cr_assert_str_eq(r->kind, "genesis");
    cr_assert_str_eq(r->study, "");
    cr_assert_not_null(r->origin);
    cr_assert_str_eq(r->origin, "test.example/ledger");
    uint8_t lp[LDG_PUB_BYTES], ap[LDG_PUB_BYTES], zero[LDG_HASH_BYTES] = {0};
    ldg_key_public(F.log, lp);
    ldg_key_public(F.admin, ap);
    cr_assert_arr_eq(r->actor, lp, LDG_PUB_BYTES, "genesis is signed by the log key");
    cr_assert(r->has_key);
    cr_assert_arr_eq(r->key.pub, ap, LDG_PUB_BYTES);
    cr_assert_str_eq(r->key.id, "admin");
    cr_assert_str_eq(r->key.name, "Ada Admin");
    cr_assert_str_eq(r->key.org, "Acme CRO");
    cr_assert_str_eq(r->key.roles, "admin");
    cr_assert_arr_eq(r->prev, zero, LDG_HASH_BYTES, "entry 0 chains to zeros");
    cr_assert_eq(r->seq, 0);
    ldg_record_free(r);
    ldg_record_free(NULL);
}

Test(ledger, create_refuses_an_existing_ledger)
{
    uint8_t ap[LDG_PUB_BYTES];
    ldg_key_public(F.admin, ap);
    ldg_err e;
    cr_assert_eq(ldg_ledger_create(F.path, "other", F.log, ap, "admin", "A", "O", &e),
                 LDG_E_EXISTS);
    cr_assert_eq(size_now(), 3, "the existing ledger is untouched");
    verify_clean(3);
}

Test(ledger, create_refuses_the_log_key_as_first_admin_and_leaves_no_ledger)
{
    char p[800];
    snprintf(p, sizeof p, "%s/second", F.dir);
    uint8_t lp[LDG_PUB_BYTES];
    ldg_key_public(F.log, lp);
    ldg_err e;
    ldg_status s = ldg_ledger_create(p, "o", F.log, lp, "log", "Log", "Org", &e);
    cr_assert_neq(s, LDG_OK);
    ldg_ledger *l = NULL;
    cr_assert_eq(ldg_ledger_open(p, 0, &l, &e), LDG_E_NOTFOUND, "no ledger without genesis");
    cr_assert_null(l);
}

Test(ledger, open_reports_a_missing_ledger)
{
    char p[800];
    snprintf(p, sizeof p, "%s/nothing-here", F.dir);
    ldg_ledger *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_ledger_open(p, 0, &l, &e), LDG_E_NOTFOUND);
    cr_assert_null(l);
    cr_assert_eq(ldg_ledger_open(F.dir, 0, &l, &e), LDG_E_NOTFOUND, "a directory, no ledger");
    ldg_ledger_close(NULL);
}

Test(ledger, append_returns_seq_and_leaf_hash_that_head_and_leaf_hash_agree_with)
{
    uint64_t n0 = size_now();
    ldg_appended a, b;
    put(F.author, note("communication", "S-1"), &a);
    put(F.author, note("meeting", "S-1"), &b);
    cr_assert_eq(a.seq, n0);
    cr_assert_eq(b.seq, n0 + 1);
    uint64_t n;
    uint8_t head[LDG_HASH_BYTES], h[LDG_HASH_BYTES];
    ldg_err e;
    cr_assert_eq(ldg_ledger_head(F.l, &n, head, &e), LDG_OK);
    cr_assert_eq(n, n0 + 2);
    cr_assert_arr_eq(head, b.leaf_hash, LDG_HASH_BYTES);
    cr_assert_eq(ldg_ledger_leaf_hash(F.l, a.seq, h, &e), LDG_OK);
    cr_assert_arr_eq(h, a.leaf_hash, LDG_HASH_BYTES);
    /* the leaf hash is SHA-256(0x00 || entry bytes), and b chains to a */
    ldg_record *r;
    cr_assert_eq(ldg_record_get(F.l, b.seq, &r, &e), LDG_OK);
    ldgi_leaf_hash(r->entry, r->entry_len, h);
    cr_assert_arr_eq(h, b.leaf_hash, LDG_HASH_BYTES);
    cr_assert_arr_eq(r->leaf_hash, b.leaf_hash, LDG_HASH_BYTES);
    cr_assert_arr_eq(r->prev, a.leaf_hash, LDG_HASH_BYTES);
    ldg_record_free(r);
    verify_clean(n0 + 2);
}

Test(ledger, reads_past_the_end_are_notfound)
{
    uint8_t h[LDG_HASH_BYTES];
    ldg_record *r = NULL;
    ldg_err e;
    uint64_t n = size_now();
    cr_assert_eq(ldg_ledger_leaf_hash(F.l, n, h, &e), LDG_E_NOTFOUND);
    cr_assert_eq(ldg_record_get(F.l, n, &r, &e), LDG_E_NOTFOUND);
    cr_assert_null(r);
    cr_assert_eq(ldg_record_get(F.l, UINT64_MAX, &r, &e), LDG_E_NOTFOUND);
}

Test(ledger, record_get_returns_what_was_signed)
{
    ldg_appended a;
    put(F.author, note("document", "S-9"), &a);
    ldg_fields f = note("approval", "S-9");
    f.meaning = "approval";
    uint8_t refs[1][LDG_HASH_BYTES];
    memcpy(refs[0], a.leaf_hash, LDG_HASH_BYTES);
    f.refs = (const uint8_t(*)[LDG_HASH_BYTES])refs;
    f.nrefs = 1;
    f.body = "{\"z\": true, \"a\": \"caf\xc3\xa9\"}";
    f.body_len = strlen(f.body);
    f.has_time = 1;
    f.time_ns = 1712345678987654321LL;
    f.tz_min = -300;
    ldg_appended b;
    put(F.approver, f, &b);
    ldg_record *r;
    ldg_err e;
    cr_assert_eq(ldg_record_get(F.l, b.seq, &r, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(r->seq, b.seq);
    cr_assert_str_eq(r->kind, "approval");
    cr_assert_str_eq(r->study, "S-9");
    cr_assert_str_eq(r->meaning, "approval");
    cr_assert_null(r->reason);
    cr_assert_null(r->origin);
    cr_assert_eq(r->time_ns, 1712345678987654321LL);
    cr_assert_eq(r->tz_min, -300);
    cr_assert_eq(r->nrefs, 1);
    cr_assert_arr_eq(r->refs[0], a.leaf_hash, LDG_HASH_BYTES);
    cr_assert_eq(r->ref_seqs[0], a.seq, "the ref resolves to its seq");
    cr_assert_eq(r->body_state, LDG_BODY_OK);
    cr_assert_str_eq(r->body, "{\"a\":\"caf\xc3\xa9\",\"z\":true}");
    cr_assert_eq(r->body_len, strlen(r->body));
    uint8_t pub[LDG_PUB_BYTES];
    ldg_key_public(F.approver, pub);
    cr_assert_arr_eq(r->actor, pub, LDG_PUB_BYTES);
    cr_assert_str_eq(r->signer.name, "Quinn Avery");
    cr_assert_str_eq(r->signer.org, "Helix Pharma");
    cr_assert_str_eq(r->signer.roles, "approver");
    cr_assert_str_eq(r->signer.id, "approver");
    cr_assert_not(r->signer.revoked);
    cr_assert_not(r->has_key);
    uint64_t prev_time;
    ldg_record *p;
    cr_assert_eq(ldg_record_get(F.l, a.seq, &p, &e), LDG_OK);
    prev_time = p->host_time_ns;
    ldg_record_free(p);
    cr_assert_geq(r->host_time_ns, prev_time, "host time never decreases");
    ldg_record_free(r);
}

/* ----------------------------------------------------------- log_each -- */

typedef struct seqs {
    size_t n, stop_after;
    uint64_t seq[64];
} seqs;

static int
collect(void *ctx, const ldg_record *r)
{
    seqs *s = ctx;
    cr_assert_lt(s->n, 64);
    s->seq[s->n++] = r->seq;
    return s->stop_after && s->n >= s->stop_after;
}

static seqs
log_of(const ldg_filter *f)
{
    seqs s = {0};
    ldg_err e;
    cr_assert_eq(ldg_log_each(F.l, f, collect, &s, &e), LDG_OK, "%s", e.msg);
    return s;
}

static void
assert_seqs(seqs got, const uint64_t *want, size_t n, const char *what)
{
    cr_assert_eq(got.n, n, "%s: %zu records, want %zu", what, got.n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got.seq[i], want[i], "%s: record %zu is %llu, want %llu", what, i,
                     (unsigned long long)got.seq[i], (unsigned long long)want[i]);
}

Test(ledger, log_each_filters_by_study_kind_actor_and_time)
{
    /* 0 genesis, 1-2 key.add, then: */
    uint64_t s3 = put(F.author, note("communication", "A"), NULL);
    uint64_t s4 = put(F.author, note("query", "B"), NULL);
    ldg_fields ap = note("approval", "A");
    ap.meaning = "review";
    uint8_t r3[1][LDG_HASH_BYTES];
    ref_to(&ap, r3, s3);
    uint64_t s5 = put(F.approver, ap, NULL);
    uint64_t s6 = put(F.author, note("communication", "A"), NULL);
    cr_assert_eq(s3, 3);

    ldg_filter f = {0};
    uint64_t all[] = {0, 1, 2, s3, s4, s5, s6};
    assert_seqs(log_of(NULL), all, 7, "no filter");
    assert_seqs(log_of(&f), all, 7, "empty filter");

    f.study = "A";
    uint64_t a[] = {s3, s5, s6};
    assert_seqs(log_of(&f), a, 3, "study A");
    f.study = "nope";
    assert_seqs(log_of(&f), NULL, 0, "unknown study");
    f.study = "";
    uint64_t sys[] = {0, 1, 2};
    assert_seqs(log_of(&f), sys, 3, "empty study (system records)");

    f = (ldg_filter){.kind = "communication"};
    uint64_t c[] = {s3, s6};
    assert_seqs(log_of(&f), c, 2, "kind communication");
    f = (ldg_filter){.kind = "key.add"};
    uint64_t ka[] = {1, 2};
    assert_seqs(log_of(&f), ka, 2, "kind key.add");
    f = (ldg_filter){.study = "A", .kind = "approval"};
    uint64_t sa[] = {s5};
    assert_seqs(log_of(&f), sa, 1, "study A and kind approval");

    f = (ldg_filter){.actor = "Quinn Avery"};
    assert_seqs(log_of(&f), sa, 1, "actor by printed name");
    f = (ldg_filter){.actor = "author"};
    uint64_t au[] = {s3, s4, s6};
    assert_seqs(log_of(&f), au, 3, "actor by key name");
    uint8_t pub[LDG_PUB_BYTES];
    char line[LDG_VKEY_MAX];
    ldg_key_public(F.author, pub);
    ldg_err e;
    cr_assert_eq(ldg_vkey_format("author", pub, line, &e), LDG_OK);
    f = (ldg_filter){.actor = line};
    assert_seqs(log_of(&f), au, 3, "actor by verifier-key line");
    f = (ldg_filter){.actor = "Ada Admin"};
    assert_seqs(log_of(&f), ka, 2, "actor admin");

    /* time window on the host time, inclusive: expected set computed from the records */
    uint64_t ht[7];
    for (uint64_t i = 0; i < 7; i++) {
        ldg_record *r;
        cr_assert_eq(ldg_record_get(F.l, all[i], &r, &e), LDG_OK);
        ht[i] = r->host_time_ns;
        ldg_record_free(r);
    }
    struct {
        int hs, hu;
        int64_t since, until;
    } win[] = {{1, 0, (int64_t)ht[4], 0},
               {0, 1, 0, (int64_t)ht[3]},
               {1, 1, (int64_t)ht[2], (int64_t)ht[5]},
               {1, 1, (int64_t)ht[6] + 1, INT64_MAX},
               {1, 0, 0, 0}};
    for (size_t w = 0; w < sizeof win / sizeof win[0]; w++) {
        f = (ldg_filter){.has_since = win[w].hs, .has_until = win[w].hu,
                         .since_ns = win[w].since, .until_ns = win[w].until};
        uint64_t want[7];
        size_t n = 0;
        for (int i = 0; i < 7; i++)
            if ((!win[w].hs || (int64_t)ht[i] >= win[w].since) &&
                (!win[w].hu || (int64_t)ht[i] <= win[w].until))
                want[n++] = all[i];
        char what[32];
        snprintf(what, sizeof what, "time window %zu", w);
        assert_seqs(log_of(&f), want, n, what);
        /* combined with the study index */
        f.study = "A";
        n = 0;
        for (int i = 0; i < 7; i++)
            if ((all[i] == s3 || all[i] == s5 || all[i] == s6) &&
                (!win[w].hs || (int64_t)ht[i] >= win[w].since) &&
                (!win[w].hu || (int64_t)ht[i] <= win[w].until))
                want[n++] = all[i];
        assert_seqs(log_of(&f), want, n, what);
    }
}

Test(ledger, log_each_stops_when_the_callback_says_so)
{
    put(F.author, note("communication", "A"), NULL);
    seqs s = {.stop_after = 2};
    ldg_err e;
    cr_assert_eq(ldg_log_each(F.l, NULL, collect, &s, &e), LDG_OK);
    cr_assert_eq(s.n, 2);
    seqs t = {.stop_after = 1};
    ldg_filter f = {.study = "A"};
    cr_assert_eq(ldg_log_each(F.l, &f, collect, &t, &e), LDG_OK);
    cr_assert_eq(t.n, 1);
}

/* ---------------------------------------------------------- keys_each -- */

typedef struct keylist {
    size_t n;
    ldg_keyinfo k[8];
    char names[8][64], roles[8][64], reason[8][64];
} keylist;

static int
keys_collect(void *ctx, const ldg_keyinfo *k)
{
    keylist *l = ctx;
    cr_assert_lt(l->n, 8);
    l->k[l->n] = *k;
    snprintf(l->names[l->n], 64, "%s", k->name ? k->name : "");
    snprintf(l->roles[l->n], 64, "%s", k->roles ? k->roles : "");
    snprintf(l->reason[l->n], 64, "%s", k->revoke_reason ? k->revoke_reason : "");
    l->n++;
    return 0;
}

static long
find_key(const keylist *l, const ldg_key *k)
{
    uint8_t pub[LDG_PUB_BYTES];
    ldg_key_public(k, pub);
    for (size_t i = 0; i < l->n; i++)
        if (memcmp(l->k[i].pub, pub, LDG_PUB_BYTES) == 0)
            return (long)i;
    return -1;
}

Test(ledger, keys_each_lists_the_registry_with_revocations)
{
    ldg_key *sam = gen("sam");
    uint64_t added = put(F.admin, key_add(sam, "Dr Sam Patel", "Helix Pharma", "decider,author"),
                         NULL);
    uint8_t ap[LDG_PUB_BYTES];
    ldg_key_public(F.approver, ap);
    ldg_fields rv = {.kind = "key.revoke", .study = "", .key_pub = ap, .reason = "left Helix"};
    uint64_t revoked = put(F.admin, rv, NULL);

    keylist l = {0};
    ldg_err e;
    cr_assert_eq(ldg_keys_each(F.l, keys_collect, &l, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(l.n, 4, "admin, author, approver, sam (the log key is not an actor)");
    cr_assert_eq(find_key(&l, F.log), -1);
    long i = find_key(&l, F.admin);
    cr_assert_geq(i, 0);
    cr_assert_str_eq(l.k[i].id, "admin");
    cr_assert_str_eq(l.names[i], "Ada Admin");
    cr_assert_str_eq(l.roles[i], "admin");
    cr_assert_eq(l.k[i].added_seq, 0);
    cr_assert_not(l.k[i].revoked);
    i = find_key(&l, sam);
    cr_assert_geq(i, 0);
    cr_assert_str_eq(l.roles[i], "author,decider", "sorted roles");
    cr_assert_eq(l.k[i].added_seq, added);
    i = find_key(&l, F.approver);
    cr_assert_geq(i, 0);
    cr_assert(l.k[i].revoked);
    cr_assert_eq(l.k[i].revoked_seq, revoked);
    cr_assert_str_eq(l.reason[i], "left Helix");
    ldg_key_free(sam);
    verify_clean(size_now());
}

/* ------------------------------------------------------------ batches -- */

Test(ledger, batch_with_a_refused_item_writes_nothing_and_names_its_index)
{
    enum { N = 4 };
    for (size_t bad = 0; bad < N; bad++) {
        uint64_t n0 = size_now();
        uint8_t h0[LDG_HASH_BYTES], h1[LDG_HASH_BYTES];
        ldg_err e;
        cr_assert_eq(ldg_ledger_head(F.l, &n0, h0, &e), LDG_OK);
        ldg_signed *sv[N];
        for (size_t i = 0; i < N; i++)
            sv[i] = sgn(i == bad ? F.outsider : F.author, note("communication", "B"));
        ldg_appended out[N];
        memset(&e, 0, sizeof e);
        cr_assert_eq(ldg_append(F.l, sv, N, out, &e), LDG_E_POLICY, "bad item %zu", bad);
        cr_assert_eq(e.index, (long)bad);
        cr_assert_eq(e.status, LDG_E_POLICY);
        uint64_t n1;
        cr_assert_eq(ldg_ledger_head(F.l, &n1, h1, &e), LDG_OK);
        cr_assert_eq(n1, n0, "nothing written");
        cr_assert_arr_eq(h1, h0, LDG_HASH_BYTES);
        verify_clean(n0);
        /* the good items were not written: appending them now is not a replay */
        ldg_signed *good[N - 1];
        for (size_t i = 0, j = 0; i < N; i++)
            if (i != bad)
                good[j++] = sv[i];
        cr_assert_eq(ldg_append(F.l, good, N - 1, out, &e), LDG_OK, "%s", e.msg);
        cr_assert_eq(out[0].seq, n0);
        cr_assert_eq(out[N - 2].seq, n0 + N - 2);
        for (size_t i = 0; i < N; i++)
            ldg_signed_free(sv[i]);
    }
    verify_clean(size_now());
}

Test(ledger, batch_items_see_the_state_left_by_earlier_items)
{
    ldg_key *sam = gen("sam");
    ldg_signed *sv[3] = {
        sgn(F.admin, key_add(sam, "Dr Sam Patel", "Helix Pharma", "decider")),
        sgn(sam, note("decision", "S-1")),
        NULL,
    };
    ldg_appended out[3];
    ldg_err e;
    cr_assert_eq(ldg_append(F.l, sv, 2, out, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(out[1].seq, out[0].seq + 1);
    /* and a revocation earlier in a batch binds later items */
    uint8_t sp[LDG_PUB_BYTES];
    ldg_key_public(sam, sp);
    ldg_fields rv = {.kind = "key.revoke", .study = "", .key_pub = sp, .reason = "gone"};
    ldg_signed *sv2[2] = {sgn(F.admin, rv), sgn(sam, note("decision", "S-1"))};
    uint64_t n0 = size_now();
    cr_assert_eq(ldg_append(F.l, sv2, 2, out, &e), LDG_E_POLICY);
    cr_assert_eq(e.index, 1);
    cr_assert_eq(size_now(), n0);
    for (int i = 0; i < 2; i++) {
        ldg_signed_free(sv[i]);
        ldg_signed_free(sv2[i]);
    }
    ldg_key_free(sam);
    verify_clean(n0);
}

Test(ledger, append_of_nothing_is_ok_and_of_no_ledger_is_usage)
{
    uint64_t n0 = size_now();
    ldg_err e;
    cr_assert_eq(ldg_append(F.l, NULL, 0, NULL, &e), LDG_OK);
    cr_assert_eq(size_now(), n0);
    ldg_signed *s = sgn(F.author, note("query", "S"));
    cr_assert_eq(ldg_append(NULL, &s, 1, NULL, &e), LDG_E_USAGE);
    cr_assert_eq(ldg_append(F.l, NULL, 1, NULL, &e), LDG_E_USAGE);
    /* out may be NULL */
    cr_assert_eq(ldg_append(F.l, &s, 1, NULL, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(size_now(), n0 + 1);
    ldg_signed_free(s);
}

/* ------------------------------------------------------------- policy -- */

Test(ledger, genesis_cannot_be_appended)
{
    uint8_t op[LDG_PUB_BYTES];
    ldg_key_public(F.outsider, op);
    ldg_fields g = {.kind = "genesis", .study = "", .origin = "evil", .key_pub = op,
                    .key_id = "outsider", .key_name = "Mallory", .key_org = "Evil",
                    .key_roles = "admin"};
    ldg_err e;
    uint64_t n0 = size_now();
    cr_assert_eq(put_status(F.log, g, &e), LDG_E_POLICY, "by the log key");
    cr_assert_eq(put_status(F.admin, g, &e), LDG_E_POLICY, "by an admin");
    cr_assert_eq(e.index, 0);
    cr_assert_eq(size_now(), n0);
    verify_clean(n0);
}

Test(ledger, a_statement_is_appended_once)
{
    ldg_signed *s = sgn(F.author, note("communication", "S"));
    ldg_appended a;
    ldg_err e;
    cr_assert_eq(ldg_append(F.l, &s, 1, &a, &e), LDG_OK);
    uint64_t n0 = size_now();
    cr_assert_eq(ldg_append(F.l, &s, 1, &a, &e), LDG_E_POLICY, "replay");
    ldg_signed *t = sgn(F.author, note("communication", "S"));
    ldg_signed *twice[2] = {t, t};
    cr_assert_eq(ldg_append(F.l, twice, 2, NULL, &e), LDG_E_POLICY, "twice in a batch");
    cr_assert_eq(e.index, 1);
    cr_assert_eq(size_now(), n0);
    ldg_signed_free(s);
    ldg_signed_free(t);
    verify_clean(n0);
}

Test(ledger, roles_revocation_refs_and_observed_head_are_enforced)
{
    ldg_err e;
    uint64_t n0 = size_now();
    ldg_fields ap = note("approval", "S");
    ap.meaning = "approval";
    uint8_t r1[1][LDG_HASH_BYTES];
    ref_to(&ap, r1, 1);
    cr_assert_eq(put_status(F.author, ap, &e), LDG_E_POLICY, "author may not approve");
    cr_assert_eq(put_status(F.approver, note("communication", "S"), &e), LDG_E_POLICY,
                 "approver may not write a communication");
    cr_assert_eq(put_status(F.author, note("decision", "S"), &e), LDG_E_POLICY,
                 "author may not decide");
    cr_assert_eq(put_status(F.author, key_add(F.outsider, "M", "O", "admin"), &e), LDG_E_POLICY,
                 "author may not add keys");
    cr_assert_eq(put_status(F.outsider, note("communication", "S"), &e), LDG_E_POLICY,
                 "unregistered key");
    cr_assert_eq(put_status(F.log, note("communication", "S"), &e), LDG_E_POLICY,
                 "the log key is not an actor");
    cr_assert_eq(put_status(F.admin, key_add(F.author, "C", "O", "author"), &e), LDG_E_POLICY,
                 "key already registered");
    uint8_t op[LDG_PUB_BYTES];
    ldg_key_public(F.outsider, op);
    ldg_fields rv = {.kind = "key.revoke", .study = "", .key_pub = op, .reason = "x"};
    cr_assert_eq(put_status(F.admin, rv, &e), LDG_E_POLICY, "revoke an unknown key");

    static const uint8_t nowhere[1][LDG_HASH_BYTES] = {{0xde, 0xad}};
    ldg_fields rf = note("response", "S");
    rf.refs = nowhere;
    rf.nrefs = 1;
    cr_assert_eq(put_status(F.author, rf, &e), LDG_E_POLICY, "ref to no entry");

    uint64_t n;
    uint8_t head[LDG_HASH_BYTES];
    cr_assert_eq(ldg_ledger_head(F.l, &n, head, &e), LDG_OK);
    ldg_fields ob = note("query", "S");
    ob.has_observed = 1;
    ob.observed_size = n;
    memcpy(ob.observed_head, head, LDG_HASH_BYTES);
    ob.observed_head[0] ^= 1;
    cr_assert_eq(put_status(F.author, ob, &e), LDG_E_POLICY, "wrong observed head");
    ob.observed_head[0] ^= 1;
    ob.observed_size = n + 1;
    cr_assert_eq(put_status(F.author, ob, &e), LDG_E_POLICY, "observed size in the future");
    ob.observed_size = n - 1;
    cr_assert_eq(put_status(F.author, ob, &e), LDG_E_POLICY, "size and head disagree");
    cr_assert_eq(size_now(), n0, "nothing written by refusals");
    ob.observed_size = n;
    cr_assert_eq(put_status(F.author, ob, &e), LDG_OK, "the true head: %s", e.msg);

    /* revoked keys stay revoked */
    ldg_key_public(F.author, op);
    rv.key_pub = op;
    cr_assert_eq(put_status(F.admin, rv, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(put_status(F.author, note("communication", "S"), &e), LDG_E_POLICY,
                 "revoked key");
    cr_assert_eq(put_status(F.admin, rv, &e), LDG_E_POLICY, "revoke twice");
    cr_assert_eq(put_status(F.admin, key_add(F.author, "C", "O", "author"), &e), LDG_E_POLICY,
                 "re-add a revoked key");
    verify_clean(n0 + 2);
}

Test(ledger, readonly_handle_reads_but_does_not_append)
{
    ldg_ledger *ro = NULL;
    ldg_err e;
    cr_assert_eq(ldg_ledger_open(F.path, LDG_OPEN_READONLY, &ro, &e), LDG_OK, "%s", e.msg);
    uint64_t n;
    uint8_t h[LDG_HASH_BYTES];
    cr_assert_eq(ldg_ledger_head(ro, &n, h, &e), LDG_OK);
    cr_assert_eq(n, 3);
    ldg_signed *s = sgn(F.author, note("query", "S"));
    cr_assert_eq(ldg_append(ro, &s, 1, NULL, &e), LDG_E_USAGE);
    ldg_signed_free(s);
    ldg_ledger_close(ro);
    cr_assert_eq(size_now(), 3);
}

/* ------------------------------------------------------------- verify -- */

typedef struct progress {
    uint64_t done, total;
    int calls;
} progress;

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    p->done = done;
    p->total = total;
    p->calls++;
}

Test(ledger, verify_of_a_clean_ledger_finds_nothing)
{
    for (int i = 0; i < 5; i++)
        put(F.author, note("communication", i % 2 ? "A" : "B"), NULL);
    ldg_fields ap = note("approval", "A");
    ap.meaning = "responsibility";
    uint8_t r7[1][LDG_HASH_BYTES];
    ref_to(&ap, r7, 7);
    put(F.approver, ap, NULL);
    uint64_t n = size_now();
    cr_assert_eq(n, 9);
    verify_clean(n);
    progress p = {0};
    ldg_verify_opts o = {.jobs = 1, .on_progress = on_progress, .ctx = &p};
    ldg_verify_summary sum;
    ldg_err e;
    cr_assert_eq(ldg_verify_run(F.l, &o, &sum, &e), LDG_OK);
    cr_assert_gt(p.calls, 0);
    cr_assert_eq(p.done, n);
    cr_assert_eq(p.total, n);
    cr_assert_eq(ldg_verify_run(F.l, NULL, &sum, &e), LDG_OK, "no options");
    cr_assert_eq(sum.failures, 0);
    cr_assert_eq(sum.entries, n);
}

/* ------------------------------------------------- allocation failure -- */

/* A batch touching most of append: a user record with a body and a key.add. */
static void
make_batch(ldg_signed *sv[2], ldg_key *sam)
{
    ldg_fields f = note("communication", "S-ALLOC");
    f.body = "{\"text\":\"allocation failure injection\"}";
    f.body_len = strlen(f.body);
    sv[0] = sgn(F.author, f);
    sv[1] = sgn(F.admin, key_add(sam, "Dr Sam Patel", "Helix Pharma", "author,decider"));
}

Test(ledger, allocation_failure_during_append_is_an_error_and_leaves_the_ledger_clean)
{
    ldg_key *sam = gen("sam");
    ldg_signed *sv[2];
    make_batch(sv, sam);
    uint64_t n0 = size_now();
    uint8_t h0[LDG_HASH_BYTES];
    ldg_err e;
    cr_assert_eq(ldg_ledger_head(F.l, &n0, h0, &e), LDG_OK);
    long n;
    ldg_status st = LDG_E_NOMEM;
    ldg_appended out[2];
    for (n = 0; n < 1000; n++) {
        memset(&e, 0, sizeof e);
        ldgi_alloc_fail_after(n);
        st = ldg_append(F.l, sv, 2, out, &e);
        ldgi_alloc_fail_after(-1);
        if (st == LDG_OK)
            break; /* allocation n was never reached: every earlier one has been failed */
        uint64_t n1;
        uint8_t h1[LDG_HASH_BYTES];
        cr_assert_eq(ldg_ledger_head(F.l, &n1, h1, &e), LDG_OK, "after failure %ld", n);
        cr_assert_eq(n1, n0, "allocation %ld failed: size changed", n);
        cr_assert_arr_eq(h1, h0, LDG_HASH_BYTES);
        verify_clean(n0);
    }
    cr_assert_eq(st, LDG_OK, "append never succeeded");
    cr_assert_gt(n, 0, "append allocates, so some attempt must have failed");
    cr_assert_eq(out[0].seq, n0);
    cr_assert_eq(size_now(), n0 + 2);
    verify_clean(n0 + 2);
    /* and a normal append afterwards */
    put(F.author, note("query", "S-ALLOC"), NULL);
    verify_clean(n0 + 3);
    ldg_signed_free(sv[0]);
    ldg_signed_free(sv[1]);
    ldg_key_free(sam);
}

Test(ledger, allocation_failure_during_append_is_reported_as_nomem)
{
    /* "could not check" (NOMEM) must not read as a verdict on the input or the ledger */
    ldg_key *sam = gen("sam");
    ldg_signed *sv[2];
    make_batch(sv, sam);
    ldg_status st = LDG_E_NOMEM;
    for (long n = 0; n < 1000; n++) {
        ldg_err e = {0};
        ldgi_alloc_fail_after(n);
        st = ldg_append(F.l, sv, 2, NULL, &e);
        ldgi_alloc_fail_after(-1);
        if (st == LDG_OK)
            break;
        cr_expect_eq(st, LDG_E_NOMEM, "allocation %ld failed: status %s (%s)", n,
                     ldg_strerror(st), e.msg);
    }
    cr_assert_eq(st, LDG_OK);
    ldg_signed_free(sv[0]);
    ldg_signed_free(sv[1]);
    ldg_key_free(sam);
}

/*
 * Every reader and the checkpoint, with each of their allocations failed in
 * turn: the call says "out of memory" (never a verdict, never a finding on
 * a clean ledger), and the ledger still verifies.
 */
static int
count_record(void *ctx, const ldg_record *r)
{
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int
count_key(void *ctx, const ldg_keyinfo *k)
{
    (void)k;
    ++*(int *)ctx;
    return 0;
}

typedef enum { OP_VERIFY, OP_CHECKPOINT, OP_LOG, OP_CHECKED, OP_GET, OP_KEYS, OP_OPEN, OP_N } op_t;
static const char *const op_names[OP_N] = {"verify",  "checkpoint", "log",     "log_checked",
                                           "record_get", "keys",    "open (checked)"};

static ldg_status
run_op(op_t op, findings *fd, ldg_err *e)
{
    int n = 0;
    switch (op) {
    case OP_VERIFY: {
        ldg_verify_opts o = {.jobs = 2, .on_finding = on_finding, .ctx = fd};
        ldg_verify_summary sum;
        ldg_status s = ldg_verify_run(F.l, &o, &sum, e);
        if (s == LDG_OK && sum.failures)
            fd->n += (int)sum.failures;
        return s;
    }
    case OP_CHECKPOINT: {
        char *note = NULL;
        size_t len;
        ldg_status s = ldg_checkpoint_make(F.l, F.log, &note, &len, e);
        free(note);
        return s;
    }
    case OP_LOG: return ldg_log_each(F.l, NULL, count_record, &n, e);
    case OP_CHECKED: {
        ldg_check_opts o = {.jobs = 2};
        uint8_t roots[2][LDG_HASH_BYTES];
        return ldg_log_checked(F.l, NULL, &o, count_record, &n, roots, e);
    }
    case OP_GET: {
        ldg_record *r = NULL;
        ldg_status s = ldg_record_get(F.l, 4, &r, e);
        ldg_record_free(r);
        return s;
    }
    case OP_KEYS: return ldg_keys_each(F.l, count_key, &n, e);
    case OP_OPEN: {
        ldg_ledger *l = NULL;
        ldg_status s = ldg_ledger_open(F.path, LDG_OPEN_READONLY | LDG_OPEN_CHECKED, &l, e);
        ldg_ledger_close(l);
        return s;
    }
    default: return LDG_E_USAGE;
    }
}

Test(ledger, allocation_failure_in_readers_and_checkpoints_is_nomem_never_a_verdict,
     .timeout = 120)
{
    for (int i = 0; i < 6; i++) {
        ldg_fields f = note("communication", "S-ALLOC");
        f.body = "{\"subject\":\"allocation failure injection\"}";
        f.body_len = strlen(f.body);
        put(F.author, f, NULL);
    }
    uint64_t size = size_now();
    for (op_t op = 0; op < OP_N; op++) {
        long n;
        ldg_status st = LDG_E_NOMEM;
        for (n = 0; n < 100000; n++) {
            findings fd = {0};
            ldg_err e = {0};
            ldgi_alloc_fail_after(n);
            st = run_op(op, &fd, &e);
            ldgi_alloc_fail_after(-1);
            cr_assert_eq(fd.n, 0, "%s, allocation %ld failed: a false finding: %s", op_names[op],
                         n, fd.first);
            if (st == LDG_OK)
                break;
            cr_assert_eq(st, LDG_E_NOMEM, "%s, allocation %ld failed: status %s (%s)",
                         op_names[op], n, ldg_strerror(st), e.msg);
        }
        cr_assert_eq(st, LDG_OK, "%s never succeeded", op_names[op]);
        cr_assert_gt(n, 0, "%s allocates, so some attempt must have failed", op_names[op]);
        cr_log_info("%s: %ld allocations failed in turn, each an error", op_names[op], n);
        verify_clean(size);
    }
}

/* ------------------------------------------------------- map growth -- */

/*
 * A ledger at path with a tiny initial map (256 KiB), opened: keys[0] log,
 * keys[1] admin, keys[2] the author it registered (seq 1).
 */
static ldg_ledger *
tiny_map_ledger(const char *path, ldg_key **keys)
{
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
    ldgi_map_initial = 256 * 1024;
    keys[0] = gen("log"), keys[1] = gen("admin"), keys[2] = gen("author");
    uint8_t ap[LDG_PUB_BYTES], up[LDG_PUB_BYTES];
    ldg_key_public(keys[1], ap);
    ldg_key_public(keys[2], up);
    cr_assert_eq(ldg_ledger_create(path, "o", keys[0], ap, "admin", "A", "O", &e), LDG_OK, "%s",
                 e.msg);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(path, 0, &l, &e), LDG_OK, "%s", e.msg);
    ldg_fields kf = {.kind = "key.add", .study = "", .key_pub = up, .key_id = "author",
                     .key_name = "Carla Rossi", .key_org = "Acme CRO", .key_roles = "author"};
    ldg_signed *ks;
    ldg_appended ka;
    cr_assert_eq(ldg_sign(keys[1], &kf, &ks, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_append(l, &ks, 1, &ka, &e), LDG_OK, "%s", e.msg);
    ldg_signed_free(ks);
    return l;
}

/*
 * With a tiny initial map, a batch built up in parts and a plain append both
 * make the map grow (each growth redoes the transaction): every record is
 * written once, the seqs and leaf hashes handed back are the ledger's, and
 * the ledger verifies.
 */
Test(growth, batches_and_appends_survive_the_map_growing_and_report_true_hashes,
     .fini = tmp_cleanup, .timeout = 120)
{
    ldg_err e;
    char path[700];
    snprintf(path, sizeof path, "%s/ledger", tmp_dir());
    ldg_key *keys[3];
    ldg_ledger *l = tiny_map_ledger(path, keys);
    ldg_key *author = keys[2];

    enum { PARTS = 4, PER = 400, N = PARTS * PER };
    char body[700];
    memset(body, 0, sizeof body);
    snprintf(body, sizeof body, "{\"subject\":\"growth\",\"text\":\"%0600d\"}", 7);
    ldg_fields f = {.kind = "communication", .study = "S1", .body = body,
                    .body_len = strlen(body)};
    ldg_fields *fs = malloc(N * sizeof *fs);
    for (int i = 0; i < N; i++)
        fs[i] = f;
    ldg_signed **sv = calloc(N, sizeof *sv);
    ldg_appended *out = calloc(N, sizeof *out);
    cr_assert_eq(ldg_sign_many(author, fs, N, 2, sv, &e), LDG_OK, "%s", e.msg);
    ldg_batch *b;
    cr_assert_eq(ldg_batch_begin(l, &b, &e), LDG_OK, "%s", e.msg);
    for (int p = 0; p < PARTS; p++)
        cr_assert_eq(ldg_batch_add(b, sv + p * PER, PER, out + p * PER, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_batch_commit(b, &e), LDG_OK, "%s", e.msg);
    for (int i = 0; i < N; i++) {
        uint8_t h[LDG_HASH_BYTES];
        cr_assert_eq(out[i].seq, (uint64_t)(2 + i));
        cr_assert_eq(ldg_ledger_leaf_hash(l, out[i].seq, h, &e), LDG_OK, "%s", e.msg);
        cr_assert_arr_eq(h, out[i].leaf_hash, LDG_HASH_BYTES, "record %d: reported hash", i);
    }
    for (int i = 0; i < N; i++)
        ldg_signed_free(sv[i]);

    /* a plain ldg_append that must grow the map too */
    cr_assert_eq(ldg_sign_many(author, fs, N, 2, sv, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_append(l, sv, N, out, &e), LDG_OK, "%s", e.msg);
    uint8_t h[LDG_HASH_BYTES];
    cr_assert_eq(ldg_ledger_leaf_hash(l, out[N - 1].seq, h, &e), LDG_OK);
    cr_assert_arr_eq(h, out[N - 1].leaf_hash, LDG_HASH_BYTES);
    cr_assert_eq(out[N - 1].seq, (uint64_t)(1 + 2 * N));

    ldg_verify_summary sum;
    ldg_verify_opts o = {.jobs = 2};
    cr_assert_eq(ldg_verify_run(l, &o, &sum, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(sum.failures, 0);
    cr_assert_eq(sum.entries, (uint64_t)(2 + 2 * N));
    struct stat st;
    char data[760];
    snprintf(data, sizeof data, "%s/data.mdb", path);
    cr_assert_eq(stat(data, &st), 0);
    cr_assert_gt(st.st_size, 8 * 256 * 1024, "the map had to grow several times");
    for (int i = 0; i < N; i++)
        ldg_signed_free(sv[i]);
    free(sv);
    free(out);
    free(fs);
    ldg_ledger_close(l);
    for (int i = 0; i < 3; i++)
        ldg_key_free(keys[i]);
}

/*
 * A small ledger with a tiny map (initial 256 KiB), its author key added;
 * pre-signed statements of about 700 bytes each in *sv.
 */
static ldg_ledger *
small_map_ledger(const char *path, ldg_signed **sv, size_t n, ldg_key **keys)
{
    ldg_err e;
    ldg_ledger *l = tiny_map_ledger(path, keys);
    static char body[700];
    snprintf(body, sizeof body, "{\"subject\":\"full\",\"text\":\"%0600d\"}", 7);
    ldg_fields f = {.kind = "communication", .study = "S1", .body = body,
                    .body_len = strlen(body)};
    ldg_fields *fs = malloc(n * sizeof *fs);
    for (size_t i = 0; i < n; i++)
        fs[i] = f;
    cr_assert_eq(ldg_sign_many(keys[2], fs, n, 2, sv, &e), LDG_OK, "%s", e.msg);
    free(fs);
    return l;
}

static void
small_map_free(ldg_signed **sv, ldg_appended *out, size_t n, ldg_key **keys)
{
    for (size_t i = 0; i < n; i++)
        ldg_signed_free(sv[i]);
    free(sv);
    free(out);
    for (int i = 0; i < 3; i++)
        ldg_key_free(keys[i]);
}

/* Appends sv in steps until one fails (its status) or all fit (LDG_OK); *done: those appended. */
static ldg_status
fill_map(ldg_ledger *l, ldg_signed **sv, ldg_appended *out, size_t n, size_t step, size_t *done,
         ldg_err *e)
{
    ldg_status st = LDG_OK;
    for (*done = 0; *done + step <= n; *done += step)
        if ((st = ldg_append(l, sv + *done, step, out + *done, e)) != LDG_OK)
            break;
    return st;
}

static void
verify_entries(ldg_ledger *l, uint64_t entries)
{
    ldg_err e;
    ldg_verify_summary sum;
    ldg_verify_opts o = {.jobs = 1};
    cr_assert_eq(ldg_verify_run(l, &o, &sum, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(sum.failures, 0);
    cr_assert_eq(sum.entries, entries, "%llu entries, not %llu",
                 (unsigned long long)sum.entries, (unsigned long long)entries);
}

/*
 * A map that may not grow past 1 MiB fills: the append (and a batch) that
 * does not fit fails whole with LDG_E_FULL and says why, nothing of it is
 * visible, the same handle still reads and verifies, and once the limit is
 * raised (there is room) the same statements append.
 */
Test(growth, a_full_map_fails_the_append_whole_and_appends_resume_with_room,
     .fini = tmp_cleanup, .timeout = 120)
{
    enum { N = 3000, STEP = 20 };
    char path[700];
    snprintf(path, sizeof path, "%s/ledger", tmp_dir());
    ldg_signed **sv = calloc(N, sizeof *sv);
    ldg_appended *out = calloc(N, sizeof *out);
    ldg_key *keys[3];
    ldg_ledger *l = small_map_ledger(path, sv, N, keys);
    ldgi_map_max = 1024 * 1024;
    ldg_err e;
    size_t done;
    ldg_status st = fill_map(l, sv, out, N, STEP, &done, &e);
    cr_assert_eq(st, LDG_E_FULL, "the map never filled (%zu appended): %s", done,
                 ldg_strerror(st));
    cr_assert(strstr(e.msg, "map is full at its limit of 1 MiB"), "%s", e.msg);
    cr_assert_gt(done, 2 * STEP, "the map grew from 256 KiB before it filled");
    uint64_t entries = 2 + done;
    verify_entries(l, entries);

    /*
     * A batch that cannot fit: refused whole, nothing visible.  It holds
     * every statement left (over 2 MiB of entries and bodies, more than the
     * whole map), not just the next STEP: whether STEP more records fit in
     * the last few pages is not fixed by the bytes alone.  LMDB's page
     * allocation at the limit differs from one attempt to the next (seen:
     * the append that filled the map failed in its commit, and the same
     * STEP statements then fitted), so a batch of STEP could commit.
     */
    ldg_batch *b;
    cr_assert_eq(ldg_batch_begin(l, &b, &e), LDG_OK, "%s", e.msg);
    st = ldg_batch_add(b, sv + done, N - done, out + done, &e);
    if (st == LDG_OK) /* the puts fitted; the commit's own pages do not */
        st = ldg_batch_commit(b, &e);
    else
        ldg_batch_abort(b);
    cr_assert_eq(st, LDG_E_FULL, "%s", e.msg);
    cr_assert(strstr(e.msg, "map is full at its limit of 1 MiB"), "%s", e.msg);
    verify_entries(l, entries);
    ldg_ledger_close(l);

    /* room: a higher limit, and the refused statements append */
    ldgi_map_max = 64 * 1024 * 1024;
    cr_assert_eq(ldg_ledger_open(path, 0, &l, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_append(l, sv + done, STEP, out + done, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(out[done].seq, entries);
    verify_entries(l, entries + STEP);
    ldg_ledger_close(l);
    small_map_free(sv, out, N, keys);
}

/* This process's mapped address space (VmSize), in bytes. */
static size_t
vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    fclose(f);
    cr_assert_gt(kb, 0);
    return kb * 1024;
}

/*
 * The map cannot grow because the address space is refused (RLIMIT_AS; a
 * 32-bit host or a container limit looks the same).  LMDB unmaps the old
 * map before it maps the new one and is left with none if that fails: ldg
 * reserves the space first, so the append fails with LDG_E_FULL and a
 * reason, the handle stays usable, and appends resume once the limit is
 * lifted.  (Not under ASan or valgrind, whose own reservations make the
 * limit meaningless.)
 */
Test(growth, a_map_refused_address_space_fails_cleanly_and_the_handle_lives_on,
     .fini = tmp_cleanup, .timeout = 120)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("RLIMIT_AS and ASan's shadow memory do not mix");
#endif
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload"))
        cr_skip_test("RLIMIT_AS under valgrind limits valgrind");
    enum { N = 3000, STEP = 20 };
    char path[700];
    snprintf(path, sizeof path, "%s/ledger", tmp_dir());
    ldg_signed **sv = calloc(N, sizeof *sv);
    ldg_appended *out = calloc(N, sizeof *out);
    ldg_key *keys[3];
    ldg_ledger *l = small_map_ledger(path, sv, N, keys);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = vm_size() + 3 * 1024 * 1024; /* room for the map to grow to about 1 MiB */
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    ldg_err e;
    size_t done;
    ldg_status st = fill_map(l, sv, out, N, STEP, &done, &e);
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert_eq(st, LDG_E_FULL, "the map never filled (%zu appended): %s: %s", done,
                 ldg_strerror(st), st ? e.msg : "");
    cr_assert(strstr(e.msg, "cannot grow to"), "%s", e.msg);
    cr_assert_gt(done, 2 * STEP, "the map grew from 256 KiB before it was refused");
    /* the same handle reads, verifies and, with the limit lifted, appends */
    uint64_t entries = 2 + done;
    verify_entries(l, entries);
    cr_assert_eq(ldg_append(l, sv + done, STEP, out + done, &e), LDG_OK, "%s", e.msg);
    verify_entries(l, entries + STEP);
    ldg_ledger_close(l);
    small_map_free(sv, out, N, keys);
}

/*
 * [POL-10][VER-6] A host that writes a statement signed for another ledger
 * straight into the files (append would refuse it) is caught by verify.
 */
Test(ledger, verify_reports_a_statement_signed_for_another_ledger)
{
    ldg_fields f = note("communication", "S1");
    f.origin = "other.example/ledger";
    ldg_signed *s = sgn(F.author, f);
    ldg_err e;
    ldg_appended a;
    cr_assert_eq(ldg_append(F.l, &s, 1, &a, &e), LDG_E_POLICY, "append refuses it");
    cr_assert(strstr(e.msg, "signed for ledger"), "%s", e.msg);

    /* the host writes it anyway, as entry 3, chained and indexed by hand */
    uint64_t size;
    uint8_t head[LDG_HASH_BYTES];
    cr_assert_eq(ldg_ledger_head(F.l, &size, head, &e), LDG_OK);
    ldg_record *last;
    cr_assert_eq(ldg_record_get(F.l, size - 1, &last, &e), LDG_OK);
    size_t sl;
    const uint8_t *stmt = ldg_signed_statement(s, &sl);
    ldgi_entry en = {.v = 1, .seq = size, .stmt = stmt, .stmt_len = sl,
                     .time_ns = last->host_time_ns};
    memcpy(en.prev, head, LDG_HASH_BYTES);
    memcpy(en.sig, s->sig, LDG_SIG_BYTES);
    ldg_record_free(last);
    ldgi_buf b = {0};
    cr_assert(ldgi_entry_encode(&en, &b));
    ldg_ledger_close(F.l);
    F.l = NULL;
    uint8_t k[8];
    seq_key(size, k);
    cr_assert_eq(lmdb_put_value(F.dir, "entries", k, 8, b.p, b.len), 0);
    ldgi_buf_free(&b);
    cr_assert_eq(ldg_ledger_open(F.path, 0, &F.l, &e), LDG_OK, "%s", e.msg);
    findings fs = {0};
    ldg_verify_summary sum;
    ldg_verify_opts o = {.jobs = 2, .on_finding = on_finding, .ctx = &fs};
    cr_assert_eq(ldg_verify_run(F.l, &o, &sum, &e), LDG_OK, "%s", e.msg);
    cr_assert_gt(sum.failures, 0);
    cr_assert(fs.origin_at == (long)size, "an origin finding at %llu: %s",
              (unsigned long long)size, fs.first);
    ldg_signed_free(s);
}

/* ------------------------------------------------------ Merkle tree -- */

/* RFC 6962 MTH, written out plainly here, from the leaf hashes alone. */
static void
mth(uint8_t (*leafs)[LDG_HASH_BYTES], uint64_t n, uint8_t out[LDG_HASH_BYTES])
{
    if (n == 0) {
        crypto_hash_sha256(out, NULL, 0);
        return;
    }
    if (n == 1) {
        memcpy(out, leafs[0], LDG_HASH_BYTES);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[LDG_HASH_BYTES], r[LDG_HASH_BYTES];
    mth(leafs, k, l);
    mth(leafs + k, n - k, r);
    uint8_t buf[1 + 2 * LDG_HASH_BYTES] = {0x01};
    memcpy(buf + 1, l, LDG_HASH_BYTES);
    memcpy(buf + 1 + LDG_HASH_BYTES, r, LDG_HASH_BYTES);
    crypto_hash_sha256(out, buf, sizeof buf);
}

Test(ledger, the_stored_tree_gives_every_head_and_proof_and_verify_agrees, .timeout = 60)
{
    for (int i = 0; i < 44; i++)
        put(F.author, note("communication", i % 2 ? "S1" : "S2"), NULL);
    uint64_t n = size_now();
    cr_assert_eq(n, 47);
    uint8_t(*leafs)[LDG_HASH_BYTES] = calloc(n, LDG_HASH_BYTES);
    uint8_t(*roots)[LDG_HASH_BYTES] = calloc(n + 1, LDG_HASH_BYTES);
    ldg_err e;
    for (uint64_t i = 0; i < n; i++)
        cr_assert_eq(ldg_ledger_leaf_hash(F.l, i, leafs[i], &e), LDG_OK);
    for (uint64_t m = 0; m <= n; m++) {
        uint8_t want[LDG_HASH_BYTES];
        mth(leafs, m, want);
        cr_assert_eq(ldg_tree_root(F.l, m, roots[m], &e), LDG_OK, "%s", e.msg);
        cr_assert_arr_eq(roots[m], want, LDG_HASH_BYTES, "head of %llu", (unsigned long long)m);
    }
    uint8_t r[LDG_HASH_BYTES];
    cr_assert_eq(ldg_tree_root(F.l, n + 1, r, &e), LDG_E_NOTFOUND, "no head past the end");
    uint8_t h[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t len;
    for (uint64_t m = 1; m <= n; m++) {
        for (uint64_t i = 0; i < m; i++) {
            cr_assert_eq(ldg_proof_inclusion(F.l, i, m, h, &len, &e), LDG_OK, "%s", e.msg);
            cr_assert(ldg_proof_verify_inclusion(i, m, leafs[i], (const uint8_t(*)[32])h, len,
                                                 roots[m]));
        }
        for (uint64_t o = 1; o <= m; o++) {
            cr_assert_eq(ldg_proof_consistency(F.l, o, m, h, &len, &e), LDG_OK, "%s", e.msg);
            cr_assert(ldg_proof_verify_consistency(o, m, roots[o], roots[m],
                                                   (const uint8_t(*)[32])h, len));
        }
    }
    cr_assert_eq(ldg_proof_inclusion(F.l, n, n, h, &len, &e), LDG_E_USAGE);
    cr_assert_eq(ldg_proof_consistency(F.l, 0, n, h, &len, &e), LDG_E_USAGE);
    cr_assert_eq(ldg_proof_consistency(F.l, 3, n + 1, h, &len, &e), LDG_E_NOTFOUND);

    ldg_verify_summary sum;
    ldg_verify_opts o = {.jobs = 2};
    cr_assert_eq(ldg_verify_run(F.l, &o, &sum, &e), LDG_OK);
    cr_assert_eq(sum.failures, 0);
    cr_assert_arr_eq(sum.root, roots[n], LDG_HASH_BYTES, "verify recomputes the same head");
    free(leafs);
    free(roots);
}

/* A hostile genesis with an origin past LDG_TEXT_MAX is refused, not copied (review finding). */
Test(ledger, an_oversized_genesis_origin_is_corrupt_not_a_crash)
{
    ldg_err e;
    ldg_record *g;
    cr_assert_eq(ldg_record_get(F.l, 0, &g, &e), LDG_OK);
    ldgi_entry en;
    ldgi_stmt *st = malloc(sizeof *st);
    const char *why;
    cr_assert(ldgi_entry_decode(g->entry, g->entry_len, &en, &why));
    cr_assert(ldgi_stmt_decode(en.stmt, en.stmt_len, st, &why));
    char *origin = malloc(60000);
    memset(origin, 'o', 60000);
    st->origin.p = origin;
    st->origin.len = 60000;
    ldgi_buf sb = {0}, eb = {0};
    cr_assert(ldgi_stmt_encode(st, &sb));
    en.stmt = sb.p;
    en.stmt_len = sb.len;
    cr_assert(ldgi_entry_encode(&en, &eb));
    ldg_record_free(g);
    ldg_ledger_close(F.l);
    F.l = NULL;
    uint8_t k[8];
    seq_key(0, k);
    cr_assert_eq(lmdb_put_value(F.dir, "entries", k, 8, eb.p, eb.len), 0);
    cr_assert_eq(ldg_ledger_open(F.path, 0, &F.l, &e), LDG_OK);
    char *note;
    size_t nl;
    cr_assert_eq(ldg_checkpoint_make(F.l, F.log, &note, &nl, &e), LDG_E_CORRUPT, "%s", e.msg);
    ldg_checkpoint cp;
    char whybuf[600];
    cr_assert_eq(ldg_checkpoint_check(F.l, "o\n1\nAAAA\n\n", 11, NULL, &cp, whybuf,
                                      sizeof whybuf, &e),
                 LDG_E_CORRUPT);
    ldgi_buf_free(&sb);
    ldgi_buf_free(&eb);
    free(origin);
    free(st);
}

/*
 * The mapped-bytes budget of long scans (verify, export, review) counts the
 * ledger's pages: what stays mapped after a release (the program and its
 * libraries) is not counted again, or a scan would release, and re-read
 * /proc/self/maps, every few hundred records.
 */
Test(ledger, mapped_bytes_count_from_what_a_release_leaves)
{
    ldgi_map_release(F.l);
    size_t after = ldgi_mapped_bytes();
    cr_assert_lt(after, 1u << 20, "%zu bytes counted right after a release", after);
}

/*
 * The helper threads of a long export read through twins of its read
 * transaction (ldgi_txn_twin): a twin is that snapshot or nothing.  With
 * no commit since the transaction began, the twin sees the same head;
 * after a commit, a new transaction would see the new entry, so no twin is
 * given (the export begins again or builds its records alone).
 */
Test(ledger, a_twin_of_a_read_snapshot_is_that_snapshot_or_none)
{
    put(F.author, note("communication", "S-1"), NULL);
    ldgi_txn *t;
    ldg_err e;
    cr_assert_eq(ldgi_txn_begin(F.l, false, &t, &e), LDG_OK, "%s", e.msg);
    ldgi_txn *w = ldgi_txn_twin(t);
    cr_assert_not_null(w, "no commit since the snapshot: a twin");
    uint64_t n[2];
    uint8_t h[2][LDG_HASH_BYTES];
    cr_assert_eq(ldgi_head(t, &n[0], h[0], NULL, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldgi_head(w, &n[1], h[1], NULL, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(n[0], n[1]);
    cr_assert_eq(memcmp(h[0], h[1], LDG_HASH_BYTES), 0);
    ldgi_txn_abort(w);
    put(F.author, note("communication", "S-1"), NULL);
    cr_assert_eq(size_now(), n[0] + 1);
    cr_assert_null(ldgi_txn_twin(t), "a commit since the snapshot: no twin");
    cr_assert_eq(ldgi_head(t, &n[1], h[1], NULL, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(n[1], n[0], "the snapshot itself is unchanged");
    ldgi_txn_abort(t);
}
