/*
 * cmd_key.c - `ldg keygen`, `ldg init` and `ldg key add|revoke|list`: key
 * pairs on disk, the genesis entry, and the key registry records signed by
 * an admin (21 CFR 11.50: the printed name and organisation shown beside
 * every signature come from here).
 */
#include "tool.h"

#include "emit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char keygen_help[] =
    "usage: ldg keygen --name NAME --out PREFIX [--passphrase-file F | --unencrypted]\n"
    "Creates an Ed25519 key pair: PREFIX.key (secret, mode 0600, sealed with Argon2id +\n"
    "XChaCha20-Poly1305 unless --unencrypted) and PREFIX.pub (one verifier-key line).\n"
    "NAME: 1..128 printable ASCII characters, no space or '+'.  The passphrase (first line\n"
    "of F, $LDG_PASSPHRASE_FILE, or typed twice) needs at least 12 characters; a passphrase\n"
    "file must be mode 0600 (nothing for group or others), else exit 2.\n";

int
cmd_keygen(int argc, char **argv)
{
    const char *name = NULL, *out = NULL, *passfile = NULL;
    bool unencrypted = false;
    const opt_spec specs[] = {OPT_VAL("--name", &name), OPT_VAL("--out", &out),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_FLAG("--unencrypted", &unencrypted), OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, keygen_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!name || !out)
        return tool_usage("--name and --out are required");
    if (unencrypted && passfile)
        return tool_usage("--unencrypted and --passphrase-file exclude each other");
    ldg_err err;
    ldg_key *k;
    if (ldg_key_generate(name, &k, &err) != LDG_OK)
        return tool_fail(&err);
    char *pass = NULL;
    size_t plen = 0;
    if (!unencrypted)
        rc = tool_new_passphrase(passfile, &pass, &plen);
    if (rc == EXIT_OK) {
        if (ldg_key_save(k, out, pass, plen, &err) != LDG_OK)
            rc = tool_fail(&err);
    }
    if (rc == EXIT_OK) {
        char line[LDG_VKEY_MAX];
        uint8_t pub[LDG_PUB_BYTES];
        ldg_key_public(k, pub);
        if (ldg_vkey_format(name, pub, line, &err) == LDG_OK)
            printf("%s\n", em_t(line));
    }
    tool_free_passphrase(pass);
    ldg_key_free(k);
    return rc;
}

static const char init_help[] =
    "usage: ldg init --origin ORIGIN --log-key LOG.key --admin ADMIN.pub\n"
    "                [--name \"Printed Name\"] [--org ORG] [--ledger DIR] [--passphrase-file F]\n"
    "Creates the ledger and its genesis entry (seq 0), signed by the log key, pinning the\n"
    "origin, the log public key and the first admin key.  --name and --org are the admin's\n"
    "printed name and organisation (default: the key's name, and the origin).\n"
    "The log key's name should be the origin (C2SP tlog-checkpoint: witnesses and mirrors\n"
    "find a log by its origin); when they differ, init still creates the ledger and says so\n"
    "in one warning line on stderr (spec/publish.md [PUB-9]).\n";

int
cmd_init(int argc, char **argv)
{
    const char *origin = NULL, *logkey = NULL, *admin = NULL, *dir = NULL, *passfile = NULL,
               *name = NULL, *org = NULL;
    const opt_spec specs[] = {OPT_VAL("--origin", &origin),
                              OPT_VAL("--log-key", &logkey),
                              OPT_VAL("--admin", &admin),
                              OPT_VAL("--ledger", &dir),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_VAL("--name", &name),
                              OPT_VAL("--org", &org),
                              OPT_END};
    int rc = opt_parse(argc, argv, 1, specs, init_help, NULL, 0);
    if (rc != EXIT_OK)
        return rc < 0 ? EXIT_OK : rc;
    if (!origin || !logkey || !admin)
        return tool_usage("--origin, --log-key and --admin are required");
    ldg_err err;
    char aname[LDG_NAME_MAX + 1];
    uint8_t apub[LDG_PUB_BYTES];
    if (ldg_vkey_read(admin, aname, apub, &err) != LDG_OK)
        return tool_fail(&err);
    ldg_key *k;
    if ((rc = tool_load_key(logkey, passfile, &k)) != EXIT_OK)
        return rc;
    const char *d = tool_ledger_dir(dir);
    if (ldg_ledger_create(d, origin, k, apub, aname, name ? name : aname, org ? org : origin,
                          &err) != LDG_OK)
        rc = tool_fail(&err);
    else
        printf("initialised ledger %s (origin %s); admin %s\n", em_t(d), em_t(origin), em_t(aname));
    /* [PUB-9] a warning, not a refusal: the key hash binds the name, nothing is ambiguous */
    if (rc == EXIT_OK && strcmp(ldg_key_name(k), origin) != 0)
        fprintf(stderr,
                "ldg init: warning: the log key is named %s but the origin is %s; C2SP "
                "tlog-checkpoint recommends they match (witnesses look logs up by origin)\n",
                em_t(ldg_key_name(k)), em_t(origin));
    ldg_key_free(k);
    return rc;
}

/* ------------------------------------------------------------ key ... -- */

static const char key_help[] =
    "usage: ldg key add --as ADMIN.key --pub X.pub --name \"Printed Name\" --org ORG\n"
    "                   --roles ROLE[,ROLE...] [--supersedes SEQ | --reinstates SEQ]\n"
    "                   [--reason TEXT] [--ledger DIR] [--passphrase-file F]\n"
    "       ldg key revoke --as ADMIN.key --pub X.pub --reason TEXT [--ledger DIR]\n"
    "       ldg key list [--json] [--ledger DIR]\n"
    "Roles: admin (key records), author (communication, meeting, query, response,\n"
    "escalation, deviation, action, document, correction), decider (decision, plan,\n"
    "correction), approver (approval, rejection, correction), eraser (erasure: ldg erase),\n"
    "qa (writes nothing: its cosignature of a checkpoint, ldg verify --save-checkpoint --as,\n"
    "is what verify --since and export --verified accept as \"verified by QA\").  A revoked\n"
    "key stays revoked.\n"
    "An admin key holds no other role.  A person (printed name and organisation, compared\n"
    "ignoring case, spacing and invisible characters) holds one active admin key and one\n"
    "other active key: a second one needs --supersedes SEQ (the key.add of the key it\n"
    "supersedes, which stays active until revoked) and --reason; a person whose keys were\n"
    "all revoked comes back only with --reinstates SEQ (the key.revoke it reinstates from)\n"
    "and --reason.\n"
    "No one registers a key for themselves: an admin cannot add a key of their own person\n"
    "(another admin must, so an admin's own author key needs a second admin); key revoke\n"
    "of one's own key is allowed.\n"
    "Refused by policy: exit 3, nothing written.\n";

static void
print_appended(const ldg_appended *a)
{
    char b64[64];
    tool_b64(a->leaf_hash, LDG_HASH_BYTES, b64, sizeof b64);
    printf("%llu %s\n", (unsigned long long)a->seq, b64);
}

/* --supersedes / --reinstates SEQ: the leaf hash of that entry [POL-15]. */
static int
key_ref(ldg_ledger *l, const char *opt, const char *text, uint8_t out[LDG_HASH_BYTES])
{
    ldg_ref r;
    ldg_err err;
    if (ldg_ref_parse(text, strlen(text), &r, NULL) != LDG_OK || !r.is_seq)
        return tool_usage("%s %.80s: expected the sequence number of a key record", opt, text);
    ldg_record *rec = NULL;
    if (ldg_ledger_leaf_hash(l, r.seq, out, &err) != LDG_OK ||
        ldg_record_get(l, r.seq, &rec, &err) != LDG_OK) {
        if (err.status == LDG_E_NOTFOUND)
            return tool_error(EXIT_POLICY, "%s %s: no such record in the ledger", opt, text);
        return tool_error(tool_exit_code(err.status), "%s %s: %s", opt, text, err.msg);
    }
    /* the option says which record it must be; the policy checks whose it is */
    bool sup = strcmp(opt, "--supersedes") == 0;
    bool fits = sup ? strcmp(rec->kind, "key.add") == 0 || strcmp(rec->kind, "genesis") == 0
                    : strcmp(rec->kind, "key.revoke") == 0;
    int rc = EXIT_OK;
    if (!fits)
        rc = tool_error(EXIT_POLICY, "%s %s: entry %s is %s %s record, not %s", opt, text, text,
                        rec->kind[0] && strchr("aeiou", rec->kind[0]) ? "an" : "a", em_t(rec->kind),
                        sup ? "the key.add of the key it supersedes"
                            : "the key.revoke it reinstates from");
    ldg_record_free(rec);
    return rc;
}

/*
 * Signs f with the key at `as` and appends it; observed = the current head.
 * ref_opt/ref_text: a key.add's --supersedes or --reinstates, or NULL.
 */
static int
sign_and_append(const char *dir, const char *as, const char *passfile, ldg_fields *f,
                const char *ref_opt, const char *ref_text)
{
    ldg_ledger *l;
    int rc = tool_open_ledger(dir, 0, &l);
    if (rc != EXIT_OK)
        return rc;
    ldg_key *k = NULL;
    ldg_signed *s = NULL;
    ldg_err err;
    ldg_appended a;
    char origin[LDG_TEXT_MAX + 1];
    uint8_t ref[1][LDG_HASH_BYTES];
    if (ref_text) {
        if ((rc = key_ref(l, ref_opt, ref_text, ref[0])) != EXIT_OK)
            goto out;
        f->refs = (const uint8_t(*)[LDG_HASH_BYTES])ref;
        f->nrefs = 1;
    }
    if ((rc = tool_load_key(as, passfile, &k)) != EXIT_OK ||
        (rc = tool_bind(l, f, true, origin)) != EXIT_OK)
        goto out;
    if (ldg_sign(k, f, &s, &err) != LDG_OK || ldg_append(l, &s, 1, &a, &err) != LDG_OK) {
        rc = tool_fail(&err);
        goto out;
    }
    print_appended(&a);
out:
    ldg_signed_free(s);
    ldg_key_free(k);
    ldg_ledger_close(l);
    return rc;
}

struct keylist {
    bool json;
    int rc;
};

static int
print_key(void *ctx, const ldg_keyinfo *k)
{
    struct keylist *kl = ctx;
    char line[LDG_VKEY_MAX];
    ldg_err err;
    if (ldg_vkey_format(k->id, k->pub, line, &err) != LDG_OK)
        snprintf(line, sizeof line, "(invalid key name)");
    if (kl->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "key", line, "id", k->id,
                              "name", k->name ? k->name : "", "org", k->org ? k->org : "", "roles",
                              k->roles ? k->roles : "", "added_seq", (json_int_t)k->added_seq,
                              "revoked", k->revoked);
        if (o && k->revoked) {
            json_object_set_new(o, "revoked_seq", json_integer((json_int_t)k->revoked_seq));
            json_object_set_new(o, "revoke_reason",
                                json_string(k->revoke_reason ? k->revoke_reason : ""));
        }
        char *s = tool_json_dumps(o);
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("%-20s %-28s %-24s %-24s added #%llu%s", em_t(k->id), em_t(k->name), em_t(k->org),
               em_t(k->roles), (unsigned long long)k->added_seq, k->revoked ? "  REVOKED #" : "");
        if (k->revoked) {
            char *why = tool_printable(k->revoke_reason ? k->revoke_reason : "");
            printf("%llu (%s)", (unsigned long long)k->revoked_seq, why ? why : "?");
            free(why);
        }
        printf("\n         %s\n", em_t(line));
    }
    return 0;
}

int
cmd_key(int argc, char **argv)
{
    if (argc < 2 || opt_flag(argv, 1, "--help")) {
        fputs(key_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    const char *as = NULL, *pub = NULL, *name = NULL, *org = NULL, *roles = NULL, *reason = NULL,
               *dir = NULL, *passfile = NULL, *supersedes = NULL, *reinstates = NULL;
    bool json = false;
    if (strcmp(sub, "add") == 0)
        tool_cmd = "key add";
    else if (strcmp(sub, "revoke") == 0)
        tool_cmd = "key revoke";
    else if (strcmp(sub, "list") == 0)
        tool_cmd = "key list";
    else
        return tool_usage("unknown subcommand \"%s\" (add, revoke, list)", sub);
    const opt_spec specs[] = {OPT_VAL("--as", &as),
                              OPT_VAL("--pub", &pub),
                              OPT_VAL("--name", &name),
                              OPT_VAL("--org", &org),
                              OPT_VAL("--roles", &roles),
                              OPT_VAL("--reason", &reason),
                              OPT_VAL("--ledger", &dir),
                              OPT_VAL("--passphrase-file", &passfile),
                              OPT_FLAG("--json", &json),
                              OPT_VAL("--supersedes", &supersedes),
                              OPT_VAL("--reinstates", &reinstates),
                              OPT_END};
    int prc = opt_parse(argc, argv, 2, specs, key_help, NULL, 0);
    if (prc != EXIT_OK)
        return prc < 0 ? EXIT_OK : prc;
    ldg_err err;
    if (strcmp(sub, "list") == 0) {
        ldg_ledger *l;
        int rc = tool_open_ledger(dir, LDG_OPEN_READONLY, &l);
        if (rc != EXIT_OK)
            return rc;
        struct keylist kl = {json, 0};
        if (ldg_keys_each(l, print_key, &kl, &err) != LDG_OK)
            rc = tool_fail(&err);
        ldg_ledger_close(l);
        return rc;
    }
    if (!as || !pub)
        return tool_usage("--as and --pub are required");
    if ((supersedes || reinstates) && strcmp(sub, "add") != 0)
        return tool_usage("--supersedes and --reinstates are for key add");
    if (supersedes && reinstates)
        return tool_usage("--supersedes and --reinstates exclude each other");
    const char *ref_opt = supersedes ? "--supersedes" : "--reinstates";
    const char *ref_text = supersedes ? supersedes : reinstates;
    if (ref_text && !reason) /* a missing reason is policy [POL-15], as for key revoke */
        return tool_error(EXIT_POLICY, "%s needs --reason: why this person gets another key",
                          ref_opt);
    char kname[LDG_NAME_MAX + 1];
    uint8_t kpub[LDG_PUB_BYTES];
    if (ldg_vkey_read(pub, kname, kpub, &err) != LDG_OK)
        return tool_fail(&err);
    ldg_fields f = {.study = "", .key_pub = kpub};
    if (strcmp(sub, "add") == 0) {
        if (!name || !org || !roles)
            return tool_usage("--name, --org and --roles are required");
        f.kind = "key.add";
        f.key_id = kname;
        f.key_name = name;
        f.key_org = org;
        f.key_roles = roles;
        f.reason = reason;
    } else {
        if (!reason)
            return tool_error(EXIT_POLICY, "--reason is required: a revocation says why");
        f.kind = "key.revoke";
        f.reason = reason;
    }
    return sign_and_append(dir, as, passfile, &f, ref_opt, ref_text);
}
