/*
 * test_sha256.c - ledger/sha256.c: the SHA-extension path against
 * libsodium's crypto_hash_sha256 on every length from 0 to 1,100 bytes, on
 * random splits into updates, and on the FIPS 180-4 examples; and the
 * portable path (LDG_SHA256=portable) giving the same hashes.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#define MAXLEN 1100

static void
hex_eq(const uint8_t h[32], const char *want)
{
    char hx[65];
    sodium_bin2hex(hx, sizeof hx, h, 32);
    cr_assert_str_eq(hx, want);
}

static void
setup(void)
{
    cr_assert_eq(sodium_init() < 0, 0);
}

TestSuite(sha256, .init = setup, .fini = NULL);

/* FIPS 180-4 / NIST CAVP examples: "abc", the 448-bit message, a million 'a'. */
static void
known_answers(void)
{
    uint8_t h[32];
    ldgi_sha256("abc", 3, h);
    hex_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ldgi_sha256("", 0, h);
    hex_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ldgi_sha256(m448, strlen(m448), h);
    hex_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    ldgi_sha256_ctx s;
    uint8_t a[1000];
    memset(a, 'a', sizeof a);
    ldgi_sha256_init(&s);
    for (int i = 0; i < 1000; i++)
        ldgi_sha256_update(&s, a, sizeof a);
    ldgi_sha256_final(&s, h);
    hex_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every length, one update and random splits, against libsodium. */
static void
against_libsodium(void)
{
    static uint8_t msg[MAXLEN];
    randombytes_buf(msg, sizeof msg);
    for (size_t n = 0; n <= MAXLEN; n++) {
        uint8_t want[32], got[32];
        crypto_hash_sha256(want, msg, n);
        ldgi_sha256(msg, n, got);
        cr_assert_arr_eq(got, want, 32, "length %zu", n);
        ldgi_sha256_ctx s;
        ldgi_sha256_init(&s);
        for (size_t off = 0; off < n;) {
            size_t take = randombytes_uniform(130);
            take = take > n - off ? n - off : take;
            ldgi_sha256_update(&s, msg + off, take);
            off += take;
        }
        ldgi_sha256_final(&s, got);
        cr_assert_arr_eq(got, want, 32, "length %zu in random pieces", n);
    }
}

Test(sha256, known_answers_and_libsodium_default_path)
{
    ldgi_sha256_force_portable(false);
    known_answers();
    against_libsodium();
}

Test(sha256, known_answers_and_libsodium_portable_path)
{
    ldgi_sha256_force_portable(true);
    cr_assert(!ldgi_sha256_accelerated());
    known_answers();
    against_libsodium();
    ldgi_sha256_force_portable(false);
}

/* SHA-256(prefix || m[0..n)) by libsodium. */
static void
prefixed(uint8_t prefix, const uint8_t *m, size_t n, uint8_t out[32])
{
    crypto_hash_sha256_state s;
    crypto_hash_sha256_init(&s);
    crypto_hash_sha256_update(&s, &prefix, 1);
    crypto_hash_sha256_update(&s, m, n);
    crypto_hash_sha256_final(&s, out);
}

/*
 * ldgi_sha256_pair on every length from 0 to 300 beside lengths at and
 * around the block boundaries (the prefix makes a 63-byte message fill a
 * block; 55 and 56 bytes are where the padding spills into a second
 * block), longer ones, and random pairs; each message at its own offset
 * in the buffer, so no two lie the same way.
 */
static void
pairs_against_libsodium(void)
{
    static uint8_t msg[2 * MAXLEN + 64];
    randombytes_buf(msg, sizeof msg);
    const size_t edges[] = {0,   1,   54,  55,  56,  62,  63,  64,  65,  118,
                            119, 120, 126, 127, 128, 129, 191, 300, 1100};
    for (unsigned prefix = 0; prefix < 2; prefix++) {
        for (size_t na = 0; na <= 300; na++) {
            for (size_t e = 0; e < sizeof edges / sizeof edges[0] + 4; e++) {
                size_t nb =
                    e < sizeof edges / sizeof edges[0] ? edges[e] : randombytes_uniform(MAXLEN + 1);
                const uint8_t *a = msg + na % 7, *b = msg + MAXLEN + e % 5;
                uint8_t wa[32], wb[32], ga[32], gb[32];
                prefixed((uint8_t)prefix, a, na, wa);
                prefixed((uint8_t)prefix, b, nb, wb);
                ldgi_sha256_pair((uint8_t)prefix, a, na, ga, b, nb, gb);
                cr_assert_arr_eq(ga, wa, 32, "prefix %u, first of (%zu, %zu)", prefix, na, nb);
                cr_assert_arr_eq(gb, wb, 32, "prefix %u, second of (%zu, %zu)", prefix, na, nb);
                ldgi_sha256_pair((uint8_t)prefix, b, nb, gb, a, na, ga);
                cr_assert_arr_eq(ga, wa, 32, "prefix %u, second of (%zu, %zu)", prefix, nb, na);
                cr_assert_arr_eq(gb, wb, 32, "prefix %u, first of (%zu, %zu)", prefix, nb, na);
            }
        }
    }
    uint8_t h1[32], h2[32], w[32];
    prefixed(0, NULL, 0, w);
    ldgi_sha256_pair(0, NULL, 0, h1, NULL, 0, h2);
    cr_assert_arr_eq(h1, w, 32, "two empty messages");
    cr_assert_arr_eq(h2, w, 32, "two empty messages");
}

/* check() with the SHA extensions (where the CPU has them), then on the portable path. */
static void
on_both_paths(void (*check)(void))
{
    ldgi_sha256_force_portable(false);
    check();
    ldgi_sha256_force_portable(true);
    check();
    ldgi_sha256_force_portable(false);
}

Test(sha256, pairs_on_both_paths)
{
    on_both_paths(pairs_against_libsodium);
}

/*
 * ldgi_sha256_pair_pre: two messages with prefixes of their own lengths
 * (none, one byte, the body commitment's 44, up to a block less one) on
 * lengths around the block boundaries each prefix moves, against
 * libsodium over the prefix and the message as one.
 */
static void
prefixed_pairs_against_libsodium(void)
{
    static uint8_t msg[2 * MAXLEN + 64], pre[2][64];
    randombytes_buf(msg, sizeof msg);
    randombytes_buf(pre, sizeof pre);
    const size_t plens[] = {0, 1, 2, 8, 12, 44, 54, 55, 56, 57, 62, 63};
    const size_t np = sizeof plens / sizeof plens[0];
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++)
            for (size_t na = 0; na <= 200; na++) {
                size_t pa = plens[i], pb = plens[j];
                /* b's length: where its prefix puts a block edge, or at random */
                size_t nb = na % 3 == 0 ? (64 - pb + na / 3 % 130 - 2) % 400
                                        : randombytes_uniform(MAXLEN + 1);
                const uint8_t *a = msg + na % 7, *b = msg + MAXLEN + na % 5;
                uint8_t wa[32], wb[32], ga[32], gb[32];
                crypto_hash_sha256_state s;
                crypto_hash_sha256_init(&s);
                crypto_hash_sha256_update(&s, pre[0], pa);
                crypto_hash_sha256_update(&s, a, na);
                crypto_hash_sha256_final(&s, wa);
                crypto_hash_sha256_init(&s);
                crypto_hash_sha256_update(&s, pre[1], pb);
                crypto_hash_sha256_update(&s, b, nb);
                crypto_hash_sha256_final(&s, wb);
                ldgi_sha256_pair_pre(pre[0], pa, a, na, ga, pre[1], pb, b, nb, gb);
                cr_assert_arr_eq(ga, wa, 32, "first of (%zu+%zu, %zu+%zu)", pa, na, pb, nb);
                cr_assert_arr_eq(gb, wb, 32, "second of (%zu+%zu, %zu+%zu)", pa, na, pb, nb);
            }
    uint8_t h1[32], h2[32], w[32];
    crypto_hash_sha256(w, NULL, 0);
    ldgi_sha256_pair_pre(NULL, 0, NULL, 0, h1, NULL, 0, NULL, 0, h2);
    cr_assert_arr_eq(h1, w, 32, "two empty messages, no prefixes");
    cr_assert_arr_eq(h2, w, 32, "two empty messages, no prefixes");
}

Test(sha256, prefixed_pairs_on_both_paths)
{
    on_both_paths(prefixed_pairs_against_libsodium);
}

/* Say in the log which path the default one was, so a run on a CPU without the extensions shows it.
 */
Test(sha256, reports_the_path)
{
    ldgi_sha256_force_portable(false);
    cr_log_info("SHA-256 on the SHA extensions: %s", ldgi_sha256_accelerated() ? "yes" : "no");
    unsetenv("LDG_SHA256");
    setenv("LDG_SHA256", "portable", 1);
    ldgi_sha256_force_portable(false);
    cr_assert(!ldgi_sha256_accelerated(), "LDG_SHA256=portable must select libsodium");
    unsetenv("LDG_SHA256");
    ldgi_sha256_force_portable(false);
}

/*
 * The library asks glibc, not CPUID, whether the CPU has the extensions: the
 * default path is the SHA-extension one exactly when CPUID says so (under
 * valgrind, whose CPUID has no SHA, both say no).
 */
Test(sha256, takes_the_extensions_exactly_when_the_cpu_has_them)
{
    bool has = false;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    has = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3) && (c & bit_SSE4_1) &&
          __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
#endif
    unsetenv("LDG_SHA256");
    ldgi_sha256_force_portable(false);
    cr_assert_eq(ldgi_sha256_accelerated(), has, "CPUID says SHA extensions: %s",
                 has ? "yes" : "no");
}
