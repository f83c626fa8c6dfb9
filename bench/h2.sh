#!/usr/bin/env bash
# What becomes of HTTP/2 streams at GOAWAY: drainprobe --http2 against
# drain's demo (-h2c) and the go-stdlib pattern (bench/servers/gostdlib,
# H2C=1), 16 busy clients with 8 streams each and 3 slow streams in flight
# at SIGTERM, no quiet connections. Prints one line per run: streams
# answered, refused (split by reason: above GOAWAY's last stream id, or a
# new connection refused) and lost, the slow streams completed, the exit
# code and last response -> exit.
#
#   bench/h2.sh [reps]    # default 5 runs of each (about 1 minute); needs jq
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
command -v jq >/dev/null || { echo "jq is not installed (apt-get install jq)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/seed" ./examples/seed
go build -o "$tmp/gostdlib" ./bench/servers/gostdlib
go build -o "$tmp/drainprobe" ./cmd/drainprobe

printf '%-9s %9s %8s %14s %10s %5s %5s %4s %18s\n' server answered refused "above GOAWAY" "connect" lost slow exit "last resp->exit ms"
for srv in drain go-stdlib; do
  for _ in $(seq "$reps"); do
    if [ "$srv" = drain ]; then cmd=("$tmp/seed" -h2c); else cmd=(env H2C=1 "$tmp/gostdlib"); fi
    "$tmp/drainprobe" --json --http2 --busy 16 --streams 8 --slow 3 --idle 0 --silent 0 --warmup 1800ms -- "${cmd[@]}" >"$tmp/r.json" 2>/dev/null || true
    jq -r --arg srv "$srv" '
      [.notable[] | select(.outcome == "refused") | .reason] as $r |
      [$srv, (.counts.answered | add), .counts.refused,
       ($r | map(select(startswith("above GOAWAY"))) | length),
       ($r | map(select(startswith("connect"))) | length),
       .counts.lost, "\(.slow.completed)/\(.slow.sent)", .exit.code,
       (.durations_ms.last_response_to_exit * 10 | round / 10)] | @tsv' "$tmp/r.json" |
      awk -F'\t' '{printf "%-9s %9s %8s %14s %10s %5s %5s %4s %18s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
  done
done
