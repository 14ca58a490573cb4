#!/usr/bin/env python3
"""tsdb.memory_per_series: RSS per head series, vigil vs the real Prometheus (issue 6).

A synthetic target on 127.0.0.1 (http.server in this process) serves SERIES series (100 000 by
default) whose values change on every request: 100 metric names x 1 000 series each, labels
{series, zone}, counter-like integer values. Then, one after the other on the same machine:

  Prometheus  the Debian `prometheus` (2.42) on a free port with a temporary storage dir,
              scraping the target every 1 s for DURATION s (60 by default). Its head series
              come from its own /metrics (prometheus_tsdb_head_series).
  vigil       `vigil run` on a free port with a temporary data dir; this script fetches the
              same target every 1 s for DURATION s and POSTs the body to
              /api/v1/import/prometheus in pieces under the body cap, with extra_label job and
              instance as Prometheus's scrape would add them. Head series from
              /api/v1/status/tsdb (numSeries; the agent's own collectors add a few hundred).

RSS is VmRSS of the server process from /proc. value = (RSS at the end - RSS just before the
first sample) / head series, for each; ratio = ours / Prometheus's (goal <= 0.3). The totals
(RSS at the end / head series, fixed overheads included) are printed as extra fields too.
Prints one JSON line (bench/README.md); honours $BENCH (name prefix). Processes are started
and stopped by PID; everything listens on 127.0.0.1 only.
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
import urllib.request

NAME = "tsdb.memory_per_series"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("VIGIL_BUILD", os.path.join(ROOT, "build"))
SERIES = int(os.environ.get("TSDB_MEMORY_SERIES", "100000"))
DURATION = int(os.environ.get("TSDB_MEMORY_SECONDS", "60"))
PIECE = 20000  # series per POST: ~1.5 MB, under the agent's 4 MiB default body cap


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Target:
    """The synthetic exposition: SERIES lines, values advancing on every render."""

    def __init__(self, n):
        self.prefixes = ['synth_metric_%d{series="%d",zone="z%d"} ' % (i % 100, i, i % 10)
                         for i in range(n)]
        self.steps = [i % 7 + 1 for i in range(n)]
        self.k = 0
        self.lock = threading.Lock()

    def lines(self):
        with self.lock:
            self.k += 1
            k = self.k
        return ["%s%d\n" % (p, 1000 + k * s) for p, s in zip(self.prefixes, self.steps)]


def serve(target):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = "".join(target.lines()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_up(url, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit("tsdb_memory: %s exited with %d" % (what, proc.returncode))
        try:
            http_get(url, 2)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("tsdb_memory: %s did not come up" % what)


def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def run_prometheus(work, target_port):
    port = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: synth\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % target_port)
    data = os.path.join(work, "prom-data")
    proc = subprocess.Popen(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + data,
                             "--web.listen-address=127.0.0.1:%d" % port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % port
        wait_up(url + "/-/ready", proc, "prometheus")
        # Prometheus starts scraping at once; its RSS before the first scrape completes is
        # its fixed cost (taken as soon as it answers).
        r0 = rss(proc.pid)
        time.sleep(DURATION)
        r1 = rss(proc.pid)
        m = http_get(url + "/metrics").decode()
        series = metric_value(m, "prometheus_tsdb_head_series")
        samples = metric_value(m, "prometheus_tsdb_head_samples_appended_total")
        if samples == 0:  # 2.42 labels it by type
            for line in m.splitlines():
                if line.startswith("prometheus_tsdb_head_samples_appended_total{"):
                    samples += float(line.split()[-1])
        return r0, r1, series, samples
    finally:
        stop(proc)


def run_vigil(work, target_port):
    port = free_port()
    data = os.path.join(work, "vigil-data")
    proc = subprocess.Popen([os.path.join(BUILD, "vigil"), "run", "--listen", "127.0.0.1:%d" % port,
                             "--data", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % port
        wait_up(url + "/api/v1/status/tsdb", proc, "vigil")
        time.sleep(2)  # its collectors' first cycles: part of the fixed cost, as for Prometheus
        r0 = rss(proc.pid)
        q = "extra_label=job=synth&extra_label=instance=127.0.0.1:%d" % target_port
        samples = 0
        t_end = time.monotonic() + DURATION
        next_t = time.monotonic()
        while time.monotonic() < t_end:
            # One "scrape" a second, as Prometheus does: fetch the target, push it.
            lines = http_get("http://127.0.0.1:%d/metrics" % target_port).decode().splitlines(True)
            for i in range(0, len(lines), PIECE):
                body = "".join(lines[i:i + PIECE]).encode()
                req = urllib.request.Request(url + "/api/v1/import/prometheus?" + q, data=body,
                                             headers={"Content-Type": "text/plain; version=0.0.4"})
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
            samples += len(lines)
            next_t += 1.0
            time.sleep(max(0.0, next_t - time.monotonic()))
        r1 = rss(proc.pid)
        st = json.loads(http_get(url + "/api/v1/status/tsdb"))["data"]["headStats"]
        return r0, r1, float(st["numSeries"]), float(samples)
    finally:
        stop(proc)


def main():
    if not NAME.startswith(os.environ.get("BENCH", "")):
        return 0
    for tool in ("prometheus",):
        if shutil.which(tool) is None:
            print("tsdb_memory: %s not installed; skipped" % tool, file=sys.stderr)
            return 0
    work = tempfile.mkdtemp(prefix="vigil-bench-memory-")
    target = Target(SERIES)
    srv = serve(target)
    try:
        tport = srv.server_address[1]
        p0, p1, pser, psam = run_prometheus(work, tport)
        v0, v1, vser, vsam = run_vigil(work, tport)
        ours = (v1 - v0) / vser
        base = (p1 - p0) / pser
        print(json.dumps({
            "bench": NAME, "value": round(ours, 1), "unit": "bytes", "baseline":
            "prometheus_2.42_rss_per_head_series", "baseline_value": round(base, 1),
            "ratio": round(ours / base, 3), "series": int(vser), "baseline_series": int(pser),
            "samples": int(vsam), "baseline_samples": int(psam), "seconds": DURATION,
            "rss_total_per_series": round(v1 / vser, 1),
            "baseline_rss_total_per_series": round(p1 / pser, 1),
        }))
        sys.stdout.flush()
    finally:
        srv.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
