package probe

import (
	"sync/atomic"
	"time"
)

// timelineBucket is the width of a bucket of the [Timeline].
const timelineBucket = 10 * time.Millisecond

// maxTimelineSpan bounds the time a timeline covers, and so its memory:
// 360,000 buckets of 32 bytes. Requests that end later are counted in
// the Timeline's after.
const maxTimelineSpan = time.Hour

// A Timeline counts the requests by when they ended, in buckets of
// 10 ms (timelineBucket): answered ones by status class, refused and lost ones.
// Aborted requests and streams are not in it. Each bucket is a [Counts]
// whose Aborted and LostReused are zero.
//
// The buckets are aligned on the signal: bucket boundaries fall at whole
// multiples of timelineBucket before and after it, so that each bucket is
// wholly before or wholly after it. (Those before it are counted on a grid
// aligned on when the signal was planned, which the signal follows by
// [Report.SignalLag]: the last bucket before it is that much longer.)
// Without a signal they are aligned on the load's start.
type Timeline struct {
	// Start is when the first bucket begins: the load's start
	// ([Report.Start]) without a signal; with one, a whole number of
	// buckets before the signal, up to a bucket before the load's start
	// (or SignalLag after it).
	Start time.Time
	// Bucket is the width of each bucket: 10 ms (timelineBucket).
	Bucket time.Duration
	// Buckets are the counts, bucket i covering
	// [Start+i*Bucket, Start+(i+1)*Bucket), up to the end of the load.
	Buckets []Counts
	// before counts the requests that ended before Start: the idle
	// connections' first requests, and the silent sockets that could not
	// connect. after counts those that ended past the buckets (runs
	// longer than an hour).
	before, after Counts
}

// cell is a bucket being counted: indexes 0-5 as in Counts.Status, then
// refused and lost.
type cell [8]atomic.Uint32

const (
	cellRefused = 6
	cellLost    = 7
)

func (c *cell) add(o Outcome, status int) {
	switch o {
	case Answered:
		c[statusClass(status)].Add(1)
	case Refused:
		c[cellRefused].Add(1)
	case Lost:
		c[cellLost].Add(1)
	}
}

func (c *cell) counts() Counts {
	var n Counts
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
		s.pre = int((planned.Sub(start) + timelineBucket - 1) / timelineBucket)
		s.start = planned.Add(-time.Duration(s.pre) * timelineBucket)
	}
	d = min(d+start.Sub(s.start), maxTimelineSpan)
	s.cells = make([]cell, (d+timelineBucket-1)/timelineBucket)
	t.span.Store(s)
}

// index returns the bucket of a request that ended at done.
func (t *timeline) index(s *span, done time.Time) int {
	if s.planned.IsZero() {
		return int(done.Sub(s.start) / timelineBucket)
	}
	if sig := t.sent(); sig != nil && !done.Before(*sig) {
		return s.pre + int(done.Sub(*sig)/timelineBucket)
	}
	// Before the signal, or before it is known: between when it was
	// planned and when it was sent is the last bucket before it.
	return min(int(done.Sub(s.start)/timelineBucket), s.pre-1)
}

func (t *timeline) sent() *time.Time {
	if t.signal == nil {
		return nil
	}
	return t.signal.Load()
}

// add counts a request that ended at done. Aborted requests are not
// counted.
func (t *timeline) add(done time.Time, o Outcome, status int) {
	if o == Aborted {
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
func (t *timeline) snapshot(end time.Time) Timeline {
	tl := Timeline{Bucket: timelineBucket, before: t.before.counts(), after: t.after.counts()}
	s := t.span.Load()
	if s == nil {
		return tl
	}
	tl.Start = s.start
	n := len(s.cells)
	if !end.IsZero() {
		n = min(n, max(0, t.index(s, end)+1))
	}
	if sig := t.sent(); sig != nil && !s.planned.IsZero() {
		tl.Start = sig.Add(-time.Duration(s.pre) * timelineBucket)
	}
	// Requests may still be counted after end, by goroutines that took
	// their time before end: keep every bucket that holds one.
	for i := len(s.cells) - 1; i >= n; i-- {
		if s.cells[i].counts().Total() > 0 {
			n = i + 1
			break
		}
	}
	tl.Buckets = make([]Counts, n)
	for i := range tl.Buckets {
		tl.Buckets[i] = s.cells[i].counts()
	}
	return tl
}

// statusClass returns the index of the status's class in Counts.Status.
func statusClass(status int) int {
	class := status / 100
	if class < 1 || class > 5 {
		return 0
	}
	return class
}

// answeredFrom counts the requests answered in the buckets that begin at
// t or later.
func (tl *Timeline) answeredFrom(t time.Time) int {
	n := 0
	tl.from(t, func(c Counts) { n += c.Answered() })
	return n
}

// lastAnswered returns the end of the last bucket in which a request was
// answered; zero if none was.
func (tl *Timeline) lastAnswered() time.Time {
	for i := len(tl.Buckets) - 1; i >= 0; i-- {
		if tl.Buckets[i].Answered() > 0 {
			return tl.Start.Add(time.Duration(i+1) * tl.Bucket)
		}
	}
	return time.Time{}
}

// answeredBetween counts the requests answered in the buckets that begin
// at from or later and end at to or earlier.
func (tl *Timeline) answeredBetween(from, to time.Time) int {
	if tl.Bucket <= 0 || from.IsZero() {
		return 0
	}
	n := 0
	for i, c := range tl.Buckets {
		begin := tl.Start.Add(time.Duration(i) * tl.Bucket)
		if !begin.Before(from) && !begin.Add(tl.Bucket).After(to) {
			n += c.Answered()
		}
	}
	return n
}

// status5xxFrom counts the requests answered 5xx in the buckets that begin
// at t or later.
func (tl *Timeline) status5xxFrom(t time.Time) int {
	n := 0
	tl.from(t, func(c Counts) { n += c.Status[5] })
	return n
}

// from calls f with each bucket that begins at t or later.
func (tl *Timeline) from(t time.Time, f func(Counts)) {
	if tl.Bucket <= 0 || t.IsZero() {
		return
	}
	for i, c := range tl.Buckets {
		if !tl.Start.Add(time.Duration(i) * tl.Bucket).Before(t) {
			f(c)
		}
	}
	f(tl.after)
}
