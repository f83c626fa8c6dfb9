package ecosystem

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/drain-go/drain"
	"github.com/pires/go-proxyproto"
	"golang.org/x/net/netutil"
)

// Behind a PROXY-protocol listener (itself over a connection limit), the
// connections queued in the kernel when the server stops are accepted
// through the wrappers, each with its client's address from its PROXY
// header, and answered; none is reset. The Server's ConnContext sees the
// *proxyproto.Conn, as it would without drain.
func TestProxyProtocolListener(t *testing.T) {
	ln := loopback(t)
	pln := &proxyproto.Listener{Listener: netutil.LimitListener(ln, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %v", r.RemoteAddr, r.Context().Value(headerKey{}))
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Value(releaseKey{}).(chan struct{})
		io.WriteString(w, "released")
	})
	release := make(chan struct{})
	srv := &http.Server{
		Handler: mux,
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), releaseKey{}, release)
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			pc, ok := c.(*proxyproto.Conn)
			return context.WithValue(ctx, headerKey{}, ok && pc.ProxyHeader() != nil)
		},
	}
	h := &drain.HTTP{Server: srv, Listener: pln, Logger: testLogger(t)}
	served := serve(t, h)
	addr := ln.Addr().String()

	dial := func(src string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "PROXY TCP4 %s 127.0.0.1 4000 80\r\n", src)
		return c
	}
	holder := dial("192.0.2.1")
	fmt.Fprintf(holder, "GET /hold HTTP/1.1\r\nHost: test\r\n\r\n")
	waitFor(t, "the request holding the limit", func() bool { return h.Stats().Requests == 1 })

	const queued = 5
	var clients []net.Conn
	for i := range queued {
		c := dial(fmt.Sprintf("198.51.100.%d", i+1))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
		clients = append(clients, c)
	}
	shut := make(chan error, 1)
	go func() { shut <- shutdown(t, h) }()
	waitFor(t, "the drain", func() bool { return isClosed(h.NotAccepting()) })
	close(release)

	for i, c := range clients {
		got, err := readAll(t, c)
		want := fmt.Sprintf("198.51.100.%d:4000 true", i+1)
		if err != nil || !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.HasSuffix(got, want) {
			t.Errorf("queued connection %d: %q, %v; want 200 and %q", i, got, err, want)
		}
	}
	if got, err := readAll(t, holder); err != nil || !strings.HasSuffix(got, "released") {
		t.Errorf("the request in flight: %q, %v", got, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
}

type headerKey struct{}
type releaseKey struct{}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
