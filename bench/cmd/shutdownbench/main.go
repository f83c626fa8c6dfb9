// Command shutdownbench measures, side by side in one run, how HTTP servers
// shut down under SIGTERM, and prints the results as markdown tables for
// BENCHMARKS.md. It builds nothing: it is given each server as a built
// command (bench/shutdown.sh builds them and runs it).
//
//	shutdownbench -server go-stdlib=/tmp/gostdlib -server drain=/tmp/seed
//
// Every server must listen on :$PORT (or on the port given by "{port}" in
// its arguments) and answer GET /fast at once and GET /slow?ms=N after N
// milliseconds. Each scenario runs -reps times against each server, the
// servers and scenarios interleaved so that a noisy moment of the machine
// does not land on one of them only; the tables show the median and, in
// parentheses, the range.
//
// The scenarios:
//
//	keepalive  16 busy keep-alive clients on /fast, 3 /slow?ms=2000 in
//	           flight, SIGTERM after 1.8s
//	tail       one /slow?ms=1100 in flight, answered 0.6s after SIGTERM:
//	           how long the server lingers after its last response
//	silent     20 connected-but-silent sockets, connected 1s before
//	           SIGTERM, nothing in flight
//	idle10k    10,000 idle keep-alive connections, each answered once and
//	           then quiet for 1s before SIGTERM
//
// The machine must be quiet: on two cores another program's load shows up
// directly in the timings. Before each run the bench waits (up to
// -quiet-wait) until other processes leave the CPUs alone, measures how
// much CPU they used during the run, runs a disturbed run again (up to
// -retries times), and flags in the output the runs that stayed
// disturbed.
//
// Progress and per-run summaries go to stderr, the tables to stdout. A
// full run with two servers and 5 repetitions takes about two minutes on a
// quiet machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/drain-go/drain/internal/probe"
	"github.com/drain-go/drain/internal/probe/report"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// A server is a server under test.
type server struct {
	name string
	args []string
}

// serverFlags collects the repeated -server flag.
type serverFlags []server

func (s *serverFlags) String() string { return strings.Join(names(*s), ",") }

func names(servers []server) []string {
	names := make([]string, len(servers))
	for i, sv := range servers {
		names[i] = sv.name
	}
	return names
}

func (s *serverFlags) Set(v string) error {
	name, cmd, ok := strings.Cut(v, "=")
	args := strings.Fields(cmd)
	if !ok || name == "" || len(args) == 0 {
		return errors.New(`want name=command [args...]`)
	}
	for _, sv := range *s {
		if sv.name == name {
			return fmt.Errorf("server %q given twice", name)
		}
	}
	*s = append(*s, server{name: name, args: args})
	return nil
}

// A trial is one run of one scenario against one server.
type trial struct {
	rep   *report.Report
	err   error
	noise interference // CPU other processes used during the run
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shutdownbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var servers serverFlags
	fs.Var(&servers, "server", "a server to measure, as name=command [args...] (repeatable; {port} in args is replaced by its port)")
	reps := fs.Int("reps", 5, "repetitions of each scenario against each server")
	only := fs.String("scenarios", strings.Join(scenarioNames(), ","), "comma-separated scenarios to run")
	logs := fs.String("logs", "", "directory to save each run's server output in")
	verbose := fs.Bool("v", false, "print every run's report and its requests of note")
	killAfter := fs.Duration("kill-after", probe.DefaultKillAfter, "SIGKILL a server that has not exited this long after the signal")
	quietWait := fs.Duration("quiet-wait", 30*time.Second, "before each run, wait up to this long for other processes to leave the CPUs alone (0: do not wait)")
	retries := fs.Int("retries", 2, "run again, up to this many times, a run during which other processes used the CPUs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(servers) == 0 || *reps < 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: shutdownbench -server name=command [-server ...] [flags]")
		fs.PrintDefaults()
		return 2
	}
	scens, err := pick(*only)
	if err != nil {
		fmt.Fprintln(stderr, "shutdownbench:", err)
		return 2
	}
	if *logs != "" {
		if err := os.MkdirAll(*logs, 0o755); err != nil {
			fmt.Fprintln(stderr, "shutdownbench:", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	began := time.Now()
	// results[scenario][server] lists the runs in order.
	results := make([][][]trial, len(scens))
	for si := range scens {
		results[si] = make([][]trial, len(servers))
	}
	for rep := 1; rep <= *reps; rep++ {
		for si, sc := range scens {
			for vi, sv := range servers {
				if ctx.Err() != nil {
					fmt.Fprintln(stderr, "shutdownbench: interrupted")
					return 1
				}
				var r trial
				for attempt := 0; ; attempt++ {
					if *quietWait > 0 && !waitQuiet(ctx, *quietWait) {
						fmt.Fprintf(stderr, "shutdownbench: the machine did not become quiet within %v; running anyway\n", *quietWait)
					}
					r = measure(ctx, sc, sv, rep, *killAfter, *logs)
					if r.err != nil || !r.noise.noisy() || attempt >= *retries || ctx.Err() != nil {
						break
					}
					fmt.Fprintf(stderr, "[%d/%d] %-9s %-10s disturbed: other processes used %v; again\n", rep, *reps, sc.name, sv.name, r.noise)
				}
				results[si][vi] = append(results[si][vi], r)
				progress(stderr, sc, sv, rep, *reps, r, *verbose)
			}
		}
	}
	fmt.Fprintf(stderr, "done in %v\n", time.Since(began).Round(time.Second))

	fmt.Fprint(stdout, header(*reps, servers, results))
	for si, sc := range scens {
		fmt.Fprint(stdout, table(sc, servers, results[si]))
	}
	fmt.Fprint(stdout, notes(scens, servers, results))
	return 0
}

// measure runs scenario sc against server sv once.
func measure(ctx context.Context, sc scenario, sv server, rep int, killAfter time.Duration, logs string) trial {
	cfg := sc.cfg
	cfg.Server = probe.Command{Args: sv.args}
	cfg.KillAfter = killAfter
	// The benchmark measures how long a server holds clients that never
	// give up: the probe must not close its quiet connections to judge.
	cfg.HoldQuiet = true
	if logs != "" {
		f, err := os.Create(filepath.Join(logs, fmt.Sprintf("%s-%s-%d.log", sc.name, sv.name, rep)))
		if err != nil {
			return trial{err: err}
		}
		defer f.Close()
		cfg.Server.Output = f
	}
	// Start every run with the probe's heap collected, so that its GC
	// does not run during the shutdown it measures.
	runtime.GC()
	cpu := sampleCPU()
	rep2, err := probe.Run(ctx, cfg)
	return trial{rep: rep2, err: err, noise: since(cpu)}
}

func progress(w io.Writer, sc scenario, sv server, rep, reps int, r trial, verbose bool) {
	prefix := fmt.Sprintf("[%d/%d] %-9s %-10s", rep, reps, sc.name, sv.name)
	if r.err != nil {
		fmt.Fprintf(w, "%s error: %v\n", prefix, r.err)
		return
	}
	line := fmt.Sprintf("exit %v, signal -> exit %.1fms", r.rep.Exit, ms(r.rep.SignalToExit()))
	if d, ok := r.rep.LastResponseToExit(); ok && (sc.name == "keepalive" || sc.name == "tail") {
		line += fmt.Sprintf(", last response -> exit %.1fms", ms(d))
	}
	t := r.rep.Total()
	line += fmt.Sprintf(", lost %d, refused %d", t.Lost, t.Refused)
	if r.noise.noisy() {
		line += fmt.Sprintf(" [NOISY: other processes used %v]", r.noise)
	}
	if !r.rep.KeptUp() {
		line += fmt.Sprintf(" [PROBE LAG: p99 %.1fms, signal %.1fms late]", ms(r.rep.LagP99), ms(r.rep.SignalLag))
	}
	fmt.Fprintf(w, "%s %s\n", prefix, line)
	if verbose {
		for l := range strings.Lines(r.rep.String()) {
			fmt.Fprintf(w, "    %s", l)
		}
		recs := slices.Clone(r.rep.Records)
		slices.SortFunc(recs, func(a, b report.Record) int { return a.Done.Compare(b.Done) })
		for _, rec := range recs {
			fmt.Fprintf(w, "    %s\n", rec.Describe(r.rep.SignalAt))
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
