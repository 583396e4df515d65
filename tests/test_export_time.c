/*
 * test_export_time.c - the time columns of `ldg export` (spec/export.md
 * [EXP-10], [EXP-11], [EXP-12]), through the real binary on a ledger whose
 * host times are faked with libfaketime: the ledger's time of record first,
 * the claimed time and offset beside it, claimed - ledger and the
 * back-dated / forward-dated flag beyond the tolerance of the plan in force;
 * the leaf hash in hex as `ldg show` has it; and a study-filtered export
 * that keeps the key records of its signers.
 */
#include "helpers.h"
#include "ldg.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Appends at host time `when` a record claiming `claimed` (NULL: the clock's); returns its seq. */
static long
append_at(const char *d, const char *when, const char *key, const char *kind, const char *study,
          const char *claimed, const char *body)
{
    const char *argv[16] = {"append", "--as", key, "--kind", kind, "--study", study, "--body", "-"};
    size_t n = 9;
    if (claimed) {
        argv[n++] = "--time";
        argv[n++] = claimed;
    }
    argv[n] = NULL;
    run_result r = ldg_at(d, when, body, argv);
    cr_assert_eq(r.status, 0, "append at %s: %s", when, r.err);
    long seq = strtol(r.out, NULL, 10);
    run_free(&r);
    return seq;
}

static void
need_faketime(void)
{
    if (access(FAKETIME_LIB, R_OK) != 0)
        cr_skip_test("libfaketime is not installed (make deps installs it)");
}

/* Exports with a fresh checkpoint; returns stdout (malloc'd). */
static char *export(const char *d, const char *format, const char *study)
{
    const char *argv[12] = {"export", "--format", format, "--as", "log.key"};
    size_t n = 5;
    if (study) {
        argv[n++] = "--study";
        argv[n++] = study;
    }
    argv[n] = NULL;
    run_result r = ldg_run(d, NULL, argv);
    cr_assert_eq(r.status, 0, "export %s: exit %d: %s", format, r.status, r.err);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    return out;
}

/* ----------------------------------------------------------- JSONL -- */

/* The line of seq as an object (NULL when absent); json_decref it. */
static json_t *
jsonl_seq(const char *text, long seq)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        cr_assert_not_null(o);
        if (json_integer_value(json_object_get(o, "seq")) == seq)
            return o;
        json_decref(o);
        p = nl + 1;
    }
    return NULL;
}

static const char *
sget(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_string(v), "%s is a string", k);
    return json_string_value(v);
}

/*
 * The trail of these tests, host times faked (all after make_ledger's real
 * ones, so the host clock never steps back):
 *   4  host 2027-03-01 12:00Z, claims 7 weeks earlier (2027-01-11 13:00+01:00)
 *   5  host 2027-03-02 12:00Z, claims 2 days later (2027-03-04 07:00-05:00)
 *   6  host 2027-03-03 12:00Z, claims 2 hours earlier (10:00Z)
 */
static void
skewed_trail(const char *d)
{
    make_ledger(d);
    cr_assert_eq(append_at(d, "2027-03-01 12:00:00", "author.key", "meeting", "S1",
                           "2027-01-11T13:00:00+01:00", "{\"subject\":\"SC meeting minutes\"}"),
                 4);
    cr_assert_eq(append_at(d, "2027-03-02 12:00:00", "decider.key", "communication", "S1",
                           "2027-03-04T07:00:00-05:00", "{\"subject\":\"Status\"}"),
                 5);
    cr_assert_eq(append_at(d, "2027-03-03 12:00:00", "author.key", "communication", "S1",
                           "2027-03-03T10:00:00Z", "{\"subject\":\"Two hours\"}"),
                 6);
}

Test(export_time, csv_shows_ledger_time_first_then_claimed_time_offset_and_flag,
     .fini = tmp_cleanup)
{
    need_faketime();
    const char *d = tmp_dir();
    skewed_trail(d);
    char *t = export(d, "csv", NULL);
    static const char header[] =
        "seq,ledger_time_utc,claimed_time_utc,claimed_time_local,utc_offset,"
        "claimed_minus_ledger_s,time_flag,tolerance_s,plan_seq,";
    cr_assert(strncmp(t, header, sizeof header - 1) == 0, "[EXP-6] header: %.200s", t);
    csv c = csv_parse(t);
    /* 7 weeks late */
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "ledger_time_utc"), "2027-03-01T12:00:00.000000000Z");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "claimed_time_utc"), "2027-01-11T12:00:00.000000000Z");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "claimed_time_local"),
                     "2027-01-11T13:00:00.000000000+01:00");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "utc_offset"), "UTC+01:00");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "claimed_minus_ledger_s"), "-4233600");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "time_flag"), "back-dated");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "tolerance_s"), "86400");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "plan_seq"), "");
    /* 2 days ahead */
    cr_assert_str_eq(csv_cell_of_seq(&c, 5, "ledger_time_utc"), "2027-03-02T12:00:00.000000000Z");
    cr_assert_str_eq(csv_cell_of_seq(&c, 5, "claimed_time_local"),
                     "2027-03-04T07:00:00.000000000-05:00");
    cr_assert_str_eq(csv_cell_of_seq(&c, 5, "utc_offset"), "UTC-05:00");
    cr_assert_str_eq(csv_cell_of_seq(&c, 5, "claimed_minus_ledger_s"), "172800");
    cr_assert_str_eq(csv_cell_of_seq(&c, 5, "time_flag"), "forward-dated");
    /* 2 hours: within the default tolerance of 24 h */
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "claimed_minus_ledger_s"), "-7200");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "time_flag"), "");
    /* the leaf hash in hex, as ldg show has it */
    for (long s = 4; s <= 6; s++) {
        char hex[65];
        show_facts(d, s, NULL, hex);
        cr_assert_str_eq(csv_cell_of_seq(&c, s, "leaf_hash"), hex, "seq %ld", s);
    }
    csv_free(&c);
    free(t);
}

Test(export_time, jsonl_shows_ledger_time_first_then_claimed_time_offset_and_flag,
     .fini = tmp_cleanup)
{
    need_faketime();
    const char *d = tmp_dir();
    skewed_trail(d);
    char *t = export(d, "jsonl", NULL);
    json_t *o = jsonl_seq(t, 4);
    cr_assert_not_null(o);
    cr_assert(strstr(t, "{\"seq\":4,\"ledger_time_utc\":\"2027-03-01T12:00:00.000000000Z\"") !=
                  NULL,
              "[EXP-5] the ledger's time comes first: %.300s", strstr(t, "{\"seq\":4"));
    cr_assert_str_eq(sget(o, "ledger_time_utc"), "2027-03-01T12:00:00.000000000Z");
    cr_assert_str_eq(sget(o, "time_utc"), "2027-01-11T12:00:00.000000000Z");
    cr_assert_str_eq(sget(o, "time_local"), "2027-01-11T13:00:00.000000000+01:00");
    cr_assert_str_eq(sget(o, "utc_offset"), "+01:00");
    cr_assert_eq(json_integer_value(json_object_get(o, "claimed_minus_ledger_s")), -4233600);
    cr_assert_str_eq(sget(o, "time_flag"), "back-dated");
    cr_assert_eq(json_integer_value(json_object_get(o, "tolerance_s")), 86400);
    cr_assert(json_is_null(json_object_get(o, "plan_seq")));
    char hex[65];
    show_facts(d, 4, NULL, hex);
    cr_assert_str_eq(sget(o, "leaf_hash_hex"), hex);
    json_decref(o);
    o = jsonl_seq(t, 5);
    cr_assert_eq(json_integer_value(json_object_get(o, "claimed_minus_ledger_s")), 172800);
    cr_assert_str_eq(sget(o, "time_flag"), "forward-dated");
    cr_assert_str_eq(sget(o, "utc_offset"), "-05:00");
    json_decref(o);
    o = jsonl_seq(t, 6);
    cr_assert_eq(json_integer_value(json_object_get(o, "claimed_minus_ledger_s")), -7200);
    cr_assert(json_is_null(json_object_get(o, "time_flag")), "within 24 h: no flag");
    json_decref(o);
    free(t);
}

#define PLAN_1H                                                                                    \
    "{\"subject\":\"Communication plan S1 v1\",\"parties\":[\"Acme CRO\",\"Helix Pharma\"],"       \
    "\"levels\":[{\"id\":\"operational\",\"name\":\"Operational team\",\"members\":"               \
    "[{\"name\":\"Carla Rossi\",\"org\":\"Acme CRO\"}]}],\"tolerance_hours\":1}"

/*
 *   4  S1, 2 hours back-dated, before any plan
 *   5  plan of S1, tolerance 1 hour
 *   6  S1, 2 hours back-dated, under the plan
 *   7  S2, 2 hours back-dated: the plan of S1 does not govern S2
 */
static void
planned_trail(const char *d)
{
    make_ledger(d);
    append_at(d, "2027-03-01 12:00:00", "author.key", "communication", "S1", "2027-03-01T10:00:00Z",
              "{\"subject\":\"before the plan\"}");
    cr_assert_eq(append_at(d, "2027-03-02 12:00:00", "decider.key", "plan", "S1", NULL, PLAN_1H),
                 5);
    append_at(d, "2027-03-03 12:00:00", "author.key", "communication", "S1", "2027-03-03T10:00:00Z",
              "{\"subject\":\"under the plan\"}");
    cr_assert_eq(append_at(d, "2027-03-04 12:00:00", "author.key", "communication", "S2",
                           "2027-03-04T10:00:00Z", "{\"subject\":\"other study\"}"),
                 7);
}

Test(export_time, plan_in_force_sets_the_tolerance_of_its_study_only, .fini = tmp_cleanup)
{
    need_faketime();
    const char *d = tmp_dir();
    planned_trail(d);
    /* --kind communication leaves the plan record out: it governs all the same */
    run_result r =
        LDG(d, NULL, "export", "--format", "csv", "--as", "log.key", "--kind", "communication");
    cr_assert_eq(r.status, 0, "%s", r.err);
    csv c = csv_parse(r.out);
    cr_assert_null(csv_cell_of_seq(&c, 5, "seq"), "the plan record is filtered out");
    /* before the plan: the default 24 h, 2 hours is no flag */
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "claimed_minus_ledger_s"), "-7200");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "time_flag"), "");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "tolerance_s"), "86400");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "plan_seq"), "");
    /* [EXP-11] under the plan of 1 hour: the same 2 hours is back-dated */
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "claimed_minus_ledger_s"), "-7200");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "time_flag"), "back-dated");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "tolerance_s"), "3600");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "plan_seq"), "5");
    /* another study: the plan of S1 does not apply */
    cr_assert_str_eq(csv_cell_of_seq(&c, 7, "time_flag"), "");
    cr_assert_str_eq(csv_cell_of_seq(&c, 7, "tolerance_s"), "86400");
    cr_assert_str_eq(csv_cell_of_seq(&c, 7, "plan_seq"), "");
    csv_free(&c);
    run_free(&r);

    /* a range that starts after the plan: still in force */
    r = LDG(d, NULL, "export", "--format", "jsonl", "--seq", "6..7");
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_t *o = jsonl_seq(r.out, 6);
    cr_assert_not_null(o);
    cr_assert_eq(json_integer_value(json_object_get(o, "plan_seq")), 5);
    cr_assert_eq(json_integer_value(json_object_get(o, "tolerance_s")), 3600);
    cr_assert_str_eq(sget(o, "time_flag"), "back-dated");
    json_decref(o);
    o = jsonl_seq(r.out, 7);
    cr_assert(json_is_null(json_object_get(o, "plan_seq")));
    cr_assert(json_is_null(json_object_get(o, "time_flag")));
    json_decref(o);
    run_free(&r);
}

Test(export_time, erased_plan_names_itself_but_sets_the_default_tolerance, .fini = tmp_cleanup)
{
    need_faketime();
    const char *d = tmp_dir();
    planned_trail(d);
    fixture_begin();
    run_result r = LDG(d, NULL, "keygen", "--name", "eraser", "--out", "eraser", "--unencrypted");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eraser.pub", "--name",
            "Erin Eraser", "--org", "Acme CRO", "--roles", "eraser");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "erase", "5", "--as", "eraser.key", "--reason", "test", "--legal-basis",
            "GDPR Art. 17");
    fixture_end();
    cr_assert_eq(r.status, 0, "erase: %s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "export", "--format", "csv", "--as", "log.key", "--study", "S1");
    cr_assert_eq(r.status, 0, "%s", r.err);
    csv c = csv_parse(r.out);
    /* [EXP-11] a plan whose body is gone still names itself, but sets nothing */
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "plan_seq"), "5");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "tolerance_s"), "86400");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "time_flag"), "");
    csv_free(&c);
    run_free(&r);
}

/* The seqs of the JSONL lines, as "0,1,4" (malloc'd). */
static char *
jsonl_seqs(const char *text)
{
    char *out = calloc(1, 4096);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        cr_assert_not_null(o);
        snprintf(out + strlen(out), 4096 - strlen(out), "%s%lld", *out ? "," : "",
                 (long long)json_integer_value(json_object_get(o, "seq")));
        json_decref(o);
        p = nl + 1;
    }
    return out;
}

Test(export_time, study_filter_keeps_the_key_records_of_its_signers, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d); /* 0 genesis (admin), 1 key.add author, 2 decider, 3 approver */
    APPEND(d, "{\"subject\":\"S1 item\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1"); /* 4 */
    APPEND(d, "{\"subject\":\"S2 item\"}", "--as", "decider.key", "--kind", "communication",
           "--study", "S2"); /* 5 */
    fixture_begin();
    run_result r = LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub",
                       "--reason", "left the CRO"); /* 6 */
    fixture_end();
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);

    /* [EXP-12] S1's signer (author): its key.add and revocation; their signer (admin): genesis */
    char *t = export(d, "jsonl", "S1");
    char *seqs = jsonl_seqs(t);
    cr_assert_str_eq(seqs, "0,1,4,6", "the decider's and approver's key records stay out");
    json_t *o = jsonl_seq(t, 1);
    cr_assert_str_eq(sget(o, "kind"), "key.add");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "subject_key"), "name")),
                     "Carla Rossi");
    json_decref(o);
    o = jsonl_seq(t, 6);
    cr_assert_str_eq(sget(o, "kind"), "key.revoke");
    cr_assert_str_eq(sget(o, "reason"), "left the CRO");
    json_decref(o);
    free(seqs);
    free(t);

    t = export(d, "csv", "S1");
    csv c = csv_parse(t);
    cr_assert_eq(c.rows, 5, "header + 4 rows");
    cr_assert_str_eq(csv_cell_of_seq(&c, 0, "kind"), "genesis");
    cr_assert_str_eq(csv_cell_of_seq(&c, 1, "kind"), "key.add");
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "name"), "Carla Rossi");
    cr_assert_str_eq(csv_cell_of_seq(&c, 6, "kind"), "key.revoke");
    cr_assert_null(csv_cell_of_seq(&c, 2, "seq"));
    csv_free(&c);
    free(t);

    /* the bundle carries them too, and still verifies */
    r = LDG(d, NULL, "export", "--format", "bundle", "--as", "log.key", "--study", "S1", "-o",
            "s1.tar");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify-bundle", "s1.tar", "--trust", "log.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "4 records") != NULL, "%s", r.out);
    run_free(&r);
    /* each kept key record is in records.jsonl and, as every key record, in keyrecords.jsonl */
    size_t len;
    char *tar = read_in(d, "s1.tar", &len);
    for (int seq = 0; seq <= 6; seq++) {
        char needle[40];
        int n = snprintf(needle, sizeof needle, "{\"seq\":%d,\"leaf_hash\"", seq);
        int found = 0;
        for (size_t i = 0; i + (size_t)n <= len; i++)
            found += memcmp(tar + i, needle, (size_t)n) == 0;
        int want = seq == 0 || seq == 1 || seq == 6 ? 2 : seq == 2 || seq == 3 || seq == 4 ? 1 : 0;
        cr_assert_eq(found, want, "seq %d: %d evidence lines", seq, found);
    }
    free(tar);
}

Test(export_time, log_and_export_pick_the_same_subject, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d, "{\"title\":\"Protocol v2\",\"text\":\"the amended protocol\"}", "--as", "author.key",
           "--kind", "document", "--study", "S1"); /* 4 */
    APPEND(d, "{\"subject\":\"Visit 3\",\"title\":\"not this\"}", "--as", "author.key", "--kind",
           "communication", "--study", "S1"); /* 5 */
    /* ldg_record_subject: "subject", else "title", in both */
    run_result r = LDG(d, NULL, "log");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *l4 = strstr(r.out, "#4 ");
    cr_assert(l4 && strstr(l4, "Protocol v2") && strstr(l4, "Protocol v2") < strstr(l4, "#5 "),
              "log shows the title: %s", r.out);
    cr_assert(strstr(r.out, "the amended protocol") == NULL, "not the text: %s", r.out);
    cr_assert(strstr(r.out, "Visit 3") && !strstr(r.out, "not this"), "%s", r.out);
    run_free(&r);
    char *t = export(d, "csv", NULL);
    csv c = csv_parse(t);
    cr_assert_str_eq(csv_cell_of_seq(&c, 4, "subject"), "Protocol v2");
    cr_assert_str_eq(csv_cell_of_seq(&c, 5, "subject"), "Visit 3");
    csv_free(&c);
    free(t);
}

/* ------------------------------ the library's writers, without the CLI -- */

typedef struct membuf {
    char *p;
    size_t n, cap;
} membuf;

static int
mem_write(void *ctx, const void *p, size_t n)
{
    membuf *m = ctx;
    if (m->n + n + 1 > m->cap) {
        m->cap = (m->n + n + 1) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p)
            return 1;
    }
    memcpy(m->p + m->n, p, n);
    m->n += n;
    m->p[m->n] = '\0';
    return 0;
}

typedef struct both {
    ldg_export_writer *w;
    ldg_bundle_writer *bw;
    int failed;
} both;

static int
to_both(void *ctx, const ldg_record *r)
{
    both *b = ctx;
    ldg_err err;
    if (ldg_export_writer_record(b->w, r, &err) != LDG_OK ||
        ldg_bundle_writer_record(b->bw, r, &err) != LDG_OK)
        b->failed = 1;
    return b->failed;
}

static void
no_finding(void *ctx, ldg_finding_level level, uint64_t seq, const char *check, const char *detail)
{
    (void)ctx;
    cr_assert_neq(level, LDG_FINDING_FAIL, "#%llu %s: %s", (unsigned long long)seq, check, detail);
}

/* A trail of 12 records and a checkpoint of them, opened read-only, and that checkpoint. */
typedef struct tied {
    const char *d;
    ldg_ledger *l;
    char *note;
    size_t notelen;
    ldg_checkpoint tie;
} tied;

static tied
trail_and_tie(void)
{
    tied t = {.d = tmp_dir()};
    make_trail(t.d);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    cr_assert_eq(ldg_ledger_open(path_in(t.d, "ledger"), LDG_OPEN_READONLY, &t.l, &err), LDG_OK,
                 "%s", err.msg);
    cr_assert_eq(ldg_checkpoint_latest(t.l, &t.note, &t.notelen, &err), LDG_OK, "%s", err.msg);
    char why[300];
    cr_assert_eq(ldg_checkpoint_check(t.l, t.note, t.notelen, NULL, &t.tie, why, sizeof why, &err),
                 LDG_OK);
    cr_assert_str_eq(why, "");
    return t;
}

Test(export_time, library_bundle_writer_round_trips_through_the_bundle_reader, .fini = tmp_cleanup)
{
    tied t = trail_and_tie();
    const char *d = t.d;
    ldg_ledger *l = t.l;
    ldg_checkpoint tie = t.tie;
    ldg_err err;
    char p[700];
    snprintf(p, sizeof p, "%s/log.key", d);
    ldg_key *logkey;
    cr_assert_eq(ldg_key_load(p, NULL, 0, &logkey, &err), LDG_OK, "%s", err.msg);

    membuf jsonl = {0}, tar = {0};
    ldg_export_opts eo = {0};
    both b = {0};
    cr_assert_eq(ldg_export_writer_new(LDG_EXPORT_JSONL, &eo, mem_write, &jsonl, &b.w, &err),
                 LDG_OK);
    cr_assert_eq(ldg_bundle_writer_new(l, tie.size, &eo, &b.bw, &err), LDG_OK, "%s", err.msg);
    ldg_filter f = {.has_seq = 1, .seq_from = 0, .seq_to = tie.size - 1};
    ldg_check_opts co = {.jobs = 1, .root_size = {tie.size, 0}};
    uint8_t roots[2][LDG_HASH_BYTES];
    cr_assert_eq(ldg_log_checked(l, &f, &co, to_both, &b, roots, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(b.failed, 0);
    cr_assert_eq(memcmp(roots[0], tie.root, LDG_HASH_BYTES), 0);
    cr_assert_eq(ldg_export_writer_flush(b.w, &err), LDG_OK);
    FILE *report = tmpfile(), *rj = tmpfile(), *rh = tmpfile();
    fputs("<!doctype html><title>report</title>", report);
    /* the review members are the integrator's presentation of ldg_review_run */
    fputs("{\"summary\":\"passed\"}\n", rj);
    fputs("<!doctype html><title>review</title>", rh);
    ldg_bundle_meta m = {.origin = tie.origin,
                         .exported_at = "2027-01-01T00:00:00Z",
                         .exporter = "a C integrator",
                         .filters = "none",
                         .checkpoint = t.note,
                         .verified = 1,
                         .review_json = rj,
                         .review_html = rh};
    cr_assert_eq(ldg_bundle_writer_finish(b.bw, &m, report, logkey, NULL, mem_write, &tar, &err),
                 LDG_OK, "%s", err.msg);
    fclose(report);
    fclose(rj);
    fclose(rh);

    /* the JSONL: one line per record, the leaf hash in hex */
    size_t lines = 0;
    for (const char *q = jsonl.p; (q = strchr(q, '\n')) != NULL; q++)
        lines++;
    cr_assert_eq(lines, 12);
    cr_assert(strstr(jsonl.p, "\"leaf_hash_hex\":\"") != NULL);

    /* the bundle: what the library wrote, its reader accepts, signed, every record checked */
    char line[LDG_VKEY_MAX];
    snprintf(p, sizeof p, "%s/log.pub", d);
    char *pub = read_file(p, NULL);
    snprintf(line, sizeof line, "%s", pub);
    free(pub);
    ldg_bundle_summary sum;
    cr_assert_eq(
        ldg_bundle_verify((const uint8_t *)tar.p, tar.n, line, no_finding, NULL, &sum, &err),
        LDG_OK, "%s", err.msg);
    cr_assert_eq(sum.failures, 0);
    cr_assert_eq(sum.records, 12);
    cr_assert_eq(sum.manifest_signed, 1);
    cr_assert_eq(sum.trusted_from_bundle, 0);

    ldg_export_writer_free(b.w);
    ldg_bundle_writer_free(b.bw);
    ldg_key_free(logkey);
    free(t.note);
    free(jsonl.p);
    free(tar.p);
    ldg_ledger_close(l);
}

static int
count_proven(void *ctx, const ldg_record *r)
{
    int *n = ctx;
    n[0]++;
    n[1] += r->sig_state == LDG_SIG_PROVEN;
    n[2] += r->sig_state == LDG_SIG_VALID;
    return 0;
}

/*
 * [EXP-2] ldg_log_checked marks records proven by a checkpoint only when
 * that checkpoint's root is given, and (unless the caller takes the heads
 * late and discards on a mismatch) only when the entries give that root:
 * with a root that is not theirs, every signature is checked.
 */
Test(export_time, records_are_proven_only_by_a_root_that_checks, .fini = tmp_cleanup)
{
    tied t = trail_and_tie();
    ldg_err err;
    uint8_t roots[2][LDG_HASH_BYTES], other[LDG_HASH_BYTES];
    memcpy(other, t.tie.root, sizeof other);
    other[0] ^= 1;
    ldg_check_opts co = {
        .jobs = 2, .proven_size = t.tie.size, .root_size = {t.tie.size, t.tie.size}};
    int n[3] = {0};
    cr_assert_eq(ldg_log_checked(t.l, NULL, &co, count_proven, n, roots, &err), LDG_E_INPUT,
                 "proven without the root that proves");
    cr_assert_eq(n[0], 0, "refused before any record");
    for (int late = 0; late < 2; late++) {
        co.proven_late = late;
        co.proven_root = t.tie.root;
        memset(n, 0, sizeof n);
        cr_assert_eq(ldg_log_checked(t.l, NULL, &co, count_proven, n, roots, &err), LDG_OK, "%s",
                     err.msg);
        cr_assert_eq(n[0], (int)t.tie.size);
        cr_assert_eq(n[1], (int)t.tie.size, "late %d: every one proven", late);
        cr_assert_eq(memcmp(roots[1], t.tie.root, LDG_HASH_BYTES), 0);
    }
    co.proven_late = 0;
    co.proven_root = other;
    memset(n, 0, sizeof n);
    cr_assert_eq(ldg_log_checked(t.l, NULL, &co, count_proven, n, roots, &err), LDG_OK, "%s",
                 err.msg);
    cr_assert_eq(n[1], 0, "none proven by a root the entries do not give");
    cr_assert_eq(n[2], (int)t.tie.size, "every signature checked instead");
    free(t.note);
    ldg_ledger_close(t.l);
}
