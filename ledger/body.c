/*
 * body.c - the JSON body of a record [FMT-6]: parsed with jansson, rejected
 * unless it is one JSON object of valid UTF-8 within LDG_BODY_MAX, and
 * written back in one canonical text (compact, keys sorted) so that equal
 * bodies give equal bytes before the salted commitment.
 */
#include "internal.h"

#include <jansson.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------- the canonical text -- */

/*
 * [FMT-6] written by ldg from the parsed tree: byte for byte what jansson
 * 2.14's json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes, as the spec
 * spells it out (tests/test_codec.c and fuzz/fuzz_body.c compare the two),
 * without its loop-check table, key array and callback per token, and
 * pinned to the spec whatever jansson is installed (its sources after 2.14,
 * built with their dtoa, write the shortest round-trip form of a real, which
 * the spec does not allow).  It goes into an ldgi_buf, whose sticky oom also
 * stands for a body nested too deep or a real that would not format.
 */

/* rule 3: \" \\ \b \f \n \r \t, \u00XX (upper case) for the other controls; the rest as is */
static void
put_string(ldgi_buf *c, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    ldgi_buf_put(c, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue; /* a UTF-8 sequence's bytes are all >= 0x80 */
        ldgi_buf_put(c, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0};
        switch (ch) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[ch >> 4];
            e[5] = hex[ch & 15];
            ldgi_buf_put(c, e, 6);
            continue;
        }
        ldgi_buf_put(c, e, 2);
    }
    ldgi_buf_put(c, s + run, n - run);
    ldgi_buf_put(c, "\"", 1);
}

/*
 * printf's decimal point is the locale's: the "C" one for LC_NUMERIC, so that
 * a program that links libldg and sets a locale of its own (a decimal comma)
 * gets the same text.
 */
static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void
c_numeric_init(void)
{
    c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* rule 5: %.17g, ".0" when it has neither '.' nor 'e', the exponent without '+' or leading zeros */
static void
put_real(ldgi_buf *c, double d)
{
    char b[64];
    pthread_once(&c_numeric_once, c_numeric_init);
    if (!c_numeric) { /* newlocale fails only for memory */
        c->oom = true;
        return;
    }
    locale_t was = uselocale(c_numeric);
    int n = snprintf(b, sizeof b, "%.17g", d);
    uselocale(was);
    if (n < 0 || (size_t)n >= sizeof b - 3) {
        c->oom = true;
        return;
    }
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        memcpy(b + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(b, 'e');
    if (e) {
        char *from = e + 2, *to = e + 1; /* past a '+', or past a '-' kept */
        if (*to == '-')
            to++;
        while (*from == '0')
            from++;
        if (from != to) {
            memmove(to, from, strlen(from) + 1);
            n = (int)strlen(b);
        }
    }
    ldgi_buf_put(c, b, (size_t)n);
}

typedef struct member {
    const char *k;
    size_t n;
    const json_t *v;
} member;

/* rule 2: bytewise, a name before the longer names it begins */
static int
member_cmp(const void *a, const void *b)
{
    const member *x = a, *y = b;
    int r = memcmp(x->k, y->k, x->n < y->n ? x->n : y->n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

#define CANON_DEPTH 4096 /* the parser stops at 2048 levels */

static void
put_value(ldgi_buf *c, const json_t *v, unsigned depth)
{
    char b[24];
    if (depth > CANON_DEPTH) {
        c->oom = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        member few[8], *m = n <= 8 ? few : ldgi_malloc(n * sizeof *m);
        if (!m) {
            c->oom = true;
            return;
        }
        for (void *it = json_object_iter((json_t *)v); it && i < n;
             it = json_object_iter_next((json_t *)v, it), i++)
            m[i] = (member){json_object_iter_key(it), json_object_iter_key_len(it),
                            json_object_iter_value(it)};
        n = i;
        if (n > 1)
            qsort(m, n, sizeof *m, member_cmp);
        ldgi_buf_put(c, "{", 1);
        for (i = 0; i < n && !c->oom; i++) {
            if (i)
                ldgi_buf_put(c, ",", 1);
            put_string(c, m[i].k, m[i].n);
            ldgi_buf_put(c, ":", 1);
            put_value(c, m[i].v, depth + 1);
        }
        ldgi_buf_put(c, "}", 1);
        if (m != few)
            free(m);
        return;
    }
    case JSON_ARRAY: {
        ldgi_buf_put(c, "[", 1);
        for (size_t i = 0, n = json_array_size(v); i < n && !c->oom; i++) {
            if (i)
                ldgi_buf_put(c, ",", 1);
            put_value(c, json_array_get(v, i), depth + 1);
        }
        ldgi_buf_put(c, "]", 1);
        return;
    }
    case JSON_STRING: put_string(c, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: /* rule 4 */
        ldgi_buf_put(c, b,
                     (size_t)snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v)));
        return;
    case JSON_REAL: put_real(c, json_real_value(v)); return;
    case JSON_TRUE: ldgi_buf_put(c, "true", 4); return;
    case JSON_FALSE: ldgi_buf_put(c, "false", 5); return;
    case JSON_NULL: ldgi_buf_put(c, "null", 4); return;
    }
    c->oom = true;
}

char *
ldgi_body_text(const json_t *obj, size_t *len)
{
    ldgi_buf c = {0};
    put_value(&c, obj, 0);
    if (!ldgi_buf_put(&c, "", 1)) {
        ldgi_buf_free(&c);
        return NULL;
    }
    *len = c.len - 1;
    return (char *)c.p;
}

ldg_status
ldgi_body_canonical(const char *text, size_t len, char **out, size_t *outlen, ldg_err *err)
{
    if (len > LDG_BODY_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "body is %zu bytes, over the limit of %u", len,
                         LDG_BODY_MAX);
    if (!ldgi_utf8_valid((const uint8_t *)text, len))
        return ldgi_fail(err, LDG_E_INPUT, "body is not valid UTF-8");
    json_error_t je = {0}; /* jansson may fail before it sets the code json_error_code reads */
    /* No JSON_ALLOW_NUL: a "\u0000" would cut the text short for every C reader. */
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        /* jansson leaves the error empty when its first allocation fails. */
        if (json_error_code(&je) == json_error_out_of_memory || !je.text[0])
            return ldgi_fail(err, LDG_E_NOMEM, "body: out of memory");
        return ldgi_fail(err, LDG_E_INPUT, "body JSON, line %d column %d: %s", je.line, je.column,
                         je.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return ldgi_fail(err, LDG_E_INPUT, "body must be a JSON object");
    }
    size_t n;
    char *s = ldgi_body_text(j, &n);
    json_decref(j);
    if (!s)
        return ldgi_fail(err, LDG_E_NOMEM, "body: out of memory");
    if (n > LDG_BODY_MAX) {
        free(s);
        return ldgi_fail(err, LDG_E_INPUT, "body is over the limit of %u bytes", LDG_BODY_MAX);
    }
    *out = s;
    *outlen = n;
    return LDG_OK;
}

/* ------------------------------------------------ the per-thread memo -- */

typedef struct body_memo {
    char kind[32];
    char *text;
    size_t len, cap;
    ldg_err verdict;
    bool full;
} body_memo;

static pthread_key_t memo_key;
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;
static bool memo_ok;

static void
memo_free(void *p)
{
    body_memo *m = p;
    if (m)
        free(m->text);
    free(m);
}

static void
memo_init(void)
{
    memo_ok = pthread_key_create(&memo_key, memo_free) == 0;
}

/*
 * A program that dlcloses libldg.so must not leave threads whose exit would
 * call memo_free, gone with the library: the key goes first (a memo still
 * held by a live thread is then left to the process).
 */
__attribute__((destructor)) static void
memo_unload(void)
{
    if (memo_ok)
        pthread_key_delete(memo_key);
}

static body_memo *
memo_get(bool create)
{
    pthread_once(&memo_once, memo_init);
    if (!memo_ok)
        return NULL;
    body_memo *m = pthread_getspecific(memo_key);
    if (!m && create && (m = ldgi_calloc(1, sizeof *m)) != NULL &&
        pthread_setspecific(memo_key, m) != 0) {
        free(m);
        m = NULL;
    }
    return m;
}

void
ldgi_body_memo_put(const char *kind, const char *text, size_t len, const ldg_err *verdict)
{
    size_t kl = strlen(kind);
    body_memo *m = memo_get(true);
    if (!m)
        return; /* no memo: ldg_sign takes the long way */
    m->full = false;
    /* only a verdict on the text itself: a failed allocation is the long way's to meet again */
    if (kl >= sizeof m->kind || len > LDG_BODY_MAX ||
        (verdict->status != LDG_OK && verdict->status != LDG_E_INPUT))
        return;
    if (len > m->cap) {
        char *t = ldgi_realloc(m->text, len);
        if (!t)
            return;
        m->text = t;
        m->cap = len;
    }
    memcpy(m->kind, kind, kl + 1);
    memcpy(m->text, text, len);
    m->len = len;
    m->verdict = *verdict;
    m->full = true;
}

bool
ldgi_body_memo_take(const char *kind, const char *text, size_t len, ldg_err *verdict)
{
    body_memo *m = memo_get(false);
    if (!m || !m->full || !text || len != m->len || strcmp(kind, m->kind) != 0 ||
        memcmp(text, m->text, len) != 0)
        return false;
    m->full = false; /* one use: the memo never outlives the record it was made for */
    *verdict = m->verdict;
    return true;
}

bool
ldgi_body_legal_basis(const uint8_t *body, size_t len, char *out, size_t outlen)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    const char *lb = json_string_value(json_object_get(j, "legal_basis"));
    bool ok = lb && *lb;
    if (ok && out && outlen)
        snprintf(out, outlen, "%s", lb);
    json_decref(j);
    return ok;
}
