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
/* "text" with JSON escapes; NULL as null. */
void em_json_str(emit *e, const char *s);
/* A quoted JSON string of base64 (standard alphabet, padded). */
void em_json_b64(emit *e, const uint8_t *p, size_t n);
/* A CSV cell: quoted when needed; user text beginning with = + - @ tab or CR gets a leading '. */
void em_csv(emit *e, const char *s, bool user_text);
/* Text for HTML element content or a quoted attribute: & < > " ' escaped; NULL as "". */
void em_html(emit *e, const char *s);

#endif
