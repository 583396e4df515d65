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
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
            continue;
        em_raw(e, run, (size_t)((const char *)p - run));
        run = (const char *)p + 1;
        switch (*p) {
        case '"': em_raw(e, "\\\"", 2); break;
        case '\\': em_raw(e, "\\\\", 2); break;
        case '\n': em_raw(e, "\\n", 2); break;
        case '\r': em_raw(e, "\\r", 2); break;
        case '\t': em_raw(e, "\\t", 2); break;
        default: {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", *p);
            em_raw(e, u, 6);
        }
        }
    }
    em_s(e, run);
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
        em_s(e, s);
        return;
    }
    em_c(e, '"');
    if (formula)
        em_c(e, '\''); /* shown as text by spreadsheets, never evaluated */
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            em_c(e, '"');
        em_c(e, *p);
    }
    em_c(e, '"');
}

void
em_html(emit *e, const char *s)
{
    if (!s)
        return;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *rep;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        em_raw(e, run, (size_t)(p - run));
        em_s(e, rep);
        run = p + 1;
    }
    em_s(e, run);
}
