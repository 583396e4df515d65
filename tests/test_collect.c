/*
 * test_collect.c - `ldg checkpoint --as LOG.key --witness W.pub=URL|exec:CMD
 * ... [--quorum N]` (spec/witness.md [WIT-8], spec/format.md [CKP-9]) on the
 * real binary: witnesses run offline through exec: (`ldg witness
 * add-checkpoint`) and over HTTP (`ldg witness serve` on loopback); the
 * quorum met and the stored note passing `verify --witness`; a 409 stale
 * size resent from the witness's size; a fork and a rollback refused and
 * named (exit 1); a witness that is down named (exit 4 below the quorum,
 * the log-signed checkpoint still stored); a bad cosignature never stored.
 */
#define _DEFAULT_SOURCE /* usleep */
#include "helpers.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ORIGIN "test.example/ledger"

static void
must_ok(run_result r, const char *what)
{
    cr_assert_eq(r.status, 0, "%s: exit %d: %s", what, r.status, r.err);
    run_free(&r);
}

static void
grow(const char *d, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_geq(APPEND(d, "{\"subject\":\"w\"}", "--as", "author.key", "--kind",
                             "communication", "--study", "S"),
                      0);
}

/* A witness key NAME (files NAME.key/.pub) and its state NAME.ws trusting the log key. */
static void
witness(const char *d, const char *name)
{
    char key[64], state[64], wname[64];
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(state, sizeof state, "%s.ws", name);
    snprintf(wname, sizeof wname, "%s.example/w", name);
    must_ok(LDG(d, NULL, "keygen", "--name", wname, "--out", name, "--unencrypted"), "keygen");
    must_ok(LDG(d, NULL, "witness", "init", "--state", state, "--key", key), "witness init");
    must_ok(LDG(d, NULL, "witness", "add-log", "--state", state, "--key", "log.pub", "--origin",
                ORIGIN),
            "add-log");
}

/* The --witness argument for NAME's state, offline through exec:. */
static const char *
offline(const char *name)
{
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s.pub=exec:%s witness add-checkpoint --state %s.ws", name,
             ldg_bin(), name);
    return b;
}

static void
setup(const char *d)
{
    setenv("LDG_TEST_WITNESS_TIME", "1700000000", 1);
    /* loopback is asked directly, whatever proxy the host has */
    unsetenv("http_proxy"), unsetenv("HTTP_PROXY"), unsetenv("all_proxy"),
        unsetenv("ALL_PROXY");
    make_ledger(d);
    grow(d, 1); /* size 5 */
}

/* The note the ledger stored at its current head (signing it again returns it as is). */
static char *
stored(const char *d)
{
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key");
    cr_assert_eq(r.status, 0, "checkpoint: %s", r.err);
    free(r.err);
    return r.out;
}

/* A plain request body to a witness: old SIZE, proof lines, empty line, note. */
static void
cosign_directly(const char *d, const char *name, const char *note)
{
    char *req = malloc(strlen(note) + 16), state[64];
    sprintf(req, "old 0\n\n%s", note);
    snprintf(state, sizeof state, "%s.ws", name);
    run_result r = LDG(d, req, "witness", "add-checkpoint", "--state", state);
    cr_assert_eq(r.status, 0, "direct add-checkpoint: %s %s", r.out, r.err);
    run_free(&r);
    free(req);
}

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

/* `ldg witness serve` on a free loopback port (as tests/test_witness.c starts it). */
static int
serve(const char *d, const char *state)
{
    char s[1200], p[700];
    snprintf(p, sizeof p, "%s/serve.err", d);
    unlink(p);
    snprintf(s, sizeof s,
             "exec '%s' witness serve --state %s --listen 127.0.0.1:0 > serve.out 2> serve.err",
             ldg_bin(), state);
    serving = spawn_sh(d, s);
    for (int i = 0; i < (int)(500 * test_timeout_scale()); i++) {
        char *e = read_file(p, NULL);
        char *at = e ? strstr(e, "listening on 127.0.0.1:") : NULL;
        if (at) {
            int port = atoi(at + 23);
            free(e);
            return port;
        }
        free(e);
        usleep(10000);
    }
    cr_assert_fail("serve did not start");
    return -1;
}

/* A loopback port nobody listens on: bound, then closed. */
static int
closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

Test(collect, quorum_met_offline_and_http_stored_and_verifies, .fini = serve_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    witness(d, "w2");
    int port = serve(d, "w2.ws");
    char url[128];
    snprintf(url, sizeof url, "w2.pub=http://127.0.0.1:%d", port);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"),
                       "--witness", url);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "\n5\n"), "%s", r.out);
    cr_assert(strstr(r.out, "\xe2\x80\x94 w1.example/w "), "%s", r.out);
    cr_assert(strstr(r.out, "\xe2\x80\x94 w2.example/w "), "%s", r.out);
    cr_assert(strstr(r.err, "2 of 2 witnesses cosigned size 5 (quorum 2)"), "%s", r.err);
    /* stored in the ledger: the note of its head carries both, and meets the policy */
    char *note = stored(d);
    cr_assert_str_eq(note, r.out);
    write_file(d, "cp5", note);
    must_ok(LDG(d, NULL, "verify", "--checkpoint", "cp5", "--witness", "w1.pub", "--witness",
                "w2.pub", "--quorum", "2"),
            "verify --witness");
    run_free(&r);
    free(note);
    /* the ledger grows: asked again from the size each witness cosigned, with a proof */
    grow(d, 2);
    snprintf(url, sizeof url, "w2.pub=http://127.0.0.1:%d/add-checkpoint", port);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"), "--witness",
            url);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "\n7\n") && str_count(r.out, "\xe2\x80\x94 w") == 2, "%s", r.out);
    run_free(&r);
    run_result l = LDG(d, NULL, "witness", "list", "--state", "w2.ws");
    cr_assert(strstr(l.out, "cosigned size 7"), "%s", l.out);
    run_free(&l);
    /* again with nothing new: no new line, the witnesses are not asked (w2 is down now) */
    kill(serving, SIGTERM);
    waitpid(serving, NULL, 0);
    serving = -1;
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"), "--witness",
            url);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_eq(str_count(r.out, "\xe2\x80\x94 w"), 2, "%s", r.out);
    run_free(&r);
}

Test(collect, stale_409_is_resent_from_the_witness_size, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    /* the witness cosigns size 5 behind the ledger's back: the ledger thinks 0 */
    char *cp5 = stored(d);
    cosign_directly(d, "w1", cp5);
    grow(d, 1);
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"));
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "\n6\n") && strstr(r.out, "\xe2\x80\x94 w1.example/w "), "%s", r.out);
    run_free(&r);
    run_result l = LDG(d, NULL, "witness", "list", "--state", "w1.ws");
    cr_assert(strstr(l.out, "cosigned size 6"), "%s", l.out);
    run_free(&l);
    free(cp5);
}

/* A second ledger in d2 with the same origin and log key: another history of size 5. */
static void
fork_ledger(const char *d, const char *d2)
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
}

Test(collect, fork_and_rollback_are_refused_named_exit_1, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    char d2[600];
    setup(d);
    snprintf(d2, sizeof d2, "%.500s/fork", d);
    mkdir(d2, 0700);
    fork_ledger(d, d2);
    witness(d, "w1"); /* sees the fork at size 5 */
    witness(d, "w2"); /* sees size 7 of d */
    witness(d, "w3"); /* sees nothing before: cosigns d2's head */
    char *f5 = stored(d); /* d's head at 5: d2's is another root at that size */
    cosign_directly(d, "w1", f5);
    grow(d, 2);
    char *c7 = stored(d);
    cosign_directly(d, "w2", c7);
    /* d2 (size 5, the same log key and origin) asks both: a fork, and a rollback from 7 */
    char arg1[1200], arg2[1200];
    snprintf(arg1, sizeof arg1, "%s/w1.pub=exec:%s witness add-checkpoint --state %s/w1.ws", d,
             ldg_bin(), d);
    snprintf(arg2, sizeof arg2, "%s/w2.pub=exec:%s witness add-checkpoint --state %s/w2.ws", d,
             ldg_bin(), d);
    free(f5);
    char arg3[1200];
    snprintf(arg3, sizeof arg3, "%s/w3.pub=exec:%s witness add-checkpoint --state %s/w3.ws", d,
             ldg_bin(), d);
    run_result r = LDG(d2, NULL, "checkpoint", "--as", "log.key", "--witness", arg1, "--witness",
                       arg2, "--witness", arg3, "--quorum", "1");
    cr_assert_eq(r.status, 1, "a witness that saw another history: exit 1 (quorum met or not), "
                 "not %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "witness w1.example/w") && strstr(r.err, "409 fork"), "%s", r.err);
    cr_assert(strstr(r.err, "witness w2.example/w") && strstr(r.err, "size 7") &&
                  strstr(r.err, "rolled back"),
              "%s", r.err);
    cr_assert(strstr(r.err, "1 of 3 witnesses cosigned size 5 (quorum 1)\n"), "%s", r.err);
    /* stored and printed: the log-signed checkpoint with w3's cosignature alone */
    cr_assert(strstr(r.out, "\n5\n") && strstr(r.out, "\xe2\x80\x94 w3.example/w ") &&
                  !strstr(r.out, "w1.example") && !strstr(r.out, "w2.example"),
              "%s", r.out);
    run_free(&r);
    char *s = stored(d2);
    cr_assert(strstr(s, "w3.example") && !strstr(s, "w1.example") && !strstr(s, "w2.example"),
              "%s", s);
    free(s), free(c7);
}

Test(collect, a_proof_that_does_not_match_the_witness_is_refused_exit_1, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    char d2[600], arg[1200];
    setup(d);
    snprintf(d2, sizeof d2, "%.500s/fork", d);
    mkdir(d2, 0700);
    fork_ledger(d, d2);
    witness(d, "w1");
    char *c5 = stored(d);
    cosign_directly(d, "w1", c5); /* w1 holds d's head at 5 */
    /* d2, another history under the same log key, grows to 7 and asks from 5 */
    for (int i = 0; i < 2; i++)
        cr_assert_geq(APPEND(d2, "{\"subject\":\"f\"}", "--as", "k1.key", "--kind",
                             "communication", "--study", "S"),
                      0);
    snprintf(arg, sizeof arg, "%s/w1.pub=exec:%s witness add-checkpoint --state %s/w1.ws", d,
             ldg_bin(), d);
    run_result r = LDG(d2, NULL, "checkpoint", "--as", "log.key", "--witness", arg);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "witness w1.example/w") && strstr(r.err, "INTEGRITY: 422") &&
                  strstr(r.err, "from size 5"),
              "%s", r.err);
    cr_assert(strstr(r.out, "\n7\n") && !strstr(r.out, "w1.example"), "%s", r.out);
    run_free(&r);
    free(c5);
}

Test(collect, a_witness_that_is_down_is_named, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    witness(d, "w2");
    char url[128];
    snprintf(url, sizeof url, "w2.pub=http://127.0.0.1:%d/", closed_port());
    /* quorum 1: met by w1; w2 named on stderr */
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"),
                       "--witness", url, "--quorum", "1", "--timeout", "5");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "witness w2.example/w (http://127.0.0.1:") && strstr(r.err, "refused"),
              "%s", r.err);
    cr_assert(strstr(r.err, "1 of 2 witnesses cosigned size 5 (quorum 1)\n"), "%s", r.err);
    run_free(&r);
    /* every witness required: operational failure, exit 4; the log checkpoint is stored */
    grow(d, 1);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"), "--witness",
            url, "--timeout", "5");
    cr_assert_eq(r.status, 4, "quorum not met, witness down: exit 4, not %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "1 of 2 witnesses cosigned size 6 (quorum 2): quorum not met; the "
                            "checkpoint signed by the log key is stored"),
              "%s", r.err);
    run_free(&r);
    char *s = stored(d);
    cr_assert(strstr(s, "\n6\n") && strstr(s, "\xe2\x80\x94 w1.example/w ") &&
                  !strstr(s, "w2.example"),
              "%s", s);
    write_file(d, "cp6", s);
    run_result v = LDG(d, NULL, "verify", "--checkpoint", "cp6", "--witness", "w1.pub",
                       "--witness", "w2.pub");
    cr_assert_eq(v.status, 1, "%s", v.out);
    run_free(&v);
    free(s);
}

Test(collect, a_bad_cosignature_is_refused_and_not_stored, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    /* a witness whose answer is altered: one byte of the signature in its line changed */
    char script[1500];
    snprintf(script, sizeof script,
             "'%s' witness add-checkpoint --state w1.ws | "
             "sed -E '4s/^(\xe2\x80\x94 [^ ]+ .{40})A/\\1B/;t;4s/^(\xe2\x80\x94 [^ ]+ .{40})./\\1A/'\n",
             ldg_bin());
    write_file(d, "bad.sh", script);
    run_result r =
        LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "w1.pub=exec:/bin/sh bad.sh");
    cr_assert_eq(r.status, 4, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "witness w1.example/w (exec:/bin/sh bad.sh): refused") &&
                  strstr(r.err, "does not count") && strstr(r.err, "nothing of it is stored"),
              "%s", r.err);
    cr_assert(!strstr(r.out, "w1.example"), "%s", r.out);
    run_free(&r);
    char *s = stored(d);
    cr_assert(!strstr(s, "w1.example"), "never stored: %s", s);
    free(s);
    /* a line by another key in a 200 is dropped, the witness's own kept */
    write_file(d, "other.sh",
               "out=$(\"$LDGW\" witness add-checkpoint --state w1.ws)\n"
               "printf '%s\\n' \"$out\"\n"
               "case $out in 200*) ;; *) exit 0;; esac\n"
               "printf '\\342\\200\\224 someone.else AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\\n'\n");
    setenv("LDGW", ldg_bin(), 1);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "w1.pub=exec:/bin/sh other.sh");
    unsetenv("LDGW");
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "\xe2\x80\x94 w1.example/w ") && !strstr(r.out, "someone.else"), "%s",
              r.out);
    run_free(&r);
}

Test(collect, bad_usage_signs_nothing, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "w1.pub");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "W.pub=URL or W.pub=exec:COMMAND"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "w1.pub=ftp://x", "--quorum",
            "1");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "http:// or https://"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", offline("w1"), "--quorum", "2");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--quorum 2"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "log.pub=exec:true");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "never its own witness"), "%s", r.err);
    run_free(&r);
    /* nothing was signed: the ledger has no checkpoint */
    run_result p = LDG(d, NULL, "proof", "inclusion", "0", "--format", "tlog-proof");
    cr_assert_neq(p.status, 0, "a checkpoint was stored: %s", p.out);
    run_free(&p);
}

Test(collect, asks_from_the_size_the_witness_last_cosigned, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    /* a witness command that keeps a copy of each request it is given */
    char script[1200];
    snprintf(script, sizeof script,
             "tee req.txt | '%s' witness add-checkpoint --state w1.ws\n", ldg_bin());
    write_file(d, "tee.sh", script);
    must_ok(LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "w1.pub=exec:sh tee.sh"),
            "first");
    char p[700];
    snprintf(p, sizeof p, "%s/req.txt", d);
    char *req = read_file(p, NULL);
    cr_assert(req && strncmp(req, "old 0\n\n" ORIGIN "\n5\n", 7 + strlen(ORIGIN) + 3) == 0, "%s",
              req);
    free(req);
    grow(d, 2);
    must_ok(LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness", "w1.pub=exec:sh tee.sh"),
            "second");
    /* [CKP-9] from 5, the size whose stored note carries w1's cosignature, with a proof */
    req = read_file(p, NULL);
    cr_assert(req && strncmp(req, "old 5\n", 6) == 0, "%s", req);
    char *blank = strstr(req, "\n\n");
    cr_assert(blank && blank > req + 6 && strstr(blank, "\n7\n"), "proof lines: %s", req);
    free(req);
}

Test(collect, a_witness_command_that_hangs_is_stopped_at_the_timeout, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    setup(d);
    witness(d, "w1");
    run_result r = LDG(d, NULL, "checkpoint", "--as", "log.key", "--witness",
                       "w1.pub=exec:sleep 60", "--timeout", "1");
    cr_assert_eq(r.status, 4, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "witness w1.example/w (exec:sleep 60): refused: sleep: no answer "
                            "within 1 s"),
              "%s", r.err);
    run_free(&r);
}
