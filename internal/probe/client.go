package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// longAgo is a deadline in the past: setting it makes blocked reads and
// writes return at once.
var longAgo = time.Unix(1, 0)

// A client speaks raw HTTP/1.1 over one connection at a time, never
// retrying: each request is written once with a single write, and its
// response is parsed with net/http's ReadResponse, so that the probe sees
// exactly what the server does to the connection. A client is used by one
// goroutine.
type client struct {
	addr    string
	dialer  net.Dialer
	timeout time.Duration // per request, from write to the end of the body

	nc  net.Conn
	br  *bufio.Reader
	seq int // requests sent on nc
}

// An exchange is the result of one request.
type exchange struct {
	sent, done time.Time
	seq        int // the request's number on its connection, from 1; 0 if never sent
	status     int
	close      bool // the response ends the connection
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

// close closes the connection, if any.
func (c *client) close() {
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
}

// get sends GET path, connecting first if the client has no connection,
// and reads the whole response. The connection is closed after a failure
// or a response that ends it, so that the next get connects anew. If ctx
// ends, the request in progress fails at once.
func (c *client) get(ctx context.Context, path string) exchange {
	x := exchange{sent: time.Now()}
	if c.nc == nil {
		if err := c.connect(ctx); err != nil {
			x.done, x.st, x.err = time.Now(), stepConnect, err
			return x
		}
		x.sent = time.Now()
	}
	c.seq++
	x.seq = c.seq
	nc := c.nc
	nc.SetDeadline(x.sent.Add(c.timeout))
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(longAgo) })
	x.st, x.status, x.close, x.err = c.roundTrip(path)
	stop()
	x.done = time.Now()
	if x.err != nil || x.close {
		c.close()
	}
	return x
}

// roundTrip writes the request and reads its response on c.nc.
func (c *client) roundTrip(path string) (st step, status int, closes bool, err error) {
	if _, err := fmt.Fprintf(c.nc, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: drain-probe\r\n\r\n", path, c.addr); err != nil {
		return stepWrite, 0, false, err
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, nil)
		if err != nil {
			return stepHeader, 0, false, err
		}
		// Informational responses (103 Early Hints) precede the real one.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return stepBody, resp.StatusCode, resp.Close, err
	}
	return stepHeader, resp.StatusCode, resp.Close, nil
}
