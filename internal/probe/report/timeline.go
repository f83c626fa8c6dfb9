package report

import "time"

// TimelineBucket is the width of a [Timeline]'s buckets.
const TimelineBucket = 10 * time.Millisecond

// A Timeline counts the requests by when they ended, in buckets of
// 10 ms ([TimelineBucket]): answered ones by status class, refused and lost ones.
// Aborted requests and streams are not in it. Each bucket is a [Counts]
// whose Aborted and LostReused are zero.
//
// The buckets are aligned on the signal: bucket boundaries fall at whole
// multiples of a bucket before and after it, so that each bucket is
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
	// Bucket is the width of each bucket: [TimelineBucket].
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

// NewTimeline returns the timeline of buckets, bucket wide from start,
// with before and after counting the requests that ended before start and
// past the buckets.
func NewTimeline(start time.Time, bucket time.Duration, buckets []Counts, before, after Counts) Timeline {
	return Timeline{Start: start, Bucket: bucket, Buckets: buckets, before: before, after: after}
}

// StatusClass returns the index of the status's class in [Counts.Status]:
// 1 to 5, 0 for a status outside 100-599.
func StatusClass(status int) int {
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

// LastAnswered returns the end of the last bucket in which a request was
// answered; zero if none was.
func (tl *Timeline) LastAnswered() time.Time {
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
