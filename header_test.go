package drain

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A client that has begun a request header and does not finish it (it
// stalled, or trickles it a byte at a time) was never accepted: during the
// drain it is cut after HeaderGrace, and the drain ends cleanly, although
// the Server sets no ReadHeaderTimeout (as most do not).
func TestStalledHeaderCut(t *testing.T) {
	leakcheck(t)
	for _, tc := range []struct {
		name  string
		begin func(t *testing.T, c *rawClient) // what the client does before the drain
		more  func(c *rawClient)               // and during it, until the connection ends
	}{
		{
			name:  "half a header on a new connection",
			begin: func(t *testing.T, c *rawClient) { io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: te") },
		},
		{
			name:  "request line only",
			begin: func(t *testing.T, c *rawClient) { io.WriteString(c, "GET /fast HTTP/1.1\r\n") },
		},
		{
			// net/http starts ReadHeaderTimeout only once 4 bytes have
			// arrived; IdleTimeout, often minutes, governs until then.
			name: "3 bytes after a keep-alive request",
			begin: func(t *testing.T, c *rawClient) {
				if r, err := c.do("GET", "/fast"); err != nil || r.status != http.StatusOK {
					t.Fatalf("first request: %+v, %v", r, err)
				}
				io.WriteString(c, "GET")
			},
		},
		{
			name:  "a header trickled a byte at a time",
			begin: func(t *testing.T, c *rawClient) { io.WriteString(c, "G") },
			more: func(c *rawClient) {
				for _, b := range []byte("ET /fast HTTP/1.1\r\nHost: test\r\nX-Padding: " + strings.Repeat("x", 200)) {
					time.Sleep(20 * time.Millisecond)
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := testLogger(t)
			h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, HeaderGrace: 200 * time.Millisecond}
			addr, served := startHTTP(t, h)
			c, err := dialRaw(addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tc.begin(t, c)
			waitFor(t, "the header to begin arriving", func() bool {
				cn := onlyConn(h)
				return cn != nil && cn.rx.Load()
			})
			trickled := make(chan struct{})
			go func() {
				defer close(trickled)
				if tc.more != nil {
					tc.more(c)
				}
			}()

			took, err := shutdown(t, h)
			if err != nil {
				t.Fatalf("Shutdown after %v: %v; want the stalled header cut and a clean drain", took, err)
			}
			if err := served(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			// A client still trickling writes to the closed connection, and
			// its kernel may see the server's reset before the end.
			if b, err := io.ReadAll(c.br); len(b) > 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("the client read %q, %v; want the connection closed without an answer", b, err)
			}
			<-trickled
			if s := h.Stats(); s.ForcedConns != 0 || s.ForcedRequests != 0 {
				t.Errorf("forced: %+v\n%s", s, logs())
			}
		})
	}
}

// onlyConn returns the one connection h tracks, or nil.
func onlyConn(h *HTTP) *conn {
	h.mu.Lock()
	t := h.t
	h.mu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		if len(t.conns) == 1 {
			return c
		}
	}
	return nil
}

// HeaderGrace bounds the header only: a request whose header arrived in
// time is served to the end, however long its body takes; a header that
// arrives in parts within the grace is served; so are requests in flight.
func TestHeaderGraceSparesRequests(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	mux := testMux()
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "got %d bytes\n", len(b))
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Logger: log, HeaderGrace: 300 * time.Millisecond}
	addr, served := startHTTP(t, h)

	// A slow request in flight.
	slow, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slowDone := make(chan error, 1)
	go func() {
		r, err := slow.do("GET", "/slow?ms=800")
		if err == nil && r.status != http.StatusOK {
			err = fmt.Errorf("status %d", r.status)
		}
		slowDone <- err
	}()
	// An upload whose header is complete and whose body trickles for
	// longer than HeaderGrace.
	up, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	fmt.Fprintf(up, "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 8\r\n\r\n")
	waitFor(t, "both requests", func() bool { return h.Stats().Requests == 2 })

	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()
	waitFor(t, "the drain", func() bool { return isClosed(h.t.drainc) })

	// The body trickles on, past the grace.
	for i := range 8 {
		time.Sleep(60 * time.Millisecond)
		if _, err := up.Write([]byte{'a' + byte(i)}); err != nil {
			t.Fatalf("writing the body: %v", err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(up), nil)
	if err != nil {
		t.Fatalf("the upload whose body trickled was not answered: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "got 8 bytes\n" || !resp.Close {
		t.Errorf("upload: %d %q close=%v; want 200, the whole body, Connection: close", resp.StatusCode, body, resp.Close)
	}
	if err := <-slowDone; err != nil {
		t.Errorf("the slow request: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A keep-alive client that sends its next request in two parts, within
// the grace, during the drain, is answered.
func TestHeaderInPartsWithinGrace(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, HeaderGrace: 400 * time.Millisecond, IdleGrace: time.Second}
	addr, served := startHTTP(t, h)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.do("GET", "/fast"); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() { _, err := shutdown(t, h); shut <- err }()
	waitFor(t, "the drain", func() bool { return isClosed(h.t.drainc) })
	io.WriteString(c, "GET /fast HTTP/1.1\r\n")
	time.Sleep(100 * time.Millisecond)
	io.WriteString(c, "Host: test\r\n\r\n")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("a header sent in two parts within the grace was not answered: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("status %d, close=%v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// A cut undone: the header completes in the moment the drain cuts it,
// before the server's read fails. The connection turns active, the
// server's own deadline, set meanwhile, comes back, and the request is
// served.
func TestUncutRestoresDeadline(t *testing.T) {
	leakcheck(t)
	tr := newTracker(time.Hour, time.Nanosecond, false)
	srv, client := connPair(t)
	c := tr.add(srv, false)
	c.cut()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond)) // held back while cutting
	tr.connState(c, http.StateActive)
	io.WriteString(client, "x")
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after the header completed: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read past the server's deadline: %v, want a timeout", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// On a new TLS connection the handshake counts as part of the header: a
// client that stalls in the middle of its handshake is cut too.
func TestStalledTLSHandshakeCut(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)
	h := &HTTP{Server: &http.Server{Handler: testMux()}, Logger: log, HeaderGrace: 200 * time.Millisecond}
	_, h.CertFile, h.KeyFile = testCert(t)
	addr, served := startHTTP(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The first bytes of a ClientHello record: a handshake begun, then
	// nothing more.
	c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
	waitFor(t, "the handshake to begin arriving", func() bool {
		cn := onlyConn(h)
		return cn != nil && cn.rx.Load()
	})
	if _, err := shutdown(t, h); err != nil {
		t.Errorf("Shutdown: %v; want the stalled handshake cut", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}
