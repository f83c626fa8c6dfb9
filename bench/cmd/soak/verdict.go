//go:build unix

package main

import (
	"fmt"
	"strings"
	"syscall"
	"time"
)

// What the soak reads in a drain server's output. drain logs with
// log/slog's text handler, as msg="...". The crash markers are the Go
// runtime's, at the start of a line, and the race detector's.
const (
	logRunning    = `msg="drain: running"`                       // Run has installed its signal handler
	logForced     = `msg="drain: shutdown forced"`               // exit 1: the bound or a second signal
	logFailed     = `msg="drain: shutdown finished with errors"` // exit 1: a server or a cleanup failed
	logBindFailed = "address already in use"
	panicMarker   = "panic: "
	fatalMarker   = "fatal error: "
	raceMarker    = "WARNING: DATA RACE"
)

// logFacts are what a server's output says about its shutdown.
type logFacts struct {
	crash      string // the first line of a panic, a fatal error or a data race report
	running    bool   // drain had installed its signal handler
	forced     bool   // drain said the shutdown was forced
	failed     bool   // drain said the shutdown finished with errors
	bindFailed bool   // the server could not listen on its port: the drain is void
}

// scanLog reads a server's output.
func scanLog(out []byte) logFacts {
	var f logFacts
	for line := range strings.Lines(string(out)) {
		crash := strings.HasPrefix(line, panicMarker) || strings.HasPrefix(line, fatalMarker) ||
			strings.Contains(line, raceMarker)
		if crash && f.crash == "" {
			f.crash = strings.TrimSpace(line)
		}
		f.running = f.running || strings.Contains(line, logRunning)
		f.forced = f.forced || strings.Contains(line, logForced)
		f.failed = f.failed || strings.Contains(line, logFailed)
		f.bindFailed = f.bindFailed || strings.Contains(line, logBindFailed)
	}
	return f
}

// counted reports whether the drain counts: it ran to the end, neither
// interrupted nor unable to start.
func (r *drainResult) counted() bool { return r.target != nil && r.err == nil && !r.interrupted }

// signalled reports whether the first SIGTERM was delivered.
func (r *drainResult) signalled() bool { return !r.firstSignal.IsZero() }

// exitedZeroWithLoss reports the headline failure: the process said all
// was well, and a request was lost.
func (r *drainResult) exitedZeroWithLoss() bool {
	return !r.hung && !r.exit.bySignal() && r.exit.code == 0 && r.load.lost > 0
}

// diedOfSignal reports whether a signal of the soak's, not the soak's
// SIGKILL at a hang, ended the process.
func (r *drainResult) diedOfSignal() bool { return !r.hung && r.exit.bySignal() }

// unexplainedExit1 reports an exit 1 of a drain server that nothing in
// the drain explains: no second signal, and no forced or failed shutdown
// in its log. Only drain servers' logs can be read.
func (r *drainResult) unexplainedExit1() bool {
	return r.target.server.drain && !r.hung && !r.exit.bySignal() && r.exit.code == 1 &&
		r.secondSignal.IsZero() && !r.log.forced && !r.log.failed
}

// diedDespiteHandler reports a drain server killed by SIGTERM after its log
// said its handler was installed: only a signal that arrives before that
// may kill it.
func (r *drainResult) diedDespiteHandler() bool {
	return r.target.server.drain && r.diedOfSignal() && r.exit.signal == syscall.SIGTERM && r.log.running
}

// problems lists what went wrong in a counted drain, worst first; none
// for a good drain.
func (r *drainResult) problems() []string {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if r.hung {
		add("hang: still running %v after the first signal, killed", r.exitAt.Sub(r.firstSignal).Round(time.Millisecond))
	}
	if r.log.crash != "" {
		add("crash: %q", r.log.crash)
	}
	if r.exitedZeroWithLoss() {
		add("exit 0 with %s", plural(r.load.lost, "lost request"))
	}
	if !r.signalled() && !r.hung {
		add("%s before the signal", r.exit)
	}
	if r.unexplainedExit1() {
		add("exit 1 without a second signal, or a forced or failed shutdown in the log")
	}
	if r.diedDespiteHandler() {
		add("killed by SIGTERM although the log says drain was running (its handler was installed)")
	}
	if !r.hung && !r.exit.bySignal() && r.exit.code != 0 && r.exit.code != 1 {
		add("%s", r.exit)
	}
	return ps
}
