/*
 * fuzz_signed_line.c - the signed-statement line [FMT-8]:
 * ldg_signed_from_line on arbitrary bytes (JSON, base64, then the statement
 * decoder, signature and body checks behind ldg_signed_check).
 * Property: an accepted line writes back with ldg_signed_to_line, that line
 * is accepted again, carries the same statement, signature, salt and body,
 * and writes back to itself.
 */
#include "fuzz.h"

#include <string.h>

static int
same(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    ldg_signed *s = NULL, *t = NULL;
    if (ldg_signed_from_line((const char *)data, size, &s, NULL) != LDG_OK)
        return 0;
    char *line = NULL, *again = NULL;
    size_t len = 0, alen = 0;
    FUZZ_CHECK(ldg_signed_to_line(s, &line, &len, NULL) == LDG_OK);
    FUZZ_CHECK(strlen(line) == len);
    ldg_err err;
    if (ldg_signed_from_line(line, len, &t, &err) != LDG_OK) {
        fprintf(stderr, "re-read failed: %s\n", err.msg);
        FUZZ_CHECK(!"the written line is accepted again");
    }

    size_t n1, n2;
    const uint8_t *p1 = ldg_signed_statement(s, &n1), *p2 = ldg_signed_statement(t, &n2);
    FUZZ_CHECK(same(p1, n1, p2, n2));
    p1 = ldg_signed_body(s, &n1);
    p2 = ldg_signed_body(t, &n2);
    FUZZ_CHECK(same(p1, n1, p2, n2));
    FUZZ_CHECK(memcmp(s->sig, t->sig, LDG_SIG_BYTES) == 0);
    FUZZ_CHECK(memcmp(s->salt, t->salt, LDG_SALT_BYTES) == 0);
    FUZZ_CHECK(ldg_signed_to_line(t, &again, &alen, NULL) == LDG_OK);
    FUZZ_CHECK(alen == len && memcmp(again, line, len) == 0);

    free(again);
    free(line);
    ldg_signed_free(t);
    ldg_signed_free(s);
    return 0;
}
