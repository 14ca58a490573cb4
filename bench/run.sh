#!/bin/sh
# Runs every benchmark: the compiled ones (BUILD/bench/bench_*) and the scripted ones
# (bench/*.bench.sh, which compare vigil with a peer process). Each prints JSON lines;
# all of them are also collected into BUILD/bench.jsonl. BENCH=prefix selects benchmarks by
# name: every runner receives it and skips what does not match.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$build/bench.jsonl"
: > "$out"
export BENCH="${BENCH:-}" VIGIL_BUILD="$(cd "$build" && pwd)"
for runner in "$build"/bench/bench_* "$root"/bench/*.bench.sh; do
    [ -e "$runner" ] || continue
    case "$runner" in
        *.bench.sh) sh "$runner" ;;
        *) "$runner" ;;
    esac | tee -a "$out"
done
echo "bench: $(wc -l < "$out") results in $out" >&2
