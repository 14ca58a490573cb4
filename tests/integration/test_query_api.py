"""Integration tests of the store and the Prometheus HTTP API of `vigil run` (issues 6 and 7):
collected and imported samples come back through /api/v1/query, query_range, labels, label
values and status/tsdb with Prometheus's JSON; errors use Prometheus's types and codes; samples
survive a restart (WAL replay).
"""
import json
import os
import subprocess
import tempfile
import shutil
import time
import unittest
import urllib.parse

from vigiltest import VIGIL, Agent, run_vigil, wait_until


def cli(*args, timeout=60):
    """Runs `vigil ARGS...` (query, import openmetrics, tsdb stats)."""
    return subprocess.run([VIGIL] + list(args), capture_output=True, text=True, timeout=timeout)


def q(agent, path, **params):
    return agent.get(path + "?" + urllib.parse.urlencode(params, doseq=True))


def push(agent, body, **params):
    return agent.post("/api/v1/import/prometheus?" + urllib.parse.urlencode(params, doseq=True),
                      body.encode(), headers={"Content-Type": "text/plain; version=0.0.4"})


class QueryApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def test_collected_host_metric_is_queryable(self):
        doc = wait_until(lambda: (lambda d: d if d["data"]["result"] else None)(
            q(self.agent, "/api/v1/query", query="node_memory_MemTotal_bytes").json()),
            "node_memory_MemTotal_bytes in the store")
        self.assertEqual(doc["status"], "success")
        self.assertEqual(doc["data"]["resultType"], "vector")
        (sample,) = doc["data"]["result"]
        self.assertEqual(sample["metric"], {"__name__": "node_memory_MemTotal_bytes"})
        with open("/proc/meminfo") as f:
            total_kb = int(f.readline().split()[1])
        self.assertEqual(sample["value"][1], str(total_kb * 1024))

    def test_import_then_query_exact_values(self):
        now_ms = int(time.time() * 1000)
        r = push(self.agent, 'push_test{a="1"} 42\npush_test{a="2"} 0.1\n',
                 timestamp=now_ms, extra_label=["job=pushed"])
        self.assertEqual(r.status, 204, r.body)
        doc = q(self.agent, "/api/v1/query", query="push_test", time=now_ms / 1000).json()
        got = sorted((s["metric"]["a"], s["metric"]["job"], s["value"][1])
                     for s in doc["data"]["result"])
        self.assertEqual(got, [("1", "pushed", "42"), ("2", "pushed", "0.1")])
        doc = q(self.agent, "/api/v1/query", query='sum(push_test{job="pushed"})',
                time=now_ms / 1000).json()
        self.assertEqual(doc["data"]["result"][0]["value"][1], "42.1")

    def test_import_body_labelled_as_form_is_exposition_text(self):
        # What `curl -d @file` sends: a form Content-Type, and a `%` that is no form escape.
        now_ms = int(time.time() * 1000)
        r = self.agent.post("/api/v1/import/prometheus?timestamp=%d" % now_ms,
                            b'form_labelled{mount="/data%zz"} 7\n',
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 204, r.body)
        doc = q(self.agent, "/api/v1/query", query="form_labelled", time=now_ms / 1000).json()
        self.assertEqual([(s["metric"]["mount"], s["value"][1]) for s in doc["data"]["result"]],
                         [("/data%zz", "7")])

    def test_import_syntax_error_stores_nothing(self):
        r = push(self.agent, 'bad_import 1\nbad_import{a="1" 2\n')
        self.assertEqual(r.status, 400)
        doc = r.json()
        self.assertEqual(doc["errorType"], "bad_data")
        self.assertRegex(doc["error"], r"^body:2:\d+: ")
        doc = q(self.agent, "/api/v1/query", query="bad_import").json()
        self.assertEqual(doc["data"]["result"], [])

    def test_out_of_order_is_reported_and_rest_kept(self):
        now_ms = int(time.time() * 1000)
        self.assertEqual(push(self.agent, "ooo_test 1\n", timestamp=now_ms).status, 204)
        r = push(self.agent, 'ooo_test 2\nooo_other 3\n', timestamp=now_ms - 60000)
        self.assertEqual(r.status, 400)
        self.assertIn("1 of 2 samples rejected", r.json()["error"])
        doc = q(self.agent, "/api/v1/query", query="ooo_other", time=(now_ms - 60000) / 1000).json()
        self.assertEqual(doc["data"]["result"][0]["value"][1], "3")

    def test_query_range_matrix(self):
        start = int(time.time()) - 60
        for i in range(4):
            self.assertEqual(push(self.agent, "range_test %d\n" % (i * 10),
                                  timestamp=(start + i * 10) * 1000).status, 204)
        doc = q(self.agent, "/api/v1/query_range", query="range_test", start=start,
                end=start + 30, step=10).json()
        self.assertEqual(doc["data"]["resultType"], "matrix")
        self.assertEqual(doc["data"]["result"][0]["values"],
                         [[start + i * 10, str(i * 10)] for i in range(4)])

    def test_errors_have_prometheus_types(self):
        r = q(self.agent, "/api/v1/query", query="sum(")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["errorType"], "bad_data")
        self.assertRegex(r.json()["error"], r'^invalid parameter "query": 1:5: parse error')
        r = q(self.agent, "/api/v1/query", query="up", time="yesterday")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error"],
                         'invalid parameter "time": cannot parse "yesterday" to a valid timestamp')
        r = q(self.agent, "/api/v1/query_range", query="up", start=10, end=5, step=1)
        self.assertEqual(r.status, 400)
        r = q(self.agent, "/api/v1/query_range", query="up", start=0, end=100000, step=1)
        self.assertIn("exceeded maximum resolution of 11,000 points", r.json()["error"])

    def test_labels_and_values(self):
        wait_until(lambda: "node_cpu_seconds_total" in
                   q(self.agent, "/api/v1/label/__name__/values").json()["data"],
                   "metric names")
        names = q(self.agent, "/api/v1/labels").json()["data"]
        self.assertEqual(names, sorted(set(names)))
        self.assertIn("__name__", names)
        self.assertIn("mode", names)
        modes = q(self.agent, "/api/v1/label/mode/values").json()["data"]
        self.assertIn("idle", modes)

    def test_status_pages(self):
        doc = self.agent.get("/api/v1/status/buildinfo").json()
        self.assertRegex(doc["data"]["version"], r"^\d+\.\d+\.\d+$")
        doc = self.agent.get("/api/v1/status/tsdb").json()
        self.assertGreater(doc["data"]["headStats"]["numSeries"], 100)
        self.assertGreater(doc["data"]["headStats"]["numLabelPairs"], 100)
        self.assertEqual(list(doc["data"]["headStats"]),
                         ["numSeries", "numLabelPairs", "chunkCount", "minTime", "maxTime"])
        self.assertTrue(doc["data"]["seriesCountByMetricName"])
        doc = self.agent.get("/api/v1/status/config").json()
        self.assertIn("listen:", doc["data"]["yaml"])
        doc = q(self.agent, "/api/v1/format_query", query="sum(rate(x[5m]))by(job)").json()
        self.assertEqual(doc["data"], "sum by (job) (rate(x[5m]))")


class IndexEndpoints(unittest.TestCase):
    """series, labels and label values with match[] unions, windows and limits; metadata;
    parse_query; every query endpoint by GET and by form POST; `timeout`."""

    @classmethod
    def setUpClass(cls):
        cls.agent = Agent()
        cls.t0 = (int(time.time()) - 3600) * 1000
        body = "".join('idx_a{k="%d"} %d\n' % (i, i) for i in range(3)) + 'idx_b{j="x"} 1\n'
        assert push(cls.agent, body, timestamp=cls.t0).status == 204
        assert push(cls.agent, 'idx_late{j="y"} 1\n', timestamp=cls.t0 + 600000).status == 204

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def form(self, path, **params):
        return self.agent.post(path, urllib.parse.urlencode(params, doseq=True).encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})

    def test_series_union_window_limit(self):
        r = q(self.agent, "/api/v1/series")
        self.assertEqual((r.status, r.json()["error"]), (400, "no match[] parameter provided"))
        doc = q(self.agent, "/api/v1/series", **{"match[]": ["idx_a", '{k="1"}', "idx_b"]}).json()
        self.assertEqual(doc["data"], [{"__name__": "idx_a", "k": "0"},
                                       {"__name__": "idx_a", "k": "1"},
                                       {"__name__": "idx_a", "k": "2"},
                                       {"__name__": "idx_b", "j": "x"}])
        doc = self.form("/api/v1/series", **{"match[]": ["idx_a"], "limit": 2}).json()
        self.assertEqual(len(doc["data"]), 2)
        self.assertEqual(doc["warnings"], ["results truncated due to limit"])
        # Only series with samples in [start, end]: idx_late is 10 minutes after idx_b.
        t = self.t0 / 1000
        doc = q(self.agent, "/api/v1/series", **{"match[]": ['{j=~"x|y"}'], "start": t - 1,
                                                 "end": t + 1}).json()
        self.assertEqual(doc["data"], [{"__name__": "idx_b", "j": "x"}])
        r = q(self.agent, "/api/v1/series", **{"match[]": '{j=~".*"}'})
        self.assertEqual(r.json()["error"], "match[] must contain at least one non-empty matcher")

    def test_labels_and_values_with_match(self):
        doc = q(self.agent, "/api/v1/labels", **{"match[]": ["idx_a", "idx_b"]}).json()
        self.assertEqual(doc["data"], ["__name__", "j", "k"])
        doc = self.form("/api/v1/labels", **{"match[]": ["idx_b"]}).json()
        self.assertEqual(doc["data"], ["__name__", "j"])
        doc = q(self.agent, "/api/v1/label/k/values", **{"match[]": "idx_a", "limit": 1}).json()
        self.assertEqual((doc["data"], doc["warnings"]),
                         (["0"], ["results truncated due to limit"]))
        doc = q(self.agent, "/api/v1/label/__name__/values",
                **{"match[]": ['{j="x"}', '{j="y"}']}).json()
        self.assertEqual(doc["data"], ["idx_b", "idx_late"])

    def test_metadata_and_parse_query(self):
        doc = self.agent.get("/api/v1/metadata").json()
        self.assertEqual(doc["status"], "success")
        self.assertIsInstance(doc["data"], dict)
        doc = q(self.agent, "/api/v1/parse_query", query="sum(rate(x[5m]))").json()
        self.assertEqual(doc["data"]["type"], "aggregation")
        self.assertEqual(doc["data"]["expr"]["args"][0]["range"], 300000)
        r = self.form("/api/v1/parse_query", query="sum(")
        self.assertEqual(r.status, 400)

    def test_every_query_endpoint_by_form_post(self):
        t = self.t0 / 1000
        get = q(self.agent, "/api/v1/query", query="sum(idx_a)", time=t).json()
        post = self.form("/api/v1/query", query="sum(idx_a)", time=t).json()
        self.assertEqual(get, post)
        self.assertEqual(post["data"]["result"][0]["value"][1], "3")
        get = q(self.agent, "/api/v1/query_range", query="idx_b", start=t, end=t + 60,
                step=30).json()
        post = self.form("/api/v1/query_range", query="idx_b", start=t, end=t + 60,
                         step=30).json()
        self.assertEqual(get, post)
        self.assertEqual(len(post["data"]["result"][0]["values"]), 3)
        doc = self.form("/api/v1/format_query", query="sum(x)by(a)").json()
        self.assertEqual(doc["data"], "sum by (a) (x)")
        r = q(self.agent, "/api/v1/query", query="idx_b", time=t, timeout="30s")
        self.assertEqual(r.status, 200)
        r = q(self.agent, "/api/v1/query", query="idx_b", timeout="never")
        self.assertEqual(r.status, 400)
        self.assertTrue(r.json()["error"].startswith('invalid parameter "timeout": '))


class Cli(unittest.TestCase):
    """vigil query against a running agent; vigil import openmetrics and vigil tsdb stats on
    a stopped agent's data directory."""

    def test_import_stats_run_query(self):
        tmp = tempfile.mkdtemp(prefix="vigil-it-cli-")
        try:
            data = os.path.join(tmp, "data")
            om = os.path.join(tmp, "in.om")
            base = (int(time.time()) // 60 - 120) * 60
            with open(om, "w") as f:
                f.write("# HELP cli_req Requests.\n# TYPE cli_req counter\n")
                for s in range(2):
                    for i in range(40):
                        f.write('cli_req_total{s="%d"} %d %d\n' % (s, i * (s + 1), base + 15 * i))
                f.write("# EOF\n")
            r = cli("import", "openmetrics", om, "--data", data)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("imported 80 samples, 2 new series", r.stdout)
            r = cli("tsdb", "stats", "--data", data)
            self.assertEqual(r.returncode, 0, r.stderr)
            stats = dict(l.split(None, 1) if not l.startswith(("data directory", "bytes on",
                                                                "oldest", "newest"))
                         else (l[:16].strip(), l[16:].strip()) for l in r.stdout.splitlines())
            self.assertEqual(stats["series"], "2")
            self.assertEqual(stats["samples"], "80")
            self.assertGreater(float(stats["bytes/sample"]), 0)

            r = cli("import", "openmetrics", os.path.join(tmp, "missing.om"), "--data", data)
            self.assertEqual(r.returncode, 1)
            with open(os.path.join(tmp, "bad.om"), "w") as f:
                f.write("cli_bad{ 1\n# EOF\n")
            r = cli("import", "openmetrics", os.path.join(tmp, "bad.om"), "--data", data)
            self.assertEqual(r.returncode, 1)
            self.assertRegex(r.stderr, r"bad\.om:1:\d+: .*\(nothing imported\)")

            with Agent(data_dir=data) as agent:
                r = cli("import", "openmetrics", om, "--data", data)
                self.assertEqual(r.returncode, 1)
                self.assertIn("is in use by another vigil", r.stderr)
                r = cli("tsdb", "stats", "--data", data)
                self.assertEqual(r.returncode, 1)
                self.assertIn("is in use by another vigil", r.stderr)

                t = base + 15 * 39
                r = cli("query", "--server", agent.base, "--time", str(t),
                        "sum by (s) (cli_req_total)")
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = r.stdout.splitlines()
                self.assertEqual(lines[0].split(), ["SERIES", "VALUE"])
                self.assertEqual(sorted(l.split() for l in lines[1:]),
                                 [['{s="0"}', "39"], ['{s="1"}', "78"]])
                r = cli("query", "--server", agent.base, "--range", "--start", str(base),
                        "--end", str(base + 30), "--step", "15s", "--json",
                        'cli_req_total{s="1"}')
                self.assertEqual(r.returncode, 0, r.stderr)
                doc = json.loads(r.stdout)
                self.assertEqual(doc["data"]["result"][0]["values"],
                                 [[base, "0"], [base + 15, "2"], [base + 30, "4"]])
                r = cli("query", "--server", agent.base, "sum(")
                self.assertEqual(r.returncode, 1)
                self.assertIn("bad_data", r.stderr)
            r = cli("query", "--server", "http://127.0.0.1:1", "up")
            self.assertEqual(r.returncode, 1)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Durability(unittest.TestCase):
    def test_acknowledged_push_survives_restart(self):
        a = Agent()
        try:
            ts = int(time.time() * 1000)
            self.assertEqual(push(a, 'durable_test{k="v"} 1234.5\n', timestamp=ts).status, 204)
            a.stop()
            b = Agent(data_dir=a.data_dir)
            try:
                doc = q(b, "/api/v1/query", query="durable_test", time=ts / 1000).json()
                self.assertEqual([s["value"][1] for s in doc["data"]["result"]], ["1234.5"])
            finally:
                b.cleanup()
        finally:
            a.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
