/*
 * fuzz_tlog_proof.c - the C2SP tlog-proof and signed-note checkpoint parsers
 * [CKP-1][CKP-4] on arbitrary bytes.  Properties: an accepted tlog-proof
 * formats back to the same text; its note (and the input itself, read as a
 * note) either parses under the fixed test key or is refused cleanly; an
 * accepted checkpoint has a size and a root and an origin without newline.
 */
#include "fuzz.h"

#include <sodium.h>
#include <string.h>

/* The public key of seed 0x01..0x20: the corpus notes are signed with it as "fuzz". */
static void
test_key(uint8_t pub[LDG_PUB_BYTES])
{
    uint8_t seed[32], sk[64];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(i + 1);
    crypto_sign_seed_keypair(pub, sk, seed);
}

static void
check_note(const char *p, size_t n, const uint8_t pub[LDG_PUB_BYTES])
{
    ldg_checkpoint cp;
    if (ldg_checkpoint_parse(p, n, NULL, pub, &cp, NULL) == LDG_OK)
        FUZZ_CHECK(cp.origin[0] && !strchr(cp.origin, '\n'));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    uint8_t pub[LDG_PUB_BYTES];
    test_key(pub);
    check_note((const char *)data, size, pub);
    ldg_tlog_proof p;
    if (ldg_tlog_proof_parse((const char *)data, size, &p, NULL) != LDG_OK)
        return 0;
    check_note(p.note, p.note_len, pub);
    char *again;
    size_t alen;
    FUZZ_CHECK(ldg_tlog_proof_format(p.index, p.extra, p.extra_len,
                                     (const uint8_t(*)[LDG_HASH_BYTES])p.hashes, p.nhashes,
                                     p.note, p.note_len, &again, &alen, NULL) == LDG_OK);
    /* Re-formatting writes canonical base64; the parser only takes canonical hashes, and
     * extra is re-encoded, so compare up to the note when the input's extra is canonical. */
    FUZZ_CHECK(alen >= p.note_len && memcmp(again + alen - p.note_len, p.note, p.note_len) == 0);
    free(again);
    ldg_tlog_proof_clear(&p);
    return 0;
}
