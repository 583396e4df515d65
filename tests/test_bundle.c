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
#include "forge.h" /* tarballs; struct ldg_key, for the manifest.sig test vector */

#include <criterion/criterion.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
        cr_assert_gt(tar_get(&t, names[i])->len, 0, "%s", names[i]);
    cr_assert(strstr(tar_get(&t, "README.txt")->data, "certifies that the records in this bundle"));
    cr_assert(strstr(tar_get(&t, "keys.csv")->data, "left the project"), "the revocation");
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
    tar_set(tar_get(&t, "log.pub"), pub);
    bundle_fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "the bundle's log.pub is not the trusted log key");
}

Test(bundle, an_altered_entry_is_caught_by_its_proof_and_signature, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    tar_member *m = tar_get(&t, "records.jsonl");
    json_t *o = jsonl_line(m, 7);
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
    jsonl_put_line(m, 7, o);
    json_decref(o);
    bundle_fix_manifest(&t);
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
    tar_member *m = tar_get(&t, "records.jsonl");
    json_t *o = jsonl_line(m, 4);
    char *body = strdup(json_string_value(json_object_get(o, "body")));
    char *at = strstr(body, "Site 12");
    cr_assert_not_null(at);
    at[6] = '3';
    json_object_set_new(o, "body", json_string(body));
    free(body);
    jsonl_put_line(m, 4, o);
    json_decref(o);
    bundle_fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "#4      body: the body does not match the signed commitment");
}

Test(bundle, an_altered_manifest_or_file_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    tar_member *m = tar_get(&t, "manifest.json");
    char *h = strstr(m->data, "\"sha256\":\"");
    h[12] = h[12] == 'a' ? 'b' : 'a';
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "does not match its size and SHA-256 in the manifest");
    /* a file changed and the manifest left alone */
    t = tar_load(path_in(d, "b.tar"));
    m = tar_get(&t, "trail.csv");
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
    tar_member *m = tar_get(&t, "records.jsonl");
    json_t *o = jsonl_line(m, 5);
    json_t *hs = json_object_get(json_object_get(o, "inclusion"), "hashes");
    cr_assert_gt(json_array_size(hs), 0);
    json_array_set_new(hs, 0, json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    jsonl_put_line(m, 5, o);
    json_decref(o);
    bundle_fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "#5      proof");
    t = tar_load(path_in(d, "b.tar"));
    m = tar_get(&t, "checkpoint.txt");
    char *nl = strchr(m->data, '\n');
    nl[1] = nl[1] == '1' ? '2' : '1'; /* the size line */
    bundle_fix_manifest(&t);
    tar_save(&t, path_in(d, "y.tar"));
    tar_free(&t);
    expect_fail(d, "y.tar", "checkpoint.txt is not a checkpoint signed by the trusted log key");
}

Test(bundle, a_removed_record_is_caught, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, NULL);
    tarball t = tar_load(path_in(d, "b.tar"));
    jsonl_put_line(tar_get(&t, "records.jsonl"), 6, NULL);
    bundle_fix_manifest(&t);
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
    json_t *o = jsonl_line(tar_get(&u, "records.jsonl"), 9);
    jsonl_put_line(tar_get(&t, "records.jsonl"), 9, o);
    json_decref(o);
    bundle_fix_manifest(&t);
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
    cr_assert_null(strstr(tar_get(&t, "records.jsonl")->data, "Visit window"));
    cr_assert_null(strstr(tar_get(&t, "trail.jsonl")->data, "Visit window"));
    cr_assert_null(strstr(tar_get(&t, "report.html")->data, "Visit window"));
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
replace_all(tar_member *m, const char *from, const char *to)
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
    tar_set(m, out);
}

Test(bundle, refuses_a_forged_report_with_a_recomputed_manifest, .fini = tmp_cleanup)
{
    const char *d = tmp_dir();
    bundle_of(d, "--exporter=Jo Exporter");
    tarball t = tar_load(path_in(d, "b.tar"));
    tar_member *h = tar_get(&t, "report.html");
    cr_assert(strstr(h->data, "Quinn Avery") && strstr(h->data, "Content-Security-Policy"));
    /* the approval becomes a rejection, signer and certifier renamed, the CSP gone, a script in */
    replace_all(h, "Approved", "REJECTED");
    replace_all(h, "Quinn Avery", "Mallory Forger");
    replace_all(h, "Jo Exporter", "Mallory Forger");
    replace_all(h, "Content-Security-Policy", "X-Nothing");
    replace_all(h, "</body>", "<script>location='http://x.example/'</script></body>");
    replace_all(tar_get(&t, "README.txt"), "Jo Exporter", "Mallory Forger");
    bundle_fix_manifest(&t);
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
    tar_member *rec = tar_get(&t, "records.jsonl");
    json_t *o = jsonl_line(rec, 7);
    cr_assert_eq(json_integer_value(json_object_get(o, "seq")), 7);
    json_decref(o);
    jsonl_put_line(rec, 7, NULL);
    tar_member *mm = tar_get(&t, "manifest.json");
    json_t *j = json_loads(mm->data, 0, NULL);
    json_t *list = json_object_get(j, "records");
    json_array_remove(list, 7);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    tar_set(mm, text);
    bundle_fix_manifest(&t);
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
    replace_all(tar_get(&t, "report.html"), "Quinn Avery", "Mallory Forger");
    bundle_fix_manifest(&t);
    ldg_bundle_file files[TAR_MAX];
    size_t n = 0;
    static const char *const order[] = {"manifest.json",  "README.txt",    "checkpoint.txt",
                                        "log.pub",        "records.jsonl", "keyrecords.jsonl",
                                        "report.html",    "trail.csv",     "trail.jsonl",
                                        "signatures.csv", "keys.csv"};
    for (; n < sizeof order / sizeof order[0]; n++) {
        tar_member *m = tar_get(&t, order[n]);
        files[n].path = order[n];
        crypto_hash_sha256(files[n].sha256, (const unsigned char *)m->data, m->len);
    }
    char *note;
    size_t len;
    cr_assert_eq(ldg_bundle_sign("test.example/ledger", files, n, evil, NULL, &note, &len, &err),
                 LDG_OK, "%s", err.msg);
    tar_set(tar_get(&t, "manifest.sig"), note);
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
    cr_assert(strstr(tar_get(&t, "README.txt")->data, "Quinn Avery (Helix Pharma), key approver"));
    /* a cosignature by a key the key records do not hold is a failure, not a name */
    tar_member *sig = tar_get(&t, "manifest.sig");
    char *fake = malloc(sig->len + 200);
    sprintf(fake, "%s\xe2\x80\x94 ceo %.91s=\n", sig->data,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            "AAAAAAAA");
    tar_set(sig, fake);
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
    cr_assert(strstr(tar_get(&t, "manifest.json")->data, "\"records\":[0,1,2,3,4,5,6,7,8,11]"),
              "%s", tar_get(&t, "manifest.json")->data);
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

    /*
     * Each statement built and signed with a real key, appended past the
     * policy: the entry, its body, the leaf hash, the commitment and the
     * Merkle tree are written (the study, kind, actor and keys databases
     * are not: verify reports those too, which this test does not look at).
     */
    static const forge_opts past = {.stmt_time_ns = 1767225600000000000LL, .entries_only = true};
    ldgi_stmt *st = calloc(1, sizeof *st);
    /* 12: an approval without a meaning */
    *st = (ldgi_stmt){.kind = str_lit("approval"), .study = str_lit("HX-301"), .nrefs = 1};
    memcpy(st->refs[0], ref4, 32);
    uint64_t s12 = forge_record(l, approver, st, &past);
    /* 13: an approval with a meaning outside the four of 21 CFR 11.50 */
    *st = (ldgi_stmt){.kind = str_lit("approval"),
                      .study = str_lit("HX-301"),
                      .nrefs = 1,
                      .has_meaning = true,
                      .meaning = str_lit("consent")};
    memcpy(st->refs[0], ref4, 32);
    uint64_t s13 = forge_record(l, approver, st, &past);
    /* 14: a key.revoke without a reason */
    *st = (ldgi_stmt){.kind = str_lit("key.revoke"), .study = str_lit(""), .has_key = true};
    memcpy(st->key_pub, decider, 32);
    uint64_t s14 = forge_record(l, admin, st, &past);
    /* 15: a key.add whose observed head is not this chain's */
    *st = (ldgi_stmt){.kind = str_lit("key.add"),
                      .study = str_lit(""),
                      .has_key = true,
                      .key_full = true,
                      .key_id = str_lit("ghost"),
                      .key_name = str_lit("G Host"),
                      .key_org = str_lit("Nowhere"),
                      .nroles = 1,
                      .has_observed = true,
                      .observed_size = 3};
    st->roles[0] = str_lit("author");
    memcpy(st->key_pub, ghostpub, 32);
    memset(st->observed_head, 0x42, 32);
    uint64_t s15 = forge_record(l, admin, st, &past);
    /* 16: a record of a kind that is no user kind, by a key nobody registered */
    *st = (ldgi_stmt){.kind = str_lit("checkpoint"), .study = str_lit("")};
    uint64_t s16 = forge_record(l, ghost, st, &past);
    free(st);
    cr_assert_eq(s16, 16);
    uint64_t n = 17;

    /* verify on the ledger: what it reports of each forged record */
    r = LDG(d, NULL, "verify", "--json");
    cr_assert_eq(r.status, 1);
    char *want = verify_failures(r.out);
    run_free(&r);

    /* the bundle the log key's holder makes of it: records 12, 13, 16; key records to 16 */
    static const uint64_t recseqs[] = {12, 13, 16};
    bundle_forge(d, l, n, recseqs, 3, "b.tar", "forged.tar");

    r = LDG(d, NULL, "verify-bundle", "forged.tar", "--trust", "log.pub", "--json");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    char *got = verify_failures(r.out);
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
    const char *rj = tar_get(&t, "review.json")->data;
    char want[64];
    snprintf(want, sizeof want, "\"rule\":\"REV-18\"");
    cr_expect(strstr(rj, want) != NULL, "the generic reason: %s", rj);
    snprintf(want, sizeof want, "\"seqs\":[%ld]", seq);
    cr_expect(strstr(rj, want) != NULL, "%s", rj);
    cr_expect(strstr(rj, "\"study\":\"S2\"") == NULL, "only the exported study: %s", rj);
    cr_expect(strstr(rj, "\"summary\":") != NULL && strstr(rj, "\"intact\":true") != NULL, "%s",
              rj);
    cr_expect(strstr(tar_get(&t, "review.html")->data, "REV-18") != NULL);
    cr_expect(strstr(tar_get(&t, "README.txt")->data, "review.json") != NULL);
    tar_free(&t);
    run_result v = vb(d, "b.tar", "log.pub");
    cr_assert_eq(v.status, 0, "%s", v.out);
    run_free(&v);
    /* a review rewritten to hide a finding, manifest fixed as a forger would: caught */
    t = tar_load(path_in(d, "b.tar"));
    tar_set(tar_get(&t, "review.json"), strdup("{\"summary\":\"passed\"}\n"));
    bundle_fix_manifest(&t);
    tar_save(&t, path_in(d, "x.tar"));
    tar_free(&t);
    expect_fail(d, "x.tar", "review.json");
}
