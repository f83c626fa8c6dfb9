package drain

import (
	"context"
	"net/http"
	"reflect"
)

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
// request served by [HTTP], or from a server that uses [WithDraining],
// Draining returns nil, which is never ready.
//
// A framework's own context works too when it carries the request: gin's
// *gin.Context (whose Value does not reach the request's context unless
// the engine's ContextWithFallback is set), or any context.Context with a
// Request() *http.Request method. Others, such as echo's Context, are not a
// context.Context: pass c.Request().Context().
//
// A request's context is not cancelled when the drain begins: the request
// may finish. It is cancelled, with cause [ErrForced], when the shutdown is
// forced.
func Draining(ctx context.Context) <-chan struct{} {
	if ch, ok := ctx.Value(drainingKey{}).(<-chan struct{}); ok {
		return ch
	}
	if r := requestOf(ctx); r != nil {
		ch, _ := r.Context().Value(drainingKey{}).(<-chan struct{})
		return ch
	}
	return nil
}

// WithDraining returns a copy of ctx for which [Draining] returns ch. It
// is how a [Server] of another package (a gRPC server, a worker) tells the
// code it runs that its drain began: it closes ch then, and passes the
// context to each request, RPC or job, so that handlers written for any of
// them select on [Draining] alike.
func WithDraining(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainingKey{}, ch)
}

// requestOf returns the request that a framework's context carries: from
// a Request() *http.Request method, or an exported Request field of that
// type, as gin's Context has. It returns nil for any other context.
func requestOf(ctx context.Context) *http.Request {
	if rc, ok := ctx.(interface{ Request() *http.Request }); ok {
		return rc.Request()
	}
	v := reflect.ValueOf(ctx)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f, ok := v.Elem().Type().FieldByName("Request")
	if !ok || !f.IsExported() || len(f.Index) != 1 || f.Type != reflect.TypeFor[*http.Request]() {
		return nil
	}
	r, _ := v.Elem().Field(f.Index[0]).Interface().(*http.Request)
	return r
}
