/*
 * fuzz_config.c - libFuzzer target for the configuration loader (src/config/load.c): the
 * input is a YAML file. Every input must either load (then it must dump to YAML that loads
 * back to an equal config) or fail with a "name:line:col: " message; never crash or leak.
 */
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config_t cfg;
    vigil_error_t err;
    config_init(&cfg);
    int rc = config_load_buffer(&cfg, "fuzz.yml", (const char *)data, size, &err);
    if (rc != 0) {
        if (strncmp(err.message, "fuzz.yml:", 9) != 0)
            abort();  /* every load error names the file */
        config_free(&cfg);
        return 0;
    }
    (void)config_validate(&cfg, &err);

    /* Whatever loads must survive the dump round trip unchanged. */
    buf_t out;
    buf_init(&out, 1u << 20);
    if (config_dump_yaml(&cfg, &out) == 0) {
        config_t back;
        config_init(&back);
        if (config_load_buffer(&back, "dump.yml", out.data, out.len, &err) != 0 ||
            !config_equal(&cfg, &back)) {
            fprintf(stderr, "round trip failed: %s\n%s\n", err.message, out.data);
            abort();
        }
        config_free(&back);
    }
    buf_free(&out);
    config_free(&cfg);
    return 0;
}
