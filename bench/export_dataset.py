#!/usr/bin/env python3
"""export_dataset.py - the real-host dataset of tsdb.bytes_per_sample (issue 6).

Reads back, through a running vigil's Prometheus query API, the raw samples an agent recorded
with its own collectors, and writes them as one OpenMetrics 1.0 file with timestamps, then
compresses it with xz and zstd and keeps the smaller (bench/data/host-1h.om.xz by default).

    vigil run --listen 127.0.0.1:19600 --data /tmp/rec/data \
        --collect.process.name_regex='.*'                          # recording, >= 62 min
    python3 bench/export_dataset.py --url http://127.0.0.1:19600 --hours 1 \
        --min-samples 3500 --max-series 500

How: the metric names come from /api/v1/label/__name__/values; for each name one instant query
of the range selector {__name__="NAME"}[Ns] at a fixed end time returns every raw sample of
every series of that name (a matrix: stored samples, not query_range steps). Samples are kept
in [start, start + hours], start being the first sample of the recording (or --start), so the
file holds exactly `hours` of data. Series with fewer than --min-samples samples in the window
(series that appeared late, e.g. the agent's own HTTP metrics of queries made while recording)
are left out with --min-samples; by default every series is kept.

Values are written with Python's repr(float), the shortest text that reads back as the same
double, so the file is a lossless copy of what the API returned. Families are written one after
the other (OpenMetrics forbids interleaving), series sorted by labels, each in time order, with
no TYPE lines: every family is `unknown`, which both vigil's and Prometheus's OpenMetrics
parsers accept for any name. --max-series N keeps the first N series in that order.

Standard library only (urllib, json, lzma) plus the zstd command-line tool when installed.
"""
import argparse
import json
import lzma
import math
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request


def get(url, path, params=None):
    q = "?" + urllib.parse.urlencode(params) if params else ""
    with urllib.request.urlopen(url + path + q, timeout=300) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit("export_dataset: %s%s: %s" % (path, q, body.get("error")))
    return body["data"]


def escape(v):
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def fmt_value(s):
    """The API's value string as OpenMetrics text (shortest round-trip form)."""
    v = float(s)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def fmt_ts(t):
    """API timestamps are seconds with millisecond precision; keep exactly the milliseconds."""
    ms = int(round(float(t) * 1000))
    return "%d.%03d" % (ms // 1000, ms % 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:19600")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--start", type=float, help="window start, Unix seconds (default: first sample)")
    ap.add_argument("--min-samples", type=int, default=1)
    ap.add_argument("--max-series", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "data", "host-1h.om.xz"))
    ap.add_argument("--keep-text", help="also keep the uncompressed file here")
    a = ap.parse_args()

    names = get(a.url, "/api/v1/label/__name__/values")
    span = int(a.hours * 3600)
    start = a.start
    if start is None:
        # The first sample of the recording: the head's oldest timestamp (a recording of a
        # few hours has no blocks yet), else the first sample of the collectors' clock gauge.
        head = get(a.url, "/api/v1/status/tsdb").get("headStats", {})
        if head.get("minTime") is not None and head.get("numSeries", 0) > 0:
            start = head["minTime"] / 1000.0
        else:
            now = get(a.url, "/api/v1/query", {"query": "time()"})["result"][0]
            res = get(a.url, "/api/v1/query", {"query": "node_time_seconds[1d]", "time": now})["result"]
            firsts = [float(s["values"][0][0]) for s in res if s["values"]]
            if not firsts:
                raise SystemExit("export_dataset: no samples to find the recording's start")
            start = min(firsts)
    start_ms = int(round(start * 1000))
    end_ms = start_ms + span * 1000
    end = end_ms / 1000.0

    series = []  # (name, sorted label items, [(ts_text, value_text)])
    for name in sorted(names):
        sel = '{__name__="%s"}[%ds]' % (name, span + 60)
        res = get(a.url, "/api/v1/query", {"query": sel, "time": "%.3f" % end})["result"]
        for s in res:
            pts = [(int(round(float(t) * 1000)), v) for t, v in s["values"]]
            pts = [(t, v) for t, v in pts if start_ms <= t <= end_ms]
            if len(pts) < a.min_samples:
                continue
            labels = sorted((k, v) for k, v in s["metric"].items() if k != "__name__")
            series.append((name, labels, pts))
    if a.max_series:
        series = series[:a.max_series]

    fd, tmp = tempfile.mkstemp(prefix="vigil-dataset-", suffix=".om")
    samples = 0
    with os.fdopen(fd, "w") as f:
        for name, labels, pts in series:
            ls = "{" + ",".join('%s="%s"' % (k, escape(v)) for k, v in labels) + "}" if labels else ""
            prefix = name + ls + " "
            for t, v in pts:
                f.write("%s%s %d.%03d\n" % (prefix, fmt_value(v), t // 1000, t % 1000))
            samples += len(pts)
        f.write("# EOF\n")
    raw = os.path.getsize(tmp)

    # xz at its strongest preset, and zstd --ultra -22 --long when the tool is there.
    cands = []
    xz_path = tmp + ".xz"
    with open(tmp, "rb") as src, lzma.open(xz_path, "wb", preset=9 | lzma.PRESET_EXTREME) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    cands.append((os.path.getsize(xz_path), xz_path, ".xz"))
    if shutil.which("zstd"):
        zst_path = tmp + ".zst"
        subprocess.run(["zstd", "-q", "-f", "--ultra", "-22", "--long=27", tmp, "-o", zst_path], check=True)
        cands.append((os.path.getsize(zst_path), zst_path, ".zst"))
    cands.sort()
    size, best, ext = cands[0]
    out = a.out
    if not out.endswith(ext):  # the smaller format decides the suffix
        out = os.path.splitext(out)[0] + ext
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    shutil.move(best, out)
    for _, p, _ in cands[1:]:
        os.unlink(p)
    if a.keep_text:
        shutil.move(tmp, a.keep_text)
    else:
        os.unlink(tmp)
    per = [len(p) for _, _, p in series]
    print(json.dumps({"file": out, "series": len(series), "samples": samples,
                      "start_ms": start_ms, "end_ms": end_ms, "min_samples_per_series": min(per) if per else 0,
                      "text_bytes": raw, "compressed_bytes": size,
                      "candidates": {e: s for s, _, e in cands}}))


if __name__ == "__main__":
    sys.exit(main())
