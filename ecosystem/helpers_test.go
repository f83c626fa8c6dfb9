package ecosystem

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drain-go/drain"
)

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { mu.Lock(); done = true; mu.Unlock() })
	return slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Log(strings.TrimSuffix(string(p), "\n"))
		}
		return len(p), nil
	}), nil))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// serve runs h; the returned function waits for Serve's result.
func serve(t *testing.T, h *drain.HTTP) (served func() error) {
	done := make(chan error, 1)
	go func() { done <- h.Serve() }()
	t.Cleanup(func() { h.Close() })
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Error("Serve did not return")
			return nil
		}
	}
}

// shutdown drains h with a generous bound.
func shutdown(t *testing.T, h *drain.HTTP) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return h.Shutdown(ctx)
}

// readAll reads r to its end, with a bound.
func readAll(t *testing.T, c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
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
