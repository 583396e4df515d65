/*
 * forge.c - see forge.h.  Test code may write the ledger's databases
 * itself: it plays the host that holds the LMDB file and the log key.
 */
#include "forge.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ tarballs -- */

tarball
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
        cr_assert_lt(t.n, TAR_MAX);
        tar_member *m = &t.m[t.n++];
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

void
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

void
tar_free(tarball *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->m[i].data);
}

tar_member *
tar_get(tarball *t, const char *name)
{
    char full[100];
    snprintf(full, sizeof full, "ldg-bundle/%s", name);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->m[i].name, full) == 0)
            return &t->m[i];
    cr_assert_fail("no %s in the bundle", name);
    return NULL;
}

void
tar_set(tar_member *m, char *data)
{
    free(m->data);
    m->data = data;
    m->len = strlen(data);
}

json_t *
jsonl_line(tar_member *m, size_t i)
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

void
jsonl_put_line(tar_member *m, size_t i, json_t *o)
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
    tar_set(m, out);
}

/* ------------------------------------------------------- bundles -- */

void
bundle_fix_manifest(tarball *t)
{
    tar_member *mm = tar_get(t, "manifest.json");
    json_t *j = json_loads(mm->data, 0, NULL);
    cr_assert_not_null(j);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(j, "files"), i, f)
    {
        tar_member *m = tar_get(t, json_string_value(json_object_get(f, "path")));
        uint8_t d[32];
        char hex[65];
        crypto_hash_sha256(d, (const unsigned char *)m->data, m->len);
        sodium_bin2hex(hex, sizeof hex, d, 32);
        json_object_set_new(f, "sha256", json_string(hex));
        json_object_set_new(f, "size", json_integer((json_int_t)m->len));
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    tar_set(mm, text);
}

void
bundle_sign_manifest(tarball *t, const ldg_key *logk)
{
    ldg_bundle_file files[TAR_MAX];
    size_t nf = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *name = t->m[i].name + strlen("ldg-bundle/");
        if (strcmp(name, "manifest.sig") == 0)
            continue;
        files[nf].path = name;
        crypto_hash_sha256(files[nf].sha256, (const unsigned char *)t->m[i].data, t->m[i].len);
        nf++;
    }
    for (size_t i = 0; i < nf; i++)
        if (strcmp(files[i].path, "manifest.json") == 0) {
            ldg_bundle_file m0 = files[i];
            memmove(files + 1, files, i * sizeof *files);
            files[0] = m0;
        }
    ldg_err err;
    char *msig;
    size_t msl;
    cr_assert_eq(ldg_bundle_sign("test.example/ledger", files, nf, logk, NULL, &msig, &msl, &err),
                 LDG_OK, "%s", err.msg);
    tar_set(tar_get(t, "manifest.sig"), msig);
}

char *
bundle_evidence(ldg_ledger *l, uint64_t seq, uint64_t n)
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
                          "leaf_hash", leaf, "entry", b, "inclusion", "tree_size", (json_int_t)n,
                          "hashes", hs, "body_status", "ok", "salt", salt, "body", r->body);
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    ldg_record_free(r);
    return line;
}

static bool
is_key_record(ldg_ledger *l, uint64_t seq)
{
    ldg_err err;
    ldg_record *r;
    cr_assert_eq(ldg_record_get(l, seq, &r, &err), LDG_OK, "%s", err.msg);
    bool k = strcmp(r->kind, "genesis") == 0 || strncmp(r->kind, "key.", 4) == 0;
    ldg_record_free(r);
    return k;
}

void
bundle_forge(const char *dir, ldg_ledger *l, uint64_t n, const uint64_t *recs, size_t nrecs,
             const char *template, const char *out)
{
    ldg_err err;
    uint8_t root[32];
    cr_assert_eq(ldg_tree_root(l, n, root, &err), LDG_OK);
    char rb[64];
    sodium_bin2base64(rb, sizeof rb, root, 32, sodium_base64_VARIANT_ORIGINAL);
    tarball t = tar_load(path_in(dir, template));
    tar_set(tar_get(&t, "checkpoint.txt"), log_note_by_hand(dir, (unsigned long)n, rb));
    char *kr = calloc(1, 1 << 20), *rr = calloc(1, 1 << 20);
    for (uint64_t s = 0; s < n; s++) {
        if (!is_key_record(l, s))
            continue;
        char *ln = bundle_evidence(l, s, n);
        strcat(strcat(kr, ln), "\n");
        free(ln);
    }
    json_t *list = json_array();
    for (size_t i = 0; i < nrecs; i++) {
        char *ln = bundle_evidence(l, recs[i], n);
        strcat(strcat(rr, ln), "\n");
        free(ln);
        json_array_append_new(list, json_integer((json_int_t)recs[i]));
    }
    tar_set(tar_get(&t, "keyrecords.jsonl"), kr);
    tar_set(tar_get(&t, "records.jsonl"), rr);
    tar_member *mm = tar_get(&t, "manifest.json");
    json_t *mj = json_loads(mm->data, 0, NULL);
    json_object_set_new(mj, "records", list);
    json_object_set_new(mj, "checkpoint_size", json_integer((json_int_t)n));
    tar_set(mm, json_dumps(mj, JSON_COMPACT));
    json_decref(mj);
    bundle_fix_manifest(&t);
    ldg_key *logk = load_key(dir, "log");
    bundle_sign_manifest(&t, logk);
    ldg_key_free(logk);
    tar_save(&t, path_in(dir, out));
    tar_free(&t);
}

/* --------------------------------------------------------- forging -- */

ldgi_str
str_lit(const char *s)
{
    return (ldgi_str){s, strlen(s)};
}

ldg_key *
load_key(const char *dir, const char *name)
{
    char f[64];
    snprintf(f, sizeof f, "%s.key", name);
    ldg_key *k;
    ldg_err err;
    cr_assert_eq(ldg_key_load(path_in(dir, f), NULL, 0, &k, &err), LDG_OK, "%s", err.msg);
    return k;
}

/* Index key: the bytes of s, a NUL, then the entry's 8-byte key. */
static void
index_put(ldgi_txn *t, ldgi_db db, ldgi_str s, const uint8_t sk8[8])
{
    ldg_err err;
    uint8_t ik[300];
    memcpy(ik, s.p, s.len);
    ik[s.len] = 0;
    memcpy(ik + s.len + 1, sk8, 8);
    cr_assert_eq(ldgi_put(t, db, ik, s.len + 9, "", 0, false, false, &err), LDG_OK);
}

uint64_t
forge_record(ldg_ledger *l, const ldg_key *k, ldgi_stmt *st, const forge_opts *o)
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
    st->time_ns = o && o->stmt_time_ns ? o->stmt_time_ns : (int64_t)last + 1;
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
    uint8_t lk[LDGI_LEAF_KEY_BYTES], ck[LDGI_COMMIT_KEY_BYTES];
    ldgi_leaf_key(lk, leaf, size);
    ldgi_commit_key(ck, st->time_ns, st->body);
    cr_assert_eq(ldgi_put(t, LDGI_DB_LEAF, lk, sizeof lk, sk8, 8, true, false, &err), LDG_OK);
    cr_assert_eq(ldgi_put(t, LDGI_DB_COMMIT, ck, sizeof ck, sk8, 8, true, false, &err), LDG_OK);
    if (!(o && o->entries_only)) {
        index_put(t, LDGI_DB_STUDY, st->study, sk8);
        index_put(t, LDGI_DB_KIND, st->kind, sk8);
        uint8_t ak[40];
        memcpy(ak, st->actor, 32);
        memcpy(ak + 32, sk8, 8);
        cr_assert_eq(ldgi_put(t, LDGI_DB_ACTOR, ak, 40, "", 0, false, false, &err), LDG_OK);
        if (st->key_full) {
            ldgi_keystate ks = {.added_seq = size,
                                .revoked_seq = UINT64_MAX,
                                .roles = (uint8_t)ldgi_stmt_roles(st)};
            uint8_t kb[LDGI_KEYSTATE_BYTES];
            ldgi_keystate_pack(&ks, kb);
            cr_assert_eq(
                ldgi_put(t, LDGI_DB_KEYS, st->key_pub, 32, kb, sizeof kb, false, false, &err),
                LDG_OK);
        }
    }
    cr_assert_eq(ldgi_tree_add(t, size, leaf, &err), LDG_OK, "%s", err.msg);
    bool full;
    cr_assert_eq(ldgi_txn_commit(t, &full, &err), LDG_OK, "%s", err.msg);
    ldgi_buf_free(&sb);
    ldgi_buf_free(&eb);
    return size;
}

char *
verify_failures(const char *out)
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
