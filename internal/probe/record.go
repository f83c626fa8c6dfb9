package probe

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"
)

// A Kind is the part of the load a request or connection belongs to.
type Kind int

const (
	// Busy clients send requests back to back over keep-alive
	// connections.
	Busy Kind = iota
	// Slow requests are in flight at the signal, each on its own
	// connection.
	Slow
	// Idle connections sent one request, then stay quiet.
	Idle
	// Silent sockets connect and send nothing; their only "request" is
	// the connect.
	Silent
	// Conn clients open a connection for each request.
	Conn
	// WebSocket streams are opened before the load starts and stay open
	// until the server closes them.
	WebSocket
	// SSE streams (server-sent events) are responses the server keeps
	// open, opened before the load starts.
	SSE
	// Watch streams are gRPC health Watch calls ([Load.GRPC]) the server
	// keeps open, opened before the load starts.
	Watch
	numKinds
)

// requestKinds are the kinds whose outcomes are requests, as opposed to
// streams: they are what [Report.Total] and the [Timeline] count.
const requestKinds = WebSocket

// request reports whether k's outcomes are requests rather than streams.
func (k Kind) request() bool { return k < requestKinds }

func (k Kind) String() string {
	switch k {
	case Busy:
		return "busy"
	case Slow:
		return "slow"
	case Idle:
		return "idle"
	case Silent:
		return "silent"
	case Conn:
		return "conn"
	case WebSocket:
		return "websocket"
	case SSE:
		return "sse"
	case Watch:
		return "watch"
	}
	return "kind(?)"
}

// A Record describes one request of note: any request not answered with a
// 2xx status, any slow request, any stream, and every request that ended
// after the signal. Requests answered normally before the signal are only
// counted.
//
// A stream's record spans its life: Sent is when it was opened, Done when
// it ended, and its outcome says how (see [Load.WebSockets]).
type Record struct {
	Kind Kind
	// Client numbers the busy client, slow request, idle or silent
	// connection, or stream within its kind, from 0.
	Client int
	// Seq is the request's number on its connection, from 1: a request
	// with Seq > 1 reused a keep-alive connection. 0 means none was sent.
	Seq     int
	Outcome Outcome
	Reason  Reason // empty when Answered
	Status  int    // the response's status code, if one was read
	// CloseCode is the code of the close frame that ended a WebSocket
	// stream, when Answered (1001 "going away" is what a server shutting
	// down should send).
	CloseCode int
	// Close reports that the response said the connection ends
	// ("Connection: close").
	Close bool
	// Sent is when the request was written (or the connect began, if it
	// failed); Done is when its outcome was known.
	Sent, Done time.Time
	Err        error
}

// Describe describes the record in one line, with its times relative to
// signal, or as clock times if signal is zero.
func (r Record) Describe(signal time.Time) string {
	at := func(t time.Time) string {
		if signal.IsZero() {
			return t.Format("15:04:05.000000")
		}
		return fmt.Sprintf("%+.1fms", ms(t.Sub(signal)))
	}
	s := fmt.Sprintf("%v #%d req %d: %v", r.Kind, r.Client, r.Seq, r.Outcome)
	switch {
	case r.Outcome == Answered:
		s += fmt.Sprintf(" %d", r.Status)
		if r.CloseCode != 0 {
			s += fmt.Sprintf(" (close %d)", r.CloseCode)
		}
		if r.Close {
			s += " (Connection: close)"
		}
	default:
		s += fmt.Sprintf(" (%s)", r.Reason)
	}
	s += fmt.Sprintf(", sent %s, done %s", at(r.Sent), at(r.Done))
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// Counts counts the outcomes of requests.
type Counts struct {
	// Status counts the answered requests by status class: Status[2]
	// counts 2xx responses, Status[0] those outside 100-599.
	Status [6]int
	// Refused, Lost and Aborted count the requests with these outcomes.
	Refused, Lost, Aborted int
	// LostReused counts the lost requests that had reused a keep-alive
	// connection.
	LostReused int
}

// Answered returns the number of requests answered, whatever the status.
func (c Counts) Answered() int {
	n := 0
	for _, v := range c.Status {
		n += v
	}
	return n
}

// Total returns the number of requests counted.
func (c Counts) Total() int { return c.Answered() + c.Refused + c.Lost + c.Aborted }

func (c *Counts) add(o Counts) {
	for i, v := range o.Status {
		c.Status[i] += v
	}
	c.Refused += o.Refused
	c.Lost += o.Lost
	c.Aborted += o.Aborted
	c.LostReused += o.LostReused
}

func (c *Counts) count(outcome Outcome, status, seq int) {
	switch outcome {
	case Answered:
		c.Status[statusClass(status)]++
	case Refused:
		c.Refused++
	case Lost:
		c.Lost++
		if seq > 1 {
			c.LostReused++
		}
	case Aborted:
		c.Aborted++
	}
}

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
	counts    [numKinds]Counts
	sentAfter Counts    // the requests sent after the signal
	last      time.Time // latest complete response
	records   []Record
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
	lostBy            map[Reason]int // lost requests (not streams) by reason
	closeCodes        map[int]int    // close codes of the WebSocket streams ended cleanly
}

func newRecorder(max int) *recorder {
	if max <= 0 {
		max = DefaultMaxRecords
	}
	r := &recorder{max: max, lostBy: map[Reason]int{}, closeCodes: map[int]int{}}
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
	kind         Kind
	counts       Counts
	sentAfter    Counts
	last         time.Time
	busyBefore   int
	busyOKBefore int
	connRefused  int            // sent before the signal, their connection refused
	lostBy       map[Reason]int // allocated at the first loss
	closeCodes   map[int]int    // allocated at the first close frame
}

func (r *recorder) tally(k Kind) *tally { return &tally{r: r, kind: k} }

// add classifies the exchange, counts it and records it if it is of note.
func (t *tally) add(client int, x wire.Exchange, aborted bool) Record {
	o, why := classify(x.Step, x.Err, aborted)
	return t.put(client, x, o, why)
}

// put counts an exchange whose outcome is known and records it if it is
// of note.
func (t *tally) put(client int, x wire.Exchange, o Outcome, why Reason) Record {
	t.counts.count(o, x.Status, x.Seq)
	sig := t.r.signal.Load()
	before := sig == nil || x.Done.Before(*sig)
	sentBefore := sig == nil || x.Sent.Before(*sig)
	if o == Answered {
		if x.Done.After(t.last) {
			t.last = x.Done
		}
		if before && t.kind == Busy {
			t.busyBefore++
			if x.Status/100 == 2 {
				t.busyOKBefore++
			}
		}
		if t.kind == WebSocket {
			if t.closeCodes == nil {
				t.closeCodes = map[int]int{}
			}
			t.closeCodes[x.Code]++
		}
	}
	if t.kind.request() {
		if first := t.r.upgrade.Load(); o == Refused && x.Step == wire.StepConnect && sentBefore && (first == nil || x.Sent.Before(*first)) {
			t.connRefused++
		}
		t.r.timeline.add(x.Done, o, x.Status)
		if !sentBefore {
			t.sentAfter.count(o, x.Status, x.Seq)
		}
		if o == Lost {
			if t.lostBy == nil {
				t.lostBy = map[Reason]int{}
			}
			t.lostBy[why]++
		}
	}
	rec := Record{
		Kind: t.kind, Client: client, Seq: x.Seq,
		Outcome: o, Reason: why, Status: x.Status, CloseCode: x.Code, Close: x.Close,
		Sent: x.Sent, Done: x.Done, Err: x.Err,
	}
	if o != Answered || x.Status/100 != 2 || t.kind != Busy && t.kind != Conn && t.kind != Idle || !before {
		t.r.keep(rec)
	}
	return rec
}

// keep stores a record of note, up to the bound. Requests answered 2xx
// get a tenth of it, so that a server answering for a long while after the
// signal cannot crowd out the requests it lost.
func (r *recorder) keep(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	plain := rec.Outcome == Answered && rec.Status/100 == 2
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
	r.counts[t.kind].add(t.counts)
	r.sentAfter.add(t.sentAfter)
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
	t.counts, t.sentAfter, t.last, t.busyBefore, t.busyOKBefore, t.connRefused, t.lostBy, t.closeCodes = Counts{}, Counts{}, time.Time{}, 0, 0, 0, nil, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
