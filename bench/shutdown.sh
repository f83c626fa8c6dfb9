#!/usr/bin/env bash
# Measures how the canonical net/http shutdown (bench/servers/gostdlib) and
# drain (examples/seed) shut down under SIGTERM, side by side, and prints
# markdown tables for BENCHMARKS.md on stdout (progress on stderr).
#
#   bench/shutdown.sh                  # 5 repetitions, about two minutes
#   bench/shutdown.sh -reps 1 -v       # any flag of bench/cmd/shutdownbench
#   bench/shutdown.sh -logs /tmp/logs  # keep every run's server output
#
# It builds the two servers and the bench into a temporary directory, so it
# runs from a clean checkout with only the Go toolchain.
set -euo pipefail

cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

go build -o "$bin/gostdlib" ./bench/servers/gostdlib
go build -o "$bin/seed" ./examples/seed
go build -o "$bin/shutdownbench" ./bench/cmd/shutdownbench

# idle10k holds 10,000 connections in the bench and 10,000 in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$bin/shutdownbench" -server "go-stdlib=$bin/gostdlib" -server "drain=$bin/seed" "$@"
