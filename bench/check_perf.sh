#!/usr/bin/env bash
# check_perf: `etcdctl check perf` against a 3-member kvd and then a 3-member etcd, both on
# loopback with the same ports and layout, one after the other; prints both summaries and the
# ratio of writes per second.
#
#   bench/check_perf.sh [--load s|m|l|xl]        (default l)
#
# kvd comes from $KVD_BUILD_DIR (default build/release) through scripts/dev-cluster, with its data
# in a temporary directory; etcd is Debian's. Both use client ports 2379/22379/32379 and peer
# ports 12380/22380/32380, which must be free.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
load=l
while [[ $# -gt 0 ]]; do
  case "$1" in
    --load) load="$2"; shift 2 ;;
    *) echo "check_perf: unknown flag $1" >&2; exit 2 ;;
  esac
done
command -v etcd >/dev/null || { echo "check_perf: etcd is not installed (scripts/setup)" >&2; exit 2; }
endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
tmp="$(mktemp -d /tmp/kvd-check-perf-XXXXXX)"
pids=()
cleanup() {
  { for pid in "${pids[@]}"; do kill -TERM "$pid" || true; done; wait || true; } 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_ready() {
  local deadline=$((SECONDS + 60))
  until ETCDCTL_API=3 etcdctl --endpoints="$endpoints" --command-timeout=2s endpoint health >/dev/null 2>&1; do
    (( SECONDS < deadline )) || { echo "check_perf: $1 not healthy within 60 s" >&2; exit 1; }
    sleep 0.2
  done
}
# Runs check perf; prints its summary lines (without the progress bar) and sets $writes.
perf() {
  local out
  out="$(ETCDCTL_API=3 etcdctl --endpoints="$endpoints" check perf --load="$load" 2>&1 \
    | tr '\r' '\n' | grep -v '^ *[0-9]* / [0-9]*' || true)"
  echo "$out" | grep -v '^$' | sed 's/^/  /'
  writes="$(echo "$out" | sed -n 's/.*: \([0-9]*\) writes\/s.*/\1/p' | tail -1)"
}
stop_all() {
  { for pid in "${pids[@]}"; do kill -TERM "$pid" || true; done; wait || true; } 2>/dev/null
  pids=()
}

echo "== kvd ($("${KVD_BUILD_DIR:-$root/build/release}/server/kvd" --version | head -1)), check perf --load=$load"
KVD_DEV_DIR="$tmp/kvd" "$root/scripts/dev-cluster" >"$tmp/kvd.out" 2>&1 &
pids+=($!)
wait_ready kvd
perf
kvd_writes="$writes"
grep -h "slow apply" "$tmp"/kvd/*.log 2>/dev/null | sed 's/^/  /' || true
stop_all

echo "== etcd ($(etcd --version | head -1)), check perf --load=$load"
cluster="e1=http://127.0.0.1:12380,e2=http://127.0.0.1:22380,e3=http://127.0.0.1:32380"
for n in 1 2 3; do
  port=$([[ $n == 1 ]] && echo 2379 || echo "${n}2379")
  etcd --name "e$n" --data-dir "$tmp/etcd/e$n" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:${n}2380" --initial-advertise-peer-urls "http://127.0.0.1:${n}2380" \
    --initial-cluster "$cluster" --initial-cluster-token check-perf --initial-cluster-state new \
    >"$tmp/e$n.log" 2>&1 &
  pids+=($!)
done
wait_ready etcd
perf
etcd_writes="$writes"
stop_all

if [[ -n "$kvd_writes" && -n "$etcd_writes" ]]; then
  echo "writes/s kvd $kvd_writes, etcd $etcd_writes, ratio kvd/etcd $(python3 -c "print(f'{$kvd_writes / $etcd_writes:.2f}')")"
else
  echo "writes/s kvd ${kvd_writes:-none}, etcd ${etcd_writes:-none}: a run printed no summary"
fi
