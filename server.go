package drain

import "context"

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
type Server interface {
	Serve() error
	Shutdown(ctx context.Context) error
	Close() error
}

// A ShutdownPreparer is a [Server] that has something to do when a
// [Group]'s shutdown begins, before its Shutdown is called: during
// [Group.ShutdownDelay] it serves on, but can tell its clients to go
// elsewhere ([HTTP] answers with "Connection: close"). PrepareShutdown
// must not block; Shutdown may follow at once.
type ShutdownPreparer interface {
	Server
	PrepareShutdown()
}

// An AcceptingReporter is a [Server] that can tell when it has stopped
// accepting new work once Shutdown is called, for the [StoppedAccepting]
// event. The channel NotAccepting returns is closed then, or when the
// server stops serving for any reason.
type AcceptingReporter interface {
	Server
	NotAccepting() <-chan struct{}
}
