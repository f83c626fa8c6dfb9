#!/usr/bin/env bash
# Measures what drain costs on the request path: wrk against a hello
# handler served by a bare net/http server and by drain, alternating in one
# run. The server is pinned to CPU 0 and wrk to CPU 1, so that they do not
# fight over a core.
#
#   bench/throughput.sh [rounds] [seconds]    # defaults: 5 rounds of 10s
#
# Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-10}
conns=${CONNS:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/hello" ./bench/servers/hello

port=18080
declare -A total
for mode in bare drain; do total[$mode]=""; done
echo "wrk -t1 -c$conns -d${secs}s, $rounds rounds, server on CPU 0, wrk on CPU 1"
for round in $(seq "$rounds"); do
  for mode in bare drain; do
    PORT=$port taskset -c 0 "$tmp/hello" -mode "$mode" 2>"$tmp/$mode.log" &
    pid=$!
    for _ in $(seq 100); do
      (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
      sleep 0.05
    done
    rps=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/hello" | awk '/Requests\/sec/ {print $2}')
    kill -TERM $pid; wait $pid || true
    echo "round $round $mode: $rps req/s"
    total[$mode]="${total[$mode]} $rps"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
bare=$(echo "${total[bare]}" | median)
drained=$(echo "${total[drain]}" | median)
echo
echo "| server | median req/s | rounds |"
echo "|---|---|---|"
echo "| bare net/http | $bare | ${total[bare]# } |"
echo "| drain | $drained | ${total[drain]# } |"
awk -v b="$bare" -v d="$drained" 'BEGIN { printf "\ndrain / bare = %.1f %%\n", 100*d/b }'
