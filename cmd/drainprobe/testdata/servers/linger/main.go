// Command linger is a drainprobe test server that lingers after its last
// response for a reason of its own (a fixed sleep, as to flush telemetry),
// while idle connections and silent sockets happen to be open: on SIGTERM
// it stops accepting, answers each busy connection's next request with
// "Connection: close", leaves the quiet connections alone, and exits 0
// 2.8 s after the signal, whatever they do.
//
// Expected verdict: FAIL for "exit-lag" only. The quiet connections are
// not why it lingers: closing them does not hasten its exit, so the reason
// must not be "held-sockets".
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

const linger = 2800 * time.Millisecond

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := routes.Server()
	var draining atomic.Bool
	srv.Handler = routes.CloseWhenDraining(srv.Handler, &draining)
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	log.Printf("linger: listening on %s", srv.Addr)
	<-ctx.Done()
	draining.Store(true)
	ln.Close()
	log.Printf("linger: signal received; exiting in %v", linger)
	time.Sleep(linger)
}
