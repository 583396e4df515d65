/*
 * keys.c - Ed25519 key pairs, secret key files and verifier-key lines
 * [KEY-1..KEY-4].  Secret keys live in sodium_malloc'd memory and are wiped
 * on every path out; key files are created O_EXCL|O_NOFOLLOW, mode 0600,
 * sealed by default with Argon2id and XChaCha20-Poly1305, and name their
 * algorithms inside the file.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAGIC "ldg secret key v1"
#define KEYFILE_MAX 4096
/* Bounds on the KDF cost a key file may ask for, so a hostile file cannot exhaust us. */
#define KDF_OPS_MAX 16u
#define KDF_MEM_MAX (1024ull * 1024 * 1024)

bool
ldgi_key_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > LDG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x21 || c > 0x7e || c == '+')
            return false;
    }
    return true;
}

const uint8_t *
ldgi_key_sk(const ldg_key *k)
{
    return k->sk;
}

const char *
ldg_key_name(const ldg_key *k)
{
    return k->name;
}

void
ldg_key_public(const ldg_key *k, uint8_t pub[LDG_PUB_BYTES])
{
    memcpy(pub, k->pub, LDG_PUB_BYTES);
}

void
ldg_key_free(ldg_key *k)
{
    if (!k)
        return;
    sodium_free(k->sk); /* wipes before freeing */
    sodium_memzero(k, sizeof *k);
    free(k);
}

static ldg_status
key_alloc(const char *name, ldg_key **out, ldg_err *err)
{
    if (!ldgi_key_name_valid(name))
        return ldgi_fail(err, LDG_E_INPUT,
                         "key name \"%.*s\": 1..%u printable ASCII characters, no space or '+'", 60,
                         name, LDG_NAME_MAX);
    ldg_key *k = ldgi_calloc(1, sizeof *k);
    if (!k)
        return ldgi_fail(err, LDG_E_NOMEM, "key: out of memory");
    k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!k->sk) {
        free(k);
        return ldgi_fail(err, LDG_E_NOMEM, "key: out of secure memory");
    }
    snprintf(k->name, sizeof k->name, "%s", name);
    *out = k;
    return LDG_OK;
}

ldg_status
ldg_key_generate(const char *name, ldg_key **out, ldg_err *err)
{
    ldg_status st = key_alloc(name, out, err);
    if (st != LDG_OK)
        return st;
    crypto_sign_keypair((*out)->pub, (*out)->sk);
    return LDG_OK;
}

/* --------------------------------------------------------- vkey lines -- */

void
ldgi_key_id(const char *name, uint8_t alg, const uint8_t pub[LDG_PUB_BYTES], uint8_t out[4])
{
    crypto_hash_sha256_state st;
    uint8_t h[32];
    const uint8_t sep[2] = {'\n', alg}; /* name || 0x0A || alg byte || key */
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, sep, 2);
    crypto_hash_sha256_update(&st, pub, 32);
    crypto_hash_sha256_final(&st, h);
    memcpy(out, h, 4);
}

ldg_status
ldg_vkey_format(const char *name, const uint8_t pub[LDG_PUB_BYTES], char out[LDG_VKEY_MAX],
                ldg_err *err)
{
    if (!ldgi_key_name_valid(name))
        return ldgi_fail(err, LDG_E_INPUT, "invalid key name");
    uint8_t h[4], raw[33];
    ldgi_key_id(name, LDGI_KEYID_NOTE, pub, h);
    raw[0] = 0x01;
    memcpy(raw + 1, pub, 32);
    char b64[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, raw, 33, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, LDG_VKEY_MAX, "%s+%02x%02x%02x%02x+%s", name, h[0], h[1], h[2], h[3], b64);
    return LDG_OK;
}

ldg_status
ldg_vkey_parse(const char *line, size_t len, char name[LDG_NAME_MAX + 1],
               uint8_t pub[LDG_PUB_BYTES], ldg_err *err)
{
    if (len && line[len - 1] == '\n')
        len--;
    const char *p1 = memchr(line, '+', len);
    if (!p1 || (size_t)(p1 - line) > LDG_NAME_MAX || p1 == line)
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: expected NAME+HASH+KEY");
    size_t nl = (size_t)(p1 - line);
    const char *rest = p1 + 1;
    size_t rl = len - nl - 1;
    if (rl < 10 || rest[8] != '+')
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: expected 8 hex digits after the name");
    if (memchr(line, '\0', nl))
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: NUL byte in the key name");
    memcpy(name, line, nl);
    name[nl] = '\0';
    if (!ldgi_key_name_valid(name))
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: invalid key name");
    uint8_t h[4], raw[34];
    size_t hl, bl;
    if (sodium_hex2bin(h, 4, rest, 8, NULL, &hl, NULL) != 0 || hl != 4)
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: key hash is not 8 hex digits");
    for (int i = 0; i < 8; i++)
        if (rest[i] >= 'A' && rest[i] <= 'F')
            return ldgi_fail(err, LDG_E_INPUT, "verifier key: key hash must be lower-case hex");
    const char *b = rest + 9;
    size_t blen = rl - 9;
    const char *end;
    if (sodium_base642bin(raw, sizeof raw, b, blen, NULL, &bl, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b + blen || bl != 33 || raw[0] != 0x01)
        return ldgi_fail(err, LDG_E_INPUT,
                         "verifier key: not base64 of an Ed25519 key (0x01||32 bytes)");
    /* Only the canonical base64 text: re-encode and compare. */
    char again[sodium_base64_ENCODED_LEN(33, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(again, sizeof again, raw, 33, sodium_base64_VARIANT_ORIGINAL);
    if (strlen(again) != blen || memcmp(again, b, blen) != 0)
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: base64 is not canonical");
    uint8_t want[4];
    ldgi_key_id(name, LDGI_KEYID_NOTE, raw + 1, want);
    if (memcmp(want, h, 4) != 0)
        return ldgi_fail(err, LDG_E_INPUT, "verifier key: key hash does not match name and key");
    memcpy(pub, raw + 1, 32);
    return LDG_OK;
}

static ldg_status
read_small(const char *path, char *buf, size_t cap, size_t *len, struct stat *stout, ldg_err *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return ldgi_fail(err, errno == ENOENT ? LDG_E_NOTFOUND : LDG_E_IO, "%s: %s", path,
                         strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ldgi_fail(err, LDG_E_INPUT, "%s: not a regular file", path);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return ldgi_fail(err, LDG_E_IO, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            close(fd);
            return ldgi_fail(err, LDG_E_INPUT, "%s: larger than %zu bytes", path, cap - 1);
        }
    }
    close(fd);
    *len = n;
    if (stout)
        *stout = st;
    return LDG_OK;
}

ldg_status
ldg_vkey_read(const char *path, char name[LDG_NAME_MAX + 1], uint8_t pub[LDG_PUB_BYTES],
              ldg_err *err)
{
    char buf[LDG_VKEY_MAX + 2];
    size_t n;
    ldg_status st = read_small(path, buf, sizeof buf, &n, NULL, err);
    if (st != LDG_OK) {
        sodium_memzero(buf, sizeof buf);
        return st;
    }
    st = ldg_vkey_parse(buf, n, name, pub, err);
    /* a secret key file given by mistake is refused: its seed not left on the stack */
    sodium_memzero(buf, sizeof buf);
    if (st != LDG_OK) {
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s", err ? err->msg : "");
        return ldgi_fail(err, st, "%s: %s", path, m);
    }
    return LDG_OK;
}

/* ---------------------------------------------------------- key files -- */

static void
b64(char *out, size_t cap, const uint8_t *p, size_t n)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static ldg_status
create_file(const char *path, mode_t mode, const char *data, size_t n, ldg_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return ldgi_fail(err, errno == EEXIST ? LDG_E_EXISTS : LDG_E_IO, "%s: %s", path,
                         strerror(errno));
    /* umask may have narrowed mode; never widen, but make sure of 0600 for secrets. */
    if (write_all(fd, data, n) != 0 || fsync(fd) != 0 || fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return ldgi_fail(err, e == ENOSPC ? LDG_E_FULL : LDG_E_IO, "%s: %s", path, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        return ldgi_fail(err, LDG_E_IO, "%s: %s", path, strerror(e));
    }
    return LDG_OK;
}

static void
key_ad(const char *name, const uint8_t pub[32], uint8_t *ad, size_t *adlen)
{
    /* The AEAD binds name and public key, so neither can be swapped in the file. */
    size_t n = strlen(name);
    memcpy(ad, name, n);
    ad[n] = '\n';
    memcpy(ad + n + 1, pub, 32);
    *adlen = n + 33;
}

ldg_status
ldg_key_save(const ldg_key *k, const char *prefix, const char *pass, size_t passlen, ldg_err *err)
{
    size_t pl = strlen(prefix);
    if (pl == 0 || pl > 4000)
        return ldgi_fail(err, LDG_E_USAGE, "key output prefix is empty or too long");
    char keypath[4100], pubpath[4100];
    snprintf(keypath, sizeof keypath, "%s.key", prefix);
    snprintf(pubpath, sizeof pubpath, "%s.pub", prefix);
    struct stat st;
    if (lstat(keypath, &st) == 0)
        return ldgi_fail(err, LDG_E_EXISTS, "%s: already exists", keypath);
    if (lstat(pubpath, &st) == 0)
        return ldgi_fail(err, LDG_E_EXISTS, "%s: already exists", pubpath);

    char pubb64[64], text[KEYFILE_MAX];
    b64(pubb64, sizeof pubb64, k->pub, 32);
    int tl;
    uint8_t *seed = sodium_malloc(32);
    if (!seed)
        return ldgi_fail(err, LDG_E_NOMEM, "key: out of secure memory");
    crypto_sign_ed25519_sk_to_seed(seed, k->sk);
    if (pass) {
        uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
        uint8_t ct[32 + crypto_aead_xchacha20poly1305_ietf_ABYTES], ad[LDG_NAME_MAX + 40];
        size_t adlen;
        unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        uint8_t *kek = sodium_malloc(32);
        if (!kek) {
            sodium_free(seed);
            return ldgi_fail(err, LDG_E_NOMEM, "key: out of secure memory");
        }
        randombytes_buf(salt, sizeof salt);
        randombytes_buf(nonce, sizeof nonce);
        if (crypto_pwhash(kek, 32, pass, passlen, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) !=
            0) {
            sodium_free(kek);
            sodium_free(seed);
            return ldgi_fail(err, LDG_E_NOMEM, "Argon2id: out of memory");
        }
        key_ad(k->name, k->pub, ad, &adlen);
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, seed, 32, ad, adlen, NULL, nonce, kek);
        sodium_free(kek);
        char sb[64], nb[64], cb[128];
        b64(sb, sizeof sb, salt, sizeof salt);
        b64(nb, sizeof nb, nonce, sizeof nonce);
        b64(cb, sizeof cb, ct, sizeof ct);
        tl = snprintf(text, sizeof text,
                      KEYFILE_MAGIC "\nname: %s\npub: %s\nkdf: argon2id13\nops: %llu\nmem: %zu\n"
                                    "salt: %s\naead: xchacha20poly1305-ietf\nnonce: %s\n"
                                    "secret: %s\n",
                      k->name, pubb64, ops, mem, sb, nb, cb);
    } else {
        char seedb[64];
        b64(seedb, sizeof seedb, seed, 32);
        tl = snprintf(text, sizeof text,
                      KEYFILE_MAGIC "\nname: %s\npub: %s\nkdf: none\nsecret: %s\n", k->name, pubb64,
                      seedb);
        sodium_memzero(seedb, sizeof seedb);
    }
    sodium_free(seed);

    ldg_status s = create_file(keypath, 0600, text, (size_t)tl, err);
    sodium_memzero(text, sizeof text);
    if (s != LDG_OK)
        return s;
    char line[LDG_VKEY_MAX + 1];
    s = ldg_vkey_format(k->name, k->pub, line, err);
    if (s == LDG_OK) {
        size_t ll = strlen(line);
        line[ll++] = '\n';
        s = create_file(pubpath, 0644, line, ll, err);
    }
    if (s != LDG_OK)
        unlink(keypath);
    return s;
}

/* Splits the next "field: value" line; value is NUL-terminated in place. */
static bool
next_field(char **cur, const char *field, char **value)
{
    char *p = *cur, *nl = strchr(p, '\n');
    if (!nl)
        return false;
    *nl = '\0';
    size_t fl = strlen(field);
    if (strncmp(p, field, fl) != 0 || p[fl] != ':' || p[fl + 1] != ' ')
        return false;
    *value = p + fl + 2;
    *cur = nl + 1;
    return true;
}

static bool
unb64(const char *s, uint8_t *out, size_t want)
{
    size_t n;
    const char *end;
    return sodium_base642bin(out, want, s, strlen(s), NULL, &n, &end,
                             sodium_base64_VARIANT_ORIGINAL) == 0 &&
           *end == '\0' && n == want;
}

int
ldg_key_file_encrypted(const char *path)
{
    char buf[KEYFILE_MAX];
    size_t n;
    if (read_small(path, buf, sizeof buf, &n, NULL, NULL) != LDG_OK) {
        sodium_memzero(buf, sizeof buf); /* what a failed read left */
        return -1;
    }
    buf[n] = '\0';
    /* Only a key file that says it is sealed asks for a passphrase; anything else is
     * left to ldg_key_load to explain. */
    int sealed = strncmp(buf, KEYFILE_MAGIC "\n", sizeof KEYFILE_MAGIC) == 0 &&
                 strstr(buf, "\nkdf: argon2id13\n") != NULL;
    /* an unsealed key file holds the seed in the clear: not left on the stack */
    sodium_memzero(buf, sizeof buf);
    return sealed;
}

/*
 * What loading a key holds in the clear: one sodium_malloc'd block (each is
 * an mmap, guard pages, mlock and their undoing, about 20 us), the file's
 * text last, against the guard page.
 */
typedef struct key_scratch {
    uint8_t seed[32], kek[32];
    char text[KEYFILE_MAX + 1];
} key_scratch;

ldg_status
ldg_key_load(const char *path, const char *pass, size_t passlen, ldg_key **out, ldg_err *err)
{
    key_scratch *ks = sodium_malloc(sizeof *ks);
    if (!ks)
        return ldgi_fail(err, LDG_E_NOMEM, "key: out of secure memory");
    char *buf = ks->text;
    uint8_t *seed = ks->seed, *kek = ks->kek;
    struct stat st;
    size_t n;
    ldg_status s = read_small(path, buf, KEYFILE_MAX, &n, &st, err);
    ldg_key *k = NULL;
    if (s != LDG_OK)
        goto done;
    buf[n] = '\0';
    char *cur = buf, *v, *name, *pubs, *kdf;
    uint8_t pub[32];
    if (strncmp(cur, KEYFILE_MAGIC "\n", sizeof KEYFILE_MAGIC) != 0) {
        s = ldgi_fail(err, LDG_E_INPUT, "%s: not an ldg secret key file", path);
        goto done;
    }
    if (st.st_mode & 077) {
        s = ldgi_fail(err, LDG_E_KEYPERM,
                      "%s: secret key file is accessible to group or others (mode %03o); "
                      "run chmod 600",
                      path, (unsigned)(st.st_mode & 0777));
        goto done;
    }
    cur += sizeof KEYFILE_MAGIC;
    if (!next_field(&cur, "name", &name) || !next_field(&cur, "pub", &pubs) ||
        !next_field(&cur, "kdf", &kdf) || !unb64(pubs, pub, 32)) {
        s = ldgi_fail(err, LDG_E_INPUT, "%s: malformed key file header", path);
        goto done;
    }
    s = key_alloc(name, &k, err);
    if (s != LDG_OK)
        goto done;
    if (strcmp(kdf, "none") == 0) {
        if (!next_field(&cur, "secret", &v) || !unb64(v, seed, 32) || *cur != '\0') {
            s = ldgi_fail(err, LDG_E_INPUT, "%s: malformed unencrypted key", path);
            goto done;
        }
    } else if (strcmp(kdf, "argon2id13") == 0) {
        char *ops, *mem, *salts, *aead, *nonces, *secret;
        uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
        uint8_t ct[32 + crypto_aead_xchacha20poly1305_ietf_ABYTES], ad[LDG_NAME_MAX + 40];
        size_t adlen;
        if (!next_field(&cur, "ops", &ops) || !next_field(&cur, "mem", &mem) ||
            !next_field(&cur, "salt", &salts) || !next_field(&cur, "aead", &aead) ||
            !next_field(&cur, "nonce", &nonces) || !next_field(&cur, "secret", &secret) ||
            *cur != '\0' || strcmp(aead, "xchacha20poly1305-ietf") != 0 ||
            !unb64(salts, salt, sizeof salt) || !unb64(nonces, nonce, sizeof nonce) ||
            !unb64(secret, ct, sizeof ct)) {
            s = ldgi_fail(err, LDG_E_INPUT, "%s: malformed encrypted key", path);
            goto done;
        }
        char *e1, *e2;
        unsigned long long o = strtoull(ops, &e1, 10), m = strtoull(mem, &e2, 10);
        bool digits = strspn(ops, "0123456789") == strlen(ops) && *ops &&
                      strspn(mem, "0123456789") == strlen(mem) && *mem;
        if (!digits || *e1 || *e2 || o < crypto_pwhash_OPSLIMIT_MIN || o > KDF_OPS_MAX ||
            m < crypto_pwhash_MEMLIMIT_MIN || m > KDF_MEM_MAX) {
            s = ldgi_fail(err, LDG_E_INPUT, "%s: Argon2id parameters out of bounds", path);
            goto done;
        }
        if (!pass) {
            s = ldgi_fail(err, LDG_E_PASSPHRASE, "%s: key is encrypted and no passphrase was given",
                          path);
            goto done;
        }
        if (crypto_pwhash(kek, 32, pass, passlen, salt, o, (size_t)m,
                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
            s = ldgi_fail(err, LDG_E_NOMEM, "%s: Argon2id: out of memory", path);
            goto done;
        }
        key_ad(name, pub, ad, &adlen);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed, NULL, NULL, ct, sizeof ct, ad, adlen,
                                                       nonce, kek) != 0) {
            s = ldgi_fail(err, LDG_E_PASSPHRASE, "%s: wrong passphrase (or the file was altered)",
                          path);
            goto done;
        }
    } else {
        s = ldgi_fail(err, LDG_E_INPUT, "%s: unknown kdf \"%.20s\"", path, kdf);
        goto done;
    }
    crypto_sign_seed_keypair(k->pub, k->sk, seed);
    if (sodium_memcmp(k->pub, pub, 32) != 0) {
        s = ldgi_fail(err, LDG_E_INPUT, "%s: secret and public key do not match", path);
        goto done;
    }
    *out = k;
    k = NULL;
done:
    ldg_key_free(k);
    sodium_free(ks); /* wipes before freeing */
    return s;
}
