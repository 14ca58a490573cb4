"""Integration tests of the monitoring endpoints on the running agent (issue 5), standard
library only.

Each bad-input case checks the 4xx, the JSON error naming the byte offset or the field, and
that nothing was recorded (the stats are unchanged).
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import vigiltest  # noqa: E402


def call(agent, method, path, body=None):
    data = body.encode() if isinstance(body, str) else (
        json.dumps(body).encode() if body is not None else None)
    r = vigiltest.request(agent.base + path, method=method, body=data,
                          headers={"Content-Type": "application/json"})
    return r.status, r.json()


class MonitorHTTPTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = vigiltest.Agent()

    @classmethod
    def tearDownClass(cls):
        cls.agent.cleanup()

    def stats(self):
        status, doc = call(self.agent, "GET", "/api/v1/operations/stats")
        self.assertEqual(status, 200)
        self.assertEqual(doc["status"], "success")
        return doc["data"]

    def bad(self, method, path, body, want_status, want_text):
        before = self.stats()
        status, doc = call(self.agent, method, path, body)
        self.assertEqual(status, want_status, doc)
        self.assertEqual(doc["status"], "error")
        self.assertIn(want_text, doc["error"])
        after = self.stats()
        self.assertEqual(before["started"], after["started"])
        self.assertEqual(before["finished"], after["finished"])

    def test_operation_lifecycle(self):
        status, doc = call(self.agent, "POST", "/api/v1/operations",
                           {"id": "it-1", "type": "evaluate",
                            "metadata": {"model_id": "gpt2", "profile": "ci"}})
        self.assertEqual(status, 201)
        self.assertEqual(doc["data"]["id"], "it-1")
        status, doc = call(self.agent, "POST", "/api/v1/operations", {"type": "evaluate"})
        self.assertEqual(status, 201)
        generated = doc["data"]["id"]
        self.assertTrue(generated)
        status, doc = call(self.agent, "POST", "/api/v1/operations/it-1/end",
                           {"status": "success", "metrics": {"ratio_vs_baseline": 1.02}})
        self.assertEqual(status, 200)
        status, _ = call(self.agent, "POST", "/api/v1/operations/%s/end" % generated,
                         {"status": "error"})
        self.assertEqual(status, 200)
        t = self.stats()["types"]["evaluate"]
        self.assertEqual(t["count"], 2)
        self.assertEqual(t["success_rate"], 0.5)
        self.assertEqual(set(t["percentiles"]), {"p50", "p90", "p95", "p99"})

    def test_bad_inputs(self):
        call(self.agent, "POST", "/api/v1/operations", {"id": "it-dup", "type": "t"})
        self.bad("POST", "/api/v1/operations", '{"type": "x",}', 400, "byte 14")
        self.bad("POST", "/api/v1/operations", "", 400, "invalid JSON")
        self.bad("POST", "/api/v1/operations", "[]", 400, "JSON object")
        self.bad("POST", "/api/v1/operations", {"type": 5}, 400, '"type"')
        self.bad("POST", "/api/v1/operations", {"id": "x"}, 400, '"type": required')
        self.bad("POST", "/api/v1/operations", {"type": "t", "metadata": []}, 400, '"metadata"')
        self.bad("POST", "/api/v1/operations", {"id": "it-dup", "type": "t"}, 409, "in flight")
        self.bad("POST", "/api/v1/operations/none/end", {"status": "success"}, 404, "none")
        self.bad("POST", "/api/v1/operations/it-dup/end", {"status": 1}, 400, '"status"')
        self.bad("POST", "/api/v1/operations/it-dup/end",
                 {"status": "success", "metrics": {"a": "b"}}, 400, "metrics.a")
        status, _ = call(self.agent, "POST", "/api/v1/operations/it-dup/end",
                         {"status": "success"})
        self.assertEqual(status, 200)
        self.bad("POST", "/api/v1/operations/it-dup/end", {"status": "success"}, 409,
                 "already ended")

    def test_pipelines_canary_alerts(self):
        status, _ = call(self.agent, "PUT", "/api/v1/pipelines/inference/baseline",
                         {"execution_time": 0.05})
        self.assertEqual(status, 200)
        call(self.agent, "POST", "/api/v1/pipelines/inference/executions",
             {"execution_time": 0.048, "success": True})
        call(self.agent, "POST", "/api/v1/pipelines/inference/executions",
             {"execution_time": 0.150, "success": False, "metadata": {"error": "timeout"}})
        status, doc = call(self.agent, "POST", "/api/v1/pipelines/inference/executions",
                           {"execution_time": "x", "success": True})
        self.assertEqual(status, 400)
        self.assertIn("execution_time", doc["error"])
        status, doc = call(self.agent, "GET", "/api/v1/pipelines")
        self.assertEqual(status, 200)
        rep = doc["data"]
        self.assertEqual(rep["overall_health"], "degraded")
        p = rep["pipelines"]["inference"]
        self.assertEqual(p["total_executions"], 2)
        self.assertEqual(p["success_rate"], 0.5)
        self.assertAlmostEqual(p["mean_execution_time"], 0.099)
        self.assertEqual(p["health"], "degraded")

        call(self.agent, "PUT", "/api/v1/canaries/core/baseline", {"score": 0.9})
        status, doc = call(self.agent, "POST", "/api/v1/canaries/core/checks", {"score": 0.81})
        self.assertEqual(doc["data"]["status"], "healthy")   # exactly 10 %: not beyond
        status, doc = call(self.agent, "POST", "/api/v1/canaries/core/checks", {"score": 0.7})
        self.assertEqual(doc["data"]["status"], "degraded")
        status, doc = call(self.agent, "GET", "/api/v1/monitor/alerts?severity=CRITICAL&count=5")
        self.assertEqual(status, 200)
        msgs = [a["message"] for a in doc["data"]["alerts"]]
        self.assertTrue(any("baseline: 0.9" in m and "current: 0.7" in m for m in msgs), msgs)
        status, doc = call(self.agent, "GET", "/api/v1/monitor/alerts?severity=nope")
        self.assertEqual(status, 400)
        metrics = vigiltest.request(self.agent.base + "/metrics").text
        self.assertIn('vigil_monitor_alerts_total{severity="CRITICAL",metric="canary:core"}',
                      metrics)
        self.assertIn("vigil_monitor_canary_degradation_ratio", metrics)

    def test_health_component_checks(self):
        r = vigiltest.request(self.agent.base + "/health/data_dir")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "healthy")
        doc = vigiltest.request(self.agent.base + "/health").json()
        self.assertIn("collectors", doc["components"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
