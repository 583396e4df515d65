/*
 * test_print.c - the printed trail (spec/export.md [EXP-13]), read as an
 * inspector reads it: `ldg export --format html` printed to PDF by
 * headless Chromium, then page by page with poppler's pdfinfo and
 * pdftotext (page x of y, the study and the export id on every page, the
 * cover, the signatures page, the revocation row, no clipped column); and
 * the HTML itself (ledger time before claimed time, the back- and
 * forward-dated flags, the export id as specified, correction history,
 * threads, labelled body fields).  One PDF for all the page checks: a
 * Chromium run is the expensive part.
 */
#define _GNU_SOURCE /* strcasestr, memmem */
#include "helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 45 characters: longer than any column's share of an A4 line if it wrapped on its hyphens */
#define STUDY "HX-301-EXTENSION-PHASE-3B-LONG-TERM-FOLLOW-UP"
#define NDOCS 12 /* enough rows for several pages of the record table */

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s", what, r.status, r.err);
    run_free(&r);
}

/*
 * make_ledger (0 genesis, 1..3 key.add), then 4 key.add of a second approver
 * (Rita Okafor, Acme CRO), 5 a query claiming a date months before the
 * ledger's time (back-dated), 6 response, 7 decision, 8 approval (meaning
 * approval) and 9 approval (meaning review) of 7, 10 correction of 5, 11
 * correction of 10, 12 meeting minutes claiming a date years ahead
 * (forward-dated), NDOCS documents, the communication plan, the revocation
 * of the author's key; then the HTML export (with a fresh checkpoint) in d/r.html.
 */
static void
trail(const char *d)
{
    fixture_begin();
    make_ledger(d);
    ok(LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "qa.pub", "--name", "Rita Okafor",
           "--org", "Acme CRO", "--roles", "approver"),
       "key add");
    cr_assert_eq(APPEND(d,
                        "{\"subject\":\"Visit window for visit 4\",\"priority\":\"high\","
                        "\"to\":[\"Helix Pharma\"],\"site_ref\":\"S-12\"}",
                        "--as", "author.key", "--kind", "query", "--study", STUDY, "--time",
                        "2026-03-02T09:00:00+01:00"),
                 5);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Re: visit window\",\"text\":\"Agreed.\"}", "--as",
                        "decider.key", "--kind", "response", "--study", STUDY, "--ref", "5"),
                 6);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Deviation accepted\"}", "--as", "decider.key",
                        "--kind", "decision", "--study", STUDY, "--ref", "6"),
                 7);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Approved\"}", "--as", "approver.key", "--kind",
                        "approval", "--meaning", "approval", "--study", STUDY, "--ref", "7"),
                 8);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Reviewed\"}", "--as", "qa.key", "--kind", "approval",
                        "--meaning", "review", "--study", STUDY, "--ref", "7"),
                 9);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Site 14, not 12\"}", "--as", "author.key", "--kind",
                        "correction", "--study", STUDY, "--ref", "5", "--reason",
                        "wrong site number"),
                 10);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Site 14, visit 5\"}", "--as", "author.key", "--kind",
                        "correction", "--study", STUDY, "--ref", "10", "--reason",
                        "the visit number too"),
                 11);
    cr_assert_eq(APPEND(d, "{\"subject\":\"Steering committee minutes\"}", "--as", "author.key",
                        "--kind", "meeting", "--study", STUDY, "--time", "2031-01-01T10:00:00Z"),
                 12);
    for (int i = 0; i < NDOCS; i++)
        APPEND(d, "{\"subject\":\"Monitoring visit report\",\"text\":\"All findings closed.\"}",
               "--as", "decider.key", "--kind", "document", "--study", STUDY);
    APPEND(d,
           "{\"subject\":\"Communication plan HX-301 v1\",\"version\":\"1\","
           "\"parties\":[\"Acme CRO\",\"Helix Pharma\"],\"levels\":[{\"id\":\"operational\","
           "\"name\":\"Operational team\",\"members\":[{\"name\":\"Carla Rossi\","
           "\"org\":\"Acme CRO\"}]}],\"tolerance_hours\":24}",
           "--as", "decider.key", "--kind", "plan", "--study", STUDY);
    ok(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "author.pub", "--reason",
           "left the project"),
       "revoke");
    fixture_end();
    ok(LDG(d, NULL, "export", "--format", "html", "-o", "r.html", "--as", "log.key",
           "--exporter", "QA Lead"),
       "export");
}

static char *
html_of(const char *d)
{
    char p[700];
    snprintf(p, sizeof p, "%s/r.html", d);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t);
    return t;
}

/* The HTML of record seq's row (through the end of its table body); malloc'd. */
static char *
row_of(const char *html, long seq)
{
    char id[32];
    snprintf(id, sizeof id, "<tr id=r%ld", seq);
    const char *a = strstr(html, id);
    cr_assert_not_null(a, "row %ld in the record table", seq);
    const char *b = strstr(a, "</tbody>");
    cr_assert_not_null(b);
    return strndup(a, (size_t)(b - a));
}

/* The text between the first `from` after `start` and the next `to`; malloc'd. */
static char *
between(const char *start, const char *from, const char *to)
{
    const char *a = strstr(start, from);
    cr_assert_not_null(a, "%s", from);
    a += strlen(from);
    const char *b = strstr(a, to);
    cr_assert_not_null(b, "%s", to);
    return strndup(a, (size_t)(b - a));
}

static char *
export_id_of(const char *html)
{
    char *id = between(html, "<td>Export id</td><td><code>", "</code>");
    cr_assert_eq(strlen(id), 16, "a 16-digit export id: %s", id);
    return id;
}

/* ------------------------------------------------------------ HTML -- */

Test(print, each_row_shows_ledger_time_first_then_claimed_time_and_flags,
     .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    trail(d);
    char *html = html_of(d);
    char host[21], leaf[65];
    /* 5 claims 2026-03-02T08:00Z, months before it was recorded: back-dated */
    show_facts(d, 5, host, leaf);
    char *row = row_of(html, 5);
    const char *lt = strstr(row, host), *ct = strstr(row, "2026-03-02T08:00:00Z");
    cr_assert(lt && ct && lt < ct, "ledger time %s before the claimed time: %s", host, row);
    cr_assert(strstr(row, "2026-03-02 09:00:00 UTC+01:00"), "claimed at the signer's offset");
    cr_assert(strstr(row, "offset -"), "the offset, claimed minus ledger: %.400s", row);
    cr_assert(strstr(row, "back-dated"), "flagged: %.400s", row);
    cr_assert_null(strstr(row, "forward-dated"));
    cr_assert(strstr(row, leaf), "the leaf hash in lowercase hex: %.400s", row);
    free(row);
    /* 12 claims 2031: forward-dated */
    show_facts(d, 12, host, leaf);
    row = row_of(html, 12);
    lt = strstr(row, host), ct = strstr(row, "2031-01-01T10:00:00Z");
    cr_assert(lt && ct && lt < ct, "ledger time first: %.400s", row);
    cr_assert(strstr(row, "forward-dated") && strstr(row, "offset +"), "%.400s", row);
    free(row);
    /* 6 was signed as it was appended: within the tolerance, no flag */
    row = row_of(html, 6);
    cr_assert_null(strstr(row, "-dated"), "no flag within the tolerance: %.400s", row);
    free(row);
    free(html);
}

Test(print, corrections_history_threads_labels_and_the_export_id, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    trail(d);
    char *html = html_of(d);
    /* the original shows every correction of it, in order, the second one through the first */
    char *row = row_of(html, 5);
    const char *c1 = strstr(row, "1. Corrected by <a href=\"#r10\">#10</a>: wrong site number");
    const char *c2 = strstr(row, "2. Corrected by <a href=\"#r11\">#11</a>: the visit number too");
    cr_assert(c1 && c2 && c1 < c2, "the correction history beside the original: %.400s", row);
    cr_assert(strstr(c2, "corrects <a href=\"#r10\">#10</a>"), "11 corrects 10");
    cr_assert(strstr(row, "Visit window for visit 4"), "the original, unchanged");
    /* labelled body fields; an unknown field under its own key */
    cr_assert(strstr(row, "<span class=k>Priority</span> high"), "%.400s", row);
    cr_assert(strstr(row, "<span class=k>To</span> Helix Pharma"), "%.400s", row);
    cr_assert(strstr(row, "<span class=k>site_ref</span> S-12"), "%.400s", row);
    free(row);
    /* the thread view: 6 answers 5, 7 answers 6 */
    char *tv = between(html, "<h2>Thread view</h2>", "<h2>");
    const char *t5 = strstr(tv, "#r5\""), *t6 = strstr(tv, "#r6\""), *t7 = strstr(tv, "#r7\"");
    cr_assert(t5 && t6 && t7 && t5 < t6 && t6 < t7, "the thread in order: %s", tv);
    cr_assert(strstr(tv, "--d:1\">&#8627; <a href=\"#r6\"") &&
                  strstr(tv, "--d:2\">&#8627; <a href=\"#r7\""),
              "each record under the one it answers: %s", tv);
    free(tv);
    /* [EXP-13] the export id: SHA-256 of the domain line, the note, the filters and the time */
    char *note = between(html, "<h2>Checkpoint</h2>\n<pre>", "</pre>");
    char *filters = between(html, "<td>Filters</td><td>", "</td>");
    char *when = between(html, "<td>Exported</td><td>", "</td>");
    cr_assert(strstr(note, "test.example/ledger\n") == note && !strchr(note, '&'),
              "the note needs no unescaping: %s", note);
    cr_assert_str_eq(filters, "none");
    crypto_hash_sha256_state st;
    uint8_t h[32];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)"ldg-export-id/v1\n", 17);
    crypto_hash_sha256_update(&st, (const uint8_t *)note, strlen(note));
    crypto_hash_sha256_update(&st, (const uint8_t *)filters, strlen(filters));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)when, strlen(when));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_final(&st, h);
    char want[17];
    for (int i = 0; i < 8; i++)
        snprintf(want + 2 * i, 3, "%02x", h[i]);
    char *id = export_id_of(html);
    cr_assert_str_eq(id, want, "export id as spec/export.md [EXP-13] defines it");
    free(id);
    free(note);
    free(filters);
    free(when);
    free(html);
}

Test(print, the_study_in_the_page_margins_cannot_leave_its_css_string, .fini = tmp_cleanup,
     .timeout = 60)
{
    const char *d = tmp_dir();
    fixture_begin();
    make_ledger(d);
    fixture_end();
    /* a study id (from the command line here; from the ledger alike) that would end the CSS
       string and the style element, and reorder what follows */
    ok(LDG(d, NULL, "export", "--format", "html", "-o", "r.html", "--as", "log.key", "--study",
           "X\"</style><b>\xe2\x80\xae;}"),
       "export");
    char *html = html_of(d);
    char *style = between(html, "<style>", "</style>");
    cr_assert_null(strchr(style, '<'), "no '<' inside the style element");
    cr_assert(strstr(style, "content:\"Study \" \"X\\000022\\00003c\\00002fstyle\\00003e"
                            "\\00003cb\\00003e\\00005cu202e\\00003b\\00007d\""),
              "the study as one CSS string of escapes, its U+202E made visible: %.2000s", style);
    cr_assert_null(strstr(html, "\xe2\x80\xae"), "no raw U+202E anywhere");
    cr_assert(strstr(html, "X&quot;&lt;/style&gt;&lt;b&gt;&lt;U+202E&gt;;}"),
              "the cover shows it as text");
    free(style);
    free(html);
}

/*
 * What a page margin box prints: the CSS strings of its `content`,
 * concatenated and decoded as CSS Syntax 3 reads them (an escape is up to six
 * hex digits and swallows one white space after it); a counter() reads as
 * "[counter]".  malloc'd.
 */
static char *
margin_text(const char *style, const char *box)
{
    char at[64];
    snprintf(at, sizeof at, "@%s{", box);
    const char *p = strstr(style, at);
    cr_assert_not_null(p, "%s in the style", at);
    p = strstr(p, "content:");
    cr_assert_not_null(p);
    char *out = malloc(strlen(p) + 16);
    cr_assert_not_null(out);
    size_t k = 0;
    for (p += 8; *p && *p != '}' && *p != ';';) {
        if (*p == '"') {
            for (p++; *p && *p != '"';) {
                if (*p != '\\') {
                    out[k++] = *p++;
                    continue;
                }
                p++;
                unsigned cp = 0;
                int nd = 0;
                for (; nd < 6 && strchr("0123456789abcdefABCDEF", *p) && *p; nd++, p++)
                    cp = cp * 16 + (unsigned)(*p <= '9' ? *p - '0' : (*p | 32) - 'a' + 10);
                if (!nd) {
                    out[k++] = *p++;
                    continue;
                }
                if (*p == ' ' || *p == '\t' || *p == '\n')
                    p++; /* the one white space an escape swallows */
                if (cp < 0x80) {
                    out[k++] = (char)cp;
                } else if (cp < 0x800) {
                    out[k++] = (char)(0xc0 | cp >> 6);
                    out[k++] = (char)(0x80 | (cp & 63));
                } else if (cp < 0x10000) {
                    out[k++] = (char)(0xe0 | cp >> 12);
                    out[k++] = (char)(0x80 | (cp >> 6 & 63));
                    out[k++] = (char)(0x80 | (cp & 63));
                } else {
                    out[k++] = (char)(0xf0 | cp >> 18);
                    out[k++] = (char)(0x80 | (cp >> 12 & 63));
                    out[k++] = (char)(0x80 | (cp >> 6 & 63));
                    out[k++] = (char)(0x80 | (cp & 63));
                }
            }
            if (*p == '"')
                p++;
        } else if (strncmp(p, "counter(", 8) == 0) {
            memcpy(out + k, "[counter]", 9);
            k += 9;
            p = strchr(p, ')');
            cr_assert_not_null(p);
            p++;
        } else {
            p++; /* white space between the parts */
        }
    }
    out[k] = '\0';
    return out;
}

/*
 * [EXP-13] The margin lines as printed: "Study S  ·  Export id X" with two
 * no-break spaces on each side of the dot (a margin box collapses runs of
 * plain spaces, and an escape followed by a space swallows it), and the
 * ledger origin cut like a study id, on a character boundary after 64 bytes
 * and ended with "…"; the cover shows it whole.
 */
#define NBSP "\xc2\xa0"
Test(print, the_page_margins_read_as_printed, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    /* 63 ASCII bytes, then "é" across the 64-byte mark, then more: 300 bytes in all */
    char origin[301];
    memset(origin, 'a', sizeof origin - 1);
    memcpy(origin, "ledger.example/", 15);
    memcpy(origin + 63, "\xc3\xa9", 2);
    origin[sizeof origin - 1] = '\0';
    fixture_begin();
    ok(LDG(d, NULL, "keygen", "--name", "log", "--out", "log", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "keygen", "--name", "admin", "--out", "admin", "--unencrypted"), "keygen");
    ok(LDG(d, NULL, "init", "--origin", origin, "--log-key", "log.key", "--admin", "admin.pub",
           "--name", "Ada Admin", "--org", "Acme CRO"),
       "init");
    fixture_end();
    ok(LDG(d, NULL, "export", "--format", "html", "-o", "r.html", "--as", "log.key", "--study",
           "S1"),
       "export");
    char *html = html_of(d);
    char *style = between(html, "<style>", "</style>");
    char *id = export_id_of(html);
    char want[400];
    char *got = margin_text(style, "bottom-left");
    snprintf(want, sizeof want, "Study S1" NBSP NBSP "\xc2\xb7" NBSP NBSP "Export id %s", id);
    cr_expect_str_eq(got, want, "the bottom margin as printed");
    free(got);
    got = margin_text(style, "top-left");
    snprintf(want, sizeof want, "Audit trail %.63s\xe2\x80\xa6", origin);
    cr_expect_str_eq(got, want, "the origin cut before the character across 64 bytes");
    free(got);
    got = margin_text(style, "bottom-right");
    cr_expect_str_eq(got, "Page [counter] of [counter]");
    free(got);
    snprintf(want, sizeof want, "<td>Ledger origin</td><td>%s</td>", origin);
    cr_expect_not_null(strstr(html, want), "the cover has the origin whole");
    free(id);
    free(style);
    free(html);
}

/* ------------------------------------------------------------- PDF -- */

/* Page n as text: laid out as printed (layout), or in reading order with runs of white space as
 * one space (a cell's text in one piece, however it wrapped). */
static char *
page_text_as(const char *d, int n, bool layout)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && pdftotext -f %d -l %d %s trail.pdf page.txt 2>pdftotext.err", d, n, n,
             layout ? "-layout" : "");
    cr_assert_eq(system(cmd), 0, "pdftotext of page %d (make deps installs poppler-utils)", n);
    char p[700];
    snprintf(p, sizeof p, "%s/page.txt", d);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t);
    if (!layout) {
        size_t k = 0;
        for (size_t i = 0; t[i]; i++)
            if (!strchr(" \t\n\f", t[i]) || (k && t[k - 1] != ' '))
                t[k++] = strchr(" \t\n\f", t[i]) ? ' ' : t[i];
        t[k] = '\0';
    }
    return t;
}

static char *
page_text(const char *d, int n)
{
    return page_text_as(d, n, true);
}

static int
page_count(const char *d)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "cd '%s' && pdfinfo trail.pdf > info.txt 2>&1", d);
    cr_assert_eq(system(cmd), 0, "pdfinfo (make deps installs poppler-utils)");
    char p[700];
    snprintf(p, sizeof p, "%s/info.txt", d);
    char *t = read_file(p, NULL);
    const char *q = strstr(t, "Pages:");
    cr_assert_not_null(q, "%s", t);
    int n = atoi(q + 6);
    free(t);
    return n;
}

Test(print, the_pdf_page_by_page, .fini = tmp_cleanup, .timeout = 240)
{
    const char *d = tmp_dir();
    trail(d);
    char *html = html_of(d);
    char *id = export_id_of(html);
    free(html);
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && HOME='%s' timeout 150 chromium --headless --no-sandbox --disable-gpu "
             "--no-first-run --user-data-dir='%s/profile' --no-pdf-header-footer "
             "--print-to-pdf='%s/trail.pdf' 'file://%s/r.html' >chromium.out 2>chromium.err",
             d, d, d, d, d);
    cr_assert_eq(system(cmd), 0, "chromium printed the trail (make deps installs it)");
    int pages = page_count(d);
    cr_assert_geq(pages, 4, "a cover, the summary, the signatures, the records: %d pages", pages);
    run_result v = LDG(d, NULL, "--version");
    cr_assert_eq(v.status, 0);
    v.out[strcspn(v.out, "\n")] = '\0'; /* "ldg 0.1.0" */
    char host[21], leaf[65];
    long nrec = 15 + NDOCS;
    int sig_page = 0, revoke_page = 0, table_pages = 0, table_study = 0;
    char *all = calloc(1, 1);
    for (int n = 1; n <= pages; n++) {
        char *t = page_text(d, n);
        char want[64];
        snprintf(want, sizeof want, "Page %d of %d", n, pages);
        cr_assert(strstr(t, want), "page %d says \"%s\": %s", n, want, t);
        cr_assert(strstr(t, "Study " STUDY), "page %d names the study: %.300s", n, t);
        cr_assert(strstr(t, id), "page %d carries the export id %s: %s", n, id, t);
        if (n == 1) {
            cr_assert(strstr(t, "Verified at export."), "the verdict on the cover: %.300s", t);
            cr_assert(strstr(t, "test.example/ledger"), "the ledger origin on the cover");
            cr_assert(strstr(t, v.out), "the tool version (%s) on the cover: %s", v.out, t);
            cr_assert(strstr(t, "Acme CRO") && strstr(t, "Helix Pharma"), "the parties");
            char size[48];
            snprintf(size, sizeof size, "%ld entries", nrec);
            cr_assert(strstr(t, size), "the checkpoint's size: %.300s", t);
            cr_assert(strstr(t, "Records in this export"), "%s", t);
        }
        if (strstr(t, "21 CFR 11.50"))
            sig_page = n;
        if (strcasestr(t, "revokes the key of"))
            revoke_page = n;
        if (strstr(t, "Ledger time") && strstr(t, "Claimed") && strstr(t, "Kind / study")) {
            /* the record table's header, repeated on each of its pages, through its last column */
            table_pages++;
            cr_assert(strstr(t, "Signature\n") || strstr(t, "Signature "),
                      "page %d: the last column's header is whole: %.300s", n, t);
            table_study += str_count(t, STUDY) - 1; /* the rows', not the page margin's */
        }
        size_t la = strlen(all), lt = strlen(t);
        all = realloc(all, la + lt + 1);
        memcpy(all + la, t, lt + 1);
        free(t);
    }
    cr_assert_geq(table_pages, 2, "the record table runs over several pages");
    /* every record of the trail (all but genesis, four key.add and the revocation) shows its
       study on one line, never broken on its hyphens */
    cr_assert_geq(table_study, nrec - 6, "the study id unbroken in every row: %d", table_study);
    /* every record's full 64-digit leaf hash, on one line: no column clipped or wrapped */
    for (long s = 0; s < nrec; s++) {
        show_facts(d, s, host, leaf);
        cr_assert(strstr(all, leaf), "record %ld's leaf hash %s printed whole", s, leaf);
    }
    /* the signatures page: each signer's printed name, organisation and meaning */
    cr_assert(sig_page > 1, "a signatures page");
    char *t = page_text_as(d, sig_page, false);
    const char *q = strstr(t, "#8 Quinn Avery"), *r = strstr(t, "#9 Rita Okafor");
    cr_assert(q && r && q < r, "both signers named, in order: %.3000s", t);
    char *ql = strndup(q, (size_t)(r - q)), *rl = strndup(r, 200);
    cr_assert(strstr(ql, " Helix Pharma approver ") && strstr(ql, " approval "), "%s", ql);
    cr_assert(strstr(rl, " Acme CRO approver ") && strstr(rl, " review "), "%s", rl);
    free(ql);
    free(rl);
    free(t);
    /* the revocation row names whose key it revokes */
    cr_assert(revoke_page, "the key.revoke row is printed");
    t = page_text_as(d, revoke_page, false);
    const char *k = strcasestr(t, "revokes the key of ");
    cr_assert_not_null(k);
    const char *end = strstr(k, "LEAF HASH"); /* the row's last line */
    cr_assert_not_null(end);
    char *row = strndup(k, (size_t)(end - k));
    cr_assert(strstr(row, " Carla ") && strstr(row, "Rossi, Acme CRO (key author)"),
              "the revoked key's person, organisation and key id in its row: %s", row);
    free(row);
    free(t);
    free(all);
    free(id);
    run_free(&v);
}
