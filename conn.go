package drain

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// acceptFlushWindow is how long a stopping listener keeps accepting before
// it closes. Closing a listening socket resets the connections waiting in
// its accept queue, whose clients believe they are connected and may
// already have sent a request. Accepting them first, and answering them
// with "Connection: close", loses nothing. The drain proper (and with it
// "Connection: close") only begins once the listener is closed, so that
// clients told to close reconnect to a closed port and are refused, rather
// than queue up behind it.
const acceptFlushWindow = 5 * time.Millisecond

// A listener wraps the net.Listener an HTTP serves on, to track the
// connections it accepts and to stop accepting without resetting the
// connections already queued.
type listener struct {
	net.Listener
	t        *tracker
	tls      bool // conns carry TLS: their first bytes say nothing of HTTP/2
	stopping atomic.Bool

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{} // closed by Close
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		if l.stopping.Load() {
			l.Close()
			return nil, net.ErrClosed
		}
		return nil, err
	}
	return l.t.add(nc, l.tls), nil
}

// stop makes the listener accept what is already queued, then close.
func (l *listener) stop() {
	l.stopping.Store(true)
	if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok {
		if d.SetDeadline(time.Now().Add(acceptFlushWindow)) == nil {
			return // the blocked Accept returns at the deadline and closes
		}
	}
	l.Close()
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.closeErr = l.Listener.Close()
		close(l.closed)
		l.t.signal()
	})
	return l.closeErr
}

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
type conn struct {
	net.Conn
	t   *tracker
	tls bool

	state atomic.Uint32 // an http.ConnState
	since atomic.Int64  // tracker clock when the conn became new or idle
	rx    atomic.Bool   // bytes arrived since then
	proto atomic.Uint32
	sniff int // bytes of h2Preface seen; only the reading goroutine uses it

	mu   sync.Mutex // guards reqs
	reqs *request   // requests being served, newest first

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
		}
		if !c.tls && c.proto.Load() == protoUnknown {
			c.sniffPreface(p[:n])
		}
	}
	return n, err
}

// sniffPreface tells an h2c connection from an HTTP/1 one by its first
// bytes. Only called for plain connections on a server that accepts h2c.
func (c *conn) sniffPreface(p []byte) {
	want := h2Preface[c.sniff:]
	k := min(len(p), len(want))
	if string(p[:k]) != want[:k] {
		c.proto.Store(protoHTTP1)
		return
	}
	c.sniff += k
	if c.sniff == len(h2Preface) {
		c.t.setHTTP2(c)
	}
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.t.remove(c)
	return err
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
type request struct {
	req        *http.Request
	start      time.Time
	prev, next *request
}

func (c *conn) begin(r *request) {
	c.mu.Lock()
	r.next = c.reqs
	if c.reqs != nil {
		c.reqs.prev = r
	}
	c.reqs = r
	c.mu.Unlock()
}

func (c *conn) end(r *request) {
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
	if c.t.draining.Load() {
		c.t.signal()
	}
}
