"""Rules in `vigil run` (issue 8): rule files from --rules and rule_files, recording rules
writing back into the store, alerts from collected data in /api/v1/alerts and ALERTS, reloads
that keep the old rules when a new file is bad.
"""
import os
import re
import shutil
import signal
import tempfile
import unittest
import urllib.parse

from vigiltest import Agent, run_vigil, wait_until, free_port

GOOD = """groups:
  - name: host
    interval: 1s
    rules:
      - record: instance:memory_total:bytes
        expr: sum(node_memory_MemTotal_bytes)
      - alert: AgentUp
        expr: vigil_tsdb_head_series > 0
        labels:
          severity: info
        annotations:
          summary: "{{ $value | humanize }} series in the head"
"""

BAD = """groups:
  - name: host
    rules:
      - alert: Broken
        expr: sum(
"""


def query(agent, expr):
    return agent.get("/api/v1/query?" + urllib.parse.urlencode({"query": expr})).json()


class AgentRules(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.rules = os.path.join(self.tmp, "host.yml")
        with open(self.rules, "w") as f:
            f.write(GOOD)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_recording_and_alerting_rules_run(self):
        with Agent("--rules", self.rules) as a:
            doc = wait_until(lambda: (lambda d: d if d["data"]["result"] else None)(
                query(a, "instance:memory_total:bytes")), "the recording rule's series")
            with open("/proc/meminfo") as f:
                total = int(f.readline().split()[1]) * 1024
            self.assertEqual(doc["data"]["result"][0]["value"][1], str(total))
            alerts = wait_until(lambda: (lambda d: d["data"]["alerts"] or None)(
                a.get("/api/v1/alerts").json()), "the alert to fire")
            (alert,) = alerts
            self.assertEqual(alert["labels"]["alertname"], "AgentUp")
            self.assertEqual(alert["labels"]["severity"], "info")
            self.assertEqual(alert["state"], "firing")
            self.assertRegex(alert["annotations"]["summary"], r"^\d+(\.\d+)?k? series in the head$")
            groups = a.get("/api/v1/rules").json()["data"]["groups"]
            self.assertEqual([g["name"] for g in groups], ["host"])
            self.assertEqual([r["type"] for r in groups[0]["rules"]], ["recording", "alerting"])
            alerts_series = wait_until(lambda: query(a, 'ALERTS{alertname="AgentUp"}')["data"]["result"],
                                       "the ALERTS series")
            self.assertEqual(alerts_series[0]["metric"]["alertstate"], "firing")

    def test_bad_rule_file_fails_start_with_position(self):
        bad = os.path.join(self.tmp, "bad.yml")
        with open(bad, "w") as f:
            f.write(BAD)
        p = run_vigil("run", "--listen", "127.0.0.1:%d" % free_port(), "--data",
                      os.path.join(self.tmp, "d"), "--rules", bad)
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, re.escape(bad) + r":\d+:\d+: ")

    def test_reload_with_bad_rules_keeps_old(self):
        cfg = os.path.join(self.tmp, "vigil.yml")
        with open(cfg, "w") as f:
            f.write("rule_files: [host.yml]\n")
        with Agent("--config", cfg) as a:
            wait_until(lambda: a.get("/api/v1/rules").json()["data"]["groups"], "rules loaded")
            with open(self.rules, "w") as f:
                f.write(BAD)
            a.signal(signal.SIGHUP)
            failed = wait_until(lambda: [l for l in a.log_lines()
                                         if l["msg"] == "config reload failed"], "reload failure")
            self.assertIn(self.rules + ":", failed[0]["error"])
            groups = a.get("/api/v1/rules").json()["data"]["groups"]
            self.assertEqual([r["name"] for r in groups[0]["rules"]],
                             ["instance:memory_total:bytes", "AgentUp"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
