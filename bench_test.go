package drain

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// The costs drain adds to a server, measured against net/http alone. The
// throughput under load is measured by bench/throughput.sh.

func helloHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, World!\n")
	})
}

// serveBench serves a hello handler on loopback, bare or through drain,
// and returns its address and a function that stops it.
func serveBench(b *testing.B, mode string) (string, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: helloHandler()}
	served := make(chan struct{})
	var stop func()
	switch mode {
	case "bare":
		go func() { defer close(served); srv.Serve(ln) }()
		stop = func() { srv.Close() }
	case "drain":
		h := &HTTP{Server: srv, Listener: ln, Logger: nopLogger()}
		go func() { defer close(served); h.Serve() }()
		stop = func() { h.Close() }
	}
	return ln.Addr().String(), func() { stop(); <-served }
}

// BenchmarkRequest is one keep-alive request after another on one
// connection: the time and allocations of a whole round trip, client
// included.
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []string{"bare", "drain"} {
		b.Run(mode, func(b *testing.B) {
			addr, stop := serveBench(b, mode)
			defer stop()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkConnMemory opens idle keep-alive connections and reports the
// memory they take (heap and goroutine stacks), server and client sides
// together: the difference between bare and drain is what drain adds per
// connection.
func BenchmarkConnMemory(b *testing.B) {
	const conns = 2000
	for _, mode := range []string{"bare", "drain"} {
		b.Run(mode, func(b *testing.B) {
			var perConn float64
			for b.Loop() {
				perConn = idleConnHeap(b, mode, conns)
			}
			b.ReportMetric(perConn, "B/conn")
		})
	}
}

func idleConnHeap(b *testing.B, mode string, n int) float64 {
	addr, stop := serveBench(b, mode)
	defer stop()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc + ms.StackInuse
	}
	before := heap()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		c.Write(req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(fmt.Errorf("request: %w", err))
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return float64(heap()-before) / float64(n)
}

// BenchmarkHandlerOverhead is drain's own work on a request, without the
// network: the handler wrapper and the two ConnState calls.
func BenchmarkHandlerOverhead(b *testing.B) {
	t := newTracker(DefaultIdleGrace, defaultHeaderGrace, false)
	server, client := net.Pipe()
	defer client.Close()
	c := t.add(server, false)
	defer c.Close()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	req := httptest.NewRequest("GET", "/hello", nil)
	req = req.WithContext(context.WithValue(req.Context(), connKey{}, c))
	w := httptest.NewRecorder()
	for _, mode := range []string{"bare", "drain"} {
		b.Run(mode, func(b *testing.B) {
			var h http.Handler = next
			if mode == "drain" {
				h = handler{t: t, next: next}
			}
			b.ReportAllocs()
			for b.Loop() {
				if mode == "drain" {
					t.connState(c, http.StateActive)
				}
				h.ServeHTTP(w, req)
				if mode == "drain" {
					t.connState(c, http.StateIdle)
				}
			}
		})
	}
}
