"""rules.notify_latency: how long `vigil run` takes from a condition becoming true to the
webhook receiving the alert, against the theoretical for + evaluation interval + group_wait.

One agent on 127.0.0.1 with a rule `bench_notify_value > 0.5` (interval 1s, for 1s) and an
Alertmanager file routing to a local webhook with group_wait 1s, grouped by `trial` so every
trial is a new group. Each trial pushes a sample crossing the threshold
(POST /api/v1/import/prometheus) and times the webhook's arrival; the median of the trials is
reported. The baseline is the worst case of the pipeline's own waits: the condition may
become true just after an evaluation (up to one interval until the rule sees it), then `for`
until it fires, then group_wait until the group flushes; what exceeds it is vigil's own cost.
Prints one JSON line (bench/README.md); honours $BENCH.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

# The receivers of the notifier's end-to-end test serve the benchmark too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from notifysinks import WebhookSink  # noqa: E402
from vigiltest import free_port  # noqa: E402

BUILD = os.environ.get("VIGIL_BUILD", "build")
VIGIL = os.path.join(BUILD, "vigil")
TRIALS = 7
INTERVAL_S, FOR_S, GROUP_WAIT_S = 1, 1, 1

RULES = """groups:
  - name: bench
    interval: %ds
    rules:
      - alert: BenchNotify
        expr: bench_notify_value > 0.5
        for: %ds
""" % (INTERVAL_S, FOR_S)

NOTIFY = """route:
  receiver: hook
  group_by: [trial]
  group_wait: %ds
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:%%d/hook
""" % GROUP_WAIT_S


def arrival(sink, trial, limit_s=60):
    """When the first notification of `trial` reached the webhook sink."""
    def first():
        for _, body, t in sink.received:
            if any(a["labels"].get("trial") == trial for a in body["alerts"]):
                return t
        return None
    with sink.cond:
        if not sink.cond.wait_for(lambda: first() is not None, timeout=limit_s):
            raise RuntimeError("no notification for trial %s" % trial)
        return first()


def request(url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def main():
    if not "rules.notify_latency".startswith(os.environ.get("BENCH", "")):
        return
    tmp = tempfile.mkdtemp(prefix="vigil-bench-notify-")
    sink = WebhookSink()
    proc = None
    try:
        with open(os.path.join(tmp, "rules.yml"), "w") as f:
            f.write(RULES)
        with open(os.path.join(tmp, "am.yml"), "w") as f:
            f.write(NOTIFY % sink.port)
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        proc = subprocess.Popen([VIGIL, "run", "--listen", "127.0.0.1:%d" % port, "--data",
                                 tmp + "/data", "--rules", tmp + "/rules.yml",
                                 "--notify.config", tmp + "/am.yml"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(base + "/-/ready") == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("vigil did not become ready")
            time.sleep(0.05)
        latencies = []
        for trial in range(TRIALS):
            # a random phase against the evaluation slots, as a real condition has
            time.sleep((trial * 0.37) % INTERVAL_S)
            t0 = time.time()
            request(base + "/api/v1/import/prometheus",
                    ('bench_notify_value{trial="%d"} 1\n' % trial).encode(),
                    {"Content-Type": "text/plain"})
            latencies.append((arrival(sink, str(trial)) - t0) * 1000)
        value = statistics.median(latencies)
        baseline = (INTERVAL_S + FOR_S + GROUP_WAIT_S) * 1000.0
        print(json.dumps({"bench": "rules.notify_latency", "value": round(value, 1), "unit": "ms",
                          "baseline": "for_plus_interval_plus_group_wait",
                          "baseline_value": baseline, "ratio": round(value / baseline, 4),
                          "trials_ms": [round(l, 1) for l in latencies]},
                         separators=(",", ":")))
        sys.stdout.flush()
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
