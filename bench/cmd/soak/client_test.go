//go:build unix

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// serveOnce accepts one connection on a loopback listener and hands it to
// handle after reading one request from it. It returns the listener's
// address; the test waits for the server before it ends.
func serveOnce(t *testing.T, handle func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		if _, err := http.ReadRequest(bufio.NewReader(nc)); err != nil {
			t.Errorf("server: %v", err)
			return
		}
		handle(nc)
	})
	return ln.Addr().String()
}

// writeAndClose answers with raw bytes and closes the connection.
func writeAndClose(raw string) func(net.Conn) {
	return func(nc net.Conn) { io.WriteString(nc, raw) }
}

// TestClient checks the client and the classification on real loopback
// connections, for each way a server can answer or fail to.
func TestClient(t *testing.T) {
	tests := []struct {
		name   string
		handle func(net.Conn)
		want   outcome
		why    reason
		status int
		closes bool
	}{
		{"answered", writeAndClose("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfast\n"), answered, "", 200, false},
		{"answered, closing", writeAndClose("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfast\n"), answered, "", 200, true},
		{"503", writeAndClose("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"), answered, "", 503, false},
		{"early hints first", writeAndClose("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), answered, "", 200, false},
		{"closed", func(net.Conn) {}, lost, closedEarly, 0, false},
		{"reset", func(nc net.Conn) { nc.(*net.TCPConn).SetLinger(0) }, lost, resetEarly, 0, false},
		{"body cut", writeAndClose("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfa"), lost, bodyCut, 200, false},
		{"malformed", writeAndClose("garbage\r\n\r\n"), lost, badResponse, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveOnce(t, tt.handle)
			c := &client{addr: addr, timeout: 5 * time.Second}
			defer c.close()
			if err := c.connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			x := c.do(request("/fast", addr, false))
			got, why := classify(x.st, x.err, false)
			if got != tt.want || why != tt.why || x.status != tt.status || x.closes != tt.closes {
				t.Errorf("got %v %q, status %d, closes %v (err %v); want %v %q, status %d, closes %v",
					got, why, x.status, x.closes, x.err, tt.want, tt.why, tt.status, tt.closes)
			}
			if x.seq != 1 {
				t.Errorf("seq = %d, want 1", x.seq)
			}
			if wantOpen := got == answered && !tt.closes; c.connected() != wantOpen {
				t.Errorf("connected = %v after the exchange, want %v", c.connected(), wantOpen)
			}
		})
	}
}

func TestClientRefused(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{addr: loopback(port), timeout: 5 * time.Second}
	err = c.connect(t.Context())
	if got, why := classify(stepConnect, err, false); got != refused || why != connectRefused {
		t.Errorf("connect to a closed port: %v %q (err %v); want refused, %q", got, why, err, connectRefused)
	}
}

// TestClientAborted checks that ending the context fails the request in
// progress at once, as aborted.
func TestClientAborted(t *testing.T) {
	release := make(chan struct{})
	addr := serveOnce(t, func(net.Conn) { <-release }) // never answers
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	c := &client{addr: addr, timeout: time.Minute}
	defer c.close()
	if err := c.connect(ctx); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	x := c.do(request("/slow?ms=60000", addr, false))
	if got, _ := classify(x.st, x.err, ctx.Err() != nil); got != aborted {
		t.Errorf("request ended by the context: %v (err %v), want aborted", got, x.err)
	}
	if d := x.done.Sub(x.sent); d > 10*time.Second {
		t.Errorf("the aborted request took %v", d)
	}
}

func TestRequest(t *testing.T) {
	want := "GET /slow?ms=5 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUser-Agent: drain-soak\r\nConnection: close\r\n\r\n"
	if got := string(request("/slow?ms=5", "127.0.0.1:80", true)); got != want {
		t.Errorf("request = %q, want %q", got, want)
	}
}
