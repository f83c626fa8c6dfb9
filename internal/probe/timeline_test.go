package probe

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
)

// TestTimelineNoSignal counts requests on a timeline from the load's
// start.
func TestTimelineNoSignal(t *testing.T) {
	var tl timeline
	t0 := time.Now()
	tl.add(t0.Add(-time.Second), report.Answered, 200) // before the load: Before
	tl.begin(t0, time.Time{}, 100*time.Millisecond)
	tl.add(t0.Add(-time.Millisecond), report.Refused, 0) // Before
	tl.add(t0.Add(5*time.Millisecond), report.Answered, 200)
	tl.add(t0.Add(9*time.Millisecond), report.Answered, 503)
	tl.add(t0.Add(15*time.Millisecond), report.Lost, 0)
	tl.add(t0.Add(15*time.Millisecond), report.Aborted, 0) // not counted
	tl.add(t0.Add(25*time.Millisecond), report.Answered, 99)
	tl.add(t0.Add(2*time.Second), report.Answered, 200) // past the buckets: After

	got := tl.snapshot(t0.Add(21 * time.Millisecond))
	checkBuckets(t, got, []report.Counts{
		{Status: [6]int{2: 1, 5: 1}},
		{Lost: 1},
		{Status: [6]int{0: 1}},
	})
	if tl.before.counts() != (report.Counts{Status: [6]int{2: 1}, Refused: 1}) || tl.after.counts() != (report.Counts{Status: [6]int{2: 1}}) {
		t.Errorf("before %+v, after %+v", tl.before.counts(), tl.after.counts())
	}
	if !got.Start.Equal(t0) || got.Bucket != report.TimelineBucket {
		t.Errorf("start %v, bucket %v", got.Start, got.Bucket)
	}
	if total := tl.total.counts(); total.Total() != 7 || total.Lost != 1 {
		t.Errorf("total %+v, want 7 requests, 1 lost", total)
	}
}

// TestTimelineSignal checks that the buckets are aligned on the signal,
// sent 3 ms later than planned.
func TestTimelineSignal(t *testing.T) {
	var signal atomic.Pointer[time.Time]
	tl := timeline{signal: &signal}
	t0 := time.Now()
	planned := t0.Add(25 * time.Millisecond) // 3 buckets before it, from t0-5ms
	tl.begin(t0, planned, 100*time.Millisecond)
	tl.add(t0.Add(-3*time.Millisecond), report.Answered, 200) // bucket 0
	tl.add(planned.Add(-time.Millisecond), report.Answered, 200)
	tl.add(planned.Add(time.Millisecond), report.Answered, 200) // planned, not sent yet: before it
	sent := planned.Add(3 * time.Millisecond)
	signal.Store(&sent)
	tl.add(planned.Add(2*time.Millisecond), report.Refused, 0) // before it
	tl.add(sent, report.Lost, 0)                               // the first bucket after it
	tl.add(sent.Add(19*time.Millisecond), report.Answered, 503)

	got := tl.snapshot(sent.Add(15 * time.Millisecond))
	checkBuckets(t, got, []report.Counts{
		{Status: [6]int{2: 1}},
		{},
		{Status: [6]int{2: 2}, Refused: 1},
		{Lost: 1},
		{Status: [6]int{5: 1}}, // after the end, but counted
	})
	if want := sent.Add(-3 * report.TimelineBucket); !got.Start.Equal(want) {
		t.Errorf("start %v before the signal, want %v", sent.Sub(got.Start), sent.Sub(want))
	}
}

func checkBuckets(t *testing.T, got report.Timeline, want []report.Counts) {
	t.Helper()
	if len(got.Buckets) != len(want) {
		t.Fatalf("%d buckets, want %d: %+v", len(got.Buckets), len(want), got.Buckets)
	}
	for i := range want {
		if got.Buckets[i] != want[i] {
			t.Errorf("bucket %d: %+v, want %+v", i, got.Buckets[i], want[i])
		}
	}
}

func TestMonitorPercentile(t *testing.T) {
	m := &monitor{}
	for range 990 {
		m.record(time.Millisecond)
	}
	for range 10 {
		m.record(50 * time.Millisecond)
	}
	m.record(-time.Millisecond) // a timer firing early counts as on time
	if p99, max := m.percentile(0.99), m.max; p99 != 1100*time.Microsecond || max != 50*time.Millisecond {
		t.Errorf("p99 %v, max %v; want 1.1ms, 50ms", p99, max)
	}
	m.record(time.Second) // past the histogram
	for range 100 {
		m.record(time.Second)
	}
	if p99 := m.percentile(0.99); p99 != time.Second {
		t.Errorf("p99 %v, want 1s", p99)
	}

	// A real monitor starts and stops.
	mon := startMonitor()
	p99, max := mon.end()
	if p99 < 0 || max < p99 {
		t.Errorf("p99 %v, max %v", p99, max)
	}
	mon.end() // again: harmless
}
