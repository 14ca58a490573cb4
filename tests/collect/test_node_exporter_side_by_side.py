#!/usr/bin/env python3
"""Side by side with the real prometheus-node-exporter (Debian's 1.5) on 127.0.0.1.

node_exporter runs with only the collectors vigil implements so far, each under its own name:
cpu, stat, meminfo, vmstat, loadavg, diskstats, filesystem, netdev, pressure, filefd, uname,
os, time (all with node_exporter's default flags, so the default exclusions of both sides
meet). We scrape it, run collect_dump (collect_run_once() of every host collector on the live
/proc, /sys and /) and scrape it again. Then, for every metric name both expose:

  * the label sets are identical;
  * static values are equal: sizes and limits (node_memory_MemTotal_bytes,
    node_filesystem_size_bytes, ...), the *_info metrics, boot time;
  * counters (TYPE counter) are within 2 % of node_exporter's, or between its two scrapes
    (a counter read between two reads of a monotonic counter must lie between them);
  * node_time_seconds is within 5 s. Other gauges (free memory, load, procs_running) move on
    their own between reads and are compared by label set only.

Also: every node_* name vigil exposes must exist in node_exporter's output, so a misspelt
name cannot hide behind "names both expose". node_exporter's extra names (netlink's
receive_nohandler, node_disk_info from udev) are listed, not failed.
Exit 77 (skipped) when node_exporter is not installed.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

NODE_EXPORTER = os.environ.get("NODE_EXPORTER", "/usr/bin/prometheus-node-exporter")
COLLECT_DUMP = os.environ.get("COLLECT_DUMP", "")
COLLECTORS = ["cpu", "stat", "meminfo", "vmstat", "loadavg", "diskstats", "filesystem",
              "netdev", "pressure", "filefd", "uname", "os", "time"]
STATIC = {
    "node_memory_MemTotal_bytes", "node_memory_SwapTotal_bytes", "node_memory_VmallocTotal_bytes",
    "node_memory_HugePages_Total", "node_memory_Hugepagesize_bytes",
    "node_memory_DirectMap4k_bytes", "node_memory_DirectMap2M_bytes",
    "node_memory_DirectMap1G_bytes", "node_filesystem_size_bytes", "node_filesystem_files",
    "node_filesystem_readonly", "node_filesystem_device_error", "node_boot_time_seconds",
    "node_filefd_maximum", "node_uname_info", "node_os_info", "node_os_version",
    "node_time_zone_offset_seconds", "node_time_clocksource_available_info",
    "node_time_clocksource_current_info",
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{name: {frozenset(labels): value}} and {name: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise ValueError("unparsable line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples.setdefault(m.group(1), {})[labels] = float(m.group(4))
    return samples, types


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


def main():
    if not os.access(NODE_EXPORTER, os.X_OK):
        print("skip: %s not installed" % NODE_EXPORTER)
        return 77
    if not COLLECT_DUMP:
        print("COLLECT_DUMP is not set")
        return 1
    port = free_port()
    args = [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % port,
            "--collector.disable-defaults"] + ["--collector." + c for c in COLLECTORS]
    ne = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                scrape(port)
                break
            except OSError:
                if ne.poll() is not None:
                    print("node_exporter exited: %s" % ne.stderr.read().decode())
                    return 1
                time.sleep(0.05)
        before_text = scrape(port)
        ours_text = subprocess.run([COLLECT_DUMP], check=True, capture_output=True,
                                   text=True).stdout
        after_text = scrape(port)
    finally:
        os.kill(ne.pid, signal.SIGTERM)
        ne.wait(timeout=10)

    before, types = parse(before_text)
    after, _ = parse(after_text)
    ours, our_types = parse(ours_text)
    failures = []
    ours_only = sorted(n for n in ours if n.startswith("node_") and n not in before)
    for n in ours_only:
        failures.append("%s: exposed by vigil, not by node_exporter" % n)
    both = sorted(n for n in ours if n in before)
    for name in both:
        if set(ours[name]) != set(before[name]):
            failures.append("%s: label sets differ\n  vigil only: %s\n  node_exporter only: %s" % (
                name, sorted(map(sorted, set(ours[name]) - set(before[name]))),
                sorted(map(sorted, set(before[name]) - set(ours[name])))))
            continue
        if our_types.get(name) != types.get(name):
            failures.append("%s: TYPE %s, node_exporter says %s" % (
                name, our_types.get(name), types.get(name)))
        for labels, v in ours[name].items():
            b, a = before[name][labels], after.get(name, {}).get(labels, before[name][labels])
            where = "%s%s" % (name, dict(labels) if labels else "")
            if name in STATIC:
                if v != b:
                    failures.append("%s: %r != node_exporter's %r" % (where, v, b))
            elif types.get(name) == "counter":
                lo, hi = min(a, b), max(a, b)
                within = abs(v - b) <= 0.02 * max(abs(v), abs(b)) or lo <= v <= hi
                if not within:
                    failures.append("%s: %r vs node_exporter %r..%r" % (where, v, b, a))
            elif name == "node_time_seconds" and abs(v - b) > 5:
                failures.append("%s: %r vs %r" % (where, v, b))
    theirs_only = sorted(n for n in before if n.startswith("node_") and n not in ours
                         and not n.startswith("node_scrape_"))
    print("compared %d metric names (%d samples); node_exporter only: %s" % (
        len(both), sum(len(ours[n]) for n in both), ", ".join(theirs_only) or "none"))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
