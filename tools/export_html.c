/*
 * export_html.c - see export_html.h; spec/export.md [EXP-7].
 *
 * Threads: a record whose refs name no exported record opens a thread; a
 * record that refs one joins that record's thread.  A thread's response
 * time is from its opening record to the first record of another
 * organisation in it, on the ledger's time of record (host time: it never
 * decreases and the signer cannot set it); past the agreed turnaround it is
 * flagged overdue, and so is an open thread older than the turnaround.
 */
#include "export_html.h"
#include "tool.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_H 3600000000000LL
#define NS_PER_DAY (24 * NS_PER_H)
#define MAX_ORGS 4096
#define MAX_THREADS_SHOWN 2000
#define NO_THREAD UINT32_MAX

static const struct {
    const char *name;
    const char *colour;
} kinds[] = {
    {"communication", "#4e79a7"}, {"meeting", "#76b7b2"},    {"query", "#f28e2b"},
    {"response", "#59a14f"},      {"decision", "#e15759"},   {"approval", "#b07aa1"},
    {"rejection", "#9c755f"},     {"escalation", "#ff9da7"}, {"deviation", "#edc948"},
    {"action", "#bab0ac"},        {"document", "#86bcb6"},   {"correction", "#d37295"},
    {"genesis", "#888888"},       {"key.add", "#aaaaaa"},    {"key.revoke", "#666666"},
    {"other", "#cccccc"},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

typedef struct hrec {
    uint64_t seq;
    int64_t t; /* host time */
    uint32_t thread;
    uint16_t kind, org;
} hrec;

typedef struct thread {
    uint32_t root;                                /* index into recs */
    int64_t opened, response, decision, approval; /* 0: none yet */
    uint32_t count;
    char *subject;
} thread;

typedef struct corr {
    uint64_t target, by;
    char *reason;
} corr;

struct html_ctx {
    hrec *r;
    size_t n, cap;
    char *orgs[MAX_ORGS];
    size_t norgs;
    thread *th;
    size_t nth, capth;
    corr *corr;
    size_t ncorr, capcorr;
    double turnaround_h;
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

html_ctx *
html_new(double turnaround_h, bool withhold)
{
    html_ctx *h = calloc(1, sizeof *h);
    if (h) {
        h->turnaround_h = turnaround_h;
        h->withhold = withhold;
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
    for (size_t i = 0; i < h->ncorr; i++)
        free(h->corr[i].reason);
    free(h->r);
    free(h->th);
    free(h->corr);
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

int
html_collect(void *ctx, const ldg_record *r)
{
    html_ctx *h = ctx;
    if (!grow((void **)&h->r, &h->cap, h->n, sizeof *h->r)) {
        h->oom = true;
        return 1;
    }
    hrec *x = &h->r[h->n];
    x->seq = r->seq;
    x->t = (int64_t)r->host_time_ns;
    x->kind = (uint16_t)kind_index(r->kind);
    x->org = org_index(h, org_of(r));
    x->thread = NO_THREAD;
    h->kind_count[x->kind]++;
    bool user = x->kind < 12;
    for (size_t i = 0; user && i < r->nrefs && x->thread == NO_THREAD; i++) {
        const hrec *t = r->ref_seqs[i] == UINT64_MAX ? NULL : find(h, r->ref_seqs[i]);
        if (t)
            x->thread = t->thread;
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
        x->thread = (uint32_t)h->nth++;
    } else if (x->thread != NO_THREAD) {
        thread *t = &h->th[x->thread];
        if (!t->response && x->org != h->r[t->root].org)
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
            if (r->ref_seqs[i] == UINT64_MAX ||
                !grow((void **)&h->corr, &h->capcorr, h->ncorr, sizeof *h->corr))
                continue;
            corr *c = &h->corr[h->ncorr++];
            c->target = r->ref_seqs[i];
            c->by = r->seq;
            c->reason = r->reason ? strndup(r->reason, 300) : NULL;
        }
    }
    h->n++;
    return 0;
}

/* ------------------------------------------------------------- rows -- */

static void
time_cell(emit *e, int64_t ns, int32_t tz)
{
    char t[40], l[40];
    ldg_time_format(ns, 0, 1, t);
    t[19] = 'Z';
    t[20] = '\0';
    ldg_time_format(ns, tz, 0, l);
    l[19] = '\0';
    char off[8];
    tool_utc_offset(tz, off);
    em_html(e, t);
    em_s(e, "<br><small>");
    em_html(e, l);
    em_s(e, " UTC");
    em_s(e, off);
    em_s(e, "</small>");
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

/* The body for people: subject in bold, then its other top-level fields. */
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
    size_t shown = 0;
    json_object_foreach(b, k, v)
    {
        if (v == s || shown >= 12)
            continue;
        em_s(e, "<div class=f><span class=k>");
        em_html(e, k);
        em_s(e, "</span> ");
        if (json_is_string(v)) {
            em_html(e, json_string_value(v));
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            em_html(e, t ? t : "?");
            free(t);
        }
        em_s(e, "</div>");
        shown++;
    }
    json_decref(b);
}

void
html_row(html_ctx *h, emit *e, const ldg_record *r, uint64_t proven)
{
    em_s(e, "<tr id=r");
    em_u64(e, r->seq);
    if (r->sig_state == LDG_SIG_INVALID || r->body_state == LDG_BODY_MISMATCH)
        em_s(e, " class=badrow");
    em_s(e, "><td class=n>");
    link_to(e, r->seq);
    em_s(e, "</td><td class=t>");
    time_cell(e, r->time_ns, r->tz_min);
    em_s(e, "</td><td><span class=kind style=\"border-color:");
    em_s(e, kinds[kind_index(r->kind)].colour);
    em_s(e, "\">");
    em_html(e, r->kind);
    em_s(e, "</span></td><td>");
    em_html(e, r->study);
    em_s(e, "</td><td>");
    em_html(e, r->signer.name ? r->signer.name : "(unregistered key)");
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
    }
    /* Corrections beside what they correct: the original stays as it was. */
    if (strcmp(r->kind, "correction") == 0)
        for (size_t i = 0; i < r->nrefs; i++)
            if (r->ref_seqs[i] != UINT64_MAX) {
                em_s(e, "<div class=corr>Corrects ");
                link_to(e, r->ref_seqs[i]);
                em_s(e, "</div>");
            }
    if (!h->corr_sorted) {
        if (h->ncorr) /* qsort of NULL, even of none, is undefined */
            qsort(h->corr, h->ncorr, sizeof *h->corr, corr_cmp);
        h->corr_sorted = true;
    }
    size_t lo = 0, hi = h->ncorr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->corr[mid].target < r->seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < h->ncorr && h->corr[i].target == r->seq; i++) {
        em_s(e, "<div class=corr>Corrected by ");
        link_to(e, h->corr[i].by);
        if (h->corr[i].reason) {
            em_s(e, ": ");
            em_html(e, h->corr[i].reason);
        }
        em_s(e, " (shown as recorded)</div>");
    }
    em_s(e, "</td><td>");
    for (size_t i = 0; i < r->nrefs; i++) {
        if (i)
            em_s(e, " ");
        if (r->ref_seqs[i] == UINT64_MAX)
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
        ldg_time_format(r->time_ns, 0, 1, t);
        t[19] = '\0';
        em_s(e, "<div class=sigblock><span class=k>signed by</span> ");
        em_html(e, r->signer.name ? r->signer.name : "(unregistered key)");
        em_s(e, "<br><span class=k>on</span> ");
        em_html(e, t);
        em_s(e, " UTC (signer's offset UTC");
        char off[8];
        tool_utc_offset(r->tz_min, off);
        em_s(e, off);
        em_s(e, ")<br><span class=k>meaning</span> <strong>");
        em_html(e, r->meaning);
        em_s(e, "</strong></div>");
    }
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
    char b64[64];
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (size_t i = 0; i + 2 < LDG_HASH_BYTES && k < 16; i += 3) {
        uint32_t v = (uint32_t)r->leaf_hash[i] << 16 | (uint32_t)r->leaf_hash[i + 1] << 8 |
                     r->leaf_hash[i + 2];
        for (int j = 18; j >= 0; j -= 6)
            b64[k++] = tab[v >> j & 63];
    }
    b64[k] = '\0';
    em_s(e, "</td><td><code title=\"leaf hash (base64), first 16 characters\">");
    em_s(e, b64);
    em_s(e, "</code></td></tr>\n");
}

/* ----------------------------------------------------------- report -- */

static const char css[] =
    "body{font:13px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "color:#1b1b1b;background:#fff;margin:24px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px "
    "solid #ddd;padding-bottom:4px}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;"
    "vertical-align:top;text-align:left}th{background:#f3f3f3}"
    "thead{display:table-header-group}tr{break-inside:avoid}"
    ".meta td:first-child{width:190px;color:#555}.n{white-space:nowrap}.t{white-space:nowrap}"
    "small,.muted{color:#666}.k{color:#666;font-size:11px;text-transform:uppercase;"
    "letter-spacing:.03em}.f{margin-top:2px}.body{max-width:520px;overflow-wrap:anywhere}"
    ".kind{border-left:4px solid #999;padding-left:4px;white-space:nowrap}"
    ".verdict{padding:10px 14px;border-radius:4px;margin:14px 0;font-size:14px}"
    ".good{background:#e8f5e9;border:1px solid #66bb6a}.fail{background:#ffebee;border:2px solid "
    "#c62828}"
    ".bad{color:#b71c1c}.ok{color:#1b5e20}.badrow{background:#fff3f3}"
    ".corr{margin-top:4px;padding:2px 6px;background:#fff8e1;border-left:3px solid #d37295}"
    ".sigblock{border:1px solid #bbb;padding:3px 6px;margin-bottom:3px;background:#fafafa}"
    ".overdue{color:#b71c1c;font-weight:600}code{font-size:11px}"
    "pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "font-size:11px}"
    "@page{size:A4 landscape;margin:12mm}"
    "@media print{body{margin:0;font-size:10px}a{color:inherit;text-decoration:none}"
    "h2{break-after:avoid}.noprint{display:none}svg{max-width:100%}}";

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
    while (first < h->n && h->r[first].kind >= 12)
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
        if (h->r[i].kind >= 12)
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
        if (!h->kind_count[k] || k >= 12)
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
    int64_t limit = (int64_t)(h->turnaround_h * (double)NS_PER_H);
    uint64_t overdue = 0;
    for (size_t i = 0; i < h->nth; i++) {
        const thread *t = &h->th[i];
        overdue += t->response ? t->response - t->opened > limit : now - t->opened > limit;
    }
    char buf[200];
    snprintf(buf, sizeof buf,
             "<p>%zu threads; agreed turnaround %.4g h; <span class=%s>%llu overdue</span>. "
             "Times are on the ledger's time of record.</p>\n",
             h->nth, h->turnaround_h, overdue ? "overdue" : "ok", (unsigned long long)overdue);
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
        if (t->response && t->response - t->opened > limit)
            em_s(e, "<span class=overdue>responded late (overdue)</span>");
        else if (t->response)
            em_s(e, "<span class=ok>responded in time</span>");
        else if (now - t->opened > limit)
            em_s(e, "<span class=overdue>OPEN, overdue: no response</span>");
        else
            em_s(e, "open");
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

bool
html_write(html_ctx *h, emit *e, const html_meta *m, FILE *spool)
{
    bool good = m->root_ok && m->proven_ok && !m->bad_sigs && !m->mismatch;
    em_s(e, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            "<title>Audit trail: ");
    em_html(e, m->origin);
    em_s(e, "</title><style>");
    em_s(e, css);
    em_s(e, "</style></head><body>\n<h1>Audit trail</h1>\n<table class=meta>\n");
    kv(e, "Ledger", m->origin);
    kv(e, "Exported", m->exported_at);
    kv(e, "Exported by", m->exporter);
    kv(e, "Filters", m->filters);
    char buf[300];
    snprintf(buf, sizeof buf, "%zu", h->n);
    kv(e, "Records in this export", buf);
    snprintf(buf, sizeof buf, "%.4g hours", m->turnaround_h);
    kv(e, "Agreed turnaround", buf);
    em_s(e, "</table>\n");
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
    if (m->proven) {
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
            "bundle export.</div>\n<h2>Checkpoint</h2>\n<pre>");
    em_html(e, m->checkpoint);
    em_s(e, "</pre>\n<h2>Activity over time</h2>\n");
    timeline(h, e);
    em_s(e, "<h2>Activity per organisation</h2>\n");
    activity(h, e);
    em_s(e, "<h2>Threads and response times</h2>\n");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    threads(h, e, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec);
    em_s(e, "<h2>Records</h2>\n<table><thead><tr><th>#</th><th>Time (UTC / local)</th>"
            "<th>Kind</th><th>Study</th><th>Signer</th><th>Content</th><th>Refs</th>"
            "<th>Signature</th><th>Leaf hash</th></tr></thead><tbody>\n");
    rewind(spool);
    char chunk[1 << 16];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, spool)) > 0)
        em_raw(e, chunk, got);
    bool ok = !ferror(spool) && !h->oom;
    em_s(e, "</tbody></table>\n<p class=muted>Produced by ldg ");
    em_html(e, ldg_version());
    em_s(e, ". All text above is as recorded in the ledger; nothing was edited.</p>\n"
            "</body></html>\n");
    return ok;
}
