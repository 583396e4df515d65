/*
 * killed.h - one rule shared by tests/helpers.c (a test kills an ldg) and
 * tests/fault.c (an ldg kills itself through the fault shim, which links
 * nothing else): under `make check-valgrind` (LDG_VG_KILLED names a
 * directory) a process killed on purpose is noted there by pid, for
 * tests/valgrind-scan.sh to tell it from one that died of a bug.
 */
#ifndef LDG_TESTS_KILLED_H
#define LDG_TESTS_KILLED_H

#include <stdio.h>
#include <stdlib.h>

static inline void
note_killed(long pid)
{
    const char *dir = getenv("LDG_VG_KILLED");
    if (!dir || pid <= 0)
        return;
    char p[4200];
    snprintf(p, sizeof p, "%s/%ld", dir, pid);
    FILE *f = fopen(p, "w");
    if (f)
        fclose(f);
}

#endif
