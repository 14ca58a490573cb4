#!/bin/sh
# templates.sh VIGIL DIR - alert templates expand to the same text under vigil as under
# Prometheus: DIR/templates_test.yml (expected texts taken from the real promtool) passes under
# `vigil test rules` and, when installed, `promtool test rules`.
vigil=$1 dir=$2
fails=0
for cmd in "$vigil test rules $dir/templates_test.yml" "promtool test rules $dir/templates_test.yml"; do
    case $cmd in promtool*) command -v promtool >/dev/null || { echo "skip: no promtool"; continue; } ;; esac
    if ! out=$($cmd 2>&1); then
        echo "FAIL: $cmd"
        echo "$out" | tail -30
        fails=$((fails + 1))
    fi
done
echo "templates: $fails failure(s)"
[ "$fails" -eq 0 ]
