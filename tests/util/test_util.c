/* Unit tests of the error table, the capped buffers, durations, and the run-time-loaded libcurl
 * (curl_loader.c: every forwarder, and each class of curl_easy_setopt argument). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/duration.h"
#include "vigil/error.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(vigil_strerror(VIGIL_EPARSE), "parse error");
    assert_string_equal(vigil_error_name(VIGIL_ELIMIT), "VIGIL_ELIMIT");
    assert_string_equal(vigil_strerror(-9999), "unknown error");
    vigil_error_t err;
    assert_int_equal(vigil_error_set(&err, VIGIL_EIO, "%s:%d", "f", 3), VIGIL_EIO);
    assert_int_equal(err.code, VIGIL_EIO);
    assert_string_equal(err.message, "f:3");
    assert_int_equal(vigil_error_set(NULL, VIGIL_EIO, "dropped"), VIGIL_EIO);
    vigil_error_clear(&err);
    assert_int_equal(err.code, VIGIL_OK);
    assert_string_equal(err.message, "");
}

static void test_buf_cap_keeps_contents(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_puts(&b, "world!"), VIGIL_ELIMIT);
    assert_string_equal(b.data, "hello");
    assert_int_equal(buf_printf(&b, "%d", 12345), 0);
    assert_string_equal(b.data, "hello12345");
    assert_int_equal(buf_putc(&b, 'x'), VIGIL_ELIMIT);
    assert_int_equal(b.len, 10);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_buf_printf_long(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    size_t len;
    char *s = buf_detach(&b, &len);
    assert_int_equal(len, 1001);
    assert_null(b.data);
    free(s);
    s = buf_detach(&b, &len); /* empty: a valid "" */
    assert_string_equal(s, "");
    free(s);
}

static void test_buf_json_string(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    assert_int_equal(buf_put_json_string(&b, "a\"b\\c\n\x01"), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    /* Go's encoding/json, as Prometheus and Alertmanager send it: HTML characters, the JS
     * line separators and invalid UTF-8 escaped; valid UTF-8 kept. */
    buf_reset(&b);
    assert_int_equal(buf_put_json_string(&b, "<a&b> \xe2\x80\xa8 \xc3\xa9 \xff"), 0);
    assert_string_equal(b.data, "\"\\u003ca\\u0026b\\u003e \\u2028 \xc3\xa9 \\ufffd\"");
    /* Over the cap: nothing half-written is left behind. */
    buf_t small;
    buf_init(&small, 4);
    assert_int_equal(buf_put_json_string(&small, "abcdef"), VIGIL_ELIMIT);
    assert_int_equal(small.len, 0);
    buf_free(&small);
    buf_free(&b);
}

/* What Go's strconv.Quote writes: printable UTF-8 kept, the rest escaped. */
static void test_buf_go_quoted(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "", "\"\"" },
        { "plain", "\"plain\"" },
        { "a\"b\\c", "\"a\\\"b\\\\c\"" },
        { "\a\b\f\n\r\t\v", "\"\\a\\b\\f\\n\\r\\t\\v\"" },
        { "\x01\x1f\x7f", "\"\\x01\\x1f\\x7f\"" },
        { "h\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", "\"h\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\"" },
        { "\xff\xc3", "\"\\xff\\xc3\"" },                 /* invalid UTF-8 */
        { "\xc0\xaf", "\"\\xc0\\xaf\"" },                 /* overlong '/' */
        { "\xed\xa0\x80", "\"\\xed\\xa0\\x80\"" },       /* a surrogate */
        { "\xc2\x85\xc2\xad\xe2\x80\xa8\xef\xbb\xbf", "\"\\u0085\\u00ad\\u2028\\ufeff\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_t b;
        buf_init(&b, 1024);
        assert_int_equal(buf_put_go_quoted(&b, cases[i].in), 0);
        assert_string_equal(b.data, cases[i].want);
        buf_free(&b);
    }
    buf_t small;  /* over the cap: nothing half-written */
    buf_init(&small, 4);
    assert_int_equal(buf_puts(&small, "ab"), 0);
    assert_int_equal(buf_put_go_quoted(&small, "long text"), VIGIL_ELIMIT);
    assert_string_equal(small.data, "ab");
    buf_free(&small);
}

static void test_buf_double(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    buf_put_double(&b, NAN);
    buf_putc(&b, ' ');
    buf_put_double(&b, -INFINITY);
    buf_putc(&b, ' ');
    buf_put_double(&b, 0.1);
    buf_putc(&b, ' ');
    buf_put_double(&b, 1e21);
    assert_string_equal(b.data, "NaN -Inf 0.1 1e+21");
    buf_reset(&b);
    double v = 0.1 + 0.2; /* needs 17 digits to round-trip */
    buf_put_double(&b, v);
    assert_true(strtod(b.data, NULL) == v);
    buf_free(&b);
}

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t     ms;
    } ok[] = {
        { "0", 0 }, { "5m", 300000 }, { "1h30m", 5400000 }, { "500ms", 500 },
        { "1y2w3d4h5m6s7ms", 31536000000LL + 1209600000LL + 259200000LL + 14706007LL },
        { "15d", 1296000000LL }, { "0s", 0 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = -1;
        assert_int_equal(duration_parse(ok[i].text, strlen(ok[i].text), &ms), DURATION_OK);
        assert_int_equal(ms, ok[i].ms);
    }
    static const struct {
        const char      *text;
        duration_error_t e;
    } bad[] = {
        { "", DURATION_EMPTY }, { "-5m", DURATION_NEGATIVE }, { "1.5h", DURATION_FRACTION },
        { "15", DURATION_MISSING_UNIT }, { "5x", DURATION_UNKNOWN_UNIT },
        { "1m1h", DURATION_UNIT_ORDER }, { "1h1h", DURATION_UNIT_ORDER },
        { "1ms1s", DURATION_UNIT_ORDER }, { "h", DURATION_SYNTAX }, { "300y", DURATION_TOO_LONG },
        { "99999999999999999999s", DURATION_TOO_LONG },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 7;
        assert_int_equal(duration_parse(bad[i].text, strlen(bad[i].text), &ms), bad[i].e);
        assert_int_equal(ms, 7);
    }
    /* Only the first n bytes count: "5m" inside "5m]". */
    int64_t ms;
    assert_int_equal(duration_parse("5m]", 2, &ms), DURATION_OK);
    assert_int_equal(ms, 300000);
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t     ms;
        const char *text;
    } cases[] = {
        { 0, "0s" }, { 5400000, "1h30m" }, { 500, "500ms" }, { 864000000LL, "10d" },
        { 1209600000LL, "2w" }, { 31536000000LL, "1y" }, { 31622400000LL, "366d" },
        { -300000, "-5m" }, { 90061001, "1d1h1m1s1ms" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        duration_format(cases[i].ms, out, sizeof(out));
        assert_string_equal(out, cases[i].text);
    }
}

static size_t collect_body(char *p, size_t size, size_t n, void *ctx)
{
    return buf_append(ctx, p, size * n) == 0 ? size * n : 0;
}

/* A file:// transfer through the forwarders: a string option (URL), a long (NOSIGNAL), a
 * function (WRITEFUNCTION), a data pointer (WRITEDATA), a curl_off_t (MAXFILESIZE_LARGE, then
 * RESUME_FROM_LARGE, whose offset shows in the body) and a blob; getinfo into a curl_off_t. */
static void test_curl_loader(void **state)
{
    (void)state;
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    assert_non_null(v);
    assert_true(v->version_num >= 0x070000);

    char path[] = "/tmp/vigil-test-curl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("hello, curl\n", f);
    fclose(f);
    char url[64];
    snprintf(url, sizeof(url), "file://%s", path);

    CURL *c = curl_easy_init();
    assert_non_null(c);
    buf_t body;
    buf_init(&body, 1 << 10);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEDATA, &body), CURLE_OK);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)100), CURLE_OK);
    char pem[] = "not a certificate";
    struct curl_blob blob = { .data = pem, .len = sizeof(pem) - 1, .flags = CURL_BLOB_COPY };
    assert_int_equal(curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob), CURLE_OK);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_string_equal(body.data, "hello, curl\n");
    curl_off_t got = 0;
    assert_int_equal(curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got), CURLE_OK);
    assert_int_equal(got, 12);

    buf_reset(&body);
    assert_int_equal(curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)7), CURLE_OK);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    assert_string_equal(body.data, "curl\n");
    assert_string_equal(curl_easy_strerror(CURLE_FILESIZE_EXCEEDED),
                        "Maximum file size exceeded");

    char *esc = curl_easy_escape(c, "a b&c", 0);
    assert_string_equal(esc, "a%20b%26c");
    curl_free(esc);
    struct curl_slist *list = curl_slist_append(NULL, "X-One: 1");
    list = curl_slist_append(list, "X-Two: 2");
    assert_string_equal(list->next->data, "X-Two: 2");
    curl_slist_free_all(list);

    curl_easy_cleanup(c);
    buf_free(&body);
    unlink(path);
    curl_global_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_buf_cap_keeps_contents),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_buf_json_string),
        cmocka_unit_test(test_buf_go_quoted),
        cmocka_unit_test(test_buf_double),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_curl_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
