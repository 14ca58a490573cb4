"""Integration tests of the store and the Prometheus HTTP API of `vigil run` (issues 6 and 7):
collected and imported samples come back through /api/v1/query, query_range, labels, label
values and status/tsdb with Prometheus's JSON; errors use Prometheus's types and codes; samples
survive a restart (WAL replay).
"""
import os
import time
import unittest
import urllib.parse

from vigiltest import Agent, wait_until


def q(agent, path, **params):
    return agent.get(path + "?" + urllib.parse.urlencode(params))


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
        self.assertTrue(doc["data"]["seriesCountByMetricName"])
        doc = self.agent.get("/api/v1/status/config").json()
        self.assertIn("listen:", doc["data"]["yaml"])
        doc = q(self.agent, "/api/v1/format_query", query="sum(rate(x[5m]))by(job)").json()
        self.assertEqual(doc["data"], "sum by (job) (rate(x[5m]))")


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
