/*
 * test_cli.c - the `ldg` command line, run as a real process on real LMDB
 * ledgers: output formats, every policy refusal (exit 3) and bad input
 * (exit 2) with its one-line message and no write, atomic batches, signing
 * elsewhere, passphrases, missing or existing ledgers, concurrent appenders,
 * log filters and the key registry listing.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ldg.h"

/* ------------------------------------------------------------ helpers -- */

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s", what, r.status, r.err);
    run_free(&r);
}

/* stderr is exactly one line starting with "ldg CMD: " */
static void
assert_one_line_error(const run_result *r, const char *cmd)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "ldg %s: ", cmd);
    cr_assert(strncmp(r->err, prefix, strlen(prefix)) == 0, "stderr should start with \"%s\": %s",
              prefix, r->err);
    size_t n = strlen(r->err);
    cr_assert(n > 0 && r->err[n - 1] == '\n', "stderr should end in a newline: %s", r->err);
    cr_assert(memchr(r->err, '\n', n - 1) == NULL, "stderr should be one line: %s", r->err);
}

/*
 * Asserts a refusal: exit code, one-line "ldg CMD: " error containing needle
 * (and needle2 if given), nothing on stdout, and the ledger size unchanged.
 */
static void
expect_fail(const char *d, run_result r, int code, const char *cmd, const char *needle,
            const char *needle2, long size_before)
{
    cr_assert_eq(r.status, code, "expected exit %d, got %d; stdout: %s stderr: %s", code, r.status,
                 r.out, r.err);
    assert_one_line_error(&r, cmd);
    cr_assert(strstr(r.err, needle) != NULL, "stderr should mention \"%s\": %s", needle, r.err);
    if (needle2)
        cr_assert(strstr(r.err, needle2) != NULL, "stderr should mention \"%s\": %s", needle2,
                  r.err);
    cr_assert_str_empty(r.out, "nothing may be printed on stdout: %s", r.out);
    run_free(&r);
    if (size_before >= 0)
        cr_assert_eq(ledger_size(d), size_before, "the ledger must not grow");
}

static json_t *
parse_json(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "not JSON (%s): %s", je.text, text);
    return j;
}

/* seq and base64 leaf hash of an "SEQ HASH" line. */
static uint64_t
parse_appended(const char *line, char hash[64])
{
    unsigned long long seq;
    char h[64] = {0};
    cr_assert_eq(sscanf(line, "%llu %63s", &seq, h), 2, "expected \"SEQ HASH\": %s", line);
    cr_assert_eq(strlen(h), 44, "leaf hash should be 44 base64 chars: %s", line);
    if (hash)
        strcpy(hash, h);
    return seq;
}

static size_t
count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* Appends one communication by author; returns its seq. */
static uint64_t
append_comm(const char *d, const char *key, const char *study, char hash[64])
{
    run_result r = LDG(d, "{\"subject\":\"x\"}", "append", "--as", key, "--kind", "communication",
                       "--study", study, "--body", "-");
    cr_assert_eq(r.status, 0, "append: %s", r.err);
    uint64_t s = parse_appended(r.out, hash);
    run_free(&r);
    return s;
}

static void
b64_to_hex(const char *b64, char hex[65])
{
    uint8_t bin[32];
    size_t n;
    cr_assert_eq(sodium_base642bin(bin, sizeof bin, b64, strlen(b64), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(n, 32);
    sodium_bin2hex(hex, 65, bin, 32);
}

static bool
exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Checks leaf_hash == base64(SHA-256(0x00 || base64decode(leaf))). */
static void
assert_leaf_hash_matches(json_t *rec)
{
    const char *leaf = json_string_value(json_object_get(rec, "leaf"));
    const char *lh = json_string_value(json_object_get(rec, "leaf_hash"));
    cr_assert_not_null(leaf);
    cr_assert_not_null(lh);
    size_t ll = strlen(leaf), n;
    uint8_t *bin = malloc(ll + 1);
    bin[0] = 0x00;
    cr_assert_eq(sodium_base642bin(bin + 1, ll, leaf, ll, NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0, "leaf is not base64");
    uint8_t h[32];
    crypto_hash_sha256(h, bin, n + 1);
    free(bin);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, h, 32, sodium_base64_VARIANT_ORIGINAL);
    cr_assert_str_eq(lh, b64, "leaf_hash must be SHA-256(0x00 || leaf)");
}

static void
assert_record_json_shape(json_t *o)
{
    static const char *const keys[] = {"seq",  "time",    "kind", "study", "actor",
                                       "refs", "meaning", "body", "leaf",  "leaf_hash"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null(json_object_get(o, keys[i]), "record JSON lacks \"%s\"", keys[i]);
    cr_assert(json_is_integer(json_object_get(o, "seq")));
    cr_assert(json_is_string(json_object_get(o, "time")));
    cr_assert(json_is_object(json_object_get(o, "actor")));
    cr_assert(json_is_array(json_object_get(o, "refs")));
    assert_leaf_hash_matches(o);
}

/* ---------------------------------------------------- append and show -- */

Test(append, body_from_file_prints_seq_and_leaf_hash_and_show_json_has_every_field,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "c.json", "{\"subject\":\"Visit window\",\"text\":\"Site 12 asks\"}");
    run_result r = LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                       "--study", "HX-301", "--body", "c.json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_empty(r.err);
    cr_assert_eq(count_lines(r.out), 1, "one line per record: %s", r.out);
    char hash[64];
    cr_assert_eq(parse_appended(r.out, hash), 4);
    run_free(&r);

    r = LDG(d, NULL, "show", "4", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 1, "one JSON object per line");
    json_t *o = parse_json(r.out);
    assert_record_json_shape(o);
    cr_assert_eq(json_integer_value(json_object_get(o, "seq")), 4);
    cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "communication");
    cr_assert_str_eq(json_string_value(json_object_get(o, "study")), "HX-301");
    cr_assert(json_is_null(json_object_get(o, "meaning")));
    cr_assert_eq(json_array_size(json_object_get(o, "refs")), 0);
    json_t *a = json_object_get(o, "actor");
    cr_assert_str_eq(json_string_value(json_object_get(a, "name")), "Carla Rossi");
    cr_assert_str_eq(json_string_value(json_object_get(a, "org")), "Acme CRO");
    cr_assert_str_eq(json_string_value(json_object_get(a, "id")), "author");
    json_t *want = parse_json("{\"subject\":\"Visit window\",\"text\":\"Site 12 asks\"}");
    cr_assert(json_equal(json_object_get(o, "body"), want), "body must round-trip");
    cr_assert_str_eq(json_string_value(json_object_get(o, "leaf_hash")), hash,
                     "append's printed leaf hash == show's leaf_hash");
    const char *t = json_string_value(json_object_get(o, "time"));
    cr_assert(strlen(t) > 20 && t[strlen(t) - 1] == 'Z', "time is ISO 8601 UTC: %s", t);
    json_decref(want);
    json_decref(o);
    run_free(&r);

    r = LDG(d, NULL, "show", "4");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "Carla Rossi") && strstr(r.out, "Visit window") &&
                  strstr(r.out, "communication"),
              "%s", r.out);
    run_free(&r);
}

Test(append, body_from_stdin_and_log_json_records_carry_refs_meaning_and_valid_leaf_hash,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char h4[64];
    append_comm(d, "author.key", "S1", h4);
    run_result r = LDG(d, "{\"subject\":\"Approved\"}", "append", "--as", "approver.key",
                       "--kind", "approval", "--meaning", "approval", "--study", "S1", "--ref",
                       "4", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char h5[64];
    cr_assert_eq(parse_appended(r.out, h5), 5);
    run_free(&r);

    r = LDG(d, NULL, "log", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 6, "%s", r.out);
    uint64_t expect = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"), expect++) {
        json_t *o = parse_json(line);
        assert_record_json_shape(o);
        cr_assert_eq(json_integer_value(json_object_get(o, "seq")), (json_int_t)expect);
        if (expect == 5) {
            cr_assert_str_eq(json_string_value(json_object_get(o, "meaning")), "approval");
            cr_assert_str_eq(json_string_value(json_object_get(o, "leaf_hash")), h5);
            json_t *refs = json_object_get(o, "refs");
            cr_assert_eq(json_array_size(refs), 1);
            json_t *ref = json_array_get(refs, 0);
            cr_assert_eq(json_integer_value(json_object_get(ref, "seq")), 4);
            cr_assert_str_eq(json_string_value(json_object_get(ref, "hash")), h4,
                             "a ref is the leaf hash of the referenced record");
            cr_assert_str_eq(json_string_value(
                                 json_object_get(json_object_get(o, "actor"), "name")),
                             "Quinn Avery");
            json_t *want = parse_json("{\"subject\":\"Approved\"}");
            cr_assert(json_equal(json_object_get(o, "body"), want));
            json_decref(want);
        }
        json_decref(o);
    }
    run_free(&r);
}

Test(append, claimed_time_keeps_the_originating_utc_offset, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "append", "--as", "author.key", "--kind", "meeting", "--study", "S1",
           "--time", "2024-03-01T10:00:00+02:00"),
       "append --time");
    run_result r = LDG(d, NULL, "show", "4", "--json");
    cr_assert_eq(r.status, 0);
    json_t *o = parse_json(r.out);
    cr_assert_eq(json_integer_value(json_object_get(o, "tz_offset_minutes")), 120);
    const char *ct = json_string_value(json_object_get(o, "claimed_time"));
    cr_assert(ct && strncmp(ct, "2024-03-01T10:00:00", 19) == 0 && strstr(ct, "+02:00"), "%s",
              ct);
    json_decref(o);
    run_free(&r);
}

/* ---------------------------------------------------- policy refusals -- */

Test(policy, unregistered_key_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "stranger", "--out", "stranger", "--unencrypted"),
       "keygen");
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "stranger.key", "--kind", "communication",
                    "--study", "S1"),
                3, "append", "not registered", NULL, 4);
}

Test(policy, revoked_key_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_comm(d, "author.key", "S1", NULL);
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
           "left the project"),
       "key revoke");
    cr_assert_eq(ledger_size(d), 6);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1"),
                3, "append", "revoked", NULL, 6);
}

Test(policy, author_doing_decision_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "decision", "--study",
                    "S1"),
                3, "append", "decider", NULL, 4);
}

Test(policy, author_doing_approval_with_meaning_is_refused_exit_3_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "approval", "--meaning",
                    "approval", "--study", "S1", "--ref", "1"),
                3, "append", "approver", NULL, 4);
}

Test(policy, non_admin_doing_key_add_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "newbie", "--out", "newbie", "--unencrypted"), "keygen");
    expect_fail(d,
                LDG(d, NULL, "key", "add", "--as", "author.key", "--pub", "newbie.pub", "--name",
                    "New Bie", "--org", "Acme CRO", "--roles", "author"),
                3, "key add", "admin", NULL, 4);
}

Test(policy, approval_without_meaning_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "approver.key", "--kind", "approval", "--study",
                    "S1"),
                3, "append", "meaning", NULL, 4);
}

Test(policy, rejection_without_meaning_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "approver.key", "--kind", "rejection", "--study",
                    "S1"),
                3, "append", "meaning", NULL, 4);
}

Test(policy, correction_without_ref_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_comm(d, "author.key", "S1", NULL);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "correction", "--study",
                    "S1", "--reason", "typo in date"),
                3, "append", "correction", "ref", 5);
}

Test(policy, correction_without_reason_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_comm(d, "author.key", "S1", NULL);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "correction", "--study",
                    "S1", "--ref", "4"),
                3, "append", "correction", "reason", 5);
    /* and with both it goes through */
    ok(LDG(d, NULL, "append", "--as", "author.key", "--kind", "correction", "--study", "S1",
           "--ref", "4", "--reason", "typo in date"),
       "correction with ref and reason");
    cr_assert_eq(ledger_size(d), 6);
}

Test(policy, ref_to_a_record_that_does_not_exist_is_refused_exit_3_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--ref", "999"),
                3, "append", "999", NULL, 4);
    /* a well-formed leaf hash of no record is refused just the same */
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--ref",
                    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
                3, "append", "no entry", NULL, 4);
}

Test(policy, statement_observing_another_ledgers_head_is_refused_exit_3_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    /* a fork: another ledger under the same origin, with another history */
    ok(LDG(d, NULL, "init", "--ledger", "other", "--origin", "test.example/ledger", "--log-key",
           "log.key", "--admin", "admin.pub"),
       "init other");
    run_result r = LDG(d, "{\"subject\":\"sent\"}", "sign", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--observed-from", "other", "--body",
                       "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "o.stmt", r.out);
    run_free(&r);
    expect_fail(d, LDG(d, NULL, "append", "--signed", "o.stmt"), 3, "append", "observed", NULL,
                4);
}

/* [POL-10] a statement signed for one ledger cannot be replayed into another. */
Test(policy, statement_signed_for_another_ledger_is_refused_exit_3, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "init", "--ledger", "other", "--origin", "other.example/ledger",
           "--log-key", "log.key", "--admin", "admin.pub"),
       "init other");
    /* its ref (the other ledger's genesis) names nothing here either: the origin says so first */
    run_result r = LDG(d, "{\"subject\":\"approved\"}", "sign", "--as", "approver.key", "--kind",
                       "approval", "--meaning", "approval", "--study", "S1", "--ledger", "other",
                       "--ref", "0", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "o.stmt", r.out);
    run_free(&r);
    expect_fail(d, LDG(d, NULL, "append", "--signed", "o.stmt"), 3, "append",
                "signed for ledger \"other.example/ledger\"", NULL, 4);
    /* with --origin, no ledger needed; the same refusal */
    r = LDG(d, NULL, "sign", "--as", "author.key", "--kind", "communication", "--study", "S1",
            "--origin", "other.example/ledger", "--ledger", "other");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "p.stmt", r.out);
    run_free(&r);
    expect_fail(d, LDG(d, NULL, "append", "--signed", "p.stmt"), 3, "append", "signed for ledger",
                NULL, 4);
    /* and one bound to this ledger goes in */
    r = LDG(d, NULL, "sign", "--as", "author.key", "--kind", "communication", "--study", "S1",
            "--origin", "test.example/ledger");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "q.stmt", r.out);
    run_free(&r);
    ok(LDG(d, NULL, "append", "--signed", "q.stmt"), "append bound statement");
}

Test(policy, replay_of_the_same_signed_statement_is_refused_exit_3_the_second_time,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, "{\"subject\":\"hello\"}", "sign", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "s.stmt", r.out);
    run_free(&r);
    r = LDG(d, NULL, "append", "--signed", "s.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(parse_appended(r.out, NULL), 4);
    run_free(&r);
    expect_fail(d, LDG(d, NULL, "append", "--signed", "s.stmt"), 3, "append", "replay", NULL, 5);
}

Test(policy, key_add_of_an_already_registered_key_is_refused_exit_3_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "author.pub", "--name",
                    "Carla Rossi", "--org", "Acme CRO", "--roles", "author,decider"),
                3, "key add", "already registered", NULL, 4);
    /* a revoked key stays revoked: re-adding it is refused too */
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
           "lost laptop"),
       "revoke");
    expect_fail(d,
                LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "author.pub", "--name",
                    "Carla Rossi", "--org", "Acme CRO", "--roles", "author"),
                3, "key add", "already registered", NULL, 5);
}

Test(policy, key_revoke_without_reason_is_refused_exit_3_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d, LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub"), 3,
                "key revoke", "reason", NULL, 4);
    /* the key still signs */
    append_comm(d, "author.key", "S1", NULL);
}

Test(policy, key_revoke_of_an_unregistered_key_is_refused_exit_3_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "stranger", "--out", "stranger", "--unencrypted"),
       "keygen");
    expect_fail(d,
                LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "stranger.pub",
                    "--reason", "never joined"),
                3, "key revoke", "not registered", NULL, 4);
}

/* ---------------------------------------------------------- bad input -- */

Test(input, malformed_body_json_is_exit_2_naming_line_and_column, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "bad.json", "{\"a\": 1,\n  \"b\": }\n");
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "bad.json"),
                2, "append", "line 2", "column", 4);
}

Test(input, body_that_is_not_an_object_is_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, "[1, 2, 3]", "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "-"),
                2, "append", "object", NULL, 4);
    expect_fail(d,
                LDG(d, "\"text\"", "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "-"),
                2, "append", "body", NULL, 4);
}

Test(input, unknown_kind_is_exit_2_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "gossip", "--study", "S1"),
                2, "append", "unknown kind", "gossip", 4);
    /* system kinds cannot be appended through --kind either */
    run_result r = LDG(d, NULL, "append", "--as", "admin.key", "--kind", "genesis", "--study", "");
    cr_assert(r.status == 2 || r.status == 3, "genesis via append: exit %d %s", r.status, r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 4);
}

Test(input, invalid_utf8_in_body_is_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "u.json", "{\"subject\":\"caf\xff\xfe\"}");
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "u.json"),
                2, "append", "UTF-8", NULL, 4);
}

/* A valid JSON object file of exactly n bytes: {"a":"xxx..."} */
static void
write_body_of_size(const char *d, const char *name, size_t n)
{
    char *p = path_in(d, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs("{\"a\":\"", f);
    for (size_t i = 0; i < n - 8; i++)
        fputc('x', f);
    fputs("\"}", f);
    cr_assert_eq(ftell(f), (long)n);
    fclose(f);
}

Test(input, body_over_1_mib_is_exit_2_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_body_of_size(d, "big.json", LDG_BODY_MAX + 1);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "big.json"),
                2, "append", "limit", NULL, 4);
}

Test(input, body_of_exactly_1_mib_is_accepted, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_body_of_size(d, "max.json", LDG_BODY_MAX);
    run_result r = LDG(d, NULL, "append", "--as", "author.key", "--kind", "document", "--study",
                       "S1", "--body", "max.json");
    cr_assert_eq(r.status, 0, "a body of exactly LDG_BODY_MAX bytes must be accepted: %s", r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 5);
}

Test(input, batch_with_malformed_json_on_line_3_is_exit_2_naming_line_3_and_column,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b.jsonl",
               "{\"kind\":\"communication\",\"study\":\"S1\"}\n"
               "{\"kind\":\"communication\",\"study\":\"S1\"}\n"
               "{\"kind\":\"communication\",\"study\" \"S1\"}\n"
               "{\"kind\":\"communication\",\"study\":\"S1\"}\n");
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), 2,
                "append", "line 3", "column", 4);
}

Test(input, batch_with_unknown_field_is_exit_2_naming_the_field, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b.jsonl",
               "{\"kind\":\"communication\",\"study\":\"S1\"}\n"
               "{\"kind\":\"communication\",\"study\":\"S1\",\"colour\":\"red\"}\n");
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), 2,
                "append", "colour", "line 2", 4);
}

Test(input, batch_with_wrong_field_type_is_exit_2_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b1.jsonl", "{\"kind\":\"communication\",\"study\":42}\n");
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--batch", "b1.jsonl"), 2,
                "append", "line 1", NULL, 4);
    write_file(d, "b2.jsonl", "{\"kind\":\"communication\",\"study\":\"S1\",\"body\":[1]}\n");
    expect_fail(d, LDG(d, "", "append", "--as", "author.key", "--batch", "b2.jsonl"), 2,
                "append", "body", NULL, 4);
    write_file(d, "b3.jsonl", "{\"kind\":\"communication\",\"study\":\"S1\",\"refs\":\"4\"}\n");
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--batch", "b3.jsonl"), 2,
                "append", "refs", NULL, 4);
}

Test(input, batch_ref_to_missing_record_is_refused_with_one_line_naming_the_line,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b.jsonl",
               "{\"kind\":\"communication\",\"study\":\"S1\"}\n"
               "{\"kind\":\"response\",\"study\":\"S1\",\"refs\":[999]}\n");
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), 3,
                "append", "999", "line 2", 4);
}

Test(input, statement_file_that_does_not_parse_is_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "s.stmt", "this is not a signed statement\n");
    expect_fail(d, LDG(d, NULL, "append", "--signed", "s.stmt"), 2, "append", "line 1", NULL, 4);
    write_file(d, "t.stmt", "{\"ldg\":\"signed-statement/v1\"}\n");
    expect_fail(d, LDG(d, NULL, "append", "--signed", "t.stmt"), 2, "append", "t.stmt", NULL, 4);
}

Test(input, statement_file_with_altered_signature_is_exit_2_and_writes_nothing,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, "{\"subject\":\"hello\"}", "sign", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *s = strstr(r.out, "\"signature\":\"");
    cr_assert_not_null(s, "%s", r.out);
    char *c = s + strlen("\"signature\":\"") + 5;
    *c = *c == 'A' ? 'B' : 'A'; /* another valid base64 char, inside the value */
    write_file(d, "bad.stmt", r.out);
    run_free(&r);
    expect_fail(d, LDG(d, NULL, "append", "--signed", "bad.stmt"), 2, "append", "signature",
                NULL, 4);
}

Test(input, garbage_ref_is_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--ref", "garbage"),
                2, "append", "--ref garbage", NULL, 4);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--ref", "-1"),
                2, "append", "--ref", NULL, 4);
}

Test(input, bad_time_is_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--time", "yesterday"),
                2, "append", "--time", NULL, 4);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--time", "2024-13-45T10:00:00Z"),
                2, "append", "--time", NULL, 4);
}

Test(input, missing_required_options_are_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication"), 2,
                "append", "--study", NULL, 4);
    expect_fail(d, LDG(d, NULL, "append", "--kind", "communication", "--study", "S1"), 2,
                "append", "--as", NULL, 4);
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--kind"), 2, "append", "--kind",
                NULL, 4);
    expect_fail(d, LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "author.pub"), 2,
                "key add", "required", NULL, 4);
    expect_fail(d, LDG(d, NULL, "keygen", "--name", "x"), 2, "keygen", "required", NULL, 4);
    expect_fail(d, LDG(d, NULL, "show"), 2, "show", "SEQ", NULL, 4);
}

Test(input, unknown_option_is_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--colour", "red"),
                2, "append", "--colour", NULL, 4);
    expect_fail(d, LDG(d, NULL, "verify", "--fast"), 2, "verify", "--fast", NULL, 4);
    expect_fail(d, LDG(d, NULL, "log", "--grep", "x"), 2, "log", "--grep", NULL, 4);
    expect_fail(d, LDG(d, NULL, "key", "list", "--all"), 2, "key list", "--all", NULL, 4);
}

Test(input, invalid_meaning_empty_study_missing_body_file_and_empty_batch_are_exit_2,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "approver.key", "--kind", "approval", "--study",
                    "S1", "--meaning", "rubber-stamp"),
                2, "append", "rubber-stamp", NULL, 4);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", ""),
                2, "append", "study", NULL, 4);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "missing.json"),
                2, "append", "missing.json", NULL, 4);
    write_file(d, "empty.jsonl", "");
    expect_fail(d, LDG(d, NULL, "append", "--as", "author.key", "--batch", "empty.jsonl"), 2,
                "append", "no records", NULL, 4);
}

/* ------------------------------------------------------------ batches -- */

Test(batch, five_lines_whose_fourth_is_refused_by_policy_write_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b.jsonl",
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[1]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"review\",\"refs\":[1]}\n"
               "{\"kind\":\"rejection\",\"study\":\"S1\",\"meaning\":\"review\",\"refs\":[2]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"refs\":[1]}\n"
               "{\"kind\":\"approval\",\"study\":\"S1\",\"meaning\":\"approval\",\"refs\":[2]}\n");
    expect_fail(d, LDG(d, NULL, "append", "--as", "approver.key", "--batch", "b.jsonl"), 3,
                "append", "b.jsonl: line 4", "meaning", 4);
    run_result r = LDG(d, NULL, "log", "--kind", "approval");
    cr_assert_eq(r.status, 0);
    cr_assert_str_empty(r.out, "no approval may be written: %s", r.out);
    run_free(&r);
}

/*
 * A batch is written in parts while later lines are still being signed: a
 * refusal (policy or bad input) far into a large batch must still leave
 * nothing written, and name the first bad line.
 */
static char *
big_batch(int lines, int bad_at, const char *bad_line)
{
    char *text = malloc((size_t)lines * 128 + 256);
    size_t n = 0;
    for (int i = 1; i <= lines; i++) {
        if (i == bad_at)
            n += (size_t)sprintf(text + n, "%s\n", bad_line);
        else
            n += (size_t)sprintf(text + n,
                                 "{\"kind\":\"communication\",\"study\":\"S1\","
                                 "\"body\":{\"n\":%d}}\n",
                                 i);
    }
    return text;
}

Test(batch, policy_refusal_in_a_late_part_of_a_large_batch_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char *text = big_batch(3000, 2600, "{\"kind\":\"decision\",\"study\":\"S1\"}");
    expect_fail(d, LDG(d, text, "append", "--as", "author.key", "--batch", "-"), 3, "append",
                "stdin: line 2600", "decider", 4);
    free(text);
}

Test(batch, bad_lines_in_two_parts_report_the_first_in_line_order, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char *text = big_batch(3000, 2900, "{\"kind\":\"communication\",\"study\":7}");
    /* a second bad line, earlier in the file, in another part */
    char *p = strstr(text, "\"n\":700}");
    cr_assert_not_null(p);
    memcpy(p, "\"n\":7,,}", 8);
    expect_fail(d, LDG(d, text, "append", "--as", "author.key", "--batch", "-"), 2, "append",
                "stdin: line 700", NULL, 4);
    free(text);
}

Test(batch, three_thousand_lines_append_in_order_and_verify, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char *text = big_batch(3000, 0, NULL);
    run_result r = LDG(d, text, "append", "--as", "author.key", "--batch", "-", "--jobs", "3");
    free(text);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 3000);
    run_free(&r);
    r = LDG(d, NULL, "show", "2503", "--json");
    json_t *o = parse_json(r.out);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "body"), "n")), 2500,
                 "line 2500 is seq 2503");
    json_decref(o);
    run_free(&r);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
}

Test(batch, fifty_good_lines_append_fifty_contiguous_seqs_one_per_line, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char *text = malloc(50 * 128);
    text[0] = '\0';
    for (int i = 0; i < 50; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "{\"kind\":\"communication\",\"study\":\"S%d\",\"body\":{\"n\":%d}}\n", i % 3,
                 i);
        strcat(text, line);
    }
    run_result r = LDG(d, text, "append", "--as", "author.key", "--batch", "-");
    free(text);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 50, "%s", r.out);
    uint64_t expect = 4;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
        cr_assert_eq(parse_appended(line, NULL), expect++);
    cr_assert_eq(expect, 54);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 54);
    r = LDG(d, NULL, "show", "30", "--json");
    json_t *o = parse_json(r.out);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(o, "body"), "n")), 26,
                 "batch line 27 is seq 30");
    json_decref(o);
    run_free(&r);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
}

/* ---------------------------------------------------- sign elsewhere -- */

Test(sign, statement_signed_without_a_ledger_is_appended_by_the_host, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char h4[64], hex[65];
    append_comm(d, "author.key", "S1", h4);
    b64_to_hex(h4, hex);
    char away[700];
    snprintf(away, sizeof away, "%s/away", d);
    cr_assert_eq(mkdir(away, 0700), 0);

    /* a seq needs a ledger to resolve; there is none here */
    run_result r = LDG(away, NULL, "sign", "--as", "../approver.key", "--kind", "approval",
                       "--meaning", "approval", "--study", "S1", "--ref", "4");
    cr_assert_eq(r.status, 2, "%s", r.err);
    assert_one_line_error(&r, "sign");
    cr_assert(strstr(r.err, "ledger"), "%s", r.err);
    run_free(&r);

    r = LDG(away, "{\"subject\":\"Approved remotely\"}", "sign", "--as", "../approver.key",
            "--kind", "approval", "--meaning", "approval", "--study", "S1", "--ref", hex, "--body",
            "-", "--origin", "test.example/ledger");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 1);
    cr_assert(strncmp(r.out, "{\"ldg\":\"signed-statement/v1\"", 28) == 0, "%s", r.out);
    cr_assert(!exists(path_in(away, "ledger")), "sign must not create a ledger");
    write_file(d, "a.stmt", r.out);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 5, "signing writes nothing to the ledger");

    r = LDG(d, NULL, "append", "--signed", "a.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(parse_appended(r.out, NULL), 5);
    run_free(&r);
    r = LDG(d, NULL, "show", "5", "--json");
    json_t *o = parse_json(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "kind")), "approval");
    cr_assert_str_eq(json_string_value(json_object_get(o, "meaning")), "approval");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "actor"), "name")),
                     "Quinn Avery");
    json_t *ref = json_array_get(json_object_get(o, "refs"), 0);
    cr_assert_eq(json_integer_value(json_object_get(ref, "seq")), 4);
    json_decref(o);
    run_free(&r);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
}

/* Small-order Ed25519 points: the identity (order 1), order 2, and the two of order 4. */
static const uint8_t small_order[4][32] = {
    {0x01},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0x00},
    {[31] = 0x80},
};

/* [KEY-4] key add refuses a public key of small order (exit 3, nothing written). */
Test(key, refuses_key_add_of_a_small_order_public_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    for (int i = 0; i < 4; i++) {
        char line[LDG_VKEY_MAX];
        ldg_err e;
        cr_assert_eq(ldg_vkey_format("evil", small_order[i], line, &e), LDG_OK, "%s", e.msg);
        strcat(line, "\n");
        write_file(d, "evil.pub", line);
        run_result r = LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "evil.pub",
                           "--name", "Evil", "--org", "Nowhere", "--roles", "approver");
        cr_assert_eq(r.status, 3, "point %d: exit %d: %s%s", i, r.status, r.out, r.err);
        assert_one_line_error(&r, "key add");
        cr_assert(strstr(r.err, "not a valid Ed25519 public key"), "%s", r.err);
        run_free(&r);
        cr_assert_eq(ledger_size(d), 4, "nothing written");
    }
    /* nor can it be a ledger's first admin key (exit 2) */
    run_result r = LDG(d, NULL, "init", "--ledger", "other", "--origin", "o", "--log-key",
                       "log.key", "--admin", "evil.pub");
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "not a valid Ed25519 public key"), "%s", r.err);
    run_free(&r);
    cr_assert(!exists(path_in(d, "other/data.mdb")), "no ledger");
}

/* [POL-10] ldg sign never makes an unbound statement by accident. */
Test(sign, refuses_to_sign_unbound_without_a_ledger_or_origin_unless_asked, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char away[700];
    snprintf(away, sizeof away, "%s/away", d);
    cr_assert_eq(mkdir(away, 0700), 0);
    /* no --origin, no ledger ($LDG_LEDGER points at away/ledger, which does not exist) */
    run_result r = LDG(away, "{\"subject\":\"x\"}", "sign", "--as", "../author.key", "--kind",
                       "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.out);
    assert_one_line_error(&r, "sign");
    cr_assert(strstr(r.err, "--origin") && strstr(r.err, "--unbound"), "%s", r.err);
    cr_assert_str_eq(r.out, "", "nothing signed");
    run_free(&r);
    /* --unbound contradicts a binding */
    r = LDG(away, NULL, "sign", "--as", "../author.key", "--kind", "communication", "--study",
            "S1", "--unbound", "--origin", "test.example/ledger");
    cr_assert_eq(r.status, 2, "%s", r.err);
    assert_one_line_error(&r, "sign");
    run_free(&r);
    /* asked for: an unbound statement, which this ledger (the key is registered) accepts */
    r = LDG(away, "{\"subject\":\"x\"}", "sign", "--as", "../author.key", "--kind",
            "communication", "--study", "S1", "--body", "-", "--unbound");
    cr_assert_eq(r.status, 0, "%s", r.err);
    write_file(d, "u.stmt", r.out);
    run_free(&r);
    r = LDG(d, NULL, "append", "--signed", "u.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "show", "4", "--json");
    json_t *o = parse_json(r.out);
    cr_assert_null(json_object_get(o, "origin"), "unbound: %s", r.out);
    json_decref(o);
    run_free(&r);
    /* --unbound is ldg sign's alone, and documented */
    r = LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication", "--study", "S1",
            "--unbound");
    cr_assert_eq(r.status, 2, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "sign", "--help");
    cr_assert(strstr(r.out, "--unbound"), "%s", r.out);
    run_free(&r);
}

static char *
sign_comm(const char *d, const char *subject)
{
    char body[128];
    snprintf(body, sizeof body, "{\"subject\":\"%s\"}", subject);
    run_result r = LDG(d, body, "sign", "--as", "author.key", "--kind", "communication",
                       "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *s = strdup(r.out);
    run_free(&r);
    return s;
}

Test(sign, multi_line_statement_file_appends_all_in_one_transaction, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    char *a = sign_comm(d, "one"), *b = sign_comm(d, "two"), *c = sign_comm(d, "three");
    char *all = malloc(strlen(a) + strlen(b) + strlen(c) + 1);
    strcpy(all, a);
    strcat(all, b);
    strcat(all, c);
    write_file(d, "three.stmt", all);
    run_result r = LDG(d, NULL, "append", "--signed", "three.stmt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 3, "%s", r.out);
    uint64_t expect = 4;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"))
        cr_assert_eq(parse_appended(line, NULL), expect++);
    run_free(&r);

    /* one new statement plus a replay of b: all or nothing */
    char *e = sign_comm(d, "four");
    char *mix = malloc(strlen(e) + strlen(b) + 1);
    strcpy(mix, e);
    strcat(mix, b);
    write_file(d, "mix.stmt", mix);
    expect_fail(d, LDG(d, NULL, "append", "--signed", "mix.stmt"), 3, "append", "record 2",
                "replay", 7);
    free(a), free(b), free(c), free(e), free(all), free(mix);
}

/* -------------------------------------------------------- passphrases -- */

static mode_t
file_mode(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "stat %s", p);
    return st.st_mode & 07777;
}

/* Makes enc.key (passphrase "correct horse") and registers it as an author. */
static void
make_encrypted_author(const char *d)
{
    write_file(d, "pass.txt", "correct horse\n");
    write_file(d, "wrong.txt", "wrong horse\n");
    cr_assert_eq(chmod(path_in(d, "pass.txt"), 0600), 0);
    cr_assert_eq(chmod(path_in(d, "wrong.txt"), 0600), 0);
    ok(LDG(d, NULL, "keygen", "--name", "enc", "--out", "enc", "--passphrase-file", "pass.txt"),
       "keygen encrypted");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "enc.pub", "--name", "Eve Enc",
           "--org", "Acme CRO", "--roles", "author"),
       "key add enc");
}

Test(passphrase, keygen_with_passphrase_file_writes_an_encrypted_key_of_mode_0600,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    write_file(d, "pass.txt", "correct horse\n");
    cr_assert_eq(chmod(path_in(d, "pass.txt"), 0600), 0);
    run_result r =
        LDG(d, NULL, "keygen", "--name", "enc", "--out", "enc", "--passphrase-file", "pass.txt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "enc+", 4) == 0, "keygen prints the verifier key: %s", r.out);
    run_free(&r);
    char *k = read_file(path_in(d, "enc.key"), NULL);
    cr_assert_not_null(k);
    cr_assert(strstr(k, "kdf: argon2id13") != NULL, "%s", k);
    cr_assert(strstr(k, "correct horse") == NULL);
    free(k);
    cr_assert_eq(file_mode(path_in(d, "enc.key")), 0600);
    char *pub = read_file(path_in(d, "enc.pub"), NULL);
    cr_assert(pub && strncmp(pub, "enc+", 4) == 0, "%s", pub);
    free(pub);

    ok(LDG(d, NULL, "keygen", "--name", "plain", "--out", "plain", "--unencrypted"), "keygen");
    cr_assert_eq(file_mode(path_in(d, "plain.key")), 0600, "unencrypted keys are 0600 too");
    k = read_file(path_in(d, "plain.key"), NULL);
    cr_assert(strstr(k, "kdf: none") != NULL && strstr(k, "argon2") == NULL, "%s", k);
    free(k);
}

Test(passphrase, encrypted_key_signs_with_the_right_passphrase_file_and_wrong_one_is_exit_2,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    make_encrypted_author(d);
    run_result r = LDG(d, NULL, "append", "--as", "enc.key", "--passphrase-file", "pass.txt",
                       "--kind", "communication", "--study", "S1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(parse_appended(r.out, NULL), 5);
    run_free(&r);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "enc.key", "--passphrase-file", "wrong.txt",
                    "--kind", "communication", "--study", "S1"),
                2, "append", "wrong passphrase", NULL, 6);
}

Test(passphrase, encrypted_key_without_passphrase_and_without_terminal_is_exit_2,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    make_encrypted_author(d);
    /* Run from a new session so that /dev/tty cannot be opened, even under a terminal. */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setsid();
        run_result r = LDG(d, NULL, "append", "--as", "enc.key", "--kind", "communication",
                           "--study", "S1");
        _exit(r.status);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 2);
    run_result r = {2, read_file(path_in(d, ".stdout"), NULL),
                    read_file(path_in(d, ".stderr"), NULL)};
    expect_fail(d, r, 2, "append", "no terminal", NULL, 5);
}

Test(passphrase, ldg_passphrase_file_environment_variable_is_used, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    make_encrypted_author(d);
    setenv("LDG_TEST_KEEP_PASSFILE", "1", 1);
    setenv("LDG_PASSPHRASE_FILE", path_in(d, "pass.txt"), 1);
    run_result r =
        LDG(d, NULL, "append", "--as", "enc.key", "--kind", "communication", "--study", "S1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(parse_appended(r.out, NULL), 5);
    run_free(&r);
    setenv("LDG_PASSPHRASE_FILE", path_in(d, "wrong.txt"), 1);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "enc.key", "--kind", "communication", "--study",
                    "S1"),
                2, "append", "wrong passphrase", NULL, 6);
    unsetenv("LDG_PASSPHRASE_FILE");
    unsetenv("LDG_TEST_KEEP_PASSFILE");
}

Test(passphrase, key_file_readable_by_others_is_exit_2_asking_for_chmod_600, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    cr_assert_eq(chmod(path_in(d, "author.key"), 0644), 0);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1"),
                2, "append", "chmod 600", NULL, 4);
    cr_assert_eq(chmod(path_in(d, "author.key"), 0640), 0);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1"),
                2, "append", "chmod 600", NULL, 4);
}

/* 21 CFR 11.300: a new key's passphrase has at least 12 characters (code points, not bytes). */
Test(passphrase, keygen_refuses_a_passphrase_shorter_than_12_characters, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    static const char *const weak[] = {"x\n", "elevenchars\n",
                                       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                                       "\xc3\xa9\xc3\xa9\xc3\xa9\n"}; /* 11 x U+00E9: 22 bytes */
    for (size_t i = 0; i < 3; i++) {
        write_file(d, "weak.txt", weak[i]);
        cr_assert_eq(chmod(path_in(d, "weak.txt"), 0600), 0);
        run_result r = LDG(d, NULL, "keygen", "--name", "w", "--out", "w", "--passphrase-file",
                           "weak.txt");
        cr_assert_eq(r.status, 2, "passphrase %zu accepted: %s", i, r.out);
        assert_one_line_error(&r, "keygen");
        cr_assert(strstr(r.err, "12 characters"), "%s", r.err);
        run_free(&r);
        cr_assert(!exists(path_in(d, "w.key")) && !exists(path_in(d, "w.pub")), "nothing written");
    }
    write_file(d, "ok.txt", "twelve chars\n");
    cr_assert_eq(chmod(path_in(d, "ok.txt"), 0600), 0);
    ok(LDG(d, NULL, "keygen", "--name", "w", "--out", "w", "--passphrase-file", "ok.txt"),
       "keygen with 12 characters");
}

/* Like a key file: a passphrase others can read is exposed, not used; exit 2. */
Test(passphrase, refuses_a_passphrase_file_readable_by_group_or_others, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    make_encrypted_author(d);
    cr_assert_eq(chmod(path_in(d, "pass.txt"), 0644), 0);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "enc.key", "--passphrase-file", "pass.txt",
                    "--kind", "communication", "--study", "S1"),
                2, "append", "chmod 600", NULL, 5);
    cr_assert_eq(chmod(path_in(d, "pass.txt"), 0640), 0);
    run_result r =
        LDG(d, NULL, "keygen", "--name", "n", "--out", "n", "--passphrase-file", "pass.txt");
    cr_assert_eq(r.status, 2, "%s", r.out);
    assert_one_line_error(&r, "keygen");
    cr_assert(strstr(r.err, "chmod 600"), "%s", r.err);
    run_free(&r);
    cr_assert(!exists(path_in(d, "n.key")), "nothing written");
}

/* The minimum applies when creating: a key sealed with a short passphrase still loads. */
Test(passphrase, existing_key_with_a_short_passphrase_still_signs, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ldg_key *k;
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
    cr_assert_eq(ldg_key_generate("old", &k, &e), LDG_OK);
    cr_assert_eq(ldg_key_save(k, path_in(d, "old"), "pw", 2, &e), LDG_OK, "%s", e.msg);
    ldg_key_free(k);
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "old.pub", "--name", "Old Key",
           "--org", "Acme CRO", "--roles", "author"),
       "key add old");
    write_file(d, "pw.txt", "pw\n");
    cr_assert_eq(chmod(path_in(d, "pw.txt"), 0600), 0);
    run_result r = LDG(d, NULL, "append", "--as", "old.key", "--passphrase-file", "pw.txt",
                       "--kind", "communication", "--study", "S1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

Test(passphrase, keygen_refuses_to_overwrite_existing_files_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ok(LDG(d, NULL, "keygen", "--name", "a", "--out", "a", "--unencrypted"), "keygen");
    char *before = read_file(path_in(d, "a.key"), NULL);
    run_result r = LDG(d, NULL, "keygen", "--name", "a", "--out", "a", "--unencrypted");
    cr_assert_eq(r.status, 2, "%s", r.err);
    assert_one_line_error(&r, "keygen");
    cr_assert(strstr(r.err, "exists"), "%s", r.err);
    run_free(&r);
    char *after = read_file(path_in(d, "a.key"), NULL);
    cr_assert_str_eq(before, after, "the existing key must be untouched");
    free(before);
    free(after);

    /* only the .pub exists: still refused, and no .key is left behind */
    write_file(d, "b.pub", "placeholder\n");
    r = LDG(d, NULL, "keygen", "--name", "b", "--out", "b", "--unencrypted");
    cr_assert_eq(r.status, 2, "%s", r.err);
    assert_one_line_error(&r, "keygen");
    run_free(&r);
    cr_assert(!exists(path_in(d, "b.key")), "no half-written key pair");
    char *pub = read_file(path_in(d, "b.pub"), NULL);
    cr_assert_str_eq(pub, "placeholder\n");
    free(pub);
}

/* -------------------------------------------------- ledger existence -- */

Test(ledger, init_refuses_an_existing_ledger_exit_2, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "init", "--origin", "again.example/ledger", "--log-key", "log.key",
                    "--admin", "admin.pub"),
                2, "init", "exists", NULL, 4);
    run_result r = LDG(d, NULL, "show", "0", "--json");
    json_t *o = parse_json(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "origin")), "test.example/ledger",
                     "genesis untouched");
    json_decref(o);
    run_free(&r);
}

Test(ledger, commands_on_a_missing_ledger_are_exit_2_with_a_clear_message, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    ok(LDG(d, NULL, "keygen", "--name", "author", "--out", "author", "--unencrypted"), "keygen");
    static const char *const cmds[] = {"verify", "log", "key list", "show", "append"};
    run_result rs[] = {
        LDG(d, NULL, "verify"),
        LDG(d, NULL, "log"),
        LDG(d, NULL, "key", "list"),
        LDG(d, NULL, "show", "0"),
        LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication", "--study", "S1"),
    };
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        cr_assert_eq(rs[i].status, 2, "%s: exit %d %s", cmds[i], rs[i].status, rs[i].err);
        assert_one_line_error(&rs[i], cmds[i]);
        cr_assert(strstr(rs[i].err, "no ledger") != NULL, "%s: %s", cmds[i], rs[i].err);
        cr_assert(strstr(rs[i].err, "/ledger") != NULL, "%s names the path: %s", cmds[i],
                  rs[i].err);
        run_free(&rs[i]);
    }
    cr_assert(!exists(path_in(d, "ledger/data.mdb")), "no ledger is created by a reader");
}

Test(ledger, show_of_a_seq_past_the_end_is_an_error, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "show", "99");
    cr_assert_eq(r.status, 2, "%s", r.err);
    assert_one_line_error(&r, "show");
    cr_assert(strstr(r.err, "99"), "%s", r.err);
    run_free(&r);
}

/* -------------------------------------------------------- concurrency -- */

/* Child: waits on the barrier, runs n appends; exits with the number of failures. */
static void
appender(const char *d, int id, int n, int barrier)
{
    char c;
    if (read(barrier, &c, 1) < 0) {
        /* EOF is the start signal */
    }
    char ledger[700], key[700], out[700], study[32];
    snprintf(ledger, sizeof ledger, "%s/ledger", d);
    snprintf(key, sizeof key, "%s/author.key", d);
    snprintf(out, sizeof out, "%s/child%d.out", d, id);
    snprintf(study, sizeof study, "C%d", id);
    int fails = 0;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) {
            int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
            char errp[720];
            snprintf(errp, sizeof errp, "%s/child%d.err", d, id);
            int fe = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
            int fi = open("/dev/null", O_RDONLY);
            dup2(fi, 0);
            dup2(fo, 1);
            dup2(fe, 2);
            execl(ldg_bin(), ldg_bin(), "append", "--ledger", ledger, "--as", key, "--kind",
                  "communication", "--study", study, (char *)NULL);
            _exit(127);
        }
        int st;
        if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fails++;
    }
    _exit(fails);
}

Test(concurrency, four_processes_appending_at_once_give_contiguous_seqs_and_a_clean_ledger,
     .fini = tmp_cleanup, .timeout = 60)
{
    /* under memcheck, three appends each: the same race, a third of the starts */
    const int per = test_slow() ? 3 : 10, total = 4 + 4 * per;
    const char *d = tmp_dir();
    make_ledger(d);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        cr_assert(kids[i] >= 0);
        if (kids[i] == 0) {
            close(pfd[1]);
            appender(d, i, per, pfd[0]);
        }
    }
    close(pfd[0]);
    close(pfd[1]); /* go */
    for (int i = 0; i < 4; i++) {
        int st;
        cr_assert_eq(waitpid(kids[i], &st, 0), kids[i]);
        char ep[700];
        snprintf(ep, sizeof ep, "child%d.err", i);
        char *err = read_file(path_in(d, ep), NULL);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: %d failed appends: %s", i,
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1, err ? err : "");
        free(err);
    }
    /* every seq 4..total-1 printed exactly once across the children */
    int seen[44] = {0};
    for (int i = 0; i < 4; i++) {
        char op[32];
        snprintf(op, sizeof op, "child%d.out", i);
        char *out = read_file(path_in(d, op), NULL);
        cr_assert_not_null(out);
        cr_assert_eq(count_lines(out), (size_t)per);
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            uint64_t s = parse_appended(line, NULL);
            cr_assert(s >= 4 && s < (uint64_t)total, "seq %llu out of range",
                      (unsigned long long)s);
            cr_assert_eq(seen[s]++, 0, "seq %llu printed twice", (unsigned long long)s);
        }
        free(out);
    }
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    char want[32];
    snprintf(want, sizeof want, "%d entries", total);
    cr_assert(strstr(r.out, want), "%s", r.out);
    run_free(&r);
    cr_assert_eq(ledger_size(d), (long)total);
    r = LDG(d, NULL, "log", "--json");
    cr_assert_eq(count_lines(r.out), (size_t)total);
    json_int_t expect = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = parse_json(line);
        cr_assert_eq(json_integer_value(json_object_get(o, "seq")), expect++);
        json_decref(o);
    }
    run_free(&r);
}

/* ------------------------------------------------------------ log -- */

/* Runs `ldg log --json ARGS...` and fills seqs; returns how many. */
static size_t
log_seqs(const char *d, uint64_t *seqs, size_t max, const char *const args[])
{
    const char *argv[16] = {"log", "--json"};
    size_t n = 2;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    run_result r = ldg_run(d, NULL, argv);
    cr_assert_eq(r.status, 0, "log: %s", r.err);
    size_t k = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = parse_json(line);
        cr_assert(k < max);
        seqs[k++] = (uint64_t)json_integer_value(json_object_get(o, "seq"));
        json_decref(o);
    }
    run_free(&r);
    return k;
}

#define LOG_IS(d, want, ...)                                                                     \
    do {                                                                                         \
        uint64_t got_[64];                                                                       \
        const uint64_t want_[] = want;                                                           \
        size_t n_ = log_seqs((d), got_, 64, (const char *const[]){__VA_ARGS__, NULL});           \
        size_t wn_ = sizeof want_ / sizeof want_[0];                                             \
        cr_assert_eq(n_, wn_, "log " #__VA_ARGS__ ": %zu records, expected %zu", n_, wn_);       \
        for (size_t i_ = 0; i_ < n_; i_++)                                                       \
            cr_assert_eq(got_[i_], want_[i_], "log " #__VA_ARGS__ ": record %zu", i_);           \
    } while (0)
#define SEQS(...) {__VA_ARGS__}

static char *
host_time_of(const char *d, const char *seq)
{
    run_result r = LDG(d, NULL, "show", seq, "--json");
    cr_assert_eq(r.status, 0);
    json_t *o = parse_json(r.out);
    char *t = strdup(json_string_value(json_object_get(o, "time")));
    json_decref(o);
    run_free(&r);
    return t;
}

Test(logfilter, filters_by_study_kind_actor_and_host_time, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    append_comm(d, "author.key", "S1", NULL); /* 4 */
    ok(LDG(d, NULL, "append", "--as", "decider.key", "--kind", "decision", "--study", "S2",
           "--ref", "4"),
       "decision"); /* 5 */
    ok(LDG(d, NULL, "append", "--as", "author.key", "--kind", "query", "--study", "S2"),
       "query"); /* 6 */
    ok(LDG(d, NULL, "append", "--as", "approver.key", "--kind", "approval", "--meaning",
           "approval", "--study", "S1", "--ref", "5"),
       "approval"); /* 7 */

    LOG_IS(d, SEQS(5, 6), "--study", "S2");
    LOG_IS(d, SEQS(4, 7), "--study", "S1");
    LOG_IS(d, SEQS(5), "--kind", "decision");
    LOG_IS(d, SEQS(1, 2, 3), "--kind", "key.add");
    LOG_IS(d, SEQS(6), "--kind", "query", "--study", "S2");
    LOG_IS(d, SEQS(4, 6), "--actor", "Carla Rossi");
    LOG_IS(d, SEQS(4, 6), "--actor", "author");
    LOG_IS(d, SEQS(7), "--actor", "Quinn Avery");
    LOG_IS(d, SEQS(5), "--actor", "decider", "--kind", "decision");

    uint64_t none[4];
    const char *const nostudy[] = {"--study", "NOPE", NULL};
    cr_assert_eq(log_seqs(d, none, 4, nostudy), 0);
    const char *const noactor[] = {"--actor", "Nobody At All", NULL};
    cr_assert_eq(log_seqs(d, none, 4, noactor), 0);

    char *t5 = host_time_of(d, "5"), *t6 = host_time_of(d, "6");
    LOG_IS(d, SEQS(5, 6, 7), "--since", t5);
    LOG_IS(d, SEQS(0, 1, 2, 3, 4, 5), "--until", t5);
    LOG_IS(d, SEQS(5, 6), "--since", t5, "--until", t6);
    LOG_IS(d, SEQS(0, 1, 2, 3, 4, 5, 6, 7), "--since", "2000-01-01");
    const char *const future[] = {"--since", "2200-01-01", NULL};
    cr_assert_eq(log_seqs(d, none, 4, future), 0);
    free(t5);
    free(t6);

    /* the human form names the printed name and organisation */
    run_result r = LDG(d, NULL, "log", "--kind", "approval");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "#7") && strstr(r.out, "Quinn Avery") &&
                  strstr(r.out, "Helix Pharma") && strstr(r.out, "approval"),
              "%s", r.out);
    run_free(&r);

    expect_fail(d, LDG(d, NULL, "log", "--since", "last tuesday"), 2, "log", "--since", NULL, 8);
}

/* ------------------------------------------------------------ keys -- */

Test(keys, key_list_shows_names_orgs_roles_and_revocations, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "decider.pub", "--reason",
           "left the study team"),
       "revoke");
    run_result r = LDG(d, NULL, "key", "list");
    cr_assert_eq(r.status, 0, "%s", r.err);
    static const char *const want[] = {"Ada Admin",   "Carla Rossi",    "Dr Sam Patel",
                                       "Quinn Avery", "Acme CRO",       "Helix Pharma",
                                       "approver",    "author,decider", "admin"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert(strstr(r.out, want[i]), "key list lacks %s: %s", want[i], r.out);
    /* the revocation is on the decider's line, with its reason; nobody else is revoked */
    char *line = strstr(r.out, "Dr Sam Patel");
    char *eol = strchr(line, '\n');
    *eol = '\0';
    cr_assert(strstr(line, "REVOKED") && strstr(line, "left the study team"), "%s", line);
    *eol = '\n';
    char *first = strstr(r.out, "REVOKED");
    cr_assert(first && !strstr(first + 1, "REVOKED"), "only one key is revoked: %s", r.out);
    run_free(&r);

    r = LDG(d, NULL, "key", "list", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(count_lines(r.out), 4, "admin, author, decider, approver: %s", r.out);
    int seen = 0;
    for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n")) {
        json_t *o = parse_json(l);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *org = json_string_value(json_object_get(o, "org"));
        const char *roles = json_string_value(json_object_get(o, "roles"));
        int revoked = json_is_true(json_object_get(o, "revoked"));
        cr_assert(id && name && org && roles, "%s", l);
        cr_assert(json_is_string(json_object_get(o, "key")), "%s", l);
        if (strcmp(id, "decider") == 0) {
            seen |= 1;
            cr_assert_str_eq(name, "Dr Sam Patel");
            cr_assert_str_eq(org, "Helix Pharma");
            cr_assert_str_eq(roles, "author,decider");
            cr_assert(revoked, "%s", l);
            cr_assert_str_eq(json_string_value(json_object_get(o, "revoke_reason")),
                             "left the study team");
            cr_assert_eq(json_integer_value(json_object_get(o, "revoked_seq")), 4);
        } else {
            cr_assert(!revoked, "%s", l);
        }
        if (strcmp(id, "author") == 0) {
            seen |= 2;
            cr_assert_str_eq(name, "Carla Rossi");
            cr_assert_str_eq(org, "Acme CRO");
            cr_assert_str_eq(roles, "author");
            cr_assert_eq(json_integer_value(json_object_get(o, "added_seq")), 1);
        }
        if (strcmp(id, "admin") == 0) {
            seen |= 4;
            cr_assert_str_eq(name, "Ada Admin");
            cr_assert_str_eq(roles, "admin");
        }
        if (strcmp(id, "approver") == 0) {
            seen |= 8;
            cr_assert_str_eq(name, "Quinn Avery");
            cr_assert_str_eq(org, "Helix Pharma");
            cr_assert_str_eq(roles, "approver");
        }
        json_decref(o);
    }
    cr_assert_eq(seen, 15, "admin, author, decider and approver all listed");
    run_free(&r);
}

/* --------------------------------------------- hostile text, review fixes -- */

Test(hostile, two_inits_at_once_leave_one_ledger_and_the_loser_exits_2, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    make_ledger(d); /* for the keys */
    /* memcheck serialises each process's threads, not the two processes: two rounds there */
    for (int round = 0; round < (test_slow() ? 2 : 8); round++) {
        char dir[64];
        snprintf(dir, sizeof dir, "race%d", round);
        pid_t a = fork();
        if (a == 0) {
            run_result r = LDG(d, NULL, "init", "--ledger", dir, "--origin", "a", "--log-key",
                               "log.key", "--admin", "admin.pub");
            _exit(r.status);
        }
        run_result r = LDG(d, NULL, "init", "--ledger", dir, "--origin", "b", "--log-key",
                           "log.key", "--admin", "admin.pub");
        int st;
        waitpid(a, &st, 0);
        int other = WEXITSTATUS(st);
        cr_assert((r.status == 0 && (other == 0 || other == 2)) || (r.status == 2 && other == 0),
                  "one init wins, the other says the ledger exists (exit 2): %d %d %s",
                  r.status, other, r.err);
        cr_assert(!(r.status == 0 && other == 0), "only one may win");
        run_free(&r);
        r = LDG(d, NULL, "verify", "--ledger", dir);
        cr_assert_eq(r.status, 0, "the winner's ledger is intact: %s%s", r.out, r.err);
        cr_assert(strstr(r.out, "1 entries"), "%s", r.out);
        run_free(&r);
    }
}

Test(hostile, a_reason_with_control_characters_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result ok = LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                        "--study", "S1");
    cr_assert_eq(ok.status, 0, "%s", ok.err);
    run_free(&ok);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "correction", "--study",
                    "S1", "--ref", "4", "--reason",
                    "typo\n  signer        Quinn Avery, Helix Pharma\033[2K"),
                2, "append", "control character", NULL, 5);
}

Test(hostile, a_reason_over_two_lines_is_kept_and_shown_on_one, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                       "--study", "S1");
    run_free(&r);
    r = LDG(d, NULL, "append", "--as", "author.key", "--kind", "correction", "--study", "S1",
            "--ref", "4", "--reason", "wrong visit\nsee SOP-12");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "show", "5");
    cr_assert(strstr(r.out, "  reason        wrong visit\\nsee SOP-12\n"), "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "show", "5", "--json");
    json_t *o = parse_json(r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "reason")), "wrong visit\nsee SOP-12");
    json_decref(o);
    run_free(&r);
}

Test(hostile, escape_sequences_in_a_body_are_shown_escaped, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, "{\"text\":\"x\\u001b[2K\\u009bfake\"}", "append", "--as",
                       "author.key", "--kind", "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "log");
    cr_assert(!strchr(r.out, '\033') && !strstr(r.out, "\xc2\x9b"), "no raw escapes: %s", r.out);
    run_free(&r);
    /* log's one line shows a subject or title (ldg_record_subject); show has the body */
    r = LDG(d, NULL, "show", "4");
    cr_assert(!strchr(r.out, '\033') && !strstr(r.out, "\xc2\x9b"), "no raw escapes: %s", r.out);
    cr_assert(strstr(r.out, "x\\u001B[2K\\x9bfake"), "%s", r.out);
    run_free(&r);
}

Test(hostile, a_body_with_a_nul_character_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, "{\"subject\":\"a\\u0000b\"}", "append", "--as", "author.key", "--kind",
                    "communication", "--study", "S1", "--body", "-"),
                2, "append", "body JSON", NULL, 4);
}

Test(hostile, input_quoted_in_an_error_cannot_add_lines, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "comm\nldg append: ok",
                    "--study", "S1"),
                2, "append", "unknown kind", "comm\\nldg append: ok", 4);
}

Test(hostile, a_directory_as_body_is_bad_input, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                    "--study", "S1", "--body", "/tmp"),
                2, "append", "directory", NULL, 4);
}

Test(hostile, a_public_key_given_as_secret_key_says_so, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "append", "--as", "author.pub", "--kind", "communication", "--study",
                    "S1"),
                2, "append", "not an ldg secret key file", NULL, 4);
}

Test(hostile, the_log_key_cannot_be_registered_as_an_actor, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    expect_fail(d,
                LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "log.pub", "--name",
                    "Log", "--org", "Acme", "--roles", "author"),
                3, "key add", "log key", NULL, 4);
}

Test(hostile, a_negative_offset_under_an_hour_is_shown_with_its_sign, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "append", "--as", "author.key", "--kind", "communication",
                       "--study", "S1", "--time", "2026-01-01T10:00:00-00:30");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "show", "4");
    cr_assert(strstr(r.out, "2026-01-01T10:00:00.000000000-00:30 (UTC offset -00:30)"), "%s",
              r.out);
    run_free(&r);
}

/*
 * Every `ldg CMD --help` reads as it is laid out: no line wider than 90
 * columns (a wider one wraps in the terminal and leaves a word such as the
 * "N" of `ldg verify --help` on a line of its own), and no line a lone
 * short word.
 */
Test(cli, help_texts_fit_90_columns, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    static const char *const cmds[] = {"keygen", "init", "key", "append",
                                       "sign", "show", "log", "checkpoint",
                                       "proof", "verify-proof", "verify", "export",
                                       "verify-bundle", "erase", "review", "publish"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        run_result r = LDG(d, NULL, cmds[i], "--help");
        cr_assert_eq(r.status, 0, "%s --help: %s", cmds[i], r.err);
        cr_assert_gt(strlen(r.out), 20, "%s --help prints its help", cmds[i]);
        for (const char *p = r.out; *p;) {
            const char *e = strchr(p, '\n');
            size_t n = e ? (size_t)(e - p) : strlen(p), cols = 0;
            for (size_t k = 0; k < n; k++)
                cols += ((unsigned char)p[k] & 0xC0) != 0x80; /* one column a code point */
            cr_expect_leq(cols, 90, "ldg %s --help: a line of %zu columns: %.*s", cmds[i], cols,
                          (int)n, p);
            cr_expect(n == 0 || n > 3 || memchr(p, ' ', n),
                      "ldg %s --help: a lone word on a line: %.*s", cmds[i], (int)n, p);
            p = e ? e + 1 : p + n;
        }
        run_free(&r);
    }
}
