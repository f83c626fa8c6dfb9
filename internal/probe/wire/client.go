package wire

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

// PostBody is the body of every POST request the probe sends.
const PostBody = "drain-probe\n"

// HTTP1Request returns the bytes of a request for path by method (GET or
// POST), with host in its Host header. A POST carries [PostBody], with
// its Content-Length.
func HTTP1Request(method, path, host string) []byte { return HTTP1RequestWith(method, path, host, "") }

// HTTP1RequestWith is [HTTP1Request] with extra header lines, each ending in CRLF.
func HTTP1RequestWith(method, path, host, extra string) []byte {
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
		b = strconv.AppendInt(b, int64(len(PostBody)), 10)
		b = append(b, "\r\n\r\n"+PostBody...)
		return b
	}
	return append(b, "\r\n"...)
}

// A Client speaks raw HTTP/1.1 over one connection at a time (see the
// package documentation). A Client is used by one goroutine, with one
// context for all its calls.
type Client struct {
	addr    string
	dialer  net.Dialer
	timeout time.Duration // per request, from write to the end of the body

	nc  net.Conn
	br  *bufio.Reader
	seq int // requests sent on nc
	// unwatch stops making nc fail when the context ends.
	unwatch func()
}

// An Exchange is the result of one request.
type Exchange struct {
	Sent, Done time.Time
	Seq        int // the request's number on its connection, from 1; 0 if never sent
	Status     int
	Close      bool // the response ends the connection
	Code       int  // a WebSocket stream's close code
	Step       Step // where err happened
	End        End  // how the server ended an HTTP/2 stream without a response
	// GRPCStatus is the grpc-status field of an HTTP/2 response, in its
	// headers or trailers; "" if it had none.
	GRPCStatus string
	Err        error
}

func NewClient(addr string, timeout time.Duration) *Client {
	return &Client{addr: addr, timeout: timeout, dialer: net.Dialer{Timeout: timeout}}
}

// Connect opens a new connection, closing the previous one.
func (c *Client) Connect(ctx context.Context) error {
	c.Close()
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

// Connected reports whether the client has a connection open.
func (c *Client) Connected() bool { return c.nc != nil }

// Detach returns the connection, which the client then forgets: ending
// the context no longer affects it.
func (c *Client) Detach() net.Conn {
	nc := c.nc
	c.nc = nil
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
	return nc
}

// Close closes the connection, if any.
func (c *Client) Close() {
	if nc := c.Detach(); nc != nil {
		nc.Close()
	}
}

// Do sends req (see [HTTP1Request]), connecting first if the client has no
// connection, and reads the whole response. The connection is closed
// after a failure or a response that ends it, so that the next request
// connects anew. If ctx ends, the request in progress fails at once.
func (c *Client) Do(ctx context.Context, req []byte) Exchange {
	x := Exchange{Sent: time.Now()}
	if c.nc == nil {
		if err := c.Connect(ctx); err != nil {
			x.Done, x.Step, x.Err = time.Now(), StepConnect, err
			return x
		}
		x.Sent = time.Now()
	}
	c.nc.SetDeadline(x.Sent.Add(c.timeout))
	if err := ctx.Err(); err != nil {
		// The context ended, and the deadline just set may have undone
		// what its end did: give up. (If it ends after this check, its
		// deadline comes after this one.)
		x.Done, x.Step, x.Err = time.Now(), StepWrite, err
		return x
	}
	c.seq++
	x.Seq = c.seq
	x.Step, x.Status, x.Close, x.Err = c.roundTrip(req)
	x.Done = time.Now()
	if x.Err != nil || x.Close {
		c.Close()
	}
	return x
}

// roundTrip writes the request and reads its response on c.nc.
func (c *Client) roundTrip(req []byte) (st Step, status int, closes bool, err error) {
	resp, st, err := c.send(req)
	if err != nil {
		return st, 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return StepBody, resp.StatusCode, resp.Close, err
	}
	return StepHeader, resp.StatusCode, resp.Close, nil
}

// send writes the request on c.nc and reads its response's header,
// leaving the body to be read. st is where err happened.
func (c *Client) send(req []byte) (resp *http.Response, st Step, err error) {
	if _, err = c.nc.Write(req); err != nil {
		return nil, StepWrite, err
	}
	for {
		resp, err = http.ReadResponse(c.br, nil)
		if err != nil {
			return nil, StepHeader, err
		}
		// Informational responses (103 Early Hints) precede the real one.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, StepHeader, nil
		}
	}
}

// A Step is where in a request's life an error happened.
type Step int

const (
	StepConnect Step = iota
	StepWrite
	StepHeader // reading the status line and the header
	StepBody
)
