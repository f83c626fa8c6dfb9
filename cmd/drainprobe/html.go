package main

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/drain-go/drain/internal/probe"
)

//go:embed report.html
var reportHTML string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":        ms,
	"signedMS":  signedMS,
	"thousands": probe.FormatCount,
	"int":       func(f float64) int { return int(f) },
	"add":       func(a, b int) int { return a + b },
	"mul":       func(a, b int) int { return a * b },
	"sub":       func(a, b float64) float64 { return a - b },
}).Parse(reportHTML))

// writeHTML writes a self-contained page: the timeline of the requests,
// coloured by outcome, with the signal and the exit marked, and the
// numbers and the verdict beside it. raw is the JSON report, embedded in
// the page for machines.
func writeHTML(w io.Writer, v *view, raw []byte) error {
	before, after := v.split()
	rows := countRows(before, after)
	at, until := heldWords(v)
	notable := 0 // the rows the page lists: not the answered ones
	for _, n := range v.Notable {
		if n.Outcome != "answered" {
			notable++
		}
	}
	return reportTmpl.Execute(w, struct {
		V       *view
		Command string
		Load    string
		Exit    string
		Chart   chart
		Rows    []countRow
		Notable int
		HeldAt  string
		Until   string
		JSON    template.JS
	}{
		V:       v,
		Command: commandLine(v),
		Load:    loadLine(v),
		Exit:    exitLine(v),
		Chart:   newChart(v),
		Rows:    rows,
		Notable: notable,
		HeldAt:  at,
		Until:   until,
		JSON:    template.JS(strings.ReplaceAll(string(raw), "</", `<\/`)),
	})
}

// A chart is the timeline drawn as SVG: answered requests stacked by
// status class in the main lane, refused and lost ones in a lane of their
// own below it, on a scale of their own, so that a handful of lost
// requests shows next to thousands of answered ones.
type chart struct {
	Width, Height    float64
	Left, Right      float64 // plot area, x
	MainTop, MainBot float64 // main lane, y
	FailTop, FailBot float64 // refused/lost lane, y
	Bars             []rect
	XTicks           []tick
	MainMax, FailMax int
	Markers          []marker
	Per              string // what one bar covers
}

type rect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type tick struct {
	X     float64
	Label string
}

type marker struct {
	X      float64
	Label  string
	Class  string
	Anchor string // of the label: "middle", or "end" near the right edge
}

// maxBars bounds the bars drawn: buckets are merged to fit.
const maxBars = 300

var (
	mainClasses = []string{"2xx", "1xx", "3xx", "4xx", "5xx", "other"}
	failClasses = []string{"refused", "lost"}
)

func newChart(v *view) chart {
	c := chart{Width: 960, Height: 370, Left: 64, Right: 944, MainTop: 40, MainBot: 250, FailTop: 272, FailBot: 336}
	tl := v.Timeline
	if len(tl.Buckets) == 0 || tl.BucketMs <= 0 {
		return c
	}
	per := (len(tl.Buckets) + maxBars - 1) / maxBars
	n := (len(tl.Buckets) + per - 1) / per
	bars := make([]map[string]int, n)
	for i, b := range tl.Buckets {
		if bars[i/per] == nil {
			bars[i/per] = map[string]int{}
		}
		for _, k := range classes {
			bars[i/per][k] += count(b, k)
		}
	}
	span := float64(tl.BucketMs * per)
	c.Per = ms(span)
	for _, b := range bars {
		sum := func(ks []string) int {
			t := 0
			for _, k := range ks {
				t += b[k]
			}
			return t
		}
		c.MainMax = max(c.MainMax, sum(mainClasses))
		c.FailMax = max(c.FailMax, sum(failClasses))
	}
	t0 := v.timelineStart()
	t1 := t0 + span*float64(n)
	x := func(t float64) float64 { return c.Left + (t-t0)/(t1-t0)*(c.Right-c.Left) }
	w := (c.Right - c.Left) / float64(n)
	for i, b := range bars {
		at := t0 + span*float64(i)
		stack := func(ks []string, top, bot float64, scale int) {
			y := bot
			for _, k := range ks {
				if b[k] == 0 || scale == 0 {
					continue
				}
				h := float64(b[k]) / float64(scale) * (bot - top)
				h = math.Max(h, 1.5) // one request still shows
				y -= h
				c.Bars = append(c.Bars, rect{
					X: x(at), Y: y, W: math.Max(w-0.5, 0.8), H: h, Class: k,
					Title: fmt.Sprintf("%s to %s: %s %s", ms(at), ms(at+span), probe.FormatCount(b[k]), k),
				})
			}
		}
		stack(mainClasses, c.MainTop, c.MainBot, c.MainMax)
		stack(failClasses, c.FailTop, c.FailBot, c.FailMax)
	}
	for _, t := range niceTicks(t0, t1, 8) {
		c.XTicks = append(c.XTicks, tick{X: x(t), Label: seconds(t)})
	}
	mark := func(at *float64, label, class string) {
		if at != nil && *at >= t0 && *at <= t1 {
			anchor := "middle"
			if x(*at) > c.Right-60 {
				anchor = "end"
			}
			c.Markers = append(c.Markers, marker{X: x(*at), Label: label, Class: class, Anchor: anchor})
		}
	}
	if v.Origin == "signal" {
		mark(v.Times.Signal, v.Signal, "signal")
	}
	mark(v.Times.LastResponse, "last response", "last")
	mark(v.Times.Exit, "exit", "exit")
	return c
}

// niceTicks returns about n round values between lo and hi.
func niceTicks(lo, hi float64, n int) []float64 {
	step := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(step)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step <= m*mag {
			step = m * mag
			break
		}
	}
	var ts []float64
	for t := math.Ceil(lo/step) * step; t <= hi; t += step {
		ts = append(ts, t)
	}
	return ts
}

// seconds labels a time axis tick, in seconds from the origin.
func seconds(ms float64) string {
	s := ms / 1000
	if s == 0 {
		return "0"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%+.3f", s), "0"), ".") + "s"
}
