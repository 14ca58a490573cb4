/*
 * fuzz_notify_silence.c - libFuzzer target for the body of POST /api/v2/silences
 * (notify_api_silence_post in src/notify/api.c: JSON, matchers, RFC 3339 times): any body
 * either creates a silence that the API then lists and can expire, or fails with a message;
 * it never crashes. One notifier (no thread, no state file) serves every input; the silences
 * an input created are expired and garbage-collected after it so the limit is never reached.
 */
#include "notify/notify.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static notify_t *notifier(void)
{
    static notify_t *n;
    if (n == NULL) {
        static const char yml[] = "route:\n  receiver: r\nreceivers:\n  - name: r\n";
        notify_config_t *cfg;
        vigil_error_t err;
        notify_options_t o = { .manual = true };
        if (notify_config_load_buffer(&cfg, "fuzz.yml", yml, sizeof(yml) - 1, 0, &err) != 0 ||
            notify_create(&n, cfg, &o, &err) != 0)
            abort();
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    notify_t *n = notifier();
    char id[40];
    vigil_error_t err;
    err.message[0] = '\0';
    int rc = notify_api_silence_post(n, (const char *)data, size, id, &err);
    if (rc != 0) {
        if (err.message[0] == '\0')
            abort();  /* every refusal says why */
        return 0;
    }
    buf_t b;
    buf_init(&b, 1u << 20);
    if (notify_api_silence_json(n, id, &b) != 0 || notify_api_silences_json(n, &b) != 0)
        abort();
    buf_free(&b);
    /* a silence may end before "now" is re-read: only ENOENT would be wrong */
    if (notify_silence_expire(n, id) == VIGIL_ENOENT)
        abort();
    notify_tick(n, INT64_MAX / 2);  /* garbage-collects expired silences */
    return 0;
}
