package drain

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// A Server is one part of a process that serves until it is told to stop:
// an HTTP server ([HTTP]), and in other packages a gRPC server or a
// background worker. A [Group] runs several of them and stops them together.
//
// The three methods mirror those of [net/http.Server] and follow the same
// rules:
//
//   - Serve serves until Shutdown or Close is called. It returns nil once it
//     has stopped because of them, and only after their work is done, so that
//     a caller who returns from main after Serve cannot cut a drain short. It
//     returns a non-nil error if serving could not start or failed on its
//     own (an address already in use, a missing certificate); the caller
//     must then still call Shutdown or Close to release what was accepted.
//     Serve after Shutdown or Close returns nil at once.
//   - Shutdown stops accepting new work and waits for the work in progress
//     to finish. It returns nil when everything is done, or the context's
//     error if the context ends first; the drain then goes on in the
//     background until Close is called.
//   - Close abandons the work still in progress: it cancels it, closes every
//     connection, and returns. Code that ignores its cancelled context (a
//     handler stuck in a call that takes no context) may still be running.
//
// All three may be called from any goroutine; Shutdown and Close may be
// called more than once. A Server that has stopped cannot be started again.
//
// A Server of any package takes a full part in a Group through methods it
// may also have, each found by a type assertion and each optional:
//
//   - String() string ([fmt.Stringer]) names it in logs, errors and
//     metrics; without it, a server is named by its position, "#0";
//   - Init ([Initializer]) checks its configuration and takes the group's
//     logger, before anything starts;
//   - Stats ([StatsReporter]) tells what it holds open, for the logs of a
//     shutdown and for metrics;
//   - PrepareShutdown ([ShutdownPreparer]) hears that the shutdown begins;
//   - NotAccepting ([AcceptingReporter]) tells when it has stopped
//     accepting new work.
//
// A Group recovers a panic in any of these methods, and in Serve, Shutdown
// and Close, as an error: one server cannot stop the shutdown of the
// others. Run calls none of them after it has returned; [Group.Stats]
// calls Stats whenever it is called.
type Server interface {
	Serve() error
	Shutdown(ctx context.Context) error
	Close() error
}

// An Initializer is a [Server] that a [Group] sets up before it serves. Run
// calls Init once on each, before it starts any, with the group's logger,
// which a server that has no logger of its own should use. An error means
// the server's configuration is wrong: Run then starts nothing, and returns
// every server's error, wrapping [ErrInvalid].
type Initializer interface {
	Server
	Init(log *slog.Logger) error
}

// A StatsReporter is a [Server] that can tell what it holds open. A [Group]
// logs its Stats when the shutdown begins and while it waits for it, and
// [Group.Stats] returns them, for metrics. Stats must be cheap and safe to
// call from any goroutine, at any time: before Serve, during it and after.
type StatsReporter interface {
	Server
	Stats() Stats
}

// A ShutdownPreparer is a [Server] that has something to do when a
// [Group]'s shutdown begins, before its Shutdown is called: during
// [Group.ShutdownDelay] it serves on, but can tell its clients to go
// elsewhere ([HTTP] answers with "Connection: close"). A Group calls
// PrepareShutdown only when it has a ShutdownDelay, and marks
// [ShutdownInitiated] once it has returned; it must not block. Shutdown
// follows when the delay is over.
type ShutdownPreparer interface {
	Server
	PrepareShutdown()
}

// A HandOffer is a [Server] whose listening sockets another process can
// take over: an [Upgrader]'s new process, or the next one, through systemd's
// file descriptor store. A Group calls HandOff before Shutdown when the
// sockets stay open beyond this process: the server must then close its
// own descriptors at once when its drain begins, without accepting what
// waits in their accept queues (the other process does) and without keeping
// new connections out, and drain as usual. [HTTP] and [Listener] are
// HandOffers, and package draingrpc's server. A Group with an Upgrader
// warns at start about each server that is not.
type HandOffer interface {
	Server
	HandOff()
}

// An AcceptingReporter is a [Server] that can tell when it has stopped
// accepting new work once Shutdown is called, for the [StoppedAccepting]
// event. The channel NotAccepting returns is closed then, or when the
// server stops serving for any reason.
type AcceptingReporter interface {
	Server
	NotAccepting() <-chan struct{}
}

// Stats is a snapshot of what a server holds open. [HTTP] fills every
// field; a [StatsReporter] of another package fills those that apply to it
// (a gRPC server: its RPCs as Requests, its connections as HTTP2).
type Stats struct {
	// Requests is the number of requests (or RPCs, or jobs) in progress.
	Requests int
	// Streams counts those of them that are streams: gRPC streaming
	// RPCs, which last until they end themselves (see [Draining]).
	Streams int
	// Oldest names the oldest of them for the logs ("GET /slow", "job"),
	// and OldestAge is how long it has run. Empty and 0 if none is in
	// progress.
	Oldest    string
	OldestAge time.Duration
	// New, Active, Idle and Hijacked count the connections in each
	// state: connected with no request yet, serving a request, between
	// requests (keep-alive), and taken over by a handler.
	New, Active, Idle, Hijacked int
	// HTTP2 counts the connections above that speak HTTP/2.
	HTTP2 int

	// ForcedRequests counts the requests that were still running when
	// the shutdown was forced: cut by the hard bound. ForcedConns counts
	// the connections closed by force then.
	ForcedRequests, ForcedConns int
}

// conns returns the number of connections open.
func (s Stats) conns() int { return s.New + s.Active + s.Idle + s.Hijacked }

// logValue describes what a server holds open, for the logs of a
// shutdown: requests in progress, the oldest of them, and connections by
// state.
func (s Stats) logValue() slog.Value {
	attrs := []slog.Attr{slog.Int("requests", s.Requests)}
	if s.Streams > 0 {
		attrs = append(attrs, slog.Int("streams", s.Streams))
	}
	if s.Oldest != "" {
		attrs = append(attrs, slog.String("oldest", fmt.Sprintf("%s (%v)", s.Oldest, s.OldestAge.Round(time.Millisecond))))
	}
	attrs = append(attrs, slog.Any("conns", connsValue(s)))
	return slog.GroupValue(attrs...)
}

// connsValue describes connections by state, leaving out the states no
// connection is in.
func connsValue(s Stats) slog.Value {
	var attrs []slog.Attr
	for _, c := range []struct {
		name string
		n    int
	}{{"new", s.New}, {"active", s.Active}, {"idle", s.Idle}, {"hijacked", s.Hijacked}, {"http2", s.HTTP2}} {
		if c.n > 0 {
			attrs = append(attrs, slog.Int(c.name, c.n))
		}
	}
	if len(attrs) == 0 {
		return slog.IntValue(0)
	}
	return slog.GroupValue(attrs...)
}

// A groupLogger is the logger a server of this package takes from its
// group through Init, for when it has none of its own.
type groupLogger struct{ l atomic.Pointer[slog.Logger] }

func (g *groupLogger) set(l *slog.Logger) { g.l.Store(l) }

// or returns own if set, else the group's logger, else slog.Default.
func (g *groupLogger) or(own *slog.Logger) *slog.Logger {
	if own != nil {
		return own
	}
	if l := g.l.Load(); l != nil {
		return l
	}
	return slog.Default()
}
