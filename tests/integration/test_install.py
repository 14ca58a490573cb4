"""`make install` produces a usable library: a program outside the tree compiles against the
installed headers with pkg-config, links libvigil (shared and static), and runs.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

BUILD = os.environ["VIGIL_BUILD_DIR"]

PROGRAM = r"""
#include <vigil/health.h>
#include <vigil/metrics.h>
#include <stdio.h>
#include <stdlib.h>

static void always_ok(void *ctx, vigil_health_result_t *out)
{
    (void)ctx;
    out->status = VIGIL_HEALTH_HEALTHY;
}

int main(void)
{
    vigil_registry_t *reg;
    vigil_family_t *fam;
    vigil_error_t err;
    if (vigil_registry_new(NULL, &reg, &err) != 0 ||
        vigil_counter_new(reg, "jobs_total", "Jobs.", (const char *[]){"kind", NULL}, &fam, &err) != 0)
        return 1;
    vigil_counter_add(vigil_counter_with(fam, "train"), 42);
    char *text;
    if (vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &text, NULL, &err) != 0)
        return 1;
    fputs(text, stdout);
    free(text);
    vigil_registry_free(reg);

    vigil_health_checker_t *hc;
    if (vigil_health_create(&hc, &err) != 0 ||
        vigil_health_register(hc, "ok", always_ok, NULL, &err) != 0)
        return 1;
    printf("health=%s\n", vigil_health_status_name(vigil_health_check_all(hc)));
    vigil_health_free(hc);
    return 0;
}
"""


class Install(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vigil-install-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_installed_library_builds_a_program(self):
        prefix = os.path.join(self.tmp, "prefix")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                       capture_output=True)
        for path in ("bin/vigil", "include/vigil/metrics.h", "include/vigil/health.h",
                     "include/vigil/error.h"):
            self.assertTrue(os.path.exists(os.path.join(prefix, path)), path)
        libdir = [d for d in ("lib", "lib64") if os.path.isdir(os.path.join(prefix, d))][0]
        pcdir = os.path.join(prefix, libdir, "pkgconfig")
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        src = os.path.join(self.tmp, "prog.c")
        with open(src, "w") as f:
            f.write(PROGRAM)
        # The .pc file names the configured prefix; --define-prefix relocates it to where the
        # test installed.
        pkg = ["pkg-config", "--define-prefix"]
        cflags = subprocess.run(pkg + ["--cflags", "vigil"], env=env, check=True,
                                capture_output=True, text=True).stdout.split()
        for mode in ("shared", "static"):
            libs = subprocess.run(pkg + ["--libs", "vigil"], env=env, check=True,
                                  capture_output=True, text=True).stdout.split()
            if mode == "static":
                # The archive itself (-lvigil prefers the .so), with its dependencies shared.
                deps = subprocess.run(["pkg-config", "--libs", "jansson"],
                                      check=True, capture_output=True, text=True).stdout.split()
                libs = [os.path.join(prefix, libdir, "libvigil.a")] + deps + ["-lpthread", "-lm"]
            exe = os.path.join(self.tmp, "prog-" + mode)
            cmd = ["cc", "-std=c17", "-Wall", "-Werror", src, "-o", exe] + cflags + libs
            p = subprocess.run(cmd, capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            run_env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, libdir))
            out = subprocess.run([exe], env=run_env, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn('jobs_total{kind="train"} 42', out.stdout)
            self.assertIn("health=healthy", out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
