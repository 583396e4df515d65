/*
 * fuzz_vkey.c - the verifier-key line [KEY-2]: ldg_vkey_parse on arbitrary
 * bytes.  Property: an accepted line is the one ldg_vkey_format writes for
 * the parsed name and key, byte for byte (less one trailing newline), so
 * exactly one text names each key.
 */
#include "fuzz.h"

#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    if (ldg_vkey_parse((const char *)data, size, name, pub, NULL) != LDG_OK)
        return 0;
    size_t n = size;
    if (n && data[n - 1] == '\n')
        n--;
    char out[LDG_VKEY_MAX];
    FUZZ_CHECK(ldg_vkey_format(name, pub, out, NULL) == LDG_OK);
    FUZZ_CHECK(strlen(out) == n && memcmp(out, data, n) == 0);
    return 0;
}
