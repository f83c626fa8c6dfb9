// Command halfclose is a drainprobe test server that shuts down as some
// Node libraries do: on SIGTERM it stops accepting, ends every idle or
// silent connection with a FIN (a half-close: it still reads), and exits
// 0 once each peer has closed its end too, or after 8 seconds. Busy
// connections are closed after their next response ("Connection:
// close"); requests in flight complete.
//
// A real client closes its end as soon as it reads the FIN, so the server
// exits at once. A probe that left its sockets in CLOSE-WAIT would hold it
// for 8 seconds and blame it for the wait.
//
// Expected verdict: PASS.
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

const (
	// quiet is how long a connection must have been idle, or silent since
	// it opened, to be half-closed: a busy keep-alive client is idle for
	// a moment between its requests.
	quiet = 250 * time.Millisecond
	// peerWait is how long the server waits for its peers to close.
	peerWait = 8 * time.Second
)

// A connState is a connection's state and when it entered it.
type connState struct {
	state      http.ConnState
	since      time.Time
	halfClosed bool
}

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		mu      sync.Mutex
		conns   = map[net.Conn]*connState{}
		allGone = make(chan struct{}, 1)
	)
	srv := routes.Server()
	var draining atomic.Bool
	srv.Handler = routes.CloseWhenDraining(srv.Handler, &draining)
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(conns, c)
			if len(conns) == 0 {
				select {
				case allGone <- struct{}{}:
				default:
				}
			}
			return
		}
		if cs := conns[c]; cs != nil {
			cs.state, cs.since = s, time.Now()
		} else {
			conns[c] = &connState{state: s, since: time.Now()}
		}
	}

	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		log.Printf("halfclose: %v", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Printf("halfclose: listening on %s", srv.Addr)

	select {
	case err := <-served:
		log.Printf("halfclose: %v", err)
		return 1
	case <-ctx.Done():
	}
	stop()
	log.Print("halfclose: signal received: half-closing idle connections, waiting for the peers")
	draining.Store(true)
	ln.Close()
	<-served

	// Every quiet connection is half-closed; the server's read of it then
	// ends when the peer closes its end, and net/http closes it.
	tick := time.NewTicker(quiet / 5)
	defer tick.Stop()
	deadline := time.After(peerWait)
	for {
		mu.Lock()
		left := len(conns)
		for c, cs := range conns {
			if !cs.halfClosed && cs.state != http.StateActive && time.Since(cs.since) >= quiet {
				c.(*net.TCPConn).CloseWrite()
				cs.halfClosed = true
			}
		}
		mu.Unlock()
		if left == 0 {
			log.Print("halfclose: every peer closed: exiting")
			return 0
		}
		select {
		case <-allGone:
		case <-tick.C:
		case <-deadline:
			log.Printf("halfclose: %d peers still open after %v: exiting", left, peerWait)
			return 0
		}
	}
}
