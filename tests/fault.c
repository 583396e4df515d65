/*
 * fault.c - LD_PRELOAD fault injection for tests/test_faults.c: writes and
 * syncs to a ledger's data.mdb fail with ENOSPC from the Nth one on
 * (LDG_FAULT_AFTER=N), as on a full disk.  Other files are left alone.
 * For tests/test_publish.c, LDG_FAULT_KILL_RENAME=N kills the process
 * (SIGKILL, as a power cut would stop it) just before its Nth rename(2).
 * For tests/test_limits.c, LDG_FAULT_NO_THREADS=N makes the Nth
 * pthread_create(3) and every later one fail with EAGAIN, as under a
 * thread limit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "killed.h"

static long calls;

/*
 * This process is about to kill itself on purpose: under `make
 * check-valgrind`, memcheck turns a process's SIGKILL of itself into an
 * orderly exit with a leak check, in which the dying call stack's
 * allocations show as lost; the scan must know why (killed.h).
 */
static void
killed_on_purpose(void)
{
    note_killed((long)getpid());
}

/* True when this call on fd should fail. */
static int
fault(int fd)
{
    const char *after = getenv("LDG_FAULT_AFTER");
    if (!after)
        return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 9)
        return 0;
    path[n] = '\0';
    if (strcmp(path + n - 9, "/data.mdb") != 0)
        return 0;
    if (++calls < atol(after))
        return 0;
    errno = ENOSPC;
    return 1;
}

#define REAL(name, ret, ...)                                                                       \
    static ret (*real_##name)(__VA_ARGS__);                                                        \
    if (!real_##name)                                                                              \
        real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);

ssize_t
write(int fd, const void *buf, size_t n)
{
    REAL(write, ssize_t, int, const void *, size_t)
    return fault(fd) ? -1 : real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
    return fault(fd) ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite64, ssize_t, int, const void *, size_t, off_t)
    return fault(fd) ? -1 : real_pwrite64(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev, ssize_t, int, const struct iovec *, int)
    return fault(fd) ? -1 : real_writev(fd, iov, cnt);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
    return fault(fd) ? -1 : real_pwritev(fd, iov, cnt, off);
}

int
fdatasync(int fd)
{
    REAL(fdatasync, int, int)
    return fault(fd) ? -1 : real_fdatasync(fd);
}

int
fsync(int fd)
{
    REAL(fsync, int, int)
    return fault(fd) ? -1 : real_fsync(fd);
}

int
rename(const char *from, const char *to)
{
    static long renames;
    REAL(rename, int, const char *, const char *)
    const char *kill_at = getenv("LDG_FAULT_KILL_RENAME");
    if (kill_at && ++renames >= atol(kill_at)) {
        killed_on_purpose();
        raise(SIGKILL);
    }
    return real_rename(from, to);
}

int
pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static long creates;
    REAL(pthread_create, int, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)
    const char *from = getenv("LDG_FAULT_NO_THREADS");
    if (from && ++creates >= atol(from))
        return EAGAIN;
    return real_pthread_create(th, attr, fn, arg);
}
