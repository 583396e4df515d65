/*
 * test_depth.c - the JSON nesting limits of spec/format.md [FMT-6] and
 * [INP-1], through the real binary: a body may nest 2,048 levels; a batch
 * line counts its own object, so a body in a line may nest 2,047; the
 * signed-statement line [FMT-8] carries the body in base64 and so takes
 * the whole 2,048.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON object nested `depth` levels deep: {"a":{"a":...{}...}}. */
static char *
nested(int depth)
{
    size_t n = (size_t)depth * 6 + 8;
    char *s = malloc(n), *p = s;
    cr_assert_not_null(s);
    for (int i = 1; i < depth; i++)
        p += sprintf(p, "{\"a\":");
    p += sprintf(p, "{}");
    for (int i = 1; i < depth; i++)
        *p++ = '}';
    *p = '\0';
    return s;
}

static void
write_body(const char *d, const char *name, int depth)
{
    char *b = nested(depth);
    write_file(d, name, b);
    free(b);
}

static void
write_line(const char *d, const char *name, int body_depth)
{
    char *b = nested(body_depth);
    size_t n = strlen(b) + 128;
    char *line = malloc(n);
    cr_assert_not_null(line);
    snprintf(line, n, "{\"kind\":\"communication\",\"study\":\"S\",\"body\":%s}\n", b);
    write_file(d, name, line);
    free(line);
    free(b);
}

static int
append_status(const char *d, const char *const *argv)
{
    run_result r = ldg_run(d, NULL, argv);
    int st = r.status;
    if (st != 0)
        cr_assert(strstr(r.err, "depth") != NULL, "refusal should name the depth: %s", r.err);
    run_free(&r);
    return st;
}

Test(depth, a_body_nests_2048_levels_and_no_more, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_body(d, "b2048.json", 2048);
    write_body(d, "b2049.json", 2049);
    cr_assert_eq(append_status(d, (const char *const[]){"append", "--as", "author.key", "--kind",
                                                        "communication", "--study", "S", "--body",
                                                        "b2048.json", NULL}),
                 0);
    cr_assert_eq(append_status(d, (const char *const[]){"append", "--as", "author.key", "--kind",
                                                        "communication", "--study", "S", "--body",
                                                        "b2049.json", NULL}),
                 2);
}

Test(depth, a_batch_line_counts_its_own_object, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_line(d, "l2047.jsonl", 2047);
    write_line(d, "l2048.jsonl", 2048);
    cr_assert_eq(
        append_status(d, (const char *const[]){"append", "--as", "author.key", "--batch",
                                               "l2047.jsonl", NULL}),
        0);
    cr_assert_eq(
        append_status(d, (const char *const[]){"append", "--as", "author.key", "--batch",
                                               "l2048.jsonl", NULL}),
        2);
    cr_assert_eq(ledger_size(d), 5, "the refused line wrote nothing");
}

Test(depth, a_signed_line_carries_a_2048_level_body, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_body(d, "b2048.json", 2048);
    run_result r = LDG(d, NULL, "sign", "--as", "author.key", "--kind", "communication", "--study",
                       "S", "--body", "b2048.json");
    cr_assert_eq(r.status, 0, "sign: %s", r.err);
    write_file(d, "s.line", r.out);
    run_free(&r);
    r = LDG(d, NULL, "append", "--signed", "s.line");
    cr_assert_eq(r.status, 0, "append --signed: %s", r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 5);
}
