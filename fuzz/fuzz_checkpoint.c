/*
 * fuzz_checkpoint.c - the checkpoint signed-note parser [CKP-1] and the
 * cosignature reader and writer [CKP-5] on arbitrary bytes.  The input is
 * checked under two log keys: the one of fuzz/corpus/checkpoint (a ledger
 * made with `ldg init` and `ldg checkpoint`) and the fixed "fuzz" key of
 * fuzz_tlog_proof.  Properties: a refusal is LDG_E_INPUT or LDG_E_BADSIG; an
 * accepted note starts with exactly the origin, size and root it was read
 * as (so it re-serialises to itself), is accepted again under its key's
 * name, and, cosigned by another key, is still accepted with the same tree
 * head while the cosignature verifies with its timestamp.  The QA key's
 * cosignatures in the corpus are read with ldg_checkpoint_cosigned.
 */
#include "fuzz.h"

#include <sodium.h>
#include <string.h>

#define NOTE_MAX 8192 /* checkpoint.c: larger notes are refused */

static const char *const vkeys[] = {
    "log+0adbfba9+AQ7OSverzuVLfFJvTrvROfRBVAU8dfMKfvPvcIRG64/i",   /* corpus ledger's log key */
    "admin+8ce8e800+AfdpI3onFum2CIa8gsbRYfhlZ06KbgJdl6cAHauczZXo", /* its admin (QA cosigner) */
};

typedef struct trusted {
    char name[LDG_NAME_MAX + 1];
    uint8_t pub[LDG_PUB_BYTES];
} trusted;

static trusted keys[3]; /* log, admin, fuzz */
static ldg_key *cosigner;

static void
setup(void)
{
    static int done;
    if (done)
        return;
    for (int i = 0; i < 2; i++)
        FUZZ_CHECK(ldg_vkey_parse(vkeys[i], strlen(vkeys[i]), keys[i].name, keys[i].pub, NULL) ==
                   LDG_OK);
    uint8_t seed[32], sk[64];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    crypto_sign_seed_keypair(keys[2].pub, sk, seed);
    strcpy(keys[2].name, "fuzz");
    FUZZ_CHECK(ldg_key_generate("witness", &cosigner, NULL) == LDG_OK);
    done = 1;
}

static void
check_under(const char *note, size_t len, const trusted *k)
{
    ldg_checkpoint cp, again;
    ldg_err err;
    ldg_status s = ldg_checkpoint_parse(note, len, NULL, k->pub, &cp, &err);
    if (s != LDG_OK) {
        FUZZ_CHECK(s == LDG_E_INPUT || s == LDG_E_BADSIG);
        return;
    }
    /* The note's text begins with the tree head exactly as it was read. */
    char head[LDG_TEXT_MAX + 128], root[64];
    sodium_bin2base64(root, sizeof root, cp.root, LDG_HASH_BYTES, sodium_base64_VARIANT_ORIGINAL);
    int hl = snprintf(head, sizeof head, "%s\n%llu\n%s\n", cp.origin, (unsigned long long)cp.size,
                      root);
    FUZZ_CHECK(hl > 0 && (size_t)hl < sizeof head);
    FUZZ_CHECK(cp.origin[0] && !strchr(cp.origin, '\n'));
    FUZZ_CHECK((size_t)hl <= len && memcmp(note, head, (size_t)hl) == 0);
    /* Its key's signature is there under the key's own name. */
    FUZZ_CHECK(ldg_checkpoint_parse(note, len, k->name, k->pub, &again, NULL) == LDG_OK);
    FUZZ_CHECK(memcmp(&cp, &again, sizeof cp) == 0);

    /* Cosigned, the note still carries the same tree head under the same key. */
    char *co;
    size_t colen;
    uint64_t ts = (uint64_t)len * 1000003u, got = 0;
    FUZZ_CHECK(ldg_checkpoint_cosign(note, len, cosigner, ts, &co, &colen, NULL) == LDG_OK);
    FUZZ_CHECK(colen > len && memcmp(co, note, len) == 0 && co[colen - 1] == '\n');
    uint8_t cpub[LDG_PUB_BYTES];
    ldg_key_public(cosigner, cpub);
    FUZZ_CHECK(ldg_checkpoint_cosigned(co, colen, ldg_key_name(cosigner), cpub, &got, NULL) ==
               LDG_OK);
    FUZZ_CHECK(got == ts);
    size_t lines = 0;
    for (const char *p = note; (p = memchr(p, '\n', (size_t)(note + len - p))) != NULL; p++)
        lines++;
    /* Unless the new line pushed it past the size or signature-count limits. */
    if (colen <= NOTE_MAX && lines < 100) {
        ldg_status s2 = ldg_checkpoint_parse(co, colen, k->name, k->pub, &again, &err);
        if (s2 != LDG_OK)
            fprintf(stderr, "cosigned note refused: %s\n", err.msg);
        FUZZ_CHECK(s2 == LDG_OK && memcmp(&cp, &again, sizeof cp) == 0);
    }
    free(co);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    setup();
    const char *note = (const char *)data;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        check_under(note, size, &keys[i]);
    /* The QA cosignature reader on the raw input: never a crash, a status in its list. */
    uint64_t ts;
    ldg_status s = ldg_checkpoint_cosigned(note, size, keys[1].name, keys[1].pub, &ts, NULL);
    FUZZ_CHECK(s == LDG_OK || s == LDG_E_INPUT || s == LDG_E_BADSIG || s == LDG_E_NOTFOUND);
    return 0;
}
