package drain

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A listener wraps the net.Listener an HTTP serves on, to track the
// connections it accepts, and to stop accepting without resetting the
// connections already queued in the kernel: closing a listening socket
// resets them, under clients that believe they are connected and may have
// sent a request already.
//
// To stop, it first keeps new connections out where the kernel allows
// (a TCP socket on Linux drops new connection requests, which their
// clients retry, to be refused once the socket is closed), then goes on
// accepting until no connection is queued, and closes. It accepts through
// the Listener it was given, so that a wrapper (a connection limit, the
// PROXY protocol) sees every connection; it looks under wrappers for the
// socket itself, to know what is queued (see listenerSocket).
//
// The drain proper (closing quiet connections) begins once no new
// connection can arrive, so that clients told to close reconnect to a
// closed port and are refused, rather than queue up behind it.
// "Connection: close" can begin earlier: during a Group's ShutdownDelay,
// and in retry-after mode while the listener stays open.
type listener struct {
	net.Listener
	sock     syscall.RawConn // the socket under Listener; nil if it is hidden
	port     int             // its TCP port, or 0
	t        *tracker
	tls      bool // conns carry TLS: their first bytes say nothing of HTTP/2
	stopping atomic.Bool

	mu        sync.Mutex
	isStopped bool
	keptOut   bool      // keepOutNew worked: no new connection can complete
	stoppedAt time.Time // stop was called
	isClosed  bool
	closeErr  error
	flush     *time.Timer   // closes the listener at the end of acceptFlushWindow
	stopped   chan struct{} // closed when no new connection can arrive
	closed    chan struct{} // closed by Close
}

func newListener(ln net.Listener, t *tracker, tls bool, stopped chan struct{}) *listener {
	l := &listener{Listener: ln, t: t, tls: tls, stopped: stopped, closed: make(chan struct{})}
	if s := listenerSocket(ln); s != nil {
		l.sock, _ = s.SyscallConn()
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		l.port = a.Port
	}
	return l
}

// Accept is called by the server's accept loop only.
func (l *listener) Accept() (net.Conn, error) {
	for {
		if l.stopping.Load() && l.flushed() {
			l.Close()
			return nil, net.ErrClosed
		}
		nc, err := l.Listener.Accept()
		if err == nil {
			if _, ok := nc.(*tls.Conn); ok {
				// net/http must see the *tls.Conn itself, and drain must
				// see the connection under it.
				nc.Close()
				return nil, errTLSListener
			}
			c := l.t.add(nc, l.tls)
			if l.stopping.Load() {
				c.last.Store(true)
			}
			return c, nil
		}
		if !l.stopping.Load() {
			return nil, err
		}
		// Stopping: the listener was closed. Where the queue can be seen,
		// go back to see whether anything is left in it.
		if _, known := pending(l.sock); !known {
			l.Close()
			return nil, net.ErrClosed
		}
	}
}

// errTLSListener is what Serve fails with when its Listener hands out TLS
// connections.
var errTLSListener = errors.New("drain: the Listener hands out TLS connections: " +
	"give HTTP the plain listener, and the certificate in CertFile and KeyFile or in Server.TLSConfig " +
	"(with autocert, Server.TLSConfig = manager.TLSConfig())")

// stop makes the listener stop accepting, without losing what is queued.
// Until no new connection can arrive, responses do not say
// "Connection: close", even after PrepareShutdown, and requests are not
// rejected: a client told to reconnect now would race the close. Once it
// has stopped, the drain begins and says it again.
func (l *listener) stop() {
	l.t.rejecting.Store(false)
	l.t.closing.Store(false)
	l.mu.Lock()
	l.stoppedAt = time.Now()
	l.mu.Unlock()
	l.stopping.Store(true)
	if l.sock != nil && keepOutNew(l.sock) {
		l.mu.Lock()
		l.keptOut = true
		l.mu.Unlock()
		l.markStopped()
	}
	if _, known := pending(l.sock); known {
		if l.flushed() {
			l.Close()
			return
		}
		// Accept takes what is queued, and closes once none is left.
		// The drain begins meanwhile, even where new connections cannot
		// be kept out: what holds the queue back (a connection limit in
		// a wrapper) lets go only as connections close.
		l.markStopped()
		return
	}
	if acceptFlushWindow > 0 && l.sock != nil {
		// Accept takes what comes for a moment, and the listener closes.
		l.mu.Lock()
		l.flush = time.AfterFunc(acceptFlushWindow, func() { l.Close() })
		l.mu.Unlock()
		return
	}
	l.Close()
}

// flushed reports whether the listener, stopping, can close without
// resetting a connection: nothing waits in its accept queue and, where new
// connections are kept out, no handshake is under way, which would
// complete into the queue within a round trip (see handshakes). It is
// false where the queue cannot be seen.
func (l *listener) flushed() bool {
	queued, known := pending(l.sock)
	if !known || queued {
		return false
	}
	l.mu.Lock()
	keptOut := l.keptOut
	l.mu.Unlock()
	if keptOut && l.port != 0 {
		if n, known := handshakes(l.port); known && n > 0 {
			return false
		}
	}
	return true
}

// settle is called by the drain while the listener, stopping, is still
// open. It closes it once nothing waits in its queue and no handshake is
// under way, or once handshakes have been under way for handshakeWait since
// the stop: a handshake that never completes (its client gone) cannot hold
// the drain. It returns how long to wait before calling it again, or 0 if
// the listener closed or a connection waits in its queue, which Accept
// takes (and closes the listener when it is the last).
func (l *listener) settle() (retry time.Duration) {
	if queued, known := pending(l.sock); known && queued {
		return 0
	}
	if !l.flushed() {
		l.mu.Lock()
		left := handshakeWait - time.Since(l.stoppedAt)
		l.mu.Unlock()
		if left > 0 {
			return min(left, handshakeRetry)
		}
	}
	l.Close()
	return 0
}

// handshakeWait bounds how long a stopping listener that keeps new
// connections out waits for the handshakes under way; handshakeRetry is
// how often it looks again meanwhile, when nothing else wakes the drain.
const (
	handshakeWait  = 200 * time.Millisecond
	handshakeRetry = 5 * time.Millisecond
)

// markStopped records that no new connection can arrive, and wakes the
// drain.
func (l *listener) markStopped() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.isStopped {
		l.isStopped = true
		close(l.stopped)
	}
	l.t.signal()
}

// isDone reports whether the listener is closed.
func (l *listener) isDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isClosed
}

// Close closes the listener.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.flush != nil {
		l.flush.Stop()
	}
	if !l.isClosed {
		l.isClosed = true
		l.closeErr = l.Listener.Close()
		close(l.closed)
	}
	err := l.closeErr
	l.mu.Unlock()
	l.markStopped()
	return err
}
