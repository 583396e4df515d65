/* test_smoke.c - the helpers themselves work: a fresh ledger verifies clean. */
#include "helpers.h"

#include <criterion/criterion.h>
#include <string.h>

Test(smoke, fresh_ledger_verifies_clean, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "verify: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "OK:") != NULL);
    cr_assert(strstr(r.out, "4 entries") != NULL, "%s", r.out);
    run_free(&r);
    cr_assert_eq(ledger_size(d), 4);
}
