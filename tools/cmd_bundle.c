/*
 * cmd_bundle.c - `ldg verify-bundle`: checks an evidence bundle offline,
 * without the ledger (spec/export.md [EXP-8]).  The file is mapped, not
 * read into memory, and refused unread beyond LDG_BUNDLE_MAX [EXP-9].
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help[] =
    "usage: ldg verify-bundle BUNDLE [--trust LOG.pub] [--json]\n"
    "Checks a bundle made by `ldg export --format bundle`, offline: the manifest, the\n"
    "checkpoint's signature, each entry's inclusion proof, signatures under the key records,\n"
    "chain links and bodies.  --trust gives the ledger's log key as held by the sponsor or\n"
    "CRO; without it the bundle's own log.pub is trusted, and the output says so.\n"
    "Exit: 0 everything checks, 1 integrity failure, 2 bad input, 4 operational error.\n";

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
        json_t *o = json_pack("{s:s, s:o, s:s, s:s}", "finding", level, "seq",
                              seq == UINT64_MAX ? json_null() : json_integer((json_int_t)seq),
                              "check", check, "detail", safe ? safe : "?");
        tool_print_json(o);
    } else if (seq == UINT64_MAX) {
        printf("%-8s bundle  %s: %s\n", level, check, safe ? safe : "?");
    } else {
        printf("%-8s #%-6llu %s: %s\n", level, (unsigned long long)seq, check, safe ? safe : "?");
    }
    free(safe);
}

int
cmd_verify_bundle(int argc, char **argv)
{
    const char *trust = NULL, *path = NULL;
    bool json = false;
    const opt_spec specs[] = {OPT_VAL("--trust", &trust), OPT_FLAG("--json", &json), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, help, &path, 1);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!path)
        return tool_usage("expected the bundle: ldg verify-bundle BUNDLE [--trust LOG.pub]");
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
    ldg_status s =
        ldg_bundle_verify(map ? map : "", (size_t)st.st_size, line, on_finding, &c, &sum, &err);
    if (map)
        munmap(map, (size_t)st.st_size);
    free(line);
    if (s == LDG_E_INPUT)
        return tool_usage("--trust %s: %s", trust, err.msg);
    if (s != LDG_OK)
        return tool_fail(&err);
    bool ok = sum.failures == 0;
    char root[64] = "?";
    if (sum.cp.size)
        tool_b64(sum.cp.root, LDG_HASH_BYTES, root, sizeof root);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:b}", "verdict",
                              ok ? "ok" : "failed", "origin", sum.cp.origin, "checkpoint_size",
                              (json_int_t)sum.cp.size, "records", (json_int_t)sum.records,
                              "key_records", (json_int_t)sum.key_records, "failures",
                              (json_int_t)sum.failures, "withheld", (json_int_t)sum.withheld,
                              "root", root, "trusted_log_key_from_bundle", sum.trusted_from_bundle);
        tool_print_json(o);
    } else {
        if (sum.trusted_from_bundle)
            printf("NOTE: no --trust given: the log key was taken from the bundle itself (log.pub)."
                   " Check it against the key the sponsor or the CRO holds.\n");
        char *origin = tool_printable(sum.cp.origin);
        printf("%s: bundle of %s: %llu records, %llu key records, %llu failures, %llu bodies "
               "withheld; checkpoint of %llu entries, root %s\n",
               ok ? "OK" : "FAILED", origin ? origin : "?", (unsigned long long)sum.records,
               (unsigned long long)sum.key_records, (unsigned long long)sum.failures,
               (unsigned long long)sum.withheld, (unsigned long long)sum.cp.size, root);
        free(origin);
    }
    return ok ? EXIT_OK : EXIT_INTEGRITY;
}
