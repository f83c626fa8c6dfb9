//go:build linux

// Command upgradebench measures zero-downtime upgrades of a server on one
// machine: it starts the server, loads it with raw HTTP/1.1 clients that
// never retry, sends it SIGHUP several times, and counts what the clients
// lost and how each old process exited. bench/upgrade.sh runs it against
// drain's demo and cloudflare/tableflip's documented pattern.
//
//	upgradebench -addr 127.0.0.1:8080 -pidfile /tmp/s.pid -- /tmp/seed -addr 127.0.0.1:8080 -pidfile /tmp/s.pid
//
// The server (the command after --) must listen on -addr, write the PID of
// the process that serves to -pidfile once it serves (and again at each
// upgrade), upgrade itself on SIGHUP, and answer GET /fast at once and
// GET /slow?ms=N after N milliseconds.
//
// # The run
//
// Once the PID file names a process and it answers, the load starts:
// -busy clients (16) send GET /fast back to back on keep-alive
// connections, -conns clients (4) open a connection for each GET /fast.
// -interval (2 s) after the load started, and again each -interval, the
// bench sends SIGHUP to the process that serves, -slow-lead (200 ms) after
// sending -slow requests (3) GET /slow?ms=-slow-ms (1000) on connections
// of their own, and waits for the PID file to name a new process. Each old
// process becomes the bench's child once its parent has exited (the bench
// is a child subreaper), and the bench waits for its exit, up to
// -exit-timeout (30 s). -tail (1 s) after the last upgrade the load stops,
// and the bench sends SIGTERM to the last process and waits for its exit.
// It kills every process of the server (its process group, and each
// generation) when it ends, whatever the reason, ctrl-C included.
//
// Every request is written once: a dial refused (ECONNREFUSED) is
// "refused"; a request written on a connection without a complete
// response (closed, reset, or not answered within -timeout) is "lost"; a
// response other than 200, or another dial error, is "failed". A client
// closes its connection after a response with "Connection: close" and
// connects again; after a failure it connects again for its next request.
//
// # Output
//
// One line per upgrade (old PID -> new PID, how long the new one took,
// how the old one exited, the slow requests answered, the requests of
// that window lost and refused), then a summary with the first few
// failures; with -json, one JSON object instead. Exit status: 0 if nothing
// was refused, lost or failed, every slow request answered, every upgrade
// done and every old process exited 0; 1 if not, or interrupted; 2 if the
// bench could not run (bad flags, the server did not start).
//
// The server's output goes to the bench's stderr, or to -log.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	addr, pidFile, log string
	upgrades           int
	interval           time.Duration
	busy, conns        int
	slow, slowMS       int
	slowLead           time.Duration
	tail               time.Duration
	timeout            time.Duration
	startTimeout       time.Duration
	readyTimeout       time.Duration
	exitTimeout        time.Duration
	json               bool
	args               []string
}

func run(args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("upgradebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "", "the server's address, on loopback (required)")
	fs.StringVar(&c.pidFile, "pidfile", "", "the server's PID file (required; removed before the start)")
	fs.StringVar(&c.log, "log", "", "write the server's output to this file rather than stderr")
	fs.IntVar(&c.upgrades, "upgrades", 3, "SIGHUPs to send (1-100)")
	fs.DurationVar(&c.interval, "interval", 2*time.Second, "time between upgrades, and from the start of the load to the first")
	fs.IntVar(&c.busy, "busy", 16, "clients sending GET /fast back to back on keep-alive connections")
	fs.IntVar(&c.conns, "conns", 4, "clients opening a connection per GET /fast")
	fs.IntVar(&c.slow, "slow", 3, "slow requests in flight at each upgrade")
	fs.IntVar(&c.slowMS, "slow-ms", 1000, "how long a slow request takes, in milliseconds")
	fs.DurationVar(&c.slowLead, "slow-lead", 200*time.Millisecond, "send the slow requests this long before the signal")
	fs.DurationVar(&c.tail, "tail", time.Second, "load after the last upgrade")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Second, "bound on a dial, and on a request from its write to its response's end (plus -slow-ms for slow requests)")
	fs.DurationVar(&c.startTimeout, "start-timeout", 10*time.Second, "bound on the first process's start")
	fs.DurationVar(&c.readyTimeout, "ready-timeout", 30*time.Second, "bound on the wait for the PID file to name a new process")
	fs.DurationVar(&c.exitTimeout, "exit-timeout", 30*time.Second, "bound on the wait for an old process's exit")
	fs.BoolVar(&c.json, "json", false, "print a JSON report")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.args = fs.Args()
	if err := c.check(); err != nil {
		fmt.Fprintln(stderr, "upgradebench:", err)
		fmt.Fprintln(stderr, "usage: upgradebench -addr HOST:PORT -pidfile PATH [flags] -- server [args...]")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, c, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "upgradebench:", err)
		return 2
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.text(stdout)
	}
	if !rep.Clean {
		return 1
	}
	return 0
}

func (c *config) check() error {
	switch {
	case len(c.args) == 0:
		return errors.New("no server command after --")
	case c.addr == "" || c.pidFile == "":
		return errors.New("-addr and -pidfile are required")
	case c.upgrades < 1 || c.upgrades > 100:
		return errors.New("-upgrades must be 1 to 100")
	case c.interval < 100*time.Millisecond || c.interval > time.Minute:
		return errors.New("-interval must be 100ms to 1m")
	case c.busy < 0 || c.conns < 0 || c.slow < 0 || c.busy+c.conns+c.slow > 1000:
		return errors.New("-busy, -conns and -slow must be 0 or more, 1000 at most together")
	case c.slowMS < 0 || c.slowMS > 60_000:
		return errors.New("-slow-ms must be 0 to 60000")
	case c.slowLead < 0 || c.slowLead >= c.interval:
		return errors.New("-slow-lead must be 0 or more, and less than -interval")
	case c.tail < 0 || c.tail > time.Minute:
		return errors.New("-tail must be 0 to 1m")
	case c.timeout <= 0 || c.startTimeout <= 0 || c.readyTimeout <= 0 || c.exitTimeout <= 0:
		return errors.New("timeouts must be positive")
	case c.timeout > time.Minute || c.startTimeout > time.Minute || c.readyTimeout > time.Minute || c.exitTimeout > 5*time.Minute:
		return errors.New("timeouts must be 1m at most (-exit-timeout 5m)")
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s is not on loopback", c.addr)
	}
	return nil
}

// A report is the result of a run.
type report struct {
	Upgrades []*upgrade `json:"upgrades"`
	Answered int        `json:"answered"`
	Refused  int        `json:"refused"`
	Lost     int        `json:"lost"`
	Failed   int        `json:"failed"`
	// LostBy counts the lost requests by client: busy (keep-alive),
	// conns (a connection per request), slow.
	LostBy       map[string]int `json:"lost_by"`
	SlowAnswered int            `json:"slow_answered"`
	SlowSent     int            `json:"slow_sent"`
	Final        *exitInfo      `json:"final_exit"` // the last process's, after SIGTERM
	Errors       []string       `json:"errors"`     // the first few failures, and the first of each kind
	// OthersCPU is the CPU other processes used during the run, as a
	// share of one CPU (-1: unknown).
	OthersCPU   float64 `json:"others_cpu"`
	Interrupted bool    `json:"interrupted,omitempty"`
	Clean       bool    `json:"clean"`
}

// An upgrade is one SIGHUP and what followed.
type upgrade struct {
	N            int       `json:"n"`
	OldPID       int       `json:"old_pid"`
	NewPID       int       `json:"new_pid"` // 0 if none came
	ReadyMS      float64   `json:"ready_ms"`
	Error        string    `json:"error,omitempty"` // why the upgrade or the old process's exit was not seen
	OldExit      *exitInfo `json:"old_exit"`
	SlowAnswered int       `json:"slow_answered"`
	SlowSent     int       `json:"slow_sent"`
	// The requests sent from this signal to the next (or the end).
	Answered int `json:"answered"`
	Refused  int `json:"refused"`
	Lost     int `json:"lost"`
	Failed   int `json:"failed"`

	signalAt time.Time
	slowDone sync.WaitGroup
	slowOK   chan bool
}

// An exitInfo is how a process exited, and when.
type exitInfo struct {
	Code    int     `json:"code"`             // -1 if a signal ended it
	Signal  string  `json:"signal,omitempty"` // the signal that did
	AfterMS float64 `json:"after_ms"`         // from the signal the bench sent it
	text    string
}

func info(e exit, since time.Time) *exitInfo {
	x := &exitInfo{Code: e.code, AfterMS: ms(e.at.Sub(since)), text: e.String()}
	if e.signal != 0 {
		x.Signal = signalName(e.signal)
	}
	return x
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bench runs the server and the load. It returns an error if the server
// could not be started and measured at all.
func bench(ctx context.Context, c config, progress io.Writer) (*report, error) {
	out := os.Stderr
	if c.log != "" {
		f, err := os.Create(c.log)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		out = f
	}
	if err := os.Remove(c.pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	fam, err := start(c.args, out)
	if err != nil {
		return nil, err
	}
	defer fam.kill()

	serving, err := fam.waitPID(ctx, c.pidFile, 0, fam.pgid, c.startTimeout)
	if err != nil {
		return nil, fmt.Errorf("the server did not start: %w", err)
	}
	if serving != fam.pgid {
		fam.add(serving)
	}
	if err := answers(ctx, c.addr, c.startTimeout); err != nil {
		return nil, fmt.Errorf("the server did not answer: %w", err)
	}
	fmt.Fprintf(progress, "upgradebench: process %d serves on %s; load for %v, %d upgrades\n",
		serving, c.addr, time.Duration(c.upgrades)*c.interval+c.tail, c.upgrades)

	// abort closes the connections of every client at once, for ctrl-C.
	abort, cancel := context.WithCancel(ctx)
	defer cancel()
	l := &loader{addr: c.addr, timeout: c.timeout, stop: make(chan struct{})}
	windows := c.upgrades + 1
	var tallies []*tally
	var clients sync.WaitGroup
	for i := range c.busy + c.conns {
		t := newTally("busy", windows)
		if i >= c.busy {
			t.kind = "conns"
		}
		tallies = append(tallies, t)
		clients.Go(func() {
			if i < c.busy {
				l.busy(abort, fmt.Sprintf("busy %d", i+1), t)
			} else {
				l.perConn(abort, fmt.Sprintf("conn %d", i-c.busy+1), t)
			}
		})
	}
	var slowTallies []*tally
	var mu sync.Mutex // guards slowTallies

	rep := &report{}
	var exits sync.WaitGroup
	cpu := sampleCPU()
	began := time.Now()
	for n := 1; n <= c.upgrades; n++ {
		at := began.Add(time.Duration(n) * c.interval)
		if !sleepUntil(ctx, at.Add(-c.slowLead)) {
			break
		}
		u := &upgrade{N: n, OldPID: serving, SlowSent: c.slow, slowOK: make(chan bool, c.slow)}
		rep.Upgrades = append(rep.Upgrades, u)
		for range c.slow {
			t := newTally("slow", windows)
			mu.Lock()
			slowTallies = append(slowTallies, t)
			mu.Unlock()
			u.slowDone.Go(func() { u.slowOK <- l.slow(abort, c.slowMS, n, t) == answered })
		}
		if !sleepUntil(ctx, at) {
			break
		}
		l.window.Store(int32(n))
		u.signalAt = time.Now()
		if err := syscall.Kill(serving, syscall.SIGHUP); err != nil {
			u.Error = fmt.Sprintf("SIGHUP to %d: %v", serving, err)
			continue
		}
		pid, err := fam.waitPID(ctx, c.pidFile, serving, 0, c.readyTimeout)
		if err != nil {
			u.Error = err.Error()
			continue
		}
		u.NewPID, u.ReadyMS = pid, ms(time.Since(u.signalAt))
		fam.add(pid)
		serving = pid
		exits.Go(func() {
			e, err := fam.wait(abort, u.OldPID, c.exitTimeout)
			if err != nil {
				u.Error = err.Error()
				return
			}
			u.OldExit = info(e, u.signalAt)
		})
	}
	if sleepUntil(ctx, time.Now().Add(c.tail)) {
		fmt.Fprintln(progress, "upgradebench: load stopped; waiting for the clients and the old processes")
	}
	close(l.stop)
	clients.Wait()
	for _, u := range rep.Upgrades {
		u.slowDone.Wait()
		close(u.slowOK)
		u.SlowAnswered = 0
		for ok := range u.slowOK {
			if ok {
				u.SlowAnswered++
			}
		}
	}
	exits.Wait()
	rep.Interrupted = ctx.Err() != nil

	if !rep.Interrupted {
		termAt := time.Now()
		if err := syscall.Kill(serving, syscall.SIGTERM); err == nil {
			if e, err := fam.wait(ctx, serving, c.exitTimeout); err == nil {
				rep.Final = info(e, termAt)
			} else {
				rep.Errors = append(rep.Errors, fmt.Sprintf("final process %d: %v", serving, err))
			}
		}
	}
	rep.OthersCPU = othersShare(cpu, sampleCPU())
	rep.add(append(tallies, slowTallies...))
	rep.judge()
	return rep, nil
}

// answers waits up to timeout for a GET /fast answered at addr.
func answers(ctx context.Context, addr string, timeout time.Duration) error {
	l := &loader{addr: addr}
	deadline := time.Now().Add(timeout)
	for {
		c, err := dial(ctx, addr, time.Second)
		if err == nil {
			var status int
			status, _, err = c.do(l.request("/fast"), time.Second)
			c.close()
			if err == nil && status != 200 {
				err = fmt.Errorf("GET /fast: status %d", status)
			}
		}
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		pause(ctx, 10*time.Millisecond)
	}
}

// sleepUntil waits until t, and reports whether ctx was still live then.
func sleepUntil(ctx context.Context, t time.Time) bool {
	pause(ctx, time.Until(t))
	return ctx.Err() == nil
}

// add sums the tallies into the report.
func (r *report) add(tallies []*tally) {
	var errs []failure
	r.LostBy = map[string]int{}
	for _, t := range tallies {
		for w, counts := range t.counts {
			r.LostBy[t.kind] += counts[lost]
			r.Answered += counts[answered]
			r.Refused += counts[refused]
			r.Lost += counts[lost]
			r.Failed += counts[failed]
			if w > 0 && w <= len(r.Upgrades) {
				u := r.Upgrades[w-1]
				u.Answered += counts[answered]
				u.Refused += counts[refused]
				u.Lost += counts[lost]
				u.Failed += counts[failed]
			}
		}
		errs = append(errs, t.errs...)
	}
	slices.SortFunc(errs, func(a, b failure) int { return a.at.Compare(b.at) })
	// The first few, and the first of each kind of client and outcome
	// that they leave out.
	type key struct {
		kind string
		o    outcome
	}
	seen := map[key]bool{}
	for i, f := range errs {
		k := key{f.kind, f.outcome}
		if i >= maxErrors && seen[k] {
			continue
		}
		seen[k] = true
		rel := "before the first upgrade"
		if f.window > 0 {
			rel = fmt.Sprintf("%.1f ms after SIGHUP %d", ms(f.at.Sub(r.Upgrades[f.window-1].signalAt)), f.window)
		}
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %s, %s: %v", f.client, f.outcome, rel, f.err))
	}
	for _, u := range r.Upgrades {
		r.SlowAnswered += u.SlowAnswered
		r.SlowSent += u.SlowSent
	}
}

// judge sets Clean.
func (r *report) judge() {
	r.Clean = !r.Interrupted && r.Refused == 0 && r.Lost == 0 && r.Failed == 0 && r.SlowAnswered == r.SlowSent
	for _, u := range r.Upgrades {
		if u.NewPID == 0 || u.OldExit == nil || u.OldExit.Code != 0 {
			r.Clean = false
		}
	}
}

func (r *report) text(w io.Writer) {
	for _, u := range r.Upgrades {
		fmt.Fprintf(w, "upgrade %d: %d -> ", u.N, u.OldPID)
		if u.NewPID == 0 {
			fmt.Fprint(w, "none")
		} else {
			fmt.Fprintf(w, "%d (in %.0f ms)", u.NewPID, u.ReadyMS)
		}
		if u.OldExit != nil {
			fmt.Fprintf(w, ", old %s %.0f ms after SIGHUP", u.OldExit.text, u.OldExit.AfterMS)
		}
		fmt.Fprintf(w, ", slow answered %d/%d, lost %d, refused %d, failed %d", u.SlowAnswered, u.SlowSent, u.Lost, u.Refused, u.Failed)
		if u.Error != "" {
			fmt.Fprintf(w, " [%s]", u.Error)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "summary: %d answered, %d refused, %d lost (%d busy, %d conns, %d slow), %d failed; slow answered %d/%d",
		r.Answered, r.Refused, r.Lost, r.LostBy["busy"], r.LostBy["conns"], r.LostBy["slow"], r.Failed, r.SlowAnswered, r.SlowSent)
	if r.Final != nil {
		fmt.Fprintf(w, "; last process %s %.0f ms after SIGTERM", r.Final.text, r.Final.AfterMS)
	}
	if r.OthersCPU >= 0 {
		fmt.Fprintf(w, "; other processes used %.0f%% of a CPU", 100*r.OthersCPU)
	}
	if r.Interrupted {
		fmt.Fprint(w, "; interrupted")
	}
	fmt.Fprintln(w)
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "first failures:\n  %s\n", strings.Join(r.Errors, "\n  "))
	}
}
