package probe

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// longAgo is a deadline in the past: setting it makes blocked reads and
// writes return at once.
var longAgo = time.Unix(1, 0)

// failOnDone makes nc's reads and writes fail at once when ctx ends, by
// setting a deadline in the past. The returned function undoes that; once
// it has returned, the deadline is not set (any more) by ctx's end.
func failOnDone(ctx context.Context, nc net.Conn) (undo func()) {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		nc.SetDeadline(longAgo)
	})
	return func() {
		if !stop() {
			<-done // started: wait until it is over
		}
	}
}

// postBody is the body of every POST request the probe sends.
const postBody = "drain-probe\n"

// http1Request returns the bytes of a request for path by method (GET or
// POST), with host in its Host header. A POST carries [postBody], with
// its Content-Length.
func http1Request(method, path, host string) []byte { return http1RequestWith(method, path, host, "") }

// http1RequestWith is http1Request with extra header lines, each ending in CRLF.
func http1RequestWith(method, path, host, extra string) []byte {
	b := make([]byte, 0, 128+len(path)+len(host)+len(extra))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: drain-probe\r\n"...)
	b = append(b, extra...)
	if method == http.MethodPost {
		b = append(b, "Content-Type: text/plain\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(postBody)), 10)
		b = append(b, "\r\n\r\n"+postBody...)
		return b
	}
	return append(b, "\r\n"...)
}

// A client speaks raw HTTP/1.1 over one connection at a time, never
// retrying: each request is written once with a single write, and its
// response is parsed with net/http's ReadResponse, so that the probe sees
// exactly what the server does to the connection. A client is used by one
// goroutine, with one context for all its calls.
//
// Its cost per request, from the memory profile of BenchmarkClient: 7
// allocations, about 650 bytes, all of them ReadResponse's.
type client struct {
	addr    string
	dialer  net.Dialer
	timeout time.Duration // per request, from write to the end of the body

	nc  net.Conn
	br  *bufio.Reader
	seq int // requests sent on nc
	// unwatch stops making nc fail when the context ends.
	unwatch func()
}

// An exchange is the result of one request.
type exchange struct {
	sent, done time.Time
	seq        int // the request's number on its connection, from 1; 0 if never sent
	status     int
	close      bool // the response ends the connection
	code       int  // a WebSocket stream's close code
	st         step // where err happened
	err        error
}

func newClient(addr string, timeout time.Duration) *client {
	return &client{addr: addr, timeout: timeout, dialer: net.Dialer{Timeout: timeout}}
}

// connect opens a new connection, closing the previous one.
func (c *client) connect(ctx context.Context) error {
	c.close()
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.nc = nc
	// Registered once per connection rather than per request: registering
	// takes the context's lock, which every busy client shares.
	c.unwatch = failOnDone(ctx, nc)
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 4<<10)
	} else {
		c.br.Reset(nc)
	}
	c.seq = 0
	return nil
}

// connected reports whether the client has a connection open.
func (c *client) connected() bool { return c.nc != nil }

// detach returns the connection, which the client then forgets: ending
// the context no longer affects it.
func (c *client) detach() net.Conn {
	nc := c.nc
	c.nc = nil
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
	return nc
}

// close closes the connection, if any.
func (c *client) close() {
	if nc := c.detach(); nc != nil {
		nc.Close()
	}
}

// do sends req (see [http1Request]), connecting first if the client has no
// connection, and reads the whole response. The connection is closed
// after a failure or a response that ends it, so that the next request
// connects anew. If ctx ends, the request in progress fails at once.
func (c *client) do(ctx context.Context, req []byte) exchange {
	x := exchange{sent: time.Now()}
	if c.nc == nil {
		if err := c.connect(ctx); err != nil {
			x.done, x.st, x.err = time.Now(), stepConnect, err
			return x
		}
		x.sent = time.Now()
	}
	c.nc.SetDeadline(x.sent.Add(c.timeout))
	if err := ctx.Err(); err != nil {
		// The context ended, and the deadline just set may have undone
		// what its end did: give up. (If it ends after this check, its
		// deadline comes after this one.)
		x.done, x.st, x.err = time.Now(), stepWrite, err
		return x
	}
	c.seq++
	x.seq = c.seq
	x.st, x.status, x.close, x.err = c.roundTrip(req)
	x.done = time.Now()
	if x.err != nil || x.close {
		c.close()
	}
	return x
}

// roundTrip writes the request and reads its response on c.nc.
func (c *client) roundTrip(req []byte) (st step, status int, closes bool, err error) {
	resp, st, err := c.send(req)
	if err != nil {
		return st, 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return stepBody, resp.StatusCode, resp.Close, err
	}
	return stepHeader, resp.StatusCode, resp.Close, nil
}

// send writes the request on c.nc and reads its response's header,
// leaving the body to be read. st is where err happened.
func (c *client) send(req []byte) (resp *http.Response, st step, err error) {
	if _, err = c.nc.Write(req); err != nil {
		return nil, stepWrite, err
	}
	for {
		resp, err = http.ReadResponse(c.br, nil)
		if err != nil {
			return nil, stepHeader, err
		}
		// Informational responses (103 Early Hints) precede the real one.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, stepHeader, nil
		}
	}
}

// An h1session is a client's connection as a [session]: one request at a
// time, each answered before send returns.
type h1session struct {
	c   *client
	ctx context.Context
}

func (s *h1session) capacity(int) int { return 1 }

// send sends req.raw and reads its response, unless the connection has
// ended (after a failure, or a response that closed it).
func (s *h1session) send(req request, _ int, out chan<- result) bool {
	if !s.c.connected() {
		return false
	}
	x := s.c.do(s.ctx, req.raw)
	o, why := classify(x.st, x.err, false)
	out <- result{x: x, o: o, why: why}
	return true
}

func (s *h1session) close() { s.c.close() }
