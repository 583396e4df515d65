/*
 * body.c - the JSON body of a record [FMT-6]: parsed with jansson, rejected
 * unless it is one JSON object of valid UTF-8 within LDG_BODY_MAX, and
 * written back in one canonical text (compact, keys sorted) so that equal
 * bodies give equal bytes before the salted commitment.
 */
#include "internal.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s)
        return ldgi_fail(err, LDG_E_NOMEM, "body: out of memory");
    size_t n = strlen(s);
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
