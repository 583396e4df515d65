/*
 * emit.h - a buffered writer for what the tool writes itself (the HTML
 * report, printed text), straight into a buffer instead of building objects.
 * The normative trails (JSONL, CSV, the bundle) are the library's writers;
 * escaping is the library's ldg_escape, one rule for every output.
 */
#ifndef LDG_EMIT_H
#define LDG_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ldg.h"

typedef struct emit {
    FILE *f;
    char buf[1 << 16];
    size_t n;
    bool failed; /* a write failed: everything after is dropped */
    uint64_t bytes;
    uint64_t synced; /* bytes handed to the disk early (regular files) */
} emit;

void em_init(emit *e, FILE *f);
bool em_flush(emit *e); /* false if any write failed */
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
