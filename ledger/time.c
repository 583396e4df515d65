/*
 * time.c - ISO 8601 times on input and output [FMT-7]: UTC nanoseconds plus
 * the originating offset in minutes.
 */
#define _DEFAULT_SOURCE
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool
digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int64_t
days_from_civil(int y, int m, int d)
{
    /* Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * The inverse: the date and the second of the day of `secs` since
 * 1970-01-01T00:00:00Z (the same algorithm run backwards), for any secs an
 * int64_t nanosecond time gives.  Pure arithmetic: gmtime_r takes glibc's
 * time zone lock on every call, which the threads formatting an export's
 * rows (three times a row) would queue on.
 */
void
ldgi_date_of(int64_t secs, int64_t *y, int *m, int *d, int64_t *sod)
{
    int64_t z = secs / 86400;
    *sod = secs % 86400;
    if (*sod < 0) { /* floor, not towards zero: 1969's last second is day -1 */
        *sod += 86400;
        z--;
    }
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365], from March */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11], March = 0 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int
month_days(int y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : md[m - 1];
}

ldg_status
ldg_time_parse(const char *s, int64_t *ns, int32_t *tz_min, ldg_err *err)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, tzh = 0, tzm = 0;
    int64_t frac = 0;
    int sign = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        goto bad;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
        goto bad;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            goto bad;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                goto bad;
            if (*p == '.' || *p == ',') {
                p++;
                int n = 0;
                while (*p >= '0' && *p <= '9') {
                    if (n < 9) {
                        frac = frac * 10 + (*p - '0');
                        n++;
                    }
                    p++;
                }
                if (n == 0)
                    goto bad;
                for (; n < 9; n++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 59) /* no leap seconds: UTC nanoseconds are POSIX time */
            goto bad;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            sign = *p++ == '-' ? -1 : 1;
            if (!digits(&p, 2, &tzh))
                goto bad;
            if (*p == ':')
                p++;
            if (!digits(&p, 2, &tzm) || tzh > 18 || tzm > 59)
                goto bad;
        } else {
            goto bad; /* a time of day without a zone is ambiguous: refuse it */
        }
    }
    if (*p != '\0')
        goto bad;
    int32_t off = sign * (tzh * 60 + tzm);
    if (off < -1080 || off > 1080)
        goto bad;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off * 60;
    if (secs < -9000000000LL || secs > 9000000000LL)
        return ldgi_fail(err, LDG_E_INPUT,
                         "time \"%.60s\": out of range (UTC nanoseconds cover the years 1685 to "
                         "2255)",
                         s);
    *ns = secs * 1000000000LL + frac;
    if (tz_min)
        *tz_min = off;
    return LDG_OK;
bad:
    return ldgi_fail(err, LDG_E_INPUT,
                     "time \"%.60s\": expected ISO 8601 YYYY-MM-DD or "
                     "YYYY-MM-DDTHH:MM[:SS[.fff]] with Z or +HH:MM",
                     s);
}

void
ldg_time_format(int64_t ns, int32_t tz_min, int utc_z, char out[40])
{
    if (tz_min < -1080 || tz_min > 1080)
        tz_min = 0;
    int64_t local;
    if (__builtin_add_overflow(ns, (int64_t)tz_min * 60 * 1000000000LL, &local)) {
        snprintf(out, 40, "(time out of range)");
        return;
    }
    int64_t secs = local / 1000000000LL, frac = local % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        secs--;
    }
    int64_t year, sod;
    int mon, mday;
    ldgi_date_of(secs, &year, &mon, &mday, &sod);
    /* Written digit by digit: exports format three times per record, and snprintf costs. */
    if (year < 0 || year > 9999) {
        snprintf(out, 40, "(time out of range)");
        return;
    }
    char *p = out;
    const struct {
        long v;
        int w;
        char after;
    } parts[] = {{(long)year, 4, '-'},
                 {mon, 2, '-'},
                 {mday, 2, 'T'},
                 {(long)(sod / 3600), 2, ':'},
                 {(long)(sod / 60 % 60), 2, ':'},
                 {(long)(sod % 60), 2, '.'},
                 {(long)frac, 9, 0}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        long v = parts[i].v;
        for (int d = parts[i].w - 1; d >= 0; d--, v /= 10)
            p[d] = (char)('0' + v % 10);
        p += parts[i].w;
        if (parts[i].after)
            *p++ = parts[i].after;
    }
    if (utc_z && tz_min == 0) {
        *p++ = 'Z';
    } else {
        int a = abs(tz_min);
        *p++ = tz_min < 0 ? '-' : '+';
        *p++ = (char)('0' + a / 600);
        *p++ = (char)('0' + a / 60 % 10);
        *p++ = ':';
        *p++ = (char)('0' + a % 60 / 10);
        *p++ = (char)('0' + a % 10);
    }
    *p = '\0';
}

void
ldg_time_now(int64_t *ns, int32_t *tz_min)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    if (tz_min) {
        struct tm tm;
        localtime_r(&ts.tv_sec, &tm);
        *tz_min = (int32_t)(tm.tm_gmtoff / 60);
    }
}
