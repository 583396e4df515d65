/*
 * error.c - status texts and the one-line error detail every call can fill.
 */
#include "internal.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>

const char *
ldg_strerror(ldg_status s)
{
    switch (s) {
    case LDG_OK: return "success";
    case LDG_E_USAGE: return "invalid argument";
    case LDG_E_INPUT: return "malformed input";
    case LDG_E_POLICY: return "refused by policy";
    case LDG_E_BADSIG: return "bad signature";
    case LDG_E_PASSPHRASE: return "wrong passphrase or damaged key file";
    case LDG_E_KEYPERM: return "secret key file is accessible to others";
    case LDG_E_EXISTS: return "already exists";
    case LDG_E_NOTFOUND: return "not found";
    case LDG_E_CORRUPT: return "stored data is corrupt";
    case LDG_E_IO: return "I/O error";
    case LDG_E_NOMEM: return "out of memory";
    case LDG_E_FULL: return "no space left";
    }
    return "unknown status";
}

const char *
ldg_version(void)
{
    return "0.1.0";
}

static ldg_status
vfail(ldg_err *err, long index, ldg_status s, const char *fmt, va_list ap)
{
    if (err) {
        err->status = s;
        err->index = index;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return s;
}

ldg_status
ldgi_fail(ldg_err *err, ldg_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, -1, s, fmt, ap);
    va_end(ap);
    return s;
}

ldg_status
ldgi_fail_at(ldg_err *err, long index, ldg_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, index, s, fmt, ap);
    va_end(ap);
    return s;
}

ldg_status
ldg_init(ldg_err *err)
{
    if (sodium_init() < 0)
        return ldgi_fail(err, LDG_E_IO, "libsodium failed to initialise");
    /*
     * jansson's hash tables take a random seed at its first object; left to
     * itself it opens /dev/urandom for it.  libsodium's generator gives it
     * without a file.  A seed set before (a program of its own that uses
     * jansson) stays: the first one wins.
     */
    json_object_seed((size_t)randombytes_random() | 1);
    return LDG_OK;
}
