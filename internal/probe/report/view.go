package report

import (
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// A view is the probe's report as the text and HTML renderers read it:
// the same report --json prints, its times in ms from its origin as the
// JSON has them.
type view struct {
	*Report
	// Label names the server for people, when its command line does not.
	Label string
}

// signalName names the signal sent, "" if none was.
func (v *view) signalName() string {
	if !v.signalled() || v.Signal == nil {
		return ""
	}
	return proc.SignalName(v.Signal)
}

// classes are the timeline's outcome classes, in the order they stack.
var timelineClasses = []string{"2xx", "1xx", "3xx", "4xx", "5xx", "other", "refused", "lost"}

// count returns the requests of one class in c.
func count(c Counts, class string) int {
	switch class {
	case "refused":
		return c.Refused
	case "lost":
		return c.Lost
	case "other":
		return c.Status[0]
	}
	return c.Status[class[0]-'0']
}

// byClass counts c's requests by the timeline's classes.
func byClass(c Counts) map[string]int {
	m := map[string]int{}
	for _, k := range timelineClasses {
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
		for _, c := range timelineClasses {
			m[c] += count(b, c)
		}
	}
	return before, after
}

// A streamRow is the streams of one kind the load held open.
type streamRow struct {
	Kind             Kind
	Name             string
	Open, Clean, Cut int
}

// streamRows are the streams of each kind, opened or not.
func (v *view) streamRows() []streamRow {
	row := func(k Kind, name string, open int, c Counts) streamRow {
		return streamRow{k, name, open, c.Answered(), c.Lost}
	}
	return []streamRow{
		row(WebSocket, "WebSocket", v.WebSocketsOpen, v.WebSocket),
		row(SSE, "event", v.SSEOpen, v.SSE),
		row(Watch, "gRPC Watch", v.WatchesOpen, v.Watch),
	}
}

// errText is err's message, "" if nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
