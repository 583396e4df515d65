/*
 * cmd_mirror.c - `ldg mirror`: the sponsor's own verified copy of a log
 * published with `ldg publish` (spec/mirror.md).  The library checks and
 * stores; this is the fetcher (a directory, or HTTP(S) through libcurl with
 * timeouts and a size cap on every response), the evidence files and the
 * one-line report.
 */
#define _GNU_SOURCE
#include "tool.h"

#include "netlib.h"
#include "emit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char mirror_help[] =
    "usage: ldg mirror --from URL|DIR --trust LOG.pub --state DIR [--witness W.pub]...\n"
    "                  [--quorum N] [--bodies] [--recheck] [--timeout SECONDS] [--jobs N]\n"
    "Keeps the sponsor's own verified copy of a log that `ldg publish` serves as C2SP\n"
    "tlog-tiles (spec/mirror.md).  Each run fetches only what is new since the checkpoint\n"
    "the mirror holds: the checkpoint (signed by LOG.pub, and with --witness by N of the\n"
    "witnesses), the entry bundles and hash tiles covering the new entries.  Every new entry\n"
    "is checked in full (signature, chain, host time, policy, key records replayed) in the\n"
    "mirror's own ldg ledger, STATE/ledger; every tile fetched must hold exactly the hashes\n"
    "of the entries, and the tree must give the signed root, consistent with the one held.\n"
    "Only then is anything committed.  `ldg review`, `ldg export` and `ldg verify` run on\n"
    "STATE/ledger (--ledger STATE/ledger; verify passes in full on a copy with --bodies: one\n"
    "without bodies reports them missing); its checkpoints are the history the mirror held.\n"
    "--from URL|DIR     the published root: http(s)://host/path or a directory\n"
    "--trust LOG.pub    the log key, obtained out of band (e.g. with the genesis)\n"
    "--state DIR        the mirror's state: DIR/ledger, DIR/evidence (created)\n"
    "--witness W.pub    a witness key (repeatable); --quorum N of them must cosign (default:\n"
    "                   all of them; a key given twice counts once, the log key never)\n"
    "--bodies           also fetch body/<N> (a private mirror of `publish --with-bodies`);\n"
    "                   each body must match its commitment, a missing one is a failure\n"
    "--recheck          also fetch again every full tile and entry bundle held and compare it\n"
    "                   with what the mirror verified (a full tile is immutable: a difference\n"
    "                   is a rewrite, exit 1); costs a fetch of the whole log, no signatures\n"
    "--timeout SECONDS  give up on a server that does not connect or sends less than one\n"
    "                   byte a second for this long (default 30); each response is capped\n"
    "                   (a tile 8,192 bytes, an entry bundle 256 x 65,537, a checkpoint 64 KiB)\n"
    "Exit status: 0 updated or up to date, 1 integrity failure (a fork, a rollback, a\n"
    "rewritten tile, an entry or tile that does not verify: both signed notes are kept in\n"
    "STATE/evidence/ and named on stderr; nothing is committed), 2 bad usage, 4 network or\n"
    "I/O trouble or a file not served (nothing committed).\n";

#define NOTE_CAP 65536u

typedef struct fetcher {
    const char *base; /* without a trailing slash */
    bool url;
    CURL *curl;
    long timeout;
    char errbuf[CURL_ERROR_SIZE];
} fetcher;

typedef struct sink {
    uint8_t *p;
    size_t n, cap, max;
    bool over;
} sink;

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink *k = ud;
    size_t n = size * nmemb;
    if (n > k->max - k->n) {
        k->over = true;
        return 0; /* stops the transfer: endless data is refused at the cap */
    }
    if (k->n + n > k->cap) {
        size_t c = k->cap ? k->cap : 8192;
        while (c < k->n + n)
            c *= 2;
        if (c > k->max)
            c = k->max;
        uint8_t *q = realloc(k->p, c ? c : 1);
        if (!q)
            return 0;
        k->p = q;
        k->cap = c;
    }
    memcpy(k->p + k->n, ptr, n);
    k->n += n;
    return n;
}

static ldg_status __attribute__((format(printf, 3, 0)))
fail(ldg_err *err, ldg_status s, const char *fmt, const char *path, const char *why)
{
    if (err) {
        memset(err, 0, sizeof *err);
        err->status = s;
        err->index = -1;
        if (snprintf(err->msg, sizeof err->msg, fmt, path, why) < 0) /* cut when long */
            err->msg[0] = '\0';
    }
    return s;
}

static ldg_status
fetch_url(fetcher *f, const char *path, size_t max, uint8_t **out, size_t *len, ldg_err *err)
{
    char url[8400];
    snprintf(url, sizeof url, "%s/%s", f->base, path);
    sink k = {.max = max};
    net_curl.easy_setopt(f->curl, CURLOPT_URL, url);
    net_curl.easy_setopt(f->curl, CURLOPT_WRITEDATA, &k);
    net_curl.easy_setopt(f->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    f->errbuf[0] = '\0';
    CURLcode c = net_curl.easy_perform(f->curl);
    long code = 0;
    net_curl.easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &code);
    if (k.over || c == CURLE_FILESIZE_EXCEEDED) {
        free(k.p);
        char m[64];
        snprintf(m, sizeof m, "%zu", max);
        return fail(err, LDG_E_IO, "%s: response larger than %s bytes: refused", url, m);
    }
    if (c != CURLE_OK) {
        free(k.p);
        return fail(err, LDG_E_IO, "%s: %s", url,
                    f->errbuf[0] ? f->errbuf : net_curl.easy_strerror(c));
    }
    if (code == 404 || code == 410) {
        free(k.p);
        return fail(err, LDG_E_NOTFOUND, "%s: %s", url, "not found");
    }
    if (code != 200) {
        free(k.p);
        char m[64];
        snprintf(m, sizeof m, "HTTP status %ld", code);
        return fail(err, LDG_E_IO, "%s: %s", url, m);
    }
    *out = k.p ? k.p : malloc(1);
    *len = k.n;
    return *out ? LDG_OK : fail(err, LDG_E_NOMEM, "%s: %s", url, "out of memory");
}

static ldg_status
fetch_dir(fetcher *f, const char *path, size_t max, uint8_t **out, size_t *len, ldg_err *err)
{
    char full[8400];
    snprintf(full, sizeof full, "%s/%s", f->base, path);
    int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fail(err, errno == ENOENT || errno == ENOTDIR ? LDG_E_NOTFOUND : LDG_E_IO, "%s: %s",
                    full, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, LDG_E_IO, "%s: %s", full, "not a regular file");
    }
    uint8_t *p = malloc(max + 1);
    size_t n = 0;
    ssize_t r = 0;
    while (p && n <= max && (r = read(fd, p + n, max + 1 - n)) > 0)
        n += (size_t)r;
    int e = errno;
    close(fd);
    if (!p)
        return fail(err, LDG_E_NOMEM, "%s: %s", full, "out of memory");
    if (r < 0) {
        free(p);
        return fail(err, LDG_E_IO, "%s: %s", full, strerror(e));
    }
    if (n > max) {
        free(p);
        char m[64];
        snprintf(m, sizeof m, "%zu", max);
        return fail(err, LDG_E_IO, "%s: larger than %s bytes: refused", full, m);
    }
    *out = p;
    *len = n;
    return LDG_OK;
}

static ldg_status
fetch(void *ctx, const char *path, size_t max, uint8_t **out, size_t *len, ldg_err *err)
{
    fetcher *f = ctx;
    return f->url ? fetch_url(f, path, max, out, len, err) : fetch_dir(f, path, max, out, len, err);
}

static void
on_finding(void *ctx, ldg_finding_level level, uint64_t seq, const char *check, const char *detail)
{
    (void)ctx;
    if (level != LDG_FINDING_FAIL)
        return;
    if (seq == UINT64_MAX)
        fprintf(stderr, "FAIL %s: %s\n", check, em_t(detail));
    else
        fprintf(stderr, "FAIL seq %llu %s: %s\n", (unsigned long long)seq, check, em_t(detail));
}

static int
write_all(const char *path, const char *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    size_t at = 0;
    while (at < n) {
        ssize_t w = write(fd, p + at, n - at);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        at += (size_t)w;
    }
    int rc = fsync(fd);
    return close(fd) == 0 && rc == 0 ? 0 : -1;
}

static const char *
outcome_name(ldg_mirror_outcome o)
{
    switch (o) {
    case LDG_MIRROR_BAD_CHECKPOINT: return "bad-checkpoint";
    case LDG_MIRROR_FORK: return "fork";
    case LDG_MIRROR_ROLLBACK: return "rollback";
    case LDG_MIRROR_REWRITTEN: return "rewritten";
    case LDG_MIRROR_BAD_TILES: return "bad-tiles";
    case LDG_MIRROR_BAD_ENTRIES: return "bad-entries";
    default: return "ok";
    }
}

/* [MIR-7] Both signed notes and the reason, in STATE/evidence/<UTC>-<outcome>-<pid>/. */
static void
keep_evidence(const char *state, const ldg_mirror_summary *sum)
{
    char dir[4400], path[4600], stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(dir, sizeof dir, "%s/evidence", state);
    mkdir(dir, 0750);
    snprintf(dir, sizeof dir, "%s/evidence/%s-%s-%ld", state, stamp, outcome_name(sum->outcome),
             (long)getpid());
    if (mkdir(dir, 0750) != 0) {
        fprintf(stderr, "ldg mirror: %s: cannot keep the evidence: %s\n", dir, strerror(errno));
        return;
    }
    bool ok = true;
    if (sum->held_note) {
        snprintf(path, sizeof path, "%s/held.note", dir);
        ok = write_all(path, sum->held_note, sum->held_len) == 0 && ok;
    }
    if (sum->fetched_note) {
        snprintf(path, sizeof path, "%s/fetched.note", dir);
        ok = write_all(path, sum->fetched_note, sum->fetched_len) == 0 && ok;
    }
    char why[1000];
    int n = snprintf(why, sizeof why, "%s: %s\n", outcome_name(sum->outcome), sum->why);
    snprintf(path, sizeof path, "%s/why.txt", dir);
    ok = write_all(path, why, (size_t)n < sizeof why ? (size_t)n : sizeof why - 1) == 0 && ok;
    fprintf(stderr, "ldg mirror: evidence kept in %s (%s%s%s)%s\n", em_t(dir),
            sum->held_note ? "held.note, " : "", sum->fetched_note ? "fetched.note, " : "",
            "why.txt", ok ? "" : " - some of it could not be written");
}

int
cmd_mirror(int argc, char **argv)
{
    const char *from = NULL, *trust = NULL, *state = NULL, *timeout = NULL, *jobs_s = NULL;
    tool_witnesses w = {0};
    bool bodies = false, recheck = false;
    const opt_spec specs[] = {OPT_VAL("--from", &from),
                              OPT_VAL("--trust", &trust),
                              OPT_VAL("--state", &state),
                              OPT_WITNESSES(&w),
                              OPT_VAL("--timeout", &timeout),
                              OPT_VAL("--jobs", &jobs_s),
                              OPT_FLAG("--bodies", &bodies),
                              OPT_FLAG("--recheck", &recheck),
                              OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, mirror_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!from || !*from || !trust || !state || !*state)
        return tool_usage("--from, --trust and --state are required (ldg mirror --help)");
    uint64_t to = 30;
    /* [CKP-7] the verifiers' witness options, read and checked in one place */
    if ((rc = tool_witnesses_load(&w)) != EXIT_OK) {
        tool_witnesses_free(&w);
        return rc;
    }
    if (timeout && (!parse_u64(timeout, &to) || to == 0 || to > 86400))
        return tool_usage("--timeout: seconds, 1 to 86400");
    unsigned jobs = 0;
    if (jobs_s && (rc = opt_jobs(jobs_s, &jobs)) != EXIT_OK)
        return rc;
    char *tline = NULL;
    size_t tl;
    if ((rc = tool_read_file(trust, 4096, &tline, &tl)) != EXIT_OK)
        return rc;
    fetcher f = {.base = from, .timeout = (long)to};
    char *base = NULL;
    if (rc == EXIT_OK) {
        base = strdup(from);
        size_t bl = base ? strlen(base) : 0;
        while (bl > 1 && base[bl - 1] == '/')
            base[--bl] = '\0';
        f.base = base ? base : from;
        f.url = strncmp(from, "http://", 7) == 0 || strncmp(from, "https://", 8) == 0;
        if (!f.url && strstr(from, "://"))
            rc = tool_usage("--from: only http:// and https:// URLs, or a directory");
    }
    char why[320];
    if (rc == EXIT_OK && f.url && netlib_curl_load(why, sizeof why) != 0)
        rc = tool_error(EXIT_OPER, "--from URL needs libcurl: %s", why);
    else if (rc == EXIT_OK && f.url) {
        if (net_curl.global_init(CURL_GLOBAL_DEFAULT) != 0 || !(f.curl = net_curl.easy_init()))
            rc = tool_error(EXIT_OPER, "cannot start libcurl");
        else {
            net_curl.easy_setopt(f.curl, CURLOPT_WRITEFUNCTION, on_data);
            net_curl.easy_setopt(f.curl, CURLOPT_ERRORBUFFER, f.errbuf);
            net_curl.easy_setopt(f.curl, CURLOPT_CONNECTTIMEOUT, f.timeout);
            net_curl.easy_setopt(f.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
            net_curl.easy_setopt(f.curl, CURLOPT_LOW_SPEED_TIME, f.timeout);
            net_curl.easy_setopt(f.curl, CURLOPT_TIMEOUT, f.timeout * 10);
            net_curl.easy_setopt(f.curl, CURLOPT_NOSIGNAL, 1L);
            net_curl.easy_setopt(f.curl, CURLOPT_FOLLOWLOCATION, 0L);
            net_curl.easy_setopt(f.curl, CURLOPT_PROTOCOLS_STR, "http,https");
            net_curl.easy_setopt(f.curl, CURLOPT_USERAGENT, "ldg-mirror");
        }
    }
    char ldir[4200];
    snprintf(ldir, sizeof ldir, "%s/ledger", state);
    if (rc == EXIT_OK && mkdir(state, 0750) != 0 && errno != EEXIST)
        rc = tool_error(EXIT_OPER, "%s: cannot create: %s", em_t(state), strerror(errno));
    ldg_mirror_summary sum;
    memset(&sum, 0, sizeof sum);
    if (rc == EXIT_OK) {
        ldg_mirror_opts o = {.fetch = fetch,
                             .fetch_ctx = &f,
                             .trust = tline,
                             .witness = (const char *const *)w.lines,
                             .nwitness = w.n,
                             .quorum = w.quorum,
                             .bodies = bodies,
                             .jobs = jobs,
                             .on_finding = on_finding,
                             .recheck = recheck};
        ldg_err err;
        ldg_status s = ldg_mirror(ldir, &o, &sum, &err);
        if (s == LDG_E_NOTFOUND || s == LDG_E_EXISTS) /* not served; another first run won */
            rc = tool_error(EXIT_OPER, "%s", em_t(err.msg));
        else if (s != LDG_OK)
            rc = tool_fail(&err);
        else if (sum.outcome == LDG_MIRROR_UP_TO_DATE)
            printf("up to date at size %llu (%llu file%s fetched, %llu held tiles and bundles "
                   "rechecked)\n",
                   (unsigned long long)sum.size, (unsigned long long)sum.fetches,
                   sum.fetches == 1 ? "" : "s", (unsigned long long)sum.rechecked);
        else if (sum.outcome == LDG_MIRROR_UPDATED)
            printf("mirrored %llu entries (was %llu): %llu files fetched (%llu bytes: %llu entry "
                   "bundles, %llu tiles, %llu bodies; %llu held rechecked), %llu bodies withheld; "
                   "checkpoint %llu held\n",
                   (unsigned long long)sum.size, (unsigned long long)sum.old_size,
                   (unsigned long long)sum.fetches, (unsigned long long)sum.bytes,
                   (unsigned long long)sum.bundles, (unsigned long long)sum.tiles,
                   (unsigned long long)sum.bodies, (unsigned long long)sum.rechecked,
                   (unsigned long long)sum.withheld, (unsigned long long)sum.size);
        else {
            fprintf(stderr, "ldg mirror: INTEGRITY (%s): %s; nothing committed\n",
                    outcome_name(sum.outcome), em_t(sum.why));
            keep_evidence(state, &sum);
            rc = EXIT_INTEGRITY;
        }
    }
    ldg_mirror_summary_clear(&sum);
    if (f.curl) {
        net_curl.easy_cleanup(f.curl);
        net_curl.global_cleanup();
    }
    free(base);
    free(tline);
    tool_witnesses_free(&w);
    return rc;
}
