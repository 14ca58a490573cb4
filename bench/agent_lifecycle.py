"""Benchmarks of the agent's lifecycle against the real Prometheus on the same machine:
agent.startup_ms (exec to /-/ready answering 200) and agent.shutdown_ms (SIGTERM to exit),
median of 5 runs each. Both processes listen on 127.0.0.1 with a fresh data directory.
Prints one JSON line per benchmark (bench/README.md); honours $BENCH.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BUILD = os.environ.get("VIGIL_BUILD", "build")
VIGIL = os.path.join(BUILD, "vigil")
PROMETHEUS = shutil.which("prometheus")
RUNS = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % port, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def one_run(argv_for):
    """Starts the server, returns (ms to ready, ms from SIGTERM to exit)."""
    tmp = tempfile.mkdtemp(prefix="vigil-bench-")
    port = free_port()
    try:
        start = time.monotonic()
        proc = subprocess.Popen(argv_for(port, tmp), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = start + 60
        while not ready(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not become ready: %s" % argv_for(port, tmp))
            time.sleep(0.002)
        up = time.monotonic() - start
        stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        down = time.monotonic() - stop
        return up * 1000, down * 1000
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def vigil_argv(port, tmp):
    return [VIGIL, "run", "--listen", "127.0.0.1:%d" % port, "--data", tmp + "/data"]


def prometheus_argv(port, tmp):
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    return [PROMETHEUS, "--config.file", cfg, "--storage.tsdb.path", tmp + "/data",
            "--web.listen-address", "127.0.0.1:%d" % port]


def emit(name, value, baseline, baseline_value, unit="ms"):
    print(json.dumps({"bench": name, "value": round(value, 2), "unit": unit,
                      "baseline": baseline, "baseline_value": round(baseline_value, 2),
                      "ratio": round(value / baseline_value, 4) if baseline_value else None},
                     separators=(",", ":")))
    sys.stdout.flush()


def main():
    prefix = os.environ.get("BENCH", "")
    names = ["agent.startup_ms", "agent.shutdown_ms"]
    if not any(n.startswith(prefix) for n in names):
        return
    if PROMETHEUS is None:
        print("agent_lifecycle: prometheus not installed, skipped", file=sys.stderr)
        return
    ours = [one_run(vigil_argv) for _ in range(RUNS)]
    theirs = [one_run(prometheus_argv) for _ in range(RUNS)]
    med = lambda runs, i: statistics.median(r[i] for r in runs)
    if "agent.startup_ms".startswith(prefix):
        emit("agent.startup_ms", med(ours, 0), "prometheus_startup", med(theirs, 0))
    if "agent.shutdown_ms".startswith(prefix):
        emit("agent.shutdown_ms", med(ours, 1), "prometheus_shutdown", med(theirs, 1))


if __name__ == "__main__":
    main()
