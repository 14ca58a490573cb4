/*
 * notify_driver.c - drives src/notify alone from the integration tests (the agent's wiring is
 * tested by tests/integration/test_notify_e2e.py): `check` is `vigil check notify`, `run` feeds
 * a notifier from stdin commands, `forward` feeds the Alertmanager forwarder.
 *
 *   notify_driver check [--lenient] FILE...
 *   notify_driver run CONFIG DATA_DIR EXTERNAL_URL    < commands
 *   notify_driver forward AM_URL                       < commands
 *
 * Commands, one per line: `push JSON` (JSON: {"labels":{..},"annotations":{..},
 * "startsAt":MS,"endsAt":MS,"generatorURL":".."}), `silence MATCHERS<TAB>DURATION_MS` (prints
 * "silence ID"), `expire ID`, `sync` (prints "ok": everything before it was handled). EOF
 * stops the notifier cleanly (state file written, queue flushed) and exits 0.
 */
#include "notify/notify.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cmd_check_notify(int argc, char **argv);

typedef struct parsed {
    notify_kv_t   *labels, *ann;
    notify_alert_t a;
    json_t        *root;
} parsed_t;

static notify_kv_t *kvs(json_t *o, size_t *n)
{
    *n = json_object_size(o);
    notify_kv_t *kv = calloc(*n ? *n : 1, sizeof(*kv));
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(o, k, v) {
        kv[i].name = k;
        kv[i++].value = json_string_value(v) ? json_string_value(v) : "";
    }
    return kv;
}

static int parse_alert(const char *text, parsed_t *p)
{
    json_error_t je;
    memset(p, 0, sizeof(*p));
    if ((p->root = json_loads(text, 0, &je)) == NULL) {
        fprintf(stderr, "bad json: %s\n", je.text);
        return -1;
    }
    p->labels = kvs(json_object_get(p->root, "labels"), &p->a.nlabels);
    p->ann = kvs(json_object_get(p->root, "annotations"), &p->a.nannotations);
    p->a.labels = p->labels;
    p->a.annotations = p->ann;
    p->a.starts_at_ms = json_integer_value(json_object_get(p->root, "startsAt"));
    p->a.ends_at_ms = json_integer_value(json_object_get(p->root, "endsAt"));
    p->a.generator_url = json_string_value(json_object_get(p->root, "generatorURL"));
    return 0;
}

static void parsed_free(parsed_t *p)
{
    free(p->labels);
    free(p->ann);
    json_decref(p->root);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    notify_config_t *cfg;
    vigil_error_t err = { 0 };
    if (notify_config_load_file(&cfg, argv[2], NOTIFY_LOAD_LENIENT, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    log_t *lg = NULL;
    log_options_t lo = { .level = LOG_LEVEL_INFO, .format = LOG_FORMAT_TEXT };
    log_open(&lg, &lo, NULL);
    notify_options_t o = { .data_dir = argv[3], .external_url = argv[4], .log = lg,
                           .backoff_ms = 100 };
    notify_t *n;
    if (notify_create(&n, cfg, &o, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        log_close(lg);
        return 1;
    }
    char line[65536];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "push ", 5) == 0) {
            parsed_t p;
            if (parse_alert(line + 5, &p) == 0) {
                int rc = notify_push(n, &p.a, 1);
                if (rc != 0)
                    fprintf(stderr, "push: %s\n", vigil_strerror(rc));
                parsed_free(&p);
            }
        } else if (strncmp(line, "silence ", 8) == 0) {
            char *tab = strchr(line + 8, '\t');
            if (tab == NULL)
                continue;
            *tab = '\0';
            notify_silence_t s = { .matchers = line + 8, .created_by = "driver",
                                   .ends_at_ms = now_ms() + atoll(tab + 1) };
            if (notify_silence_add(n, &s, &err) == 0)
                printf("silence %s\n", s.id);
            else
                printf("error %s\n", err.message);
        } else if (strncmp(line, "expire ", 7) == 0) {
            printf("expire %d\n", notify_silence_expire(n, line + 7));
        } else if (strcmp(line, "sync") == 0) {
            printf("ok\n");
        }
        fflush(stdout);
    }
    notify_stop(n);
    log_close(lg);
    return 0;
}

static int forward(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *urls[] = { argv[2] };
    am_forward_options_t o = { .urls = urls, .nurls = 1 };
    am_forward_t *f;
    vigil_error_t err = { 0 };
    if (am_forward_create(&f, &o, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    char line[65536];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "push ", 5) == 0) {
            parsed_t p;
            if (parse_alert(line + 5, &p) == 0) {
                am_forward_push(f, &p.a, 1);
                parsed_free(&p);
            }
        } else if (strcmp(line, "sync") == 0) {
            am_forward_stats_t st;
            am_forward_stats(f, &st);
            printf("ok sent=%llu errors=%llu queued=%zu\n", (unsigned long long)st.sent,
                   (unsigned long long)st.errors, st.queued);
        }
        fflush(stdout);
    }
    am_forward_stop(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return cmd_check_notify(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return run(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "forward") == 0)
        return forward(argc, argv);
    fprintf(stderr, "usage: notify_driver check|run|forward ...\n");
    return 2;
}
