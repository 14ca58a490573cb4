"""Alerts from vigil's rules reach a real Prometheus Alertmanager (issue 8, "Forwarding"):
Debian's prometheus-alertmanager on 127.0.0.1 (started and stopped by PID, clustering off)
shows the alert in its /api/v2/alerts with our labels and annotations, and vigil counts the
accepted batches in vigil_notifications_sent_total.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from vigiltest import Agent, wait_until, free_port

ALERTMANAGER = shutil.which("prometheus-alertmanager")

RULES = """groups:
  - name: forward
    interval: 1s
    rules:
      - alert: VigilForwardTest
        expr: vector(1)
        labels:
          severity: page
        annotations:
          summary: "forwarded by vigil"
"""

AM_CONFIG = """route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


class Forwarding(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(ALERTMANAGER, "prometheus-alertmanager is not installed (scripts/deps.sh)")
        self.tmp = tempfile.mkdtemp(prefix="vigil-am-")
        cfg = os.path.join(self.tmp, "am.yml")
        with open(cfg, "w") as f:
            f.write(AM_CONFIG)
        self.port = free_port()
        self.log = open(os.path.join(self.tmp, "am.log"), "wb")
        self.am = subprocess.Popen(
            [ALERTMANAGER, "--config.file", cfg, "--storage.path", os.path.join(self.tmp, "data"),
             "--web.listen-address", "127.0.0.1:%d" % self.port, "--cluster.listen-address="],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.am_ready, "Alertmanager to become ready")

    def tearDown(self):
        self.am.terminate()
        self.am.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def am_ready(self):
        if self.am.poll() is not None:
            raise AssertionError("alertmanager exited: " + open(self.log.name).read())
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.port, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def am_alerts(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v2/alerts" % self.port,
                                    timeout=5) as r:
            return [a for a in json.load(r) if a["labels"].get("alertname") == "VigilForwardTest"]

    def test_alert_reaches_alertmanager(self):
        rules = os.path.join(self.tmp, "rules.yml")
        with open(rules, "w") as f:
            f.write(RULES)
        with Agent("--rules", rules,
                   "--alerting.alertmanagers=http://127.0.0.1:%d" % self.port) as a:
            (alert,) = wait_until(self.am_alerts, "the alert in Alertmanager")
            self.assertEqual(alert["labels"], {"alertname": "VigilForwardTest", "severity": "page"})
            self.assertEqual(alert["annotations"], {"summary": "forwarded by vigil"})
            self.assertEqual(alert["status"]["state"], "active")
            text = a.get("/metrics").text
            m = re.search(r'(?m)^vigil_notifications_sent_total\{alertmanager="[^"]+"\} (\d+)$',
                          text)
            self.assertIsNotNone(m, text)
            self.assertGreaterEqual(int(m.group(1)), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
