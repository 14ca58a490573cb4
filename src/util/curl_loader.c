/*
 * curl_loader.c - libcurl, loaded on first use instead of linked.
 *
 * Why: `vigil run` needs libcurl only to send notifications, and most agents never send
 * one; the CLI needs it for `vigil query`, `vigil health`, `vigil version` and `vigil doctor`.
 * Linking it maps libcurl and its ~20 dependencies (OpenSSL, Kerberos, LDAP, SASL, libssh2,
 * nghttp2, rtmp, brotli, zstd, ...) into every process at start and runs their constructors:
 * about 3.2 MiB of the agent's 11 MiB resident set, with not one notification sent.
 *
 * How: this file defines the curl_* functions vigil calls, with the prototypes of
 * <curl/curl.h>, as forwarders to the real ones, which the first call resolves with dlopen
 * and dlsym. Callers keep using the documented libcurl API unchanged, and the binary has no
 * link-time dependency on libcurl (the headers still come from libcurl4-openssl-dev). A
 * libcurl function vigil starts calling must be added to CURL_FUNCS below, or the link fails
 * with an undefined reference: nothing can fall through to a missing symbol at run time.
 *
 * Agent only (vigil_agent_objs): libvigil must not define curl_* symbols, since a program
 * that links it may link the real libcurl too.
 *
 * The library is process-wide state by nature, as libcurl's own global initialisation is:
 * it is loaded once (pthread_once) and never unloaded: $VIGIL_CURL_LIBRARY when set and not
 * empty (a path or a name for dlopen, as $VIGIL_NVML_LIBRARY is for NVML), else libcurl.so.4.
 * When it cannot be loaded, the reason goes to stderr once, curl_easy_init() and
 * curl_easy_escape() return NULL as they do when out of memory, the other calls fail with
 * CURLE_FAILED_INIT, and curl_easy_strerror() and curl_version_info() say which package to
 * install. curl_loader_version() (curl_loader.h) loads it too but leaves the warning to its
 * caller: `vigil version` and `vigil doctor` say "not installed" in their own output, and
 * the warning on top of it said the same thing a second time.
 *
 * Ownership of what these functions return is libcurl's, as its manual pages document it:
 * a CURL * goes back with curl_easy_cleanup(), curl_easy_escape()'s string with curl_free(),
 * a list with curl_slist_free_all(); the strings of curl_easy_strerror() and the struct of
 * curl_version_info() are static and never freed.
 */

/* curl.h wraps curl_easy_setopt and curl_easy_getinfo in type-checking macros (GCC); this
 * file defines the functions themselves, so the macros must stay out. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "util/curl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The SONAME of libcurl's ABI 4, which both the OpenSSL flavour (Debian package libcurl4) and
 * the headers vigil builds against (libcurl4-openssl-dev) carry. */
#define CURL_LIBRARY "libcurl.so.4"
#define CURL_PACKAGE "libcurl4"
/* What curl_version_info() and curl_loader_version() say instead of a version. */
#define CURL_MISSING "not installed (" CURL_LIBRARY " from package " CURL_PACKAGE ")"

/* Every libcurl function vigil calls. */
#define CURL_FUNCS(X)          \
    X(curl_global_init)        \
    X(curl_global_cleanup)     \
    X(curl_version_info)       \
    X(curl_easy_init)          \
    X(curl_easy_setopt)        \
    X(curl_easy_perform)       \
    X(curl_easy_getinfo)       \
    X(curl_easy_cleanup)       \
    X(curl_easy_strerror)      \
    X(curl_easy_escape)        \
    X(curl_free)               \
    X(curl_slist_append)       \
    X(curl_slist_free_all)

static struct {
    void *dl; /* NULL until loaded, and for good when loading failed */
    char  path[256]; /* what was passed to dlopen: $VIGIL_CURL_LIBRARY or CURL_LIBRARY */
    char  why[512]; /* why loading failed */
#define CURL_POINTER_(name) __typeof__(name) *name;
    CURL_FUNCS(CURL_POINTER_)
#undef CURL_POINTER_
} curl_api;

static pthread_once_t curl_api_once = PTHREAD_ONCE_INIT;
static pthread_once_t curl_warn_once = PTHREAD_ONCE_INIT;

/* Loads the library and resolves CURL_FUNCS, or records why not; prints nothing. */
static void curl_api_load(void)
{
    const char *env = getenv("VIGIL_CURL_LIBRARY");
    snprintf(curl_api.path, sizeof(curl_api.path), "%s",
             env != NULL && env[0] != '\0' ? env : CURL_LIBRARY);
    /* RTLD_NOW: a broken library fails here, once, not in the middle of a notification.
     * RTLD_LOCAL: libcurl's symbols stay out of the global scope, so nothing loaded later
     * binds to them by accident. */
    void *dl = dlopen(curl_api.path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *e = dlerror();
        snprintf(curl_api.why, sizeof(curl_api.why), "%s", e != NULL ? e : "dlopen failed");
        return;
    }
    /* dlsym on the handle searches libcurl itself first, never these forwarders. */
#define CURL_RESOLVE_(name)                                                            \
    {                                                                                  \
        void *p_ = dlsym(dl, #name);                                                   \
        if (p_ == NULL) {                                                              \
            snprintf(curl_api.why, sizeof(curl_api.why), "%s has no %s", curl_api.path, \
                     #name);                                                           \
            goto out_close;                                                            \
        }                                                                              \
        memcpy(&curl_api.name, &p_, sizeof(p_));                                       \
    }
    CURL_FUNCS(CURL_RESOLVE_)
#undef CURL_RESOLVE_
    curl_api.dl = dl;
    return;

out_close:
    dlclose(dl);
}

/* The one warning of a process that cannot load libcurl. */
static void curl_api_warn(void)
{
    fprintf(stderr,
            "vigil: cannot load %s (%s): sending notifications and `vigil query`/`vigil "
            "health` need it; install the %s package\n",
            curl_api.path, curl_api.why, CURL_PACKAGE);
}

/* Loads libcurl on the first call; true when its functions can be called. The first call
 * that finds it missing prints the warning. */
static bool curl_api_loaded(void)
{
    pthread_once(&curl_api_once, curl_api_load);
    if (curl_api.dl == NULL)
        pthread_once(&curl_warn_once, curl_api_warn);
    return curl_api.dl != NULL;
}

const char *curl_loader_version(const char **why)
{
    pthread_once(&curl_api_once, curl_api_load);
    if (why != NULL)
        *why = curl_api.dl != NULL ? NULL : curl_api.why;
    return curl_api.dl != NULL ? curl_api.curl_version_info(CURLVERSION_NOW)->version
                               : CURL_MISSING;
}

CURLcode curl_global_init(long flags)
{
    return curl_api_loaded() ? curl_api.curl_global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
    if (curl_api_loaded())
        curl_api.curl_global_cleanup();
}

curl_version_info_data *curl_version_info(CURLversion age)
{
    if (curl_api_loaded())
        return curl_api.curl_version_info(age);
    /* What `vigil version` and `vigil doctor` print instead of a version; callers only read
     * the struct, as they do libcurl's. */
    static const char *const no_protocols[] = { NULL };
    static curl_version_info_data unavailable = {
        .age = CURLVERSION_NOW,
        .version = CURL_MISSING,
        .host = "",
        .protocols = no_protocols,
    };
    return &unavailable;
}

CURL *curl_easy_init(void)
{
    return curl_api_loaded() ? curl_api.curl_easy_init() : NULL;
}

/* The third argument's type follows from the option's number, as libcurl documents it:
 * CURLOPTTYPE_LONG + n takes a long, OBJECTPOINT (strings, slists, callback data) a data
 * pointer, FUNCTIONPOINT a function pointer, OFF_T a curl_off_t and BLOB a struct curl_blob
 * pointer. Each is read back with its own type and passed on as that type. */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    if (!curl_api_loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        rc = curl_api.curl_easy_setopt(curl, option, va_arg(ap, long));
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        rc = curl_api.curl_easy_setopt(curl, option, va_arg(ap, void *));
    } else if (option < CURLOPTTYPE_OFF_T) {
        typedef void (*any_function_t)(void);
        rc = curl_api.curl_easy_setopt(curl, option, va_arg(ap, any_function_t));
    } else if (option < CURLOPTTYPE_BLOB) {
        rc = curl_api.curl_easy_setopt(curl, option, va_arg(ap, curl_off_t));
    } else {
        rc = curl_api.curl_easy_setopt(curl, option, va_arg(ap, struct curl_blob *));
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
    return curl_api_loaded() ? curl_api.curl_easy_perform(curl) : CURLE_FAILED_INIT;
}

/* Every CURLINFO takes a pointer to where the answer goes, whatever the answer's type. */
CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    if (!curl_api_loaded())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    CURLcode rc = curl_api.curl_easy_getinfo(curl, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

void curl_easy_cleanup(CURL *curl)
{
    /* A handle exists only if the library was loaded. */
    if (curl_api_loaded())
        curl_api.curl_easy_cleanup(curl);
}

const char *curl_easy_strerror(CURLcode code)
{
    if (curl_api_loaded())
        return curl_api.curl_easy_strerror(code);
    return "libcurl is " CURL_MISSING;
}

char *curl_easy_escape(CURL *curl, const char *string, int length)
{
    return curl_api_loaded() ? curl_api.curl_easy_escape(curl, string, length) : NULL;
}

void curl_free(void *p)
{
    /* Only libcurl hands out what curl_free releases, so without it p is NULL. */
    if (curl_api_loaded())
        curl_api.curl_free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *string)
{
    return curl_api_loaded() ? curl_api.curl_slist_append(list, string) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (curl_api_loaded())
        curl_api.curl_slist_free_all(list);
}
