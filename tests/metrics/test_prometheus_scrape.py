#!/usr/bin/env python3
"""The real Prometheus (Debian's 2.42) scrapes the example exporter and returns our value.

Starts build/examples/inference_loop on 127.0.0.1 (free port, --requests N --forever), points
a Prometheus at it (temp dir, free port, 1 s scrape interval), then polls Prometheus' HTTP
API until example_requests_total{model="toy"} reads exactly N, within a bounded deadline (no
timing assertions). Also checks that the exporter answers OpenMetrics (ending in # EOF) when asked,
that the scrape is healthy (up == 1) and the timer's error counter. Processes are stopped
by PID.

usage: test_prometheus_scrape.py BUILD_DIR      (exit 77 = skipped)
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SKIP = 77
REQUESTS = 4321
DEADLINE_S = 90


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(prom_port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        prom_port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        return None
    return body["data"]["result"]


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    example = os.path.join(build, "examples", "inference_loop")
    prometheus = shutil.which("prometheus")
    if not os.access(example, os.X_OK):
        print("skip: %s not built (top-level CMakeLists.txt needs add_subdirectory(examples))"
              % example)
        return SKIP
    if prometheus is None:
        print("skip: prometheus not installed (scripts/deps.sh)")
        return SKIP

    tmp = tempfile.mkdtemp(prefix="vigil-prom-")
    ex = prom = None
    try:
        ex = subprocess.Popen([example, "--listen", "127.0.0.1:0", "--requests", str(REQUESTS),
                               "--forever"], stdout=subprocess.PIPE, text=True)
        line = ex.stdout.readline().strip()
        if not line.startswith("listening on "):
            print("example did not start: %r" % line)
            return 1
        target = line[len("listening on "):]
        if ex.stdout.readline().strip() != "done":
            print("example did not finish its loop")
            return 1

        # The exporter itself answers OpenMetrics when asked, ending with # EOF.
        req = urllib.request.Request("http://%s/metrics" % target, headers={
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
        with urllib.request.urlopen(req, timeout=5) as r:
            ctype = r.headers.get("Content-Type", "")
            text = r.read().decode()
        if not ctype.startswith("application/openmetrics-text") or not text.endswith("# EOF\n"):
            print("bad OpenMetrics answer: %s / ...%r" % (ctype, text[-40:]))
            return 1

        prom_port = free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: example\n"
                    "    static_configs:\n      - targets: ['%s']\n" % target)
        prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
        prom = subprocess.Popen([prometheus, "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % prom_port],
                                stdout=prom_log, stderr=subprocess.STDOUT)

        deadline = time.monotonic() + DEADLINE_S
        value = None
        while time.monotonic() < deadline:
            if prom.poll() is not None:
                print("prometheus exited with %d" % prom.returncode)
                break
            try:
                res = query(prom_port, 'example_requests_total{model="toy"}')
                if res:
                    value = float(res[0]["value"][1])
                    if value == REQUESTS:
                        break
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)
        if value != REQUESTS:
            print("example_requests_total: want %d, got %r" % (REQUESTS, value))
            with open(os.path.join(tmp, "prometheus.log")) as f:
                print(f.read()[-3000:])
            return 1
        up = query(prom_port, 'up{job="example"}')
        if not up or up[0]["value"][1] != "1":
            print("up: %r" % up)
            return 1
        errors = query(prom_port, 'example_inference_errors_total{error_type="TimeoutError"}')
        if not errors or float(errors[0]["value"][1]) != REQUESTS // 50:
            print("example_inference_errors_total: %r" % errors)
            return 1
        print("ok: Prometheus read example_requests_total = %d" % REQUESTS)
        return 0
    finally:
        stop(prom)
        stop(ex)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
