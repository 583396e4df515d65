/*
 * emit.c - see emit.h.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "emit.h"

#include <fcntl.h>

#include <stdlib.h>
#include <string.h>

void
em_init(emit *e, FILE *f)
{
    e->f = f;
    e->n = 0;
    e->failed = false;
    e->bytes = 0;
    e->synced = 0;
}

#define EARLY_SYNC (32u << 20)

bool
em_flush(emit *e)
{
    if (e->n && !e->failed && fwrite(e->buf, 1, e->n, e->f) != e->n)
        e->failed = true;
    e->n = 0;
#ifdef __linux__
    /*
     * Start writing the file to disk as it grows, so the fsync before it is
     * published does not wait for all of it (a 1M-record export is 1.6 GB).
     * Not a regular file (a pipe, a terminal): sync_file_range fails; fine.
     */
    if (!e->failed && e->bytes - e->synced >= EARLY_SYNC && fflush(e->f) == 0) {
        sync_file_range(fileno(e->f), (off64_t)e->synced, (off64_t)(e->bytes - e->synced),
                        SYNC_FILE_RANGE_WRITE);
        e->synced = e->bytes;
    }
#endif
    return !e->failed;
}

void
em_raw(emit *e, const char *p, size_t n)
{
    e->bytes += n;
    if (n > sizeof e->buf - e->n) {
        em_flush(e);
        if (n > sizeof e->buf) {
            if (!e->failed && fwrite(p, 1, n, e->f) != n)
                e->failed = true;
            return;
        }
    }
    memcpy(e->buf + e->n, p, n);
    e->n += n;
}

void
em_s(emit *e, const char *s)
{
    em_raw(e, s, strlen(s));
}

void
em_c(emit *e, char c)
{
    if (e->n == sizeof e->buf)
        em_flush(e);
    e->buf[e->n++] = c;
    e->bytes++;
}

void
em_u64(emit *e, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    em_raw(e, t + i, sizeof t - i);
}

void
em_i64(emit *e, int64_t v)
{
    if (v < 0) {
        em_c(e, '-');
        em_u64(e, (uint64_t)0 - (uint64_t)v);
    } else {
        em_u64(e, (uint64_t)v);
    }
}

void
em_json_str(emit *e, const char *s)
{
    if (!s) {
        em_raw(e, "null", 4);
        return;
    }
    em_c(e, '"');
    em_escaped(e, s, ESC_JSON);
    em_c(e, '"');
}

/*
 * Base64 of public data (hashes, signatures, entry bytes): libsodium's
 * encoder is constant-time, which exports do not need and pay for.
 */
void
em_json_b64(emit *e, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    em_c(e, '"');
    char q[4 * 48];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[k++] = tab[v >> 18];
        q[k++] = tab[v >> 12 & 63];
        q[k++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        q[k++] = i + 2 < n ? tab[v & 63] : '=';
        if (k == sizeof q) {
            em_raw(e, q, k);
            k = 0;
        }
    }
    em_raw(e, q, k);
    em_c(e, '"');
}

void
em_csv(emit *e, const char *s, bool user_text)
{
    if (!s || !*s)
        return;
    bool formula = user_text && strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[strlen(s) - 1] == ' ';
    if (!quote) {
        em_escaped(e, s, ESC_CSV);
        return;
    }
    em_c(e, '"');
    if (formula)
        em_c(e, '\'');         /* shown as text by spreadsheets, never evaluated */
    em_escaped(e, s, ESC_CSV); /* doubles '"' */
    em_c(e, '"');
}

void
em_html(emit *e, const char *s)
{
    if (s)
        em_escaped(e, s, ESC_HTML);
}

/* ---------------------------------------------------------- escaping -- */

/*
 * The one place that decides which characters of untrusted text may reach
 * an output raw.  Everything a host, a signer or a file can put into a
 * field (key ids, names, kinds, meanings, roles, bodies, error messages
 * quoting input) is printed through esc_run, in one of the modes below.
 */

/*
 * The code point at p (strict UTF-8: no overlong forms, surrogates or
 * values past U+10FFFF) and its length; 0 when p does not start one.
 */
static size_t
utf8_next(const unsigned char *p, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

bool
em_cp_invisible(uint32_t cp)
{
    return cp == 0x061c                       /* Arabic letter mark */
           || (cp >= 0x200b && cp <= 0x200f)  /* zero-width, LRM, RLM */
           || (cp >= 0x2028 && cp <= 0x202e)  /* line/paragraph separators, bidi embeddings */
           || (cp >= 0x2060 && cp <= 0x206f)  /* word joiner, invisible operators, isolates */
           || cp == 0xfeff                    /* zero-width no-break space (BOM) */
           || (cp >= 0xfff9 && cp <= 0xfffb); /* interlinear annotations */
}

static bool
cp_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f); /* C0, DEL, C1 */
}

typedef struct sink {
    emit *e; /* or */
    char *p; /* a buffer of cap bytes, n used */
    size_t n, cap;
    bool nomem;
} sink;

static void
sk_put(sink *k, const char *p, size_t n)
{
    if (k->e) {
        em_raw(k->e, p, n);
        return;
    }
    if (k->nomem)
        return;
    if (k->cap - k->n < n + 1) {
        size_t cap = (k->cap + n + 1) * 2;
        char *q = realloc(k->p, cap);
        if (!q) {
            k->nomem = true;
            return;
        }
        k->p = q, k->cap = cap;
    }
    memcpy(k->p + k->n, p, n);
    k->n += n;
    k->p[k->n] = '\0';
}

static void
sk_fmt(sink *k, const char *fmt, uint32_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, fmt, (unsigned)v);
    sk_put(k, t, (size_t)n);
}

/* Writes how cp (bad: the byte *p, not UTF-8) is shown in mode; false: it goes as is. */
static bool
esc_one(sink *k, em_mode mode, const unsigned char *p, uint32_t cp, bool bad)
{
    bool json = mode == ESC_JSON || mode == ESC_JSON_FIX;
    if (bad) {
        if (json)
            sk_put(k, "\\ufffd", 6); /* JSON text must stay UTF-8 */
        else
            sk_fmt(k, mode == ESC_HTML ? "&lt;0x%02X&gt;" : "\\x%02x", *p);
        return true;
    }
    if (cp_control(cp) || em_cp_invisible(cp)) {
        bool keep = (cp == '\n' && (mode == ESC_LINES || mode == ESC_CSV || mode == ESC_HTML)) ||
                    (cp == '\t' && (mode == ESC_CSV || mode == ESC_HTML)) ||
                    (cp == '\r' && mode == ESC_CSV) ||
                    (cp < 0x20 && mode == ESC_JSON_FIX); /* cannot occur: jansson escaped it */
        if (keep)
            return false;
        const char *two = cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : cp == '\r' ? "\\r" : NULL;
        if (mode == ESC_HTML)
            sk_fmt(k, "&lt;U+%04X&gt;", cp); /* visible, never raw */
        else if (two)
            sk_put(k, two, 2);
        else
            sk_fmt(k, json || cp > 0xff ? "\\u%04x" : "\\x%02x", cp);
        return true;
    }
    const char *rep = NULL;
    if (mode == ESC_HTML)
        rep = cp == '&'    ? "&amp;"
              : cp == '<'  ? "&lt;"
              : cp == '>'  ? "&gt;"
              : cp == '"'  ? "&quot;"
              : cp == '\'' ? "&#39;"
                           : NULL;
    else if (mode == ESC_JSON)
        rep = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : NULL;
    else if (mode == ESC_CSV)
        rep = cp == '"' ? "\"\"" : NULL;
    if (rep)
        sk_put(k, rep, strlen(rep));
    return rep != NULL;
}

static void
esc_run(sink *k, const char *s, em_mode mode)
{
    static const bool special[128] = {
        ['&'] = 1, ['<'] = 1, ['>'] = 1, ['"'] = 1, ['\''] = 1, ['\\'] = 1};
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        uint32_t cp = *p;
        size_t n = 1;
        bool bad = false;
        if (*p >= 0x80 && !(n = utf8_next(p, &cp)))
            bad = true, n = 1;
        /* Only these may be escaped: the rest goes out in runs, as is. */
        if (bad || cp_control(cp) || (cp < 0x80 ? special[cp] : em_cp_invisible(cp))) {
            sk_put(k, (const char *)run, (size_t)(p - run));
            run = p;
            if (esc_one(k, mode, p, cp, bad))
                run = p + n;
        }
        p += n;
    }
    sk_put(k, (const char *)run, (size_t)(p - run));
}

void
em_escaped(emit *e, const char *s, em_mode mode)
{
    sink k = {.e = e};
    esc_run(&k, s, mode);
}

char *
em_escape_dup(const char *s, em_mode mode)
{
    sink k = {0};
    sk_put(&k, "", 0);
    if (s)
        esc_run(&k, s, mode);
    if (k.nomem) {
        free(k.p);
        return NULL;
    }
    return k.p;
}

static const char *
em_ring(const char *s, em_mode mode)
{
    static _Thread_local char *ring[16];
    static _Thread_local unsigned next;
    char **slot = &ring[next++ % 16];
    free(*slot);
    *slot = em_escape_dup(s ? s : "", mode);
    return *slot ? *slot : "?";
}

const char *
em_t(const char *s)
{
    return em_ring(s, ESC_TEXT);
}

const char *
em_t_lines(const char *s)
{
    return em_ring(s, ESC_LINES);
}
