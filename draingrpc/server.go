package draingrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drain-go/drain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// healthWatch is the full name of the health service's streaming method,
// whose streams the drain ends.
const healthWatch = "/grpc.health.v1.Health/Watch"

// Server serves a [grpc.Server] as a member of a [drain.Group]. Make it with
// [NewServer], register the services on its GRPC field, set Addr or
// Listener, and add it to the group:
//
//	s := draingrpc.NewServer()
//	pb.RegisterGreeterServer(s.GRPC, greeter{})
//	s.Addr = ":9090"
//	g.Add(s)
//
// When the group's shutdown begins, the standard health service
// (grpc.health.v1) reports NOT_SERVING for every service, so that
// Kubernetes' gRPC probes and clients that check health stop sending; the
// server serves on through [drain.Group.ShutdownDelay]. Then the drain:
// handlers learn of it from [drain.Draining] on their context (an endless
// stream should end with codes.Unavailable, which clients retry), health
// Watch streams end with codes.Unavailable after their NOT_SERVING, and
// the server stops as [grpc.Server.GracefulStop] does: GOAWAY, the RPCs in
// flight finish, and it returns the moment the last one ends. If the
// group's bound comes first, Close logs every RPC still running (method,
// age, peer) and stops the server as [grpc.Server.Stop] does, cancelling
// them.
type Server struct {
	// GRPC is the gRPC server, made by NewServer with the options that let
	// the drain follow its RPCs. Register the services on it before the
	// group runs.
	GRPC *grpc.Server

	// Name names the server in logs, errors and metrics. Defaults to the
	// address it listens on.
	Name string

	// Addr is the TCP address to listen on, if Listener is nil.
	Addr string

	// Listener, if set, is the listener to serve on. Serve takes it over
	// and closes it when it returns.
	Listener net.Listener

	// Health is the health service the drain sets to NOT_SERVING. If nil,
	// Init makes one and registers it on GRPC, unless GRPC already has a
	// health service: then set Health to it.
	Health *health.Server

	// Logger receives the server's logs. Defaults to the Group's logger,
	// or to slog.Default.
	Logger *slog.Logger

	mu         sync.Mutex
	madeByNew  bool
	inherited  *slog.Logger
	state      state
	drainc     chan struct{} // closed when the drain begins
	stopped    chan struct{} // closed when GracefulStop or Stop has returned
	notAccept  chan struct{} // closed when the listener closes
	ln         *drain.Listener
	silent     silentSet          // the connections whose handshake has not completed
	cancelStop context.CancelFunc // ends the listener's Stop: Close forces
	forced     bool
	handOff    bool // HandOff was called
	rpcs       map[*rpc]struct{}
	conns      int
	forcedRPCs int
	forcedConn int
}

type state int

const (
	stateNew state = iota
	stateServing
	stateDraining
	stateDone
)

// An rpc is an RPC in progress, for the stats and the logs of a forced stop.
type rpc struct {
	method string
	peer   net.Addr // named only in the logs of a forced stop
	start  time.Time
	stream bool
}

// NewServer makes a Server whose GRPC field is a new [grpc.Server] with
// opt, and the interceptors and stats handler through which the drain
// follows its RPCs and connections and tells handlers that it began. Other
// interceptors (grpc.ChainUnaryInterceptor, grpc.ChainStreamInterceptor)
// run inside the drain's.
func NewServer(opt ...grpc.ServerOption) *Server {
	s := &Server{
		madeByNew: true,
		drainc:    make(chan struct{}),
		stopped:   make(chan struct{}),
		notAccept: make(chan struct{}),
		rpcs:      make(map[*rpc]struct{}),
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
		grpc.StatsHandler(connCounter{s}),
	}
	s.GRPC = grpc.NewServer(append(opts, opt...)...)
	return s
}

var (
	_ drain.Initializer       = (*Server)(nil)
	_ drain.StatsReporter     = (*Server)(nil)
	_ drain.ShutdownPreparer  = (*Server)(nil)
	_ drain.AcceptingReporter = (*Server)(nil)
)

// String returns the server's name: Name, or the address it serves on.
func (s *Server) String() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Listener != nil && s.Listener.Addr() != nil:
		return s.Listener.Addr().String()
	case s.Addr != "":
		return s.Addr
	}
	return "grpc"
}

// Init checks the configuration, registers the health service if need
// be, and makes the server log through log unless Logger is set. A
// [drain.Group] calls it before it serves; Serve calls it too.
func (s *Server) Init(log *slog.Logger) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if log != nil {
		s.inherited = log
	}
	return s.initLocked()
}

func (s *Server) initLocked() error {
	var errs []error
	switch {
	case s.GRPC == nil || !s.madeByNew:
		errs = append(errs, errors.New("make the Server with draingrpc.NewServer, which installs what the drain needs on GRPC"))
	case s.Health == nil:
		if _, ok := s.GRPC.GetServiceInfo()[healthpb.Health_ServiceDesc.ServiceName]; ok {
			errs = append(errs, errors.New("GRPC has a health service: set Health to it, so that the drain can report NOT_SERVING"))
			break
		}
		s.Health = health.NewServer()
		healthpb.RegisterHealthServer(s.GRPC, s.Health)
	}
	if s.Listener == nil && s.Addr == "" {
		errs = append(errs, errors.New("neither Addr nor Listener is set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", drain.ErrInvalid, err)
	}
	return nil
}

func (s *Server) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.Logger != nil:
		return s.Logger
	case s.inherited != nil:
		return s.inherited
	}
	return slog.Default()
}

// Serve listens, unless a Listener is set, and serves until Shutdown or
// Close. It returns nil after they have finished, or an error if it could
// not listen or serve (see [drain.Server]).
func (s *Server) Serve() error {
	ln, err := s.start()
	if ln == nil || err != nil {
		return err
	}
	log := s.logger()
	log.Info("drain: serving", "server", s.String(), "addr", ln.Addr().String(), "protocol", "grpc")
	if !ln.CanFlush() {
		log.Warn("drain: the Listener hides its socket: connections waiting in the kernel's accept queue when it stops may be reset; see drain.Listener",
			"server", s.String(), "listener", fmt.Sprintf("%T", ln.Unwrap()))
	}
	err = s.GRPC.Serve(trackedListener{ln, &s.silent})
	s.mu.Lock()
	draining := s.state >= stateDraining
	s.mu.Unlock()
	if draining {
		<-s.stopped
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// start checks the configuration and listens. It returns a nil listener
// if the server was shut down before it started.
func (s *Server) start() (*drain.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateNew:
	case stateServing:
		return nil, errors.New("draingrpc: Serve called twice")
	default:
		if s.Listener != nil {
			s.Listener.Close()
		}
		return nil, nil
	}
	if err := s.initLocked(); err != nil {
		if s.Listener != nil {
			s.Listener.Close()
		}
		return nil, err
	}
	ln := s.Listener
	if ln == nil {
		// Plain TCP, not Multipath TCP: see drain.NewListener.
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		var err error
		if ln, err = lc.Listen(context.Background(), "tcp", s.Addr); err != nil {
			return nil, err
		}
	}
	s.ln = drain.NewListener(ln)
	s.state = stateServing
	return s.ln, nil
}

// PrepareShutdown makes the health service report NOT_SERVING for every
// service, while the server goes on serving. A [drain.Group] with a
// ShutdownDelay calls it when its shutdown begins; without one, Shutdown
// does it.
func (s *Server) PrepareShutdown() {
	s.mu.Lock()
	h := s.Health
	s.mu.Unlock()
	if h != nil {
		h.Shutdown()
	}
}

// HandOff makes the drain leave the listening socket to another process
// that shares it, as a zero-downtime restart hands it to a new binary
// (see [drain.HandOffer]): the server stops accepting at once, leaving what
// waits in the accept queue to the other process, and drains as usual. Call
// it before Shutdown.
func (s *Server) HandOff() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handOff = true
}

// NotAccepting returns a channel that is closed once the server has
// stopped accepting connections.
func (s *Server) NotAccepting() <-chan struct{} { return s.notAccept }

// Shutdown drains the server: the health service reports NOT_SERVING,
// handlers see [drain.Draining], health Watch streams end, and the server
// stops as [grpc.Server.GracefulStop] does, without waiting past ctx. It
// returns nil once the last RPC has ended and the connections are closed,
// [drain.ErrForced] if Close forced the stop, or ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginDrain()
	select {
	case <-s.stopped:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.forced {
			return drain.ErrForced
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the server at once, as [grpc.Server.Stop] does: it logs
// every RPC still running, closes every connection and cancels the RPCs'
// contexts. It returns once the server has stopped.
func (s *Server) Close() error {
	s.beginDrain()
	s.mu.Lock()
	first := !s.forced && s.state != stateDone
	s.forced = true
	if s.cancelStop != nil {
		s.cancelStop() // closes the listener at once
	}
	running := make([]*rpc, 0, len(s.rpcs))
	for r := range s.rpcs {
		running = append(running, r)
	}
	conns := s.conns
	s.mu.Unlock()
	if first {
		log := s.logger()
		for _, r := range running {
			log.Warn("drain: RPC still running at forced stop",
				"server", s.String(), "method", r.method, "age", time.Since(r.start).Round(time.Millisecond), "peer", r.peer)
		}
		s.mu.Lock()
		s.forcedRPCs += len(running)
		s.forcedConn += conns
		s.mu.Unlock()
	}
	s.GRPC.Stop()
	<-s.stopped
	return nil
}

// beginDrain starts the drain once.
func (s *Server) beginDrain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateNew:
		s.state = stateDone
		close(s.drainc)
		close(s.stopped)
		close(s.notAccept)
		if s.Listener != nil {
			s.Listener.Close()
		}
		return
	case stateServing:
	default:
		return
	}
	s.state = stateDraining
	handOff := s.handOff
	if s.Health != nil {
		s.Health.Shutdown()
	}
	close(s.drainc)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelStop = cancel
	go func() { // owned: Shutdown, Close and Serve wait for stopped
		// First the connections queued in the kernel are accepted:
		// GracefulStop closes the listener, which would reset them, and
		// closes at once any connection accepted after it began.
		if handOff {
			s.ln.HandOff()
		}
		s.ln.Stop(ctx)
		cancel()
		close(s.notAccept)
		// Then the connections that have sent nothing are closed: they
		// would hold GracefulStop before its first GOAWAY (silent.go).
		if n := s.silent.closeSilent(); n > 0 {
			s.logger().Info("drain: closed connections that had sent nothing", "server", s.String(), "conns", n)
		}
		s.GRPC.GracefulStop()
		s.mu.Lock()
		s.state = stateDone
		s.mu.Unlock()
		close(s.stopped)
	}()
}

// Stats returns what the server holds open: its RPCs in flight as
// Requests, the streaming ones among them as Streams, the oldest of them,
// its connections as HTTP2, and what a forced stop cut.
func (s *Server) Stats() drain.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := drain.Stats{Requests: len(s.rpcs), HTTP2: s.conns, ForcedRequests: s.forcedRPCs, ForcedConns: s.forcedConn}
	var oldest *rpc
	for r := range s.rpcs {
		if r.stream {
			st.Streams++
		}
		if oldest == nil || r.start.Before(oldest.start) {
			oldest = r
		}
	}
	if oldest != nil {
		st.Oldest, st.OldestAge = oldest.method, time.Since(oldest.start)
	}
	return st
}

// track records an RPC until the returned function is called.
func (s *Server) track(ctx context.Context, method string, stream bool) (done func()) {
	r := &rpc{method: method, start: time.Now(), stream: stream}
	if p, ok := peer.FromContext(ctx); ok {
		r.peer = p.Addr
	}
	s.mu.Lock()
	s.rpcs[r] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.rpcs, r)
		s.mu.Unlock()
	}
}

func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	defer s.track(ctx, info.FullMethod, false)()
	return handler(drain.WithDraining(ctx, s.drainc), req)
}

func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	defer s.track(ss.Context(), info.FullMethod, true)()
	ctx := drain.WithDraining(ss.Context(), s.drainc)
	if info.FullMethod != healthWatch {
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
	// A health Watch stream lasts as long as its client: it ends when the
	// drain begins, once it has sent the NOT_SERVING the health service
	// reports then, with a status the client retries, elsewhere.
	ctx, cancel := context.WithCancel(ctx)
	w := &watchStream{serverStream: serverStream{ServerStream: ss, ctx: ctx}, sent: make(chan struct{}, 1)}
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() { // owned: waited for below
		defer close(ended)
		select {
		case <-s.drainc:
		case <-stop:
			return
		}
		for w.serving.Load() {
			select {
			case <-w.sent:
			case <-stop:
				return
			}
		}
		cancel()
	}()
	err := handler(srv, w)
	close(stop)
	<-ended
	cancel()
	if isClosed(s.drainc) && status.Code(err) == codes.Canceled && ss.Context().Err() == nil {
		return status.Error(codes.Unavailable, "draingrpc: server shutting down")
	}
	return err
}

// A watchStream is a health Watch stream that tells whether the last
// status it sent was SERVING.
type watchStream struct {
	serverStream
	serving atomic.Bool
	sent    chan struct{} // capacity 1: a status was sent
}

func (w *watchStream) SendMsg(m any) error {
	err := w.ServerStream.SendMsg(m)
	if r, ok := m.(*healthpb.HealthCheckResponse); ok {
		w.serving.Store(r.GetStatus() == healthpb.HealthCheckResponse_SERVING)
	}
	select {
	case w.sent <- struct{}{}:
	default:
	}
	return err
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A serverStream gives a stream handler the context that carries the
// drain.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// A connCounter counts the server's connections.
type connCounter struct{ s *Server }

func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}

// TagConn is called once a connection's handshake has completed.
func (c connCounter) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	c.s.silent.handshook(info.RemoteAddr)
	return ctx
}

func (c connCounter) HandleConn(_ context.Context, st stats.ConnStats) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	switch st.(type) {
	case *stats.ConnBegin:
		c.s.conns++
	case *stats.ConnEnd:
		c.s.conns--
	}
}
