//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"
)

// An outcome is what became of one request.
type outcome int

const (
	answered outcome = iota // a complete 200 response
	refused                 // the connection was refused (ECONNREFUSED)
	lost                    // written on a connection, no complete response
	failed                  // any other failure: another status, another dial error
	nOutcomes
)

func (o outcome) String() string {
	return [...]string{"answered", "refused", "lost", "failed"}[o]
}

// maxErrors is how many failures each client keeps the details of.
const maxErrors = 5

// A failure is one request that was not answered.
type failure struct {
	at      time.Time
	window  int
	client  string
	kind    string // the client's
	outcome outcome
	err     error
}

// A tally counts the outcomes of one client's requests by window: window
// 0 is before the first upgrade signal, window i from the i-th signal on.
// It belongs to one goroutine until the load ends.
type tally struct {
	kind   string // busy, conns or slow
	counts [][nOutcomes]int
	errs   []failure // the first maxErrors
}

func newTally(kind string, windows int) *tally {
	return &tally{kind: kind, counts: make([][nOutcomes]int, windows)}
}

func (t *tally) add(window int, client string, o outcome, err error) {
	t.counts[window][o]++
	if o != answered && len(t.errs) < maxErrors {
		t.errs = append(t.errs, failure{at: time.Now(), window: window, client: client, kind: t.kind, outcome: o, err: err})
	}
}

// A loader runs the clients. Each speaks raw HTTP/1.1 and never retries:
// a request is written once, in one write, and its response parsed with
// http.ReadResponse, so that what the server does to a connection shows.
type loader struct {
	addr    string
	timeout time.Duration // bounds a dial, and a request from its write to the end of its body
	window  atomic.Int32  // the current window, moved on by the upgrade loop
	stop    chan struct{} // closed: send no new request
}

// request returns the bytes of GET path.
func (l *loader) request(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + l.addr + "\r\nUser-Agent: upgradebench\r\n\r\n")
}

func (l *loader) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// busy sends GET /fast back to back on a keep-alive connection, and
// connects again after a response with "Connection: close" or a failure.
func (l *loader) busy(ctx context.Context, name string, t *tally) {
	req := l.request("/fast")
	var c *conn
	defer func() { c.close() }()
	for !l.stopped() && ctx.Err() == nil {
		win := int(l.window.Load())
		if c == nil {
			var err error
			if c, err = dial(ctx, l.addr, l.timeout); err != nil {
				t.add(win, name, dialOutcome(err), err)
				pause(ctx, 10*time.Millisecond)
				continue
			}
		}
		status, closes, err := c.do(req, l.timeout)
		t.add(win, name, responseOutcome(status, err), err)
		if err != nil || closes {
			c.close()
			c = nil
		}
	}
}

// perConn opens a connection for each GET /fast, and closes it after the
// response.
func (l *loader) perConn(ctx context.Context, name string, t *tally) {
	req := l.request("/fast")
	for !l.stopped() && ctx.Err() == nil {
		win := int(l.window.Load())
		c, err := dial(ctx, l.addr, l.timeout)
		if err != nil {
			t.add(win, name, dialOutcome(err), err)
			pause(ctx, 10*time.Millisecond)
			continue
		}
		status, _, err := c.do(req, l.timeout)
		c.close()
		t.add(win, name, responseOutcome(status, err), err)
	}
}

// slow sends GET /slow?ms=N on a connection of its own, counted in window.
func (l *loader) slow(ctx context.Context, ms, window int, t *tally) outcome {
	name := fmt.Sprintf("slow %d", window)
	c, err := dial(ctx, l.addr, l.timeout)
	if err != nil {
		o := dialOutcome(err)
		t.add(window, name, o, err)
		return o
	}
	defer c.close()
	status, _, err := c.do(l.request(fmt.Sprintf("/slow?ms=%d", ms)), l.timeout+time.Duration(ms)*time.Millisecond)
	o := responseOutcome(status, err)
	t.add(window, name, o, err)
	return o
}

func dialOutcome(err error) outcome {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return refused
	}
	return failed
}

// responseOutcome judges a request written on a connection.
func responseOutcome(status int, err error) outcome {
	switch {
	case err != nil:
		return lost
	case status != http.StatusOK:
		return failed
	}
	return answered
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// A conn is a client connection. ctx's end closes it, which ends a
// request in progress at once.
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	unwatch func() bool
	n       int       // requests written
	sent    time.Time // when the previous request was written
	last    time.Time // when the previous response ended
}

func dial(ctx context.Context, addr string, timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), unwatch: context.AfterFunc(ctx, func() { nc.Close() })}, nil
}

func (c *conn) close() {
	if c == nil {
		return
	}
	c.unwatch()
	c.nc.Close()
}

// do writes req and reads its whole response within timeout. closes
// reports a response that ends the connection. An error on a reused
// connection says how long it had been quiet: a server that closes
// connections it thinks idle closes them after some quiet time.
func (c *conn) do(req []byte, timeout time.Duration) (status int, closes bool, err error) {
	start := time.Now()
	c.n++
	status, closes, err = c.roundTrip(req, start.Add(timeout))
	if err != nil && c.n > 1 {
		err = fmt.Errorf("%w (request %d on its connection, written %.1f ms after the previous one, %.1f ms after its response)",
			err, c.n, ms(start.Sub(c.sent)), ms(start.Sub(c.last)))
	}
	c.sent, c.last = start, time.Now()
	return status, closes, err
}

func (c *conn) roundTrip(req []byte, deadline time.Time) (status int, closes bool, err error) {
	c.nc.SetDeadline(deadline)
	if _, err := c.nc.Write(req); err != nil {
		return 0, false, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, false, fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, false, fmt.Errorf("read body (status %d): %w", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Close, nil
}
