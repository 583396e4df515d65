/*
 * test_clock.c - a host clock that jumps is never silently frozen or
 * rewritten (spec/format.md [FMT-3], [VER-4]; issue 11, part 11): when the
 * host clock reads earlier than the ledger's last host time, the entry
 * holds the time and records what the clock read; verify warns (WARN
 * `clock`, once per run of held entries past a second) and warns of a host
 * time after its own clock (WARN `time`); show, log --json and the JSONL
 * export show the clock reading.  The clock is faked with Debian's
 * libfaketime (frozen times) on the appends that build the ledger.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"


static void
append_at(const char *d, const char *when, const char *subject)
{
    char body[128];
    snprintf(body, sizeof body, "{\"subject\":\"%s\"}", subject);
    run_result r = ldg_at(d, when, body,
                          (const char *const[]){"append", "--as", "author.key", "--kind",
                                                "communication", "--study", "S1", "--body", "-",
                                                NULL});
    cr_assert_eq(r.status, 0, "append at %s: %s", when, r.err);
    run_free(&r);
}

Test(clock, time_jumped_ahead_is_kept_and_reported_not_frozen_silently, .fini = tmp_cleanup)
{
    if (access(FAKETIME_LIB, R_OK) != 0)
        cr_skip_test("libfaketime is not installed (make deps installs it)");
    const char *d = tmp_dir();
    make_ledger(d); /* seq 0..3 at the real time */
    append_at(d, "2199-01-01 00:00:00", "the clock jumped"); /* 4 */
    APPEND(d, "{\"subject\":\"after 1\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1"); /* 5: the real clock, 172 years behind */
    APPEND(d, "{\"subject\":\"after 2\"}", "--as", "author.key", "--kind", "communication",
           "--study", "S1"); /* 6 */

    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 0, "a held time is no integrity failure: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "WARN     #4      time: host time 2199-01-01T00:00:00") != NULL,
              "the jump ahead is reported at the entry that made it:\n%s", r.out);
    cr_assert(strstr(r.out, "WARN     #5      clock: the host clock read ") != NULL,
              "the held time is reported where it starts:\n%s", r.out);
    cr_assert_eq(str_count(r.out, "WARN     #"), 2, "one warning per run, not per entry:\n%s",
                 r.out);
    cr_assert(strstr(r.out, "2 warnings") != NULL, "%s", r.out);
    run_free(&r);

    r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "{\"finding\":\"WARN\",\"seq\":5,\"check\":\"clock\"") != NULL, "%s",
              r.out);
    cr_assert(strstr(r.out, "\"warnings\":2") != NULL, "%s", r.out);
    run_free(&r);

    /* what the clock read is shown beside the held time, entry by entry */
    r = LDG(d, NULL, "show", "6");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "2199-01-01T00:00:00Z") != NULL, "the held time: %s", r.out);
    cr_assert(strstr(r.out, "  host clock    20") != NULL, "the clock reading: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "show", "4", "--json");
    cr_assert(strstr(r.out, "host_clock") == NULL, "the jump itself held nothing: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "log", "--json");
    cr_assert_eq(str_count(r.out, "\"host_clock\":\"20"), 2, "entries 5 and 6 held: %s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "export", "--format", "jsonl");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(str_count(r.out, "\"host_clock_utc\":\"20"), 2, "%s", r.out);
    run_free(&r);
}

Test(clock, a_clock_set_back_a_second_is_recorded_but_not_a_warning, .fini = tmp_cleanup)
{
    if (access(FAKETIME_LIB, R_OK) != 0)
        cr_skip_test("libfaketime is not installed (make deps installs it)");
    const char *d = tmp_dir();
    make_ledger(d);
    append_at(d, "2026-01-01 00:00:02", "x"); /* 4: the real clock is later: held, far behind */
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(str_count(r.out, "WARN     #"), 1, "a set-back clock warns: %s", r.out);
    run_free(&r);

    const char *e = tmp_dir();
    /* a ledger that lives in the past: every step at a frozen time */
    static const char *const names[] = {"log", "admin", "author"};
    for (int i = 0; i < 3; i++) {
        r = LDG(e, NULL, "keygen", "--name", names[i], "--out", names[i], "--unencrypted");
        cr_assert_eq(r.status, 0);
        run_free(&r);
    }
    r = ldg_at(e, "2025-01-01 00:00:00", NULL,
               (const char *const[]){"init", "--origin", "example.org/clock", "--log-key",
                                     "log.key", "--admin", "admin.pub", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = ldg_at(e, "2025-01-01 00:00:01", NULL,
               (const char *const[]){"key", "add", "--as", "admin.key", "--pub", "author.pub",
                                     "--name", "A", "--org", "O", "--roles", "author", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    append_at(e, "2025-01-01 00:00:03", "at 3 s"); /* 2 */
    append_at(e, "2025-01-01 00:00:02", "at 2 s"); /* 3: one second behind: held */
    r = LDG(e, NULL, "verify");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert_eq(str_count(r.out, "WARN     #"), 0, "a second is within the slack: %s", r.out);
    run_free(&r);
    r = LDG(e, NULL, "show", "3", "--json");
    cr_assert(strstr(r.out, "\"time\":\"2025-01-01T00:00:03.000000000Z\"") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "\"host_clock\":\"2025-01-01T00:00:02.000000000Z\"") != NULL,
              "held, and recorded: %s", r.out);
    run_free(&r);
}

/* The record of a held time is part of the entry's bytes, and must be true. */
Test(clock, a_false_record_of_a_held_time_is_caught, .fini = tmp_cleanup)
{
    if (access(FAKETIME_LIB, R_OK) != 0)
        cr_skip_test("libfaketime is not installed (make deps installs it)");
    const char *d = tmp_dir();
    make_ledger(d);
    append_at(d, "2026-01-01 00:00:00", "held"); /* 4, held behind entry 3 */
    uint8_t k[8];
    seq_key(4, k);
    void *v;
    size_t vl;
    cr_assert_eq(lmdb_get_value(d, "entries", k, 8, &v, &vl), 0);
    ldgi_entry en;
    const char *why;
    cr_assert(ldgi_entry_decode(v, vl, &en, &why), "%s", why);
    cr_assert(en.has_clock, "the append recorded the clock it held the time against");

    /* a clock reading at or after the time it claims was held */
    ldgi_entry bad = en;
    bad.clock_ns = en.time_ns;
    ldgi_buf b = {0};
    cr_assert(ldgi_entry_encode(&bad, &b));
    cr_assert_not(ldgi_entry_decode(b.p, b.len, &bad, &why), "the decoder refuses it");
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, b.p, b.len), 0);
    run_result r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "FAIL     #4      encoding:") != NULL, "%s", r.out);
    run_free(&r);

    /* a held time that is not the time before it */
    bad = en;
    bad.time_ns = en.time_ns + 5;
    b.len = 0;
    cr_assert(ldgi_entry_encode(&bad, &b));
    cr_assert_eq(lmdb_put_value(d, "entries", k, 8, b.p, b.len), 0);
    r = LDG(d, NULL, "verify");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "FAIL     #4      time: the entry says its host time was held") !=
                  NULL,
              "%s", r.out);
    run_free(&r);
    ldgi_buf_free(&b);
    free(v);
}
