#!/usr/bin/env bash
# A rolling restart behind HAProxy, as the e2e test runs it (e2e/rollout_test.go):
# two instances behind HAProxy 2.6 in TCP mode with no retries and an HTTP
# health check every 500 ms (2 failures take an instance out), 16 keep-alive
# clients through the balancer; each instance in turn gets SIGTERM, exits,
# starts again on its port and is waited for until HAProxy sends it traffic,
# then 1 s of load. Prints a markdown table of the failed requests per
# rolling restart: median and range over -reps runs.
#
#   drain (-shutdown-delay 2s)      examples/seed with a delay longer than detection
#   drain (-retry-after)            the same, in retry-after mode
#   drain (no delay)                examples/seed, defaults
#   drain (-retry-after, no delay)  the same, in retry-after mode
#   go-stdlib                       bench/servers/gostdlib: Server.Shutdown (health check: /fast)
#
# Usage: bench/rollout.sh [-reps N]    (5 by default; about 25 s a repetition)
# Needs haproxy (apt-get install haproxy).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=5
while [ $# -gt 0 ]; do
  case $1 in
    -reps) reps=$2; shift 2 ;;
    *) echo "usage: $0 [-reps N]" >&2; exit 2 ;;
  esac
done
command -v haproxy >/dev/null || { echo "rollout: haproxy is not installed (apt-get install haproxy)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/go-stdlib" ./bench/servers/gostdlib
go test -c -o "$tmp/e2e.test" ./e2e

for i in $(seq "$reps"); do
  echo "rollout: repetition $i of $reps" >&2
  "$tmp/e2e.test" -test.run Rolling -test.v -test.count 1 | grep 'rollout ' >>"$tmp/lines" || true
  E2E_SERVER="$tmp/go-stdlib" E2E_CHECK_PATH=/fast \
    "$tmp/e2e.test" -test.run Rolling -test.v -test.count 1 | grep 'rollout ' >>"$tmp/lines" || true
done

# Lines read: "rollout_test.go:89: rollout delay: 206855 requests, 0 failed map[]":
# field 4 is the requests, field 6 the failures, the map the failures by kind.
# median: of numbers, one a line (the upper one of an even count).
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int(NR / 2) + 1] }'; }
echo "| server | failed requests per rolling restart: median (range) | requests per run: median | failures by kind (all runs) |"
echo "|---|---|---|---|"
for name in delay retry-after no-delay retry-after-no-delay go-stdlib; do
  # shellcheck disable=SC2016 # backquotes are markdown
  case $name in
    delay) label='drain, `-shutdown-delay 2s`' ;;
    retry-after) label='drain, `-shutdown-delay 2s -retry-after`' ;;
    no-delay) label='drain, no delay' ;;
    retry-after-no-delay) label='drain, `-retry-after`, no delay' ;;
    go-stdlib) label='go-stdlib (`Server.Shutdown`)' ;;
  esac
  if ! grep -F " rollout $name: " "$tmp/lines" >"$tmp/runs"; then
    echo "| $label | no run | | |"
    continue
  fi
  fails=$(awk '{ print $6 }' "$tmp/runs" | sort -n)
  kinds=$(sed -n 's/.*map\[\(.\+\)\]$/\1/p' "$tmp/runs" | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $0 }')
  echo "| $label | $(median <<<"$fails") ($(head -n 1 <<<"$fails")-$(tail -n 1 <<<"$fails")) | $(awk '{ print $4 }' "$tmp/runs" | median) | ${kinds:-none} |"
done
