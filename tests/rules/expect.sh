# expect.sh - sourced by check_rules.sh and test_rules.sh: `expect RC SUBSTRING ARGS...` runs
# "$cli" $subcommand ARGS..., counts a failure in $fails (and prints why) unless it exits RC
# and, when SUBSTRING is not empty, prints SUBSTRING. The caller sets cli, subcommand and
# fails=0; the output file is removed on exit.
out=$(mktemp)
trap 'rm -f "$out"' EXIT

expect() {
    want_rc=$1 want_text=$2
    shift 2
    # shellcheck disable=SC2086 # $subcommand is two words on purpose
    "$cli" $subcommand "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" != "$want_rc" ]; then
        echo "FAIL: $subcommand $*: exit $rc, want $want_rc"; cat "$out"; fails=$((fails + 1))
    elif [ -n "$want_text" ] && ! grep -qF -- "$want_text" "$out"; then
        echo "FAIL: $subcommand $*: output lacks: $want_text"; cat "$out"; fails=$((fails + 1))
    fi
}
