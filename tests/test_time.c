/*
 * test_time.c - ISO 8601 times in and out [FMT-7] (ledger/time.c): UTC
 * nanoseconds since 1970 plus the originating offset in minutes.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS 1000000000LL

static void
parses(const char *s, int64_t want_ns, int32_t want_tz)
{
    int64_t ns = 42;
    int32_t tz = 42;
    ldg_err e = {0};
    cr_assert_eq(ldg_time_parse(s, &ns, &tz, &e), LDG_OK, "\"%s\": %s", s, e.msg);
    cr_assert_eq(ns, want_ns, "\"%s\": %lld, want %lld", s, (long long)ns, (long long)want_ns);
    cr_assert_eq(tz, want_tz, "\"%s\": tz %d, want %d", s, tz, want_tz);
}

static void
refuses(const char *s)
{
    int64_t ns = 42;
    int32_t tz = 42;
    ldg_err e = {0};
    cr_assert_eq(ldg_time_parse(s, &ns, &tz, &e), LDG_E_INPUT, "\"%s\" accepted as %lld", s,
                 (long long)ns);
    cr_assert_eq(e.status, LDG_E_INPUT);
    cr_assert_neq(e.msg[0], '\0');
}

static void
formats(int64_t ns, int32_t tz, int utc_z, const char *want)
{
    char out[40];
    memset(out, 'x', sizeof out);
    ldg_time_format(ns, tz, utc_z, out);
    cr_assert_str_eq(out, want, "format(%lld, %d, %d)", (long long)ns, tz, utc_z);
}

/* 2024-01-15T10:30:00Z */
#define T0 (1705314600LL * NS)

Test(time, date_only_is_midnight_utc)
{
    parses("2024-01-15", 1705276800LL * NS, 0);
    parses("1970-01-01", 0, 0);
    parses("2000-03-01", 951868800LL * NS, 0);
}

Test(time, accepts_z_and_lower_case_and_space_separator)
{
    parses("2024-01-15T10:30:00Z", T0, 0);
    parses("2024-01-15t10:30:00z", T0, 0);
    parses("2024-01-15 10:30:00Z", T0, 0);
    parses("2024-01-15T10:30Z", T0, 0);
}

Test(time, accepts_positive_and_negative_offsets)
{
    parses("2024-01-15T10:30:00+05:30", T0 - 330 * 60 * NS, 330);
    parses("2024-01-15T10:30:00-08:00", T0 + 480 * 60 * NS, -480);
    parses("2024-01-15T10:30:00+0530", T0 - 330 * 60 * NS, 330);
    parses("2024-01-15T10:30:00-0800", T0 + 480 * 60 * NS, -480);
    parses("2024-01-15T10:30:00+00:00", T0, 0);
    parses("2024-01-15T10:30:00-00:30", T0 + 30 * 60 * NS, -30);
    parses("2024-01-15T10:30:00+18:00", T0 - 1080 * 60 * NS, 1080);
    parses("2024-01-15T10:30:00-18:00", T0 + 1080 * 60 * NS, -1080);
    parses("2024-01-15T10:30+01:00", T0 - 60 * 60 * NS, 60);
}

Test(time, accepts_fractional_seconds_to_nine_digits)
{
    parses("2024-01-15T10:30:00.5Z", T0 + 500000000LL, 0);
    parses("2024-01-15T10:30:00.123Z", T0 + 123000000LL, 0);
    parses("2024-01-15T10:30:00.123456789Z", T0 + 123456789LL, 0);
    parses("2024-01-15T10:30:00.000000001Z", T0 + 1, 0);
    parses("2024-01-15T10:30:00,25Z", T0 + 250000000LL, 0);
    parses("2024-01-15T10:30:59.999999999+01:00", T0 + 59 * NS + 999999999LL - 3600 * NS, 60);
}

Test(time, tz_out_pointer_may_be_null)
{
    int64_t ns;
    ldg_err e;
    cr_assert_eq(ldg_time_parse("2024-01-15T10:30:00+02:00", &ns, NULL, &e), LDG_OK);
    cr_assert_eq(ns, T0 - 2 * 3600 * NS);
}

Test(time, rejects_a_time_of_day_without_a_zone)
{
    refuses("2024-01-15T10:30:00");
    refuses("2024-01-15T10:30");
    refuses("2024-01-15T10:30:00.123");
}

Test(time, rejects_impossible_dates)
{
    refuses("2024-02-30");
    refuses("2024-02-31");
    refuses("2023-02-29");
    refuses("2024-04-31");
    refuses("2024-01-32");
    refuses("2024-01-00");
    refuses("2024-13-01");
    refuses("2024-00-10");
    refuses("2024-02-30T00:00:00Z");
}

Test(time, rejects_impossible_times_of_day)
{
    refuses("2024-01-15T24:00:00Z");
    refuses("2024-01-15T10:60:00Z");
    refuses("2024-01-15T23:59:60Z"); /* no leap seconds in POSIX time */
    refuses("2024-01-15T10:30:00+18:01");
    refuses("2024-01-15T10:30:00+19:00");
    refuses("2024-01-15T10:30:00+05:60");
}

Test(time, rejects_garbage_and_trailing_characters)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "2024",
        "2024-01",
        "2024-1-15",
        "24-01-15",
        "2024/01/15",
        "20240115",
        " 2024-01-15",
        "2024-01-15 ",
        "2024-01-15Z",
        "2024-01-15T",
        "2024-01-15T10Z",
        "2024-01-15T1:30Z",
        "2024-01-15T10:3Z",
        "2024-01-15T10:30:0Z",
        "2024-01-15T10:30:00.Z",
        "2024-01-15T10:30:00.+01:00",
        "2024-01-15T10:30:00ZZ",
        "2024-01-15T10:30:00Z ",
        "2024-01-15T10:30:00Zjunk",
        "2024-01-15T10:30:00+05",
        "2024-01-15T10:30:00+5:30",
        "2024-01-15T10:30:00+05:3",
        "2024-01-15T10:30:00+05:30x",
        "2024-01-15T10:30:00+05:30:00",
        "2024-01-15T10:30:00 +05:30",
        "2024-01-15x",
        "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x94-01-15", /* full-width digits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refuses(bad[i]);
}

Test(time, leap_years_follow_the_gregorian_rules)
{
    parses("2024-02-29", 1709164800LL * NS, 0);
    parses("2024-03-01", 1709251200LL * NS, 0);
    parses("2000-02-29", 951782400LL * NS, 0);
    parses("1972-02-29T12:00:00Z", (68169600LL + 43200) * NS, 0);
    refuses("1900-02-29");
    refuses("2100-02-29");
    refuses("2023-02-29");
    parses("2024-12-31T23:59:59Z", 1735689599LL * NS, 0);
    parses("2023-12-31T23:59:59Z", 1704067199LL * NS, 0);
}

Test(time, times_before_1970_are_negative)
{
    parses("1969-12-31T23:59:59Z", -1 * NS, 0);
    parses("1969-12-31T23:59:59.5Z", -NS / 2, 0);
    parses("1969-12-31T23:59:59.999999999Z", -1, 0);
    parses("1970-01-01T00:00:00+01:00", -3600 * NS, 60);
    parses("1900-01-01", -2208988800LL * NS, 0);
    parses("1960-02-29T00:00:00Z", -310521600LL * NS, 0);
    parses("1700-03-01", -8515238400LL * NS, 0);
}

Test(time, rejects_times_outside_the_int64_nanosecond_range)
{
    refuses("1600-01-01");
    refuses("2300-01-01");
    refuses("0000-01-01");
    refuses("9999-12-31T23:59:59Z");
}

Test(time, format_writes_utc_with_z_and_local_time_with_offset)
{
    formats(T0 + 123456789, 0, 1, "2024-01-15T10:30:00.123456789Z");
    formats(T0, 0, 0, "2024-01-15T10:30:00.000000000+00:00");
    formats(T0, 330, 0, "2024-01-15T16:00:00.000000000+05:30");
    formats(T0, 330, 1, "2024-01-15T16:00:00.000000000+05:30");
    formats(T0, -480, 0, "2024-01-15T02:30:00.000000000-08:00");
    formats(T0, -30, 0, "2024-01-15T10:00:00.000000000-00:30");
    formats(0, 0, 1, "1970-01-01T00:00:00.000000000Z");
}

Test(time, format_of_negative_times)
{
    formats(-1, 0, 1, "1969-12-31T23:59:59.999999999Z");
    formats(-NS, 0, 1, "1969-12-31T23:59:59.000000000Z");
    formats(-2208988800LL * NS, 0, 1, "1900-01-01T00:00:00.000000000Z");
    formats(0, -60, 0, "1969-12-31T23:00:00.000000000-01:00");
    formats(-1, 60, 0, "1970-01-01T00:59:59.999999999+01:00");
}

Test(time, format_then_parse_round_trips_with_offsets)
{
    static const int64_t times[] = {0,
                                    1,
                                    -1,
                                    T0 + 123456789,
                                    1709164800LL * NS + 999999999,
                                    -2208988800LL * NS + 7,
                                    -8520336000LL * NS,
                                    8000000000LL * NS + 5,
                                    951782399LL * NS + 500000000};
    static const int32_t tzs[] = {0, 1, -1, 59, 60, -330, 330, 345, -570, 1080, -1080};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        for (size_t j = 0; j < sizeof tzs / sizeof tzs[0]; j++) {
            for (int z = 0; z < 2; z++) {
                char out[40];
                ldg_time_format(times[i], tzs[j], z, out);
                int64_t ns;
                int32_t tz;
                ldg_err e;
                cr_assert_eq(ldg_time_parse(out, &ns, &tz, &e), LDG_OK, "\"%s\": %s", out, e.msg);
                cr_assert_eq(ns, times[i], "\"%s\": %lld, want %lld", out, (long long)ns,
                             (long long)times[i]);
                cr_assert_eq(tz, tzs[j], "\"%s\"", out);
            }
        }
    }
}

/*
 * ldg_time_format works out the date by arithmetic (gmtime_r takes a lock
 * the threads formatting an export's rows would queue on): it must give
 * the C library's calendar for every day in the range a time can have.
 * Every day from 1685 to 2255, at a second that moves through the day.
 */
Test(time, format_gives_the_c_library_calendar_on_every_day)
{
    for (int64_t day = -104000; day <= 104000; day++) {
        int64_t secs = day * 86400 + ((day * 7919) % 86400 + 86400) % 86400;
        time_t t = (time_t)secs;
        struct tm tm;
        cr_assert_not_null(gmtime_r(&t, &tm));
        char want[96], got[40];
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.000000042Z", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        ldg_time_format(secs * NS + 42, 0, 1, got);
        cr_assert_str_eq(got, want, "day %lld", (long long)day);
    }
}

Test(time, now_is_the_clock_and_offset_is_in_range)
{
    int64_t ns;
    int32_t tz;
    /* The same clock on both sides: time() reads the coarse clock, which lags by up to a tick. */
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    ldg_time_now(&ns, &tz);
    clock_gettime(CLOCK_REALTIME, &after);
    cr_assert_geq(ns, (int64_t)before.tv_sec * NS + before.tv_nsec);
    cr_assert_leq(ns, (int64_t)after.tv_sec * NS + after.tv_nsec);
    cr_assert(tz >= -1080 && tz <= 1080, "tz %d", tz);
    ldg_time_now(&ns, NULL);
    cr_assert_gt(ns, 0);
}
