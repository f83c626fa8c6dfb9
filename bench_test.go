package drain

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"
	"time"
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
	req = req.WithContext(c.withContext(req.Context()))
	w := httptest.NewRecorder()
	for _, mode := range []string{"bare", "drain"} {
		b.Run(mode, func(b *testing.B) {
			var h http.Handler = next
			if mode == "drain" {
				h = &handler{t: t, next: next}
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

// BenchmarkRequestPath is everything drain does on an HTTP/1 request,
// without the network or net/http: what net/http calls on the connection
// for one keep-alive request (six read deadlines, the read of the request,
// the background read that ends with a deadline error, the write of the
// response), the two ConnState calls and the handler wrapper, on a
// connection that does nothing. The connections take their turns, as on
// a loaded server.
func BenchmarkRequestPath(b *testing.B) {
	for _, mode := range []string{"bare", "drain"} {
		b.Run(mode, func(b *testing.B) {
			p := newRequestPath(mode == "drain", 256)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.request(i)
				i++
			}
		})
	}
}

type requestPath struct {
	t        *tracker // nil: bare
	h        http.Handler
	w        http.ResponseWriter
	conns    []net.Conn
	reqs     []*http.Request
	buf, one []byte
	resp     []byte
}

func newRequestPath(drain bool, conns int) *requestPath {
	p := &requestPath{
		h:    helloHandler(),
		w:    nopWriter{make(http.Header)},
		buf:  make([]byte, 4096),
		one:  make([]byte, 1),
		resp: []byte("HTTP/1.1 200 OK\r\n\r\nHello, World!\n"),
	}
	if drain {
		p.t = newTracker(DefaultIdleGrace, defaultHeaderGrace, false)
		p.h = &handler{t: p.t, next: p.h}
	}
	for range conns {
		req := httptest.NewRequest("GET", "/hello", nil)
		var nc net.Conn = nopConn{}
		if drain {
			c := p.t.add(nopConn{}, false)
			nc = c
			req = req.WithContext(c.withContext(req.Context()))
		}
		p.conns = append(p.conns, nc)
		p.reqs = append(p.reqs, req)
	}
	return p
}

// request is one request on connection i (modulo their number), in the
// order net/http makes its calls.
//
//go:noinline
func (p *requestPath) request(i int) {
	i %= len(p.conns)
	nc := p.conns[i]
	nc.SetReadDeadline(time.Time{}) // idle
	nc.Read(p.buf)                  // the request
	nc.SetReadDeadline(time.Time{}) // its header
	nc.SetReadDeadline(time.Time{}) // its body
	if p.t != nil {
		p.t.connState(nc, http.StateActive)
	}
	nc.SetReadDeadline(time.Time{}) // the background read
	p.h.ServeHTTP(p.w, p.reqs[i])
	nc.SetReadDeadline(aLongTimeAgo) // its end
	nc.Read(p.one)
	nc.SetReadDeadline(time.Time{})
	nc.Write(p.resp)
	if p.t != nil {
		p.t.connState(nc, http.StateIdle)
	}
}

// nopConn is a connection that does nothing: reads of one byte fail with
// a deadline error (as a background read that net/http ends does), others
// return as much as asked.
type nopConn struct{ net.Conn }

func (nopConn) Read(p []byte) (int, error) {
	if len(p) == 1 {
		return 0, os.ErrDeadlineExceeded
	}
	return len(p), nil
}
func (nopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (nopConn) SetReadDeadline(time.Time) error  { return nil }
func (nopConn) SetWriteDeadline(time.Time) error { return nil }
func (nopConn) SetDeadline(time.Time) error      { return nil }
func (nopConn) Close() error                     { return nil }

// nopWriter is a ResponseWriter that writes nowhere.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header               { return w.h }
func (w nopWriter) Write(p []byte) (int, error)       { return len(p), nil }
func (w nopWriter) WriteString(s string) (int, error) { return len(s), nil }
func (w nopWriter) WriteHeader(int)                   {}
