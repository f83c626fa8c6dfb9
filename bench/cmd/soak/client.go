//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// A client speaks raw HTTP/1.1 on one connection at a time and never
// retries: each request is written once, in one write, and its response
// is parsed with net/http's ReadResponse, so that the soak sees exactly
// what the server did to the connection. A client belongs to one
// goroutine.
type client struct {
	addr string
	// timeout bounds a connect, and a request from its write to the end
	// of its response's body.
	timeout time.Duration

	nc      net.Conn
	br      *bufio.Reader
	seq     int         // requests written on nc
	unwatch func() bool // stops closing nc when the context ends
}

// An exchange is the result of one request on an established connection.
type exchange struct {
	sent, done time.Time
	seq        int  // the request's number on its connection, from 1
	status     int  // 0 if no response header was read
	closes     bool // the response ends the connection (Connection: close)
	st         step // where err happened
	err        error
}

// request returns the bytes of a GET request for path, with host in its
// Host header and, if closing, "Connection: close".
func request(path, host string, closing bool) []byte {
	b := make([]byte, 0, 96+len(path)+len(host))
	b = append(b, "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: drain-soak\r\n"...)
	if closing {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

// connect opens a new connection, closing the previous one. Until the
// connection is closed, ctx's end closes it, which makes a request in
// progress fail at once.
func (c *client) connect(ctx context.Context) error {
	c.close()
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	c.nc = nc
	c.unwatch = context.AfterFunc(ctx, func() { nc.Close() })
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
	if c.nc == nil {
		return
	}
	c.unwatch()
	c.nc.Close()
	c.nc = nil
}

// do writes req on the client's connection, which must be open, and reads
// the whole response. The connection is closed after a failure or a
// response that ends it, so that the next request connects anew.
func (c *client) do(req []byte) exchange {
	x := exchange{sent: time.Now()}
	c.seq++
	x.seq = c.seq
	c.nc.SetDeadline(x.sent.Add(c.timeout))
	x.st, x.status, x.closes, x.err = c.roundTrip(req)
	x.done = time.Now()
	if x.err != nil || x.closes {
		c.close()
	}
	return x
}

// roundTrip writes req and reads its response. st is where err happened.
func (c *client) roundTrip(req []byte) (st step, status int, closes bool, err error) {
	if _, err := c.nc.Write(req); err != nil {
		return stepWrite, 0, false, err
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, nil)
		if err != nil {
			return stepHeader, 0, false, err
		}
		if resp.StatusCode >= 200 { // 1xx responses precede the real one
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
