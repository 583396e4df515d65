/*
 * fuzz_sha256.c - ledger/sha256.c against libsodium's crypto_hash_sha256 on
 * arbitrary bytes.  The first input byte picks how the rest is split into
 * updates, so block-boundary handling meets every kind of piece.  On a CPU
 * with the SHA extensions this differentially tests them; elsewhere it
 * checks the portable path's plumbing.
 */
#include "fuzz.h"

#include <sodium.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size == 0)
        return 0;
    uint32_t x = data[0]; /* piece sizes from a small LCG seeded by the first byte */
    data++;
    size--;
    uint8_t want[32], once[32], pieces[32];
    crypto_hash_sha256(want, data, size);
    ldgi_sha256(data, size, once);
    FUZZ_CHECK(memcmp(once, want, 32) == 0);
    ldgi_sha256_ctx s;
    ldgi_sha256_init(&s);
    for (size_t off = 0; off < size;) {
        x = x * 1103515245u + 12345u;
        size_t take = (x >> 16) % 130; /* 0 (an empty update) to two blocks and a bit */
        take = take > size - off ? size - off : take;
        ldgi_sha256_update(&s, data + off, take);
        off += take;
    }
    ldgi_sha256_final(&s, pieces);
    FUZZ_CHECK(memcmp(pieces, want, 32) == 0);
    return 0;
}
