/*
 * ldg.c - the `ldg` program's dispatcher and shared helpers: exit codes,
 * one-line errors ("ldg CMD: what: why"), option parsing, the ledger
 * location (--ledger, $LDG_LEDGER, ./ledger) and file reading.
 */
#include "tool.h"

#include "emit.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tool_cmd = "";

static const char usage_text[] =
    "usage: ldg COMMAND [options]      (ldg COMMAND --help for details)\n"
    "\n"
    "  keygen --name NAME --out PREFIX [--passphrase-file F | --unencrypted]\n"
    "  init --origin ORIGIN --log-key LOG.key --admin ADMIN.pub [--name N --org O]\n"
    "  key add --as ADMIN.key --pub X.pub --name \"Printed Name\" --org ORG --roles R[,R...]\n"
    "          [--supersedes SEQ | --reinstates SEQ] [--reason TEXT]\n"
    "  key revoke --as ADMIN.key --pub X.pub --reason TEXT\n"
    "  key list [--json]\n"
    "  append --as KEY --kind KIND --study STUDY [--ref SEQ]... [--meaning M] [--reason R]\n"
    "         [--body FILE|-] [--time ISO8601]\n"
    "  append --as KEY --batch FILE|-      JSON Lines, one record a line, one transaction\n"
    "  append --signed FILE|-              statements signed elsewhere by `ldg sign`\n"
    "  sign --as KEY --kind KIND --study STUDY [...] [--observed-from LEDGER] > STMT\n"
    "  erase SEQ --as KEY --reason TEXT --legal-basis TEXT   signed erasure of a body\n"
    "  reindex [--ledger DIR]              rebuilds the derived indexes and tree from the entries\n"
    "  show SEQ [--json]\n"
    "  log [--study S] [--kind K] [--actor NAME] [--since T] [--until T] [--json]\n"
    "  verify [--jobs N] [--json] [--checkpoint FILE]... [--witness W.pub]... [--quorum N]\n"
    "  checkpoint --as LOG.key              signs the tree head (C2SP tlog-checkpoint)\n"
    "  checkpoint --add COSIGNED.txt        stores witnesses' cosignatures with it\n"
    "  proof inclusion SEQ [--size N]       RFC 9162 proofs, JSON\n"
    "  proof consistency OLD_SIZE [NEW_SIZE]\n"
    "  verify-proof PROOF --trust LOG.pub [--leaf FILE] [--checkpoint FILE]   offline\n"
    "         [--witness W.pub]... [--quorum N]\n"
    "  export --format jsonl|csv|html|bundle [-o OUT] [filters] [--withhold-bodies]\n"
    "         [--verified QA.txt] [--as LOG.key]\n"
    "  verify-bundle BUNDLE [--trust LOG.pub] [--witness W.pub]... [--quorum N]   offline\n"
    "  review [--study S] [--as-of T] [--json] [-o review.html] [--fail-on LEVEL]\n"
    "         [--since QA.txt [--qa QA.pub]]    the readiness report (exit 1 at --fail-on)\n"
    "  publish DIR [--as LOG.key] [--with-bodies]   C2SP tlog-tiles static files, incremental\n"
    "  witness init|add-log|list|evidence|add-checkpoint|serve --state DIR ...\n"
    "                                       C2SP tlog-witness over its own state\n"
    "  mirror --from URL|DIR --trust LOG.pub --state DIR [--witness W.pub]... [--quorum N]\n"
    "\n"
    "The ledger directory is --ledger DIR, else $LDG_LEDGER, else ./ledger.\n"
    "Passphrases come from --passphrase-file F, $LDG_PASSPHRASE_FILE, or the terminal.\n"
    "Exit status: 0 ok, 1 integrity failure, 2 usage or bad input, 3 refused by policy,\n"
    "4 operational error.\n";

int
tool_exit_code(ldg_status s)
{
    switch (s) {
    case LDG_OK: return EXIT_OK;
    case LDG_E_POLICY: return EXIT_POLICY;
    case LDG_E_IO:
    case LDG_E_NOMEM:
    case LDG_E_FULL:
    case LDG_E_CORRUPT: return EXIT_OPER;
    default: return EXIT_USAGE;
    }
}

_Thread_local char *tool_capture; /* see tool.h */

void
tool_utc_offset(int32_t tz_min, char out[8])
{
    int a = tz_min < 0 ? -tz_min : tz_min;
    snprintf(out, 8, "%c%02d:%02d", tz_min < 0 ? '-' : '+', a / 60 % 100, a % 60);
}

char *
tool_printable(const char *s)
{
    return em_escape_dup(s, ESC_TEXT);
}

char *
tool_json_dumps(const json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char *safe = s ? em_escape_dup(s, ESC_JSON_FIX) : NULL;
    free(s);
    return safe;
}

json_t *
tool_json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not UTF-8 (jansson refuses it): each bad byte as U+FFFD, never a lost field. */
    char *t = em_escape_dup(s, ESC_JSON);
    char *q = t ? malloc(strlen(t) + 3) : NULL;
    if (q) {
        snprintf(q, strlen(t) + 3, "\"%s\"", t);
        j = json_loads(q, JSON_DECODE_ANY, NULL);
    }
    free(q);
    free(t);
    return j ? j : json_string("?");
}

static void
vsay(const char *fmt, va_list ap)
{
    /* One line, whatever the message quotes from the input. */
    char msg[TOOL_CAPTURE_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char *safe = tool_printable(msg);
    if (tool_capture) {
        snprintf(tool_capture, TOOL_CAPTURE_MAX, "%s", safe ? safe : "(out of memory)");
    } else {
        fprintf(stderr, "ldg%s%s: %s\n", *tool_cmd ? " " : "", tool_cmd,
                safe ? safe : "(out of memory)");
    }
    free(safe);
}

int
tool_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return code;
}

int
tool_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

int
tool_fail(const ldg_err *err)
{
    return tool_error(tool_exit_code(err->status), "%s",
                      err->msg[0] ? err->msg : ldg_strerror(err->status));
}

bool
opt_flag(char **argv, int i, const char *name)
{
    return strcmp(argv[i], name) == 0;
}

bool
opt_val(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return false;
    if (a[n] == '=') {
        *val = a + n + 1;
        return true;
    }
    if (a[n] != '\0')
        return false;
    if (*i + 1 >= argc) {
        *val = NULL; /* caller reports the missing value */
        return true;
    }
    *val = argv[++*i];
    return true;
}

int
opt_parse(int argc, char **argv, int first, const opt_spec *specs, const char *help,
          const char **pos, size_t npos)
{
    size_t npos_seen = 0;
    for (int i = first; i < argc; i++) {
        if (opt_flag(argv, i, "--help") || opt_flag(argv, i, "-h")) {
            fputs(help, stdout);
            return -1;
        }
        const opt_spec *o = specs;
        const char *v = NULL;
        for (; o->name; o++) {
            if (o->flag && opt_flag(argv, i, o->name)) {
                *o->flag = true;
                break;
            }
            if ((o->val || o->many) && opt_val(argc, argv, &i, o->name, &v)) {
                if (!v)
                    return tool_usage("%s needs a value", o->name);
                if (o->val) {
                    *o->val = v;
                } else if (*o->count == o->max) {
                    return tool_usage("more than %zu %s options", o->max, o->name);
                } else {
                    o->many[(*o->count)++] = v;
                }
                break;
            }
        }
        if (o->name)
            continue;
        if (argv[i][0] != '-' && npos_seen < npos) {
            pos[npos_seen++] = argv[i];
            continue;
        }
        return tool_usage("%s %s (see ldg %s --help)",
                          argv[i][0] == '-' ? "unknown option" : "unexpected argument", argv[i],
                          tool_cmd);
    }
    return EXIT_OK;
}

int
opt_jobs(const char *v, unsigned *jobs)
{
    uint64_t j;
    if (!v)
        return EXIT_OK;
    if (!parse_u64(v, &j) || j == 0 || j > 256)
        return tool_usage("--jobs takes a number from 1 to 256");
    *jobs = (unsigned)j;
    return EXIT_OK;
}

const char *
tool_ledger_dir(const char *opt)
{
    if (opt)
        return opt;
    const char *e = getenv("LDG_LEDGER");
    return e && *e ? e : "ledger";
}

int
tool_open_ledger(const char *opt_dir, unsigned flags, ldg_ledger **out)
{
    ldg_err err;
    if (ldg_ledger_open(tool_ledger_dir(opt_dir), flags, out, &err) != LDG_OK)
        return tool_fail(&err);
    return EXIT_OK;
}

int
tool_bind(ldg_ledger *l, ldg_fields *f, bool observe, char origin[LDG_TEXT_MAX + 1])
{
    ldg_err err;
    if (ldg_ledger_origin(l, origin, &err) != LDG_OK)
        return tool_fail(&err);
    f->origin = origin;
    if (observe) {
        f->has_observed = 1;
        if (ldg_ledger_head(l, &f->observed_size, f->observed_head, &err) != LDG_OK)
            return tool_fail(&err);
    }
    return EXIT_OK;
}

int
tool_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return tool_error(errno == ENOENT || errno == EACCES ? EXIT_USAGE : EXIT_OPER, "%s: %s",
                          path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (f != stdin)
            fclose(f);
        return tool_usage("%s: is a directory, not a file", path);
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        if (f != stdin)
            fclose(f);
        return tool_error(EXIT_OPER, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                if (f != stdin)
                    fclose(f);
                return tool_usage("%s: larger than the limit of %zu bytes", path, max);
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                if (f != stdin)
                    fclose(f);
                return tool_error(EXIT_OPER, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        return tool_error(EXIT_OPER, "%s: read error", path);
    }
    if (n > max) {
        free(buf);
        return tool_usage("%s: %zu bytes, over the limit of %zu", path, n, max);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EXIT_OK;
}

bool
parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || strlen(s) > 19)
        return false;
    uint64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *v = x;
    return true;
}

void
tool_b64(const uint8_t *p, size_t n, char *out, size_t cap)
{
    sodium_bin2base64(out, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
}

json_t *
tool_b64_json(const uint8_t *p, size_t n)
{
    size_t cap = n / 3 * 4 + 8;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    tool_b64(p, n, s, cap);
    json_t *j = json_string(s);
    free(s);
    return j;
}

int
tool_print_json(json_t *o)
{
    char *s = tool_json_dumps(o);
    json_decref(o);
    if (!s)
        return tool_error(EXIT_OPER, "out of memory");
    puts(s);
    free(s);
    return EXIT_OK;
}

int
tool_resolve_ref(ldg_ledger *l, const ldg_ref *r, const char *s, const char *where,
                 uint8_t out[LDG_HASH_BYTES])
{
    ldg_err err;
    const char *w = where ? where : "", *sep = where ? ": " : "", *opt = where ? "ref" : "--ref";
    if (!r->is_seq) {
        memcpy(out, r->hash, LDG_HASH_BYTES);
        return EXIT_OK;
    }
    if (!l)
        return tool_usage("%s%s%s %s: a sequence number needs a ledger to resolve it "
                          "(--ledger, $LDG_LEDGER or --observed-from), or give the leaf hash",
                          w, sep, opt, s);
    if (ldg_ledger_leaf_hash(l, r->seq, out, &err) != LDG_OK) {
        if (err.status == LDG_E_NOTFOUND)
            return tool_error(EXIT_POLICY, "%s%s%s %s: no such record in the ledger", w, sep, opt,
                              s);
        return tool_error(tool_exit_code(err.status), "%s%s%s %s: %s", w, sep, opt, s, err.msg);
    }
    return EXIT_OK;
}

int
tool_parse_ref(ldg_ledger *l, const char *s, const char *where, uint8_t out[LDG_HASH_BYTES])
{
    ldg_ref r;
    if (ldg_ref_parse(s, strlen(s), &r, NULL) != LDG_OK)
        return tool_usage("%s%s%s %.80s: expected a sequence number or a leaf hash (64 hex or 44 "
                          "base64)",
                          where ? where : "", where ? ": " : "", where ? "ref" : "--ref", s);
    return tool_resolve_ref(l, &r, s, where, out);
}

int
main(int argc, char **argv)
{
    ldg_err err;
    if (ldg_init(&err) != LDG_OK)
        return tool_fail(&err);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("ldg %s\n", ldg_version());
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"keygen", cmd_keygen},
                {"init", cmd_init},
                {"key", cmd_key},
                {"append", cmd_append},
                {"sign", cmd_sign},
                {"show", cmd_show},
                {"log", cmd_log},
                {"checkpoint", cmd_checkpoint},
                {"proof", cmd_proof},
                {"verify-proof", cmd_verify_proof},
                {"verify", cmd_verify},
                {"export", cmd_export},
                {"verify-bundle", cmd_verify_bundle},
                {"erase", cmd_erase},
                {"reindex", cmd_reindex},
                {"review", cmd_review},
                {"publish", cmd_publish},
                {"witness", cmd_witness},
                {"mirror", cmd_mirror}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) == 0) {
            tool_cmd = cmds[i].name;
            int rc = cmds[i].fn(argc - 1, argv + 1);
            if (fflush(stdout) != 0 && rc == EXIT_OK)
                return tool_error(EXIT_OPER, "writing output: %s", strerror(errno));
            return rc;
        }
    }
    fprintf(stderr, "ldg: unknown command \"%s\"\n%s", em_t(argv[1]), usage_text);
    return EXIT_USAGE;
}
