/*
 * test_smoke.c - the helpers themselves work: a fresh ledger verifies clean,
 * and so does the trail, both built by the binary under test itself (other
 * suites may build their fixtures with $LDG_FIXTURE_BIN, see helpers.h;
 * these are where the fixture commands run under memcheck).
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(smoke, fresh_ledger_verifies_clean, .fini = tmp_cleanup)
{
    unsetenv("LDG_FIXTURE_BIN");
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "verify: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "OK:") != NULL);
    cr_assert(strstr(r.out, "4 entries") != NULL, "%s", r.out);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 4);
}

Test(smoke, the_trail_verifies_clean, .fini = tmp_cleanup)
{
    unsetenv("LDG_FIXTURE_BIN");
    const char *d = tmp_dir();
    make_trail(d);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "verify: %s%s", r.out, r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 12);
}
