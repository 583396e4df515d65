/*
 * cmd_witness.c - `ldg witness init|add-log|list|evidence|add-checkpoint|serve`:
 * a C2SP tlog-witness (spec/witness.md [WIT-1..6]) over its own state
 * directory.  add-checkpoint answers one request offline (stdin to stdout,
 * framed as [WIT-6] says) for a witness key kept on an air-gapped machine;
 * serve answers POST /add-checkpoint over HTTP (libmicrohttpd).
 */
#define _DEFAULT_SOURCE /* realpath */
#include "tool.h"

#include "netlib.h"

#include "emit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char witness_help[] =
    "usage: ldg witness SUBCOMMAND --state DIR [options]   (C2SP tlog-witness, spec/witness.md)\n"
    "  init --state DIR --key W.key [--passphrase-file F]\n"
    "        creates the witness state in DIR for the witness key W.key (its path is kept)\n"
    "  add-log --state DIR --key LOG.pub [--origin ORIGIN]\n"
    "        trusts LOG.pub for checkpoints of ORIGIN (default: the key's name); repeat to\n"
    "        trust a second key for the same origin\n"
    "  list --state DIR           the witness key, each log: keys, latest size and root cosigned\n"
    "  evidence --state DIR       every refused, validly signed checkpoint kept as evidence\n"
    "  add-checkpoint --state DIR [--key W.key] [--passphrase-file F]\n"
    "        one add-checkpoint request on stdin; the response on stdout: a status line\n"
    "        \"CODE REASON\", a Content-Type line, an empty line, the body [WIT-6]\n"
    "  serve --state DIR --listen ADDR:PORT [--key W.key] [--passphrase-file F] [--threads N]\n"
    "        HTTP: POST /add-checkpoint; stops cleanly on SIGTERM or SIGINT\n"
    "The witness key file defaults to the one given at init.  add-checkpoint exits 0 on 200,\n"
    "1 on a fork (another root at a size the witness cosigned: kept as evidence), 2 on 400,\n"
    "413 or 422, 3 on 403, 404 or 409 (stale old size), 4 when it could not answer (500).\n"
    "Rollbacks and bad proofs of validly signed checkpoints are kept as evidence too.\n"
    "$LDG_TEST_WITNESS_TIME (tests only) sets the cosignature time, POSIX seconds.\n";

static const char *
reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    default: return "Internal Server Error";
    }
}

/* The cosignature time: now, or $LDG_TEST_WITNESS_TIME for reproducible tests. */
static uint64_t
cosign_time(void)
{
    const char *t = getenv("LDG_TEST_WITNESS_TIME");
    uint64_t v;
    if (t && parse_u64(t, &v))
        return v;
    return (uint64_t)time(NULL);
}

static int
open_state(const char *dir, ldg_witness **w)
{
    ldg_err err;
    if (!dir)
        return tool_usage("--state DIR is required");
    return ldg_witness_open(dir, w, &err) == LDG_OK ? EXIT_OK : tool_fail(&err);
}

/* The witness key: --key or the path kept at init; it must be the state's. */
static int
load_witness_key(ldg_witness *w, const char *path, const char *passfile, ldg_key **k)
{
    int rc = tool_load_key(path ? path : ldg_witness_key_path(w), passfile, k);
    if (rc != EXIT_OK)
        return rc;
    uint8_t a[LDG_PUB_BYTES], b[LDG_PUB_BYTES];
    ldg_key_public(*k, a);
    ldg_witness_key_public(w, b);
    if (strcmp(ldg_key_name(*k), ldg_witness_key_name(w)) != 0 || memcmp(a, b, sizeof a) != 0) {
        ldg_key_free(*k);
        *k = NULL;
        return tool_error(EXIT_POLICY, "%s: not this witness's key (%s)",
                          path ? path : ldg_witness_key_path(w), em_t(ldg_witness_key_name(w)));
    }
    return EXIT_OK;
}

static int
witness_init(const char *state, const char *keypath, const char *passfile)
{
    if (!state || !keypath)
        return tool_usage("--state and --key are required");
    char real[PATH_MAX];
    if (!realpath(keypath, real))
        return tool_usage("%s: %s", keypath, strerror(errno));
    ldg_key *k;
    int rc = tool_load_key(real, passfile, &k);
    if (rc != EXIT_OK)
        return rc;
    ldg_err err;
    uint8_t pub[LDG_PUB_BYTES];
    char line[LDG_VKEY_MAX];
    ldg_key_public(k, pub);
    if (ldg_witness_create(state, ldg_key_name(k), pub, real, &err) != LDG_OK)
        rc = tool_fail(&err);
    else if (ldg_vkey_format(ldg_key_name(k), pub, line, &err) == LDG_OK)
        printf("%s\n", em_t(line));
    ldg_key_free(k);
    return rc;
}

static int
witness_add_log(const char *state, const char *pubpath, const char *origin)
{
    if (!pubpath)
        return tool_usage("--key LOG.pub is required");
    ldg_err err;
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    if (ldg_vkey_read(pubpath, name, pub, &err) != LDG_OK)
        return tool_fail(&err);
    ldg_witness *w;
    int rc = open_state(state, &w);
    if (rc != EXIT_OK)
        return rc;
    if (ldg_witness_add_log(w, origin ? origin : name, name, pub, &err) != LDG_OK)
        rc = tool_fail(&err);
    ldg_witness_close(w);
    return rc;
}

typedef struct count_ctx {
    const char *origin;
    unsigned n;
} count_ctx;

static int
count_ev(void *ctx, const ldg_witness_evidence *e)
{
    count_ctx *c = ctx;
    c->n += strcmp(e->origin, c->origin) == 0;
    return 0;
}

static int
list_log(void *ctx, const ldg_witness_log *lg)
{
    ldg_witness *w = ctx;
    char root[64];
    tool_b64(lg->root, LDG_HASH_BYTES, root, sizeof root);
    printf("log %s\n", em_t(lg->origin));
    for (size_t i = 0; i < lg->nkeys; i++)
        printf("  key %s\n", em_t(lg->keys[i]));
    if (lg->note)
        printf("  cosigned size %llu root %s\n", (unsigned long long)lg->size, root);
    else
        printf("  cosigned nothing yet\n");
    count_ctx c = {lg->origin, 0};
    ldg_err err;
    if (ldg_witness_evidence_each(w, count_ev, &c, &err) == LDG_OK && c.n)
        printf("  evidence %u (ldg witness evidence prints it)\n", c.n);
    return 0;
}

static int
witness_list(const char *state)
{
    ldg_witness *w;
    int rc = open_state(state, &w);
    if (rc != EXIT_OK)
        return rc;
    ldg_err err;
    char line[LDG_VKEY_MAX];
    uint8_t pub[LDG_PUB_BYTES];
    ldg_witness_key_public(w, pub);
    if (ldg_vkey_format(ldg_witness_key_name(w), pub, line, &err) == LDG_OK)
        printf("witness %s\n  key file %s\n", em_t(line), em_t(ldg_witness_key_path(w)));
    if (ldg_witness_logs_each(w, list_log, w, &err) != LDG_OK)
        rc = tool_fail(&err);
    ldg_witness_close(w);
    return rc;
}

static int
print_ev(void *ctx, const ldg_witness_evidence *e)
{
    unsigned *n = ctx;
    /* The record verbatim, framed so a reader can cut it out [WIT-5]. */
    *n += 1;
    printf("%sevidence %u: origin %s\n", *n > 1 ? "\n" : "", *n, em_t(e->origin));
    fwrite(e->record, 1, e->record_len, stdout);
    if (e->record_len && e->record[e->record_len - 1] != '\n')
        putchar('\n');
    return 0;
}

static int
witness_evidence(const char *state)
{
    ldg_witness *w;
    int rc = open_state(state, &w);
    if (rc != EXIT_OK)
        return rc;
    ldg_err err;
    unsigned n = 0;
    if (ldg_witness_evidence_each(w, print_ev, &n, &err) != LDG_OK)
        rc = tool_fail(&err);
    ldg_witness_close(w);
    return rc;
}

/* [WIT-6] The exit code of an offline answer. */
static int
exit_of(const ldg_witness_response *r)
{
    if (r->status == 200)
        return EXIT_OK;
    /* Two heads of one size signed by the log key: that alone proves a fork. */
    if (r->evidence == LDG_WITNESS_EV_FORK)
        return EXIT_INTEGRITY;
    if (r->status == 400 || r->status == 413 || r->status == 422)
        return EXIT_USAGE;
    return EXIT_POLICY;
}

static void
frame(FILE *out, int status, const char *ctype, const char *body, size_t len)
{
    fprintf(out, "%d %s\nContent-Type: %s\n\n", status, reason_of(status), ctype);
    fwrite(body, 1, len, out);
}

static int
witness_add_checkpoint(const char *state, const char *keypath, const char *passfile)
{
    ldg_witness *w;
    int rc = open_state(state, &w);
    if (rc != EXIT_OK)
        return rc;
    ldg_key *k = NULL;
    if ((rc = load_witness_key(w, keypath, passfile, &k)) != EXIT_OK) {
        ldg_witness_close(w);
        return rc;
    }
    /* Read at most one byte past the limit: a larger request is refused unread. */
    char *req = malloc(LDG_WITNESS_REQUEST_MAX + 1);
    size_t n = 0;
    ldg_witness_response r;
    ldg_err err;
    ldg_status s = LDG_OK;
    if (!req) {
        s = LDG_E_NOMEM;
        snprintf(err.msg, sizeof err.msg, "out of memory");
    } else {
        size_t got;
        while (n < LDG_WITNESS_REQUEST_MAX + 1 &&
               (got = fread(req + n, 1, LDG_WITNESS_REQUEST_MAX + 1 - n, stdin)) > 0)
            n += got;
        if (ferror(stdin)) {
            s = LDG_E_IO;
            snprintf(err.msg, sizeof err.msg, "stdin: read error");
        } else {
            s = ldg_witness_add_checkpoint(w, k, req, n, cosign_time(), &r, &err);
        }
    }
    if (s != LDG_OK) {
        frame(stdout, 500, "text/plain; charset=utf-8", "could not answer\n", 17);
        rc = tool_error(EXIT_OPER, "%s", err.msg);
    } else {
        frame(stdout, r.status, r.content_type, r.body, r.body_len);
        rc = exit_of(&r);
        if (r.status != 200)
            tool_error(rc, "%d %s: %.*s%s", r.status, reason_of(r.status),
                       (int)(r.body_len ? r.body_len - 1 : 0), r.body,
                       r.evidence ? " (kept as evidence)" : "");
    }
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        rc = tool_error(EXIT_OPER, "stdout: %s", strerror(errno));
    free(req);
    ldg_key_free(k);
    ldg_witness_close(w);
    return rc;
}

/* ---------------------------------------------------------------- serve -- */

typedef struct server {
    ldg_witness *w;
    ldg_key *k;
} server;

typedef struct upload {
    char *buf;
    size_t len;
    bool too_big;
} upload;

static enum MHD_Result
send_text(struct MHD_Connection *c, int status, const char *ctype, const char *body, size_t len)
{
    struct MHD_Response *resp =
        net_mhd.create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    net_mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (status == 405)
        net_mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "POST");
    enum MHD_Result ret = net_mhd.queue_response(c, (unsigned)status, resp);
    net_mhd.destroy_response(resp);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)version;
    server *sv = cls;
    upload *u = *con_cls;
    static const char text[] = "text/plain; charset=utf-8";
    if (!u) {
        if (strcmp(url, "/add-checkpoint") != 0)
            return send_text(c, 404, text, "not found\n", 10);
        if (strcmp(method, "POST") != 0)
            return send_text(c, 405, text, "POST only\n", 10);
        /* [WIT-6] a declared length over the limit is refused before any of it is read */
        const char *cl = net_mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t declared;
        if (cl && parse_u64(cl, &declared) && declared > LDG_WITNESS_REQUEST_MAX)
            return send_text(c, 413, text, "request too large\n", 18);
        if (!(u = calloc(1, sizeof *u)) || !(u->buf = malloc(LDG_WITNESS_REQUEST_MAX))) {
            free(u);
            return MHD_NO;
        }
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        /* A chunked body past the limit: answered now, the rest is not read (MHD closes). */
        if (u->len + *data_size > LDG_WITNESS_REQUEST_MAX) {
            *data_size = 0;
            return u->too_big
                       ? MHD_YES
                       : (u->too_big = true, send_text(c, 413, text, "request too large\n", 18));
        }
        memcpy(u->buf + u->len, data, *data_size);
        u->len += *data_size;
        *data_size = 0;
        return MHD_YES;
    }
    if (u->too_big)
        return MHD_YES;
    ldg_witness_response r;
    ldg_err err;
    if (ldg_witness_add_checkpoint(sv->w, sv->k, u->buf, u->len, cosign_time(), &r, &err) !=
        LDG_OK) {
        fprintf(stderr, "ldg witness serve: %s\n", err.msg);
        return send_text(c, 500, text, "could not answer\n", 17);
    }
    return send_text(c, r.status, r.content_type, r.body, r.body_len);
}

static void
on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    upload *u = *con_cls;
    if (u) {
        free(u->buf);
        free(u);
        *con_cls = NULL;
    }
}

static int
parse_listen(const char *s, struct sockaddr_in *sa)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    char host[64];
    uint64_t port;
    if (!colon || (size_t)(colon - s) >= sizeof host || !parse_u64(colon + 1, &port) ||
        port > 65535)
        return tool_usage("--listen ADDR:PORT, e.g. 127.0.0.1:8080 (port 0: any free port)");
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return tool_usage("--listen %s: not an IPv4 address and port", s);
    return EXIT_OK;
}

static int
witness_serve(const char *state, const char *listen, const char *keypath, const char *passfile,
              const char *threads)
{
    struct sockaddr_in sa;
    unsigned nthreads = 4;
    int rc = parse_listen(listen, &sa);
    if (rc != EXIT_OK)
        return rc;
    if (threads && opt_jobs(threads, &nthreads) != EXIT_OK)
        return EXIT_USAGE;
    char why[320];
    if (netlib_mhd_load(why, sizeof why) != 0)
        return tool_error(EXIT_OPER, "serve needs libmicrohttpd: %s", why);
    server sv = {0};
    if ((rc = open_state(state, &sv.w)) != EXIT_OK)
        return rc;
    if ((rc = load_witness_key(sv.w, keypath, passfile, &sv.k)) != EXIT_OK) {
        ldg_witness_close(sv.w);
        return rc;
    }
    /* Every thread MHD starts inherits this mask: the signals reach sigwait below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct MHD_Daemon *d = net_mhd.start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, &sv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, nthreads,
        MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_LIMIT, 256u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_NOTIFY_COMPLETED, on_done,
        NULL, MHD_OPTION_END);
    if (!d) {
        rc = tool_error(EXIT_OPER, "cannot listen on %s: %s", listen, strerror(errno));
    } else {
        const union MHD_DaemonInfo *di = net_mhd.get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
        fprintf(stderr, "ldg witness serve: listening on %s:%u\n", host,
                di ? (unsigned)di->port : (unsigned)ntohs(sa.sin_port));
        int sig = 0;
        sigwait(&set, &sig);
        /* Stops accepting, lets the requests in progress finish (each is one transaction). */
        net_mhd.stop_daemon(d);
        fprintf(stderr, "ldg witness serve: stopped (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    ldg_key_free(sv.k);
    ldg_witness_close(sv.w);
    return rc;
}

int
cmd_witness(int argc, char **argv)
{
    if (argc < 2 || opt_flag(argv, 1, "--help") || opt_flag(argv, 1, "-h")) {
        fputs(witness_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    const char *state = NULL, *key = NULL, *passfile = NULL, *origin = NULL, *listen = NULL,
               *threads = NULL;
    const opt_spec specs[] = {OPT_VAL("--state", &state),
                              OPT_VAL("--key", &key),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_VAL("--origin", &origin),
                              OPT_VAL("--listen", &listen),
                              OPT_VAL("--threads", &threads),
                              OPT_END};
    static const char *const subs[] = {"init",     "add-log",        "list",
                                       "evidence", "add-checkpoint", "serve"};
    bool known = false;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        known |= strcmp(sub, subs[i]) == 0;
    if (!known)
        return tool_usage("unknown subcommand \"%s\" (ldg witness --help)", em_t(sub));
    int rc = opt_parse(argc, argv, 2, specs, witness_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    bool is_init = strcmp(sub, "init") == 0, is_log = strcmp(sub, "add-log") == 0,
         is_serve = strcmp(sub, "serve") == 0;
    if (!state)
        return tool_usage("--state DIR is required");
    if ((origin && !is_log) || ((listen || threads) && !is_serve) ||
        (passfile && (is_log || !strcmp(sub, "list") || !strcmp(sub, "evidence"))) ||
        (key && (!strcmp(sub, "list") || !strcmp(sub, "evidence"))))
        return tool_usage("an option that witness %s does not take (ldg witness --help)", sub);
    if (is_init)
        return witness_init(state, key, passfile);
    if (is_log)
        return witness_add_log(state, key, origin);
    if (!strcmp(sub, "list"))
        return witness_list(state);
    if (!strcmp(sub, "evidence"))
        return witness_evidence(state);
    if (is_serve)
        return witness_serve(state, listen, key, passfile, threads);
    return witness_add_checkpoint(state, key, passfile);
}
