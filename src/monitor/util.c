/*
 * util.c - small helpers of src/monitor: clocks, JSON output, condition-variable sleeps and
 * the nearest-rank percentile every report in this folder uses.
 */
#include "monitor/monitor_int.h"

#include "vigil/error.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

double monitor_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double monitor_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int monitor_put_json_number(buf_t *b, double v)
{
    if (!isfinite(v))
        return buf_puts(b, "null");
    /* buf_put_double prints the shortest round-tripping form, which is valid JSON for every
     * finite value ("1e+300", "-0.5", "3"). */
    return buf_put_double(b, v);
}

int monitor_put_json_key(buf_t *b, bool *first, const char *key)
{
    int rc = *first ? 0 : buf_putc(b, ',');
    *first = false;
    rc = rc ? rc : buf_put_json_string(b, key);
    return rc ? rc : buf_putc(b, ':');
}

int monitor_buf_finish(buf_t *b, int rc, char **json, size_t *len)
{
    if (rc != 0) {
        buf_free(b);
        return rc;
    }
    *json = buf_detach(b, len);
    return *json != NULL ? 0 : VIGIL_ENOMEM;
}

bool monitor_name_ok(const char *s, size_t max)
{
    if (s == NULL || s[0] == '\0')
        return false;
    size_t n = strnlen(s, max);
    if (n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

int monitor_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = rc ? rc : pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

bool monitor_sleep(pthread_cond_t *cond, pthread_mutex_t *lock, const bool *stop, double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    if (seconds < 0)
        seconds = 0;
    double whole = floor(seconds);
    until.tv_sec += (time_t)whole;
    until.tv_nsec += (long)((seconds - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!*stop && pthread_cond_timedwait(cond, lock, &until) != ETIMEDOUT)
        ;
    return !*stop;
}

double monitor_percentile_sorted(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    /* Nearest rank: the smallest value with at least p% of the values at or below it. p*n is
     * divided last and nudged down by 1e-9 so that a rank that is whole in decimal (99.9 % of
     * 5000 = 4995) is not pushed to the next one by binary rounding. */
    double rank = ceil(p * (double)n / 100.0 - 1e-9);
    size_t idx = rank < 1 ? 0 : (size_t)rank - 1;
    return v[idx < n ? idx : n - 1];
}

int monitor_encode_metadata(const vigil_kv_t *md, size_t n, char **out, vigil_error_t *err)
{
    if (n > MONITOR_MD_MAX_ITEMS)
        return vigil_error_set(err, VIGIL_EINVAL, "metadata: at most %d items",
                               MONITOR_MD_MAX_ITEMS);
    buf_t b;
    buf_init(&b, MONITOR_MD_MAX_BYTES);
    int rc = buf_putc(&b, '{');
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (md[i].key == NULL || md[i].key[0] == '\0' || md[i].value == NULL) {
            buf_free(&b);
            return vigil_error_set(err, VIGIL_EINVAL, "metadata item %zu: empty key or NULL "
                                                      "value", i);
        }
        rc = monitor_put_json_key(&b, &first, md[i].key);
        rc = rc ? rc : buf_put_json_string(&b, md[i].value);
    }
    rc = rc ? rc : buf_putc(&b, '}');
    if (rc != 0) {
        buf_free(&b);
        return rc == VIGIL_ELIMIT
                   ? vigil_error_set(err, VIGIL_EINVAL, "metadata: over %d bytes",
                                     MONITOR_MD_MAX_BYTES)
                   : vigil_error_set(err, rc, "metadata: %s", vigil_strerror(rc));
    }
    *out = buf_detach(&b, NULL);
    return *out != NULL ? 0 : vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
}
