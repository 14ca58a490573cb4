"""Notifications end to end (issue 8): `vigil run` with a rule file and an Alertmanager
configuration (--notify.config) delivers the rule's alert itself and forwards it to a real
Alertmanager (alerting.alertmanagers).

The alert fires from pushed data (POST /api/v1/import/prometheus). Checked, in order:
  - the webhook receives Alertmanager's webhook JSON version 4, every field equal to what
    Alertmanager would send for this alert (fingerprint and times computed independently);
  - a local SMTP server receives the e-mail of email_configs, through libcurl;
  - Debian's prometheus-alertmanager lists the alert in its /api/v2/alerts;
  - a silence created through vigil's /api/v2/silences survives a restart of vigil and keeps a
    new alert of the group from being notified;
  - the restart repeats nothing and keeps the alert's startsAt (the notification log and the
    alerts are in the data directory);
  - the resolve arrives (send_resolved) at both receivers, exactly once.

Nothing here measures time. "Nothing was sent" is proven with a barrier: an alert of another
group pushed after the awaited decision, whose own notification can only come later (groups
flush in creation order on one thread, each send finished before the next starts).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from notifysinks import (Alertmanager, SmtpSink, WebhookSink, email_headers, fingerprint,
                         go_time, parse_time_ms)
from vigiltest import Agent, free_port, request, wait_until

DEADLINE = 90  # generous: the box is shared; a wait fails only when the thing never happens

RULES = """groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: GpuHot
        expr: e2e_gpu_temp_celsius > 85
        for: 2s
        labels:
          severity: critical
        annotations:
          summary: "GPU {{ $labels.gpu }} at {{ $value }}C"
      - alert: Barrier
        expr: e2e_barrier > 0
        for: 2s
"""

NOTIFY = """global:
  smtp_smarthost: 127.0.0.1:%(smtp)d
  smtp_from: vigil@example.org
  smtp_require_tls: false
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: barrier
      matchers: ['alertname="Barrier"']
receivers:
  - name: team
    webhook_configs:
      - url: %(hook)s
    email_configs:
      - to: oncall@example.org
        send_resolved: true
  - name: barrier
    webhook_configs:
      - url: %(hook)s
"""


class NotifyEndToEnd(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(Alertmanager.BINARY,
                             "prometheus-alertmanager is not installed (scripts/deps.sh)")
        self.tmp = tempfile.mkdtemp(prefix="vigil-notify-e2e-")
        self.hook = WebhookSink()
        self.smtp = SmtpSink()
        self.am = Alertmanager(self.tmp)
        self.rules = os.path.join(self.tmp, "rules.yml")
        with open(self.rules, "w") as f:
            f.write(RULES)
        self.notify = os.path.join(self.tmp, "alertmanager.yml")
        with open(self.notify, "w") as f:
            f.write(NOTIFY % {"smtp": self.smtp.port, "hook": self.hook.url})
        self.data = os.path.join(self.tmp, "data")
        self.port = free_port()
        self.agent = None

    def tearDown(self):
        if self.agent is not None:
            self.agent.cleanup()
        self.am.stop()
        self.hook.close()
        self.smtp.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        self.agent = Agent("--rules", self.rules, "--notify.config", self.notify,
                           "--alerting.alertmanagers", self.am.base, "--collect.interval", "5s",
                           data_dir=self.data, port=self.port)

    def push(self, text):
        r = self.agent.post("/api/v1/import/prometheus", text.encode(),
                            headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 204, r.text)

    def group(self, alertname):
        return [p for p in self.hook.payloads() if p["groupLabels"].get("alertname") == alertname]

    def wait_group(self, alertname, count, what):
        return wait_until(lambda: len(self.group(alertname)) >= count and self.group(alertname),
                          what, DEADLINE)

    def barrier(self, round_):
        """Pushes a Barrier alert and waits for its notification (see the module docstring)."""
        self.push('e2e_barrier{round="%d"} 1\n' % round_)
        wait_until(lambda: any(a["labels"].get("round") == str(round_)
                               for p in self.group("Barrier") for a in p["alerts"]),
                   "barrier %d" % round_, DEADLINE)

    def expected_payload(self, status, alerts):
        """Alertmanager's webhook document for the GpuHot group; `alerts` are (status, labels,
        annotations, startsAt, endsAt)."""
        base = "http://127.0.0.1:%d" % self.port
        url = base + "/graph?g0.expr=" + urllib.parse.quote_plus("e2e_gpu_temp_celsius > 85") + \
            "&g0.tab=1"
        items = [{"status": st, "labels": l, "annotations": a, "startsAt": s, "endsAt": e,
                  "generatorURL": url, "fingerprint": fingerprint(l)}
                 for st, l, a, s, e in alerts]
        common = dict(alerts[0][1])
        for _, l, _, _, _ in alerts[1:]:
            common = {k: v for k, v in common.items() if l.get(k) == v}
        common_ann = dict(alerts[0][2])
        for _, _, a, _, _ in alerts[1:]:
            common_ann = {k: v for k, v in common_ann.items() if a.get(k) == v}
        return {"receiver": "team", "status": status, "alerts": items,
                "groupLabels": {"alertname": "GpuHot"}, "commonLabels": common,
                "commonAnnotations": common_ann, "externalURL": base, "version": "4",
                "groupKey": '{}:{alertname="GpuHot"}', "truncatedAlerts": 0}

    def active_at_ms(self, gpu):
        alerts = self.agent.get("/api/v1/alerts").json()["data"]["alerts"]
        (a,) = [a for a in alerts if a["labels"].get("gpu") == gpu]
        return parse_time_ms(a["activeAt"])

    def test_end_to_end(self):
        gpu0 = {"alertname": "GpuHot", "gpu": "0", "severity": "critical"}
        gpu0_ann = {"summary": "GPU 0 at 91C"}

        # 1. The alert fires: webhook, e-mail, Alertmanager.
        self.start()
        self.push('e2e_gpu_temp_celsius{gpu="0"} 91\n')
        (first,) = self.wait_group("GpuHot", 1, "the firing notification at the webhook")
        # startsAt is the rule's FiredAt (as Prometheus sends it): the first evaluation at
        # least `for` (2s) after ActiveAt, evaluations being 1s apart
        starts, ends = first["alerts"][0]["startsAt"], first["alerts"][0]["endsAt"]
        self.assertEqual(starts, go_time(parse_time_ms(starts)))
        fired_after = parse_time_ms(starts) - self.active_at_ms("0")
        self.assertGreaterEqual(fired_after, 2000)
        self.assertEqual(fired_after % 1000, 0)
        # a firing alert's endsAt is the rule's ValidUntil: 4 x max(resend delay 1m, 1s) after
        # the evaluation that sent it, which is at or after ActiveAt
        self.assertGreaterEqual(parse_time_ms(ends) - parse_time_ms(starts), 240000)
        self.assertEqual(ends, go_time(parse_time_ms(ends)))
        self.assertEqual(first, self.expected_payload(
            "firing", [("firing", gpu0, gpu0_ann, starts, ends)]))

        (mail,) = wait_until(self.smtp.all, "the e-mail at the SMTP server", DEADLINE)
        sender, rcpt, data = mail
        self.assertEqual(sender, "<vigil@example.org>")
        self.assertEqual(rcpt, ["<oncall@example.org>"])
        fields, body = email_headers(data)
        self.assertEqual(fields["Subject"], "[FIRING:1] GpuHot (0 critical)")
        self.assertEqual(fields["From"], "vigil@example.org")
        self.assertEqual(fields["To"], "oncall@example.org")
        self.assertIn("GPU 0 at 91C", body)

        (am_alert,) = wait_until(lambda: self.am.alerts("GpuHot"), "the alert in Alertmanager",
                                 DEADLINE)
        self.assertEqual(am_alert["labels"], gpu0)
        self.assertEqual(am_alert["annotations"], gpu0_ann)
        self.assertEqual(am_alert["status"]["state"], "active")
        self.assertEqual(parse_time_ms(am_alert["startsAt"]), parse_time_ms(starts))

        # 2. A silence through vigil's API (Alertmanager's v2 shapes), for a GPU not firing yet.
        r = self.agent.post("/api/v2/silences", json.dumps({
            "matchers": [{"name": "alertname", "value": "GpuHot", "isRegex": False},
                         {"name": "gpu", "value": "1|2", "isRegex": True}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00.000Z",
            "createdBy": "e2e", "comment": "maintenance of GPU 1"}).encode(),
            headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.text)
        silence_id = r.json()["silenceID"]
        bad = self.agent.post("/api/v2/silences", b'{"matchers": []}',
                              headers={"Content-Type": "application/json"})
        self.assertEqual(bad.status, 400)
        self.assertIn("matchers", bad.json()["error"])

        # 3. Restart: the notification log and the silence come back from the data directory.
        self.agent.stop()
        self.start()
        (held0,) = wait_until(lambda: [a for a in self.agent.get("/api/v2/alerts").json()
                                       if a["labels"] == gpu0],
                              "the re-sent alert in the restarted notifier", DEADLINE)
        # The notifier kept the alert in its state file: the rules' re-sent copy (a new
        # FiredAt) merges into it and the first startsAt stays, as in an Alertmanager that
        # outlived a Prometheus restart.
        self.assertEqual(parse_time_ms(held0["startsAt"]), parse_time_ms(starts))
        self.assertEqual(held0["receivers"], [{"name": "team"}])
        self.assertEqual(held0["fingerprint"], fingerprint(gpu0))
        self.barrier(1)
        self.assertEqual(len(self.group("GpuHot")), 1, "the restart repeated a notification")
        self.assertEqual(len(self.smtp.all()), 1, "the restart repeated the e-mail")
        (sil,) = self.agent.get("/api/v2/silences").json()
        self.assertEqual(sil["id"], silence_id)
        self.assertEqual(sil["status"], {"state": "active"})
        self.assertEqual(sil["createdBy"], "e2e")
        self.assertEqual(sil["comment"], "maintenance of GPU 1")
        self.assertEqual(sil["endsAt"], "2099-01-01T00:00:00.000Z")
        self.assertEqual(sil["matchers"], [
            {"name": "alertname", "value": "GpuHot", "isRegex": False, "isEqual": True},
            {"name": "gpu", "value": "1|2", "isRegex": True, "isEqual": True}])
        self.assertEqual(self.agent.get("/api/v2/silence/" + silence_id).json(), sil)

        # 4. The silenced GPU fires: the group's firing set changes only by a muted alert, so
        # nothing is sent.
        self.push('e2e_gpu_temp_celsius{gpu="1"} 95\n')
        gpu1 = dict(gpu0, gpu="1")
        held = wait_until(lambda: [a for a in self.agent.get("/api/v2/alerts").json()
                                   if a["labels"] == gpu1], "the silenced alert", DEADLINE)
        self.assertEqual(held[0]["status"], {"state": "suppressed", "silencedBy": [silence_id],
                                             "inhibitedBy": []})
        self.barrier(2)
        self.assertEqual(len(self.group("GpuHot")), 1, "a silenced alert was notified")
        self.assertEqual(len(self.smtp.all()), 1, "a silenced alert was e-mailed")

        # 5. Resolve: both receivers hear it once; the silenced alert stays out.
        self.push('e2e_gpu_temp_celsius{gpu="0"} 40\ne2e_gpu_temp_celsius{gpu="1"} 40\n')
        resolved = self.wait_group("GpuHot", 2, "the resolve at the webhook")[1]
        r_ends = resolved["alerts"][0]["endsAt"]
        self.assertLess(parse_time_ms(starts), parse_time_ms(r_ends))
        self.assertEqual(resolved, self.expected_payload(
            "resolved", [("resolved", gpu0, gpu0_ann, starts, r_ends)]))
        mails = wait_until(lambda: len(self.smtp.all()) >= 2 and self.smtp.all(),
                           "the resolve e-mail", DEADLINE)
        self.assertEqual(email_headers(mails[1][2])[0]["Subject"], "[RESOLVED] GpuHot (0 critical)")
        wait_until(lambda: not self.am.alerts("GpuHot"), "the resolve in Alertmanager", DEADLINE)
        self.barrier(3)
        self.assertEqual(len(self.group("GpuHot")), 2)
        self.assertEqual(len(self.smtp.all()), 2)

        # 6. The notifier's metrics; expiring the silence.
        metrics = self.agent.get("/metrics").text
        self.assertIn('vigil_notify_notifications_total{integration="webhook"} ', metrics)
        self.assertIn('vigil_notify_silences{state="active"} 1', metrics)
        # Expiring, then expiring the expired silence again, answer as the real Alertmanager
        # answers the same two requests: 200, no Content-Type, an empty body, both times.
        def answer(r):
            return (r.status, r.headers.get("Content-Type"), r.body)

        am_sid = request(self.am.base + "/api/v2/silences", method="POST", body=json.dumps({
            "matchers": [{"name": "alertname", "value": "E2eExpireTwice", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00.000Z",
            "createdBy": "e2e", "comment": "expired twice"}).encode(),
            headers={"Content-Type": "application/json"}).json()["silenceID"]
        am_answers = [answer(request(self.am.base + "/api/v2/silence/" + am_sid,
                                     method="DELETE")) for _ in range(2)]
        self.assertEqual(am_answers, [(200, None, b"")] * 2)
        first = self.agent.get("/api/v2/silence/" + silence_id, method="DELETE")
        self.assertEqual(answer(first), am_answers[0], first.text)
        expired = self.agent.get("/api/v2/silence/" + silence_id).json()
        self.assertEqual(expired["status"], {"state": "expired"})
        again = self.agent.get("/api/v2/silence/" + silence_id, method="DELETE")
        self.assertEqual(answer(again), am_answers[1], again.text)
        self.assertEqual(self.agent.get("/api/v2/silence/" + silence_id).json(), expired)
        self.assertEqual(self.agent.get("/api/v2/silence/nope").status, 404)


SEED = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                     "..", "shared", "seeds", "configs",
                                     "guardian-alertmanager.yml"))


class SeedConfig(unittest.TestCase):
    @unittest.skipUnless(os.path.exists(SEED), "the seeds' guardian-alertmanager.yml is absent")
    def test_seed_loads_unchanged(self):
        """The seeds' file (placeholder Slack URLs, e-mail subject/body) runs as it is: the
        placeholders disable their integrations with a warning."""
        with Agent("--notify.config", SEED) as a:
            self.assertEqual(a.get("/api/v2/silences").json(), [])
            warnings = [l for l in a.log_lines()
                        if l.get("msg") == "notify.config loaded with a warning"]
            self.assertEqual(len(warnings), 4, a.log_text())
            self.assertIn("slack #0 disabled", warnings[0]["warning"])


class Reload(unittest.TestCase):
    def test_bad_file_keeps_the_running_notifier(self):
        """POST /-/reload re-reads notify.config: a bad file rejects the reload with its
        position and the running notifier (and its silences) stays; a good one is taken."""
        with tempfile.TemporaryDirectory(prefix="vigil-reload-") as tmp:
            cfg = os.path.join(tmp, "am.yml")
            good = "route:\n  receiver: none\nreceivers:\n  - name: none\n"
            with open(cfg, "w") as f:
                f.write(good)
            with Agent("--notify.config", cfg) as a:
                r = a.post("/api/v2/silences", json.dumps({
                    "matchers": [{"name": "alertname", "value": "X", "isRegex": False}],
                    "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                    "createdBy": "t", "comment": "c"}).encode())
                self.assertEqual(r.status, 200, r.text)
                with open(cfg, "w") as f:
                    f.write(good + "  - name: none\n")
                r = a.post("/-/reload")
                self.assertEqual(r.status, 500)
                self.assertIn("notify.config: " + cfg + ":5:", r.json()["error"])
                self.assertEqual(len(a.get("/api/v2/silences").json()), 1)
                with open(cfg, "w") as f:
                    f.write(good.replace("none", "other"))
                self.assertEqual(a.post("/-/reload").status, 200)
                self.assertEqual(len(a.get("/api/v2/silences").json()), 1)

    def test_reload_that_cannot_start_the_notifier_fails(self):
        """Turning notifications on by reload reports a notifier that cannot start (its state
        directory is unusable) as a failed reload, not a success with an error in the log."""
        with tempfile.TemporaryDirectory(prefix="vigil-reload-") as tmp:
            am = os.path.join(tmp, "am.yml")
            with open(am, "w") as f:
                f.write("route:\n  receiver: none\nreceivers:\n  - name: none\n")
            config = os.path.join(tmp, "vigil.yml")
            with open(config, "w") as f:
                f.write("log:\n  level: info\n")
            with Agent("--config", config) as a:
                self.assertEqual(a.get("/api/v2/alerts").status, 503)
                with open(os.path.join(a.data_dir, "notify"), "w") as f:
                    f.write("in the way\n")
                with open(config, "w") as f:
                    f.write("notify:\n  config: %s\n" % am)
                r = a.post("/-/reload")
                self.assertEqual(r.status, 500)
                self.assertIn("notify state directory", r.json()["error"])
                self.assertIn("not a directory", r.json()["error"])
                self.assertEqual(a.get("/api/v2/alerts").status, 503)
                os.unlink(os.path.join(a.data_dir, "notify"))
                self.assertEqual(a.post("/-/reload").status, 200)
                self.assertEqual(a.get("/api/v2/alerts").status, 200)


class Amtool(unittest.TestCase):
    @unittest.skipUnless(shutil.which("amtool"), "amtool is not installed")
    def test_amtool_manages_silences(self):
        """Alertmanager's own client works against vigil's /api/v2 silences."""
        with tempfile.TemporaryDirectory(prefix="vigil-amtool-") as tmp:
            cfg = os.path.join(tmp, "am.yml")
            with open(cfg, "w") as f:
                f.write("route:\n  receiver: none\nreceivers:\n  - name: none\n")
            with Agent("--notify.config", cfg) as a:
                url = "--alertmanager.url=" + a.base

                def amtool(*args):
                    r = subprocess.run(["amtool", url] + list(args), capture_output=True,
                                       text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    return r.stdout.strip()

                sid = amtool("silence", "add", 'alertname="Foo"', "-c", "why", "-a", "me",
                             "-d", "1h")
                self.assertEqual(amtool("silence", "query", "-q"), sid)
                (s,) = a.get("/api/v2/silences").json()
                self.assertEqual((s["id"], s["comment"], s["createdBy"]), (sid, "why", "me"))
                amtool("silence", "expire", sid)
                self.assertEqual(amtool("silence", "query", "-q"), "")
                self.assertEqual(a.get("/api/v2/silence/" + sid).json()["status"],
                                 {"state": "expired"})

    @unittest.skipUnless(shutil.which("amtool"), "amtool is not installed")
    def test_amtool_queries_alerts_with_filters(self):
        """`amtool alert query` sends Alertmanager's filter, silenced and receiver parameters."""
        with tempfile.TemporaryDirectory(prefix="vigil-amtool-") as tmp:
            cfg = os.path.join(tmp, "am.yml")
            with open(cfg, "w") as f:
                f.write("route:\n  receiver: none\n  group_wait: 1h\n  routes:\n"
                        "  - matchers: [team=db]\n    receiver: db\n"
                        "receivers:\n  - name: none\n  - name: db\n")
            rules = os.path.join(tmp, "rules.yml")
            with open(rules, "w") as f:
                f.write("groups:\n- name: g\n  interval: 1s\n  rules:\n"
                        "  - alert: DiskFull\n    expr: vector(1)\n"
                        "    labels: {severity: warning}\n"
                        "  - alert: DbDown\n    expr: vector(1)\n"
                        "    labels: {severity: critical, team: db}\n")
            with Agent("--notify.config", cfg, "--rules", rules) as a:
                url = "--alertmanager.url=" + a.base

                def names(*args):
                    r = subprocess.run(["amtool", url, "-o", "json", "alert", "query"] +
                                       list(args), capture_output=True, text=True, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    return sorted(x["labels"]["alertname"] for x in json.loads(r.stdout))

                wait_until(lambda: names() == ["DbDown", "DiskFull"], "both alerts")
                self.assertEqual(names("severity=warning"), ["DiskFull"])
                self.assertEqual(names("--receiver=db"), ["DbDown"])
                r = a.post("/api/v2/silences", json.dumps({
                    "matchers": [{"name": "alertname", "value": "DbDown", "isRegex": False}],
                    "startsAt": "2020-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
                    "createdBy": "t", "comment": "c"}).encode())
                self.assertEqual(r.status, 200, r.text)
                self.assertEqual(names(), ["DiskFull"])  # amtool asks for silenced=false
                self.assertEqual(names("--silenced"), ["DbDown"])  # silenced only
                r = a.get("/api/v2/alerts?active=maybe")
                self.assertEqual(r.status, 400)
                self.assertIn("active: want true or false", r.json()["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
