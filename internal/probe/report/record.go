package report

import (
	"fmt"
	"time"
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
)

// requestKinds are the kinds whose outcomes are requests, as opposed to
// streams: they are what [Report.Total] and the [Timeline] count.
const requestKinds = WebSocket

// IsRequest reports whether k's outcomes are requests rather than streams.
func (k Kind) IsRequest() bool { return k < requestKinds }

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

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	for i, v := range o.Status {
		c.Status[i] += v
	}
	c.Refused += o.Refused
	c.Lost += o.Lost
	c.Aborted += o.Aborted
	c.LostReused += o.LostReused
}

// Count counts one request with outcome, the status of its response
// (if answered), and seq its number on its connection (see [Record.Seq]).
func (c *Counts) Count(outcome Outcome, status, seq int) {
	switch outcome {
	case Answered:
		c.Status[StatusClass(status)]++
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
