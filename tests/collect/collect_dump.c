/*
 * collect_dump - prints collect_run_once() output, for the side-by-side integration test and
 * for recording expected outputs.
 *
 *   collect_dump [--path.procfs=DIR] [--path.sysfs=DIR] [--path.rootfs=DIR] [COLLECTOR...]
 *
 * With no collector names every enabled collector runs once, in table order.
 */
#include "collect/collect.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    collect_options_t o = { 0 };
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        const char *a = argv[first];
        if (strncmp(a, "--path.procfs=", 14) == 0)
            o.procfs = a + 14;
        else if (strncmp(a, "--path.sysfs=", 13) == 0)
            o.sysfs = a + 13;
        else if (strncmp(a, "--path.rootfs=", 14) == 0)
            o.rootfs = a + 14;
        else {
            fprintf(stderr, "collect_dump: unknown option %s\n", a);
            return 2;
        }
    }
    vigil_error_t err;
    collect_t *c;
    if (collect_create(&c, &o, NULL, &err) != 0) {
        fprintf(stderr, "collect_dump: %s\n", err.message);
        return 1;
    }
    buf_t out;
    buf_init(&out, 64u << 20);
    int rc = 0;
    if (first == argc) {
        rc = collect_run_once(c, NULL, &out, &err);
    } else {
        for (int i = first; i < argc && rc == 0; i++)
            rc = collect_run_once(c, argv[i], &out, &err);
    }
    if (out.len > 0)
        fwrite(out.data, 1, out.len, stdout);
    if (rc != 0)
        fprintf(stderr, "collect_dump: %s\n", err.message);
    buf_free(&out);
    collect_free(c);
    return rc != 0;
}
