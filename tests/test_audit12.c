/*
 * test_audit12.c - regressions from the attack review of issue 12 (body
 * fields, the plan, segregation of duties, the printed trail): each test
 * is a way past a rule, or a disagreement between the code and what the
 * spec or the README promise, that was found and fixed.  The real binary
 * on real LMDB files throughout.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(audit12, .fini = tmp_cleanup);

/* ------------------------------------------------ [POL-13] normal form -- */

/*
 * A name that prints exactly as an existing person's, made another
 * identity by an invisible mark (a left-to-right mark, a bidi override, a
 * variation selector), would let that person hold a second key without
 * --supersedes and approve their own records through it.  Every
 * Default_Ignorable_Code_Point is dropped by the normal form.
 */
Test(audit12, an_invisible_mark_does_not_make_a_second_identity, .timeout = 30)
{
    const char *d = tmp_dir();
    make_ledger(d);
    must(LDG(d, NULL, "keygen", "--name", "quinn2", "--out", "quinn2", "--unencrypted"), "keygen");
    static const struct {
        const char *name, *org;
    } v[] = {
        {"Quinn Avery\xe2\x80\x8e", "Helix Pharma"},         /* U+200E left-to-right mark */
        {"Quinn\xe2\x80\xaa Avery", "Helix Pharma"},         /* U+202A bidi embedding */
        {"Quinn Avery", "Helix\xe2\x81\xa6 Pharma"},         /* U+2066 isolate, in the org */
        {"Quinn Ave\xef\xb8\x8fry", "Helix Pharma"},         /* U+FE0F variation selector */
        {"Quinn Avery\xf3\xa0\x80\xa1", "Helix Pharma"},     /* U+E0021 tag */
        {"Quinn\xcd\x8f Avery", "\xe1\x85\x9fHelix Pharma"}, /* U+034F, U+115F */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        policy_refused(d,
                       LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub",
                           "--name", v[i].name, "--org", v[i].org, "--roles", "author,decider"),
                       "already holds an active non-admin key", 4);
    /* the same mark in a name of someone new is simply removed: a new identity */
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
             "Quinn Avery-Jones\xe2\x80\x8e", "--org", "Helix Pharma", "--roles", "author,decider"),
         "key add of someone else");
    cr_assert_eq(ledger_size(d), 5);
}

/* ------------------------------------- [POL-15] exit codes, README -- */

/*
 * README's exit table: a person's second key without a reason is refused
 * by policy (3), as a key revoke without --reason is; it was 2 (usage)
 * when --supersedes was given without --reason, and 3 without it.
 */
Test(audit12, a_second_key_without_a_reason_is_policy_however_asked, .timeout = 30)
{
    const char *d = tmp_dir();
    make_ledger(d);
    must(LDG(d, NULL, "keygen", "--name", "quinn2", "--out", "quinn2", "--unencrypted"), "keygen");
    policy_refused(d,
                   LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                       "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver",
                       "--supersedes", "3"),
                   "--supersedes needs --reason", 4);
    policy_refused(d,
                   LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                       "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver",
                       "--reinstates", "3"),
                   "--reinstates needs --reason", 4);
    policy_refused(d,
                   LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                       "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver"),
                   "already holds an active non-admin key", 4);
}

/* ------------------------------------------ [EXP-7] the record's body -- */

/*
 * The record table shows at most 12 fields of a body besides the subject
 * (a row stays printable); the rest used to be dropped without a word, so
 * the printed trail could lose "withdrawn": the row now says how many it
 * does not print.
 */
Test(audit12, the_printed_row_says_how_many_body_fields_it_leaves_out, .timeout = 30)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d,
           "{\"subject\":\"Dose change\",\"a01\":1,\"a02\":2,\"a03\":3,\"a04\":4,\"a05\":5,"
           "\"a06\":6,\"a07\":7,\"a08\":8,\"a09\":9,\"a10\":10,\"a11\":11,\"a12\":12,"
           "\"zz_status\":\"withdrawn\",\"zz_zz\":\"x\"}",
           "--as", "decider.key", "--kind", "decision", "--study", "HX-301");
    APPEND(d, "{\"subject\":\"Twelve exactly\",\"a01\":1,\"a02\":2,\"a03\":3,\"a04\":4,\"a05\":5,"
              "\"a06\":6,\"a07\":7,\"a08\":8,\"a09\":9,\"a10\":10,\"a11\":11,\"a12\":12}",
           "--as", "decider.key", "--kind", "decision", "--study", "HX-301");
    must(LDG(d, NULL, "export", "--format", "html", "-o", "r.html", "--as", "log.key"), "export");
    char p[1200];
    snprintf(p, sizeof p, "%s/r.html", d);
    char *html = read_file(p, NULL);
    const char *row = strstr(html, "<strong>Dose change</strong>");
    cr_assert(row, "the record row is there");
    const char *end = strstr(row, "</tr>");
    cr_assert(end);
    const char *more = strstr(row, "and 2 more fields, not printed here");
    cr_assert(more && more < end, "the row says what it leaves out: %.*s", (int)(end - row), row);
    /* a body of exactly 12 fields besides the subject is printed whole, with no such line */
    row = strstr(html, "<strong>Twelve exactly</strong>");
    cr_assert(row);
    end = strstr(row, "</tr>");
    cr_assert(end);
    more = strstr(row, "more field");
    cr_assert(!more || more > end, "nothing left out: %.*s", (int)(end - row), row);
    const char *a12 = strstr(row, ">a12<");
    cr_assert(a12 && a12 < end);
    free(html);
}

/*
 * [KIND-3] A member that ldg checks in one kind is free in the others
 * [KIND-1]: "severity" in a query, "accept" in a decision, "capa" in a
 * communication are not checked, and the printed trail showed them under
 * the labels of the checked fields ("Severity", "To be accepted by",
 * "CAPA"), as if ldg understood them.  They are shown under their own
 * names; the same members in their own kinds keep their labels.
 */
Test(audit12, a_free_member_is_not_shown_under_another_kinds_label, .timeout = 30)
{
    const char *d = tmp_dir();
    make_ledger(d);
    APPEND(d, "{\"subject\":\"Free members\",\"severity\":\"none at all\",\"capa\":\"maybe\"}",
           "--as", "author.key", "--kind", "query", "--study", "HX-301");
    APPEND(d, "{\"subject\":\"Checked members\",\"severity\":\"major\"}", "--as", "author.key",
           "--kind", "deviation", "--study", "HX-301");
    APPEND(d, "{\"subject\":\"A decision\",\"accept\":\"whatever\"}", "--as", "decider.key",
           "--kind", "decision", "--study", "HX-301");
    must(LDG(d, NULL, "export", "--format", "html", "-o", "r.html", "--as", "log.key"), "export");
    char p[1200];
    snprintf(p, sizeof p, "%s/r.html", d);
    char *html = read_file(p, NULL);
    const char *row = strstr(html, "<strong>Free members</strong>");
    cr_assert(row);
    const char *end = strstr(row, "</tr>");
    cr_assert(end);
    const char *sev = strstr(row, "<span class=k>severity</span> none at all");
    cr_assert(sev && sev < end, "the free member under its own name: %.*s", (int)(end - row),
              row);
    const char *capa = strstr(row, "<span class=k>capa</span> maybe");
    cr_assert(capa && capa < end, "%.*s", (int)(end - row), row);
    row = strstr(html, "<strong>A decision</strong>");
    cr_assert(row);
    end = strstr(row, "</tr>");
    const char *acc = strstr(row, "<span class=k>accept</span> whatever");
    cr_assert(acc && acc < end, "%.*s", (int)(end - row), row);
    /* a checked member keeps its label */
    row = strstr(html, "<strong>Checked members</strong>");
    cr_assert(row);
    end = strstr(row, "</tr>");
    sev = strstr(row, "<span class=k>Severity</span> major");
    cr_assert(sev && sev < end, "%.*s", (int)(end - row), row);
    free(html);
}
