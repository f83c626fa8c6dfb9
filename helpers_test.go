package drain

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakcheck fails t if it leaves goroutines behind.
func leakcheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// testLogger sends logs to t.Log, and returns a function that reports
// everything logged so far.
func testLogger(t *testing.T) (*slog.Logger, func() string) {
	var mu sync.Mutex
	var buf strings.Builder
	done := false
	t.Cleanup(func() {
		mu.Lock()
		done = true
		mu.Unlock()
	})
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		buf.Write(p)
		if !done {
			t.Log(strings.TrimSuffix(string(p), "\n"))
		}
		return len(p), nil
	})
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), logs
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// testMux serves the routes of the seed demo: /fast at once, /slow?ms=N
// after N milliseconds (or until the request's context ends).
func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fast\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			io.WriteString(w, "slow\n")
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		}
	})
	return mux
}

// startHTTP serves h on a loopback port and returns the address, and a
// function that waits for Serve to return and returns its result.
func startHTTP(t *testing.T, h *HTTP) (addr string, served func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.Listener = ln
	var serveErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		serveErr = h.Serve()
	}()
	served = func() error {
		select {
		case <-done:
			return serveErr
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return")
			return nil
		}
	}
	t.Cleanup(func() {
		h.Close()
		served()
	})
	return ln.Addr().String(), served
}

// serving reports whether h has started serving.
func serving(h *HTTP) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state != httpNew
}

// A rawClient speaks HTTP/1.1 over one connection and never retries, so
// that every request the server loses shows.
type rawClient struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(addr string) (*rawClient, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawClient{Conn: c, br: bufio.NewReader(c)}, nil
}

type rawResponse struct {
	status int
	close  bool // the server said Connection: close
	body   string
}

// do sends one request and reads its response.
func (c *rawClient) do(method, path string) (rawResponse, error) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: test\r\n\r\n", method, path); err != nil {
		return rawResponse{}, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return rawResponse{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return rawResponse{}, err
	}
	return rawResponse{status: resp.StatusCode, close: resp.Close, body: string(body)}, nil
}

// waitFor waits for cond, failing t after a generous bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// shutdown calls h.Shutdown with a generous bound and returns how long it took.
func shutdown(t *testing.T, h *HTTP) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := h.Shutdown(ctx)
	return time.Since(start), err
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
