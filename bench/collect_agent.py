"""Benchmarks of the running agent against the real peers it replaces, in one shared window:

  collect.agent_idle  CPU fraction (CPU seconds per wall second) of `vigil run` with every
                      collector at 1 s, against prometheus-node-exporter scraped every 1 s by
                      prometheus: both processes' CPU summed, over the same window.
  collect.agent_rss   MiB resident of `vigil run` at the end of the window, against
                      node_exporter's plus Prometheus' resident memory.

The three processes are started on 127.0.0.1 free ports, each with a fresh temporary
directory, and the window opens only once all of them answer (and Prometheus has scraped
node_exporter once), so start-up work is not counted. CPU is utime + stime from
/proc/PID/stat at both ends of the window; RSS is VmRSS from /proc/PID/status at its end. The
two benchmarks share the one window (60 s; VIGIL_BENCH_WINDOW_S overrides it for a quick look)
to keep `make bench` short. Prints one JSON line per benchmark (bench/README.md); honours
$BENCH. Every process is stopped by its pid, also on failure.
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

BUILD = os.environ.get("VIGIL_BUILD", "build")
VIGIL = os.path.join(BUILD, "vigil")
PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
WINDOW_S = float(os.environ.get("VIGIL_BENCH_WINDOW_S", "60"))
NAMES = ["collect.agent_idle", "collect.agent_rss"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url):
    """Body of a 200 answer, else None (not up yet, refused, timed out)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode() if r.status == 200 else None
    except OSError:
        return None


def wait_for(proc, what, check, limit_s=60):
    """Polls check() until it is true; fails when the process exits or limit_s passes."""
    deadline = time.monotonic() + limit_s
    while not check():
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s before it was ready" % (what, proc.returncode))
        if time.monotonic() > deadline:
            raise RuntimeError("%s was not ready within %d s" % (what, limit_s))
        time.sleep(0.05)


def cpu_seconds(pid):
    """utime + stime of pid in seconds. Fields are counted after the last ')', since the
    command name may hold spaces and parentheses."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS for pid %d" % pid)


def prometheus_query(port, expr):
    body = http_get("http://127.0.0.1:%d/api/v1/query?query=%s" %
                    (port, urllib.parse.quote(expr)))
    if body is None:
        return None
    result = json.loads(body)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def emit(name, value, unit, baseline, baseline_value):
    print(json.dumps({"bench": name, "value": round(value, 6), "unit": unit,
                      "baseline": baseline, "baseline_value": round(baseline_value, 6),
                      "ratio": round(value / baseline_value, 4) if baseline_value else None},
                     separators=(",", ":")))
    sys.stdout.flush()


def stop(proc):
    """SIGTERM, then SIGKILL if it does not exit; by the pid Popen holds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_all(tmp, procs):
    """Starts vigil, node_exporter and Prometheus; returns their ports once all are ready."""
    vport, nport, pport = free_port(), free_port(), free_port()
    devnull = subprocess.DEVNULL

    vigil = subprocess.Popen(
        [VIGIL, "run", "--listen", "127.0.0.1:%d" % vport, "--data", tmp + "/vigil-data",
         "--log.file", tmp + "/vigil.log", "--collect.interval=1s"],
        stdout=devnull, stderr=devnull)
    procs["vigil"] = vigil
    node = subprocess.Popen(
        [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % nport],
        stdout=devnull, stderr=devnull)
    procs["node_exporter"] = node
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: node\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % nport)
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file", cfg, "--storage.tsdb.path", tmp + "/prom-data",
         "--web.listen-address", "127.0.0.1:%d" % pport],
        stdout=devnull, stderr=devnull)
    procs["prometheus"] = prom

    # vigil is ready when its collectors have produced host metrics, not just when it listens.
    wait_for(vigil, "vigil", lambda: "node_cpu_seconds_total{" in
             (http_get("http://127.0.0.1:%d/metrics" % vport) or ""))
    wait_for(node, "node_exporter", lambda: http_get("http://127.0.0.1:%d/metrics" % nport))
    wait_for(prom, "prometheus", lambda: prometheus_query(pport, 'up{job="node"}') == 1)
    return pport


def main():
    prefix = os.environ.get("BENCH", "")
    if not any(n.startswith(prefix) for n in NAMES):
        return
    for what, path in (("prometheus", PROMETHEUS), ("prometheus-node-exporter", NODE_EXPORTER)):
        if path is None:
            print("collect_agent: %s not installed, skipped" % what, file=sys.stderr)
            return
    tmp = tempfile.mkdtemp(prefix="vigil-bench-")
    procs = {}
    try:
        pport = start_all(tmp, procs)
        pids = {name: p.pid for name, p in procs.items()}
        t0 = time.monotonic()
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        time.sleep(WINDOW_S)
        cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        wall = time.monotonic() - t0
        rss = {name: rss_mib(pid) for name, pid in pids.items()}
        for name, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError("%s exited during the window" % name)
        # The baseline only counts if Prometheus really scraped every second.
        scrapes = prometheus_query(pport, 'count_over_time(up{job="node"}[%ds])' %
                                   int(WINDOW_S))
        print("collect_agent: %.1f s window, %s node_exporter scrapes, CPU s %s, RSS MiB %s" %
              (wall, scrapes, {n: round(cpu1[n] - cpu0[n], 3) for n in pids},
               {n: round(v, 1) for n, v in rss.items()}), file=sys.stderr)
        frac = {n: (cpu1[n] - cpu0[n]) / wall for n in pids}
        if "collect.agent_idle".startswith(prefix):
            emit("collect.agent_idle", frac["vigil"], "cpu_fraction",
                 "node_exporter_scraped_1s_by_prometheus",
                 frac["node_exporter"] + frac["prometheus"])
        if "collect.agent_rss".startswith(prefix):
            emit("collect.agent_rss", rss["vigil"], "MiB", "node_exporter_plus_prometheus",
                 rss["node_exporter"] + rss["prometheus"])
    finally:
        for p in procs.values():
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
