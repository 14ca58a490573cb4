#!/bin/sh
# conformance.sh VIGIL SUITE_DIR - runs the OpenMetrics parser conformance suite through
# `vigil check metrics --strict --format openmetrics` the way the suite's Go runner does:
# each case's `metrics` file on stdin; exit 0 must match "shouldParse": true in test.json.
# Prints one line per wrong verdict and a summary; exits 1 when any verdict is wrong.
driver=$1
suite=$2
[ -x "$driver" ] || { echo "no driver: $driver"; exit 2; }
[ -d "$suite" ] || { echo "no suite: $suite (the peers' test data)"; exit 2; }
total=0 good=0 bad=0 wrong=0
for dir in "$suite"/*/; do
    case=$(basename "$dir")
    [ -f "$dir/test.json" ] || continue
    if tr -d ' \n\t' < "$dir/test.json" | grep -q '"shouldParse":true'; then
        want=0
    else
        want=1
    fi
    "$driver" check metrics --strict --format openmetrics < "$dir/metrics" > /dev/null 2> "${TMPDIR:-/tmp}/om_conf.$$"
    rc=$?
    total=$((total + 1))
    if [ $rc -gt 1 ]; then
        echo "ERROR $case: exit $rc: $(cat "${TMPDIR:-/tmp}/om_conf.$$")"
        wrong=$((wrong + 1))
    elif [ $want -eq 0 ] && [ $rc -ne 0 ]; then
        echo "WRONG $case: should parse, rejected: $(cat "${TMPDIR:-/tmp}/om_conf.$$")"
        wrong=$((wrong + 1))
    elif [ $want -eq 1 ] && [ $rc -eq 0 ]; then
        echo "WRONG $case: should be rejected, accepted"
        wrong=$((wrong + 1))
    elif [ $want -eq 0 ]; then
        good=$((good + 1))
    else
        bad=$((bad + 1))
    fi
done
rm -f "${TMPDIR:-/tmp}/om_conf.$$"
echo "openmetrics conformance: $total cases, $good valid accepted, $bad invalid rejected, $wrong wrong"
[ $total -gt 0 ] && [ $wrong -eq 0 ]
