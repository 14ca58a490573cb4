/*
 * fuzz_http_params.c - libFuzzer target for the HTTP layer's query-string / urlencoded-form
 * parser and percent-decoder (src/http/params.c), the first code to read a request's bytes.
 *
 * Build and run (not part of the default build):
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *       fuzz/fuzz_http_params.c src/http/params.c src/util/error.c -o fuzz_http_params
 *   ./fuzz_http_params -max_len=4096
 */
#include "http/http_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;

    /* The parser must accept or refuse any bytes, and what it keeps must be consistent. */
    http_params_t p;
    http_params_init(&p);
    vigil_error_t err;
    int rc = http_params_parse(&p, s, size, &err);
    if (rc != 0 && rc != VIGIL_EPARSE && rc != VIGIL_ELIMIT && rc != VIGIL_ENOMEM)
        abort();
    size_t total = 0;
    for (size_t i = 0; i < p.count; i++) {
        total += strlen(p.items[i].name) + strlen(p.items[i].value);
        size_t pos = 0;
        if (http_params_next(&p, p.items[i].name, &pos) == NULL || pos > i + 1)
            abort(); /* every kept name must be found, at or before its own index */
    }
    if (total > size)
        abort(); /* decoding never grows the input */
    http_params_free(&p);

    /* Path-style decoding of the same bytes: bounded output, NUL-terminated. */
    char *out = malloc(size + 1);
    if (out == NULL)
        return 0;
    size_t n = 0;
    if (http_pct_decode(s, size, false, out, &n, NULL) == 0 && (n > size || out[n] != '\0'))
        abort();
    free(out);
    return 0;
}
