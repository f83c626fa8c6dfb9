package drain

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A tracker knows every connection of one HTTP server, from Accept to
// Close, hijacked ones included, and closes them as the drain allows.
//
// The hot path (a request on an existing connection) touches only the
// connection's own fields; the tracker's mutex is taken when a connection
// opens or closes, changes protocol, or while draining.
type tracker struct {
	grace       time.Duration // how long a connection must be quiet to be closed
	headerGrace time.Duration // how long a request header begun may take to arrive
	h2c         bool          // plain connections may speak HTTP/2
	epoch       time.Time     // zero of the tracker clock

	mode     atomic.Uint32 // a respMode, which only HTTP.respond sets
	draining atomic.Bool   // quiet connections are closed
	goaway   atomic.Bool   // net/http's Shutdown has begun: HTTP/2 connections are sent GOAWAY
	eager    atomic.Bool   // someone awaits every change (see await): wake on each
	drainc   chan struct{} // closed, under mu, when handlers are told to finish
	wakec    chan struct{} // wakes the drain loop; capacity 1

	mu      sync.Mutex
	conns   map[*conn]struct{}
	orphans map[*conn]struct{} // closed conns whose handlers still run
	http1   int                // conns that are or may become HTTP/1 (not HTTP/2, not hijacked)
	cands   []*conn            // conns that may be quiet: checked by the drain loop
	fresh   bool               // cands has grown since closeQuiet last ran
	began   int64              // tracker clock when the drain began
}

func newTracker(grace, headerGrace time.Duration, h2c bool) *tracker {
	return &tracker{
		grace:       grace,
		headerGrace: headerGrace,
		h2c:         h2c,
		epoch:       time.Now(),
		drainc:      make(chan struct{}),
		wakec:       make(chan struct{}, 1),
		conns:       make(map[*conn]struct{}),
		orphans:     make(map[*conn]struct{}),
	}
}

// A respMode is how a server answers requests as its shutdown goes on. It
// goes from keepAlive to closing when a Group's shutdown begins with a
// delay (PrepareShutdown), to rejecting when a drain in retry-after mode
// begins, back to keepAlive while the listener stops (a client told to
// reconnect then would race the close), and to closing once no new
// connection can arrive, for the rest of the drain.
type respMode uint32

const (
	keepAlive respMode = iota // as the Server is configured
	closing                   // responses carry "Connection: close"
	rejecting                 // as closing, and new requests are answered RetryAfter.Status
)

// respMode reads the mode.
func (t *tracker) respMode() respMode { return respMode(t.mode.Load()) }

// now reads the tracker clock: monotonic nanoseconds.
func (t *tracker) now() int64 { return int64(time.Since(t.epoch)) }

// deadline encodes a deadline for an atomic: 0 for none, 1 for
// aLongTimeAgo (which net/http sets too, as its own), otherwise its time
// on the tracker clock, monotonic when d has a monotonic reading, as
// net/http's deadlines do. fromDeadline decodes it.
func (t *tracker) deadline(d time.Time) int64 {
	switch {
	case d.IsZero():
		return 0
	case d == aLongTimeAgo:
		return 1
	}
	// A deadline before the epoch has passed, as epoch+2ns has.
	return max(int64(d.Sub(t.epoch)), 2)
}

func (t *tracker) fromDeadline(n int64) time.Time {
	switch n {
	case 0:
		return time.Time{}
	case 1:
		return aLongTimeAgo
	}
	return t.epoch.Add(time.Duration(n))
}

// age tells how long ago start, a tracker clock reading, was.
func (t *tracker) age(start int64) time.Duration {
	return time.Duration(t.now() - start)
}

// signal wakes the drain loop if it is not already awake.
func (t *tracker) signal() {
	select {
	case t.wakec <- struct{}{}:
	default:
	}
}

func (t *tracker) add(nc net.Conn, tls bool) *conn {
	c := &conn{Conn: nc, sock: connSocket(nc), t: t, tls: tls}
	c.since.Store(t.now())
	if !tls && !t.h2c {
		c.proto.Store(protoHTTP1)
	}
	t.mu.Lock()
	t.conns[c] = struct{}{}
	c.http1 = true
	t.http1++
	draining := t.draining.Load()
	if draining {
		c.cand = true
		t.cands = append(t.cands, c)
		t.fresh = true
	}
	t.mu.Unlock()
	if draining {
		t.signal()
	}
	return c
}

func (t *tracker) remove(c *conn) {
	t.mu.Lock()
	if c.gone {
		t.mu.Unlock()
		return
	}
	c.gone = true
	delete(t.conns, c)
	c.closed.Store(true)
	if c.busy() {
		t.orphans[c] = struct{}{}
	}
	lastHTTP1 := false
	if c.http1 {
		c.http1 = false
		t.http1--
		lastHTTP1 = t.http1 == 0
	}
	wake := t.pendingLocked() == 0 || lastHTTP1
	t.mu.Unlock()
	// The drain loop acts on the last connection and the last HTTP/1 one
	// only; it need not wake for each of thousands of closes.
	if t.draining.Load() && wake || t.eager.Load() {
		t.signal()
	}
}

// orphanDone records that the last handler of a closed conn returned.
func (t *tracker) orphanDone(c *conn) {
	t.mu.Lock()
	delete(t.orphans, c)
	last := t.pendingLocked() == 0
	t.mu.Unlock()
	if t.draining.Load() && last || t.eager.Load() {
		t.signal()
	}
}

// pendingLocked counts what the drain waits for: open connections, and
// closed ones whose handlers still run. t.mu must be held.
func (t *tracker) pendingLocked() int { return len(t.conns) + len(t.orphans) }

// notHTTP1 takes c out of the HTTP/1 count: it speaks HTTP/2 or was
// hijacked, so net/http's Shutdown can no longer harm it.
func (t *tracker) notHTTP1(c *conn) {
	t.mu.Lock()
	last := false
	if c.http1 {
		c.http1 = false
		t.http1--
		last = t.http1 == 0
	}
	t.mu.Unlock()
	if last && t.draining.Load() {
		t.signal()
	}
}

func (t *tracker) setHTTP2(c *conn) {
	c.proto.Store(protoHTTP2)
	t.notHTTP1(c)
}

// connState is the http.Server.ConnState hook. net/http calls it on the
// connection's goroutine for each request (active, then idle), and the
// HTTP/2 server calls it as streams come and go.
//
// A field that already holds the value to store is not stored again: an
// atomic store is a full barrier, a load is not.
func (t *tracker) connState(nc net.Conn, st http.ConnState) {
	c := connOf(nc)
	if c == nil || c.t != t {
		return
	}
	switch st {
	case http.StateActive:
		c.state.Store(uint32(st))
		if c.cutting.Load() {
			c.uncut() // the header was complete after all
		}
	case http.StateIdle:
		if c.rx.Load() {
			c.rx.Store(false)
		}
		if c.wrote.Load() {
			c.wrote.Store(false)
		}
		if c.hdrStart.Load() != 0 {
			c.hdrStart.Store(0)
		}
		c.since.Store(t.now())
		c.state.Store(uint32(st))
		if t.goaway.Load() && c.proto.Load() == protoHTTP2 {
			c.idleAway.Store(true)
		}
		if t.draining.Load() {
			t.consider(c)
		}
	case http.StateHijacked:
		c.state.Store(uint32(st))
		t.notHTTP1(c)
		return
	default:
		return
	}
	if c.tls && c.proto.Load() == protoUnknown {
		// The handshake is done: ALPN tells the protocol.
		if tc, ok := nc.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			t.setHTTP2(c)
		} else {
			c.proto.Store(protoHTTP1)
		}
	}
}

// consider asks the drain loop to check whether c is quiet.
func (t *tracker) consider(c *conn) {
	t.mu.Lock()
	if !c.cand && !c.gone {
		c.cand = true
		t.cands = append(t.cands, c)
		t.fresh = true
	}
	t.mu.Unlock()
	t.signal()
}

// goingAway is called just before net/http's Shutdown, which sends GOAWAY
// to every HTTP/2 connection. net/http then waits a second for the client
// to close a connection that has no stream left (golang.org/issue/18701:
// so that a close does not reset the connection before the client has
// read its GOAWAY); the drain closes it at once, which sends the GOAWAY and
// then FIN in order, since nothing the client sent is left unread (see
// check and closeQuiet).
//
// The GOAWAY is certain once the connection's last stream closes after
// this (net/http, shutting down, sends it in the same step), and on a
// connection idle already, once the server writes to it: the first thing
// it writes then is its GOAWAY.
func (t *tracker) goingAway() {
	t.goaway.Store(true)
}

// hasFresh reports whether candidates were added since closeQuiet last ran.
func (t *tracker) hasFresh() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fresh
}

// startDrain marks the tracker as draining and makes every connection that
// is new or idle a candidate for closing. It may be called more than once.
func (t *tracker) startDrain() {
	t.mu.Lock()
	if t.draining.Load() {
		t.mu.Unlock()
		return
	}
	t.draining.Store(true)
	t.began = t.now()
	t.announceLocked()
	for c := range t.conns {
		if st := http.ConnState(c.state.Load()); (st == http.StateNew || st == http.StateIdle) && !c.cand {
			c.cand = true
			t.cands = append(t.cands, c)
		}
	}
	t.fresh = true
	t.mu.Unlock()
}

// announce tells handlers that the drain begins, before connections are
// closed: the Draining channels close.
func (t *tracker) announce() {
	t.mu.Lock()
	t.announceLocked()
	t.mu.Unlock()
}

func (t *tracker) announceLocked() {
	select {
	case <-t.drainc:
	default:
		close(t.drainc)
	}
}

// closeQuiet closes the candidates that are quiet (new or idle, with
// nothing received, for at least the grace period) by expiring them, and
// cuts those whose request header is overdue. A client about to reuse a
// keep-alive connection sends its request well within the grace period,
// gets its answer with "Connection: close" and goes away; only a
// connection nobody is using is closed under the client. closeQuiet
// returns how long until the next candidate may be due, or 0 if there is
// none.
func (t *tracker) closeQuiet() (next time.Duration) {
	soonest := func(d time.Duration) {
		if next == 0 || d < next {
			next = d
		}
	}
	type dueConn struct {
		c *conn
		v verdict
	}
	var due []dueConn
	now := t.now()
	t.mu.Lock()
	t.fresh = false
	keep := t.cands[:0]
	for _, c := range t.cands {
		wait, v := t.check(c, now)
		switch {
		case v == busy || c.gone:
			c.cand = false // it comes back when it turns idle
		case v == notYet:
			keep = append(keep, c)
			soonest(wait)
		default:
			c.cand = false
			due = append(due, dueConn{c, v})
		}
	}
	clear(t.cands[len(keep):])
	t.cands = keep
	t.mu.Unlock()

	for _, d := range due {
		c := d.c
		if d.v == stalled {
			c.cut()
			continue
		}
		if c.proto.Load() == protoHTTP2 {
			c.goAway()
			continue
		}
		// The last look, in this order: bytes waiting in the kernel, then
		// bytes read meanwhile, then the state. A request that began to
		// arrive is served, not cut.
		if !hasPendingBytes(c.sock) {
			if _, v := t.check(c, t.now()); v == quiet {
				c.expire()
			}
		}
		c.since.Store(t.now())
	}
	if len(due) > 0 {
		// Back to the candidates: each is checked again after the grace
		// period if the server has not closed it by then.
		t.mu.Lock()
		for _, d := range due {
			if !d.c.cand && !d.c.gone {
				d.c.cand = true
				t.cands = append(t.cands, d.c)
			}
		}
		t.mu.Unlock()
		soonest(t.grace)
	}
	return next
}

// goAwaySettle is how long writes must have stopped on an HTTP/2
// connection idle since before net/http's Shutdown began, for its GOAWAY to
// be sent (see check).
const goAwaySettle = 50 * time.Millisecond

// A verdict is what the drain does with a connection it checks.
type verdict int

const (
	busy    verdict = iota // serving a request, hijacked, or HTTP/2: not to be closed
	notYet                 // to be checked again later
	quiet                  // quiet for the grace period: closed
	stalled                // its request header is overdue: cut
)

// check tells what to do with c now, and for notYet, how long until it
// may be due.
//
// A connection that has received bytes while waiting for a request is
// receiving one. It is served if the request header arrives in full
// within headerGrace, counted from its first byte or from the start of
// the drain, whichever is later; otherwise it is cut. A normal client
// sends its header at once; one that stalls half-way or trickles it a
// byte at a time would hold the drain until the server's own timeouts.
// On a new TLS connection the bytes may be the handshake: it is held to
// the same bound, handshake and header together.
//
// An HTTP/2 connection is ended (see goAway) once it has no stream open,
// net/http has sent it GOAWAY, and net/http is done writing to it: the
// client then has every response, and knows that no stream it opens later
// will be served, so that it retries it elsewhere. net/http itself would
// wait a second more for the client to close it (see goingAway). The
// drain cannot read what net/http writes (under TLS, it sees ciphertext),
// but it knows when net/http writes:
//
//   - When the last stream of a connection closes while net/http shuts
//     down, net/http sends GOAWAY (if it has not yet) in the same step, and
//     writes it out with the end of the response in one write, the next:
//     once it is done, so is net/http.
//   - A connection with no stream open when net/http's Shutdown began gets
//     its GOAWAY as soon as net/http gets to it, and then nothing more.
//     Whatever else net/http was writing then (acknowledging a client's
//     PING, say), the GOAWAY is written by the time writes have stopped
//     for goAwaySettle.
//
// The same wait covers a connection whose last stream closed after
// net/http's Shutdown began, when net/http had written out the end of its
// response before (a large one): then no write follows.
func (t *tracker) check(c *conn, now int64) (time.Duration, verdict) {
	st := http.ConnState(c.state.Load())
	if c.proto.Load() == protoHTTP2 {
		switch {
		case st != http.StateIdle || c.running.Load() > 0 || c.writing.Load() > 0:
			return 0, busy
		case c.idleAway.Load() && c.wrote.Load():
			return 0, quiet
		case c.idleAway.Load() || c.wroteAway.Load():
			if wait := time.Duration(max(c.lastWrite.Load(), c.since.Load()) + int64(goAwaySettle) - now); wait > 0 {
				return wait, notYet
			}
			return 0, quiet
		}
		return 0, busy // until net/http writes to it after its Shutdown began
	}
	if st != http.StateNew && st != http.StateIdle || c.busy() {
		return 0, busy
	}
	if c.rx.Load() {
		start := max(c.hdrStart.Load(), t.began)
		if wait := time.Duration(start + int64(t.headerGrace) - now); wait > 0 {
			return wait, notYet
		}
		return 0, stalled
	}
	if wait := time.Duration(c.since.Load() + int64(t.grace) - now); wait > 0 {
		return wait, notYet
	}
	return 0, quiet
}

// aLongTimeAgo is a deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// expire makes the server's pending read on c fail, so that the server
// closes c itself: at once, on the goroutine that serves it. That is how
// the drain closes a quiet connection. Closing it from here instead would
// wait for that goroutine to let go of it, one connection after another:
// 40µs each, 400ms for 10,000 idle connections. And a read that has
// already returned the first bytes of a request cannot fail any more: the
// expiry is undone if the server got any, so the request is served.
//
// An HTTP/2 connection that has sent GOAWAY serves no new stream: there is
// nothing to undo.
func (c *conn) expire() {
	c.Conn.SetReadDeadline(aLongTimeAgo)
	if c.rx.Load() && c.proto.Load() != protoHTTP2 {
		c.guarded.Store(true)
		c.setGuardedRD(c.t.fromDeadline(c.wantRD.Load()))
	}
}

// goAway ends an HTTP/2 connection that has sent GOAWAY and has nothing
// more to send: it half-closes it, so that the client reads every
// response, then the end of the connection, and closes it, which ends
// net/http's side. Closing it outright instead would reset it under a
// client still reading its last response and sending flow-control updates
// as it goes, which a client takes for a broken connection, losing the
// response. A client that does not close is closed by net/http a second
// after the GOAWAY. Where the socket cannot be reached, the connection is
// closed as a quiet one is.
func (c *conn) goAway() {
	if cw, ok := c.sock.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	c.expire()
}

// cut makes the server's read of a stalled request header fail, so that
// it closes the connection, as expire does, but for good: until the header
// is complete, deadlines the server sets are held back (see
// SetReadDeadline). If the header completes after all, in the moment
// before the read fails, the connection turns active and uncut gives the
// server back its deadline: the request is served.
func (c *conn) cut() {
	c.guarded.Store(true)
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.cutting.Store(true)
	c.Conn.SetReadDeadline(aLongTimeAgo)
}

func (c *conn) uncut() {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.cutting.Load() {
		c.cutting.Store(false)
		c.Conn.SetReadDeadline(c.t.fromDeadline(c.wantRD.Load()))
	}
}

// counts returns what the drain waits for (see pendingLocked) and the
// number of HTTP/1 connections.
func (t *tracker) counts() (pending, http1 int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pendingLocked(), t.http1
}

// snapshot counts what is open. If running is not nil, it receives every
// request being served, with its connection.
func (t *tracker) snapshot(running func(*conn, *request)) Stats {
	var s Stats
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		switch http.ConnState(c.state.Load()) {
		case http.StateNew:
			s.New++
		case http.StateActive:
			s.Active++
		case http.StateIdle:
			s.Idle++
		case http.StateHijacked:
			s.Hijacked++
		}
		if c.proto.Load() == protoHTTP2 {
			s.HTTP2++
		}
		c.eachRequest(func(r *request) {
			s.Requests++
			if running != nil {
				running(c, r)
			}
		})
	}
	for c := range t.orphans {
		c.eachRequest(func(r *request) {
			s.Requests++
			if running != nil {
				running(c, r)
			}
		})
	}
	return s
}

// awaitAnswers waits until no request is being served or answered (no
// connection is active), or for d.
func (t *tracker) awaitAnswers(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	t.await(func(s Stats) bool { return s.Requests == 0 && s.Active == 0 }, ctx.Done())
}

// await waits until done holds for what is open, or until stop is closed,
// waking on every request that ends and every connection that changes.
// It reports whether done held.
func (t *tracker) await(done func(Stats) bool, stop <-chan struct{}) bool {
	t.eager.Store(true)
	defer t.eager.Store(false)
	for !done(t.snapshot(nil)) {
		select {
		case <-t.wakec:
		case <-stop:
			return false
		}
	}
	return true
}

// closeAll closes every connection, hijacked ones included. Every pending
// read and write fails first, so that the goroutines serving them let go
// of their connections together, not one after another as each Close
// waits for them.
func (t *tracker) closeAll() {
	t.mu.Lock()
	all := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		c.Conn.SetDeadline(aLongTimeAgo)
	}
	for _, c := range all {
		c.Close()
	}
}
