/*
 * test_html.c - the HTML report of `ldg export --format html`, rendered by a
 * real browser: headless Chromium (Debian's chromium, installed by `make
 * deps`) takes a screenshot, whose pixels are read back with libpng and
 * must show text and the chart's colours; prints it to PDF, which must run
 * to several pages; and dumps the rendered DOM.  The file itself must load
 * nothing from anywhere and show hostile text as text.
 */
#define _GNU_SOURCE /* memmem */
#include "helpers.h"

#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOSTILE "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"

#define PLAN(hours)                                                                                \
    "{\"subject\":\"Communication plan\",\"parties\":[\"Acme CRO\",\"Helix Pharma\"],"             \
    "\"levels\":[{\"id\":\"operational\"}],\"turnaround\":[{\"kind\":\"query\",\"hours\":" hours  \
    "}]}"

/*
 * The trail, a plan (query turnaround `hours`; NULL: no plan), a record with
 * hostile markup left open, then the report.
 */
static char *
report(const char *d, const char *plan)
{
    fixture_begin(); /* the ledger; the export is what is tested */
    make_trail(d);
    if (plan)
        APPEND(d, plan, "--as", "decider.key", "--kind", "plan", "--study", "HX-301");
    APPEND(d,
           "{\"subject\":\""
           "<script>alert(1)</script><img src=x onerror=alert(2)>\\\"'&"
           "\"}",
           "--as", "decider.key", "--kind", "query", "--study", "HX-301", "--time",
           "2026-03-10T12:00:00Z");
    for (int i = 0; i < 60; i++) /* enough rows for several printed pages */
        APPEND(d, "{\"subject\":\"Monitoring visit report\",\"text\":\"All findings closed.\"}",
               "--as", "decider.key", "--kind", "document", "--study", "HX-301");
    fixture_end();
    run_result r = LDG(d, NULL, "export", "--format", "html", "-o", "r.html", "--as", "log.key",
                       "--exporter", "QA Lead <qa@example.org>");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/r.html", d);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t);
    return t;
}

Test(html, self_contained_and_hostile_text_stays_text, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    char *t = report(d, PLAN("0.00001")); /* 36 ms: the query is overdue */
    cr_assert(strncmp(t, "<!DOCTYPE html>", 15) == 0);
    cr_assert_null(strstr(t, "<script"), "no script element anywhere");
    cr_assert_null(strstr(t, "<img"), "no image element");
    /* inside every tag: no source, no link out, no event handler */
    for (const char *p = strchr(t, '<'); p; p = strchr(p + 1, '<')) {
        const char *end = strchr(p, '>');
        cr_assert_not_null(end);
        char *tag = strndup(p, (size_t)(end - p));
        cr_assert_null(strstr(tag, "src="), "a tag loads something: %s", tag);
        cr_assert_null(strstr(tag, "href=\"http"), "a link out: %s", tag);
        cr_assert_null(strstr(tag, " on"), "an event handler: %s", tag);
        free(tag);
    }
    cr_assert_null(strstr(t, "@import"), "no imported styles");
    cr_assert_null(strstr(t, "url("), "no fetched fonts or images");
    cr_assert(strstr(t, "default-src 'none'"), "a CSP forbids loading anything");
    cr_assert(strstr(t, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
                        "&quot;&#39;&amp;"),
              "hostile text escaped");
    cr_assert(strstr(t, "=HYPERLINK(&quot;http://x.example&quot;"), "the bait name, as text");
    cr_assert(strstr(t, "QA Lead &lt;qa@example.org&gt;"), "exporter named, escaped");
    cr_assert(strstr(t, "Verified at export."));
    cr_assert(strstr(t, "<svg"), "timeline chart");
    cr_assert(strstr(t, "Activity per organisation"));
    cr_assert(strstr(t, "Acme CRO") && strstr(t, "Helix Pharma"));
    cr_assert(strstr(t, "Threads and response times"));
    cr_assert(strstr(t, "OPEN, overdue: no response"), "the hostile query is open, overdue");
    cr_assert(strstr(t, "Corrected by <a href=\"#r8\">#8</a>: wrong site number"),
              "the correction beside what it corrects");
    cr_assert(strstr(t, "Corrects <a href=\"#r4\">#4</a>"));
    cr_assert(strstr(t, "<tr id=r4>") && strstr(t, "Visit window for visit 4"),
              "the corrected record still shows what it said");
    cr_assert(strstr(t, "<span class=k>meaning</span> <strong>approval</strong>"),
              "signature block of the approval");
    cr_assert(strstr(t, "UTC+01:00") && strstr(t, "UTC-05:00"), "local offsets");
    free(t);
}

/*
 * [PLAN-4][PLAN-5] The plan in force decides which threads expect a response,
 * from whom and by when; an exporter's option never does.
 */
Test(html, the_plan_in_force_decides_what_is_overdue, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    char *t = report(d, NULL);
    cr_assert(strstr(t, "no plan in force"), "no plan: nothing is judged");
    cr_assert_null(strstr(t, "overdue: no response"));
    cr_assert_null(strstr(t, "responded in time"));
    free(t);
    /* a plan of 48 h: the open query is not overdue yet; an answer by the other party is in time */
    const char *d2 = tmp_dir();
    fixture_begin();
    make_trail(d2);
    APPEND(d2, PLAN("48"), "--as", "decider.key", "--kind", "plan", "--study", "HX-301");
    long q = APPEND(d2, "{\"subject\":\"Lab ranges?\"}", "--as", "decider.key", "--kind", "query",
                    "--study", "HX-301");
    char ref[24];
    snprintf(ref, sizeof ref, "%ld", q);
    APPEND(d2, "{\"subject\":\"Re: lab ranges\"}", "--as", "mallory.key", "--kind", "response",
           "--study", "HX-301", "--ref", ref);
    APPEND(d2, "{\"subject\":\"Visit 5?\"}", "--as", "decider.key", "--kind", "query", "--study",
           "HX-301");
    APPEND(d2, "{\"subject\":\"Minutes\"}", "--as", "decider.key", "--kind", "meeting",
           "--study", "HX-301");
    fixture_end();
    run_result r = LDG(d2, NULL, "export", "--format", "html", "-o", "x.html", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    char p[700];
    snprintf(p, sizeof p, "%s/x.html", d2);
    t = read_file(p, NULL);
    cr_assert_not_null(t);
    cr_assert(strstr(t, "responded in time"), "the answered query");
    cr_assert(strstr(t, "2 expect a response"), "two queries; the minutes expect none");
    cr_assert(strstr(t, "no response expected by the plan"), "the meeting");
    cr_assert_null(strstr(t, "overdue: no response"), "48 h have not passed");
    free(t);
    r = LDG(d2, NULL, "export", "--format", "html", "-o", "y.html", "--turnaround", "0");
    cr_assert_eq(r.status, 2, "the turnaround is the plan's, not an option: %s", r.err);
    cr_assert(strstr(r.err, "communication plan"), "%s", r.err);
    run_free(&r);
}

/* Share of pixels that are dark (text) and that are strongly coloured (chart, verdict). */
static void
ink(const char *path, double *dark, double *colour)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    cr_assert(png_image_begin_read_from_file(&img, path), "%s: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    png_bytep buf = malloc(PNG_IMAGE_SIZE(img));
    cr_assert(png_image_finish_read(&img, NULL, buf, 0, NULL), "%s", img.message);
    size_t px = (size_t)img.width * img.height, nd = 0, nc = 0;
    for (size_t i = 0; i < px; i++) {
        int r = buf[3 * i], g = buf[3 * i + 1], b = buf[3 * i + 2];
        int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
        int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
        nd += mx < 100;
        nc += mx - mn > 80;
    }
    free(buf);
    *dark = (double)nd / (double)px;
    *colour = (double)nc / (double)px;
}

static int
chromium(const char *d, const char *what)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && HOME='%s' timeout 90 chromium --headless --no-sandbox --disable-gpu "
             "--hide-scrollbars --no-first-run --user-data-dir='%s/profile' "
             "--window-size=1280,1800 %s file://%s/r.html >chromium.out 2>chromium.err",
             d, d, d, what, d);
    return system(cmd);
}

Test(html, renders_in_headless_chromium_and_prints_to_pages, .fini = tmp_cleanup, .timeout = 180)
{
    const char *d = tmp_dir();
    free(report(d, NULL));
    cr_assert_eq(chromium(d, "--screenshot=shot.png"), 0,
                 "chromium ran (make deps installs it); see chromium.err");
    char p[700];
    snprintf(p, sizeof p, "%s/shot.png", d);
    double dark, colour;
    ink(p, &dark, &colour);
    cr_assert_gt(dark, 0.005, "visible text: %.4f of the pixels are dark", dark);
    cr_assert_gt(colour, 0.002, "the chart and verdict in colour: %.4f", colour);
    cr_assert_lt(dark, 0.6, "not a black page: %.4f", dark);
    /* print to PDF: a paged trail */
    cr_assert_eq(chromium(d, "--no-pdf-header-footer --print-to-pdf=trail.pdf"), 0);
    snprintf(p, sizeof p, "%s/trail.pdf", d);
    size_t len;
    char *pdf = read_file(p, &len);
    cr_assert_not_null(pdf);
    cr_assert(len > 4 && memcmp(pdf, "%PDF", 4) == 0);
    size_t pages = 0;
    for (char *q = pdf; (q = memmem(q, len - (size_t)(q - pdf), "/Type /Page", 11)); q += 11)
        pages += q[11] != 's';
    cr_assert_geq(pages, 2, "several printed pages, found %zu", pages);
    free(pdf);
    /* the DOM as the browser built it: the rows are there, the hostile text is text */
    cr_assert_eq(chromium(d, "--dump-dom"), 0);
    snprintf(p, sizeof p, "%s/chromium.out", d);
    char *dom = read_file(p, NULL);
    cr_assert_not_null(dom);
    cr_assert(strstr(dom, "id=\"r7\""), "record rows in the DOM");
    cr_assert_null(strstr(dom, "<script>alert"), "no script element was created");
    cr_assert(strstr(dom, "&lt;script&gt;alert(1)"), "shown as text");
    free(dom);
}
