package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

//go:embed report.html
var reportHTML string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":        msText,
	"signedMS":  signedMS,
	"thousands": FormatCount,
	"int":       func(f float64) int { return int(f) },
	"add":       func(a, b int) int { return a + b },
	"mul":       func(a, b int) int { return a * b },
	"sub":       func(a, b float64) float64 { return a - b },
	"msOf":      ms,
}).Parse(reportHTML))

// WriteHTML writes the report as a self-contained page: the timeline of
// the requests, coloured by outcome, with the signal and the exit marked,
// and the numbers and the verdict beside it, and the JSON report embedded
// for machines. name names the server; "" names it by its command.
func (r *Report) WriteHTML(w io.Writer, name string) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	v := &view{r, name}
	before, after := v.split()
	rows := countRows(before, after)
	at, until := heldWords(v)
	var notable []notableRow // not the answered ones
	for _, n := range v.Records {
		if n.Outcome == Answered {
			continue
		}
		row := notableRow{n.Kind.String(), n.Client, n.Seq, signedMS(v.at(n.Sent)), signedMS(v.at(n.Done)), n.Outcome.String(), "", string(n.Reason), errText(n.Err)}
		if n.Status != 0 {
			row.Status = strconv.Itoa(n.Status)
		}
		notable = append(notable, row)
	}
	return reportTmpl.Execute(w, struct {
		V         *view
		Signalled bool
		Command   string
		Load      string
		Exit      string
		Chart     chart
		Rows      []countRow
		Streams   []streamRow
		Upgrades  []string
		Reasons   []Finding
		Notable   []notableRow
		HeldAt    string
		Until     string
		JSON      template.JS
	}{
		V:         v,
		Signalled: v.signalled(),
		Command:   commandLine(v),
		Load:      loadLine(v),
		Exit:      exitLine(v),
		Chart:     newChart(v),
		Rows:      rows,
		Streams:   v.streamRows(),
		Upgrades:  upgradeLines(v),
		Reasons:   onceAdvised(v.Verdict.Reasons),
		Notable:   notable,
		HeldAt:    at,
		Until:     until,
		JSON:      template.JS(strings.ReplaceAll(string(raw), "</", `<\/`)),
	})
}

// onceAdvised returns the findings with each advice given once: an
// upgrade run may fail for the same cause at several upgrades.
func onceAdvised(fs []Finding) []Finding {
	said := map[string]bool{}
	out := make([]Finding, len(fs))
	for i, f := range fs {
		if said[f.Advice] {
			f.Advice = ""
		}
		said[f.Advice] = true
		out[i] = f
	}
	return out
}

// A notableRow is a request of note, as the page lists it.
type notableRow struct {
	Kind            string
	Client, Seq     int
	Sent, Done      string
	Outcome, Status string
	Reason, Error   string
}

// A chart is the timeline drawn as SVG: answered requests stacked by
// status class in the main lane, refused ones in a lane of their own
// below it, on a scale of their own, with a mark for each lost request,
// so that a handful of them shows next to thousands of answered ones.
// Below them, a lane for each kind of connection the load held open: the
// idle and silent connections, and the streams.
type chart struct {
	Width, Height    float64
	Left, Right      float64 // plot area, x
	Top              float64 // of the lines of the markers
	MainTop, MainBot float64 // main lane, y
	FailTop, FailBot float64 // refused/lost lane, y
	Bars             []rect
	XTicks           []tick
	MainMax, FailMax int
	Markers          []marker
	Lost             []lostMark
	LostUnmarked     int // lost requests the report kept no record of
	Lanes            []lane
	Bottom           float64 // of the last lane
	Per              string  // what one bar covers
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

// A marker is a moment across every lane, its label on a row of its own
// above them: the signal, the last response and the exit are often a few
// ms apart.
type marker struct {
	X, LabelY float64
	Label     string
	When      string // from the origin, signed
	Class     string
	Anchor    string // of the label: "start", "middle" or "end", to stay in the plot
}

// A lostMark marks the lost requests that ended within a pixel of each
// other.
type lostMark struct {
	X      float64
	N      int
	Title  string
	Anchor string // of the count
}

// A lane shows one kind of connection held open: a band for each span
// the report knows of, and a tick for each connection whose end it
// recorded.
type lane struct {
	Name       string
	Top, Bot   float64
	Bands      []rect
	Ticks      []rect
	Text       string
	TextX      float64
	TextAnchor string
}

// maxBars bounds the bars drawn: buckets are merged to fit.
const maxBars = 300

var (
	mainClasses = []string{"2xx", "1xx", "3xx", "4xx", "5xx", "other"}
	failClasses = []string{"refused"}
)

// The chart's layout, in px.
const (
	chartWidth  = 960
	markerRow   = 13 // height of a marker's label row
	laneHeight  = 24 // of a connection lane
	laneGap     = 6
	axisHeight  = 34 // below the lanes: the ticks and the caption
	failHeight  = 64
	mainHeight  = 200
	chartLeft   = 110
	chartRight  = 944
	labelMargin = 130 // a label nearer than this to an edge is anchored to it
)

func newChart(v *view) chart {
	c := chart{Width: chartWidth, Left: chartLeft, Right: chartRight}
	tl := v.Timeline
	if len(tl.Buckets) == 0 || tl.Bucket <= 0 {
		return c
	}
	per := (len(tl.Buckets) + maxBars - 1) / maxBars
	n := (len(tl.Buckets) + per - 1) / per
	bars := make([]map[string]int, n)
	for i, b := range tl.Buckets {
		if bars[i/per] == nil {
			bars[i/per] = map[string]int{}
		}
		for _, k := range timelineClasses {
			bars[i/per][k] += count(b, k)
		}
	}
	span := v.bucketMs() * float64(per)
	c.Per = msText(span)
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
	if e := v.at(v.Exit.At); e != nil && *e > t1 {
		t1 = *e // the exit can come after the last request ended
	}
	t1 += (t1 - t0) * 0.03 // room after the exit to see what it left
	x := func(t float64) float64 {
		return c.Left + (min(max(t, t0), t1)-t0)/(t1-t0)*(c.Right-c.Left)
	}

	// The markers' labels, each on its own row.
	type moment struct {
		at           *float64
		label, class string
	}
	var moments []moment
	for i, u := range v.Upgrades {
		moments = append(moments, moment{v.at(u.SignalAt), fmt.Sprintf("upgrade %d: %s to %d", i+1, proc.SignalName(v.UpgradeSignal), u.OldPID), "upgrade"})
	}
	if v.signalled() {
		moments = append(moments, moment{v.at(v.SignalAt), v.signalName(), "signal"})
	}
	moments = append(moments,
		moment{v.at(v.LastResponse), "last response", "last"},
		moment{v.at(v.QuietClosedAt), "the probe closed the quiet connections", "quiet"},
		moment{v.at(v.Exit.At), "exit", "exit"})
	for _, m := range moments {
		if m.at == nil || *m.at < t0 || *m.at > t1 {
			continue
		}
		c.Markers = append(c.Markers, marker{X: x(*m.at), Label: m.label, When: signedMS(m.at), Class: m.class})
	}
	y := 4.0
	for i := range c.Markers {
		m := &c.Markers[i]
		y += markerRow
		m.LabelY = y - 3
		switch {
		case m.X > c.Right-labelMargin:
			m.Anchor = "end"
		case m.X < c.Left+labelMargin:
			m.Anchor = "start"
		default:
			m.Anchor = "middle"
		}
	}
	c.Top = y + 2
	c.MainTop = c.Top + 4
	c.MainBot = c.MainTop + mainHeight
	c.FailTop = c.MainBot + 12
	c.FailBot = c.FailTop + failHeight

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
					Title: fmt.Sprintf("%s to %s: %s %s", signedMS(&at), msText(at+span), FormatCount(b[k]), k),
				})
			}
		}
		stack(mainClasses, c.MainTop, c.MainBot, c.MainMax)
		stack(failClasses, c.FailTop, c.FailBot, c.FailMax)
	}
	c.lostMarks(v, x)

	// The lanes of the connections held open.
	y = c.FailBot
	add := func(l lane) {
		l.Top = y + laneGap
		l.Bot = l.Top + laneHeight
		y = l.Bot
		for i := range l.Bands {
			l.Bands[i].Y, l.Bands[i].H = l.Top+3, laneHeight-6
		}
		for i := range l.Ticks {
			l.Ticks[i].Y, l.Ticks[i].H = l.Top+1, laneHeight-2
		}
		c.Lanes = append(c.Lanes, l)
	}
	if v.IdleOpen > 0 {
		add(heldLane(v, "idle", v.IdleOpen, v.IdleClosedBeforeExit, v.IdleClosed, x, t0, t1))
	}
	if v.SilentOpen > 0 {
		add(heldLane(v, "silent", v.SilentOpen, v.SilentClosedBeforeExit, v.SilentClosed, x, t0, t1))
	}
	laneNames := map[Kind]string{WebSocket: "WebSocket", SSE: "events", Watch: "Watch"}
	for _, s := range v.streamRows() {
		if s.Open > 0 {
			add(streamLane(v, laneNames[s.Kind], s, x))
		}
	}
	c.Bottom = y
	c.Height = y + axisHeight

	for _, t := range niceTicks(t0, t1, 8) {
		c.XTicks = append(c.XTicks, tick{X: x(t), Label: seconds(t)})
	}
	return c
}

// lostMarks marks each lost request the report kept at the time it
// ended, those within lostNear px of each other together, so that their
// counts do not overlap.
func (c *chart) lostMarks(v *view, x func(float64) float64) {
	type lostAt struct {
		r    Record
		done float64
	}
	var lost []lostAt
	for _, r := range v.Lost() {
		if done := v.at(r.Done); done != nil && r.Kind.IsRequest() {
			lost = append(lost, lostAt{r, *done})
		}
	}
	c.LostUnmarked = max(v.Total().Lost-len(lost), 0)
	sort.SliceStable(lost, func(i, j int) bool { return lost[i].done < lost[j].done })
	for i := 0; i < len(lost); {
		at := x(lost[i].done)
		j := i + 1
		for j < len(lost) && x(lost[j].done)-at <= lostNear {
			j++
		}
		g := lost[i:j]
		var b strings.Builder
		fmt.Fprintf(&b, "%s lost, ended at %s", FormatCount(len(g)), signedMS(&g[0].done))
		if len(g) > 1 {
			fmt.Fprintf(&b, " to %s", signedMS(&g[len(g)-1].done))
		}
		for k, l := range g {
			if k == 8 {
				fmt.Fprintf(&b, "\n... and %d more", len(g)-k)
				break
			}
			r := l.r
			fmt.Fprintf(&b, "\n%s client %d request %d, sent at %s: %s", r.Kind, r.Client, r.Seq, signedMS(v.at(r.Sent)), r.Reason)
		}
		m := lostMark{X: at, N: len(g), Title: b.String(), Anchor: "start"}
		if m.X > c.Right-40 {
			m.Anchor = "end"
		}
		c.Lost = append(c.Lost, m)
		i = j
	}
}

// lostNear is how near, in px, lost requests are marked together.
const lostNear = 8

// heldLane draws the idle or silent connections: open from the start to
// the signal, then until the probe closed them or the exit, with a tick
// where the probe saw each closed. A report without those times (from an
// older drainprobe) counts how many the server closed before it exited,
// not when: those are drawn as a hatched band from the signal to the exit,
// and said so.
func heldLane(v *view, kind string, open, closed int, closedAt []time.Time, x func(float64) float64, t0, t1 float64) lane {
	l := lane{Name: fmt.Sprintf("%s (%d)", kind, open)}
	from := t0
	if s := v.at(v.Start); s != nil {
		from = *s
	}
	signal := t0
	if s := v.at(v.SignalAt); s != nil && v.signalled() {
		signal = *s
	}
	end := t1
	if e := v.at(v.Exit.At); e != nil {
		end = *e
	}
	band := func(a, b float64, class, title string) {
		if b > a {
			l.Bands = append(l.Bands, rect{X: x(a), W: math.Max(x(b)-x(a), 1), Class: class, Title: title})
		}
	}
	at, until := heldWords(v)
	band(from, signal, "open", fmt.Sprintf("%d %s connections open %s", open, kind, at))
	var words []string
	words = append(words, fmt.Sprintf("%d open %s", open, at))
	stillOpen := open - closed
	probeClosed := v.at(v.QuietClosedAt)
	for _, c := range closedAt {
		t := v.at(c)
		if t == nil {
			continue
		}
		title := fmt.Sprintf("a %s connection seen closed at %s", kind, signedMS(t))
		l.Ticks = append(l.Ticks, rect{X: x(*t) - 1, W: 2, Class: "closed", Title: title})
	}
	switch {
	case closed > 0 && len(closedAt) > 0:
		words = append(words, fmt.Sprintf("%d closed by the server %s (each marked)", closed, until))
		if stillOpen > 0 {
			if probeClosed != nil && *probeClosed < end {
				band(signal, *probeClosed, "open", fmt.Sprintf("%d still open until the probe closed them at %s", stillOpen, signedMS(probeClosed)))
				words = append(words, fmt.Sprintf("%d still open until the probe closed them", stillOpen))
			} else {
				words = append(words, fmt.Sprintf("%d not closed by the server %s", stillOpen, until))
			}
		}
	case closed == open:
		band(signal, end, "closing", fmt.Sprintf("all %d closed by the server %s; the report does not say when each closed", open, until))
		words = append(words, fmt.Sprintf("all closed by the server %s (when each closed: not recorded)", until))
	case closed > 0:
		band(signal, end, "closing", fmt.Sprintf("%d of %d closed by the server %s; the report does not say when each closed", closed, open, until))
		words = append(words, fmt.Sprintf("%d closed by the server %s (when: not recorded)", closed, until))
		fallthrough
	default:
		if probeClosed != nil && *probeClosed < end {
			band(signal, *probeClosed, "open", fmt.Sprintf("%d still open until the probe closed them at %s", stillOpen, signedMS(probeClosed)))
			words = append(words, fmt.Sprintf("%d still open until the probe closed them", stillOpen))
		} else {
			if closed == 0 {
				band(signal, end, "open", fmt.Sprintf("%d still open %s", stillOpen, until))
			}
			words = append(words, fmt.Sprintf("%d not closed by the server %s", stillOpen, until))
		}
	}
	l.Text = strings.Join(words, "; ")
	l.TextX, l.TextAnchor = chartLeft+6, "start"
	return l
}

// streamLane draws each stream of a kind from when it opened to when it
// ended, as the report recorded them, and a tick where it ended: green
// when it ended cleanly, red when it was cut.
func streamLane(v *view, name string, s streamRow, x func(float64) float64) lane {
	l := lane{Name: fmt.Sprintf("%s (%d)", name, s.Open)}
	for _, r := range v.Records {
		sent, done := v.at(r.Sent), v.at(r.Done)
		if r.Kind != s.Kind || sent == nil {
			continue
		}
		class, how := "clean", "ended cleanly"
		if r.Outcome != Answered {
			class, how = "cut", "cut: "+string(r.Reason)
		}
		title := fmt.Sprintf("%s stream %d, opened at %s", name, r.Client, signedMS(sent))
		if done == nil {
			l.Bands = append(l.Bands, rect{X: x(*sent), W: x(math.Inf(1)) - x(*sent), Class: "open", Title: title + ", still open"})
			continue
		}
		title += fmt.Sprintf(", %s at %s", how, signedMS(done))
		l.Bands = append(l.Bands, rect{X: x(*sent), W: math.Max(x(*done)-x(*sent), 1), Class: "open", Title: title})
		l.Ticks = append(l.Ticks, rect{X: x(*done) - 1, W: 2, Class: class, Title: title})
	}
	l.Text = fmt.Sprintf("%d open, %d ended cleanly, %d cut", s.Open, s.Clean, s.Cut)
	l.TextX, l.TextAnchor = chartLeft+6, "start"
	return l
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
