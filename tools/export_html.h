/*
 * export_html.h - the HTML report of `ldg export --format html`: one
 * self-contained file (no network, scripts, fonts or images) for screen and
 * print.  Two passes over the same records: the first collects what the
 * summary needs (a few bytes a record), the second writes the record table
 * to a spool; then the report is put together with the verdict on top.
 * Printed (A4 landscape) it is the trail an inspector reads [EXP-13]: a
 * cover, "Page x of y" with the study and the export id on every page, the
 * signatures on a page of their own.
 */
#ifndef LDG_EXPORT_HTML_H
#define LDG_EXPORT_HTML_H

#include "emit.h"
#include "ldg.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct html_ctx html_ctx;

/* What the report says about the export as a whole; all text is escaped when written. */
typedef struct html_meta {
    const char *origin;
    const char *exported_at; /* ISO 8601 UTC */
    const char *exporter;
    const char *filters;    /* one line, "none" when there are none */
    const char *checkpoint; /* the signed note the export is tied to */
    const char *study;      /* the --study filter, or NULL */
    uint64_t tie_size;
    uint64_t proven; /* --verified checkpoint size, or 0 */
    bool root_ok, proven_ok, withhold;
    uint64_t bad_sigs, mismatch, first_bad;
} html_meta;

/*
 * [EXP-13] The export id: the first 16 hex digits of SHA-256 over
 * "ldg-export-id/v1\n", the checkpoint note, the filters, "\n", the export
 * time, "\n" (m->checkpoint, m->filters, m->exported_at, as the cover shows them).
 */
#define HTML_EXPORT_ID_LEN 16
void html_export_id(const html_meta *m, char out[HTML_EXPORT_ID_LEN + 1]);

html_ctx *html_new(bool withhold);
void html_free(html_ctx *h);
/* Pass 1 (an ldg_record_fn): collects times, kinds, organisations, threads, corrections. */
int html_collect(void *h, const ldg_record *r);
/* Pass 2: one row of the record table, written to the spool. */
void html_row(html_ctx *h, emit *spool, const ldg_record *r, uint64_t proven);
/* The report: head, verdict, summary, charts, threads, then the spooled table. false on I/O. */
bool html_write(html_ctx *h, emit *out, const html_meta *m, FILE *spool);

#endif
