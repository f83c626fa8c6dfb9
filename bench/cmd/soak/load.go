//go:build unix

package main

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A loadConfig sizes the load on each server.
type loadConfig struct {
	busy  int // keep-alive clients sending GET /fast back to back
	storm int // clients opening a new connection for each GET /fast
	// timeout bounds a connect, and a request from its write to the end
	// of its response. It is a safety net: a server that hangs is killed
	// before it, and the kernel then ends its connections.
	timeout time.Duration
}

// retryPause is how long a client waits before connecting again to a
// server that does not listen yet. There is no event for another
// process's port opening: this is the soak's one poll.
const retryPause = time.Millisecond

// A kind is what a client does.
type kind int

const (
	busyClient  kind = iota // GET /fast back to back on a keep-alive connection
	stormClient             // GET /fast on a new connection each time
	slowClient              // GET /slow?ms=N, N random, on a keep-alive connection
)

func (k kind) String() string {
	switch k {
	case busyClient:
		return "busy"
	case stormClient:
		return "storm"
	case slowClient:
		return "slow"
	}
	return "kind(?)"
}

// A lostRequest is a request written on an established connection that
// got no complete response.
type lostRequest struct {
	kind       kind
	seq        int // the request's number on its connection: 1 on a new connection
	reason     reason
	sent, done time.Time
	err        string
}

// maxLostKept bounds the lost requests a drain keeps the details of.
const maxLostKept = 20

// A tally counts what became of the requests of one drain, or of many.
type tally struct {
	answered    int // complete responses, whatever their status
	unavailable int // of them, 503 Service Unavailable
	otherStatus int // of them, neither 2xx nor 503
	lost        int
	lostKept    []lostRequest // the first maxLostKept of them
	// refused counts connections refused after the server had been seen
	// listening: its port was closed. The client then stops.
	refused int
	// notListening counts connections refused before the server had been
	// seen listening: it was starting. The client tries again.
	notListening int
	aborted      int // ended because the soak was interrupted
}

// add adds u's counts to t's.
func (t *tally) add(u tally) {
	t.answered += u.answered
	t.unavailable += u.unavailable
	t.otherStatus += u.otherStatus
	t.lost += u.lost
	for _, l := range u.lostKept {
		if len(t.lostKept) == maxLostKept {
			break
		}
		t.lostKept = append(t.lostKept, l)
	}
	t.refused += u.refused
	t.notListening += u.notListening
	t.aborted += u.aborted
}

// record counts the exchange x of a client of kind k. stopping reports
// that the soak was interrupted.
func (t *tally) record(k kind, x exchange, stopping bool) {
	o, why := classify(x.st, x.err, stopping)
	switch o {
	case answered:
		t.answered++
		switch {
		case x.status == 503:
			t.unavailable++
		case x.status < 200 || x.status > 299:
			t.otherStatus++
		}
	case aborted:
		t.aborted++
	default: // lost: an exchange is on an established connection, never refused
		t.lost++
		if len(t.lostKept) < maxLostKept {
			t.lostKept = append(t.lostKept, lostRequest{
				kind: k, seq: x.seq, reason: why, sent: x.sent, done: x.done, err: x.err.Error(),
			})
		}
	}
}

// A load is the clients of one drain.
type load struct {
	addr string
	cfg  loadConfig
	stop <-chan struct{} // closed when the server has exited: start nothing new
	// opened is when the first connection was established, in Unix
	// nanoseconds; 0 until then.
	opened atomic.Int64
}

// runLoad loads the server at addr (host:port, on loopback) with the
// clients of cfg and p until stop is closed, waits for the requests in
// progress to end, and returns their tally and when the first connection
// was established (zero if none was). stop is closed when the server has
// exited, so the requests in progress then fail at once; ctx's end aborts
// them.
func runLoad(ctx context.Context, addr string, cfg loadConfig, p plan, stop <-chan struct{}) (tally, time.Time) {
	l := &load{addr: addr, cfg: cfg, stop: stop}
	fast := request("/fast", addr, false)
	fastClosing := request("/fast", addr, true)
	same := func(req []byte) func() []byte { return func() []byte { return req } }

	tallies := make([]tally, cfg.busy+cfg.storm+p.slow)
	var wg sync.WaitGroup
	i := 0
	start := func(k kind, fresh bool, next func() []byte) {
		t := &tallies[i]
		i++
		wg.Go(func() { *t = l.client(ctx, k, fresh, next) })
	}
	for range cfg.busy {
		start(busyClient, false, same(fast))
	}
	// Half the storm announces that it closes, as Go's Transport does
	// with DisableKeepAlives; the other half just hangs up after the
	// response, as many scripts do.
	for j := range cfg.storm {
		if j%2 == 0 {
			start(stormClient, true, same(fastClosing))
		} else {
			start(stormClient, true, same(fast))
		}
	}
	for j := range p.slow {
		length := p.slowLengths(j)
		start(slowClient, false, func() []byte {
			return request("/slow?ms="+strconv.FormatInt(length().Milliseconds(), 10), addr, false)
		})
	}
	wg.Wait()

	var total tally
	for _, t := range tallies {
		total.add(t)
	}
	var opened time.Time
	if ns := l.opened.Load(); ns != 0 {
		opened = time.Unix(0, ns)
	}
	return total, opened
}

// client runs one client of kind k until the load stops or the server's
// port is found closed. A fresh client opens a new connection for each
// request; the others reconnect when a response says "Connection: close"
// or a request fails. next returns each request's bytes.
func (l *load) client(ctx context.Context, k kind, fresh bool, next func() []byte) tally {
	var t tally
	c := &client{addr: l.addr, timeout: l.cfg.timeout}
	defer c.close()
	for !l.stopped() {
		if !c.connected() {
			began := time.Now()
			if err := c.connect(ctx); err != nil {
				if o, _ := classify(stepConnect, err, ctx.Err() != nil); o == aborted {
					t.aborted++
					return t
				}
				if l.seenOpenBefore(began) {
					t.refused++ // the port is closed: the server is going away
					return t
				}
				t.notListening++
				if !l.pause(ctx) {
					return t
				}
				continue
			}
			l.opened.CompareAndSwap(0, time.Now().UnixNano())
		}
		x := c.do(next())
		if fresh {
			c.close()
		}
		t.record(k, x, ctx.Err() != nil)
		if ctx.Err() != nil {
			return t
		}
	}
	return t
}

// stopped reports whether the load is to start nothing new.
func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// seenOpenBefore reports whether a connection had been established before
// t: a connection refused after that means the server closed its port.
func (l *load) seenOpenBefore(t time.Time) bool {
	ns := l.opened.Load()
	return ns != 0 && t.UnixNano() >= ns
}

// pause waits retryPause, and reports false if the load stopped or ctx
// ended meanwhile.
func (l *load) pause(ctx context.Context) bool {
	t := time.NewTimer(retryPause)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// loopback returns the address of port on 127.0.0.1.
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
