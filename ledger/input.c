/*
 * input.c - the JSON record input of `ldg append --batch` (spec/format.md
 * [INP-1]): one JSON object per record with the members kind, study, refs,
 * meaning, reason, time and body; a batch is JSON Lines.  Parsing is
 * untrusted-input work, so it lives here, where the fuzz target
 * (fuzz/fuzz_input.c) and the tests reach it, and the tool only resolves
 * sequence numbers against its ledger and signs.  Shape only: the policy
 * rules [POL-*] are applied by ldg_sign and ldg_append.
 */
#include "internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- refs -- */

ldg_status
ldg_ref_parse(const char *s, size_t len, ldg_ref *out, ldg_err *err)
{
    memset(out, 0, sizeof *out);
    /* A seq: 1 to 19 decimal digits, so it cannot overflow 64 bits. */
    bool digits = len > 0 && len <= 19;
    for (size_t i = 0; digits && i < len; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (digits) {
        for (size_t i = 0; i < len; i++)
            out->seq = out->seq * 10 + (uint64_t)(s[i] - '0');
        out->is_seq = 1;
        return LDG_OK;
    }
    size_t got;
    const char *end;
    if (len == 64 && sodium_hex2bin(out->hash, LDG_HASH_BYTES, s, len, NULL, &got, &end) == 0 &&
        got == LDG_HASH_BYTES && end == s + len)
        return LDG_OK;
    if (len == 44 &&
        sodium_base642bin(out->hash, LDG_HASH_BYTES, s, len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        got == LDG_HASH_BYTES && end == s + len)
        return LDG_OK;
    memset(out, 0, sizeof *out);
    return ldgi_fail(err, LDG_E_INPUT,
                     "ref %.*s: expected a sequence number or a leaf hash (64 hex or 44 base64)",
                     (int)(len > 70 ? 70 : len), s);
}

/* --------------------------------------------------------------- input -- */

void
ldg_input_clear(ldg_input *in)
{
    if (!in)
        return;
    free(in->kind);
    free(in->study);
    free(in->meaning);
    free(in->reason);
    free(in->body); /* written by ldgi_body_text: plain free */
    memset(in, 0, sizeof *in);
}

/* A member that must be a string if present (JSON null counts as absent). */
static ldg_status
opt_string(json_t *o, const char *k, char **out, bool *bad)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return LDG_OK;
    if (!json_is_string(v)) {
        *bad = true;
        return LDG_OK;
    }
    *out = ldgi_strdup(json_string_value(v));
    return *out ? LDG_OK : LDG_E_NOMEM;
}

static ldg_status
parse_refs(json_t *refs, const char *at, ldg_input *in, ldg_err *err)
{
    if (!json_is_array(refs) || json_array_size(refs) > LDG_REFS_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "%srefs must be an array of at most %u seqs or hashes",
                         at, LDG_REFS_MAX);
    size_t n = json_array_size(refs);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(refs, i);
        if (json_is_integer(r) && json_integer_value(r) >= 0) {
            in->refs[i].is_seq = 1;
            in->refs[i].seq = (uint64_t)json_integer_value(r);
        } else if (json_is_string(r)) {
            ldg_err e;
            if (ldg_ref_parse(json_string_value(r), json_string_length(r), &in->refs[i], &e) !=
                LDG_OK)
                return ldgi_fail(err, e.status, "%s%s", at, e.msg);
        } else {
            return ldgi_fail(err, LDG_E_INPUT, "%sref %zu must be a seq or a leaf hash", at, i + 1);
        }
    }
    in->nrefs = n;
    return LDG_OK;
}

static ldg_status
parse_object(json_t *o, const char *at, ldg_input *in, ldg_err *err)
{
    if (!json_is_object(o))
        return ldgi_fail(err, LDG_E_INPUT, "%sexpected a JSON object", at);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        static const char *const known[] = {"kind",   "study", "refs", "meaning",
                                            "reason", "time",  "body"};
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok)
            return ldgi_fail(err, LDG_E_INPUT,
                             "%sunknown field \"%.40s\" (kind, study, refs, meaning, reason, "
                             "time, body)",
                             at, k);
    }
    bool bad = false;
    if (opt_string(o, "kind", &in->kind, &bad) != LDG_OK ||
        opt_string(o, "study", &in->study, &bad) != LDG_OK ||
        opt_string(o, "meaning", &in->meaning, &bad) != LDG_OK ||
        opt_string(o, "reason", &in->reason, &bad) != LDG_OK)
        return ldgi_fail(err, LDG_E_NOMEM, "%sout of memory", at);
    if (bad || !in->kind || !in->study)
        return ldgi_fail(err, LDG_E_INPUT,
                         "%skind and study must be strings; meaning and reason strings if given",
                         at);
    json_t *t = json_object_get(o, "time");
    if (t) {
        if (!json_is_string(t) ||
            ldg_time_parse(json_string_value(t), &in->time_ns, &in->tz_min, NULL) != LDG_OK)
            return ldgi_fail(err, LDG_E_INPUT, "%stime must be an ISO 8601 string with a zone", at);
        in->has_time = 1;
    }
    json_t *refs = json_object_get(o, "refs");
    ldg_status s;
    if (refs && !json_is_null(refs) && (s = parse_refs(refs, at, in, err)) != LDG_OK)
        return s;
    json_t *body = json_object_get(o, "body");
    if (body && !json_is_null(body)) {
        if (!json_is_object(body))
            return ldgi_fail(err, LDG_E_INPUT, "%sbody must be a JSON object", at);
        /* The canonical text of [FMT-6]; ldg_sign checks its size. */
        in->body = ldgi_body_text(body, &in->body_len);
        if (!in->body)
            return ldgi_fail(err, LDG_E_NOMEM, "%sout of memory", at);
        /*
         * The fields verdict on the tree in hand, for ldg_sign to take on
         * this thread instead of parsing the text twice more; its error, if
         * any, is reported by ldg_sign, where it always was.
         */
        ldg_err verdict = {.status = LDG_OK};
        if (ldgi_kind_class(in->kind, strlen(in->kind)) == LDGI_KIND_USER &&
            in->body_len <= LDG_BODY_MAX)
            ldgi_fields_check_json(in->kind, body, in->body, in->body_len, &verdict);
        ldgi_body_memo_put(in->kind, in->body, in->body_len, &verdict);
    }
    return LDG_OK;
}

ldg_status
ldg_input_parse(const char *text, size_t len, size_t lineno, ldg_input *out, ldg_err *err)
{
    memset(out, 0, sizeof *out);
    char at[40] = "";
    if (lineno)
        snprintf(at, sizeof at, "line %zu: ", lineno);
    /* Longer than any valid record: refused before jansson builds a tree of it. */
    if (len > LDG_INPUT_LINE_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "%sthe record is %zu bytes, longer than any can be (%u)",
                         at, len, LDG_INPUT_LINE_MAX);
    json_error_t je = {0}; /* jansson may fail before it sets the code json_error_code reads */
    /* Duplicate members are refused: two "kind"s would mean what the last one says. */
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        /* jansson leaves the error empty when its first allocation fails. */
        if (json_error_code(&je) == json_error_out_of_memory || !je.text[0])
            return ldgi_fail(err, LDG_E_NOMEM, "%sout of memory", at);
        if (lineno)
            return ldgi_fail(err, LDG_E_INPUT, "line %zu, column %d: %s", lineno, je.column,
                             je.text);
        return ldgi_fail(err, LDG_E_INPUT, "line %d, column %d: %s", je.line, je.column, je.text);
    }
    ldg_status s = parse_object(o, at, out, err);
    json_decref(o);
    if (s != LDG_OK)
        ldg_input_clear(out);
    return s;
}

int
ldg_input_next_line(const char *text, size_t len, size_t *pos, size_t *lineno, const char **line,
                    size_t *line_len)
{
    while (*pos < len) {
        const char *p = text + *pos;
        size_t rest = len - *pos;
        const char *nl = memchr(p, '\n', rest);
        size_t ll = nl ? (size_t)(nl - p) : rest, skip = 0;
        ++*lineno;
        *pos += nl ? ll + 1 : ll;
        while (skip < ll && (p[skip] == ' ' || p[skip] == '\t' || p[skip] == '\r'))
            skip++;
        if (skip < ll) {
            *line = p;
            *line_len = ll;
            return 1;
        }
    }
    return 0;
}
