/*
 * fuzz_promql.c - libFuzzer target for the PromQL lexer, parser and printer (src/promql/).
 *
 * Any bytes must be accepted or refused without crashing. Oracle: what parses prints to a form
 * that parses again and prints identically (the printer is a fixed point after one round).
 *
 * Build and run (not part of the default build):
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *       fuzz/fuzz_promql.c src/promql/[a-z]*.c src/util/buf.c src/util/error.c -lm -o fuzz_promql
 *   mkdir -p corpus_promql && ./fuzz_promql -max_len=2048 corpus_promql fuzz/corpus/promql
 */
#include "promql/promql.h"
#include "util/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';   /* the parser reads C strings; embedded NULs end the query early */
    buf_t one, two, pretty;
    buf_init(&one, (size_t)1 << 24);
    buf_init(&two, (size_t)1 << 24);
    buf_init(&pretty, (size_t)1 << 24);
    vigil_error_t err;
    if (promql_format(s, false, &one, &err) == 0 && one.data != NULL) {
        if (promql_format(one.data, false, &two, &err) != 0) {
            fprintf(stderr, "printed form does not parse: %s -> %s: %s\n", s, one.data,
                    err.message);
            abort();
        }
        if (strcmp(one.data, two.data != NULL ? two.data : "") != 0) {
            fprintf(stderr, "printer not idempotent: %s -> %s -> %s\n", s, one.data, two.data);
            abort();
        }
        if (promql_format(s, true, &pretty, &err) != 0)
            abort();   /* the pretty printer parses the same input */
    }
    buf_free(&one);
    buf_free(&two);
    buf_free(&pretty);
    free(s);
    return 0;
}
