//go:build unix

package main

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		ds := make([]time.Duration, len(vs))
		for i, v := range vs {
			ds[i] = time.Duration(v) * time.Millisecond
		}
		return ds
	}
	tests := []struct {
		ds   []time.Duration
		q    float64
		want int
	}{
		{ms(5), 0.5, 5},
		{ms(3, 1, 2), 0.5, 2},
		{ms(4, 1, 3, 2), 0.5, 2}, // nearest rank: the lower middle
		{ms(4, 1, 3, 2), 0.99, 4},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0, 1},
	}
	for _, tt := range tests {
		if got := quantile(tt.ds, tt.q); got != time.Duration(tt.want)*time.Millisecond {
			t.Errorf("quantile(%v, %v) = %v, want %dms", tt.ds, tt.q, got, tt.want)
		}
	}
}

func TestFormats(t *testing.T) {
	tests := []struct{ got, want string }{
		{group3(0), "0"},
		{group3(999), "999"},
		{group3(1000), "1,000"},
		{group3(1234567), "1,234,567"},
		{group3(-10000), "-10,000"},
		{fmtMillis(1234 * time.Microsecond), "1.2 ms"},
		{fmtMillis(12345 * time.Microsecond), "12 ms"},
		{fmtMillis(1234567 * time.Microsecond), "1,235 ms"},
		{fmtOffset(-2 * time.Millisecond), "-2.0 ms"},
		{fmtOffset(0), "+0.0 ms"},
		{fmtRange(3100*time.Microsecond, 12*time.Millisecond), "3.1–12 ms"},
		{fmtRange(10*time.Millisecond, 10*time.Millisecond), "10 ms"},
		{fmtOffsets(-time.Millisecond, 20*time.Millisecond), "-1.0 to +20 ms"},
		{plural(1, "drain"), "1 drain"},
		{plural(1200, "drain"), "1,200 drains"},
		{strong(0), "0"},
		{strong(3), "**3**"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// results returns the drains of a made-up soak of drain in retry-after
// mode: a clean one, one killed by an early signal, one forced by a
// second signal that lost a request, one that exited 0 with a lost
// request, one that hung, one that could not run, one interrupted, one
// never run.
func results(tg *target) []drainResult {
	start := time.Now()
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	base := func(n int) drainResult {
		return drainResult{job: job{target: tg, n: n, plan: plan{seed: uint64(n)}}, started: start, listened: at(25),
			firstSignal: at(500), exitAt: at(600), log: logFacts{running: true},
			load: tally{answered: 1000, unavailable: 10, refused: 5, notListening: 50}}
	}
	lostReq := lostRequest{kind: stormClient, seq: 1, reason: resetEarly, sent: at(501), done: at(502), err: "connection reset by peer"}
	clean := base(1)
	early := base(2)
	early.firstSignal, early.listened, early.exitAt = at(3), time.Time{}, at(4)
	early.exit, early.log = exitStatus{code: -1, signal: syscall.SIGTERM}, logFacts{}
	forced := base(3)
	forced.secondSignal, forced.exitAt, forced.exit = at(550), at(552), exitStatus{code: 1}
	forced.log.forced = true
	forced.load.lost, forced.load.lostKept = 1, []lostRequest{lostReq}
	lossy := base(4)
	lossy.load.lost, lossy.load.lostKept = 2, []lostRequest{lostReq, lostReq}
	hung := base(5)
	hung.hung, hung.exitAt, hung.exit = true, at(8500), exitStatus{code: -1, signal: syscall.SIGKILL}
	failed := drainResult{job: job{target: tg, n: 6}, err: errors.New("soak: start /nope: no such file")}
	interrupted := base(7)
	interrupted.interrupted = true
	return []drainResult{clean, early, forced, lossy, hung, failed, interrupted, {}}
}

func TestSummarize(t *testing.T) {
	tg := &target{server: server{name: "drain", drain: true}, mode: modes[2]}
	s := summarize(tg, results(tg))
	got := []int{s.drains, s.failed, s.exit0, s.exit1, s.bySignal, s.hangs, s.exit0WithLoss, s.unexplainedExit1,
		s.load.lost, s.lostDrains, s.lostDrainsExit0, s.seconds, s.secondExit1, len(s.bad), len(s.signalToExit)}
	want := []int{5, 1, 2, 1, 1, 1, 1, 0, 3, 2, 1, 1, 1, 3, 4}
	names := "drains failed exit0 exit1 bySignal hangs exit0WithLoss unexplainedExit1 lost lostDrains lostDrainsExit0 seconds secondExit1 bad signalToExit"
	for i, name := range strings.Fields(names) {
		if got[i] != want[i] {
			t.Errorf("%s = %d, want %d", name, got[i], want[i])
		}
	}
	if len(s.lost) != 3 || s.lost[0].sent != time.Millisecond {
		t.Errorf("lost requests kept: %+v, want 3 sent 1ms after their signal", s.lost)
	}
}

func TestReport(t *testing.T) {
	tg := &target{server: server{name: "drain", drain: true}, mode: modes[2]}
	base := &target{server: server{name: "go-stdlib"}}
	cfg := &soakConfig{targets: []*target{tg, base}, drains: 8, seed: 0x1234, signalWithin: defaultSignalWithin, parallel: 1,
		drain: drainConfig{timeout: defaultTimeout, hangAfter: defaultTimeout + hangMargin, load: loadConfig{busy: 8, storm: 3}}}
	sums := []summary{summarize(tg, results(tg)), summarize(base, results(base))}
	out := report(reportInfo{cfg: cfg, command: " -drains 8", took: time.Minute}, sums)
	for _, want := range []string{
		"`bench/soak.sh -drains 8`: seed 0x1234",
		"| drain / retry-after | 5 | 2 | 1 | 1 (SIGTERM at 3.0 ms) | **1** | 0 | 3 (2) | 5,000 (50) | 25 (250) | **1** | 0 | 52 ms / 100 ms |",
		"| go-stdlib | 5 | 2 | 1 | 1 (SIGTERM at 3.0 ms) | **1** | - |",
		"3 lost in 2 drains (1 of which exited 0): 3 storm requests reset before response on a new connection, sent +1.0 ms from the signal",
		"a second SIGTERM reached 1 drain: 1 exited 1 (second signal -> exit: median 2.0 ms, max 2.0 ms)",
		"- drain / retry-after: 1 drain could not run (listed below)",
		"### Bad drains",
		"drain / retry-after #4 (drain seed 0x4): SIGTERM at 500 ms (listening at 25 ms); exit 0 100 ms after the signal",
		"BAD: exit 0 with 2 lost requests",
		"  lost: storm request #1 on its connection, reset before response, sent +1.0 ms from the signal, 99 ms before the exit",
		"again: `bench/soak.sh -modes retry-after -drain-seed 0x4 -drains 20`",
		"drain / retry-after #5 (drain seed 0x5): SIGTERM at 500 ms (listening at 25 ms); hung, killed at 8,500 ms",
		"drain / retry-after #6 (drain seed 0x0): could not run: soak: start /nope",
		"again: `bench/soak.sh -modes go-stdlib -drain-seed 0x4 -drains 20`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
