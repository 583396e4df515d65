/*
 * test_runs.c - the external sort verify merges with (ledger/runs.c):
 * records come back in (key, seq) order whatever the input, in memory and
 * spilled to several runs; keys that share many leading bytes, or are all
 * the same (a hostile ledger can repeat a ref hash), sort correctly and in
 * reasonable time.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

static int
cmp(const ldgi_rec *a, const ldgi_rec *b)
{
    int c = memcmp(a->key, b->key, LDG_HASH_BYTES);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* Adds n records made by fill, then checks the order and that every record came back once. */
static void
sort_and_check(size_t n, void (*fill)(uint8_t key[LDG_HASH_BYTES], size_t i))
{
    cr_assert_geq(sodium_init(), 0);
    ldgi_runs *r = ldgi_runs_new();
    cr_assert_not_null(r);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t key[LDG_HASH_BYTES];
        fill(key, i);
        cr_assert(ldgi_runs_add(r, key, i, i * 7));
        sum += i;
    }
    cr_assert(ldgi_runs_finish(r));
    ldgi_rec prev, x;
    size_t got = 0;
    uint64_t gsum = 0;
    while (ldgi_runs_peek(r)) {
        ldgi_runs_next(r, &x);
        cr_assert_eq(x.aux, x.seq * 7, "the record travels whole");
        if (got)
            cr_assert_lt(cmp(&prev, &x), 0, "out of order at record %zu", got);
        prev = x;
        gsum += x.seq;
        got++;
    }
    cr_assert_eq(got, n);
    cr_assert_eq(gsum, sum);
    cr_assert(!ldgi_runs_failed(r));
    ldgi_runs_free(r);
}

static void
random_key(uint8_t key[LDG_HASH_BYTES], size_t i)
{
    (void)i;
    randombytes_buf(key, LDG_HASH_BYTES);
}

static void
same_key(uint8_t key[LDG_HASH_BYTES], size_t i)
{
    (void)i;
    memset(key, 0xab, LDG_HASH_BYTES);
}

/* Long shared prefixes: the radix levels split nothing and the tail must still sort. */
static void
shared_prefix(uint8_t key[LDG_HASH_BYTES], size_t i)
{
    memset(key, 0x11, LDG_HASH_BYTES);
    key[30] = (uint8_t)(i * 37 >> 8);
    key[31] = (uint8_t)(i * 37);
}

static void
few_distinct(uint8_t key[LDG_HASH_BYTES], size_t i)
{
    memset(key, 0, LDG_HASH_BYTES);
    key[0] = (uint8_t)(i % 3);
    key[5] = (uint8_t)(i % 5);
}

Test(runs, random_keys_in_memory)
{
    sort_and_check(5000, random_key);
}

Test(runs, random_keys_over_several_spilled_runs, .timeout = 60)
{
    sort_and_check(300000, random_key);
}

Test(runs, one_key_repeated_sorts_by_seq_in_time, .timeout = 60)
{
    sort_and_check(200000, same_key);
}

Test(runs, keys_with_a_long_shared_prefix, .timeout = 60)
{
    sort_and_check(150000, shared_prefix);
}

Test(runs, few_distinct_keys, .timeout = 60)
{
    sort_and_check(100000, few_distinct);
}

Test(runs, empty_and_single)
{
    sort_and_check(0, random_key);
    sort_and_check(1, random_key);
}
