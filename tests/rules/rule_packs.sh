#!/bin/sh
# rule_packs.sh VIGIL RULES_DIR - every shipped rule pack passes `vigil check rules` and its
# unit tests under both `vigil test rules` and the real `promtool test rules` (and `promtool
# check rules`), so the packs mean the same thing to vigil and to Prometheus.
vigil=$1 dir=$2
fails=0 packs=0
command -v promtool >/dev/null || { echo "promtool is not installed (scripts/deps.sh)"; exit 1; }
for pack in "$dir"/*.yml; do
    name=$(basename "$pack" .yml)
    test="$dir/tests/${name}_test.yml"
    packs=$((packs + 1))
    if [ ! -f "$test" ]; then
        echo "FAIL $name: no unit tests ($test)"
        fails=$((fails + 1))
        continue
    fi
    for cmd in "$vigil check rules $pack" "promtool check rules $pack" \
               "$vigil test rules $test" "promtool test rules $test"; do
        if ! out=$($cmd 2>&1); then
            echo "FAIL $name: $cmd"
            echo "$out" | tail -20
            fails=$((fails + 1))
        fi
    done
done
echo "rule packs: $packs checked, $fails failures"
[ "$packs" -gt 0 ] && [ "$fails" -eq 0 ]
