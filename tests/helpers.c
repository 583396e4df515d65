/*
 * helpers.c - see helpers.h.  Test code may use LMDB directly: it plays the
 * attacker with write access to the ledger's files.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "killed.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A test may take more than one directory; each stays its own until tmp_cleanup. */
#define TMP_DIRS 4
static char tmp_paths[TMP_DIRS][512];
static int tmp_count;

const char *
tmp_dir(void)
{
    cr_assert_lt(tmp_count, TMP_DIRS, "a test takes at most %d directories", TMP_DIRS);
    char *path = tmp_paths[tmp_count];
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof tmp_paths[0], "%s/ldg-test.XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(path), "mkdtemp");
    tmp_count++;
    return path;
}

void
tmp_cleanup(void)
{
    for (int i = 0; i < tmp_count; i++) {
        if (strstr(tmp_paths[i], "ldg-test.")) {
            char cmd[sizeof tmp_paths + 16]; /* gcc bounds a row by the whole array */
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_paths[i]);
            if (system(cmd) != 0) {
                /* leave it: a test failure is more useful than a cleanup failure */
            }
        }
        tmp_paths[i][0] = '\0';
    }
    tmp_count = 0;
}

double
test_timeout_scale(void)
{
    const char *s = getenv("LDG_TEST_TIMEOUT_SCALE");
    double k = s && *s ? strtod(s, NULL) : 1;
    return k > 0 ? k : 1;
}

int
test_slow(void)
{
    const char *s = getenv("LDG_TEST_SLOW");
    return s && strcmp(s, "1") == 0;
}

/*
 * Runs in Criterion's runner before any test: the runner reads each test's
 * timeout when it starts the test's worker, so scaling it here covers every
 * `.timeout = N` in every suite (a timeout of 0, none, stays none).
 */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    double k = test_timeout_scale();
    if (k == 1)
        return;
    FOREACH_SET(struct criterion_suite_set *suite, set->suites) {
        FOREACH_SET(struct criterion_test *test, suite->tests) {
            if (test->data->timeout > 0)
                test->data->timeout *= k;
        }
    }
}

const char *
ldg_bin(void)
{
    const char *b = getenv("LDG_BIN");
    return b && *b ? b : "build/ldg";
}

static int fixture_depth;

void
fixture_begin(void)
{
    fixture_depth++;
}

void
fixture_end(void)
{
    cr_assert_gt(fixture_depth, 0, "fixture_end without fixture_begin");
    fixture_depth--;
}

/* The binary ldg_run starts: the fixture binary while building a fixture. */
static const char *
run_bin(void)
{
    const char *f = getenv("LDG_FIXTURE_BIN");
    return fixture_depth > 0 && f && *f ? f : ldg_bin();
}

static char *
drain(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return buf;
}

/* In a forked child: stdin from in, stdout and stderr to files, cwd dir, then exec ldg. */
static void
exec_ldg(const char *dir, int in, const char *outp, const char *errp, const char *const argv[])
{
    int out = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (chdir(dir) != 0)
        _exit(127);
    char ledger[600];
    snprintf(ledger, sizeof ledger, "%s/ledger", dir);
    setenv("LDG_LEDGER", ledger, 1);
    if (!getenv("LDG_TEST_KEEP_PASSFILE"))
        unsetenv("LDG_PASSPHRASE_FILE");
    size_t n = 0;
    while (argv[n])
        n++;
    char **av = calloc(n + 2, sizeof *av);
    av[0] = (char *)run_bin();
    for (size_t i = 0; i < n; i++)
        av[i + 1] = (char *)argv[i];
    execv(av[0], av);
    _exit(127);
}

run_result
ldg_run(const char *dir, const char *stdin_text, const char *const argv[])
{
    char outp[600], errp[600], inp[600];
    snprintf(outp, sizeof outp, "%s/.stdout", dir);
    snprintf(errp, sizeof errp, "%s/.stderr", dir);
    snprintf(inp, sizeof inp, "%s/.stdin", dir);
    if (stdin_text)
        write_file(dir, ".stdin", stdin_text);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork");
    if (pid == 0)
        exec_ldg(dir, open(stdin_text ? inp : "/dev/null", O_RDONLY), outp, errp, argv);
    int st;
    waitpid(pid, &st, 0);
    run_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    int fo = open(outp, O_RDONLY), fe = open(errp, O_RDONLY);
    r.out = drain(fo);
    r.err = drain(fe);
    close(fo);
    close(fe);
    return r;
}

run_result
ldg_run_fed(const char *dir, const char *const argv[], void (*feed)(int fd, void *ctx), void *ctx,
            long *maxrss_kb)
{
    char outp[600], errp[600];
    snprintf(outp, sizeof outp, "%s/.stdout", dir);
    snprintf(errp, sizeof errp, "%s/.stderr", dir);
    int p[2] = {-1, -1};
    pid_t gen = -1;
    if (feed) {
        cr_assert_eq(pipe(p), 0, "pipe");
        gen = fork();
        cr_assert(gen >= 0, "fork");
        if (gen == 0) {
            close(p[0]);
            signal(SIGPIPE, SIG_DFL); /* the reader may stop early: that ends us */
            feed(p[1], ctx);
            _exit(0);
        }
        close(p[1]);
    }
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork");
    if (pid == 0)
        exec_ldg(dir, feed ? p[0] : open("/dev/null", O_RDONLY), outp, errp, argv);
    if (feed)
        close(p[0]);
    int st;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    cr_assert_eq(wait4(pid, &st, 0, &ru), pid, "wait4");
    if (gen > 0) {
        kill(gen, SIGKILL);
        waitpid(gen, NULL, 0);
    }
    if (maxrss_kb)
        *maxrss_kb = ru.ru_maxrss;
    run_result r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    int fo = open(outp, O_RDONLY), fe = open(errp, O_RDONLY);
    r.out = drain(fo);
    r.err = drain(fe);
    close(fo);
    close(fe);
    return r;
}

void
run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void
write_file(const char *dir, const char *name, const char *text)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "open %s", p);
    fwrite(text, 1, strlen(text), f);
    cr_assert_eq(fclose(f), 0);
}

char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void
must(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s failed (%d): %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

static void
refused_as(const char *dir, run_result r, const char *needle, long size, bool cleanly)
{
    cr_assert_eq(r.status, 3, "want exit 3, got %d: %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, needle), "want \"%s\" in: %s", needle, r.err);
    const char *nl = strchr(r.err, '\n');
    cr_assert(nl && nl[1] == '\0', "one line on stderr: %s", r.err);
    if (cleanly) {
        cr_assert_eq(strncmp(r.err, "ldg ", 4), 0, "names the command: %s", r.err);
        cr_assert_str_empty(r.out, "nothing printed as appended: %s", r.out);
    }
    run_free(&r);
    cr_assert_eq(ledger_size(dir), size, "nothing written");
}

void
policy_refused(const char *dir, run_result r, const char *needle, long size)
{
    refused_as(dir, r, needle, size, false);
}

void
policy_refused_cleanly(const char *dir, run_result r, const char *needle, long size)
{
    refused_as(dir, r, needle, size, true);
}

char *
path_in(const char *dir, const char *name)
{
    static char p[8][1200];
    static int k;
    k = (k + 1) % 8;
    int n = snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    cr_assert(n > 0 && (size_t)n < sizeof p[k], "path too long");
    return p[k];
}

char *
read_in(const char *dir, const char *name, size_t *len)
{
    char *text = read_file(path_in(dir, name), len);
    cr_assert_not_null(text, "%s/%s", dir, name);
    return text;
}

void
show_facts(const char *dir, long seq, char host_utc[21], char leaf_hex[65])
{
    char s[24];
    snprintf(s, sizeof s, "%ld", seq);
    run_result r = LDG(dir, NULL, "show", s, "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert_not_null(o);
    const char *lh = json_string_value(json_object_get(o, "leaf_hash"));
    cr_assert_not_null(lh, "show --json has leaf_hash: %s", r.out);
    if (host_utc) {
        const char *t = json_string_value(json_object_get(o, "time"));
        cr_assert_not_null(t, "show --json has time: %s", r.out);
        snprintf(host_utc, 21, "%.19sZ", t);
    }
    uint8_t h[32];
    size_t n = 0;
    cr_assert_eq(sodium_base642bin(h, sizeof h, lh, strlen(lh), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(n, 32);
    sodium_bin2hex(leaf_hex, 65, h, 32);
    json_decref(o);
    run_free(&r);
}

csv
csv_parse(const char *t)
{
    size_t cap = 1024;
    csv c = {malloc(cap * sizeof(char *)), 0, 0};
    size_t ncell = 0, row_cells = 0;
    const char *p = t;
    while (*p) {
        char *cell = malloc(strlen(p) + 1), *o = cell;
        if (*p == '"') {
            for (p++;; p++) {
                cr_assert(*p, "unterminated quoted cell");
                if (*p == '"' && p[1] == '"')
                    *o++ = *p++;
                else if (*p == '"')
                    break;
                else
                    *o++ = *p;
            }
            p++;
        } else {
            while (*p && *p != ',' && *p != '\r' && *p != '\n') {
                cr_assert_neq(*p, '"', "a quote inside an unquoted cell");
                *o++ = *p++;
            }
        }
        *o = '\0';
        if (ncell == cap)
            c.cell = realloc(c.cell, (cap *= 2) * sizeof(char *));
        c.cell[ncell++] = cell;
        row_cells++;
        if (*p == ',') {
            p++;
            continue;
        }
        cr_assert(p[0] == '\r' && p[1] == '\n', "rows end with CRLF (at cell %zu)", ncell);
        p += 2;
        if (c.rows == 0)
            c.cols = row_cells;
        cr_assert_eq(row_cells, c.cols, "row %zu has %zu cells, the header %zu", c.rows, row_cells,
                     c.cols);
        c.rows++;
        row_cells = 0;
    }
    return c;
}

void
csv_free(csv *c)
{
    for (size_t i = 0; i < c->rows * c->cols; i++)
        free(c->cell[i]);
    free(c->cell);
}

const char *
csv_cell(const csv *c, size_t row, const char *col)
{
    for (size_t j = 0; j < c->cols; j++)
        if (strcmp(c->cell[j], col) == 0)
            return c->cell[row * c->cols + j];
    cr_assert_fail("no column %s", col);
    return NULL;
}

const char *
csv_cell_of_seq(const csv *c, long seq, const char *col)
{
    size_t j = 0;
    while (j < c->cols && strcmp(c->cell[j], col) != 0)
        j++;
    cr_assert_lt(j, c->cols, "no column %s", col);
    for (size_t r = 1; r < c->rows; r++)
        if (strtol(c->cell[r * c->cols], NULL, 10) == seq)
            return c->cell[r * c->cols + j];
    return NULL;
}

const char *
fault_lib(void)
{
    static char p[4200];
    char bin[4096];
    snprintf(bin, sizeof bin, "%s", ldg_bin());
    snprintf(p, sizeof p, "%s/tests/libfault.so", dirname(bin));
    cr_assert_eq(access(p, R_OK), 0, "%s: make builds it with the tests", p);
    return p;
}

static const char *fault_var; /* set while a fault is on */
static char *fault_asan;      /* the suite's own ASAN_OPTIONS, put back by fault_off */

void
fault_on(const char *var, long n)
{
    if (!fault_var)
        fault_asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    else if (strcmp(fault_var, var) != 0)
        unsetenv(fault_var);
    fault_var = var;
    char v[32];
    snprintf(v, sizeof v, "%ld", n);
    setenv("LD_PRELOAD", fault_lib(), 1);
    setenv(var, v, 1);
    /* an ASan build loads its runtime first; the preloaded library is not instrumented */
    setenv("ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0", 1);
}

void
fault_off(void)
{
    unsetenv("LD_PRELOAD");
    if (fault_var)
        unsetenv(fault_var);
    fault_var = NULL;
    if (fault_asan)
        setenv("ASAN_OPTIONS", fault_asan, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(fault_asan);
    fault_asan = NULL;
}

void
make_ledger(const char *dir)
{
    static const char *const names[] = {"log", "admin", "author", "decider", "approver"};
    fixture_begin();
    for (int i = 0; i < 5; i++)
        must(LDG(dir, NULL, "keygen", "--name", names[i], "--out", names[i], "--unencrypted"),
             "keygen");
    must(LDG(dir, NULL, "init", "--origin", "test.example/ledger", "--log-key", "log.key",
             "--admin", "admin.pub", "--name", "Ada Admin", "--org", "Acme CRO"),
         "init");
    must(LDG(dir, NULL, "key", "add", "--as", "admin.key", "--pub", "author.pub", "--name",
             "Carla Rossi", "--org", "Acme CRO", "--roles", "author"),
         "key add author");
    must(LDG(dir, NULL, "key", "add", "--as", "admin.key", "--pub", "decider.pub", "--name",
             "Dr Sam Patel", "--org", "Helix Pharma", "--roles", "author,decider"),
         "key add decider");
    must(LDG(dir, NULL, "key", "add", "--as", "admin.key", "--pub", "approver.pub", "--name",
             "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver"),
         "key add approver");
    fixture_end();
}

long
ledger_size(const char *dir)
{
    run_result r = LDG(dir, NULL, "verify", "--json");
    const char *p = strstr(r.out, "\"entries\":");
    long n = p ? strtol(p + 10, NULL, 10) : -1;
    run_free(&r);
    return n;
}

void
seq_key(uint64_t seq, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)seq;
        seq >>= 8;
    }
}

void
leaf_index_key(const uint8_t leaf[32], uint64_t seq, uint8_t out[36])
{
    uint64_t e = seq >> 18;
    for (int i = 3; i >= 0; i--) {
        out[i] = (uint8_t)e;
        e >>= 8;
    }
    memcpy(out + 4, leaf, 32);
}

static int
lmdb_open(const char *dir, const char *db, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
    char p[600];
    snprintf(p, sizeof p, "%s/ledger", dir);
    if (mdb_env_create(env) || mdb_env_set_maxdbs(*env, 16) || mdb_env_set_mapsize(*env, 1u << 30) ||
        mdb_env_open(*env, p, 0, 0640))
        return -1;
    if (mdb_txn_begin(*env, NULL, 0, txn) || mdb_dbi_open(*txn, db, 0, dbi)) {
        mdb_env_close(*env);
        return -1;
    }
    return 0;
}

int
lmdb_get_value(const char *dir, const char *db, const void *key, size_t kl, void **val, size_t *vl)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (lmdb_open(dir, db, &env, &txn, &dbi))
        return -1;
    MDB_val k = {kl, (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) {
        *val = malloc(v.mv_size);
        memcpy(*val, v.mv_data, v.mv_size);
        *vl = v.mv_size;
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc ? -1 : 0;
}

int
lmdb_put_value(const char *dir, const char *db, const void *key, size_t kl, const void *val,
               size_t vl)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (lmdb_open(dir, db, &env, &txn, &dbi))
        return -1;
    MDB_val k = {kl, (void *)key}, v = {vl, (void *)val};
    int rc = mdb_put(txn, dbi, &k, &v, 0);
    rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    mdb_env_close(env);
    return rc ? -1 : 0;
}

int
lmdb_del_key(const char *dir, const char *db, const void *key, size_t kl)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (lmdb_open(dir, db, &env, &txn, &dbi))
        return -1;
    MDB_val k = {kl, (void *)key};
    int rc = mdb_del(txn, dbi, &k, NULL);
    rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    mdb_env_close(env);
    return rc ? -1 : 0;
}

void
tree_slot(unsigned level, uint64_t index, uint8_t key[9], unsigned *pos)
{
    unsigned band = level / 4, u = level % 4;
    uint64_t cluster = index >> (4 - u), at = index & ((1u << (4 - u)) - 1);
    key[0] = (uint8_t)band;
    seq_key(cluster, key + 1);
    /* Replay the cluster's 16 lowest nodes coming in: each, then the nodes it completes. */
    unsigned n = 0;
    for (unsigned leaf = 0; leaf < 16; leaf++) {
        if (u == 0 && leaf == at) {
            *pos = n;
            return;
        }
        n++;
        for (unsigned up = 1, i = leaf; up < 4 && (i & 1); up++) {
            i >>= 1;
            if (up == u && i == at) {
                *pos = n;
                return;
            }
            n++;
        }
    }
    cr_assert_fail("tree_slot: no node (%u, %llu)", level, (unsigned long long)index);
}

/* The record of node (level, index), read: its key, the node's place, the bytes (to free). */
static int
tree_record(const char *dir, unsigned level, uint64_t index, uint8_t k[9], unsigned *pos,
            uint8_t **v, size_t *vl)
{
    tree_slot(level, index, k, pos);
    if (lmdb_get_value(dir, TREE_DB, k, 9, (void **)v, vl) != 0)
        return -1;
    if (*vl % 32 == 0 && (*pos + 1) * 32 <= *vl)
        return 0;
    free(*v);
    return -1;
}

int
tree_node_get(const char *dir, unsigned level, uint64_t index, uint8_t out[32])
{
    uint8_t k[9], *v;
    unsigned pos;
    size_t vl;
    if (tree_record(dir, level, index, k, &pos, &v, &vl) != 0)
        return -1;
    memcpy(out, v + pos * 32, 32);
    free(v);
    return 0;
}

/* Rewrites the record of node (level, index): h at its place, or (h NULL) cut there. */
static int
tree_record_edit(const char *dir, unsigned level, uint64_t index, const uint8_t *h)
{
    uint8_t k[9], *v;
    unsigned pos;
    size_t vl;
    if (tree_record(dir, level, index, k, &pos, &v, &vl) != 0)
        return -1;
    if (h)
        memcpy(v + pos * 32, h, 32);
    int rc = h || pos ? lmdb_put_value(dir, TREE_DB, k, 9, v, h ? vl : pos * 32)
                      : lmdb_del_key(dir, TREE_DB, k, 9);
    free(v);
    return rc;
}

int
tree_node_put(const char *dir, unsigned level, uint64_t index, const uint8_t h[32])
{
    return tree_record_edit(dir, level, index, h);
}

int
tree_node_cut(const char *dir, unsigned level, uint64_t index)
{
    return tree_record_edit(dir, level, index, NULL);
}

/* Appends one record; returns its seq. */
long
append_record(const char *d, const char *body, const char *const *args)
{
    const char *argv[32] = {"append"};
    size_t n = 1;
    for (; args[n - 1]; n++)
        argv[n] = args[n - 1];
    argv[n++] = "--body";
    argv[n++] = "-";
    argv[n] = NULL;
    run_result r = ldg_run(d, body, argv);
    cr_assert_eq(r.status, 0, "append: %s", r.err);
    long seq = strtol(r.out, NULL, 10);
    run_free(&r);
    return seq;
}

/*
 * The trail: seq 4 communication (CRO, UTC+01:00), 5 response (sponsor),
 * 6 decision, 7 approval, 8 correction of 4, 9 key.add of a key whose
 * printed name and organisation are formula and CSV bait, 10 its
 * communication, 11 revocation of the CRO author's key; then a checkpoint.
 */
void
make_trail(const char *d)
{
    fixture_begin();
    make_ledger(d);
    cr_assert_eq(APPEND(d,
                     "{\"subject\":\"Visit window for visit 4\",\"text\":\"Site 12 asks to widen "
                     "visit 4 to +/- 5 days.\"}",
                     "--as", "author.key", "--kind", "communication", "--study", "HX-301",
                     "--time", "2026-03-02T09:00:00+01:00"),
                 4);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Re: visit window\",\"text\":\"Agreed for site 12.\"}",
                     "--as", "decider.key", "--kind", "response", "--study", "HX-301", "--ref",
                     "4", "--time", "2026-03-03T10:30:00-05:00"),
                 5);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Protocol deviation accepted\"}", "--as", "decider.key",
                     "--kind", "decision", "--study", "HX-301", "--ref", "4", "--ref", "5"),
                 6);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Approved\"}", "--as", "approver.key", "--kind",
                     "approval", "--meaning", "approval", "--study", "HX-301", "--ref", "6"),
                 7);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Correction: site 14, not 12\"}", "--as", "author.key",
                     "--kind", "correction", "--study", "HX-301", "--ref", "4", "--reason",
                     "wrong site number, \"12\" was a typo"),
                 8);
    must(LDG(d, NULL, "keygen", "--name", "mallory", "--out", "mallory", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "mallory.pub", "--name",
           "=HYPERLINK(\"http://x.example\",\"click\")", "--org", "@Evil, \"Quoted\" Ltd",
           "--roles", "author"),
       "key add");
    cr_assert_eq(APPEND(d, "{\"subject\":\"+SUM(1,2)\",\"text\":\"line one\\nline two\"}", "--as",
                     "mallory.key", "--kind", "communication", "--study", "-HX-302"),
                 10);
    must(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
           "left the project"),
       "revoke");
    must(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    fixture_end();
}

void
flip_signature_bit(const char *dir, uint64_t seq, size_t at)
{
    uint8_t k[8];
    seq_key(seq, k);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(dir, "entries", k, 8, &v, &vl), 0, "entry %llu",
                 (unsigned long long)seq);
    uint8_t *sig = memmem(v, vl, "\xa3sig\xc4\x40", 6); /* "sig": bin8 of 64 bytes */
    cr_assert_not_null(sig);
    cr_assert_lt(at, 64);
    sig[6 + at] ^= 1;
    cr_assert_eq(lmdb_put_value(dir, "entries", k, 8, v, vl), 0);
    free(v);
}

pid_t
spawn_sh(const char *dir, const char *script)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        setpgid(0, 0);
        if (chdir(dir) != 0)
            _exit(127);
        setenv("LDG_LEDGER", "ledger", 1);
        unsetenv("LDG_PASSPHRASE_FILE");
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

char *
log_note_by_hand(const char *dir, unsigned long size, const char *root_b64)
{
    cr_assert_geq(sodium_init(), 0);
    char p[4200];
    snprintf(p, sizeof p, "%s/log.key", dir);
    char *kf = read_file(p, NULL);
    cr_assert_not_null(kf);
    char *sec = strstr(kf, "\nsecret: ");
    cr_assert_not_null(sec, "an unencrypted key file");
    uint8_t seed[32], pk[32], sk[64], sig[68], h[32];
    size_t n;
    cr_assert_eq(sodium_base642bin(seed, 32, sec + 9, 44, NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    free(kf);
    /* the signed-note key hash [KEY-2]: SHA-256("log" || 0x0A || 0x01 || pub), 4 bytes */
    uint8_t idmsg[37] = {'l', 'o', 'g', '\n', 0x01};
    memcpy(idmsg + 5, pk, 32);
    crypto_hash_sha256(h, idmsg, sizeof idmsg);
    memcpy(sig, h, 4);
    char text[256], b64[128];
    int tl = snprintf(text, sizeof text, "test.example/ledger\n%lu\n%s\n", size, root_b64);
    crypto_sign_detached(sig + 4, NULL, (const uint8_t *)text, (size_t)tl, sk);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(seed, sizeof seed);
    sodium_bin2base64(b64, sizeof b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    char *note = malloc(512);
    cr_assert_not_null(note);
    snprintf(note, 512, "%s\n\xe2\x80\x94 log %s\n", text, b64);
    return note;
}

run_result
ldg_at(const char *d, const char *when, const char *stdin_text, const char *const argv[])
{
    char asan[512];
    const char *old = getenv("ASAN_OPTIONS");
    /* ASan wants its runtime first; libfaketime is preloaded before it */
    snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", old ? old : "",
             old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME", when, 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("TZ", "UTC", 1); /* FAKETIME is read in local time */
    fixture_begin(); /* the appends build the ledger; what reads it is tested */
    run_result r = ldg_run(d, stdin_text, argv);
    fixture_end();
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    unsetenv("FAKETIME_NO_CACHE");
    if (old)
        setenv("ASAN_OPTIONS", old, 1);
    else
        unsetenv("ASAN_OPTIONS");
    return r;
}

/* ------------------------------------------------------------ nginx -- */

int
free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    close(s);
    return port;
}

static const char *
nginx_bin(void)
{
    static const char *c[] = {"/usr/sbin/nginx", "/usr/bin/nginx", NULL};
    for (int i = 0; c[i]; i++)
        if (access(c[i], X_OK) == 0)
            return c[i];
    return NULL;
}

pid_t
nginx_start(const char *d, const char *root, int *port)
{
    const char *ng = nginx_bin();
    cr_assert(ng, "nginx is installed by `make deps` (DEB_PKGS)");
    *port = free_port();
    char conf[9000];
    snprintf(conf, sizeof conf,
             "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/nginx.err;\n"
             "events { worker_connections 16; }\n"
             "http {\n access_log %s/nginx.log;\n client_body_temp_path %s/ngx-body;\n"
             " proxy_temp_path %s/ngx-proxy;\n fastcgi_temp_path %s/ngx-fcgi;\n"
             " uwsgi_temp_path %s/ngx-uwsgi;\n scgi_temp_path %s/ngx-scgi;\n"
             " default_type application/octet-stream;\n"
             " server {\n  listen 127.0.0.1:%d;\n  root %s;\n }\n}\n",
             d, d, d, d, d, d, d, d, *port, root);
    write_file(d, "nginx.conf", conf);
    char cpath[4200], epath[4200];
    snprintf(cpath, sizeof cpath, "%s/nginx.conf", d);
    snprintf(epath, sizeof epath, "%s/nginx.err", d);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork");
    if (pid == 0) {
        execl(ng, "nginx", "-e", epath, "-p", d, "-c", cpath, (char *)NULL);
        _exit(127);
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)*port)};
    for (int tries = 0; tries < 200; tries++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return pid;
        nanosleep(&(struct timespec){0, 25000000}, NULL);
    }
    nginx_stop(pid);
    cr_assert_fail("nginx did not listen on 127.0.0.1:%d", *port);
    return -1;
}

void
nginx_stop(pid_t pid)
{
    int status;
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
}

void
killed_on_purpose(pid_t pid)
{
    note_killed((long)pid);
}

int
str_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}
