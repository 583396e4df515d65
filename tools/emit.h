/*
 * emit.h - a buffered writer for exports: JSON strings, CSV cells (RFC
 * 4180, formula cells neutralised), HTML text and base64, written straight
 * into a buffer instead of building objects (jansson objects cost more than
 * the rest of an export together).
 */
#ifndef LDG_EMIT_H
#define LDG_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
/*
 * Escaping untrusted text: the one function every output of `ldg` goes
 * through.  Control characters (C0, DEL, C1), bytes that are not UTF-8 and
 * invisible or reordering characters (bidi embeddings, overrides and
 * isolates, zero-width characters, line separators: em_cp_invisible) never
 * reach an output raw, so a signer or a host cannot forge lines, move the
 * cursor or hide text on a terminal, in a log viewer, a browser or a
 * spreadsheet.
 *   ESC_TEXT   for people: \n \t \r, \xNN (C0, DEL, C1, a byte that is not
 *              UTF-8), \uXXXX (invisible characters);
 *   ESC_LINES  as ESC_TEXT, line feeds kept (multi-line notes);
 *   ESC_CSV    as ESC_TEXT, LF, CR and TAB kept, '"' doubled (em_csv quotes);
 *   ESC_HTML   & < > " ' as entities; controls and invisible characters as a
 *              visible "<U+202E>", a byte that is not UTF-8 as "<0xFF>";
 *              LF and TAB kept;
 *   ESC_JSON   the inside of a JSON string: \" \\ \n \r \t, \uXXXX for the
 *              rest, \ufffd for a byte that is not UTF-8;
 *   ESC_JSON_FIX  text jansson dumped (valid JSON): only DEL, C1 and invisible
 *              characters become \uXXXX (inside strings is the only place
 *              non-ASCII can be).
 */
typedef enum em_mode { ESC_TEXT, ESC_LINES, ESC_CSV, ESC_HTML, ESC_JSON, ESC_JSON_FIX } em_mode;
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
/* Zero-width, bidi control, line separator and the like: never shown raw. */
bool em_cp_invisible(uint32_t cp);

/* "text" with JSON escapes (ESC_JSON); NULL as null. */
void em_json_str(emit *e, const char *s);
/* A quoted JSON string of base64 (standard alphabet, padded). */
void em_json_b64(emit *e, const uint8_t *p, size_t n);
/* A CSV cell (ESC_CSV): quoted when needed; user text beginning with = + - @ tab or CR gets a
 * leading '. */
void em_csv(emit *e, const char *s, bool user_text);
/* Text for HTML element content or a quoted attribute (ESC_HTML); NULL as "". */
void em_html(emit *e, const char *s);

#endif
