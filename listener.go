package drain

import (
	"context"
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
	tcpAddr  *net.TCPAddr    // its address, if TCP
	t        *tracker        // nil for a [Listener]: connections are not tracked
	wake     chan struct{}   // for a Listener: signal wakes its Stop
	tls      bool            // conns carry TLS: their first bytes say nothing of HTTP/2
	stopping atomic.Bool
	// accepting counts the Accept calls in progress. One may hold a
	// connection that the kernel has handed out and the tracker does not
	// know yet: the listener is done only once every call has returned
	// (see isDone).
	accepting atomic.Int32

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
	l.tcpAddr, _ = ln.Addr().(*net.TCPAddr)
	return l
}

// Accept is called by the server's accept loop only.
func (l *listener) Accept() (net.Conn, error) {
	l.accepting.Add(1)
	defer func() {
		if l.accepting.Add(-1) == 0 && l.stopping.Load() {
			l.signal() // the drain may be waiting for this call (see isDone)
		}
	}()
	for {
		if l.stopping.Load() && l.flushed() {
			l.closeNow()
			return nil, net.ErrClosed
		}
		nc, err := l.Listener.Accept()
		if err == nil && l.t == nil {
			return nc, nil
		}
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
			l.closeNow()
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
//
// With handOff, or if the socket outlives this process (an Upgrader's,
// see leftToOthers), the socket is shared with another process, which goes
// on accepting from it: the listener closes at once, leaving what is
// queued to the other process, and keeps no new connection out.
func (l *listener) stop(handOff bool) {
	if handOff || leftToOthers(l.Listener) {
		l.stopping.Store(true)
		l.closeNow()
		return
	}
	keptOut := l.sock != nil && keepOutNew(l.sock)
	l.mu.Lock()
	l.stoppedAt = time.Now()
	l.keptOut = keptOut
	l.mu.Unlock()
	l.stopping.Store(true)
	if keptOut {
		l.markStopped()
	}
	if _, known := pending(l.sock); known {
		if l.flushed() {
			l.closeNow()
			return
		}
		// Accept takes what is queued, and the listener closes once
		// nothing is (see settle). The drain begins meanwhile, even where
		// new connections cannot be kept out: what holds the queue back
		// (a connection limit in a wrapper) lets go only as connections
		// close.
		l.markStopped()
		return
	}
	if acceptFlushWindow > 0 && l.sock != nil {
		// Accept takes what comes for a moment, and the listener closes.
		l.mu.Lock()
		l.flush = time.AfterFunc(acceptFlushWindow, func() { l.closeNow() })
		l.mu.Unlock()
		return
	}
	l.closeNow()
}

// flushed reports whether the listener, stopping, can close without
// resetting a connection: nothing waits in its accept queue, and, where
// new connections are kept out, the handshakes that were under way at the
// stop have had handshakeWait to complete into the queue. It is false
// where the queue cannot be seen.
func (l *listener) flushed() bool {
	if queued, known := pending(l.sock); !known || queued {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.keptOut || time.Since(l.stoppedAt) >= handshakeWait
}

// settle is called by the drain while the listener, stopping, is still
// open. It closes it once flushed: at once if the drain has nothing else
// to wait for, or once no handshake is under way (see handshakes), or at
// the latest handshakeWait after the stop. It returns how long until it
// should be called again, or 0 if it closed, or if a connection waits in
// the queue, which Accept takes, closing the listener once it is flushed.
func (l *listener) settle(nothingElse bool) (retry time.Duration) {
	if queued, known := pending(l.sock); known && queued {
		return 0
	}
	if !nothingElse && !l.flushed() {
		if l.tcpAddr == nil {
			return handshakeWait // the queue cannot be seen: Accept closes it
		}
		if n, known := handshakes(l.tcpAddr); !known || n > 0 {
			l.mu.Lock()
			left := handshakeWait - time.Since(l.stoppedAt)
			l.mu.Unlock()
			return min(max(left, time.Millisecond), handshakeRetry)
		}
	}
	l.closeNow()
	return 0
}

// handshakeWait is how long at most a stopping listener that keeps new
// connections out stays open for the handshakes under way when it
// stopped to complete and be accepted: they take a round trip, on
// loopback microseconds, a few milliseconds on a busy machine. Closing the
// socket earlier would reset a client that already believes it is
// connected. handshakeRetry is how often the drain looks meanwhile.
const (
	handshakeWait  = 200 * time.Millisecond
	handshakeRetry = 10 * time.Millisecond
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
	l.signal()
}

// signal wakes the drain, or the Stop of a Listener.
func (l *listener) signal() {
	if l.t != nil {
		l.t.signal()
		return
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// isDone reports whether the listener is closed and no Accept call is in
// progress: a connection that the kernel handed out just before the close
// is in the tracker by then. Close makes a call in progress return (the
// contract of net.Listener), with a connection or an error.
func (l *listener) isDone() bool {
	if l.accepting.Load() > 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.isClosed
}

// Close is how net/http closes the listener, in its Shutdown and Close.
// While the listener is stopping, it does not close it at once, which would
// reset the connections queued or completing their handshake: it closes
// once settle does. The drain closes it itself with closeNow.
func (l *listener) Close() error {
	if l.stopping.Load() {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.closeErr
	}
	return l.closeNow()
}

// closeNow closes the listener.
func (l *listener) closeNow() error {
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

// A Listener is a net.Listener that stops accepting without resetting the
// connections that wait in the kernel's accept queue, for a server of
// another package whose own shutdown closes its listener, as a
// *grpc.Server's GracefulStop does. Closing a listening socket resets the
// connections queued in it, under clients that believe they are connected
// and may have sent a request already. [HTTP] does the same with its own
// listener; package draingrpc with this one.
//
// Serve the server on it, and when its drain begins call Stop, then the
// server's own graceful shutdown: Stop keeps new connections out, lets
// the server accept every connection already queued, and closes.
//
// It sees through the same wrappers as [HTTP.Listener]; where the wrapped
// listener hides its socket (see CanFlush), Stop closes it at once.
type Listener struct {
	l       *listener
	handOff atomic.Bool
}

// NewListener returns a Listener that accepts from ln. For Stop to keep
// new connections out, ln should be a plain TCP listener: on Linux, Go's
// net.Listen makes a Multipath TCP one where the kernel has it; listen
// with a [net.ListenConfig] whose SetMultipathTCP(false) was called.
func NewListener(ln net.Listener) *Listener {
	l := newListener(ln, nil, false, make(chan struct{}))
	l.wake = make(chan struct{}, 1)
	return &Listener{l: l}
}

// Accept waits for and returns the next connection. Once Stop has
// flushed the queue, it returns an error wrapping [net.ErrClosed].
func (l *Listener) Accept() (net.Conn, error) { return l.l.Accept() }

// Addr returns the listener's network address.
func (l *Listener) Addr() net.Addr { return l.l.Addr() }

// Unwrap returns the listener it accepts from, so that a wrapper around
// it can be seen through as it sees through wrappers.
func (l *Listener) Unwrap() net.Listener { return l.l.Listener }

// Close closes the listener, resetting what is queued, unless Stop has
// been called: the listener then closes once Stop has flushed its queue,
// so that the server's own shutdown may call Close meanwhile.
func (l *Listener) Close() error { return l.l.Close() }

// CanFlush reports whether Stop can see the accept queue, to let the
// server accept what waits in it before the listener closes. It cannot
// if the listener hides its socket (a wrapper that neither has an
// Unwrap method nor keeps the listener in an exported field), or outside
// Linux, where Stop accepts for a moment and closes.
func (l *Listener) CanFlush() bool {
	_, known := pending(l.l.sock)
	return known
}

// HandOff makes Stop leave the socket to another process that shares it
// (see [HandOffer]): Stop then closes the listener at once, leaving what
// waits in the accept queue to the other process, and keeps no new
// connection out. Call it before Stop.
func (l *Listener) HandOff() { l.handOff.Store(true) }

// Stop stops accepting: where the kernel allows, new connections are kept
// out (their clients retry, and are refused once the listener is closed),
// the server accepts every connection already queued, and the listener
// closes once none is left. It returns nil then, or, if ctx ends first,
// closes the listener at once and returns ctx's error. The server must go
// on calling Accept until Stop returns; connections are handed to it as
// usual.
func (l *Listener) Stop(ctx context.Context) error {
	ln := l.l
	if l.handOff.Load() {
		ln.stop(true)
		return nil
	}
	ln.stop(false)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for !ln.isDone() {
		select {
		case <-ln.closed:
		default:
			if retry := ln.settle(false); retry > 0 {
				timer.Reset(retry)
			}
		}
		select {
		case <-ln.wake:
		case <-timer.C:
		case <-ctx.Done():
			ln.closeNow()
			return ctx.Err()
		}
	}
	return nil
}
