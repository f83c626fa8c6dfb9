package drain

import (
	"net"
	"reflect"
	"syscall"
)

// listenerSocket and connSocket return the socket under a listener or a
// connection: the listener or connection itself if it gives access to its
// file descriptor (as *net.TCPListener and *net.TCPConn do), or the socket
// under what it wraps. A wrapper is seen through if it has a method that
// returns what it wraps, Unwrap() net.Listener for a listener, NetConn()
// net.Conn for a connection (as *tls.Conn has), or if it keeps it in an
// exported field of that interface type, as wrappers that embed it do
// (netutil.LimitListener and its connections, go-proxyproto's Listener).
// They return nil if there is no such socket, or no way to reach it.
//
// drain reaches the socket to see what waits in it (the accept queue, the
// bytes of a request not yet read), to keep new connections out of a
// listener, and to half-close a connection; it accepts, reads and writes
// through the wrappers all the same.
func listenerSocket(ln net.Listener) syscall.Conn {
	return socketOf(ln, func(v any) any {
		if u, ok := v.(interface{ Unwrap() net.Listener }); ok {
			return u.Unwrap()
		}
		return fieldOf(v, reflect.TypeFor[net.Listener]())
	})
}

// leftToOthers reports whether the socket under ln outlives this process,
// shared with the next one (see [Upgrader]): stopping, the listener then
// leaves it, and what waits in its accept queue, to that process.
func leftToOthers(ln net.Listener) bool {
	ul := upgradeListenerOf(ln)
	return ul != nil && ul.leftToOthers()
}

// upgradeListenerOf returns the listener of an Upgrader under ln, seen
// through wrappers as listenerSocket sees through them, or nil.
func upgradeListenerOf(ln net.Listener) *upgradeListener {
	var v any = ln
	for range 16 {
		switch w := v.(type) {
		case nil:
			return nil
		case *upgradeListener:
			return w
		case interface{ Unwrap() net.Listener }:
			v = w.Unwrap()
		default:
			v = fieldOf(v, reflect.TypeFor[net.Listener]())
		}
	}
	return nil
}

func connSocket(nc net.Conn) syscall.Conn {
	return socketOf(nc, func(v any) any {
		if u, ok := v.(interface{ NetConn() net.Conn }); ok {
			return u.NetConn()
		}
		return fieldOf(v, reflect.TypeFor[net.Conn]())
	})
}

func socketOf(v any, unwrap func(any) any) syscall.Conn {
	for range 16 { // wrappers of wrappers, and no cycle
		if v == nil {
			return nil
		}
		if s, ok := v.(syscall.Conn); ok {
			return s
		}
		v = unwrap(v)
	}
	return nil
}

// fieldOf returns the value of the one exported field of v (a struct, or a
// pointer to one) whose type is want, or nil if there is none, or more
// than one: which one is used is not for drain to guess.
func fieldOf(v any, want reflect.Type) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	var inner any
	for i := range rv.NumField() {
		if f := rv.Type().Field(i); !f.IsExported() || f.Type != want {
			continue
		}
		if inner != nil {
			return nil
		}
		if inner = rv.Field(i).Interface(); inner == nil {
			return nil
		}
	}
	return inner
}
