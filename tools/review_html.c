/*
 * review_html.c - see review_html.h; spec/review.md [REV-OUT].  The charts
 * are inline SVG drawn from the KPI groups: items per month (answered on
 * time, answered late or closed, open), the median response time per month
 * for each organisation and level, and % answered on time per organisation.
 */
#include "review_html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.5em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
    "vertical-align:top;text-align:left}th{background:#f3f3f3}"
    "table.meta td:first-child{font-weight:600}"
    ".verdict{padding:.6em 1em;margin:1em 0;border-radius:4px}.good{background:#e6f4ea}"
    ".fail{background:#fce8e6}.sev-critical{background:#f8d0cc}.sev-major{background:#fde4c8}"
    ".sev-warning{background:#fff6cc}.sev-info{background:#eef3fb}"
    ".num{text-align:right}.nw{white-space:nowrap}svg{display:block;margin:.5em 0}"
    "@media print{tr{break-inside:avoid}}";

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
fmt_time(int64_t ns, char out[40])
{
    ldg_time_format(ns, 0, 1, out);
    char *dot = strchr(out, '.');
    if (dot)
        memcpy(dot, "Z", 2);
}

/* Distinct months of the groups, in order (they come sorted by month). */
static size_t
months(const rh_page *p, const char **m, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nk; i++)
        if ((!n || strcmp(m[n - 1], p->k[i].k.month) != 0) && n < cap)
            m[n++] = p->k[i].k.month;
    return n;
}

static void
text_at(emit *e, double x, double y, const char *anchor, const char *t)
{
    char b[160];
    snprintf(b, sizeof b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"%s\">", x, y,
             anchor);
    em_s(e, b);
    em_html(e, t);
    em_s(e, "</text>");
}

#define MONTHS_MAX 120
#define CH 220.0 /* chart height */

/* Items per month: answered on time, resolved late or without an answer, open. */
static void
chart_items(emit *e, const rh_page *p)
{
    const char *m[MONTHS_MAX];
    size_t nm = months(p, m, MONTHS_MAX);
    uint64_t on[MONTHS_MAX] = {0}, late[MONTHS_MAX] = {0}, open[MONTHS_MAX] = {0}, top = 1;
    for (size_t i = 0; i < p->nk; i++)
        for (size_t j = 0; j < nm; j++)
            if (strcmp(m[j], p->k[i].k.month) == 0) {
                const ldg_review_kpi *k = &p->k[i].k;
                on[j] += k->on_time;
                open[j] += k->open;
                late[j] += k->items - k->on_time - k->open;
            }
    for (size_t j = 0; j < nm; j++)
        if (on[j] + late[j] + open[j] > top)
            top = on[j] + late[j] + open[j];
    double bw = 36, W = 60 + (double)nm * (bw + 14) + 20;
    if (W < 420)
        W = 420; /* room for the legend */
    char b[256];
    snprintf(b, sizeof b,
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
             "role=\"img\" aria-label=\"items per month\">",
             W, CH + 60);
    em_s(e, b);
    snprintf(b, sizeof b, "%llu", (unsigned long long)top);
    text_at(e, 50, 25, "end", b);
    text_at(e, 50, CH + 10, "end", "0");
    em_s(e, "<line x1=\"55\" y1=\"20\" x2=\"55\" y2=\"230\" stroke=\"#888\"/>");
    for (size_t j = 0; j < nm; j++) {
        double x = 60 + (double)j * (bw + 14), y = CH + 10;
        const uint64_t parts[3] = {on[j], late[j], open[j]};
        static const char *const col[3] = {"#59a14f", "#f28e2b", "#e15759"};
        for (int s = 0; s < 3; s++) {
            double h = (double)parts[s] * (CH - 10) / (double)top;
            y -= h;
            snprintf(b, sizeof b,
                     "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\" fill=\"%s\"/>", x,
                     y, bw, h, col[s]);
            em_s(e, b);
        }
        text_at(e, x + bw / 2, CH + 25, "middle", m[j]);
    }
    em_s(e, "<rect x=\"60\" y=\"255\" width=\"10\" height=\"10\" fill=\"#59a14f\"/>");
    text_at(e, 74, 264, "start", "on time");
    em_s(e, "<rect x=\"130\" y=\"255\" width=\"10\" height=\"10\" fill=\"#f28e2b\"/>");
    text_at(e, 144, 264, "start", "late or closed unanswered");
    em_s(e, "<rect x=\"300\" y=\"255\" width=\"10\" height=\"10\" fill=\"#e15759\"/>");
    text_at(e, 314, 264, "start", "open");
    em_s(e, "</svg>\n");
}

/* Median response time per month, one line per organisation and level. */
static void
chart_response(emit *e, const rh_page *p)
{
    static const char *const col[] = {"#4e79a7", "#e15759", "#59a14f", "#b07aa1",
                                      "#f28e2b", "#76b7b2", "#9c755f", "#edc948"};
    const char *m[MONTHS_MAX];
    size_t nm = months(p, m, MONTHS_MAX);
    int64_t top = 1;
    for (size_t i = 0; i < p->nk; i++)
        if (p->k[i].k.response_median_ns > top)
            top = p->k[i].k.response_median_ns;
    double step = 80, W = 60 + (double)(nm ? nm : 1) * step + 220;
    char b[256];
    snprintf(b, sizeof b,
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
             "role=\"img\" aria-label=\"median response time\">",
             W, CH + 40);
    em_s(e, b);
    snprintf(b, sizeof b, "%.1f h", (double)top / 3.6e12);
    text_at(e, 50, 25, "end", b);
    text_at(e, 50, CH + 10, "end", "0");
    em_s(e, "<line x1=\"55\" y1=\"20\" x2=\"55\" y2=\"230\" stroke=\"#888\"/>");
    for (size_t j = 0; j < nm; j++)
        text_at(e, 70 + (double)j * step, CH + 25, "middle", m[j]);
    /* series: the distinct (org, level) pairs, in order of first appearance */
    size_t ns = 0;
    for (size_t i = 0; i < p->nk; i++) {
        bool seen = false;
        for (size_t q = 0; q < i && !seen; q++)
            seen = strcmp(p->k[q].k.org, p->k[i].k.org) == 0 &&
                   strcmp(p->k[q].k.level, p->k[i].k.level) == 0;
        if (seen)
            continue;
        const char *c = col[ns % (sizeof col / sizeof *col)];
        snprintf(b, sizeof b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                 c);
        em_s(e, b);
        for (size_t q = i; q < p->nk; q++) {
            const ldg_review_kpi *k = &p->k[q].k;
            if (strcmp(k->org, p->k[i].k.org) != 0 || strcmp(k->level, p->k[i].k.level) != 0 ||
                k->response_median_ns < 0)
                continue;
            for (size_t j = 0; j < nm; j++)
                if (strcmp(m[j], k->month) == 0) {
                    snprintf(b, sizeof b, "%.1f,%.1f ", 70 + (double)j * step,
                             CH + 10 - (double)k->response_median_ns * (CH - 10) / (double)top);
                    em_s(e, b);
                }
        }
        em_s(e, "\"/>");
        /* a dot per month, so a series of one month shows too */
        for (size_t q = i; q < p->nk; q++) {
            const ldg_review_kpi *k = &p->k[q].k;
            if (strcmp(k->org, p->k[i].k.org) != 0 || strcmp(k->level, p->k[i].k.level) != 0 ||
                k->response_median_ns < 0)
                continue;
            for (size_t j = 0; j < nm; j++)
                if (strcmp(m[j], k->month) == 0) {
                    snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                             70 + (double)j * step,
                             CH + 10 - (double)k->response_median_ns * (CH - 10) / (double)top, c);
                    em_s(e, b);
                }
        }
        double ly = 30 + (double)ns * 16;
        snprintf(b, sizeof b,
                 "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>", W - 200,
                 ly - 9, c);
        em_s(e, b);
        char label[300];
        snprintf(label, sizeof label, "%s%s%s", p->k[i].k.org, p->k[i].k.level[0] ? " / " : "",
                 p->k[i].k.level);
        text_at(e, W - 186, ly, "start", label);
        ns++;
    }
    em_s(e, "</svg>\n");
}

/* % answered on time per organisation. */
static void
chart_orgs(emit *e, const rh_page *p)
{
    const char *org[64];
    uint64_t items[64] = {0}, on[64] = {0};
    size_t n = 0;
    for (size_t i = 0; i < p->nk; i++) {
        size_t j = 0;
        while (j < n && strcmp(org[j], p->k[i].k.org) != 0)
            j++;
        if (j == n) {
            if (n == 64)
                continue;
            org[n++] = p->k[i].k.org;
        }
        items[j] += p->k[i].k.items;
        on[j] += p->k[i].k.on_time;
    }
    char b[256];
    snprintf(b, sizeof b,
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" height=\"%zu\" role=\"img\" "
             "aria-label=\"on time per organisation\">",
             n * 26 + 20);
    em_s(e, b);
    for (size_t j = 0; j < n; j++) {
        double pct = items[j] ? 100.0 * (double)on[j] / (double)items[j] : 0;
        double y = 10 + (double)j * 26;
        text_at(e, 195, y + 14, "end", org[j]);
        snprintf(b, sizeof b,
                 "<rect x=\"200\" y=\"%.0f\" width=\"%.1f\" height=\"18\" fill=\"#4e79a7\"/>", y,
                 pct * 3.0);
        em_s(e, b);
        snprintf(b, sizeof b, "%.1f %% of %llu", pct, (unsigned long long)items[j]);
        text_at(e, 205 + pct * 3.0, y + 14, "start", b);
    }
    em_s(e, "</svg>\n");
}

static void
hours_cell(emit *e, int64_t ns)
{
    char b[64];
    if (ns < 0)
        snprintf(b, sizeof b, "<td class=num>-</td>");
    else
        snprintf(b, sizeof b, "<td class=num>%.1f</td>", (double)ns / 3.6e12);
    em_s(e, b);
}

static void
u64_cell(emit *e, uint64_t v)
{
    char b[48];
    snprintf(b, sizeof b, "<td class=num>%llu</td>", (unsigned long long)v);
    em_s(e, b);
}

static void
kpi_row(emit *e, const ldg_review_kpi *k, const char *month)
{
    em_s(e, "<tr><td class=nw>");
    em_html(e, month);
    em_s(e, "</td><td>");
    em_html(e, k->org);
    em_s(e, "</td><td>");
    em_html(e, k->level[0] ? k->level : "-");
    em_s(e, "</td>");
    u64_cell(e, k->items);
    u64_cell(e, k->answered);
    char b[64];
    if (k->items)
        snprintf(b, sizeof b, "<td class=num>%.1f</td>",
                 100.0 * (double)k->on_time / (double)k->items);
    else
        snprintf(b, sizeof b, "<td class=num>-</td>");
    em_s(e, b);
    u64_cell(e, k->open);
    hours_cell(e, k->response_median_ns);
    hours_cell(e, k->response_p90_ns);
    u64_cell(e, k->queries_closed);
    hours_cell(e, k->query_closure_median_ns);
    u64_cell(e, k->escalations_raised);
    u64_cell(e, k->escalations_closed);
    em_s(e, "</tr>\n");
}

bool
review_html_write(emit *e, const rh_page *p)
{
    const ldg_review_summary *s = p->sum;
    char b[512], t[40];
    em_s(e, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            "<title>Readiness review: ");
    em_html(e, p->origin);
    em_s(e, "</title><style>");
    em_s(e, css);
    em_s(e, "</style></head><body>\n<h1>Inspection readiness review</h1>\n<table class=meta>\n");
    kv(e, "Ledger", p->origin);
    kv(e, "Ledger directory", p->ledger);
    kv(e, "Study", p->study ? p->study : "every study");
    fmt_time(s->as_of_ns, t);
    kv(e, "As of (ledger time)", t);
    snprintf(b, sizeof b, "ldg %s", p->version);
    kv(e, "Tool", b);
    snprintf(b, sizeof b, "%llu entries verified, %llu failures; %llu records analysed",
             (unsigned long long)s->verify.entries, (unsigned long long)s->verify.failures,
             (unsigned long long)s->analysed);
    kv(e, "Verification", b);
    if (s->qa_who[0])
        kv(e, "Checkpoint cosigned by QA key", s->qa_who);
    kv(e, "Fails on", p->fail_on);
    em_s(e, "</table>\n");
    em_s(e, s->intact ? "<div class=\"verdict good\"><strong>The ledger verified intact.</strong> "
                        "The findings below are what the communication plan in force says "
                        "went wrong.</div>\n"
                      : "<div class=\"verdict fail\"><strong>INTEGRITY FAILURE.</strong> The "
                        "analysis below cannot be relied on (REV-1).</div>\n");
    snprintf(b, sizeof b,
             "<h2>Findings</h2>\n<p>%llu critical, %llu major, %llu warning, %llu info.</p>\n",
             (unsigned long long)s->findings[LDG_SEV_CRITICAL],
             (unsigned long long)s->findings[LDG_SEV_MAJOR],
             (unsigned long long)s->findings[LDG_SEV_WARNING],
             (unsigned long long)s->findings[LDG_SEV_INFO]);
    em_s(e, b);
    em_s(e, "<table class=findings><tr><th>Severity</th><th>Rule</th><th>Finding</th>"
            "<th>Study</th><th>Records</th><th>Ledger time</th><th>Why</th></tr>\n");
    for (size_t i = 0; i < p->nf; i++) {
        const rh_finding *f = &p->f[i];
        const char *sev = ldg_severity_name(f->severity);
        snprintf(b, sizeof b, "<tr class=\"sev-%s\"><td>", sev);
        em_s(e, b);
        em_html(e, sev);
        em_s(e, "</td><td class=nw>");
        em_html(e, f->rule);
        em_s(e, "</td><td>");
        em_html(e, f->name);
        em_s(e, "</td><td>");
        em_html(e, f->study);
        em_s(e, "</td><td>");
        for (size_t j = 0; j < f->nseqs; j++) {
            snprintf(b, sizeof b, "%s#%llu", j ? ", " : "", (unsigned long long)f->seqs[j]);
            em_s(e, b);
        }
        if (!f->nseqs)
            em_s(e, "ledger");
        em_s(e, "</td><td class=nw>");
        if (f->at_ns) {
            fmt_time(f->at_ns, t);
            em_html(e, t);
        }
        em_s(e, "</td><td>");
        em_html(e, f->why);
        em_s(e, "</td></tr>\n");
    }
    em_s(e, "</table>\n");
    if (p->dropped) {
        snprintf(b, sizeof b, "<p>%llu more findings are not listed here (see --json).</p>\n",
                 (unsigned long long)p->dropped);
        em_s(e, b);
    }
    em_s(e, "<h2>KPIs</h2>\n<p>Items that expect a response under the plan in force, by the "
            "month they were raised (ledger time), the organisation due to respond and the "
            "level. Times in hours; median and 90th percentile by nearest rank.</p>\n");
    if (p->nk) {
        em_s(e, "<h3>Items per month</h3>\n");
        chart_items(e, p);
        em_s(e, "<h3>Median response time per month</h3>\n");
        chart_response(e, p);
        em_s(e, "<h3>Answered on time, per organisation</h3>\n");
        chart_orgs(e, p);
    }
    em_s(e, "<table class=kpis><tr><th>Month</th><th>Organisation</th><th>Level</th>"
            "<th>Items</th><th>Answered</th><th>% on time</th><th>Open</th><th>Median h</th>"
            "<th>P90 h</th><th>Queries closed</th><th>Query closure median h</th>"
            "<th>Escalations raised</th><th>Escalations closed</th></tr>\n");
    for (size_t i = 0; i < p->nk; i++)
        kpi_row(e, &p->k[i].k, p->k[i].k.month);
    kpi_row(e, &s->total, "all");
    em_s(e, "</table>\n</body></html>\n");
    return !e->failed;
}
