/*
 * outfile.c - the files commands write (export -o, verify --save-checkpoint):
 * opened beside their name before the long part of the work, so that an
 * unwritable place or a name already taken is said at once (fail fast,
 * SECURITY.md), and given their name only when whole, so that a failed run
 * leaves nothing behind.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat AT_EMPTY_PATH */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
tool_out_open(const char *out, tool_out *t, FILE **f)
{
    *t = (tool_out){.fd = -1};
    if (access(out, F_OK) == 0)
        return tool_usage("%s: already exists; not replaced", out);
    const char *slash = strrchr(out, '/');
    size_t dl = slash ? (size_t)(slash - out) + (slash == out) : 1;
    size_t n = strlen(out) + 16;
    if (!(t->dir = malloc(dl + 1)) || !(t->path = malloc(n))) {
        free(t->dir);
        return tool_error(EXIT_OPER, "out of memory");
    }
    memcpy(t->dir, slash ? out : ".", dl);
    t->dir[dl] = '\0';
    mode_t mask = umask(0);
    umask(mask);
#ifdef O_TMPFILE
    t->fd = open(t->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666 & ~mask);
    if (t->fd < 0 && errno != EISDIR && errno != EOPNOTSUPP && errno != EINVAL && errno != ENOENT) {
        int e = errno;
        free(t->dir);
        free(t->path);
        return tool_error(EXIT_OPER, "%s: cannot create a file beside it: %s", out, strerror(e));
    }
#endif
    if (t->fd >= 0) {
        free(t->path);
        t->path = NULL;
    } else {
        snprintf(t->path, n, "%s.tmp.XXXXXX", out);
        if ((t->fd = mkstemp(t->path)) < 0 || fchmod(t->fd, 0666 & ~mask) != 0) {
            int e = errno;
            if (t->fd >= 0) {
                close(t->fd);
                unlink(t->path);
            }
            free(t->dir);
            free(t->path);
            return tool_error(EXIT_OPER, "%s: cannot create a file beside it: %s", out,
                              strerror(e));
        }
    }
    if (!(*f = fdopen(t->fd, "w"))) {
        int e = errno;
        close(t->fd);
        if (t->path)
            unlink(t->path);
        free(t->dir);
        free(t->path);
        return tool_error(EXIT_OPER, "%s: %s", out, strerror(e));
    }
    return EXIT_OK;
}

/*
 * Gives the finished, synced file the name out, refusing to replace an
 * existing file, and syncs the directory so the name survives a crash.
 * The stream is still open (an anonymous file is linked through its fd).
 */
int
tool_out_publish(const tool_out *t, const char *out)
{
    int r;
    if (t->path) {
        r = link(t->path, out);
    } else {
        char fdpath[40];
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", t->fd);
        r = linkat(AT_FDCWD, fdpath, AT_FDCWD, out, AT_SYMLINK_FOLLOW);
        if (r != 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
            r = linkat(t->fd, "", AT_FDCWD, out, AT_EMPTY_PATH);
    }
    if (r != 0) {
        int e = errno;
        return tool_error(e == EEXIST ? EXIT_USAGE : EXIT_OPER, "%s: %s", out,
                          e == EEXIST ? "already exists; not replaced" : strerror(e));
    }
    int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the file is whole either way; this makes its name durable */
        close(dfd);
    }
    return EXIT_OK;
}

/* Closes the stream and drops the temporary name (and out, if it was published but
   the close failed: nothing is left that the exit status disowns); frees t. */
int
tool_out_close(tool_out *t, FILE *f, const char *out, int rc)
{
    if (fclose(f) != 0 && rc == EXIT_OK) {
        rc = tool_error(EXIT_OPER, "%s: write failed: %s", out, strerror(errno));
        unlink(out);
    }
    if (t->path)
        unlink(t->path);
    free(t->path);
    free(t->dir);
    return rc;
}
