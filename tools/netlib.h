/*
 * netlib.h - the HTTP libraries, loaded only by the commands that speak HTTP:
 * libcurl for `ldg mirror --from URL` and `ldg checkpoint --witness W=URL`,
 * libmicrohttpd for `ldg witness serve`.  Linking them would load some forty
 * shared libraries (TLS, Kerberos, LDAP, ...) at the start of every `ldg`
 * process, several milliseconds that a single `ldg append` cannot spare; they
 * are opened with dlopen the first time a command needs them instead.  The
 * pointers take their types from the libraries' own headers.
 */
#ifndef LDG_NETLIB_H
#define LDG_NETLIB_H

#include <curl/curl.h>
#include <microhttpd.h>
#include <stddef.h>

#define NETLIB_CURL "libcurl.so.4"
#define NETLIB_MHD "libmicrohttpd.so.12"

typedef struct netlib_curl {
    __typeof__(&curl_global_init) global_init;
    __typeof__(&curl_global_cleanup) global_cleanup;
    __typeof__(&curl_easy_init) easy_init;
    __typeof__(&curl_easy_cleanup) easy_cleanup;
    __typeof__(&curl_easy_setopt) easy_setopt;
    __typeof__(&curl_easy_perform) easy_perform;
    __typeof__(&curl_easy_getinfo) easy_getinfo;
    __typeof__(&curl_easy_strerror) easy_strerror;
    __typeof__(&curl_slist_append) slist_append;
    __typeof__(&curl_slist_free_all) slist_free_all;
} netlib_curl;

typedef struct netlib_mhd {
    __typeof__(&MHD_start_daemon) start_daemon;
    __typeof__(&MHD_stop_daemon) stop_daemon;
    __typeof__(&MHD_get_daemon_info) get_daemon_info;
    __typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
    __typeof__(&MHD_add_response_header) add_response_header;
    __typeof__(&MHD_queue_response) queue_response;
    __typeof__(&MHD_destroy_response) destroy_response;
    __typeof__(&MHD_lookup_connection_value) lookup_connection_value;
} netlib_mhd;

/* Filled by the loaders; use only after one returned 0. */
extern netlib_curl net_curl;
extern netlib_mhd net_mhd;

/*
 * Opens the library (once per process) and takes every function above;
 * 0, or -1 with why (the library's name and dlerror's words) in why[0..n).
 * Thread-safe.
 */
int netlib_curl_load(char *why, size_t n);
int netlib_mhd_load(char *why, size_t n);

#endif
