#!/bin/sh
# test_rules.sh CLI PEERS - `vigil test rules` over promtool's unit-test files with the
# outcomes listed in ../shared/peers/SOURCES.md (unittest.yml: exit 1 with "native histograms
# are not supported"), and the Thanos example tests. One line per failed expectation.
cli=$1 peers=$2
fails=0 subcommand="test rules"
. "$(dirname "$0")/expect.sh"

p=$peers/rules/promtool
expect 1 'native histograms are not supported' "$p/unittest.yml"
for f in long-period.yml no-test-group-interval.yml start-time-test.yml at-modifier-test.yml \
         negative-offset-test.yml; do
    expect 0 'SUCCESS' "$p/$f"
done
expect 0 'SUCCESS' --run 'correct' "$p/rules_run.yml"
expect 1 'name: wrong test' "$p/rules_run.yml"
expect 1 'name: wrong test' --run 'wrong' "$p/rules_run.yml"
expect 0 'SUCCESS' --ignore-unknown-fields "$p/rules_run_extrafields.yml"
expect 0 'SUCCESS' --run 'correct' "$p/rules_run_fuzzy.yml"
expect 1 'wrong fuzzy match' --run 'wrong' "$p/rules_run_fuzzy.yml"
expect 1 'got: {__name__="test_low"} 2.9999999999999996E+00' "$p/rules_run_no_fuzzy.yml"
expect 1 'parse error' "$p/bad-input-series.yml"
expect 1 'many-to-many matching not allowed' "$p/bad-promql.yml"
expect 1 'could not parse expression' "$p/bad-rules-syntax-test.yml"
expect 1 'rule: joined, time: 0s, err:' "$p/bad-rules-error-test.yml"
expect 1 'alertname: AlwaysFiring, time: 5m' "$p/failing.yml"
expect 0 'SUCCESS' "$peers/rules/thanos/tests.yaml"
echo "test_rules: $fails failure(s)"
[ "$fails" -eq 0 ]
