//go:build unix

package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestScanLog(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want logFacts
	}{
		{"empty", "", logFacts{}},
		{"clean drain", `time=2026-12-01T10:00:00.000Z level=INFO msg="database: connected"
time=2026-12-01T10:00:00.001Z level=INFO msg="drain: running" event=serving servers=1
time=2026-12-01T10:00:00.500Z level=INFO msg="drain: shutdown complete" event=cleanup-done exit_code=0
`, logFacts{running: true}},
		{"forced", `level=INFO msg="drain: running"
level=WARN msg="drain: second signal, forcing shutdown" signal=terminated
level=ERROR msg="drain: shutdown forced" event=cleanup-done exit_code=1
`, logFacts{running: true, forced: true}},
		{"failed", `level=ERROR msg="drain: shutdown finished with errors" exit_code=1 err="drain: cleanup \"db\": boom"`, logFacts{failed: true}},
		{"bind failed", `level=ERROR msg="drain: server failed" server=http err="listen tcp 127.0.0.1:4000: bind: address already in use"`, logFacts{bindFailed: true}},
		{"panic", "level=INFO msg=\"drain: running\"\npanic: boom\n\ngoroutine 1 [running]:\nmain.main()\n", logFacts{running: true, crash: "panic: boom"}},
		{"fatal error", "fatal error: concurrent map writes\npanic: later\n", logFacts{crash: "fatal error: concurrent map writes"}},
		{"race", "==================\nWARNING: DATA RACE\nWrite at 0x00c000 by goroutine 7:\n", logFacts{crash: "WARNING: DATA RACE"}},
		{"a logged panic is not a crash", `2026/12/01 10:00:00 http: panic serving 127.0.0.1:5000: panic: boom`, logFacts{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanLog([]byte(tt.out)); got != tt.want {
				t.Errorf("scanLog = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestProblems checks what makes a drain bad, and what does not.
func TestProblems(t *testing.T) {
	start := time.Now()
	drainT := &target{server: server{name: "drain", drain: true}, mode: modes[0]}
	baseT := &target{server: server{name: "go-stdlib"}}
	// drain returns a drain of tg signalled at 100 ms that exited with
	// code, changed by opts.
	drain := func(tg *target, code int, opts ...func(*drainResult)) drainResult {
		r := drainResult{job: job{target: tg}, started: start,
			firstSignal: start.Add(100 * time.Millisecond), exitAt: start.Add(200 * time.Millisecond),
			exit: exitStatus{code: code}, log: logFacts{running: true}}
		for _, o := range opts {
			o(&r)
		}
		return r
	}
	lostOne := func(r *drainResult) { r.load.lost = 1 }
	second := func(r *drainResult) { r.secondSignal = r.firstSignal.Add(10 * time.Millisecond) }
	forced := func(r *drainResult) { r.log.forced = true }
	killedBy := func(sig syscall.Signal) func(*drainResult) {
		return func(r *drainResult) { r.exit = exitStatus{code: -1, signal: sig} }
	}
	early := func(r *drainResult) { r.log.running = false }
	tests := []struct {
		name string
		r    drainResult
		want []string // a piece of each problem, in order
	}{
		{"clean exit 0", drain(drainT, 0), nil},
		{"exit 0 with a loss", drain(drainT, 0, lostOne), []string{"exit 0 with 1 lost"}},
		{"exit 1 with a loss, second signal", drain(drainT, 1, lostOne, second, forced), nil},
		{"exit 1 forced by the bound", drain(drainT, 1, forced), nil},
		{"exit 1 failed", drain(drainT, 1, func(r *drainResult) { r.log.failed = true }), nil},
		{"exit 1 unexplained", drain(drainT, 1), []string{"exit 1 without"}},
		{"exit 1 of a baseline", drain(baseT, 1), nil},
		{"killed before the handler", drain(drainT, 0, killedBy(syscall.SIGTERM), early), nil},
		{"killed after the handler", drain(drainT, 0, killedBy(syscall.SIGTERM)), []string{"killed by SIGTERM although"}},
		{"baseline killed by a second signal", drain(baseT, 0, killedBy(syscall.SIGTERM), second), nil},
		{"hang", drain(drainT, 0, killedBy(syscall.SIGKILL), lostOne, func(r *drainResult) { r.hung = true }), []string{"hang"}},
		{"crash", drain(drainT, 2, func(r *drainResult) { r.log.crash = "panic: boom" }), []string{"crash", "exit 2"}},
		{"exit before the signal", drain(drainT, 1, func(r *drainResult) { r.firstSignal = time.Time{} }), []string{"exit 1 before the signal", "exit 1 without"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.problems()
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.Contains(got[i], tt.want[i])
			}
			if !ok {
				t.Errorf("problems = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCounted(t *testing.T) {
	tg := &target{}
	for _, tt := range []struct {
		r    drainResult
		want bool
	}{
		{drainResult{}, false}, // never run
		{drainResult{job: job{target: tg}}, true},
		{drainResult{job: job{target: tg}, interrupted: true}, false},
		{drainResult{job: job{target: tg}, err: syscall.ENOENT}, false},
	} {
		if got := tt.r.counted(); got != tt.want {
			t.Errorf("counted(%+v) = %v, want %v", tt.r, got, tt.want)
		}
	}
}
