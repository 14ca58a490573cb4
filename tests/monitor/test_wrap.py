"""Integration tests of `vigil wrap` and `vigil health` (issue 5), standard library only.

`vigil wrap`: a child that allocates memory, spawns a grandchild that allocates more, both
sending StatsD `tokens` (with tags) plus other types and one malformed line; the summary JSON
must count every token, report throughput and latency per token, a memory peak covering the
grandchild, the child's exit code and a sampled series. Signal forwarding: SIGTERM sent to wrap
by PID reaches the child, whose exit code wrap returns.

`vigil health`: against a stand-in /health server on 127.0.0.1 answering healthy, warning,
critical (HTTP 503, as the agent does) and garbage, and against a closed port: exit codes
0/1/2/2/2.

Runs the real binary (VIGIL_BIN). Nothing is timed: waits poll for a file with a generous
deadline.
"""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

VIGIL = os.environ.get("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/vigil"))


def command(name):
    return [VIGIL, name]


def wait_for_file(path, deadline_s=60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise AssertionError("gave up waiting for " + path)


CHILD = r'''
import os, socket, subprocess, sys
host, port = os.environ["VIGIL_STATSD"].split(":")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def send(line):
    s.sendto(line.encode(), (host, int(port)))
block = bytearray(b"x" * (64 << 20))      # 64 MiB touched in the child
for _ in range(5):
    send("tokens:100|c|#model:test,phase:eval")
send("loss:0.5|g\nstep_ms:12.5|ms\nbatch:32|h|@0.5")
send("this is not statsd")
grandchild = subprocess.run([sys.executable, "-c", GRANDCHILD])
sys.exit(3 if grandchild.returncode == 0 else 99)
'''

GRANDCHILD = r'''
import os, socket
host, port = os.environ["VIGIL_STATSD"].split(":")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
block = bytearray(b"y" * (160 << 20))     # 160 MiB in the grandchild
for _ in range(5):
    s.sendto(b"tokens:100|c", (host, int(port)))
'''

TRAP = r'''
import os, signal, sys, time
def on_term(sig, frame):
    open(sys.argv[1] + ".got", "w").write("SIGTERM")
    sys.exit(42)
signal.signal(signal.SIGTERM, on_term)
open(sys.argv[1], "w").write("ready")
while True:
    time.sleep(0.05)
'''


class WrapTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vigil-wrap-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_tree_memory_statsd_exit_code(self):
        out = os.path.join(self.tmp, "run.json")
        script = "GRANDCHILD = %r\n%s" % (GRANDCHILD, CHILD)
        p = subprocess.run(command("wrap") + ["--json", out, "--interval", "0.05", "--",
                                              sys.executable, "-c", script],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 3, p.stderr.decode())
        self.assertIn(b"memory_mb_peak", p.stderr)
        self.assertIn(b"throughput_tok_per_s", p.stderr)
        with open(out) as f:
            r = json.load(f)
        self.assertEqual(r["exit_code"], 3)
        self.assertEqual(r["command"][0], sys.executable)
        st = r["statsd"]
        self.assertEqual(st["metrics"]["tokens"]["type"], "c")
        self.assertEqual(st["metrics"]["tokens"]["sum"], 1000)
        self.assertEqual(st["metrics"]["tokens"]["count"], 10)
        self.assertEqual(st["metrics"]["loss"]["last"], 0.5)
        self.assertEqual(st["metrics"]["step_ms"]["type"], "ms")
        self.assertEqual(st["metrics"]["batch"]["type"], "h")
        self.assertEqual(st["bad_lines"], 1)
        self.assertEqual(st["tagged_lines"], 5)
        self.assertEqual(st["lines"], 14)
        wall = r["wall_time_s"]
        self.assertGreater(wall, 0)
        self.assertAlmostEqual(r["throughput_tok_per_s"], 1000 / wall, delta=1e-6 * 1000 / wall)
        self.assertAlmostEqual(r["latency_ms_per_tok"], wall * 1000 / 1000, delta=1e-6)
        # The grandchild's 160 MiB is in the peak whether or not a sample caught it: the
        # child waited for it, so it is in getrusage(RUSAGE_CHILDREN).ru_maxrss.
        self.assertGreaterEqual(r["memory_mb_peak"], 160)
        self.assertGreater(r["cpu_seconds"], 0)
        self.assertGreaterEqual(len(r["series"]), 1)
        self.assertGreaterEqual(r["processes_peak"], 1)
        for s in r["series"]:
            self.assertIn("rss_mb", s)
            self.assertIn("cpu_percent", s)
        self.assertIn("available", r["gpu"])

    def test_signal_forwarded(self):
        ready = os.path.join(self.tmp, "ready")
        p = subprocess.Popen(command("wrap") + ["--interval", "0.05", "--", sys.executable,
                                                "-c", TRAP, ready],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_file(ready)
        os.kill(p.pid, signal.SIGTERM)
        _, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 42, err.decode())
        with open(ready + ".got") as f:
            self.assertEqual(f.read(), "SIGTERM")

    def test_exec_failure_and_usage(self):
        p = subprocess.run(command("wrap") + ["--", os.path.join(self.tmp, "no-such-program")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 127)
        p = subprocess.run(command("wrap") + ["--interval", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run(command("wrap"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        self.assertEqual(p.returncode, 2)

    def test_killed_child(self):
        p = subprocess.run(command("wrap") + ["--", sys.executable, "-c",
                                              "import os, signal; os.kill(os.getpid(), "
                                              "signal.SIGKILL)"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 128 + signal.SIGKILL)


class HealthServer(http.server.BaseHTTPRequestHandler):
    answer = (200, b"{}")

    def do_GET(self):
        status, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def health_doc(overall):
    return json.dumps({"overall_status": overall, "total_components": 1,
                       "status_counts": {"healthy": 1, "warning": 0, "critical": 0,
                                         "unknown": 0},
                       "components": {"memory": {"status": overall,
                                                 "message": "Memory usage: 42%"}}}).encode()


class HealthTest(unittest.TestCase):
    def setUp(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthServer)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def tearDown(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def run_health(self, *args):
        return subprocess.run(command("health") + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)

    def test_exit_codes(self):
        for overall, status, code in (("healthy", 200, 0), ("warning", 200, 1),
                                      ("unknown", 200, 1), ("critical", 503, 2)):
            self.httpd.answer = (status, health_doc(overall))
            p = self.run_health("--server", self.url)
            self.assertEqual(p.returncode, code, overall)
            self.assertIn(b"overall: " + overall.encode(), p.stdout)
            self.assertIn(b"memory", p.stdout)
        self.httpd.answer = (200, health_doc("warning"))
        p = self.run_health("--json", "--server", self.url + "/")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout)["overall_status"], "warning")
        self.httpd.answer = (200, b"not json")
        self.assertEqual(self.run_health("--server", self.url).returncode, 2)

    def test_unreachable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # the port was free and nobody listens on it now
        p = self.run_health("--server", "127.0.0.1:%d" % port)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(self.run_health("--bogus").returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
