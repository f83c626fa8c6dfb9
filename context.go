package drain

import "context"

type drainingKey struct{}

// Draining returns a channel that is closed when the server that received
// the request behind ctx begins to drain. Handlers that hold a request open
// for long (long polls, server-sent events, WebSockets and other hijacked
// connections) select on it to finish early and cleanly: send a last event,
// a WebSocket close frame with status 1001 (going away), then return.
//
//	select {
//	case msg := <-updates:
//		// send it
//	case <-drain.Draining(r.Context()):
//		// say goodbye and return
//	}
//
// The channel stays valid after the request ends, so goroutines that serve
// a hijacked connection can keep it. For a context that did not come from a
// request served by [HTTP], Draining returns nil, which is never ready.
//
// A request's context is not cancelled when the drain begins: the request
// may finish. It is cancelled, with cause [ErrForced], when the shutdown is
// forced.
func Draining(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(drainingKey{}).(<-chan struct{})
	return ch
}

func withDraining(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainingKey{}, ch)
}
