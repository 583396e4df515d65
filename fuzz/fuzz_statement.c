/*
 * fuzz_statement.c - the statement decoder [FMT-2][FMT-1] and the
 * state-free policy rules [POL-1..3]: ldgi_stmt_decode, ldgi_stmt_shape_ok.
 * Property: a decoded statement re-encodes to exactly the input bytes, and
 * the shape check answers OK, INPUT or POLICY with a reason; a key it
 * accepts has an id that is a key name [KEY-1]; ldgi_stmt_peek agrees with the
 * decoder on every statement the decoder accepts (and is bounded on the rest).
 */
#include "fuzz.h"

#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    ldgi_stmt s, q;
    const char *why = NULL;
    bool peeked = ldgi_stmt_peek(data, size, &q); /* bounded on any input */
    if (!ldgi_stmt_decode(data, size, &s, &why))
        return 0;
    /* [VER-11] the peek of a decodable statement agrees with the decoder, and fails only
       for a key record */
    FUZZ_CHECK(peeked || s.has_key);
    if (peeked) {
        FUZZ_CHECK(!s.has_key);
        FUZZ_CHECK(memcmp(q.actor, s.actor, LDG_PUB_BYTES) == 0);
        FUZZ_CHECK(memcmp(q.body, s.body, LDG_HASH_BYTES) == 0);
        FUZZ_CHECK(q.kind.len == s.kind.len && memcmp(q.kind.p, s.kind.p, s.kind.len) == 0);
    }
    char w[256] = "";
    ldg_status st = ldgi_stmt_shape_ok(&s, w, sizeof w);
    FUZZ_CHECK(st == LDG_OK || st == LDG_E_INPUT || st == LDG_E_POLICY);
    FUZZ_CHECK(st == LDG_OK || w[0] != '\0');
    if (st == LDG_OK && s.has_key && s.key_full) {
        /* [KEY-1]: 1..128 bytes, each printable ASCII 0x21..0x7E other than '+'. */
        FUZZ_CHECK(s.key_id.len >= 1 && s.key_id.len <= LDG_NAME_MAX);
        for (size_t i = 0; i < s.key_id.len; i++) {
            unsigned char c = (unsigned char)s.key_id.p[i];
            FUZZ_CHECK(c >= 0x21 && c <= 0x7e && c != '+');
        }
    }

    ldgi_buf b = {0};
    FUZZ_CHECK(ldgi_stmt_encode(&s, &b));
    FUZZ_CHECK(b.len == size && memcmp(b.p, data, size) == 0);
    ldgi_buf_free(&b);
    return 0;
}
