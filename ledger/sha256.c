/*
 * sha256.c - SHA-256 (FIPS 180-4) for the hashes verify computes by the
 * million: leaf hashes, tree nodes and body commitments.
 *
 * Where the CPU has the x86 SHA extensions, whole blocks go through them
 * (about five times libsodium's portable code, which is what lets
 * `ldg verify --since` re-hash a ledger faster than journalctl checks its
 * non-cryptographic chain); ldgi_sha256_pair hashes two messages at once on
 * them, another 1.5 times or so, for the loops that hash every entry.
 * Elsewhere, or when LDG_SHA256=portable is set in the environment, every
 * byte goes to libsodium's crypto_hash_sha256.  The two paths are compared
 * on every length from 0 to 1,100 bytes and on random splits, and pairs on
 * the lengths around the block boundaries, by tests/test_sha256.c and by
 * fuzz/fuzz_sha256.c.
 */
#include "internal.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LDGI_HAVE_SHANI 1
#include <immintrin.h>
#if defined(__has_include) && __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h> /* glibc 2.33 on */
#define LDGI_HAVE_X86_PLATFORM 1
#else
#include <cpuid.h>
#endif
#endif

static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

/* -1 unknown, 0 portable, 1 SHA extensions. */
static _Atomic int use_ni = -1;

#ifdef LDGI_HAVE_SHANI

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/*
 * The state is kept as the instructions want it: ABEF and CDGH.  Each group
 * of four rounds takes four message words w[4g..4g+3]; from group 4 on they
 * are scheduled from the previous four groups (sha256msg1 adds sigma0 of
 * w[t-15] to w[t-16], alignr brings in w[t-7], sha256msg2 adds sigma1 of
 * w[t-2]).
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void
blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    for (; nblocks; nblocks--, p += 64) {
        __m128i abef0 = abef, cdgh0 = cdgh, w[4];
        for (unsigned g = 0; g < 16; g++) {
            __m128i x;
            if (g < 4) {
                x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
            } else {
                x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                x = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
            }
            w[g & 3] = x;
            __m128i m = _mm_add_epi32(x, _mm_loadu_si128((const __m128i *)&K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(dchg, feba, 8));
}

/*
 * Two messages at once: the same rounds as blocks_ni, the two streams'
 * instructions interleaved.  One stream waits on each round's result (the
 * rounds instruction's latency); two keep the unit busy, about 1.5 times
 * the bytes per second on one core.
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void
blocks_ni_x2(uint32_t ha[8], const uint8_t *pa, uint32_t hb[8], const uint8_t *pb, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i st[2][2]; /* [stream][abef, cdgh] */
    uint32_t *hs[2] = {ha, hb};
    for (unsigned m = 0; m < 2; m++) {
        __m128i dcba = _mm_loadu_si128((const __m128i *)&hs[m][0]);
        __m128i hgfe = _mm_loadu_si128((const __m128i *)&hs[m][4]);
        __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
        __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        st[m][0] = _mm_alignr_epi8(cdab, efgh, 8);
        st[m][1] = _mm_blend_epi16(efgh, cdab, 0xF0);
    }
    __m128i abef = st[0][0], cdgh = st[0][1], abef2 = st[1][0], cdgh2 = st[1][1];
    for (; nblocks; nblocks--, pa += 64, pb += 64) {
        __m128i a0 = abef, c0 = cdgh, a1 = abef2, c1 = cdgh2, w[4], v[4];
        for (unsigned g = 0; g < 16; g++) {
            __m128i x, y;
            if (g < 4) {
                x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pa + 16 * g)), bswap);
                y = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(pb + 16 * g)), bswap);
            } else {
                x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                y = _mm_sha256msg1_epu32(v[g & 3], v[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                y = _mm_add_epi32(y, _mm_alignr_epi8(v[(g + 3) & 3], v[(g + 2) & 3], 4));
                x = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
                y = _mm_sha256msg2_epu32(y, v[(g + 3) & 3]);
            }
            w[g & 3] = x;
            v[g & 3] = y;
            __m128i k = _mm_loadu_si128((const __m128i *)&K[4 * g]);
            __m128i m = _mm_add_epi32(x, k), n = _mm_add_epi32(y, k);
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, m);
            cdgh2 = _mm_sha256rnds2_epu32(cdgh2, abef2, n);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(m, 0x0E));
            abef2 = _mm_sha256rnds2_epu32(abef2, cdgh2, _mm_shuffle_epi32(n, 0x0E));
        }
        abef = _mm_add_epi32(abef, a0);
        cdgh = _mm_add_epi32(cdgh, c0);
        abef2 = _mm_add_epi32(abef2, a1);
        cdgh2 = _mm_add_epi32(cdgh2, c1);
    }
    st[0][0] = abef, st[0][1] = cdgh, st[1][0] = abef2, st[1][1] = cdgh2;
    for (unsigned m = 0; m < 2; m++) {
        __m128i feba = _mm_shuffle_epi32(st[m][0], 0x1B);
        __m128i dchg = _mm_shuffle_epi32(st[m][1], 0xB1);
        _mm_storeu_si128((__m128i *)&hs[m][0], _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128((__m128i *)&hs[m][4], _mm_alignr_epi8(dchg, feba, 8));
    }
}

/* The state as the digest's 32 bytes, each word big-endian. */
static void
digest_out(const uint32_t h[8], uint8_t out[LDG_HASH_BYTES])
{
    for (unsigned i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

/*
 * Asked of glibc, which read CPUID once as the process started: in a
 * virtual machine each CPUID is a trap to the hypervisor, about 10 us on
 * the 2-core VM this is benchmarked on, and a single `ldg append` paid four.
 */
static bool
cpu_has_ni(void)
{
#ifdef LDGI_HAVE_X86_PLATFORM
    return CPU_FEATURE_ACTIVE(SSSE3) && CPU_FEATURE_ACTIVE(SSE4_1) && CPU_FEATURE_ACTIVE(SHA);
#else
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA */
#endif
}
#endif

bool
ldgi_sha256_accelerated(void)
{
    int u = atomic_load(&use_ni);
    if (u < 0) {
        const char *e = getenv("LDG_SHA256");
        u = 0;
#ifdef LDGI_HAVE_SHANI
        u = !(e && strcmp(e, "portable") == 0) && cpu_has_ni();
#else
        (void)e;
#endif
        atomic_store(&use_ni, u);
    }
    return u == 1;
}

void
ldgi_sha256_force_portable(bool portable)
{
    atomic_store(&use_ni, portable ? 0 : -1);
}

void
ldgi_sha256_init(ldgi_sha256_ctx *s)
{
    s->ni = ldgi_sha256_accelerated();
    if (!s->ni) {
        crypto_hash_sha256_init(&s->ls);
        return;
    }
    memcpy(s->h, IV, sizeof IV);
    s->bytes = 0;
    s->fill = 0;
}

void
ldgi_sha256_update(ldgi_sha256_ctx *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (!s->ni) {
        crypto_hash_sha256_update(&s->ls, p, n);
        return;
    }
#ifdef LDGI_HAVE_SHANI
    if (n == 0)
        return; /* p may be NULL */
    s->bytes += n;
    if (s->fill) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill < 64)
            return;
        blocks_ni(s->h, s->buf, 1);
        s->fill = 0;
    }
    if (n >= 64) {
        blocks_ni(s->h, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    memcpy(s->buf, p, n);
    s->fill = n;
#endif
}

void
ldgi_sha256_final(ldgi_sha256_ctx *s, uint8_t out[LDG_HASH_BYTES])
{
    if (!s->ni) {
        crypto_hash_sha256_final(&s->ls, out);
        return;
    }
#ifdef LDGI_HAVE_SHANI
    uint64_t bits = s->bytes * 8;
    s->buf[s->fill++] = 0x80;
    if (s->fill > 56) {
        memset(s->buf + s->fill, 0, 64 - s->fill);
        blocks_ni(s->h, s->buf, 1);
        s->fill = 0;
    }
    memset(s->buf + s->fill, 0, 56 - s->fill);
    ldgi_be64(s->buf + 56, bits);
    blocks_ni(s->h, s->buf, 1);
    digest_out(s->h, out);
#endif
    sodium_memzero(s, sizeof *s);
}

void
ldgi_sha256(const void *p, size_t n, uint8_t out[LDG_HASH_BYTES])
{
    ldgi_sha256_ctx s;
    ldgi_sha256_init(&s);
    ldgi_sha256_update(&s, p, n);
    ldgi_sha256_final(&s, out);
}

#ifdef LDGI_HAVE_SHANI
/*
 * One message of ldgi_sha256_pair_pre, pre[0..np) || p[0..n) (np < 64), as
 * a run of blocks: those wholly inside the message are read where they lie
 * (the first, which holds the prefix, from a copy), the last one or two,
 * with the padding and the length, from tail.
 */
typedef struct pmsg {
    const uint8_t *p;
    size_t np;    /* prefix bytes */
    size_t full;  /* blocks wholly inside the message */
    size_t total; /* blocks with the padding */
    uint32_t h[8];
    uint8_t first[64];
    uint8_t tail[128];
} pmsg;

static void
pmsg_init(pmsg *m, const uint8_t *pre, size_t np, const uint8_t *p, size_t n)
{
    uint64_t len = (uint64_t)n + np;
    size_t rest = (size_t)(len % 64); /* message bytes in the tail */
    m->p = p;
    m->np = np; /* block j >= 1 of the message starts at p + 64 j - np */
    m->full = (size_t)(len / 64);
    m->total = m->full + (rest + 9 <= 64 ? 1 : 2);
    memcpy(m->h, IV, sizeof IV);
    if (np)
        memcpy(m->full ? m->first : m->tail, pre, np);
    if (m->full) {
        memcpy(m->first + np, p, 64 - np);
        if (rest)
            memcpy(m->tail, p + 64 * m->full - np, rest);
    } else if (n) {
        memcpy(m->tail + np, p, n);
    }
    size_t end = 64 * (m->total - m->full); /* the tail's blocks: 64 or 128 bytes */
    m->tail[rest] = 0x80;
    memset(m->tail + rest + 1, 0, end - 8 - rest - 1);
    ldgi_be64(m->tail + end - 8, len * 8);
}

/* Block j of the message. */
static const uint8_t *
pmsg_block(const pmsg *m, size_t j)
{
    if (j >= m->full)
        return m->tail + 64 * (j - m->full);
    return j == 0 ? m->first : m->p + 64 * j - m->np;
}

#endif

void
ldgi_sha256_pair_pre(const uint8_t *pa, size_t npa, const uint8_t *a, size_t na,
                     uint8_t oa[LDG_HASH_BYTES], const uint8_t *pb, size_t npb, const uint8_t *b,
                     size_t nb, uint8_t ob[LDG_HASH_BYTES])
{
#ifdef LDGI_HAVE_SHANI
    if (ldgi_sha256_accelerated()) {
        pmsg x, y;
        pmsg_init(&x, pa, npa, a, na);
        pmsg_init(&y, pb, npb, b, nb);
        size_t j = 0, both = x.total < y.total ? x.total : y.total;
        size_t run = x.full < y.full ? x.full : y.full; /* blocks 1..run-1 lie in place in both */
        if (run > 1) {
            blocks_ni_x2(x.h, x.first, y.h, y.first, 1);
            blocks_ni_x2(x.h, a + 64 - npa, y.h, b + 64 - npb, run - 1);
            j = run;
        }
        for (; j < both; j++)
            blocks_ni_x2(x.h, pmsg_block(&x, j), y.h, pmsg_block(&y, j), 1);
        for (size_t k = j; k < x.total; k++)
            blocks_ni(x.h, pmsg_block(&x, k), 1);
        for (size_t k = j; k < y.total; k++)
            blocks_ni(y.h, pmsg_block(&y, k), 1);
        digest_out(x.h, oa);
        digest_out(y.h, ob);
        return;
    }
#endif
    const uint8_t *pre[2] = {pa, pb}, *m[2] = {a, b};
    size_t np[2] = {npa, npb}, n[2] = {na, nb};
    uint8_t *o[2] = {oa, ob};
    for (unsigned i = 0; i < 2; i++) {
        ldgi_sha256_ctx s;
        ldgi_sha256_init(&s);
        ldgi_sha256_update(&s, pre[i], np[i]);
        ldgi_sha256_update(&s, m[i], n[i]);
        ldgi_sha256_final(&s, o[i]);
    }
}

void
ldgi_sha256_pair(uint8_t prefix, const uint8_t *a, size_t na, uint8_t oa[LDG_HASH_BYTES],
                 const uint8_t *b, size_t nb, uint8_t ob[LDG_HASH_BYTES])
{
    ldgi_sha256_pair_pre(&prefix, 1, a, na, oa, &prefix, 1, b, nb, ob);
}
