package report

import (
	"math"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// TestVerdict judges made-up reports: each reason and warning alone, then
// together.
func TestVerdict(t *testing.T) {
	t0 := time.Now()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// good is a clean shutdown: everything answered, exit 5 ms after the
	// last response.
	good := func() *Report {
		return &Report{
			Load:         Load{Busy: 2, Slow: 1, Idle: 1, Silent: 1},
			Start:        at(-time.Second),
			SignalAt:     t0,
			LastResponse: at(200 * time.Millisecond),
			Exit:         proc.Exit{At: at(205 * time.Millisecond)},
			End:          at(206 * time.Millisecond),
			Busy:         Counts{Status: [6]int{2: 1000}, Refused: 2},
			busyOKBefore: 990, BusyRate: 990,
			Slow:     Counts{Status: [6]int{2: 1}},
			IdleOpen: 1, IdleClosed: []time.Time{at(time.Millisecond)},
			SilentOpen: 1, SilentClosed: []time.Time{at(time.Millisecond)},
			PID: 42,
		}
	}
	tests := []struct {
		name     string
		edit     func(r *Report)
		reasons  []string
		warnings []string
		text     string // in a reason
	}{
		{"pass", func(r *Report) {}, nil, nil, ""},
		{"served after the exit", func(r *Report) {
			r.Timeline = Timeline{Start: at(-time.Second), Bucket: TimelineBucket, Buckets: make([]Counts, 200)}
			r.Timeline.Buckets[150].Status[2] = 7 // +500 ms, long after the exit
		}, []string{CodeServedAfter}, nil, "7 requests answered after the process exited"},
		{"busy clients hardly answered", func(r *Report) { r.busyOKBefore, r.BusyRate = 1, 0.6 }, nil, []string{CodeUntested}, ""},
		{"untested", func(r *Report) {
			r.busyOKBefore = 0
			r.Load.BusyMethod, r.Load.BusyPath = "GET", "/nope"
			r.Load.WebSockets, r.WebSocketsOpen = 2, 0
		}, nil, []string{CodeUntested, CodeUntested}, ""},
		{"errors after the signal", func(r *Report) {
			r.Timeline = Timeline{Start: at(-time.Second), Bucket: TimelineBucket, Buckets: make([]Counts, 200)}
			r.Timeline.Buckets[105].Status[5] = 16 // +50 ms
		}, nil, []string{CodeErrorsSent}, ""},
		{"lost", func(r *Report) {
			r.Busy.Lost, r.Busy.LostReused = 3, 3
			r.lostBy = map[Reason]int{Reason("closed before response"): 2, Reason("reset before response"): 1}
		}, []string{CodeLost}, nil, "3 requests lost on established connections (2 closed before response, 1 reset before response)"},
		{"slow incomplete", func(r *Report) {
			r.Load.Slow = 3
			r.Slow = Counts{Status: [6]int{2: 1, 5: 1}, Lost: 1}
			r.Busy.Lost, r.lostBy = 0, nil
		}, []string{CodeSlowIncomplete, CodeLost}, nil, "2 of 3 slow requests not answered 2xx"},
		{"exit code", func(r *Report) { r.Exit.Code = 1 }, []string{CodeExitCode}, nil, "exit code 1"},
		{"ended by the signal", func(r *Report) {
			r.Exit.Code, r.Exit.Signal = -1, syscall.SIGTERM
		}, []string{CodeExitCode}, nil, "ended by SIGTERM (exit 143)"},
		{"ended by the signal, having answered after it", func(r *Report) {
			r.Signal, r.Exit.Code, r.Exit.Signal = syscall.SIGTERM, -1, syscall.SIGTERM
			r.Timeline = Timeline{Start: at(-time.Second), Bucket: TimelineBucket, Buckets: make([]Counts, 200)}
			r.Timeline.Buckets[115].Status[2] = 1200 // +150 ms
		}, []string{CodeExitCode}, nil, "it answered 1,200 requests after the signal, so it handled it"},
		{"ended by the signal, answering nothing after it", func(r *Report) {
			r.Signal, r.Exit.Code, r.Exit.Signal = syscall.SIGTERM, -1, syscall.SIGTERM
		}, []string{CodeExitCode}, nil, "most likely it does not handle SIGTERM"},
		{"killed", func(r *Report) {
			r.Exit = proc.Exit{At: at(30 * time.Second), Code: -1, Signal: syscall.SIGKILL, Killed: true}
		}, []string{CodeKilled}, nil, "killed with SIGKILL"},
		{"killed holding quiet connections the probe kept open", func(r *Report) {
			r.holdQuiet, r.SilentClosed = true, nil
			r.Exit = proc.Exit{At: at(30 * time.Second), Code: -1, Signal: syscall.SIGKILL, Killed: true}
		}, []string{CodeKilled}, nil, "1 quiet connection was still open then, kept open by the probe (--hold-quiet)"},
		{"exit lag", func(r *Report) { r.Exit.At = at(1500 * time.Millisecond) }, []string{CodeExitLag}, nil, "exited 1.3 s after its last response"},
		{"exit lag just over the limit", func(r *Report) { r.Exit.At = at(1243 * time.Millisecond) }, []string{CodeExitLag}, nil, "exited 1,043 ms after its last response (more than 1s)"},
		{"exit lag after a request the server cut", func(r *Report) {
			r.Load.Slow = 1
			r.Slow = Counts{Lost: 1}
			r.Records = []Record{{Kind: Slow, Outcome: Lost, Sent: at(-800 * time.Millisecond), Done: at(5 * time.Second)}}
			r.Exit.At = at(5010 * time.Millisecond)
		}, []string{CodeSlowIncomplete, CodeLost}, nil, ""},
		{"held sockets", func(r *Report) {
			r.QuietClosedAt = at(1200 * time.Millisecond) // 1 s after the last response
			r.Exit.At = at(1500 * time.Millisecond)
			r.SilentClosed = nil
		}, []string{CodeHeldSockets}, nil, "1 silent socket still open 1.0 s after its last response; once the probe closed them, the process exited 300 ms later"},
		{"held sockets, one closed late by the server", func(r *Report) {
			r.IdleClosed = []time.Time{at(1100 * time.Millisecond)}
			r.QuietClosedAt = at(1200 * time.Millisecond)
			r.Exit.At = at(1300 * time.Millisecond)
			r.SilentClosed = nil
		}, []string{CodeHeldSockets}, nil, "1 silent socket still open"},
		{"exited as the probe closed the quiet sockets: no evidence", func(r *Report) {
			r.QuietClosedAt = at(1260 * time.Millisecond)
			r.Exit.At = at(1250 * time.Millisecond)
			r.SilentClosed = nil
		}, []string{CodeExitLag}, nil, "exited 1.1 s after its last response (more than 1s)"},
		{"quiet sockets open, but lingering for another reason", func(r *Report) {
			r.QuietClosedAt = at(1200 * time.Millisecond)
			r.Exit.At = at(3000 * time.Millisecond)
			r.SilentClosed = nil
		}, []string{CodeExitLag}, nil, "it lived on 1.8 s more: it lingered for another reason"},
		{"in flight: not the sockets' fault", func(r *Report) {
			r.Exit.At = at(5800 * time.Millisecond)
			r.SilentClosed = nil
			r.Slow = Counts{Lost: 1}
		}, []string{CodeSlowIncomplete, CodeLost, CodeExitLag}, nil, ""},
		{"streams cut", func(r *Report) {
			r.Load.WebSockets, r.Load.SSE = 2, 1
			r.WebSocketsOpen, r.SSEOpen = 2, 1
			r.WebSocket = Counts{Status: [6]int{1: 1}, Lost: 1}
			r.SSE = Counts{Lost: 1}
		}, []string{CodeStreamsCut}, nil, "1 of 2 WebSocket streams and 1 of 1 SSE stream cut"},
		{"probe lag", func(r *Report) { r.LagP99 = 25 * time.Millisecond }, nil, []string{CodeProbeLag}, ""},
		{"signal late", func(r *Report) { r.SignalLag = 11 * time.Millisecond }, nil, []string{CodeProbeLag}, ""},
		{"connections refused before the signal: overloaded", func(r *Report) {
			r.connRefusedBefore = 80047
		}, nil, []string{CodeOverloaded}, ""},
		{"signal a second late: overloaded", func(r *Report) { r.SignalLag = 1100 * time.Millisecond }, nil, []string{CodeOverloaded, CodeProbeLag}, ""},
		{"no signal, no exit", func(r *Report) {
			r.Target, r.PID, r.SignalAt, r.Exit = "127.0.0.1:80", 0, time.Time{}, proc.Exit{}
		}, nil, []string{CodeNoSignal}, ""},
		{"unknown exit code", func(r *Report) {
			r.Target, r.Exit.Code, r.Exit.Unknown = "127.0.0.1:80", -1, true
		}, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.edit(r)
			v := r.Judge(0)
			reasons, warnings := findingCodes(v.Reasons), findingCodes(v.Warnings)
			slices.Sort(reasons)
			want := slices.Sorted(slices.Values(tt.reasons))
			if !slices.Equal(reasons, want) || !slices.Equal(warnings, tt.warnings) || v.Pass != (len(want) == 0) {
				t.Errorf("verdict:\n%swant reasons %q, warnings %q", v, want, tt.warnings)
			}
			if tt.text != "" && !slices.ContainsFunc(v.Reasons, func(f Finding) bool { return strings.Contains(f.Text, tt.text) }) {
				t.Errorf("verdict:\n%swant a reason to say %q", v, tt.text)
			}
			if v.Reasons == nil || v.Warnings == nil {
				t.Error("nil findings: want empty lists")
			}
		})
	}
	if v := good().Judge(time.Millisecond); v.Pass {
		t.Errorf("with MaxExitLag 1ms: %s", v)
	}
}

func TestFormatCount(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 80047: "80,047", 1234567: "1,234,567", -4200: "-4,200", math.MinInt64: "-9,223,372,036,854,775,808"} {
		if got := FormatCount(n); got != want {
			t.Errorf("FormatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

// The advice on lost requests follows when they were lost: at the death
// of a killed process, or before it, on keep-alive connections.
func TestLostAdvice(t *testing.T) {
	t0 := time.Now()
	killed := proc.Exit{At: t0.Add(5 * time.Second), Code: -1, Killed: true}
	for _, tc := range []struct {
		name string
		done time.Time
		want string
	}{
		{"at the kill", t0.Add(5 * time.Second), "The probe killed the process"},
		{"at the signal, long before the kill", t0.Add(2 * time.Millisecond), "reused keep-alive connections"},
	} {
		r := &Report{SignalAt: t0, Exit: killed, Busy: Counts{Lost: 1, LostReused: 1},
			Records: []Record{{Kind: Busy, Outcome: Lost, Seq: 2, Sent: tc.done, Done: tc.done}}}
		if got := r.lostAdvice(func(Record) bool { return true }, 1, 1); !strings.Contains(got, tc.want) {
			t.Errorf("%s: advice %q, want it to say %q", tc.name, got, tc.want)
		}
	}
}

func findingCodes(fs []Finding) []string {
	codes := make([]string, len(fs))
	for i, f := range fs {
		codes[i] = f.Code
	}
	return codes
}
