package probe

import (
	"sync/atomic"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
)

// maxTimelineSpan bounds the time a timeline covers, and so its memory:
// 360,000 buckets of 32 bytes. Requests that end later are counted in
// the Timeline's after.
const maxTimelineSpan = time.Hour

// cell is a bucket being counted: indexes 0-5 as in Counts.Status, then
// refused and lost.
type cell [8]atomic.Uint32

const (
	cellRefused = 6
	cellLost    = 7
)

func (c *cell) add(o report.Outcome, status int) {
	switch o {
	case report.Answered:
		c[report.StatusClass(status)].Add(1)
	case report.Refused:
		c[cellRefused].Add(1)
	case report.Lost:
		c[cellLost].Add(1)
	}
}

func (c *cell) counts() report.Counts {
	var n report.Counts
	for i := range n.Status {
		n.Status[i] = int(c[i].Load())
	}
	n.Refused = int(c[cellRefused].Load())
	n.Lost = int(c[cellLost].Load())
	return n
}

// A timeline counts requests as they end, from any goroutine: each count
// is one atomic addition to the request's bucket and one to the running
// total.
type timeline struct {
	signal        *atomic.Pointer[time.Time] // the recorder's: when the signal was sent
	span          atomic.Pointer[span]       // nil until the load starts
	before, after cell
	total         cell // every request counted, for the progress line
}

// A span is the buckets of a timeline.
type span struct {
	start   time.Time // of the first bucket
	planned time.Time // when the signal is planned; zero if none is
	pre     int       // buckets before planned
	cells   []cell
}

// begin starts the buckets at the load's start, enough of them to cover
// d. If the signal is planned at planned, the buckets are aligned on it.
func (t *timeline) begin(start, planned time.Time, d time.Duration) {
	s := &span{start: start, planned: planned}
	if !planned.IsZero() {
		s.pre = int((planned.Sub(start) + report.TimelineBucket - 1) / report.TimelineBucket)
		s.start = planned.Add(-time.Duration(s.pre) * report.TimelineBucket)
	}
	d = min(d+start.Sub(s.start), maxTimelineSpan)
	s.cells = make([]cell, (d+report.TimelineBucket-1)/report.TimelineBucket)
	t.span.Store(s)
}

// index returns the bucket of a request that ended at done.
func (t *timeline) index(s *span, done time.Time) int {
	if s.planned.IsZero() {
		return int(done.Sub(s.start) / report.TimelineBucket)
	}
	if sig := t.sent(); sig != nil && !done.Before(*sig) {
		return s.pre + int(done.Sub(*sig)/report.TimelineBucket)
	}
	// Before the signal, or before it is known: between when it was
	// planned and when it was sent is the last bucket before it.
	return min(int(done.Sub(s.start)/report.TimelineBucket), s.pre-1)
}

func (t *timeline) sent() *time.Time {
	if t.signal == nil {
		return nil
	}
	return t.signal.Load()
}

// add counts a request that ended at done. Aborted requests are not
// counted.
func (t *timeline) add(done time.Time, o report.Outcome, status int) {
	if o == report.Aborted {
		return
	}
	t.total.add(o, status)
	s := t.span.Load()
	if s == nil || done.Before(s.start) {
		t.before.add(o, status)
		return
	}
	i := t.index(s, done)
	if i >= len(s.cells) {
		t.after.add(o, status)
		return
	}
	s.cells[i].add(o, status)
}

// snapshot returns the timeline's counts up to end.
func (t *timeline) snapshot(end time.Time) report.Timeline {
	before, after := t.before.counts(), t.after.counts()
	s := t.span.Load()
	if s == nil {
		return report.NewTimeline(time.Time{}, report.TimelineBucket, nil, before, after)
	}
	start := s.start
	n := len(s.cells)
	if !end.IsZero() {
		n = min(n, max(0, t.index(s, end)+1))
	}
	if sig := t.sent(); sig != nil && !s.planned.IsZero() {
		start = sig.Add(-time.Duration(s.pre) * report.TimelineBucket)
	}
	// Requests may still be counted after end, by goroutines that took
	// their time before end: keep every bucket that holds one.
	for i := len(s.cells) - 1; i >= n; i-- {
		if s.cells[i].counts().Total() > 0 {
			n = i + 1
			break
		}
	}
	buckets := make([]report.Counts, n)
	for i := range buckets {
		buckets[i] = s.cells[i].counts()
	}
	return report.NewTimeline(start, report.TimelineBucket, buckets, before, after)
}
