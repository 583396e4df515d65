/*
 * witnesses.c - the witness policy options shared by the verifiers
 * (`--witness W.pub ... [--quorum N]`, spec/format.md [CKP-7]): reading the
 * keys and the quorum here, deciding in the library (ldg_checkpoint_witnessed),
 * so that every verifier applies one rule.
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int
tool_witnesses_load(tool_witnesses *w)
{
    uint64_t q = 0;
    if (w->quorum_text && !w->n)
        return tool_usage("--quorum counts the cosignatures of the --witness keys: give them");
    if (w->quorum_text && (!parse_u64(w->quorum_text, &q) || q == 0 || q > LDG_WITNESS_KEYS_MAX))
        return tool_usage("--quorum %s: expected a number from 1 to the number of witnesses",
                          w->quorum_text);
    size_t distinct = 0;
    uint8_t pubs[LDG_WITNESS_KEYS_MAX][LDG_PUB_BYTES];
    for (size_t i = 0; i < w->n; i++) {
        size_t len;
        char name[LDG_NAME_MAX + 1];
        ldg_err err;
        int rc = tool_read_file(w->files[i], LDG_VKEY_MAX, &w->lines[i], &len);
        if (rc != EXIT_OK)
            return rc;
        w->lines[i][strcspn(w->lines[i], "\n")] = '\0';
        if (ldg_witness_vkey_parse(w->lines[i], strlen(w->lines[i]), name, pubs[distinct], &err) !=
            LDG_OK)
            return tool_usage("--witness %s: %s", w->files[i], err.msg);
        bool seen = false;
        for (size_t j = 0; j < distinct && !seen; j++)
            seen = memcmp(pubs[j], pubs[distinct], LDG_PUB_BYTES) == 0;
        if (!seen)
            distinct++;
    }
    if (q > distinct)
        return tool_usage("--quorum %llu: only %zu distinct witness key%s given (a key given twice "
                          "counts once)",
                          (unsigned long long)q, distinct, distinct == 1 ? "" : "s");
    w->quorum = (size_t)q;
    return EXIT_OK;
}

int
tool_witnesses_check(const tool_witnesses *w, const char *note, size_t len, const uint8_t *logpub,
                     char *why, size_t whylen)
{
    ldg_witness_check out[LDG_WITNESS_KEYS_MAX];
    size_t valid;
    ldg_err err;
    why[0] = '\0';
    ldg_status s = ldg_checkpoint_witnessed(note, len, logpub, (const char *const *)w->lines, w->n,
                                            w->quorum, (uint64_t)time(NULL), out, &valid, &err);
    if (s == LDG_OK)
        return EXIT_OK;
    if (s == LDG_E_BADSIG) {
        snprintf(why, whylen, "%s", err.msg);
        return EXIT_INTEGRITY;
    }
    return tool_fail(&err);
}

void
tool_witnesses_free(tool_witnesses *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->lines[i]);
}
