/*
 * emit.h - a buffered writer for what the tool writes itself (the HTML
 * report, printed text), straight into a buffer instead of building objects.
 * The normative trails (JSONL, CSV, the bundle) are the library's writers;
 * escaping is the library's ldg_escape, one rule for every output.
 */
#ifndef LDG_EMIT_H
#define LDG_EMIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ldg.h"

struct em_writer;

typedef struct emit {
    FILE *f;
    char buf[1 << 16];
    size_t n;
    _Atomic bool failed; /* a write failed: everything after is dropped */
    _Atomic int err;     /* its errno (0: unknown), whichever thread wrote */
    uint64_t bytes;
    uint64_t synced;     /* bytes handed to the disk early (regular files) */
    struct em_writer *w; /* em_async: the thread that writes */
} emit;

void em_init(emit *e, FILE *f);
/* Written to the file, and synced early as it grows; false if any write failed. */
bool em_flush(emit *e);
/*
 * From now on the bytes go to the file on a thread of their own, a 1 MiB
 * piece at a time (4 MiB held at most), while the caller goes on: for a
 * long output (an export's JSONL or CSV).  em_flush waits until all is
 * written; em_async_end (also after a failure) waits and stops the thread,
 * before the file is closed.  False: it stays on the caller's thread.
 */
bool em_async(emit *e);
void em_async_end(emit *e);
void em_raw(emit *e, const char *p, size_t n);
void em_s(emit *e, const char *s); /* as is */
void em_c(emit *e, char c);
void em_u64(emit *e, uint64_t v);
void em_i64(emit *e, int64_t v);
/* Escaping untrusted text: ldg_escape (ldg.h) in one of its modes. */
typedef enum em_mode {
    ESC_TEXT = LDG_ESC_TEXT,
    ESC_LINES = LDG_ESC_LINES,
    ESC_CSV = LDG_ESC_CSV,
    ESC_HTML = LDG_ESC_HTML,
    ESC_JSON = LDG_ESC_JSON,
    ESC_JSON_FIX = LDG_ESC_JSON_FIX
} em_mode;
void em_escaped(emit *e, const char *s, em_mode mode);
/* The same into a malloc'd string (NULL when out of memory; s NULL as ""). */
char *em_escape_dup(const char *s, em_mode mode);
/*
 * ESC_TEXT of s (NULL as "") for one printf argument: valid until the 16th
 * next call in the same thread.
 */
const char *em_t(const char *s);
/* The same in ESC_LINES (a note, a proof: several lines). */
const char *em_t_lines(const char *s);
/* Text for HTML element content or a quoted attribute (ESC_HTML); NULL as "". */
void em_html(emit *e, const char *s);

#endif
