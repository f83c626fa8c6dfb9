package drain

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Connection protocols, as far as the tracker knows them.
const (
	protoUnknown uint32 = iota
	protoHTTP1
	protoHTTP2
)

// h2Preface opens every HTTP/2 connection without TLS (h2c with prior
// knowledge).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// A conn is a connection accepted by a listener. It reports its closing to
// the tracker and remembers what the drain needs to know: its state, since
// when it has been quiet, and whether the client has sent anything since.
//
// The fields every request touches come first, in the first two cache
// lines of the 192 bytes of a conn: a loaded server finds a connection's
// memory out of cache at each request, and each line it touches costs it.
type conn struct {
	net.Conn
	t   *tracker
	ctx connCtx // the context of c's requests: see connFrom

	cur      atomic.Pointer[request] // the HTTP/1 request being served
	state    atomic.Uint32           // an http.ConnState
	proto    atomic.Uint32
	since    atomic.Int64 // tracker clock when the conn became new or idle
	hdrStart atomic.Int64 // tracker clock of the first bytes received, if they came during the drain
	wantRD   atomic.Int64 // the read deadline the server asked for (see SetReadDeadline), encoded by tracker.deadline
	rx       atomic.Bool  // bytes arrived since c became new or idle: a request is arriving
	cutting  atomic.Bool  // a stalled request header is being cut; written under dmu
	guarded  atomic.Bool  // the drain has overridden the read deadline once: see SetReadDeadline
	last     atomic.Bool  // accepted from the queue of a stopping listener: one response, then close
	closed   atomic.Bool  // removed from the tracker
	wrote    atomic.Bool  // HTTP/2: a write has completed since the conn last turned idle
	tls      bool
	sniff    uint8 // bytes of h2Preface seen; only the reading goroutine uses it

	sock syscall.Conn // the socket under Conn, if it can be reached
	// HTTP/2 only, for the drain to tell when net/http is done writing
	// (see tracker.check).
	idleAway  atomic.Bool  // the last stream closed while net/http shuts down
	wroteAway atomic.Bool  // a write began after net/http's Shutdown did
	writing   atomic.Int32 // writes in progress
	lastWrite atomic.Int64 // tracker clock when the last write ended

	// Serializes the drain's overrides of the read deadline (cut, uncut,
	// expire) with the server's own, once c is guarded.
	dmu sync.Mutex

	mu      sync.Mutex   // guards reqs
	reqs    *h2request   // HTTP/2 requests being served, newest first
	running atomic.Int32 // HTTP/2 requests being served

	// Guarded by t.mu.
	http1 bool // counted in t.http1
	cand  bool // in t.cands
	gone  bool // removed from t.conns
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if !c.rx.Load() {
			c.rx.Store(true)
			if c.t.draining.Load() {
				c.hdrStart.Store(c.t.now())
			}
		}
		if !c.tls && c.proto.Load() == protoUnknown {
			c.sniffPreface(p[:n])
		}
	}
	if err != nil && c.cutting.Load() {
		// A stalled header, cut: the server would answer the part it
		// read with a 400, which a client that merely reused a
		// keep-alive connection could not retry. Closed now, the
		// connection ends without an answer.
		c.Conn.Close()
	}
	return n, err
}

// closing reports whether the response being written must say
// "Connection: close": the shutdown has begun, or c came out of the queue
// of a listener that was stopping.
func (c *conn) closing() bool { return c.t.respMode() != keepAlive || c.last.Load() }

// sniffPreface tells an h2c connection from an HTTP/1 one by its first
// bytes. Only called for plain connections on a server that accepts h2c.
func (c *conn) sniffPreface(p []byte) {
	want := h2Preface[c.sniff:]
	k := min(len(p), len(want))
	if string(p[:k]) != want[:k] {
		c.proto.Store(protoHTTP1)
		return
	}
	c.sniff += uint8(k)
	if int(c.sniff) == len(h2Preface) {
		c.t.setHTTP2(c)
	}
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.t.remove(c)
	return err
}

// Write notes, on an HTTP/2 connection, what the drain needs to know to
// close it once net/http is done writing to it (see tracker.check).
func (c *conn) Write(p []byte) (int, error) {
	if c.proto.Load() != protoHTTP2 {
		return c.Conn.Write(p)
	}
	after := c.t.goaway.Load()
	c.writing.Add(1)
	n, err := c.Conn.Write(p)
	c.lastWrite.Store(c.t.now())
	c.writing.Add(-1)
	c.wrote.Store(true)
	if after {
		c.wroteAway.Store(true)
		if http.ConnState(c.state.Load()) == http.StateIdle {
			c.t.consider(c)
		}
	}
	return n, err
}

// SetReadDeadline records the deadline the server asks for, and sets it
// unless the drain is cutting a stalled request header.
//
// net/http sets the read deadline six times a request, so the common case
// takes no lock: until the drain first overrides c's deadline (see cut and
// expire), which guards c for good, the deadline is set directly. A call
// that finds c guarded only once it has set its deadline sets it again
// under dmu, as the drain wants it then: the drain's own setting comes
// after it, or it sees the guard.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.recordRD(t)
	if c.guarded.Load() {
		return c.setGuardedRD(t)
	}
	err := c.Conn.SetReadDeadline(t)
	if c.guarded.Load() {
		c.setGuardedRD(t)
	}
	return err
}

// SetDeadline is SetReadDeadline and SetWriteDeadline together.
func (c *conn) SetDeadline(t time.Time) error {
	c.recordRD(t)
	if c.guarded.Load() {
		if err := c.Conn.SetWriteDeadline(t); err != nil {
			return err
		}
		return c.setGuardedRD(t)
	}
	err := c.Conn.SetDeadline(t)
	if c.guarded.Load() {
		c.setGuardedRD(t)
	}
	return err
}

// recordRD records the read deadline the server asks for, for the drain
// to give it back (see expire and uncut).
func (c *conn) recordRD(t time.Time) {
	var d int64 // what c.t.deadline returns, the common cases told at once
	switch t {
	case time.Time{}:
	case aLongTimeAgo:
		d = 1
	default:
		d = c.t.deadline(t)
	}
	if c.wantRD.Load() != d { // mostly the same: no store
		c.wantRD.Store(d)
	}
}

// setGuardedRD sets the read deadline of a guarded conn to t, unless a
// stalled request header is being cut.
func (c *conn) setGuardedRD(t time.Time) error {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.cutting.Load() {
		return c.Conn.SetReadDeadline(aLongTimeAgo)
	}
	return c.Conn.SetReadDeadline(t)
}

// NetConn returns the connection c wraps, as [crypto/tls.Conn.NetConn] does.
// Closing it directly hides the close from the drain until the server
// notices.
func (c *conn) NetConn() net.Conn { return c.Conn }

// ReadFrom keeps the sendfile and splice paths of net/http and io.Copy.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// WriteTo keeps the splice path of io.Copy from a hijacked connection.
func (c *conn) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{c})
}

// CloseWrite half-closes the connection, as net/http does before closing
// one whose request body it did not read.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn gives access to the socket, for options set on a hijacked
// connection.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// connOf finds the conn under a connection net/http hands out: the conn
// itself, or a *tls.Conn around it.
func connOf(nc net.Conn) *conn {
	for range 4 {
		switch v := nc.(type) {
		case *conn:
			return v
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// A request is a request being served, for logs and for the forced close.
// It copies what the logs show of it, which a handler may change in the
// http.Request while it runs; its remote address is its connection's.
type request struct {
	method, path string
	start        int64 // tracker clock
}

// An h2request is a request on an HTTP/2 connection, in its list.
type h2request struct {
	request
	prev, next *h2request
}

func newRequest(t *tracker, r *http.Request) request {
	return request{method: r.Method, path: r.URL.Path, start: t.now()}
}

// beginHTTP1 records the request an HTTP/1 connection serves: one at a
// time, so an atomic pointer does, without the mutex and the count of
// HTTP/2's list.
func (c *conn) beginHTTP1(r *request) {
	c.cur.Store(r)
}

func (c *conn) endHTTP1() {
	c.cur.Store(nil)
	c.ended()
}

// begin records a request on an HTTP/2 connection.
func (c *conn) begin(r *h2request) {
	c.running.Add(1)
	c.mu.Lock()
	r.next = c.reqs
	if c.reqs != nil {
		c.reqs.prev = r
	}
	c.reqs = r
	c.mu.Unlock()
}

func (c *conn) end(r *h2request) {
	c.mu.Lock()
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		c.reqs = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	}
	r.prev, r.next = nil, nil
	c.mu.Unlock()
	c.running.Add(-1)
	c.ended()
}

// busy reports whether c serves a request.
func (c *conn) busy() bool { return c.cur.Load() != nil || c.running.Load() > 0 }

// ended notes that a request ended. A handler can outlive its connection
// (an HTTP/2 client that went away, a hijacked connection closed early):
// the drain waits for it all the same. The request is counted out before
// closed is read, and remove sets closed before it counts the requests:
// one of them, at least, sees the other.
func (c *conn) ended() {
	if c.closed.Load() && !c.busy() {
		c.t.orphanDone(c)
	} else if c.t.eager.Load() {
		c.t.signal()
	}
}

// eachRequest calls f for each request c is serving.
func (c *conn) eachRequest(f func(*request)) {
	if r := c.cur.Load(); r != nil {
		f(r)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for r := c.reqs; r != nil; r = r.next {
		f(&r.request)
	}
}

// A connCtx is the context net/http gives c's requests (through
// Server.ConnContext), under the ones it adds. It is part of c, so that a
// handler finds c in it without walking to a context of its own, which a
// loaded server finds out of cache at each request.
type connCtx struct {
	context.Context
	c *conn
}

type connKey struct{}

func (x *connCtx) Value(key any) any {
	if _, ok := key.(connKey); ok {
		return x.c
	}
	return x.Context.Value(key)
}

// withContext returns the context for c's requests: ctx, with c in it.
func (c *conn) withContext(ctx context.Context) context.Context {
	c.ctx = connCtx{Context: ctx, c: c}
	return &c.ctx
}

// connFrom returns the conn whose request has the context ctx, or nil.
func connFrom(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}
