/*
 * review.c - `ldg review`, the readiness report (spec/review.md).  First the
 * ledger is verified (ldg_verify_run, or ldg_verify_since from a checkpoint
 * QA cosigned); every integrity failure is a critical finding [REV-1].  Then
 * one read snapshot is walked in seq order: every entry decoded (never an
 * index), each signer named by the key records replayed from the entries
 * before it, and the tree head of the entries recomputed, so the analysis
 * is tied to exactly the entries verify checked [REV-0].  Each record is
 * judged under the communication plan in force for its study [PLAN-3].
 *
 * Memory is bounded: what is kept is per study, per key, per KPI group, and
 * per tracked item (a record awaiting an answer, a closing, a CAPA or its
 * approvals) one fixed-size slot, dropped once nothing more can happen to
 * it; an answered item adds one time to its KPI group; a correction adds a
 * 24-byte slot per record it refs and per record and person it corrects [REV-21].
 */
#include "internal.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S 1000000000LL
#define NS_PER_H (3600 * NS_PER_S)
#define LAST_USE_NS (24 * NS_PER_H) /* [REV-14] "right before" a revocation */
#define ROTATE_NS (24 * NS_PER_H)   /* [REV-11] a superseded key revoked within this is rotated */
#define CORR_WALK_MAX 256 /* [REV-21] records a correction is traced back through, at most */

/* ------------------------------------------------------------ severities -- */

static const char *const sev_names[] = {"?", "info", "warning", "major", "critical"};

const char *
ldg_severity_name(ldg_severity s)
{
    return s >= LDG_SEV_INFO && s <= LDG_SEV_CRITICAL ? sev_names[s] : "?";
}

int
ldg_severity_parse(const char *s, ldg_severity *out)
{
    for (int i = LDG_SEV_INFO; i <= LDG_SEV_CRITICAL; i++)
        if (s && strcmp(s, sev_names[i]) == 0) {
            *out = (ldg_severity)i;
            return 0;
        }
    return -1;
}

/* ----------------------------------------------------------------- rules -- */

/* [REV-n] one table: id, name, severity (spec/review.md). */
enum {
    R_INTEGRITY = 1,
    R_NO_PLAN,
    R_PLAN_UNACCEPTED,
    R_OVERDUE,
    R_UNANSWERED,
    R_ESC_OPEN,
    R_NOT_ESCALATED,
    R_DEV_NO_CAPA,
    R_UNAPPROVED,
    R_APPROVED_CORRECTED,
    R_DUP_IDENTITY,
    R_REENROLLED,
    R_CLAIM_BEFORE_REVOKE,
    R_USE_BEFORE_REVOKE,
    R_SKEW,
    R_CLOCK,
    R_GAP,
    R_GENERIC_REASON,
    R_ERASED,
    R_WITHHELD,
    R_APPROVED_OWN_CORRECTION,
    R_COUNT
};
static const struct {
    const char *id, *name;
    ldg_severity sev;
} rules[R_COUNT] = {
    [R_INTEGRITY] = {"REV-1", "integrity", LDG_SEV_CRITICAL},
    [R_NO_PLAN] = {"REV-2", "no-plan", LDG_SEV_WARNING},
    [R_PLAN_UNACCEPTED] = {"REV-3", "plan-not-accepted", LDG_SEV_MAJOR},
    [R_OVERDUE] = {"REV-4", "overdue", LDG_SEV_MAJOR},
    [R_UNANSWERED] = {"REV-5", "unanswered", LDG_SEV_MAJOR},
    [R_ESC_OPEN] = {"REV-6", "escalation-open", LDG_SEV_WARNING},
    [R_NOT_ESCALATED] = {"REV-7", "not-escalated", LDG_SEV_MAJOR},
    [R_DEV_NO_CAPA] = {"REV-8", "deviation-without-capa", LDG_SEV_MAJOR},
    [R_UNAPPROVED] = {"REV-9", "decision-not-approved", LDG_SEV_MAJOR},
    [R_APPROVED_CORRECTED] = {"REV-10", "approval-of-corrected", LDG_SEV_WARNING},
    [R_DUP_IDENTITY] = {"REV-11", "duplicate-identity", LDG_SEV_MAJOR},
    [R_REENROLLED] = {"REV-12", "re-enrolled", LDG_SEV_WARNING},
    [R_CLAIM_BEFORE_REVOKE] = {"REV-13", "claim-before-revocation", LDG_SEV_CRITICAL},
    [R_USE_BEFORE_REVOKE] = {"REV-14", "use-before-revocation", LDG_SEV_WARNING},
    [R_SKEW] = {"REV-15", "time-skew", LDG_SEV_MAJOR},
    [R_CLOCK] = {"REV-16", "host-clock", LDG_SEV_WARNING},
    [R_GAP] = {"REV-17", "activity-gap", LDG_SEV_WARNING},
    [R_GENERIC_REASON] = {"REV-18", "generic-reason", LDG_SEV_WARNING},
    [R_ERASED] = {"REV-19", "body-erased", LDG_SEV_INFO},
    [R_WITHHELD] = {"REV-20", "body-missing", LDG_SEV_CRITICAL},
    [R_APPROVED_OWN_CORRECTION] = {"REV-21", "approved-own-correction", LDG_SEV_MAJOR},
};

/* ---------------------------------------------------------- small tables -- */

/*
 * Interned strings (studies, organisations, levels, identities): found through an
 * open-addressing index of their hashes, so a ledger of many studies or
 * people costs a lookup per record, not a scan of all of them.
 */
typedef struct strtab {
    char **s;
    size_t *len;
    size_t n, cap, last;
    uint32_t *slot; /* index into s, or UINT32_MAX; slots a power of two, at most half full */
    size_t slots;
} strtab;

static uint64_t
str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

/* The slot of s: where it is, or the empty one where it would go. */
static uint32_t *
str_slot(const strtab *t, const char *s, size_t n)
{
    size_t mask = t->slots - 1, i = (size_t)str_hash(s, n) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t x = t->slot[i];
        if (x == UINT32_MAX || (t->len[x] == n && memcmp(t->s[x], s, n) == 0))
            return &t->slot[i];
    }
}

static bool
str_reindex(strtab *t, size_t slots)
{
    uint32_t *ns = ldgi_malloc(slots * sizeof *ns);
    if (!ns)
        return false;
    memset(ns, 0xff, slots * sizeof *ns);
    free(t->slot);
    t->slot = ns;
    t->slots = slots;
    for (size_t i = 0; i < t->n; i++)
        *str_slot(t, t->s[i], t->len[i]) = (uint32_t)i;
    return true;
}

/* Index of s (len n) in t, added when absent; UINT32_MAX when out of memory. */
static uint32_t
intern(strtab *t, const char *s, size_t n)
{
    if (t->last < t->n && t->len[t->last] == n && memcmp(t->s[t->last], s, n) == 0)
        return (uint32_t)t->last; /* records of one study and organisation come in runs */
    if ((t->n + 1) * 2 > t->slots && !str_reindex(t, t->slots ? t->slots * 2 : 64))
        return UINT32_MAX;
    uint32_t *at = str_slot(t, s, n);
    if (*at != UINT32_MAX)
        return (uint32_t)(t->last = *at);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **ns = ldgi_realloc(t->s, cap * sizeof *ns);
        if (!ns)
            return UINT32_MAX;
        t->s = ns;
        size_t *nl = ldgi_realloc(t->len, cap * sizeof *nl);
        if (!nl)
            return UINT32_MAX;
        t->len = nl;
        t->cap = cap;
    }
    if (!(t->s[t->n] = ldgi_strndup(s, n)))
        return UINT32_MAX;
    t->len[t->n] = strlen(t->s[t->n]); /* n, but never past the copy */
    *at = (uint32_t)t->n;
    return (uint32_t)(t->last = t->n++);
}

static uint32_t
intern_z(strtab *t, const char *s)
{
    return intern(t, s ? s : "", s ? strlen(s) : 0);
}

static void
strtab_free(strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->len);
    free(t->slot);
}

/* A growable array of times. */
typedef struct times {
    int64_t *v;
    size_t n, cap;
} times;

static bool
times_push(times *t, int64_t x)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        int64_t *nv = ldgi_realloc(t->v, cap * sizeof *nv);
        if (!nv)
            return false;
        t->v = nv;
        t->cap = cap;
    }
    t->v[t->n++] = x;
    return true;
}

static int
i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* [REV-KPI] nearest rank: the value at rank ceil(p/100 * n) of the sorted list; -1 when empty. */
static int64_t
nearest_rank(times *t, unsigned p)
{
    if (!t->n)
        return -1;
    qsort(t->v, t->n, sizeof *t->v, i64_cmp);
    size_t rank = (size_t)((p * (uint64_t)t->n + 99) / 100);
    return t->v[rank ? rank - 1 : 0];
}

/* ------------------------------------------------------------------ items -- */

enum {
    IT_RESPONSE = 1u << 0,   /* the plan expects a response [REV-4][REV-5] */
    IT_ESCALATION = 1u << 1, /* an escalation, open until closed [REV-6] */
    IT_DEVIATION = 1u << 2,  /* needs a CAPA or a closing [REV-8] */
    IT_DECISION = 1u << 3,   /* needs approvals [REV-9] */
    IT_PLAN = 1u << 4,       /* needs acceptance [REV-3] */
    IT_APPROVED = 1u << 5,   /* an approval refs it [REV-10] */
    IT_QUERY = 1u << 6,      /* closure time counts in the KPIs */
    F_ESCALATED = 1u << 8,   /* an escalation refs it [REV-7] */
    F_CAPA = 1u << 9,
    F_CLOSED = 1u << 10,
    F_ANSWERED = 1u << 11,
    F_ESC_DONE = 1u << 12, /* REV-7 judged */
};

/*
 * One tracked record: a fixed-size slot (80 bytes), so memory follows what is
 * open, not the ledger.  Slots are found by the first 8 bytes of the record's
 * leaf hash, which is what refs name, so a ref costs no lookup in the ledger
 * unless it names a tracked record; that one is then confirmed in full.
 */
typedef struct item {
    uint64_t key;      /* the leaf hash's first 8 bytes */
    uint64_t seq;      /* UINT64_MAX: an empty slot */
    int64_t t;         /* ledger time */
    int64_t due;       /* INT64_MAX: none */
    int64_t esc_after; /* an escalation is due by t + esc_after; 0: no path */
    uint64_t approval_seq;
    const void *need; /* ldg_plan_approval (IT_DECISION) or ldg_plan (IT_PLAN) */
    uint32_t got;     /* bit i: orgs[i] approved */
    uint32_t flags;
    uint32_t study, asker_org, group, respond; /* respond: 0 other, 1 any, else org + 2 */
} item;

typedef struct itemmap {
    item *v;
    size_t n, cap; /* cap a power of two, n <= 3 cap / 4 */
} itemmap;

static uint64_t
leaf_key(const uint8_t leaf[LDG_HASH_BYTES])
{
    uint64_t k;
    memcpy(&k, leaf, sizeof k); /* a SHA-256: uniformly spread */
    return k;
}

/* Is entry seq of the snapshot the one whose leaf hash is leaf? */
static bool
leaf_is(ldgi_txn *t, uint64_t seq, const uint8_t leaf[LDG_HASH_BYTES])
{
    uint8_t k[8], h[LDG_HASH_BYTES];
    const uint8_t *ev;
    size_t el;
    ldgi_be64(k, seq);
    if (ldgi_get(t, LDGI_DB_ENTRIES, k, 8, &ev, &el, NULL) != LDG_OK)
        return false;
    ldgi_leaf_hash(ev, el, h);
    return memcmp(h, leaf, LDG_HASH_BYTES) == 0;
}

static item *
map_find(itemmap *m, ldgi_txn *t, const uint8_t leaf[LDG_HASH_BYTES])
{
    if (!m->cap)
        return NULL;
    uint64_t key = leaf_key(leaf);
    for (size_t i = (size_t)key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->v[i].seq == UINT64_MAX)
            return NULL;
        if (m->v[i].key == key && leaf_is(t, m->v[i].seq, leaf))
            return &m->v[i];
    }
}

static bool
map_grow(itemmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    item *v = ldgi_malloc(cap * sizeof *v);
    if (!v)
        return false;
    for (size_t i = 0; i < cap; i++)
        v[i].seq = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->v[i].seq == UINT64_MAX)
            continue;
        size_t j = (size_t)m->v[i].key & (cap - 1);
        while (v[j].seq != UINT64_MAX)
            j = (j + 1) & (cap - 1);
        v[j] = m->v[i];
    }
    free(m->v);
    m->v = v;
    m->cap = cap;
    return true;
}

/* The slot of the record (leaf, seq), a fresh zeroed one when absent; NULL when out of memory. */
static item *
map_get(itemmap *m, ldgi_txn *t, const uint8_t leaf[LDG_HASH_BYTES], uint64_t seq)
{
    item *it = map_find(m, t, leaf);
    if (it)
        return it;
    if (4 * (m->n + 1) > 3 * m->cap && !map_grow(m))
        return NULL;
    uint64_t key = leaf_key(leaf);
    size_t i = (size_t)key & (m->cap - 1);
    while (m->v[i].seq != UINT64_MAX)
        i = (i + 1) & (m->cap - 1);
    memset(&m->v[i], 0, sizeof m->v[i]);
    m->v[i].key = key;
    m->v[i].seq = seq;
    m->v[i].due = INT64_MAX;
    m->n++;
    return &m->v[i];
}

/* Removes the slot (backward-shift deletion: no tombstones). */
static void
map_del(itemmap *m, item *it)
{
    size_t i = (size_t)(it - m->v);
    m->v[i].seq = UINT64_MAX;
    m->n--;
    for (size_t j = (i + 1) & (m->cap - 1); m->v[j].seq != UINT64_MAX; j = (j + 1) & (m->cap - 1)) {
        size_t h = (size_t)m->v[j].key & (m->cap - 1);
        /* may v[j] move to the hole at i? only if its home is not in (i, j] cyclically */
        bool between = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (between)
            continue;
        m->v[i] = m->v[j];
        m->v[j].seq = UINT64_MAX;
        i = j;
    }
}

/*
 * [REV-21] Who corrected what, in two tables of 24-byte slots keyed by a seq
 * and a small number: `corrof` holds, for each correction, one slot per
 * record it refs (key: the correction's seq and the ref's index; value: the
 * seq the ref names), so a correction of a correction reaches back to what
 * that one corrects; `authored` holds one slot per record and person who
 * wrote a correction of it, directly or through corrections of it (key: the
 * record's seq and the person; value: the first such correction).  Memory
 * follows the corrections, not the ledger.
 */
typedef struct pslot {
    uint64_t a; /* UINT64_MAX: an empty slot */
    uint64_t val;
    uint32_t b;
} pslot;

typedef struct pairmap {
    pslot *v;
    size_t n, cap; /* cap a power of two, n <= 3 cap / 4 */
} pairmap;

static size_t
pair_home(uint64_t a, uint32_t b, size_t cap)
{
    uint64_t h = (a ^ ((uint64_t)b << 32 | b)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static pslot *
pair_find(const pairmap *m, uint64_t a, uint32_t b)
{
    if (!m->cap)
        return NULL;
    for (size_t i = pair_home(a, b, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->v[i].a == UINT64_MAX)
            return NULL;
        if (m->v[i].a == a && m->v[i].b == b)
            return &m->v[i];
    }
}

/* Adds (a, b) -> val unless (a, b) is present; false when out of memory. */
static bool
pair_put(pairmap *m, uint64_t a, uint32_t b, uint64_t val)
{
    if (pair_find(m, a, b))
        return true;
    if (4 * (m->n + 1) > 3 * m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        pslot *v = ldgi_malloc(cap * sizeof *v);
        if (!v)
            return false;
        for (size_t i = 0; i < cap; i++)
            v[i].a = UINT64_MAX;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->v[i].a == UINT64_MAX)
                continue;
            size_t j = pair_home(m->v[i].a, m->v[i].b, cap);
            while (v[j].a != UINT64_MAX)
                j = (j + 1) & (cap - 1);
            v[j] = m->v[i];
        }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    size_t i = pair_home(a, b, m->cap);
    while (m->v[i].a != UINT64_MAX)
        i = (i + 1) & (m->cap - 1);
    m->v[i] = (pslot){.a = a, .b = b, .val = val};
    m->n++;
    return true;
}

/*
 * One record as the walk decoded it: views into the entry (valid during the
 * walk's snapshot) and copies of the short strings, NUL-terminated.
 */
typedef struct rec {
    uint64_t seq;
    int64_t host_time_ns;
    int has_clock;
    uint64_t clock_ns;
    const uint8_t *entry;
    size_t entry_len;
    char kind[32];
    char study[LDG_STUDY_MAX + 1];
    char meaning_buf[32];
    const char *meaning; /* NULL when absent */
    char reason_buf[LDG_TEXT_MAX + 1];
    const char *reason; /* NULL when absent */
    int64_t time_ns;
    size_t nrefs;
    const uint8_t (*refs)[LDG_HASH_BYTES];
    const uint8_t *signer_pub;
    const char *signer_org; /* from the replayed key records; "" unregistered */
    const uint8_t *key_pub; /* key.add / key.revoke: the key it is about */
    char key_name[LDG_TEXT_MAX + 1], key_org[LDG_TEXT_MAX + 1];
    bool key_admin;
    int body_state;
    const char *body; /* a view into the snapshot; set when the rules read it */
    size_t body_len;
    const uint8_t *salt, *commitment;
    uint64_t erased_by;
    bool has_leaf;
    uint8_t leaf[LDG_HASH_BYTES];
    bool user; /* a user record: nothing for the key registry */
} rec;

static const uint8_t *
rec_leaf(rec *r)
{
    if (!r->has_leaf) {
        ldgi_leaf_hash(r->entry, r->entry_len, r->leaf);
        r->has_leaf = true;
    }
    return r->leaf;
}

/* ----------------------------------------------------------------- state -- */

typedef struct studyst {
    ldg_plan *plan; /* in force now (owned by the plans list) */
    uint64_t plan_seq;
    int64_t last_t;
    uint64_t last_seq;
    uint64_t noplan, noplan_first;
} studyst;

typedef struct keyrec {
    uint8_t pub[LDG_PUB_BYTES];
    uint32_t ident; /* "name\norg" */
    uint64_t added_seq;
    bool admin;        /* holds the admin role (which policy keeps apart from every other) */
    int64_t revoked_t; /* 0: active */
    uint64_t revoked_seq;
    int64_t last_t; /* its last user record; 0: none */
    uint64_t last_seq;
    uint32_t last_study;
    /* [REV-11] another key of the same person was added while this one was active */
    int64_t superseded_t; /* 0: not superseded */
    uint64_t superseded_seq;
    bool dup_reported;
} keyrec;

typedef struct group {
    uint32_t org, level;
    int month; /* year * 12 + month - 1 */
    uint64_t items, answered, on_time, open, qclosed, esc_raised, esc_closed;
    times resp, qclose;
} group;

typedef struct rv {
    const ldg_review_opts *o;
    ldg_review_summary *sum;
    ldg_err *err;
    ldg_ledger *l;
    ldg_status status; /* first failure inside the walk */
    int64_t now;
    uint64_t verified; /* entries verify checked */
    uint64_t walked;
    ldgi_txn *t;      /* the one snapshot verified, then walked */
    ldgi_cur *bodies; /* the walk's bodies, in seq order: each seek starts where the last ended */
    bool past;        /* past --as-of: the rest is only counted */
    ldgi_reg *reg;
    strtab studies, orgs, levels, idents;
    studyst *st;
    size_t nst;
    keyrec *keys;
    size_t nkeys, kcap;
    ldg_plan **plans;
    size_t nplans, pcap;
    group *groups;
    size_t ngroups, gcap;
    itemmap items;
    pairmap corrof, authored; /* [REV-21] */
    uint64_t *work;           /* [REV-21] records still to visit */
    size_t nwork, wcap;
    uint64_t bad; /* REV-1 findings: the analysis cannot be relied on */
} rv;

static void emit(rv *v, int rule, const char *study, int64_t at, const uint64_t *seqs, size_t nseqs,
                 const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
emit(rv *v, int rule, const char *study, int64_t at, const uint64_t *seqs, size_t nseqs,
     const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ldg_review_finding f = {.rule = rules[rule].id,
                            .name = rules[rule].name,
                            .severity = rules[rule].sev,
                            .study = study ? study : "",
                            .at_ns = at,
                            .why = why};
    for (size_t i = 0; i < nseqs && i < LDG_REVIEW_SEQS_MAX; i++)
        f.seqs[f.nseqs++] = seqs[i];
    v->sum->findings[f.severity]++;
    if (rule == R_INTEGRITY)
        v->bad++;
    if (v->o->on_finding)
        v->o->on_finding(v->o->ctx, &f);
}

static bool
oom(rv *v)
{
    if (v->status == LDG_OK)
        v->status = ldgi_fail(v->err, LDG_E_NOMEM, "review: out of memory");
    return false;
}

static void
fmt_time(int64_t ns, char out[40])
{
    ldg_time_format(ns, 0, 1, out);
    char *dot = strchr(out, '.');
    if (dot) /* seconds are enough for people */
        memcpy(dot, "Z", 2);
}

static void
fmt_dur(int64_t ns, char *out, size_t cap)
{
    if (ns < 0)
        ns = -ns;
    int64_t m = ns / (60 * NS_PER_S);
    if (m >= 48 * 60)
        snprintf(out, cap, "%.1f days", (double)ns / (24.0 * NS_PER_H));
    else
        snprintf(out, cap, "%lldh%02lld", (long long)(m / 60), (long long)(m % 60));
}

static int
month_of(int64_t ns)
{
    int64_t y, sod;
    int m, d;
    ldgi_date_of(ns / NS_PER_S, &y, &m, &d, &sod);
    return (int)y * 12 + m - 1;
}

static group *
group_get(rv *v, uint32_t org, uint32_t level, int month)
{
    for (size_t i = 0; i < v->ngroups; i++)
        if (v->groups[i].org == org && v->groups[i].level == level && v->groups[i].month == month)
            return &v->groups[i];
    if (v->ngroups == v->gcap) {
        size_t cap = v->gcap ? v->gcap * 2 : 16;
        group *g = ldgi_realloc(v->groups, cap * sizeof *g);
        if (!g)
            return NULL;
        v->groups = g;
        v->gcap = cap;
    }
    group *g = &v->groups[v->ngroups++];
    memset(g, 0, sizeof *g);
    g->org = org;
    g->level = level;
    g->month = month;
    return g;
}

static studyst *
study_get(rv *v, uint32_t idx)
{
    if (idx >= v->nst) {
        studyst *ns = ldgi_realloc(v->st, (idx + 1) * sizeof *ns);
        if (!ns)
            return NULL;
        for (size_t i = v->nst; i <= idx; i++) {
            memset(&ns[i], 0, sizeof ns[i]);
            ns[i].plan_seq = UINT64_MAX;
        }
        v->st = ns;
        v->nst = idx + 1;
    }
    return &v->st[idx];
}

static keyrec *
key_find(rv *v, const uint8_t pub[LDG_PUB_BYTES])
{
    for (size_t i = 0; i < v->nkeys; i++)
        if (memcmp(v->keys[i].pub, pub, LDG_PUB_BYTES) == 0)
            return &v->keys[i];
    return NULL;
}

/* ------------------------------------------------------------ body fields -- */

static const char *
jstr(json_t *b, const char *k)
{
    json_t *x = b ? json_object_get(b, k) : NULL;
    return json_is_string(x) ? json_string_value(x) : NULL;
}

static bool
jtrue(json_t *b, const char *k)
{
    return b && json_is_true(json_object_get(b, k));
}

/* ---------------------------------------------------------------- reasons -- */

/*
 * [REV-18] A correction reason says nothing when, lowercased and split at
 * everything that is not a letter, every word is one of these, or it has
 * fewer than 5 letters in all.
 */
static const char *const generic_words[] = {
    "x",         "xx",         "xxx",     "typo",    "typos",   "fix",     "fixed",
    "fixes",     "error",      "errors",  "err",     "mistake", "wrong",   "correct",
    "corrected", "correction", "update",  "updated", "change",  "changed", "edit",
    "edited",    "amend",      "amended", "see",     "above",   "misc",    "na",
    "n",         "a",          "other",   "minor",   "small",   "oops",    "test",
};

static bool
reason_generic(const char *r)
{
    if (!r)
        return true;
    size_t letters = 0;
    bool all_generic = true;
    char w[32];
    size_t wl = 0;
    for (const char *p = r;; p++) {
        char c = *p;
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c >= 0x80;
        if (letter) {
            letters++;
            if (wl < sizeof w - 1)
                w[wl++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            else
                wl = sizeof w; /* too long to be one of them */
            continue;
        }
        if (wl) {
            bool g = false;
            if (wl < sizeof w) {
                w[wl] = '\0';
                for (size_t i = 0; i < sizeof generic_words / sizeof *generic_words; i++)
                    if (strcmp(w, generic_words[i]) == 0)
                        g = true;
            }
            if (!g)
                all_generic = false;
            wl = 0;
        }
        if (!c)
            break;
    }
    return letters < 5 || all_generic;
}

/* ------------------------------------------------------------------- walk -- */

/* Copies a decoded string NUL-terminated; false when it does not fit or holds a NUL. */
static bool
copy_str(char *out, size_t cap, ldgi_str s)
{
    if (s.len >= cap || memchr(s.p, 0, s.len)) {
        out[0] = '\0';
        return false;
    }
    memcpy(out, s.p, s.len);
    out[s.len] = '\0';
    return true;
}

/*
 * The seq of the entry a ref names: the leaf index says where to look, and
 * it counts only when that entry hashes to the ref.  UINT64_MAX if none.
 */
static uint64_t
ref_seq(rv *v, const uint8_t hash[LDG_HASH_BYTES])
{
    uint64_t seq;
    return ldgi_leaf_find(v->t, hash, UINT64_MAX, &seq, NULL) == LDG_OK ? seq : UINT64_MAX;
}

/* Has the responder of `it` answered with a record signed by someone of org? */
static bool
answers(rv *v, const item *it, uint32_t org)
{
    if (it->respond == 1)
        return true;
    if (it->respond == 0)
        return org != it->asker_org;
    (void)v;
    return org == it->respond - 2;
}

/* [REV-7] judged once an item is no longer open, or at the end. */
static void
judge_escalation(rv *v, item *it, int64_t until)
{
    if (!(it->flags & IT_RESPONSE) || !it->esc_after || (it->flags & (F_ESCALATED | F_ESC_DONE)))
        return;
    if (until <= it->t + it->esc_after)
        return;
    it->flags |= F_ESC_DONE;
    char d[32];
    fmt_dur(it->esc_after, d, sizeof d);
    emit(v, R_NOT_ESCALATED, v->studies.s[it->study], it->t + it->esc_after, &it->seq, 1,
         "open at its level past the plan's escalation deadline (%s) and no escalation refers "
         "to it",
         d);
}

/* Drops an item nothing more can happen to. */
static void
maybe_drop(rv *v, item *it)
{
    uint32_t f = it->flags;
    if ((f & IT_RESPONSE) && !(f & (F_ANSWERED | F_CLOSED)))
        return;
    if ((f & (IT_QUERY | IT_ESCALATION)) && !(f & F_CLOSED))
        return;
    if ((f & IT_DEVIATION) && !(f & (F_CLOSED | F_CAPA)))
        return;
    if (f & (IT_DECISION | IT_PLAN | IT_APPROVED))
        return;
    map_del(&v->items, it);
}

/* A later record r refers to the tracked item it. */
static void
on_ref(rv *v, item *it, rec *r, json_t *body, uint32_t org)
{
    int64_t t = (int64_t)r->host_time_ns;
    uint64_t seqs[2] = {it->seq, r->seq};
    group *g = it->flags & (IT_RESPONSE | IT_ESCALATION | IT_QUERY) ? &v->groups[it->group] : NULL;
    bool closes = jtrue(body, "closes");
    bool ans = answers(v, it, org);
    if (strcmp(r->kind, "escalation") == 0)
        it->flags |= F_ESCALATED;
    if ((it->flags & IT_RESPONSE) && !(it->flags & (F_ANSWERED | F_CLOSED)) && (closes || ans)) {
        /* resolved now: answered by the responding party, or closed by anyone */
        if (ans) {
            it->flags |= F_ANSWERED;
            g->answered++;
            if (!times_push(&g->resp, t - it->t))
                oom(v);
            if (t <= it->due)
                g->on_time++;
        }
        if (t > it->due) {
            char d[32], due[40];
            fmt_dur(t - it->due, d, sizeof d);
            fmt_time(it->due, due);
            emit(v, R_OVERDUE, v->studies.s[it->study], t, seqs, 2, "%s %s after it was due (%s)",
                 ans ? "answered" : "closed without an answer", d, due);
        }
        judge_escalation(v, it, t);
    }
    if ((it->flags & IT_DEVIATION) && strcmp(r->kind, "action") == 0 && jtrue(body, "capa"))
        it->flags |= F_CAPA;
    if ((strcmp(r->kind, "approval") == 0) && r->meaning && strcmp(r->meaning, "approval") == 0) {
        if (!(it->flags & IT_APPROVED)) {
            it->flags |= IT_APPROVED;
            it->approval_seq = r->seq;
        }
        const char *sorg = r->signer_org;
        if (it->flags & IT_DECISION) {
            const ldg_plan_approval *a = it->need;
            for (size_t i = 0; i < a->norgs && i < 32; i++)
                if (strcmp(a->orgs[i], sorg) == 0)
                    it->got |= 1u << i;
        }
        if (it->flags & IT_PLAN) {
            const ldg_plan *p = it->need;
            for (size_t i = 0; i < p->naccept && i < 32; i++)
                if (strcmp(p->accept[i], sorg) == 0)
                    it->got |= 1u << i;
        }
    }
    if (strcmp(r->kind, "correction") == 0 && (it->flags & IT_APPROVED)) {
        uint64_t s3[3] = {it->approval_seq, it->seq, r->seq};
        emit(v, R_APPROVED_CORRECTED, r->study, t, s3, 3,
             "the approval #%llu covers record #%llu, which correction #%llu changed afterwards",
             (unsigned long long)it->approval_seq, (unsigned long long)it->seq,
             (unsigned long long)r->seq);
    }
    if (closes && !(it->flags & F_CLOSED)) {
        it->flags |= F_CLOSED;
        if ((it->flags & IT_QUERY) && g) {
            g->qclosed++;
            if (!times_push(&g->qclose, t - it->t))
                oom(v);
        }
        if (it->flags & IT_ESCALATION)
            v->groups[it->group].esc_closed++;
    }
    maybe_drop(v, it);
}

/* Creates the items a user record r opens, under plan p. */
static void
open_items(rv *v, rec *r, json_t *body, uint32_t sidx, const ldg_plan *p, uint32_t org)
{
    int64_t t = (int64_t)r->host_time_ns;
    const char *priority = jstr(body, "priority"), *level = jstr(body, "level");
    const ldg_plan_rule *rule = p ? ldg_plan_match(p, r->kind, priority, level) : NULL;
    bool esc = strcmp(r->kind, "escalation") == 0;
    bool dev = strcmp(r->kind, "deviation") == 0;
    bool plan = strcmp(r->kind, "plan") == 0;
    const ldg_plan_approval *need = NULL;
    if (p && strcmp(r->kind, "plan") != 0)
        for (size_t i = 0; i < p->napprovals && !need; i++)
            if (strcmp(p->approvals[i].kind, r->kind) == 0 &&
                (!p->approvals[i].level || (level && strcmp(p->approvals[i].level, level) == 0)))
                need = &p->approvals[i];
    const ldg_plan *self = plan ? v->st[sidx].plan : NULL;
    if (plan && (!self || v->st[sidx].plan_seq != r->seq || !self->naccept))
        self = NULL;
    if (!rule && !esc && !dev && !need && !self)
        return;
    item *it = map_get(&v->items, v->t, rec_leaf(r), r->seq);
    if (!it) {
        oom(v);
        return;
    }
    it->t = t;
    it->study = sidx;
    it->asker_org = org;
    if (rule) {
        it->flags |= IT_RESPONSE;
        int64_t due = ldg_plan_due(p, rule, t);
        const char *bd = jstr(body, "due");
        int64_t bdue;
        int32_t tz;
        if (bd && ldg_time_parse(bd, &bdue, &tz, NULL) == LDG_OK && bdue < due)
            due = bdue; /* the earlier due wins */
        it->due = due;
        if (!rule->respond || strcmp(rule->respond, "other") == 0)
            it->respond = 0;
        else if (strcmp(rule->respond, "any") == 0)
            it->respond = 1;
        else
            it->respond = intern_z(&v->orgs, rule->respond) + 2;
        if (level)
            for (size_t i = 0; i < p->nescalations; i++)
                if (strcmp(p->escalations[i].from, level) == 0)
                    it->esc_after = p->escalations[i].after_ns;
    }
    if (strcmp(r->kind, "query") == 0)
        it->flags |= IT_QUERY;
    if (esc)
        it->flags |= IT_ESCALATION;
    if (dev)
        it->flags |= IT_DEVIATION;
    if (need) {
        it->flags |= IT_DECISION;
        it->need = need;
    }
    if (self) {
        it->flags |= IT_PLAN;
        it->need = self;
    }
    if (it->flags & (IT_RESPONSE | IT_ESCALATION | IT_QUERY)) {
        /* [REV-KPI] the responding party: the org the rule names, else the other of two parties */
        uint32_t rorg = UINT32_MAX;
        if (it->respond >= 2)
            rorg = it->respond - 2;
        else if (it->respond == 0 && p && p->nparties == 2) {
            const char *asker = v->orgs.s[org];
            rorg = intern_z(&v->orgs,
                            strcmp(p->parties[0], asker) == 0 ? p->parties[1] : p->parties[0]);
        }
        if (rorg == UINT32_MAX)
            rorg = intern_z(&v->orgs, it->respond == 1 ? "(any party)" : "(another party)");
        uint32_t lv = intern_z(&v->levels, level ? level : "");
        group *g = group_get(v, rorg, lv, month_of(t));
        if (!g || rorg == UINT32_MAX || lv == UINT32_MAX) {
            oom(v);
            return;
        }
        it->group = (uint32_t)(g - v->groups);
        if (it->flags & IT_RESPONSE)
            g->items++;
        if (esc)
            g->esc_raised++;
    }
}

/* [REV-11][REV-12] a key.add: an identity with another active key, or one that was revoked. */
static void
on_key_add(rv *v, rec *r)
{
    /* the person as policy sees them [POL-13]: one normal form for both */
    uint8_t id[LDG_HASH_BYTES];
    const char *nm = r->key_name, *org = r->key_org;
    char hex[2 * LDG_HASH_BYTES + 1];
    ldgi_identity((ldgi_str){nm, strlen(nm)}, (ldgi_str){org, strlen(org)}, id);
    sodium_bin2hex(hex, sizeof hex, id, sizeof id);
    uint32_t ident = intern(&v->idents, hex, 2 * LDG_HASH_BYTES);
    if (ident == UINT32_MAX) {
        oom(v);
        return;
    }
    if (key_find(v, r->key_pub))
        return;
    int64_t t = (int64_t)r->host_time_ns;
    for (size_t i = 0; i < v->nkeys; i++) {
        keyrec *k = &v->keys[i];
        /* policy lets a person hold one admin key beside one other key [POL-15] */
        if (k->ident != ident || (!k->revoked_t && k->admin != r->key_admin))
            continue;
        uint64_t seqs[2] = {r->seq, k->revoked_seq};
        if (!k->revoked_t) {
            /* judged later: a rotation revokes the old key soon and never uses it again */
            if (!k->superseded_t) {
                k->superseded_t = t;
                k->superseded_seq = r->seq;
            }
        } else {
            emit(v, R_REENROLLED, "", t, seqs, 2, "%s (%s) re-enrolled after revocation #%llu",
                 r->key_name, r->key_org, (unsigned long long)k->revoked_seq);
        }
        break;
    }
    if (v->nkeys == v->kcap) {
        size_t cap = v->kcap ? v->kcap * 2 : 16;
        keyrec *nk = ldgi_realloc(v->keys, cap * sizeof *nk);
        if (!nk) {
            oom(v);
            return;
        }
        v->keys = nk;
        v->kcap = cap;
    }
    keyrec *k = &v->keys[v->nkeys++];
    memset(k, 0, sizeof *k);
    memcpy(k->pub, r->key_pub, LDG_PUB_BYTES);
    k->ident = ident;
    k->added_seq = r->seq;
    k->admin = r->key_admin;
}

/* [REV-11] k, superseded at k->superseded_seq, is still in play: report it once. */
static void
dup_identity(rv *v, keyrec *k, int64_t t, const char *how)
{
    if (k->dup_reported)
        return;
    k->dup_reported = true;
    uint64_t seqs[2] = {k->superseded_seq, k->added_seq};
    emit(v, R_DUP_IDENTITY, "", t, seqs, 2,
         "two active keys of one person: the key added by #%llu %s after #%llu added another",
         (unsigned long long)k->added_seq, how, (unsigned long long)k->superseded_seq);
}

static void
on_key_revoke(rv *v, rec *r)
{
    keyrec *k = key_find(v, r->key_pub);
    if (!k || k->revoked_t)
        return;
    int64_t t = (int64_t)r->host_time_ns;
    if (k->superseded_t && t - k->superseded_t > ROTATE_NS)
        dup_identity(v, k, t, "stayed active for more than 24 h");
    k->revoked_t = t;
    k->revoked_seq = r->seq;
    if (k->last_t && t - k->last_t <= LAST_USE_NS &&
        (!v->o->study || strcmp(v->studies.s[k->last_study], v->o->study) == 0)) {
        uint64_t seqs[2] = {k->last_seq, r->seq};
        char d[32];
        fmt_dur(t - k->last_t, d, sizeof d);
        emit(v, R_USE_BEFORE_REVOKE, v->studies.s[k->last_study], k->last_t, seqs, 2,
             "the key's last record came %s before its revocation", d);
    }
}

static void
check_time(rv *v, rec *r, const studyst *s)
{
    int64_t t = (int64_t)r->host_time_ns;
    int64_t tol = s->plan ? s->plan->tolerance_ns : LDG_TOLERANCE_DEFAULT_NS;
    int64_t off = r->time_ns - t;
    if (off < -tol || off > tol) {
        char d[32], tl[32];
        fmt_dur(off, d, sizeof d);
        fmt_dur(tol, tl, sizeof tl);
        emit(v, R_SKEW, r->study, t, &r->seq, 1, "%s: claimed %s %s the ledger time (tolerance %s)",
             off < 0 ? "back-dated" : "forward-dated", d, off < 0 ? "before" : "after", tl);
    }
}

/* Is the record at seq one of the kinds whose body the rules read? */
static bool
body_wanted(rv *v, rec *r, const studyst *s)
{
    if (r->body_state != LDG_BODY_OK || !r->body)
        return false;
    /* a plan, and an escalation's level; the rest only where the plan or an item needs it */
    if (strcmp(r->kind, "plan") == 0 || strcmp(r->kind, "escalation") == 0)
        return true;
    if (s->plan) {
        for (size_t i = 0; i < s->plan->nrules; i++)
            if (strcmp(s->plan->rules[i].kind, r->kind) == 0)
                return true;
        for (size_t i = 0; i < s->plan->napprovals; i++)
            if (strcmp(s->plan->approvals[i].kind, r->kind) == 0)
                return true;
    }
    for (size_t i = 0; i < r->nrefs; i++)
        if (map_find(&v->items, v->t, r->refs[i]))
            return true;
    return false;
}

static bool
work_push(rv *v, uint64_t x)
{
    if (v->nwork == v->wcap) {
        size_t cap = v->wcap ? v->wcap * 2 : 16;
        uint64_t *w = ldgi_realloc(v->work, cap * sizeof *w);
        if (!w)
            return false;
        v->work = w;
        v->wcap = cap;
    }
    v->work[v->nwork++] = x;
    return true;
}

/*
 * [REV-21] A correction r by the person ident corrects each record it refs
 * and, through those that are corrections, every record they correct.
 */
static void
on_correction(rv *v, rec *r, uint32_t ident)
{
    uint32_t j = 0;
    v->nwork = 0;
    for (size_t i = 0; i < r->nrefs; i++) {
        uint64_t x = ref_seq(v, r->refs[i]);
        if (x == UINT64_MAX || x >= r->seq)
            continue;
        if (!pair_put(&v->corrof, r->seq, j++, x) || !work_push(v, x)) {
            oom(v);
            return;
        }
    }
    /* bounded: a hostile chain of corrections by different people is not walked whole */
    for (unsigned seen = 0; v->nwork && seen < CORR_WALK_MAX; seen++) {
        uint64_t x = v->work[--v->nwork];
        if (pair_find(&v->authored, x, ident))
            continue; /* reached before, and with it all that x corrects */
        if (!pair_put(&v->authored, x, ident, r->seq)) {
            oom(v);
            return;
        }
        for (uint32_t i = 0;; i++) {
            const pslot *p = pair_find(&v->corrof, x, i);
            if (!p)
                break;
            if (!work_push(v, p->val)) {
                oom(v);
                return;
            }
        }
    }
}

/* [REV-21] The approval r by the person ident covers record x: did they correct it? */
static void
own_correction(rv *v, rec *r, uint32_t ident, uint64_t x)
{
    const pslot *p = x == UINT64_MAX ? NULL : pair_find(&v->authored, x, ident);
    if (!p)
        return;
    uint64_t seqs[3] = {r->seq, p->val, x};
    emit(v, R_APPROVED_OWN_CORRECTION, r->study, (int64_t)r->host_time_ns, seqs, 3,
         "the approval #%llu of record #%llu is signed by the person who wrote correction #%llu "
         "of it: they approved content they wrote themselves",
         (unsigned long long)r->seq, (unsigned long long)x, (unsigned long long)p->val);
}

static void
user_record(rv *v, rec *r)
{
    int64_t t = (int64_t)r->host_time_ns;
    uint32_t sidx = intern_z(&v->studies, r->study);
    uint32_t org = intern_z(&v->orgs, r->signer_org);
    studyst *s = sidx == UINT32_MAX ? NULL : study_get(v, sidx);
    if (!s || org == UINT32_MAX) {
        oom(v);
        return;
    }
    bool is_plan = strcmp(r->kind, "plan") == 0;
    if (!s->plan && !is_plan && !s->noplan++)
        s->noplan_first = r->seq;
    /* [REV-17] a quiet spell in the study */
    int64_t gap = s->plan && s->plan->gap_ns ? s->plan->gap_ns : LDG_GAP_DEFAULT_NS;
    if (s->last_t && t - s->last_t > gap) {
        uint64_t seqs[2] = {r->seq, s->last_seq};
        char d[32], g[32];
        fmt_dur(t - s->last_t, d, sizeof d);
        fmt_dur(gap, g, sizeof g);
        emit(v, R_GAP, r->study, s->last_t, seqs, 2,
             "no record in the study for %s (from #%llu), longer than the plan's gap of %s", d,
             (unsigned long long)s->last_seq, g);
    }
    s->last_t = t;
    s->last_seq = r->seq;
    check_time(v, r, s);
    /* [REV-13][REV-14] the signer's key: its last use, and revocations of its identity */
    keyrec *k = key_find(v, r->signer_pub);
    if (k && k->superseded_t) {
        char why[64];
        snprintf(why, sizeof why, "still signed #%llu", (unsigned long long)r->seq);
        dup_identity(v, k, t, why);
    }
    if (k) {
        k->last_t = t;
        k->last_seq = r->seq;
        k->last_study = sidx;
        for (size_t i = 0; i < v->nkeys; i++) {
            keyrec *o = &v->keys[i];
            if (o == k || o->ident != k->ident || !o->revoked_t || o->revoked_t >= t ||
                r->time_ns >= o->revoked_t)
                continue;
            uint64_t seqs[2] = {r->seq, o->revoked_seq};
            char c[40], rt[40];
            ldg_time_format(r->time_ns, 0, 1, c);
            fmt_time(o->revoked_t, rt);
            emit(v, R_CLAIM_BEFORE_REVOKE, r->study, t, seqs, 2,
                 "claims %s, before the revocation of the same person's earlier key (#%llu, %s)", c,
                 (unsigned long long)o->revoked_seq, rt);
            break;
        }
    }
    if (strcmp(r->kind, "correction") == 0 && reason_generic(r->reason))
        emit(v, R_GENERIC_REASON, r->study, t, &r->seq, 1,
             "the correction's reason says nothing about what changed or why: \"%s\"",
             r->reason ? r->reason : "");
    json_t *body = NULL;
    if (body_wanted(v, r, s)) {
        /* read only now, and only after its commitment checks [FMT-6] */
        uint8_t c[LDG_HASH_BYTES];
        ldgi_body_commit(r->salt, (const uint8_t *)r->body, r->body_len, c);
        if (sodium_memcmp(c, r->commitment, LDG_HASH_BYTES) != 0) {
            emit(v, R_WITHHELD, r->study, t, &r->seq, 1, "the body does not match its commitment");
            r->body = NULL;
            r->body_state = LDG_BODY_MISMATCH;
        } else {
            body = json_loadb(r->body, r->body_len, 0, NULL);
        }
    }
    /* an erasure names the record whose body it removes: no answer, closing or approval */
    bool approves =
        strcmp(r->kind, "approval") == 0 && r->meaning && strcmp(r->meaning, "approval") == 0;
    for (size_t i = 0; i < r->nrefs && strcmp(r->kind, "erasure") != 0; i++) {
        item *it = map_find(&v->items, v->t, r->refs[i]);
        uint64_t target;
        if (approves && k && v->authored.n)
            own_correction(v, r, k->ident, it ? it->seq : ref_seq(v, r->refs[i]));
        if (it)
            on_ref(v, it, r, body, org);
        else if (strcmp(r->kind, "approval") == 0 &&
                 (target = ref_seq(v, r->refs[i])) != UINT64_MAX) {
            /* [REV-10] remembered only for records approved: a few bytes each */
            item *a = map_get(&v->items, v->t, r->refs[i], target);
            if (!a) {
                oom(v);
                break;
            }
            a->t = t;
            a->study = sidx;
            on_ref(v, a, r, body, org);
        }
    }
    if (k && strcmp(r->kind, "correction") == 0)
        on_correction(v, r, k->ident);
    if (is_plan && r->body_state == LDG_BODY_OK && body) {
        ldg_plan *p = NULL;
        if (ldg_plan_parse(r->body, r->body_len, &p, NULL) == LDG_OK) {
            if (v->nplans == v->pcap) {
                size_t cap = v->pcap ? v->pcap * 2 : 8;
                ldg_plan **np = ldgi_realloc(v->plans, cap * sizeof *np);
                if (!np) {
                    ldg_plan_free(p);
                    json_decref(body);
                    oom(v);
                    return;
                }
                v->plans = np;
                v->pcap = cap;
            }
            v->plans[v->nplans++] = p;
            s->plan = p;
            s->plan_seq = r->seq;
            is_plan = false; /* read */
        }
    }
    if (is_plan) {
        /* [PLAN-1] in force from its entry even unread: none of its thresholds, and said so */
        s->plan = NULL;
        s->plan_seq = r->seq;
        emit(v, R_NO_PLAN, r->study, t, &r->seq, 1,
             "the plan #%llu is in force from its entry, but its body %s: none of its "
             "thresholds applies",
             (unsigned long long)r->seq,
             r->body_state == LDG_BODY_ERASED     ? "was erased"
             : r->body_state == LDG_BODY_WITHHELD ? "is missing"
             : r->body_state == LDG_BODY_MISMATCH ? "does not match its commitment"
                                                  : "is not a plan ldg can read");
    }
    open_items(v, r, body, sidx, s->plan, org);
    json_decref(body);
}

/* One decoded entry of the walk, judged (the caller then feeds the key registry). */
static void
walk_one(rv *v, rec *r, const ldgi_entry *ep, const ldgi_stmt *st)
{
    const ldgi_entry e = *ep;
    r->host_time_ns = (int64_t)e.time_ns;
    r->has_clock = e.has_clock;
    r->clock_ns = e.clock_ns;
    if ((v->o->has_as_of && r->host_time_ns > v->o->as_of_ns) ||
        (v->o->upto_size && r->seq >= v->o->upto_size)) {
        v->past = true; /* host time never decreases: nothing after is in scope */
        return;
    }
    ldgi_kindclass kc = ldgi_kind_class(st->kind.p, st->kind.len);
    if (!copy_str(r->kind, sizeof r->kind, st->kind) ||
        !copy_str(r->study, sizeof r->study, st->study))
        kc = LDGI_KIND_UNKNOWN; /* verify refuses such a statement; nothing to judge */
    r->user = kc == LDGI_KIND_USER;
    bool in_study = !v->o->study || strcmp(r->study, v->o->study) == 0;
    if (r->has_clock && (in_study || kc != LDGI_KIND_USER)) {
        char c[40];
        fmt_time((int64_t)r->clock_ns, c);
        emit(v, R_CLOCK, r->study, r->host_time_ns, &r->seq, 1,
             "the host clock read %s, before the ledger's last time: the time was held", c);
    }
    r->key_pub = st->has_key ? st->key_pub : NULL;
    r->key_name[0] = r->key_org[0] = '\0';
    if (kc == LDGI_KIND_KEY_ADD && st->key_full &&
        copy_str(r->key_name, sizeof r->key_name, st->key_name) &&
        copy_str(r->key_org, sizeof r->key_org, st->key_org)) {
        r->key_admin = false;
        for (size_t i = 0; i < st->nroles; i++)
            if (st->roles[i].len == 5 && memcmp(st->roles[i].p, "admin", 5) == 0)
                r->key_admin = true;
        on_key_add(v, r);
    } else if (kc == LDGI_KIND_KEY_REVOKE && st->has_key) {
        on_key_revoke(v, r);
    }
    if (kc != LDGI_KIND_USER || !in_study)
        return;
    v->sum->analysed++;
    r->meaning = st->has_meaning && copy_str(r->meaning_buf, sizeof r->meaning_buf, st->meaning)
                     ? r->meaning_buf
                     : NULL;
    r->reason = st->has_reason && copy_str(r->reason_buf, sizeof r->reason_buf, st->reason)
                    ? r->reason_buf
                    : NULL;
    r->time_ns = st->time_ns;
    r->nrefs = st->nrefs;
    r->refs = (const uint8_t(*)[LDG_HASH_BYTES])st->refs;
    r->signer_pub = st->actor;
    const ldg_keyinfo *k = ldgi_reg_find(v->reg, st->actor);
    r->signer_org = k && k->org ? k->org : "";
    r->commitment = st->body;
    /* the body: present (read later, if a rule needs it), erased, or missing [POL-11] */
    uint8_t bk[8];
    const uint8_t *bv;
    size_t bl;
    ldgi_be64(bk, r->seq);
    r->body = NULL;
    r->body_len = 0;
    r->erased_by = UINT64_MAX;
    ldg_status s = ldgi_cur_find_next(v->bodies, bk, 8, &bv, &bl, v->err);
    if (s == LDG_OK && bl >= LDG_SALT_BYTES) {
        r->body_state = LDG_BODY_OK;
        r->salt = bv;
        r->body = (const char *)bv + LDG_SALT_BYTES;
        r->body_len = bl - LDG_SALT_BYTES;
    } else if (s == LDG_OK) {
        r->body_state = LDG_BODY_MISMATCH;
    } else if (s == LDG_E_NOTFOUND) {
        s = ldgi_erasure_of(v->t, r->seq, rec_leaf(r), &r->erased_by, v->err);
        if (s != LDG_OK && s != LDG_E_NOTFOUND) {
            v->status = s;
            return;
        }
        r->body_state = s == LDG_OK ? LDG_BODY_ERASED : LDG_BODY_WITHHELD;
    } else {
        v->status = s;
        return;
    }
    if (r->body_state == LDG_BODY_ERASED)
        emit(v, R_ERASED, r->study, r->host_time_ns, (uint64_t[]){r->seq, r->erased_by}, 2,
             "the body was erased by the signed erasure record #%llu",
             (unsigned long long)r->erased_by);
    else if (r->body_state != LDG_BODY_OK)
        emit(v, R_WITHHELD, r->study, r->host_time_ns, &r->seq, 1, "%s",
             r->body_state == LDG_BODY_WITHHELD
                 ? "the body is missing and no erasure record explains it"
                 : "the body does not match its commitment");
    user_record(v, r);
}

/*
 * Decoding is most of the walk, and each entry decodes on its own: it is done
 * a batch at a time on the helper threads while the caller judges the batch
 * before, in order (the pattern of export.c).  The entries are views into
 * the snapshot's map, which lives as long as the read transaction.
 */
#define DBATCH 256
#define DTHREADS 16

typedef struct dslot {
    const uint8_t *entry;
    size_t len;
    bool ok;
    const char *why;
    ldgi_entry e;
    ldgi_stmt st;
} dslot;

typedef struct dbatch {
    dslot s[DBATCH];
    size_t n;
    uint64_t first; /* seq of s[0] */
    _Atomic size_t next;
    pthread_t th[DTHREADS];
    unsigned started;
} dbatch;

static void *
decode_some(void *arg)
{
    dbatch *b = arg;
    for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;) {
        dslot *d = &b->s[i];
        d->why = "?";
        /*
         * Verify checked these very bytes in this snapshot (or, below a QA checkpoint,
         * their tree head): no canonical-form recheck again; both decoders stay bounded
         * on any input [FMT-2][FMT-3].
         */
        d->ok = ldgi_entry_decode_proven(d->entry, d->len, &d->e, &d->why) &&
                ldgi_stmt_decode_proven(d->e.stmt, d->e.stmt_len, &d->st, &d->why);
    }
    return NULL;
}

static void
batch_start(dbatch *b, unsigned jobs)
{
    atomic_store(&b->next, 0);
    b->started = 0;
    for (unsigned t = 1; t < jobs && t <= DTHREADS && b->n > 16; t++)
        if (pthread_create(&b->th[b->started], NULL, decode_some, b) == 0)
            b->started++;
}

static void
batch_join(dbatch *b)
{
    decode_some(b); /* the caller helps with what is left */
    for (unsigned t = 0; t < b->started; t++)
        pthread_join(b->th[t], NULL);
    b->started = 0;
}

/* Judges a decoded batch in seq order; false to stop (an error, or past --as-of). */
static bool
batch_judge(rv *v, dbatch *b, rec *r)
{
    batch_join(b);
    for (size_t i = 0; i < b->n && v->status == LDG_OK && !v->past; i++) {
        dslot *d = &b->s[i];
        r->seq = b->first + i;
        if (!d->ok) {
            v->status = ldgi_fail(v->err, LDG_E_CORRUPT, "entry %llu does not decode (%s)",
                                  (unsigned long long)r->seq, d->why ? d->why : "?");
            break;
        }
        r->entry = d->entry;
        r->entry_len = d->len;
        r->has_leaf = false;
        r->user = false;
        walk_one(v, r, &d->e, &d->st);
        if (v->past)
            break;
        /* the registry at each record is the one the records before it make */
        ldg_status s;
        if (v->status == LDG_OK && !r->user &&
            (s = ldgi_reg_apply(v->reg, r->seq, d->entry, d->len, v->err)) != LDG_OK)
            v->status = s;
        v->walked++;
    }
    b->n = 0;
    if (v->o->on_progress)
        v->o->on_progress(v->o->ctx, v->walked, v->verified);
    return v->status == LDG_OK && !v->past;
}

/* Walks entries 0 .. verified - 1 of the snapshot, in seq order. */
static ldg_status
walk(rv *v)
{
    ldgi_cur *c;
    ldg_status s = ldgi_cur_open(v->t, LDGI_DB_ENTRIES, &c, v->err);
    if (s != LDG_OK)
        return s;
    if ((s = ldgi_cur_open(v->t, LDGI_DB_BODIES, &v->bodies, v->err)) != LDG_OK) {
        ldgi_cur_close(c);
        return s;
    }
    dbatch *bb = ldgi_calloc(2, sizeof *bb);
    rec *r = ldgi_malloc(sizeof *r);
    if (!bb || !r) {
        free(bb);
        free(r);
        ldgi_cur_close(c);
        ldgi_cur_close(v->bodies);
        v->bodies = NULL;
        return ldgi_fail(v->err, LDG_E_NOMEM, "review: out of memory");
    }
    unsigned jobs = v->o->jobs ? v->o->jobs : ldgi_ncpu();
    dbatch *cur = &bb[0], *prev = NULL;
    const uint8_t *k, *val;
    size_t kl, vl;
    uint64_t read = 0;
    bool go = true;
    for (s = ldgi_cur_seek(c, NULL, 0, &k, &kl, &val, &vl, v->err); s == LDG_OK && go;
         s = ldgi_cur_next(c, &k, &kl, &val, &vl, v->err)) {
        if (read == v->verified)
            break;
        if (kl != 8 || ldgi_rd64(k) != read) {
            s = ldgi_fail(v->err, LDG_E_CORRUPT, "entries: entry %llu is missing",
                          (unsigned long long)read);
            break;
        }
        if (!cur->n)
            cur->first = read;
        cur->s[cur->n].entry = val;
        cur->s[cur->n++].len = vl;
        read++;
        if ((read & 4095) == 0 && ldgi_mapped_bytes() > LDGI_MAP_BUDGET)
            ldgi_map_release(v->l);
        if (cur->n == DBATCH) {
            /* this batch to the helpers; meanwhile the one before is judged */
            batch_start(cur, jobs);
            if (prev)
                go = batch_judge(v, prev, r);
            prev = cur;
            cur = cur == &bb[0] ? &bb[1] : &bb[0];
        }
    }
    if (s == LDG_E_NOTFOUND)
        s = LDG_OK;
    if (s == LDG_OK && go && prev)
        go = batch_judge(v, prev, r);
    if (s == LDG_OK && go && cur->n) {
        batch_start(cur, jobs);
        batch_judge(v, cur, r);
    }
    /* on an error or a stop: no helper may still be running */
    for (int i = 0; i < 2; i++)
        if (bb[i].started)
            batch_join(&bb[i]);
    free(bb);
    free(r);
    ldgi_cur_close(c);
    ldgi_cur_close(v->bodies);
    v->bodies = NULL;
    return s != LDG_OK ? s : v->status;
}

/* ------------------------------------------------------------ end of walk -- */

static int
item_cmp(const void *a, const void *b)
{
    const item *x = *(item *const *)a, *y = *(item *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
finish_items(rv *v)
{
    int64_t now = v->now;
    for (size_t i = 0; i < v->nkeys; i++) {
        keyrec *k = &v->keys[i];
        if (k->superseded_t && !k->revoked_t && now - k->superseded_t > ROTATE_NS)
            dup_identity(v, k, now, "is still active, more than 24 h");
    }
    /* in seq order, for people: the slots still in use, sorted (one pointer each) */
    item **live = v->items.n ? ldgi_malloc(v->items.n * sizeof *live) : NULL;
    size_t nlive = 0;
    for (size_t i = 0; live && i < v->items.cap; i++)
        if (v->items.v[i].seq != UINT64_MAX)
            live[nlive++] = &v->items.v[i];
    if (nlive)
        qsort(live, nlive, sizeof *live, item_cmp);
    for (size_t i = 0; i < (live ? nlive : v->items.cap); i++) {
        item *it = live ? live[i] : &v->items.v[i];
        if (it->seq == UINT64_MAX)
            continue;
        const char *study = v->studies.s[it->study];
        uint32_t f = it->flags;
        if ((f & IT_RESPONSE) && !(f & (F_ANSWERED | F_CLOSED))) {
            v->groups[it->group].open++;
            if (now > it->due) {
                char d[32], due[40];
                fmt_dur(now - it->due, d, sizeof d);
                fmt_time(it->due, due);
                emit(v, R_UNANSWERED, study, it->due, &it->seq, 1,
                     "no answer from the responding party; due %s, %s ago", due, d);
            }
            judge_escalation(v, it, now);
        }
        if ((f & IT_ESCALATION) && !(f & F_CLOSED)) {
            char d[32];
            fmt_dur(now - it->t, d, sizeof d);
            emit(v, R_ESC_OPEN, study, it->t, &it->seq, 1,
                 "the escalation is open (no record closes it) after %s", d);
        }
        if ((f & IT_DEVIATION) && !(f & (F_CAPA | F_CLOSED)))
            emit(v, R_DEV_NO_CAPA, study, it->t, &it->seq, 1,
                 "the deviation has neither a CAPA action (capa: true) nor a closing record");
        if (f & (IT_DECISION | IT_PLAN)) {
            size_t n = 0;
            char *const *orgs = NULL;
            if (f & IT_DECISION) {
                const ldg_plan_approval *a = it->need;
                n = a->norgs;
                orgs = a->orgs;
            } else {
                const ldg_plan *p = it->need;
                n = p->naccept;
                orgs = p->accept;
            }
            char miss[512] = "";
            size_t ml = 0;
            for (size_t j = 0; j < n && j < 32; j++)
                if (!(it->got >> j & 1) && ml < sizeof miss)
                    ml += (size_t)snprintf(miss + ml, sizeof miss - ml, "%s%s", ml ? ", " : "",
                                           orgs[j]);
            if (miss[0])
                emit(v, f & IT_DECISION ? R_UNAPPROVED : R_PLAN_UNACCEPTED, study, it->t, &it->seq,
                     1, "%s: no approval from %s",
                     f & IT_DECISION ? "the plan requires approvals of this decision"
                                     : "the plan is not accepted by every organisation in its "
                                       "accept list",
                     miss);
        }
    }
    free(live);
    for (size_t i = 0; i < v->nst; i++)
        if (v->st[i].noplan)
            emit(v, R_NO_PLAN, v->studies.s[i], 0, &v->st[i].noplan_first, 1,
                 "%llu record%s of the study %s no communication plan in force (the first #%llu)",
                 (unsigned long long)v->st[i].noplan, v->st[i].noplan == 1 ? "" : "s",
                 v->st[i].noplan == 1 ? "has" : "have", (unsigned long long)v->st[i].noplan_first);
}

static int
group_cmp(const void *a, const void *b, void *ctx)
{
    const group *x = a, *y = b;
    rv *v = ctx;
    if (x->month != y->month)
        return x->month < y->month ? -1 : 1;
    int c = strcmp(v->orgs.s[x->org], v->orgs.s[y->org]);
    return c ? c : strcmp(v->levels.s[x->level], v->levels.s[y->level]);
}

static void
kpis(rv *v)
{
    /* insertion sort: the groups are few (months x organisations x levels) */
    for (size_t i = 1; i < v->ngroups; i++)
        for (size_t j = i; j > 0 && group_cmp(&v->groups[j - 1], &v->groups[j], v) > 0; j--) {
            group tmp = v->groups[j];
            v->groups[j] = v->groups[j - 1];
            v->groups[j - 1] = tmp;
        }
    times all = {0}, allq = {0};
    ldg_review_kpi *tot = &v->sum->total;
    memset(tot, 0, sizeof *tot);
    tot->org = tot->level = "";
    for (size_t i = 0; i < v->ngroups; i++) {
        group *g = &v->groups[i];
        ldg_review_kpi k = {.org = v->orgs.s[g->org],
                            .level = v->levels.s[g->level],
                            .items = g->items,
                            .answered = g->answered,
                            .on_time = g->on_time,
                            .open = g->open,
                            .queries_closed = g->qclosed,
                            .escalations_raised = g->esc_raised,
                            .escalations_closed = g->esc_closed};
        snprintf(k.month, sizeof k.month, "%04u-%02u", (unsigned)(g->month / 12) % 10000u,
                 (unsigned)(g->month % 12) % 100u + 1u);
        for (size_t j = 0; j < g->resp.n; j++)
            if (!times_push(&all, g->resp.v[j]))
                oom(v);
        for (size_t j = 0; j < g->qclose.n; j++)
            if (!times_push(&allq, g->qclose.v[j]))
                oom(v);
        k.response_median_ns = nearest_rank(&g->resp, 50);
        k.response_p90_ns = nearest_rank(&g->resp, 90);
        k.query_closure_median_ns = nearest_rank(&g->qclose, 50);
        tot->items += k.items;
        tot->answered += k.answered;
        tot->on_time += k.on_time;
        tot->open += k.open;
        tot->queries_closed += k.queries_closed;
        tot->escalations_raised += k.escalations_raised;
        tot->escalations_closed += k.escalations_closed;
        if (v->o->on_kpi)
            v->o->on_kpi(v->o->ctx, &k);
    }
    tot->response_median_ns = nearest_rank(&all, 50);
    tot->response_p90_ns = nearest_rank(&all, 90);
    tot->query_closure_median_ns = nearest_rank(&allq, 50);
    free(all.v);
    free(allq.v);
}

/* ----------------------------------------------------------------- verify -- */

static void
on_verify(void *ctx, ldg_finding_level lvl, uint64_t seq, const char *check, const char *detail)
{
    rv *v = ctx;
    if (lvl != LDG_FINDING_FAIL)
        return; /* held clocks and erasures are judged by their own rules */
    emit(v, R_INTEGRITY, "", 0, &seq, seq == UINT64_MAX ? 0 : 1,
         "verify: %s: %s; nothing below can be relied on", check, detail);
}

static void
on_vprogress(void *ctx, uint64_t done, uint64_t total)
{
    rv *v = ctx;
    if (v->o->on_progress)
        v->o->on_progress(v->o->ctx, done, total);
}

/* Verifies the snapshot t the analysis then reads [REV-0]. */
static ldg_status
verify_first(rv *v, ldgi_txn *t)
{
    const ldg_review_opts *o = v->o;
    ldg_verify_opts vo = {
        .jobs = o->jobs, .on_finding = on_verify, .on_progress = on_vprogress, .ctx = v};
    ldg_review_summary *sum = v->sum;
    /* [REV-0] with upto_size, the entries reviewed must give the caller's checkpoint */
    ldgi_verify_x x = {.snap = t, .tie_size = o->upto_size};
    memcpy(x.tie_root, o->upto_root, LDG_HASH_BYTES);
    if (!o->since_note)
        return ldgi_verify_run(v->l, &vo, &sum->verify, &x, v->err);
    int rewritten = 0;
    ldg_status s = ldgi_verify_since(v->l, &vo, o->since_note, o->since_len, o->qa, o->nqa,
                                     &sum->verify, sum->qa_who, sum->since_why,
                                     sizeof sum->since_why, &rewritten, &x, v->err);
    if (s == LDG_OK && rewritten) {
        emit(v, R_INTEGRITY, "", 0, NULL, 0, "the checkpoint: %s; nothing below can be relied on",
             sum->since_why);
        sum->verify.failures++;
    }
    return s;
}

static void
rv_free(rv *v)
{
    strtab_free(&v->studies);
    strtab_free(&v->orgs);
    strtab_free(&v->levels);
    strtab_free(&v->idents);
    free(v->st);
    free(v->keys);
    for (size_t i = 0; i < v->nplans; i++)
        ldg_plan_free(v->plans[i]);
    free(v->plans);
    for (size_t i = 0; i < v->ngroups; i++) {
        free(v->groups[i].resp.v);
        free(v->groups[i].qclose.v);
    }
    free(v->groups);
    free(v->items.v);
    free(v->corrof.v);
    free(v->authored.v);
    free(v->work);
    ldgi_reg_free(v->reg);
}

ldg_status
ldg_review_run(ldg_ledger *l, const ldg_review_opts *o, ldg_review_summary *sum, ldg_err *err)
{
    static const ldg_review_opts none = {0};
    if (!o)
        o = &none;
    memset(sum, 0, sizeof *sum);
    rv *v = ldgi_calloc(1, sizeof *v);
    if (!v)
        return ldgi_fail(err, LDG_E_NOMEM, "review: out of memory");
    v->o = o;
    v->sum = sum;
    v->err = err;
    v->l = l;
    if (o->has_as_of)
        v->now = o->as_of_ns;
    else if (o->now_ns)
        v->now = o->now_ns;
    else
        ldg_time_now(&v->now, NULL);
    sum->as_of_ns = v->now;
    /* One read snapshot: verified first, then analysed [REV-0]. */
    ldgi_txn *t = NULL;
    ldg_status s = ldgi_txn_begin(l, false, &t, err);
    if (s == LDG_OK)
        s = verify_first(v, t);
    if (s != LDG_OK) {
        ldgi_txn_abort(t);
        goto out;
    }
    v->verified = sum->verify.entries;
    if (!(v->reg = ldgi_reg_new())) {
        ldgi_txn_abort(t);
        s = ldgi_fail(err, LDG_E_NOMEM, "review: out of memory");
        goto out;
    }
    v->t = t;
    s = walk(v); /* exactly the entries verify checked: seq 0 .. entries - 1 */
    v->t = NULL;
    ldgi_txn_abort(t);
    if (s == LDG_OK && !v->past && v->walked != v->verified)
        emit(v, R_INTEGRITY, "", 0, NULL, 0,
             "the snapshot holds %llu entries, verify checked %llu: nothing below can be relied "
             "on",
             (unsigned long long)v->walked, (unsigned long long)v->verified);
    if (s == LDG_E_CORRUPT) {
        emit(v, R_INTEGRITY, "", 0, NULL, 0, "%s; the analysis stopped there",
             err ? err->msg : "an entry does not decode");
        v->status = s = LDG_OK;
    } else if (s != LDG_OK) {
        goto out;
    }
    finish_items(v);
    if (v->status == LDG_OK)
        kpis(v);
    s = v->status;
    sum->intact = v->bad == 0;
out:
    rv_free(v);
    free(v);
    return s;
}
