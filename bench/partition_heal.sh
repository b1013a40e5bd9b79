#!/usr/bin/env bash
# partition_heal: how long a healed network partition keeps a member cut off.
#
#   bench/partition_heal.sh [--server kvd|etcd] [--kvd PATH] [--rounds N] [--hold SECONDS]
#
# Three members (kvd, or Debian's etcd for comparison) in network namespaces of their own,
# joined by a bridge, as the chaos suite sets them up (docs/chaos.md). Each round isolates the
# leader with iptables DROP rules both ways while a client keeps writing through the majority,
# holds the cut for --hold seconds (default 20: long enough for TCP's retransmission backoff and
# gRPC's reconnect backoff to grow), heals it, writes a marker through the majority and measures
# how long until the old leader serves that marker from its own state (a serializable read).
# Prints each round and the median and worst over the rounds. Needs root; touches nothing
# outside its own namespaces (prefix kvdheal<pid>), which it removes at exit.
set -euo pipefail

server=kvd
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kvd="${KVD_BUILD_DIR:-$root/build/release}/server/kvd"
rounds=5
hold=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) server="$2"; shift 2 ;;
    --kvd) kvd="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --hold) hold="$2"; shift 2 ;;
    *) echo "partition_heal: unknown flag $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "partition_heal: needs root (network namespaces)" >&2; exit 2; }
case "$server" in
  kvd) [[ -x "$kvd" ]] || { echo "partition_heal: no kvd at $kvd; run 'make build'" >&2; exit 2; }
       bin="$kvd" ;;
  etcd) bin="$(command -v etcd)" || { echo "partition_heal: etcd is not installed" >&2; exit 2; } ;;
  *) echo "partition_heal: --server is kvd or etcd" >&2; exit 2 ;;
esac

p="kvdheal$$"
dir="$(mktemp -d /tmp/kvd-heal-XXXXXX)"
pids=()
cleanup() {
  {
    for pid in "${pids[@]}"; do kill -TERM "$pid" || true; done
    wait || true
  } 2>/dev/null
  for ns in hub m1 m2 m3; do ip netns del "$p-$ns" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

host() { echo "10.238.0.$1"; }
ip netns add "$p-hub"
ip -n "$p-hub" link set lo up
ip -n "$p-hub" link add br0 type bridge
ip -n "$p-hub" addr add 10.238.0.254/24 dev br0
ip -n "$p-hub" link set br0 up
for i in 1 2 3; do
  ip netns add "$p-m$i"
  ip -n "$p-m$i" link set lo up
  ip -n "$p-hub" link add "vm$i" type veth peer name eth0 netns "$p-m$i"
  ip -n "$p-hub" link set "vm$i" master br0
  ip -n "$p-hub" link set "vm$i" up
  ip -n "$p-m$i" addr add "$(host "$i")/24" dev eth0
  ip -n "$p-m$i" link set eth0 up
done

cluster="m1=http://$(host 1):2380,m2=http://$(host 2):2380,m3=http://$(host 3):2380"
for i in 1 2 3; do
  ip netns exec "$p-m$i" "$bin" --name "m$i" --data-dir "$dir/m$i" \
    --listen-client-urls "http://$(host "$i"):2379" --advertise-client-urls "http://$(host "$i"):2379" \
    --listen-peer-urls "http://$(host "$i"):2380" --initial-advertise-peer-urls "http://$(host "$i"):2380" \
    --initial-cluster "$cluster" --initial-cluster-token heal --initial-cluster-state new \
    > "$dir/m$i.log" 2>&1 &
  pids+=($!)
done

ctl() { ip netns exec "$p-hub" env ETCDCTL_API=3 etcdctl --dial-timeout=1s --command-timeout=2s "$@"; }
now_ms() { date +%s%3N; }
leader() {  # prints the leader's member number, or nothing
  for i in 1 2 3; do
    if ctl --endpoints="$(host "$i"):2379" endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["leader"] == s["header"]["member_id"] else 1)' 2>/dev/null; then
      echo "$i"; return
    fi
  done
}
wait_leader() {
  local deadline=$(( $(now_ms) + 30000 )) l=""
  while [[ -z "$l" ]]; do
    (( $(now_ms) < deadline )) || { echo "partition_heal: no leader within 30 s" >&2; exit 1; }
    l="$(leader)"
  done
  echo "$l"
}
cut() {  # isolates member $1 from the other two, both ways
  for j in 1 2 3; do
    [[ $j == "$1" ]] && continue
    ip netns exec "$p-m$1" iptables -A INPUT -s "$(host "$j")" -j DROP
    ip netns exec "$p-m$j" iptables -A INPUT -s "$(host "$1")" -j DROP
  done
}
heal() { for j in 1 2 3; do ip netns exec "$p-m$j" iptables -F INPUT; done; }

echo "partition_heal: $server ($bin), $rounds rounds, leader isolated for ${hold} s each"
results=()
for r in $(seq "$rounds"); do
  old="$(wait_leader)"
  others=()
  for j in 1 2 3; do [[ $j != "$old" ]] && others+=("$(host "$j"):2379"); done
  majority="$(IFS=,; echo "${others[*]}")"
  cut "$old"
  end=$(( $(now_ms) + hold * 1000 ))
  n=0
  while (( $(now_ms) < end )); do
    ctl --endpoints="$majority" put "w$((n % 100))" "$r-$n" >/dev/null 2>&1 || true
    n=$((n + 1))
    sleep 0.05
  done
  heal
  healed=$(now_ms)
  marker="heal-$r-$healed"
  until ctl --endpoints="$majority" put marker "$marker" >/dev/null 2>&1; do :; done
  deadline=$(( healed + 120000 ))
  until [[ "$(ctl --endpoints="$(host "$old"):2379" get marker --consistency=s --print-value-only 2>/dev/null)" == "$marker" ]]; do
    (( $(now_ms) < deadline )) || { echo "partition_heal: member $old still cut off 120 s after heal" >&2; exit 1; }
    sleep 0.02
  done
  took=$(( $(now_ms) - healed ))
  results+=("$took")
  echo "round $r: leader m$old isolated ${hold} s ($n writes meanwhile); serving the marker $took ms after heal"
done
mapfile -t sorted < <(printf '%s\n' "${results[@]}" | sort -n)
echo "median ${sorted[$(( ${#sorted[@]} / 2 ))]} ms, worst ${sorted[-1]} ms after heal ($server)"
