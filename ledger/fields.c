/*
 * fields.c - the body fields ldg understands, per record kind [KIND-1..KIND-3],
 * and the communication plan record [PLAN-1..PLAN-5]: its parser and
 * checker, the rule that applies to a record, and when a response is due in
 * calendar or business hours.  Everything here reads only the body given; a
 * body's place in a ledger (which plan is in force) is the caller's business.
 */
#include "internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBJECT_MAX 500u     /* bytes of a subject [KIND-2] */
#define LEVEL_ID_MAX 64u     /* bytes of a level id [KIND-2] */
#define PLAN_LIST_MAX 256u   /* entries in any one list of a plan [PLAN-3] */
#define PLAN_HOURS_MAX 8760. /* one year: the longest turnaround, escalation or tolerance */
#define PLAN_GAP_DAYS_MAX 366.
#define NS_PER_MIN 60000000000LL
#define NS_PER_DAY (1440 * NS_PER_MIN)

/* -------------------------------------------------------------- forms -- */

/* No C0 control, DEL or C1 control (U+0080..U+009F, UTF-8 C2 80..C2 9F) [KIND-2]. */
static bool
no_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return false;
    }
    return true;
}

/* A string of min..max bytes without control characters; NULL if v is not one. */
static const char *
line_str(const json_t *v, size_t min, size_t max)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < min || n > max || strlen(s) != n || !no_control(s, n))
        return NULL;
    return s;
}

/* [KIND-2] A level id: 1..64 bytes of ASCII letters, digits, '-', '_' and '.'. */
static bool
level_id_ok(const json_t *v)
{
    const char *s = line_str(v, 1, LEVEL_ID_MAX);
    if (!s)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool
one_of(const json_t *v, const char *const *vals)
{
    if (!json_is_string(v))
        return false;
    for (; *vals; vals++)
        if (strcmp(json_string_value(v), *vals) == 0)
            return true;
    return false;
}

static const char *const priorities[] = {"low", "normal", "high", "urgent", NULL};
static const char *const severities[] = {"minor", "major", "critical", NULL};
static const char *const statuses[] = {"open", "done", NULL};

/* ------------------------------------------------------ body fields -- */

typedef enum form {
    F_SUBJECT,  /* string 1..500 bytes, no control characters */
    F_TEXT,     /* any string */
    F_LINE,     /* string 1..4096 bytes, no control characters */
    F_LEVEL,    /* a level id */
    F_PRIORITY, /* low, normal, high, urgent */
    F_TIME,     /* ISO 8601 time [FMT-7] */
    F_ORGS,     /* a line, or a non-empty array of lines */
    F_LINES,    /* an array of lines */
    F_BOOL,     /* true or false */
    F_SEVERITY, /* minor, major, critical */
    F_STATUS,   /* open, done */
    F_SHA256,   /* 64 lowercase hex digits */
    F_PLAN,     /* checked by ldg_plan_parse */
} form;

/* [KIND-2] The fields ldg understands: kind NULL for every user kind. */
static const struct field {
    const char *kind, *name, *label;
    form form;
} fields[] = {
    {NULL, "subject", "Subject", F_SUBJECT},
    {NULL, "text", "Text", F_TEXT},
    {NULL, "level", "Level", F_LEVEL},
    {NULL, "priority", "Priority", F_PRIORITY},
    {NULL, "due", "Due", F_TIME},
    {NULL, "to", "To", F_ORGS},
    {NULL, "closes", "Closes", F_BOOL},
    {"escalation", "from_level", "Escalated from", F_LEVEL},
    {"escalation", "to_level", "Escalated to", F_LEVEL},
    {"deviation", "severity", "Severity", F_SEVERITY},
    {"action", "owner", "Owner", F_LINE},
    {"action", "capa", "CAPA", F_BOOL},
    {"action", "status", "Status", F_STATUS},
    {"meeting", "attendees", "Attendees", F_LINES},
    {"document", "title", "Title", F_LINE},
    {"document", "version", "Version", F_LINE},
    {"document", "sha256", "SHA-256", F_SHA256},
    {"erasure", "legal_basis", "Legal basis", F_TEXT},
    {"plan", "version", "Version", F_PLAN},
    {"plan", "parties", "Parties", F_PLAN},
    {"plan", "accept", "To be accepted by", F_PLAN},
    {"plan", "levels", "Levels", F_PLAN},
    {"plan", "turnaround", "Turnaround", F_PLAN},
    {"plan", "escalation", "Escalation path", F_PLAN},
    {"plan", "approvals", "Approvals required", F_PLAN},
    {"plan", "tolerance_hours", "Claimed-time tolerance (hours)", F_PLAN},
    {"plan", "gap_days", "Longest quiet spell (days)", F_PLAN},
    {"plan", "business_hours", "Business hours", F_PLAN},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

const char *
ldg_body_field_label(const char *field)
{
    if (!field)
        return NULL;
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, field) == 0)
            return fields[i].label;
    return NULL;
}

const char *
ldg_body_field_label_of(const char *kind, const char *field)
{
    if (!kind || !field || ldgi_kind_class(kind, strlen(kind)) != LDGI_KIND_USER)
        return NULL;
    for (size_t i = 0; i < NFIELDS; i++)
        if ((!fields[i].kind || strcmp(fields[i].kind, kind) == 0) &&
            strcmp(fields[i].name, field) == 0)
            return fields[i].label;
    return NULL;
}

static bool
sha256_ok(const json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) != 64)
        return false;
    const char *s = json_string_value(v);
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool
lines_ok(const json_t *v, bool nonempty)
{
    if (!json_is_array(v) || (nonempty && json_array_size(v) == 0))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) if (!line_str(e, 1, LDG_TEXT_MAX)) return false;
    return true;
}

/* NULL when v has the form, else why not (a phrase after "must be"). */
static const char *
form_why(form f, const json_t *v)
{
    switch (f) {
    case F_SUBJECT:
        return line_str(v, 1, SUBJECT_MAX) ? NULL
                                           : "a string of 1..500 bytes without control characters";
    case F_TEXT: return json_is_string(v) ? NULL : "a string";
    case F_LINE:
        return line_str(v, 1, LDG_TEXT_MAX)
                   ? NULL
                   : "a string of 1..4096 bytes without control characters";
    case F_LEVEL:
        return level_id_ok(v) ? NULL
                              : "a level id: 1..64 bytes of letters, digits, '-', '_' or '.'";
    case F_PRIORITY:
        return one_of(v, priorities) ? NULL : "one of \"low\", \"normal\", \"high\", \"urgent\"";
    case F_TIME: {
        int64_t ns;
        return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
                       ldg_time_parse(json_string_value(v), &ns, NULL, NULL) == LDG_OK
                   ? NULL
                   : "an ISO 8601 time, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] with Z or +HH:MM";
    }
    case F_ORGS:
        return line_str(v, 1, LDG_TEXT_MAX) || lines_ok(v, true)
                   ? NULL
                   : "an organisation or a non-empty array of organisations (strings)";
    case F_LINES: return lines_ok(v, false) ? NULL : "an array of non-empty strings";
    case F_BOOL: return json_is_boolean(v) ? NULL : "true or false";
    case F_SEVERITY:
        return one_of(v, severities) ? NULL : "one of \"minor\", \"major\", \"critical\"";
    case F_STATUS: return one_of(v, statuses) ? NULL : "one of \"open\", \"done\"";
    case F_SHA256: return sha256_ok(v) ? NULL : "64 lowercase hexadecimal digits";
    case F_PLAN: return NULL;
    }
    return NULL;
}

/* Parses a body as a JSON object (LDG_E_INPUT otherwise). */
static ldg_status
load_object(const char *body, size_t len, json_t **out, ldg_err *err)
{
    if (len > LDG_BODY_MAX)
        return ldgi_fail(err, LDG_E_INPUT, "body is %zu bytes, over the limit of %u", len,
                         LDG_BODY_MAX);
    json_error_t je = {0};
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (json_error_code(&je) == json_error_out_of_memory || !je.text[0])
            return ldgi_fail(err, LDG_E_NOMEM, "body: out of memory");
        return ldgi_fail(err, LDG_E_INPUT, "body JSON, line %d column %d: %s", je.line, je.column,
                         je.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return ldgi_fail(err, LDG_E_INPUT, "body must be a JSON object");
    }
    *out = j;
    return LDG_OK;
}

ldg_status
ldgi_fields_check_json(const char *kind, const struct json_t *j, const char *body, size_t len,
                       ldg_err *err)
{
    ldg_status s = LDG_OK;
    for (size_t i = 0; i < NFIELDS && s == LDG_OK; i++) {
        if (fields[i].kind && strcmp(fields[i].kind, kind) != 0)
            continue;
        const json_t *v = json_object_get(j, fields[i].name);
        const char *why = v ? form_why(fields[i].form, v) : NULL;
        if (why)
            s = ldgi_fail(err, LDG_E_INPUT, "body field \"%s\" of %s %s record must be %s",
                          fields[i].name, kind[0] && strchr("aeiou", kind[0]) ? "an" : "a", kind,
                          why);
    }
    if (s == LDG_OK && strcmp(kind, "plan") == 0) {
        ldg_plan *p = NULL;
        s = ldg_plan_parse(body, len, &p, err);
        ldg_plan_free(p);
    }
    return s;
}

ldg_status
ldg_body_fields_check(const char *kind, const char *body, size_t len, ldg_err *err)
{
    if (!kind || ldgi_kind_class(kind, strlen(kind)) != LDGI_KIND_USER)
        return LDG_OK; /* system records carry no user body fields */
    json_t *j;
    ldg_status s = load_object(body, len, &j, err);
    if (s != LDG_OK)
        return s;
    s = ldgi_fields_check_json(kind, j, body, len, err);
    json_decref(j);
    return s;
}

/* ------------------------------------------------------------- plan -- */

typedef struct parse {
    ldg_plan *p;
    ldg_err *err;
    ldg_status s;
} parse;

/* Records the first failure: field path and why. */
static bool pfail(parse *ps, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool
pfail(parse *ps, const char *path, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ps->s = ldgi_fail(ps->err, LDG_E_INPUT, "plan field \"%s\": %s", path, why);
    return false;
}

static bool
nomem(parse *ps)
{
    ps->s = ldgi_fail(ps->err, LDG_E_NOMEM, "plan: out of memory");
    return false;
}

static bool
dup_str(parse *ps, const char *s, char **out)
{
    *out = ldgi_strdup(s);
    return *out ? true : nomem(ps);
}

/* A list of 0..PLAN_LIST_MAX entries (min..), allocated as n items of size sz. */
static bool
list(parse *ps, const json_t *v, const char *path, size_t min, size_t sz, size_t *n, void **items)
{
    if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > PLAN_LIST_MAX)
        return pfail(ps, path, "must be an array of %zu..%u entries", min, PLAN_LIST_MAX);
    *items = ldgi_calloc(json_array_size(v), sz);
    if (!*items)
        return nomem(ps);
    *n = json_array_size(v);
    return true;
}

static bool
in_list(char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

/* A list of organisations: unique lines, each (when parties) one of the parties. */
static bool
orgs(parse *ps, const json_t *v, const char *path, size_t min, bool of_parties, size_t *n,
     char ***out)
{
    if (!list(ps, v, path, min, sizeof(char *), n, (void **)out))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        char at[96];
        snprintf(at, sizeof at, "%s[%zu]", path, i);
        const char *s = line_str(e, 1, LDG_TEXT_MAX);
        if (!s)
            return pfail(ps, at, "must be a string of 1..4096 bytes without control characters");
        if (in_list(*out, i, s))
            return pfail(ps, at, "\"%.80s\" is listed twice", s);
        if (of_parties && !in_list(ps->p->parties, ps->p->nparties, s))
            return pfail(ps, at, "\"%.80s\" is not one of \"parties\"", s);
        if (!dup_str(ps, s, &(*out)[i]))
            return false;
    }
    return true;
}

/* Hours: a number > 0 and <= 8760 (or max), as nanoseconds. */
static bool
hours(parse *ps, const json_t *v, const char *path, double unit_h, double max, int64_t *ns)
{
    double h = json_number_value(v);
    if (!json_is_number(v) || !(h > 0) || h > max)
        return pfail(ps, path, "must be a number > 0 and <= %g", max);
    *ns = (int64_t)(h * unit_h * 3600e9 + 0.5); /* h <= 8784 h: far inside int64 ns */
    if (*ns <= 0)
        return pfail(ps, path, "must be at least one nanosecond");
    return true;
}

static const ldg_plan_level *
find_level(const ldg_plan *p, const char *id)
{
    for (size_t i = 0; i < p->nlevels; i++)
        if (strcmp(p->levels[i].id, id) == 0)
            return &p->levels[i];
    return NULL;
}

/* An optional or required level id naming one of the plan's levels. */
static bool
level_ref(parse *ps, const json_t *o, const char *key, const char *path, bool required, char **out)
{
    char at[96];
    snprintf(at, sizeof at, "%s.%s", path, key);
    const json_t *v = json_object_get(o, key);
    if (!v)
        return required ? pfail(ps, at, "is required") : true;
    if (!level_id_ok(v) || !find_level(ps->p, json_string_value(v)))
        return pfail(ps, at, "must be the id of one of \"levels\"");
    return dup_str(ps, json_string_value(v), out);
}

/* A record kind that exists and that users write. */
static bool
kind_ref(parse *ps, const json_t *o, const char *path, char **out)
{
    char at[96];
    snprintf(at, sizeof at, "%s.kind", path);
    const json_t *v = json_object_get(o, "kind");
    const char *k = line_str(v, 1, 64);
    if (!k || ldgi_kind_class(k, strlen(k)) != LDGI_KIND_USER)
        return pfail(ps, at, "must be a user record kind (query, decision, ...)");
    return dup_str(ps, k, out);
}

static bool
object_at(parse *ps, const json_t *v, const char *path)
{
    return json_is_object(v) ? true : pfail(ps, path, "must be an object");
}

static bool
levels(parse *ps, const json_t *v)
{
    ldg_plan *p = ps->p;
    if (!list(ps, v, "levels", 1, sizeof *p->levels, &p->nlevels, (void **)&p->levels))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        char at[64], f[96];
        snprintf(at, sizeof at, "levels[%zu]", i);
        if (!object_at(ps, e, at))
            return false;
        ldg_plan_level *l = &p->levels[i];
        const json_t *id = json_object_get(e, "id");
        snprintf(f, sizeof f, "%s.id", at);
        if (!level_id_ok(id))
            return pfail(ps, f, "must be 1..64 bytes of letters, digits, '-', '_' or '.'");
        /* levels before i are filled; find_level sees only those */
        size_t keep = p->nlevels;
        p->nlevels = i;
        bool seen = find_level(p, json_string_value(id)) != NULL;
        p->nlevels = keep;
        if (seen)
            return pfail(ps, f, "\"%s\" is listed twice", json_string_value(id));
        if (!dup_str(ps, json_string_value(id), &l->id))
            return false;
        const json_t *name = json_object_get(e, "name");
        snprintf(f, sizeof f, "%s.name", at);
        if (name && !line_str(name, 1, LDG_TEXT_MAX))
            return pfail(ps, f, "must be a string of 1..4096 bytes without control characters");
        if (!dup_str(ps, name ? json_string_value(name) : l->id, &l->name))
            return false;
        const json_t *mem = json_object_get(e, "members");
        if (!mem)
            continue;
        snprintf(f, sizeof f, "%s.members", at);
        if (!list(ps, mem, f, 0, sizeof *l->members, &l->nmembers, (void **)&l->members))
            return false;
        size_t k;
        const json_t *m;
        json_array_foreach(mem, k, m)
        {
            char mf[128];
            snprintf(mf, sizeof mf, "%s.members[%zu]", at, k);
            if (!object_at(ps, m, mf))
                return false;
            const char *nm = line_str(json_object_get(m, "name"), 1, LDG_TEXT_MAX);
            const char *org = line_str(json_object_get(m, "org"), 1, LDG_TEXT_MAX);
            if (!nm || !org)
                return pfail(ps, mf,
                             "needs \"name\" and \"org\": strings of 1..4096 bytes without "
                             "control characters");
            if (!dup_str(ps, nm, &l->members[k].name) || !dup_str(ps, org, &l->members[k].org))
                return false;
        }
    }
    return true;
}

static bool
rules(parse *ps, const json_t *v)
{
    ldg_plan *p = ps->p;
    if (!list(ps, v, "turnaround", 0, sizeof *p->rules, &p->nrules, (void **)&p->rules))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        char at[64], f[96];
        snprintf(at, sizeof at, "turnaround[%zu]", i);
        if (!object_at(ps, e, at))
            return false;
        ldg_plan_rule *r = &p->rules[i];
        if (!kind_ref(ps, e, at, &r->kind))
            return false;
        const json_t *pr = json_object_get(e, "priority");
        snprintf(f, sizeof f, "%s.priority", at);
        if (pr && !one_of(pr, priorities))
            return pfail(ps, f, "must be one of \"low\", \"normal\", \"high\", \"urgent\"");
        if (pr && !dup_str(ps, json_string_value(pr), &r->priority))
            return false;
        if (!level_ref(ps, e, "level", at, false, &r->level))
            return false;
        snprintf(f, sizeof f, "%s.hours", at);
        if (!hours(ps, json_object_get(e, "hours"), f, 1, PLAN_HOURS_MAX, &r->turnaround_ns))
            return false;
        const json_t *clock = json_object_get(e, "clock");
        snprintf(f, sizeof f, "%s.clock", at);
        static const char *const clocks[] = {"calendar", "business", NULL};
        if (clock && !one_of(clock, clocks))
            return pfail(ps, f, "must be \"calendar\" or \"business\"");
        r->business = clock && strcmp(json_string_value(clock), "business") == 0;
        const json_t *resp = json_object_get(e, "respond");
        snprintf(f, sizeof f, "%s.respond", at);
        const char *rs = resp ? line_str(resp, 1, LDG_TEXT_MAX) : "other";
        if (!rs || (strcmp(rs, "other") != 0 && strcmp(rs, "any") != 0 &&
                    !in_list(p->parties, p->nparties, rs)))
            return pfail(ps, f, "must be \"other\", \"any\" or one of \"parties\"");
        if (!dup_str(ps, rs, &r->respond))
            return false;
        for (size_t k = 0; k < i; k++) {
            const ldg_plan_rule *o = &p->rules[k];
            if (strcmp(o->kind, r->kind) == 0 && !o->priority == !r->priority &&
                (!o->priority || strcmp(o->priority, r->priority) == 0) && !o->level == !r->level &&
                (!o->level || strcmp(o->level, r->level) == 0))
                return pfail(ps, at, "has the same kind, priority and level as turnaround[%zu]", k);
        }
    }
    return true;
}

static bool
escalations(parse *ps, const json_t *v)
{
    ldg_plan *p = ps->p;
    if (!list(ps, v, "escalation", 0, sizeof *p->escalations, &p->nescalations,
              (void **)&p->escalations))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        char at[64], f[96];
        snprintf(at, sizeof at, "escalation[%zu]", i);
        if (!object_at(ps, e, at))
            return false;
        ldg_plan_escalation *x = &p->escalations[i];
        if (!level_ref(ps, e, "from", at, true, &x->from) ||
            !level_ref(ps, e, "to", at, true, &x->to))
            return false;
        snprintf(f, sizeof f, "%s.to", at);
        if (strcmp(x->from, x->to) == 0)
            return pfail(ps, f, "must differ from \"from\"");
        snprintf(f, sizeof f, "%s.after_hours", at);
        if (!hours(ps, json_object_get(e, "after_hours"), f, 1, PLAN_HOURS_MAX, &x->after_ns))
            return false;
    }
    return true;
}

static bool
approvals(parse *ps, const json_t *v)
{
    ldg_plan *p = ps->p;
    if (!list(ps, v, "approvals", 0, sizeof *p->approvals, &p->napprovals, (void **)&p->approvals))
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        char at[64], f[96];
        snprintf(at, sizeof at, "approvals[%zu]", i);
        if (!object_at(ps, e, at))
            return false;
        ldg_plan_approval *a = &p->approvals[i];
        if (!kind_ref(ps, e, at, &a->kind) || !level_ref(ps, e, "level", at, false, &a->level))
            return false;
        snprintf(f, sizeof f, "%s.orgs", at);
        if (!orgs(ps, json_object_get(e, "orgs"), f, 1, true, &a->norgs, &a->orgs))
            return false;
    }
    return true;
}

/* "HH:MM" as minutes after midnight, 00:00..24:00. */
static bool
clock_min(const json_t *v, int *out)
{
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) != 5 || s[2] != ':')
        return false;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return false;
    *out = h * 60 + m;
    return true;
}

/* "Z" or "+HH:MM" / "-HH:MM" within 18 hours, as minutes. */
static bool
offset_min(const json_t *v, int32_t *out)
{
    const char *s = json_string_value(v);
    if (s && strcmp(s, "Z") == 0) {
        *out = 0;
        return true;
    }
    if (!s || json_string_length(v) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
        return false;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9'))
            return false;
    int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 18 || m > 59 || h * 60 + m > 1080)
        return false;
    *out = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return true;
}

static bool
business_hours(parse *ps, const json_t *v)
{
    ldg_plan *p = ps->p;
    if (!object_at(ps, v, "business_hours"))
        return false;
    if (!clock_min(json_object_get(v, "start"), &p->business_start_min))
        return pfail(ps, "business_hours.start", "must be a time of day \"HH:MM\"");
    if (!clock_min(json_object_get(v, "end"), &p->business_end_min))
        return pfail(ps, "business_hours.end", "must be a time of day \"HH:MM\" (24:00 at most)");
    if (p->business_end_min <= p->business_start_min)
        return pfail(ps, "business_hours.end", "must be later than \"start\"");
    const json_t *tz = json_object_get(v, "utc_offset");
    if (!tz || !offset_min(tz, &p->business_tz_min))
        return pfail(ps, "business_hours.utc_offset", "must be \"Z\" or \"+HH:MM\" / \"-HH:MM\"");
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    const json_t *days = json_object_get(v, "days");
    if (!json_is_array(days) || json_array_size(days) < 1 || json_array_size(days) > 7)
        return pfail(ps, "business_hours.days", "must be an array of 1..7 weekdays (\"mon\", ...)");
    p->business_days = 0;
    size_t i;
    const json_t *d;
    json_array_foreach(days, i, d)
    {
        unsigned bit = 0;
        for (unsigned w = 0; w < 7; w++)
            if (json_is_string(d) && strcmp(json_string_value(d), names[w]) == 0)
                bit = 1u << w;
        if (!bit || (p->business_days & bit))
            return pfail(ps, "business_hours.days",
                         "entry %zu must be a weekday (\"sun\" .. \"sat\") listed once", i);
        p->business_days |= bit;
    }
    return true;
}

static bool
plan_fill(parse *ps, const json_t *j)
{
    ldg_plan *p = ps->p;
    const json_t *v = json_object_get(j, "subject");
    const char *s = line_str(v, 1, SUBJECT_MAX);
    if (!s)
        return pfail(ps, "subject",
                     v ? "must be a string of 1..500 bytes without control characters"
                       : "is required");
    if (!dup_str(ps, s, &p->subject))
        return false;
    if ((v = json_object_get(j, "version"))) {
        if (!(s = line_str(v, 1, LDG_TEXT_MAX)))
            return pfail(ps, "version",
                         "must be a string of 1..4096 bytes without control "
                         "characters");
        if (!dup_str(ps, s, &p->version))
            return false;
    }
    if (!(v = json_object_get(j, "parties")))
        return pfail(ps, "parties", "is required");
    if (!orgs(ps, v, "parties", 1, false, &p->nparties, &p->parties))
        return false;
    if ((v = json_object_get(j, "accept")) &&
        !orgs(ps, v, "accept", 0, true, &p->naccept, &p->accept))
        return false;
    if (!(v = json_object_get(j, "levels")))
        return pfail(ps, "levels", "is required");
    if (!levels(ps, v))
        return false;
    if ((v = json_object_get(j, "turnaround")) && !rules(ps, v))
        return false;
    if ((v = json_object_get(j, "escalation")) && !escalations(ps, v))
        return false;
    if ((v = json_object_get(j, "approvals")) && !approvals(ps, v))
        return false;
    if ((v = json_object_get(j, "tolerance_hours")) &&
        !hours(ps, v, "tolerance_hours", 1, PLAN_HOURS_MAX, &p->tolerance_ns))
        return false;
    if ((v = json_object_get(j, "gap_days")) &&
        !hours(ps, v, "gap_days", 24, PLAN_GAP_DAYS_MAX, &p->gap_ns))
        return false;
    if ((v = json_object_get(j, "business_hours"))) {
        if (!business_hours(ps, v))
            return false;
    } else {
        for (size_t i = 0; i < p->nrules; i++)
            if (p->rules[i].business) {
                char at[64];
                snprintf(at, sizeof at, "turnaround[%zu].clock", i);
                return pfail(ps, at, "\"business\" needs the plan's \"business_hours\"");
            }
    }
    return true;
}

ldg_status
ldg_plan_parse(const char *body, size_t len, ldg_plan **out, ldg_err *err)
{
    *out = NULL;
    json_t *j;
    ldg_status s = load_object(body, len, &j, err);
    if (s != LDG_OK)
        return s;
    ldg_plan *p = ldgi_calloc(1, sizeof *p);
    if (!p) {
        json_decref(j);
        return ldgi_fail(err, LDG_E_NOMEM, "plan: out of memory");
    }
    /* [PLAN-3] defaults */
    p->tolerance_ns = LDG_TOLERANCE_DEFAULT_NS;
    p->gap_ns = LDG_GAP_DEFAULT_NS;
    p->business_start_min = 9 * 60;
    p->business_end_min = 17 * 60;
    p->business_days = 0x3e; /* Monday to Friday */
    parse ps = {.p = p, .err = err, .s = LDG_OK};
    bool ok = plan_fill(&ps, j);
    json_decref(j);
    if (!ok) {
        ldg_plan_free(p);
        return ps.s;
    }
    *out = p;
    return LDG_OK;
}

static void
free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void
ldg_plan_free(ldg_plan *p)
{
    if (!p)
        return;
    free(p->subject);
    free(p->version);
    free_strs(p->parties, p->nparties);
    free_strs(p->accept, p->naccept);
    for (size_t i = 0; p->levels && i < p->nlevels; i++) {
        free(p->levels[i].id);
        free(p->levels[i].name);
        for (size_t k = 0; p->levels[i].members && k < p->levels[i].nmembers; k++) {
            free(p->levels[i].members[k].name);
            free(p->levels[i].members[k].org);
        }
        free(p->levels[i].members);
    }
    free(p->levels);
    for (size_t i = 0; p->rules && i < p->nrules; i++) {
        free(p->rules[i].kind);
        free(p->rules[i].priority);
        free(p->rules[i].level);
        free(p->rules[i].respond);
    }
    free(p->rules);
    for (size_t i = 0; p->escalations && i < p->nescalations; i++) {
        free(p->escalations[i].from);
        free(p->escalations[i].to);
    }
    free(p->escalations);
    for (size_t i = 0; p->approvals && i < p->napprovals; i++) {
        free(p->approvals[i].kind);
        free(p->approvals[i].level);
        free_strs(p->approvals[i].orgs, p->approvals[i].norgs);
    }
    free(p->approvals);
    free(p);
}

/* ------------------------------------------------ rules and due times -- */

static bool
same(const char *rule, const char *rec)
{
    return rule && rec && strcmp(rule, rec) == 0;
}

const ldg_plan_rule *
ldg_plan_match(const ldg_plan *p, const char *kind, const char *priority, const char *level)
{
    if (!p || !kind)
        return NULL;
    /* [PLAN-4] rank: kind+priority+level 3, kind+priority 2, kind+level 1, kind 0 */
    const ldg_plan_rule *best = NULL;
    int rank = -1;
    for (size_t i = 0; i < p->nrules; i++) {
        const ldg_plan_rule *r = &p->rules[i];
        if (strcmp(r->kind, kind) != 0)
            continue;
        if ((r->priority && !same(r->priority, priority)) || (r->level && !same(r->level, level)))
            continue;
        int k = (r->priority ? 2 : 0) + (r->level ? 1 : 0);
        if (k > rank) {
            rank = k;
            best = r;
        }
    }
    return best;
}

static int64_t
sat(__int128 v)
{
    return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (int64_t)v;
}

static __int128
floor_div(__int128 a, __int128 b)
{
    __int128 q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool
working(const ldg_plan *p, __int128 day)
{
    /* day 0 (1970-01-01) was a Thursday, weekday 4 */
    int wd = (int)(((day + 4) % 7 + 7) % 7);
    return (p->business_days >> wd) & 1u;
}

int64_t
ldg_plan_due(const ldg_plan *p, const ldg_plan_rule *r, int64_t from_ns)
{
    if (!r)
        return INT64_MAX;
    if (!p || !r->business)
        return sat((__int128)from_ns + r->turnaround_ns);
    /*
     * [PLAN-5] Business hours: count only time inside the working window of
     * working days, in the plan's local time.  Whole weeks are skipped in one
     * step, so the walk is at most two weeks of days whatever the turnaround.
     */
    __int128 start = (__int128)p->business_start_min * NS_PER_MIN;
    __int128 end = (__int128)p->business_end_min * NS_PER_MIN;
    unsigned nd = 0;
    for (int w = 0; w < 7; w++)
        nd += (p->business_days >> w) & 1u;
    if (end <= start || nd == 0 || r->turnaround_ns <= 0)
        return sat((__int128)from_ns + (r->turnaround_ns > 0 ? r->turnaround_ns : 0));
    __int128 tz = (__int128)p->business_tz_min * NS_PER_MIN;
    __int128 local = (__int128)from_ns + tz;
    __int128 day = floor_div(local, NS_PER_DAY);
    __int128 left = r->turnaround_ns;
    /* the first day, from the record's time of day */
    if (working(p, day)) {
        __int128 ws = day * NS_PER_DAY + start, we = day * NS_PER_DAY + end;
        __int128 from = local > ws ? local : ws;
        if (from < we) {
            if (left <= we - from)
                return sat(from + left - tz);
            left -= we - from;
        }
    }
    day++;
    __int128 week = (__int128)nd * (end - start);
    __int128 weeks = (left - 1) / week;
    day += weeks * 7;
    left -= weeks * week;
    for (int i = 0; i < 15; i++, day++) { /* left <= week: done within 8 days */
        if (!working(p, day))
            continue;
        if (left <= end - start)
            return sat(day * NS_PER_DAY + start + left - tz);
        left -= end - start;
    }
    return INT64_MAX; /* not reached */
}
