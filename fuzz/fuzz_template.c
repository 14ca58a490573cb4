/*
 * fuzz_template.c - the template compiler and executor (src/template/) on arbitrary text.
 *
 * Any input must compile or fail cleanly; what compiles is executed against a small
 * Alertmanager-like data tree with the Prometheus variables defined, under a small output cap,
 * so the step budget, recursion limit and arena cap are exercised too. Oracle: no crash, no
 * leak, no sanitizer report, and a failed execution always comes with a message.
 */
#include "template/template.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static template_value_t *build_data(void)
{
    template_value_t *d = template_value_map(TEMPLATE_F_STRUCT);
    template_value_t *alerts = template_value_list(TEMPLATE_F_ALERTS);
    for (int i = 0; i < 2; i++) {
        template_value_t *a = template_value_map(TEMPLATE_F_STRUCT);
        template_value_t *l = template_value_map(TEMPLATE_F_LABELS);
        template_map_set_string(l, "alertname", "X");
        template_map_set_string(l, "instance", i ? "h:1" : "h:2");
        template_map_set(a, "Labels", l);
        template_map_set_string(a, "Status", i ? "firing" : "resolved");
        template_list_append(alerts, a);
    }
    template_map_set(d, "Alerts", alerts);
    template_map_set_string(d, "Status", "firing");
    template_map_set(d, "Value", template_value_float(1234.5));
    template_map_set(d, "Count", template_value_int(3));
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static const char *const vars[] = { "labels", "value", NULL };
    template_options_t o = { .name = "fuzz", .vars = vars, .missing_zero = size % 2 == 0 };
    template_t *t;
    vigil_error_t err = { 0 };
    if (template_compile(&t, text, &o, &err) == 0) {
        template_value_t *d = build_data();
        template_value_t *value = template_value_float(0.25);
        template_var_t v[] = { { "labels", template_map_get(d, "Alerts") }, { "value", value } };
        template_exec_options_t eo = { .vars = v, .nvars = 2, .max_output = 4096 };
        buf_t b;
        buf_init(&b, 1 << 16);
        if (template_execute(t, d, &eo, &b, &err) != 0 && err.message[0] == '\0')
            abort();  /* every failure says why */
        buf_free(&b);
        template_value_free(value);
        template_value_free(d);
        template_free(t);
    } else if (err.message[0] == '\0') {
        abort();
    }
    free(text);
    return 0;
}
