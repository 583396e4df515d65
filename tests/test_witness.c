/*
 * test_witness.c - `ldg witness` as a C2SP tlog-witness (spec/witness.md
 * [WIT-1..6]) on the real binary and real LMDB: every add-checkpoint status
 * (200, 400, 403, 404, 409 stale and fork, 413, 422), the evidence kept for
 * forks, rollbacks and bad proofs, the race of two requests from one old
 * size (offline and over HTTP), serve over HTTP on loopback with curl, and a
 * witness killed with SIGKILL that restarts consistent.
 */
#define _DEFAULT_SOURCE /* usleep */
#include "helpers.h"

#include <criterion/criterion.h>
#include <ldg.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ORIGIN "test.example/ledger"
#define TS "1700000000"

static void
must_ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s", what, r.status, r.err);
    run_free(&r);
}

static void grow(const char *d, int n);

/*
 * The log's side of these tests (its ledger, appends, checkpoints, proofs
 * and the witness's key) is made by fixtures: under memcheck, the plain
 * binary, so that memcheck's time goes to the witness commands the tests
 * are about.  Those commands are memchecked where they are the subject
 * (test_cli, test_tlog).
 */

/* A ledger of 5 entries and a witness in d/ws trusting its log key for ORIGIN. */
static void
setup(const char *d)
{
    setenv("LDG_TEST_WITNESS_TIME", TS, 1);
    make_ledger(d);
    fixture_begin();
    must_ok(LDG(d, NULL, "keygen", "--name", "witness.example/w", "--out", "w", "--unencrypted"),
            "keygen w");
    fixture_end();
    must_ok(LDG(d, NULL, "witness", "init", "--state", "ws", "--key", "w.key"), "witness init");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", "ws", "--key", "log.pub", "--origin",
                ORIGIN),
            "witness add-log");
    grow(d, 1); /* make_ledger's 4 entries and one: size 5 */
}

static char *
checkpoint(const char *d)
{
    fixture_begin();
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    fixture_end();
    cr_assert_eq(r.status, 0, "checkpoint: %s", r.err);
    free(r.err);
    return r.out;
}

static void
grow(const char *d, int n)
{
    fixture_begin();
    for (int i = 0; i < n; i++)
        cr_assert_geq(APPEND(d, "{\"subject\":\"w\"}", "--as", "author.key", "--kind",
                             "communication", "--study", "S"),
                      0);
    fixture_end();
}

/* The proof lines of `ldg proof consistency old new`, one base64 hash each. */
static char *
proof_lines(const char *d, unsigned long old, unsigned long now)
{
    char a[24], b[24];
    snprintf(a, sizeof a, "%lu", old);
    snprintf(b, sizeof b, "%lu", now);
    fixture_begin();
    run_result r = LDG(d, NULL, "proof", "consistency", a, b);
    fixture_end();
    cr_assert_eq(r.status, 0, "proof: %s", r.err);
    ldg_proof_json p;
    ldg_err err;
    cr_assert_eq(ldg_proof_json_parse(r.out, strlen(r.out), &p, &err), LDG_OK, "%s", err.msg);
    char *s = calloc(1, p.nhashes * 46 + 1);
    for (size_t i = 0; i < p.nhashes; i++) {
        sodium_bin2base64(s + strlen(s), 45, p.hashes[i], 32, sodium_base64_VARIANT_ORIGINAL);
        strcat(s, "\n");
    }
    ldg_proof_json_clear(&p);
    run_free(&r);
    return s;
}

static char *
request(unsigned long old, const char *proof, const char *note)
{
    size_t n = 32 + (proof ? strlen(proof) : 0) + strlen(note);
    char *s = malloc(n);
    snprintf(s, n, "old %lu\n%s\n%s", old, proof ? proof : "", note);
    return s;
}

typedef struct answer {
    int exit, status;
    char ctype[64];
    char *body;
    char *err;
} answer;

/* [WIT-6] Runs one offline add-checkpoint and reads its framed answer. */
static answer
offline(const char *d, const char *state, const char *req)
{
    run_result r = LDG(d, req, "witness", "add-checkpoint", "--state", state);
    answer a = {.exit = r.status, .err = r.err};
    char *nl = strchr(r.out, '\n');
    cr_assert_not_null(nl, "no status line: %s / %s", r.out, r.err);
    a.status = atoi(r.out);
    cr_assert_eq(strncmp(nl + 1, "Content-Type: ", 14), 0, "%s", r.out);
    char *e = strchr(nl + 1, '\n');
    snprintf(a.ctype, sizeof a.ctype, "%.*s", (int)(e - nl - 15), nl + 15);
    cr_assert_eq(e[1], '\n', "no empty line after the header: %s", r.out);
    a.body = strdup(e + 2);
    free(r.out);
    return a;
}

static void
answer_free(answer *a)
{
    free(a->body);
    free(a->err);
}

/* The cosignature in body verifies over note under the witness key (w.pub) at TS. */
static void
assert_cosigned(const char *d, const char *note, const char *body)
{
    char p[700], name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
    ldg_err err;
    snprintf(p, sizeof p, "%s/w.pub", d);
    cr_assert_eq(ldg_vkey_read(p, name, pub, &err), LDG_OK, "%s", err.msg);
    size_t n = strlen(note) + strlen(body) + 1;
    char *full = malloc(n);
    snprintf(full, n, "%s%s", note, body);
    uint64_t ts = 0;
    cr_assert_eq(ldg_checkpoint_cosigned(full, strlen(full), name, pub, &ts, &err), LDG_OK,
                 "cosignature: %s", err.msg);
    cr_assert_eq(ts, 1700000000u);
    write_file(d, "cosigned.txt", full);
    free(full);
    /* the log's own check still accepts the cosigned note [CKP-1] */
    must_ok(LDG(d, NULL, "verify", "--checkpoint", "cosigned.txt"), "verify --checkpoint");
}

static void
assert_listed_size(const char *d, const char *state, const char *want)
{
    run_result r = LDG(d, NULL, "witness", "list", "--state", state);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, want), "list lacks \"%s\":\n%s", want, r.out);
    run_free(&r);
}

static char *
evidence(const char *d, const char *state)
{
    run_result r = LDG(d, NULL, "witness", "evidence", "--state", state);
    cr_assert_eq(r.status, 0, "%s", r.err);
    free(r.err);
    return r.out;
}

Test(witness, first_checkpoint_then_a_consistent_one_are_cosigned, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char *cp5 = checkpoint(d), *q = request(0, NULL, cp5);
    answer a = offline(d, "ws", q);
    cr_assert_eq(a.status, 200, "%d %s %s", a.status, a.body, a.err);
    cr_assert_eq(a.exit, 0);
    cr_assert_eq(strncmp(a.body, "\xe2\x80\x94 witness.example/w ", 22), 0, "%s", a.body);
    assert_cosigned(d, cp5, a.body);
    assert_listed_size(d, "ws", "cosigned size 5 ");
    answer_free(&a);
    grow(d, 3);
    char *cp8 = checkpoint(d), *pr = proof_lines(d, 5, 8), *q2 = request(5, pr, cp8);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 200, "%d %s %s", a.status, a.body, a.err);
    assert_cosigned(d, cp8, a.body);
    assert_listed_size(d, "ws", "cosigned size 8 ");
    /* the same size and root again: cosigned again, nothing is evidence */
    answer_free(&a);
    char *q3 = request(8, NULL, cp8);
    a = offline(d, "ws", q3);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    char *ev = evidence(d, "ws");
    cr_assert_str_empty(ev);
    free(ev), free(q3), answer_free(&a), free(cp5), free(q), free(cp8), free(pr), free(q2);
}

Test(witness, unknown_origin_is_404, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    must_ok(LDG(d, NULL, "witness", "init", "--state", "ws2", "--key", "w.key"), "init ws2");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", "ws2", "--key", "log.pub", "--origin",
                "other.example/log"),
            "add-log ws2");
    char *cp = checkpoint(d), *q = request(0, NULL, cp);
    answer a = offline(d, "ws2", q);
    cr_assert_eq(a.status, 404, "%d %s", a.status, a.body);
    cr_assert_eq(a.exit, 3);
    cr_assert(strstr(a.err, "404 Not Found"), "%s", a.err);
    assert_listed_size(d, "ws2", "cosigned nothing yet");
    answer_free(&a), free(cp), free(q);
}

Test(witness, untrusted_key_or_bad_signature_is_403, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    /* a witness trusting another key (the admin's) for the origin */
    must_ok(LDG(d, NULL, "witness", "init", "--state", "ws2", "--key", "w.key"), "init ws2");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", "ws2", "--key", "admin.pub", "--origin",
                ORIGIN),
            "add-log ws2");
    char *cp = checkpoint(d), *q = request(0, NULL, cp);
    answer a = offline(d, "ws2", q);
    cr_assert_eq(a.status, 403, "%d %s", a.status, a.body);
    cr_assert_eq(a.exit, 3);
    answer_free(&a);
    /* a trusted key, but the signed text altered: the root's 10th character */
    char *bad = strdup(cp), *root = strchr(strchr(bad, '\n') + 1, '\n') + 1;
    root[10] = root[10] == 'A' ? 'B' : 'A';
    char *q2 = request(0, NULL, bad);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 403, "%d %s", a.status, a.body);
    assert_listed_size(d, "ws", "cosigned nothing yet");
    char *ev = evidence(d, "ws");
    cr_assert_str_empty(ev, "an unsigned note is no evidence: %s", ev);
    free(ev), answer_free(&a), free(cp), free(q), free(bad), free(q2);
}

Test(witness, malformed_or_old_above_size_is_400, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char *cp = checkpoint(d);
    size_t n = strlen(cp) + 200;
    char *q = malloc(n);
    const char *bad[] = {"%s", "old 01\n\n%s", "old 0\nnot-a-hash\n\n%s", "old 0\n%s",
                         "old -1\n\n%s", "old 6\n\n%s", "old 0\n\n" ORIGIN "\nx\n%s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(q, n, bad[i], cp);
        answer a = offline(d, "ws", q);
        cr_assert_eq(a.status, 400, "case %zu: %d %s", i, a.status, a.body);
        cr_assert_eq(a.exit, 2, "case %zu", i);
        answer_free(&a);
    }
    /* from old size 0 the proof must be empty */
    char *pr = proof_lines(d, 2, 5), *q2 = request(0, pr, cp);
    answer a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 400, "%d %s", a.status, a.body);
    answer_free(&a);
    /* more than the limit: 413, refused before it is parsed */
    char *big = malloc(20000);
    memset(big, 'A', 19999);
    big[19999] = '\0';
    a = offline(d, "ws", big);
    cr_assert_eq(a.status, 413, "%d", a.status);
    cr_assert_eq(a.exit, 2);
    assert_listed_size(d, "ws", "cosigned nothing yet");
    answer_free(&a), free(big), free(pr), free(q2), free(q), free(cp);
}

Test(witness, stale_old_size_is_409_with_the_witness_size, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char *cp5 = checkpoint(d), *q = request(0, NULL, cp5);
    answer a = offline(d, "ws", q);
    cr_assert_eq(a.status, 200);
    answer_free(&a);
    grow(d, 2);
    char *cp7 = checkpoint(d), *q2 = request(0, NULL, cp7);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 409, "%d %s", a.status, a.body);
    cr_assert_str_eq(a.ctype, "text/x.tlog.size");
    cr_assert_str_eq(a.body, "5\n");
    cr_assert_eq(a.exit, 3);
    char *ev = evidence(d, "ws");
    cr_assert_str_empty(ev, "a stale old size is no evidence: %s", ev);
    free(ev), answer_free(&a), free(cp5), free(q), free(cp7), free(q2);
}

/* A second ledger in d2 with the same origin and log key: another history of size 5. */
static char *
forked_checkpoint(const char *d, const char *d2)
{
    char p[1500];
    snprintf(p, sizeof p, "%s/log.key", d);
    char *k = read_file(p, NULL);
    write_file(d2, "log.key", k);
    free(k);
    snprintf(p, sizeof p, "%s/log.key", d2);
    chmod(p, 0600);
    const char *names[] = {"admin", "k1", "k2", "k3", "k4"};
    for (int i = 0; i < 5; i++)
        must_ok(LDG(d2, NULL, "keygen", "--name", names[i], "--out", names[i], "--unencrypted"),
                "keygen");
    must_ok(LDG(d2, NULL, "init", "--origin", ORIGIN, "--log-key", "log.key", "--admin",
                "admin.pub"),
            "init d2");
    for (int i = 1; i < 5; i++) {
        char pub[16];
        snprintf(pub, sizeof pub, "%s.pub", names[i]);
        must_ok(LDG(d2, NULL, "key", "add", "--as", "admin.key", "--pub", pub, "--name", names[i],
                    "--org", "Y", "--roles", "author"),
                "key add");
    }
    return checkpoint(d2);
}

Test(witness, fork_same_size_other_root_is_409_and_kept, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char d2[600];
    snprintf(d2, sizeof d2, "%.500s/fork", d);
    mkdir(d2, 0700);
    char *cp = checkpoint(d), *fk = forked_checkpoint(d, d2), *q = request(0, NULL, cp);
    cr_assert_eq(strncmp(strchr(fk, '\n'), "\n5\n", 3), 0, "fork size: %s", fk);
    cr_assert_str_neq(cp, fk);
    answer a = offline(d, "ws", q);
    cr_assert_eq(a.status, 200);
    answer_free(&a);
    char *q2 = request(5, NULL, fk);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 409, "%d %s", a.status, a.body);
    cr_assert_str_neq(a.ctype, "text/x.tlog.size");
    cr_assert_eq(a.exit, 1, "a fork is an integrity failure: exit 1, not %d", a.exit);
    cr_assert(strstr(a.err, "kept as evidence"), "%s", a.err);
    answer_free(&a);
    /* from another old size: 409 with the size, and still kept */
    char *q3 = request(0, NULL, fk);
    a = offline(d, "ws", q3);
    cr_assert_eq(a.status, 409);
    cr_assert_str_eq(a.body, "5\n");
    cr_assert_eq(a.exit, 1);
    char *ev = evidence(d, "ws");
    cr_assert(strstr(ev, "kind fork\nstatus 409\n"), "%s", ev);
    char root1[60], root2[60];
    sscanf(strchr(strchr(cp, '\n') + 1, '\n') + 1, "%59s", root1);
    sscanf(strchr(strchr(fk, '\n') + 1, '\n') + 1, "%59s", root2);
    cr_assert(strstr(ev, root1) && strstr(ev, root2), "both roots kept: %s", ev);
    /* both refusals are kept, each once: a replay adds nothing */
    a.status = 0;
    answer b = offline(d, "ws", q2);
    cr_assert_eq(b.status, 409);
    char *ev2 = evidence(d, "ws");
    cr_assert_str_eq(ev, ev2);
    assert_listed_size(d, "ws", "evidence 2 ");
    assert_listed_size(d, "ws", "cosigned size 5 ");
    answer_free(&b), free(ev2), free(ev), answer_free(&a), free(q3), free(q2), free(q), free(fk),
        free(cp);
}

Test(witness, rollback_is_refused_and_kept, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char *cp5 = checkpoint(d), *q = request(0, NULL, cp5);
    answer a = offline(d, "ws", q);
    cr_assert_eq(a.status, 200);
    answer_free(&a);
    grow(d, 2);
    char *cp7 = checkpoint(d), *pr = proof_lines(d, 5, 7), *q2 = request(5, pr, cp7);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    answer_free(&a);
    /* the older head presented after the newer: refused, whatever the old size says */
    char *q3 = request(7, NULL, cp5), *q4 = request(5, NULL, cp5);
    a = offline(d, "ws", q3);
    cr_assert_eq(a.status, 400, "%d %s", a.status, a.body);
    cr_assert_eq(a.exit, 2, "a smaller head proves nothing by itself: exit by its status");
    cr_assert(strstr(a.err, "kept as evidence"), "%s", a.err);
    answer_free(&a);
    a = offline(d, "ws", q4);
    cr_assert_eq(a.status, 409, "%d %s", a.status, a.body);
    cr_assert_str_eq(a.body, "7\n");
    cr_assert_eq(a.exit, 3);
    char *ev = evidence(d, "ws");
    cr_assert(strstr(ev, "kind rollback\nstatus 400\n") && strstr(ev, "kind rollback\nstatus 409\n"),
              "%s", ev);
    assert_listed_size(d, "ws", "cosigned size 7 ");
    free(ev), answer_free(&a), free(q3), free(q4), free(cp5), free(q), free(cp7), free(pr),
        free(q2);
}

Test(witness, bad_consistency_proof_is_422_and_kept, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char *cp5 = checkpoint(d), *q = request(0, NULL, cp5);
    answer a = offline(d, "ws", q);
    cr_assert_eq(a.status, 200);
    answer_free(&a);
    grow(d, 3);
    char *cp8 = checkpoint(d), *pr = proof_lines(d, 5, 8);
    /* one hash altered (its first character), then the proof cut short */
    char *alt = strdup(pr);
    alt[0] = alt[0] == 'A' ? 'B' : 'A';
    char *q2 = request(5, alt, cp8);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 422, "%d %s", a.status, a.body);
    cr_assert_eq(a.exit, 2);
    cr_assert(strstr(a.err, "kept as evidence"), "%s", a.err);
    answer_free(&a);
    char *cut = strdup(pr);
    *strchr(cut, '\n') = '\0';
    strcat(cut, "\n");
    char *q3 = request(5, cut, cp8);
    a = offline(d, "ws", q3);
    cr_assert_eq(a.status, 422, "%d %s", a.status, a.body);
    char *ev = evidence(d, "ws");
    cr_assert(strstr(ev, "kind inconsistent\nstatus 422\n"), "%s", ev);
    assert_listed_size(d, "ws", "cosigned size 5 ");
    /* the right proof still goes through */
    answer_free(&a);
    char *q4 = request(5, pr, cp8);
    a = offline(d, "ws", q4);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    answer_free(&a), free(ev), free(q4), free(q3), free(cut), free(alt), free(q2), free(pr),
        free(cp8), free(q), free(cp5);
}

/* Writes the requests of the race: r5 (size 5, old 0), then ra and rb from old size 5 to 6 and 7. */
static void
race_requests(const char *d)
{
    char *cp5 = checkpoint(d), *q = request(0, NULL, cp5);
    write_file(d, "r5", q);
    grow(d, 1);
    char *cp6 = checkpoint(d), *p6 = proof_lines(d, 5, 6);
    grow(d, 1);
    char *cp7 = checkpoint(d), *p7 = proof_lines(d, 5, 7);
    char *ra = request(5, p6, cp6), *rb = request(5, p7, cp7);
    write_file(d, "ra", ra);
    write_file(d, "rb", rb);
    free(cp5), free(q), free(cp6), free(p6), free(cp7), free(p7), free(ra), free(rb);
}

/* A fresh witness state that holds size 5. */
static void
state_at_5(const char *d, const char *state)
{
    must_ok(LDG(d, NULL, "witness", "init", "--state", state, "--key", "w.key"), "init");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", state, "--key", "log.pub", "--origin",
                ORIGIN),
            "add-log");
    char p[700];
    snprintf(p, sizeof p, "%s/r5", d);
    char *r5 = read_file(p, NULL);
    answer a = offline(d, state, r5);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    answer_free(&a);
    free(r5);
}

static int
wait_exit(pid_t p)
{
    int st;
    cr_assert_eq(waitpid(p, &st, 0), p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The status of an answer: "CODE ..." offline, "HTTP/1.1 CODE ..." from curl -i. */
static int
status_of(const char *o)
{
    return atoi(strncmp(o, "HTTP/", 5) == 0 ? strchr(o, ' ') + 1 : o);
}

/* Two answers: exactly one 200, the other 409 naming the winner's size. */
static void
assert_one_wins(const char *d, const char *fa, const char *fb, const char *what)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", d, fa);
    char *oa = read_file(p, NULL);
    snprintf(p, sizeof p, "%s/%s", d, fb);
    char *ob = read_file(p, NULL);
    cr_assert(oa && ob, "%s: no answers", what);
    int sa = status_of(oa), sb = status_of(ob);
    cr_assert((sa == 200 && sb == 409) || (sa == 409 && sb == 200), "%s: %d and %d\n%s\n%s", what,
              sa, sb, oa, ob);
    const char *lost = sa == 409 ? oa : ob;
    char want[8];
    snprintf(want, sizeof want, "\n%s", sa == 200 ? "6" : "7");
    cr_assert(strstr(lost, "text/x.tlog.size") && strstr(lost, want),
              "%s: the loser's 409 must name the winner's size:\n%s", what, lost);
    free(oa), free(ob);
}

Test(witness, two_offline_requests_from_one_old_size_one_wins, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    race_requests(d);
    for (int round = 0; round < 3; round++) {
        char st[16], sa[2000], sb[2000];
        snprintf(st, sizeof st, "race%d", round);
        state_at_5(d, st);
        snprintf(sa, sizeof sa, "'%s' witness add-checkpoint --state %s < ra > oa 2>/dev/null",
                 ldg_bin(), st);
        snprintf(sb, sizeof sb, "'%s' witness add-checkpoint --state %s < rb > ob 2>/dev/null",
                 ldg_bin(), st);
        pid_t pa = spawn_sh(d, sa), pb = spawn_sh(d, sb);
        int ea = wait_exit(pa), eb = wait_exit(pb);
        cr_assert((ea == 0 && eb == 3) || (ea == 3 && eb == 0), "exits %d %d", ea, eb);
        assert_one_wins(d, "oa", "ob", "offline");
    }
}

/* ---------------------------------------------------------------- serve -- */

/* The serve of the test running, killed if an assertion ends the test first. */
static pid_t serving = -1;

static void
serve_cleanup(void)
{
    if (serving > 0) {
        killed_on_purpose(serving);
        kill(serving, SIGKILL);
        waitpid(serving, NULL, 0);
    }
    serving = -1;
    tmp_cleanup();
}

/* Starts `ldg witness serve` on a free loopback port; returns its pid, *port. */
static pid_t
serve(const char *d, const char *state, int *port)
{
    char s[1200], p[700];
    snprintf(p, sizeof p, "%s/serve.err", d);
    unlink(p);
    snprintf(s, sizeof s,
             "exec '%s' witness serve --state %s --listen 127.0.0.1:0 > serve.out 2> serve.err",
             ldg_bin(), state);
    pid_t pid = spawn_sh(d, s);
    serving = pid;
    /* 5 s, longer under memcheck (LDG_TEST_TIMEOUT_SCALE) */
    for (int i = 0; i < (int)(500 * test_timeout_scale()); i++) {
        char *e = read_file(p, NULL);
        char *at = e ? strstr(e, "listening on 127.0.0.1:") : NULL;
        if (at) {
            *port = atoi(at + 23);
            free(e);
            return pid;
        }
        free(e);
        usleep(10000);
    }
    cr_assert_fail("serve did not start");
    return -1;
}

/* curl -i POSTs file `in` to the witness; the answer (headers and body) to `out`. */
static int
curl_post(const char *d, int port, const char *in, const char *out)
{
    char s[1200];
    snprintf(s, sizeof s,
             "curl -s -i --max-time %d -H 'Content-Type: text/plain' --data-binary @%s "
             "http://127.0.0.1:%d/add-checkpoint > %s",
             (int)(20 * test_timeout_scale()), in, port, out);
    return wait_exit(spawn_sh(d, s));
}

static char *
slurp(const char *d, const char *name)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s", d, name);
    char *t = read_file(p, NULL);
    cr_assert_not_null(t, "%s", name);
    return t;
}

Test(witness, serve_answers_add_checkpoint_over_http, .fini = serve_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    race_requests(d);
    int port;
    pid_t pid = serve(d, "ws", &port);
    cr_assert_eq(curl_post(d, port, "r5", "h1"), 0);
    char *h1 = slurp(d, "h1");
    cr_assert_eq(status_of(h1), 200, "%s", h1);
    char *body = strstr(h1, "\r\n\r\n") + 4, *r5 = slurp(d, "r5");
    assert_cosigned(d, strstr(r5, "\n\n") + 2, body);
    /* the same request again: 409 with the size, as the spec's header says */
    write_file(d, "r0", strstr(r5, "\n\n") + 2);
    cr_assert_eq(curl_post(d, port, "ra", "h2"), 0);
    char *h2 = slurp(d, "h2");
    cr_assert_eq(status_of(h2), 200, "%s", h2);
    cr_assert_eq(curl_post(d, port, "rb", "h3"), 0);
    char *h3 = slurp(d, "h3");
    cr_assert_eq(status_of(h3), 409, "%s", h3);
    cr_assert(strstr(h3, "Content-Type: text/x.tlog.size\r\n"), "%s", h3);
    cr_assert(strstr(h3, "\r\n\r\n6\n"), "%s", h3);
    /* wrong path, wrong method, too large a body */
    char s[1200];
    snprintf(s, sizeof s,
             "curl -s -o /dev/null -w '%%{http_code}\\n' http://127.0.0.1:%d/other > codes; "
             "curl -s -o /dev/null -w '%%{http_code}\\n' http://127.0.0.1:%d/add-checkpoint >> "
             "codes; head -c 100000 /dev/zero | tr '\\0' A > big; curl -s -o /dev/null -w "
             "'%%{http_code}\\n' --data-binary @big http://127.0.0.1:%d/add-checkpoint >> codes; "
             "curl -s -o /dev/null -w '%%{http_code}\\n' -H 'Transfer-Encoding: chunked' "
             "--data-binary @big http://127.0.0.1:%d/add-checkpoint >> codes; true",
             port, port, port, port);
    cr_assert_eq(wait_exit(spawn_sh(d, s)), 0);
    char *codes = slurp(d, "codes");
    /* a chunked body past the limit: refused as it passes it, the connection closed (000) */
    cr_assert(!strcmp(codes, "404\n405\n413\n413\n") || !strcmp(codes, "404\n405\n413\n000\n"),
              "%s", codes);
    /* SIGTERM: a clean stop */
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    serving = -1;
    char *e = slurp(d, "serve.err");
    cr_assert(strstr(e, "stopped (SIGTERM)"), "%s", e);
    assert_listed_size(d, "ws", "cosigned size 6 ");
    free(e), free(codes), free(h1), free(h2), free(h3), free(r5);
}

Test(witness, serve_two_concurrent_requests_one_wins, .fini = serve_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    race_requests(d);
    for (int round = 0; round < 3; round++) {
        char st[16], s[1500];
        snprintf(st, sizeof st, "race%d", round);
        state_at_5(d, st);
        int port;
        pid_t pid = serve(d, st, &port);
        snprintf(s, sizeof s,
                 "curl -s -i --max-time 20 --data-binary @ra http://127.0.0.1:%d/add-checkpoint "
                 "> ha & curl -s -i --max-time 20 --data-binary @rb "
                 "http://127.0.0.1:%d/add-checkpoint > hb & wait",
                 port, port);
        cr_assert_eq(wait_exit(spawn_sh(d, s)), 0);
        assert_one_wins(d, "ha", "hb", "serve");
        kill(pid, SIGINT);
        cr_assert_eq(wait_exit(pid), 0);
        serving = -1;
    }
}

Test(witness, killed_witness_restarts_with_a_consistent_state, .fini = serve_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    race_requests(d);
    int port;
    pid_t pid = serve(d, "ws", &port);
    /* requests keep coming while the witness is killed */
    char s[1200];
    snprintf(s, sizeof s,
             "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
             "curl -s -o /dev/null --max-time 5 --data-binary @r5 "
             "http://127.0.0.1:%d/add-checkpoint; done",
             port);
    pid_t load = spawn_sh(d, s);
    usleep(50000);
    killed_on_purpose(pid);
    kill(pid, SIGKILL);
    cr_assert_eq(wait_exit(pid), 128 + SIGKILL);
    serving = -1;
    wait_exit(load);
    /* the state opens, its held checkpoint still carries the witness's cosignature */
    run_result r = LDG(d, NULL, "witness", "list", "--state", "ws");
    cr_assert_eq(r.status, 0, "%s", r.err);
    bool at5 = strstr(r.out, "cosigned size 5 ") != NULL;
    cr_assert(at5 || strstr(r.out, "cosigned nothing yet"), "%s", r.out);
    run_free(&r);
    /* and it restarts and goes on from what it holds */
    pid = serve(d, "ws", &port);
    if (!at5) {
        cr_assert_eq(curl_post(d, port, "r5", "h0"), 0);
        char *h0 = slurp(d, "h0");
        cr_assert_eq(status_of(h0), 200, "%s", h0);
        free(h0);
    }
    cr_assert_eq(curl_post(d, port, "rb", "h1"), 0);
    char *h1 = slurp(d, "h1");
    cr_assert_eq(status_of(h1), 200, "%s", h1);
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    serving = -1;
    assert_listed_size(d, "ws", "cosigned size 7 ");
    free(h1);
}

Test(witness, state_and_options_are_checked, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    run_result r = LDG(d, NULL, "witness", "init", "--state", "ws", "--key", "w.key");
    cr_assert_eq(r.status, 2, "a second init: %d %s", r.status, r.err);
    cr_assert(strstr(r.err, "already exists"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "witness", "list", "--state", "nowhere");
    cr_assert_eq(r.status, 2, "%d %s", r.status, r.err);
    run_free(&r);
    r = LDG(d, NULL, "witness", "add-log", "--state", "ws", "--key", "log.pub", "--origin",
            ORIGIN);
    cr_assert_eq(r.status, 2, "the same key twice: %d %s", r.status, r.err);
    run_free(&r);
    /* at most 16 trusted keys per origin: log.pub and 15 more, then a 17th is refused */
    for (int i = 1; i <= 16; i++) {
        char name[16], pub[24];
        snprintf(name, sizeof name, "k%d", i);
        snprintf(pub, sizeof pub, "k%d.pub", i);
        must_ok(LDG(d, NULL, "keygen", "--name", name, "--out", name, "--unencrypted"), "keygen");
        r = LDG(d, NULL, "witness", "add-log", "--state", "ws", "--key", pub, "--origin", ORIGIN);
        cr_assert_eq(r.status, i < 16 ? 0 : 2, "key %d: %d %s", i + 1, r.status, r.err);
        run_free(&r);
    }
    /* another key than the witness's is refused before anything is read */
    r = LDG(d, "old 0\n\n", "witness", "add-checkpoint", "--state", "ws", "--key", "admin.key");
    cr_assert_eq(r.status, 3, "%d %s", r.status, r.err);
    run_free(&r);
    r = LDG(d, NULL, "witness", "serve", "--state", "ws", "--listen", "nowhere");
    cr_assert_eq(r.status, 2, "%d %s", r.status, r.err);
    run_free(&r);
}

/* ------------------------------------------------------ test vector -- */

/* A key file [KEY-3] (unencrypted) and its .pub for a fixed seed. */
static void
key_from_seed(const char *d, const char *prefix, const char *name, uint8_t byte,
              uint8_t pub[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, byte, sizeof seed);
    crypto_sign_seed_keypair(pub, sk, seed);
    char p[700], t[600], pb[64], sb[64], line[LDG_VKEY_MAX];
    sodium_bin2base64(pb, sizeof pb, pub, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(sb, sizeof sb, seed, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(t, sizeof t, "ldg secret key v1\nname: %s\npub: %s\nkdf: none\nsecret: %s\n", name,
             pb, sb);
    snprintf(p, sizeof p, "%s.key", prefix);
    write_file(d, p, t);
    snprintf(t, sizeof t, "%s/%s.key", d, prefix);
    chmod(t, 0600);
    ldg_err err;
    cr_assert_eq(ldg_vkey_format(name, pub, line, &err), LDG_OK);
    strcat(line, "\n");
    snprintf(p, sizeof p, "%s.pub", prefix);
    write_file(d, p, line);
}

/* The vector of spec/witness.md [WIT-7]: rebuilt here, and the spec must still hold it. */
Test(witness, spec_vector_is_what_the_witness_answers, .fini = tmp_cleanup)
{
    cr_assert_geq(sodium_init(), 0);
    const char *d = tmp_dir();
    uint8_t lpub[32], lsk[64], wpub[32], wsk[64];
    key_from_seed(d, "log", "example.com/log", 0x01, lpub, lsk);
    key_from_seed(d, "w", "witness.example/w", 0x02, wpub, wsk);
    /* a checkpoint of a log of one entry (the empty leaf), signed by the log key */
    uint8_t leaf = 0, root[32], kh[32], sig[68];
    crypto_hash_sha256(root, &leaf, 1);
    char rb[64], text[200], sb[128], note[600];
    sodium_bin2base64(rb, sizeof rb, root, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(text, sizeof text, "example.com/log\n1\n%s\n", rb);
    uint8_t idm[64];
    size_t nl = strlen("example.com/log");
    memcpy(idm, "example.com/log\n\x01", nl + 2);
    memcpy(idm + nl + 2, lpub, 32);
    crypto_hash_sha256(kh, idm, nl + 34);
    memcpy(sig, kh, 4);
    crypto_sign_detached(sig + 4, NULL, (const uint8_t *)text, strlen(text), lsk);
    sodium_bin2base64(sb, sizeof sb, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    snprintf(note, sizeof note, "%s\n\xe2\x80\x94 example.com/log %s\n", text, sb);
    char *req = request(0, NULL, note);
    setenv("LDG_TEST_WITNESS_TIME", TS, 1);
    must_ok(LDG(d, NULL, "witness", "init", "--state", "ws", "--key", "w.key"), "init");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", "ws", "--key", "log.pub"), "add-log");
    run_result lr = LDG(d, NULL, "witness", "list", "--state", "ws");
    if (getenv("LDG_PRINT_VECTOR"))
        fprintf(stderr, "%s", lr.out);
    run_free(&lr);
    run_result r = LDG(d, req, "witness", "add-checkpoint", "--state", "ws");
    cr_assert_eq(r.status, 0, "%s", r.err);
    if (getenv("LDG_PRINT_VECTOR"))
        fprintf(stderr, "REQUEST:\n%sRESPONSE:\n%s", req, r.out);
    /* the spec holds the request and the framed response, verbatim */
    const char *f = __FILE__, *slash = strrchr(f, '/');
    char alt[1200];
    snprintf(alt, sizeof alt, "%.*s/../spec/witness.md", slash ? (int)(slash - f) : 1,
             slash ? f : ".");
    char *spec = read_file("spec/witness.md", NULL);
    if (!spec)
        spec = read_file(alt, NULL);
    cr_assert_not_null(spec, "spec/witness.md not found");
    /* the spec indents its blocks by four spaces */
    char *ind = calloc(1, 2 * (strlen(req) + strlen(r.out)) + 16);
    for (const char *s = req; *s;) {
        const char *e = strchr(s, '\n');
        if (e != s)
            strcat(ind, "    ");
        strncat(ind, s, (size_t)(e - s) + 1);
        s = e + 1;
    }
    cr_expect(strstr(spec, ind) != NULL, "spec/witness.md lacks the request:\n%s", ind);
    ind[0] = '\0';
    for (const char *s = r.out; *s;) {
        const char *e = strchr(s, '\n');
        if (e != s)
            strcat(ind, "    ");
        strncat(ind, s, (size_t)(e - s) + 1);
        s = e + 1;
    }
    cr_expect(strstr(spec, ind) != NULL, "spec/witness.md lacks the response:\n%s", ind);
    free(ind), free(spec), free(req);
    run_free(&r);
}

/*
 * Nothing derived is trusted [WIT-1]: a state whose held checkpoint was
 * replaced by someone without the witness key (here, to roll the witness
 * back to an older head the log did sign) stops the witness for that log.
 */
Test(witness, altered_state_is_refused_not_trusted, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    /* a state where tests/helpers' LMDB tools look: DIR/ledger */
    char ws[700];
    snprintf(ws, sizeof ws, "%s/w2", d);
    mkdir(ws, 0700);
    must_ok(LDG(d, NULL, "witness", "init", "--state", "w2/ledger", "--key", "w.key"), "init");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", "w2/ledger", "--key", "log.pub",
                "--origin", ORIGIN),
            "add-log");
    char *cp5 = checkpoint(d), *q = request(0, NULL, cp5);
    answer a = offline(d, "w2/ledger", q);
    cr_assert_eq(a.status, 200);
    answer_free(&a);
    grow(d, 2);
    char *cp7 = checkpoint(d), *pr = proof_lines(d, 5, 7), *q2 = request(5, pr, cp7);
    a = offline(d, "w2/ledger", q2);
    cr_assert_eq(a.status, 200);
    answer_free(&a);
    /* the log-signed head of size 5, without the witness's cosignature, put back as held */
    cr_assert_eq(lmdb_put_value(ws, "checkpoints", ORIGIN, strlen(ORIGIN), cp5, strlen(cp5)), 0);
    char *q3 = request(5, pr, cp7);
    a = offline(d, "w2/ledger", q3);
    cr_assert_eq(a.status, 500, "%d %s", a.status, a.body);
    cr_assert_eq(a.exit, 4);
    cr_assert(strstr(a.err, "state altered"), "%s", a.err);
    run_result r = LDG(d, NULL, "witness", "list", "--state", "w2/ledger");
    cr_assert_eq(r.status, 4, "%d %s", r.status, r.err);
    run_free(&r);
    answer_free(&a), free(q3), free(q2), free(pr), free(cp7), free(q), free(cp5);
}

/*
 * A line in the witness's name and key ID that someone put in the request's
 * note (a forgery: a bad signature) is dropped before the note is kept, so it
 * cannot shadow the witness's own cosignature [WIT-1].
 */
Test(witness, forged_line_in_the_witness_name_cannot_shadow_its_cosignature,
     .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    char p[700], name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES], id[32], forged[76] = {0};
    ldg_err err;
    snprintf(p, sizeof p, "%s/w.pub", d);
    cr_assert_eq(ldg_vkey_read(p, name, pub, &err), LDG_OK);
    uint8_t m[200];
    size_t nl = strlen(name);
    memcpy(m, name, nl);
    memcpy(m + nl, "\n\x04", 2);
    memcpy(m + nl + 2, pub, 32);
    crypto_hash_sha256(id, m, nl + 34);
    memcpy(forged, id, 4); /* the witness's cosignature key ID, a signature of zeros */
    char b64[120], *cp = checkpoint(d), note[2000];
    sodium_bin2base64(b64, sizeof b64, forged, sizeof forged, sodium_base64_VARIANT_ORIGINAL);
    snprintf(note, sizeof note, "%s\xe2\x80\x94 %s %s\n", cp, name, b64);
    char *q = request(0, NULL, note);
    answer a = offline(d, "ws", q);
    cr_assert_eq(a.status, 200, "%d %s %s", a.status, a.body, a.err);
    answer_free(&a);
    /* the witness goes on from what it kept: the same head again is cosigned, not a 500 */
    char *q2 = request(5, NULL, cp);
    a = offline(d, "ws", q2);
    cr_assert_eq(a.status, 200, "%d %s %s", a.status, a.body, a.err);
    assert_listed_size(d, "ws", "cosigned size 5 ");
    answer_free(&a), free(q2), free(q), free(cp);
}
