/*
 * fuzz_http_wire.c - libFuzzer target for the HTTP/1.1 request syntax (src/http/wire.c): the
 * head delimiter and parser, and the chunked body decoder, which see a client's bytes before
 * anything else does.
 *
 * Oracles: the head parser accepts or refuses any bytes with one of its statuses, and what it
 * accepts points inside the buffer and is well formed; where a head ends never depends on how
 * much has arrived; the chunked decoder gives the same outcome, data and consumed count
 * whether the body comes in one read, in two split at a point the data chooses, or (for short
 * inputs) one byte at a time.
 *
 * Build and run (not part of the default build):
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -Iinclude -Isrc fuzz/fuzz_http_wire.c src/http/wire.c \
 *       src/util/error.c -o fuzz_http_wire
 *   mkdir -p corpus_http_wire
 *   ./fuzz_http_wire -max_len=8192 corpus_http_wire fuzz/corpus/http_wire
 */
#include "http/http_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs up to this size also get the O(n^2) checks: every prefix, every byte its own read. */
#define EXHAUSTIVE_MAX 512

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
            return false;
    }
    return true;
}

/* `s` is a NUL-terminated string lying wholly inside buf[0..size] (the spare byte included). */
static bool inside(const char *s, const char *buf, size_t size)
{
    return s != NULL && s >= buf && s <= buf + size && strlen(s) <= (size_t)(buf + size - s);
}

/* Parses a copy of data[0..len) and checks what comes back. Returns the status, and the field
 * count in *fields on success. */
static int check_head_parse(const uint8_t *data, size_t len, size_t *fields)
{
    char *buf = malloc(len + 1);
    if (buf == NULL)
        return VIGIL_ENOMEM;
    memcpy(buf, data, len);
    buf[len] = 'X'; /* the spare byte is not a terminator unless the parser makes it one */
    http_head_t h;
    vigil_error_t err;
    int rc = http_head_parse(buf, len, &h, &err);
    if (rc != 0 && rc != 400 && rc != 417 && rc != 501 && rc != 505 && rc != VIGIL_ENOMEM)
        abort();
    if (rc != 0 && err.message[0] == '\0')
        abort(); /* a refusal always says why */
    if (rc == 0) {
        if (!inside(h.method, buf, len) || !is_token(h.method))
            abort();
        if (!inside(h.target, buf, len) || h.target[0] == '\0' || strpbrk(h.target, " \r\n"))
            abort();
        if (h.minor != 0 && h.minor != 1)
            abort();
        if (h.chunked && (h.has_content_length || h.minor == 0))
            abort(); /* framed two ways, or chunked where HTTP/1.0 has no such thing */
        if (h.expect_continue && h.minor == 0)
            abort();
        for (size_t i = 0; i < h.field_count; i++) {
            const http_field_t *f = &h.fields[i];
            if (!inside(f->name, buf, len) || !inside(f->value, buf, len) || !is_token(f->name))
                abort();
            size_t vl = strlen(f->value);
            if (strpbrk(f->value, "\r\n") != NULL)
                abort();
            if (vl > 0 && (strchr(" \t", f->value[0]) || strchr(" \t", f->value[vl - 1])))
                abort(); /* trimmed */
            if (http_head_field(&h, f->name) == NULL)
                abort();
        }
        *fields = h.field_count;
    }
    http_head_free(&h);
    free(buf);
    return rc;
}

/* `rc_all` and `fields_all`: what parsing all of data gave. */
static void check_head_length(const uint8_t *data, size_t size, int rc_all, size_t fields_all)
{
    const char *s = (const char *)data;
    size_t whole = http_head_length(s, size);
    if (whole > size)
        abort();
    /* The server asks after every read: a prefix shorter than the head is never complete, a
     * longer one ends at the same place. */
    if (size <= EXHAUSTIVE_MAX) {
        for (size_t p = 0; p <= size; p++)
            if (http_head_length(s, p) != (whole > 0 && p >= whole ? whole : 0))
                abort();
    } else {
        size_t probes[] = { whole, whole > 0 ? whole - 1 : 0, whole / 2, size / 2, size - 1 };
        for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
            size_t p = probes[i];
            if (http_head_length(s, p) != (whole > 0 && p >= whole ? whole : 0))
                abort();
        }
    }
    if (whole == 0)
        return;
    /* The bytes after the empty line are never read as head: parsing the delimited head gives
     * what parsing everything gives (unless a NUL past the head makes the whole refused). */
    if (memchr(data, '\0', size) != NULL)
        return;
    size_t fields_head = 0;
    int rc_head = check_head_parse(data, whole, &fields_head);
    if (rc_head != VIGIL_ENOMEM && rc_all != VIGIL_ENOMEM &&
        (rc_head != rc_all || fields_head != fields_all))
        abort();
}

typedef struct outcome {
    int           rc;
    size_t        consumed;
    uint8_t      *out;
    size_t        out_len;
    vigil_error_t err;
} outcome_t;

/*
 * Decodes data[0..size) in reads of at most `step` bytes, or (step 0) in two reads split at
 * `split`, calling again with the rest after each call as the server does, until the body
 * ends, fails or the input runs out. `o->out` must have room for `size` bytes.
 */
static void decode(const uint8_t *data, size_t size, size_t step, size_t split, outcome_t *o)
{
    http_chunked_t c;
    memset(&c, 0, sizeof(c));
    o->rc = 0;
    o->out_len = 0;
    size_t pos = 0;
    while (pos < size) {
        size_t avail = size - pos;
        if (step != 0 && avail > step)
            avail = step;
        else if (step == 0 && pos < split)
            avail = split - pos;
        size_t used = 0, len = 0;
        const char *run = NULL;
        const char *in = (const char *)data + pos;
        o->rc = http_chunked_decode(&c, in, avail, &used, &run, &len, &o->err);
        if (used > avail)
            abort();
        if (o->rc < 0) {
            if (o->rc != VIGIL_EPARSE || used != 0)
                abort();
            /* Failed for good: nothing more is read from this body. */
            if (http_chunked_decode(&c, in, avail, &used, &run, &len, NULL) != VIGIL_EPARSE ||
                used != 0 || len != 0)
                abort();
            break;
        }
        if (o->rc != 0 && o->rc != 1)
            abort();
        if (o->rc == 0 && used == 0)
            abort(); /* no progress on non-empty input: the server would spin */
        if (len > 0) {
            if (run < in || run + len > in + used || o->out_len + len > size)
                abort();
            memcpy(o->out + o->out_len, run, len);
            o->out_len += len;
        }
        pos += used;
        if (o->rc == 1)
            break;
    }
    o->consumed = pos;
}

static bool same_outcome(const outcome_t *a, const outcome_t *b)
{
    if (a->rc != b->rc)
        return false;
    if (a->rc < 0) /* consumed and data depend on where the failing read began; the offset
                    * in the message must not */
        return strcmp(a->err.message, b->err.message) == 0;
    return a->consumed == b->consumed && a->out_len == b->out_len &&
           memcmp(a->out, b->out, a->out_len) == 0;
}

static void check_chunked(const uint8_t *data, size_t size)
{
    outcome_t whole, other;
    whole.out = malloc(size + 1);
    other.out = malloc(size + 1);
    if (whole.out == NULL || other.out == NULL)
        goto out;
    decode(data, size, 0, 0, &whole);
    if (whole.out_len > whole.consumed || whole.consumed > size)
        abort();
    if (whole.rc == 0 && whole.consumed != size)
        abort(); /* still waiting for body, yet left input unread */
    size_t split = size == 0 ? 0 : ((size_t)data[0] << 8 | data[size - 1]) % (size + 1);
    decode(data, size, 0, split, &other);
    if (!same_outcome(&whole, &other))
        abort();
    if (size <= EXHAUSTIVE_MAX) {
        decode(data, size, 1, 0, &other);
        if (!same_outcome(&whole, &other))
            abort();
    }
out:
    free(whole.out);
    free(other.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t fields = 0;
    int rc = check_head_parse(data, size, &fields);
    check_head_length(data, size, rc, fields);
    check_chunked(data, size);
    /* A whole request: the body after a complete head goes through the decoder too, so seeds
     * that are requests reach it past their head. */
    size_t head = http_head_length((const char *)data, size);
    if (head > 0 && head < size)
        check_chunked(data + head, size - head);
    return 0;
}
