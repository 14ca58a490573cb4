"""Integration tests of `vigil run` (issue 2): every endpoint's status and JSON, /metrics
through the real promtool, signals, the data-dir lock, config errors and reload, body cap.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from vigiltest import Agent, run_vigil, wait_until, free_port, VIGIL

PROMTOOL = shutil.which("promtool")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def test_healthy_and_ready(self):
        r = self.agent.get("/-/healthy")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "vigil is Healthy.\n")
        r = self.agent.get("/-/ready")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text, "vigil is Ready.\n")

    def test_health_has_seed_shape(self):
        r = self.agent.get("/health")
        self.assertIn(r.status, (200, 503))
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"))
        doc = r.json()
        self.assertEqual(set(doc), {"overall_status", "total_components", "status_counts",
                                    "components"})
        self.assertEqual(set(doc["status_counts"]), {"healthy", "warning", "critical", "unknown"})
        self.assertEqual(sum(doc["status_counts"].values()), doc["total_components"])
        self.assertEqual(len(doc["components"]), doc["total_components"])
        for name in ("memory", "cpu", "disk"):
            comp = doc["components"][name]
            self.assertIn(comp["status"], ("healthy", "warning", "critical"))
            self.assertRegex(comp["message"], r"usage (normal|high|critical): \d+\.\d%")
            self.assertGreaterEqual(comp["value"], 0)
            self.assertLessEqual(comp["value"], 100)
        self.assertEqual(doc["components"]["memory"]["warning_threshold"], 80)
        self.assertEqual(doc["components"]["memory"]["critical_threshold"], 90)
        self.assertEqual(doc["components"]["cpu"]["warning_threshold"], 85)
        self.assertEqual(doc["components"]["disk"]["critical_threshold"], 95)
        expected = 503 if doc["overall_status"] == "critical" else 200
        self.assertEqual(r.status, expected)

    def test_health_component(self):
        r = self.agent.get("/health/memory")
        doc = r.json()
        self.assertEqual(doc["name"], "memory")
        self.assertIn(doc["status"], ("healthy", "warning", "critical"))
        r = self.agent.get("/health/no-such-check")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["status"], "error")

    def test_metrics_text_and_promtool(self):
        r = self.agent.get("/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = r.text
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            self.assertRegex(text, r"(?m)^%s [0-9.e+]+$" % name)
        self.assertRegex(text, r'(?m)^vigil_build_info\{.*version="[^"]+".*\} 1$')
        self.assertRegex(text, r'(?m)^vigil_build_info\{.*revision="[^"]+".*\} 1$')
        self.assertIn("# TYPE vigil_http_requests_total counter", text)
        self.assertIn("# TYPE vigil_http_request_duration_seconds histogram", text)
        if PROMTOOL:
            # Exit 3 is "valid but lint problems". The only ones allowed are the camelCase
            # names node_exporter itself exposes (node_memory_MemTotal_bytes...), which we
            # keep verbatim so existing dashboards work.
            p = subprocess.run([PROMTOOL, "check", "metrics"], input=r.text,
                               capture_output=True, text=True)
            self.assertIn(p.returncode, (0, 3), p.stdout + p.stderr)
            for line in (p.stdout + p.stderr).splitlines():
                self.assertRegex(line, r"^node_memory_\w+ metric names should be written in "
                                       r"'snake_case' not 'camelCase'$")

    def test_metrics_include_collectors(self):
        text = wait_until(lambda: (lambda t: t if "node_cpu_seconds_total{" in t else None)(
            self.agent.get("/metrics").text), "host collectors in /metrics")
        self.assertRegex(text, r'(?m)^node_cpu_seconds_total\{cpu="0",mode="idle"\} [0-9.e+]+$')
        self.assertRegex(text, r"(?m)^node_memory_MemTotal_bytes [0-9.e+]+$")
        self.assertRegex(text, r'(?m)^vigil_collector_errors_total\{collector="cpu"\} 0$')
        self.assertRegex(text, r'(?m)^container_cpu_usage_seconds_total\{.*id="/".*\} ')
        self.assertRegex(text, r'(?m)^vigil_process_resident_memory_bytes\{pid="%d",'
                               % self.agent.proc.pid)
        names = re.findall(r"(?m)^# TYPE (\S+) ", text)
        self.assertEqual(len(names), len(set(names)), "a family is exposed twice")

    def test_http_requests_are_counted(self):
        for _ in range(3):
            self.assertEqual(self.agent.get("/-/healthy").status, 200)
        text = self.agent.get("/metrics").text
        m = re.search(r'(?m)^vigil_http_requests_total\{(?=.*code="200")(?=.*handler="healthy")'
                      r'[^}]*\} (\d+)$', text)
        self.assertIsNotNone(m, text)
        self.assertGreaterEqual(int(m.group(1)), 3)

    def test_openmetrics_when_asked(self):
        r = self.agent.get("/metrics", headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("application/openmetrics-text"))
        text = r.text
        self.assertTrue(text.endswith("# EOF\n"))
        self.assertEqual(text.count("# EOF"), 1)
        # OpenMetrics names counter families without _total and info families without _info.
        self.assertIn("# TYPE process_cpu_seconds counter", text)
        self.assertIn("# TYPE vigil_collector_errors counter", text)
        self.assertRegex(text, r'(?m)^vigil_collector_errors_total\{collector="cpu"\} 0$')

    def test_not_found_is_json(self):
        r = self.agent.get("/no/such/path")
        self.assertEqual(r.status, 404)
        doc = r.json()
        self.assertEqual(doc["status"], "error")
        self.assertEqual(doc["errorType"], "not_found")

    def test_wrong_method_is_405_with_allow(self):
        r = self.agent.post("/health", b"{}")
        self.assertEqual(r.status, 405)
        self.assertIn("GET", r.headers["Allow"])
        self.assertEqual(r.json()["status"], "error")


class FakeGpu(unittest.TestCase):
    """`vigil run` with VIGIL_NVML_LIBRARY pointing at the fake NVML shows GPU metrics."""

    def test_gpu_metrics_from_fake_nvml(self):
        lib = os.path.join(os.path.dirname(VIGIL), "test", "libnvidia-ml-fake.so")
        fixture = os.path.join(ROOT, "tests/collect/fixtures/gpu/nvml.txt")
        self.assertTrue(os.path.exists(lib), lib)
        with Agent(env={"VIGIL_NVML_LIBRARY": lib, "VIGIL_FAKE_NVML_FIXTURE": fixture}) as a:
            text = wait_until(lambda: (lambda t: t if "DCGM_FI_DEV_GPU_UTIL{" in t else None)(
                a.get("/metrics").text), "GPU metrics in /metrics")
            self.assertRegex(text, r'(?m)^DCGM_FI_DEV_GPU_TEMP\{gpu="0",UUID="GPU-5f3b1c2a-'
                                   r'8e7d-4c6b-9a1f-0123456789ab",.*\} 61$')
            self.assertRegex(text, r'(?m)^vigil_collector_errors_total\{collector="gpu"\} 0$')

    def test_no_driver_means_no_gpu_metrics_and_no_error(self):
        with Agent(env={"VIGIL_NVML_LIBRARY": "/nonexistent/libnvidia-ml.so.1"}) as a:
            text = wait_until(lambda: (lambda t: t if 'collector="gpu"' in t else None)(
                a.get("/metrics").text), "gpu collector stats")
            self.assertNotIn("DCGM_FI_DEV", text)
            self.assertRegex(text, r'(?m)^vigil_collector_errors_total\{collector="gpu"\} 0$')


class Staleness(unittest.TestCase):
    """A series a collector stops reporting ends at once, as a series gone from a scrape."""

    def test_exited_process_series_leave_instant_queries(self):
        child = subprocess.Popen(["sleep", "600"])
        try:
            with Agent("--collect.process.name_regex=^sleep$") as a:
                selector = 'vigil_process_resident_memory_bytes{pid="%d"}' % child.pid

                def result():
                    doc = a.get("/api/v1/query?" + urllib.parse.urlencode(
                        {"query": selector})).json()
                    self.assertEqual(doc["status"], "success", doc)
                    return doc["data"]["result"]

                wait_until(result, "the child's series")
                child.kill()
                child.wait()
                # Without a staleness marker the last sample would answer for 5 minutes of
                # lookback; the marker written at the first run without the process ends it.
                wait_until(lambda: result() == [], "the exited process's series to go stale",
                           deadline_s=60)
                text = a.get("/api/v1/query_range?" + urllib.parse.urlencode(
                    {"query": selector, "start": time.time() - 30, "end": time.time(),
                     "step": 1})).json()
                self.assertEqual(text["status"], "success")
                (series,) = text["data"]["result"]
                self.assertGreater(len(series["values"]), 0)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


class Lifecycle(unittest.TestCase):
    def test_sigterm_and_sigint_exit_zero(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with Agent() as a:
                a.signal(sig)
                self.assertEqual(a.wait(), 0, a.log_text())
                msgs = [l["msg"] for l in a.log_lines()]
                self.assertIn("stopped", msgs)

    def test_second_agent_on_same_data_dir_fails(self):
        with Agent() as first:
            p = run_vigil("run", "--listen", "127.0.0.1:%d" % free_port(),
                          "--data", first.data_dir)
            self.assertEqual(p.returncode, 1)
            self.assertIn("data directory %s is in use by another vigil (pid %d)"
                          % (first.data_dir, first.proc.pid), p.stderr)
            self.assertEqual(first.get("/-/healthy").status, 200)

    def test_port_in_use_fails_clearly(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            tmp = tempfile.mkdtemp()
            try:
                p = run_vigil("run", "--listen", "127.0.0.1:%d" % port, "--data", tmp + "/d")
            finally:
                shutil.rmtree(tmp)
            self.assertEqual(p.returncode, 1)
            self.assertIn("127.0.0.1:%d" % port, p.stderr)
            self.assertIn("in use", p.stderr)

    def test_body_over_cap_is_413(self):
        with Agent("--http.max_body_size=1KiB") as a:
            r = a.post("/-/reload", b"x" * 4096)
            self.assertEqual(r.status, 413)
            self.assertEqual(r.json()["errorType"], "payload_too_large")
            self.assertEqual(a.get("/-/healthy").status, 200)

    def test_critical_health_is_503(self):
        with Agent("--health.disk.warning=0", "--health.disk.critical=0.0001") as a:
            r = a.get("/health")
            self.assertEqual(r.status, 503)
            doc = r.json()
            self.assertEqual(doc["overall_status"], "critical")
            self.assertEqual(doc["components"]["disk"]["status"], "critical")

    def test_text_log_format(self):
        with Agent("--log-format", "text", "--log-level", "debug") as a:
            pass
        # The agent has stopped; every line is text, none JSON.
        lines = [l for l in a.log_text().splitlines() if l]
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn |info |debug|trace) \w+: ")

    def test_json_log_lines(self):
        with Agent() as a:
            pass
        lines = a.log_lines()
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(l["level"], ("error", "warn", "info", "debug", "trace"))
            self.assertTrue(l["component"])
            self.assertTrue(l["msg"])
        listening = [l for l in lines if l["msg"] == "listening"]
        self.assertEqual(len(listening), 1)
        self.assertEqual(listening[0]["listen"], "127.0.0.1:%d" % a.port)
        self.assertEqual(listening[0]["port"], a.port)


class Config(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_bad_config_reports_file_line_col(self):
        path = self.write("bad.yml", "log:\n  level: info\n  format: xml\n")
        for args in (["check", "config", path], ["run", "--config", path]):
            p = run_vigil(*args)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertRegex(p.stderr, re.escape(path) + r":3:11: .*log\.format")

    def test_unknown_key_rejected(self):
        path = self.write("unknown.yml", "listen: 127.0.0.1:1\nbogus: 1\n")
        p = run_vigil("check", "config", path)
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, re.escape(path) + r":2:1: .*bogus")

    def test_good_config_checks(self):
        path = self.write("good.yml", "log:\n  level: debug\nhealth:\n  memory:\n"
                                      "    warning: 70\n    critical: 80\n")
        p = run_vigil("check", "config", path)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_flag_overrides_file(self):
        path = self.write("cfg.yml", "health:\n  memory:\n    warning: 10\n    critical: 20\n")
        with Agent("--config", path, "--health.memory.critical=30") as a:
            mem = a.get("/health").json()["components"]["memory"]
            self.assertEqual(mem["warning_threshold"], 10)
            self.assertEqual(mem["critical_threshold"], 30)

    def test_sighup_reload_keeps_old_config_on_error(self):
        path = self.write("live.yml", "health:\n  memory:\n    warning: 60\n    critical: 70\n")
        with Agent("--config", path) as a:
            self.assertEqual(a.get("/health").json()["components"]["memory"]["warning_threshold"], 60)
            self.write("live.yml", "health:\n  memory:\n    warning: [\n")
            a.signal(signal.SIGHUP)
            failed = wait_until(lambda: [l for l in a.log_lines()
                                         if l["msg"] == "config reload failed"], "reload failure log")
            self.assertIn(path + ":", failed[0]["error"])
            self.assertEqual(a.get("/health").json()["components"]["memory"]["warning_threshold"], 60)
            self.write("live.yml", "health:\n  memory:\n    warning: 50\n    critical: 70\n")
            a.signal(signal.SIGHUP)
            wait_until(lambda: [l for l in a.log_lines() if l["msg"] == "config reloaded"],
                       "reload success log")
            self.assertEqual(a.get("/health").json()["components"]["memory"]["warning_threshold"], 50)

    def test_reload_endpoint(self):
        path = self.write("live.yml", "health:\n  cpu:\n    warning: 60\n    critical: 70\n")
        with Agent("--config", path) as a:
            self.write("live.yml", "health:\n  cpu:\n    warning: 61\n    critical: 70\n")
            self.assertEqual(a.post("/-/reload").status, 200)
            self.assertEqual(a.get("/health").json()["components"]["cpu"]["warning_threshold"], 61)
            self.write("live.yml", "health: [\n")
            r = a.post("/-/reload")
            self.assertEqual(r.status, 500)
            self.assertIn(path + ":", r.json()["error"])


class Cli(unittest.TestCase):
    def test_unknown_command_and_flag(self):
        p = run_vigil("frobnicate")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", p.stderr)
        self.assertIn("usage: vigil", p.stderr)
        p = run_vigil("run", "--no-such-flag=1")
        self.assertEqual(p.returncode, 2)
        self.assertIn("no-such-flag", p.stderr)
        self.assertIn("usage: vigil run", p.stderr)

    def test_version_and_help(self):
        p = run_vigil("version")
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^vigil \d+\.\d+\.\d+ \(revision \w+\)")
        p = run_vigil("help", "check", "config")
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: vigil check config FILE", p.stdout)

    def test_doctor(self):
        tmp = tempfile.mkdtemp()
        try:
            port = free_port()
            p = run_vigil("doctor", "--listen", "127.0.0.1:%d" % port, "--data", tmp + "/d")
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertRegex(p.stdout, r"(?m)^data dir +ok ")
            self.assertRegex(p.stdout, r"(?m)^listen +ok ")
            self.assertRegex(p.stdout, r"(?m)^procfs +ok ")
            self.assertRegex(p.stdout, r"(?m)^nvml +(ok|info|warn) ")
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
                s.listen()
                p = run_vigil("doctor", "--listen", "127.0.0.1:%d" % port, "--data", tmp + "/d")
                self.assertEqual(p.returncode, 1)
                self.assertRegex(p.stdout, r"(?m)^listen +FAIL .*in use")
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main(verbosity=2)
