#!/usr/bin/env bash
# Compares how four HTTP servers shut down under SIGTERM, with drainprobe,
# and prints a markdown table on stdout (progress on stderr):
#
#   express-seed        node bench/express/seed.js        server.close() + 10 s force timer
#   express-terminator  node bench/express/terminator.js  http-terminator, 10 s
#   go-stdlib           bench/servers/gostdlib            Server.Shutdown, 10 s
#   drain               examples/seed                     drain, defaults
#
# Two scenarios, each run -reps times against each server, interleaved
# (repetition, then scenario, then server) so that a noisy moment of the
# machine does not land on one server only:
#
#   keepalive  16 busy keep-alive clients on /fast, 3 GET /slow?ms=2000 in
#              flight, SIGTERM after 1.8 s (the baseline's scenario 1)
#   silent     20 connected-but-silent sockets and nothing else, SIGTERM
#              after 1 s
#
# Usage:
#
#   bench/compare.sh                       # 3 repetitions, about 2.5 minutes
#   bench/compare.sh -reps 5 -out /tmp/cmp # keep every report in /tmp/cmp
#   bench/compare.sh -servers go-stdlib,drain   # no Node.js needed
#   bench/compare.sh -table /tmp/cmp/runs.jsonl # print the table again
#
# Flags:
#
#   -reps N       repetitions of each scenario against each server (3)
#   -servers L    comma-separated subset of the servers above (all four)
#   -grace D      drainprobe's --grace: SIGKILL a server this long after
#                 the signal (15s: above the 10 s bounds of the servers)
#   -out DIR      where to keep each run's JSON report and stderr, and
#                 runs.jsonl, from which the table is made (default: a new
#                 temporary directory, kept and named at the end)
#   -probe BIN    use this drainprobe binary instead of building
#                 cmd/drainprobe
#   -table FILE   only print the table from a runs.jsonl of an earlier run
#
# Needs: Go; jq (Debian: apt-get install jq); Node.js and npm for the
# Express servers (npm ci installs the versions pinned in
# bench/express/package-lock.json). It builds everything into a temporary
# directory, so it runs from a clean checkout. drainprobe exits 0 for
# PASS and 1 for FAIL, both with a report; any other status, or no valid
# report, counts as an error and is listed under the table.
set -euo pipefail

invocation="bench/compare.sh${*:+ $*}"
all_servers=(express-seed express-terminator go-stdlib drain)
reps=3
servers_csv=$(IFS=,; echo "${all_servers[*]}")
grace=15s
out=
probe_bin=
table_only=

die() { echo "compare.sh: $*" >&2; exit 2; }

while (($#)); do
	case $1 in
	-reps) reps=${2:?-reps needs a number}; shift 2 ;;
	-servers) servers_csv=${2:?-servers needs a list}; shift 2 ;;
	-grace) grace=${2:?-grace needs a duration}; shift 2 ;;
	-out) out=${2:?-out needs a directory}; shift 2 ;;
	-probe) probe_bin=${2:?-probe needs a path}; shift 2 ;;
	-table) table_only=${2:?-table needs a file}; shift 2 ;;
	-h | -help | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument $1 (see -h)" ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || die "-reps must be a positive number, not $reps"
IFS=, read -r -a servers <<<"$servers_csv"
for s in "${servers[@]}"; do
	[[ " ${all_servers[*]} " == *" $s "* ]] || die "unknown server $s (want some of: ${all_servers[*]})"
done

# Paths given on the command line are the caller's; the rest of the script
# runs from the repository's root.
abs() { if [[ -n $1 ]]; then realpath -m -- "$1"; fi; }
out=$(abs "$out") probe_bin=$(abs "$probe_bin") table_only=$(abs "$table_only")
cd "$(dirname "$0")/.."

command -v jq >/dev/null || die "jq is required to read drainprobe's JSON reports (Debian: apt-get install jq)"

# The table, from runs.jsonl: one {"meta": ...} line, then one line per run,
# either drainprobe's report plus "server", "scenario" and "rep", or
# {"server", "scenario", "rep", "error"}. Cells show the median over the
# runs and, when the runs differ, the range.
read -r -d '' table_jq <<'JQ' || true
def commas: if length <= 3 then . else (.[:-3] | commas) + "," + .[-3:] end;
def fmt:
  if . == null then "-"
  elif . < 0 then (-. | fmt) as $p | if $p == "0" then "0" else "-" + $p end
  elif . < 10 and . != floor then (. * 10 | round / 10 | tostring)
  else (round | tostring | commas) end;
def median:
  sort | if length % 2 == 1 then .[length / 2 | floor]
         else (.[length / 2 - 1] + .[length / 2]) / 2 end;
# cell: an array of numbers (nulls ignored) as "median (min-max)".
def cell:
  map(select(. != null))
  | if length == 0 then "-"
    else (median | fmt) as $m | (min | fmt) as $lo | (max | fmt) as $hi
    | if $lo == $hi then $m else "\($m) (\($lo)–\($hi))" end end;
# tally: an array of strings as "a" when all agree, else "a ×2, b ×1".
def tally:
  if length == 0 then "-"
  else group_by(.) | sort_by(-length)
  | if length == 1 then .[0][0] else map("\(.[0]) ×\(length)") | join(", ") end end;
def distinct: reduce .[] as $x ([]; if any(.[]; . == $x) then . else . + [$x] end);

(map(select(has("meta"))) | .[0].meta) as $meta
| map(select(has("meta") | not)) as $runs
| ($runs | map(select(has("error") | not))) as $ok
| ($meta.scenarios | map(.name)) as $order
| def verdict:
    . as $r
    | ($r | map(select(has("error"))) | length) as $errors
    | ($r | map(select(has("error") | not))) as $done
    | [ $order[] as $sc
        | ($done | map(select(.scenario == $sc))) as $all
        | ($all | map(select(.verdict.pass | not))) as $failed
        | select($failed | length > 0)
        | "\($sc): \($failed | map(.verdict.reasons[]?.code) | distinct | join(", "))"
          + (if ($failed | length) < ($all | length) then " (\($failed | length) of \($all | length) runs)" else "" end) ]
      as $why
    | (if ($done | length) == 0 then "no report"
       elif ($why | length) == 0 then "PASS"
       else "FAIL: " + ($why | join("; ")) end)
      + (if $errors == 1 then " (1 run without a report)"
         elif $errors > 1 then " (\($errors) runs without a report)" else "" end);
"## Shutdown under SIGTERM, side by side (drainprobe)",
"",
"Machine: \($meta.machine.cpus) CPUs (\($meta.machine.cpu)), \($meta.machine.kernel); \($meta.versions.go); \(if $meta.versions.node == "-" then "Node.js not used" else "Node.js \($meta.versions.node), Express \($meta.versions.express), http-terminator \($meta.versions.http_terminator)" end); \($meta.date); drain at \($meta.commit). \($meta.reps) run\(if $meta.reps == 1 then "" else "s" end) of each scenario against each server, interleaved; each cell is the median, with the range in parentheses when the runs differ. Command: `\($meta.command)`.",
"",
($meta.scenarios[] | "- **\(.name)**: \(.about) (`drainprobe \(.flags)`)"),
"",
"\"lost\" = a request written on an established connection that got no complete answer; \"refused\" = a new connection refused once the listener closed (expected for a single instance). Lost, refused, exit code and last response -> exit are from the keepalive scenario; the exit code of the silent scenario is shown only when it is not 0.",
"",
"| server | lost | refused | exit code | last response -> exit (ms) | silent sockets: signal -> exit (ms) | verdict |",
"|---|---|---|---|---|---|---|",
($meta.servers[] as $s
 | ($runs | map(select(.server == $s))) as $r
 | ($ok | map(select(.server == $s and .scenario == "keepalive"))) as $k
 | ($ok | map(select(.server == $s and .scenario == "silent"))) as $q
 | "| \($s) | \($k | map(.counts.lost) | cell) | \($k | map(.counts.refused) | cell) | \($k | map(.exit.text) | tally) | \($k | map(.durations_ms.last_response_to_exit) | cell) | \($q | map(.durations_ms.signal_to_exit) | cell)"
   + (if ($q | map(select(.exit.shell_code != 0)) | length) > 0 then "; exit \($q | map(.exit.text) | tally)" else "" end)
   + " | \($r | verdict) |"),
"",
"Servers: " + ($meta.servers | map("\(.) = `\($meta.commands[.])`") | join("; ")) + ".",
( [$ok[] | .verdict.reasons[]?] as $reasons
  | ($reasons | map(.code) | distinct) as $codes
  | select($codes | length > 0)
  | "", "Reasons (one example of each):",
    ($codes[] as $c | ($reasons | map(select(.code == $c)) | .[0].text) as $t | "- `\($c)`: \($t)") ),
( ($runs | map(select(has("error")))) as $e
  | select($e | length > 0)
  | "", "Runs without a report:",
    ($e[] | "- \(.scenario) \(.server) run \(.rep): \(.error)") )
JQ

table() { jq -r -s "$table_jq" "$1"; }

if [[ -n $table_only ]]; then
	[[ -r $table_only ]] || die "cannot read $table_only"
	table "$table_only"
	exit 0
fi

need_node=false
for s in "${servers[@]}"; do [[ $s == express-* ]] && need_node=true; done
if $need_node; then
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		die "Node.js and npm are needed for the Express servers (or leave them out: -servers go-stdlib,drain)"
	fi
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
if [[ -z $out ]]; then
	out=$(mktemp -d -t drain-compare.XXXXXX)
fi
mkdir -p "$out"
runs=$out/runs.jsonl
: >"$runs"

echo "building into $bin" >&2
if [[ -n $probe_bin ]]; then
	[[ -x $probe_bin ]] || die "-probe $probe_bin is not an executable"
	cp "$probe_bin" "$bin/drainprobe"
else
	go build -o "$bin/drainprobe" ./cmd/drainprobe || die "building cmd/drainprobe failed"
fi
go build -o "$bin/gostdlib" ./bench/servers/gostdlib || die "building bench/servers/gostdlib failed"
go build -o "$bin/seed" ./examples/seed || die "building examples/seed failed"

express_version=- terminator_version=- node_version=-
if $need_node; then
	echo "npm ci in bench/express" >&2
	(cd bench/express && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
		die "npm ci in bench/express failed"
	node_version=$(node --version)
	express_version=$(node -p 'require("./bench/express/node_modules/express/package.json").version')
	terminator_version=$(node -p 'require("./bench/express/node_modules/http-terminator/package.json").version')
fi

# server_cmd NAME sets cmd to the command that starts server NAME.
server_cmd() {
	case $1 in
	express-seed) cmd=(node bench/express/seed.js) ;;
	express-terminator) cmd=(node bench/express/terminator.js) ;;
	go-stdlib) cmd=("$bin/gostdlib") ;;
	drain) cmd=("$bin/seed") ;;
	esac
}

# Every load drainprobe has is set explicitly in both scenarios, so that
# its defaults (idle connections, silent sockets) do not leak in.
scenarios=(keepalive silent)
declare -A flags=(
	[keepalive]="--busy 16 --slow 3 --slow-path /slow?ms=2000 --idle 0 --silent 0 --warmup 1.8s"
	[silent]="--busy 0 --slow 0 --idle 0 --silent 20 --warmup 1s --hold-quiet"
)
declare -A about=(
	[keepalive]="16 busy keep-alive clients on /fast, 3 GET /slow?ms=2000 in flight, SIGTERM after 1.8 s; the clients keep going until the process exits"
	[silent]="20 connected-but-silent sockets (as browsers preconnect), nothing else, SIGTERM after 1 s"
)

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null) ]]; then commit+=" (uncommitted changes)"; fi
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//')
{
	jq -n -c \
		--arg cpus "$(nproc)" --arg cpu "${cpu:-unknown}" --arg kernel "$(uname -sr)" \
		--arg go "$(go env GOVERSION)" --arg node "$node_version" \
		--arg express "$express_version" --arg terminator "$terminator_version" \
		--arg date "$(date -u +%Y-%m-%d)" --arg commit "$commit" --argjson reps "$reps" \
		--arg command "$invocation" \
		--arg servers "${servers[*]}" --arg grace "$grace" \
		--arg kflags "${flags[keepalive]}" --arg kabout "${about[keepalive]}" \
		--arg sflags "${flags[silent]}" --arg sabout "${about[silent]}" \
		'{meta: {
			machine: {cpus: $cpus, cpu: $cpu, kernel: $kernel},
			versions: {go: $go, node: $node, express: $express, http_terminator: $terminator},
			date: $date, commit: $commit, reps: $reps, command: $command,
			servers: ($servers | split(" ")),
			commands: {
				"express-seed": "node bench/express/seed.js",
				"express-terminator": "node bench/express/terminator.js",
				"go-stdlib": "bench/servers/gostdlib",
				"drain": "examples/seed"},
			scenarios: [
				{name: "keepalive", flags: "\($kflags) --grace \($grace)", about: $kabout},
				{name: "silent", flags: "\($sflags) --grace \($grace)", about: $sabout}]}}'
} >>"$runs"

for ((rep = 1; rep <= reps; rep++)); do
	for sc in "${scenarios[@]}"; do
		for s in "${servers[@]}"; do
			server_cmd "$s"
			base=$out/$sc-$s-$rep
			read -r -a args <<<"${flags[$sc]}" # words, never globbed (/slow?ms=...)
			set +e
			"$bin/drainprobe" --json "${args[@]}" --grace "$grace" -- "${cmd[@]}" >"$base.json" 2>"$base.err"
			status=$?
			set -e
			tag=(--arg server "$s" --arg scenario "$sc" --argjson rep "$rep")
			if ((status <= 1)) && jq -e 'has("verdict")' "$base.json" >/dev/null 2>&1; then
				jq -c "${tag[@]}" '. + {server: $server, scenario: $scenario, rep: $rep}' "$base.json" >>"$runs"
				jq -r "${tag[@]}" --arg n "$reps" \
					'"[\($rep)/\($n)] \($scenario) \($server): \(if .verdict.pass then "PASS" else "FAIL" end), exit \(.exit.text), lost \(.counts.lost), refused \(.counts.refused), signal -> exit \(.durations_ms.signal_to_exit | if . == null then "-" else . * 10 | round / 10 end) ms"' \
					"$base.json" >&2
			else
				why=$(grep -v '^\s*$' "$base.err" | head -n 1)
				jq -n -c "${tag[@]}" --arg error "drainprobe exited $status without a report: ${why:-no message} (see $base.err)" \
					'{server: $server, scenario: $scenario, rep: $rep, error: $error}' >>"$runs"
				echo "[$rep/$reps] $sc $s: ERROR, drainprobe exited $status: ${why:-no message}" >&2
			fi
		done
	done
done

table "$runs"
echo "reports and server output kept in $out (print the table again: bench/compare.sh -table $runs)" >&2
