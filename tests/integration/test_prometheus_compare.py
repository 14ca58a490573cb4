"""vigil's PromQL against the real Prometheus (issue 7): one generated OpenMetrics dataset is
imported into both (`promtool tsdb create-blocks-from openmetrics` / `vigil import openmetrics`),
both servers run on 127.0.0.1, and a corpus of instant and range queries must give equal
results over HTTP: the same result type, the same label sets, the same timestamps, values equal
within 1e-9 relative (1e-12 absolute for values that small), order-insensitive except where
PromQL defines an order (sort, sort_desc).

Prometheus 2.x vs 3.x. Debian ships Prometheus 2.42; vigil follows 3.x. The differences that
matter for float data, and how the corpus avoids them:
  - Range selectors and the lookback window are left-open in 3.x ((t-r, t]) and closed in 2.x
    ([t-r, t]). Samples sit at base + 3 s + 15 s * i and every evaluation time is 7 s past a
    multiple of 15 s (subquery steps are multiples of 60 s), so no sample ever lies on a window
    boundary and both semantics select the same samples.
  - 3.x keeps __name__ until the end of evaluation (delayed name removal) and renamed
    holt_winters to double_exponential_smoothing: the corpus has no query whose answer depends
    on either (no `sum by (__name__)` over rates, no holt_winters).
  - 3.x sums with Kahan compensation where 2.42 adds plainly: results then differ in the last
    bits only, inside the tolerance; no query cancels large values to near zero.
  - Range queries outside the data, native histograms and experimental functions are left out.

The helpers here (dataset generation, both servers, querying) are reused by
bench/promql_compare.py. Processes are started and stopped by PID in temporary directories on
free ports; waits poll with a deadline and nothing is timed.
"""
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
VIGIL = os.environ.get("VIGIL_BIN", os.path.join(HERE, "../../build/vigil"))
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
DEADLINE_S = 60.0
STEP_S = 15          # sample interval
SAMPLE_PHASE_S = 3   # samples at base + 3 + 15 * i
QUERY_PHASE_S = 7    # evaluation times at base + 7 + 15 * k


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, what, deadline_s=DEADLINE_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("gave up waiting for " + what)


# ---- the dataset -----------------------------------------------------------------------------

def base_time(hours):
    """A base timestamp (multiple of 60 s) about `hours` + 1 before now, so the data is recent
    enough for both stores' retention and the agent's own metrics come after it."""
    return (int(time.time()) // 3600 - hours - 1) * 3600


def write_openmetrics(path, base, points, counters, gauges, histograms, buckets, seed=7):
    """Writes an OpenMetrics file with `points` samples per series at base + 3 + 15 * i:
    `counters` series of cmp_http_requests_total (a few with resets), `gauges` series of
    cmp_temperature_celsius, cmp_memory_free_bytes per instance, `histograms` classic histograms
    cmp_request_duration_seconds with `buckets` finite buckets plus +Inf, _sum and _count, and
    cmp_build_info for group_left joins. Each series' samples are in time order. Returns the
    number of series."""
    rnd = random.Random(seed)
    ts = [base + SAMPLE_PHASE_S + STEP_S * i for i in range(points)]
    n_series = 0
    instances = ["10.0.0.%d:9100" % i for i in range(max(1, min(10, counters // 6 or 1)))]
    with open(path, "w") as f:
        f.write("# HELP cmp_http_requests Requests served.\n# TYPE cmp_http_requests counter\n")
        for s in range(counters):
            labels = 'job="%s",instance="%s",method="%s",code="%s",shard="%d"' % (
                ["api", "web"][s % 2], instances[s % len(instances)], ["GET", "POST"][(s // 2) % 2],
                ["200", "404", "500"][(s // 4) % 3], s)
            v = rnd.randint(0, 1000)
            rate = rnd.uniform(0.1, 20)
            reset_at = rnd.randrange(points) if s % 7 == 0 else -1
            for i, t in enumerate(ts):
                if i == reset_at:
                    v = 0
                v += int(rate * STEP_S * rnd.uniform(0.5, 1.5))
                f.write("cmp_http_requests_total{%s} %d %d\n" % (labels, v, t))
            n_series += 1
        f.write("# HELP cmp_temperature_celsius Sensor temperature.\n"
                "# TYPE cmp_temperature_celsius gauge\n")
        for s in range(gauges):
            labels = 'instance="%s",sensor="s%d"' % (instances[s % len(instances)], s)
            level = rnd.uniform(20, 80)
            trend = rnd.uniform(-0.01, 0.01)
            for i, t in enumerate(ts):
                v = level + trend * i + rnd.uniform(-2, 2)
                f.write("cmp_temperature_celsius{%s} %r %d\n" % (labels, round(v, 3), t))
            n_series += 1
        f.write("# TYPE cmp_memory_free_bytes gauge\n")
        for inst in instances:
            v = rnd.randint(1 << 30, 8 << 30)
            for t in ts:
                v += rnd.randint(-(1 << 20), 1 << 20)
                f.write('cmp_memory_free_bytes{instance="%s"} %d %d\n' % (inst, v, t))
            n_series += 1
        f.write("# TYPE cmp_build_info gauge\n")
        for k, inst in enumerate(instances):
            for t in ts:
                f.write('cmp_build_info{instance="%s",version="1.%d"} 1 %d\n' % (inst, k % 3, t))
            n_series += 1
        bounds = [0.005 * (2 ** b) for b in range(buckets)]
        f.write("# HELP cmp_request_duration_seconds Request latency.\n"
                "# TYPE cmp_request_duration_seconds histogram\n")
        for h in range(histograms):
            labels = 'job="%s",instance="%s",handler="h%d"' % (
                ["api", "web"][h % 2], instances[h % len(instances)], h)
            counts = [0] * (buckets + 1)
            total = 0.0
            scale = rnd.uniform(0.01, 0.12)  # most observations below the top finite bound
            for t in ts:
                for _ in range(rnd.randint(1, 30)):
                    x = rnd.expovariate(1 / scale)
                    total += x
                    for b, le in enumerate(bounds):
                        if x <= le:
                            counts[b] += 1
                    counts[buckets] += 1
                for b, le in enumerate(bounds):
                    f.write('cmp_request_duration_seconds_bucket{%s,le="%s"} %d %d\n'
                            % (labels, repr(le), counts[b], t))
                f.write('cmp_request_duration_seconds_bucket{%s,le="+Inf"} %d %d\n'
                        % (labels, counts[buckets], t))
                f.write("cmp_request_duration_seconds_sum{%s} %r %d\n" % (labels, round(total, 6), t))
                f.write("cmp_request_duration_seconds_count{%s} %d %d\n" % (labels, counts[buckets], t))
            n_series += buckets + 3
        f.write("# EOF\n")
    return n_series


# ---- the two servers ---------------------------------------------------------------------------

def http_get(url, timeout=60):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Server:
    """A server process started by PID; stop() sends SIGTERM and waits."""

    def __init__(self, name, argv, port, log_path):
        self.name = name
        self.port = port
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.ready, "%s on port %d to become ready" % (name, port))

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def ready(self):
        if self.proc.poll() is not None:
            with open(self.log_path, "rb") as f:
                raise AssertionError("%s exited with %s:\n%s" % (
                    self.name, self.proc.returncode, f.read().decode("utf-8", "replace")[-4000:]))
        try:
            return http_get(self.base + "/-/ready", timeout=2)[0] == 200
        except OSError:
            return False

    def query(self, path, **params):
        status, body = http_get(self.base + path + "?" + urllib.parse.urlencode(params))
        return status, json.loads(body)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def vigil_cli(*args):
    """`vigil ARGS`."""
    return subprocess.run([VIGIL] + list(args), capture_output=True, text=True, timeout=600)


def start_prometheus(tmp, om_path):
    data = os.path.join(tmp, "prom-data")
    r = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", om_path, data],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise AssertionError("promtool failed: %s%s" % (r.stdout, r.stderr))
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  evaluation_interval: 1h\n")
    port = free_port()
    return Server("prometheus", [PROMETHEUS, "--config.file", cfg, "--storage.tsdb.path", data,
                                 "--storage.tsdb.retention.time", "3650d",
                                 "--web.listen-address", "127.0.0.1:%d" % port,
                                 "--log.level", "warn"],
                  port, os.path.join(tmp, "prometheus.log"))


def start_vigil(tmp, om_path):
    data = os.path.join(tmp, "vigil-data")
    r = vigil_cli("import", "openmetrics", om_path, "--data", data)
    if r.returncode != 0:
        raise AssertionError("vigil import failed: %s%s" % (r.stdout, r.stderr))
    port = free_port()
    return Server("vigil", [VIGIL, "run", "--listen", "127.0.0.1:%d" % port, "--data", data,
                            "--log-level", "warn"],
                  port, os.path.join(tmp, "vigil.log"))


# ---- comparing answers -----------------------------------------------------------------------

def close(a, b):
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if math.isinf(fa) or math.isinf(fb):
        return fa == fb
    return abs(fa - fb) <= max(1e-9 * max(abs(fa), abs(fb)), 1e-12)


def key(metric):
    return tuple(sorted(metric.items()))


def diff_results(ours, theirs, ordered):
    """None when the two "data" objects agree, else a description of the first difference."""
    if ours["resultType"] != theirs["resultType"]:
        return "resultType %s vs %s" % (ours["resultType"], theirs["resultType"])
    rt = ours["resultType"]
    a, b = ours["result"], theirs["result"]
    if rt in ("scalar", "string"):
        if a[0] != b[0] or not (close(a[1], b[1]) if rt == "scalar" else a[1] == b[1]):
            return "%s %s vs %s" % (rt, a, b)
        return None
    if len(a) != len(b):
        return "%d vs %d series: ours %s... theirs %s..." % (
            len(a), len(b), [s["metric"] for s in a[:3]], [s["metric"] for s in b[:3]])
    if ordered:
        if [key(s["metric"]) for s in a] != [key(s["metric"]) for s in b]:
            return "order differs: %s vs %s" % ([s["metric"] for s in a],
                                                [s["metric"] for s in b])
    theirs_by = {key(s["metric"]): s for s in b}
    for s in a:
        t = theirs_by.get(key(s["metric"]))
        if t is None:
            return "series %s only in ours" % s["metric"]
        pa = [s["value"]] if rt == "vector" else s["values"]
        pb = [t["value"]] if rt == "vector" else t["values"]
        if len(pa) != len(pb):
            return "%s: %d vs %d points" % (s["metric"], len(pa), len(pb))
        for x, y in zip(pa, pb):
            if x[0] != y[0] or not close(x[1], y[1]):
                return "%s: %s vs %s" % (s["metric"], x, y)
    return None


# ---- the corpus --------------------------------------------------------------------------------

# Instant queries: every one is evaluated at several times (see CompareWithPrometheus).
INSTANT = [
    "cmp_memory_free_bytes",
    'cmp_http_requests_total{job="api",code=~"2..|5.."}',
    'cmp_http_requests_total{method!="GET",code!~"4.."}',
    "rate(cmp_http_requests_total[5m])",
    "irate(cmp_http_requests_total[5m])",
    "increase(cmp_http_requests_total[10m])",
    "resets(cmp_http_requests_total[1h])",
    "changes(cmp_memory_free_bytes[15m])",
    "delta(cmp_temperature_celsius[10m])",
    "idelta(cmp_temperature_celsius[5m])",
    "deriv(cmp_memory_free_bytes[30m])",
    "predict_linear(cmp_memory_free_bytes[30m], 3600)",
    "sum by (job) (rate(cmp_http_requests_total[5m]))",
    "sum without (shard, instance) (rate(cmp_http_requests_total[5m]))",
    "avg by (instance) (cmp_temperature_celsius)",
    "max by (code) (increase(cmp_http_requests_total[5m]))",
    "count by (method) (cmp_http_requests_total)",
    "stddev(cmp_temperature_celsius)",
    "quantile(0.9, cmp_temperature_celsius)",
    "topk(3, rate(cmp_http_requests_total[5m]))",
    "bottomk(2, cmp_temperature_celsius)",
    "count_values(\"v\", cmp_build_info)",
    "avg_over_time(cmp_temperature_celsius[10m])",
    "min_over_time(cmp_temperature_celsius[30m])",
    "max_over_time(cmp_memory_free_bytes[1h])",
    "sum_over_time(cmp_temperature_celsius[5m])",
    "count_over_time(cmp_temperature_celsius[7m])",
    "stddev_over_time(cmp_temperature_celsius[20m])",
    "quantile_over_time(0.95, cmp_temperature_celsius[30m])",
    "last_over_time(cmp_temperature_celsius[5m])",
    "histogram_quantile(0.95, sum by (le) (rate(cmp_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(cmp_request_duration_seconds_bucket[10m]))",
    "histogram_quantile(0.99, sum by (job, le) (rate(cmp_request_duration_seconds_bucket[5m])))",
    "rate(cmp_request_duration_seconds_sum[5m]) / rate(cmp_request_duration_seconds_count[5m])",
    'label_replace(cmp_memory_free_bytes, "host", "$1", "instance", "(.*):.*")',
    'label_join(cmp_build_info, "iv", "/", "instance", "version")',
    "cmp_memory_free_bytes * on (instance) group_left (version) cmp_build_info",
    "sum by (instance) (rate(cmp_http_requests_total[5m])) / on (instance) group_left "
    "sum by (instance) (cmp_build_info)",
    "cmp_temperature_celsius > 50",
    "cmp_temperature_celsius > bool 50",
    "cmp_temperature_celsius and on (instance) (cmp_memory_free_bytes > 4e9)",
    'cmp_http_requests_total{code="500"} unless on (instance) cmp_temperature_celsius > 70',
    "cmp_memory_free_bytes offset 10m",
    "rate(cmp_http_requests_total[5m] offset 30m)",
    "max_over_time(rate(cmp_http_requests_total[5m])[30m:1m])",
    "avg_over_time(cmp_temperature_celsius[20m:2m] offset 5m)",
    "absent(cmp_nonexistent_metric{job=\"x\"})",
    "absent(cmp_memory_free_bytes)",
    "absent_over_time(cmp_memory_free_bytes[5m])",
    "sort(cmp_memory_free_bytes)",
    "sort_desc(avg by (instance) (cmp_temperature_celsius))",
    "clamp(cmp_temperature_celsius, 30, 60)",
    "round(cmp_temperature_celsius, 0.5)",
    "abs(delta(cmp_temperature_celsius[5m])) ^ 0.5",
    "timestamp(cmp_memory_free_bytes)",
    "scalar(sum(cmp_build_info))",
    "vector(1) + 2",
    "time()",
    "sum(rate(cmp_http_requests_total[5m])) * 60",
    "-cmp_temperature_celsius % 7",
    "ln(cmp_memory_free_bytes) - log2(cmp_memory_free_bytes)",
]

# Range queries over the middle of the data at a 60 s step.
RANGE = [
    "rate(cmp_http_requests_total[5m])",
    "sum by (job) (irate(cmp_http_requests_total[5m]))",
    "histogram_quantile(0.95, sum by (le) (rate(cmp_request_duration_seconds_bucket[5m])))",
    "topk(2, cmp_temperature_celsius)",
    # Ties at the heap's edge: which tied series survives depends on Prometheus's exact heap
    # operations (pop, then push), not only on the values.
    "topk(40, rate(cmp_http_requests_total[5m]))",
    "bottomk(40, rate(cmp_http_requests_total[5m]))",
    "avg_over_time(cmp_temperature_celsius[10m])",
    "cmp_memory_free_bytes",
    "increase(cmp_http_requests_total[15m]) > 5000",
    "max_over_time(deriv(cmp_memory_free_bytes[10m])[15m:1m])",
    "cmp_memory_free_bytes offset 20m / cmp_memory_free_bytes",
    "label_replace(sum by (instance) (rate(cmp_http_requests_total[5m])), \"i\", \"$1\", "
    "\"instance\", \"10.0.0.(.*):.*\")",
]


class CompareWithPrometheus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if PROMETHEUS is None or PROMTOOL is None:
            raise AssertionError("prometheus and promtool are required (Debian packages "
                                 "prometheus; scripts/deps.sh installs them)")
        cls.tmp = tempfile.mkdtemp(prefix="vigil-cmp-")
        cls.base = base_time(2)
        cls.points = 2 * 3600 // STEP_S  # 2 h
        om = os.path.join(cls.tmp, "data.om")
        cls.series = write_openmetrics(om, cls.base, cls.points, counters=120, gauges=40,
                                       histograms=10, buckets=8)
        cls.servers = []
        try:
            cls.prom = start_prometheus(cls.tmp, om)
            cls.servers.append(cls.prom)
            cls.vigil = start_vigil(cls.tmp, om)
            cls.servers.append(cls.vigil)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for s in cls.servers:
            s.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def both(self, path, **params):
        vs, vd = self.vigil.query(path, **params)
        ps, pd = self.prom.query(path, **params)
        return (vs, vd), (ps, pd)

    def check(self, path, query, **params):
        (vs, vd), (ps, pd) = self.both(path, query=query, **params)
        where = "%s %s %s" % (path, query, params)
        self.assertEqual(pd.get("status"), "success", "prometheus: %s: %s" % (where, pd))
        self.assertEqual(vd.get("status"), "success", "vigil: %s: %s" % (where, vd))
        ordered = query.startswith(("sort(", "sort_desc("))
        problem = diff_results(vd["data"], pd["data"], ordered)
        self.assertIsNone(problem, where)
        return pd["data"]

    def test_dataset_is_the_same(self):
        for name in ("cmp_http_requests_total", "cmp_request_duration_seconds_bucket"):
            t = self.base + 3600 + QUERY_PHASE_S
            data = self.check("/api/v1/query", "count(%s)" % name, time=t)
            self.assertGreater(float(data["result"][0]["value"][1]), 0)
        t = self.base + 5400 + QUERY_PHASE_S
        data = self.check("/api/v1/query", 'count({__name__=~"cmp_.+"})', time=t)
        self.assertEqual(int(data["result"][0]["value"][1]), self.series)

    def test_instant_corpus(self):
        self.assertGreaterEqual(len(INSTANT) + len(RANGE), 40)
        # Three evaluation times: an hour in (full 1 h windows), the middle, near the end.
        times = [self.base + 3600 + QUERY_PHASE_S, self.base + 5400 + 60 + QUERY_PHASE_S,
                 self.base + 7200 - 60 + QUERY_PHASE_S]
        nonempty = 0
        for q in INSTANT:
            for t in times:
                with self.subTest(query=q, time=t):
                    data = self.check("/api/v1/query", q, time=t)
                    nonempty += bool(data["result"])
        # The corpus must exercise data, not agree on empty answers.
        self.assertGreater(nonempty, len(INSTANT) * len(times) * 0.9)

    def test_at_modifier(self):
        at = self.base + 1800 + QUERY_PHASE_S
        for q in ["cmp_memory_free_bytes @ %d" % at,
                  "rate(cmp_http_requests_total[5m] @ %d)" % at,
                  "sum(cmp_temperature_celsius @ %d) - sum(cmp_temperature_celsius)" % at]:
            with self.subTest(query=q):
                self.check("/api/v1/query", q, time=self.base + 5400 + QUERY_PHASE_S)
        self.check("/api/v1/query_range", "cmp_memory_free_bytes @ end()",
                   start=self.base + 3600 + QUERY_PHASE_S, end=self.base + 4200 + QUERY_PHASE_S,
                   step=60)

    def test_range_corpus(self):
        start = self.base + 1800 + QUERY_PHASE_S
        end = self.base + 7200 - 120 + QUERY_PHASE_S
        for q in RANGE:
            with self.subTest(query=q):
                data = self.check("/api/v1/query_range", q, start=start, end=end, step=60)
                self.assertTrue(data["result"], q)

    def test_index_endpoints(self):
        for path, params in [("/api/v1/label/job/values", {}),
                             ("/api/v1/series", {"match[]": "cmp_memory_free_bytes"}),
                             ("/api/v1/labels", {"match[]": "cmp_request_duration_seconds_bucket"})]:
            (vs, vd), (ps, pd) = self.both(path, **params)
            self.assertEqual((vs, vd["status"]), (ps, pd["status"]), path)
            if path == "/api/v1/series":
                self.assertEqual(sorted(map(key, vd["data"])), sorted(map(key, pd["data"])))
            else:
                self.assertEqual(vd["data"], pd["data"], path)

    def test_errors_agree(self):
        for path, params in [("/api/v1/query", {"query": "sum("}),
                             ("/api/v1/query", {"query": "up", "time": "yesterday"}),
                             ("/api/v1/query_range", {"query": "up", "start": 10, "end": 5,
                                                      "step": 1}),
                             ("/api/v1/series", {}),
                             ("/api/v1/series", {"match[]": '{a=~".*"}'})]:
            (vs, vd), (ps, pd) = self.both(path, **params)
            self.assertEqual((vs, vd.get("errorType")), (ps, pd.get("errorType")),
                             "%s %s: %s vs %s" % (path, params, vd, pd))


if __name__ == "__main__":
    unittest.main(verbosity=2)
