#!/usr/bin/env python3
"""vigil's Alertmanager forwarder against the real prometheus-alertmanager: alerts sent to
POST /api/v2/alerts show up in its GET /api/v2/alerts with our labels, annotations,
startsAt, generatorURL and the endsAt Prometheus would set; a resolved alert (endsAt in the
past) leaves the active list. Alertmanager runs on free 127.0.0.1 ports with a temporary
--storage.path and clustering off, and is stopped by PID. Skipped when it is not installed."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

from notifytest import TempDir, driver, free_port, stop


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def wait_for(cond, what, limit=60):
    """Polls until cond() holds (a readiness wait, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"gave up waiting for {what}")


def main():
    am = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if am is None:
        print("SKIP: prometheus-alertmanager not installed")
        return 0
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with TempDir() as tmp:
        cfg = os.path.join(tmp, "am.yml")
        with open(cfg, "w") as f:
            f.write("route:\n  receiver: blackhole\nreceivers:\n- name: blackhole\n")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([am, f"--config.file={cfg}",
                                 f"--storage.path={os.path.join(tmp, 'am-data')}",
                                 f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: get(base + "/-/ready")[0] == 200, "alertmanager to be ready")
            fwd = subprocess.Popen([driver(), "forward", base], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)

            def send(line):
                fwd.stdin.write(line + "\nsync\n")
                fwd.stdin.flush()
                return fwd.stdout.readline().strip()

            now = int(time.time() * 1000)
            labels = {"alertname": "GPUHot", "gpu": "0", "severity": "critical"}
            alert = {"labels": labels, "annotations": {"summary": "GPU 0 at 91C"},
                     "startsAt": now, "endsAt": 0, "generatorURL": "http://vigil/graph"}
            send("push " + json.dumps(alert))
            wait_for(lambda: "sent=1" in send(""), "the forwarder to deliver")

            def listed():
                st, body = get(base + "/api/v2/alerts")
                return [a for a in json.loads(body) if a["labels"].get("alertname") == "GPUHot"]

            got = wait_for(listed, "the alert in /api/v2/alerts")
            a = got[0]
            check(a["labels"] == labels, "labels as sent")
            check(a["annotations"] == {"summary": "GPU 0 at 91C"}, "annotations as sent")
            check(a["generatorURL"] == "http://vigil/graph", "generatorURL as sent")
            check(a["status"]["state"] == "active", "alert is active")
            starts = a["startsAt"]
            check(starts.startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1000))),
                  "startsAt as sent")
            # endsAt: Prometheus's ValidUntil, 4 minutes ahead for an open alert
            ends = time.mktime(time.strptime(a["endsAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            check(200 <= ends - now / 1000 <= 260, "endsAt = now + 4m for an open alert")
            # resolve: endsAt in the past -> no longer active
            alert["endsAt"] = now + 1  # resolved just after it started: in the past now
            send("push " + json.dumps(alert))
            wait_for(lambda: "sent=2" in send(""), "the resolve to be delivered")
            wait_for(lambda: not listed(), "the resolved alert to leave the active list")
            check(True, "resolved alert left /api/v2/alerts")
            fwd.stdin.close()
            check(fwd.wait(timeout=60) == 0, "forwarder stops cleanly")
        finally:
            stop(proc)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
