/*
 * test_fields.c - the body fields ldg understands per record kind [KIND-1..3]
 * and the communication plan record [PLAN-1..5]: a known field of the wrong
 * form is bad input (exit 2, one line naming it, nothing written) at append,
 * append --batch, append --signed and sign; a plan is checked whole and needs
 * the decider role; and the library's rule matching and due times (calendar
 * and business hours) against hand-computed values, including the spec's
 * worked example.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

/* exit code, one line on stderr that holds needle (and needle2), nothing on stdout */
static void
refused(run_result r, int code, const char *needle, const char *needle2, const char *what)
{
    cr_assert_eq(r.status, code, "%s: expected exit %d, got %d: %s%s", what, code, r.status, r.out,
                 r.err);
    const char *nl = strchr(r.err, '\n');
    cr_assert(nl && nl[1] == '\0', "%s: one line on stderr: %s", what, r.err);
    cr_assert(strstr(r.err, needle), "%s: stderr should name %s: %s", what, needle, r.err);
    if (needle2)
        cr_assert(strstr(r.err, needle2), "%s: stderr should name %s: %s", what, needle2, r.err);
    cr_assert_str_empty(r.out, "%s: nothing on stdout: %s", what, r.out);
    run_free(&r);
}

static run_result
append_body(const char *d, const char *key, const char *kind, const char *body)
{
    return LDG(d, body, "append", "--as", key, "--kind", kind, "--study", "S1", "--body", "-");
}

/* ------------------------------------------------- body fields [KIND-2] -- */

static const struct bad_field {
    const char *kind, *field, *body;
} bad_fields[] = {
    {"query", "subject", "{\"subject\":5}"},
    {"query", "subject", "{\"subject\":\"\"}"},
    {"communication", "subject", "{\"subject\":\"two\\nlines\"}"},
    {"communication", "subject", "{\"subject\":\"csi \\u009b\"}"},
    {"query", "subject", "{\"subject\":\"esc \\u001b[2J\"}"},
    {"query", "text", "{\"text\":[\"a\"]}"},
    {"query", "level", "{\"level\":\"Operational team\"}"},
    {"communication", "level", "{\"level\":7}"},
    {"query", "priority", "{\"priority\":\"asap\"}"},
    {"query", "priority", "{\"priority\":1}"},
    {"query", "due", "{\"due\":\"next week\"}"},
    {"response", "due", "{\"due\":20260310}"},
    {"communication", "to", "{\"to\":5}"},
    {"communication", "to", "{\"to\":[]}"},
    {"communication", "to", "{\"to\":[\"Helix Pharma\",3]}"},
    {"response", "closes", "{\"closes\":\"yes\"}"},
    {"escalation", "from_level", "{\"from_level\":3}"},
    {"escalation", "to_level", "{\"to_level\":\"\"}"},
    {"deviation", "severity", "{\"severity\":\"bad\"}"},
    {"action", "owner", "{\"owner\":5}"},
    {"action", "capa", "{\"capa\":\"yes\"}"},
    {"action", "status", "{\"status\":\"closed\"}"},
    {"meeting", "attendees", "{\"attendees\":\"Ann, Bob\"}"},
    {"meeting", "attendees", "{\"attendees\":[\"Ann\",null]}"},
    {"document", "title", "{\"title\":{\"t\":1}}"},
    {"document", "version", "{\"version\":2}"},
    {"document", "sha256",
     "{\"sha256\":\"ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789\"}"},
    {"document", "sha256", "{\"sha256\":\"abc\"}"},
};

Test(fields, each_known_field_of_the_wrong_form_is_exit_2_naming_it_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++) {
        const struct bad_field *b = &bad_fields[i];
        char needle[80], what[200];
        snprintf(needle, sizeof needle, "\"%s\"", b->field);
        snprintf(what, sizeof what, "%s %s", b->kind, b->body);
        refused(append_body(d, "author.key", b->kind, b->body), 2, needle, NULL, what);
    }
    /* a decision (decider) and a subject of 501 bytes */
    refused(append_body(d, "decider.key", "decision", "{\"priority\":\"soon\"}"), 2, "\"priority\"",
            NULL, "decision");
    char big[600];
    snprintf(big, sizeof big, "{\"subject\":\"%0501d\"}", 0);
    refused(append_body(d, "author.key", "query", big), 2, "\"subject\"", NULL, "501 bytes");
    cr_assert_eq(ledger_size(d), 4, "nothing was appended");
}

/* A subject of exactly 500 bytes is the limit, not over it. */
Test(fields, subject_of_500_bytes_appends, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char body[600];
    snprintf(body, sizeof body, "{\"subject\":\"%0500d\"}", 0);
    ok(append_body(d, "author.key", "query", body), "500 bytes");
}

Test(fields, a_body_with_every_known_field_appends_and_verifies, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    const char *common = "\"subject\":\"Visit window\",\"text\":\"Widen visit 4?\","
                         "\"level\":\"operational\",\"priority\":\"urgent\","
                         "\"due\":\"2026-03-10T17:00:00+01:00\",\"to\":[\"Helix Pharma\"],"
                         "\"closes\":false";
    static const struct {
        const char *key, *kind, *extra;
    } ok_bodies[] = {
        {"author.key", "query", ""},
        {"author.key", "communication", ",\"due\":\"2026-03-10\""},
        {"author.key", "response", ",\"closes\":true"},
        {"author.key", "escalation", ",\"from_level\":\"operational\",\"to_level\":\"jsc\""},
        {"author.key", "deviation", ",\"severity\":\"critical\""},
        {"author.key", "action", ",\"owner\":\"Ann Author\",\"capa\":true,\"status\":\"done\""},
        {"author.key", "meeting", ",\"attendees\":[\"Ann Author\",\"Dr Sam Patel\"]"},
        {"author.key", "document",
         ",\"title\":\"Protocol\",\"version\":\"3.0\",\"sha256\":"
         "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""},
        {"decider.key", "decision", ""},
    };
    for (size_t i = 0; i < sizeof ok_bodies / sizeof ok_bodies[0]; i++) {
        char body[1024];
        /* a later duplicate key is refused as JSON, so the extra replaces nothing */
        snprintf(body, sizeof body, "{%s%s}",
                 strcmp(ok_bodies[i].kind, "communication") == 0 ||
                         strcmp(ok_bodies[i].kind, "response") == 0
                     ? "\"subject\":\"s\""
                     : common,
                 ok_bodies[i].extra);
        ok(append_body(d, ok_bodies[i].key, ok_bodies[i].kind, body), ok_bodies[i].kind);
    }
    ok(append_body(d, "author.key", "communication", "{\"to\":\"Helix Pharma\"}"), "to string");
    ok(LDG(d, NULL, "verify"), "verify");
    cr_assert_eq(ledger_size(d), 14);
}

/* Unknown fields are free; a field known for another kind is unknown here. */
Test(fields, unknown_fields_are_free, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(append_body(d, "author.key", "query",
                   "{\"colour\":{\"r\":1},\"Priority\":5,\"severity\":42,\"capa\":\"n/a\","
                   "\"sha256\":7,\"from_level\":[]}"),
       "unknown fields");
    cr_assert_eq(ledger_size(d), 5);
}

Test(fields, batch_line_with_a_bad_field_is_exit_2_naming_line_and_field, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b.jsonl",
               "{\"kind\":\"query\",\"study\":\"S1\",\"body\":{\"priority\":\"high\"}}\n"
               "{\"kind\":\"query\",\"study\":\"S1\",\"body\":{\"subject\":\"ok\"}}\n"
               "{\"kind\":\"action\",\"study\":\"S1\",\"body\":{\"capa\":\"yes\"}}\n");
    refused(LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), 2, "line 3",
            "\"capa\"", "batch");
    cr_assert_eq(ledger_size(d), 4, "the batch is all or nothing");
}

/* The "body" line of `ldg show SEQ` (malloc'd): the stored body's bytes, printable. */
static char *
shown_body(const char *d, long seq)
{
    char s[24];
    snprintf(s, sizeof s, "%ld", seq);
    run_result r = LDG(d, NULL, "show", s);
    cr_assert_eq(r.status, 0, "show %ld: %s", seq, r.err);
    const char *b = strstr(r.out, "\n  body ");
    cr_assert(b, "show %ld has a body line: %s", seq, r.out);
    b += 1;
    size_t n = strcspn(b, "\n");
    char *line = strndup(b, n);
    run_free(&r);
    return line;
}

/*
 * A batch line's body is signed in the canonical form [FMT-6] that a single
 * append writes, although the batch takes it from the line's own parse
 * (body.c's memo) instead of parsing it again.
 */
Test(fields, batch_bodies_are_the_bytes_a_single_append_writes, .fini = tmp_cleanup)
{
    static const char *const bodies[] = {
        "{ \"text\" : \"b\",  \"subject\":\"a\" }",
        "{\"x\":1.5e300,\"y\":-0.1,\"z\":1e-7,\"w\":12345678901234567,\"v\":2.0}",
        "{\"s\":\"\\u00e9\\ud83d\\ude00 caf\xc3\xa9 \\/ \\\" \\\\ \\t\"}",
        "{\"b\":{\"d\":[3,{\"f\":null,\"e\":true}],\"c\":false},\"a\":[]}",
        "{\"subject\":\"Re: visit 3\",\"level\":\"L2\",\"priority\":\"high\"}",
    };
    const size_t n = sizeof bodies / sizeof bodies[0];
    const char *d = tmp_dir();
    make_ledger(d);
    long first = ledger_size(d);
    char batch[2048] = "";
    for (size_t i = 0; i < n; i++) {
        ok(append_body(d, "author.key", "communication", bodies[i]), "single append");
        size_t at = strlen(batch);
        snprintf(batch + at, sizeof batch - at,
                 "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":%s}\n", bodies[i]);
    }
    write_file(d, "b.jsonl", batch);
    ok(LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), "batch");
    cr_assert_eq(ledger_size(d), first + 2 * (long)n);
    for (size_t i = 0; i < n; i++) {
        char *one = shown_body(d, first + (long)i), *many = shown_body(d, first + (long)(n + i));
        cr_assert_str_eq(many, one, "body %zu: batch and single append store the same bytes", i);
        free(one);
        free(many);
    }
}

Test(fields, sign_refuses_a_bad_field_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    refused(LDG(d, "{\"due\":\"soon\"}", "sign", "--as", "author.key", "--kind", "query", "--study",
                "S1", "--body", "-"),
            2, "\"due\"", NULL, "sign");
    refused(LDG(d, "{\"legal_basis\":17}", "sign", "--as", "author.key", "--kind", "erasure",
                "--study", "S1", "--ref", "1", "--body", "-"),
            2, "\"legal_basis\"", NULL, "sign erasure");
}

/*
 * A statement signed elsewhere (by a signer without these checks) whose body
 * has a bad known field: append --signed refuses it as input.
 */
Test(fields, signed_statement_with_a_bad_field_is_exit_2_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, "{}", "sign", "--as", "author.key", "--kind", "query", "--study", "S1",
                       "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    ldg_signed *s = NULL;
    ldg_err e = {0};
    cr_assert_eq(ldg_init(&e), LDG_OK);
    cr_assert_eq(ldg_signed_from_line(r.out, strlen(r.out), &s, &e), LDG_OK, "%s", e.msg);
    run_free(&r);
    ldg_key *k = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/author.key", d);
    cr_assert_eq(ldg_key_load(path, NULL, 0, &k, &e), LDG_OK, "%s", e.msg);
    ldgi_stmt st;
    const char *why = NULL;
    cr_assert(ldgi_stmt_decode(s->stmt, s->stmt_len, &st, &why), "%s", why);
    const char *body = "{\"priority\":\"whenever\"}";
    ldgi_body_commit(s->salt, (const uint8_t *)body, strlen(body), st.body);
    ldgi_buf b = {0};
    cr_assert(ldgi_stmt_encode(&st, &b));
    ldg_signed t = {
        .stmt = b.p, .stmt_len = b.len, .body = (uint8_t *)body, .body_len = strlen(body)};
    memcpy(t.salt, s->salt, sizeof t.salt);
    cr_assert(ldgi_stmt_sign(t.stmt, t.stmt_len, ldgi_key_sk(k), t.sig));
    char *line;
    size_t ll;
    cr_assert_eq(ldg_signed_to_line(&t, &line, &ll, &e), LDG_OK, "%s", e.msg);
    write_file(d, "bad.stmt", line);
    free(line);
    ldgi_buf_free(&b);
    ldg_signed_free(s);
    ldg_key_free(k);
    refused(LDG(d, NULL, "append", "--signed", "bad.stmt"), 2, "\"priority\"", NULL,
            "append --signed");
    cr_assert_eq(ledger_size(d), 4);
}

Test(fields, labels_of_known_fields)
{
    cr_assert_str_eq(ldg_body_field_label("subject"), "Subject");
    cr_assert_str_eq(ldg_body_field_label("due"), "Due");
    cr_assert_str_eq(ldg_body_field_label("from_level"), "Escalated from");
    cr_assert_str_eq(ldg_body_field_label("legal_basis"), "Legal basis");
    cr_assert_null(ldg_body_field_label("colour"));
    cr_assert_null(ldg_body_field_label(NULL));
}

/* ------------------------------------------------------- plan [PLAN-*] -- */

/* The brief's plan, with make_ledger's organisations. */
#define PLAN_BODY                                                                                  \
    "{\"subject\": \"Communication plan HX-301 v2\", \"version\": \"2\","                          \
    "\"parties\": [\"Acme CRO\", \"Helix Pharma\"],"                                               \
    "\"accept\": [\"Acme CRO\", \"Helix Pharma\"],"                                                \
    "\"levels\": [{\"id\": \"operational\", \"name\": \"Operational team\","                       \
    "  \"members\": [{\"name\": \"Carla Rossi\", \"org\": \"Acme CRO\"}]},"                        \
    "  {\"id\": \"jsc\", \"name\": \"Joint steering committee\"}],"                                \
    "\"turnaround\": [{\"kind\": \"query\", \"hours\": 48},"                                       \
    "  {\"kind\": \"query\", \"priority\": \"urgent\", \"hours\": 24, \"clock\": \"business\"},"   \
    "  {\"kind\": \"escalation\", \"hours\": 24, \"respond\": \"Helix Pharma\"}],"                 \
    "\"escalation\": [{\"from\": \"operational\", \"to\": \"jsc\", \"after_hours\": 72}],"         \
    "\"approvals\": [{\"kind\": \"decision\", \"level\": \"jsc\", \"orgs\": [\"Helix Pharma\"]}]," \
    "\"tolerance_hours\": 24, \"gap_days\": 14,"                                                   \
    "\"business_hours\": {\"start\": \"09:00\", \"end\": \"17:00\", \"utc_offset\": \"+01:00\","   \
    "  \"days\": [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"]}}"

static ldg_plan *
parse_ok(const char *body)
{
    ldg_plan *p = NULL;
    ldg_err e = {0};
    cr_assert_eq(ldg_plan_parse(body, strlen(body), &p, &e), LDG_OK, "%s", e.msg);
    cr_assert_not_null(p);
    return p;
}

Test(plan, valid_plan_appends_with_the_decider_key_and_verifies, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(append_body(d, "decider.key", "plan", PLAN_BODY), "plan");
    ok(LDG(d, NULL, "verify"), "verify");
    run_result r = LDG(d, NULL, "show", "4", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"plan\""), "%s", r.out);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 5);
}

Test(plan, an_author_without_the_decider_role_is_refused_exit_3, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    refused(append_body(d, "author.key", "plan", PLAN_BODY), 3, "plan", NULL, "author plan");
    cr_assert_eq(ledger_size(d), 4);
}

static const struct bad_plan {
    const char *field, *body;
} bad_plans[] = {
    {"subject", "{\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}]}"},
    {"subject", "{\"subject\":3,\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}]}"},
    {"parties", "{\"subject\":\"p\",\"levels\":[{\"id\":\"x\"}]}"},
    {"parties", "{\"subject\":\"p\",\"parties\":[],\"levels\":[{\"id\":\"x\"}]}"},
    {"parties[1]", "{\"subject\":\"p\",\"parties\":[\"A\",\"A\"],\"levels\":[{\"id\":\"x\"}]}"},
    {"version",
     "{\"subject\":\"p\",\"version\":2,\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}]}"},
    {"accept[0]",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"accept\":[\"B\"],\"levels\":[{\"id\":\"x\"}]}"},
    {"levels", "{\"subject\":\"p\",\"parties\":[\"A\"]}"},
    {"levels", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[]}"},
    {"levels[0].id", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"a b\"}]}"},
    {"levels[1].id",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"},{\"id\":\"x\"}]}"},
    {"levels[0].members[0]", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\","
                             "\"members\":[{\"name\":\"Ann\"}]}]}"},
    {"turnaround", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                   "\"turnaround\":{\"kind\":\"query\"}}"},
    {"turnaround[0].kind", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                           "\"turnaround\":[{\"kind\":\"lunch\",\"hours\":1}]}"},
    {"turnaround[0].hours", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                            "\"turnaround\":[{\"kind\":\"query\",\"hours\":0}]}"},
    {"turnaround[0].hours", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                            "\"turnaround\":[{\"kind\":\"query\",\"hours\":8761}]}"},
    {"turnaround[0].hours", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                            "\"turnaround\":[{\"kind\":\"query\",\"hours\":\"48\"}]}"},
    {"turnaround[0].level", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                            "\"turnaround\":[{\"kind\":\"query\",\"level\":\"y\",\"hours\":1}]}"},
    {"turnaround[0].priority",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
     "\"turnaround\":[{\"kind\":\"query\",\"priority\":\"asap\",\"hours\":1}]}"},
    {"turnaround[0].clock",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
     "\"turnaround\":[{\"kind\":\"query\",\"clock\":\"lunar\",\"hours\":1}]}"},
    {"turnaround[0].clock",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
     "\"turnaround\":[{\"kind\":\"query\",\"clock\":\"business\",\"hours\":1}]}"},
    {"turnaround[0].respond",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
     "\"turnaround\":[{\"kind\":\"query\",\"respond\":\"Mars Inc\",\"hours\":1}]}"},
    {"turnaround[1]", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                      "\"turnaround\":[{\"kind\":\"query\",\"hours\":1},{\"kind\":\"query\","
                      "\"hours\":2}]}"},
    {"escalation[0].from", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                           "\"escalation\":[{\"from\":\"y\",\"to\":\"x\",\"after_hours\":1}]}"},
    {"escalation[0].to", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                         "\"escalation\":[{\"from\":\"x\",\"to\":\"x\",\"after_hours\":1}]}"},
    {"escalation[0].after_hours",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"},{\"id\":\"y\"}],"
     "\"escalation\":[{\"from\":\"x\",\"to\":\"y\",\"after_hours\":-1}]}"},
    {"approvals[0].kind", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                          "\"approvals\":[{\"kind\":\"genesis\",\"orgs\":[\"A\"]}]}"},
    {"approvals[0].orgs", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                          "\"approvals\":[{\"kind\":\"decision\"}]}"},
    {"approvals[0].orgs[0]", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                             "\"approvals\":[{\"kind\":\"decision\",\"orgs\":[\"B\"]}]}"},
    {"tolerance_hours", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                        "\"tolerance_hours\":0}"},
    {"gap_days", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                 "\"gap_days\":400}"},
    {"business_hours.start", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                             "\"business_hours\":{\"start\":\"9am\",\"end\":\"17:00\","
                             "\"utc_offset\":\"Z\",\"days\":[\"mon\"]}}"},
    {"business_hours.end", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                           "\"business_hours\":{\"start\":\"09:00\",\"end\":\"08:00\","
                           "\"utc_offset\":\"Z\",\"days\":[\"mon\"]}}"},
    {"business_hours.utc_offset",
     "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
     "\"business_hours\":{\"start\":\"09:00\",\"end\":\"17:00\","
     "\"utc_offset\":\"+19:00\",\"days\":[\"mon\"]}}"},
    {"business_hours.days", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                            "\"business_hours\":{\"start\":\"09:00\",\"end\":\"17:00\","
                            "\"utc_offset\":\"Z\",\"days\":[\"mon\",\"mon\"]}}"},
    {"business_hours.days", "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                            "\"business_hours\":{\"start\":\"09:00\",\"end\":\"17:00\","
                            "\"utc_offset\":\"Z\",\"days\":[]}}"},
};

Test(plan, each_invalid_plan_shape_is_exit_2_naming_the_field, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    for (size_t i = 0; i < sizeof bad_plans / sizeof bad_plans[0]; i++) {
        char needle[80];
        snprintf(needle, sizeof needle, "\"%s\"", bad_plans[i].field);
        refused(append_body(d, "decider.key", "plan", bad_plans[i].body), 2, needle, NULL,
                bad_plans[i].body);
        /* the library says the same, without the tool */
        ldg_plan *p = (ldg_plan *)1;
        ldg_err e = {0};
        cr_assert_eq(ldg_plan_parse(bad_plans[i].body, strlen(bad_plans[i].body), &p, &e),
                     LDG_E_INPUT, "%s", bad_plans[i].body);
        cr_assert_null(p);
        cr_assert(strstr(e.msg, needle), "%s: %s", needle, e.msg);
    }
    cr_assert_eq(ledger_size(d), 4);
}

Test(plan, parse_reads_every_part)
{
    ldg_plan *p = parse_ok(PLAN_BODY);
    cr_assert_str_eq(p->subject, "Communication plan HX-301 v2");
    cr_assert_str_eq(p->version, "2");
    cr_assert_eq(p->nparties, 2);
    cr_assert_str_eq(p->parties[1], "Helix Pharma");
    cr_assert_eq(p->naccept, 2);
    cr_assert_eq(p->nlevels, 2);
    cr_assert_str_eq(p->levels[0].name, "Operational team");
    cr_assert_eq(p->levels[0].nmembers, 1);
    cr_assert_str_eq(p->levels[0].members[0].name, "Carla Rossi");
    cr_assert_str_eq(p->levels[0].members[0].org, "Acme CRO");
    cr_assert_eq(p->nrules, 3);
    cr_assert_str_eq(p->rules[0].respond, "other");
    cr_assert_eq(p->rules[0].turnaround_ns, 48 * 3600000000000LL);
    cr_assert_not(p->rules[0].business);
    cr_assert(p->rules[1].business);
    cr_assert_str_eq(p->rules[1].priority, "urgent");
    cr_assert_str_eq(p->rules[2].respond, "Helix Pharma");
    cr_assert_eq(p->nescalations, 1);
    cr_assert_eq(p->escalations[0].after_ns, 72 * 3600000000000LL);
    cr_assert_eq(p->napprovals, 1);
    cr_assert_str_eq(p->approvals[0].level, "jsc");
    cr_assert_str_eq(p->approvals[0].orgs[0], "Helix Pharma");
    cr_assert_eq(p->tolerance_ns, 24 * 3600000000000LL);
    cr_assert_eq(p->gap_ns, 14 * 86400000000000LL);
    cr_assert_eq(p->business_start_min, 540);
    cr_assert_eq(p->business_end_min, 1020);
    cr_assert_eq(p->business_tz_min, 60);
    cr_assert_eq(p->business_days, 0x3eu);
    ldg_plan_free(p);
    /* the smallest plan: defaults */
    p = parse_ok("{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}]}");
    cr_assert_eq(p->tolerance_ns, LDG_TOLERANCE_DEFAULT_NS);
    cr_assert_eq(p->gap_ns, LDG_GAP_DEFAULT_NS);
    cr_assert_str_eq(p->levels[0].name, "x");
    cr_assert_eq(p->nrules, 0);
    cr_assert_null(ldg_plan_match(p, "query", NULL, NULL), "no rule: nothing expects a response");
    ldg_plan_free(p);
    ldg_plan_free(NULL);
}

/* [PLAN-4] kind+priority+level, then kind+priority, kind+level, kind. */
Test(plan, match_picks_the_most_specific_rule)
{
    ldg_plan *p =
        parse_ok("{\"subject\":\"p\",\"parties\":[\"A\",\"B\"],\"levels\":[{\"id\":\"op\"},{\"id\":"
                 "\"jsc\"}],"
                 "\"turnaround\":[{\"kind\":\"query\",\"hours\":48},"
                 "{\"kind\":\"query\",\"level\":\"jsc\",\"hours\":12},"
                 "{\"kind\":\"query\",\"priority\":\"urgent\",\"level\":\"jsc\",\"hours\":6},"
                 "{\"kind\":\"query\",\"priority\":\"urgent\",\"hours\":24},"
                 "{\"kind\":\"decision\",\"priority\":\"high\",\"hours\":5}]}");
    const int64_t h = 3600000000000LL;
    cr_assert_eq(ldg_plan_match(p, "query", NULL, NULL)->turnaround_ns, 48 * h);
    cr_assert_eq(ldg_plan_match(p, "query", "normal", "op")->turnaround_ns, 48 * h);
    cr_assert_eq(ldg_plan_match(p, "query", "urgent", NULL)->turnaround_ns, 24 * h);
    cr_assert_eq(ldg_plan_match(p, "query", NULL, "jsc")->turnaround_ns, 12 * h);
    cr_assert_eq(ldg_plan_match(p, "query", "high", "jsc")->turnaround_ns, 12 * h);
    cr_assert_eq(ldg_plan_match(p, "query", "urgent", "jsc")->turnaround_ns, 6 * h);
    cr_assert_eq(ldg_plan_match(p, "query", "urgent", "op")->turnaround_ns, 24 * h,
                 "priority before level");
    cr_assert_eq(ldg_plan_match(p, "decision", "high", NULL)->turnaround_ns, 5 * h);
    cr_assert_null(ldg_plan_match(p, "decision", NULL, NULL), "no rule for its priority");
    cr_assert_null(ldg_plan_match(p, "meeting", NULL, NULL), "a kind with no rule expects none");
    cr_assert_null(ldg_plan_match(NULL, "query", NULL, NULL), "no plan: none");
    ldg_plan_free(p);
}

static int64_t
at(const char *iso)
{
    int64_t ns;
    ldg_err e;
    cr_assert_eq(ldg_time_parse(iso, &ns, NULL, &e), LDG_OK, "%s", e.msg);
    return ns;
}

static void
due_is(const ldg_plan *p, const ldg_plan_rule *r, const char *from, const char *want)
{
    char got[40];
    ldg_time_format(ldg_plan_due(p, r, at(from)), 0, 1, got);
    cr_assert_eq(ldg_plan_due(p, r, at(from)), at(want), "from %s: due %s, want %s", from, got,
                 want);
}

/*
 * [PLAN-5] The spec's worked example (spec/format.md "Due times"): business
 * hours 09:00-17:00 at +01:00, Monday to Friday.  2026-03-06 is a Friday.
 */
Test(plan, spec_vector_due_times_calendar_and_business)
{
    ldg_plan *p = parse_ok(PLAN_BODY);
    const ldg_plan_rule *cal = ldg_plan_match(p, "query", NULL, NULL);
    const ldg_plan_rule *biz = ldg_plan_match(p, "query", "urgent", NULL);
    cr_assert(cal && !cal->business && biz && biz->business);
    /* calendar: 48 h straight through the weekend */
    due_is(p, cal, "2026-03-06T15:00:00Z", "2026-03-08T15:00:00Z");
    /* Fri 16:00 local: 1 h on Friday, 8 Mon, 8 Tue, 7 Wed -> Wed 16:00 local */
    due_is(p, biz, "2026-03-06T15:00:00Z", "2026-03-11T15:00:00Z");
    /* Saturday: from Monday 09:00 local; 24 h = Mon, Tue, Wed whole -> Wed 17:00 local */
    due_is(p, biz, "2026-03-07T10:00:00Z", "2026-03-11T16:00:00Z");
    /* Mon 08:30 local, before opening: 24 h from 09:00 -> Wed 17:00 local */
    due_is(p, biz, "2026-03-09T07:30:00Z", "2026-03-11T16:00:00Z");
    /* Mon 17:30 local, after closing: from Tue 09:00 -> Thu 17:00 local */
    due_is(p, biz, "2026-03-09T16:30:00Z", "2026-03-12T16:00:00Z");
    /* Mon 12:00 local: 5 Mon, 8 Tue, 8 Wed, 3 Thu -> Thu 12:00 local */
    due_is(p, biz, "2026-03-09T11:00:00Z", "2026-03-12T11:00:00Z");
    ldg_plan_free(p);
}

Test(plan, business_due_with_a_negative_offset_and_whole_weeks)
{
    ldg_plan *p = parse_ok(
        "{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
        "\"turnaround\":[{\"kind\":\"query\",\"hours\":1,\"clock\":\"business\"},"
        "{\"kind\":\"query\",\"priority\":\"low\",\"hours\":200,\"clock\":\"business\"}],"
        "\"business_hours\":{\"start\":\"09:00\",\"end\":\"17:00\",\"utc_offset\":\"-05:00\","
        "\"days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"]}}");
    const ldg_plan_rule *one = ldg_plan_match(p, "query", NULL, NULL);
    const ldg_plan_rule *many = ldg_plan_match(p, "query", "low", NULL);
    /* Fri 23:00 UTC is Fri 18:00 local, closed: Mon 09:00 local + 1 h = Mon 15:00 UTC */
    due_is(p, one, "2026-03-06T23:00:00Z", "2026-03-09T15:00:00Z");
    /* Sat 03:00 UTC is still Fri 22:00 local: the same */
    due_is(p, one, "2026-03-07T03:00:00Z", "2026-03-09T15:00:00Z");
    /* Mon 14:00 UTC = 09:00 local; 200 h = five weeks of 40 h -> Fri 17:00 local, week 5 */
    due_is(p, many, "2026-03-09T14:00:00Z", "2026-04-10T22:00:00Z");
    ldg_plan_free(p);
}

/* A hostile plan (a one-minute window one day a week, a year of hours) stays bounded. */
Test(plan, business_due_is_bounded_for_a_tiny_window, .timeout = 5)
{
    ldg_plan *p =
        parse_ok("{\"subject\":\"p\",\"parties\":[\"A\"],\"levels\":[{\"id\":\"x\"}],"
                 "\"turnaround\":[{\"kind\":\"query\",\"hours\":60,\"clock\":\"business\"},"
                 "{\"kind\":\"query\",\"priority\":\"low\",\"hours\":8760,\"clock\":\"business\"}],"
                 "\"business_hours\":{\"start\":\"09:00\",\"end\":\"09:01\",\"utc_offset\":\"Z\","
                 "\"days\":[\"mon\"]}}");
    /* 60 h = 3600 one-minute Mondays; 1970-01-05 (day 4) is the first: the last is day 4+7*3599 */
    const ldg_plan_rule *r = ldg_plan_match(p, "query", NULL, NULL);
    int64_t want = (4 + 7 * 3599LL) * 86400000000000LL + 541 * 60000000000LL;
    cr_assert_eq(ldg_plan_due(p, r, at("1970-01-05T00:00:00Z")), want);
    /* 525,600 Mondays is past the year 2262: saturates, and returns at once */
    r = ldg_plan_match(p, "query", "low", NULL);
    cr_assert_eq(ldg_plan_due(p, r, at("2026-01-05T00:00:00Z")), INT64_MAX);
    ldg_plan_free(p);
}

/* [POL-1] the kind list of --help names plan, and key --help gives it to decider. */
Test(plan, help_lists_the_plan_kind_and_its_role, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    run_result r = LDG(d, NULL, "append", "--help");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "erasure plan."), "%s", r.out);
    cr_assert(strstr(r.out, "Record kinds"), "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "key", "--help");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "decider (decision, plan,"), "%s", r.out);
    run_free(&r);
}

/* Every allocation failure while parsing a plan is LDG_E_NOMEM with no plan, never a crash. */
Test(plan, parse_survives_every_allocation_failure)
{
    const char *body = PLAN_BODY;
    long n = 0;
    for (;; n++) {
        ldg_plan *p = (ldg_plan *)1;
        ldg_err e = {0};
        ldgi_alloc_fail_after(n);
        ldg_status s = ldg_plan_parse(body, strlen(body), &p, &e);
        ldgi_alloc_fail_after(-1);
        if (s == LDG_OK) {
            ldg_plan_free(p);
            break;
        }
        cr_assert_eq(s, LDG_E_NOMEM, "failure %ld: %s", n, e.msg);
        cr_assert_null(p);
        cr_assert(n < 10000, "parse never succeeds");
    }
    cr_assert_gt(n, 20, "the plan makes many allocations: %ld", n);
}
