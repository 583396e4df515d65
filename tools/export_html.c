/*
 * export_html.c - see export_html.h; spec/export.md [EXP-7], [EXP-13].
 *
 * Threads: a record whose refs name no exported record opens a thread; a
 * record that refs one joins that record's thread.  Whether a thread
 * expects a response, from whom and by when is the communication plan's
 * word, the plan in force at its opening record [PLAN-4][PLAN-5] (never an
 * option of the exporter): its response time is from the opening record to
 * the first record of the party the plan names, on the ledger's time of
 * record (host time: it never decreases and the signer cannot set it);
 * past the due time it is flagged overdue, and so is an open thread.
 *
 * The printed trail [EXP-13]: a cover page, "Page x of y" with the study
 * and the export id in the margin of every page (CSS @page margin boxes),
 * the signatures (21 CFR 11.50) on their own page, each record's ledger
 * time before its claimed time, corrections with their history beside what
 * they correct.  Text of the ledger in the page margins is in a CSS string:
 * it goes through the one escaping path (ESC_TEXT) and then every code
 * point but a letter or digit is written as a CSS escape, so nothing can
 * end the string or the style element.
 */
#include "export_html.h"
#include "tool.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_H 3600000000000LL
#define NS_PER_DAY (24 * NS_PER_H)
#define MAX_ORGS 4096
#define MAX_THREADS_SHOWN 2000
#define MAX_FIELDS_SHOWN 12          /* body fields in a record row besides the subject [EXP-7] */
#define MAX_THREAD_ROWS 20000        /* records listed in the thread view */
#define MAX_SUBJECT_BYTES (8u << 20) /* subjects kept for the thread view */
#define MAX_STUDIES 64
#define NO_THREAD UINT32_MAX
#define NOSEQ UINT64_MAX
#define MARGIN_STUDY_MAX 64  /* bytes of the study id in the page margins */
#define MARGIN_ORIGIN_MAX 64 /* bytes of the ledger origin in the page margins */
/* longer study ids may wrap, so that no column is pushed off the page */
#define STUDY_NOWRAP_MAX 48

static const struct {
    const char *name;
    const char *colour;
} kinds[] = {
    {"communication", "#4e79a7"}, {"meeting", "#76b7b2"},    {"query", "#f28e2b"},
    {"response", "#59a14f"},      {"decision", "#e15759"},   {"approval", "#b07aa1"},
    {"rejection", "#9c755f"},     {"escalation", "#ff9da7"}, {"deviation", "#edc948"},
    {"action", "#bab0ac"},        {"document", "#86bcb6"},   {"correction", "#d37295"},
    {"plan", "#499894"},          {"erasure", "#79706e"},    {"genesis", "#888888"},
    {"key.add", "#aaaaaa"},       {"key.revoke", "#666666"}, {"other", "#cccccc"},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])
#define K_GENESIS 14 /* kinds[] before it are the trail's own (user) kinds */
#define IS_USER(k) ((k) < K_GENESIS)

typedef struct hrec {
    uint64_t seq;
    uint64_t parent;   /* the record it answers in its thread, or NOSEQ */
    uint64_t corrects; /* a correction: the original at the start of its chain; else NOSEQ */
    int64_t t;         /* host time */
    char *subject;     /* for the thread view; may be NULL */
    uint32_t thread;
    uint16_t kind, org;
} hrec;

#define RESP_NONE UINT16_MAX        /* the plan expects no response */
#define RESP_OTHER (UINT16_MAX - 1) /* a party other than the opener's */
#define RESP_ANY (UINT16_MAX - 2)   /* anyone */

typedef struct thread {
    uint32_t root;                                /* index into recs */
    int64_t opened, response, decision, approval; /* 0: none yet */
    int64_t due;                                  /* when the plan wants the response */
    uint16_t respond;                             /* an org index, or RESP_* */
    bool plan;                                    /* a plan was in force at the opening */
    uint32_t count;
    char *subject;
} thread;

typedef struct corr {
    uint64_t target; /* the original record, at the start of a chain of corrections */
    uint64_t direct; /* the record the correction refs (the original or an earlier correction) */
    uint64_t by;
    int64_t t; /* ledger time of the correction */
    char *reason, *who, *subject;
} corr;

/* A key the export names (its key.add record, or a record it signed): for key.revoke rows. */
typedef struct hkey {
    uint8_t pub[LDG_PUB_BYTES];
    char id[LDG_NAME_MAX + 1];
    char *name, *org;
} hkey;

struct html_ctx {
    hrec *r;
    size_t n, cap;
    char *orgs[MAX_ORGS];
    size_t norgs;
    bool party[MAX_ORGS]; /* the organisation signed a record of the trail itself */
    thread *th;
    size_t nth, capth;
    corr *corr;
    size_t ncorr, capcorr;
    hkey *keys;
    size_t nkeys, capkeys, lastkey;
    char *studies[MAX_STUDIES]; /* of the trail's own records, in order of first appearance */
    size_t nstudies;
    bool more_studies;
    size_t subject_bytes;
    uint64_t plan_seq;  /* the newest plan record of the export, or NOSEQ */
    char *plan_desc;    /* its subject, version and parties */
    uint64_t plan_last; /* the plan in force at the last record [PLAN-3], or NOSEQ */
    FILE *sigs;         /* the signatures page, written by html_row */
    emit *sigem;
    uint64_t nsigs;
    bool withhold;
    uint64_t kind_count[NKINDS];
    bool oom, corr_sorted;
};

static int
corr_cmp(const void *a, const void *b)
{
    const corr *x = a, *y = b;
    if (x->target != y->target)
        return x->target < y->target ? -1 : 1;
    return (x->by > y->by) - (x->by < y->by);
}

static unsigned
kind_index(const char *k)
{
    for (unsigned i = 0; i + 1 < NKINDS; i++)
        if (strcmp(kinds[i].name, k) == 0)
            return i;
    return NKINDS - 1;
}

static uint16_t
org_index(html_ctx *h, const char *org)
{
    for (size_t i = 0; i < h->norgs; i++)
        if (strcmp(h->orgs[i], org) == 0)
            return (uint16_t)i;
    if (h->norgs == MAX_ORGS)
        return MAX_ORGS - 1; /* the last slot stands for all the rest */
    char *c = strdup(org);
    if (!c) {
        h->oom = true;
        return 0;
    }
    h->orgs[h->norgs] = c;
    return (uint16_t)h->norgs++;
}

static const hrec *
find(const html_ctx *h, uint64_t seq)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->r[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n && h->r[lo].seq == seq ? &h->r[lo] : NULL;
}

/* The body's "subject" (else "title"), cut to max bytes on a UTF-8 boundary; malloc'd or NULL. */
static char *
subject_of(const ldg_record *r, size_t max)
{
    if (!r->body)
        return NULL;
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *s = b ? json_object_get(b, "subject") : NULL;
    if (!json_is_string(s) && b)
        s = json_object_get(b, "title");
    char *out = NULL;
    if (json_is_string(s)) {
        const char *v = json_string_value(s);
        size_t n = strlen(v);
        if (n > max) {
            n = max;
            while (n && ((unsigned char)v[n] & 0xC0) == 0x80)
                n--;
        }
        out = strndup(v, n);
    }
    json_decref(b);
    return out;
}

static const char *
org_of(const ldg_record *r)
{
    return r->signer.org ? r->signer.org : "(unregistered key)";
}

static const char *
name_of(const ldg_record *r)
{
    return r->signer.name ? r->signer.name : "(unregistered key)";
}

html_ctx *
html_new(bool withhold)
{
    html_ctx *h = calloc(1, sizeof *h);
    if (h) {
        h->withhold = withhold;
        h->plan_seq = h->plan_last = NOSEQ;
    }
    return h;
}

void
html_free(html_ctx *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->norgs; i++)
        free(h->orgs[i]);
    for (size_t i = 0; i < h->nth; i++)
        free(h->th[i].subject);
    for (size_t i = 0; i < h->n; i++)
        free(h->r[i].subject);
    for (size_t i = 0; i < h->ncorr; i++) {
        free(h->corr[i].reason);
        free(h->corr[i].who);
        free(h->corr[i].subject);
    }
    for (size_t i = 0; i < h->nkeys; i++) {
        free(h->keys[i].name);
        free(h->keys[i].org);
    }
    for (size_t i = 0; i < h->nstudies; i++)
        free(h->studies[i]);
    free(h->plan_desc);
    if (h->sigs)
        fclose(h->sigs);
    free(h->sigem);
    free(h->r);
    free(h->th);
    free(h->corr);
    free(h->keys);
    free(h);
}

static bool
grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 256;
    void *q = realloc(*p, nc * size);
    if (!q)
        return false;
    *p = q;
    *cap = nc;
    return true;
}

static const hkey *
key_find(const html_ctx *h, const uint8_t pub[LDG_PUB_BYTES])
{
    if (h->nkeys && memcmp(h->keys[h->lastkey].pub, pub, LDG_PUB_BYTES) == 0)
        return &h->keys[h->lastkey]; /* the same signer as the record before: the usual case */
    for (size_t i = h->nkeys; i-- > 0;)
        if (memcmp(h->keys[i].pub, pub, LDG_PUB_BYTES) == 0)
            return &h->keys[i];
    return NULL;
}

/* Remembers who holds a key, from its key record or a record it signed. */
static void
key_note(html_ctx *h, const ldg_keyinfo *k)
{
    const hkey *known = k->name ? key_find(h, k->pub) : NULL;
    if (known)
        h->lastkey = (size_t)(known - h->keys);
    if (!k->name || known)
        return;
    if (!grow((void **)&h->keys, &h->capkeys, h->nkeys, sizeof *h->keys)) {
        h->oom = true;
        return;
    }
    hkey *x = &h->keys[h->nkeys];
    memcpy(x->pub, k->pub, LDG_PUB_BYTES);
    snprintf(x->id, sizeof x->id, "%s", k->id);
    x->name = strdup(k->name);
    x->org = strdup(k->org ? k->org : "");
    if (!x->name || !x->org) {
        free(x->name);
        free(x->org);
        h->oom = true;
        return;
    }
    h->nkeys++;
}

static void
study_note(html_ctx *h, const char *study)
{
    for (size_t i = 0; i < h->nstudies; i++)
        if (strcmp(h->studies[i], study) == 0)
            return;
    if (h->nstudies == MAX_STUDIES) {
        h->more_studies = true;
        return;
    }
    if (!(h->studies[h->nstudies] = strdup(study)))
        h->oom = true;
    else
        h->nstudies++;
}

/* A plan record of the export [PLAN-2]: what the cover says of it. */
static void
plan_note(html_ctx *h, const ldg_record *r)
{
    ldg_plan *p = NULL;
    ldg_err err;
    if (!r->body || ldg_plan_parse(r->body, r->body_len, &p, &err) != LDG_OK)
        return; /* the row shows the body as it is */
    size_t n = strlen(p->subject ? p->subject : "") + strlen(p->version ? p->version : "") + 40;
    for (size_t i = 0; i < p->nparties; i++)
        n += strlen(p->parties[i]) + 2;
    char *d = malloc(n);
    if (d) {
        int k = snprintf(d, n, "%s%s%s; parties: ", p->subject ? p->subject : "(no subject)",
                         p->version ? ", version " : "", p->version ? p->version : "");
        for (size_t i = 0; i < p->nparties && k > 0 && (size_t)k < n; i++)
            k += snprintf(d + k, n - (size_t)k, "%s%s", i ? "; " : "", p->parties[i]);
        free(h->plan_desc);
        h->plan_desc = d;
        h->plan_seq = r->seq;
    } else {
        h->oom = true;
    }
    ldg_plan_free(p);
}

static char *
joined(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, sep, ls);
        memcpy(s + la + ls, b, lb + 1);
    }
    return s;
}

/* [PLAN-4][PLAN-5] Whether the plan in force at r expects a response, from whom, by when. */
static void
thread_due(html_ctx *h, const ldg_record *r, thread *t)
{
    t->respond = RESP_NONE;
    t->plan = r->plan != NULL;
    if (!r->plan)
        return;
    json_t *j = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    const ldg_plan_rule *rule =
        ldg_plan_match(r->plan, r->kind, json_string_value(json_object_get(j, "priority")),
                       json_string_value(json_object_get(j, "level")));
    if (rule) {
        t->due = ldg_plan_due(r->plan, rule, (int64_t)r->host_time_ns);
        /* an earlier due date the author asked for wins, as in review [REV-4] */
        const char *d = json_string_value(json_object_get(j, "due"));
        int64_t asked;
        int32_t tz;
        ldg_err err;
        if (d && ldg_time_parse(d, &asked, &tz, &err) == LDG_OK && asked < t->due)
            t->due = asked;
        t->respond = strcmp(rule->respond, "other") == 0 ? RESP_OTHER
                     : strcmp(rule->respond, "any") == 0 ? RESP_ANY
                                                         : org_index(h, rule->respond);
    }
    json_decref(j);
}

/* Does a record of org answer thread t (opened by root_org)? */
static bool
answers(const thread *t, uint16_t org, uint16_t root_org)
{
    return t->respond == RESP_ANY || (t->respond == RESP_OTHER && org != root_org) ||
           (t->respond < RESP_ANY && org == t->respond) ||
           (t->respond == RESP_NONE && org != root_org);
}

int
html_collect(void *ctx, const ldg_record *r)
{
    html_ctx *h = ctx;
    if (!grow((void **)&h->r, &h->cap, h->n, sizeof *h->r)) {
        h->oom = true;
        return 1;
    }
    hrec *x = &h->r[h->n];
    memset(x, 0, sizeof *x);
    x->seq = r->seq;
    x->t = (int64_t)r->host_time_ns;
    x->kind = (uint16_t)kind_index(r->kind);
    x->org = org_index(h, org_of(r));
    x->thread = NO_THREAD;
    x->parent = NOSEQ;
    x->corrects = NOSEQ;
    h->kind_count[x->kind]++;
    bool user = IS_USER(x->kind);
    if (r->has_key)
        key_note(h, &r->key);
    if (strcmp(r->kind, "genesis") != 0)
        key_note(h, &r->signer);
    if (user && strcmp(r->kind, "plan") == 0 && !h->withhold)
        plan_note(h, r);
    if (user)
        h->plan_last = r->plan_seq;
    if (user) {
        if (r->signer.org)
            h->party[x->org] = true;
        study_note(h, r->study);
    }
    for (size_t i = 0; user && i < r->nrefs && x->thread == NO_THREAD; i++) {
        const hrec *t = r->ref_seqs[i] == NOSEQ ? NULL : find(h, r->ref_seqs[i]);
        if (t && t->thread != NO_THREAD) {
            x->thread = t->thread;
            x->parent = t->seq;
        }
    }
    if (user && !h->withhold && h->subject_bytes < MAX_SUBJECT_BYTES) {
        x->subject = subject_of(r, 120);
        h->subject_bytes += x->subject ? strlen(x->subject) + 16 : 0;
    }
    if (user && x->thread == NO_THREAD) {
        if (!grow((void **)&h->th, &h->capth, h->nth, sizeof *h->th)) {
            h->oom = true;
            return 1;
        }
        thread *t = &h->th[h->nth];
        memset(t, 0, sizeof *t);
        t->root = (uint32_t)h->n;
        t->opened = x->t;
        t->subject = h->nth < MAX_THREADS_SHOWN && !h->withhold ? subject_of(r, 160) : NULL;
        thread_due(h, r, t);
        x->thread = (uint32_t)h->nth++;
    } else if (x->thread != NO_THREAD) {
        thread *t = &h->th[x->thread];
        if (!t->response && answers(t, x->org, h->r[t->root].org))
            t->response = x->t;
        if (!t->decision && strcmp(r->kind, "decision") == 0)
            t->decision = x->t;
        if (!t->approval && strcmp(r->kind, "approval") == 0)
            t->approval = x->t;
    }
    if (x->thread != NO_THREAD)
        h->th[x->thread].count++;
    if (strcmp(r->kind, "correction") == 0) {
        for (size_t i = 0; i < r->nrefs; i++) {
            if (r->ref_seqs[i] == NOSEQ ||
                !grow((void **)&h->corr, &h->capcorr, h->ncorr, sizeof *h->corr))
                continue;
            /* a correction of a correction belongs to the history of the original */
            const hrec *t = find(h, r->ref_seqs[i]);
            uint64_t target = t && t->corrects != NOSEQ ? t->corrects : r->ref_seqs[i];
            if (x->corrects == NOSEQ)
                x->corrects = target;
            corr *c = &h->corr[h->ncorr++];
            memset(c, 0, sizeof *c);
            c->target = target;
            c->direct = r->ref_seqs[i];
            c->by = r->seq;
            c->t = x->t;
            c->reason = r->reason ? strndup(r->reason, 300) : NULL;
            c->who = joined(name_of(r), ", ", org_of(r));
            c->subject = h->withhold ? NULL : subject_of(r, 200);
        }
    }
    h->n++;
    return 0;
}

/* ------------------------------------------------------------- rows -- */

/* "YYYY-MM-DDTHH:MM:SSZ" */
static void
utc_text(int64_t ns, char out[40])
{
    ldg_time_format(ns, 0, 1, out);
    out[19] = 'Z';
    out[20] = '\0';
}

/* "YYYY-MM-DD HH:MM:SS UTC+HH:MM": the instant at the signer's offset */
static void
local_text(int64_t ns, int32_t tz, char out[64])
{
    char l[40], off[8];
    ldg_time_format(ns, tz, 0, l);
    l[10] = ' ';
    l[19] = '\0';
    tool_utc_offset(tz, off);
    snprintf(out, 64, "%.19s UTC%s", l, off);
}

/* A signed duration for people: "+3 d 4 h", "-2 h 5 min", "+12 s", "-40 ms". */
static void
span_text(int64_t ns, char out[48])
{
    char sign = ns < 0 ? '-' : '+';
    uint64_t a = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    uint64_t s = a / 1000000000u;
    if (a < 1000000u) {
        snprintf(out, 48, "under 1 ms");
        return;
    }
    if (s == 0) {
        snprintf(out, 48, "%c%llu ms", sign, (unsigned long long)(a / 1000000u));
        return;
    }
    unsigned long long d = s / 86400, hh = s / 3600 % 24, mm = s / 60 % 60, ss = s % 60;
    if (d)
        snprintf(out, 48, "%c%llu d %llu h %llu min", sign, d, hh, mm);
    else if (hh)
        snprintf(out, 48, "%c%llu h %llu min", sign, hh, mm);
    else if (mm)
        snprintf(out, 48, "%c%llu min %llu s", sign, mm, ss);
    else
        snprintf(out, 48, "%c%llu s", sign, ss);
}

static void
hours_text(int64_t ns, char out[32])
{
    if (ns % NS_PER_H == 0)
        snprintf(out, 32, "%lld h", (long long)(ns / NS_PER_H));
    else
        snprintf(out, 32, "%.4g h", (double)ns / (double)NS_PER_H);
}

/* The ledger's time of record: the entry's host time [FMT-3]. */
static void
ledger_time_cell(emit *e, const ldg_record *r)
{
    char t[40];
    utc_text((int64_t)r->host_time_ns, t);
    em_s(e, "<td class=t><strong>");
    em_s(e, t);
    em_s(e, "</strong>");
    if (r->has_clock) {
        /* the host clock read earlier and the ledger's time was held: said, not hidden */
        utc_text((int64_t)r->clock_ns, t);
        em_s(e, "<br><small class=bad>host clock read ");
        em_s(e, t);
        em_s(e, "; time held</small>");
    }
    em_s(e, "</td>");
}

/*
 * [EXP-10][EXP-13] The signer's claimed time at their offset, the offset from the
 * ledger's time, and a flag when it is beyond the tolerance of the plan in
 * force (back-dated: claimed before the ledger time; forward-dated: after).
 */
static void
claimed_time_cell(emit *e, const ldg_record *r)
{
    char t[64], off[48], tol[32];
    utc_text(r->time_ns, t);
    em_s(e, "<td class=t>");
    em_s(e, t);
    local_text(r->time_ns, r->tz_min, t);
    em_s(e, "<br><small>");
    em_s(e, t);
    em_s(e, "</small>");
    int64_t d = r->time_ns - (int64_t)r->host_time_ns;
    span_text(d, off);
    em_s(e, "<br><small>offset ");
    em_s(e, off);
    em_s(e, "</small>");
    int64_t limit = r->tolerance_ns >= 0 ? r->tolerance_ns : LDG_TOLERANCE_DEFAULT_NS;
    if (d < -limit || d > limit) {
        hours_text(limit, tol);
        em_s(e, d < 0 ? "<br><span class=flag>back-dated</span>"
                      : "<br><span class=flag>forward-dated</span>");
        em_s(e, "<small> beyond ");
        em_s(e, tol);
        if (r->plan_seq != NOSEQ) {
            em_s(e, " (plan #");
            em_u64(e, r->plan_seq);
            em_s(e, ")");
        }
        em_s(e, "</small>");
    }
    em_s(e, "</td>");
}

static void
link_to(emit *e, uint64_t seq)
{
    em_s(e, "<a href=\"#r");
    em_u64(e, seq);
    em_s(e, "\">#");
    em_u64(e, seq);
    em_s(e, "</a>");
}

/* A study id: kept on one line unless it is too long for any column. */
static void
study_span(emit *e, const char *study)
{
    em_s(e, strlen(study) <= STUDY_NOWRAP_MAX ? "<span class=study>" : "<span class=studylong>");
    em_html(e, study);
    em_s(e, "</span>");
}

static void
field_value(emit *e, json_t *v)
{
    if (json_is_string(v)) {
        em_html(e, json_string_value(v));
        return;
    }
    if (json_is_boolean(v)) {
        em_s(e, json_is_true(v) ? "yes" : "no");
        return;
    }
    if (json_is_array(v)) {
        bool strings = true;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) strings = strings && json_is_string(x);
        if (strings) {
            json_array_foreach(v, i, x)
            {
                if (i)
                    em_s(e, ", ");
                em_html(e, json_string_value(x));
            }
            return;
        }
    }
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    em_html(e, t ? t : "?");
    free(t);
}

/* The body for people: subject in bold, then its other top-level fields, labelled. */
static void
body_cell(html_ctx *h, emit *e, const ldg_record *r)
{
    if (r->body_state == LDG_BODY_MISMATCH) {
        em_s(e, "<strong class=bad>Body does not match its signed commitment: not shown</strong>");
        return;
    }
    if (r->body_state == LDG_BODY_ERASED) {
        char t[96];
        snprintf(t, sizeof t, "body erased by record %llu (signed erasure record)",
                 (unsigned long long)r->erased_by);
        em_s(e, "<strong>ERASED</strong> <em class=muted>");
        em_s(e, t);
        em_s(e, "</em>");
        return;
    }
    if (r->body_state == LDG_BODY_WITHHELD) {
        em_s(e,
             "<strong class=bad>Body missing from the ledger without an erasure record</strong>");
        return;
    }
    if (h->withhold) {
        em_s(e, "<em class=muted>");
        em_s(e, "body withheld from this export");
        em_s(e, "</em>");
        return;
    }
    json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
    if (!json_is_object(b)) {
        em_html(e, r->body);
        json_decref(b);
        return;
    }
    json_t *s = json_object_get(b, "subject");
    if (json_is_string(s)) {
        em_s(e, "<strong>");
        em_html(e, json_string_value(s));
        em_s(e, "</strong>");
    }
    const char *k;
    json_t *v;
    size_t shown = 0, more = 0;
    json_object_foreach(b, k, v)
    {
        if (v == s)
            continue;
        if (shown >= MAX_FIELDS_SHOWN) {
            more++; /* never dropped without a word: the row says how many */
            continue;
        }
        /* [KIND-3] a label only for what ldg checks in this kind; NULL: free */
        const char *label = ldg_body_field_label_of(r->kind, k);
        em_s(e, "<div class=f><span class=k>");
        em_html(e, label ? label : k);
        em_s(e, "</span> ");
        field_value(e, v);
        em_s(e, "</div>");
        shown++;
    }
    if (more) {
        char t[160];
        snprintf(t, sizeof t,
                 "<div class=f><em class=muted>and %zu more field%s, not printed here: the "
                 "JSONL export holds the whole body</em></div>",
                 more, more == 1 ? "" : "s");
        em_s(e, t);
    }
    json_decref(b);
}

static void
sig_status(emit *e, const ldg_record *r, uint64_t proven)
{
    switch (r->sig_state) {
    case LDG_SIG_VALID: em_s(e, "<span class=ok>signature valid</span>"); break;
    case LDG_SIG_INVALID: em_s(e, "<strong class=bad>SIGNATURE INVALID</strong>"); break;
    case LDG_SIG_PROVEN:
        em_s(e, "<span class=ok>valid (verified in full up to checkpoint ");
        em_u64(e, proven);
        em_s(e, ")</span>");
        break;
    default: em_s(e, "unchecked");
    }
}

/* [EXP-13] One line of the signatures page (21 CFR 11.50), spooled until the report is put
 * together. */
static void
signature_row(html_ctx *h, const ldg_record *r, uint64_t proven)
{
    if (!h->sigs) {
        if (!(h->sigs = tmpfile()) || !(h->sigem = malloc(sizeof *h->sigem))) {
            h->oom = true;
            return;
        }
        em_init(h->sigem, h->sigs);
    }
    emit *e = h->sigem;
    char t[64];
    em_s(e, "<tr><td class=n>");
    link_to(e, r->seq);
    em_s(e, "</td><td>");
    em_html(e, name_of(r));
    em_s(e, "</td><td>");
    em_html(e, org_of(r));
    em_s(e, "</td><td>");
    em_html(e, r->signer.roles);
    em_s(e, "</td><td class=t>");
    utc_text((int64_t)r->host_time_ns, t);
    em_s(e, t);
    em_s(e, "</td><td><strong>");
    em_html(e, r->meaning);
    em_s(e, "</strong></td><td>");
    em_html(e, r->kind);
    em_s(e, "<br>");
    study_span(e, r->study);
    em_s(e, "</td><td class=t>");
    utc_text(r->time_ns, t);
    em_s(e, t);
    local_text(r->time_ns, r->tz_min, t);
    em_s(e, "<br><small>");
    em_s(e, t);
    em_s(e, "</small></td><td>");
    sig_status(e, r, proven);
    em_s(e, "</td></tr>\n");
    h->nsigs++;
}

static void
hex_text(const uint8_t *p, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[p[i] >> 4];
        out[2 * i + 1] = hx[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The correction history of an original record: every correction of it, in order. */
static void
corrections_of(html_ctx *h, emit *e, uint64_t seq)
{
    if (!h->corr_sorted) {
        if (h->ncorr) /* qsort of NULL, even of none, is undefined */
            qsort(h->corr, h->ncorr, sizeof *h->corr, corr_cmp);
        h->corr_sorted = true;
    }
    size_t lo = 0, hi = h->ncorr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->corr[mid].target < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < h->ncorr && h->corr[lo + n].target == seq)
        n++;
    if (!n)
        return;
    em_s(e, "<div class=corr><span class=k>correction history</span>");
    for (size_t i = lo; i < lo + n; i++) {
        const corr *c = &h->corr[i];
        char t[40];
        em_s(e, "<div>");
        em_u64(e, i - lo + 1);
        em_s(e, ". Corrected by ");
        link_to(e, c->by);
        if (c->reason) {
            em_s(e, ": ");
            em_html(e, c->reason);
        }
        em_s(e, " (shown as recorded)<br><small>");
        utc_text(c->t, t);
        em_s(e, t);
        em_s(e, ", ");
        em_html(e, c->who);
        if (c->direct != seq) {
            em_s(e, "; corrects ");
            link_to(e, c->direct);
        }
        if (c->subject) {
            em_s(e, "; &ldquo;");
            em_html(e, c->subject);
            em_s(e, "&rdquo;");
        }
        em_s(e, "</small></div>");
    }
    em_s(e, "</div>");
}

void
html_row(html_ctx *h, emit *e, const ldg_record *r, uint64_t proven)
{
    if (r->plan_seq != NOSEQ && IS_USER(kind_index(r->kind)))
        h->plan_last = r->plan_seq; /* for the cover, written after the rows */
    em_s(e, "<tbody class=rec><tr id=r");
    em_u64(e, r->seq);
    if (r->sig_state == LDG_SIG_INVALID || r->body_state == LDG_BODY_MISMATCH)
        em_s(e, " class=badrow");
    em_s(e, "><td class=n>");
    link_to(e, r->seq);
    em_s(e, "</td>");
    ledger_time_cell(e, r);
    claimed_time_cell(e, r);
    em_s(e, "<td><span class=kind style=\"border-color:");
    em_s(e, kinds[kind_index(r->kind)].colour);
    em_s(e, "\">");
    em_html(e, r->kind);
    em_s(e, "</span><br>");
    study_span(e, r->study);
    em_s(e, "</td><td class=who>");
    em_html(e, name_of(r));
    em_s(e, "<br><small>");
    em_html(e, org_of(r));
    if (r->signer.roles && r->signer.roles[0]) {
        em_s(e, " &middot; ");
        em_html(e, r->signer.roles);
    }
    em_s(e, "</small></td><td class=body>");
    body_cell(h, e, r);
    if (r->reason) {
        em_s(e, "<div class=f><span class=k>reason</span> ");
        em_html(e, r->reason);
        em_s(e, "</div>");
    }
    if (r->has_key && r->key.name) {
        em_s(e, "<div class=f><span class=k>key</span> ");
        em_html(e, r->key.name);
        em_s(e, ", ");
        em_html(e, r->key.org);
        em_s(e, " (");
        em_html(e, r->key.roles);
        em_s(e, ")</div>");
    } else if (r->has_key && strcmp(r->kind, "key.revoke") == 0) {
        /* [EXP-13] whose key: the person, as their key record named them */
        const hkey *k = key_find(h, r->key.pub);
        em_s(e, "<div class=f><span class=k>revokes the key of</span> ");
        if (k) {
            em_s(e, "<strong>");
            em_html(e, k->name);
            em_s(e, "</strong>, ");
            em_html(e, k->org);
            em_s(e, " (key ");
            em_html(e, k->id);
            em_s(e, ")");
        } else {
            char x[2 * LDG_PUB_BYTES + 1];
            hex_text(r->key.pub, LDG_PUB_BYTES, x);
            em_s(e, "public key <code>");
            em_s(e, x);
            em_s(e, "</code> (its key record is not in this export)");
        }
        em_s(e, "</div>");
    }
    /* Corrections beside what they correct: the original stays as it was. */
    if (strcmp(r->kind, "correction") == 0)
        for (size_t i = 0; i < r->nrefs; i++)
            if (r->ref_seqs[i] != NOSEQ) {
                em_s(e, "<div class=corr>Corrects ");
                link_to(e, r->ref_seqs[i]);
                em_s(e, "</div>");
            }
    corrections_of(h, e, r->seq);
    em_s(e, "</td><td>");
    for (size_t i = 0; i < r->nrefs; i++) {
        if (i)
            em_s(e, " ");
        if (r->ref_seqs[i] == NOSEQ)
            em_s(e, "<span class=bad>unknown</span>");
        else if (find(h, r->ref_seqs[i]))
            link_to(e, r->ref_seqs[i]);
        else {
            em_s(e, "#");
            em_u64(e, r->ref_seqs[i]);
        }
    }
    em_s(e, "</td><td class=sig>");
    if (r->meaning) {
        char t[40];
        utc_text((int64_t)r->host_time_ns, t);
        em_s(e, "<div class=sigblock><span class=k>signed by</span> ");
        em_html(e, name_of(r));
        em_s(e, "<br><span class=k>on</span> <span class=t>");
        em_s(e, t);
        em_s(e, "</span> (ledger time)<br><span class=k>meaning</span> <strong>");
        em_html(e, r->meaning);
        em_s(e, "</strong></div>");
        signature_row(h, r, proven);
    }
    sig_status(e, r, proven);
    char hex[2 * LDG_HASH_BYTES + 1];
    hex_text(r->leaf_hash, LDG_HASH_BYTES, hex);
    em_s(e, "</td></tr>\n<tr class=leaf><td></td><td colspan=7><span class=k>leaf hash</span> "
            "<code>");
    em_s(e, hex);
    em_s(e, "</code></td></tr></tbody>\n");
}

/* ----------------------------------------------------------- report -- */

static const char css[] =
    "body{font:13px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1b1b1b;background:#fff;margin:24px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px "
    "solid #ddd;padding-bottom:4px}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;"
    "vertical-align:top;text-align:left;overflow-wrap:anywhere}th{background:#f3f3f3}"
    "thead{display:table-header-group}tr,tbody.rec{break-inside:avoid}"
    ".meta td:first-child{width:190px;color:#555}.n,.t,th{white-space:nowrap}"
    "small,.muted{color:#666}.k{color:#666;font-size:11px;text-transform:uppercase;"
    "letter-spacing:.03em}.f{margin-top:2px}.body{min-width:140px}.who{min-width:110px}"
    ".sig{min-width:130px}"
    ".kind{border-left:4px solid #999;padding-left:4px;white-space:nowrap}"
    ".study{white-space:nowrap;font-family:monospace}.studylong{font-family:monospace;"
    "overflow-wrap:anywhere}"
    ".verdict{padding:10px 14px;border-radius:4px;margin:14px 0;font-size:14px}"
    ".good{background:#e8f5e9;border:2px solid #43a047}.fail{background:#ffebee;border:2px solid "
    "#c62828}"
    ".bad{color:#b71c1c}.ok{color:#1b5e20}.badrow{background:#fff3f3}"
    ".flag{color:#fff;background:#b71c1c;padding:0 4px;border-radius:2px;font-weight:600}"
    ".corr{margin-top:4px;padding:2px 6px;background:#fff8e1;border-left:3px solid #d37295}"
    ".sigblock{border:1px solid #bbb;padding:3px 6px;margin-bottom:3px;background:#fafafa}"
    ".overdue{color:#b71c1c;font-weight:600}code{font-size:11px}"
    "tr.leaf td{border-top:0;padding-top:0;color:#555}tr.leaf code{white-space:nowrap;"
    "font-size:10px}"
    ".thread{margin:6px 0 10px;break-inside:avoid}.thread div{margin-left:calc(var(--d)*16px)}"
    ".cover{break-after:page}.cover .meta td{padding:1px 6px}.newpage{break-before:page}"
    "pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "font-size:11px}"
    "@media print{body{margin:0;font-size:10px}a{color:inherit;text-decoration:none}"
    "h2{break-after:avoid}.noprint{display:none}svg{max-width:100%}code{font-size:9px}"
    "tr.leaf code{font-size:9px}.k{font-size:8px}.cover .meta td{font-size:12px;padding:4px 6px}}";

static void
kv(emit *e, const char *k, const char *v)
{
    em_s(e, "<tr><td>");
    em_html(e, k);
    em_s(e, "</td><td>");
    em_html(e, v);
    em_s(e, "</td></tr>\n");
}

static void
hours(emit *e, int64_t ns)
{
    char t[32];
    if (ns < NS_PER_H)
        snprintf(t, sizeof t, "%lld min", (long long)(ns / 60000000000LL));
    else
        snprintf(t, sizeof t, "%.1f h", (double)ns / (double)NS_PER_H);
    em_s(e, t);
}

static void
date_of(int64_t ns, char out[11])
{
    char t[40];
    ldg_time_format(ns, 0, 1, t);
    memcpy(out, t, 10);
    out[10] = '\0';
}

/* Records per day (or per bucket of days) and kind, stacked, as inline SVG. */
static void
timeline(html_ctx *h, emit *e)
{
    size_t first = 0;
    while (first < h->n && !IS_USER(h->r[first].kind))
        first++; /* genesis and key records are not the trail's activity */
    if (first == h->n) {
        em_s(e, "<p class=muted>No records of the trail in this export.</p>");
        return;
    }
    int64_t t0 = h->r[first].t - h->r[first].t % NS_PER_DAY, t1 = h->r[h->n - 1].t;
    int64_t days = (t1 - t0) / NS_PER_DAY + 1;
    int64_t per = (days + 179) / 180; /* at most 180 bars */
    size_t nb = (size_t)((days + per - 1) / per);
    uint32_t(*count)[NKINDS] = calloc(nb, sizeof *count);
    uint32_t *total = calloc(nb, sizeof *total);
    if (!count || !total) {
        free(count);
        free(total);
        h->oom = true;
        return;
    }
    uint32_t max = 1;
    for (size_t i = first; i < h->n; i++) {
        if (!IS_USER(h->r[i].kind))
            continue;
        size_t b = (size_t)((h->r[i].t - t0) / NS_PER_DAY / per);
        if (b >= nb)
            b = nb - 1;
        count[b][h->r[i].kind]++;
        if (++total[b] > max)
            max = total[b];
    }
    const int W = 900, H = 200, L = 40, B = 24;
    double bw = (double)(W - L - 10) / (double)nb;
    if (bw > 40)
        bw = 40; /* a few days: narrow bars, not one slab */
    char buf[256];
    snprintf(buf, sizeof buf,
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
             "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"records per %s by kind\">",
             W, H + 40, W, H + 40, per == 1 ? "day" : "period");
    em_s(e, buf);
    snprintf(buf, sizeof buf,
             "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\"/>"
             "<text x=\"%d\" y=\"12\" font-size=\"10\" text-anchor=\"end\">%u</text>"
             "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">0</text>",
             L, H - B, W - 10, H - B, L - 4, max, L - 4, H - B);
    em_s(e, buf);
    for (size_t b = 0; b < nb; b++) {
        double y = H - B;
        for (unsigned k = 0; k < NKINDS; k++) {
            if (!count[b][k])
                continue;
            double hh = (double)count[b][k] * (double)(H - B - 10) / max;
            y -= hh;
            snprintf(buf, sizeof buf,
                     "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                     "fill=\"%s\"><title>%s: %u</title></rect>",
                     L + b * bw, y, bw > 2 ? bw - 1 : bw, hh, kinds[k].colour, kinds[k].name,
                     count[b][k]);
            em_s(e, buf);
        }
    }
    char d0[11], d1[11];
    date_of(t0, d0);
    date_of(t1, d1);
    snprintf(buf, sizeof buf,
             "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>"
             "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%s</text>",
             L, H - B + 14, d0, W - 10, H - B + 14, d1);
    em_s(e, buf);
    int x = L;
    for (unsigned k = 0; k < NKINDS; k++) {
        if (!h->kind_count[k] || !IS_USER(k))
            continue;
        snprintf(buf, sizeof buf,
                 "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                 "<text x=\"%d\" y=\"%d\" font-size=\"10\">%s</text>",
                 x, H + 14, kinds[k].colour, x + 13, H + 23, kinds[k].name);
        em_s(e, buf);
        x += 18 + (int)strlen(kinds[k].name) * 6;
    }
    em_s(e, "</svg>\n");
    snprintf(buf, sizeof buf, "<p class=muted>One bar per %lld day%s, ledger time (UTC).</p>\n",
             (long long)per, per == 1 ? "" : "s");
    em_s(e, buf);
    free(count);
    free(total);
}

static void
activity(html_ctx *h, emit *e)
{
    em_s(e, "<table><thead><tr><th>Organisation</th><th>Records</th>");
    for (unsigned k = 0; k < NKINDS; k++)
        if (h->kind_count[k]) {
            em_s(e, "<th>");
            em_html(e, kinds[k].name);
            em_s(e, "</th>");
        }
    em_s(e, "<th>First</th><th>Last</th></tr></thead><tbody>\n");
    for (size_t o = 0; o < h->norgs; o++) {
        uint64_t per[NKINDS] = {0}, all = 0;
        int64_t first = 0, last = 0;
        for (size_t i = 0; i < h->n; i++) {
            if (h->r[i].org != o)
                continue;
            per[h->r[i].kind]++;
            if (!all++)
                first = h->r[i].t;
            last = h->r[i].t;
        }
        em_s(e, "<tr><td>");
        em_html(e, h->orgs[o]);
        em_s(e, "</td><td>");
        em_u64(e, all);
        em_s(e, "</td>");
        for (unsigned k = 0; k < NKINDS; k++)
            if (h->kind_count[k]) {
                em_s(e, "<td>");
                if (per[k])
                    em_u64(e, per[k]);
                em_s(e, "</td>");
            }
        char d0[11], d1[11];
        date_of(first, d0);
        date_of(last, d1);
        em_s(e, "<td>");
        em_s(e, d0);
        em_s(e, "</td><td>");
        em_s(e, d1);
        em_s(e, "</td></tr>\n");
    }
    em_s(e, "</tbody></table>\n");
}

static void
threads(html_ctx *h, emit *e, int64_t now)
{
    uint64_t overdue = 0, expect = 0;
    for (size_t i = 0; i < h->nth; i++) {
        const thread *t = &h->th[i];
        if (t->respond == RESP_NONE)
            continue;
        expect++;
        overdue += t->response ? t->response > t->due : now > t->due;
    }
    char buf[400];
    snprintf(buf, sizeof buf,
             "<p>%zu threads; %llu expect a response under the communication plan in force at "
             "their opening record (its turnaround and responding party); <span class=%s>%llu "
             "overdue</span>. Times are on the ledger's time of record.</p>\n",
             h->nth, (unsigned long long)expect, overdue ? "overdue" : "ok",
             (unsigned long long)overdue);
    em_s(e, buf);
    em_s(e, "<table><thead><tr><th>Opened by</th><th>Subject</th><th>Records</th><th>First "
            "response by the other party</th><th>Decision</th><th>Approval</th><th>Status</th>"
            "</tr></thead><tbody>\n");
    for (size_t i = 0; i < h->nth && i < MAX_THREADS_SHOWN; i++) {
        const thread *t = &h->th[i];
        const hrec *root = &h->r[t->root];
        em_s(e, "<tr><td>");
        link_to(e, root->seq);
        em_s(e, " ");
        em_html(e, kinds[root->kind].name);
        em_s(e, "<br><small>");
        em_html(e, h->orgs[root->org]);
        em_s(e, "</small></td><td>");
        em_html(e, t->subject);
        em_s(e, "</td><td>");
        em_u64(e, t->count);
        em_s(e, "</td><td>");
        if (t->response)
            hours(e, t->response - t->opened);
        em_s(e, "</td><td>");
        if (t->decision)
            hours(e, t->decision - t->opened);
        em_s(e, "</td><td>");
        if (t->approval)
            hours(e, t->approval - t->opened);
        em_s(e, "</td><td>");
        char due[40];
        ldg_time_format(t->due, 0, 1, due);
        if (t->respond == RESP_NONE)
            em_s(e, t->plan ? "no response expected by the plan" : "no plan in force");
        else if (t->response && t->response > t->due)
            em_s(e, "<span class=overdue>responded late (overdue)</span>");
        else if (t->response)
            em_s(e, "<span class=ok>responded in time</span>");
        else if (now > t->due)
            em_s(e, "<span class=overdue>OPEN, overdue: no response</span>");
        else
            em_s(e, "open");
        if (t->respond != RESP_NONE) {
            em_s(e, "<br><small>due ");
            em_html(e, due);
            em_s(e, "</small>");
        }
        em_s(e, "</td></tr>\n");
    }
    em_s(e, "</tbody></table>\n");
    if (h->nth > MAX_THREADS_SHOWN) {
        snprintf(buf, sizeof buf,
                 "<p class=muted>The first %d threads of %zu; all records are "
                 "in the table below.</p>\n",
                 MAX_THREADS_SHOWN, h->nth);
        em_s(e, buf);
    }
}

/* Records linked by refs, as threads: each record under the one it answers. */
static void
thread_view(html_ctx *h, emit *e)
{
    /* the records of each thread in seq order: a counting sort by thread */
    size_t *start = calloc(h->nth + 1, sizeof *start);
    size_t *order = h->n ? malloc(h->n * sizeof *order) : NULL;
    uint16_t *depth = h->n ? calloc(h->n, sizeof *depth) : NULL;
    if (!start || (h->n && (!order || !depth))) {
        free(start);
        free(order);
        free(depth);
        h->oom = true;
        return;
    }
    for (size_t i = 0; i < h->n; i++)
        if (h->r[i].thread != NO_THREAD)
            start[h->r[i].thread + 1]++;
    for (size_t t = 0; t < h->nth; t++)
        start[t + 1] += start[t];
    size_t *fill = malloc((h->nth + 1) * sizeof *fill);
    if (!fill) {
        free(start);
        free(order);
        free(depth);
        h->oom = true;
        return;
    }
    memcpy(fill, start, (h->nth + 1) * sizeof *fill);
    for (size_t i = 0; i < h->n; i++) {
        const hrec *x = &h->r[i];
        if (x->thread == NO_THREAD)
            continue;
        order[fill[x->thread]++] = i;
        if (x->parent != NOSEQ) {
            const hrec *p = find(h, x->parent);
            uint16_t pd = p ? depth[p - h->r] : 0;
            depth[i] = pd < 12 ? pd + 1 : pd;
        }
    }
    free(fill);
    size_t shown = 0, rows = 0;
    for (size_t t = 0; t < h->nth && shown < MAX_THREADS_SHOWN && rows < MAX_THREAD_ROWS; t++) {
        if (start[t + 1] - start[t] < 2)
            continue; /* a record nobody answered is in the threads table above */
        shown++;
        em_s(e, "<div class=thread>");
        for (size_t j = start[t]; j < start[t + 1] && rows < MAX_THREAD_ROWS; j++, rows++) {
            const hrec *x = &h->r[order[j]];
            char when[40], buf[32];
            utc_text(x->t, when);
            snprintf(buf, sizeof buf, "%u", (unsigned)depth[order[j]]);
            em_s(e, "<div style=\"--d:");
            em_s(e, buf);
            em_s(e, "\">");
            em_s(e, j == start[t] ? "&#9654; " : "&#8627; ");
            link_to(e, x->seq);
            em_s(e, " <span class=kind style=\"border-color:");
            em_s(e, kinds[x->kind].colour);
            em_s(e, "\">");
            em_html(e, kinds[x->kind].name);
            em_s(e, "</span> ");
            em_html(e, h->orgs[x->org]);
            em_s(e, " <small>");
            em_s(e, when);
            em_s(e, "</small>");
            if (x->subject) {
                em_s(e, " &ldquo;");
                em_html(e, x->subject);
                em_s(e, "&rdquo;");
            }
            if (x->corrects != NOSEQ) {
                em_s(e, " <small>(corrects ");
                link_to(e, x->corrects);
                em_s(e, ")</small>");
            }
            em_s(e, "</div>");
        }
        em_s(e, "</div>\n");
    }
    if (!shown)
        em_s(e, "<p class=muted>No record of this export answers another.</p>\n");
    else if (rows >= MAX_THREAD_ROWS || shown >= MAX_THREADS_SHOWN)
        em_s(e, "<p class=muted>The first threads only; every record is in the table below.</p>\n");
    free(start);
    free(order);
    free(depth);
}

/*
 * A CSS string of text from the ledger ([EXP-13], the page margins): the
 * text is escaped as for people (ESC_TEXT: no control or invisible
 * character survives), then every code point but an ASCII letter or digit
 * is written as a six-digit CSS escape, so no quote, backslash, "<" or
 * line end ever reaches the style element raw.
 */
static void
css_string(emit *e, const char *s)
{
    char *t = em_escape_dup(s, ESC_TEXT);
    em_c(e, '"');
    for (const unsigned char *p = (const unsigned char *)(t ? t : "?"); *p;) {
        uint32_t cp = *p;
        size_t n = 1;
        if (cp >= 0xf0 && p[1] && p[2] && p[3])
            cp = (cp & 7) << 18 | (p[1] & 63u) << 12 | (p[2] & 63u) << 6 | (p[3] & 63u), n = 4;
        else if (cp >= 0xe0 && p[1] && p[2])
            cp = (cp & 15) << 12 | (p[1] & 63u) << 6 | (p[2] & 63u), n = 3;
        else if (cp >= 0xc0 && p[1])
            cp = (cp & 31) << 6 | (p[1] & 63u), n = 2;
        if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z')) {
            em_c(e, (char)cp);
        } else {
            char x[8];
            snprintf(x, sizeof x, "\\%06x", (unsigned)(cp ? cp : 0xfffd));
            em_s(e, x);
        }
        p += n;
    }
    em_c(e, '"');
    free(t);
}

void
html_export_id(const html_meta *m, char out[HTML_EXPORT_ID_LEN + 1])
{
    /* [EXP-13] SHA-256 of the domain line, the checkpoint note, the filters and the time */
    crypto_hash_sha256_state st;
    uint8_t d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    static const char dom[] = "ldg-export-id/v1\n";
    crypto_hash_sha256_update(&st, (const uint8_t *)dom, sizeof dom - 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)m->checkpoint, strlen(m->checkpoint));
    crypto_hash_sha256_update(&st, (const uint8_t *)m->filters, strlen(m->filters));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)m->exported_at, strlen(m->exported_at));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_final(&st, d);
    hex_text(d, HTML_EXPORT_ID_LEN / 2, out);
}

/* The study the export covers: the --study filter, else the studies of its records. */
static void
study_label(const html_ctx *h, const html_meta *m, char *out, size_t cap)
{
    if (m->study) {
        snprintf(out, cap, "%s", m->study);
    } else if (h->nstudies == 1 && !h->more_studies) {
        snprintf(out, cap, "%s", h->studies[0]);
    } else {
        snprintf(out, cap, "all studies");
    }
}

/* The checkpoint's size, root and signers, read from its signed note [CKP-1]. */
static void
checkpoint_rows(emit *e, const char *note)
{
    const char *l1 = strchr(note, '\n');
    const char *l2 = l1 ? strchr(l1 + 1, '\n') : NULL;
    const char *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    if (!l1 || !l2 || !l3)
        return;
    char *size = strndup(l1 + 1, (size_t)(l2 - l1 - 1));
    char *root = strndup(l2 + 1, (size_t)(l3 - l2 - 1));
    if (size && root) {
        em_s(e, "<tr><td>Checkpoint</td><td>");
        em_html(e, size);
        em_s(e, " entries; root (base64, as signed) <code>");
        em_html(e, root);
        em_s(e, "</code>");
        uint8_t bin[LDG_HASH_BYTES];
        size_t bl = 0;
        if (sodium_base642bin(bin, sizeof bin, root, strlen(root), NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0 &&
            bl == LDG_HASH_BYTES) {
            char hex[2 * LDG_HASH_BYTES + 1];
            hex_text(bin, LDG_HASH_BYTES, hex);
            em_s(e, "<br>root (hex) <code>");
            em_s(e, hex);
            em_s(e, "</code>");
        }
        em_s(e, "</td></tr>\n<tr><td>Checkpoint signed by</td><td>");
        /* signature lines: "\u2014 <key name> <base64>" [CKP-1] */
        size_t nsig = 0;
        for (const char *p = strstr(note, "\n\xe2\x80\x94 "); p;
             p = strstr(p + 1, "\n\xe2\x80\x94 ")) {
            const char *nm = p + 5, *sp = strchr(nm, ' ');
            if (!sp)
                break;
            char *name = strndup(nm, (size_t)(sp - nm));
            if (nsig++)
                em_s(e, "; ");
            em_html(e, name ? name : "?");
            free(name);
        }
        if (!nsig)
            em_s(e, "(no signature line)");
        em_s(e, "</td></tr>\n");
    }
    free(size);
    free(root);
}

static void
verdict(emit *e, const html_meta *m)
{
    bool good = m->root_ok && m->proven_ok && !m->bad_sigs && !m->mismatch;
    char buf[300];
    em_s(e, good ? "<div class=\"verdict good\"><strong>Verified at export.</strong> "
                 : "<div class=\"verdict fail\"><strong>INTEGRITY FAILURE.</strong> ");
    if (!m->root_ok) {
        snprintf(buf, sizeof buf,
                 "The stored entries do not give the root of the checkpoint of %llu entries "
                 "below: the ledger was changed after it was signed. ",
                 (unsigned long long)m->tie_size);
        em_s(e, buf);
    }
    if (!m->proven_ok) {
        snprintf(buf, sizeof buf, "The first %llu entries changed since QA's verified checkpoint. ",
                 (unsigned long long)m->proven);
        em_s(e, buf);
    }
    if (m->bad_sigs || m->mismatch) {
        snprintf(buf, sizeof buf,
                 "%llu invalid signatures and %llu altered bodies among these records (first at "
                 "#%llu), marked in the table. ",
                 (unsigned long long)m->bad_sigs, (unsigned long long)m->mismatch,
                 (unsigned long long)m->first_bad);
        em_s(e, buf);
    }
    snprintf(buf, sizeof buf,
             "The tree head of the first %llu entries was recomputed from the stored entries "
             "and matches the checkpoint below, signed by the ledger's log key. ",
             (unsigned long long)m->tie_size);
    if (m->root_ok)
        em_s(e, buf);
    if (m->proven && m->proven_ok) {
        snprintf(buf, sizeof buf,
                 "Signatures of entries below %llu were verified in full by QA (their "
                 "checkpoint, re-hashed now); the others were checked at export. ",
                 (unsigned long long)m->proven);
        em_s(e, buf);
    } else {
        em_s(e, "Every signature shown was checked at export. ");
    }
    em_s(e, "Bodies were checked against their signed commitments. Key registry and policy "
            "history: run <code>ldg verify</code>, or <code>ldg verify-bundle</code> on the "
            "bundle export.</div>\n");
}

/*
 * Text for one line of a page margin: s, or its first max bytes cut back to a
 * character boundary and ended with "…" (the cover has it whole).
 */
static const char *
margin_cut(const char *s, size_t max, char *buf, size_t cap)
{
    size_t n = strlen(s);
    if (n <= max)
        return s;
    n = max;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    snprintf(buf, cap, "%.*s\xe2\x80\xa6", (int)n, s);
    return buf;
}

/* [EXP-13] Page margins: where the trail comes from, the study, the export id, page x of y. */
static void
page_style(emit *e, const html_meta *m, const char *study, const char *id)
{
    /* one line in the margin: a longer study id or origin is cut (the cover has it whole) */
    char cs[MARGIN_STUDY_MAX + 4], co[MARGIN_ORIGIN_MAX + 4];
    study = margin_cut(study, MARGIN_STUDY_MAX, cs, sizeof cs);
    em_s(e,
         "@page{size:A4 landscape;margin:14mm 10mm 14mm 10mm;"
         "@top-left{font:8pt sans-serif;color:#555;white-space:nowrap;content:\"Audit trail \" ");
    css_string(e, margin_cut(m->origin, MARGIN_ORIGIN_MAX, co, sizeof co));
    em_s(e, "}@bottom-left{font:8pt sans-serif;color:#333;white-space:nowrap;content:\"Study \" ");
    css_string(e, study);
    /* the dot set off by two no-break spaces each side: a margin box collapses runs of spaces
       (white-space is not honoured there), and a CSS escape swallows one white space after it,
       so each escape ends its string */
    em_s(e, " \"\\0000a0\\0000a0\\0000b7\\0000a0\\0000a0\" \"Export id \" ");
    css_string(e, id);
    em_s(e, "}@bottom-right{font:8pt sans-serif;color:#333;white-space:nowrap;"
            "content:\"Page \" counter(page) \" of \" counter(pages)}}");
}

static void
cover(html_ctx *h, emit *e, const html_meta *m, const char *study, const char *id)
{
    char buf[300];
    em_s(e, "<section class=cover>\n<h1>Audit trail</h1>\n");
    verdict(e, m);
    em_s(e, "<table class=meta>\n<tr><td>Study</td><td>");
    if (m->study || (h->nstudies == 1 && !h->more_studies)) {
        study_span(e, study);
        em_s(e, m->study ? " <small>(export filter)</small>"
                         : " <small>(every record of the export)</small>");
    } else {
        em_s(e, "all studies");
        for (size_t i = 0; i < h->nstudies; i++) {
            em_s(e, i ? ", " : ": ");
            study_span(e, h->studies[i]);
        }
        if (h->more_studies)
            em_s(e, ", &hellip;");
    }
    em_s(e, "</td></tr>\n<tr><td>Parties</td><td>");
    size_t np = 0;
    for (size_t o = 0; o < h->norgs; o++)
        if (h->party[o]) {
            if (np++)
                em_s(e, "; ");
            em_html(e, h->orgs[o]);
        }
    if (!np)
        em_s(e, "<span class=muted>no record of the trail in this export</span>");
    em_s(e, "</td></tr>\n<tr><td>Communication plan</td><td>");
    if (h->plan_seq != NOSEQ) {
        link_to(e, h->plan_seq);
        em_s(e, " ");
        em_html(e, h->plan_desc);
    } else if (h->plan_last != NOSEQ) {
        em_s(e, "#");
        em_u64(e, h->plan_last);
        em_s(e, " (in force at the last record; not in this export)");
    } else {
        em_s(e, "none in this export");
    }
    em_s(e, "</td></tr>\n");
    kv(e, "Ledger origin", m->origin);
    checkpoint_rows(e, m->checkpoint);
    snprintf(buf, sizeof buf, "ldg %s", ldg_version());
    kv(e, "Tool version", buf);
    em_s(e, "<tr><td>Export id</td><td><code>");
    em_s(e, id);
    em_s(e, "</code> <small>(spec/export.md [EXP-13])</small></td></tr>\n");
    kv(e, "Exported", m->exported_at);
    kv(e, "Exported by", m->exporter);
    kv(e, "Filters", m->filters);
    snprintf(buf, sizeof buf, "%zu", h->n);
    kv(e, "Records in this export", buf);
    snprintf(buf, sizeof buf, "%zu", (size_t)h->nsigs);
    kv(e, "Signatures with a meaning", buf);
    kv(e, "Turnaround", "from the communication plan in force at each thread's opening record");
    em_s(e, "</table>\n</section>\n");
}

static bool
copy_spool(emit *e, FILE *f)
{
    rewind(f);
    char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        em_raw(e, chunk, got);
    return !ferror(f);
}

bool
html_write(html_ctx *h, emit *e, const html_meta *m, FILE *spool)
{
    char id[HTML_EXPORT_ID_LEN + 1], study[LDG_TEXT_MAX + 64];
    html_export_id(m, id);
    study_label(h, m, study, sizeof study);
    em_s(e, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            "<title>Audit trail: ");
    em_html(e, m->origin);
    em_s(e, "</title><style>");
    em_s(e, css);
    page_style(e, m, study, id);
    em_s(e, "</style></head><body>\n");
    cover(h, e, m, study, id);
    em_s(e, "<h2>Checkpoint</h2>\n<pre>");
    em_html(e, m->checkpoint);
    em_s(e, "</pre>\n<h2>Activity over time</h2>\n");
    timeline(h, e);
    em_s(e, "<h2>Activity per organisation</h2>\n");
    activity(h, e);
    em_s(e, "<h2>Threads and response times</h2>\n");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    threads(h, e, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec);
    em_s(e, "<h2>Thread view</h2>\n<p class=muted>Each record under the one it answers (its first "
            "ref in the export), in order; ledger time (UTC).</p>\n");
    thread_view(h, e);
    bool ok = true;
    em_s(e, "<section class=newpage><h2>Signatures</h2>\n<p class=muted>Every record signed with "
            "a meaning (21 CFR 11.50): the signer's printed name, organisation and roles as "
            "their key record registers them, the ledger's time of record, and the meaning.</p>\n");
    if (h->nsigs) {
        em_s(e, "<table><thead><tr><th>#</th><th>Printed name</th><th>Organisation</th>"
                "<th>Role</th><th>Ledger time (UTC)</th><th>Meaning</th><th>Record</th>"
                "<th>Claimed time</th><th>Status</th></tr></thead><tbody>\n");
        ok = em_flush(h->sigem) && copy_spool(e, h->sigs);
        em_s(e, "</tbody></table>\n");
    } else {
        em_s(e, "<p>No record of this export is signed with a meaning.</p>\n");
    }
    em_s(e, "</section>\n<section class=newpage><h2>Records</h2>\n<p class=muted>Ledger time: "
            "when the ledger recorded the entry (its time of record). Claimed: the time the "
            "signer states, at their UTC offset; offset = claimed &minus; ledger, flagged "
            "back-dated or forward-dated beyond the tolerance of the plan in force.</p>\n"
            "<table class=records><thead><tr><th>#</th><th>Ledger time</th><th>Claimed</th>"
            "<th>Kind / study</th><th>Signer</th><th>Content</th><th>Refs</th>"
            "<th>Signature</th></tr></thead>\n");
    ok = copy_spool(e, spool) && ok && !h->oom;
    em_s(e, "</table></section>\n<p class=muted>Produced by ldg ");
    em_html(e, ldg_version());
    em_s(e, ". All text above is as recorded in the ledger; nothing was edited.</p>\n"
            "</body></html>\n");
    return ok;
}
