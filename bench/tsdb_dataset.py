#!/usr/bin/env python3
"""tsdb.bytes_per_sample on the committed real-host dataset (issue 6), against Prometheus.

The dataset, bench/data/host-1h.om.xz (or .zst), is >= 1 h at 1 s of this project's own
collectors on a real machine, exported by bench/export_dataset.py as OpenMetrics with
timestamps. Both stores import the same decompressed file:

  Prometheus  `promtool tsdb create-blocks-from openmetrics FILE DIR` (the Debian promtool,
              2.42 here): baseline = bytes of its blocks' chunks/ files + index files, divided
              by the samples its meta.json says the blocks hold.
  vigil       `bench_tsdb --dataset FILE` (bench/bench_tsdb.c): imports the file through
              ingest_exposition() (the code of `vigil import openmetrics` and of
              POST /api/v1/import/prometheus) and runs the compactor, which writes the blocks
              exactly as the agent would; ours = bytes of the block files (chunks + index: the
              whole file) / samples imported. It also reads every sample back from the blocks.

Prints one JSON line (bench/README.md) with extra fields: series, samples, and each side's
chunk-only bytes per sample, so the index and the chunk encoding can be judged apart. Honours
$BENCH (name prefix). Needs promtool and xz (or zstd) on PATH and $VIGIL_BUILD/bench/bench_tsdb.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

NAME = "tsdb.bytes_per_sample"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("VIGIL_BUILD", os.path.join(ROOT, "build"))


def wanted():
    b = os.environ.get("BENCH", "")
    return NAME.startswith(b)


def dataset():
    for ext, cmd in ((".xz", ["xz", "-dc"]), (".zst", ["zstd", "-dcq", "--long=27"])):
        p = os.path.join(ROOT, "bench", "data", "host-1h.om" + ext)
        if os.path.exists(p):
            return p, cmd
    raise SystemExit("tsdb_dataset: bench/data/host-1h.om.xz (or .zst) is missing")


def tree_bytes(paths):
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p))


def main():
    if not wanted():
        return 0
    src, cmd = dataset()
    for tool in ("promtool", cmd[0]):
        if shutil.which(tool) is None:
            print("tsdb_dataset: %s not installed; %s skipped" % (tool, NAME), file=sys.stderr)
            return 0
    work = tempfile.mkdtemp(prefix="vigil-bench-dataset-")
    try:
        om = os.path.join(work, "host.om")
        with open(om, "wb") as f:
            subprocess.run(cmd + [src], stdout=f, check=True)

        prom = os.path.join(work, "prom")
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, prom],
                       check=True, stdout=subprocess.DEVNULL)
        p_chunks = p_index = p_samples = p_series = 0
        for meta in glob.glob(os.path.join(prom, "*", "meta.json")):
            block = os.path.dirname(meta)
            with open(meta) as f:
                st = json.load(f)["stats"]
            p_samples += st["numSamples"]
            p_series += st["numSeries"]
            p_chunks += tree_bytes(glob.glob(os.path.join(block, "chunks", "*")))
            p_index += os.path.getsize(os.path.join(block, "index"))

        out = subprocess.run([os.path.join(BUILD, "bench", "bench_tsdb"), "--dataset", om],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        ours = json.loads(out.strip().splitlines()[-1])
        if ours["read_back"] != ours["samples"] or ours["rejected"] != 0:
            print("tsdb_dataset: vigil stored %(samples)d samples, read back %(read_back)d, "
                  "rejected %(rejected)d" % ours, file=sys.stderr)
        if p_samples != ours["samples"]:
            print("tsdb_dataset: Prometheus holds %d samples, vigil %d" % (p_samples, ours["samples"]),
                  file=sys.stderr)
        n = ours["samples"]
        value = ours["block_bytes"] / n
        base = (p_chunks + p_index) / p_samples
        print(json.dumps({
            "bench": NAME, "value": round(value, 4), "unit": "bytes",
            "baseline": "prometheus_promtool_blocks_chunks_index", "baseline_value": round(base, 4),
            "ratio": round(value / base, 3),
            "series": ours["series"], "samples": n,
            "chunk_bytes_per_sample": round(ours["block_chunk_bytes"] / n, 4),
            "baseline_chunk_bytes_per_sample": round(p_chunks / p_samples, 4),
            "index_bytes": ours["block_bytes"] - ours["block_chunk_bytes"],
            "baseline_index_bytes": p_index,
        }))
        sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
