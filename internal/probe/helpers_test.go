package probe

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/drain-go/drain/internal/probe/wire"
)

// A rawServer is a tiny TCP server with a known behaviour, for testing how
// the probe classifies what servers do to requests and connections. It
// calls handle for each connection, on a goroutine of its own; when handle
// returns, the connection is closed.
type rawServer struct {
	ln     net.Listener
	handle func(s *rawServer, nc net.Conn, br *bufio.Reader)
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	reqs  int // requests read by readRequest
}

func serveRaw(t testing.TB, handle func(s *rawServer, nc net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, handle: handle, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

func (s *rawServer) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, nc)
				s.mu.Unlock()
				nc.Close()
			}()
			s.handle(s, nc, bufio.NewReader(nc))
		})
	}
}

// close stops accepting, closes every connection and waits for the
// handlers.
func (s *rawServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// readRequest reads a request and returns the number of requests the
// server has read so far, this one included.
func (s *rawServer) readRequest(br *bufio.Reader) (int, bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return 0, false
	}
	io.Copy(io.Discard, req.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs++
	return s.reqs, true
}

const (
	okKeepAlive = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
	okClose     = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
)

// Behaviours of rawServers.

// keepAlive answers every request and keeps the connection.
func keepAlive(s *rawServer, nc net.Conn, br *bufio.Reader) {
	for {
		if _, ok := s.readRequest(br); !ok {
			return
		}
		io.WriteString(nc, okKeepAlive)
	}
}

// answerClose answers one request with "Connection: close", then closes.
func answerClose(s *rawServer, nc net.Conn, br *bufio.Reader) {
	if _, ok := s.readRequest(br); ok {
		io.WriteString(nc, okClose)
	}
}

// closeUnder answers one request as if it kept the connection alive, then
// closes it: the client's next request on it is lost, as with net/http's
// Shutdown closing idle connections under busy clients.
func closeUnder(s *rawServer, nc net.Conn, br *bufio.Reader) {
	if _, ok := s.readRequest(br); ok {
		io.WriteString(nc, okKeepAlive)
	}
}

// resetOnRequest reads a request and resets the connection.
func resetOnRequest(s *rawServer, nc net.Conn, br *bufio.Reader) {
	if _, ok := s.readRequest(br); ok {
		nc.(*net.TCPConn).SetLinger(0)
	}
}

// shortBody promises a 10-byte body and sends 3.
func shortBody(s *rawServer, nc net.Conn, br *bufio.Reader) {
	if _, ok := s.readRequest(br); ok {
		io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
	}
}

// mute reads a request and never answers; it returns when the client
// closes the connection (or the server closes).
func mute(s *rawServer, nc net.Conn, br *bufio.Reader) {
	if _, ok := s.readRequest(br); ok {
		io.Copy(io.Discard, br)
	}
}

// unavailable answers every request with 503.
func unavailable(s *rawServer, nc net.Conn, br *bufio.Reader) {
	for {
		if _, ok := s.readRequest(br); !ok {
			return
		}
		io.WriteString(nc, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	}
}

// garbage answers with something that is not HTTP.
func garbage(s *rawServer, nc net.Conn, br *bufio.Reader) {
	if _, ok := s.readRequest(br); ok {
		io.WriteString(nc, "SSH-2.0-OpenSSH\r\n\r\n")
	}
}

// get sends GET path on c.
func get(ctx context.Context, c *wire.Client, path string) wire.Exchange {
	return c.Do(ctx, wire.HTTP1Request(http.MethodGet, path, "127.0.0.1"))
}
