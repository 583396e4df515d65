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

static void
ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s failed (%d): %s%s", what, r.status, r.out, r.err);
    run_free(&r);
}

/* Exit 3, one line on stderr holding needle, and the ledger as big as before. */
static void
refused(const char *d, run_result r, const char *needle, long size)
{
    cr_assert_eq(r.status, 3, "want exit 3, got %d: %s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.err, needle), "want \"%s\" in: %s", needle, r.err);
    const char *nl = strchr(r.err, '\n');
    cr_assert(nl && nl[1] == '\0', "one line on stderr: %s", r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), size, "nothing written");
}

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
    ok(LDG(d, NULL, "keygen", "--name", "quinn2", "--out", "quinn2", "--unencrypted"), "keygen");
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
        refused(d,
                LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                    v[i].name, "--org", v[i].org, "--roles", "author,decider"),
                "already holds an active non-admin key", 4);
    /* the same mark in a name of someone new is simply removed: a new identity */
    ok(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
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
    ok(LDG(d, NULL, "keygen", "--name", "quinn2", "--out", "quinn2", "--unencrypted"), "keygen");
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "3"),
            "--supersedes needs --reason", 4);
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--reinstates",
                "3"),
            "--reinstates needs --reason", 4);
    refused(d,
            LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
                "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver"),
            "already holds an active non-admin key", 4);
}
