/*
 * netlib.c - dlopen of libcurl and libmicrohttpd on first use (netlib.h).
 */
#include "netlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

netlib_curl net_curl;
netlib_mhd net_mhd;

typedef struct sym {
    const char *name;
    size_t at; /* offset of its pointer in the table */
} sym;

#define CURL_SYM(f)                                                                                \
    {                                                                                              \
        "curl_" #f, offsetof(netlib_curl, f)                                                       \
    }
static const sym curl_syms[] = {
    CURL_SYM(global_init),    CURL_SYM(global_cleanup), CURL_SYM(easy_init),
    CURL_SYM(easy_cleanup),   CURL_SYM(easy_setopt),    CURL_SYM(easy_perform),
    CURL_SYM(easy_getinfo),   CURL_SYM(easy_strerror),  CURL_SYM(slist_append),
    CURL_SYM(slist_free_all),
};

#define MHD_SYM(f)                                                                                 \
    {                                                                                              \
        "MHD_" #f, offsetof(netlib_mhd, f)                                                         \
    }
static const sym mhd_syms[] = {
    MHD_SYM(start_daemon),        MHD_SYM(stop_daemon),
    MHD_SYM(get_daemon_info),     MHD_SYM(create_response_from_buffer),
    MHD_SYM(add_response_header), MHD_SYM(queue_response),
    MHD_SYM(destroy_response),    MHD_SYM(lookup_connection_value),
};

typedef struct lib {
    const char *file;
    const sym *syms;
    size_t nsyms;
    void *table;
    pthread_once_t once;
    bool ok;
    char why[300];
} lib;

static lib curl_lib = {NETLIB_CURL, curl_syms,         sizeof curl_syms / sizeof curl_syms[0],
                       &net_curl,   PTHREAD_ONCE_INIT, false,
                       ""};
static lib mhd_lib = {NETLIB_MHD, mhd_syms,          sizeof mhd_syms / sizeof mhd_syms[0],
                      &net_mhd,   PTHREAD_ONCE_INIT, false,
                      ""};

static void
load(lib *l)
{
    /* Never closed: the functions stay valid until the process ends. */
    void *h = dlopen(l->file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(l->why, sizeof l->why, "cannot load %s: %s", l->file, e ? e : "?");
        return;
    }
    for (size_t i = 0; i < l->nsyms; i++) {
        void *f = dlsym(h, l->syms[i].name);
        if (!f) {
            snprintf(l->why, sizeof l->why, "%s has no %s", l->file, l->syms[i].name);
            return;
        }
        /* POSIX: a function's address as dlsym returns it, copied into its typed pointer. */
        memcpy((char *)l->table + l->syms[i].at, &f, sizeof f);
    }
    l->ok = true;
}

static void
load_curl(void)
{
    load(&curl_lib);
}

static void
load_mhd(void)
{
    load(&mhd_lib);
}

static int
loaded(lib *l, void (*once)(void), char *why, size_t n)
{
    pthread_once(&l->once, once);
    if (l->ok)
        return 0;
    if (n)
        snprintf(why, n, "%s", l->why);
    return -1;
}

int
netlib_curl_load(char *why, size_t n)
{
    return loaded(&curl_lib, load_curl, why, n);
}

int
netlib_mhd_load(char *why, size_t n)
{
    return loaded(&mhd_lib, load_mhd, why, n);
}
