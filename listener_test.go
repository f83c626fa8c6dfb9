package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/netutil"
)

// A countingListener is the wrapper users write: it embeds the listener.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// An opaqueListener keeps the listener it wraps to itself.
type opaqueListener struct{ ln net.Listener }

func (l opaqueListener) Accept() (net.Conn, error) { return l.ln.Accept() }
func (l opaqueListener) Close() error              { return l.ln.Close() }
func (l opaqueListener) Addr() net.Addr            { return l.ln.Addr() }

// An unwrapListener keeps it to itself too, but says which it is.
type unwrappingListener struct{ opaqueListener }

func (l unwrappingListener) Unwrap() net.Listener { return l.ln }

// listenTCP listens on loopback with plain TCP, or with Go's default,
// which is MPTCP where the kernel has it.
func listenTCP(t *testing.T, mptcp bool) net.Listener {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(mptcp)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestListenerSocket(t *testing.T) {
	ln := listenTCP(t, false)
	defer ln.Close()
	limited := netutil.LimitListener(ln, 1)
	for _, tc := range []struct {
		name string
		ln   net.Listener
		want bool
	}{
		{"socket", ln, true},
		{"netutil.LimitListener", limited, true},
		{"a wrapper embedding it", &countingListener{Listener: ln}, true},
		{"a wrapper of a wrapper", &countingListener{Listener: limited}, true},
		{"a PROXY-protocol-like listener with a Listener field", &struct {
			Listener net.Listener
			opaqueListener
		}{Listener: ln}, true},
		{"a wrapper with Unwrap", unwrappingListener{opaqueListener{ln}}, true},
		{"an opaque wrapper", opaqueListener{ln}, false},
		{"two listeners: ambiguous", &struct {
			A, B net.Listener
			opaqueListener
		}{A: ln, B: ln}, false},
		{"nil field", &countingListener{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := listenerSocket(tc.ln) != nil; got != tc.want {
				t.Errorf("listenerSocket(%T) found a socket: %v, want %v", tc.ln, got, tc.want)
			}
		})
	}
}

// Behind the common wrappers no connection queued in the kernel is reset
// when the server stops: here a connection limit holds ten clients in the
// queue, each with its request sent, while one slow request runs. Each is
// answered, with "Connection: close", through the wrapper.
func TestWrappedListenerQueueAnswered(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the accept queue can be seen on Linux only")
	}
	leakcheck(t)
	wrappers := []struct {
		name string
		wrap func(net.Listener) net.Listener
	}{
		{"netutil.LimitListener", func(ln net.Listener) net.Listener { return netutil.LimitListener(ln, 1) }},
		{"a counting wrapper around it", func(ln net.Listener) net.Listener {
			return &countingListener{Listener: netutil.LimitListener(ln, 1)}
		}},
	}
	for _, w := range wrappers {
		for _, mptcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/mptcp=%v", w.name, mptcp), func(t *testing.T) {
				testWrappedQueue(t, w.wrap(listenTCP(t, mptcp)))
			})
		}
	}
}

func testWrappedQueue(t *testing.T, ln net.Listener) {
	log, logs := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln, Logger: log}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	defer h.Close()
	addr := ln.Addr().String()

	slow, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slowDone := make(chan error, 1)
	go func() {
		r, err := slow.do("GET", "/slow?ms=300")
		if err == nil && (r.status != http.StatusOK || !r.close) {
			err = fmt.Errorf("%+v; want 200 with Connection: close", r)
		}
		slowDone <- err
	}()
	waitFor(t, "the slow request", func() bool { return h.Stats().Requests == 1 })

	const queued = 10
	clients := make([]*rawClient, queued)
	for i := range clients {
		c, err := dialRaw(addr) // completes in the kernel; the limit holds Accept back
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
		clients[i] = c
	}
	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()

	for i, c := range clients {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Errorf("queued connection %d: %v", i, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !resp.Close {
			t.Errorf("queued connection %d: %d, close=%v; want 200 with Connection: close", i, resp.StatusCode, resp.Close)
		}
	}
	if err := <-slowDone; err != nil {
		t.Errorf("the slow request: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("a new connection was accepted after the drain")
	}
	if strings.Contains(logs(), "hides its socket") {
		t.Errorf("warned of a hidden socket behind %T:\n%s", ln, logs())
	}
}

// A listener drain cannot see through is served all the same, and drain
// says at start, naming its type, what it cannot promise.
func TestOpaqueListenerWarned(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: opaqueListener{loopback(t)}, Logger: log}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	waitFor(t, "the warning", func() bool { return strings.Contains(logs(), "hides its socket") })
	if !strings.Contains(logs(), "listener=drain.opaqueListener") {
		t.Errorf("the warning does not name the listener's type:\n%s", logs())
	}
	if _, err := shutdown(t, h); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// On Linux, a plain TCP socket keeps new connections out from the moment
// the listener stops: a client connecting then is refused once the
// socket closes, never accepted by the kernel and then reset.
func TestStoppedListenerKeepsNewConnsOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	leakcheck(t)
	ln := listenTCP(t, false)
	defer ln.Close()
	sc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if !keepOutNew(sc) {
		t.Fatal("keepOutNew failed on a plain TCP socket")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond); err == nil {
		t.Fatal("a connection completed after keepOutNew")
	}
	if q, known := pending(sc); !known || q {
		t.Errorf("pending = %v, %v; want an empty queue, seen", q, known)
	}
	mp := listenTCP(t, true)
	defer mp.Close()
	msc, _ := mp.(*net.TCPListener).SyscallConn()
	c, err := net.Dial("tcp", mp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "the queued connection", func() bool { q, _ := pending(msc); return q })
}

// A holdingListener hands out its first connection only when released,
// as a wrapper that does work in Accept (reading a PROXY header, say)
// holds a connection the kernel has already handed out.
type holdingListener struct {
	net.Listener
	took    chan struct{} // closed once the first connection is out of the kernel
	release chan struct{}
	held    atomic.Bool
}

func (l *holdingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.held.CompareAndSwap(false, true) {
		close(l.took)
		<-l.release
	}
	return c, err
}

// A connection on its way out of Accept when the listener closes is
// served: the drain waits for the call to return before it ends and runs
// net/http's Shutdown, which would drop its request.
func TestConnInAcceptServed(t *testing.T) {
	leakcheck(t)
	ln := &holdingListener{Listener: listenTCP(t, false), took: make(chan struct{}), release: make(chan struct{})}
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln, Logger: nopLogger()}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	defer h.Close()
	c, err := dialRaw(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := make(chan error, 1)
	go func() {
		r, err := c.do("GET", "/fast")
		if err == nil && (r.status != http.StatusOK || !r.close) {
			err = fmt.Errorf("%+v; want 200 with Connection: close", r)
		}
		answered <- err
	}()
	<-ln.took

	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()
	<-h.NotAccepting() // the listener has closed: nothing is queued, nothing open
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a connection still in Accept", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(ln.release)
	if err := <-answered; err != nil {
		t.Errorf("the connection held in Accept: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// Stop lets the server accept what is queued, even if the server's own
// shutdown calls Close meanwhile, and then closes: no queued connection is
// reset, and a new one is refused.
func TestListenerStopAcceptsQueue(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the accept queue can be seen on Linux only")
	}
	leakcheck(t)
	gate := make(chan struct{})
	ln := NewListener(&gatedListener{listenTCP(t, false).(*net.TCPListener), gate})
	if !ln.CanFlush() {
		t.Fatal("CanFlush is false for a plain TCP listener under a wrapper that embeds it")
	}
	addr := ln.Addr().String()
	served := make(chan struct{})
	go func() { // the server: echoes a line on each connection
		defer close(served)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, io.LimitReader(c, 6))
			}()
		}
	}()
	const queued = 10
	clients := make([]net.Conn, queued)
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "hello\n") // sent at once, as an HTTP/2 client sends its request
		clients[i] = c
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ln.Stop(context.Background()) }()
	waitFor(t, "new connections to be kept out", func() bool {
		c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	ln.Close() // as GracefulStop does: it must not reset the queue
	close(gate)
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "hello\n" {
			t.Errorf("queued connection %d: %q, %v; want its line back", i, b, err)
		}
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	<-served
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("a new connection was accepted after Stop")
	}
}

// Stop is bounded by its context: with nobody to accept what is queued,
// it closes the listener when the context ends.
func TestListenerStopBounded(t *testing.T) {
	leakcheck(t)
	ln := NewListener(listenTCP(t, false))
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ln.Stop(ctx); runtime.GOOS == "linux" && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop: %v, want the context's deadline (a connection waits, and nobody accepts it)", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Stop: %v, want net.ErrClosed", err)
	}
	if NewListener(opaqueListener{loopback(t)}).CanFlush() {
		t.Error("CanFlush is true for a listener that hides its socket")
	}
}
