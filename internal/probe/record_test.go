package probe

import (
	"io"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// TestRecorderKeepsWhatMatters checks which requests are kept as records:
// before the signal only those of note, after it all of them, up to the
// bound; requests answered 2xx only up to a tenth of it, so that they
// cannot crowd out the lost ones.
func TestRecorderKeepsWhatMatters(t *testing.T) {
	rec := newRecorder(20) // 2 answered 2xx at most
	busy, slow := rec.tally(report.Busy), rec.tally(report.Slow)
	t0 := time.Now()
	ok := func(at time.Duration) wire.Exchange {
		return wire.Exchange{Sent: t0.Add(at), Done: t0.Add(at), Seq: 1, Status: 200, Step: wire.StepHeader}
	}
	busy.add(0, ok(1*time.Millisecond), false) // counted only
	slow.add(0, ok(2*time.Millisecond), false) // a slow request: kept
	rec.signalled(t0.Add(10 * time.Millisecond))
	busy.add(0, ok(9*time.Millisecond), false)  // before the signal: counted only
	busy.add(0, ok(11*time.Millisecond), false) // after: kept
	busy.add(1, ok(12*time.Millisecond), false) // past the bound of 2xx: dropped
	busy.add(2, ok(13*time.Millisecond), false) // dropped
	lost := wire.Exchange{Sent: t0.Add(14 * time.Millisecond), Done: t0.Add(14 * time.Millisecond), Seq: 2, Step: wire.StepHeader, Err: io.ErrUnexpectedEOF}
	busy.add(3, lost, false) // lost: kept
	busy.merge()
	slow.merge()

	if len(rec.records) != 3 || rec.dropped != 2 {
		t.Fatalf("%d records, %d dropped; want 3, 2", len(rec.records), rec.dropped)
	}
	if last := rec.records[2]; last.Outcome != report.Lost {
		t.Errorf("last record %s, want the lost request", last.Describe(t0))
	}
	if rec.records[0].Kind != report.Slow {
		t.Errorf("first record %s, want the slow request", rec.records[0].Describe(t0))
	}
	if rec.counts[report.Busy].Status[2] != 5 || rec.counts[report.Slow].Status[2] != 1 {
		t.Errorf("counts busy %+v slow %+v", rec.counts[report.Busy], rec.counts[report.Slow])
	}
	if rec.busyBefore != 2 {
		t.Errorf("busy answered before the signal: %d, want 2", rec.busyBefore)
	}
	if !rec.last.Equal(t0.Add(13 * time.Millisecond)) {
		t.Errorf("last response at %v, want the latest", rec.last.Sub(t0))
	}
}
