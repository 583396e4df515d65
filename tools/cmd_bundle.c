/*
 * cmd_bundle.c - `ldg verify-bundle`: checks an evidence bundle offline,
 * without the ledger (spec/export.md [EXP-8]).  The file is mapped, not
 * read into memory, and refused unread beyond LDG_BUNDLE_MAX [EXP-9].
 */
#include "tool.h"

#include "emit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char help[] =
    "usage: ldg verify-bundle BUNDLE --trust LOG.pub [--json] [--witness W.pub]... [--quorum N]\n"
    "Checks a bundle made by `ldg export --format bundle`, offline: manifest.sig under the\n"
    "log key and every file against it, the manifest and its record list, the checkpoint's\n"
    "signature, each entry's inclusion proof, signatures under the key records, chain links,\n"
    "bodies, and the exporter's cosignature (named from the key records).  --trust gives\n"
    "the ledger's log key as held by the sponsor or CRO; without it the bundle's own\n"
    "log.pub is used, the output says so, and the bundle is not authenticated (exit 2).\n"
    "Exit: 0 everything checks under the trusted log key; 1 integrity failure; 2 no --trust\n"
    "(checked, but unauthenticated) or bad input; 4 operational error.\n"
    "--witness W.pub [--quorum N]: the bundle's checkpoint.txt must also carry valid C2SP\n"
    "tlog-cosignatures by N distinct witness keys among those given (default: all; counted\n"
    "as `ldg verify --witness` counts them), so the auditor knows the sponsor's witness saw\n"
    "the same tree head; else a FAIL naming each witness that did not (exit 1).  The bundle\n"
    "carries the cosignatures of the stored checkpoint it is tied to (spec/export.md).\n"
    "--quorum without --witness, or above the distinct keys: exit 2.\n";

typedef struct bctx {
    bool json;
} bctx;

static void
on_finding(void *ctx, ldg_finding_level lvl, uint64_t seq, const char *check, const char *detail)
{
    bctx *c = ctx;
    const char *level = lvl == LDG_FINDING_FAIL ? "FAIL" : "WITHHELD";
    char *safe = tool_printable(detail);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:o, s:s, s:o}", "finding", level, "seq",
                              seq == UINT64_MAX ? json_null() : json_integer((json_int_t)seq),
                              "check", check, "detail", tool_json_text(detail));
        tool_print_json(o);
    } else if (seq == UINT64_MAX) {
        printf("%-8s bundle  %s: %s\n", level, em_t(check), safe ? safe : "?");
    } else {
        printf("%-8s #%-6llu %s: %s\n", level, (unsigned long long)seq, em_t(check),
               safe ? safe : "?");
    }
    free(safe);
}

static int verify_bundle(const char *path, const char *trust, bool json,
                         const ldg_witness_policy *wp);

int
cmd_verify_bundle(int argc, char **argv)
{
    const char *trust = NULL, *path = NULL;
    bool json = false;
    tool_witnesses wit = {0};
    const opt_spec specs[] = {OPT_VAL("--trust", &trust), OPT_FLAG("--json", &json),
                              OPT_WITNESSES(&wit), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, help, &path, 1);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!path)
        return tool_usage("expected the bundle: ldg verify-bundle BUNDLE [--trust LOG.pub]");
    if ((rc = tool_witnesses_load(&wit)) != EXIT_OK) {
        tool_witnesses_free(&wit);
        return rc;
    }
    ldg_witness_policy wp = {(const char *const *)wit.lines, wit.n, wit.quorum,
                             (uint64_t)time(NULL)};
    rc = verify_bundle(path, trust, json, wit.n ? &wp : NULL);
    tool_witnesses_free(&wit);
    return rc;
}

static int
verify_bundle(const char *path, const char *trust, bool json, const ldg_witness_policy *wp)
{
    int rc = EXIT_OK;
    char *line = NULL;
    size_t linelen = 0;
    if (trust && (rc = tool_read_file(trust, 4096, &line, &linelen)) != EXIT_OK)
        return rc;
    if (line) {
        line[strcspn(line, "\n")] = '\0';
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        free(line);
        return tool_usage("%s: %s", path, fd < 0 ? strerror(e) : "not a regular file");
    }
    if ((uint64_t)st.st_size > LDG_BUNDLE_MAX) { /* refused before a byte of it is read */
        close(fd);
        free(line);
        return tool_usage("%s: %llu bytes, larger than a bundle may be (%zu)", path,
                          (unsigned long long)st.st_size, LDG_BUNDLE_MAX);
    }
    void *map = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (st.st_size && map == MAP_FAILED) {
        free(line);
        return tool_error(EXIT_OPER, "%s: cannot map it: %s", path, strerror(errno));
    }
    bctx c = {json};
    ldg_bundle_summary sum;
    ldg_err err;
    ldg_status s = ldg_bundle_verify_witnessed(map ? map : "", (size_t)st.st_size, line, wp,
                                               on_finding, &c, &sum, &err);
    if (map)
        munmap(map, (size_t)st.st_size);
    free(line);
    if (s == LDG_E_INPUT)
        return tool_usage("--trust %s: %s", trust, err.msg);
    if (s == LDG_E_USAGE)
        return tool_usage("--witness: %s", err.msg);
    if (s != LDG_OK)
        return tool_fail(&err);
    bool ok = sum.failures == 0;
    /* [EXP-9] without a log key from outside, nothing in the bundle is authenticated */
    bool unauth = ok && sum.trusted_from_bundle;
    char root[64] = "?";
    if (sum.cp.size)
        tool_b64(sum.cp.root, LDG_HASH_BYTES, root, sizeof root);
    if (json) {
        json_t *o =
            json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:b}", "verdict",
                      !ok      ? "failed"
                      : unauth ? "unauthenticated"
                               : "ok",
                      "origin", tool_json_text(sum.cp.origin), "checkpoint_size",
                      (json_int_t)sum.cp.size, "records", (json_int_t)sum.records, "key_records",
                      (json_int_t)sum.key_records, "failures", (json_int_t)sum.failures, "withheld",
                      (json_int_t)sum.withheld, "unchecked_links", (json_int_t)sum.unchecked,
                      "root", root, "trusted_log_key_from_bundle", sum.trusted_from_bundle,
                      "manifest_signed", sum.manifest_signed);
        if (o && sum.cosigned)
            json_object_set_new(o, "cosigned_by",
                                json_pack("{s:o, s:o, s:o}", "key_id",
                                          tool_json_text(sum.cosigner_id), "name",
                                          tool_json_text(sum.cosigner_name), "org",
                                          tool_json_text(sum.cosigner_org)));
        tool_print_json(o);
    } else {
        if (sum.trusted_from_bundle)
            printf("NOTE: no --trust given: the log key was taken from the bundle itself (log.pub)."
                   " Check it against the key the sponsor or the CRO holds.\n");
        if (sum.manifest_signed) {
            char *who = tool_printable(sum.cosigner_name), *org = tool_printable(sum.cosigner_org);
            const char *by = sum.trusted_from_bundle ? "the bundle's own log.pub (untrusted)"
                                                     : "the trusted log key";
            if (sum.cosigned)
                printf("Manifest signed by %s and cosigned by the exporter %s (%s), key %s.\n", by,
                       who ? who : "?", org ? org : "?", sum.cosigner_id);
            else
                printf("Manifest signed by %s; not cosigned: the exporter named in README.txt is "
                       "not authenticated.\n",
                       by);
            free(who);
            free(org);
        }
        char *origin = tool_printable(sum.cp.origin);
        printf("%s: bundle of %s: %llu records, %llu key records, %llu failures, %llu bodies "
               "withheld; checkpoint of %llu entries, root %s\n",
               !ok      ? "FAILED"
               : unauth ? "UNAUTHENTICATED"
                        : "OK",
               origin ? origin : "?", (unsigned long long)sum.records,
               (unsigned long long)sum.key_records, (unsigned long long)sum.failures,
               (unsigned long long)sum.withheld, (unsigned long long)sum.cp.size, root);
        free(origin);
        if (sum.unchecked)
            printf("NOTE: %llu refs or observed chain heads name entries this bundle does not "
                   "hold: not checked here, nor whether an approval judges its signer's own "
                   "record through them (ldg verify on the ledger checks them).\n",
                   (unsigned long long)sum.unchecked);
    }
    if (unauth)
        fprintf(stderr,
                "ldg verify-bundle: %s checks only against its own log.pub, which proves "
                "nothing: give --trust LOG.pub from the sponsor or the CRO\n",
                path);
    return !ok ? EXIT_INTEGRITY : unauth ? EXIT_USAGE : EXIT_OK;
}
