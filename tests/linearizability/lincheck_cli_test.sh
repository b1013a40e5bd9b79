#!/usr/bin/env bash
# kvd-lincheck's exit codes: 0 linearizable, 1 violation, 2 unknown or bad input.
set -uo pipefail
bin=${1:?usage: lincheck_cli_test.sh KVD_LINCHECK TESTDATA_DIR}
data=${2:?}
fail=0
expect() {
  local want=$1; shift
  local out
  out=$("$@" 2>&1)
  local got=$?
  if [[ $got -ne $want ]]; then
    echo "FAIL: '$*' exited $got, want $want; output:"; echo "$out"; fail=1
  else
    echo "ok: '$*' -> $got"
  fi
}
expect 0 "$bin" "$data/good_concurrent.txt"
expect 1 "$bin" "$data/bad_stale_read.txt"
expect 2 "$bin" "$data/bad_version.txt"
expect 2 "$bin" "$data/does_not_exist.txt"
expect 2 "$bin"
expect 0 "$bin" - < "$data/good_concurrent.txt"
# A budget too small to decide is "unknown", not a violation.
expect 2 "$bin" --max-steps 1 "$data/bad_stale_read.txt"
report=$("$bin" "$data/bad_stale_read.txt")
if ! grep -q "key 'x' is not linearizable" <<<"$report" || ! grep -q "#2  2 4 5 get x : a" <<<"$report"; then
  echo "FAIL: the violation report does not name the key and the stale read:"; echo "$report"; fail=1
fi
exit $fail
