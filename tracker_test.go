package drain

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
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

// The read deadline a conn records for the drain to give back comes back
// as the same instant, whatever its form.
func TestDeadlineEncoding(t *testing.T) {
	tr := newTracker(time.Second, time.Second, false)
	now := time.Now()
	for _, tc := range []struct {
		name string
		d    time.Time
	}{
		{"none", time.Time{}},
		{"none, in a location", time.Time{}.In(time.UTC)},
		{"net/http's long ago", time.Unix(1, 0)},
		{"monotonic", now.Add(time.Minute)},
		{"wall clock only", now.Add(time.Minute).Round(0)},
		{"in a location", now.Add(time.Minute).In(time.FixedZone("x", 3600))},
		{"before the epoch", now.Add(-time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tr.fromDeadline(tr.deadline(tc.d))
			switch {
			case tc.d.IsZero():
				if !got.IsZero() {
					t.Errorf("got %v, want no deadline", got)
				}
			case tc.d.Before(tr.epoch):
				if got.IsZero() || !got.Before(time.Now()) {
					t.Errorf("got %v, want a deadline that has passed", got)
				}
			case !got.Equal(tc.d):
				t.Errorf("got %v, want %v", got, tc.d)
			}
		})
	}
}

// A read deadline the server sets while the drain cuts a stalled request
// header never undoes the cut, though it takes no lock until the cut: here
// the server's call is held inside the connection until the cut is done.
func TestCutWinsOverConcurrentDeadline(t *testing.T) {
	tr := newTracker(time.Hour, time.Nanosecond, false)
	hc := &heldConn{entered: make(chan struct{}), release: make(chan struct{})}
	c := tr.add(hc, false)
	set := make(chan struct{})
	go func() {
		c.SetReadDeadline(time.Now().Add(time.Hour))
		close(set)
	}()
	<-hc.entered
	c.cut()
	close(hc.release)
	<-set
	if got := hc.deadline(); got != aLongTimeAgo {
		t.Errorf("read deadline after the cut: %v, want %v", got, aLongTimeAgo)
	}
}

// A heldConn holds the first SetReadDeadline call until released, and
// remembers the deadline set last.
type heldConn struct {
	nopConn
	held             atomic.Bool
	entered, release chan struct{}
	mu               sync.Mutex
	rd               time.Time
}

func (h *heldConn) SetReadDeadline(t time.Time) error {
	if h.held.CompareAndSwap(false, true) {
		close(h.entered)
		<-h.release
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rd = t
	return nil
}

func (h *heldConn) deadline() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rd
}
