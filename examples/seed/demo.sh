#!/usr/bin/env bash
# Shows a graceful shutdown, then a forced one, with the seed demo:
#
#   1. a request that takes 3s is in flight when SIGTERM arrives: it is
#      answered, then the process exits 0;
#   2. the same with -timeout 1s: the shutdown is forced, the request is
#      answered 503, the database is still closed, and the exit code is 1;
#   3. behind a balancer, -shutdown-delay 2s: after SIGTERM /readyz fails
#      at once while requests are still served (with Connection: close),
#      then the drain; the log names each event.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
go build -o "$bin/seed" ./examples/seed
port=${PORT:-3000}

run() {
  local title=$1; shift
  echo
  echo "== $title"
  PORT=$port "$bin/seed" -delay 3s "$@" &
  local pid=$!
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { echo "demo: the server did not start" >&2; exit 1; }
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.05
  done
  (curl -s -o /dev/null -w "client: GET / answered %{http_code} after %{time_total}s\n" "http://127.0.0.1:$port/" || echo "client: GET / failed") &
  local client=$!
  sleep 1
  echo "demo: kill -TERM $pid (the request has 2s to go)"
  kill -TERM "$pid"
  local code=0
  wait "$pid" || code=$?
  wait "$client"
  echo "demo: exit code $code"
}

run "graceful: the request in flight is answered, exit 0"
run "forced: -timeout 1s cuts the 3s request, exit 1" -timeout 1s

echo
echo "== behind a balancer: -shutdown-delay 2s"
PORT=$port "$bin/seed" -shutdown-delay 2s &
pid=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
  sleep 0.05
done
echo "client: GET /readyz answered $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") before the signal"
echo "demo: kill -TERM $pid"
kill -TERM "$pid"
sleep 0.2
echo "client: GET /readyz answered $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") during the delay"
curl -s -D - -o /dev/null "http://127.0.0.1:$port/fast" | tr -d '\r' | grep -Ei '^(HTTP|connection)' | sed 's/^/client: GET \/fast: /'
code=0
wait "$pid" || code=$?
echo "demo: exit code $code"
