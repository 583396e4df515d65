/*
 * cmd_append.c - `ldg append` (one record, a JSON Lines batch, or statements
 * signed elsewhere) and `ldg sign` (a statement signed without writing any
 * ledger, for the signer's own machine).  All input is checked before
 * anything is written; a batch is one transaction, all or nothing.
 */
#include "tool.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/*
 * A batch is one transaction, so its memory grows with it (the signed
 * statements are kept for a redo in a bigger map, LMDB keeps the dirty
 * pages): a batch holds at most BATCH_RECORDS_MAX records and
 * BATCH_BYTES_MAX bytes of input, which bounds that memory (SECURITY.md).
 * A regular file over either is refused before a line is read.
 */
#define BATCH_RECORDS_MAX ((size_t)100000)
#define BATCH_BYTES_MAX ((size_t)64 << 20)

static const char append_help[] =
    "usage: ldg append --as KEY --kind KIND --study STUDY [--ref SEQ|HASH]... [--meaning M]\n"
    "                  [--reason TEXT] [--body FILE|-] [--time ISO8601] [--ledger DIR]\n"
    "       ldg append --as KEY --batch FILE|- [--jobs N] [--ledger DIR]\n"
    "       ldg append --signed FILE|- [--ledger DIR]\n"
    "Signs and appends records; prints one line per record: its seq and leaf hash (base64).\n"
    "KIND: communication meeting query response decision approval rejection escalation\n"
    "      deviation action document correction erasure plan.\n"
    "MEANING (21 CFR 11.50, required for approval and rejection): review approval\n"
    "      responsibility authorship.  An approval or rejection needs --ref (what it\n"
    "      judges: user records only, never the genesis or a key record), never a record\n"
    "      of the same key or person.  A correction needs --ref\n"
    "      and --reason; an erasure (role eraser; see ldg erase) one --ref, --reason and\n"
    "      a body with \"legal_basis\", and removes that record's body in the same\n"
    "      transaction.\n"
    "Body fields ldg understands (subject, level, priority, due, to, closes, ...; a plan's\n"
    "      whole body; spec/format.md \"Record kinds\") must have their form: exit 2.\n"
    "Batch lines: {\"kind\":..., \"study\":..., \"refs\":[SEQ or HASH...], \"meaning\":...,\n"
    "      \"reason\":..., \"time\":\"ISO8601\", \"body\":{...}}; the whole batch is one\n"
    "      transaction, signed on all cores.\n"
    "Exit: 0 ok, 2 bad input, 3 refused by policy, 4 operational error; nothing is written\n"
    "unless everything is.\n";

static const char sign_help[] =
    "usage: ldg sign --as KEY --kind KIND --study STUDY [--ref SEQ|HASH]... [--meaning M]\n"
    "                [--reason TEXT] [--body FILE|-] [--time ISO8601]\n"
    "                [--observed-from LEDGER] [--origin ORIGIN | --unbound] [-o FILE]\n"
    "Signs a statement without writing any ledger and prints it as one line (the\n"
    "signed-statement format, spec/format.md [FMT-8]); append it on the ledger host with\n"
    "ldg append --signed FILE.  --ref SEQ needs a readable ledger (--ledger, $LDG_LEDGER\n"
    "or --observed-from); --observed-from binds the statement to that ledger's head.\n"
    "The statement names the ledger it is for (its origin: --origin, or the ledger read), so\n"
    "it cannot be appended to any other ledger.  With no origin known, ldg sign refuses\n"
    "(exit 2) unless --unbound asks for a statement that any ledger where the key is\n"
    "registered accepts [POL-10].\n"
    "A body field ldg understands with the wrong form (spec/format.md [KIND-2]) is\n"
    "refused here (exit 2), as the host would refuse it.\n";

typedef struct opts {
    const char *as, *kind, *study, *meaning, *reason, *body, *time, *dir, *passfile, *batch,
        *signedf, *observed_from, *out, *origin;
    const char *refs[LDG_REFS_MAX + 1];
    size_t nrefs;
    unsigned jobs;
    bool unbound; /* ldg sign: no origin, on purpose [POL-10] */
} opts;

static int
parse_opts(int argc, char **argv, opts *o, const char *help)
{
    const char *jobs = NULL;
    const opt_spec specs[] = {OPT_VAL("--as", &o->as),
                              OPT_VAL("--kind", &o->kind),
                              OPT_VAL("--study", &o->study),
                              OPT_VAL("--meaning", &o->meaning),
                              OPT_VAL("--reason", &o->reason),
                              OPT_VAL("--body", &o->body),
                              OPT_VAL("--time", &o->time),
                              OPT_VAL("--ledger", &o->dir),
                              OPT_VAL("--passphrase-file", &o->passfile),
                              OPT_VAL("--batch", &o->batch),
                              OPT_VAL("--signed", &o->signedf),
                              OPT_VAL("--observed-from", &o->observed_from),
                              OPT_VAL("-o", &o->out),
                              OPT_VAL("--origin", &o->origin),
                              OPT_FLAG("--unbound", &o->unbound),
                              OPT_VAL("--jobs", &jobs),
                              OPT_MANY("--ref", o->refs, &o->nrefs, LDG_REFS_MAX),
                              OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, help, NULL, 0);
    return rc != EXIT_OK ? rc : opt_jobs(jobs, &o->jobs);
}

/* Fills f from single-record options; refs and body are allocated into the out params. */
static int
fields_from_opts(const opts *o, ldg_ledger *l, ldg_fields *f, uint8_t (*refs)[LDG_HASH_BYTES],
                 char **body)
{
    if (!o->kind || !o->study)
        return tool_usage("--kind and --study are required");
    memset(f, 0, sizeof *f);
    f->kind = o->kind;
    f->study = o->study;
    f->meaning = o->meaning;
    f->reason = o->reason;
    for (size_t i = 0; i < o->nrefs; i++) {
        int rc = tool_parse_ref(l, o->refs[i], NULL, refs[i]);
        if (rc != EXIT_OK)
            return rc;
    }
    f->refs = (const uint8_t(*)[LDG_HASH_BYTES])refs;
    f->nrefs = o->nrefs;
    if (o->time) {
        ldg_err err;
        if (ldg_time_parse(o->time, &f->time_ns, &f->tz_min, &err) != LDG_OK)
            return tool_usage("--time: %s", err.msg);
        f->has_time = 1;
    }
    if (o->body) {
        size_t n;
        int rc = tool_read_file(o->body, LDG_BODY_MAX, body, &n);
        if (rc != EXIT_OK)
            return rc;
        f->body = *body;
        f->body_len = n;
    }
    return EXIT_OK;
}

static void
print_appended(const ldg_appended *a, size_t n)
{
    char b64[64];
    for (size_t i = 0; i < n; i++) {
        tool_b64(a[i].leaf_hash, LDG_HASH_BYTES, b64, sizeof b64);
        printf("%llu %s\n", (unsigned long long)a[i].seq, b64);
    }
}

static int
append_fail(const ldg_err *err, const char *src)
{
    if (src && err->index >= 0)
        return tool_error(tool_exit_code(err->status), "%s: %s", src, err->msg);
    return tool_fail(err);
}

/* ------------------------------------------------------- line reader -- */

/*
 * Line input (FILE or "-") read in bounded chunks: never more than one line
 * of at most max bytes plus one chunk is held, so a hostile file (one huge
 * line, or gigabytes of anything) is refused with bounded memory, before
 * jansson sees it (spec/format.md Limits).
 */
#define LR_CHUNK 65536

typedef struct lreader {
    FILE *f;
    const char *src;
    char *buf;
    size_t cap, start, end, scan; /* unread bytes buf[start..end); no LF in buf[start..scan) */
    size_t max;                   /* longest line */
    size_t total, total_max;      /* bytes read, most allowed */
    size_t lineno;                /* of the line last returned */
    bool eof;
    int rc;        /* with lr_next's -1: the exit code */
    char msg[200]; /* and the one-line reason */
} lreader;

static int
lr_open(lreader *r, const char *path, size_t max, size_t total_max)
{
    memset(r, 0, sizeof *r);
    r->src = strcmp(path, "-") == 0 ? "stdin" : path;
    r->f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!r->f)
        return tool_error(errno == ENOENT || errno == EACCES ? EXIT_USAGE : EXIT_OPER, "%s: %s",
                          path, strerror(errno));
    r->max = max;
    r->total_max = total_max;
    struct stat sb;
    bool regular = r->f != stdin && fstat(fileno(r->f), &sb) == 0 && S_ISREG(sb.st_mode);
    if (regular && (uint64_t)sb.st_size > total_max) {
        fclose(r->f);
        r->f = NULL;
        return tool_usage("%s: %llu bytes, more than one batch may hold (%zu bytes, %zu "
                          "records); split it, e.g. split -l 100000",
                          r->src, (unsigned long long)sb.st_size, total_max, BATCH_RECORDS_MAX);
    }
    if (regular) {
        /* records (lines that are not blank) counted before one is read for real */
        size_t records = 0;
        bool blank = true;
        char chunk[LR_CHUNK];
        for (size_t got; (got = fread(chunk, 1, sizeof chunk, r->f)) > 0;)
            for (size_t i = 0; i < got; i++) {
                char c = chunk[i];
                if (c == '\n') {
                    records += !blank;
                    blank = true;
                } else if (c != ' ' && c != '\t' && c != '\r') {
                    blank = false;
                }
            }
        records += !blank;
        if (ferror(r->f) || fseek(r->f, 0, SEEK_SET) != 0) {
            fclose(r->f);
            r->f = NULL;
            return tool_error(EXIT_OPER, "%s: read error", r->src);
        }
        if (records > BATCH_RECORDS_MAX) {
            fclose(r->f);
            r->f = NULL;
            return tool_usage("%s: %zu records, more than one batch may hold (%zu records, %zu "
                              "bytes); split it, e.g. split -l 100000",
                              r->src, records, BATCH_RECORDS_MAX, total_max);
        }
    }
    r->cap = max + 1 + LR_CHUNK;
    if (!(r->buf = malloc(r->cap))) {
        if (r->f != stdin)
            fclose(r->f);
        return tool_error(EXIT_OPER, "%s: out of memory", r->src);
    }
    return EXIT_OK;
}

static void
lr_close(lreader *r)
{
    if (r->f && r->f != stdin)
        fclose(r->f);
    free(r->buf);
    r->f = NULL;
    r->buf = NULL;
}

static int lr_fail(lreader *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
lr_fail(lreader *r, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->rc = rc;
    return -1;
}

/*
 * The next line: 1 with *line (valid until the next call; no LF, not
 * NUL-terminated) and *len, r->lineno its number; 0 at the end; -1 when the
 * input is refused (a line longer than max, more than total_max bytes, a
 * read error), with r->rc and r->msg.
 */
static int
lr_next(lreader *r, const char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->scan, '\n', r->end - r->scan);
        if (nl || (r->eof && r->start < r->end)) {
            size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : r->end - r->start;
            r->lineno++;
            if (n > r->max)
                return lr_fail(r, EXIT_USAGE, "%s: line %zu: longer than %zu bytes, the limit",
                               r->src, r->lineno, r->max);
            *line = r->buf + r->start;
            *len = n;
            r->start = r->scan = nl ? (size_t)(nl - r->buf) + 1 : r->end;
            return 1;
        }
        r->scan = r->end;
        if (r->end - r->start > r->max)
            return lr_fail(r, EXIT_USAGE, "%s: line %zu: longer than %zu bytes, the limit", r->src,
                           r->lineno + 1, r->max);
        if (r->eof)
            return 0;
        if (r->start > 0) { /* the unread tail (shorter than max) to the front */
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->scan -= r->start;
            r->start = 0;
        }
        size_t got = fread(r->buf + r->end, 1, r->cap - r->end, r->f);
        if (got == 0) {
            if (ferror(r->f))
                return lr_fail(r, EXIT_OPER, "%s: read error", r->src);
            r->eof = true;
        }
        r->end += got;
        r->total += got;
        if (r->total > r->total_max)
            return lr_fail(r, EXIT_USAGE,
                           "%s: more than one batch may hold (%zu bytes, %zu records); split it, "
                           "e.g. split -l 100000",
                           r->src, r->total_max, BATCH_RECORDS_MAX);
    }
}

/* ------------------------------------------------------------ batch -- */

/*
 * One batch line as ldg_fields: the library parses it [INP-1]; here its seqs
 * are resolved against the ledger, and the one-line message names the input.
 */
typedef struct bline {
    ldg_fields f;
    ldg_input in;
    uint8_t refs[LDG_REFS_MAX][LDG_HASH_BYTES];
} bline;

static int
parse_batch_line(ldg_ledger *l, const char *src, size_t lineno, const char *text, size_t len,
                 bline *b)
{
    ldg_err err;
    if (ldg_input_parse(text, len, lineno, &b->in, &err) != LDG_OK)
        return tool_error(tool_exit_code(err.status), "%s: %s", src, err.msg);
    const ldg_input *in = &b->in;
    char where[300];
    snprintf(where, sizeof where, "%s: line %zu", src, lineno);
    for (size_t i = 0; i < in->nrefs; i++) {
        char seq[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)in->refs[i].seq);
        int rc = tool_resolve_ref(l, &in->refs[i], seq, where, b->refs[i]);
        if (rc != EXIT_OK)
            return rc;
    }
    b->f.kind = in->kind;
    b->f.study = in->study;
    b->f.meaning = in->meaning;
    b->f.reason = in->reason;
    b->f.refs = (const uint8_t(*)[LDG_HASH_BYTES])b->refs;
    b->f.nrefs = in->nrefs;
    b->f.has_time = in->has_time;
    b->f.time_ns = in->time_ns;
    b->f.tz_min = in->tz_min;
    b->f.body = in->body;
    b->f.body_len = in->body_len;
    return EXIT_OK;
}

/* Frees what parsing a line allocated; once it is signed, the fields are not needed. */
static void
bline_clear(bline *b)
{
    ldg_input_clear(&b->in);
    memset(&b->f, 0, sizeof b->f);
}

/*
 * A batch is one transaction, pipelined: worker threads parse and sign the
 * lines (jansson and Ed25519 are the costly parts) while the main thread
 * writes each finished chunk into the open transaction.  The first bad line,
 * in line order, is the one reported, and nothing is written.
 */
#define BATCH_CHUNK 512

typedef struct bjob {
    ldg_ledger *l;
    const ldg_key *k;
    const char *src;
    const char **line;
    size_t *len, *lineno;
    ldg_signed **sv;
    ldg_fields bind; /* origin and observed head, the same for every line */
    char origin[LDG_TEXT_MAX + 1];
    size_t n;
    size_t base;          /* records of the batch in earlier windows */
    _Atomic size_t next;  /* next line for a worker */
    _Atomic bool stop;    /* the main thread gave up */
    _Atomic size_t *done; /* lines finished, per chunk */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a chunk finished, or a line failed */
    size_t bad;        /* lowest failing line index, n if none */
    int bad_rc;
    char bad_msg[TOOL_CAPTURE_MAX];
} bjob;

static size_t
chunk_len(const bjob *j, size_t c)
{
    size_t end = (c + 1) * BATCH_CHUNK;
    return (end > j->n ? j->n : end) - c * BATCH_CHUNK;
}

static void *
batch_worker(void *arg)
{
    bjob *j = arg;
    char msg[TOOL_CAPTURE_MAX];
    tool_capture = msg;
    for (size_t i; !atomic_load(&j->stop) && (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        bline b = {0};
        ldg_err err;
        msg[0] = '\0';
        int rc = parse_batch_line(j->l, j->src, j->lineno[i], j->line[i], j->len[i], &b);
        if (rc == EXIT_OK) {
            b.f.origin = j->bind.origin;
            b.f.has_observed = 1;
            b.f.observed_size = j->bind.observed_size;
            memcpy(b.f.observed_head, j->bind.observed_head, LDG_HASH_BYTES);
            if (ldg_sign(j->k, &b.f, &j->sv[i], &err) != LDG_OK) {
                rc = tool_exit_code(err.status);
                snprintf(msg, sizeof msg, "%s: line %zu: %s", j->src, j->lineno[i], err.msg);
            }
        }
        bline_clear(&b);
        /*
         * A refusal is recorded before the line counts as done: once the
         * main thread sees every line of a chunk done, every refusal among
         * them is recorded, and the first in line order is the one it names
         * (counted first, a worker preempted before recording line 1 let
         * line 2's message out).
         */
        if (rc != EXIT_OK) {
            pthread_mutex_lock(&j->mu);
            if (i < j->bad) {
                j->bad = i;
                j->bad_rc = rc;
                snprintf(j->bad_msg, sizeof j->bad_msg, "%s", msg);
            }
            pthread_mutex_unlock(&j->mu);
        }
        size_t c = i / BATCH_CHUNK;
        bool chunk_done = atomic_fetch_add(&j->done[c], 1) + 1 == chunk_len(j, c);
        if (rc != EXIT_OK || chunk_done) {
            pthread_mutex_lock(&j->mu);
            pthread_cond_broadcast(&j->cv);
            pthread_mutex_unlock(&j->mu);
        }
    }
    tool_capture = NULL;
    return NULL;
}

/*
 * The batch is read a window at a time (at most BATCH_WIN_LINES lines and
 * BATCH_WIN_BYTES of text): each window is parsed, signed and added to the
 * open transaction before the next is read, so a bad line early in a huge
 * input is refused before the rest is read.  The signed statements stay
 * until the commit (a batch whose map grows is appended again from them).
 */
#define BATCH_WIN_LINES (8 * BATCH_CHUNK)
#define BATCH_WIN_BYTES ((size_t)16 << 20)

typedef struct bwin {
    ldg_signed **sv;
    ldg_appended *out;
    size_t n;
    struct bwin *next;
} bwin;

static bool
blank_line(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* The library's refusal names a record of the batch; name the input line instead. */
static int
batch_refusal(const bjob *j, const ldg_err *err)
{
    if (err->index < (long)j->base || (size_t)err->index - j->base >= j->n)
        return tool_fail(err);
    const char *m = err->msg, *colon = strstr(m, ": ");
    if (strncmp(m, "record ", 7) == 0 && colon)
        m = colon + 2;
    return tool_error(tool_exit_code(err->status), "%s: line %zu: %s", j->src,
                      j->lineno[(size_t)err->index - j->base], m);
}

/*
 * Parses, signs (on the workers) and adds the window's j->n lines to the
 * batch, begun here on the first call.  On a bad line, the first in line
 * order is reported.
 */
static int
batch_window(bjob *j, bwin *w, unsigned jobs, ldg_batch **batch)
{
    ldg_err err;
    pthread_t th[256];
    unsigned started = 0;
    int rc = EXIT_OK;
    size_t nchunks = (j->n + BATCH_CHUNK - 1) / BATCH_CHUNK;
    w->n = j->n;
    j->sv = w->sv = calloc(j->n, sizeof *w->sv);
    w->out = malloc(j->n * sizeof *w->out);
    j->done = calloc(nchunks, sizeof *j->done);
    if (!w->sv || !w->out || !j->done) {
        free((void *)j->done);
        j->done = NULL;
        return tool_error(EXIT_OPER, "out of memory");
    }
    j->bad = j->n;
    atomic_store(&j->next, 0);
    atomic_store(&j->stop, false);
    for (unsigned t = 0; t < jobs && t < 256 && t < j->n; t++)
        if (pthread_create(&th[started], NULL, batch_worker, j) == 0)
            started++;
    if (started == 0)
        batch_worker(j); /* no threads to be had: do it all here */
    if (!*batch && ldg_batch_begin(j->l, batch, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * BATCH_CHUNK, n = chunk_len(j, c);
        pthread_mutex_lock(&j->mu);
        while (atomic_load(&j->done[c]) < n && j->bad >= first + n)
            pthread_cond_wait(&j->cv, &j->mu);
        bool bad = j->bad < first + n;
        pthread_mutex_unlock(&j->mu);
        if (bad) {
            /* Wait for every earlier line, so the first bad one in line order is reported. */
            for (size_t e = 0; e <= c; e++) {
                pthread_mutex_lock(&j->mu);
                while (atomic_load(&j->done[e]) < chunk_len(j, e))
                    pthread_cond_wait(&j->cv, &j->mu);
                pthread_mutex_unlock(&j->mu);
            }
            rc = tool_error(j->bad_rc, "%s", j->bad_msg);
            goto out;
        }
        if (ldg_batch_add(*batch, w->sv + first, n, w->out + first, &err) != LDG_OK) {
            rc = batch_refusal(j, &err);
            goto out;
        }
    }
out:
    atomic_store(&j->stop, true);
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    free((void *)j->done);
    j->done = NULL;
    return rc;
}

static int
append_batch(const opts *o, ldg_ledger *l, ldg_key *k)
{
    lreader r;
    int rc = lr_open(&r, o->batch, LDG_INPUT_LINE_MAX, BATCH_BYTES_MAX);
    if (rc != EXIT_OK)
        return rc;
    bjob j = {.l = l, .k = k, .src = r.src};
    ldg_batch *batch = NULL;
    ldg_err err;
    bwin *wins = NULL, **tail = &wins;
    size_t total = 0;
    char *text = malloc(BATCH_WIN_BYTES);
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    atomic_init(&j.next, 0);
    atomic_init(&j.stop, false);
    j.line = malloc(BATCH_WIN_LINES * sizeof *j.line);
    j.len = malloc(BATCH_WIN_LINES * sizeof *j.len);
    j.lineno = malloc(BATCH_WIN_LINES * sizeof *j.lineno);
    if (!text || !j.line || !j.len || !j.lineno) {
        rc = tool_error(EXIT_OPER, "out of memory");
        goto out;
    }
    if ((rc = tool_bind(l, &j.bind, true, j.origin)) != EXIT_OK)
        goto out;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = o->jobs ? o->jobs : ncpu > 0 ? (unsigned)ncpu : 1;
    const char *p = NULL;
    size_t ll = 0;
    bool pending = false; /* p, ll: a line read that did not fit in the last window */
    for (int more = 1; more > 0;) {
        size_t used = 0;
        j.n = 0;
        while (j.n < BATCH_WIN_LINES) {
            if (!pending && (more = lr_next(&r, &p, &ll)) <= 0)
                break;
            pending = false;
            if (blank_line(p, ll))
                continue;
            if (total + j.n == BATCH_RECORDS_MAX) {
                rc = tool_usage("%s: line %zu: more records than one batch may hold (%zu records, "
                                "%zu bytes); split it, e.g. split -l 100000",
                                r.src, r.lineno, BATCH_RECORDS_MAX, BATCH_BYTES_MAX);
                goto out;
            }
            if (ll > BATCH_WIN_BYTES - used) {
                pending = true;
                break;
            }
            memcpy(text + used, p, ll);
            j.line[j.n] = text + used;
            j.len[j.n] = ll;
            j.lineno[j.n++] = r.lineno;
            used += ll;
        }
        if (j.n) {
            bwin *w = calloc(1, sizeof *w);
            if (!w) {
                rc = tool_error(EXIT_OPER, "out of memory");
                goto out;
            }
            *tail = w;
            tail = &w->next;
            j.base = total;
            total += j.n;
            if ((rc = batch_window(&j, w, jobs, &batch)) != EXIT_OK)
                goto out;
        }
    }
    if (r.rc) {
        rc = tool_error(r.rc, "%s", r.msg);
        goto out;
    }
    if (total == 0) {
        rc = tool_usage("%s: no records", j.src);
        goto out;
    }
    ldg_batch *b = batch;
    batch = NULL;
    if (ldg_batch_commit(b, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    for (bwin *w = wins; w; w = w->next)
        print_appended(w->out, w->n);
out:
    ldg_batch_abort(batch);
    while (wins) {
        bwin *w = wins;
        wins = w->next;
        for (size_t i = 0; w->sv && i < w->n; i++)
            ldg_signed_free(w->sv[i]);
        free(w->sv);
        free(w->out);
        free(w);
    }
    free(j.line);
    free(j.len);
    free(j.lineno);
    free(text);
    lr_close(&r);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    return rc;
}

/* ----------------------------------------------------------- signed -- */

static int
append_signed(const opts *o, ldg_ledger *l)
{
    lreader r;
    int rc = lr_open(&r, o->signedf, LDG_SIGNED_LINE_MAX, BATCH_BYTES_MAX);
    if (rc != EXIT_OK)
        return rc;
    const char *src = r.src;
    size_t cap = 64, n = 0;
    ldg_signed **sv = calloc(cap, sizeof *sv);
    ldg_appended *out = NULL;
    ldg_err err;
    const char *p;
    size_t ll;
    int more;
    while (sv && (more = lr_next(&r, &p, &ll)) > 0) {
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (!ll)
            continue;
        if (n == BATCH_RECORDS_MAX) {
            rc = tool_usage("%s: line %zu: more statements than one batch may hold (%zu, %zu "
                            "bytes); split it, e.g. split -l 100000",
                            src, r.lineno, BATCH_RECORDS_MAX, BATCH_BYTES_MAX);
            goto out;
        }
        if (n == cap) {
            ldg_signed **ns = realloc(sv, 2 * cap * sizeof *sv);
            if (!ns) {
                rc = tool_error(EXIT_OPER, "out of memory");
                goto out;
            }
            sv = ns;
            cap *= 2;
        }
        if (ldg_signed_from_line(p, ll, &sv[n], &err) != LDG_OK) {
            rc = tool_error(tool_exit_code(err.status), "%s: line %zu: %s", src, r.lineno, err.msg);
            goto out;
        }
        n++;
    }
    if (sv && more < 0) {
        rc = tool_error(r.rc, "%s", r.msg);
        goto out;
    }
    if (!sv) {
        rc = tool_error(EXIT_OPER, "out of memory");
        goto out;
    }
    if (n == 0) {
        rc = tool_usage("%s: no signed statements", src);
        goto out;
    }
    out = malloc(n * sizeof *out);
    if (!out) {
        rc = tool_error(EXIT_OPER, "out of memory");
        goto out;
    }
    if (ldg_append(l, sv, n, out, &err) != LDG_OK) {
        rc = append_fail(&err, src);
        goto out;
    }
    print_appended(out, n);
out:
    for (size_t i = 0; sv && i < n; i++)
        ldg_signed_free(sv[i]);
    free(sv);
    free(out);
    lr_close(&r);
    return rc;
}

int
cmd_append(int argc, char **argv)
{
    opts o = {0};
    int rc = parse_opts(argc, argv, &o, append_help);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (o.observed_from || o.out || o.origin || o.unbound)
        return tool_usage("--observed-from, --origin, --unbound and -o belong to ldg sign");
    int modes = (o.batch != NULL) + (o.signedf != NULL) + (o.kind != NULL);
    if (modes != 1)
        return tool_usage("give exactly one of --kind (one record), --batch FILE or --signed FILE");
    if (o.signedf && o.as)
        return tool_usage("--signed appends statements as signed; --as does not apply");
    if (!o.signedf && !o.as)
        return tool_usage("--as KEY is required");
    if ((o.batch || o.signedf) && (o.study || o.nrefs || o.meaning || o.reason || o.body || o.time))
        return tool_usage("record options go inside the batch lines, not on the command line");
    ldg_ledger *l;
    if ((rc = tool_open_ledger(o.dir, 0, &l)) != EXIT_OK)
        return rc;
    if (o.signedf) {
        rc = append_signed(&o, l);
        ldg_ledger_close(l);
        return rc;
    }
    ldg_key *k = NULL;
    if ((rc = tool_load_key(o.as, o.passfile, &k)) != EXIT_OK) {
        ldg_ledger_close(l);
        return rc;
    }
    if (o.batch) {
        rc = append_batch(&o, l, k);
    } else {
        ldg_fields f;
        uint8_t refs[LDG_REFS_MAX][LDG_HASH_BYTES];
        char *body = NULL;
        ldg_signed *s = NULL;
        ldg_appended a;
        ldg_err err;
        char origin[LDG_TEXT_MAX + 1];
        rc = fields_from_opts(&o, l, &f, refs, &body);
        if (rc == EXIT_OK && (rc = tool_bind(l, &f, true, origin)) == EXIT_OK) {
            if (ldg_sign(k, &f, &s, &err) != LDG_OK || ldg_append(l, &s, 1, &a, &err) != LDG_OK)
                rc = tool_fail(&err);
            else
                print_appended(&a, 1);
        }
        ldg_signed_free(s);
        free(body);
    }
    ldg_key_free(k);
    ldg_ledger_close(l);
    return rc;
}

int
cmd_sign(int argc, char **argv)
{
    opts o = {0};
    int rc = parse_opts(argc, argv, &o, sign_help);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (o.batch || o.signedf)
        return tool_usage("--batch and --signed belong to ldg append");
    if (!o.as)
        return tool_usage("--as KEY is required");
    if (o.unbound && (o.origin || o.observed_from))
        return tool_usage("--unbound excludes --origin and --observed-from");
    /* A ledger is optional: only to resolve --ref SEQ and --observed-from. */
    ldg_ledger *l = NULL;
    ldg_err err;
    const char *ldir = o.observed_from ? o.observed_from : o.dir ? o.dir : getenv("LDG_LEDGER");
    if (ldir && *ldir) {
        if (ldg_ledger_open(ldir, LDG_OPEN_READONLY, &l, &err) != LDG_OK) {
            if (o.observed_from || o.dir)
                return tool_fail(&err);
            l = NULL; /* $LDG_LEDGER pointing nowhere is fine when nothing needs it */
        }
    }
    ldg_fields f;
    uint8_t refs[LDG_REFS_MAX][LDG_HASH_BYTES];
    char *body = NULL, *line = NULL;
    ldg_key *k = NULL;
    ldg_signed *s = NULL;
    size_t ll;
    if ((rc = fields_from_opts(&o, l, &f, refs, &body)) != EXIT_OK)
        goto out;
    /*
     * Bound to a ledger when one is known: --origin, or the ledger read.
     * Unbound only when asked for [POL-10]: such a statement appends to any
     * ledger where the key is registered.
     */
    char origin[LDG_TEXT_MAX + 1];
    if (!o.unbound && !l && !o.origin) {
        rc = tool_usage("no ledger to bind the statement to: give --origin ORIGIN (or --ledger, "
                        "--observed-from, $LDG_LEDGER), or --unbound for a statement any ledger "
                        "accepts");
        goto out;
    }
    if (l && !o.unbound && (rc = tool_bind(l, &f, o.observed_from != NULL, origin)) != EXIT_OK)
        goto out;
    if (o.origin) {
        if (f.origin && strcmp(f.origin, o.origin) != 0) {
            rc = tool_usage("--origin %s differs from the ledger's origin %s", o.origin, f.origin);
            goto out;
        }
        f.origin = o.origin;
    }
    if ((rc = tool_load_key(o.as, o.passfile, &k)) != EXIT_OK)
        goto out;
    if (ldg_sign(k, &f, &s, &err) != LDG_OK || ldg_signed_to_line(s, &line, &ll, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    FILE *fo = stdout;
    if (o.out && !(fo = fopen(o.out, "wx"))) {
        rc = tool_error(errno == EEXIST ? EXIT_USAGE : EXIT_OPER, "%s: cannot create: %s", o.out,
                        strerror(errno));
        goto out;
    }
    fprintf(fo, "%s\n", line);
    if (fo != stdout && fclose(fo) != 0)
        rc = tool_error(EXIT_OPER, "%s: write failed", o.out);
out:
    free(line);
    ldg_signed_free(s);
    ldg_key_free(k);
    free(body);
    ldg_ledger_close(l);
    return rc;
}
