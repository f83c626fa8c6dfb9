package main

import (
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe"
)

// The progress line rewrites itself in place, and is erased before the
// report.
func TestProgressLine(t *testing.T) {
	var b strings.Builder
	p := newProgressLine(&b)
	p.update(probe.Progress{Phase: probe.PhaseWarmup, Elapsed: 1500 * time.Millisecond, Answered: 12345})
	p.update(probe.Progress{Phase: probe.PhaseSignalled, Elapsed: 2 * time.Second, Answered: 20000, Refused: 16})
	p.clear()
	out := b.String()
	lines := strings.Split(out, "\r") // "", two lines, the blank that erases, ""
	if len(lines) != 5 || lines[0] != "" || lines[4] != "" {
		t.Fatalf("progress output %q: want one line rewritten in place", out)
	}
	if !strings.Contains(lines[1], "answered 12,345") || !strings.Contains(lines[2], "refused 16") {
		t.Errorf("progress lines %q", lines[1:3])
	}
	if strings.TrimSpace(lines[3]) != "" || len(lines[3]) < len(strings.TrimRight(lines[2], " ")) {
		t.Errorf("the line is not erased: %q", lines[3])
	}
}
