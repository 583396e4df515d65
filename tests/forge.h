/*
 * forge.h - test helpers that play a host holding the ledger's files and
 * the log key: records forged through the library past the policy, and
 * bundles (ustar files) read, rewritten and signed again.  Shared by
 * test_sod and test_bundle; needs the library's internals (internal.h).
 */
#ifndef LDG_TEST_FORGE_H
#define LDG_TEST_FORGE_H

#include "internal.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------ tarballs -- */

#define TAR_MAX 16 /* members of a tarball: a bundle has 14 */

typedef struct tar_member {
    char name[100]; /* as in the tar header: "ldg-bundle/NAME" */
    char *data;     /* NUL-terminated */
    size_t len;
} tar_member;

typedef struct tarball {
    tar_member m[TAR_MAX];
    size_t n;
} tarball;

/* Reads a ustar file into memory (asserts it is there); tar_free it. */
tarball tar_load(const char *path);
/* Writes t as a ustar file. */
void tar_save(const tarball *t, const char *path);
void tar_free(tarball *t);
/* The member ldg-bundle/NAME of a bundle (asserted to exist). */
tar_member *tar_get(tarball *t, const char *name);
/* Replaces m's data with data (malloc'd, NUL-terminated; m owns it). */
void tar_set(tar_member *m, char *data);

/* Line i (0-based) of a JSON Lines member, parsed (asserted); json_decref it. */
json_t *jsonl_line(tar_member *m, size_t i);
/* Replaces line i of a JSON Lines member with o (NULL: removes the line). */
void jsonl_put_line(tar_member *m, size_t i, json_t *o);

/* ------------------------------------------------------- bundles -- */

/* Rewrites manifest.json's sizes and hashes to match the files, as a forger would. */
void bundle_fix_manifest(tarball *t);
/* Signs manifest.sig again by logk [EXP-8]: manifest.json's line first, then the tar's order. */
void bundle_sign_manifest(tarball *t, const ldg_key *logk);
/*
 * One evidence line [EXP-8] of entry seq (whose body is asserted to be
 * there), proven in the tree of size n; malloc'd.
 */
char *bundle_evidence(ldg_ledger *l, uint64_t seq, uint64_t n);
/*
 * The bundle the log key's holder makes of a forged ledger: the genuine
 * bundle dir/template (exported before the forgery) with every key record
 * of the first n entries, the user records recs[0..nrecs), a checkpoint of
 * n signed by hand with dir/log.key, manifest.json fixed to match and
 * manifest.sig signed again by the log key; written to dir/out.
 */
void bundle_forge(const char *dir, ldg_ledger *l, uint64_t n, const uint64_t *recs, size_t nrecs,
                  const char *template, const char *out);

/* --------------------------------------------------------- forging -- */

/* The ldgi_str of a C string (it points into s). */
ldgi_str str_lit(const char *s);
/* The unencrypted key dir/NAME.key (asserted to load); ldg_key_free it. */
ldg_key *load_key(const char *dir, const char *name);

typedef struct forge_opts {
    int64_t stmt_time_ns; /* the statement's time; 0: the entry's (one past the head's) */
    bool entries_only;    /* write the entry, body, leaf hash, commitment and tree only: not the
                             study, kind, actor and keys indexes (verify reports those too) */
} forge_opts;

/*
 * Appends st (body "{}"), signed by k, as the next entry without the
 * policy: what a host with write access to the LMDB file can do.  o NULL:
 * every index a genuine append writes (and the key registry's row of a
 * key.add), the statement timed as the entry.  Returns the seq.
 */
uint64_t forge_record(ldg_ledger *l, const ldg_key *k, ldgi_stmt *st, const forge_opts *o);

/* The (seq, check) of every FAIL of a --json verify run, as "seq:check;" pairs; malloc'd. */
char *verify_failures(const char *out);

#endif
