//go:build unix

package main

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
)

// A drainConfig holds the settings every drain shares.
type drainConfig struct {
	timeout time.Duration // a drain server's -timeout: its bound on the shutdown
	// hangAfter is how long after the first signal a process still
	// running has hung.
	hangAfter time.Duration
	load      loadConfig
}

// A job is one drain to run.
type job struct {
	target *target
	n      int // the drain's number for its target, from 1
	plan   plan
}

// A drainResult is what happened in one drain.
type drainResult struct {
	job
	err         error // the drain could not run: the rest says nothing
	interrupted bool  // the soak was interrupted during the drain
	port        int
	ports       int // ports tried: another is tried when the server cannot listen on one

	started      time.Time // when the server's process started
	listened     time.Time // when the load first connected; zero if it never did
	firstSignal  time.Time // when the first SIGTERM was delivered; zero if it was not
	secondSignal time.Time // when the second SIGTERM was delivered; zero if it was not
	exitAt       time.Time
	exit         exitStatus
	hung         bool // killed hangAfter after the first signal

	load   tally
	log    logFacts
	output []byte // the server's output; dropped for a good drain
}

// maxPorts bounds the ports a drain tries: a port picked free may be taken
// by another process (or one of the soak's own connections) before the
// server binds it.
const maxPorts = 3

// runDrain runs one drain: it starts the server on a free loopback port,
// loads it, signals it as the plan says, and watches it until it exits;
// if ctx ends first, it kills the server and marks the result
// interrupted.
func runDrain(ctx context.Context, cfg drainConfig, j job) drainResult {
	for ports := 1; ; ports++ {
		r := attemptDrain(ctx, cfg, j)
		r.ports = ports
		if r.err != nil || r.interrupted || !r.log.bindFailed {
			return r
		}
		if ports == maxPorts {
			r.err = fmt.Errorf("soak: the server could not listen on any of %d free ports (the last: %d)", maxPorts, r.port)
			return r
		}
	}
}

// attemptDrain runs a drain on one port.
func attemptDrain(ctx context.Context, cfg drainConfig, j job) drainResult {
	r := drainResult{job: j}
	port, err := freePort()
	if err != nil {
		r.err = err
		return r
	}
	r.port = port
	p, err := startProcess(j.target.command(port, cfg.timeout), port)
	if err != nil {
		r.err = err
		return r
	}
	r.started = p.started

	// The load stops when the process has exited; ending lctx aborts it
	// (the soak was interrupted).
	stop := make(chan struct{})
	lctx, abort := context.WithCancel(ctx)
	defer abort()
	type loaded struct {
		t      tally
		opened time.Time
	}
	done := make(chan loaded, 1)
	go func() {
		t, opened := runLoad(lctx, loopback(port), cfg.load, j.plan, stop)
		done <- loaded{t, opened}
	}()

	r.drive(ctx, p, cfg.hangAfter)
	close(stop)
	ld := <-done
	r.load, r.listened = ld.t, ld.opened
	r.exitAt, r.exit = p.exitAt, p.status
	r.output = p.output.Bytes()
	r.log = scanLog(r.output)
	return r
}

// drive sends the plan's signals to p, kills its group if it hangs or ctx
// ends, and returns once it has exited.
func (r *drainResult) drive(ctx context.Context, p *process, hangAfter time.Duration) {
	first := time.NewTimer(time.Until(p.started.Add(r.plan.signalAt)))
	defer first.Stop()
	// Armed at the first signal.
	var second, hang *time.Timer
	var secondC, hangC <-chan time.Time
	defer func() {
		for _, t := range []*time.Timer{second, hang} {
			if t != nil {
				t.Stop()
			}
		}
	}()
	done := ctx.Done()
	for {
		select {
		case <-first.C:
			if at, ok := p.signal(syscall.SIGTERM); ok {
				r.firstSignal = at
			}
			hang = time.NewTimer(hangAfter)
			hangC = hang.C
			if r.plan.second {
				second = time.NewTimer(r.plan.secondAfter)
				secondC = second.C
			}
		case <-secondC:
			secondC = nil
			if at, ok := p.signal(syscall.SIGTERM); ok {
				r.secondSignal = at
			}
		case <-hangC:
			hangC = nil
			r.hung = true
			p.kill()
		case <-done:
			done = nil
			r.interrupted = true
			p.kill()
		case <-p.exited:
			return
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago: the
// kernel picks it for a listener that is closed at once.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("soak: pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
