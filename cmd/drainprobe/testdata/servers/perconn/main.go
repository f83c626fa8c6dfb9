// Command perconn is a drainprobe test server with one worker per
// connection, as pre-fork and thread-per-connection servers have: two
// workers, each serving one connection until it closes, so that a third
// connection waits in the accept queue until a worker is free. On SIGTERM
// it shuts down with net/http's Server.Shutdown.
//
// Quiet connections (idle keep-alive ones, silent sockets) take every
// worker, and the busy clients are never answered: drainprobe must say
// so, and what to change, rather than that its load tested nothing.
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

const workers = 2

// A workerListener accepts a connection only when a worker is free: the
// connection holds its worker until it is closed.
type workerListener struct {
	net.Listener
	free chan struct{}
}

func (l *workerListener) Accept() (net.Conn, error) {
	l.free <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.free
		return nil, err
	}
	return &workerConn{Conn: c, free: l.free}, nil
}

type workerConn struct {
	net.Conn
	free   chan struct{}
	closed bool
}

func (c *workerConn) Close() error {
	if !c.closed {
		c.closed = true
		<-c.free
	}
	return c.Conn.Close()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := routes.Server()
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(&workerListener{Listener: ln, free: make(chan struct{}, workers)})
	log.Printf("perconn: %d workers on %s", workers, srv.Addr)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Printf("perconn: %v", err)
		os.Exit(1)
	}
}
