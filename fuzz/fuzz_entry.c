/*
 * fuzz_entry.c - the entry decoder [FMT-3][FMT-1]: ldgi_entry_decode on
 * arbitrary bytes, then ldgi_stmt_decode on the statement it carries.
 * Property: whatever decodes re-encodes to exactly the input bytes (the
 * canonical-form rule), for the entry and for its statement.
 */
#include "fuzz.h"

#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    ldgi_entry e;
    const char *why = NULL;
    if (!ldgi_entry_decode(data, size, &e, &why))
        return 0;
    ldgi_buf b = {0};
    FUZZ_CHECK(ldgi_entry_encode(&e, &b));
    FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
    ldgi_buf_free(&b);

    ldgi_stmt s;
    if (!ldgi_stmt_decode(e.stmt, e.stmt_len, &s, &why))
        return 0;
    ldgi_buf c = {0};
    FUZZ_CHECK(ldgi_stmt_encode(&s, &c));
    FUZZ_CHECK(c.len == e.stmt_len && memcmp(c.p, e.stmt, e.stmt_len) == 0);
    ldgi_buf_free(&c);
    return 0;
}
