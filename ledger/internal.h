/*
 * internal.h - declarations shared between libldg's modules, never exported.
 * Prefix ldgi_.  See ldg.h for the public contract and spec/format.md for
 * the byte formats ([FMT-*]) and policy rules ([POL-*]).
 */
#ifndef LDG_INTERNAL_H
#define LDG_INTERNAL_H

#include "ldg.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LDGI_FORMAT_VERSION 1
/*
 * [FMT-1] An entry fits the 2-byte length of a C2SP entry bundle
 * (spec/publish.md [PUB-8]): at most 65,535 bytes, so a statement at most
 * 65,279 (an entry adds at most 163 bytes around it).
 */
#define LDGI_ENTRY_MAX 65535u                 /* entry bytes, at most */
#define LDGI_STMT_MAX (LDGI_ENTRY_MAX - 256u) /* statement bytes, at most */
#define LDGI_DOMAIN_STMT "ldg/statement/v1"   /* [FMT-4], followed by 0x00 */
#define LDGI_DOMAIN_BODY "ldg/body/v1"        /* [FMT-6], followed by 0x00 */

/* --- errors (error.c) --- */
ldg_status ldgi_fail(ldg_err *err, ldg_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ldg_status ldgi_fail_at(ldg_err *err, long index, ldg_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- allocation (buf.c): one wrapper so tests can inject failures --- */
void ldgi_alloc_fail_after(long n); /* test hook, see buf.c */
void *ldgi_malloc(size_t n);
void *ldgi_calloc(size_t n, size_t m);
void *ldgi_realloc(void *p, size_t n);
char *ldgi_strdup(const char *s);
char *ldgi_strndup(const char *s, size_t n);

typedef struct ldgi_buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} ldgi_buf;

void ldgi_buf_free(ldgi_buf *b);
bool ldgi_buf_put(ldgi_buf *b, const void *p, size_t n);

/* --- UTF-8 (buf.c) --- */
bool ldgi_utf8_valid(const uint8_t *p, size_t n);

/* --- export output (emit.c): a buffered writer to an ldg_write_fn --- */
typedef struct ldgi_emit {
    ldg_write_fn fn;
    void *ctx;
    size_t n;
    bool failed; /* a write failed: everything after is dropped */
    char buf[1 << 16];
} ldgi_emit;
void ldgi_em_init(ldgi_emit *e, ldg_write_fn fn, void *ctx);
bool ldgi_em_flush(ldgi_emit *e); /* false if any write failed */
void ldgi_em_raw(ldgi_emit *e, const char *p, size_t n);
void ldgi_em_s(ldgi_emit *e, const char *s);
void ldgi_em_c(ldgi_emit *e, char c);
void ldgi_em_u64(ldgi_emit *e, uint64_t v);
void ldgi_em_i64(ldgi_emit *e, int64_t v);
void ldgi_em_escaped(ldgi_emit *e, const char *s, ldg_escape_mode mode);
void ldgi_em_json_str(ldgi_emit *e, const char *s);              /* NULL as null */
void ldgi_em_json_b64(ldgi_emit *e, const uint8_t *p, size_t n); /* quoted */
void ldgi_em_hex(ldgi_emit *e, const uint8_t *p, size_t n);      /* lowercase, unquoted */
/* A CSV cell: quoted when needed; user text beginning with = + - @ tab or CR gets a leading '. */
void ldgi_em_csv(ldgi_emit *e, const char *s, bool user_text);

/*
 * Rows of an export writer formatted ahead, on several threads at once
 * (export.c): ldgi_export_row writes the row w would write for r into out
 * (grown as needed; e and lc are the calling thread's own), false when out
 * of memory.  ldgi_export_pending then tells w that its next
 * ldg_export_writer_record of r writes those bytes as they are (NULL: none).
 */
typedef struct ldgi_linecache {
    uint8_t line_pub[LDG_PUB_BYTES]; /* the signer whose verifier-key line is in line */
    char line[LDG_VKEY_MAX];
} ldgi_linecache;
typedef struct ldgi_rowbuf {
    char *p;
    size_t n, cap;
} ldgi_rowbuf;
bool ldgi_export_row(const ldg_export_writer *w, ldgi_linecache *lc, ldgi_emit *e,
                     const ldg_record *r, ldgi_rowbuf *out);
void ldgi_export_pending(ldg_export_writer *w, const ldg_record *r, const char *p, size_t n);

/*
 * [PUB-1] The path of a C2SP tlog-tiles file: "tile/<kind>/<N>", N in
 * 3-digit elements (x001/x234/067), and ".p/<w>" for a partial one (w < 256).
 * One writer (publish.c) and one reader (mirror.c) of the layout.
 */
void ldgi_tile_path(const char *kind, uint64_t n, unsigned w, char *out, size_t cap);
/* N alone in that form, e.g. for body/<N> [PUB-6]. */
void ldgi_index_path(uint64_t n, char *out, size_t cap);

/* --- bundle members [EXP-8]: the one list the writer and the reader share --- */
#define LDGI_BUNDLE_DIR "ldg-bundle/"
enum {
    LDGI_M_README,
    LDGI_M_MANIFEST,
    LDGI_M_CHECKPOINT,
    LDGI_M_LOGPUB,
    LDGI_M_RECORDS,
    LDGI_M_KEYRECS,
    LDGI_M_HTML,
    LDGI_M_CSV,
    LDGI_M_JSONL,
    LDGI_M_SIGS,
    LDGI_M_KEYS,
    LDGI_M_REVIEW_JSON,
    LDGI_M_REVIEW_HTML,
    LDGI_M_SIG,
    LDGI_NMEMBERS
};
extern const char *const ldgi_bundle_members[LDGI_NMEMBERS];

/* --- the trails (export_write.c) --- */
const char *ldgi_export_body_status(int withhold, const ldg_record *r); /* [EXP-5] body_status */
const char *ldgi_export_sig_status(const ldg_record *r); /* valid, invalid, proven, unchecked */
/* [EXP-10] "back-dated" / "forward-dated" beyond r->tolerance_ns, else NULL */
const char *ldgi_time_flag(const ldg_record *r);
/* secs since the epoch as a proleptic Gregorian UTC date (m 1..12, d 1..31) and second of
   the day (0..86399); no lock, no time zone. */
void ldgi_date_of(int64_t secs, int64_t *y, int *m, int *d, int64_t *sod);

/* --- reading (read.c) --- */
/* Takes ownership of r; returns non-zero to stop. */
typedef int (*ldgi_take_fn)(void *ctx, ldg_record *r);
typedef struct ldgi_txn ldgi_txn;
/*
 * The key registry replayed from the signed key records (genesis, key.add,
 * key.revoke) in seq order: what certifying readers take signers from,
 * instead of the keys database.  Feed it every entry below some size with
 * ldgi_reg_apply (LDG_E_CORRUPT for an entry that does not decode).
 */
typedef struct ldgi_reg ldgi_reg;
ldgi_reg *ldgi_reg_new(void); /* NULL when out of memory */
void ldgi_reg_free(ldgi_reg *g);
ldg_status ldgi_reg_apply(ldgi_reg *g, uint64_t seq, const uint8_t *entry, size_t len,
                          ldg_err *err);
const ldg_keyinfo *ldgi_reg_find(const ldgi_reg *g, const uint8_t pub[LDG_PUB_BYTES]);
size_t ldgi_reg_count(const ldgi_reg *g);
const ldg_keyinfo *ldgi_reg_at(const ldgi_reg *g, size_t i); /* in order of registration */
/*
 * ldg_log_each inside the caller's read transaction.  With reg (not NULL),
 * records are selected by decoding every entry of the range (no index) and
 * signers come from reg, never from the keys database.
 */
ldg_status ldgi_log_iter(ldgi_txn *t, const ldg_filter *f, const ldgi_reg *reg, ldgi_take_fn take,
                         void *ctx, ldg_err *err);
/*
 * ldgi_log_iter with flags.  LDGI_ITER_LEAF_LATER: a record's leaf_hash is
 * left zero (unless its body is missing: the erasure lookup needs it), and
 * a stored body is copied unchecked, for the taker to call
 * ldgi_record_hashes on, e.g. on other cores, before anything reads them.
 * Entries below `proven` are decoded without the canonical re-encoding
 * [VER-11]: only for a caller that recomputes the root of the first
 * `proven` entries and compares it with a checkpoint a full verify
 * accepted before it certifies anything (0: none).
 */
#define LDGI_ITER_LEAF_LATER 1u
/*
 * A record's body copied, not yet checked against its commitment (with
 * LDGI_ITER_LEAF_LATER): ldgi_record_hashes decides, before anyone reads it.
 */
#define LDGI_BODY_UNCHECKED 0x4c44
/* The leaf hash of r->entry, and a body left unchecked checked (LDG_BODY_OK or _MISMATCH). */
void ldgi_record_hashes(ldg_record *r);
ldg_status ldgi_log_iter_flags(ldgi_txn *t, const ldg_filter *f, const ldgi_reg *reg,
                               unsigned flags, uint64_t proven, ldgi_take_fn take, void *ctx,
                               ldg_err *err);
/*
 * Helper threads that build the records of a long walk, each through a twin
 * of t (ldgi_txn_twin), while the caller hands them over in seq order.
 * NULL: none (helpers 0, or no twin or thread could be had); *stale: not one
 * twin could be had, e.g. a commit came since t began, and a t begun again
 * may do better.  Free before t is aborted, on t's thread.
 */
typedef struct ldgi_builders ldgi_builders;
ldgi_builders *ldgi_builders_new(ldgi_txn *t, unsigned helpers, bool *stale);
void ldgi_builders_free(ldgi_builders *b);
/* ldgi_log_iter_flags, its records built on b's helpers too (b may be NULL). */
ldg_status ldgi_log_iter_built(ldgi_txn *t, ldgi_builders *b, const ldg_filter *f,
                               const ldgi_reg *reg, unsigned flags, uint64_t proven,
                               ldgi_take_fn take, void *ctx, ldg_err *err);
/* An ldgi_take_fn that hands each record to a public ldg_record_fn, then frees it. */
typedef struct ldgi_each_ctx {
    ldg_record_fn fn;
    void *ctx;
} ldgi_each_ctx;
int ldgi_each_take(void *ctx, ldg_record *r);

/* --- SHA-256 (sha256.c): x86 SHA extensions where present, else libsodium --- */
typedef struct ldgi_sha256_ctx {
    bool ni; /* this hash runs on the SHA extensions */
    unsigned fill;
    uint64_t bytes;
    uint32_t h[8];
    uint8_t buf[64];
    crypto_hash_sha256_state ls; /* the portable path's state */
} ldgi_sha256_ctx;

void ldgi_sha256_init(ldgi_sha256_ctx *s);
void ldgi_sha256_update(ldgi_sha256_ctx *s, const void *p, size_t n);
void ldgi_sha256_final(ldgi_sha256_ctx *s, uint8_t out[LDG_HASH_BYTES]);
void ldgi_sha256(const void *p, size_t n, uint8_t out[LDG_HASH_BYTES]);
bool ldgi_sha256_accelerated(void);
/*
 * SHA-256(prefix || a) into oa and SHA-256(prefix || b) into ob, the two
 * interleaved on the SHA extensions (a leaf hash: prefix 0x00; a node
 * hash: 0x01 and the 64 bytes of its children); one after the other on
 * the portable path.  a, b may be NULL when na, nb are 0.
 */
void ldgi_sha256_pair(uint8_t prefix, const uint8_t *a, size_t na, uint8_t oa[LDG_HASH_BYTES],
                      const uint8_t *b, size_t nb, uint8_t ob[LDG_HASH_BYTES]);
/*
 * The same for two messages of their own kinds: SHA-256(pa[0..npa) || a)
 * into oa and SHA-256(pb[0..npb) || b) into ob, each prefix shorter than a
 * block (npa, npb < 64; 0 for none), e.g. an entry's leaf hash beside its
 * body's commitment.
 */
void ldgi_sha256_pair_pre(const uint8_t *pa, size_t npa, const uint8_t *a, size_t na,
                          uint8_t oa[LDG_HASH_BYTES], const uint8_t *pb, size_t npb,
                          const uint8_t *b, size_t nb, uint8_t ob[LDG_HASH_BYTES]);
/* Tests: true forces libsodium's code; false re-reads the CPU and $LDG_SHA256. */
void ldgi_sha256_force_portable(bool portable);

/* --- hashing (codec.c) --- */
void ldgi_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[LDG_HASH_BYTES]);
/* Two leaf hashes at once (ldgi_sha256_pair): where many entries are hashed. */
void ldgi_leaf_hash_pair(const uint8_t *a, size_t na, uint8_t oa[LDG_HASH_BYTES], const uint8_t *b,
                         size_t nb, uint8_t ob[LDG_HASH_BYTES]);
void ldgi_body_commit(const uint8_t salt[LDG_SALT_BYTES], const uint8_t *body, size_t len,
                      uint8_t out[LDG_HASH_BYTES]);
/* An entry's leaf hash and its body's commitment, the two hashed at once. */
void ldgi_leaf_and_body(const uint8_t *entry, size_t elen, uint8_t leaf[LDG_HASH_BYTES],
                        const uint8_t salt[LDG_SALT_BYTES], const uint8_t *body, size_t blen,
                        uint8_t commit[LDG_HASH_BYTES]);

/* --- statement and entry, decoded views (codec.c) --- */
typedef struct ldgi_str {
    const char *p; /* not NUL-terminated; points into the encoded bytes */
    size_t len;
} ldgi_str;

#define LDGI_ROLES_MAX 8

typedef struct ldgi_stmt {
    uint64_t v;
    uint8_t actor[LDG_PUB_BYTES];
    uint8_t body[LDG_HASH_BYTES];
    bool has_key;
    uint8_t key_pub[LDG_PUB_BYTES];
    bool key_full; /* id, name, org, roles present (add/genesis) */
    ldgi_str key_id, key_name, key_org;
    size_t nroles;
    ldgi_str roles[LDGI_ROLES_MAX];
    ldgi_str kind;
    bool has_meaning;
    ldgi_str meaning;
    bool has_observed;
    uint64_t observed_size;
    uint8_t observed_head[LDG_HASH_BYTES];
    bool has_origin;
    ldgi_str origin;
    bool has_reason;
    ldgi_str reason;
    size_t nrefs;
    ldgi_str study;
    int64_t time_ns;
    int32_t tz_min;
    uint8_t refs[LDG_REFS_MAX][LDG_HASH_BYTES]; /* last: decoding clears only what is before */
} ldgi_stmt;

typedef struct ldgi_entry {
    uint64_t v;
    uint8_t prev[LDG_HASH_BYTES];
    uint64_t seq;
    uint8_t sig[LDG_SIG_BYTES];
    const uint8_t *stmt;
    size_t stmt_len;
    uint64_t time_ns;
    bool has_clock;    /* the host clock read earlier than time_ns: time was held [FMT-3] */
    uint64_t clock_ns; /* ...and this is what it read (< time_ns) */
} ldgi_entry;

/* Encoders append canonical msgpack to b; false on allocation failure. */
bool ldgi_stmt_encode(const ldgi_stmt *s, ldgi_buf *b);
bool ldgi_entry_encode(const ldgi_entry *e, ldgi_buf *b);

/*
 * Strict, bounded decoders: every length is checked against the bytes left,
 * then the value is re-encoded and compared, so only the one canonical
 * encoding is accepted [FMT-1].  Views point into `p`.  On failure a short
 * reason is written to why (static string).
 */
bool ldgi_stmt_decode(const uint8_t *p, size_t n, ldgi_stmt *s, const char **why);
bool ldgi_entry_decode(const uint8_t *p, size_t n, ldgi_entry *e, const char **why);
/*
 * The same without the canonical-form check, for bytes proven identical to
 * bytes that passed it (verify --since, below a checkpoint [VER-11]): still
 * bounded and safe on any input, but a non-canonical encoding is accepted.
 */
bool ldgi_stmt_decode_proven(const uint8_t *p, size_t n, ldgi_stmt *s, const char **why);
bool ldgi_entry_decode_proven(const uint8_t *p, size_t n, ldgi_entry *e, const char **why);
/*
 * Proven bytes again, for a statement that is not a key record: only the
 * actor, body commitment and kind, read from the canonical layout.  false
 * when the bytes are not in that shape (a key record has "key" before
 * "kind"): decode them instead.  Bounded on any input.
 */
bool ldgi_stmt_peek(const uint8_t *p, size_t n, ldgi_stmt *s);

/* Signature message: domain || 0x00 || statement [FMT-4]. */
/* false (and a zeroed sig) only for a statement over LDGI_STMT_MAX bytes. */
bool ldgi_stmt_sign(const uint8_t *stmt, size_t len, const uint8_t sk[64], uint8_t sig[64]);
bool ldgi_stmt_sig_ok(const uint8_t *stmt, size_t len, const uint8_t pub[32],
                      const uint8_t sig[64]);

/* --- policy (policy.c) [POL-*] --- */
enum ldgi_role {
    LDGI_ROLE_ADMIN = 1u << 0,
    LDGI_ROLE_AUTHOR = 1u << 1,
    LDGI_ROLE_DECIDER = 1u << 2,
    LDGI_ROLE_APPROVER = 1u << 3,
    LDGI_ROLE_ERASER = 1u << 4,
    LDGI_ROLE_QA = 1u << 5, /* 0x20: cosigns checkpoints it verified [CKP-5] */
};
typedef enum ldgi_kindclass {
    LDGI_KIND_UNKNOWN = 0,
    LDGI_KIND_USER,
    LDGI_KIND_GENESIS,
    LDGI_KIND_KEY_ADD,
    LDGI_KIND_KEY_REVOKE,
} ldgi_kindclass;

ldgi_kindclass ldgi_kind_class(const char *k, size_t len);
bool ldgi_meaning_valid(const char *m, size_t len);
/* Role bit for one role name, 0 if unknown. */
unsigned ldgi_role_bit(const char *r, size_t len);
/*
 * Statement rules that need no ledger state: LDG_OK, LDG_E_INPUT (malformed)
 * or LDG_E_POLICY (a rule such as "approval needs a meaning"), with why.
 */
ldg_status ldgi_stmt_shape_ok(const ldgi_stmt *s, char *why, size_t whylen);
/* Role rules: may a key holding `roles` write this statement? */
bool ldgi_stmt_role_ok(const ldgi_stmt *s, unsigned roles, char *why, size_t whylen);
/* Role bits named in a key statement. */
unsigned ldgi_stmt_roles(const ldgi_stmt *s);
/* True for a statement of kind "erasure" [POL-11]. */
bool ldgi_stmt_is_erasure(const ldgi_stmt *s);
/*
 * [POL-12][POL-14] The duties a statement shows by itself: an approval or
 * rejection refs what it approves; a key holding admin holds no other role.
 * LDG_OK, or LDG_E_POLICY with why.  (The rules that need the ledger,
 * [POL-13] and [POL-15], are the engine's.)
 */
ldg_status ldgi_stmt_duties_ok(const ldgi_stmt *s, char *why, size_t whylen);
/*
 * [POL-13] The identity of a key record's printed name and organisation:
 * SHA-256 over both in their normal form (whitespace trimmed and collapsed,
 * invisible characters dropped, ASCII folded to lower case), so two records
 * name the same person exactly when their digests are equal.
 */
void ldgi_identity(ldgi_str name, ldgi_str org, uint8_t out[LDG_HASH_BYTES]);
/* The normal form [POL-13] of s into out (at most s.len bytes); its length. */
size_t ldgi_identity_norm(ldgi_str s, char *out);

/*
 * [KEY-4] Whether pub is a usable Ed25519 public key: a canonical encoding of
 * a point on the curve, in the prime-order subgroup, not of small order
 * (libsodium crypto_core_ed25519_is_valid_point).
 */
bool ldgi_pub_valid(const uint8_t pub[LDG_PUB_BYTES]);

/* --- the signed statement object (sign.c) --- */
struct ldg_signed {
    uint8_t *stmt;
    size_t stmt_len;
    uint8_t sig[LDG_SIG_BYTES];
    uint8_t salt[LDG_SALT_BYTES];
    uint8_t *body;
    size_t body_len;
    bool fields_ok; /* ldg_sign checked the body's fields [KIND-1]: append need not again */
};

/* --- keys (keys.c) --- */
struct ldg_key {
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    uint8_t *sk; /* 64 bytes, sodium_malloc */
};
const uint8_t *ldgi_key_sk(const ldg_key *k);
/* Signed-note key ID [KEY-2]: SHA-256(name || 0x0A || alg || pub)[:4]. */
#define LDGI_KEYID_NOTE 0x01   /* Ed25519 note signatures and verifier keys */
#define LDGI_KEYID_COSIGN 0x04 /* C2SP cosignature/v1 [CKP-5] */
void ldgi_key_id(const char *name, uint8_t alg, const uint8_t pub[LDG_PUB_BYTES], uint8_t out[4]);
bool ldgi_key_name_valid(const char *name);

/* --- JSON body (body.c) --- */
/* Parses a JSON object and writes its canonical form (malloc'd, NUL-terminated). */
ldg_status ldgi_body_canonical(const char *text, size_t len, char **out, size_t *outlen,
                               ldg_err *err);
/*
 * [KIND-1] The known fields of a user record of this kind, checked on the
 * body's parsed JSON object j (body[0..len) is its text, for a plan).
 */
struct json_t;
/*
 * The canonical text [FMT-6] of a JSON object (one jansson parsed: valid
 * UTF-8, no NUL): malloc'd, NUL-terminated, *len bytes; NULL without memory.
 */
char *ldgi_body_text(const struct json_t *obj, size_t *len);
ldg_status ldgi_fields_check_json(const char *kind, const struct json_t *j, const char *body,
                                  size_t len, ldg_err *err);
/*
 * A memo of one body per thread: the canonical text ldg_input_parse just
 * wrote, with the verdict of the fields check for its kind.  ldg_sign, on the
 * same thread, takes the verdict instead of parsing the body twice more when
 * its kind and bytes are exactly these; anything else misses.  Content is
 * compared, never pointers, so a stale memo can only miss.
 */
void ldgi_body_memo_put(const char *kind, const char *text, size_t len, const ldg_err *verdict);
bool ldgi_body_memo_take(const char *kind, const char *text, size_t len, ldg_err *verdict);
/*
 * [POL-11] The legal basis of an erasure body: true when body[0..len) is a
 * JSON object whose "legal_basis" is a non-empty string; it is copied to out
 * (cut to outlen - 1 bytes; out may be NULL).
 */
bool ldgi_body_legal_basis(const uint8_t *body, size_t len, char *out, size_t outlen);

/* --- threads (buf.c) --- */
unsigned ldgi_ncpu(void);
/* Runs fn(ctx, i) for i in [0, n) on `jobs` threads (the caller is one of them). */
void ldgi_parallel_for(size_t n, unsigned jobs, void (*fn)(void *ctx, size_t i), void *ctx);
/*
 * Helper threads started once and handed one job at a time: start() runs
 * fn(ctx, who) on every helper (who = 1..size), wait() returns when all are
 * done with it; the caller works on the job in between.  ldgi_pool_new may
 * start fewer than asked (none: start and wait do nothing); NULL only when
 * out of memory.  free() stops and joins them (not during a job).
 */
#define LDGI_POOL_MAX 64
typedef struct ldgi_pool ldgi_pool;
ldgi_pool *ldgi_pool_new(unsigned helpers);
unsigned ldgi_pool_size(const ldgi_pool *p);
void ldgi_pool_start(ldgi_pool *p, void (*fn)(void *ctx, unsigned who), void *ctx);
void ldgi_pool_wait(ldgi_pool *p);
void ldgi_pool_free(ldgi_pool *p);

#endif

/* --- storage over LMDB (store.c; the only file that includes <lmdb.h>) [STO-*] --- */
typedef enum ldgi_db {
    LDGI_DB_ENTRIES = 0, /* seq (8 bytes BE) -> entry bytes */
    LDGI_DB_BODIES,      /* seq (8 BE) -> salt || canonical body; absent when withheld */
    LDGI_DB_LEAF,        /* epoch (4 BE) || leaf hash -> seq (8 BE) [STO-1] */
    LDGI_DB_STUDY,       /* study || 0x00 || seq (8 BE) -> empty */
    LDGI_DB_KIND,        /* kind || 0x00 || seq (8 BE) -> empty */
    LDGI_DB_ACTOR,       /* actor pub || seq (8 BE) -> empty */
    LDGI_DB_KEYS,        /* pub -> key state (LDGI_KEYSTATE_BYTES) */
    LDGI_DB_COMMIT,      /* claimed time (8) || body commitment -> seq (8 BE): one per statement */
    LDGI_DB_TREE,        /* band (1) || cluster (8 BE) -> its perfect subtrees' hashes [STO-6] */
    LDGI_DB_CHECKPOINTS, /* tree size (8 BE) -> signed note [CKP-1] */
    LDGI_DB_COUNT
} ldgi_db;

extern const char *const ldgi_db_names[LDGI_DB_COUNT];
/*
 * The databases of earlier layouts [STO-1]: a ledger that has one is refused
 * (LDGI_OLD_LAYOUT) until `ldg reindex` rebuilds its indexes and drops them.
 * The one list the opener, the page walker and reindex all read.
 */
#define LDGI_OLD_DB_COUNT 3
extern const char *const ldgi_old_db_names[LDGI_OLD_DB_COUNT];
/* Databases an environment may open: a ledger's and those of its earlier layouts. */
#define LDGI_ENV_DBS (LDGI_DB_COUNT + LDGI_OLD_DB_COUNT)
/* Map size a newly opened environment asks for; tests lower it to make the map grow. */
extern size_t ldgi_map_initial;
/* The map never grows past this (4 TiB); tests lower it to fill the map. */
extern size_t ldgi_map_max;

typedef struct ldgi_txn ldgi_txn;
typedef struct ldgi_cur ldgi_cur;

ldg_status ldgi_txn_begin(ldg_ledger *l, bool write, ldgi_txn **t, ldg_err *err);
/* Frees t, whatever the result; *map_full (if not NULL): it failed for a full map. */
ldg_status ldgi_txn_commit(ldgi_txn *t, bool *map_full, ldg_err *err);
void ldgi_txn_abort(ldgi_txn *t); /* NULL ok */
/*
 * A second read transaction on t's snapshot (t read-only), for another
 * thread to read through while t lives; NULL when none can be had, e.g. a
 * commit came since t began, so a new one would see other bytes.  Begun
 * and aborted on t's thread (they hold its lock on the map's size).
 */
ldgi_txn *ldgi_txn_twin(ldgi_txn *t);
ldg_ledger *ldgi_txn_ledger(const ldgi_txn *t);
/*
 * A slot for a cache that lives as long as t (NULL at first; freed with t):
 * ldgi_leaf_find keeps the seqs it found there, and a walk the leaf hashes
 * it computed (ldgi_leaf_note).
 */
void **ldgi_txn_hints(ldgi_txn *t);
/*
 * Where the handle last read a leaf hash: ldg_ledger_leaf_hash notes each
 * (a tool resolving a ref given as a seq), ldgi_leaf_find tries it before
 * its search of every epoch, which costs a lookup per 2^18 entries of the
 * ledger.  Only a hint, and not trusted: the entry at the seq must hash to
 * the ref in the transaction that uses it.  Direct-mapped; a newer hash
 * takes an older one's slot.
 */
#define LDGI_SEEN_SLOTS 65536 /* 3 MiB, touched only where used */
/* A slot of either cache: a leaf hash and the seq it was found or read at. */
typedef struct ldgi_leaf_hint {
    uint8_t hash[LDG_HASH_BYTES];
    uint64_t seq;
    bool used;
} ldgi_leaf_hint;
/* Fills a slot of either cache (h: NULL when there is no cache). */
static inline void
ldgi_leaf_hint_set(ldgi_leaf_hint *h, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq)
{
    if (h) {
        memcpy(h->hash, hash, LDG_HASH_BYTES);
        h->seq = seq;
        h->used = true;
    }
}
void ldgi_leaf_seen_put(ldg_ledger *l, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq);
bool ldgi_leaf_seen_get(ldg_ledger *l, const uint8_t hash[LDG_HASH_BYTES], uint64_t *seq);
/* Drops this process's mappings of the map's pages (they fault back in on use). */
void ldgi_map_release(ldg_ledger *l);
/* Bytes of file-backed pages this process has mapped (0 if unknown). */
size_t ldgi_mapped_bytes(void);
/*
 * How much of the ledger file a long read (verify, export, review) keeps
 * mapped before it drops the mappings: the resident set it adds to its
 * anonymous memory, whatever the ledger's size.  It must hold what the read
 * touches again and again (the indexes' branch pages, the pages of records
 * many refs name): with 24 MiB, an export at 10M records dropped and
 * faulted those back in so often that page faults and madvise took half
 * its CPU (each fault maps 16 pages around the one wanted).
 */
#ifndef LDGI_MAP_BUDGET
#define LDGI_MAP_BUDGET ((size_t)256 << 20)
#endif
/* True when a put in t failed because the LMDB map (not the disk) is full. */
bool ldgi_txn_map_full(const ldgi_txn *t);
/*
 * Doubles the map after ldgi_txn_map_full (up to ldgi_map_max).  False if it
 * cannot grow, with err (if not NULL) saying why: LDG_E_FULL at the limit or
 * when the address space is refused.
 */
bool ldgi_map_grow(ldg_ledger *l, ldg_err *err);
/*
 * An LMDB environment that is not a ledger (a witness's state [WIT-1]):
 * dir/data.mdb with the n (<= LDGI_ENV_DBS) named databases names[0..n),
 * used through ldgi_txn_begin, ldgi_get, ldgi_put... with db = 0..n-1.
 * names must outlive the handle.  create: make dir and the databases.
 * LDG_E_NOTFOUND when dir holds no data.mdb and create is false.
 */
ldg_status ldgi_env_open(const char *dir, const char *const *names, size_t n, bool create,
                         ldg_ledger **out, ldg_err *err);

/* Reads: views valid until the transaction ends.  LDG_E_NOTFOUND when absent. */
ldg_status ldgi_get(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, const uint8_t **v,
                    size_t *vl, ldg_err *err);
/* LDG_E_EXISTS with noover and the key present; LDG_E_FULL when the map is full. */
ldg_status ldgi_put(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, const void *v, size_t vl,
                    bool noover, bool append, ldg_err *err);
ldg_status ldgi_count(ldgi_txn *t, ldgi_db db, uint64_t *n, ldg_err *err);
/* Empties db, or (remove) deletes it from the environment when t commits. */
ldg_status ldgi_drop(ldgi_txn *t, ldgi_db db, bool remove, ldg_err *err);
/* Deletes key k; LDG_E_NOTFOUND when absent. */
ldg_status ldgi_del(ldgi_txn *t, ldgi_db db, const void *k, size_t kl, ldg_err *err);

/* Cursor: positions at the first key >= k (or the first key if k is NULL). */
ldg_status ldgi_cur_open(ldgi_txn *t, ldgi_db db, ldgi_cur **c, ldg_err *err);
/* LDG_OK with a record, LDG_E_NOTFOUND at the end. */
ldg_status ldgi_cur_seek(ldgi_cur *c, const void *k, size_t kl, const uint8_t **key, size_t *keyl,
                         const uint8_t **v, size_t *vl, ldg_err *err);
/*
 * The value at exactly key k, through a cursor (LDG_E_NOTFOUND if absent):
 * where keys are read in order, each lookup starts from the page the last
 * one left the cursor on, not from the root.
 */
ldg_status ldgi_cur_find(ldgi_cur *c, const void *k, size_t kl, const uint8_t **v, size_t *vl,
                         ldg_err *err);
/*
 * ldgi_cur_find for a walk that reads most keys in turn: the key after the
 * cursor's is tried first (one step, no search of the page), then the seek.
 */
ldg_status ldgi_cur_find_next(ldgi_cur *c, const void *k, size_t kl, const uint8_t **v, size_t *vl,
                              ldg_err *err);
ldg_status ldgi_cur_next(ldgi_cur *c, const uint8_t **key, size_t *keyl, const uint8_t **v,
                         size_t *vl, ldg_err *err);
ldg_status ldgi_cur_last(ldgi_cur *c, const uint8_t **key, size_t *keyl, const uint8_t **v,
                         size_t *vl, ldg_err *err);
/*
 * The last record of db, read with a cursor of its own: LDG_E_NOTFOUND when
 * db is empty.  The bytes are LMDB's, valid until t writes to db or ends.
 */
ldg_status ldgi_last(ldgi_txn *t, ldgi_db db, const uint8_t **key, size_t *keyl, const uint8_t **v,
                     size_t *vl, ldg_err *err);
/* The record before the cursor's; LDG_E_NOTFOUND before the first. */
ldg_status ldgi_cur_prev(ldgi_cur *c, const uint8_t **key, size_t *keyl, const uint8_t **v,
                         size_t *vl, ldg_err *err);
void ldgi_cur_close(ldgi_cur *c);

void ldgi_be64(uint8_t out[8], uint64_t v);
uint64_t ldgi_rd64(const uint8_t in[8]);

/*
 * The hash-keyed indexes [STO-1] (index.c).  Each key starts with what grows
 * with the ledger, so that an append writes near the end of the B-tree: the
 * leaf-hash index with the entry's epoch (seq >> LDGI_LEAF_EPOCH_BITS), the
 * statement index with the claimed time (offset binary, big-endian).
 */
#define LDGI_LEAF_EPOCH_BITS 18
/* What every command says of a ledger whose indexes have the layout before 2026-12. */
#define LDGI_OLD_LAYOUT                                                                            \
    "its derived indexes (leaf hashes, statements, Merkle tree) have the layout of an earlier "    \
    "ldg; rebuild them with `ldg reindex` (they are derived: nothing signed changes)"
/* LDGI_LEAF_EPOCH_BITS; tests lower it to cross epochs with a few entries. */
extern unsigned ldgi_leaf_epoch_bits;
#define LDGI_LEAF_KEY_BYTES (4 + LDG_HASH_BYTES)
#define LDGI_COMMIT_KEY_BYTES (8 + LDG_HASH_BYTES)
void ldgi_leaf_key(uint8_t out[LDGI_LEAF_KEY_BYTES], const uint8_t leaf[LDG_HASH_BYTES],
                   uint64_t seq);
void ldgi_commit_key(uint8_t out[LDGI_COMMIT_KEY_BYTES], int64_t claimed_ns,
                     const uint8_t commit[LDG_HASH_BYTES]);
/*
 * The seq of the entry below `before` (UINT64_MAX: the ledger's size) whose
 * leaf hash is `hash`: looked up in the leaf-hash index epoch by epoch, newest
 * first, and counted only when the entry it names hashes to `hash`.
 * LDG_E_NOTFOUND when there is none.
 */
ldg_status ldgi_leaf_find(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES], uint64_t before,
                          uint64_t *seq, ldg_err *err);
/*
 * LDG_OK if entry seq hashes to `hash` in t, LDG_E_NOTFOUND if it does not or
 * there is no such entry: hashed once a transaction, through the hints
 * ldgi_leaf_find keeps (a batch's statements all name the same observed head).
 */
ldg_status ldgi_leaf_is(ldgi_txn *t, uint64_t seq, const uint8_t hash[LDG_HASH_BYTES],
                        ldg_err *err);
/*
 * Notes in t's hints that entry seq hashes to `hash`, for a walk that hashes
 * every entry it reads: a later ref to it is then resolved by
 * ldgi_leaf_find (or checked by ldgi_leaf_is) without a lookup or a hash.
 * The caller MUST have computed `hash` from the bytes of entry seq as t
 * reads them; nothing else may be noted (an index, a later entry's prev).
 */
void ldgi_leaf_note(ldgi_txn *t, uint64_t seq, const uint8_t hash[LDG_HASH_BYTES]);

/* Key state in LDGI_DB_KEYS: added seq, revoked seq (UINT64_MAX if active), roles bits. */
#define LDGI_KEYSTATE_BYTES 17
typedef struct ldgi_keystate {
    uint64_t added_seq;
    uint64_t revoked_seq; /* UINT64_MAX while active */
    uint8_t roles;
} ldgi_keystate;
void ldgi_keystate_pack(const ldgi_keystate *k, uint8_t out[LDGI_KEYSTATE_BYTES]);
bool ldgi_keystate_unpack(const uint8_t *p, size_t n, ldgi_keystate *k);

/*
 * The key registry as a verifier rebuilds it from the key records (verify,
 * verify-bundle): an open-addressing table of pub -> ldgi_keystate.
 */
typedef struct ldgi_regslot {
    bool used;
    uint8_t pub[LDG_PUB_BYTES];
    ldgi_keystate ks;
    uint8_t ident[LDG_HASH_BYTES]; /* [POL-13] its identity */
    bool has_link;                 /* link holds the key of this identity added before it */
    uint8_t link[LDG_PUB_BYTES];
} ldgi_regslot;
typedef struct ldgi_registry {
    ldgi_regslot *slot;
    size_t cap, n;
    /* identity -> its last key (slot pub = identity, link = key pub): the keys of one person */
    ldgi_regslot *ids;
    size_t idcap, idn;
} ldgi_registry;
/* The slot of pub; with insert, a new zeroed one if absent (NULL: out of memory). */
ldgi_regslot *ldgi_registry_find(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES], bool insert);
/* A key's state in the registry: LDG_OK with *ks, or LDG_E_NOTFOUND (an engine's key view). */
ldg_status ldgi_registry_get(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES], ldgi_keystate *ks);
void ldgi_registry_free(ldgi_registry *r);
/* [POL-13] The identity of a key in the registry: LDG_OK or LDG_E_NOTFOUND (an engine's view). */
ldg_status ldgi_registry_identity(ldgi_registry *r, const uint8_t pub[LDG_PUB_BYTES],
                                  uint8_t id[LDG_HASH_BYTES]);
/* Calls each for every key of identity id in the registry, newest first, until it returns false. */
typedef bool (*ldgi_idkey_fn)(void *ectx, const uint8_t pub[LDG_PUB_BYTES],
                              const ldgi_keystate *ks);
void ldgi_registry_identity_keys(ldgi_registry *r, const uint8_t id[LDG_HASH_BYTES],
                                 ldgi_idkey_fn each, void *ectx);

/*
 * The policy engine: ONE function applies every rule of [POL-1..16] and
 * [KEY-4] to a statement becoming entry `seq`, for every caller (append,
 * verify, verify-bundle), so the rules cannot drift apart.  What differs
 * between callers is only where the state comes from (the env's
 * callbacks): the ledger's databases at append, what a verifier rebuilt
 * from the entries, or what a bundle holds.
 *
 * The checks, one table (ldgi_checks): the stable name a verifier reports
 * (spec/format.md [VER-*]), the spec section, and what the check is.
 */
typedef enum ldgi_check {
    LDGI_CHECK_SHAPE,      /* policy   [POL-1][POL-3][POL-5][POL-6][POL-7][POL-10] */
    LDGI_CHECK_GENESIS,    /* genesis  [POL-4][FMT-9] */
    LDGI_CHECK_ORIGIN,     /* policy   [POL-10] */
    LDGI_CHECK_SIGNER,     /* key      [POL-4] registered, not revoked */
    LDGI_CHECK_ROLE,       /* policy   [POL-4] holds a role the kind needs */
    LDGI_CHECK_REF,        /* ref      [POL-7] */
    LDGI_CHECK_OBSERVED,   /* observed [POL-8] */
    LDGI_CHECK_KEY_RECORD, /* key      [KEY-4] what a key.add / key.revoke may do */
    LDGI_CHECK_JUDGE_REF,  /* duties [POL-12] an approval or rejection refs what it judges */
    LDGI_CHECK_OWN_RECORD, /* duties [POL-13] no one approves or rejects their own record */
    LDGI_CHECK_ADMIN_ONLY, /* duties [POL-14] an admin key holds no other role */
    LDGI_CHECK_IDENTITY,   /* duties [POL-15] a second key or a re-enrolment says why */
    LDGI_CHECK_SELF_ENROL, /* duties [POL-16] no admin registers a key of their own identity */
    LDGI_CHECK_COUNT
} ldgi_check;
typedef struct ldgi_check_info {
    const char *name; /* verify's finding check */
    const char *spec; /* the spec ids */
    const char *what;
} ldgi_check_info;
extern const ldgi_check_info ldgi_checks[LDGI_CHECK_COUNT];

/* What the env knows of a ref or observed head. */
typedef enum ldgi_link {
    LDGI_LINK_OK,      /* it names the right entry */
    LDGI_LINK_BAD,     /* it does not */
    LDGI_LINK_LATER,   /* the caller checks it later (verify's merge pass) */
    LDGI_LINK_UNKNOWN, /* cannot be checked from what the caller holds (a bundle without it) */
} ldgi_link;

/* The entry a ref names, as far as [POL-13] and [POL-15] look at it. */
typedef struct ldgi_refentry {
    uint64_t seq;
    ldgi_kindclass kc;
    uint8_t actor[LDG_PUB_BYTES];   /* who signed it */
    uint8_t key_pub[LDG_PUB_BYTES]; /* a key record's key (genesis, key.add, key.revoke) */
} ldgi_refentry;

typedef struct ldgi_policy_env {
    void *ctx;
    /* The registry's record of pub as it stands: LDG_OK, LDG_E_NOTFOUND, or an error. */
    ldg_status (*key)(void *ctx, const uint8_t pub[LDG_PUB_BYTES], ldgi_keystate *ks, ldg_err *err);
    /* The ledger's log key and origin (from its genesis); called only when needed. */
    ldg_status (*ledger)(void *ctx, const uint8_t **logkey, const char **origin, size_t *origin_len,
                         ldg_err *err);
    /* Is hash the leaf hash of an entry before seq?  (ref r, 1-based) */
    ldg_status (*ref)(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq, size_t r,
                      ldgi_link *out, ldg_err *err);
    /* Is head the leaf hash of entry size - 1 (1 <= size <= seq)? */
    ldg_status (*observed)(void *ctx, uint64_t size, const uint8_t head[LDG_HASH_BYTES],
                           uint64_t seq, ldgi_link *out, ldg_err *err);
    bool allow_genesis; /* a genesis may be entry 0 (init, and every verifier) */
    /*
     * [POL-13][POL-15] The entry before seq whose leaf hash (recomputed from
     * its bytes, never taken from an index) is hash: LDG_OK with *out, or
     * LDG_E_NOTFOUND when the caller does not hold it (a bundle without it;
     * or a ref that names nothing, which the ref check reports).
     */
    ldg_status (*ref_entry)(void *ctx, const uint8_t hash[LDG_HASH_BYTES], uint64_t seq,
                            ldgi_refentry *out, ldg_err *err);
    /* [POL-13] The identity of a registered key: LDG_OK, LDG_E_NOTFOUND, or an error. */
    ldg_status (*identity)(void *ctx, const uint8_t pub[LDG_PUB_BYTES], uint8_t id[LDG_HASH_BYTES],
                           ldg_err *err);
    /* [POL-15] Calls each for every registered key of identity id (whenever added). */
    ldg_status (*identity_keys)(void *ctx, const uint8_t id[LDG_HASH_BYTES], ldgi_idkey_fn each,
                                void *ectx, ldg_err *err);
} ldgi_policy_env;

/* What a key record does to the registry once its checks allow it [VER-6]. */
typedef struct ldgi_key_effect {
    enum { LDGI_KEY_NONE, LDGI_KEY_ADD, LDGI_KEY_REVOKE } op;
    uint8_t pub[LDG_PUB_BYTES];
    uint8_t roles;                 /* LDGI_KEY_ADD */
    uint8_t ident[LDG_HASH_BYTES]; /* LDGI_KEY_ADD: its identity [POL-13] */
} ldgi_key_effect;

/*
 * Called for each failed check in the table's order, with the status a
 * producer gets (LDG_E_INPUT or LDG_E_POLICY) and a one-line why (hostile
 * bytes possible: the printer escapes).  Return true to go on (a verifier
 * reports every finding), false to stop at the first (append).
 */
typedef bool (*ldgi_policy_fail_fn)(void *ctx, ldgi_check c, ldg_status status, const char *why);

/*
 * Applies the policy to st becoming entry seq.  Returns LDG_OK when the
 * checks ran, whatever they found (failures go to fail), or an operational
 * error from a callback.  *effect says how the registry changes: a key record
 * changes it when its shape, signer and role check, and what it does is
 * allowed (add a key not yet registered, revoke an active one), whatever
 * else fails in it ([VER-6]: the failures still fail the verdict).
 */
ldg_status ldgi_policy_apply(const ldgi_policy_env *env, const ldgi_stmt *st, uint64_t seq,
                             ldgi_policy_fail_fn fail, void *fctx, ldgi_key_effect *effect,
                             ldg_err *err);
/* Applies a key effect to a registry rebuilt in memory (verify, verify-bundle). */
ldg_status ldgi_registry_apply(ldgi_registry *r, const ldgi_key_effect *e, uint64_t seq,
                               ldg_err *err);

/*
 * Size of the ledger within t, from the key of its last entry (no entry is
 * decoded or hashed; an entry that does not decode is still counted): 0 when
 * empty, LDG_E_CORRUPT with the message `malformed` when that key is not 8 bytes.
 */
ldg_status ldgi_entries_size(ldgi_txn *t, uint64_t *n, const char *malformed, ldg_err *err);
/* Head of the chain within t: size, last leaf hash (zeros if empty), last host time. */
ldg_status ldgi_head(ldgi_txn *t, uint64_t *size, uint8_t head[LDG_HASH_BYTES], uint64_t *last_time,
                     ldg_err *err);
/*
 * The genesis' origin (a view into the map, valid while t lives; 1..LDG_TEXT_MAX
 * bytes) and log key.  LDG_E_CORRUPT when entry 0 is missing or not a genesis.
 */
ldg_status ldgi_genesis(ldgi_txn *t, ldgi_str *origin, uint8_t logkey[LDG_PUB_BYTES], ldg_err *err);
/* Leaf hash of entry seq within t, hashed from the stored bytes. */
ldg_status ldgi_leaf_at(ldgi_txn *t, uint64_t seq, uint8_t out[LDG_HASH_BYTES], ldg_err *err);
/*
 * [POL-13][POL-15] The entry before `before` that hash names, found through
 * the leaf index and proven by re-hashing its stored bytes (an engine's
 * ref_entry at append and in verify): LDG_OK, LDG_E_NOTFOUND (no such
 * entry, or bytes that do not decode: other checks report them), or an
 * error.
 */
ldg_status ldgi_ref_entry(ldgi_txn *t, const uint8_t hash[LDG_HASH_BYTES], uint64_t before,
                          ldgi_refentry *out, ldg_err *err);

/* Standard base64 of exactly `want` bytes, in its one canonical spelling (checkpoint.c). */
bool ldgi_b64_exact(const char *p, size_t n, uint8_t *out, size_t want);

/* Appends inside an open write transaction (append.c); genesis allowed only when allow_genesis. */
/* base: items already appended in this transaction (for messages and err->index). */
ldg_status ldgi_append_txn(ldgi_txn *t, ldg_signed *const *s, size_t n, size_t base,
                           ldg_appended *out, bool allow_genesis, ldg_err *err);
/* [MIR-5] Stores one fetched entry (and its body, salt || body, or NULL) at the head (append.c). */
/* An erasure's target below keep_below keeps its body: *deferred is its seq (else UINT64_MAX). */
ldg_status ldgi_mirror_put(ldgi_txn *t, const uint8_t *entry, size_t len, const uint8_t *body,
                           size_t blen, uint64_t keep_below, uint64_t *deferred, char *why,
                           size_t wl, ldg_err *err);
/*
 * [MIR-9] Undoes ldgi_mirror_put of the head entry seq: the entry, its body
 * and every index row it wrote (LDG_E_CORRUPT when it does not decode).
 * ldgi_mirror_drop_keys then returns the key registry to what the first
 * `from` entries built (keys added from `from` on removed, revocations
 * from `from` on undone).
 */
ldg_status ldgi_mirror_drop(ldgi_txn *t, uint64_t seq, ldg_err *err);
ldg_status ldgi_mirror_drop_keys(ldgi_txn *t, uint64_t from, ldg_err *err);
/* Entries per committed step of a mirror run, in bundles of 256 (tests lower it). */
extern unsigned ldgi_mirror_step;
/*
 * [POL-11] The record erasure statement st (one ref) erases, resolved in t
 * through the leaf index and checked against the entry's own bytes: *target
 * is its seq.  LDG_E_POLICY (why says it) when the ref names no entry, or an
 * entry that is not a user record, is itself an erasure, or is of another
 * study; the caller checks the body is there.  Other statuses: could not read.
 */
ldg_status ldgi_erasure_target(ldgi_txn *t, const ldgi_stmt *st, uint64_t *target, char *why,
                               size_t wl, ldg_err *err);
/* [POL-11] The seq of the erasure record that names entry seq (leaf hash leaf), if any. */
ldg_status ldgi_erasure_of(ldgi_txn *t, uint64_t seq, const uint8_t leaf[LDG_HASH_BYTES],
                           uint64_t *erasure, ldg_err *err);
/*
 * [STO-2] Creates the directory, if needed, and an empty environment in a
 * fresh temporary directory inside it (DIR/.init-XXXXXX), never in DIR
 * itself; refuses when DIR already holds a ledger.  ldgi_ledger_create_finish
 * closes it and, when ok, publishes its data.mdb as DIR/data.mdb with one
 * link(2) (atomic; LDG_E_EXISTS if another init won), so a ledger appears
 * whole, with its synced genesis, or not at all.  The temporary directory is
 * removed either way; one left by a killed init blocks nothing.  Returns
 * `ok` when it is not LDG_OK, else the publishing's status.
 */
ldg_status ldgi_ledger_create_env(const char *dir, ldg_ledger **out, ldg_err *err);
ldg_status ldgi_ledger_create_finish(ldg_ledger *l, const char *dir, ldg_status ok, ldg_err *err);
const char *ldgi_ledger_dir(const ldg_ledger *l);
/*
 * [STO-7] LMDB's file structure, checked by ldg (pages.c): both meta pages
 * (before LMDB opens the file), and every page reached from the meta of
 * transaction txnid.  *stale when the file's current meta is no longer
 * txnid's (a writer committed since): begin again.
 */
ldg_status ldgi_pages_metas(int fd, ldg_err *err);
ldg_status ldgi_pages_check(int fd, uint64_t txnid, bool *stale, ldg_err *err);

/* Removes a half-created ledger's LMDB files (after a failed create). */
void ldgi_ledger_remove_files(const char *dir);

/*
 * --- the verify engine for the library's own callers (verify.c) ---
 * ldg_verify_run with what signing and QA checks need from the same
 * snapshot.  With prefix_only (and o->since_size > 0) only the entries
 * below since_size are read: re-hashed into the tree head (which must equal
 * since_root), key records decoded, signature-checked and replayed; nothing
 * else is looked at.  With qa_note, the key records below since_size are
 * searched for a key holding the qa role [POL-2] whose cosignature [CKP-5]
 * of that note verifies, and which no entry below since_size revokes.
 */
typedef struct ldgi_verify_x {
    bool prefix_only;    /* in */
    const char *qa_note; /* in: NULL, or a checkpoint to find a registered QA cosigner of */
    size_t qa_len;
    bool have_genesis; /* out: origin and log key of the genesis verify read */
    char origin[LDG_TEXT_MAX + 1];
    uint8_t logkey[LDG_PUB_BYTES];
    bool qa_ok; /* out: a registered QA key cosigned qa_note */
    char qa_name[LDG_NAME_MAX + 1];
    uint64_t qa_time;
    /*
     * in: with qa_note and since_size, the run goes on past since_size only
     * if the entries below it gave its root without a finding and a
     * registered QA key cosigned it (their findings are held back until
     * then).  Otherwise it stops there, having reported nothing, with
     * gate_failed set (and gate_rewritten when the entries did not check).
     */
    bool qa_gate;
    bool gate_failed, gate_rewritten; /* out */
    ldgi_txn *snap; /* in: NULL, or the caller's read snapshot to verify (left open) */
    /*
     * in: with tie_size > 0, the run also recomputes the tree head of the
     * first tie_size entries (a checkpoint the caller holds, e.g. a bundle's)
     * and reports a "checkpoint" FAIL when it is not tie_root.
     */
    uint64_t tie_size;
    uint8_t tie_root[LDG_HASH_BYTES];
    /*
     * in: [MIR-6] a mirror that holds no bodies: a body missing without an
     * erasure record is counted as withheld (summary), not a failure.
     */
    bool withheld_ok;
} ldgi_verify_x;
ldg_status ldgi_verify_run(ldg_ledger *l, const ldg_verify_opts *o, ldg_verify_summary *sum,
                           ldgi_verify_x *x, ldg_err *err);
/*
 * ldg_verify_since with base's snapshot (left open) and tie checkpoint (see
 * ldgi_verify_x); base NULL: its own snapshot, no tie.
 */
ldg_status ldgi_verify_since(ldg_ledger *l, const ldg_verify_opts *o, const char *note, size_t len,
                             const char *const *qa, size_t nqa, ldg_verify_summary *sum,
                             char who[LDG_NAME_MAX + 1], char *why, size_t whylen, int *rewritten,
                             const ldgi_verify_x *base, ldg_err *err);

/* --- external sort of hash-keyed records (runs.c), for verify's merge checks --- */
typedef struct ldgi_rec {
    uint8_t key[LDG_HASH_BYTES];
    uint64_t seq; /* the entry the record is about */
    uint64_t aux; /* what the merge needs besides: e.g. the seq a ref must precede */
} ldgi_rec;
typedef struct ldgi_runs ldgi_runs;
ldgi_runs *ldgi_runs_new(void); /* NULL when out of memory */
void ldgi_runs_free(ldgi_runs *r);
/* false on failure (no temporary file, out of memory): the check cannot be done. */
bool ldgi_runs_add(ldgi_runs *r, const uint8_t key[LDG_HASH_BYTES], uint64_t seq, uint64_t aux);
/* Ends adding; afterwards peek/next return the records in (key, seq) order. */
bool ldgi_runs_finish(ldgi_runs *r);
const ldgi_rec *ldgi_runs_peek(ldgi_runs *r);
bool ldgi_runs_next(ldgi_runs *r, ldgi_rec *out);
bool ldgi_runs_failed(const ldgi_runs *r);
bool ldgi_runs_oom(const ldgi_runs *r); /* failed for want of memory, not of the file */

/* --- RFC 6962 Merkle tree (merkle.c; issue 3: not yet stored or on the CLI) --- */
/* Hash of the perfect subtree at (level, index); true on success. */
typedef bool (*ldgi_node_fn)(void *ctx, unsigned level, uint64_t index,
                             uint8_t out[LDG_HASH_BYTES]);
#define LDGI_PROOF_MAX LDG_PROOF_MAX /* hashes in any proof of a tree of < 2^63 leaves */
void ldgi_node_hash(const uint8_t l[LDG_HASH_BYTES], const uint8_t r[LDG_HASH_BYTES],
                    uint8_t out[LDG_HASH_BYTES]);
/*
 * The root of the perfect subtree over 64 leaf hashes, two node hashes at a
 * time; edge (NULL: not wanted) gets, for each level 0..5, the node left of
 * the last one: what a leaf-by-leaf fold leaves in its frontier there.
 */
void ldgi_root64(const uint8_t (*leaf)[LDG_HASH_BYTES], uint8_t out[LDG_HASH_BYTES],
                 uint8_t (*edge)[LDG_HASH_BYTES]);
/* Two node hashes at once: l1 || r1 into o1, l2 || r2 into o2 (ldgi_sha256_pair). */
void ldgi_node_hash_pair(const uint8_t l1[LDG_HASH_BYTES], const uint8_t r1[LDG_HASH_BYTES],
                         uint8_t o1[LDG_HASH_BYTES], const uint8_t l2[LDG_HASH_BYTES],
                         const uint8_t r2[LDG_HASH_BYTES], uint8_t o2[LDG_HASH_BYTES]);
bool ldgi_merkle_root(uint64_t size, ldgi_node_fn fn, void *ctx, uint8_t root[LDG_HASH_BYTES]);
/* Number of hashes written to out (RFC 9162 order), or SIZE_MAX. */
size_t ldgi_merkle_inclusion(uint64_t index, uint64_t size, ldgi_node_fn fn, void *ctx,
                             uint8_t (*out)[LDG_HASH_BYTES], size_t max);
size_t ldgi_merkle_consistency(uint64_t old_size, uint64_t size, ldgi_node_fn fn, void *ctx,
                               uint8_t (*out)[LDG_HASH_BYTES], size_t max);
bool ldgi_merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[LDG_HASH_BYTES],
                                  const uint8_t (*path)[LDG_HASH_BYTES], size_t len,
                                  const uint8_t root[LDG_HASH_BYTES]);
/*
 * The stored tree [STO-6]: bands of LDGI_TREE_BAND levels, one record per
 * cluster (the LDGI_TREE_CLUSTER nodes of a band under one node of the band
 * above), its hashes in the order the ledger completes them.  Node (level,
 * index) is hash pos of the record under key.
 */
#define LDGI_TREE_BAND 4
#define LDGI_TREE_CLUSTER 30 /* 16 + 8 + 4 + 2 */
#define LDGI_TREE_KEY_BYTES 9
void ldgi_tree_slot(unsigned level, uint64_t index, uint8_t key[LDGI_TREE_KEY_BYTES],
                    unsigned *pos);
/*
 * The records a tree of n leaves is stored in: their number, and what the
 * last of each band holds.  why gets a finding ("" when the shape is right);
 * a status other than LDG_OK only when t fails.
 */
ldg_status ldgi_tree_shape(ldgi_txn *t, uint64_t n, char *why, size_t why_len, ldg_err *err);
/*
 * The last record read in each band, copied: a walk over many nodes in the
 * order the ledger completes them (verify's, the mirror's tiles) reads each
 * record once instead of once a node.  Zeroed before use; only for one
 * snapshot in which nothing writes the tree.
 */
typedef struct ldgi_tree_rec {
    bool held;
    uint8_t key[LDGI_TREE_KEY_BYTES];
    unsigned n; /* hashes the record holds (0: absent or malformed) */
    uint8_t h[LDGI_TREE_CLUSTER][LDG_HASH_BYTES];
} ldgi_tree_rec;
typedef struct ldgi_tree_cache {
    ldgi_tree_rec band[64 / LDGI_TREE_BAND];
} ldgi_tree_cache;
/* Node (level, index) in t through c; false when it is not stored. */
bool ldgi_tree_cached(ldgi_txn *t, ldgi_tree_cache *c, unsigned level, uint64_t index,
                      uint8_t out[LDG_HASH_BYTES]);
/* Reads a stored tree node in t (ctx is the ldgi_txn). */
bool ldgi_tree_node(void *t, unsigned level, uint64_t index, uint8_t out[LDG_HASH_BYTES]);
/* Stores the leaf of entry seq and every perfect subtree it completes [STO-6]. */
ldg_status ldgi_tree_add(ldgi_txn *t, uint64_t seq, const uint8_t leaf[LDG_HASH_BYTES],
                         ldg_err *err);
/* Removes the leaf of entry seq and every perfect subtree it completed (the head's undo). */
ldg_status ldgi_tree_drop(ldgi_txn *t, uint64_t seq, ldg_err *err);
bool ldgi_merkle_verify_consistency(uint64_t old_size, uint64_t size,
                                    const uint8_t old_root[LDG_HASH_BYTES],
                                    const uint8_t root[LDG_HASH_BYTES],
                                    const uint8_t (*proof)[LDG_HASH_BYTES], size_t len);
