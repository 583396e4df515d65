/*
 * ldg.h - the one public header of libldg, an audit-grade append-only ledger.
 *
 * A record is a *statement* signed by its author (Ed25519) and wrapped by the
 * ledger into an *entry* that fixes its place in history (sequence number,
 * host time, hash of the previous entry).  Entries live in LMDB; bodies (JSON
 * objects) are stored apart and bound to the statement by a salted SHA-256
 * commitment.  The byte formats are normative in spec/format.md; section IDs
 * such as [FMT-3] in this header refer to it.
 *
 * Conventions of the whole API:
 *  - Every fallible function returns an ldg_status and, when `err` is not
 *    NULL, fills it with the status, a one-line message saying what and where,
 *    and (for batches) the 0-based index of the item at fault.
 *  - Whoever creates, destroys: every *_free / *_close accepts NULL.
 *  - The library never prints, exits or reads the environment.
 *  - Handles are not thread-safe unless a function says otherwise; distinct
 *    handles may be used from distinct threads.
 */
#ifndef LDG_H
#define LDG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LDG_EXPORT __attribute__((visibility("default")))
#define LDG_NODISCARD __attribute__((warn_unused_result))
#else
#define LDG_EXPORT
#define LDG_NODISCARD
#endif

#define LDG_HASH_BYTES 32     /* SHA-256 */
#define LDG_PUB_BYTES 32      /* Ed25519 public key */
#define LDG_SIG_BYTES 64      /* Ed25519 signature */
#define LDG_SALT_BYTES 32     /* body commitment salt [FMT-6] */
#define LDG_BODY_MAX 1048576u /* largest body, bytes of canonical JSON [FMT-6] */
#define LDG_TEXT_MAX 4096u    /* largest reason / printed name / org, bytes */
#define LDG_STUDY_MAX 128u    /* largest study identifier, bytes */
#define LDG_NAME_MAX 128u     /* largest key name (signed-note name), bytes */
#define LDG_REFS_MAX 64u      /* most references in one statement */
#define LDG_VKEY_MAX 256u     /* buffer size that holds any verifier-key line */
/*
 * Longest lines of the line-oriented inputs, refused before they are parsed
 * (spec/format.md Limits, [INP-1], [FMT-8]; spec/export.md [EXP-8]).
 */
#define LDG_INPUT_LINE_MAX (LDG_BODY_MAX + 65536u)        /* a batch line [INP-1] */
#define LDG_SIGNED_LINE_MAX (3u * LDG_BODY_MAX / 2u)      /* a signed-statement line [FMT-8] */
#define LDG_BUNDLE_LINE_MAX (2u * LDG_BODY_MAX + 131072u) /* a bundle evidence line [EXP-8] */
#define LDG_BUNDLE_MAX ((size_t)512 << 20)                /* bytes of a bundle file [EXP-9] */
#define LDG_MANIFEST_MAX (1u << 20)                       /* bytes of a bundle's manifest.json */

/* Status codes.  Stable: codes are only ever added, never renumbered. */
typedef enum ldg_status {
    LDG_OK = 0,
    LDG_E_USAGE = 1,      /* the caller passed an invalid argument */
    LDG_E_INPUT = 2,      /* malformed input: JSON, key file, statement file */
    LDG_E_POLICY = 3,     /* refused by policy: key unknown/revoked/unauthorised, rule broken */
    LDG_E_BADSIG = 4,     /* a signature does not verify */
    LDG_E_PASSPHRASE = 5, /* wrong passphrase, or key file tampered with */
    LDG_E_KEYPERM = 6,    /* secret key file readable by group or others */
    LDG_E_EXISTS = 7,     /* target already exists (ledger, key file) */
    LDG_E_NOTFOUND = 8,   /* no such ledger, record or key */
    LDG_E_CORRUPT = 9,    /* stored data is not what the format allows */
    LDG_E_IO = 10,        /* operating-system or LMDB failure */
    LDG_E_NOMEM = 11,     /* allocation failed */
    LDG_E_FULL = 12,      /* disk or map full and could not grow */
} ldg_status;

typedef struct ldg_err {
    ldg_status status;
    long index;    /* item of a batch at fault, or -1 */
    char msg[512]; /* one line, no trailing newline */
} ldg_err;

/* Text of a status code; never NULL, static storage. */
LDG_EXPORT const char *ldg_strerror(ldg_status s);

/* Library version string, e.g. "0.1.0". */
LDG_EXPORT const char *ldg_version(void);

/* One-time initialisation (libsodium).  Thread-safe, idempotent. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_init(ldg_err *err);

/* ---------------------------------------------------------------- keys -- */

/* A secret Ed25519 key with its name; held in sodium_malloc'd memory. */
typedef struct ldg_key ldg_key;

/* Creates a fresh key pair named `name` (signed-note key name rules [KEY-1]). */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_key_generate(const char *name, ldg_key **out, ldg_err *err);

/*
 * Writes PREFIX.key (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600) and PREFIX.pub
 * (the verifier-key line [KEY-2]).  With `pass` non-NULL the secret is sealed
 * with Argon2id + XChaCha20-Poly1305 [KEY-3]; with `pass` NULL it is written
 * in the clear (still 0600).  Neither file exists on failure.
 * Returns LDG_E_EXISTS if either file exists, LDG_E_IO otherwise.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_key_save(const ldg_key *k, const char *prefix,
                                                 const char *pass, size_t passlen, ldg_err *err);

/* 1 if the key file at `path` is passphrase-protected, 0 if not; <0 if unreadable. */
LDG_EXPORT int ldg_key_file_encrypted(const char *path);

/*
 * Loads a secret key file.  Refuses (LDG_E_KEYPERM) a file that group or
 * others may read or write, LDG_E_PASSPHRASE when the passphrase is wrong or
 * the file was altered, LDG_E_INPUT when it is not a key file.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_key_load(const char *path, const char *pass, size_t passlen,
                                                 ldg_key **out, ldg_err *err);
LDG_EXPORT void ldg_key_free(ldg_key *k);
LDG_EXPORT const char *ldg_key_name(const ldg_key *k); /* valid while k lives */
LDG_EXPORT void ldg_key_public(const ldg_key *k, uint8_t pub[LDG_PUB_BYTES]);

/* Formats the verifier-key line "name+hhhhhhhh+base64(0x01||pub)" [KEY-2]. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_vkey_format(const char *name,
                                                    const uint8_t pub[LDG_PUB_BYTES],
                                                    char out[LDG_VKEY_MAX], ldg_err *err);
/* Parses one verifier-key line (a trailing newline is allowed); checks the key hash. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_vkey_parse(const char *line, size_t len,
                                                   char name[LDG_NAME_MAX + 1],
                                                   uint8_t pub[LDG_PUB_BYTES], ldg_err *err);
/* Reads a .pub file holding one verifier-key line. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_vkey_read(const char *path, char name[LDG_NAME_MAX + 1],
                                                  uint8_t pub[LDG_PUB_BYTES], ldg_err *err);

/* ----------------------------------------------------------- statements -- */

/* What an actor states; plain data, all pointers borrowed for the call. */
typedef struct ldg_fields {
    const char *kind;  /* one of the kinds in [POL-1] */
    const char *study; /* study identifier; "" for system kinds */
    size_t nrefs;
    const uint8_t (*refs)[LDG_HASH_BYTES]; /* leaf hashes of referenced entries */
    const char *meaning;                   /* NULL, or review|approval|responsibility|authorship */
    const char *reason;                    /* NULL, or the reason (corrections, revocations) */
    const char *body;                      /* JSON object text; NULL means "{}" */
    size_t body_len;
    int has_time;     /* 0: the signer's clock now, and its local offset */
    int64_t time_ns;  /* claimed time, UTC nanoseconds since 1970 */
    int32_t tz_min;   /* originating UTC offset, minutes */
    int has_observed; /* 1: bind to the chain head the signer saw */
    uint64_t observed_size;
    uint8_t observed_head[LDG_HASH_BYTES];
    /* key.add: all five; key.revoke: key_pub only; genesis: all five + origin */
    const uint8_t *key_pub;
    const char *key_id;    /* the key's signed-note name */
    const char *key_name;  /* printed name (21 CFR 11.50) */
    const char *key_org;   /* organisation */
    const char *key_roles; /* comma-separated roles [POL-2] */
    const char *origin;    /* the ledger the statement is for [POL-10]; NULL: unbound */
} ldg_fields;

/* A signed statement with its body: what `ldg sign` writes and `append --signed` reads. */
typedef struct ldg_signed ldg_signed;

/*
 * Builds, encodes and signs a statement [FMT-2][FMT-4].  Checks the fields'
 * shape (LDG_E_INPUT: unknown kind, bad JSON with line and column, invalid
 * UTF-8, oversize body...), not the ledger's policy.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_sign(const ldg_key *k, const ldg_fields *f,
                                             ldg_signed **out, ldg_err *err);
/*
 * Signs n statements, spreading the Ed25519 work over `jobs` threads (0: all
 * cores).  out[] receives n handles, or none on failure (err->index names the
 * first bad item).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_sign_many(const ldg_key *k, const ldg_fields *f, size_t n,
                                                  unsigned jobs, ldg_signed **out, ldg_err *err);
LDG_EXPORT void ldg_signed_free(ldg_signed *s);

/* Checks the signature and shape of a signed statement, offline. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_signed_check(const ldg_signed *s, ldg_err *err);

/*
 * The signed-statement line format [FMT-8]: one JSON object, one line, no
 * newline.  *line is malloc'd; free() it.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_signed_to_line(const ldg_signed *s, char **line,
                                                       size_t *len, ldg_err *err);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_signed_from_line(const char *line, size_t len,
                                                         ldg_signed **out, ldg_err *err);

/* The exact statement bytes and body bytes; valid while s lives. */
LDG_EXPORT const uint8_t *ldg_signed_statement(const ldg_signed *s, size_t *len);
LDG_EXPORT const uint8_t *ldg_signed_body(const ldg_signed *s, size_t *len);

/* -------------------------------------------------------- record input -- */

/* A reference to an earlier entry as a user writes it: a sequence number or a leaf hash. */
typedef struct ldg_ref {
    int is_seq;   /* 1: seq is set (resolve it with ldg_ledger_leaf_hash); 0: hash is set */
    uint64_t seq; /* at most 19 decimal digits on input */
    uint8_t hash[LDG_HASH_BYTES];
} ldg_ref;

/*
 * Parses s[0..len) as a ref: 1 to 19 decimal digits (a seq), or a leaf hash
 * as 64 hex digits or 44 characters of standard base64 [INP-2].  LDG_E_INPUT
 * otherwise, with the message "ref TEXT: expected ...".  No ledger needed.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_ref_parse(const char *s, size_t len, ldg_ref *out,
                                                  ldg_err *err);

/*
 * One record as JSON input (a line of `ldg append --batch`, spec/format.md
 * [INP-1]), parsed and shape-checked but not yet signed.  Every pointer is
 * owned by the struct: release with ldg_input_clear.
 */
typedef struct ldg_input {
    char *kind, *study;     /* never NULL after LDG_OK */
    char *meaning, *reason; /* NULL when absent or JSON null */
    size_t nrefs;
    ldg_ref refs[LDG_REFS_MAX]; /* seqs still to be resolved against a ledger */
    int has_time;
    int64_t time_ns;
    int32_t tz_min;
    char *body; /* compact JSON, keys sorted [FMT-6]; NULL when absent or null */
    size_t body_len;
} ldg_input;

/*
 * Parses one JSON object (any JSON whitespace, members in any order, no
 * duplicates, no other members) into *out.  lineno > 0 is the line of a
 * batch the text came from: every message then starts "line N: " (or "line
 * N, column C: " for a JSON syntax error); with 0, a syntax error names the
 * line and column within text.  Text longer than LDG_INPUT_LINE_MAX is
 * refused before it is parsed.  LDG_E_INPUT when malformed, LDG_E_NOMEM
 * (jansson reports some of its own failed allocations as malformed JSON);
 * *out is cleared on failure.  Thread-safe (distinct out).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_input_parse(const char *text, size_t len, size_t lineno,
                                                    ldg_input *out, ldg_err *err);
LDG_EXPORT void ldg_input_clear(ldg_input *in); /* accepts NULL; leaves *in zeroed */

/*
 * Batch input (JSON Lines): finds the next line of text[0..len) from *pos
 * that is not blank (spaces, tabs, CR), and returns 1 with *line pointing
 * into text and *line_len its length without the LF; *lineno counts every
 * line passed, blank ones too (start it and *pos at 0).  Returns 0 at the
 * end.  Never reads outside text[0..len); a NUL is an ordinary byte.
 */
LDG_EXPORT int ldg_input_next_line(const char *text, size_t len, size_t *pos, size_t *lineno,
                                   const char **line, size_t *line_len);

/* -------------------------------------------------------------- ledger -- */

typedef struct ldg_ledger ldg_ledger;

#define LDG_OPEN_READONLY 1u
/*
 * Checks the structure of the LMDB file (every page of the snapshot read at
 * open) before LMDB reads it: damage is LDG_E_CORRUPT, never a crash
 * [STO-7].  For verifiers; costs one walk of the file's pages.
 */
#define LDG_OPEN_CHECKED 2u

/*
 * Creates ledger directory `dir` (which must not hold a ledger) and writes
 * the genesis entry, signed by the log key, pinning the origin, the log
 * public key and the first admin key [FMT-9].
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_ledger_create(const char *dir, const char *origin,
                                                      const ldg_key *logkey,
                                                      const uint8_t admin_pub[LDG_PUB_BYTES],
                                                      const char *admin_id, const char *admin_name,
                                                      const char *admin_org, ldg_err *err);

/* Opens an existing ledger.  LDG_E_NOTFOUND when `dir` holds none. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_ledger_open(const char *dir, unsigned flags,
                                                    ldg_ledger **out, ldg_err *err);
LDG_EXPORT void ldg_ledger_close(ldg_ledger *l);
/*
 * Rebuilds the ledger's leaf-hash and statement indexes from its entries
 * [STO-1], retiring those of the layout before 2026-12, in steps of bounded
 * memory; *entries (if not NULL): how many were indexed.  Run with no writer.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_reindex(const char *dir, uint64_t *entries, ldg_err *err);

/* Current size (number of entries) and head (leaf hash of the last entry). */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_ledger_head(ldg_ledger *l, uint64_t *size,
                                                    uint8_t head[LDG_HASH_BYTES], ldg_err *err);
/* The ledger's origin, from its genesis [FMT-9]; out holds LDG_TEXT_MAX + 1 bytes. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_ledger_origin(ldg_ledger *l, char out[LDG_TEXT_MAX + 1],
                                                      ldg_err *err);
/* Leaf hash of entry `seq` (LDG_E_NOTFOUND past the end). */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_ledger_leaf_hash(ldg_ledger *l, uint64_t seq,
                                                         uint8_t hash[LDG_HASH_BYTES],
                                                         ldg_err *err);

typedef struct ldg_appended {
    uint64_t seq;
    uint8_t leaf_hash[LDG_HASH_BYTES];
} ldg_appended;

/*
 * Appends n signed statements in one LMDB write transaction, synced to disk
 * before it returns LDG_OK: all or nothing [STO-2].  Signatures were checked
 * when each handle was made (ldg_sign makes a valid one; ldg_signed_from_line
 * refuses a bad one); here every policy rule [POL-*] is applied against the
 * state at that point of the batch: LDG_E_POLICY (or LDG_E_INPUT) with
 * err->index on refusal, and nothing is written.  out[] (n items) receives seq and leaf
 * hash of each.  Safe against other processes appending at once.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_append(ldg_ledger *l, ldg_signed *const *s, size_t n,
                                               ldg_appended *out, ldg_err *err);

/*
 * A batch built up in one write transaction, so the caller can sign the next
 * part while the ledger writes this one; all or nothing as ldg_append.
 * ldg_batch_begin takes the ledger's writer lock (other appenders wait until
 * commit or abort).  Every statement added, and every out[] array, must stay
 * alive until then: if the LMDB map has to grow, the transaction is redone
 * from them and out[] refilled (seqs and leaf hashes are final only at
 * commit).  On refusal,
 * err->index counts from the batch's first statement; the batch can then only
 * be aborted.  Nothing is visible to readers before ldg_batch_commit, which
 * syncs to disk and frees b, whatever its result.
 */
typedef struct ldg_batch ldg_batch;
LDG_EXPORT LDG_NODISCARD ldg_status ldg_batch_begin(ldg_ledger *l, ldg_batch **b, ldg_err *err);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_batch_add(ldg_batch *b, ldg_signed *const *s, size_t n,
                                                  ldg_appended *out, ldg_err *err);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_batch_commit(ldg_batch *b, ldg_err *err);
LDG_EXPORT void ldg_batch_abort(ldg_batch *b);

/* ------------------------------------------------------- Merkle tree -- */

/*
 * The ledger is an RFC 6962 / RFC 9162 Merkle tree over its entries (leaf =
 * the exact entry bytes), kept in the same transaction as each append.
 * Heads and proofs read O(log n) stored nodes.  (Issue 3: checkpoints and
 * the proof commands build on these.)
 */
#define LDG_PROOF_MAX 64

/* Tree head of the first `size` entries (LDG_E_NOTFOUND past the end). */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_tree_root(ldg_ledger *l, uint64_t size,
                                                  uint8_t root[LDG_HASH_BYTES], ldg_err *err);
/* Audit path of entry `index` in the tree of `size` entries, leaf's sibling first. */
LDG_EXPORT LDG_NODISCARD ldg_status
ldg_proof_inclusion(ldg_ledger *l, uint64_t index, uint64_t size,
                    uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES], size_t *n, ldg_err *err);
/* Consistency proof from old_size to size (RFC 9162 order). */
LDG_EXPORT LDG_NODISCARD ldg_status
ldg_proof_consistency(ldg_ledger *l, uint64_t old_size, uint64_t size,
                      uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES], size_t *n, ldg_err *err);
/* Offline checks (RFC 9162 2.1.3.2, 2.1.4.2): 1 if the proof holds, 0 if not. */
LDG_EXPORT int ldg_proof_verify_inclusion(uint64_t index, uint64_t size,
                                          const uint8_t leaf_hash[LDG_HASH_BYTES],
                                          const uint8_t (*hashes)[LDG_HASH_BYTES], size_t n,
                                          const uint8_t root[LDG_HASH_BYTES]);
LDG_EXPORT int ldg_proof_verify_consistency(uint64_t old_size, uint64_t size,
                                            const uint8_t old_root[LDG_HASH_BYTES],
                                            const uint8_t root[LDG_HASH_BYTES],
                                            const uint8_t (*hashes)[LDG_HASH_BYTES], size_t n);

/*
 * A proof as JSON [CKP-6], as `ldg proof` prints it: inclusion
 * {"index","tree_size","root","leaf","leaf_hash","hashes"} or consistency
 * {"old_size","old_root","new_size","new_root","hashes"}, hashes in
 * standard base64 with padding, RFC 9162 order.
 */
#define LDG_PROOF_UNKNOWN 0
#define LDG_PROOF_INCLUSION 1
#define LDG_PROOF_CONSISTENCY 2
typedef struct ldg_proof_json {
    int kind; /* LDG_PROOF_* */
    /* inclusion */
    uint64_t index, tree_size;
    uint8_t root[LDG_HASH_BYTES];
    uint8_t *leaf; /* the exact entry bytes; NULL when absent (owned: ldg_proof_json_clear) */
    size_t leaf_len;
    /* consistency */
    uint64_t old_size, new_size;
    uint8_t old_root[LDG_HASH_BYTES], new_root[LDG_HASH_BYTES];
    /* both */
    size_t nhashes;
    uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES];
} ldg_proof_json;

/*
 * Parses a JSON proof: one object without duplicate members; unknown members
 * and leaf_hash (recomputed from leaf when needed) are ignored.  An object
 * with an integer "index" is an inclusion proof (index >= 0, tree_size >= 1,
 * root, at most LDG_PROOF_MAX hashes; leaf optional), else one with an
 * integer "old_size" a consistency proof (1 <= old_size <= new_size).  Says
 * nothing about whether the proof holds: see ldg_proof_verify_*.
 * LDG_E_INPUT when malformed (the message assumes the text was not a
 * tlog-proof either); out->kind then still says which proof the text claimed
 * to be (LDG_PROOF_UNKNOWN: not a JSON object with either member), and
 * nothing is left to clear.  LDG_E_NOMEM.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_proof_json_parse(const char *text, size_t len,
                                                         ldg_proof_json *out, ldg_err *err);
LDG_EXPORT void ldg_proof_json_clear(ldg_proof_json *p); /* accepts NULL; leaves *p zeroed */
/*
 * Writes p as one line of compact JSON, members in the order above, no
 * newline (*out malloc'd; free()); leaf and leaf_hash only when p->leaf is
 * set.  LDG_E_USAGE for sizes the parser would refuse (or beyond INT64_MAX).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_proof_json_format(const ldg_proof_json *p, char **out,
                                                          size_t *out_len, ldg_err *err);

/* --------------------------------------------------------- checkpoints -- */

/* A parsed C2SP tlog-checkpoint [CKP-1]. */
typedef struct ldg_checkpoint {
    char origin[LDG_TEXT_MAX + 1];
    uint64_t size;
    uint8_t root[LDG_HASH_BYTES];
} ldg_checkpoint;

/*
 * Signs the current tree head with the ledger's log key (LDG_E_POLICY for
 * any other key), stores the note in the ledger and returns it (*note
 * malloc'd, NUL-terminated).  Nothing derived is signed [CKP-2]: it first
 * verifies, on one snapshot, every entry since the newest stored checkpoint
 * the log key signed (all entries when there is none) as ldg_verify_run
 * with since_size does, and signs the size and tree head that run
 * recomputed from the entries.  Any FAIL finding and nothing is signed or
 * stored: LDG_E_CORRUPT, the message naming how many, the first entry (or
 * "the ledger") and its check.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_make(ldg_ledger *l, const ldg_key *logkey,
                                                        char **note, size_t *len, ldg_err *err);
/*
 * Parses a signed note and checks the signature of key pub (named key_name,
 * or any name when NULL: the signed-note key hash identifies it):
 * LDG_E_INPUT when malformed, LDG_E_BADSIG when that key's signature is
 * absent or wrong.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_parse(const char *note, size_t len,
                                                         const char *key_name,
                                                         const uint8_t pub[LDG_PUB_BYTES],
                                                         ldg_checkpoint *out, ldg_err *err);
/*
 * Checks a checkpoint held outside the host against the ledger [CKP-3]:
 * signed by the ledger's log key (named key_name, or any name if NULL), same origin, size not
 * past the ledger, same root at that size.  Returns LDG_OK when it could
 * check; why is then "" (the ledger only grew) or says what failed.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_check(ldg_ledger *l, const char *note,
                                                         size_t len, const char *key_name,
                                                         ldg_checkpoint *cp, char *why,
                                                         size_t whylen, ldg_err *err);

/* A C2SP tlog-proof [CKP-4]: index, inclusion path and the checkpoint, verbatim. */
typedef struct ldg_tlog_proof {
    uint64_t index;
    uint8_t *extra; /* ldg puts the exact entry bytes here; NULL if absent */
    size_t extra_len;
    size_t nhashes;
    uint8_t hashes[LDG_PROOF_MAX][LDG_HASH_BYTES];
    const char *note; /* the checkpoint: a view into the parsed text */
    size_t note_len;
} ldg_tlog_proof;

LDG_EXPORT LDG_NODISCARD ldg_status ldg_tlog_proof_format(
    uint64_t index, const uint8_t *extra, size_t extra_len, const uint8_t (*hashes)[LDG_HASH_BYTES],
    size_t n, const char *note, size_t note_len, char **out, size_t *out_len, ldg_err *err);
/* LDG_E_INPUT when malformed; the signature is checked by ldg_checkpoint_parse. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_tlog_proof_parse(const char *text, size_t len,
                                                         ldg_tlog_proof *out, ldg_err *err);
LDG_EXPORT void ldg_tlog_proof_clear(ldg_tlog_proof *p);
/*
 * C2SP tlog-cosignature/v1 (Ed25519) [CKP-5]: *out is the note with one more
 * signature line by k, stating that k observed this tree head at timestamp
 * (POSIX seconds).  ldg_checkpoint_cosigned checks the line of cosigner
 * (name, pub): LDG_OK with its timestamp, LDG_E_BADSIG, or LDG_E_NOTFOUND.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_cosign(const char *note, size_t len,
                                                          const ldg_key *k, uint64_t timestamp,
                                                          char **out, size_t *out_len,
                                                          ldg_err *err);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_cosigned(const char *note, size_t len,
                                                            const char *name,
                                                            const uint8_t pub[LDG_PUB_BYTES],
                                                            uint64_t *timestamp, ldg_err *err);
/*
 * [CKP-5] Does a checkpoint count as verified by QA?  It must be signed by
 * the ledger's log key for this origin, no larger than the ledger, and
 * carry a valid cosignature by a QA key: one of the verifier-key lines
 * qa[0..nqa) the caller trusts, else a key that the ledger's key records
 * below the checkpoint's size register with the role qa [POL-2] and do not
 * revoke.  Those key records are replayed from the entries themselves (not
 * the key registry): the entries below the checkpoint are re-hashed on
 * `jobs` threads (0: all cores) into a tree head that must be its root, and
 * each key record's signature and policy are checked.  LDG_OK when it
 * could check: *who is then the cosigner's key name and *timestamp its
 * time, or who is "" and why says what is missing.  LDG_E_CORRUPT when the
 * entries below the checkpoint do not check (their head is not its root, a
 * key record does not verify): a rewritten history.  LDG_E_INPUT for a
 * malformed note or qa line.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_qa(ldg_ledger *l, const char *note, size_t len,
                                                      const char *const *qa, size_t nqa,
                                                      unsigned jobs, char who[LDG_NAME_MAX + 1],
                                                      uint64_t *timestamp, char *why, size_t whylen,
                                                      ldg_err *err);
/* The newest checkpoint the ledger stored (*note malloc'd); LDG_E_NOTFOUND if none. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_latest(ldg_ledger *l, char **note, size_t *len,
                                                          ldg_err *err);
/* The checkpoint the ledger stored at `size` (*note malloc'd); LDG_E_NOTFOUND if none. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_stored(ldg_ledger *l, uint64_t size, char **note,
                                                          size_t *len, ldg_err *err);

/*
 * [CKP-7] Witness policy: does the checkpoint note carry valid C2SP
 * tlog-cosignature/v1 (Ed25519) cosignatures by at least `quorum` distinct
 * keys among keys[0..nkeys) (verifier-key lines [KEY-2]; 0: all of them)?
 * One implementation for every verifier (verify --checkpoint, verify-proof,
 * verify-bundle, the mirror).  A key counts once however often it is given
 * (by its public key) and only when every cosignature line of its name and
 * key ID verifies over this note's text, dated no later than now +
 * LDG_COSIG_FUTURE_S (now: the caller's clock, POSIX seconds); lines of
 * other keys are ignored; the log key (logpub, or any key whose signed-note
 * signature the note carries) is never a witness.  out[i] (nkeys of them)
 * says what became of keys[i], *valid how many counted.  LDG_OK when the
 * quorum is met; LDG_E_BADSIG when not, the message one line naming each
 * witness that did not count and why; LDG_E_USAGE for no key, more than
 * LDG_WITNESS_KEYS_MAX, or a quorum above the distinct keys; LDG_E_INPUT for
 * a malformed key line or note.  The log key's own signature is not checked
 * here (ldg_checkpoint_parse does that).
 */
#define LDG_WITNESS_KEYS_MAX 32
#define LDG_COSIG_FUTURE_S 600 /* seconds a cosignature may be dated past the verifier's clock */
#define LDG_COSIG_VALID 0      /* counted */
#define LDG_COSIG_NONE 1       /* no line by that name and key ID */
#define LDG_COSIG_BAD 2        /* a line by it does not verify over this note */
#define LDG_COSIG_FUTURE 3     /* verifies, but dated more than LDG_COSIG_FUTURE_S ahead */
#define LDG_COSIG_LOGKEY 4     /* the log key: never its own witness */
#define LDG_COSIG_DUPLICATE 5  /* the public key of an earlier entry: counted once */
typedef struct ldg_witness_check {
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    int state;          /* LDG_COSIG_* */
    uint64_t timestamp; /* of its cosignature, when it verified */
} ldg_witness_check;
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_witnessed(
    const char *note, size_t len, const uint8_t *logpub, const char *const *keys, size_t nkeys,
    size_t quorum, uint64_t now, ldg_witness_check *out, size_t *valid, ldg_err *err);
/*
 * A witness key [CKP-7]: an ldg verifier-key line [KEY-2] (type 0x01), or a
 * C2SP cosigner verifier key `NAME+HASH+BASE64(0x04 || key)` whose HASH is
 * the cosignature key ID; the same Ed25519 key either way.  LDG_E_INPUT when
 * it is neither.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_vkey_parse(const char *line, size_t len,
                                                           char name[LDG_NAME_MAX + 1],
                                                           uint8_t pub[LDG_PUB_BYTES],
                                                           ldg_err *err);
/* A few words for an LDG_COSIG_* state ("no cosignature", ...); static. */
LDG_EXPORT const char *ldg_cosig_state_text(int state);
/*
 * [CKP-8] Merges the signature lines of note (witness or QA cosignatures)
 * into the note the ledger stored for the same checkpoint.  note must be
 * signed by the ledger's log key for its origin, and its text must be byte
 * for byte that of the stored note of its size (LDG_E_NOTFOUND when none
 * is stored; LDG_E_CORRUPT when the log key signed another head of that
 * size: a fork).  The cosignatures themselves are not checked here: every
 * verifier checks them against the keys it names [CKP-7].  *added: how many
 * lines were new (0: nothing written).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_add(ldg_ledger *l, const char *note, size_t len,
                                                       size_t *added, ldg_err *err);
/*
 * [CKP-9] The size the ledger last had cosigned by a witness: the largest
 * stored checkpoint size no larger than `upto` whose stored note carries a
 * cosignature line by (name, pub) that verifies [CKP-5] (every line of that
 * key on the note must verify).  *size is 0 when no stored note has one.
 * A hint for the old size of a C2SP add-checkpoint request, nothing more:
 * the witness checks it against its own state (a 409 gives the right one).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_checkpoint_witness_size(ldg_ledger *l, const char *name,
                                                                const uint8_t pub[LDG_PUB_BYTES],
                                                                uint64_t upto, uint64_t *size,
                                                                ldg_err *err);
/* ------------------------------------------------------------- witness -- */

/*
 * A C2SP tlog-witness (spec/witness.md [WIT-*]): its own LMDB environment (a
 * directory, never a ledger's) holding the witness key's name, public key and
 * key file path, the log keys it trusts per origin, the latest checkpoint it
 * cosigned per origin, and the evidence of refused, validly signed
 * checkpoints.  One handle may serve many threads: ldg_witness_add_checkpoint
 * is thread-safe, and safe against other processes using the same state.
 */
typedef struct ldg_witness ldg_witness;

#define LDG_WITNESS_REQUEST_MAX 16384u /* bytes of an add-checkpoint request body [WIT-2] */
#define LDG_WITNESS_ORIGIN_MAX 255u    /* bytes of a log origin the witness keeps [WIT-1] */
#define LDG_WITNESS_PROOF_MAX 63u      /* consistency proof lines of a request [WIT-2] */

/*
 * Creates the witness state in dir (made if missing): the witness key's name
 * and public key, and the path of its secret key file (kept as given, for
 * `serve` and `add-checkpoint`).  LDG_E_EXISTS when dir holds a witness.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_create(const char *dir, const char *key_name,
                                                       const uint8_t pub[LDG_PUB_BYTES],
                                                       const char *key_path, ldg_err *err);
/* Opens the state; LDG_E_NOTFOUND when dir holds none. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_open(const char *dir, ldg_witness **out,
                                                     ldg_err *err);
LDG_EXPORT void ldg_witness_close(ldg_witness *w);
/* The witness key: name, public key and key file path; valid while w lives. */
LDG_EXPORT const char *ldg_witness_key_name(const ldg_witness *w);
LDG_EXPORT void ldg_witness_key_public(const ldg_witness *w, uint8_t pub[LDG_PUB_BYTES]);
LDG_EXPORT const char *ldg_witness_key_path(const ldg_witness *w);
/*
 * Trusts the log key (key_name, pub) for checkpoints of origin (1 to
 * LDG_WITNESS_ORIGIN_MAX bytes, printable UTF-8, no control character).  A
 * second key for one origin is added beside the first.  LDG_E_EXISTS when
 * that key is already trusted for it.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_add_log(ldg_witness *w, const char *origin,
                                                        const char *key_name,
                                                        const uint8_t pub[LDG_PUB_BYTES],
                                                        ldg_err *err);

/* One log the witness knows; every pointer valid only during the callback. */
typedef struct ldg_witness_log {
    const char *origin;
    size_t nkeys;
    const char *const *keys; /* verifier-key lines [KEY-2] */
    uint64_t size;           /* of the latest checkpoint cosigned; 0: none yet */
    uint8_t root[LDG_HASH_BYTES];
    const char *note; /* that checkpoint with the witness's cosignature; NULL: none */
    size_t note_len;
} ldg_witness_log;
typedef int (*ldg_witness_log_fn)(void *ctx, const ldg_witness_log *log);
/* Calls fn for every log, by origin, from one snapshot; fn returns non-zero to stop. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_logs_each(ldg_witness *w, ldg_witness_log_fn fn,
                                                          void *ctx, ldg_err *err);

#define LDG_WITNESS_EV_FORK 1         /* same size as the checkpoint held, another root */
#define LDG_WITNESS_EV_ROLLBACK 2     /* smaller than the checkpoint held */
#define LDG_WITNESS_EV_INCONSISTENT 3 /* its consistency proof from the held one fails */

/* One kept piece of evidence [WIT-5]; pointers valid only during the callback. */
typedef struct ldg_witness_evidence {
    const char *origin;
    int kind;         /* LDG_WITNESS_EV_* */
    int status;       /* the HTTP status the request was refused with */
    uint64_t time;    /* POSIX seconds, when it was first refused */
    const char *held; /* the checkpoint the witness held then (cosigned); NULL if none */
    size_t held_len;
    const char *request; /* the refused request body, verbatim (its checkpoint last) */
    size_t request_len;
    const char *record; /* the whole stored record, as spec/witness.md [WIT-5] writes it */
    size_t record_len;
} ldg_witness_evidence;
typedef int (*ldg_witness_evidence_fn)(void *ctx, const ldg_witness_evidence *ev);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_evidence_each(ldg_witness *w,
                                                              ldg_witness_evidence_fn fn, void *ctx,
                                                              ldg_err *err);

/* The witness's answer to one add-checkpoint request [WIT-2][WIT-3]. */
typedef struct ldg_witness_response {
    int status;               /* 200, 400, 403, 404, 409, 413, 422 */
    int evidence;             /* LDG_WITNESS_EV_* when the request was kept as evidence, else 0 */
    const char *content_type; /* static: "text/plain; charset=utf-8" or "text/x.tlog.size" */
    char body[1024];          /* 200: the cosignature line(s); 409 stale: "SIZE\n"; else why */
    size_t body_len;
} ldg_witness_response;

/*
 * [WIT-3] C2SP tlog-witness add-checkpoint: checks req[0..len) (the request
 * body) against the state and, when every check passes, cosigns the
 * checkpoint with k (the witness key: LDG_E_USAGE for any other) at
 * `timestamp` (POSIX seconds) and records it as the latest for its origin.
 * The check of the old size and the recording are one LMDB write
 * transaction, synced before it returns: of two requests from one old
 * size, one gets 200 and the other 409.  Evidence is kept in the same
 * transaction.  LDG_OK whenever out holds an answer (any status); an error
 * status only when it could not decide (I/O, memory, a damaged state:
 * LDG_E_CORRUPT).  Thread-safe.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_witness_add_checkpoint(ldg_witness *w, const ldg_key *k,
                                                               const char *req, size_t len,
                                                               uint64_t timestamp,
                                                               ldg_witness_response *out,
                                                               ldg_err *err);

/* ------------------------------------------------------------- reading -- */

typedef struct ldg_keyinfo {
    uint8_t pub[LDG_PUB_BYTES];
    char id[LDG_NAME_MAX + 1]; /* signed-note name */
    char *name;                /* printed name */
    char *org;
    char *roles; /* comma-separated, sorted */
    uint64_t added_seq;
    int revoked;
    uint64_t revoked_seq;
    char *revoke_reason;
} ldg_keyinfo;

#define LDG_BODY_OK 0
#define LDG_BODY_WITHHELD 1 /* absent, and no erasure record names it: verify fails it [VER-8] */
#define LDG_BODY_MISMATCH 2 /* present but does not match the commitment */
#define LDG_BODY_ERASED 3   /* absent, erased by the erasure record at seq erased_by [POL-11] */

/* A decoded record; every pointer owned by the record. */
typedef struct ldg_record {
    uint64_t seq;
    uint64_t host_time_ns;
    int has_clock;     /* the host clock read earlier than the ledger's time, which was held */
    uint64_t clock_ns; /* ...what it read [FMT-3] */
    uint8_t prev[LDG_HASH_BYTES];
    uint8_t leaf_hash[LDG_HASH_BYTES];
    uint8_t *entry; /* exact entry bytes (the Merkle leaf) */
    size_t entry_len;
    uint8_t sig[LDG_SIG_BYTES];
    char *kind, *study, *meaning, *reason, *origin; /* meaning/reason/origin may be NULL */
    uint8_t actor[LDG_PUB_BYTES];
    size_t nrefs;
    uint8_t (*refs)[LDG_HASH_BYTES];
    uint64_t *ref_seqs; /* resolved through the ledger; UINT64_MAX if unknown */
    int64_t time_ns;
    int32_t tz_min;
    int has_observed;
    uint64_t observed_size;
    uint8_t observed_head[LDG_HASH_BYTES];
    uint8_t commitment[LDG_HASH_BYTES];
    uint8_t salt[LDG_SALT_BYTES]; /* the body's salt [FMT-6]; set when body_state is OK */
    char *body;                   /* canonical JSON, NUL-terminated; NULL unless body_state OK */
    size_t body_len;
    int body_state;     /* LDG_BODY_OK, LDG_BODY_WITHHELD or LDG_BODY_MISMATCH */
    int has_key;        /* key.add / key.revoke / genesis subject */
    ldg_keyinfo key;    /* as stated in this record */
    ldg_keyinfo signer; /* the actor as registered in the ledger */
    int sig_state;      /* LDG_SIG_*: set by ldg_log_checked, UNCHECKED elsewhere */
    uint64_t erased_by; /* LDG_BODY_ERASED: seq of the erasure record; else UINT64_MAX */
    /*
     * The communication plan in force at this record [PLAN-3]: the seq of the
     * latest plan record of its study before it (UINT64_MAX: none, or not
     * looked up), and that plan's claimed-time tolerance (LDG_TOLERANCE_DEFAULT_NS
     * without one).  Set by the export walk; a single ldg_record_get leaves the
     * defaults.
     */
    uint64_t plan_seq;
    int64_t tolerance_ns;
    /* ...and that plan, parsed; owned by the walk, valid during the callback (NULL: none) */
    const struct ldg_plan *plan;
    /* the library's own: how the strings above are allocated (free with ldg_record_free) */
    unsigned ldgi_packed;
} ldg_record;

#define LDG_SIG_UNCHECKED 0
#define LDG_SIG_VALID 1   /* checked now: verifies under the statement's key */
#define LDG_SIG_INVALID 2 /* checked now: does not verify */
#define LDG_SIG_PROVEN 3  /* not checked now: below a checkpoint a full verify accepted [VER-11] */

LDG_EXPORT LDG_NODISCARD ldg_status ldg_record_get(ldg_ledger *l, uint64_t seq, ldg_record **out,
                                                   ldg_err *err);
LDG_EXPORT void ldg_record_free(ldg_record *r);

/* Filters of `ldg log`; NULL / 0 fields do not filter. */
typedef struct ldg_filter {
    const char *study;
    const char *kind;
    const char *actor; /* printed name, key name, or verifier-key line */
    int has_since, has_until;
    int64_t since_ns, until_ns; /* on the host time, inclusive */
    int has_seq;
    uint64_t seq_from, seq_to; /* inclusive */
    /*
     * [EXP-12] With a study: also the key records (genesis, key.add,
     * key.revoke) that register or revoke a signer of a selected record, and
     * those of their signers in turn, up to the range's last entry, whatever
     * the other filters.  Only ldg_log_checked and ldg_log_replayed read it.
     */
    int keep_signer_keys;
} ldg_filter;

/*
 * Calls fn for every record matching f, in sequence order, from one
 * consistent snapshot.  fn returns 0 to go on, non-zero to stop.  The record
 * is valid only during the call.
 */
typedef int (*ldg_record_fn)(void *ctx, const ldg_record *r);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_log_each(ldg_ledger *l, const ldg_filter *f,
                                                 ldg_record_fn fn, void *ctx, ldg_err *err);

/*
 * ldg_log_each for exports: the same records from one snapshot, selected
 * and with signers named as ldg_log_replayed does (never from an index or
 * the keys database), each with its signature checked on `jobs` threads
 * (sig_state), except below proven_size where a checkpoint verified before
 * vouches for them if its root checks (proven_root, below).  The tree heads of
 * the first root_size[i] entries are recomputed from the stored entries'
 * bytes into roots[i] (0 = not wanted; a size beyond the ledger gives
 * LDG_E_INPUT before any record): when f selects every entry up to the
 * larger size, from the leaf hashes of the records themselves (each entry
 * hashed once), else by a walk before the records.  roots[] are known when
 * the call returns, not before.  Records are handed over in batches bounded in count
 * and bytes: memory does not grow with the ledger.  Every record carries
 * plan_seq and tolerance_ns: the plan in force in its study [EXP-11], found
 * by decoding the entries before it, whatever the filter selects; with
 * f->keep_signer_keys and a study, the key records of its signers come too
 * [EXP-12].  ldg_log_replayed does the same.
 */
typedef void (*ldg_progress_fn)(void *ctx, uint64_t done, uint64_t total);
typedef struct ldg_check_opts {
    unsigned jobs; /* 0 = all cores */
    uint64_t proven_size;
    uint64_t root_size[2];
    ldg_progress_fn on_progress; /* records done of the ledger's size, calling thread */
    void *progress_ctx;
    /*
     * When not NULL: the export writer the callback hands each record to
     * (ldg_export_writer_record, once, with the record given).  Its rows are
     * then formatted ahead on the helper threads, after the record's checks,
     * and written as they are, in order: the same bytes, on every core.
     */
    struct ldg_export_writer *writer;
    /*
     * With proven_size (required then, and root_size[1] = proven_size): the
     * root the first proven_size entries must give, from the checkpoint
     * that vouches for them.  The heads are then recomputed before any
     * record, and if roots[1] is not proven_root no record is marked
     * proven: every signature is checked (and the caller says why).
     * proven_late lets the heads come from the records' own leaves (each
     * entry hashed once): records below proven_size are then marked proven
     * before roots[1] is known, and a caller that finds roots[1] differ
     * must discard what it wrote (ldg export -o writes the file again).
     */
    const uint8_t *proven_root;
    int proven_late;
} ldg_check_opts;
LDG_EXPORT LDG_NODISCARD ldg_status ldg_log_checked(ldg_ledger *l, const ldg_filter *f,
                                                    const ldg_check_opts *o, ldg_record_fn fn,
                                                    void *ctx, uint8_t roots[2][LDG_HASH_BYTES],
                                                    ldg_err *err);

/*
 * The key registry as it stands at the head, from the keys database (a
 * cache: fast, but not for anything that certifies; see ldg_keys_replayed).
 */
typedef int (*ldg_key_fn)(void *ctx, const ldg_keyinfo *k);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_keys_each(ldg_ledger *l, ldg_key_fn fn, void *ctx,
                                                  ldg_err *err);

/*
 * For commands that certify or select what an export holds [EXP-4]: the
 * records ldg_log_each gives, from one snapshot, but selected by decoding
 * every entry of the range (never the study, kind or actor indexes), each
 * signer (printed name, organisation, roles, added, revoked, why) taken
 * from the key records replayed from the entries up to the range's last
 * (never the keys database).  ldg_log_checked selects and names the same
 * way.  LDG_E_CORRUPT for an entry of the range that does not decode.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_log_replayed(ldg_ledger *l, const ldg_filter *f,
                                                     ldg_record_fn fn, void *ctx, ldg_err *err);
/*
 * The key registry as the key records (genesis, key.add, key.revoke) among
 * entries 0..upto-1 (at most the ledger's size) make it, replayed from the
 * entries of one snapshot, in order of registration; never the keys
 * database.  revoked is set for a revocation below upto.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_keys_replayed(ldg_ledger *l, uint64_t upto, ldg_key_fn fn,
                                                      void *ctx, ldg_err *err);

/* ----------------------------------------------------------- verifying -- */

typedef enum ldg_finding_level {
    LDG_FINDING_FAIL = 1,     /* integrity failure */
    LDG_FINDING_WITHHELD = 2, /* a body is absent from a bundle: reported, never valid */
    LDG_FINDING_ERASED = 3,   /* a body was erased by a signed erasure record [POL-11] */
    LDG_FINDING_WARN = 4,     /* not a failure, but QA must see it: a held host time [VER-4] */
} ldg_finding_level;

/*
 * One finding: seq is the record at fault (UINT64_MAX for the ledger as a
 * whole), check a short stable identifier ("prev", "signature", "policy",
 * ...), detail one human-readable line.
 */
typedef void (*ldg_finding_fn)(void *ctx, ldg_finding_level level, uint64_t seq, const char *check,
                               const char *detail);

typedef struct ldg_verify_opts {
    unsigned jobs;             /* signature threads; 0 = all cores */
    ldg_finding_fn on_finding; /* calling thread; per-entry findings in seq order, then the final
                                  merge pass [VER-7][VER-9] */
    ldg_progress_fn on_progress;
    void *ctx;
    /*
     * Incremental verification [VER-11]: with since_size > 0, the entries
     * below it are proven by since_root (a checkpoint verified before): their
     * leaf hashes must give that tree head, and their signatures are not
     * checked again.  Everything else is checked as usual.
     */
    uint64_t since_size;
    uint8_t since_root[LDG_HASH_BYTES];
    /* The verifier's clock, UTC ns, for host times in its future [VER-4]; 0: read it now. */
    int64_t now_ns;
} ldg_verify_opts;

typedef struct ldg_verify_summary {
    uint64_t entries;
    uint64_t failures;
    uint64_t withheld;
    uint64_t signatures;
    uint8_t head[LDG_HASH_BYTES]; /* leaf hash of the last entry */
    uint8_t root[LDG_HASH_BYTES]; /* RFC 6962 tree head of all entries, recomputed [VER-10] */
    uint64_t erased;              /* findings of level ERASED [VER-8] */
    uint64_t warnings;            /* findings of level WARN */
} ldg_verify_summary;

/*
 * Re-derives everything from the stored bytes [VER-1..]: decoding and
 * canonical form, sequence, chain, time order, signatures under the key
 * registry at each point, policy, observed heads, body commitments and
 * secondary indexes.  Returns LDG_OK when the check ran to the end, whatever
 * it found (see summary->failures); an error status only when it could not
 * check (I/O, memory).  Memory is bounded whatever the ledger's size.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_verify_run(ldg_ledger *l, const ldg_verify_opts *o,
                                                   ldg_verify_summary *sum, ldg_err *err);

/*
 * [VER-11][CKP-5] `verify --since`: ldg_verify_run (o->since_size is
 * ignored) made incremental from `note` only when that checkpoint counts as
 * verified by QA, as ldg_checkpoint_qa says (qa[0..nqa): verifier-key lines
 * the caller trusts); *who then names the cosigner.  Otherwise the run is a
 * full one from the start, *who is "" and why says why; *rewritten is 1
 * when the entries below the checkpoint do not give its root or do not
 * check (the caller reports that as a `checkpoint` FAIL).  With a
 * registered QA key the same run decides it: nothing is reported before
 * the entries below the checkpoint have gone through.  Same statuses as
 * ldg_verify_run, and LDG_E_INPUT for a malformed note or qa line.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_verify_since(ldg_ledger *l, const ldg_verify_opts *o,
                                                     const char *note, size_t len,
                                                     const char *const *qa, size_t nqa,
                                                     ldg_verify_summary *sum,
                                                     char who[LDG_NAME_MAX + 1], char *why,
                                                     size_t whylen, int *rewritten, ldg_err *err);

/* ------------------------------------------------------------ bundles -- */

typedef struct ldg_bundle_summary {
    uint64_t records;        /* in records.jsonl */
    uint64_t key_records;    /* in keyrecords.jsonl */
    uint64_t failures;       /* findings of level FAIL */
    uint64_t withheld;       /* bodies not in the bundle */
    int trusted_from_bundle; /* no trusted key was given: log.pub of the bundle was used */
    ldg_checkpoint cp;       /* the checkpoint the bundle is tied to, once it checked */
    uint64_t unchecked;      /* refs and observed heads naming entries the bundle does not hold */
    int manifest_signed;     /* manifest.sig is the log key's and every member matches it */
    int cosigned;            /* manifest.sig is also signed by a key the key records add */
    char cosigner_id[LDG_NAME_MAX + 1];   /* that key's signed-note name */
    char cosigner_name[LDG_TEXT_MAX + 1]; /* its printed name, from its key record */
    char cosigner_org[LDG_TEXT_MAX + 1];  /* its organisation, from its key record */
} ldg_bundle_summary;

/*
 * Checks an evidence bundle (a tar, spec/export.md [EXP-8]) offline, with
 * the log key given as a verifier-key line (NULL: the bundle's own log.pub,
 * and sum->trusted_from_bundle says so).  Findings go to fn as verify's do.
 * LDG_OK when the check ran, whatever it found; LDG_E_INPUT for a bad
 * trust line.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_bundle_verify(const uint8_t *tar, size_t len,
                                                      const char *trust_line, ldg_finding_fn fn,
                                                      void *ctx, ldg_bundle_summary *sum,
                                                      ldg_err *err);

/* One member of a bundle and its SHA-256, for ldg_bundle_sign. */
typedef struct ldg_bundle_file {
    const char *path; /* member name without the directory, e.g. "report.html" */
    uint8_t sha256[LDG_HASH_BYTES];
} ldg_bundle_file;

/*
 * The bundle's manifest.sig [EXP-8]: a signed note (text "ldg-bundle-manifest/v1",
 * the origin, then one "<base64 SHA-256> <path>" line per file, files[0] being
 * manifest.json) signed by logkey, and also by cosigner (the exporter's own
 * key) when not NULL.  *note is malloc'd and NUL-terminated.  LDG_E_USAGE
 * for an origin or file list the format cannot hold.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_bundle_sign(const char *origin,
                                                    const ldg_bundle_file *files, size_t n,
                                                    const ldg_key *logkey, const ldg_key *cosigner,
                                                    char **note, size_t *len, ldg_err *err);
/* A witness policy [CKP-7]: as ldg_checkpoint_witnessed takes it. */
typedef struct ldg_witness_policy {
    const char *const *keys; /* verifier-key lines of the witnesses */
    size_t nkeys;
    size_t quorum; /* 0: every distinct key */
    uint64_t now;  /* the verifier's clock, POSIX seconds */
} ldg_witness_policy;
/*
 * ldg_bundle_verify, and checkpoint.txt must meet the witness policy wp
 * (NULL: none): a FAIL finding "witness" naming each witness that
 * did not cosign it validly when not [EXP-9] 4b.  LDG_E_USAGE or LDG_E_INPUT (nothing
 * checked further) for a policy ldg_checkpoint_witnessed refuses.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_bundle_verify_witnessed(
    const uint8_t *tar, size_t len, const char *trust_line, const ldg_witness_policy *wp,
    ldg_finding_fn fn, void *ctx, ldg_bundle_summary *sum, ldg_err *err);

/* ------------------------------------------------------ export writers -- */

/*
 * Where an export writer's bytes go: n bytes at p; return 0 when written,
 * non-zero when not (the writer then stops with LDG_E_IO).
 */
typedef int (*ldg_write_fn)(void *ctx, const void *p, size_t n);

/*
 * Escaping untrusted text: the one function every output of ldg goes
 * through.  Control characters (C0, DEL, C1), bytes that are not UTF-8 and
 * invisible or reordering characters (bidi embeddings, overrides and
 * isolates, zero-width characters, line separators) never reach an output
 * raw, so a signer or a host cannot forge lines, move the cursor or hide
 * text on a terminal, in a log viewer, a browser or a spreadsheet.
 *   LDG_ESC_TEXT   for people: \n \t \r, \xNN (C0, DEL, C1, a byte that is
 *                  not UTF-8), \uXXXX (invisible characters);
 *   LDG_ESC_LINES  as TEXT, line feeds kept (multi-line notes);
 *   LDG_ESC_CSV    as TEXT, LF, CR and TAB kept, '"' doubled;
 *   LDG_ESC_HTML   & < > " ' as entities; controls and invisible characters as
 *                  a visible "<U+202E>", a byte that is not UTF-8 as "<0xFF>";
 *                  LF and TAB kept;
 *   LDG_ESC_JSON   the inside of a JSON string: \" \\ \n \r \t, \uXXXX for
 *                  the rest, \ufffd for a byte that is not UTF-8;
 *   LDG_ESC_JSON_FIX  valid JSON text: only DEL, C1 and invisible characters
 *                  become \uXXXX (inside strings is the only place non-ASCII can be).
 * Writes the escaped s (NULL as "") to fn; returns fn's first non-zero result, else 0.
 */
typedef enum ldg_escape_mode {
    LDG_ESC_TEXT,
    LDG_ESC_LINES,
    LDG_ESC_CSV,
    LDG_ESC_HTML,
    LDG_ESC_JSON,
    LDG_ESC_JSON_FIX
} ldg_escape_mode;
LDG_EXPORT int ldg_escape(const char *s, ldg_escape_mode mode, ldg_write_fn fn, void *ctx);

/*
 * The subject of a record for one-line displays and the CSV (`ldg log`,
 * `ldg export`): the body's top-level string "subject", else "title";
 * malloc'd (free()), NULL when the body has neither or is not there.  Not
 * escaped: print it through ldg_escape.
 */
LDG_EXPORT char *ldg_record_subject(const ldg_record *r);

/*
 * The JSONL [EXP-5] and CSV [EXP-6] trails (spec/export.md): one writer per
 * output, fed the records of ldg_log_checked (or any ldg_record_fn walk) in
 * order.  A CSV writer writes the header line (LDG_EXPORT_CSV_HEADER) when
 * made.  Output is buffered: ldg_export_writer_flush before the caller
 * syncs or closes what fn writes to.
 */
#define LDG_EXPORT_JSONL 1
#define LDG_EXPORT_CSV 2
#define LDG_EXPORT_CSV_HEADER                                                                      \
    "seq,ledger_time_utc,claimed_time_utc,claimed_time_local,utc_offset,claimed_minus_ledger_s,"   \
    "time_flag,tolerance_s,plan_seq,kind,study,name,organisation,role,meaning,subject,refs,"       \
    "reason,body_status,leaf_hash,signature_status\r\n"
typedef struct ldg_export_opts {
    int withhold;    /* bodies left out of the export (marked "withheld-by-export") */
    uint64_t proven; /* signatures LDG_SIG_PROVEN: the size of the checkpoint that vouches */
} ldg_export_opts;
typedef struct ldg_export_writer ldg_export_writer;
LDG_EXPORT LDG_NODISCARD ldg_status ldg_export_writer_new(int format, const ldg_export_opts *o,
                                                          ldg_write_fn fn, void *ctx,
                                                          ldg_export_writer **out, ldg_err *err);
/* One record, one line (JSONL) or row (CSV).  LDG_E_IO once a write failed. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_export_writer_record(ldg_export_writer *w,
                                                             const ldg_record *r, ldg_err *err);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_export_writer_flush(ldg_export_writer *w, ldg_err *err);
LDG_EXPORT void ldg_export_writer_free(ldg_export_writer *w); /* accepts NULL; does not flush */

/*
 * The evidence bundle [EXP-8], written by the library so that its writer and
 * its reader (ldg_bundle_verify) share one list of members.  Made with the
 * checkpoint size the export is tied to: it replays the key records below
 * it (keyrecords.jsonl, keys.csv) from the entries.  Then every exported
 * record (trail.jsonl, trail.csv, records.jsonl, signatures.csv), then
 * finish writes the tar to fn: README, checkpoint, log key, the members,
 * report.html read from `report` (the caller's HTML, written to a file),
 * manifest.json and, when meta->verified, manifest.sig signed by logkey
 * (and cosigner).  Members are spooled to anonymous temporary files.
 * LDG_E_USAGE (nothing of the tar written) for a bundle larger than a
 * verifier reads [EXP-9]; LDG_E_IO when a write failed.
 */
typedef struct ldg_bundle_writer ldg_bundle_writer;
typedef struct ldg_bundle_meta {
    const char *origin;      /* the ledger's origin */
    const char *exported_at; /* ISO 8601 UTC */
    const char *exporter;    /* who exported, one line */
    const char *filters;     /* one line, "none" when there are none */
    const char *checkpoint;  /* the signed note the export is tied to, NUL-terminated */
    int verified;            /* everything checked: the log key vouches (manifest.sig) */
    uint64_t proven;         /* size of the QA-verified checkpoint used (0: none) */
    /* `ldg review` of the same checkpoint's entries [EXP-8]: its --json lines and its page */
    FILE *review_json, *review_html;
} ldg_bundle_meta;
LDG_EXPORT LDG_NODISCARD ldg_status ldg_bundle_writer_new(ldg_ledger *l, uint64_t tie_size,
                                                          const ldg_export_opts *o,
                                                          ldg_bundle_writer **out, ldg_err *err);
/*
 * Is k registered by the key records below the tie size and not revoked
 * there?  1 and who (its printed name, organisation and key id) if so.
 */
LDG_EXPORT int ldg_bundle_writer_registered(const ldg_bundle_writer *bw, const ldg_key *k,
                                            char *who, size_t wholen);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_bundle_writer_record(ldg_bundle_writer *bw,
                                                             const ldg_record *r, ldg_err *err);
LDG_EXPORT LDG_NODISCARD ldg_status ldg_bundle_writer_finish(
    ldg_bundle_writer *bw, const ldg_bundle_meta *m, FILE *report, const ldg_key *logkey,
    const ldg_key *cosigner, ldg_write_fn fn, void *ctx, ldg_err *err);
LDG_EXPORT void ldg_bundle_writer_free(ldg_bundle_writer *bw); /* accepts NULL */

/* ---------------------------------------------------------- publishing -- */

/*
 * `ldg publish` (spec/publish.md [PUB-1..8]): the ledger as C2SP tlog-tiles
 * static files in a directory.  note NULL: publish the newest checkpoint
 * the ledger stored that its log key signed; else the note given (make it
 * with ldg_checkpoint_make, which signs only a head it recomputed from
 * checked entries).  with_bodies adds body/<N> files for a private mirror.
 */
typedef struct ldg_publish_opts {
    const char *note;
    size_t note_len;
    int with_bodies;
} ldg_publish_opts;

typedef struct ldg_publish_summary {
    uint64_t old_size, size; /* what DIR published before, and now */
    uint64_t tiles, bundles; /* hash tiles and entry bundles written */
    uint64_t bodies;         /* body files written */
    uint64_t bodies_removed; /* body files removed by erasure records */
    uint64_t kept;           /* files already there with the right bytes */
    uint64_t bytes;          /* bytes written */
    int full;                /* DIR's tiles did not prove out: recomputed from entry 0 */
    int checkpoint_written;  /* DIR/checkpoint changed */
} ldg_publish_summary;

/*
 * Writes what is new since DIR's own checkpoint: every hash from entries
 * re-hashed on one snapshot (or from DIR's tiles, proven by the root of
 * DIR's checkpoint), checked against the root of the checkpoint published;
 * new files staged, fsynced and moved into place; DIR/checkpoint last
 * [PUB-4].  LDG_E_CORRUPT when a published file holds other bytes, DIR's
 * checkpoint is not this ledger's history, or the entries do not give the
 * signed root (nothing new is visible then); LDG_E_INPUT when DIR is
 * another log's; LDG_E_NOTFOUND when there is no checkpoint to publish;
 * LDG_E_IO / LDG_E_FULL.  One publisher per directory (a lock).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_publish(ldg_ledger *l, const char *dir,
                                                const ldg_publish_opts *o, ldg_publish_summary *sum,
                                                ldg_err *err);

/*
 * What ldg_publish would refuse at once, looked at before a caller signs a
 * checkpoint to publish (fail fast): another publisher holding DIR's lock
 * (LDG_E_IO; the lock is only looked at), DIR/checkpoint of another log
 * (LDG_E_INPUT) or not verifying under this ledger's log key, or publishing
 * more entries than the ledger holds (LDG_E_CORRUPT).  Writes nothing;
 * ldg_publish checks all of it again under its lock.  Not while this
 * process itself publishes to DIR: closing the lock file it looked at drops
 * the process's own fcntl lock on it (POSIX).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_publish_precheck(ldg_ledger *l, const char *dir,
                                                         ldg_err *err);

/*
 * `ldg mirror` (spec/mirror.md): a sponsor's own copy of a published log.
 * The fetcher reads one published file (path relative to the log's root,
 * e.g. "tile/0/000"): LDG_OK with *out malloc'd (free()) and at most max
 * bytes, LDG_E_NOTFOUND when it is not there, LDG_E_IO for anything else
 * (a refused, slow or oversized response) with err saying what.
 */
typedef ldg_status (*ldg_fetch_fn)(void *ctx, const char *path, size_t max, uint8_t **out,
                                   size_t *len, ldg_err *err);

typedef struct ldg_mirror_opts {
    ldg_fetch_fn fetch;
    void *fetch_ctx;
    const char *trust;          /* the log key, a verifier-key line */
    const char *const *witness; /* verifier-key lines of the witnesses; nwitness of them */
    size_t nwitness;
    size_t quorum;             /* valid cosignatures needed from them (0: all) [CKP-7] */
    int bodies;                /* fetch body/<N> of each new entry [MIR-6] */
    unsigned jobs;             /* signature threads; 0 = all cores */
    ldg_finding_fn on_finding; /* verify's findings on the new entries */
    void *ctx;
    int recheck; /* also fetch every full tile and bundle held and compare it [MIR-4] */
} ldg_mirror_opts;

typedef enum ldg_mirror_outcome {
    LDG_MIRROR_UPDATED = 0,    /* new entries verified, the new checkpoint held */
    LDG_MIRROR_UP_TO_DATE = 1, /* the published checkpoint is the one held */
    LDG_MIRROR_BAD_CHECKPOINT, /* not signed by the log key, another origin, no quorum */
    LDG_MIRROR_FORK,           /* another root at a size held, or not consistent with it */
    LDG_MIRROR_ROLLBACK,       /* smaller than the checkpoint held */
    LDG_MIRROR_REWRITTEN,      /* a tile or bundle rewrites what the mirror verified before */
    LDG_MIRROR_BAD_TILES,      /* tiles do not match the entries, or the signed root */
    LDG_MIRROR_BAD_ENTRIES,    /* a new entry does not verify */
} ldg_mirror_outcome;

typedef struct ldg_mirror_summary {
    ldg_mirror_outcome outcome;
    uint64_t old_size, size;         /* held before, and the published checkpoint's */
    uint64_t fetches, bytes;         /* files fetched and their bytes */
    uint64_t rechecked;              /* with recheck: full tiles and bundles compared */
    uint64_t tiles, bundles, bodies; /* of them: hash tiles, entry bundles, body files */
    uint64_t failures, withheld;     /* verify's findings on the new entries */
    char *held_note, *fetched_note;  /* evidence (malloc'd, NUL-terminated; or NULL) */
    size_t held_len, fetched_len;
    char why[700]; /* what failed, one line (hostile bytes escaped by the printer) */
} ldg_mirror_summary;

/*
 * Brings the mirror's ledger at ledger_dir (created on the first run) up to
 * the published checkpoint: the checks of spec/mirror.md [MIR-3..7], all in
 * one write transaction committed only when everything verified.  LDG_OK
 * when it could check (sum->outcome says what it found: only UPDATED
 * commits); LDG_E_INPUT for a bad trust or witness line; LDG_E_NOTFOUND
 * when a file the checkpoint needs is not served; LDG_E_IO for the
 * fetcher's or the disk's trouble; LDG_E_CORRUPT when the state is not a
 * mirror's.  Free sum with ldg_mirror_summary_clear.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_mirror(const char *ledger_dir, const ldg_mirror_opts *o,
                                               ldg_mirror_summary *sum, ldg_err *err);
LDG_EXPORT void ldg_mirror_summary_clear(ldg_mirror_summary *sum);

/* ----------------------------------------------------------- utilities -- */

/* Parses ISO 8601 "YYYY-MM-DD[THH:MM[:SS[.fffffffff]]](Z|+HH:MM|-HH:MM)"; date-only is UTC. */
/* ------------------------------------ body fields and the communication plan -- */

/*
 * [KIND-1] The body fields ldg understands, per kind (spec/format.md, "Record
 * kinds"): when a known field is present it must have its documented type
 * and form.  Unknown fields are free.  LDG_E_INPUT names the field and why.
 * Append and sign call it; a verifier does not (a body may be withheld).
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_body_fields_check(const char *kind, const char *body,
                                                          size_t len, ldg_err *err);
/* The human label of a known body field ("due" -> "Due"), static; NULL if unknown. */
LDG_EXPORT const char *ldg_body_field_label(const char *field);

#define LDG_TOLERANCE_DEFAULT_NS (24LL * 3600 * 1000000000) /* claimed-time tolerance, no plan */
#define LDG_GAP_DEFAULT_NS (14LL * 86400 * 1000000000)      /* a study's quiet spell, no plan */

/* A plan record's body, parsed [PLAN-2]; every string owned by the plan. */
typedef struct ldg_plan_member {
    char *name, *org; /* printed name and organisation, as in the key records */
} ldg_plan_member;
typedef struct ldg_plan_level {
    char *id, *name; /* "operational", "Operational team" */
    size_t nmembers;
    ldg_plan_member *members;
} ldg_plan_level;
typedef struct ldg_plan_rule {
    char *kind;     /* a record kind that expects a response */
    char *priority; /* NULL: any priority */
    char *level;    /* NULL: any level */
    char *respond;  /* "other" (a party other than the asker's), "any", or an org */
    int64_t turnaround_ns;
    int business; /* counted in business hours, not calendar hours */
} ldg_plan_rule;
typedef struct ldg_plan_escalation {
    char *from, *to;  /* level ids */
    int64_t after_ns; /* an item open this long at `from` is escalated to `to` */
} ldg_plan_escalation;
typedef struct ldg_plan_approval {
    char *kind;  /* a kind whose records need approval, e.g. "decision" */
    char *level; /* NULL: at any level */
    size_t norgs;
    char **orgs; /* an approval (meaning "approval") from someone of each */
} ldg_plan_approval;
typedef struct ldg_plan {
    char *subject, *version;
    size_t nparties;
    char **parties; /* organisations */
    size_t naccept;
    char **accept; /* orgs each of which must approve the plan for it to count as accepted */
    size_t nlevels;
    ldg_plan_level *levels;
    size_t nrules;
    ldg_plan_rule *rules;
    size_t nescalations;
    ldg_plan_escalation *escalations;
    size_t napprovals;
    ldg_plan_approval *approvals;
    int64_t tolerance_ns; /* claimed time vs ledger time, either way */
    int64_t gap_ns;       /* longest quiet spell in a study before review reports it */
    int business_start_min, business_end_min; /* business hours, minutes after local midnight */
    int32_t business_tz_min;                  /* their UTC offset */
    unsigned business_days; /* bit d set: weekday d (0 = Sunday) is a working day */
} ldg_plan;

/* [PLAN-2] Parses and checks a plan body; LDG_E_INPUT names the field and why. */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_plan_parse(const char *body, size_t len, ldg_plan **out,
                                                   ldg_err *err);
LDG_EXPORT void ldg_plan_free(ldg_plan *p); /* accepts NULL */
/*
 * [PLAN-4] The most specific rule for a record of this kind, priority and
 * level (kind+priority+level, then kind+priority, kind+level, kind); NULL
 * when the plan expects no response to it.  p may be NULL (no plan: none).
 */
LDG_EXPORT const ldg_plan_rule *ldg_plan_match(const ldg_plan *p, const char *kind,
                                               const char *priority, const char *level);
/*
 * [PLAN-5] When a response to something recorded at from_ns is due under rule r:
 * calendar or business hours (p's window, days and offset); INT64_MAX when r is
 * NULL or the time is past the range.  Bounded for any plan.
 */
LDG_EXPORT int64_t ldg_plan_due(const ldg_plan *p, const ldg_plan_rule *r, int64_t from_ns);
/*
 * [KIND-3] The label of a body field that ldg understands for records of
 * this kind ("due" -> "Due"; "severity" of a deviation -> "Severity"),
 * static; NULL when the field is free for that kind (a "severity" in a
 * query is not checked, so it is shown under its own name).
 */
LDG_EXPORT const char *ldg_body_field_label_of(const char *kind, const char *field);

LDG_EXPORT LDG_NODISCARD ldg_status ldg_time_parse(const char *s, int64_t *ns, int32_t *tz_min,
                                                   ldg_err *err);
/* Formats ns shifted by tz_min as "YYYY-MM-DDTHH:MM:SS.fffffffff+HH:MM" (Z when tz 0 and utc). */
LDG_EXPORT void ldg_time_format(int64_t ns, int32_t tz_min, int utc_z, char out[40]);
/* Current time, UTC nanoseconds, and the local UTC offset in minutes. */
LDG_EXPORT void ldg_time_now(int64_t *ns, int32_t *tz_min);

/* -------------------------------------------------------------- review -- */

/*
 * `ldg review`, the readiness report (spec/review.md).  A review first
 * verifies the ledger (ldg_verify_run, or ldg_verify_since from a checkpoint
 * QA cosigned), then reads the same entries again in one read snapshot,
 * tied to the verified one by recomputing its tree head, decoding every
 * entry (never an index) and naming every signer from the key records
 * replayed from the entries.  It reports findings, each with a rule id
 * [REV-n], a severity, the records involved and why, and KPIs per
 * organisation, level and month.  Memory stays bounded: per record tracked
 * (an item that awaits an answer, a deviation, a decision awaiting approval)
 * a few dozen bytes, per answered item one time.
 */
typedef enum ldg_severity {
    LDG_SEV_INFO = 1,
    LDG_SEV_WARNING = 2,
    LDG_SEV_MAJOR = 3,
    LDG_SEV_CRITICAL = 4,
} ldg_severity;

/* "info", "warning", "major", "critical" (static storage; "?" otherwise). */
LDG_EXPORT const char *ldg_severity_name(ldg_severity s);
/* Parses one of those names; 0 on success, -1 otherwise. */
LDG_EXPORT int ldg_severity_parse(const char *s, ldg_severity *out);

#define LDG_REVIEW_SEQS_MAX 4
/* One finding; every pointer valid only during the callback. */
typedef struct ldg_review_finding {
    const char *rule; /* "REV-4" */
    const char *name; /* a short stable name: "overdue" */
    ldg_severity severity;
    const char *study; /* "" when about the ledger or a key */
    size_t nseqs;      /* records involved, the one at fault first */
    uint64_t seqs[LDG_REVIEW_SEQS_MAX];
    int64_t at_ns;   /* the ledger time the finding is about (0: none) */
    const char *why; /* one line */
} ldg_review_finding;
typedef void (*ldg_review_fn)(void *ctx, const ldg_review_finding *f);

/*
 * KPIs of one group [REV-KPI]: the items that expect a response (per the plan
 * in force) raised in one month (ledger time, UTC, "YYYY-MM") at one level
 * (the body's `level`, "" without) and due from one organisation (the party
 * the plan says responds).  Times in ns; -1 when there is nothing to measure.
 */
typedef struct ldg_review_kpi {
    const char *org, *level; /* valid only during the callback */
    char month[16];          /* "YYYY-MM" */
    uint64_t items, answered, on_time, open;
    int64_t response_median_ns, response_p90_ns; /* nearest rank */
    uint64_t queries_closed;
    int64_t query_closure_median_ns;
    uint64_t escalations_raised, escalations_closed;
} ldg_review_kpi;
typedef void (*ldg_review_kpi_fn)(void *ctx, const ldg_review_kpi *k);

typedef struct ldg_review_opts {
    const char *study; /* NULL: every study */
    int has_as_of;     /* review the ledger as it stood at as_of_ns (host time) */
    int64_t as_of_ns;
    int64_t now_ns; /* without as_of: the review's clock, UTC ns; 0: read it now */
    /*
     * With upto_size > 0, review the first upto_size entries only: the ledger
     * as a checkpoint the caller holds saw it (a bundle's), whose root,
     * upto_root, verify recomputes in the same run (else REV-1).
     */
    uint64_t upto_size;
    uint8_t upto_root[LDG_HASH_BYTES];
    /* a checkpoint QA cosigned (as ldg_verify_since); NULL: a full verify */
    const char *since_note;
    size_t since_len;
    const char *const *qa; /* verifier-key lines the caller trusts as QA */
    size_t nqa;
    unsigned jobs; /* 0: all cores */
    ldg_review_fn on_finding;
    ldg_review_kpi_fn on_kpi; /* after the walk, groups in (month, org, level) order */
    ldg_progress_fn on_progress;
    void *ctx;
} ldg_review_opts;

typedef struct ldg_review_summary {
    ldg_verify_summary verify;
    int intact;                    /* verify found no failure and the snapshot matched */
    char qa_who[LDG_NAME_MAX + 1]; /* the QA cosigner of since_note, "" if it did not count */
    char since_why[600];           /* why since_note did not count ("" if it did or none) */
    uint64_t analysed;             /* records analysed (study and as_of applied) */
    uint64_t findings[LDG_SEV_CRITICAL + 1]; /* by severity */
    int64_t as_of_ns;                        /* the time items were judged open at */
    ldg_review_kpi total;                    /* every group together (org, level "") */
} ldg_review_summary;

/*
 * Runs a review.  LDG_OK when it ran to the end, whatever it found (an
 * integrity failure is a critical finding [REV-1]); LDG_E_INPUT for a
 * malformed since_note or qa line; LDG_E_IO / LDG_E_NOMEM when it could not
 * run.
 */
LDG_EXPORT LDG_NODISCARD ldg_status ldg_review_run(ldg_ledger *l, const ldg_review_opts *o,
                                                   ldg_review_summary *sum, ldg_err *err);

#ifdef __cplusplus
}
#endif
#endif
