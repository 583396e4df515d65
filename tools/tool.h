/*
 * tool.h - shared pieces of the `ldg` program: exit codes (DESIGN.md "The
 * command line"), one-line error reporting, option parsing, passphrases,
 * ledger location.  The program uses only the public API in ldg.h.
 */
#ifndef LDG_TOOL_H
#define LDG_TOOL_H

#include "ldg.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Exit codes: stable, documented in ldg(1) and README.md. */
enum {
    EXIT_OK = 0,
    EXIT_INTEGRITY = 1, /* verify found an integrity failure */
    EXIT_USAGE = 2,     /* usage error or bad input; nothing written */
    EXIT_POLICY = 3,    /* refused by policy; nothing written */
    EXIT_OPER = 4,      /* operational error: I/O, disk full, lock */
};

extern const char *tool_cmd; /* "append", "key add", ... for messages */

/*
 * When set (per thread), error messages are written here (TOOL_CAPTURE_MAX
 * bytes) instead of stderr: worker threads report, and the main thread
 * prints the one line that matters.
 */
#define TOOL_CAPTURE_MAX 600
extern _Thread_local char *tool_capture;

/* Prints "ldg CMD: message" on stderr and returns the exit code for the status. */
int tool_fail(const ldg_err *err);
int tool_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tool_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tool_exit_code(ldg_status s);

/* Options: argv[i] is "--name VALUE" or "--name=VALUE"; advances i. */
bool opt_val(int argc, char **argv, int *i, const char *name, const char **val);
bool opt_flag(char **argv, int i, const char *name);

/* One option of a command: a value (val), a flag (flag), or repeatable (many). */
typedef struct opt_spec {
    const char *name;
    const char **val;
    bool *flag;
    const char **many; /* up to max values, counted in *count */
    size_t *count;
    size_t max;
} opt_spec;
#define OPT_VAL(n, p)                                                                              \
    {                                                                                              \
        .name = (n), .val = (p)                                                                    \
    }
#define OPT_FLAG(n, p)                                                                             \
    {                                                                                              \
        .name = (n), .flag = (p)                                                                   \
    }
#define OPT_MANY(n, arr, cnt, mx)                                                                  \
    {                                                                                              \
        .name = (n), .many = (arr), .count = (cnt), .max = (mx)                                    \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        .name = NULL                                                                               \
    }
/*
 * Parses argv[first..] against specs (ended by a NULL name).  Arguments not
 * starting with '-' fill pos[0..npos) in order.  Returns EXIT_OK, EXIT_USAGE
 * after one line on stderr, or -1 after printing help (the command then
 * exits 0).
 */
int opt_parse(int argc, char **argv, int first, const opt_spec *specs, const char *help,
              const char **pos, size_t npos);
/* --jobs N: 1..256. */
int opt_jobs(const char *v, unsigned *jobs);

const char *tool_ledger_dir(const char *opt);
int tool_open_ledger(const char *opt_dir, unsigned flags, ldg_ledger **out);
/*
 * Binds a statement to ledger l [POL-8][POL-10]: f->origin = its origin
 * (kept in origin[]) and, when observe is set, f->observed = its head.
 * Returns an exit code.
 */
int tool_bind(ldg_ledger *l, ldg_fields *f, bool observe, char origin[LDG_TEXT_MAX + 1]);
/* Loads a secret key, asking for its passphrase as documented; returns an exit code. */
int tool_load_key(const char *path, const char *passfile, ldg_key **out);
/* Reads a passphrase for a new key (file, env, or twice on the terminal). */
int tool_new_passphrase(const char *passfile, char **pass, size_t *len);
void tool_free_passphrase(char *pass);

/* Reads a whole file ("-" = stdin) up to max bytes; malloc'd, NUL-terminated. */
int tool_read_file(const char *path, size_t max, char **out, size_t *len);
bool parse_u64(const char *s, uint64_t *v);
/*
 * A ref given as a seq (resolved through l, may be NULL) or 64 hex / 44 base64
 * chars.  where (may be NULL) prefixes the one-line error, e.g. "b.jsonl: line 2".
 */
int tool_parse_ref(ldg_ledger *l, const char *s, const char *where, uint8_t out[LDG_HASH_BYTES]);
/* A parsed ref (s: its text, for messages) as a leaf hash, resolving a seq through l. */
int tool_resolve_ref(ldg_ledger *l, const ldg_ref *r, const char *s, const char *where,
                     uint8_t out[LDG_HASH_BYTES]);
void tool_b64(const uint8_t *p, size_t n, char *out, size_t cap);
/* A JSON string of base64(p) (NULL when out of memory). */
json_t *tool_b64_json(const uint8_t *p, size_t n);
/* Prints o compact on one line and releases it; an exit code. */
int tool_print_json(json_t *o);
/*
 * A copy of untrusted text safe to print on a terminal (emit.h ESC_TEXT:
 * controls, bytes that are not UTF-8 and bidi/zero-width characters
 * escaped), so a signer cannot forge lines, move the cursor or reorder
 * text.  malloc'd.  em_t() in emit.h is the same for one printf argument.
 */
char *tool_printable(const char *s);
/*
 * o as compact JSON on one line (malloc'd; NULL when out of memory) with
 * DEL, C1 and bidi/zero-width characters as \uXXXX escapes.  Every JSON
 * line `ldg` prints goes through it.
 */
char *tool_json_dumps(const json_t *o);
/* A JSON string of untrusted text (NULL: null); bytes that are not UTF-8 become U+FFFD. */
json_t *tool_json_text(const char *s);
/* A UTC offset in minutes as "+02:00" / "-05:00" (|tz| at most 1080, as statements allow). */
void tool_utc_offset(int32_t tz_min, char out[8]);

int cmd_keygen(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_append(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_proof(int argc, char **argv);
int cmd_verify_proof(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_verify_bundle(int argc, char **argv);
int cmd_erase(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_review(int argc, char **argv);
/*
 * The review a bundle carries [EXP-8]: `ldg review --json` lines to json and
 * its page to html, over what o selects (the bundle's checkpoint, upto_size);
 * *intact says whether the review's own verify found the ledger whole.
 */
int review_for_bundle(ldg_ledger *l, const char *origin, ldg_review_opts *o, FILE *json, FILE *html,
                      int *intact);
int cmd_publish(int argc, char **argv);
int cmd_mirror(int argc, char **argv);

/*
 * A witness policy from the command line [CKP-7]: `--witness W.pub`
 * (repeatable) and `--quorum N`, for verify, verify-proof and verify-bundle.
 * tool_witnesses_load reads and checks them (exit 2 for --quorum without
 * --witness, a quorum of 0 or above the distinct keys, an unreadable key);
 * the check itself is the library's ldg_checkpoint_witnessed.
 */
typedef struct tool_witnesses {
    const char *files[LDG_WITNESS_KEYS_MAX];
    size_t n;
    const char *quorum_text;
    char *lines[LDG_WITNESS_KEYS_MAX];
    size_t quorum; /* 0: every distinct key */
} tool_witnesses;
#define OPT_WITNESSES(w)                                                                           \
    OPT_MANY("--witness", (w)->files, &(w)->n, LDG_WITNESS_KEYS_MAX),                              \
        OPT_VAL("--quorum", &(w)->quorum_text)
int tool_witnesses_load(tool_witnesses *w);
/*
 * EXIT_OK when note meets the policy; else EXIT_INTEGRITY with why (one line
 * naming the witnesses that did not count), or EXIT_USAGE/EXIT_OPER after a
 * line on stderr.  logpub: the trusted log key, or NULL.
 */
int tool_witnesses_check(const tool_witnesses *w, const char *note, size_t len,
                         const uint8_t *logpub, char *why, size_t whylen);
void tool_witnesses_free(tool_witnesses *w);
int cmd_witness(int argc, char **argv);

/*
 * `ldg checkpoint --as LOG.key --witness W.pub=URL|exec:CMD ... [--quorum N]
 * [--timeout S]` (spec/witness.md [WIT-8]): collect_parse reads the
 * witnesses' keys and targets before anything is signed (exit 2 for bad
 * usage); collect_run asks each witness to cosign note, stores the
 * cosignatures that verify [CKP-8] and returns *stored, the note stored
 * (malloc'd), with the exit code: 0 quorum met, 1 a witness's answer shows
 * another history (fork, rollback, bad proof), 4 quorum not met otherwise.
 */
typedef struct collect_witness collect_witness;
typedef struct collect_plan {
    collect_witness *w;
    size_t n;
    size_t quorum;
    uint64_t timeout; /* seconds per exchange */
} collect_plan;
int collect_parse(const char *const *args, size_t n, const char *quorum_text,
                  const char *timeout_text, const uint8_t *logpub, collect_plan *plan);
int collect_run(ldg_ledger *l, const uint8_t *logpub, const char *note, size_t len,
                collect_plan *plan, char **stored, size_t *stored_len);
void collect_free(collect_plan *plan);

/*
 * A file a command writes (outfile.c), opened before the long part of the
 * work [fail fast]: tool_out_open refuses a name already taken (exit 2) and a
 * place where no file can be created (exit 4) at once, and writes to a file
 * beside out: an anonymous O_TMPFILE where the file system allows it (a run
 * killed even by SIGKILL leaves nothing behind), else a mkstemp name removed
 * on every failure the process lives to see.  tool_out_publish gives the
 * finished, synced file the name out (never replacing a file) and syncs the
 * directory; tool_out_close closes the stream, drops the temporary name (and
 * out, if the close failed) and returns rc or the close's failure.
 */
typedef struct tool_out {
    int fd;
    char *path; /* the mkstemp name; NULL for an anonymous file */
    char *dir;  /* out's directory, synced after the link */
} tool_out;
int tool_out_open(const char *out, tool_out *t, FILE **f);
int tool_out_publish(const tool_out *t, const char *out);
int tool_out_close(tool_out *t, FILE *f, const char *out, int rc);

#endif
