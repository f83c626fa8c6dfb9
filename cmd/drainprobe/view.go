package main

import (
	"encoding/json"

	"github.com/drain-go/drain/internal/probe"
)

// A view is the probe's JSON report, as the text and HTML renderers read
// it: the page shows exactly what --json prints.
type view struct {
	probe.JSONReport
	// Label names the server for people, when its command line does not.
	Label string
}

func parseView(b []byte) (*view, error) {
	v := new(view)
	if err := json.Unmarshal(b, &v.JSONReport); err != nil {
		return nil, err
	}
	return v, nil
}

// classes are the timeline's outcome classes, in the order they stack.
var classes = []string{"2xx", "1xx", "3xx", "4xx", "5xx", "other", "refused", "lost"}

// count returns the requests of one class in a bucket.
func count(b probe.JSONBucket, class string) int {
	switch class {
	case "1xx":
		return b.C1xx
	case "2xx":
		return b.C2xx
	case "3xx":
		return b.C3xx
	case "4xx":
		return b.C4xx
	case "5xx":
		return b.C5xx
	case "other":
		return b.Other
	case "refused":
		return b.Refused
	case "lost":
		return b.Lost
	}
	return 0
}

// byClass counts c's requests by the timeline's classes.
func byClass(c probe.JSONCounts) map[string]int {
	a := c.Answered
	return map[string]int{"1xx": a.C1xx, "2xx": a.C2xx, "3xx": a.C3xx, "4xx": a.C4xx, "5xx": a.C5xx, "other": a.Other, "refused": c.Refused, "lost": c.Lost}
}

// timelineStart is when the first bucket begins, in ms from the origin.
func (v *view) timelineStart() float64 {
	if v.Timeline.StartMs == nil {
		return 0
	}
	return *v.Timeline.StartMs
}

// split counts the requests of each class sent before and after the
// signal; without a signal, the timeline's before and after the origin.
func (v *view) split() (before, after map[string]int) {
	before, after = map[string]int{}, map[string]int{}
	if a := v.SentAfter; a != nil {
		total := byClass(v.Counts)
		after = byClass(*a)
		for c, n := range total {
			before[c] = n - after[c]
		}
		return before, after
	}
	for i, b := range v.Timeline.Buckets {
		m := after
		if v.timelineStart()+float64(i*v.Timeline.BucketMs) < 0 {
			m = before
		}
		for _, c := range classes {
			m[c] += count(b, c)
		}
	}
	return before, after
}
