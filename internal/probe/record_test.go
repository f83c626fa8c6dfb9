package probe

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestRecorderKeepsWhatMatters checks which requests are kept as records:
// before the signal only those of note, after it all of them, up to the
// bound; requests answered 2xx only up to a tenth of it, so that they
// cannot crowd out the lost ones.
func TestRecorderKeepsWhatMatters(t *testing.T) {
	rec := newRecorder(20) // 2 answered 2xx at most
	busy, slow := rec.tally(Busy), rec.tally(Slow)
	t0 := time.Now()
	ok := func(at time.Duration) exchange {
		return exchange{sent: t0.Add(at), done: t0.Add(at), seq: 1, status: 200, st: stepHeader}
	}
	busy.add(0, ok(1*time.Millisecond), false) // counted only
	slow.add(0, ok(2*time.Millisecond), false) // a slow request: kept
	rec.signalled(t0.Add(10 * time.Millisecond))
	busy.add(0, ok(9*time.Millisecond), false)  // before the signal: counted only
	busy.add(0, ok(11*time.Millisecond), false) // after: kept
	busy.add(1, ok(12*time.Millisecond), false) // past the bound of 2xx: dropped
	busy.add(2, ok(13*time.Millisecond), false) // dropped
	lost := exchange{sent: t0.Add(14 * time.Millisecond), done: t0.Add(14 * time.Millisecond), seq: 2, st: stepHeader, err: io.ErrUnexpectedEOF}
	busy.add(3, lost, false) // lost: kept
	busy.merge()
	slow.merge()

	if len(rec.records) != 3 || rec.dropped != 2 {
		t.Fatalf("%d records, %d dropped; want 3, 2", len(rec.records), rec.dropped)
	}
	if last := rec.records[2]; last.Outcome != Lost {
		t.Errorf("last record %s, want the lost request", describe(last, t0))
	}
	if rec.records[0].Kind != Slow {
		t.Errorf("first record %s, want the slow request", describe(rec.records[0], t0))
	}
	if rec.counts[Busy].Status[2] != 5 || rec.counts[Slow].Status[2] != 1 {
		t.Errorf("counts busy %+v slow %+v", rec.counts[Busy], rec.counts[Slow])
	}
	if rec.busyBefore != 2 {
		t.Errorf("busy answered before the signal: %d, want 2", rec.busyBefore)
	}
	if !rec.last.Equal(t0.Add(13 * time.Millisecond)) {
		t.Errorf("last response at %v, want the latest", rec.last.Sub(t0))
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	var sink strings.Builder
	tl := &tail{w: &sink}
	tl.Write([]byte("start\n"))
	tl.Write([]byte(strings.Repeat("x", tailSize)))
	tl.Write([]byte("end\n"))
	if got := tl.String(); len(got) != tailSize || !strings.HasSuffix(got, "xend\n") || strings.Contains(got, "start") {
		t.Errorf("tail of %d bytes: ...%q", len(got), got[len(got)-10:])
	}
	if sink.Len() != len("start\n")+tailSize+len("end\n") {
		t.Errorf("passed on %d bytes, want all", sink.Len())
	}
}
