/*
 * test_escape.c - terminal and viewer escapes in output.  A signer can put
 * C1 controls, bidi overrides and zero-width characters into the fields the
 * policy lets through (printed name, organisation, origin, study, body,
 * reason), and a host with write access to the LMDB files can put anything
 * into the fields the policy forbids (kind, key id, roles, meaning).  No
 * output of any command may carry such a character raw: a raw ESC, CSI or
 * U+202E lets the ledger print a fake "OK" line over the FAILs, on a
 * terminal or in a log viewer.  Every output is walked byte by byte.
 */
#define _GNU_SOURCE /* memmem */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESC "\x1b"
#define CSI "\xc2\x9b"      /* U+009B, a C1 control */
#define NEL "\xc2\x85"      /* U+0085 */
#define RLO "\xe2\x80\xae"  /* U+202E right-to-left override */
#define LRI "\xe2\x81\xa6"  /* U+2066 left-to-right isolate */
#define ZWSP "\xe2\x80\x8b" /* U+200B zero-width space */
#define BOM "\xef\xbb\xbf"  /* U+FEFF */

/*
 * The first character of s that must never reach an output raw, or NULL.
 * keep_lines: LF, CR and TAB are allowed (CSV cells, HTML, multi-line text).
 */
static const char *
raw_hostile(const char *s, bool keep_lines)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n' || (keep_lines && (*p == '\t' || *p == '\r')))
            continue;
        if (*p < 0x20 || *p == 0x7f)
            return (const char *)p;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* C1 */
            return (const char *)p;
        if (p[0] == 0xe2 && p[1] == 0x80 &&
            ((p[2] >= 0x8b && p[2] <= 0x8f) || /* ZW, LRM, RLM */
             (p[2] >= 0xa8 && p[2] <= 0xae)))  /* LS..RLO */
            return (const char *)p;
        if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa0 && p[2] <= 0xaf) /* WJ, isolates */
            return (const char *)p;
        if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) /* BOM */
            return (const char *)p;
    }
    return NULL;
}

static void
assert_clean(const char *what, const char *text, bool keep_lines)
{
    const char *bad = raw_hostile(text, keep_lines);
    cr_expect_null(bad, "%s: raw hostile byte 0x%02x at offset %ld: ...%.40s", what,
                   bad ? (unsigned char)*bad : 0, bad ? (long)(bad - text) : 0L,
                   bad ? (bad > text + 20 ? bad - 20 : text) : "");
}

/* Runs one command and checks stdout and stderr; returns stdout (malloc'd). */
static char *
walk(const char *d, const char *const argv[], bool keep_lines)
{
    run_result r = ldg_run(d, NULL, argv);
    char what[256];
    int n = snprintf(what, sizeof what, "ldg");
    for (size_t i = 0; argv[i] && n < (int)sizeof what - 40; i++)
        n += snprintf(what + n, sizeof what - (size_t)n, " %.30s", argv[i]);
    cr_expect(r.status != 128 + 6 && r.status != 128 + 11, "%s crashed", what);
    char wo[300], we[300];
    snprintf(wo, sizeof wo, "%s (stdout)", what);
    snprintf(we, sizeof we, "%s (stderr)", what);
    assert_clean(wo, r.out, keep_lines);
    assert_clean(we, r.err, false);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    return out;
}
#define WALK(d, keep, ...) walk((d), (const char *const[]){__VA_ARGS__, NULL}, (keep))

static void
must_ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s", what, r.status, r.err);
    run_free(&r);
}

/* Replaces the first occurrence of pat in entry seq by rep (same length). */
static void
tamper_entry(const char *d, uint64_t seq, const char *pat, const char *rep)
{
    size_t m = strlen(pat);
    cr_assert_eq(strlen(rep), m);
    uint8_t k[8];
    seq_key(seq, k);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, &vl), 0);
    uint8_t *at = memmem(v, vl, pat, m);
    cr_assert_not_null(at, "entry %llu holds the pattern", (unsigned long long)seq);
    memcpy(at, rep, m);
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, v, vl), 0);
    free(v);
}

/*
 * A ledger whose legitimate fields hold what the policy allows (C1, bidi,
 * zero-width; ESC only inside the JSON body; LF in a reason): genesis (0),
 * key.add eve (1) and approver (2), communication (3), correction (4),
 * approval (5), a checkpoint; and a bundle of it in d/b.tar.  Then, when
 * `tamper`, stored entries are changed so that kind, key id, roles and
 * meaning hold ESC, CSI and U+202E too.
 */
static void
make_hostile(const char *d, bool tamper)
{
    fixture_begin();
    static const char *const names[] = {"log", "admin", "eve", "approver"};
    for (int i = 0; i < 4; i++)
        must_ok(LDG(d, NULL, "keygen", "--name", names[i], "--out", names[i], "--unencrypted"),
                "keygen");
    must_ok(LDG(d, NULL, "init", "--origin", "test.example/" RLO "regdel" CSI, "--log-key",
                "log.key", "--admin", "admin.pub", "--name", "Ada" ZWSP, "--org", "Acme" LRI),
            "init");
    must_ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eve.pub", "--name",
                "Eve" RLO "x" CSI "2J", "--org", "Org" CSI "31m" ZWSP BOM, "--roles", "author"),
            "key add eve");
    must_ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "approver.pub", "--name",
                "Quinn" NEL, "--org", "Helix", "--roles", "approver"),
            "key add approver");
    write_file(d, "body.json",
               "{\"text\":\"hi\\u001b[1A\\u202eOK\\u0085 a\\u2066b\\u009b\"}");
    must_ok(LDG(d, NULL, "append", "--as", "eve.key", "--kind", "communication", "--study",
                "S" LRI "X" CSI, "--body", "body.json"),
            "append communication");
    must_ok(LDG(d, NULL, "append", "--as", "eve.key", "--kind", "correction", "--study", "S1",
                "--ref", "3", "--reason", "fixed\nOK: all good" RLO, "--body", "body.json"),
            "append correction");
    must_ok(LDG(d, "{\"subject\":\"ok\"}", "append", "--as", "approver.key", "--kind", "approval",
                "--meaning", "approval", "--study", "S1", "--ref", "3", "--body", "-"),
            "append approval");
    must_ok(LDG(d, NULL, "checkpoint", "--as", "log.key"), "checkpoint");
    must_ok(LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key"), "export bundle");
    if (tamper) {
        tamper_entry(d, 3,
                     "\xa4kind\xad"
                     "communication",
                     "\xa4kind\xad" ESC "[1A" RLO "OK" CSI "zz");
        tamper_entry(d, 1,
                     "\xa2id\xa3"
                     "eve",
                     "\xa2id\xa3" CSI "X");
        tamper_entry(d, 1,
                     "\xa6"
                     "author",
                     "\xa6" ESC "[2J" CSI);
        tamper_entry(d, 5,
                     "\xa8"
                     "approval",
                     "\xa8" RLO ESC "[0mZ");
    }
    fixture_end();
}

static void
walk_text_commands(const char *d)
{
    char *v = WALK(d, false, "verify");
    free(v);
    free(WALK(d, false, "log"));
    for (int i = 0; i <= 5; i++) {
        char s[12];
        snprintf(s, sizeof s, "%d", i);
        free(WALK(d, false, "show", s));
    }
    free(WALK(d, false, "key", "list"));
    free(WALK(d, false, "checkpoint", "--as", "log.key"));
    free(WALK(d, false, "proof", "inclusion", "3", "--format", "tlog-proof"));
}

Test(escape, signed_fields_never_reach_text_output_raw, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, false);
    walk_text_commands(d);
    /* The hostile text reached the output, escaped (the test is not vacuous). */
    char *log = WALK(d, false, "log");
    cr_expect(strstr(log, "\\u202e") && strstr(log, "\\x9b"), "%s", log);
    free(log);
    /* the body's text (log shows only a subject or title: ldg_record_subject) */
    char *body = WALK(d, false, "show", "3");
    cr_expect(strstr(body, "\\u001B[1A") && strstr(body, "a\\u2066b\\x9b"), "%s", body);
    free(body);
    char *show = WALK(d, false, "show", "4");
    cr_expect(strstr(show, "fixed\\nOK: all good\\u202e"), "the reason on one line: %s", show);
    free(show);
    free(WALK(d, false, "verify-bundle", "b.tar"));
}

Test(escape, tampered_kind_key_id_roles_and_meaning_never_reach_verify_output_raw,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, true);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "the tampered ledger fails: %s", r.out);
    run_free(&r);
    walk_text_commands(d);
    char *show = WALK(d, false, "show", "3");
    cr_expect(strstr(show, "\\x1b[1A\\u202eOK\\x9bzz"), "the tampered kind, escaped: %s", show);
    free(show);
}

static void
walk_json_commands(const char *d)
{
    free(WALK(d, false, "verify", "--json"));
    free(WALK(d, false, "log", "--json"));
    for (int i = 0; i <= 5; i++) {
        char s[12];
        snprintf(s, sizeof s, "%d", i);
        free(WALK(d, false, "show", s, "--json"));
    }
    free(WALK(d, false, "key", "list", "--json"));
    free(WALK(d, false, "verify-bundle", "b.tar", "--json"));
}

Test(escape, json_output_escapes_bidi_zero_width_and_c1, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, false);
    walk_json_commands(d);
    char *log = WALK(d, false, "log", "--json");
    cr_expect(strstr(log, "\\u202e") && strstr(log, "\\u009b") && strstr(log, "\\u200b") &&
                  strstr(log, "\\ufeff"),
              "%s", log);
    free(log);
}

Test(escape, json_output_of_a_tampered_ledger_escapes_everything, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, true);
    walk_json_commands(d);
}

static void
walk_exports(const char *d)
{
    static const char *const formats[] = {"jsonl", "csv", "html"};
    for (int i = 0; i < 3; i++) {
        char out[32];
        snprintf(out, sizeof out, "x.%s", formats[i]);
        free(WALK(d, false, "export", "--format", formats[i], "-o", out));
        char path[512];
        snprintf(path, sizeof path, "%s/%s", d, out);
        size_t n;
        char *text = read_file(path, &n);
        cr_assert_eq(strlen(text), n, "%s has no NUL", out);
        assert_clean(out, text, i > 0);
        free(text);
        free(WALK(d, i > 0, "export", "--format", formats[i]));
    }
}

Test(escape, exports_show_hostile_characters_escaped, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, false);
    walk_exports(d);
    char path[512];
    snprintf(path, sizeof path, "%s/x.html", d);
    char *html = read_file(path, NULL);
    cr_expect(strstr(html, "&lt;U+202E&gt;"), "bidi override made visible in HTML");
    free(html);
    snprintf(path, sizeof path, "%s/x.csv", d);
    char *csv = read_file(path, NULL);
    cr_expect(strstr(csv, "\\u202e") && strstr(csv, "\\x9b"), "escaped in CSV: %s", csv);
    free(csv);
}

Test(escape, exports_of_a_tampered_ledger_show_hostile_characters_escaped, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, true);
    walk_exports(d);
}

Test(escape, error_messages_quoting_input_are_escaped, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_hostile(d, false);
    free(WALK(d, false, "verify", "--checkpoint", "cp" RLO ESC "[2J" CSI ".txt"));
    free(WALK(d, false, "key", "add", "--as", "admin.key", "--pub", "x" RLO ZWSP ".pub", "--name",
              "N", "--org", "O", "--roles", "author"));
    free(WALK(d, false, "verify-bundle", "nope" LRI BOM ".tar"));
    free(WALK(d, false, "log", "--since", "2026" RLO));
    free(WALK(d, false, "show", "9" RLO));
    free(WALK(d, false, "export", "--format", "x" RLO));
    free(WALK(d, false, "nosuch" RLO ESC "[2J"));
    free(WALK(d, false, "key", "nosuch" CSI));
    free(WALK(d, false, "proof", "nosuch" ZWSP));
}

/* ------------------------------------------------- the engine itself -- */

typedef struct membuf {
    char p[4096];
    size_t n;
} membuf;

static int
mem_sink(void *ctx, const void *p, size_t n)
{
    membuf *m = ctx;
    cr_assert_leq(n, sizeof m->p - m->n);
    memcpy(m->p + m->n, p, n);
    m->n += n;
    return 0;
}

/*
 * Every byte value between printable text, first and last too, in every
 * mode: printable ASCII that no mode escapes passes as it is, and every
 * other byte (controls, DEL, a stray UTF-8 byte, the specials of JSON, CSV
 * and HTML) changes the output or, where the mode keeps it, stays one byte.
 * The escaper skips plain ASCII in a loop of its own: an edge of that loop
 * (0x1f, 0x20, 0x7e, 0x7f) or a special it forgot shows here.
 */
Test(escape, the_escaper_passes_plain_ascii_and_nothing_else_unchanged)
{
    const ldg_escape_mode modes[] = {LDG_ESC_TEXT, LDG_ESC_LINES, LDG_ESC_CSV, LDG_ESC_HTML,
                                     LDG_ESC_JSON};
    const char *special[] = {"", "", "\"", "&<>\"'", "\"\\"}; /* ASCII escaped, per mode */
    const char *kept[] = {"", "\n", "\n\r\t", "\n\t", ""};    /* controls kept as they are */
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++)
        for (unsigned b = 1; b < 256; b++)
            for (int at = 0; at < 3; at++) {
                char in[8];
                const char *pre = at == 0 ? "" : "ab", *post = at == 2 ? "" : "cd";
                snprintf(in, sizeof in, "%s%c%s", pre, (char)b, post);
                membuf out = {.n = 0};
                cr_assert_eq(ldg_escape(in, modes[m], mem_sink, &out), 0);
                bool plain = b >= 0x20 && b < 0x7f && !strchr(special[m], (int)b);
                bool keep = b < 0x80 && strchr(kept[m], (int)b);
                bool same = out.n == strlen(in) && memcmp(out.p, in, out.n) == 0;
                if (plain || keep)
                    cr_assert(same, "mode %zu, byte 0x%02x at %d: changed", m, b, at);
                else
                    cr_assert(!same, "mode %zu, byte 0x%02x at %d: passed raw", m, b, at);
            }
}

/* The exports' base64 against libsodium's on every length up to 300 and a long one. */
Test(escape, base64_of_exports_is_libsodiums)
{
    static uint8_t bytes[1000 + 2]; /* each length starts at its own offset, up to 2 */
    static char want[1400];
    randombytes_buf(bytes, sizeof bytes);
    for (size_t n = 0; n <= 1000; n = n < 300 ? n + 1 : 1000) {
        membuf out = {.n = 0};
        ldgi_emit *e = malloc(sizeof *e);
        cr_assert_not_null(e);
        ldgi_em_init(e, mem_sink, &out);
        ldgi_em_json_b64(e, bytes + n % 3, n);
        cr_assert(ldgi_em_flush(e));
        free(e);
        sodium_bin2base64(want, sizeof want, bytes + n % 3, n, sodium_base64_VARIANT_ORIGINAL);
        cr_assert_eq(out.n, strlen(want) + 2, "length %zu", n);
        cr_assert(out.p[0] == '"' && out.p[out.n - 1] == '"', "length %zu: quoted", n);
        cr_assert_arr_eq(out.p + 1, want, out.n - 2, "length %zu", n);
        if (n == 1000)
            break;
    }
}
