/*
 * fuzz_sha256.c - ledger/sha256.c against libsodium's crypto_hash_sha256 on
 * arbitrary bytes.  The first input byte picks how the rest is split into
 * updates, so block-boundary handling meets every kind of piece.  On a CPU
 * with the SHA extensions this differentially tests them; elsewhere it
 * checks the portable path's plumbing.  Then ldgi_sha256_pair on the rest
 * cut in two, and ldgi_sha256_pair_pre with prefixes of other lengths.
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
    uint8_t first = data[0];
    uint32_t x = first; /* piece sizes from a small LCG seeded by the first byte */
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
    /* ldgi_sha256_pair: the rest cut in two where the first byte says, each with a prefix */
    size_t cut = first % (size + 1);
    uint8_t prefix = (uint8_t)(first >> 7), pa[32], pb[32], wa[32], wb[32];
    ldgi_sha256_pair(prefix, data, cut, pa, data + cut, size - cut, pb);
    const uint8_t *part[2] = {data, data + cut};
    size_t len[2] = {cut, size - cut};
    uint8_t *w[2] = {wa, wb};
    for (unsigned i = 0; i < 2; i++) {
        crypto_hash_sha256_state ls;
        crypto_hash_sha256_init(&ls);
        crypto_hash_sha256_update(&ls, &prefix, 1);
        crypto_hash_sha256_update(&ls, part[i], len[i]);
        crypto_hash_sha256_final(&ls, w[i]);
    }
    FUZZ_CHECK(memcmp(pa, wa, 32) == 0 && memcmp(pb, wb, 32) == 0);
    /* ldgi_sha256_pair_pre: each part's prefix its first bytes, 0 to 63 of them */
    size_t npre[2] = {first % 64, (first * 7u + 3) % 64};
    for (unsigned i = 0; i < 2; i++) {
        npre[i] = npre[i] < len[i] ? npre[i] : len[i];
        crypto_hash_sha256(w[i], part[i], len[i]);
    }
    ldgi_sha256_pair_pre(part[0], npre[0], part[0] + npre[0], len[0] - npre[0], pa, part[1],
                         npre[1], part[1] + npre[1], len[1] - npre[1], pb);
    FUZZ_CHECK(memcmp(pa, wa, 32) == 0 && memcmp(pb, wb, 32) == 0);
    return 0;
}
