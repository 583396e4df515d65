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
        /* a line's first byte that is not blank settles it: memchr skips the rest */
        for (size_t got; (got = fread(chunk, 1, sizeof chunk, r->f)) > 0;)
            for (const char *p = chunk, *end = chunk + got; p < end;) {
                for (; blank && p < end && *p != '\n'; p++)
                    blank = *p == ' ' || *p == '\t' || *p == '\r';
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                if (!nl)
                    break;
                records += !blank;
                blank = true;
                p = nl + 1;
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
 *
 * The input is read a window at a time (at most BATCH_WIN_LINES lines and
 * BATCH_WIN_BYTES of text), one window ahead: while the workers sign window
 * k and the main thread adds its chunks, window k+1 is already read and
 * handed out, so neither the workers nor the main thread wait at a window's
 * end.  A bad line is refused within two windows of it, without the rest of
 * the input being read.  The signed statements stay until the commit (a
 * batch whose map grows is appended again from them).
 */
#define BATCH_CHUNK 512
#define BATCH_WIN_LINES (8 * BATCH_CHUNK)
#define BATCH_WIN_CHUNKS (BATCH_WIN_LINES / BATCH_CHUNK)
#define BATCH_WIN_BYTES ((size_t)16 << 20)

/* The signed statements of one window, kept until the commit. */
typedef struct bwin {
    ldg_signed **sv;
    ldg_appended *out;
    size_t n;
    struct bwin *next;
} bwin;

/* One of the two windows in flight: its text and lines, read by the workers. */
typedef struct bslot {
    char *text;
    const char **line;
    size_t *len, *lineno;
    size_t first, n;                       /* batch index of line 0; lines */
    bwin *w;                               /* where its statements go */
    _Atomic size_t done[BATCH_WIN_CHUNKS]; /* lines finished, per chunk */
} bslot;

typedef struct bjob {
    ldg_ledger *l;
    const ldg_key *k;
    const char *src;
    ldg_fields bind; /* origin and observed head, the same for every line */
    char origin[LDG_TEXT_MAX + 1];
    bslot slot[2]; /* window k in slot k % 2 */
    /*
     * The newest window handed out: its first line's batch index times 2,
     * plus its slot.  A line not yet signed is in it or in the window
     * before, in the other slot (the window after waits for that one to be
     * added whole): one load tells a worker where its line is, whatever the
     * main thread is writing into the slot it is not in.
     */
    _Atomic size_t newest;
    _Atomic size_t next;  /* next line (batch index) for a worker */
    _Atomic size_t avail; /* lines handed out: the windows read so far */
    _Atomic bool stop;    /* the batch is over: added whole, or given up */
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* a chunk finished, or a line failed (main waits) */
    pthread_cond_t more; /* a window handed out, or stop (workers wait) */
    size_t bad;          /* lowest failing batch index, SIZE_MAX if none */
    int bad_rc;
    char bad_msg[TOOL_CAPTURE_MAX];
} bjob;

static size_t
chunk_len(const bslot *s, size_t c)
{
    size_t end = (c + 1) * BATCH_CHUNK;
    return (end > s->n ? s->n : end) - c * BATCH_CHUNK;
}

/* The slot holding line g of the batch, handed out and not yet signed. */
static bslot *
slot_of(bjob *j, size_t g)
{
    size_t nw = atomic_load(&j->newest);
    return &j->slot[(nw & 1) ^ (g < nw >> 1)];
}

/* Parses and signs line g of the batch into its window, and counts it done. */
static void
sign_line(bjob *j, size_t g, char *msg)
{
    bslot *s = slot_of(j, g);
    size_t i = g - s->first;
    bline b = {0};
    ldg_err err;
    msg[0] = '\0';
    int rc = parse_batch_line(j->l, j->src, s->lineno[i], s->line[i], s->len[i], &b);
    if (rc == EXIT_OK) {
        b.f.origin = j->bind.origin;
        b.f.has_observed = 1;
        b.f.observed_size = j->bind.observed_size;
        memcpy(b.f.observed_head, j->bind.observed_head, LDG_HASH_BYTES);
        if (ldg_sign(j->k, &b.f, &s->w->sv[i], &err) != LDG_OK) {
            rc = tool_exit_code(err.status);
            snprintf(msg, TOOL_CAPTURE_MAX, "%s: line %zu: %s", j->src, s->lineno[i], err.msg);
        }
    }
    bline_clear(&b);
    /*
     * A refusal is recorded before the line counts as done: once the main
     * thread sees every line of a chunk done, every refusal among them is
     * recorded, and the first in line order is the one it names (counted
     * first, a worker preempted before recording line 1 let line 2's
     * message out).
     */
    if (rc != EXIT_OK) {
        pthread_mutex_lock(&j->mu);
        if (g < j->bad) {
            j->bad = g;
            j->bad_rc = rc;
            snprintf(j->bad_msg, sizeof j->bad_msg, "%s", msg);
        }
        pthread_mutex_unlock(&j->mu);
    }
    /* the slot is read before the line counts as done: the main thread may reuse it after */
    size_t c = i / BATCH_CHUNK, want = chunk_len(s, c);
    bool chunk_done = atomic_fetch_add(&s->done[c], 1) + 1 == want;
    if (rc != EXIT_OK || chunk_done) {
        pthread_mutex_lock(&j->mu);
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

static void *
batch_worker(void *arg)
{
    bjob *j = arg;
    char msg[TOOL_CAPTURE_MAX];
    tool_capture = msg;
    for (;;) {
        size_t g = atomic_fetch_add(&j->next, 1);
        if (g >= atomic_load(&j->avail)) { /* not read yet: wait for its window, or the end */
            pthread_mutex_lock(&j->mu);
            while (g >= atomic_load(&j->avail) && !atomic_load(&j->stop))
                pthread_cond_wait(&j->more, &j->mu);
            pthread_mutex_unlock(&j->mu);
        }
        if (atomic_load(&j->stop) || g >= atomic_load(&j->avail))
            break;
        sign_line(j, g, msg);
    }
    tool_capture = NULL;
    return NULL;
}

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
batch_refusal(const bslot *s, const char *src, const ldg_err *err)
{
    if (err->index < (long)s->first || (size_t)err->index - s->first >= s->n)
        return tool_fail(err);
    const char *m = err->msg, *colon = strstr(m, ": ");
    if (strncmp(m, "record ", 7) == 0 && colon)
        m = colon + 2;
    return tool_error(tool_exit_code(err->status), "%s: line %zu: %s", src,
                      s->lineno[(size_t)err->index - s->first], m);
}

/* The reading side of a batch: where the next window stops, and why. */
typedef struct bread {
    lreader *r;
    const char *p; /* a line read that did not fit in the last window */
    size_t ll;
    bool pending;
    int more;   /* lr_next's last answer: 1 more input, 0 the end, -1 refused */
    bool limit; /* the record limit was reached, at limit_msg's line */
    char limit_msg[300];
    size_t total; /* records read into windows */
} bread;

/*
 * Reads the next window into s (its lines' batch indexes from rd->total)
 * and its bwin, appended at *tail.  Returns EXIT_OK with s->n == 0 at the
 * end of the input, or when reading stopped (rd->more < 0, rd->limit).
 */
static int
read_window(bread *rd, bslot *s, bwin ***tail)
{
    size_t used = 0;
    s->first = rd->total;
    s->n = 0;
    while (s->n < BATCH_WIN_LINES && !rd->limit) {
        if (!rd->pending && (rd->more = lr_next(rd->r, &rd->p, &rd->ll)) <= 0)
            break;
        rd->pending = false;
        if (blank_line(rd->p, rd->ll))
            continue;
        if (rd->total + s->n == BATCH_RECORDS_MAX) {
            /* told after the windows before it, whose bad lines come first */
            rd->limit = true;
            snprintf(rd->limit_msg, sizeof rd->limit_msg,
                     "%s: line %zu: more records than one batch may hold (%zu records, %zu "
                     "bytes); split it, e.g. split -l 100000",
                     rd->r->src, rd->r->lineno, BATCH_RECORDS_MAX, BATCH_BYTES_MAX);
            break;
        }
        if (rd->ll > BATCH_WIN_BYTES - used) {
            rd->pending = true;
            break;
        }
        memcpy(s->text + used, rd->p, rd->ll);
        s->line[s->n] = s->text + used;
        s->len[s->n] = rd->ll;
        s->lineno[s->n++] = rd->r->lineno;
        used += rd->ll;
    }
    if (!s->n)
        return EXIT_OK;
    bwin *w = calloc(1, sizeof *w);
    if (!w || !(w->sv = calloc(s->n, sizeof *w->sv)) || !(w->out = malloc(s->n * sizeof *w->out))) {
        if (w) {
            free(w->sv);
            free(w);
        }
        return tool_error(EXIT_OPER, "out of memory");
    }
    w->n = s->n;
    **tail = w;
    *tail = &w->next;
    s->w = w;
    for (size_t c = 0; c < BATCH_WIN_CHUNKS; c++)
        atomic_store(&s->done[c], 0);
    rd->total += s->n;
    return EXIT_OK;
}

/*
 * Adds window s's lines to the batch, chunk by chunk as the workers finish
 * them.  On a bad line, the first in line order is reported.
 */
static int
add_window(bjob *j, bslot *s, ldg_batch *batch)
{
    ldg_err err;
    size_t nchunks = (s->n + BATCH_CHUNK - 1) / BATCH_CHUNK;
    for (size_t c = 0; c < nchunks; c++) {
        size_t first = c * BATCH_CHUNK, n = chunk_len(s, c);
        pthread_mutex_lock(&j->mu);
        while (atomic_load(&s->done[c]) < n && j->bad >= s->first + first + n)
            pthread_cond_wait(&j->cv, &j->mu);
        bool bad = j->bad < s->first + first + n;
        pthread_mutex_unlock(&j->mu);
        if (bad) {
            /*
             * Wait for every earlier line of the window (the windows before
             * it were added whole), so the first bad one in line order is
             * reported.
             */
            for (size_t e = 0; e <= c; e++) {
                pthread_mutex_lock(&j->mu);
                while (atomic_load(&s->done[e]) < chunk_len(s, e))
                    pthread_cond_wait(&j->cv, &j->mu);
                pthread_mutex_unlock(&j->mu);
            }
            pthread_mutex_lock(&j->mu);
            int rc = tool_error(j->bad_rc, "%s", j->bad_msg);
            pthread_mutex_unlock(&j->mu);
            return rc;
        }
        if (ldg_batch_add(batch, s->w->sv + first, n, s->w->out + first, &err) != LDG_OK)
            return batch_refusal(s, j->src, &err);
    }
    return EXIT_OK;
}

/* Hands window s's lines to the workers (or, with none, signs them here). */
static void
hand_out(bjob *j, bslot *s, unsigned started)
{
    pthread_mutex_lock(&j->mu);
    atomic_store(&j->newest, s->first << 1 | (size_t)(s == &j->slot[1]));
    atomic_store(&j->avail, s->first + s->n);
    pthread_cond_broadcast(&j->more);
    pthread_mutex_unlock(&j->mu);
    if (started == 0) {
        char msg[TOOL_CAPTURE_MAX];
        tool_capture = msg;
        for (size_t g = s->first; g < s->first + s->n; g++)
            sign_line(j, g, msg);
        tool_capture = NULL;
    }
}

static int
append_batch(const opts *o, ldg_ledger *l, ldg_key *k)
{
    lreader r;
    int rc = lr_open(&r, o->batch, LDG_INPUT_LINE_MAX, BATCH_BYTES_MAX);
    if (rc != EXIT_OK)
        return rc;
    bjob j = {.l = l, .k = k, .src = r.src, .bad = SIZE_MAX};
    bread rd = {.r = &r, .more = 1};
    ldg_batch *batch = NULL;
    ldg_err err;
    bwin *wins = NULL, **tail = &wins;
    pthread_t th[256];
    unsigned started = 0;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    pthread_cond_init(&j.more, NULL);
    atomic_init(&j.next, 0);
    atomic_init(&j.avail, 0);
    atomic_init(&j.newest, 0);
    atomic_init(&j.stop, false);
    for (int i = 0; i < 2; i++) {
        bslot *s = &j.slot[i];
        s->text = malloc(BATCH_WIN_BYTES);
        s->line = malloc(BATCH_WIN_LINES * sizeof *s->line);
        s->len = malloc(BATCH_WIN_LINES * sizeof *s->len);
        s->lineno = malloc(BATCH_WIN_LINES * sizeof *s->lineno);
        if (!s->text || !s->line || !s->len || !s->lineno) {
            rc = tool_error(EXIT_OPER, "out of memory");
            goto out;
        }
    }
    if ((rc = tool_bind(l, &j.bind, true, j.origin)) != EXIT_OK)
        goto out;
    if (ldg_batch_begin(l, &batch, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned jobs = o->jobs ? o->jobs : ncpu > 0 ? (unsigned)ncpu : 1;
    for (unsigned t = 0; t < jobs && t < 256; t++)
        if (pthread_create(&th[started], NULL, batch_worker, &j) == 0)
            started++;
    /* window wk in slot wk % 2; wk + 1 is read and handed out before wk is added */
    if ((rc = read_window(&rd, &j.slot[0], &tail)) != EXIT_OK)
        goto out;
    hand_out(&j, &j.slot[0], started);
    for (size_t wk = 0; j.slot[wk % 2].n; wk++) {
        bslot *s = &j.slot[wk % 2], *s2 = &j.slot[(wk + 1) % 2];
        s2->n = 0;
        if (rd.more > 0 && !rd.limit) {
            /* s2's last window (wk - 1) was added whole: its text and lines are free */
            if ((rc = read_window(&rd, s2, &tail)) != EXIT_OK)
                goto out;
            if (s2->n)
                hand_out(&j, s2, started);
        }
        if ((rc = add_window(&j, s, batch)) != EXIT_OK)
            goto out;
    }
    if (rd.limit) {
        rc = tool_usage("%s", rd.limit_msg);
        goto out;
    }
    if (r.rc) {
        rc = tool_error(r.rc, "%s", r.msg);
        goto out;
    }
    if (rd.total == 0) {
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
    pthread_mutex_lock(&j.mu);
    atomic_store(&j.stop, true);
    pthread_cond_broadcast(&j.more);
    pthread_mutex_unlock(&j.mu);
    for (unsigned t = 0; t < started; t++)
        pthread_join(th[t], NULL);
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
    for (int i = 0; i < 2; i++) {
        free(j.slot[i].text);
        free(j.slot[i].line);
        free(j.slot[i].len);
        free(j.slot[i].lineno);
    }
    lr_close(&r);
    pthread_cond_destroy(&j.more);
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
