//go:build unix

// Command soak is a chaos soak of graceful shutdowns: it starts an HTTP
// server hundreds of times, loads it with raw HTTP/1.1 clients that never
// retry, sends it SIGTERM at a random moment (sometimes before it listens,
// sometimes twice), and counts what must never happen: an exit 0 with a
// lost request, a hang, a panic, an exit code that does not tell the
// truth. It builds nothing: bench/soak.sh builds the servers and runs it.
//
//	soak -server drain=/tmp/seed -baseline go-stdlib=/tmp/gostdlib -drains 300
//
// The table goes to stdout as markdown, for BENCHMARKS.md; progress, and a
// line for each bad drain as it happens, to stderr. The exit status is 0
// if no drain of a -server went bad, 1 if one did or the soak was
// interrupted, 2 for bad flags. Baselines are there for comparison and
// never fail the soak.
//
// A drain takes about a second; on a 2-core machine bench/soak.sh
// -drains 40 (200 drains: four modes and go-stdlib) took 3.5 minutes, its
// clients answered 8,000-15,000 requests per drain.
//
// # Servers and modes
//
// -server name=command [args...] is a server built on drain that takes the
// seed demo's flags (examples/seed). It runs in each mode, its command
// followed by -addr 127.0.0.1:PORT -timeout T and the mode's flags:
//
//	default      no flag
//	delay        -shutdown-delay 100ms
//	retry-after  -retry-after
//	both         -retry-after -shutdown-delay 100ms
//
// -baseline name=command [args...] is any other server, run as it is in
// one mode: it must listen on $PORT (or on the port that "{port}" in its
// arguments is replaced by) and answer GET /fast at once and
// GET /slow?ms=N after N milliseconds. -modes selects drain modes and
// baselines by name; all by default.
//
// # One drain
//
// The soak picks a free loopback port, starts the server in a process
// group of its own with PORT set, and loads it at once, from before it
// listens: 8 busy clients sending GET /fast back to back on keep-alive
// connections (-busy), 3 clients opening a new connection for each
// GET /fast (-storm; half of them say "Connection: close"), and 1 or 2
// clients sending GET /slow?ms=N, N from 20 to 500 drawn for each
// request, so that slow requests are in flight at the signal. A client
// connects again after a response that says "Connection: close" or a
// failed request; a connection refused before the server has listened is
// tried again 1 ms later, one refused after that means the port is closed
// and the client stops. The first SIGTERM goes at a random time up to
// -signal-within (1.5s) after the start, in 1 drain in 5 within its first
// 50 ms (the seed demo listens after 20-30 ms): before the Go runtime runs,
// before drain installs its handler, before the server listens, just
// after. In 1 drain in 5 a second SIGTERM follows up to 100 ms later,
// which forces drain's shutdown: exit 1, at once. The load goes on until
// the process exits; a process still running -hang-after (-timeout plus
// 5s) after the first signal has hung, and its group is killed.
//
// # What is counted
//
// Every request is answered (a complete response, whatever its status;
// 503s are counted apart), lost (written on an established connection,
// and no complete response: closed, reset, timed out, cut short; a write
// that fails there counts too), or refused (no connection). The bad
// drains, listed with everything needed to understand them:
//
//   - exit 0 with loss: the process said all was well and a request was
//     lost, the headline failure;
//   - hang: still running -hang-after after the first signal;
//   - panic: "panic: " or "fatal error: " at the start of a line of its
//     output, or "WARNING: DATA RACE" (build the servers with -race:
//     GOFLAGS=-race bench/soak.sh);
//   - exit 1 unexplained: exit 1 from a drain server with no second
//     signal, and no msg="drain: shutdown forced" or msg="drain: shutdown
//     finished with errors" in its log;
//   - killed by SIGTERM although drain's log says it was running (its
//     handler installed): only a signal that comes earlier may kill it,
//     which the table counts as "by signal", with when the signals came;
//   - exited before the signal, or with another code than 0 or 1.
//
// A port another process took before the server bound it ("address
// already in use") voids the drain, which runs again on another port.
//
// # Reproducing a drain
//
// Each drain draws what is random in it (the signal times, the second
// signal, the slow clients and their lengths) from a seed of its own,
// drawn from -seed (from the clock by default, and printed). -drain-seed S
// runs every drain with the plan of seed S: the report gives, for each
// bad drain, the flags that run its plan again 20 times. The machine
// decides the timing, so a plan reproduces a situation, not a run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults and limits of the flags: a soak is bounded in count and in
// time.
const (
	defaultDrains       = 300
	defaultTimeout      = 3 * time.Second
	defaultSignalWithin = 1500 * time.Millisecond
	hangMargin          = 5 * time.Second // -hang-after defaults to -timeout plus this
	maxDrains           = 10000
	maxParallel         = 8
	maxClients          = 64
	maxDuration         = time.Minute // for -timeout, -hang-after and -signal-within
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the soak with the command-line arguments args and returns the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var servers []server
	fs.Var(serverFlag{&servers, true}, "server", "a drain server taking the seed demo's flags, as name=command [args...], run in each mode (repeatable)")
	fs.Var(serverFlag{&servers, false}, "baseline", "a server listening on $PORT, as name=command [args...], run as it is for comparison (repeatable; {port} in args is replaced by its port)")
	drains := fs.Int("drains", defaultDrains, "drains per server and mode")
	only := fs.String("modes", "", "comma-separated drain modes ("+strings.Join(modeNames(), ", ")+") and baseline names to run (default all)")
	var seed seedFlag
	fs.Var(&seed, "seed", "the seed every drain's seed is drawn from (default: from the clock)")
	var drainSeed seedFlag
	fs.Var(&drainSeed, "drain-seed", "run every drain with the plan of this drain seed (from the report of a bad drain)")
	parallel := fs.Int("parallel", 1, "drains to run at once (at most 8)")
	timeout := fs.Duration("timeout", defaultTimeout, "the drain servers' -timeout: their bound on the shutdown")
	hangAfter := fs.Duration("hang-after", 0, "a server still running this long after the first signal has hung (default -timeout + 5s)")
	signalWithin := fs.Duration("signal-within", defaultSignalWithin, "send the first signal at a random time up to this long after the server starts")
	busy := fs.Int("busy", 8, "busy keep-alive clients on GET /fast")
	storm := fs.Int("storm", 3, "clients opening a new connection for each GET /fast")
	logs := fs.String("logs", "", "directory to save the server output of each bad drain in")
	verbose := fs.Bool("v", false, "describe every drain on stderr, not only the bad ones")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *hangAfter == 0 {
		*hangAfter = *timeout + hangMargin
	}
	targets, err := selectTargets(servers, *only)
	if err == nil {
		err = checkBounds(*drains, *parallel, *busy, *storm, *timeout, *hangAfter, *signalWithin)
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "soak: %v\nusage: soak -server name=command [-baseline name=command] [flags]\n", err)
		fs.PrintDefaults()
		return 2
	}
	if !seed.set {
		seed.v = uint64(time.Now().UnixNano())
	}
	if *logs != "" {
		if err := os.MkdirAll(*logs, 0o755); err != nil {
			fmt.Fprintf(stderr, "soak: %v\n", err)
			return 1
		}
	}
	cfg := &soakConfig{
		targets:      targets,
		drains:       *drains,
		seed:         seed.v,
		replay:       drainSeed.set,
		drainSeed:    drainSeed.v,
		signalWithin: *signalWithin,
		parallel:     *parallel,
		drain: drainConfig{
			timeout:   *timeout,
			hangAfter: *hangAfter,
			load:      loadConfig{busy: *busy, storm: *storm, timeout: *signalWithin + *hangAfter + hangMargin},
		},
		logs: *logs,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	fmt.Fprintf(stderr, "soak: seed %#x, %d drains of each of %d servers and modes, %d at a time\n",
		cfg.seed, cfg.drains, len(targets), max(1, cfg.parallel))
	results := soak(ctx, cfg, &progress{w: stderr, verbose: *verbose, began: began})
	took := time.Since(began)

	status := 0
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "soak: interrupted; the report covers the drains that ran to the end")
		status = 1
	}
	sums := make([]summary, len(targets))
	for i, t := range targets {
		sums[i] = summarize(t, results[i])
		if t.server.drain && len(sums[i].bad) > 0 {
			status = 1
		}
	}
	fmt.Fprint(stdout, report(reportInfo{cfg: cfg, command: flagsSet(fs), took: took}, sums))
	return status
}

// checkBounds checks that the flags keep the soak bounded.
func checkBounds(drains, parallel, busy, storm int, timeout, hangAfter, signalWithin time.Duration) error {
	switch {
	case drains < 1 || drains > maxDrains:
		return fmt.Errorf("-drains %d: want 1 to %d", drains, maxDrains)
	case parallel < 1 || parallel > maxParallel:
		return fmt.Errorf("-parallel %d: want 1 to %d", parallel, maxParallel)
	case busy < 0 || storm < 0 || busy+storm > maxClients:
		return fmt.Errorf("-busy %d -storm %d: want at most %d clients in all", busy, storm, maxClients)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-timeout", timeout}, {"-hang-after", hangAfter}, {"-signal-within", signalWithin}} {
		if d.v <= 0 || d.v > maxDuration {
			return fmt.Errorf("%s %v: want more than 0, at most %v", d.name, d.v, maxDuration)
		}
	}
	return nil
}

// flagsSet returns the flags given to fs, but the servers and where the
// output goes, as they were given: " -drains 40 -modes retry-after".
func flagsSet(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "server", "baseline", "logs", "v":
			return
		}
		fmt.Fprintf(&b, " -%s %s", f.Name, f.Value)
	})
	return b.String()
}

// seedFlag is -seed or -drain-seed: a seed, and whether it was given.
type seedFlag struct {
	v   uint64
	set bool
}

func (f *seedFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return fmt.Sprintf("%#x", f.v)
}

func (f *seedFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return err
	}
	f.v, f.set = v, true
	return nil
}
