package wire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// serveTCP accepts connections on loopback and calls handle for each, on
// a goroutine of its own; the connection is closed when handle returns.
// The listener and the connections are closed, and handle waited for, at
// the test's end.
func serveTCP(t *testing.T, handle func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				defer nc.Close()
				handle(nc, bufio.NewReader(nc))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The HTTP/1.1 client reports, for each way a server can treat a request,
// where it failed and whether it was sent.
func TestClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		handle  func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request)
		check   func(t *testing.T, x Exchange)
	}{{
		name: "answered",
		handle: func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request) {
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				got <- req
				io.WriteString(nc, "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello")
			}
		},
		check: func(t *testing.T, x Exchange) {
			if x.Err != nil || x.Status != http.StatusCreated || x.Close || x.Seq != 1 {
				t.Errorf("exchange %+v, want status 201 on request 1, no error, connection kept", x)
			}
		},
	}, {
		name: "closed unanswered",
		handle: func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request) {
			if req, err := http.ReadRequest(br); err == nil {
				got <- req
			}
		},
		check: func(t *testing.T, x Exchange) {
			if x.Step != StepHeader || x.Seq != 1 || !errors.Is(x.Err, io.EOF) && !errors.Is(x.Err, io.ErrUnexpectedEOF) {
				t.Errorf("exchange %+v, want request 1 written, EOF reading its header", x)
			}
		},
	}, {
		name: "reset unanswered",
		handle: func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request) {
			if req, err := http.ReadRequest(br); err == nil {
				got <- req
			}
			nc.(*net.TCPConn).SetLinger(0) // RST on close
		},
		check: func(t *testing.T, x Exchange) {
			if x.Step != StepHeader || x.Seq != 1 || x.Err == nil || x.Status != 0 {
				t.Errorf("exchange %+v, want request 1 written, an error reading its header", x)
			}
		},
	}, {
		name: "body cut",
		handle: func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request) {
			if req, err := http.ReadRequest(br); err == nil {
				got <- req
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
			}
		},
		check: func(t *testing.T, x Exchange) {
			if x.Step != StepBody || x.Status != http.StatusOK || !errors.Is(x.Err, io.ErrUnexpectedEOF) {
				t.Errorf("exchange %+v, want status 200, unexpected EOF reading the body", x)
			}
		},
	}, {
		name: "connection close",
		handle: func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request) {
			if req, err := http.ReadRequest(br); err == nil {
				got <- req
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
			}
		},
		check: func(t *testing.T, x Exchange) {
			if x.Err != nil || x.Status != http.StatusOK || !x.Close {
				t.Errorf("exchange %+v, want status 200 that closes the connection", x)
			}
		},
	}, {
		name:    "timeout",
		timeout: 200 * time.Millisecond,
		handle: func(nc net.Conn, br *bufio.Reader, got chan<- *http.Request) {
			if req, err := http.ReadRequest(br); err == nil {
				got <- req
				io.Copy(io.Discard, br) // until the client gives up
			}
		},
		check: func(t *testing.T, x Exchange) {
			if x.Step != StepHeader || !errors.Is(x.Err, os.ErrDeadlineExceeded) {
				t.Errorf("exchange %+v, want a deadline exceeded reading the header", x)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan *http.Request, 1)
			addr := serveTCP(t, func(nc net.Conn, br *bufio.Reader) { tc.handle(nc, br, got) })
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			c := NewClient(addr, timeout)
			defer c.Close()
			x := c.Do(context.Background(), HTTP1Request(http.MethodPost, "/p", "example.test"))
			tc.check(t, x)
			select {
			case req := <-got:
				if req.Method != http.MethodPost || req.URL.Path != "/p" || req.Host != "example.test" {
					t.Errorf("server read %s %s for %s, want POST /p for example.test", req.Method, req.URL.Path, req.Host)
				}
			default:
				t.Error("the server read no request")
			}
			// After a failure or a response that closes it, the connection
			// is done; after an answer that keeps it, it is kept.
			if want := x.Err == nil && !x.Close; c.Connected() != want {
				t.Errorf("connected after the exchange: %v, want %v", c.Connected(), want)
			}
		})
	}
}

// A second request on a kept connection is its request number 2.
func TestClientKeepAlive(t *testing.T) {
	addr := serveTCP(t, func(nc net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	c := NewClient(addr, 10*time.Second)
	defer c.Close()
	for i := 1; i <= 2; i++ {
		if x := c.Do(context.Background(), HTTP1Request(http.MethodGet, "/", addr)); x.Err != nil || x.Seq != i {
			t.Fatalf("request %d: %+v", i, x)
		}
	}
}

// A request to a port nothing listens on fails at connect, never sent;
// so does a session's dial.
func TestClientRefused(t *testing.T) {
	addr := freeAddr(t)
	c := NewClient(addr, 10*time.Second)
	x := c.Do(context.Background(), HTTP1Request(http.MethodGet, "/", addr))
	if x.Step != StepConnect || x.Seq != 0 || x.Err == nil || c.Connected() {
		t.Errorf("exchange %+v (connected %v), want an error at connect, request never sent", x, c.Connected())
	}
	for _, h2 := range []bool{false, true} {
		s, x := Dialer{Addr: addr, Host: addr, HTTP2: h2, Timeout: 10 * time.Second}.Dial(context.Background())
		if s != nil || x.Step != StepConnect || x.Err == nil {
			t.Errorf("HTTP2 %v: Dial returned %v, %+v; want no session, an error at connect", h2, s, x)
		}
	}
}

// A context that ends makes the request in progress fail at once.
func TestClientContext(t *testing.T) {
	addr := serveTCP(t, func(nc net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) })
	ctx, cancel := context.WithCancel(context.Background())
	c := NewClient(addr, time.Minute)
	defer c.Close()
	time.AfterFunc(100*time.Millisecond, cancel)
	x := c.Do(ctx, HTTP1Request(http.MethodGet, "/", addr))
	if x.Err == nil || x.Done.Sub(x.Sent) > 30*time.Second {
		t.Errorf("exchange %+v after %v, want an error as the context ended", x, x.Done.Sub(x.Sent))
	}
}
