package drain

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// connPair returns the two ends of a loopback TCP connection.
func connPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln := loopback(t)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func gone(t *tracker, c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return c.gone
}

// The drain closes a quiet connection (by making the server's read fail,
// so that the server closes it), and never one whose client has begun to
// send a request: neither while the request waits unread in the kernel,
// nor while the server reads it.
func TestCloseQuietSparesRequestsBegun(t *testing.T) {
	leakcheck(t)
	tr := newTracker(time.Nanosecond, time.Hour, false)
	quietSrv, _ := connPair(t)
	quiet := tr.add(quietSrv, false)
	served := make(chan error, 1)
	go func() { // the server, waiting for a request
		_, err := quiet.Read(make([]byte, 1))
		quiet.Close()
		served <- err
	}()
	busySrv, busyClient := connPair(t)
	busy := tr.add(busySrv, false)

	io.WriteString(busyClient, "GET / HTTP/1.1\r\n")
	waitFor(t, "the request bytes", func() bool { return hasPendingBytes(busySrv.(syscall.Conn)) })
	time.Sleep(time.Millisecond) // longer than the grace period
	tr.startDrain()
	tr.closeQuiet()
	if err := <-served; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the server's read on a quiet connection returned %v, want a deadline error", err)
	}
	if !gone(tr, quiet) {
		t.Error("the quiet connection is still tracked after the server closed it")
	}

	// The server reads the start of the request, however late.
	buf := make([]byte, 64)
	if _, err := busy.Read(buf); err != nil {
		t.Fatalf("a connection with a request waiting in the kernel was expired: %v", err)
	}
	for range 2 { // within HeaderGrace, it is receiving a request
		time.Sleep(time.Millisecond)
		tr.closeQuiet()
	}
	io.WriteString(busyClient, "Host: test\r\n\r\n")
	if _, err := busy.Read(buf); err != nil {
		t.Fatalf("a connection receiving a request was expired: %v", err)
	}

	// Answered, it turns idle; quiet for the grace period, it is expired.
	tr.connState(busy, http.StateActive)
	tr.connState(busy, http.StateIdle)
	time.Sleep(time.Millisecond)
	tr.closeQuiet()
	if _, err := busy.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read on an idle connection quiet for the grace period: %v, want a deadline error", err)
	}
}
