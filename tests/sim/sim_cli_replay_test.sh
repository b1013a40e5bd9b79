#!/usr/bin/env bash
# kvd-sim replays a seed byte for byte, and always ends with "N seeds, V violations".
set -uo pipefail
sim=${1:?usage: sim_cli_replay_test.sh KVD_SIM}
fail=0
for args in "--seeds 1 --start 5 --steps 1500" "--seeds 1 --start 6 --nodes 5 --steps 1500"; do
  a=$("$sim" $args --verbose); rc_a=$?
  b=$("$sim" $args --verbose); rc_b=$?
  if [[ "$a" != "$b" || $rc_a -ne $rc_b ]]; then
    echo "FAIL: kvd-sim $args --verbose differs between two runs"
    diff <(echo "$a") <(echo "$b") | head -20
    fail=1
  else
    echo "ok: kvd-sim $args --verbose replays identically ($(wc -l <<<"$a") lines)"
  fi
  last=$(tail -n 1 <<<"$a")
  if ! [[ "$last" =~ ^1\ seeds,\ [0-9]+\ violations$ ]]; then
    echo "FAIL: last line is '$last'"; fail=1
  fi
done
out=$("$sim" --seeds 3 --start 1 --steps 300); rc=$?
last=$(tail -n 1 <<<"$out")
if [[ "$last" != "3 seeds, 0 violations" || $rc -ne 0 ]]; then
  echo "FAIL: '$last' (exit $rc)"; fail=1
fi
"$sim" --seeds 1 >/dev/null 2>&1
if [[ $? -ne 2 ]]; then echo "FAIL: a usage error must exit 2"; fail=1; fi
exit $fail
