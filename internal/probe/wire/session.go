package wire

import (
	"context"
	"time"
)

// A Session is one connection of a client: HTTP/1 (one request at a
// time), HTTP/2 or gRPC (streams in flight together). The probe runs
// every client over it, so that its load loop, counting and judging are
// written once.
type Session interface {
	// Capacity is how many requests may be in flight on it, at most want.
	Capacity(want int) int
	// Send sends req as the connection's request number seq, and arranges
	// for its exchange to come on out once it ends. It reports false,
	// having sent nothing, if the connection takes no more requests: it
	// ended, the server closed it, or told the client to go away.
	Send(req Request, seq int, out chan<- Exchange) bool
	// Close closes the connection; the exchanges of the requests still
	// in flight come on their channel before it returns.
	Close()
}

// A Request is what a client sends, in any protocol.
type Request struct {
	Method, Path string
	Raw          []byte      // HTTP/1: the whole request, built once (see HTTP1Request)
	Header       [][2]string // HTTP/2: more fields, after the pseudo-headers
	Body         []byte      // HTTP/2
	// Timeout bounds an HTTP/2 stream from its sending to its end; 0: the
	// stream may stay open as long as the connection does. (An HTTP/1
	// client has its own: [Dialer.Timeout].)
	Timeout time.Duration
	GRPC    bool // a gRPC call (see HealthRequest): its result is its grpc-status
}

// A Dialer connects to one server. The zero Timeout means none.
type Dialer struct {
	Addr string // where to connect, host:port
	Host string // the Host header, HTTP/2's :authority
	// HTTP2 makes [Dialer.Dial]'s sessions HTTP/2: without TLS (h2c, with
	// prior knowledge), or with TLS (ALPN h2, any certificate
	// trusted: the probe judges shutdowns, not certificates).
	HTTP2, TLS bool
	// Timeout bounds each connect, each HTTP/1 request from its write to
	// the end of its response, and the opening of each stream.
	Timeout time.Duration
}

// Dial opens a session, or returns what happened to the attempt, as for a
// request that could not connect. The session's requests fail at once
// when ctx ends.
func (d Dialer) Dial(ctx context.Context) (Session, Exchange) {
	if d.HTTP2 {
		c, x := dialH2(ctx, d)
		if c == nil {
			return nil, x
		}
		// The streams in flight end when the connection does: at ctx's
		// end the session closes it.
		return &h2session{h2conn: c, stop: context.AfterFunc(ctx, func() { c.nc.Close() })}, x
	}
	c := NewClient(d.Addr, d.Timeout)
	x := Exchange{Sent: time.Now()}
	if err := c.Connect(ctx); err != nil {
		x.Done, x.Step, x.Err = time.Now(), StepConnect, err
		return nil, x
	}
	return &h1session{c: c, ctx: ctx}, x
}

// An h1session is a client's connection as a [Session]: one request at a
// time, each answered before Send returns.
type h1session struct {
	c   *Client
	ctx context.Context
}

func (s *h1session) Capacity(int) int { return 1 }

// Send sends req.Raw and reads its response, unless the connection has
// ended (after a failure, or a response that closed it).
func (s *h1session) Send(req Request, _ int, out chan<- Exchange) bool {
	if !s.c.Connected() {
		return false
	}
	out <- s.c.Do(s.ctx, req.Raw)
	return true
}

func (s *h1session) Close() { s.c.Close() }

// An h2session is a client's HTTP/2 connection as a [Session]: as many
// streams in flight as the server allows.
type h2session struct {
	*h2conn
	stop func() bool // stops closing the connection when ctx ends
}

func (s *h2session) Capacity(want int) int { return s.capacity(want) }

func (s *h2session) Send(req Request, seq int, out chan<- Exchange) bool {
	return s.open(req, seq, out) != nil
}

func (s *h2session) Close() {
	s.stop()
	s.close()
}
