// Command hang is a drainprobe test server that starts its shutdown and
// never finishes it.
//
// Flaw: on SIGTERM or SIGINT it closes its listener, then waits for a
// background flusher to end, but nothing ever tells the flusher to stop,
// so the process waits forever. The signals stay caught, so a second
// SIGTERM changes nothing either: only SIGKILL ends it. (Connections
// already open keep being served meanwhile.)
//
// Expected verdict: FAIL, with reason "killed" once drainprobe's grace
// period after the signal expires and it sends SIGKILL. Busy keep-alive
// clients are still being served at that moment, so their requests in
// flight are cut by the kill and "lost" comes too (one per busy
// connection: 16 of 16, measured with internal/probe); with only silent sockets it is "killed"
// alone.
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", routes.Addr())
	if err != nil {
		log.Fatalf("hang: %v", err)
	}
	go routes.Server().Serve(ln)
	log.Printf("hang: listening on %s", ln.Addr())

	flushed := make(chan struct{})
	go flusher(flushed)

	<-ctx.Done()
	ln.Close()
	log.Print("hang: signal received, listener closed; waiting for the flusher")
	// The bug: nothing stops the flusher, so this never returns.
	<-flushed
	log.Print("hang: done")
}

// flusher stands in for a background job that runs until told to stop;
// the bug is that it has no way to be told. It closes done when it
// returns, which it never does.
func flusher(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for range t.C {
		// flush metrics, say
	}
}
