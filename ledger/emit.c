/*
 * emit.c - the buffered writer behind the library's export writers
 * (spec/export.md [EXP-5], [EXP-6], [EXP-8]) and the one escaping engine of
 * every output of ldg (ldg_escape: the `ldg` tool's printing goes through
 * it too).  Output goes to a caller's ldg_write_fn in chunks of 64 KiB;
 * JSON strings, CSV cells and base64 are written straight into the buffer,
 * without building objects.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ldgi_em_init(ldgi_emit *e, ldg_write_fn fn, void *ctx)
{
    e->fn = fn;
    e->ctx = ctx;
    e->n = 0;
    e->failed = false;
}

bool
ldgi_em_flush(ldgi_emit *e)
{
    if (e->n && !e->failed && e->fn(e->ctx, e->buf, e->n) != 0)
        e->failed = true;
    e->n = 0;
    return !e->failed;
}

void
ldgi_em_raw(ldgi_emit *e, const char *p, size_t n)
{
    if (n > sizeof e->buf - e->n) {
        ldgi_em_flush(e);
        if (n > sizeof e->buf) {
            if (!e->failed && e->fn(e->ctx, p, n) != 0)
                e->failed = true;
            return;
        }
    }
    memcpy(e->buf + e->n, p, n);
    e->n += n;
}

void
ldgi_em_s(ldgi_emit *e, const char *s)
{
    ldgi_em_raw(e, s, strlen(s));
}

void
ldgi_em_c(ldgi_emit *e, char c)
{
    if (e->n == sizeof e->buf)
        ldgi_em_flush(e);
    e->buf[e->n++] = c;
}

void
ldgi_em_u64(ldgi_emit *e, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ldgi_em_raw(e, t + i, sizeof t - i);
}

void
ldgi_em_i64(ldgi_emit *e, int64_t v)
{
    if (v < 0) {
        ldgi_em_c(e, '-');
        ldgi_em_u64(e, (uint64_t)0 - (uint64_t)v);
    } else {
        ldgi_em_u64(e, (uint64_t)v);
    }
}

static int
em_sink(void *ctx, const void *p, size_t n)
{
    ldgi_em_raw(ctx, p, n);
    return 0;
}

void
ldgi_em_escaped(ldgi_emit *e, const char *s, ldg_escape_mode mode)
{
    ldg_escape(s, mode, em_sink, e);
}

void
ldgi_em_json_str(ldgi_emit *e, const char *s)
{
    if (!s) {
        ldgi_em_raw(e, "null", 4);
        return;
    }
    ldgi_em_c(e, '"');
    ldgi_em_escaped(e, s, LDG_ESC_JSON);
    ldgi_em_c(e, '"');
}

/*
 * Base64 of public data (hashes, signatures, entry bytes): libsodium's
 * encoder is constant-time, which exports do not need and pay for.
 */
void
ldgi_em_json_b64(ldgi_emit *e, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    ldgi_em_c(e, '"');
    char q[4 * 48];
    size_t k = 0, i = 0;
    for (; i + 3 <= n; i += 3) { /* whole groups of three bytes */
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        q[k] = tab[v >> 18];
        q[k + 1] = tab[v >> 12 & 63];
        q[k + 2] = tab[v >> 6 & 63];
        q[k + 3] = tab[v & 63];
        if ((k += 4) == sizeof q) {
            ldgi_em_raw(e, q, k);
            k = 0;
        }
    }
    if (i < n) { /* one or two bytes left: padded */
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        q[k++] = tab[v >> 18];
        q[k++] = tab[v >> 12 & 63];
        q[k++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        q[k++] = '=';
    }
    ldgi_em_raw(e, q, k);
    ldgi_em_c(e, '"');
}

void
ldgi_em_hex(ldgi_emit *e, const uint8_t *p, size_t n)
{
    static const char tab[] = "0123456789abcdef";
    char q[128];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        q[k++] = tab[p[i] >> 4];
        q[k++] = tab[p[i] & 15];
        if (k == sizeof q) {
            ldgi_em_raw(e, q, k);
            k = 0;
        }
    }
    ldgi_em_raw(e, q, k);
}

void
ldgi_em_csv(ldgi_emit *e, const char *s, bool user_text)
{
    if (!s || !*s)
        return;
    bool formula = user_text && strchr("=+-@\t\r", s[0]) != NULL;
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL || s[0] == ' ' || s[strlen(s) - 1] == ' ';
    if (!quote) {
        ldgi_em_escaped(e, s, LDG_ESC_CSV);
        return;
    }
    ldgi_em_c(e, '"');
    if (formula)
        ldgi_em_c(e, '\'');             /* shown as text by spreadsheets, never evaluated */
    ldgi_em_escaped(e, s, LDG_ESC_CSV); /* doubles '"' */
    ldgi_em_c(e, '"');
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

static bool
cp_invisible(uint32_t cp)
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
    ldg_write_fn fn;
    void *ctx;
    int failed;
} sink;

static void
sk_put(sink *k, const char *p, size_t n)
{
    if (n && !k->failed && k->fn(k->ctx, p, n) != 0)
        k->failed = 1;
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
esc_one(sink *k, ldg_escape_mode mode, const unsigned char *p, uint32_t cp, bool bad)
{
    bool json = mode == LDG_ESC_JSON || mode == LDG_ESC_JSON_FIX;
    if (bad) {
        if (json)
            sk_put(k, "\\ufffd", 6); /* JSON text must stay UTF-8 */
        else
            sk_fmt(k, mode == LDG_ESC_HTML ? "&lt;0x%02X&gt;" : "\\x%02x", *p);
        return true;
    }
    if (cp_control(cp) || cp_invisible(cp)) {
        bool keep = (cp == '\n' &&
                     (mode == LDG_ESC_LINES || mode == LDG_ESC_CSV || mode == LDG_ESC_HTML)) ||
                    (cp == '\t' && (mode == LDG_ESC_CSV || mode == LDG_ESC_HTML)) ||
                    (cp == '\r' && mode == LDG_ESC_CSV) ||
                    (cp < 0x20 && mode == LDG_ESC_JSON_FIX); /* cannot occur: jansson escaped it */
        if (keep)
            return false;
        const char *two = cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : cp == '\r' ? "\\r" : NULL;
        if (mode == LDG_ESC_HTML)
            sk_fmt(k, "&lt;U+%04X&gt;", cp); /* visible, never raw */
        else if (two)
            sk_put(k, two, 2);
        else
            sk_fmt(k, json || cp > 0xff ? "\\u%04x" : "\\x%02x", cp);
        return true;
    }
    const char *rep = NULL;
    if (mode == LDG_ESC_HTML)
        rep = cp == '&'    ? "&amp;"
              : cp == '<'  ? "&lt;"
              : cp == '>'  ? "&gt;"
              : cp == '"'  ? "&quot;"
              : cp == '\'' ? "&#39;"
                           : NULL;
    else if (mode == LDG_ESC_JSON)
        rep = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : NULL;
    else if (mode == LDG_ESC_CSV)
        rep = cp == '"' ? "\"\"" : NULL;
    if (rep)
        sk_put(k, rep, strlen(rep));
    return rep != NULL;
}

int
ldg_escape(const char *s, ldg_escape_mode mode, ldg_write_fn fn, void *ctx)
{
    static const bool special[128] = {
        ['&'] = 1, ['<'] = 1, ['>'] = 1, ['"'] = 1, ['\''] = 1, ['\\'] = 1};
    sink sk = {fn, ctx, 0}, *k = &sk;
    if (!s)
        return 0;
    const unsigned char *p = (const unsigned char *)s, *run = p;
    while (*p) {
        /* printable ASCII that no mode escapes: skipped a byte at a time, no more asked */
        while (*p >= 0x20 && *p < 0x7f && !special[*p])
            p++;
        if (!*p)
            break;
        uint32_t cp = *p;
        size_t n = 1;
        bool bad = false;
        if (*p >= 0x80 && !(n = utf8_next(p, &cp)))
            bad = true, n = 1;
        /* Only these may be escaped: the rest goes out in runs, as is. */
        if (bad || cp_control(cp) || (cp < 0x80 ? special[cp] : cp_invisible(cp))) {
            sk_put(k, (const char *)run, (size_t)(p - run));
            run = p;
            if (esc_one(k, mode, p, cp, bad))
                run = p + n;
        }
        p += n;
    }
    sk_put(k, (const char *)run, (size_t)(p - run));
    return k->failed;
}
