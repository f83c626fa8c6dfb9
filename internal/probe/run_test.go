package probe

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
)

// TestRunGraceful runs every kind of load against a child that shuts down
// with net/http's Shutdown, and checks the report's counts and the order
// of its events, not its timings.
func TestRunGraceful(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server: childCommand("graceful"),
		Load: Load{
			Busy: 2, Slow: 2, SlowPath: "/slow?ms=1500",
			Idle: 5, Silent: 3,
		},
		Warmup: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep)
	if rep.SlowCompleted() != 2 {
		t.Errorf("slow requests completed: %d of 2", rep.SlowCompleted())
	}
	if rep.Exit.Code != 0 || rep.Exit.Killed {
		t.Errorf("exit %v, want 0", rep.Exit)
	}
	if rep.IdleOpen != 5 || rep.SilentOpen != 3 || rep.Idle.Status[2] != 5 {
		t.Errorf("idle %d (answered %d), silent %d; want 5, 5, 3", rep.IdleOpen, rep.Idle.Status[2], rep.SilentOpen)
	}
	// Shutdown closes idle connections at once, and silent ones only once
	// they have been quiet for 5s: it waits for them, until the probe
	// closes them.
	if rep.IdleClosedBeforeExit != 5 || len(rep.SilentClosed) != 0 || rep.QuietClosedAt.IsZero() {
		t.Errorf("closed %d idle connections before the exit, saw %d silent sockets closed, the probe closed the rest at %v; want 5, 0, and a time",
			rep.IdleClosedBeforeExit, len(rep.SilentClosed), rep.QuietClosedAt)
	}
	v := rep.Verdict
	if codes := findingCodes(v.Reasons); !slices.Contains(codes, report.CodeHeldSockets) || slices.Contains(codes, report.CodeSlowIncomplete) || slices.Contains(codes, report.CodeExitCode) {
		t.Errorf("verdict:\n%swant %s, and neither %s nor %s", v, report.CodeHeldSockets, report.CodeSlowIncomplete, report.CodeExitCode)
	}
	// The timeline counts every request but the idle connections' first,
	// made before the load started.
	var inTimeline report.Counts
	for _, b := range rep.Timeline.Buckets {
		inTimeline.Add(b)
	}
	total := rep.Total()
	if inTimeline.Answered() != total.Answered()-5 || inTimeline.Refused != total.Refused || inTimeline.Lost != total.Lost {
		t.Errorf("timeline %+v, total %+v", inTimeline, total)
	}
	// Aligned on the signal, from the start to past the exit.
	tl := rep.Timeline
	if rep.SignalAt.Sub(tl.Start)%report.TimelineBucket != 0 || tl.Start.After(rep.Start.Add(rep.SignalLag)) || tl.Start.Add(time.Duration(len(tl.Buckets))*report.TimelineBucket).Before(rep.Exit.At) {
		t.Errorf("timeline of %d buckets from %v before the signal: want from the start (%v before it) to past the exit", len(tl.Buckets), rep.SignalAt.Sub(tl.Start), rep.SignalAt.Sub(rep.Start))
	}
	if rep.Busy.Status[2] == 0 || rep.BusyRate <= 0 {
		t.Errorf("busy clients: %+v at %v/s, want answers", rep.Busy, rep.BusyRate)
	}
	// Each busy client ends on a refused connection once the listener
	// has closed. (net/http may also lose one request per client: not
	// checked, that is the server's business.)
	if rep.Busy.Refused != 2 || rep.Total().Aborted != 0 {
		t.Errorf("busy %+v, want 2 refused and none aborted", rep.Busy)
	}
	if !(rep.Start.Before(rep.SignalAt) && rep.SignalAt.Before(rep.LastResponse) && rep.LastResponse.Before(rep.Exit.At)) {
		t.Errorf("events out of order: start %v, signal %v, last response %v, exit %v",
			rep.Start, rep.SignalAt, rep.LastResponse, rep.Exit.At)
	}
	if d, ok := rep.LastResponseToExit(); !ok || d <= 0 || rep.SignalToExit() <= d {
		t.Errorf("last response -> exit %v (%v), signal -> exit %v", d, ok, rep.SignalToExit())
	}
	for _, rec := range rep.Records {
		if rec.Kind == report.Slow && (rec.Outcome != report.Answered || !rec.Done.After(rep.SignalAt)) {
			t.Errorf("slow request %s: want answered after the signal", rec.Describe(rep.SignalAt))
		}
	}
}

// TestRunKillsAfterGrace checks that a server that ignores the signal gets
// SIGKILL, and that the requests it still held are lost.
func TestRunKillsAfterGrace(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server:    childCommand("stubborn"),
		Load:      Load{Slow: 1, SlowPath: "/slow?ms=60000"},
		Warmup:    200 * time.Millisecond,
		KillAfter: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Exit.Killed || rep.Exit.Signal != syscall.SIGKILL {
		t.Errorf("exit %v, want killed", rep.Exit)
	}
	if rep.Slow.Lost != 1 || rep.SlowCompleted() != 0 {
		t.Errorf("slow %+v, want 1 lost", rep.Slow)
	}
	if !strings.Contains(rep.String(), "killed by the probe") {
		t.Errorf("report does not say the probe killed it:\n%s", rep)
	}
	if codes := findingCodes(rep.Verdict.Reasons); !slices.Equal(codes, []string{report.CodeLost, report.CodeSlowIncomplete, report.CodeKilled}) {
		t.Errorf("verdict %q, want %s, %s and %s", codes, report.CodeLost, report.CodeSlowIncomplete, report.CodeKilled)
	}
}

func TestRunExitBeforeSignal(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server: childCommand("exit-soon"),
		Load:   Load{Busy: 1},
		Warmup: 10 * time.Second,
	})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("error %v, want ErrExited", err)
	}
	if rep == nil || rep.Exit.Code != 4 || !rep.SignalAt.IsZero() {
		t.Errorf("report %+v, want exit 4 and no signal", rep)
	}
}

// TestRunCancelled cancels a run while the server ignores the signal:
// whether the cancel lands before or after the signal, the process must be
// killed and reaped, and the error must say why.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	warmup := 200 * time.Millisecond
	stop := time.AfterFunc(2*warmup, cancel)
	defer stop.Stop()
	rep, err := Run(ctx, Config{
		Server: childCommand("stubborn"),
		Load:   Load{Busy: 1},
		Warmup: warmup,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if rep != nil && !rep.Exit.Killed {
		t.Errorf("exit %v, want the process killed", rep.Exit)
	}
}

func TestRunInvalid(t *testing.T) {
	if _, err := Run(context.Background(), Config{Server: childCommand("graceful"), Load: Load{Busy: -1}}); err == nil || !strings.Contains(err.Error(), "negative Busy") {
		t.Errorf("error %v, want negative Busy", err)
	}
	if _, err := Run(context.Background(), Config{}); err == nil {
		t.Error("no error without a server command")
	}
}
