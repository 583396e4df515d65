/*
 * fuzz.h - shared by the libFuzzer targets in fuzz/: one-time library
 * initialisation and the check that turns a broken property into a crash,
 * so libFuzzer (and fuzz/replay_main.c under gcc) report it.
 */
#ifndef LDG_FUZZ_H
#define LDG_FUZZ_H

#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property every accepted input must have; abort() names the line. */
#define FUZZ_CHECK(cond)                                                                \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                             \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static inline void
fuzz_init(void)
{
    static int done;
    if (!done) {
        FUZZ_CHECK(ldg_init(NULL) == LDG_OK);
        done = 1;
    }
}

#endif
