/*
 * test_keys.c - key names, verifier-key lines and secret key files
 * [KEY-1..KEY-4] (ledger/keys.c).
 *
 * Argon2id at interactive cost takes ~0.1-0.3 s, so only two tests use
 * ldg_key_save with a passphrase; the other encrypted-file cases use a file
 * sealed here with the minimum Argon2id cost (the loader accepts any cost
 * within its bounds), built exactly as [KEY-3] describes: the AEAD's
 * associated data is name || 0x0A || public key.
 */
#include "helpers.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
setup(void)
{
    ldg_err e;
    cr_assert_eq(ldg_init(&e), LDG_OK);
}

TestSuite(keys, .init = setup, .fini = tmp_cleanup);

/* ------------------------------------------------------------ helpers -- */

static ldg_key *
gen(const char *name)
{
    ldg_key *k = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_generate(name, &k, &e), LDG_OK, "%s", e.msg);
    return k;
}

static void
write_mode(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

static char *
b64(const uint8_t *p, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(cap);
    sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/*
 * An encrypted key file text for k at the cheapest Argon2id cost; name_line
 * and pub_line override what the file says (NULL: the truth), while the AEAD
 * always binds the true name and key.  Free with free().
 */
static char *
cheap_encrypted(const ldg_key *k, const char *pass, const char *name_line, const char *pub_line)
{
    uint8_t seed[32], kek[32], salt[crypto_pwhash_SALTBYTES],
        nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], ct[32 + 16], ad[200];
    crypto_sign_ed25519_sk_to_seed(seed, ldgi_key_sk(k));
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    unsigned long long ops = crypto_pwhash_OPSLIMIT_MIN;
    size_t mem = crypto_pwhash_MEMLIMIT_MIN;
    cr_assert_eq(crypto_pwhash(kek, 32, pass, strlen(pass), salt, ops, mem,
                               crypto_pwhash_ALG_ARGON2ID13),
                 0);
    uint8_t pub[32];
    ldg_key_public(k, pub);
    size_t nl = strlen(ldg_key_name(k));
    memcpy(ad, ldg_key_name(k), nl);
    ad[nl] = '\n';
    memcpy(ad + nl + 1, pub, 32);
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, seed, 32, ad, nl + 33, NULL, nonce, kek);
    char *pb = b64(pub, 32), *sb = b64(salt, sizeof salt), *nb = b64(nonce, sizeof nonce),
         *cb = b64(ct, sizeof ct);
    char *text = malloc(4096);
    snprintf(text, 4096,
             "ldg secret key v1\nname: %s\npub: %s\nkdf: argon2id13\nops: %llu\nmem: %zu\n"
             "salt: %s\naead: xchacha20poly1305-ietf\nnonce: %s\nsecret: %s\n",
             name_line ? name_line : ldg_key_name(k), pub_line ? pub_line : pb, ops, mem, sb, nb,
             cb);
    free(pb);
    free(sb);
    free(nb);
    free(cb);
    return text;
}

/* Replaces the first occurrence of `from` in text (which has room) by `to`. */
static void
replace(char *text, const char *from, const char *to)
{
    char *p = strstr(text, from);
    cr_assert_not_null(p, "\"%s\" not in key file", from);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(p + tl, p + fl, strlen(p + fl) + 1);
    memcpy(p, to, tl);
}

static void
assert_same_key(const ldg_key *a, const ldg_key *b)
{
    uint8_t pa[32], pb[32];
    ldg_key_public(a, pa);
    ldg_key_public(b, pb);
    cr_assert_arr_eq(pa, pb, 32);
    cr_assert_str_eq(ldg_key_name(a), ldg_key_name(b));
    cr_assert_arr_eq(ldgi_key_sk(a), ldgi_key_sk(b), 64);
}

/* ----------------------------------------------------------- key names -- */

Test(keys, key_names_follow_signed_note_rules)
{
    char n128[129], n129[130];
    memset(n128, 'a', 128);
    n128[128] = '\0';
    memset(n129, 'a', 129);
    n129[129] = '\0';
    cr_assert(ldgi_key_name_valid("alice"));
    cr_assert(ldgi_key_name_valid("a"));
    cr_assert(ldgi_key_name_valid("dr.sam-patel_2@helix!~"));
    cr_assert(ldgi_key_name_valid(n128), "128 characters is the limit");
    cr_assert_not(ldgi_key_name_valid(""), "empty");
    cr_assert_not(ldgi_key_name_valid(n129), "129 characters");
    cr_assert_not(ldgi_key_name_valid("has space"));
    cr_assert_not(ldgi_key_name_valid("a+b"));
    cr_assert_not(ldgi_key_name_valid("tab\there"));
    cr_assert_not(ldgi_key_name_valid("del\x7f"));
    cr_assert_not(ldgi_key_name_valid("caf\xc3\xa9"), "non-ASCII");
}

Test(keys, generate_refuses_bad_names)
{
    static const char *const bad[] = {"", "has space", "a+b", "new\nline"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ldg_key *k = NULL;
        ldg_err e;
        cr_assert_eq(ldg_key_generate(bad[i], &k, &e), LDG_E_INPUT, "name %zu", i);
        cr_assert_null(k);
    }
    char n129[130];
    memset(n129, 'a', 129);
    n129[129] = '\0';
    ldg_key *k = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_generate(n129, &k, &e), LDG_E_INPUT);
}

Test(keys, generated_keys_differ_and_keep_their_name)
{
    ldg_key *a = gen("alice"), *b = gen("alice");
    uint8_t pa[32], pb[32];
    ldg_key_public(a, pa);
    ldg_key_public(b, pb);
    cr_assert_arr_neq(pa, pb, 32);
    cr_assert_str_eq(ldg_key_name(a), "alice");
    /* the secret key's second half is the public key (libsodium layout) */
    cr_assert_arr_eq(ldgi_key_sk(a) + 32, pa, 32);
    ldg_key_free(a);
    ldg_key_free(b);
    ldg_key_free(NULL);
}

/* ---------------------------------------------------------- vkey lines -- */

Test(keys, vkey_format_parse_round_trip)
{
    ldg_key *k = gen("alice@example.org");
    uint8_t pub[32], got[32];
    ldg_key_public(k, pub);
    char line[LDG_VKEY_MAX], name[LDG_NAME_MAX + 1];
    ldg_err e;
    cr_assert_eq(ldg_vkey_format("alice@example.org", pub, line, &e), LDG_OK);
    cr_assert_eq(strncmp(line, "alice@example.org+", 18), 0, "%s", line);
    cr_assert_eq(strlen(line), 18 + 8 + 1 + 44, "%s", line);
    cr_assert_eq(ldg_vkey_parse(line, strlen(line), name, got, &e), LDG_OK, "%s", e.msg);
    cr_assert_str_eq(name, "alice@example.org");
    cr_assert_arr_eq(got, pub, 32);
    /* with the trailing newline a .pub file has */
    char nl[LDG_VKEY_MAX + 1];
    snprintf(nl, sizeof nl, "%s\n", line);
    memset(got, 0, 32);
    cr_assert_eq(ldg_vkey_parse(nl, strlen(nl), name, got, &e), LDG_OK, "%s", e.msg);
    cr_assert_arr_eq(got, pub, 32);
    ldg_key_free(k);
}

Test(keys, vkey_hash_is_sha256_of_name_newline_alg_and_key)
{
    /* [KEY-2] as in signed-note: hash = SHA-256(name || 0x0A || 0x01 || pub)[0:4] */
    uint8_t pub[32];
    for (int i = 0; i < 32; i++)
        pub[i] = (uint8_t)i;
    uint8_t msg[3 + 1 + 1 + 32] = {'a', 'b', 'c', '\n', 0x01}, h[32];
    memcpy(msg + 5, pub, 32);
    crypto_hash_sha256(h, msg, sizeof msg);
    char want[9];
    sodium_bin2hex(want, sizeof want, h, 4);
    char line[LDG_VKEY_MAX];
    ldg_err e;
    cr_assert_eq(ldg_vkey_format("abc", pub, line, &e), LDG_OK);
    cr_assert_eq(memcmp(line + 4, want, 8), 0, "%s vs %s", line, want);
    cr_assert_eq(strcmp(line + 13, "AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"), 0, "%s", line);
}

Test(keys, vkey_format_refuses_bad_names)
{
    uint8_t pub[32] = {0};
    char line[LDG_VKEY_MAX], n129[130];
    memset(n129, 'a', 129);
    n129[129] = '\0';
    ldg_err e;
    cr_assert_eq(ldg_vkey_format("a b", pub, line, &e), LDG_E_INPUT);
    cr_assert_eq(ldg_vkey_format("a+b", pub, line, &e), LDG_E_INPUT);
    cr_assert_eq(ldg_vkey_format("", pub, line, &e), LDG_E_INPUT);
    cr_assert_eq(ldg_vkey_format(n129, pub, line, &e), LDG_E_INPUT);
    n129[128] = '\0';
    cr_assert_eq(ldg_vkey_format(n129, pub, line, &e), LDG_OK, "128 characters fit");
}

/* A valid line for name and pub. */
static void
line_for(const char *name, const uint8_t pub[32], char line[LDG_VKEY_MAX])
{
    ldg_err e;
    cr_assert_eq(ldg_vkey_format(name, pub, line, &e), LDG_OK);
}

static ldg_status
parse(const char *line)
{
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[32];
    ldg_err e;
    return ldg_vkey_parse(line, strlen(line), name, pub, &e);
}

Test(keys, vkey_parse_rejects_wrong_hash)
{
    uint8_t pub[32];
    memset(pub, 0x5a, 32);
    char line[LDG_VKEY_MAX];
    line_for("bob", pub, line);
    cr_assert_eq(parse(line), LDG_OK);
    line[4] = line[4] == '0' ? '1' : '0'; /* first hex digit of the hash */
    cr_assert_eq(parse(line), LDG_E_INPUT);
    /* a right hash for another name */
    line_for("bob", pub, line);
    char other[LDG_VKEY_MAX];
    line_for("bop", pub, other);
    memcpy(line + 4, other + 4, 8);
    cr_assert_eq(parse(line), LDG_E_INPUT);
}

Test(keys, vkey_parse_rejects_upper_case_hex)
{
    uint8_t pub[32];
    /* find a key whose hash has a letter digit */
    char line[LDG_VKEY_MAX];
    int pos = -1;
    for (int t = 0; t < 256 && pos < 0; t++) {
        memset(pub, t, 32);
        line_for("carol", pub, line);
        for (int i = 6; i < 14; i++)
            if (line[i] >= 'a' && line[i] <= 'f') {
                pos = i;
                break;
            }
    }
    cr_assert(pos >= 0);
    cr_assert_eq(parse(line), LDG_OK);
    line[pos] = (char)(line[pos] - 'a' + 'A');
    cr_assert_eq(parse(line), LDG_E_INPUT, "%s", line);
}

Test(keys, vkey_parse_rejects_non_canonical_base64)
{
    uint8_t pub[32];
    memset(pub, 0xff, 32); /* base64 of 01 ff ff ... contains '/' */
    char line[LDG_VKEY_MAX], bad[LDG_VKEY_MAX + 8];
    line_for("dave", pub, line);
    cr_assert_eq(parse(line), LDG_OK);
    cr_assert_not_null(strchr(line + 14, '/'), "%s", line);
    /* padding where none belongs */
    snprintf(bad, sizeof bad, "%s=", line);
    cr_assert_eq(parse(bad), LDG_E_INPUT, "trailing '='");
    snprintf(bad, sizeof bad, "%s====", line);
    cr_assert_eq(parse(bad), LDG_E_INPUT, "trailing '===='");
    /* the URL-safe alphabet */
    snprintf(bad, sizeof bad, "%s", line);
    for (char *p = bad + 14; *p; p++)
        if (*p == '/')
            *p = '_';
    cr_assert_eq(parse(bad), LDG_E_INPUT, "base64url");
    /* whitespace inside */
    snprintf(bad, sizeof bad, "%.20s %s", line, line + 20);
    cr_assert_eq(parse(bad), LDG_E_INPUT, "embedded space");
    /* CRLF */
    snprintf(bad, sizeof bad, "%s\r\n", line);
    cr_assert_eq(parse(bad), LDG_E_INPUT, "CRLF");
    /* truncated key */
    snprintf(bad, sizeof bad, "%s", line);
    bad[strlen(bad) - 4] = '\0';
    cr_assert_eq(parse(bad), LDG_E_INPUT, "short key");
}

Test(keys, vkey_parse_rejects_wrong_alg_byte)
{
    uint8_t pub[32];
    memset(pub, 0x42, 32);
    /* a hash consistent with alg byte 0x02, so only the alg byte is wrong */
    const char *name = "erin";
    uint8_t msg[4 + 1 + 1 + 32] = {'e', 'r', 'i', 'n', '\n', 0x02}, h[32], raw[33] = {0x02};
    memcpy(msg + 6, pub, 32);
    crypto_hash_sha256(h, msg, sizeof msg);
    memcpy(raw + 1, pub, 32);
    char hex[9], *kb = b64(raw, 33), line[LDG_VKEY_MAX];
    sodium_bin2hex(hex, sizeof hex, h, 4);
    snprintf(line, sizeof line, "%s+%s+%s", name, hex, kb);
    cr_assert_eq(parse(line), LDG_E_INPUT, "%s", line);
    free(kb);
    /* and a 32-byte key without any alg byte */
    char *k32 = b64(pub, 32);
    line_for(name, pub, line);
    snprintf(line + 14, sizeof line - 14, "%s", k32);
    cr_assert_eq(parse(line), LDG_E_INPUT, "%s", line);
    free(k32);
}

Test(keys, vkey_parse_rejects_bad_names)
{
    uint8_t pub[32];
    memset(pub, 0x17, 32);
    char good[LDG_VKEY_MAX], line[LDG_VKEY_MAX + 200];
    line_for("frank", pub, good);
    const char *rest = good + 5; /* "+hash+key" */
    snprintf(line, sizeof line, "%s", rest);
    cr_assert_eq(parse(line), LDG_E_INPUT, "empty name");
    snprintf(line, sizeof line, "fr ank%s", rest);
    cr_assert_eq(parse(line), LDG_E_INPUT, "space");
    snprintf(line, sizeof line, "fr+ank%s", rest);
    cr_assert_eq(parse(line), LDG_E_INPUT, "'+'");
    char n129[130];
    memset(n129, 'a', 129);
    n129[129] = '\0';
    uint8_t msg[129 + 2 + 32], h[32];
    memcpy(msg, n129, 129);
    msg[129] = '\n';
    msg[130] = 0x01;
    memcpy(msg + 131, pub, 32);
    crypto_hash_sha256(h, msg, sizeof msg);
    char hex[9];
    sodium_bin2hex(hex, sizeof hex, h, 4);
    snprintf(line, sizeof line, "%s+%s%s", n129, hex, rest + 9);
    cr_assert_eq(parse(line), LDG_E_INPUT, "129-character name with a matching hash");
    cr_assert_eq(parse(""), LDG_E_INPUT, "empty line");
    cr_assert_eq(parse("frank"), LDG_E_INPUT, "name only");
}

Test(keys, vkey_parse_rejects_embedded_nul_in_name)
{
    /* "ab\0c" must not parse as the name "ab" (the length says 4 bytes of name) */
    uint8_t pub[32];
    memset(pub, 0x21, 32);
    char ab[LDG_VKEY_MAX];
    line_for("ab", pub, ab);
    char line[LDG_VKEY_MAX + 4];
    memcpy(line, "ab\0c", 4);
    size_t rl = strlen(ab + 2);
    memcpy(line + 4, ab + 2, rl);
    char name[LDG_NAME_MAX + 1];
    uint8_t got[32];
    ldg_err e;
    cr_assert_neq(ldg_vkey_parse(line, 4 + rl, name, got, &e), LDG_OK,
                  "accepted a name with a NUL byte as \"%s\"", name);
}

Test(keys, vkey_read_reads_a_pub_file)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("grace");
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "grace"), NULL, 0, &e), LDG_OK, "%s", e.msg);
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[32], want[32];
    cr_assert_eq(ldg_vkey_read(path_in(d, "grace.pub"), name, pub, &e), LDG_OK, "%s", e.msg);
    ldg_key_public(k, want);
    cr_assert_str_eq(name, "grace");
    cr_assert_arr_eq(pub, want, 32);
    cr_assert_eq(ldg_vkey_read(path_in(d, "missing.pub"), name, pub, &e), LDG_E_NOTFOUND);
    write_file(d, "junk.pub", "not a key\n");
    cr_assert_eq(ldg_vkey_read(path_in(d, "junk.pub"), name, pub, &e), LDG_E_INPUT);
    cr_assert(strstr(e.msg, "junk.pub") != NULL, "message names the file: %s", e.msg);
    ldg_key_free(k);
}

/* ----------------------------------------------------------- key files -- */

Test(keys, unencrypted_save_load_round_trip)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("heidi"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "heidi"), NULL, 0, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_key_file_encrypted(path_in(d, "heidi.key")), 0);
    cr_assert_eq(ldg_key_load(path_in(d, "heidi.key"), NULL, 0, &l, &e), LDG_OK, "%s", e.msg);
    assert_same_key(k, l);
    /* a passphrase given for an unencrypted file is ignored */
    ldg_key *m = NULL;
    cr_assert_eq(ldg_key_load(path_in(d, "heidi.key"), "pw", 2, &m, &e), LDG_OK, "%s", e.msg);
    assert_same_key(k, m);
    ldg_key_free(k);
    ldg_key_free(l);
    ldg_key_free(m);
}

Test(keys, encrypted_save_load_round_trip)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("ivan"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "ivan"), "correct horse", 13, &e), LDG_OK, "%s",
                 e.msg);
    cr_assert_eq(ldg_key_file_encrypted(path_in(d, "ivan.key")), 1);
    size_t n;
    char *text = read_file(path_in(d, "ivan.key"), &n);
    cr_assert_not_null(text);
    cr_assert(strstr(text, "kdf: argon2id13\n") && strstr(text, "aead: xchacha20poly1305-ietf\n"),
              "algorithms named in the file:\n%s", text);
    uint8_t seed[32];
    crypto_sign_ed25519_sk_to_seed(seed, ldgi_key_sk(k));
    char *sb = b64(seed, 32);
    cr_assert_null(strstr(text, sb), "the seed is not in the file in the clear");
    free(sb);
    free(text);
    cr_assert_eq(ldg_key_load(path_in(d, "ivan.key"), "correct horse", 13, &l, &e), LDG_OK, "%s",
                 e.msg);
    assert_same_key(k, l);
    ldg_key_free(k);
    ldg_key_free(l);
}

Test(keys, wrong_passphrase_is_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("judy"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "judy"), "right", 5, &e), LDG_OK, "%s", e.msg);
    cr_assert_eq(ldg_key_load(path_in(d, "judy.key"), "wrong", 5, &l, &e), LDG_E_PASSPHRASE);
    cr_assert_null(l);
    cr_assert_eq(e.status, LDG_E_PASSPHRASE);
    ldg_key_free(k);
}

Test(keys, cheap_encrypted_file_loads)
{
    /* control for the tamper tests below: the hand-sealed file itself is valid */
    const char *d = tmp_dir();
    ldg_key *k = gen("ken"), *l = NULL;
    char *text = cheap_encrypted(k, "pw", NULL, NULL);
    write_mode(path_in(d, "ken.key"), text, 0600);
    ldg_err e;
    cr_assert_eq(ldg_key_load(path_in(d, "ken.key"), "pw", 2, &l, &e), LDG_OK, "%s", e.msg);
    assert_same_key(k, l);
    ldg_key_free(l);
    l = NULL;
    cr_assert_eq(ldg_key_load(path_in(d, "ken.key"), "pW", 2, &l, &e), LDG_E_PASSPHRASE);
    cr_assert_eq(ldg_key_load(path_in(d, "ken.key"), NULL, 0, &l, &e), LDG_E_PASSPHRASE,
                 "encrypted and no passphrase");
    cr_assert_null(l);
    free(text);
    ldg_key_free(k);
}

Test(keys, tampered_name_in_encrypted_file_is_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("leo"), *l = NULL;
    char *text = cheap_encrypted(k, "pw", "mallory", NULL);
    write_mode(path_in(d, "leo.key"), text, 0600);
    ldg_err e;
    cr_assert_eq(ldg_key_load(path_in(d, "leo.key"), "pw", 2, &l, &e), LDG_E_PASSPHRASE);
    cr_assert_null(l);
    free(text);
    ldg_key_free(k);
}

Test(keys, tampered_pub_in_encrypted_file_is_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("mia"), *other = gen("mia"), *l = NULL;
    uint8_t op[32];
    ldg_key_public(other, op);
    char *ob = b64(op, 32);
    char *text = cheap_encrypted(k, "pw", NULL, ob);
    write_mode(path_in(d, "mia.key"), text, 0600);
    ldg_err e;
    /* ldg.h: LDG_E_PASSPHRASE "when the passphrase is wrong or the file was altered" */
    cr_assert_eq(ldg_key_load(path_in(d, "mia.key"), "pw", 2, &l, &e), LDG_E_PASSPHRASE, "%s",
                 e.msg);
    cr_assert_null(l);
    free(ob);
    free(text);
    ldg_key_free(k);
    ldg_key_free(other);
}

Test(keys, tampered_pub_in_unencrypted_file_is_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("nina"), *other = gen("nina"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "nina"), NULL, 0, &e), LDG_OK);
    uint8_t pa[32], pb[32];
    ldg_key_public(k, pa);
    ldg_key_public(other, pb);
    char *ab = b64(pa, 32), *bb = b64(pb, 32);
    char *text = read_file(path_in(d, "nina.key"), NULL);
    text = realloc(text, strlen(text) + 100);
    replace(text, ab, bb);
    cr_assert_eq(unlink(path_in(d, "nina.key")), 0);
    write_mode(path_in(d, "nina.key"), text, 0600);
    cr_assert_eq(ldg_key_load(path_in(d, "nina.key"), NULL, 0, &l, &e), LDG_E_INPUT);
    cr_assert_null(l);
    free(ab);
    free(bb);
    free(text);
    ldg_key_free(k);
    ldg_key_free(other);
}

Test(keys, key_file_readable_by_others_is_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("oscar"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "oscar"), NULL, 0, &e), LDG_OK);
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0602};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cr_assert_eq(chmod(path_in(d, "oscar.key"), modes[i]), 0);
        cr_assert_eq(ldg_key_load(path_in(d, "oscar.key"), NULL, 0, &l, &e), LDG_E_KEYPERM,
                     "mode %03o", (unsigned)modes[i]);
        cr_assert_null(l);
    }
    cr_assert_eq(chmod(path_in(d, "oscar.key"), 0400), 0);
    cr_assert_eq(ldg_key_load(path_in(d, "oscar.key"), NULL, 0, &l, &e), LDG_OK, "0400 is fine");
    ldg_key_free(l);
    ldg_key_free(k);
}

Test(keys, created_key_file_is_0600_and_pub_0644_whatever_the_umask)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("peggy");
    ldg_err e;
    mode_t old = umask(0);
    ldg_status s = ldg_key_save(k, path_in(d, "peggy"), NULL, 0, &e);
    umask(old);
    cr_assert_eq(s, LDG_OK, "%s", e.msg);
    struct stat st;
    cr_assert_eq(lstat(path_in(d, "peggy.key"), &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "key mode %03o", (unsigned)(st.st_mode & 07777));
    cr_assert_eq(lstat(path_in(d, "peggy.pub"), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644, "pub mode %03o", (unsigned)(st.st_mode & 07777));
    ldg_key_free(k);
}

Test(keys, save_refuses_existing_key_file)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("quinn");
    write_mode(path_in(d, "quinn.key"), "precious\n", 0600);
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "quinn"), NULL, 0, &e), LDG_E_EXISTS);
    char *t = read_file(path_in(d, "quinn.key"), NULL);
    cr_assert_str_eq(t, "precious\n", "the existing file is untouched");
    free(t);
    struct stat st;
    cr_assert_neq(lstat(path_in(d, "quinn.pub"), &st), 0, "no .pub written");
    ldg_key_free(k);
}

Test(keys, save_refuses_existing_pub_file_and_writes_no_key)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("rupert");
    write_file(d, "rupert.pub", "someone else\n");
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "rupert"), NULL, 0, &e), LDG_E_EXISTS);
    struct stat st;
    cr_assert_neq(lstat(path_in(d, "rupert.key"), &st), 0, "no .key left behind");
    char *t = read_file(path_in(d, "rupert.pub"), NULL);
    cr_assert_str_eq(t, "someone else\n");
    free(t);
    ldg_key_free(k);
}

Test(keys, save_refuses_a_dangling_symlink_as_key_path)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("sybil");
    cr_assert_eq(symlink(path_in(d, "elsewhere"), path_in(d, "sybil.key")), 0);
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "sybil"), NULL, 0, &e), LDG_E_EXISTS);
    struct stat st;
    cr_assert_neq(lstat(path_in(d, "elsewhere"), &st), 0, "nothing written through the link");
    ldg_key_free(k);
}

Test(keys, load_does_not_follow_symlinks)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("trent"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "trent"), NULL, 0, &e), LDG_OK);
    cr_assert_eq(symlink(path_in(d, "trent.key"), path_in(d, "link.key")), 0);
    cr_assert_neq(ldg_key_load(path_in(d, "link.key"), NULL, 0, &l, &e), LDG_OK);
    cr_assert_null(l);
    ldg_key_free(k);
}

Test(keys, load_refuses_missing_and_malformed_files)
{
    const char *d = tmp_dir();
    ldg_key *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_load(path_in(d, "none.key"), NULL, 0, &l, &e), LDG_E_NOTFOUND);
    write_mode(path_in(d, "a.key"), "not a key file\n", 0600);
    cr_assert_eq(ldg_key_load(path_in(d, "a.key"), NULL, 0, &l, &e), LDG_E_INPUT);
    write_mode(path_in(d, "b.key"), "ldg secret key v1\nname: x\n", 0600);
    cr_assert_eq(ldg_key_load(path_in(d, "b.key"), NULL, 0, &l, &e), LDG_E_INPUT);
    write_mode(path_in(d, "c.key"), "", 0600);
    cr_assert_eq(ldg_key_load(path_in(d, "c.key"), NULL, 0, &l, &e), LDG_E_INPUT);
    cr_assert_null(l);
}

Test(keys, unencrypted_file_with_extra_line_is_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("uma"), *l = NULL;
    ldg_err e;
    cr_assert_eq(ldg_key_save(k, path_in(d, "uma"), NULL, 0, &e), LDG_OK);
    char *text = read_file(path_in(d, "uma.key"), NULL);
    text = realloc(text, strlen(text) + 32);
    strcat(text, "extra: 1\n");
    cr_assert_eq(unlink(path_in(d, "uma.key")), 0);
    write_mode(path_in(d, "uma.key"), text, 0600);
    cr_assert_eq(ldg_key_load(path_in(d, "uma.key"), NULL, 0, &l, &e), LDG_E_INPUT);
    free(text);
    ldg_key_free(k);
}

Test(keys, kdf_parameters_out_of_bounds_are_refused)
{
    const char *d = tmp_dir();
    ldg_key *k = gen("victor");
    char *base = cheap_encrypted(k, "pw", NULL, NULL);
    char ops_line[64], mem_line[64];
    snprintf(ops_line, sizeof ops_line, "ops: %llu\n", (unsigned long long)crypto_pwhash_OPSLIMIT_MIN);
    snprintf(mem_line, sizeof mem_line, "mem: %zu\n", (size_t)crypto_pwhash_MEMLIMIT_MIN);
    static const struct {
        const char *field, *value;
    } cases[] = {
        {"ops", "ops: 99\n"},          {"ops", "ops: 0\n"},
        {"ops", "ops: 17\n"},          {"ops", "ops: 3x\n"},
        {"ops", "ops: -1\n"},          {"ops", "ops: 18446744073709551617\n"},
        {"mem", "mem: 1099511627776\n"}, {"mem", "mem: 1024\n"},
        {"mem", "mem: \n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = malloc(strlen(base) + 64);
        strcpy(t, base);
        replace(t, strcmp(cases[i].field, "ops") == 0 ? ops_line : mem_line, cases[i].value);
        char name[32];
        snprintf(name, sizeof name, "kdf%zu.key", i);
        write_mode(path_in(d, name), t, 0600);
        ldg_key *l = NULL;
        ldg_err e;
        cr_assert_eq(ldg_key_load(path_in(d, name), "pw", 2, &l, &e), LDG_E_INPUT, "case %zu: %s",
                     i, cases[i].value);
        cr_assert_null(l);
        free(t);
    }
    free(base);
    ldg_key_free(k);
}

Test(keys, key_file_encrypted_reports_unreadable)
{
    const char *d = tmp_dir();
    cr_assert_lt(ldg_key_file_encrypted(path_in(d, "missing.key")), 0);
}
