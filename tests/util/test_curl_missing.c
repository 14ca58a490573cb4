/* Tests of a missing libcurl (curl_loader.c, with $VIGIL_CURL_LIBRARY pointing at a file that
 * does not exist): `vigil version` and `vigil doctor` say "not installed" once, in their own
 * output, and print no "cannot load" warning on top of it; curl_loader_version() warns
 * nothing, and the curl_* calls warn exactly once per process.
 *
 * Every case runs in a child process (the real binary, or a fork for the loader itself): the
 * loader's state is per process and this process never loads libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"
#include "util/curl_loader.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MISSING_LIB "/nonexistent/vigil-test/libcurl.so.4"

typedef struct captured {
    int  status;        /* exit status of the child */
    char out[8192];     /* its stdout */
    char err[8192];     /* its stderr */
} captured_t;

/* Reads what the child wrote to the file at fd (rewound) into dst (NUL-terminated). */
static void slurp(int fd, char *dst, size_t cap)
{
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ssize_t n = read(fd, dst, cap - 1);
    assert_true(n >= 0);
    dst[n] = '\0';
    close(fd);
}

/* Runs fn(arg) in a child whose stdout and stderr go to temporary files, with libcurl
 * pointed at MISSING_LIB, and collects its exit status and output. */
static void in_child(const char *dir, void (*fn)(const void *), const void *arg, captured_t *c)
{
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof(out_path), "%s/out", dir);
    snprintf(err_path, sizeof(err_path), "%s/err", dir);
    int out = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = open(err_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0 && err >= 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(out, 1) < 0 || dup2(err, 2) < 0 || setenv("VIGIL_CURL_LIBRARY", MISSING_LIB, 1))
            _exit(126);
        fn(arg);
        fflush(NULL);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    slurp(out, c->out, sizeof(c->out));
    slurp(err, c->err, sizeof(c->err));
}

/* How many times `needle` occurs in `hay`. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void exec_vigil(const void *arg)
{
    char *const *argv = arg;
    execv(VIGIL_BIN, argv);
    _exit(127);
}

static void test_version_says_it_once(void **state)
{
    char *argv[] = { "vigil", "version", NULL };
    captured_t c;
    in_child(*state, exec_vigil, argv, &c);
    assert_int_equal(c.status, 0);
    assert_int_equal(count(c.out, "not installed"), 1);
    assert_non_null(strstr(c.out, "  libcurl       not installed (libcurl.so.4 from package "
                                  "libcurl4)\n"));
    assert_string_equal(c.err, "");
}

static void test_doctor_says_it_once(void **state)
{
    char data[512];
    snprintf(data, sizeof(data), "%s/data", (const char *)*state);
    char *argv[] = { "vigil", "doctor", "--data", data, "--listen", "127.0.0.1:0", NULL };
    captured_t c;
    in_child(*state, exec_vigil, argv, &c);
    assert_int_equal(c.status, 0);
    /* one row says so, with the loader's reason; stderr has no warning */
    assert_int_equal(count(c.out, "not installed"), 1);
    assert_non_null(strstr(c.out, "  libcurl not installed (libcurl.so.4 from "
                                  "package libcurl4), libyaml "));
    assert_non_null(strstr(c.out, " (libcurl: " MISSING_LIB ": "));
    assert_int_equal(count(c.err, "libcurl"), 0);
}

static void probe_then_use(const void *arg)
{
    (void)arg;
    const char *why = NULL;
    const char *v = curl_loader_version(&why);
    printf("version=%s\nwhy=%s\n", v, why != NULL ? why : "(null)");
    fflush(stdout);
    /* the curl_* API still works as documented for a missing library, and warns once */
    printf("init=%s\n", curl_easy_init() == NULL ? "NULL" : "handle");
    printf("global=%d\n", (int)curl_global_init(CURL_GLOBAL_DEFAULT));
    printf("info=%s\n", curl_version_info(CURLVERSION_NOW)->version);
}

static void test_loader_probe_is_quiet_and_use_warns_once(void **state)
{
    captured_t c;
    in_child(*state, probe_then_use, NULL, &c);
    assert_int_equal(c.status, 0);
    assert_non_null(strstr(c.out, "version=not installed (libcurl.so.4 from package "
                                  "libcurl4)\nwhy=" MISSING_LIB));
    assert_non_null(strstr(c.out, "\ninit=NULL\n"));
    char want[64];
    snprintf(want, sizeof(want), "\nglobal=%d\n", (int)CURLE_FAILED_INIT);
    assert_non_null(strstr(c.out, want));
    assert_non_null(strstr(c.out, "\ninfo=not installed (libcurl.so.4 from package libcurl4)\n"));
    assert_int_equal(count(c.err, "cannot load"), 1);
    assert_true(strncmp(c.err, "vigil: cannot load " MISSING_LIB " (", 19 + strlen(MISSING_LIB) + 2)
                == 0);
    assert_non_null(strstr(c.err, "install the libcurl4 package\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version_says_it_once, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_doctor_says_it_once, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_loader_probe_is_quiet_and_use_warns_once,
                                        test_tmpdir_setup, test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
