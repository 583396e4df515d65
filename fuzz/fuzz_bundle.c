/*
 * fuzz_bundle.c - ldg_bundle_verify (ledger/bundle.c) on arbitrary bytes:
 * the tar reader, the manifest, the checkpoint and every evidence line are
 * hostile input.  Property: it returns (no crash, no hang), and a bundle it
 * accepts without failures has a checkpoint and as many records as listed.
 */
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    ldg_bundle_summary sum;
    ldg_err err;
    ldg_status s = ldg_bundle_verify(data, size, NULL, NULL, NULL, &sum, &err);
    FUZZ_CHECK(s == LDG_OK);
    if (sum.failures == 0)
        FUZZ_CHECK(sum.cp.size > 0 && sum.cp.origin[0] && sum.key_records > 0);
    return 0;
}
