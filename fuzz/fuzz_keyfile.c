/*
 * fuzz_keyfile.c - the secret key file [KEY-3]: the input is written to a
 * fresh temporary file (mode 0600) and loaded with ldg_key_load and the
 * passphrase "x".
 *
 * Bounding the work: the library accepts Argon2id costs up to ops 16 and
 * mem 1 GiB, far too slow to run per input.  Before writing the file, any
 * "ops: N" / "mem: N" line whose value keys.c accepts (plain decimal digits,
 * leading zeros allowed, within its bounds) is rewritten to libsodium's
 * minimum (ops 1, mem 8192), so Argon2id only ever runs at the minimum cost.
 * Values keys.c must refuse (empty, signs, blanks, out of bounds) are left
 * untouched, so those checks are fuzzed too; were one accepted, Argon2id
 * would run at up to the full cost and show up as a timeout.  The seed
 * corpus holds a key sealed with "x" at the minimum cost, so the decrypting
 * path is reached too.
 * Property: a key that loads has a valid name and a verifier-key line.
 */
#include "fuzz.h"

#include <sodium.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* Bounds of keys.c (KDF_OPS_MAX, KDF_MEM_MAX). */
#define LIB_OPS_MAX 16ull
#define LIB_MEM_MAX (1024ull * 1024 * 1024)

/* Would keys.c accept this value (the text up to NUL or newline) [KEY-3]? */
static int
value_accepted(const uint8_t *v, size_t n, unsigned long long lo, unsigned long long hi)
{
    size_t k = 0;
    while (k < n && v[k] != '\0' && v[k] != '\n')
        k++;
    if (k == 0)
        return 0;
    for (size_t i = 0; i < k; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    /* Any length: leading zeros make long values that are still in bounds. */
    char *tmp = malloc(k + 1);
    if (!tmp)
        return 1; /* rewrite to the minimum: never risk the full cost */
    memcpy(tmp, v, k);
    tmp[k] = '\0';
    char *end;
    unsigned long long x = strtoull(tmp, &end, 10);
    int ok = *end == '\0' && x >= lo && x <= hi;
    free(tmp);
    return ok;
}

/* Copies data to out, rewriting accepted ops/mem values to the minimum; returns the length. */
static size_t
cap_kdf(const uint8_t *data, size_t size, uint8_t *out)
{
    size_t o = 0, i = 0;
    while (i < size) {
        size_t eol = i;
        while (eol < size && data[eol] != '\n')
            eol++;
        const char *min = NULL;
        if (eol - i >= 5 && memcmp(data + i, "ops: ", 5) == 0 &&
            value_accepted(data + i + 5, eol - i - 5, crypto_pwhash_OPSLIMIT_MIN, LIB_OPS_MAX))
            min = "1";
        else if (eol - i >= 5 && memcmp(data + i, "mem: ", 5) == 0 &&
                 value_accepted(data + i + 5, eol - i - 5, crypto_pwhash_MEMLIMIT_MIN,
                                LIB_MEM_MAX))
            min = "8192";
        if (min) {
            memcpy(out + o, data + i, 5);
            o += 5;
            memcpy(out + o, min, strlen(min));
            o += strlen(min);
        } else {
            memcpy(out + o, data + i, eol - i);
            o += eol - i;
        }
        if (eol < size)
            out[o++] = '\n';
        i = eol + 1;
    }
    return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size > 8192) /* the library reads at most 4096 bytes; larger says nothing new */
        return 0;
    /* A rewritten value ("1", "8192") is never longer than one the library accepts. */
    uint8_t *text = malloc(size + 1);
    if (!text)
        return 0;
    size_t n = cap_kdf(data, size, text);

    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/ldg-fuzz-keyXXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(fchmod(fd, 0600) == 0);
    FUZZ_CHECK(write(fd, text, n) == (ssize_t)n);
    FUZZ_CHECK(close(fd) == 0);
    free(text);

    ldg_key *k = NULL;
    ldg_err err;
    ldg_status st = ldg_key_load(path, "x", 1, &k, &err);
    unlink(path);
    if (st == LDG_OK) {
        char line[LDG_VKEY_MAX];
        uint8_t pub[LDG_PUB_BYTES];
        FUZZ_CHECK(ldgi_key_name_valid(ldg_key_name(k)));
        ldg_key_public(k, pub);
        FUZZ_CHECK(ldg_vkey_format(ldg_key_name(k), pub, line, NULL) == LDG_OK);
    } else {
        FUZZ_CHECK(k == NULL);
    }
    ldg_key_free(k);
    return 0;
}
