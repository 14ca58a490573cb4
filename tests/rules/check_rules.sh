#!/bin/sh
# check_rules.sh VIGIL PEERS SEEDS - `vigil check rules` against the expected outcomes of
# Prometheus' rule-format cases (../shared/peers/SOURCES.md), promtool's check-rules files,
# and the seed rule files, whose verdict must equal the real `promtool check rules` when it
# is installed. Prints one line per failed expectation; exit 1 when any failed.
cli=$1 peers=$2 seeds=$3
fails=0 subcommand="check rules"
. "$(dirname "$0")/expect.sh"

f=$peers/rules/rulefmt
expect 1 'groupname: "yolo" is repeated in the same file' "$f/duplicate_grp.bad.yaml"
expect 1 'parse error' "$f/bad_expr.bad.yaml"
expect 1 "only one of 'record' and 'alert' must be set" "$f/record_and_alert.bad.yaml"
expect 1 "one of 'record' or 'alert' must be set" "$f/no_rec_alert.bad.yaml"
expect 1 "field 'expr' must be set in rule" "$f/noexpr.bad.yaml"
expect 1 'braces present in the recording rule name; should it be in expr?: strawberry{flavor="sweet"}' "$f/invalid_record_name.bad.yaml"
expect 1 'field annotation not found' "$f/bad_field.bad.yaml"
expect 1 'invalid label name' "$f/invalid_label_name.bad.yaml"
expect 1 "invalid field 'for' in recording rule" "$f/record_and_for.bad.yaml"
expect 1 "invalid field 'keep_firing_for' in recording rule" "$f/record_and_keep_firing_for.bad.yaml"
expect 1 'invalid annotation name: ins-tance' --validation-scheme=legacy "$f/legacy_validation_annotation.bad.yaml"
expect 0 'SUCCESS: 1 rules found' --validation-scheme=legacy "$f/legacy_validation_annotation.good.yaml"
expect 0 'SUCCESS: 1 rules found' "$f/utf-8_annotation.good.yaml"
expect 0 'SUCCESS: 1 rules found' "$f/utf-8_lname.good.yaml"
expect 0 'lint error 1 duplicate rule(s) found.' "$f/test.yaml"
expect 0 'Metric: HighAlert2' "$f/test_aliases.yaml"

p=$peers/rules/promtool
expect 0 'SUCCESS: 5 rules found' "$p/rules.yml"
expect 1 'undefined variable "$label"' "$p/rules-bad.yml"
expect 0 'Metric: job:test:count_over_time1m' "$p/rules_duplicates.yml"
expect 3 'lint error 1 duplicate rule(s) found.' --lint-fatal "$p/prometheus-rules.lint.yml"
expect 0 '' --lint=none "$p/rules_large.yml"
expect 1 'field ownership not found' "$p/rules_extrafields.yml"
expect 0 'SUCCESS: 5 rules found' --ignore-unknown-fields "$p/rules_extrafields.yml"
expect 1 'could not parse expression: 1:7: parse error' "$p/bad-rules-syntax.yml"

for s in "$seeds"/*rules*.yml; do
    expect 0 'SUCCESS' "$s"
    if command -v promtool >/dev/null 2>&1; then
        "$cli" check rules "$s" >/dev/null 2>&1; mine=$?
        promtool check rules "$s" >/dev/null 2>&1; theirs=$?
        if [ "$mine" != "$theirs" ]; then
            echo "FAIL: $s: vigil exit $mine, promtool exit $theirs"; fails=$((fails + 1))
        fi
    fi
done
echo "check_rules: $fails failure(s)"
[ "$fails" -eq 0 ]
