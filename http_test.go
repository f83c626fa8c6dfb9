package drain

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestActiveRequestFinishesWithConnectionClose(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log}
	addr, served := startHTTP(t, h)

	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type answer struct {
		resp rawResponse
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := c.do("GET", "/slow?ms=300")
		answered <- answer{resp, err}
	}()
	waitFor(t, "the request to start", func() bool { return h.Stats().Requests == 1 })

	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()

	a := <-answered
	if a.err != nil {
		t.Fatalf("in-flight request lost: %v", a.err)
	}
	if a.resp.status != 200 || a.resp.body != "slow\n" {
		t.Errorf("got %d %q, want 200 \"slow\\n\"", a.resp.status, a.resp.body)
	}
	if !a.resp.close {
		t.Error("response to a request in flight at the drain lacks Connection: close")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestBusyKeepAliveLosesNothing is the scenario where net/http's Shutdown
// loses one request per connection: clients sending requests back to back
// on keep-alive connections, and slow requests in flight.
func TestBusyKeepAliveLosesNothing(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log}
	addr, served := startHTTP(t, h)

	const busy, slow = 16, 3
	var (
		wg                          sync.WaitGroup
		answered, lost, toldToClose atomic.Int64
		slowOK                      atomic.Int64
		firstErr                    atomic.Pointer[error]
	)
	for range busy {
		wg.Go(func() {
			for {
				c, err := dialRaw(addr)
				if err != nil {
					return // refused: the listener is closed
				}
				for {
					resp, err := c.do("GET", "/fast")
					if err != nil {
						lost.Add(1)
						firstErr.CompareAndSwap(nil, &err)
						break
					}
					answered.Add(1)
					if resp.close {
						toldToClose.Add(1)
						break
					}
				}
				c.Close()
			}
		})
	}
	for range slow {
		wg.Go(func() {
			c, err := dialRaw(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			resp, err := c.do("GET", "/slow?ms=1000")
			if err != nil {
				t.Errorf("slow request lost: %v", err)
				return
			}
			if resp.status == 200 && resp.close {
				slowOK.Add(1)
			}
		})
	}
	waitFor(t, "load", func() bool { return answered.Load() > 1000 && h.Stats().Requests >= slow })

	took, err := shutdown(t, h)
	if err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	wg.Wait()
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	t.Logf("answered %d, told to close %d, lost %d, drain took %v", answered.Load(), toldToClose.Load(), lost.Load(), took)
	if n := lost.Load(); n != 0 {
		t.Errorf("%d requests lost on established connections (first: %v)", n, *firstErr.Load())
	}
	if n := slowOK.Load(); n != slow {
		t.Errorf("%d of %d slow requests completed with Connection: close", n, slow)
	}
	if toldToClose.Load() < busy {
		t.Errorf("only %d busy connections were told to close, want %d", toldToClose.Load(), busy)
	}
}

// A gatedListener does not accept until its gate opens, so that
// connections wait in the kernel's accept queue.
type gatedListener struct {
	*net.TCPListener
	gate chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	<-l.gate
	return l.TCPListener.Accept()
}

// Connections waiting in the kernel's accept queue when the listener stops
// are answered, not reset by the close.
func TestQueuedConnsAnswered(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the accept queue is swept on Linux only")
	}
	testQueuedConnsAnswered(t, 0)
}

func testQueuedConnsAnswered(t *testing.T, grace time.Duration) {
	leakcheck(t)
	log, _ := testLogger(t)
	ln := loopback(t).(*net.TCPListener)
	gated := &gatedListener{TCPListener: ln, gate: make(chan struct{})}
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: gated, Logger: log, IdleGrace: grace}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	defer h.Close()

	const queued = 8
	var clients []*rawClient
	for range queued {
		c, err := dialRaw(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
		clients = append(clients, c)
	}
	waitFor(t, "serving", func() bool { return serving(h) })
	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()
	waitFor(t, "the listener to stop", func() bool { return h.ln.stopping.Load() })
	close(gated.gate)

	for i, c := range clients {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Errorf("queued connection %d: %v", i, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !resp.Close {
			t.Errorf("queued connection %d: %d, close=%v; want 200 with Connection: close", i, resp.StatusCode, resp.Close)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("a new connection was accepted after the drain")
	}
}

func TestIdleKeepAliveClosedWhenQuiet(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, IdleGrace: 50 * time.Millisecond}
	addr, _ := startHTTP(t, h)

	var clients []*rawClient
	for range 20 {
		c, err := dialRaw(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.do("GET", "/fast"); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	waitFor(t, "idle connections", func() bool { return h.Stats().Idle == 20 })
	took, err := shutdown(t, h)
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("drain with 20 idle connections took %v", took)
	if took > 5*time.Second {
		t.Errorf("drain took %v", took)
	}
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Errorf("idle connection: read %v, want EOF", err)
		}
	}
}

// A client that sends a request just after the drain began, on its idle
// keep-alive connection or on a connection opened just before, is
// answered, with Connection: close, not shown a closed socket.
func TestRequestWithinGraceIsAnswered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state func(Stats) bool
		used  bool // the connection served a request before the drain
	}{
		{"idle", func(s Stats) bool { return s.Idle == 1 }, true},
		{"new", func(s Stats) bool { return s.New == 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck(t)
			log, _ := testLogger(t)
			h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, IdleGrace: time.Minute}
			addr, _ := startHTTP(t, h)

			c, err := dialRaw(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.used {
				if _, err := c.do("GET", "/fast"); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the connection's state", func() bool { return tc.state(h.Stats()) })
			shut := make(chan error, 1)
			go func() { _, err := shutdown(t, h); shut <- err }()
			waitFor(t, "the drain", func() bool { return isClosed(h.t.drainc) })

			resp, err := c.do("GET", "/fast")
			if err != nil {
				t.Fatalf("request sent during the grace period lost: %v", err)
			}
			if resp.status != 200 || !resp.close {
				t.Errorf("got %d, close=%v; want 200 with Connection: close", resp.status, resp.close)
			}
			if err := <-shut; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// Connected-but-silent sockets (browser preconnects) do not hold up the
// drain; net/http's Shutdown waits 5 seconds for them.
func TestSilentConnsDoNotHoldDrain(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, IdleGrace: 20 * time.Millisecond}
	addr, _ := startHTTP(t, h)

	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, "new connections", func() bool { return h.Stats().New == 20 })
	time.Sleep(50 * time.Millisecond) // let them be quiet longer than IdleGrace
	took, err := shutdown(t, h)
	if err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("drain with 20 silent connections took %v", took)
	if took > 2*time.Second {
		t.Errorf("drain took %v; silent connections held it", took)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("silent connection: read %v, want EOF", err)
		}
	}
}

// Hijacked connections count in the drain until their handler closes them,
// and handlers learn of the drain from Draining.
func TestHijackedConnDrains(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	var handlers sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		draining := Draining(r.Context())
		handlers.Go(func() { // serve on after the handler returns, as WebSocket libraries do
			defer nc.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			<-draining
			io.WriteString(nc, "going away\n")
		})
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
	addr, _ := startHTTP(t, h)

	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	waitFor(t, "a hijacked connection", func() bool { return h.Stats().Hijacked == 1 })

	if _, err := shutdown(t, h); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	line, err := c.br.ReadString('\n')
	if line != "going away\n" {
		t.Errorf("hijacked client read %q, %v; want the goodbye", line, err)
	}
	handlers.Wait()
}

// A hijacked connection that is never closed holds the drain until Close
// forces it, as does a handler that never returns; Close cancels the
// handler's context with ErrForced and logs the request.
func TestCloseForcesStuckHandlerAndHijackedConn(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	var handlers sync.WaitGroup
	hijacked := make(chan net.Conn, 1)
	cause := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // ignores the drain: only force ends it
		cause <- context.Cause(r.Context())
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		hijacked <- nc
		handlers.Go(func() { io.Copy(io.Discard, nc) }) // reads until the conn closes
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
	addr, served := startHTTP(t, h)

	stuck, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	fmt.Fprintf(stuck, "GET /stuck HTTP/1.1\r\nHost: test\r\n\r\n")
	hj, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hj.Close()
	fmt.Fprintf(hj, "GET /hijack HTTP/1.1\r\nHost: test\r\n\r\n")
	<-hijacked
	waitFor(t, "both connections", func() bool { s := h.Stats(); return s.Hijacked == 1 && s.Requests == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck handler returned %v, want DeadlineExceeded", err)
	}
	if s := h.Stats(); s.Hijacked != 1 || s.Requests != 1 {
		t.Errorf("after the drain timed out: %+v; want the stuck request and hijacked conn", s)
	}
	if err := h.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-cause; !errors.Is(err, ErrForced) {
		t.Errorf("stuck handler's context cause: %v, want ErrForced", err)
	}
	for _, c := range []*rawClient{stuck, hj} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("forced connection: %v, want EOF", err)
		}
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := h.Shutdown(context.Background()); !errors.Is(err, ErrForced) {
		t.Errorf("Shutdown after Close: %v, want ErrForced", err)
	}
	handlers.Wait()
	if s := logs(); !strings.Contains(s, "request still running") || !strings.Contains(s, "path=/stuck") {
		t.Errorf("the stuck request is not logged:\n%s", s)
	}
}

// Long polls and server-sent events end early when the drain begins.
func TestDrainingEndsEventStream(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				io.WriteString(w, "data: tick\n\n")
				w.(http.Flusher).Flush()
			case <-Draining(r.Context()):
				io.WriteString(w, "event: bye\ndata: draining\n\n")
				return
			}
		}
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
	addr, _ := startHTTP(t, h)

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Scan() // the first event has arrived
	if _, err := shutdown(t, h); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(rest), "event: bye") {
		t.Errorf("stream ended with %q, %v; want the goodbye event", rest, err)
	}
}

// Serve after Shutdown returns nil at once, and closes the Listener it
// was given, which it owns, as net/http's Serve does.
func TestShutdownBeforeServe(t *testing.T) {
	leakcheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := h.Serve(); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("Serve after Shutdown left its Listener open: the port accepts connections nobody answers")
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestServeTwice(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log}
	startHTTP(t, h)
	waitFor(t, "serving", func() bool { return serving(h) })
	if err := h.Serve(); err == nil {
		t.Fatal("second Serve succeeded")
	}
}

func TestUnixSocket(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	path := filepath.Join(t.TempDir(), "drain.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln, Logger: log}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	defer h.Close()

	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	answered := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://unix/slow?ms=300")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 || !resp.Close {
				err = fmt.Errorf("status %d, close=%v", resp.StatusCode, resp.Close)
			}
		}
		answered <- err
	}()
	waitFor(t, "the request", func() bool { return h.Stats().Requests == 1 })
	if _, err := shutdown(t, h); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-answered; err != nil {
		t.Errorf("request over the unix socket: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
}

// The ResponseWriter handlers receive keeps the methods of net/http's own.
func TestResponseWriterKeepsInterfaces(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	got := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var missing []string
		if _, ok := w.(http.Flusher); !ok {
			missing = append(missing, "Flusher")
		}
		if _, ok := w.(http.Hijacker); !ok {
			missing = append(missing, "Hijacker")
		}
		if _, ok := w.(io.ReaderFrom); !ok {
			missing = append(missing, "ReaderFrom")
		}
		if _, ok := w.(io.StringWriter); !ok {
			missing = append(missing, "StringWriter")
		}
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			missing = append(missing, "SetWriteDeadline: "+err.Error())
		}
		if err := rc.EnableFullDuplex(); err != nil {
			missing = append(missing, "EnableFullDuplex: "+err.Error())
		}
		if err := rc.Flush(); err != nil {
			missing = append(missing, "Flush: "+err.Error())
		}
		got <- strings.Join(missing, ", ")
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
	addr, _ := startHTTP(t, h)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.do("GET", "/"); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "" {
		t.Errorf("ResponseWriter lacks: %s", m)
	}
}

// Hooks the Server already had keep working, and see what they would
// without drain: the Listener, and its connections, which code that sets
// TCP options or reads PROXY headers type-asserts. A handler that hijacks
// its connection reaches the Listener's through NetConn, as through a
// *tls.Conn.
func TestServerHooksChained(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	type key struct{}
	type connKey struct{}
	var states sync.Map
	var wrongConn, wrongListener atomic.Value
	mux := http.NewServeMux()
	values := make(chan [2]any, 1)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		values <- [2]any{r.Context().Value(key{}), r.Context().Value(connKey{})}
	})
	hijacked := make(chan string, 1)
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			hijacked <- err.Error()
			return
		}
		defer nc.Close()
		if _, ok := nc.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn); !ok {
			hijacked <- fmt.Sprintf("NetConn of the hijacked %T is not a *net.TCPConn", nc)
			return
		}
		hijacked <- ""
	})
	ln := loopback(t)
	srv := &http.Server{
		Handler: mux,
		ConnState: func(c net.Conn, s http.ConnState) {
			if _, ok := c.(*net.TCPConn); !ok {
				wrongConn.Store(fmt.Sprintf("ConnState got %T", c))
			}
			states.Store(s, true)
		},
		BaseContext: func(l net.Listener) context.Context {
			if l != ln {
				wrongListener.Store(fmt.Sprintf("BaseContext got %T", l))
			}
			return context.WithValue(context.Background(), key{}, "base")
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if _, ok := c.(*net.TCPConn); !ok {
				wrongConn.Store(fmt.Sprintf("ConnContext got %T", c))
			}
			return context.WithValue(ctx, connKey{}, "yes")
		},
	}
	h := &HTTP{Server: srv, Logger: log, Listener: ln}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	defer func() { h.Close(); <-served }()
	addr := ln.Addr().String()
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.do("GET", "/"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if v := <-values; v[0] != "base" || v[1] != "yes" {
		t.Errorf("context values %v; want the user's BaseContext and ConnContext", v)
	}
	hc, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	fmt.Fprintf(hc, "GET /hijack HTTP/1.1\r\nHost: test\r\n\r\n")
	if msg := <-hijacked; msg != "" {
		t.Error(msg)
	}
	for _, v := range []*atomic.Value{&wrongConn, &wrongListener} {
		if msg := v.Load(); msg != nil {
			t.Errorf("%s, want what the Server would get without drain", msg)
		}
	}
	if _, err := shutdown(t, h); err != nil {
		t.Fatal(err)
	}
	for _, s := range []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed} {
		if _, ok := states.Load(s); !ok {
			t.Errorf("user's ConnState hook missed %v", s)
		}
	}
}

func TestHTTPValidate(t *testing.T) {
	leakcheck(t)
	for _, tc := range []struct {
		name string
		h    *HTTP
		want string
	}{
		{"nil server", &HTTP{}, "Server is nil"},
		{"nil handler", &HTTP{Server: &http.Server{}}, "Server.Handler is nil"},
		{"negative grace", &HTTP{Server: &http.Server{Handler: testMux()}, IdleGrace: -1}, "negative IdleGrace"},
		{"cert without key", &HTTP{Server: &http.Server{Handler: testMux()}, CertFile: "cert.pem"}, "CertFile and KeyFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Serve()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Serve: %v; want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A handler that writes nothing (a health check, say) still answers with
// Connection: close during the drain, so that a keep-alive client polling
// it cannot hold the drain.
func TestEmptyResponseGetsConnectionClose(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
	addr, _ := startHTTP(t, h)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.do("GET", "/empty"); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()
	waitFor(t, "the drain", func() bool { return isClosed(h.t.drainc) })
	resp, err := c.do("GET", "/empty")
	if err != nil || !resp.close {
		t.Errorf("empty response during the drain: %+v, %v; want Connection: close", resp, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// A Listener that hands out TLS connections is refused with an error that
// says what to do instead.
func TestTLSListenerRefused(t *testing.T) {
	leakcheck(t)
	cert, _, _ := testCert(t)
	ln := loopback(t)
	tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: tl, Logger: log}
	served := make(chan error, 1)
	go func() { served <- h.Serve() }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-served; err == nil || !strings.Contains(err.Error(), "hands out TLS connections") {
		t.Errorf("Serve with a TLS listener: %v", err)
	}
	h.Close()
}

// What the logs show of a request is copied when it begins: a handler may
// rewrite the http.Request while the shutdown logs it (run with -race).
func TestLoggedRequestIsACopy(t *testing.T) {
	leakcheck(t)
	log, logs := testLogger(t)
	rewritten, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/original", func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path, r.Method = "/rewritten", "PUT"
		close(rewritten)
		<-release
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
	addr, _ := startHTTP(t, h)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answered := make(chan error, 1)
	go func() { _, err := c.do("GET", "/original"); answered <- err }()
	<-rewritten
	log.Info("open", "server", h, slog.Attr{Value: h.Stats().logValue()}) // as the Group logs it
	close(release)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs(), `"GET /original`) {
		t.Errorf("the log does not show the request as it began:\n%s", logs())
	}
}

// net/http's own promises about Shutdown and Close hold through drain:
// Close may be called twice, functions registered with RegisterOnShutdown
// run at every shutdown, graceful or forced, and Shutdown after Close
// reports the forced drain.
func TestNetHTTPShutdownProperties(t *testing.T) {
	leakcheck(t)
	for _, tc := range []struct {
		name   string
		forced bool // Close instead of Shutdown, with a request in flight
	}{{"graceful", false}, {"forced", true}} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := testLogger(t)
			mux := testMux()
			mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log}
			hooked := make(chan struct{})
			h.Server.RegisterOnShutdown(func() { close(hooked) })
			addr, served := startHTTP(t, h)
			if tc.forced {
				sendStuck(t, h, addr)
				if err := h.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := h.Close(); err != nil {
					t.Errorf("Close again: %v", err)
				}
				if _, err := shutdown(t, h); !errors.Is(err, ErrForced) {
					t.Errorf("Shutdown after Close: %v, want ErrForced", err)
				}
			} else if _, err := shutdown(t, h); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			select {
			case <-hooked:
			case <-time.After(10 * time.Second):
				t.Error("the function registered with RegisterOnShutdown did not run")
			}
			if err := served(); err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}
