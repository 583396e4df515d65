/*
 * test_bundle.c - `ldg export --format bundle` and `ldg verify-bundle`
 * through the real binary: a bundle of the realistic trail checks offline,
 * and each tampering the issue names is caught: a byte of an entry, of a
 * body, of the manifest, of a proof, of the checkpoint; a record removed;
 * a record from another ledger inserted; a wrong trusted key; damaged tar
 * structure; a forged report or a dropped record with the manifest
 * recomputed (manifest.sig); a manifest.sig by another key.  Where the
 * manifest would catch a change by itself, the test rewrites the manifest
 * too, so the check behind it is the one tested.
 */
#define _GNU_SOURCE /* memmem */
#include "helpers.h"
#include "internal.h" /* struct ldg_key, for the manifest.sig test vector */

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXM 16

typedef struct member {
    char name[100];
    char *data;
    size_t len;
} member;

typedef struct tarball {
    member m[MAXM];
    size_t n;
} tarball;

static tarball
tar_load(const char *path)
{
    tarball t = {0};
    size_t len;
    char *p = read_file(path, &len);
    cr_assert_not_null(p, "%s", path);
    for (size_t off = 0; off + 512 <= len;) {
        const char *h = p + off;
        if (!h[0])
            break;
        cr_assert_lt(t.n, MAXM);
        member *m = &t.m[t.n++];
        memcpy(m->name, h, 99);
        m->len = strtoull(h + 124, NULL, 8);
        m->data = malloc(m->len + 1);
        memcpy(m->data, p + off + 512, m->len);
        m->data[m->len] = '\0';
        off += 512 + (m->len + 511) / 512 * 512;
    }
    free(p);
    return t;
}

static void
tar_save(const tarball *t, const char *path)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (size_t i = 0; i < t->n; i++) {
        char h[512] = {0};
        memcpy(h, t->m[i].name, strlen(t->m[i].name));
        memcpy(h + 100, "0000644", 7);
        memcpy(h + 108, "0000000", 7);
        memcpy(h + 116, "0000000", 7);
        snprintf(h + 124, 12, "%011zo", t->m[i].len);
        memcpy(h + 136, "00000000000", 11);
        memset(h + 148, ' ', 8);
        h[156] = '0';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        unsigned sum = 0;
        for (int k = 0; k < 512; k++)
            sum += (unsigned char)h[k];
        snprintf(h + 148, 8, "%06o", sum);
        h[155] = ' ';
        fwrite(h, 1, 512, f);
        fwrite(t->m[i].data, 1, t->m[i].len, f);
        static const char zero[1024];
        fwrite(zero, 1, (512 - t->m[i].len % 512) % 512, f);
    }
    static const char end[1024];
    fwrite(end, 1, sizeof end, f);
    fclose(f);
}

static void
tar_free(tarball *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->m[i].data);
}

static member *
get(tarball *t, const char *name)
{
    char full[100];
    snprintf(full, sizeof full, "ldg-bundle/%s", name);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->m[i].name, full) == 0)
            return &t->m[i];
    cr_assert_fail("no %s in the bundle", name);
    return NULL;
}

static void
set(member *m, char *data)
{
    free(m->data);
    m->data = data;
    m->len = strlen(data);
}

/* Rewrites the manifest's sizes and hashes to match the files, as a forger would. */
static void
fix_manifest(tarball *t)
{
    member *mm = get(t, "manifest.json");
    json_t *j = json_loads(mm->data, 0, NULL);
    cr_assert_not_null(j);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(j, "files"), i, f)
    {
        member *m = get(t, json_string_value(json_object_get(f, "path")));
        uint8_t d[32];
        char hex[65];
        crypto_hash_sha256(d, (const unsigned char *)m->data, m->len);
        sodium_bin2hex(hex, sizeof hex, d, 32);
        json_object_set_new(f, "sha256", json_string(hex));
        json_object_set_new(f, "size", json_integer((json_int_t)m->len));
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    set(mm, text);
}

/* Line i (0-based) of a JSON Lines member, parsed. */
static json_t *
line_of(member *m, size_t i)
{
    char *p = m->data;
    for (size_t k = 0; k < i; k++) {
        p = strchr(p, '\n');
        cr_assert_not_null(p);
        p++;
    }
    json_t *o = json_loadb(p, strcspn(p, "\n"), 0, NULL);
    cr_assert_not_null(o);
    return o;
}

/* Replaces line i of a JSON Lines member with o (NULL: removes it). */
static void
put_line(member *m, size_t i, json_t *o)
{
    char *out = malloc(m->len + 65536), *w = out, *p = m->data;
    for (size_t k = 0; *p; k++) {
        size_t n = strcspn(p, "\n");
        if (k == i) {
            if (o) {
                char *t = json_dumps(o, JSON_COMPACT);
                w += sprintf(w, "%s\n", t);
                free(t);
            }
        } else {
            memcpy(w, p, n + 1);
            w += n + 1;
        }
        p += n + (p[n] == '\n');
    }
    *w = '\0';
    set(m, out);
}

static run_result
vb(const char *d, const char *bundle, const char *trust)
{
    return trust ? LDG(d, NULL, "verify-bundle", bundle, "--trust", trust)
                 : LDG(d, NULL, "verify-bundle", bundle);
}

static void
expect_fail(const char *d, const char *bundle, const char *needle)
{
    run_result r = vb(d, bundle, "log.pub");
    cr_assert_eq(r.status, 1, "verify-bundle must exit 1: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, needle), "want \"%s\" in:\n%s", needle, r.out);
    cr_assert(strstr(r.out, "FAILED: bundle"), "%s", r.out);
    run_free(&r);
}

static void
bundle_of(const char *d, const char *extra)
{
    make_trail(d);
    run_result r =
        extra
            ? LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key", extra)
            : LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
}

static char *
path_in(const char *d, const char *name)
{
    static char p[1200];
    snprintf(p, sizeof p, "%s/%s", d, name);
    return p;
}

Test(bundle, a_clean_bundle_checks_offline, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    run_result r = vb(d, "b.tar", "log.pub");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "OK: bundle of test.example/ledger: 12 records, 6 key records, 0 "
                            "failures"),
              "%s", r.out);
    cr_assert_null(strstr(r.out, "NOTE"), "%s", r.out);
    cr_assert(strstr(r.out, "Manifest signed by the trusted log key; not cosigned"), "%s", r.out);
    run_free(&r);
    r = vb(d, "b.tar", NULL);
    cr_assert_eq(r.status, 2, "without --trust it is not authenticated: %s", r.out);
    cr_assert(strstr(r.out, "NOTE: no --trust given: the log key was taken from the bundle"),
              "says plainly what it trusted: %s", r.out);
    run_free(&r);
    /* everything the issue lists is in it */
    tarball t = tar_load(path_in(d, "b.tar"));
    static const char *const names[] = {"README.txt",     "manifest.json", "checkpoint.txt",
                                        "log.pub",        "records.jsonl", "keyrecords.jsonl",
                                        "report.html",    "trail.csv",     "trail.jsonl",
                                        "signatures.csv", "keys.csv",      "review.json",
                                        "review.html",    "manifest.sig"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert_gt(get(&t, names[i])->len, 0, "%s", names[i]);
    cr_assert(strstr(get(&t, "README.txt")->data, "certifies that the records in this bundle"));
    cr_assert(strstr(get(&t, "keys.csv")->data, "left the project"), "the revocation");
    tar_free(&t);
}

Test(bundle, a_key_other_than_the_trusted_one_is_refused, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    run_result r = vb(d, "b.tar", "admin.pub");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "not the trusted log key"), "%s", r.out);
    run_free(&r);
    /* a forger who swaps in their own log key and re-signs is caught by --trust */
    tarball t = tar_load(path_in(d, "b.tar"));
    char *pub = read_file(path_in(d, "approver.pub"), NULL);
    set(get(&t, "log.pub"), pub);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "the bundle's log.pub is not the trusted log key");
}

Test(bundle, an_altered_entry_is_caught_by_its_proof_and_signature, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    member *m = get(&t, "records.jsonl");
    json_t *o = line_of(m, 7);
    const char *b64 = json_string_value(json_object_get(o, "entry"));
    uint8_t e[4096];
    size_t n;
    cr_assert_eq(sodium_base642bin(e, sizeof e, b64, strlen(b64), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL),
                 0);
    uint8_t *sig = memmem(e, n, "\xa3sig\xc4\x40", 6);
    cr_assert_not_null(sig);
    sig[30] ^= 1;
    char out[8192];
    sodium_bin2base64(out, sizeof out, e, n, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(o, "entry", json_string(out));
    put_line(m, 7, o);
    json_decref(o);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "#7      proof");
    expect_fail(d, "x.tar", "#7      signature");
}

Test(bundle, an_altered_body_is_caught_by_its_commitment, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    member *m = get(&t, "records.jsonl");
    json_t *o = line_of(m, 4);
    char *body = strdup(json_string_value(json_object_get(o, "body")));
    char *at = strstr(body, "Site 12");
    cr_assert_not_null(at);
    at[6] = '3';
    json_object_set_new(o, "body", json_string(body));
    free(body);
    put_line(m, 4, o);
    json_decref(o);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "#4      body: the body does not match the signed commitment");
}

Test(bundle, an_altered_manifest_or_file_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    member *m = get(&t, "manifest.json");
    char *h = strstr(m->data, "\"sha256\":\"");
    h[12] = h[12] == 'a' ? 'b' : 'a';
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "does not match its size and SHA-256 in the manifest");
    /* a file changed and the manifest left alone */
    t = tar_load(path_in(d, "b.tar"));
    m = get(&t, "trail.csv");
    m->data[m->len / 2] ^= 1;
    tar_save(&t, path_in(d, "y.tar"));
    tar_free(&t);
    expect_fail(d, "y.tar", "trail.csv does not match its size and SHA-256");
}

Test(bundle, an_altered_proof_or_checkpoint_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    member *m = get(&t, "records.jsonl");
    json_t *o = line_of(m, 5);
    json_t *hs = json_object_get(json_object_get(o, "inclusion"), "hashes");
    cr_assert_gt(json_array_size(hs), 0);
    json_array_set_new(hs, 0, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    put_line(m, 5, o);
    json_decref(o);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "#5      proof");
    t = tar_load(path_in(d, "b.tar"));
    m = get(&t, "checkpoint.txt");
    char *nl = strchr(m->data, '\n');
    nl[1] = nl[1] == '1' ? '2' : '1'; /* the size line */
    fix_manifest(&t);
    tar_save(&t, path_in(d, "y.tar"));
    tar_free(&t);
    expect_fail(d, "y.tar", "checkpoint.txt is not a checkpoint signed by the trusted log key");
}

Test(bundle, a_removed_record_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    put_line(get(&t, "records.jsonl"), 6, NULL);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "the manifest lists 12 records; records.jsonl holds 11");
}

Test(bundle, a_record_from_another_ledger_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    char other[1000];
    snprintf(other, sizeof other, "%s/other", d);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir '%s'", other);
    cr_assert_eq(system(cmd), 0);
    bundle_of(other, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    tarball u = tar_load(path_in(other, "b.tar"));
    /* the other ledger's #9 (same shape, same seq) replaces ours */
    json_t *o = line_of(get(&u, "records.jsonl"), 9);
    put_line(get(&t, "records.jsonl"), 9, o);
    json_decref(o);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    tar_free(&u);
    expect_fail(d, "x.tar", "#9      proof");
}

Test(bundle, withheld_bodies_are_reported_withheld, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, "--withhold-bodies");
    run_result r = vb(d, "b.tar", "log.pub");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "WITHHELD #4      body: body withheld from this export"), "%s", r.out);
    cr_assert(strstr(r.out, "12 bodies withheld"), "%s", r.out);
    run_free(&r);
    tarball t = tar_load(path_in(d, "b.tar"));
    cr_assert_null(strstr(get(&t, "records.jsonl")->data, "Visit window"));
    cr_assert_null(strstr(get(&t, "trail.jsonl")->data, "Visit window"));
    cr_assert_null(strstr(get(&t, "report.html")->data, "Visit window"));
    tar_free(&t);
}

Test(bundle, damaged_or_foreign_files_never_crash, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    size_t len;
    char *p = read_file(path_in(d, "b.tar"), &len);
    /* truncated at many points */
    for (size_t cut = 1; cut < len; cut += len / 23 + 1) {
        FILE *f = fopen(path_in(d, "t.tar"), "w");
        fwrite(p, 1, cut, f);
        fclose(f);
        run_result r = vb(d, "t.tar", "log.pub");
        cr_assert_eq(r.status, 1, "cut at %zu: %s%s", cut, r.out, r.err);
        run_free(&r);
    }
    /* a header byte flipped */
    p[200] ^= 0x55;
    FILE *f = fopen(path_in(d, "h.tar"), "w");
    fwrite(p, 1, len, f);
    fclose(f);
    free(p);
    expect_fail(d, "h.tar", "damaged");
    write_file(d, "junk.tar", "this is not a tar file at all, but it is long enough? no.");
    run_result r = vb(d, "junk.tar", "log.pub");
    cr_assert_eq(r.status, 1, "%s", r.out);
    run_free(&r);
    r = vb(d, "nonexistent.tar", "log.pub");
    cr_assert_eq(r.status, 2, "%s", r.err);
    run_free(&r);
}

/* ------------------------------------------- manifest.sig [EXP-8] [EXP-9] -- */

/* Replaces every occurrence of from with to in m. */
static void
replace_all(member *m, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = m->data; (p = strstr(p, from)); p += fl)
        n++;
    char *out = malloc(m->len + n * tl + 1), *w = out;
    const char *p = m->data, *q;
    while ((q = strstr(p, from))) {
        memcpy(w, p, (size_t)(q - p));
        w += q - p;
        memcpy(w, to, tl);
        w += tl;
        p = q + fl;
    }
    strcpy(w, p);
    set(m, out);
}

Test(bundle, refuses_a_forged_report_with_a_recomputed_manifest, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, "--exporter=Jo Exporter");
    tarball t = tar_load(path_in(d, "b.tar"));
    member *h = get(&t, "report.html");
    cr_assert(strstr(h->data, "Quinn Avery") && strstr(h->data, "Content-Security-Policy"));
    /* the approval becomes a rejection, signer and certifier renamed, the CSP gone, a script in */
    replace_all(h, "Approved", "REJECTED");
    replace_all(h, "Quinn Avery", "Mallory Forger");
    replace_all(h, "Jo Exporter", "Mallory Forger");
    replace_all(h, "Content-Security-Policy", "X-Nothing");
    replace_all(h, "</body>", "<script>location='http://x.example/'</script></body>");
    replace_all(get(&t, "README.txt"), "Jo Exporter", "Mallory Forger");
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    run_result r = vb(d, "x.tar", "log.pub");
    cr_assert_eq(r.status, 1, "a forged report must fail: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "report.html is not the file the log key signed in manifest.sig"),
              "names the file: %s", r.out);
    cr_assert(strstr(r.out, "README.txt is not the file the log key signed"), "%s", r.out);
    cr_assert(strstr(r.out, "manifest.json is not the file the log key signed"), "%s", r.out);
    cr_assert(strstr(r.out, "FAILED: bundle"), "%s", r.out);
    run_free(&r);
}

Test(bundle, detects_a_dropped_record_with_a_recomputed_manifest, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    /* #7 (the approval) leaves records.jsonl and the manifest's record list */
    member *rec = get(&t, "records.jsonl");
    json_t *o = line_of(rec, 7);
    cr_assert_eq(json_integer_value(json_object_get(o, "seq")), 7);
    json_decref(o);
    put_line(rec, 7, NULL);
    member *mm = get(&t, "manifest.json");
    json_t *j = json_loads(mm->data, 0, NULL);
    json_t *list = json_object_get(j, "records");
    json_array_remove(list, 7);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    set(mm, text);
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    run_result r = vb(d, "x.tar", "log.pub");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "records.jsonl is not the file the log key signed"), "%s", r.out);
    cr_assert(strstr(r.out, "manifest.json is not the file the log key signed"), "%s", r.out);
    run_free(&r);
}

Test(bundle, never_exits_0_without_a_trusted_log_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    run_result r = vb(d, "b.tar", NULL);
    cr_assert_eq(r.status, 2, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "UNAUTHENTICATED: bundle of test.example/ledger"), "%s", r.out);
    cr_assert(strstr(r.err, "give --trust LOG.pub"), "%s", r.err);
    run_free(&r);
    r = LDG(d, NULL, "verify-bundle", "b.tar", "--json");
    cr_assert_eq(r.status, 2, "%s", r.out);
    cr_assert(strstr(r.out, "\"verdict\":\"unauthenticated\""), "%s", r.out);
    run_free(&r);
}

Test(bundle, refuses_a_manifest_signed_by_another_log_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    /* a forger's key with the log key's name re-signs a doctored bundle */
    run_result r = LDG(d, NULL, "keygen", "--name", "log", "--out", "evil", "--unencrypted");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    ldg_err err;
    ldg_key *evil = NULL;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    cr_assert_eq(ldg_key_load(path_in(d, "evil.key"), NULL, 0, &evil, &err), LDG_OK, "%s", err.msg);
    tarball t = tar_load(path_in(d, "b.tar"));
    replace_all(get(&t, "report.html"), "Quinn Avery", "Mallory Forger");
    fix_manifest(&t);
    ldg_bundle_file files[MAXM];
    size_t n = 0;
    static const char *const order[] = {"manifest.json",  "README.txt",    "checkpoint.txt",
                                        "log.pub",        "records.jsonl", "keyrecords.jsonl",
                                        "report.html",    "trail.csv",     "trail.jsonl",
                                        "signatures.csv", "keys.csv"};
    for (; n < sizeof order / sizeof order[0]; n++) {
        member *m = get(&t, order[n]);
        files[n].path = order[n];
        crypto_hash_sha256(files[n].sha256, (const unsigned char *)m->data, m->len);
    }
    char *note;
    size_t len;
    cr_assert_eq(ldg_bundle_sign("test.example/ledger", files, n, evil, NULL, &note, &len, &err),
                 LDG_OK, "%s", err.msg);
    set(get(&t, "manifest.sig"), note);
    ldg_key_free(evil);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "manifest.sig is not signed by the trusted log key \"log\"");
    /* the whole bundle re-signed by the forger's log key: --trust still holds */
    r = vb(d, "x.tar", "evil.pub");
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "not the trusted log key"), "%s", r.out);
    run_free(&r);
}

Test(bundle, names_the_exporter_who_cosigned_from_the_key_records, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    run_result r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key",
                       "--cosign", "approver.key");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = vb(d, "b.tar", "log.pub");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "cosigned by the exporter Quinn Avery (Helix Pharma), key approver"),
              "%s", r.out);
    run_free(&r);
    tarball t = tar_load(path_in(d, "b.tar"));
    cr_assert(strstr(get(&t, "README.txt")->data, "Quinn Avery (Helix Pharma), key approver"));
    /* a cosignature by a key the key records do not hold is a failure, not a name */
    member *sig = get(&t, "manifest.sig");
    char *fake = malloc(sig->len + 200);
    sprintf(fake, "%s\xe2\x80\x94 ceo %.91s=\n", sig->data,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            "AAAAAAAA");
    set(sig, fake);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "a key no key record of the bundle adds");
}

Test(bundle, refuses_to_export_unsigned_or_cosigned_by_an_unregistered_key, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    run_result r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar");
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "add --as LOG.key"), "%s", r.err);
    cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    run_free(&r);
    cr_assert_eq(access(path_in(d, "b.tar"), F_OK), -1, "nothing written");
    r = LDG(d, NULL, "keygen", "--name", "stranger", "--out", "stranger", "--unencrypted");
    run_free(&r);
    r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key", "--cosign",
            "stranger.key");
    cr_assert_eq(r.status, 3, "%s", r.err);
    cr_assert(strstr(r.err, "not registered"), "%s", r.err);
    run_free(&r);
    /* the author's key was revoked at #11 */
    r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key", "--cosign",
            "author.key");
    cr_assert_eq(r.status, 3, "%s", r.err);
    run_free(&r);
    cr_assert_eq(access(path_in(d, "b.tar"), F_OK), -1, "nothing written");
}

Test(bundle, a_filtered_bundle_holds_what_the_entries_say, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    run_result r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key",
                       "--study", "HX-301");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    r = vb(d, "b.tar", "log.pub");
    cr_assert_eq(r.status, 0, "%s", r.out);
    /* [EXP-12] 4..8 and the key records of their signers (0..3, the revocation at 11) */
    cr_assert(strstr(r.out, "OK: bundle of test.example/ledger: 10 records"), "%s", r.out);
    run_free(&r);
    tarball t = tar_load(path_in(d, "b.tar"));
    cr_assert(strstr(get(&t, "manifest.json")->data, "\"records\":[0,1,2,3,4,5,6,7,8,11]"),
              "%s", get(&t, "manifest.json")->data);
    tar_free(&t);

    /*
     * The approval taken out of the study index: the log key signs nothing
     * over a ledger that does not check [CKP-2], so no bundle is made (the
     * JSONL, CSV and HTML exports select by the entries: test_export).
     */
    uint8_t k[16] = "HX-301";
    seq_key(7, k + 7);
    cr_assert_eq(lmdb_del_key(d, "study", k, 15), 0);
    r = LDG(d, NULL, "export", "--format", "bundle", "-o", "c.tar", "--as", "log.key", "--study",
            "HX-301");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "study index"), "%s", r.err);
    cr_assert_eq(access(path_in(d, "c.tar"), F_OK), -1, "nothing written");
    run_free(&r);
}

/* [EXP-8] the worked example of manifest.sig in spec/export.md, byte for byte */
Test(bundle, manifest_sig_matches_the_spec_vector)
{
    static const char want[] =
        "ldg-bundle-manifest/v1\n"
        "example.org/ledger\n"
        "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o= manifest.json\n"
        "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM= README.txt\n"
        "\n"
        "\xe2\x80\x94 log.example "
        "slLQz235mLeK2ZPK+FQbmU3alKXPge8r4tkVpjzafZw8qME2MhD9Y3K2NskdADZAAAeSr"
        "ddP3LMJ9njwLO2LfZWLLgA=\n"
        "\xe2\x80\x94 qa-anna "
        "omZo/IFpkGV4DhJ4ELVHyj4/dIBMRmD2JK7XiaX5yIgT5uS+n+UhEHCE37WvXD0FYg6YcvcZD"
        "9SlnAamEIolofaifwE=\n";
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    uint8_t seed[32], sk1[64], sk2[64];
    ldg_key a = {.sk = sk1}, b = {.sk = sk2};
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
    crypto_sign_seed_keypair(a.pub, sk1, seed);
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(0x20 + i);
    crypto_sign_seed_keypair(b.pub, sk2, seed);
    strcpy(a.name, "log.example");
    strcpy(b.name, "qa-anna");
    ldg_bundle_file f[2] = {{.path = "manifest.json"}, {.path = "README.txt"}};
    crypto_hash_sha256(f[0].sha256, (const unsigned char *)"{}", 2);
    crypto_hash_sha256(f[1].sha256, (const unsigned char *)"hello\n", 6);
    char *note;
    size_t len;
    cr_assert_eq(ldg_bundle_sign("example.org/ledger", f, 2, &a, &b, &note, &len, &err), LDG_OK,
                 "%s", err.msg);
    cr_assert_str_eq(note, want);
    cr_assert_eq(len, strlen(want));
    free(note);
    char line[LDG_VKEY_MAX];
    cr_assert_eq(ldg_vkey_format(a.name, a.pub, line, &err), LDG_OK);
    cr_assert_str_eq(line, "log.example+b252d0cf+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4");
    cr_assert_eq(ldg_vkey_format(b.name, b.pub, line, &err), LDG_OK);
    cr_assert_str_eq(line, "qa-anna+a26668fc+ASmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X");
}

Test(bundle, the_log_key_never_signs_a_bundle_that_did_not_check, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_trail(d);
    flip_signature_bit(d, 7, 14);
    run_result r = LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key");
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "INTEGRITY:"), "%s", r.err);
    run_free(&r);
    /* the check before the log key signs [CKP-2] refuses first: no bundle at all */
    cr_assert_eq(access(path_in(d, "b.tar"), F_OK), -1, "nothing written");
}

/* ------------------------------------------ issue 11 part 9: one policy -- */

/*
 * A forging host appends a statement it built and signed with a real key,
 * bypassing the append's policy: the entry, its body, the leaf hash, the
 * commitment and the Merkle tree are written (the study, kind, actor and
 * keys databases are not: verify reports those too, which this test does
 * not look at).  Returns the seq.
 */
static uint64_t
forge(ldg_ledger *l, const ldg_key *k, ldgi_stmt *st)
{
    ldg_err err;
    ldgi_txn *t;
    cr_assert_eq(ldgi_txn_begin(l, true, &t, &err), LDG_OK, "%s", err.msg);
    uint64_t size, last;
    uint8_t prev[32], salt[32], leaf[32], sk8[8];
    cr_assert_eq(ldgi_head(t, &size, prev, &last, &err), LDG_OK);
    randombytes_buf(salt, sizeof salt);
    ldg_key_public(k, st->actor);
    ldgi_body_commit(salt, (const uint8_t *)"{}", 2, st->body);
    st->v = 1;
    st->time_ns = 1767225600000000000LL;
    ldgi_buf sb = {0}, eb = {0};
    cr_assert(ldgi_stmt_encode(st, &sb));
    ldgi_entry e = {.v = 1, .seq = size, .stmt = sb.p, .stmt_len = sb.len, .time_ns = last + 1};
    memcpy(e.prev, prev, 32);
    cr_assert(ldgi_stmt_sign(sb.p, sb.len, ldgi_key_sk(k), e.sig));
    cr_assert(ldgi_entry_encode(&e, &eb));
    ldgi_leaf_hash(eb.p, eb.len, leaf);
    ldgi_be64(sk8, size);
    uint8_t body[34];
    memcpy(body, salt, 32);
    memcpy(body + 32, "{}", 2);
    cr_assert_eq(ldgi_put(t, LDGI_DB_ENTRIES, sk8, 8, eb.p, eb.len, true, true, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_BODIES, sk8, 8, body, sizeof body, true, true, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_LEAF, leaf, 32, sk8, 8, true, false, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_COMMIT, st->body, 32, sk8, 8, true, false, &err), LDG_OK);
    cr_assert_eq(ldgi_tree_add(t, size, leaf, &err), LDG_OK, "%s", err.msg);
    bool full;
    cr_assert_eq(ldgi_txn_commit(t, &full, &err), LDG_OK, "%s", err.msg);
    ldgi_buf_free(&sb);
    ldgi_buf_free(&eb);
    return size;
}

static ldgi_str
lit(const char *s)
{
    return (ldgi_str){s, strlen(s)};
}

/* One evidence line [EXP-8] of entry seq, proven in the tree of size n. */
static char *
evidence(ldg_ledger *l, uint64_t seq, uint64_t n)
{
    ldg_err err;
    ldg_record *r;
    cr_assert_eq(ldg_record_get(l, seq, &r, &err), LDG_OK, "%s", err.msg);
    cr_assert_eq(r->body_state, LDG_BODY_OK);
    uint8_t h[LDG_PROOF_MAX][32];
    size_t nh;
    cr_assert_eq(ldg_proof_inclusion(l, seq, n, h, &nh, &err), LDG_OK, "%s", err.msg);
    json_t *hs = json_array();
    char b[8192];
    for (size_t i = 0; i < nh; i++) {
        sodium_bin2base64(b, sizeof b, h[i], 32, sodium_base64_VARIANT_ORIGINAL);
        json_array_append_new(hs, json_string(b));
    }
    sodium_bin2base64(b, sizeof b, r->entry, r->entry_len, sodium_base64_VARIANT_ORIGINAL);
    char salt[64], leaf[64];
    sodium_bin2base64(salt, sizeof salt, r->salt, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(leaf, sizeof leaf, r->leaf_hash, 32, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:I, s:s, s:s, s:{s:I, s:o}, s:s, s:s, s:s}", "seq", (json_int_t)seq,
                          "leaf_hash", leaf, "entry", b, "inclusion", "tree_size",
                          (json_int_t)n, "hashes", hs, "body_status", "ok", "salt", salt, "body",
                          r->body);
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ldg_record_free(r);
    return line;
}

/* The (seq, check) of every FAIL of a --json run, as "seq:check;" pairs. */
static char *
fails_of(const char *out)
{
    char *acc = calloc(1, 1 << 16), *copy = strdup(out), *save;
    for (char *ln = strtok_r(copy, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(ln, 0, NULL);
        const char *f = json_string_value(json_object_get(o, "finding"));
        if (f && strcmp(f, "FAIL") == 0 && json_is_integer(json_object_get(o, "seq")))
            snprintf(acc + strlen(acc), (1 << 16) - strlen(acc), "%lld:%s;",
                     (long long)json_integer_value(json_object_get(o, "seq")),
                     json_string_value(json_object_get(o, "check")));
        json_decref(o);
    }
    free(copy);
    return acc;
}

/*
 * Issue 11 part 9: records forged with real keys and put in a bundle that
 * the log key signed (its holder is the forger) passed verify-bundle where
 * ldg verify failed.  Both now apply the one policy engine: for every
 * forged record, verify-bundle reports the check verify reports, at the
 * same seq.
 */
Test(bundle, verify_bundle_applies_the_policy_verify_applies, .fini = tmp_cleanup, .timeout = 60)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL); /* the trail, 0..11, and a genuine bundle of it */
    run_result r = LDG(d, NULL, "keygen", "--name", "ghost", "--out", "ghost", "--unencrypted");
    cr_assert_eq(r.status, 0);
    run_free(&r);
    ldg_err err;
    cr_assert_eq(ldg_init(&err), LDG_OK);
    ldg_key *approver, *admin, *ghost;
    cr_assert_eq(ldg_key_load(path_in(d, "approver.key"), NULL, 0, &approver, &err), LDG_OK);
    cr_assert_eq(ldg_key_load(path_in(d, "admin.key"), NULL, 0, &admin, &err), LDG_OK);
    cr_assert_eq(ldg_key_load(path_in(d, "ghost.key"), NULL, 0, &ghost, &err), LDG_OK);
    char lp[1200];
    snprintf(lp, sizeof lp, "%s/ledger", d);
    ldg_ledger *l;
    cr_assert_eq(ldg_ledger_open(lp, 0, &l, &err), LDG_OK, "%s", err.msg);
    uint8_t ref4[32], decider[32], ghostpub[32];
    cr_assert_eq(ldg_ledger_leaf_hash(l, 4, ref4, &err), LDG_OK);
    char nm[LDG_NAME_MAX + 1];
    cr_assert_eq(ldg_vkey_read(path_in(d, "decider.pub"), nm, decider, &err), LDG_OK);
    ldg_key_public(ghost, ghostpub);

    ldgi_stmt *st = calloc(1, sizeof *st);
    /* 12: an approval without a meaning */
    *st = (ldgi_stmt){.kind = lit("approval"), .study = lit("HX-301"), .nrefs = 1};
    memcpy(st->refs[0], ref4, 32);
    uint64_t s12 = forge(l, approver, st);
    /* 13: an approval with a meaning outside the four of 21 CFR 11.50 */
    *st = (ldgi_stmt){.kind = lit("approval"), .study = lit("HX-301"), .nrefs = 1,
                      .has_meaning = true, .meaning = lit("consent")};
    memcpy(st->refs[0], ref4, 32);
    uint64_t s13 = forge(l, approver, st);
    /* 14: a key.revoke without a reason */
    *st = (ldgi_stmt){.kind = lit("key.revoke"), .study = lit(""), .has_key = true};
    memcpy(st->key_pub, decider, 32);
    uint64_t s14 = forge(l, admin, st);
    /* 15: a key.add whose observed head is not this chain's */
    *st = (ldgi_stmt){.kind = lit("key.add"), .study = lit(""), .has_key = true, .key_full = true,
                      .key_id = lit("ghost"), .key_name = lit("G Host"), .key_org = lit("Nowhere"),
                      .nroles = 1, .has_observed = true, .observed_size = 3};
    st->roles[0] = lit("author");
    memcpy(st->key_pub, ghostpub, 32);
    memset(st->observed_head, 0x42, 32);
    uint64_t s15 = forge(l, admin, st);
    /* 16: a record of a kind that is no user kind, by a key nobody registered */
    *st = (ldgi_stmt){.kind = lit("checkpoint"), .study = lit("")};
    uint64_t s16 = forge(l, ghost, st);
    free(st);
    cr_assert_eq(s16, 16);
    uint64_t n = 17;

    /* verify on the ledger: what it reports of each forged record */
    r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1);
    char *want = fails_of(r.out);
    run_free(&r);

    /* the bundle the log key's holder makes of it: records 12, 13, 16; key records to 16 */
    uint8_t root[32];
    cr_assert_eq(ldg_tree_root(l, n, root, &err), LDG_OK);
    char rb[64];
    sodium_bin2base64(rb, sizeof rb, root, 32, sodium_base64_VARIANT_ORIGINAL);
    char *note = log_note_by_hand(d, (unsigned long)n, rb);
    ldg_key *logk;
    cr_assert_eq(ldg_key_load(path_in(d, "log.key"), NULL, 0, &logk, &err), LDG_OK);

    tarball t = tar_load(path_in(d, "b.tar"));
    set(get(&t, "checkpoint.txt"), note);
    static const uint64_t keyseqs[] = {0, 1, 2, 3, 9, 11, 14, 15}, recseqs[] = {12, 13, 16};
    char *kr = calloc(1, 1 << 20), *rr = calloc(1, 1 << 20);
    for (size_t i = 0; i < sizeof keyseqs / sizeof keyseqs[0]; i++) {
        char *ln = evidence(l, keyseqs[i], n);
        strcat(strcat(kr, ln), "\n");
        free(ln);
    }
    for (size_t i = 0; i < sizeof recseqs / sizeof recseqs[0]; i++) {
        char *ln = evidence(l, recseqs[i], n);
        strcat(strcat(rr, ln), "\n");
        free(ln);
    }
    set(get(&t, "keyrecords.jsonl"), kr);
    set(get(&t, "records.jsonl"), rr);
    member *mm = get(&t, "manifest.json");
    json_t *mj = json_loads(mm->data, 0, NULL);
    json_object_set_new(mj, "records", json_pack("[I,I,I]", (json_int_t)12, (json_int_t)13,
                                                 (json_int_t)16));
    json_object_set_new(mj, "checkpoint_size", json_integer((json_int_t)n));
    set(mm, json_dumps(mj, JSON_COMPACT));
    json_decref(mj);
    fix_manifest(&t);
    ldg_bundle_file files[MAXM];
    size_t nf = 0;
    for (size_t i = 0; i < t.n; i++) {
        const char *name = t.m[i].name + strlen("ldg-bundle/");
        if (strcmp(name, "manifest.sig") == 0)
            continue;
        files[nf].path = name;
        crypto_hash_sha256(files[nf].sha256, (const unsigned char *)t.m[i].data, t.m[i].len);
        nf++;
    }
    /* manifest.json's line first, then the tar's order [EXP-8] */
    for (size_t i = 0; i < nf; i++)
        if (strcmp(files[i].path, "manifest.json") == 0) {
            ldg_bundle_file m0 = files[i];
            memmove(files + 1, files, i * sizeof *files);
            files[0] = m0;
        }
    char *msig;
    size_t msl;
    cr_assert_eq(ldg_bundle_sign("test.example/ledger", files, nf, logk, NULL, &msig, &msl, &err),
                 LDG_OK, "%s", err.msg);
    set(get(&t, "manifest.sig"), msig);
    tar_save(&t, path_in(d, "forged.tar"));
    tar_free(&t);

    r = LDG(d, NULL, "verify-bundle", "forged.tar", "--trust", "log.pub", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *got = fails_of(r.out);
    cr_assert_null(strstr(r.out, "\"check\":\"manifest"), "the bundle itself is whole: %s", r.out);
    const uint64_t forged[] = {s12, s13, s14, s15, s16};
    static const char *const check[] = {"policy", "policy", "policy", "observed", "policy"};
    for (size_t i = 0; i < 5; i++) {
        char pair[64];
        snprintf(pair, sizeof pair, "%llu:%s;", (unsigned long long)forged[i], check[i]);
        cr_assert(strstr(want, pair), "verify reports %s: %s", pair, want);
        cr_assert(strstr(got, pair), "verify-bundle reports %s as verify does:\n%s\nverify: %s",
                  pair, r.out, want);
    }
    run_free(&r);
    free(want);
    free(got);
    ldg_key_free(approver);
    ldg_key_free(admin);
    ldg_key_free(ghost);
    ldg_key_free(logk);
    ldg_ledger_close(l);
}

/*
 * [EXP-8] A bundle carries `ldg review` of the entries its checkpoint covers
 * (the review of the tie is tested in test_review), bound like every member
 * by manifest.sig.
 */
Test(bundle, carries_the_review_of_its_checkpoint_bound_by_the_manifest, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    make_ledger(d);
    must(LDG(d, "{}", "append", "--as", "author.key", "--kind", "correction", "--study", "S1",
             "--ref", "1", "--reason", "x", "--body", "-"),
         "append");
    long seq = ledger_size(d) - 1;
    must(LDG(d, "{}", "append", "--as", "author.key", "--kind", "communication", "--study", "S2",
             "--body", "-"),
         "append");
    /* the study's export: its review is of study S1 only */
    must(LDG(d, NULL, "export", "--format", "bundle", "-o", "b.tar", "--as", "log.key", "--study",
             "S1"),
         "export");
    tarball t = tar_load(path_in(d, "b.tar"));
    const char *rj = get(&t, "review.json")->data;
    char want[64];
    snprintf(want, sizeof want, "\"rule\":\"REV-18\"");
    cr_expect(strstr(rj, want) != NULL, "the generic reason: %s", rj);
    snprintf(want, sizeof want, "\"seqs\":[%ld]", seq);
    cr_expect(strstr(rj, want) != NULL, "%s", rj);
    cr_expect(strstr(rj, "\"study\":\"S2\"") == NULL, "only the exported study: %s", rj);
    cr_expect(strstr(rj, "\"summary\":") != NULL && strstr(rj, "\"intact\":true") != NULL, "%s",
              rj);
    cr_expect(strstr(get(&t, "review.html")->data, "REV-18") != NULL);
    cr_expect(strstr(get(&t, "README.txt")->data, "review.json") != NULL);
    tar_free(&t);
    run_result v = vb(d, "b.tar", "log.pub");
    cr_assert_eq(v.status, 0, "%s", v.out);
    run_free(&v);
    /* a review rewritten to hide a finding, manifest fixed as a forger would: caught */
    t = tar_load(path_in(d, "b.tar"));
    set(get(&t, "review.json"), strdup("{\"summary\":\"passed\"}\n"));
    fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "review.json");
}
