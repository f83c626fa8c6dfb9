package probe

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunProgress checks that the progress snapshots follow the run: the
// phases in order, counts that only grow, a last one once it is over.
func TestRunProgress(t *testing.T) {
	var got []Progress // appended to by one goroutine; read after Run returns
	rep, err := Run(context.Background(), Config{
		Server:   childCommand("graceful"),
		Load:     Load{Busy: 1, Slow: 1, SlowPath: "/slow?ms=400", Idle: 2, WebSockets: 1},
		Warmup:   300 * time.Millisecond,
		Progress: func(p Progress) { got = append(got, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 3 {
		t.Fatalf("%d snapshots, want a few", len(got))
	}
	order := []Phase{PhaseStarting, PhaseWarmup, PhaseSignalled, PhaseExited}
	for i, p := range got {
		if i == 0 {
			continue
		}
		prev := got[i-1]
		if slices.Index(order, p.Phase) < slices.Index(order, prev.Phase) || slices.Index(order, p.Phase) < 0 {
			t.Errorf("phase %q after %q", p.Phase, prev.Phase)
		}
		if p.Answered+p.Refused+p.Lost < prev.Answered+prev.Refused+prev.Lost || p.Elapsed < prev.Elapsed {
			t.Errorf("snapshot %d went back: %v after %v", i, p, prev)
		}
	}
	last := got[len(got)-1]
	total := rep.Total()
	if last.Phase != PhaseExited || !last.Signalled || last.Answered != total.Answered() || last.Status != total.Status || last.Refused != total.Refused || last.Lost != total.Lost {
		t.Errorf("last snapshot %v; want exited with the report's %+v", last, total)
	}
	if !slices.ContainsFunc(got, func(p Progress) bool { return p.Phase == PhaseWarmup && p.Idle == 2 && p.WebSockets == 1 }) {
		t.Errorf("no snapshot of the warm-up with 2 idle connections and a WebSocket open: %v", got)
	}
}

// TestRunProgressPanics checks that a panic in the progress function ends
// in an error, not a crash.
func TestRunProgressPanics(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server:   childCommand("graceful"),
		Load:     Load{Busy: 1},
		Warmup:   200 * time.Millisecond,
		Progress: func(p Progress) { panic("progress bar broke") },
	})
	if err == nil || !strings.Contains(err.Error(), "Config.Progress panicked: progress bar broke") {
		t.Errorf("error %v, want the panic", err)
	}
	if rep == nil || rep.Exit.Code != 0 {
		t.Errorf("report %v, want the run's", rep)
	}
}
