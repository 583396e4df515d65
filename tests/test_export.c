/*
 * test_export.c - `ldg export` on a realistic trail, through the real
 * binary: a thread of a CRO communication, the sponsor's response, a
 * decision, an approval and a correction, a key with hostile printed text,
 * and a revoked key.  JSONL and CSV are parsed back (jansson; a strict RFC
 * 4180 reader below) and compared with what `ldg show` says; filters,
 * withheld bodies, checkpoint coverage, --verified, tampering and bad input
 * are each checked through the exit status, stderr and the files left.
 */
#define _GNU_SOURCE /* memmem */
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

/* Exports to dir/name; returns the file's text (malloc'd). */
static char *
export_to(const char *d, const char *name, const char *const *args, int want_status)
{
    const char *argv[32] = {"export", "-o", name};
    size_t n = 3;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    run_result r = ldg_run(d, NULL, argv);
    cr_assert_eq(r.status, want_status, "export: exit %d: %s", r.status, r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/%s", d, name);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t, "%s was written", name);
    return t;
}
#define EXPORT(d, name, status, ...)                                                               \
    export_to((d), (name), (const char *const[]){__VA_ARGS__, NULL}, (status))

/* The JSONL lines as objects; *n set. */
static json_t **
jsonl(const char *text, size_t *n)
{
    json_t **v = calloc(64, sizeof *v);
    *n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "every line ends with a newline");
        json_error_t je;
        v[*n] = json_loadb(p, (size_t)(nl - p), JSON_REJECT_DUPLICATES, &je);
        cr_assert_not_null(v[*n], "line %zu is JSON: %s", *n + 1, je.text);
        (*n)++;
        cr_assert_lt(*n, 64);
        p = nl + 1;
    }
    return v;
}

static void
jsonl_free(json_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(v[i]);
    free(v);
}

static const char *
sget(json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = o;
    for (char *save, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, k);
    return json_string_value(cur);
}

/* ----------------------------------------------------------- tests -- */

Test(export, jsonl_holds_every_record_as_show_has_it, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    char *t = EXPORT(d, "trail.jsonl", 0, "--format", "jsonl");
    size_t n;
    json_t **v = jsonl(t, &n);
    cr_assert_eq(n, 12, "records 0..11");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(json_integer_value(json_object_get(v[i], "seq")), (json_int_t)i);
        cr_assert_str_eq(sget(v[i], "signature_status"), "valid");
        char s[24];
        snprintf(s, sizeof s, "%zu", i);
        run_result r = LDG(d, NULL, "show", s, "--json");
        json_t *show = json_loads(r.out, 0, NULL);
        cr_assert_not_null(show);
        cr_assert_str_eq(sget(v[i], "leaf_hash"), sget(show, "leaf_hash"));
        cr_assert_str_eq(sget(v[i], "entry"), sget(show, "leaf"), "the exact entry bytes");
        cr_assert_str_eq(sget(v[i], "signature"), sget(show, "signature"));
        cr_assert(json_equal(json_object_get(v[i], "body"), json_object_get(show, "body")));
        json_decref(show);
        run_free(&r);
    }
    /* the CRO's message: claimed at 09:00 in UTC+01:00 */
    cr_assert_str_eq(sget(v[4], "time_utc"), "2026-03-02T08:00:00.000000000Z");
    cr_assert_str_eq(sget(v[4], "time_local"), "2026-03-02T09:00:00.000000000+01:00");
    cr_assert_str_eq(sget(v[4], "utc_offset"), "+01:00");
    cr_assert_str_eq(sget(v[5], "utc_offset"), "-05:00");
    cr_assert_str_eq(sget(v[4], "actor.name"), "Carla Rossi");
    cr_assert_str_eq(sget(v[4], "actor.org"), "Acme CRO");
    cr_assert_str_eq(sget(v[4], "actor.roles"), "author");
    cr_assert_str_eq(sget(v[4], "actor.key_status"), "active", "revoked later, not then");
    cr_assert_str_eq(sget(v[7], "meaning"), "approval");
    cr_assert_str_eq(sget(v[7], "actor.name"), "Quinn Avery");
    json_t *refs = json_object_get(v[6], "refs");
    cr_assert_eq(json_array_size(refs), 2);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(refs, 1), "seq")), 5);
    cr_assert_str_eq(sget(v[8], "reason"), "wrong site number, \"12\" was a typo");
    cr_assert_str_eq(sget(v[8], "body_status"), "ok");
    cr_assert_str_eq(sget(v[11], "kind"), "key.revoke");
    cr_assert_str_eq(sget(v[0], "actor.name"), "(ledger log key)");
    jsonl_free(v, n);
    free(t);
}

Test(export, csv_is_rfc4180_with_formula_cells_neutralised, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    char *t = EXPORT(d, "trail.csv", 0, "--format", "csv");
    static const char header[] =
        "seq,ledger_time_utc,claimed_time_utc,claimed_time_local,utc_offset,"
        "claimed_minus_ledger_s,time_flag,tolerance_s,plan_seq,kind,study,name,organisation,"
        "role,meaning,subject,refs,reason,body_status,leaf_hash,signature_status\r\n";
    cr_assert(strncmp(t, header, sizeof header - 1) == 0, "header: %.200s", t);
    csv c = csv_parse(t);
    cr_assert_eq(c.rows, 13, "header + 12 records");
    cr_assert_str_eq(csv_cell(&c, 5, "seq"), "4");
    cr_assert_eq(strspn(csv_cell(&c, 5, "leaf_hash"), "0123456789abcdef"), 64,
                 "the leaf hash in hex: base64 may begin with a formula character");
    cr_assert_str_eq(csv_cell(&c, 5, "utc_offset"), "UTC+01:00");
    cr_assert_str_eq(csv_cell(&c, 6, "utc_offset"), "UTC-05:00", "never a bare -05:00");
    cr_assert_str_eq(csv_cell(&c, 5, "subject"), "Visit window for visit 4");
    cr_assert_str_eq(csv_cell(&c, 5, "name"), "Carla Rossi");
    cr_assert_str_eq(csv_cell(&c, 7, "refs"), "#4 #5");
    cr_assert_str_eq(csv_cell(&c, 8, "meaning"), "approval");
    cr_assert_str_eq(csv_cell(&c, 9, "reason"), "wrong site number, \"12\" was a typo");
    cr_assert_str_eq(csv_cell(&c, 9, "kind"), "correction");
    /* formula bait in the printed name, organisation, study and subject: text, not formulas */
    cr_assert_str_eq(csv_cell(&c, 11, "name"), "'=HYPERLINK(\"http://x.example\",\"click\")");
    cr_assert_str_eq(csv_cell(&c, 11, "organisation"), "'@Evil, \"Quoted\" Ltd");
    cr_assert_str_eq(csv_cell(&c, 11, "study"), "'-HX-302");
    cr_assert_str_eq(csv_cell(&c, 11, "subject"), "'+SUM(1,2)");
    /* [EXP-6] only claimed_minus_ledger_s, a number ldg computes, may begin with '-' */
    size_t skew_col = 0;
    while (skew_col < c.cols && strcmp(c.cell[skew_col], "claimed_minus_ledger_s") != 0)
        skew_col++;
    cr_assert_lt(skew_col, c.cols);
    for (size_t i = 0; i < c.rows * c.cols; i++) {
        const char *v = c.cell[i];
        if (i % c.cols == skew_col && i >= c.cols) {
            cr_assert(v[0] && strspn(v + (v[0] == '-'), "0123456789") == strlen(v + (v[0] == '-')),
                      "an integer: %s", v);
            continue;
        }
        cr_assert(!strchr("=+-@", v[0]) || v[0] == '\0',
                  "cell %zu begins with a formula character: %s", i, v);
    }
    for (size_t r = 1; r < c.rows; r++)
        cr_assert_str_eq(csv_cell(&c, r, "signature_status"), "valid");
    csv_free(&c);
    free(t);
}

Test(export, filters_select_the_records_log_selects, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    size_t n;
    char *t = EXPORT(d, "a.jsonl", 0, "--format", "jsonl", "--study", "HX-301");
    json_t **v = jsonl(t, &n);
    /* [EXP-12] seq 4..8, and the key records of their signers: genesis (the admin who
       added them), the author's, decider's and approver's key.add, the author's revocation */
    cr_assert_eq(n, 10, "seq 4..8 and 0..3, 11");
    cr_assert_eq(json_integer_value(json_object_get(v[0], "seq")), 0);
    cr_assert_eq(json_integer_value(json_object_get(v[4], "seq")), 4);
    cr_assert_eq(json_integer_value(json_object_get(v[9], "seq")), 11);
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "b.jsonl", 0, "--format", "jsonl", "--actor", "Dr Sam Patel");
    v = jsonl(t, &n);
    cr_assert_eq(n, 2, "the response and the decision");
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "c.jsonl", 0, "--format", "jsonl", "--kind", "approval");
    v = jsonl(t, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(json_integer_value(json_object_get(v[0], "seq")), 7);
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "d.jsonl", 0, "--format", "jsonl", "--seq", "5..7");
    v = jsonl(t, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(json_integer_value(json_object_get(v[2], "seq")), 7);
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "e.jsonl", 0, "--format", "jsonl", "--study", "HX-301", "--seq", "..5");
    v = jsonl(t, &n);
    cr_assert_eq(n, 5, "filters combine: 4, 5 and the key records of their signers, 0..2");
    cr_assert_eq(json_integer_value(json_object_get(v[2], "seq")), 2);
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "f.jsonl", 0, "--format", "jsonl", "--since", "2200-01-01");
    cr_assert_str_eq(t, "", "nothing matches: an empty export, exit 0");
    free(t);
}

Test(export, withheld_bodies_leave_entries_and_hashes, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    size_t n;
    char *t = EXPORT(d, "w.jsonl", 0, "--format", "jsonl", "--withhold-bodies");
    json_t **v = jsonl(t, &n);
    cr_assert_eq(n, 12);
    for (size_t i = 0; i < n; i++) {
        cr_assert(json_is_null(json_object_get(v[i], "body")));
        cr_assert_str_eq(sget(v[i], "body_status"), "withheld-by-export");
        cr_assert_not_null(sget(v[i], "entry"));
        cr_assert_not_null(sget(v[i], "commitment"));
    }
    cr_assert_null(strstr(t, "Visit window"), "no body text anywhere");
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "w.csv", 0, "--format", "csv", "--withhold-bodies");
    cr_assert_null(strstr(t, "Visit window"), "no subject from a withheld body");
    free(t);
}

Test(export, every_record_must_be_under_the_checkpoint, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    APPEND(d, "{\"subject\":\"late\"}", "--as", "decider.key", "--kind", "communication", "--study",
           "HX-301");
    run_result r = LDG(d, NULL, "export", "--format", "jsonl", "-o", "x.jsonl");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "covers 12 of the 13 entries"), "%s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/x.jsonl", d);
    cr_assert_eq(access(p, F_OK), -1, "nothing written");
    char *t = EXPORT(d, "y.jsonl", 0, "--format", "jsonl", "--seq", "..11");
    free(t);
    t = EXPORT(d, "z.jsonl", 0, "--format", "jsonl", "--as", "log.key");
    size_t n;
    json_t **v = jsonl(t, &n);
    cr_assert_eq(n, 13, "a fresh checkpoint covers the new record");
    jsonl_free(v, n);
    free(t);
}

Test(export, bad_input_writes_nothing_and_never_replaces_a_file, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    static const char *const bad[][6] = {
        {"--format", "xml", NULL},
        {"--format", "csv", "--seq", "9..3", NULL},
        {"--format", "csv", "--seq", "x", NULL},
        {"--format", "csv", "--since", "yesterday", NULL},
        {NULL},
    };
    char p[700];
    snprintf(p, sizeof p, "%s/out", d);
    for (size_t i = 0; bad[i][0]; i++) {
        const char *argv[12] = {"export", "-o", "out"};
        size_t n = 3;
        for (size_t j = 0; bad[i][j]; j++)
            argv[n++] = bad[i][j];
        argv[n] = NULL;
        run_result r = ldg_run(d, NULL, argv);
        cr_assert_eq(r.status, 2, "case %zu: %s", i, r.err);
        cr_assert(strncmp(r.err, "ldg export: ", 12) == 0, "%s", r.err);
        run_free(&r);
        cr_assert_eq(access(p, F_OK), -1, "case %zu wrote nothing", i);
    }
    write_file(d, "out", "keep me");
    run_result r = LDG(d, NULL, "export", "--format", "csv", "-o", "out");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "already exists"), "%s", r.err);
    run_free(&r);
    char *t = read_file(p, NULL);
    cr_assert_str_eq(t, "keep me");
    free(t);
    /* no temporary file left beside it */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp", d);
    FILE *f = popen(cmd, "r");
    int count = -1;
    cr_assert_eq(fscanf(f, "%d", &count), 1);
    pclose(f);
    cr_assert_eq(count, 0, "no temporary files");
}

Test(export, verified_checkpoint_vouches_for_what_it_covers, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"), "save");
    APPEND(d, "{\"subject\":\"new\"}", "--as", "decider.key", "--kind", "communication", "--study",
           "HX-301");
    size_t n;
    char *t = EXPORT(d, "v.jsonl", 0, "--format", "jsonl", "--verified", "qa.txt", "--qa", "qa.pub",
                     "--as", "log.key");
    json_t **v = jsonl(t, &n);
    cr_assert_eq(n, 13);
    for (size_t i = 0; i < 12; i++) {
        cr_assert_str_eq(sget(v[i], "signature_status"), "proven");
        cr_assert_eq(json_integer_value(json_object_get(v[i], "proven_by_checkpoint")), 12);
    }
    cr_assert_str_eq(sget(v[12], "signature_status"), "valid", "checked now");
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "v.csv", 0, "--format", "csv", "--verified", "qa.txt", "--qa", "qa.pub");
    cr_assert(strstr(t, "valid (verified in full up to checkpoint 12)"), "%.300s", t);
    free(t);
}

/* A signature altered in place: the tree root no longer matches, and the record says why. */
Test(export, altered_entry_is_exported_marked_and_exits_1, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    flip_signature_bit(d, 7, 14);
    run_result r = LDG(d, NULL, "export", "--format", "jsonl", "-o", "t.jsonl");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "INTEGRITY: the stored entries do not give the root"), "%s", r.err);
    cr_assert(strstr(r.err, "1 invalid signatures and 0 altered bodies"), "%s", r.err);
    cr_assert(strstr(r.err, "first at #7"), "%s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/t.jsonl", d);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t, "written, and marked");
    size_t n;
    json_t **o = jsonl(t, &n);
    cr_assert_str_eq(sget(o[7], "signature_status"), "invalid");
    cr_assert_str_eq(sget(o[6], "signature_status"), "valid");
    jsonl_free(o, n);
    free(t);
}

Test(export, altered_body_is_marked_mismatch_and_exits_1, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    uint8_t k[8];
    seq_key(4, k);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "bodies", k, 8, &v, &vl), 0);
    char *at = memmem(v, vl, "Site 12", 7);
    cr_assert_not_null(at);
    at[5] = '3'; /* "Site 13" */
    cr_assert_eq(lmdb_put_value(d, "bodies", k, 8, v, vl), 0);
    free(v);
    run_result r = LDG(d, NULL, "export", "--format", "csv", "-o", "t.csv");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "0 invalid signatures and 1 altered bodies"), "%s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/t.csv", d);
    char *t = read_file(p, NULL);
    csv c = csv_parse(t);
    cr_assert_str_eq(csv_cell(&c, 5, "body_status"), "mismatch");
    cr_assert_str_eq(csv_cell(&c, 5, "subject"), "",
                     "an altered body is not shown as the record's");
    cr_assert_null(strstr(t, "Site 13"));
    csv_free(&c);
    free(t);
}

Test(export, a_qa_checkpoint_of_another_history_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"), "save");
    /* the host drops the last entry: QA's checkpoint no longer matches */
    uint8_t k[8];
    seq_key(11, k);
    cr_assert_eq(lmdb_del_key(d, "entries", k, 8), 0);
    run_result r = LDG(d, NULL, "export", "--format", "jsonl", "-o", "t.jsonl", "--verified",
                       "qa.txt", "--qa", "qa.pub", "--seq", "..10");
    cr_assert_neq(r.status, 0, "%s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/t.jsonl", d);
    cr_assert_eq(access(p, F_OK), -1, "nothing written against a checkpoint that fails");
}

Test(export, the_file_gets_the_usual_mode, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    free(EXPORT(d, "m.csv", 0, "--format", "csv"));
    char p[700];
    snprintf(p, sizeof p, "%s/m.csv", d);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    cr_assert_eq(st.st_mode & 0777, 0666 & ~mask);
}

/* The CSV subject is the body's top-level "subject" (else "title"), escapes decoded. */
Test(export, csv_subject_is_the_top_level_member, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d, "{\"a\":{\"subject\":\"inner\"},\"subject\":\"outer \\\"q\\\" \\u00e9\"}", "--as",
           "author.key", "--kind", "communication", "--study", "S1");
    APPEND(d, "{\"meta\":{\"subject\":\"nested only\"},\"title\":\"The title\"}", "--as",
           "author.key", "--kind", "communication", "--study", "S1");
    /* a subject that is not a string is refused at append [KIND-2]: the title, quoted */
    APPEND(d, "{\"title\":\"Fallback, \\\"quoted\\\"\"}", "--as", "author.key", "--kind",
           "communication", "--study", "S1");
    APPEND(d, "{\"text\":\"no subject at all\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1");
    char *t = EXPORT(d, "s.csv", 0, "--format", "csv", "--as", "log.key");
    csv c = csv_parse(t);
    cr_assert_eq(c.rows, 9);
    cr_assert_str_eq(csv_cell(&c, 5, "subject"), "outer \"q\" \xc3\xa9");
    cr_assert_str_eq(csv_cell(&c, 6, "subject"), "The title");
    cr_assert_str_eq(csv_cell(&c, 7, "subject"), "Fallback, \"quoted\"");
    cr_assert_str_eq(csv_cell(&c, 8, "subject"), "");
    csv_free(&c);
    free(t);
}

/* ------------------------------------ indexes and the keys db lie [EXP-4] -- */

/* The raw public key of a .pub file (a verifier-key line: base64(0x01 || pub) last). */
static void
pub_of(const char *d, const char *file, uint8_t pub[32])
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", d, file);
    char *line = read_file(p, NULL);
    cr_assert_not_null(line);
    line[strcspn(line, "\n")] = '\0';
    const char *b = strchr(line, '+'); /* name+hhhhhhhh+base64: base64 may hold '+' too */
    cr_assert_not_null(b);
    b = strchr(b + 1, '+');
    cr_assert_not_null(b);
    uint8_t raw[64];
    size_t n;
    cr_assert_eq(sodium_base642bin(raw, sizeof raw, b + 1, strlen(b + 1), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    cr_assert_eq(n, 33);
    memcpy(pub, raw + 1, 32);
    free(line);
}

/* An index key: text || 0x00 || seq (8 bytes big-endian). */
static size_t
index_key(const char *text, uint64_t seq, uint8_t *out)
{
    size_t n = strlen(text) + 1;
    memcpy(out, text, n);
    seq_key(seq, out + n);
    return n + 8;
}

/* The seqs of a JSONL export, as "4,5,6". */
static void
seqs_of(const char *t, char *out, size_t cap)
{
    size_t n;
    json_t **v = jsonl(t, &n);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%lld", i ? "," : "",
                 (long long)json_integer_value(json_object_get(v[i], "seq")));
    jsonl_free(v, n);
}

Test(export, selects_by_the_entries_when_the_study_index_lost_a_row, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    uint8_t k[160];
    cr_assert_eq(lmdb_del_key(d, "study", k, index_key("HX-301", 7, k)), 0);
    char *t = EXPORT(d, "s.jsonl", 0, "--format", "jsonl", "--study", "HX-301");
    char got[200];
    seqs_of(t, got, sizeof got);
    /* [EXP-12] with the key records of its signers */
    cr_assert_str_eq(got, "0,1,2,3,4,5,6,7,8,11", "the approval is still exported");
    free(t);
    t = EXPORT(d, "s.csv", 0, "--format", "csv", "--study", "HX-301");
    csv c = csv_parse(t);
    cr_assert_eq(c.rows, 11);
    cr_assert_str_eq(csv_cell(&c, 8, "seq"), "7");
    csv_free(&c);
    free(t);
    t = EXPORT(d, "s.html", 0, "--format", "html", "--study", "HX-301");
    cr_assert(strstr(t, "<tr id=r7"), "the report lists it");
    free(t);
}

Test(export, selects_by_the_entries_when_the_kind_index_lost_a_row, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    uint8_t k[160];
    cr_assert_eq(lmdb_del_key(d, "kind", k, index_key("approval", 7, k)), 0);
    char *t = EXPORT(d, "k.jsonl", 0, "--format", "jsonl", "--kind", "approval");
    char got[200];
    seqs_of(t, got, sizeof got);
    cr_assert_str_eq(got, "7");
    free(t);
}

Test(export, selects_the_actor_by_the_key_records_not_the_indexes_or_keys_db, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    uint8_t pub[32], k[40];
    pub_of(d, "approver.pub", pub);
    memcpy(k, pub, 32);
    seq_key(7, k + 32);
    cr_assert_eq(lmdb_del_key(d, "actor", k, 40), 0);
    cr_assert_eq(lmdb_del_key(d, "keys", pub, 32), 0); /* the registry forgets Quinn Avery */
    char *t = EXPORT(d, "a.jsonl", 0, "--format", "jsonl", "--actor", "Quinn Avery");
    char got[200];
    seqs_of(t, got, sizeof got);
    cr_assert_str_eq(got, "7");
    size_t n;
    json_t **v = jsonl(t, &n);
    cr_assert_str_eq(sget(v[0], "actor.name"), "Quinn Avery");
    cr_assert_str_eq(sget(v[0], "actor.roles"), "approver");
    cr_assert_str_eq(sget(v[0], "actor.key_status"), "active");
    jsonl_free(v, n);
    free(t);
    t = EXPORT(d, "a.csv", 0, "--format", "csv");
    csv c = csv_parse(t);
    cr_assert_str_eq(csv_cell(&c, 8, "name"), "Quinn Avery",
                     "the signer is named from its key record");
    cr_assert_str_eq(csv_cell(&c, 8, "organisation"), "Helix Pharma");
    csv_free(&c);
    free(t);
}

Test(export, key_status_comes_from_the_key_records_not_the_keys_db, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    /* the host clears the author's revocation (#11) in the keys db... */
    uint8_t pub[32];
    pub_of(d, "author.pub", pub);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "keys", pub, 32, &v, &vl), 0);
    cr_assert_eq(vl, 17);
    memset((uint8_t *)v + 8, 0xff, 8);
    cr_assert_eq(lmdb_put_value(d, "keys", pub, 32, v, vl), 0);
    free(v);
    /* ...and the revoked key signs on (#12) */
    APPEND(d, "{\"subject\":\"after the revocation\"}", "--as", "author.key", "--kind",
           "communication", "--study", "HX-301");
    /* the log key certifies no such ledger [CKP-2] */
    run_result r = LDG(d, NULL, "export", "--format", "jsonl", "--as", "log.key", "-o", "x.jsonl");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "entry 12 (key)"), "%s", r.err);
    run_free(&r);
    /*
     * A careless host signs a checkpoint over it by hand and stores it; the
     * export tied to it still names the key's status from the key records.
     */
    r = LDG(d, NULL, "verify", "--json");
    const char *v2 = strstr(r.out, "{\"verdict\"");
    cr_assert_not_null(v2, "%s", r.out);
    json_t *vo = json_loads(v2, 0, NULL);
    cr_assert_not_null(vo);
    char *note = log_note_by_hand(d, 13, json_string_value(json_object_get(vo, "root")));
    json_decref(vo);
    run_free(&r);
    uint8_t ck[8];
    seq_key(13, ck);
    cr_assert_eq(lmdb_put_value(d, "checkpoints", ck, 8, note, strlen(note)), 0);
    free(note);
    char *t = EXPORT(d, "r.jsonl", 0, "--format", "jsonl", "--seq", "12..");
    size_t n;
    json_t **o = jsonl(t, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(sget(o[0], "actor.key_status"), "revoked at #11");
    jsonl_free(o, n);
    free(t);
}

Test(export, names_refs_by_the_entries_not_the_leaf_index, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    char *t = EXPORT(d, "a.jsonl", 0, "--format", "jsonl", "--seq", "4..4");
    size_t n;
    json_t **v = jsonl(t, &n);
    const char *b64 = sget(v[0], "leaf_hash");
    uint8_t leaf[32];
    size_t got;
    cr_assert_eq(sodium_base642bin(leaf, sizeof leaf, b64, strlen(b64), NULL, &got, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    jsonl_free(v, n);
    free(t);
    /* the leaf index now says #4's hash is entry 6: the response (#5) would "ref #6" */
    uint8_t six[8];
    seq_key(6, six);
    uint8_t lk[36];
    leaf_index_key(leaf, 4, lk);
    cr_assert_eq(lmdb_put_value(d, LEAF_DB, lk, 36, six, 8), 0);
    t = EXPORT(d, "b.jsonl", 0, "--format", "jsonl", "--seq", "5..5");
    v = jsonl(t, &n);
    json_t *ref = json_array_get(json_object_get(v[0], "refs"), 0);
    cr_assert(!json_is_integer(json_object_get(ref, "seq")) ||
                  json_integer_value(json_object_get(ref, "seq")) == 4,
              "never the seq the index lies about: %s", t);
    jsonl_free(v, n);
    free(t);
}

/*
 * Past the first chunks of the parallel walk (leaf hashes 2,048 entries at
 * a time, records 512 a batch, two batches in flight): records deep in a
 * --verified export are hashed and checked on the helper threads as the
 * first ones are.  Every row's leaf hash is the next row's prev (so none
 * was left unhashed), a body altered at #2,200 is marked and fails the
 * export, and an entry altered at #2,100 fails the root of the QA
 * checkpoint.  A fixture (the plain binary under memcheck): its batch signs
 * and its verify checks 2,300 signatures, which cost more of memcheck's
 * time than the exports the tests are about.
 */
#define DEEP 2300
static void
deep_trail(const char *d)
{
    fixture_begin();
    make_trail(d);
    size_t cap = (size_t)DEEP * 128;
    char *b = malloc(cap), *p = b;
    for (int i = 12; i < DEEP; i++)
        p += snprintf(p, cap - (size_t)(p - b),
                      "{\"kind\":\"communication\",\"study\":\"HX-301\",\"body\":{\"subject\":"
                      "\"note %d\",\"text\":\"Site 12, item %d\"}}\n",
                      i, i);
    ok(LDG(d, b, "append", "--as", "decider.key", "--batch", "-"), "batch");
    free(b);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key"), "save");
    fixture_end();
}

/* The export's JSONL lines, each parsed; *n set. */
static json_t **
jsonl_all(const char *text, size_t *n)
{
    size_t cap = 16;
    json_t **v = malloc(cap * sizeof *v);
    *n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[*n] = json_loadb(p, (size_t)(nl - p), 0, NULL);
        cr_assert_not_null(v[*n], "line %zu", *n + 1);
        (*n)++;
        p = nl + 1;
    }
    return v;
}

Test(export, deep_records_are_hashed_and_checked_as_the_first, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    deep_trail(d);
    char *t =
        EXPORT(d, "all.jsonl", 0, "--format", "jsonl", "--verified", "qa.txt", "--qa", "qa.pub");
    size_t n;
    json_t **v = jsonl_all(t, &n);
    cr_assert_eq(n, DEEP);
    for (size_t i = 0; i + 1 < n; i++) {
        cr_assert_str_eq(sget(v[i], "leaf_hash"), sget(v[i + 1], "prev"), "#%zu", i);
        cr_assert_str_eq(sget(v[i], "body_status"), "ok", "#%zu", i);
        cr_assert_str_eq(sget(v[i], "signature_status"), "proven", "#%zu", i);
    }
    cr_assert_str_eq(sget(v[n - 1], "body_status"), "ok");
    jsonl_free(v, n);
    free(t);

    /* a body altered deep in: marked, counted, exit 1 */
    uint8_t k[8];
    seq_key(2200, k);
    void *bv;
    size_t bl;
    cr_assert_eq(lmdb_get_value(d, "bodies", k, 8, &bv, &bl), 0);
    char *at = memmem(bv, bl, "Site 12", 7);
    cr_assert_not_null(at);
    at[5] = '3';
    cr_assert_eq(lmdb_put_value(d, "bodies", k, 8, bv, bl), 0);
    free(bv);
    run_result r = LDG(d, NULL, "export", "--format", "csv", "-o", "b.csv", "--verified", "qa.txt",
                       "--qa", "qa.pub");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "0 invalid signatures and 1 altered bodies"), "%s", r.err);
    cr_assert(strstr(r.err, "first at #2200"), "%s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/b.csv", d);
    t = read_file(p, NULL);
    csv c = csv_parse(t);
    cr_assert_str_eq(csv_cell(&c, 2201, "body_status"), "mismatch", "row 2201: #2200");
    cr_assert_str_eq(csv_cell(&c, 2200, "body_status"), "ok");
    cr_assert_null(strstr(t, "Site 13"));
    csv_free(&c);
    free(t);
    t = EXPORT(d, "b.jsonl", 1, "--format", "jsonl", "--verified", "qa.txt", "--qa", "qa.pub");
    v = jsonl_all(t, &n);
    cr_assert_str_eq(sget(v[2200], "body_status"), "mismatch");
    cr_assert(json_is_null(json_object_get(v[2200], "body")));
    jsonl_free(v, n);
    free(t);

    /* an entry altered deep in: the QA checkpoint's root is not what the entries give */
    flip_signature_bit(d, 2100, 14);
    r = LDG(d, NULL, "export", "--format", "jsonl", "-o", "e.jsonl", "--verified", "qa.txt", "--qa",
            "qa.pub");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "INTEGRITY"), "%s", r.err);
    run_free(&r);
}

/*
 * The records of a long export are built on helper threads a window of 256
 * at a time, each helper reading through a twin of the export's read
 * transaction, and handed over in seq order by the caller.  With helpers
 * (--jobs 3) the trail is the same, byte for byte, as built by one thread
 * (--jobs 1); and an entry deep in (#1,500, the sixth window) that does not
 * decode stops the export with its seq and exit 1, as the one thread does,
 * and leaves no file: a record whose building failed on a helper is never
 * skipped.
 */
Test(export, records_built_on_helpers_are_the_trail_one_thread_builds, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    deep_trail(d);
    char *one = EXPORT(d, "one.csv", 0, "--format", "csv", "--jobs", "1");
    char *three = EXPORT(d, "three.csv", 0, "--format", "csv", "--jobs", "3");
    cr_assert_str_eq(one, three, "the same rows in the same order");
    free(one);
    free(three);
    one = EXPORT(d, "one.jsonl", 0, "--format", "jsonl", "--jobs", "1", "--study", "HX-301");
    three = EXPORT(d, "three.jsonl", 0, "--format", "jsonl", "--jobs", "3", "--study", "HX-301");
    cr_assert_str_eq(one, three, "the same records, and the same key records kept with them");
    free(one);
    free(three);

    /*
     * #1500's seq written in five bytes instead of three: the walk that
     * finds key and plan records still reads it, building the record (the
     * canonical decoding) refuses it.
     */
    uint8_t k[8];
    seq_key(1500, k);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, &vl), 0);
    static const char seq3[] = "\xa3seq\xcd\x05\xdc", seq5[] = "\xa3seq\xce\x00\x00\x05\xdc";
    char *at = memmem(v, vl, seq3, sizeof seq3 - 1), *w = malloc(vl + 2);
    cr_assert_not_null(at);
    size_t head = (size_t)(at - (char *)v), tail = vl - head - (sizeof seq3 - 1);
    memcpy(w, v, head);
    memcpy(w + head, seq5, sizeof seq5 - 1);
    memcpy(w + head + sizeof seq5 - 1, at + sizeof seq3 - 1, tail);
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, w, vl + 2), 0);
    free(w);
    free(v);
    for (int jobs = 1; jobs <= 3; jobs += 2) {
        char j[16], out[32];
        snprintf(j, sizeof j, "%d", jobs);
        snprintf(out, sizeof out, "cut%d.jsonl", jobs);
        run_result r = LDG(d, NULL, "export", "--format", "jsonl", "-o", out, "--jobs", j);
        cr_assert_eq(r.status, 1, "--jobs %d: exit %d: %s", jobs, r.status, r.err);
        cr_assert(strstr(r.err, "INTEGRITY: entry 1500 does not decode"), "--jobs %d: %s", jobs,
                  r.err);
        run_free(&r);
        cr_assert_neq(access(path_in(d, out), F_OK), 0, "--jobs %d: nothing written", jobs);
    }
}

/*
 * The heads take 64 leaves at a time as the root of their subtree, except
 * where a wanted size falls among them: here QA's checkpoint at 2,300 (35
 * blocks and 60 leaves) under a log checkpoint at 2,400.  Both roots must
 * come out as signed, and a changed byte must fail the head it is under
 * and no other (exit 1 [EXP-2]): at 2,350 only the log's, at 2,250 QA's
 * too.  Each export runs three times: whole to a file, where the heads
 * come from the records' own leaves; from entry 1 on, where a walk of
 * their own hashes them; and whole to standard output, where QA's head is
 * known before the first row.  A row below QA's size says "proven" only
 * if QA's head checks: when it does not, every signature is checked, so
 * #2,250 is INVALID, whichever way the heads came.
 */
static void
export_fails_heads(const char *d, bool qa_too)
{
    static const char *const how[] = {"whole, to a file", "--seq 1..2399", "to standard output"};
    for (int i = 0; i < 3; i++) {
        const char *argv[16] = {"export", "--format", "csv", "--verified", "qa.txt", "--qa",
                                "qa.pub"};
        size_t n = 7;
        if (i < 2) {
            argv[n++] = "-o";
            argv[n++] = "w.csv";
        }
        if (i == 1) {
            argv[n++] = "--seq";
            argv[n++] = "1..2399";
        }
        run_result r = ldg_run(d, NULL, argv);
        cr_assert_eq(r.status, 1, "%s: exit %d: %s", how[i], r.status, r.err);
        cr_assert(strstr(r.err, "INTEGRITY: the stored entries do not give the root of the "
                                "checkpoint of 2400 entries"),
                  "%s: %s", how[i], r.err);
        cr_assert_eq(strstr(r.err, "INTEGRITY: the first 2300 entries changed since") != NULL,
                     qa_too, "%s: %s", how[i], r.err);
        cr_assert(strstr(r.err, qa_too ? " 2 invalid signatures" : " 1 invalid signatures"),
                  "%s: %s", how[i], r.err);
        cr_assert_eq(strstr(r.err, "writing the export again, checking every signature") != NULL,
                     qa_too && i == 0, "%s: only a folded head is found out late: %s", how[i],
                     r.err);
        char *t = i < 2 ? read_file(path_in(d, "w.csv"), NULL) : r.out;
        csv c = csv_parse(t);
        const char *st = csv_cell_of_seq(&c, 2250, "signature_status"),
                   *before = csv_cell_of_seq(&c, 2200, "signature_status");
        cr_assert_str_eq(st, qa_too ? "INVALID" : "valid (verified in full up to checkpoint 2300)",
                         "%s: #2250", how[i]);
        cr_assert_str_eq(before,
                         qa_too ? "valid" : "valid (verified in full up to checkpoint 2300)",
                         "%s: #2200", how[i]);
        cr_assert_str_eq(csv_cell_of_seq(&c, 2350, "signature_status"), "INVALID", "%s", how[i]);
        cr_assert_eq(strstr(t, "verified in full") != NULL, !qa_too, "%s", how[i]);
        csv_free(&c);
        if (i < 2) {
            free(t);
            unlink(path_in(d, "w.csv"));
        }
        run_free(&r);
    }
    /* the report's verdict and rows too */
    run_result r = LDG(d, NULL, "export", "--format", "html", "-o", "w.html", "--verified",
                       "qa.txt", "--qa", "qa.pub");
    cr_assert_eq(r.status, 1, "html: exit %d: %s", r.status, r.err);
    run_free(&r);
    char *t = read_file(path_in(d, "w.html"), NULL);
    cr_assert_eq(strstr(t, "verified in full") != NULL, !qa_too, "html");
    cr_assert_eq(strstr(t, "Every signature shown was checked at export") != NULL, qa_too, "html");
    free(t);
    unlink(path_in(d, "w.html"));
}

Test(export, a_checkpoint_inside_a_block_of_leaves_is_recomputed_and_checked, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    deep_trail(d);
    size_t cap = 100 * 128;
    char *b = malloc(cap), *p = b;
    for (int i = 0; i < 100; i++)
        p += snprintf(p, cap - (size_t)(p - b),
                      "{\"kind\":\"communication\",\"study\":\"HX-301\",\"body\":{\"subject\":"
                      "\"later %d\"}}\n",
                      i);
    ok(LDG(d, b, "append", "--as", "decider.key", "--batch", "-"), "batch");
    free(b);
    ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    char *t = EXPORT(d, "v.csv", 0, "--format", "csv", "--verified", "qa.txt", "--qa", "qa.pub");
    cr_assert(strstr(t, "later 99"), "every record up to the log's checkpoint");
    free(t);
    t = EXPORT(d, "v1.csv", 0, "--format", "csv", "--verified", "qa.txt", "--qa", "qa.pub", "--seq",
               "1..2399");
    cr_assert(strstr(t, "later 99"), "the heads walked for: as signed too");
    free(t);
    flip_signature_bit(d, 2350, 3);
    export_fails_heads(d, false);
    flip_signature_bit(d, 2250, 3);
    export_fails_heads(d, true);
}

/*
 * The heads come from the records' leaves only when the records are every
 * entry in order.  An entry removed (2,000) while one more is stored far
 * past the end (so the count still covers the checkpoint) leaves the fold
 * unfinished: the heads are walked for, and they do not give the root.
 */
Test(export, a_gap_in_the_entries_is_not_folded_over, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    deep_trail(d);
    uint8_t k[8], far[8];
    seq_key(2000, k);
    seq_key(9000, far);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, &vl), 0);
    cr_assert_eq(lmdb_put_value(d, "entries", far, 8, v, vl), 0);
    cr_assert_eq(lmdb_del_key(d, "entries", k, 8), 0);
    free(v);
    /* the ledger now ends at 9,000: the export stops at the checkpoint's */
    run_result r = LDG(d, NULL, "export", "--format", "jsonl", "-o", "g.jsonl", "--verified",
                       "qa.txt", "--qa", "qa.pub", "--seq", "..2299");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "INTEGRITY: the stored entries do not give the root of the checkpoint"),
              "%s", r.err);
    cr_assert(strstr(r.err, "changed since"), "%s", r.err);
    run_free(&r);
}

/*
 * JSONL and CSV rows reach the output on a thread of their own, 1 MiB at a
 * time.  A write that fails there (standard output on a full disk, here
 * /dev/full) fails the export all the same: one line that says where and
 * why, exit 4.
 */
Test(export, a_write_failing_on_the_writing_thread_fails_the_export, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    deep_trail(d); /* about 4 MiB of JSONL */
    for (int csv = 0; csv < 2; csv++) {
        char script[1400];
        snprintf(script, sizeof script,
                 "'%s' export --format %s > /dev/full 2> err.txt; echo $? > rc.txt", ldg_bin(),
                 csv ? "csv" : "jsonl");
        int st;
        cr_assert_eq(waitpid(spawn_sh(d, script), &st, 0) > 0 && WIFEXITED(st), 1);
        char *rc = read_in(d, "rc.txt", NULL), *err = read_in(d, "err.txt", NULL);
        cr_assert_str_eq(rc, "4\n", "%s", err);
        cr_assert(strstr(err, "standard output: write failed: No space left on device"), "%s", err);
        cr_assert_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
        free(rc);
        free(err);
    }
}
