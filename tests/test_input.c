/*
 * test_input.c - the JSON record input of `ldg append --batch` through the
 * library API [INP-1][INP-2]: ldg_ref_parse, ldg_input_parse (every member,
 * every refusal with its status and message), ldg_input_next_line (blank
 * lines, CR, a last line without LF, NUL bytes, line numbers), and the
 * JSON proofs of `ldg proof` / `ldg verify-proof` [CKP-6]:
 * ldg_proof_json_parse and ldg_proof_json_format.
 */
#include "ldg.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void
init(void)
{
    cr_assert_eq(ldg_init(NULL), LDG_OK);
}

static ldg_status
parse(const char *text, size_t lineno, ldg_input *in, ldg_err *err)
{
    return ldg_input_parse(text, strlen(text), lineno, in, err);
}

/* Asserts text is refused with status s and a message containing want. */
static void
refused(const char *text, size_t lineno, ldg_status s, const char *want)
{
    ldg_input in;
    ldg_err err;
    cr_assert_eq(parse(text, lineno, &in, &err), s, "%s: %s", text, err.msg);
    cr_assert(strstr(err.msg, want), "%s: message \"%s\" lacks \"%s\"", text, err.msg, want);
    cr_assert_null(in.kind, "cleared on failure");
    cr_assert_null(in.body);
    cr_assert_eq(in.nrefs, 0);
}

/* ---------------------------------------------------------------- refs -- */

Test(ref, seqs_hex_and_base64_hashes_parse, .init = init)
{
    ldg_ref r;
    cr_assert_eq(ldg_ref_parse("0", 1, &r, NULL), LDG_OK);
    cr_assert(r.is_seq && r.seq == 0);
    cr_assert_eq(ldg_ref_parse("9999999999999999999", 19, &r, NULL), LDG_OK);
    cr_assert(r.is_seq && r.seq == 9999999999999999999ull, "19 digits fit 64 bits");
    char hex[65];
    uint8_t h[32];
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(i * 7 + 1);
    sodium_bin2hex(hex, sizeof hex, h, 32);
    cr_assert_eq(ldg_ref_parse(hex, 64, &r, NULL), LDG_OK);
    cr_assert(!r.is_seq && memcmp(r.hash, h, 32) == 0);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, h, 32, sodium_base64_VARIANT_ORIGINAL);
    memset(&r, 0, sizeof r);
    cr_assert_eq(ldg_ref_parse(b64, strlen(b64), &r, NULL), LDG_OK);
    cr_assert(!r.is_seq && memcmp(r.hash, h, 32) == 0);
}

Test(ref, refuses_twenty_digits_short_hashes_signs_and_embedded_nul, .init = init)
{
    ldg_ref r;
    ldg_err err;
    const char *bad[] = {"",  "99999999999999999999", "-1", "+1", "1 ", "0x10",
                         "ab", "Zm9v", "seq:5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(ldg_ref_parse(bad[i], strlen(bad[i]), &r, &err), LDG_E_INPUT, "%s", bad[i]);
        cr_assert(strstr(err.msg, "expected a sequence number or a leaf hash"), "%s", err.msg);
    }
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    hex[10] = '\0';
    cr_assert_eq(ldg_ref_parse(hex, 64, &r, &err), LDG_E_INPUT, "a NUL inside the hash");
    cr_assert_eq(ldg_ref_parse("12\0003", 4, &r, &err), LDG_E_INPUT, "a NUL inside the seq");
}

/* --------------------------------------------------------------- input -- */

Test(input, every_member_is_parsed, .init = init)
{
    ldg_input in;
    ldg_err err;
    char hex[65];
    memset(hex, 'f', 64);
    hex[64] = '\0';
    char text[600];
    snprintf(text, sizeof text,
             " {\"body\":{\"z\":1,\"a\":[true,null]},\"time\":\"2025-03-14T04:26:53-05:00\","
             "\"reason\":\"typo\",\"meaning\":\"approval\",\"refs\":[4,\"17\",\"%s\"],"
             "\"study\":\"S1\",\"kind\":\"correction\"}\r",
             hex);
    cr_assert_eq(parse(text, 0, &in, &err), LDG_OK, "%s", err.msg);
    cr_assert_str_eq(in.kind, "correction");
    cr_assert_str_eq(in.study, "S1");
    cr_assert_str_eq(in.meaning, "approval");
    cr_assert_str_eq(in.reason, "typo");
    cr_assert_eq(in.nrefs, 3);
    cr_assert(in.refs[0].is_seq && in.refs[0].seq == 4);
    cr_assert(in.refs[1].is_seq && in.refs[1].seq == 17, "a string of digits is a seq");
    cr_assert(!in.refs[2].is_seq && in.refs[2].hash[0] == 0xff && in.refs[2].hash[31] == 0xff);
    cr_assert_eq(in.has_time, 1);
    cr_assert_eq(in.time_ns, 1741944413000000000ll);
    cr_assert_eq(in.tz_min, -300);
    cr_assert_str_eq(in.body, "{\"a\":[true,null],\"z\":1}", "compact, keys sorted");
    cr_assert_eq(in.body_len, strlen(in.body));
    ldg_input_clear(&in);
    cr_assert_null(in.kind);
    ldg_input_clear(&in); /* twice is fine */
    ldg_input_clear(NULL);
}

Test(input, null_members_are_absent_and_only_kind_and_study_are_needed, .init = init)
{
    ldg_input in;
    ldg_err err;
    cr_assert_eq(parse("{\"kind\":\"communication\",\"study\":\"\",\"meaning\":null,"
                       "\"reason\":null,\"refs\":null,\"body\":null}",
                       3, &in, &err),
                 LDG_OK, "%s", err.msg);
    cr_assert_str_eq(in.study, "");
    cr_assert_null(in.meaning);
    cr_assert_null(in.reason);
    cr_assert_null(in.body);
    cr_assert_eq(in.nrefs, 0);
    cr_assert_eq(in.has_time, 0);
    ldg_input_clear(&in);
}

Test(input, syntax_errors_name_the_batch_line_or_the_text_line_and_column, .init = init)
{
    refused("{\"kind\" \"x\"}", 7, LDG_E_INPUT, "line 7, column 11:");
    refused("{\n\"kind\" \"x\"}", 0, LDG_E_INPUT, "line 2, column 10:");
    refused("", 2, LDG_E_INPUT, "line 2, column");
    refused("{\"kind\":\"a\",\"study\":\"b\"} {}", 1, LDG_E_INPUT, "line 1, column");
}

Test(input, wrong_shapes_are_refused_with_the_line, .init = init)
{
    refused("[1]", 4, LDG_E_INPUT, "line 4: expected a JSON object");
    refused("\"kind\"", 0, LDG_E_INPUT, "line 1, column 6:");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"colour\":\"red\"}", 2, LDG_E_INPUT,
            "line 2: unknown field \"colour\"");
    refused("{\"kind\":\"a\"}", 1, LDG_E_INPUT, "kind and study must be strings");
    refused("{\"kind\":\"a\",\"study\":42}", 1, LDG_E_INPUT, "kind and study must be strings");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"meaning\":1}", 1, LDG_E_INPUT,
            "meaning and reason strings");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"kind\":\"c\"}", 1, LDG_E_INPUT, "duplicate");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"body\":{\"x\":1,\"x\":2}}", 1, LDG_E_INPUT,
            "duplicate");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"body\":[1]}", 1, LDG_E_INPUT,
            "body must be a JSON object");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"time\":\"2025-01-01T10:00\"}", 1, LDG_E_INPUT,
            "time must be an ISO 8601 string with a zone");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"time\":null}", 1, LDG_E_INPUT, "time must be");
}

Test(input, refs_are_bounded_and_each_must_be_a_seq_or_a_hash, .init = init)
{
    refused("{\"kind\":\"a\",\"study\":\"b\",\"refs\":\"4\"}", 5, LDG_E_INPUT,
            "line 5: refs must be an array of at most 64");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"refs\":[1,-1]}", 5, LDG_E_INPUT,
            "line 5: ref 2 must be a seq or a leaf hash");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"refs\":[1.5]}", 5, LDG_E_INPUT,
            "ref 1 must be a seq");
    refused("{\"kind\":\"a\",\"study\":\"b\",\"refs\":[\"nope\"]}", 5, LDG_E_INPUT,
            "line 5: ref nope: expected a sequence number or a leaf hash");
    char text[1200];
    int n = snprintf(text, sizeof text, "{\"kind\":\"a\",\"study\":\"b\",\"refs\":[0");
    for (int i = 1; i < 65; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, ",%d", i);
    snprintf(text + n, sizeof text - (size_t)n, "]}");
    refused(text, 1, LDG_E_INPUT, "at most 64");
    /* exactly 64 are accepted */
    char *last = strrchr(text, ',');
    strcpy(last, "]}");
    ldg_input in;
    ldg_err err;
    cr_assert_eq(parse(text, 1, &in, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(in.nrefs, 64);
    cr_assert_eq(in.refs[63].seq, 63);
    ldg_input_clear(&in);
}

Test(input, a_nul_byte_ends_nothing_early, .init = init)
{
    const char t[] = "{\"kind\":\"a\",\"study\":\"b\"}\0{";
    ldg_input in;
    ldg_err err;
    cr_assert_eq(ldg_input_parse(t, sizeof t - 1, 1, &in, &err), LDG_E_INPUT,
                 "the bytes after a NUL are part of the input");
    cr_assert_eq(ldg_input_parse("{\"kind\":\"a\\u0000b\",\"study\":\"b\"}", 32, 1, &in, &err),
                 LDG_E_INPUT, "an escaped NUL would cut the kind short");
}

/* ---------------------------------------------------------- next_line -- */

Test(next_line, skips_blank_lines_counts_every_line_and_keeps_the_last_without_lf, .init = init)
{
    const char t[] = "a\n\n  \t\r\n b\r\n\nc";
    size_t pos = 0, lineno = 0, ll;
    const char *line;
    cr_assert_eq(ldg_input_next_line(t, sizeof t - 1, &pos, &lineno, &line, &ll), 1);
    cr_assert(ll == 1 && line[0] == 'a' && lineno == 1);
    cr_assert_eq(ldg_input_next_line(t, sizeof t - 1, &pos, &lineno, &line, &ll), 1);
    cr_assert(ll == 3 && memcmp(line, " b\r", 3) == 0 && lineno == 4, "line %zu", lineno);
    cr_assert_eq(ldg_input_next_line(t, sizeof t - 1, &pos, &lineno, &line, &ll), 1);
    cr_assert(ll == 1 && line[0] == 'c' && lineno == 6);
    cr_assert_eq(ldg_input_next_line(t, sizeof t - 1, &pos, &lineno, &line, &ll), 0);
    cr_assert_eq(ldg_input_next_line(t, sizeof t - 1, &pos, &lineno, &line, &ll), 0, "stays done");
    cr_assert_eq(pos, sizeof t - 1);
}

Test(next_line, empty_and_blank_texts_have_no_lines_and_nul_is_a_byte, .init = init)
{
    size_t pos = 0, lineno = 0, ll;
    const char *line;
    cr_assert_eq(ldg_input_next_line("", 0, &pos, &lineno, &line, &ll), 0);
    cr_assert_eq(ldg_input_next_line(" \n\r\n\t", 5, &pos, &lineno, &line, &ll), 0);
    cr_assert_eq(lineno, 3);
    pos = lineno = 0;
    const char t[] = "\0\n";
    cr_assert_eq(ldg_input_next_line(t, 2, &pos, &lineno, &line, &ll), 1);
    cr_assert(ll == 1 && line == t);
    /* Only len bytes are read: the '\n' after them is not seen. */
    pos = lineno = 0;
    cr_assert_eq(ldg_input_next_line("ab\n", 1, &pos, &lineno, &line, &ll), 1);
    cr_assert_eq(ll, 1);
    cr_assert_eq(pos, 1);
}

/* ---------------------------------------------------------- proof JSON -- */

static void
fill(uint8_t *p, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + (int)i * 13);
}

Test(proof_json, an_inclusion_proof_formats_and_parses_back, .init = init)
{
    ldg_proof_json p = {.kind = LDG_PROOF_INCLUSION, .index = 5, .tree_size = 9, .nhashes = 3};
    fill(p.root, 32, 1);
    for (size_t i = 0; i < p.nhashes; i++)
        fill(p.hashes[i], 32, (int)i + 40);
    uint8_t leaf[] = {0x86, 0xa1, 0x76, 0x01, 0x00, 0xff};
    p.leaf = leaf;
    p.leaf_len = sizeof leaf;
    char *text;
    size_t len;
    ldg_err err;
    cr_assert_eq(ldg_proof_json_format(&p, &text, &len, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(strlen(text), len);
    cr_assert(strncmp(text, "{\"index\":5,\"tree_size\":9,\"root\":\"", 33) == 0, "%s", text);
    cr_assert(strstr(text, "\"leaf\":\"hqF2AQD/\",\"leaf_hash\":\""), "%s", text);
    ldg_proof_json q;
    cr_assert_eq(ldg_proof_json_parse(text, len, &q, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(q.kind, LDG_PROOF_INCLUSION);
    cr_assert(q.index == 5 && q.tree_size == 9 && q.nhashes == 3);
    cr_assert(memcmp(q.root, p.root, 32) == 0);
    cr_assert(memcmp(q.hashes, p.hashes, 3 * 32) == 0);
    cr_assert(q.leaf_len == sizeof leaf && memcmp(q.leaf, leaf, sizeof leaf) == 0);
    ldg_proof_json_clear(&q);
    cr_assert_null(q.leaf);
    ldg_proof_json_clear(NULL);
    free(text);
}

Test(proof_json, a_consistency_proof_formats_and_parses_back, .init = init)
{
    ldg_proof_json p = {.kind = LDG_PROOF_CONSISTENCY, .old_size = 7, .new_size = 9, .nhashes = 0};
    fill(p.old_root, 32, 3);
    fill(p.new_root, 32, 4);
    char *text;
    size_t len;
    cr_assert_eq(ldg_proof_json_format(&p, &text, &len, NULL), LDG_OK);
    cr_assert(strncmp(text, "{\"old_size\":7,\"old_root\":\"", 26) == 0, "%s", text);
    cr_assert(strstr(text, ",\"hashes\":[]}"), "%s", text);
    ldg_proof_json q;
    cr_assert_eq(ldg_proof_json_parse(text, len, &q, NULL), LDG_OK);
    cr_assert(q.kind == LDG_PROOF_CONSISTENCY && q.old_size == 7 && q.new_size == 9);
    cr_assert(memcmp(q.old_root, p.old_root, 32) == 0 && memcmp(q.new_root, p.new_root, 32) == 0);
    ldg_proof_json_clear(&q);
    free(text);
}

static void
proof_refused(const char *text, int kind, const char *want)
{
    ldg_proof_json p;
    ldg_err err;
    cr_assert_eq(ldg_proof_json_parse(text, strlen(text), &p, &err), LDG_E_INPUT, "%s", text);
    cr_assert_eq(p.kind, kind, "%s: kind %d", text, p.kind);
    cr_assert(strstr(err.msg, want), "%s: message \"%s\" lacks \"%s\"", text, err.msg, want);
    cr_assert_null(p.leaf);
}

#define R32 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

Test(proof_json, malformed_proofs_are_refused_saying_what_they_claimed_to_be, .init = init)
{
    proof_refused("not json", LDG_PROOF_UNKNOWN, "neither a tlog-proof nor a JSON proof (line 1");
    proof_refused("[1]", LDG_PROOF_UNKNOWN, "not a JSON object");
    proof_refused("{\"size\":1}", LDG_PROOF_UNKNOWN, "not a proof (no index or old_size)");
    proof_refused("{\"index\":-1,\"tree_size\":1,\"root\":\"" R32 "\",\"hashes\":[]}",
                  LDG_PROOF_INCLUSION, "malformed inclusion proof");
    proof_refused("{\"index\":0,\"tree_size\":0,\"root\":\"" R32 "\",\"hashes\":[]}",
                  LDG_PROOF_INCLUSION, "malformed inclusion proof");
    proof_refused("{\"index\":0,\"tree_size\":1,\"root\":\"AAAA\",\"hashes\":[]}",
                  LDG_PROOF_INCLUSION, "malformed inclusion proof");
    proof_refused("{\"index\":0,\"tree_size\":1,\"root\":\"" R32 "\",\"hashes\":[1]}",
                  LDG_PROOF_INCLUSION, "malformed inclusion proof");
    proof_refused("{\"index\":0,\"tree_size\":1,\"root\":\"" R32 "\",\"hashes\":[],\"leaf\":\"*\"}",
                  LDG_PROOF_INCLUSION, "leaf is not base64");
    proof_refused("{\"index\":0,\"tree_size\":1,\"root\":\"" R32 "\",\"hashes\":[],\"leaf\":7}",
                  LDG_PROOF_INCLUSION, "leaf is not base64");
    proof_refused("{\"old_size\":0,\"new_size\":1,\"old_root\":\"" R32 "\",\"new_root\":\"" R32
                  "\",\"hashes\":[]}",
                  LDG_PROOF_CONSISTENCY, "malformed consistency proof");
    proof_refused("{\"old_size\":2,\"new_size\":1,\"old_root\":\"" R32 "\",\"new_root\":\"" R32
                  "\",\"hashes\":[]}",
                  LDG_PROOF_CONSISTENCY, "malformed consistency proof");
    /* Two roots: which one would a reader believe?  Refused [CKP-6]. */
    proof_refused("{\"index\":0,\"tree_size\":1,\"root\":\"" R32 "\",\"root\":\"" R32
                  "\",\"hashes\":[]}",
                  LDG_PROOF_UNKNOWN, "duplicate");
}

Test(proof_json, sixty_five_hashes_are_refused_and_no_leaf_is_allowed, .init = init)
{
    char text[4000];
    int n = snprintf(text, sizeof text,
                     "{\"index\":0,\"tree_size\":1,\"root\":\"" R32 "\",\"hashes\":[");
    for (int i = 0; i < 65; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s\"" R32 "\"", i ? "," : "");
    snprintf(text + n, sizeof text - (size_t)n, "]}");
    proof_refused(text, LDG_PROOF_INCLUSION, "malformed inclusion proof");
    char *last = strrchr(text, ',');
    strcpy(last, "]}");
    ldg_proof_json p;
    cr_assert_eq(ldg_proof_json_parse(text, strlen(text), &p, NULL), LDG_OK);
    cr_assert_eq(p.nhashes, 64);
    cr_assert_null(p.leaf, "the leaf may be given apart (--leaf FILE)");
    ldg_proof_json_clear(&p);
}

/* ------------------------------------------------- allocation failures -- */

void ldgi_alloc_fail_after(long n); /* buf.c's test hook */

/* jansson's allocator, failing the allocation jansson_budget calls from now (< 0: never). */
static long jansson_budget = -1;

static void *
failing_malloc(size_t n)
{
    if (jansson_budget == 0)
        return NULL;
    if (jansson_budget > 0)
        jansson_budget--;
    return malloc(n);
}

/*
 * Every allocation of a full record (jansson's and the library's) fails in
 * turn: the parse fails and leaves nothing ("out of memory"; jansson calls
 * some of its own failures a syntax error), or succeeds with every member,
 * never a record with a member silently dropped (an out-of-memory while
 * copying the body once signed an empty body).
 */
Test(input, each_failed_allocation_is_out_of_memory_never_a_missing_member, .init = init)
{
    const char *text = "{\"kind\":\"correction\",\"study\":\"S1\",\"refs\":[4],\"meaning\":"
                       "\"authorship\",\"reason\":\"typo\",\"body\":{\"b\":[1,2],\"a\":\"x\"}}";
    int failed = 0;
    for (long n = 0; n < 200; n++) {
        for (int lib = 0; lib < 2; lib++) {
            ldg_input in;
            ldg_err err;
            json_set_alloc_funcs(failing_malloc, free);
            if (lib)
                ldgi_alloc_fail_after(n);
            else
                jansson_budget = n;
            ldg_status s = parse(text, 1, &in, &err);
            ldgi_alloc_fail_after(-1);
            jansson_budget = -1;
            json_set_alloc_funcs(malloc, free);
            if (s == LDG_OK) {
                cr_assert_str_eq(in.body, "{\"a\":\"x\",\"b\":[1,2]}", "n %ld", n);
                cr_assert(in.kind && in.study && in.meaning && in.reason && in.nrefs == 1);
                ldg_input_clear(&in);
            } else {
                /* jansson reports some of its failed allocations as a syntax error. */
                cr_assert(s == LDG_E_NOMEM || (!lib && s == LDG_E_INPUT), "n %ld (%s): %s", n,
                          lib ? "lib" : "jansson", err.msg);
                cr_assert(s != LDG_E_NOMEM || strstr(err.msg, "out of memory"), "%s", err.msg);
                cr_assert_null(in.kind);
                failed++;
            }
        }
    }
    cr_assert(failed > 5, "the sweep reached the allocations (%d failures)", failed);
}

/*
 * A record body whose canonical form cannot be made for want of memory
 * (jansson's allocations failed in turn) is refused: out of memory, or a
 * syntax error where jansson reports its own failure so, never a signature
 * over anything but the canonical body.
 */
Test(input, a_body_that_runs_out_of_memory_is_never_signed_otherwise, .init = init)
{
    ldg_key *k;
    ldg_err err;
    cr_assert_eq(ldg_key_generate("author", &k, &err), LDG_OK, "%s", err.msg);
    const char *body = "{\"b\":[1,2],\"a\":\"x\",\"c\":{\"d\":null}}";
    ldg_fields f = {.kind = "communication", .study = "S1", .body = body,
                    .body_len = strlen(body)};
    int failed = 0;
    for (long n = 0; n < 100; n++) {
        ldg_signed *s = NULL;
        json_set_alloc_funcs(failing_malloc, free);
        jansson_budget = n;
        ldg_status st = ldg_sign(k, &f, &s, &err);
        jansson_budget = -1;
        json_set_alloc_funcs(malloc, free);
        if (st == LDG_OK) {
            size_t bl;
            const uint8_t *b = ldg_signed_body(s, &bl);
            const char *canon = "{\"a\":\"x\",\"b\":[1,2],\"c\":{\"d\":null}}";
            cr_assert(bl == strlen(canon) && memcmp(b, canon, bl) == 0, "n %ld: %.*s", n, (int)bl,
                      (const char *)b);
            ldg_signed_free(s);
            break;
        }
        cr_assert(st == LDG_E_NOMEM || st == LDG_E_INPUT, "n %ld: %s", n, err.msg);
        cr_assert(st != LDG_E_NOMEM || strstr(err.msg, "out of memory"), "%s", err.msg);
        cr_assert(!strstr(err.msg, "line -1"), "n %ld: %s", n, err.msg);
        failed++;
    }
    cr_assert_gt(failed, 2, "the sweep reached jansson's allocations");
    ldg_key_free(k);
}

Test(proof_json, a_failed_allocation_is_out_of_memory, .init = init)
{
    const char *text = "{\"index\":0,\"tree_size\":1,\"root\":\"" R32 "\",\"leaf\":\"AAEC\","
                       "\"hashes\":[\"" R32 "\"]}";
    for (long n = 0; n < 100; n++) {
        ldg_proof_json p;
        ldg_err err;
        json_set_alloc_funcs(failing_malloc, free);
        jansson_budget = n;
        ldg_status s = ldg_proof_json_parse(text, strlen(text), &p, &err);
        jansson_budget = -1;
        json_set_alloc_funcs(malloc, free);
        cr_assert(s == LDG_OK || s == LDG_E_NOMEM || s == LDG_E_INPUT, "n %ld: %s", n, err.msg);
        if (s == LDG_OK)
            cr_assert(p.leaf && p.leaf_len == 3 && p.nhashes == 1, "n %ld: all of it or nothing", n);
        else
            cr_assert_null(p.leaf);
        ldg_proof_json_clear(&p);
        ldgi_alloc_fail_after(0);
        s = ldg_proof_json_parse(text, strlen(text), &p, &err);
        ldgi_alloc_fail_after(-1);
        cr_assert_eq(s, LDG_E_NOMEM, "the leaf's buffer: %s", err.msg);
    }
}
