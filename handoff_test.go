//go:build unix

package drain

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// In hand-off mode the drain leaves the listening socket, and what its
// queue holds, to the other holder of the socket: new connections keep
// completing their handshake (nothing keeps them out) and wait in the
// queue for the new server, which answers all of them.
func TestHandOffLeavesTheSocket(t *testing.T) {
	leakcheck(t)
	ln := listenTCP(t, false) // plain TCP: the socket that can keep new connections out
	// The socket shared with a "new process": a second descriptor of it.
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	next, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()

	old := &HTTP{Server: &http.Server{Handler: testMux()}, Listener: ln, Logger: nopLogger()}
	served := make(chan error, 1)
	go func() { served <- old.Serve() }()
	waitFor(t, "the old server to serve", func() bool { return serving(old) })
	c, err := dialRaw(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.do("GET", "/fast"); err != nil || r.status != http.StatusOK {
		t.Fatalf("request to the old server: %+v, %v", r, err)
	}

	old.HandOff()
	if _, err := shutdown(t, old); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}

	// Connections made now complete at once: a socket that kept new
	// connections out would leave the client retrying its SYN for a
	// second and more.
	const n = 5
	clients := make([]*rawClient, n)
	for i := range clients {
		d := net.Dialer{Timeout: 900 * time.Millisecond}
		nc, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("connection %d after the hand-off: %v", i, err)
		}
		defer nc.Close()
		clients[i] = &rawClient{Conn: nc, br: bufio.NewReader(nc)}
	}

	// They waited in the queue for the new server.
	mux := http.NewServeMux()
	mux.HandleFunc("/who", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "new") })
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(next) }()
	defer func() { srv.Close(); <-done }()
	for i, c := range clients {
		if r, err := c.do("GET", "/who"); err != nil || r.body != "new" {
			t.Errorf("connection %d: %+v, %v; want an answer from the new server", i, r, err)
		}
	}
}
