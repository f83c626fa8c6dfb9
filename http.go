package drain

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultIdleGrace is how long a keep-alive connection must have been quiet
// before a draining server closes it. See [HTTP.IdleGrace].
const DefaultIdleGrace = 250 * time.Millisecond

// defaultHeaderGrace is how long a request header that has begun to arrive
// may take to arrive in full during a drain. See [HTTP.HeaderGrace].
const defaultHeaderGrace = 500 * time.Millisecond

// HTTP serves an [net/http.Server] so that it can drain without losing a
// request: Shutdown drains each connection by the state it is in (active,
// idle keep-alive, new, receiving a request header, hijacked, HTTP/2), as
// the package documentation describes under "Connections", and ends the
// moment the last connection closes: it waits for events, it does not
// poll. For h2c, enable it with Server.Protocols:
// golang.org/x/net/http2/h2c's handler hijacks its connections, which
// then only end when forced.
//
// HTTP installs itself in the Server when Serve starts: it wraps Handler,
// and chains ConnState, BaseContext and ConnContext after any the Server
// already has. Do not change those fields, or call the Server's own Serve,
// Shutdown or Close, once Serve has started. Handlers may wrap the
// ResponseWriter as they like; the one they receive has the methods of
// net/http's own (Flusher, Hijacker, io.ReaderFrom) and an Unwrap method
// for [net/http.ResponseController].
//
// An HTTP serves once: after Shutdown or Close it cannot serve again.
type HTTP struct {
	// Server is the server to run. Required, with a Handler.
	Server *http.Server

	// Name names the server in logs and errors. Defaults to the address
	// it listens on.
	Name string

	// Listener, if set, is the listener to serve on: a Unix socket, a
	// socket inherited from systemd or a parent process, one opened with
	// special options, or one wrapped (netutil.LimitListener, a
	// PROXY-protocol listener, a listener of your own). Serve takes it
	// over and closes it when it returns. It must hand out plain
	// connections: for TLS, set CertFile and KeyFile or Server.TLSConfig,
	// not a tls.NewListener. By default HTTP listens on Server.Addr over
	// TCP (":http", or ":https" with TLS, if Addr is empty).
	//
	// To stop without resetting the connections waiting in the kernel's
	// accept queue, drain reaches the socket under the Listener: the
	// Listener itself if it has a SyscallConn method (a *net.TCPListener
	// or *net.UnixListener does), or the socket under the listener it
	// wraps, found through a method Unwrap() net.Listener or an exported
	// field of type net.Listener (as wrappers that embed one have). It
	// goes on accepting through the Listener, wrappers included, until the
	// queue is empty. On Linux a plain TCP socket also keeps new
	// connections out while it does: their clients retry, to be refused
	// once the socket is closed. An MPTCP socket (Go's default for
	// net.Listen on Linux kernels that enable MPTCP) and a Unix socket
	// cannot, so that a connection completing in the microseconds between
	// the last look at the queue and the close may be reset; HTTP itself
	// listens with plain TCP. A Listener whose socket cannot be reached is
	// closed at once, and drain says so in a warning when Serve starts.
	//
	// The Server's ConnState, ConnContext and BaseContext hooks see the
	// Listener and its connections as they would without drain; a handler
	// that hijacks a connection gets drain's, whose NetConn method returns
	// the Listener's (as a *tls.Conn's does).
	Listener net.Listener

	// CertFile and KeyFile, if set, make the server speak TLS with the
	// certificate and key in these files, as [net/http.Server.ServeTLS]
	// does. The server also speaks TLS without them if Server.TLSConfig
	// has a certificate. With TLS, HTTP/2 is negotiated unless the Server
	// disables it.
	CertFile, KeyFile string

	// IdleGrace is how long a connection must have been quiet (new or
	// between requests, nothing received) before a draining server closes
	// it. A keep-alive client that sends its next request within this time
	// is answered with "Connection: close" instead of seeing the socket
	// closed under its request, which is how net/http's Shutdown loses one
	// request per busy connection. It also bounds how long an idle
	// connection can hold the drain. Defaults to [DefaultIdleGrace]; a
	// connection that has already been quiet this long when the drain
	// begins is closed at once.
	//
	// A connection whose client has begun to send a request is not quiet:
	// HeaderGrace applies to it.
	IdleGrace time.Duration

	// HeaderGrace is how long, during the drain, a request header that
	// has begun to arrive may take to arrive in full, counted from its
	// first byte or from the start of the drain, whichever is later. A
	// request whose header is complete is served to the end, however
	// long its body or its handler takes; one whose header is still
	// incomplete then (a client that stalled half-way, or trickles a byte
	// at a time) was never accepted, and its connection is closed. A
	// normal client sends its header at once, so only a client that
	// stalls is cut; without this bound it would hold the drain until the
	// Server's ReadHeaderTimeout, or until the shutdown is forced. On a
	// new TLS connection the handshake counts as part of the header.
	// Defaults to 500ms.
	HeaderGrace time.Duration

	// RetryAfter, if set, makes the drain keep the listener open while
	// the requests in flight finish, and answer new requests with
	// RetryAfter.Status (503) and Retry-After instead of refusing them.
	// See [RetryAfter].
	RetryAfter *RetryAfter

	// Logger receives the server's own logs: where it serves, and the
	// requests still running when a shutdown is forced. Defaults to the
	// Group's logger, or to [slog.Default].
	Logger *slog.Logger

	mu         sync.Mutex
	state      httpState
	inherited  groupLogger
	t          *tracker
	ln         *listener
	cancelBase context.CancelCauseFunc // cancels every request's context
	stopc      chan struct{}           // closed to force the drain loop
	done       chan struct{}           // closed when nothing is left open
	forced     bool
	forcedReqs int           // requests running when the drain was forced
	forcedConn int           // connections closed by force
	prepared   bool          // PrepareShutdown was called
	handOff    bool          // HandOff was called
	notAccept  chan struct{} // closed when the listener closes; see NotAccepting
}

type httpState int

const (
	httpNew      httpState = iota
	httpServing            // Serve has started
	httpDraining           // Shutdown or Close has started a drain
	httpForcing            // Close has been called during the drain
	httpDone               // nothing is open; done is closed
)

// String returns the server's name: Name, or the address it serves on.
func (h *HTTP) String() string {
	switch {
	case h == nil:
		return "<nil>"
	case h.Name != "":
		return h.Name
	case h.Listener != nil:
		if addr := h.Listener.Addr(); addr != nil {
			return addr.String()
		}
		return fmt.Sprintf("%T", h.Listener)
	case h.Server != nil && h.Server.Addr != "":
		return h.Server.Addr
	case h.useTLS():
		return ":https"
	}
	return ":http"
}

func (h *HTTP) validate() error {
	var errs []error
	if h.Server == nil {
		errs = append(errs, errors.New("Server is nil"))
	} else if h.Server.Handler == nil {
		errs = append(errs, errors.New("Server.Handler is nil (to serve http.DefaultServeMux, set it explicitly)"))
	}
	if h.Listener != nil && h.Listener.Addr() == nil {
		errs = append(errs, fmt.Errorf("the Listener (%T) has a nil Addr", h.Listener))
	}
	if h.IdleGrace < 0 {
		errs = append(errs, fmt.Errorf("negative IdleGrace %v", h.IdleGrace))
	}
	if h.HeaderGrace < 0 {
		errs = append(errs, fmt.Errorf("negative HeaderGrace %v", h.HeaderGrace))
	}
	if (h.CertFile == "") != (h.KeyFile == "") {
		errs = append(errs, errors.New("CertFile and KeyFile must be set together"))
	}
	if h.RetryAfter != nil {
		errs = append(errs, h.RetryAfter.validate())
	}
	return errors.Join(errs...)
}

func (h *HTTP) useTLS() bool {
	if h.CertFile != "" {
		return true
	}
	if h.Server == nil || h.Server.TLSConfig == nil {
		return false
	}
	c := h.Server.TLSConfig
	return len(c.Certificates) > 0 || c.GetCertificate != nil || c.GetConfigForClient != nil
}

// Init checks the configuration, and makes the server log through log
// unless Logger is set. A [Group] calls it before it serves (see
// [Initializer]); Serve checks the configuration again.
func (h *HTTP) Init(log *slog.Logger) error {
	h.inherited.set(log)
	return h.validate()
}

func (h *HTTP) logger() *slog.Logger { return h.inherited.or(h.Logger) }

// Serve listens, unless a Listener is set, and serves until Shutdown or
// Close. It returns nil after they have finished (see [Server]), or an
// error if it could not listen or serve.
func (h *HTTP) Serve() error {
	ln, err := h.start()
	if ln == nil || err != nil {
		return err
	}
	log := h.logger()
	log.Info("drain: serving", "server", h.String(), "addr", ln.Addr().String(), "tls", ln.tls)
	if ln.sock == nil {
		log.Warn("drain: the Listener hides its socket: connections waiting in the kernel's accept queue when it stops may be reset; see HTTP.Listener",
			"server", h.String(), "listener", fmt.Sprintf("%T", ln.Listener))
	}
	if ln.tls {
		err = h.Server.ServeTLS(ln, h.CertFile, h.KeyFile)
	} else {
		err = h.Server.Serve(ln)
	}
	if ln.stopping.Load() {
		<-h.done // written before stopping was set
		return nil
	}
	ln.Close()
	return fmt.Errorf("serve: %w", err)
}

// start checks the configuration, listens and installs the tracking. It
// returns a nil listener if the server was shut down before it started.
func (h *HTTP) start() (*listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case httpNew:
	case httpServing, httpDraining, httpForcing:
		return nil, errors.New("drain: HTTP.Serve called twice")
	default: // shut down before it started: Serve owns the Listener all the same
		if h.Listener != nil {
			h.Listener.Close()
		}
		return nil, nil
	}
	fail := func(err error) (*listener, error) {
		if h.Listener != nil {
			h.Listener.Close() // Serve owns it, as net/http's Serve does
		}
		h.finish()
		return nil, err
	}
	if err := h.validate(); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	srv := h.Server
	inner := h.Listener
	useTLS := h.useTLS()
	if h.CertFile != "" {
		// Fail before listening, as ServeTLS would only after.
		if _, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile); err != nil {
			return fail(fmt.Errorf("load TLS certificate: %w", err))
		}
	}
	if inner == nil {
		addr := srv.Addr
		if addr == "" {
			addr = ":http"
			if useTLS {
				addr = ":https"
			}
		}
		// Plain TCP, not MPTCP (Go's default on Linux kernels that have
		// it): only a plain TCP socket can keep new connections out while
		// its queue is flushed (see listener.stop).
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		var err error
		if inner, err = lc.Listen(context.Background(), "tcp", addr); err != nil {
			return fail(err)
		}
	}

	h2c := !useTLS && srv.Protocols != nil && srv.Protocols.UnencryptedHTTP2()
	t := newTracker(cmp.Or(h.IdleGrace, DefaultIdleGrace), cmp.Or(h.HeaderGrace, defaultHeaderGrace), h2c)
	h.t = t
	if h.prepared {
		h.respond(closing)
	}
	h.ln = newListener(inner, t, useTLS, h.notAcceptingLocked())
	h.stopc = make(chan struct{})
	h.done = make(chan struct{})
	h.state = httpServing

	srv.Handler = &handler{t: t, next: srv.Handler, retry: h.RetryAfter}
	// The Server's own hooks see what they would without drain: the
	// Listener, and the connections it hands out (or the *tls.Conn around
	// one).
	if userState := srv.ConnState; userState != nil {
		srv.ConnState = func(nc net.Conn, st http.ConnState) {
			t.connState(nc, st)
			userState(userConn(nc), st)
		}
	} else {
		srv.ConnState = t.connState
	}
	userBase := srv.BaseContext
	srv.BaseContext = func(net.Listener) context.Context {
		ctx := context.Background()
		if userBase != nil {
			if uctx := userBase(inner); uctx != nil {
				ctx = uctx
			}
		}
		ctx, cancel := context.WithCancelCause(ctx)
		h.mu.Lock()
		h.cancelBase = cancel
		h.mu.Unlock()
		return WithDraining(ctx, t.drainc)
	}
	userContext := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, nc net.Conn) context.Context {
		if userContext != nil {
			ctx = userContext(ctx, userConn(nc))
		}
		if c := connOf(nc); c != nil {
			ctx = c.withContext(ctx)
		}
		return ctx
	}
	return h.ln, nil
}

// userConn returns the connection a Server's hook would see without drain:
// the Listener's own, under drain's, or the *tls.Conn around drain's (from
// which NetConn leads to drain's, and NetConn again to the Listener's).
func userConn(nc net.Conn) net.Conn {
	if c, ok := nc.(*conn); ok {
		return c.Conn
	}
	return nc
}

// finish marks the server done. h.mu must be held.
func (h *HTTP) finish() {
	h.state = httpDone
	if h.done == nil {
		h.done = make(chan struct{})
	}
	close(h.done)
	if h.ln == nil { // never listened: nothing will close it
		close(h.notAcceptingLocked())
	}
}

// notAcceptingLocked returns the channel NotAccepting returns, making it
// if need be. h.mu must be held.
func (h *HTTP) notAcceptingLocked() chan struct{} {
	if h.notAccept == nil {
		h.notAccept = make(chan struct{})
	}
	return h.notAccept
}

// Shutdown stops accepting connections and drains the ones open, as the
// package documentation describes under "Connections", without waiting
// past ctx. Responses say "Connection: close" from the moment the listener
// has closed, so that clients reconnect to a closed port, not into its
// closing. It returns nil when the last connection has closed, [ErrForced]
// if Close forced the drain, or ctx's error.
func (h *HTTP) Shutdown(ctx context.Context) error {
	h.beginDrain()
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	select {
	case <-done:
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.forced {
			return ErrForced
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close forces the server to stop. It begins the drain if it has not
// begun, cancels the context of every request still running (with cause
// [ErrForced]), logs each of them, closes every connection, hijacked ones
// included, and returns when nothing is left open.
func (h *HTTP) Close() error {
	h.beginDrain()
	h.mu.Lock()
	force := h.state == httpDraining
	if force {
		h.state = httpForcing
		h.forced = true
		close(h.stopc)
	}
	done := h.done
	h.mu.Unlock()
	<-done
	return nil
}

// PrepareShutdown makes every response whose header is written from now
// on carry "Connection: close", while the server goes on serving: keep-alive
// clients reconnect, through their load balancer, to another instance. A
// [Group] with a ShutdownDelay calls it when its shutdown begins. If Serve
// has not started yet, it applies once it does. When the drain begins,
// responses stop saying it for the moment the listener takes to close
// (see [HTTP.Shutdown]).
func (h *HTTP) PrepareShutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prepared = true
	if h.t != nil {
		h.respond(closing)
	}
}

// HandOff makes the drain leave the listening socket to another process
// that shares it, as a zero-downtime restart hands a socket to a new
// binary: when the drain begins, the server stops accepting and closes its
// own descriptor of the socket at once, without taking the connections
// waiting in the kernel's accept queue and without keeping new ones out,
// so that the other process accepts them. The drain then goes on as
// usual. Call it before Shutdown. Without another process holding the
// socket, closing it resets what is queued, as with any close.
func (h *HTTP) HandOff() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handOff = true
}

// respond sets how the server answers requests (see respMode). It is the
// mode's only writer.
func (h *HTTP) respond(m respMode) { h.t.mode.Store(uint32(m)) }

// stopListener stops the listener (see listener.stop). Until no new
// connection can arrive, responses do not say "Connection: close", even
// after PrepareShutdown, and requests are not rejected: a client told to
// reconnect now would race the close. Once it has stopped, the drain
// proper begins and says it again.
func (h *HTTP) stopListener(handOff bool) {
	h.respond(keepAlive)
	h.ln.stop(handOff)
}

// NotAccepting returns a channel that is closed once the server has
// stopped accepting connections: when its listener closes, after the
// drain has begun (and, with RetryAfter, after the requests in flight
// have finished), or when it stops without ever having listened.
func (h *HTTP) NotAccepting() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notAcceptingLocked()
}

// beginDrain starts the drain once.
func (h *HTTP) beginDrain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case httpNew:
		h.finish() // never served: nothing to drain
		if h.Server != nil {
			runShutdownHooks(h.Server)
		}
		return
	case httpServing:
	default:
		return
	}
	h.state = httpDraining
	if h.RetryAfter == nil {
		h.stopListener(h.handOff)
	}
	go h.drainLoop(h.handOff) // owned: Close and Serve wait for done
}

// drainLoop closes quiet connections until none is left, or until Close
// forces it. It runs net/http's own Shutdown once no HTTP/1 connection is
// left: that sends GOAWAY to HTTP/2 connections and runs the functions
// registered with RegisterOnShutdown, and it can no longer close an idle
// HTTP/1 connection under a client or drop a request that arrives on one.
func (h *HTTP) drainLoop(handOff bool) {
	t := h.t
	sctx, cancelShutdown := context.WithCancel(context.Background())
	defer cancelShutdown()
	var shutdownDone chan struct{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	settleTimer := time.NewTimer(time.Hour) // see listener.settle
	settleTimer.Stop()
	defer settleTimer.Stop()
	forced := false
	if h.RetryAfter != nil {
		forced = h.rejectUntilIdle()
		h.stopListener(handOff)
	}
	// The drain proper begins once no new connection can arrive: see
	// listener.
	if !forced {
		select {
		case <-h.ln.stopped:
		case <-h.stopc:
			forced = true
		}
	}
	h.respond(closing)
	t.startDrain()   // even when forced, so that Draining channels close
	quietDue := true // closeQuiet has work: new candidates, or the timer fired
loop:
	for !forced {
		if quietDue {
			if next := t.closeQuiet(); next > 0 {
				timer.Reset(next)
			} else {
				timer.Stop()
			}
		}
		// net/http's Shutdown drops the request of any connection that
		// comes out of the listener after it began: it waits for the
		// listener to be done. Read first: a connection accepted until then
		// is in the counts.
		lnClosed := h.ln.isDone()
		conns, http1 := t.counts()
		if http1 == 0 && lnClosed && shutdownDone == nil {
			shutdownDone = make(chan struct{})
			go func() {
				defer close(shutdownDone)
				t.goingAway() // first: see goingAway
				h.Server.Shutdown(sctx)
			}()
		}
		if !lnClosed && h.ln.stopping.Load() {
			// It wakes this loop if it closes; otherwise, look again.
			if retry := h.ln.settle(conns == 0); retry > 0 {
				settleTimer.Reset(retry)
			}
		}
		if conns == 0 && lnClosed {
			break
		}
		select {
		case <-t.wakec: // a connection closed, changed, or turned idle
			quietDue = t.hasFresh()
		case <-timer.C:
			quietDue = true
		case <-settleTimer.C:
		case <-h.stopc:
			forced = true
			break loop
		}
	}
	if forced {
		h.ln.closeNow() // before net/http's Shutdown, which waits for it
		if shutdownDone == nil {
			runShutdownHooks(h.Server) // forced before net/http's Shutdown could run
		}
		h.force()
	}
	if shutdownDone != nil {
		// net/http's Shutdown polls for connections that are already
		// closed; nothing is left to wait for.
		cancelShutdown()
		<-shutdownDone
	}
	h.mu.Lock()
	h.finish()
	h.mu.Unlock()
}

// runShutdownHooks runs srv's Shutdown out of time at once, for what it
// does first: it runs the functions registered with RegisterOnShutdown,
// which users expect at every shutdown, as net/http runs them even before
// Serve. The drain calls the Shutdown proper once no HTTP/1 connection is
// left (see drainLoop); this is for the shutdowns that never get there.
func runShutdownHooks(srv *http.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Shutdown(ctx)
}

// rejectUntilIdle answers new requests with RetryAfter.Status until no
// request is in flight, or until Close forces the drain, which it
// reports. Handlers learn of the drain at once, so that long-lived
// requests end.
func (h *HTTP) rejectUntilIdle() (forced bool) {
	h.respond(rejecting)
	h.t.announce()
	// A request that slipped past the check is served, and then drained
	// as usual.
	return !h.t.await(func(s Stats) bool { return s.Requests == 0 }, h.stopc)
}

// force logs the requests still running, cancels their contexts, gives
// their handlers a moment to answer (a 503 rather than a reset), and closes
// every connection.
func (h *HTTP) force() {
	h.ln.closeNow()
	log := h.logger()
	type running struct {
		c *conn
		r *request
	}
	var reqs []running
	h.t.snapshot(func(c *conn, r *request) { reqs = append(reqs, running{c, r}) })
	for _, x := range reqs {
		log.Warn("drain: request still running at forced close",
			"server", h.String(),
			"method", x.r.method,
			"path", x.r.path,
			"age", h.t.age(x.r.start).Round(time.Millisecond),
			"remote", x.c.RemoteAddr().String())
	}
	h.mu.Lock()
	cancelBase := h.cancelBase
	h.mu.Unlock()
	if cancelBase != nil {
		cancelBase(fmt.Errorf("%w: server %s closed", ErrForced, h))
	}
	if len(reqs) > 0 {
		h.t.awaitAnswers(cancelLinger)
	}
	stats := h.t.snapshot(nil)
	if stats.conns() > 0 {
		log.Warn("drain: closing connections by force", "server", h.String(), "conns", connsValue(stats))
	}
	h.mu.Lock()
	h.forcedReqs += len(reqs)
	h.forcedConn += stats.conns()
	h.mu.Unlock()
	h.t.closeAll()
	h.Server.Close()
}

// cancelLinger is how long a forced server waits, after cancelling the
// requests still running, for their handlers to return.
const cancelLinger = 50 * time.Millisecond

// Stats returns what the server holds open now, and what a forced
// shutdown cut (see [StatsReporter]).
func (h *HTTP) Stats() Stats {
	h.mu.Lock()
	t, reqs, conns := h.t, h.forcedReqs, h.forcedConn
	h.mu.Unlock()
	var s Stats
	if t != nil {
		var oldest *request
		s = t.snapshot(func(_ *conn, r *request) {
			if oldest == nil || r.start < oldest.start {
				oldest = r
			}
		})
		if oldest != nil {
			s.Oldest, s.OldestAge = oldest.method+" "+oldest.path, t.age(oldest.start)
		}
	}
	s.ForcedRequests, s.ForcedConns = reqs, conns
	return s
}
