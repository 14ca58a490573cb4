#!/usr/bin/env python3
"""The notifier end to end on 127.0.0.1: a local webhook sink receives the exact Alertmanager
webhook payload (version 4, every field, in order); the file and exec receivers get the same
JSON; a restart neither repeats a notification nor loses the resolve; a silence stops one.

Absence is never asserted by waiting: groups created together flush in creation order within
one tick and sends are sequential, so the arrival of a later group's notification proves an
earlier group was handled and would have arrived first."""
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import time

from notifytest import TempDir, driver, stop

BODIES = queue.Queue()


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        BODIES.put((self.path, self.headers.get("Content-Type"), self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def fingerprint(labels):
    """Alertmanager's model.LabelSet.Fingerprint: FNV-1a 64 over sorted names and values."""
    h = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode():
                h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ 255) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def rfc3339(ms):
    t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    frac = ("%03d" % (ms % 1000)).rstrip("0")
    return t + ("." + frac if frac else "") + "Z"


class Driver:
    def __init__(self, cfg, data):
        self.p = subprocess.Popen([driver(), "run", cfg, data, "http://vigil.example:9100"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.write("sync\n")
        self.p.stdin.flush()
        out = []
        while True:
            got = self.p.stdout.readline()
            if got == "" or got.strip() == "ok":
                return out
            out.append(got.strip())

    def push(self, labels, starts, ends=0, ann=None):
        self.cmd("push " + json.dumps({"labels": labels, "annotations": ann or {},
                                       "startsAt": starts, "endsAt": ends,
                                       "generatorURL": "http://prom/graph?g0.expr=up"}))

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=60)
        if rc != 0:
            raise SystemExit(f"driver exited {rc}")


class Pairs(list):
    """A JSON object's members in their order, as json.loads(object_pairs_hook=Pairs) gives."""


def go_json(v):
    """v (parsed with object_pairs_hook=Pairs) written as Go's encoding/json writes it:
    compact, <, >, & and U+2028/9 escaped, control characters other than \\n \\r \\t as
    \\u00XX, everything else as UTF-8."""
    if isinstance(v, Pairs):
        return "{" + ",".join(go_json(k) + ":" + go_json(x) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    if isinstance(v, str):
        out = []
        for c in v:
            if c in '"\\':
                out.append("\\" + c)
            elif c in "\n\r\t":
                out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
            elif ord(c) < 0x20 or c in "<>&\u2028\u2029":
                out.append("\\u%04x" % ord(c))
            else:
                out.append(c)
        return '"' + "".join(out) + '"'
    return json.dumps(v)


def next_body():
    path, ctype, body = BODIES.get(timeout=60)
    assert path == "/hook", path
    assert ctype == "application/json", ctype
    return body


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with TempDir() as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        lines = os.path.join(tmp, "alerts.jsonl")
        execout = os.path.join(tmp, "exec.out")
        cfg = os.path.join(tmp, "am.yml")
        with open(cfg, "w") as f:
            f.write(f"""route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: 'http://127.0.0.1:{port}/hook'
  file_configs:
  - path: '{lines}'
  exec_configs:
  - command: ['/usr/bin/tee', '-a', '{execout}']
    timeout: 10s
""")
        now = int(time.time() * 1000)
        a = {"alertname": "DiskFull", "instance": "h1:9100", "mount": "<a> & \u2028\u2029\x01",
             "severity": "warning"}
        d = Driver(cfg, data)
        d.push(a, now, ann={"summary": "disk full"})
        raw = next_body()
        body = json.loads(raw)
        expected = {
            "receiver": "hook", "status": "firing",
            "alerts": [{"status": "firing", "labels": a,
                        "annotations": {"summary": "disk full"},
                        "startsAt": rfc3339(now), "endsAt": body["alerts"][0]["endsAt"],
                        "generatorURL": "http://prom/graph?g0.expr=up",
                        "fingerprint": fingerprint(a)}],
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": a, "commonAnnotations": {"summary": "disk full"},
            "externalURL": "http://vigil.example:9100", "version": "4",
            "groupKey": '{}:{alertname="DiskFull"}', "truncatedAlerts": 0,
        }
        check(body == expected, "webhook payload is exact")
        order = [k for k, _ in json.loads(raw, object_pairs_hook=lambda p: p)]
        check(order == ["receiver", "status", "alerts", "groupLabels", "commonLabels",
                        "commonAnnotations", "externalURL", "version", "groupKey",
                        "truncatedAlerts"], "webhook fields in Alertmanager's order")
        check(raw == (go_json(json.loads(raw, object_pairs_hook=Pairs)) + "\n").encode(),
              "webhook body is byte for byte Go's json.Encoder output (escapes, final newline)")
        check(b"\\u003ca\\u003e \\u0026 \\u2028\\u2029\\u0001" in raw,
              "<, >, &, U+2028/9 and control characters escaped as Go does")
        # endsAt: no end given -> now + resolve_timeout (5m), after startsAt
        check(body["alerts"][0]["endsAt"] > rfc3339(now), "open alert gets endsAt in the future")
        d.close()
        with open(lines) as f:
            got = [json.loads(line) for line in f]
        check(got == [body], "file receiver wrote the same JSON line")
        with open(execout) as f:
            check(json.loads(f.read()) == body, "exec receiver got the JSON on stdin")

        # restart: the same firing alert again -> no repeat; a new group proves the order
        d = Driver(cfg, data)
        d.push(a, now, ann={"summary": "disk full"})
        d.push({"alertname": "Other"}, int(time.time() * 1000))
        body = json.loads(next_body())
        check(body["groupLabels"] == {"alertname": "Other"},
              "after a restart the already-notified group is not repeated")
        # resolve while running: the resolve arrives
        end = int(time.time() * 1000) - 1
        d.push(a, now, ends=end, ann={"summary": "disk full"})
        body = json.loads(next_body())
        check(body["status"] == "resolved" and body["alerts"][0]["status"] == "resolved"
              and body["alerts"][0]["endsAt"] == rfc3339(end), "the resolve arrives")
        # a silence stops one group; the group created after it proves the order
        out = d.cmd("silence alertname=\"Muted\"\t600000")
        check(len(out) == 1 and out[0].startswith("silence "), "silence created")
        d.push({"alertname": "Muted"}, int(time.time() * 1000))
        d.push({"alertname": "Loud"}, int(time.time() * 1000))
        body = json.loads(next_body())
        check(body["groupLabels"] == {"alertname": "Loud"}, "the silenced alert is not sent")
        d.close()
    server.shutdown()
    check(BODIES.empty(), "no unexpected notifications")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
