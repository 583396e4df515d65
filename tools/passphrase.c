/*
 * passphrase.c - where passphrases come from: --passphrase-file F, else the
 * file named by $LDG_PASSPHRASE_FILE, else the terminal with echo off.
 * Never argv.  Held in sodium_malloc'd memory and wiped after use.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024
/*
 * A new key's passphrase has at least this many characters (UTF-8 code
 * points), 21 CFR 11.300.  Existing keys load with whatever they were sealed
 * with: the minimum applies when a key is created.
 */
#define PASS_MIN_CHARS 12

void
tool_free_passphrase(char *pass)
{
    sodium_free(pass); /* wipes; NULL ok */
}

/* First line of the file, without its newline. */
static int
pass_from_file(const char *path, char **pass, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tool_error(errno == ENOENT ? EXIT_USAGE : EXIT_OPER, "passphrase file %s: %s", path,
                          strerror(errno));
    /* Like a secret key file [KEY-3]: a passphrase others can read is exposed, not used. */
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tool_error(EXIT_OPER, "passphrase file %s: %s", path, strerror(e));
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077)) {
        close(fd);
        return tool_usage("passphrase file %s is accessible to group or others (mode %03o): "
                          "chmod 600 it",
                          path, (unsigned)(st.st_mode & 0777));
    }
    char *buf = sodium_malloc(PASS_MAX + 1);
    if (!buf) {
        close(fd);
        return tool_error(EXIT_OPER, "out of secure memory");
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, PASS_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == PASS_MAX)
            break;
    }
    close(fd);
    char *nl = memchr(buf, '\n', n);
    if (nl)
        n = (size_t)(nl - buf);
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0) {
        sodium_free(buf);
        return tool_usage("passphrase file %s: empty passphrase", path);
    }
    *pass = buf;
    *len = n;
    return EXIT_OK;
}

static int
pass_from_tty(const char *prompt, char **pass, size_t *len)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return tool_usage("a passphrase is needed and there is no terminal: use "
                          "--passphrase-file F or LDG_PASSPHRASE_FILE");
    struct termios old, quiet;
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* nothing to do: the read below still works */
    }
    char *buf = sodium_malloc(PASS_MAX + 1);
    size_t n = 0;
    if (buf) {
        for (;;) {
            char c;
            ssize_t r = read(fd, &c, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || c == '\n' || c == '\r')
                break;
            if (n < PASS_MAX)
                buf[n++] = c;
        }
        buf[n] = '\0';
    }
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* cosmetic only */
    }
    close(fd);
    if (!buf)
        return tool_error(EXIT_OPER, "out of secure memory");
    if (n == 0) {
        sodium_free(buf);
        return tool_usage("empty passphrase");
    }
    *pass = buf;
    *len = n;
    return EXIT_OK;
}

static const char *
passfile_source(const char *passfile)
{
    if (passfile)
        return passfile;
    const char *e = getenv("LDG_PASSPHRASE_FILE");
    return e && *e ? e : NULL;
}

int
tool_load_key(const char *path, const char *passfile, ldg_key **out)
{
    ldg_err err;
    char *pass = NULL;
    size_t len = 0;
    int enc = ldg_key_file_encrypted(path);
    if (enc < 0) {
        /* Let ldg_key_load explain (missing file, permissions...). */
        enc = 0;
    }
    if (enc == 1) {
        const char *pf = passfile_source(passfile);
        char prompt[300];
        snprintf(prompt, sizeof prompt, "Passphrase for %.250s: ", path);
        int rc = pf ? pass_from_file(pf, &pass, &len) : pass_from_tty(prompt, &pass, &len);
        if (rc != EXIT_OK)
            return rc;
    }
    ldg_status s = ldg_key_load(path, pass, len, out, &err);
    tool_free_passphrase(pass);
    return s == LDG_OK ? EXIT_OK : tool_fail(&err);
}

static size_t
utf8_chars(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)p[i] & 0xc0) != 0x80;
    return c;
}

static int
check_new_passphrase(char **pass, size_t len)
{
    if (utf8_chars(*pass, len) >= PASS_MIN_CHARS)
        return EXIT_OK;
    sodium_free(*pass);
    *pass = NULL;
    return tool_usage("a new key's passphrase needs at least %d characters", PASS_MIN_CHARS);
}

int
tool_new_passphrase(const char *passfile, char **pass, size_t *len)
{
    const char *pf = passfile_source(passfile);
    if (pf) {
        int rc = pass_from_file(pf, pass, len);
        return rc != EXIT_OK ? rc : check_new_passphrase(pass, *len);
    }
    char *a, *b;
    size_t al, bl;
    int rc = pass_from_tty("New passphrase: ", &a, &al);
    if (rc != EXIT_OK)
        return rc;
    rc = pass_from_tty("Repeat passphrase: ", &b, &bl);
    if (rc != EXIT_OK) {
        sodium_free(a);
        return rc;
    }
    bool same = al == bl && sodium_memcmp(a, b, al) == 0;
    sodium_free(b);
    if (!same) {
        sodium_free(a);
        return tool_usage("the passphrases do not match");
    }
    *pass = a;
    *len = al;
    return check_new_passphrase(pass, al);
}
