package probe

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/internal/testchild"
	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// want is an expected outcome of one request.
type want struct {
	outcome report.Outcome
	reasons []report.Reason // any of them; empty for Answered
	seq     int
	status  int
	close   bool
}

// TestClientClassifies sends requests one after the other through one
// client to servers with known behaviours, and checks what the probe
// makes of each.
func TestClientClassifies(t *testing.T) {
	answered := func(seq int) want { return want{outcome: report.Answered, seq: seq, status: 200} }
	tests := []struct {
		name    string
		handle  func(*rawServer, net.Conn, *bufio.Reader)
		timeout time.Duration
		want    []want
	}{{
		name:   "keep-alive: one connection reused",
		handle: keepAlive,
		want:   []want{answered(1), answered(2), answered(3)},
	}, {
		name:   "Connection: close: reconnects, nothing lost",
		handle: answerClose,
		want: []want{
			{outcome: report.Answered, seq: 1, status: 200, close: true},
			{outcome: report.Answered, seq: 1, status: 200, close: true},
			{outcome: report.Answered, seq: 1, status: 200, close: true},
		},
	}, {
		name:   "keep-alive connection closed under the client: lost",
		handle: closeUnder,
		want: []want{
			answered(1),
			{outcome: report.Lost, seq: 2, reasons: []report.Reason{closedBeforeResponse, resetBeforeResponse, writeFailed}},
			answered(1), // a fresh connection after the loss
		},
	}, {
		name:   "fresh connection reset after the request: lost",
		handle: resetOnRequest,
		want:   []want{{outcome: report.Lost, seq: 1, reasons: []report.Reason{resetBeforeResponse, closedBeforeResponse}}},
	}, {
		name:   "body cut short: lost",
		handle: shortBody,
		want:   []want{{outcome: report.Lost, seq: 1, status: 200, reasons: []report.Reason{bodyCut}}},
	}, {
		name:    "no answer: lost to the timeout",
		handle:  mute,
		timeout: 50 * time.Millisecond,
		want:    []want{{outcome: report.Lost, seq: 1, reasons: []report.Reason{responseTimeout}}},
	}, {
		name:   "503 is an answer",
		handle: unavailable,
		want:   []want{{outcome: report.Answered, seq: 1, status: 503}, {outcome: report.Answered, seq: 2, status: 503}},
	}, {
		name:   "not HTTP: lost",
		handle: garbage,
		want:   []want{{outcome: report.Lost, seq: 1, reasons: []report.Reason{badResponse}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serveRaw(t, tt.handle)
			timeout := cmpOr(tt.timeout, 5*time.Second)
			c := wire.NewClient(s.addr(), timeout)
			defer c.Close()
			rec := newRecorder(0)
			tl := rec.tally(report.Busy)
			for i, w := range tt.want {
				got := tl.add(0, get(context.Background(), c, "/fast"), false)
				checkRecord(t, i, got, w)
			}
		})
	}
}

func checkRecord(t *testing.T, i int, got report.Record, w want) {
	t.Helper()
	if got.Outcome != w.outcome || got.Seq != w.seq || got.Close != w.close ||
		(w.outcome == report.Answered && got.Status != w.status) ||
		(len(w.reasons) > 0 && !slices.Contains(w.reasons, got.Reason)) {
		t.Errorf("request %d: got %s; want %v seq %d status %d close %v reason in %q",
			i, got.Describe(time.Time{}), w.outcome, w.seq, w.status, w.close, w.reasons)
	}
	if got.Done.Before(got.Sent) {
		t.Errorf("request %d: done %v before sent %v", i, got.Done, got.Sent)
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func TestClientRefused(t *testing.T) {
	port := testchild.FreePort(t)
	c := wire.NewClient(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	x := get(context.Background(), c, "/fast")
	o, why := classify(x.Step, x.Err, false)
	if o != report.Refused || why != connectRefused || x.Seq != 0 {
		t.Errorf("got %v (%v) seq %d, err %v; want refused (connect refused) seq 0", o, why, x.Seq, x.Err)
	}
}

// TestClientAborted checks that a request the probe stops is Aborted, not
// blamed on the server.
func TestClientAborted(t *testing.T) {
	got := make(chan struct{})
	s := serveRaw(t, func(s *rawServer, nc net.Conn, br *bufio.Reader) {
		if _, ok := s.readRequest(br); ok {
			close(got)
			br.ReadByte() // until the client goes away
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := wire.NewClient(s.addr(), time.Minute)
	defer c.Close()
	done := make(chan wire.Exchange, 1)
	go func() { done <- get(ctx, c, "/fast") }()
	<-got
	cancel()
	x := <-done
	if o, why := classify(x.Step, x.Err, ctx.Err() != nil); o != report.Aborted || why != probeStopping {
		t.Errorf("got %v (%v), err %v; want aborted", o, why, x.Err)
	}
}

// TestBusyStopsWhenRefused runs a busy client against servers that close
// their listener after some connections, and checks that it counts what
// they do and stops at the first refused connection.
func TestBusyStopsWhenRefused(t *testing.T) {
	const conns = 10
	tests := []struct {
		name   string
		handle func(*rawServer, net.Conn, *bufio.Reader)
		want   report.Counts
	}{{
		// Each connection: one answer with "Connection: close".
		name:   "Connection: close loses nothing",
		handle: answerClose,
		want:   report.Counts{Status: [6]int{2: conns}, Refused: 1},
	}, {
		// Each connection: one answer, then closed under the client's
		// second request.
		name:   "closing under keep-alive loses one request per connection",
		handle: closeUnder,
		want:   report.Counts{Status: [6]int{2: conns}, Refused: 1, Lost: conns, LostReused: conns},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			accepted := 0
			s := serveRaw(t, func(s *rawServer, nc net.Conn, br *bufio.Reader) {
				s.mu.Lock()
				accepted++
				if accepted == conns {
					s.ln.Close() // the next connection is refused
				}
				s.mu.Unlock()
				tt.handle(s, nc, br)
			})
			rec := newRecorder(0)
			d := newDriver(s.addr(), s.addr(), withDefaults(Load{}), rec, nil)
			d.busy(context.Background(), 0)
			if got := rec.counts[report.Busy]; got != tt.want {
				t.Errorf("counts %+v, want %+v", got, tt.want)
			}
			last := rec.records[len(rec.records)-1]
			if last.Outcome != report.Refused || last.Reason != connectRefused {
				t.Errorf("last record %s, want a refused connection", last.Describe(time.Time{}))
			}
		})
	}
}
