#!/usr/bin/env bash
# Chaos soak of graceful shutdowns (bench/cmd/soak): starts drain's demo
# server (examples/seed) in each mode (default, delay, retry-after, both)
# and the go-stdlib pattern (bench/servers/gostdlib) hundreds of times,
# loads each with raw HTTP/1.1 clients that never retry, sends SIGTERM at
# a random time (sometimes before it listens, sometimes twice) and counts
# exits 0 with a lost request, hangs, panics and untruthful exit codes.
# Prints a markdown table for BENCHMARKS.md on stdout, progress on stderr;
# exits 1 if a drain of drain's demo went bad.
#
#   bench/soak.sh                          # 300 drains of each of the 5 rows: 35 minutes measured on 2 cores (2026-12-01)
#   bench/soak.sh -drains 40               # 3.6 minutes measured
#   bench/soak.sh -modes retry-after,both  # some rows only
#   bench/soak.sh -modes retry-after -drain-seed 0x1f2e -drains 20   # a bad drain's plan again
#   bench/soak.sh -logs /tmp/soak-logs     # keep the server output of each bad drain
#   GOFLAGS=-race bench/soak.sh -drains 20 # servers built with the race detector
#
# Any flag of bench/cmd/soak goes through ("go doc ./bench/cmd/soak").
# It builds the servers and the soak into a temporary directory, so it
# runs from a clean checkout with only the Go toolchain.
set -euo pipefail

cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

go build -o "$bin/seed" ./examples/seed
go build -o "$bin/gostdlib" ./bench/servers/gostdlib
go build -o "$bin/soak" ./bench/cmd/soak

# Each drain opens thousands of short connections, two sockets each on
# loopback.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$bin/soak" -server "drain=$bin/seed" -baseline "go-stdlib=$bin/gostdlib" "$@"
