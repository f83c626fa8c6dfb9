#!/usr/bin/env bash
# Measures the probe's own throughput against a baseline revision of it:
# BenchmarkThroughput of internal/probe (16 busy clients on a bare
# net/http hello handler, the probe and the server sharing the machine's
# CPUs, as when drainprobe measures a shutdown), built at the base
# revision and at the working tree, run in pairs back to back, their order
# alternating, so that both runs of a pair see the machine in the same
# state. After each pair, wrk (if installed) loads the same server with
# the same 16 connections for the same 3 s: what a client written in C
# reaches on this host, the ceiling the probe's absolute figure is to be
# read against.
#
#   bench/probe.sh [base-rev] [pairs]    # defaults: 8f4988e (the probe before issue 11), 8 pairs
#
# Needs git; wrk is optional (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-8f4988e}
pairs=${2:-8}
root=$PWD
tmp=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  git -C "$root" worktree remove --force "$tmp/base" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

git worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
(cd "$tmp/base/internal/probe" && go test -c -o "$tmp/base.test" .)
(cd internal/probe && go test -c -o "$tmp/head.test" .)
go build -o "$tmp/hello" ./bench/servers/hello

# rate VERSION: one run of the benchmark, in its package's directory (it
# builds the hello server from there); prints its requests per second.
rate() {
  local dir=$root/internal/probe
  [ "$1" = base ] && dir=$tmp/base/internal/probe
  (cd "$dir" && "$tmp/$1.test" -test.run '^$' -test.bench Throughput -test.benchtime 1x) |
    awk '/req\/s, lag/ { print $2; exit }'
}

# wrkrate: wrk's requests per second against the bare server.
wrkrate() {
  local port=18087
  PORT=$port "$tmp/hello" -mode bare 2>/dev/null &
  local pid=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.05
  done
  wrk -t1 -c16 -d3s "http://127.0.0.1:$port/hello" | awk '/Requests\/sec/ { printf "%.0f", $2 }'
  kill -TERM $pid
  wait $pid || true
}

echo "base $base ($(git rev-parse --short "$base")) against the working tree at $(git rev-parse --short HEAD), $pairs pairs" >&2
ratios=""
for i in $(seq "$pairs"); do
  order="base head"
  [ $((i % 2)) -eq 0 ] && order="head base"
  declare -A r
  for v in $order; do
    r[$v]=$(rate "$v")
  done
  w="-"
  command -v wrk >/dev/null && w=$(wrkrate)
  ratio=$(awk -v h="${r[head]}" -v b="${r[base]}" 'BEGIN { printf "%.3f", h/b }')
  ratios="$ratios $ratio"
  echo "pair $i: base ${r[base]} req/s, head ${r[head]} req/s, head/base $ratio, wrk $w req/s" >&2
done
median=$(tr ' ' '\n' <<<"$ratios" | grep . | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "head/base, median of $pairs pairs: $median"
