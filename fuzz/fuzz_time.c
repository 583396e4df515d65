/*
 * fuzz_time.c - ISO 8601 times [FMT-7]: ldg_time_parse on a NUL-terminated
 * copy of the input.  Property: formatting the parsed instant in the parsed
 * offset (with and without "Z") and parsing that again gives the same
 * nanoseconds and offset, and formatting is then a fixed point.
 */
#include "fuzz.h"

#include <string.h>

static void
round_trip(int64_t ns, int32_t tz, int utc_z)
{
    char out[40], out2[40];
    int64_t ns2 = 0;
    int32_t tz2 = 0;
    ldg_time_format(ns, tz, utc_z, out);
    ldg_err err;
    if (ldg_time_parse(out, &ns2, &tz2, &err) != LDG_OK) {
        fprintf(stderr, "formatted time \"%s\" does not parse: %s\n", out, err.msg);
        FUZZ_CHECK(!"the formatted time parses");
    }
    FUZZ_CHECK(ns2 == ns);
    FUZZ_CHECK(tz2 == tz);
    ldg_time_format(ns2, tz2, utc_z, out2);
    FUZZ_CHECK(strcmp(out, out2) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ns;
    int32_t tz;
    if (ldg_time_parse(s, &ns, &tz, NULL) == LDG_OK) {
        FUZZ_CHECK(tz >= -1080 && tz <= 1080);
        round_trip(ns, tz, 1);
        round_trip(ns, tz, 0);
    }
    free(s);
    return 0;
}
