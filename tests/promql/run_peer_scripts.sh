#!/bin/sh
# Runs every Prometheus .test script in DIR through the interpreter, writes per-file counts to
# OUT ("file passed failed skipped" lines) and fails when a file listed in REQUIRED has a failure
# (or cannot be run). Other files are reported but do not fail the test.
# usage: run_peer_scripts.sh VIGIL DIR REQUIRED OUT
driver=$1 dir=$2 required=$3 out=$4
: > "$out"
status=0
# Every required file must exist: a missing peers directory must fail, not pass vacuously.
while read -r name; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ ! -f "$dir/$name" ]; then
        echo "REQUIRED FILE MISSING: $dir/$name"
        status=1
    fi
done < "$required"
for f in "$dir"/*.test; do
    name=$(basename "$f")
    line=$("$driver" test promql "$f" 2>&1 | tail -n 1)
    set -- $line
    passed=${1:-0} failed=${3:-0} skipped=${5:-0}
    echo "$name $passed $failed $skipped" >> "$out"
    if grep -qx "$name" "$required"; then
        if [ "$failed" != "0" ] || [ -z "$line" ]; then
            echo "REQUIRED FILE FAILED: $name ($line)"
            "$driver" test promql "$f" | grep FAIL | head -20
            status=1
        fi
    fi
    echo "$name: $line"
done
exit $status
