#!/usr/bin/env python3
"""vigil check notify and amtool check-config give the same verdict on the seeds'
Alertmanager file and on good and bad files of our own (skipped without amtool)."""
import os
import shutil
import subprocess
import sys

from notifytest import SEED, TempDir, driver

R = "receivers:\n- name: x\n"
WH = "route:\n  receiver: x\nreceivers:\n- name: x\n  webhook_configs:\n  - url: "
CASES = {
    "good_minimal": "route:\n  receiver: x\n" + R,
    "good_full": """global:
  resolve_timeout: 1m
  smtp_smarthost: 'localhost:25'
  smtp_from: 'a@b.c'
  slack_api_url: 'https://hooks.example/x'
route:
  receiver: x
  group_by: [alertname, cluster]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  routes:
  - matchers: ['severity="critical"', 'team=~"db|web"']
    receiver: y
    continue: true
    routes:
    - match: {env: prod}
      match_re: {zone: 'eu-.*'}
      group_by: ['...']
  - match: {severity: warning}
    receiver: x
inhibit_rules:
- source_matchers: [severity=critical]
  target_match: {severity: warning}
  equal: [alertname]
receivers:
- name: x
  webhook_configs:
  - url: 'http://127.0.0.1:9/hook'
    send_resolved: false
    max_alerts: 10
- name: y
  slack_configs:
  - channel: '#a'
    title: '{{ .CommonLabels.alertname }}'
    text: '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'
  email_configs:
  - to: 'x@y.z'
    headers: {Subject: 'hi'}
  pagerduty_configs:
  - routing_key: 'k'
    severity: critical
""",
    "bad_unknown_field": "route:\n  receiver: x\n  foo: 1\n" + R,
    "bad_undefined_receiver": "route:\n  receiver: y\n" + R,
    "bad_regex": "route:\n  receiver: x\n  routes:\n  - matchers: ['a=~\"(\"']\n" + R,
    "bad_no_receiver": "route:\n  group_wait: 1s\n" + R,
    "bad_root_matchers": "route:\n  receiver: x\n  match: {a: b}\n" + R,
    "bad_duplicate_receiver": "route:\n  receiver: x\n" + R + "- name: x\n",
    "bad_webhook_no_url": WH + "''\n",
    "bad_webhook_scheme": WH + "'ftp://a'\n",
    "bad_webhook_no_host": WH + "'http://'\n",
    "bad_pagerduty_no_key": "route:\n  receiver: x\n" + R + "  pagerduty_configs:\n  - description: a\n",
    "bad_email_no_to": "global:\n  smtp_smarthost: a:25\n  smtp_from: a@b\nroute:\n  receiver: x\n" + R + "  email_configs:\n  - from: a@b\n",
    "bad_email_no_smarthost": "route:\n  receiver: x\n" + R + "  email_configs:\n  - to: a@b\n",
    "bad_slack_no_url": "route:\n  receiver: x\n" + R + "  slack_configs:\n  - channel: a\n",
    "bad_group_by_wildcard": "route:\n  receiver: x\n  group_by: ['...', a]\n" + R,
    "bad_group_by_name": "route:\n  receiver: x\n  group_by: ['a-b']\n" + R,
    "bad_group_by_dup": "route:\n  receiver: x\n  group_by: [a, a]\n" + R,
    "bad_duration": "route:\n  receiver: x\n  group_wait: 10\n" + R,
    "bad_zero_interval": "route:\n  receiver: x\n  group_interval: 0s\n" + R,
    "bad_empty": "",
    "bad_no_route": R,
    "bad_matcher_format": "route:\n  receiver: x\n  routes:\n  - matchers: ['a-b=c']\n" + R,
    "bad_matcher_quote": "route:\n  receiver: x\n  routes:\n  - matchers: ['a=\"b']\n" + R,
    "good_matcher_eqeq": "route:\n  receiver: x\n  routes:\n  - matchers: ['a==b', 'c = d e']\n" + R,
    "bad_match_label": "route:\n  receiver: x\n  routes:\n  - match: {'a-b': c}\n" + R,
    "bad_continue_root": "route:\n  receiver: x\n  continue: true\n" + R,
    "bad_bool": "route:\n  receiver: x\n  continue: 'yes'\n" + R,
    "bad_dup_key": "route:\n  receiver: x\n  receiver: x\n" + R,
    "bad_inhibit_equal": "route:\n  receiver: x\ninhibit_rules:\n- equal: ['a-b']\n" + R,
    "bad_smarthost": "global:\n  smtp_smarthost: nohostport\nroute:\n  receiver: x\n" + R,
    "bad_missing_name": "route:\n  receiver: x\n" + R + "- name: ''\n",
}


def verdict(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    return p.returncode, p.stdout + p.stderr


def main():
    amtool = shutil.which("amtool")
    if amtool is None:
        print("SKIP: amtool not installed")
        return 0
    failures = 0
    with TempDir() as tmp:
        files = [SEED]
        for name, text in CASES.items():
            path = os.path.join(tmp, name + ".yml")
            with open(path, "w") as f:
                f.write(text)
            files.append(path)
        for path in files:
            arc, aout = verdict([amtool, "check-config", path])
            vrc, vout = verdict([driver(), "check", path])
            same = (arc == 0) == (vrc == 0)
            name = os.path.basename(path)
            if name.startswith("good") and arc != 0:
                print(f"FAIL {name}: amtool rejects a file meant to be good:\n{aout}")
                failures += 1
            if name.startswith("bad") and arc == 0:
                print(f"FAIL {name}: amtool accepts a file meant to be bad")
                failures += 1
            if not same or vrc not in (0, 1):
                failures += 1
                print(f"FAIL {name}: amtool rc={arc} vigil rc={vrc}\n  amtool: {aout.strip()}"
                      f"\n  vigil: {vout.strip()}")
            else:
                print(f"ok   {name}: {'valid' if arc == 0 else 'invalid'}")
        # the agent's lenient load runs the seed file unchanged
        rc, out = verdict([driver(), "check", "--lenient", SEED])
        if rc != 0:
            failures += 1
            print(f"FAIL lenient seed load: {out}")
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
