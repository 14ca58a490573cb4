/*
 * fuzz_expfmt.c - libFuzzer target for the exposition parser (src/expfmt/).
 *
 * Every input is parsed four times: text and OpenMetrics, lenient and strict. Beyond "no
 * crash, no leak, no sanitizer report" it checks what must hold for any input:
 *  - every entry's strings lie inside the input or the parser's scratch buffer;
 *  - the parser ends with END or an error whose message starts with "line:col: ";
 *  - strict never accepts what lenient rejects for the same format: both modes share one
 *    syntax and strict only adds checks;
 *  - the sample count never exceeds the number of lines.
 */
#include "expfmt/expfmt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const expfmt_parser_t *p, expfmt_str_t s)
{
    if (s.len == 0)
        return;
    const char *in = p->data, *sc = p->scratch.data;
    bool in_input = s.ptr >= in && s.ptr + s.len <= in + p->len;
    bool in_scratch = sc != NULL && s.ptr >= sc && s.ptr + s.len <= sc + p->scratch.len;
    if (!in_input && !in_scratch)
        abort();
}

static int run(const char *data, size_t size, expfmt_format_t f, expfmt_mode_t m)
{
    expfmt_parser_t p;
    expfmt_entry_t e;
    vigil_error_t err;
    if (expfmt_parser_init(&p, data, size, f, m) != 0)
        abort();
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    int rc;
    while ((rc = expfmt_next(&p, &e, &err)) == 0 && e.kind != EXPFMT_ENTRY_END) {
        check_str(&p, e.name);
        check_str(&p, e.family);
        check_str(&p, e.text);
        for (size_t i = 0; i < e.nlabels; i++) {
            check_str(&p, e.labels[i].name);
            check_str(&p, e.labels[i].value);
        }
        for (size_t i = 0; i < e.exemplar_nlabels; i++) {
            check_str(&p, e.exemplar_labels[i].name);
            check_str(&p, e.exemplar_labels[i].value);
        }
    }
    if (rc != 0) {
        unsigned long line, col;
        if (sscanf(err.message, "%lu:%lu: ", &line, &col) != 2 || line == 0 || col == 0)
            abort();
    }
    if (expfmt_samples_read(&p) > lines)
        abort();
    expfmt_parser_destroy(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    for (int f = 0; f < 2; f++) {
        int lenient = run(in, size, (expfmt_format_t)f, EXPFMT_LENIENT);
        int strict = run(in, size, (expfmt_format_t)f, EXPFMT_STRICT);
        /* Strict mode only adds checks to the same syntax. */
        if (strict == 0 && lenient != 0)
            abort();
    }
    return 0;
}
