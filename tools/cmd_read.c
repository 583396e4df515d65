/*
 * cmd_read.c - `ldg show` and `ldg log`: records for people (UTC time and
 * the originating offset, printed name, organisation, kind, meaning,
 * subject) and for machines (--json: one object per line with the exact
 * entry bytes and leaf hash).
 */
#include "tool.h"

#include "emit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char show_help[] = "usage: ldg show SEQ [--json] [--ledger DIR]\n"
                                "Shows one record, its body, signer and hashes.\n";
static const char log_help[] =
    "usage: ldg log [--study S] [--kind K] [--actor NAME] [--since T] [--until T] [--json]\n"
    "               [--ledger DIR]\n"
    "Lists records in sequence order.  --actor matches the printed name, the key name or\n"
    "the verifier-key line; --since/--until are ISO 8601 on the host time (inclusive).\n"
    "--json writes one object per line: seq, time, kind, study, actor, refs, meaning, body,\n"
    "leaf (base64 of the exact entry bytes), leaf_hash, and more.\n";

static const char *
body_state_name(int s)
{
    /* [VER-8] missing is not withheld: absent without an erasure record is "missing" */
    return s == LDG_BODY_OK         ? "ok"
           : s == LDG_BODY_ERASED   ? "erased"
           : s == LDG_BODY_WITHHELD ? "missing"
                                    : "mismatch";
}

static json_t *
record_json(const ldg_record *r)
{
    char t[40], ct[40], line[LDG_VKEY_MAX];
    ldg_time_format((int64_t)r->host_time_ns, 0, 1, t);
    ldg_time_format(r->time_ns, r->tz_min, 0, ct);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(o, "time", json_string(t));
    if (r->has_clock) {
        /* [FMT-3] the host clock read earlier; the ledger's time was held */
        char hc[40];
        ldg_time_format((int64_t)r->clock_ns, 0, 1, hc);
        json_object_set_new(o, "host_clock", json_string(hc));
    }
    json_object_set_new(o, "kind", json_string(r->kind));
    json_object_set_new(o, "study", json_string(r->study));
    json_t *a = json_object();
    if (r->signer.id[0] && ldg_vkey_format(r->signer.id, r->signer.pub, line, NULL) == LDG_OK)
        json_object_set_new(a, "key", json_string(line));
    json_object_set_new(a, "pub", tool_b64_json(r->actor, LDG_PUB_BYTES));
    json_object_set_new(a, "id", json_string(r->signer.id));
    json_object_set_new(a, "name", r->signer.name ? json_string(r->signer.name) : json_null());
    json_object_set_new(a, "org", r->signer.org ? json_string(r->signer.org) : json_null());
    json_object_set_new(a, "roles", r->signer.roles ? json_string(r->signer.roles) : json_null());
    json_object_set_new(o, "actor", a);
    json_t *refs = json_array();
    for (size_t i = 0; i < r->nrefs; i++) {
        json_t *ref = json_object();
        json_object_set_new(
            ref, "seq",
            r->ref_seqs[i] == UINT64_MAX ? json_null() : json_integer((json_int_t)r->ref_seqs[i]));
        json_object_set_new(ref, "hash", tool_b64_json(r->refs[i], LDG_HASH_BYTES));
        json_array_append_new(refs, ref);
    }
    json_object_set_new(o, "refs", refs);
    json_object_set_new(o, "meaning", r->meaning ? json_string(r->meaning) : json_null());
    json_object_set_new(o, "reason", r->reason ? json_string(r->reason) : json_null());
    json_object_set_new(o, "claimed_time", json_string(ct));
    json_object_set_new(o, "tz_offset_minutes", json_integer(r->tz_min));
    json_t *body = NULL;
    if (r->body)
        body = json_loadb(r->body, r->body_len, 0, NULL);
    json_object_set_new(o, "body", body ? body : json_null());
    json_object_set_new(o, "body_status", json_string(body_state_name(r->body_state)));
    if (r->body_state == LDG_BODY_ERASED)
        json_object_set_new(o, "erased_by", json_integer((json_int_t)r->erased_by));
    if (r->has_observed) {
        json_t *ob = json_object();
        json_object_set_new(ob, "size", json_integer((json_int_t)r->observed_size));
        json_object_set_new(ob, "head", tool_b64_json(r->observed_head, LDG_HASH_BYTES));
        json_object_set_new(o, "observed", ob);
    }
    if (r->has_key) {
        json_t *k = json_object();
        json_object_set_new(k, "pub", tool_b64_json(r->key.pub, LDG_PUB_BYTES));
        if (r->key.name) {
            if (ldg_vkey_format(r->key.id, r->key.pub, line, NULL) == LDG_OK)
                json_object_set_new(k, "key", json_string(line));
            json_object_set_new(k, "name", json_string(r->key.name));
            json_object_set_new(k, "org", json_string(r->key.org));
            json_object_set_new(k, "roles", json_string(r->key.roles));
        }
        json_object_set_new(o, "subject_key", k);
    }
    if (r->origin)
        json_object_set_new(o, "origin", json_string(r->origin));
    json_object_set_new(o, "prev", tool_b64_json(r->prev, LDG_HASH_BYTES));
    json_object_set_new(o, "signature", tool_b64_json(r->sig, LDG_SIG_BYTES));
    json_object_set_new(o, "leaf", tool_b64_json(r->entry, r->entry_len));
    json_object_set_new(o, "leaf_hash", tool_b64_json(r->leaf_hash, LDG_HASH_BYTES));
    return o;
}

static int
print_json(const ldg_record *r)
{
    return tool_print_json(record_json(r));
}

/* The record's subject as every display picks it (ldg_record_subject), escaped; NULL if none. */
static char *
subject_of(const ldg_record *r)
{
    char *raw = ldg_record_subject(r);
    char *out = raw ? tool_printable(raw) : NULL;
    free(raw);
    return out;
}

static void
print_human(const ldg_record *r, bool full)
{
    char t[40], ct[40], hx[65];
    ldg_time_format((int64_t)r->host_time_ns, 0, 1, t);
    t[19] = '\0'; /* seconds are enough on one line; --json has nanoseconds */
    ldg_time_format(r->time_ns, r->tz_min, 0, ct);
    char *subj = subject_of(r), erased[48];
    snprintf(erased, sizeof erased, "[body erased by #%llu]", (unsigned long long)r->erased_by);
    printf("#%-6llu %sZ  %-13s %-12s %s (%s)%s%s  %s\n", (unsigned long long)r->seq, t,
           em_t(r->kind), r->study[0] ? em_t(r->study) : "-",
           r->signer.name ? em_t(r->signer.name) : "(unregistered key)",
           r->signer.org ? em_t(r->signer.org) : "?", r->meaning ? "  meaning=" : "",
           em_t(r->meaning),
           subj                                 ? subj
           : r->body_state == LDG_BODY_ERASED   ? erased
           : r->body_state == LDG_BODY_WITHHELD ? "[BODY MISSING: run ldg verify]"
           : r->body_state == LDG_BODY_MISMATCH ? "[BODY DOES NOT MATCH: run ldg verify]"
                                                : "");
    free(subj);
    if (!full)
        return;
    char off[8];
    tool_utc_offset(r->tz_min, off);
    printf("  claimed time  %s (UTC offset %s)\n", ct, off);
    if (r->has_clock) {
        char hc[40];
        ldg_time_format((int64_t)r->clock_ns, 0, 1, hc);
        printf("  host clock    %s: behind the ledger's time, which was held (ldg verify warns)\n",
               hc);
    }
    printf("  signer        %s, %s, roles %s, key %s\n",
           r->signer.name ? em_t(r->signer.name) : "(unregistered)",
           r->signer.org ? em_t(r->signer.org) : "?", r->signer.roles ? em_t(r->signer.roles) : "?",
           r->signer.id[0] ? em_t(r->signer.id) : "?");
    if (r->reason) {
        char *reason = tool_printable(r->reason);
        printf("  reason        %s\n", reason ? reason : "?");
        free(reason);
    }
    for (size_t i = 0; i < r->nrefs; i++) {
        char b[64];
        tool_b64(r->refs[i], LDG_HASH_BYTES, b, sizeof b);
        if (r->ref_seqs[i] != UINT64_MAX)
            printf("  ref           #%llu %s\n", (unsigned long long)r->ref_seqs[i], b);
        else
            printf("  ref           (unknown) %s\n", b);
    }
    if (r->has_observed)
        printf("  observed      chain of %llu entries\n", (unsigned long long)r->observed_size);
    if (r->has_key && r->key.name)
        printf("  subject key   %s: %s, %s, roles %s\n", em_t(r->key.id), em_t(r->key.name),
               em_t(r->key.org), em_t(r->key.roles));
    else if (r->has_key) {
        char b[64];
        tool_b64(r->key.pub, LDG_PUB_BYTES, b, sizeof b);
        printf("  subject key   %s\n", b);
    }
    if (r->origin)
        printf("  origin        %s\n", em_t(r->origin));
    for (int i = 0; i < LDG_HASH_BYTES; i++)
        snprintf(hx + 2 * i, 3, "%02x", r->leaf_hash[i]);
    printf("  leaf hash     %s\n", hx);
    if (r->body_state == LDG_BODY_OK) {
        char *body = tool_printable(r->body);
        printf("  body          %s\n", body ? body : "?");
        free(body);
    } else if (r->body_state == LDG_BODY_ERASED)
        printf("  body          [ERASED by entry %llu: see ldg show %llu]\n",
               (unsigned long long)r->erased_by, (unsigned long long)r->erased_by);
    else
        printf("  body          [%s]\n", r->body_state == LDG_BODY_WITHHELD
                                             ? "MISSING without an erasure record: run ldg verify"
                                             : "DOES NOT MATCH ITS COMMITMENT: run ldg verify");
}

int
cmd_show(int argc, char **argv)
{
    const char *dir = NULL, *seqs = NULL;
    bool json = false;
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir), OPT_FLAG("--json", &json), OPT_END};
    int prc = opt_parse(argc, argv, 1, specs, show_help, &seqs, 1);
    if (prc != EXIT_OK)
        return prc < 0 ? EXIT_OK : prc;
    uint64_t seq;
    if (!seqs || !parse_u64(seqs, &seq))
        return tool_usage("expected a record number: ldg show SEQ");
    ldg_ledger *l;
    int rc = tool_open_ledger(dir, LDG_OPEN_READONLY, &l);
    if (rc != EXIT_OK)
        return rc;
    ldg_record *r;
    ldg_err err;
    if (ldg_record_get(l, seq, &r, &err) != LDG_OK) {
        rc = tool_fail(&err);
    } else {
        if (json)
            rc = print_json(r);
        else
            print_human(r, true);
        ldg_record_free(r);
    }
    ldg_ledger_close(l);
    return rc;
}

struct logctx {
    bool json;
    int rc;
};

static int
log_one(void *ctx, const ldg_record *r)
{
    struct logctx *c = ctx;
    if (c->json)
        c->rc = print_json(r);
    else
        print_human(r, false);
    return c->rc != EXIT_OK;
}

int
cmd_log(int argc, char **argv)
{
    const char *dir = NULL, *since = NULL, *until = NULL;
    ldg_filter f = {0};
    bool json = false;
    const opt_spec specs[] = {OPT_VAL("--ledger", &dir),  OPT_VAL("--study", &f.study),
                              OPT_VAL("--kind", &f.kind), OPT_VAL("--actor", &f.actor),
                              OPT_VAL("--since", &since), OPT_VAL("--until", &until),
                              OPT_FLAG("--json", &json),  OPT_END};
    int prc = opt_parse(argc, argv, 1, specs, log_help, NULL, 0);
    if (prc != EXIT_OK)
        return prc < 0 ? EXIT_OK : prc;
    ldg_err err;
    if (since) {
        if (ldg_time_parse(since, &f.since_ns, NULL, &err) != LDG_OK)
            return tool_usage("--since: %s", err.msg);
        f.has_since = 1;
    }
    if (until) {
        if (ldg_time_parse(until, &f.until_ns, NULL, &err) != LDG_OK)
            return tool_usage("--until: %s", err.msg);
        /* A date alone means the whole day. */
        if (strlen(until) == 10)
            f.until_ns += 86400LL * 1000000000LL - 1;
        f.has_until = 1;
    }
    ldg_ledger *l;
    int rc = tool_open_ledger(dir, LDG_OPEN_READONLY, &l);
    if (rc != EXIT_OK)
        return rc;
    struct logctx c = {json, EXIT_OK};
    if (ldg_log_each(l, &f, log_one, &c, &err) != LDG_OK)
        rc = tool_fail(&err);
    else
        rc = c.rc;
    ldg_ledger_close(l);
    return rc;
}
