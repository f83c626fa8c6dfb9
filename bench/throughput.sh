#!/usr/bin/env bash
# Measures what drain costs on the request path: wrk against a hello
# handler served by a bare net/http server and by drain, in pairs of runs
# back to back (their order alternating), so that both runs of a pair see
# the machine in the same state; the result is the median of the pairs'
# ratios. The server is pinned to CPU 0 and wrk to CPU 1, so that they do
# not fight over a core. It also reports the server's CPU time per request
# (from /proc), and the median of the pairs' ratios of it, which a busy
# machine disturbs less than requests per second: wrk's share of the CPU
# does not enter it.
#
#   bench/throughput.sh [pairs] [seconds]    # defaults: 21 pairs of 5s runs
#
# Needs wrk (apt-get install wrk) and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-21}
secs=${2:-5}
conns=${CONNS:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/hello" ./bench/servers/hello
tick=$(getconf CLK_TCK)

# cputicks PID: user + system CPU ticks the process has used.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

port=18080
declare -A rps cpu
echo "wrk -t1 -c$conns -d${secs}s, $rounds rounds, server on CPU 0, wrk on CPU 1" >&2
ratios=""
cpuratios=""
for round in $(seq "$rounds"); do
  order="bare drain"
  [ $((round % 2)) -eq 0 ] && order="drain bare"
  declare -A this thiscpu
  for mode in $order; do
    PORT=$port taskset -c 0 "$tmp/hello" -mode "$mode" 2>"$tmp/$mode.log" &
    pid=$!
    for _ in $(seq 100); do
      (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
      sleep 0.05
    done
    before=$(cputicks $pid)
    out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/hello")
    after=$(cputicks $pid)
    kill -TERM $pid; wait $pid || true
    r=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(awk -v t=$((after - before)) -v hz="$tick" -v n="$n" 'BEGIN { printf "%.2f", 1e6 * t / hz / n }')
    echo "round $round $mode: $r req/s, $us µs CPU per request" >&2
    rps[$mode]="${rps[$mode]:-} $r"
    cpu[$mode]="${cpu[$mode]:-} $us"
    this[$mode]=$r
    thiscpu[$mode]=$us
  done
  ratios="$ratios $(awk -v d="${this[drain]}" -v b="${this[bare]}" 'BEGIN { printf "%.4f", d/b }')"
  cpuratios="$cpuratios $(awk -v d="${thiscpu[drain]}" -v b="${thiscpu[bare]}" 'BEGIN { printf "%.4f", b/d }')"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rb=$(echo "${rps[bare]}" | median); rd=$(echo "${rps[drain]}" | median)
cb=$(echo "${cpu[bare]}" | median); cd=$(echo "${cpu[drain]}" | median)
echo "| server | median req/s | median server CPU per request |"
echo "|---|---|---|"
echo "| bare net/http | $rb | $cb µs |"
echo "| drain | $rd | $cd µs |"
ratio=$(echo "$ratios" | median)
awk -v r="$ratio" -v n="$rounds" 'BEGIN { printf "\ndrain / bare, median of %d pairs: %.1f %% of the requests per second\n", n, 100*r }'
cpuratio=$(echo "$cpuratios" | median)
awk -v r="$cpuratio" -v n="$rounds" 'BEGIN { printf "bare/drain server CPU per request, median of %d pairs: %.1f %%\n", n, 100*r }'
echo "pairs (drain/bare):$ratios"
echo "pairs (CPU per request, bare/drain):$cpuratios"
echo "runs (req/s): bare${rps[bare]}; drain${rps[drain]}"
echo "runs (µs CPU/request): bare${cpu[bare]}; drain${cpu[drain]}"
