/*
 * fuzz_body.c - the JSON body [FMT-6]: ldgi_body_canonical on arbitrary
 * bytes.  Properties: the canonical text is accepted again and is a fixed
 * point, canonical(canonical(x)) == canonical(x), with no NUL inside; and
 * it is byte for byte what jansson 2.14's json_dumps(JSON_COMPACT |
 * JSON_SORT_KEYS) writes for the same parse (ldg writes it itself).
 */
#include "fuzz.h"

#include <jansson.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *c1 = NULL, *c2 = NULL;
    size_t n1 = 0, n2 = 0;
    if (ldgi_body_canonical((const char *)data, size, &c1, &n1, NULL) != LDG_OK)
        return 0;
    FUZZ_CHECK(strlen(c1) == n1 && n1 <= LDG_BODY_MAX);
    ldg_err err;
    if (ldgi_body_canonical(c1, n1, &c2, &n2, &err) != LDG_OK) {
        fprintf(stderr, "canonical body rejected: %s\n", err.msg);
        FUZZ_CHECK(!"the canonical body is accepted again");
    }
    FUZZ_CHECK(n2 == n1 && memcmp(c1, c2, n1) == 0);
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    char *theirs = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    FUZZ_CHECK(theirs && strcmp(theirs, c1) == 0);
    free(theirs);
    json_decref(j);
    free(c2);
    free(c1);
    return 0;
}
