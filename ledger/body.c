/*
 * body.c - the JSON body of a record [FMT-6]: parsed with jansson, rejected
 * unless it is one JSON object of valid UTF-8 within LDG_BODY_MAX, and
 * written back in one canonical text (compact, keys sorted) so that equal
 * bodies give equal bytes before the salted commitment.
 */
#include "internal.h"

#include <jansson.h>
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
