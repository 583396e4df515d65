/*
 * helpers.h - shared test helpers: run the real `ldg` binary ($LDG_BIN) on
 * real LMDB files in a fresh temporary directory, capture its output and
 * exit status; build small ledgers; reach into LMDB to tamper with them.
 */
#ifndef LDG_TEST_HELPERS_H
#define LDG_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct run_result {
    int status;   /* exit status, or 128+signal */
    char *out;    /* stdout, NUL-terminated */
    char *err;    /* stderr, NUL-terminated */
} run_result;

/* A fresh directory under $TMPDIR, up to four a test; tmp_cleanup removes them all. */
const char *tmp_dir(void);
void tmp_cleanup(void);

/*
 * Slow runs (`make check-valgrind`).  Every Criterion `.timeout` is
 * multiplied by $LDG_TEST_TIMEOUT_SCALE (a number > 0; default 1) before the
 * first test starts, by a hook in helpers.c, so a test needs nothing for it;
 * test_timeout_scale() gives the factor to timeouts a test keeps itself.
 * test_slow() is true when LDG_TEST_SLOW=1: the heaviest loops then run
 * fewer rounds (they say how many).
 */
double test_timeout_scale(void);
int test_slow(void);

/* Path of the ldg binary under test. */
const char *ldg_bin(void);

/*
 * Fixtures.  Between fixture_begin() and fixture_end() (they nest),
 * ldg_run starts $LDG_FIXTURE_BIN, when set, instead of $LDG_BIN.
 * check-valgrind points it at the plain binary: make_ledger alone is nine
 * `ldg` runs in nearly every test, each a second under memcheck, and the
 * same commands are tested under memcheck where they are the subject
 * (test_smoke, test_cli).  make_ledger and make_trail are fixtures.
 */
void fixture_begin(void);
void fixture_end(void);

/*
 * Runs `ldg` with the given arguments (NULL-terminated), cwd = dir, optional
 * stdin text (NULL: /dev/null).  The environment gets LDG_LEDGER=dir/ledger
 * and no LDG_PASSPHRASE_FILE unless set_env was called.
 */
run_result ldg_run(const char *dir, const char *stdin_text, const char *const argv[]);
#define LDG(dir, in, ...) ldg_run((dir), (in), (const char *const[]){__VA_ARGS__, NULL})
void run_free(run_result *r);
/* How many times needle occurs in hay, none overlapping. */
int str_count(const char *hay, const char *needle);

/*
 * As ldg_run, with stdin a pipe that a child process fills by calling
 * feed(fd, ctx) (NULL: /dev/null), so input of any size is made on the fly
 * and never written to disk.  *maxrss_kb is the peak resident set of the
 * ldg process alone (wait4's ru_maxrss, KiB).
 */
/*
 * ldg_run with the host clock frozen at `when` (libfaketime's "YYYY-MM-DD
 * hh:mm:ss"), as a fixture: the appends that build a ledger's history.
 */
#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
run_result ldg_at(const char *dir, const char *when, const char *stdin_text,
                  const char *const argv[]);
run_result ldg_run_fed(const char *dir, const char *const argv[], void (*feed)(int fd, void *ctx),
                       void *ctx, long *maxrss_kb);

/* Writes a file (mode 0644); aborts the test on failure. */
void write_file(const char *dir, const char *name, const char *text);
/* Reads a whole file; malloc'd. */
char *read_file(const char *path, size_t *len);

/*
 * Makes a ledger in dir/ledger with unencrypted keys: log, admin, author
 * ("Carla Rossi", Acme CRO, author), decider ("Dr Sam Patel", Helix Pharma,
 * author,decider), approver ("Quinn Avery", Helix Pharma, approver).
 * Key files: dir/{log,admin,author,decider,approver}.{key,pub}.
 * Afterwards the ledger has 4 entries (seq 0..3): genesis and three key.add.
 */
void make_ledger(const char *dir);

/*
 * Appends one record (body from the text, the rest from args, NULL-ended)
 * and returns its seq; fails the test if append fails.
 */
long append_record(const char *dir, const char *body, const char *const *args);
#define APPEND(d, body, ...) append_record((d), (body), (const char *const[]){__VA_ARGS__, NULL})
/*
 * make_ledger, then a realistic trail: 4 CRO communication (claimed in
 * UTC+01:00), 5 sponsor response (UTC-05:00), 6 decision, 7 approval,
 * 8 correction of 4, 9 key.add of "mallory" (printed name and organisation
 * are formula and CSV bait), 10 its communication (study "-HX-302"),
 * 11 revocation of the author's key; then a checkpoint by the log key.
 */
void make_trail(const char *dir);

/*
 * A checkpoint note [CKP-1] of origin test.example/ledger (make_ledger's),
 * size and root (standard base64), signed by hand with the seed of the
 * unencrypted dir/log.key [KEY-3], as a host holding the log key could
 * sign one without ldg's checks.  malloc'd.
 */
char *log_note_by_hand(const char *dir, unsigned long size, const char *root_b64);

/* The number of entries `ldg verify --json` reports (or -1). */
long ledger_size(const char *dir);
/*
 * A test is about to SIGKILL pid (an ldg it started) on purpose: under
 * `make check-valgrind` (LDG_VG_KILLED names a directory) it is noted there,
 * so that the memcheck scan does not count its unfinished log as a failure.
 */
void killed_on_purpose(pid_t pid);
/* Asserts that a run exited 0 (what names it, with its output), then frees it. */
void must(run_result r, const char *what);
/*
 * A refusal by policy: exit 3, one line on stderr holding needle, and the
 * ledger in dir still `size` entries long (nothing written); frees r.
 * policy_refused_cleanly also wants that line to name the command ("ldg
 * ...") and nothing printed on stdout.
 */
void policy_refused(const char *dir, run_result r, const char *needle, long size);
void policy_refused_cleanly(const char *dir, run_result r, const char *needle, long size);

/* "dir/name" in one of 8 static buffers used in turn (a call holds up to 8); asserts it fits. */
char *path_in(const char *dir, const char *name);
/* The whole file dir/name (malloc'd; asserts it is there); *len its length when len is given. */
char *read_in(const char *dir, const char *name, size_t *len);

/*
 * From `ldg show SEQ --json`: the record's leaf hash as lowercase hex and,
 * when host_utc is not NULL, its host time (the ledger's time of record)
 * as "YYYY-MM-DDThh:mm:ssZ".
 */
void show_facts(const char *dir, long seq, char host_utc[21], char leaf_hex[65]);

/*
 * A table parsed as strict RFC 4180: CRLF rows, quoted cells with ""
 * escapes, no quote in an unquoted cell, every row as wide as the header
 * (row 0).  csv_free it.
 */
typedef struct csv {
    char **cell; /* rows * cols */
    size_t rows, cols;
} csv;
csv csv_parse(const char *text);
void csv_free(csv *c);
/* The cell of column col (asserted to exist) in row `row`. */
const char *csv_cell(const csv *c, size_t row, const char *col);
/* The cell of column col (asserted to exist) in the row whose first cell is seq; NULL when none. */
const char *csv_cell_of_seq(const csv *c, long seq, const char *col);

/*
 * tests/fault.c as built beside the binary under test
 * (build/tests/libfault.so beside build/ldg): fault_on preloads it into
 * the ldg runs that follow with var=n (LDG_FAULT_AFTER: every write and
 * sync of data.mdb fails with ENOSPC from the nth on; LDG_FAULT_KILL_RENAME:
 * SIGKILL at the nth rename), fault_off takes it away again.
 */
const char *fault_lib(void);
void fault_on(const char *var, long n);
void fault_off(void);

/* LMDB surgery on dir/ledger for tamper tests (all return 0 on success). */
int lmdb_get_value(const char *dir, const char *db, const void *key, size_t kl, void **val,
                   size_t *vl);
int lmdb_put_value(const char *dir, const char *db, const void *key, size_t kl, const void *val,
                   size_t vl);
int lmdb_del_key(const char *dir, const char *db, const void *key, size_t kl);
/*
 * The stored Merkle tree [STO-6], worked out here from the spec's text (a
 * band of 4 levels, a record per cluster, hashes in the order the ledger
 * completes them), not from the library's code: the record's key and the
 * hash's place in it.  TREE_DB is the database's name.
 */
#define TREE_DB "tree-bands"
void tree_slot(unsigned level, uint64_t index, uint8_t key[9], unsigned *pos);
/* Node (level, index) of dir/ledger: read, overwritten in place, or cut off with all after it. */
int tree_node_get(const char *dir, unsigned level, uint64_t index, uint8_t out[32]);
int tree_node_put(const char *dir, unsigned level, uint64_t index, const uint8_t h[32]);
int tree_node_cut(const char *dir, unsigned level, uint64_t index);
/*
 * Starts `sh -c script` in dir, in its own process group (kill(-pid) stops
 * it and its children), with LDG_LEDGER=ledger; returns its pid.
 */
pid_t spawn_sh(const char *dir, const char *script);
/* Flips one bit of byte `at` (0..63) of entry seq's stored signature. */
void flip_signature_bit(const char *dir, uint64_t seq, size_t at);
/* The 8-byte big-endian key of entry seq. */
void seq_key(uint64_t seq, uint8_t out[8]);
/* The leaf-hash index [STO-1]: its database and an entry's key, epoch (seq >> 18, 4 bytes BE) || leaf. */
#define LEAF_DB "leaf-by-epoch"
void leaf_index_key(const uint8_t leaf[32], uint64_t seq, uint8_t out[36]);

/* A free TCP port on 127.0.0.1 (bound, read, closed). */
int free_port(void);
/*
 * Starts Debian's nginx (installed by `make deps`) in the foreground on
 * 127.0.0.1, serving root, its config, logs and temp files in dir; returns
 * its pid once it accepts connections (*port says where).  Stop it with
 * nginx_stop.
 */
pid_t nginx_start(const char *dir, const char *root, int *port);
void nginx_stop(pid_t pid);

#endif
