/*
 * replay_main.c - a plain main() for the fuzz targets, built with gcc and
 * run by `make fuzz-replay` (part of `make check`): every regular file of
 * each directory given (fuzz/corpus/NAME, fuzz/crashes/NAME) is fed once to
 * LLVMFuzzerTestOneInput, in sorted order, so every seed and every past
 * crash stays a regression test forever.
 *
 *   replay_NAME DIR...    prints "replay NAME: N inputs ok", exits 0
 *
 * A target that breaks a property aborts; the signal handler names the file
 * first, and the process dies of the signal (non-zero exit).
 */
#include "ldg.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *target = "?";
static char current[4096];

static void
on_crash(int sig)
{
    /* Only async-signal-safe calls: write(2), then die of the same signal. */
    static const char a[] = "replay ", b[] = ": crashed on ", c[] = "\n";
    (void)!write(2, a, sizeof a - 1);
    (void)!write(2, target, strlen(target));
    (void)!write(2, b, sizeof b - 1);
    (void)!write(2, current, strlen(current));
    (void)!write(2, c, sizeof c - 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int
cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static uint8_t *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap);
    while (p) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *q = realloc(p, cap *= 2);
        if (!q) {
            free(p);
            p = NULL;
        } else {
            p = q;
        }
    }
    if (p && ferror(f)) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = n;
    return p;
}

/* Runs every regular file of dir; returns the count, or -1 on error. */
static long
replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay %s: %s: %s\n", target, dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **q = realloc(names, cap * sizeof *q);
            if (!q) {
                fprintf(stderr, "replay %s: out of memory\n", target);
                exit(2);
            }
            names = q;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            fprintf(stderr, "replay %s: out of memory\n", target);
            exit(2);
        }
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);

    long count = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(current, sizeof current, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(current, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len;
        uint8_t *data = read_all(current, &len);
        if (!data) {
            fprintf(stderr, "replay %s: %s: cannot read\n", target, current);
            return -1;
        }
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        count++;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return count;
}

int
main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    target = strncmp(base, "replay_", 7) == 0 ? base + 7 : base;
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR...\n", argv[0]);
        return 2;
    }
    if (ldg_init(NULL) != LDG_OK) {
        fprintf(stderr, "replay %s: ldg_init failed\n", target);
        return 1;
    }
    int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_crash);

    long total = 0;
    for (int i = 1; i < argc; i++) {
        long c = replay_dir(argv[i]);
        if (c < 0)
            return 1;
        total += c;
    }
    if (total == 0) {
        fprintf(stderr, "replay %s: no inputs found\n", target);
        return 1;
    }
    printf("replay %s: %ld inputs ok\n", target, total);
    return 0;
}
