/*
 * bench_expfmt.c - the exposition parser's throughput against the floor of any line parser:
 * memchr finding every newline of the same bytes (issue 6). Prints one JSON line (format:
 * bench/README.md) when $BENCH is unset or a prefix of "expfmt.parse".
 *
 * Input: the largest text-format sample of the peers' data (Prometheus's
 * alltypes.237mfs.prom.txt, 190 KB of real Go-client output with all metric types) repeated
 * to at least 10 MB, parsed in lenient text mode - the scrape and import path. The peers'
 * directory is found next to the repository ($VIGIL_PEERS overrides it). Each figure is the
 * best of REPS runs.
 */
#include "bench_common.h"
#include "expfmt/expfmt.h"
#include "util/buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 5
#define MIN_BYTES ((size_t)10 << 20)
#define SAMPLE "openmetrics/samples/prometheus-textparse/alltypes.237mfs.prom.txt"

/* Reads the sample into b; tries $VIGIL_PEERS, then ../shared/peers beside this source file's
 * repository, then relative to the working directory (make bench runs from the root). */
static bool load_sample(buf_t *b)
{
    const char *env = getenv("VIGIL_PEERS");
    const char *src = __FILE__; /* .../bench/bench_expfmt.c when built by CMake */
    const char *cut = strstr(src, "/bench/bench_expfmt.c");
    char candidates[3][4096];
    int n = 0;
    if (env != NULL)
        snprintf(candidates[n++], sizeof(candidates[0]), "%s/" SAMPLE, env);
    if (cut != NULL)
        snprintf(candidates[n++], sizeof(candidates[0]), "%.*s/../shared/peers/" SAMPLE,
                 (int)(cut - src), src);
    snprintf(candidates[n++], sizeof(candidates[0]), "../shared/peers/" SAMPLE);
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(candidates[i], "rb");
        if (f == NULL)
            continue;
        char chunk[65536];
        size_t got;
        while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
            if (buf_append(b, chunk, got) != 0)
                break;
        fclose(f);
        return b->len > 0;
    }
    return false;
}

int main(void)
{
    if (!bench_wanted("expfmt.parse"))
        return 0;
    buf_t one, all;
    buf_init(&one, (size_t)1 << 26);
    buf_init(&all, (size_t)1 << 30);
    if (!load_sample(&one)) {
        fprintf(stderr, "bench_expfmt: cannot find ../shared/peers/%s (set VIGIL_PEERS)\n",
                SAMPLE);
        return 1;
    }
    if (one.data[one.len - 1] != '\n' && buf_putc(&one, '\n') != 0)
        return 1;
    while (all.len < MIN_BYTES)
        if (buf_append(&all, one.data, one.len) != 0)
            return 1;

    /* Ours: every entry pulled out, values summed so no work can be skipped. */
    double best = 1e9, sum = 0;
    size_t samples = 0;
    for (int r = 0; r < REPS; r++) {
        expfmt_parser_t p;
        expfmt_entry_t e;
        vigil_error_t err;
        double t0 = bench_now_s();
        if (expfmt_parser_init(&p, all.data, all.len, EXPFMT_TEXT, EXPFMT_LENIENT) != 0)
            return 1;
        int rc;
        while ((rc = expfmt_next(&p, &e, &err)) == 0 && e.kind != EXPFMT_ENTRY_END)
            if (e.kind == EXPFMT_ENTRY_SAMPLE)
                sum += (e.value == e.value ? 1.0 : 0.0) + (double)e.nlabels;
        samples = expfmt_samples_read(&p);
        expfmt_parser_destroy(&p);
        double t = bench_now_s() - t0;
        if (rc != 0) {
            fprintf(stderr, "bench_expfmt: %s\n", err.message);
            return 1;
        }
        if (t < best)
            best = t;
    }

    /* The floor: find every newline with memchr. */
    double floor_best = 1e9;
    size_t lines = 0;
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_s();
        size_t n = 0;
        const char *s = all.data, *end = all.data + all.len;
        while ((s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
            n++;
            s++;
        }
        double t = bench_now_s() - t0;
        lines = n;
        if (t < floor_best)
            floor_best = t;
    }

    double mb = (double)all.len / 1e6, ours = mb / best, base = mb / floor_best;
    bench_report("expfmt.parse", ours, "MB/s", "memchr_newlines", base);
    fprintf(stderr, "bench_expfmt: %.1f MB, %zu lines, %zu samples, %.1f M samples/s "
            "(checksum %g)\n", mb, lines, samples, (double)samples / best / 1e6, sum);
    buf_free(&one);
    buf_free(&all);
    return 0;
}
