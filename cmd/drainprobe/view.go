package main

import (
	"math"
	"time"

	"github.com/drain-go/drain/internal/probe"
)

// A view is the probe's report as the text and HTML renderers read it:
// the same report --json prints, its times in ms from its origin as the
// JSON has them.
type view struct {
	*probe.Report
	// Label names the server for people, when its command line does not.
	Label string
}

// signalled reports whether the signal was sent: times are then from it,
// else from the load's start.
func (v *view) signalled() bool { return !v.SignalAt.IsZero() }

// at returns t in ms from the origin, rounded to the microsecond as in
// the JSON, or nil if t is unknown.
func (v *view) at(t time.Time) *float64 {
	origin := v.SignalAt
	if origin.IsZero() {
		origin = v.Start
	}
	if t.IsZero() || origin.IsZero() {
		return nil
	}
	ms := math.Round(float64(t.Sub(origin))/float64(time.Microsecond)) / 1000
	return &ms
}

// signalName names the signal sent, "" if none was.
func (v *view) signalName() string {
	if !v.signalled() || v.Signal == nil {
		return ""
	}
	return probe.SignalName(v.Signal)
}

// classes are the timeline's outcome classes, in the order they stack.
var classes = []string{"2xx", "1xx", "3xx", "4xx", "5xx", "other", "refused", "lost"}

// count returns the requests of one class in c.
func count(c probe.Counts, class string) int {
	switch class {
	case "1xx":
		return c.Status[1]
	case "2xx":
		return c.Status[2]
	case "3xx":
		return c.Status[3]
	case "4xx":
		return c.Status[4]
	case "5xx":
		return c.Status[5]
	case "other":
		return c.Status[0]
	case "refused":
		return c.Refused
	case "lost":
		return c.Lost
	}
	return 0
}

// byClass counts c's requests by the timeline's classes.
func byClass(c probe.Counts) map[string]int {
	m := map[string]int{}
	for _, k := range classes {
		m[k] = count(c, k)
	}
	return m
}

// timelineStart is when the first bucket begins, in ms from the origin.
func (v *view) timelineStart() float64 {
	if s := v.at(v.Timeline.Start); s != nil {
		return *s
	}
	return 0
}

// bucketMs is the width of the timeline's buckets, in ms.
func (v *view) bucketMs() float64 { return float64(v.Timeline.Bucket) / float64(time.Millisecond) }

// split counts the requests of each class sent before and after the
// signal; without a signal, the timeline's before and after the origin.
func (v *view) split() (before, after map[string]int) {
	before, after = map[string]int{}, map[string]int{}
	if v.signalled() {
		total := byClass(v.Total())
		after = byClass(v.SentAfterSignal)
		for c, n := range total {
			before[c] = n - after[c]
		}
		return before, after
	}
	for i, b := range v.Timeline.Buckets {
		m := after
		if v.timelineStart()+float64(i)*v.bucketMs() < 0 {
			m = before
		}
		for _, c := range classes {
			m[c] += count(b, c)
		}
	}
	return before, after
}

// A streamRow is the streams of one kind the load held open.
type streamRow struct {
	Kind             probe.Kind
	Name             string
	Open, Clean, Cut int
}

// streamRows are the streams of each kind, opened or not.
func (v *view) streamRows() []streamRow {
	row := func(k probe.Kind, name string, open int, c probe.Counts) streamRow {
		return streamRow{k, name, open, c.Answered(), c.Lost}
	}
	return []streamRow{
		row(probe.WebSocket, "WebSocket", v.WebSocketsOpen, v.WebSocket),
		row(probe.SSE, "event", v.SSEOpen, v.SSE),
		row(probe.Watch, "gRPC Watch", v.WatchesOpen, v.Watch),
	}
}

// errText is err's message, "" if nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
