package probe

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// numKinds is the number of kinds of [report.Kind], from Busy (0) to
// Watch, the last.
const numKinds = report.Watch + 1

// DefaultMaxRecords bounds the records a run keeps. See [Config.MaxRecords].
const DefaultMaxRecords = 10000

// A recorder collects what the load's goroutines learn. The hot path, a
// busy request answered before the signal, touches only the goroutine's
// own tally and two atomic counters of the timeline; the recorder's mutex
// is taken for records of note and when a goroutine finishes.
type recorder struct {
	max      int
	signal   atomic.Pointer[time.Time] // set once, when the signal is sent
	upgrade  atomic.Pointer[time.Time] // set once, when the first upgrade signal is sent
	timeline timeline

	mu        sync.Mutex
	counts    [numKinds]report.Counts
	sentAfter report.Counts // the requests sent after the signal
	last      time.Time     // latest complete response
	records   []report.Record
	plain     int // records of requests answered 2xx
	dropped   int
	// Busy requests answered before the signal, and the span of time
	// they were sent in, for the rate the probe achieved.
	busyBefore   int
	busyOKBefore int // of them, answered 2xx
	// connRefusedBefore counts the requests sent before the signal (the
	// first upgrade signal, in an upgrade run) whose connection was
	// refused: a server not taking its load.
	connRefusedBefore int
	lostBy            map[report.Reason]int // lost requests (not streams) by reason
	closeCodes        map[int]int           // close codes of the WebSocket streams ended cleanly
}

func newRecorder(max int) *recorder {
	if max <= 0 {
		max = DefaultMaxRecords
	}
	r := &recorder{max: max, lostBy: map[report.Reason]int{}, closeCodes: map[int]int{}}
	r.timeline.signal = &r.signal
	return r
}

// signalled records when the signal was sent.
func (r *recorder) signalled(t time.Time) { r.signal.Store(&t) }

// upgraded records when an upgrade signal was sent; the first one only
// is kept.
func (r *recorder) upgraded(t time.Time) { r.upgrade.CompareAndSwap(nil, &t) }

// A tally is one goroutine's share of the counts, merged when it finishes.
type tally struct {
	r            *recorder
	kind         report.Kind
	counts       report.Counts
	sentAfter    report.Counts
	last         time.Time
	busyBefore   int
	busyOKBefore int
	connRefused  int                   // sent before the signal, their connection refused
	lostBy       map[report.Reason]int // allocated at the first loss
	closeCodes   map[int]int           // allocated at the first close frame
}

func (r *recorder) tally(k report.Kind) *tally { return &tally{r: r, kind: k} }

// add classifies the exchange, counts it and records it if it is of note.
func (t *tally) add(client int, x wire.Exchange, aborted bool) report.Record {
	o, why := classify(x.Step, x.Err, aborted)
	return t.put(client, x, o, why)
}

// put counts an exchange whose outcome is known and records it if it is
// of note.
func (t *tally) put(client int, x wire.Exchange, o report.Outcome, why report.Reason) report.Record {
	t.counts.Count(o, x.Status, x.Seq)
	sig := t.r.signal.Load()
	before := sig == nil || x.Done.Before(*sig)
	sentBefore := sig == nil || x.Sent.Before(*sig)
	if o == report.Answered {
		if x.Done.After(t.last) {
			t.last = x.Done
		}
		if before && t.kind == report.Busy {
			t.busyBefore++
			if x.Status/100 == 2 {
				t.busyOKBefore++
			}
		}
		if t.kind == report.WebSocket {
			if t.closeCodes == nil {
				t.closeCodes = map[int]int{}
			}
			t.closeCodes[x.Code]++
		}
	}
	if t.kind.IsRequest() {
		if first := t.r.upgrade.Load(); o == report.Refused && x.Step == wire.StepConnect && sentBefore && (first == nil || x.Sent.Before(*first)) {
			t.connRefused++
		}
		t.r.timeline.add(x.Done, o, x.Status)
		if !sentBefore {
			t.sentAfter.Count(o, x.Status, x.Seq)
		}
		if o == report.Lost {
			if t.lostBy == nil {
				t.lostBy = map[report.Reason]int{}
			}
			t.lostBy[why]++
		}
	}
	rec := report.Record{
		Kind: t.kind, Client: client, Seq: x.Seq,
		Outcome: o, Reason: why, Status: x.Status, CloseCode: x.Code, Close: x.Close,
		Sent: x.Sent, Done: x.Done, Err: x.Err,
	}
	if o != report.Answered || x.Status/100 != 2 || t.kind != report.Busy && t.kind != report.Conn && t.kind != report.Idle || !before {
		t.r.keep(rec)
	}
	return rec
}

// keep stores a record of note, up to the bound. Requests answered 2xx
// get a tenth of it, so that a server answering for a long while after the
// signal cannot crowd out the requests it lost.
func (r *recorder) keep(rec report.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	plain := rec.Outcome == report.Answered && rec.Status/100 == 2
	if plain && r.plain >= max(r.max/10, 1) || len(r.records) >= r.max {
		r.dropped++
		return
	}
	if plain {
		r.plain++
	}
	r.records = append(r.records, rec)
}

// merge adds the tally to the recorder's counts. The tally may be used
// again afterwards: it starts over.
func (t *tally) merge() {
	r := t.r
	r.mu.Lock()
	r.counts[t.kind].Add(t.counts)
	r.sentAfter.Add(t.sentAfter)
	if t.last.After(r.last) {
		r.last = t.last
	}
	r.busyBefore += t.busyBefore
	r.busyOKBefore += t.busyOKBefore
	r.connRefusedBefore += t.connRefused
	for why, n := range t.lostBy {
		r.lostBy[why] += n
	}
	for code, n := range t.closeCodes {
		r.closeCodes[code] += n
	}
	r.mu.Unlock()
	t.counts, t.sentAfter, t.last, t.busyBefore, t.busyOKBefore, t.connRefused, t.lostBy, t.closeCodes = report.Counts{}, report.Counts{}, time.Time{}, 0, 0, 0, nil, nil
}

// fill completes report r from what the recorder and the driver saw.
// The load and the watcher must have stopped.
func (rec *recorder) fill(r *report.Report, d *driver, holdQuiet bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r.Busy, r.Conn, r.Slow, r.Idle, r.Silent = rec.counts[report.Busy], rec.counts[report.Conn], rec.counts[report.Slow], rec.counts[report.Idle], rec.counts[report.Silent]
	r.WebSocket, r.SSE, r.Watch = rec.counts[report.WebSocket], rec.counts[report.SSE], rec.counts[report.Watch]
	r.SentAfterSignal = rec.sentAfter
	r.CloseCodes = maps.Clone(rec.closeCodes)
	r.LastResponse = rec.last
	r.Records = rec.records
	slices.SortStableFunc(r.Records, func(a, b report.Record) int { return a.Done.Compare(b.Done) })
	r.Dropped = rec.dropped
	r.IdleOpen, r.SilentOpen = d.idle.Len(), d.silent.Len()
	r.IdleClosed, r.SilentClosed = d.idle.CloseTimes(), d.silent.CloseTimes()
	_, r.WebSocketsOpen, r.SSEOpen, r.WatchesOpen = d.streams.opened()
	r.Timeline = rec.timeline.snapshot(r.End)
	end := r.SignalAt
	if end.IsZero() {
		end = r.End
	}
	if span := end.Sub(r.Start); !r.Start.IsZero() && span > 0 {
		r.BusyRate = float64(rec.busyBefore) / span.Seconds()
	}
	r.Complete(maps.Clone(rec.lostBy), rec.busyOKBefore, rec.connRefusedBefore, holdQuiet)
}
