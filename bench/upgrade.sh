#!/usr/bin/env bash
# Zero-downtime upgrades on one machine, side by side: drain's demo
# (examples/seed) and cloudflare/tableflip's documented pattern
# (bench/servers/tableflip: Server.Shutdown once the new process is ready).
# Each run starts the server on a loopback port and upgrades it 3 times,
# 2 s apart, by SIGHUP (the new process is the same binary at the same
# path), under bench/cmd/upgradebench's load: 16 busy keep-alive clients on
# GET /fast, 4 clients opening a connection per GET /fast, and 3
# GET /slow?ms=1000 sent 200 ms before each signal; raw HTTP/1.1 clients
# that never retry. Prints a markdown table for BENCHMARKS.md on stdout,
# a line per run on stderr.
#
#   bench/upgrade.sh [reps [logdir]]   # reps runs of each, interleaved (3 by
#                                      # default, about 10 s a run); needs jq
#
# With logdir, each run's report (JSON) and server output are kept there.
# Before each run it waits, up to 60 s, for other processes to leave the
# CPUs alone: on 2 cores a busy neighbour starves the clients, and a
# starved client looks idle to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
logs=${2:-}
command -v jq >/dev/null || { echo "upgrade: jq is not installed (apt-get install jq)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -z "$logs" ] || mkdir -p "$logs"
go build -o "$tmp/seed" ./examples/seed
go build -o "$tmp/tableflip" ./bench/servers/tableflip
go build -o "$tmp/upgradebench" ./bench/cmd/upgradebench

# busy prints the CPU the machine spends over a second, in percent of one
# CPU (user, nice, system, steal, from /proc/stat).
busy() {
  local a b
  a=$(awk '/^cpu /{ print $2 + $3 + $4 + $9; exit }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu /{ print $2 + $3 + $4 + $9; exit }' /proc/stat)
  echo $(((b - a) * 100 / $(getconf CLK_TCK)))
}
wait_quiet() {
  local i
  for i in $(seq 60); do
    [ "$(busy)" -lt 15 ] && return 0
  done
  echo "upgrade: the machine did not become quiet within 60 s; running anyway" >&2
}

for rep in $(seq "$reps"); do
  for srv in drain tableflip; do
    bin=$tmp/seed
    [ "$srv" = drain ] || bin=$tmp/tableflip
    # A port below the ephemeral range; another if it is taken (exit 2).
    for _ in 1 2 3; do
      addr=127.0.0.1:$((20000 + RANDOM % 12000))
      pid=$tmp/$srv.pid
      wait_quiet
      rc=0
      "$tmp/upgradebench" -json -addr "$addr" -pidfile "$pid" -log "$tmp/$srv-$rep.log" \
        -- "$bin" -addr "$addr" -pidfile "$pid" >"$tmp/$srv-$rep.json" || rc=$?
      [ "$rc" -ne 2 ] && break
    done
    if [ -n "$logs" ]; then cp "$tmp/$srv-$rep.json" "$tmp/$srv-$rep.log" "$logs/"; fi
    if [ "$rc" -eq 2 ]; then
      echo "upgrade: $srv, run $rep: could not run" >&2
      continue
    fi
    # One line a run: server, refused, lost, lost per upgrade, slow
    # answered, slow sent, the old processes' exit codes, others' CPU.
    jq -r --arg srv "$srv" '[$srv, .refused, .lost,
        ([.upgrades[].lost] | map(tostring) | join(" ")), .slow_answered, .slow_sent,
        ([.upgrades[] | if .old_exit == null then "none" elif .old_exit.signal then .old_exit.signal else (.old_exit.code | tostring) end] | join(" ")),
        (.others_cpu * 100 | round)] | @tsv' "$tmp/$srv-$rep.json" | tee -a "$tmp/runs" |
      awk -F'\t' -v rep="$rep" '{ printf "upgrade: %s, run %d: refused %d, lost %d (per upgrade: %s), slow answered %d/%d, old exits %s, other processes %d%% of a CPU\n", $1, rep, $2, $3, $4, $5, $6, $7, $8 }' >&2
  done
done

# shellcheck disable=SC2016 # backquotes are markdown
echo '| server | runs | refused | lost (per upgrade) | slow answered | old processes exit |'
echo '|---|---|---|---|---|---|'
for srv in drain tableflip; do
  # shellcheck disable=SC2016
  case $srv in
    drain) label='drain (`examples/seed`)' ;;
    tableflip) label='tableflip (`bench/servers/tableflip`)' ;;
  esac
  awk -F'\t' -v srv="$srv" -v label="$label" '
    $1 == srv {
      n++
      refused = refused (n > 1 ? ", " : "") $2
      lost = lost (n > 1 ? ", " : "") $3 " (" $4 ")"
      slow += $5; sent += $6
      k = split($7, codes, " ")
      for (i = 1; i <= k; i++) exits[codes[i]]++
    }
    END {
      if (n == 0) { printf "| %s | 0 | | | | |\n", label; exit }
      ex = ""
      for (c in exits) ex = ex (ex == "" ? "" : ", ") (c ~ /^[0-9]+$/ ? "exit " c : c) ": " exits[c]
      printf "| %s | %d | %s | %s | %d/%d | %s |\n", label, n, refused, lost, slow, sent, ex
    }' "$tmp/runs"
done
