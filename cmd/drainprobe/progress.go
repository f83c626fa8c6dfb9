package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/drain-go/drain/internal/probe"
	"github.com/drain-go/drain/internal/probe/report"
)

// A progressLine shows, on a terminal, what the probe is doing, rewriting
// one line in place.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	width int // of the last line written
}

func newProgressLine(w io.Writer) *progressLine { return &progressLine{w: w} }

func (p *progressLine) update(s probe.Progress) {
	line := fmt.Sprintf("%-9s %6.1fs  answered %s  refused %s  lost %s",
		s.Phase, s.Elapsed.Seconds(), report.FormatCount(s.Answered), report.FormatCount(s.Refused), report.FormatCount(s.Lost))
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%-*s", p.width, line)
	p.width = len(line)
}

// clear erases the line, before the report is printed.
func (p *progressLine) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprintf(p.w, "\r%*s\r", p.width, "")
	}
}
