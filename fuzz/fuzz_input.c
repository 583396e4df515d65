/*
 * fuzz_input.c - the JSON record input [INP-1][INP-2] on arbitrary bytes:
 * the whole input as one record (ldg_input_parse, line 0), then as a batch
 * (ldg_input_next_line, each line parsed with its number).  Properties: the
 * splitter stays inside the input, returns non-blank lines without LF with
 * rising line numbers, and ends; a refused line's message names its line;
 * an accepted record has kind and study, a body in canonical form [FMT-6],
 * and written back as a JSON line it parses again to the same record.  The
 * fields verdict it leaves for ldg_sign (body.c's memo) is the one
 * ldg_body_fields_check gives the same text, and it is taken only once.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

static int
same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static json_t *
ref_json(const ldg_ref *r)
{
    char s[80];
    if (r->is_seq) {
        if (r->seq <= INT64_MAX && (r->seq & 1)) /* both spellings of a seq */
            return json_integer((json_int_t)r->seq);
        snprintf(s, sizeof s, "%" PRIu64, r->seq);
    } else {
        sodium_bin2hex(s, sizeof s, r->hash, LDG_HASH_BYTES);
    }
    return json_string(s);
}

/* The record as a JSON line; the members in reverse order, to check that order is free. */
static char *
write_back(const ldg_input *in)
{
    json_t *o = json_object();
    FUZZ_CHECK(o);
    if (in->body) {
        json_error_t je;
        json_t *b = json_loads(in->body, 0, &je);
        FUZZ_CHECK(b && json_is_object(b));
        json_object_set_new(o, "body", b);
    }
    if (in->has_time) {
        char t[40];
        ldg_time_format(in->time_ns, in->tz_min, 0, t);
        json_object_set_new(o, "time", json_string(t));
    }
    if (in->reason)
        json_object_set_new(o, "reason", json_string(in->reason));
    if (in->meaning)
        json_object_set_new(o, "meaning", json_string(in->meaning));
    if (in->nrefs) {
        json_t *a = json_array();
        for (size_t i = 0; i < in->nrefs; i++)
            json_array_append_new(a, ref_json(&in->refs[i]));
        json_object_set_new(o, "refs", a);
    }
    json_object_set_new(o, "study", json_string(in->study));
    json_object_set_new(o, "kind", json_string(in->kind));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    FUZZ_CHECK(s);
    return s;
}

/* The memo ldg_input_parse left on this thread says what the long way says [KIND-1]. */
static void
check_memo(const ldg_input *in)
{
    if (!in->body)
        return;
    ldg_err memo, slow = {0};
    bool hit = ldgi_body_memo_take(in->kind, in->body, in->body_len, &memo);
    FUZZ_CHECK(hit || in->body_len > LDG_BODY_MAX || strlen(in->kind) >= 32);
    if (!hit)
        return;
    ldg_status s = ldg_body_fields_check(in->kind, in->body, in->body_len, &slow);
    FUZZ_CHECK(s == memo.status && (s == LDG_OK || strcmp(slow.msg, memo.msg) == 0));
    FUZZ_CHECK(!ldgi_body_memo_take(in->kind, in->body, in->body_len, &memo));
}

static void
check_accepted(const ldg_input *in)
{
    FUZZ_CHECK(in->kind && in->study);
    check_memo(in);
    FUZZ_CHECK(in->nrefs <= LDG_REFS_MAX);
    if (in->body) {
        FUZZ_CHECK(strlen(in->body) == in->body_len);
        char *canon;
        size_t cl;
        if (in->body_len <= LDG_BODY_MAX &&
            ldgi_body_canonical(in->body, in->body_len, &canon, &cl, NULL) == LDG_OK) {
            FUZZ_CHECK(cl == in->body_len && memcmp(canon, in->body, cl) == 0);
            free(canon);
        }
    }
    char *line = write_back(in);
    ldg_input again;
    ldg_err err;
    if (ldg_input_parse(line, strlen(line), 0, &again, &err) != LDG_OK) {
        fprintf(stderr, "written back: %s\nrefused: %s\n", line, err.msg);
        FUZZ_CHECK(!"the written record parses again");
    }
    FUZZ_CHECK(same_str(in->kind, again.kind) && same_str(in->study, again.study));
    FUZZ_CHECK(same_str(in->meaning, again.meaning) && same_str(in->reason, again.reason));
    FUZZ_CHECK(same_str(in->body, again.body) && in->body_len == again.body_len);
    FUZZ_CHECK(in->has_time == again.has_time);
    FUZZ_CHECK(!in->has_time || (in->time_ns == again.time_ns && in->tz_min == again.tz_min));
    FUZZ_CHECK(in->nrefs == again.nrefs);
    for (size_t i = 0; i < in->nrefs; i++) {
        FUZZ_CHECK(in->refs[i].is_seq == again.refs[i].is_seq);
        FUZZ_CHECK(in->refs[i].is_seq ? in->refs[i].seq == again.refs[i].seq
                                      : memcmp(in->refs[i].hash, again.refs[i].hash,
                                               LDG_HASH_BYTES) == 0);
    }
    ldg_input_clear(&again);
    free(line);
}

static void
parse_one(const char *p, size_t n, size_t lineno)
{
    ldg_input in;
    ldg_err err;
    ldg_status s = ldg_input_parse(p, n, lineno, &in, &err);
    if (s != LDG_OK) {
        FUZZ_CHECK(s == LDG_E_INPUT && !in.kind && !in.body && in.nrefs == 0);
        if (lineno) {
            char want[40];
            int wl = snprintf(want, sizeof want, "line %zu", lineno);
            FUZZ_CHECK(strncmp(err.msg, want, (size_t)wl) == 0);
        }
        return;
    }
    check_accepted(&in);
    ldg_input_clear(&in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    const char *text = (const char *)data;
    parse_one(text, size, 0);

    size_t pos = 0, lineno = 0, last = 0, ll, lines = 0;
    const char *line;
    while (ldg_input_next_line(text, size, &pos, &lineno, &line, &ll)) {
        FUZZ_CHECK(line >= text && ll > 0 && (size_t)(line - text) + ll <= size);
        FUZZ_CHECK(pos <= size && lineno > last && !memchr(line, '\n', ll));
        size_t blank = 0;
        while (blank < ll && (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r'))
            blank++;
        FUZZ_CHECK(blank < ll);
        FUZZ_CHECK(++lines <= size);
        last = lineno;
        parse_one(line, ll, lineno);
    }
    FUZZ_CHECK(pos == size);
    return 0;
}
