"""PromQL benchmarks against the real Prometheus on the same machine and the same data (issue 7).

One OpenMetrics dataset (1 000 counter series, 100 classic histograms x 12 buckets, 1 h 30 m at
15 s) is imported into both (`promtool tsdb create-blocks-from openmetrics` / `vigil import
openmetrics`), both servers run on 127.0.0.1, and each benchmark sends the same HTTP request to
each in turn over a kept-alive connection: wall time from sending the request to the last byte
of the answer, median of RUNS after one warm-up each. ratio = ours / Prometheus's (goal <= 0.5).

  promql.rate                rate(x[5m]) over 1 000 series, 1 h range at 15 s step
  promql.sum_by_rate         sum by (job, code) (rate(x[5m])), same range
  promql.histogram_quantile  p95 of 100 histograms x 12 buckets, same range
  promql.topk                topk(10, rate(x[5m])), same range
  promql.avg_over_time       avg_over_time(x[5m]) over 1 000 series, same range
  promql.instant_selector    instant query of the 1 000 series

Prints one JSON line per benchmark (bench/README.md); honours $BENCH (name prefix). The dataset
and both servers come from tests/integration/test_prometheus_compare.py.
"""
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("VIGIL_BUILD", os.path.join(ROOT, "build"))
os.environ.setdefault("VIGIL_BIN", os.path.join(BUILD, "vigil"))
os.environ.setdefault("VIGIL_CLI_DRIVER", os.path.join(BUILD, "test", "vigil_cli_driver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import test_prometheus_compare as cmp  # noqa: E402  (needs VIGIL_BIN set first)

RUNS = int(os.environ.get("PROMQL_BENCH_RUNS", "7"))
RATE = "rate(cmp_http_requests_total[5m])"
BENCHES = [
    ("promql.rate", "query_range", RATE),
    ("promql.sum_by_rate", "query_range", "sum by (job, code) (%s)" % RATE),
    ("promql.histogram_quantile", "query_range",
     "histogram_quantile(0.95, rate(cmp_request_duration_seconds_bucket[5m]))"),
    ("promql.topk", "query_range", "topk(10, %s)" % RATE),
    ("promql.avg_over_time", "query_range", "avg_over_time(cmp_http_requests_total[5m])"),
    ("promql.instant_selector", "query", "cmp_http_requests_total"),
]


def timed_get(conn, path):
    """Sends GET path on a kept-alive connection; returns (seconds, status, body)."""
    start = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return time.perf_counter() - start, r.status, body


def measure(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
    try:
        _, status, body = timed_get(conn, path)  # warm-up: caches, page faults, first mmap
        if status != 200:
            raise RuntimeError("%s answered %d: %s" % (server.name, status, body[:300]))
        samples = []
        for _ in range(RUNS):
            dt, status, body = timed_get(conn, path)
            samples.append(dt)
        return statistics.median(samples), json.loads(body)
    finally:
        conn.close()


def main():
    prefix = os.environ.get("BENCH", "")
    todo = [b for b in BENCHES if b[0].startswith(prefix) or prefix.startswith(b[0])]
    if not todo:
        return 0
    if cmp.PROMETHEUS is None or cmp.PROMTOOL is None:
        print("promql bench: prometheus and promtool are required", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="vigil-bench-promql-")
    servers = []
    try:
        base = cmp.base_time(2)
        points = 90 * 60 // cmp.STEP_S
        om = os.path.join(tmp, "data.om")
        cmp.write_openmetrics(om, base, points, counters=1000, gauges=10, histograms=100,
                              buckets=11)  # 11 finite + +Inf = 12 buckets
        servers.append(cmp.start_prometheus(tmp, om))
        servers.append(cmp.start_vigil(tmp, om))
        prom, vigil = servers
        start = base + 30 * 60 + cmp.QUERY_PHASE_S
        end = start + 3600
        for name, endpoint, query in todo:
            params = {"query": query}
            if endpoint == "query_range":
                params.update(start=start, end=end, step=15)
            else:
                params.update(time=end)
            path = "/api/v1/%s?%s" % (endpoint, urllib.parse.urlencode(params))
            ours, ours_doc = measure(vigil, path)
            theirs, theirs_doc = measure(prom, path)
            problem = cmp.diff_results(ours_doc["data"], theirs_doc["data"], False)
            if problem is not None:
                print("%s: results differ: %s" % (name, problem), file=sys.stderr)
            print(json.dumps({"bench": name, "value": round(ours * 1000, 3), "unit": "ms",
                              "baseline": "prometheus 2.42 (same query, same data)",
                              "baseline_value": round(theirs * 1000, 3),
                              "ratio": round(ours / theirs, 4)}, separators=(",", ":")))
            sys.stdout.flush()
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
