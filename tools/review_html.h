/*
 * review_html.h - the HTML page of `ldg review` (spec/review.md [REV-OUT]):
 * one self-contained file (no script, no network, no external asset) with
 * the verdict, the findings table and the KPIs per organisation, level and
 * month with inline SVG charts.  Every piece of text goes through emit.c.
 */
#ifndef LDG_REVIEW_HTML_H
#define LDG_REVIEW_HTML_H

#include "emit.h"
#include "ldg.h"

#include <stdbool.h>

/* A finding kept for the page (strings owned). */
typedef struct rh_finding {
    char rule[16], name[48];
    ldg_severity severity;
    char *study, *why;
    size_t nseqs;
    uint64_t seqs[LDG_REVIEW_SEQS_MAX];
    int64_t at_ns;
} rh_finding;

/* A KPI group kept for the page (strings owned). */
typedef struct rh_kpi {
    ldg_review_kpi k;
    char *org, *level;
} rh_kpi;

typedef struct rh_page {
    const char *ledger, *origin, *study; /* study NULL: every study */
    const char *version;
    const ldg_review_summary *sum;
    const rh_finding *f;
    size_t nf;
    uint64_t dropped; /* findings not kept (the page shows how many) */
    const rh_kpi *k;
    size_t nk;
    const char *fail_on;
} rh_page;

/* Writes the page; false when a write failed. */
bool review_html_write(emit *e, const rh_page *p);

#endif
