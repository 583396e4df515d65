/*
 * test_review.c - `ldg review`, the readiness report (spec/review.md; issue
 * 12, part 5), through the real binary.  One trail over three months of
 * 2025 is built with libfaketime setting the host time of each append, under
 * a signed communication plan: for each rule REV-n a record that raises it
 * and a clean control that does not; the KPIs against values computed here
 * by hand from the chosen times; the --json line format; --fail-on exit
 * codes; --as-of; --study; the HTML page (self-contained, with its SVG).
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define H 3600000000000LL /* one hour in ns */

#define AT(d, when, in, ...) must_at((d), (when), (in), (const char *const[]){__VA_ARGS__, NULL})

/* Runs a command at `when` that must succeed; returns the seq it printed first (appends). */
static long
must_at(const char *d, const char *when, const char *in, const char *const argv[])
{
    run_result r = ldg_at(d, when, in, argv);
    cr_assert_eq(r.status, 0, "%s %s at %s: %s", argv[0], argv[1] ? argv[1] : "", when, r.err);
    long seq = strtol(r.out, NULL, 10);
    run_free(&r);
    return seq;
}

#define REC(d, when, body, ...)                                                                    \
    AT((d), (when), (body), "append", __VA_ARGS__, "--body", "-")

static const char plan_s1[] =
    "{\"subject\":\"Communication plan S1 v1\",\"version\":\"1\","
    "\"parties\":[\"Acme CRO\",\"Helix Pharma\"],\"accept\":[\"Acme CRO\",\"Helix Pharma\"],"
    "\"levels\":[{\"id\":\"operational\",\"name\":\"Operational team\",\"members\":[{\"name\":"
    "\"Carla Rossi\",\"org\":\"Acme CRO\"}]},{\"id\":\"jsc\",\"name\":\"Joint steering "
    "committee\",\"members\":[{\"name\":\"Dr Sam Patel\",\"org\":\"Helix Pharma\"}]}],"
    "\"turnaround\":[{\"kind\":\"query\",\"hours\":48},{\"kind\":\"escalation\",\"hours\":24,"
    "\"respond\":\"Helix Pharma\"}],"
    "\"escalation\":[{\"from\":\"operational\",\"to\":\"jsc\",\"after_hours\":72}],"
    "\"approvals\":[{\"kind\":\"decision\",\"level\":\"jsc\",\"orgs\":[\"Helix Pharma\"]}],"
    "\"tolerance_hours\":24,\"gap_days\":14}";

/* The seqs of the trail, named by what each one is for. */
typedef struct trail {
    long plan1, plan1_ok;
    long q1, q1_ans, q2, q2_ans, q3, q3_ans, q3_close, q4, q5, esc_open, esc_open_ans, esc_closed,
        esc_close;
    long dev_bare, dev_capa, capa, dec_bare, dec_ok, dec_ok_appr, corr_specific, corr_generic;
    long back, within, forward, q6, q6_ans;
    long leaver_last, leaver_revoke, reenrol, claim_before, claim_after, dup_key, held, erase,
        erased;
    long s2_first, plan2, plan2_acro, plan2_help, ben_revoke, s2_query;
    long ben_add, ada_author;
} trail;

static void
key_add(const char *d, const char *when, const char *pub, const char *name, const char *org,
        const char *roles)
{
    AT(d, when, NULL, "key", "add", "--as", "admin.key", "--pub", pub, "--name", name, "--org", org,
       "--roles", roles);
}

/*
 * A key.add for a person who already has a key: the segregation-of-duties
 * policy [POL-15] wants the key record it supersedes or reinstates from, and why.
 */
static void
key_add_linked(const char *d, const char *when, const char *pub, const char *name,
               const char *org, const char *roles, const char *opt, long seq)
{
    char s[32];
    snprintf(s, sizeof s, "%ld", seq);
    AT(d, when, NULL, "key", "add", "--as", "admin.key", "--pub", pub, "--name", name, "--org",
       org, "--roles", roles, opt, s, "--reason", "Back from leave");
}

static long
size_now(const char *d)
{
    long n = ledger_size(d);
    cr_assert_gt(n, 0);
    return n;
}

/* Builds the trail in d (about 50 appends, each under its own host time). */
static void
build_trail(const char *d, trail *t)
{
    if (access(FAKETIME_LIB, R_OK) != 0)
        cr_skip_test("libfaketime is not installed (make deps installs it)");
    static const char *const names[] = {"log",   "admin",  "author", "decider", "approver",
                                        "croapp", "leaver", "leaver2", "quinn2", "eraser",
                                        "adaauthor", "rob"};
    fixture_begin();
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        run_result r = LDG(d, NULL, "keygen", "--name", names[i], "--out", names[i],
                           "--unencrypted");
        cr_assert_eq(r.status, 0, "keygen: %s", r.err);
        run_free(&r);
    }
    fixture_end();
    const char *d0 = "2025-01-01 08:00:00";
    AT(d, d0, NULL, "init", "--origin", "test.example/ledger", "--log-key", "log.key", "--admin",
       "admin.pub", "--name", "Ada Admin", "--org", "Acme CRO");
    key_add(d, d0, "author.pub", "Carla Rossi", "Acme CRO", "author");        /* 1 */
    key_add(d, d0, "decider.pub", "Dr Sam Patel", "Helix Pharma", "author,decider"); /* 2 */
    key_add(d, d0, "approver.pub", "Quinn Avery", "Helix Pharma", "approver"); /* 3 */
    key_add(d, d0, "croapp.pub", "Ben Okafor", "Acme CRO", "approver");       /* 4 */
    t->ben_add = 4;
    key_add(d, d0, "leaver.pub", "Lee Leaver", "Acme CRO", "author");         /* 5 */
    key_add(d, d0, "eraser.pub", "Eve Eraser", "Helix Pharma", "eraser");     /* 6 */
    /* the admin's own content key: policy allows one beside the admin key [POL-15], registered
       by a second admin, another person: no one registers a key for themselves [POL-16] */
    key_add(d, d0, "rob.pub", "Rob Root", "Acme CRO", "admin"); /* 7 */
    t->ada_author = AT(d, d0, NULL, "key", "add", "--as", "rob.key", "--pub", "adaauthor.pub",
                       "--name", "Ada Admin", "--org", "Acme CRO", "--roles", "author"); /* 8 */
    cr_assert_eq(t->ada_author, 8);
    cr_assert_eq(size_now(d), 9);

    /* S1: the plan, approved by Helix Pharma only [REV-3 raised] */
    t->plan1 = REC(d, "2025-01-02 09:00:00", plan_s1, "--as", "decider.key", "--kind", "plan",
                   "--study", "S1");
    char ref[32];
    snprintf(ref, sizeof ref, "%ld", t->plan1);
    t->plan1_ok = REC(d, "2025-01-02 10:00:00", "{\"subject\":\"Plan accepted\"}", "--as",
                      "approver.key", "--kind", "approval", "--meaning", "approval", "--study",
                      "S1", "--ref", ref);
    const char *qbody = "{\"subject\":\"Query\",\"level\":\"operational\"}";
#define Q(when) REC(d, when, qbody, "--as", "author.key", "--kind", "query", "--study", "S1")
#define ANS(when, who, seq, body)                                                                  \
    (snprintf(ref, sizeof ref, "%ld", (seq)),                                                      \
     REC(d, when, body, "--as", who, "--kind", "response", "--study", "S1", "--ref", ref))
    /* Q1 answered in 24 h (on time); Q2 in 71 h (overdue, REV-4); Q3 in 12 h, closed at 24 h */
    t->q1 = Q("2025-01-06 09:00:00");
    t->q1_ans = ANS("2025-01-07 09:00:00", "decider.key", t->q1, "{\"subject\":\"Answer\"}");
    t->q2 = Q("2025-01-08 09:00:00");
    t->q2_ans = ANS("2025-01-11 08:00:00", "decider.key", t->q2, "{\"subject\":\"Late\"}");
    t->q3 = Q("2025-01-13 09:00:00");
    t->q3_ans = ANS("2025-01-13 21:00:00", "decider.key", t->q3, "{\"subject\":\"Answer\"}");
    t->q3_close = ANS("2025-01-14 09:00:00", "author.key", t->q3, "{\"closes\":true}");
    /* Q4 never answered nor escalated (REV-5, REV-7); Q5 never answered, escalated */
    t->q4 = Q("2025-01-20 09:00:00");
    t->q5 = Q("2025-01-22 09:00:00");
    snprintf(ref, sizeof ref, "%ld", t->q5);
    const char *ebody = "{\"from_level\":\"operational\",\"to_level\":\"jsc\",\"level\":\"jsc\"}";
    t->esc_open = REC(d, "2025-01-24 09:00:00", ebody, "--as", "author.key", "--kind",
                      "escalation", "--study", "S1", "--ref", ref);
    t->esc_open_ans =
        ANS("2025-01-24 15:00:00", "decider.key", t->esc_open, "{\"subject\":\"Looking\"}");
    snprintf(ref, sizeof ref, "%ld", t->q5);
    t->esc_closed = REC(d, "2025-02-03 09:00:00", ebody, "--as", "author.key", "--kind",
                        "escalation", "--study", "S1", "--ref", ref);
    t->esc_close =
        ANS("2025-02-03 12:00:00", "decider.key", t->esc_closed, "{\"closes\":true}");
    /* deviations: one bare (REV-8), one with its CAPA */
    t->dev_bare = REC(d, "2025-02-05 09:00:00", "{\"severity\":\"major\"}", "--as", "author.key",
                      "--kind", "deviation", "--study", "S1");
    t->dev_capa = REC(d, "2025-02-05 10:00:00", "{\"severity\":\"minor\"}", "--as", "author.key",
                      "--kind", "deviation", "--study", "S1");
    snprintf(ref, sizeof ref, "%ld", t->dev_capa);
    t->capa = REC(d, "2025-02-06 09:00:00", "{\"capa\":true,\"owner\":\"Carla Rossi\"}", "--as",
                  "author.key", "--kind", "action", "--study", "S1", "--ref", ref);
    /* decisions at jsc: one without Helix Pharma's approval (REV-9), one approved */
    t->dec_bare = REC(d, "2025-02-10 09:00:00", "{\"level\":\"jsc\"}", "--as", "decider.key",
                      "--kind", "decision", "--study", "S1");
    t->dec_ok = REC(d, "2025-02-10 10:00:00", "{\"level\":\"jsc\"}", "--as", "decider.key",
                    "--kind", "decision", "--study", "S1");
    snprintf(ref, sizeof ref, "%ld", t->dec_ok);
    t->dec_ok_appr = REC(d, "2025-02-10 11:00:00", "{}", "--as", "approver.key", "--kind",
                         "approval", "--meaning", "approval", "--study", "S1", "--ref", ref);
    /* the approved decision corrected afterwards (REV-10), with a reason that says why */
    t->corr_specific = REC(d, "2025-02-11 09:00:00", "{}", "--as", "decider.key", "--kind",
                           "correction", "--study", "S1", "--ref", ref, "--reason",
                           "Dose changed from 5 mg to 2.5 mg after the DSMB letter");
    /* a correction of a record nobody approved, with a reason that says nothing (REV-18) */
    snprintf(ref, sizeof ref, "%ld", t->q1);
    t->corr_generic = REC(d, "2025-02-11 10:00:00", "{}", "--as", "author.key", "--kind",
                          "correction", "--study", "S1", "--ref", ref, "--reason", "typo");
    /* claimed times: 42 days back, 2 h back (within 24 h), 3 days ahead (REV-15) */
    t->back = REC(d, "2025-02-12 09:00:00", "{}", "--as", "author.key", "--kind", "communication",
                  "--study", "S1", "--time", "2025-01-01T09:00:00Z");
    t->within = REC(d, "2025-02-12 10:00:00", "{}", "--as", "author.key", "--kind",
                    "communication", "--study", "S1", "--time", "2025-02-12T08:00:00Z");
    t->forward = REC(d, "2025-02-12 11:00:00", "{}", "--as", "author.key", "--kind",
                     "communication", "--study", "S1", "--time", "2025-02-15T11:00:00Z");
    /* Q6: due earlier by its body (24 h) than by the plan (48 h); answered at 48 h: REV-4 */
    t->q6 = REC(d, "2025-02-12 12:00:00",
                "{\"level\":\"operational\",\"due\":\"2025-02-13T12:00:00Z\"}", "--as",
                "author.key", "--kind", "query", "--study", "S1");
    t->q6_ans = ANS("2025-02-14 12:00:00", "decider.key", t->q6, "{}");
    /* 24 days of silence in S1 (REV-17), ended by the leaver's last record, 6 h before the
     * revocation (REV-14); re-enrolled (REV-12), then claiming a time before it (REV-13) */
    t->leaver_last = REC(d, "2025-03-10 09:00:00", "{}", "--as", "leaver.key", "--kind",
                         "communication", "--study", "S1");
    AT(d, "2025-03-10 15:00:00", NULL, "key", "revoke", "--as", "admin.key", "--pub",
       "leaver.pub", "--reason", "Left the company");
    t->leaver_revoke = size_now(d) - 1;
    key_add_linked(d, "2025-03-11 09:00:00", "leaver2.pub", "Lee Leaver", "Acme CRO", "author",
                   "--reinstates", t->leaver_revoke);
    t->reenrol = size_now(d) - 1;
    t->claim_before = REC(d, "2025-03-12 09:00:00", "{}", "--as", "leaver2.key", "--kind",
                          "communication", "--study", "S1", "--time", "2025-03-09T09:00:00Z");
    t->claim_after = REC(d, "2025-03-12 10:00:00", "{\"subject\":\"personal data\"}", "--as",
                         "leaver2.key", "--kind", "communication", "--study", "S1");
    /* a second active key for Quinn Avery (REV-11) */
    key_add_linked(d, "2025-03-13 09:00:00", "quinn2.pub", "Quinn Avery", "Helix Pharma",
                   "approver", "--supersedes", 3);
    t->dup_key = size_now(d) - 1;
    /* the host clock set back 12 days: the time is held and recorded (REV-16) */
    t->held = REC(d, "2025-03-01 09:00:00", "{}", "--as", "author.key", "--kind", "communication",
                  "--study", "S1");
    /* an erased body (REV-19) */
    snprintf(ref, sizeof ref, "%ld", t->claim_after);
    AT(d, "2025-03-14 09:00:00", NULL, "erase", ref, "--as", "eraser.key", "--reason",
       "Personal data of a subject", "--legal-basis", "GDPR Art. 17(1)(b)");
    t->erased = t->claim_after;
    t->erase = size_now(d) - 1;
    /* S2: activity before any plan (REV-2), then a plan both organisations accept */
    t->s2_first = REC(d, "2025-03-14 10:00:00", "{}", "--as", "author.key", "--kind",
                      "communication", "--study", "S2");
    t->plan2 = REC(d, "2025-03-14 11:00:00", plan_s1, "--as", "decider.key", "--kind", "plan",
                   "--study", "S2");
    snprintf(ref, sizeof ref, "%ld", t->plan2);
    t->plan2_help = REC(d, "2025-03-14 12:00:00", "{}", "--as", "approver.key", "--kind",
                        "approval", "--meaning", "approval", "--study", "S2", "--ref", ref);
    t->plan2_acro = REC(d, "2025-03-14 13:00:00", "{}", "--as", "croapp.key", "--kind",
                        "approval", "--meaning", "approval", "--study", "S2", "--ref", ref);
    /* Ben's key revoked six days after his last record: not "right before" */
    AT(d, "2025-03-20 09:00:00", NULL, "key", "revoke", "--as", "admin.key", "--pub", "croapp.pub",
       "--reason", "Moved to another project");
    t->ben_revoke = size_now(d) - 1;
    t->s2_query = REC(d, "2025-03-21 09:00:00", "{\"subject\":\"S2 query\"}", "--as",
                      "author.key", "--kind", "query", "--study", "S2");
#undef Q
#undef ANS
}

#define AS_OF "2025-03-31T00:00:00Z"

/* The --json line of the finding of `rule` whose first record is seq (NULL: none). */
static const char *
finding(const char *out, const char *rule, long seq)
{
    char r[64], s1[64], s2[64];
    snprintf(r, sizeof r, "\"rule\":\"%s\",", rule);
    snprintf(s1, sizeof s1, "\"seqs\":[%ld,", seq);
    snprintf(s2, sizeof s2, "\"seqs\":[%ld]", seq);
    for (const char *p = out; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[2048];
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = '\0';
            if (strstr(line, r) && (seq < 0 || strstr(line, s1) || strstr(line, s2)))
                return p;
        }
        p = e ? e + 1 : NULL;
    }
    return NULL;
}

static int
count_rule(const char *out, const char *rule)
{
    char r[64];
    snprintf(r, sizeof r, "\"rule\":\"%s\",", rule);
    int n = 0;
    for (const char *p = out; (p = strstr(p, r)) != NULL; p += strlen(r))
        n++;
    return n;
}

#define RAISED(out, rule, seq)                                                                     \
    cr_expect_not_null(finding((out), (rule), (seq)), "%s not raised for #%ld", (rule), (long)(seq))
#define CLEAN(out, rule, seq)                                                                      \
    cr_expect_null(finding((out), (rule), (seq)), "%s raised for the control #%ld", (rule),        \
                   (long)(seq))

Test(review, each_rule_raised_and_its_control_clean, .timeout = 120, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    trail t;
    build_trail(d, &t);
    run_result r = LDG(d, NULL, "review", "--json", "--as-of", AS_OF);
    cr_assert_eq(r.status, 1, "majors were found: exit 1; got %d: %s", r.status, r.err);
    const char *o = r.out;
    /* REV-1: the trail is intact */
    cr_expect_eq(count_rule(o, "REV-1"), 0, "%s", o);
    /* REV-2: S2 had records before its plan; S1 had none */
    RAISED(o, "REV-2", t.s2_first);
    cr_expect_eq(count_rule(o, "REV-2"), 1);
    /* REV-3: plan 1 approved by Helix Pharma only; plan 2 by both */
    RAISED(o, "REV-3", t.plan1);
    CLEAN(o, "REV-3", t.plan2);
    cr_expect(strstr(finding(o, "REV-3", t.plan1), "Acme CRO") != NULL);
    /* REV-4: Q2 answered after 71 h, Q6 after its body's due; Q1, Q3 in time */
    RAISED(o, "REV-4", t.q2);
    RAISED(o, "REV-4", t.q6);
    CLEAN(o, "REV-4", t.q1);
    CLEAN(o, "REV-4", t.q3);
    CLEAN(o, "REV-4", t.esc_open);
    /* REV-5: Q4, Q5 and the S2 query were never answered; the rest were */
    RAISED(o, "REV-5", t.q4);
    RAISED(o, "REV-5", t.q5);
    RAISED(o, "REV-5", t.s2_query);
    CLEAN(o, "REV-5", t.q1);
    CLEAN(o, "REV-5", t.q2);
    /* REV-6: one escalation stays open, the other was closed */
    RAISED(o, "REV-6", t.esc_open);
    CLEAN(o, "REV-6", t.esc_closed);
    /* REV-7: Q4 sat at the operational level past 72 h unescalated; Q5 was escalated; Q2
     * was answered within 72 h */
    RAISED(o, "REV-7", t.q4);
    CLEAN(o, "REV-7", t.q5);
    CLEAN(o, "REV-7", t.q2);
    /* REV-8 */
    RAISED(o, "REV-8", t.dev_bare);
    CLEAN(o, "REV-8", t.dev_capa);
    /* REV-9 */
    RAISED(o, "REV-9", t.dec_bare);
    CLEAN(o, "REV-9", t.dec_ok);
    /* REV-10: the approval of the corrected decision; the approvals of the plans stand */
    RAISED(o, "REV-10", t.dec_ok_appr);
    CLEAN(o, "REV-10", t.plan1_ok);
    cr_expect_eq(count_rule(o, "REV-10"), 1);
    /* REV-11: Quinn Avery's second active key; Ben Okafor's first key is no duplicate */
    RAISED(o, "REV-11", t.dup_key);
    CLEAN(o, "REV-11", t.ben_add);
    CLEAN(o, "REV-11", t.ada_author);
    cr_expect_eq(count_rule(o, "REV-11"), 1);
    /* REV-12 */
    RAISED(o, "REV-12", t.reenrol);
    CLEAN(o, "REV-12", t.dup_key);
    /* REV-13: the re-enrolled leaver claims a time before the old key's revocation */
    RAISED(o, "REV-13", t.claim_before);
    CLEAN(o, "REV-13", t.claim_after);
    /* REV-14: the leaver's last record 6 h before revocation; Ben's six days before */
    RAISED(o, "REV-14", t.leaver_last);
    cr_expect_eq(count_rule(o, "REV-14"), 1);
    /* REV-15 both ways; 2 h is within the plan's 24 h */
    RAISED(o, "REV-15", t.back);
    RAISED(o, "REV-15", t.forward);
    CLEAN(o, "REV-15", t.within);
    cr_expect(strstr(finding(o, "REV-15", t.back), "back-dated") != NULL);
    cr_expect(strstr(finding(o, "REV-15", t.forward), "forward-dated") != NULL);
    /* REV-16: the one entry whose host time was held */
    RAISED(o, "REV-16", t.held);
    cr_expect_eq(count_rule(o, "REV-16"), 1);
    /* REV-17: S1 was quiet for 24 days before the leaver's last record, never 14 before */
    RAISED(o, "REV-17", t.leaver_last);
    cr_expect_eq(count_rule(o, "REV-17"), 1);
    /* REV-18: "typo" says nothing; the dose change says what and why */
    RAISED(o, "REV-18", t.corr_generic);
    CLEAN(o, "REV-18", t.corr_specific);
    /* REV-19: the erased body, with the erasure record */
    RAISED(o, "REV-19", t.erased);
    cr_expect_eq(count_rule(o, "REV-19"), 1);
    char s[64];
    snprintf(s, sizeof s, "\"seqs\":[%ld,%ld]", t.erased, t.erase);
    cr_expect(strstr(finding(o, "REV-19", t.erased), s) != NULL);
    cr_expect_eq(count_rule(o, "REV-20"), 0);
    run_free(&r);
}

/* Hand-computed KPIs of the trail (response times from the chosen host times). */
static void
expect_kpi(const char *out, const char *month, const char *org, const char *level,
           const char *want)
{
    char key[256];
    snprintf(key, sizeof key, "{\"month\":\"%s\",\"org\":\"%s\",\"level\":\"%s\",", month, org,
             level);
    const char *g = strstr(out, key);
    cr_assert_not_null(g, "no KPI group %s in %s", key, out);
    const char *end = strchr(g, '}');
    cr_assert_not_null(end);
    char grp[1024];
    size_t n = (size_t)(end - g) < sizeof grp - 1 ? (size_t)(end - g) : sizeof grp - 1;
    memcpy(grp, g, n);
    grp[n] = '\0';
    /* every "name":value of want is in the group */
    char w[512];
    snprintf(w, sizeof w, "%s", want);
    for (char *tok = strtok(w, ";"); tok; tok = strtok(NULL, ";"))
        cr_expect(strstr(grp, tok) != NULL, "%s: want %s in %s", key, tok, grp);
}

Test(review, kpis_json_and_html_match_hand_computed_values, .timeout = 120,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    trail t;
    build_trail(d, &t);
    run_result r = LDG(d, NULL, "review", "--json", "--as-of", AS_OF, "-o", "review.html");
    cr_assert_eq(r.status, 1, "%s", r.err);
    /*
     * January, Helix Pharma due to answer, operational level: Q1..Q5 raised; answered in
     * 24 h, 71 h and 12 h (sorted 12, 24, 71): median = rank ceil(0.5 * 3) = 2 -> 24 h,
     * p90 = rank ceil(0.9 * 3) = 3 -> 71 h; on time 2 of 5 (40 %); open 2 (Q4, Q5); Q3
     * closed 24 h after it was asked.
     */
    char want[512];
    snprintf(want, sizeof want,
             "\"items\":5,;\"answered\":3,;\"on_time\":2,;\"open\":2,;"
             "\"response_median_ns\":%lld,;\"response_p90_ns\":%lld,;\"queries_closed\":1,;"
             "\"query_closure_median_ns\":%lld,",
             24 * H, 71 * H, 24 * H);
    expect_kpi(r.out, "2025-01", "Helix Pharma", "operational", want);
    /* the escalation of January at jsc: answered in 6 h, still open; February's in 3 h, closed */
    snprintf(want, sizeof want,
             "\"items\":1,;\"answered\":1,;\"on_time\":1,;\"response_median_ns\":%lld,;"
             "\"escalations_raised\":1,;\"escalations_closed\":0",
             6 * H);
    expect_kpi(r.out, "2025-01", "Helix Pharma", "jsc", want);
    snprintf(want, sizeof want,
             "\"items\":1,;\"answered\":1,;\"on_time\":1,;\"response_median_ns\":%lld,;"
             "\"escalations_raised\":1,;\"escalations_closed\":1",
             3 * H);
    expect_kpi(r.out, "2025-02", "Helix Pharma", "jsc", want);
    /* Q6: answered in 48 h, after its body's due: not on time */
    snprintf(want, sizeof want, "\"items\":1,;\"answered\":1,;\"on_time\":0,;"
                                "\"response_median_ns\":%lld,", 48 * H);
    expect_kpi(r.out, "2025-02", "Helix Pharma", "operational", want);
    /* S2's query: no level, open */
    expect_kpi(r.out, "2025-03", "Helix Pharma", "", "\"items\":1,;\"answered\":0,;\"open\":1,");
    /*
     * All together: 9 items, 6 answered in 3, 6, 12, 24, 48, 71 h: median rank 3 -> 12 h,
     * p90 rank ceil(5.4) = 6 -> 71 h; 4 on time; 3 open.
     */
    const char *last = strrchr(r.out, '\n');
    while (last && last > r.out && last[-1] != '\n')
        last--;
    const char *sum = strstr(r.out, "{\"summary\":");
    cr_assert_not_null(sum, "%s", r.out);
    snprintf(want, sizeof want,
             "\"kpis\":{\"items\":9,\"answered\":6,\"on_time\":4,\"open\":3,"
             "\"response_median_ns\":%lld,"
             "\"response_p90_ns\":%lld,",
             12 * H, 71 * H);
    cr_expect(strstr(sum, want) != NULL, "want %s in %s", want, sum);
    /* --json: every line one object; findings first, the summary last, exactly once */
    int lines = 0, findings = 0;
    for (const char *p = r.out; *p;) {
        const char *e = strchr(p, '\n');
        cr_assert_not_null(e, "the output ends with a newline");
        cr_expect_eq(*p, '{');
        cr_expect_eq(e[-1], '}');
        if (strncmp(p, "{\"rule\":\"REV-", 13) == 0) {
            findings++;
            cr_expect_eq(lines, findings - 1, "findings come before the summary");
            cr_expect(strstr(p, "\"severity\":\"") && strstr(p, "\"why\":\"") &&
                      strstr(p, "\"seqs\":[") && strstr(p, "\"study\":"));
        }
        lines++;
        p = e + 1;
    }
    cr_expect_eq(lines, findings + 1);
    cr_expect_eq(strncmp(sum, "{\"summary\":\"failed\"", 19), 0);
    /* the HTML page: self-contained, its SVG charts, every finding's rule */
    size_t len;
    char *html = read_in(d, "review.html", &len);
    cr_expect(strstr(html, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
    cr_expect(strstr(html, "<rect ") != NULL && strstr(html, "<polyline ") != NULL);
    cr_expect(strstr(html, "<script") == NULL && strstr(html, "src=") == NULL &&
              strstr(html, "href=\"http") == NULL && strstr(html, "@import") == NULL);
    cr_expect(strstr(html, "default-src 'none'") != NULL);
    cr_expect(strstr(html, ">REV-13</td>") != NULL && strstr(html, ">REV-3</td>") != NULL);
    cr_expect(strstr(html, "Helix Pharma") != NULL && strstr(html, "2025-01") != NULL);
    free(html);
    run_free(&r);
}

Test(review, fail_on_as_of_and_study, .timeout = 120, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    trail t;
    build_trail(d, &t);
    /* --fail-on: critical findings (REV-13) are there: exit 1 at any level */
    static const char *const levels[] = {"info", "warning", "major", "critical"};
    for (int i = 0; i < 4; i++) {
        run_result r = LDG(d, NULL, "review", "--as-of", AS_OF, "--fail-on", levels[i]);
        cr_expect_eq(r.status, 1, "--fail-on %s: %d", levels[i], r.status);
        run_free(&r);
    }
    /* before the re-enrolment, nothing critical was there yet: --fail-on critical passes */
    run_result r = LDG(d, NULL, "review", "--as-of", "2025-03-10T12:00:00Z", "--fail-on",
                       "critical", "--json");
    cr_expect_eq(r.status, 0, "%s", r.out);
    cr_expect_eq(count_rule(r.out, "REV-13"), 0);
    cr_expect(strstr(r.out, "\"summary\":\"passed\"") != NULL);
    run_free(&r);
    r = LDG(d, NULL, "review", "--as-of", "2025-03-10T12:00:00Z", "--fail-on", "major");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "REVIEW FAILED") != NULL, "%s", r.out);
    run_free(&r);
    /* --as-of 21 January: Q4 (20 January) is not yet due, nor escalated late; Q2 was already
     * late; February's deviation is not there yet; January's group has Q1..Q4, one open */
    r = LDG(d, NULL, "review", "--json", "--as-of", "2025-01-21T00:00:00Z");
    CLEAN(r.out, "REV-5", t.q4);
    CLEAN(r.out, "REV-7", t.q4);
    RAISED(r.out, "REV-4", t.q2);
    CLEAN(r.out, "REV-8", t.dev_bare);
    cr_expect_eq(count_rule(r.out, "REV-6"), 0);
    expect_kpi(r.out, "2025-01", "Helix Pharma", "operational",
               "\"items\":4,;\"answered\":3,;\"open\":1,");
    cr_expect(strstr(r.out, "\"as_of\":\"2025-01-21T00:00:00.000000000Z\"") != NULL, "%s", r.out);
    run_free(&r);
    /* --study S2: its own findings and the ledger-wide key rules; nothing of S1 */
    r = LDG(d, NULL, "review", "--json", "--as-of", AS_OF, "--study", "S2");
    RAISED(r.out, "REV-2", t.s2_first);
    RAISED(r.out, "REV-5", t.s2_query);
    RAISED(r.out, "REV-11", t.dup_key);
    CLEAN(r.out, "REV-5", t.q4);
    CLEAN(r.out, "REV-3", t.plan1);
    cr_expect_eq(count_rule(r.out, "REV-13"), 0);
    cr_expect_eq(count_rule(r.out, "REV-16"), 0);
    cr_expect_eq(count_rule(r.out, "REV-4"), 0);
    cr_expect(strstr(r.out, "\"study\":\"S1\"") == NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\"analysed\":5,") != NULL, "%s", r.out);
    run_free(&r);
}

Test(review, bad_usage_is_exit_2_and_writes_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    static const char *const bad[][3] = {{"--fail-on", "severe", NULL},
                                         {"--as-of", "yesterday", NULL},
                                         {"--bogus", NULL, NULL},
                                         {"--qa", "x.pub", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run_result r = bad[i][1] ? LDG(d, NULL, "review", bad[i][0], bad[i][1], "-o", "r.html")
                                 : LDG(d, NULL, "review", bad[i][0], "-o", "r.html");
        cr_expect_eq(r.status, 2, "%s: %d %s", bad[i][0], r.status, r.err);
        cr_expect(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "one line: %s", r.err);
        cr_expect_eq(r.out[0], '\0');
        run_free(&r);
        char p[600];
        snprintf(p, sizeof p, "%s/r.html", d);
        cr_expect_neq(access(p, F_OK), 0, "nothing written");
    }
    run_result r = LDG(d, NULL, "review", "--help");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--fail-on LEVEL") != NULL);
    run_free(&r);
}

Test(review, integrity_failure_is_critical_and_fails_at_any_level, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    long seq = APPEND(d, "{\"subject\":\"to lose\"}", "--as", "author.key", "--kind",
                      "communication", "--study", "S1");
    /* clean first: no REV-1, and --fail-on critical passes */
    run_result r = LDG(d, NULL, "review", "--json", "--fail-on", "critical");
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    cr_expect_eq(count_rule(r.out, "REV-1"), 0);
    cr_expect(strstr(r.out, "\"intact\":true") != NULL);
    run_free(&r);
    /* the body goes missing without an erasure record */
    uint8_t k[8];
    seq_key((uint64_t)seq, k);
    cr_assert_eq(lmdb_del_key(d, "bodies", k, 8), 0);
    r = LDG(d, NULL, "review", "--json", "--fail-on", "critical", "-o", "r.html");
    cr_expect_eq(r.status, 1, "%s %s", r.out, r.err);
    cr_expect_not_null(finding(r.out, "REV-1", seq), "%s", r.out);
    cr_expect_not_null(finding(r.out, "REV-20", seq), "%s", r.out);
    cr_expect(strstr(r.out, "\"severity\":\"critical\"") != NULL);
    cr_expect(strstr(r.out, "\"intact\":false") != NULL);
    run_free(&r);
    size_t len;
    char *html = read_in(d, "r.html", &len);
    cr_expect(strstr(html, "INTEGRITY FAILURE") != NULL);
    free(html);
    /* a damaged file [STO-7]: one critical finding, nothing analysed, exit 1 */
    FILE *f = fopen(path_in(d, "ledger/data.mdb"), "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    for (long pg = 2; pg < size / 4096; pg++) {
        cr_assert_eq(fseek(f, pg * 4096 + 10, SEEK_SET), 0);
        cr_assert_eq(fwrite("\xff\xff", 1, 2, f), 2u);
    }
    fclose(f);
    r = LDG(d, NULL, "review", "--json", "--fail-on", "critical");
    cr_expect_eq(r.status, 1, "%d %s", r.status, r.err);
    cr_expect(strstr(r.out, "{\"rule\":\"REV-1\",") == r.out, "%s", r.out);
    cr_expect(strstr(r.out, "\"intact\":false") != NULL);
    cr_expect(strstr(r.out, "\"analysed\":0,") != NULL);
    run_free(&r);
}

Test(review, since_a_qa_cosigned_checkpoint_verifies_incrementally, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    run_result r = LDG(d, NULL, "keygen", "--name", "qa", "--out", "qa", "--unencrypted");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    APPEND(d, "{}", "--as", "author.key", "--kind", "correction", "--study", "S1", "--ref", "1",
           "--reason", "x");
    r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify", "--save-checkpoint", "qa.txt", "--as", "qa.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    long seq = APPEND(d, "{}", "--as", "author.key", "--kind", "correction", "--study", "S1",
                      "--ref", "4", "--reason", "fix");
    /* counted: cosigned by the QA key named; the findings are the same as a full run's */
    r = LDG(d, NULL, "review", "--json", "--since", "qa.txt", "--qa", "qa.pub");
    cr_expect_eq(r.status, 0, "%s %s", r.out, r.err);
    cr_expect(strstr(r.out, "\"cosigned_by\":\"qa\"") != NULL, "%s", r.out);
    cr_expect_not_null(finding(r.out, "REV-18", 4));
    cr_expect_not_null(finding(r.out, "REV-18", seq));
    cr_expect_eq(r.err[0], '\0', "%s", r.err);
    run_free(&r);
    /* not counted without the QA key: said on stderr, verified in full, same findings */
    r = LDG(d, NULL, "review", "--json", "--since", "qa.txt");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "does not count as verified") != NULL, "%s", r.err);
    cr_expect(strstr(r.out, "cosigned_by") == NULL);
    cr_expect_not_null(finding(r.out, "REV-18", seq));
    run_free(&r);
    /* a file that is no checkpoint: exit 2 */
    write_file(d, "bad.txt", "not a checkpoint\n");
    r = LDG(d, NULL, "review", "--since", "bad.txt");
    cr_expect_eq(r.status, 2, "%d %s", r.status, r.err);
    run_free(&r);
}

Test(review, hostile_text_is_escaped_in_every_output, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    /* a reason that says nothing, and tries a forged line and markup */
    APPEND(d, "{}", "--as", "author.key", "--kind", "correction", "--study", "S1", "--ref", "1",
           "--reason", "typo\nERROR x <x>");
    run_result r = LDG(d, NULL, "review", "-o", "r.html");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "REV-18") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "\nERROR x") == NULL, "%s", r.out);
    cr_expect(strstr(r.out, "typo\\nERROR x <x>") != NULL, "%s", r.out);
    run_free(&r);
    r = LDG(d, NULL, "review", "--json");
    cr_expect(strstr(r.out, "\nERROR x") == NULL);
    cr_expect(strstr(r.out, "typo\\nERROR x <x>") != NULL, "%s", r.out);
    run_free(&r);
    size_t len;
    char *html = read_in(d, "r.html", &len);
    cr_expect(strstr(html, "<x>") == NULL && strstr(html, "&lt;x&gt;") != NULL);
    free(html);
}

/* Collects the findings of a library review: rule and first seq of each. */
typedef struct seen {
    char rules[32][16];
    uint64_t first[32];
    size_t n;
} seen;

static void
collect(void *ctx, const ldg_review_finding *f)
{
    seen *s = ctx;
    if (s->n < 32) {
        snprintf(s->rules[s->n], sizeof s->rules[0], "%s", f->rule);
        s->first[s->n++] = f->nseqs ? f->seqs[0] : UINT64_MAX;
    }
}

static bool
has(const seen *s, const char *rule, uint64_t seq)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->rules[i], rule) == 0 && (seq == UINT64_MAX || s->first[i] == seq))
            return true;
    return false;
}

/*
 * [REV-0] upto_size (what a bundle's review uses): only the entries a
 * checkpoint the caller holds covers are reviewed, and verify recomputes that
 * checkpoint's root in the same run; a root that is not theirs is REV-1.
 */
Test(review, upto_a_held_checkpoint_reviews_its_entries_and_checks_its_root, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    long a = APPEND(d, "{}", "--as", "author.key", "--kind", "correction", "--study", "S1", "--ref",
                    "1", "--reason", "x");
    long b = APPEND(d, "{}", "--as", "author.key", "--kind", "correction", "--study", "S1", "--ref",
                    "1", "--reason", "typo");
    char p[600];
    snprintf(p, sizeof p, "%s/ledger", d);
    ldg_ledger *l;
    ldg_err err;
    cr_assert_eq(ldg_ledger_open(p, LDG_OPEN_READONLY, &l, &err), LDG_OK, "%s", err.msg);
    seen s = {0};
    ldg_review_opts o = {.on_finding = collect, .ctx = &s, .upto_size = (uint64_t)b, .jobs = 1};
    cr_assert_eq(ldg_tree_root(l, (uint64_t)b, o.upto_root, &err), LDG_OK, "%s", err.msg);
    ldg_review_summary sum;
    cr_assert_eq(ldg_review_run(l, &o, &sum, &err), LDG_OK, "%s", err.msg);
    cr_expect(sum.intact);
    cr_expect(has(&s, "REV-18", (uint64_t)a), "the record below the checkpoint is reviewed");
    cr_expect(!has(&s, "REV-18", (uint64_t)b), "the one past it is not");
    cr_expect(!has(&s, "REV-1", UINT64_MAX));
    /* a root that is not the first b entries': an integrity finding */
    memset(&s, 0, sizeof s);
    o.upto_root[0] ^= 1;
    cr_assert_eq(ldg_review_run(l, &o, &sum, &err), LDG_OK, "%s", err.msg);
    cr_expect(!sum.intact);
    cr_expect(has(&s, "REV-1", UINT64_MAX), "the held checkpoint's root is recomputed");
    /* and a checkpoint larger than the ledger */
    memset(&s, 0, sizeof s);
    o.upto_size = (uint64_t)b + 5;
    cr_assert_eq(ldg_review_run(l, &o, &sum, &err), LDG_OK, "%s", err.msg);
    cr_expect(!sum.intact);
    cr_expect(has(&s, "REV-1", UINT64_MAX));
    ldg_ledger_close(l);
}

/*
 * [REV-11] A key rotation (a second key that supersedes the first, which is
 * revoked within a day and not used again) is not a duplicate identity; a
 * superseded key that still signs is, at once.
 */
Test(review, a_rotation_is_no_duplicate_identity_but_a_superseded_key_still_signing_is,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d); /* Quinn Avery's approver key is added at seq 3, Sam Patel's at 2 */
    must(LDG(d, NULL, "keygen", "--name", "quinn2", "--out", "quinn2", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
             "Quinn Avery", "--org", "Helix Pharma", "--roles", "approver", "--supersedes", "3",
             "--reason", "new laptop"),
         "supersede");
    long rot = ledger_size(d) - 1;
    must(LDG(d, NULL, "key", "revoke", "--as", "admin.key", "--pub", "approver.pub", "--reason",
             "rotated"),
         "revoke");
    run_result r = LDG(d, NULL, "review", "--json");
    cr_expect_null(finding(r.out, "REV-11", rot), "a rotation: %s", r.out);
    run_free(&r);
    /* a second person's keys: superseded, and the old key still approves */
    must(LDG(d, NULL, "keygen", "--name", "sam2", "--out", "sam2", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "sam2.pub", "--name",
             "Dr Sam Patel", "--org", "Helix Pharma", "--roles", "author,decider",
             "--supersedes", "2", "--reason", "second device"),
         "supersede");
    long dup = ledger_size(d) - 1;
    APPEND(d, "{}", "--as", "decider.key", "--kind", "communication", "--study", "S1");
    r = LDG(d, NULL, "review", "--json");
    cr_expect_not_null(finding(r.out, "REV-11", dup), "the old key still signs: %s", r.out);
    run_free(&r);
}

/*
 * [REV-21] An approval of a record by a person who earlier wrote a
 * correction of it (or of a correction of it): they approved content they
 * wrote themselves.  Policy refuses self-approval of the correction, not
 * this; the review reports it.
 */
Test(review, an_approval_by_the_author_of_a_correction_of_the_record_is_reported,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d); /* Sam Patel decides, Quinn Avery approves, Carla Rossi authors */
    char ref[32];
#define DECIDE() APPEND(d, "{}", "--as", "decider.key", "--kind", "decision", "--study", "S1")
#define CORRECT(who, seq)                                                                          \
    (snprintf(ref, sizeof ref, "%ld", (long)(seq)),                                                \
     APPEND(d, "{}", "--as", who, "--kind", "correction", "--study", "S1", "--ref", ref,           \
            "--reason", "Dose changed from 5 mg to 2.5 mg after the DSMB letter"))
#define APPROVE(seq)                                                                               \
    (snprintf(ref, sizeof ref, "%ld", (long)(seq)),                                                \
     APPEND(d, "{}", "--as", "approver.key", "--kind", "approval", "--meaning", "approval",       \
            "--study", "S1", "--ref", ref))
    /* Quinn corrects Sam's decision, then approves the decision */
    long dec = DECIDE();
    long corr = CORRECT("approver.key", dec);
    long appr = APPROVE(dec);
    /* transitively: Carla corrects a decision, Quinn corrects Carla's correction */
    long dec2 = DECIDE();
    long corr2a = CORRECT("author.key", dec2);
    long corr2b = CORRECT("approver.key", corr2a);
    long appr2 = APPROVE(dec2);
    /* controls: corrected by someone else only; Quinn corrected an unrelated record */
    long dec3 = DECIDE();
    CORRECT("author.key", dec3);
    long appr3 = APPROVE(dec3);
    long other = APPEND(d, "{}", "--as", "author.key", "--kind", "communication", "--study", "S1");
    CORRECT("approver.key", other);
    long dec4 = DECIDE();
    long appr4 = APPROVE(dec4);
    /* the person, not the key: Quinn's second key, registered under a variant of the name that
       is the same identity [POL-13], corrects; Quinn's first key approves */
    must(LDG(d, NULL, "keygen", "--name", "quinn2", "--out", "quinn2", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "quinn2.pub", "--name",
             " quinn  AVERY", "--org", "HELIX pharma", "--roles", "approver", "--supersedes",
             "3", "--reason", "second device"),
         "key add");
    long dec5 = DECIDE();
    long corr5 = CORRECT("quinn2.key", dec5);
    long appr5 = APPROVE(dec5);
#undef DECIDE
#undef CORRECT
#undef APPROVE
    run_result r = LDG(d, NULL, "review", "--json", "--fail-on", "critical");
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *f = finding(r.out, "REV-21", appr);
    cr_assert_not_null(f, "Quinn approved the decision Quinn corrected: %s", r.out);
    char seqs[96];
    snprintf(seqs, sizeof seqs, "\"seqs\":[%ld,%ld,%ld]", appr, corr, dec);
    const char *e = strchr(f, '\n');
    cr_expect(strstr(f, seqs) && strstr(f, seqs) < e, "the approval, the correction, the record");
    cr_expect(strstr(f, "\"severity\":\"major\"") && strstr(f, "\"severity\":\"major\"") < e);
    snprintf(seqs, sizeof seqs, "\"seqs\":[%ld,%ld,%ld]", appr2, corr2b, dec2);
    f = finding(r.out, "REV-21", appr2);
    cr_expect(f && strstr(f, seqs), "a correction of a correction counts: %s", r.out);
    snprintf(seqs, sizeof seqs, "\"seqs\":[%ld,%ld,%ld]", appr5, corr5, dec5);
    f = finding(r.out, "REV-21", appr5);
    cr_expect(f && strstr(f, seqs), "another key of the same person counts: %s", r.out);
    CLEAN(r.out, "REV-21", appr3);
    CLEAN(r.out, "REV-21", appr4);
    cr_expect_eq(count_rule(r.out, "REV-21"), 3, "%s", r.out);
    run_free(&r);
    /* the text report names the rule and its severity */
    r = LDG(d, NULL, "review", "--fail-on", "major");
    cr_expect_eq(r.status, 1, "a major finding fails at --fail-on major");
    cr_expect_not_null(strstr(r.out, "MAJOR    REV-21 approved-own-correction"), "%s", r.out);
    run_free(&r);
}

/*
 * [PLAN-1][REV-2] A plan whose body cannot be read is in force all the same:
 * the plan before it no longer applies, and review says why none does.
 */
Test(review, an_unreadable_plan_replaces_the_one_before_and_is_reported, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    must(LDG(d, NULL, "keygen", "--name", "eraser", "--out", "eraser", "--unencrypted"), "keygen");
    must(LDG(d, NULL, "key", "add", "--as", "admin.key", "--pub", "eraser.pub", "--name",
             "Eve Eraser", "--org", "Helix Pharma", "--roles", "eraser"),
         "key add");
#define PLAN_H(h)                                                                                  \
    "{\"subject\":\"Plan\",\"parties\":[\"Acme CRO\",\"Helix Pharma\"],\"levels\":[{\"id\":"     \
    "\"op\"}],\"turnaround\":[{\"kind\":\"query\",\"hours\":" h "}]}"
    APPEND(d, PLAN_H("1"), "--as", "decider.key", "--kind", "plan", "--study", "S1");
    long p2 = APPEND(d, PLAN_H("1000"), "--as", "decider.key", "--kind", "plan", "--study", "S1");
    long q = APPEND(d, "{\"subject\":\"Lab ranges?\"}", "--as", "decider.key", "--kind", "query",
                    "--study", "S1");
    char seq[24];
    snprintf(seq, sizeof seq, "%ld", p2);
    must(LDG(d, NULL, "erase", seq, "--as", "eraser.key", "--reason", "sent to the wrong study",
             "--legal-basis", "GDPR Art. 17(1)(a)"),
         "erase");
    char asof[40];
    int64_t now;
    ldg_time_now(&now, NULL);
    ldg_time_format(now + 48 * 3600000000000LL, 0, 1, asof);
    run_result r = LDG(d, NULL, "review", "--json", "--as-of", asof);
    cr_expect_not_null(finding(r.out, "REV-2", p2), "the unreadable plan is named: %s", r.out);
    cr_expect_null(finding(r.out, "REV-5", q), "the 1 h plan before it no longer applies: %s",
                   r.out);
    cr_expect_null(finding(r.out, "REV-4", q), "%s", r.out);
    run_free(&r);
#undef PLAN_H
}

/*
 * Studies, organisations and identities are interned through a hash index
 * that grows as they come: 45 studies (past the index's first size),
 * their records interleaved, are each reported once as having no plan
 * [REV-2], at their own first record and under their own name.
 */
Test(review, many_studies_interleaved_are_each_their_own, .timeout = 120, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    long base = ledger_size(d);
    enum { STUDIES = 45, ROUNDS = 3 };
    char *text = malloc(STUDIES * ROUNDS * 128);
    cr_assert_not_null(text);
    size_t at = 0;
    for (int k = 0; k < STUDIES * ROUNDS; k++)
        at +=
            (size_t)sprintf(text + at,
                            "{\"kind\":\"communication\",\"study\":\"ST-%02d\",\"body\":{\"subject"
                            "\":\"note %d\",\"text\":\"x\"}}\n",
                            k % STUDIES, k);
    write_file(d, "b.jsonl", text);
    free(text);
    must(LDG(d, NULL, "append", "--as", "author.key", "--batch", "b.jsonl"), "batch");
    run_result r = LDG(d, NULL, "review", "--json");
    cr_assert_eq(count_rule(r.out, "REV-2"), STUDIES, "%s", r.out);
    for (int i = 0; i < STUDIES; i++) {
        char study[32];
        snprintf(study, sizeof study, "\"study\":\"ST-%02d\"", i);
        const char *f = finding(r.out, "REV-2", base + i);
        cr_expect_not_null(f, "no REV-2 at the first record of ST-%02d", i);
        if (f) {
            const char *nl = strchr(f, '\n');
            char line[2048];
            size_t n = nl ? (size_t)(nl - f) : strlen(f);
            snprintf(line, sizeof line, "%.*s", (int)n, f);
            cr_expect(strstr(line, study) != NULL, "ST-%02d: %s", i, line);
        }
        CLEAN(r.out, "REV-2", base + STUDIES + i);
    }
    run_free(&r);
}
