/*
 * curl_loader.h - what curl_loader.c offers besides libcurl's own API: libcurl is loaded on
 * first use (dlopen of $VIGIL_CURL_LIBRARY, else libcurl.so.4), and a program that cannot load
 * it gets one warning on stderr from the first curl_* call. Agent only (vigil_agent_objs).
 */
#ifndef VIGIL_UTIL_CURL_LOADER_H
#define VIGIL_UTIL_CURL_LOADER_H

/*
 * Loads libcurl as the first curl_* call does, but without that call's warning on stderr, for
 * callers that report a missing libcurl in their own output (`vigil version`, `vigil doctor`).
 * Returns libcurl's version ("7.88.1"), or "not installed (libcurl.so.4 from package
 * libcurl4)" when it cannot be loaded; then *why (when why is not NULL) is the reason
 * (dlerror's text), else NULL. Both strings are static: never freed, valid for the process.
 * A later curl_* call still prints the warning once.
 */
const char *curl_loader_version(const char **why);

#endif /* VIGIL_UTIL_CURL_LOADER_H */
