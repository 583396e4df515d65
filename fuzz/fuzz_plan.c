/*
 * fuzz_plan.c - the communication plan [PLAN-2..5] and the body fields
 * [KIND-1]: ldg_plan_parse and ldg_body_fields_check on arbitrary bytes.
 * Properties: the field check of kind plan accepts exactly what the plan
 * parser accepts (or fails on a common field first); every rule of an
 * accepted plan names a user kind and known levels, has a turnaround within
 * (0, 8760 h] and is what ldg_plan_match finds for its own kind, priority and
 * level; a due time is never before its start plus the turnaround, equals it
 * on the calendar clock, and is computed in bounded time for any plan.
 */
#include "fuzz.h"

#include <string.h>

static bool
level_known(const ldg_plan *p, const char *id)
{
    if (!id)
        return true;
    for (size_t i = 0; i < p->nlevels; i++)
        if (strcmp(p->levels[i].id, id) == 0)
            return true;
    return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    ldg_plan *p = NULL;
    ldg_err e;
    ldg_status s = ldg_plan_parse((const char *)data, size, &p, &e);
    ldg_status f = ldg_body_fields_check("plan", (const char *)data, size, &e);
    FUZZ_CHECK(s != LDG_OK || f == LDG_OK || f == LDG_E_INPUT);
    FUZZ_CHECK(s == LDG_OK || f != LDG_OK);
    ldg_status q = ldg_body_fields_check("query", (const char *)data, size, &e);
    ldg_status d = ldg_body_fields_check("document", (const char *)data, size, &e);
    FUZZ_CHECK(q != LDG_E_POLICY && d != LDG_E_POLICY); /* input, never policy */
    if (s != LDG_OK) {
        FUZZ_CHECK(p == NULL);
        return 0;
    }
    const int64_t year = 8760LL * 3600 * 1000000000;
    static const int64_t from[] = {0, 1772809200000000000LL, -86400000000000LL * 365,
                                   INT64_MAX - 1000};
    for (size_t i = 0; i < p->nrules; i++) {
        const ldg_plan_rule *r = &p->rules[i];
        FUZZ_CHECK(r->turnaround_ns > 0 && r->turnaround_ns <= year);
        FUZZ_CHECK(level_known(p, r->level) && r->respond);
        FUZZ_CHECK(ldg_plan_match(p, r->kind, r->priority, r->level) == r);
        for (size_t k = 0; k < sizeof from / sizeof from[0]; k++) {
            int64_t due = ldg_plan_due(p, r, from[k]);
            int64_t min =
                from[k] > INT64_MAX - r->turnaround_ns ? INT64_MAX : from[k] + r->turnaround_ns;
            FUZZ_CHECK(due >= min);
            if (!r->business)
                FUZZ_CHECK(due == min);
        }
    }
    for (size_t i = 0; i < p->nescalations; i++)
        FUZZ_CHECK(level_known(p, p->escalations[i].from) && level_known(p, p->escalations[i].to));
    FUZZ_CHECK(p->business_start_min < p->business_end_min && p->business_days != 0);
    ldg_plan_free(p);
    return 0;
}
