package report

import (
	"testing"
	"time"
)

// TestClosedBefore checks which closes of held connections count as the
// server's, rather than the exit's.
func TestClosedBefore(t *testing.T) {
	t0 := time.Now()
	ts := []time.Time{t0, t0.Add(2 * time.Millisecond)}
	exit := t0.Add(3 * time.Millisecond)
	if n := closedBefore(ts, exit); n != 1 {
		t.Errorf("%d closed more than %v before the exit, want 1", n, exitMargin)
	}
	if n := closedBefore(ts, time.Time{}); n != 2 {
		t.Errorf("%d closed without an exit, want 2", n)
	}
}
