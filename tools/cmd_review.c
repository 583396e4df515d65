/*
 * cmd_review.c - `ldg review`: the readiness report (spec/review.md).  The
 * library verifies and analyses (ldg_review_run); this file keeps the
 * options and the presentation: a readable list on stdout, one JSON line
 * per finding and a summary line (--json), the HTML page (-o FILE,
 * review_html.c).  Exit 0 when nothing at or above --fail-on was found, 1
 * otherwise, 2 for bad usage or input, 4 when the review could not run.
 */
#include "tool.h"

#include "emit.h"
#include "review_html.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char review_help[] =
    "usage: ldg review [--study S] [--as-of T] [--json] [-o review.html] [--fail-on LEVEL]\n"
    "                  [--since QA.txt [--qa QA.pub]...] [--jobs N] [--ledger DIR]\n"
    "The readiness report: verifies the ledger (in full, or from --since, a checkpoint\n"
    "saved and cosigned by QA as for `ldg verify --since`), then reads the verified entries\n"
    "and reports what the communication plan in force says went wrong, each finding with a\n"
    "rule id (REV-n, spec/review.md), a severity (info, warning, major, critical), the\n"
    "records involved and why; then KPIs per organisation, level and month (median and\n"
    "90th-percentile response time, % answered on time, open items, query closure time,\n"
    "escalations raised and closed).  An integrity failure is a critical finding.\n"
    "--study S       only the records of study S (key and host-clock rules stay ledger-wide)\n"
    "--as-of T       the ledger as it stood at T (ISO 8601): entries of host time <= T,\n"
    "                items judged open or overdue at T (default: now)\n"
    "--json          one JSON object per finding a line, then one summary line with the KPIs\n"
    "-o FILE         also write the HTML report (self-contained, SVG charts) to FILE (a file\n"
    "                beside it is created before the review runs: exit 4 at once if it cannot)\n"
    "--fail-on LEVEL exit 1 when a finding at or above LEVEL is found (default: major)\n"
    "Exit 0 when none is, 1 when one is, 2 for bad usage or input, 4 if it could not run.\n";

#define KEEP_MAX 20000 /* findings the HTML page lists; the rest are counted */

typedef struct rctx {
    FILE *out; /* the text or --json lines */
    bool json, tty;
    ldg_severity fail_on;
    bool html;
    rh_finding *f;
    size_t nf, fcap;
    uint64_t dropped;
    rh_kpi *k;
    size_t nk, kcap;
    bool oom;
} rctx;

static void
seqs_text(const uint64_t *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s#%llu", i ? "," : "", (unsigned long long)s[i]);
    if (!n)
        snprintf(out, cap, "ledger");
}

static json_t *
time_json(int64_t ns)
{
    if (!ns)
        return json_null();
    char t[40];
    ldg_time_format(ns, 0, 1, t);
    return json_string(t);
}

static void
on_finding(void *ctx, const ldg_review_finding *f)
{
    rctx *c = ctx;
    if (c->tty)
        fputs("\r\033[K", stderr);
    if (c->json) {
        json_t *seqs = json_array();
        for (size_t i = 0; i < f->nseqs; i++)
            json_array_append_new(seqs, json_integer((json_int_t)f->seqs[i]));
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "rule", f->rule, "name", f->name,
                      "severity", ldg_severity_name(f->severity), "study", tool_json_text(f->study),
                      "seqs", seqs, "at", time_json(f->at_ns), "why", tool_json_text(f->why));
        char *s = tool_json_dumps(o);
        if (s) {
            fputs(s, c->out);
            fputc('\n', c->out);
        }
        free(s);
        json_decref(o);
    } else {
        char seqs[128], sev[16];
        seqs_text(f->seqs, f->nseqs, seqs, sizeof seqs);
        const char *n = ldg_severity_name(f->severity);
        size_t i = 0;
        for (; n[i] && i < sizeof sev - 1; i++)
            sev[i] = (char)(n[i] >= 'a' && n[i] <= 'z' ? n[i] - 32 : n[i]);
        sev[i] = '\0';
        fprintf(c->out, "%-8s %-6s %-24s %s%s%s: %s\n", sev, f->rule, f->name,
                f->study[0] ? em_t(f->study) : "", f->study[0] ? " " : "", seqs, em_t(f->why));
    }
    if (!c->html)
        return;
    if (c->nf == KEEP_MAX) {
        c->dropped++;
        return;
    }
    if (c->nf == c->fcap) {
        size_t cap = c->fcap ? c->fcap * 2 : 64;
        rh_finding *nf = realloc(c->f, cap * sizeof *nf);
        if (!nf) {
            c->oom = true;
            return;
        }
        c->f = nf;
        c->fcap = cap;
    }
    rh_finding *k = &c->f[c->nf];
    memset(k, 0, sizeof *k);
    snprintf(k->rule, sizeof k->rule, "%s", f->rule);
    snprintf(k->name, sizeof k->name, "%s", f->name);
    k->severity = f->severity;
    k->study = strdup(f->study);
    k->why = strdup(f->why);
    k->nseqs = f->nseqs;
    memcpy(k->seqs, f->seqs, sizeof k->seqs);
    k->at_ns = f->at_ns;
    if (!k->study || !k->why) {
        free(k->study);
        free(k->why);
        c->oom = true;
        return;
    }
    c->nf++;
}

static void
on_kpi(void *ctx, const ldg_review_kpi *k)
{
    rctx *c = ctx;
    if (c->nk == c->kcap) {
        size_t cap = c->kcap ? c->kcap * 2 : 32;
        rh_kpi *nk = realloc(c->k, cap * sizeof *nk);
        if (!nk) {
            c->oom = true;
            return;
        }
        c->k = nk;
        c->kcap = cap;
    }
    rh_kpi *d = &c->k[c->nk];
    d->k = *k;
    d->org = strdup(k->org);
    d->level = strdup(k->level);
    if (!d->org || !d->level) {
        free(d->org);
        free(d->level);
        c->oom = true;
        return;
    }
    d->k.org = d->org;
    d->k.level = d->level;
    c->nk++;
}

static void
on_progress(void *ctx, uint64_t done, uint64_t total)
{
    rctx *c = ctx;
    if (c->tty)
        fprintf(stderr, "\rreview: %llu / %llu records", (unsigned long long)done,
                (unsigned long long)total);
}

/* Hours with one decimal, or "-" when there is nothing to measure. */
static void
hours(int64_t ns, char *out, size_t cap)
{
    if (ns < 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.1f", (double)ns / 3.6e12);
}

static json_t *
kpi_json(const ldg_review_kpi *k, bool group)
{
    json_t *o = json_object();
    if (group) {
        json_object_set_new(o, "month", json_string(k->month));
        json_object_set_new(o, "org", tool_json_text(k->org));
        json_object_set_new(o, "level", tool_json_text(k->level));
    }
    json_object_set_new(o, "items", json_integer((json_int_t)k->items));
    json_object_set_new(o, "answered", json_integer((json_int_t)k->answered));
    json_object_set_new(o, "on_time", json_integer((json_int_t)k->on_time));
    json_object_set_new(o, "open", json_integer((json_int_t)k->open));
    json_object_set_new(o, "response_median_ns", json_integer(k->response_median_ns));
    json_object_set_new(o, "response_p90_ns", json_integer(k->response_p90_ns));
    json_object_set_new(o, "queries_closed", json_integer((json_int_t)k->queries_closed));
    json_object_set_new(o, "query_closure_median_ns", json_integer(k->query_closure_median_ns));
    json_object_set_new(o, "escalations_raised", json_integer((json_int_t)k->escalations_raised));
    json_object_set_new(o, "escalations_closed", json_integer((json_int_t)k->escalations_closed));
    return o;
}

static void
print_summary(const rctx *c, const ldg_review_summary *sum, const char *dir, bool failed)
{
    char asof[40];
    ldg_time_format(sum->as_of_ns, 0, 1, asof);
    const uint64_t *n = sum->findings;
    if (c->json) {
        json_t *groups = json_array();
        for (size_t i = 0; i < c->nk; i++)
            json_array_append_new(groups, kpi_json(&c->k[i].k, true));
        json_t *counts =
            json_pack("{s:I, s:I, s:I, s:I}", "critical", (json_int_t)n[LDG_SEV_CRITICAL], "major",
                      (json_int_t)n[LDG_SEV_MAJOR], "warning", (json_int_t)n[LDG_SEV_WARNING],
                      "info", (json_int_t)n[LDG_SEV_INFO]);
        json_t *o = json_pack("{s:s, s:o, s:b, s:I, s:I, s:I, s:s, s:o, s:s, s:o, s:o}", "summary",
                              failed ? "failed" : "passed", "ledger", tool_json_text(dir), "intact",
                              sum->intact, "entries", (json_int_t)sum->verify.entries, "analysed",
                              (json_int_t)sum->analysed, "verify_failures",
                              (json_int_t)sum->verify.failures, "as_of", asof, "findings", counts,
                              "fail_on", ldg_severity_name(c->fail_on), "kpis",
                              kpi_json(&sum->total, false), "groups", groups);
        if (o && sum->qa_who[0])
            json_object_set_new(o, "cosigned_by", tool_json_text(sum->qa_who));
        char *s = tool_json_dumps(o);
        if (s) {
            fputs(s, c->out);
            fputc('\n', c->out);
        }
        free(s);
        json_decref(o);
        return;
    }
    if (c->nk) {
        fprintf(c->out,
                "\nKPIs: items that expect a response, by month raised, responding organisation "
                "and level (hours)\n");
        fprintf(c->out, "%-7s  %-24s %-12s %5s %5s %7s %4s %7s %7s %6s %7s %4s %4s\n", "month",
                "organisation", "level", "items", "answd", "ontime%", "open", "median", "p90",
                "qclose", "qmedian", "escR", "escC");
        for (size_t i = 0; i < c->nk; i++) {
            const ldg_review_kpi *k = &c->k[i].k;
            char med[16], p90[16], qm[16], pct[16];
            hours(k->response_median_ns, med, sizeof med);
            hours(k->response_p90_ns, p90, sizeof p90);
            hours(k->query_closure_median_ns, qm, sizeof qm);
            if (k->items)
                snprintf(pct, sizeof pct, "%.1f", 100.0 * (double)k->on_time / (double)k->items);
            else
                snprintf(pct, sizeof pct, "-");
            fprintf(c->out,
                    "%-7s  %-24s %-12s %5llu %5llu %7s %4llu %7s %7s %6llu %7s %4llu %4llu\n",
                    k->month, em_t(k->org), em_t(k->level[0] ? k->level : "-"),
                    (unsigned long long)k->items, (unsigned long long)k->answered, pct,
                    (unsigned long long)k->open, med, p90, (unsigned long long)k->queries_closed,
                    qm, (unsigned long long)k->escalations_raised,
                    (unsigned long long)k->escalations_closed);
        }
    }
    fprintf(c->out,
            "%s: %s: %llu of %llu entries analysed as of %s; %s; findings: %llu critical, %llu "
            "major, %llu warning, %llu info (--fail-on %s)\n",
            failed ? "REVIEW FAILED" : "REVIEW PASSED", em_t(dir),
            (unsigned long long)sum->analysed, (unsigned long long)sum->verify.entries, asof,
            sum->intact ? "the ledger verified intact"
                        : "INTEGRITY FAILURE: the analysis cannot be relied on",
            (unsigned long long)n[LDG_SEV_CRITICAL], (unsigned long long)n[LDG_SEV_MAJOR],
            (unsigned long long)n[LDG_SEV_WARNING], (unsigned long long)n[LDG_SEV_INFO],
            ldg_severity_name(c->fail_on));
}

/*
 * The page goes to a temporary file beside out, created before the review runs
 * (fail fast: a place no file can be written is said at once, SECURITY.md) and
 * renamed into place once written whole; removed on every failure.
 */
typedef struct html_out {
    char *tmp;
    FILE *f;
} html_out;

static int
html_open(const char *out, html_out *h)
{
    size_t n = strlen(out) + 16;
    *h = (html_out){0};
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) /* the rename at the end would fail */
        return tool_error(EXIT_OPER, "%s: cannot write: %s", out, strerror(EISDIR));
    if (!(h->tmp = malloc(n)))
        return tool_error(EXIT_OPER, "out of memory");
    snprintf(h->tmp, n, "%s.tmp.XXXXXX", out);
    int fd = mkstemp(h->tmp);
    mode_t mask = umask(0);
    umask(mask);
    if (fd >= 0 && fchmod(fd, 0666 & ~mask) != 0) { /* a report, as any file the user writes */
        close(fd);
        unlink(h->tmp);
        fd = -1;
    }
    if (!(h->f = fd >= 0 ? fdopen(fd, "w") : NULL)) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(h->tmp);
        }
        free(h->tmp);
        h->tmp = NULL;
        return tool_error(EXIT_OPER, "%s: cannot create: %s", out, strerror(e));
    }
    return EXIT_OK;
}

/* Drops the temporary file (nothing written, or the review failed). */
static void
html_discard(html_out *h)
{
    if (h->f) {
        fclose(h->f);
        unlink(h->tmp);
    }
    free(h->tmp);
    *h = (html_out){0};
}

/* Writes the page to the temporary file and renames it into place. */
static int
write_html(const char *out, html_out *h, const rh_page *p)
{
    emit e;
    em_init(&e, h->f);
    bool ok = review_html_write(&e, p) && em_flush(&e);
    ok = fflush(h->f) == 0 && fsync(fileno(h->f)) == 0 && ok;
    ok = fclose(h->f) == 0 && ok;
    h->f = NULL;
    if (!ok || rename(h->tmp, out) != 0) {
        int er = errno;
        unlink(h->tmp);
        html_discard(h);
        return tool_error(EXIT_OPER, "%s: write failed: %s", out, strerror(er));
    }
    html_discard(h);
    return EXIT_OK;
}

static void
rctx_free(rctx *c)
{
    for (size_t i = 0; i < c->nf; i++) {
        free(c->f[i].study);
        free(c->f[i].why);
    }
    free(c->f);
    for (size_t i = 0; i < c->nk; i++) {
        free(c->k[i].org);
        free(c->k[i].level);
    }
    free(c->k);
}

/* Did anything at or above the --fail-on level turn up? */
static bool
review_failed(const rctx *c, const ldg_review_summary *sum)
{
    bool failed = false;
    for (int v = c->fail_on; v <= LDG_SEV_CRITICAL; v++)
        failed = failed || sum->findings[v] > 0;
    return failed;
}

int
review_for_bundle(ldg_ledger *l, const char *origin, ldg_review_opts *o, FILE *json, FILE *html,
                  int *intact)
{
    rctx c = {.out = json, .json = true, .html = true, .fail_on = LDG_SEV_MAJOR};
    o->on_finding = on_finding;
    o->on_kpi = on_kpi;
    o->on_progress = NULL;
    o->ctx = &c;
    ldg_review_summary sum;
    ldg_err err;
    int rc = EXIT_OK;
    if (ldg_review_run(l, o, &sum, &err) != LDG_OK)
        rc = tool_fail(&err);
    else if (c.oom)
        rc = tool_error(EXIT_OPER, "out of memory");
    if (rc == EXIT_OK) {
        print_summary(&c, &sum, origin, review_failed(&c, &sum));
        rh_page p = {.ledger = origin,
                     .origin = origin,
                     .study = o->study,
                     .version = ldg_version(),
                     .sum = &sum,
                     .f = c.f,
                     .nf = c.nf,
                     .dropped = c.dropped,
                     .k = c.k,
                     .nk = c.nk,
                     .fail_on = ldg_severity_name(c.fail_on)};
        emit e;
        em_init(&e, html);
        if (!review_html_write(&e, &p) || !em_flush(&e) || fflush(html) != 0 || fflush(json) != 0)
            rc = tool_error(EXIT_OPER, "cannot write the review: %s", strerror(errno));
        *intact = sum.intact;
    }
    rctx_free(&c);
    return rc;
}

int
cmd_review(int argc, char **argv)
{
    const char *dir = NULL, *study = NULL, *asof = NULL, *out = NULL, *failon = NULL, *since = NULL,
               *jobs = NULL, *qafiles[16];
    size_t nqa = 0;
    rctx c = {.out = stdout, .tty = isatty(2) == 1, .fail_on = LDG_SEV_MAJOR};
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir),  OPT_VAL("--study", &study),
                              OPT_VAL("--as-of", &asof),  OPT_FLAG("--json", &c.json),
                              OPT_VAL("-o", &out),        OPT_VAL("--fail-on", &failon),
                              OPT_VAL("--since", &since), OPT_MANY("--qa", qafiles, &nqa, 16),
                              OPT_VAL("--jobs", &jobs),   OPT_END};
    ldg_review_opts o = {
        .on_finding = on_finding, .on_kpi = on_kpi, .on_progress = on_progress, .ctx = &c};
    int rc = opt_parse(argc, argv, 1, specs, review_help, NULL, 0);
    if (rc != EXIT_OK || (rc = opt_jobs(jobs, &o.jobs)) != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    ldg_err err;
    if (failon && ldg_severity_parse(failon, &c.fail_on) != 0)
        return tool_usage("--fail-on %s: expected info, warning, major or critical", failon);
    if (asof) {
        int32_t tz;
        if (ldg_time_parse(asof, &o.as_of_ns, &tz, &err) != LDG_OK)
            return tool_usage("--as-of %s: %s", asof, err.msg);
        o.has_as_of = 1;
    }
    if (study && (!*study || strlen(study) > LDG_STUDY_MAX))
        return tool_usage("--study: 1 to %u bytes", LDG_STUDY_MAX);
    if (nqa && !since)
        return tool_usage("--qa names a QA key whose cosignature makes --since count");
    if (out && !*out)
        return tool_usage("-o: an empty file name");
    o.study = study;
    c.html = out != NULL;
    char *sincetext = NULL, *qatext[16] = {0};
    size_t sincelen = 0;
    if (since && (rc = tool_read_file(since, 65536, &sincetext, &sincelen)) != EXIT_OK)
        return rc;
    for (size_t i = 0; i < nqa && rc == EXIT_OK; i++) {
        size_t ql;
        char qn[LDG_NAME_MAX + 1];
        uint8_t qp[LDG_PUB_BYTES];
        if ((rc = tool_read_file(qafiles[i], LDG_VKEY_MAX, &qatext[i], &ql)) == EXIT_OK &&
            ldg_vkey_parse(qatext[i], ql, qn, qp, &err) != LDG_OK)
            rc = tool_usage("--qa %s: %s", qafiles[i], err.msg);
    }
    html_out hout = {0};
    if (rc == EXIT_OK && out)
        rc = html_open(out, &hout);
    o.since_note = sincetext;
    o.since_len = sincelen;
    o.qa = (const char *const *)qatext;
    o.nqa = nqa;
    ldg_ledger *l = NULL;
    ldg_review_summary sum;
    ldg_status s = LDG_OK;
    bool damaged = false;
    char origin[LDG_TEXT_MAX + 1] = "";
    if (rc == EXIT_OK) {
        /* [STO-7] a damaged file is an integrity failure, reported as one */
        s = ldg_ledger_open(tool_ledger_dir(dir), LDG_OPEN_READONLY | LDG_OPEN_CHECKED, &l, &err);
        if (s == LDG_E_CORRUPT)
            damaged = true;
        else if (s != LDG_OK)
            rc = tool_fail(&err);
    }
    if (rc == EXIT_OK && !damaged) {
        if (ldg_ledger_origin(l, origin, NULL) != LDG_OK)
            origin[0] = '\0';
        s = ldg_review_run(l, &o, &sum, &err);
        if (c.tty)
            fputs("\r\033[K", stderr);
        if (s == LDG_E_INPUT)
            rc = tool_usage("%s: %s", since ? since : "review", err.msg);
        else if (s == LDG_E_CORRUPT)
            damaged = true;
        else if (s != LDG_OK)
            rc = tool_error(EXIT_OPER, "could not review %s: %s", tool_ledger_dir(dir), err.msg);
        else if (c.oom)
            rc = tool_error(EXIT_OPER, "out of memory");
        else if (since && !sum.qa_who[0] && sum.since_why[0])
            fprintf(stderr, "ldg review: %s does not count as verified: %s; verified in full\n",
                    since, sum.since_why);
    }
    if (rc == EXIT_OK && damaged) {
        /* [REV-1] the file itself is damaged: one critical finding, nothing to analyse */
        memset(&sum, 0, sizeof sum);
        ldg_time_now(&sum.as_of_ns, NULL);
        if (o.has_as_of)
            sum.as_of_ns = o.as_of_ns;
        char why[700];
        snprintf(why, sizeof why, "%s; nothing can be analysed", err.msg);
        sum.total.response_median_ns = sum.total.response_p90_ns = -1;
        sum.total.query_closure_median_ns = -1;
        ldg_review_finding f = {.rule = "REV-1",
                                .name = "integrity",
                                .severity = LDG_SEV_CRITICAL,
                                .study = "",
                                .why = why};
        sum.findings[LDG_SEV_CRITICAL]++;
        on_finding(&c, &f);
    }
    bool failed = false;
    if (rc == EXIT_OK) {
        failed = review_failed(&c, &sum);
        print_summary(&c, &sum, tool_ledger_dir(dir), failed);
    }
    if (rc == EXIT_OK && out) {
        rh_page p = {.ledger = tool_ledger_dir(dir),
                     .origin = origin,
                     .study = study,
                     .version = ldg_version(),
                     .sum = &sum,
                     .f = c.f,
                     .nf = c.nf,
                     .dropped = c.dropped,
                     .k = c.k,
                     .nk = c.nk,
                     .fail_on = ldg_severity_name(c.fail_on)};
        rc = write_html(out, &hout, &p);
    }
    html_discard(&hout);
    ldg_ledger_close(l);
    free(sincetext);
    for (size_t i = 0; i < nqa; i++)
        free(qatext[i]);
    rctx_free(&c);
    if (rc != EXIT_OK)
        return rc;
    return failed ? EXIT_INTEGRITY : EXIT_OK;
}
