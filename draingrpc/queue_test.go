//go:build linux

package draingrpc_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain/draingrpc"
	"golang.org/x/sys/unix"
)

// A gatedListener does not accept until its gate opens, as a server's
// accept loop busy elsewhere does, so that connections wait in the
// kernel's accept queue.
type gatedListener struct {
	*net.TCPListener
	gate chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	<-l.gate
	return l.TCPListener.Accept()
}

// Connections waiting in the kernel's accept queue (seen on Linux only)
// when the drain begins are accepted and answered, not reset by
// GracefulStop's close of the listener: a client that sends its RPC at
// once, without waiting for the server's preface (Go's HTTP/2 transport,
// as connect-go and grpc-gateway clients use), had sent it already.
func TestQueuedConnsAnswered(t *testing.T) {
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	s := draingrpc.NewServer()
	s.Listener = &gatedListener{tcp, gate}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := tcp.Addr().String()

	// Each client on a connection of its own, queued: the request is sent
	// with the preface.
	const queued = 8
	type answer struct {
		status string
		err    error
	}
	answers := make(chan answer, queued)
	var transports []*http.Transport
	for range queued {
		var h2c http.Protocols // HTTP/2 without TLS, as gRPC clients speak it
		h2c.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &h2c}
		transports = append(transports, tr)
		go func() {
			// grpc.health.v1.Health/Check with an empty request: a
			// message of 0 bytes behind the 5-byte gRPC prefix.
			req, _ := http.NewRequest("POST", "http://"+addr+"/grpc.health.v1.Health/Check", strings.NewReader("\x00\x00\x00\x00\x00"))
			req.Header.Set("Content-Type", "application/grpc")
			req.Header.Set("TE", "trailers")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			answers <- answer{status: resp.Trailer.Get("Grpc-Status"), err: err}
		}()
	}
	defer func() {
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
	}()
	waitFor(t, "the connections to queue", func() bool { return queuedConns(t, tcp) == queued })

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	waitFor(t, "new connections to be kept out", func() bool {
		c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(gate) // the accept loop is free again
	for range queued {
		select {
		case a := <-answers:
			if a.err != nil || a.status != "0" {
				t.Errorf("queued RPC: grpc-status %q, %v; want an answer with status 0", a.status, a.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a queued RPC got no answer")
		}
	}
	for _, tr := range transports {
		tr.CloseIdleConnections() // GracefulStop waits for the connections
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// queuedConns returns how many connections wait in ln's accept queue.
func queuedConns(t *testing.T, ln *net.TCPListener) int {
	t.Helper()
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	if cerr := rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return int(info.Unacked) // for a listening socket, the accept queue's length
}
