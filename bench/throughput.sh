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
#   BASE=rev bench/throughput.sh ...         # drain at rev too, in each round
#
# With BASE set, each round also runs drain as it was at that revision
# (built in a git worktree), the three runs' order rotating, and the
# ratios of both drains to bare are reported: whether drain got cheaper or
# dearer, told apart from the host's swings.
#
# Needs wrk (apt-get install wrk) and taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-21}
secs=${2:-5}
conns=${CONNS:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
root=$PWD
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [ -n "${BASE:-}" ] && git -C "$root" worktree remove --force "$tmp/base" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/hello" ./bench/servers/hello
modes=(bare drain)
if [ -n "${BASE:-}" ]; then
  git worktree add --detach "$tmp/base" "$BASE" >/dev/null 2>&1
  (cd "$tmp/base" && go build -o "$tmp/hello-base" ./bench/servers/hello)
  modes=(bare drain base)
fi
tick=$(getconf CLK_TCK)

# cputicks PID: user + system CPU ticks the process has used.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

port=18080
declare -A rps cpu ratios cpuratios
echo "wrk -t1 -c$conns -d${secs}s, $rounds rounds, server on CPU 0, wrk on CPU 1" >&2
nmodes=${#modes[@]}
for round in $(seq "$rounds"); do
  order=""
  for i in $(seq 0 $((nmodes - 1))); do
    order="$order ${modes[$(((round + i) % nmodes))]}"
  done
  declare -A this thiscpu
  for mode in $order; do
    bin=$tmp/hello arg=$mode
    [ "$mode" = base ] && bin=$tmp/hello-base arg=drain
    PORT=$port taskset -c 0 "$bin" -mode "$arg" 2>"$tmp/$mode.log" &
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
  for mode in "${modes[@]:1}"; do
    ratios[$mode]="${ratios[$mode]:-} $(awk -v d="${this[$mode]}" -v b="${this[bare]}" 'BEGIN { printf "%.4f", d/b }')"
    cpuratios[$mode]="${cpuratios[$mode]:-} $(awk -v d="${thiscpu[$mode]}" -v b="${thiscpu[bare]}" 'BEGIN { printf "%.4f", b/d }')"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A name=([bare]="bare net/http" [drain]="drain" [base]="drain at ${BASE:-}")
echo "| server | median req/s | median server CPU per request |"
echo "|---|---|---|"
for mode in "${modes[@]}"; do
  echo "| ${name[$mode]} | $(echo "${rps[$mode]}" | median) | $(echo "${cpu[$mode]}" | median) µs |"
done
for mode in "${modes[@]:1}"; do
  awk -v r="$(echo "${ratios[$mode]}" | median)" -v n="$rounds" -v m="${name[$mode]}" \
    'BEGIN { printf "\n%s / bare, median of %d rounds: %.1f %% of the requests per second\n", m, n, 100*r }'
  awk -v r="$(echo "${cpuratios[$mode]}" | median)" -v n="$rounds" -v m="${name[$mode]}" \
    'BEGIN { printf "bare / %s server CPU per request, median of %d rounds: %.1f %%\n", m, n, 100*r }'
  echo "rounds (${name[$mode]}/bare):${ratios[$mode]}"
  echo "rounds (CPU per request, bare/${name[$mode]}):${cpuratios[$mode]}"
done
for mode in "${modes[@]}"; do
  echo "runs (${name[$mode]}): req/s${rps[$mode]}; µs CPU/request${cpu[$mode]}"
done
