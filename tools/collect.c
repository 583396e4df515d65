/*
 * collect.c - `ldg checkpoint --as LOG.key --witness W.pub=URL|exec:CMD ...
 * [--quorum N]`: asks C2SP tlog-witnesses to cosign the checkpoint just
 * made (spec/witness.md [WIT-8]), over HTTP (libcurl) or through a command
 * speaking the offline framing of [WIT-6], answers a 409 by resending from
 * the witness's size, checks every cosignature line against the witness key
 * the user named and stores only those that verify [CKP-8][CKP-9].
 */
#define _DEFAULT_SOURCE /* kill */
#include "tool.h"

#include "netlib.h"

#include "emit.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX 16384 /* bytes of a witness's answer read, framing included [WIT-8] */
#define CONNECT_S 10       /* seconds to connect, at most the total */
#define ARGS_MAX 64        /* words of an exec: command */

enum { WS_PENDING, WS_OK, WS_OPER, WS_INTEGRITY };

struct collect_witness {
    const char *arg;    /* W.pub=TARGET as given */
    char keyfile[4096]; /* W.pub */
    const char *target; /* URL or exec:CMD */
    bool is_cmd;
    char *line; /* its verifier-key line */
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    int state;
    char why[400];
    char *cosig; /* the lines that verified, LF-ended */
    size_t cosig_len;
};
typedef struct collect_witness witness;

/* An answer: status, content type, body (raw bytes, not NUL-safe). */
typedef struct answer {
    long status;
    char ctype[128];
    char buf[RESPONSE_MAX + 1];
    size_t len;
    const char *body;
    size_t body_len;
} answer;

static int fail_w(witness *w, int state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail_w(witness *w, int state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
    w->state = state;
    return state;
}

/* The first line of an untrusted body, escaped, for a message. */
static const char *
first_line(const char *p, size_t n)
{
    char tmp[160];
    size_t k = 0;
    while (k < n && k < sizeof tmp - 1 && p[k] != '\n' && p[k] != '\0') {
        tmp[k] = p[k];
        k++;
    }
    tmp[k] = '\0';
    return em_t(tmp);
}

/* ------------------------------------------------------------- HTTP -- */

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
    answer *a = ctx;
    size_t got = size * n;
    if (got > RESPONSE_MAX - a->len)
        return 0; /* over the cap: curl stops with CURLE_WRITE_ERROR */
    memcpy(a->buf + a->len, p, got);
    a->len += got;
    return got;
}

static int
http_exchange(witness *w, const char *req, size_t rlen, long timeout, answer *a)
{
    size_t tl = strlen(w->target);
    static const char suffix[] = "/add-checkpoint";
    size_t sl = sizeof suffix - 1;
    char *url = malloc(tl + sl + 1);
    if (!url)
        return fail_w(w, WS_OPER, "out of memory");
    memcpy(url, w->target, tl + 1);
    /* [WIT-8] the URL is the submission prefix, or already ends in /add-checkpoint */
    if (!(tl >= sl && strcmp(url + tl - sl, suffix) == 0)) {
        if (tl && url[tl - 1] == '/')
            url[--tl] = '\0';
        memcpy(url + tl, suffix, sl + 1);
    }
    CURL *c = net_curl.easy_init();
    struct curl_slist *h = NULL;
    h = net_curl.slist_append(h, "Content-Type: text/plain; charset=utf-8");
    h = h ? net_curl.slist_append(h, "Expect:") : NULL;
    int rc = WS_PENDING;
    if (!c || !h) {
        rc = fail_w(w, WS_OPER, "out of memory");
    } else {
        char errbuf[CURL_ERROR_SIZE] = "";
        net_curl.easy_setopt(c, CURLOPT_URL, url);
        net_curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        net_curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        net_curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        net_curl.easy_setopt(c, CURLOPT_POST, 1L);
        net_curl.easy_setopt(c, CURLOPT_POSTFIELDS, req);
        net_curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rlen);
        net_curl.easy_setopt(c, CURLOPT_HTTPHEADER, h);
        net_curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout < CONNECT_S ? timeout : CONNECT_S);
        net_curl.easy_setopt(c, CURLOPT_TIMEOUT, timeout);
        net_curl.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)RESPONSE_MAX);
        net_curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        net_curl.easy_setopt(c, CURLOPT_WRITEDATA, a);
        net_curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        net_curl.easy_setopt(c, CURLOPT_USERAGENT, "ldg-checkpoint");
        CURLcode cc = net_curl.easy_perform(c);
        char *ct = NULL;
        if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED)
            rc = fail_w(w, WS_OPER, "%s: an answer over %d bytes", em_t(url), RESPONSE_MAX);
        else if (cc != CURLE_OK)
            rc = fail_w(w, WS_OPER, "%s: %s", em_t(url),
                        em_t(errbuf[0] ? errbuf : net_curl.easy_strerror(cc)));
        else {
            net_curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
            net_curl.easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
            snprintf(a->ctype, sizeof a->ctype, "%s", ct ? ct : "");
            a->body = a->buf;
            a->body_len = a->len;
        }
    }
    net_curl.slist_free_all(h);
    net_curl.easy_cleanup(c);
    free(url);
    return rc;
}

/* ---------------------------------------------------------- command -- */

static long
ms_left(const struct timespec *end)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* [WIT-8] exec:CMD: the words of CMD split at spaces and tabs, no shell, no quoting. */
static size_t
split_words(char *s, char *argv[ARGS_MAX + 1])
{
    size_t n = 0;
    for (char *p = strtok(s, " \t"); p && n < ARGS_MAX; p = strtok(NULL, " \t"))
        argv[n++] = p;
    argv[n] = NULL;
    return n;
}

/* The offline framing of [WIT-6]: "CODE REASON\nContent-Type: TYPE\n\nBODY". */
static bool
parse_framed(answer *a)
{
    a->buf[a->len] = '\0';
    char *nl = memchr(a->buf, '\n', a->len);
    if (!nl || nl - a->buf < 3)
        return false;
    long code = 0;
    for (int i = 0; i < 3; i++) {
        if (a->buf[i] < '0' || a->buf[i] > '9')
            return false;
        code = code * 10 + (a->buf[i] - '0');
    }
    if (a->buf[3] != ' ' && a->buf + 3 != nl)
        return false;
    static const char ct[] = "Content-Type: ";
    char *l2 = nl + 1, *end = a->buf + a->len;
    char *nl2 = memchr(l2, '\n', (size_t)(end - l2));
    if (!nl2 || (size_t)(nl2 - l2) < sizeof ct - 1 || memcmp(l2, ct, sizeof ct - 1) != 0 ||
        nl2 + 1 >= end || nl2[1] != '\n')
        return false;
    size_t tl = (size_t)(nl2 - l2) - (sizeof ct - 1);
    if (tl >= sizeof a->ctype)
        return false;
    memcpy(a->ctype, l2 + sizeof ct - 1, tl);
    a->ctype[tl] = '\0';
    a->status = code;
    a->body = nl2 + 2;
    a->body_len = (size_t)(end - a->body);
    return true;
}

static int
cmd_exchange(witness *w, const char *req, size_t rlen, long timeout, answer *a)
{
    char *copy = strdup(w->target + 5); /* past "exec:" */
    char *argv[ARGS_MAX + 1];
    if (!copy)
        return fail_w(w, WS_OPER, "out of memory");
    split_words(copy, argv);
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe(in) || pipe(out) || pipe(er)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (out[i] >= 0)
                close(out[i]);
            if (er[i] >= 0)
                close(er[i]);
        }
        free(copy);
        return fail_w(w, WS_OPER, "pipe: %s", strerror(e));
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(er[1], 2);
        for (int i = 0; i < 2; i++)
            close(in[i]), close(out[i]), close(er[i]);
        /* nothing of the ledger's goes to the command: no other descriptor, and not the
           log key's passphrase file (a witness command names its own) */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        unsetenv("LDG_PASSPHRASE_FILE");
        execvp(argv[0], argv);
        dprintf(2, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]), close(out[1]), close(er[1]);
    if (pid < 0) {
        int e = errno;
        close(in[1]), close(out[0]), close(er[0]);
        free(copy);
        return fail_w(w, WS_OPER, "fork: %s", strerror(e));
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout;
    char ebuf[512];
    size_t sent = 0, elen = 0;
    int wfd = in[1], ofd = out[0], efd = er[0], rc = WS_PENDING;
    bool big = false;
    while (ofd >= 0 || efd >= 0) {
        struct pollfd p[3] = {{wfd, POLLOUT, 0}, {ofd, POLLIN, 0}, {efd, POLLIN, 0}};
        long left = ms_left(&end);
        if (left <= 0) {
            rc = fail_w(w, WS_OPER, "%s: no answer within %ld s", argv[0], timeout);
            break;
        }
        if (poll(p, 3, (int)left) < 0) {
            if (errno == EINTR)
                continue;
            rc = fail_w(w, WS_OPER, "poll: %s", strerror(errno));
            break;
        }
        if (wfd >= 0 && p[0].revents) {
            ssize_t k = write(wfd, req + sent, rlen - sent);
            if (k > 0)
                sent += (size_t)k;
            if ((k < 0 && errno != EAGAIN && errno != EINTR) || sent == rlen) {
                close(wfd); /* the command may answer without reading it all */
                wfd = -1;
            }
        }
        if (ofd >= 0 && p[1].revents) {
            ssize_t k = read(ofd, a->buf + a->len, RESPONSE_MAX + 1 - a->len);
            if (k > 0 && (a->len += (size_t)k) > RESPONSE_MAX) {
                big = true;
                break;
            }
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                close(ofd), ofd = -1;
        }
        if (efd >= 0 && p[2].revents) {
            char tmp[512];
            ssize_t k = read(efd, tmp, sizeof tmp);
            if (k > 0) { /* keep the last bytes: the last line says why */
                size_t kk = (size_t)k;
                if (elen + kk > sizeof ebuf - 1) {
                    size_t drop = elen + kk - (sizeof ebuf - 1);
                    drop = drop > elen ? elen : drop;
                    memmove(ebuf, ebuf + drop, elen - drop);
                    elen -= drop;
                }
                kk = kk > sizeof ebuf - 1 - elen ? sizeof ebuf - 1 - elen : kk;
                memcpy(ebuf + elen, tmp + (size_t)k - kk, kk);
                elen += kk;
            }
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
                close(efd), efd = -1;
        }
    }
    if (wfd >= 0)
        close(wfd);
    if (ofd >= 0)
        close(ofd);
    if (efd >= 0)
        close(efd);
    /* Only the child started here is ever signalled, by its own pid. */
    int st = 0;
    if (rc != WS_PENDING || big) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    } else {
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    }
    ebuf[elen] = '\0';
    while (elen && ebuf[elen - 1] == '\n')
        ebuf[--elen] = '\0';
    const char *last = strrchr(ebuf, '\n');
    last = last ? last + 1 : ebuf;
    if (big)
        rc = fail_w(w, WS_OPER, "%s: an answer over %d bytes", argv[0], RESPONSE_MAX);
    else if (rc == WS_PENDING && !parse_framed(a)) {
        if (WIFEXITED(st))
            rc = fail_w(w, WS_OPER, "%s exited %d without an answer%s%s", argv[0], WEXITSTATUS(st),
                        *last ? ": " : "", em_t(last));
        else
            rc = fail_w(w, WS_OPER, "%s ended without an answer (signal %d)", argv[0],
                        WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    free(copy);
    return rc;
}

/* ---------------------------------------------------------- protocol -- */

/* [WIT-2] old SIZE, the proof lines, an empty line, the note. */
static char *
request(ldg_ledger *l, uint64_t old, uint64_t size, const char *note, size_t len, size_t *rlen,
        ldg_err *err)
{
    static uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES];
    size_t n = 0;
    if (old && old < size && ldg_proof_consistency(l, old, size, hashes, &n, err) != LDG_OK)
        return NULL;
    size_t cap = 32 + n * 46 + 1 + len + 1;
    char *r = malloc(cap);
    if (!r) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        err->status = LDG_E_NOMEM;
        return NULL;
    }
    size_t o = (size_t)snprintf(r, cap, "old %llu\n", (unsigned long long)old);
    for (size_t i = 0; i < n; i++) {
        tool_b64(hashes[i], LDG_HASH_BYTES, r + o, 46);
        o += strlen(r + o);
        r[o++] = '\n';
    }
    r[o++] = '\n';
    memcpy(r + o, note, len);
    o += len;
    r[o] = '\0';
    *rlen = o;
    return r;
}

/*
 * [WIT-8] The 200 body: each line by the witness's name and cosignature key
 * ID must verify over the checkpoint's text (else nothing of it is kept);
 * lines of other keys are dropped, never stored.
 */
static int
take_cosignatures(witness *w, const char *note, size_t len, const uint8_t *logpub, const answer *a)
{
    char *cand = malloc(len + a->body_len + 1);
    if (!cand)
        return fail_w(w, WS_OPER, "out of memory");
    size_t kept = 0;
    bool bad = false;
    for (const char *p = a->body, *end = a->body + a->body_len; p < end && !bad;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t ll = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);
        uint64_t ts;
        ldg_err err;
        memcpy(cand, note, len);
        memcpy(cand + len, p, ll);
        ldg_status s = eol ? ldg_checkpoint_cosigned(cand, len + ll, w->name, w->pub, &ts, &err)
                           : LDG_E_NOTFOUND;
        if (s == LDG_OK) {
            char *nc = realloc(w->cosig, w->cosig_len + ll);
            if (!nc) {
                free(cand);
                return fail_w(w, WS_OPER, "out of memory");
            }
            w->cosig = nc;
            memcpy(w->cosig + w->cosig_len, p, ll);
            w->cosig_len += ll;
            kept++;
        } else if (s != LDG_E_NOTFOUND)
            bad = true;
        p += ll;
    }
    free(cand);
    if (!bad && kept) {
        /* [CKP-7] as a verifier will count it: not the log key, not dated ahead */
        char *full = malloc(len + w->cosig_len);
        ldg_witness_check chk;
        size_t valid = 0;
        ldg_err err;
        if (!full)
            return fail_w(w, WS_OPER, "out of memory");
        memcpy(full, note, len);
        memcpy(full + len, w->cosig, w->cosig_len);
        const char *keys[1] = {w->line};
        ldg_status s = ldg_checkpoint_witnessed(full, len + w->cosig_len, logpub, keys, 1, 1,
                                                (uint64_t)time(NULL), &chk, &valid, &err);
        free(full);
        if (s == LDG_OK)
            return w->state = WS_OK;
        bad = true;
        snprintf(w->why, sizeof w->why, "%s", ldg_cosig_state_text(chk.state));
    }
    free(w->cosig);
    w->cosig = NULL;
    w->cosig_len = 0;
    if (bad)
        return fail_w(w, WS_OPER,
                      "answered 200 with a cosignature that does not count (%s): "
                      "nothing of it is stored",
                      w->why[0] ? w->why : "does not verify over this checkpoint");
    return fail_w(w, WS_OPER, "answered 200 without a cosignature line by %s", em_t(w->name));
}

static bool
parse_size(const char *p, size_t n, uint64_t *v)
{
    char tmp[24];
    if (n && p[n - 1] == '\n')
        n--;
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    return parse_u64(tmp, v);
}

/* Asks one witness, resending once from its size after a 409 [WIT-8]. */
static void
ask(witness *w, ldg_ledger *l, const ldg_checkpoint *cp, const char *note, size_t len,
    const uint8_t *logpub, long timeout)
{
    ldg_err err;
    uint64_t old = 0;
    if (ldg_checkpoint_witness_size(l, w->name, w->pub, cp->size, &old, &err) != LDG_OK) {
        fail_w(w, WS_OPER, "%s", err.msg);
        return;
    }
    static answer a;
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t rlen;
        char *req = request(l, old, cp->size, note, len, &rlen, &err);
        if (!req) {
            fail_w(w, WS_OPER, "consistency proof from %llu: %s", (unsigned long long)old, err.msg);
            return;
        }
        memset(&a, 0, sizeof a);
        int rc = w->is_cmd ? cmd_exchange(w, req, rlen, timeout, &a)
                           : http_exchange(w, req, rlen, timeout, &a);
        free(req);
        if (rc != WS_PENDING)
            return;
        const char *why = first_line(a.body, a.body_len);
        uint64_t held;
        if (a.status == 200) {
            take_cosignatures(w, note, len, logpub, &a);
            return;
        }
        if (a.status == 409 && strncmp(a.ctype, "text/x.tlog.size", 16) == 0) {
            if (!parse_size(a.body, a.body_len, &held)) {
                fail_w(w, WS_OPER, "409 with a size that is not a number: %s", why);
                return;
            }
            if (held > cp->size) {
                fail_w(w, WS_INTEGRITY,
                       "409: it cosigned size %llu of this log, larger than this checkpoint's "
                       "%llu: the ledger was rolled back, or the witness saw another history",
                       (unsigned long long)held, (unsigned long long)cp->size);
                return;
            }
            if (attempt == 1) {
                fail_w(w, WS_OPER, "409 again after resending from its size %llu (now %llu)",
                       (unsigned long long)old, (unsigned long long)held);
                return;
            }
            old = held; /* C2SP: resend with a proof from the witness's size */
            continue;
        }
        if (a.status == 409) {
            fail_w(w, WS_INTEGRITY,
                   "409 fork: it cosigned another tree head of size %llu of this log: %s",
                   (unsigned long long)cp->size, why);
            return;
        }
        if (a.status == 422) {
            fail_w(w, WS_INTEGRITY,
                   "422: the consistency proof from size %llu does not match the head it "
                   "cosigned there (another history): %s",
                   (unsigned long long)old, why);
            return;
        }
        fail_w(w, WS_OPER, "%ld: %s", a.status, why);
        return;
    }
}

/* ------------------------------------------------------------- command -- */

/* Whether any witness is asked over HTTP (libcurl), not through exec: */
static bool
uses_http(const collect_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++)
        if (!plan->w[i].is_cmd)
            return true;
    return false;
}

int
collect_parse(const char *const *args, size_t n, const char *quorum_text, const char *timeout_text,
              const uint8_t *logpub, collect_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->timeout = 30;
    if (quorum_text && !n)
        return tool_usage("--quorum counts the cosignatures of the --witness keys: give them");
    if (timeout_text &&
        (!parse_u64(timeout_text, &plan->timeout) || plan->timeout == 0 || plan->timeout > 3600))
        return tool_usage("--timeout %s: expected seconds from 1 to 3600", em_t(timeout_text));
    if (timeout_text && !n)
        return tool_usage("--timeout bounds each witness's answer: give --witness");
    uint64_t q = n;
    if (quorum_text && (!parse_u64(quorum_text, &q) || q == 0 || q > n))
        return tool_usage("--quorum %s: expected a number from 1 to the %zu witness%s given",
                          em_t(quorum_text), n, n == 1 ? "" : "es");
    plan->quorum = (size_t)q;
    plan->w = calloc(n ? n : 1, sizeof *plan->w);
    if (!plan->w)
        return tool_error(EXIT_OPER, "out of memory");
    plan->n = n;
    for (size_t i = 0; i < n; i++) {
        witness *w = &plan->w[i];
        const char *eq = strchr(args[i], '=');
        w->arg = args[i];
        if (!eq || eq == args[i] || (size_t)(eq - args[i]) >= sizeof w->keyfile)
            return tool_usage("--witness %s: expected W.pub=URL or W.pub=exec:COMMAND",
                              em_t(args[i]));
        memcpy(w->keyfile, args[i], (size_t)(eq - args[i]));
        w->keyfile[eq - args[i]] = '\0';
        w->target = eq + 1;
        w->is_cmd = strncmp(w->target, "exec:", 5) == 0;
        if (w->is_cmd) {
            char *copy = strdup(w->target + 5), *argv[ARGS_MAX + 1];
            size_t words = copy ? split_words(copy, argv) : 0;
            free(copy);
            if (words == 0)
                return tool_usage("--witness %s: exec: with no command", em_t(args[i]));
        } else if (strncmp(w->target, "http://", 7) != 0 && strncmp(w->target, "https://", 8) != 0)
            return tool_usage("--witness %s: the witness is an http:// or https:// URL, or "
                              "exec:COMMAND",
                              em_t(args[i]));
        size_t len;
        ldg_err err;
        int rc = tool_read_file(w->keyfile, LDG_VKEY_MAX, &w->line, &len);
        if (rc != EXIT_OK)
            return rc;
        w->line[strcspn(w->line, "\n")] = '\0';
        if (ldg_witness_vkey_parse(w->line, strlen(w->line), w->name, w->pub, &err) != LDG_OK)
            return tool_usage("--witness %s: %s", em_t(w->keyfile), err.msg);
        if (memcmp(w->pub, logpub, LDG_PUB_BYTES) == 0)
            return tool_usage("--witness %s: the log key is never its own witness",
                              em_t(w->keyfile));
        for (size_t j = 0; j < i; j++)
            if (memcmp(plan->w[j].pub, w->pub, LDG_PUB_BYTES) == 0)
                return tool_usage("--witness %s: the key of an earlier --witness (each witness "
                                  "once)",
                                  em_t(w->keyfile));
    }
    char why[320];
    if (uses_http(plan) && netlib_curl_load(why, sizeof why) != 0)
        return tool_error(EXIT_OPER, "--witness URL needs libcurl: %s", why);
    return EXIT_OK;
}

void
collect_free(collect_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->w[i].line);
        free(plan->w[i].cosig);
    }
    free(plan->w);
    plan->w = NULL;
    plan->n = 0;
}

int
collect_run(ldg_ledger *l, const uint8_t *logpub, const char *note, size_t len, collect_plan *plan,
            char **stored, size_t *stored_len)
{
    ldg_checkpoint cp;
    ldg_err err;
    *stored = NULL;
    if (ldg_checkpoint_parse(note, len, NULL, logpub, &cp, &err) != LDG_OK)
        return tool_fail(&err);
    bool http = uses_http(plan); /* libcurl was loaded by collect_parse */
    if (http && net_curl.global_init(CURL_GLOBAL_DEFAULT) != 0)
        return tool_error(EXIT_OPER, "libcurl could not start");
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    size_t ok = 0, total = 0;
    bool integrity = false;
    for (size_t i = 0; i < plan->n; i++) {
        witness *w = &plan->w[i];
        ldg_witness_check chk;
        size_t valid;
        const char *keys[1] = {w->line};
        /* already cosigned this very checkpoint (stored with it): asked again, it would
           only add a line with a newer time */
        if (ldg_checkpoint_witnessed(note, len, logpub, keys, 1, 1, (uint64_t)time(NULL), &chk,
                                     &valid, &err) == LDG_OK)
            w->state = WS_OK;
        else
            ask(w, l, &cp, note, len, logpub, (long)plan->timeout);
        total += w->cosig_len;
    }
    signal(SIGPIPE, old_pipe);
    if (http)
        net_curl.global_cleanup();
    /* Store every cosignature that verified, in one step [CKP-8]. */
    char *merged = malloc(len + total + 1);
    if (!merged)
        return tool_error(EXIT_OPER, "out of memory");
    memcpy(merged, note, len);
    size_t ml = len, added = 0;
    for (size_t i = 0; i < plan->n; i++) {
        if (!plan->w[i].cosig_len)
            continue; /* nothing from that witness (memcpy's source may then be NULL) */
        memcpy(merged + ml, plan->w[i].cosig, plan->w[i].cosig_len);
        ml += plan->w[i].cosig_len;
    }
    int rc = EXIT_OK;
    if (ml > len && ldg_checkpoint_add(l, merged, ml, &added, &err) != LDG_OK)
        rc = tool_error(err.status == LDG_E_CORRUPT ? EXIT_INTEGRITY
                        : err.status == LDG_E_INPUT ? EXIT_OPER
                                                    : tool_exit_code(err.status),
                        "storing the cosignatures: %s", err.msg);
    free(merged);
    if (rc != EXIT_OK)
        return rc;
    if (ldg_checkpoint_stored(l, cp.size, stored, stored_len, &err) != LDG_OK)
        return tool_fail(&err);
    for (size_t i = 0; i < plan->n; i++) {
        witness *w = &plan->w[i];
        if (w->state == WS_OK) {
            ok++;
            continue;
        }
        integrity |= w->state == WS_INTEGRITY;
        tool_error(0, "witness %s (%s): %s%s", em_t(w->name), em_t(w->target),
                   w->state == WS_INTEGRITY ? "INTEGRITY: " : "refused: ", w->why);
    }
    bool met = ok >= plan->quorum;
    tool_error(0, "%zu of %zu witness%s cosigned size %llu (quorum %zu)%s", ok, plan->n,
               plan->n == 1 ? "" : "es", (unsigned long long)cp.size, plan->quorum,
               met ? "" : ": quorum not met; the checkpoint signed by the log key is stored");
    return integrity ? EXIT_INTEGRITY : met ? EXIT_OK : EXIT_OPER;
}
