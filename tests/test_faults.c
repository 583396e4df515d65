/*
 * test_faults.c - a full disk, simulated: tests/fault.c, preloaded into
 * the real binary, makes every write and sync of data.mdb from the Nth one
 * on fail with ENOSPC.  For every N that cuts an append (single or batch)
 * short: exit 4, one line on stderr that says why, nothing of it in the
 * ledger, the ledger still verifies, and appends work again once there is
 * room.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(faults, a_full_disk_fails_appends_cleanly_and_they_work_again_after, .fini = tmp_cleanup,
     .timeout = 120)
{
    const char *d = tmp_dir();
    make_ledger(d);
    write_file(d, "b.jsonl",
               "{\"kind\":\"communication\",\"study\":\"B\",\"body\":{\"n\":1}}\n"
               "{\"kind\":\"communication\",\"study\":\"B\",\"body\":{\"n\":2}}\n"
               "{\"kind\":\"communication\",\"study\":\"B\",\"body\":{\"n\":3}}\n");
    long size = ledger_size(d), cut = 0;
    for (long n = 1; n <= 12; n++) {
        for (int batch = 0; batch < 2; batch++) {
            fault_on("LDG_FAULT_AFTER", n);
            run_result r = batch
                               ? LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl")
                               : LDG(d, "{\"subject\":\"x\"}", "append", "--as", "author.key",
                                     "--kind", "communication", "--study", "S1", "--body", "-");
            fault_off();
            long now = ledger_size(d);
            if (r.status == 0) {
                cr_assert_eq(now, size + (batch ? 3 : 1), "n=%ld: acknowledged and there", n);
            } else {
                cut++;
                cr_assert_eq(r.status, 4, "n=%ld batch=%d: %s", n, batch, r.err);
                cr_assert(strstr(r.err, "No space left on device"), "says why: %s", r.err);
                cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
                cr_assert_str_eq(r.out, "", "nothing acknowledged");
                cr_assert_eq(now, size, "n=%ld batch=%d: nothing of it written", n, batch);
            }
            /* under memcheck, after the appends the fault cut short only */
            bool check = r.status != 0 || !test_slow();
            run_free(&r);
            if (check) {
                r = LDG(d, NULL, "verify");
                cr_assert_eq(r.status, 0, "n=%ld batch=%d: the ledger verifies: %s", n, batch,
                             r.out);
                run_free(&r);
            }
            size = now;
        }
    }
    cr_assert_gt(cut, 4, "the fault cut some appends short");
    /* room again: appends work */
    run_result r = LDG(d, "{\"subject\":\"after\"}", "append", "--as", "author.key", "--kind",
                       "communication", "--study", "S1", "--body", "-");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    cr_assert_eq(ledger_size(d), size + 1);
}
